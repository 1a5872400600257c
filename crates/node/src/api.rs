//! The HTTPS API for the party's own users.
//!
//! Bearer tokens identify people in the register. Every read of an item and
//! every refusal is decided by `decide_access` and ledgered before the answer
//! is sent. "Not found" and "forbidden" are the same answer for an item, so a
//! reader learns nothing about items they may not read.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_core::{AccessDecision, ItemLabels, Reader, decide_access};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_seal::item::{self as sealed, WireLabel};
use gsomia_store::{Batch, Item, Person, Role, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Node;
use crate::labels::{from_wire, to_wire};

/// The largest request body accepted (bytes).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// One error type for every route. 5xx bodies are generic; details go to
/// the node's log.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a reason.
    BadRequest(String),
    /// 401: no or unknown token.
    Unauthorized,
    /// 403: the role does not allow this.
    Forbidden(&'static str),
    /// 404: no such item, or not readable by this person (indistinguishable).
    NotFound,
    /// 409: the rules refuse the request (the reason says which).
    Refused(String),
    /// 500.
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": "a valid bearer token is required" })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such item".to_owned()),
            ApiError::Refused(m) => (StatusCode::CONFLICT, m),
            ApiError::Internal(detail) => {
                crate::log(&format!("internal error: {detail}"));
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

/// The routes: the warning routes and `/healthz` where their connection
/// is served (the warning lane), every other on the item lane.
pub fn router(node: Arc<Node>) -> axum::Router {
    let items = axum::Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/items", get(list_items).post(submit_item))
        .route("/v1/items/{id}", get(show_item))
        .route("/v1/items/{id}/content", get(read_item))
        .route("/v1/items/{id}/release", axum::routing::post(release_item))
        .route("/v1/agreements", get(crate::agreements::list))
        .route("/v1/agreements/{id}", get(crate::agreements::show))
        .route(
            "/v1/agreements/{id}/events",
            axum::routing::post(crate::agreements::enter_event),
        )
        .route(
            "/v1/consents",
            get(crate::agreements::list_consents).post(crate::agreements::grant),
        )
        .route(
            "/v1/consents/{id}/revoke",
            axum::routing::post(crate::agreements::revoke),
        );
    let warnings = axum::Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/v1/warnings",
            get(crate::warnings::list).post(crate::warnings::launch),
        )
        .route("/v1/warnings/stream", get(crate::warnings::stream))
        .route(
            "/v1/warnings/{id}/track",
            axum::routing::post(crate::warnings::track),
        )
        .route(
            "/v1/warnings/{id}/impact",
            axum::routing::post(crate::warnings::impact),
        );
    crate::lanes::split(&node.lanes.item, items, warnings)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

pub(crate) async fn authenticate(node: &Node, headers: &HeaderMap) -> Result<Person, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    node.store
        .person_by_token(&hash)
        .await?
        .ok_or(ApiError::Unauthorized)
}

async fn healthz(State(node): State<Arc<Node>>) -> Result<Json<Value>, ApiError> {
    let size = node.store.ledger_size().await?;
    Ok(Json(
        json!({ "status": "ok", "party": node.party, "ledger_size": size }),
    ))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// A new item from one of the party's officers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitItem {
    /// The classification in the party's policy.
    pub level: String,
    /// Topics (at least one).
    pub topics: Vec<String>,
    /// REL TO parties; absent for an unmarked item.
    #[serde(default)]
    pub rel_to: Option<Vec<String>>,
    /// The content, base64.
    pub content: String,
}

fn label_json(w: &WireLabel) -> Value {
    json!({
        "policy": w.policy, "level": w.level, "originator": w.originator,
        "created_at": gsomia_seal::stanag::format_time(w.created_at.0, w.created_at.1),
        "topics": w.topics, "rel_to": w.rel_to,
    })
}

fn entry(
    node: &Node,
    kind: Kind,
    item: Option<&str>,
    fields: Vec<(&str, String)>,
) -> Result<Entry, ApiError> {
    node.entry(kind, item, fields).map_err(ApiError::Internal)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn submit_item(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let person = authenticate(&node, &headers).await?;
    if person.role == Role::Auditor {
        return Err(ApiError::Forbidden("auditors cannot submit items"));
    }
    let req: SubmitItem = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    let content = B64
        .decode(req.content.as_bytes())
        .map_err(|_| ApiError::BadRequest("`content` is not base64".into()))?;
    let topics: Vec<&str> = req.topics.iter().map(String::as_str).collect();
    let rel: Option<Vec<&str>> = req
        .rel_to
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let created = node.now();
    let label = node
        .registry()
        .label(&node.party, &req.level, &topics, rel.as_deref(), created)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !node
        .registry()
        .level_info(label.level)
        .is_some_and(|l| l.classified)
    {
        return Err(ApiError::BadRequest(format!(
            "`{}` is not a classified level; gsomia holds classified information only",
            req.level
        )));
    }
    let wire = to_wire(&node.registry(), &label);
    // At rest, the item is sealed to the party's own recipient key.
    let sealed = node
        .seal_for(&node.party, &node.recipient.public(), &wire, &content)
        .map_err(ApiError::Internal)?;
    let digest = sealed::inspect(&sealed)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .header
        .content_digest;
    let id = crate::new_id(&node.party, node.now()).map_err(ApiError::Internal)?;
    let label_bytes = wire.to_bytes();
    let e = entry(
        &node,
        Kind::ItemCreated,
        Some(&id),
        vec![
            ("label", hex(&Sha256::digest(&label_bytes))),
            ("content_digest", hex(&digest)),
            ("title", format!("{} by {}", wire.level, person.id)),
        ],
    )?;
    node.store
        .commit(Batch {
            items: vec![Item {
                id: id.clone(),
                originator: node.party.clone(),
                sealed,
                label: label_bytes,
                equivalent_label: None,
                received_from: None,
                created_at: created.to_string(),
                origin_item: id.clone(),
            }],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "label": label_json(&wire), "content_sha384": hex(&digest) })),
    ))
}

