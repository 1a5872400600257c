//! The two questions the system exists to answer, as pure functions:
//!
//! - [`decide_release`]: may the holder of an item release it to a party at an
//!   instant? (GSOMIA.md rules 1, 5, 6, 9, 16)
//! - [`decide_access`]: may a person of a party read it at an instant?
//!   (rule 10)
//!
//! Both deny by default: a reference that does not resolve, an unclassified
//! level, a missing agreement or consent is a refusal with a typed reason,
//! never a pass. Refusals carry references, not text; [`crate::explain`]
//! renders them with the rules they apply. A release does not allocate.

use jiff::Timestamp;

use crate::agreement::{AgreementKind, Relay, State, ThirdParty};
use crate::consent::{Consent, ConsentMismatch};
use crate::ids::{AgreementRef, ItemId, LevelRef, PartyRef, TopicSet};
use crate::label::{ItemLabels, Label};
use crate::registry::Registry;

/// A request to release an item.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRequest<'a> {
    /// The originator's label of the item (never an equivalent label).
    pub label: &'a Label,
    /// The item's id, for item-scoped consents.
    pub item: Option<&'a ItemId>,
    /// The party that holds the item and would release it.
    pub holder: PartyRef,
    /// The party it would go to.
    pub recipient: PartyRef,
    /// The instant of release.
    pub at: Timestamp,
    /// Consents the holder has from the originator.
    pub consents: &'a [Consent],
}

/// How an item reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The originator provides it directly under a bilateral agreement.
    Direct,
    /// A recipient releases it onward to a third party with the originator's consent.
    Onward {
        /// The agreement under which the holder received it.
        received_under: AgreementRef,
        /// The consent relied on (index into the request's consents).
        consent: usize,
    },
    /// The hub of an arrangement relays it between members with consent.
    HubRelay {
        /// The arrangement.
        arrangement: AgreementRef,
        /// The agreement under which the hub received it.
        received_under: AgreementRef,
        /// The consent relied on.
        consent: usize,
    },
    /// A recipient returns it to its originator (allowed after termination too).
    Return,
}

/// A permitted release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The agreement the item crosses under.
    pub agreement: AgreementRef,
    /// The version of that agreement in effect at the instant.
    pub version: u32,
    /// The route.
    pub route: Route,
    /// The level the recipient marks the item with.
    pub recipient_level: LevelRef,
}

/// Why a release is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A reference that does not belong to this registry.
    UnknownReference,
    /// The label given is not the originator's own label.
    NotOriginatorLabel,
    /// The level is not classified information (rule 6).
    Unclassified {
        /// The level.
        level: LevelRef,
    },
    /// Holder and recipient are the same party.
    SameParty,
    /// The REL TO marking excludes the recipient.
    NotReleasable {
        /// The recipient.
        recipient: PartyRef,
    },
    /// No agreement links the two parties (deny by default).
    NoAgreement {
        /// The releasing party.
        from: PartyRef,
        /// The recipient.
        to: PartyRef,
    },
    /// The agreement is not in force at the instant (rules 1, 5).
    NotInForce {
        /// The agreement.
        agreement: AgreementRef,
        /// Its state at the instant.
        state: State,
    },
    /// Topics outside the agreement's scope.
    TopicsOutOfScope {
        /// The agreement.
        agreement: AgreementRef,
        /// The topics not covered.
        topics: TopicSet,
    },
    /// The level is not covered by the agreement (rule 6).
    LevelNotCovered {
        /// The agreement.
        agreement: AgreementRef,
        /// The level, in the releasing party's policy.
        level: LevelRef,
    },
    /// The holder cannot have received the item under any agreement with the originator.
    NeverReceived {
        /// The originator.
        originator: PartyRef,
        /// The holder.
        holder: PartyRef,
    },
    /// The agreement it was received under forbids any third-party release.
    ThirdPartyForbidden {
        /// That agreement.
        agreement: AgreementRef,
    },
    /// No consent from the originator covers this release (rule 9).
    NoConsent {
        /// The agreement it was received under.
        received_under: AgreementRef,
        /// The hub arrangement the relay would use, if any.
        arrangement: Option<AgreementRef>,
    },
    /// A consent was given but does not cover this release.
    ConsentMismatch {
        /// Index into the request's consents.
        consent: usize,
        /// Why not.
        why: ConsentMismatch,
    },
}

