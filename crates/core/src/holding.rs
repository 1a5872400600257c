//! An item's life at the party that holds it (GSOMIA.md rules 11–13;
//! Arts 5–6, 13–15): copies, translations, documents derived from received
//! information, destruction and return.
//!
//! Three sources of rules meet here, and each decision reads them from
//! where they are authoritative:
//!
//! - the **originator's label** may forbid or limit copying
//!   ([`REPRODUCTION`]) and set a date by which the holder returns or
//!   destroys the item ([`DISPOSE_BY`]); both are informative categories of
//!   the signed label, so they travel with the item and cannot be changed by
//!   a holder;
//! - the **holder's national policy** sets, per level, a cap on copies and
//!   what a destruction needs (how many witnesses, cleared to which level,
//!   how long the record is kept) — [`crate::policy::Handling`];
//! - **rule 9** applies to what a party writes from received information:
//!   a derived document or a translation goes to a third party only if each
//!   foreign originator's information in it could go there
//!   ([`decide_derived_release`]).

use jiff::{SignedDuration, Timestamp};

use crate::consent::Consent;
use crate::decision::{Decision, Reader, ReleaseRequest, decide_release};
use crate::ids::{ItemId, LevelRef, PartyRef};
use crate::label::{AggregateError, Informative, ItemLabels, Label, aggregate};
use crate::reason::{Citation, Reason};
use crate::registry::Registry;

/// The informative category by which an originator forbids (`NO COPY`) or
/// limits (`COPIES n`: at most n copies at each holder) reproduction.
pub const REPRODUCTION: &str = "Reproduction";
/// The value of [`REPRODUCTION`] that forbids copying.
pub const NO_COPY: &str = "NO COPY";
/// The informative category holding the instant (RFC 3339) by which a
/// holder returns or destroys the item.
pub const DISPOSE_BY: &str = "Dispose-By";
/// The informative category naming every party whose information a
/// derived document or translation contains.
pub const CONTAINS: &str = "Contains-Information-Of";
/// The informative category holding a translation's language.
pub const LANGUAGE: &str = "Language";
/// The informative category holding the note a translation or derived
/// document carries about its origin (Arts 4, 15).
pub const ORIGIN_NOTE: &str = "Origin-Note";

/// How an originator limits copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyLimit {
    /// No copy at all.
    Forbidden,
    /// At most this many copies at each holder.
    AtMost(u32),
}

/// A handling marking that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkingError {
    /// A [`REPRODUCTION`] value that is neither `NO COPY` nor `COPIES n`.
    #[error("`{REPRODUCTION}` must be `{NO_COPY}` or `COPIES n`, not `{0}`")]
    Reproduction(String),
    /// A [`DISPOSE_BY`] value that is not one instant.
    #[error("`{DISPOSE_BY}` must be one RFC 3339 instant, not `{0}`")]
    DisposeBy(String),
}

/// The originator's limit on copies, the strictest of the label's
/// [`REPRODUCTION`] values (`None`: the label sets none).
pub fn copy_limit(label: &Label) -> Result<Option<CopyLimit>, MarkingError> {
    let mut limit: Option<CopyLimit> = None;
    for i in label.informative.iter().filter(|i| i.tag == REPRODUCTION) {
        for v in &i.values {
            let this = parse_reproduction(v)?;
            limit = Some(match (limit, this) {
                (None, x) => x,
                (Some(CopyLimit::Forbidden), _) | (_, CopyLimit::Forbidden) => CopyLimit::Forbidden,
                (Some(CopyLimit::AtMost(a)), CopyLimit::AtMost(b)) => CopyLimit::AtMost(a.min(b)),
            });
        }
    }
    Ok(limit)
}

