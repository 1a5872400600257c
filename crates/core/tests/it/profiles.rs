//! Bad profiles: file, line and what is wrong; nothing half-loaded.

use gsomia_core::Source;

use crate::common::{shipped_text, with_agreement};

fn first_error(text: String) -> gsomia_core::ProfileError {
    with_agreement(text)
        .expect_err("must be refused")
        .0
        .remove(0)
}

#[test]
fn an_unknown_level_names_the_line_and_the_known_levels() {
    let text =
        shipped_text("jp-kr-2016.toml").replace("levels.JPN = [\"秘\"]", "levels.JPN = [\"秘密\"]");
    let line = text.lines().position(|l| l.contains("\"秘密\"")).unwrap() + 1;
    let e = first_error(text);
    assert_eq!(e.source, "test.toml");
    assert_eq!(e.line, line);
    assert!(e.message.contains("unknown level `秘密`"), "{}", e.message);
    assert!(
        e.message.contains("極秘"),
        "lists known levels: {}",
        e.message
    );
}

#[test]
fn unknown_fields_and_bad_values_are_refused_with_positions() {
    let text = shipped_text("jp-kr-2016.toml").replace(
        "third_party = \"with_consent\"",
        "third_party = \"with_consent\"\ncolour = \"blue\"",
    );
    let e = first_error(text);
    assert!(e.message.contains("colour"), "{}", e.message);
    assert!(e.line > 0);

    let text = shipped_text("jp-kr-2016.toml").replace("kind = \"bilateral\"", "kind = \"treaty\"");
    let e = first_error(text);
    assert!(e.message.contains("treaty"), "{}", e.message);

    let text = shipped_text("jp-kr-2016.toml").replace(
        "at = \"2019-08-23T15:30:00+09:00\"",
        "at = \"2019-08-23T15:30:00\"",
    );
    let e = first_error(text);
    assert!(e.message.contains("no offset"), "{}", e.message);

    let text = shipped_text("jp-kr-2016.toml").replace("term = \"art 21(3)\"", "term = \"art 99\"");
    let e = first_error(text);
    assert!(e.message.contains("art 99"), "{}", e.message);
}

#[test]
fn a_notice_without_the_acting_party_is_refused() {
    let text = shipped_text("jp-kr-2016.toml").replacen(
        "kind = \"notice\"\nby = \"KOR\"",
        "kind = \"notice\"",
        1,
    );
    let e = first_error(text);
    assert!(e.message.contains("`by`"), "{}", e.message);
}

#[test]
fn a_broken_policy_reports_every_problem_and_builds_nothing() {
    let mut b = gsomia_core::shipped::builder();
    b.policy(Source {
        name: "bad.toml".into(),
        text: "party = \"jp\"\nname = \"x\"\nzone = \"Mars/Base\"\n[[level]]\nnative = \"A\"\nromanization = \"a\"\nenglish = \"A\"\nrank = 1\nclassified = true\n".into(),
    });
    let errors = b.build().expect_err("refused").0;
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("trigraph") && e.line == 1)
    );
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("Mars/Base") && e.line == 3)
    );
}

#[test]
fn toml_syntax_errors_carry_a_line() {
    let e = first_error("id = \"x\"\ntitle = \n".into());
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn profile_fuzz_corpus_replays() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/profile");
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        gsomia_core::fuzzing::agreement_profile(&std::fs::read(f.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 5);
}