impl Refusal {
    /// Every kind of release refusal, by the name docs/rules.md lists it under.
    pub const KINDS: [&'static str; 15] = [
        "unknown_reference",
        "not_originator_label",
        "unclassified",
        "same_party",
        "not_releasable",
        "no_agreement",
        "not_yet_in_force",
        "terminated",
        "topics_out_of_scope",
        "level_not_covered",
        "never_received",
        "third_party_forbidden",
        "no_consent",
        "no_consent_for_relay",
        "consent_mismatch",
    ];

    /// The name of this kind of refusal (one of [`Refusal::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::UnknownReference => "unknown_reference",
            Refusal::NotOriginatorLabel => "not_originator_label",
            Refusal::Unclassified { .. } => "unclassified",
            Refusal::SameParty => "same_party",
            Refusal::NotReleasable { .. } => "not_releasable",
            Refusal::NoAgreement { .. } => "no_agreement",
            Refusal::NotInForce {
                state: State::NotYetInForce,
                ..
            } => "not_yet_in_force",
            Refusal::NotInForce { .. } => "terminated",
            Refusal::TopicsOutOfScope { .. } => "topics_out_of_scope",
            Refusal::LevelNotCovered { .. } => "level_not_covered",
            Refusal::NeverReceived { .. } => "never_received",
            Refusal::ThirdPartyForbidden { .. } => "third_party_forbidden",
            Refusal::NoConsent {
                arrangement: Some(_),
                ..
            } => "no_consent_for_relay",
            Refusal::NoConsent { .. } => "no_consent",
            Refusal::ConsentMismatch { .. } => "consent_mismatch",
        }
    }
}

/// The answer to a release request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Release, under the agreement named.
    Release(Release),
    /// Withhold, for these reasons (never empty).
    Withhold(Vec<Refusal>),
}

impl Decision {
    /// Whether the item may go.
    pub fn is_release(&self) -> bool {
        matches!(self, Decision::Release(_))
    }
}

fn withhold(r: Refusal) -> Decision {
    Decision::Withhold(vec![r])
}

/// Checks one leg (from the level's party to `recipient`) under agreement `a`.
#[inline]
fn check_leg(
    reg: &Registry,
    a: AgreementRef,
    level: LevelRef,
    recipient: PartyRef,
    topics: &TopicSet,
    at: Timestamp,
    out: &mut Vec<Refusal>,
) -> Option<(u32, LevelRef)> {
    let Some(agreement) = reg.agreement(a) else {
        out.push(Refusal::UnknownReference);
        return None;
    };
    let lifecycle = agreement.lifecycle();
    let mut ok = true;
    if !lifecycle.in_force_at(at) {
        out.push(Refusal::NotInForce {
            agreement: a,
            state: lifecycle.state_at(at),
        });
        ok = false;
    }
    let Some(version) = agreement.version_at(at) else {
        out.push(Refusal::UnknownReference);
        return None;
    };
    if !topics.is_subset(&version.topics) {
        out.push(Refusal::TopicsOutOfScope {
            agreement: a,
            topics: topics.difference(&version.topics),
        });
        ok = false;
    }
    let equivalent = version.coverage.equivalent(level, recipient);
    if equivalent.is_none() {
        out.push(Refusal::LevelNotCovered {
            agreement: a,
            level,
        });
    }
    match equivalent {
        Some(l) if ok => Some((version.number, l)),
        _ => None,
    }
}

