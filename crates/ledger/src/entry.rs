//! Typed ledger entries and the records that chain them.
//!
//! An entry has a kind, an instant, an actor (a party code or a person), an
//! optional item id, and named fields whose names are fixed per kind: a field
//! a kind does not have, or a required field missing, is refused. Fields are
//! kept sorted, so the canonical encoding of an entry is unique.
//!
//! A record wraps an entry with its index and the leaf hash of the previous
//! record; the record's canonical bytes are the Merkle leaf. The chain lets a
//! verifier name the exact entry that was edited, deleted, inserted or moved.

use gsomia_seal::canon::{DecodeError, Reader, Writer};

use crate::merkle::{Hash, leaf_hash};

/// The largest record accepted (bytes).
pub const MAX_RECORD: usize = 1024 * 1024;

macro_rules! kinds {
    ($( $variant:ident = $name:literal { required: [$($req:literal),*], optional: [$($opt:literal),*] } ),* $(,)?) => {
        /// What an entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind { $(
            #[doc = concat!("`", $name, "`")]
            $variant
        ),* }

        impl Kind {
            /// Every kind.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];
            /// The kind's name.
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }
            /// The fields every entry of this kind has.
            pub fn required(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($req),*]),* }
            }
            /// The fields an entry of this kind may have.
            pub fn optional(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($opt),*]),* }
            }
            /// A kind by name.
            pub fn parse(name: &str) -> Option<Kind> {
                match name { $($name => Some(Kind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    ItemCreated = "item_created" { required: ["label", "content_digest"], optional: ["title"] },
    ReleaseDecided = "release_decided" { required: ["recipient", "decision", "rules"], optional: ["agreement", "version", "reasons"] },
    Sent = "sent" { required: ["recipient", "transfer"], optional: [] },
    Received = "received" { required: ["sender", "transfer", "equivalent_label"], optional: [] },
    Delivered = "delivered" { required: ["recipient", "transfer", "receipt_checkpoint"], optional: [] },
    ReadAllowed = "read_allowed" { required: ["person", "rules"], optional: [] },
    ReadDenied = "read_denied" { required: ["person", "reasons"], optional: [] },
    Consent = "consent" { required: ["originator", "recipient", "scope", "expires_at"], optional: ["holder", "revoked_at"] },
    Copy = "copy" { required: ["copy", "copies"], optional: ["reason", "source", "by"] },
    Translation = "translation" { required: ["translation", "language"], optional: ["translator", "source", "label", "by", "reason"] },
    Destruction = "destruction" { required: ["method", "witnesses"], optional: ["record", "by", "level", "keep_until", "copies_held", "reason"] },
    LossReport = "loss_report" { required: ["description", "actual_or_possible"], optional: ["notified", "incident", "by", "originator"] },
    AgreementEvent = "agreement_event" { required: ["agreement", "event", "by"], optional: ["summary"] },
    TransferRefused = "transfer_refused" { required: ["sender", "transfer", "reasons"], optional: [] },
    PersonRegistered = "person_registered" { required: ["person", "role", "clearance", "until"], optional: ["need_to_know", "facility", "visit"] },
    Warning = "warning" { required: ["originator", "updates"], optional: ["sender", "relayed_to"] },
    IntegrityAlarm = "integrity_alarm" { required: ["subject", "check"], optional: ["detail"] },
    PersonRevoked = "person_revoked" { required: ["person", "by"], optional: ["reason"] },
    TokenRotated = "token_rotated" { required: ["person", "by"], optional: [] },
    AuthRefused = "auth_refused" { required: ["count", "since"], optional: ["missing", "unknown", "revoked"] },
    RoleRefused = "role_refused" { required: ["person", "action"], optional: [] },
    SubmitDenied = "submit_denied" { required: ["person", "reasons"], optional: ["level"] },
    CustodyTagged = "custody_tagged" { required: ["items", "people", "transfers"], optional: [] },
    PartnerChanged = "partner_changed" { required: ["party", "change"], optional: ["endpoint", "certificate_sha256"] },
    Derived = "derived" { required: ["sources", "label"], optional: ["by", "originators", "reason"] },
    HoldingRefused = "holding_refused" { required: ["person", "action", "reasons"], optional: [] },
    Returned = "returned" { required: ["recipient", "transfer"], optional: ["by", "receipt_checkpoint"] },
    IncidentFollowUp = "incident_followup" { required: ["incident", "kind", "text"], optional: ["by", "seq"] },
    IncidentReceived = "incident_received" { required: ["incident", "from", "kind"], optional: ["seq", "actual_or_possible", "text"] },
    IncidentAcknowledged = "incident_acknowledged" { required: ["incident", "by"], optional: ["seq"] },
    IncidentRefused = "incident_refused" { required: ["incident", "by", "reasons"], optional: ["seq"] },
    Reclassified = "reclassified" { required: ["notice", "originator", "from", "to"], optional: ["seq", "label", "equivalent", "covered", "source", "reason", "by"] },
    Facility = "facility" { required: ["facility", "change"], optional: ["by", "clearance", "responsible", "valid_until", "detail"] },
    Visit = "visit" { required: ["visit", "state"], optional: ["visitor", "host", "highest_level", "from", "until", "purpose", "item", "by", "reason"] },
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Unknown kind.
    #[error("unknown entry kind `{0}`")]
    UnknownKind(String),
    /// A field this kind does not have.
    #[error("`{kind}` entries have no field `{field}`; fields: {allowed}")]
    UnknownField {
        /// The kind.
        kind: &'static str,
        /// The field given.
        field: String,
        /// The fields it has.
        allowed: String,
    },
    /// A required field is missing.
    #[error("`{kind}` entries need the field `{field}`")]
    Missing {
        /// The kind.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field given twice.
    #[error("field `{0}` given twice")]
    Duplicate(String),
    /// An empty actor.
    #[error("an entry names its actor")]
    NoActor,
    /// Bytes that do not decode.
    #[error("malformed entry: {0}")]
    Decode(#[from] DecodeError),
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: Kind,
    at_seconds: i64,
    at_nanos: u32,
    actor: String,
    item: Option<String>,
    fields: Vec<(String, String)>,
}

impl Entry {
    /// Builds an entry, checking its fields against its kind.
    pub fn new(
        kind: Kind,
        at_seconds: i64,
        at_nanos: u32,
        actor: impl Into<String>,
        item: Option<String>,
        fields: Vec<(String, String)>,
    ) -> Result<Entry, EntryError> {
        let actor = actor.into();
        if actor.trim().is_empty() {
            return Err(EntryError::NoActor);
        }
        let mut fields = fields;
        fields.sort();
        for w in fields.windows(2) {
            if let [a, b] = w
                && a.0 == b.0
            {
                return Err(EntryError::Duplicate(a.0.clone()));
            }
        }
        for (name, _) in &fields {
            if !kind.required().contains(&name.as_str())
                && !kind.optional().contains(&name.as_str())
            {
                let allowed: Vec<&str> = kind
                    .required()
                    .iter()
                    .chain(kind.optional())
                    .copied()
                    .collect();
                return Err(EntryError::UnknownField {
                    kind: kind.as_str(),
                    field: name.clone(),
                    allowed: allowed.join(", "),
                });
            }
        }
        for req in kind.required() {
            if !fields.iter().any(|(n, _)| n == req) {
                return Err(EntryError::Missing {
                    kind: kind.as_str(),
                    field: req,
                });
            }
        }
        Ok(Entry {
            kind,
            at_seconds,
            at_nanos: at_nanos.min(999_999_999),
            actor,
            item,
            fields,
        })
    }
    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The instant, as Unix seconds and nanoseconds.
    pub fn at(&self) -> (i64, u32) {
        (self.at_seconds, self.at_nanos)
    }
    /// Who acted.
    pub fn actor(&self) -> &str {
        &self.actor
    }
    /// The item concerned.
    pub fn item(&self) -> Option<&str> {
        self.item.as_deref()
    }
    /// The fields, sorted by name.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    fn encode(&self, w: &mut Writer) {
        w.str(self.kind.as_str())
            .i64(self.at_seconds)
            .u32(self.at_nanos)
            .str(&self.actor)
            .opt_str(self.item.as_deref())
            .count(self.fields.len());
        for (n, v) in &self.fields {
            w.str(n).str(v);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Entry, EntryError> {
        let kind_name = r.str()?;
        let kind =
            Kind::parse(kind_name).ok_or_else(|| EntryError::UnknownKind(kind_name.to_owned()))?;
        let at_seconds = r.i64()?;
        let at_nanos = r.u32()?;
        if at_nanos > 999_999_999 {
            return Err(EntryError::Decode(DecodeError::Tag {
                at: r.position(),
                tag: 0xff,
            }));
        }
        let actor = r.str()?.to_owned();
        let item = r.opt_str()?.map(str::to_owned);
        let n = r.count(8)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push((r.str()?.to_owned(), r.str()?.to_owned()));
        }
        let entry = Entry::new(kind, at_seconds, at_nanos, actor, item, fields.clone())?;
        // Canonical: fields must already have been in sorted order.
        if entry.fields != fields {
            return Err(EntryError::Decode(DecodeError::Kind {
                expected: "sorted fields",
            }));
        }
        Ok(entry)
    }
}

/// A ledger record: an entry with its index and the previous record's leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 0-based position in the ledger.
    pub index: u64,
    /// Leaf hash of the previous record (all zeros for the first).
    pub prev: Hash,
    /// The entry.
    pub entry: Entry,
}

const RECORD_TAG: &str = "gsomia/v1/ledger-record";

impl Record {
    /// The canonical bytes (the Merkle leaf data).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(RECORD_TAG);
        w.u64(self.index).raw(&self.prev.0);
        self.entry.encode(&mut w);
        w.finish()
    }
    /// Decodes canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, EntryError> {
        let mut r = Reader::new(bytes, MAX_RECORD);
        r.expect_tag(RECORD_TAG)?;
        let index = r.u64()?;
        let prev = Hash(r.raw::<32>()?);
        let entry = Entry::decode(&mut r)?;
        r.finish()?;
        Ok(Record { index, prev, entry })
    }
    /// The record's Merkle leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }
}

/// The `prev` value of the first record.
pub const GENESIS: Hash = Hash([0u8; 32]);

/// Frames a record for an append-only log file: `u32` length, the record's
/// leaf hash, then its bytes. The stored hash lets a reader name the exact
/// record a stray byte change hit.
pub fn frame(record: &Record) -> Vec<u8> {
    let bytes = record.to_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 36);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&leaf_hash(&bytes).0);
    out.extend_from_slice(&bytes);
    out
}

