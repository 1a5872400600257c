//! Incident report → the originator's security officer, with real node
//! processes (`gsomia serve`, JPN holding a KOR item, KOR's officer
//! following `/v1/incidents/stream` over TLS): the time from the report
//! request leaving JPN's client to the incident arriving on KOR's live
//! feed, first with the nodes idle, then while JPN releases items to KOR
//! flat out (16 releases in flight). The baseline, in the same run and
//! the same conditions: one item's labels read at JPN (`GET
//! /v1/items/{id}`, decided and ledgered).
//!
//! With `--hub`, KOR's item reaches JPN through the USA (a TISA relay, with
//! KOR's consent) and every report goes back the same way.
//!
//! Run: `cargo bench -p gsomia --bench incident --locked -- [REPORTS] [--hub]` (default 200).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt as _;
use gsomia_api::{Client, ReportIncident, SubmitItem};

mod common;
use common::{nodes, pct, scratch, serve, token};

fn summary(name: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let p99 = pct(&v, 0.99);
    println!(
        "  {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        pct(&v, 0.5),
        p99,
        v[v.len() - 1],
        v.len()
    );
    p99
}

fn main() {
    let reports: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    // `--hub`: the item reaches JPN through the USA, and so do the reports.
    let hub = std::env::args().any(|a| a == "--hub");
    let root = scratch("incident");
    let [jpn, usa, kor] = <[_; 3]>::try_from(nodes(&root, &["JPN", "USA", "KOR"])).unwrap();
    let sato = token(&jpn, "Sato", "極秘", "officer");
    let kim = token(&kor, "Kim", "군사II급비밀", "officer");
    let park = token(&kor, "Park", "군사II급비밀", "security-officer");
    let smith = token(&usa, "Smith", "SECRET", "officer");
    let (js, ks, us) = (serve(&jpn), serve(&kor), serve(&usa));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let j = Arc::new(Client::new(&js.api, &jpn.join("tls/ca.pem"), Some(&sato)).unwrap());
        let k = Client::new(&ks.api, &kor.join("tls/ca.pem"), Some(&kim)).unwrap();
        let so = Client::new(&ks.api, &kor.join("tls/ca.pem"), Some(&park)).unwrap();
        let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        // KOR's item at JPN.
        let origin = k
            .submit(&SubmitItem {
                level: "군사II급비밀".into(),
                topics: vec!["dprk.missile".into()],
                rel_to: Some(vec!["JPN".into(), "USA".into()]),
                content: b64("report"),
                reproduction: None,
                dispose_by: None,
            })
            .await
            .unwrap()
            .id;
        if hub {
            // KOR → the USA, and the USA relays it with KOR's consent.
            let u = Client::new(&us.api, &usa.join("tls/ca.pem"), Some(&smith)).unwrap();
            k.release(&origin, "USA").await.unwrap();
            so.grant(&gsomia_api::GrantConsent {
                holder: "USA".into(),
                recipient: "JPN".into(),
                item: Some(origin.clone()),
                topics: None,
                expires_at: "2099-01-01T00:00:00+09:00".into(),
            })
            .await
            .unwrap();
            loop {
                let held = u.items().await.unwrap().items;
                let consents = u.consents().await.unwrap().consents;
                if let Some(i) = held.into_iter().find(|i| i.origin_item == origin)
                    && consents
                        .iter()
                        .any(|c| c.item.as_deref() == Some(origin.as_str()))
                    && matches!(
                        u.release(&i.id, "JPN").await,
                        Ok(gsomia_api::ReleaseOutcome::Release(_))
                    )
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else {
            k.release(&origin, "JPN").await.unwrap();
        }
        let held = loop {
            if let Some(i) = j
                .items()
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|i| i.origin_item == origin)
            {
                break i.id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // JPN's own items for the bulk releases.
        let mut own = Vec::new();
        for n in 0..2000 {
            own.push(
                j.submit(&SubmitItem {
                    level: "極秘".into(),
                    topics: vec!["dprk.missile".into()],
                    rel_to: Some(vec!["KOR".into()]),
                    content: b64(&format!("bulk {n} {}", "x".repeat(1000))),
                    reproduction: None,
                    dispose_by: None,
                })
                .await
                .unwrap()
                .id,
            );
        }
        let feed = so.incident_stream().await.unwrap();
        let mut feed = Box::pin(feed);
        let mut measure = async |phase: &str| {
            let (mut base, mut lat) = (Vec::new(), Vec::new());
            for n in 0..reports {
                let t = Instant::now();
                j.item(&held).await.unwrap();
                base.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let r = j
                    .report_incident(&ReportIncident {
                        item: held.clone(),
                        actual: false,
                        description: format!("{phase} {n}"),
                    })
                    .await
                    .unwrap();
                loop {
                    let v = feed.next().await.unwrap().unwrap();
                    if v.id == r.id && v.direction == "received" {
                        break;
                    }
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            println!("{phase}:");
            let b = summary("baseline: one item's labels at JPN", base);
            let l = summary("report → KOR's live feed", lat);
            println!("  p99 against the baseline: {:.2}×", l / b);
        };
        println!(
            "{reports} reports, JPN → KOR{}, each awaited on KOR's feed before the next",
            if hub { " through the USA hub" } else { "" }
        );
        measure("idle").await;
        // Bulk: 16 releases in flight, JPN → KOR, until the measure ends.
        let stop = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicU64::new(0));
        let own = Arc::new(own);
        let mut tasks = Vec::new();
        for w in 0..16usize {
            let (j, stop, released, own) = (j.clone(), stop.clone(), released.clone(), own.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    let _ = j.release(&own[n % own.len()], "KOR").await;
                    released.fetch_add(1, Ordering::Relaxed);
                    n += 16;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = Instant::now();
        measure("while JPN releases to KOR flat out").await;
        let rate = released.load(Ordering::Relaxed) as f64 / (t.elapsed().as_secs_f64() + 1.0);
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        println!("  (bulk: about {rate:.0} releases/s decided, sealed and queued meanwhile)");
    });
    drop((js, ks, us));
    let _ = std::fs::remove_dir_all(&root);
}
