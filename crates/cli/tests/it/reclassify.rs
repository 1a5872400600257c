//! Reclassification with three real node processes (rule 8; Art 6): only
//! the originator changes a level; its notice reaches a holder directly
//! and through the hub, and every row there follows — the item received
//! twice, its copy, its translation — with the equivalent label recorded
//! anew and each change in the item's history; a release racing a
//! reclassification ends at the new level; a level no agreement covers
//! stops further provision and the item stays protected.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{export_bundle, fixed_peer_port, json, s, tmp};
use crate::holding::{As, ca, file, person, until};
use crate::serve::Server;

/// JPN, USA and KOR, each pinning the other two on fixed peer ports.
pub(crate) fn trio(root: &Path) -> [PathBuf; 3] {
    let dirs = [root.join("jpn"), root.join("usa"), root.join("kor")];
    let parties = ["JPN", "USA", "KOR"];
    let mut ports = Vec::new();
    for (p, d) in parties.iter().zip(&dirs) {
        assert_eq!(json(&["init", "--party", p, "--dir", s(d)]).0, 0);
        ports.push(fixed_peer_port(d));
        export_bundle(d, &root.join(format!("{p}.bundle")));
    }
    for (i, d) in dirs.iter().enumerate() {
        for (j, p) in parties.iter().enumerate() {
            if i == j {
                continue;
            }
            crate::common::add_partner(
                d,
                &root.join(format!("{p}.bundle")),
                &format!("https://127.0.0.1:{}", ports[j]),
            );
        }
    }
    dirs
}

pub(crate) fn as_((url, ca, token): &(String, String, String)) -> As<'_> {
    As {
        url,
        ca: ca.clone(),
        token,
    }
}

