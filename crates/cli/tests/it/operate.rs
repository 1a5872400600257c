//! What an operator of a running node sees: a request id on every answer
//! and in every error body, Prometheus metrics, readiness, structured logs,
//! and the OpenAPI document the node serves.

use std::path::PathBuf;

use gsomia_api::{Client, ClientError};

use crate::common::{json, s, tmp};
use crate::serve::{Server, person};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_operator_sees_request_ids_metrics_readiness_json_logs_and_the_document() {
    let root = tmp("operate");
    let jpn: PathBuf = root.join("jpn");
    let kor: PathBuf = root.join("kor");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&jpn)]).0, 0);
    assert_eq!(json(&["init", "--party", "KOR", "--dir", s(&kor)]).0, 0);
    let (_, bundle) = json(&["identity", "export", "--dir", s(&kor)]);
    std::fs::write(root.join("kor.bundle"), bundle["bundle"].as_str().unwrap()).unwrap();
    let (code, d) = json(&[
        "partner",
        "add",
        "--dir",
        s(&jpn),
        s(&root.join("kor.bundle")),
        "--endpoint",
        "https://127.0.0.1:9",
    ]);
    assert_eq!(code, 0, "{d}");
    let token = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let server = Server::start_with(&jpn, &["--log", "json"]);
    let ca = jpn.join("tls/ca.pem");
    let rt = runtime();
    let anonymous = Client::new(&server.url, &ca, None).unwrap();
    let sato = anonymous.as_token(&token);

    // Every answer carries a request id; an error body names it too.
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(gsomia_api::user_tls_config(&ca).unwrap())
        .build()
        .unwrap();
    let (id, body) = rt.block_on(async {
        let r = http
            .get(format!("{}/v1/items", server.url))
            .bearer_auth("gsomia_not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        (id, r.json::<gsomia_api::ErrorBody>().await.unwrap())
    });
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(body.request_id.as_deref(), Some(id.as_str()), "{body:?}");
    // The typed client sees the same refusal as a typed error.
    let err = rt
        .block_on(anonymous.as_token("gsomia_wrong").items())
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 401, .. }),
        "{err}"
    );

    // Readiness: the store reads and writes.
    let ready = rt.block_on(anonymous.ready()).unwrap();
    assert!(ready.ready, "{ready:?}");
    assert!(ready.checks.iter().any(|c| c.name == "store_write" && c.ok));

    // A release queues a transfer the partner (not running) cannot take.
    std::fs::write(root.join("r.txt"), "apogee 550 km").unwrap();
    let submitted = rt
        .block_on(sato.submit(&gsomia_api::SubmitItem {
            level: "極秘".into(),
            topics: vec!["dprk.missile".into()],
            rel_to: None,
            content: "YXBvZ2VlIDU1MCBrbQ==".into(),
            reproduction: None,
            dispose_by: None,
        }))
        .unwrap();
    let released = rt.block_on(sato.release(&submitted.id, "KOR")).unwrap();
    assert!(
        matches!(released, gsomia_api::ReleaseOutcome::Release(_)),
        "{released:?}"
    );

    // Metrics: the outbox waits for KOR, the failed logins are counted,
    // the ledger has a size.
    let metrics = rt.block_on(anonymous.metrics()).unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` in:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("gsomia_outbox_depth{partner=\"KOR\"}"), 1.0);
    assert!(value("gsomia_outbox_oldest_age_seconds{partner=\"KOR\"}") >= 0.0);
    assert!(value("gsomia_unauthenticated_requests_total") >= 2.0);
    assert!(value("gsomia_ledger_size") >= 4.0);
    assert_eq!(
        value("gsomia_transfers_total{partner=\"KOR\",outcome=\"sent\"}"),
        1.0
    );
    assert!(metrics.contains("# TYPE gsomia_warning_latency_seconds histogram"));

    // The document: generated, with this node's vocabulary as enums.
    let doc: serde_json::Value = rt.block_on(async {
        http.get(format!("{}/openapi.json", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(doc["openapi"], "3.1.0");
    let levels = &doc["components"]["schemas"]["SubmitItem"]["properties"]["level"]["enum"];
    assert!(
        levels.as_array().unwrap().contains(&"極秘".into()),
        "{levels}"
    );
    for (path, method) in [
        ("/v1/items", "post"),
        ("/v1/items/{id}/release", "post"),
        ("/v1/agreements/{id}/events", "post"),
        ("/v1/consents/{id}/revoke", "post"),
        ("/v1/warnings/{id}/track", "post"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{path} {method} is documented");
        for status in ["408", "500"] {
            assert!(
                op["responses"][status].is_object(),
                "{path} {method} {status}"
            );
        }
    }

    // Structured logs: one JSON object per line, each request with its id.
    assert_eq!(server.stop(), 0);
    let log = std::fs::read_to_string(jpn.join("serve.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["id"] == id.as_str()
            && l["fields"]["status"] == 401
            && l["span"]["path"] == "/v1/items"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