/// Decides whether `req.holder` may release the item to `req.recipient` at
/// `req.at`.
///
/// - The originator provides directly only under a bilateral agreement in
///   force at that instant that covers the level and every topic; a REL TO
///   marking must include the recipient.
/// - Any other holder releases to a third party only with a consent from the
///   originator that covers the holder, the recipient, the item (or its
///   topics) and the instant, and only under a bilateral agreement with the
///   recipient in force that covers the holder's equivalent level. When the
///   holder is the hub of an arrangement in force with both parties and the
///   topics in scope, the release is a hub relay under that arrangement.
/// - A holder may always return an item to its originator under the
///   agreement it came by (protection survives termination).
pub fn decide_release(reg: &Registry, req: &ReleaseRequest<'_>) -> Decision {
    let label = req.label;
    let originator = label.originator;
    if label.level.policy() != originator {
        return withhold(Refusal::NotOriginatorLabel);
    }
    let Some(level_info) = reg.level_info(label.level) else {
        return withhold(Refusal::UnknownReference);
    };
    if reg.policy(req.holder).is_none() || reg.policy(req.recipient).is_none() {
        return withhold(Refusal::UnknownReference);
    }
    if !level_info.classified {
        return withhold(Refusal::Unclassified { level: label.level });
    }
    if req.holder == req.recipient {
        return withhold(Refusal::SameParty);
    }

    if req.holder == originator {
        if !label.releasable_to(req.recipient) {
            return withhold(Refusal::NotReleasable {
                recipient: req.recipient,
            });
        }
        let candidates = reg.bilateral(originator, req.recipient);
        if candidates.is_empty() {
            return withhold(Refusal::NoAgreement {
                from: originator,
                to: req.recipient,
            });
        }
        let mut refusals = Vec::new();
        for &a in candidates {
            if let Some((version, recipient_level)) = check_leg(
                reg,
                a,
                label.level,
                req.recipient,
                &label.topics,
                req.at,
                &mut refusals,
            ) {
                return Decision::Release(Release {
                    agreement: a,
                    version,
                    route: Route::Direct,
                    recipient_level,
                });
            }
        }
        return Decision::Withhold(refusals);
    }

    // The holder received it: under which agreement, at which level?
    let Some((received_under, holder_level)) =
        reg.bilateral(originator, req.holder).iter().find_map(|&a| {
            reg.agreement(a)?
                .versions()
                .iter()
                .rev()
                .find_map(|v| v.coverage.equivalent(label.level, req.holder))
                .map(|l| (a, l))
        })
    else {
        return withhold(Refusal::NeverReceived {
            originator,
            holder: req.holder,
        });
    };

    if req.recipient == originator {
        // Returning to the originator is not a new provision (rule 5, Art 6).
        let version = reg
            .agreement(received_under)
            .and_then(|a| a.version_at(req.at))
            .map_or(1, |v| v.number);
        if req.at
            < reg
                .agreement(received_under)
                .map_or(req.at, |a| a.lifecycle().entry_into_force)
        {
            return withhold(Refusal::NotInForce {
                agreement: received_under,
                state: State::NotYetInForce,
            });
        }
        return Decision::Release(Release {
            agreement: received_under,
            version,
            route: Route::Return,
            recipient_level: label.level,
        });
    }

    let mut refusals = Vec::new();
    if reg
        .agreement(received_under)
        .is_some_and(|a| a.third_party() == ThirdParty::Never)
    {
        refusals.push(Refusal::ThirdPartyForbidden {
            agreement: received_under,
        });
    }
    if !label.releasable_to(req.recipient) {
        refusals.push(Refusal::NotReleasable {
            recipient: req.recipient,
        });
    }

    // A hub arrangement in force, with both parties, the holder as hub and the
    // topics in scope, makes this a relay.
    let arrangement = reg.agreement_refs().find(|&r| {
        reg.agreement(r).is_some_and(|a| {
            a.kind() == AgreementKind::HubArrangement
                && a.relay() == Some(Relay::WithOriginatorConsent)
                && a.hub() == Some(req.holder)
                && a.has_party(originator)
                && a.has_party(req.recipient)
                && a.lifecycle().in_force_at(req.at)
                && a.version_at(req.at)
                    .is_some_and(|v| label.topics.is_subset(&v.topics))
        })
    });

    let mut consent = None;
    for (i, c) in req.consents.iter().enumerate() {
        match c.covers(label, req.item, req.holder, req.recipient, req.at) {
            Ok(()) => {
                consent = Some(i);
                break;
            }
            Err(why) => refusals.push(Refusal::ConsentMismatch { consent: i, why }),
        }
    }
    if consent.is_none() {
        refusals.push(Refusal::NoConsent {
            received_under,
            arrangement,
        });
    }

    let candidates = reg.bilateral(req.holder, req.recipient);
    if candidates.is_empty() {
        refusals.push(Refusal::NoAgreement {
            from: req.holder,
            to: req.recipient,
        });
    }
    let mut leg = None;
    let mut leg_refusals = Vec::new();
    for &a in candidates {
        if let Some(found) = check_leg(
            reg,
            a,
            holder_level,
            req.recipient,
            &label.topics,
            req.at,
            &mut leg_refusals,
        ) {
            leg = Some((a, found));
            break;
        }
    }
    if leg.is_none() {
        refusals.extend(leg_refusals);
    }
    match (leg, consent) {
        (Some((agreement, (version, recipient_level))), Some(consent))
            if !refusals
                .iter()
                .any(|r| !matches!(r, Refusal::ConsentMismatch { .. })) =>
        {
            let route = match arrangement {
                Some(arrangement) => Route::HubRelay {
                    arrangement,
                    received_under,
                    consent,
                },
                None => Route::Onward {
                    received_under,
                    consent,
                },
            };
            Decision::Release(Release {
                agreement,
                version,
                route,
                recipient_level,
            })
        }
        _ => Decision::Withhold(refusals),
    }
}

