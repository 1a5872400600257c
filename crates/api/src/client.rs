//! The typed client of a node's user API (HTTPS, bearer token).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use reqwest::{Method, StatusCode, Url};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::*;

/// Why a call did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file does not load.
    #[error("`{path}`: {what}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong with it.
        what: String,
    },
    /// The node's URL is not a URL.
    #[error("`{0}` is not a node URL such as https://127.0.0.1:8443")]
    Url(String),
    /// The client could not be built (TLS configuration).
    #[error("cannot build the HTTPS client")]
    Build(#[source] reqwest::Error),
    /// The node could not be reached, or the connection broke.
    #[error("cannot reach `{url}`")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error status.
    #[error("the node answered {status}: {}", body.error)]
    Status {
        /// The HTTP status.
        status: u16,
        /// The node's error body.
        body: ErrorBody,
    },
    /// The node's answer is not what the contract says.
    #[error("unexpected answer from the node ({status}): {what}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not fit.
        what: String,
    },
}

impl ClientError {
    /// The HTTP status the node answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } | ClientError::Decode { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// An event of the live warning feed.
#[derive(Debug, Clone, PartialEq)]
pub enum WarningEvent {
    /// An update, as the node applied it.
    Update(WarningUpdate),
    /// The node cut this subscriber off (it fell too far behind).
    Cutoff(String),
}

/// The rustls configuration for a node's user API: the node's certificate
/// must chain to the CA certificates in the PEM file `ca`; TLS 1.3 only.
pub fn user_tls_config(ca: &Path) -> Result<rustls::ClientConfig, ClientError> {
    let err = |what: String| ClientError::Ca {
        path: ca.display().to_string(),
        what,
    };
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| err(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// A client of one node's user API, as one person (or anonymous, for
/// `/healthz`, `/readyz` and `/metrics`).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// How long a call may take before it is given up.
pub const TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client of the node at `base` (`https://host:port`), trusting the
    /// CA certificates in `ca`, calling as the holder of `token`.
    pub fn new(base: &str, ca: &Path, token: Option<&str>) -> Result<Client, ClientError> {
        Self::with_tls(base, user_tls_config(ca)?, token)
    }

    /// The same with a TLS configuration already made.
    pub fn with_tls(
        base: &str,
        tls: rustls::ClientConfig,
        token: Option<&str>,
    ) -> Result<Client, ClientError> {
        let base = Url::parse(base)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host().is_some())
            .ok_or_else(|| ClientError::Url(base.to_owned()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(TIMEOUT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client {
            http,
            base,
            token: token.map(str::to_owned),
        })
    }

    /// The same node as another person.
    pub fn as_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of a route, its segments escaped (an id is always one segment).
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut s) = u.path_segments_mut() {
            s.pop_if_empty().extend(segments);
        }
        u
    }

    fn request(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.request_to(method, self.url(segments))
    }

    fn request_to(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends a request; the status and body of the answer.
    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            url: self.base().to_owned(),
            source,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        Ok((status, body.to_vec()))
    }

    /// A 2xx answer as `T`; anything else as [`ClientError::Status`].
    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let (status, body) = self.exchange(req).await?;
        decode(status, &body)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.call(self.request(Method::GET, segments)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.request(Method::POST, segments).json(body))
            .await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get(&["healthz"]).await
    }

