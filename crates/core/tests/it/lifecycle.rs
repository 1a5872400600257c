//! The 2019–2023 history replayed to the second, and the notice rules.

use gsomia_core::State;

use crate::common::{jp_kr_with_events, reg, shipped_text, t, with_agreement};

#[test]
fn jp_kr_2016_was_continuously_in_force_from_2016_to_2026() {
    let reg = reg();
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    assert_eq!(lc.termination, None, "the 2019 notice never took effect");
    assert!(!lc.in_force_at(t("2016-11-22T23:59:59.999999999+09:00")));
    assert!(lc.in_force_at(t("2016-11-23T00:00:00+09:00")));
    // Every day from entry into force to 2026, at noon KST.
    let mut at = t("2016-11-23T12:00:00+09:00");
    let end = t("2026-12-31T12:00:00+09:00");
    let mut days = 0;
    while at < end {
        assert!(lc.in_force_at(at), "not in force at {at}");
        at = at
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap();
        days += 1;
    }
    assert!(days > 3600);
}

#[test]
fn the_2019_states_follow_the_events_to_the_second() {
    let reg = reg();
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    let state = |s: &str| lc.state_at(t(s));
    assert_eq!(
        state("2019-08-22T23:00:00+09:00"),
        State::InForce,
        "an announcement is not a notice"
    );
    assert_eq!(state("2019-08-23T15:29:59+09:00"), State::InForce);
    assert_eq!(state("2019-08-23T15:30:00+09:00"), State::NoticeGiven);
    assert_eq!(state("2019-11-22T17:59:59+09:00"), State::NoticeGiven);
    assert_eq!(state("2019-11-22T18:00:00+09:00"), State::NoticeSuspended);
    assert_eq!(state("2019-11-23T00:00:00+09:00"), State::NoticeSuspended);
    assert_eq!(state("2023-03-21T08:59:59+09:00"), State::NoticeSuspended);
    assert_eq!(state("2023-03-21T09:00:00+09:00"), State::InForce);

    let status = reg.status(a, t("2019-11-23T00:00:00+09:00")).unwrap();
    assert!(status.in_force);
    let (n, start, end) = status.term.unwrap();
    assert_eq!(n, 3);
    assert_eq!(start, t("2019-11-23T00:00:00+09:00"));
    assert_eq!(end, t("2020-11-23T00:00:00+09:00"));
    assert!(
        status
            .reasons
            .iter()
            .any(|r| r.to_string().contains("jp-kr-2016 art 21(3)"))
    );
}

#[test]
fn without_the_suspension_the_agreement_ends_exactly_at_midnight_kst() {
    let text = shipped_text("jp-kr-2016.toml");
    let start = text.find("[[event]]\nat = \"2019-11-22T18:00").unwrap();
    let end = text[start + 1..].find("[[event]]").unwrap() + start + 1;
    let without = format!("{}{}", &text[..start], &text[end..]);
    let reg = with_agreement(without).unwrap();
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    assert_eq!(lc.termination, Some(t("2019-11-23T00:00:00+09:00")));
    assert!(lc.in_force_at(t("2019-11-22T23:59:59.999999999+09:00")));
    assert!(!lc.in_force_at(t("2019-11-23T00:00:00+09:00")));
    assert_eq!(
        lc.state_at(t("2019-11-23T00:00:00+09:00")),
        State::Terminated
    );
    // The 2023 withdrawal comes after termination: termination is final.
    assert_eq!(
        lc.state_at(t("2023-03-22T00:00:00+09:00")),
        State::Terminated
    );
}

fn notice_at(at: &str) -> String {
    format!(
        "[[event]]\nat = \"{at}\"\nkind = \"notice\"\nby = \"KOR\"\nwritten = true\nchannel = \"diplomatic\"\nsummary = \"test notice\"\n"
    )
}

