//! An item's life at the holder: copies, destruction, derived documents
//! (rules 11–13), and the aggregation rule as a property.

use gsomia_core::holding::{
    self, CONTAINS, CopyLimit, HoldingRefusal, SourcePart, WitnessFault, decide_copy,
    decide_derived_release, decide_destruction, derived_label,
};
use gsomia_core::label::{Informative, aggregate};
use gsomia_core::{Consent, ConsentScope, ItemId, ItemLabels, Label, Reader};
use proptest::prelude::*;

use crate::common::{reg, t};

fn with(mut l: Label, tag: &str, value: &str) -> Label {
    l.informative.push(Informative {
        tag: tag.into(),
        values: vec![value.into()],
    });
    l
}

fn reader(reg: &gsomia_core::Registry, party: &str, clearance: &str, until: &str) -> Reader {
    let p = reg.party(party).unwrap();
    Reader {
        party: p,
        clearance: reg.level(p, clearance).unwrap(),
        clearance_until: t(until),
        need_to_know: reg.need_to_know(["dprk"]).unwrap(),
        contractor: None,
    }
}

#[test]
fn the_originators_marking_and_the_holders_policy_limit_copies() {
    let reg = reg();
    let at = t("2024-01-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let plain = reg
        .label("JPN", "極秘", &["dprk.missile"], None, at)
        .unwrap();
    assert_eq!(
        decide_copy(&reg, &ItemLabels::new(plain.clone()), jpn, 40, 10),
        Ok(())
    );
    let none = with(plain.clone(), holding::REPRODUCTION, "NO COPY");
    assert_eq!(
        decide_copy(&reg, &ItemLabels::new(none), jpn, 0, 1),
        Err(vec![HoldingRefusal::CopyForbidden])
    );
    let two = with(plain.clone(), holding::REPRODUCTION, "COPIES 2");
    assert_eq!(
        decide_copy(&reg, &ItemLabels::new(two.clone()), jpn, 1, 1),
        Ok(())
    );
    assert_eq!(
        decide_copy(&reg, &ItemLabels::new(two.clone()), jpn, 1, 2),
        Err(vec![HoldingRefusal::CopyLimit {
            limit: 2,
            made: 1,
            asked: 2,
            by_originator: true
        }])
    );
    // The strictest of two markings holds.
    let both = with(two, holding::REPRODUCTION, "COPIES 1");
    assert_eq!(holding::copy_limit(&both), Ok(Some(CopyLimit::AtMost(1))));
    // A marking that does not parse refuses (deny by default).
    let bad = with(plain, holding::REPRODUCTION, "a few");
    assert!(decide_copy(&reg, &ItemLabels::new(bad), jpn, 0, 1).is_err());
}

#[test]
fn a_policy_cap_on_copies_applies_to_the_level_the_item_is_held_at() {
    let mut b = gsomia_core::shipped::builder();
    let text = gsomia_core::shipped::POLICIES
        .iter()
        .find(|(n, _)| n.ends_with("JPN.toml"))
        .map(|(_, t)| {
            t.replace(
                "destruction_witnesses = 2\nrecord_days = 730",
                "destruction_witnesses = 2\nrecord_days = 730\nmax_copies = 3",
            )
        })
        .unwrap();
    b.policy(gsomia_core::Source {
        name: "JPN.toml".into(),
        text,
    });
    let reg = b.build().unwrap();
    let at = t("2024-01-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let l = reg
        .label("JPN", "極秘", &["dprk.missile"], None, at)
        .unwrap();
    assert_eq!(
        decide_copy(&reg, &ItemLabels::new(l.clone()), jpn, 2, 1),
        Ok(())
    );
    let r = decide_copy(&reg, &ItemLabels::new(l), jpn, 2, 2).unwrap_err();
    assert_eq!(r[0].kind(), "copy_limit");
    let text = reg
        .explain_holding(&r[0], &jiff::tz::TimeZone::UTC)
        .to_string();
    assert!(
        text.contains("this party's policy") && text.contains("rule 12"),
        "{text}"
    );
}

#[test]
fn destroying_a_secret_item_needs_two_witnesses_cleared_to_its_level() {
    let reg = reg();
    let at = t("2024-01-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let secret = ItemLabels::new(
        reg.label("JPN", "極秘", &["dprk.missile"], None, at)
            .unwrap(),
    );
    let ok = reader(&reg, "JPN", "極秘", "2030-01-01T00:00:00Z");
    let low = reader(&reg, "JPN", "秘", "2030-01-01T00:00:00Z");
    let ended = reader(&reg, "JPN", "極秘", "2020-01-01T00:00:00Z");
    let foreign = reader(&reg, "KOR", "군사II급비밀", "2030-01-01T00:00:00Z");
    let record = decide_destruction(&reg, &secret, jpn, &[ok, ok], at).unwrap();
    assert_eq!(record.witnesses_needed, 2);
    assert_eq!(record.keep_until, Some(t("2025-12-31T00:00:00Z")));
    let refused = decide_destruction(&reg, &secret, jpn, &[ok], at).unwrap_err();
    assert_eq!(
        refused,
        vec![HoldingRefusal::TooFewWitnesses {
            level: secret.original().level,
            needed: 2,
            qualified: 1
        }]
    );
    let refused =
        decide_destruction(&reg, &secret, jpn, &[ok, low, ended, foreign], at).unwrap_err();
    let faults: Vec<_> = refused
        .iter()
        .filter_map(|r| match r {
            HoldingRefusal::WitnessNotCleared { witness, why, .. } => Some((*witness, *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        faults,
        vec![
            (1, WitnessFault::Below),
            (2, WitnessFault::Expired),
            (3, WitnessFault::Foreign)
        ]
    );
    // CONFIDENTIAL needs no witness and no record.
    let conf = ItemLabels::new(reg.label("JPN", "秘", &["dprk.missile"], None, at).unwrap());
    let record = decide_destruction(&reg, &conf, jpn, &[], at).unwrap();
    assert_eq!((record.witnesses_needed, record.keep_until), (0, None));
}

#[test]
fn a_received_item_is_destroyed_under_the_policy_of_its_equivalent_level() {
    let reg = reg();
    let at = t("2024-01-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let kor_label = reg
        .label("KOR", "군사II급비밀", &["dprk.missile"], None, at)
        .unwrap();
    let mut labels = ItemLabels::new(kor_label.clone());
    labels.add_equivalent(gsomia_core::EquivalentLabel {
        label: Label {
            level: reg.level(jpn, "極秘").unwrap(),
            ..kor_label
        },
        agreement: None,
    });
    let r = decide_destruction(&reg, &labels, jpn, &[], at).unwrap_err();
    assert_eq!(r[0].kind(), "too_few_witnesses");
    // At a party with no label in its policy: refused, not guessed.
    let usa = reg.party("USA").unwrap();
    assert_eq!(
        decide_destruction(&reg, &labels, usa, &[], at),
        Err(vec![HoldingRefusal::UnknownReference])
    );
}

fn consent(reg: &gsomia_core::Registry, from: &str, item: &str, at: &str) -> Consent {
    Consent {
        originator: reg.party(from).unwrap(),
        holder: reg.party("JPN").unwrap(),
        recipient: reg.party("USA").unwrap(),
        scope: ConsentScope::Item(ItemId::new(item.to_string())),
        granted_at: t(at),
        expires_at: t("2030-01-01T00:00:00Z"),
        revoked_at: None,
    }
}

#[test]
fn a_derived_document_goes_to_a_third_party_only_with_every_originators_consent() {
    let reg = reg();
    let at = t("2024-06-01T00:00:00Z");
    let (jpn, kor, usa) = (
        reg.party("JPN").unwrap(),
        reg.party("KOR").unwrap(),
        reg.party("USA").unwrap(),
    );
    let k = reg
        .label("KOR", "군사II급비밀", &["dprk.missile"], None, at)
        .unwrap();
    let u = reg
        .label("USA", "SECRET", &["dprk.missile"], None, at)
        .unwrap();
    let own = reg
        .label("JPN", "極秘", &["dprk.missile"], None, at)
        .unwrap();
    let (ki, ui) = (
        ItemId::new("KOR-1".to_string()),
        ItemId::new("USA-1".to_string()),
    );
    let parts = [
        SourcePart {
            label: &k,
            item: &ki,
        },
        SourcePart {
            label: &u,
            item: &ui,
        },
    ];
    // To the USA: the USA's own part needs no consent; KOR's does.
    let d = decide_derived_release(&reg, &own, &parts, jpn, usa, at, &[]);
    assert!(d.own.is_release(), "{d:?}");
    assert_eq!(d.parts.len(), 1, "only KOR's part is decided: {d:?}");
    assert!(!d.is_release());
    let d = decide_derived_release(
        &reg,
        &own,
        &parts,
        jpn,
        usa,
        at,
        &[consent(&reg, "KOR", "KOR-1", "2024-05-01T00:00:00Z")],
    );
    assert!(d.is_release(), "{d:?}");
    // A consent for another item does not do.
    let d = decide_derived_release(
        &reg,
        &own,
        &parts,
        jpn,
        usa,
        at,
        &[consent(&reg, "KOR", "KOR-2", "2024-05-01T00:00:00Z")],
    );
    assert!(!d.is_release());
    // To KOR: KOR's part goes home (no consent); the USA's part needs the USA's.
    let d = decide_derived_release(&reg, &own, &parts, jpn, kor, at, &[]);
    assert_eq!(d.parts.len(), 1);
    assert!(!d.parts[0].1.is_release());
}

#[test]
fn a_derived_label_names_every_other_originator() {
    let reg = reg();
    let at = t("2024-06-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let (kor, usa) = (reg.party("KOR").unwrap(), reg.party("USA").unwrap());
    let own = reg.label("JPN", "秘", &["dprk.missile"], None, at).unwrap();
    let part = reg
        .label("JPN", "極秘", &["dprk.nuclear"], Some(&["JPN", "USA"]), at)
        .unwrap();
    let l = derived_label(&reg, jpn, &own, &[&part], &[kor, usa, jpn], at).unwrap();
    assert_eq!(reg.level_name(l.level), "極秘");
    assert_eq!(l.originator, jpn);
    assert_eq!(l.topics.iter().count(), 2);
    let contains = l.informative.iter().find(|i| i.tag == CONTAINS).unwrap();
    assert_eq!(contains.values, vec!["KOR".to_owned(), "USA".to_owned()]);
}

#[test]
fn holding_refusals_cite_rules_12_and_13() {
    let reg = reg();
    let at = t("2024-06-01T00:00:00Z");
    let jpn = reg.party("JPN").unwrap();
    let level = reg.level(jpn, "極秘").unwrap();
    let zone = jiff::tz::TimeZone::UTC;
    for (r, want) in [
        (HoldingRefusal::CopyForbidden, "rule 12"),
        (
            HoldingRefusal::Disposed {
                how: holding::Disposal::Destroyed,
                at,
            },
            "rule 13",
        ),
        (
            HoldingRefusal::TooFewWitnesses {
                level,
                needed: 2,
                qualified: 0,
            },
            "rule 13",
        ),
    ] {
        let text = reg.explain_holding(&r, &zone).to_string();
        assert!(text.contains(want), "{}: {text}", r.kind());
    }
}

fn arb_label(reg: &gsomia_core::Registry) -> impl Strategy<Value = Label> + use<> {
    let jpn = reg.party("JPN").unwrap();
    let levels: Vec<_> = ["秘", "極秘", "特定秘密"]
        .iter()
        .map(|n| reg.level(jpn, n).unwrap())
        .collect();
    let topics: Vec<_> = ["dprk.missile", "dprk.nuclear", "dprk"]
        .iter()
        .map(|n| reg.topic(n).unwrap())
        .collect();
    let parties: Vec<_> = ["JPN", "KOR", "USA"]
        .iter()
        .map(|n| reg.party(n).unwrap())
        .collect();
    (
        0..levels.len(),
        proptest::collection::vec(0..topics.len(), 1..3),
        proptest::option::of(proptest::collection::vec(0..parties.len(), 0..3)),
    )
        .prop_map(move |(l, ts, rel)| Label {
            level: levels[l],
            originator: jpn,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            topics: ts.iter().map(|i| topics[*i]).collect(),
            rel_to: rel.map(|r| r.iter().map(|i| parties[*i]).collect()),
            informative: Vec::new(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The aggregation rule: the result's level is at least every part's,
    /// equal to one of them; its topics are the union; a party is in its
    /// REL TO exactly when every marked part lists it; and the order of the
    /// parts changes nothing but which equal part lends its originator.
    #[test]
    fn aggregation_is_the_highest_level_the_union_and_the_intersection(
        labels in proptest::collection::vec(arb_label(&reg()), 1..6),
    ) {
        let reg = reg();
        let refs: Vec<&Label> = labels.iter().collect();
        let agg = aggregate(&refs, |l| reg.rank(l)).unwrap();
        prop_assert!(labels.iter().all(|l| reg.rank(agg.level) >= reg.rank(l.level)));
        prop_assert!(labels.iter().any(|l| l.level == agg.level));
        let union = labels.iter().fold(gsomia_core::TopicSet::default(), |a, l| a.union(&l.topics));
        prop_assert_eq!(agg.topics, union);
        for p in ["JPN", "KOR", "USA"] {
            let p = reg.party(p).unwrap();
            let all = labels.iter().filter_map(|l| l.rel_to).all(|r| r.contains(p));
            let marked = labels.iter().any(|l| l.rel_to.is_some());
            prop_assert_eq!(agg.releasable_to(p), all || !marked);
        }
        let mut rev = refs.clone();
        rev.reverse();
        let back = aggregate(&rev, |l| reg.rank(l)).unwrap();
        prop_assert_eq!((back.level, back.topics, back.rel_to), (agg.level, agg.topics, agg.rel_to));
        // A reader cleared for the aggregate may read every part's level.
        prop_assert!(labels.iter().all(|l| reg.rank(l.level) <= reg.rank(agg.level)));
    }
}
