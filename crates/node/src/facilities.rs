//! Contractor facilities (Art 16; rule 15): the register of facilities a
//! party's contractors work at — each one's facility security clearance,
//! its responsible person, its inspections, its people's briefings — kept
//! as a file of records appended one by one, each under the node's custody
//! tag and ledgered. A person registered as of a facility is a contractor:
//! every read is decided with the facility's standing and the person's
//! briefing (the engine's `check_contractor`), so a contractor is given
//! nothing while any condition fails, and the refusal names which.
//!
//! The files are read and checked at start and kept in memory; a record
//! whose tag fails raises an alarm and leaves its facility unverified
//! (its people then read nothing).

use std::collections::HashMap;

use gsomia_api::{
    AddFacility, BriefPerson, BriefingView, FacilityList, FacilityView, InspectFacility,
    InspectionView,
};
use gsomia_core::contractor::{Contractor, ContractorRule, check_contractor};
use gsomia_ledger::entry::Kind;
use gsomia_seal::canon::{DecodeError, Reader, Writer};
use gsomia_store::{Batch, FacilityRecord, Person, Role, StoreError};

use crate::error::{Class, Classified};
use crate::node::Node;
use crate::registers::FacilityFile;

const RECORD_TAG: &str = "gsomia/v1/facility-record";
/// The longest text a record holds.
pub const MAX_TEXT: usize = 2000;

/// Why a facility request failed.
#[derive(Debug, thiserror::Error)]
pub enum FacilityError {
    /// A request that does not hold together.
    #[error("{0}")]
    Invalid(String),
    /// Refused under the rules (a responsible person or a person who is
    /// not one of the register's, or not of the facility).
    #[error("{0}")]
    Refused(String),
    /// No such facility.
    #[error("no facility `{0}`")]
    NotFound(String),
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// A ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] gsomia_ledger::entry::EntryError),
    /// No randomness for an id.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classified for FacilityError {
    fn class(&self) -> Class {
        match self {
            FacilityError::Invalid(_) => Class::BadRequest,
            FacilityError::Refused(_) => Class::Refused,
            FacilityError::NotFound(_) => Class::NotFound,
            FacilityError::Role(e) => e.class(),
            FacilityError::Entry(_) | FacilityError::Entropy(_) | FacilityError::Store(_) => {
                Class::Internal
            }
        }
    }
}

/// One record of a facility's file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    /// Entered the register (or its clearance or responsible person renewed).
    Registered {
        name: String,
        clearance: String,
        cleared_until: String,
        responsible: String,
        by: String,
    },
    /// Inspected.
    Inspected {
        passed: bool,
        findings: String,
        by: String,
    },
    /// A person of it briefed.
    Briefed { person: String, by: String },
}

impl Record {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(RECORD_TAG);
        match self {
            Record::Registered {
                name,
                clearance,
                cleared_until,
                responsible,
                by,
            } => w
                .u8(1)
                .str(name)
                .str(clearance)
                .str(cleared_until)
                .str(responsible)
                .str(by),
            Record::Inspected {
                passed,
                findings,
                by,
            } => w.u8(2).u8(u8::from(*passed)).str(findings).str(by),
            Record::Briefed { person, by } => w.u8(3).str(person).str(by),
        };
        w.finish()
    }

    fn from_bytes(bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut r = Reader::new(bytes, 64 * 1024);
        r.expect_tag(RECORD_TAG)?;
        let at = r.position();
        let rec = match r.u8()? {
            1 => Record::Registered {
                name: r.str()?.to_owned(),
                clearance: r.str()?.to_owned(),
                cleared_until: r.str()?.to_owned(),
                responsible: r.str()?.to_owned(),
                by: r.str()?.to_owned(),
            },
            2 => {
                let at = r.position();
                let passed = match r.u8()? {
                    0 => false,
                    1 => true,
                    tag => return Err(DecodeError::Tag { at, tag }),
                };
                Record::Inspected {
                    passed,
                    findings: r.str()?.to_owned(),
                    by: r.str()?.to_owned(),
                }
            }
            3 => Record::Briefed {
                person: r.str()?.to_owned(),
                by: r.str()?.to_owned(),
            },
            tag => return Err(DecodeError::Tag { at, tag }),
        };
        r.finish()?;
        Ok(rec)
    }
}

/// A record applied to a facility's file.
fn apply(st: &mut FacilityFile, r: Record, at: &str) {
    match r {
        Record::Registered {
            name,
            clearance,
            cleared_until,
            responsible,
            ..
        } => {
            st.name = name;
            st.clearance = clearance;
            st.cleared_until = cleared_until;
            st.responsible = responsible;
        }
        Record::Inspected {
            passed,
            findings,
            by,
        } => st.inspections.push(InspectionView {
            at: at.to_owned(),
            passed,
            findings,
            by,
        }),
        Record::Briefed { person, .. } => {
            st.briefings.insert(person, at.to_owned());
        }
    }
}

