//! Between nodes: releasing an item (the single egress path), the durable
//! outbox and its delivery worker, and the peer endpoint that receives
//! transfers over mutual TLS and answers with signed receipts.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gsomia_core::{Decision, ReleaseRequest, decide_release};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_ledger::note::Note;
use gsomia_seal::item::WireLabel;
use gsomia_seal::transfer::{Envelope, Receipt};
use gsomia_store::{Batch, Incoming, Item, Outgoing, Store, StoreError};
use serde_json::{Value, json};

use crate::labels::{from_wire, to_wire};
use crate::partner::Partner;
use crate::{Node, log};

/// The largest clock difference accepted between a sender's instant of
/// release and this node's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// The longest wait between delivery attempts.
pub const MAX_BACKOFF_SECS: i64 = 60;

/// The partner a peer connection authenticated as (from its pinned certificate).
#[derive(Debug, Clone)]
pub struct PeerParty(pub String);

fn entry(
    node: &Node,
    kind: Kind,
    item: Option<&str>,
    fields: Vec<(&str, String)>,
) -> Result<Entry, String> {
    node.entry(kind, item, fields)
}

/// A signed checkpoint of the ledger as stored now, for a receipt. It is
/// not stored on the receipt's path (that would be one more `fsync` before
/// every answer): the checkpoint keeper ([`checkpoints`]) is woken and
/// stores the latest one soon after. Nothing is lost if it never does: the
/// records it covers are durable, and the same size always gives the same
/// root and the same (deterministic) signature.
pub async fn receipt_checkpoint_note(node: &Node) -> Result<String, String> {
    let (_, note, _) = crate::witness::signed_checkpoint(node, 0).await?;
    node.checkpoint_due.notify_one();
    Ok(note)
}

/// A signed receipt for message `id` (stored here as `item`), carrying a
/// fresh checkpoint of this node's ledger.
pub(crate) async fn receipt(
    node: &Node,
    id: &str,
    item: &str,
    duplicate: bool,
) -> Result<Vec<u8>, String> {
    let note = receipt_checkpoint_note(node).await?;
    Ok(Receipt {
        transfer: id.to_owned(),
        recipient: node.party.clone(),
        item: item.to_owned(),
        duplicate,
        checkpoint: note,
    }
    .seal(&node.signer.key))
}

/// The checkpoint keeper: stores a signed checkpoint whenever the ledger
/// has grown past the last one stored, at most every `every`, and sooner
/// when a receipt has handed out a checkpoint not stored yet.
pub async fn checkpoints(node: Arc<Node>, every: Duration) {
    let mut stored = match node.store.latest_checkpoint().await {
        Ok(c) => c.map_or(0, |(size, _)| size),
        Err(e) => {
            log(&format!("checkpoints: {e}"));
            0
        }
    };
    loop {
        let _ = tokio::time::timeout(every, node.checkpoint_due.notified()).await;
        let grown = match node.store.ledger_size().await {
            Ok(size) => size > stored,
            Err(e) => {
                log(&format!("checkpoints: {e}"));
                false
            }
        };
        if grown {
            match store_checkpoint(&node).await {
                Ok(size) => stored = size,
                Err(e) => log(&format!("checkpoints: {e}")),
            }
        }
    }
}

/// Signs and stores a checkpoint of the ledger as stored now (compare-and-swap
/// on the size); returns its size.
pub async fn store_checkpoint(node: &Node) -> Result<u64, String> {
    crate::witness::checkpoint_with_proof(node, 0)
        .await
        .map(|(c, _, _)| c.size)
}

/// The outcome of a release request.
#[derive(Debug)]
pub enum Released {
    /// Queued for delivery.
    Queued {
        /// The transfer id.
        transfer: String,
        /// The agreement.
        agreement: String,
        /// The level the recipient will mark it with.
        recipient_level: String,
        /// How it goes: `direct`, `onward`, `hub relay` or `return`.
        route: &'static str,
        /// Why.
        reasons: Vec<String>,
    },
    /// Withheld, with reasons.
    Withheld(Vec<String>),
}