/// The labels of a stored item, resolved.
fn item_labels(
    node: &Node,
    item: &Item,
) -> Result<(WireLabel, Option<WireLabel>, ItemLabels), ApiError> {
    let wire = WireLabel::from_bytes(&item.label).map_err(|e| ApiError::Internal(e.to_string()))?;
    let original =
        from_wire(&node.registry(), &wire).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut labels = ItemLabels::new(original.clone());
    let equivalent = match &item.equivalent_label {
        Some(bytes) => {
            let eq = WireLabel::from_bytes(bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
            let marked = node
                .registry()
                .mark_received(&original, node.me, None, Some(original.created_at))
                .map_err(|e| ApiError::Internal(format!("{e:?}")))?;
            labels.add_equivalent(marked);
            Some(eq)
        }
        None => None,
    };
    Ok((wire, equivalent, labels))
}

fn reader(node: &Node, p: &Person) -> Result<Reader, ApiError> {
    let clearance = node
        .registry()
        .level(node.me, &p.clearance)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let until = gsomia_core::time::parse_instant(&p.clearance_until)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let need_to_know = node
        .registry()
        .need_to_know(p.need_to_know.iter().map(String::as_str))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reader {
        party: node.me,
        clearance,
        clearance_until: until,
        need_to_know,
    })
}

/// Decides a read, ledgers the outcome (allowed, denied or not found), and
/// returns the item when allowed.
async fn decide_read(
    node: &Node,
    person: &Person,
    id: &str,
    what: &str,
) -> Result<(Item, WireLabel, Option<WireLabel>), ApiError> {
    let item = node.store.item(id).await?;
    let at = node.now();
    let outcome = match &item {
        None => Err(vec!["no such item".to_owned()]),
        Some(item) => {
            let (wire, eq, labels) = item_labels(node, item)?;
            match decide_access(&node.registry(), &reader(node, person)?, &labels, at) {
                AccessDecision::Allow { .. } => Ok((wire, eq)),
                d @ AccessDecision::Deny(_) => {
                    let zone = node
                        .registry()
                        .policy(node.me)
                        .map_or(jiff::tz::TimeZone::UTC, |p| p.zone().clone());
                    Err(gsomia_core::explain::texts(
                        &node.registry().explain_access(&d, &zone),
                    ))
                }
            }
        }
    };
    let e = match &outcome {
        Ok(_) => entry(
            node,
            Kind::ReadAllowed,
            Some(id),
            vec![
                ("person", person.id.clone()),
                ("rules", format!("rule 10; {what}")),
            ],
        )?,
        Err(reasons) => entry(
            node,
            Kind::ReadDenied,
            Some(id),
            vec![
                ("person", person.id.clone()),
                ("reasons", reasons.join(" | ")),
            ],
        )?,
    };
    // Durable before answered: the ledger entry commits first.
    node.ledger(vec![e]).await.map_err(ApiError::Internal)?;
    match (outcome, item) {
        (Ok((wire, eq)), Some(item)) => Ok((item, wire, eq)),
        _ => Err(ApiError::NotFound),
    }
}

async fn show_item(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(&node, &headers).await?;
    let (item, wire, eq) = decide_read(&node, &person, &id, "labels").await?;
    Ok(Json(json!({
        "id": item.id, "origin_item": item.origin_item, "originator": item.originator,
        "received_from": item.received_from,
        "created_at": item.created_at, "label": label_json(&wire),
        "equivalent_label": eq.as_ref().map(label_json),
    })))
}

async fn read_item(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let person = authenticate(&node, &headers).await?;
    let (item, _, _) = decide_read(&node, &person, &id, "content").await?;
    let (_, content) = node
        .open(&item.sealed, None)
        .map_err(|e| ApiError::Internal(format!("stored item `{id}` does not open: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        content,
    )
        .into_response())
}

async fn list_items(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(&node, &headers).await?;
    let r = reader(&node, &person)?;
    let at = node.now();
    let mut out = Vec::new();
    for id in node.store.item_ids().await? {
        let Some(item) = node.store.item(&id).await? else {
            continue;
        };
        let (wire, eq, labels) = item_labels(&node, &item)?;
        // Only what this person may read is listed.
        if decide_access(&node.registry(), &r, &labels, at).is_allow() {
            out.push(json!({
                "id": id, "origin_item": item.origin_item, "received_from": item.received_from,
                "label": label_json(&wire), "equivalent_label": eq.as_ref().map(label_json),
            }));
        }
    }
    Ok(Json(json!({ "items": out })))
}

/// A release request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseItem {
    /// The recipient party.
    pub to: String,
}

async fn release_item(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(&node, &headers).await?;
    if person.role == Role::Auditor {
        return Err(ApiError::Forbidden("auditors cannot release items"));
    }
    let req: ReleaseItem = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    // Only what the requester may read can be released by them.
    let (item, _, _) = decide_read(&node, &person, &id, "release").await?;
    let r = crate::peer::release(&node, &item, &req.to, &person.id)
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(crate::peer::released_json(&r)))
}
