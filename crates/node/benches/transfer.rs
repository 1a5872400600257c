//! End-to-end transfers between two nodes on loopback: JPN releases, its
//! delivery worker sends over mutual TLS, KOR verifies, decides, stores
//! durably (SQLite WAL, synchronous=FULL, on disk), ledgers and signs a
//! receipt, JPN verifies it and ledgers the delivery. 1 KiB items.
//!
//! Run: `cargo bench -p gsomia-node --bench transfer -- [N] [--postgres]`
//! (default 2000). With `--postgres` the same run is made twice, the
//! nodes on SQLite and then on PostgreSQL (`GSOMIA_TEST_POSTGRES`, else
//! 127.0.0.1:5432 as `postgres`; a database per node, dropped after), and
//! the sustained rates compared; then again on PostgreSQL with JPN as two
//! processes (two nodes on one database, each with its own store).
//! Prints: the per-transfer floor measured in the same run (seal for the
//! recipient + a share of one batch signature and its check + open at the
//! recipient + a share of two durable single-row commits); the
//! release rate with 64 releases in flight (decide + seal + queue, group
//! committed); the delivery rate of the worker draining the outbox (batches
//! to the partner, one commit per batch on each side); the sustained rate
//! with releases and deliveries running together; and the latency from
//! release request to verified receipt at a fixed offered rate of 1,000/s
//! for 3 s (p50, p99, max). Each rate comes with the process's CPU time
//! per transfer over its phase (Linux), steadier than a rate on a shared
//! machine.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Instant;

use gsomia_node::testkit::{self as kit, identity, missile_label};
use std::sync::Arc;

use gsomia_store::{Batch, Item, PgStore, SqliteStore, Store};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    // Laid out as `gsomia serve` lays out a node: this runtime is the item
    // lane, its threads lowered; the nodes start from the main thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .unwrap();
    let postgres = std::env::args().any(|a| a == "--postgres");
    let on_sqlite = rt.block_on(run(n, false, 1));
    if postgres {
        let on_postgres = rt.block_on(run(n, true, 1));
        let on_two = rt.block_on(run(n, true, 2));
        println!(
            "sustained on PostgreSQL / on SQLite: {on_postgres:.0}/s / {on_sqlite:.0}/s = {:.2} \
             (goal: at least 0.5); two processes: {on_two:.0}/s = {:.2}",
            on_postgres / on_sqlite,
            on_two / on_sqlite
        );
    }
}

