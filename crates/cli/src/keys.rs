//! Key files: `gsomia keys generate`, and reading them back.
//!
//! ```text
//! DIR/signing.key     secret (mode 0600): party and Ed25519 seed
//! DIR/identity.toml   public bundle to hand partners: party, key name, signing key
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gsomia_ledger::note::{Signer, Verifier};
use gsomia_seal::{PublicKey, SecretKey};
use serde::Deserialize;
use serde_json::json;

use crate::out::Outcome;

const SIGNING: &str = "signing.key";
const IDENTITY: &str = "identity.toml";
const HEADER: &str = "gsomia-signing-key/v1";

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
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no secure randomness: {e}"))?;
    let key = SecretKey::from_seed(&seed);
    seed.fill(0);
    let name = key_name(&party);
    write_new(
        &out.join(SIGNING),
        &format!("{HEADER}\nparty = {party}\nseed = {}\n", key.to_base64()),
        true,
    )?;
    let public = key.public().to_base64();
    write_new(
        &out.join(IDENTITY),
        &format!("party = \"{party}\"\nname = \"{name}\"\nsigning_key = \"{public}\"\n"),
        false,
    )?;
    let text = format!(
        "generated keys for {party} in {}\n  signing.key    secret, owner-only\n  identity.toml  public: hand it to partners\n  key name       {name}\n  signing key    {public}\n",
        out.display()
    );
    Ok(Outcome::ok(
        json!({ "party": party, "name": name, "signing_key": public, "dir": out.display().to_string() }),
        text,
    ))
}

/// A party's secret signing key, as a named note signer.
pub fn signer(dir: &Path) -> Result<(String, Signer)> {
    let path = dir.join(SIGNING);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
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
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        bail!("`{}` is not a gsomia signing key", path.display());
    }
    let mut party = None;
    let mut seed = None;
    for line in lines {
        match line.split_once(" = ") {
            Some(("party", v)) => party = Some(v.to_owned()),
            Some(("seed", v)) => {
                seed = Some(
                    SecretKey::from_base64(v)
                        .map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?,
                )
            }
            _ => bail!("`{}`: unexpected line", path.display()),
        }
    }
    let (Some(party), Some(key)) = (party, seed) else {
        bail!("`{}` needs `party` and `seed`", path.display());
    };
    Ok((
        party.clone(),
        Signer {
            name: key_name(&party),
            key,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    party: String,
    name: String,
    signing_key: String,
}

/// A partner's public identity (a directory holding `identity.toml`, or the file).
pub fn identity(path: &Path) -> Result<(String, Verifier)> {
    let file: PathBuf = if path.is_dir() {
        path.join(IDENTITY)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let id: Identity = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}`: {}", file.display(), e.message()))?;
    let key = PublicKey::from_base64(&id.signing_key)
        .map_err(|e| anyhow::anyhow!("`{}`: {e}", file.display()))?;
    Ok((id.party, Verifier { name: id.name, key }))
}
