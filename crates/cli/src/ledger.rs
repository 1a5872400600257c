//! `gsomia ledger …` over a ledger directory.

use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_ledger::merkle::Hash;
use gsomia_ledger::note::{Checkpoint, Note, Verifier};
use gsomia_ledger::witness::{self, Refusal};
use gsomia_node::ledger_dir::{LedgerDir, LedgerDirError, WitnessDir};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::keys;
use crate::out::member;
use crate::out::{self, Outcome};

/// `gsomia ledger` subcommands.
#[derive(Subcommand)]
pub enum LedgerCmd {
    /// Create an empty ledger signed with a party's key.
    Init {
        /// The ledger directory.
        #[arg(long)]
        dir: PathBuf,
        /// The party's key directory (from `gsomia keys generate`).
        #[arg(long)]
        keys: PathBuf,
    },
    /// Append entries durably and sign a checkpoint.
    Append(AppendArgs),
    /// Recompute every root from the stored records and check every checkpoint.
    Verify {
        /// A ledger directory, or a node directory (`gsomia init`).
        #[arg(long)]
        dir: PathBuf,
        /// The log's public identity (file or key directory); default: the key in ledger.conf.
        #[arg(long)]
        log_key: Option<PathBuf>,
    },
    /// An inclusion proof for one entry.
    Prove {
        /// The ledger directory.
        #[arg(long)]
        dir: PathBuf,
        /// The entry's index (0-based).
        #[arg(long)]
        index: u64,
        /// The tree size to prove against; default: the latest checkpoint's.
        #[arg(long)]
        size: Option<u64>,
    },
    /// A consistency proof between two tree sizes.
    Consistency {
        /// The ledger directory.
        #[arg(long)]
        dir: PathBuf,
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size.
        #[arg(long)]
        to: u64,
    },
    /// Act as a partner's witness: cosign the latest checkpoint if it extends
    /// the last one cosigned; refuse rollbacks and forks and keep the evidence.
    Cosign {
        /// The partner's ledger directory.
        #[arg(long)]
        dir: PathBuf,
        /// The witness's state directory.
        #[arg(long)]
        witness: PathBuf,
        /// The witness's key directory.
        #[arg(long)]
        keys: PathBuf,
        /// The log's public identity; default: the key in the ledger's ledger.conf.
        #[arg(long)]
        log_key: Option<PathBuf>,
    },
    /// Size, latest checkpoint and its cosignatures.
    Status {
        /// The ledger directory.
        #[arg(long)]
        dir: PathBuf,
        /// Witness identities whose cosignatures to check (repeat).
        #[arg(long = "witness-key")]
        witness_keys: Vec<PathBuf>,
    },
}

/// The most an entries file (or standard input) may hold for one append.
const ENTRIES_LIMIT: u64 = 64 * 1024 * 1024;

/// Arguments of `ledger append`.
#[derive(Args)]
pub struct AppendArgs {
    /// The ledger directory.
    #[arg(long)]
    dir: PathBuf,
    /// The party's key directory (signs the new checkpoint).
    #[arg(long)]
    keys: PathBuf,
    /// Entry kind (item_created, release_decided, sent, received, delivered,
    /// read_allowed, read_denied, consent, copy, translation, destruction,
    /// loss_report, agreement_event).
    #[arg(long, required_unless_present = "entries", conflicts_with = "entries")]
    kind: Option<String>,
    /// Who acted (a party code or a person).
    #[arg(long, required_unless_present = "entries")]
    actor: Option<String>,
    /// The item concerned.
    #[arg(long)]
    item: Option<String>,
    /// A field `name=value` (repeat; names fixed per kind).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// When it happened (RFC 3339 with offset); default: now.
    #[arg(long)]
    at: Option<String>,
    /// A file of entries, one JSON object per line (`-` for standard input):
    /// {"kind", "at", "actor", "item", "fields": {..}}; appended as one batch.
    #[arg(long, value_name = "FILE")]
    entries: Option<PathBuf>,
}

