//! Confidentiality labels shaped like NATO STANAG 4774.
//!
//! A label names a policy and a classification (here one [`LevelRef`], which
//! carries its policy), the originator, the creation time, and categories:
//!
//! - **topics** are *restrictive*: a reader needs need-to-know for every one,
//!   and an agreement must cover every one;
//! - **REL TO** is *permissive*: the item may go to (and be read by nationals
//!   of) any listed party; no list means no releasability marking;
//! - **informative** categories are carried and shown, never decided on.
//!
//! A received item keeps the originator's label unchanged and gains an
//! equivalent label in the receiver's policy ([`ItemLabels`]).

use jiff::Timestamp;

use crate::ids::{AgreementRef, LevelRef, PartyRef, PartySet, TopicSet};

/// An informative category: a tag name and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Informative {
    /// Tag name (`Handling`).
    pub tag: String,
    /// Values.
    pub values: Vec<String>,
}

/// A confidentiality label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The classification, in the policy of the party that wrote this label.
    pub level: LevelRef,
    /// The party that originated the information.
    pub originator: PartyRef,
    /// When the originator created the label.
    pub created_at: Timestamp,
    /// Restrictive: the topics the item concerns (at least one).
    pub topics: TopicSet,
    /// Permissive: the parties it may be released to (`None`: unmarked).
    pub rel_to: Option<PartySet>,
    /// Informative categories.
    pub informative: Vec<Informative>,
}

impl Label {
    /// The party whose policy this label is written in.
    pub fn policy(&self) -> PartyRef {
        self.level.policy()
    }
    /// Whether the REL TO marking (if any) lets the item reach `party`.
    pub fn releasable_to(&self, party: PartyRef) -> bool {
        self.rel_to.is_none_or(|set| set.contains(party))
    }
}

/// A receiver's equivalent label, and the agreement it was derived under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivalentLabel {
    /// The label in the receiver's policy.
    pub label: Label,
    /// The agreement whose table gave the equivalent level, when known (a
    /// label recorded at receipt is kept as recorded even if the profiles
    /// that gave it have changed since).
    pub agreement: Option<AgreementRef>,
}

/// All labels an item carries at one party: the originator's, never changed,
/// and the equivalents added on receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLabels {
    original: Label,
    equivalents: Vec<EquivalentLabel>,
}

impl ItemLabels {
    /// An item's labels at its originator.
    pub fn new(original: Label) -> Self {
        Self {
            original,
            equivalents: Vec::new(),
        }
    }
    /// The originator's label, as the originator wrote it.
    pub fn original(&self) -> &Label {
        &self.original
    }
    /// The equivalent labels added by receivers.
    pub fn equivalents(&self) -> &[EquivalentLabel] {
        &self.equivalents
    }
    /// Adds (or replaces) the equivalent label in one policy. The original is
    /// untouched: there is no way to change it through this type.
    pub fn add_equivalent(&mut self, eq: EquivalentLabel) {
        let policy = eq.label.policy();
        self.equivalents.retain(|e| e.label.policy() != policy);
        self.equivalents.push(eq);
    }
    /// The label written in `policy`: the original if the originator's policy,
    /// else the equivalent label in that policy.
    pub fn in_policy(&self, policy: PartyRef) -> Option<&Label> {
        if self.original.policy() == policy {
            return Some(&self.original);
        }
        self.equivalents
            .iter()
            .find(|e| e.label.policy() == policy)
            .map(|e| &e.label)
    }
}

/// Why labels could not be aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    /// Nothing to aggregate.
    #[error("no labels to aggregate")]
    Empty,
    /// Labels written in different policies: map them to one policy first.
    #[error("labels are in different national policies; aggregate their equivalents in one policy")]
    MixedPolicies,
}

/// The label of an item made from parts: the highest level, the union of the
/// restrictive topics, the intersection of the permissive REL TO lists, and
/// every informative category. `rank` gives a level's rank in its policy.
/// The result's originator and time are those of the part with the highest
/// level (the first such part).
pub fn aggregate(
    labels: &[&Label],
    rank: impl Fn(LevelRef) -> u16,
) -> Result<Label, AggregateError> {
    let (first, rest) = labels.split_first().ok_or(AggregateError::Empty)?;
    let policy = first.policy();
    if rest.iter().any(|l| l.policy() != policy) {
        return Err(AggregateError::MixedPolicies);
    }
    let mut top: &Label = first;
    let mut topics = first.topics;
    let mut rel_to = first.rel_to;
    let mut informative = first.informative.clone();
    for l in rest {
        if rank(l.level) > rank(top.level) {
            top = l;
        }
        topics = topics.union(&l.topics);
        rel_to = match (rel_to, l.rel_to) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a.intersection(b)),
        };
        for i in &l.informative {
            if !informative.contains(i) {
                informative.push(i.clone());
            }
        }
    }
    Ok(Label {
        level: top.level,
        originator: top.originator,
        created_at: top.created_at,
        topics,
        rel_to,
        informative,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PartyRef, TopicRef};

    fn label(level: u16, topics: &[u16], rel_to: Option<&[u16]>) -> Label {
        Label {
            level: LevelRef { policy: 0, level },
            originator: PartyRef(0),
            created_at: Timestamp::UNIX_EPOCH,
            topics: topics.iter().map(|t| TopicRef(*t)).collect(),
            rel_to: rel_to.map(|ps| ps.iter().map(|p| PartyRef(*p)).collect()),
            informative: vec![Informative {
                tag: "Handling".into(),
                values: vec![format!("L{level}")],
            }],
        }
    }

    #[test]
    fn aggregation_takes_the_highest_level_unions_topics_and_intersects_rel_to() {
        // Rank is the level index here: level 2 outranks level 1.
        let a = label(1, &[3], Some(&[1, 2]));
        let b = label(2, &[4], Some(&[2, 3]));
        let c = label(0, &[3], None);
        let agg = aggregate(&[&a, &b, &c], |l| l.level).unwrap();
        assert_eq!(agg.level, b.level);
        assert_eq!(
            agg.topics.iter().collect::<Vec<_>>(),
            vec![TopicRef(3), TopicRef(4)]
        );
        assert_eq!(
            agg.rel_to.unwrap().iter().collect::<Vec<_>>(),
            vec![PartyRef(2)]
        );
        assert_eq!(agg.informative.len(), 3);
        assert_eq!(aggregate(&[], |l| l.level), Err(AggregateError::Empty));
        let foreign = Label {
            level: LevelRef {
                policy: 1,
                level: 0,
            },
            ..c.clone()
        };
        assert_eq!(
            aggregate(&[&a, &foreign], |l| l.level),
            Err(AggregateError::MixedPolicies)
        );
    }

    #[test]
    fn the_original_label_is_kept_when_equivalents_are_added() {
        let original = label(1, &[3], None);
        let mut labels = ItemLabels::new(original.clone());
        let eq = |level| EquivalentLabel {
            label: Label {
                level: LevelRef { policy: 2, level },
                ..original.clone()
            },
            agreement: Some(AgreementRef(0)),
        };
        labels.add_equivalent(eq(0));
        labels.add_equivalent(eq(1));
        assert_eq!(labels.original(), &original);
        assert_eq!(labels.equivalents().len(), 1, "one equivalent per policy");
        assert_eq!(
            labels.in_policy(PartyRef(2)).map(|l| l.level.level),
            Some(1)
        );
        assert!(labels.in_policy(PartyRef(5)).is_none());
    }
}
