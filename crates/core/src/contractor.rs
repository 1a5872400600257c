//! Contractors (Art 16; rule 15): a person of a contractor facility is
//! given nothing until every condition holds — the facility's security
//! clearance reaches the item's level and is still valid, a responsible
//! person is designated, the facility was inspected and passed within
//! the period its national policy sets, and the person was briefed within
//! the period the policy sets. Each failing condition is named.

use jiff::{SignedDuration, Timestamp};

use crate::ids::LevelRef;
use crate::reason::{Citation, Reason};
use crate::registry::Registry;

pub use crate::policy::ContractorRule;

/// An inspection's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspection {
    /// When.
    pub at: Timestamp,
    /// Whether the facility passed.
    pub passed: bool,
}

/// A contractor facility as its records stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facility {
    /// Its facility security clearance, a level of the holder's policy.
    pub clearance: Option<LevelRef>,
    /// The first instant the clearance no longer holds.
    pub cleared_until: Option<Timestamp>,
    /// Whether a responsible person is designated.
    pub responsible: bool,
    /// The latest inspection.
    pub inspected: Option<Inspection>,
    /// Whether its records verified (an altered record fails them all).
    pub verified: bool,
}

/// A reader who belongs to a contractor facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contractor {
    /// The facility.
    pub facility: Facility,
    /// When the person was last briefed.
    pub briefed_at: Option<Timestamp>,
    /// The holder's policy for contractors.
    pub rule: ContractorRule,
}

/// A failing condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractorRefusal {
    /// The facility's records do not verify, or the facility is unknown.
    RecordsUnverified,
    /// The facility holds no security clearance.
    NoFacilityClearance,
    /// Its clearance is below the item's level.
    FacilityBelowLevel {
        /// The facility's clearance.
        clearance: LevelRef,
        /// The item's level.
        level: LevelRef,
    },
    /// Its clearance ended.
    FacilityClearanceExpired {
        /// When.
        until: Timestamp,
    },
    /// No responsible person is designated.
    NoResponsiblePerson,
    /// Never inspected.
    NeverInspected,
    /// The latest inspection failed.
    InspectionFailed {
        /// When.
        at: Timestamp,
    },
    /// The latest inspection is older than the policy's period.
    InspectionOverdue {
        /// When it was.
        last: Timestamp,
        /// The period, in days.
        every_days: u32,
    },
    /// The person was never briefed.
    NotBriefed,
    /// The person's briefing is older than the policy's period.
    BriefingOverdue {
        /// When it was.
        last: Timestamp,
        /// The period, in days.
        every_days: u32,
    },
}

impl ContractorRefusal {
    /// Every kind, by the name docs/rules.md lists it under.
    pub const KINDS: [&'static str; 10] = [
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

    /// The name of this kind (one of [`ContractorRefusal::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            ContractorRefusal::RecordsUnverified => "facility_records_unverified",
            ContractorRefusal::NoFacilityClearance => "no_facility_clearance",
            ContractorRefusal::FacilityBelowLevel { .. } => "facility_below_level",
            ContractorRefusal::FacilityClearanceExpired { .. } => "facility_clearance_expired",
            ContractorRefusal::NoResponsiblePerson => "no_responsible_person",
            ContractorRefusal::NeverInspected => "never_inspected",
            ContractorRefusal::InspectionFailed { .. } => "inspection_failed",
            ContractorRefusal::InspectionOverdue { .. } => "inspection_overdue",
            ContractorRefusal::NotBriefed => "not_briefed",
            ContractorRefusal::BriefingOverdue { .. } => "briefing_overdue",
        }
    }
}

fn days(n: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(n) * 24)
}

/// Every Art 16 condition that fails for a contractor reading an item of
/// `level` (a level of the holder's policy) at `at`; empty when all hold.
pub fn check_contractor(
    reg: &Registry,
    c: &Contractor,
    level: LevelRef,
    at: Timestamp,
) -> Vec<ContractorRefusal> {
    let f = &c.facility;
    if !f.verified {
        return vec![ContractorRefusal::RecordsUnverified];
    }
    let mut out = Vec::new();
    match f.clearance {
        None => out.push(ContractorRefusal::NoFacilityClearance),
        Some(cl) => {
            if cl.policy() != level.policy() || reg.rank(cl) < reg.rank(level) {
                out.push(ContractorRefusal::FacilityBelowLevel {
                    clearance: cl,
                    level,
                });
            }
            if let Some(until) = f.cleared_until
                && at >= until
            {
                out.push(ContractorRefusal::FacilityClearanceExpired { until });
            }
        }
    }
    if !f.responsible {
        out.push(ContractorRefusal::NoResponsiblePerson);
    }
    match f.inspected {
        None => out.push(ContractorRefusal::NeverInspected),
        Some(i) if !i.passed => out.push(ContractorRefusal::InspectionFailed { at: i.at }),
        Some(i)
            if at
                >= i.at
                    .saturating_add(days(c.rule.inspection_days))
                    .unwrap_or(i.at) =>
        {
            out.push(ContractorRefusal::InspectionOverdue {
                last: i.at,
                every_days: c.rule.inspection_days,
            });
        }
        Some(_) => {}
    }
    match c.briefed_at {
        None => out.push(ContractorRefusal::NotBriefed),
        Some(b) if at >= b.saturating_add(days(c.rule.briefing_days)).unwrap_or(b) => {
            out.push(ContractorRefusal::BriefingOverdue {
                last: b,
                every_days: c.rule.briefing_days,
            });
        }
        Some(_) => {}
    }
    out
}

