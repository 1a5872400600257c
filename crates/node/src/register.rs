//! The register of cleared personnel (Art 5–7, rule 10): people, their
//! clearances, need-to-know and roles, and the bearer tokens that identify
//! them. Each registration is committed with its ledger entry in one
//! transaction. Tokens are 256 random bits, stored only as their SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use gsomia_core::{Reader, Registry};
use gsomia_ledger::entry::{Entry, EntryError, Kind};
use gsomia_seal::custody::CustodyKey;
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
    /// The token of a person whose access was revoked.
    #[error("the bearer token's holder was revoked at {0}")]
    Revoked(String),
    /// The holder's register entry failed its integrity check.
    #[error("your register entry failed its integrity check; ask your security officer")]
    Integrity(crate::custody::Breach),
    /// A visitor's token outside an approved visit (Art 8).
    #[error("{0}")]
    Visit(String),
    /// The register could not be read.
    #[error("reading the register")]
    Store(#[from] StoreError),
}

impl Classified for AuthError {
    fn class(&self) -> Class {
        match self {
            AuthError::Missing | AuthError::Unknown | AuthError::Revoked(_) => Class::Unauthorized,
            AuthError::Integrity(_) | AuthError::Visit(_) => Class::Forbidden,
            AuthError::Store(_) => Class::Internal,
        }
    }
}

/// The person holding `token` (the bearer token of a request), their
/// register entry checked and not revoked. Refusals for want of valid
/// credentials are counted (and summarised in the ledger every
/// [`AUTH_SUMMARY_EVERY`]), not each written: whoever sends them holds no
/// identity the ledger could name.
pub async fn authenticate(node: &Node, token: Option<&str>) -> Result<Person, AuthError> {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = node.auth_refusals();
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        node.metrics().unauthenticated.inc();
        counts.missing.fetch_add(1, Relaxed);
        return Err(AuthError::Missing);
    };
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    authenticate_hash(node, &hash).await
}

/// [`authenticate`] by the token's SHA-256 (a console session keeps the
/// hash, never the token).
pub async fn authenticate_hash(node: &Node, hash: &[u8; 32]) -> Result<Person, AuthError> {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = node.auth_refusals();
    let Some(p) = node.store().person_by_token(hash).await? else {
        node.metrics().unauthenticated.inc();
        counts.unknown.fetch_add(1, Relaxed);
        return Err(AuthError::Unknown);
    };
    if let Err(b) = crate::custody::check_person(node.custody(), &p) {
        node.alarm(&b).await;
        return Err(AuthError::Integrity(b));
    }
    // A revocation takes effect when it is recorded (none is scheduled).
    if let Some(at) = &p.revoked_at {
        node.metrics().unauthenticated.inc();
        counts.revoked.fetch_add(1, Relaxed);
        return Err(AuthError::Revoked(at.clone()));
    }
    // A visitor's credential holds only during their approved visit.
    if let Some(v) = &p.visit {
        crate::registers::visit_in_progress(node.visits(), v, node.now())
            .map_err(AuthError::Visit)?;
    }
    Ok(p)
}

/// How often refusals for want of credentials are summarised in the ledger
/// (one `auth_refused` entry with the counts, when there were any).
pub const AUTH_SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes the `auth_refused` summary of the refusals counted since the last
/// one (nothing when there were none); `since` is when counting began.
pub(crate) async fn summarise_auth(node: &Node, since: &str) {
    let (missing, unknown, revoked) = node.auth_refusals().take();
    let count = missing + unknown + revoked;
    if count == 0 {
        return;
    }
    let r = node
        .record(
            Kind::AuthRefused,
            None,
            vec![
                ("count", count.to_string()),
                ("since", since.to_owned()),
                ("missing", missing.to_string()),
                ("unknown", unknown.to_string()),
                ("revoked", revoked.to_string()),
            ],
        )
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "cannot ledger the summary of refused credentials");
    }
}

/// The node's bookkeeping task: commits queued refusals every
/// [`crate::node::SOON_EVERY`] and summarises refused credentials
/// every [`AUTH_SUMMARY_EVERY`]. Runs until dropped; [`finish`] does both
/// once more on the way out.
pub(crate) async fn bookkeeping(node: std::sync::Arc<Node>) {
    let mut since = node.now().to_string();
    let mut last = std::time::Instant::now();
    loop {
        tokio::time::sleep(crate::node::SOON_EVERY).await;
        node.flush_soon().await;
        if last.elapsed() >= AUTH_SUMMARY_EVERY {
            summarise_auth(&node, &since).await;
            since = node.now().to_string();
            last = std::time::Instant::now();
        }
    }
}

/// The last of the bookkeeping, when the node stops.
pub(crate) async fn finish(node: &Node) {
    node.flush_soon().await;
    summarise_auth(node, "the last summary").await;
}

