//! The user API: the party's own people, with bearer tokens. Each route
//! authenticates, calls a capability and answers with the API's types;
//! the warning routes and the health routes run where their connection is
//! served (the warning lane), every other on the item lane.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use gsomia_api::{AddFacility, BriefPerson, FacilityList, FacilityView, InspectFacility};
use gsomia_api::{
    AgreementList, AgreementStatus, Check, ConsentList, ConsentView, Copied, CopyItem, DeriveItem,
    DestroyItem, Destroyed, EnterEvent, EnteredEvent, ErrorBody, GrantConsent, Health, Impact,
    Inventory, InventoryFilter, ItemFilter, ItemHistory, ItemList, ItemView, Launch, Made, Page,
    Published, Readiness, Reclassification, ReclassificationList, ReclassifyItem, ReleaseItem,
    ReleaseOutcome, ReturnItem, SubmitItem, Submitted, Track, TransferFilter, TransferList,
    TransferView, TranslateItem, WarningList,
};
use gsomia_api::{FollowUpIncident, IncidentList, IncidentView, ReportIncident};
use gsomia_api::{RefuseVisit, RequestVisit, VisitApproved, VisitList, VisitView};
use gsomia_store::Person;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Bearer, JsonBody, MAX_BODY, QueryParams, RawJson};
use crate::node::Node;
use crate::register::authenticate;
use crate::{agreements, consents, items, transfers, warnings};

type S = State<Arc<Node>>;

async fn person(node: &Node, bearer: Bearer) -> Result<Person, ApiError> {
    Ok(authenticate(node, bearer.0.as_deref()).await?)
}

/// The routes with their OpenAPI document.
pub fn routes(node: &Arc<Node>) -> (axum::Router<Arc<Node>>, utoipa::openapi::OpenApi) {
    let item_lane = OpenApiRouter::new()
        .routes(routes!(list_items, submit_item))
        .routes(routes!(show_item))
        .routes(routes!(read_item))
        .routes(routes!(release_item))
        .routes(routes!(copy_item))
        .routes(routes!(translate_item))
        .routes(routes!(derive_item))
        .routes(routes!(destroy_item))
        .routes(routes!(return_item))
        .routes(routes!(reclassify_item))
        .routes(routes!(item_reclassifications))
        .routes(routes!(list_facilities, add_facility))
        .routes(routes!(show_facility))
        .routes(routes!(inspect_facility))
        .routes(routes!(brief_person))
        .routes(routes!(list_visits, request_visit))
        .routes(routes!(show_visit))
        .routes(routes!(approve_visit))
        .routes(routes!(refuse_visit))
        .routes(routes!(item_history))
        .routes(routes!(inventory))
        .routes(routes!(list_transfers))
        .routes(routes!(show_transfer))
        .routes(routes!(list_agreements))
        .routes(routes!(show_agreement))
        .routes(routes!(enter_event))
        .routes(routes!(list_consents, grant_consent))
        .routes(routes!(revoke_consent))
        .routes(routes!(metrics));
    let warning_lane = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(list_warnings, launch))
        .routes(routes!(stream))
        .routes(routes!(list_incidents, report_incident))
        .routes(routes!(show_incident))
        .routes(routes!(follow_up_incident))
        .routes(routes!(incident_stream))
        .routes(routes!(track))
        .routes(routes!(impact));
    let (items, mut doc) = item_lane.split_for_parts();
    let (warnings, warnings_doc) = warning_lane.split_for_parts();
    doc.merge(warnings_doc);
    let router = crate::lanes::split(&node.lanes().item, items, warnings);
    (router, doc)
}

