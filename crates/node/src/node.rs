//! The node's shared state: who it is, its profiles with the events
//! recorded so far, its clock, store, keys, partners and lanes. Capabilities
//! (items, agreements, consents, warnings, witnessing) are functions over a
//! `&Node`; nothing here knows them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gsomia_core::{PartyRef, Registry};
use gsomia_ledger::entry::{Entry, EntryError, Kind};
use gsomia_ledger::note::Signer;
use gsomia_seal::custody::CustodyKey;
use gsomia_seal::item::RecipientSecret;
use gsomia_store::{Batch, Store, StoreError};
use jiff::Timestamp;
use tokio::sync::Notify;

use crate::checkpoints::{CheckpointError, Checkpoints};
use crate::clock::Clock;
use crate::custody::{Alarms, Breach};
use crate::feed::Feed;
use crate::lanes::Lanes;
use crate::metrics::Metrics;
use crate::partner::Partner;
use crate::sealing::Sealing;

/// How long a request to a partner may take (item traffic).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a warning update to a partner may take before it is sent again.
pub const WARNING_TIMEOUT: Duration = Duration::from_secs(5);
/// How often entries queued with [`Node::ledger_soon`] are committed.
pub const SOON_EVERY: Duration = Duration::from_millis(100);
/// The longest id a ledger entry records as given; a longer one is recorded
/// by its hash and length (a caller cannot grow the ledger with it).
pub const MAX_ENTRY_ID: usize = 128;
/// The longest field value a ledger entry records as given (reasons, names).
pub const MAX_ENTRY_FIELD: usize = 2048;

/// `s` as a ledger entry records it: as given up to `max` bytes; beyond,
/// its first characters, its SHA-256 and its length, so what any caller
/// sends adds at most a fixed amount to the ledger and is still identifiable.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    shortened(s)
}

/// [`bounded`], taking the string (no copy when it is within the bound).
fn bounded_owned(s: String, max: usize) -> String {
    if s.len() <= max { s } else { shortened(&s) }
}

fn shortened(s: &str) -> String {
    let mut end = 32.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    use sha2::Digest as _;
    format!(
        "{}… (sha256 {}, {} bytes)",
        s.get(..end).unwrap_or_default(),
        crate::ids::hex(&sha2::Sha256::digest(s.as_bytes())),
        s.len()
    )
}

/// Requests refused for want of valid credentials since the last summary.
#[derive(Debug, Default)]
pub struct AuthRefusals {
    /// No token given.
    pub missing: AtomicU64,
    /// A token nobody holds.
    pub unknown: AtomicU64,
    /// The token of a revoked person.
    pub revoked: AtomicU64,
}

impl AuthRefusals {
    /// Takes the counts (missing, unknown, revoked), leaving zeros.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.missing.swap(0, Ordering::Relaxed),
            self.unknown.swap(0, Ordering::Relaxed),
            self.revoked.swap(0, Ordering::Relaxed),
        )
    }
}

/// What a node is made of.
pub struct Parts {
    /// The party served.
    pub party: String,
    /// Profiles, with the agreement events recorded at the nodes replayed on top.
    pub registry: Registry,
    /// State.
    pub store: Arc<dyn Store>,
    /// The party's checkpoint and binding key.
    pub signer: Signer,
    /// The party's decryption key.
    pub recipient: RecipientSecret,
    /// Partners.
    pub partners: Vec<Partner>,
    /// The mutual-TLS client configuration for each partner (the node
    /// builds two clients from each: one for items, one for warnings).
    pub peer_tls: BTreeMap<String, rustls::ClientConfig>,
    /// The clock.
    pub clock: Arc<Clock>,
    /// The ledger tree as the start-up check built it (`None`: rebuilt
    /// from the store).
    pub tree: Option<gsomia_ledger::merkle::Tree>,
}

