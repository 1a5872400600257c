//! Custody: the node checks every row it reads back before a decision uses
//! it. Each item, person and queued transfer is written with a tag the node
//! makes over it ([`gsomia_seal::custody`], a key derived from the party's
//! signing key); the tag covers the facts the node recorded (an item's id,
//! origin, sender, time, the binding of its sealed bytes, the equivalent
//! label it recorded at receipt; a person's clearance, need-to-know, role,
//! token and revocation; a transfer's recipient and envelope). Labels are
//! read from the sealed bytes themselves; the label and originator columns
//! are indexes, and one that disagrees with the sealed label is a breach.
//!
//! A breach refuses what was asked, raises an integrity alarm (ledgered
//! once per subject and check in a process, counted in the metrics, shown
//! in `/healthz`), and is never served, released or signed.

use std::collections::{HashSet, VecDeque};

use gsomia_seal::canon::Writer;
use gsomia_seal::custody::CustodyKey;
use gsomia_seal::item::{Header, WireLabel};
use gsomia_store::{Item, ItemRow, Outgoing, Person};
use sha2::{Digest, Sha256};

use crate::locked;

/// What a check found wrong with a row: the row (`subject`), which check
/// failed, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject} failed its integrity check ({check}): {detail}")]
pub struct Breach {
    /// The row: `item ID`, `person ID`, `transfer ID`.
    pub subject: String,
    /// The check that failed (one of [`Check`]'s names).
    pub check: Check,
    /// What was found.
    pub detail: String,
}

/// The checks a row goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The row has no custody tag (one was removed, or the row was inserted
    /// by something other than the node).
    Untagged,
    /// The tag does not match the row: a column was changed, or the row (or
    /// its sealed bytes) was moved under another id.
    Tag,
    /// The sealed bytes do not parse.
    Sealed,
    /// An index column disagrees with the verified sealed label.
    Index,
    /// A partner's ledger as this node sees it disagrees with what this
    /// node cosigned before: a fork, a rollback, or a checkpoint that
    /// does not verify (the witness refused to cosign).
    PartnerLedger,
}

impl Check {
    /// The name written in alarms and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Untagged => "untagged",
            Check::Tag => "custody_tag",
            Check::Sealed => "sealed_bytes",
            Check::Index => "label_index",
            Check::PartnerLedger => "partner_ledger",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn breach(subject: String, check: Check, detail: impl Into<String>) -> Breach {
    Breach {
        subject,
        check,
        detail: detail.into(),
    }
}

/// The facts of an item the tag covers: what the node recorded when it
/// stored the item, the originator's label as its sealed bytes carried it,
/// and the id of those bytes' binding.
struct ItemFacts<'a> {
    id: &'a str,
    origin_item: &'a str,
    originator: &'a str,
    received_from: Option<&'a str>,
    created_at: &'a str,
    binding: &'a [u8],
    label: &'a [u8],
    equivalent_label: Option<&'a [u8]>,
    lineage: Option<&'a [u8]>,
    disposal: Option<&'a [u8]>,
}

impl ItemFacts<'_> {
    fn fields(&self) -> Writer {
        let mut w = Writer::tagged("gsomia/v1/custody/item");
        w.str(self.id)
            .str(self.origin_item)
            .str(self.originator)
            .opt_str(self.received_from)
            .str(self.created_at)
            .bytes(self.binding)
            .bytes(self.label);
        match self.equivalent_label {
            Some(l) => w.u8(1).bytes(l),
            None => w.u8(0),
        };
        // Appended only when present, so tags made before these records
        // existed still hold.
        if let Some(l) = self.lineage {
            w.str("lineage").bytes(l);
        }
        if let Some(d) = self.disposal {
            w.str("disposal").bytes(d);
        }
        w
    }
}