/// The user API's router, its OpenAPI document served at `/openapi.json`.
pub fn router(node: Arc<Node>) -> axum::Router {
    let (router, doc) = routes(&node);
    let doc = Arc::new(super::openapi::finish(doc, &node));
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .merge(super::console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

// ------------------------------------------------------------------ node

/// The process answers, with its party, ledger size and the integrity
/// alarms raised since it started.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "The node answers", body = Health)))]
async fn healthz(State(node): S) -> Result<Json<Health>, ApiError> {
    let size = node
        .store()
        .ledger_size()
        .await
        .map_err(crate::node::LedgerError::from)?;
    let (total, recent) = node.alarms().state();
    Ok(Json(Health {
        status: if total == 0 { "ok" } else { "alarm" }.into(),
        party: node.party().to_owned(),
        ledger_size: size,
        integrity_alarms: total,
        alarms: recent
            .into_iter()
            .map(|(at, b)| gsomia_api::Alarm {
                at,
                subject: b.subject,
                check: b.check.as_str().to_owned(),
                detail: b.detail,
            })
            .collect(),
    }))
}

/// Whether the node can take work now: the store reads, and writes a row
/// durably (false while writes fail).
#[utoipa::path(get, path = "/readyz", tag = "node",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; the checks say why", body = Readiness)))]
async fn readyz(State(node): S) -> Response {
    let mut checks = Vec::new();
    let read = node.store().ledger_size().await;
    checks.push(Check {
        name: "store_read".into(),
        ok: read.is_ok(),
        detail: match &read {
            Ok(n) => format!("ledger of {n} records"),
            Err(e) => e.to_string(),
        },
    });
    let write = node.store().probe_write(&node.now().to_string()).await;
    checks.push(Check {
        name: "store_write".into(),
        ok: write.is_ok(),
        detail: match &write {
            Ok(()) => "a row is written durably".into(),
            Err(e) => e.to_string(),
        },
    });
    let ready = checks.iter().all(|c| c.ok);
    let body = Readiness {
        ready,
        party: node.party().to_owned(),
        checks,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
async fn metrics(State(node): S) -> Result<Response, ApiError> {
    crate::observe::refresh(&node).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        node.metrics().render(),
    )
        .into_response())
}

// ----------------------------------------------------------------- items

/// A page of the items the caller may read (labels only; each decided by
/// the access rules before paging), oldest first.
#[utoipa::path(get, path = "/v1/items", tag = "items", security(("bearer" = [])),
    params(ItemFilter),
    responses(
        (status = 200, description = "A page of the items the caller may read", body = ItemList),
        (status = 400, description = "A filter or cursor that does not hold", body = ErrorBody)))]
async fn list_items(
    State(node): S,
    bearer: Bearer,
    QueryParams(filter): QueryParams<ItemFilter>,
) -> Result<Json<ItemList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::list(&node, &p, &filter).await?))
}

/// Submits an item: labelled in the party's policy, sealed at rest, ledgered.
#[utoipa::path(post, path = "/v1/items", tag = "items", security(("bearer" = [])),
    request_body = SubmitItem,
    responses(
        (status = 201, description = "Stored", body = Submitted),
        (status = 403, description = "The caller's role may not submit", body = ErrorBody)))]
async fn submit_item(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<SubmitItem>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(items::submit(&node, &p, &req).await?),
    ))
}

/// One item's labels, if the caller may read it (the read is ledgered).
#[utoipa::path(get, path = "/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    responses(
        (status = 200, description = "The item's labels", body = ItemView),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Destroyed or returned (rule 13): its history stays", body = ErrorBody)))]
async fn show_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<ItemView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::show(&node, &p, &id).await?))
}

/// One item's content, if the caller may read it (the read is ledgered).
#[utoipa::path(get, path = "/v1/items/{id}/content", tag = "items", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    responses(
        (status = 200, description = "The content", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Destroyed or returned (rule 13): its history stays", body = ErrorBody)))]
async fn read_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = person(&node, bearer).await?;
    let content = items::read(&node, &p, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        content,
    )
        .into_response())
}

/// Releases an item to a partner: decided now, ledgered either way, and
/// on release sealed for the recipient and queued for delivery.
#[utoipa::path(post, path = "/v1/items/{id}/release", tag = "items", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = ReleaseItem,
    responses(
        (status = 200, description = "Decided: released (queued) or withheld, with reasons; with an `Idempotency-Key` already used for this request, its first answer", body = ReleaseOutcome),
        (status = 400, description = "An unknown recipient, or an idempotency key used for another request", body = ErrorBody),
        (status = 403, description = "The caller's role may not release", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Destroyed or returned (rule 13): its history stays", body = ErrorBody)))]
async fn release_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(req): JsonBody<ReleaseItem>,
) -> Result<Json<ReleaseOutcome>, ApiError> {
    let p = person(&node, bearer).await?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "the idempotency key is printable ASCII",
            )
        })?),
    };
    Ok(Json(
        items::release::release_by(&node, &p, &id, &req.to, key).await?,
    ))
}

