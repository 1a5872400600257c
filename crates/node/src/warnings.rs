//! Real-time missile warnings (GSOMIA.md §4, rule 17), beside item
//! traffic: an officer publishes a launch, trajectory points and the
//! impact; each update is signed by the originator, applied here in order
//! and once, shown live to cleared local subscribers, and sent to every
//! partner the warning link allows (originator → hub, hub → the other
//! members), each over its own ordered queue that retries until the
//! partner takes it. Updates are ledgered in batches, so the ledger never
//! slows the feed. A subscriber that falls behind is cut off rather than
//! slowing anyone else.

use std::collections::{BTreeMap, VecDeque};
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
use crate::feed::{Effects, Known, Shown};
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
    /// Applied, but not recorded durably (the sender retries).
    #[error("{0}")]
    Failed(String),
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
    /// Applied but not recorded durably.
    #[error("the update could not be recorded: {0}")]
    Failed(String),
}

impl Classified for WarningError {
    fn class(&self) -> Class {
        match self {
            WarningError::Invalid(_) => Class::BadRequest,
            WarningError::Refused(_) => Class::Refused,
            WarningError::NotFound(_) => Class::NotFound,
            WarningError::Role(e) => e.class(),
            WarningError::Entropy(_) | WarningError::Failed(_) => Class::Internal,
        }
    }
}

/// The most an update's instant may lie ahead of this node's clock: the
/// link carries launches, trajectories and impacts that happened, not
/// predictions (rule 17); beyond clock skew, an instant ahead is refused.
pub const MAX_AHEAD: Duration = Duration::from_secs(300);

/// How far back the feed is rebuilt from the store when a node starts.
pub const RESTORE_WINDOW: Duration = Duration::from_secs(24 * 3600);

fn ahead(at: Timestamp, now: Timestamp) -> Option<String> {
    let limit = now
        .checked_add(jiff::SignedDuration::from_secs(MAX_AHEAD.as_secs() as i64))
        .unwrap_or(now);
    (at > limit).then(|| {
        format!(
            "the update's instant {at} is ahead of this node's clock ({now}) by more than {}s: the link carries what happened, not predictions (rule 17)",
            MAX_AHEAD.as_secs()
        )
    })
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
    tasks.push(node.lanes().warning.spawn(follow(node.clone())));
    tasks.push(node.lanes().warning.spawn(sweep_owed(node.clone())));
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
/// `from` is `None`), as [`apply`] does; what is to be written durably is
/// written with the next batch (within [`LEDGER_EVERY`]).
#[cfg_attr(
    not(feature = "testkit"),
    allow(dead_code, reason = "tests and benches apply updates directly")
)]
pub fn accept(node: &Node, bytes: &[u8], from: Option<&str>) -> Result<Applied, Rejected> {
    let Done {
        applied,
        persist,
        effects,
        new,
    } = apply(node, bytes, from)?;
    if !persist.is_empty() {
        let mut staged = locked(&node.feed().staged);
        staged.rows.extend(persist.rows);
        staged.owed.extend(persist.owed);
    }
    if let Some(n) = new {
        release(node, n.ticket, Some(effects));
    }
    Ok(applied)
}

/// [`accept`], the update and the forwards it owes written durably before
/// this returns: what a partner's or a user's request is answered after.
///
/// Nothing of it is shown, forwarded or ledgered until it is durable; if
/// it cannot be written the flight is as it was, so the sender's retry
/// applies it anew. An update published here (`from` `None`) on a store
/// other processes write must be new there: if another process took its
/// number meanwhile, it is refused (the publisher sends it again, numbered
/// after the other).
pub async fn accept_durably(
    node: &Node,
    bytes: &[u8],
    from: Option<&str>,
) -> Result<Applied, Rejected> {
    let Done {
        applied,
        persist,
        effects,
        new,
    } = apply(node, bytes, from)?;
    if !persist.is_empty() {
        let strict = from.is_none() && node.store().shared();
        let written = node
            .store()
            .commit(gsomia_store::Batch {
                warnings: persist.rows,
                warnings_new: strict,
                warnings_owed: persist.owed,
                ..gsomia_store::Batch::default()
            })
            .await;
        if let Err(e) = written {
            take_back(node, new.as_slice());
            return Err(match e {
                gsomia_store::StoreError::Duplicate(what) if strict => Rejected::Refused(format!(
                    "update {what} was published by another process of this node meanwhile: send it again"
                )),
                e => {
                    tracing::error!(error = %e, "warning: cannot record an update");
                    Rejected::Failed("the update could not be recorded; send it again".into())
                }
            });
        }
    }
    if let Some(n) = new {
        release(node, n.ticket, Some(effects));
    }
    Ok(applied)
}