/// Why a node could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The party is not in the profiles.
    #[error("party `{0}` is not in the profiles")]
    Party(String, #[source] gsomia_core::LookupError),
    /// The ledger tree could not be rebuilt.
    #[error("cannot rebuild the ledger tree")]
    Checkpoints(#[from] CheckpointError),
    /// The warning lane did not start.
    #[error(transparent)]
    Lanes(#[from] crate::lanes::LaneError),
    /// A partner's client could not be built.
    #[error("cannot build the client for {0}")]
    Client(String, #[source] reqwest::Error),
    /// The store could not be read.
    #[error("cannot read the store")]
    Store(#[from] StoreError),
}

/// Why a ledger entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The entry's fields do not fit its kind (a bug, not an input error).
    #[error("ledger entry: {0}")]
    Entry(#[from] EntryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Classified for LedgerError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Internal
    }
}

/// The partners a node has now, with one mutual-TLS client each for item
/// traffic and one for warnings (connections of its own, warning lane).
#[derive(Debug, Default)]
pub struct Roster {
    /// The partners.
    pub partners: Vec<Arc<Partner>>,
    /// Item-traffic clients, by party.
    pub peer_clients: BTreeMap<String, reqwest::Client>,
    /// Warning clients, by party.
    pub warning_clients: BTreeMap<String, reqwest::Client>,
}

impl Roster {
    /// The roster of `partners`, with clients built from `peer_tls`.
    pub fn build(
        partners: Vec<Partner>,
        peer_tls: BTreeMap<String, rustls::ClientConfig>,
    ) -> Result<Roster, AssembleError> {
        let mut peer_clients = BTreeMap::new();
        let mut warning_clients = BTreeMap::new();
        for (party, tls) in peer_tls {
            let client = |tls: rustls::ClientConfig, timeout: Duration| {
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .timeout(timeout)
                    .build()
                    .map_err(|e| AssembleError::Client(party.clone(), e))
            };
            peer_clients.insert(party.clone(), client(tls.clone(), PEER_TIMEOUT)?);
            warning_clients.insert(party.clone(), client(tls, WARNING_TIMEOUT)?);
        }
        Ok(Roster {
            partners: partners.into_iter().map(Arc::new).collect(),
            peer_clients,
            warning_clients,
        })
    }
}

/// Everything a running node holds.
pub struct Node {
    party: String,
    me: PartyRef,
    /// Profiles with the agreement events recorded so far; replaced as a
    /// whole when an event is recorded (readers keep the one they took).
    registry: RwLock<Arc<Registry>>,
    /// Serialises recording agreement events (decide, store, swap).
    agreements_lock: tokio::sync::Mutex<()>,
    clock: Arc<Clock>,
    store: Arc<dyn Store>,
    signer: Arc<Signer>,
    sealing: Sealing,
    checkpoints: Arc<Checkpoints>,
    /// The partners and their clients, replaced whole when the partner
    /// files change (readers keep the roster they took).
    roster: RwLock<Arc<Roster>>,
    /// The partner certificates the peer endpoint accepts (shared with its
    /// TLS verifier, so a change applies to the next handshake).
    pinned: crate::tls::PinnedSet,
    lanes: Lanes,
    /// Wakes the delivery worker when something is queued.
    outbox: Notify,
    feed: Feed,
    metrics: Metrics,
    /// The key of the custody tags on the node's rows.
    custody: CustodyKey,
    /// Integrity alarms raised by this process.
    alarms: Alarms,
    /// Entries committed by the next flush (refusals decided where nothing
    /// can wait for a commit): at most [`SOON_EVERY`] later.
    soon: Mutex<Vec<Entry>>,
    /// Unauthenticated requests since they were last summarised.
    auth_refusals: AuthRefusals,
    /// Returns to originators waiting for their answer (the delivery
    /// worker settles them when this is not zero).
    returns_open: std::sync::atomic::AtomicUsize,
    /// Loss and compromise reports: the live feed and the sender's wake-up.
    incidents: crate::alerts::Incidents,
    /// The latest reclassification notice kept for each originator's item.
    notices: crate::registers::Notices,
    /// Contractor facilities, as their checked files stand.
    facilities: crate::registers::Facilities,
    /// Visits requested or hosted, as their verified messages stand.
    visits: crate::registers::Visits,
    /// The store's registers version the in-memory registers were last
    /// reloaded at (a store shared with other processes).
    registers_seen: tokio::sync::Mutex<Option<(i64, i64)>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Assembles a node from its parts: the ledger tree from the store, the
    /// warning lane beside the runtime this is called on (the item lane),
    /// the partners' clients. The registry is taken as given.
    pub async fn assemble(parts: Parts) -> Result<Arc<Node>, AssembleError> {
        let me = parts
            .registry
            .party(&parts.party)
            .map_err(|e| AssembleError::Party(parts.party.clone(), e))?;
        let custody = CustodyKey::derive(&parts.signer.key);
        let signer = Arc::new(parts.signer);
        let checkpoints =
            Arc::new(Checkpoints::load(parts.store.clone(), signer.clone(), parts.tree).await?);
        let mut feed = Feed::new(parts.partners.iter().map(|p| p.party.as_str()));
        if parts.store.shared() {
            // Other processes' warning updates are followed from here:
            // taken before this process restores or learns any flight, so
            // none committed meanwhile is skipped (one seen twice is a
            // duplicate).
            *feed.followed.get_mut() = Some(parts.store.last_warning_position().await?);
        }
        let lanes = Lanes::start(&parts.party)?;
        let pinned = crate::tls::PinnedSet::new(
            parts
                .partners
                .iter()
                .map(|p| p.certificate.clone())
                .collect(),
        );
        let roster = Roster::build(parts.partners, parts.peer_tls)?;
        Ok(Arc::new(Node {
            custody,
            alarms: Alarms::default(),
            soon: Mutex::default(),
            auth_refusals: AuthRefusals::default(),
            returns_open: std::sync::atomic::AtomicUsize::new(0),
            incidents: crate::alerts::Incidents::default(),
            notices: crate::registers::Notices::default(),
            facilities: crate::registers::Facilities::default(),
            visits: crate::registers::Visits::default(),
            registers_seen: tokio::sync::Mutex::new(None),
            me,
            sealing: Sealing::new(&parts.party, signer.clone(), parts.recipient),
            party: parts.party,
            registry: RwLock::new(Arc::new(parts.registry)),
            agreements_lock: tokio::sync::Mutex::new(()),
            clock: parts.clock,
            store: parts.store,
            signer,
            checkpoints,
            roster: RwLock::new(Arc::new(roster)),
            pinned,
            lanes,
            outbox: Notify::new(),
            feed,
            metrics: Metrics::new(),
        }))
    }

    /// The party served.
    pub fn party(&self) -> &str {
        &self.party
    }

    /// The same, as a registry reference.
    pub fn me(&self) -> PartyRef {
        self.me
    }

    /// The profiles and recorded events as they stand now.
    pub fn registry(&self) -> Arc<Registry> {
        match self.registry.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the registry (after an agreement event is recorded).
    pub(crate) fn set_registry(&self, r: Registry) {
        let mut g = match self.registry.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(r);
    }

    /// The store's registers version this process's registers were last
    /// rebuilt at ([`crate::reload`]).
    pub(crate) fn registers_seen(&self) -> &tokio::sync::Mutex<Option<(i64, i64)>> {
        &self.registers_seen
    }

    /// Serialises recording agreement events.
    pub(crate) fn agreements_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.agreements_lock
    }

    /// The current instant on the node's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The node's clock.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// The node's store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The party's signing key.
    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Sealing and opening with the party's keys.
    pub(crate) fn sealing(&self) -> &Sealing {
        &self.sealing
    }

    /// This node's own checkpoints.
    pub fn checkpoints(&self) -> &Arc<Checkpoints> {
        &self.checkpoints
    }

    /// The partners and their clients as they stand now.
    pub fn roster(&self) -> Arc<Roster> {
        match self.roster.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the partners and their clients (the partner files changed),
    /// and the certificates the peer endpoint accepts with them.
    pub(crate) fn set_roster(&self, roster: Roster) {
        self.pinned.set(
            roster
                .partners
                .iter()
                .map(|p| p.certificate.clone())
                .collect(),
        );
        let mut g = match self.roster.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(roster);
    }

    /// The certificates the peer endpoint accepts.
    pub(crate) fn pinned(&self) -> &crate::tls::PinnedSet {
        &self.pinned
    }

    /// Every partner.
    pub fn partners(&self) -> Vec<Arc<Partner>> {
        self.roster().partners.clone()
    }

    /// A partner by party code.
    pub fn partner(&self, party: &str) -> Option<Arc<Partner>> {
        self.roster()
            .partners
            .iter()
            .find(|p| p.party == party)
            .cloned()
    }

    /// The item-traffic client to a partner.
    pub(crate) fn peer_client(&self, party: &str) -> Option<reqwest::Client> {
        self.roster().peer_clients.get(party).cloned()
    }

    /// The warning client to a partner.
    pub(crate) fn warning_client(&self, party: &str) -> Option<reqwest::Client> {
        self.roster().warning_clients.get(party).cloned()
    }

    /// The node's lanes.
    pub fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    /// The warning feed's state.
    pub(crate) fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Wakes the delivery worker (something was queued).
    pub(crate) fn wake_outbox(&self) {
        self.outbox.notify_one();
    }

    /// Waits until something is queued.
    pub(crate) async fn outbox_queued(&self) {
        self.outbox.notified().await;
    }

    /// The key of the custody tags on the node's rows.
    pub(crate) fn custody(&self) -> &CustodyKey {
        &self.custody
    }

    /// The integrity alarms raised since start.
    pub fn alarms(&self) -> &Alarms {
        &self.alarms
    }

    /// Unauthenticated requests since the last summary.
    pub(crate) fn auth_refusals(&self) -> &AuthRefusals {
        &self.auth_refusals
    }

    /// Raises an integrity alarm: logged, counted, shown in `/healthz`, and
    /// ledgered (once per row and check in this process; the ledger entry
    /// is written before this returns, or its failure logged).
    pub(crate) async fn alarm(&self, b: &Breach) {
        tracing::error!(subject = %b.subject, check = %b.check, detail = %b.detail, "integrity alarm");
        self.metrics.integrity_alarm(b.check.as_str());
        if !self.alarms.raise(&self.now().to_string(), b) {
            return;
        }
        let recorded = self
            .record(
                Kind::IntegrityAlarm,
                None,
                vec![
                    ("subject", b.subject.clone()),
                    ("check", b.check.as_str().to_owned()),
                    ("detail", b.detail.clone()),
                ],
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot ledger an integrity alarm");
        }
    }

    /// Queues an entry for the next flush (see [`Node::flush_soon`]).
    pub(crate) fn ledger_soon(&self, e: Entry) {
        crate::locked(&self.soon).push(e);
    }

    /// Commits the queued entries now.
    pub(crate) async fn flush_soon(&self) {
        let batch = std::mem::take(&mut *crate::locked(&self.soon));
        if !batch.is_empty()
            && let Err(e) = self.ledger(batch).await
        {
            tracing::error!(error = %e, "cannot ledger queued refusals");
        }
    }

    /// This party's civil time zone (for instants shown to its people).
    pub(crate) fn zone(&self) -> jiff::tz::TimeZone {
        self.registry()
            .policy(self.me())
            .map_or(jiff::tz::TimeZone::UTC, |p| p.zone().clone())
    }

    /// The incident feed and its sender's wake-up.
    pub(crate) fn incidents(&self) -> &crate::alerts::Incidents {
        &self.incidents
    }

    /// How many returns wait for their answer.
    /// The visits.
    pub(crate) fn visits(&self) -> &crate::registers::Visits {
        &self.visits
    }

    /// The contractor facilities.
    pub(crate) fn facilities(&self) -> &crate::registers::Facilities {
        &self.facilities
    }

    /// The key `party` signs with: this party's own, or a partner's.
    pub(crate) fn key_of(&self, party: &str) -> Option<gsomia_seal::PublicKey> {
        if party == self.party {
            Some(self.signer.key.public())
        } else {
            self.partner(party).map(|p| *p.key())
        }
    }

    /// The reclassification notices kept here.
    pub(crate) fn notices(&self) -> &crate::registers::Notices {
        &self.notices
    }

    pub(crate) fn returns_open(&self) -> &std::sync::atomic::AtomicUsize {
        &self.returns_open
    }

    /// A ledger entry by this party, now. The item id and every field are
    /// recorded [`bounded`], whoever supplied them.
    pub(crate) fn entry(
        &self,
        kind: Kind,
        item: Option<&str>,
        fields: Vec<(&str, String)>,
    ) -> Result<Entry, EntryError> {
        let (s, n) = gsomia_core::time::to_wire(self.now());
        Entry::new(
            kind,
            s,
            n,
            self.party.clone(),
            item.map(|i| bounded(i, MAX_ENTRY_ID)),
            fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), bounded_owned(v, MAX_ENTRY_FIELD)))
                .collect(),
        )
    }

    /// Commits ledger entries alone (decisions, reads, refusals).
    pub(crate) async fn ledger(&self, entries: Vec<Entry>) -> Result<(), StoreError> {
        self.store
            .commit(Batch {
                entries,
                ..Batch::default()
            })
            .await
            .map(|_| ())
    }

    /// The last `n` ledger records, oldest first (for a narrator or a test
    /// that wants to show what was just recorded).
    pub async fn ledger_tail(
        &self,
        n: u64,
    ) -> Result<Vec<gsomia_ledger::entry::Record>, LedgerError> {
        let size = self.store.ledger_size().await?;
        self.store
            .records(size.saturating_sub(n), size)
            .await?
            .iter()
            .map(|(_, bytes)| {
                gsomia_ledger::entry::Record::from_bytes(bytes)
                    .map_err(|e| LedgerError::Store(StoreError::Corrupt(e.to_string())))
            })
            .collect()
    }

    /// Builds one entry and commits it alone.
    pub(crate) async fn record(
        &self,
        kind: Kind,
        item: Option<&str>,
        fields: Vec<(&str, String)>,
    ) -> Result<(), LedgerError> {
        let e = self.entry(kind, item, fields)?;
        Ok(self.ledger(vec![e]).await?)
    }
}