// -------------------------------------------------------------- holdings

/// Copies of an item for an official need (rule 12): each an item of its
/// own with both labels unchanged, numbered "copy n of N"; refused beyond
/// the originator's marking or the party's policy for the level.
#[utoipa::path(post, path = "/v1/items/{id}/copies", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = CopyItem,
    responses(
        (status = 201, description = "The copies made", body = Copied),
        (status = 400, description = "A count or reason that does not hold", body = ErrorBody),
        (status = 403, description = "The caller's role may not copy", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused by the handling rules, with reasons citing them", body = ErrorBody)))]
async fn copy_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CopyItem>,
) -> Result<(StatusCode, Json<Copied>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(items::holding::copy(&node, &p, &id, &req).await?),
    ))
}

/// A translation of an item, by a person who may read it (rules 7, 12):
/// it carries the level, both labels and the origin note.
#[utoipa::path(post, path = "/v1/items/{id}/translations", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = TranslateItem,
    responses(
        (status = 201, description = "The translation made", body = Made),
        (status = 400, description = "A language or content that does not hold", body = ErrorBody),
        (status = 403, description = "The caller's role may not translate", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused by the handling rules", body = ErrorBody)))]
async fn translate_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<TranslateItem>,
) -> Result<(StatusCode, Json<Made>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(items::holding::translate(&node, &p, &id, &req).await?),
    ))
}

/// A document written from items held here (rule 7): its label by the
/// aggregation rule, naming every originator; releasing it to a third
/// party needs every originator's consent.
#[utoipa::path(post, path = "/v1/items/derived", tag = "holdings", security(("bearer" = [])),
    request_body = DeriveItem,
    responses(
        (status = 201, description = "The document made", body = Made),
        (status = 400, description = "Sources, level, topics or content that do not hold", body = ErrorBody),
        (status = 403, description = "The caller's role may not write documents", body = ErrorBody),
        (status = 404, description = "A source that does not exist or is not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused by the rules (the author could not read what it becomes)", body = ErrorBody)))]
async fn derive_item(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<DeriveItem>,
) -> Result<(StatusCode, Json<Made>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(items::holding::derive(&node, &p, &req).await?),
    ))
}

/// Destroys an item (rule 13): refused unless the party's policy for its
/// level is met (witnesses and their clearance); its sealed bytes are
/// erased and the destruction ledgered with its record.
#[utoipa::path(post, path = "/v1/items/{id}/destruction", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = DestroyItem,
    responses(
        (status = 200, description = "Destroyed", body = Destroyed),
        (status = 400, description = "A method or witness that does not hold", body = ErrorBody),
        (status = 403, description = "The caller's role may not destroy", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused: the policy's witnesses are not met, or it was already destroyed or returned", body = ErrorBody)))]
async fn destroy_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DestroyItem>,
) -> Result<Json<Destroyed>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::holding::destroy(&node, &p, &id, &req).await?))
}

/// Sends a received item back to its originator (rule 13); its local
/// copy is erased once the originator's receipt arrives.
#[utoipa::path(post, path = "/v1/items/{id}/return", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = ReturnItem,
    responses(
        (status = 200, description = "Decided: queued for the originator (or withheld, with reasons)", body = ReleaseOutcome),
        (status = 403, description = "The caller's role may not return items", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused: an item of this party's own, one already being returned, or one destroyed", body = ErrorBody)))]
async fn return_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReturnItem>,
) -> Result<Json<ReleaseOutcome>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::holding::give_back(&node, &p, &id, &req).await?))
}

/// Changes the classification of one of this party's own items (rule 8):
/// every row here follows at once, and a signed notice goes to every
/// party the item went to (and through the hub, onward).
#[utoipa::path(post, path = "/v1/items/{id}/reclassify", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    request_body = ReclassifyItem,
    responses(
        (status = 200, description = "Reclassified: the notice, the rows here and where it was sent", body = Reclassification),
        (status = 400, description = "A level this party's policy does not have, or no reason", body = ErrorBody),
        (status = 403, description = "The caller's role may not reclassify", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody),
        (status = 409, description = "Refused: not this party's item (rule 8), not a classified level, or unchanged", body = ErrorBody)))]
