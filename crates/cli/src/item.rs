//! `gsomia item seal|inspect|open` and `gsomia label export|import`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use gsomia_core::{Decision, ReleaseRequest, decide_release};
use gsomia_node::{label_from_wire as from_wire, label_to_wire as to_wire};
use gsomia_seal::item::{self, WireLabel};
use gsomia_seal::stanag;
use serde_json::{Value, json};

use crate::keys;
use crate::load;
use crate::out::{self, Outcome, bullets, rules};
use gsomia_core::explain::texts;

/// Arguments of `item seal`.
#[derive(Args)]
pub struct SealArgs {
    /// The originating party (must be the party of `--keys`).
    #[arg(long)]
    originator: String,
    /// The classification, in the originator's policy.
    #[arg(long)]
    level: String,
    /// A topic (repeat for several).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// The REL TO marking (repeat); none: unmarked.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    /// The recipient party.
    #[arg(long)]
    to: String,
    /// The originator's key directory.
    #[arg(long)]
    keys: PathBuf,
    /// The recipient's public identity (file or key directory).
    #[arg(long)]
    recipient: PathBuf,
    /// The content to seal.
    #[arg(long = "in")]
    input: PathBuf,
    /// Where to write the sealed item (never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// The instant of release, for the release decision; default: now.
    #[arg(long)]
    at: Option<String>,
}

/// Arguments of `item open`.
#[derive(Args)]
pub struct OpenArgs {
    /// The sealed item.
    file: PathBuf,
    /// The recipient's key directory.
    #[arg(long)]
    keys: PathBuf,
    /// The sender's public identity; when given, the item must be signed with its key.
    #[arg(long)]
    sender: Option<PathBuf>,
    /// Where to write the content (never overwritten).
    #[arg(long)]
    out: PathBuf,
}

