//! Missile warnings (GSOMIA.md §4, rule 17): a flight is opened by its
//! launch point, followed by trajectory points and closed by its impact
//! point — the three data elements and nothing else. Updates are numbered
//! by the originator; every hop applies them in order, once.
//!
//! Warnings cross only under a warning link in force, from the originator to
//! the hub and from the hub to the other members (the arrangement is each
//! originator's standing consent to relay).

use jiff::Timestamp;

use crate::agreement::{AgreementKind, Relay};
use crate::ids::{AgreementRef, LevelRef, PartyRef};
use crate::registry::Registry;

/// A position on the Earth (degrees, WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
}

/// The highest altitude accepted for a trajectory point (km).
pub const MAX_ALTITUDE_KM: f64 = 10_000.0;

/// One update of a flight, numbered by the originator from 0 (the launch).
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Opens the flight: estimated launch point and instant.
    Launch {
        /// Where.
        point: Point,
        /// When.
        at: Timestamp,
    },
    /// A trajectory point.
    Track {
        /// Where.
        point: Point,
        /// Altitude (km).
        alt_km: f64,
        /// When.
        at: Timestamp,
    },
    /// Closes the flight: estimated impact point and instant.
    Impact {
        /// Where.
        point: Point,
        /// When.
        at: Timestamp,
    },
}

impl Update {
    /// The update's instant.
    pub fn at(&self) -> Timestamp {
        match self {
            Update::Launch { at, .. } | Update::Track { at, .. } | Update::Impact { at, .. } => *at,
        }
    }
    /// `launch`, `track` or `impact`.
    pub fn kind(&self) -> &'static str {
        match self {
            Update::Launch { .. } => "launch",
            Update::Track { .. } => "track",
            Update::Impact { .. } => "impact",
        }
    }
}

/// The only fields a warning update may carry (rule 17): the three data
/// elements, with the flight's id, the update's number and its instant.
pub const ALLOWED_FIELDS: &[&str] = &[
    "id",
    "seq",
    "originator",
    "kind",
    "launch_point",
    "point",
    "alt_km",
    "impact_point",
    "at",
];

/// Why a warning update was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WarningRefusal {
    /// A field outside the three data elements (sensor data, pre-launch indicators, …).
    #[error(
        "`{0}` is not one of the three data elements (launch point, trajectory, impact point): refused (rule 17)"
    )]
    ForbiddenField(String),
    /// A coordinate out of range.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// The first update of a flight must be its launch, and only the first.
    #[error("update {seq} of `{id}`: {why}")]
    Sequence {
        /// The flight.
        id: String,
        /// The update's number.
        seq: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// A point after the impact, or for a closed flight.
    #[error("flight `{0}` is closed by its impact: no later points (rule 17)")]
    Closed(String),
    /// A point before the launch, or before the previous point.
    #[error("update at {at} is before the flight's previous update at {previous}")]
    Backwards {
        /// The update's instant.
        at: Timestamp,
        /// The previous instant.
        previous: Timestamp,
    },
}

fn check_point(p: &Point) -> Result<(), WarningRefusal> {
    if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
        return Err(WarningRefusal::OutOfRange("latitude"));
    }
    if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
        return Err(WarningRefusal::OutOfRange("longitude"));
    }
    Ok(())
}

/// Refuses any field name outside [`ALLOWED_FIELDS`].
pub fn check_fields<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), WarningRefusal> {
    for n in names {
        if !ALLOWED_FIELDS.contains(&n) {
            return Err(WarningRefusal::ForbiddenField(n.to_owned()));
        }
    }
    Ok(())
}

/// A flight as known at one node: every update applied, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Flight {
    /// The flight's id (the originator's).
    pub id: String,
    /// The originating party.
    pub originator: String,
    /// The updates applied, in order (index = number).
    pub updates: Vec<Update>,
}

/// What applying an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new update, applied.
    New,
    /// Already applied: no second effect (deduplication at every hop).
    Duplicate,
}

impl Flight {
    /// A flight opened by update 0, which must be its launch.
    pub fn open(id: &str, originator: &str, launch: Update) -> Result<Flight, WarningRefusal> {
        let Update::Launch { point, .. } = &launch else {
            return Err(WarningRefusal::Sequence {
                id: id.to_owned(),
                seq: 0,
                why: "a flight opens with its launch point",
            });
        };
        check_point(point)?;
        Ok(Flight {
            id: id.to_owned(),
            originator: originator.to_owned(),
            updates: vec![launch],
        })
    }

