//! Replays the fuzz corpora (fuzz/corpus) through the fuzz entry points, so
//! CI runs every input the fuzzers kept, on stable Rust.

use std::path::PathBuf;

use gsomia_seal::fuzzing;
use gsomia_seal::item::{RecipientSecret, WireLabel, seal};
use gsomia_seal::{SecretKey, stanag};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn sealed_item_corpus_replays() {
    for input in corpus("sealed_item") {
        fuzzing::sealed_item(&input);
    }
}

#[test]
fn label_xml_corpus_replays() {
    for input in corpus("label_xml") {
        fuzzing::label_xml(&input);
    }
}

#[test]
fn peer_message_corpus_replays() {
    for input in corpus("peer_message") {
        fuzzing::peer_message(&input);
    }
}

/// Writes seeds that the fuzz keys can open: `cargo test -p gsomia-seal --test it -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes into fuzz/corpus; run by hand to refresh seeds"]
fn write_fuzz_seeds() {
    let label = WireLabel {
        policy: "KOR".into(),
        level: "군사II급비밀".into(),
        originator: "KOR".into(),
        created_at: (1_574_434_800, 0),
        topics: vec!["dprk.missile".into()],
        rel_to: Some(vec!["JPN".into()]),
        informative: vec![("Handling".into(), vec!["ORCON".into()])],
    };
    let item = seal(
        &label,
        b"seed content",
        "KOR",
        &SecretKey::from_seed(&[1; 32]),
        "JPN",
        &RecipientSecret::from_seed(&[2; 32]).public(),
        [3; 32],
    )
    .unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    std::fs::write(dir.join("sealed_item/seed-fuzz-keys.gsi"), item).unwrap();
    let session =
        gsomia_seal::item::Session::new(&RecipientSecret::from_seed(&[2; 32]).public(), [4; 32])
            .unwrap()
            .seal(
                &label,
                b"seed content",
                "KOR",
                &SecretKey::from_seed(&[1; 32]),
                "JPN",
                [5; 32],
            )
            .unwrap();
    std::fs::write(dir.join("sealed_item/seed-session.gsi"), session).unwrap();
    std::fs::write(dir.join("label_xml/seed-kor.xml"), stanag::export(&label)).unwrap();
    let key = SecretKey::from_seed(&[1; 32]);
    let consent = gsomia_seal::message::ConsentGrant {
        id: "kor-c-1".into(),
        originator: "KOR".into(),
        holder: "USA".into(),
        recipient: "JPN".into(),
        scope: gsomia_seal::message::Scope::Topics(vec!["dprk.missile".into()]),
        granted_at: (1_574_434_800, 0),
        expires_at: (1_606_057_200, 0),
    }
    .seal(&key);
    let envelope = gsomia_seal::transfer::Envelope {
        transfer: "usa-t-1".into(),
        sender: "USA".into(),
        recipient: "JPN".into(),
        agreement: "tisa-2014".into(),
        version: 1,
        sent_at: (1_574_434_800, 0),
        item: "kor-1".into(),
        sealed: b"sealed".to_vec(),
        consents: vec![consent.clone()],
    }
    .seal(&key);
    let event = gsomia_seal::message::AgreementEvent {
        id: "kor-e-1".into(),
        agreement: "jp-kr-2016".into(),
        kind: "notice".into(),
        at: (1_566_541_800, 0),
        by: "KOR".into(),
        written_diplomatic: true,
        summary: "notice of termination".into(),
    }
    .seal(&key);
    let revocation = gsomia_seal::message::ConsentRevocation {
        consent: "kor-c-1".into(),
        originator: "KOR".into(),
        revoked_at: (1_580_000_000, 0),
    }
    .seal(&key);
    for (name, bytes) in [
        ("seed-consent", consent),
        ("seed-envelope", envelope),
        ("seed-event", event),
        ("seed-revocation", revocation),
    ] {
        std::fs::write(dir.join("peer_message").join(name), bytes).unwrap();
    }
}
