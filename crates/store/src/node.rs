//! The node's storage contract: one trait, one adapter per backend
//! ([`crate::sqlite`] today; PostgreSQL implements the same trait), one
//! conformance suite ([`crate::conformance`]) that every adapter passes.
//!
//! Rows here are plain data: names and bytes, never core types, so no
//! database trait is derived on a core type. Every state change goes through
//! [`Store::commit`], which writes the change and its ledger entries in one
//! transaction: nothing is acknowledged before it is durable, and the ledger
//! never misses or invents an event.

use std::future::Future;
use std::pin::Pin;

use gsomia_ledger::entry::Entry;
use gsomia_ledger::merkle::Hash;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("database: {0}")]
    Database(String),
    /// A unique id already exists (a person, an item).
    #[error("`{0}` already exists")]
    Exists(String),
    /// A transfer id already received: the replay has no second effect.
    #[error("transfer `{0}` was already received")]
    Duplicate(String),
    /// Another checkpoint of this size with another root exists.
    #[error("a different checkpoint of size {0} exists (compare-and-swap lost)")]
    Conflict(u64),
    /// Stored data that does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A row to update that does not exist.
    #[error("`{0}` does not exist")]
    Missing(String),
    /// An item the batch acts on is no longer held here: destroyed or
    /// returned (by another request that committed first), or not stored.
    #[error("item `{0}` is no longer held")]
    Gone(String),
    /// The database file is not there (only `gsomia init` makes one).
    #[error("`{0}` does not exist (only `gsomia init` creates a node's database)")]
    NoDatabase(String),
    /// A connection string the store refuses before connecting (it does
    /// not parse, or would reach a server without checked TLS); it says
    /// what to write instead.
    #[error("connection string refused: {0}")]
    Refused(String),
}

/// A person's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Submits, releases and reads items.
    Officer,
    /// Manages people, agreements and consents.
    SecurityOfficer,
    /// Reads the ledger.
    Auditor,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::SecurityOfficer => "security-officer",
            Role::Auditor => "auditor",
        }
    }
    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "officer" => Some(Role::Officer),
            "security-officer" => Some(Role::SecurityOfficer),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A console session as the store keeps it (the node checks the tag
/// before it honours one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session id the cookie carries (the id itself is
    /// never stored).
    pub id_hash: [u8; 32],
    /// The signed-in person's token hash (the register's key).
    pub token_hash: [u8; 32],
    /// When the session ends (Unix seconds).
    pub expires_unix: i64,
    /// The node's custody tag over the three.
    pub custody: Vec<u8>,
}

/// A person in the register of cleared personnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Clearance: a level of the party's policy, by native name.
    pub clearance: String,
    /// The first instant the clearance no longer holds (RFC 3339).
    pub clearance_until: String,
    /// Topics the person needs to know.
    pub need_to_know: Vec<String>,
    /// SHA-256 of the person's bearer token (the token itself is never stored).
    pub token_hash: [u8; 32],
    /// When registered (RFC 3339).
    pub created_at: String,
    /// When the person's access ended (RFC 3339), if it has.
    pub revoked_at: Option<String>,
    /// The contractor facility the person belongs to (Art 16), if any.
    pub facility: Option<String>,
    /// For a visitor from a partner (Art 8): the visit they are here for.
    pub visit: Option<String>,
    /// The node's custody tag over this row (`None` on rows kept before tags).
    pub custody: Option<Vec<u8>>,
}

/// One record of a contractor facility's file (Art 16): its registration,
/// an inspection, a person's briefing; appended, never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityRecord {
    /// The facility's id.
    pub facility: String,
    /// Its place in the facility's file (0 is the registration).
    pub seq: u32,
    /// The record (the node's canonical encoding).
    pub body: Vec<u8>,
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// The node's custody tag over it.
    pub custody: Vec<u8>,
}

