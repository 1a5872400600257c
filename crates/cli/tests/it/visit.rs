//! Visits with real node processes (Art 8): JPN asks KOR to host one of
//! its officers, naming the purpose, the highest level and the period; KOR
//! approves (or refuses, with its reason); the visitor reads at KOR only
//! up to that level, with need-to-know, only during the visit, and nothing
//! but reads; every access is ledgered at KOR and reported to JPN.

use std::time::SystemTime;

use crate::common::tmp;
use crate::holding::{As, ca, file, pair, person, until};
use crate::serve::Server;

fn instant(offset_s: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jiff::Timestamp::from_second(now + offset_s)
        .unwrap()
        .to_string()
}

#[test]
fn a_visitor_reads_at_the_host_only_within_the_approved_visit_and_every_access_is_reported() {
    let root = tmp("visit");
    let (jpn, kor) = pair(&root);
    let (_, abe) = person(&jpn, "Abe", "極秘", "dprk", "security-officer");
    let (sato_id, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, park) = person(&kor, "Park", "군사II급비밀", "dprk", "security-officer");
    let (_, choi) = person(&kor, "Choi", "군사I급비밀", "dprk", "officer");
    let (js, ks) = (Server::start(&jpn), Server::start(&kor));
    let jso = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &abe,
    };
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let kso = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &park,
    };
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &choi,
    };
    let submit = |level: &str, topic: &str, text: &str| {
        k.ok(&[
            "item",
            "submit",
            "--level",
            level,
            "--topic",
            topic,
            "--in",
            crate::common::s(&file(&root, &format!("{text}.txt"), text)),
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let secret = submit("군사II급비밀", "dprk.missile", "launch-site-survey");
    let top = submit("군사I급비밀", "dprk.missile", "source-report");

    let (from, to) = (instant(-60), instant(2 * 86_400));
    let request = |who: &As<'_>, level: &str, from: &str| {
        who.run(&[
            "visit",
            "request",
            "--to",
            "KOR",
            "--visitor",
            &sato_id,
            "--purpose",
            "liaison on the launch-site survey",
            "--highest-level",
            level,
            "--topic",
            "dprk.missile",
            "--from",
            from,
            "--until",
            &to,
        ])
    };
    // Only security officers request; the visitor's clearance must reach
    // the level asked for.
    assert_eq!(request(&j, "極秘", &from).0, 1);
    let (code, r) = request(&jso, "機密", &from);
    assert_eq!(code, 1, "{r}");
    let (code, v) = request(&jso, "極秘", &from);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["state"], "requested");

    // KOR sees it and approves: the visitor's credential there.
    until("the request at KOR", || {
        let (code, v) = kso.run(&["visit", "show", &id]);
        (code == 0).then_some(v)
    });
    assert_eq!(k.run(&["visit", "approve", &id]).0, 1, "officers may not");
    let a = kso.ok(&["visit", "approve", &id]);
    assert_eq!(a["visit"]["state"], "approved", "{a}");
    let token = a["token"].as_str().unwrap().to_owned();
    assert_eq!(kso.run(&["visit", "approve", &id]).0, 1, "answered once");
    until("the approval at JPN", || {
        let v = jso.ok(&["visit", "show", &id]);
        (v["state"] == "approved").then_some(())
    });

    // The visitor at KOR: up to the level, with need-to-know, reads only.
    let visitor = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &token,
    };
    let (code, shown) = visitor.run(&["item", "show", &secret]);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(
        visitor.run(&["item", "show", &top]).0,
        1,
        "above the visit's level"
    );
    let (code, r) = visitor.run(&[
        "item",
        "submit",
        "--level",
        "군사III급비밀",
        "--topic",
        "dprk.missile",
        "--in",
        crate::common::s(&file(&root, "v.txt", "visitor")),
    ]);
    assert_eq!(code, 1, "a visitor may only read: {r}");
    // Each access reported to JPN.
    let accesses = until("both accesses at JPN", || {
        let v = jso.ok(&["visit", "show", &id]);
        let a = v["accesses"].as_array().cloned().unwrap_or_default();
        (a.len() == 2).then_some(a)
    });
    assert_eq!(accesses[0]["item"], secret.as_str());
    assert!(
        accesses[0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("allowed")
    );
    assert!(
        accesses[1]["outcome"]
            .as_str()
            .unwrap()
            .contains("below the item's level"),
        "{accesses:?}"
    );

    // A visit that has not begun: its credential does not hold yet.
    let (code, later) = request(&jso, "極秘", &instant(86_400));
    assert_eq!(code, 0, "{later}");
    let later = later["id"].as_str().unwrap().to_owned();
    until("the second request at KOR", || {
        (kso.run(&["visit", "show", &later]).0 == 0).then_some(())
    });
    let early = kso.ok(&["visit", "approve", &later])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, r) = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &early,
    }
    .run(&["item", "show", &secret]);
    assert_eq!(code, 1, "{r}");
    assert!(r.to_string().contains("runs from"), "{r}");

    // A refusal, with its reason, reaches JPN.
    let (_, third) = request(&jso, "極秘", &from);
    let third = third["id"].as_str().unwrap().to_owned();
    until("the third request at KOR", || {
        (kso.run(&["visit", "show", &third]).0 == 0).then_some(())
    });
    kso.ok(&[
        "visit",
        "refuse",
        &third,
        "--reason",
        "the survey team is away that week",
    ]);
    until("the refusal at JPN", || {
        let v = jso.ok(&["visit", "show", &third]);
        (v["state"] == "refused" && v["answer"] == "the survey team is away that week")
            .then_some(())
    });
    drop((js, ks));
    for d in [&jpn, &kor] {
        let (code, v) = crate::common::json(&["ledger", "verify", "--dir", crate::common::s(d)]);
        assert_eq!(code, 0, "{v}");
    }
}
