//! `gsomia serve` as a real process on loopback (port 0, readiness read from
//! its first line of output, never a sleep), driven by the client commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{gsomia, json, s, tmp};

pub struct Server {
    child: Child,
    dir: PathBuf,
    pub url: String,
    pub peer: String,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// The same with more arguments for `gsomia serve`.
    pub fn start_with(dir: &Path, more: &[&str]) -> Server {
        Server::start_logged(dir, more, "serve.log")
    }

    /// The same, logging to `log` in the directory (a second process of
    /// one node keeps a log of its own).
    pub fn start_logged(dir: &Path, more: &[&str], log: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gsomia"))
            .args(["serve", "--dir", s(dir)])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains(" api ") && line.contains(" peer "),
            "serve did not start: {line:?}; its log: {}",
            std::fs::read_to_string(dir.join(log)).unwrap_or_default()
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        let url = words[words.iter().position(|w| *w == "api").unwrap() + 1].to_owned();
        let peer = words[words.iter().position(|w| *w == "peer").unwrap() + 1].to_owned();
        assert!(url.starts_with("https://127.0.0.1:"), "{line}");
        Server {
            child,
            dir: dir.to_owned(),
            url,
            peer,
        }
    }

    /// What the node has logged so far (for a failing assertion's message).
    pub fn log(&self) -> String {
        self.log_named("serve.log")
    }

    /// What the node has logged so far to `log` in its directory.
    pub fn log_named(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or let go of anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    pub fn stop(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killed and reaped, so its ports are free when the next process
        // binds them (a restart on the same ports).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn person(dir: &Path, name: &str, clearance: &str, ntk: &str, role: &str) -> String {
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
    d["token"].as_str().unwrap().to_owned()
}

pub fn with_token<'a>(args: &[&'a str], url: &'a str, ca: &'a str, token: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--node", url, "--ca", ca, "--token", token]);
    v
}

