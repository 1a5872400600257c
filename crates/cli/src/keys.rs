//! Key files: `gsomia keys generate`, and reading them back.
//!
//! ```text
//! DIR/signing.key     secret (mode 0600): party and Ed25519 seed
//! DIR/recipient.key   secret (mode 0600): party and X-Wing (HPKE) seed
//! DIR/identity.toml   public bundle to hand partners: party, key name,
//!                     signing key, recipient (encryption) key
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_ledger::note::{Signer, Verifier};
use gsomia_seal::item::{RecipientPublic, RecipientSecret};
use gsomia_seal::{PublicKey, SecretKey};
use serde::Deserialize;
use serde_json::json;

use crate::out::Outcome;

const SIGNING: &str = "signing.key";
const RECIPIENT: &str = "recipient.key";
const IDENTITY: &str = "identity.toml";
const HEADER: &str = "gsomia-signing-key/v1";
const RECIPIENT_HEADER: &str = "gsomia-recipient-key/v1";

/// The key name a party signs ledger checkpoints with (also its ledger origin).
pub fn key_name(party: &str) -> String {
    format!("gsomia/{party}")
}

fn write_new(path: &Path, text: &str, secret: bool) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "cannot create `{}` (keys are never overwritten)",
            path.display()
        )
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// `gsomia keys generate`.
pub fn generate(party: &str, out: &Path) -> Result<Outcome> {
    let party = party.trim().to_ascii_uppercase();
    if party.len() != 3 || !party.chars().all(|c| c.is_ascii_uppercase()) {
        bail!("`--party {party}` must be a trigraph such as `JPN`");
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let key = SecretKey::from_seed(&entropy()?);
    let recipient_seed = entropy()?;
    let recipient = RecipientSecret::from_seed(&recipient_seed);
    let name = key_name(&party);
    write_new(
        &out.join(SIGNING),
        &format!("{HEADER}\nparty = {party}\nseed = {}\n", key.to_base64()),
        true,
    )?;
    write_new(
        &out.join(RECIPIENT),
        &format!(
            "{RECIPIENT_HEADER}\nparty = {party}\nseed = {}\n",
            B64.encode(recipient_seed)
        ),
        true,
    )?;
    let public = key.public().to_base64();
    let recipient_public = recipient.public();
    write_new(
        &out.join(IDENTITY),
        &format!(
            "party = \"{party}\"\nname = \"{name}\"\nsigning_key = \"{public}\"\nrecipient_key = \"{}\"\n",
            B64.encode(recipient_public.to_bytes())
        ),
        false,
    )?;
    let fingerprint: String = recipient_public
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        "generated keys for {party} in {}\n  signing.key    secret, owner-only (Ed25519)\n  recipient.key  secret, owner-only (X-Wing: ML-KEM-768 + X25519)\n  identity.toml  public: hand it to partners\n  key name       {name}\n  signing key    {public}\n  recipient key  sha256:{fingerprint}\n",
        out.display()
    );
    Ok(Outcome::ok(
        json!({ "party": party, "name": name, "signing_key": public, "recipient_key_sha256": fingerprint, "dir": out.display().to_string() }),
        text,
    ))
}

/// 32 bytes from the operating system's secure random source.
pub fn entropy() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no secure randomness: {e}"))?;
    Ok(seed)
}

fn owner_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "`{}` is readable by others (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads a secret key file: its party and base64 seed.
fn secret_file(path: &Path, header: &str) -> Result<(String, String)> {
    owner_only(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        bail!("`{}` is not a `{header}` file", path.display());
    }
    let mut party = None;
    let mut seed = None;
    for line in lines {
        match line.split_once(" = ") {
            Some(("party", v)) => party = Some(v.to_owned()),
            Some(("seed", v)) => seed = Some(v.to_owned()),
            _ => bail!("`{}`: unexpected line", path.display()),
        }
    }
    match (party, seed) {
        (Some(p), Some(s)) => Ok((p, s)),
        _ => bail!("`{}` needs `party` and `seed`", path.display()),
    }
}

/// A party's secret signing key, as a named note signer.
pub fn signer(dir: &Path) -> Result<(String, Signer)> {
    let path = dir.join(SIGNING);
    let (party, seed) = secret_file(&path, HEADER)?;
    let key =
        SecretKey::from_base64(&seed).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?;
    let name = key_name(&party);
    Ok((party, Signer { name, key }))
}

/// A party's secret recipient (decryption) key.
pub fn recipient(dir: &Path) -> Result<(String, RecipientSecret)> {
    let path = dir.join(RECIPIENT);
    let (party, seed) = secret_file(&path, RECIPIENT_HEADER)?;
    let seed: [u8; 32] = B64
        .decode(seed.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .with_context(|| format!("`{}`: bad seed", path.display()))?;
    Ok((party, RecipientSecret::from_seed(&seed)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    party: String,
    name: String,
    signing_key: String,
    #[serde(default)]
    recipient_key: Option<String>,
    /// Present in node bundles (`gsomia identity export`) and partner files.
    #[serde(default)]
    #[allow(dead_code, reason = "read and pinned by the node; accepted here")]
    certificate: Option<String>,
    /// Present in partner files.
    #[serde(default)]
    #[allow(dead_code, reason = "used by the node's peer link; accepted here")]
    endpoint: Option<String>,
}

/// A partner's public identity.
pub struct Identity {
    /// The party.
    pub party: String,
    /// Its checkpoint signing key, named.
    pub verifier: Verifier,
    /// Its encryption key, if the bundle has one.
    pub recipient: Option<RecipientPublic>,
}

/// Reads a public identity (a directory holding `identity.toml`, or the file).
pub fn read_identity(path: &Path) -> Result<Identity> {
    let file: PathBuf = if path.is_dir() {
        path.join(IDENTITY)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let id: RawIdentity = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}`: {}", file.display(), e.message()))?;
    let key = PublicKey::from_base64(&id.signing_key)
        .map_err(|e| anyhow::anyhow!("`{}`: {e}", file.display()))?;
    let recipient = id
        .recipient_key
        .map(|k| {
            B64.decode(k.trim())
                .ok()
                .and_then(|b| RecipientPublic::from_bytes(&b).ok())
                .with_context(|| format!("`{}`: bad recipient_key", file.display()))
        })
        .transpose()?;
    Ok(Identity {
        party: id.party,
        verifier: Verifier { name: id.name, key },
        recipient,
    })
}

/// A partner's party and signing key (a directory holding `identity.toml`, or the file).
pub fn identity(path: &Path) -> Result<(String, Verifier)> {
    let id = read_identity(path)?;
    Ok((id.party, id.verifier))
}
