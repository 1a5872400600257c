//! Property tests against small reference models.

use gsomia_core::agreement::State;
use gsomia_core::{
    Consent, ConsentScope, Decision, ItemLabels, Reader, Registry, ReleaseRequest, decide_access,
    decide_release,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use crate::common::{jp_kr_with_events, reg, t};

const KINDS: [&str; 5] = [
    "notice",
    "suspend_notice",
    "lift_suspension",
    "withdraw_notice",
    "announcement",
];

fn events_toml(events: &[(i64, usize)]) -> String {
    let base = t("2016-11-23T00:00:00+09:00");
    let mut out = String::new();
    for (secs, k) in events {
        let at = base.checked_add(SignedDuration::from_secs(*secs)).unwrap();
        let kind = KINDS[*k];
        out.push_str(&format!(
            "[[event]]\nat = \"{at}\"\nkind = \"{kind}\"\nby = \"KOR\"\nsummary = \"p\"\n"
        ));
        if kind == "notice" {
            out.push_str("written = true\nchannel = \"diplomatic\"\n");
        }
    }
    out
}

/// An independent model of rules 1–4: walk the boundaries; at each, replay
/// all events before it from scratch and ask whether an unsuspended notice
/// made in time for this boundary (or carried over from a missed one) stands.
fn reference_termination(reg: &Registry) -> Option<Timestamp> {
    let a = reg
        .agreement(reg.agreement_ref("jp-kr-2016").unwrap())
        .unwrap();
    let sched = a.schedule();
    let mut events: Vec<_> = a.events().to_vec();
    events.sort_by_key(|e| e.at);
    for n in 1..40 {
        let b = sched.boundary(n).unwrap().unwrap();
        // State just before b: (pending given_at, suspended).
        let mut pending: Option<Timestamp> = None;
        let mut suspended = false;
        for e in events.iter().filter(|e| e.at < b) {
            match e.kind.as_str() {
                "notice" if pending.is_none() || suspended => {
                    pending = Some(e.at);
                    suspended = false;
                }
                "suspend_notice" if pending.is_some() && !suspended => suspended = true,
                "lift_suspension" if pending.is_some() && suspended => {
                    pending = Some(e.at);
                    suspended = false;
                }
                "withdraw_notice" => {
                    pending = None;
                    suspended = false;
                }
                _ => {}
            }
            // A notice that already terminated the agreement at an earlier
            // boundary was caught in an earlier iteration.
        }
        if let (Some(given), false) = (pending, suspended) {
            let (_, late_from) = sched.deadline_end(b).unwrap();
            if given < late_from {
                return Some(b);
            }
        }
    }
    None
}

/// An independent model of rules 1–4 with notices as acts of a party:
/// walk the boundaries; at each, replay from scratch every event before it,
/// keeping each party's notice apart (given at, suspended), an act by a
/// party touching only its own notice; the agreement ends at the first
/// boundary where some party's unsuspended notice was given in time for it.
fn reference_termination_by_party(
    sched: &gsomia_core::agreement::Schedule,
    events: &[gsomia_core::agreement::Event],
) -> Option<Timestamp> {
    use gsomia_core::agreement::EventKind as K;
    use std::collections::BTreeMap;
    for n in 1..40 {
        let b = sched.boundary(n).unwrap().unwrap();
        let mut notices: BTreeMap<Option<gsomia_core::PartyRef>, (Timestamp, bool)> =
            BTreeMap::new();
        for e in events
            .iter()
            .filter(|e| e.at < b && e.at >= sched.entry_into_force)
        {
            let own = notices.get(&e.by).copied();
            match (e.kind, own) {
                (K::Notice, None) | (K::Notice, Some((_, true))) => {
                    notices.insert(e.by, (e.at, false));
                }
                (K::SuspendNotice, Some((g, false))) => {
                    notices.insert(e.by, (g, true));
                }
                (K::LiftSuspension, Some((_, true))) => {
                    notices.insert(e.by, (e.at, false));
                }
                (K::WithdrawNotice, Some(_)) => {
                    notices.remove(&e.by);
                }
                _ => {}
            }
        }
        let (_, late_from) = sched.deadline_end(b).unwrap();
        if notices
            .values()
            .any(|(given, suspended)| !suspended && *given < late_from)
        {
            return Some(b);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Both parties give, suspend, lift and withdraw notices, in any order, by
    /// either party, on either side of deadlines and boundaries.
    #[test]
    fn per_party_notices_match_the_reference_model(
        raw in proptest::collection::vec((0i64..6 * 366 * 86_400, 0usize..4, any::<bool>()), 0..10),
        near in proptest::collection::vec((0i64..6, -3i64..3, 0usize..4, any::<bool>()), 0..4),
    ) {
        use gsomia_core::agreement::{Event, EventKind, Lifecycle};
        let reg = reg();
        let a = reg.agreement(reg.agreement_ref("jp-kr-2016").unwrap()).unwrap();
        let sched = a.schedule().clone();
        let (kor, jpn) = (reg.party("KOR").unwrap(), reg.party("JPN").unwrap());
        let kinds = [EventKind::Notice, EventKind::SuspendNotice, EventKind::LiftSuspension, EventKind::WithdrawNotice];
        let base = sched.entry_into_force;
        let mut at: Vec<(Timestamp, usize, bool)> = raw
            .iter()
            .map(|(s, k, p)| (base.checked_add(SignedDuration::from_secs(*s)).unwrap(), *k, *p))
            .collect();
        // Some acts a second either side of a boundary or of the end of a deadline day.
        for (n, secs, k, p) in near {
            let b = sched.boundary(n + 1).unwrap().unwrap();
            let anchor = if secs % 2 == 0 { b } else { sched.deadline_end(b).unwrap().1 };
            at.push((anchor.checked_add(SignedDuration::from_secs(secs)).unwrap(), k, p));
        }
        at.sort();
        let events: Vec<Event> = at
            .iter()
            .map(|(t, k, p)| Event {
                at: *t,
                kind: kinds[*k],
                by: Some(if *p { kor } else { jpn }),
                written_diplomatic: true,
                summary: String::new(),
                version: None,
            })
            .collect();
        let lc = Lifecycle::compute(&sched, &events).unwrap();
        prop_assert_eq!(lc.termination, reference_termination_by_party(&sched, &events));
    }

    #[test]
    fn lifecycle_matches_the_reference_model(
        mut events in proptest::collection::vec((0i64..6 * 366 * 86_400, 0usize..5), 0..6)
    ) {
        events.sort();
        let reg = jp_kr_with_events(&events_toml(&events));
        let a = reg.agreement(reg.agreement_ref("jp-kr-2016").unwrap()).unwrap();
        prop_assert_eq!(a.lifecycle().termination, reference_termination(&reg));
    }

    #[test]
    fn no_release_outside_the_in_force_interval(
        mut events in proptest::collection::vec((0i64..6 * 366 * 86_400, 0usize..5), 0..6),
        probes in proptest::collection::vec(-86_400i64..8 * 366 * 86_400, 1..20),
    ) {
        events.sort();
        let reg = jp_kr_with_events(&events_toml(&events));
        let a = reg.agreement(reg.agreement_ref("jp-kr-2016").unwrap()).unwrap();
        let lc = a.lifecycle();
        let eif = lc.entry_into_force;
        let label = reg.label("KOR", "군사II급비밀", &["dprk.missile"], None, eif).unwrap();
        let mut instants: Vec<Timestamp> = probes.iter().map(|s| eif.checked_add(SignedDuration::from_secs(*s)).unwrap()).collect();
        if let Some(term) = lc.termination {
            instants.push(term);
            instants.push(term.checked_sub(SignedDuration::from_nanos(1)).unwrap());
        }
        instants.push(eif);
        instants.push(eif.checked_sub(SignedDuration::from_nanos(1)).unwrap());
        for at in instants {
            let d = decide_release(&reg, &ReleaseRequest {
                label: &label, item: None,
                holder: reg.party("KOR").unwrap(), recipient: reg.party("JPN").unwrap(),
                at, consents: &[],
            });
            let in_force = at >= eif && reference_termination(&reg).is_none_or(|t| at < t);
            prop_assert_eq!(d.is_release(), in_force, "at {}", at);
            prop_assert_eq!(lc.state_at(at).in_force(), in_force);
            if !in_force {
                prop_assert!(matches!(lc.state_at(at), State::NotYetInForce | State::Terminated));
            }
        }
    }

    #[test]
    fn no_onward_release_without_a_covering_consent(
        holder in 0usize..3, recipient in 0usize..3, originator in 0usize..3,
        level_ix in 0usize..5, day in 0i64..12 * 366,
        consent_to in 0usize..3, consent_holder in 0usize..3,
    ) {
        let reg = reg();
        let parties = ["JPN", "KOR", "USA"];
        let o = reg.party(parties[originator]).unwrap();
        let policy = reg.policy(o).unwrap();
        let level = policy.levels()[level_ix % policy.levels().len()].native.clone();
        let at = t("2014-01-01T00:00:00Z").checked_add(SignedDuration::from_hours(24 * day)).unwrap();
        let label = reg.label(parties[originator], &level, &["dprk.missile"], None, at).unwrap();
        let h = reg.party(parties[holder]).unwrap();
        let r = reg.party(parties[recipient]).unwrap();
        let consent = Consent {
            originator: o,
            holder: reg.party(parties[consent_holder]).unwrap(),
            recipient: reg.party(parties[consent_to]).unwrap(),
            scope: ConsentScope::Topics(reg.need_to_know(["dprk"]).unwrap()),
            granted_at: t("2000-01-01T00:00:00Z"),
            expires_at: t("2100-01-01T00:00:00Z"),
            revoked_at: None,
        };
        let d = decide_release(&reg, &ReleaseRequest { label: &label, item: None, holder: h, recipient: r, at, consents: std::slice::from_ref(&consent) });
        if let Decision::Release(rel) = d {
            prop_assert!(policy.levels()[level_ix % policy.levels().len()].classified);
            if h != o && r != o {
                prop_assert_eq!(consent.holder, h);
                prop_assert_eq!(consent.recipient, r);
            }
            // Whatever the route, the agreement used is in force (returns excepted).
            if !matches!(rel.route, gsomia_core::Route::Return) {
                prop_assert!(reg.agreement(rel.agreement).unwrap().lifecycle().in_force_at(at));
            }
        }
    }

    #[test]
    fn no_read_up_and_access_is_monotone_in_clearance(
        party in 0usize..3, item_level in 0usize..5, clearance in 0usize..5, ntk in any::<bool>(),
        valid_days in -5i64..5,
    ) {
        let reg = reg();
        let parties = ["JPN", "KOR", "USA"];
        let p = reg.party(parties[party]).unwrap();
        let policy = reg.policy(p).unwrap();
        let levels = policy.levels();
        let at = t("2020-06-01T00:00:00Z");
        let item = &levels[item_level % levels.len()];
        let label = reg.label(parties[party], &item.native, &["dprk.missile"], None, at).unwrap();
        let labels = ItemLabels::new(label);
        let until = at.checked_add(SignedDuration::from_hours(24 * valid_days)).unwrap();
        let need = if ntk { reg.need_to_know(["dprk"]).unwrap() } else { reg.need_to_know(["regional"]).unwrap() };
        let mk = |c: usize| Reader { party: p, clearance: reg.level(p, &levels[c].native).unwrap(), clearance_until: until, need_to_know: need, contractor: None };
        let c = clearance % levels.len();
        let allowed = decide_access(&reg, &mk(c), &labels, at).is_allow();
        if allowed {
            prop_assert!(levels[c].rank >= item.rank, "read-up");
            prop_assert!(ntk && until > at);
            for (higher, l) in levels.iter().enumerate() {
                if l.rank >= levels[c].rank {
                    prop_assert!(decide_access(&reg, &mk(higher), &labels, at).is_allow(), "not monotone");
                }
            }
        }
    }

    #[test]
    fn equivalence_round_trips_within_the_grade(agreement in 0usize..5, row in 0usize..4, col in 0usize..3) {
        let reg = reg();
        let r = reg.agreement_refs().nth(agreement).unwrap();
        let a = reg.agreement(r).unwrap();
        let cov = &a.latest().unwrap().coverage;
        let grades = cov.grades();
        let g = &grades[row % grades.len()];
        let (from_party, levels) = &g.levels[col % g.levels.len()];
        for (to_party, _) in &g.levels {
            if to_party == from_party { continue; }
            for &level in levels {
                let there = reg.equivalent(level, *to_party, r, None).unwrap();
                let back = reg.equivalent(there, *from_party, r, None).unwrap();
                prop_assert_eq!(cov.grade_of(back), cov.grade_of(level));
                if level == levels[0] {
                    prop_assert_eq!(back, level, "the marking level maps back to itself");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Hostile profile text: any single-byte change, truncation or insertion
    /// in a shipped agreement gives a registry or a located error, never a panic.
    #[test]
    fn mangled_profiles_never_panic(pos in 0usize..6000, byte in any::<u8>(), mode in 0u8..3) {
        let mut bytes = crate::common::shipped_text("jp-kr-2016.toml").into_bytes();
        let pos = pos % bytes.len();
        match mode {
            0 => bytes[pos] = byte,
            1 => bytes.truncate(pos),
            _ => bytes.insert(pos, byte),
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match crate::common::with_agreement(text) {
            Ok(reg) => {
                prop_assert!(reg.agreement_ref("jp-kr-2016").is_ok() || reg.agreements().len() == 5);
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                prop_assert!(errors.0.iter().all(|e| !e.message.is_empty()));
            }
        }
    }
}