/// The single egress path: decides the release at this instant, ledgers the
/// decision either way, and only on release seals the item for the
/// recipient and queues it in the same transaction.
pub async fn release(
    node: &Arc<Node>,
    item: &Item,
    to: &str,
    by: &str,
) -> Result<Released, String> {
    let registry = node.registry();
    let reg = &*registry;
    let wire = WireLabel::from_bytes(&item.label).map_err(|e| e.to_string())?;
    let label = from_wire(reg, &wire).map_err(|e| e.to_string())?;
    let recipient = reg.party(to).map_err(|e| e.to_string())?;
    // Onward releases and relays rely on the originator's consents held here.
    let held = if item.originator == node.party {
        Vec::new()
    } else {
        crate::agreements::held_consents(node, reg).await?
    };
    let consents: Vec<gsomia_core::Consent> = held.iter().map(|(c, _)| c.clone()).collect();
    let origin = gsomia_core::ItemId::new(item.origin_item.clone());
    let at = node.now();
    let decision = decide_release(
        reg,
        &ReleaseRequest {
            label: &label,
            item: Some(&origin),
            holder: node.me,
            recipient,
            at,
            consents: &consents,
        },
    );
    let reasons: Vec<String> = gsomia_core::explain::texts(&reg.explain_decision(&decision, at));
    let partner = node.partner(reg.party_id(recipient));
    let withheld = match (&decision, partner) {
        (Decision::Release(_), Some(_)) => None,
        (Decision::Release(_), None) => Some((
            vec![format!(
                "{to} is not a configured partner (gsomia partner add)"
            )],
            "deny by default".to_owned(),
        )),
        (Decision::Withhold(_), _) => Some((reasons.clone(), reasons.join(" | "))),
    };
    let (Decision::Release(release), Some(partner), None) = (&decision, partner, &withheld) else {
        let (why, rules) = withheld.unwrap_or_default();
        let e = entry(
            node,
            Kind::ReleaseDecided,
            Some(&item.id),
            vec![
                ("recipient", to.to_owned()),
                ("decision", "withhold".into()),
                ("rules", rules),
                (
                    "reasons",
                    format!("{} (requested by {by})", why.join(" | ")),
                ),
            ],
        )?;
        node.ledger(vec![e]).await?;
        return Ok(Released::Withheld(why));
    };
    let transfer = crate::new_id(&format!("{}-t", node.party), node.now())?;
    let agreement = reg.agreement_id(release.agreement).to_owned();
    let relied_on = match release.route {
        gsomia_core::Route::Onward { consent, .. }
        | gsomia_core::Route::HubRelay { consent, .. } => held
            .get(consent)
            .map(|(_, bytes)| bytes.clone())
            .into_iter()
            .collect(),
        gsomia_core::Route::Direct | gsomia_core::Route::Return => Vec::new(),
    };
    let mut env = Envelope {
        transfer: transfer.clone(),
        sender: node.party.clone(),
        recipient: partner.party.clone(),
        agreement: agreement.clone(),
        version: release.version,
        sent_at: (
            at.as_second(),
            u32::try_from(at.subsec_nanosecond()).unwrap_or(0),
        ),
        item: item.origin_item.clone(),
        sealed: Vec::new(),
        consents: relied_on,
    };
    // Re-seal the content for the recipient (the stored copy is sealed to
    // us). The envelope is queued unsigned: it is signed when it is sent,
    // alone or with the others of its batch (one signature for the batch).
    let wire = to_wire(reg, &label);
    let envelope = crate::lanes::compute(item.sealed.len(), || -> Result<Vec<u8>, String> {
        let (_, content) = node.open(&item.sealed, None).map_err(|e| e.to_string())?;
        env.sealed = node.seal_for(&partner.party, &partner.recipient, &wire, &content)?;
        Ok(env.body())
    })?;
    let e1 = entry(
        node,
        Kind::ReleaseDecided,
        Some(&item.id),
        vec![
            ("recipient", partner.party.clone()),
            ("decision", "release".into()),
            ("agreement", agreement.clone()),
            ("version", release.version.to_string()),
            ("rules", reasons.join(" | ")),
            ("reasons", format!("requested by {by}")),
        ],
    )?;
    let e2 = entry(
        node,
        Kind::Sent,
        Some(&item.id),
        vec![
            ("recipient", partner.party.clone()),
            ("transfer", transfer.clone()),
        ],
    )?;
    node.store
        .commit(Batch {
            outgoing: vec![Outgoing {
                kind: gsomia_store::MessageKind::Transfer,
                transfer: transfer.clone(),
                item: item.id.clone(),
                recipient: partner.party.clone(),
                envelope,
                attempts: 0,
                next_attempt_at: at.as_second(),
            }],
            entries: vec![e1, e2],
            ..Batch::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    node.outbox.notify_one();
    Ok(Released::Queued {
        transfer,
        agreement,
        recipient_level: reg.level_name(release.recipient_level).to_owned(),
        route: match release.route {
            gsomia_core::Route::Direct => "direct",
            gsomia_core::Route::Onward { .. } => "onward",
            gsomia_core::Route::HubRelay { .. } => "hub relay",
            gsomia_core::Route::Return => "return",
        },
        reasons,
    })
}

/// Delivers due transfers until `stop` is set: each to its partner over
/// mutual TLS, the receipt verified, then marked delivered and ledgered;
/// failures retry with capped exponential backoff.
///
/// Transfers to a partner travel in batches of up to [`DELIVERY_BATCH`],
/// [`BATCHES_IN_FLIGHT`] at once. A batch that is not full goes at once
/// only while no other batch to that partner that was not full is in
/// flight: at a low rate
/// every transfer leaves as soon as it is queued, and under load the queue
/// fills whole batches instead of sending many small ones (each batch costs
/// a request, a signature and a durable commit on both sides).
pub async fn deliver(node: Arc<Node>) {
    let mut flights = Flights::default();
    // Transfers fetched but not sent yet (waiting to fill a batch), by partner.
    let mut held: std::collections::BTreeMap<String, Vec<Outgoing>> =
        std::collections::BTreeMap::new();
    loop {
        while let Some(done) = flights.tasks.try_join_next() {
            flights.land(done, &held);
        }
        let due = match node
            .store
            .due_except(node.now().as_second(), DUE_FETCH, &flights.ids)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                log(&format!("outbox: {e}"));
                Vec::new()
            }
        };
        let fetched = due.len();
        // Other messages one by one and in order.
        for o in due {
            if o.kind == gsomia_store::MessageKind::Transfer {
                flights.ids.insert(o.transfer.clone());
                held.entry(o.recipient.clone()).or_default().push(o);
            } else {
                let r = deliver_one(&node, &o).await;
                settle(&node, &o, r).await;
            }
        }
        let mut sent = false;
        let mut landed = Vec::new();
        for (to, list) in &mut held {
            while let Some(chunk) = next_chunk(list, flights.partial_to(to)) {
                while flights.tasks.len() >= BATCHES_IN_FLIGHT {
                    if let Some(done) = flights.tasks.join_next().await {
                        landed.push(done);
                    }
                }
                let partial = (chunk.len() < DELIVERY_BATCH).then(|| to.clone());
                if let Some(to) = &partial {
                    *flights.partial.entry(to.clone()).or_default() += 1;
                }
                let (node, to) = (node.clone(), to.clone());
                flights
                    .tasks
                    .spawn(async move { (partial, send_chunk(node, to, chunk).await) });
                sent = true;
            }
        }
        held.retain(|_, list| !list.is_empty());
        for done in landed {
            flights.land(done, &held);
        }
        if !sent && fetched < DUE_FETCH as usize {
            // Nothing more to send now: wait for a release, a batch to
            // settle, or a retry to fall due.
            tokio::select! {
                Some(done) = flights.tasks.join_next(), if !flights.tasks.is_empty() => {
                    flights.land(done, &held);
                }
                _ = node.outbox.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// The next batch to send from the transfers held for one partner, given
/// how many batches to it that are not full are in flight: a full one
/// whenever there is one, one that is not full only while fewer than
/// [`PARTIAL_IN_FLIGHT`] are in flight; otherwise nothing yet.
fn next_chunk<T>(held: &mut Vec<T>, partial_in_flight: usize) -> Option<Vec<T>> {
    if held.len() < DELIVERY_BATCH && (held.is_empty() || partial_in_flight >= PARTIAL_IN_FLIGHT) {
        return None;
    }
    let rest = held.split_off(held.len().min(DELIVERY_BATCH));
    Some(std::mem::replace(held, rest))
}

/// The delivery worker's batches in flight.
#[derive(Default)]
struct Flights {
    /// Each settles itself; answers its partner if it was not full, and its ids.
    tasks: tokio::task::JoinSet<(Option<String>, Vec<String>)>,
    /// Transfers in flight or held: a fetch of due messages leaves them out.
    ids: std::collections::HashSet<String>,
    /// How many batches in flight are not full, by partner.
    partial: std::collections::BTreeMap<String, usize>,
}

/// How many batches that are not full may be in flight to a partner at once.
const PARTIAL_IN_FLIGHT: usize = 1;

impl Flights {
    /// How many batches to `to` that are not full are in flight.
    fn partial_to(&self, to: &str) -> usize {
        self.partial.get(to).copied().unwrap_or(0)
    }

    /// A batch has settled: its transfers are no longer in flight.
    fn land(
        &mut self,
        done: Result<(Option<String>, Vec<String>), tokio::task::JoinError>,
        held: &std::collections::BTreeMap<String, Vec<Outgoing>>,
    ) {
        match done {
            Ok((partial, ids)) => {
                if let Some(to) = partial
                    && let Some(n) = self.partial.get_mut(&to)
                {
                    *n = n.saturating_sub(1);
                }
                for id in ids {
                    self.ids.remove(&id);
                }
            }
            Err(e) => {
                // A batch task that panicked or was cancelled: its transfers
                // are still in the outbox, so fetch them again from a clean
                // slate (all but those held here, or they would be sent twice).
                log(&format!("outbox: a delivery task ended abnormally: {e}"));
                self.ids.clear();
                self.ids
                    .extend(held.values().flatten().map(|o| o.transfer.clone()));
                self.partial.clear();
            }
        }
    }
}

/// Sends one chunk of transfers to `to` and settles every one of them;
/// returns their ids.
async fn send_chunk(node: Arc<Node>, to: String, chunk: Vec<Outgoing>) -> Vec<String> {
    if let [o] = chunk.as_slice() {
        let r = deliver_one(&node, o).await;
        settle(&node, o, r).await;
    } else {
        match deliver_batch(&node, &to, &chunk).await {
            Ok(()) => {}
            Err(Failure::Retry(e)) => {
                for o in &chunk {
                    settle(&node, o, Err(Failure::Retry(e.clone()))).await;
                }
            }
            Err(Failure::Refused(e)) => {
                // The batch as a whole was refused: one by one, so
                // each transfer gets its own answer.
                log(&format!("batch to {to} refused ({e}); sending one by one"));
                for o in &chunk {
                    let r = deliver_one(&node, o).await;
                    settle(&node, o, r).await;
                }
            }
        }
    }
    chunk.into_iter().map(|o| o.transfer).collect()
}

/// How many batches of transfers may be in flight at once: the partner
/// checks one while the next is on the wire and the last is being settled.
pub const BATCHES_IN_FLIGHT: usize = 4;
/// How many due messages the worker takes at once.
const DUE_FETCH: u32 = 512;
/// The most transfers in one request to a partner.
pub const DELIVERY_BATCH: usize = 128;

/// Records the outcome of a failed attempt: a refusal is final (ledgered,
/// never retried); anything else is retried with capped exponential backoff.
async fn settle(node: &Node, o: &Outgoing, r: Result<(), Failure>) {
    match r {
        Ok(()) => {}
        Err(Failure::Refused(why)) => {
            // The recipient decided: not retried, ledgered, visible to officers.
            log(&format!(
                "transfer {} to {} refused: {why}",
                o.transfer, o.recipient
            ));
            let (e, failed) = refused_entry(node, o, why);
            let result = match e {
                Ok(e) => node
                    .store
                    .commit(Batch {
                        failed: vec![failed],
                        entries: vec![e],
                        ..Batch::default()
                    })
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                log(&format!("outbox: {e}"));
            }
        }
        Err(Failure::Retry(e)) => {
            let backoff = (1i64 << o.attempts.min(6)).min(MAX_BACKOFF_SECS);
            let next = node.now().as_second() + backoff;
            log(&format!(
                "transfer {} to {}: {e}; retry in {backoff}s",
                o.transfer, o.recipient
            ));
            if let Err(e) = node.store.retry_later(&o.transfer, next).await {
                log(&format!("outbox: {e}"));
            }
        }
    }
}

/// The ledger entry and outbox failure for a transfer its recipient refused.
fn refused_entry(
    node: &Node,
    o: &Outgoing,
    why: String,
) -> (Result<Entry, String>, (String, String, String)) {
    let e = entry(
        node,
        Kind::TransferRefused,
        Some(&o.item),
        vec![
            ("sender", node.party.clone()),
            ("transfer", o.transfer.clone()),
            ("reasons", format!("refused by {}: {why}", o.recipient)),
        ],
    );
    (e, (o.transfer.clone(), node.now().to_string(), why))
}

/// The partner's checkpoint a receipt carries, verified with its key.
fn receipt_checkpoint(
    partner: &Partner,
    note: &str,
) -> Result<gsomia_ledger::note::Checkpoint, String> {
    let note = Note::parse(note).map_err(|e| format!("receipt checkpoint: {e}"))?;
    partner
        .verifier
        .verify_checkpoint(&note)
        .map_err(|e| format!("receipt checkpoint: {e}"))
}

/// The `delivered` entry for a transfer the partner acknowledged at checkpoint `c`.
fn delivered_entry(
    node: &Node,
    partner: &Partner,
    o: &Outgoing,
    c: &gsomia_ledger::note::Checkpoint,
) -> Result<Entry, String> {
    entry(
        node,
        Kind::Delivered,
        Some(&o.item),
        vec![
            ("recipient", partner.party.clone()),
            ("transfer", o.transfer.clone()),
            (
                "receipt_checkpoint",
                format!("{} {}", c.size, c.root.to_hex()),
            ),
        ],
    )
}

/// Posts `body` to a partner's `/peer/v1/{path}` over mutual TLS: the answer
/// on success; a 4xx is the partner's final refusal, anything else is retried.
async fn post_to<'a>(
    node: &'a Node,
    to: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(&'a Partner, Vec<u8>), Failure> {
    let partner = node
        .partner(to)
        .ok_or_else(|| format!("{to} is no longer a partner"))?;
    let client = node
        .peer_clients
        .get(to)
        .ok_or_else(|| format!("no client for {to}"))?;
    let url = format!("{}/peer/v1/{path}", partner.endpoint.trim_end_matches('/'));
    let resp = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("read: {e}"))?;
    if status.is_client_error() {
        return Err(Failure::Refused(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    if !status.is_success() {
        return Err(Failure::Retry(format!(
            "answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    Ok((partner, bytes.to_vec()))
}

/// Delivers several transfers to one partner in one request; the batch
/// receipt is verified once and every outcome settled in one commit.
async fn deliver_batch(node: &Node, to: &str, chunk: &[Outgoing]) -> Result<(), Failure> {
    use gsomia_seal::transfer::{BatchReceipt, Outcome, seal_batch};
    let bodies = chunk
        .iter()
        .map(|o| Envelope::unsigned(&o.envelope))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("queued envelope: {e}"))?;
    let size = bodies.iter().map(|b| b.len()).sum();
    let body = crate::lanes::compute(size, || seal_batch(&bodies, &node.signer.key));
    let (partner, bytes) = post_to(node, to, "transfers/batch", body).await?;
    let receipt =
        BatchReceipt::open(&bytes, partner.key()).map_err(|e| format!("batch receipt: {e}"))?;
    if receipt.recipient != partner.party {
        return Err(Failure::Retry("batch receipt from another party".into()));
    }
    let c = receipt_checkpoint(partner, &receipt.checkpoint)?;
    let now = node.now().to_string();
    let mut batch = Batch::default();
    let mut unanswered = Vec::new();
    for o in chunk {
        match receipt.outcomes.iter().find(|(t, _)| *t == o.transfer) {
            Some((_, Outcome::Stored(_) | Outcome::Duplicate(_))) => {
                batch.delivered.push((o.transfer.clone(), now.clone()));
                batch.entries.push(delivered_entry(node, partner, o, &c)?);
            }
            Some((_, Outcome::Refused(why))) => {
                log(&format!("transfer {} to {to} refused: {why}", o.transfer));
                let (e, failed) = refused_entry(node, o, why.clone());
                batch.entries.push(e?);
                batch.failed.push(failed);
            }
            None => unanswered.push(o),
        }
    }
    node.store.commit(batch).await.map_err(|e| e.to_string())?;
    for o in unanswered {
        settle(
            node,
            o,
            Err(Failure::Retry("not answered in the batch receipt".into())),
        )
        .await;
    }
    Ok(())
}

/// Why a delivery attempt did not complete.
enum Failure {
    /// Worth retrying (network, 5xx, a receipt that does not verify).
    Retry(String),
    /// The recipient refused the transfer (4xx): final.
    Refused(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Retry(s)
    }
}

async fn deliver_one(node: &Node, o: &Outgoing) -> Result<(), Failure> {
    let path = match o.kind {
        gsomia_store::MessageKind::Transfer => "transfers",
        gsomia_store::MessageKind::Event => "events",
        gsomia_store::MessageKind::Consent => "consents",
        gsomia_store::MessageKind::Revocation => "revocations",
    };
    let message = match o.kind {
        // Queued unsigned: signed now, as a single envelope.
        gsomia_store::MessageKind::Transfer => Envelope::sign_body(
            Envelope::unsigned(&o.envelope).map_err(|e| format!("queued envelope: {e}"))?,
            &node.signer.key,
        ),
        _ => o.envelope.clone(),
    };
    let (partner, body) = post_to(node, &o.recipient, path, message).await?;
    let receipt = Receipt::open(&body, partner.key()).map_err(|e| format!("receipt: {e}"))?;
    let acknowledged = match o.kind {
        gsomia_store::MessageKind::Transfer => o.transfer.as_str(),
        _ => o.item.as_str(),
    };
    if receipt.transfer != acknowledged || receipt.recipient != partner.party {
        return Err(Failure::Retry("receipt is for another transfer".into()));
    }
    let c = receipt_checkpoint(partner, &receipt.checkpoint)?;
    let e = delivered_entry(node, partner, o, &c)?;
    node.store
        .commit(Batch {
            delivered: vec![(o.transfer.clone(), node.now().to_string())],
            entries: vec![e],
            ..Batch::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The peer endpoint's routes: partners' warning updates where their
/// connection is served (the warning lane), every other on the item lane.
pub fn router(node: Arc<Node>) -> axum::Router {
    let items = axum::Router::new()
        .route("/peer/v1/transfers", post(receive))
        .route("/peer/v1/transfers/batch", post(receive_batch))
        .route("/peer/v1/events", post(crate::agreements::receive_event))
        .route(
            "/peer/v1/consents",
            post(crate::agreements::receive_consent),
        )
        .route(
            "/peer/v1/revocations",
            post(crate::agreements::receive_revocation),
        )
        .route(
            "/peer/v1/checkpoint",
            axum::routing::get(crate::witness::serve_checkpoint),
        )
        .route(
            "/peer/v1/cosignatures",
            post(crate::witness::receive_cosignature),
        );
    let warnings = axum::Router::new().route("/peer/v1/warnings", post(crate::warnings::receive));
    crate::lanes::split(&node.lanes.item, items, warnings)
        .layer(axum::extract::DefaultBodyLimit::max(
            gsomia_seal::transfer::MAX_ENVELOPE,
        ))
        .with_state(node)
}

fn refused(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(json!({ "error": why }))).into_response()
}

pub(crate) async fn refuse(
    node: &Node,
    sender: &str,
    transfer: &str,
    why: &str,
    status: StatusCode,
) -> Response {
    log(&format!("refused transfer {transfer} from {sender}: {why}"));
    let ledgered = match entry(
        node,
        Kind::TransferRefused,
        None,
        vec![
            ("sender", sender.to_owned()),
            ("transfer", transfer.to_owned()),
            ("reasons", why.to_owned()),
        ],
    ) {
        Ok(e) => node.ledger(vec![e]).await,
        Err(e) => Err(e),
    };
    if let Err(e) = ledgered {
        log(&format!("ledger: {e}"));
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    }
    refused(status, why)
}

async fn receive(
    State(node): State<Arc<Node>>,
    Extension(peer): Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    match receive_inner(&node, &peer.0, &body).await {
        Ok(receipt) => (StatusCode::OK, receipt).into_response(),
        Err((status, transfer, why)) => refuse(&node, &peer.0, &transfer, &why, status).await,
    }
}

type Refusal = (StatusCode, String, String);

/// What checking one envelope found.
enum Checked {
    /// Already received: acknowledged again with no second effect.
    Duplicate {
        /// The transfer id.
        transfer: String,
        /// The item it was stored as.
        item: String,
    },
    /// Allowed here: what to store.
    New {
        /// The transfer id.
        transfer: String,
        /// The item as this party stores it (both labels).
        item: Box<Item>,
        /// The `received` entry.
        entry: Entry,
    },
}

/// Checks one envelope from `peer` at `at` without storing anything: the
/// connection is the sender, the signature its, the recipient us, the
/// clocks close; not already received; the binding verifies and the content
/// opens; and the release is decided again here, with the consents it
/// carries, under the agreement it names.
/// How an envelope reached [`check`].
#[derive(Clone, Copy)]
enum Form<'a> {
    /// A single envelope with its own signature, not verified yet.
    Signed(&'a [u8]),
    /// An envelope's unsigned encoding from a batch whose signature
    /// verified with the connection's partner's key.
    InBatch(&'a [u8]),
}

fn check(
    node: &Node,
    reg: &gsomia_core::Registry,
    peer: &str,
    form: Form<'_>,
    at: jiff::Timestamp,
    known: Option<String>,
) -> Result<Checked, Refusal> {
    let bad = |t: &str, why: String| (StatusCode::FORBIDDEN, t.to_owned(), why);
    let claimed = match form {
        Form::Signed(bytes) => Envelope::decode(bytes).map(|(env, _, _)| env),
        Form::InBatch(body) => Envelope::decode_body(body),
    }
    .map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "?".into(),
            format!("malformed envelope: {e}"),
        )
    })?;
    let t = claimed.transfer.clone();
    // The TLS peer must be the envelope's sender, and the signature its
    // (the envelope's own, or its batch's, verified before).
    if claimed.sender != peer {
        return Err(bad(
            &t,
            format!(
                "envelope claims sender {} but the connection is from {peer}",
                claimed.sender
            ),
        ));
    }
    let partner: &Partner = node
        .partner(peer)
        .ok_or_else(|| bad(&t, format!("{peer} is not a partner")))?;
    let env = match form {
        Form::Signed(bytes) => Envelope::open(bytes, partner.key())
            .map_err(|e| bad(&t, format!("envelope signature: {e}")))?,
        Form::InBatch(_) => claimed,
    };
    if env.recipient != node.party {
        return Err(bad(
            &t,
            format!("envelope is for {}, not {}", env.recipient, node.party),
        ));
    }
    let sent = jiff::Timestamp::new(env.sent_at.0, i32::try_from(env.sent_at.1).unwrap_or(0))
        .map_err(|_| bad(&t, "bad sending instant".into()))?;
    let skew = (at.as_second() - sent.as_second()).unsigned_abs();
    if skew > MAX_SKEW.as_secs() {
        return Err(bad(
            &t,
            format!(
                "sender's instant {sent} is {skew}s from ours (at most {}s)",
                MAX_SKEW.as_secs()
            ),
        ));
    }
    // Exactly once: a transfer already received (`known`, looked up by the
    // caller) is acknowledged again, with no second effect and no second decision.
    if let Some(item) = known {
        return Ok(Checked::Duplicate {
            transfer: env.transfer,
            item,
        });
    }
    // The binding, with the sender's known key; decrypted with ours.
    let (header, _content) = node
        .open(&env.sealed, Some((peer, partner.key())))
        .map_err(|e| bad(&t, format!("sealed item: {e}")))?;
    let label = from_wire(reg, &header.label).map_err(|e| bad(&t, format!("label: {e}")))?;
    // Decide again, on our own clock, with the consents the sender relied on.
    let holder = reg.party(peer).map_err(|e| bad(&t, e.to_string()))?;
    let consents =
        crate::agreements::carried_consents(node, reg, &env.consents).map_err(|e| bad(&t, e))?;
    let origin = gsomia_core::ItemId::new(env.item.clone());
    let decision = decide_release(
        reg,
        &ReleaseRequest {
            label: &label,
            item: Some(&origin),
            holder,
            recipient: node.me,
            at,
            consents: &consents,
        },
    );
    let Decision::Release(release) = decision else {
        let reasons: Vec<String> =
            gsomia_core::explain::texts(&reg.explain_decision(&decision, at));
        return Err(bad(
            &t,
            format!("not allowed here: {}", reasons.join(" | ")),
        ));
    };
    if reg.agreement_id(release.agreement) != env.agreement {
        return Err(bad(
            &t,
            format!(
                "sent under {} but {} applies here",
                env.agreement,
                reg.agreement_id(release.agreement)
            ),
        ));
    }
    // The level this party marks it with is the one the decision found on
    // the route it came by (for a relay, the originator's level mapped to ours).
    let equivalent = gsomia_core::Label {
        level: release.recipient_level,
        ..label.clone()
    };
    let eq_wire = to_wire(reg, &equivalent);
    let id = crate::new_id(&node.party, node.now())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, t.clone(), e))?;
    let e = entry(
        node,
        Kind::Received,
        Some(&id),
        vec![
            ("sender", peer.to_owned()),
            ("transfer", env.transfer.clone()),
            (
                "equivalent_label",
                format!("{} ({})", eq_wire.level, eq_wire.policy),
            ),
        ],
    )
    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, t.clone(), e))?;
    Ok(Checked::New {
        transfer: env.transfer.clone(),
        item: Box::new(Item {
            id,
            originator: header.label.originator.clone(),
            sealed: env.sealed,
            label: header.label.to_bytes(),
            equivalent_label: Some(eq_wire.to_bytes()),
            received_from: Some(peer.to_owned()),
            created_at: at.to_string(),
            origin_item: env.item,
        }),
        entry: e,
    })
}

fn incoming(peer: &str, transfer: &str, item: &Item, at: &str) -> Incoming {
    Incoming {
        transfer: transfer.to_owned(),
        sender: peer.to_owned(),
        item: item.id.clone(),
        received_at: at.to_owned(),
    }
}

/// Stores one checked transfer; `Ok(Some(item))` when a concurrent replay
/// won the race (a duplicate), `Ok(None)` when stored now.
async fn store_one(
    node: &Node,
    peer: &str,
    transfer: &str,
    item: Item,
    e: Entry,
) -> Result<Option<String>, StoreError> {
    let at = item.created_at.clone();
    let committed = node
        .store
        .commit(Batch {
            incoming: vec![incoming(peer, transfer, &item, &at)],
            items: vec![item],
            entries: vec![e],
            ..Batch::default()
        })
        .await;
    match committed {
        Ok(_) => Ok(None),
        Err(StoreError::Duplicate(_)) => Ok(Some(
            node.store
                .incoming(transfer)
                .await?
                .map(|p| p.item)
                .unwrap_or_default(),
        )),
        Err(e) => Err(e),
    }
}

async fn receive_inner(node: &Arc<Node>, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let registry = node.registry();
    let at = node.now();
    let known = match Envelope::claimed_transfer(body) {
        Ok(transfer) => node
            .store
            .incoming(transfer)
            .await
            .map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    transfer.to_owned(),
                    e.to_string(),
                )
            })?
            .map(|i| i.item),
        Err(_) => None,
    };
    let checked = crate::lanes::compute(body.len(), || {
        check(node, &registry, peer, Form::Signed(body), at, known)
    });
    let (transfer, item, duplicate) = match checked? {
        Checked::Duplicate { transfer, item } => (transfer, item, true),
        Checked::New {
            transfer,
            item,
            entry,
        } => {
            let id = item.id.clone();
            match store_one(node, peer, &transfer, *item, entry).await {
                Ok(None) => (transfer, id, false),
                Ok(Some(previous)) => (transfer, previous, true),
                Err(e) => return Err((StatusCode::INTERNAL_SERVER_ERROR, transfer, e.to_string())),
            }
        }
    };
    // Durable, ledgered: only now the receipt.
    receipt(node, &transfer, &item, duplicate)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, transfer, e))
}