/// Frames record bytes with the leaf hash stored beside them (which may
/// not be theirs: a store's hash column read back, for [`crate::verify`]
/// to check against the bytes).
pub fn frame_stored(bytes: &[u8], stored: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 36);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&stored.0);
    out.extend_from_slice(bytes);
    out
}

/// A framed record as read from a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    /// Byte offset of the frame in the file.
    pub offset: usize,
    /// The stored leaf hash.
    pub stored: Hash,
    /// The record bytes.
    pub bytes: &'a [u8],
}

/// Splits log file bytes into frames: the frames read, and where reading
/// stopped (index and byte offset of a frame cut short or oversized), if it
/// did not reach the end.
pub fn unframe(log: &[u8]) -> (Vec<Framed<'_>>, Option<(u64, usize)>) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < log.len() {
        let stop = (out.len() as u64, pos);
        let Some(header) = log.get(pos..pos + 36) else {
            return (out, Some(stop));
        };
        let (len, hash) = header.split_at(4);
        let (Ok(len), Ok(hash)) = (<[u8; 4]>::try_from(len), <[u8; 32]>::try_from(hash)) else {
            return (out, Some(stop));
        };
        let len = u32::from_be_bytes(len) as usize;
        let Some(bytes) = log
            .get(pos + 36..pos + 36 + len)
            .filter(|_| len <= MAX_RECORD)
        else {
            return (out, Some(stop));
        };
        out.push(Framed {
            offset: pos,
            stored: Hash(hash),
            bytes,
        });
        pos += 36 + len;
    }
    (out, None)
}
