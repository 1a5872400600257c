//! A node's holdings audited from its database, with the node running or
//! not: what `gsomia ledger verify|status --dir NODE` report.
//!
//! The ledger: every record re-hashed against its stored hash, its chain
//! and index checked, every checkpoint's signature and root recomputed (and
//! its row's size and root columns compared with its signed note), the
//! records after the last checkpoint counted, and every partner's
//! cosignature verified — one for more records than remain is evidence of
//! truncation or a restored older copy. Then the holdings against the
//! ledger: every item, person and queued transfer against its custody tag,
//! every item and person against the entries that created them, every
//! accepted and sent transfer against its entry, each way.

use std::collections::{BTreeMap, BTreeSet};

use gsomia_ledger::entry::{Kind, Record, frame_stored};
use gsomia_ledger::note::{Note, Verifier};
use gsomia_ledger::verify::{Problem, Report};
use gsomia_seal::custody::CustodyKey;
use gsomia_store::{MessageKind, Store, StoreError};
use sha2::{Digest, Sha256};

use crate::keys::KeyError;
use crate::partner::PartnerError;
use crate::settings::Settings;

/// Why a node's holdings could not be read back at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The node's identity or signing key (the custody check needs it).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A partner file.
    #[error(transparent)]
    Partner(#[from] PartnerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Something the audit found wrong, naming what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it concerns: `ledger`, `checkpoint 12`, `cosignature KOR`,
    /// `item ID`, `person ID`, `transfer ID`.
    pub subject: String,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.what)
    }
}

fn finding(subject: impl Into<String>, what: impl Into<String>) -> Finding {
    Finding {
        subject: subject.into(),
        what: what.into(),
    }
}

/// A partner's latest cosignature of this node's checkpoints.
#[derive(Debug, Clone)]
pub struct Cosignature {
    /// The partner.
    pub party: String,
    /// Its largest cosigned checkpoint: size, when kept, and whether both
    /// signatures (the node's and the partner's) verify, or why not.
    pub latest: Option<(u64, String, Result<(), String>)>,
}

/// An integrity alarm the node ledgered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgeredAlarm {
    /// The record's index.
    pub index: u64,
    /// When.
    pub at: String,
    /// The row.
    pub subject: String,
    /// The check that failed.
    pub check: String,
}

/// What the audit found.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The log's key, named.
    pub key: Verifier,
    /// The ledger's own verification: its report, or the first problem.
    pub ledger: Result<Report, Problem>,
    /// Records stored.
    pub records: u64,
    /// Records after the last checkpoint (covered by no signature yet: a
    /// node signs its tail within a second, so only a crash leaves some).
    pub uncovered: u64,
    /// Every partner's latest cosignature.
    pub cosignatures: Vec<Cosignature>,
    /// Everything else found wrong (empty when all holds).
    pub findings: Vec<Finding>,
    /// The integrity alarms in the ledger.
    pub alarms: Vec<LedgeredAlarm>,
    /// Items, people and transfers checked.
    pub checked: (u64, u64, u64),
}

impl Audit {
    /// Whether everything verified and nothing was found.
    pub fn holds(&self) -> bool {
        self.ledger.is_ok() && self.findings.is_empty()
    }
}