/// What applying an update did to the flights, and what follows from it.
struct Done {
    applied: Applied,
    /// What is to be written durably.
    persist: crate::feed::Persist,
    /// What is done once it is written.
    effects: Effects,
    /// The update, if it was new here.
    new: Option<New>,
}

/// An update applied to a flight here, not yet written.
struct New {
    /// Its flight.
    id: String,
    /// Its number.
    seq: u32,
    /// Its place in the order effects are done.
    ticket: u64,
}

/// Takes back `applied` (in the order they were applied) after their write
/// failed: each flight as it was before them (its updates from the first
/// one taken back cut off, or the flight forgotten if one of them opened
/// it), their effects never done. The sender's retry applies them anew.
fn take_back(node: &Node, applied: &[New]) {
    {
        let mut flights = locked(&node.feed().flights);
        for n in applied.iter().rev() {
            if n.seq == 0 {
                flights.remove(&n.id);
            } else if let Some(k) = flights.get_mut(&n.id) {
                let keep = n.seq as usize;
                k.flight.updates.truncate(keep);
                k.signed.truncate(keep);
            }
        }
    }
    for n in applied {
        release(node, n.ticket, None);
    }
}

/// Hands back `ticket`'s effects (none if its write failed) and does every
/// effect now due, in the order the updates were applied.
fn release(node: &Node, ticket: u64, effects: Option<Effects>) {
    let due = locked(&node.feed().effects).finish(ticket, effects);
    for e in due {
        run(node, e);
    }
}

fn run(node: &Node, e: Effects) {
    let feed = node.feed();
    if e.prune {
        feed.prune();
    }
    for (queue, owed) in e.forwards {
        // A queue whose sender has stopped: the forward stays owed in
        // the store, sent after a restart (or by another process).
        let _ = queue.send(owed);
    }
    if let Some(shown) = e.shown {
        let _ = feed.live.send(shown);
    }
    if let Some(entry) = e.entry {
        locked(&feed.pending).push(entry);
    }
}

/// Applies `update` (signed as `bytes`) to the flights known here, at
/// `at`; a flight it opens is marked `level`. Whether it was new; refused,
/// or not yet (an earlier update is missing).
fn apply_to_flights(
    flights: &mut BTreeMap<String, Known>,
    u: &WarningUpdate,
    update: Update,
    bytes: &[u8],
    at: Timestamp,
    level: &str,
) -> Result<Applied, Rejected> {
    let refused = |s: String| Rejected::Refused(s);
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
                signed.push((bytes.to_vec(), at));
            }
            Ok(a)
        }
        None if u.seq == 0 => {
            let flight =
                Flight::open(&u.id, &u.originator, update).map_err(|e| refused(e.to_string()))?;
            flights.insert(
                u.id.clone(),
                Known {
                    flight,
                    signed: vec![(bytes.to_vec(), at)],
                    level: level.to_owned(),
                },
            );
            Ok(Applied::New)
        }
        None => Err(Rejected::NotYet(format!(
            "update {} of unknown flight `{}`: its launch is missing",
            u.seq, u.id
        ))),
    }
}