/// Parses one [`REPRODUCTION`] value.
pub fn parse_reproduction(v: &str) -> Result<CopyLimit, MarkingError> {
    let t = v.trim();
    if t.eq_ignore_ascii_case(NO_COPY) {
        return Ok(CopyLimit::Forbidden);
    }
    let n = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("COPIES "))
        .and_then(|_| t.get(7..))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .ok_or_else(|| MarkingError::Reproduction(v.to_owned()))?;
    Ok(if n == 0 {
        CopyLimit::Forbidden
    } else {
        CopyLimit::AtMost(n)
    })
}

/// The [`REPRODUCTION`] value for a limit.
pub fn reproduction_value(limit: CopyLimit) -> String {
    match limit {
        CopyLimit::Forbidden => NO_COPY.to_owned(),
        CopyLimit::AtMost(n) => format!("COPIES {n}"),
    }
}

/// The earliest "return or destroy by" instant the label sets.
pub fn dispose_by(label: &Label) -> Result<Option<Timestamp>, MarkingError> {
    let mut by: Option<Timestamp> = None;
    for i in label.informative.iter().filter(|i| i.tag == DISPOSE_BY) {
        for v in &i.values {
            let t =
                crate::time::parse_instant(v).map_err(|_| MarkingError::DisposeBy(v.to_owned()))?;
            by = Some(by.map_or(t, |b| b.min(t)));
        }
    }
    Ok(by)
}

/// How an item left the holder's custody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Destroyed here.
    Destroyed,
    /// Returned to its originator (and the local copy erased).
    Returned,
}

impl Disposal {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposal::Destroyed => "destroyed",
            Disposal::Returned => "returned",
        }
    }
}

/// Why an act on a held item is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldingRefusal {
    /// A reference that does not belong to this registry, or an item with
    /// no label in the holder's policy.
    UnknownReference,
    /// The item was destroyed or returned: it can no longer be read,
    /// copied, released or destroyed again (its history stays).
    Disposed {
        /// How.
        how: Disposal,
        /// When.
        at: Timestamp,
    },
    /// The originator's label forbids any copy.
    CopyForbidden,
    /// The copies asked for would pass a limit.
    CopyLimit {
        /// The limit.
        limit: u32,
        /// Copies already made of the item here.
        made: u32,
        /// Copies asked for.
        asked: u32,
        /// Whether the originator's label set it (else the holder's policy).
        by_originator: bool,
    },
    /// Fewer qualified witnesses than the holder's policy needs for the
    /// item's level.
    TooFewWitnesses {
        /// The level, in the holder's policy.
        level: LevelRef,
        /// How many the policy needs.
        needed: u32,
        /// How many qualified.
        qualified: u32,
    },
    /// A witness whose clearance does not qualify them.
    WitnessNotCleared {
        /// Their place among the witnesses given (0-based).
        witness: usize,
        /// The level their clearance must reach.
        needs: LevelRef,
        /// Why not: their clearance ended, is below, or is not of the holder's policy.
        why: WitnessFault,
    },
}

/// Why a witness does not qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessFault {
    /// Their clearance is below the level needed.
    Below,
    /// Their clearance ended before the instant.
    Expired,
    /// Their clearance is not of the holder's policy.
    Foreign,
}

impl HoldingRefusal {
    /// Every kind, by the name docs/rules.md lists it under.
    pub const KINDS: [&'static str; 6] = [
        "holding_unknown_reference",
        "disposed",
        "copy_forbidden",
        "copy_limit",
        "too_few_witnesses",
        "witness_not_cleared",
    ];

    /// The name of this kind of refusal (one of [`HoldingRefusal::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            HoldingRefusal::UnknownReference => "holding_unknown_reference",
            HoldingRefusal::Disposed { .. } => "disposed",
            HoldingRefusal::CopyForbidden => "copy_forbidden",
            HoldingRefusal::CopyLimit { .. } => "copy_limit",
            HoldingRefusal::TooFewWitnesses { .. } => "too_few_witnesses",
            HoldingRefusal::WitnessNotCleared { .. } => "witness_not_cleared",
        }
    }
}

