//! The ledger directory on a real file system.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod conformance;
mod postgres;
mod sqlite;

use std::path::PathBuf;

use gsomia_ledger::entry::{Entry, Kind};
use gsomia_ledger::merkle::verify_inclusion;
use gsomia_ledger::note::{Checkpoint, Signer};
use gsomia_ledger::verify::Problem;
use gsomia_seal::SecretKey;
use gsomia_store::{LedgerDir, LedgerDirError};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gsomia-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn signer() -> Signer {
    Signer {
        name: "gsomia/JPN".into(),
        key: SecretKey::from_seed(&[3; 32]),
    }
}

fn entry(i: u64) -> Entry {
    Entry::new(
        Kind::Copy,
        1_700_000_000 + i as i64,
        0,
        "JPN",
        Some("item-1".into()),
        vec![
            ("copy".into(), format!("c{i}")),
            ("copies".into(), "1".into()),
        ],
    )
    .unwrap()
}

#[test]
fn appends_survive_reopening_and_verify() {
    let dir = tmp("reopen");
    let s = signer();
    {
        let mut l = LedgerDir::create(&dir, "gsomia/JPN", &s.key.public()).unwrap();
        assert_eq!(l.append((0..10).map(entry).collect()).unwrap(), 0);
        l.checkpoint(&s).unwrap();
        assert_eq!(l.append(vec![entry(10)]).unwrap(), 10);
        l.checkpoint(&s).unwrap();
    }
    let l = LedgerDir::open(&dir).unwrap();
    assert_eq!(l.size(), 11);
    let report = LedgerDir::verify_dir(&dir, None).unwrap();
    assert_eq!((report.records, report.checkpoints), (11, 2));
    let proof = l.tree().inclusion_proof(4, 11).unwrap();
    let rec = l.record(4).unwrap().unwrap();
    verify_inclusion(&rec.leaf_hash(), 4, 11, &proof, &l.tree().root()).unwrap();
}

#[test]
fn one_writer_per_directory_and_checkpoints_are_compare_and_swap() {
    let dir = tmp("cas");
    let s = signer();
    let mut l = LedgerDir::create(&dir, "gsomia/JPN", &s.key.public()).unwrap();
    assert!(matches!(
        LedgerDir::open(&dir),
        Err(LedgerDirError::Busy(_))
    ));
    l.append(vec![entry(0)]).unwrap();
    // Someone else published a different tree of size 1.
    let forged = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 1,
        root: gsomia_ledger::merkle::leaf_hash(b"other"),
    };
    std::fs::write(
        dir.join("checkpoints").join(format!("{:020}.note", 1)),
        s.sign_checkpoint(&forged).render(),
    )
    .unwrap();
    assert!(matches!(l.checkpoint(&s), Err(LedgerDirError::Conflict(1))));
    // The same tree twice is fine (idempotent).
    std::fs::remove_file(dir.join("checkpoints").join(format!("{:020}.note", 1))).unwrap();
    let a = l.checkpoint(&s).unwrap();
    let b = l.checkpoint(&s).unwrap();
    assert_eq!(a.text, b.text);
    // Another key cannot sign for this ledger.
    let other = Signer {
        name: "gsomia/JPN".into(),
        key: SecretKey::from_seed(&[4; 32]),
    };
    assert!(matches!(
        l.checkpoint(&other),
        Err(LedgerDirError::WrongKey)
    ));
}

#[test]
fn tampering_with_the_files_is_found_and_named() {
    let dir = tmp("tamper");
    let s = signer();
    {
        let mut l = LedgerDir::create(&dir, "gsomia/JPN", &s.key.public()).unwrap();
        l.append((0..5).map(entry).collect()).unwrap();
        l.checkpoint(&s).unwrap();
    }
    let path = dir.join("records.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let third = {
        let frames = gsomia_ledger::entry::unframe(&bytes).0;
        frames[2].offset + 36 + 10
    };
    bytes[third] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    match LedgerDir::verify_dir(&dir, None) {
        Err(LedgerDirError::Invalid(Problem::Altered { index: 2 })) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        LedgerDir::open(&dir).is_err(),
        "a writer refuses a tampered ledger"
    );
}
