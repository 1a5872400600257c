//! A node on PostgreSQL, run as a user would (`gsomia init --database
//! postgres://…`, `gsomia serve`), beside a partner on SQLite: it receives,
//! reads, releases, records receipts, verifies its ledger offline and at
//! every start, and refuses a row an insider edited in the database, as on
//! SQLite. Real server (`GSOMIA_TEST_POSTGRES`, else 127.0.0.1:5432 as
//! `postgres`), a database per test; never skipped.

use crate::common::{json, s, tmp};
use crate::holding::{As, ca, file, kor_item_at_jpn, person, until};
use crate::serve::Server;

fn server() -> String {
    std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

/// Runs `sql` on the server's database `db`: the first column of each
/// row it answers, as text.
fn rows(db: &str, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("{} dbname={db}", server());
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at `{url}` ({e}): start it (`pg_ctlcluster \
                     --skip-systemctl-redirect $(ls /etc/postgresql) main start`; .ci/run does)"
                )
            });
        tokio::spawn(async move {
            let _ = conn.await;
        });
        c.simple_query(sql)
            .await
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    })
}

/// Runs `sql` on the server's `postgres` database (or `db`).
fn admin(db: &str, sql: &str) {
    rows(db, sql);
}

/// A new, empty database for one test; its URL.
fn database(name: &str) -> (String, String) {
    let db = format!("gsomia_it_{name}_{}", std::process::id());
    admin(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
    admin("postgres", &format!("CREATE DATABASE {db}"));
    let url = std::env::var("GSOMIA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    (format!("{url}/{db}"), db)
}

#[test]
fn a_node_on_postgresql_receives_releases_verifies_and_refuses_an_edited_row() {
    let root = tmp("pg-node");
    let (url, db) = database("node");
    let (jpn, kor) = crate::holding::pair_on(&root, Some(&url));
    let text = std::fs::read_to_string(jpn.join("node.toml")).unwrap();
    assert!(text.contains(&format!("database = \"{url}\"")), "{text}");
    assert!(!jpn.join("node.db").exists(), "no SQLite file beside it");
    // A second node on the same database is refused.
    let (code, d) = json(&[
        "init",
        "--party",
        "JPN",
        "--dir",
        s(&root.join("jpn-again")),
        "--database",
        &url,
    ]);
    assert_eq!(code, 2, "{d}");
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("already holds a node"),
        "{d}"
    );

    // `store migrate` on either backend: nothing left to apply.
    for dir in [&jpn, &kor] {
        let (code, m) = json(&["store", "migrate", "--dir", s(dir)]);
        assert_eq!(code, 0, "{m}");
        assert_eq!(m["applied"], serde_json::json!([]), "{m}");
    }
    // A database without a node's schema is not made by it.
    let (bare, bare_db) = database("bare");
    let moved = root.join("jpn-bare");
    crate::common::copy_dir(&jpn, &moved);
    let toml = std::fs::read_to_string(moved.join("node.toml")).unwrap();
    std::fs::write(moved.join("node.toml"), toml.replace(&url, &bare)).unwrap();
    let (code, m) = json(&["store", "migrate", "--dir", s(&moved)]);
    assert_eq!(code, 3, "{m}");
    assert!(
        m.to_string().contains("only `gsomia init --database`"),
        "{m}"
    );
    admin(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {bare_db} WITH (FORCE)"),
    );
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let js = Server::start(&jpn);
    let ks = Server::start(&kor);
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
    // Received from KOR, stored on PostgreSQL, read under both labels.
    let (_, held) = kor_item_at_jpn(&root, &k, &j, "pg-item");
    let shown = j.ok(&["item", "show", &held]);
    assert_eq!(shown["equivalent_label"]["level"], "極秘", "{shown}");
    let out = root.join("read.txt");
    j.ok(&["item", "read", &held, "--out", s(&out)]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "pg-item");
    // Released to KOR and delivered, with KOR's receipt.
    let ours = j.submit(&root, "極秘", "dprk.missile", "KOR", "ours");
    let r = j.ok(&["item", "release", &ours, "--to", "KOR"]);
    assert_eq!(r["decision"], "release", "{r}");
    until("the receipt", || {
        let t = j.ok(&["transfer", "list"]);
        (t["transfers"][0]["state"] == "delivered").then_some(())
    });
    // The ledger verifies offline, and again at a restart.
    drop(js);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{v}");
    let js = Server::start(&jpn);
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let listed = j.ok(&["item", "list", "--all"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    // An insider raises the received item's equivalent label in the
    // database: the row no longer matches its custody tag, and is refused.
    drop(js);
    admin(
        &db,
        &format!(
            "UPDATE item SET equivalent_label = label, access_level = '区分なし' WHERE id = '{held}'"
        ),
    );
    let js = Server::start(&jpn);
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let (code, d) = j.run(&["item", "show", &held]);
    assert_eq!(code, 1, "{d}");
    let (_, health) = json(&[
        "health",
        "--node",
        &js.url,
        "--ca",
        s(&jpn.join("tls/ca.pem")),
    ]);
    assert!(
        health["integrity_alarms"].as_u64().unwrap_or(0) >= 1,
        "{health}"
    );
    // KOR moves from SQLite to PostgreSQL: stopped, copied (both ledgers
    // verified and compared), pointed at the copy, started: the same
    // items, the same ledger, serving.
    let before = k.ok(&["item", "list", "--all"]);
    drop(ks);
    let (kor_url, kor_db) = database("moved");
    let (code, c) = json(&[
        "store",
        "copy",
        "--from",
        &format!("sqlite:{}", s(&kor.join("node.db"))),
        "--to",
        &kor_url,
    ]);
    assert_eq!(code, 0, "{c}");
    assert!(c["ledger_size"].as_u64().unwrap() > 3, "{c}");
    // A second copy into it is refused: it holds a node now.
    let (code, again) = json(&[
        "store",
        "copy",
        "--from",
        s(&kor.join("node.db")),
        "--to",
        &kor_url,
    ]);
    assert_eq!(code, 3, "{again}");
    assert!(
        again.to_string().contains("holds a node already"),
        "{again}"
    );
    let toml = std::fs::read_to_string(kor.join("node.toml")).unwrap();
    std::fs::write(
        kor.join("node.toml"),
        toml.replace(
            "database = \"node.db\"",
            &format!("database = \"{kor_url}\""),
        ),
    )
    .unwrap();
    std::fs::rename(kor.join("node.db"), kor.join("node.db.moved")).unwrap();
    let ks = Server::start(&kor);
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    assert_eq!(k.ok(&["item", "list", "--all"]), before);
    drop(ks);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&kor)]);
    assert_eq!(code, 0, "{v}");
    drop(js);
    for d in [&db, &kor_db] {
        admin(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"),
        );
    }
}