impl Registry {
    /// The reason for a failing contractor condition, citing rule 15.
    pub fn explain_contractor(&self, r: &ContractorRefusal, zone: &jiff::tz::TimeZone) -> Reason {
        let when = |t: Timestamp| crate::time::format_in(t, zone);
        let text = match *r {
            ContractorRefusal::RecordsUnverified => {
                "the contractor facility's records are unknown or do not verify".to_owned()
            }
            ContractorRefusal::NoFacilityClearance => {
                "the contractor facility holds no facility security clearance".to_owned()
            }
            ContractorRefusal::FacilityBelowLevel { clearance, level } => format!(
                "the facility's security clearance `{}` is below the item's level `{}`",
                self.level_name(clearance),
                self.level_name(level)
            ),
            ContractorRefusal::FacilityClearanceExpired { until } => {
                format!("the facility's security clearance ended at {}", when(until))
            }
            ContractorRefusal::NoResponsiblePerson => {
                "the facility has no responsible person designated".to_owned()
            }
            ContractorRefusal::NeverInspected => {
                "the facility has never been inspected (an initial inspection is required)"
                    .to_owned()
            }
            ContractorRefusal::InspectionFailed { at } => {
                format!("the facility failed its latest inspection, at {}", when(at))
            }
            ContractorRefusal::InspectionOverdue { last, every_days } => format!(
                "the facility's latest inspection, at {}, is older than the {every_days} days this party's policy allows",
                when(last)
            ),
            ContractorRefusal::NotBriefed => {
                "the contractor has not been given a security briefing".to_owned()
            }
            ContractorRefusal::BriefingOverdue { last, every_days } => format!(
                "the contractor's security briefing, at {}, is older than the {every_days} days this party's policy allows",
                when(last)
            ),
        };
        Reason {
            text,
            cites: vec![Citation::System(15)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn each_failing_condition_is_named_and_all_holding_allows() {
        let r = crate::shipped().unwrap();
        let jpn = r.party("JPN").unwrap();
        let (goku, hi) = (r.level(jpn, "極秘").unwrap(), r.level(jpn, "秘").unwrap());
        let at = t("2026-06-01T00:00:00Z");
        let good = Contractor {
            facility: Facility {
                clearance: Some(goku),
                cleared_until: Some(t("2030-01-01T00:00:00Z")),
                responsible: true,
                inspected: Some(Inspection {
                    at: t("2026-01-01T00:00:00Z"),
                    passed: true,
                }),
                verified: true,
            },
            briefed_at: Some(t("2026-02-01T00:00:00Z")),
            rule: ContractorRule::default(),
        };
        assert!(check_contractor(&r, &good, goku, at).is_empty());
        let kinds = |c: &Contractor, level| {
            check_contractor(&r, c, level, at)
                .iter()
                .map(ContractorRefusal::kind)
                .collect::<Vec<_>>()
        };
        let low = Contractor {
            facility: Facility {
                clearance: Some(hi),
                ..good.facility
            },
            ..good
        };
        assert_eq!(kinds(&low, goku), vec!["facility_below_level"]);
        assert!(kinds(&low, hi).is_empty());
        let nothing = Contractor {
            facility: Facility {
                verified: true,
                ..Facility::default()
            },
            briefed_at: None,
            rule: ContractorRule::default(),
        };
        assert_eq!(
            kinds(&nothing, goku),
            vec![
                "no_facility_clearance",
                "no_responsible_person",
                "never_inspected",
                "not_briefed"
            ]
        );
        let stale = Contractor {
            facility: Facility {
                cleared_until: Some(t("2026-05-01T00:00:00Z")),
                inspected: Some(Inspection {
                    at: t("2025-05-01T00:00:00Z"),
                    passed: true,
                }),
                ..good.facility
            },
            briefed_at: Some(t("2025-01-01T00:00:00Z")),
            ..good
        };
        assert_eq!(
            kinds(&stale, goku),
            vec![
                "facility_clearance_expired",
                "inspection_overdue",
                "briefing_overdue"
            ]
        );
        let failed = Contractor {
            facility: Facility {
                inspected: Some(Inspection {
                    at: t("2026-05-01T00:00:00Z"),
                    passed: false,
                }),
                ..good.facility
            },
            ..good
        };
        assert_eq!(kinds(&failed, goku), vec!["inspection_failed"]);
        let altered = Contractor {
            facility: Facility {
                verified: false,
                ..good.facility
            },
            ..good
        };
        assert_eq!(kinds(&altered, goku), vec!["facility_records_unverified"]);
        let why = r.explain_contractor(
            &ContractorRefusal::InspectionOverdue {
                last: t("2025-05-01T00:00:00Z"),
                every_days: 365,
            },
            &jiff::tz::TimeZone::UTC,
        );
        assert!(why.text.contains("365 days"), "{}", why.text);
        assert_eq!(why.cites, vec![Citation::System(15)]);
    }
}
