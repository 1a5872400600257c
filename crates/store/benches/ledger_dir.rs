//! Durable ledger appends: one `fdatasync` per batch (group commit) against
//! one per record, on the real file system.
//!
//! Run: `cargo bench -p gsomia-store --bench ledger_dir`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use divan::Bencher;
use divan::counter::ItemsCount;
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_seal::SecretKey;
use gsomia_store::LedgerDir;

fn main() {
    divan::main();
}

fn entry(i: u64) -> Entry {
    Entry::new(
        Kind::ReadAllowed,
        1_700_000_000 + i as i64,
        0,
        "JPN",
        Some(format!("item-{i}")),
        vec![
            ("person".into(), "analyst-7".into()),
            ("rules".into(), "jp-kr-2016 art 7; rule 10".into()),
        ],
    )
    .unwrap()
}

fn ledger(name: &str) -> (LedgerDir, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = SecretKey::from_seed(&[1; 32]);
    (
        LedgerDir::create(&dir, "gsomia/JPN", &key.public()).unwrap(),
        dir,
    )
}

/// Batches of 1,000 records, one fdatasync per batch.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn durable_batch_1000(bencher: Bencher) {
    let (mut l, dir) = ledger("batch");
    let mut i = 0u64;
    bencher.counter(ItemsCount::new(1000usize)).bench_local(|| {
        let batch: Vec<Entry> = (i..i + 1000).map(entry).collect();
        i += 1000;
        l.append(batch).unwrap()
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// One record per fdatasync.
#[divan::bench(sample_count = 10, sample_size = 100)]
fn durable_single(bencher: Bencher) {
    let (mut l, dir) = ledger("single");
    let mut i = 0u64;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        i += 1;
        l.append(vec![entry(i)]).unwrap()
    });
    let _ = std::fs::remove_dir_all(dir);
}
