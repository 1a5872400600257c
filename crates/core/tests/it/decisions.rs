//! Release and access decisions on the shipped profiles, one allow/deny pair
//! per relation.

use gsomia_core::decision::{AccessRefusal, Refusal};
use gsomia_core::{
    AccessDecision, Consent, ConsentScope, Decision, ItemId, ItemLabels, Label, Reader, Registry,
    ReleaseRequest, Route, State, decide_access, decide_release,
};
use jiff::Timestamp;

use crate::common::{reg, shipped_text, t, with_agreement};

fn release(
    reg: &Registry,
    label: &Label,
    holder: &str,
    to: &str,
    at: &str,
    consents: &[Consent],
) -> Decision {
    decide_release(
        reg,
        &ReleaseRequest {
            label,
            item: None,
            holder: reg.party(holder).unwrap(),
            recipient: reg.party(to).unwrap(),
            at: t(at),
            consents,
        },
    )
}

fn kor_secret(reg: &Registry) -> Label {
    reg.label(
        "KOR",
        "군사II급비밀",
        &["dprk.missile"],
        None,
        t("2017-05-14T06:00:00+09:00"),
    )
    .unwrap()
}

#[test]
fn kor_to_jpn_is_released_under_jp_kr_2016_with_the_equivalent_level() {
    let reg = reg();
    let label = kor_secret(&reg);
    let Decision::Release(r) =
        release(&reg, &label, "KOR", "JPN", "2017-05-14T07:00:00+09:00", &[])
    else {
        panic!("expected release");
    };
    assert_eq!(reg.agreement_id(r.agreement), "jp-kr-2016");
    assert_eq!(r.route, Route::Direct);
    assert_eq!(reg.level_name(r.recipient_level), "極秘");
    let reasons = reg.explain_release(&r, t("2017-05-14T07:00:00+09:00"));
    assert!(
        reasons
            .iter()
            .any(|x| x.to_string().contains("jp-kr-2016 art 4"))
    );
}

#[test]
fn before_entry_into_force_release_is_withheld_with_the_rule() {
    let reg = reg();
    let label = kor_secret(&reg);
    let d = release(&reg, &label, "KOR", "JPN", "2016-11-22T23:59:59+09:00", &[]);
    let Decision::Withhold(rs) = &d else {
        panic!("{d:?}")
    };
    assert!(matches!(
        rs[0],
        Refusal::NotInForce {
            state: State::NotYetInForce,
            ..
        }
    ));
    let text = reg.explain_decision(&d, t("2016-11-22T23:59:59+09:00"))[0].to_string();
    assert!(text.contains("jp-kr-2016 art 21(1)"), "{text}");
}

#[test]
fn after_termination_release_is_withheld_and_cites_survival() {
    let text = shipped_text("jp-kr-2016.toml");
    let start = text.find("[[event]]\nat = \"2019-11-22T18:00").unwrap();
    let end = text[start + 1..].find("[[event]]").unwrap() + start + 1;
    let reg = with_agreement(format!("{}{}", &text[..start], &text[end..])).unwrap();
    let label = kor_secret(&reg);
    assert!(
        release(
            &reg,
            &label,
            "KOR",
            "JPN",
            "2019-11-22T23:59:59.999999999+09:00",
            &[]
        )
        .is_release()
    );
    let d = release(&reg, &label, "KOR", "JPN", "2019-11-23T00:00:00+09:00", &[]);
    assert!(!d.is_release());
    let reasons: Vec<String> = reg
        .explain_decision(&d, t("2019-11-23T00:00:00+09:00"))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        reasons[0].contains("art 21(3)") && reasons[0].contains("art 21(4)"),
        "{reasons:?}"
    );
    // Protection survives: a reader at JPN still reads what arrived before.
    let mut labels = ItemLabels::new(label.clone());
    labels.add_equivalent(
        reg.mark_received(&label, reg.party("JPN").unwrap(), None, None)
            .unwrap(),
    );
    let reader = Reader {
        party: reg.party("JPN").unwrap(),
        clearance: reg.level(reg.party("JPN").unwrap(), "極秘").unwrap(),
        clearance_until: t("2030-01-01T00:00:00+09:00"),
        need_to_know: reg.need_to_know(["dprk"]).unwrap(),
        contractor: None,
    };
    assert!(decide_access(&reg, &reader, &labels, t("2020-01-01T00:00:00+09:00")).is_allow());
}

