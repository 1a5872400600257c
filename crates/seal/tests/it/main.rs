//! Sealed items: round trips, and every way of tampering refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod corpus;

use gsomia_seal::item::{OpenError, RecipientSecret, WireLabel, inspect, open, seal};
use gsomia_seal::{Context, SecretKey};
use proptest::prelude::*;

fn label(level: &str) -> WireLabel {
    WireLabel {
        policy: "JPN".into(),
        level: level.into(),
        originator: "JPN".into(),
        created_at: (1_700_000_000, 0),
        topics: vec!["dprk.missile".into()],
        rel_to: Some(vec!["KOR".into()]),
        informative: vec![],
    }
}

struct Fixture {
    jpn: SecretKey,
    kor: RecipientSecret,
}

fn fixture() -> Fixture {
    Fixture {
        jpn: SecretKey::from_seed(&[1; 32]),
        kor: RecipientSecret::from_seed(&[2; 32]),
    }
}

fn sealed(f: &Fixture, content: &[u8], level: &str) -> Vec<u8> {
    seal(
        &label(level),
        content,
        "JPN",
        &f.jpn,
        "KOR",
        &f.kor.public(),
        [9; 32],
    )
    .unwrap()
}

#[test]
fn sealed_items_open_for_the_recipient_only() {
    let f = fixture();
    let content = b"launch at 06:30 KST, apogee 550 km".repeat(30);
    let item = sealed(&f, &content, "極秘");
    let i = inspect(&item).unwrap();
    assert_eq!(i.header.label, label("極秘"));
    assert_eq!(i.header.content_len, content.len() as u64);
    let (h, out) = open(&item, &f.kor, Some(("JPN", &f.jpn.public()))).unwrap();
    assert_eq!(out, content);
    assert_eq!(h.recipient, "KOR");
    // Another recipient key, another sender key.
    let usa = RecipientSecret::from_seed(&[3; 32]);
    assert_eq!(
        open(&item, &usa, None).unwrap_err(),
        OpenError::Recipient("KOR".into())
    );
    let other = SecretKey::from_seed(&[4; 32]);
    assert!(matches!(
        open(&item, &f.kor, Some(("JPN", &other.public()))).unwrap_err(),
        OpenError::Sender { .. }
    ));
    // The same inputs and entropy seal identically (no hidden randomness).
    assert_eq!(item, sealed(&f, &content, "極秘"));
}

#[test]
fn truncation_and_extension_are_refused() {
    let f = fixture();
    let item = sealed(&f, b"x", "秘");
    for cut in [0, 1, 10, item.len() / 2, item.len() - 1] {
        assert!(
            matches!(
                open(&item[..cut], &f.kor, None).unwrap_err(),
                OpenError::Format(_)
            ),
            "cut {cut}"
        );
    }
    let mut longer = item.clone();
    longer.push(0);
    assert!(matches!(
        open(&longer, &f.kor, None).unwrap_err(),
        OpenError::Format(_)
    ));
}

#[test]
fn a_label_moved_onto_another_items_content_is_refused() {
    let f = fixture();
    let a = sealed(&f, b"first item", "秘");
    let b = sealed(&f, b"second item, longer", "極秘");
    // Layout: tag, header (len-prefixed), 64-byte binding, enc, ct.
    let split = |x: &[u8]| {
        let tag_len = 4 + u32::from_be_bytes(x[0..4].try_into().unwrap()) as usize;
        let h_len = u32::from_be_bytes(x[tag_len..tag_len + 4].try_into().unwrap()) as usize;
        tag_len + 4 + h_len + 64
    };
    let (sa, sb) = (split(&a), split(&b));
    let mut swapped = a[..sa].to_vec();
    swapped.extend_from_slice(&b[sb..]);
    assert_eq!(
        open(&swapped, &f.kor, None).unwrap_err(),
        OpenError::Decrypt
    );
}

#[test]
fn a_signature_from_another_context_never_binds_an_item() {
    let f = fixture();
    let item = sealed(&f, b"x", "秘");
    let i = inspect(&item).unwrap();
    // Re-sign the same header bytes as a consent: the binding must not verify.
    let tag_len = 4 + u32::from_be_bytes(item[0..4].try_into().unwrap()) as usize;
    let h_len = u32::from_be_bytes(item[tag_len..tag_len + 4].try_into().unwrap()) as usize;
    let header = &item[tag_len + 4..tag_len + 4 + h_len];
    let wrong = f.jpn.sign(Context::Consent, header);
    let mut forged = item.clone();
    forged[tag_len + 4 + h_len..tag_len + 4 + h_len + 64].copy_from_slice(&wrong.0);
    assert_eq!(inspect(&forged).unwrap_err(), OpenError::Signature);
    assert_ne!(wrong, i.binding);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any single-byte change anywhere in a sealed item is refused.
    #[test]
    fn every_single_byte_change_is_refused(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let f = fixture();
        let mut item = sealed(&f, &[7u8; 1024], "極秘");
        let p = pos.index(item.len());
        item[p] ^= flip;
        prop_assert!(open(&item, &f.kor, Some(("JPN", &f.jpn.public()))).is_err(), "byte {} accepted", p);
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        prop_assert!(open(&bytes, &f.kor, None).is_err());
    }
}

#[test]
fn every_byte_of_the_header_and_signature_is_covered() {
    // Exhaustive over the first 600 bytes (tag, header, binding, start of enc).
    let f = fixture();
    let item = sealed(&f, b"abc", "秘");
    for p in 0..600.min(item.len()) {
        let mut t = item.clone();
        t[p] ^= 0x01;
        assert!(
            open(&t, &f.kor, Some(("JPN", &f.jpn.public()))).is_err(),
            "byte {p}"
        );
    }
}

