//! A node directory: `gsomia init`, `person add|list`, `identity export`,
//! `partner add`. The node crate does the work; this renders it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gsomia_node::Settings;
use gsomia_node::register::{NewPerson, Role};
use serde_json::{Value, json};

use crate::load;
use crate::out::{self, Outcome};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `gsomia init`: a node directory, its database an SQLite file in it or
/// (`--database postgres://…`) a PostgreSQL database.
pub fn init(party: &str, dir: &Path, database: Option<&str>) -> Result<Outcome> {
    let reg = load::registry(None)?;
    let made = runtime()?.block_on(gsomia_node::init(&reg, party, dir, database))?;
    let (party, fingerprint) = (made.party, made.certificate_sha256);
    let db = gsomia_node::Database::parse(database.unwrap_or("node.db"), dir);
    let described = match &db {
        gsomia_node::Database::Sqlite(_) => "node.db (SQLite, WAL, synchronous=FULL)".to_owned(),
        gsomia_node::Database::Postgres(_) => format!("{db} (PostgreSQL)"),
    };
    Ok(Outcome::ok(
        json!({ "party": party, "dir": dir.display().to_string(), "database": db.to_string(), "certificate_sha256": fingerprint }),
        format!(
            "node for {party} initialised in {}\n  config    node.toml\n  keys      keys/ (signing and recipient keys, owner-only)\n  tls       tls/ (local CA and node certificate, sha256 {fingerprint})\n  database  {described} with an empty ledger\nnext: gsomia person add --dir {} …\n",
            dir.display(),
            dir.display()
        ),
    ))
}

/// Arguments of `person add`.
#[derive(clap::Args)]
pub struct PersonArgs {
    /// The node directory.
    #[arg(long)]
    dir: PathBuf,
    /// The person's name.
    #[arg(long)]
    name: String,
    /// Clearance: a level of the party's policy.
    #[arg(long)]
    clearance: String,
    /// Last day of the clearance (a date in the party's zone, valid through that day) or an instant.
    #[arg(long)]
    until: String,
    /// A topic the person needs to know (repeat).
    #[arg(long = "need-to-know")]
    need_to_know: Vec<String>,
    /// officer, security-officer or auditor.
    #[arg(long, value_parser = ["officer", "security-officer", "auditor"])]
    role: String,
    /// The contractor facility the person belongs to (Art 16: they read nothing
    /// until its conditions hold and they are briefed; `gsomia facility`).
    #[arg(long)]
    pub facility: Option<String>,
}

impl PersonArgs {
    /// The person to register.
    pub fn new_person(&self) -> Result<NewPerson> {
        Ok(NewPerson {
            name: self.name.clone(),
            clearance: self.clearance.clone(),
            until: self.until.clone(),
            need_to_know: self.need_to_know.clone(),
            role: Role::parse(&self.role).context("invalid `--role`")?,
            facility: self.facility.clone(),
            visit: None,
        })
    }

    /// Arguments for registering a person programmatically (the demo).
    pub fn new(
        dir: &Path,
        name: &str,
        clearance: &str,
        until: &str,
        need_to_know: &[&str],
        role: &str,
    ) -> Self {
        PersonArgs {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            clearance: clearance.to_owned(),
            until: until.to_owned(),
            need_to_know: need_to_know.iter().map(|s| (*s).to_owned()).collect(),
            role: role.to_owned(),
            facility: None,
        }
    }
}

/// Registers a person at `now` (the person and its ledger entry in one
/// transaction); returns the answer and the token.
pub fn register(a: &PersonArgs, now: jiff::Timestamp) -> Result<(Value, String)> {
    let settings = Settings::load(&a.dir)?;
    let reg = load::registry(None)?;
    let r = runtime()?.block_on(gsomia_node::register::register_at(
        &settings,
        &reg,
        &a.new_person()?,
        now,
    ))?;
    Ok(registered(&r))
}

/// A registration's answer and the token.
pub fn registered(r: &gsomia_node::register::Registered) -> (Value, String) {
    let p = &r.person;
    (
        json!({ "id": p.id, "name": p.name, "role": p.role.as_str(), "clearance": p.clearance, "clearance_until": p.clearance_until, "need_to_know": p.need_to_know, "facility": p.facility, "token": r.token }),
        r.token.clone(),
    )
}

