//! # gsomia-node — the service
//!
//! One process per party (`gsomia serve`): today the HTTPS API for the
//! party's own users — bearer tokens from the register, items submitted,
//! listed, shown and read under access decisions, every read and refusal
//! ledgered before it is answered; `/healthz` and `/openapi.json`. The peer
//! endpoint (mutual TLS, durable outbox, signed receipts) is the next layer.
//!
//! The only crate that knows HTTP and JSON. Servers take a bound listener
//! and a shutdown future, so tests bind port 0 and never sleep.

pub mod api;
pub mod labels;
pub mod partner;
pub mod peer;
pub mod testkit;
pub mod tls;

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

/// Everything a running node holds.
pub struct Node {
    /// Partners (pinned identities and endpoints).
    pub partners: Vec<partner::Partner>,
    /// One mutual-TLS client per partner.
    pub peer_clients: std::collections::BTreeMap<String, reqwest::Client>,
    /// The ledger tree as last checkpointed.
    pub tree: tokio::sync::Mutex<gsomia_ledger::merkle::Tree>,
    /// Wakes the delivery worker when a transfer is queued.
    pub outbox: tokio::sync::Notify,
    /// The party served.
    pub party: String,
    /// The same, as a registry reference.
    pub me: PartyRef,
    /// Profiles.
    pub registry: Registry,
    /// State.
    pub store: SqliteStore,
    /// The party's checkpoint and binding key.
    pub signer: Signer,
    /// The party's decryption key.
    pub recipient: RecipientSecret,
}

impl Node {
    /// A ledger entry by this party, now.
    pub fn entry(
        &self,
        kind: gsomia_ledger::entry::Kind,
        item: Option<&str>,
        fields: Vec<(&str, String)>,
    ) -> Result<gsomia_ledger::entry::Entry, String> {
        let at = now();
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

/// The current instant (the service's only clock reading).
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// 32 bytes from the operating system.
pub fn entropy() -> Result<[u8; 32], String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no secure randomness: {e}"))?;
    Ok(b)
}

/// A fresh item id: the party and 128 random bits.
pub fn new_id(party: &str) -> Result<String, String> {
    let b = entropy()?;
    let hex: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{hex}", party.to_ascii_lowercase()))
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
/// How long a connection may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the user API on `listener` over TLS until `shutdown` completes,
/// then stops accepting and lets requests in flight finish (up to
/// [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run(listener, tls, api::router(node), None, shutdown).await
}

/// Serves the peer endpoint on `listener` over mutual TLS: each connection is
/// bound to the partner whose pinned certificate it presented; user tokens
/// mean nothing here.
pub async fn serve_peers(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let partners: PinnedParties = node
        .partners
        .iter()
        .map(|p| (p.certificate.as_ref().to_vec(), p.party.clone()))
        .collect();
    run(
        listener,
        tls,
        peer::router(node),
        Some(Arc::new(partners)),
        shutdown,
    )
    .await
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
