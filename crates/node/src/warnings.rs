//! Real-time missile warnings (GSOMIA.md §4, rule 17), beside item
//! traffic: an officer publishes a launch, trajectory points and the
//! impact; each update is signed by the originator, applied here in order
//! and once, shown live to cleared local subscribers, and sent to every
//! partner the warning link allows (originator → hub, hub → the other
//! members), each over its own ordered queue that retries until the
//! partner takes it. Updates are ledgered in batches, so the ledger never
//! slows the feed. A subscriber that falls behind is cut off rather than
//! slowing anyone else.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use gsomia_api::{Impact, Launch, Published, Track, WarningFlight, WarningList};
use gsomia_core::warning::{Applied, Flight, Point, Update, check_fields, decide_warning};
use gsomia_core::{AccessDecision, ItemLabels, Label, TopicSet, decide_access};
use gsomia_ledger::entry::Kind;
use gsomia_seal::message::WarningUpdate;
use gsomia_store::Person;
use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc};

use crate::error::{Class, Classified};
use crate::feed::{Known, Shown};
use crate::locked;
use crate::node::Node;

/// How often pending warning entries are committed to the ledger.
pub const LEDGER_EVERY: Duration = Duration::from_millis(100);
/// The topic warnings carry.
pub const TOPIC: &str = "warning.missile";

/// Why an update was not applied.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// Refused for good (forbidden route or field, bad data, signature).
    #[error("{0}")]
    Refused(String),
    /// Not yet: an earlier update is missing (the sender retries).
    #[error("{0}")]
    NotYet(String),
}

/// Why a warning request from a user failed.
#[derive(Debug, thiserror::Error)]
pub enum WarningError {
    /// A body that is not the request it should be.
    #[error("{0}")]
    Invalid(String),
    /// The rules refuse it (rule 17, order, link).
    #[error("{0}")]
    Refused(String),
    /// No such warning published here.
    #[error("no warning `{0}` published here")]
    NotFound(String),
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// No randomness for an id.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
}

impl Classified for WarningError {
    fn class(&self) -> Class {
        match self {
            WarningError::Invalid(_) => Class::BadRequest,
            WarningError::Refused(_) => Class::Refused,
            WarningError::NotFound(_) => Class::NotFound,
            WarningError::Role(e) => e.class(),
            WarningError::Entropy(_) => Class::Internal,
        }
    }
}

/// Starts the warning tasks of a node: one ordered sender per partner, on
/// the warning lane, and the batched ledger writer, on the item lane. Call
/// once; the handles stop them.
pub fn start(node: &Arc<Node>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = node
        .feed()
        .take_receivers()
        .into_iter()
        .map(|(party, rx)| {
            node.lanes()
                .warning
                .spawn(send_to_partner(node.clone(), party, rx))
        })
        .collect();
    tasks.push(node.lanes().item.spawn(ledger_batches(node.clone())));
    tasks
}