async fn reclassify_item(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReclassifyItem>,
) -> Result<Json<Reclassification>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(
        crate::items::reclassify::reclassify(&node, &p, &id, &req).await?,
    ))
}

/// The reclassification notices about an item, with the rows here that
/// follow each and, where this node sent it, each party's acknowledgement.
#[utoipa::path(get, path = "/v1/items/{id}/reclassifications", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node")),
    responses(
        (status = 200, description = "Its notices, oldest first", body = ReclassificationList),
        (status = 404, description = "No such item, or not one the caller may see", body = ErrorBody)))]
async fn item_reclassifications(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<ReclassificationList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::items::reclassify::list(&node, &p, &id).await?))
}

// ----------------------------------------------------------------- visits

/// Every visit this party requested or hosts, with each access reported.
/// Security officers and auditors.
#[utoipa::path(get, path = "/v1/visits", tag = "visits", security(("bearer" = [])),
    responses(
        (status = 200, description = "The visits", body = VisitList),
        (status = 403, description = "The caller's role may not see them", body = ErrorBody)))]
async fn list_visits(State(node): S, bearer: Bearer) -> Result<Json<VisitList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::visits::list(&node, &p).await?))
}

/// Asks a partner to host one of this party's people (Art 8): purpose,
/// highest level, topics and period (security officers).
#[utoipa::path(post, path = "/v1/visits", tag = "visits", security(("bearer" = [])),
    request_body = RequestVisit,
    responses(
        (status = 201, description = "Requested: signed and sent to the host", body = VisitView),
        (status = 400, description = "A purpose, level, topic or instant that does not parse", body = ErrorBody),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 409, description = "Refused: not a partner, not one of this party's people, a clearance that does not reach the level through the visit, no agreement covering it, or a period that is over, reversed or too long", body = ErrorBody)))]
async fn request_visit(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<RequestVisit>,
) -> Result<(StatusCode, Json<VisitView>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::visits::request(&node, &p, &req).await?),
    ))
}

/// One visit.
#[utoipa::path(get, path = "/v1/visits/{id}", tag = "visits", security(("bearer" = [])),
    params(("id" = String, Path, description = "The visit's id")),
    responses(
        (status = 200, description = "The visit", body = VisitView),
        (status = 403, description = "The caller's role may not see it", body = ErrorBody),
        (status = 404, description = "No such visit", body = ErrorBody)))]
async fn show_visit(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<VisitView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::visits::show(&node, &p, &id).await?))
}

/// Approves a visit hosted here: the visitor is registered, cleared to
/// this party's equivalent of the level for the visit's topics and period,
/// and their credential is answered once (security officers).
#[utoipa::path(post, path = "/v1/visits/{id}/approve", tag = "visits", security(("bearer" = [])),
    params(("id" = String, Path, description = "The visit's id")),
    responses(
        (status = 200, description = "Approved: the visit and the visitor's credential here", body = VisitApproved),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 404, description = "No such visit", body = ErrorBody),
        (status = 409, description = "Refused: not hosted here, answered already, over, or no agreement covers the level", body = ErrorBody)))]
async fn approve_visit(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<VisitApproved>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::visits::approve(&node, &p, &id).await?))
}

/// Refuses a visit hosted here, with the reason (security officers).
#[utoipa::path(post, path = "/v1/visits/{id}/refuse", tag = "visits", security(("bearer" = [])),
    params(("id" = String, Path, description = "The visit's id")),
    request_body = RefuseVisit,
    responses(
        (status = 200, description = "Refused", body = VisitView),
        (status = 400, description = "No reason", body = ErrorBody),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 404, description = "No such visit", body = ErrorBody),
        (status = 409, description = "Not hosted here, or answered already", body = ErrorBody)))]
async fn refuse_visit(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RefuseVisit>,
) -> Result<Json<VisitView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::visits::refuse(&node, &p, &id, &req).await?))
}

// ------------------------------------------------------------ contractors

