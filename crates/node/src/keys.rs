//! Key files: a party's secret signing and recipient keys (owner-only) and
//! its public identity.
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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_ledger::note::{Signer, Verifier};
use gsomia_seal::item::{RecipientPublic, RecipientSecret};
use gsomia_seal::{PublicKey, SecretKey};
use serde::Deserialize;

/// The signing key's file name in a key directory.
pub const SIGNING: &str = "signing.key";
/// The recipient (decryption) key's file name in a key directory.
pub const RECIPIENT: &str = "recipient.key";
const IDENTITY: &str = "identity.toml";
const HEADER: &str = "gsomia-signing-key/v1";
const RECIPIENT_HEADER: &str = "gsomia-recipient-key/v1";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A party code that is not a trigraph.
    #[error("`{0}` is not a party trigraph such as `JPN`")]
    Party(String),
    /// A file that could not be created, written or read.
    #[error("`{path}`: {what}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// A secret file others may read.
    #[error("`{path}` is readable by others (mode {mode:o}); run `chmod 600` on it")]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// No secure randomness.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
}

fn file_err(path: &Path, what: impl std::fmt::Display) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

/// The key name a party signs ledger checkpoints with (also its ledger origin).
pub fn key_name(party: &str) -> String {
    format!("gsomia/{party}")
}

/// Writes a new file (never overwriting), owner-only if `secret`, synced.
pub fn write_new(path: &Path, text: &str, secret: bool) -> Result<(), KeyError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(path).map_err(|e| {
        file_err(
            path,
            format!("cannot create ({e}); files are never overwritten"),
        )
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| file_err(path, format!("cannot write ({e})")))
}

/// What [`generate`] made.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The party.
    pub party: String,
    /// Its key name.
    pub name: String,
    /// Its public signing key, base64.
    pub signing_key: String,
    /// SHA-256 of its public recipient key, hex.
    pub recipient_fingerprint: String,
}

/// Generates a party's signing and recipient keys and its public identity
/// in `out` (created if needed; no file is ever overwritten).
pub fn generate(party: &str, out: &Path) -> Result<Generated, KeyError> {
    let party = party.trim().to_ascii_uppercase();
    if party.len() != 3 || !party.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(KeyError::Party(party));
    }
    std::fs::create_dir_all(out).map_err(|e| file_err(out, format!("cannot create ({e})")))?;
    let key = SecretKey::from_seed(&crate::ids::entropy()?);
    let recipient_seed = crate::ids::entropy()?;
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
    Ok(Generated {
        party,
        name,
        signing_key: public,
        recipient_fingerprint: crate::ids::hex(&recipient_public.fingerprint()),
    })
}

/// Refuses a secret file that others may read or write.
pub fn owner_only(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| file_err(path, format!("cannot read ({e})")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed {
                path: path.display().to_string(),
                mode: mode & 0o777,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads a secret key file: its party and base64 seed.
fn secret_file(path: &Path, header: &str) -> Result<(String, String), KeyError> {
    owner_only(path)?;
    let text =
        crate::files::read_text(path).map_err(|e| file_err(path, format!("cannot read ({e})")))?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(file_err(path, format!("not a `{header}` file")));
    }
    let mut party = None;
    let mut seed = None;
    for line in lines {
        match line.split_once(" = ") {
            Some(("party", v)) => party = Some(v.to_owned()),
            Some(("seed", v)) => seed = Some(v.to_owned()),
            _ => return Err(file_err(path, "unexpected line")),
        }
    }
    match (party, seed) {
        (Some(p), Some(s)) => Ok((p, s)),
        _ => Err(file_err(path, "needs `party` and `seed`")),
    }
}

/// A party's secret signing key, as a named note signer.
pub fn signer(dir: &Path) -> Result<(String, Signer), KeyError> {
    let path = dir.join(SIGNING);
    let (party, seed) = secret_file(&path, HEADER)?;
    let key = SecretKey::from_base64(&seed).map_err(|e| file_err(&path, e))?;
    let name = key_name(&party);
    Ok((party, Signer { name, key }))
}

/// A party's secret recipient (decryption) key.
pub fn recipient(dir: &Path) -> Result<(String, RecipientSecret), KeyError> {
    let path = dir.join(RECIPIENT);
    let (party, seed) = secret_file(&path, RECIPIENT_HEADER)?;
    let seed: [u8; 32] = B64
        .decode(seed.trim())
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| file_err(&path, "bad seed"))?;
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

/// A party's public identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The party.
    pub party: String,
    /// Its checkpoint signing key, named.
    pub verifier: Verifier,
    /// Its encryption key, if the bundle has one.
    pub recipient: Option<RecipientPublic>,
}

/// Reads a public identity (a directory holding `identity.toml`, or the file).
pub fn read_identity(path: &Path) -> Result<Identity, KeyError> {
    let file: PathBuf = if path.is_dir() {
        path.join(IDENTITY)
    } else {
        path.to_path_buf()
    };
    let text = crate::files::read_text(&file)
        .map_err(|e| file_err(&file, format!("cannot read ({e})")))?;
    let id: RawIdentity = toml::from_str(&text).map_err(|e| file_err(&file, e.message()))?;
    let key = PublicKey::from_base64(&id.signing_key).map_err(|e| file_err(&file, e))?;
    let recipient = id
        .recipient_key
        .map(|k| {
            B64.decode(k.trim())
                .ok()
                .and_then(|b| RecipientPublic::from_bytes(&b).ok())
                .ok_or_else(|| file_err(&file, "bad recipient_key"))
        })
        .transpose()?;
    Ok(Identity {
        party: id.party,
        verifier: Verifier { name: id.name, key },
        recipient,
    })
}