/// At start: every facility's file read, each record's tag checked, folded.
pub(crate) async fn load(node: &Node) -> Result<usize, StoreError> {
    let records = node.store().facility_records().await?;
    let mut files: HashMap<String, FacilityFile> = HashMap::new();
    let mut breaches = Vec::new();
    for r in records {
        let st = files
            .entry(r.facility.clone())
            .or_insert_with(|| FacilityFile {
                verified: true,
                ..FacilityFile::default()
            });
        let checked = crate::custody::check_facility(node.custody(), &r);
        let decoded = Record::from_bytes(&r.body);
        match (checked, decoded) {
            (Ok(()), Ok(rec)) if r.seq == st.next => {
                apply(st, rec, &r.at);
                st.next += 1;
            }
            (Err(b), _) => {
                st.verified = false;
                breaches.push(b);
            }
            _ => {
                st.verified = false;
                breaches.push(crate::custody::Breach {
                    subject: format!("facility {} record {}", r.facility, r.seq),
                    check: crate::custody::Check::Sealed,
                    detail: "a record that does not decode, or out of its place in the file".into(),
                });
            }
        }
    }
    for b in &breaches {
        node.alarm(b).await;
    }
    let n = files.len();
    *node.facilities().write() = files;
    Ok(n)
}

fn text(what: &str, v: &str) -> Result<String, FacilityError> {
    let t = v.trim();
    if !gsomia_api::has_text(v) || v.chars().count() > MAX_TEXT {
        return Err(FacilityError::Invalid(format!(
            "`{what}` is 1 to {MAX_TEXT} characters"
        )));
    }
    Ok(t.to_owned())
}

