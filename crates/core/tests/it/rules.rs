//! Every refusal cites the rule documented for its kind in docs/rules.md.

use std::collections::{BTreeMap, BTreeSet};

use gsomia_core::agreement::State;
use gsomia_core::consent::ConsentMismatch;
use gsomia_core::{AccessDecision, AccessRefusal, Citation, Refusal};

use crate::common::{reg, t};

/// The table "Which rule each refusal cites": kind → the system citations.
fn documented() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md"))
        .expect("docs/rules.md");
    let mut rules = BTreeSet::new();
    let mut kinds = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(first) = cells.get(1) else { continue };
        if let Some(n) = first.split('–').next().and_then(|n| n.parse::<u8>().ok()) {
            rules.insert(format!("rule {n}"));
            if let Some((a, b)) = first.split_once('–') {
                let (a, b): (u8, u8) = (a.parse().unwrap(), b.parse().unwrap());
                rules.extend((a..=b).map(|n| format!("rule {n}")));
            }
        }
        if let Some(kind) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
            let cites = cells.get(3).copied().unwrap_or_default();
            let set: BTreeSet<String> = cites
                .split(',')
                .map(str::trim)
                .filter(|c| c.starts_with("rule ") || *c == "deny by default")
                .map(str::to_owned)
                .collect();
            kinds.insert(kind.to_owned(), set);
        }
    }
    (kinds, rules)
}