/// Every contractor facility (Art 16), with what fails now. Security
/// officers and auditors.
#[utoipa::path(get, path = "/v1/facilities", tag = "contractors", security(("bearer" = [])),
    responses(
        (status = 200, description = "The facilities", body = FacilityList),
        (status = 403, description = "The caller's role may not see them", body = ErrorBody)))]
async fn list_facilities(State(node): S, bearer: Bearer) -> Result<Json<FacilityList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::facilities::list(&node, &p).await?))
}

/// Enters a contractor facility in the register, with its facility
/// security clearance and its responsible person (security officers).
/// Its people read nothing until it is inspected and they are briefed.
#[utoipa::path(post, path = "/v1/facilities", tag = "contractors", security(("bearer" = [])),
    request_body = AddFacility,
    responses(
        (status = 201, description = "Registered", body = FacilityView),
        (status = 400, description = "Not a classified level, no name, or a bad date", body = ErrorBody),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 409, description = "The responsible person is not a registered person whose access holds", body = ErrorBody)))]
async fn add_facility(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<AddFacility>,
) -> Result<(StatusCode, Json<FacilityView>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::facilities::add(&node, &p, &req).await?),
    ))
}

/// One contractor facility, with what fails now.
#[utoipa::path(get, path = "/v1/facilities/{id}", tag = "contractors", security(("bearer" = [])),
    params(("id" = String, Path, description = "The facility's id")),
    responses(
        (status = 200, description = "The facility", body = FacilityView),
        (status = 403, description = "The caller's role may not see it", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody)))]
async fn show_facility(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<FacilityView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::facilities::show(&node, &p, &id).await?))
}

/// Records an inspection of a facility, passed or failed (security officers).
#[utoipa::path(post, path = "/v1/facilities/{id}/inspections", tag = "contractors", security(("bearer" = [])),
    params(("id" = String, Path, description = "The facility's id")),
    request_body = InspectFacility,
    responses(
        (status = 200, description = "Recorded", body = FacilityView),
        (status = 400, description = "No findings", body = ErrorBody),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody)))]
async fn inspect_facility(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<InspectFacility>,
) -> Result<Json<FacilityView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(
        crate::facilities::inspect(&node, &p, &id, &req).await?,
    ))
}

/// Records the security briefing of a person of the facility (security officers).
#[utoipa::path(post, path = "/v1/facilities/{id}/briefings", tag = "contractors", security(("bearer" = [])),
    params(("id" = String, Path, description = "The facility's id")),
    request_body = BriefPerson,
    responses(
        (status = 200, description = "Recorded", body = FacilityView),
        (status = 403, description = "Security officers only", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
        (status = 409, description = "Not a person registered as of this facility", body = ErrorBody)))]
async fn brief_person(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<BriefPerson>,
) -> Result<Json<FacilityView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::facilities::brief(&node, &p, &id, &req).await?))
}

/// An item's whole record (rule 11): identification, location, state,
/// what it was made from and what was made from it, and a page of every
/// ledger record about them. Security officers and auditors see any
/// item's; others only an item they may read.
#[utoipa::path(get, path = "/v1/items/{id}/history", tag = "holdings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The item's id at this node"), Page),
    responses(
        (status = 200, description = "The item's record", body = ItemHistory),
        (status = 400, description = "A cursor that does not hold", body = ErrorBody),
        (status = 404, description = "No such item, or not one the caller may see", body = ErrorBody)))]
async fn item_history(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<ItemHistory>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::history::history(&node, &p, &id, &page).await?))
}

/// The inventory (rule 11): every item held or once held here with its
/// state, paged; `due=true` for those past their originator's
/// return-or-destroy date. Security officers and auditors.
#[utoipa::path(get, path = "/v1/inventory", tag = "holdings", security(("bearer" = [])),
    params(InventoryFilter),
    responses(
        (status = 200, description = "A page of the inventory", body = Inventory),
        (status = 400, description = "A filter or cursor that does not hold", body = ErrorBody),
        (status = 403, description = "The caller's role may not see the inventory", body = ErrorBody)))]
async fn inventory(
    State(node): S,
    bearer: Bearer,
    QueryParams(filter): QueryParams<InventoryFilter>,
) -> Result<Json<Inventory>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(items::history::inventory(&node, &p, &filter).await?))
}

// ------------------------------------------------------------- incidents

