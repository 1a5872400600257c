//! The single egress function: every byte of an item that leaves this node
//! for a partner is queued here, and only after `decide_release` allows it
//! at this instant. The decision is ledgered either way.

use gsomia_api::{ReleaseOutcome, Released, Route, Withheld};
use gsomia_core::{Decision, ReleaseRequest, decide_release};
use gsomia_ledger::entry::Kind;
use gsomia_seal::transfer::Envelope;
use gsomia_store::{Batch, Item, MessageKind, Outgoing, Person, StoreError};

use super::ItemError;
use crate::labels::from_wire;
use crate::node::Node;

fn stored(id: &str, what: impl std::fmt::Display) -> ItemError {
    ItemError::Stored {
        id: id.to_owned(),
        what: what.to_string(),
    }
}

/// A release request's idempotency key, and a digest of what it asks.
#[derive(Debug, Clone)]
pub struct Once {
    /// The person asking.
    pub person: String,
    /// Their key.
    pub key: String,
    /// What the request asks (the same key for another request is refused).
    pub request: Vec<u8>,
}

/// The longest idempotency key taken.
pub const MAX_KEY: usize = 255;

/// A release asked for by a person: only what they may read can be
/// released by them (the read is decided and ledgered first). With an
/// idempotency key, a request already answered is answered the same way
/// again, and nothing new is decided, ledgered or sent.
pub async fn release_by(
    node: &Node,
    person: &Person,
    id: &str,
    to: &str,
    key: Option<&str>,
) -> Result<ReleaseOutcome, ItemError> {
    crate::register::not_auditor(node, person, "release items")?;
    let once = match key {
        None => None,
        Some(k) => {
            if k.is_empty() || k.len() > MAX_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ItemError::Invalid(format!(
                    "an idempotency key is 1 to {MAX_KEY} printable ASCII characters"
                )));
            }
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            for part in ["release", id, to] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
            Some(Once {
                person: person.id.clone(),
                key: k.to_owned(),
                request: h.finalize().to_vec(),
            })
        }
    };
    if let Some(o) = &once
        && let Some(prior) = node.store().idempotent(&o.person, &o.key).await?
    {
        return replay(o, &prior);
    }
    let (item, _, _) = super::decide_read_held(node, person, id, "release").await?;
    match release(node, &item, to, &person.id, once.as_ref()).await {
        // The same key, in a request that committed first: its answer.
        Err(ItemError::Store(StoreError::Duplicate(_))) if once.is_some() => {
            let o = once.as_ref().ok_or(ItemError::NotFound)?;
            match node.store().idempotent(&o.person, &o.key).await? {
                Some(prior) => replay(o, &prior),
                None => Err(ItemError::NotFound),
            }
        }
        r => r,
    }
}

/// The first answer to a request with this key, if it asked the same.
fn replay(o: &Once, prior: &gsomia_store::Idempotent) -> Result<ReleaseOutcome, ItemError> {
    if prior.request != o.request {
        return Err(ItemError::Invalid(format!(
            "the idempotency key `{}` was used at {} for another request",
            o.key, prior.at
        )));
    }
    serde_json::from_str(&prior.response)
        .map_err(|e| stored("idempotency", format!("a kept answer does not decode: {e}")))
}

/// The idempotency record of `outcome`, for the commit that decides it.
fn kept(
    node: &Node,
    once: Option<&Once>,
    outcome: &ReleaseOutcome,
) -> Result<Vec<gsomia_store::Idempotent>, ItemError> {
    once.map(|o| {
        Ok(gsomia_store::Idempotent {
            person: o.person.clone(),
            key: o.key.clone(),
            request: o.request.clone(),
            response: serde_json::to_string(outcome).map_err(|e| stored("idempotency", e))?,
            at: node.now().to_string(),
        })
    })
    .into_iter()
    .collect()
}