    /// Whether the flight is closed (its impact point is known).
    pub fn closed(&self) -> bool {
        matches!(self.updates.last(), Some(Update::Impact { .. }))
    }

    /// Applies update `seq`: a number already applied is a duplicate; the
    /// next number is applied if valid; a later one is a gap (refused, so
    /// the sender sends the missing ones first).
    pub fn apply(&mut self, seq: u32, update: Update) -> Result<Applied, WarningRefusal> {
        let next = self.updates.len();
        let n = seq as usize;
        if n < next {
            return Ok(Applied::Duplicate);
        }
        let refuse = |why| WarningRefusal::Sequence {
            id: self.id.clone(),
            seq,
            why,
        };
        if n > next {
            return Err(refuse("an earlier update is missing"));
        }
        if self.closed() {
            return Err(WarningRefusal::Closed(self.id.clone()));
        }
        match &update {
            Update::Launch { .. } => return Err(refuse("a flight has one launch")),
            Update::Track { point, alt_km, .. } => {
                check_point(point)?;
                if !(alt_km.is_finite() && (0.0..=MAX_ALTITUDE_KM).contains(alt_km)) {
                    return Err(WarningRefusal::OutOfRange("altitude"));
                }
            }
            Update::Impact { point, .. } => check_point(point)?,
        }
        if let Some(previous) = self.updates.last().map(Update::at)
            && update.at() < previous
        {
            return Err(WarningRefusal::Backwards {
                at: update.at(),
                previous,
            });
        }
        self.updates.push(update);
        Ok(Applied::New)
    }
}

/// Why a warning may not go to a party.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningRoute {
    /// No warning link with both parties in force at the instant.
    #[error("no warning link between {from} and {to} is in force at {at} (rule 17)")]
    NoLinkInForce {
        /// The sending party.
        from: String,
        /// The receiving party.
        to: String,
        /// The instant.
        at: Timestamp,
    },
    /// Warnings go from the originator to the hub, and from the hub on.
    #[error(
        "warning data flows through the hub {hub}: {holder} may not send {originator}'s warning to {to} (rule 17)"
    )]
    NotThroughHub {
        /// The hub.
        hub: String,
        /// The sending party.
        holder: String,
        /// The originator.
        originator: String,
        /// The receiving party.
        to: String,
    },
    /// The link covers no equivalent level for the receiver.
    #[error("the warning link covers no level for {0}")]
    NoLevel(String),
}

/// Decides whether `holder` may send `originator`'s warning to `recipient`
/// at `at`, under which warning link, and the level the recipient marks it
/// with (the link's grade of `level`).
pub fn decide_warning(
    reg: &Registry,
    originator: PartyRef,
    holder: PartyRef,
    recipient: PartyRef,
    level: LevelRef,
    at: Timestamp,
) -> Result<(AgreementRef, LevelRef), WarningRoute> {
    let name = |p: PartyRef| reg.party_id(p).to_owned();
    let mut route_refusal = None;
    for a in reg.agreement_refs() {
        let Some(x) = reg.agreement(a) else { continue };
        if x.kind() != AgreementKind::WarningLink
            || !x.has_party(holder)
            || !x.has_party(recipient)
            || !x.has_party(originator)
            || !x.lifecycle().in_force_at(at)
        {
            continue;
        }
        let Some(hub) = x.hub() else { continue };
        let through_hub = if holder == originator {
            recipient == hub
        } else {
            holder == hub && x.relay() == Some(Relay::StandingConsent) && recipient != originator
        };
        if !through_hub {
            route_refusal = Some(WarningRoute::NotThroughHub {
                hub: name(hub),
                holder: name(holder),
                originator: name(originator),
                to: name(recipient),
            });
            continue;
        }
        let Some(v) = x.version_at(at) else { continue };
        return match v.coverage.equivalent(level, recipient) {
            Some(l) => Ok((a, l)),
            None if level.policy() == recipient => Ok((a, level)),
            None => Err(WarningRoute::NoLevel(name(recipient))),
        };
    }
    Err(route_refusal.unwrap_or(WarningRoute::NoLinkInForce {
        from: name(holder),
        to: name(recipient),
        at,
    }))
}