/// The transfers JPN sent to KOR, by state.
fn states(j: &As<'_>) -> Vec<String> {
    j.ok(&["transfer", "list", "--limit", "500"])["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "transfer")
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

/// Asks `f` every 250 ms, at most `tries` times, until it holds; whether
/// it did (the caller says what failed, with what it saw).
fn poll(tries: usize, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    false
}

/// How many items from JPN `kor` holds.
fn held_from_jpn(kor: &As<'_>) -> usize {
    kor.ok(&["item", "list", "--all"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["label"]["originator"] == "JPN")
        .count()
}

#[test]
fn two_processes_of_one_party_on_postgresql_deliver_each_release_once_even_when_one_is_killed() {
    let root = tmp("pg-two");
    let (url, db) = database("two");
    let (jpn, kor) = crate::holding::pair_on(&root, Some(&url));
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, suzuki) = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    // Process A listens where KOR expects JPN; B beside it, on ports of its own.
    let a = Server::start(&jpn);
    let b = Server::start_logged(
        &jpn,
        &[
            "--api-listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
        ],
        "serve-b.log",
    );
    let ks = Server::start(&kor);
    // Their addresses kept apart from the processes (A is killed below).
    let (a_url, b_url) = (a.url.clone(), b.url.clone());
    let as_ = |url| As {
        url,
        ca: ca(&jpn),
        token: &sato,
    };
    let ja = as_(&a_url);
    let jb = as_(&b_url);
    let release = |j: &As<'_>, text: &str, wait: bool| {
        let id = j.submit(&root, "極秘", "dprk.missile", "KOR", text);
        let mut args = vec!["item", "release", id.as_str(), "--to", "KOR"];
        if !wait {
            args.push("--no-wait");
        }
        let r = j.ok(&args);
        assert_eq!(r["decision"], "release", "{r}");
    };
    // Releases through either process: each read and decided there, all
    // in one ledger, each delivered once.
    for n in 0..4 {
        release(&ja, &format!("a{n}"), true);
        release(&jb, &format!("b{n}"), true);
    }
    until("eight deliveries", || {
        let s = states(&jb);
        (s.len() == 8 && s.iter().all(|x| x == "delivered")).then_some(())
    });
    // KOR is away; A takes four more releases, tries them, and is killed
    // holding them. B delivers them once KOR is back and A's claims expire.
    drop(ks);
    for n in 4..8 {
        release(&ja, &format!("a{n}"), false);
    }
    until("A to have tried", || {
        let s = states(&ja);
        (s.iter().filter(|x| *x == "sending").count() == 4).then_some(())
    });
    a.kill();
    let ks = Server::start(&kor);
    let delivered = poll(240, || {
        let s = states(&jb);
        s.len() == 12 && s.iter().all(|x| x == "delivered")
    });
    assert!(
        delivered,
        "{:?}; B's log: {}",
        states(&jb),
        b.log_named("serve-b.log")
    );
    // KOR holds each of the twelve once.
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    assert_eq!(held_from_jpn(&k), 12);
    let a = Server::start(&jpn);
    let ja = As {
        url: &a.url,
        ca: ca(&jpn),
        token: &sato,
    };
    // Both processes running, A having read the registry at its start.
    // A notice recorded through B (given in 2025, so the agreement has
    // ended by now) is what A, started again, decides under at its next
    // release, with nothing else to tell it.
    let officer = As {
        url: jb.url,
        ca: ca(&jpn),
        token: &suzuki,
    };
    let (code, d) = officer.run(&[
        "agreement",
        "enter",
        "jp-kr-2016",
        "notice",
        "--at",
        "2025-06-02T10:00:00+09:00",
        "--summary",
        "notice given through process B",
    ]);
    assert_eq!(code, 0, "{d}");
    let late = ja.submit(&root, "極秘", "dprk.missile", "KOR", "after");
    let (code, r) = ja.run(&["item", "release", &late, "--to", "KOR"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["decision"], "withhold", "{r}");
    // One ledger, verified in full, with every decision of both processes.
    drop(b);
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{v}");
    drop(ks);
    admin(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
}

/// JPN's peer endpoint as node.toml pins it.
fn peer_endpoint(dir: &std::path::Path) -> String {
    let toml = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    let listen = toml
        .lines()
        .find_map(|l| l.strip_prefix("peer_listen = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap();
    format!("https://{listen}")
}

/// The USA as the warning hub of JPN and KOR (each pinning the others).
fn hub(root: &std::path::Path, jpn: &std::path::Path, kor: &std::path::Path) -> std::path::PathBuf {
    let usa = root.join("usa");
    let (code, out) = json(&["init", "--party", "USA", "--dir", s(&usa)]);
    assert_eq!(code, 0, "{out}");
    crate::common::fixed_peer_port(&usa);
    let ub = crate::common::export_bundle(&usa, &root.join("usa.bundle"));
    let add = crate::common::add_partner;
    for (dir, party) in [(jpn, "jpn"), (kor, "kor")] {
        add(
            &usa,
            &root.join(format!("{party}.bundle")),
            &peer_endpoint(dir),
        );
        add(dir, &ub, &peer_endpoint(&usa));
    }
    usa
}

/// A `gsomia warn subscribe` left running: every update it prints, as
/// (flight, number), in the order printed.
struct Watcher {
    child: std::process::Child,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, u64)>>>,
}

impl Watcher {
    fn start(url: &str, ca: &str, token: &str) -> Watcher {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gsomia"))
            .args([
                "--json",
                "warn",
                "subscribe",
                "--node",
                url,
                "--ca",
                ca,
                "--token",
                token,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let Ok(u) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let (Some(id), Some(seq)) = (u["id"].as_str(), u["seq"].as_u64()) {
                    into.lock().unwrap().push((id.to_owned(), seq));
                }
            }
        });
        Watcher { child, seen }
    }

    fn seen(&self) -> Vec<(String, u64)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three processes of JPN on one database; one (A) SIGKILLed again and
/// again (`GSOMIA_SOAK_KILLS` times; 3 here, 50 or more by hand:
/// `GSOMIA_SOAK_KILLS=50 cargo test --locked -p gsomia --test it soak`)
/// while all three take releases and the points of a warning flight each
/// round, the USA the warning hub and KOR the partner. Afterwards every
/// release a process acknowledged is delivered to KOR exactly once; the
/// subscribers on the two surviving processes saw every flight whole, in
/// order, with every acknowledged point; KOR holds every acknowledged
/// point through the hub (forwards owed by a killed process sent by the
/// others); JPN's one ledger and KOR's verify, each cosigned by the other.
#[test]
fn soak_a_process_killed_again_and_again_loses_no_acknowledged_release_or_warning() {
    let kills: usize = std::env::var("GSOMIA_SOAK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let root = tmp("pg-soak");
    let (url, db) = database("soak");
    let (jpn, kor) = crate::holding::pair_on(&root, Some(&url));
    let usa = hub(&root, &jpn, &kor);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, ito) = person(&jpn, "Ito", "極秘", "warning", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, park) = person(&kor, "Park", "군사II급비밀", "warning", "officer");
    let ks = Server::start(&kor);
    let us = Server::start(&usa);
    let other = |log| {
        Server::start_logged(
            &jpn,
            &[
                "--api-listen",
                "127.0.0.1:0",
                "--peer-listen",
                "127.0.0.1:0",
            ],
            log,
        )
    };
    let (b, c) = (other("serve-b.log"), other("serve-c.log"));
    let jca = ca(&jpn);
    let watchers = [
        Watcher::start(&b.url, &jca, &ito),
        Watcher::start(&c.url, &jca, &ito),
    ];
    let acknowledged = std::cell::Cell::new(0usize);
    let release = |url: &str, text: &str| {
        let j = As {
            url,
            ca: jca.clone(),
            token: &sato,
        };
        let f = file(&root, &format!("{text}.txt"), text);
        let (code, d) = j.run(&[
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
        ]);
        if code != 0 {
            return; // the process died under it: nothing was acknowledged
        }
        let id = d["id"].as_str().unwrap().to_owned();
        let (code, r) = j.run(&["item", "release", &id, "--to", "KOR", "--no-wait"]);
        if code == 0 {
            assert_eq!(r["decision"], "release", "{r}");
            acknowledged.set(acknowledged.get() + 1);
        }
    };
    // Warning points acknowledged: (flight, number).
    let points = std::cell::RefCell::new(Vec::<(String, u64)>::new());
    let warn = |url: &str, args: &[&str]| -> Option<String> {
        let w = As {
            url,
            ca: jca.clone(),
            token: &ito,
        };
        let (code, d) = w.run(args);
        if code != 0 {
            return None; // refused or died under it: not acknowledged
        }
        let id = d["id"].as_str().unwrap().to_owned();
        points
            .borrow_mut()
            .push((id.clone(), d["seq"].as_u64().unwrap()));
        Some(id)
    };
    let mut flights = Vec::new();
    for round in 0..kills {
        let a = Server::start(&jpn);
        // A flight opened through A, followed through each process.
        let Some(flight) = warn(&a.url, &["warn", "publish", "--launch-point", "39.0,125.7"])
        else {
            panic!("a launch through a running process refused");
        };
        flights.push(flight.clone());
        let track = |url: &str, n: u32| {
            let p = format!(
                "{:.2},{:.2},100",
                39.0 + f64::from(n) * 0.1,
                126.0 + f64::from(n) * 0.3
            );
            warn(url, &["warn", "track", &flight, "--point", &p]);
        };
        track(&b.url, 1);
        for n in 0..2 {
            release(&a.url, &format!("a-{round}-{n}"));
            release(&b.url, &format!("b-{round}-{n}"));
            release(&c.url, &format!("c-{round}-{n}"));
        }
        track(&a.url, 2);
        // Killed at a different moment each round: right away, or while
        // its deliveries and forwards are under way.
        std::thread::sleep(std::time::Duration::from_millis(37 * (round as u64 % 5)));
        a.kill();
        track(&c.url, 3);
        warn(
            &b.url,
            &["warn", "impact", &flight, "--point", "40.0,133.0"],
        );
    }
    let want = acknowledged.get();
    assert!(want >= 4 * kills, "{want} releases acknowledged");
    let points = points.into_inner();
    assert!(points.len() >= 4 * kills, "{points:?}");
    // The surviving processes' subscribers: each flight whole and in order.
    let whole = |seen: &[(String, u64)]| {
        flights.iter().all(|f| {
            let mine: Vec<u64> = seen.iter().filter(|(id, _)| id == f).map(|x| x.1).collect();
            let top = points.iter().filter(|(id, _)| id == f).map(|x| x.1).max();
            top.is_some_and(|t| mine.len() as u64 > t)
        })
    };
    for w in &watchers {
        until("every flight at a surviving subscriber", || {
            whole(&w.seen()).then_some(())
        });
        let seen = w.seen();
        for f in &flights {
            let mine: Vec<u64> = seen.iter().filter(|(id, _)| id == f).map(|x| x.1).collect();
            assert_eq!(
                mine,
                (0..mine.len() as u64).collect::<Vec<u64>>(),
                "flight {f}: every update once, in order"
            );
        }
        for p in &points {
            assert!(seen.contains(p), "{p:?} acknowledged, not seen");
        }
    }
    // KOR holds every acknowledged point, through the hub.
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &park,
    };
    let mut at_kor = Vec::new();
    poll(240, || {
        at_kor = k.ok(&["warn", "list"])["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| {
                f["updates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| {
                        (
                            u["id"].as_str().unwrap().to_owned(),
                            u["seq"].as_u64().unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        points.iter().all(|p| at_kor.contains(p))
    });
    for p in &points {
        assert!(
            at_kor.contains(p),
            "{p:?} never reached KOR: {at_kor:?}; B's log: {}\nC's log: {}",
            b.log_named("serve-b.log"),
            c.log_named("serve-c.log")
        );
    }
    // Every acknowledged release delivered, once.
    let j = As {
        url: &b.url,
        ca: jca,
        token: &sato,
    };
    let mut settled = Vec::new();
    poll(240, || {
        settled = states(&j);
        settled.len() == want && settled.iter().all(|x| x == "delivered")
    });
    assert!(
        settled.len() == want && settled.iter().all(|x| x == "delivered"),
        "{want} acknowledged: {settled:?}; B's log: {}",
        b.log_named("serve-b.log")
    );
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    assert_eq!(
        held_from_jpn(&k),
        want,
        "each acknowledged release once at KOR"
    );
    // Each party's ledger cosigned by the other (partners reach JPN where
    // they pin it: A, started again as its supervisor would).
    let a = Server::start(&jpn);
    let cosigned_by = |dir: &std::path::Path, witness: &str| {
        let (code, st) = json(&["ledger", "status", "--dir", s(dir)]);
        assert_eq!(code, 0, "{st}");
        st["cosignatures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["party"] == witness && c["cosigned"] == true && c["verified"] == true)
    };
    for (dir, witness) in [(&jpn, "KOR"), (&kor, "JPN")] {
        let ok = poll(120, || cosigned_by(dir, witness));
        assert!(
            ok,
            "{witness}'s cosignature on {}: {}; B's log: {}",
            dir.display(),
            json(&["ledger", "status", "--dir", s(dir)]).1,
            b.log_named("serve-b.log")
        );
    }
    drop(watchers);
    drop((a, b, c));
    for dir in [&jpn, &kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(dir)]);
        assert_eq!(code, 0, "{v}");
    }
    drop((ks, us));
    admin(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
}

/// The console as a browser uses it, without one: cookies and forms by hand.
struct Console {
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Console {
    fn new(ca: &std::path::Path) -> Console {
        Console {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(gsomia_api::user_tls_config(ca).unwrap())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// `name=value` of the cookie `name` the answer set.
    fn set_cookie(r: &reqwest::Response, name: &str) -> String {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .unwrap_or_else(|| panic!("no {name} cookie: {:?}", r.headers()))
            .to_owned()
    }

    /// Signs in at `url` with the sign-in form; the session cookie.
    fn sign_in(&self, url: &str, token: &str) -> String {
        self.rt.block_on(async {
            let r = self.http.get(format!("{url}/signin")).send().await.unwrap();
            let form_cookie = Console::set_cookie(&r, "gsomia_signin");
            let csrf = form_cookie.trim_start_matches("gsomia_signin=").to_owned();
            let r = self
                .http
                .post(format!("{url}/signin"))
                .header("cookie", form_cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}&csrf={csrf}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
            Console::set_cookie(&r, "gsomia_session")
        })
    }

    /// The dashboard with `cookie`: its body if signed in, None if sent
    /// to sign in.
    fn dashboard(&self, url: &str, cookie: &str) -> Option<String> {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{url}/"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                200 => Some(r.text().await.unwrap()),
                303 => {
                    assert_eq!(r.headers()["location"], "/signin");
                    None
                }
                other => panic!("{other}: {}", r.text().await.unwrap_or_default()),
            }
        })
    }

    /// Signs out at `url` with the form a page of the session carries.
    fn sign_out(&self, url: &str, cookie: &str, page: &str) -> u16 {
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form with the session's token");
        self.rt.block_on(async {
            self.http
                .post(format!("{url}/signout"))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={csrf}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }
}

#[test]
fn a_console_session_holds_across_a_partys_processes_and_restarts_and_ends_everywhere() {
    let root = tmp("pg-console");
    // Both processes reach the database over TLS, its certificate checked
    // (the machine's server: Debian's snakeoil certificate, for localhost).
    let (url, db) = database("console");
    let ca = std::env::var("GSOMIA_TEST_POSTGRES_CA")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".into());
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        url.replace("@127.0.0.1:", "@localhost:")
    );
    let (jpn, _kor) = crate::holding::pair_on(&root, Some(&url));
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, suzuki) = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    let a = Server::start(&jpn);
    let second = [
        "--api-listen",
        "127.0.0.1:0",
        "--peer-listen",
        "127.0.0.1:0",
    ];
    let b = Server::start_logged(&jpn, &second, "serve-b.log");
    let c = Console::new(&jpn.join("tls/ca.pem"));
    let sessions = rows(
        "postgres",
        &format!(
            "SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{db}'"
        ),
    );
    let (encrypted, clear) = sessions[0].split_once(' ').unwrap();
    assert!(encrypted.parse::<u32>().unwrap() >= 4, "{sessions:?}");
    assert_eq!(clear, "0", "a session in clear: {sessions:?}");

    // Signed in at A: B knows the session, and shows the same form token.
    let cookie = c.sign_in(&a.url, &sato);
    let at_a = c.dashboard(&a.url, &cookie).expect("signed in at A");
    let at_b = c.dashboard(&b.url, &cookie).expect("signed in at B too");
    assert!(at_b.contains("Sato"), "{at_b}");
    let token_of = |page: &str| {
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap_or("").to_owned())
    };
    assert_eq!(token_of(&at_a), token_of(&at_b));
    // Neither the session's id nor its form token is in the database.
    let id = cookie.trim_start_matches("gsomia_session=");
    let kept = rows(
        &db,
        "SELECT encode(id_hash, 'hex') || encode(token_hash, 'hex') || encode(custody, 'hex') \
         FROM console_session",
    )
    .join(" ");
    assert!(
        !kept.contains(id) && !kept.contains(&token_of(&at_a).unwrap()),
        "{kept}"
    );

    // A restarted (cookies go by host, not port): still signed in there.
    drop(a);
    let a = Server::start(&jpn);
    assert!(
        c.dashboard(&a.url, &cookie).is_some(),
        "a restart signed Sato out"
    );

    // An insider points Sato's session at the security officer's: it
    // signs no one in, and the node raises an integrity alarm.
    let other = c.sign_in(&b.url, &suzuki);
    let hash_of = |cookie: &str| {
        format!(
            "sha256(convert_to('{}', 'UTF8'))",
            cookie.trim_start_matches("gsomia_session=")
        )
    };
    admin(
        &db,
        &format!(
            "UPDATE console_session SET token_hash = (SELECT token_hash FROM console_session \
             WHERE id_hash = {}) WHERE id_hash = {}",
            hash_of(&other),
            hash_of(&cookie)
        ),
    );
    assert!(
        c.dashboard(&a.url, &cookie).is_none(),
        "an edited session signed someone in"
    );
    let (_, health) = json(&[
        "health",
        "--node",
        &a.url,
        "--ca",
        s(&jpn.join("tls/ca.pem")),
    ]);
    assert!(health.to_string().contains("console session"), "{health}");
    // Suzuki's own session holds; signed out at B, it has ended at A too.
    let page = c.dashboard(&a.url, &other).expect("Suzuki still signed in");
    assert_eq!(c.sign_out(&b.url, &other, &page), 303);
    assert!(
        c.dashboard(&a.url, &other).is_none(),
        "signed out at B, still in at A"
    );
    assert!(c.dashboard(&b.url, &other).is_none());
    drop((a, b));
}

/// A database elsewhere named without TLS, or with a mode that would fall
/// back to clear, is refused before anything is made: bad input (exit 2),
/// saying what to write instead; no node directory is left behind.
#[test]
fn init_refuses_a_database_url_that_would_travel_in_clear() {
    let root = tmp("pg-clear");
    for (url, said) in [
        (
            "postgres://gsomia:secret@db.example.org/jpn",
            "sslmode=verify-full&sslrootcert",
        ),
        (
            "postgres://gsomia@127.0.0.1/jpn?sslmode=prefer",
            "fall back",
        ),
        (
            "postgres://gsomia@db.example.org/jpn?sslmode=verify-full",
            "needs sslrootcert",
        ),
    ] {
        let dir = root.join("jpn");
        let (code, out) = json(&[
            "init",
            "--party",
            "JPN",
            "--dir",
            s(&dir),
            "--database",
            url,
        ]);
        assert_eq!(code, 2, "{url}: {out}");
        let text = out.to_string();
        assert!(text.contains(said), "{url}: {out}");
        assert!(!text.contains("secret"), "the password is shown: {out}");
        assert!(!dir.join("node.toml").exists(), "{url}: a node was made");
    }
}