/// Decides the release of `item` to `to` at this instant, ledgers the
/// decision either way, and only on release seals the item for the
/// recipient and queues it in the same transaction as the decision.
pub async fn release(
    node: &Node,
    item: &Item,
    to: &str,
    by: &str,
    once: Option<&Once>,
) -> Result<ReleaseOutcome, ItemError> {
    decide_and_queue(node, item, to, by, once, None).await
}

/// [`release`] of an item going back to its originator, with the return
/// to follow (its local copy erased on the originator's receipt) recorded
/// in the same transaction.
pub async fn release_returning(
    node: &Node,
    item: &Item,
    to: &str,
    by: &str,
    ret: gsomia_store::Return,
) -> Result<ReleaseOutcome, ItemError> {
    decide_and_queue(node, item, to, by, None, Some(ret)).await
}

/// A release decided at an instant, not yet acted on: the decision on the
/// item's own label, each foreign part's (a document made here), and the
/// reasons as given to the person.
struct Decided {
    checked: super::Verified,
    label: gsomia_core::Label,
    recipient: gsomia_core::PartyRef,
    held: Vec<(gsomia_core::Consent, Vec<u8>)>,
    decision: Decision,
    explained: Vec<gsomia_core::Reason>,
    reasons: Vec<String>,
    /// How many of `reasons` are the item's own label's (the rest are parts').
    own_reasons: usize,
    parts_withheld: bool,
    at: jiff::Timestamp,
}

/// Decides the release of `item` to `to` now, acting on nothing.
async fn decide(
    node: &Node,
    reg: &gsomia_core::Registry,
    item: &Item,
    to: &str,
) -> Result<Decided, ItemError> {
    // The label decided on and sealed again is the one in the item's own
    // sealed bytes, checked with its custody tag (never the label column).
    let checked = super::verified(node, item).await?;
    let label = from_wire(reg, &checked.wire).map_err(|e| stored(&item.id, e))?;
    let recipient = reg
        .party(to)
        .map_err(|e| ItemError::Invalid(e.to_string()))?;
    // A document made here from others' information: each foreign part
    // is decided as an onward release of its originator's item.
    let parts = super::holding::parts_for_release(node, item)?;
    // Onward releases and relays rely on the originator's consents held here.
    let held = if item.originator == node.party() && parts.is_none() {
        Vec::new()
    } else {
        crate::consents::held(node, reg).await?
    };
    let consents: Vec<gsomia_core::Consent> = held.iter().map(|(c, _)| c.clone()).collect();
    let origin = gsomia_core::ItemId::new(item.origin_item.clone());
    let at = node.now();
    let decision = decide_release(
        reg,
        &ReleaseRequest {
            label: &label,
            item: Some(&origin),
            holder: node.me(),
            recipient,
            at,
            consents: &consents,
        },
    );
    let mut explained = reg.explain_decision(&decision, at);
    let own_reasons = explained.len();
    let mut parts_withheld = false;
    if let Some(parts) = &parts {
        let ids: Vec<gsomia_core::ItemId> = parts
            .iter()
            .map(|(s, _)| gsomia_core::ItemId::new(s.origin_item.clone()))
            .collect();
        let source_parts: Vec<gsomia_core::holding::SourcePart<'_>> = parts
            .iter()
            .zip(&ids)
            .map(|((_, l), id)| gsomia_core::holding::SourcePart { label: l, item: id })
            .collect();
        let d = gsomia_core::holding::decide_derived_release(
            reg,
            &label,
            &source_parts,
            node.me(),
            recipient,
            at,
            &consents,
        );
        let (mut allows, mut refusals) = (Vec::new(), Vec::new());
        for (i, pd) in &d.parts {
            let Some((s, _)) = parts.get(*i) else {
                continue;
            };
            let withheld = !pd.is_release();
            parts_withheld |= withheld;
            for r in reg.explain_decision(pd, at) {
                let reason = gsomia_core::Reason {
                    text: format!(
                        "{}'s information in it (item {}): {}",
                        s.originator, s.origin_item, r.text
                    ),
                    cites: r.cites,
                };
                if withheld {
                    refusals.push(reason);
                } else {
                    allows.push(reason);
                }
            }
        }
        // A release explains every part; a refusal, only what refused.
        if decision.is_release() && !parts_withheld {
            explained.extend(allows);
        } else {
            explained.extend(refusals);
        }
    }
    let reasons = gsomia_core::explain::texts(&explained);
    Ok(Decided {
        checked,
        label,
        recipient,
        held,
        decision,
        explained,
        reasons,
        own_reasons,
        parts_withheld,
        at,
    })
}