/// An item held by the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Stable id.
    pub id: String,
    /// The originating party.
    pub originator: String,
    /// The sealed item bytes (as created or received).
    pub sealed: Vec<u8>,
    /// The originator's label (canonical bytes).
    pub label: Vec<u8>,
    /// This party's equivalent label (canonical bytes), for received items.
    pub equivalent_label: Option<Vec<u8>>,
    /// The sending party, for received items.
    pub received_from: Option<String>,
    /// The originator's id of the item (the same at every hop; equals `id` at the originator).
    pub origin_item: String,
    /// When stored (RFC 3339).
    pub created_at: String,
    /// The id of the sealed bytes' binding (their signed header and
    /// signature), covered by the custody tag; `None` on rows kept before it.
    pub binding: Option<Vec<u8>>,
    /// The node's custody tag over this row (`None` on rows kept before tags).
    pub custody: Option<Vec<u8>>,
    /// What the item was made from here (a copy, a translation, a derived
    /// document): canonical bytes the node recorded, covered by the tag.
    pub lineage: Option<Vec<u8>>,
    /// How it left custody (destroyed, returned): canonical bytes the node
    /// recorded, covered by the tag. Its sealed bytes are empty from then on.
    pub disposal: Option<Vec<u8>>,
    /// Query indexes to write with the item (not read back by [`Store::item`]).
    pub index: Option<ItemIndex>,
}

/// An item leaving custody: its sealed bytes erased, its disposal record
/// and new custody tag written (a second disposal of one item fails the
/// batch with [`StoreError::Duplicate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposed {
    /// The item.
    pub id: String,
    /// The disposal record (canonical bytes).
    pub disposal: Vec<u8>,
    /// The custody tag over the row as it will be.
    pub custody: Vec<u8>,
    /// When, Unix seconds (an index).
    pub at_unix: i64,
}

/// One message of a loss or compromise report, as sent or received here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    /// Its position in the order stored (a paging cursor for reports).
    pub position: i64,
    /// The incident.
    pub incident: String,
    /// Its place in the incident (0 is the report).
    pub seq: u32,
    /// Sent by this node (else received).
    pub sent: bool,
    /// The other party: the originator notified, or the holder reporting.
    pub party: String,
    /// The item: this node's id of it (holder), or the originator's id (originator).
    pub item: String,
    /// The signed message.
    pub bytes: Vec<u8>,
    /// When stored (RFC 3339).
    pub at: String,
    /// When acknowledged (sent) or acknowledged by this node (received).
    pub acked_at: Option<String>,
    /// The signed acknowledgement.
    pub ack: Option<Vec<u8>>,
    /// When the originator refused it by decision (sent messages; final).
    pub failed_at: Option<String>,
    /// The originator's reasons.
    pub failure: Option<String>,
}

/// A return to an originator waiting for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    /// The transfer carrying it.
    pub transfer: String,
    /// The local item.
    pub item: String,
    /// Who asked.
    pub requested_by: String,
    /// When (RFC 3339).
    pub requested_at: String,
}

/// A return whose transfer has been answered: delivered (with the
/// receipt's checkpoint) or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAnswered {
    /// The return.
    pub ret: Return,
    /// The originator's receipt checkpoint, when delivered.
    pub receipt: Option<String>,
    /// When delivered (RFC 3339).
    pub delivered_at: Option<String>,
    /// Why refused, when refused.
    pub failure: Option<String>,
}

/// The indexes a paged item list filters on. Never a fact a decision reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemIndex {
    /// The level in this party's policy a read is decided on (the item's
    /// own level, or the equivalent recorded at receipt).
    pub access_level: String,
    /// When stored, Unix seconds.
    pub created_unix: i64,
    /// The label's topics.
    pub topics: Vec<String>,
    /// The item it was copied, translated or derived from (the first source).
    pub source: Option<String>,
    /// The originator's "return or destroy by", Unix seconds.
    pub dispose_by: Option<i64>,
}

/// An item without its sealed bytes: what a list reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// Its position in the order items were stored (the paging cursor).
    pub position: i64,
    /// Stable id.
    pub id: String,
    /// The originating party.
    pub originator: String,
    /// The originator's label (canonical bytes).
    pub label: Vec<u8>,
    /// This party's equivalent label (canonical bytes), for received items.
    pub equivalent_label: Option<Vec<u8>>,
    /// The sending party, for received items.
    pub received_from: Option<String>,
    /// The originator's id of the item.
    pub origin_item: String,
    /// When stored (RFC 3339).
    pub created_at: String,
    /// The sealed bytes' binding id.
    pub binding: Option<Vec<u8>>,
    /// The node's custody tag over this row.
    pub custody: Option<Vec<u8>>,
    /// What it was made from (see [`Item::lineage`]).
    pub lineage: Option<Vec<u8>>,
    /// How it left custody (see [`Item::disposal`]).
    pub disposal: Option<Vec<u8>>,
}

