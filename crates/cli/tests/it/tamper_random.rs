//! Random single edits to a stopped node's database — a byte flipped in
//! any column, a row deleted, two rows' contents swapped — anywhere in its
//! item, person, transfer, ledger and checkpoint tables. Each edit is
//! either detected (`ledger verify` fails, the node refuses to start,
//! refuses the row, or raises an alarm) or changes nothing a user can
//! observe (the same items listed with the same labels, the same contents
//! read).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use proptest::prelude::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params_from_iter};

use crate::common::{copy_dir, gsomia, json, s, tmp};
use crate::serve::{Server, person, with_token};

/// The tables an insider might edit.
const TABLES: [&str; 8] = [
    "item",
    "item_topic",
    "person",
    "ledger_record",
    "checkpoint",
    "outbox",
    "outbox_envelope",
    "received_transfer",
];

/// Two stopped nodes in a known state: JPN holds three items (one
/// delivered to KOR, one queued for it, one kept), KOR the one it received.
struct Pristine {
    root: PathBuf,
    nodes: [(PathBuf, String, Vec<String>); 2],
    /// What each node's user observes, untouched.
    seen: [Seen; 2],
}

/// What a user observes of a node: the items listed (id and labels), and
/// each known item's content or refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    listed: Vec<String>,
    reads: Vec<(String, i32, String)>,
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        let root = tmp("tamper-random");
        let (jpn, kor) = (root.join("jpn"), root.join("kor"));
        for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
            assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
        }
        let sato = person(&jpn, "Sato", "極秘", "dprk", "officer");
        let kim = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
        let bundle = |d: &Path, name: &str| crate::common::export_bundle(d, &root.join(name));
        let (jb, kb) = (bundle(&jpn, "jpn.bundle"), bundle(&kor, "kor.bundle"));
        let add = |d: &Path, b: &Path, at: &str| {
            assert_eq!(
                json(&["partner", "add", "--dir", s(d), s(b), "--endpoint", at]).0,
                0
            );
        };
        add(&kor, &jb, "https://127.0.0.1:1");
        let kor_server = Server::start(&kor);
        add(&jpn, &kb, &kor_server.peer);
        let jpn_server = Server::start(&jpn);
        let (jca, kca) = (
            s(&jpn.join("tls/ca.pem")).to_owned(),
            s(&kor.join("tls/ca.pem")).to_owned(),
        );
        let submit = |level: &str, rel: bool, text: &str| {
            let f = root.join(format!("{text}.txt"));
            std::fs::write(&f, text).unwrap();
            let mut args = vec![
                "item",
                "submit",
                "--level",
                level,
                "--topic",
                "dprk.missile",
                "--in",
                s(&f),
            ];
            if rel {
                args.extend(["--rel-to", "KOR"]);
            }
            let (code, d) = json(&with_token(&args, &jpn_server.url, &jca, &sato));
            assert_eq!(code, 0, "{d}");
            d["id"].as_str().unwrap().to_owned()
        };
        let a = submit("極秘", true, "alpha");
        let b = submit("秘", false, "bravo");
        let c = submit("極秘", true, "charlie");
        let release = |id: &str| {
            let (code, r) = json(&with_token(
                &["item", "release", id, "--to", "KOR"],
                &jpn_server.url,
                &jca,
                &sato,
            ));
            assert_eq!(code, 0, "{r}");
        };
        release(&a);
        let mut received = None;
        for _ in 0..200 {
            let (_, l) = json(&with_token(&["item", "list"], &kor_server.url, &kca, &kim));
            if let Some(i) = l["items"].as_array().and_then(|a| a.first()) {
                received = Some(i["id"].as_str().unwrap().to_owned());
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let received = received.expect("KOR received the item");
        // Wait for the receipt at JPN, then take KOR away: `charlie` waits.
        for _ in 0..200 {
            let (_, h) = json(&["health", "--node", &jpn_server.url, "--ca", &jca]);
            // registration, 3 creations, read-for-release, decision, sent, delivered
            if h["ledger_size"] == 8 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(kor_server.stop(), 0);
        release(&c);
        assert_eq!(jpn_server.stop(), 0);
        let nodes = [(jpn, sato, vec![a, b, c]), (kor, kim, vec![received])];
        let seen = [
            observe(&root, &nodes[0]).expect("the untouched JPN node"),
            observe(&root, &nodes[1]).expect("the untouched KOR node"),
        ];
        Pristine { root, nodes, seen }
    })
}

