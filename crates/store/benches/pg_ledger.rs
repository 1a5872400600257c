//! Ledger appends on PostgreSQL, durable (`fsync` and `synchronous_commit`
//! on, as the store requires): batches of 64 entries from 64 commits in
//! flight per process, with one and with two processes' stores (each its
//! own writer connection and group commit) on one database, the head row
//! locked by every transaction. Baseline in the same run: the same batches
//! through the SQLite store (`Store::commit`, its own group commit).
//! Reports entries/s, commits per WAL flush (`pg_stat_wal`) and groups.
//!
//! Needs PostgreSQL (`GSOMIA_TEST_POSTGRES`, else 127.0.0.1:5432 as
//! `postgres`). Run: `cargo bench -p gsomia-store --bench pg_ledger --locked -- [BATCHES]`
//! (default 2,000 batches of 64 per configuration).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Instant;

use gsomia_ledger::entry::{Entry, Kind};
use gsomia_store::{Batch, PgStore, SqliteStore, Store, postgres};

const PER: usize = 64;
const IN_FLIGHT: usize = 64;

fn server() -> String {
    std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

fn entry(n: usize) -> Entry {
    Entry::new(
        Kind::ReadAllowed,
        1_700_000_000 + n as i64,
        0,
        "JPN",
        Some(format!("item-{n}")),
        vec![
            ("person".into(), "p1".into()),
            ("rules".into(), "rule 10".into()),
        ],
    )
    .unwrap()
}

async fn admin() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&format!("{} dbname=postgres", server()), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is not reachable (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// WAL flushes so far, server-wide (the bench is the server's only writer).
async fn wal_syncs(a: &tokio_postgres::Client) -> i64 {
    a.execute("SELECT pg_stat_clear_snapshot()", &[])
        .await
        .unwrap();
    a.query_one("SELECT wal_sync FROM pg_stat_wal", &[])
        .await
        .unwrap()
        .get(0)
}

async fn pg_run(processes: usize, batches: usize) -> (f64, f64) {
    let a = admin().await;
    let db = format!("gsomia_bench_{}_{processes}", std::process::id());
    a.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    a.batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let url = format!("{} dbname={db}", server());
    postgres::migrate(&url).await.unwrap();
    let mut stores = Vec::new();
    for _ in 0..processes {
        stores.push(PgStore::open(&url).await.unwrap());
    }
    let before = wal_syncs(&a).await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..IN_FLIGHT {
        let s = stores[lane % processes].clone();
        tasks.push(tokio::spawn(async move {
            for b in (lane..batches).step_by(IN_FLIGHT) {
                s.commit(Batch {
                    entries: (0..PER).map(|n| entry(b * PER + n)).collect(),
                    ..Batch::default()
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        stores[0].ledger_size().await.unwrap(),
        (batches * PER) as u64
    );
    let commits = stores.iter().map(PgStore::commits).sum::<u64>() as f64;
    // A backend reports its statistics when it ends (or when idle, within
    // seconds): close the stores' connections, then read.
    drop(stores);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let syncs = (wal_syncs(&a).await - before).max(1) as f64;
    let rate = (batches * PER) as f64 / secs;
    println!(
        "PostgreSQL, {processes} process(es): {rate:>9.0} entries/s; {commits:.0} commits, {syncs:.0} WAL flushes ({:.2} commits per flush, {:.1} batches per commit)",
        commits / syncs,
        batches as f64 / commits.max(1.0)
    );
    a.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    (rate, commits / syncs)
}

async fn sqlite_run(batches: usize) -> f64 {
    let dir = std::env::temp_dir().join(format!("gsomia-pg-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let s = std::sync::Arc::new(SqliteStore::open(&dir.join("node.db")).await.unwrap());
    let t = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..IN_FLIGHT {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for b in (lane..batches).step_by(IN_FLIGHT) {
                s.commit(Batch {
                    entries: (0..PER).map(|n| entry(b * PER + n)).collect(),
                    ..Batch::default()
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (batches * PER) as f64 / t.elapsed().as_secs_f64();
    println!("SQLite (baseline, same run):   {rate:>9.0} entries/s");
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn main() {
    let batches: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("{batches} batches of {PER} ledger entries, {IN_FLIGHT} in flight, durable");
        let base = sqlite_run(batches).await;
        let (one, _) = pg_run(1, batches).await;
        let (two, _) = pg_run(2, batches).await;
        println!(
            "PostgreSQL / SQLite: 1 process {:.2}x, 2 processes {:.2}x; goal: at least 100,000 entries/s ({})",
            one / base,
            two / base,
            if one.min(two) >= 100_000.0 { "met" } else { "NOT met" }
        );
    });
}
