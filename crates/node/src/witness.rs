//! Partners witness each other's ledgers: each node fetches a partner's
//! latest signed checkpoint with a consistency proof from the last one it
//! cosigned, cosigns only if the new tree extends the old (a rollback or a
//! fork is refused and logged, the old checkpoint kept as evidence), and
//! sends the cosignature back, where it is kept beside the checkpoint. No
//! side can then rewrite its history without its partners' cosignatures
//! contradicting it.
//!
//! Witnessing is not ledgered (that would make every round grow the ledgers
//! it witnesses); its state is the `witnessed` and `cosigned` tables.

use std::sync::Arc;
use std::time::Duration;

use gsomia_ledger::merkle::Hash;
use gsomia_ledger::note::{Checkpoint, Note};
use gsomia_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::checkpoints::CheckpointError;
use crate::node::Node;
use crate::refusals::{Reason, Refusal};

/// Why a witness round for a partner did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// Not a partner, or no client for it.
    #[error("{0} is not a partner")]
    NotPartner(String),
    /// The partner could not be reached, or answered an error.
    #[error("{step}: {detail}")]
    Exchange {
        /// What was being done.
        step: &'static str,
        /// What happened.
        detail: String,
    },
    /// The partner's checkpoint is a rollback, a fork or does not verify:
    /// not cosigned (the offered note is logged as evidence).
    #[error("refused to cosign: {0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer of `GET /peer/v1/checkpoint?from=N`: the latest signed
/// checkpoint and a consistency proof from size N (hex hashes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Offered {
    /// The signed note.
    pub note: String,
    /// The consistency proof.
    pub proof: Vec<String>,
}

/// The checkpoint offered to a witness that last cosigned size `from`.
pub async fn offer(node: &Node, from: u64) -> Result<Offered, CheckpointError> {
    let (_, note, proof) = node.checkpoints().publish(from).await?;
    Ok(Offered {
        note,
        proof: proof.iter().map(Hash::to_hex).collect(),
    })
}

/// A partner's cosignature of one of this node's checkpoints (the note
/// with its cosignature line): kept if both signatures verify. Returns the
/// size kept.
pub async fn receive_cosignature(node: &Node, peer: &str, body: &str) -> Result<u64, Refusal> {
    let refuse = |why: String| Refusal::unnamed(Reason::Witness(why));
    let partner = node
        .partner(peer)
        .ok_or_else(|| Refusal::unnamed(Reason::NotPartner(peer.to_owned())))?;
    let note = Note::parse(body).map_err(|e| refuse(format!("not a note: {e}")))?;
    let c = node
        .signer()
        .verifier()
        .verify_checkpoint(&note)
        .map_err(|e| refuse(format!("not this node's checkpoint: {e}")))?;
    partner
        .verifier
        .verify_cosignature(&note)
        .map_err(|e| refuse(format!("cosignature: {e}")))?;
    node.store()
        .add_cosignature(c.size, peer, body, &node.now().to_string())
        .await
        .map_err(|e| Refusal::internal("?", e))?;
    Ok(c.size)
}

/// One witness round for one partner: fetch, check, cosign, return the
/// cosignature. Returns the size cosigned.
pub async fn witness_one(node: &Node, party: &str) -> Result<u64, WitnessError> {
    let partner = node
        .partner(party)
        .ok_or_else(|| WitnessError::NotPartner(party.to_owned()))?;
    let client = node
        .peer_client(party)
        .ok_or_else(|| WitnessError::NotPartner(party.to_owned()))?;
    let exchange = |step: &'static str| {
        move |e: &dyn std::fmt::Display| WitnessError::Exchange {
            step,
            detail: e.to_string(),
        }
    };
    let last = node.store().witnessed(party).await?;
    let from = last.as_ref().map_or(0, |(s, _, _)| *s);
    let base = partner.endpoint.trim_end_matches('/');
    let resp = client
        .get(format!("{base}/peer/v1/checkpoint?from={from}"))
        .send()
        .await
        .map_err(|e| exchange("fetch checkpoint")(&e))?;
    if !resp.status().is_success() {
        return Err(exchange("fetch checkpoint")(&format!(
            "answered {}",
            resp.status()
        )));
    }
    let offered: Offered = resp
        .json()
        .await
        .map_err(|e| exchange("fetch checkpoint")(&e))?;
    let proof = offered
        .proof
        .iter()
        .map(|h| Hash::from_hex(h).ok_or("bad proof hash"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| exchange("fetch checkpoint")(&e))?;
    let note = Note::parse(&offered.note).map_err(|e| exchange("checkpoint")(&e))?;
    let last_c = last.as_ref().map(|(size, root, _)| Checkpoint {
        origin: partner.verifier.name.clone(),
        size: *size,
        root: *root,
    });
    let time = u64::try_from(node.now().as_second()).unwrap_or(0);
    let (c, sig) = match gsomia_ledger::witness::cosign(
        &partner.verifier,
        node.signer(),
        last_c.as_ref(),
        &note,
        &proof,
        time,
    ) {
        Ok(x) => x,
        Err(e) => {
            // Evidence: the last cosigned note stays; the offending one is
            // logged, and the disagreement raised as an integrity alarm
            // (ledgered, shown in /healthz and on the console's ledger page).
            tracing::error!(partner = party, refusal = %e, offered = %offered.note, "WITNESS REFUSAL");
            node.alarm(&crate::custody::Breach {
                subject: format!("partner {party}"),
                check: crate::custody::Check::PartnerLedger,
                detail: format!("its ledger disagrees with what this node cosigned: {e}"),
            })
            .await;
            return Err(WitnessError::Refused(e.to_string()));
        }
    };
    let mut cosigned = note.clone();
    cosigned.add(sig);
    let rendered = cosigned.render();
    node.store()
        .put_witnessed(party, c.size, c.root, &rendered, &node.now().to_string())
        .await?;
    let resp = client
        .post(format!("{base}/peer/v1/cosignatures"))
        .header("content-type", "text/plain; charset=utf-8")
        .body(rendered)
        .send()
        .await
        .map_err(|e| exchange("send cosignature")(&e))?;
    if !resp.status().is_success() {
        return Err(exchange("send cosignature")(&format!(
            "answered {}",
            resp.status()
        )));
    }
    Ok(c.size)
}

/// One witness round over every partner: (party, size cosigned or why not).
pub async fn witness_all(node: &Node) -> Vec<(String, Result<u64, WitnessError>)> {
    let mut out = Vec::new();
    for p in node.partners() {
        out.push((p.party.clone(), witness_one(node, &p.party).await));
    }
    out
}

/// Witnesses every partner every `every`, forever.
pub async fn witnessing(node: Arc<Node>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        for (party, r) in witness_all(&node).await {
            if let Err(e) = r {
                tracing::warn!(partner = %party, error = %e, "witness round");
            }
        }
    }
}