/// Which items a page may hold (every filter optional).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemQuery {
    /// Only items stored after this position (the previous page's cursor).
    pub after: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
    /// Only items whose access level is one of these (an empty list: none).
    pub levels: Option<Vec<String>>,
    /// Only items whose every topic is one of these (an empty list: none).
    pub topics_within: Option<Vec<String>>,
    /// Only items with this topic.
    pub topic: Option<String>,
    /// Only items of this originator.
    pub originator: Option<String>,
    /// Only items stored at or after this instant (Unix seconds).
    pub since: Option<i64>,
    /// Only items still held (not destroyed or returned).
    pub held_only: bool,
    /// Only items still held whose originator's "dispose by" is at or
    /// before this instant (Unix seconds).
    pub due_by: Option<i64>,
}

/// What a message between nodes carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// An item (a transfer envelope).
    Transfer,
    /// An agreement event.
    Event,
    /// An originator's consent.
    Consent,
    /// The revocation of a consent.
    Revocation,
    /// An originator's notice that an item is classified anew.
    Reclassification,
    /// A visit request or its answer.
    Visit,
}

impl MessageKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Transfer => "transfer",
            MessageKind::Event => "event",
            MessageKind::Consent => "consent",
            MessageKind::Revocation => "revocation",
            MessageKind::Reclassification => "reclassification",
            MessageKind::Visit => "visit",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<MessageKind> {
        match s {
            "transfer" => Some(MessageKind::Transfer),
            "event" => Some(MessageKind::Event),
            "consent" => Some(MessageKind::Consent),
            "revocation" => Some(MessageKind::Revocation),
            "reclassification" => Some(MessageKind::Reclassification),
            "visit" => Some(MessageKind::Visit),
            _ => None,
        }
    }
}

/// A signed message kept by the node (an agreement event, a consent, a
/// revocation), whether entered here or received from a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What it is (never [`MessageKind::Transfer`]: items are stored as items).
    pub kind: MessageKind,
    /// Its id (a revocation has its consent's id).
    pub id: String,
    /// The signing party.
    pub party: String,
    /// The signed bytes.
    pub body: Vec<u8>,
    /// When stored (RFC 3339).
    pub stored_at: String,
}

/// A message waiting to be delivered to a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// What it carries.
    pub kind: MessageKind,
    /// Transfer id (unique across the system; a message's own id for events,
    /// consents and revocations, which go to one partner each).
    pub transfer: String,
    /// The item (or the event or consent id).
    pub item: String,
    /// The recipient party.
    pub recipient: String,
    /// The envelope (or signed message) bytes to send.
    pub envelope: Vec<u8>,
    /// Attempts so far.
    pub attempts: u32,
    /// When to try next (Unix seconds).
    pub next_attempt_at: i64,
    /// The node's custody tag over this row and its envelope (`None` on rows kept before tags).
    pub custody: Option<Vec<u8>>,
    /// Who released it (a person's id), for an item.
    pub released_by: Option<String>,
}

/// A transfer or message queued for a partner, as its sender shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    /// Its position in the order queued (the paging cursor).
    pub position: i64,
    /// What it carries.
    pub kind: MessageKind,
    /// Transfer id.
    pub transfer: String,
    /// The item (or message id).
    pub item: String,
    /// The recipient party.
    pub recipient: String,
    /// Who released it.
    pub released_by: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When queued (Unix seconds).
    pub queued_at: i64,
    /// When the next attempt is due (Unix seconds).
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the partner acknowledged it (RFC 3339).
    pub delivered_at: Option<String>,
    /// The partner's checkpoint its receipt carried.
    pub receipt: Option<String>,
    /// When the partner refused it for good (RFC 3339).
    pub failed_at: Option<String>,
    /// The partner's reasons.
    pub failure: Option<String>,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Waiting for its first attempt.
    Queued,
    /// Attempted, not yet acknowledged.
    Sending,
    /// Acknowledged with a receipt.
    Delivered,
    /// Refused by the partner's decision.
    Refused,
}