/// Audits the node configured by `settings` (see the module's text).
pub async fn audit(settings: &Settings) -> Result<Audit, AuditError> {
    let key = crate::keys::read_identity(&settings.keys)?.verifier;
    let (_, signer) = crate::keys::signer(&settings.keys)?;
    let custody = CustodyKey::derive(&signer.key);
    let (_, recipient) = crate::keys::recipient(&settings.keys)?;
    let partners = crate::partner::load(&settings.partners_dir())?;
    let store = settings.open_store().await?;
    let mut findings = Vec::new();

    // The ledger: records framed with their stored hashes, every checkpoint.
    let records = store.ledger_size().await?;
    let stored = store.records(0, records).await?;
    let mut log = Vec::new();
    for (h, bytes) in &stored {
        log.extend_from_slice(&frame_stored(bytes, h));
    }
    let rows = store.checkpoints().await?;
    let mut notes = Vec::with_capacity(rows.len());
    for (size, root, text) in rows {
        let name = format!("checkpoint {size}");
        if let Ok(c) = Note::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|n| key.verify_checkpoint(&n).map_err(|e| e.to_string()))
            && (c.size != size || c.root != root)
        {
            findings.push(finding(
                &name,
                format!(
                    "its row says size {size} root {} but its signed note says size {} root {}",
                    root.to_hex(),
                    c.size,
                    c.root.to_hex()
                ),
            ));
        }
        notes.push((name, text));
    }
    let ledger = gsomia_ledger::verify::verify(&key.name, &key, &log, &notes);
    let covered = ledger
        .as_ref()
        .ok()
        .and_then(|r| r.latest.as_ref())
        .map_or(0, |c| c.size);

    // Partners' cosignatures: verified, and none for more than remains.
    let cosigned = store.cosignatures().await?;
    let mut cosignatures = Vec::new();
    for p in &partners {
        // Latest first: the first one kept is the largest.
        let mut latest = None;
        for (size, _, note, at) in cosigned.iter().filter(|(_, who, _, _)| *who == p.party) {
            if *size > records {
                findings.push(finding(
                    format!("cosignature {}", p.party),
                    format!(
                        "{} cosigned a checkpoint of {size} records but the ledger has {records}: records were deleted or an older copy restored",
                        p.party
                    ),
                ));
            }
            let ok = Note::parse(note).map_err(|e| e.to_string()).and_then(|n| {
                key.verify_checkpoint(&n).map_err(|e| e.to_string())?;
                p.verifier
                    .verify_cosignature(&n)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = &ok {
                findings.push(finding(
                    format!("cosignature {}", p.party),
                    format!("size {size}: {e}"),
                ));
            }
            if latest.is_none() {
                latest = Some((*size, at.clone(), ok));
            }
        }
        cosignatures.push(Cosignature {
            party: p.party.clone(),
            latest,
        });
    }

    // The entries, for the holdings (only if the ledger itself verified:
    // otherwise its first problem is the finding).
    let mut alarms = Vec::new();
    let mut checked = (0, 0, 0);
    if ledger.is_ok() {
        let mut entries = Entries::default();
        for (i, (_, bytes)) in stored.iter().enumerate() {
            if let Ok(r) = Record::from_bytes(bytes) {
                entries.add(&r, &mut alarms, i as u64);
            }
        }
        checked = holdings(
            store.as_ref(),
            &custody,
            &recipient,
            &settings.party,
            &entries,
            &mut findings,
        )
        .await?;
    }
    Ok(Audit {
        key,
        ledger,
        records,
        uncovered: records.saturating_sub(covered),
        cosignatures,
        findings,
        alarms,
        checked,
    })
}

/// What the ledger says the holdings are.
#[derive(Default)]
struct Entries {
    /// item_created: item → (label hash, content digest).
    created: BTreeMap<String, (String, String)>,
    /// received: item → (sender, transfer).
    received: BTreeMap<String, (String, String)>,
    /// Items whose destruction or return is recorded.
    destroyed: BTreeSet<String>,
    /// copy, translation, derived: item → its label hash (none for a copy,
    /// which keeps its source's sealed bytes).
    made: BTreeMap<String, Option<String>>,
    /// person_registered ids.
    registered: BTreeSet<String>,
    /// person_revoked ids.
    revoked: BTreeSet<String>,
    /// sent: transfer → item.
    sent: BTreeMap<String, String>,
    /// delivered transfers.
    delivered: BTreeSet<String>,
}

impl Entries {
    fn add(&mut self, r: &Record, alarms: &mut Vec<LedgeredAlarm>, index: u64) {
        let e = &r.entry;
        let field = |name: &str| {
            e.fields()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let item = e.item().map(str::to_owned).unwrap_or_default();
        match e.kind() {
            Kind::ItemCreated => {
                self.created
                    .insert(item, (field("label"), field("content_digest")));
            }
            Kind::Received => {
                self.received
                    .insert(item, (field("sender"), field("transfer")));
            }
            Kind::Destruction | Kind::Returned => {
                self.destroyed.insert(item);
            }
            Kind::Copy => {
                self.made.insert(item, None);
            }
            // The originator's label changed (rule 8): the label the row
            // carries from now on.
            Kind::Reclassified => {
                let label = field("label");
                if let Some((l, _)) = self.created.get_mut(&item) {
                    *l = label;
                } else if let Some(Some(l)) = self.made.get_mut(&item) {
                    *l = label;
                }
            }
            Kind::Translation | Kind::Derived => {
                self.made.insert(item, Some(field("label")));
            }
            Kind::PersonRegistered => {
                self.registered.insert(field("person"));
            }
            Kind::PersonRevoked => {
                self.revoked.insert(field("person"));
            }
            Kind::Sent => {
                self.sent.insert(field("transfer"), item);
            }
            Kind::Delivered => {
                self.delivered.insert(field("transfer"));
            }
            Kind::IntegrityAlarm => {
                let (s, n) = e.at();
                alarms.push(LedgeredAlarm {
                    index,
                    at: gsomia_core::time::from_wire((s, n))
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    subject: field("subject"),
                    check: field("check"),
                });
            }
            _ => {}
        }
    }
}

/// The holdings against their tags and the ledger; what was checked.
async fn holdings(
    store: &dyn Store,
    custody: &CustodyKey,
    recipient: &gsomia_seal::item::RecipientSecret,
    party: &str,
    entries: &Entries,
    findings: &mut Vec<Finding>,
) -> Result<(u64, u64, u64), AuditError> {
    let hex = crate::ids::hex;
    // Items: each opened too (its tag covers the signed header; the AEAD
    // and the signed digest, the content).
    let mut sessions: BTreeMap<[u8; 32], [u8; 32]> = BTreeMap::new();
    let mut open = |bytes: &[u8]| {
        gsomia_seal::item::open_with(bytes, recipient, None, &mut |enc| {
            let id: [u8; 32] = Sha256::digest(enc).into();
            if let Some(s) = sessions.get(&id) {
                return Ok(*s);
            }
            let s = gsomia_seal::item::session_secret(enc, recipient)?;
            sessions.insert(id, s);
            Ok(s)
        })
        .map(|_| ())
    };
    let ids = store.item_ids().await?;
    let indexes: BTreeMap<String, Option<gsomia_store::ItemIndex>> =
        store.item_indexes().await?.into_iter().collect();
    let mut held = BTreeSet::new();
    for id in &ids {
        let Some(item) = store.item(id).await? else {
            continue;
        };
        held.insert(id.clone());
        let subject = format!("item {id}");
        if item.disposal.is_some() {
            // Destroyed or returned: no sealed bytes left to open; the
            // record the tag covers must be one the ledger holds.
            if let Err(b) = crate::custody::check_item_any(custody, &item) {
                findings.push(finding(&subject, format!("{} ({})", b.detail, b.check)));
                continue;
            }
            if !entries.destroyed.contains(id) {
                findings.push(finding(
                    &subject,
                    "it is recorded as destroyed or returned but no destruction or return is ledgered",
                ));
            }
            continue;
        }
        let header = match crate::custody::check_item(custody, &item) {
            Ok(h) => h,
            Err(b) => {
                findings.push(finding(&subject, format!("{} ({})", b.detail, b.check)));
                continue;
            }
        };
        if entries.destroyed.contains(id) {
            findings.push(finding(
                &subject,
                "the ledger records its destruction or return but it still holds its sealed bytes (an older row was restored)",
            ));
        }
        if let Err(e) = open(&item.sealed) {
            let b = crate::custody::unopened(id, &e);
            findings.push(finding(&subject, format!("{} ({})", b.detail, b.check)));
        }
        // The query indexes (a changed one hides the item from lists).
        let expected = crate::custody::index_of(&item).map(|mut x| {
            x.topics.sort();
            x
        });
        if indexes.get(id).cloned().flatten() != expected {
            findings.push(finding(
                &subject,
                "its list indexes (level, topics, time) do not match its labels: it would be listed wrongly (label_index)",
            ));
        }
        match (
            entries.created.get(id),
            entries.received.get(id),
            entries.made.get(id),
        ) {
            (Some((label, digest)), _, _) => {
                if *label != hex(&Sha256::digest(header.label.to_bytes()))
                    || *digest != hex(&header.content_digest)
                    || item.originator != party
                {
                    findings.push(finding(
                        &subject,
                        "its sealed label or content is not the one its item_created entry records",
                    ));
                }
            }
            (None, Some((sender, _)), _) => {
                if item.received_from.as_deref() != Some(sender.as_str()) {
                    findings.push(finding(
                        &subject,
                        format!("its received entry says it came from {sender}"),
                    ));
                }
            }
            (None, None, Some(label)) => {
                if item.lineage.is_none()
                    || label
                        .as_ref()
                        .is_some_and(|l| *l != hex(&Sha256::digest(header.label.to_bytes())))
                {
                    findings.push(finding(
                        &subject,
                        "it is not the copy, translation or document its ledger entry records",
                    ));
                }
            }
            (None, None, None) => findings.push(finding(
                &subject,
                "no item_created, received, copy, translation or derived entry records it: the row was inserted",
            )),
        }
    }
    for id in entries
        .created
        .keys()
        .chain(entries.received.keys())
        .chain(entries.made.keys())
    {
        if !held.contains(id) && !entries.destroyed.contains(id) {
            findings.push(finding(
                format!("item {id}"),
                "the ledger records it but the database no longer holds it, and no destruction is recorded",
            ));
        }
    }
    // People.
    let people = store.people().await?;
    let mut registered = BTreeSet::new();
    for p in &people {
        registered.insert(p.id.clone());
        let subject = format!("person {}", p.id);
        if let Err(b) = crate::custody::check_person(custody, p) {
            findings.push(finding(&subject, format!("{} ({})", b.detail, b.check)));
        }
        if !entries.registered.contains(&p.id) {
            findings.push(finding(
                &subject,
                "no person_registered entry records them: the row was inserted",
            ));
        }
        if entries.revoked.contains(&p.id) && p.revoked_at.is_none() {
            findings.push(finding(
                &subject,
                "the ledger records their revocation but their entry is not revoked: an older row was restored",
            ));
        }
    }
    for id in &entries.registered {
        if !registered.contains(id) {
            findings.push(finding(
                format!("person {id}"),
                "the ledger records their registration but the register no longer holds them",
            ));
        }
    }
    // Transfers accepted.
    let accepted = store.received().await?;
    let by_transfer: BTreeMap<&str, &str> = accepted
        .iter()
        .map(|i| (i.transfer.as_str(), i.item.as_str()))
        .collect();
    for (item, (_, transfer)) in &entries.received {
        match by_transfer.get(transfer.as_str()) {
            Some(i) if *i == item => {}
            Some(i) => findings.push(finding(
                format!("transfer {transfer}"),
                format!("accepted as item {i}, but the ledger records item {item}"),
            )),
            None => findings.push(finding(
                format!("transfer {transfer}"),
                "the ledger records it received but its exactly-once row is gone (a replay would be stored twice)",
            )),
        }
    }
    let recorded: BTreeSet<&str> = entries.received.values().map(|(_, t)| t.as_str()).collect();
    for i in &accepted {
        if !recorded.contains(i.transfer.as_str()) {
            findings.push(finding(
                format!("transfer {}", i.transfer),
                "marked as received, but no received entry records it",
            ));
        }
    }
    // Transfers sent.
    let queued = store.outbox_rows().await?;
    for o in &queued {
        if o.delivered_at.is_none() && o.failed_at.is_none() && !o.has_envelope {
            findings.push(finding(
                format!("transfer {}", o.transfer),
                "waiting to be sent, but its envelope is gone: it would never leave",
            ));
        }
    }
    let mut outbox = BTreeMap::new();
    for o in queued.iter().filter(|o| o.kind == MessageKind::Transfer) {
        outbox.insert(o.transfer.as_str(), o);
        let subject = format!("transfer {}", o.transfer);
        match entries.sent.get(&o.transfer) {
            Some(item) if *item == o.item => {}
            Some(item) => findings.push(finding(
                &subject,
                format!(
                    "queued for item {}, but the ledger records item {item}",
                    o.item
                ),
            )),
            None => findings.push(finding(
                &subject,
                "queued, but no sent entry records its release",
            )),
        }
        if o.delivered_at.is_some() && !entries.delivered.contains(&o.transfer) {
            findings.push(finding(
                &subject,
                "marked delivered, but no delivered entry records a receipt",
            ));
        }
    }
    for t in entries.sent.keys() {
        if !outbox.contains_key(t.as_str()) {
            findings.push(finding(
                format!("transfer {t}"),
                "the ledger records it sent but the outbox no longer holds it",
            ));
        }
    }
    let pending = store.due(i64::MAX, u32::MAX).await?;
    for o in &pending {
        if let Err(b) = crate::custody::check_outgoing(custody, o) {
            findings.push(finding(
                format!("transfer {}", o.transfer),
                format!("{} ({})", b.detail, b.check),
            ));
        }
    }
    Ok((
        held.len() as u64,
        people.len() as u64,
        (accepted.len() + queued.len()) as u64,
    ))
}