#[test]
fn a_notice_on_the_deadline_day_counts_and_one_a_nanosecond_later_moves_to_next_year() {
    for (given, ends) in [
        (
            "2019-08-24T23:59:59.999999999+09:00",
            "2019-11-23T00:00:00+09:00",
        ),
        ("2019-08-25T00:00:00+09:00", "2020-11-23T00:00:00+09:00"),
        ("2019-08-23T15:30:00+09:00", "2019-11-23T00:00:00+09:00"),
        ("2019-11-22T12:00:00+09:00", "2020-11-23T00:00:00+09:00"),
    ] {
        let reg = jp_kr_with_events(&notice_at(given));
        let a = reg.agreement_ref("jp-kr-2016").unwrap();
        assert_eq!(
            reg.agreement(a).unwrap().lifecycle().termination,
            Some(t(ends)),
            "notice given {given}"
        );
    }
}

#[test]
fn counting_from_the_boundary_day_moves_the_deadline_to_25_august() {
    let text = shipped_text("jp-kr-2016.toml").replace(
        "count_from = \"last_full_day\"",
        "count_from = \"boundary\"",
    );
    let cut = text.find("[[event]]").unwrap();
    let reg = with_agreement(format!(
        "{}{}",
        &text[..cut],
        notice_at("2019-08-25T12:00:00+09:00")
    ))
    .unwrap();
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    assert_eq!(
        reg.agreement(a).unwrap().lifecycle().termination,
        Some(t("2019-11-23T00:00:00+09:00"))
    );
}

#[test]
fn an_unwritten_notice_has_no_effect() {
    let reg = jp_kr_with_events(
        "[[event]]\nat = \"2019-08-23T15:30:00+09:00\"\nkind = \"notice\"\nby = \"KOR\"\nwritten = false\nchannel = \"diplomatic\"\nsummary = \"oral\"\n",
    );
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    assert_eq!(reg.agreement(a).unwrap().lifecycle().termination, None);
}

#[test]
fn lifting_a_suspension_needs_a_fresh_notice_by_default_and_can_be_immediate() {
    let events = format!(
        "{}{}",
        notice_at("2019-08-23T15:30:00+09:00"),
        "[[event]]\nat = \"2019-11-22T18:00:00+09:00\"\nkind = \"suspend_notice\"\nby = \"KOR\"\nsummary = \"s\"\n\
         [[event]]\nat = \"2020-06-02T10:00:00+09:00\"\nkind = \"lift_suspension\"\nby = \"KOR\"\nsummary = \"l\"\n"
    );
    let reg = jp_kr_with_events(&events);
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    // 2020-06-02 is before the 2020 deadline (2020-08-24): the next boundary.
    assert_eq!(lc.termination, Some(t("2020-11-23T00:00:00+09:00")));
    assert_eq!(
        lc.state_at(t("2020-06-02T10:00:00+09:00")),
        State::NoticeGiven
    );

    let text = shipped_text("jp-kr-2016.toml").replace(
        "lift_suspension = \"fresh_notice\"",
        "lift_suspension = \"immediate\"",
    );
    let cut = text.find("[[event]]").unwrap();
    let reg = with_agreement(format!("{}{}", &text[..cut], events)).unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    assert_eq!(lc.termination, Some(t("2020-06-02T10:00:00+09:00")));
}

#[test]
fn an_amendment_makes_a_new_version_from_its_instant() {
    let reg = jp_kr_with_events(
        "[[event]]\nat = \"2024-01-01T00:00:00+09:00\"\nkind = \"amendment\"\nsummary = \"add warning data\"\ntopics = [\"defence\", \"dprk\", \"regional\", \"warning\"]\n",
    );
    let a = reg
        .agreement(reg.agreement_ref("jp-kr-2016").unwrap())
        .unwrap();
    assert_eq!(a.versions().len(), 2);
    assert_eq!(
        a.version_at(t("2023-12-31T23:59:59+09:00")).unwrap().number,
        1
    );
    assert_eq!(
        a.version_at(t("2024-01-01T00:00:00+09:00")).unwrap().number,
        2
    );
    let warning = reg.topic("warning.missile").unwrap();
    assert!(
        !a.version_at(t("2023-12-31T23:59:59+09:00"))
            .unwrap()
            .topics
            .contains(warning)
    );
    assert!(
        a.version_at(t("2024-01-01T00:00:00+09:00"))
            .unwrap()
            .topics
            .contains(warning)
    );
}

