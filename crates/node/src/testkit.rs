//! Building blocks for tests and benchmarks that run nodes in process:
//! party identities with their own TLS certificates, partners, peer clients
//! and nodes over a store. Not used by `gsomia serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gsomia_ledger::note::Signer;
use gsomia_seal::SecretKey;
use gsomia_seal::item::RecipientSecret;
use gsomia_store::SqliteStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::partner::Partner;
use crate::{Clock, Node, Parts};

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
        store: SqliteStore,
        partners: Vec<Partner>,
        peer_tls: std::collections::BTreeMap<String, rustls::ClientConfig>,
    ) -> Result<Arc<Node>, String> {
        self.node_at(registry, store, partners, peer_tls, Arc::new(Clock::System))
            .await
    }

    /// The same on a given clock.
    pub async fn node_at(
        &self,
        registry: gsomia_core::Registry,
        store: SqliteStore,
        partners: Vec<Partner>,
        peer_tls: std::collections::BTreeMap<String, rustls::ClientConfig>,
        clock: Arc<Clock>,
    ) -> Result<Arc<Node>, String> {
        Node::start(Parts {
            party: self.party.clone(),
            registry,
            store,
            signer: self.signer()?,
            recipient: RecipientSecret::from_seed(&self.recipient_seed),
            partners,
            peer_tls,
            clock,
        })
        .await
    }
}

/// A label in wire form for tests and benchmarks: `level` in `party`'s
/// policy, on the topic `dprk.missile`, releasable to `rel_to` (`None`:
/// unmarked), created now.
pub fn missile_label(
    reg: &gsomia_core::Registry,
    party: &str,
    level: &str,
    rel_to: Option<&[&str]>,
) -> Result<gsomia_seal::item::WireLabel, String> {
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
