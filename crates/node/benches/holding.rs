//! An item's records at scale (rule 11) and destruction (rule 13), as a
//! security officer asks for them over TLS: one node holding 100,000 items
//! and a ledger of 1,000,000 records about them (durable SQLite on disk).
//!
//! - `GET /v1/items/{id}/history?limit=50` for items picked at random,
//!   against `GET /v1/items/{id}` (one item's labels, decided and ledgered)
//!   in the same run as the baseline;
//! - `GET /v1/inventory?limit=50&next=…` from random places;
//! - destroying an item with 100 copies in one record (`with_copies`),
//!   against destroying an item with none.
//!
//! Run: `cargo bench -p gsomia-node --bench holding --locked -- [ITEMS] [RECORDS]`
//! (defaults 100,000 and 1,000,000).
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

use gsomia_api::{Client, CopyItem, DestroyItem, InventoryFilter, Page};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_node::testkit::{self as kit, identity};
use gsomia_store::{Batch, Item, Person, Role, SqliteStore};
use sha2::Digest as _;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let items = args.next().unwrap_or(100_000);
    let records = args.next().unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(items, records));
}

fn person(node: &gsomia_node::Node, id: &str, role: Role, token: &str) -> Person {
    let mut p = Person {
        id: id.into(),
        name: id.into(),
        role,
        clearance: "極秘".into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: vec!["dprk".into()],
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

fn summary(name: &str, mut lat: Vec<f64>) -> f64 {
    lat.sort_by(f64::total_cmp);
    let p99 = pct(&lat, 0.99);
    println!(
        "  {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        pct(&lat, 0.5),
        p99,
        lat[lat.len() - 1],
        lat.len()
    );
    p99
}

async fn run(n_items: usize, n_records: usize) {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-holding-{}", std::process::id()));
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
                person(&node, "officer", Role::Officer, "t-officer"),
                person(&node, "so", Role::SecurityOfficer, "t-so"),
                person(&node, "w1", Role::Officer, "t-w1"),
                person(&node, "w2", Role::Officer, "t-w2"),
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

    let reg = node.registry();
    let label = kit::missile_label(&reg, "JPN", "極秘", None).unwrap();
    let sealed = kit::seal_at_rest(&node, &label, b"x").unwrap();
    let item = |id: String| {
        let mut it = Item {
            id: id.clone(),
            originator: "JPN".into(),
            sealed: sealed.clone(),
            label: label.to_bytes(),
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
        kit::tag_item(&node, &mut it);
        it
    };
    let t = Instant::now();
    let mut held = 0usize;
    while held < n_items {
        let chunk = (n_items - held).min(5_000);
        let items = (held..held + chunk)
            .map(|i| item(format!("jpn-{i:09}")))
            .collect();
        node.store()
            .commit(Batch {
                items,
                ..Batch::default()
            })
            .await
            .unwrap();
        held += chunk;
    }
    // The ledger: records about random items (reads, releases), ~10 each.
    let mut rng = Lcg(7);
    let mut written = 0usize;
    while written < n_records {
        let chunk = (n_records - written).min(10_000);
        let entries = (0..chunk)
            .map(|k| {
                let subject = format!("jpn-{:09}", rng.next(n_items as u64));
                Entry::new(
                    Kind::ReadAllowed,
                    1_764_000_000 + (written + k) as i64,
                    0,
                    "JPN",
                    Some(subject),
                    vec![
                        ("person".into(), "officer".into()),
                        ("rules".into(), "rule 10; content".into()),
                    ],
                )
                .unwrap()
            })
            .collect();
        node.store()
            .commit(Batch {
                entries,
                ..Batch::default()
            })
            .await
            .unwrap();
        written += chunk;
    }
    println!(
        "{n_items} items and {} ledger records stored in {:.1} s",
        node.store().ledger_size().await.unwrap(),
        t.elapsed().as_secs_f64()
    );

    let so = client("t-so");
    let officer = client("t-officer");
    let mut rng = Lcg(11);
    let (mut base, mut hist, mut inv) = (Vec::new(), Vec::new(), Vec::new());
    let mut entries = 0usize;
    for _ in 0..300 {
        let id = format!("jpn-{:09}", rng.next(n_items as u64));
        let t = Instant::now();
        officer.item(&id).await.unwrap();
        base.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let h = so
            .history(
                &id,
                &Page {
                    limit: Some(50),
                    next: None,
                },
            )
            .await
            .unwrap();
        hist.push(t.elapsed().as_secs_f64() * 1000.0);
        entries += h.entries.len();
        let t = Instant::now();
        let page = so
            .inventory(&InventoryFilter {
                limit: Some(50),
                next: Some(rng.next(n_items as u64).to_string()),
                ..InventoryFilter::default()
            })
            .await
            .unwrap();
        inv.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!page.items.is_empty());
    }
    println!("pages over TLS, items picked at random:");
    let b = summary("item labels (baseline: decided and ledgered)", base);
    let h = summary(
        &format!(
            "item history, 50 entries a page ({:.1} entries on average)",
            entries as f64 / 300.0
        ),
        hist,
    );
    let i = summary("inventory page of 50", inv);
    println!(
        "  p99 against the baseline: history {:.2}×, inventory {:.2}×",
        h / b,
        i / b
    );

    // Destruction: an item with 100 copies in one record, against one with none.
    let witnesses = || DestroyItem {
        method: "crypto-erased".into(),
        witnesses: vec!["w1".into(), "w2".into()],
        reason: None,
        with_copies: true,
    };
    let (mut alone, mut with) = (Vec::new(), Vec::new());
    for round in 0..10 {
        let ids = [format!("bench-a-{round}"), format!("bench-b-{round}")];
        node.store()
            .commit(Batch {
                items: ids.iter().map(|i| item(i.clone())).collect(),
                ..Batch::default()
            })
            .await
            .unwrap();
        let made = officer
            .copy(
                &ids[1],
                &CopyItem {
                    count: Some(100),
                    reason: "bench".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(made.copies.len(), 100);
        let t = Instant::now();
        let d = officer.destroy(&ids[0], &witnesses()).await.unwrap();
        alone.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(d.items.len(), 1);
        let t = Instant::now();
        let d = officer.destroy(&ids[1], &witnesses()).await.unwrap();
        with.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(d.items.len(), 101);
    }
    println!("destruction (two witnesses, bytes erased, WAL emptied), 10 rounds:");
    alone.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    println!(
        "  an item alone: median {:.1} ms, max {:.1} ms; with 100 copies: median {:.1} ms, max {:.1} ms ({:.2}×)",
        pct(&alone, 0.5),
        alone[alone.len() - 1],
        pct(&with, 0.5),
        with[with.len() - 1],
        pct(&with, 0.5) / pct(&alone, 0.5)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