#[test]
fn the_timeline_lists_boundaries_and_events_in_order() {
    let reg = reg();
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let tl = reg.timeline(a, t("2024-01-01T00:00:00+09:00")).unwrap();
    let kinds: Vec<&str> = tl.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"entry_into_force"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "renewal").count(),
        7,
        "2017..=2023"
    );
    assert!(tl.windows(2).all(|w| w[0].at <= w[1].at));
    let notice = tl.iter().find(|e| e.kind == "notice").unwrap();
    assert!(notice.text.contains("2019-08-24"), "{}", notice.text);
}

#[test]
fn events_recorded_one_by_one_give_the_profiles_lifecycle() {
    use gsomia_core::RecordError;
    let full = reg();
    let a = full.agreement_ref("jp-kr-2016").unwrap();
    let mut live = full.history_before(t("2017-01-01T00:00:00Z")).unwrap();
    assert!(live.agreement(a).unwrap().events().is_empty());
    for ev in full.agreement(a).unwrap().events() {
        let (next, reason) = live.record_event(a, ev.clone()).unwrap();
        assert!(!reason.text.is_empty());
        live = next;
    }
    let (x, y) = (
        full.agreement(a).unwrap().lifecycle(),
        live.agreement(a).unwrap().lifecycle(),
    );
    assert_eq!(x.termination, y.termination);
    assert_eq!(x.effects, y.effects);
    for s in [
        "2019-08-23T15:29:59+09:00",
        "2019-08-23T15:30:00+09:00",
        "2019-11-22T17:59:59+09:00",
        "2019-11-23T00:00:00+09:00",
        "2023-03-21T09:00:00+09:00",
    ] {
        assert_eq!(x.state_at(t(s)), y.state_at(t(s)), "{s}");
    }

    // What a node refuses to record.
    let kor = full.party("KOR").unwrap();
    let usa = full.party("USA").unwrap();
    let mut before = full.history_before(t("2019-01-01T00:00:00Z")).unwrap();
    let event = |kind, at: &str, by| gsomia_core::agreement::Event {
        at: t(at),
        kind,
        by: Some(by),
        written_diplomatic: true,
        summary: "test".into(),
        version: None,
    };
    use gsomia_core::agreement::EventKind::*;
    assert!(matches!(
        before.record_event(a, event(SuspendNotice, "2019-05-01T00:00:00Z", kor)),
        Err(RecordError::NoEffect(_))
    ));
    assert!(matches!(
        before.record_event(a, event(Notice, "2019-05-01T00:00:00Z", usa)),
        Err(RecordError::NotAParty { .. })
    ));
    assert!(matches!(
        before.record_event(a, event(Amendment, "2019-05-01T00:00:00Z", kor)),
        Err(RecordError::MutualAct(_))
    ));
    let (next, reason) = before
        .record_event(a, event(Notice, "2019-08-23T15:30:00+09:00", kor))
        .unwrap();
    assert!(reason.text.contains("effective for"), "{}", reason.text);
    before = next;
    assert_eq!(
        before
            .agreement(a)
            .unwrap()
            .lifecycle()
            .state_at(t("2019-11-23T00:00:00+09:00")),
        State::Terminated
    );
    assert!(matches!(
        before.record_event(a, event(SuspendNotice, "2019-08-01T00:00:00Z", kor)),
        Err(RecordError::OutOfOrder { .. })
    ));
    let mut not_written = event(Notice, "2019-09-01T00:00:00Z", kor);
    not_written.written_diplomatic = false;
    assert!(matches!(
        before.record_event(a, not_written),
        Err(RecordError::NoEffect(_))
    ));
}

fn notice(at: &str, by: &str) -> String {
    format!(
        "[[event]]\nat = \"{at}\"\nkind = \"notice\"\nby = \"{by}\"\nsummary = \"notice by {by}\"\nwritten = true\nchannel = \"diplomatic\"\n"
    )
}

fn act(at: &str, kind: &str, by: &str) -> String {
    format!(
        "[[event]]\nat = \"{at}\"\nkind = \"{kind}\"\nby = \"{by}\"\nsummary = \"{kind} by {by}\"\n"
    )
}

