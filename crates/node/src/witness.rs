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

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gsomia_ledger::merkle::{Hash, ProofError};
use gsomia_ledger::note::{Checkpoint, Note};
use gsomia_store::{Store, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::peer::PeerParty;
use crate::{Node, log};

/// Brings the tree up to the stored ledger and signs a checkpoint of it,
/// with a consistency proof from the tree of size `from`; stores nothing.
pub async fn signed_checkpoint(
    node: &Node,
    from: u64,
) -> Result<(Checkpoint, String, Vec<Hash>), String> {
    let mut tree = node.tree.lock().await;
    for h in node
        .store
        .leaf_hashes(tree.size())
        .await
        .map_err(|e| e.to_string())?
    {
        tree.push_hash(h);
    }
    let c = Checkpoint {
        origin: node.signer.name.clone(),
        size: tree.size(),
        root: tree.root(),
    };
    let proof = if from == 0 || from >= c.size {
        Vec::new()
    } else {
        match tree.consistency_proof(from, c.size) {
            Ok(p) => p,
            // The block the proof needs left memory: its leaves are in the store.
            Err(ProofError::Pruned { index }) => {
                let (first, end) = tree.block_of(index);
                let leaves: Vec<Hash> = node
                    .store
                    .records(first, end)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(h, _)| h)
                    .collect();
                tree.view_with(c.size, first, &leaves)
                    .and_then(|v| v.consistency_proof(from))
                    .map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let note = node.signer.sign_checkpoint(&c).render();
    Ok((c, note, proof))
}

/// Brings the tree up to the stored ledger, signs and publishes a
/// checkpoint (compare-and-swap on the size), and proves it consistent
/// with the tree of size `from`.
pub async fn checkpoint_with_proof(
    node: &Node,
    from: u64,
) -> Result<(Checkpoint, String, Vec<Hash>), String> {
    let (c, note, proof) = signed_checkpoint(node, from).await?;
    match node.store.put_checkpoint(c.size, c.root, &note).await {
        Ok(()) => Ok((c, note, proof)),
        Err(StoreError::Conflict(n)) => Err(format!("checkpoint of size {n} conflicts")),
        Err(e) => Err(e.to_string()),
    }
}

/// The query of `GET /peer/v1/checkpoint`.
#[derive(Deserialize)]
pub struct From {
    /// The size the witness last cosigned (0 for none).
    #[serde(default)]
    pub from: u64,
}

/// `GET /peer/v1/checkpoint?from=N`: the latest signed checkpoint and a
/// consistency proof from size N.
pub async fn serve_checkpoint(State(node): State<Arc<Node>>, Query(q): Query<From>) -> Response {
    match checkpoint_with_proof(&node, q.from).await {
        Ok((_, note, proof)) => Json(json!({
            "note": note,
            "proof": proof.iter().map(Hash::to_hex).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => {
            log(&format!("checkpoint for a witness: {e}"));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "internal error" })),
            )
                .into_response()
        }
    }
}

/// `POST /peer/v1/cosignatures`: a partner's cosignature of one of this
/// node's checkpoints (the note with its cosignature line), kept if both
/// signatures verify.
pub async fn receive_cosignature(
    State(node): State<Arc<Node>>,
    axum::Extension(peer): axum::Extension<PeerParty>,
    body: String,
) -> Response {
    let refuse = |why: String| {
        log(&format!("cosignature from {}: {why}", peer.0));
        (StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response()
    };
    let Some(partner) = node.partner(&peer.0) else {
        return refuse("not a partner".into());
    };
    let note = match Note::parse(&body) {
        Ok(n) => n,
        Err(e) => return refuse(format!("not a note: {e}")),
    };
    let c = match node.signer.verifier().verify_checkpoint(&note) {
        Ok(c) => c,
        Err(e) => return refuse(format!("not this node's checkpoint: {e}")),
    };
    if let Err(e) = partner.verifier.verify_cosignature(&note) {
        return refuse(format!("cosignature: {e}"));
    }
    match node
        .store
        .add_cosignature(c.size, &peer.0, &body, &node.now().to_string())
        .await
    {
        Ok(()) => (StatusCode::OK, Json(json!({ "kept": c.size }))).into_response(),
        Err(e) => {
            log(&format!("cosignature from {}: {e}", peer.0));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "internal error" })),
            )
                .into_response()
        }
    }
}

/// One witness round for one partner: fetch, check, cosign, return the
/// cosignature. Returns the size cosigned.
pub async fn witness_one(node: &Node, party: &str) -> Result<u64, String> {
    let partner = node
        .partner(party)
        .ok_or_else(|| format!("{party} is not a partner"))?;
    let client = node
        .peer_clients
        .get(party)
        .ok_or_else(|| format!("no client for {party}"))?;
    let last = node
        .store
        .witnessed(party)
        .await
        .map_err(|e| e.to_string())?;
    let from = last.as_ref().map_or(0, |(s, _, _)| *s);
    let base = partner.endpoint.trim_end_matches('/');
    let resp = client
        .get(format!("{base}/peer/v1/checkpoint?from={from}"))
        .send()
        .await
        .map_err(|e| format!("fetch checkpoint: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("fetch checkpoint: answered {}", resp.status()));
    }
    let doc: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("fetch checkpoint: {e}"))?;
    let text = doc
        .get("note")
        .and_then(serde_json::Value::as_str)
        .ok_or("no note in the answer")?;
    let proof = doc
        .get("proof")
        .and_then(serde_json::Value::as_array)
        .ok_or("no proof in the answer")?
        .iter()
        .map(|h| h.as_str().and_then(Hash::from_hex).ok_or("bad proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let note = Note::parse(text).map_err(|e| format!("checkpoint: {e}"))?;
    let last_c = last.as_ref().map(|(size, root, _)| Checkpoint {
        origin: partner.verifier.name.clone(),
        size: *size,
        root: *root,
    });
    let time = u64::try_from(node.now().as_second()).unwrap_or(0);
    let (c, sig) = gsomia_ledger::witness::cosign(
        &partner.verifier,
        &node.signer,
        last_c.as_ref(),
        &note,
        &proof,
        time,
    )
    .map_err(|e| {
        // Evidence: the last cosigned note stays; the offending one is logged.
        log(&format!(
            "WITNESS REFUSAL for {party}: {e}; offered checkpoint:\n{text}"
        ));
        e.to_string()
    })?;
    let mut cosigned = note.clone();
    cosigned.add(sig);
    let rendered = cosigned.render();
    node.store
        .put_witnessed(party, c.size, c.root, &rendered, &node.now().to_string())
        .await
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(format!("{base}/peer/v1/cosignatures"))
        .header("content-type", "text/plain; charset=utf-8")
        .body(rendered)
        .send()
        .await
        .map_err(|e| format!("send cosignature: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("send cosignature: answered {}", resp.status()));
    }
    Ok(c.size)
}

/// One witness round over every partner: (party, size cosigned or why not).
pub async fn witness_all(node: &Node) -> Vec<(String, Result<u64, String>)> {
    let mut out = Vec::new();
    for p in &node.partners {
        out.push((p.party.clone(), witness_one(node, &p.party).await));
    }
    out
}

/// Witnesses every partner every `every`.
pub async fn witnessing(node: Arc<Node>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        for (party, r) in witness_all(&node).await {
            if let Err(e) = r {
                log(&format!("witness {party}: {e}"));
            }
        }
    }
}