/// A person asking to read, as the register knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// The party the person belongs to.
    pub party: PartyRef,
    /// The person's clearance, a level of their party's policy.
    pub clearance: LevelRef,
    /// The first instant the clearance is no longer valid.
    pub clearance_until: Timestamp,
    /// Topics the person needs to know (subtopics included).
    pub need_to_know: TopicSet,
    /// For a person of a contractor facility: the facility's standing and
    /// their briefing (Art 16; rule 15). `None` for the party's own staff.
    pub contractor: Option<crate::contractor::Contractor>,
}

/// Why a read is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRefusal {
    /// A reference that does not belong to this registry.
    UnknownReference,
    /// The item carries no label in the reader's policy (rule 7).
    NoLabelInPolicy {
        /// The reader's party.
        party: PartyRef,
    },
    /// The clearance is not a level of the reader's policy.
    ForeignClearance,
    /// The clearance is not valid at the instant.
    ClearanceExpired {
        /// When it ended.
        until: Timestamp,
    },
    /// The clearance is below the item's level (no read-up).
    BelowLevel {
        /// The clearance.
        clearance: LevelRef,
        /// The item's level in the reader's policy.
        level: LevelRef,
    },
    /// Need-to-know is missing for some topics.
    NoNeedToKnow {
        /// The topics missing.
        topics: TopicSet,
    },
    /// The REL TO marking excludes the reader's nationality.
    NotReleasableToParty {
        /// The reader's party.
        party: PartyRef,
    },
    /// A contractor's facility or briefing fails an Art 16 condition.
    Contractor(crate::contractor::ContractorRefusal),
}

