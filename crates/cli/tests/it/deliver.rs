//! Nothing lost, nothing stuck: transfers that outlast long outages of
//! either side, releases retried under one idempotency key, and item pages
//! that neither repeat nor miss an item while items are added. Real node
//! processes; simulated clocks (`serve --clock`) where the wait is an hour.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{json, s, tmp};
use crate::serve::{Server, person, with_token};

struct Pair {
    root: PathBuf,
    jpn: PathBuf,
    kor: PathBuf,
    sato: String,
    kim: String,
}

/// JPN and KOR, each pinning the other; KOR's peer endpoint on a fixed
/// port, so JPN can reach it whenever it runs.
fn pair(name: &str) -> Pair {
    let root = tmp(name);
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
    }
    let sato = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let kim = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let port = crate::common::fixed_peer_port(&kor);
    let bundle = |d: &Path, n: &str| crate::common::export_bundle(d, &root.join(n));
    let (jb, kb) = (bundle(&jpn, "jpn.bundle"), bundle(&kor, "kor.bundle"));
    let kor_peer = format!("https://127.0.0.1:{port}");
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
    Pair {
        root,
        jpn,
        kor,
        sato,
        kim,
    }
}

impl Pair {
    fn jca(&self) -> String {
        s(&self.jpn.join("tls/ca.pem")).to_owned()
    }

