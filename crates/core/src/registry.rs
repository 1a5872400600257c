//! The compiled set of topics, national policies and agreements that every
//! decision consults, with name resolution that lists what is known when a
//! name is not.

use jiff::Timestamp;

use crate::agreement::{Agreement, AgreementKind};
use crate::ids::{
    AgreementId, AgreementRef, LevelRef, PartyId, PartyRef, PartySet, TopicRef, TopicSet,
};
use crate::label::{EquivalentLabel, Label};
use crate::policy::{Level, Policy, Topics};

/// A name that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Unknown party.
    #[error("unknown party `{name}`; known parties: {known}")]
    Party {
        /// What was asked for.
        name: String,
        /// What exists.
        known: String,
    },
    /// Unknown level in a policy.
    #[error("unknown level `{name}` in policy `{policy}`; known levels: {known}")]
    Level {
        /// The policy searched.
        policy: String,
        /// What was asked for.
        name: String,
        /// What exists.
        known: String,
    },
    /// Unknown topic.
    #[error("unknown topic `{name}`; known topics: {known}")]
    Topic {
        /// What was asked for.
        name: String,
        /// What exists.
        known: String,
    },
    /// Unknown agreement.
    #[error("unknown agreement `{name}`; known agreements: {known}")]
    Agreement {
        /// What was asked for.
        name: String,
        /// What exists.
        known: String,
    },
    /// A label with no topic.
    #[error("a label needs at least one topic")]
    NoTopic,
}

/// Why a level has no equivalent in another party's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoEquivalent {
    /// The agreement does not include the party.
    NotAParty {
        /// The agreement.
        agreement: AgreementRef,
        /// The party that is not in it.
        party: PartyRef,
    },
    /// The level is not in the agreement's table.
    NotCovered {
        /// The agreement.
        agreement: AgreementRef,
        /// The level.
        level: LevelRef,
    },
    /// No agreement links the two parties.
    NoAgreement {
        /// The level's party.
        from: PartyRef,
        /// The other party.
        to: PartyRef,
    },
}

/// Topics, national policies and agreements, compiled for fast decisions.
#[derive(Debug, Clone)]
pub struct Registry {
    topics: Topics,
    policies: Vec<Policy>,
    agreements: Vec<Agreement>,
    /// `[a * n + b]` → bilateral agreements between parties a and b.
    bilateral: Vec<Vec<AgreementRef>>,
}

impl Registry {
    pub(crate) fn new(topics: Topics, policies: Vec<Policy>, agreements: Vec<Agreement>) -> Self {
        let n = policies.len();
        let mut bilateral = vec![Vec::new(); n * n];
        for (i, a) in agreements.iter().enumerate() {
            let Ok(r) = u16::try_from(i).map(AgreementRef) else {
                continue;
            };
            if a.kind() != AgreementKind::Bilateral {
                continue;
            }
            for p in a.parties() {
                for q in a.parties() {
                    if p != q
                        && let Some(slot) = bilateral.get_mut(p.index() * n + q.index())
                    {
                        slot.push(r);
                    }
                }
            }
        }
        Registry {
            topics,
            policies,
            agreements,
            bilateral,
        }
    }