/// Applies a signed update received from `from` (or published here when
/// `from` is `None`) to the flights: verified, routed, applied once.
/// Returns whether it was new, what is to be written durably (the update
/// and the forwards owed) and what is to be done after (shown, ledgered,
/// forwarded).
fn apply(node: &Node, bytes: &[u8], from: Option<&str>) -> Result<Done, Rejected> {
    let refused = |s: String| Rejected::Refused(s);
    let claimed = WarningUpdate::decode(bytes).map_err(|e| refused(format!("malformed: {e}")))?;
    let reg = node.registry();
    let originator = reg
        .party(&claimed.originator)
        .map_err(|e| refused(e.to_string()))?;
    let key = node.key_of(&claimed.originator).ok_or_else(|| {
        refused(format!(
            "{} is not a partner: its signature cannot be checked",
            claimed.originator
        ))
    })?;
    let u = WarningUpdate::open(bytes, &key).map_err(|e| refused(format!("signature: {e}")))?;
    let level = reg
        .level(originator, &u.level)
        .map_err(|e| refused(e.to_string()))?;
    let update = core_update(&u).map_err(|e| refused(e.to_string()))?;
    let now = node.now();
    if let Some(why) = ahead(update.at(), now) {
        return Err(refused(why));
    }
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
    let duplicate = || Done {
        applied: Applied::Duplicate,
        persist: crate::feed::Persist::default(),
        effects: Effects::default(),
        new: None,
    };
    if locked(&feed.forgotten).contains(&u.id) {
        return Ok(duplicate());
    }
    let ticket = {
        let mut flights = locked(&feed.flights);
        let applied = apply_to_flights(&mut flights, &u, update, bytes, now, &my_level)?;
        if applied == Applied::Duplicate {
            return Ok(duplicate());
        }
        // Taken while the flights are locked: tickets follow apply order.
        locked(&feed.effects).ticket()
    };
    let mut effects = Effects {
        prune: u.kind == "impact",
        ..Effects::default()
    };
    // Forward to every partner the link allows from here.
    let stamp = now.to_string();
    let mut persist = crate::feed::Persist {
        rows: vec![gsomia_store::WarningRow {
            flight: u.id.clone(),
            seq: u.seq,
            bytes: bytes.to_vec(),
            applied_at: stamp.clone(),
            applied_unix: now.as_second(),
            level: my_level.clone(),
        }],
        owed: Vec::new(),
    };
    let mut relayed = Vec::new();
    for (party, queue) in &feed.queues() {
        if Some(party.as_str()) == from || *party == u.originator {
            continue;
        }
        let Ok(recipient) = reg.party(party) else {
            continue;
        };
        if decide_warning(&reg, originator, node.me(), recipient, level, now).is_ok()
            && !queue.is_closed()
        {
            effects.forwards.push((
                queue.clone(),
                crate::feed::Owed {
                    flight: u.id.clone(),
                    seq: u.seq,
                    bytes: bytes.to_vec(),
                },
            ));
            persist
                .owed
                .push((party.clone(), u.id.clone(), u.seq, stamp.clone()));
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
    effects.shown = Some(Arc::new(Shown::new(u.clone(), my_level, now)));
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
        Ok(e) => effects.entry = Some(e),
        Err(e) => tracing::error!(error = %e, "warning ledger entry"),
    }
    Ok(Done {
        applied: Applied::New,
        persist,
        effects,
        new: Some(New {
            id: u.id.clone(),
            seq: u.seq,
            ticket,
        }),
    })
}

/// A stored update checked again: its signature by its originator's key
/// (this node's, or a partner's), its fields, the instant it was applied.
/// `None` (logged) for one that does not verify.
fn stored(
    node: &Node,
    row: &gsomia_store::WarningRow,
) -> Option<(WarningUpdate, Update, Timestamp)> {
    let claimed = WarningUpdate::decode(&row.bytes).ok()?;
    let key = node.key_of(&claimed.originator)?;
    let (Ok(u), Ok(applied_at)) = (
        WarningUpdate::open(&row.bytes, &key),
        gsomia_core::time::parse_instant(&row.applied_at),
    ) else {
        tracing::error!(flight = %row.flight, seq = row.seq, "a stored warning update does not verify; left out");
        return None;
    };
    let update = core_update(&u).ok()?;
    Some((u, update, applied_at))
}

/// How often a process of a node whose store other processes write looks
/// for the warning updates they applied.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(50);

/// On a store other processes write: the warning updates they applied,
/// read in the order they were committed (positions taken under the
/// store's head lock, so none is skipped), checked again and shown to this
/// process's own subscribers (what this process applied itself is already
/// here and is left as it is). Partners are sent each update by the
/// process that applied it.
pub async fn follow(node: Arc<Node>) {
    if !node.store().shared() {
        return;
    }
    catch_up(&node, &mut *node.feed().followed.lock().await, false).await;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        catch_up(&node, &mut *node.feed().followed.lock().await, true).await;
    }
}

