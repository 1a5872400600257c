//! Loss and compromise reports (rule 14) between real node processes: a
//! report reaches the originator's officers live; a follow-up written
//! while the originator is down stays pending and arrives when it is back;
//! the incident closes with its remedy; both ledgers verify.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::{json, s, tmp};
use crate::holding::{As, ca, kor_item_at_jpn, pair, person, until};
use crate::serve::{Server, with_token};

#[test]
fn a_report_reaches_the_originator_live_and_follow_ups_outlast_its_absence() {
    let root = tmp("incident");
    let (jpn, kor) = pair(&root);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, park) = person(&kor, "Park", "군사II급비밀", "dprk", "security-officer");
    let js = Server::start(&jpn);
    let mut ks = Some(Server::start(&kor));
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let kor_url = ks.as_ref().unwrap().url.clone();
    let k = As {
        url: &kor_url,
        ca: ca(&kor),
        token: &kim,
    };
    let (origin, rep) = kor_item_at_jpn(&root, &k, &j, "kor-incident-item");

    // KOR's security officer follows incidents live.
    let kca = ca(&kor);
    let mut watch = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(with_token(
            &["incident", "watch", "--count", "1"],
            &kor_url,
            &kca,
            &park,
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ko = As {
        url: &kor_url,
        ca: kca.clone(),
        token: &park,
    };
    // The watch says when it is subscribed.
    let mut subscribed = String::new();
    BufReader::new(watch.stderr.as_mut().unwrap())
        .read_line(&mut subscribed)
        .unwrap();
    assert!(subscribed.contains("subscribed"), "{subscribed}");
    let started = Instant::now();
    let r = j.ok(&[
        "incident",
        "report",
        &rep,
        "--possible",
        "--description",
        "a laptop holding it was left unattended in a meeting room",
    ]);
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["direction"], "reported");
    assert_eq!(r["originator"], "KOR");
    let mut line = String::new();
    BufReader::new(watch.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let latency = started.elapsed();
    assert!(line.contains(&id) && line.contains("received"), "{line}");
    assert!(watch.wait().unwrap().success());
    println!("report → originator's live feed: {latency:?} (including the CLI's own start)");
    let seen = ko.ok(&["incident", "show", &id]);
    assert_eq!(seen["origin_item"], origin.as_str());
    assert_eq!(seen["messages"][0]["kind"], "report");
    // Acknowledged at JPN.
    until("the acknowledgement", || {
        let v = j.ok(&["incident", "show", &id]);
        (v["pending"] == 0).then_some(())
    });

    // KOR is away: the findings stay pending, then arrive when it is back.
    drop(ks.take());
    let v = j.ok(&[
        "incident",
        "update",
        &id,
        "--findings",
        "the room was locked; no one else entered",
    ]);
    assert_eq!(v["pending"], 1, "{v}");
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(j.ok(&["incident", "show", &id])["pending"], 1);
    let ks2 = Server::start(&kor);
    let ko2 = As {
        url: &ks2.url,
        ca: kca.clone(),
        token: &park,
    };
    until("the findings at KOR", || {
        let v = ko2.ok(&["incident", "show", &id]);
        (v["messages"].as_array().unwrap().len() == 2).then_some(())
    });
    let v = j.ok(&[
        "incident",
        "close",
        &id,
        "--remedy",
        "laptops are now chained; staff briefed",
    ]);
    assert_eq!(v["state"], "closed");
    let closed = until("the close at KOR", || {
        let v = ko2.ok(&["incident", "show", &id]);
        (v["state"] == "closed").then_some(v)
    });
    assert_eq!(
        closed["messages"][2]["text"],
        "laptops are now chained; staff briefed"
    );
    // Closed means closed; an officer of KOR sees nothing (security officers only).
    let (code, _) = j.run(&["incident", "update", &id, "--findings", "more"]);
    assert_eq!(code, 1);
    let kim_sees = As {
        url: &ks2.url,
        ca: kca,
        token: &kim,
    }
    .ok(&["incident", "list"]);
    assert!(kim_sees["incidents"].as_array().unwrap().is_empty());
    // Its own items are not reported to a partner.
    let own = j.ok(&[
        "item",
        "submit",
        "--level",
        "秘",
        "--topic",
        "dprk",
        "--in",
        s(&crate::holding::file(&root, "own.txt", "own")),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        j.run(&["incident", "report", &own, "--actual", "--description", "x"])
            .0,
        1
    );
    drop((js, ks2));
    for d in [&jpn, &kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(d)]);
        assert_eq!(code, 0, "{v}");
    }
}

