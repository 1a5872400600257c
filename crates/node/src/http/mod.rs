//! The HTTP layer: the user API ([`user`]) and the peer endpoint ([`peer`])
//! over TLS, with a request id and a log line on every request, a deadline
//! on every request, and one error type ([`ApiError`]) whose 5xx bodies say
//! nothing but the request id. Routes call the capabilities; nothing below
//! calls back up here.

pub mod console;
pub mod openapi;
pub mod peer;
mod timeline;
pub mod user;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gsomia_api::ErrorBody;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use crate::error::{Class, Classified};
use crate::node::Node;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take, body included, before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body the user API accepts (bytes).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// The one error answer of every route: a status from the error's class,
/// and an [`ErrorBody`]. Internal errors say only that one happened; their
/// cause chain goes to the log under the request's id.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

/// The status a class of error is answered with.
pub fn status(class: Class) -> StatusCode {
    match class {
        Class::BadRequest => StatusCode::BAD_REQUEST,
        Class::Unauthorized => StatusCode::UNAUTHORIZED,
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::Refused => StatusCode::CONFLICT,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E: Classified> From<E> for ApiError {
    fn from(e: E) -> Self {
        let class = e.class();
        let message = if class == Class::Internal {
            tracing::error!(error = %crate::error::chain(&e), "internal error");
            "internal error".to_owned()
        } else {
            crate::error::chain(&e)
        };
        ApiError::new(status(class), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(ErrorBody {
                error: self.message,
                request_id: None,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The bearer token of a request, if it has one (never a rejection: the
/// route decides, and an unauthenticated request is counted, not ledgered).
#[derive(Debug)]
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Bearer(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned()),
        ))
    }
}

/// A query string, parsed strictly: one that does not parse is answered 400
/// with an [`ErrorBody`], like every other bad request.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid query: {}", e.body_text()),
                )
            })
    }
}

/// A JSON request body: `application/json` required (415 otherwise), size
/// bounded (413), parsed strictly (400, unknown fields refused).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = RawJson::from_request(req, state).await?.0;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
    }
}

/// A JSON request body's bytes, checked for type and size but not parsed
/// (the warning routes check the field names first, rule 17).
#[derive(Debug)]
pub struct RawJson(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be `application/json`",
            ));
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawJson)
            .map_err(|e| {
                let status = e.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, format!("the body is larger than {MAX_BODY} bytes"))
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("cannot read the body: {e}"),
                    )
                }
            })
    }
}

/// A fresh request id: 16 random bytes, hex (or the caller's, if it gave a
/// short printable one).
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            crate::ids::entropy()
                .map(|b| crate::ids::hex(b.get(..16).unwrap_or_default()))
                .unwrap_or_else(|_| "unknown".to_owned())
        })
}

/// Gives every request an id (`x-request-id` on the answer, and in every
/// error body), runs it in a span carrying that id, logs one line when it
/// is answered, and answers 408 to a request that takes longer than
/// [`REQUEST_TIMEOUT`] (so a slow sender cannot hold a worker).
async fn observe(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    let started = std::time::Instant::now();
    let mut resp = async {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
            Ok(r) => r,
            Err(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timed out").into_response()
            }
        }
    }
    .instrument(span.clone())
    .await;
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        resp = with_request_id(resp, &id).await;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "answered");
        } else {
            tracing::info!(status = status.as_u16(), ms, "answered");
        }
    });
    resp
}

/// An error answer with the request id written into its body.
async fn with_request_id(resp: Response, id: &str) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let body = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(mut e) => {
            e.request_id = Some(id.to_owned());
            serde_json::to_vec(&e).map_or(bytes, axum::body::Bytes::from)
        }
        Err(_) => bytes,
    };
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The party a presented certificate (DER) proves, looked up at each
/// connection (partners change while the node runs).
type PinnedParties = dyn Fn(&[u8]) -> Option<String> + Send + Sync;

/// The partner a peer connection authenticated as (from its pinned certificate).
#[derive(Debug, Clone)]
pub struct PeerParty(pub String);

/// Serves the user API on `listener` over TLS until `shutdown` completes,
/// then stops accepting and lets requests in flight finish (up to
/// [`DRAIN_TIMEOUT`]). Connections are served on the node's warning lane;
/// handlers other than the warning routes run on its item lane.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let lane = node.lanes().warning.clone();
    on_warning_lane(lane, listener, tls, user::router(node), None, shutdown).await
}

/// Serves the peer endpoint on `listener` over mutual TLS: each connection
/// is bound to the partner whose pinned certificate it presented; user
/// tokens mean nothing here. Lanes as for [`serve`].
pub async fn serve_peers(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let roster = node.clone();
    let partners: Arc<PinnedParties> = Arc::new(move |der: &[u8]| {
        roster
            .partners()
            .iter()
            .find(|p| p.certificate.as_ref() == der)
            .map(|p| p.party.clone())
    });
    let lane = node.lanes().warning.clone();
    on_warning_lane(
        lane,
        listener,
        tls,
        peer::router(node),
        Some(partners),
        shutdown,
    )
    .await
}

/// Moves `listener` to the warning lane and serves there: its readiness and
/// every connection it accepts are then driven by the lane's threads.
async fn on_warning_lane(
    lane: tokio::runtime::Handle,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: axum::Router,
    partners: Option<Arc<PinnedParties>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let app = app.layer(axum::middleware::from_fn(observe));
    lane.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        accept(listener, tls, app, partners, shutdown).await
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn accept(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: axum::Router,
    partners: Option<Arc<PinnedParties>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns = JoinSet::new();
    // Tells open connections to finish their current request and close.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let mut app = app.clone();
                let partners = partners.clone();
                let mut closing = closing_rx.clone();
                conns.spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                        return;
                    };
                    if let Some(partners) = partners {
                        // Mutual TLS: bind the connection to the pinned partner it proved to be.
                        let presented = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
                        let Some(party) = presented.and_then(|der| partners(&der)) else {
                            return;
                        };
                        app = app.layer(axum::Extension(PeerParty(party)));
                    }
                    let svc = TowerToHyperService::new(app);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = closing.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}