/// Brings this process's flights up to the warning updates committed in
/// the store after `last` (by any process), each checked again and shown
/// to this process's subscribers if new here; `last` moves past them. The
/// first call (`last` unset) starts from the store's latest position, or,
/// with `apply_first` false, only takes it.
async fn catch_up(node: &Node, last: &mut Option<i64>, apply_first: bool) {
    let mut at = match *last {
        Some(p) => p,
        None => match node.store().last_warning_position().await {
            Ok(p) => {
                *last = Some(p);
                if !apply_first {
                    return;
                }
                p
            }
            Err(e) => {
                tracing::error!(error = %e, "warning feed: cannot read the store");
                return;
            }
        },
    };
    loop {
        let rows = match node.store().warnings_after(at, FOLLOW_PAGE).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "warning feed: cannot read the store");
                break;
            }
        };
        let full = rows.len() >= FOLLOW_PAGE as usize;
        for (pos, row) in rows {
            at = pos;
            let Some((u, update, applied_at)) = stored(node, &row) else {
                continue;
            };
            let feed = node.feed();
            let applied = apply_to_flights(
                &mut locked(&feed.flights),
                &u,
                update,
                &row.bytes,
                applied_at,
                &row.level,
            );
            if let Ok(Applied::New) = applied {
                if u.kind == "impact" {
                    feed.prune();
                }
                let _ = feed
                    .live
                    .send(Arc::new(Shown::new(u, row.level.clone(), applied_at)));
            }
        }
        if !full {
            break;
        }
    }
    *last = Some(at);
}

/// Updates read from the store at a time when following it.
const FOLLOW_PAGE: u32 = 1024;

/// How long a forward may wait in a shared store before another process
/// of the node sends it too (the process that owed it may have died).
pub const ORPHANED_AFTER: Duration = Duration::from_secs(10);

/// On a store other processes write: the forwards owed to partners that
/// have waited [`ORPHANED_AFTER`] are queued here too, by one process at a
/// time (a lease), each once per process. A partner takes an update it
/// already has as a duplicate, so a forward its own process also sends
/// costs nothing but the bytes.
pub async fn sweep_owed(node: Arc<Node>) {
    if !node.store().shared() {
        return;
    }
    let mut swept: std::collections::HashSet<(String, String, u32)> =
        std::collections::HashSet::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match node.store().lead("warning-forwards", 5).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(error = %e, "warning forwards: cannot read the lease");
                continue;
            }
        }
        let owed = match node.store().warnings_owed().await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "warning forwards: cannot read the store");
                continue;
            }
        };
        let now = node.now();
        let mut still = std::collections::HashSet::with_capacity(owed.len());
        let queues = node.feed().queues();
        for o in owed {
            let key = (o.party.clone(), o.flight.clone(), o.seq);
            still.insert(key.clone());
            let old = gsomia_core::time::parse_instant(&o.queued_at).is_ok_and(|q| {
                now.duration_since(q)
                    >= jiff::SignedDuration::try_from(ORPHANED_AFTER).unwrap_or_default()
            });
            if !old || swept.contains(&key) {
                continue;
            }
            if let Some(q) = queues.get(&o.party)
                && q.send(crate::feed::Owed {
                    flight: o.flight,
                    seq: o.seq,
                    bytes: o.bytes,
                })
                .is_ok()
            {
                tracing::info!(partner = %key.0, flight = %key.1, seq = key.2, "warning forward taken over from another process");
                swept.insert(key);
            }
        }
        // Forget what has been delivered since.
        swept.retain(|k| still.contains(k));
    }
}

/// Rebuilds the feed from the store when the node starts: the updates
/// applied within [`RESTORE_WINDOW`] (each signature checked again: the
/// store is not trusted), and every forward still owed to a partner, queued
/// again in order before anything new. Nothing is shown, forwarded or
/// ledgered again. Returns (updates restored, forwards owed).
pub async fn restore(node: &Node) -> Result<(usize, usize), gsomia_store::StoreError> {
    let now = node.now();
    let since = now.as_second() - RESTORE_WINDOW.as_secs() as i64;
    let rows = node.store().warnings_since(since).await?;
    let feed = node.feed();
    let mut restored = 0;
    {
        let mut flights = locked(&feed.flights);
        for row in &rows {
            let Some((u, update, applied_at)) = stored(node, row) else {
                continue;
            };
            let ok = apply_to_flights(&mut flights, &u, update, &row.bytes, applied_at, &row.level)
                .is_ok();
            restored += usize::from(ok);
        }
    }
    feed.prune();
    let owed = node.store().warnings_owed().await?;
    let mut queued = 0;
    for o in owed {
        if let Some(q) = feed.queues().get(&o.party)
            && q.send(crate::feed::Owed {
                flight: o.flight,
                seq: o.seq,
                bytes: o.bytes,
            })
            .is_ok()
        {
            queued += 1;
        }
    }
    Ok((restored, queued))
}