fn facts_of(item: &Item) -> ItemFacts<'_> {
    ItemFacts {
        id: &item.id,
        origin_item: &item.origin_item,
        originator: &item.originator,
        received_from: item.received_from.as_deref(),
        created_at: &item.created_at,
        binding: item.binding.as_deref().unwrap_or_default(),
        label: &item.label,
        equivalent_label: item.equivalent_label.as_deref(),
        lineage: item.lineage.as_deref(),
        disposal: item.disposal.as_deref(),
    }
}

fn facts_of_row(row: &ItemRow) -> ItemFacts<'_> {
    ItemFacts {
        id: &row.id,
        origin_item: &row.origin_item,
        originator: &row.originator,
        received_from: row.received_from.as_deref(),
        created_at: &row.created_at,
        binding: row.binding.as_deref().unwrap_or_default(),
        label: &row.label,
        equivalent_label: row.equivalent_label.as_deref(),
        lineage: row.lineage.as_deref(),
        disposal: row.disposal.as_deref(),
    }
}

fn person_fields(p: &Person) -> Writer {
    let mut w = Writer::tagged("gsomia/v1/custody/person");
    w.str(&p.id)
        .str(&p.name)
        .str(p.role.as_str())
        .str(&p.clearance)
        .str(&p.clearance_until)
        .count(p.need_to_know.len());
    for t in &p.need_to_know {
        w.str(t);
    }
    w.raw(&p.token_hash)
        .str(&p.created_at)
        .opt_str(p.revoked_at.as_deref());
    // Appended only for a contractor, so the tags of rows kept before
    // facilities existed still hold.
    if let Some(f) = &p.facility {
        w.str("facility").str(f);
    }
    if let Some(v) = &p.visit {
        w.str("visit").str(v);
    }
    w
}

fn facility_fields(facility: &str, seq: u32, body: &[u8], at: &str) -> Writer {
    let mut w = Writer::tagged("gsomia/v1/custody/facility-record");
    w.str(facility).u32(seq).bytes(body).str(at);
    w
}

/// The tag of one record of a contractor facility's file.
pub fn tag_facility(key: &CustodyKey, facility: &str, seq: u32, body: &[u8], at: &str) -> Vec<u8> {
    key.tag(&facility_fields(facility, seq, body, at)).to_vec()
}

/// Checks one record of a contractor facility's file against its tag.
pub fn check_facility(key: &CustodyKey, r: &gsomia_store::FacilityRecord) -> Result<(), Breach> {
    check_tag(
        key,
        || format!("facility {} record {}", r.facility, r.seq),
        &facility_fields(&r.facility, r.seq, &r.body, &r.at),
        Some(&r.custody),
    )
}

fn outgoing_fields(o: &Outgoing) -> Writer {
    let mut w = Writer::tagged("gsomia/v1/custody/outgoing");
    w.str(o.kind.as_str())
        .str(&o.transfer)
        .str(&o.item)
        .str(&o.recipient)
        .raw(&Sha256::digest(&o.envelope));
    w
}

/// The sealed header of an item's bytes, parsed (the binding was verified
/// when the node made or received the item; the tag vouches for it since).
fn sealed_header(item: &Item) -> Result<(Header, [u8; 32]), Breach> {
    gsomia_seal::item::parse(&item.sealed)
        .map_err(|e| breach(format!("item {}", item.id), Check::Sealed, e.to_string()))
}

/// Tags an item about to be stored: its binding id taken from its sealed
/// bytes (which must parse, and carry the label of its label column).
pub fn tag_item(key: &CustodyKey, item: &mut Item) -> Result<(), Breach> {
    let (header, binding) = sealed_header(item)?;
    if header.label.to_bytes() != item.label || header.label.originator != item.originator {
        return Err(breach(
            format!("item {}", item.id),
            Check::Index,
            "the label to store is not the one its sealed bytes carry",
        ));
    }
    item.binding = Some(binding.to_vec());
    item.custody = Some(key.tag(&facts_of(item).fields()).to_vec());
    if item.index.is_none() {
        item.index = index_of(item);
    }
    Ok(())
}