    /// `GET /readyz`: the readiness report, whether ready (200) or not (503).
    pub async fn ready(&self) -> Result<Readiness, ClientError> {
        let (status, body) = self
            .exchange(self.request(Method::GET, &["readyz"]))
            .await?;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return decode(StatusCode::OK, &body);
        }
        decode(status, &body)
    }

    /// `GET /metrics`: the Prometheus text exposition.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, body) = self
            .exchange(self.request(Method::GET, &["metrics"]))
            .await?;
        if !status.is_success() {
            return Err(error(status, &body));
        }
        String::from_utf8(body).map_err(|e| ClientError::Decode {
            status: status.as_u16(),
            what: e.to_string(),
        })
    }

    /// `POST /v1/items`.
    pub async fn submit(&self, item: &SubmitItem) -> Result<Submitted, ClientError> {
        self.post(&["v1", "items"], item).await
    }

    /// `POST /v1/items/{id}/copies`.
    pub async fn copy(&self, id: &str, req: &CopyItem) -> Result<Copied, ClientError> {
        self.post(&["v1", "items", id, "copies"], req).await
    }

    /// `POST /v1/items/{id}/translations`.
    pub async fn translate(&self, id: &str, req: &TranslateItem) -> Result<Made, ClientError> {
        self.post(&["v1", "items", id, "translations"], req).await
    }

    /// `POST /v1/items/derived`.
    pub async fn derive(&self, req: &DeriveItem) -> Result<Made, ClientError> {
        self.post(&["v1", "items", "derived"], req).await
    }

    /// `POST /v1/items/{id}/destruction`.
    pub async fn destroy(&self, id: &str, req: &DestroyItem) -> Result<Destroyed, ClientError> {
        self.post(&["v1", "items", id, "destruction"], req).await
    }

    /// `POST /v1/items/{id}/return`.
    pub async fn give_back(
        &self,
        id: &str,
        req: &ReturnItem,
    ) -> Result<ReleaseOutcome, ClientError> {
        self.post(&["v1", "items", id, "return"], req).await
    }

    /// `POST /v1/items/{id}/reclassify`.
    pub async fn reclassify(
        &self,
        id: &str,
        req: &ReclassifyItem,
    ) -> Result<Reclassification, ClientError> {
        self.post(&["v1", "items", id, "reclassify"], req).await
    }

    /// `GET /v1/items/{id}/reclassifications`.
    pub async fn reclassifications(&self, id: &str) -> Result<ReclassificationList, ClientError> {
        self.get(&["v1", "items", id, "reclassifications"]).await
    }

    /// `POST /v1/facilities`.
    pub async fn add_facility(&self, req: &AddFacility) -> Result<FacilityView, ClientError> {
        self.post(&["v1", "facilities"], req).await
    }

    /// `GET /v1/facilities`.
    pub async fn facilities(&self) -> Result<FacilityList, ClientError> {
        self.get(&["v1", "facilities"]).await
    }

    /// `GET /v1/facilities/{id}`.
    pub async fn facility(&self, id: &str) -> Result<FacilityView, ClientError> {
        self.get(&["v1", "facilities", id]).await
    }

    /// `POST /v1/facilities/{id}/inspections`.
    pub async fn inspect_facility(
        &self,
        id: &str,
        req: &InspectFacility,
    ) -> Result<FacilityView, ClientError> {
        self.post(&["v1", "facilities", id, "inspections"], req)
            .await
    }

    /// `POST /v1/facilities/{id}/briefings`.
    pub async fn brief(&self, id: &str, req: &BriefPerson) -> Result<FacilityView, ClientError> {
        self.post(&["v1", "facilities", id, "briefings"], req).await
    }

    /// `POST /v1/visits`.
    pub async fn request_visit(&self, req: &RequestVisit) -> Result<VisitView, ClientError> {
        self.post(&["v1", "visits"], req).await
    }

    /// `GET /v1/visits`.
    pub async fn visits(&self) -> Result<VisitList, ClientError> {
        self.get(&["v1", "visits"]).await
    }

    /// `GET /v1/visits/{id}`.
    pub async fn visit(&self, id: &str) -> Result<VisitView, ClientError> {
        self.get(&["v1", "visits", id]).await
    }

    /// `POST /v1/visits/{id}/approve`.
    pub async fn approve_visit(&self, id: &str) -> Result<VisitApproved, ClientError> {
        self.post(&["v1", "visits", id, "approve"], &serde_json::json!({}))
            .await
    }

    /// `POST /v1/visits/{id}/refuse`.
    pub async fn refuse_visit(
        &self,
        id: &str,
        req: &RefuseVisit,
    ) -> Result<VisitView, ClientError> {
        self.post(&["v1", "visits", id, "refuse"], req).await
    }

    /// `GET /v1/items/{id}/history?…`.
    pub async fn history(&self, id: &str, page: &Page) -> Result<ItemHistory, ClientError> {
        self.get_query(&["v1", "items", id, "history"], page.pairs())
            .await
    }

    /// `GET /v1/inventory?…`.
    pub async fn inventory(&self, filter: &InventoryFilter) -> Result<Inventory, ClientError> {
        self.get_query(&["v1", "inventory"], filter.pairs()).await
    }

    /// `POST /v1/incidents`.
    pub async fn report_incident(&self, req: &ReportIncident) -> Result<IncidentView, ClientError> {
        self.post(&["v1", "incidents"], req).await
    }

    /// `POST /v1/incidents/{id}/updates`.
    pub async fn follow_up(
        &self,
        id: &str,
        req: &FollowUpIncident,
    ) -> Result<IncidentView, ClientError> {
        self.post(&["v1", "incidents", id, "updates"], req).await
    }

    /// `GET /v1/incidents?…`.
    pub async fn incidents(&self, page: &Page) -> Result<IncidentList, ClientError> {
        self.get_query(&["v1", "incidents"], page.pairs()).await
    }

    /// `GET /v1/incidents/{id}`.
    pub async fn incident(&self, id: &str) -> Result<IncidentView, ClientError> {
        self.get(&["v1", "incidents", id]).await
    }

    /// `GET /v1/items`.
    pub async fn items(&self) -> Result<ItemList, ClientError> {
        self.get(&["v1", "items"]).await
    }

    /// `GET /v1/items?…`: one page of the items the caller may read.
    pub async fn items_page(&self, filter: &ItemFilter) -> Result<ItemList, ClientError> {
        self.get_query(&["v1", "items"], filter.pairs()).await
    }

    /// `GET /v1/items/{id}`.
    pub async fn item(&self, id: &str) -> Result<ItemView, ClientError> {
        self.get(&["v1", "items", id]).await
    }

    /// `GET /v1/items/{id}/content`: the content, if the caller may read it.
    pub async fn content(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        let (status, body) = self
            .exchange(self.request(Method::GET, &["v1", "items", id, "content"]))
            .await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(error(status, &body))
        }
    }

    /// `POST /v1/items/{id}/release`.
    pub async fn release(&self, id: &str, to: &str) -> Result<ReleaseOutcome, ClientError> {
        self.post(
            &["v1", "items", id, "release"],
            &ReleaseItem { to: to.to_owned() },
        )
        .await
    }

    /// `POST /v1/items/{id}/release` with an `Idempotency-Key`: a retry
    /// with the same key answers what the first request did, and sends
    /// nothing new.
    pub async fn release_once(
        &self,
        id: &str,
        to: &str,
        key: &str,
    ) -> Result<ReleaseOutcome, ClientError> {
        self.call(
            self.request(Method::POST, &["v1", "items", id, "release"])
                .header("idempotency-key", key)
                .json(&ReleaseItem { to: to.to_owned() }),
        )
        .await
    }

    /// `GET /v1/transfers?…`: a page of the transfers the caller may see.
    pub async fn transfers(&self, filter: &TransferFilter) -> Result<TransferList, ClientError> {
        self.get_query(&["v1", "transfers"], filter.pairs()).await
    }

    /// `GET /v1/transfers/{id}`.
    pub async fn transfer(&self, id: &str) -> Result<TransferView, ClientError> {
        self.get(&["v1", "transfers", id]).await
    }

    /// `GET /v1/agreements`.
    pub async fn agreements(&self) -> Result<AgreementList, ClientError> {
        self.get(&["v1", "agreements"]).await
    }

    /// `GET /v1/agreements/{id}`.
    pub async fn agreement(&self, id: &str) -> Result<AgreementStatus, ClientError> {
        self.get(&["v1", "agreements", id]).await
    }

    /// `POST /v1/agreements/{id}/events`.
    pub async fn enter_event(
        &self,
        agreement: &str,
        event: &EnterEvent,
    ) -> Result<EnteredEvent, ClientError> {
        self.post(&["v1", "agreements", agreement, "events"], event)
            .await
    }

    /// `GET /v1/consents`, every page.
    pub async fn consents(&self) -> Result<ConsentList, ClientError> {
        let mut all = self.consents_page(&Page::default()).await?;
        while let Some(next) = all.next.take() {
            let more = self
                .consents_page(&Page {
                    limit: None,
                    next: Some(next),
                })
                .await?;
            all.consents.extend(more.consents);
            all.next = more.next;
        }
        Ok(all)
    }

    /// `GET /v1/consents?…`: one page.
    pub async fn consents_page(&self, page: &Page) -> Result<ConsentList, ClientError> {
        self.get_query(&["v1", "consents"], page.pairs()).await
    }

    async fn get_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        pairs: Vec<(&'static str, String)>,
    ) -> Result<T, ClientError> {
        let mut url = self.url(segments);
        url.query_pairs_mut().extend_pairs(pairs);
        self.call(self.request_to(Method::GET, url)).await
    }

    /// `POST /v1/consents`.
    pub async fn grant(&self, consent: &GrantConsent) -> Result<ConsentView, ClientError> {
        self.post(&["v1", "consents"], consent).await
    }

    /// `POST /v1/consents/{id}/revoke`.
    pub async fn revoke(&self, id: &str) -> Result<ConsentView, ClientError> {
        self.call(self.request(Method::POST, &["v1", "consents", id, "revoke"]))
            .await
    }

    /// `GET /v1/warnings`, every page.
    pub async fn warnings(&self) -> Result<WarningList, ClientError> {
        let mut all = self.warnings_page(&Page::default()).await?;
        while let Some(next) = all.next.take() {
            let more = self
                .warnings_page(&Page {
                    limit: None,
                    next: Some(next),
                })
                .await?;
            all.warnings.extend(more.warnings);
            all.next = more.next;
        }
        Ok(all)
    }

    /// `GET /v1/warnings?…`: one page (and what is owed to each partner).
    pub async fn warnings_page(&self, page: &Page) -> Result<WarningList, ClientError> {
        self.get_query(&["v1", "warnings"], page.pairs()).await
    }

    /// `POST /v1/warnings`.
    pub async fn launch(&self, launch: &Launch) -> Result<Published, ClientError> {
        self.post(&["v1", "warnings"], launch).await
    }

    /// `POST /v1/warnings/{id}/track`.
    pub async fn track(&self, id: &str, track: &Track) -> Result<Published, ClientError> {
        self.post(&["v1", "warnings", id, "track"], track).await
    }

    /// `POST /v1/warnings/{id}/impact`.
    pub async fn impact(&self, id: &str, impact: &Impact) -> Result<Published, ClientError> {
        self.post(&["v1", "warnings", id, "impact"], impact).await
    }

    /// `GET /v1/warnings/stream`: the live feed, warnings still in flight
    /// first. The stream ends when the node closes it; a
    /// [`WarningEvent::Cutoff`] is its last event.
    pub async fn subscribe(
        &self,
    ) -> Result<impl Stream<Item = Result<WarningEvent, ClientError>> + use<>, ClientError> {
        let (resp, base) = self.open_stream(&["v1", "warnings", "stream"]).await?;
        Ok(sse(resp, base, warning_event))
    }

    /// `GET /v1/incidents/stream`: incidents as this node receives or
    /// updates them, live (server-sent events), until the stream is dropped.
    pub async fn incident_stream(
        &self,
    ) -> Result<impl Stream<Item = Result<IncidentView, ClientError>> + use<>, ClientError> {
        let (resp, base) = self.open_stream(&["v1", "incidents", "stream"]).await?;
        Ok(sse(resp, base, incident_event))
    }

    /// Opens a server-sent event stream: its answer, once it is a success.
    async fn open_stream(
        &self,
        segments: &[&str],
    ) -> Result<(reqwest::Response, String), ClientError> {
        // No overall timeout: the feed lasts as long as the subscriber wants.
        let req = self
            .request(Method::GET, segments)
            .timeout(Duration::from_secs(u64::from(u32::MAX)));
        let base = self.base().to_owned();
        let resp = req
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: base.clone(),
                source,
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(error(status, &body));
        }
        Ok((resp, base))
    }
}

