//! Profiles: the TOML files that describe topics, national policies and
//! agreements, and their compilation into a [`Registry`].
//!
//! Parsing is strict (unknown fields are errors) and every error names the
//! source, line and column. Compilation is all or nothing: a [`Builder`]
//! either yields a complete registry or the list of everything wrong with it.
//! The file format is documented in `docs/profiles.md`.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use toml::Spanned;

use crate::agreement::{
    Agreement, AgreementKind, Cites, CountFrom, Coverage, Event, EventKind, Grade, Lifecycle,
    LiftSuspension, NoticeRule, Relay, Rule, Schedule, TermRule, ThirdParty, Version,
};
use crate::consent::{Consent, ConsentScope};
use crate::ids::{
    AgreementId, AgreementRef, ItemId, LevelRef, MAX_PARTIES, MAX_TOPICS, PartyId, PartyRef,
    PartySet, TopicId, TopicRef, TopicSet,
};
use crate::policy::{Level, Policy, Topic, Topics, normalize_level_name};
use crate::registry::Registry;
use crate::time::{self, InstantOrDate};

/// One problem in one profile source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The source's name (a file path, or `shipped:agreements/jp-kr-2016.toml`).
    pub source: String,
    /// 1-based line, 0 when the problem has no position.
    pub line: usize,
    /// 1-based column, 0 when the problem has no position.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.source, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.source, self.message)
        }
    }
}

/// Everything wrong with a set of profiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.0 {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A profile source: its name (for messages) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it came from.
    pub name: String,
    /// The TOML text.
    pub text: String,
}

