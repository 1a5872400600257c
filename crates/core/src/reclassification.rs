//! Reclassification (rule 8; Art 6): only the originator changes an item's
//! classification, by a written notice, and every holder follows it — the
//! item itself, its copies, and what was made from it (translations carry
//! the new equivalent level; a derived document's level is recomputed by
//! the aggregation rule).
//!
//! A notice carries a sequence number per item, starting at 1; a holder
//! applies a notice only over an older one, so notices that arrive out of
//! order (directly and through the hub) end in the same label everywhere.
//! The number travels in the relabelled label itself, as the informative
//! category [`RECLASSIFIED`], so it is signed with the label.

use jiff::Timestamp;

use crate::ids::{LevelRef, PartyRef};
use crate::label::{Informative, ItemLabels, Label};
use crate::reason::{Citation, Reason};
use crate::registry::Registry;

/// Informative category of a label changed by its originator: the number
/// of the latest notice applied (`1`, `2`, …).
pub const RECLASSIFIED: &str = "Reclassified";

/// Why a reclassification is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReclassRefusal {
    /// Only the originator changes a classification.
    NotOriginator {
        /// The item's originator.
        originator: PartyRef,
        /// The party that asked.
        by: PartyRef,
    },
    /// The new level is not a classified level of the originator's policy.
    NotClassified {
        /// The level asked for.
        level: LevelRef,
    },
    /// The level is not of the originator's policy.
    ForeignLevel {
        /// The level asked for.
        level: LevelRef,
    },
    /// The item is already at that level.
    Unchanged {
        /// Its level.
        level: LevelRef,
    },
}

impl ReclassRefusal {
    /// Every kind, by the name docs/rules.md lists it under.
    pub const KINDS: [&'static str; 4] = [
        "not_originator",
        "reclassify_not_classified",
        "reclassify_foreign_level",
        "reclassify_unchanged",
    ];

    /// The name of this kind (one of [`ReclassRefusal::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            ReclassRefusal::NotOriginator { .. } => "not_originator",
            ReclassRefusal::NotClassified { .. } => "reclassify_not_classified",
            ReclassRefusal::ForeignLevel { .. } => "reclassify_foreign_level",
            ReclassRefusal::Unchanged { .. } => "reclassify_unchanged",
        }
    }
}

/// Decides whether `by` may change the classification of an item labelled
/// `labels` to `level` (a level of the originator's policy).
pub fn decide_reclassification(
    reg: &Registry,
    labels: &ItemLabels,
    by: PartyRef,
    level: LevelRef,
) -> Result<(), Vec<ReclassRefusal>> {
    let original = labels.original();
    if original.originator != by {
        return Err(vec![ReclassRefusal::NotOriginator {
            originator: original.originator,
            by,
        }]);
    }
    if level.policy() != original.originator {
        return Err(vec![ReclassRefusal::ForeignLevel { level }]);
    }
    if !reg.level_info(level).is_some_and(|l| l.classified) {
        return Err(vec![ReclassRefusal::NotClassified { level }]);
    }
    if level == original.level {
        return Err(vec![ReclassRefusal::Unchanged { level }]);
    }
    Ok(())
}