fn wire_doc(w: &WireLabel) -> Value {
    json!({
        "policy": w.policy,
        "level": w.level,
        "originator": w.originator,
        "created_at": stanag::format_time(w.created_at.0, w.created_at.1),
        "topics": w.topics,
        "rel_to": w.rel_to,
        "informative": w.informative.iter().map(|(t, v)| json!({ "tag": t, "values": v })).collect::<Vec<_>>(),
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create `{}` (outputs are never overwritten)",
                path.display()
            )
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `gsomia item seal`: decides the release, then binds and encrypts.
pub fn seal(dir: Option<PathBuf>, a: &SealArgs) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let (party, signer) = keys::signer(&a.keys)?;
    let originator = reg.party(&a.originator)?;
    if reg.party_id(originator) != party {
        bail!(
            "`--keys` belong to `{party}`, not to the originator `{}`",
            reg.party_id(originator)
        );
    }
    let recipient_party = reg.party(&a.to)?;
    let id = keys::read_identity(&a.recipient)?;
    if !id.party.eq_ignore_ascii_case(reg.party_id(recipient_party)) {
        bail!(
            "`--recipient` is `{}`'s identity, not `{}`'s",
            id.party,
            reg.party_id(recipient_party)
        );
    }
    let recipient_key = id
        .recipient
        .with_context(|| format!("`{}` has no recipient_key", a.recipient.display()))?;
    let at = out::instant_or_now(a.at.as_deref(), "--at")?;
    let topics: Vec<&str> = a.topics.iter().map(String::as_str).collect();
    let rel: Vec<&str> = a.rel_to.iter().map(String::as_str).collect();
    let label = reg.label(
        &party,
        &a.level,
        &topics,
        (!rel.is_empty()).then_some(rel.as_slice()),
        at,
    )?;
    // Deny by default: nothing is sealed for a party the agreements do not allow.
    let decision = decide_release(
        &reg,
        &ReleaseRequest {
            label: &label,
            item: None,
            holder: originator,
            recipient: recipient_party,
            at,
            consents: &[],
        },
    );
    let reasons = reg.explain_decision(&decision, at);
    let Decision::Release(release) = decision else {
        return Ok(Outcome::answer(
            json!({ "sealed": false, "decision": "withhold", "reasons": texts(&reasons), "rules": rules(&reasons) }),
            format!(
                "WITHHOLD  nothing sealed for {}\nreasons:\n{}",
                reg.party_id(recipient_party),
                bullets(&reasons)
            ),
            true,
        ));
    };
    let content = gsomia_node::files::read_bounded(&a.input, item::MAX_CONTENT as u64)
        .with_context(|| format!("cannot read `{}`", a.input.display()))?;
    let wire = to_wire(&reg, &label);
    let sealed = item::seal(
        &wire,
        &content,
        &party,
        &signer.key,
        reg.party_id(recipient_party),
        &recipient_key,
        keys::entropy()?,
    )?;
    write_new(&a.out, &sealed)?;
    let digest = item::inspect(&sealed)?.header.content_digest;
    Ok(Outcome::ok(
        json!({
            "sealed": true, "out": a.out.display().to_string(), "bytes": sealed.len(),
            "label": wire_doc(&wire), "content_sha384": hex(&digest),
            "recipient": reg.party_id(recipient_party), "agreement": reg.agreement_id(release.agreement),
            "recipient_level": reg.level_name(release.recipient_level),
            "reasons": texts(&reasons), "rules": rules(&reasons),
        }),
        format!(
            "SEALED  {} ({} bytes) for {} under {}\n  label      {} ({}), topics {}\n  sha384     {}\n  encryption HPKE X-Wing (ML-KEM-768 + X25519), AES-256-GCM\n",
            a.out.display(),
            sealed.len(),
            reg.party_id(recipient_party),
            reg.agreement_id(release.agreement),
            wire.level,
            wire.policy,
            wire.topics.join(", "),
            hex(&digest)
        ),
    ))
}

/// `gsomia item inspect`.
pub fn inspect(file: &Path, sender: Option<&Path>) -> Result<Outcome> {
    let bytes = read_sealed(file)?;
    let i = match item::inspect(&bytes) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Outcome::answer(
                json!({ "valid": false, "error": e.to_string() }),
                format!("INVALID  {}: {e}\n", file.display()),
                true,
            ));
        }
    };
    let sender_check = match sender {
        Some(p) => {
            let id = keys::read_identity(p)?;
            Some(
                i.check_sender(&id.party, &id.verifier.key)
                    .map_err(|e| e.to_string()),
            )
        }
        None => None,
    };
    let h = &i.header;
    let status = match &sender_check {
        None => "binding signature valid for the embedded sender key (give --sender to check it is the sender's)".to_owned(),
        Some(Ok(())) => format!("binding signature valid, made with {}'s known key", h.sender),
        Some(Err(e)) => format!("NOT the sender's key: {e}"),
    };
    let refused = matches!(sender_check, Some(Err(_)));
    Ok(Outcome::answer(
        json!({
            "valid": !refused, "label": wire_doc(&h.label), "sender": h.sender,
            "sender_key": h.sender_key.to_base64(), "recipient": h.recipient,
            "recipient_key_sha256": hex(&h.recipient_key), "content_sha384": hex(&h.content_digest),
            "content_length": h.content_len, "signature": status,
        }),
        format!(
            "{}\n  label      {} ({}), originator {}, created {}\n  topics     {}\n  rel to     {}\n  from       {} → {}\n  content    {} bytes, sha384 {}\n  signature  {status}\n",
            file.display(),
            h.label.level,
            h.label.policy,
            h.label.originator,
            stanag::format_time(h.label.created_at.0, h.label.created_at.1),
            h.label.topics.join(", "),
            h.label
                .rel_to
                .as_ref()
                .map_or("(unmarked)".to_owned(), |r| r.join(", ")),
            h.sender,
            h.recipient,
            h.content_len,
            hex(&h.content_digest)
        ),
        refused,
    ))
}

