//! The console's pages with a real node process holding ITEMS items
//! (default 100,000, submitted through the API): each page asked 200 times
//! over TLS with a signed-in session, timed at the client (so TLS and the
//! request are included: an upper bound of the server's time). Baseline,
//! in the same run: the API's own first page of items (`GET /v1/items`).
//!
//! Run: `cargo bench -p gsomia --bench console --locked -- [ITEMS]`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use gsomia_api::{Client, SubmitItem};

mod common;
use common::{nodes, pct, scratch, serve, token};

fn main() {
    let items: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = scratch("console");
    let [jpn, _kor] = <[_; 2]>::try_from(nodes(&root, &["JPN", "KOR"])).unwrap();
    let sato = token(&jpn, "Sato", "極秘", "officer");
    let js = serve(&jpn);
    let ca = jpn.join("tls/ca.pem");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Arc::new(Client::new(&js.api, &ca, Some(&sato)).unwrap());
        let t = Instant::now();
        let mut first = String::new();
        let mut done = 0;
        while done < items {
            let batch = (items - done).min(64);
            let mut tasks = Vec::new();
            for n in 0..batch {
                let c = c.clone();
                let text = format!("report {}", done + n);
                tasks.push(tokio::spawn(async move {
                    c.submit(&SubmitItem {
                        level: "極秘".into(),
                        topics: vec!["dprk.missile".into()],
                        rel_to: Some(vec!["KOR".into()]),
                        content: base64::engine::general_purpose::STANDARD.encode(text),
                        reproduction: None,
                        dispose_by: None,
                    })
                    .await
                    .unwrap()
                    .id
                }));
            }
            for t in tasks {
                let id = t.await.unwrap();
                if first.is_empty() {
                    first = id;
                }
            }
            done += batch;
        }
        println!(
            "{items} items submitted in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(gsomia_api::user_tls_config(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Sign in as a browser would: the form's CSRF token and cookie.
        let r = http.get(format!("{}/signin", js.api)).send().await.unwrap();
        let signin_cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = r.text().await.unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        let r = http
            .post(format!("{}/signin", js.api))
            .header("cookie", &signin_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={sato}&csrf={csrf}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signed in");
        let session = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let time = async |path: &str, cookie: Option<&str>| {
            let mut v = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let mut req = http.get(format!("{}{path}", js.api));
                req = match cookie {
                    Some(c) => req.header("cookie", c),
                    None => req.bearer_auth(&sato),
                };
                let r = req.send().await.unwrap();
                assert!(r.status().is_success(), "{path}: {}", r.status());
                r.bytes().await.unwrap();
                v.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            v.sort_by(f64::total_cmp);
            (pct(&v, 0.5), pct(&v, 0.99))
        };
        let (b50, b99) = time("/v1/items?limit=50", None).await;
        println!("baseline GET /v1/items?limit=50 (API): p50 {b50:.2} ms, p99 {b99:.2} ms");
        for path in [
            "/".to_owned(),
            "/items".to_owned(),
            format!("/items/{first}"),
            "/agreements/jp-kr-2016".to_owned(),
            "/warnings".to_owned(),
            "/ledger".to_owned(),
        ] {
            let (p50, p99) = time(&path, Some(&session)).await;
            println!(
                "  {path}: p50 {p50:.2} ms, p99 {p99:.2} ms ({:.1}× the baseline's p99)",
                p99 / b99
            );
        }
    });
    drop(js);
    let _ = std::fs::remove_dir_all(&root);
}
