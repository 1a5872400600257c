//! The peer endpoint: partners only, over mutual TLS, each connection bound
//! to the partner whose pinned certificate it presented. Bodies are signed
//! binary messages (docs/formats.md), not JSON; every refusal is ledgered
//! before it is answered.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gsomia_api::ErrorBody;
use gsomia_core::warning::Applied;
use serde::Deserialize;

use super::{ApiError, PeerParty};
use crate::error::Classified as _;
use crate::node::Node;
use crate::refusals::Refusal;
use crate::{agreements, consents, items, refusals, warnings, witness};

type S = State<Arc<Node>>;
type Peer = Extension<PeerParty>;

/// The peer endpoint's routes: partners' warning updates where their
/// connection is served (the warning lane), every other on the item lane.
pub fn router(node: Arc<Node>) -> axum::Router {
    let items = axum::Router::new()
        .route("/peer/v1/transfers", post(receive))
        .route("/peer/v1/transfers/batch", post(receive_batch))
        .route("/peer/v1/events", post(receive_event))
        .route("/peer/v1/consents", post(receive_consent))
        .route("/peer/v1/revocations", post(receive_revocation))
        .route("/peer/v1/reclassifications", post(receive_reclassification))
        .route("/peer/v1/visits", post(receive_visit))
        .route("/peer/v1/checkpoint", get(checkpoint))
        .route("/peer/v1/cosignatures", post(cosignature));
    let warnings = axum::Router::new()
        .route("/peer/v1/warnings", post(receive_warning))
        .route("/peer/v1/warnings/batch", post(receive_warnings))
        .route("/peer/v1/incidents", post(receive_incident));
    crate::lanes::split(&node.lanes().item, items, warnings)
        .layer(axum::extract::DefaultBodyLimit::max(
            gsomia_seal::transfer::MAX_ENVELOPE,
        ))
        .with_state(node)
}

/// A partner's loss or compromise report or follow-up: kept once,
/// ledgered, shown, and answered with the signed acknowledgement.
async fn receive_incident(
    State(node): S,
    Extension(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let r = crate::incidents::receive(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

/// A receipt, or the refusal ledgered and answered.
async fn answer(node: &Node, peer: &str, r: Result<Vec<u8>, Refusal>) -> Response {
    match r {
        Ok(receipt) => (StatusCode::OK, receipt).into_response(),
        Err(refusal) => refuse(node, peer, &refusal).await,
    }
}

async fn refuse(node: &Node, peer: &str, refusal: &Refusal) -> Response {
    if !refusals::record(node, peer, refusal).await {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let status = super::status(refusal.class());
    let error = if status.is_server_error() {
        "internal error".to_owned()
    } else {
        refusal.reason.to_string()
    };
    let mut r = (
        status,
        axum::Json(ErrorBody {
            error,
            request_id: None,
        }),
    )
        .into_response();
    if refusal.reason.is_decision() {
        r.headers_mut().insert(
            refusals::DECISION_HEADER,
            axum::http::HeaderValue::from_static("decision"),
        );
    }
    r
}

async fn receive(State(node): S, Extension(peer): Peer, body: axum::body::Bytes) -> Response {
    let r = items::receive::receive(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_batch(State(node): S, Extension(peer): Peer, body: axum::body::Bytes) -> Response {
    let r = items::receive::receive_batch(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_event(State(node): S, Extension(peer): Peer, body: axum::body::Bytes) -> Response {
    let r = agreements::receive(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_consent(
    State(node): S,
    Extension(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let r = consents::receive_consent(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_revocation(
    State(node): S,
    Extension(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let r = consents::receive_revocation(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

/// An originator's reclassification notice, directly or through the hub.
async fn receive_reclassification(
    State(node): S,
    Extension(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let r = crate::items::reclassify::receive(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

/// A visit request, its answer, or a visitor's access reported.
async fn receive_visit(State(node): S, Extension(peer): Peer, body: axum::body::Bytes) -> Response {
    let r = crate::visits::receive(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

/// The query of `GET /peer/v1/checkpoint`.
#[derive(Deserialize)]
struct From {
    /// The size the witness last cosigned (0 for none).
    #[serde(default)]
    from: u64,
}

/// The latest signed checkpoint and a consistency proof from size `from`.
async fn checkpoint(State(node): S, Query(q): Query<From>) -> Result<Response, ApiError> {
    Ok(axum::Json(witness::offer(&node, q.from).await?).into_response())
}

/// A partner's cosignature of one of this node's checkpoints.
async fn cosignature(State(node): S, Extension(peer): Peer, body: String) -> Response {
    match witness::receive_cosignature(&node, &peer.0, &body).await {
        Ok(size) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "kept": size })),
        )
            .into_response(),
        Err(r) => {
            tracing::warn!(partner = %peer.0, reason = %r.reason, "cosignature refused");
            let status = super::status(r.class());
            (
                status,
                axum::Json(ErrorBody {
                    error: if status.is_server_error() {
                        "internal error".into()
                    } else {
                        r.reason.to_string()
                    },
                    request_id: None,
                }),
            )
                .into_response()
        }
    }
}

/// A batch of signed warning updates from a partner, applied in order:
/// 200 with how many were taken (the partner sends the rest again), 400 a
/// body that is no batch, 503 not recorded.
async fn receive_warnings(
    State(node): S,
    Extension(peer): Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    // Run to its end even if the partner hangs up: an update is applied,
    // written and forwarded together, or not at all.
    let n = node.clone();
    let from = peer.0.clone();
    let done = tokio::spawn(async move { warnings::accept_batch(&n, &body, &from).await })
        .await
        .unwrap_or_else(|e| Err(warnings::Rejected::Failed(format!("stopped: {e}"))));
    match done {
        Ok(taken) => axum::Json(serde_json::json!({ "taken": taken })).into_response(),
        Err(warnings::Rejected::Refused(why)) => {
            ApiError::new(StatusCode::BAD_REQUEST, why).into_response()
        }
        Err(warnings::Rejected::NotYet(why) | warnings::Rejected::Failed(why)) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}

/// One signed warning update from a partner: 200 applied (new or a
/// duplicate), 403 refused, 409 not yet (an earlier update is missing).
async fn receive_warning(
    State(node): S,
    Extension(peer): Peer,
    body: axum::body::Bytes,
) -> Response {
    let n = node.clone();
    let from = peer.0.clone();
    let done = tokio::spawn(async move { warnings::accept_durably(&n, &body, Some(&from)).await })
        .await
        .unwrap_or_else(|e| Err(warnings::Rejected::Failed(format!("stopped: {e}"))));
    match done {
        Ok(a) => axum::Json(serde_json::json!({
            "applied": if a == Applied::New { "new" } else { "duplicate" }
        }))
        .into_response(),
        Err(warnings::Rejected::Refused(why)) => {
            tracing::warn!(partner = %peer.0, reason = %why, "warning update refused");
            node.metrics().refused("warning", ["rule 17"]);
            ApiError::new(StatusCode::FORBIDDEN, why).into_response()
        }
        Err(warnings::Rejected::NotYet(why)) => {
            ApiError::new(StatusCode::CONFLICT, why).into_response()
        }
        Err(warnings::Rejected::Failed(why)) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}
