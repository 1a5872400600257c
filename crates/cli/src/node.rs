//! A node directory: `gsomia init`, `person add|list`, `identity export`,
//! `partner add`.
//!
//! ```text
//! DIR/node.toml          party, listen addresses, paths
//! DIR/keys/              signing.key, recipient.key (0600), identity.toml
//! DIR/tls/               ca.pem, ca.key, node.pem, node.key (keys 0600): a local CA
//!                        for trying it out; operators point node.toml at real PKI files
//! DIR/node.db            SQLite (WAL, synchronous=FULL): people, items, transfers, ledger
//! DIR/partners/XXX.toml  partners' identities, pinned certificates and endpoints
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_ledger::merkle::Tree;
use gsomia_ledger::note::Checkpoint;
use gsomia_store::{Batch, Person, Role, SqliteStore, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::keys;
use crate::load;
use crate::out::{self, Outcome, member};

const CONFIG: &str = "node.toml";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write as _;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn write_public(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

/// The parsed `node.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The party this node serves.
    pub party: String,
    /// Where the API for the party's own users listens.
    pub api_listen: String,
    /// Where the peer endpoint for partners listens (mutual TLS).
    pub peer_listen: String,
    /// The SQLite database.
    pub database: PathBuf,
    /// The party's keys.
    pub keys: PathBuf,
    /// The TLS certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// The TLS private key (PEM).
    pub tls_key: PathBuf,
    /// The CA whose certificates this node's users and tools trust (PEM).
    pub tls_ca: PathBuf,
}

/// Reads `DIR/node.toml`; relative paths are relative to DIR.
pub fn config(dir: &Path) -> Result<NodeConfig> {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read `{}` (is this a node directory? see `gsomia init`)",
            path.display()
        )
    })?;
    let mut c: NodeConfig = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}`: {}", path.display(), e.message()))?;
    for p in [
        &mut c.database,
        &mut c.keys,
        &mut c.tls_cert,
        &mut c.tls_key,
        &mut c.tls_ca,
    ] {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    }
    for (name, addr) in [
        ("api_listen", &c.api_listen),
        ("peer_listen", &c.peer_listen),
    ] {
        addr.parse::<std::net::SocketAddr>().with_context(|| {
            format!(
                "`{}`: `{name} = {addr}` is not an address such as 127.0.0.1:8443",
                path.display()
            )
        })?;
    }
    for f in [&c.tls_cert, &c.tls_key, &c.tls_ca] {
        if !f.is_file() {
            bail!("`{}`: `{}` does not exist", path.display(), f.display());
        }
    }
    Ok(c)
}

fn tls_identity(dir: &Path, party: &str) -> Result<String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).with_context(|| format!("cannot create `{}`", tls.display()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("gsomia local CA {party}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, format!("gsomia node {party}"));
    let leaf_key = KeyPair::generate()?;
    let ca_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    write_public(&tls.join("ca.pem"), &ca_pem)?;
    write_secret(&tls.join("ca.key"), &ca_key_pem)?;
    write_public(&tls.join("node.pem"), &leaf_cert.pem())?;
    write_secret(&tls.join("node.key"), &leaf_key.serialize_pem())?;
    Ok(leaf_cert.pem())
}

/// `gsomia init`.
pub fn init(party: &str, dir: &Path) -> Result<Outcome> {
    let reg = load::registry(None)?;
    let p = reg.party(party)?;
    let party = reg.party_id(p).to_owned();
    if dir.join(CONFIG).exists() {
        bail!("`{}` is already a node directory", dir.display());
    }
    std::fs::create_dir_all(dir.join("partners"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    keys::generate(&party, &dir.join("keys"))?;
    let cert = tls_identity(dir, &party)?;
    let config = format!(
        "# gsomia node for {party}. Paths are relative to this directory.\n\
         party = \"{party}\"\n\
         api_listen = \"127.0.0.1:0\"\n\
         peer_listen = \"127.0.0.1:0\"\n\
         database = \"node.db\"\n\
         keys = \"keys\"\n\
         # A local CA made by `gsomia init` for trying it out; point these at real PKI files in production.\n\
         tls_cert = \"tls/node.pem\"\n\
         tls_key = \"tls/node.key\"\n\
         tls_ca = \"tls/ca.pem\"\n"
    );
    write_public(&dir.join(CONFIG), &config)?;
    let (_, signer) = keys::signer(&dir.join("keys"))?;
    runtime()?.block_on(async {
        let store = SqliteStore::open(&dir.join("node.db")).await?;
        let c = Checkpoint {
            origin: signer.name.clone(),
            size: 0,
            root: Tree::new().root(),
        };
        store
            .put_checkpoint(0, c.root, &signer.sign_checkpoint(&c).render())
            .await?;
        anyhow::Ok(())
    })?;
    let fingerprint = hex(&Sha256::digest(cert.as_bytes()));
    Ok(Outcome::ok(
        json!({ "party": party, "dir": dir.display().to_string(), "certificate_sha256": fingerprint }),
        format!(
            "node for {party} initialised in {}\n  config    node.toml\n  keys      keys/ (signing and recipient keys, owner-only)\n  tls       tls/ (local CA and node certificate, sha256 {fingerprint})\n  database  node.db (SQLite, WAL, synchronous=FULL) with an empty ledger\nnext: gsomia person add --dir {} …\n",
            dir.display(),
            dir.display()
        ),
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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
}

/// `gsomia person add`: registers a person, prints their token once.
pub fn person_add(a: &PersonArgs) -> Result<Outcome> {
    let (doc, _) = register(a, out::now())?;
    let text = format!(
        "registered {} ({}) as {} with clearance {} until {}\ntoken (shown once, stored only as a hash):\n{}\n",
        a.name,
        member(&doc, "id").as_str().unwrap_or("?"),
        member(&doc, "role").as_str().unwrap_or("?"),
        member(&doc, "clearance").as_str().unwrap_or("?"),
        member(&doc, "clearance_until").as_str().unwrap_or("?"),
        member(&doc, "token").as_str().unwrap_or("?"),
    );
    Ok(Outcome::ok(doc, text))
}

impl PersonArgs {
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
        }
    }
}

/// Registers a person at `now` (ledgered); returns the answer and the token.
pub fn register(a: &PersonArgs, now: jiff::Timestamp) -> Result<(Value, String)> {
    let cfg = config(&a.dir)?;
    let reg = load::registry(None)?;
    let party = reg.party(&cfg.party)?;
    let zone = reg.policy(party).context("policy vanished")?.zone().clone();
    let level = reg
        .level(party, &a.clearance)
        .context("invalid `--clearance`")?;
    let until = crate::agreement::until_in_zone(&a.until, &zone, "--until")?;
    for t in &a.need_to_know {
        reg.topic(t).context("invalid `--need-to-know`")?;
    }
    let role = Role::parse(&a.role).context("invalid `--role`")?;
    let token = format!("gsomia_{}", B64URL.encode(keys::entropy()?));
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let id = format!(
        "{}-{}",
        cfg.party.to_ascii_lowercase(),
        &hex(&token_hash)[..12]
    );
    let person = Person {
        id: id.clone(),
        name: a.name.clone(),
        role,
        clearance: reg.level_name(level).to_owned(),
        clearance_until: gsomia_core::time::format_in(until, &zone),
        need_to_know: a.need_to_know.clone(),
        token_hash,
        created_at: now.to_string(),
    };
    let entry = Entry::new(
        Kind::PersonRegistered,
        now.as_second(),
        u32::try_from(now.subsec_nanosecond()).unwrap_or(0),
        cfg.party.clone(),
        None,
        vec![
            ("person".into(), id.clone()),
            ("role".into(), role.as_str().into()),
            ("clearance".into(), person.clearance.clone()),
            ("until".into(), person.clearance_until.clone()),
            ("need_to_know".into(), a.need_to_know.join(",")),
        ],
    )?;
    runtime()?.block_on(async {
        let store = SqliteStore::open(&cfg.database).await?;
        // The person and its ledger entry in one transaction.
        store
            .commit(Batch {
                people: vec![person.clone()],
                entries: vec![entry],
                ..Batch::default()
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok((
        json!({ "id": id, "name": a.name, "role": role.as_str(), "clearance": person.clearance, "clearance_until": person.clearance_until, "need_to_know": a.need_to_know, "token": token }),
        token,
    ))
}

/// `gsomia person list`.
pub fn person_list(dir: &Path) -> Result<Outcome> {
    let cfg = config(dir)?;
    let people = runtime()?.block_on(async {
        let store = SqliteStore::open(&cfg.database).await?;
        anyhow::Ok(store.people().await?)
    })?;
    let mut text = String::new();
    let docs: Vec<_> = people
        .iter()
        .map(|p| {
            let _ = writeln!(text, "{:<20} {:<18} {:<16} {:<26} {}", p.id, p.role.as_str(), p.clearance, p.clearance_until, p.name);
            json!({ "id": p.id, "name": p.name, "role": p.role.as_str(), "clearance": p.clearance, "clearance_until": p.clearance_until, "need_to_know": p.need_to_know })
        })
        .collect();
    Ok(Outcome::ok(json!({ "people": docs }), text))
}

/// `gsomia identity export`: the public bundle a partner needs.
pub fn identity_export(dir: &Path) -> Result<Outcome> {
    let cfg = config(dir)?;
    let identity = std::fs::read_to_string(cfg.keys.join("identity.toml"))
        .with_context(|| format!("cannot read `{}`", cfg.keys.join("identity.toml").display()))?;
    let cert = std::fs::read_to_string(&cfg.tls_cert)
        .with_context(|| format!("cannot read `{}`", cfg.tls_cert.display()))?;
    let bundle = format!("{identity}certificate = '''\n{cert}'''\n");
    Ok(Outcome::ok(json!({ "bundle": bundle }), bundle))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    party: String,
    name: String,
    signing_key: String,
    recipient_key: String,
    certificate: String,
}

/// `gsomia partner add`: pins a partner's identity and certificate.
pub fn partner_add(dir: &Path, bundle: &Path, endpoint: &str) -> Result<Outcome> {
    let cfg = config(dir)?;
    let text = std::fs::read_to_string(bundle)
        .with_context(|| format!("cannot read `{}`", bundle.display()))?;
    let b: Bundle = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}`: {}", bundle.display(), e.message()))?;
    let reg = load::registry(None)?;
    let party = reg.party_id(reg.party(&b.party)?).to_owned();
    if party == cfg.party {
        bail!("`{}` is this node's own identity", bundle.display());
    }
    // Validate every key before anything is written.
    keys::read_identity(bundle).with_context(|| format!("`{}`", bundle.display()))?;
    if !b.certificate.contains("-----BEGIN CERTIFICATE-----") {
        bail!(
            "`{}`: `certificate` is not a PEM certificate",
            bundle.display()
        );
    }
    if !(endpoint.starts_with("https://")) {
        bail!("`--endpoint {endpoint}` must be an https:// URL");
    }
    let path = dir.join("partners").join(format!("{party}.toml"));
    let stored = format!(
        "party = \"{party}\"\nname = \"{}\"\nsigning_key = \"{}\"\nrecipient_key = \"{}\"\nendpoint = \"{endpoint}\"\ncertificate = '''\n{}'''\n",
        b.name,
        b.signing_key,
        b.recipient_key,
        b.certificate.trim_start_matches('\n')
    );
    write_public(&path, &stored)?;
    let fingerprint = hex(&Sha256::digest(
        b.certificate.trim_start_matches('\n').as_bytes(),
    ));
    Ok(Outcome::ok(
        json!({ "party": party, "endpoint": endpoint, "certificate_sha256": fingerprint, "file": path.display().to_string() }),
        format!("partner {party} added: {endpoint}, certificate pinned (sha256 {fingerprint})\n"),
    ))
}
