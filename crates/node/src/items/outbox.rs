//! The durable outbox and its delivery worker: every queued transfer and
//! message goes to its partner over mutual TLS, in batches, retried with
//! capped backoff until the partner acknowledges it with a signed receipt
//! (then `delivered` is ledgered with the partner's checkpoint) or refuses
//! it (then `transfer_refused` is ledgered, never retried).

use std::sync::Arc;
use std::time::Duration;

use gsomia_ledger::entry::{Entry, EntryError, Kind};
use gsomia_ledger::note::Note;
use gsomia_seal::transfer::{Envelope, Receipt};
use gsomia_store::{Batch, MessageKind, Outgoing};

use crate::node::Node;
use crate::partner::Partner;

/// The longest wait between delivery attempts.
pub const MAX_BACKOFF_SECS: i64 = 60;

/// Delivers due transfers and messages, forever: each to its partner over
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
        // Returns whose answer has come: the local copies erased.
        if node
            .returns_open()
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            super::holding::settle_returns(&node).await;
        }
        let due = match node
            .store()
            .due_except(node.now().as_second(), DUE_FETCH, &flights.ids)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read due transfers");
                Vec::new()
            }
        };
        let fetched = due.len();
        // Nothing is signed and sent that is not as the node queued it.
        let mut checked = Vec::with_capacity(due.len());
        for o in due {
            match crate::custody::check_outgoing(node.custody(), &o) {
                Ok(()) => checked.push(o),
                Err(b) => withhold_tampered(&node, &o, &b).await,
            }
        }
        // Other messages one by one and in order.
        for o in checked {
            if o.kind == MessageKind::Transfer {
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
                () = node.outbox_queued() => {}
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
                tracing::error!(error = %e, "outbox: a delivery task ended abnormally");
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
                tracing::warn!(partner = %to, reason = %e, "batch refused; sending one by one");
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

/// A queued row that failed its integrity check: never sent, marked failed
/// (not retried), its alarm raised. The release that queued it stays in the
/// ledger; an officer may release the item again.
async fn withhold_tampered(node: &Node, o: &Outgoing, b: &crate::custody::Breach) {
    node.alarm(b).await;
    let r = node
        .store()
        .commit(Batch {
            failed: vec![(
                o.transfer.clone(),
                node.now().to_string(),
                format!("withheld: {b}"),
            )],
            ..Batch::default()
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "outbox: cannot withhold a tampered transfer");
    }
}

/// Records the outcome of a failed attempt: a refusal is final (ledgered,
/// never retried); anything else is retried with capped exponential backoff.
async fn settle(node: &Node, o: &Outgoing, r: Result<(), Failure>) {
    match r {
        Ok(()) => {}
        Err(Failure::Refused(why)) => {
            // The recipient decided: not retried, ledgered, visible to officers.
            tracing::warn!(transfer = %o.transfer, partner = %o.recipient, reason = %why, "refused by the partner");
            node.metrics().transfer(&o.recipient, "refused", 1);
            let (e, failed) = refused_entry(node, o, why);
            let result = match e {
                Ok(e) => node
                    .store()
                    .commit(Batch {
                        failed: vec![failed],
                        entries: vec![e],
                        ..Batch::default()
                    })
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "outbox: cannot record a refusal");
            }
        }
        Err(Failure::Retry(e)) => {
            let backoff = backoff(o.attempts);
            let next = node.now().as_second() + backoff;
            tracing::info!(transfer = %o.transfer, partner = %o.recipient, reason = %e, backoff_s = backoff, "delivery failed; will retry");
            node.metrics().transfer(&o.recipient, "retried", 1);
            let why = crate::node::bounded(&e.to_string(), crate::node::MAX_ENTRY_FIELD);
            if let Err(e) = node.store().retry_later(&o.transfer, next, &why).await {
                tracing::error!(error = %e, "outbox: cannot schedule a retry");
            }
        }
    }
}

/// Seconds before the next attempt after `attempts` failed ones: doubling
/// from 1 s up to [`MAX_BACKOFF_SECS`], less up to a quarter at random so
/// transfers held back by one outage do not all come back at once.
fn backoff(attempts: u32) -> i64 {
    let full = (1i64 << attempts.min(6)).min(MAX_BACKOFF_SECS);
    let spread = full / 4;
    let jitter = match crate::ids::entropy() {
        Ok(b) => i64::from(b.first().copied().unwrap_or(0)) * spread / 255,
        Err(_) => 0,
    };
    (full - jitter).max(1)
}

/// The ledger entry and outbox failure for a transfer its recipient refused.
fn refused_entry(
    node: &Node,
    o: &Outgoing,
    why: String,
) -> (Result<Entry, EntryError>, (String, String, String)) {
    let e = node.entry(
        Kind::TransferRefused,
        Some(&o.item),
        vec![
            ("sender", node.party().to_owned()),
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
) -> Result<gsomia_ledger::note::Checkpoint, Retry> {
    let note = Note::parse(note).map_err(|e| Retry::Receipt(format!("checkpoint: {e}")))?;
    partner
        .verifier
        .verify_checkpoint(&note)
        .map_err(|e| Retry::Receipt(format!("checkpoint: {e}")))
}

/// The `delivered` entry for a transfer the partner acknowledged at checkpoint `c`.
fn delivered_entry(
    node: &Node,
    partner: &Partner,
    o: &Outgoing,
    c: &gsomia_ledger::note::Checkpoint,
) -> Result<Entry, EntryError> {
    node.entry(
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
pub(crate) async fn post_to(
    node: &Node,
    to: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(std::sync::Arc<Partner>, Vec<u8>), Failure> {
    let partner = node
        .partner(to)
        .ok_or_else(|| Retry::NotPartner(to.to_owned()))?;
    let client = node
        .peer_client(to)
        .ok_or_else(|| Retry::NotPartner(to.to_owned()))?;
    let url = format!("{}/peer/v1/{path}", partner.endpoint.trim_end_matches('/'));
    let resp = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| Retry::Network {
            step: "send",
            detail: e.to_string(),
        })?;
    let status = resp.status();
    let decided = resp
        .headers()
        .get(crate::refusals::DECISION_HEADER)
        .is_some_and(|v| v == "decision");
    let bytes = resp.bytes().await.map_err(|e| Retry::Network {
        step: "read",
        detail: e.to_string(),
    })?;
    // Only the partner's decision under the rules is final; any other
    // refusal (a clock apart, a message it could not check, a partner
    // not configured there yet) may pass later.
    if status.is_client_error() && decided {
        return Err(Failure::Refused(peer_error(&bytes)));
    }
    if !status.is_success() {
        return Err(Failure::Retry(Retry::Status {
            status: status.as_u16(),
            body: peer_error(&bytes),
        }));
    }
    Ok((partner, bytes.to_vec()))
}

/// A partner's error answer as text: its `error` field, bounded.
fn peer_error(bytes: &[u8]) -> String {
    let text = serde_json::from_slice::<gsomia_api::ErrorBody>(bytes)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
    crate::node::bounded(&text, crate::node::MAX_ENTRY_FIELD)
}

/// Delivers several transfers to one partner in one request; the batch
/// receipt is verified once and every outcome settled in one commit.
async fn deliver_batch(node: &Node, to: &str, chunk: &[Outgoing]) -> Result<(), Failure> {
    use gsomia_seal::transfer::{BatchReceipt, Outcome, seal_batch};
    // Each attempt stamped with its own instant (the receiver's freshness
    // check measures the attempt, however long the transfer waited).
    let now = gsomia_core::time::to_wire(node.now());
    let size = chunk.iter().map(|o| o.envelope.len()).sum();
    let body = crate::lanes::compute(size, || -> Result<Vec<u8>, Retry> {
        let bodies = chunk
            .iter()
            .map(|o| Envelope::unsigned(&o.envelope).and_then(|b| Envelope::restamp(b, now)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Retry::Queued(e.to_string()))?;
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        Ok(seal_batch(&refs, &node.signer().key))
    })?;
    let (partner, bytes) = post_to(node, to, "transfers/batch", body).await?;
    let receipt =
        BatchReceipt::open(&bytes, partner.key()).map_err(|e| Retry::Receipt(e.to_string()))?;
    if receipt.recipient != partner.party {
        return Err(Failure::Retry(Retry::Receipt(
            "a batch receipt from another party".into(),
        )));
    }
    let c = receipt_checkpoint(&partner, &receipt.checkpoint)?;
    let now = node.now().to_string();
    let mut batch = Batch::default();
    let mut unanswered = Vec::new();
    for o in chunk {
        match receipt.outcomes.iter().find(|(t, _)| *t == o.transfer) {
            Some((_, Outcome::Stored(_) | Outcome::Duplicate(_))) => {
                batch
                    .delivered
                    .push((o.transfer.clone(), now.clone(), receipt.checkpoint.clone()));
                batch.entries.push(
                    delivered_entry(node, &partner, o, &c)
                        .map_err(|e| Retry::Record(e.to_string()))?,
                );
            }
            Some((_, Outcome::Refused(why))) => {
                tracing::warn!(transfer = %o.transfer, partner = %to, reason = %why, "refused by the partner");
                let (e, failed) = refused_entry(node, o, why.clone());
                batch
                    .entries
                    .push(e.map_err(|e| Retry::Record(e.to_string()))?);
                batch.failed.push(failed);
            }
            None => unanswered.push(o),
        }
    }
    let (delivered, refused) = (batch.delivered.len(), batch.failed.len());
    node.store()
        .commit(batch)
        .await
        .map_err(|e| Retry::Record(e.to_string()))?;
    node.metrics().transfer(to, "delivered", delivered as u64);
    node.metrics().transfer(to, "refused", refused as u64);
    for o in unanswered {
        settle(
            node,
            o,
            Err(Failure::Retry(Retry::Receipt(
                "not answered in the batch receipt".into(),
            ))),
        )
        .await;
    }
    Ok(())
}

/// Why a delivery attempt did not complete and is worth retrying.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Retry {
    /// The partner is no longer configured, or has no client.
    #[error("{0} is no longer a partner")]
    NotPartner(String),
    /// The request did not reach the partner, or its answer did not arrive.
    #[error("{step}: {detail}")]
    Network {
        /// Sending or reading.
        step: &'static str,
        /// What the client said.
        detail: String,
    },
    /// The partner answered with an error that is not a decision (5xx).
    #[error("answered {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// A receipt that does not open, verify or match.
    #[error("receipt: {0}")]
    Receipt(String),
    /// A queued message that does not decode (an altered outbox row).
    #[error("queued envelope: {0}")]
    Queued(String),
    /// Recording the outcome here failed.
    #[error("recording the outcome: {0}")]
    Record(String),
}

/// Why a delivery attempt did not complete.
pub(crate) enum Failure {
    /// Worth retrying.
    Retry(Retry),
    /// The recipient refused the transfer (4xx), with its reason: final.
    Refused(String),
}

impl From<Retry> for Failure {
    fn from(r: Retry) -> Self {
        Failure::Retry(r)
    }
}

async fn deliver_one(node: &Node, o: &Outgoing) -> Result<(), Failure> {
    let path = match o.kind {
        MessageKind::Transfer => "transfers",
        MessageKind::Event => "events",
        MessageKind::Consent => "consents",
        MessageKind::Revocation => "revocations",
        MessageKind::Reclassification => "reclassifications",
        MessageKind::Visit => "visits",
    };
    let message = match o.kind {
        // Queued unsigned: stamped with this attempt's instant and signed
        // now, as a single envelope.
        MessageKind::Transfer => Envelope::sign_body(
            &Envelope::unsigned(&o.envelope)
                .and_then(|b| Envelope::restamp(b, gsomia_core::time::to_wire(node.now())))
                .map_err(|e| Retry::Queued(e.to_string()))?,
            &node.signer().key,
        ),
        _ => o.envelope.clone(),
    };
    let (partner, body) = post_to(node, &o.recipient, path, message).await?;
    let receipt = Receipt::open(&body, partner.key()).map_err(|e| Retry::Receipt(e.to_string()))?;
    let acknowledged = match o.kind {
        MessageKind::Transfer => o.transfer.as_str(),
        _ => o.item.as_str(),
    };
    if receipt.transfer != acknowledged || receipt.recipient != partner.party {
        return Err(Failure::Retry(Retry::Receipt(
            "a receipt for another transfer".into(),
        )));
    }
    let c = receipt_checkpoint(&partner, &receipt.checkpoint)?;
    let e = delivered_entry(node, &partner, o, &c).map_err(|e| Retry::Record(e.to_string()))?;
    node.store()
        .commit(Batch {
            delivered: vec![(
                o.transfer.clone(),
                node.now().to_string(),
                receipt.checkpoint.clone(),
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await
        .map_err(|e| Retry::Record(e.to_string()))?;
    node.metrics().transfer(&o.recipient, "delivered", 1);
    Ok(())
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
