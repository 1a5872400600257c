//! A node directory and its `node.toml`: made by [`init`], read by
//! [`Settings::load`] (relative paths resolved against the directory,
//! unknown keys refused), with the partners pinned under `partners/`.
//!
//! ```text
//! DIR/node.toml          party, listen addresses, paths, log format
//! DIR/keys/              signing.key, recipient.key (0600), identity.toml
//! DIR/tls/               ca.pem, ca.key, node.pem, node.key (keys 0600): a local CA
//!                        for trying it out; operators point node.toml at real PKI files
//! DIR/node.db            SQLite (WAL, synchronous=FULL): people, items, transfers, ledger
//!                        (or `database = "postgres://…"`: the same on PostgreSQL)
//! DIR/partners/XXX.toml  partners' identities, pinned certificates and endpoints
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gsomia_ledger::merkle::Tree;
use gsomia_ledger::note::Checkpoint;
use gsomia_store::{PgStore, SqliteStore, Store, StoreError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::keys::{self, KeyError};

/// The configuration file's name in a node directory.
pub const CONFIG: &str = "node.toml";

/// How the node writes its log (standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event for people.
    #[default]
    Text,
    /// One JSON object per event, with the span's fields (request id).
    Json,
}

/// Why a node directory or its configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file that could not be read, created or written.
    #[error("`{path}`: {what}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// A directory that is not a node directory.
    #[error("`{0}` is not a node directory (no node.toml; see `gsomia init`)")]
    NotANode(String),
    /// A directory that is a node directory already.
    #[error("`{0}` is already a node directory")]
    Exists(String),
    /// A database that holds a node already (one database per node).
    #[error(
        "`{0}` already holds a node's ledger; one database holds one node (make another database)"
    )]
    DatabaseTaken(String),
    /// A `database` setting that cannot be one.
    #[error("`database = {0}`: not a file name or a postgres:// URL")]
    BadDatabase(String),
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A party not in the profiles.
    #[error(transparent)]
    Party(#[from] gsomia_core::LookupError),
    /// The TLS identity could not be made.
    #[error("TLS identity: {0}")]
    Tls(String),
    /// The database could not be made.
    #[error("database")]
    Store(#[from] StoreError),
    /// A partner bundle or endpoint that cannot be pinned.
    #[error("{0}")]
    Partner(String),
}

fn file_err(path: &Path, what: impl std::fmt::Display) -> SettingsError {
    SettingsError::File {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    party: String,
    api_listen: String,
    peer_listen: String,
    database: String,
    keys: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    tls_ca: PathBuf,
    #[serde(default)]
    log_format: LogFormat,
    #[serde(default)]
    shipped_history_before: Option<String>,
}

/// Where a node keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the default: nothing to install).
    Sqlite(PathBuf),
    /// A PostgreSQL database (a `postgres://` or `postgresql://` URL): one
    /// party's processes may share it.
    Postgres(String),
}

impl Database {
    /// `database = …` of node.toml: a URL names PostgreSQL, anything
    /// else a file (relative to the node directory).
    pub fn parse(text: &str, dir: &Path) -> Database {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            Database::Postgres(t.to_owned())
        } else {
            let p = PathBuf::from(t);
            Database::Sqlite(if p.is_relative() { dir.join(p) } else { p })
        }
    }

    /// Opens it; it must have been made by [`init`] (an SQLite file that
    /// is not there, or a PostgreSQL database without the schema, is
    /// [`StoreError::NoDatabase`]).
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(SqliteStore::open_existing(path).await?),
            Database::Postgres(url) => {
                // Migrations apply once however many processes start.
                gsomia_store::postgres::migrate_existing(url).await?;
                Arc::new(PgStore::open(url).await?)
            }
        })
    }
}

impl Database {
    /// Applies the migrations the node's database lacks (it must exist):
    /// the schema versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => SqliteStore::migrate_existing(path).await?,
            Database::Postgres(url) => gsomia_store::postgres::migrate_existing(url)
                .await?
                .into_iter()
                .map(i64::from)
                .collect(),
        })
    }
}

impl std::fmt::Display for Database {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(url) => write!(f, "{}", gsomia_store::postgres::redacted(url)),
        }
    }
}

/// A node's validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The node directory.
    pub dir: PathBuf,
    /// The party this node serves.
    pub party: String,
    /// Where the API for the party's own users listens.
    pub api_listen: SocketAddr,
    /// Where the peer endpoint for partners listens (mutual TLS).
    pub peer_listen: SocketAddr,
    /// The database: an SQLite file, or a PostgreSQL server.
    pub database: Database,
    /// The party's keys.
    pub keys: PathBuf,
    /// The TLS certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// The TLS private key (PEM).
    pub tls_key: PathBuf,
    /// The CA whose certificates this node's users and tools trust (PEM).
    pub tls_ca: PathBuf,
    /// How the node writes its log.
    pub log_format: LogFormat,
    /// The shipped profiles' recorded agreement events are taken only
    /// before this instant; later ones come from this node's own store (a
    /// node that lived through them itself, as the demo's nodes do).
    pub shipped_history_before: Option<jiff::Timestamp>,
}