#[test]
fn top_secret_and_restricted_grades_do_not_cross_between_japan_and_korea() {
    let reg = reg();
    for (party, level, to) in [
        ("JPN", "機密", "KOR"),
        ("KOR", "군사I급비밀", "JPN"),
        ("KOR", "대외비", "JPN"),
    ] {
        let label = reg
            .label(
                party,
                level,
                &["dprk.missile"],
                None,
                t("2018-01-01T00:00:00+09:00"),
            )
            .unwrap();
        let d = release(&reg, &label, party, to, "2018-01-01T00:00:00+09:00", &[]);
        let Decision::Withhold(rs) = d else {
            panic!("{level} released")
        };
        assert!(
            matches!(rs[0], Refusal::LevelNotCovered { .. }),
            "{level}: {rs:?}"
        );
    }
    // But TOP SECRET does cross to the US under the US–Japan agreement.
    let label = reg
        .label(
            "JPN",
            "機密",
            &["dprk.missile"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    assert!(release(&reg, &label, "JPN", "USA", "2018-01-01T00:00:00+09:00", &[]).is_release());
    let unclassified = reg
        .label(
            "JPN",
            "区分なし",
            &["dprk.missile"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    let d = release(
        &reg,
        &unclassified,
        "JPN",
        "KOR",
        "2018-01-01T00:00:00+09:00",
        &[],
    );
    assert_eq!(
        d,
        Decision::Withhold(vec![Refusal::Unclassified {
            level: unclassified.level
        }])
    );
}

#[test]
fn rel_to_must_include_the_recipient() {
    let reg = reg();
    let at = t("2018-01-01T00:00:00+09:00");
    let usa_only = reg
        .label("KOR", "군사II급비밀", &["dprk.missile"], Some(&["USA"]), at)
        .unwrap();
    assert!(
        !release(
            &reg,
            &usa_only,
            "KOR",
            "JPN",
            "2018-01-01T00:00:00+09:00",
            &[]
        )
        .is_release()
    );
    let jpn = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            Some(&["JPN", "USA"]),
            at,
        )
        .unwrap();
    assert!(release(&reg, &jpn, "KOR", "JPN", "2018-01-01T00:00:00+09:00", &[]).is_release());
}

#[test]
fn topics_outside_the_scope_are_withheld() {
    let reg = reg();
    let label = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["warning.missile"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    let d = release(&reg, &label, "KOR", "JPN", "2018-01-01T00:00:00+09:00", &[]);
    let Decision::Withhold(rs) = d else { panic!() };
    assert!(matches!(rs[0], Refusal::TopicsOutOfScope { .. }));
}

fn consent(
    reg: &Registry,
    holder: &str,
    to: &str,
    scope: ConsentScope,
    from: &str,
    until: &str,
) -> Consent {
    Consent {
        originator: reg.party("KOR").unwrap(),
        holder: reg.party(holder).unwrap(),
        recipient: reg.party(to).unwrap(),
        scope,
        granted_at: t(from),
        expires_at: t(until),
        revoked_at: None,
    }
}

#[test]
fn the_hub_relays_only_with_the_originators_consent() {
    let reg = reg();
    let label = kor_secret(&reg);
    let at = "2018-03-01T00:00:00+09:00";
    let d = release(&reg, &label, "USA", "JPN", at, &[]);
    let Decision::Withhold(rs) = &d else {
        panic!("{d:?}")
    };
    assert!(
        rs.iter().any(|r| matches!(
            r,
            Refusal::NoConsent {
                arrangement: Some(_),
                ..
            }
        )),
        "{rs:?}"
    );
    let text: Vec<String> = reg
        .explain_decision(&d, t(at))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        text.iter()
            .any(|s| s.contains("tisa-2014 hub") && s.contains("rule 16")),
        "{text:?}"
    );

    let topics = reg.need_to_know(["dprk.missile"]).unwrap();
    let good = consent(
        &reg,
        "USA",
        "JPN",
        ConsentScope::Topics(topics),
        "2018-01-01T00:00:00+09:00",
        "2019-01-01T00:00:00+09:00",
    );
    let Decision::Release(r) = release(&reg, &label, "USA", "JPN", at, std::slice::from_ref(&good))
    else {
        panic!("expected release");
    };
    assert!(matches!(r.route, Route::HubRelay { .. }));
    assert_eq!(reg.agreement_id(r.agreement), "us-jp-2007");
    assert_eq!(reg.level_name(r.recipient_level), "極秘");

    // Expired, revoked, for another recipient, for another item: all refused.
    let expired = consent(
        &reg,
        "USA",
        "JPN",
        ConsentScope::Topics(topics),
        "2017-01-01T00:00:00+09:00",
        "2018-03-01T00:00:00+09:00",
    );
    let mut revoked = good.clone();
    revoked.revoked_at = Some(t("2018-02-01T00:00:00+09:00"));
    let other = consent(
        &reg,
        "USA",
        "KOR",
        ConsentScope::Topics(topics),
        "2018-01-01T00:00:00+09:00",
        "2019-01-01T00:00:00+09:00",
    );
    let item = consent(
        &reg,
        "USA",
        "JPN",
        ConsentScope::Item(ItemId::new("item-1")),
        "2018-01-01T00:00:00+09:00",
        "2019-01-01T00:00:00+09:00",
    );
    for c in [expired, revoked, other, item.clone()] {
        assert!(
            !release(&reg, &label, "USA", "JPN", at, std::slice::from_ref(&c)).is_release(),
            "{c:?}"
        );
    }
    // The item-scoped consent works for that item only.
    let req = ReleaseRequest {
        label: &label,
        item: Some(&ItemId::new("item-1")),
        holder: reg.party("USA").unwrap(),
        recipient: reg.party("JPN").unwrap(),
        at: t(at),
        consents: std::slice::from_ref(&item),
    };
    assert!(decide_release(&reg, &req).is_release());
}

#[test]
fn an_onward_release_by_a_non_hub_needs_consent_too() {
    let reg = reg();
    let label = reg
        .label(
            "JPN",
            "極秘",
            &["defence.technology"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    // KOR holds a Japanese item and wants to pass it to the USA.
    let d = release(&reg, &label, "KOR", "USA", "2018-06-01T00:00:00+09:00", &[]);
    let Decision::Withhold(rs) = d else { panic!() };
    assert!(rs.iter().any(|r| matches!(
        r,
        Refusal::NoConsent {
            arrangement: None,
            ..
        }
    )));
    // Returning it to Japan is always possible.
    let Decision::Release(r) =
        release(&reg, &label, "KOR", "JPN", "2018-06-01T00:00:00+09:00", &[])
    else {
        panic!()
    };
    assert_eq!(r.route, Route::Return);
}

#[test]
fn a_relay_outside_the_arrangement_is_not_called_a_hub_relay() {
    let reg = reg();
    // Before TISA took effect the US could still pass on with consent, under
    // the bilateral agreements, but not as a TISA relay.
    let label = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            None,
            t("2013-01-01T00:00:00+09:00"),
        )
        .unwrap();
    let topics = reg.need_to_know(["dprk"]).unwrap();
    let c = consent(
        &reg,
        "USA",
        "JPN",
        ConsentScope::Topics(topics),
        "2013-01-01T00:00:00+09:00",
        "2016-01-01T00:00:00+09:00",
    );
    let Decision::Release(r) = release(
        &reg,
        &label,
        "USA",
        "JPN",
        "2014-06-01T00:00:00+09:00",
        std::slice::from_ref(&c),
    ) else {
        panic!()
    };
    assert!(matches!(r.route, Route::Onward { .. }));
    let Decision::Release(r) = release(
        &reg,
        &label,
        "USA",
        "JPN",
        "2015-06-01T00:00:00+09:00",
        &[c],
    ) else {
        panic!()
    };
    assert!(matches!(r.route, Route::HubRelay { .. }));
}

fn reader(reg: &Registry, party: &str, clearance: &str, until: Timestamp, ntk: &[&str]) -> Reader {
    let p = reg.party(party).unwrap();
    Reader {
        party: p,
        clearance: reg.level(p, clearance).unwrap(),
        clearance_until: until,
        need_to_know: reg.need_to_know(ntk.iter().copied()).unwrap(),
        contractor: None,
    }
}

#[test]
fn access_needs_clearance_at_or_above_the_equivalent_level_and_need_to_know() {
    let reg = reg();
    let label = reg
        .label(
            "JPN",
            "秘",
            &["dprk.missile"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    let mut labels = ItemLabels::new(label.clone());
    labels.add_equivalent(
        reg.mark_received(&label, reg.party("KOR").unwrap(), None, None)
            .unwrap(),
    );
    assert_eq!(
        reg.level_name(labels.in_policy(reg.party("KOR").unwrap()).unwrap().level),
        "군사III급비밀"
    );
    assert_eq!(labels.original(), &label, "the original label is unchanged");
    let at = t("2019-01-01T00:00:00+09:00");
    let until = t("2027-01-02T00:00:00+09:00");

    let ok = reader(&reg, "KOR", "군사II급비밀", until, &["dprk.missile"]);
    assert!(decide_access(&reg, &ok, &labels, at).is_allow());
    let low = reader(&reg, "KOR", "대외비", until, &["dprk.missile"]);
    assert!(
        matches!(decide_access(&reg, &low, &labels, at), AccessDecision::Deny(r) if matches!(r[0], AccessRefusal::BelowLevel { .. }))
    );
    let no_ntk = reader(&reg, "KOR", "군사I급비밀", until, &["dprk.nuclear"]);
    assert!(
        matches!(decide_access(&reg, &no_ntk, &labels, at), AccessDecision::Deny(r) if matches!(r[0], AccessRefusal::NoNeedToKnow { .. }))
    );
    let expired = reader(&reg, "KOR", "군사II급비밀", at, &["dprk.missile"]);
    assert!(
        matches!(decide_access(&reg, &expired, &labels, at), AccessDecision::Deny(r) if matches!(r[0], AccessRefusal::ClearanceExpired { .. }))
    );
    let usa = reader(&reg, "USA", "TOP SECRET", until, &["dprk"]);
    assert!(
        matches!(decide_access(&reg, &usa, &labels, at), AccessDecision::Deny(r) if matches!(r[0], AccessRefusal::NoLabelInPolicy { .. }))
    );
}

#[test]
fn a_sds_item_needs_more_than_a_gokuhi_clearance() {
    let reg = reg();
    let label = reg
        .label(
            "JPN",
            "特定秘密",
            &["dprk.missile"],
            None,
            t("2018-01-01T00:00:00+09:00"),
        )
        .unwrap();
    let labels = ItemLabels::new(label);
    let until = t("2030-01-01T00:00:00+09:00");
    let at = t("2019-01-01T00:00:00+09:00");
    assert!(
        !decide_access(
            &reg,
            &reader(&reg, "JPN", "極秘", until, &["dprk"]),
            &labels,
            at
        )
        .is_allow()
    );
    assert!(
        decide_access(
            &reg,
            &reader(&reg, "JPN", "特定秘密", until, &["dprk"]),
            &labels,
            at
        )
        .is_allow()
    );
}