#[test]
fn a_report_the_originator_refuses_by_decision_ends_refused_and_is_not_retried() {
    let root = tmp("incident-refused");
    let (jpn, kor) = pair(&root);
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
    let (origin, rep) = kor_item_at_jpn(&root, &k, &j, "kor-gone-item");
    // KOR no longer holds the item it originated (its row removed).
    drop(ks);
    let db = rusqlite::Connection::open(kor.join("node.db")).unwrap();
    assert_eq!(
        db.execute("DELETE FROM item WHERE id = ?", [&origin])
            .unwrap(),
        1
    );
    drop(db);
    let _ks = Server::start(&kor);
    let r = j.ok(&[
        "incident",
        "report",
        &rep,
        "--actual",
        "--description",
        "the courier bag was opened in transit",
    ]);
    let id = r["id"].as_str().unwrap().to_owned();
    let v = until("KOR's decision", || {
        let v = j.ok(&["incident", "show", &id]);
        (v["state"] == "refused").then_some(v)
    });
    assert_eq!(v["pending"], 0, "a decision is final: {v}");
    let why = v["messages"][0]["refused"].as_str().unwrap();
    assert!(why.contains("not one KOR originated"), "{why}");
    // Nothing more goes on a refused incident.
    assert_eq!(
        j.run(&["incident", "update", &id, "--findings", "more"]).0,
        1
    );
}

/// A report about an item that came through the hub goes back through the
/// hub: the USA passes it on to KOR at once and KOR's signed
/// acknowledgement comes back the same way; while KOR is away the report
/// stays pending at JPN and arrives when it returns.
#[test]
fn a_report_about_an_item_relayed_by_the_hub_reaches_the_originator_through_the_hub() {
    use crate::reclassify::{as_, relay_through_usa, rows, trio};
    let root = tmp("incident-hub");
    let [jpn, usa, kor] = trio(&root);
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, park) = person(&kor, "Park", "군사II급비밀", "dprk", "security-officer");
    let (_, smith) = person(&usa, "Smith", "SECRET", "dprk", "officer");
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (js, us) = (Server::start(&jpn), Server::start(&usa));
    let mut ks = Some(Server::start(&kor));
    let kor_url = ks.as_ref().unwrap().url.clone();
    let (kc, kso_c, uc, jc) = (
        (kor_url.clone(), ca(&kor), kim),
        (kor_url.clone(), ca(&kor), park),
        (us.url.clone(), ca(&usa), smith),
        (js.url.clone(), ca(&jpn), sato),
    );
    let (k, kso, u, j) = (as_(&kc), as_(&kso_c), as_(&uc), as_(&jc));
    let f = crate::holding::file(&root, "hub.txt", "track data");
    let origin = k.ok(&[
        "item",
        "submit",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--rel-to",
        "USA",
        "--rel-to",
        "JPN",
        "--in",
        s(&f),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    k.ok(&["item", "release", &origin, "--to", "USA"]);
    relay_through_usa(&kso, &u, &origin);
    let held = until("the relayed item at JPN", || {
        rows(&j, &origin)
            .first()
            .map(|i| i["id"].as_str().unwrap().to_owned())
    });

    let r = j.ok(&[
        "incident",
        "report",
        &held,
        "--possible",
        "--description",
        "a courier bag was left unattended for ten minutes",
    ]);
    let id = r["id"].as_str().unwrap().to_owned();
    let h = j.ok(&["item", "history", &held, "--limit", "500"]);
    assert!(
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "loss_report"
                && e["fields"]["notified"] == "queued for KOR through USA"),
        "{h}"
    );
    let at_kor = until("the report at KOR through the USA", || {
        let (code, v) = kso.run(&["incident", "show", &id]);
        (code == 0).then_some(v)
    });
    assert_eq!(at_kor["holder"], "JPN", "{at_kor}");
    assert_eq!(at_kor["direction"], "received", "{at_kor}");
    until("KOR's acknowledgement back at JPN", || {
        let v = j.ok(&["incident", "show", &id]);
        (v["pending"] == 0 && v["messages"][0]["acknowledged_at"].is_string()).then_some(())
    });
    // KOR away: the follow-up waits at JPN (the hub keeps nothing), then
    // arrives when KOR is back.
    drop(ks.take());
    j.ok(&[
        "incident",
        "update",
        &id,
        "--findings",
        "the bag's seal was intact",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(j.ok(&["incident", "show", &id])["pending"], 1);
    let ks2 = Server::start(&kor);
    let kso2 = As {
        url: &ks2.url,
        ca: ca(&kor),
        token: &kso_c.2,
    };
    until("the follow-up at KOR", || {
        let v = kso2.ok(&["incident", "show", &id]);
        (v["messages"].as_array().unwrap().len() == 2).then_some(())
    });
    until("its acknowledgement at JPN", || {
        (j.ok(&["incident", "show", &id])["pending"] == 0).then_some(())
    });
    drop((js, us, ks2));
    for d in [&jpn, &usa, &kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(d)]);
        assert_eq!(code, 0, "{v}");
    }
}