impl Registry {
    /// The reason for a refusal of an act on a held item, citing its rule.
    pub fn explain_holding(&self, r: &HoldingRefusal, zone: &jiff::tz::TimeZone) -> Reason {
        let level = |l: LevelRef| self.level_name(l).to_owned();
        match r {
            HoldingRefusal::UnknownReference => Reason {
                text: "the item has no label in this party's policy, or names a level this registry does not know".into(),
                cites: vec![Citation::DenyByDefault],
            },
            HoldingRefusal::Disposed { how, at } => Reason {
                text: format!(
                    "the item was {} at {}; its history stays but it can no longer be read, copied, released or disposed of again",
                    how.as_str(),
                    crate::time::format_in(*at, zone)
                ),
                cites: vec![Citation::System(13)],
            },
            HoldingRefusal::CopyForbidden => Reason {
                text: format!("the originator's label forbids any copy (`{REPRODUCTION}: {NO_COPY}`)"),
                cites: vec![Citation::System(12)],
            },
            HoldingRefusal::CopyLimit {
                limit,
                made,
                asked,
                by_originator,
            } => Reason {
                text: format!(
                    "{} allows at most {limit} cop{} of this item here; {made} made, {asked} asked",
                    if *by_originator {
                        "the originator's label"
                    } else {
                        "this party's policy for the item's level"
                    },
                    if *limit == 1 { "y" } else { "ies" }
                ),
                cites: vec![Citation::System(12)],
            },
            HoldingRefusal::TooFewWitnesses {
                level: l,
                needed,
                qualified,
            } => Reason {
                text: format!(
                    "destroying an item of `{}` needs {needed} qualified witness{}; {qualified} qualified",
                    level(*l),
                    if *needed == 1 { "" } else { "es" }
                ),
                cites: vec![Citation::System(13)],
            },
            HoldingRefusal::WitnessNotCleared {
                witness,
                needs,
                why,
            } => Reason {
                text: format!(
                    "witness {} {} (a witness needs a valid clearance of this party at or above `{}`)",
                    witness + 1,
                    match why {
                        WitnessFault::Below => "is cleared below that level",
                        WitnessFault::Expired => "has a clearance that has ended",
                        WitnessFault::Foreign => "holds a clearance of another party's policy",
                    },
                    level(*needs)
                ),
                cites: vec![Citation::System(13), Citation::System(10)],
            },
        }
    }
}

/// The level an item is held at by `holder`: its own label's level, or the
/// equivalent recorded at receipt.
fn held_level(labels: &ItemLabels, holder: PartyRef) -> Option<LevelRef> {
    labels.in_policy(holder).map(|l| l.level)
}