/// The query indexes of an item (decoded from the labels and records it
/// is stored with): the level a read is decided on, its topics, when it
/// was stored, what it was made from, the originator's dispose-by.
pub fn index_of(item: &Item) -> Option<gsomia_store::ItemIndex> {
    let label = WireLabel::from_bytes(&item.label).ok()?;
    let access_level = match &item.equivalent_label {
        Some(eq) => WireLabel::from_bytes(eq).ok()?.level,
        None => label.level.clone(),
    };
    let source = match &item.lineage {
        Some(l) => crate::lineage::Lineage::from_bytes(l)
            .ok()?
            .sources
            .first()
            .map(|s| s.item.clone()),
        None => None,
    };
    let dispose_by = crate::labels::dispose_by(&label).map(|t| t.as_second());
    Some(gsomia_store::ItemIndex {
        access_level,
        created_unix: gsomia_core::time::parse_instant(&item.created_at)
            .map(|t| t.as_second())
            .unwrap_or(0),
        topics: label.topics,
        source,
        dispose_by,
    })
}

/// The tag of an item's row once `disposal` is recorded on it (its sealed
/// bytes erased; the binding id it had stays, covered as before).
pub fn tag_disposed(key: &CustodyKey, item: &Item, disposal: &[u8]) -> Vec<u8> {
    let mut facts = facts_of(item);
    facts.disposal = Some(disposal);
    key.tag(&facts.fields()).to_vec()
}

/// [`tag_disposed`] for an item known by its listed row.
pub fn tag_disposed_row(key: &CustodyKey, row: &ItemRow, disposal: &[u8]) -> Vec<u8> {
    let mut facts = facts_of_row(row);
    facts.disposal = Some(disposal);
    key.tag(&facts.fields()).to_vec()
}

/// Checks an item read back whole, held or disposed of: a held item as
/// [`check_item`]; a disposed one (its sealed bytes erased) by its tag
/// over the recorded facts, the label taken from its tagged label column.
/// Returns the originator's label, checked.
pub fn check_item_any(key: &CustodyKey, item: &Item) -> Result<WireLabel, Breach> {
    if item.disposal.is_none() {
        return check_item(key, item).map(|h| h.label);
    }
    let subject = || format!("item {}", item.id);
    if !item.sealed.is_empty() {
        return Err(breach(
            subject(),
            Check::Sealed,
            "it is recorded as disposed of but still holds sealed bytes",
        ));
    }
    check_tag(
        key,
        subject,
        &facts_of(item).fields(),
        item.custody.as_deref(),
    )?;
    label_of(subject, &item.label, &item.originator)
}

/// Tags a person about to be stored.
pub fn tag_person(key: &CustodyKey, p: &mut Person) {
    p.custody = Some(key.tag(&person_fields(p)).to_vec());
}

/// Tags a transfer about to be queued.
pub fn tag_outgoing(key: &CustodyKey, o: &mut Outgoing) {
    o.custody = Some(key.tag(&outgoing_fields(o)).to_vec());
}

fn check_tag(
    key: &CustodyKey,
    subject: impl FnOnce() -> String,
    fields: &Writer,
    tag: Option<&[u8]>,
) -> Result<(), Breach> {
    match tag {
        None => Err(breach(
            subject(),
            Check::Untagged,
            "the row carries no custody tag",
        )),
        Some(t) if key.holds(fields, t) => Ok(()),
        Some(_) => Err(breach(
            subject(),
            Check::Tag,
            "the row does not match the tag the node made when it stored it (a column was changed, or the row or its sealed bytes were moved from another)",
        )),
    }
}

/// Checks an item listed (its sealed bytes not read): its tag over the
/// label, the equivalent label, its facts and its binding id. Returns the
/// originator's label, checked.
pub fn check_item_row(key: &CustodyKey, row: &ItemRow) -> Result<WireLabel, Breach> {
    let subject = || format!("item {}", row.id);
    check_tag(
        key,
        subject,
        &facts_of_row(row).fields(),
        row.custody.as_deref(),
    )?;
    label_of(subject, &row.label, &row.originator)
}