#[test]
fn officers_submit_and_read_and_everything_else_is_refused_and_ledgered() {
    let root = tmp("serve-e2e");
    let jpn: PathBuf = root.join("jpn");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&jpn)]).0, 0);
    let officer = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let clerk = person(&jpn, "Ito", "秘", "dprk", "officer");
    let no_ntk = person(&jpn, "Kato", "機密", "regional", "officer");
    let auditor = person(&jpn, "Abe", "極秘", "dprk", "auditor");
    let server = Server::start(&jpn);
    let ca = jpn.join("tls/ca.pem");
    let (url, ca) = (server.url.clone(), s(&ca).to_owned());
    std::fs::write(root.join("report.txt"), "apogee 550 km").unwrap();
    let report = root.join("report.txt");

    let (code, d) = json(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            "dprk.missile",
            "--in",
            s(&report),
        ],
        &url,
        &ca,
        &officer,
    ));
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();

    // The officer reads it; the content is what was submitted.
    let out = root.join("read.txt");
    let (code, d) = json(&with_token(
        &["item", "read", &id, "--out", s(&out)],
        &url,
        &ca,
        &officer,
    ));
    assert_eq!(code, 0, "{d}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "apogee 550 km");
    let (code, d) = json(&with_token(&["item", "show", &id], &url, &ca, &officer));
    assert_eq!(code, 0);
    assert_eq!(d["label"]["level"], "極秘");

    // Below the level, or without need-to-know: indistinguishable from "no such item".
    for token in [&clerk, &no_ntk] {
        let (code, d) = json(&with_token(&["item", "show", &id], &url, &ca, token));
        assert_eq!((code, d["found"].clone()), (1, serde_json::json!(false)));
        let (code, l) = json(&with_token(&["item", "list"], &url, &ca, token));
        assert_eq!(code, 0);
        assert!(l["items"].as_array().unwrap().is_empty(), "not even listed");
    }
    let (code, d) = json(&with_token(
        &["item", "show", "jpn-0000"],
        &url,
        &ca,
        &clerk,
    ));
    assert_eq!((code, d["found"].clone()), (1, serde_json::json!(false)));

    // Auditors do not submit; unknown levels are refused with the known ones; bad tokens are 401.
    let out = gsomia(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            "dprk.missile",
            "--in",
            s(&report),
        ],
        &url,
        &ca,
        &auditor,
    ));
    assert_eq!(out.status.code(), Some(1), "a refusal");
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    let out = gsomia(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "TOP",
            "--topic",
            "dprk.missile",
            "--in",
            s(&report),
        ],
        &url,
        &ca,
        &officer,
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("known levels"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gsomia(&with_token(&["item", "list"], &url, &ca, "gsomia_forged"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    // A client that does not trust the node's CA does not connect.
    let other = root.join("other");
    assert_eq!(json(&["init", "--party", "KOR", "--dir", s(&other)]).0, 0);
    let out = gsomia(&with_token(
        &["item", "list"],
        &url,
        s(&other.join("tls/ca.pem")),
        &officer,
    ));
    assert_eq!(out.status.code(), Some(2));

    // Every read and refusal went to the ledger: 4 registrations, 1 creation,
    // 2 allowed reads, 3 refused reads (listing is not reading), the
    // auditor's refused submission (the bad token is counted, not written;
    // a role refusal is committed with the next flush, within 100 ms).
    let h = poll("the role refusal in the ledger", || {
        let (code, h) = json(&["health", "--node", &url, "--ca", &ca]);
        assert_eq!(code, 0);
        (h["ledger_size"] == 11).then_some(h)
    });
    assert_eq!(h["ledger_size"], 11, "{h}");
    assert_eq!(server.stop(), 0, "SIGTERM stops the node cleanly");
    let server = Server::start(&jpn);
    let health = gsomia(&with_token(&["item", "list"], &server.url, &ca, &officer));
    assert_eq!(health.status.code(), Some(0), "the item survives a restart");
    drop(server);
    let db = jpn.join("node.db");
    assert!(db.is_file());
}

struct TwoNodes {
    jpn: PathBuf,
    kor: PathBuf,
    /// A JPN officer's token (極秘, dprk).
    sato: String,
    /// A KOR officer's token (군사II급비밀, dprk).
    kim: String,
    kor_bundle: PathBuf,
}

/// Two initialised nodes; KOR pins JPN. Pointing JPN at KOR's peer endpoint is the caller's.
fn two_nodes(root: &Path) -> TwoNodes {
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
    }
    let sato = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let kim = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (jb, kb) = (root.join("jpn.bundle"), root.join("kor.bundle"));
    std::fs::write(
        &jb,
        gsomia(&["identity", "export", "--dir", s(&jpn)]).stdout,
    )
    .unwrap();
    std::fs::write(
        &kb,
        gsomia(&["identity", "export", "--dir", s(&kor)]).stdout,
    )
    .unwrap();
    assert_eq!(
        json(&[
            "partner",
            "add",
            "--dir",
            s(&kor),
            s(&jb),
            "--endpoint",
            "https://127.0.0.1:1"
        ])
        .0,
        0
    );
    TwoNodes {
        jpn,
        kor,
        sato,
        kim,
        kor_bundle: kb,
    }
}

fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    // Waiting for asynchronous delivery between two nodes (bounded), not for readiness.
    for _ in 0..200 {
        if let Some(x) = f() {
            return x;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn an_item_crosses_from_jpn_to_kor_over_mutual_tls_with_both_labels_and_a_receipt() {
    let root = tmp("serve-transfer");
    let TwoNodes {
        jpn,
        kor,
        sato,
        kim,
        kor_bundle: kb,
    } = two_nodes(&root);
    let kor_server = Server::start(&kor);
    let kor_peer = kor_server.peer.clone();
    assert_eq!(
        json(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&kb),
            "--endpoint",
            &kor_peer
        ])
        .0,
        0
    );
    let jpn_server = Server::start(&jpn);
    let (jca, kca) = (
        s(&jpn.join("tls/ca.pem")).to_owned(),
        s(&kor.join("tls/ca.pem")).to_owned(),
    );
    std::fs::write(root.join("r.txt"), "launch at 06:30 KST").unwrap();

    let (code, d) = json(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            "dprk.missile",
            "--rel-to",
            "KOR",
            "--in",
            s(&root.join("r.txt")),
        ],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    let (code, r) = json(&with_token(
        &["item", "release", &id, "--to", "KOR"],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["agreement"], "jp-kr-2016");
    assert_eq!(r["recipient_level"], "군사II급비밀");

    // KOR receives it, marks it, and its officer reads it.
    let received = poll("the item at KOR", || {
        let (_, l) = json(&with_token(&["item", "list"], &kor_server.url, &kca, &kim));
        l["items"].as_array().and_then(|a| a.first().cloned())
    });
    assert_eq!(
        received["label"]["level"], "極秘",
        "the originator's label is unchanged"
    );
    assert_eq!(received["equivalent_label"]["level"], "군사II급비밀");
    let kid = received["id"].as_str().unwrap().to_owned();
    let out = root.join("at-kor.txt");
    assert_eq!(
        json(&with_token(
            &["item", "read", &kid, "--out", s(&out)],
            &kor_server.url,
            &kca,
            &kim
        ))
        .0,
        0
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "launch at 06:30 KST"
    );

    // JPN ledgered the whole walk, ending with the verified receipt:
    // registration, creation, read-for-release, decision, sent, delivered.
    poll("the receipt at JPN", || {
        let (_, h) = json(&["health", "--node", &jpn_server.url, "--ca", &jca]);
        (h["ledger_size"] == 6).then_some(())
    });

    // Both ledgers verify from their stored records, with signed checkpoints.
    for (dir, min) in [(&jpn, 6), (&kor, 2)] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(dir)]);
        assert_eq!(code, 0, "{v}");
        assert!(v["records"].as_u64().unwrap() >= min, "{v}");
    }
    let (_, v) = json(&["ledger", "verify", "--dir", s(&kor)]);
    assert!(
        v["latest"]["size"].as_u64().unwrap() >= 2,
        "KOR checkpointed what it acknowledged: {v}"
    );

    // A level the agreement does not cover never leaves.
    let (code, d) = json(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "機密",
            "--topic",
            "dprk.nuclear",
            "--in",
            s(&root.join("r.txt")),
        ],
        &jpn_server.url,
        &jca,
        &person(&jpn, "Chief", "機密", "dprk", "officer"),
    ));
    assert_eq!(code, 0, "{d}");
    let top = d["id"].as_str().unwrap().to_owned();
    let chief = person(&jpn, "Chief2", "機密", "dprk", "officer");
    let (code, w) = json(&with_token(
        &["item", "release", &top, "--to", "KOR"],
        &jpn_server.url,
        &jca,
        &chief,
    ));
    assert_eq!(code, 1, "{w}");
    assert_eq!(w["decision"], "withhold");
    assert!(w["reasons"][0].as_str().unwrap().contains("art 4"), "{w}");
}