/// Decides whether `asked` more copies of an item may be made at `holder`,
/// which has made `made` already: the originator's [`REPRODUCTION`]
/// marking and the holder's policy cap for the item's level, whichever is
/// stricter (rule 12). A marking that does not parse refuses (deny by
/// default).
pub fn decide_copy(
    reg: &Registry,
    labels: &ItemLabels,
    holder: PartyRef,
    made: u32,
    asked: u32,
) -> Result<(), Vec<HoldingRefusal>> {
    let Some(info) = held_level(labels, holder).and_then(|l| reg.level_info(l)) else {
        return Err(vec![HoldingRefusal::UnknownReference]);
    };
    let originator = match copy_limit(labels.original()) {
        Ok(l) => l,
        Err(_) => return Err(vec![HoldingRefusal::CopyForbidden]),
    };
    let total = made.saturating_add(asked);
    let mut out = Vec::new();
    match originator {
        Some(CopyLimit::Forbidden) => out.push(HoldingRefusal::CopyForbidden),
        Some(CopyLimit::AtMost(n)) if total > n => out.push(HoldingRefusal::CopyLimit {
            limit: n,
            made,
            asked,
            by_originator: true,
        }),
        _ => {}
    }
    if let Some(cap) = info.handling.max_copies
        && total > cap
    {
        out.push(HoldingRefusal::CopyLimit {
            limit: cap,
            made,
            asked,
            by_originator: false,
        });
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// What a permitted destruction must record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestructionRecord {
    /// The item's level in the holder's policy.
    pub level: LevelRef,
    /// Witnesses the policy needs.
    pub witnesses_needed: u32,
    /// Until when the holder's policy keeps the signed record (`None`: the
    /// policy asks for no record; the ledger entry is kept regardless).
    pub keep_until: Option<Timestamp>,
}

/// Decides a destruction at `holder` at `at` with these witnesses (each a
/// different person from the one destroying): the holder's policy for the
/// item's level says how many witnesses, cleared to which level, and how
/// long the record is kept (rule 13).
pub fn decide_destruction(
    reg: &Registry,
    labels: &ItemLabels,
    holder: PartyRef,
    witnesses: &[Reader],
    at: Timestamp,
) -> Result<DestructionRecord, Vec<HoldingRefusal>> {
    let Some(level) = held_level(labels, holder) else {
        return Err(vec![HoldingRefusal::UnknownReference]);
    };
    let Some(info) = reg.level_info(level) else {
        return Err(vec![HoldingRefusal::UnknownReference]);
    };
    let rule = &info.handling.destruction;
    let needs = rule.witness_level.map_or(level, |l| LevelRef {
        policy: level.policy,
        level: l,
    });
    let need_rank = reg.rank(needs);
    let mut out = Vec::new();
    let mut qualified = 0u32;
    for (i, w) in witnesses.iter().enumerate() {
        let fault = if w.clearance.policy() != holder || w.party != holder {
            Some(WitnessFault::Foreign)
        } else if at >= w.clearance_until {
            Some(WitnessFault::Expired)
        } else if reg.level_info(w.clearance).is_none_or(|c| !c.classified)
            || reg.rank(w.clearance) < need_rank
        {
            Some(WitnessFault::Below)
        } else {
            None
        };
        match fault {
            Some(why) => out.push(HoldingRefusal::WitnessNotCleared {
                witness: i,
                needs,
                why,
            }),
            None => qualified += 1,
        }
    }
    if qualified < rule.witnesses {
        out.push(HoldingRefusal::TooFewWitnesses {
            level,
            needed: rule.witnesses,
            qualified,
        });
    }
    if !out.is_empty() {
        return Err(out);
    }
    let keep_until = (rule.record_days > 0).then(|| {
        at.checked_add(SignedDuration::from_hours(i64::from(rule.record_days) * 24))
            .unwrap_or(Timestamp::MAX)
    });
    Ok(DestructionRecord {
        level,
        witnesses_needed: rule.witnesses,
        keep_until,
    })
}

/// A part of a derived document: the information of one source item.
#[derive(Debug, Clone, Copy)]
pub struct SourcePart<'a> {
    /// The source's originator label (as its originator signed it).
    pub label: &'a Label,
    /// The originator's id of the source (for item-scoped consents).
    pub item: &'a ItemId,
}

/// Why a derived label could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// A source has no label in the author's policy.
    #[error("source {0} has no label in the author's policy")]
    NoLabelInPolicy(usize),
    /// The labels did not aggregate.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}

