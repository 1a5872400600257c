//! `gsomia keys` and `gsomia ledger` on real directories.

use std::path::{Path, PathBuf};

use crate::common::{gsomia, json, s, tmp};

fn setup(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (jk, kk, jl) = (
        root.join("jpn-keys"),
        root.join("kor-keys"),
        root.join("jpn-ledger"),
    );
    assert_eq!(
        gsomia(&["keys", "generate", "--party", "JPN", "--out", s(&jk)])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        gsomia(&["keys", "generate", "--party", "KOR", "--out", s(&kk)])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        gsomia(&["ledger", "init", "--dir", s(&jl), "--keys", s(&jk)])
            .status
            .code(),
        Some(0)
    );
    (jk, kk, jl)
}

fn append(jl: &Path, jk: &Path, n: u32) {
    for i in 0..n {
        let (code, d) = json(&[
            "ledger",
            "append",
            "--dir",
            s(jl),
            "--keys",
            s(jk),
            "--kind",
            "copy",
            "--actor",
            "JPN",
            "--item",
            "rep-1",
            "--field",
            &format!("copy=c{i}"),
            "--field",
            "copies=1",
            "--at",
            "2026-11-28T09:00:00+09:00",
        ]);
        assert_eq!(code, 0, "{d}");
    }
}

#[test]
fn keys_are_owner_only_and_never_overwritten() {
    let root = tmp("keys");
    let k = root.join("k");
    assert_eq!(
        gsomia(&["keys", "generate", "--party", "JPN", "--out", s(&k)])
            .status
            .code(),
        Some(0)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(k.join("signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = gsomia(&["keys", "generate", "--party", "JPN", "--out", s(&k)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
}

#[test]
fn append_verify_prove_and_cosign() {
    let root = tmp("flow");
    let (jk, kk, jl) = setup(&root);
    append(&jl, &jk, 5);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jl)]);
    assert_eq!(code, 0);
    assert_eq!(v["records"], 5);
    let (_, p) = json(&["ledger", "prove", "--dir", s(&jl), "--index", "3"]);
    assert_eq!(p["size"], 5);
    assert_eq!(p["proof"].as_array().unwrap().len(), 3);
    let w = root.join("kor-witness");
    let (code, c) = json(&[
        "ledger",
        "cosign",
        "--dir",
        s(&jl),
        "--witness",
        s(&w),
        "--keys",
        s(&kk),
    ]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["size"], 5);
    append(&jl, &jk, 2);
    let (code, c) = json(&[
        "ledger",
        "cosign",
        "--dir",
        s(&jl),
        "--witness",
        s(&w),
        "--keys",
        s(&kk),
    ]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["previous_size"], 5);
    let (code, st) = json(&["ledger", "status", "--dir", s(&jl), "--witness-key", s(&kk)]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["cosignatures"][0]["verified"], true);
    // Entries of unknown kinds or fields are input errors, and nothing is appended.
    let bad = gsomia(&[
        "ledger",
        "append",
        "--dir",
        s(&jl),
        "--keys",
        s(&jk),
        "--kind",
        "copy",
        "--actor",
        "JPN",
        "--field",
        "colour=red",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no field `colour`"));
    let (_, v) = json(&["ledger", "verify", "--dir", s(&jl)]);
    assert_eq!(v["records"], 7);
}

#[test]
fn a_changed_byte_fails_verification_naming_the_record() {
    let root = tmp("tamper");
    let (jk, _, jl) = setup(&root);
    append(&jl, &jk, 4);
    let path = jl.join("records.log");
    let mut bytes = std::fs::read(&path).unwrap();
    // The second record's frame starts after the first one's.
    let first_len = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let pos = 36 + first_len + 36 + 20;
    bytes[pos] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jl)]);
    assert_eq!(code, 1);
    assert_eq!(v["verified"], false);
    assert_eq!(v["first_bad_record"], 1, "{v}");
}