/// How an event stream's `(event, data)` becomes an item, and whether
/// the stream ends with it.
type ParseEvent<E> = fn(&str, &str) -> (Result<E, ClientError>, bool);

/// The events of a server-sent event stream, parsed as they arrive:
/// `parse(event, data)` gives each event, and whether the stream ends there.
fn sse<E: 'static>(
    resp: reqwest::Response,
    base: String,
    parse: ParseEvent<E>,
) -> impl Stream<Item = Result<E, ClientError>> {
    struct St<E> {
        resp: reqwest::Response,
        base: String,
        buf: String,
        event: String,
        ready: std::collections::VecDeque<Result<E, ClientError>>,
        done: bool,
        parse: ParseEvent<E>,
    }
    let st = St {
        resp,
        base,
        buf: String::new(),
        event: String::new(),
        ready: std::collections::VecDeque::new(),
        done: false,
        parse,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.ready.pop_front() {
                return Some((e, st));
            }
            if st.done {
                return None;
            }
            match st.resp.chunk().await {
                Ok(Some(chunk)) => st.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(None) => st.done = true,
                Err(source) => {
                    st.done = true;
                    st.ready.push_back(Err(ClientError::Unreachable {
                        url: st.base.clone(),
                        source,
                    }));
                }
            }
            while let Some(nl) = st.buf.find('\n') {
                let line: String = st.buf.drain(..=nl).collect();
                let line = line.trim_end();
                if let Some(e) = line.strip_prefix("event:") {
                    st.event = e.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    let (parsed, last) = (st.parse)(&st.event, d.trim());
                    st.done |= last;
                    st.ready.push_back(parsed);
                }
            }
        }
    })
}