/// Commits pending warning entries every [`LEDGER_EVERY`] (one transaction per batch).
pub async fn ledger_batches(node: Arc<Node>) {
    loop {
        tokio::time::sleep(LEDGER_EVERY).await;
        flush(&node).await;
    }
}

/// Commits the pending warning entries now, with the updates and forwards
/// staged and the updates partners took. When it returns, everything that
/// waited when it was called is written (a batch under way is waited for),
/// unless the write failed: then it all waits again, for the next batch.
pub async fn flush(node: &Node) {
    let feed = node.feed();
    let _turn = feed.flushing.lock().await;
    let entries = feed.take_pending();
    let (staged, taken) = feed.take_staged();
    if entries.is_empty() && staged.is_empty() && taken.is_empty() {
        return;
    }
    let batch = gsomia_store::Batch {
        entries: entries.clone(),
        warnings: staged.rows.clone(),
        warnings_owed: staged.owed.clone(),
        warnings_taken: taken.clone(),
        ..gsomia_store::Batch::default()
    };
    if let Err(e) = node.store().commit(batch).await {
        tracing::error!(error = %e, "warning ledger: kept for the next batch");
        feed.put_back(entries, staged, taken);
    }
}

/// The most updates one request to a partner carries.
pub const WARNING_BATCH: usize = 256;
const BATCH_TAG: &str = "gsomia/v1/warning-batch";

/// Signed updates as one request body (each keeps its own signature; the
/// connection says who sends them).
pub fn encode_batch<'a>(updates: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut w = gsomia_seal::canon::Writer::tagged(BATCH_TAG);
    w.count(updates.len());
    for u in updates {
        w.bytes(u);
    }
    w.finish()
}