impl TransferRow {
    /// Where it stands.
    pub fn state(&self) -> TransferState {
        if self.delivered_at.is_some() {
            TransferState::Delivered
        } else if self.failed_at.is_some() {
            TransferState::Refused
        } else if self.attempts > 0 {
            TransferState::Sending
        } else {
            TransferState::Queued
        }
    }
}

/// Which transfers a page may hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferQuery {
    /// Only transfers queued after this position.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
    /// Only those released by this person.
    pub released_by: Option<String>,
    /// Only those in this state.
    pub state: Option<TransferState>,
    /// Only those to this partner.
    pub recipient: Option<String>,
    /// Only those of this item.
    pub item: Option<String>,
}

/// A request's first answer, kept under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent {
    /// The person who asked.
    pub person: String,
    /// Their key.
    pub key: String,
    /// A digest of what was asked (the same key for another request is refused).
    pub request: Vec<u8>,
    /// The answer (JSON).
    pub response: String,
    /// When (RFC 3339).
    pub at: String,
}

/// An outbox row without its envelope, as an audit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// What it carries.
    pub kind: MessageKind,
    /// Transfer id.
    pub transfer: String,
    /// The item (or message id).
    pub item: String,
    /// The recipient party.
    pub recipient: String,
    /// When the recipient acknowledged it.
    pub delivered_at: Option<String>,
    /// When the recipient refused it for good.
    pub failed_at: Option<String>,
    /// Whether its envelope is still kept (one is needed until it is delivered or refused).
    pub has_envelope: bool,
}

/// Which kind of row a backfilled custody tag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    /// An item (by id).
    Item,
    /// A person (by id).
    Person,
    /// An outbox row (by transfer id).
    Outbox,
}

/// A transfer accepted from a partner (exactly once per id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Transfer id.
    pub transfer: String,
    /// The sending party.
    pub sender: String,
    /// The item stored for it.
    pub item: String,
    /// When accepted (RFC 3339).
    pub received_at: String,
}

/// A warning update applied at this node, kept so the feed survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRow {
    /// The flight.
    pub flight: String,
    /// The update's place in it.
    pub seq: u32,
    /// The signed update.
    pub bytes: Vec<u8>,
    /// When it was applied here (RFC 3339).
    pub applied_at: String,
    /// The same, Unix seconds.
    pub applied_unix: i64,
    /// The level this party marks it with.
    pub level: String,
}

/// A warning update owed to a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningOwed {
    /// The partner.
    pub party: String,
    /// The flight.
    pub flight: String,
    /// The update's place in it.
    pub seq: u32,
    /// The signed update.
    pub bytes: Vec<u8>,
    /// When it was queued (RFC 3339).
    pub queued_at: String,
}

