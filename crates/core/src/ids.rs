//! Identifiers: the names users type, and the compact references a compiled
//! [`Registry`](crate::Registry) hands out for them.
//!
//! Names (`PartyId`, `AgreementId`, ...) are newtypes, never bare strings. A
//! reference (`PartyRef`, `LevelRef`, ...) is an index into one registry; it is
//! only obtained by resolving a name against that registry, so a decision never
//! has to look a string up.

use std::fmt;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name as given.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
    };
}

name_type!(
    /// A party's code: an ISO 3166 alpha-3 trigraph such as `JPN`, `KOR`, `USA`.
    /// A party's national policy carries the same code.
    PartyId
);
name_type!(
    /// An agreement's id, such as `jp-kr-2016`.
    AgreementId
);
name_type!(
    /// A topic's dotted id, such as `dprk.missile`.
    TopicId
);
name_type!(
    /// An item's id, as assigned by the party that holds it.
    ItemId
);

/// A party (and its national policy) in one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyRef(pub(crate) u16);

impl PartyRef {
    /// The position of the party in its registry.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A classification level of one national policy in one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelRef {
    pub(crate) policy: u16,
    pub(crate) level: u16,
}

impl LevelRef {
    /// The party whose national policy defines this level.
    pub fn policy(self) -> PartyRef {
        PartyRef(self.policy)
    }
}

/// A topic in one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicRef(pub(crate) u16);

/// An agreement in one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgreementRef(pub(crate) u16);

impl AgreementRef {
    /// The position of the agreement in its registry.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The most parties a registry holds (the width of [`PartySet`]).
pub const MAX_PARTIES: usize = 64;
/// The most topics a registry holds (the width of [`TopicSet`]).
pub const MAX_TOPICS: usize = 256;

/// A set of parties, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PartySet(u64);

impl PartySet {
    /// The empty set.
    pub const EMPTY: PartySet = PartySet(0);

    /// Adds a party.
    pub fn insert(&mut self, party: PartyRef) {
        self.0 |= 1u64 << (party.0 % 64);
    }
    /// Whether the party is in the set.
    pub fn contains(self, party: PartyRef) -> bool {
        party.0 < 64 && self.0 & (1u64 << party.0) != 0
    }
    /// Parties in both sets.
    pub fn intersection(self, other: PartySet) -> PartySet {
        PartySet(self.0 & other.0)
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The parties in index order.
    pub fn iter(self) -> impl Iterator<Item = PartyRef> {
        (0u16..64)
            .filter(move |i| self.0 & (1u64 << i) != 0)
            .map(PartyRef)
    }
}

impl FromIterator<PartyRef> for PartySet {
    fn from_iter<I: IntoIterator<Item = PartyRef>>(iter: I) -> Self {
        let mut set = PartySet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// A set of topics, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TopicSet([u64; 4]);

impl TopicSet {
    /// The empty set.
    pub const EMPTY: TopicSet = TopicSet([0; 4]);

    fn slot(topic: TopicRef) -> (usize, u64) {
        let i = usize::from(topic.0) % MAX_TOPICS;
        (i / 64, 1u64 << (i % 64))
    }

    /// Adds a topic.
    pub fn insert(&mut self, topic: TopicRef) {
        let (word, bit) = Self::slot(topic);
        if let Some(w) = self.0.get_mut(word) {
            *w |= bit;
        }
    }
    /// Whether the topic is in the set.
    pub fn contains(self, topic: TopicRef) -> bool {
        let (word, bit) = Self::slot(topic);
        usize::from(topic.0) < MAX_TOPICS && self.0.get(word).is_some_and(|w| w & bit != 0)
    }
    /// Whether every topic of `self` is in `other`.
    pub fn is_subset(&self, other: &TopicSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
    /// Topics of `self` not in `other`.
    pub fn difference(&self, other: &TopicSet) -> TopicSet {
        let mut out = [0u64; 4];
        for ((o, a), b) in out.iter_mut().zip(self.0.iter()).zip(other.0.iter()) {
            *o = a & !b;
        }
        TopicSet(out)
    }
    /// Topics in either set.
    pub fn union(&self, other: &TopicSet) -> TopicSet {
        let mut out = [0u64; 4];
        for ((o, a), b) in out.iter_mut().zip(self.0.iter()).zip(other.0.iter()) {
            *o = a | b;
        }
        TopicSet(out)
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    /// The topics in index order.
    pub fn iter(&self) -> impl Iterator<Item = TopicRef> + '_ {
        (0u16..256)
            .filter(|i| self.contains(TopicRef(*i)))
            .map(TopicRef)
    }
}

impl FromIterator<TopicRef> for TopicSet {
    fn from_iter<I: IntoIterator<Item = TopicRef>>(iter: I) -> Self {
        let mut set = TopicSet::EMPTY;
        for t in iter {
            set.insert(t);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_sets_cover_all_256_slots() {
        let all: TopicSet = (0u16..256).map(TopicRef).collect();
        assert_eq!(all.iter().count(), 256);
        let high: TopicSet = [TopicRef(255), TopicRef(64)].into_iter().collect();
        assert!(high.is_subset(&all));
        assert!(!all.is_subset(&high));
        assert_eq!(all.difference(&high).iter().count(), 254);
        assert!(!TopicSet::EMPTY.contains(TopicRef(300)));
    }

    #[test]
    fn party_sets_intersect() {
        let a: PartySet = [PartyRef(0), PartyRef(2)].into_iter().collect();
        let b: PartySet = [PartyRef(2), PartyRef(63)].into_iter().collect();
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            vec![PartyRef(2)]
        );
        assert!(!a.contains(PartyRef(64)));
    }
}
