//! The register of cleared personnel (Art 5–7, rule 10): people, their
//! clearances, need-to-know and roles, and the bearer tokens that identify
//! them. Each registration is committed with its ledger entry in one
//! transaction. Tokens are 256 random bits, stored only as their SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use gsomia_core::{Reader, Registry};
use gsomia_ledger::entry::{Entry, EntryError, Kind};
use gsomia_store::{Batch, Store, StoreError};
pub use gsomia_store::{Person, Role};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::error::{Class, Classified};
use crate::node::Node;

/// Why a request is not from a registered person.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token in the request.
    #[error("a bearer token is required")]
    Missing,
    /// A token that belongs to no one.
    #[error("the bearer token is not valid")]
    Unknown,
    /// The register could not be read.
    #[error("reading the register")]
    Store(#[from] StoreError),
}

impl Classified for AuthError {
    fn class(&self) -> Class {
        match self {
            AuthError::Missing | AuthError::Unknown => Class::Unauthorized,
            AuthError::Store(_) => Class::Internal,
        }
    }
}

/// The person holding `token` (the bearer token of a request).
pub async fn authenticate(node: &Node, token: Option<&str>) -> Result<Person, AuthError> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        node.metrics().unauthenticated.inc();
        return Err(AuthError::Missing);
    };
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match node.store().person_by_token(&hash).await? {
        Some(p) => Ok(p),
        None => {
            node.metrics().unauthenticated.inc();
            Err(AuthError::Unknown)
        }
    }
}

/// A role that does not allow what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RoleError(pub &'static str);

impl Classified for RoleError {
    fn class(&self) -> Class {
        Class::Forbidden
    }
}

/// Refuses auditors (`what` says what they may not do).
pub fn not_auditor(p: &Person, what: &'static str) -> Result<(), RoleError> {
    if p.role == Role::Auditor {
        Err(RoleError(what))
    } else {
        Ok(())
    }
}

/// Refuses anyone but security officers.
pub fn security_officer(p: &Person, what: &'static str) -> Result<(), RoleError> {
    if p.role == Role::SecurityOfficer {
        Ok(())
    } else {
        Err(RoleError(what))
    }
}

/// A stored person that no longer resolves against the profiles.
#[derive(Debug, thiserror::Error)]
#[error("person `{person}` in the register: {what}")]
pub struct ReaderError {
    /// The person's id.
    pub person: String,
    /// What does not resolve.
    pub what: String,
}

impl Classified for ReaderError {
    fn class(&self) -> Class {
        Class::Internal
    }
}

/// The person as the engine's reader: clearance, its end, need-to-know.
pub fn reader(node: &Node, p: &Person) -> Result<Reader, ReaderError> {
    let reg = node.registry();
    let err = |what: String| ReaderError {
        person: p.id.clone(),
        what,
    };
    Ok(Reader {
        party: node.me(),
        clearance: reg
            .level(node.me(), &p.clearance)
            .map_err(|e| err(e.to_string()))?,
        clearance_until: gsomia_core::time::parse_instant(&p.clearance_until)
            .map_err(|e| err(e.to_string()))?,
        need_to_know: reg
            .need_to_know(p.need_to_know.iter().map(String::as_str))
            .map_err(|e| err(e.to_string()))?,
    })
}

/// Someone to register.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Their name.
    pub name: String,
    /// Their clearance: a level of the party's policy.
    pub clearance: String,
    /// When it ends: an instant, or a date meaning that whole day in the party's zone.
    pub until: String,
    /// Topics they need to know.
    pub need_to_know: Vec<String>,
    /// Their role.
    pub role: Role,
}

/// Why a person could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A clearance that is not a level of the party's policy.
    #[error("invalid clearance")]
    Clearance(#[source] gsomia_core::LookupError),
    /// A need-to-know that is not a topic.
    #[error("invalid need-to-know")]
    Topic(#[source] gsomia_core::LookupError),
    /// An end of clearance that is no instant or date.
    #[error("invalid end of clearance")]
    Until(#[source] gsomia_core::time::TimeError),
    /// The party is not in the profiles.
    #[error("the node's party is not in the profiles")]
    Party(#[source] gsomia_core::LookupError),
    /// No randomness for the token.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The store refused (an id or token already registered) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A person just registered, with their token (shown once, never stored).
#[derive(Debug, Clone)]
pub struct Registered {
    /// The person as stored.
    pub person: Person,
    /// Their bearer token.
    pub token: String,
}

/// Registers a person of `party` in `store` at `now`: the person and the
/// `person_registered` entry in one transaction.
pub async fn register(
    store: &dyn Store,
    registry: &Registry,
    party: &str,
    new: &NewPerson,
    now: Timestamp,
) -> Result<Registered, RegisterError> {
    let p = registry.party(party).map_err(RegisterError::Party)?;
    let zone = registry
        .policy(p)
        .map_or(jiff::tz::TimeZone::UTC, |pol| pol.zone().clone());
    let level = registry
        .level(p, &new.clearance)
        .map_err(RegisterError::Clearance)?;
    let until = gsomia_core::time::parse_instant_or_date(&new.until)
        .and_then(|v| v.end_exclusive(&zone))
        .map_err(RegisterError::Until)?;
    for t in &new.need_to_know {
        registry.topic(t).map_err(RegisterError::Topic)?;
    }
    let token = format!("gsomia_{}", B64URL.encode(crate::ids::entropy()?));
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let id = format!(
        "{}-{}",
        party.to_ascii_lowercase(),
        crate::ids::hex(&token_hash).get(..12).unwrap_or_default()
    );
    let person = Person {
        id: id.clone(),
        name: new.name.clone(),
        role: new.role,
        clearance: registry.level_name(level).to_owned(),
        clearance_until: gsomia_core::time::format_in(until, &zone),
        need_to_know: new.need_to_know.clone(),
        token_hash,
        created_at: now.to_string(),
    };
    let (s, n) = gsomia_core::time::to_wire(now);
    let entry = Entry::new(
        Kind::PersonRegistered,
        s,
        n,
        party,
        None,
        vec![
            ("person".into(), id),
            ("role".into(), new.role.as_str().into()),
            ("clearance".into(), person.clearance.clone()),
            ("until".into(), person.clearance_until.clone()),
            ("need_to_know".into(), new.need_to_know.join(",")),
        ],
    )?;
    store
        .commit(Batch {
            people: vec![person.clone()],
            entries: vec![entry],
            ..Batch::default()
        })
        .await?;
    Ok(Registered { person, token })
}

/// Registers a person at the node configured by `settings` (running or
/// not: the database takes one writer at a time and waits for it).
pub async fn register_at(
    settings: &crate::Settings,
    registry: &Registry,
    new: &NewPerson,
    now: Timestamp,
) -> Result<Registered, RegisterError> {
    let store = settings.open_store().await?;
    register(store.as_ref(), registry, &settings.party, new, now).await
}

/// Everyone registered at the node configured by `settings`, by id.
pub async fn people(settings: &crate::Settings) -> Result<Vec<Person>, StoreError> {
    settings.open_store().await?.people().await
}