/// `gsomia person add`: registers a person, prints their token once.
pub fn person_add(a: &PersonArgs) -> Result<Outcome> {
    let (doc, token) = register(a, out::now())?;
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    let text = format!(
        "registered {} ({}) as {} with clearance {} until {}\ntoken (shown once, stored only as a hash):\n{token}\n",
        a.name,
        s("id"),
        s("role"),
        s("clearance"),
        s("clearance_until"),
    );
    Ok(Outcome::ok(doc, text))
}

/// `gsomia person list`: everyone, with whether their entry is in force,
/// revoked, or failed its integrity check (refused on every request).
pub fn person_list(dir: &Path, limit: u32, next: Option<&str>) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let all = runtime()?.block_on(gsomia_node::register::people(&settings))?;
    let from = match next {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .with_context(|| format!("`--next {c}` is not a cursor `person list` gave"))?,
    };
    let total = all.len();
    let people: Vec<_> = all.into_iter().skip(from).take(limit as usize).collect();
    let to = from + people.len();
    let next = (to < total).then(|| to.to_string());
    let mut text = String::new();
    let mut bad = false;
    let docs: Vec<_> = people
        .iter()
        .map(|l| {
            let p = &l.person;
            let status = match (&l.checked, &p.revoked_at) {
                (Err(_), _) => "INTEGRITY".to_owned(),
                (Ok(()), Some(at)) => format!("revoked {at}"),
                (Ok(()), None) => "active".to_owned(),
            };
            bad |= l.checked.is_err();
            let _ = writeln!(text, "{:<20} {:<18} {:<16} {:<26} {:<10} {}", p.id, p.role.as_str(), p.clearance, p.clearance_until, status, p.name);
            if let Err(why) = &l.checked {
                let _ = writeln!(text, "  ! {why}");
            }
            json!({ "id": p.id, "name": p.name, "role": p.role.as_str(), "clearance": p.clearance, "clearance_until": p.clearance_until,
                "need_to_know": p.need_to_know, "revoked_at": p.revoked_at, "integrity": l.checked.as_ref().err() })
        })
        .collect();
    if let Some(n) = &next {
        let _ = writeln!(text, "(more: --next {n})");
    }
    Ok(Outcome::answer(
        json!({ "people": docs, "next": next }),
        text,
        bad,
    ))
}

/// Who is acting at this terminal, for the ledger: `--by`, else the
/// operating-system user.
fn operator(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .map_or_else(|| "unknown operator".to_owned(), |u| format!("{u} (cli)"))
}

/// `gsomia person revoke`.
pub fn person_revoke(
    dir: &Path,
    id: &str,
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let by = operator(by);
    let c = runtime()?.block_on(gsomia_node::register::revoke(
        &settings,
        id,
        jiff::Timestamp::now(),
        &by,
        reason,
    ))?;
    let at = c.person.revoked_at.clone().unwrap_or_default();
    Ok(Outcome::ok(
        json!({ "id": id, "revoked_at": at, "by": by, "reason": reason }),
        format!(
            "revoked {id} ({}) at {at}, by {by}: their token is refused from now on
",
            c.person.name
        ),
    ))
}

/// `gsomia person rotate-token`.
pub fn person_rotate(dir: &Path, id: &str, by: Option<&str>) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let by = operator(by);
    let c = runtime()?.block_on(gsomia_node::register::rotate_token(
        &settings,
        id,
        jiff::Timestamp::now(),
        &by,
    ))?;
    let token = c.token.unwrap_or_default();
    Ok(Outcome::ok(
        json!({ "id": id, "token": token, "by": by }),
        format!(
            "new token for {id} ({}); the old one is refused from now on
token (shown once, stored only as a hash):
{token}
",
            c.person.name
        ),
    ))
}

/// `gsomia identity export`: the public bundle a partner needs.
pub fn identity_export(dir: &Path) -> Result<Outcome> {
    let bundle = Settings::load(dir)?.identity_bundle()?;
    Ok(Outcome::ok(json!({ "bundle": bundle }), bundle))
}