/// Reports an actual or possible loss or compromise of a held item to its
/// originator (rule 14): signed, kept and ledgered, then sent at once on
/// the warning lane and retried until the originator acknowledges it.
#[utoipa::path(post, path = "/v1/incidents", tag = "incidents", security(("bearer" = [])),
    request_body = ReportIncident,
    responses(
        (status = 201, description = "Reported (pending until the originator acknowledges)", body = IncidentView),
        (status = 400, description = "A description that does not hold", body = ErrorBody),
        (status = 409, description = "Refused: an item of this party's own is not reported to a partner (rule 14)", body = ErrorBody),
        (status = 403, description = "The caller's role may not report", body = ErrorBody),
        (status = 404, description = "No such item, or not readable by the caller", body = ErrorBody)))]
async fn report_incident(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<ReportIncident>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::incidents::report(&node, &p, &req).await?),
    ))
}

/// A page of the incidents the caller may see (security officers and
/// auditors: all; officers: those they reported), oldest first.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentList),
        (status = 400, description = "A cursor that does not hold", body = ErrorBody)))]
async fn list_incidents(
    State(node): S,
    bearer: Bearer,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<IncidentList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::incidents::list(&node, &p, &page).await?))
}

/// One incident with every message and its acknowledgement.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident", body = IncidentView),
        (status = 404, description = "No such incident, or not one the caller may see", body = ErrorBody)))]
async fn show_incident(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(crate::incidents::show(&node, &p, &id).await?))
}

/// The investigation's findings, or (`close`) its results and remedies,
/// sent to the originator after what was sent before.
#[utoipa::path(post, path = "/v1/incidents/{id}/updates", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The incident's id")),
    request_body = FollowUpIncident,
    responses(
        (status = 201, description = "Written (pending until the originator acknowledges)", body = IncidentView),
        (status = 400, description = "A text that does not hold", body = ErrorBody),
        (status = 409, description = "Refused: the incident is closed", body = ErrorBody),
        (status = 403, description = "The caller's role may not follow incidents up", body = ErrorBody),
        (status = 404, description = "No such incident reported here, or not the caller's", body = ErrorBody)))]
async fn follow_up_incident(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<FollowUpIncident>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::incidents::follow_up(&node, &p, &id, &req).await?),
    ))
}

/// Incidents live (server-sent events `incident`, each the incident as it
/// now stands): reported, followed up, received, acknowledged. Security
/// officers and auditors.
#[utoipa::path(get, path = "/v1/incidents/stream", tag = "incidents", security(("bearer" = [])),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 403, description = "The caller's role may not follow incidents live", body = ErrorBody)))]
async fn incident_stream(State(node): S, bearer: Bearer) -> Result<Response, ApiError> {
    let p = person(&node, bearer).await?;
    let rx = crate::incidents::subscribe(&node, &p)?;
    let events = futures_util::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Ok(json) => {
                let e = Event::default().event("incident").data(json.as_str());
                Some((Ok::<Event, Infallible>(e), (rx, false)))
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let e = Event::default()
                    .event("cutoff")
                    .data(format!("{n} events behind: cut off; subscribe again"));
                Some((Ok(e), (rx, true)))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response())
}

// ------------------------------------------------------------- transfers

/// A page of the transfers the caller may see (security officers and
/// auditors: all; officers: those they released), oldest first.
#[utoipa::path(get, path = "/v1/transfers", tag = "transfers", security(("bearer" = [])),
    params(TransferFilter),
    responses(
        (status = 200, description = "A page of transfers", body = TransferList),
        (status = 400, description = "A filter or cursor that does not hold", body = ErrorBody)))]
async fn list_transfers(
    State(node): S,
    bearer: Bearer,
    QueryParams(filter): QueryParams<TransferFilter>,
) -> Result<Json<TransferList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(transfers::list(&node, &p, &filter).await?))
}

/// What became of one transfer: queued, sending (attempts and the last
/// error), delivered (the partner's receipt checkpoint) or refused (its reasons).
#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers", security(("bearer" = [])),
    params(("id" = String, Path, description = "The transfer's id (from the release)")),
    responses(
        (status = 200, description = "The transfer", body = TransferView),
        (status = 404, description = "No such transfer, or not one the caller may see", body = ErrorBody)))]
