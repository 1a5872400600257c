//! # gsomia-node — the service
//!
//! One process per party (`gsomia serve`): the HTTPS API for the party's
//! own users (bearer tokens from the register; items, agreements, consents,
//! warnings; `/healthz` and `/openapi.json`) and the peer endpoint for
//! partners (mutual TLS, durable outbox, signed receipts, warning updates),
//! on two lanes so warnings never wait behind item traffic ([`lanes`]).
//!
//! The only crate that knows HTTP and JSON. Servers take a bound listener
//! and a shutdown future, so tests bind port 0 and never sleep.

pub mod agreements;
pub mod api;
pub mod labels;
pub mod lanes;
pub mod partner;
pub mod peer;
pub mod testkit;
pub mod tls;
pub mod warnings;
pub mod witness;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gsomia_core::{PartyRef, Registry};
use gsomia_ledger::note::Signer;
use gsomia_seal::item::RecipientSecret;
use gsomia_store::SqliteStore;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// The node's clock: the system's, or a simulated one (the demo) that runs
/// on from an instant it is set to.
#[derive(Debug)]
pub enum Clock {
    /// The operating system's clock.
    System,
    /// A clock set to an instant, advancing with real elapsed time.
    Simulated(std::sync::Mutex<(jiff::Timestamp, std::time::Instant)>),
}

impl Clock {
    /// A simulated clock reading `at` now.
    pub fn simulated(at: jiff::Timestamp) -> Clock {
        Clock::Simulated(std::sync::Mutex::new((at, std::time::Instant::now())))
    }

    /// The current instant.
    pub fn now(&self) -> jiff::Timestamp {
        match self {
            Clock::System => jiff::Timestamp::now(),
            Clock::Simulated(m) => {
                let (at, since) = match m.lock() {
                    Ok(g) => *g,
                    Err(p) => *p.into_inner(),
                };
                let elapsed = jiff::SignedDuration::try_from(since.elapsed()).unwrap_or_default();
                at.checked_add(elapsed).unwrap_or(at)
            }
        }
    }

    /// Moves a simulated clock to `at` (never backwards); the system clock
    /// cannot be set.
    pub fn set(&self, at: jiff::Timestamp) -> Result<(), String> {
        match self {
            Clock::System => Err("the system clock cannot be set".into()),
            Clock::Simulated(m) => {
                let now = self.now();
                if at < now {
                    return Err(format!(
                        "the clock reads {now}; it does not go back to {at}"
                    ));
                }
                let mut g = match m.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                *g = (at, std::time::Instant::now());
                Ok(())
            }
        }
    }
}

/// What a node is made of; [`Node::start`] assembles it.
pub struct Parts {
    /// The party served.
    pub party: String,
    /// Profiles as shipped or configured (agreement events entered at the
    /// nodes are replayed on top from the store).
    pub registry: Registry,
    /// State.
    pub store: SqliteStore,
    /// The party's checkpoint and binding key.
    pub signer: Signer,
    /// The party's decryption key.
    pub recipient: RecipientSecret,
    /// Partners.
    pub partners: Vec<partner::Partner>,
    /// The mutual-TLS client configuration for each partner (the node
    /// builds two clients from each: one for items, one for warnings).
    pub peer_tls: std::collections::BTreeMap<String, rustls::ClientConfig>,
    /// The clock.
    pub clock: Arc<Clock>,
}

