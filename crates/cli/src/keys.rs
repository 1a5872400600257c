//! Key files: `gsomia keys generate`, and reading them back (the node
//! crate's [`gsomia_node::keys`], rendered here).

use std::path::Path;

use anyhow::Result;
use gsomia_ledger::note::{Signer, Verifier};
use gsomia_seal::item::RecipientSecret;
use serde_json::json;

pub use gsomia_node::keys::Identity;

use crate::out::Outcome;

/// `gsomia keys generate`.
pub fn generate(party: &str, out: &Path) -> Result<Outcome> {
    let g = gsomia_node::keys::generate(party, out)?;
    let text = format!(
        "generated keys for {} in {}\n  signing.key    secret, owner-only (Ed25519)\n  recipient.key  secret, owner-only (X-Wing: ML-KEM-768 + X25519)\n  identity.toml  public: hand it to partners\n  key name       {}\n  signing key    {}\n  recipient key  sha256:{}\n",
        g.party,
        out.display(),
        g.name,
        g.signing_key,
        g.recipient_fingerprint
    );
    Ok(Outcome::ok(
        json!({ "party": g.party, "name": g.name, "signing_key": g.signing_key, "recipient_key_sha256": g.recipient_fingerprint, "dir": out.display().to_string() }),
        text,
    ))
}

/// 32 bytes from the operating system's secure random source.
pub fn entropy() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no secure randomness: {e}"))?;
    Ok(seed)
}

/// A party's secret signing key, as a named note signer.
pub fn signer(dir: &Path) -> Result<(String, Signer)> {
    Ok(gsomia_node::keys::signer(dir)?)
}

/// A party's secret recipient (decryption) key.
pub fn recipient(dir: &Path) -> Result<(String, RecipientSecret)> {
    Ok(gsomia_node::keys::recipient(dir)?)
}

/// Reads a public identity (a directory holding `identity.toml`, or the file).
pub fn read_identity(path: &Path) -> Result<Identity> {
    Ok(gsomia_node::keys::read_identity(path)?)
}

/// A partner's party and signing key (a directory holding `identity.toml`, or the file).
pub fn identity(path: &Path) -> Result<(String, Verifier)> {
    let id = read_identity(path)?;
    Ok((id.party, id.verifier))
}