async fn show_transfer(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<TransferView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(transfers::show(&node, &p, &id).await?))
}

// ------------------------------------------------------------ agreements

/// Every agreement this party is in, with its status now.
#[utoipa::path(get, path = "/v1/agreements", tag = "agreements", security(("bearer" = [])),
    responses((status = 200, description = "Statuses now", body = AgreementList)))]
async fn list_agreements(State(node): S, bearer: Bearer) -> Result<Json<AgreementList>, ApiError> {
    person(&node, bearer).await?;
    Ok(Json(agreements::list(&node)?))
}

/// One agreement's status now, as this node computes it.
#[utoipa::path(get, path = "/v1/agreements/{id}", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agreement's id, e.g. jp-kr-2016")),
    responses(
        (status = 200, description = "Its status now", body = AgreementStatus),
        (status = 404, description = "No such agreement", body = ErrorBody)))]
async fn show_agreement(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<AgreementStatus>, ApiError> {
    person(&node, bearer).await?;
    Ok(Json(agreements::show(&node, &id)?))
}

/// Records an act of this party (security officers): signed, ledgered and
/// sent to every partner to the agreement.
#[utoipa::path(post, path = "/v1/agreements/{id}/events", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "The agreement's id, e.g. jp-kr-2016")),
    request_body = EnterEvent,
    responses(
        (status = 201, description = "Recorded", body = EnteredEvent),
        (status = 403, description = "Only security officers enter events", body = ErrorBody),
        (status = 404, description = "No such agreement", body = ErrorBody),
        (status = 409, description = "The rules refuse the event", body = ErrorBody)))]
async fn enter_event(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<EnterEvent>,
) -> Result<(StatusCode, Json<EnteredEvent>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(agreements::enter(&node, &p, &id, &req).await?),
    ))
}

// -------------------------------------------------------------- consents

/// A page of the consents this party gave or holds, revocations applied.
#[utoipa::path(get, path = "/v1/consents", tag = "consents", security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "The consents", body = ConsentList),
        (status = 400, description = "A cursor or limit that does not hold", body = ErrorBody)))]
async fn list_consents(
    State(node): S,
    bearer: Bearer,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<ConsentList>, ApiError> {
    person(&node, bearer).await?;
    Ok(Json(consents::list(&node, &page).await?))
}

/// Consents, as originator, to a release by a holder to a recipient
/// (security officers): signed, ledgered and sent to the holder.
#[utoipa::path(post, path = "/v1/consents", tag = "consents", security(("bearer" = [])),
    request_body = GrantConsent,
    responses(
        (status = 201, description = "Given and queued for the holder", body = ConsentView),
        (status = 403, description = "Only security officers give consents", body = ErrorBody),
        (status = 409, description = "The consent cannot be given as asked", body = ErrorBody)))]
async fn grant_consent(
    State(node): S,
    bearer: Bearer,
    JsonBody(req): JsonBody<GrantConsent>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let p = person(&node, bearer).await?;
    Ok((
        StatusCode::CREATED,
        Json(consents::grant(&node, &p, &req).await?),
    ))
}

/// Revokes a consent this party gave, from now (security officers).
#[utoipa::path(post, path = "/v1/consents/{id}/revoke", tag = "consents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The consent's id")),
    responses(
        (status = 200, description = "Revoked and queued for the holder", body = ConsentView),
        (status = 403, description = "Only security officers revoke, and only this party's consents", body = ErrorBody),
        (status = 404, description = "No such consent", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody)))]
async fn revoke_consent(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(consents::revoke(&node, &p, &id).await?))
}

// -------------------------------------------------------------- warnings

/// A page of the warnings known here that the caller may see, and what
/// is still owed to each partner.
#[utoipa::path(get, path = "/v1/warnings", tag = "warnings", security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "Flights", body = WarningList),
        (status = 400, description = "A cursor or limit that does not hold", body = ErrorBody)))]
async fn list_warnings(
    State(node): S,
    bearer: Bearer,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<WarningList>, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(Json(warnings::list(&node, &p, &page).await?))
}