/// Everything one state change writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Items the batch acts on, which must still be held when it commits
    /// (stored and not disposed of): one that is not fails the whole batch
    /// with [`StoreError::Gone`], so nothing is released, copied or
    /// returned from an item destroyed or returned meanwhile.
    pub held: Vec<String>,
    /// People to register (an id or token already registered fails the whole batch with [`StoreError::Exists`]).
    pub people: Vec<Person>,
    /// Items to store.
    pub items: Vec<Item>,
    /// Transfers accepted (a replayed id fails the whole batch with [`StoreError::Duplicate`]).
    pub incoming: Vec<Incoming>,
    /// Transfers to queue.
    pub outgoing: Vec<Outgoing>,
    /// Messages to keep (a (kind, id) already kept fails the whole batch with [`StoreError::Duplicate`]).
    pub messages: Vec<Message>,
    /// Transfers acknowledged by their recipients: (transfer, instant, the
    /// receipt's checkpoint).
    pub delivered: Vec<(String, String, String)>,
    /// Transfers their recipients refused for good: (transfer, instant, reason); never retried.
    pub failed: Vec<(String, String, String)>,
    /// People whose rows are replaced whole (by id; a person not registered
    /// fails the batch with [`StoreError::Missing`]): a revocation, a new token.
    pub person_updates: Vec<Person>,
    /// Custody tags for rows kept before tags: set only where a row has none.
    pub backfill: Vec<(Tagged, String, Vec<u8>)>,
    /// Indexes for items kept before them: (id, binding, index), set only
    /// where an item has no binding yet.
    pub reindex: Vec<(String, Vec<u8>, ItemIndex)>,
    /// First answers to keep under their idempotency keys (a key already
    /// kept fails the whole batch with [`StoreError::Duplicate`]).
    pub idempotent: Vec<Idempotent>,
    /// Warning updates applied (one already kept is left as it is, unless
    /// [`Batch::warnings_new`]).
    pub warnings: Vec<WarningRow>,
    /// The updates in [`Batch::warnings`] must be new: one whose flight and
    /// number are kept already (published by another process of the node
    /// meanwhile) fails the whole batch with [`StoreError::Duplicate`].
    pub warnings_new: bool,
    /// Warning updates owed to partners: (party, flight, seq, queued at).
    pub warnings_owed: Vec<(String, String, u32, String)>,
    /// Warning updates partners took: (party, flight, seq, when).
    pub warnings_taken: Vec<(String, String, u32, String)>,
    /// Held items sealed anew under a changed label (a reclassification):
    /// their sealed bytes, labels, binding, tag, lineage and level index
    /// replaced by id; one no longer held fails the whole batch with
    /// [`StoreError::Gone`].
    pub relabelled: Vec<Item>,
    /// Items leaving custody (sealed bytes erased; one already disposed of
    /// fails the whole batch with [`StoreError::Gone`]).
    pub disposals: Vec<Disposed>,
    /// Returns to originators to follow (a second open return of one item
    /// fails the whole batch with [`StoreError::Exists`]).
    pub returns: Vec<Return>,
    /// Returns closed: (transfer, when).
    pub returns_closed: Vec<(String, String)>,
    /// Facility records to append (a (facility, seq) already kept fails the
    /// whole batch with [`StoreError::Duplicate`]).
    pub facility_records: Vec<FacilityRecord>,
    /// Incident messages to keep (one already kept fails the batch with
    /// [`StoreError::Duplicate`]).
    pub incidents: Vec<IncidentRow>,
    /// Incident messages acknowledged: (incident, seq, when, the signed acknowledgement).
    pub incidents_acked: Vec<(String, u32, String, Vec<u8>)>,
    /// Incident messages the originator refused by decision: (incident, seq, when, why).
    pub incidents_refused: Vec<(String, u32, String, String)>,
    /// Ledger entries recording all of the above (and decisions, reads, refusals).
    pub entries: Vec<Entry>,
}

/// The outbox for one recipient, undelivered and unrefused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    /// The recipient party.
    pub recipient: String,
    /// How many wait.
    pub depth: u64,
    /// When the oldest of them was queued (Unix seconds).
    pub oldest_queued_at: i64,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Index of the first ledger record written (the size before).
    pub first_index: u64,
    /// Ledger size after.
    pub size: u64,
}

