//! An insider with write access to a stopped node's database: each edit
//! made with plain SQL, then the node started and used through the API and
//! the CLI as its users would. Each edit is refused or reported, naming
//! what changed; nothing tampered is served, released or signed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gsomia_seal::item::WireLabel;
use rusqlite::{Connection, params};

use crate::common::{copy_dir, gsomia, json, s, tmp};
use crate::serve::{Server, person, with_token};

/// The node's database, for editing while the node is stopped.
pub fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("node.db")).unwrap()
}

/// Runs `gsomia serve` on `dir`, which must refuse to start: its exit code
/// is 2 and its standard error (returned) says why. A node that starts
/// anyway is killed and the test fails.
pub fn refuses_to_start(dir: &Path) -> String {
    refuses_to_start_as(dir, None)
}

fn refuses_to_start_as(dir: &Path, uid: Option<u32>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gsomia"));
    cmd.args(["serve", "--dir", s(dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt as _;
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(status.code(), Some(2), "exit code; stderr: {err}");
            return err;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the node started when it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A JPN node with an officer cleared 極秘 for dprk (`sato`), one cleared
/// 秘 (`ito`), one cleared 極秘 for another topic (`kato`), and items:
/// `secret` (極秘, dprk.missile) and `conf` (秘, dprk.missile), both
/// submitted by Sato.
struct Jpn {
    dir: PathBuf,
    root: PathBuf,
    sato: String,
    ito: String,
    kato: String,
    secret: String,
    conf: String,
}

fn jpn(name: &str) -> Jpn {
    let root = tmp(name);
    let dir = root.join("jpn");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&dir)]).0, 0);
    let sato = person(&dir, "Sato", "極秘", "dprk", "officer");
    let ito = person(&dir, "Ito", "秘", "dprk", "officer");
    let kato = person(&dir, "Kato", "極秘", "regional", "officer");
    let server = Server::start(&dir);
    let ca = s(&dir.join("tls/ca.pem")).to_owned();
    let submit = |level: &str, text: &str| {
        let f = root.join(format!("{text}.txt"));
        std::fs::write(&f, text).unwrap();
        let (code, d) = json(&with_token(
            &[
                "item",
                "submit",
                "--level",
                level,
                "--topic",
                "dprk.missile",
                "--in",
                s(&f),
            ],
            &server.url,
            &ca,
            &sato,
        ));
        assert_eq!(code, 0, "{d}");
        d["id"].as_str().unwrap().to_owned()
    };
    let secret = submit("極秘", "secret-report");
    let conf = submit("秘", "confidential-report");
    assert_eq!(server.stop(), 0);
    Jpn {
        dir,
        root,
        sato,
        ito,
        kato,
        secret,
        conf,
    }
}

impl Jpn {
    fn ca(&self) -> String {
        s(&self.dir.join("tls/ca.pem")).to_owned()
    }

    /// `item read ID` as `token`: (exit code, the content or the error).
    fn read(&self, server: &Server, token: &str, id: &str) -> (i32, String) {
        let out = self.root.join("out.bin");
        let _ = std::fs::remove_file(&out);
        let ca = self.ca();
        let o = gsomia(&with_token(
            &["item", "read", id, "--out", s(&out)],
            &server.url,
            &ca,
            token,
        ));
        let code = o.status.code().unwrap();
        if code == 0 {
            (0, std::fs::read_to_string(&out).unwrap())
        } else {
            (
                code,
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            )
        }
    }

