//! Item lists as a user asks for them: `GET /v1/items?limit=50&next=…`
//! over TLS against one node holding 10,000, then 100,000, then 1,000,000
//! items (durable SQLite on disk), pages asked from random places. Then a
//! flood: 50 clients for 10 s, a fifth of their requests lists, the rest
//! reads of one item's labels (each decided and ledgered), the process's
//! resident memory sampled throughout (node and clients share it).
//!
//! Readers: one cleared for every item (極秘, need-to-know `dprk`); one
//! whose need-to-know matches one item in a hundred (a page must look at
//! ~5,000 rows to fill); one whose clearance ended.
//!
//! Run: `cargo bench -p gsomia-node --bench list --locked -- [MAX_ITEMS]`
//! (default 1,000,000; the sizes measured are 10,000, 100,000 and
//! 1,000,000 up to MAX_ITEMS).
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

use gsomia_api::{Client, ItemFilter};
use gsomia_node::testkit::{self as kit, identity};
use gsomia_store::{Batch, Item, Person, Role, SqliteStore};
use sha2::Digest as _;

fn main() {
    let max: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(max));
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn person(node: &gsomia_node::Node, id: &str, until: &str, ntk: &[&str], token: &str) -> Person {
    let mut p = Person {
        id: id.into(),
        name: id.into(),
        role: Role::Officer,
        clearance: "極秘".into(),
        clearance_until: until.into(),
        need_to_know: ntk.iter().map(|s| (*s).to_owned()).collect(),
        token_hash: sha2::Sha256::digest(token.as_bytes()).into(),
        created_at: "bench".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    kit::tag_person(node, &mut p);
    p
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// A cheap deterministic sequence for the random places asked.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

async fn run(max: usize) {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-list-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let jpn = identity(&dir, "JPN", 1).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("jpn.db")).await.unwrap());
    let node = jpn
        .node(
            gsomia_core::shipped().unwrap(),
            store,
            vec![],
            Default::default(),
        )
        .await
        .unwrap();
    node.store()
        .commit(Batch {
            people: vec![
                person(
                    &node,
                    "all",
                    "2099-01-01T00:00:00+09:00",
                    &["dprk"],
                    "t-all",
                ),
                person(
                    &node,
                    "sparse",
                    "2099-01-01T00:00:00+09:00",
                    &["regional"],
                    "t-sparse",
                ),
                person(
                    &node,
                    "ended",
                    "2020-01-01T00:00:00+09:00",
                    &["dprk"],
                    "t-ended",
                ),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("https://{}", listener.local_addr().unwrap());
    let tls = kit::server_config(&jpn.cert, &jpn.tls_key).unwrap();
    tokio::spawn(kit::serve(
        listener,
        tls,
        node.clone(),
        std::future::pending(),
    ));
    let client = |token: &str| Client::new(&api, &jpn.cert, Some(token)).unwrap();

    // One sealed item's bytes for every row (lists never read them; each
    // row's tag is its own, over its own id).
    let reg = node.registry();
    let dprk = kit::missile_label(&reg, "JPN", "極秘", None).unwrap();
    let mut regional = dprk.clone();
    regional.topics = vec!["regional".into()];
    let regional = regional.normalized();
    let sealed_dprk = kit::seal_at_rest(&node, &dprk, b"x").unwrap();
    let sealed_regional = kit::seal_at_rest(&node, &regional, b"x").unwrap();
    println!(
        "items: 1 row each of ~{} bytes sealed; pages of 50 over TLS, 200 from random places per reader",
        sealed_dprk.len()
    );

    let mut held = 0usize;
    let sizes: Vec<usize> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    for n in sizes {
        let t = Instant::now();
        while held < n {
            let chunk = (n - held).min(5_000);
            let mut items = Vec::with_capacity(chunk);
            for i in held..held + chunk {
                // One item in a hundred is on `regional`.
                let (wire, sealed) = if i % 100 == 7 {
                    (&regional, &sealed_regional)
                } else {
                    (&dprk, &sealed_dprk)
                };
                let id = format!("jpn-{i:09}");
                let mut item = Item {
                    id: id.clone(),
                    originator: "JPN".into(),
                    sealed: sealed.clone(),
                    label: wire.to_bytes(),
                    equivalent_label: None,
                    received_from: None,
                    created_at: "2026-11-29T00:00:00Z".into(),
                    origin_item: id,
                    binding: None,
                    custody: None,
                    lineage: None,
                    disposal: None,
                    index: None,
                };
                kit::tag_item(&node, &mut item);
                items.push(item);
            }
            node.store()
                .commit(Batch {
                    items,
                    ..Batch::default()
                })
                .await
                .unwrap();
            held += chunk;
        }
        println!(
            "{n} items held (stored in {:.1} s); RSS {} KiB",
            t.elapsed().as_secs_f64(),
            rss_kib()
        );
        for (who, token) in [
            ("cleared for all", "t-all"),
            ("need-to-know 1 in 100", "t-sparse"),
            ("clearance ended", "t-ended"),
        ] {
            let c = client(token);
            let mut rng = Lcg(n as u64);
            let mut lat = Vec::new();
            let mut got = 0usize;
            for i in 0..200 {
                let next = (i > 0).then(|| rng.next(n as u64).to_string());
                let t = Instant::now();
                let page = c
                    .items_page(&ItemFilter {
                        limit: Some(50),
                        next,
                        ..ItemFilter::default()
                    })
                    .await
                    .unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                got += page.items.len();
            }
            lat.sort_by(f64::total_cmp);
            println!(
                "  {who}: page p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.1} items a page)",
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                lat[lat.len() - 1],
                got as f64 / 200.0
            );
        }
    }

    // The flood: 50 clients, a fifth of the requests lists.
    let stop = Arc::new(AtomicBool::new(false));
    let (lists, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for w in 0..50u64 {
        let (c, stop, lists, reads) = (client("t-all"), stop.clone(), lists.clone(), reads.clone());
        let held = held as u64;
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(w + 1);
            while !stop.load(Ordering::Relaxed) {
                if rng.next(5) == 0 {
                    let _ = c
                        .items_page(&ItemFilter {
                            limit: Some(50),
                            next: Some(rng.next(held).to_string()),
                            ..ItemFilter::default()
                        })
                        .await;
                    lists.fetch_add(1, Ordering::Relaxed);
                } else {
                    let _ = c.item(&format!("jpn-{:09}", rng.next(held))).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kib());
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "flood, 50 clients for 10 s: {:.0} lists/s and {:.0} reads/s (each read decided and ledgered); process RSS at most {peak} KiB, {} KiB after",
        lists.load(Ordering::Relaxed) as f64 / secs,
        reads.load(Ordering::Relaxed) as f64 / secs,
        rss_kib()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("two seconds later: RSS {} KiB", rss_kib());
    let _ = std::fs::remove_dir_all(&dir);
}