/// `POST /peer/v1/transfers/batch`: many envelopes in one request, each
/// checked and decided on its own, all stored and ledgered in one commit
/// (refusals included), answered with one signed batch receipt.
async fn receive_batch(
    State(node): State<Arc<Node>>,
    Extension(peer): Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    match receive_batch_inner(&node, &peer.0, &body).await {
        Ok(receipt) => (StatusCode::OK, receipt).into_response(),
        Err((status, transfer, why)) => refuse(&node, &peer.0, &transfer, &why, status).await,
    }
}

async fn receive_batch_inner(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    use gsomia_seal::transfer::{BatchReceipt, Outcome, TransferError, open_batch};
    let partner = node.partner(peer).ok_or_else(|| {
        (
            StatusCode::FORBIDDEN,
            "?".to_owned(),
            format!("{peer} is not a partner"),
        )
    })?;
    // The batch's one signature, over every envelope in it: refused whole
    // if it does not verify with the connection's partner's key.
    let envelopes = crate::lanes::compute(body.len(), || open_batch(body, partner.key())).map_err(
        |e| match e {
            TransferError::Signature => (
                StatusCode::FORBIDDEN,
                "?".into(),
                format!("batch signature: {e}"),
            ),
            TransferError::Format(_) => (
                StatusCode::BAD_REQUEST,
                "?".into(),
                format!("malformed batch: {e}"),
            ),
        },
    )?;
    let internal = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, "?".to_owned(), e);
    let registry = node.registry();
    let at = node.now();
    let stamp = at.to_string();
    let mut outcomes: Vec<(String, Outcome)> = Vec::with_capacity(envelopes.len());
    let mut batch = Batch::default();
    let mut seen = std::collections::BTreeSet::new();
    // Exactly once: the transfers already received, in one query.
    let claimed: Vec<Option<String>> = envelopes
        .iter()
        .map(|b| Envelope::body_transfer(b).ok().map(str::to_owned))
        .collect();
    let ids: Vec<String> = claimed.iter().flatten().cloned().collect();
    let known: std::collections::BTreeMap<String, String> = node
        .store
        .incoming_many(&ids)
        .await
        .map_err(|e| internal(e.to_string()))?
        .into_iter()
        .map(|i| (i.transfer, i.item))
        .collect();
    // Checked in the batch's order (opening is the cost).
    let checked: Vec<_> = crate::lanes::compute(body.len(), || {
        envelopes
            .iter()
            .zip(claimed)
            .map(|(body, claimed)| {
                let prior = claimed.and_then(|t| known.get(&t).cloned());
                check(node, &registry, peer, Form::InBatch(body), at, prior)
            })
            .collect()
    });
    for c in checked {
        match c {
            Ok(Checked::Duplicate { transfer, item }) => {
                outcomes.push((transfer, Outcome::Duplicate(item)));
            }
            Ok(Checked::New {
                transfer,
                item,
                entry,
            }) => {
                if !seen.insert(transfer.clone()) {
                    // The same transfer twice in one batch: the first one counts.
                    let first = batch
                        .incoming
                        .iter()
                        .find(|i| i.transfer == transfer)
                        .map(|i| i.item.clone())
                        .unwrap_or_default();
                    outcomes.push((transfer, Outcome::Duplicate(first)));
                    continue;
                }
                batch
                    .incoming
                    .push(incoming(peer, &transfer, &item, &stamp));
                outcomes.push((transfer, Outcome::Stored(item.id.clone())));
                batch.items.push(*item);
                batch.entries.push(entry);
            }
            Err((status, transfer, why)) => {
                log(&format!("refused transfer {transfer} from {peer}: {why}"));
                if status.is_server_error() {
                    return Err((status, transfer, why));
                }
                let e = entry(
                    node,
                    Kind::TransferRefused,
                    None,
                    vec![
                        ("sender", peer.to_owned()),
                        ("transfer", transfer.clone()),
                        ("reasons", why.clone()),
                    ],
                )
                .map_err(internal)?;
                batch.entries.push(e);
                outcomes.push((transfer, Outcome::Refused(why)));
            }
        }
    }
    match node.store.commit(batch.clone()).await {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => {
            // A concurrent replay of one of them won a race: store one by one.
            let refusals: Vec<Entry> = batch
                .entries
                .iter()
                .filter(|e| e.kind() == Kind::TransferRefused)
                .cloned()
                .collect();
            node.ledger(refusals).await.map_err(internal)?;
            let received = batch
                .entries
                .into_iter()
                .filter(|e| e.kind() == Kind::Received);
            for ((item, inc), e) in batch.items.into_iter().zip(batch.incoming).zip(received) {
                if let Some(previous) = store_one(node, peer, &inc.transfer, item, e)
                    .await
                    .map_err(|e| internal(e.to_string()))?
                {
                    for (t, o) in &mut outcomes {
                        if *t == inc.transfer {
                            *o = Outcome::Duplicate(previous.clone());
                        }
                    }
                }
            }
        }
        Err(e) => return Err(internal(e.to_string())),
    }
    let note = receipt_checkpoint_note(node).await.map_err(internal)?;
    Ok(BatchReceipt {
        recipient: node.party.clone(),
        outcomes,
        checkpoint: note,
    }
    .seal(&node.signer.key))
}