/// The number of the latest notice applied to `label` (0: never changed).
/// A marking that does not parse counts as 0, so any notice replaces it.
pub fn notice_number(label: &Label) -> u32 {
    label
        .informative
        .iter()
        .find(|i| i.tag == RECLASSIFIED)
        .and_then(|i| i.values.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `label` at `level` under notice number `seq`: everything else (the
/// originator, its time, topics, REL TO, other markings) unchanged.
pub fn relabel(label: &Label, level: LevelRef, seq: u32) -> Label {
    let mut out = label.clone();
    out.level = level;
    out.informative.retain(|i| i.tag != RECLASSIFIED);
    out.informative.push(Informative {
        tag: RECLASSIFIED.to_owned(),
        values: vec![seq.to_string()],
    });
    out
}

/// The level `holder` marks an item of `level` with after a change: the
/// equivalent under an agreement linking the two (`true`), or — when no
/// agreement covers the new level, which ends further provision of the
/// item — the highest classified level of the holder's policy, so the
/// item stays protected (`false`). `None` when the holder's policy has no
/// classified level.
pub fn equivalent_after(
    reg: &Registry,
    level: LevelRef,
    holder: PartyRef,
    at: Timestamp,
) -> Option<(LevelRef, bool)> {
    if level.policy() == holder {
        return Some((level, true));
    }
    if let Ok((_, l)) = reg.equivalent_any(level, holder, Some(at)) {
        return Some((l, true));
    }
    highest(reg, holder).map(|l| (l, false))
}

/// The highest classified level of `party`'s policy.
fn highest(reg: &Registry, party: PartyRef) -> Option<LevelRef> {
    let policy = reg.policy(party)?;
    policy
        .levels()
        .iter()
        .filter(|l| l.classified)
        .max_by_key(|l| l.rank)
        .and_then(|l| reg.level(party, &l.native).ok())
}

/// The level of a document made from parts after one of them changed: the
/// highest of `floor` (the level its author chose above its parts, if
/// any) and the parts' levels (aggregation rule).
pub fn aggregate(reg: &Registry, floor: Option<LevelRef>, parts: &[LevelRef]) -> Option<LevelRef> {
    floor
        .into_iter()
        .chain(parts.iter().copied())
        .max_by_key(|l| reg.rank(*l))
}

impl Registry {
    /// The reason for a refused reclassification, citing rule 8.
    pub fn explain_reclassification(&self, r: &ReclassRefusal) -> Reason {
        let level = |l: LevelRef| self.level_name(l).to_owned();
        let text = match r {
            ReclassRefusal::NotOriginator { originator, by } => format!(
                "only {}, the item's originator, changes its classification; {} follows the originator's notice",
                self.party_id(*originator),
                self.party_id(*by)
            ),
            ReclassRefusal::NotClassified { level: l } => {
                format!("`{}` is not a classified level", level(*l))
            }
            ReclassRefusal::ForeignLevel { level: l } => format!(
                "`{}` is a level of {}'s policy; a classification is changed in the originator's own levels",
                level(*l),
                self.party_id(l.policy())
            ),
            ReclassRefusal::Unchanged { level: l } => {
                format!("the item is already classified `{}`", level(*l))
            }
        };
        Reason {
            text,
            cites: vec![Citation::System(8)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::ItemLabels;

    fn reg() -> Registry {
        crate::shipped().unwrap()
    }

    fn kor_secret(r: &Registry) -> Label {
        r.label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            Some(&["JPN", "USA"]),
            Timestamp::from_second(1_700_000_000).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn only_the_originator_changes_a_level_and_only_to_another_classified_one_of_its_own() {
        let r = reg();
        let kor = r.party("KOR").unwrap();
        let jpn = r.party("JPN").unwrap();
        let labels = ItemLabels::new(kor_secret(&r));
        let iii = r.level(kor, "군사III급비밀").unwrap();
        assert_eq!(decide_reclassification(&r, &labels, kor, iii), Ok(()));
        let refused = decide_reclassification(&r, &labels, jpn, iii).unwrap_err();
        assert_eq!(refused[0].kind(), "not_originator");
        let why = r.explain_reclassification(&refused[0]);
        assert!(why.text.contains("only KOR"), "{}", why.text);
        assert_eq!(why.cites, vec![Citation::System(8)]);
        let hi = r.level(jpn, "秘").unwrap();
        assert_eq!(
            decide_reclassification(&r, &labels, kor, hi).unwrap_err()[0].kind(),
            "reclassify_foreign_level"
        );
        let same = labels.original().level;
        assert_eq!(
            decide_reclassification(&r, &labels, kor, same).unwrap_err()[0].kind(),
            "reclassify_unchanged"
        );
        if let Some(u) = r
            .policy(kor)
            .unwrap()
            .levels()
            .iter()
            .find(|l| !l.classified)
        {
            let u = r.level(kor, &u.native).unwrap();
            assert_eq!(
                decide_reclassification(&r, &labels, kor, u).unwrap_err()[0].kind(),
                "reclassify_not_classified"
            );
        }
    }

    #[test]
    fn a_relabelled_label_keeps_everything_but_its_level_and_carries_its_notice_number() {
        let r = reg();
        let kor = r.party("KOR").unwrap();
        let l = kor_secret(&r);
        assert_eq!(notice_number(&l), 0);
        let iii = r.level(kor, "군사III급비밀").unwrap();
        let once = relabel(&l, iii, 1);
        let twice = relabel(&once, l.level, 2);
        assert_eq!(once.level, iii);
        assert_eq!(notice_number(&once), 1);
        assert_eq!(notice_number(&twice), 2);
        assert_eq!(
            twice
                .informative
                .iter()
                .filter(|i| i.tag == RECLASSIFIED)
                .count(),
            1
        );
        assert_eq!(
            (twice.topics, twice.rel_to, twice.created_at),
            (l.topics, l.rel_to, l.created_at)
        );
    }

    #[test]
    fn an_uncovered_level_is_marked_at_the_holders_highest_and_a_covered_one_by_the_agreement() {
        let r = reg();
        let (kor, jpn) = (r.party("KOR").unwrap(), r.party("JPN").unwrap());
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let iii = r.level(kor, "군사III급비밀").unwrap();
        let (l, covered) = equivalent_after(&r, iii, jpn, at).unwrap();
        assert!(covered);
        assert_eq!(r.level_name(l), "秘");
        let top = highest(&r, kor).unwrap();
        let (l, covered) = equivalent_after(&r, top, jpn, at).unwrap();
        assert!(!covered, "TOP SECRET is not covered by jp-kr-2016");
        assert_eq!(Some(l), highest(&r, jpn));
        assert_eq!(equivalent_after(&r, iii, kor, at), Some((iii, true)));
    }

    #[test]
    fn a_derived_level_is_the_highest_of_its_floor_and_parts() {
        let r = reg();
        let jpn = r.party("JPN").unwrap();
        let hi = r.level(jpn, "秘").unwrap();
        let goku = r.level(jpn, "極秘").unwrap();
        assert_eq!(aggregate(&r, None, &[hi, goku]), Some(goku));
        assert_eq!(aggregate(&r, Some(goku), &[hi]), Some(goku));
        assert_eq!(aggregate(&r, None, &[hi]), Some(hi));
        assert_eq!(aggregate(&r, None, &[]), None);
    }
}
