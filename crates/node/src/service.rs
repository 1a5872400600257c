//! Running a node: the one entry point that takes the node's settings, its
//! bound listeners and a shutdown signal, assembles the node and runs
//! everything it does — the user API, the peer endpoint, the delivery
//! worker, the checkpoint keeper, witnessing and the warning feed — until
//! told to stop, then stops in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gsomia_core::Registry;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::node::{AssembleError, Node, Parts};
use crate::settings::Settings;
use crate::startup::{self, StartError};

/// Why a node could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A listener could not be bound.
    #[error("cannot listen on `{addr}`")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The party of node.toml is not in the profiles.
    #[error("node.toml's party")]
    Party(#[source] gsomia_core::LookupError),
    /// The shipped profiles do not compile (a build without them).
    #[error("the shipped profiles")]
    Profiles(#[source] gsomia_core::ProfileErrors),
    /// node.toml's `shipped_history_before` is out of range.
    #[error("node.toml's `shipped_history_before`")]
    History(#[source] gsomia_core::time::TimeError),
    /// A key file.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A partner file.
    #[error(transparent)]
    Partner(#[from] crate::partner::PartnerError),
    /// The TLS configuration.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A check made before serving failed (keys, files, database, ledger).
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    /// A kept agreement event no longer replays.
    #[error(transparent)]
    Replay(#[from] crate::agreements::ReplayError),
    /// The node could not be assembled.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// A server failed.
    #[error("a server stopped with an error")]
    Server(#[source] std::io::Error),
    /// The last checkpoint could not be stored on the way out.
    #[error("cannot store the final checkpoint")]
    Checkpoint(#[source] crate::checkpoints::CheckpointError),
}

/// Listeners bound before start (so partners can be told the peer address first).
#[derive(Debug)]
pub struct Listeners {
    /// For the user API.
    pub api: TcpListener,
    /// For the peer endpoint.
    pub peer: TcpListener,
}

impl Listeners {
    /// Binds where `settings` say.
    pub async fn bind(settings: &Settings) -> Result<Listeners, ServiceError> {
        let bind = |addr: std::net::SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServiceError::Listen {
                    addr: addr.to_string(),
                    source,
                })
        };
        Ok(Listeners {
            api: bind(settings.api_listen).await?,
            peer: bind(settings.peer_listen).await?,
        })
    }
}

/// What a node starts with besides its settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Profiles; the shipped ones when `None`.
    pub registry: Option<Registry>,
    /// The clock every decision reads.
    pub clock: Arc<Clock>,
    /// How often the checkpoint keeper runs at least.
    pub checkpoint_every: Duration,
    /// How often partners are witnessed.
    pub witness_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            registry: None,
            clock: Arc::new(Clock::System),
            checkpoint_every: Duration::from_secs(1),
            witness_every: Duration::from_secs(10),
        }
    }
}

/// A node serving in this process.
#[derive(Debug)]
pub struct Running {
    /// The party.
    pub party: String,
    /// The user API's base URL.
    pub api: String,
    /// The peer endpoint's base URL.
    pub peer: String,
    node: Arc<Node>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// How often a process of a node on a shared store looks for what the
/// others recorded (decisions look too, before they decide).
const REGISTERS_EVERY: Duration = Duration::from_millis(250);

/// Keeps the registry and registers up with a store other processes
/// write, and applies the reclassification notices they kept.
async fn follow_registers(node: Arc<Node>) {
    if !node.store().shared() {
        return;
    }
    let mut last = None;
    loop {
        match node.store().registers_version().await {
            Ok(v) if last != Some(v) => {
                crate::reload::registers(&node).await;
                crate::items::reclassify::resume(&node).await;
                last = Some(v);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the registers' version"),
        }
        tokio::time::sleep(REGISTERS_EVERY).await;
    }
}

/// Assembles a node from its parts: the agreement events kept in its store
/// replayed onto the profiles, then the node itself.
pub async fn assemble(parts: Parts) -> Result<Arc<Node>, ServiceError> {
    let registry = crate::agreements::replay(parts.store.as_ref(), parts.registry).await?;
    Ok(Node::assemble(Parts { registry, ..parts }).await?)
}

/// Starts the node configured by `settings` on `listeners`: call from the
/// runtime whose threads are the node's item lane (see [`crate::item_thread`]).
pub async fn start(
    settings: &Settings,
    listeners: Listeners,
    options: Options,
) -> Result<Running, ServiceError> {
    let registry = match options.registry {
        Some(r) => r,
        None => gsomia_core::shipped().map_err(ServiceError::Profiles)?,
    };
    let registry = match settings.shipped_history_before {
        None => registry,
        Some(t) => registry.history_before(t).map_err(ServiceError::History)?,
    };
    registry
        .party(&settings.party)
        .map_err(ServiceError::Party)?;
    let (signing_party, signer) = crate::keys::signer(&settings.keys)?;
    startup::keys_are(
        &settings.party,
        &settings.keys.join(crate::keys::SIGNING),
        &signing_party,
    )?;
    let (recipient_party, recipient) = crate::keys::recipient(&settings.keys)?;
    startup::keys_are(
        &settings.party,
        &settings.keys.join(crate::keys::RECIPIENT),
        &recipient_party,
    )?;
    startup::private_files(&settings.tls_key, &settings.tls_ca)?;
    let tls = crate::tls::server_config(&settings.tls_cert, &settings.tls_key)?;
    let partners = crate::partner::load(&settings.partners_dir())?;
    let partner_tls =
        crate::partner::client_configs(&settings.tls_cert, &settings.tls_key, &partners)?;
    let now = options.clock.now();
    let store = startup::open(&settings.database, &now.to_string()).await?;
    let ledger_err = |problem| StartError::Ledger {
        path: settings.database.to_string(),
        problem,
    };
    let checked = startup::ledger(store.as_ref(), &signer)
        .await
        .map_err(ledger_err)?;
    tracing::info!(
        records = checked.records,
        checkpoint = checked.checkpoint,
        "ledger checked: the latest checkpoint is this node's and the records after it verify"
    );
    let key = gsomia_seal::custody::CustodyKey::derive(&signer.key);
    startup::tag_untagged(store.as_ref(), &key, &settings.party, &partners, |fields| {
        let (s, n) = gsomia_core::time::to_wire(now);
        gsomia_ledger::entry::Entry::new(
            gsomia_ledger::entry::Kind::CustodyTagged,
            s,
            n,
            settings.party.clone(),
            None,
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )
        .ok()
    })
    .await
    .map_err(StartError::Store)?;
    let url = |l: &TcpListener| {
        l.local_addr()
            .map(|a| format!("https://{a}"))
            .map_err(|source| ServiceError::Listen {
                addr: "?".into(),
                source,
            })
    };
    let (api, peer) = (url(&listeners.api)?, url(&listeners.peer)?);
    let node = assemble(Parts {
        party: settings.party.clone(),
        registry,
        store,
        signer,
        recipient,
        partners,
        peer_tls: partner_tls,
        clock: options.clock,
        tree: Some(checked.tree),
    })
    .await?;
    let peer_tls = crate::tls::peer_server_config(
        &settings.tls_cert,
        &settings.tls_key,
        node.pinned().clone(),
    )?;
    // Returns answered while the node was down: their local copies erased.
    crate::items::holding::resume_returns(&node).await;
    // Contractor facilities: their files checked and held for decisions.
    if let Err(e) = crate::facilities::load(&node).await {
        tracing::error!(error = %e, "cannot read the contractor facilities; their people read nothing");
    }
    // Visits: their messages verified and held (visitors' credentials).
    if let Err(e) = crate::visits::load(&node).await {
        tracing::error!(error = %e, "cannot read the visits; visitors' credentials hold nowhere");
    }
    // Reclassifications kept but not yet applied to every row.
    crate::items::reclassify::resume(&node).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(crate::items::outbox::deliver(node.clone())),
        tokio::spawn(node.checkpoints().clone().keep(options.checkpoint_every)),
        tokio::spawn(crate::witness::witnessing(
            node.clone(),
            options.witness_every,
        )),
        tokio::spawn(crate::register::bookkeeping(node.clone())),
        tokio::spawn(crate::roster::watch(node.clone(), settings.clone())),
        tokio::spawn(follow_registers(node.clone())),
    ];
    match crate::warnings::restore(&node).await {
        Ok((restored, owed)) if restored + owed > 0 => {
            tracing::info!(restored, owed, "warning feed rebuilt from the store");
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "warning feed: cannot read the store"),
    }
    tasks.extend(crate::warnings::start(&node));
    tasks.push(
        node.lanes()
            .warning
            .spawn(crate::incidents::deliver(node.clone())),
    );
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let servers = vec![
        tokio::spawn(crate::http::serve_peers(
            listeners.peer,
            peer_tls,
            node.clone(),
            stopped(stop_rx.clone()),
        )),
        tokio::spawn(crate::http::serve(
            listeners.api,
            tls,
            node.clone(),
            stopped(stop_rx),
        )),
    ];
    tracing::info!(party = %settings.party, %api, %peer, "node started");
    Ok(Running {
        party: settings.party.clone(),
        api,
        peer,
        node,
        stop,
        tasks,
        servers,
    })
}

/// Starts the node and serves until `shutdown` completes, then stops.
pub async fn run(
    settings: &Settings,
    listeners: Listeners,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let running = start(settings, listeners, options).await?;
    shutdown.await;
    running.stop().await
}

impl Running {
    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// One witness round over every partner now: (party, size cosigned or why not).
    pub async fn witness_all(&self) -> Vec<(String, Result<u64, crate::witness::WitnessError>)> {
        crate::witness::witness_all(&self.node).await
    }

    /// Stops accepting, lets requests in flight finish, stops the workers,
    /// commits pending warning entries and stores a last checkpoint.
    pub async fn stop(self) -> Result<(), ServiceError> {
        let _ = self.stop.send(true);
        for s in self.servers {
            match s.await {
                Ok(r) => r.map_err(ServiceError::Server)?,
                Err(e) => return Err(ServiceError::Server(std::io::Error::other(e))),
            }
        }
        for t in self.tasks {
            t.abort();
        }
        crate::warnings::flush(&self.node).await;
        crate::register::finish(&self.node).await;
        // The last checkpoint a receipt handed out, stored before leaving.
        self.node
            .checkpoints()
            .publish(0)
            .await
            .map_err(ServiceError::Checkpoint)?;
        tracing::info!(party = %self.party, "node stopped");
        Ok(())
    }
}