/// `gsomia partner list`.
pub fn partner_list(dir: &Path) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let partners = gsomia_node::settings::partners(&settings)?;
    let mut text = String::new();
    let docs: Vec<Value> = partners
        .iter()
        .map(|p| {
            let fp = p.certificate_sha256();
            let _ = writeln!(text, "{:<5} {:<32} {:<40} certificate sha256 {fp}", p.party, p.verifier.name, p.endpoint);
            json!({ "party": p.party, "name": p.verifier.name, "endpoint": p.endpoint, "certificate_sha256": fp })
        })
        .collect();
    Ok(Outcome::ok(json!({ "partners": docs }), text))
}

/// `gsomia store migrate`.
pub fn store_migrate(dir: &Path) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let applied = runtime()?
        .block_on(settings.database.migrate())
        .with_context(|| format!("migrating {}", settings.database))?;
    let text = if applied.is_empty() {
        format!("{}: the schema is up to date\n", settings.database)
    } else {
        format!(
            "{}: applied migration(s) {}\n",
            settings.database,
            applied
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok(Outcome::ok(
        json!({ "database": settings.database.to_string(), "applied": applied }),
        text,
    ))
}

/// `gsomia store copy`: progress on standard error (each table as it
/// starts and ends, and every few seconds in a large one).
#[expect(
    clippy::print_stderr,
    reason = "progress of a long copy, on standard error"
)]
pub fn store_copy(from: &str, to: &str) -> Result<Outcome> {
    let path = Path::new(from.strip_prefix("sqlite:").unwrap_or(from));
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        anyhow::bail!("`--to {to}`: a postgres:// URL");
    }
    let shown = gsomia_node::store::redacted(to);
    let mut said = std::time::Instant::now();
    let mut progress = |table: &str, done: u64, total: u64| {
        if done == 0 || done == total || said.elapsed() >= std::time::Duration::from_secs(2) {
            if total > 0 {
                eprintln!("store copy: {table:<18} {done}/{total} rows");
            }
            said = std::time::Instant::now();
        }
    };
    let c = runtime()?
        .block_on(gsomia_node::store::copy_from_sqlite(
            path,
            to,
            &mut progress,
        ))
        .with_context(|| format!("copying {} to {shown}", path.display()))?;
    let mut text = format!("copied {} to {shown}\n", path.display());
    for (table, n) in &c.rows {
        if *n > 0 {
            let _ = writeln!(text, "  {table:<18} {n} rows");
        }
    }
    let _ = writeln!(
        text,
        "ledger: {} records, root {} on both sides (each record re-hashed, chains checked)\nnext: set `database = \"{shown}\"` in node.toml (with its password, if any) and start the node",
        c.ledger_size,
        c.root.to_hex()
    );
    Ok(Outcome::ok(
        json!({
            "from": path.display().to_string(),
            "to": shown,
            "rows": c.rows.iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
            "ledger_size": c.ledger_size,
            "root": c.root.to_hex(),
        }),
        text,
    ))
}

/// `gsomia partner remove`.
pub fn partner_remove(dir: &Path, party: &str) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let file = gsomia_node::settings::remove_partner(&settings, party)?;
    Ok(Outcome::ok(
        json!({ "removed": party, "file": file.display().to_string() }),
        format!(
            "removed {party} ({}); a running node stops accepting it within seconds\n",
            file.display()
        ),
    ))
}

/// `gsomia partner add`: pins a partner's identity and certificate.
pub fn partner_add(dir: &Path, bundle: &Path, endpoint: &str) -> Result<Outcome> {
    let settings = Settings::load(dir)?;
    let reg = load::registry(None)?;
    let p = gsomia_node::settings::add_partner(&settings, &reg, bundle, endpoint)?;
    Ok(Outcome::ok(
        json!({ "party": p.party, "endpoint": p.endpoint, "certificate_sha256": p.certificate_sha256, "file": p.file.display().to_string() }),
        format!(
            "partner {} added: {}, certificate pinned (sha256 {})\n",
            p.party, p.endpoint, p.certificate_sha256
        ),
    ))
}