fn warning_event(event: &str, data: &str) -> (Result<WarningEvent, ClientError>, bool) {
    if event == "cutoff" {
        return (Ok(WarningEvent::Cutoff(data.to_owned())), true);
    }
    (
        serde_json::from_str(data)
            .map(WarningEvent::Update)
            .map_err(|e| ClientError::Decode {
                status: 200,
                what: format!("warning event: {e}"),
            }),
        false,
    )
}

fn incident_event(event: &str, data: &str) -> (Result<IncidentView, ClientError>, bool) {
    if event == "cutoff" {
        return (
            Err(ClientError::Decode {
                status: 200,
                what: format!("cut off: {data}"),
            }),
            true,
        );
    }
    (
        serde_json::from_str(data).map_err(|e| ClientError::Decode {
            status: 200,
            what: format!("incident event: {e}"),
        }),
        false,
    )
}

/// A 2xx body as `T`, or the error the status and body say.
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ClientError> {
    if !status.is_success() {
        return Err(error(status, body));
    }
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        what: e.to_string(),
    })
}

/// The error an unsuccessful answer stands for.
fn error(status: StatusCode, body: &[u8]) -> ClientError {
    let body = serde_json::from_slice::<ErrorBody>(body).unwrap_or_else(|_| ErrorBody {
        error: String::from_utf8_lossy(body).chars().take(500).collect(),
        request_id: None,
    });
    ClientError::Status {
        status: status.as_u16(),
        body,
    }
}