    fn listed(&self, server: &Server, token: &str) -> Vec<String> {
        let ca = self.ca();
        let (code, l) = json(&with_token(&["item", "list"], &server.url, &ca, token));
        assert_eq!(code, 0, "{l}");
        l["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Rewrites an item's label column with `edit` applied to the label.
fn edit_label(dir: &Path, id: &str, edit: impl FnOnce(&mut WireLabel)) {
    let c = db(dir);
    let bytes: Vec<u8> = c
        .query_row("SELECT label FROM item WHERE id = ?", [id], |r| r.get(0))
        .unwrap();
    let mut label = WireLabel::from_bytes(&bytes).unwrap();
    edit(&mut label);
    c.execute(
        "UPDATE item SET label = ? WHERE id = ?",
        params![label.to_bytes(), id],
    )
    .unwrap();
}

#[test]
fn a_label_or_topic_edited_in_its_column_is_never_served_released_or_trusted() {
    let n = jpn("tamper-label");
    // 極秘 → 秘 in the level; dprk.missile → regional in the topics.
    edit_label(&n.dir, &n.secret, |l| l.level = "秘".into());
    edit_label(&n.dir, &n.conf, |l| l.topics = vec!["regional".into()]);
    let server = Server::start(&n.dir);

    // Ito (秘) would now pass on the column; Kato (regional) likewise for
    // `conf`. Neither is served; nor is Sato, who could read both before.
    for (token, id) in [
        (&n.ito, &n.secret),
        (&n.kato, &n.conf),
        (&n.sato, &n.secret),
        (&n.sato, &n.conf),
    ] {
        let (code, said) = n.read(&server, token, id);
        assert_eq!(code, 1, "{said}");
        assert!(said.contains("409"), "{said}");
        assert!(said.contains("integrity"), "{said}");
        assert!(said.contains("label"), "names what changed: {said}");
    }
    for token in [&n.sato, &n.ito, &n.kato] {
        assert!(
            n.listed(&server, token).is_empty(),
            "nothing tampered is listed"
        );
    }
    // Nor released (to a partner that is not even configured: the check
    // comes before anything else).
    let ca = n.ca();
    let (code, r) = json(&with_token(
        &["item", "release", &n.secret, "--to", "KOR"],
        &server.url,
        &ca,
        &n.sato,
    ));
    assert_eq!(code, 1, "{r}");
    assert!(r["error"].as_str().unwrap().contains("integrity"), "{r}");

    // Health says so, and names both rows.
    let (code, h) = json(&["health", "--node", &server.url, "--ca", &ca]);
    assert_eq!(code, 1, "an alarm is a non-zero answer: {h}");
    assert_eq!(h["status"], "alarm");
    let subjects: Vec<&str> = h["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&format!("item {}", n.secret).as_str()),
        "{h}"
    );
    assert!(
        subjects.contains(&format!("item {}", n.conf).as_str()),
        "{h}"
    );
    assert!(
        h["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["check"] == "label_index"),
        "{h}"
    );
    // Each alarm is ledgered once, however often the row is asked for.
    assert_eq!(server.stop(), 0);
    let (code, st) = json(&["ledger", "status", "--dir", s(&n.dir)]);
    assert_eq!(code, 1, "{st}");
    assert_eq!(st["integrity_alarms"], 2, "{st}");
    // The audit finds both, offline.
    let (code, v) = json(&["ledger", "verify", "--dir", s(&n.dir)]);
    assert_eq!(code, 1, "{v}");
    let findings = v["findings"].to_string();
    assert!(
        findings.contains(&n.secret) && findings.contains(&n.conf),
        "{v}"
    );
    assert!(findings.contains("label column"), "{v}");
}

#[test]
fn sealed_bytes_moved_to_another_row_are_refused_and_the_original_still_served() {
    let n = jpn("tamper-move");
    // The 極秘 item's bytes and label copied into the 秘 item's row: its
    // columns agree with its sealed bytes, so only custody can tell.
    let c = db(&n.dir);
    c.execute(
        "UPDATE item SET sealed = (SELECT sealed FROM item WHERE id = ?1), \
         label = (SELECT label FROM item WHERE id = ?1) WHERE id = ?2",
        params![n.secret, n.conf],
    )
    .unwrap();
    drop(c);
    let server = Server::start(&n.dir);
    let (code, said) = n.read(&server, &n.ito, &n.conf);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("custody_tag"), "{said}");
    let (code, said) = n.read(&server, &n.sato, &n.conf);
    assert_eq!(code, 1, "{said}");
    let (code, content) = n.read(&server, &n.sato, &n.secret);
    assert_eq!((code, content.as_str()), (0, "secret-report"));
    assert_eq!(n.listed(&server, &n.sato), vec![n.secret.clone()]);
    drop(server);
}

#[test]
fn a_person_row_raised_in_clearance_is_refused_and_revocation_and_rotation_work_at_once() {
    let n = jpn("tamper-person");
    // Ito's clearance raised to 極秘 in the register.
    let c = db(&n.dir);
    let ito_id: String = c
        .query_row("SELECT id FROM person WHERE name = 'Ito'", [], |r| r.get(0))
        .unwrap();
    c.execute(
        "UPDATE person SET clearance = '極秘' WHERE id = ?",
        [&ito_id],
    )
    .unwrap();
    drop(c);
    let (code, l) = json(&["person", "list", "--dir", s(&n.dir)]);
    assert_eq!(code, 1, "the register lists the row as failing: {l}");
    assert!(l.to_string().contains("INTEGRITY") || l.to_string().contains("integrity"));
    let server = Server::start(&n.dir);
    let (code, said) = n.read(&server, &n.ito, &n.secret);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("403") && said.contains("integrity"), "{said}");

    // Revoking Sato ends his access at once, with the node running.
    let sato_id: String = db(&n.dir)
        .query_row("SELECT id FROM person WHERE name = 'Sato'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n.read(&server, &n.sato, &n.secret).0, 0);
    let (code, r) = json(&[
        "person",
        "revoke",
        "--dir",
        s(&n.dir),
        "--person",
        &sato_id,
        "--reason",
        "left the ministry",
        "--by",
        "so-1",
    ]);
    assert_eq!(code, 0, "{r}");
    let (code, said) = n.read(&server, &n.sato, &n.secret);
    assert_eq!(code, 2);
    assert!(said.contains("401") && said.contains("revoked"), "{said}");
    let (code, again) = json(&["person", "revoke", "--dir", s(&n.dir), "--person", &sato_id]);
    assert_eq!(code, 2, "revoked once: {again}");

    // Rotating Kato's token: the old one stops, the new one works.
    let kato_id: String = db(&n.dir)
        .query_row("SELECT id FROM person WHERE name = 'Kato'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (code, r) = json(&[
        "person",
        "rotate-token",
        "--dir",
        s(&n.dir),
        "--person",
        &kato_id,
    ]);
    assert_eq!(code, 0, "{r}");
    let fresh = r["token"].as_str().unwrap().to_owned();
    assert!(n.read(&server, &n.kato, &n.secret).1.contains("401"));
    // Kato has no need-to-know for dprk: found as nothing, but authenticated.
    let ca = n.ca();
    let (code, l) = json(&with_token(&["item", "list"], &server.url, &ca, &fresh));
    assert_eq!(code, 0, "{l}");
    assert_eq!(server.stop(), 0);

    // All of it in the ledger.
    let kinds = kinds(&n.dir);
    for k in [
        "person_revoked",
        "token_rotated",
        "integrity_alarm",
        "auth_refused",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

/// The kinds of every ledger record of the node in `dir`, in order.
pub fn kinds(dir: &Path) -> Vec<String> {
    let c = db(dir);
    let mut st = c
        .prepare("SELECT record FROM ledger_record ORDER BY idx")
        .unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|b| {
            gsomia_ledger::entry::Record::from_bytes(&b.unwrap())
                .unwrap()
                .entry
                .kind()
                .as_str()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_caller_grows_the_ledger_by_a_small_fixed_amount_and_bad_tokens_by_nothing() {
    let n = jpn("tamper-bounded");
    let server = Server::start(&n.dir);
    let ca = n.ca();
    let size = |c: &Connection| -> (i64, i64) {
        c.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(record)), 0) FROM ledger_record",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (n0, b0) = size(&db(&n.dir));
    // Ids of 60 KB (about the longest URL a client sends): each read
    // refused is ledgered, bounded.
    let long = "x".repeat(60 * 1024);
    for _ in 0..20 {
        let (code, d) = json(&with_token(
            &["item", "show", &long],
            &server.url,
            &ca,
            &n.ito,
        ));
        assert_eq!(
            code,
            1,
            "{}",
            d.to_string().chars().take(300).collect::<String>()
        );
    }
    let (n1, b1) = size(&db(&n.dir));
    assert_eq!(n1 - n0, 20);
    assert!(
        (b1 - b0) / 20 < 1024,
        "each refusal adds less than 1 KiB ({} bytes each)",
        (b1 - b0) / 20
    );
    // Bad tokens: counted, not each written.
    for _ in 0..30 {
        let o = gsomia(&with_token(
            &["item", "list"],
            &server.url,
            &ca,
            "gsomia_forged",
        ));
        assert_eq!(o.status.code(), Some(2));
    }
    let (n2, _) = size(&db(&n.dir));
    assert_eq!(n2, n1, "nothing written per refusal");
    // The summary is written on the way out (and every minute meanwhile).
    assert_eq!(server.stop(), 0);
    let c = db(&n.dir);
    let last: Vec<u8> = c
        .query_row(
            "SELECT record FROM ledger_record ORDER BY idx DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let e = gsomia_ledger::entry::Record::from_bytes(&last)
        .unwrap()
        .entry;
    assert_eq!(e.kind().as_str(), "auth_refused");
    let count = e.fields().iter().find(|(k, _)| k == "count").unwrap();
    assert_eq!(count.1, "30");
}

#[test]
fn writing_is_decided_like_reading() {
    let n = jpn("tamper-writedown");
    let dir = &n.dir;
    let expired = {
        let (code, d) = json(&[
            "person",
            "add",
            "--dir",
            s(dir),
            "--name",
            "Old",
            "--clearance",
            "極秘",
            "--until",
            "2020-01-01",
            "--need-to-know",
            "dprk",
            "--role",
            "officer",
        ]);
        assert_eq!(code, 0, "{d}");
        d["token"].as_str().unwrap().to_owned()
    };
    let server = Server::start(dir);
    let ca = n.ca();
    let f = n.root.join("w.txt");
    std::fs::write(&f, "w").unwrap();
    let submit = |token: &str, level: &str, topic: &str| {
        let o = gsomia(&with_token(
            &[
                "item",
                "submit",
                "--level",
                level,
                "--topic",
                topic,
                "--in",
                s(&f),
            ],
            &server.url,
            &ca,
            token,
        ));
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Above the clearance, without need-to-know, with an expired clearance.
    for (token, level, topic, why) in [
        (&n.ito, "極秘", "dprk.missile", "rule 10"),
        (&n.kato, "極秘", "dprk.missile", "need-to-know"),
        (&expired, "秘", "dprk.missile", "rule 10"),
    ] {
        let (code, err) = submit(token, level, topic);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("403") && err.contains(why), "{err}");
    }
    // At and below the clearance, within need-to-know: stored.
    assert_eq!(submit(&n.ito, "秘", "dprk.missile").0, 0);
    assert_eq!(submit(&n.sato, "秘", "dprk.nuclear").0, 0);
    assert_eq!(server.stop(), 0);
    let k = kinds(dir);
    assert_eq!(
        k.iter().filter(|x| *x == "submit_denied").count(),
        3,
        "{k:?}"
    );
}

/// The ledger of a node cut short, with a partner's cosignature for more.
#[test]
fn a_truncated_ledger_fails_verify_naming_the_partner_and_the_node_will_not_start() {
    let root = tmp("tamper-truncate");
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
    }
    let sato = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let bundle = |d: &Path, name: &str| crate::common::export_bundle(d, &root.join(name));
    let (jb, kb) = (bundle(&jpn, "jpn.bundle"), bundle(&kor, "kor.bundle"));
    // JPN pins KOR (it takes KOR's cosignatures); KOR, its witness, pins
    // JPN at its peer endpoint and asks for its checkpoints every second.
    assert_eq!(
        json(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&kb),
            "--endpoint",
            "https://127.0.0.1:1"
        ])
        .0,
        0
    );
    let jpn_server = Server::start(&jpn);
    assert_eq!(
        json(&[
            "partner",
            "add",
            "--dir",
            s(&kor),
            s(&jb),
            "--endpoint",
            &jpn_server.peer
        ])
        .0,
        0
    );
    let kor_server = Server::start_with(&kor, &["--witness-every", "1"]);
    let ca = s(&jpn.join("tls/ca.pem")).to_owned();
    let f = root.join("r.txt");
    std::fs::write(&f, "r").unwrap();
    for _ in 0..3 {
        let (code, d) = json(&with_token(
            &[
                "item",
                "submit",
                "--level",
                "極秘",
                "--topic",
                "dprk.missile",
                "--in",
                s(&f),
            ],
            &jpn_server.url,
            &ca,
            &sato,
        ));
        assert_eq!(code, 0, "{d}");
    }
    // KOR cosigns JPN's ledger as it now stands.
    let records = |d: &Path| -> i64 {
        db(d)
            .query_row("SELECT COUNT(*) FROM ledger_record", [], |r| r.get(0))
            .unwrap()
    };
    let total = records(&jpn);
    let mut cosigned = 0;
    for _ in 0..200 {
        cosigned = db(&jpn)
            .query_row("SELECT COALESCE(MAX(size), 0) FROM cosigned", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        if cosigned >= total {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cosigned, total, "KOR cosigned JPN's whole ledger");
    assert_eq!(jpn_server.stop(), 0);
    drop(kor_server);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "untouched, it verifies: {v}");

    // The last two records cut, with every checkpoint above what remains.
    let keep = total - 2;
    let c = db(&jpn);
    c.execute("DELETE FROM ledger_record WHERE idx >= ?", [keep])
        .unwrap();
    c.execute("DELETE FROM checkpoint WHERE size > ?", [keep])
        .unwrap();
    drop(c);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 1, "{v}");
    let found = v["findings"].to_string();
    assert!(
        found.contains("KOR")
            && found.contains(&format!("{total} records"))
            && found.contains(&format!("has {keep}")),
        "names the partner and both sizes: {v}"
    );
    let (code, st) = json(&["ledger", "status", "--dir", s(&jpn)]);
    assert_eq!(code, 1, "status no longer says verified: {st}");
    assert_eq!(st["verified"], false);
    let err = refuses_to_start(&jpn);
    assert!(
        err.contains("KOR cosigned") && err.contains(&format!("only {keep} remain")),
        "{err}"
    );
}

#[test]
fn a_node_refuses_to_start_on_a_missing_foreign_unwritable_or_altered_database_or_wrong_keys() {
    let root = tmp("tamper-start");
    let jpn = root.join("jpn");
    let kor = root.join("kor");
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
    }
    person(&jpn, "Sato", "極秘", "dprk", "officer");
    person(&jpn, "Ito", "秘", "dprk", "officer");
    let pristine = root.join("pristine");
    copy_dir(&jpn, &pristine);
    let fresh = |name: &str| {
        let d = root.join(name);
        copy_dir(&pristine, &d);
        d
    };

    // Missing: not silently replaced by an empty one.
    let d = fresh("missing");
    std::fs::remove_file(d.join("node.db")).unwrap();
    let err = refuses_to_start(&d);
    assert!(
        err.contains("does not exist") && err.contains("gsomia init"),
        "{err}"
    );
    assert!(!d.join("node.db").exists(), "nothing created");

    // Another party's database.
    let d = fresh("foreign");
    for f in ["node.db", "node.db-wal", "node.db-shm"] {
        let _ = std::fs::remove_file(d.join(f));
        if kor.join(f).exists() {
            std::fs::copy(kor.join(f), d.join(f)).unwrap();
        }
    }
    let err = refuses_to_start(&d);
    assert!(
        err.contains("not signed by this node's key") && err.contains("another node"),
        "{err}"
    );

    // node.toml says KOR; the keys are JPN's.
    let d = fresh("party");
    let toml = std::fs::read_to_string(d.join("node.toml")).unwrap();
    std::fs::write(
        d.join("node.toml"),
        toml.replace("party = \"JPN\"", "party = \"KOR\""),
    )
    .unwrap();
    let err = refuses_to_start(&d);
    assert!(
        err.contains("holds the keys of `JPN`") && err.contains("`KOR`"),
        "{err}"
    );

    // Private keys others may read: TLS and CA alike.
    for key in ["tls/node.key", "tls/ca.key"] {
        let d = fresh(&format!("mode-{}", key.replace('/', "-")));
        set_mode(&d.join(key), 0o644);
        let err = refuses_to_start(&d);
        assert!(
            err.contains(key.rsplit('/').next().unwrap()) && err.contains("chmod 600"),
            "{err}"
        );
    }

    // A stored leaf hash changed: the node would sign a wrong root.
    let d = fresh("leaf");
    db(&d)
        .execute(
            "UPDATE ledger_record SET leaf_hash = zeroblob(32) WHERE idx = 0",
            [],
        )
        .unwrap();
    let err = refuses_to_start(&d);
    assert!(
        err.contains("record 0") || err.contains("no longer hash"),
        "{err}"
    );
    let (code, v) = json(&["ledger", "verify", "--dir", s(&d)]);
    assert_eq!(
        (code, v["first_bad_record"].clone()),
        (1, serde_json::json!(0)),
        "{v}"
    );

    // A record after the last checkpoint (the registrations made offline)
    // changed in its bytes: re-verified at start.
    let d = fresh("tail");
    let (uncovered, last): (i64, i64) = db(&d)
        .query_row(
            "SELECT (SELECT COUNT(*) FROM ledger_record) - (SELECT MAX(size) FROM checkpoint), \
             (SELECT MAX(idx) FROM ledger_record)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(uncovered > 0, "the registrations are not checkpointed yet");
    db(&d)
        .execute(
            "UPDATE ledger_record SET record = CAST(REPLACE(CAST(record AS TEXT), 'officer', 'auditor') AS BLOB) WHERE idx = ?",
            [last],
        )
        .unwrap();
    let err = refuses_to_start(&d);
    assert!(
        err.contains(&format!("record {last}, after the latest checkpoint")),
        "{err}"
    );

    // A database that does not take writes (as an unprivileged owner when
    // the tests run as root, who could write it anyway).
    let d = fresh("readonly");
    set_mode(&d.join("node.db"), 0o444);
    let uid = Command::new("id").arg("-u").output().unwrap();
    let root_user = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let err = if root_user {
        let nobody = 65534;
        chown_tree(&root, nobody);
        set_mode(&d.join("node.db"), 0o444);
        refuses_to_start_as(&d, Some(nobody))
    } else {
        refuses_to_start(&d)
    };
    assert!(err.contains("does not take writes"), "{err}");
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}