/// A role that does not allow what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{}", if *.only_security_officers {
    format!("only security officers may {}; the caller's role is {}", .action, .role)
} else {
    format!("{}s may not {}", .role, .action)
})]
pub struct RoleError {
    /// The person's role.
    pub role: &'static str,
    /// What they asked to do.
    pub action: &'static str,
    /// Whether only security officers may do it (else: all but auditors).
    pub only_security_officers: bool,
}

impl Classified for RoleError {
    fn class(&self) -> Class {
        Class::Forbidden
    }
}

/// A role refusal, ledgered (`role_refused`, with the next flush: the
/// person is known, so each is recorded, each a small fixed size).
fn refuse(
    node: &Node,
    p: &Person,
    action: &'static str,
    only_security_officers: bool,
) -> RoleError {
    match node.entry(
        Kind::RoleRefused,
        None,
        vec![("person", p.id.clone()), ("action", action.to_owned())],
    ) {
        Ok(e) => node.ledger_soon(e),
        Err(e) => tracing::error!(error = %e, "role refusal entry"),
    }
    RoleError {
        role: if p.visit.is_some() {
            "visitor"
        } else {
            p.role.as_str()
        },
        action,
        only_security_officers,
    }
}

/// Refuses auditors (`action` says what they may not do).
pub fn not_auditor(node: &Node, p: &Person, action: &'static str) -> Result<(), RoleError> {
    // A visitor is given access to items, nothing more (Art 8).
    if p.role == Role::Auditor || p.visit.is_some() {
        Err(refuse(node, p, action, false))
    } else {
        Ok(())
    }
}

/// Refuses officers: the records of every item (the inventory) are for
/// security officers and auditors.
pub fn keeper_of_records(node: &Node, p: &Person, action: &'static str) -> Result<(), RoleError> {
    if p.role == Role::Officer {
        Err(refuse(node, p, action, false))
    } else {
        Ok(())
    }
}

