//! Contractors with real node processes (Art 16; rule 15): a person of a
//! contractor facility reads nothing while any condition fails — never
//! inspected, a failed inspection, never briefed — each refusal ledgered
//! naming the condition; once all hold, they read. A facility record an
//! insider edits leaves the facility unverified and its people reading
//! nothing, with an alarm.

use std::path::Path;

use serde_json::Value;

use crate::common::{json, s, tmp};
use crate::holding::{As, ca, kor_item_at_jpn, pair, person};
use crate::serve::Server;

/// The read refusals ledgered at JPN about `item`, newest last.
fn refusals(so: &As<'_>, item: &str) -> Vec<String> {
    so.ok(&["item", "history", item, "--limit", "500"])["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "read_denied")
        .map(|e| {
            e["fields"]["reasons"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn contractor(dir: &Path, facility: &str) -> (i32, Value) {
    json(&[
        "person",
        "add",
        "--dir",
        s(dir),
        "--name",
        "Ono",
        "--clearance",
        "極秘",
        "--until",
        "2099-12-31",
        "--need-to-know",
        "dprk",
        "--role",
        "officer",
        "--facility",
        facility,
    ])
}

#[test]
fn a_contractor_reads_nothing_until_the_facility_is_inspected_and_they_are_briefed() {
    let root = tmp("contractor");
    let (jpn, kor) = pair(&root);
    let (suzuki_id, suzuki) = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (js, ks) = (Server::start(&jpn), Server::start(&kor));
    let so = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &suzuki,
    };
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
    let (_, item) = kor_item_at_jpn(&root, &k, &j, "for-the-contractor");

    // Only security officers register facilities; an unknown responsible
    // person or an unclassified level is refused.
    let add = |who: &As<'_>, responsible: &str, level: &str| {
        who.run(&[
            "facility",
            "add",
            "--name",
            "Nagoya works",
            "--clearance",
            level,
            "--until",
            "2099-12-31",
            "--responsible",
            responsible,
        ])
    };
    assert_eq!(add(&j, &suzuki_id, "極秘").0, 1, "officers may not");
    assert_eq!(
        add(&so, "jpn-nobody", "極秘").0,
        1,
        "no such responsible person"
    );
    assert_eq!(
        add(&so, &suzuki_id, "区分なし").0,
        2,
        "not a classified level"
    );
    let f = so.ok(&[
        "facility",
        "add",
        "--name",
        "Nagoya works",
        "--clearance",
        "極秘",
        "--until",
        "2099-12-31",
        "--responsible",
        &suzuki_id,
    ]);
    let fid = f["id"].as_str().unwrap().to_owned();
    assert!(
        f["failing"].to_string().contains("never been inspected"),
        "{f}"
    );
    // A person of a facility that does not exist is not registered.
    let (code, bad) = contractor(&jpn, "jpn-f-nowhere");
    assert_eq!(code, 2, "{bad}");
    let (code, ono) = contractor(&jpn, &fid);
    assert_eq!(code, 0, "{ono}");
    let (ono_id, ono_token) = (
        ono["id"].as_str().unwrap().to_owned(),
        ono["token"].as_str().unwrap().to_owned(),
    );
    let c = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &ono_token,
    };
    let read = || c.run(&["item", "show", &item]).0;

    // Never inspected, never briefed: nothing, and the ledger says why.
    assert_eq!(read(), 1);
    assert!(
        c.ok(&["item", "list", "--all"])["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a contractor lists nothing either"
    );
    let why = refusals(&so, &item).pop().unwrap();
    assert!(
        why.contains("never been inspected")
            && why.contains("security briefing")
            && why.contains("rule 15"),
        "{why}"
    );
    // A failed inspection.
    so.ok(&[
        "facility",
        "inspect",
        &fid,
        "--failed",
        "--findings",
        "the document safe was found unlocked",
    ]);
    assert_eq!(read(), 1);
    let why = refusals(&so, &item).pop().unwrap();
    assert!(why.contains("failed its latest inspection"), "{why}");
    // Passed, but Ono not briefed yet; a briefing for someone not of the
    // facility is refused.
    so.ok(&[
        "facility",
        "inspect",
        &fid,
        "--findings",
        "all storage locked; register up to date",
    ]);
    assert_eq!(read(), 1);
    let why = refusals(&so, &item).pop().unwrap();
    assert!(
        why.contains("security briefing") && !why.contains("inspect"),
        "{why}"
    );
    assert_eq!(
        so.run(&["facility", "brief", &fid, "--person", "jpn-someone"])
            .0,
        1
    );
    let shown = so.ok(&["facility", "brief", &fid, "--person", &ono_id]);
    assert_eq!(shown["failing"], Value::Array(vec![]), "{shown}");
    assert_eq!(shown["people"][0], ono_id.as_str(), "{shown}");
    // Every condition holds: Ono reads.
    assert_eq!(read(), 0);

    // An insider turns the failed inspection into a pass in the database:
    // the facility no longer verifies and Ono reads nothing.
    drop(js);
    {
        let db = rusqlite::Connection::open(jpn.join("node.db")).unwrap();
        let body: Vec<u8> = db
            .query_row(
                "SELECT body FROM facility_record WHERE facility = ? AND seq = 1",
                [&fid],
                |r| r.get(0),
            )
            .unwrap();
        let mut edited = body.clone();
        let at = flag_position(&body);
        assert_eq!(edited[at], 0, "the failed inspection's flag");
        edited[at] = 1;
        db.execute(
            "UPDATE facility_record SET body = ? WHERE facility = ? AND seq = 1",
            rusqlite::params![edited, fid],
        )
        .unwrap();
    }
    let js = Server::start(&jpn);
    let c = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &ono_token,
    };
    assert_eq!(c.run(&["item", "show", &item]).0, 1);
    let so = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &suzuki,
    };
    let shown = so.ok(&["facility", "show", &fid]);
    assert_eq!(shown["verified"], false, "{shown}");
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
    drop((js, ks));
}

/// Where the passed flag of an encoded inspection record sits: right after
/// the record's tag and its kind byte (2).
fn flag_position(body: &[u8]) -> usize {
    let tag = b"gsomia/v1/facility-record";
    let at = body
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("the record's tag")
        + tag.len();
    assert_eq!(body[at], 2, "an inspection record");
    at + 1
}
