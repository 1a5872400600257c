//! `gsomia item` and `gsomia label export|import` on real files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{gsomia, json, s, tmp};

struct Env {
    root: PathBuf,
    jpn: PathBuf,
    kor: PathBuf,
    usa: PathBuf,
}

fn env(name: &str) -> Env {
    let root = tmp(&format!("item-{name}"));
    let e = Env {
        jpn: root.join("jpn"),
        kor: root.join("kor"),
        usa: root.join("usa"),
        root,
    };
    for (p, d) in [("JPN", &e.jpn), ("KOR", &e.kor), ("USA", &e.usa)] {
        assert_eq!(
            gsomia(&["keys", "generate", "--party", p, "--out", s(d)])
                .status
                .code(),
            Some(0)
        );
    }
    std::fs::write(
        e.root.join("report.txt"),
        "launch 06:30 KST; apogee 550 km; impact EEZ".repeat(40),
    )
    .unwrap();
    e
}

fn seal(e: &Env, level: &str, out: &str) -> (i32, Value) {
    json(&[
        "item",
        "seal",
        "--originator",
        "JPN",
        "--level",
        level,
        "--topic",
        "dprk.missile",
        "--rel-to",
        "KOR",
        "--to",
        "KOR",
        "--keys",
        s(&e.jpn),
        "--recipient",
        s(&e.kor),
        "--in",
        s(&e.root.join("report.txt")),
        "--out",
        s(&e.root.join(out)),
        "--at",
        "2026-11-28T09:00:00+09:00",
    ])
}

#[test]
fn seal_inspect_open_round_trip_with_both_labels() {
    let e = env("round");
    let (code, d) = seal(&e, "極秘", "r.gsi");
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["agreement"], "jp-kr-2016");
    let (code, i) = json(&[
        "item",
        "inspect",
        s(&e.root.join("r.gsi")),
        "--sender",
        s(&e.jpn),
    ]);
    assert_eq!(code, 0, "{i}");
    assert_eq!(i["label"]["level"], "極秘");
    assert_eq!(i["recipient"], "KOR");
    let (code, o) = json(&[
        "item",
        "open",
        s(&e.root.join("r.gsi")),
        "--keys",
        s(&e.kor),
        "--sender",
        s(&e.jpn),
        "--out",
        s(&e.root.join("r.txt")),
    ]);
    assert_eq!(code, 0, "{o}");
    assert_eq!(o["original_label"]["level"], "極秘");
    assert_eq!(o["equivalent_label"]["level"], "군사II급비밀");
    assert_eq!(
        std::fs::read(e.root.join("r.txt")).unwrap(),
        std::fs::read(e.root.join("report.txt")).unwrap()
    );
    // Outputs are never overwritten.
    let again = gsomia(&[
        "item",
        "open",
        s(&e.root.join("r.gsi")),
        "--keys",
        s(&e.kor),
        "--out",
        s(&e.root.join("r.txt")),
    ]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn nothing_is_sealed_for_a_level_the_agreement_does_not_cover() {
    let e = env("withhold");
    let (code, d) = seal(&e, "機密", "top.gsi");
    assert_eq!(code, 1);
    assert_eq!(d["decision"], "withhold");
    assert!(!e.root.join("top.gsi").exists());
}

#[test]
fn tampering_wrong_keys_and_wrong_senders_are_refused_naming_what_failed() {
    let e = env("tamper");
    assert_eq!(seal(&e, "秘", "r.gsi").0, 0);
    let path = e.root.join("r.gsi");
    let good = std::fs::read(&path).unwrap();
    let open = |file: &Path, keys: &Path, sender: &Path, out: &str| {
        json(&[
            "item",
            "open",
            s(file),
            "--keys",
            s(keys),
            "--sender",
            s(sender),
            "--out",
            s(&e.root.join(out)),
        ])
    };
    // Wrong recipient.
    let (code, d) = open(&path, &e.usa, &e.jpn, "o1");
    assert_eq!(code, 1);
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("not for this recipient"),
        "{d}"
    );
    // Wrong sender identity.
    let (code, d) = open(&path, &e.kor, &e.usa, "o2");
    assert_eq!(code, 1);
    assert!(d["error"].as_str().unwrap().contains("expected key"), "{d}");
    // A changed label byte: the binding fails.
    let mut t = good.clone();
    let pos = t.windows("dprk".len()).position(|w| w == b"dprk").unwrap();
    t[pos] = b'D';
    let tf = e.root.join("t1.gsi");
    std::fs::write(&tf, &t).unwrap();
    let (code, d) = open(&tf, &e.kor, &e.jpn, "o3");
    assert_eq!(code, 1);
    assert!(d["error"].as_str().unwrap().contains("label"), "{d}");
    // A changed content byte: decryption fails.
    let mut t = good.clone();
    let last = t.len() - 5;
    t[last] ^= 1;
    let tf = e.root.join("t2.gsi");
    std::fs::write(&tf, &t).unwrap();
    let (code, d) = open(&tf, &e.kor, &e.jpn, "o4");
    assert_eq!(code, 1);
    assert!(d["error"].as_str().unwrap().contains("decryption"), "{d}");
    // Truncated.
    let tf = e.root.join("t3.gsi");
    std::fs::write(&tf, &good[..good.len() / 2]).unwrap();
    let (code, d) = open(&tf, &e.kor, &e.jpn, "o5");
    assert_eq!(code, 1);
    assert!(d["error"].as_str().unwrap().contains("well-formed"), "{d}");
    let (code, _) = json(&["item", "inspect", s(&tf)]);
    assert_eq!(code, 1);
    for o in ["o1", "o2", "o3", "o4", "o5"] {
        assert!(!e.root.join(o).exists(), "nothing written on refusal");
    }
}

#[test]
fn labels_round_trip_through_stanag_4774_xml() {
    let e = env("xml");
    assert_eq!(seal(&e, "極秘", "r.gsi").0, 0);
    let out = gsomia(&[
        "label",
        "export",
        "--format",
        "stanag4774",
        s(&e.root.join("r.gsi")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.contains("<slab:Classification>極秘</slab:Classification>"));
    std::fs::write(e.root.join("l.xml"), &xml).unwrap();
    let (code, d) = json(&["label", "import", s(&e.root.join("l.xml"))]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["label"]["level"], "極秘");
    assert_eq!(d["label"]["rel_to"], serde_json::json!(["KOR"]));
    let (_, i) = json(&["item", "inspect", s(&e.root.join("r.gsi"))]);
    assert_eq!(
        i["label"], d["label"],
        "export then import gives the sealed label back"
    );
    // An unknown level in the XML is refused against the profiles.
    std::fs::write(e.root.join("bad.xml"), xml.replace("極秘", "超極秘")).unwrap();
    let out = gsomia(&["label", "import", s(&e.root.join("bad.xml"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown level `超極秘`"));
}