impl Source {
    pub(crate) fn error_at(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ProfileError {
        let (line, column) = line_col(&self.text, span.start);
        ProfileError {
            source: self.name.clone(),
            line,
            column,
            message: message.into(),
        }
    }
    pub(crate) fn error(&self, message: impl Into<String>) -> ProfileError {
        ProfileError {
            source: self.name.clone(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}

// ---------------------------------------------------------------------------
// Raw file shapes.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopics {
    topic: Vec<RawTopic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    id: Spanned<String>,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    party: Spanned<String>,
    name: String,
    zone: Spanned<String>,
    level: Vec<RawLevel>,
    #[serde(default)]
    contractors: Option<RawContractors>,
}

/// `[contractors]`: the periods Art 16's conditions hold for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContractors {
    inspection_days: Spanned<u32>,
    briefing_days: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    native: Spanned<String>,
    romanization: String,
    english: String,
    rank: u16,
    classified: bool,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    handling: Option<RawHandling>,
    /// The banner colour of the level (`#rrggbb`), SPIF style.
    #[serde(default)]
    colour: Option<Spanned<String>>,
}

/// `[level.handling]`: copies and destruction for one level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandling {
    #[serde(default)]
    max_copies: Option<u32>,
    #[serde(default)]
    destruction_witnesses: u32,
    #[serde(default)]
    witness_clearance: Option<Spanned<String>>,
    #[serde(default)]
    record_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgreement {
    id: Spanned<String>,
    title: String,
    kind: AgreementKind,
    parties: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    hub: Option<Spanned<String>>,
    zone: Spanned<String>,
    #[serde(default)]
    signed: Option<Spanned<toml::Value>>,
    entry_into_force: Spanned<toml::Value>,
    term: RawTerm,
    notice: RawNotice,
    third_party: ThirdParty,
    #[serde(default)]
    relay: Option<Relay>,
    #[serde(default)]
    protection: Vec<Spanned<String>>,
    #[serde(default)]
    data_elements: Vec<String>,
    topics: Spanned<Vec<Spanned<String>>>,
    coverage: Spanned<Vec<RawGrade>>,
    #[serde(default)]
    notes: Vec<String>,
    rule: Vec<RawRule>,
    cites: RawCites,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    kind: RawTermKind,
    #[serde(default)]
    years: Option<Spanned<u32>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawTermKind {
    Renewing,
    Indefinite,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    days: u32,
    #[serde(default)]
    count_from: Option<CountFrom>,
    #[serde(default)]
    lift_suspension: Option<LiftSuspension>,
    #[serde(default = "yes")]
    written_diplomatic: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    grade: String,
    levels: Spanned<BTreeMap<String, Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCites {
    entry_into_force: Spanned<String>,
    term: Spanned<String>,
    coverage: Spanned<String>,
    marking: Spanned<String>,
    scope: Spanned<String>,
    third_party: Spanned<String>,
    access: Spanned<String>,
    survival: Spanned<String>,
    amendment: Spanned<String>,
    #[serde(default)]
    relay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Spanned<toml::Value>,
    kind: Spanned<EventKind>,
    #[serde(default)]
    by: Option<Spanned<String>>,
    #[serde(default)]
    written: Option<bool>,
    #[serde(default)]
    channel: Option<String>,
    summary: String,
    #[serde(default)]
    topics: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    coverage: Option<Spanned<Vec<RawGrade>>>,
}

fn parse<T: serde::de::DeserializeOwned>(src: &Source) -> Result<T, ProfileError> {
    toml::from_str::<T>(&src.text).map_err(|e| {
        let message = e.message().trim_end().to_owned();
        match e.span() {
            Some(span) => src.error_at(span, message),
            None => src.error(message),
        }
    })
}

// ---------------------------------------------------------------------------
// Builder.

/// Collects profile sources and compiles them into a [`Registry`].
///
/// Later sources replace earlier ones with the same id, so a user's copy of a
/// shipped agreement overrides it.
#[derive(Default)]
pub struct Builder {
    topics: Option<(Source, RawTopics)>,
    policies: Vec<(Source, RawPolicy)>,
    agreements: Vec<(Source, RawAgreement)>,
    errors: Vec<ProfileError>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the topic taxonomy.
    pub fn topics(&mut self, src: Source) -> &mut Self {
        match parse::<RawTopics>(&src) {
            Ok(raw) => self.topics = Some((src, raw)),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Adds (or replaces) a national policy; returns its party code if it parsed.
    pub fn policy(&mut self, src: Source) -> Option<PartyId> {
        match parse::<RawPolicy>(&src) {
            Ok(raw) => {
                let id = PartyId::new(raw.party.get_ref().trim());
                self.policies
                    .retain(|(_, p)| p.party.get_ref().trim() != id.as_str());
                self.policies.push((src, raw));
                Some(id)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Adds (or replaces) an agreement; returns its id if it parsed.
    pub fn agreement(&mut self, src: Source) -> Option<AgreementId> {
        match parse::<RawAgreement>(&src) {
            Ok(raw) => {
                let id = AgreementId::new(raw.id.get_ref().trim());
                self.agreements
                    .retain(|(_, a)| a.id.get_ref().trim() != id.as_str());
                self.agreements.push((src, raw));
                Some(id)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Compiles everything, or reports every problem found.
    pub fn build(self) -> Result<Registry, ProfileErrors> {
        let mut errors = self.errors;
        let Some((topic_src, raw_topics)) = self.topics else {
            errors.push(ProfileError {
                source: "profiles".into(),
                line: 0,
                column: 0,
                message: "no topic taxonomy given".into(),
            });
            return Err(ProfileErrors(errors));
        };
        let topics = compile_topics(&topic_src, raw_topics, &mut errors);

        let mut policies: Vec<Policy> = Vec::new();
        for (src, raw) in &self.policies {
            if policies.len() >= MAX_PARTIES {
                errors.push(src.error(format!("more than {MAX_PARTIES} national policies")));
                break;
            }
            if let Some(p) = compile_policy(src, raw, &mut errors) {
                policies.push(p);
            }
        }

        let ctx = Ctx {
            topics: &topics,
            policies: &policies,
        };
        let ids: Vec<String> = self
            .agreements
            .iter()
            .map(|(_, a)| a.id.get_ref().trim().to_owned())
            .collect();
        let mut agreements = Vec::new();
        for (src, raw) in &self.agreements {
            if let Some(a) = compile_agreement(src, raw, &ctx, &ids, &mut errors) {
                agreements.push(a);
            }
        }
        if !errors.is_empty() {
            return Err(ProfileErrors(errors));
        }
        Ok(Registry::new(topics, policies, agreements))
    }
}

fn compile_topics(src: &Source, raw: RawTopics, errors: &mut Vec<ProfileError>) -> Topics {
    let mut list: Vec<Topic> = Vec::new();
    if raw.topic.len() > MAX_TOPICS {
        errors.push(src.error(format!(
            "{} topics; at most {MAX_TOPICS} are supported",
            raw.topic.len()
        )));
        return Topics::default();
    }
    for t in raw.topic {
        let id = t.id.get_ref().trim().to_owned();
        let span = t.id.span();
        let valid = !id.is_empty()
            && id.split('.').all(|seg| {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !valid {
            errors.push(src.error_at(
                span,
                format!("topic id `{id}` must be dotted lowercase words (e.g. `dprk.missile`)"),
            ));
            continue;
        }
        if list.iter().any(|x| x.id.as_str() == id) {
            errors.push(src.error_at(span, format!("topic `{id}` is defined twice")));
            continue;
        }
        let parent = match id.rsplit_once('.') {
            Some((parent, _)) => match list.iter().position(|x| x.id.as_str() == parent) {
                Some(i) => u16::try_from(i).ok().map(TopicRef),
                None => {
                    errors.push(src.error_at(
                        span,
                        format!("topic `{id}` comes before its parent `{parent}` is defined"),
                    ));
                    continue;
                }
            },
            None => None,
        };
        list.push(Topic {
            id: TopicId::new(id),
            title: t.title,
            parent,
        });
    }
    // Each topic's subtree: itself plus every topic whose ancestor chain reaches it.
    let mut subtree = vec![crate::ids::TopicSet::EMPTY; list.len()];
    for i in 0..list.len() {
        let mut cur = u16::try_from(i).ok().map(TopicRef);
        while let Some(t) = cur {
            if let (Some(set), Ok(me)) = (subtree.get_mut(usize::from(t.0)), u16::try_from(i)) {
                set.insert(TopicRef(me));
            }
            cur = list.get(usize::from(t.0)).and_then(|x| x.parent);
        }
    }
    Topics { list, subtree }
}

fn compile_policy(src: &Source, raw: &RawPolicy, errors: &mut Vec<ProfileError>) -> Option<Policy> {
    let before = errors.len();
    let party = raw.party.get_ref().trim();
    if party.len() != 3 || !party.chars().all(|c| c.is_ascii_uppercase()) {
        errors.push(src.error_at(
            raw.party.span(),
            format!("party `{party}` must be an upper-case trigraph such as `JPN`"),
        ));
    }
    let zone = match time::zone(raw.zone.get_ref()) {
        Ok(z) => Some(z),
        Err(e) => {
            errors.push(src.error_at(raw.zone.span(), e.to_string()));
            None
        }
    };
    if raw.level.is_empty() {
        errors.push(src.error("a policy needs at least one `[[level]]`"));
    }
    let mut lookup: Vec<(String, u16)> = Vec::new();
    let mut levels = Vec::new();
    for (i, l) in raw.level.iter().enumerate() {
        let Ok(ix) = u16::try_from(i) else {
            errors.push(src.error("too many levels"));
            break;
        };
        let mut spellings = vec![(l.native.get_ref().clone(), l.native.span())];
        spellings.push((l.romanization.clone(), l.native.span()));
        spellings.extend(l.aliases.iter().map(|a| (a.get_ref().clone(), a.span())));
        for (s, span) in spellings {
            let key = normalize_level_name(&s);
            if key.is_empty() {
                errors.push(src.error_at(span, "empty level name"));
                continue;
            }
            match lookup.iter().find(|(k, _)| *k == key) {
                Some((_, other)) if *other != ix => errors.push(src.error_at(
                    span,
                    format!("level name `{s}` is ambiguous: it also names another level"),
                )),
                Some(_) => {}
                None => lookup.push((key, ix)),
            }
        }
        levels.push(Level {
            native: l.native.get_ref().trim().to_owned(),
            romanization: l.romanization.clone(),
            english: l.english.clone(),
            rank: l.rank,
            classified: l.classified,
            aliases: l.aliases.iter().map(|a| a.get_ref().clone()).collect(),
            note: l.note.clone(),
            handling: crate::policy::Handling::default(),
            colour: match &l.colour {
                None => None,
                Some(c) => {
                    let v = c.get_ref().trim();
                    let ok = v.len() == 7
                        && v.starts_with('#')
                        && v.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
                    if !ok {
                        errors.push(src.error_at(c.span(), "a colour is `#rrggbb`"));
                    }
                    Some(v.to_ascii_lowercase())
                }
            },
        });
    }
    lookup.sort();
    // Handling names levels of this policy: resolved once every level is known.
    for (l, level) in raw.level.iter().zip(levels.iter_mut()) {
        let Some(h) = &l.handling else { continue };
        let witness_level = match &h.witness_clearance {
            None => None,
            Some(name) => {
                let key = normalize_level_name(name.get_ref());
                match lookup.iter().find(|(k, _)| *k == key) {
                    Some((_, ix)) => Some(*ix),
                    None => {
                        errors.push(src.error_at(
                            name.span(),
                            format!(
                                "`witness_clearance` names `{}`, not a level of this policy",
                                name.get_ref()
                            ),
                        ));
                        None
                    }
                }
            }
        };
        level.handling = crate::policy::Handling {
            max_copies: h.max_copies,
            destruction: crate::policy::DestructionRule {
                witnesses: h.destruction_witnesses,
                witness_level,
                record_days: h.record_days,
            },
        };
    }
    let contractors = match &raw.contractors {
        None => crate::policy::ContractorRule::default(),
        Some(c) => {
            for d in [&c.inspection_days, &c.briefing_days] {
                if *d.get_ref() == 0 || *d.get_ref() > 3650 {
                    errors.push(src.error_at(d.span(), "a period is 1 to 3650 days"));
                }
            }
            crate::policy::ContractorRule {
                inspection_days: *c.inspection_days.get_ref(),
                briefing_days: *c.briefing_days.get_ref(),
            }
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Policy {
        contractors,
        party: PartyId::new(party),
        name: raw.name.clone(),
        zone_name: raw.zone.get_ref().clone(),
        zone: zone?,
        levels,
        lookup,
    })
}

struct Ctx<'a> {
    topics: &'a Topics,
    policies: &'a [Policy],
}

impl Ctx<'_> {
    fn party(&self, name: &str) -> Option<PartyRef> {
        let name = name.trim();
        self.policies
            .iter()
            .position(|p| p.party.as_str() == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(PartyRef)
    }
    fn party_name(&self, p: PartyRef) -> Option<&str> {
        self.policies.get(p.index()).map(|pol| pol.party.as_str())
    }
    fn party_names(&self) -> String {
        self.policies
            .iter()
            .map(|p| format!("`{}`", p.party))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn value_time(
    src: &Source,
    v: &Spanned<toml::Value>,
    zone: &jiff::tz::TimeZone,
    errors: &mut Vec<ProfileError>,
) -> Option<(Timestamp, Option<jiff::civil::Date>)> {
    let text = match v.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => {
            errors.push(src.error_at(
                v.span(),
                format!(
                    "expected a date or an instant, found a {}",
                    other.type_str()
                ),
            ));
            return None;
        }
    };
    match time::parse_instant_or_date(&text) {
        Ok(InstantOrDate::Instant(ts)) => Some((ts, None)),
        Ok(d) => match d.start(zone) {
            Ok(ts) => Some((ts, d.date())),
            Err(e) => {
                errors.push(src.error_at(v.span(), e.to_string()));
                None
            }
        },
        Err(e) => {
            errors.push(src.error_at(v.span(), e.to_string()));
            None
        }
    }
}

fn compile_topic_list(
    src: &Source,
    raw: &Spanned<Vec<Spanned<String>>>,
    ctx: &Ctx<'_>,
    errors: &mut Vec<ProfileError>,
) -> Vec<TopicRef> {
    let mut out = Vec::new();
    for t in raw.get_ref() {
        let name = t.get_ref().trim();
        if name == "*" {
            out.extend(
                ctx.topics
                    .list()
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.parent.is_none())
                    .filter_map(|(i, _)| u16::try_from(i).ok().map(TopicRef)),
            );
            continue;
        }
        match ctx.topics.find(name) {
            Some(r) => out.push(r),
            None => errors.push(src.error_at(t.span(), format!("unknown topic `{name}`"))),
        }
    }
    if out.is_empty() && raw.get_ref().is_empty() {
        errors.push(src.error_at(raw.span(), "an agreement must cover at least one topic"));
    }
    out
}

fn compile_coverage(
    src: &Source,
    raw: &Spanned<Vec<RawGrade>>,
    parties: &[PartyRef],
    ctx: &Ctx<'_>,
    errors: &mut Vec<ProfileError>,
) -> Coverage {
    let n_policies = ctx.policies.len();
    let mut grade_of: Vec<Vec<Option<u8>>> = ctx
        .policies
        .iter()
        .map(|p| vec![None; p.levels.len()])
        .collect();
    let mut receive_as = Vec::new();
    let mut grades = Vec::new();
    if raw.get_ref().is_empty() {
        errors.push(src.error_at(raw.span(), "an agreement must cover at least one level"));
    }
    for (gi, g) in raw.get_ref().iter().enumerate() {
        let Ok(gix) = u8::try_from(gi) else {
            errors.push(src.error_at(raw.span(), "too many grades"));
            break;
        };
        let mut row = vec![None; n_policies];
        let mut levels = Vec::new();
        for (party_name, names) in g.levels.get_ref() {
            let Some(party) = ctx.party(party_name) else {
                errors.push(src.error_at(
                    g.levels.span(),
                    format!(
                        "unknown party `{party_name}` in grade `{}`; known parties: {}",
                        g.grade,
                        ctx.party_names()
                    ),
                ));
                continue;
            };
            if !parties.contains(&party) {
                errors.push(src.error_at(
                    g.levels.span(),
                    format!("`{party_name}` is not a party to this agreement"),
                ));
                continue;
            }
            let Some(policy) = ctx.policies.get(party.index()) else {
                continue;
            };
            let mut refs = Vec::new();
            for name in names {
                match policy.find_level(name.get_ref()) {
                    Some(l) => {
                        let level = LevelRef {
                            policy: party.0,
                            level: l,
                        };
                        let slot = grade_of
                            .get_mut(party.index())
                            .and_then(|v| v.get_mut(usize::from(l)));
                        match slot {
                            Some(Some(_)) => errors.push(src.error_at(
                                name.span(),
                                format!("level `{}` appears in two grades", name.get_ref()),
                            )),
                            Some(slot) => *slot = Some(gix),
                            None => {}
                        }
                        if !policy
                            .levels
                            .get(usize::from(l))
                            .is_some_and(|x| x.classified)
                        {
                            errors.push(src.error_at(
                                name.span(),
                                format!(
                                    "level `{}` is unclassified in `{party_name}` and cannot be covered",
                                    name.get_ref()
                                ),
                            ));
                        }
                        refs.push(level);
                    }
                    None => errors.push(src.error_at(
                        name.span(),
                        format!(
                            "unknown level `{}` in policy `{party_name}`; known levels: {}",
                            name.get_ref(),
                            policy.level_names().join(", ")
                        ),
                    )),
                }
            }
            if let (Some(first), Some(slot)) = (refs.first(), row.get_mut(party.index())) {
                *slot = Some(*first);
            }
            levels.push((party, refs));
        }
        for p in parties {
            if !levels.iter().any(|(q, l)| q == p && !l.is_empty()) {
                let name = ctx
                    .policies
                    .get(p.index())
                    .map_or("?", |x| x.party.as_str());
                errors.push(src.error_at(
                    g.levels.span(),
                    format!("grade `{}` gives no level for party `{name}`", g.grade),
                ));
            }
        }
        receive_as.push(row);
        grades.push(Grade {
            name: g.grade.clone(),
            levels,
        });
    }
    Coverage {
        grades,
        grade_of,
        receive_as,
    }
}

fn compile_agreement(
    src: &Source,
    raw: &RawAgreement,
    ctx: &Ctx<'_>,
    all_ids: &[String],
    errors: &mut Vec<ProfileError>,
) -> Option<Agreement> {
    let before = errors.len();
    let id = raw.id.get_ref().trim();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errors.push(src.error_at(
            raw.id.span(),
            format!("agreement id `{id}` must be lowercase letters, digits and `-`"),
        ));
    }
    let zone = match time::zone(raw.zone.get_ref()) {
        Ok(z) => z,
        Err(e) => {
            errors.push(src.error_at(raw.zone.span(), e.to_string()));
            jiff::tz::TimeZone::UTC
        }
    };

    let mut parties = Vec::new();
    for p in raw.parties.get_ref() {
        match ctx.party(p.get_ref()) {
            Some(r) if parties.contains(&r) => {
                errors.push(src.error_at(p.span(), format!("party `{}` listed twice", p.get_ref())))
            }
            Some(r) => parties.push(r),
            None => errors.push(src.error_at(
                p.span(),
                format!(
                    "unknown party `{}`; known parties: {}",
                    p.get_ref(),
                    ctx.party_names()
                ),
            )),
        }
    }
    if raw.parties.get_ref().len() < 2 {
        errors.push(src.error_at(
            raw.parties.span(),
            "an agreement needs at least two parties",
        ));
    }
    let party_set: PartySet = parties.iter().copied().collect();

    let hub = match (&raw.hub, raw.kind) {
        (Some(h), AgreementKind::HubArrangement | AgreementKind::WarningLink) => {
            match ctx.party(h.get_ref()) {
                Some(r) if party_set.contains(r) => Some(r),
                _ => {
                    errors.push(src.error_at(
                        h.span(),
                        format!("hub `{}` must be one of the parties", h.get_ref()),
                    ));
                    None
                }
            }
        }
        (Some(h), AgreementKind::Bilateral) => {
            errors.push(src.error_at(h.span(), "a bilateral agreement has no hub"));
            None
        }
        (None, AgreementKind::Bilateral) => None,
        (None, _) => {
            errors.push(src.error_at(raw.id.span(), "a hub arrangement needs `hub`"));
            None
        }
    };
    if raw.kind == AgreementKind::Bilateral
        && parties.len() != 2
        && raw.parties.get_ref().len() != 2
    {
        errors.push(src.error_at(
            raw.parties.span(),
            "a bilateral agreement has exactly two parties",
        ));
    }
    let relay = match (raw.kind, raw.relay) {
        (AgreementKind::Bilateral, None) => None,
        (AgreementKind::Bilateral, Some(_)) => {
            errors.push(src.error_at(raw.id.span(), "a bilateral agreement has no `relay`"));
            None
        }
        (_, Some(r)) => Some(r),
        (_, None) => {
            errors.push(src.error_at(raw.id.span(), "a hub arrangement needs `relay`"));
            None
        }
    };

    let signed = raw
        .signed
        .as_ref()
        .and_then(|s| value_time(src, s, &zone, errors))
        .map(|(ts, d)| d.unwrap_or_else(|| time::date_in(ts, &zone)));
    let eif = value_time(src, &raw.entry_into_force, &zone, errors).map(|(ts, _)| ts);

    let term = match (raw.term.kind, &raw.term.years) {
        (RawTermKind::Renewing, Some(y)) if *y.get_ref() >= 1 && *y.get_ref() <= 100 => {
            TermRule::Renewing {
                years: *y.get_ref(),
            }
        }
        (RawTermKind::Renewing, Some(y)) => {
            errors.push(src.error_at(y.span(), "`years` must be between 1 and 100"));
            TermRule::Indefinite
        }
        (RawTermKind::Renewing, None) => {
            errors.push(src.error_at(raw.id.span(), "renewing terms need `term.years`"));
            TermRule::Indefinite
        }
        (RawTermKind::Indefinite, Some(y)) => {
            errors.push(src.error_at(y.span(), "indefinite terms have no `years`"));
            TermRule::Indefinite
        }
        (RawTermKind::Indefinite, None) => TermRule::Indefinite,
    };
    if raw.notice.days > 3660 {
        errors.push(src.error_at(raw.id.span(), "`notice.days` must be at most 3660"));
    }
    let notice = NoticeRule {
        days: raw.notice.days,
        count_from: raw.notice.count_from.unwrap_or(CountFrom::LastFullDay),
        lift_suspension: raw
            .notice
            .lift_suspension
            .unwrap_or(LiftSuspension::FreshNotice),
        written_diplomatic: raw.notice.written_diplomatic,
    };

    let mut protection = Vec::new();
    for p in &raw.protection {
        match all_ids.iter().position(|x| x == p.get_ref().trim()) {
            Some(i) => {
                if let Ok(i) = u16::try_from(i) {
                    protection.push(AgreementRef(i));
                }
            }
            None => {
                errors.push(src.error_at(p.span(), format!("unknown agreement `{}`", p.get_ref())))
            }
        }
    }
    if raw.kind == AgreementKind::WarningLink && raw.data_elements.is_empty() {
        errors.push(src.error_at(raw.id.span(), "a warning link lists its `data_elements`"));
    }

    // Rules and citations.
    let mut rules: Vec<Rule> = Vec::new();
    for r in &raw.rule {
        let rid = r.id.get_ref().trim();
        if rules.iter().any(|x| x.id == rid) {
            errors.push(src.error_at(r.id.span(), format!("rule `{rid}` is defined twice")));
        }
        rules.push(Rule {
            id: rid.to_owned(),
            text: r.text.clone(),
        });
    }
    let cite = |c: &Spanned<String>, errors: &mut Vec<ProfileError>| -> u16 {
        match rules
            .iter()
            .position(|r| r.id == c.get_ref().trim())
            .and_then(|i| u16::try_from(i).ok())
        {
            Some(i) => i,
            None => {
                errors.push(src.error_at(
                    c.span(),
                    format!(
                        "cited rule `{}` is not defined under `[[rule]]`",
                        c.get_ref()
                    ),
                ));
                0
            }
        }
    };
    let c = &raw.cites;
    let cites = Cites {
        entry_into_force: cite(&c.entry_into_force, errors),
        term: cite(&c.term, errors),
        coverage: cite(&c.coverage, errors),
        marking: cite(&c.marking, errors),
        scope: cite(&c.scope, errors),
        third_party: cite(&c.third_party, errors),
        access: cite(&c.access, errors),
        survival: cite(&c.survival, errors),
        amendment: cite(&c.amendment, errors),
        relay: c.relay.as_ref().map(|r| cite(r, errors)),
    };
    if relay.is_some() && cites.relay.is_none() {
        errors.push(src.error_at(raw.id.span(), "a hub arrangement cites a `relay` rule"));
    }

    // Terms of version 1.
    let topic_roots = compile_topic_list(src, &raw.topics, ctx, errors);
    let coverage = compile_coverage(src, &raw.coverage, &parties, ctx, errors);

    // Events.
    let mut events = Vec::new();
    let mut amendments = Vec::new();
    for ev in &raw.event {
        let Some((at, _)) = value_time(src, &ev.at, &zone, errors) else {
            continue;
        };
        let kind = *ev.kind.get_ref();
        let by = match &ev.by {
            Some(b) => match ctx.party(b.get_ref()) {
                Some(r) if party_set.contains(r) => Some(r),
                _ => {
                    errors.push(src.error_at(
                        b.span(),
                        format!("`by = {}` is not a party to this agreement", b.get_ref()),
                    ));
                    None
                }
            },
            None => None,
        };
        let needs_party = matches!(
            kind,
            EventKind::Notice
                | EventKind::SuspendNotice
                | EventKind::LiftSuspension
                | EventKind::WithdrawNotice
        );
        if needs_party && ev.by.is_none() {
            errors.push(src.error_at(
                ev.kind.span(),
                format!(
                    "a `{}` event names the party that acted (`by`)",
                    kind.as_str()
                ),
            ));
        }
        if kind != EventKind::Notice && (ev.written.is_some() || ev.channel.is_some()) {
            errors.push(src.error_at(
                ev.kind.span(),
                "`written` and `channel` apply to notices only",
            ));
        }
        if kind != EventKind::Amendment && (ev.topics.is_some() || ev.coverage.is_some()) {
            errors.push(src.error_at(
                ev.kind.span(),
                "`topics` and `coverage` apply to amendments only",
            ));
        }
        let written_diplomatic = ev.written.unwrap_or(false)
            && ev
                .channel
                .as_deref()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("diplomatic"));
        if kind == EventKind::Amendment {
            if ev.topics.is_none() && ev.coverage.is_none() {
                errors.push(src.error_at(
                    ev.kind.span(),
                    "an amendment changes `topics` or `coverage`",
                ));
            }
            amendments.push((events.len(), ev));
        }
        events.push(Event {
            at,
            kind,
            by,
            written_diplomatic,
            summary: ev.summary.clone(),
            version: None,
        });
    }
    // Stable sort keeps the profile's order for events at the same instant.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|i| events.get(*i).map(|e| e.at));
    let sorted_events: Vec<Event> = order
        .iter()
        .filter_map(|i| events.get(*i).cloned())
        .collect();

    let eif = eif?;
    if errors.len() > before {
        return None;
    }
    let schedule = Schedule {
        entry_into_force: eif,
        term,
        notice,
        zone: zone.clone(),
    };
    let mut sorted_events = sorted_events;
    // Number amendments in time order.
    let mut version_no = 1u32;
    let mut amendment_raw: Vec<(usize, &RawEvent)> = Vec::new();
    for (pos, orig) in order.iter().enumerate() {
        if let Some((_, raw_ev)) = amendments.iter().find(|(i, _)| i == orig) {
            version_no += 1;
            if let Some(e) = sorted_events.get_mut(pos) {
                e.version = Some(version_no);
            }
            amendment_raw.push((pos, raw_ev));
        }
    }
    let lifecycle = match Lifecycle::compute(&schedule, &sorted_events) {
        Ok(l) => l,
        Err(e) => {
            errors.push(src.error(e.to_string()));
            return None;
        }
    };
    // Notices are acts of a party: only the party that gave one acts on it.
    for (pos, effect) in lifecycle.effects.iter().enumerate() {
        let crate::agreement::Effect::NotTheirs { owner } = effect else {
            continue;
        };
        let Some(raw_ev) = order.get(pos).and_then(|orig| raw.event.get(*orig)) else {
            continue;
        };
        let span = raw_ev.by.as_ref().map_or(raw_ev.kind.span(), |b| b.span());
        let owner = ctx.party_name(*owner).unwrap_or("another party");
        errors.push(src.error_at(
            span,
            format!(
                "a `{}` by {} acts on the notice {owner} gave: only the party that gave a notice suspends, lifts or withdraws it (rule 4)",
                raw_ev.kind.get_ref().as_str(),
                raw_ev.by.as_ref().map_or("nobody", |b| b.get_ref().as_str()),
            ),
        ));
    }

    let mut versions = vec![Version {
        number: 1,
        from: Timestamp::MIN,
        topics: ctx.topics.expand(&topic_roots),
        topic_roots,
        coverage,
    }];
    for (pos, raw_ev) in amendment_raw {
        let Some(ev) = sorted_events.get(pos) else {
            continue;
        };
        // Amendments after termination have no effect (rule 5).
        if !matches!(
            lifecycle.effects.get(pos),
            Some(crate::agreement::Effect::Amended(_))
        ) {
            continue;
        }
        let Some(prev) = versions.last() else {
            continue;
        };
        let topic_roots = match &raw_ev.topics {
            Some(t) => compile_topic_list(src, t, ctx, errors),
            None => prev.topic_roots.clone(),
        };
        let coverage = match &raw_ev.coverage {
            Some(c) => compile_coverage(src, c, &parties, ctx, errors),
            None => prev.coverage.clone(),
        };
        versions.push(Version {
            number: ev.version.unwrap_or(0),
            from: ev.at,
            topics: ctx.topics.expand(&topic_roots),
            topic_roots,
            coverage,
        });
    }
    if errors.len() > before {
        return None;
    }

    Some(Agreement {
        id: AgreementId::new(id),
        title: raw.title.clone(),
        kind: raw.kind,
        parties,
        party_set,
        hub,
        zone_name: raw.zone.get_ref().clone(),
        signed,
        schedule,
        third_party: raw.third_party,
        relay,
        protection,
        data_elements: raw.data_elements.clone(),
        rules,
        cites,
        events: sorted_events,
        versions,
        lifecycle,
        notes: raw.notes.clone(),
    })
}

// ------------------------------------------------------------ consents

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsent {
    originator: Spanned<String>,
    holder: Spanned<String>,
    recipient: Spanned<String>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    topics: Option<Spanned<Vec<Spanned<String>>>>,
    granted_at: Spanned<String>,
    expires_at: Spanned<String>,
    #[serde(default)]
    revoked_at: Option<Spanned<String>>,
}

impl Consent {
    /// Reads a consent document (TOML; see `docs/profiles.md`). Instants need
    /// an offset; exactly one of `item` and `topics` is given.
    pub fn from_toml(src: &Source, registry: &Registry) -> Result<Consent, ProfileError> {
        let raw: RawConsent = toml::from_str(&src.text).map_err(|e| {
            let message = e.message().trim_end().to_owned();
            match e.span() {
                Some(span) => src.error_at(span, message),
                None => src.error(message),
            }
        })?;
        let party = |s: &Spanned<String>| {
            registry
                .party(s.get_ref())
                .map_err(|e| src.error_at(s.span(), e.to_string()))
        };
        let instant = |s: &Spanned<String>| {
            time::parse_instant(s.get_ref()).map_err(|e| src.error_at(s.span(), e.to_string()))
        };
        let scope = match (raw.item, &raw.topics) {
            (Some(item), None) => ConsentScope::Item(ItemId::new(item)),
            (None, Some(topics)) => {
                let mut set = TopicSet::EMPTY;
                for t in topics.get_ref() {
                    let r = registry
                        .topic(t.get_ref())
                        .map_err(|e| src.error_at(t.span(), e.to_string()))?;
                    set = set.union(&registry.topics().subtree(r));
                }
                if set.is_empty() {
                    return Err(src.error_at(topics.span(), "a consent names at least one topic"));
                }
                ConsentScope::Topics(set)
            }
            _ => return Err(src.error("a consent names exactly one of `item` and `topics`")),
        };
        let consent = Consent {
            originator: party(&raw.originator)?,
            holder: party(&raw.holder)?,
            recipient: party(&raw.recipient)?,
            scope,
            granted_at: instant(&raw.granted_at)?,
            expires_at: instant(&raw.expires_at)?,
            revoked_at: raw.revoked_at.as_ref().map(instant).transpose()?,
        };
        if consent.expires_at <= consent.granted_at {
            return Err(src.error_at(
                raw.expires_at.span(),
                "`expires_at` is not after `granted_at`",
            ));
        }
        if consent.holder == consent.originator || consent.recipient == consent.originator {
            return Err(src.error_at(
                raw.holder.span(),
                "a consent is for a release by another party to a third party",
            ));
        }
        Ok(consent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_col("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("a\nbc\nd", 5), (3, 1));
    }
}
