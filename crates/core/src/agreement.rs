//! Agreements: what they cover, and their lifecycle as a pure function of
//! their recorded events.
//!
//! An agreement's history (notices, suspensions, withdrawals, amendments) is
//! data. [`Lifecycle::compute`] replays it once, when the registry is built,
//! into a list of state segments and one termination instant; decisions then
//! only compare instants. The rules applied are those of GSOMIA.md §7:
//!
//! - rule 1: in force at T ⇔ entry into force ≤ T < termination;
//! - rule 2: term n runs [EIF + n years, EIF + n+1 years) and is renewed at each
//!   boundary unless a notice is effective for it;
//! - rule 3: a written notice through the diplomatic channel counts for a
//!   boundary only if given by its deadline, else for the next boundary;
//! - rule 4: a notice can be suspended or withdrawn before its boundary; what
//!   lifting a suspension does is a setting;
//! - rule 5: termination is final; nothing after it revives the agreement.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::ids::{AgreementId, AgreementRef, LevelRef, PartyRef, PartySet, TopicRef, TopicSet};
use crate::time::{self, TimeError};

/// What an agreement is for, which decides how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    /// A security agreement between parties: direct provision between them.
    Bilateral,
    /// An arrangement with a hub that relays between members (TISA).
    HubArrangement,
    /// A real-time warning link (launch point, trajectory, impact point).
    WarningLink,
}

impl AgreementKind {
    /// The name used in profiles and output.
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementKind::Bilateral => "bilateral",
            AgreementKind::HubArrangement => "hub_arrangement",
            AgreementKind::WarningLink => "warning_link",
        }
    }
}

/// How terms run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermRule {
    /// Terms of this many years, renewed automatically at each boundary.
    Renewing {
        /// Length of a term in years (at least 1).
        years: u32,
    },
    /// No terms: in force until a notice takes effect after its period.
    Indefinite,
}

/// From which day the notice period is counted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountFrom {
    /// From the last full day of the term (the 2019 practice: 2019-08-24 for
    /// a boundary at 2019-11-23).
    LastFullDay,
    /// From the boundary day itself (would give 2019-08-25).
    Boundary,
}

/// What lifting a suspended notice does (GSOMIA.md rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftSuspension {
    /// The lift counts as a fresh notice given at that instant.
    FreshNotice,
    /// The agreement terminates at the instant of the lift.
    Immediate,
}

/// Whether a recipient may release onward to a third party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdParty {
    /// Only with the originator's prior written consent.
    WithConsent,
    /// Never.
    Never,
}

/// How a hub relays between members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relay {
    /// Each relay needs the originator's consent for that recipient.
    WithOriginatorConsent,
    /// The arrangement itself is the originator's consent (warning links).
    StandingConsent,
}

/// The notice rule of an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeRule {
    /// Days of notice.
    pub days: u32,
    /// From which day they are counted back.
    pub count_from: CountFrom,
    /// What lifting a suspension does.
    pub lift_suspension: LiftSuspension,
    /// Whether a notice must be written and given through the diplomatic channel.
    pub written_diplomatic: bool,
}

/// One numbered provision of an agreement, cited by decisions.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The citation id (`art 21(3)`).
    pub id: String,
    /// What it says, in our words.
    pub text: String,
}

/// Which rule an agreement cites for each kind of check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cites {
    /// Entry into force.
    pub entry_into_force: u16,
    /// Term, renewal, notice and termination.
    pub term: u16,
    /// Levels covered and their equivalence.
    pub coverage: u16,
    /// Marking received items with the equivalent level.
    pub marking: u16,
    /// Subject matter in scope.
    pub scope: u16,
    /// Release to third parties.
    pub third_party: u16,
    /// Access inside the receiving party.
    pub access: u16,
    /// Protection surviving termination.
    pub survival: u16,
    /// Amendments.
    pub amendment: u16,
    /// Hub relay (hub arrangements and warning links).
    pub relay: Option<u16>,
}

/// One grade of equivalent levels (a row of the agreement's table).
#[derive(Debug, Clone)]
pub struct Grade {
    /// Common name (`SECRET`).
    pub name: String,
    /// For each party of the agreement, the levels in this grade; the first is
    /// the level a received item is marked with.
    pub levels: Vec<(PartyRef, Vec<LevelRef>)>,
}

