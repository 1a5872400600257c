//! Receiving items from partners: each envelope checked (the connection is
//! its sender, the signature is the sender's, the recipient is us, the
//! clocks are close, the binding verifies and the content opens) and the
//! release decided again here, on this node's clock, with the consents it
//! carries; stored once per transfer id with this party's equivalent label
//! and a `received` entry; answered with a signed receipt only after that
//! is durable.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gsomia_core::{Decision, ReleaseRequest, decide_release};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_seal::transfer::{BatchReceipt, Envelope, Outcome, TransferError, open_batch};
use gsomia_store::{Batch, Incoming, Item, StoreError};

use crate::labels::{from_wire, to_wire};
use crate::node::Node;
use crate::partner::Partner;
use crate::refusals::{Reason, Refusal};

/// The largest clock difference accepted between a sender's instant of
/// release and this node's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

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
        /// The `received` entry (and a `reclassified` one when a notice
        /// kept here reached it first).
        entries: Vec<Entry>,
    },
}

/// How an envelope reached [`check`].
#[derive(Clone, Copy)]
enum Form<'a> {
    /// A single envelope with its own signature, not verified yet.
    Signed(&'a [u8]),
    /// An envelope's unsigned encoding from a batch whose signature
    /// verified with the connection's partner's key.
    InBatch(&'a [u8]),
}

/// Checks one envelope from `peer` at `at` without storing anything: the
/// connection is the sender, the signature its, the recipient us, the
/// clocks close; not already received; the binding verifies and the content
/// opens; and the release is decided again here, with the consents it
/// carries, under the agreement it names.
fn check(
    node: &Node,
    reg: &gsomia_core::Registry,
    peer: &str,
    form: Form<'_>,
    at: jiff::Timestamp,
    known: Option<String>,
) -> Result<Checked, Refusal> {
    let claimed = match form {
        Form::Signed(bytes) => Envelope::decode(bytes).map(|(env, _, _)| env),
        Form::InBatch(body) => Envelope::decode_body(body),
    }
    .map_err(|e| {
        Refusal::unnamed(Reason::Malformed {
            what: "envelope",
            detail: e.to_string(),
        })
    })?;
    let t = claimed.transfer.clone();
    let bad = |reason: Reason| Refusal::new(&t, reason);
    // The TLS peer must be the envelope's sender, and the signature its
    // (the envelope's own, or its batch's, verified before).
    if claimed.sender != peer {
        return Err(bad(Reason::WrongSender {
            claimed: claimed.sender.clone(),
            peer: peer.to_owned(),
        }));
    }
    let partner: std::sync::Arc<Partner> = node
        .partner(peer)
        .ok_or_else(|| bad(Reason::NotPartner(peer.to_owned())))?;
    let env = match form {
        Form::Signed(bytes) => Envelope::open(bytes, partner.key()).map_err(|e| {
            bad(Reason::Signature {
                what: "envelope",
                detail: e.to_string(),
            })
        })?,
        Form::InBatch(_) => claimed,
    };
    if env.recipient != node.party() {
        return Err(bad(Reason::NotForUs {
            what: "envelope",
            to: env.recipient.clone(),
            me: node.party().to_owned(),
        }));
    }
    let sent = gsomia_core::time::from_wire(env.sent_at).map_err(|e| {
        bad(Reason::Malformed {
            what: "sending instant",
            detail: e.to_string(),
        })
    })?;
    let skew = (at.as_second() - sent.as_second()).unsigned_abs();
    if skew > MAX_SKEW.as_secs() {
        return Err(bad(Reason::Skew {
            sent: sent.to_string(),
            skew,
            max: MAX_SKEW.as_secs(),
        }));
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
    let (header, content) = node
        .sealing()
        .open(&env.sealed, Some((peer, partner.key())))
        .map_err(|e| bad(Reason::Sealed(e)))?;
    let label = from_wire(reg, &header.label).map_err(|e| bad(Reason::Label(e)))?;
    // Decide again, on our own clock, with the consents the sender relied on.
    let holder = reg
        .party(peer)
        .map_err(|e| bad(Reason::NotPartner(e.to_string())))?;
    let consents = crate::consents::carried(node, reg, &env.consents).map_err(bad)?;
    let origin = gsomia_core::ItemId::new(env.item.clone());
    let decision = decide_release(
        reg,
        &ReleaseRequest {
            label: &label,
            item: Some(&origin),
            holder,
            recipient: node.me(),
            at,
            consents: &consents,
        },
    );
    let Decision::Release(release) = decision else {
        let explained = reg.explain_decision(&decision, at);
        node.metrics().refused(
            "transfer",
            explained
                .iter()
                .flat_map(|r| r.cites.iter())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        );
        return Err(bad(Reason::NotAllowed(gsomia_core::explain::texts(
            &explained,
        ))));
    };
    if reg.agreement_id(release.agreement) != env.agreement {
        return Err(bad(Reason::Agreement {
            sent: env.agreement.clone(),
            applies: reg.agreement_id(release.agreement).to_owned(),
        }));
    }
    // The level this party marks it with is the one the decision found on
    // the route it came by (for a relay, the originator's level mapped to ours).
    let equivalent = gsomia_core::Label {
        level: release.recipient_level,
        ..label.clone()
    };
    let mut eq_wire = to_wire(reg, &equivalent);
    let id = crate::ids::new_id(node.party(), at).map_err(|e| Refusal::internal(&t, e))?;
    // A reclassification kept here before the item arrived (it overtook
    // the transfer, or the transfer was queued before it): the item is
    // stored under the new label, never served under the old one.
    let (mut sealed, mut wire) = (env.sealed, header.label.clone());
    let mut entries = Vec::with_capacity(2);
    if let Some(r) = crate::items::reclassify::arriving(node, reg, &env.item, &label, &content, &id)
    {
        let a = r.map_err(|e| Refusal::internal(&t, e))?;
        (sealed, wire) = (a.sealed, a.label);
        if let Some(eq) = a.equivalent {
            eq_wire = eq;
        }
        entries.push(a.entry);
    }
    let e = node
        .entry(
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
        .map_err(|e| Refusal::internal(&t, e))?;
    entries.insert(0, e);
    let mut item = Item {
        id,
        originator: header.label.originator.clone(),
        sealed,
        label: wire.to_bytes(),
        equivalent_label: Some(eq_wire.to_bytes()),
        received_from: Some(peer.to_owned()),
        created_at: at.to_string(),
        origin_item: env.item,
        binding: None,
        custody: None,
        lineage: None,
        disposal: None,
        index: None,
    };
    crate::custody::tag_item(node.custody(), &mut item).map_err(|b| Refusal::internal(&t, b))?;
    Ok(Checked::New {
        transfer: env.transfer.clone(),
        item: Box::new(item),
        entries,
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
    entries: Vec<Entry>,
) -> Result<Option<String>, StoreError> {
    let at = item.created_at.clone();
    let committed = node
        .store()
        .commit(Batch {
            incoming: vec![incoming(peer, transfer, &item, &at)],
            items: vec![item],
            entries,
            ..Batch::default()
        })
        .await;
    match committed {
        Ok(_) => Ok(None),
        Err(StoreError::Duplicate(_)) => Ok(Some(
            node.store()
                .incoming(transfer)
                .await?
                .map(|p| p.item)
                .unwrap_or_default(),
        )),
        Err(e) => Err(e),
    }
}

/// One envelope with its own signature: checked, stored once, receipted.
pub async fn receive(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let registry = node.registry();
    let at = node.now();
    let known = match Envelope::claimed_transfer(body) {
        Ok(transfer) => node
            .store()
            .incoming(transfer)
            .await
            .map_err(|e| Refusal::internal(transfer, e))?
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
            entries,
        } => {
            let id = item.id.clone();
            match store_one(node, peer, &transfer, *item, entries).await {
                Ok(None) => (transfer, id, false),
                Ok(Some(previous)) => (transfer, previous, true),
                Err(e) => return Err(Refusal::internal(&transfer, e)),
            }
        }
    };
    node.metrics()
        .transfer(peer, if duplicate { "duplicate" } else { "received" }, 1);
    // Durable, ledgered: only now the receipt.
    node.checkpoints()
        .receipt(node.party(), &transfer, &item, duplicate)
        .await
        .map_err(|e| Refusal::internal(&transfer, e))
}

/// Many envelopes in one request, each checked and decided on its own, all
/// stored and ledgered in one commit (refusals included), answered with
/// one signed batch receipt. A batch whose one signature does not verify
/// with the connection's partner's key is refused whole.
pub async fn receive_batch(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let partner = node
        .partner(peer)
        .ok_or_else(|| Refusal::unnamed(Reason::NotPartner(peer.to_owned())))?;
    let envelopes = crate::lanes::compute(body.len(), || open_batch(body, partner.key())).map_err(
        |e| match e {
            TransferError::Signature => Refusal::unnamed(Reason::Signature {
                what: "batch",
                detail: e.to_string(),
            }),
            TransferError::Format(_) => Refusal::unnamed(Reason::Malformed {
                what: "batch",
                detail: e.to_string(),
            }),
        },
    )?;
    let internal = |e: &dyn std::fmt::Display| Refusal::internal("?", e);
    let registry = node.registry();
    let at = node.now();
    let stamp = at.to_string();
    let mut outcomes: Vec<(String, Outcome)> = Vec::with_capacity(envelopes.len());
    let mut batch = Batch::default();
    let mut seen = BTreeSet::new();
    // Exactly once: the transfers already received, in one query.
    let claimed: Vec<Option<String>> = envelopes
        .iter()
        .map(|b| Envelope::body_transfer(b).ok().map(str::to_owned))
        .collect();
    let ids: Vec<String> = claimed.iter().flatten().cloned().collect();
    let known: BTreeMap<String, String> = node
        .store()
        .incoming_many(&ids)
        .await
        .map_err(|e| internal(&e))?
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
    let (mut received, mut duplicates, mut refused) = (0u64, 0u64, 0u64);
    for c in checked {
        match c {
            Ok(Checked::Duplicate { transfer, item }) => {
                duplicates += 1;
                outcomes.push((transfer, Outcome::Duplicate(item)));
            }
            Ok(Checked::New {
                transfer,
                item,
                entries,
            }) => {
                if !seen.insert(transfer.clone()) {
                    // The same transfer twice in one batch: the first one counts.
                    let first = batch
                        .incoming
                        .iter()
                        .find(|i| i.transfer == transfer)
                        .map(|i| i.item.clone())
                        .unwrap_or_default();
                    duplicates += 1;
                    outcomes.push((transfer, Outcome::Duplicate(first)));
                    continue;
                }
                received += 1;
                batch
                    .incoming
                    .push(incoming(peer, &transfer, &item, &stamp));
                outcomes.push((transfer, Outcome::Stored(item.id.clone())));
                batch.items.push(*item);
                batch.entries.extend(entries);
            }
            Err(r) => {
                if let Reason::Internal(_) = r.reason {
                    return Err(r);
                }
                tracing::warn!(partner = peer, transfer = %r.id, reason = %r.reason, "refused");
                refused += 1;
                let why = r.reason.to_string();
                let e = node
                    .entry(
                        Kind::TransferRefused,
                        None,
                        vec![
                            ("sender", peer.to_owned()),
                            ("transfer", r.id.clone()),
                            ("reasons", why.clone()),
                        ],
                    )
                    .map_err(|e| internal(&e))?;
                batch.entries.push(e);
                // Only a decision ends the transfer at the sender; anything
                // else is left unanswered in the receipt, and sent again.
                if r.reason.is_decision() {
                    outcomes.push((r.id, Outcome::Refused(why)));
                }
            }
        }
    }
    match node.store().commit(batch.clone()).await {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => {
            // A concurrent replay of one of them won a race: store one by one.
            let refusals: Vec<Entry> = batch
                .entries
                .iter()
                .filter(|e| e.kind() == Kind::TransferRefused)
                .cloned()
                .collect();
            node.ledger(refusals).await.map_err(|e| internal(&e))?;
            for (item, inc) in batch.items.into_iter().zip(batch.incoming) {
                // Its `received` entry (and `reclassified`, if any).
                let e: Vec<Entry> = batch
                    .entries
                    .iter()
                    .filter(|e| e.kind() != Kind::TransferRefused && e.item() == Some(&item.id))
                    .cloned()
                    .collect();
                if let Some(previous) = store_one(node, peer, &inc.transfer, item, e)
                    .await
                    .map_err(|e| internal(&e))?
                {
                    for (t, o) in &mut outcomes {
                        if *t == inc.transfer {
                            *o = Outcome::Duplicate(previous.clone());
                        }
                    }
                }
            }
        }
        Err(e) => return Err(internal(&e)),
    }
    let m = node.metrics();
    m.transfer(peer, "received", received);
    m.transfer(peer, "duplicate", duplicates);
    m.transfer(peer, "refused", refused);
    let note = node
        .checkpoints()
        .for_receipt()
        .await
        .map_err(|e| internal(&e))?;
    Ok(BatchReceipt {
        recipient: node.party().to_owned(),
        outcomes,
        checkpoint: note,
    }
    .seal(&node.signer().key))
}