/// What a release of `item` to `to` would be decided now, and why: the
/// same decision [`release`] takes, with nothing ledgered, sealed or
/// queued (the console shows it before a person releases).
pub async fn preview(node: &Node, item: &Item, to: &str) -> Result<(bool, Vec<String>), ItemError> {
    let registry = node.registry();
    let d = decide(node, &registry, item, to).await?;
    let configured = node.partner(registry.party_id(d.recipient)).is_some();
    Ok(match (&d.decision, configured) {
        (Decision::Release(_), _) if d.parts_withheld => (
            false,
            d.reasons.get(d.own_reasons..).unwrap_or_default().to_vec(),
        ),
        (Decision::Release(_), true) => (true, d.reasons),
        (Decision::Release(_), false) => (
            false,
            vec![format!(
                "{to} is not a configured partner (gsomia partner add)"
            )],
        ),
        (Decision::Withhold(_), _) => (false, d.reasons),
    })
}

async fn decide_and_queue(
    node: &Node,
    item: &Item,
    to: &str,
    by: &str,
    once: Option<&Once>,
    ret: Option<gsomia_store::Return>,
) -> Result<ReleaseOutcome, ItemError> {
    // Decided under what any process of this node has recorded.
    crate::reload::registers(node).await;
    let registry = node.registry();
    let reg = &*registry;
    let Decided {
        checked,
        label,
        recipient,
        held,
        decision,
        explained,
        reasons,
        own_reasons,
        parts_withheld,
        at,
    } = decide(node, reg, item, to).await?;
    let partner = node.partner(reg.party_id(recipient));
    let (release, partner) = match (&decision, partner) {
        (Decision::Release(_), _) if parts_withheld => {
            let cites: Vec<String> = explained
                .iter()
                .flat_map(|r| r.cites.iter())
                .map(ToString::to_string)
                .collect();
            // Only what refused: the item's own label would have let it go.
            let refusals: Vec<String> = reasons.get(own_reasons..).unwrap_or_default().to_vec();
            let rules = refusals.join(" | ");
            return withhold(node, item, to, by, refusals, rules, cites, once).await;
        }
        (Decision::Release(r), Some(p)) => (r, p),
        (Decision::Release(_), None) => {
            return withhold(
                node,
                item,
                to,
                by,
                vec![format!(
                    "{to} is not a configured partner (gsomia partner add)"
                )],
                "deny by default".to_owned(),
                vec!["deny by default".to_owned()],
                once,
            )
            .await;
        }
        (Decision::Withhold(_), _) => {
            let cites: Vec<String> = explained
                .iter()
                .flat_map(|r| r.cites.iter())
                .map(ToString::to_string)
                .collect();
            let rules = reasons.join(" | ");
            return withhold(node, item, to, by, reasons, rules, cites, once).await;
        }
    };
    let transfer = crate::ids::new_id(&format!("{}-t", node.party()), at)?;
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
        sender: node.party().to_owned(),
        recipient: partner.party.clone(),
        agreement: agreement.clone(),
        version: release.version,
        sent_at: gsomia_core::time::to_wire(at),
        item: item.origin_item.clone(),
        sealed: Vec::new(),
        consents: relied_on,
    };
    // Re-seal the content for the recipient (the stored copy is sealed to
    // us). The envelope is queued unsigned: it is signed when it is sent,
    // alone or with the others of its batch (one signature for the batch).
    let wire = &checked.wire;
    let envelope = crate::lanes::compute(
        item.sealed.len(),
        || -> Result<Result<Vec<u8>, ItemError>, gsomia_seal::item::OpenError> {
            let (_, content) = node.sealing().open(&item.sealed, None)?;
            Ok(node
                .sealing()
                .seal_for(at, &partner.party, &partner.recipient, wire, &content)
                .map(|sealed| {
                    env.sealed = sealed;
                    env.body()
                })
                .map_err(ItemError::from))
        },
    );
    let envelope = match envelope {
        Ok(r) => r?,
        Err(e) => return Err(super::unopened(node, &item.id, &e).await),
    };
    let e1 = node.entry(
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
    let e2 = node.entry(
        Kind::Sent,
        Some(&item.id),
        vec![
            ("recipient", partner.party.clone()),
            ("transfer", transfer.clone()),
        ],
    )?;
    let mut queued = Outgoing {
        kind: MessageKind::Transfer,
        transfer: transfer.clone(),
        item: item.id.clone(),
        recipient: partner.party.clone(),
        envelope,
        attempts: 0,
        next_attempt_at: at.as_second(),
        custody: None,
        released_by: Some(by.to_owned()),
    };
    crate::custody::tag_outgoing(node.custody(), &mut queued);
    let returns: Vec<gsomia_store::Return> = ret
        .map(|r| gsomia_store::Return {
            transfer: transfer.clone(),
            ..r
        })
        .into_iter()
        .collect();
    let outcome = ReleaseOutcome::Release(Released {
        transfer,
        agreement,
        recipient_level: reg.level_name(release.recipient_level).to_owned(),
        route: match release.route {
            gsomia_core::Route::Direct => Route::Direct,
            gsomia_core::Route::Onward { .. } => Route::Onward,
            gsomia_core::Route::HubRelay { .. } => Route::HubRelay,
            gsomia_core::Route::Return => Route::Return,
        },
        reasons,
    });
    let returning = !returns.is_empty();
    let committed = super::commit_held(
        node,
        Batch {
            // The sealed bytes were read before: nothing leaves if the item
            // was destroyed or returned since.
            held: vec![item.id.clone()],
            outgoing: vec![queued],
            entries: vec![e1, e2],
            idempotent: kept(node, once, &outcome)?,
            returns,
            ..Batch::default()
        },
        if returning { "return" } else { "release" },
    )
    .await;
    match committed {
        Ok(_) => {
            // A reclassification newer than the label just sealed (it
            // committed while this release was decided) follows the item.
            let under = gsomia_core::reclassification::notice_number(&label);
            crate::items::reclassify::follow_release(
                node,
                &item.origin_item,
                under,
                &partner.party,
            )
            .await;
        }
        // Another return of the item committed first.
        Err(ItemError::Store(StoreError::Exists(_))) if returning => {
            return Err(ItemError::Refused {
                action: "return",
                reasons: vec![format!("item {} is already being returned", item.id)],
            });
        }
        Err(e) => return Err(e),
    }
    node.metrics().transfer(&partner.party, "sent", 1);
    node.wake_outbox();
    Ok(outcome)
}

/// Ledgers a withheld release and answers with its reasons.
#[allow(clippy::too_many_arguments, reason = "one decision's parts")]
async fn withhold(
    node: &Node,
    item: &Item,
    to: &str,
    by: &str,
    reasons: Vec<String>,
    rules: String,
    cites: Vec<String>,
    once: Option<&Once>,
) -> Result<ReleaseOutcome, ItemError> {
    node.metrics()
        .refused("release", cites.iter().map(String::as_str));
    let e = node.entry(
        Kind::ReleaseDecided,
        Some(&item.id),
        vec![
            ("recipient", to.to_owned()),
            ("decision", "withhold".into()),
            ("rules", rules),
            (
                "reasons",
                format!("{} (requested by {by})", reasons.join(" | ")),
            ),
        ],
    )?;
    let outcome = ReleaseOutcome::Withhold(Withheld { reasons });
    node.store()
        .commit(Batch {
            entries: vec![e],
            idempotent: kept(node, once, &outcome)?,
            ..Batch::default()
        })
        .await?;
    Ok(outcome)
}