/// `gsomia item open`: verifies, decrypts, and shows both labels.
pub fn open(dir: Option<PathBuf>, a: &OpenArgs) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let bytes = read_sealed(&a.file)?;
    let (me, key) = keys::recipient(&a.keys)?;
    let sender = a.sender.as_deref().map(keys::read_identity).transpose()?;
    let result = item::open(
        &bytes,
        &key,
        sender.as_ref().map(|s| (s.party.as_str(), &s.verifier.key)),
    );
    let (header, content) = match result {
        Ok(x) => x,
        Err(e) => {
            return Ok(Outcome::answer(
                json!({ "opened": false, "error": e.to_string() }),
                format!("REFUSED  {}: {e}\n", a.file.display()),
                true,
            ));
        }
    };
    // The receiver resolves the label against its own profiles and marks the
    // equivalent level beside the originator's.
    let label = from_wire(&reg, &header.label)?;
    let my_party = reg.party(&me)?;
    let equivalent = if label.originator == my_party {
        None
    } else {
        let eq = reg
            .mark_received(&label, my_party, None, Some(label.created_at))
            .map_err(|e| anyhow::anyhow!("{}", reg.explain_no_equivalent(&e)))?;
        Some((
            reg.level_name(eq.label.level).to_owned(),
            eq.agreement
                .map(|a| reg.agreement_id(a).to_owned())
                .unwrap_or_default(),
        ))
    };
    write_new(&a.out, &content)?;
    Ok(Outcome::ok(
        json!({
            "opened": true, "out": a.out.display().to_string(), "bytes": content.len(),
            "original_label": wire_doc(&header.label),
            "equivalent_label": equivalent.as_ref().map(|(l, ag)| json!({ "policy": me, "level": l, "agreement": ag })),
            "sender": header.sender,
        }),
        format!(
            "OPENED  {} → {} ({} bytes)\n  original   {} ({}), unchanged\n{}",
            a.file.display(),
            a.out.display(),
            content.len(),
            header.label.level,
            header.label.policy,
            equivalent
                .map(|(l, ag)| format!("  marked     {l} ({me}) under {ag}\n"))
                .unwrap_or_default()
        ),
    ))
}

/// `gsomia label export --format stanag4774 FILE.gsi`.
pub fn export(file: &Path) -> Result<Outcome> {
    let bytes = read_sealed(file)?;
    let i = item::inspect(&bytes).with_context(|| format!("`{}`", file.display()))?;
    let xml = stanag::export(&i.header.label);
    Ok(Outcome::ok(
        json!({ "format": "stanag4774", "xml": xml }),
        xml,
    ))
}

/// `gsomia label import FILE.xml`: parses and resolves against the profiles.
pub fn import(dir: Option<PathBuf>, file: &Path) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let xml = gsomia_node::files::read_text(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let wire = stanag::import(&xml).with_context(|| format!("`{}`", file.display()))?;
    let label = from_wire(&reg, &wire).with_context(|| format!("`{}`", file.display()))?;
    let info = reg.level_info(label.level);
    Ok(Outcome::ok(
        json!({ "label": wire_doc(&wire), "english": info.map(|i| i.english.as_str()), "rank": info.map(|i| i.rank) }),
        format!(
            "{} ({}, {}), originator {}, created {}\n  topics {}\n  rel to {}\n",
            wire.level,
            wire.policy,
            info.map_or("?", |i| i.english.as_str()),
            wire.originator,
            stanag::format_time(wire.created_at.0, wire.created_at.1),
            wire.topics.join(", "),
            wire.rel_to
                .as_ref()
                .map_or("(unmarked)".to_owned(), |r| r.join(", "))
        ),
    ))
}

/// A sealed item's bytes: at most the largest content and its header.
fn read_sealed(file: &Path) -> Result<Vec<u8>> {
    gsomia_node::files::read_bounded(file, item::MAX_CONTENT as u64 + 64 * 1024)
        .with_context(|| format!("cannot read `{}`", file.display()))
}