impl Settings {
    /// Reads and checks `DIR/node.toml`; relative paths are relative to DIR.
    pub fn load(dir: &Path) -> Result<Settings, SettingsError> {
        let path = dir.join(CONFIG);
        if !path.is_file() {
            return Err(SettingsError::NotANode(dir.display().to_string()));
        }
        let text = crate::files::read_text(&path)
            .map_err(|e| file_err(&path, format!("cannot read ({e})")))?;
        let raw: Raw = toml::from_str(&text).map_err(|e| file_err(&path, e.message()))?;
        let abs = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
        let addr = |name: &str, a: &str| {
            a.parse::<SocketAddr>().map_err(|_| {
                file_err(
                    &path,
                    format!("`{name} = {a}` is not an address such as 127.0.0.1:8443"),
                )
            })
        };
        let s = Settings {
            dir: dir.to_path_buf(),
            api_listen: addr("api_listen", &raw.api_listen)?,
            peer_listen: addr("peer_listen", &raw.peer_listen)?,
            party: raw.party,
            database: Database::parse(&raw.database, dir),
            keys: abs(raw.keys),
            tls_cert: abs(raw.tls_cert),
            tls_key: abs(raw.tls_key),
            tls_ca: abs(raw.tls_ca),
            log_format: raw.log_format,
            shipped_history_before: raw
                .shipped_history_before
                .as_deref()
                .map(|t| {
                    gsomia_core::time::parse_instant(t).map_err(|e| {
                        file_err(&path, format!("`shipped_history_before = {t}`: {e}"))
                    })
                })
                .transpose()?,
        };
        for f in [&s.tls_cert, &s.tls_key, &s.tls_ca] {
            if !f.is_file() {
                return Err(file_err(&path, format!("`{}` does not exist", f.display())));
            }
        }
        Ok(s)
    }

    /// Where partners are pinned.
    pub fn partners_dir(&self) -> PathBuf {
        self.dir.join("partners")
    }

    /// Opens the node's database, which must exist (only [`init`] makes one).
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.database.open().await
    }

    /// The public bundle partners pin: identity and certificate.
    pub fn identity_bundle(&self) -> Result<String, SettingsError> {
        let id = self.keys.join("identity.toml");
        let identity = crate::files::read_text(&id)
            .map_err(|e| file_err(&id, format!("cannot read ({e})")))?;
        let cert = crate::files::read_text(&self.tls_cert)
            .map_err(|e| file_err(&self.tls_cert, format!("cannot read ({e})")))?;
        Ok(format!("{identity}certificate = '''\n{cert}'''\n"))
    }
}

/// What [`init`] made.
#[derive(Debug, Clone)]
pub struct Initialised {
    /// The party.
    pub party: String,
    /// SHA-256 of the node certificate (PEM), hex.
    pub certificate_sha256: String,
}

fn write_public(path: &Path, text: &str) -> Result<(), SettingsError> {
    std::fs::write(path, text).map_err(|e| file_err(path, format!("cannot write ({e})")))
}

fn tls_identity(dir: &Path, party: &str) -> Result<String, SettingsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let tls_err = |e: rcgen::Error| SettingsError::Tls(e.to_string());
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).map_err(|e| file_err(&tls, format!("cannot create ({e})")))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("gsomia local CA {party}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(tls_err)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(tls_err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, format!("gsomia node {party}"));
    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let ca_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(tls_err)?;
    write_public(&tls.join("ca.pem"), &ca_pem)?;
    keys::write_new(&tls.join("ca.key"), &ca_key_pem, true)?;
    write_public(&tls.join("node.pem"), &leaf_cert.pem())?;
    keys::write_new(&tls.join("node.key"), &leaf_key.serialize_pem(), true)?;
    Ok(leaf_cert.pem())
}

