//! Partners: their identities, pinned certificates and endpoints
//! (`DIR/partners/XXX.toml`, written by `gsomia partner add`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_ledger::note::Verifier;
use gsomia_seal::PublicKey;
use gsomia_seal::item::RecipientPublic;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

/// A partner node.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Its party code.
    pub party: String,
    /// Its signing key, named (checkpoints, bindings, transfers, receipts).
    pub verifier: Verifier,
    /// Its encryption key.
    pub recipient: RecipientPublic,
    /// Its peer endpoint.
    pub endpoint: String,
    /// Its pinned node certificate.
    pub certificate: CertificateDer<'static>,
}

impl Partner {
    /// Its signing key.
    pub fn key(&self) -> &PublicKey {
        &self.verifier.key
    }

    /// SHA-256 of its pinned certificate (DER), hex.
    pub fn certificate_sha256(&self) -> String {
        use sha2::Digest as _;
        crate::ids::hex(&sha2::Sha256::digest(self.certificate.as_ref()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    party: String,
    name: String,
    signing_key: String,
    recipient_key: String,
    endpoint: String,
    certificate: String,
}

/// A partner file that does not load.
#[derive(Debug, thiserror::Error)]
#[error("`{path}`: {what}")]
pub struct PartnerError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub what: String,
}

/// The mutual-TLS client configuration to reach each of `partners`, this
/// node presenting the certificate and key in `tls_cert` and `tls_key`.
pub fn client_configs(
    tls_cert: &Path,
    tls_key: &Path,
    partners: &[Partner],
) -> Result<std::collections::BTreeMap<String, rustls::ClientConfig>, crate::tls::TlsError> {
    let mut out = std::collections::BTreeMap::new();
    for p in partners {
        let config = crate::tls::peer_client_config(tls_cert, tls_key, p.certificate.clone())?;
        out.insert(p.party.clone(), config);
    }
    Ok(out)
}

/// Loads every partner file in `dir`; any malformed file is an error naming it.
pub fn load(dir: &Path) -> Result<Vec<Partner>, PartnerError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        let err = |what: String| PartnerError {
            path: f.display().to_string(),
            what,
        };
        let text = crate::files::read_text(&f).map_err(|e| err(e.to_string()))?;
        let raw: Raw = toml::from_str(&text).map_err(|e| err(e.message().to_owned()))?;
        let key = PublicKey::from_base64(&raw.signing_key).map_err(|e| err(e.to_string()))?;
        let recipient = B64
            .decode(raw.recipient_key.trim())
            .ok()
            .and_then(|b| RecipientPublic::from_bytes(&b).ok())
            .ok_or_else(|| err("bad recipient_key".into()))?;
        let certificate = CertificateDer::from_pem_slice(raw.certificate.as_bytes())
            .map_err(|e| err(format!("certificate: {e}")))?;
        out.push(Partner {
            party: raw.party,
            verifier: Verifier {
                name: raw.name,
                key,
            },
            recipient,
            endpoint: raw.endpoint,
            certificate,
        });
    }
    Ok(out)
}