/// Opens a warning with its launch point (rule 17: only the three data
/// elements; any other field is refused).
#[utoipa::path(post, path = "/v1/warnings", tag = "warnings", security(("bearer" = [])),
    request_body = Launch,
    responses(
        (status = 201, description = "Published", body = Published),
        (status = 403, description = "Auditors do not publish", body = ErrorBody),
        (status = 409, description = "Refused (rule 17, no warning link)", body = ErrorBody)))]
async fn launch(
    State(node): S,
    bearer: Bearer,
    RawJson(body): RawJson,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let p = person(&node, bearer).await?;
    let req: Launch = warnings::parse(&body)?;
    let published =
        warnings::to_the_end(async move { warnings::launch(&node, &p, &req).await }).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// A trajectory point of a warning published here.
#[utoipa::path(post, path = "/v1/warnings/{id}/track", tag = "warnings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The warning's id")),
    request_body = Track,
    responses(
        (status = 200, description = "Published", body = Published),
        (status = 403, description = "Auditors do not publish", body = ErrorBody),
        (status = 404, description = "No such warning published here", body = ErrorBody),
        (status = 409, description = "Refused (rule 17, after the impact)", body = ErrorBody)))]
async fn track(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> Result<Json<Published>, ApiError> {
    let p = person(&node, bearer).await?;
    let req: Track = warnings::parse(&body)?;
    Ok(Json(
        warnings::to_the_end(async move { warnings::track(&node, &p, &id, &req).await }).await?,
    ))
}

/// The impact point of a warning published here; closes it.
#[utoipa::path(post, path = "/v1/warnings/{id}/impact", tag = "warnings", security(("bearer" = [])),
    params(("id" = String, Path, description = "The warning's id")),
    request_body = Impact,
    responses(
        (status = 200, description = "Published", body = Published),
        (status = 403, description = "Auditors do not publish", body = ErrorBody),
        (status = 404, description = "No such warning published here", body = ErrorBody),
        (status = 409, description = "Refused (rule 17, closed already)", body = ErrorBody)))]
async fn impact(
    State(node): S,
    bearer: Bearer,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> Result<Json<Published>, ApiError> {
    let p = person(&node, bearer).await?;
    let req: Impact = warnings::parse(&body)?;
    Ok(Json(
        warnings::to_the_end(async move { warnings::impact(&node, &p, &id, &req).await }).await?,
    ))
}

/// The live feed (server-sent events `warning`, each a `WarningUpdate`):
/// first every update of the warnings still in flight, then each update as
/// it is applied. A subscriber more than 1,024 updates behind is cut off
/// with a final `cutoff` event.
#[utoipa::path(get, path = "/v1/warnings/stream", tag = "warnings", security(("bearer" = [])),
    responses((status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String)))]
async fn stream(State(node): S, bearer: Bearer) -> Result<Response, ApiError> {
    let p = person(&node, bearer).await?;
    Ok(warning_events(node, p))
}

/// The live warning feed of `p` as server-sent events (the API's stream,
/// and the console's).
pub(crate) fn warning_events(node: Arc<Node>, p: Person) -> Response {
    /// An update's event, shared by every subscriber's stream (no copy).
    struct Shared(Arc<crate::feed::Shown>);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            &self.0.event
        }
    }
    let sub = warnings::subscribe(node, p);
    // A comment line every so often keeps proxies and clients from taking
    // a quiet stream for dead: one timer a subscriber, not one an event.
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = futures_util::stream::unfold(
        (sub, beat, false),
        |(mut sub, mut beat, done)| async move {
            if done {
                return None;
            }
            // `next` loses nothing when the beat wins (it awaits a broadcast
            // receive, which is cancel-safe).
            let next = tokio::select! {
                biased;
                n = sub.next() => n?,
                _ = beat.tick() => {
                    return Some((Ok::<_, Infallible>(Bytes::from_static(b":\n\n")), (sub, beat, false)));
                }
            };
            match next {
                warnings::Next::Update(s) => {
                    Some((Ok(Bytes::from_owner(Shared(s))), (sub, beat, false)))
                }
                warnings::Next::Cutoff(n) => {
                    let e = format!(
                        "event: cutoff\ndata: {n} updates behind: cut off; subscribe again\n\n"
                    );
                    Some((Ok(Bytes::from(e)), (sub, beat, true)))
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}

/// How long a warning stream may be silent before a comment line is sent.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