/// Starts `gsomia serve` on `dir`; `Err` with its output if it refuses.
fn try_start(dir: &Path) -> Result<(Child, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(["serve", "--dir", s(dir)])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.contains(" api ") {
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(2), "a refusal to start exits 2");
        return Err(std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default());
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let url = words[words.iter().position(|w| *w == "api").unwrap() + 1].to_owned();
    Ok((child, url))
}

/// What the user of a copy of `node` observes; `Err` when the node shows
/// that something was tampered with (refuses to start, refuses a row,
/// raises an alarm).
fn observe(root: &Path, node: &(PathBuf, String, Vec<String>)) -> Result<Seen, String> {
    let (dir, token, ids) = node;
    let (mut child, url) = try_start(dir).map_err(|e| format!("refused to start: {e}"))?;
    let ca = s(&dir.join("tls/ca.pem")).to_owned();
    let result = (|| {
        let (code, l) = json(&with_token(&["item", "list"], &url, &ca, token));
        if code != 0 {
            return Err(format!("list refused: {l}"));
        }
        let listed = l["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{} {} {}", i["id"], i["label"], i["equivalent_label"]))
            .collect();
        let mut reads = Vec::new();
        let out = root.join(format!("read-{}.bin", std::process::id()));
        for id in ids {
            let _ = std::fs::remove_file(&out);
            let o = gsomia(&with_token(
                &["item", "read", id, "--out", s(&out)],
                &url,
                &ca,
                token,
            ));
            let code = o.status.code().unwrap();
            let said = String::from_utf8_lossy(&o.stderr).into_owned();
            if said.contains("integrity") {
                return Err(format!("refused {id}: {said}"));
            }
            let content = std::fs::read_to_string(&out).unwrap_or_default();
            reads.push((id.clone(), code, content));
        }
        let (_, h) = json(&["health", "--node", &url, "--ca", &ca]);
        if h["status"] != "ok" {
            return Err(format!("alarm: {h}"));
        }
        Ok(Seen { listed, reads })
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result
}

/// One edit.
#[derive(Debug, Clone)]
enum Edit {
    /// Flip the byte (or, in text, the character; in a number, a bit) at
    /// `pos` of column `col` of row `row`.
    Flip {
        row: u32,
        col: u32,
        pos: u32,
        xor: u8,
    },
    /// Delete row `row`.
    Delete { row: u32 },
    /// Swap every column but the key between rows `a` and `b`.
    Swap { a: u32, b: u32 },
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<u32>(), any::<u32>(), any::<u32>(), 1u8..=255)
            .prop_map(|(row, col, pos, xor)| Edit::Flip { row, col, pos, xor }),
        1 => any::<u32>().prop_map(|row| Edit::Delete { row }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Edit::Swap { a, b }),
    ]
}

