//! The registers a node keeps in memory beside its store, each rebuilt at
//! start from rows checked there and changed only after a commit: the
//! latest reclassification notice of each originator's item, the
//! contractor facilities' files, the visits. Plain state below the node:
//! the capabilities that own them (`items::reclassify`, `facilities`,
//! `visits`) write them; decisions read them through here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use gsomia_api::{InspectionView, VisitAccess};
use gsomia_core::contractor::{Contractor, Facility, Inspection};
use gsomia_core::time::{from_wire, parse_instant};
use gsomia_core::{PartyRef, Registry};
use gsomia_seal::message::{ReclassificationNotice, VisitNotice};

/// The latest notice kept for each originator's item, verified when kept
/// or loaded; the one lock that serialises convergence.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    latest: Mutex<HashMap<String, Arc<ReclassificationNotice>>>,
    /// Held while rows converge to a notice.
    pub converging: tokio::sync::Mutex<()>,
}

impl Notices {
    /// The latest notice for an originator's item, if any.
    pub(crate) fn latest(&self, origin_item: &str) -> Option<Arc<ReclassificationNotice>> {
        crate::locked(&self.latest).get(origin_item).cloned()
    }

    /// Keeps `n` if it is newer than the one known for its item.
    pub(crate) fn note(&self, n: ReclassificationNotice) {
        let mut m = crate::locked(&self.latest);
        match m.get(&n.origin_item) {
            Some(k) if k.seq >= n.seq => {}
            _ => {
                m.insert(n.origin_item.clone(), Arc::new(n));
            }
        }
    }

    /// Every item a notice is kept for.
    pub(crate) fn origins(&self) -> Vec<String> {
        crate::locked(&self.latest).keys().cloned().collect()
    }
}

/// A contractor facility as its file stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct FacilityFile {
    pub name: String,
    pub clearance: String,
    pub cleared_until: String,
    pub responsible: String,
    pub inspections: Vec<InspectionView>,
    /// Person → when last briefed.
    pub briefings: BTreeMap<String, String>,
    /// The next record's place.
    pub next: u32,
    pub verified: bool,
}

/// The contractor facilities of this party, as checked.
#[derive(Debug, Default)]
pub(crate) struct Facilities {
    pub files: RwLock<HashMap<String, FacilityFile>>,
    /// Serialises appends (a record's place in its file).
    pub writing: tokio::sync::Mutex<()>,
}

impl Facilities {
    /// The files, for reading.
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, FacilityFile>> {
        self.files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The files, for writing.
    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, FacilityFile>> {
        self.files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A facility's standing for the engine (its clearance a level of `me`'s policy).
pub(crate) fn facility_of(reg: &Registry, me: PartyRef, f: &FacilityFile) -> Facility {
    Facility {
        clearance: reg.level(me, &f.clearance).ok(),
        cleared_until: parse_instant(&f.cleared_until).ok(),
        responsible: !f.responsible.is_empty(),
        inspected: f.inspections.last().and_then(|i| {
            parse_instant(&i.at).ok().map(|at| Inspection {
                at,
                passed: i.passed,
            })
        }),
        verified: f.verified,
    }
}

/// The contractor standing of `person` of `facility` (for the engine's
/// access decision); an unknown or unverified facility fails everything.
pub(crate) fn contractor(
    facilities: &Facilities,
    reg: &Registry,
    me: PartyRef,
    facility: &str,
    person: &str,
) -> Contractor {
    let rule = reg.policy(me).map(|p| p.contractors()).unwrap_or_default();
    let files = facilities.read();
    match files.get(facility) {
        None => Contractor {
            facility: Facility::default(),
            briefed_at: None,
            rule,
        },
        Some(f) => Contractor {
            facility: facility_of(reg, me, f),
            briefed_at: f.briefings.get(person).and_then(|t| parse_instant(t).ok()),
            rule,
        },
    }
}

/// A visit as its messages stand.
#[derive(Debug, Clone)]
pub(crate) struct VisitFile {
    pub request: VisitNotice,
    pub state: &'static str,
    pub answer: Option<String>,
    pub host_person: Option<String>,
    pub accesses: Vec<VisitAccess>,
}

/// The visits this party requested or hosts.
#[derive(Debug, Default)]
pub(crate) struct Visits {
    all: RwLock<BTreeMap<String, VisitFile>>,
}

impl Visits {
    /// The visits, for reading.
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, VisitFile>> {
        self.all
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The visits, for writing.
    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, VisitFile>> {
        self.all
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a visitor's credential holds at `now`: their visit approved,
/// and `now` within it.
pub(crate) fn visit_in_progress(
    visits: &Visits,
    visit: &str,
    now: jiff::Timestamp,
) -> Result<(), String> {
    let all = visits.read();
    let Some(s) = all.get(visit) else {
        return Err(format!("visit {visit} is not known here (Art 8)"));
    };
    if s.state != "approved" {
        return Err(format!("visit {visit} is {} (Art 8)", s.state));
    }
    match (from_wire(s.request.from), from_wire(s.request.until)) {
        (Ok(f), Ok(u)) if now >= f && now < u => Ok(()),
        _ => Err(format!(
            "visit {visit} runs from {} until {}; a visitor's credential holds only then (Art 8)",
            crate::clock::wire_text(s.request.from),
            crate::clock::wire_text(s.request.until)
        )),
    }
}
