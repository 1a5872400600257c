//! The originator's prior written consent to an onward release or a hub relay
//! (GSOMIA.md rule 9, Art 5; rule 16 for the hub).
//!
//! A consent names who gave it (the originator), who may release (the holder),
//! to whom, for what (one item or topics), and for how long. Binding it to a
//! signature is the sealing layer's job; this module decides whether a
//! consent, taken as authentic, covers a release at an instant.

use jiff::Timestamp;

use crate::ids::{ItemId, PartyRef, TopicSet};
use crate::label::Label;

/// What a consent covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentScope {
    /// One item.
    Item(ItemId),
    /// Any item whose topics all fall within these topics (subtrees included).
    Topics(TopicSet),
}

/// An originator's consent to release onward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The party that originated the information and gives consent.
    pub originator: PartyRef,
    /// The party allowed to release (the hub for a relay).
    pub holder: PartyRef,
    /// The party it may be released to.
    pub recipient: PartyRef,
    /// What it covers.
    pub scope: ConsentScope,
    /// When it was given.
    pub granted_at: Timestamp,
    /// The first instant it no longer holds.
    pub expires_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Why a consent does not cover a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMismatch {
    /// Given by another party than the originator.
    NotFromOriginator,
    /// For another holder.
    OtherHolder,
    /// For another recipient.
    OtherRecipient,
    /// For another item.
    OtherItem,
    /// Not for all the item's topics.
    TopicsNotCovered,
    /// Given after the instant of release.
    NotYetGiven,
    /// Expired at or before the instant.
    Expired,
    /// Revoked at or before the instant.
    Revoked,
}

impl ConsentMismatch {
    /// A short explanation.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMismatch::NotFromOriginator => "it was not given by the originator",
            ConsentMismatch::OtherHolder => "it is for another releasing party",
            ConsentMismatch::OtherRecipient => "it is for another recipient",
            ConsentMismatch::OtherItem => "it is for another item",
            ConsentMismatch::TopicsNotCovered => "it does not cover all the item's topics",
            ConsentMismatch::NotYetGiven => "it was given after the instant of release",
            ConsentMismatch::Expired => "it had expired",
            ConsentMismatch::Revoked => "it had been revoked",
        }
    }
}

impl Consent {
    /// Whether this consent covers releasing `label` (item `item`) from
    /// `holder` to `recipient` at `at`; the first mismatch otherwise.
    pub fn covers(
        &self,
        label: &Label,
        item: Option<&ItemId>,
        holder: PartyRef,
        recipient: PartyRef,
        at: Timestamp,
    ) -> Result<(), ConsentMismatch> {
        if self.originator != label.originator {
            return Err(ConsentMismatch::NotFromOriginator);
        }
        if self.holder != holder {
            return Err(ConsentMismatch::OtherHolder);
        }
        if self.recipient != recipient {
            return Err(ConsentMismatch::OtherRecipient);
        }
        match &self.scope {
            ConsentScope::Item(id) => {
                if item != Some(id) {
                    return Err(ConsentMismatch::OtherItem);
                }
            }
            ConsentScope::Topics(topics) => {
                if !label.topics.is_subset(topics) {
                    return Err(ConsentMismatch::TopicsNotCovered);
                }
            }
        }
        if at < self.granted_at {
            return Err(ConsentMismatch::NotYetGiven);
        }
        if at >= self.expires_at {
            return Err(ConsentMismatch::Expired);
        }
        if self.revoked_at.is_some_and(|r| at >= r) {
            return Err(ConsentMismatch::Revoked);
        }
        Ok(())
    }
}
