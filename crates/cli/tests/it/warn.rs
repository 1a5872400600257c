//! Missile warnings across three real `gsomia serve` processes: KOR
//! publishes, the USA hub relays, a JPN subscriber sees the track live, in
//! order, marked with JPN's level (rule 17).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::{gsomia, json, s, tmp};
use crate::serve::{Server, person, with_token};

#[test]
fn a_launch_published_at_kor_reaches_a_jpn_subscriber_through_the_usa_hub_in_order() {
    let root = tmp("serve-warn");
    let (jpn, usa, kor) = (root.join("jpn"), root.join("usa"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("USA", &usa), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
        std::fs::write(
            root.join(format!("{p}.bundle")),
            gsomia(&["identity", "export", "--dir", s(d)]).stdout,
        )
        .unwrap();
    }
    let kim = person(&kor, "Kim", "군사II급비밀", "warning", "officer");
    let sato = person(&jpn, "Sato", "極秘", "warning", "officer");
    let tanaka = person(&jpn, "Tanaka", "極秘", "dprk", "officer");
    let add = |dir: &std::path::Path, party: &str, endpoint: &str| {
        let bundle = root.join(format!("{party}.bundle"));
        let (code, d) = json(&[
            "partner",
            "add",
            "--dir",
            s(dir),
            s(&bundle),
            "--endpoint",
            endpoint,
        ]);
        assert_eq!(code, 0, "{d}");
    };
    // JPN only receives (it knows the hub and the originator's key).
    add(&jpn, "USA", "https://127.0.0.1:1");
    add(&jpn, "KOR", "https://127.0.0.1:1");
    let jpn_server = Server::start(&jpn);
    add(&usa, "KOR", "https://127.0.0.1:1");
    add(&usa, "JPN", &jpn_server.peer);
    let usa_server = Server::start(&usa);
    add(&kor, "USA", &usa_server.peer);
    add(&kor, "JPN", "https://127.0.0.1:1");
    let kor_server = Server::start(&kor);
    let (jca, kca) = (
        s(&jpn.join("tls/ca.pem")).to_owned(),
        s(&kor.join("tls/ca.pem")).to_owned(),
    );

    // Sato subscribes at JPN.
    let mut sub = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(with_token(
            &["--json", "warn", "subscribe", "--count", "4"],
            &jpn_server.url,
            &jca,
            &sato,
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sub.stdout.take().unwrap()).lines();

    let (code, d) = json(&with_token(
        &["warn", "publish", "--launch-point", "39.0,125.7"],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    // The launch arrives at JPN through the hub (the subscriber may have
    // connected before it or after it: in flight, it is shown either way).
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["seq"], 0);
    assert_eq!(first["kind"], "launch");
    assert_eq!(first["originator"], "KOR");
    assert_eq!(first["originator_level"], "군사II급비밀");
    assert_eq!(first["level"], "極秘", "marked with JPN's equivalent level");
    let (code, d) = json(&with_token(
        &["warn", "track", &id, "--point", "39.5,128.0,120"],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 0, "{d}");
    // A stream of points from a file (here one, with a comment line).
    let points = root.join("track.csv");
    std::fs::write(&points, "# lat,lon,alt\n39.8,131.0,80\n").unwrap();
    let (code, d) = json(&with_token(
        &["warn", "track", &id, "--from", s(&points)],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["sent"], 1);
    let (code, d) = json(&with_token(
        &["warn", "impact", &id, "--point", "40.0,133.0"],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 0, "{d}");
    let rest: Vec<serde_json::Value> = (0..3)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    assert_eq!(
        rest.iter()
            .map(|u| (u["seq"].as_u64().unwrap(), u["kind"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [(1, "track"), (2, "track"), (3, "impact")],
        "in order, once each"
    );
    assert_eq!(rest[0]["alt_km"], 120.0);
    assert!(sub.wait().unwrap().success());

    // After the impact the warning is closed: a further point is refused.
    let (code, d) = json(&with_token(
        &["warn", "track", &id, "--point", "40.1,133.5,5"],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 1, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("closed"), "{d}");

    // Anything beyond the three data elements is refused with the rule.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(
                gsomia_api::user_tls_config(std::path::Path::new(&kca)).unwrap(),
            )
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/v1/warnings", kor_server.url))
            .bearer_auth(&kim)
            .json(&serde_json::json!({
                "launch_point": { "lat": 39.0, "lon": 125.7 },
                "sensor_type": "X-band radar",
            }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("sensor_type") && body.contains("rule 17"),
        "{body}"
    );

    // Sato sees the closed warning with its four updates; Tanaka (no
    // need-to-know for warnings) sees none.
    let (code, l) = json(&with_token(&["warn", "list"], &jpn_server.url, &jca, &sato));
    assert_eq!(code, 0, "{l}");
    let ws = l["warnings"].as_array().unwrap();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0]["closed"], true);
    assert_eq!(ws[0]["updates"].as_array().unwrap().len(), 4);
    let (_, l) = json(&with_token(
        &["warn", "list"],
        &jpn_server.url,
        &jca,
        &tanaka,
    ));
    assert!(l["warnings"].as_array().unwrap().is_empty(), "{l}");

    for server in [kor_server, usa_server, jpn_server] {
        assert_eq!(server.stop(), 0);
    }
    // Every hop ledgered the updates (in batches) and its ledger verifies.
    for dir in [&kor, &usa, &jpn] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(dir)]);
        assert_eq!(code, 0, "{v}");
    }
}

#[test]
fn warnings_never_vanish_are_refused_where_they_could_not_go_and_are_never_predictions() {
    let root = tmp("warn-durable");
    let (usa, kor) = (root.join("usa"), root.join("kor"));
    for (p, d) in [("USA", &usa), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
        std::fs::write(
            root.join(format!("{p}.bundle")),
            gsomia(&["identity", "export", "--dir", s(d)]).stdout,
        )
        .unwrap();
    }
    // USA's peer endpoint on a fixed port: KOR can pin it while USA is down.
    let port = crate::common::fixed_peer_port(&usa);
    let kim = person(&kor, "Kim", "군사II급비밀", "warning", "officer");
    let smith = person(&usa, "Smith", "SECRET", "warning", "officer");
    let kca = s(&kor.join("tls/ca.pem")).to_owned();
    let publish = |url: &str| {
        json(&with_token(
            &["warn", "publish", "--launch-point", "39.0,125.7"],
            url,
            &kca,
            &kim,
        ))
    };

    // No hub configured: the link routes KOR's warnings through USA only,
    // so a warning published now would reach no one. Refused, saying so.
    let kor_server = Server::start(&kor);
    let (code, d) = publish(&kor_server.url);
    assert_eq!(code, 1, "{d}");
    let why = d["reason"].as_str().unwrap();
    assert!(why.contains("USA") && why.contains("partner add"), "{d}");
    drop(kor_server);

    // The hub pinned but down: taken, kept, and shown as owed to USA.
    let add = |dir: &std::path::Path, party: &str, endpoint: &str| {
        let bundle = root.join(format!("{party}.bundle"));
        let (code, d) = json(&[
            "partner",
            "add",
            "--dir",
            s(dir),
            s(&bundle),
            "--endpoint",
            endpoint,
        ]);
        assert_eq!(code, 0, "{d}");
    };
    add(&kor, "USA", &format!("https://127.0.0.1:{port}"));
    add(&usa, "KOR", "https://127.0.0.1:1");
    let kor_server = Server::start(&kor);
    let (code, d) = publish(&kor_server.url);
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    // A trajectory point an hour ahead is a prediction: refused (rule 17).
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let (code, d) = json(&with_token(
        &[
            "warn",
            "track",
            &id,
            "--point",
            "39.5,128.0,120",
            "--at",
            &later,
        ],
        &kor_server.url,
        &kca,
        &kim,
    ));
    assert_eq!(code, 1, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("rule 17"), "{d}");
    let list = || {
        let (code, l) = json(&with_token(&["warn", "list"], &kor_server.url, &kca, &kim));
        assert_eq!(code, 0, "{l}");
        l
    };
    let l = list();
    assert_eq!(l["pending"][0]["partner"], "USA", "{l}");
    assert_eq!(l["pending"][0]["updates"], 1, "{l}");
    let applied = l["warnings"][0]["updates"][0]["applied_at"].clone();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        list()["warnings"][0]["updates"][0]["applied_at"],
        applied,
        "when it was applied, not when it was asked for"
    );

    // KOR restarts: the flight and what it owes USA are still there.
    assert_eq!(kor_server.stop(), 0);
    let kor_server = Server::start(&kor);
    let (code, l) = json(&with_token(&["warn", "list"], &kor_server.url, &kca, &kim));
    assert_eq!(code, 0);
    assert_eq!(l["warnings"][0]["id"], id.as_str(), "{l}");
    assert_eq!(l["pending"][0]["updates"], 1, "{l}");

    // The hub comes back and gets it.
    let usa_server = Server::start(&usa);
    let uca = s(&usa.join("tls/ca.pem")).to_owned();
    let mut got = serde_json::Value::Null;
    for _ in 0..200 {
        let (_, l) = json(&with_token(
            &["warn", "list"],
            &usa_server.url,
            &uca,
            &smith,
        ));
        if l["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
            got = l;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(got["warnings"][0]["id"], id.as_str(), "{got}");
    for _ in 0..200 {
        let (_, l) = json(&with_token(&["warn", "list"], &kor_server.url, &kca, &kim));
        if l["pending"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("KOR still owes USA the update");
}