    fn submit(&self, server: &Server, text: &str) -> String {
        let f = self.root.join(format!("{text}.txt"));
        std::fs::write(&f, text).unwrap();
        let jca = self.jca();
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
                s(&f),
            ],
            &server.url,
            &jca,
            &self.sato,
        ));
        assert_eq!(code, 0, "{d}");
        d["id"].as_str().unwrap().to_owned()
    }

    fn transfer(&self, server: &Server, id: &str) -> Value {
        let jca = self.jca();
        let (code, t) = json(&with_token(
            &["transfer", "show", id],
            &server.url,
            &jca,
            &self.sato,
        ));
        assert!(code == 0 || code == 1, "{t}");
        t
    }

    fn kor_items(&self, server: &Server) -> Vec<Value> {
        let kca = s(&self.kor.join("tls/ca.pem")).to_owned();
        let (code, l) = json(&with_token(
            &["item", "list", "--all"],
            &server.url,
            &kca,
            &self.kim,
        ));
        assert_eq!(code, 0, "{l}");
        l["items"].as_array().unwrap().clone()
    }
}

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    // Waiting for delivery between processes (bounded), never for readiness.
    for _ in 0..300 {
        if let Some(x) = f() {
            return x;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_transfer_outlasts_an_hour_long_outage_of_either_side_and_arrives_once() {
    let p = pair("deliver-outage");
    let t0 = "2026-06-01T00:00:00Z";
    // KOR is down; JPN releases at T0 and keeps trying.
    let jpn = Server::start_with(&p.jpn, &["--clock", t0]);
    let first = p.submit(&jpn, "first report");
    let jca = p.jca();
    let (code, r) = json(&with_token(
        &["item", "release", &first, "--to", "KOR", "--no-wait"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert_eq!(code, 0, "{r}");
    let transfer = r["transfer"].as_str().unwrap().to_owned();
    let t = until("a failed attempt", || {
        let t = p.transfer(&jpn, &transfer);
        (t["state"] == "sending").then_some(t)
    });
    assert!(t["last_error"].as_str().unwrap().len() > 3, "{t}");
    // JPN goes down too; an hour passes for both.
    assert_eq!(jpn.stop(), 0);
    let kor = Server::start_with(&p.kor, &["--clock", "2026-06-01T01:00:00Z"]);
    let jpn = Server::start_with(&p.jpn, &["--clock", "2026-06-01T01:00:05Z"]);
    let t = until("the receipt", || {
        let t = p.transfer(&jpn, &transfer);
        (t["state"] != "sending" && t["state"] != "queued").then_some(t)
    });
    assert_eq!(t["state"], "delivered", "{t}");
    assert!(
        t["receipt_checkpoint"]
            .as_str()
            .unwrap()
            .contains("gsomia/KOR"),
        "{t}"
    );
    assert_eq!(p.kor_items(&kor).len(), 1, "arrived once");

    // Now the partner comes back while the sender is retrying: KOR down,
    // a release, JPN down; an hour later JPN starts first, then KOR.
    drop(kor);
    let second = p.submit(&jpn, "second report");
    let (code, r) = json(&with_token(
        &["item", "release", &second, "--to", "KOR", "--wait", "1"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert_eq!(code, 0, "still being sent is not a refusal: {r}");
    assert_eq!(r["delivery"]["state"], "sending", "{r}");
    let transfer = r["transfer"].as_str().unwrap().to_owned();
    assert_eq!(jpn.stop(), 0);
    let jpn = Server::start_with(&p.jpn, &["--clock", "2026-06-01T02:00:05Z"]);
    let kor = Server::start_with(&p.kor, &["--clock", "2026-06-01T02:00:06Z"]);
    let t = until("the second receipt", || {
        let t = p.transfer(&jpn, &transfer);
        (t["state"] == "delivered").then_some(t)
    });
    assert!(t["attempts"].as_u64().unwrap() >= 1, "{t}");
    let items = p.kor_items(&kor);
    assert_eq!(items.len(), 2, "each arrived once: {items:?}");
    let (code, l) = json(&with_token(
        &["transfer", "list", "--state", "delivered"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert_eq!(code, 0);
    assert_eq!(l["transfers"].as_array().unwrap().len(), 2, "{l}");
    drop((jpn, kor));
    for d in [&p.jpn, &p.kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(d)]);
        assert_eq!(code, 0, "{v}");
    }
}

#[test]
fn a_release_retried_with_its_key_sends_nothing_new_and_the_key_is_bound_to_its_request() {
    let p = pair("deliver-idempotent");
    let kor = Server::start(&p.kor);
    let jpn = Server::start(&p.jpn);
    let a = p.submit(&jpn, "alpha");
    let b = p.submit(&jpn, "bravo");
    let jca = p.jca();
    let release = |id: &str, key: &str| {
        json(&with_token(
            &[
                "item",
                "release",
                id,
                "--to",
                "KOR",
                "--idempotency-key",
                key,
            ],
            &jpn.url,
            &jca,
            &p.sato,
        ))
    };
    let (code, first) = release(&a, "retry-1");
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["delivery"]["state"], "delivered", "{first}");
    let (code, again) = release(&a, "retry-1");
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["transfer"], first["transfer"], "the first answer");
    // The same key for another request is refused, saying so.
    let (code, other) = release(&b, "retry-1");
    assert_eq!(code, 2, "{other}");
    assert!(
        other["error"].as_str().unwrap().contains("another request"),
        "{other}"
    );
    let (code, l) = json(&with_token(&["transfer", "list"], &jpn.url, &jca, &p.sato));
    assert_eq!(code, 0);
    assert_eq!(
        l["transfers"].as_array().unwrap().len(),
        1,
        "one transfer: {l}"
    );
    assert_eq!(p.kor_items(&kor).len(), 1, "one copy at KOR");
    drop((jpn, kor));
    let kinds = crate::tamper::kinds(&p.jpn);
    assert_eq!(
        kinds.iter().filter(|k| *k == "release_decided").count(),
        1,
        "decided and ledgered once: {kinds:?}"
    );
}

#[test]
fn item_pages_neither_repeat_nor_miss_an_item_while_items_are_added() {
    let p = pair("deliver-pages");
    let jpn = Server::start(&p.jpn);
    let jca = p.jca();
    // Items Sato may read, and some he may not (above his clearance) among them.
    let chief = person(&p.jpn, "Chief", "機密", "dprk", "officer");
    let f = p.root.join("x.txt");
    std::fs::write(&f, "x").unwrap();
    let submit = |token: &str, level: &str| {
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
            &jpn.url,
            &jca,
            token,
        ));
        assert_eq!(code, 0, "{d}");
        d["id"].as_str().unwrap().to_owned()
    };
    let mut readable = Vec::new();
    for i in 0..23 {
        readable.push(submit(&p.sato, "極秘"));
        if i % 3 == 0 {
            submit(&chief, "機密");
        }
    }
    let page = |next: Option<&str>| {
        let mut args = vec!["item", "list", "--limit", "5"];
        if let Some(n) = next {
            args.extend(["--next", n]);
        }
        let (code, l) = json(&with_token(&args, &jpn.url, &jca, &p.sato));
        assert_eq!(code, 0, "{l}");
        l
    };
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let l = page(next.as_deref());
        pages += 1;
        let ids: Vec<String> = l["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 5);
        seen.extend(ids);
        // Items added while paging appear on a later page, once.
        if pages == 2 {
            for _ in 0..4 {
                readable.push(submit(&p.sato, "極秘"));
            }
        }
        match l["next"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen, readable,
        "every readable item once, in order, none hidden shown"
    );
    // A filter on the level.
    let (code, l) = json(&with_token(
        &["item", "list", "--all", "--level", "機密"],
        &jpn.url,
        &jca,
        &chief,
    ));
    assert_eq!(code, 0);
    assert_eq!(l["items"].as_array().unwrap().len(), 8, "{l}");
    // A filter on the time stored: from before the first item, everything;
    // from after the last, nothing.
    let (_, l) = json(&with_token(
        &["item", "list", "--all", "--since", "2000-01-01T00:00:00Z"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert_eq!(l["items"].as_array().unwrap().len(), readable.len(), "{l}");
    let (_, l) = json(&with_token(
        &["item", "list", "--all", "--since", "2099-01-01T00:00:00Z"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert!(l["items"].as_array().unwrap().is_empty(), "{l}");
    let (code, bad) = json(&with_token(
        &["item", "list", "--next", "nonsense"],
        &jpn.url,
        &jca,
        &p.sato,
    ));
    assert_eq!(code, 2, "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("cursor"), "{bad}");
}

#[test]
fn partners_added_changed_and_removed_take_effect_without_a_restart() {
    let root = tmp("deliver-roster");
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    for (p, d) in [("JPN", &jpn), ("KOR", &kor)] {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
    }
    let sato = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let kim = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let bundle = |d: &Path, n: &str| crate::common::export_bundle(d, &root.join(n));
    let (jb, kb) = (bundle(&jpn, "jpn.bundle"), bundle(&kor, "kor.bundle"));
    // Endpoints that are not URLs are refused before anything is written.
    for bad in [
        "127.0.0.1:8444",
        "https://",
        "https://h:1/path",
        "http://127.0.0.1:1",
    ] {
        let (code, d) = json(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&kb),
            "--endpoint",
            bad,
        ]);
        assert_eq!(code, 2, "{bad}: {d}");
    }
    assert!(
        json(&["partner", "list", "--dir", s(&jpn)]).1["partners"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Both run, pinning nobody yet (JPN points at a port where nothing listens).
    let kor_server = Server::start(&kor);
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
    let jca = s(&jpn.join("tls/ca.pem")).to_owned();
    let f = root.join("r.txt");
    std::fs::write(&f, "r").unwrap();
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
            s(&f),
        ],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 0, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    let (code, r) = json(&with_token(
        &["item", "release", &id, "--to", "KOR", "--no-wait"],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(code, 0, "{r}");
    let transfer = r["transfer"].as_str().unwrap().to_owned();
    // KOR pins JPN; JPN is given KOR's real endpoint: no restart.
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
    let t = until("delivery after the roster changed", || {
        let (_, t) = json(&with_token(
            &["transfer", "show", &transfer],
            &jpn_server.url,
            &jca,
            &sato,
        ));
        (t["state"] == "delivered").then_some(t)
    });
    assert_eq!(t["recipient"], "KOR");
    let kca = s(&kor.join("tls/ca.pem")).to_owned();
    let (_, l) = json(&with_token(&["item", "list"], &kor_server.url, &kca, &kim));
    assert_eq!(l["items"].as_array().unwrap().len(), 1, "{l}");
    // KOR unpins JPN: JPN's next connection is refused at the handshake.
    let (code, d) = json(&["partner", "remove", "--dir", s(&kor), "JPN"]);
    assert_eq!(code, 0, "{d}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_, d) = json(&with_token(
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
            s(&f),
        ],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    let (_, r) = json(&with_token(
        &[
            "item",
            "release",
            d["id"].as_str().unwrap(),
            "--to",
            "KOR",
            "--wait",
            "2",
        ],
        &jpn_server.url,
        &jca,
        &sato,
    ));
    assert_eq!(r["delivery"]["state"], "sending", "not taken any more: {r}");
    drop((jpn_server, kor_server));
    for (d, change) in [(&jpn, "partner_changed"), (&kor, "partner_changed")] {
        let kinds = crate::tamper::kinds(d);
        assert!(kinds.iter().any(|k| k == change), "{kinds:?}");
    }
}