fn system(cites: &[Citation]) -> BTreeSet<String> {
    cites
        .iter()
        .filter(|c| !matches!(c, Citation::Article { .. }))
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_refusal_cites_the_rule_documented_for_its_kind() {
    let reg = reg();
    let (kinds, rules) = documented();
    let jk = reg.agreement_ref("jp-kr-2016").unwrap();
    let tisa = reg.agreement_ref("tisa-2014").unwrap();
    let (jpn, kor) = (reg.party("JPN").unwrap(), reg.party("KOR").unwrap());
    let level = reg.level(kor, "군사II급비밀").unwrap();
    let topics = reg.need_to_know(["dprk"]).unwrap();
    let at = t("2020-01-01T00:00:00+09:00");
    let refusals = [
        Refusal::UnknownReference,
        Refusal::NotOriginatorLabel,
        Refusal::Unclassified { level },
        Refusal::SameParty,
        Refusal::NotReleasable { recipient: jpn },
        Refusal::NoAgreement { from: kor, to: jpn },
        Refusal::NotInForce {
            agreement: jk,
            state: State::NotYetInForce,
        },
        Refusal::NotInForce {
            agreement: jk,
            state: State::Terminated,
        },
        Refusal::TopicsOutOfScope {
            agreement: jk,
            topics,
        },
        Refusal::LevelNotCovered {
            agreement: jk,
            level,
        },
        Refusal::NeverReceived {
            originator: kor,
            holder: jpn,
        },
        Refusal::ThirdPartyForbidden { agreement: jk },
        Refusal::NoConsent {
            received_under: jk,
            arrangement: None,
        },
        Refusal::NoConsent {
            received_under: jk,
            arrangement: Some(tisa),
        },
        Refusal::ConsentMismatch {
            consent: 0,
            why: ConsentMismatch::Expired { at },
        },
    ];
    let mut seen = BTreeSet::new();
    for r in refusals {
        let kind = r.kind();
        seen.insert(kind);
        let reason = reg.explain_refusal(&r, at);
        let want = kinds
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not in docs/rules.md"));
        assert_eq!(&system(&reason.cites), want, "{kind}: {reason}");
        for c in &system(&reason.cites) {
            assert!(
                c == "deny by default" || rules.contains(c),
                "{kind} cites {c}, not in the rules table"
            );
        }
    }
    assert_eq!(
        seen,
        Refusal::KINDS.into_iter().collect(),
        "every release refusal walked"
    );

    let zone = jiff::tz::TimeZone::UTC;
    let access = [
        AccessRefusal::UnknownReference,
        AccessRefusal::NoLabelInPolicy { party: jpn },
        AccessRefusal::ForeignClearance,
        AccessRefusal::ClearanceExpired { until: at },
        AccessRefusal::BelowLevel {
            clearance: level,
            level,
        },
        AccessRefusal::NoNeedToKnow { topics },
        AccessRefusal::NotReleasableToParty { party: jpn },
    ];
    use gsomia_core::contractor::ContractorRefusal as C;
    let contractor = [
        C::RecordsUnverified,
        C::NoFacilityClearance,
        C::FacilityBelowLevel {
            clearance: level,
            level,
        },
        C::FacilityClearanceExpired { until: at },
        C::NoResponsiblePerson,
        C::NeverInspected,
        C::InspectionFailed { at },
        C::InspectionOverdue {
            last: at,
            every_days: 365,
        },
        C::NotBriefed,
        C::BriefingOverdue {
            last: at,
            every_days: 365,
        },
    ];
    let access: Vec<AccessRefusal> = access
        .into_iter()
        .chain(contractor.into_iter().map(AccessRefusal::Contractor))
        .collect();
    let mut seen = BTreeSet::new();
    for r in access {
        let kind = r.kind();
        seen.insert(kind);
        let reasons = reg.explain_access(&AccessDecision::Deny(vec![r]), &zone);
        let want = kinds
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not in docs/rules.md"));
        assert_eq!(&system(&reasons[0].cites), want, "{kind}: {}", reasons[0]);
    }
    assert_eq!(
        seen,
        AccessRefusal::KINDS.into_iter().collect(),
        "every access refusal walked"
    );

    use gsomia_core::holding::{Disposal, HoldingRefusal, WitnessFault};
    let jl = reg.level(jpn, "極秘").unwrap();
    let holding = [
        HoldingRefusal::UnknownReference,
        HoldingRefusal::Disposed {
            how: Disposal::Returned,
            at,
        },
        HoldingRefusal::CopyForbidden,
        HoldingRefusal::CopyLimit {
            limit: 1,
            made: 1,
            asked: 1,
            by_originator: false,
        },
        HoldingRefusal::TooFewWitnesses {
            level: jl,
            needed: 2,
            qualified: 1,
        },
        HoldingRefusal::WitnessNotCleared {
            witness: 0,
            needs: jl,
            why: WitnessFault::Expired,
        },
    ];
    let mut seen = BTreeSet::new();
    for r in holding {
        let kind = r.kind();
        seen.insert(kind);
        let reason = reg.explain_holding(&r, &zone);
        let want = kinds
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not in docs/rules.md"));
        assert_eq!(&system(&reason.cites), want, "{kind}: {reason}");
    }
    assert_eq!(
        seen,
        HoldingRefusal::KINDS.into_iter().collect(),
        "every holding refusal walked"
    );

    use gsomia_core::reclassification::ReclassRefusal;
    let reclass = [
        ReclassRefusal::NotOriginator {
            originator: jpn,
            by: jpn,
        },
        ReclassRefusal::NotClassified { level: jl },
        ReclassRefusal::ForeignLevel { level: jl },
        ReclassRefusal::Unchanged { level: jl },
    ];
    let mut seen = BTreeSet::new();
    for r in reclass {
        let kind = r.kind();
        seen.insert(kind);
        let reason = reg.explain_reclassification(&r);
        let want = kinds
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not in docs/rules.md"));
        assert_eq!(&system(&reason.cites), want, "{kind}: {reason}");
    }
    assert_eq!(
        seen,
        ReclassRefusal::KINDS.into_iter().collect(),
        "every reclassification refusal walked"
    );
}

#[test]
fn a_return_cites_survival_and_rule_5_and_no_agreement_cites_no_termination_rule() {
    let reg = reg();
    let kor = reg.party("KOR").unwrap();
    let jpn = reg.party("JPN").unwrap();
    let at = t("2020-01-01T00:00:00+09:00");
    let r = reg.explain_refusal(&Refusal::NoAgreement { from: kor, to: jpn }, at);
    assert!(!r.cites.contains(&Citation::System(5)), "{r}");
    let release = gsomia_core::Release {
        agreement: reg.agreement_ref("jp-kr-2016").unwrap(),
        version: 1,
        recipient_level: reg.level(kor, "군사II급비밀").unwrap(),
        route: gsomia_core::Route::Return,
    };
    let reasons = reg.explain_release(&release, at);
    let text = reasons[0].to_string();
    assert!(text.contains("rule 5") && text.contains("art 21"), "{text}");
    assert!(!text.contains("rule 13"), "{text}");
}

#[test]
fn an_expired_or_revoked_consent_says_when() {
    let reg = reg();
    let at = t("2020-01-01T00:00:00+09:00");
    for (why, word) in [
        (
            ConsentMismatch::Expired { at },
            "expired at 2019-12-31T15:00:00+00:00",
        ),
        (
            ConsentMismatch::Revoked { at },
            "revoked at 2019-12-31T15:00:00+00:00",
        ),
    ] {
        let r = reg.explain_refusal(&Refusal::ConsentMismatch { consent: 0, why }, at);
        assert!(r.text.contains(word), "{r}");
    }
}