/// Makes a node directory for `party` (a code the profiles know): keys, a
/// local CA and TLS identity, `node.toml`, and a database with an empty
/// ledger and its first checkpoint.
pub async fn init(
    registry: &gsomia_core::Registry,
    party: &str,
    dir: &Path,
    database: Option<&str>,
) -> Result<Initialised, SettingsError> {
    let p = registry.party(party)?;
    let party = registry.party_id(p).to_owned();
    if dir.join(CONFIG).exists() {
        return Err(SettingsError::Exists(dir.display().to_string()));
    }
    let db_text = database.unwrap_or("node.db");
    if db_text.trim().is_empty() || db_text.contains(['"', '\\', '\n']) {
        return Err(SettingsError::BadDatabase(db_text.to_owned()));
    }
    let db = Database::parse(db_text, dir);
    if let Database::Postgres(url) = &db {
        // A PostgreSQL database holds one party's node: a second `init`
        // on it would make a second ledger under another key.
        gsomia_store::postgres::migrate(url).await?;
        let existing = PgStore::open(url).await?;
        if existing.latest_checkpoint().await?.is_some() {
            return Err(SettingsError::DatabaseTaken(db.to_string()));
        }
    } else if let Database::Sqlite(path) = &db
        && path.exists()
    {
        return Err(SettingsError::DatabaseTaken(path.display().to_string()));
    }
    let partners = dir.join("partners");
    std::fs::create_dir_all(&partners)
        .map_err(|e| file_err(&partners, format!("cannot create ({e})")))?;
    keys::generate(&party, &dir.join("keys"))?;
    let cert = tls_identity(dir, &party)?;
    let config = format!(
        "# gsomia node for {party}. Paths are relative to this directory.\n\
         party = \"{party}\"\n\
         api_listen = \"127.0.0.1:0\"\n\
         peer_listen = \"127.0.0.1:0\"\n\
         database = \"{db_text}\"\n\
         keys = \"keys\"\n\
         # A local CA made by `gsomia init` for trying it out; point these at real PKI files in production.\n\
         tls_cert = \"tls/node.pem\"\n\
         tls_key = \"tls/node.key\"\n\
         tls_ca = \"tls/ca.pem\"\n\
         # `text` or `json` (one object per line, with the request id).\n\
         log_format = \"text\"\n"
    );
    write_public(&dir.join(CONFIG), &config)?;
    let (_, signer) = keys::signer(&dir.join("keys"))?;
    let store: Arc<dyn Store> = match &db {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Database::Postgres(url) => Arc::new(PgStore::open(url).await?),
    };
    let c = Checkpoint {
        origin: signer.name.clone(),
        size: 0,
        root: Tree::new().root(),
    };
    store
        .put_checkpoint(0, c.root, &signer.sign_checkpoint(&c).render())
        .await?;
    Ok(Initialised {
        party,
        certificate_sha256: crate::ids::hex(&Sha256::digest(cert.as_bytes())),
    })
}

/// The partners pinned in the node directory of `settings`, each checked
/// as the node loads it.
pub fn partners(settings: &Settings) -> Result<Vec<crate::partner::Partner>, SettingsError> {
    crate::partner::load(&settings.partners_dir())
        .map_err(|e| SettingsError::Partner(e.to_string()))
}

/// Removes a partner's file: a running node stops accepting it and sending
/// to it within seconds (what it still owes the partner stays in the store).
pub fn remove_partner(settings: &Settings, party: &str) -> Result<PathBuf, SettingsError> {
    let path = settings
        .partners_dir()
        .join(format!("{}.toml", party.trim().to_ascii_uppercase()));
    if !path.is_file() {
        return Err(SettingsError::Partner(format!(
            "no partner `{party}` is pinned in `{}`",
            settings.partners_dir().display()
        )));
    }
    std::fs::remove_file(&path).map_err(|e| file_err(&path, format!("cannot remove ({e})")))?;
    Ok(path)
}

/// A partner just pinned.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The partner's party.
    pub party: String,
    /// Its peer endpoint.
    pub endpoint: String,
    /// SHA-256 of its certificate (PEM), hex.
    pub certificate_sha256: String,
    /// The partner file written.
    pub file: PathBuf,
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

/// Pins a partner's bundle (from [`Settings::identity_bundle`]) and peer
/// endpoint: every key is checked before anything is written.
pub fn add_partner(
    settings: &Settings,
    registry: &gsomia_core::Registry,
    bundle: &Path,
    endpoint: &str,
) -> Result<Pinned, SettingsError> {
    let text = crate::files::read_text(bundle)
        .map_err(|e| file_err(bundle, format!("cannot read ({e})")))?;
    let b: Bundle = toml::from_str(&text).map_err(|e| file_err(bundle, e.message()))?;
    let party = registry
        .party(&b.party)
        .map(|p| registry.party_id(p).to_owned())?;
    if party == settings.party {
        return Err(SettingsError::Partner(format!(
            "`{}` is this node's own identity",
            bundle.display()
        )));
    }
    keys::read_identity(bundle)?;
    if !b.certificate.contains("-----BEGIN CERTIFICATE-----") {
        return Err(file_err(bundle, "`certificate` is not a PEM certificate"));
    }
    let url = reqwest::Url::parse(endpoint).map_err(|e| {
        SettingsError::Partner(format!(
            "`--endpoint {endpoint}` is not a URL ({e}); give the partner's peer endpoint, such as https://10.0.0.2:8444"
        ))
    })?;
    if url.scheme() != "https"
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !matches!(url.path(), "" | "/")
    {
        return Err(SettingsError::Partner(format!(
            "`--endpoint {endpoint}` must be https://HOST[:PORT], nothing more"
        )));
    }
    let path = settings.partners_dir().join(format!("{party}.toml"));
    let cert = b.certificate.trim_start_matches('\n');
    let stored = format!(
        "party = \"{party}\"\nname = \"{}\"\nsigning_key = \"{}\"\nrecipient_key = \"{}\"\nendpoint = \"{endpoint}\"\ncertificate = '''\n{cert}'''\n",
        b.name, b.signing_key, b.recipient_key,
    );
    write_public(&path, &stored)?;
    Ok(Pinned {
        party,
        endpoint: endpoint.to_owned(),
        certificate_sha256: crate::ids::hex(&Sha256::digest(cert.as_bytes())),
        file: path,
    })
}