/// Checks an item read back whole: its tag, then its sealed bytes against
/// the binding the tag covers and the label column against the label they
/// carry. Returns the sealed header (the originator's label, verified) for
/// the decision to use.
pub fn check_item(key: &CustodyKey, item: &Item) -> Result<Header, Breach> {
    let subject = || format!("item {}", item.id);
    let (header, binding) = sealed_header(item)?;
    // The index columns against the sealed label first: when they differ,
    // that is what changed (and what the alarm names).
    if header.label.to_bytes() != item.label {
        return Err(breach(
            subject(),
            Check::Index,
            format!(
                "the stored label column does not match the sealed label (level `{}` of `{}`)",
                header.label.level, header.label.policy
            ),
        ));
    }
    if header.label.originator != item.originator {
        return Err(breach(
            subject(),
            Check::Index,
            format!(
                "the stored originator `{}` is not the sealed label's `{}`",
                item.originator, header.label.originator
            ),
        ));
    }
    if item.binding.is_some() && item.binding.as_deref() != Some(&binding[..]) {
        return Err(breach(
            subject(),
            Check::Tag,
            "its sealed bytes are not the ones the node stored under this id (moved from another row, or replaced)",
        ));
    }
    check_tag(
        key,
        subject,
        &facts_of(item).fields(),
        item.custody.as_deref(),
    )?;
    Ok(header)
}

/// The label a tagged row carries (the tag held: the bytes are the node's).
fn label_of(
    subject: impl Fn() -> String,
    bytes: &[u8],
    originator: &str,
) -> Result<WireLabel, Breach> {
    let label = WireLabel::from_bytes(bytes).map_err(|e| {
        breach(
            subject(),
            Check::Sealed,
            format!("its label does not decode: {e}"),
        )
    })?;
    if label.originator != originator {
        return Err(breach(
            subject(),
            Check::Index,
            "its originator column is not its label's",
        ));
    }
    Ok(label)
}

/// The breach of an item whose content no longer opens.
pub fn unopened(id: &str, e: &gsomia_seal::item::OpenError) -> Breach {
    breach(
        format!("item {id}"),
        Check::Sealed,
        format!("its sealed content no longer opens ({e})"),
    )
}

/// Checks a person read back from the register.
pub fn check_person(key: &CustodyKey, p: &Person) -> Result<(), Breach> {
    check_tag(
        key,
        || format!("person {}", p.id),
        &person_fields(p),
        p.custody.as_deref(),
    )
}

fn session_fields(s: &gsomia_store::ConsoleSession) -> Writer {
    let mut w = Writer::tagged("gsomia/v1/custody/console-session");
    w.raw(&s.id_hash).raw(&s.token_hash).i64(s.expires_unix);
    w
}

/// Tags a console session about to be kept.
pub fn tag_session(key: &CustodyKey, s: &mut gsomia_store::ConsoleSession) {
    s.custody = key.tag(&session_fields(s)).to_vec();
}

/// Checks a console session read back: one the node did not make (or
/// whose person or end was changed) is a breach.
pub fn check_session(key: &CustodyKey, s: &gsomia_store::ConsoleSession) -> Result<(), Breach> {
    check_tag(
        key,
        || {
            let short: String = s
                .id_hash
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("console session {short}…")
        },
        &session_fields(s),
        (!s.custody.is_empty()).then_some(s.custody.as_slice()),
    )
}

/// The CSRF token of a console session: derived from its id's hash with
/// the node's key, so every process of the node gives the same one and
/// nothing stored reveals it.
pub fn session_csrf(key: &CustodyKey, id_hash: &[u8; 32]) -> String {
    let mut w = Writer::tagged("gsomia/v1/console/csrf");
    w.raw(id_hash);
    crate::ids::hex(&key.tag(&w))
}

/// Checks a queued transfer before it is signed and sent.
pub fn check_outgoing(key: &CustodyKey, o: &Outgoing) -> Result<(), Breach> {
    check_tag(
        key,
        || format!("transfer {}", o.transfer),
        &outgoing_fields(o),
        o.custody.as_deref(),
    )
}