#[test]
fn the_witness_refuses_a_fork_and_keeps_both_checkpoints() {
    let root = tmp("fork");
    let (jk, kk, jl) = setup(&root);
    append(&jl, &jk, 3);
    let w = root.join("kor-witness");
    assert_eq!(
        json(&[
            "ledger",
            "cosign",
            "--dir",
            s(&jl),
            "--witness",
            s(&w),
            "--keys",
            s(&kk)
        ])
        .0,
        0
    );
    // The same log key publishes another history of the same size elsewhere.
    let other = root.join("jpn-ledger-2");
    assert_eq!(
        gsomia(&["ledger", "init", "--dir", s(&other), "--keys", s(&jk)])
            .status
            .code(),
        Some(0)
    );
    for i in 0..3 {
        let out = gsomia(&[
            "ledger",
            "append",
            "--dir",
            s(&other),
            "--keys",
            s(&jk),
            "--kind",
            "loss_report",
            "--actor",
            "JPN",
            "--field",
            &format!("description=other {i}"),
            "--field",
            "actual_or_possible=possible",
            "--at",
            "2026-11-28T09:00:00Z",
        ]);
        assert_eq!(out.status.code(), Some(0));
    }
    let (code, c) = json(&[
        "ledger",
        "cosign",
        "--dir",
        s(&other),
        "--witness",
        s(&w),
        "--keys",
        s(&kk),
    ]);
    assert_eq!(code, 1, "{c}");
    assert!(c["refusal"].as_str().unwrap().contains("fork"), "{c}");
    let evidence = PathBuf::from(c["evidence"].as_str().unwrap());
    assert_eq!(std::fs::read_dir(&evidence).unwrap().count(), 2);
    // A smaller tree is a rollback.
    let small = root.join("jpn-ledger-3");
    assert_eq!(
        gsomia(&["ledger", "init", "--dir", s(&small), "--keys", s(&jk)])
            .status
            .code(),
        Some(0)
    );
    let (code, c) = json(&[
        "ledger",
        "cosign",
        "--dir",
        s(&small),
        "--witness",
        s(&w),
        "--keys",
        s(&kk),
    ]);
    assert_eq!(code, 1);
    assert!(c["refusal"].as_str().unwrap().contains("rollback"), "{c}");
}

/// A partner restored from an old copy offers a ledger smaller than the
/// one this node cosigned: the witness refuses it and raises an integrity
/// alarm (in `health`, ledgered), rather than only logging it.
#[test]
fn a_partner_whose_ledger_went_back_raises_an_integrity_alarm_at_its_witness() {
    let root = tmp("rolled-back");
    let (jpn, kor) = crate::holding::pair(&root);
    // KOR as it was just after it was made: a copy kept aside.
    let old = root.join("kor-old");
    crate::common::copy_dir(&kor, &old);
    // Then KOR's ledger grows.
    for name in ["Kim", "Park"] {
        crate::holding::person(&kor, name, "군사II급비밀", "dprk", "officer");
    }
    let every = ["--witness-every", "1"];
    let js = crate::serve::Server::start_with(&jpn, &every);
    let ks = crate::serve::Server::start_with(&kor, &every);
    // JPN cosigns KOR's ledger as it is now, longer than the old copy's.
    let size_of = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join("node.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM ledger_record", [], |r| r.get(0))
            .unwrap()
    };
    let old_size = size_of(&old);
    assert!(size_of(&kor) > old_size);
    let db = jpn.join("node.db");
    let cosigned = crate::holding::until("JPN to cosign KOR's longer ledger", || {
        let c = rusqlite::Connection::open(&db).ok()?;
        c.query_row("SELECT size FROM witnessed WHERE party = 'KOR'", [], |r| {
            r.get::<_, i64>(0)
        })
        .ok()
        .filter(|n| *n > old_size)
    });
    // KOR comes back from the old copy: a shorter history.
    drop(ks);
    let _ks = crate::serve::Server::start_with(&old, &every);
    let health = crate::holding::until("JPN's alarm", || {
        let (_, h) = json(&[
            "health",
            "--node",
            &js.url,
            "--ca",
            s(&jpn.join("tls/ca.pem")),
        ]);
        (h["integrity_alarms"].as_u64().unwrap_or(0) >= 1).then_some(h)
    });
    let alarms = health["alarms"].to_string();
    assert!(
        alarms.contains("partner KOR")
            && alarms.contains("partner_ledger")
            && alarms.contains("rollback"),
        "{health}"
    );
    // What JPN cosigned stays: the evidence of the longer history.
    let c = rusqlite::Connection::open(&db).unwrap();
    let kept: i64 = c
        .query_row("SELECT size FROM witnessed WHERE party = 'KOR'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, cosigned);
    drop(js);
}