/// Applies `edit` to `table`; what it did, or `None` when it does not
/// apply (no such row, a NULL, a constraint the database itself enforces).
fn apply(c: &Connection, table: &str, edit: &Edit) -> Option<String> {
    let rowids: Vec<i64> = c
        .prepare(&format!("SELECT rowid FROM {table} ORDER BY rowid"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if rowids.is_empty() {
        return None;
    }
    let pick = |n: u32| rowids[n as usize % rowids.len()];
    let columns: Vec<(String, bool)> = c
        .prepare(&format!("PRAGMA table_info({table})"))
        .unwrap()
        .query_map([], |r| {
            Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)? > 0))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    match edit {
        Edit::Flip { row, col, pos, xor } => {
            let rowid = pick(*row);
            let (name, _) = &columns[*col as usize % columns.len()];
            let v: Sql = c
                .query_row(
                    &format!("SELECT {name} FROM {table} WHERE rowid = ?"),
                    [rowid],
                    |r| r.get(0),
                )
                .unwrap();
            let changed = match v {
                Sql::Blob(mut b) if !b.is_empty() => {
                    let i = *pos as usize % b.len();
                    b[i] ^= xor;
                    Sql::Blob(b)
                }
                Sql::Text(t) if !t.is_empty() => {
                    let chars: Vec<char> = t.chars().collect();
                    let i = *pos as usize % chars.len();
                    let mut out = chars.clone();
                    out[i] = if chars[i] == 'Z' { 'Y' } else { 'Z' };
                    Sql::Text(out.into_iter().collect())
                }
                Sql::Integer(n) => Sql::Integer(n ^ (1 << (xor % 8))),
                _ => return None,
            };
            let done = c.execute(
                &format!("UPDATE {table} SET {name} = ? WHERE rowid = ?"),
                rusqlite::params![changed, rowid],
            );
            done.ok()
                .map(|_| format!("flip {table}.{name} of row {rowid} at {pos}"))
        }
        Edit::Delete { row } => {
            let rowid = pick(*row);
            c.execute(&format!("DELETE FROM {table} WHERE rowid = ?"), [rowid])
                .ok()
                .map(|_| format!("delete {table} row {rowid}"))
        }
        Edit::Swap { a, b } => {
            let (ra, rb) = (pick(*a), pick(*b));
            if ra == rb {
                return None;
            }
            let names: Vec<&str> = columns
                .iter()
                .filter(|(_, key)| !key)
                .map(|(n, _)| n.as_str())
                .collect();
            if names.is_empty() {
                // Nothing but the key: a swap is two rows exchanging identities.
                return None;
            }
            let read = |rowid: i64| -> Vec<Sql> {
                c.query_row(
                    &format!("SELECT {} FROM {table} WHERE rowid = ?", names.join(", ")),
                    [rowid],
                    |r| (0..names.len()).map(|i| r.get(i)).collect(),
                )
                .unwrap()
            };
            let (va, vb) = (read(ra), read(rb));
            let set = names
                .iter()
                .map(|n| format!("{n} = ?"))
                .collect::<Vec<_>>()
                .join(", ");
            let write = |rowid: i64, vals: Vec<Sql>| {
                let mut p = vals;
                p.push(Sql::Integer(rowid));
                c.execute(
                    &format!("UPDATE {table} SET {set} WHERE rowid = ?"),
                    params_from_iter(p),
                )
            };
            (write(ra, vb).is_ok() && write(rb, va).is_ok())
                .then(|| format!("swap {table} rows {ra} and {rb}"))
        }
    }
}

static CASE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_single_edit_is_detected_or_changes_nothing_observable(
        kor in any::<bool>(),
        table in 0usize..TABLES.len(),
        edit in edit_strategy(),
    ) {
        let p = pristine();
        let which = usize::from(kor);
        let (dir, token, ids) = &p.nodes[which];
        let n = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let case = p.root.join(format!("case-{n}"));
        copy_dir(dir, &case);
        let c = Connection::open(case.join("node.db")).unwrap();
        let Some(what) = apply(&c, TABLES[table], &edit) else {
            let _ = std::fs::remove_dir_all(&case);
            return Ok(());
        };
        drop(c);
        let (code, v) = json(&["ledger", "verify", "--dir", s(&case)]);
        let outcome = if code == 0 {
            let node = (case.clone(), token.clone(), ids.clone());
            match observe(&p.root, &node) {
                // Detected when used: refused, alarmed, or not started.
                Err(why) => format!("detected in use: {}", why.lines().next().unwrap_or("")),
                Ok(seen) => {
                    prop_assert_eq!(
                        &seen, &p.seen[which],
                        "{} passed `ledger verify` ({}) and changed what a user sees", what, v
                    );
                    "nothing observable changed".to_owned()
                }
            }
        } else {
            format!("detected by verify: {}", v["problem"].as_str().map_or_else(|| v["findings"][0]["what"].to_string(), str::to_owned))
        };
        // What each case did, for `--nocapture` (the harness keeps it otherwise).
        #[allow(clippy::print_stderr, reason = "a case log for the curious reader")]
        {
            eprintln!("{} {what}: {outcome}", if kor { "KOR" } else { "JPN" });
        }
        let _ = std::fs::remove_dir_all(&case);
    }
}