#[test]
fn when_both_parties_give_notice_withdrawing_one_leaves_the_other_to_terminate() {
    let reg = jp_kr_with_events(&format!(
        "{}{}{}",
        notice("2019-08-01T10:00:00+09:00", "KOR"),
        notice("2019-08-02T10:00:00+09:00", "JPN"),
        act("2019-10-01T10:00:00+09:00", "withdraw_notice", "KOR"),
    ));
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let lc = reg.agreement(a).unwrap().lifecycle();
    // JPN's notice stands: the agreement ends at the boundary.
    assert_eq!(lc.termination, Some(t("2019-11-23T00:00:00+09:00")));
    assert_eq!(
        lc.state_at(t("2019-10-01T10:00:00+09:00")),
        State::NoticeGiven
    );
    let seg = lc.segment_at(t("2019-08-02T12:00:00+09:00")).unwrap();
    assert_eq!(seg.held.len(), 2, "each party's notice is kept apart");
    // Suspending one's own while the other's stands changes nothing either.
    let reg = jp_kr_with_events(&format!(
        "{}{}{}",
        notice("2019-08-01T10:00:00+09:00", "KOR"),
        notice("2019-08-02T10:00:00+09:00", "JPN"),
        act("2019-11-22T18:00:00+09:00", "suspend_notice", "KOR"),
    ));
    let lc = reg.agreement(a).unwrap().lifecycle();
    assert_eq!(lc.termination, Some(t("2019-11-23T00:00:00+09:00")));
}

#[test]
fn only_the_party_that_gave_a_notice_acts_on_it_and_a_profile_saying_otherwise_is_refused() {
    for (kind, setup) in [
        ("withdraw_notice", ""),
        ("suspend_notice", ""),
        (
            "lift_suspension",
            "[[event]]\nat = \"2019-09-01T00:00:00+09:00\"\nkind = \"suspend_notice\"\nby = \"KOR\"\nsummary = \"s\"\n",
        ),
    ] {
        let text = shipped_text("jp-kr-2016.toml");
        let cut = text.find("[[event]]").unwrap();
        let profile = format!(
            "{}{}{}{}",
            &text[..cut],
            notice("2019-08-01T10:00:00+09:00", "KOR"),
            setup,
            act("2019-10-01T10:00:00+09:00", kind, "JPN"),
        );
        let errors = with_agreement(profile.clone()).unwrap_err();
        let e = errors
            .0
            .iter()
            .find(|e| e.message.contains("only the party that gave a notice"))
            .unwrap_or_else(|| panic!("{kind}: {errors:?}"));
        assert!(e.message.contains("KOR gave"), "{}", e.message);
        assert!(e.message.contains("rule 4"), "{}", e.message);
        // The error points at the `by` of the offending event.
        let line = e.line;
        assert!(e.column > 0, "{}", e.message);
        let by_line = profile[..profile.rfind("by = \"JPN\"").unwrap()]
            .matches('\n')
            .count()
            + 1;
        assert_eq!(line, by_line, "{kind}: {}", e.message);
    }
}

#[test]
fn a_node_refuses_to_record_an_act_on_another_partys_notice() {
    use gsomia_core::RecordError;
    use gsomia_core::agreement::{Event, EventKind};
    let reg = jp_kr_with_events(&notice("2019-08-23T15:30:00+09:00", "KOR"));
    let a = reg.agreement_ref("jp-kr-2016").unwrap();
    let ev = |kind, by: &str| Event {
        at: t("2019-11-22T18:00:00+09:00"),
        kind,
        by: Some(reg.party(by).unwrap()),
        written_diplomatic: true,
        summary: String::new(),
        version: None,
    };
    for kind in [EventKind::SuspendNotice, EventKind::WithdrawNotice] {
        match reg.record_event(a, ev(kind, "JPN")) {
            Err(RecordError::NotTheirs { owner, reason }) => {
                assert_eq!(owner, "KOR");
                assert!(reason.contains("rule 4"), "{reason}");
                assert!(reason.contains("art 21"), "{reason}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
    // KOR's own suspension is recorded.
    let (next, _) = reg
        .record_event(a, ev(EventKind::SuspendNotice, "KOR"))
        .unwrap();
    // A lift by JPN of KOR's suspended notice is no fresh notice either.
    let lift = Event {
        at: t("2019-11-22T19:00:00+09:00"),
        ..ev(EventKind::LiftSuspension, "JPN")
    };
    assert!(matches!(
        next.record_event(a, lift),
        Err(RecordError::NotTheirs { .. })
    ));
}