/// The JSON answer of a release request.
pub fn released_json(r: &Released) -> Value {
    match r {
        Released::Queued {
            transfer,
            agreement,
            recipient_level,
            route,
            reasons,
        } => json!({
            "decision": "release", "transfer": transfer, "agreement": agreement,
            "recipient_level": recipient_level, "route": route, "reasons": reasons,
        }),
        Released::Withheld(reasons) => json!({ "decision": "withhold", "reasons": reasons }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batches_go_whenever_and_one_that_is_not_full_only_alone() {
        let sizes = |held: &mut Vec<u32>, partial: usize| {
            let mut out = Vec::new();
            let mut partial = partial;
            while let Some(c) = next_chunk(held, partial) {
                partial += usize::from(c.len() < DELIVERY_BATCH);
                out.push(c.len());
            }
            out
        };
        // Nothing in flight: two full batches, then the rest at once.
        let mut held: Vec<u32> = (0..300).collect();
        assert_eq!(sizes(&mut held, 0), vec![128, 128, 44]);
        assert!(held.is_empty());
        // One that is not full already in flight: the full ones go, the
        // rest waits to fill (or for that one to land), in order.
        let mut held: Vec<u32> = (0..300).collect();
        assert_eq!(sizes(&mut held, 1), vec![128, 128]);
        assert_eq!(held, (256..300).collect::<Vec<_>>());
        // A low rate: one transfer goes alone, at once.
        assert_eq!(sizes(&mut vec![7], 0), vec![1]);
        assert_eq!(sizes(&mut Vec::new(), 0), Vec::<usize>::new());
    }
}
