//! Real-time missile warnings (GSOMIA.md §4, rule 17), on their own
//! channel beside item traffic: an officer publishes a launch, trajectory
//! points and the impact; each update is signed by the originator, applied
//! here in order and once, shown live to cleared local subscribers (SSE),
//! and sent to every partner the warning link allows (originator → hub,
//! hub → the other members), each partner over its own ordered queue that
//! retries until the partner takes it, so a partner back during a flight
//! receives what it missed. Updates are ledgered in batches, so the ledger
//! never slows the feed. A subscriber that falls behind is cut off rather
//! than slowing anyone else; memory per subscriber is bounded.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use gsomia_core::warning::{Applied, Flight, Point, Update, check_fields, decide_warning};
use gsomia_core::{AccessDecision, ItemLabels, Label, TopicSet, decide_access};
use gsomia_ledger::entry::Kind;
use gsomia_seal::message::WarningUpdate;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::{ApiError, authenticate};
use crate::peer::PeerParty;
use crate::{Node, log};

/// How many updates a local subscriber may fall behind before it is cut off.
pub const SUBSCRIBER_BACKLOG: usize = 1024;
/// How often pending warning entries are committed to the ledger.
pub const LEDGER_EVERY: Duration = Duration::from_millis(100);
/// Closed flights kept in memory (the oldest closed ones are forgotten
/// beyond this; the ledger keeps every update).
pub const CLOSED_KEPT: usize = 256;
/// The topic warnings carry.
pub const TOPIC: &str = "warning.missile";

/// One applied update, as local subscribers see it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The update, decoded.
    pub update: WarningUpdate,
    /// The level this party marks it with.
    pub level: String,
    /// When this node applied it.
    pub applied_at: Timestamp,
    /// Its JSON form, made once for every subscriber.
    pub json: String,
}

impl Shown {
    /// An update as subscribers see it.
    pub fn new(update: WarningUpdate, level: String, applied_at: Timestamp) -> Shown {
        let mut s = Shown {
            update,
            level,
            applied_at,
            json: String::new(),
        };
        s.json = shown_json(&s).to_string();
        s
    }
}

/// A flight known here: its state, its signed updates in order, and the
/// level this party marks it with.
#[derive(Debug, Clone)]
struct Known {
    flight: Flight,
    signed: Vec<Vec<u8>>,
    level: String,
}

/// The warning state of a node.
pub struct Warnings {
    /// Flights by id: the flight and its signed updates, in order.
    flights: std::sync::Mutex<BTreeMap<String, Known>>,
    /// Local subscribers.
    live: broadcast::Sender<Arc<Shown>>,
    /// One ordered queue per partner (signed update bytes).
    queues: BTreeMap<String, mpsc::UnboundedSender<Vec<u8>>>,
    /// Ledger entries waiting for the next batch.
    pending: std::sync::Mutex<Vec<gsomia_ledger::entry::Entry>>,
    /// Ids of closed flights forgotten by [`CLOSED_KEPT`]: their updates are duplicates.
    forgotten: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The partner queues' receiving ends, until [`start`] takes them.
    receivers: std::sync::Mutex<Vec<(String, mpsc::UnboundedReceiver<Vec<u8>>)>>,
}

impl Warnings {
    /// How many updates of flight `id` this node has applied (0 if unknown).
    pub fn applied(&self, id: &str) -> usize {
        locked(&self.flights)
            .get(id)
            .map_or(0, |k| k.flight.updates.len())
    }
}