fn server() -> String {
    std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

async fn admin(sql: &str) {
    let (c, conn) = tokio_postgres::connect(&format!("{} dbname=postgres", server()), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is not reachable (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c.batch_execute(sql).await.unwrap();
}

/// A node's store: an SQLite file in `dir`, or a fresh PostgreSQL database
/// (and its URL, for a second process's store).
async fn store(dir: &std::path::Path, name: &str, postgres: bool) -> (Arc<dyn Store>, String) {
    if !postgres {
        let path = dir.join(format!("{name}.db"));
        return (
            Arc::new(SqliteStore::open(&path).await.unwrap()),
            path.display().to_string(),
        );
    }
    let db = format!("gsomia_bench_{name}_{}", std::process::id());
    admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    admin(&format!("CREATE DATABASE {db}")).await;
    let url = format!("{} dbname={db}", server());
    gsomia_store::postgres::migrate(&url).await.unwrap();
    (Arc::new(PgStore::open(&url).await.unwrap()), url)
}

/// The run; its sustained rate (transfers/s). With `processes` 2 (on
/// PostgreSQL), JPN is two nodes on one database, each with its own store
/// (connections, writer, lease owner), delivery worker and checkpoint
/// keeper, as two `gsomia serve` processes are; releases alternate
/// between them.
async fn run(n: usize, postgres: bool, processes: usize) -> f64 {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-transfer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (jpn, kor) = (
        identity(&dir, "JPN", 1).unwrap(),
        identity(&dir, "KOR", 2).unwrap(),
    );

    let (kor_store, _) = store(&dir, "kor", postgres).await;
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
    let tls =
        kit::peer_server_config(&kor.cert, &kor.tls_key, vec![jpn.certificate().unwrap()]).unwrap();
    tokio::spawn(kit::serve_peers(
        listener,
        tls,
        kor_node.clone(),
        std::future::pending(),
    ));

    let mut clients = std::collections::BTreeMap::new();
    clients.insert("KOR".to_owned(), jpn.tls_to(&kor).unwrap());
    let (jpn_store, jpn_url) = store(&dir, "jpn", postgres).await;
    let mut jpn_nodes = Vec::with_capacity(processes);
    for i in 0..processes {
        let store: Arc<dyn Store> = if i == 0 {
            jpn_store.clone()
        } else {
            Arc::new(PgStore::open(&jpn_url).await.unwrap())
        };
        jpn_nodes.push(
            jpn.node(
                gsomia_core::shipped().unwrap(),
                store,
                vec![kor.as_partner(&url).unwrap()],
                clients.clone(),
            )
            .await
            .unwrap(),
        );
    }
    let jpn_node = jpn_nodes[0].clone();

    // Items at rest at JPN.
    let content = vec![7u8; 1024];
    let wire = missile_label(&jpn_node.registry(), "JPN", "極秘", Some(&["KOR"])).unwrap();
    let rate_n = 3000;
    let total = 2 * n + rate_n;
    let mut items = Vec::with_capacity(total);
    for _ in 0..total {
        // At rest as `item submit` stores them: sealed to JPN in a session.
        let sealed = kit::seal_at_rest(&jpn_node, &wire, &content).unwrap();
        // Ids as `item submit` makes them: time-ordered.
        let id = kit::new_id("JPN", jiff::Timestamp::now()).unwrap();
        let mut item = Item {
            id: id.clone(),
            originator: "JPN".into(),
            sealed,
            label: wire.to_bytes(),
            equivalent_label: None,
            received_from: None,
            created_at: "bench".into(),
            origin_item: id,
            binding: None,
            custody: None,
            lineage: None,
            disposal: None,
            index: None,
        };
        kit::tag_item(&jpn_node, &mut item);
        items.push(item);
    }
    for chunk in items.chunks(500) {
        jpn_node
            .store()
            .commit(Batch {
                items: chunk.to_vec(),
                ..Batch::default()
            })
            .await
            .unwrap();
    }

    // Floor, same run: the cryptography one transfer needs, on one core
    // (open the at-rest copy, seal it for KOR in a session; the share of
    // one batch signature and its verification; open it at KOR with the
    // session's secret kept), plus one durable commit per side for each
    // batch, shared by its transfers.
    let floor_n = 256u32;
    let sample = &items[0];
    let t = Instant::now();
    let mut bodies = Vec::with_capacity(floor_n as usize);
    for i in 0..floor_n {
        let plain = kit::open(&jpn_node, &sample.sealed).unwrap();
        let for_kor =
            kit::seal_for(&jpn_node, "KOR", &kor.recipient.public(), &wire, &plain).unwrap();
        let env = gsomia_seal::transfer::Envelope {
            transfer: format!("floor-{i}"),
            sender: "JPN".into(),
            recipient: "KOR".into(),
            agreement: "jp-kr-2016".into(),
            version: 1,
            sent_at: (0, 0),
            item: "jpn-0".into(),
            sealed: for_kor,
            consents: Vec::new(),
        };
        bodies.push(env.body());
    }
    for chunk in bodies.chunks(kit::DELIVERY_BATCH) {
        let chunk: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let batch = gsomia_seal::transfer::seal_batch(&chunk, &jpn.key);
        for body in gsomia_seal::transfer::open_batch(&batch, &jpn.key.public()).unwrap() {
            let env = gsomia_seal::transfer::Envelope::decode_body(body).unwrap();
            kit::open_from(&kor_node, &env.sealed, "JPN", &jpn.key.public()).unwrap();
        }
    }
    let crypto = t.elapsed() / floor_n;
    let commits = 20u32;
    let t = Instant::now();
    for i in 0..commits {
        for store in [jpn_node.store(), kor_node.store()] {
            let e = gsomia_ledger::entry::Entry::new(
                gsomia_ledger::entry::Kind::Copy,
                1_700_000_000,
                0,
                "JPN",
                None,
                vec![
                    ("copy".into(), format!("floor-{i}")),
                    ("copies".into(), "1".into()),
                ],
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
    let two_commits = t.elapsed() / commits;
    let floor = crypto + two_commits / kit::DELIVERY_BATCH as u32;

    let first: Vec<Item> = items[..n].to_vec();
    let second: Vec<Item> = items[n..2 * n].to_vec();
    let paced: Vec<Item> = items[2 * n..].to_vec();

    // Release rate: 64 releases in flight, no delivery running.
    let t = Instant::now();
    let cpu_release = cpu_seconds();
    let server_release = postgres.then(server_cpu_seconds);
    let ids = release_all(&jpn_nodes, first, 64).await;
    let released = t.elapsed();
    let cpu_release = cpu_seconds().zip(cpu_release).map(|(b, a)| b - a);
    let server_release = server_release.map(|a| server_cpu_seconds() - a);
    let cpu_delivered = cpu_seconds();
    let server_delivered = postgres.then(server_cpu_seconds);

    // Delivery rate: the worker drains the outbox.
    let workers: Vec<_> = jpn_nodes
        .iter()
        .map(|n| tokio::spawn(kit::deliver(n.clone())))
        .collect();
    // As `gsomia serve` runs them: each node's checkpoint keeper.
    for node in jpn_nodes.iter().chain([&kor_node]) {
        kit::keep_checkpoints(node, std::time::Duration::from_secs(1));
    }
    let t = Instant::now();
    wait_delivered(&kor_node, ids).await;
    let delivered = t.elapsed();
    let cpu_delivered = cpu_seconds().zip(cpu_delivered).map(|(b, a)| b - a);
    let server_delivered = server_delivered.map(|a| server_cpu_seconds() - a);

    // Sustained: releases and deliveries together.
    let t = Instant::now();
    let cpu_sustained = cpu_seconds();
    let server_sustained = postgres.then(server_cpu_seconds);
    let ids = release_all(&jpn_nodes, second, 64).await;
    wait_delivered(&kor_node, ids).await;
    let sustained = t.elapsed();
    let cpu_sustained = cpu_seconds().zip(cpu_sustained).map(|(b, a)| b - a);
    let server_sustained = server_sustained.map(|a| server_cpu_seconds() - a);

    // Latency at a fixed offered rate: 1,000 releases/s for 3 s.
    let mut started = std::collections::HashMap::new();
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for (i, it) in paced.into_iter().enumerate() {
        tick.tick().await;
        started.insert(it.id.clone(), jiff::Timestamp::now());
        let node = jpn_nodes[i % processes].clone();
        tasks.push(tokio::spawn(async move {
            transfer_id(kit::release(&node, &it, "KOR", "bench").await)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    wait_delivered(&kor_node, ids).await;
    while !jpn_node.store().due(i64::MAX, 1).await.unwrap().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for w in workers {
        w.abort();
    }
    // Each `delivered` entry is made once the receipt has verified.
    let size = jpn_node.store().ledger_size().await.unwrap();
    let mut lat = Vec::new();
    for (_, bytes) in jpn_node.store().records(0, size).await.unwrap() {
        let r = gsomia_ledger::entry::Record::from_bytes(&bytes).unwrap();
        if r.entry.kind() != gsomia_ledger::entry::Kind::Delivered {
            continue;
        }
        let Some(start) = r.entry.item().and_then(|i| started.get(i)) else {
            continue;
        };
        let (sec, ns) = r.entry.at();
        let done = jiff::Timestamp::new(sec, ns as i32).unwrap();
        lat.push(done.duration_since(*start).as_secs_f64() * 1000.0);
    }
    assert_eq!(lat.len(), rate_n, "every paced transfer delivered");
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];

    assert_eq!(
        kor_node.store().item_ids().await.unwrap().len(),
        2 * n + rate_n,
        "every transfer arrived exactly once"
    );
    println!(
        "transfers: 1 KiB, JPN → KOR over mutual TLS, durable on both sides ({}{})",
        if postgres { "PostgreSQL" } else { "SQLite" },
        if processes > 1 {
            format!(", JPN as {processes} processes")
        } else {
            String::new()
        }
    );
    println!(
        "floor: crypto {crypto:?} + 2 durable commits {two_commits:?} / {} per batch = {floor:?} per transfer on one core → {:.0}/s on two cores",
        kit::DELIVERY_BATCH,
        2.0 / floor.as_secs_f64()
    );
    println!(
        "release, 64 in flight (decide + seal for KOR + queue, ledgered): {:.0}/s; {}",
        n as f64 / released.as_secs_f64(),
        per_transfer(cpu_release, n) + &on_server(server_release, n)
    );
    println!(
        "delivered (worker draining {n}, batches of up to {}): {:.0}/s; {}",
        kit::DELIVERY_BATCH,
        n as f64 / delivered.as_secs_f64(),
        per_transfer(cpu_delivered, n) + &on_server(server_delivered, n)
    );
    println!(
        "sustained (release + delivery together, {n}): {:.0}/s; the two-core floor is {:.1}× that; {}",
        n as f64 / sustained.as_secs_f64(),
        (2.0 / floor.as_secs_f64()) / (n as f64 / sustained.as_secs_f64()),
        per_transfer(cpu_sustained, n) + &on_server(server_sustained, n)
    );
    println!(
        "latency at 1,000/s offered for 3 s, release request → verified receipt: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
    // What a restart costs: the ledger check `serve` runs before serving.
    let t = Instant::now();
    let (records, _) = kit::startup_ledger_check(&jpn_node).await.unwrap();
    let check = t.elapsed();
    println!(
        "start-up ledger check (latest checkpoint's root from every stored leaf hash, the tail re-verified): {records} records in {:.1} ms ({:.2} µs per record)",
        check.as_secs_f64() * 1000.0,
        check.as_secs_f64() * 1e6 / records as f64
    );
    // What custody costs a read: every item read back and checked.
    let t = Instant::now();
    let checked = kit::check_all_items(&kor_node).await.unwrap();
    let took = t.elapsed();
    assert_eq!(
        checked,
        2 * n + rate_n,
        "every received item passes its check"
    );
    println!(
        "custody: {checked} received items read back and checked in {:.1} ms ({:.1} µs each, the store read included)",
        took.as_secs_f64() * 1000.0,
        took.as_secs_f64() * 1e6 / checked as f64
    );
    // GSOMIA_BENCH_KEEP=1 keeps the databases for a look afterwards.
    let keep = std::env::var_os("GSOMIA_BENCH_KEEP").is_some();
    if keep {
        println!("kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if postgres && !keep {
        drop((jpn_node, jpn_nodes, kor_node));
        for name in ["jpn", "kor"] {
            admin(&format!(
                "DROP DATABASE IF EXISTS gsomia_bench_{name}_{} WITH (FORCE)",
                std::process::id()
            ))
            .await;
        }
    }
    n as f64 / sustained.as_secs_f64()
}

fn transfer_id(r: Result<String, String>) -> String {
    match r {
        Ok(transfer) => transfer,
        Err(why) => panic!("not released: {why}"),
    }
}

/// Releases `items` to KOR with `in_flight` at a time, alternating
/// between `nodes` (JPN's processes).
async fn release_all(
    nodes: &[std::sync::Arc<gsomia_node::Node>],
    items: Vec<Item>,
    in_flight: usize,
) -> Vec<String> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(items.len());
    for (i, it) in items.into_iter().enumerate() {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let node = nodes[i % nodes.len()].clone();
        tasks.push(tokio::spawn(async move {
            let r = kit::release(&node, &it, "KOR", "bench").await;
            drop(permit);
            transfer_id(r)
        }));
    }
    let mut ids = Vec::with_capacity(tasks.len());
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids
}

/// Waits until KOR has accepted every one of these transfers: every 2 ms
/// one batched lookup of the oldest 256 not yet seen accepted, so the wait
/// adds about one query per 256 transfers to either store.
async fn wait_delivered(kor: &gsomia_node::Node, ids: Vec<String>) {
    let mut pending: std::collections::VecDeque<String> = ids.into();
    while !pending.is_empty() {
        let front: Vec<String> = pending.iter().take(256).cloned().collect();
        let accepted: std::collections::HashSet<String> = kor
            .store()
            .incoming_many(&front)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.transfer)
            .collect();
        pending.retain(|t| !accepted.contains(t));
        if !pending.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

/// The process's CPU time so far (user + system), where Linux tells it.
fn cpu_seconds() -> Option<f64> {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The CPU time (user + system, seconds) in a process's `/proc/PID/stat`.
fn stat_cpu(stat: &str) -> Option<f64> {
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime, in clock ticks (100 a second on Linux).
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The CPU time so far of every process on this machine named
/// `postgres` (the server and its backends; the server is local here).
fn server_cpu_seconds() -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read_to_string(p.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| stat_cpu(&stat))
        .sum()
}

/// The server's CPU time per transfer, when measured (on PostgreSQL).
fn on_server(cpu: Option<f64>, n: usize) -> String {
    cpu.map_or_else(String::new, |c| {
        format!(
            " (+ {:.0} µs in PostgreSQL's processes)",
            c * 1e6 / n as f64
        )
    })
}

/// CPU time per transfer, in µs, for `n` transfers.
fn per_transfer(cpu: Option<f64>, n: usize) -> String {
    cpu.map_or_else(
        || "CPU time not available".to_owned(),
        |c| format!("{:.0} µs CPU per transfer", c * 1e6 / n as f64),
    )
}