/// How many alarms are kept in memory for `/healthz`.
const RECENT: usize = 16;
/// How many distinct (subject, check) pairs are remembered as ledgered;
/// beyond it they are forgotten at once (and each may be ledgered again).
const LEDGERED_KEPT: usize = 4096;

/// The integrity alarms this process raised.
#[derive(Debug, Default)]
pub struct Alarms {
    inner: std::sync::Mutex<AlarmState>,
}

#[derive(Debug, Default)]
struct AlarmState {
    total: u64,
    recent: VecDeque<(String, Breach)>,
    ledgered: HashSet<(String, Check)>,
}

impl Alarms {
    /// Notes an alarm raised at `at`; whether it is new (not ledgered yet
    /// in this process).
    pub fn raise(&self, at: &str, b: &Breach) -> bool {
        let mut s = locked(&self.inner);
        s.total += 1;
        if s.recent.len() >= RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back((at.to_owned(), b.clone()));
        if s.ledgered.len() >= LEDGERED_KEPT {
            s.ledgered.clear();
        }
        s.ledgered.insert((b.subject.clone(), b.check))
    }

    /// Alarms raised since start, and the latest ones (oldest first).
    pub fn state(&self) -> (u64, Vec<(String, Breach)>) {
        let s = locked(&self.inner);
        (s.total, s.recent.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gsomia_seal::SecretKey;
    use gsomia_store::Role;

    fn person() -> Person {
        Person {
            id: "jpn-1".into(),
            name: "A".into(),
            role: Role::Officer,
            clearance: "秘".into(),
            clearance_until: "2030-01-01T00:00:00+09:00".into(),
            need_to_know: vec!["missile".into()],
            token_hash: [3; 32],
            created_at: "2026-01-01T00:00:00Z".into(),
            revoked_at: None,
            facility: None,
            visit: None,
            custody: None,
        }
    }

    #[test]
    fn a_person_row_changed_in_any_field_fails_its_check() {
        let key = CustodyKey::derive(&SecretKey::from_seed(&[9; 32]));
        let mut p = person();
        assert_eq!(
            check_person(&key, &p).map_err(|b| b.check),
            Err(Check::Untagged)
        );
        tag_person(&key, &mut p);
        assert!(check_person(&key, &p).is_ok());
        let edits: [fn(&mut Person); 7] = [
            |p| p.clearance = "極秘".into(),
            |p| p.clearance_until = "2099-01-01T00:00:00+09:00".into(),
            |p| p.need_to_know.push("nuclear".into()),
            |p| p.role = Role::SecurityOfficer,
            |p| p.token_hash = [4; 32],
            |p| p.revoked_at = Some("2026-02-01T00:00:00Z".into()),
            |p| p.id = "jpn-2".into(),
        ];
        for edit in edits {
            let mut q = p.clone();
            edit(&mut q);
            assert_eq!(check_person(&key, &q).map_err(|b| b.check), Err(Check::Tag));
        }
        let mut revoked = p.clone();
        revoked.revoked_at = Some("2026-02-01T00:00:00Z".into());
        tag_person(&key, &mut revoked);
        // The row as it was before the revocation carries its old tag:
        // valid alone, which is why the audit also reads the ledger.
        assert!(check_person(&key, &p).is_ok());
        assert!(check_person(&key, &revoked).is_ok());
    }

    #[test]
    fn alarms_are_ledgered_once_per_subject_and_check() {
        let a = Alarms::default();
        let b = breach("item x".into(), Check::Tag, "d");
        assert!(a.raise("t0", &b));
        assert!(!a.raise("t1", &b));
        assert!(a.raise(
            "t2",
            &Breach {
                check: Check::Index,
                ..b.clone()
            }
        ));
        let (total, recent) = a.state();
        assert_eq!(total, 3);
        assert_eq!(recent.len(), 3);
    }
}