/// Known answer: the whole sealed item is a function of its inputs and the
/// entropy given; any change to the encoding, the suite or the binding
/// changes this digest.
#[test]
fn sealed_item_known_answer() {
    use sha2::Digest as _;
    let f = fixture();
    let item = sealed(&f, b"known answer", "秘");
    let digest: String = sha2::Sha256::digest(&item)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(item.len(), KAT_LEN, "length changed");
    assert_eq!(digest, KAT_SHA256, "encoding changed");
}

const KAT_LEN: usize = 1489;
const KAT_SHA256: &str = "e4954a29965f28e8a3a09cfa28eec2c8bb8b3a7bff36f30dc294c051261d1910";

#[test]
fn session_sealed_items_open_alone_or_with_a_kept_secret_and_refuse_tampering() {
    use gsomia_seal::item::{Session, open_with, session_secret};
    let f = fixture();
    let session = Session::new(&f.kor.public(), [5; 32]).unwrap();
    let a = session
        .seal(&label("極秘"), b"first", "JPN", &f.jpn, "KOR", [1; 32])
        .unwrap();
    let b = session
        .seal(&label("秘"), b"second", "JPN", &f.jpn, "KOR", [2; 32])
        .unwrap();
    // Each opens on its own with the recipient key.
    let (h, c) = open(&a, &f.kor, Some(("JPN", &f.jpn.public()))).unwrap();
    assert_eq!(c, b"first");
    assert_eq!(h.salt, Some([1; 32]));
    // With the session's secret kept, no decapsulation: the closure is the only source.
    assert!(
        session_secret(&[], &f.kor).is_err(),
        "an empty encapsulated key is refused"
    );
    let mut kept = None;
    let mut decaps = 0;
    for (bytes, want) in [(&a, &b"first"[..]), (&b, &b"second"[..])] {
        let (_, c) = open_with(bytes, &f.kor, None, &mut |enc| {
            if let Some(s) = kept {
                return Ok(s);
            }
            decaps += 1;
            let s = session_secret(enc, &f.kor)?;
            kept = Some(s);
            Ok(s)
        })
        .unwrap();
        assert_eq!(c, want);
    }
    assert_eq!(decaps, 1, "one decapsulation for the whole session");
    // A wrong secret fails to decrypt; another recipient is refused.
    assert_eq!(
        open_with(&a, &f.kor, None, &mut |_| Ok([9; 32])).unwrap_err(),
        OpenError::Decrypt
    );
    let other = RecipientSecret::from_seed(&[3; 32]);
    assert!(matches!(
        open(&a, &other, None),
        Err(OpenError::Recipient(_))
    ));
    // Every byte is covered by the signature, the AEAD or the parser.
    for i in 0..a.len() {
        let mut t = a.clone();
        t[i] ^= 0x01;
        assert!(open(&t, &f.kor, None).is_err(), "byte {i}");
    }
    // The same salt twice in one session gives the same key: callers draw fresh salts.
    assert_ne!(a, b);
}

#[test]
fn a_known_binding_skips_only_its_own_check_and_every_changed_byte_is_still_refused() {
    use gsomia_seal::item::{Session, binding_id, open_known, session_secret};
    let f = fixture();
    let session = Session::new(&f.kor.public(), [5; 32]).unwrap();
    let a = session
        .seal(&label("極秘"), b"first", "JPN", &f.jpn, "KOR", [1; 32])
        .unwrap();
    let id = binding_id(&a).unwrap();
    let secrets = &mut |enc: &[u8]| session_secret(enc, &f.kor);
    let nothing_known = |_: &[u8; 32], _: Option<&[u8; 32]>| false;
    let (_, c, opened_id) = open_known(&a, &f.kor, None, secrets, &nothing_known).unwrap();
    assert_eq!(c, b"first");
    assert_eq!(opened_id, id, "the id handed back is the binding's");
    // With this binding known, every single changed byte is still refused:
    // a changed header or signature is another binding (checked again), a
    // changed ciphertext fails the AEAD.
    let this_known = |k: &[u8; 32], _: Option<&[u8; 32]>| *k == id;
    let every_changed_byte_refused = |item: &[u8], known: &gsomia_seal::item::KnownBindings<'_>| {
        let secrets = &mut |enc: &[u8]| session_secret(enc, &f.kor);
        for i in 0..item.len() {
            let mut t = item.to_vec();
            t[i] ^= 0x01;
            assert!(
                open_known(&t, &f.kor, None, secrets, known).is_err(),
                "byte {i}"
            );
        }
    };
    every_changed_byte_refused(&a, &this_known);
    // A session vouched for (one the caller began to its own key): its
    // items open without the signature check, and every changed byte is
    // still refused (the header and binding are the AEAD's associated data).
    let own = Session::new(&f.kor.public(), [6; 32]).unwrap();
    let b = own
        .seal(&label("極秘"), b"second", "JPN", &f.jpn, "KOR", [2; 32])
        .unwrap();
    let session_vouched = |_: &[u8; 32], s: Option<&[u8; 32]>| s == Some(&own.id());
    let (_, c, _) = open_known(&b, &f.kor, None, secrets, &session_vouched).unwrap();
    assert_eq!(c, b"second");
    every_changed_byte_refused(&b, &session_vouched);
    // A known sender is still checked on a known binding.
    let other = SecretKey::from_seed(&[7; 32]);
    assert!(matches!(
        open_known(
            &a,
            &f.kor,
            Some(("JPN", &other.public())),
            secrets,
            &this_known
        ),
        Err(OpenError::Sender { .. })
    ));
}
