//! Building blocks for tests and benchmarks that run nodes in process —
//! party identities with their own TLS certificates, partners, peer clients
//! and nodes over a store — and handles on the node's internals they
//! exercise directly. Built only with the `testkit` feature; never part of
//! `gsomia serve`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gsomia_ledger::note::Signer;
use gsomia_seal::SecretKey;
use gsomia_seal::item::{RecipientPublic, RecipientSecret, WireLabel};
use gsomia_store::{Item, Person, Role, Store};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

pub use crate::checkpoints::TREE_BLOCK_BITS;
pub use crate::http::{serve, serve_peers};
pub use crate::ids::new_id;
pub use crate::items::outbox::{BATCHES_IN_FLIGHT, DELIVERY_BATCH, deliver};
pub use crate::node::Parts;
pub use crate::partner::Partner;
pub use crate::tls::{peer_client_config, server_config};

/// The peer endpoint's server configuration, pinning `partners`.
pub fn peer_server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    partners: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> Result<Arc<rustls::ServerConfig>, crate::tls::TlsError> {
    crate::tls::peer_server_config(cert, key, crate::tls::PinnedSet::new(partners))
}
pub use crate::warnings::{
    Next, Rejected, Subscription, accept, flush as flush_warnings, launch as launch_warning,
    start as start_warnings, subscribe, track as track_warning,
};

use crate::clock::Clock;
use crate::node::Node;

/// A party's keys and TLS identity, written under a directory.
pub struct Identity {
    /// The party.
    pub party: String,
    /// Signing key.
    pub key: SecretKey,
    /// Decryption key.
    pub recipient: RecipientSecret,
    recipient_seed: [u8; 32],
    /// Node certificate (PEM file).
    pub cert: PathBuf,
    /// Its private key (PEM file).
    pub tls_key: PathBuf,
}

/// A fresh identity; `seed` makes the keys (not the certificate) reproducible.
pub fn identity(dir: &Path, party: &str, seed: u8) -> Result<Identity, String> {
    let kp = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| e.to_string())?;
    let cert = params.self_signed(&kp).map_err(|e| e.to_string())?;
    let (c, k) = (
        dir.join(format!("{party}-{seed}.pem")),
        dir.join(format!("{party}-{seed}.key")),
    );
    std::fs::write(&c, cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&k, kp.serialize_pem()).map_err(|e| e.to_string())?;
    Ok(Identity {
        party: party.to_owned(),
        key: SecretKey::from_seed(&[seed; 32]),
        recipient: RecipientSecret::from_seed(&[seed.wrapping_add(100); 32]),
        recipient_seed: [seed.wrapping_add(100); 32],
        cert: c,
        tls_key: k,
    })
}

impl Identity {
    /// A copy of the signing key.
    pub fn signer(&self) -> Result<Signer, String> {
        Ok(Signer {
            name: format!("gsomia/{}", self.party),
            key: SecretKey::from_base64(&self.key.to_base64()).map_err(|e| e.to_string())?,
        })
    }

    /// The certificate.
    pub fn certificate(&self) -> Result<CertificateDer<'static>, String> {
        CertificateDer::from_pem_file(&self.cert).map_err(|e| e.to_string())
    }

    /// This identity as another node's partner at `endpoint`.
    pub fn as_partner(&self, endpoint: &str) -> Result<Partner, String> {
        Ok(Partner {
            party: self.party.clone(),
            verifier: self.signer()?.verifier(),
            recipient: self.recipient.public(),
            endpoint: endpoint.to_owned(),
            certificate: self.certificate()?,
        })
    }

    /// The mutual-TLS client configuration from this identity to `them`.
    pub fn tls_to(&self, them: &Identity) -> Result<rustls::ClientConfig, String> {
        crate::tls::peer_client_config(&self.cert, &self.tls_key, them.certificate()?)
            .map_err(|e| e.to_string())
    }

    /// A mutual-TLS client from this identity to `them`.
    pub fn client_to(&self, them: &Identity) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls_to(them)?)
            .build()
            .map_err(|e| e.to_string())
    }

    /// A node for this identity over `store`, with these partners and the
    /// client configuration for each, on the system clock.
    pub async fn node(
        &self,
        registry: gsomia_core::Registry,
        store: Arc<dyn Store>,
        partners: Vec<Partner>,
        peer_tls: BTreeMap<String, rustls::ClientConfig>,
    ) -> Result<Arc<Node>, String> {
        self.node_at(registry, store, partners, peer_tls, Arc::new(Clock::System))
            .await
    }

    /// The same on a given clock.
    pub async fn node_at(
        &self,
        registry: gsomia_core::Registry,
        store: Arc<dyn Store>,
        partners: Vec<Partner>,
        peer_tls: BTreeMap<String, rustls::ClientConfig>,
        clock: Arc<Clock>,
    ) -> Result<Arc<Node>, String> {
        crate::service::assemble(Parts {
            party: self.party.clone(),
            registry,
            store,
            signer: self.signer()?,
            recipient: RecipientSecret::from_seed(&self.recipient_seed),
            partners,
            peer_tls,
            clock,
            tree: None,
        })
        .await
        .map_err(|e| crate::error::chain(&e))
    }
}

