//! An item's life at the holder, with real node processes: copies,
//! translations and derived documents keep both labels and every
//! originator; destruction meets the policy for the level, erases the
//! bytes from the database files and never happens twice; a returned item
//! goes home and is erased on the originator's receipt; history and the
//! inventory show all of it (rules 11–13).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{json, s, tmp};
use crate::serve::{Server, with_token};

/// A person registered on a node: (id, token).
pub(crate) fn person(
    dir: &Path,
    name: &str,
    clearance: &str,
    ntk: &str,
    role: &str,
) -> (String, String) {
    let (code, d) = json(&[
        "person",
        "add",
        "--dir",
        s(dir),
        "--name",
        name,
        "--clearance",
        clearance,
        "--until",
        "2099-12-31",
        "--need-to-know",
        ntk,
        "--role",
        role,
    ]);
    assert_eq!(code, 0, "{d}");
    (
        d["id"].as_str().unwrap().to_owned(),
        d["token"].as_str().unwrap().to_owned(),
    )
}

/// A node's caller: its URL, CA and one person's token.
pub(crate) struct As<'a> {
    pub url: &'a str,
    pub ca: String,
    pub token: &'a str,
}

impl As<'_> {
    pub fn run(&self, args: &[&str]) -> (i32, Value) {
        json(&with_token(args, self.url, &self.ca, self.token))
    }
    pub fn ok(&self, args: &[&str]) -> Value {
        let (code, d) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {d}");
        d
    }
    /// Submits `text` (written to a file under `root`) marked `level`,
    /// `topic` and REL TO `rel_to`: the item's id.
    pub fn submit(
        &self,
        root: &Path,
        level: &str,
        topic: &str,
        rel_to: &str,
        text: &str,
    ) -> String {
        let f = file(root, &format!("{text}.txt"), text);
        self.ok(&[
            "item",
            "submit",
            "--level",
            level,
            "--topic",
            topic,
            "--rel-to",
            rel_to,
            "--in",
            s(&f),
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

pub(crate) fn ca(dir: &Path) -> String {
    s(&dir.join("tls/ca.pem")).to_owned()
}

pub(crate) fn file(root: &Path, name: &str, text: &str) -> PathBuf {
    let f = root.join(name);
    std::fs::write(&f, text).unwrap();
    f
}

pub(crate) fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    // Waiting for delivery between processes (bounded), never for readiness.
    for _ in 0..400 {
        if let Some(x) = f() {
            return x;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// KOR and JPN, each pinning the other, both peer endpoints on fixed ports.
pub(crate) fn pair(root: &Path) -> (PathBuf, PathBuf) {
    pair_on(root, None)
}

/// [`pair`] with JPN's database elsewhere (`--database URL`).
pub(crate) fn pair_on(root: &Path, jpn_database: Option<&str>) -> (PathBuf, PathBuf) {
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        let mut args = vec!["init", "--party", p, "--dir", s(d)];
        if let (Some(url), "JPN") = (jpn_database, p) {
            args.extend(["--database", url]);
        }
        let (code, out) = json(&args);
        assert_eq!(code, 0, "{out}");
    }
    let jport = crate::common::fixed_peer_port(&jpn);
    let kport = crate::common::fixed_peer_port(&kor);
    let jb = crate::common::export_bundle(&jpn, &root.join("jpn.bundle"));
    let kb = crate::common::export_bundle(&kor, &root.join("kor.bundle"));
    for (dir, bundle, port) in [(&jpn, &kb, kport), (&kor, &jb, jport)] {
        crate::common::add_partner(dir, bundle, &format!("https://127.0.0.1:{port}"));
    }
    (jpn, kor)
}

/// KOR submits an item marked `COPIES 2` and due for disposal in the past,
/// releases it to JPN, and JPN's id for it once received.
pub(crate) fn kor_item_at_jpn(
    root: &Path,
    kor: &As<'_>,
    jpn: &As<'_>,
    text: &str,
) -> (String, String) {
    let f = file(root, &format!("{text}.txt"), text);
    let d = kor.ok(&[
        "item",
        "submit",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--rel-to",
        "JPN",
        "--reproduction",
        "COPIES 2",
        "--dispose-by",
        "2026-01-01T00:00:00Z",
        "--in",
        s(&f),
    ]);
    let origin = d["id"].as_str().unwrap().to_owned();
    let r = kor.ok(&["item", "release", &origin, "--to", "JPN"]);
    assert_eq!(r["decision"], "release", "{r}");
    let id = until("the item at JPN", || {
        let l = jpn.ok(&["item", "list", "--all"]);
        l["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["origin_item"] == origin.as_str())
            .map(|i| i["id"].as_str().unwrap().to_owned())
    });
    (origin, id)
}

fn category<'a>(label: &'a Value, tag: &str) -> Vec<&'a str> {
    label["informative"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["tag"] == tag)
        .flat_map(|c| c["values"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn copies_translations_and_derived_documents_keep_both_labels_and_every_originator() {
    let root = tmp("holding-made");
    let (jpn, kor) = pair(&root);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, ono) = person(&jpn, "Ono", "極秘", "dprk", "security-officer");
    let (_, ito) = person(&jpn, "Ito", "秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (js, ks) = (Server::start(&jpn), Server::start(&kor));
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let so = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &ono,
    };
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    let (origin, rep) = kor_item_at_jpn(&root, &k, &j, "kor-2017-report");

    // Copies: numbered, both labels kept, the originator's limit enforced.
    let c = j.ok(&["item", "copy", &rep, "--count", "2", "--reason", "briefing"]);
    let copies = c["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2);
    assert_eq!(
        (copies[1]["number"].as_u64(), copies[1]["of"].as_u64()),
        (Some(2), Some(2))
    );
    let copy = copies[0]["id"].as_str().unwrap().to_owned();
    let shown = j.ok(&["item", "show", &copy]);
    assert_eq!(shown["origin_item"], origin.as_str());
    assert_eq!(shown["label"]["level"], "군사II급비밀");
    assert_eq!(shown["equivalent_label"]["level"], "極秘");
    let (code, refused) = j.run(&["item", "copy", &rep, "--reason", "one more"]);
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["refused"], true);
    let why = refused["reasons"][0].as_str().unwrap();
    assert!(
        why.contains("at most 2") && why.contains("rule 12"),
        "{why}"
    );

    // A translation: JPN's document at the equivalent level, naming KOR.
    let t = j.ok(&[
        "item",
        "translate",
        &rep,
        "--language",
        "ja",
        "--in",
        s(&file(&root, "ja.txt", "翻訳")),
    ]);
    assert_eq!(t["kind"], "translation");
    assert_eq!(t["label"]["originator"], "JPN");
    assert_eq!(t["label"]["level"], "極秘");
    assert_eq!(
        category(&t["label"], "Contains-Information-Of"),
        vec!["KOR"]
    );
    assert_eq!(category(&t["label"], "Language"), vec!["ja"]);
    assert_eq!(t["sources"][0]["label"]["level"], "군사II급비밀");
    let translation = t["id"].as_str().unwrap().to_owned();
    // Only a person cleared for the item may translate (or copy) it.
    let low = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &ito,
    };
    let (code, r) = low.run(&[
        "item",
        "translate",
        &rep,
        "--language",
        "ja",
        "--in",
        s(&file(&root, "ja2.txt", "x")),
    ]);
    assert_eq!((code, &r["found"]), (1, &Value::Bool(false)), "{r}");
    assert_eq!(low.run(&["item", "copy", &rep, "--reason", "x"]).0, 1);
    let read = root.join("ja.out");
    j.ok(&["item", "read", &translation, "--out", s(&read)]);
    assert_eq!(std::fs::read_to_string(&read).unwrap(), "翻訳");

    // A derived assessment from KOR's report and a JPN item of lower level.
    let own = j.ok(&[
        "item",
        "submit",
        "--level",
        "秘",
        "--topic",
        "dprk.nuclear",
        "--in",
        s(&file(&root, "own.txt", "jpn note")),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from = format!("{rep},{own}");
    let d = j.ok(&[
        "item",
        "derive",
        "--from",
        &from,
        "--level",
        "秘",
        "--topic",
        "dprk",
        "--in",
        s(&file(&root, "assessment.txt", "assessment")),
    ]);
    assert_eq!(d["label"]["level"], "極秘", "the highest level: {d}");
    assert_eq!(
        category(&d["label"], "Contains-Information-Of"),
        vec!["KOR"]
    );
    let topics: Vec<&str> = d["label"]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        topics.contains(&"dprk.missile") && topics.contains(&"dprk.nuclear"),
        "{topics:?}"
    );
    let assessment = d["id"].as_str().unwrap().to_owned();
    // To the USA: withheld without KOR's consent, whatever JPN may do itself.
    let (code, w) = j.run(&["item", "release", &assessment, "--to", "USA", "--no-wait"]);
    assert_eq!(code, 1, "{w}");
    assert_eq!(w["decision"], "withhold", "{w}");
    let text = w["reasons"].to_string();
    assert!(
        text.contains("KOR's information in it") && text.contains("rule 9"),
        "{text}"
    );

    // The history of KOR's report names its copies and its translation.
    let h = j.ok(&["item", "history", &rep, "--limit", "500"]);
    assert_eq!(h["state"], "held");
    let kinds: Vec<&str> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in ["received", "copy", "read_allowed"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let derived: Vec<&str> = h["derived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["detail"].as_str().unwrap())
        .collect();
    assert!(
        derived.contains(&"copy 1 of 2") && derived.contains(&"translation (ja)"),
        "{derived:?}"
    );

    // The inventory: security officers only; KOR's report and its copies
    // are overdue (the originator's date has passed), JPN's own are not.
    let (code, _) = j.run(&["inventory"]);
    assert_eq!(code, 1, "officers may not see the inventory");
    let due = so.ok(&["inventory", "--due", "--all"]);
    let ids: Vec<&str> = due["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&rep.as_str()) && ids.contains(&copy.as_str()),
        "{ids:?}"
    );
    assert!(!ids.contains(&own.as_str()));
    assert!(
        due["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["overdue"] == true)
    );
    let out = crate::common::gsomia(&with_token(
        &["inventory", "--all", "--format", "csv"],
        &js.url,
        &ca(&jpn),
        &ono,
    ));
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("id,origin_item,originator,level"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 6, "header and 6 items: {csv}");
    drop((js, ks));
}

#[test]
fn a_destruction_needs_the_policys_witnesses_erases_the_bytes_and_never_happens_twice() {
    let root = tmp("holding-destroy");
    let jpn = root.join("jpn");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&jpn)]).0, 0);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (w1, _) = person(&jpn, "Ito", "極秘", "regional", "officer");
    let (w2, _) = person(&jpn, "Abe", "特定秘密", "regional", "security-officer");
    let (low, _) = person(&jpn, "Mori", "秘", "dprk", "officer");
    let server = Server::start(&jpn);
    let j = As {
        url: &server.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let marker = "DESTROY-ME ".repeat(4000);
    let id = j.ok(&[
        "item",
        "submit",
        "--level",
        "極秘",
        "--topic",
        "dprk.missile",
        "--in",
        s(&file(&root, "secret.txt", &marker)),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = j.ok(&["item", "copy", &id, "--count", "2", "--reason", "exercise"]);
    let copies: Vec<String> = c["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let sealed = |id: &str| -> Vec<u8> {
        let db = rusqlite::Connection::open(jpn.join("node.db")).unwrap();
        db.query_row("SELECT sealed FROM item WHERE id = ?", [id], |r| r.get(0))
            .unwrap()
    };
    // A slice of the ciphertext well inside it, as it lies on disk.
    let bytes = sealed(&id);
    let needle = bytes[bytes.len() / 2..bytes.len() / 2 + 48].to_vec();
    let on_disk = || -> bool {
        ["node.db", "node.db-wal"].iter().any(|f| {
            std::fs::read(jpn.join(f))
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_slice()))
                .unwrap_or(false)
        })
    };
    assert!(on_disk(), "the ciphertext is stored");

    // SECRET (極秘) needs two witnesses cleared to 極秘 (the shipped JPN policy).
    let (code, r) = j.run(&[
        "item",
        "destroy",
        &id,
        "--method",
        "shredded",
        "--witness",
        &w1,
    ]);
    assert_eq!(code, 1, "{r}");
    let why = r["reasons"].to_string();
    assert!(
        why.contains("needs 2 qualified witnesses") && why.contains("rule 13"),
        "{why}"
    );
    let (code, r) = j.run(&[
        "item",
        "destroy",
        &id,
        "--method",
        "shredded",
        "--witness",
        &w1,
        "--witness",
        &low,
    ]);
    assert_eq!(code, 1, "{r}");
    assert!(
        r["reasons"]
            .to_string()
            .contains("cleared below that level"),
        "{r}"
    );
    // A witness cannot be named twice, nor be someone the register does not hold.
    for second in [w1.as_str(), "nobody"] {
        let (code, r) = j.run(&[
            "item",
            "destroy",
            &id,
            "--method",
            "shredded",
            "--witness",
            &w1,
            "--witness",
            second,
        ]);
        assert_eq!(code, 1, "{r}");
        let why = r["reasons"].to_string();
        assert!(
            why.contains("named twice") || why.contains("not in the register"),
            "{why}"
        );
    }

    let d = j.ok(&[
        "item",
        "destroy",
        &id,
        "--method",
        "shredded",
        "--witness",
        &w1,
        "--witness",
        &w2,
        "--with-copies",
    ]);
    let destroyed: Vec<&str> = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(destroyed.len(), 3, "{d}");
    assert!(copies.iter().all(|c| destroyed.contains(&c.as_str())));
    assert_eq!(d["witnesses_needed"], 2);
    assert!(d["keep_until"].as_str().is_some(), "{d}");
    assert_eq!(d["erased"], true, "{d}");
    assert!(sealed(&id).is_empty());
    assert!(
        !on_disk(),
        "no trace of the ciphertext in the database files"
    );

    // Never read, copied or destroyed again; its history stays.
    let (code, r) = j.run(&["item", "read", &id, "--out", s(&root.join("x"))]);
    assert_eq!(code, 1, "{r}");
    assert!(
        r.to_string().contains("was destroyed"),
        "a reader is told why: {r}"
    );
    let (code, r) = j.run(&[
        "item",
        "destroy",
        &id,
        "--method",
        "burned",
        "--witness",
        &w1,
        "--witness",
        &w2,
    ]);
    assert_eq!(code, 1, "{r}");
    assert!(r["reasons"].to_string().contains("was destroyed"), "{r}");
    let (code, _) = j.run(&["item", "copy", &id, "--reason", "again"]);
    assert_eq!(code, 1);
    let h = j.ok(&["item", "history", &id, "--limit", "500"]);
    assert_eq!(h["state"], "destroyed");
    let destruction = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "destruction" && e["item"] == id.as_str())
        .unwrap();
    assert_eq!(destruction["fields"]["witnesses"], format!("{w1},{w2}"));
    assert!(
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "holding_refused"),
        "refusals are ledgered: {h}"
    );
    drop(server);
    // The node's own audit finds nothing wrong with what was destroyed.
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn a_returned_item_goes_home_and_is_erased_on_the_originators_receipt() {
    let root = tmp("holding-return");
    let (jpn, kor) = pair(&root);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (js, ks) = (Server::start(&jpn), Server::start(&kor));
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    let (origin, rep) = kor_item_at_jpn(&root, &k, &j, "kor-loan");
    // Only received items go back; JPN's own are destroyed instead.
    let own = j.ok(&[
        "item",
        "submit",
        "--level",
        "秘",
        "--topic",
        "dprk",
        "--in",
        s(&file(&root, "own.txt", "own")),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, r) = j.run(&["item", "return", &own]);
    assert_eq!(code, 1, "{r}");
    assert!(r["reasons"].to_string().contains("rule 13"), "{r}");

    let r = j.ok(&["item", "return", &rep, "--reason", "no longer needed"]);
    assert_eq!(r["decision"], "release", "{r}");
    assert_eq!(r["route"], "return", "{r}");
    // A second return while the first is under way is refused (or, once
    // it has settled, the item is gone).
    let (code, again) = j.run(&["item", "return", &rep]);
    assert_eq!(
        code,
        1,
        "{again}\nJPN's log:\n{}\nKOR's log:\n{}",
        js.log(),
        ks.log()
    );
    let h = until("the return settled", || {
        let (_, h) = j.run(&["item", "history", &rep, "--limit", "500"]);
        (h["state"] == "returned").then_some(h)
    });
    assert!(
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "returned"
                && e["fields"]["receipt_checkpoint"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())),
        "{h}"
    );
    // Gone from JPN's lists and reads; back at KOR, from JPN.
    let l = j.ok(&["item", "list", "--all"]);
    assert!(!l.to_string().contains(&rep));
    assert_eq!(
        j.run(&["item", "read", &rep, "--out", s(&root.join("r"))])
            .0,
        1
    );
    let back = k.ok(&["item", "list", "--all"]);
    assert!(
        back["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["origin_item"] == origin.as_str() && i["received_from"] == "JPN"),
        "{back}"
    );
    drop((js, ks));
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{v}");
}
