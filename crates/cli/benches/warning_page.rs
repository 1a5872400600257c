//! A warning update's way to an officer's open console page, end to end:
//! published at KOR's API, relayed by the USA hub (rule 17), applied at
//! JPN and pushed over server-sent events to the warnings page in Debian's
//! Chromium, which stamps each row as its script draws it. Latency: that
//! stamp minus the instant the bench sent the update to KOR (one machine,
//! one clock).
//!
//! Baseline, in the same run: the same updates read from JPN's API feed
//! (`GET /v1/warnings/stream`) by a Rust client, so the ratio shows what
//! the browser and the console's own stream add. Goal: the page within
//! 50 ms of publication (p99) on loopback.
//!
//! Needs chromium and chromium-driver (`.ci/run` installs them).
//! Run: `cargo bench -p gsomia --bench warning_page --locked -- [UPDATES]`
//! (default 200; one launch and 19 track points a flight).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use gsomia_api::{Client, Launch, Point, Track, WarningEvent};
use serde_json::json;

mod common;
use common::{nodes, pct, scratch, serve, token_for};
#[path = "../tests/browser/mod.rs"]
mod browser;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Published updates' rows on the page: (id, seq) → arrival (ms).
const ROWS: &str = "return Array.prototype.map.call(document.querySelectorAll('tr.update.live'), \
    function (r) { return [r.cells[0].textContent, Number(r.cells[2].textContent), Number(r.dataset.arrived)]; });";

fn summary(name: &str, mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let (p50, p99) = (pct(&v, 0.5), pct(&v, 0.99));
    println!(
        "{name:<34} p50 {p50:>6.1} ms  p99 {p99:>6.1} ms  max {:>6.1} ms  (n = {})",
        v[v.len() - 1],
        v.len()
    );
    (p50, p99)
}

fn main() {
    let updates: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let root = scratch("warning-page");
    let [jpn, usa, kor] = <[_; 3]>::try_from(nodes(&root, &["JPN", "USA", "KOR"])).unwrap();
    let mori = token_for(&jpn, "Mori", "極秘", "officer", "warning");
    let kang = token_for(&kor, "Kang", "군사II급비밀", "officer", "warning");
    let (js, _us, ks) = (serve(&jpn), serve(&usa), serve(&kor));
    let _ = usa;

    let b = browser::Browser::start(&root.join("chromium"), &jpn.join("tls/ca.pem"));
    b.sign_in(&js.api, &mori);
    assert!(b.landed("/"), "not signed in: {}", b.url());
    b.go(&format!("{}/warnings", js.api));
    let mut live = false;
    for _ in 0..200 {
        if b.try_text("#feed-state").as_deref() == Some("live") {
            live = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(live, "the page's feed did not open: {}", b.source());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The baseline: JPN's API feed, read by a Rust client.
    let fed: Arc<Mutex<HashMap<(String, u32), f64>>> = Arc::default();
    let reader = Client::new(&js.api, &jpn.join("tls/ca.pem"), Some(&mori)).unwrap();
    let stream = rt.block_on(reader.subscribe()).unwrap();
    let f = fed.clone();
    rt.spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(ev)) = stream.next().await {
            if let WarningEvent::Update(u) = ev {
                f.lock().unwrap().insert((u.id, u.seq), now_ms());
            }
        }
    });
    let k = Client::new(&ks.api, &kor.join("tls/ca.pem"), Some(&kang)).unwrap();

    let mut sent: Vec<((String, u32), f64)> = Vec::new();
    let mut flight = String::new();
    for n in 0..updates {
        let step = n % 20;
        let t0 = now_ms();
        let p = if step == 0 {
            rt.block_on(k.launch(&Launch {
                launch_point: Point {
                    lat: 39.03,
                    lon: 125.75,
                },
                at: None,
            }))
        } else {
            rt.block_on(k.track(
                &flight,
                &Track {
                    point: Point {
                        lat: 39.03 + 0.05 * step as f64,
                        lon: 125.75 + 0.15 * step as f64,
                    },
                    alt_km: 30.0 * step as f64,
                    at: None,
                },
            ))
        }
        .unwrap();
        if step == 0 {
            flight = p.id.clone();
        }
        sent.push(((p.id, p.seq), t0));
        // Paced: each update seen by both readers (bounded) before the next.
        let key = sent[sent.len() - 1].0.clone();
        for _ in 0..400 {
            let on_page = b
                .call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({ "script": ROWS, "args": [] })),
                )
                .as_array()
                .is_some_and(|rows| rows.iter().any(|r| r[0] == key.0.as_str() && r[1] == key.1));
            if on_page && fed.lock().unwrap().contains_key(&key) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let rows = b.call(
        reqwest::Method::POST,
        "/execute/sync",
        Some(json!({ "script": ROWS, "args": [] })),
    );
    let page: HashMap<(String, u32), f64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r[0].as_str().unwrap().to_owned(),
                    r[1].as_u64().unwrap() as u32,
                ),
                r[2].as_f64().unwrap(),
            )
        })
        .collect();
    let fed = fed.lock().unwrap().clone();
    let mut on_page = Vec::new();
    let mut on_feed = Vec::new();
    for (key, t0) in &sent {
        on_page.push(
            page.get(key)
                .copied()
                .expect("an update missing from the page")
                - t0,
        );
        on_feed.push(
            fed.get(key)
                .copied()
                .expect("an update missing from the feed")
                - t0,
        );
    }
    println!(
        "{updates} warning updates published at KOR, through the USA hub, to JPN (2 cores, loopback)"
    );
    let (f50, f99) = summary("API feed at JPN (baseline)", on_feed);
    let (p50, p99) = summary("console page in Chromium", on_page);
    println!(
        "ratio page/feed: p50 {:.2}x  p99 {:.2}x; goal: page p99 < 50 ms ({})",
        p50 / f50,
        p99 / f99,
        if p99 < 50.0 { "met" } else { "NOT met" }
    );
    let errors = b.errors();
    assert!(errors.is_empty(), "the page logged: {errors:?}");
}