/// The table of equivalent levels of one version of an agreement.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub(crate) grades: Vec<Grade>,
    /// `[policy][level]` → grade index.
    pub(crate) grade_of: Vec<Vec<Option<u8>>>,
    /// `[grade][party]` → the level a party marks received items of that grade with.
    pub(crate) receive_as: Vec<Vec<Option<LevelRef>>>,
}

impl Coverage {
    /// The grades, in profile order.
    pub fn grades(&self) -> &[Grade] {
        &self.grades
    }
    /// The grade a level belongs to, if covered.
    pub fn grade_of(&self, level: LevelRef) -> Option<usize> {
        self.grade_of
            .get(usize::from(level.policy))
            .and_then(|v| v.get(usize::from(level.level)))
            .copied()
            .flatten()
            .map(usize::from)
    }
    /// The level `party` marks items of `grade` with.
    pub fn receive_as(&self, grade: usize, party: PartyRef) -> Option<LevelRef> {
        self.receive_as
            .get(grade)
            .and_then(|v| v.get(party.index()))
            .copied()
            .flatten()
    }
    /// The level `party` marks an item of `level` with, if both are covered.
    pub fn equivalent(&self, level: LevelRef, party: PartyRef) -> Option<LevelRef> {
        self.grade_of(level).and_then(|g| self.receive_as(g, party))
    }
}

/// One version of an agreement's terms (amendments make new versions).
#[derive(Debug, Clone)]
pub struct Version {
    /// 1 for the original text, then one more per amendment.
    pub number: u32,
    /// When this version took effect.
    pub from: Timestamp,
    /// The topics in scope, as written.
    pub topic_roots: Vec<TopicRef>,
    /// The topics in scope, with all descendants.
    pub topics: TopicSet,
    /// Levels covered.
    pub coverage: Coverage,
}

/// What kind of recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A public statement: no legal effect.
    Announcement,
    /// A notice of termination.
    Notice,
    /// Suspension of the effect of a pending notice.
    SuspendNotice,
    /// Lifting a suspension.
    LiftSuspension,
    /// Withdrawal of a pending (or suspended) notice.
    WithdrawNotice,
    /// An amendment by mutual written consent.
    Amendment,
    /// Termination by mutual written consent, effective at the event.
    Termination,
}

impl EventKind {
    /// The name used in profiles and output.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Announcement => "announcement",
            EventKind::Notice => "notice",
            EventKind::SuspendNotice => "suspend_notice",
            EventKind::LiftSuspension => "lift_suspension",
            EventKind::WithdrawNotice => "withdraw_notice",
            EventKind::Amendment => "amendment",
            EventKind::Termination => "termination",
        }
    }

    /// The kind named `name` (as in profiles).
    pub fn parse(name: &str) -> Option<EventKind> {
        [
            EventKind::Announcement,
            EventKind::Notice,
            EventKind::SuspendNotice,
            EventKind::LiftSuspension,
            EventKind::WithdrawNotice,
            EventKind::Amendment,
            EventKind::Termination,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One recorded event of an agreement's history.
#[derive(Debug, Clone)]
pub struct Event {
    /// When it happened.
    pub at: Timestamp,
    /// What it was.
    pub kind: EventKind,
    /// The party that acted (none for mutual acts).
    pub by: Option<PartyRef>,
    /// For a notice: whether it was written and given through the diplomatic channel.
    pub written_diplomatic: bool,
    /// A short description.
    pub summary: String,
    /// For an amendment: the version it creates.
    pub version: Option<u32>,
}

/// The state of an agreement at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before entry into force.
    NotYetInForce,
    /// In force with no pending notice.
    InForce,
    /// In force, with a notice of termination pending.
    NoticeGiven,
    /// In force, with a notice whose effect is suspended.
    NoticeSuspended,
    /// Terminated (final).
    Terminated,
}

impl State {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotYetInForce => "not_yet_in_force",
            State::InForce => "in_force",
            State::NoticeGiven => "notice_given",
            State::NoticeSuspended => "notice_suspended",
            State::Terminated => "terminated",
        }
    }
    /// Whether information may be newly provided in this state.
    pub fn in_force(self) -> bool {
        matches!(
            self,
            State::InForce | State::NoticeGiven | State::NoticeSuspended
        )
    }
}

