use std::path::PathBuf;

use serde_json::Value;

use crate::common::{gsomia, json, s, tmp};

fn repo_file(rel: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(rel)).unwrap()
}

#[test]
fn status_at_the_2019_expiry_instant_is_in_force_with_the_suspension_cited() {
    let (code, doc) = json(&[
        "agreement",
        "status",
        "jp-kr-2016",
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(code, 0);
    assert_eq!(doc["agreement"], "jp-kr-2016");
    assert_eq!(doc["in_force"], true);
    assert_eq!(doc["state"], "notice_suspended");
    assert_eq!(doc["term_start"], "2019-11-23T00:00:00+09:00");
    assert_eq!(doc["term_end"], "2020-11-23T00:00:00+09:00");
    let reasons: Vec<&str> = doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("suspend") && r.contains("rule 4")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| r.contains('(') && r.ends_with(')')),
        "each reason cites a rule: {reasons:?}"
    );
}

#[test]
fn a_profile_file_without_the_suspension_ends_at_midnight_kst() {
    let text = repo_file("profiles/agreements/jp-kr-2016.toml");
    let start = text.find("[[event]]\nat = \"2019-11-22T18:00").unwrap();
    let end = text[start + 1..].find("[[event]]").unwrap() + start + 1;
    let dir = tmp("nosusp");
    let file = dir.join("jp-kr-2016-nosuspension.toml");
    std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let f = file.to_str().unwrap();
    let (code, before) = json(&[
        "agreement",
        "status",
        f,
        "--at",
        "2019-11-22T23:59:59.999999999+09:00",
    ]);
    assert_eq!(code, 0);
    assert_eq!(before["in_force"], true);
    assert_eq!(before["next"]["kind"], "termination");
    assert_eq!(before["next"]["at"], "2019-11-23T00:00:00+09:00");
    let (_, at) = json(&[
        "agreement",
        "status",
        f,
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(at["in_force"], false);
    assert_eq!(at["state"], "terminated");
    // The same copy drives a release decision.
    let (code, d) = json(&[
        "decide",
        "release",
        "--originator",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--agreement",
        f,
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(code, 1, "a withhold exits 1");
    assert_eq!(d["decision"], "withhold");
    assert!(
        d["rules"]
            .as_array()
            .unwrap()
            .contains(&Value::from("jp-kr-2016 art 21(3)")),
        "{d}"
    );
}

#[test]
fn release_and_withhold_have_exit_codes_and_reasons() {
    let (code, d) = json(&[
        "decide",
        "release",
        "--originator",
        "KOR",
        "--holder",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "군사Ⅱ급비밀",
        "--topic",
        "dprk.missile",
        "--rel-to",
        "JPN",
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(code, 0);
    assert_eq!(d["decision"], "release");
    assert_eq!(d["agreement"], "jp-kr-2016");
    assert_eq!(d["recipient_level"]["level"], "極秘");
    assert!(!d["reasons"].as_array().unwrap().is_empty());

    let (code, d) = json(&[
        "decide",
        "release",
        "--originator",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "대외비",
        "--topic",
        "dprk.missile",
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(code, 1);
    assert_eq!(d["decision"], "withhold");
    assert!(d["reasons"][0].as_str().unwrap().contains("art 4"), "{d}");
}

#[test]
fn the_hub_relays_only_with_a_consent_file() {
    let args = [
        "decide",
        "release",
        "--originator",
        "KOR",
        "--holder",
        "USA",
        "--to",
        "JPN",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--at",
        "2024-03-01T00:00:00+09:00",
    ];
    let (code, d) = json(&args);
    assert_eq!(code, 1);
    assert!(
        d["rules"]
            .as_array()
            .unwrap()
            .contains(&Value::from("rule 16")),
        "{d}"
    );

    let dir = tmp("consent");
    let consent = dir.join("kor-consent.toml");
    std::fs::write(
        &consent,
        "originator = \"KOR\"\nholder = \"USA\"\nrecipient = \"JPN\"\ntopics = [\"dprk.missile\"]\n\
         granted_at = \"2024-01-01T00:00:00+09:00\"\nexpires_at = \"2025-01-01T00:00:00+09:00\"\n",
    )
    .unwrap();
    let mut with = args.to_vec();
    with.extend(["--consent", consent.to_str().unwrap()]);
    let (code, d) = json(&with);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["route"]["kind"], "hub_relay");
    assert_eq!(d["route"]["arrangement"], "tisa-2014");
    assert_eq!(d["recipient_level"]["level"], "極秘");

    let bad = dir.join("bad-consent.toml");
    std::fs::write(&bad, "originator = \"KOR\"\nholder = \"USA\"\nrecipient = \"JPN\"\ntopics = [\"dprk.missile\"]\ngranted_at = \"2024-01-01\"\nexpires_at = \"2025-01-01T00:00:00Z\"\n").unwrap();
    let mut with_bad = args.to_vec();
    with_bad.extend(["--consent", bad.to_str().unwrap()]);
    let out = gsomia(&with_bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-consent.toml:5"), "{err}");
}

#[test]
fn access_uses_the_equivalent_label_and_a_bare_date_is_valid_through_that_day_in_the_readers_zone()
{
    let base = [
        "decide",
        "access",
        "--party",
        "KOR",
        "--clearance",
        "군사II급비밀",
        "--clearance-until",
        "2027-01-01",
        "--need-to-know",
        "dprk.missile",
        "--originator",
        "JPN",
        "--level",
        "秘",
        "--topic",
        "dprk.missile",
    ];
    let mut a = base.to_vec();
    a.extend(["--at", "2027-01-01T23:59:59+09:00"]);
    let (code, d) = json(&a);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["label_used"], "군사III급비밀");
    assert_eq!(d["original_label"]["level"], "秘");
    let mut b = base.to_vec();
    b.extend(["--at", "2027-01-02T00:00:00+09:00"]);
    let (code, d) = json(&b);
    assert_eq!(code, 1);
    assert_eq!(d["decision"], "deny");
    assert!(
        d["reasons"][0]
            .as_str()
            .unwrap()
            .contains("clearance ended"),
        "{d}"
    );

    let mut c: Vec<&str> = base
        .iter()
        .map(|s| {
            if *s == "dprk.missile" {
                "dprk.nuclear"
            } else {
                s
            }
        })
        .collect();
    c.truncate(c.len() - 2);
    c.extend(["--topic", "dprk.missile", "--at", "2026-01-01T00:00:00Z"]);
    let (code, d) = json(&c);
    assert_eq!(code, 1, "need-to-know for another topic does not help: {d}");
}

#[test]
fn label_map_gives_the_equivalent_or_refuses() {
    let (code, d) = json(&[
        "label",
        "map",
        "--policy",
        "JPN",
        "--level",
        "極秘",
        "--to",
        "KOR",
        "--agreement",
        "jp-kr-2016",
    ]);
    assert_eq!(code, 0);
    assert_eq!(d["to"]["level"], "군사II급비밀");
    let (code, d) = json(&[
        "label",
        "map",
        "--policy",
        "JPN",
        "--level",
        "機密",
        "--to",
        "KOR",
        "--agreement",
        "jp-kr-2016",
    ]);
    assert_eq!(code, 1);
    assert_eq!(d["decision"], "no_equivalent");
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message() {
    let out = gsomia(&[
        "label",
        "map",
        "--policy",
        "KOR",
        "--level",
        "군사IV급비밀",
        "--to",
        "JPN",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown level `군사IV급비밀`") && err.contains("군사III급비밀"),
        "{err}"
    );

    let out = gsomia(&[
        "agreement",
        "status",
        "jp-kr-2016",
        "--at",
        "2019-11-23T00:00:00",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no offset"));

    let (code, d) = json(&["agreement", "status", "jp-kr-2099"]);
    assert_eq!(code, 2);
    assert!(d["error"].as_str().unwrap().contains("jp-kr-2099"), "{d}");

    let out = gsomia(&["decide", "release", "--originator", "KOR"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing arguments are usage errors"
    );
}

#[test]
fn a_malformed_profile_names_file_and_line_and_loads_nothing() {
    let dir = tmp("badprofile");
    let file = dir.join("broken.toml");
    let text = repo_file("profiles/agreements/jp-kr-2016.toml").replace(
        "levels.KOR = [\"군사III급비밀\"]",
        "levels.KOR = [\"군사III급\"]",
    );
    let line = text
        .lines()
        .position(|l| l.contains("\"군사III급\""))
        .unwrap()
        + 1;
    std::fs::write(&file, text).unwrap();
    let out = gsomia(&[
        "agreement",
        "status",
        file.to_str().unwrap(),
        "--at",
        "2019-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("broken.toml:{line}:")), "{err}");
    assert!(out.stdout.is_empty(), "nothing half-printed");
}

#[test]
fn the_profiles_directory_overrides_shipped_profiles() {
    let dir = tmp("profiles-dir");
    std::fs::create_dir_all(dir.join("agreements")).unwrap();
    let text = repo_file("profiles/agreements/jp-kr-2016.toml").replace(
        "entry_into_force = \"2016-11-23T00:00:00+09:00\"",
        "entry_into_force = \"2016-11-24T00:00:00+09:00\"",
    );
    std::fs::write(dir.join("agreements/jp-kr-2016.toml"), text).unwrap();
    let (_, d) = json(&[
        "--profiles",
        dir.to_str().unwrap(),
        "agreement",
        "status",
        "jp-kr-2016",
        "--at",
        "2016-11-23T12:00:00+09:00",
    ]);
    assert_eq!(d["state"], "not_yet_in_force");
    assert_eq!(d["next"]["kind"], "entry_into_force");
}

#[test]
fn timeline_and_list_and_show() {
    let (code, d) = json(&[
        "agreement",
        "timeline",
        "jp-kr-2016",
        "--until",
        "2023-12-31",
    ]);
    assert_eq!(code, 0);
    let entries = d["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "renewal").count(), 7);
    assert!(kinds.contains(&"withdraw_notice"));
    let (code, d) = json(&["agreement", "list", "--at", "2020-01-01T00:00:00Z"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = d["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "jp-kr-2016",
            "us-kr-1987",
            "us-jp-2007",
            "tisa-2014",
            "warning-2023"
        ]
    );
    let (_, d) = json(&["agreement", "show", "warning-2023"]);
    assert_eq!(
        d["data_elements"],
        serde_json::json!(["launch_point", "trajectory", "impact_point"])
    );
    let (_, d) = json(&["policy", "show", "KOR"]);
    assert_eq!(d["levels"].as_array().unwrap().len(), 5);
}

#[test]
fn the_engine_demo_replays_the_history_and_checks_itself() {
    let (code, d) = json(&["demo", "--engine"]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["all_as_expected"], true);
    let steps = d["steps"].as_array().unwrap();
    assert!(steps.len() >= 15);
    assert!(steps.iter().any(|s| {
        s["branch"] == "without_suspension"
            && s["decision"] == "withhold"
            && s["rules"]
                .as_array()
                .unwrap()
                .contains(&Value::from("jp-kr-2016 art 21(3)"))
    }));
    let text = gsomia(&["demo", "--engine"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("steps as expected"));
}

#[test]
fn the_demo_runs_three_real_nodes_and_verifies_their_cosigned_ledgers() {
    let keep = std::env::temp_dir().join(format!("gsomia-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keep);
    let (code, d) = json(&["demo", "--keep", keep.to_str().unwrap()]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["all_as_expected"], true);
    assert_eq!(d["ledgers_verified"], true);
    let steps = d["steps"].as_array().unwrap();
    let find = |pred: &dyn Fn(&Value) -> bool| steps.iter().find(|s| pred(s)).cloned();
    // Both labels on the first exchange.
    let first = &steps[0];
    assert_eq!(
        first["details"]["originator_label"]["level"],
        "군사II급비밀"
    );
    assert_eq!(first["details"]["recipient_label"]["level"], "極秘");
    // Both nodes compute the same state after each event.
    let suspended = find(&|s| s["decision"] == "notice_suspended").unwrap();
    assert_eq!(suspended["details"]["state_at"]["JPN"], "notice_suspended");
    assert_eq!(suspended["details"]["state_at"]["KOR"], "notice_suspended");
    // The relay: refused without consent, delivered with it.
    let relay: Vec<_> = steps
        .iter()
        .filter(|s| {
            s["details"]["from"] == "USA"
                && s["title"].as_str().is_some_and(|t| t.contains("relay"))
        })
        .collect();
    assert_eq!(relay.len(), 2);
    assert_eq!(relay[0]["decision"], "withhold");
    assert!(
        relay[0]["rules"]
            .as_array()
            .unwrap()
            .contains(&Value::from("rule 16"))
    );
    assert_eq!(relay[1]["decision"], "release");
    assert_eq!(relay[1]["details"]["route"], "hub relay");
    assert_eq!(relay[1]["details"]["delivered"], true);
    // Need-to-know.
    assert!(
        steps.iter().any(|s| s["decision"] == "deny"
            && s["reasons"][0].as_str().unwrap().contains("need-to-know"))
    );
    // The branch without the suspension withholds at midnight, citing the article.
    assert!(steps.iter().any(|s| {
        s["branch"] == "without_suspension"
            && s["decision"] == "withhold"
            && s["rules"]
                .as_array()
                .unwrap()
                .contains(&Value::from("jp-kr-2016 art 21(3)"))
    }));
    // The 2024 launch reaches JPN through the hub, every update in order.
    let launch = find(&|s| s["title"].as_str().unwrap().starts_with("A launch")).unwrap();
    assert_eq!(launch["decision"], "delivered live", "{launch}");
    let updates = launch["details"]["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|u| u["level_at_jpn"] == "極秘"));
    // Five ledgers, each cosigned by every partner.
    let ledgers = d["ledgers"].as_array().unwrap();
    assert_eq!(ledgers.len(), 5);
    for l in ledgers {
        assert_eq!(l["verified"], true, "{l}");
        assert!(
            l["cosignatures"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["verified"] == true)
        );
    }
    // The kept node directories verify with the ordinary commands.
    let (code, st) = json(&[
        "ledger",
        "status",
        "--dir",
        keep.join("history/jpn").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["cosignatures"].as_array().unwrap().len(), 2);
    let (code, v) = json(&[
        "ledger",
        "verify",
        "--dir",
        keep.join("history/kor").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{v}");
    // And every one of them serves.
    for d in [
        "history/jpn",
        "history/kor",
        "history/usa",
        "without-suspension/jpn",
        "without-suspension/kor",
    ] {
        let server = crate::serve::Server::start(&keep.join(d));
        assert_eq!(server.stop(), 0, "{d}");
    }
    std::fs::remove_dir_all(&keep).unwrap();
}

/// An amendment in 2021 drops the CONFIDENTIAL grade. A Korean CONFIDENTIAL
/// item received in 2020 stays readable in 2022 under the label recorded at
/// receipt (protection of what was provided survives changes, rules 5 and
/// 7); one "received" in 2022 has no equivalent level at all.
#[test]
fn a_received_item_keeps_the_equivalent_label_recorded_at_receipt_after_an_amendment() {
    let dir = tmp("recorded-label");
    std::fs::create_dir_all(dir.join("agreements")).unwrap();
    let text = repo_file("profiles/agreements/jp-kr-2016.toml");
    let cut = text.find("[[event]]").unwrap();
    let amended = format!(
        "{}{}",
        &text[..cut],
        "[[event]]\nat = \"2021-01-01T00:00:00+09:00\"\nkind = \"amendment\"\nsummary = \"SECRET only\"\n\
         [[event.coverage]]\ngrade = \"SECRET\"\nlevels.JPN = [\"極秘\", \"特定秘密\"]\nlevels.KOR = [\"군사II급비밀\"]\n"
    );
    std::fs::write(dir.join("agreements/jp-kr-2016.toml"), amended).unwrap();
    let read = |received_at: Option<&str>| {
        let mut a = vec![
            "--profiles",
            dir.to_str().unwrap(),
            "decide",
            "access",
            "--party",
            "JPN",
            "--clearance",
            "極秘",
            "--clearance-until",
            "2030-01-01",
            "--need-to-know",
            "dprk",
            "--originator",
            "KOR",
            "--level",
            "군사III급비밀",
            "--topic",
            "dprk.missile",
            "--agreement",
            "jp-kr-2016",
            "--at",
            "2022-06-01T12:00:00+09:00",
        ];
        if let Some(r) = received_at {
            a.extend(["--received-at", r]);
        }
        json(&a)
    };
    let (code, d) = read(Some("2020-06-01T12:00:00+09:00"));
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["label_used"], "秘");
    let (code, d) = read(None);
    assert_eq!(code, 1, "{d}");
    assert_eq!(d["decision"], "deny");
    // Received after the read: refused as input.
    assert_eq!(read(Some("2023-01-01T00:00:00+09:00")).0, 2);
}

/// One strict instant grammar for every flag, and the last instant of the
/// calendar answered like any other.
#[test]
fn instants_are_parsed_strictly_and_the_end_of_9999_is_answered() {
    let status = |at: &str| json(&["agreement", "status", "jp-kr-2016", "--at", at]);
    for bad in [
        "2019-11-23T00:00:00+24:00",
        "2016-12-31T23:59:60Z",
        "2019-11-23T00:00:00+09:00[America/New_York]",
        "2019-11-23T00:00:00",
    ] {
        let (code, d) = status(bad);
        assert_eq!(code, 2, "{bad}: {d}");
    }
    let (code, d) = status("9999-12-31T23:59:59.999999999Z");
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["in_force"], true);
    assert!(d["term_end"].is_null(), "{d}");
    let (code, d) = json(&[
        "decide",
        "release",
        "--originator",
        "KOR",
        "--holder",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--at",
        "9999-12-31T23:59:59.999999999Z",
    ]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["decision"], "release");
    // No internal wording reaches a user.
    let (_, d) = status("9999-12-30T22:00:00Z");
    assert!(!d.to_string().contains("date arithmetic"), "{d}");
    // A clearance "until a date in Seoul" written with its zone is that whole day there.
    let (code, d) = json(&[
        "decide",
        "access",
        "--party",
        "KOR",
        "--clearance",
        "군사II급비밀",
        "--clearance-until",
        "2027-01-01[Asia/Seoul]",
        "--need-to-know",
        "dprk",
        "--originator",
        "KOR",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--at",
        "2027-01-01T23:59:59+09:00",
    ]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["decision"], "allow");
}

#[test]
fn an_endless_consent_or_profile_file_is_refused_not_read_forever() {
    let (code, d) = json(&[
        "decide",
        "release",
        "--originator",
        "KOR",
        "--holder",
        "USA",
        "--to",
        "JPN",
        "--level",
        "군사II급비밀",
        "--topic",
        "dprk.missile",
        "--consent",
        "/dev/zero",
        "--at",
        "2019-11-23T00:00:00+09:00",
    ]);
    assert_eq!(code, 2, "{d}");
    assert!(
        d["causes"][0].as_str().unwrap().contains("larger than"),
        "{d}"
    );
    let (code, d) = json(&["agreement", "show", "/dev/zero"]);
    assert_eq!(code, 2, "{d}");
}

#[test]
fn exit_codes_say_done_refused_bad_input_or_node_failure_and_json_says_it_too() {
    let root = crate::common::tmp("exit-codes");
    let dir = root.join("jpn");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&dir)]).0, 0);
    let ca = dir.join("tls/ca.pem");
    // A node that is not there: 3, with one JSON document.
    let (code, d) = json(&[
        "item",
        "list",
        "--node",
        "https://127.0.0.1:1",
        "--ca",
        s(&ca),
        "--token",
        "t",
    ]);
    assert_eq!(code, 3, "{d}");
    assert_eq!(d["exit_code"], 3);
    assert!(d["error"].as_str().unwrap().contains("cannot reach"), "{d}");
    // A usage error: 2, and with --json still one JSON document on stdout.
    let out = gsomia(&["--json", "item", "lst"]);
    assert_eq!(out.status.code(), Some(2));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(d["error"].as_str().unwrap().contains("lst"), "{d}");
    let out = gsomia(&["item", "list", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(d["usage"].as_str().unwrap().contains("--node"), "{d}");
    // Help is not an error.
    assert_eq!(gsomia(&["--help"]).status.code(), Some(0));
}