/// The signed updates of a batch body.
pub fn decode_batch(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut r = gsomia_seal::canon::Reader::new(body, body.len());
    r.expect_tag(BATCH_TAG).map_err(|e| e.to_string())?;
    let n = r.count(4).map_err(|e| e.to_string())?;
    if n > WARNING_BATCH {
        return Err(format!("more than {WARNING_BATCH} updates in one batch"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.bytes().map_err(|e| e.to_string())?);
    }
    r.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// A partner's batch of updates, applied in order, an update whose
/// predecessor is missing applied once a later one of the batch supplies
/// it; each one refused for good is skipped (and logged). Everything
/// applied is written durably in one commit before this returns how many
/// of the batch were taken from its start: the partner sends the rest
/// again.
pub async fn accept_batch(node: &Node, body: &[u8], from: &str) -> Result<usize, Rejected> {
    let updates =
        decode_batch(body).map_err(|e| Rejected::Refused(format!("malformed batch: {e}")))?;
    let mut persist = crate::feed::Persist::default();
    let (mut effects, mut new) = (Vec::new(), Vec::new());
    // Applied in passes until one makes no progress: an update whose
    // predecessor comes later in the batch (a forward another process of
    // the partner took over, queued behind later ones) is applied once
    // that predecessor is, instead of holding the batch, and every batch
    // after it, back for good.
    let mut settled = vec![false; updates.len()];
    let mut left: Vec<(usize, &[u8])> = updates.into_iter().enumerate().collect();
    while !left.is_empty() {
        let before_pass = left.len();
        let mut not_yet = Vec::new();
        for (i, bytes) in left {
            match apply(node, bytes, Some(from)) {
                Ok(done) => {
                    persist.rows.extend(done.persist.rows);
                    persist.owed.extend(done.persist.owed);
                    if let Some(n) = done.new {
                        effects.push(done.effects);
                        new.push(n);
                    }
                }
                Err(Rejected::Refused(why)) => {
                    tracing::warn!(partner = from, reason = %why, "warning update refused");
                    node.metrics().refused("warning", ["rule 17"]);
                }
                Err(Rejected::NotYet(_) | Rejected::Failed(_)) => {
                    not_yet.push((i, bytes));
                    continue;
                }
            }
            if let Some(s) = settled.get_mut(i) {
                *s = true;
            }
        }
        if not_yet.len() == before_pass {
            break;
        }
        left = not_yet;
    }
    // What the partner may stop sending: the batch up to the first update
    // not applied yet (the rest come again, duplicates where taken here).
    let taken = settled.iter().take_while(|s| **s).count();
    if !persist.is_empty() {
        let written = node
            .store()
            .commit(gsomia_store::Batch {
                warnings: persist.rows,
                warnings_owed: persist.owed,
                ..gsomia_store::Batch::default()
            })
            .await;
        if let Err(e) = written {
            take_back(node, &new);
            tracing::error!(error = %e, "warning: cannot record a batch");
            return Err(Rejected::Failed(
                "the updates could not be recorded; send them again".into(),
            ));
        }
    }
    for (n, e) in new.into_iter().zip(effects) {
        release(node, n.ticket, Some(e));
    }
    Ok(taken)
}

/// Sends a partner its queue of updates, in order: whatever has queued
/// while the last request was out goes in the next (up to
/// [`WARNING_BATCH`]), so a partner that answers slowly (it writes each
/// batch durably before it answers) gets fewer, larger requests rather
/// than a growing backlog. Retried until the partner takes them (a partner
/// back after an outage receives what it missed); what it takes is marked
/// no longer owed.
pub async fn send_to_partner(
    node: Arc<Node>,
    party: String,
    mut queue: mpsc::UnboundedReceiver<crate::feed::Owed>,
) {
    let mut held: VecDeque<crate::feed::Owed> = VecDeque::new();
    loop {
        if held.is_empty() {
            match queue.recv().await {
                Some(o) => held.push_back(o),
                None => return,
            }
        }
        while held.len() < WARNING_BATCH {
            match queue.try_recv() {
                Ok(o) => held.push_back(o),
                Err(_) => break,
            }
        }
        let mut wait = Duration::from_millis(20);
        loop {
            let (Some(partner), Some(client)) = (node.partner(&party), node.warning_client(&party))
            else {
                // No longer a partner: what it is owed stays in the store.
                return;
            };
            let url = format!(
                "{}/peer/v1/warnings/batch",
                partner.endpoint.trim_end_matches('/')
            );
            let body = encode_batch(held.iter().map(|o| o.bytes.as_slice()));
            let answer = client
                .post(url)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await;
            let took = match answer {
                Ok(r) if r.status().is_success() => r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v.get("taken").and_then(serde_json::Value::as_u64))
                    .map_or(0, |n| usize::try_from(n).unwrap_or(0).min(held.len())),
                Ok(r) => {
                    tracing::info!(partner = %party, status = %r.status(), "warning updates not taken; retrying");
                    0
                }
                Err(e) => {
                    tracing::info!(partner = %party, error = %e, "warning updates not sent; retrying");
                    0
                }
            };
            if took > 0 {
                let at = node.now().to_string();
                let mut taken = locked(&node.feed().taken);
                for o in held.drain(..took) {
                    taken.push((party.clone(), o.flight, o.seq, at.clone()));
                }
                break;
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

/// Refuses a warning this node could not deliver where the link says it
/// goes: a party the link routes it to from here that is not a configured
/// partner (a hub that is missing, most often).
fn routable(node: &Node, level: &str, at: Timestamp) -> Result<(), WarningError> {
    let reg = node.registry();
    let level = reg
        .level(node.me(), level)
        .map_err(|e| WarningError::Invalid(e.to_string()))?;
    let missing: Vec<String> = reg
        .policies()
        .iter()
        .filter_map(|p| reg.party(p.party().as_str()).ok())
        .filter(|p| *p != node.me())
        .filter(|p| decide_warning(&reg, node.me(), node.me(), *p, level, at).is_ok())
        .map(|p| reg.party_id(p).to_owned())
        .filter(|p| node.partner(p).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WarningError::Refused(format!(
            "the warning link routes this warning from here to {}, not a configured partner of this node (gsomia partner add): it would reach no one there (rule 16, rule 17)",
            missing.join(", ")
        )))
    }
}

async fn publish(node: &Node, u: WarningUpdate) -> Result<Published, WarningError> {
    let now = node.now();
    let at =
        gsomia_core::time::from_wire(u.at).map_err(|e| WarningError::Invalid(e.to_string()))?;
    if let Some(why) = ahead(at, now) {
        node.metrics().refused("warning", ["rule 17"]);
        return Err(WarningError::Refused(why));
    }
    routable(node, &u.level, now)?;
    let bytes = u.seal(&node.signer().key);
    match accept_durably(node, &bytes, None).await {
        Ok(_) => Ok(Published {
            id: u.id,
            seq: u.seq,
            kind: u.kind,
            at: gsomia_core::time::from_wire(u.at)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        }),
        Err(Rejected::Refused(why) | Rejected::NotYet(why)) => Err(WarningError::Refused(why)),
        Err(Rejected::Failed(why)) => Err(WarningError::Failed(why)),
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
pub async fn launch(node: &Node, person: &Person, req: &Launch) -> Result<Published, WarningError> {
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
    .await
}

async fn follow_up(
    node: &Node,
    person: &Person,
    id: &str,
    kind: &str,
    point: gsomia_api::Point,
    alt_km: f64,
    at: Option<&str>,
) -> Result<Published, WarningError> {
    crate::register::not_auditor(node, person, "publish warnings")?;
    // One follow-up at a time in this process, and on a store other
    // processes write, the flight as committed by all of them (an update
    // published through another process is numbered here), held so until
    // this one is written; a number another process takes meanwhile fails
    // the write ([`accept_durably`]).
    let mut followed = node.feed().followed.lock().await;
    if node.store().shared() {
        catch_up(node, &mut followed, true).await;
    }
    // Now, not before waiting: a point published meanwhile (here or by
    // another process) is earlier than this one, never later.
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
    let published = publish(
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
    .await;
    drop(followed);
    published
}

/// Runs a publish to its end even if the request that asked for it is
/// dropped (a client that hangs up): an update is applied, written and
/// shown and forwarded together, or not at all.
pub(crate) async fn to_the_end(
    publish: impl std::future::Future<Output = Result<Published, WarningError>> + Send + 'static,
) -> Result<Published, WarningError> {
    tokio::spawn(publish)
        .await
        .unwrap_or_else(|e| Err(WarningError::Failed(format!("stopped: {e}"))))
}

/// A trajectory point.
pub async fn track(
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
    .await
}

/// The impact point; closes the warning.
pub async fn impact(
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
    .await
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

/// Every warning known here that `person` may see, and the updates still
/// owed to each partner (none are dropped: they wait for the partner).
pub async fn list(
    node: &Node,
    person: &Person,
    page: &gsomia_api::Page,
) -> Result<WarningList, WarningError> {
    let owed = node
        .store()
        .warnings_owed()
        .await
        .map_err(|e| WarningError::Failed(e.to_string()))?;
    let mut pending: BTreeMap<String, gsomia_api::WarningsOwed> = BTreeMap::new();
    for o in owed {
        let p = pending
            .entry(o.party.clone())
            .or_insert_with(|| gsomia_api::WarningsOwed {
                partner: o.party.clone(),
                updates: 0,
                oldest_queued_at: o.queued_at.clone(),
            });
        p.updates += 1;
    }
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
    let (warnings, next) = crate::pages::page_of(warnings, page).map_err(WarningError::Invalid)?;
    Ok(WarningList {
        warnings,
        next,
        pending: pending.into_values().collect(),
    })
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
    /// Per flight in the snapshot, the last update it held: a live update
    /// at or below it was given already. (Looked up by `&str`: nothing is
    /// allocated per update and subscriber.)
    seen: BTreeMap<String, u32>,
    rx: broadcast::Receiver<Arc<Shown>>,
    /// Access decided once per (level, originator): a handful of pairs.
    allowed: Vec<(String, String, bool)>,
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
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for s in &backlog {
        let last = seen.entry(s.update.id.clone()).or_insert(s.update.seq);
        *last = (*last).max(s.update.seq);
    }
    Subscription {
        node,
        person,
        backlog,
        seen,
        rx,
        allowed: Vec::new(),
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
                        if self
                            .seen
                            .get(s.update.id.as_str())
                            .is_some_and(|last| s.update.seq <= *last)
                        {
                            continue;
                        }
                        s
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => return Some(Next::Cutoff(n)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            let (level, originator) = (&shown.level, &shown.update.originator);
            let allowed = match self
                .allowed
                .iter()
                .find(|(l, o, _)| l == level && o == originator)
            {
                Some((_, _, a)) => *a,
                None => {
                    let a = may_see(&self.node, &self.person, level, originator);
                    self.allowed.push((level.clone(), originator.clone(), a));
                    a
                }
            };
            if allowed {
                return Some(Next::Update(shown));
            }
        }
    }
}