/// A scratch store: SQLite in memory (not synced; removed when dropped),
/// or, with `GSOMIA_TEST_STORE=postgres`, a fresh migrated PostgreSQL
/// database on the server `GSOMIA_TEST_POSTGRES` names (else
/// 127.0.0.1:5432 as `postgres`), named after this process, so the same
/// tests run on either backend.
pub async fn scratch_store() -> Result<Arc<dyn Store>, String> {
    if std::env::var("GSOMIA_TEST_STORE").as_deref() == Ok("postgres") {
        return postgres_scratch().await;
    }
    Ok(Arc::new(
        gsomia_store::SqliteStore::memory()
            .await
            .map_err(|e| e.to_string())?,
    ))
}

async fn postgres_scratch() -> Result<Arc<dyn Store>, String> {
    let url = postgres_scratch_url().await?;
    Ok(Arc::new(
        gsomia_store::PgStore::open(&url)
            .await
            .map_err(|e| e.to_string())?,
    ))
}

/// A fresh, migrated PostgreSQL database for a test (as [`scratch_store`]
/// makes with `GSOMIA_TEST_STORE=postgres`): its connection string, for
/// tests that open it more than once (several processes of one node).
pub async fn postgres_scratch_url() -> Result<String, String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let server = std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into());
    let (c, conn) =
        tokio_postgres::connect(&format!("{server} dbname=postgres"), tokio_postgres::NoTls)
            .await
            .map_err(|e| {
                format!(
                    "PostgreSQL is not reachable at `{server}` ({e}): start it (`pg_ctlcluster \
                     --skip-systemctl-redirect $(ls /etc/postgresql) main start`)"
                )
            })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let db = format!(
        "gsomia_scratch_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // One database made at a time (concurrent copies of the template
    // refuse each other); those of test processes that have ended go.
    c.batch_execute("SELECT pg_advisory_lock(7468)")
        .await
        .map_err(|e| e.to_string())?;
    let old = c
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'gsomia_scratch_%'",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    for r in old {
        let name: String = r.get(0);
        let pid = name.split('_').nth(2).unwrap_or("");
        if pid != std::process::id().to_string()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    // Two statements: CREATE DATABASE runs in no transaction block.
    let mut made = c
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await;
    if made.is_ok() {
        made = c.batch_execute(&format!("CREATE DATABASE {db}")).await;
    }
    let made = made.map_err(|e| format!("{e:?}"));
    c.batch_execute("SELECT pg_advisory_unlock(7468)")
        .await
        .map_err(|e| e.to_string())?;
    made?;
    let url = format!("{server} dbname={db}");
    gsomia_store::postgres::migrate(&url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(url)
}

/// A label in wire form for tests and benchmarks: `level` in `party`'s
/// policy, on the topic `dprk.missile`, releasable to `rel_to` (`None`:
/// unmarked), created now.
pub fn missile_label(
    reg: &gsomia_core::Registry,
    party: &str,
    level: &str,
    rel_to: Option<&[&str]>,
) -> Result<WireLabel, String> {
    let label = reg
        .label(
            party,
            level,
            &["dprk.missile"],
            rel_to,
            jiff::Timestamp::now(),
        )
        .map_err(|e| e.to_string())?;
    Ok(crate::labels::to_wire(reg, &label))
}

/// Seals `content` under `label` for `party` (key `key`) as `node` would.
pub fn seal_for(
    node: &Node,
    party: &str,
    key: &RecipientPublic,
    label: &WireLabel,
    content: &[u8],
) -> Result<Vec<u8>, String> {
    node.sealing()
        .seal_for(node.now(), party, key, label, content)
        .map_err(|e| e.to_string())
}

/// Seals `content` under `label` to `node`'s own key (an item at rest).
pub fn seal_at_rest(node: &Node, label: &WireLabel, content: &[u8]) -> Result<Vec<u8>, String> {
    let key = node.sealing().own_key();
    seal_for(node, node.party(), &key, label, content)
}

/// Opens an item sealed to `node`, as it would.
pub fn open(node: &Node, sealed: &[u8]) -> Result<Vec<u8>, String> {
    node.sealing()
        .open(sealed, None)
        .map(|(_, c)| c)
        .map_err(|e| e.to_string())
}

/// Opens an item sealed to `node` by `sender` (whose key is `key`), as its
/// peer endpoint would: the binding verified with the sender's key.
pub fn open_from(
    node: &Node,
    sealed: &[u8],
    sender: &str,
    key: &gsomia_seal::PublicKey,
) -> Result<Vec<u8>, String> {
    node.sealing()
        .open(sealed, Some((sender, key)))
        .map(|(_, c)| c)
        .map_err(|e| e.to_string())
}

/// The transfer id of a release that was allowed, or why not.
pub async fn release(node: &Node, item: &Item, to: &str, by: &str) -> Result<String, String> {
    match crate::items::release::release(node, item, to, by, None).await {
        Ok(gsomia_api::ReleaseOutcome::Release(r)) => Ok(r.transfer),
        Ok(gsomia_api::ReleaseOutcome::Withhold(w)) => Err(w.reasons.join(" | ")),
        Err(e) => Err(crate::error::chain(&e)),
    }
}

/// A signed checkpoint of `node`'s ledger and a consistency proof from
/// size `from` (nothing stored).
pub async fn signed_checkpoint(
    node: &Node,
    from: u64,
) -> Result<crate::checkpoints::Signed, String> {
    node.checkpoints()
        .sign(from)
        .await
        .map_err(|e| e.to_string())
}

/// Starts `node`'s checkpoint keeper (every `every`).
pub fn keep_checkpoints(node: &Node, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(node.checkpoints().clone().keep(every))
}

/// The consents `node` holds as a releasing party, revocations applied.
pub async fn held_consents(node: &Node) -> Result<Vec<gsomia_core::Consent>, String> {
    crate::consents::held(node, &node.registry())
        .await
        .map(|v| v.into_iter().map(|(c, _)| c).collect())
        .map_err(|e| e.to_string())
}

/// The user API's router of `node` (call it with `tower::ServiceExt::oneshot`).
pub fn user_router(node: Arc<Node>) -> axum::Router {
    crate::http::user::router(node)
}

/// From which leaf index `node`'s in-memory ledger tree still holds leaf
/// hashes (older complete blocks keep only their subtree hash), and its root.
pub async fn tree(node: &Node) -> (u64, gsomia_ledger::merkle::Hash) {
    node.checkpoints().tree_state().await
}

/// How many updates of flight `id` `node` has applied.
pub fn warnings_applied(node: &Node, id: &str) -> usize {
    node.feed().applied(id)
}

/// Tags an item made outside the node's own paths with `node`'s custody
/// tag, as the node tags what it stores (the item must then be stored as it is).
pub fn tag_item(node: &Node, item: &mut gsomia_store::Item) {
    if let Err(b) = crate::custody::tag_item(node.custody(), item) {
        tracing::error!(error = %b, "test item does not parse");
    }
}

/// Tags a person made outside the node's register with `node`'s custody tag.
pub fn tag_person(node: &Node, p: &mut Person) {
    crate::custody::tag_person(node.custody(), p);
}

/// The start-up check of `node`'s ledger (as `serve` runs it before
/// serving), after storing a checkpoint of it: the records and the
/// checkpoint size checked, or why not.
pub async fn startup_ledger_check(node: &Node) -> Result<(u64, u64), String> {
    node.checkpoints()
        .publish(0)
        .await
        .map_err(|e| e.to_string())?;
    crate::startup::ledger(node.store().as_ref(), node.signer())
        .await
        .map(|c| (c.records, c.checkpoint))
        .map_err(|e| e.to_string())
}

/// Checks the custody tag and label index of every item `node` holds (as
/// every read, list and release does); how many passed.
pub async fn check_all_items(node: &Node) -> Result<usize, String> {
    let mut ok = 0;
    for id in node.store().item_ids().await.map_err(|e| e.to_string())? {
        if let Some(item) = node.store().item(&id).await.map_err(|e| e.to_string())?
            && crate::custody::check_item(node.custody(), &item).is_ok()
        {
            ok += 1;
        }
    }
    Ok(ok)
}

/// Registers a person directly in `node`'s store with token `token`.
pub async fn person(
    node: &Node,
    id: &str,
    clearance: &str,
    need_to_know: &[&str],
    token: &str,
) -> Result<(), String> {
    use sha2::Digest as _;
    let mut p = Person {
        id: id.into(),
        name: id.into(),
        role: Role::Officer,
        clearance: clearance.into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: need_to_know.iter().map(|s| (*s).to_owned()).collect(),
        token_hash: sha2::Sha256::digest(token.as_bytes()).into(),
        created_at: "test".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    crate::custody::tag_person(node.custody(), &mut p);
    node.store()
        .commit(gsomia_store::Batch {
            people: vec![p],
            ..gsomia_store::Batch::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A ledger entry by `node` now, committed alone.
pub async fn ledger(
    node: &Node,
    kind: gsomia_ledger::entry::Kind,
    item: Option<&str>,
    fields: Vec<(&str, String)>,
) -> Result<(), String> {
    node.record(kind, item, fields)
        .await
        .map_err(|e| e.to_string())
}