/// Appends one record to a facility's file, ledgered, and applies it.
async fn append(
    node: &Node,
    id: &str,
    rec: Record,
    fields: Vec<(&str, String)>,
) -> Result<(), FacilityError> {
    let _one = node.facilities().writing.lock().await;
    let seq = node.facilities().read().get(id).map_or(0, |s| s.next);
    let at = node.now().to_string();
    let body = rec.to_bytes();
    let custody = crate::custody::tag_facility(node.custody(), id, seq, &body, &at);
    let mut all = vec![("facility", id.to_owned())];
    all.extend(fields);
    let e = node.entry(Kind::Facility, None, all)?;
    node.store()
        .commit(Batch {
            facility_records: vec![FacilityRecord {
                facility: id.to_owned(),
                seq,
                body,
                at: at.clone(),
                custody,
            }],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    let mut files = node.facilities().write();
    let st = files.entry(id.to_owned()).or_insert_with(|| FacilityFile {
        verified: true,
        ..FacilityFile::default()
    });
    apply(st, rec, &at);
    st.next = seq + 1;
    Ok(())
}

/// `gsomia facility add`: a security officer enters a contractor facility.
pub async fn add(
    node: &Node,
    person: &Person,
    req: &AddFacility,
) -> Result<FacilityView, FacilityError> {
    crate::register::security_officer(node, person, "register contractor facilities")?;
    let name = text("name", &req.name)?;
    let reg = node.registry();
    let level = reg
        .level(node.me(), &req.clearance)
        .map_err(|e| FacilityError::Invalid(e.to_string()))?;
    if !reg.level_info(level).is_some_and(|l| l.classified) {
        return Err(FacilityError::Invalid(format!(
            "`{}` is not a classified level; a facility security clearance is one",
            req.clearance
        )));
    }
    let zone = node.zone();
    let until = gsomia_core::time::parse_instant_or_date(&req.cleared_until)
        .and_then(|v| v.end_exclusive(&zone))
        .map_err(|e| FacilityError::Invalid(format!("`cleared_until`: {e}")))?;
    let responsible = node
        .store()
        .people()
        .await?
        .into_iter()
        .find(|p| p.id == req.responsible && p.revoked_at.is_none())
        .ok_or_else(|| {
            FacilityError::Refused(format!(
                "`{}` is not a registered person whose access holds; the responsible person must be one",
                req.responsible
            ))
        })?;
    let id = crate::ids::new_id(&format!("{}-f", node.party()), node.now())?;
    let rec = Record::Registered {
        name,
        clearance: reg.level_name(level).to_owned(),
        cleared_until: until.to_string(),
        responsible: responsible.id.clone(),
        by: person.id.clone(),
    };
    append(
        node,
        &id,
        rec,
        vec![
            ("change", "registered".into()),
            ("by", person.id.clone()),
            ("clearance", reg.level_name(level).to_owned()),
            ("responsible", responsible.id),
            ("valid_until", until.to_string()),
        ],
    )
    .await?;
    show(node, person, &id).await
}

fn known(node: &Node, id: &str) -> Result<(), FacilityError> {
    if node.facilities().read().contains_key(id) {
        Ok(())
    } else {
        Err(FacilityError::NotFound(id.to_owned()))
    }
}

/// `gsomia facility inspect`: an inspection's outcome is recorded.
pub async fn inspect(
    node: &Node,
    person: &Person,
    id: &str,
    req: &InspectFacility,
) -> Result<FacilityView, FacilityError> {
    crate::register::security_officer(node, person, "record facility inspections")?;
    known(node, id)?;
    let findings = text("findings", &req.findings)?;
    append(
        node,
        id,
        Record::Inspected {
            passed: req.passed,
            findings: findings.clone(),
            by: person.id.clone(),
        },
        vec![
            (
                "change",
                if req.passed {
                    "inspection passed"
                } else {
                    "inspection failed"
                }
                .into(),
            ),
            ("by", person.id.clone()),
            ("detail", findings),
        ],
    )
    .await?;
    show(node, person, id).await
}

/// `gsomia facility brief`: a person of the facility was briefed.
pub async fn brief(
    node: &Node,
    person: &Person,
    id: &str,
    req: &BriefPerson,
) -> Result<FacilityView, FacilityError> {
    crate::register::security_officer(node, person, "record security briefings")?;
    known(node, id)?;
    let of = node
        .store()
        .people()
        .await?
        .into_iter()
        .find(|p| p.id == req.person)
        .filter(|p| p.facility.as_deref() == Some(id))
        .ok_or_else(|| {
            FacilityError::Refused(format!(
                "`{}` is not a person registered as of facility {id}",
                req.person
            ))
        })?;
    append(
        node,
        id,
        Record::Briefed {
            person: of.id.clone(),
            by: person.id.clone(),
        },
        vec![
            ("change", "briefed".into()),
            ("by", person.id.clone()),
            ("detail", format!("security briefing of {}", of.id)),
        ],
    )
    .await?;
    show(node, person, id).await
}

fn keeps_records(node: &Node, p: &Person) -> Result<(), FacilityError> {
    Ok(crate::register::keeper_of_records(
        node,
        p,
        "see contractor facilities",
    )?)
}

/// One facility, with what fails now.
pub async fn show(node: &Node, person: &Person, id: &str) -> Result<FacilityView, FacilityError> {
    keeps_records(node, person)?;
    let people = node.store().people().await?;
    view(node, id, &people)
}

/// Every facility.
pub async fn list(node: &Node, person: &Person) -> Result<FacilityList, FacilityError> {
    keeps_records(node, person)?;
    let people = node.store().people().await?;
    let mut ids: Vec<String> = node.facilities().read().keys().cloned().collect();
    ids.sort();
    let facilities = ids
        .iter()
        .map(|id| view(node, id, &people))
        .collect::<Result<_, _>>()?;
    Ok(FacilityList { facilities })
}

fn view(node: &Node, id: &str, people: &[Person]) -> Result<FacilityView, FacilityError> {
    let files = node.facilities().read();
    let st = files
        .get(id)
        .ok_or_else(|| FacilityError::NotFound(id.to_owned()))?;
    let reg = node.registry();
    let facility = crate::registers::facility_of(&reg, node.me(), st);
    let zone = node.zone();
    // The facility's own conditions, at its clearance level, as if every
    // person were briefed now.
    let failing = match facility.clearance {
        Some(level) => check_contractor(
            &reg,
            &Contractor {
                facility,
                briefed_at: Some(node.now()),
                rule: reg
                    .policy(node.me())
                    .map_or(ContractorRule::default(), |p| p.contractors()),
            },
            level,
            node.now(),
        )
        .iter()
        .map(|r| reg.explain_contractor(r, &zone).to_string())
        .collect(),
        None => vec!["the facility holds no facility security clearance".into()],
    };
    Ok(FacilityView {
        id: id.to_owned(),
        name: st.name.clone(),
        clearance: st.clearance.clone(),
        cleared_until: st.cleared_until.clone(),
        responsible: st.responsible.clone(),
        inspections: st.inspections.clone(),
        briefings: st
            .briefings
            .iter()
            .map(|(person, at)| BriefingView {
                person: person.clone(),
                at: at.clone(),
            })
            .collect(),
        people: people
            .iter()
            .filter(|p| p.facility.as_deref() == Some(id) && p.role != Role::Auditor)
            .map(|p| p.id.clone())
            .collect(),
        failing,
        verified: st.verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_nothing_else_decodes() {
        for r in [
            Record::Registered {
                name: "Mitsubishi Heavy Industries, Nagoya".into(),
                clearance: "極秘".into(),
                cleared_until: "2027-12-31T15:00:00Z".into(),
                responsible: "jpn-1".into(),
                by: "jpn-2".into(),
            },
            Record::Inspected {
                passed: false,
                findings: "safe left open".into(),
                by: "jpn-2".into(),
            },
            Record::Briefed {
                person: "jpn-3".into(),
                by: "jpn-2".into(),
            },
        ] {
            let b = r.to_bytes();
            assert_eq!(Record::from_bytes(&b).unwrap(), r);
            let mut extra = b.clone();
            extra.push(0);
            assert!(Record::from_bytes(&extra).is_err());
        }
    }
}