/// A pending notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingNotice {
    /// The event that gave it (for a lift counted as a fresh notice: the lift).
    pub event: usize,
    /// Who gave it.
    pub by: Option<PartyRef>,
    /// When it was given.
    pub given_at: Timestamp,
    /// The instant it terminates the agreement, unless suspended or withdrawn.
    pub effective_at: Timestamp,
    /// The last day it could have been given for that boundary (renewing terms).
    pub deadline: Option<Date>,
    /// A boundary it was too late for (it then applies to the next one).
    pub missed: Option<Timestamp>,
}

/// A party's notice as it stands: given, and perhaps suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The notice.
    pub notice: PendingNotice,
    /// Whether its effect is suspended.
    pub suspended: bool,
}

/// A stretch of time with one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First instant of the stretch.
    pub from: Timestamp,
    /// The state throughout.
    pub state: State,
    /// The notice that decides the state: the active notice taking effect
    /// first, or else a suspended one.
    pub notice: Option<PendingNotice>,
    /// Every party's notice held during the stretch (each party has at most one).
    pub held: Vec<Held>,
    /// The event that began the stretch (none for entry into force).
    pub event: Option<usize>,
}

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: a statement without legal effect.
    NoLegalEffect,
    /// A notice that does not count: not written or not via the diplomatic channel.
    NotWritten,
    /// A notice counted for a boundary.
    NoticeCounts(PendingNotice),
    /// A notice while the same party's own notice is pending: no further effect.
    DuplicateNotice,
    /// A suspension of the pending notice.
    Suspended,
    /// A lift treated as a fresh notice.
    LiftedAsFreshNotice(PendingNotice),
    /// A lift that terminated the agreement at once.
    LiftedTerminating,
    /// A withdrawal of the pending notice.
    Withdrawn,
    /// An act that needs a pending (or suspended) notice when there is none.
    NothingToAct,
    /// An act on a notice another party gave: only the party that gave a
    /// notice suspends, lifts or withdraws it (rule 4). No effect; a profile
    /// holding one is refused, and so is a node asked to record one.
    NotTheirs {
        /// The party whose notice it would act on.
        owner: PartyRef,
    },
    /// An amendment creating a version.
    Amended(u32),
    /// Termination by mutual consent.
    Terminated,
    /// An event at or after termination: termination is final.
    AfterTermination,
    /// An event before entry into force that needs the agreement in force.
    BeforeEntryIntoForce,
}

/// The replayed history of an agreement.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Entry into force.
    pub entry_into_force: Timestamp,
    /// The termination instant, if the recorded events lead to one.
    pub termination: Option<Timestamp>,
    /// Consecutive state segments, the first starting at the earliest instant.
    pub segments: Vec<Segment>,
    /// One effect per event, in event order.
    pub effects: Vec<Effect>,
}

/// What the lifecycle needs to know of an agreement.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Entry into force.
    pub entry_into_force: Timestamp,
    /// How terms run.
    pub term: TermRule,
    /// How notices work.
    pub notice: NoticeRule,
    /// The zone in which dates and years are counted.
    pub zone: TimeZone,
}

impl Schedule {
    /// The n-th term boundary (n ≥ 1) for renewing terms.
    pub fn boundary(&self, n: i64) -> Result<Option<Timestamp>, TimeError> {
        match self.term {
            TermRule::Renewing { years } => time::add_years(
                self.entry_into_force,
                n.saturating_mul(i64::from(years)),
                &self.zone,
            )
            .map(Some),
            TermRule::Indefinite => Ok(None),
        }
    }

    /// The first instant at which a notice for `boundary` is late.
    pub fn deadline_end(&self, boundary: Timestamp) -> Result<(Date, Timestamp), TimeError> {
        let day = time::date_in(boundary, &self.zone);
        let back = i64::from(self.notice.days)
            + match self.notice.count_from {
                CountFrom::LastFullDay => 1,
                CountFrom::Boundary => 0,
            };
        let deadline = time::add_days(day, -back)?;
        let end = time::start_of_day(time::add_days(deadline, 1)?, &self.zone)?;
        Ok((deadline, end))
    }