/// KOR's `origin`, already at the USA: KOR's security officer `kso`
/// consents to its relay to JPN, and the USA's officer `u` relays it once
/// the item and the consent are there (a hub relay); the USA's id for it.
pub(crate) fn relay_through_usa(kso: &As<'_>, u: &As<'_>, origin: &str) -> String {
    kso.ok(&[
        "consent",
        "grant",
        "--holder",
        "USA",
        "--recipient",
        "JPN",
        "--item",
        origin,
        "--expires",
        "2099-01-01T00:00:00+09:00",
    ]);
    let at_usa = until("the item and KOR's consent at the USA", || {
        let r = rows(u, origin);
        let held = u.ok(&["consent", "list"])["consents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["item"] == origin);
        (held && !r.is_empty()).then(|| r[0]["id"].as_str().unwrap().to_owned())
    });
    let r = u.ok(&["item", "release", &at_usa, "--to", "JPN"]);
    assert_eq!(r["route"], "hub relay", "{r}");
    at_usa
}

/// The rows of one originator's item at a node (all of them, copies too).
pub(crate) fn rows(at: &As<'_>, origin: &str) -> Vec<Value> {
    at.ok(&["item", "list", "--all"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["origin_item"] == origin)
        .cloned()
        .collect()
}

fn level_here(item: &Value) -> String {
    item["equivalent_label"]["level"]
        .as_str()
        .or(item["label"]["level"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn a_reclassification_reaches_every_copy_directly_and_through_the_hub_and_only_the_originator_may_make_it()
 {
    let root = tmp("reclassify");
    let [jpn, usa, kor] = trio(&root);
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, park) = person(&kor, "Park", "군사II급비밀", "dprk", "security-officer");
    let (_, smith) = person(&usa, "Smith", "SECRET", "dprk", "officer");
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, ito) = person(&jpn, "Ito", "秘", "dprk", "officer");
    let (_, suzuki) = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    let (_, choi) = person(&kor, "Choi", "군사I급비밀", "dprk", "officer");
    let (js, us, ks) = (
        Server::start(&jpn),
        Server::start(&usa),
        Server::start(&kor),
    );
    let at = |srv: &'_ Server, dir: &Path, token: &'_ str| -> (String, String, String) {
        (srv.url.clone(), ca(dir), token.to_owned())
    };
    let (kc, ktopc, ksoc, uc, jc, jloc, jsoc) = (
        at(&ks, &kor, &kim),
        at(&ks, &kor, &choi),
        at(&ks, &kor, &park),
        at(&us, &usa, &smith),
        at(&js, &jpn, &sato),
        at(&js, &jpn, &ito),
        at(&js, &jpn, &suzuki),
    );
    let (k, ktop, kso, u, j, jlo, jso) = (
        as_(&kc),
        as_(&ktopc),
        as_(&ksoc),
        as_(&uc),
        as_(&jc),
        as_(&jloc),
        as_(&jsoc),
    );

    // KOR's SECRET report goes to JPN directly and to the USA, which
    // relays it to JPN with KOR's consent.
    let f = file(&root, "k.txt", "launch site assessment");
    let origin = k.ok(&[
        "item",
        "submit",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--rel-to",
        "JPN",
        "--rel-to",
        "USA",
        "--in",
        s(&f),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for to in ["JPN", "USA"] {
        let r = k.ok(&["item", "release", &origin, "--to", to]);
        assert_eq!(r["decision"], "release", "{r}");
    }
    let at_usa = relay_through_usa(&kso, &u, &origin);
    let twice = until("both routes at JPN", || {
        let r = rows(&j, &origin);
        (r.len() == 2).then_some(r)
    });
    assert!(twice.iter().all(|i| level_here(i) == "極秘"), "{twice:?}");
    let direct = twice.iter().find(|i| i["received_from"] == "KOR").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // JPN copies it and translates it.
    let copy = j.ok(&[
        "item",
        "copy",
        &direct,
        "--count",
        "1",
        "--reason",
        "for the watch officer",
    ])["copies"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tf = file(&root, "t.txt", "発射場の評価");
    let translation = j.ok(&[
        "item",
        "translate",
        &direct,
        "--language",
        "ja",
        "--in",
        s(&tf),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ito, cleared to 秘, reads none of it yet.
    for id in [&direct, &copy, &translation] {
        assert_eq!(jlo.run(&["item", "show", id]).0, 1, "{id}");
    }

    // Only KOR reclassifies: JPN and the USA are refused, citing rule 8.
    for (who, id, level) in [(&j, &direct, "秘"), (&u, &at_usa, "CONFIDENTIAL")] {
        let id: &str = id;
        let (code, r) = who.run(&[
            "item",
            "reclassify",
            id,
            "--level",
            level,
            "--reason",
            "we think it is less sensitive",
        ]);
        assert_eq!(code, 1, "{r}");
        let why = r["reasons"].to_string();
        assert!(why.contains("only KOR") && why.contains("rule 8"), "{r}");
    }
    // KOR downgrades it.
    let (code, bad) = k.run(&[
        "item",
        "reclassify",
        &origin,
        "--level",
        "군사II급비밀",
        "--reason",
        "no change",
    ]);
    assert_eq!(code, 1, "unchanged is refused: {bad}");
    let notice = k.ok(&[
        "item",
        "reclassify",
        &origin,
        "--level",
        "군사III급비밀",
        "--reason",
        "the sources are public now",
    ]);
    assert_eq!(notice["seq"], 1, "{notice}");
    assert_eq!(notice["previous"], "군사II급비밀");
    assert_eq!(notice["applied"][0]["id"], origin.as_str(), "{notice}");
    assert_eq!(notice["applied"][0]["level"], "군사III급비밀", "{notice}");
    let sent: Vec<&str> = notice["sent_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(sent, vec!["JPN", "USA"], "{notice}");

    // Every row at JPN follows: both routes, the copy, the translation.
    until("every row at JPN at 秘", || {
        let all = rows(&j, &origin);
        let t = j.ok(&["item", "show", &translation]);
        (all.len() == 3 && all.iter().all(|i| level_here(i) == "秘") && level_here(&t) == "秘")
            .then_some(())
    });
    for id in [&direct, &copy, &translation] {
        let (code, v) = jlo.run(&["item", "show", id]);
        assert_eq!(code, 0, "Ito may read {id} now: {v}");
    }
    // The originator's label itself changed (the originator's notice,
    // its number in the label); the history keeps the old level.
    let shown = j.ok(&["item", "show", &copy]);
    assert_eq!(shown["label"]["level"], "군사III급비밀", "{shown}");
    let h = j.ok(&["item", "history", &copy, "--limit", "500"]);
    let change = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "reclassified" && e["item"] == copy.as_str())
        .unwrap_or_else(|| panic!("{h}"));
    assert_eq!(change["fields"]["from"], "군사II급비밀", "{change}");
    assert_eq!(change["fields"]["to"], "군사III급비밀", "{change}");
    // JPN got it from KOR and from the USA, and applied it once.
    let at_jpn = j.ok(&["item", "reclassifications", &direct]);
    assert_eq!(at_jpn["items"].as_array().unwrap().len(), 1, "{at_jpn}");
    assert_eq!(
        at_jpn["items"][0]["applied"].as_array().unwrap().len(),
        4,
        "{at_jpn}"
    );
    // The originator sees who applied it; the hub passed it on.
    until("JPN's and the USA's acknowledgements at KOR", || {
        let l = k.ok(&["item", "reclassifications", &origin]);
        l["items"][0]["sent_to"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "delivered")
            .then_some(())
    });
    until("the hub's forward acknowledged", || {
        let l = u.ok(&["item", "reclassifications", &at_usa]);
        let sent = l["items"][0]["sent_to"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (sent.len() == 1 && sent[0]["recipient"] == "JPN" && sent[0]["state"] == "delivered")
            .then_some(())
    });

    // A level no agreement covers: JPN holds it at its highest level, and
    // KOR may provide it no further (rule 6) while it stays protected.
    let notice = k.ok(&[
        "item",
        "reclassify",
        &origin,
        "--level",
        "군사I급비밀",
        "--reason",
        "new collection makes it more sensitive",
    ]);
    assert_eq!(notice["seq"], 2, "{notice}");
    until("JPN's rows above 秘 and uncovered", || {
        let l = jso.ok(&["item", "reclassifications", &direct]);
        let latest = l["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["seq"] == 2)?
            .clone();
        latest["applied"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] != "translation")
            .all(|a| a["covered"] == false && a["level"] != "秘")
            .then_some(())
    });
    assert_eq!(jlo.run(&["item", "show", &copy]).0, 1);
    let (code, r) = ktop.run(&["item", "release", &origin, "--to", "JPN"]);
    assert_eq!((code, &r["decision"]), (1, &Value::from("withhold")), "{r}");
    assert!(r["reasons"].to_string().contains("rule 6"), "{r}");
    // Kim, cleared below the new level, no longer sees it at KOR either.
    assert_eq!(k.run(&["item", "show", &origin]).0, 1);
    drop((js, us, ks));
    for d in [&jpn, &usa, &kor] {
        let (code, v) = json(&["ledger", "verify", "--dir", s(d)]);
        assert_eq!(code, 0, "{v}");
    }
}

#[test]
fn a_release_racing_a_reclassification_ends_at_the_new_level_whichever_arrives_first() {
    let root = tmp("reclassify-race");
    let [jpn, _usa, kor] = trio(&root);
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, ito) = person(&jpn, "Ito", "秘", "dprk", "officer");
    let ks = Server::start(&kor);
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    // JPN is away: the transfer and the notice both wait in KOR's outbox.
    let f = file(&root, "r.txt", "race");
    let origin = k.ok(&[
        "item",
        "submit",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--rel-to",
        "JPN",
        "--in",
        s(&f),
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        k.ok(&["item", "release", &origin, "--to", "JPN"])["decision"],
        "release"
    );
    let n = k.ok(&[
        "item",
        "reclassify",
        &origin,
        "--level",
        "군사III급비밀",
        "--reason",
        "downgraded while in flight",
    ]);
    assert_eq!(n["sent_to"][0]["recipient"], "JPN", "{n}");
    let js = Server::start(&jpn);
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &ito,
    };
    // Ito (秘) reads it once it is there: it is never stored at 極秘 for long.
    let id = until("the item at JPN at 秘", || {
        let r = rows(&j, &origin);
        r.first()
            .filter(|i| level_here(i) == "秘")
            .map(|i| i["id"].as_str().unwrap().to_owned())
    });
    assert_eq!(j.run(&["item", "show", &id]).0, 0);
    until("the notice acknowledged", || {
        let l = k.ok(&["item", "reclassifications", &origin]);
        (l["items"][0]["sent_to"][0]["state"] == "delivered").then_some(())
    });
    drop((js, ks));
    let (code, v) = json(&["ledger", "verify", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{v}");
}