/// Runs a ledger subcommand.
pub fn run(cmd: LedgerCmd) -> Result<Outcome> {
    match cmd {
        LedgerCmd::Init { dir, keys } => init(&dir, &keys),
        LedgerCmd::Append(a) => append(&a),
        LedgerCmd::Verify { dir, log_key } => verify(&dir, log_key.as_deref()),
        LedgerCmd::Prove { dir, index, size } => prove(&dir, index, size),
        LedgerCmd::Consistency { dir, from, to } => consistency(&dir, from, to),
        LedgerCmd::Cosign {
            dir,
            witness,
            keys,
            log_key,
        } => cosign(&dir, &witness, &keys, log_key.as_deref()),
        LedgerCmd::Status { dir, witness_keys } => status(&dir, &witness_keys),
    }
}

fn init(dir: &Path, keys_dir: &Path) -> Result<Outcome> {
    let (party, signer) = keys::signer(keys_dir)?;
    let l = LedgerDir::create(dir, &signer.name, &signer.key.public())
        .with_context(|| format!("cannot create a ledger in `{}`", dir.display()))?;
    let note = l.checkpoint(&signer)?;
    Ok(Outcome::ok(
        json!({ "dir": dir.display().to_string(), "origin": l.origin(), "party": party, "size": 0 }),
        format!(
            "ledger for {party} created in {} (origin {})\n{}",
            dir.display(),
            l.origin(),
            note.render()
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryLine {
    kind: String,
    at: String,
    actor: String,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    fields: std::collections::BTreeMap<String, String>,
}

fn entry(
    kind: &str,
    at: &str,
    actor: &str,
    item: Option<String>,
    fields: Vec<(String, String)>,
) -> Result<Entry> {
    let kind = Kind::parse(kind).with_context(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown entry kind `{kind}`; kinds: {}", known.join(", "))
    })?;
    let ts = out::instant(at, "at")?;
    let nanos = u32::try_from(ts.subsec_nanosecond()).unwrap_or(0);
    Ok(Entry::new(
        kind,
        ts.as_second(),
        nanos,
        actor,
        item,
        fields,
    )?)
}

fn append(a: &AppendArgs) -> Result<Outcome> {
    let (_, signer) = keys::signer(&a.keys)?;
    let entries: Vec<Entry> = match &a.entries {
        Some(file) => {
            // The whole batch is held in memory before its one append: bounded.
            let bytes = if file.as_os_str() == "-" {
                gsomia_node::files::read_limited(std::io::stdin().lock(), ENTRIES_LIMIT)
            } else {
                gsomia_node::files::read_bounded(file, ENTRIES_LIMIT)
            }
            .with_context(|| format!("cannot read `{}`", file.display()))?;
            let mut reader: &[u8] = &bytes;
            let mut out = Vec::new();
            let mut n = 0usize;
            while let Some(line) = gsomia_node::files::next_line(&mut reader) {
                let line = line.with_context(|| format!("cannot read `{}`", file.display()))?;
                n += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let e: EntryLine = serde_json::from_str(&line)
                    .with_context(|| format!("{}:{n}: not an entry", file.display()))?;
                out.push(
                    entry(
                        &e.kind,
                        &e.at,
                        &e.actor,
                        e.item,
                        e.fields.into_iter().collect(),
                    )
                    .with_context(|| format!("{}:{n}", file.display()))?,
                );
            }
            if out.is_empty() {
                bail!("`{}` holds no entries", file.display());
            }
            out
        }
        None => {
            let mut fields = Vec::new();
            for f in &a.fields {
                let (k, v) = f
                    .split_once('=')
                    .with_context(|| format!("`--field {f}` is not NAME=VALUE"))?;
                fields.push((k.trim().to_owned(), v.to_owned()));
            }
            let at = match &a.at {
                Some(t) => t.clone(),
                None => out::now().to_string(),
            };
            vec![entry(
                a.kind.as_deref().unwrap_or_default(),
                &at,
                a.actor.as_deref().unwrap_or_default(),
                a.item.clone(),
                fields,
            )?]
        }
    };
    let n = entries.len();
    let mut l = LedgerDir::open(&a.dir)
        .with_context(|| format!("cannot open the ledger `{}`", a.dir.display()))?;
    let first = l.append(entries)?;
    let note = l.checkpoint(&signer)?;
    let size = l.size();
    Ok(Outcome::ok(
        json!({ "first_index": first, "appended": n, "size": size, "root": l.tree().root().to_hex(), "checkpoint": note.render() }),
        format!(
            "appended {n} entr{} at index {first}; size {size}, durable\n{}",
            if n == 1 { "y" } else { "ies" },
            note.render()
        ),
    ))
}

fn log_key(dir: &Path, given: Option<&Path>) -> Result<Verifier> {
    match given {
        Some(p) => Ok(keys::identity(p)?.1),
        None => Ok(LedgerDir::read_identity(dir)?),
    }
}

/// A node directory's holdings audited from its database.
fn node_audit(dir: &Path) -> Result<(gsomia_node::Settings, gsomia_node::audit::Audit)> {
    let settings = gsomia_node::Settings::load(dir)?;
    let audit = crate::node::runtime()?
        .block_on(gsomia_node::audit::audit(&settings))
        .with_context(|| format!("cannot audit the node `{}`", dir.display()))?;
    Ok((settings, audit))
}

fn first_bad(problem: &gsomia_ledger::verify::Problem) -> Option<u64> {
    use gsomia_ledger::verify::Problem;
    match problem {
        Problem::Malformed { index, .. }
        | Problem::Index { index, .. }
        | Problem::Altered { index }
        | Problem::Frame { index, .. } => Some(*index),
        Problem::Root { last, .. } => Some(*last),
        _ => None,
    }
}

/// `ledger verify --dir NODE`: the ledger and the holdings against it.
fn verify_node(dir: &Path, key: Option<&Path>) -> Result<Outcome> {
    if key.is_some() {
        bail!("`--log-key` is for ledger directories; a node's own key is in its keys/");
    }
    let (_, a) = node_audit(dir)?;
    let mut text = String::new();
    let latest = a.ledger.as_ref().ok().and_then(|r| r.latest.clone());
    match &a.ledger {
        Ok(r) => {
            let _ = writeln!(
                text,
                "{}  {} records, {} checkpoints verified; every leaf hash and root recomputed from the records
  root {}",
                if a.holds() { "OK" } else { "FAILED" },
                r.records,
                r.checkpoints,
                r.root.to_hex()
            );
        }
        Err(problem) => {
            let _ = writeln!(text, "FAILED  {problem}");
        }
    }
    if a.uncovered > 0 {
        let _ = writeln!(
            text,
            "  {} record(s) after the last checkpoint (size {}): not covered by a signature yet; the node signs them when it next runs",
            a.uncovered,
            latest.as_ref().map_or(0, |c| c.size)
        );
    }
    let (items, people, transfers) = a.checked;
    if a.ledger.is_ok() {
        let _ = writeln!(
            text,
            "  holdings: {items} items, {people} people, {transfers} transfers checked against their custody tags and the ledger"
        );
    }
    for f in &a.findings {
        let _ = writeln!(text, "  ! {f}");
    }
    if !a.alarms.is_empty() {
        let _ = writeln!(
            text,
            "  {} integrity alarm(s) recorded by the node",
            a.alarms.len()
        );
    }
    let doc = json!({
        "verified": a.holds(),
        "records": a.records,
        "checkpoints": a.ledger.as_ref().map(|r| r.checkpoints).unwrap_or(0),
        "root": a.ledger.as_ref().ok().map(|r| r.root.to_hex()),
        "latest": latest.as_ref().map(|c| json!({ "size": c.size, "root": c.root.to_hex() })),
        "uncovered": a.uncovered,
        "problem": a.ledger.as_ref().err().map(ToString::to_string),
        "first_bad_record": a.ledger.as_ref().err().and_then(first_bad),
        "findings": a.findings.iter().map(|f| json!({ "subject": f.subject, "what": f.what })).collect::<Vec<_>>(),
        "checked": { "items": items, "people": people, "transfers": transfers },
        "integrity_alarms": a.alarms.len(),
    });
    Ok(Outcome::answer(doc, text, !a.holds()))
}

fn verify(dir: &Path, key: Option<&Path>) -> Result<Outcome> {
    let result = if dir.join("node.toml").is_file() {
        return verify_node(dir, key);
    } else {
        let key = log_key(dir, key)?;
        match LedgerDir::verify_dir(dir, Some(&key)) {
            Ok(r) => Ok(r),
            Err(LedgerDirError::Invalid(problem)) => Err(problem),
            Err(e) => return Err(e.into()),
        }
    };
    match result {
        Ok(r) => Ok(Outcome::ok(
            json!({
                "verified": true, "records": r.records, "checkpoints": r.checkpoints, "root": r.root.to_hex(),
                "latest": r.latest.as_ref().map(|c| json!({ "size": c.size, "root": c.root.to_hex() })),
            }),
            format!(
                "OK  {} records, {} checkpoints verified; every root recomputed from the records\n  root {}\n",
                r.records,
                r.checkpoints,
                r.root.to_hex()
            ),
        )),
        Err(problem) => {
            let first_bad = first_bad(&problem);
            Ok(Outcome::answer(
                json!({ "verified": false, "problem": problem.to_string(), "first_bad_record": first_bad }),
                format!("FAILED  {problem}\n"),
                true,
            ))
        }
    }
}

fn field_str<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("?")
}

fn hex_list(hs: &[Hash]) -> Vec<String> {
    hs.iter().map(Hash::to_hex).collect()
}

fn open_read(dir: &Path) -> Result<(LedgerDir, u64)> {
    let l = LedgerDir::open_readonly(dir)
        .with_context(|| format!("cannot open the ledger `{}`", dir.display()))?;
    let latest = l
        .latest()?
        .map(|n| l.key().verify_checkpoint(&n).map(|c| c.size))
        .transpose()?
        .unwrap_or(0);
    Ok((l, latest))
}

fn prove(dir: &Path, index: u64, size: Option<u64>) -> Result<Outcome> {
    let (l, latest) = open_read(dir)?;
    let size = size.unwrap_or(latest);
    let proof = l.tree().inclusion_proof(index, size)?;
    let leaf = l.tree().leaf(index).context("no such entry")?;
    let root = l.tree().root_at(size)?;
    let mut text = format!(
        "inclusion of entry {index} in the tree of size {size}\n  leaf {}\n  root {}\n",
        leaf.to_hex(),
        root.to_hex()
    );
    for h in &proof {
        let _ = writeln!(text, "  - {}", h.to_hex());
    }
    Ok(Outcome::ok(
        json!({ "index": index, "size": size, "leaf_hash": leaf.to_hex(), "root": root.to_hex(), "proof": hex_list(&proof) }),
        text,
    ))
}

fn consistency(dir: &Path, from: u64, to: u64) -> Result<Outcome> {
    let (l, _) = open_read(dir)?;
    let proof = l.tree().consistency_proof(from, to)?;
    let (r1, r2) = (l.tree().root_at(from)?, l.tree().root_at(to)?);
    let mut text = format!(
        "consistency {from} → {to}\n  old root {}\n  new root {}\n",
        r1.to_hex(),
        r2.to_hex()
    );
    for h in &proof {
        let _ = writeln!(text, "  - {}", h.to_hex());
    }
    Ok(Outcome::ok(
        json!({ "from": from, "to": to, "old_root": r1.to_hex(), "new_root": r2.to_hex(), "proof": hex_list(&proof) }),
        text,
    ))
}

fn cosign(dir: &Path, witness_dir: &Path, keys_dir: &Path, key: Option<&Path>) -> Result<Outcome> {
    let log = log_key(dir, key)?;
    let (party, signer) = keys::signer(keys_dir)?;
    // The partner's ledger must verify in full before anything is cosigned.
    LedgerDir::verify_dir(dir, Some(&log))?;
    let (l, _) = open_read(dir)?;
    let note: Note = l.latest()?.context("the ledger has no checkpoint")?;
    let w = WitnessDir::open(witness_dir)?;
    let last: Option<Checkpoint> = w.last(&log)?;
    let offered = log.verify_checkpoint(&note)?;
    let proof = match &last {
        Some(c) if c.size <= offered.size && c.size <= l.size() => {
            l.tree().consistency_proof(c.size, offered.size)?
        }
        _ => Vec::new(),
    };
    let time = u64::try_from(out::now().as_second()).unwrap_or(0);
    match witness::cosign(&log, &signer, last.as_ref(), &note, &proof, time) {
        Ok((c, sig)) => {
            let signed = l.add_cosignature(c.size, sig)?;
            w.record(&log.name, &signed)?;
            Ok(Outcome::ok(
                json!({ "cosigned": true, "witness": signer.name, "origin": c.origin, "size": c.size, "root": c.root.to_hex(), "previous_size": last.map(|p| p.size) }),
                format!(
                    "COSIGNED by {party} ({}): {} size {}\n{}",
                    signer.name,
                    c.origin,
                    c.size,
                    signed.render()
                ),
            ))
        }
        Err(refusal) => {
            let evidence = match &refusal {
                Refusal::Rollback { .. } | Refusal::Fork { .. } | Refusal::Inconsistent { .. } => {
                    Some(w.keep_evidence(&log.name, &note)?)
                }
                Refusal::Unsigned(_) => None,
            };
            Ok(Outcome::answer(
                json!({ "cosigned": false, "refusal": refusal.to_string(), "evidence": evidence.as_ref().map(|p| p.display().to_string()) }),
                format!(
                    "REFUSED  {refusal}{}\n",
                    evidence
                        .map(|p| format!("\n  both checkpoints kept in {}", p.display()))
                        .unwrap_or_default()
                ),
                true,
            ))
        }
    }
}

/// A node directory's ledger verified from its database, its holdings
/// audited against it, and its partners' cosignatures of its checkpoints,
/// each verified (the partner's witness signature and this node's own
/// signature on the same note).
pub(crate) fn node_status(dir: &Path) -> Result<Value> {
    let (settings, a) = node_audit(dir)?;
    let cosigs: Vec<Value> = a
        .cosignatures
        .iter()
        .map(|c| match &c.latest {
            None => json!({ "party": c.party, "cosigned": false }),
            Some((size, at, ok)) => json!({ "party": c.party, "cosigned": true, "size": size,
                "kept_at": at, "verified": ok.is_ok(), "problem": ok.as_ref().err() }),
        })
        .collect();
    let findings: Vec<Value> = a
        .findings
        .iter()
        .map(|f| json!({ "subject": f.subject, "what": f.what }))
        .collect();
    let alarms: Vec<Value> = a
        .alarms
        .iter()
        .rev()
        .take(10)
        .map(|x| json!({ "index": x.index, "at": x.at, "subject": x.subject, "check": x.check }))
        .collect();
    Ok(match &a.ledger {
        Ok(r) => json!({
            "party": settings.party, "origin": a.key.name, "verified": a.holds(), "records": r.records,
            "latest": r.latest.as_ref().map(|c| json!({ "size": c.size, "root": c.root.to_hex() })),
            "uncovered": a.uncovered, "findings": findings,
            "integrity_alarms": a.alarms.len(), "latest_alarms": alarms,
            "cosignatures": cosigs,
        }),
        Err(problem) => json!({
            "party": settings.party, "origin": a.key.name, "verified": false,
            "records": a.records, "problem": problem.to_string(), "findings": findings,
            "integrity_alarms": a.alarms.len(), "latest_alarms": alarms,
            "cosignatures": cosigs,
        }),
    })
}

fn status(dir: &Path, witness_keys: &[PathBuf]) -> Result<Outcome> {
    if dir.join("node.toml").is_file() {
        let doc = node_status(dir)?;
        let mut text = format!(
            "node ledger {} ({})\n",
            dir.display(),
            field_str(&doc, "origin")
        );
        let _ = writeln!(text, "  records     {}", member(&doc, "records"));
        if *member(&doc, "verified") == json!(true) {
            let _ = writeln!(
                text,
                "  verified    yes (rebuilt from the database; holdings checked against it)"
            );
        } else if doc.get("problem").is_some() {
            let _ = writeln!(text, "  verified    NO: {}", field_str(&doc, "problem"));
        } else {
            let _ = writeln!(
                text,
                "  verified    NO: the holdings disagree with the ledger"
            );
        }
        if let Some(latest) = doc.get("latest").filter(|l| !l.is_null()) {
            let _ = writeln!(
                text,
                "  checkpoint  size {} root {}",
                member(latest, "size"),
                field_str(latest, "root")
            );
        }
        if member(&doc, "uncovered").as_u64().is_some_and(|n| n > 0) {
            let _ = writeln!(
                text,
                "  uncovered   {} record(s) after the last checkpoint",
                member(&doc, "uncovered")
            );
        }
        for f in member(&doc, "findings").as_array().into_iter().flatten() {
            let _ = writeln!(
                text,
                "  !           {}: {}",
                field_str(f, "subject"),
                field_str(f, "what")
            );
        }
        let alarms = member(&doc, "integrity_alarms").as_u64().unwrap_or(0);
        if alarms > 0 {
            let _ = writeln!(
                text,
                "  alarms      {alarms} integrity alarm(s) in the ledger; latest:"
            );
            for x in member(&doc, "latest_alarms")
                .as_array()
                .into_iter()
                .flatten()
            {
                let _ = writeln!(
                    text,
                    "              #{} {} {} ({})",
                    member(x, "index"),
                    field_str(x, "at"),
                    field_str(x, "subject"),
                    field_str(x, "check")
                );
            }
        }
        let mut bad = *member(&doc, "verified") != json!(true);
        for c in member(&doc, "cosignatures")
            .as_array()
            .into_iter()
            .flatten()
        {
            let party = field_str(c, "party");
            if *member(c, "cosigned") != json!(true) {
                let _ = writeln!(text, "  cosigned    {party}: not yet");
            } else if *member(c, "verified") == json!(true) {
                let _ = writeln!(
                    text,
                    "  cosigned    {party}: checkpoint of size {} (kept {})",
                    member(c, "size"),
                    field_str(c, "kept_at")
                );
            } else {
                bad = true;
                let _ = writeln!(
                    text,
                    "  cosigned    {party}: INVALID ({})",
                    field_str(c, "problem")
                );
            }
        }
        return Ok(Outcome::answer(doc, text, bad));
    }
    let log = LedgerDir::read_identity(dir)?;
    let report = LedgerDir::verify_dir(dir, Some(&log));
    let (verified, size, latest) = match &report {
        Ok(r) => (Value::Bool(true), r.records, r.latest.clone()),
        Err(_) => (Value::Bool(false), 0, None),
    };
    let mut cosigs = Vec::new();
    let mut text = format!("ledger {} ({})\n", dir.display(), log.name);
    match &report {
        Ok(r) => {
            let _ = writeln!(text, "  records     {}", r.records);
            let _ = writeln!(text, "  verified    yes ({} checkpoints)", r.checkpoints);
        }
        Err(e) => {
            let _ = writeln!(text, "  verified    NO: {e}");
        }
    }
    if let Some(c) = &latest {
        let _ = writeln!(
            text,
            "  checkpoint  size {} root {}",
            c.size,
            c.root.to_hex()
        );
        let (_, note_text) = LedgerDir::read_checkpoint(dir, c.size)?;
        let note = Note::parse(&note_text)?;
        let others: Vec<&str> = note
            .signatures
            .iter()
            .filter(|s| s.name != log.name)
            .map(|s| s.name.as_str())
            .collect();
        for wk in witness_keys {
            let (party, v) = keys::identity(wk)?;
            let r = v.verify_cosignature(&note);
            let _ = writeln!(
                text,
                "  cosigned    {party} ({}): {}",
                v.name,
                match &r {
                    Ok(t) => format!(
                        "yes, at {}",
                        jiff::Timestamp::from_second(i64::try_from(*t).unwrap_or(0))
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    ),
                    Err(e) => format!("NO ({e})"),
                }
            );
            cosigs.push(
                json!({ "party": party, "name": v.name, "verified": r.is_ok(), "time": r.ok() }),
            );
        }
        if witness_keys.is_empty() {
            let _ = writeln!(
                text,
                "  signatures  {}",
                if others.is_empty() {
                    "log only".to_owned()
                } else {
                    format!("log + {}", others.join(", "))
                }
            );
        }
    }
    let refused = !verified.as_bool().unwrap_or(false)
        || cosigs
            .iter()
            .any(|c| c.get("verified") == Some(&json!(false)));
    Ok(Outcome::answer(
        json!({
            "origin": log.name, "verified": verified, "records": size,
            "latest": latest.map(|c| json!({ "size": c.size, "root": c.root.to_hex() })),
            "cosignatures": cosigs,
        }),
        text,
        refused,
    ))
}