    /// The topic taxonomy.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }
    /// Every national policy (one per party), in profile order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }
    /// Every agreement, in profile order.
    pub fn agreements(&self) -> &[Agreement] {
        &self.agreements
    }
    /// References to every agreement.
    pub fn agreement_refs(&self) -> impl Iterator<Item = AgreementRef> + '_ {
        (0..self.agreements.len()).filter_map(|i| u16::try_from(i).ok().map(AgreementRef))
    }

    /// Resolves a party code (case-insensitive).
    pub fn party(&self, name: &str) -> Result<PartyRef, LookupError> {
        let want = name.trim();
        self.policies
            .iter()
            .position(|p| p.party().as_str().eq_ignore_ascii_case(want))
            .and_then(|i| u16::try_from(i).ok())
            .map(PartyRef)
            .ok_or_else(|| LookupError::Party {
                name: want.to_owned(),
                known: join(self.policies.iter().map(|p| p.party().as_str())),
            })
    }
    /// The party's national policy.
    pub fn policy(&self, p: PartyRef) -> Option<&Policy> {
        self.policies.get(p.index())
    }
    /// The party's code, or `?` for a reference from another registry.
    pub fn party_id(&self, p: PartyRef) -> &str {
        self.policy(p).map_or("?", |x| x.party().as_str())
    }
    /// The code of a party as an owned id.
    pub fn party_code(&self, p: PartyRef) -> PartyId {
        PartyId::new(self.party_id(p))
    }
    /// Resolves a level name in a party's policy.
    pub fn level(&self, policy: PartyRef, name: &str) -> Result<LevelRef, LookupError> {
        let Some(pol) = self.policy(policy) else {
            return Err(LookupError::Party {
                name: format!("#{}", policy.index()),
                known: join(self.policies.iter().map(|p| p.party().as_str())),
            });
        };
        pol.find_level(name)
            .map(|level| LevelRef {
                policy: policy.0,
                level,
            })
            .ok_or_else(|| LookupError::Level {
                policy: pol.party().to_string(),
                name: name.trim().to_owned(),
                known: pol.level_names().join(", "),
            })
    }
    /// A level's record.
    pub fn level_info(&self, l: LevelRef) -> Option<&Level> {
        self.policy(l.policy())
            .and_then(|p| p.levels().get(usize::from(l.level)))
    }
    /// A level's native name, or `?`.
    pub fn level_name(&self, l: LevelRef) -> &str {
        self.level_info(l).map_or("?", |x| x.native.as_str())
    }
    /// A level's rank in its policy (0 for a foreign reference).
    #[inline]
    pub fn rank(&self, l: LevelRef) -> u16 {
        self.level_info(l).map_or(0, |x| x.rank)
    }
    /// Resolves a topic id.
    pub fn topic(&self, name: &str) -> Result<TopicRef, LookupError> {
        self.topics.find(name).ok_or_else(|| LookupError::Topic {
            name: name.trim().to_owned(),
            known: join(self.topics.list().iter().map(|t| t.id.as_str())),
        })
    }
    /// Resolves topic ids into a set (each topic itself, not its subtree).
    pub fn topic_set<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<TopicSet, LookupError> {
        let mut set = TopicSet::EMPTY;
        for n in names {
            set.insert(self.topic(n)?);
        }
        Ok(set)
    }
    /// Resolves need-to-know topic ids: each one with all its subtopics.
    pub fn need_to_know<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<TopicSet, LookupError> {
        let mut set = TopicSet::EMPTY;
        for n in names {
            set = set.union(&self.topics.subtree(self.topic(n)?));
        }
        Ok(set)
    }
    /// Resolves party codes into a set.
    pub fn party_set<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<PartySet, LookupError> {
        let mut set = PartySet::EMPTY;
        for n in names {
            set.insert(self.party(n)?);
        }
        Ok(set)
    }
    /// Resolves an agreement id.
    pub fn agreement_ref(&self, name: &str) -> Result<AgreementRef, LookupError> {
        let want = name.trim();
        self.agreements
            .iter()
            .position(|a| a.id().as_str() == want)
            .and_then(|i| u16::try_from(i).ok())
            .map(AgreementRef)
            .ok_or_else(|| LookupError::Agreement {
                name: want.to_owned(),
                known: join(self.agreements.iter().map(|a| a.id().as_str())),
            })
    }
    /// An agreement by reference.
    #[inline]
    pub fn agreement(&self, a: AgreementRef) -> Option<&Agreement> {
        self.agreements.get(a.index())
    }
    /// An agreement's id, or `?`.
    pub fn agreement_id(&self, a: AgreementRef) -> &str {
        self.agreement(a).map_or("?", |x| x.id().as_str())
    }
    /// The id of an agreement as an owned value.
    pub fn agreement_code(&self, a: AgreementRef) -> AgreementId {
        AgreementId::new(self.agreement_id(a))
    }

    /// Bilateral agreements between two parties (in profile order).
    #[inline]
    pub fn bilateral(&self, a: PartyRef, b: PartyRef) -> &[AgreementRef] {
        let n = self.policies.len();
        self.bilateral
            .get(a.index() * n + b.index())
            .map_or(&[], Vec::as_slice)
    }

    /// Every agreement of any kind that has both parties, in profile order.
    pub fn linking(&self, a: PartyRef, b: PartyRef) -> Vec<AgreementRef> {
        self.agreement_refs()
            .filter(|r| {
                self.agreement(*r)
                    .is_some_and(|x| x.has_party(a) && x.has_party(b))
            })
            .collect()
    }

    /// Builds a label from names, for callers that take user input.
    pub fn label(
        &self,
        originator: &str,
        level: &str,
        topics: &[&str],
        rel_to: Option<&[&str]>,
        created_at: Timestamp,
    ) -> Result<Label, LookupError> {
        let originator = self.party(originator)?;
        let level = self.level(originator, level)?;
        let topics = self.topic_set(topics.iter().copied())?;
        if topics.is_empty() {
            return Err(LookupError::NoTopic);
        }
        let rel_to = rel_to
            .map(|names| self.party_set(names.iter().copied()))
            .transpose()?;
        Ok(Label {
            level,
            originator,
            created_at,
            topics,
            rel_to,
            informative: Vec::new(),
        })
    }

    /// The level `to` marks an item of `level` with under `agreement`, using the
    /// version in effect at `at` (the latest version when `at` is `None`).
    pub fn equivalent(
        &self,
        level: LevelRef,
        to: PartyRef,
        agreement: AgreementRef,
        at: Option<Timestamp>,
    ) -> Result<LevelRef, NoEquivalent> {
        let Some(a) = self.agreement(agreement) else {
            return Err(NoEquivalent::NoAgreement {
                from: level.policy(),
                to,
            });
        };
        for p in [level.policy(), to] {
            if !a.has_party(p) {
                return Err(NoEquivalent::NotAParty {
                    agreement,
                    party: p,
                });
            }
        }
        if level.policy() == to {
            return a
                .latest()
                .and_then(|v| v.coverage.grade_of(level))
                .map(|_| level)
                .ok_or(NoEquivalent::NotCovered { agreement, level });
        }
        let version = match at {
            Some(t) => a.version_at(t),
            None => a.latest(),
        };
        version
            .and_then(|v| v.coverage.equivalent(level, to))
            .ok_or(NoEquivalent::NotCovered { agreement, level })
    }

    /// The equivalent level of `level` for `to` under any agreement linking the
    /// two parties (the first that covers it), with that agreement.
    pub fn equivalent_any(
        &self,
        level: LevelRef,
        to: PartyRef,
        at: Option<Timestamp>,
    ) -> Result<(AgreementRef, LevelRef), NoEquivalent> {
        let links = self.linking(level.policy(), to);
        let mut first_err = None;
        for a in links {
            match self.equivalent(level, to, a, at) {
                Ok(l) => return Ok((a, l)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(NoEquivalent::NoAgreement {
            from: level.policy(),
            to,
        }))
    }

    /// The receiver's equivalent label for an item labelled `label` (GSOMIA.md
    /// rule 7): same originator, time and categories, the receiver's level.
    pub fn mark_received(
        &self,
        label: &Label,
        receiver: PartyRef,
        agreement: Option<AgreementRef>,
        at: Option<Timestamp>,
    ) -> Result<EquivalentLabel, NoEquivalent> {
        let (agreement, level) = match agreement {
            Some(a) => (a, self.equivalent(label.level, receiver, a, at)?),
            None => self.equivalent_any(label.level, receiver, at)?,
        };
        Ok(EquivalentLabel {
            label: Label {
                level,
                ..label.clone()
            },
            agreement: Some(agreement),
        })
    }
}

/// Why a what-if branch could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchError {
    /// No such agreement or event.
    #[error("agreement `{agreement}` has no event #{event}")]
    NoSuchEvent {
        /// The agreement.
        agreement: String,
        /// The 1-based event number asked for.
        event: usize,
    },
    /// Amendments change terms, not just the lifecycle.
    #[error("event #{0} is an amendment; branches drop lifecycle events only")]
    Amendment(usize),
    /// The lifecycle could not be replayed.
    #[error(transparent)]
    Time(#[from] crate::time::TimeError),
}

impl Registry {
    /// A what-if copy of this registry in which one recorded event of one
    /// agreement (0-based, in time order) never happened; the lifecycle is
    /// replayed without it.
    pub fn without_event(
        &self,
        agreement: AgreementRef,
        event: usize,
    ) -> Result<Registry, BranchError> {
        let mut out = self.clone();
        let no_such = || BranchError::NoSuchEvent {
            agreement: self.agreement_id(agreement).to_owned(),
            event: event + 1,
        };
        let a = out
            .agreements
            .get_mut(agreement.index())
            .ok_or_else(no_such)?;
        let ev = a.events.get(event).ok_or_else(no_such)?;
        if ev.kind == crate::agreement::EventKind::Amendment {
            return Err(BranchError::Amendment(event + 1));
        }
        a.events.remove(event);
        a.lifecycle = crate::agreement::Lifecycle::compute(&a.schedule, &a.events)?;
        Ok(out)
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an agreement event entered at a node could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The acting party is not a party to the agreement.
    #[error("{party} is not a party to `{agreement}`")]
    NotAParty {
        /// The acting party.
        party: String,
        /// The agreement.
        agreement: String,
    },
    /// Amendments and terminations by mutual consent need every party's act.
    #[error(
        "a {0} is a mutual act of all parties; it is recorded by updating the agreement profile on every node"
    )]
    MutualAct(&'static str),
    /// Events are recorded in time order.
    #[error("the last recorded event of `{agreement}` is at {last}; a new event cannot precede it")]
    OutOfOrder {
        /// The agreement.
        agreement: String,
        /// The instant of its last event.
        last: Timestamp,
    },
    /// The event would change nothing (the reason says why).
    #[error("no effect: {0}")]
    NoEffect(String),
    /// An act on a notice another party gave (rule 4).
    #[error("not recorded: {reason}")]
    NotTheirs {
        /// The party whose notice it is.
        owner: String,
        /// The reason, citing the article.
        reason: String,
    },
    /// The lifecycle could not be replayed.
    #[error(transparent)]
    Time(#[from] crate::time::TimeError),
}

impl Registry {
    /// This registry with one more lifecycle event of `agreement` recorded
    /// (a notice, a suspension or its lifting, a withdrawal, an
    /// announcement), its lifecycle replayed, and the event's effect
    /// explained. Refused when the actor is not a party, the event precedes
    /// the last recorded one, it is a mutual act, or it has no effect
    /// (announcements excepted: they are recorded as statements).
    pub fn record_event(
        &self,
        agreement: AgreementRef,
        event: crate::agreement::Event,
    ) -> Result<(Registry, crate::reason::Reason), RecordError> {
        use crate::agreement::{Effect, EventKind};
        let name = self.agreement_id(agreement).to_owned();
        let current = self
            .agreement(agreement)
            .ok_or_else(|| RecordError::NotAParty {
                party: "?".into(),
                agreement: name.clone(),
            })?;
        match event.kind {
            EventKind::Amendment => return Err(RecordError::MutualAct("amendment")),
            EventKind::Termination => {
                return Err(RecordError::MutualAct("termination by mutual consent"));
            }
            _ => {}
        }
        if let Some(by) = event.by
            && !current.has_party(by)
        {
            return Err(RecordError::NotAParty {
                party: self.party_id(by).to_owned(),
                agreement: name,
            });
        }
        if let Some(last) = current.events().last()
            && event.at < last.at
        {
            return Err(RecordError::OutOfOrder {
                agreement: name,
                last: last.at,
            });
        }
        let mut out = self.clone();
        let index = current.events().len();
        let kind = event.kind;
        let a = out
            .agreements
            .get_mut(agreement.index())
            .ok_or_else(|| RecordError::NoEffect("unknown agreement".into()))?;
        a.events.push(event);
        a.lifecycle = crate::agreement::Lifecycle::compute(&a.schedule, &a.events)?;
        let effect = a
            .lifecycle
            .effects
            .get(index)
            .copied()
            .unwrap_or(Effect::NoLegalEffect);
        let reason = out.explain_effect(agreement, &effect);
        if let Effect::NotTheirs { owner } = effect {
            return Err(RecordError::NotTheirs {
                owner: out.party_id(owner).to_owned(),
                reason: reason.to_string(),
            });
        }
        let counts = !matches!(
            effect,
            Effect::NotWritten
                | Effect::DuplicateNotice
                | Effect::NothingToAct
                | Effect::AfterTermination
                | Effect::BeforeEntryIntoForce
        );
        if !counts || (effect == Effect::NoLegalEffect && kind != EventKind::Announcement) {
            return Err(RecordError::NoEffect(reason.to_string()));
        }
        Ok((out, reason))
    }

    /// A copy of this registry as it stood before `at`: every lifecycle
    /// event at or after `at` is dropped (amendments are kept) and each
    /// lifecycle replayed. Nodes that enter history live start from it.
    pub fn history_before(&self, at: Timestamp) -> Result<Registry, crate::time::TimeError> {
        let mut out = self.clone();
        for a in &mut out.agreements {
            let before = a.events.len();
            a.events
                .retain(|e| e.at < at || e.kind == crate::agreement::EventKind::Amendment);
            if a.events.len() != before {
                a.lifecycle = crate::agreement::Lifecycle::compute(&a.schedule, &a.events)?;
            }
        }
        Ok(out)
    }
}