    /// The term containing `at`: (number from 0, start, end). `None` before
    /// entry into force and for indefinite agreements.
    pub fn term_at(&self, at: Timestamp) -> Result<Option<(i64, Timestamp, Timestamp)>, TimeError> {
        let TermRule::Renewing { years } = self.term else {
            return Ok(None);
        };
        if at < self.entry_into_force || years == 0 {
            return Ok(None);
        }
        let zone = &self.zone;
        let span_years = i64::from(time::date_in(at, zone).year())
            - i64::from(time::date_in(self.entry_into_force, zone).year());
        let mut n = (span_years / i64::from(years)).max(0);
        // The estimate is off by at most one term either way.
        loop {
            let start = self.boundary_or_eif(n)?;
            if start > at && n > 0 {
                n -= 1;
                continue;
            }
            let end = match self.boundary_or_eif(n + 1) {
                Ok(end) => end,
                // The next boundary is past the end of the calendar (9999):
                // this term runs to the end of time as far as anyone can ask.
                Err(_) if start <= at => return Ok(Some((n, start, Timestamp::MAX))),
                Err(e) => return Err(e),
            };
            if end <= at {
                n += 1;
                continue;
            }
            return Ok(Some((n, start, end)));
        }
    }

    fn boundary_or_eif(&self, n: i64) -> Result<Timestamp, TimeError> {
        if n == 0 {
            return Ok(self.entry_into_force);
        }
        Ok(self.boundary(n)?.unwrap_or(self.entry_into_force))
    }

    /// Where a notice given at `given_at` takes effect (rule 3).
    pub fn notice_effect(
        &self,
        event: usize,
        by: Option<PartyRef>,
        given_at: Timestamp,
    ) -> Result<PendingNotice, TimeError> {
        match self.term {
            TermRule::Indefinite => {
                let day = time::date_in(given_at, &self.zone);
                let effective_at = if self.notice.days == 0 {
                    given_at
                } else {
                    // The notice runs for whole days: termination at the start of
                    // the day `days` after the day it was given.
                    time::start_of_day(
                        time::add_days(day, i64::from(self.notice.days))?,
                        &self.zone,
                    )?
                };
                Ok(PendingNotice {
                    event,
                    by,
                    given_at,
                    effective_at,
                    deadline: None,
                    missed: None,
                })
            }
            TermRule::Renewing { .. } => {
                let from = given_at.max(self.entry_into_force);
                let mut n = match self.term_at(from)? {
                    Some((n, _, _)) => n + 1,
                    None => 1,
                };
                let mut missed = None;
                loop {
                    let Some(boundary) = self.boundary(n)? else {
                        return Err(TimeError::OutOfRange(given_at.to_string()));
                    };
                    let (deadline, end) = self.deadline_end(boundary)?;
                    if given_at < end {
                        return Ok(PendingNotice {
                            event,
                            by,
                            given_at,
                            effective_at: boundary,
                            deadline: Some(deadline),
                            missed,
                        });
                    }
                    missed.get_or_insert(boundary);
                    n += 1;
                }
            }
        }
    }
}

/// The notices held during a replay, one per party at most.
#[derive(Debug, Default)]
struct Notices(Vec<(Option<PartyRef>, Held)>);

impl Notices {
    fn of(&self, by: Option<PartyRef>) -> Option<Held> {
        self.0.iter().find(|(p, _)| *p == by).map(|(_, h)| *h)
    }
    fn set(&mut self, by: Option<PartyRef>, held: Held) {
        self.0.retain(|(p, _)| *p != by);
        self.0.push((by, held));
    }
    fn remove(&mut self, by: Option<PartyRef>) {
        self.0.retain(|(p, _)| *p != by);
    }
    fn suspend(&mut self, by: Option<PartyRef>) {
        for (p, h) in &mut self.0 {
            if *p == by {
                h.suspended = true;
            }
        }
    }
    /// Another party's notice (active or suspended), if any.
    fn other(&self, by: Option<PartyRef>, suspended: Option<bool>) -> Option<PartyRef> {
        self.0
            .iter()
            .filter(|(p, h)| *p != by && suspended.is_none_or(|s| h.suspended == s))
            .find_map(|(p, _)| *p)
    }
    /// The active notice that takes effect first.
    fn first_active(&self) -> Option<PendingNotice> {
        self.0
            .iter()
            .filter(|(_, h)| !h.suspended)
            .map(|(_, h)| h.notice)
            .min_by_key(|n| n.effective_at)
    }
    fn held(&self) -> Vec<Held> {
        self.0.iter().map(|(_, h)| *h).collect()
    }
    /// The state these notices give, and the notice that decides it.
    fn state(&self) -> (State, Option<PendingNotice>) {
        match self.first_active() {
            Some(n) => (State::NoticeGiven, Some(n)),
            None => match self.0.last() {
                Some((_, h)) => (State::NoticeSuspended, Some(h.notice)),
                None => (State::InForce, None),
            },
        }
    }
}