/// What every [`Store`] method returns: a boxed future, so the node can hold
/// any adapter as `Arc<dyn Store>` (a second backend plugs in without the
/// node's modules changing). The box costs an allocation per call, next to
/// a database round trip.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The node's storage.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The person holding a token (by its hash).
    fn person_by_token<'a>(&'a self, token_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Person>>;
    /// Every person, by id.
    fn people(&self) -> StoreFuture<'_, Vec<Person>>;
    /// Writes a batch and its ledger records atomically and durably. Ledger
    /// indices and links are assigned inside the transaction (one sequencer).
    fn commit(&self, batch: Batch) -> StoreFuture<'_, Committed>;
    /// A transfer already accepted, if it was.
    fn incoming<'a>(&'a self, transfer: &'a str) -> StoreFuture<'a, Option<Incoming>>;
    /// The transfers among `transfers` already accepted (one query).
    fn incoming_many<'a>(&'a self, transfers: &'a [String]) -> StoreFuture<'a, Vec<Incoming>>;
    /// One item.
    fn item<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Item>>;
    /// Every kept message of a kind, oldest first.
    fn messages(&self, kind: MessageKind) -> StoreFuture<'_, Vec<Message>>;
    /// One kept message.
    fn message<'a>(&'a self, kind: MessageKind, id: &'a str) -> StoreFuture<'a, Option<Message>>;
    /// Every item id, oldest first.
    fn item_ids(&self) -> StoreFuture<'_, Vec<String>>;
    /// Number of ledger records.
    fn ledger_size(&self) -> StoreFuture<'_, u64>;
    /// The stored leaf hashes of every ledger record from index `from` on,
    /// in order (what a Merkle tree at size `from` needs to catch up).
    fn leaf_hashes(&self, from: u64) -> StoreFuture<'_, Vec<Hash>>;
    /// Ledger record bytes `[from, to)`, with their stored leaf hashes.
    fn records(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<(Hash, Vec<u8>)>>;
    /// Publishes a checkpoint by compare-and-swap on its size: the same root
    /// again is a no-op, another root is [`StoreError::Conflict`].
    fn put_checkpoint<'a>(&'a self, size: u64, root: Hash, note: &'a str) -> StoreFuture<'a, ()>;
    /// The checkpoint of the largest size.
    fn latest_checkpoint(&self) -> StoreFuture<'_, Option<(u64, String)>>;
    /// Every checkpoint, smallest size first: (size, root, note).
    fn checkpoints(&self) -> StoreFuture<'_, Vec<(u64, Hash, String)>>;
    /// Every transfer accepted from partners, in the order accepted.
    fn received(&self) -> StoreFuture<'_, Vec<Incoming>>;
    /// Every outbox row without its envelope, in the order queued.
    fn outbox_rows(&self) -> StoreFuture<'_, Vec<OutboxRow>>;
    /// Writes a row that exists only to be written (`at`, RFC 3339): whether
    /// the database takes writes now.
    fn probe_write<'a>(&'a self, at: &'a str) -> StoreFuture<'a, ()>;
    /// The last checkpoint of `party`'s ledger this node cosigned as its
    /// witness: (size, root, note).
    fn witnessed<'a>(&'a self, party: &'a str) -> StoreFuture<'a, Option<(u64, Hash, String)>>;
    /// Records a newly cosigned checkpoint of `party`'s ledger; a size below
    /// the one recorded is [`StoreError::Conflict`] (a witness never goes back).
    fn put_witnessed<'a>(
        &'a self,
        party: &'a str,
        size: u64,
        root: Hash,
        note: &'a str,
        at: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// Keeps a partner's cosignature of this node's checkpoint of `size`
    /// (the cosigned note); the same again is a no-op.
    fn add_cosignature<'a>(
        &'a self,
        size: u64,
        cosigner: &'a str,
        note: &'a str,
        at: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// Partners' cosignatures, latest size first: (size, cosigner, note, when kept).
    fn cosignatures(&self) -> StoreFuture<'_, Vec<(u64, String, String, String)>>;
    /// Undelivered, unrefused transfers due at `now` (Unix seconds), oldest first.
    fn due(&self, now: i64, limit: u32) -> StoreFuture<'_, Vec<Outgoing>>;
    /// [`Store::due`], leaving out the transfers in `except` (those already
    /// in flight) without reading their envelopes.
    fn due_except<'a>(
        &'a self,
        now: i64,
        limit: u32,
        except: &'a std::collections::HashSet<String>,
    ) -> StoreFuture<'a, Vec<Outgoing>>;
    /// The undelivered, unrefused outbox per recipient (one indexed query).
    fn outbox_stats(&self) -> StoreFuture<'_, Vec<OutboxStats>>;
    /// Records a failed attempt, why, and when to try again.
    fn retry_later<'a>(
        &'a self,
        transfer: &'a str,
        next_attempt_at: i64,
        error: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// The warning updates applied at or after `since` (Unix seconds), in
    /// the order applied.
    fn warnings_since(&self, since: i64) -> StoreFuture<'_, Vec<WarningRow>>;
    /// Every warning update still owed to a partner, in the order queued.
    fn warnings_owed(&self) -> StoreFuture<'_, Vec<WarningOwed>>;
    /// Every item's query indexes, as stored (`None` for an item without
    /// them): what an audit compares with the labels.
    fn item_indexes(&self) -> StoreFuture<'_, Vec<(String, Option<ItemIndex>)>>;
    /// A page of items, metadata only, in the order stored.
    fn items_page<'a>(&'a self, q: &'a ItemQuery) -> StoreFuture<'a, Vec<ItemRow>>;
    /// A page of transfers and messages queued for partners, in the order queued.
    fn transfers_page<'a>(&'a self, q: &'a TransferQuery) -> StoreFuture<'a, Vec<TransferRow>>;
    /// One queued transfer or message.
    fn transfer<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TransferRow>>;
    /// Every row of one originator's item here, held or disposed of (the
    /// item, its copies, the item received by more than one route), in
    /// the order stored.
    fn items_of_origin<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<Item>>;
    /// The documents made here from others (translations and derived
    /// documents: items with a lineage that are their own origin), still
    /// held, whole.
    fn documents_made(&self) -> StoreFuture<'_, Vec<Item>>;
    /// The distribution record of one originator's item: every party a row
    /// of it was released to here (queued or delivered, not refused).
    fn distribution<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<String>>;
    /// Every contractor facility's records, by facility then place.
    fn facility_records(&self) -> StoreFuture<'_, Vec<FacilityRecord>>;
    /// The items made from `source` here (copies, translations, derived
    /// documents whose first source it is), in the order made; metadata only.
    fn made_from<'a>(&'a self, source: &'a str) -> StoreFuture<'a, Vec<ItemRow>>;
    /// Ledger records about any of `subjects` after index `after`, in
    /// order, at most `limit`: (index, stored leaf hash, record bytes).
    fn history<'a>(
        &'a self,
        subjects: &'a [String],
        after: Option<u64>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(u64, Hash, Vec<u8>)>>;
    /// Open returns whose transfer has been delivered or refused.
    fn returns_answered(&self) -> StoreFuture<'_, Vec<ReturnAnswered>>;
    /// Open returns (waiting for their transfer's answer), in the order asked.
    fn returns_open(&self) -> StoreFuture<'_, Vec<Return>>;
    /// A page of incident reports (their first message), in the order stored.
    fn incidents_page(&self, after: Option<i64>, limit: u32) -> StoreFuture<'_, Vec<IncidentRow>>;
    /// Every message of one incident, by place.
    fn incident_messages<'a>(&'a self, incident: &'a str) -> StoreFuture<'a, Vec<IncidentRow>>;
    /// The messages this node sent that wait for acknowledgement, in order.
    fn incidents_unacked(&self) -> StoreFuture<'_, Vec<IncidentRow>>;
    /// Copies every committed change from the write-ahead log into the
    /// database and empties the log, so erased bytes survive nowhere in
    /// the files (after a disposal); `false` when readers kept it from
    /// completing (the next full checkpoint finishes it).
    fn scrub(&self) -> StoreFuture<'_, bool>;
    /// The first answer kept under `person`'s idempotency `key`.
    fn idempotent<'a>(
        &'a self,
        person: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Idempotent>>;
    /// What moves whenever a message (an agreement event, a consent, a
    /// notice, a visit) or a facility record is kept, by any process: the
    /// last message's position and the number of facility records. A
    /// process whose in-memory registers were built from them reloads when
    /// it moves.
    fn registers_version(&self) -> StoreFuture<'_, (i64, i64)>;
    /// Warning updates kept after position `after`, in the order they were
    /// committed (by any process), at most `limit`: each with its position.
    fn warnings_after(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<(i64, WarningRow)>>;
    /// The position of the last warning update kept (0: none).
    fn last_warning_position(&self) -> StoreFuture<'_, i64>;
    /// Whether this process holds the lease on `role` (work one process
    /// does at a time), taking it if it is free or has lapsed and renewing
    /// it for `secs` if it is this process's. On a store of one process,
    /// always.
    fn lead<'a>(&'a self, role: &'a str, secs: i64) -> StoreFuture<'a, bool> {
        let _ = (role, secs);
        Box::pin(async { Ok(true) })
    }
    /// Keeps a new console session, first forgetting those that ended at or
    /// before `now` (Unix seconds). An id already kept is
    /// [`StoreError::Exists`].
    fn session_begin<'a>(&'a self, s: &'a ConsoleSession, now: i64) -> StoreFuture<'a, ()>;
    /// The console session whose id hashes to `id_hash`, if it is kept.
    fn session<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<ConsoleSession>>;
    /// Forgets a console session (signed out, expired or refused): whether
    /// it was kept.
    fn session_end<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, bool>;
    /// Whether other processes may write this store too (PostgreSQL), so a
    /// process must reload what it holds in memory when the store moves.
    fn shared(&self) -> bool {
        false
    }
}
