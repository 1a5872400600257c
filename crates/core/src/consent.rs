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
    NotYetGiven {
        /// When it was given.
        granted_at: Timestamp,
    },
    /// Expired at or before the instant.
    Expired {
        /// The first instant it no longer held.
        at: Timestamp,
    },
    /// Revoked at or before the instant.
    Revoked {
        /// When it was revoked.
        at: Timestamp,
    },
}

impl ConsentMismatch {
    /// A short explanation, instants in UTC (callers with a zone use
    /// [`ConsentMismatch::describe`]).
    pub fn as_str(self) -> String {
        self.describe(&jiff::tz::TimeZone::UTC)
    }

    /// A short explanation, instants shown in `zone`.
    pub fn describe(self, zone: &jiff::tz::TimeZone) -> String {
        let at = |t: Timestamp| crate::time::format_in(t, zone);
        match self {
            ConsentMismatch::NotFromOriginator => "it was not given by the originator".into(),
            ConsentMismatch::OtherHolder => "it is for another releasing party".into(),
            ConsentMismatch::OtherRecipient => "it is for another recipient".into(),
            ConsentMismatch::OtherItem => "it is for another item".into(),
            ConsentMismatch::TopicsNotCovered => "it does not cover all the item's topics".into(),
            ConsentMismatch::NotYetGiven { granted_at } => {
                format!(
                    "it was given at {}, after the instant of release",
                    at(granted_at)
                )
            }
            ConsentMismatch::Expired { at: t } => format!("it expired at {}", at(t)),
            ConsentMismatch::Revoked { at: t } => format!("it was revoked at {}", at(t)),
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
            return Err(ConsentMismatch::NotYetGiven {
                granted_at: self.granted_at,
            });
        }
        if let Some(r) = self.revoked_at.filter(|r| at >= *r && *r < self.expires_at) {
            return Err(ConsentMismatch::Revoked { at: r });
        }
        if at >= self.expires_at {
            return Err(ConsentMismatch::Expired {
                at: self.expires_at,
            });
        }
        Ok(())
    }
}
