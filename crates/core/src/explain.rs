//! Turning decisions and lifecycles into reasons people can check: every
//! reason names the provision it applies (`jp-kr-2016 art 21(3)`) and the
//! system rule from GSOMIA.md §7 (`rule 3`).

use jiff::Timestamp;

use crate::agreement::{Agreement, Effect, PendingNotice, State, TermRule};
use crate::decision::{AccessDecision, AccessRefusal, Decision, Refusal, Release, Route};
use crate::ids::{AgreementRef, TopicSet};
use crate::registry::{NoEquivalent, Registry};
use crate::time::{self, TimeError};

pub use crate::reason::{Citation, Reason, texts};

fn article(a: &Agreement, rule: u16) -> Citation {
    Citation::Article {
        agreement: a.id().to_string(),
        rule: a.rule_id(rule).to_owned(),
    }
}

fn dedup(cites: Vec<Citation>) -> Vec<Citation> {
    let mut out: Vec<Citation> = Vec::with_capacity(cites.len());
    for c in cites {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn at_in(a: &Agreement, ts: Timestamp) -> String {
    time::format_in(ts, a.zone())
}

fn topics_text(reg: &Registry, set: &TopicSet) -> String {
    set.iter()
        .map(|t| format!("`{}`", reg.topics().name(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Registry {
    /// The reason for one release refusal.
    pub fn explain_refusal(&self, r: &Refusal, at: Timestamp) -> Reason {
        let name = |a: AgreementRef| self.agreement_id(a).to_owned();
        match *r {
            Refusal::UnknownReference => Reason {
                text: "a party, level or agreement given is not known to this registry".into(),
                cites: vec![Citation::DenyByDefault],
            },
            Refusal::NotOriginatorLabel => Reason {
                text: "release is decided on the originator's own label, not an equivalent label"
                    .into(),
                cites: vec![Citation::System(7)],
            },
            Refusal::Unclassified { level } => Reason {
                text: format!(
                    "`{}` is not a covered classification; only covered levels cross",
                    self.level_name(level)
                ),
                cites: vec![Citation::System(6)],
            },
            Refusal::SameParty => Reason {
                text: "holder and recipient are the same party".into(),
                cites: vec![Citation::DenyByDefault],
            },
            Refusal::NotReleasable { recipient } => Reason {
                text: format!(
                    "the originator's REL TO marking does not include {}",
                    self.party_id(recipient)
                ),
                cites: vec![Citation::System(9)],
            },
            Refusal::NoAgreement { from, to } => Reason {
                text: format!(
                    "no security agreement links {} and {}",
                    self.party_id(from),
                    self.party_id(to)
                ),
                cites: vec![Citation::DenyByDefault],
            },
            Refusal::NotInForce { agreement, state } => {
                let Some(a) = self.agreement(agreement) else {
                    return self.explain_refusal(&Refusal::UnknownReference, at);
                };
                let lc = a.lifecycle();
                match state {
                    State::NotYetInForce => Reason {
                        text: format!(
                            "{} is not yet in force at {}: it enters into force at {}",
                            a.id(),
                            at_in(a, at),
                            at_in(a, lc.entry_into_force)
                        ),
                        cites: vec![article(a, a.cites().entry_into_force), Citation::System(1)],
                    },
                    _ => Reason {
                        text: format!(
                            "{} is not in force at {}: it terminated at {}; no new provision, items provided before stay protected",
                            a.id(),
                            at_in(a, at),
                            lc.termination.map_or_else(|| "?".into(), |t| at_in(a, t))
                        ),
                        cites: vec![
                            article(a, a.cites().term),
                            article(a, a.cites().survival),
                            Citation::System(1),
                            Citation::System(5),
                        ],
                    },
                }
            }
            Refusal::TopicsOutOfScope { agreement, topics } => {
                let Some(a) = self.agreement(agreement) else {
                    return self.explain_refusal(&Refusal::UnknownReference, at);
                };
                Reason {
                    text: format!(
                        "{} does not cover the topics {}",
                        a.id(),
                        topics_text(self, &topics)
                    ),
                    cites: vec![article(a, a.cites().scope)],
                }
            }
            Refusal::LevelNotCovered { agreement, level } => {
                let Some(a) = self.agreement(agreement) else {
                    return self.explain_refusal(&Refusal::UnknownReference, at);
                };
                Reason {
                    text: format!(
                        "{} does not cover {} level `{}`{}",
                        a.id(),
                        self.party_id(level.policy()),
                        self.level_name(level),
                        self.covered_list(a, level.policy())
                    ),
                    cites: vec![article(a, a.cites().coverage), Citation::System(6)],
                }
            }
            Refusal::NeverReceived { originator, holder } => Reason {
                text: format!(
                    "{} cannot hold this {} item: no agreement between them covers its level",
                    self.party_id(holder),
                    self.party_id(originator)
                ),
                cites: vec![Citation::DenyByDefault],
            },
            Refusal::ThirdPartyForbidden { agreement } => {
                let Some(a) = self.agreement(agreement) else {
                    return self.explain_refusal(&Refusal::UnknownReference, at);
                };
                Reason {
                    text: format!("{} forbids any release to a third party", a.id()),
                    cites: vec![article(a, a.cites().third_party), Citation::System(9)],
                }
            }
            Refusal::NoConsent {
                received_under,
                arrangement,
            } => {
                let mut cites = Vec::new();
                if let Some(a) = self.agreement(received_under) {
                    cites.push(article(a, a.cites().third_party));
                }
                cites.push(Citation::System(9));
                let mut text = format!(
                    "no valid written consent from the originator for this onward release (item received under {})",
                    name(received_under)
                );
                if let Some(h) = arrangement.and_then(|r| self.agreement(r)) {
                    text.push_str(&format!("; {} relays only with it", h.id()));
                    if let Some(rule) = h.cites().relay {
                        cites.push(article(h, rule));
                    }
                    cites.push(Citation::System(16));
                }
                Reason { text, cites }
            }
            Refusal::ConsentMismatch { consent, why } => Reason {
                text: format!("consent #{} does not apply: {}", consent + 1, why.as_str()),
                cites: vec![Citation::System(9)],
            },
        }
    }

    fn covered_list(&self, a: &Agreement, party: crate::ids::PartyRef) -> String {
        let Some(v) = a.latest() else {
            return String::new();
        };
        let names: Vec<&str> = v
            .coverage
            .grades()
            .iter()
            .flat_map(|g| g.levels.iter())
            .filter(|(p, _)| *p == party)
            .flat_map(|(_, ls)| ls.iter().map(|l| self.level_name(*l)))
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(
                "; covered {} levels: {}",
                self.party_id(party),
                names.join(", ")
            )
        }
    }

    /// The provisions a release relied on, with one sentence each.
    pub fn explain_release(&self, r: &Release, at: Timestamp) -> Vec<Reason> {
        let Some(a) = self.agreement(r.agreement) else {
            return vec![self.explain_refusal(&Refusal::UnknownReference, at)];
        };
        let mut out = Vec::new();
        match r.route {
            Route::Return => {
                out.push(Reason {
                    text: format!(
                        "returning an item to its originator under {}: protection continues, including after termination",
                        a.id()
                    ),
                    cites: vec![article(a, a.cites().survival), Citation::System(5)],
                });
            }
            _ => {
                out.push(Reason {
                    text: format!(
                        "{} (version {}) is in force at {}",
                        a.id(),
                        r.version,
                        at_in(a, at)
                    ),
                    cites: vec![article(a, a.cites().term), Citation::System(1)],
                });
                out.push(Reason {
                    text: format!("{} covers the item's topics", a.id()),
                    cites: vec![article(a, a.cites().scope)],
                });
                out.push(Reason {
                    text: format!(
                        "the level is covered; the recipient marks it `{}` beside the originator's label",
                        self.level_name(r.recipient_level)
                    ),
                    cites: dedup(vec![
                        article(a, a.cites().coverage),
                        article(a, a.cites().marking),
                        Citation::System(7),
                    ]),
                });
            }
        }
        match r.route {
            Route::Onward {
                received_under,
                consent,
            } => {
                let mut cites = vec![Citation::System(9)];
                if let Some(b) = self.agreement(received_under) {
                    cites.insert(0, article(b, b.cites().third_party));
                }
                out.push(Reason {
                    text: format!(
                        "the originator's written consent #{} covers this onward release",
                        consent + 1
                    ),
                    cites,
                });
            }
            Route::HubRelay {
                arrangement,
                received_under,
                consent,
            } => {
                let mut cites = Vec::new();
                if let Some(h) = self.agreement(arrangement) {
                    if let Some(rule) = h.cites().relay {
                        cites.push(article(h, rule));
                    }
                    cites.push(article(h, h.cites().scope));
                }
                if let Some(b) = self.agreement(received_under) {
                    cites.push(article(b, b.cites().third_party));
                }
                cites.push(Citation::System(16));
                out.push(Reason {
                    text: format!(
                        "hub relay under {} with the originator's written consent #{}",
                        self.agreement_id(arrangement),
                        consent + 1
                    ),
                    cites,
                });
            }
            Route::Direct | Route::Return => {}
        }
        out
    }

    /// The reasons for any decision.
    pub fn explain_decision(&self, d: &Decision, at: Timestamp) -> Vec<Reason> {
        match d {
            Decision::Release(r) => self.explain_release(r, at),
            Decision::Withhold(rs) => rs.iter().map(|r| self.explain_refusal(r, at)).collect(),
        }
    }

    /// The reasons for an access decision.
    pub fn explain_access(
        &self,
        d: &AccessDecision,
        reader_zone: &jiff::tz::TimeZone,
    ) -> Vec<Reason> {
        let access_cite = |a: Option<AgreementRef>| -> Vec<Citation> {
            let mut c: Vec<Citation> = a
                .and_then(|a| self.agreement(a))
                .map(|a| vec![article(a, a.cites().access)])
                .unwrap_or_default();
            c.push(Citation::System(10));
            c
        };
        match d {
            AccessDecision::Allow { level, agreement } => vec![Reason {
                text: format!(
                    "clearance valid, at or above `{}`, with need-to-know for every topic",
                    self.level_name(*level)
                ),
                cites: access_cite(*agreement),
            }],
            AccessDecision::Deny(rs) => rs
                .iter()
                .map(|r| match *r {
                    AccessRefusal::UnknownReference => Reason {
                        text: "a party or level given is not known to this registry".into(),
                        cites: vec![Citation::DenyByDefault],
                    },
                    AccessRefusal::NoLabelInPolicy { party } => Reason {
                        text: format!(
                            "the item carries no label in {}'s policy; received items must be marked with the equivalent level first",
                            self.party_id(party)
                        ),
                        cites: vec![Citation::System(7), Citation::DenyByDefault],
                    },
                    AccessRefusal::ForeignClearance => Reason {
                        text: "the clearance is not a level of the reader's own national policy"
                            .into(),
                        cites: vec![Citation::System(10)],
                    },
                    AccessRefusal::ClearanceExpired { until } => Reason {
                        text: format!(
                            "the clearance ended at {}",
                            time::format_in(until, reader_zone)
                        ),
                        cites: vec![Citation::System(10)],
                    },
                    AccessRefusal::BelowLevel { clearance, level } => Reason {
                        text: format!(
                            "clearance `{}` is below the item's level `{}`",
                            self.level_name(clearance),
                            self.level_name(level)
                        ),
                        cites: vec![Citation::System(10)],
                    },
                    AccessRefusal::NoNeedToKnow { topics } => Reason {
                        text: format!(
                            "no need-to-know for {}; clearance alone does not give access",
                            topics_text(self, &topics)
                        ),
                        cites: vec![Citation::System(10)],
                    },
                    AccessRefusal::NotReleasableToParty { party } => Reason {
                        text: format!(
                            "the REL TO marking does not include {}",
                            self.party_id(party)
                        ),
                        cites: vec![Citation::System(9)],
                    },
                    AccessRefusal::Contractor(c) => self.explain_contractor(&c, reader_zone),
                })
                .collect(),
        }
    }

    /// The reason a level has no equivalent.
    pub fn explain_no_equivalent(&self, e: &NoEquivalent) -> Reason {
        match *e {
            NoEquivalent::NotAParty { agreement, party } => Reason {
                text: format!(
                    "{} is not a party to {}",
                    self.party_id(party),
                    self.agreement_id(agreement)
                ),
                cites: vec![Citation::DenyByDefault],
            },
            NoEquivalent::NotCovered { agreement, level } => self.explain_refusal(
                &Refusal::LevelNotCovered { agreement, level },
                Timestamp::UNIX_EPOCH,
            ),
            NoEquivalent::NoAgreement { from, to } => {
                self.explain_refusal(&Refusal::NoAgreement { from, to }, Timestamp::UNIX_EPOCH)
            }
        }
    }
}

/// What comes next for an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The agreement enters into force at this instant.
    EntryIntoForce(Timestamp),
    /// The current term is renewed at this instant.
    Renewal(Timestamp),
    /// The agreement terminates at this instant.
    Termination(Timestamp),
}

/// An agreement's status at an instant, with the events that decided it.
#[derive(Debug, Clone)]
pub struct Status {
    /// The agreement.
    pub agreement: AgreementRef,
    /// The instant asked about.
    pub at: Timestamp,
    /// Whether new provision is possible.
    pub in_force: bool,
    /// The state.
    pub state: State,
    /// The version in effect.
    pub version: u32,
    /// The current term: number (0 is the first), start, end.
    pub term: Option<(i64, Timestamp, Timestamp)>,
    /// The next renewal or the termination.
    pub next: Option<Next>,
    /// Indices of the events up to `at` that had a legal effect.
    pub deciding_events: Vec<usize>,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// One line of an agreement's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When.
    pub at: Timestamp,
    /// `entry_into_force`, `renewal`, `termination`, or an event kind.
    pub kind: String,
    /// The event's index, for recorded events.
    pub event: Option<usize>,
    /// What happened and what it did.
    pub text: String,
    /// The provisions applied.
    pub cites: Vec<Citation>,
}

fn notice_text(a: &Agreement, reg: &Registry, p: &PendingNotice) -> String {
    let by = p.by.map_or("a party", |b| reg.party_id(b));
    let mut s = format!(
        "notice of termination by {by} given {}",
        at_in(a, p.given_at)
    );
    if let Some(d) = p.deadline {
        s.push_str(&format!(", by the deadline {d}"));
    }
    if let Some(m) = p.missed {
        s.push_str(&format!(", too late for the boundary {}", at_in(a, m)));
    }
    s.push_str(&format!(", effective for {}", at_in(a, p.effective_at)));
    s
}

fn effect_text(reg: &Registry, a: &Agreement, effect: &Effect) -> (String, Vec<Citation>) {
    let term = article(a, a.cites().term);
    match effect {
        Effect::NoLegalEffect => (
            "a statement, not a written notice: no legal effect".into(),
            vec![term, Citation::System(3)],
        ),
        Effect::NotWritten => (
            "not a written notice through the diplomatic channel: no legal effect".into(),
            vec![term, Citation::System(3)],
        ),
        Effect::NoticeCounts(p) => (
            notice_text(a, reg, p),
            vec![term, Citation::System(2), Citation::System(3)],
        ),
        Effect::DuplicateNotice => (
            "a notice is already pending: no further effect".into(),
            vec![term],
        ),
        Effect::Suspended => (
            "the effect of the pending notice is suspended; the boundary passes without termination"
                .into(),
            vec![term, Citation::System(4)],
        ),
        Effect::LiftedAsFreshNotice(p) => (
            format!("suspension lifted, counted as a fresh notice: {}", notice_text(a, reg, p)),
            vec![term, Citation::System(4)],
        ),
        Effect::LiftedTerminating => (
            "suspension lifted with immediate effect: the agreement terminates".into(),
            vec![term, Citation::System(4)],
        ),
        Effect::Withdrawn => (
            "the pending notice is withdrawn; terms renew as before".into(),
            vec![term, Citation::System(4)],
        ),
        Effect::NothingToAct => (
            "no pending notice to act on: no effect".into(),
            vec![term],
        ),
        Effect::NotTheirs { owner } => (
            format!(
                "the notice pending is {}'s: only the party that gave a notice suspends, lifts or withdraws it; no effect",
                reg.party_id(*owner)
            ),
            vec![term, Citation::System(4)],
        ),
        Effect::Amended(v) => (
            format!("amended by mutual written consent: version {v}"),
            vec![article(a, a.cites().amendment)],
        ),
        Effect::Terminated => (
            "terminated by mutual written consent".into(),
            vec![term, article(a, a.cites().survival)],
        ),
        Effect::AfterTermination => (
            "after termination: termination is final, no effect".into(),
            vec![Citation::System(5)],
        ),
        Effect::BeforeEntryIntoForce => (
            "before entry into force: no effect".into(),
            vec![article(a, a.cites().entry_into_force)],
        ),
    }
}

fn has_effect(e: &Effect) -> bool {
    !matches!(
        e,
        Effect::NoLegalEffect
            | Effect::NotWritten
            | Effect::DuplicateNotice
            | Effect::NothingToAct
            | Effect::NotTheirs { .. }
            | Effect::AfterTermination
            | Effect::BeforeEntryIntoForce
    )
}

impl Registry {
    /// What a recorded event of agreement `r` did, with the provisions applied.
    pub fn explain_effect(&self, r: AgreementRef, effect: &Effect) -> Reason {
        match self.agreement(r) {
            Some(a) => {
                let (text, cites) = effect_text(self, a, effect);
                Reason { text, cites }
            }
            None => Reason {
                text: "unknown agreement".into(),
                cites: vec![Citation::DenyByDefault],
            },
        }
    }

    /// The status of agreement `r` at `at`.
    pub fn status(&self, r: AgreementRef, at: Timestamp) -> Result<Status, TimeError> {
        let Some(a) = self.agreement(r) else {
            return Err(TimeError::OutOfRange("unknown agreement".into()));
        };
        let lc = a.lifecycle();
        let seg = lc.segment_at(at);
        let state = seg.map_or(State::NotYetInForce, |s| s.state);
        let in_force = lc.in_force_at(at);
        let term = if in_force {
            a.schedule().term_at(at)?
        } else {
            None
        };
        let version = a.version_at(at).map_or(1, |v| v.number);
        let next = match state {
            State::NotYetInForce => Some(Next::EntryIntoForce(lc.entry_into_force)),
            State::Terminated => None,
            _ => match seg
                .and_then(|s| s.notice)
                .filter(|_| state == State::NoticeGiven)
            {
                Some(p) => Some(Next::Termination(p.effective_at)),
                None => term
                    .map(|(_, _, end)| end)
                    .filter(|end| *end < Timestamp::MAX)
                    .map(Next::Renewal),
            },
        };
        let deciding_events: Vec<usize> = a
            .events()
            .iter()
            .enumerate()
            .filter(|(i, e)| e.at <= at && lc.effects.get(*i).is_some_and(has_effect))
            .map(|(i, _)| i)
            .collect();

        let mut reasons = Vec::new();
        let eif = lc.entry_into_force;
        if at < eif {
            reasons.push(Reason {
                text: format!("enters into force at {}", at_in(a, eif)),
                cites: vec![article(a, a.cites().entry_into_force), Citation::System(1)],
            });
        } else {
            reasons.push(Reason {
                text: format!("entered into force at {}", at_in(a, eif)),
                cites: vec![article(a, a.cites().entry_into_force), Citation::System(1)],
            });
        }
        for &i in &deciding_events {
            if let (Some(ev), Some(effect)) = (a.events().get(i), lc.effects.get(i)) {
                let (text, cites) = effect_text(self, a, effect);
                reasons.push(Reason {
                    text: format!(
                        "{} {} ({}): {text}",
                        at_in(a, ev.at),
                        ev.kind.as_str(),
                        ev.summary
                    ),
                    cites,
                });
            }
        }
        match state {
            State::Terminated => {
                reasons.push(Reason {
                    text: format!(
                        "terminated at {}: no new provision; information provided before stays protected",
                        lc.termination.map_or_else(|| "?".into(), |t| at_in(a, t))
                    ),
                    cites: vec![
                        article(a, a.cites().term),
                        article(a, a.cites().survival),
                        Citation::System(1),
                        Citation::System(5),
                    ],
                });
            }
            State::NotYetInForce => {}
            _ => {
                if let Some((n, start, end)) = term {
                    let renewed = if n == 0 {
                        "the first term".to_owned()
                    } else {
                        "renewed automatically: no notice was effective for its start".to_owned()
                    };
                    let to = if end == Timestamp::MAX {
                        "the end of the calendar (9999)".to_owned()
                    } else {
                        at_in(a, end)
                    };
                    reasons.push(Reason {
                        text: format!(
                            "term {} runs from {} to {to}; {renewed}",
                            n + 1,
                            at_in(a, start),
                        ),
                        cites: vec![article(a, a.cites().term), Citation::System(2)],
                    });
                } else if a.schedule().term == TermRule::Indefinite {
                    reasons.push(Reason {
                        text: "in force indefinitely until a notice takes effect".into(),
                        cites: vec![article(a, a.cites().term)],
                    });
                }
                match state {
                    State::NoticeGiven => {
                        if let Some(p) = seg.and_then(|s| s.notice) {
                            reasons.push(Reason {
                                text: format!(
                                    "a notice is pending: the agreement terminates at {} unless it is suspended or withdrawn first",
                                    at_in(a, p.effective_at)
                                ),
                                cites: vec![article(a, a.cites().term), Citation::System(3), Citation::System(4)],
                            });
                        }
                    }
                    State::NoticeSuspended => reasons.push(Reason {
                        text:
                            "a notice is pending but its effect is suspended; terms keep renewing"
                                .into(),
                        cites: vec![article(a, a.cites().term), Citation::System(4)],
                    }),
                    _ => {}
                }
            }
        }
        Ok(Status {
            agreement: r,
            at,
            in_force,
            state,
            version,
            term,
            next,
            deciding_events,
            reasons,
        })
    }

    /// Every term boundary and recorded event of agreement `r`, in order, up
    /// to `until` (inclusive; at most 1000 boundaries).
    pub fn timeline(
        &self,
        r: AgreementRef,
        until: Timestamp,
    ) -> Result<Vec<TimelineEntry>, TimeError> {
        let Some(a) = self.agreement(r) else {
            return Err(TimeError::OutOfRange("unknown agreement".into()));
        };
        let lc = a.lifecycle();
        let mut out = vec![TimelineEntry {
            at: lc.entry_into_force,
            kind: "entry_into_force".into(),
            event: None,
            text: format!("{} enters into force", a.id()),
            cites: vec![article(a, a.cites().entry_into_force)],
        }];
        for (i, ev) in a.events().iter().enumerate() {
            let effect = lc.effects.get(i).copied().unwrap_or(Effect::NoLegalEffect);
            let (text, cites) = effect_text(self, a, &effect);
            out.push(TimelineEntry {
                at: ev.at,
                kind: ev.kind.as_str().into(),
                event: Some(i),
                text: format!("{}: {text}", ev.summary),
                cites,
            });
        }
        if let TermRule::Renewing { .. } = a.schedule().term {
            for n in 1..=1000i64 {
                let Some(b) = a.schedule().boundary(n)? else {
                    break;
                };
                if b > until || lc.termination.is_some_and(|t| b > t) {
                    break;
                }
                if lc.termination == Some(b) {
                    break;
                }
                let notice_note = match lc.segment_at(b).and_then(|s| s.notice) {
                    Some(p) if lc.state_at(b) == State::NoticeSuspended && p.effective_at == b => {
                        " (the notice for this boundary is suspended)"
                    }
                    Some(_) if lc.state_at(b) == State::NoticeSuspended => {
                        " (a suspended notice is still pending)"
                    }
                    _ => "",
                };
                out.push(TimelineEntry {
                    at: b,
                    kind: "renewal".into(),
                    event: None,
                    text: format!("term {} begins: renewed automatically{notice_note}", n + 1),
                    cites: vec![article(a, a.cites().term), Citation::System(2)],
                });
            }
        }
        if let Some(t) = lc.termination {
            out.push(TimelineEntry {
                at: t,
                kind: "termination".into(),
                event: None,
                text: format!(
                    "{} terminates; information provided before stays protected",
                    a.id()
                ),
                cites: vec![article(a, a.cites().term), article(a, a.cites().survival)],
            });
        }
        out.retain(|e| e.at <= until || e.kind == "entry_into_force");
        // Stable: boundaries and events at the same instant keep event order after.
        out.sort_by_key(|e| (e.at, e.kind == "termination"));
        Ok(out)
    }
}
