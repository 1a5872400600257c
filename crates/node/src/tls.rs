//! TLS configuration from PEM files (rustls with the ring provider).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file that does not load.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key from PEM files.
fn identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
    Ok((chain, key))
}

fn pem_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        what: e.to_string(),
    }
}

/// The certificate chain in a PEM file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate"));
    }
    Ok(certs)
}

/// A server configuration for the user-facing API (server authentication only).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = identity(cert, key)?;
    let provider = provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A set of pinned certificates that can be replaced while a server runs
/// (its verifier reads the set at each handshake).
#[derive(Debug, Clone, Default)]
pub struct PinnedSet(Arc<std::sync::RwLock<Vec<CertificateDer<'static>>>>);

impl PinnedSet {
    /// A set holding `certs`.
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        PinnedSet(Arc::new(std::sync::RwLock::new(certs)))
    }
    /// Replaces the certificates.
    pub fn set(&self, certs: Vec<CertificateDer<'static>>) {
        match self.0.write() {
            Ok(mut g) => *g = certs,
            Err(p) => *p.into_inner() = certs,
        }
    }
    /// Whether `cert` is one of them.
    pub fn holds(&self, cert: &[u8]) -> bool {
        let g = match self.0.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.iter().any(|c| c.as_ref() == cert)
    }
}

/// Accepts exactly the pinned certificates (partners' node certificates),
/// whoever issued them; TLS signatures are still verified.
#[derive(Debug)]
pub struct Pinned {
    certs: PinnedSet,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Pinned {
    /// Pins these certificates.
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        Pinned::shared(PinnedSet::new(certs))
    }
    /// Pins the certificates of a set that may change.
    pub fn shared(certs: PinnedSet) -> Self {
        Pinned {
            certs,
            provider: provider(),
        }
    }
    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.certs.holds(cert.as_ref()) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

/// The handshake-signature methods both verifier traits require: pinning
/// replaces the certificate path check, never the signature check.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl rustls::server::danger::ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| rustls::server::danger::ClientCertVerified::assertion())
    }
    handshake_signatures!();
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| rustls::client::danger::ServerCertVerified::assertion())
    }
    handshake_signatures!();
}

/// The peer endpoint's server configuration: mutual TLS, clients must
/// present one of the pinned partner certificates.
pub fn peer_server_config(
    cert: &Path,
    key: &Path,
    partners: PinnedSet,
) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = identity(cert, key)?;
    let provider = provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(Pinned::shared(partners)))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration to reach one partner: its certificate pinned, this
/// node's certificate presented.
pub fn peer_client_config(
    cert: &Path,
    key: &Path,
    partner: CertificateDer<'static>,
) -> Result<rustls::ClientConfig, TlsError> {
    let (chain, key) = identity(cert, key)?;
    let provider = provider();
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned::new(vec![partner])))
        .with_client_auth_cert(chain, key)?)
}
