//! End-to-end transfers between two nodes on loopback: JPN releases, its
//! delivery worker sends over mutual TLS, KOR verifies, decides, stores
//! durably (SQLite WAL, synchronous=FULL, on disk), ledgers and signs a
//! receipt, JPN verifies it and ledgers the delivery. 1 KiB items.
//!
//! Run: `cargo bench -p gsomia-node --bench transfer -- [N]` (default 300).
//! Prints: release rate (decide + seal + queue), delivered transfers/s, and
//! the per-transfer floor measured in the same run (seal for the recipient +
//! open at the recipient + two durable single-row commits).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::time::Instant;

use gsomia_node::labels::to_wire;
use gsomia_node::testkit::identity;
use gsomia_seal::item::{open, seal};
use gsomia_store::{Batch, Item, SqliteStore, Store};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-transfer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (jpn, kor) = (
        identity(&dir, "JPN", 1).unwrap(),
        identity(&dir, "KOR", 2).unwrap(),
    );

    let kor_store = SqliteStore::open(&dir.join("kor.db")).await.unwrap();
    let kor_node = kor
        .node(
            gsomia_core::shipped().unwrap(),
            kor_store,
            vec![jpn.as_partner("https://unused").unwrap()],
            Default::default(),
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let tls = gsomia_node::tls::peer_server_config(
        &kor.cert,
        &kor.tls_key,
        vec![jpn.certificate().unwrap()],
    )
    .unwrap();
    tokio::spawn(gsomia_node::serve_peers(
        listener,
        tls,
        kor_node.clone(),
        std::future::pending(),
    ));

    let mut clients = std::collections::BTreeMap::new();
    clients.insert("KOR".to_owned(), jpn.client_to(&kor).unwrap());
    let jpn_store = SqliteStore::open(&dir.join("jpn.db")).await.unwrap();
    let jpn_node = jpn
        .node(
            gsomia_core::shipped().unwrap(),
            jpn_store,
            vec![kor.as_partner(&url).unwrap()],
            clients,
        )
        .await
        .unwrap();

    // Items at rest at JPN.
    let content = vec![7u8; 1024];
    let label = jpn_node
        .registry()
        .label(
            "JPN",
            "極秘",
            &["dprk.missile"],
            Some(&["KOR"]),
            jiff::Timestamp::now(),
        )
        .unwrap();
    let wire = to_wire(&jpn_node.registry(), &label);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let sealed = seal(
            &wire,
            &content,
            "JPN",
            &jpn.key,
            "JPN",
            &jpn_node.recipient.public(),
            [i as u8; 32],
        )
        .unwrap();
        items.push(Item {
            id: format!("jpn-{i}"),
            originator: "JPN".into(),
            sealed,
            label: wire.to_bytes(),
            equivalent_label: None,
            received_from: None,
            created_at: "bench".into(),
            origin_item: format!("jpn-{i}"),
        });
    }
    jpn_node
        .store
        .commit(Batch {
            items: items.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();

    // Floor, same run: what one transfer must do at least.
    let floor_n = 50;
    let t = Instant::now();
    for i in 0..floor_n {
        let s = seal(
            &wire,
            &content,
            "JPN",
            &jpn.key,
            "KOR",
            &kor.recipient.public(),
            [i as u8; 32],
        )
        .unwrap();
        open(&s, &kor_node.recipient, Some(("JPN", &jpn.key.public()))).unwrap();
        for store in [&jpn_node.store, &kor_node.store] {
            let e = jpn_node
                .entry(
                    gsomia_ledger::entry::Kind::Copy,
                    None,
                    vec![("copy", format!("floor-{i}")), ("copies", "1".into())],
                )
                .unwrap();
            store
                .commit(Batch {
                    entries: vec![e],
                    ..Batch::default()
                })
                .await
                .unwrap();
        }
    }
    let floor = t.elapsed() / floor_n;

    let t = Instant::now();
    for it in &items {
        gsomia_node::peer::release(&jpn_node, it, "KOR", "bench")
            .await
            .unwrap();
    }
    let released = t.elapsed();
    let worker = tokio::spawn(gsomia_node::peer::deliver(jpn_node.clone()));
    let t = Instant::now();
    loop {
        if jpn_node.store.due(i64::MAX, 1).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let delivered = t.elapsed();
    worker.abort();
    assert_eq!(
        kor_node.store.item_ids().await.unwrap().len(),
        n,
        "every transfer arrived exactly once"
    );
    let per = delivered / n as u32;
    println!("transfers: {n} × 1 KiB, JPN → KOR over mutual TLS, durable on both sides");
    println!(
        "release (decide + seal for KOR + queue, ledgered): {:.0}/s",
        n as f64 / released.as_secs_f64()
    );
    println!(
        "delivered end to end: {:.0}/s ({per:?} each, sequential worker)",
        n as f64 / delivered.as_secs_f64()
    );
    println!(
        "floor (seal + open + 2 durable commits): {floor:?} → {:.0}/s; ratio {:.2}×",
        1.0 / floor.as_secs_f64(),
        per.as_secs_f64() / floor.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