#[test]
fn a_sender_killed_with_sigkill_mid_transfer_delivers_exactly_once_after_restart() {
    let root = tmp("serve-crash");
    let TwoNodes {
        jpn,
        kor,
        sato,
        kim,
        kor_bundle: kb,
    } = two_nodes(&root);
    // KOR is not running: JPN points at an address where nothing listens.
    let partner_add = |endpoint: &str| {
        assert_eq!(
            json(&[
                "partner",
                "add",
                "--dir",
                s(&jpn),
                s(&kb),
                "--endpoint",
                endpoint
            ])
            .0,
            0
        );
    };
    partner_add("https://127.0.0.1:1");
    let jca = s(&jpn.join("tls/ca.pem")).to_owned();
    let kca = s(&kor.join("tls/ca.pem")).to_owned();
    std::fs::write(root.join("r.txt"), "track update").unwrap();

    // KOR is down: the release is decided, queued durably, and cannot be delivered.
    let mut jpn_server = Server::start(&jpn);
    let (_, d) = json(&with_token(
        &[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            "dprk.missile",
            "--in",
            s(&root.join("r.txt")),
        ],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    let id = d["id"].as_str().unwrap().to_owned();
    let (code, r) = json(&with_token(
        &["item", "release", &id, "--to", "KOR"],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 0, "{r}");
    // SIGKILL: no chance to flush anything that was not already durable.
    jpn_server.child.kill().unwrap();
    jpn_server.child.wait().unwrap();
    drop(jpn_server);

    // KOR comes up (on a free port, no race for a fixed one); JPN restarts
    // knowing where it is, and its durable outbox delivers.
    let kor_server = Server::start(&kor);
    partner_add(&kor_server.peer);
    let jpn_server = Server::start(&jpn);
    let received = poll("the item at KOR after the restart", || {
        let (_, l) = json(&with_token(&["item", "list"], &kor_server.url, &kca, &kim));
        let items = l["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    });
    assert_eq!(received.len(), 1);
    // Delivered and acknowledged: the sender's ledger ends with `delivered`,
    // and nothing is sent twice.
    poll("the receipt at JPN", || {
        let (_, h) = json(&["health", "--node", &jpn_server.url, "--ca", &jca]);
        (h["ledger_size"] == 6).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (_, l) = json(&with_token(&["item", "list"], &kor_server.url, &kca, &kim));
    assert_eq!(l["items"].as_array().unwrap().len(), 1, "exactly once");
    let (_, h) = json(&["health", "--node", &jpn_server.url, "--ca", &jca]);
    assert_eq!(h["ledger_size"], 6, "no second delivery");
}

#[test]
fn a_notice_and_a_consent_entered_at_jpn_reach_kor_which_computes_the_same_status() {
    let root = tmp("serve-events");
    let TwoNodes {
        jpn,
        kor,
        sato,
        kim,
        kor_bundle: kb,
    } = two_nodes(&root);
    let suzuki = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    let kor_server = Server::start(&kor);
    assert_eq!(
        json(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&kb),
            "--endpoint",
            &kor_server.peer
        ])
        .0,
        0
    );
    let jpn_server = Server::start(&jpn);
    let (jca, kca) = (
        s(&jpn.join("tls/ca.pem")).to_owned(),
        s(&kor.join("tls/ca.pem")).to_owned(),
    );
    let live = |token: &str, url: &str, ca: &str| {
        let (code, d) = json(&with_token(
            &["agreement", "live", "jp-kr-2016"],
            url,
            ca,
            token,
        ));
        assert_eq!(code, 0, "{d}");
        d["state"].as_str().unwrap().to_owned()
    };
    assert_eq!(live(&kim, &kor_server.url, &kca), "in_force");

    // Only security officers enter events.
    let (code, d) = json(&with_token(
        &["agreement", "enter", "jp-kr-2016", "notice"],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 1, "{d}");
    assert!(
        d["error"].as_str().unwrap().contains("security officers"),
        "{d}"
    );

    let (code, d) = json(&with_token(
        &[
            "agreement",
            "enter",
            "jp-kr-2016",
            "notice",
            "--summary",
            "test notice",
        ],
        &jpn_server.url,
        &jca,
        &suzuki,
    ));
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["status"]["state"], "notice_given");
    assert_eq!(d["sent_to"], serde_json::json!(["KOR"]));
    assert!(
        d["effect"].as_str().unwrap().contains("effective for"),
        "{d}"
    );
    // KOR receives it and computes the same state.
    poll("KOR to record JPN's notice", || {
        (live(&kim, &kor_server.url, &kca) == "notice_given").then_some(())
    });
    // A second notice while one is pending has no effect: refused, exit 1.
    let (code, d) = json(&with_token(
        &["agreement", "enter", "jp-kr-2016", "notice"],
        &jpn_server.url,
        &jca,
        &suzuki,
    ));
    assert_eq!(code, 1, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("no effect"), "{d}");
    // The notice is JPN's: KOR can neither withdraw nor suspend it (rule 4).
    let park = person(&kor, "Park", "군사II급비밀", "dprk", "security-officer");
    for kind in ["withdraw_notice", "suspend_notice"] {
        let (code, d) = json(&with_token(
            &["agreement", "enter", "jp-kr-2016", kind],
            &kor_server.url,
            &kca,
            &park,
        ));
        assert_eq!(code, 1, "{kind}: {d}");
        let why = d["reason"].as_str().unwrap();
        assert!(
            why.contains("JPN's") && why.contains("art 21(3)") && why.contains("rule 4"),
            "{kind}: {d}"
        );
    }
    assert_eq!(live(&kim, &kor_server.url, &kca), "notice_given");
    assert_eq!(live(&sato, &jpn_server.url, &jca), "notice_given");

    // A consent JPN gives KOR to hold reaches KOR.
    let (code, d) = json(&with_token(
        &[
            "consent",
            "grant",
            "--holder",
            "KOR",
            "--recipient",
            "USA",
            "--topic",
            "dprk.missile",
            "--expires",
            "2099-01-01T00:00:00+09:00",
        ],
        &jpn_server.url,
        &jca,
        &suzuki,
    ));
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    poll("KOR to hold JPN's consent", || {
        let (_, l) = json(&with_token(
            &["consent", "list"],
            &kor_server.url,
            &kca,
            &kim,
        ));
        l["consents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
            .then_some(())
    });
    assert_eq!(jpn_server.stop(), 0);
    assert_eq!(kor_server.stop(), 0);
    // Both ledgers hold the event.
    for dir in [&jpn, &kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(dir)]);
        assert_eq!(code, 0, "{v}");
    }
}