/// The label of a document `author` writes from `parts` (each source's
/// label in the author's policy: its own label, or the equivalent recorded
/// at receipt) and its own contribution `own`: the aggregation rule
/// (highest level, union of restrictive topics, intersection of permissive
/// REL TO, every informative category), originated by the author at `at`,
/// naming every other party whose information it contains
/// ([`CONTAINS`]) with the origin note (rule 7; Arts 4, 15).
pub fn derived_label(
    reg: &Registry,
    author: PartyRef,
    own: &Label,
    parts: &[&Label],
    originators: &[PartyRef],
    at: Timestamp,
) -> Result<Label, DeriveError> {
    // A part's REL TO never excludes its own originator (an originator
    // need not list itself), so it is added before intersecting.
    let with_origin = |l: &Label| -> Label {
        let mut l = l.clone();
        if let Some(r) = &mut l.rel_to {
            r.insert(l.originator);
        }
        l
    };
    let mut own = with_origin(own);
    if let Some(r) = &mut own.rel_to {
        r.insert(author);
    }
    let parts: Vec<Label> = parts.iter().map(|l| with_origin(l)).collect();
    let mut all: Vec<&Label> = Vec::with_capacity(parts.len() + 1);
    all.push(&own);
    all.extend(parts.iter());
    let mut label = aggregate(&all, |l| reg.rank(l))?;
    label.originator = author;
    label.created_at = at;
    let mut others: Vec<&str> = originators
        .iter()
        .filter(|p| **p != author)
        .map(|p| reg.party_id(*p))
        .collect();
    others.sort_unstable();
    others.dedup();
    // Every source's informative categories are kept (a source's
    // `Dispose-By` and `Reproduction` bind what is made from it).
    if !others.is_empty() {
        label
            .informative
            .retain(|i| i.tag != CONTAINS && i.tag != ORIGIN_NOTE);
        label.informative.push(Informative {
            tag: CONTAINS.to_owned(),
            values: others.iter().map(|s| (*s).to_owned()).collect(),
        });
        label.informative.push(Informative {
            tag: ORIGIN_NOTE.to_owned(),
            values: vec![format!(
                "contains classified military information of {}",
                others.join(", ")
            )],
        });
    }
    Ok(label)
}

/// The decision on releasing a derived document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedDecision {
    /// On the document's own label (the author provides it directly).
    pub own: Decision,
    /// For each source part of another originator: the decision on its
    /// information going onward (rule 9), in the order given.
    pub parts: Vec<(usize, Decision)>,
}

impl DerivedDecision {
    /// Whether the document may go: its own label and every foreign part allow it.
    pub fn is_release(&self) -> bool {
        self.own.is_release() && self.parts.iter().all(|(_, d)| d.is_release())
    }
}

/// Decides releasing a document `holder` derived from `parts` to
/// `recipient` at `at`: its own label is decided as any item of the
/// holder's, and each part whose originator is neither the holder nor the
/// recipient is decided as an onward release of that originator's item
/// (with the consents held): every originator's consent is needed.
pub fn decide_derived_release(
    reg: &Registry,
    own: &Label,
    parts: &[SourcePart<'_>],
    holder: PartyRef,
    recipient: PartyRef,
    at: Timestamp,
    consents: &[Consent],
) -> DerivedDecision {
    let own_decision = decide_release(
        reg,
        &ReleaseRequest {
            label: own,
            item: None,
            holder,
            recipient,
            at,
            consents: &[],
        },
    );
    let parts = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.label.originator != holder && p.label.originator != recipient)
        .map(|(i, p)| {
            (
                i,
                decide_release(
                    reg,
                    &ReleaseRequest {
                        label: p.label,
                        item: Some(p.item),
                        holder,
                        recipient,
                        at,
                        consents,
                    },
                ),
            )
        })
        .collect();
    DerivedDecision {
        own: own_decision,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduction_values_parse_strictly() {
        assert_eq!(parse_reproduction("NO COPY"), Ok(CopyLimit::Forbidden));
        assert_eq!(parse_reproduction("copies 3"), Ok(CopyLimit::AtMost(3)));
        assert_eq!(parse_reproduction("COPIES 0"), Ok(CopyLimit::Forbidden));
        for bad in ["", "COPIES", "COPIES -1", "COPIES x", "NOCOPY", "copies3"] {
            assert!(parse_reproduction(bad).is_err(), "{bad}");
        }
        assert_eq!(reproduction_value(CopyLimit::AtMost(2)), "COPIES 2");
    }
}