impl AccessRefusal {
    /// Every kind of access refusal, by the name docs/rules.md lists it under.
    pub const KINDS: [&'static str; 17] = [
        "access_unknown_reference",
        "no_label_in_policy",
        "foreign_clearance",
        "clearance_expired",
        "below_level",
        "no_need_to_know",
        "not_releasable_to_party",
        "facility_records_unverified",
        "no_facility_clearance",
        "facility_below_level",
        "facility_clearance_expired",
        "no_responsible_person",
        "never_inspected",
        "inspection_failed",
        "inspection_overdue",
        "not_briefed",
        "briefing_overdue",
    ];

    /// The name of this kind of refusal (one of [`AccessRefusal::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            AccessRefusal::UnknownReference => "access_unknown_reference",
            AccessRefusal::NoLabelInPolicy { .. } => "no_label_in_policy",
            AccessRefusal::ForeignClearance => "foreign_clearance",
            AccessRefusal::ClearanceExpired { .. } => "clearance_expired",
            AccessRefusal::BelowLevel { .. } => "below_level",
            AccessRefusal::NoNeedToKnow { .. } => "no_need_to_know",
            AccessRefusal::NotReleasableToParty { .. } => "not_releasable_to_party",
            AccessRefusal::Contractor(c) => c.kind(),
        }
    }
}

/// The answer to a read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Allowed, against this label.
    Allow {
        /// The item's level in the reader's policy.
        level: LevelRef,
        /// The agreement the equivalent label came from (none for own items).
        agreement: Option<AgreementRef>,
    },
    /// Denied, for these reasons (never empty).
    Deny(Vec<AccessRefusal>),
}

impl AccessDecision {
    /// Whether the read is allowed.
    pub fn is_allow(&self) -> bool {
        matches!(self, AccessDecision::Allow { .. })
    }
}

/// Decides whether `reader` may read an item carrying `labels` at `at`: the
/// label in the reader's own policy decides (the originator's for own items,
/// the equivalent label otherwise); the clearance must be valid at `at`, at or
/// above that level, and need-to-know must cover every topic. Access is not
/// tied to the agreement being in force: protection survives termination.
pub fn decide_access(
    reg: &Registry,
    reader: &Reader,
    labels: &ItemLabels,
    at: Timestamp,
) -> AccessDecision {
    let (label, agreement) = if labels.original().policy() == reader.party {
        (labels.original(), None)
    } else {
        match labels
            .equivalents()
            .iter()
            .find(|e| e.label.policy() == reader.party)
        {
            Some(e) => (&e.label, e.agreement),
            None => {
                return AccessDecision::Deny(vec![AccessRefusal::NoLabelInPolicy {
                    party: reader.party,
                }]);
            }
        }
    };
    let (Some(clearance), Some(level)) = (
        reg.level_info(reader.clearance),
        reg.level_info(label.level),
    ) else {
        return AccessDecision::Deny(vec![AccessRefusal::UnknownReference]);
    };
    let mut refusals = Vec::new();
    if reader.clearance.policy() != reader.party {
        refusals.push(AccessRefusal::ForeignClearance);
    }
    if at >= reader.clearance_until {
        refusals.push(AccessRefusal::ClearanceExpired {
            until: reader.clearance_until,
        });
    }
    if clearance.rank < level.rank || !clearance.classified && level.classified {
        refusals.push(AccessRefusal::BelowLevel {
            clearance: reader.clearance,
            level: label.level,
        });
    }
    if !label.topics.is_subset(&reader.need_to_know) {
        refusals.push(AccessRefusal::NoNeedToKnow {
            topics: label.topics.difference(&reader.need_to_know),
        });
    }
    if label.originator != reader.party && !label.releasable_to(reader.party) {
        refusals.push(AccessRefusal::NotReleasableToParty {
            party: reader.party,
        });
    }
    if let Some(c) = &reader.contractor {
        refusals.extend(
            crate::contractor::check_contractor(reg, c, label.level, at)
                .into_iter()
                .map(AccessRefusal::Contractor),
        );
    }
    if refusals.is_empty() {
        AccessDecision::Allow {
            level: label.level,
            agreement,
        }
    } else {
        AccessDecision::Deny(refusals)
    }
}