/// Everything a running node holds.
pub struct Node {
    /// Partners (pinned identities and endpoints).
    pub partners: Vec<partner::Partner>,
    /// One mutual-TLS client per partner for item traffic (its
    /// connections live on the item lane).
    pub peer_clients: std::collections::BTreeMap<String, reqwest::Client>,
    /// One mutual-TLS client per partner for warnings, with connections
    /// of its own (on the warning lane).
    pub warning_clients: std::collections::BTreeMap<String, reqwest::Client>,
    /// The warning lane and the item lane (see [`lanes`]).
    pub lanes: lanes::Lanes,
    /// The ledger tree as last checkpointed, compact: below subtrees of
    /// 2^[`TREE_BLOCK_BITS`] leaves it holds only the last block's hashes
    /// (the store has every leaf), so memory does not grow with the ledger.
    pub tree: tokio::sync::Mutex<gsomia_ledger::merkle::Tree>,
    /// Wakes the checkpoint keeper when a receipt signed a checkpoint that
    /// is not stored yet.
    pub checkpoint_due: tokio::sync::Notify,
    /// Wakes the delivery worker when a transfer is queued.
    pub outbox: tokio::sync::Notify,
    /// The party served.
    pub party: String,
    /// The same, as a registry reference.
    pub me: PartyRef,
    /// Profiles with the agreement events recorded so far; replaced as a
    /// whole when an event is recorded (readers keep the one they took).
    registry: std::sync::RwLock<Arc<Registry>>,
    /// Serialises recording agreement events (decide, store, swap).
    pub agreements_lock: tokio::sync::Mutex<()>,
    /// The clock every decision reads.
    pub clock: Arc<Clock>,
    /// State.
    pub store: SqliteStore,
    /// The party's checkpoint and binding key.
    pub signer: Signer,
    /// The party's decryption key.
    pub recipient: RecipientSecret,
    /// Sealing sessions by recipient party (this party's own included):
    /// the session, items sealed in it, when it began.
    sessions: std::sync::Mutex<std::collections::BTreeMap<String, SealingSession>>,
    /// Missile warnings: flights, local subscribers, partner queues.
    pub warnings: warnings::Warnings,
    /// Secrets of sessions opened here, by SHA-256 of their encapsulated key.
    opened: std::sync::Mutex<std::collections::HashMap<[u8; 32], [u8; 32]>>,
    /// Item bindings verified here (not verified twice).
    bindings: BindingMemo,
    /// Ids of the sealing sessions this process began to this party's own
    /// key (items at rest): their items' bindings need no signature check.
    own_sessions: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// Item bindings this process has verified, by
/// [`gsomia_seal::item::binding_id`]: the same signed bytes with the same
/// signature verify the same way every time, so [`Node::open`] does not
/// check them twice (a second read of a received item, its onward release).
/// Items this process sealed to its own key need no entry: their sessions
/// are vouched for. Bounded: forgotten all at once beyond its capacity, which costs
/// only a verification again.
#[derive(Debug)]
pub struct BindingMemo {
    ids: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    capacity: usize,
}

impl BindingMemo {
    /// An empty memo holding at most `capacity` ids.
    pub fn new(capacity: usize) -> BindingMemo {
        BindingMemo {
            ids: std::sync::Mutex::default(),
            capacity,
        }
    }

    /// Whether `id` was verified here.
    pub fn holds(&self, id: &[u8; 32]) -> bool {
        locked(&self.ids).contains(id)
    }