impl Lifecycle {
    /// Replays `events` (sorted by instant) under `schedule`. Notices are
    /// acts of a party: each party's are kept apart, only the party that
    /// gave a notice suspends, lifts or withdraws it, and the agreement
    /// ends at the first boundary an active notice of any party is
    /// effective for, whatever the other parties do with theirs.
    pub fn compute(schedule: &Schedule, events: &[Event]) -> Result<Lifecycle, TimeError> {
        let eif = schedule.entry_into_force;
        let mut segments = vec![
            Segment {
                from: Timestamp::MIN,
                state: State::NotYetInForce,
                notice: None,
                held: Vec::new(),
                event: None,
            },
            Segment {
                from: eif,
                state: State::InForce,
                notice: None,
                held: Vec::new(),
                event: None,
            },
        ];
        let mut effects = Vec::with_capacity(events.len());
        let mut notices = Notices::default();
        let mut termination: Option<Timestamp> = None;
        let terminated_segment = |from: Timestamp| Segment {
            from,
            state: State::Terminated,
            notice: None,
            held: Vec::new(),
            event: None,
        };

        for (i, ev) in events.iter().enumerate() {
            if termination.is_none()
                && let Some(p) = notices.first_active().filter(|p| p.effective_at <= ev.at)
            {
                termination = Some(p.effective_at);
                segments.push(terminated_segment(p.effective_at));
            }
            if termination.is_some_and(|t| ev.at >= t) {
                effects.push(Effect::AfterTermination);
                continue;
            }
            let before_eif = ev.at < eif;
            let own = notices.of(ev.by);
            let effect = match ev.kind {
                EventKind::Announcement => Effect::NoLegalEffect,
                EventKind::Amendment => Effect::Amended(ev.version.unwrap_or(0)),
                _ if before_eif => Effect::BeforeEntryIntoForce,
                EventKind::Notice => {
                    if schedule.notice.written_diplomatic && !ev.written_diplomatic {
                        Effect::NotWritten
                    } else if own.is_some_and(|h| !h.suspended) {
                        Effect::DuplicateNotice
                    } else {
                        let p = schedule.notice_effect(i, ev.by, ev.at)?;
                        notices.set(
                            ev.by,
                            Held {
                                notice: p,
                                suspended: false,
                            },
                        );
                        Effect::NoticeCounts(p)
                    }
                }
                EventKind::SuspendNotice => match own {
                    Some(h) if !h.suspended => {
                        notices.suspend(ev.by);
                        Effect::Suspended
                    }
                    Some(_) => Effect::NothingToAct,
                    None => match notices.other(ev.by, Some(false)) {
                        Some(owner) => Effect::NotTheirs { owner },
                        None => Effect::NothingToAct,
                    },
                },
                EventKind::LiftSuspension => match own {
                    Some(h) if h.suspended => match schedule.notice.lift_suspension {
                        LiftSuspension::Immediate => {
                            notices.remove(ev.by);
                            termination = Some(ev.at);
                            Effect::LiftedTerminating
                        }
                        LiftSuspension::FreshNotice => {
                            let p = schedule.notice_effect(i, ev.by, ev.at)?;
                            notices.set(
                                ev.by,
                                Held {
                                    notice: p,
                                    suspended: false,
                                },
                            );
                            Effect::LiftedAsFreshNotice(p)
                        }
                    },
                    Some(_) => Effect::NothingToAct,
                    None => match notices.other(ev.by, Some(true)) {
                        Some(owner) => Effect::NotTheirs { owner },
                        None => Effect::NothingToAct,
                    },
                },
                EventKind::WithdrawNotice => match own {
                    Some(_) => {
                        notices.remove(ev.by);
                        Effect::Withdrawn
                    }
                    None => match notices.other(ev.by, None) {
                        Some(owner) => Effect::NotTheirs { owner },
                        None => Effect::NothingToAct,
                    },
                },
                EventKind::Termination => {
                    notices = Notices::default();
                    termination = Some(ev.at);
                    Effect::Terminated
                }
            };
            let changes_state = matches!(
                effect,
                Effect::NoticeCounts(_)
                    | Effect::Suspended
                    | Effect::LiftedAsFreshNotice(_)
                    | Effect::LiftedTerminating
                    | Effect::Withdrawn
                    | Effect::Terminated
            );
            if changes_state {
                let (state, notice, held) = match termination {
                    Some(_) => (State::Terminated, None, Vec::new()),
                    None => {
                        let (state, notice) = notices.state();
                        (state, notice, notices.held())
                    }
                };
                segments.push(Segment {
                    from: ev.at,
                    state,
                    notice,
                    held,
                    event: Some(i),
                });
            }
            effects.push(effect);
        }
        if termination.is_none()
            && let Some(p) = notices.first_active()
        {
            termination = Some(p.effective_at);
            segments.push(terminated_segment(p.effective_at));
        }
        // Segments are pushed in time order; a notice's termination may equal an
        // event instant, in which case the later segment wins (stable order kept).
        Ok(Lifecycle {
            entry_into_force: eif,
            termination,
            segments,
            effects,
        })
    }