/// Refuses anyone but security officers.
pub fn security_officer(node: &Node, p: &Person, action: &'static str) -> Result<(), RoleError> {
    if p.role == Role::SecurityOfficer {
        Ok(())
    } else {
        Err(refuse(node, p, action, true))
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
        contractor: p
            .facility
            .as_deref()
            .map(|f| crate::registers::contractor(node.facilities(), &reg, node.me(), f, &p.id)),
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
    /// The contractor facility they belong to (Art 16), if any.
    pub facility: Option<String>,
    /// For a visitor from a partner (Art 8): the visit.
    pub visit: Option<String>,
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
    /// A facility that is not registered here.
    #[error("no contractor facility `{0}` is registered here (gsomia facility add)")]
    Facility(String),
    /// No randomness for the token.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The store refused (an id or token already registered) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node's keys (the register's rows are tagged with a key derived from them).
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// A person just registered, with their token (shown once, never stored).
#[derive(Debug, Clone)]
pub struct Registered {
    /// The person as stored.
    pub person: Person,
    /// Their bearer token.
    pub token: String,
}

/// Registers a person of `party` in `store` at `now`: the person (tagged
/// with `key`) and the `person_registered` entry in one transaction.
pub async fn register(
    store: &dyn Store,
    key: &CustodyKey,
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
    if let Some(f) = &new.facility
        && !store
            .facility_records()
            .await?
            .iter()
            .any(|r| r.facility == *f && r.seq == 0)
    {
        return Err(RegisterError::Facility(f.clone()));
    }
    let token = new_token()?;
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let id = format!(
        "{}-{}",
        party.to_ascii_lowercase(),
        crate::ids::hex(&token_hash).get(..12).unwrap_or_default()
    );
    let mut person = Person {
        id: id.clone(),
        name: new.name.clone(),
        role: new.role,
        clearance: registry.level_name(level).to_owned(),
        clearance_until: gsomia_core::time::format_in(until, &zone),
        need_to_know: new.need_to_know.clone(),
        token_hash,
        created_at: now.to_string(),
        revoked_at: None,
        facility: new.facility.clone(),
        visit: new.visit.clone(),
        custody: None,
    };
    crate::custody::tag_person(key, &mut person);
    let (s, n) = gsomia_core::time::to_wire(now);
    let entry = Entry::new(
        Kind::PersonRegistered,
        s,
        n,
        party,
        None,
        [
            ("person".into(), id),
            ("role".into(), new.role.as_str().into()),
            ("clearance".into(), person.clearance.clone()),
            ("until".into(), person.clearance_until.clone()),
            ("need_to_know".into(), new.need_to_know.join(",")),
        ]
        .into_iter()
        .chain(new.facility.iter().map(|f| ("facility".into(), f.clone())))
        .chain(new.visit.iter().map(|v| ("visit".into(), v.clone())))
        .collect(),
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
    let key = custody_key(settings)?;
    let store = settings.open_store().await?;
    register(store.as_ref(), &key, registry, &settings.party, new, now).await
}

/// The custody key of the node configured by `settings` (from its signing key).
fn custody_key(settings: &crate::Settings) -> Result<CustodyKey, crate::keys::KeyError> {
    let (_, signer) = crate::keys::signer(&settings.keys)?;
    Ok(CustodyKey::derive(&signer.key))
}

/// A person in the register, as listed: the row, and whether it passed its
/// integrity check (why not, if not).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The row.
    pub person: Person,
    /// `Err` names what failed.
    pub checked: Result<(), String>,
}

/// Everyone registered at the node configured by `settings`, by id, each
/// checked against its custody tag.
pub async fn people(settings: &crate::Settings) -> Result<Vec<Listed>, ChangeError> {
    let key = custody_key(settings)?;
    Ok(settings
        .open_store()
        .await?
        .people()
        .await?
        .into_iter()
        .map(|p| Listed {
            checked: crate::custody::check_person(&key, &p).map_err(|b| b.to_string()),
            person: p,
        })
        .collect())
}

/// Why a person's entry could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such person.
    #[error("no person `{0}` in the register")]
    NoPerson(String),
    /// Already revoked.
    #[error("`{0}` was already revoked at {1}")]
    Revoked(String, String),
    /// The entry failed its integrity check: it is not changed (and so not
    /// re-tagged) until it is looked into.
    #[error("the entry failed its integrity check, so it is left as it is: {0}")]
    Integrity(crate::custody::Breach),
    /// The node's keys.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// No randomness for a token.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change made to a person's entry.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The person as stored now.
    pub person: Person,
    /// A new token (shown once), for a rotation.
    pub token: Option<String>,
}

async fn change(
    settings: &crate::Settings,
    id: &str,
    now: Timestamp,
    by: &str,
    edit: impl FnOnce(&mut Person) -> Result<(Option<String>, Kind, Vec<(String, String)>), ChangeError>,
) -> Result<Changed, ChangeError> {
    let key = custody_key(settings)?;
    let store = settings.open_store().await?;
    let mut p = store
        .people()
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ChangeError::NoPerson(id.to_owned()))?;
    crate::custody::check_person(&key, &p).map_err(ChangeError::Integrity)?;
    let (token, kind, mut fields) = edit(&mut p)?;
    crate::custody::tag_person(&key, &mut p);
    fields.push(("person".into(), id.to_owned()));
    fields.push((
        "by".into(),
        crate::node::bounded(by, crate::node::MAX_ENTRY_ID),
    ));
    let (s, n) = gsomia_core::time::to_wire(now);
    let entry = Entry::new(kind, s, n, settings.party.clone(), None, fields)?;
    store
        .commit(Batch {
            person_updates: vec![p.clone()],
            entries: vec![entry],
            ..Batch::default()
        })
        .await?;
    Ok(Changed { person: p, token })
}

/// Ends a person's access at `now`, at once (a running node reads the
/// register on every request): the entry and a `person_revoked` record in
/// one transaction. `by` names who revoked (recorded), `reason` why.
pub async fn revoke(
    settings: &crate::Settings,
    id: &str,
    now: Timestamp,
    by: &str,
    reason: Option<&str>,
) -> Result<Changed, ChangeError> {
    change(settings, id, now, by, |p| {
        if let Some(at) = &p.revoked_at {
            return Err(ChangeError::Revoked(p.id.clone(), at.clone()));
        }
        p.revoked_at = Some(now.to_string());
        let mut fields = Vec::new();
        if let Some(r) = reason {
            fields.push((
                "reason".into(),
                crate::node::bounded(r, crate::node::MAX_ENTRY_FIELD),
            ));
        }
        Ok((None, Kind::PersonRevoked, fields))
    })
    .await
}

/// Gives a person a new token at `now`; the old one stops working at once.
/// The new token is returned once and stored only as its hash.
pub async fn rotate_token(
    settings: &crate::Settings,
    id: &str,
    now: Timestamp,
    by: &str,
) -> Result<Changed, ChangeError> {
    let token = new_token()?;
    change(settings, id, now, by, move |p| {
        if let Some(at) = &p.revoked_at {
            return Err(ChangeError::Revoked(p.id.clone(), at.clone()));
        }
        p.token_hash = Sha256::digest(token.as_bytes()).into();
        Ok((Some(token), Kind::TokenRotated, Vec::new()))
    })
    .await
}

/// A fresh bearer token: 256 random bits.
fn new_token() -> Result<String, crate::ids::EntropyError> {
    Ok(format!("gsomia_{}", B64URL.encode(crate::ids::entropy()?)))
}