    /// Remembers a binding verified here.
    pub fn remember(&self, id: [u8; 32]) {
        let mut ids = locked(&self.ids);
        if ids.len() >= self.capacity {
            ids.clear();
        }
        ids.insert(id);
    }
}

/// A sealing session in use: the session, items sealed in it, when it began.
type SealingSession = (Arc<gsomia_seal::item::Session>, u64, jiff::Timestamp);

/// Items sealed in one session before a new one begins.
pub const SESSION_ITEMS: u64 = 10_000;
/// How long a sealing session lasts at most.
pub const SESSION_AGE: Duration = Duration::from_secs(3600);
/// Session secrets kept for opening (the oldest are forgotten beyond this).
const OPENED_KEPT: usize = 1024;
/// Item bindings remembered as verified (32 bytes each).
const BINDINGS_KEPT: usize = 65_536;
/// Own sealing sessions remembered (32 bytes each; up to [`SESSION_ITEMS`]
/// items each), beyond which they are forgotten at once.
const OWN_SESSIONS_KEPT: usize = 4096;

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Node {
    /// Seals `content` for `party` (whose encryption key is `key`) in the
    /// current session to it: one KEM encapsulation per session, not per
    /// item. A session ends after [`SESSION_ITEMS`] items or [`SESSION_AGE`].
    pub fn seal_for(
        &self,
        party: &str,
        key: &gsomia_seal::item::RecipientPublic,
        label: &gsomia_seal::item::WireLabel,
        content: &[u8],
    ) -> Result<Vec<u8>, String> {
        let now = self.now();
        let session = {
            let mut sessions = locked(&self.sessions);
            let fresh = |s: &SealingSession| {
                s.1 < SESSION_ITEMS
                    && now.duration_since(s.2).as_secs() < SESSION_AGE.as_secs() as i64
                    && now >= s.2
            };
            match sessions.get_mut(party) {
                Some(s) if fresh(s) => {
                    s.1 += 1;
                    s.0.clone()
                }
                _ => {
                    let s = Arc::new(
                        gsomia_seal::item::Session::new(key, entropy()?)
                            .map_err(|e| e.to_string())?,
                    );
                    if key.fingerprint() == self.recipient.fingerprint() {
                        let mut own = locked(&self.own_sessions);
                        if own.len() >= OWN_SESSIONS_KEPT {
                            own.clear();
                        }
                        own.insert(s.id());
                    }
                    sessions.insert(party.to_owned(), (s.clone(), 1, now));
                    s
                }
            }
        };
        let sealed = session
            .seal(
                label,
                content,
                &self.party,
                &self.signer.key,
                party,
                entropy()?,
            )
            .map_err(|e| e.to_string())?;
        // Opening it again (a release of what was submitted) needs no second
        // check of our own signature: its session is one this process began
        // to its own key. An item sealed for a partner never opens here, so
        // its binding is not remembered either.
        Ok(sealed)
    }

    /// Opens an item sealed to this party, keeping the secret of each
    /// session it opens so the session's other items need no decapsulation.
    pub fn open(
        &self,
        bytes: &[u8],
        sender: Option<(&str, &gsomia_seal::PublicKey)>,
    ) -> Result<(gsomia_seal::item::Header, Vec<u8>), gsomia_seal::item::OpenError> {
        use sha2::Digest as _;
        let secrets = &mut |enc: &[u8]| {
            let id: [u8; 32] = sha2::Sha256::digest(enc).into();
            if let Some(s) = locked(&self.opened).get(&id) {
                return Ok(*s);
            }
            let s = gsomia_seal::item::session_secret(enc, &self.recipient)?;
            let mut opened = locked(&self.opened);
            if opened.len() >= OPENED_KEPT {
                opened.clear();
            }
            opened.insert(id, s);
            Ok(s)
        };
        // A binding verified before, or any item of a session this
        // process began to its own key (the AEAD over header and binding,
        // under a secret only this party can derive, stands for the check).
        let known = |id: &[u8; 32], session: Option<&[u8; 32]>| {
            self.bindings.holds(id)
                || session.is_some_and(|s| locked(&self.own_sessions).contains(s))
        };
        let (header, content, id) =
            gsomia_seal::item::open_known(bytes, &self.recipient, sender, secrets, &known)?;
        self.bindings.remember(id);
        Ok((header, content))
    }

    /// Assembles a node: the ledger tree from the store, and the agreement
    /// events recorded at this node or received from partners replayed on
    /// top of the profiles (events the profiles already hold are skipped).
    pub async fn start(parts: Parts) -> Result<Arc<Node>, String> {
        use gsomia_store::Store as _;
        let me = parts
            .registry
            .party(&parts.party)
            .map_err(|e| e.to_string())?;
        let mut tree = gsomia_ledger::merkle::Tree::compact(TREE_BLOCK_BITS);
        for h in parts
            .store
            .leaf_hashes(0)
            .await
            .map_err(|e| e.to_string())?
        {
            tree.push_hash(h);
        }
        let mut registry = parts.registry;
        for m in parts
            .store
            .messages(gsomia_store::MessageKind::Event)
            .await
            .map_err(|e| e.to_string())?
        {
            let ev = gsomia_seal::message::AgreementEvent::decode(&m.body)
                .map_err(|e| format!("stored agreement event `{}`: {e}", m.id))?;
            let (a, event) = agreements::core_event(&registry, &ev)
                .map_err(|e| format!("stored agreement event `{}`: {e}", m.id))?;
            if agreements::already_recorded(&registry, a, &event) {
                continue;
            }
            registry = registry
                .record_event(a, event)
                .map_err(|e| format!("stored agreement event `{}` no longer replays: {e}", m.id))?
                .0;
        }
        let warnings = warnings::Warnings::new(&parts.partners);
        let lanes = lanes::Lanes::start(&parts.party)?;
        let mut peer_clients = std::collections::BTreeMap::new();
        let mut warning_clients = std::collections::BTreeMap::new();
        for (party, tls) in parts.peer_tls {
            let client = |tls: rustls::ClientConfig, timeout: Duration| {
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .timeout(timeout)
                    .build()
                    .map_err(|e| format!("cannot build the client for {party}: {e}"))
            };
            peer_clients.insert(party.clone(), client(tls.clone(), PEER_TIMEOUT)?);
            warning_clients.insert(party.clone(), client(tls, WARNING_TIMEOUT)?);
        }
        Ok(Arc::new(Node {
            me,
            party: parts.party,
            registry: std::sync::RwLock::new(Arc::new(registry)),
            agreements_lock: tokio::sync::Mutex::new(()),
            clock: parts.clock,
            store: parts.store,
            signer: parts.signer,
            recipient: parts.recipient,
            partners: parts.partners,
            peer_clients,
            warning_clients,
            lanes,
            tree: tokio::sync::Mutex::new(tree),
            outbox: tokio::sync::Notify::new(),
            checkpoint_due: tokio::sync::Notify::new(),
            sessions: std::sync::Mutex::default(),
            opened: std::sync::Mutex::default(),
            bindings: BindingMemo::new(BINDINGS_KEPT),
            own_sessions: std::sync::Mutex::default(),
            warnings,
        }))
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

    /// The current instant on the node's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// A partner by party code.
    pub fn partner(&self, party: &str) -> Option<&partner::Partner> {
        self.partners.iter().find(|p| p.party == party)
    }

    /// A ledger entry by this party, now.
    pub fn entry(
        &self,
        kind: gsomia_ledger::entry::Kind,
        item: Option<&str>,
        fields: Vec<(&str, String)>,
    ) -> Result<gsomia_ledger::entry::Entry, String> {
        let at = self.now();
        gsomia_ledger::entry::Entry::new(
            kind,
            at.as_second(),
            u32::try_from(at.subsec_nanosecond()).unwrap_or(0),
            self.party.clone(),
            item.map(str::to_owned),
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )
        .map_err(|e| e.to_string())
    }

    /// Commits ledger entries alone (decisions, reads, refusals).
    pub async fn ledger(&self, entries: Vec<gsomia_ledger::entry::Entry>) -> Result<(), String> {
        use gsomia_store::Store as _;
        self.store
            .commit(gsomia_store::Batch {
                entries,
                ..gsomia_store::Batch::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// 32 bytes from the operating system.
pub fn entropy() -> Result<[u8; 32], String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no secure randomness: {e}"))?;
    Ok(b)
}

/// A fresh id: the prefix, then 48 bits of the instant `at` (milliseconds
/// since the epoch) and 80 random bits, in hex. Ids made one after another
/// sort one after another, so the database appends them at the end of its
/// indexes rather than rewriting a random page of them for each one; the
/// random part keeps them unique and unguessable.
pub fn new_id(prefix: &str, at: jiff::Timestamp) -> Result<String, String> {
    let b = entropy()?;
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0) & 0xffff_ffff_ffff;
    let random: String = b.iter().take(10).map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{ms:012x}{random}", prefix.to_ascii_lowercase()))
}

/// Writes a line to the node's log (standard error).
#[expect(
    clippy::print_stderr,
    reason = "the service's log is its standard error"
)]
pub fn log(line: &str) {
    eprintln!("gsomia-node: {line}");
}

/// Pinned partner certificates (DER) and the party each one proves.
type PinnedParties = Vec<(Vec<u8>, String)>;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The ledger tree in memory keeps two hashes per block of 2^10 leaves
/// (64 bytes per 1,024 entries) and the last block's own; a proof about an
/// older block reads that block's 1,024 leaf hashes from the store.
pub const TREE_BLOCK_BITS: u32 = 10;

/// How long a request to a partner may take (item traffic).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a warning update to a partner may take before it is sent again.
pub const WARNING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take, body included, before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the user API on `listener` over TLS until `shutdown` completes,
/// then stops accepting and lets requests in flight finish (up to
/// [`DRAIN_TIMEOUT`]). Connections are served on the node's warning lane;
/// handlers other than the warning routes run on its item lane ([`lanes`]).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let lane = node.lanes.warning.clone();
    on_warning_lane(lane, listener, tls, api::router(node), None, shutdown).await
}

/// Serves the peer endpoint on `listener` over mutual TLS: each connection is
/// bound to the partner whose pinned certificate it presented; user tokens
/// mean nothing here. Lanes as for [`serve`].
pub async fn serve_peers(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let partners: PinnedParties = node
        .partners
        .iter()
        .map(|p| (p.certificate.as_ref().to_vec(), p.party.clone()))
        .collect();
    let lane = node.lanes.warning.clone();
    on_warning_lane(
        lane,
        listener,
        tls,
        peer::router(node),
        Some(Arc::new(partners)),
        shutdown,
    )
    .await
}

/// Moves `listener` to the warning lane and serves there: its readiness and
/// every connection it accepts are then driven by the lane's threads.
async fn on_warning_lane(
    lane: tokio::runtime::Handle,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: axum::Router,
    partners: Option<Arc<PinnedParties>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    lane.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        run(listener, tls, app, partners, shutdown).await
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Answers 408 to a request (reading its body included) that takes longer
/// than [`REQUEST_TIMEOUT`], so a slow sender cannot hold a worker.
async fn request_deadline(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            axum::http::StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({ "error": "request timed out" })),
        )
            .into_response(),
    }
}

async fn run(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: axum::Router,
    partners: Option<Arc<PinnedParties>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns = JoinSet::new();
    // Tells open connections to finish their current request and close.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        log(&format!("accept: {e}"));
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let mut app = app.clone();
                let partners = partners.clone();
                let mut closing = closing_rx.clone();
                conns.spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                        return;
                    };
                    if let Some(partners) = partners {
                        // Mutual TLS: bind the connection to the pinned partner it proved to be.
                        let presented = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
                        let Some(party) = presented.and_then(|der| partners.iter().find(|(c, _)| *c == der).map(|(_, p)| p.clone())) else {
                            return;
                        };
                        app = app.layer(axum::Extension(peer::PeerParty(party)));
                    }
                    let app = app.layer(axum::middleware::from_fn(request_deadline));
                    let svc = TowerToHyperService::new(app);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = closing.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}