/// Why a signed update does not describe an update.
#[derive(Debug, thiserror::Error)]
enum UpdateError {
    /// An instant that is no instant.
    #[error(transparent)]
    Time(#[from] gsomia_core::time::TimeError),
    /// A kind other than launch, track and impact.
    #[error("unknown update kind `{0}`")]
    Kind(String),
}

fn core_update(u: &WarningUpdate) -> Result<Update, UpdateError> {
    let point = Point {
        lat: u.lat,
        lon: u.lon,
    };
    let at = gsomia_core::time::from_wire(u.at)?;
    Ok(match u.kind.as_str() {
        "launch" => Update::Launch { point, at },
        "track" => Update::Track {
            point,
            alt_km: u.alt_km,
            at,
        },
        "impact" => Update::Impact { point, at },
        other => return Err(UpdateError::Kind(other.to_owned())),
    })
}

/// Applies a signed update received from `from` (or published here when
/// `from` is `None`): verified, routed, applied once, shown, ledgered,
/// forwarded. Returns whether it was new.
pub fn accept(node: &Node, bytes: &[u8], from: Option<&str>) -> Result<Applied, Rejected> {
    let refused = |s: String| Rejected::Refused(s);
    let claimed = WarningUpdate::decode(bytes).map_err(|e| refused(format!("malformed: {e}")))?;
    let reg = node.registry();
    let originator = reg
        .party(&claimed.originator)
        .map_err(|e| refused(e.to_string()))?;
    let key = if claimed.originator == node.party() {
        node.signer().key.public()
    } else {
        *node
            .partner(&claimed.originator)
            .ok_or_else(|| {
                refused(format!(
                    "{} is not a partner: its signature cannot be checked",
                    claimed.originator
                ))
            })?
            .key()
    };
    let u = WarningUpdate::open(bytes, &key).map_err(|e| refused(format!("signature: {e}")))?;
    let level = reg
        .level(originator, &u.level)
        .map_err(|e| refused(e.to_string()))?;
    let update = core_update(&u).map_err(|e| refused(e.to_string()))?;
    let now = node.now();
    let my_level = match from {
        Some(peer) => {
            let holder = reg.party(peer).map_err(|e| refused(e.to_string()))?;
            let (_, l) = decide_warning(&reg, originator, holder, node.me(), level, now)
                .map_err(|e| refused(e.to_string()))?;
            reg.level_name(l).to_owned()
        }
        None => u.level.clone(),
    };
    let feed = node.feed();
    if locked(&feed.forgotten).contains(&u.id) {
        return Ok(Applied::Duplicate);
    }
    let applied = {
        let mut flights = locked(&feed.flights);
        match flights.get_mut(&u.id) {
            Some(Known { flight, signed, .. }) => {
                if flight.originator != u.originator {
                    return Err(refused(format!("flight `{}` has another originator", u.id)));
                }
                let a = flight.apply(u.seq, update).map_err(|e| match e {
                    gsomia_core::warning::WarningRefusal::Sequence { .. }
                        if u.seq as usize > flight.updates.len() =>
                    {
                        Rejected::NotYet(e.to_string())
                    }
                    other => refused(other.to_string()),
                })?;
                if a == Applied::New {
                    signed.push((bytes.to_vec(), now));
                }
                a
            }
            None if u.seq == 0 => {
                let flight = Flight::open(&u.id, &u.originator, update)
                    .map_err(|e| refused(e.to_string()))?;
                flights.insert(
                    u.id.clone(),
                    Known {
                        flight,
                        signed: vec![(bytes.to_vec(), now)],
                        level: my_level.clone(),
                    },
                );
                Applied::New
            }
            None => {
                return Err(Rejected::NotYet(format!(
                    "update {} of unknown flight `{}`: its launch is missing",
                    u.seq, u.id
                )));
            }
        }
    };
    if applied == Applied::Duplicate {
        return Ok(applied);
    }
    if u.kind == "impact" {
        feed.prune();
    }
    // Forward to every partner the link allows from here.
    let mut relayed = Vec::new();
    for (party, queue) in &feed.queues {
        if Some(party.as_str()) == from || *party == u.originator {
            continue;
        }
        let Ok(recipient) = reg.party(party) else {
            continue;
        };
        if decide_warning(&reg, originator, node.me(), recipient, level, now).is_ok()
            && queue.send(bytes.to_vec()).is_ok()
        {
            relayed.push(party.clone());
        }
    }
    if let Ok(at) = gsomia_core::time::from_wire(u.at) {
        let latency = now.duration_since(at).as_secs_f64().max(0.0);
        node.metrics()
            .warning_latency
            .get_or_create(&crate::metrics::HopLabel {
                hop: if from.is_some() {
                    "received"
                } else {
                    "published"
                }
                .to_owned(),
            })
            .observe(latency);
    }
    let _ = feed
        .live
        .send(Arc::new(Shown::new(u.clone(), my_level, now)));
    let mut fields = vec![
        ("originator", u.originator.clone()),
        ("updates", format!("{} {} #{}", u.id, u.kind, u.seq)),
    ];
    if let Some(peer) = from {
        fields.push(("sender", peer.to_owned()));
    }
    if !relayed.is_empty() {
        fields.push(("relayed_to", relayed.join(",")));
    }
    match node.entry(Kind::Warning, Some(&u.id), fields) {
        Ok(e) => locked(&feed.pending).push(e),
        Err(e) => tracing::error!(error = %e, "warning ledger entry"),
    }
    Ok(applied)
}

/// Commits pending warning entries every [`LEDGER_EVERY`] (one transaction per batch).
pub async fn ledger_batches(node: Arc<Node>) {
    loop {
        tokio::time::sleep(LEDGER_EVERY).await;
        flush(&node).await;
    }
}

/// Commits the pending warning entries now.
pub async fn flush(node: &Node) {
    let batch = node.feed().take_pending();
    if !batch.is_empty()
        && let Err(e) = node.ledger(batch).await
    {
        tracing::error!(error = %e, "warning ledger");
    }
}

/// Sends a partner its queue of updates, in order, retrying each until the
/// partner takes it (a partner back after an outage receives what it
/// missed); a refusal is logged and the update dropped.
pub async fn send_to_partner(
    node: Arc<Node>,
    party: String,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(bytes) = queue.recv().await {
        let mut wait = Duration::from_millis(20);
        loop {
            let (Some(partner), Some(client)) = (node.partner(&party), node.warning_client(&party))
            else {
                return;
            };
            let url = format!(
                "{}/peer/v1/warnings",
                partner.endpoint.trim_end_matches('/')
            );
            match client
                .post(url)
                .header("content-type", "application/octet-stream")
                .body(bytes.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                Ok(r) if r.status() == reqwest::StatusCode::FORBIDDEN => {
                    let why = r.text().await.unwrap_or_default();
                    tracing::warn!(partner = %party, reason = %why, "warning update refused");
                    break;
                }
                Ok(r) => {
                    tracing::info!(partner = %party, status = %r.status(), "warning update not taken; retrying")
                }
                Err(e) => {
                    tracing::info!(partner = %party, error = %e, "warning update not sent; retrying")
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }
}

// ------------------------------------------------------------ user side

/// Parses a user's warning request, refusing any field outside the three
/// data elements first (rule 17), then the request's own shape.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WarningError> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| WarningError::Invalid(format!("invalid body: {e}")))?;
    check_fields(v.keys().map(String::as_str)).map_err(|e| WarningError::Refused(e.to_string()))?;
    serde_json::from_value(serde_json::Value::Object(v))
        .map_err(|e| WarningError::Invalid(format!("invalid body: {e}")))
}

fn instant(at: Option<&str>, now: Timestamp) -> Result<Timestamp, WarningError> {
    match at {
        Some(s) => gsomia_core::time::parse_instant(s)
            .map_err(|e| WarningError::Invalid(format!("`at`: {e}"))),
        None => Ok(now),
    }
}

fn publish(node: &Node, u: WarningUpdate) -> Result<Published, WarningError> {
    let bytes = u.seal(&node.signer().key);
    match accept(node, &bytes, None) {
        Ok(_) => Ok(Published {
            id: u.id,
            seq: u.seq,
            kind: u.kind,
            at: gsomia_core::time::from_wire(u.at)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }),
        Err(Rejected::Refused(why) | Rejected::NotYet(why)) => Err(WarningError::Refused(why)),
    }
}

/// The level a party marks warnings with: its level in the first grade of
/// the warning link it belongs to.
fn default_level(reg: &gsomia_core::Registry, me: gsomia_core::PartyRef) -> Option<String> {
    reg.agreement_refs().find_map(|a| {
        let x = reg.agreement(a)?;
        if x.kind() != gsomia_core::AgreementKind::WarningLink || !x.has_party(me) {
            return None;
        }
        let v = x.latest()?;
        (0..v.coverage.grades().len())
            .find_map(|g| v.coverage.receive_as(g, me))
            .map(|l| reg.level_name(l).to_owned())
    })
}

/// Opens a warning with its launch point.
pub fn launch(node: &Node, person: &Person, req: &Launch) -> Result<Published, WarningError> {
    crate::register::not_auditor(node, person, "publish warnings")?;
    let at = instant(req.at.as_deref(), node.now())?;
    let reg = node.registry();
    let level = default_level(&reg, node.me())
        .ok_or_else(|| WarningError::Refused("this party is in no warning link".into()))?;
    let id = crate::ids::new_id(&format!("{}-w", node.party()), node.now())?;
    publish(
        node,
        WarningUpdate {
            id,
            originator: node.party().to_owned(),
            level,
            seq: 0,
            kind: "launch".into(),
            lat: req.launch_point.lat,
            lon: req.launch_point.lon,
            alt_km: 0.0,
            at: gsomia_core::time::to_wire(at),
        },
    )
}

fn follow_up(
    node: &Node,
    person: &Person,
    id: &str,
    kind: &str,
    point: gsomia_api::Point,
    alt_km: f64,
    at: Option<&str>,
) -> Result<Published, WarningError> {
    crate::register::not_auditor(node, person, "publish warnings")?;
    let at = instant(at, node.now())?;
    let (seq, level) = {
        let flights = locked(&node.feed().flights);
        let k = flights
            .get(id)
            .filter(|k| k.flight.originator == node.party())
            .ok_or_else(|| WarningError::NotFound(id.to_owned()))?;
        let level = k
            .signed
            .first()
            .and_then(|(b, _)| WarningUpdate::decode(b).ok())
            .map(|u| u.level)
            .unwrap_or_default();
        (
            u32::try_from(k.flight.updates.len()).unwrap_or(u32::MAX),
            level,
        )
    };
    publish(
        node,
        WarningUpdate {
            id: id.to_owned(),
            originator: node.party().to_owned(),
            level,
            seq,
            kind: kind.into(),
            lat: point.lat,
            lon: point.lon,
            alt_km,
            at: gsomia_core::time::to_wire(at),
        },
    )
}

/// A trajectory point.
pub fn track(
    node: &Node,
    person: &Person,
    id: &str,
    req: &Track,
) -> Result<Published, WarningError> {
    follow_up(
        node,
        person,
        id,
        "track",
        req.point,
        req.alt_km,
        req.at.as_deref(),
    )
}

/// The impact point; closes the warning.
pub fn impact(
    node: &Node,
    person: &Person,
    id: &str,
    req: &Impact,
) -> Result<Published, WarningError> {
    follow_up(
        node,
        person,
        id,
        "impact",
        req.impact_point,
        0.0,
        req.at.as_deref(),
    )
}

/// Whether `person` may see a warning marked `level` here (clearance at or
/// above it, valid now, and need-to-know for warnings).
fn may_see(node: &Node, person: &Person, level: &str, originator: &str) -> bool {
    let reg = node.registry();
    let (Ok(me_level), Ok(topic), Ok(orig), Ok(reader)) = (
        reg.level(node.me(), level),
        reg.topic(TOPIC),
        reg.party(originator),
        crate::register::reader(node, person),
    ) else {
        return false;
    };
    let label = Label {
        level: me_level,
        originator: orig,
        created_at: node.now(),
        topics: TopicSet::EMPTY.union(&reg.topics().subtree(topic)),
        rel_to: None,
        informative: Vec::new(),
    };
    matches!(
        decide_access(&reg, &reader, &ItemLabels::new(label), node.now()),
        AccessDecision::Allow { .. }
    )
}

/// Every warning known here that `person` may see.
pub fn list(node: &Node, person: &Person) -> WarningList {
    let flights: Vec<(String, Known)> = locked(&node.feed().flights)
        .iter()
        .map(|(id, k)| (id.clone(), k.clone()))
        .collect();
    let mut warnings = Vec::new();
    for (id, k) in flights {
        if !may_see(node, person, &k.level, &k.flight.originator) {
            continue;
        }
        let updates = k
            .signed
            .iter()
            .filter_map(|(b, applied)| {
                WarningUpdate::decode(b)
                    .ok()
                    .map(|u| Shown::new(u, k.level.clone(), *applied).view())
            })
            .collect();
        warnings.push(WarningFlight {
            id,
            originator: k.flight.originator.clone(),
            closed: k.flight.closed(),
            level: k.level.clone(),
            updates,
        });
    }
    WarningList { warnings }
}

/// What a subscriber receives next.
#[derive(Debug)]
pub enum Next {
    /// An update the subscriber may see, as JSON (the API's `WarningUpdate`).
    Update(Arc<Shown>),
    /// Cut off: this many updates behind.
    Cutoff(u64),
}

/// A local subscriber: first every update of the flights still in flight
/// (a late subscriber sees them), then each update as it is applied, only
/// those the person may see.
pub struct Subscription {
    node: Arc<Node>,
    person: Person,
    backlog: VecDeque<Arc<Shown>>,
    seen: BTreeSet<(String, u32)>,
    rx: broadcast::Receiver<Arc<Shown>>,
    /// Access decided once per (level, originator).
    allowed: BTreeMap<(String, String), bool>,
}

/// Subscribes `person` to the live feed.
pub fn subscribe(node: Arc<Node>, person: Person) -> Subscription {
    // Subscribe before the snapshot, so nothing falls between them.
    let rx = node.feed().live.subscribe();
    let mut backlog = VecDeque::new();
    for k in locked(&node.feed().flights).values() {
        if k.flight.closed() {
            continue;
        }
        for (b, applied) in &k.signed {
            if let Ok(u) = WarningUpdate::decode(b) {
                backlog.push_back(Arc::new(Shown::new(u, k.level.clone(), *applied)));
            }
        }
    }
    let seen = backlog
        .iter()
        .map(|s| (s.update.id.clone(), s.update.seq))
        .collect();
    Subscription {
        node,
        person,
        backlog,
        seen,
        rx,
        allowed: BTreeMap::new(),
    }
}

impl Subscription {
    /// The next event for this subscriber; `None` when the feed closes.
    pub async fn next(&mut self) -> Option<Next> {
        loop {
            let shown = match self.backlog.pop_front() {
                Some(s) => s,
                None => match self.rx.recv().await {
                    Ok(s) => {
                        if self.seen.contains(&(s.update.id.clone(), s.update.seq)) {
                            continue;
                        }
                        s
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => return Some(Next::Cutoff(n)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            let key = (shown.level.clone(), shown.update.originator.clone());
            let allowed = match self.allowed.get(&key) {
                Some(a) => *a,
                None => {
                    let a = may_see(
                        &self.node,
                        &self.person,
                        &shown.level,
                        &shown.update.originator,
                    );
                    self.allowed.insert(key, a);
                    a
                }
            };
            if allowed {
                return Some(Next::Update(shown));
            }
        }
    }
}