    /// Whether the agreement is in force at `at` (rule 1). Half-open: in force
    /// at the last nanosecond before termination, not at termination.
    #[inline]
    pub fn in_force_at(&self, at: Timestamp) -> bool {
        at >= self.entry_into_force && self.termination.is_none_or(|t| at < t)
    }

    /// The segment containing `at`.
    pub fn segment_at(&self, at: Timestamp) -> Option<&Segment> {
        let idx = self.segments.partition_point(|s| s.from <= at);
        idx.checked_sub(1).and_then(|i| self.segments.get(i))
    }

    /// The state at `at`.
    pub fn state_at(&self, at: Timestamp) -> State {
        self.segment_at(at)
            .map_or(State::NotYetInForce, |s| s.state)
    }
}

/// A compiled agreement.
#[derive(Debug, Clone)]
pub struct Agreement {
    pub(crate) id: AgreementId,
    pub(crate) title: String,
    pub(crate) kind: AgreementKind,
    pub(crate) parties: Vec<PartyRef>,
    pub(crate) party_set: PartySet,
    pub(crate) hub: Option<PartyRef>,
    pub(crate) zone_name: String,
    pub(crate) signed: Option<Date>,
    pub(crate) schedule: Schedule,
    pub(crate) third_party: ThirdParty,
    pub(crate) relay: Option<Relay>,
    pub(crate) protection: Vec<AgreementRef>,
    pub(crate) data_elements: Vec<String>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) cites: Cites,
    pub(crate) events: Vec<Event>,
    pub(crate) versions: Vec<Version>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) notes: Vec<String>,
}

impl Agreement {
    /// The agreement's id.
    pub fn id(&self) -> &AgreementId {
        &self.id
    }
    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// What kind of agreement it is.
    pub fn kind(&self) -> AgreementKind {
        self.kind
    }
    /// Its parties.
    pub fn parties(&self) -> &[PartyRef] {
        &self.parties
    }
    /// Whether `p` is a party.
    pub fn has_party(&self, p: PartyRef) -> bool {
        self.party_set.contains(p)
    }
    /// The relaying hub, for hub arrangements and warning links.
    pub fn hub(&self) -> Option<PartyRef> {
        self.hub
    }
    /// The zone in which its dates are read and shown.
    pub fn zone(&self) -> &TimeZone {
        &self.schedule.zone
    }
    /// The zone's IANA name.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
    /// The day of signature, where recorded.
    pub fn signed(&self) -> Option<Date> {
        self.signed
    }
    /// Entry into force, terms and notice rule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    /// Whether onward release to third parties is possible.
    pub fn third_party(&self) -> ThirdParty {
        self.third_party
    }
    /// How a hub relays.
    pub fn relay(&self) -> Option<Relay> {
        self.relay
    }
    /// The agreements that protect what this arrangement relays.
    pub fn protection(&self) -> &[AgreementRef] {
        &self.protection
    }
    /// The data elements a warning link carries.
    pub fn data_elements(&self) -> &[String] {
        &self.data_elements
    }
    /// Its numbered provisions.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// Which provision it cites for each check.
    pub fn cites(&self) -> &Cites {
        &self.cites
    }
    /// The recorded events, in time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// The versions, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }
    /// The replayed history.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }
    /// Remarks on the profile (for example facts not verified).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    /// The citation id of one of its rules.
    pub fn rule_id(&self, rule: u16) -> &str {
        self.rules
            .get(usize::from(rule))
            .map_or("?", |r| r.id.as_str())
    }
    /// The version in effect at `at` (the first version before it took effect).
    #[inline]
    pub fn version_at(&self, at: Timestamp) -> Option<&Version> {
        let idx = self.versions.partition_point(|v| v.from <= at);
        self.versions.get(idx.saturating_sub(1))
    }
    /// The latest version.
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }
}