/// Starts the warning tasks of a node: one ordered sender per partner, on
/// the warning lane, and the batched ledger writer, on the item lane. Call
/// once; the handles stop them.
pub fn start(node: &Arc<Node>) -> Vec<tokio::task::JoinHandle<()>> {
    let receivers = std::mem::take(&mut *locked(&node.warnings.receivers));
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = receivers
        .into_iter()
        .map(|(party, rx)| {
            node.lanes
                .warning
                .spawn(send_to_partner(node.clone(), party, rx))
        })
        .collect();
    tasks.push(node.lanes.item.spawn(ledger_batches(node.clone())));
    tasks
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Warnings {
    /// The state, with one queue per partner (drained by the tasks [`start`] spawns).
    pub fn new(partners: &[crate::partner::Partner]) -> Warnings {
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let mut queues = BTreeMap::new();
        let mut receivers = Vec::new();
        for p in partners {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(p.party.clone(), tx);
            receivers.push((p.party.clone(), rx));
        }
        Warnings {
            flights: std::sync::Mutex::default(),
            live,
            queues,
            pending: std::sync::Mutex::default(),
            receivers: std::sync::Mutex::new(receivers),
            forgotten: std::sync::Mutex::default(),
        }
    }
}

fn timestamp(i: (i64, u32)) -> Result<Timestamp, String> {
    Timestamp::new(i.0, i32::try_from(i.1).unwrap_or(-1))
        .map_err(|_| "instant out of range".to_owned())
}

fn core_update(u: &WarningUpdate) -> Result<Update, String> {
    let point = Point {
        lat: u.lat,
        lon: u.lon,
    };
    let at = timestamp(u.at)?;
    Ok(match u.kind.as_str() {
        "launch" => Update::Launch { point, at },
        "track" => Update::Track {
            point,
            alt_km: u.alt_km,
            at,
        },
        "impact" => Update::Impact { point, at },
        other => return Err(format!("unknown update kind `{other}`")),
    })
}

/// Why an update was not applied.
#[derive(Debug)]
pub enum Rejected {
    /// Refused for good (forbidden route, bad data, signature): 403.
    Refused(String),
    /// Not yet (an earlier update is missing): 409, the sender retries.
    NotYet(String),
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
    let key = if claimed.originator == node.party {
        node.signer.key.public()
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
    let update = core_update(&u).map_err(refused)?;
    let now = node.now();
    let my_level = match from {
        Some(peer) => {
            let holder = reg.party(peer).map_err(|e| refused(e.to_string()))?;
            let (_, l) = decide_warning(&reg, originator, holder, node.me, level, now)
                .map_err(|e| refused(e.to_string()))?;
            reg.level_name(l).to_owned()
        }
        None => u.level.clone(),
    };
    if locked(&node.warnings.forgotten).contains(&u.id) {
        return Ok(Applied::Duplicate);
    }
    let applied = {
        let mut flights = locked(&node.warnings.flights);
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
                    signed.push(bytes.to_vec());
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
                        signed: vec![bytes.to_vec()],
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
    if matches!(update_kind(&u), "impact") {
        prune(&node.warnings);
    }
    // Forward to every partner the link allows from here.
    let mut relayed = Vec::new();
    for (party, queue) in &node.warnings.queues {
        if Some(party.as_str()) == from || *party == u.originator {
            continue;
        }
        let Ok(recipient) = reg.party(party) else {
            continue;
        };
        if decide_warning(&reg, originator, node.me, recipient, level, now).is_ok()
            && queue.send(bytes.to_vec()).is_ok()
        {
            relayed.push(party.clone());
        }
    }
    let _ = node
        .warnings
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
        Ok(e) => locked(&node.warnings.pending).push(e),
        Err(e) => log(&format!("warning ledger entry: {e}")),
    }
    Ok(applied)
}

fn update_kind(u: &WarningUpdate) -> &str {
    u.kind.as_str()
}

/// Forgets the oldest closed flights beyond [`CLOSED_KEPT`] (memory stays bounded).
fn prune(w: &Warnings) {
    let mut flights = locked(&w.flights);
    let closed: Vec<(Timestamp, String)> = flights
        .iter()
        .filter(|(_, k)| k.flight.closed())
        .filter_map(|(id, k)| k.flight.updates.last().map(|u| (u.at(), id.clone())))
        .collect();
    if closed.len() > CLOSED_KEPT {
        let mut closed = closed;
        closed.sort();
        let mut forgotten = locked(&w.forgotten);
        for (_, id) in closed.iter().take(closed.len() - CLOSED_KEPT) {
            flights.remove(id);
            forgotten.insert(id.clone());
        }
    }
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
    let batch = std::mem::take(&mut *locked(&node.warnings.pending));
    if !batch.is_empty()
        && let Err(e) = node.ledger(batch).await
    {
        log(&format!("warning ledger: {e}"));
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
            let (Some(partner), Some(client)) =
                (node.partner(&party), node.warning_clients.get(&party))
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
                Ok(r) if r.status() == StatusCode::FORBIDDEN => {
                    let why = r.text().await.unwrap_or_default();
                    log(&format!("warning update refused by {party}: {why}"));
                    break;
                }
                Ok(r) => log(&format!("warning update to {party}: {}", r.status())),
                Err(e) => log(&format!("warning update to {party}: {e}")),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }
}

/// `POST /peer/v1/warnings`: one signed update from a partner.
pub async fn receive(
    State(node): State<Arc<Node>>,
    axum::Extension(peer): axum::Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    match accept(&node, &body, Some(&peer.0)) {
        Ok(a) => Json(json!({ "applied": if a == Applied::New { "new" } else { "duplicate" } }))
            .into_response(),
        Err(Rejected::Refused(why)) => {
            log(&format!("warning update from {}: {why}", peer.0));
            (StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response()
        }
        Err(Rejected::NotYet(why)) => {
            (StatusCode::CONFLICT, Json(json!({ "error": why }))).into_response()
        }
    }
}

// ---------------------------------------------------------------- user API

fn point(v: Option<&Value>, name: &str) -> Result<Point, ApiError> {
    let p = v.and_then(Value::as_object).ok_or_else(|| {
        ApiError::BadRequest(format!("`{name}` is required: {{\"lat\": …, \"lon\": …}}"))
    })?;
    if let Some(k) = p.keys().find(|k| *k != "lat" && *k != "lon") {
        return Err(ApiError::BadRequest(format!(
            "`{name}.{k}`: a point has only `lat` and `lon` (rule 17)"
        )));
    }
    let num = |k: &str| {
        p.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| ApiError::BadRequest(format!("`{name}.{k}` must be a number")))
    };
    Ok(Point {
        lat: num("lat")?,
        lon: num("lon")?,
    })
}

/// Parses a request body into its fields, refusing any field outside the
/// three data elements first (rule 17).
fn fields(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    check_fields(v.keys().map(String::as_str)).map_err(|e| ApiError::Refused(e.to_string()))?;
    Ok(v)
}

fn instant(v: &Map<String, Value>, now: Timestamp) -> Result<Timestamp, ApiError> {
    match v.get("at").and_then(Value::as_str) {
        Some(s) => gsomia_core::time::parse_instant(s)
            .map_err(|e| ApiError::BadRequest(format!("`at`: {e}"))),
        None => Ok(now),
    }
}

fn officer(p: &gsomia_store::Person) -> Result<(), ApiError> {
    if p.role == gsomia_store::Role::Auditor {
        return Err(ApiError::Forbidden("auditors do not publish warnings"));
    }
    Ok(())
}

fn publish(node: &Node, u: WarningUpdate) -> Result<Value, ApiError> {
    let bytes = u.seal(&node.signer.key);
    match accept(node, &bytes, None) {
        Ok(_) => Ok(json!({
            "id": u.id, "seq": u.seq, "kind": u.kind,
            "at": timestamp(u.at).map(|t| t.to_string()).unwrap_or_default(),
        })),
        Err(Rejected::Refused(why) | Rejected::NotYet(why)) => Err(ApiError::Refused(why)),
    }
}

/// `POST /v1/warnings`: opens a warning with its launch point.
pub async fn launch(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let person = authenticate(&node, &headers).await?;
    officer(&person)?;
    let v = fields(&body)?;
    let p = point(v.get("launch_point"), "launch_point")?;
    let at = instant(&v, node.now())?;
    let reg = node.registry();
    // The party's level for warnings: its level in the link's first grade.
    let level = default_level(&reg, node.me)
        .ok_or_else(|| ApiError::Refused("this party is in no warning link".into()))?;
    let id = crate::new_id(&format!("{}-w", node.party), node.now()).map_err(ApiError::Internal)?;
    let doc = publish(
        &node,
        WarningUpdate {
            id,
            originator: node.party.clone(),
            level,
            seq: 0,
            kind: "launch".into(),
            lat: p.lat,
            lon: p.lon,
            alt_km: 0.0,
            at: (
                at.as_second(),
                u32::try_from(at.subsec_nanosecond()).unwrap_or(0),
            ),
        },
    )?;
    Ok((StatusCode::CREATED, Json(doc)))
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

async fn follow_up(
    node: &Node,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    kind: &str,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(node, headers).await?;
    officer(&person)?;
    let v = fields(body)?;
    let (p, alt) = if kind == "track" {
        let alt = v
            .get("alt_km")
            .and_then(Value::as_f64)
            .ok_or_else(|| ApiError::BadRequest("`alt_km` must be a number".into()))?;
        (point(v.get("point"), "point")?, alt)
    } else {
        (point(v.get("impact_point"), "impact_point")?, 0.0)
    };
    let at = instant(&v, node.now())?;
    let (seq, level) = {
        let flights = locked(&node.warnings.flights);
        let Known { flight, .. } = flights
            .get(id)
            .filter(|k| k.flight.originator == node.party)
            .ok_or_else(|| ApiError::BadRequest(format!("no warning `{id}` published here")))?;
        let level = flights
            .get(id)
            .and_then(|k| k.signed.first())
            .and_then(|b| WarningUpdate::decode(b).ok())
            .map(|u| u.level)
            .unwrap_or_default();
        (
            u32::try_from(flight.updates.len()).unwrap_or(u32::MAX),
            level,
        )
    };
    publish(
        node,
        WarningUpdate {
            id: id.to_owned(),
            originator: node.party.clone(),
            level,
            seq,
            kind: kind.into(),
            lat: p.lat,
            lon: p.lon,
            alt_km: alt,
            at: (
                at.as_second(),
                u32::try_from(at.subsec_nanosecond()).unwrap_or(0),
            ),
        },
    )
    .map(Json)
}

/// `POST /v1/warnings/{id}/track`: a trajectory point.
pub async fn track(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    follow_up(&node, &headers, &id, &body, "track").await
}

/// `POST /v1/warnings/{id}/impact`: the impact point; closes the warning.
pub async fn impact(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    follow_up(&node, &headers, &id, &body, "impact").await
}

fn shown_json(s: &Shown) -> Value {
    json!({
        "id": s.update.id, "originator": s.update.originator, "seq": s.update.seq,
        "kind": s.update.kind, "lat": s.update.lat, "lon": s.update.lon,
        "alt_km": s.update.alt_km,
        "at": timestamp(s.update.at).map(|t| t.to_string()).unwrap_or_default(),
        "level": s.level, "originator_level": s.update.level,
        "applied_at": s.applied_at.to_string(),
    })
}

/// Whether `person` may see a warning marked `level` here (clearance at or
/// above it, valid now, and need-to-know for warnings).
fn may_see(node: &Node, person: &gsomia_store::Person, level: &str, originator: &str) -> bool {
    let reg = node.registry();
    let (Ok(me_level), Ok(clearance), Ok(topic)) = (
        reg.level(node.me, level),
        reg.level(node.me, &person.clearance),
        reg.topic(TOPIC),
    ) else {
        return false;
    };
    let Ok(until) = gsomia_core::time::parse_instant(&person.clearance_until) else {
        return false;
    };
    let Ok(ntk) = reg.need_to_know(person.need_to_know.iter().map(String::as_str)) else {
        return false;
    };
    let Ok(orig) = reg.party(originator) else {
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
    let reader = gsomia_core::Reader {
        party: node.me,
        clearance,
        clearance_until: until,
        need_to_know: ntk,
    };
    matches!(
        decide_access(&reg, &reader, &ItemLabels::new(label), node.now()),
        AccessDecision::Allow { .. }
    )
}

/// `GET /v1/warnings`: every warning known here that the caller may see.
pub async fn list(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(&node, &headers).await?;
    let flights: Vec<(String, Known)> = locked(&node.warnings.flights)
        .iter()
        .map(|(id, k)| (id.clone(), k.clone()))
        .collect();
    let mut out = Vec::new();
    for (
        id,
        Known {
            flight,
            signed,
            level,
        },
    ) in flights
    {
        let (closed, originator) = (flight.closed(), flight.originator);
        if !may_see(&node, &person, &level, &originator) {
            continue;
        }
        let updates: Vec<Value> = signed
            .iter()
            .filter_map(|b| WarningUpdate::decode(b).ok())
            .map(|u| shown_json(&Shown::new(u, level.clone(), node.now())))
            .collect();
        out.push(json!({ "id": id, "originator": originator, "closed": closed, "level": level, "updates": updates }));
    }
    Ok(Json(json!({ "warnings": out })))
}

/// `GET /v1/warnings/stream`: server-sent events — first every update of
/// the warnings still in flight (a late subscriber sees them), then each
/// update as it is applied. A subscriber more than [`SUBSCRIBER_BACKLOG`]
/// updates behind is cut off (a final `cutoff` event), never slowing others.
pub async fn stream(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let person = authenticate(&node, &headers).await?;
    // Subscribe before the snapshot, so nothing falls between them.
    let rx = node.warnings.live.subscribe();
    let mut backlog = Vec::new();
    for Known {
        flight,
        signed,
        level,
    } in locked(&node.warnings.flights).values()
    {
        if flight.closed() {
            continue;
        }
        for b in signed {
            if let Ok(u) = WarningUpdate::decode(b) {
                backlog.push(Arc::new(Shown::new(u, level.clone(), node.now())));
            }
        }
    }
    let seen: std::collections::BTreeSet<(String, u32)> = backlog
        .iter()
        .map(|s| (s.update.id.clone(), s.update.seq))
        .collect();
    struct St {
        node: Arc<Node>,
        person: gsomia_store::Person,
        backlog: std::collections::VecDeque<Arc<Shown>>,
        seen: std::collections::BTreeSet<(String, u32)>,
        rx: broadcast::Receiver<Arc<Shown>>,
        done: bool,
        allowed: BTreeMap<(String, String), bool>,
    }
    let st = St {
        node,
        person,
        backlog: backlog.into(),
        seen,
        rx,
        done: false,
        allowed: BTreeMap::new(),
    };
    let events = futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let shown = match st.backlog.pop_front() {
                Some(s) => s,
                None => match st.rx.recv().await {
                    Ok(s) => {
                        if st.seen.contains(&(s.update.id.clone(), s.update.seq)) {
                            continue;
                        }
                        s
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        st.done = true;
                        let e = Event::default()
                            .event("cutoff")
                            .data(format!("{n} updates behind: cut off; subscribe again"));
                        return Some((Ok::<Event, Infallible>(e), st));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            // Access depends on the level and the originator: decided once per pair.
            let key = (shown.level.clone(), shown.update.originator.clone());
            let allowed = match st.allowed.get(&key) {
                Some(a) => *a,
                None => {
                    let a = may_see(&st.node, &st.person, &shown.level, &shown.update.originator);
                    st.allowed.insert(key, a);
                    a
                }
            };
            if !allowed {
                continue;
            }
            let e = Event::default().event("warning").data(shown.json.as_str());
            return Some((Ok(e), st));
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response())
}
