//! The officer's console: server-rendered pages on the user listener,
//! under the same decisions as the API. Sign-in with a person's token
//! gives a session cookie (HttpOnly, Secure, SameSite=Strict, 8 hours),
//! kept by the store so that every process of the node knows it and a
//! restart signs nobody out (only the id's hash is stored, under the
//! node's custody tag); every form carries a CSRF token checked against
//! the session (derived from it with the node's key) or, for sign-in,
//! against a cookie set with the form; templates are compiled
//! and escape everything; no script runs (a Content-Security-Policy with
//! no script source). Every page carries, top and bottom, the banner of
//! the highest marking on it in the party's own words and colours.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gsomia_core::{LevelRef, PartyRef, Registry};
use gsomia_store::Person;
use jiff::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::node::Node;

/// How long a session lasts.
pub const SESSION_SECS: i64 = 8 * 3600;
const SESSION_COOKIE: &str = "gsomia_session";
const SIGNIN_COOKIE: &str = "gsomia_signin";
const CSS: &str = include_str!("../../templates/console.css");
const JS: &str = include_str!("../../templates/console.js");

/// A signed-in person's session, as a request found it.
#[derive(Debug, Clone)]
struct Session {
    /// SHA-256 of the id the cookie carries (the store's key).
    id_hash: [u8; 32],
    /// The token that forms of this session carry.
    csrf: String,
}

type S = State<Arc<Node>>;

/// The console's routes.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/items", get(items_page))
        .route("/items/{id}", get(item_page))
        .route("/items/{id}/release", post(release))
        .route("/items/{id}/content", get(content_page))
        .route("/transfers", get(transfers_page))
        .route("/ledger", get(ledger_page))
        .route("/agreements/{id}", get(agreement_page))
        .route("/consents", get(consents_page).post(grant_consent))
        .route("/consents/{id}/revoke", post(revoke_consent))
        .route("/people", get(people_page))
        .route("/warnings", get(warnings_page))
        .route("/warnings/stream", get(warnings_stream))
        .route("/console.js", get(js))
        .route("/console.css", get(css))
        .route("/levels.css", get(levels_css))
        .route("/favicon.ico", get(favicon))
}

fn random_hex() -> Option<String> {
    crate::ids::entropy().ok().map(|b| crate::ids::hex(&b))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Equal in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Headers every console answer carries.
fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(b) => secured(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                b,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "console: a page did not render");
            secured((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

/// A plain shield, so a browser's request for an icon is answered.
const FAVICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><path d='M8 1 2 3v5c0 4 3 6 6 7 3-1 6-3 6-7V3z' fill='#0b3d91'/></svg>";

async fn favicon() -> Response {
    secured(([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON).into_response())
}

async fn js() -> Response {
    secured(
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            JS,
        )
            .into_response(),
    )
}

async fn css() -> Response {
    secured(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response())
}

/// The banner of a page.
struct Banner {
    text: String,
    /// The class carrying the level's colours (`/levels.css`).
    class: String,
    lang: &'static str,
}

/// The banner colours of this party's levels, from its policy profile, as
/// classes (inline styles are refused by the console's own policy).
async fn levels_css(State(node): S) -> Response {
    let reg = node.registry();
    let mut css = String::new();
    if let Some(p) = reg.policy(node.me()) {
        for (i, l) in p.levels().iter().enumerate() {
            let colour = l.colour.clone().unwrap_or_else(|| "#333333".into());
            css.push_str(&format!(
                ".lv-{i} {{ background: {colour}; color: {}; }}\n",
                text_on(&colour)
            ));
        }
    }
    css.push_str(".lv-none { background: #2e7d32; color: #ffffff; }\n");
    secured(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response())
}

/// The language of a party's words.
fn lang(party: &str) -> &'static str {
    match party {
        "JPN" => "ja",
        "KOR" => "ko",
        _ => "en",
    }
}

/// Black or white, whichever contrasts more with `colour` (WCAG).
fn text_on(colour: &str) -> &'static str {
    let c = |i: usize| {
        let v = colour
            .get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0.0, |v| f64::from(v) / 255.0);
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * c(1) + 0.7152 * c(3) + 0.0722 * c(5);
    // Contrast with white: 1.05 / (l + 0.05); with black: (l + 0.05) / 0.05.
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

/// The banner for the highest level on a page (a level of this party's
/// policy), or the policy's own term for nothing classified; `controls`
/// follow it after `//`.
fn banner(reg: &Registry, me: PartyRef, level: Option<LevelRef>, controls: &[String]) -> Banner {
    let policy = reg.policy(me);
    let found = match level {
        Some(l) => policy.and_then(|p| {
            let name = reg.level_name(l);
            p.levels()
                .iter()
                .enumerate()
                .find(|(_, x)| x.native == name)
        }),
        None => policy.and_then(|p| {
            p.levels()
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.classified)
                .min_by_key(|(_, l)| l.rank)
        }),
    };
    let (mut text, class) = match found {
        Some((i, l)) => (
            if l.classified {
                l.native.clone()
            } else {
                format!("{} — {}", l.native, l.english)
            },
            format!("lv-{i}"),
        ),
        None => ("UNCLASSIFIED".into(), "lv-none".into()),
    };
    for c in controls {
        text.push_str(" // ");
        text.push_str(c);
    }
    Banner {
        text,
        class,
        lang: lang(reg.party_id(me)),
    }
}

/// What every page shows around its content.
struct Page {
    title: String,
    party: String,
    lang: &'static str,
    banner: Banner,
    who: Option<String>,
    csrf: String,
}

/// The person signed in with the request's session, and the session.
/// A session that has ended, was not made by this node (its custody tag
/// fails: an integrity alarm) or whose person may no longer sign in is
/// forgotten; none of them signs anyone in.
async fn signed_in(node: &Node, headers: &HeaderMap) -> Option<(Person, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let id_hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let kept = match node.store().session(&id_hash).await {
        Ok(k) => k?,
        Err(e) => {
            tracing::warn!(error = %e, "console: a session cannot be read");
            return None;
        }
    };
    let forget = || async {
        if let Err(e) = node.store().session_end(&id_hash).await {
            tracing::warn!(error = %e, "console: a session cannot be forgotten");
        }
    };
    if let Err(b) = crate::custody::check_session(node.custody(), &kept) {
        node.alarm(&b).await;
        forget().await;
        return None;
    }
    if node.now().as_second() >= kept.expires_unix {
        forget().await;
        return None;
    }
    match crate::register::authenticate_hash(node, &kept.token_hash).await {
        Ok(p) => Some((
            p,
            Session {
                id_hash,
                csrf: crate::custody::session_csrf(node.custody(), &id_hash),
            },
        )),
        Err(_) => {
            // Revoked, altered or out of its visit: the session ends.
            forget().await;
            None
        }
    }
}

fn page(node: &Node, title: &str, who: Option<&Person>, csrf: &str, banner: Banner) -> Page {
    Page {
        title: title.to_owned(),
        party: node.party().to_owned(),
        lang: lang(node.party()),
        banner,
        who: who.map(|p| format!("{} ({}, {})", p.name, p.role.as_str(), p.clearance)),
        csrf: csrf.to_owned(),
    }
}

/// The person behind a form posted in a session, if the form carries the
/// session's CSRF token; otherwise the answer to give (sign in again, or
/// the refusal).
async fn posted(
    node: &Node,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Person, Session), Response> {
    let Some((p, s)) = signed_in(node, headers).await else {
        return Err(to_signin());
    };
    if !same(&s.csrf, csrf) {
        return Err(refused(
            node,
            Some(&p),
            &s.csrf,
            StatusCode::FORBIDDEN,
            "The form did not come from this session.",
        ));
    }
    Ok((p, s))
}

fn to_signin() -> Response {
    secured(Redirect::to("/signin").into_response())
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    page: Page,
    error: Option<String>,
}

async fn signin_page(State(node): S) -> Response {
    signin_form(&node, None, StatusCode::OK)
}

fn signin_form(node: &Node, error: Option<String>, status: StatusCode) -> Response {
    let Some(csrf) = random_hex() else {
        return secured(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let reg = node.registry();
    let p = page(
        node,
        "Sign in",
        None,
        &csrf,
        banner(&reg, node.me(), None, &[]),
    );
    let mut r = html(status, SigninPage { page: p, error }.render());
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SIGNIN_COOKIE}={csrf}; HttpOnly; Secure; SameSite=Strict; Path=/signin; Max-Age=600"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
    csrf: String,
}

async fn signin(State(node): S, headers: HeaderMap, Form(f): Form<SigninForm>) -> Response {
    if !cookie(&headers, SIGNIN_COOKIE).is_some_and(|c| same(c, &f.csrf)) {
        return refused(
            &node,
            None,
            "",
            StatusCode::FORBIDDEN,
            "The form has expired or did not come from this console; sign in again.",
        );
    }
    let hash: [u8; 32] = Sha256::digest(f.token.trim().as_bytes()).into();
    let person = match crate::register::authenticate_hash(&node, &hash).await {
        Ok(p) => p,
        Err(e) => {
            return signin_form(
                &node,
                Some(format!("Not signed in: {e}.")),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let Some(id) = random_hex() else {
        return secured(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let now = node.now().as_second();
    let mut kept = gsomia_store::ConsoleSession {
        id_hash: Sha256::digest(id.as_bytes()).into(),
        token_hash: hash,
        expires_unix: now.saturating_add(SESSION_SECS),
        custody: Vec::new(),
    };
    crate::custody::tag_session(node.custody(), &mut kept);
    if let Err(e) = node.store().session_begin(&kept, now).await {
        tracing::warn!(error = %e, "console: a session cannot be kept");
        return signin_form(
            &node,
            Some(format!("Not signed in: the session cannot be kept ({e}).")),
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    tracing::info!(person = %person.id, "console: signed in");
    let mut r = secured(Redirect::to("/").into_response());
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn signout(State(node): S, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let (_, session) = match posted(&node, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = node.store().session_end(&session.id_hash).await {
        // Not signed out anywhere until it is forgotten: say so.
        tracing::warn!(error = %e, "console: a session cannot be forgotten");
        return secured(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Not signed out: the session cannot be forgotten now; try again.",
            )
                .into_response(),
        );
    }
    let mut r = secured(Redirect::to("/signin").into_response());
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "gsomia_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    r
}

#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    page: Page,
    heading: String,
    message: String,
}

fn refused(
    node: &Node,
    who: Option<&Person>,
    csrf: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    let reg = node.registry();
    html(
        status,
        RefusedPage {
            page: page(
                node,
                "Refused",
                who,
                csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            heading: "Refused".into(),
            message: message.to_owned(),
        }
        .render(),
    )
}

struct AgreementRow {
    id: String,
    title: String,
    parties: String,
    state: String,
    in_force: bool,
    next: String,
    deadline: String,
    days_left: Option<i64>,
    reasons: Vec<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    at: String,
    agreements: Vec<AgreementRow>,
}

async fn dashboard(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let reg = node.registry();
    let now = node.now();
    let zone = node.zone();
    let mut agreements = Vec::new();
    for a in reg.agreement_refs() {
        let Some(ag) = reg.agreement(a) else { continue };
        if !ag.has_party(node.me()) {
            continue;
        }
        let Ok(st) = reg.status(a, now) else { continue };
        let when = |t: Timestamp| gsomia_core::time::format_in(t, &zone);
        let (next, boundary) = match st.next {
            Some(gsomia_core::explain::Next::Renewal(t)) => {
                (format!("renews at {}", when(t)), Some(t))
            }
            Some(gsomia_core::explain::Next::Termination(t)) => {
                (format!("ends at {}", when(t)), None)
            }
            Some(gsomia_core::explain::Next::EntryIntoForce(t)) => {
                (format!("enters into force at {}", when(t)), None)
            }
            None => ("—".into(), None),
        };
        let (deadline, days_left) = match boundary.and_then(|b| ag.schedule().deadline_end(b).ok())
        {
            Some((day, end)) => (
                format!("notice by {day} (for the renewal above)"),
                Some((end.as_second() - now.as_second()).div_euclid(86_400)),
            ),
            None => ("—".into(), None),
        };
        let shown = crate::agreements::show(&node, reg.agreement_id(a)).ok();
        agreements.push(AgreementRow {
            id: reg.agreement_id(a).to_owned(),
            title: ag.title().to_owned(),
            parties: ag
                .parties()
                .iter()
                .map(|p| reg.party_id(*p))
                .collect::<Vec<_>>()
                .join(", "),
            state: st.state.as_str().to_owned(),
            in_force: st.in_force,
            next,
            deadline,
            days_left,
            reasons: shown.map(|s| s.reasons).unwrap_or_default(),
        });
    }
    html(
        StatusCode::OK,
        DashboardPage {
            page: page(
                &node,
                "Agreements",
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            at: gsomia_core::time::format_in(now, &zone),
            agreements,
        }
        .render(),
    )
}

struct ItemRow {
    id: String,
    originator: String,
    origin_level: String,
    origin_lang: &'static str,
    equivalent: String,
    here_level: String,
    here_lang: &'static str,
    from: String,
}

#[derive(Template)]
#[template(path = "items.html")]
struct ItemsPage {
    page: Page,
    items: Vec<ItemRow>,
    /// The next page's address (the filters kept), if there is one.
    next: Option<String>,
    /// The filters as asked (shown back in the form).
    filter: ItemsQuery,
    /// The levels of the party's policy, highest first (the level filter).
    levels: Vec<String>,
    /// This party and its partners (the originator filter).
    parties: Vec<String>,
    /// Items shown (this page).
    shown: usize,
}

/// The items page's query: a cursor and the filters of `GET /v1/items`
/// (`since` may be a date, meaning its start in the node's zone). Empty
/// fields (a form's untouched inputs) are no filter.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct ItemsQuery {
    /// Items a page (1 to 500; 50 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    originator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
}

impl ItemsQuery {
    /// Empty fields dropped, the rest trimmed.
    fn tidy(self) -> ItemsQuery {
        ItemsQuery {
            limit: self.limit,
            next: field(self.next),
            topic: field(self.topic),
            level: field(self.level),
            originator: field(self.originator),
            since: field(self.since),
        }
    }

    /// A form field's value (empty when unset).
    fn value(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
}

/// A filter form's field: trimmed, and none when left empty.
fn field(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// An address with a query, its values form-encoded (what a browser sends).
fn with_query(path: &str, q: &impl serde::Serialize) -> String {
    match serde_urlencoded::to_string(q) {
        Ok(qs) if !qs.is_empty() => format!("{path}?{qs}"),
        _ => path.to_owned(),
    }
}

/// The level of a label here (our policy's), from its view.
fn level_here(reg: &Registry, me: PartyRef, name: &str) -> Option<LevelRef> {
    reg.level(me, name).ok()
}

/// The levels of this party's policy, highest first.
fn own_levels(node: &Node) -> Vec<String> {
    let reg = node.registry();
    let mut levels: Vec<(u16, String)> = reg
        .policy(node.me())
        .map(|p| {
            p.levels()
                .iter()
                .map(|l| (l.rank, l.native.clone()))
                .collect()
        })
        .unwrap_or_default();
    levels.sort_by_key(|l| std::cmp::Reverse(l.0));
    levels.into_iter().map(|(_, n)| n).collect()
}

async fn items_page(State(node): S, headers: HeaderMap, Query(q): Query<ItemsQuery>) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let q = q.tidy();
    let since = match &q.since {
        None => None,
        Some(t) => {
            match gsomia_core::time::parse_instant_or_date(t).and_then(|v| v.start(&node.zone())) {
                Ok(at) => Some(gsomia_core::time::format_in(at, &node.zone())),
                Err(e) => {
                    return refused(
                        &node,
                        Some(&p),
                        &s.csrf,
                        StatusCode::BAD_REQUEST,
                        &format!("`since`: {e}"),
                    );
                }
            }
        }
    };
    let filter = gsomia_api::ItemFilter {
        limit: Some(q.limit.unwrap_or(50)),
        next: q.next.clone(),
        topic: q.topic.clone(),
        level: q.level.clone(),
        originator: q.originator.clone(),
        since,
    };
    let list = match crate::items::list(&node, &p, &filter).await {
        Ok(l) => l,
        Err(e) => {
            return refused(
                &node,
                Some(&p),
                &s.csrf,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
            );
        }
    };
    let reg = node.registry();
    let me = node.me();
    let mut highest: Option<LevelRef> = None;
    let items: Vec<ItemRow> = list
        .items
        .iter()
        .map(|i| {
            let here = i.equivalent_label.as_ref().unwrap_or(&i.label);
            if let Some(l) = level_here(&reg, me, &here.level)
                && highest.is_none_or(|h| reg.rank(l) > reg.rank(h))
            {
                highest = Some(l);
            }
            ItemRow {
                id: i.id.clone(),
                originator: i.label.originator.clone(),
                origin_level: i.label.level.clone(),
                origin_lang: lang(&i.label.originator),
                equivalent: i
                    .equivalent_label
                    .as_ref()
                    .map_or_else(|| "(our own)".to_owned(), |e| e.level.clone()),
                here_level: here.level.clone(),
                here_lang: lang(node.party()),
                from: i.received_from.clone().unwrap_or_else(|| "—".into()),
            }
        })
        .collect();
    let next = list.next.map(|n| {
        with_query(
            "/items",
            &ItemsQuery {
                limit: q.limit,
                next: Some(n),
                topic: q.topic.clone(),
                level: q.level.clone(),
                originator: q.originator.clone(),
                since: q.since.clone(),
            },
        )
    });
    let mut parties = vec![node.party().to_owned()];
    parties.extend(node.partners().iter().map(|x| x.party.clone()));
    html(
        StatusCode::OK,
        ItemsPage {
            page: page(
                &node,
                "Items",
                Some(&p),
                &s.csrf,
                banner(&reg, me, highest, &[]),
            ),
            shown: items.len(),
            items,
            next,
            filter: q,
            levels: own_levels(&node),
            parties,
        }
        .render(),
    )
}

struct TransferRowView {
    transfer: String,
    kind: String,
    item: String,
    recipient: String,
    state: String,
    queued_at: String,
    age: String,
    outcome: String,
    released_by: String,
}

#[derive(Template)]
#[template(path = "transfers.html")]
struct TransfersPage {
    page: Page,
    transfers: Vec<TransferRowView>,
    next: Option<String>,
    filter: TransfersQuery,
    parties: Vec<String>,
    states: [&'static str; 4],
}

/// The outbox page's query: a cursor and the filters of `GET /v1/transfers`.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct TransfersQuery {
    /// Transfers a page (1 to 500; 50 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    item: Option<String>,
}

/// A span of seconds as a person reads it (`2 d 3 h`, `4 min`, `12 s`).
fn age_text(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

async fn transfers_page(
    State(node): S,
    headers: HeaderMap,
    Query(q): Query<TransfersQuery>,
) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let q = TransfersQuery {
        limit: q.limit,
        next: field(q.next),
        state: field(q.state),
        recipient: field(q.recipient),
        item: field(q.item),
    };
    let filter = gsomia_api::TransferFilter {
        limit: Some(q.limit.unwrap_or(50)),
        next: q.next.clone(),
        state: q.state.clone(),
        recipient: q.recipient.clone(),
        item: q.item.clone(),
    };
    let list = match crate::transfers::list(&node, &p, &filter).await {
        Ok(l) => l,
        Err(e) => {
            return refused(
                &node,
                Some(&p),
                &s.csrf,
                StatusCode::BAD_REQUEST,
                &e.to_string(),
            );
        }
    };
    let transfers = list
        .transfers
        .into_iter()
        .map(|v| {
            let outcome = match v.state {
                gsomia_api::TransferState::Delivered => format!(
                    "receipt at {}{}",
                    v.delivered_at.clone().unwrap_or_default(),
                    v.receipt_checkpoint
                        .as_deref()
                        .and_then(|c| c.lines().nth(1))
                        .map(|size| format!(" (their ledger at {size} records)"))
                        .unwrap_or_default()
                ),
                gsomia_api::TransferState::Refused => {
                    format!("refused: {}", v.reasons.clone().unwrap_or_default())
                }
                _ => match (&v.last_error, &v.next_attempt_at) {
                    (Some(e), Some(n)) => {
                        format!("attempt {} failed ({e}); next at {n}", v.attempts)
                    }
                    _ => "waiting for its first attempt".to_owned(),
                },
            };
            TransferRowView {
                transfer: v.transfer,
                kind: v.kind,
                item: v.item,
                recipient: v.recipient,
                state: v.state.as_str().to_owned(),
                queued_at: v.queued_at,
                age: age_text(v.age_seconds),
                outcome,
                released_by: v.released_by.unwrap_or_default(),
            }
        })
        .collect();
    let next = list.next.map(|n| {
        with_query(
            "/transfers",
            &TransfersQuery {
                limit: q.limit,
                next: Some(n),
                state: q.state.clone(),
                recipient: q.recipient.clone(),
                item: q.item.clone(),
            },
        )
    });
    let reg = node.registry();
    html(
        StatusCode::OK,
        TransfersPage {
            page: page(
                &node,
                "Outbox",
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            transfers,
            next,
            filter: q,
            parties: node.partners().iter().map(|x| x.party.clone()).collect(),
            states: ["queued", "sending", "delivered", "refused"],
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    page: Page,
    id: String,
    originator: String,
    origin_level: String,
    origin_lang: &'static str,
    topics: String,
    rel_to: String,
    created: String,
    equivalent: String,
    here_lang: &'static str,
    origin_note: String,
    history: Vec<(u64, String, String, String)>,
    /// Partners the person may release to (none for auditors and visitors).
    partners: Vec<String>,
    /// What a release to each would be decided now.
    previews: Vec<Preview>,
}

/// A release's decision shown before it is asked for.
struct Preview {
    to: String,
    release: bool,
    reasons: String,
}

/// An item this person may not be shown (or that is not here): 404 when
/// not found, else 409, saying no more than the API would.
fn item_refused(
    node: &Node,
    p: &Person,
    csrf: &str,
    id: &str,
    e: &crate::items::ItemError,
) -> Response {
    let status = if matches!(e, crate::items::ItemError::NotFound) {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::CONFLICT
    };
    refused(
        node,
        Some(p),
        csrf,
        status,
        &format!("{id}: {e} (or not readable by you)"),
    )
}

/// An item's banner: our level, the originator's marking when it is not
/// ours, and its REL TO.
fn item_banner(node: &Node, v: &gsomia_api::ItemView) -> Banner {
    let reg = node.registry();
    let me = node.me();
    let here = v.equivalent_label.as_ref().unwrap_or(&v.label);
    let mut controls = Vec::new();
    if v.originator != node.party() {
        controls.push(format!("{} {}", v.label.originator, v.label.level));
    }
    if let Some(r) = &v.label.rel_to {
        controls.push(format!("REL TO {}", r.join(", ")));
    }
    banner(&reg, me, level_here(&reg, me, &here.level), &controls)
}

#[derive(Template)]
#[template(path = "content.html")]
struct ContentPage {
    page: Page,
    id: String,
    /// The content as text, when it is UTF-8.
    text: Option<String>,
    bytes: usize,
    /// The originator's language (the content is theirs).
    origin_lang: &'static str,
}

#[derive(Deserialize)]
struct ContentQuery {
    /// `1`: the bytes themselves, as a download.
    download: Option<u8>,
}

/// An item's content, opened only under the access decision (ledgered as
/// a read of the content, as the API's is); shown as text under the
/// item's banner, or offered as a download.
async fn content_page(
    State(node): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let opened = match crate::items::show(&node, &p, &id).await {
        Ok(v) => crate::items::read(&node, &p, &id).await.map(|c| (v, c)),
        Err(e) => Err(e),
    };
    let (v, content) = match opened {
        Ok(x) => x,
        Err(e) => return item_refused(&node, &p, &s.csrf, &id, &e),
    };
    if q.download == Some(1) {
        let mut r = (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.bin\"", v.id),
                ),
            ],
            content,
        )
            .into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return secured(r);
    }
    let bytes = content.len();
    html(
        StatusCode::OK,
        ContentPage {
            page: page(&node, &id, Some(&p), &s.csrf, item_banner(&node, &v)),
            id: v.id.clone(),
            text: String::from_utf8(content).ok(),
            bytes,
            origin_lang: lang(&v.originator),
        }
        .render(),
    )
}

async fn item_page(State(node): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let v = match crate::items::show(&node, &p, &id).await {
        Ok(v) => v,
        Err(e) => return item_refused(&node, &p, &s.csrf, &id, &e),
    };
    let history = crate::items::history::history(&node, &p, &id, &gsomia_api::Page::default())
        .await
        .map(|h| {
            h.entries
                .into_iter()
                .map(|e| {
                    let fields = e
                        .fields
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    (e.index, e.at, e.kind, fields)
                })
                .collect()
        })
        .unwrap_or_default();
    let b = item_banner(&node, &v);
    let partners: Vec<String> = if p.role == gsomia_store::Role::Auditor || p.visit.is_some() {
        Vec::new()
    } else {
        node.partners().iter().map(|x| x.party.clone()).collect()
    };
    // What a release to each partner would be decided now (nothing ledgered
    // or sent: the release itself decides again, and ledgers it).
    let mut previews = Vec::new();
    if !partners.is_empty()
        && let Ok(Some(item)) = node.store().item(&v.id).await
    {
        for to in &partners {
            let (release, reasons) = match crate::items::release::preview(&node, &item, to).await {
                Ok(r) => r,
                Err(e) => (false, vec![e.to_string()]),
            };
            previews.push(Preview {
                to: to.clone(),
                release,
                reasons: reasons.join("; "),
            });
        }
    }
    html(
        StatusCode::OK,
        ItemPage {
            page: page(&node, &id, Some(&p), &s.csrf, b),
            id: v.id.clone(),
            originator: v.label.originator.clone(),
            origin_level: v.label.level.clone(),
            origin_lang: lang(&v.label.originator),
            topics: v.label.topics.join(", "),
            rel_to: v
                .label
                .rel_to
                .as_ref()
                .map_or_else(|| "unmarked".to_owned(), |r| r.join(", ")),
            created: v.label.created_at.clone(),
            equivalent: v
                .equivalent_label
                .as_ref()
                .map_or_else(|| "(our own item)".to_owned(), |e| e.level.clone()),
            here_lang: lang(node.party()),
            origin_note: if v.originator == node.party() {
                String::new()
            } else {
                format!(
                    "Contains classified military information of {} (Art 4).",
                    v.originator
                )
            },
            history,
            partners,
            previews,
        }
        .render(),
    )
}

#[derive(Deserialize)]
struct ReleaseForm {
    csrf: String,
    to: String,
}

#[derive(Template)]
#[template(path = "released.html")]
struct ReleasedPage {
    page: Page,
    id: String,
    to: String,
    released: bool,
    decision: String,
    reasons: Vec<String>,
    transfer: Option<String>,
}

/// A release from the item's page: decided and ledgered as through the
/// API; the decision and its reasons shown.
async fn release(
    State(node): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ReleaseForm>,
) -> Response {
    let (p, s) = match posted(&node, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reg = node.registry();
    let b = banner(&reg, node.me(), None, &[]);
    let (released, decision, reasons, transfer) =
        match crate::items::release::release_by(&node, &p, &id, &f.to, None).await {
            Ok(gsomia_api::ReleaseOutcome::Release(r)) => (
                true,
                format!("RELEASED to {} under {}", f.to, r.agreement),
                r.reasons,
                Some(r.transfer),
            ),
            Ok(gsomia_api::ReleaseOutcome::Withhold(w)) => {
                (false, "WITHHELD".to_owned(), w.reasons, None)
            }
            Err(e) => (false, "REFUSED".to_owned(), vec![e.to_string()], None),
        };
    html(
        StatusCode::OK,
        ReleasedPage {
            page: page(&node, "Release", Some(&p), &s.csrf, b),
            id,
            to: f.to,
            released,
            decision,
            reasons,
            transfer,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    page: Page,
    size: u64,
    checkpoint: String,
    /// (partner, size cosigned, records behind, when kept).
    cosigners: Vec<(String, u64, u64, String)>,
    alarms: Vec<String>,
}

async fn ledger_page(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let size = node.store().ledger_size().await.unwrap_or(0);
    let checkpoint = match node.checkpoints().last_stored() {
        Some((n, ago)) => format!("size {n}, {} s ago", ago.as_secs()),
        None => "none yet".into(),
    };
    let now = node.now();
    let mut cosigners: Vec<(String, u64, u64, String)> = Vec::new();
    for (n, who, _, at) in node.store().cosignatures().await.unwrap_or_default() {
        if !cosigners.iter().any(|c| c.0 == who) {
            // Its age, as a person reads it, beside the instant kept.
            let kept = match at.parse::<Timestamp>() {
                Ok(t) => format!("{at} ({} ago)", age_text(now.duration_since(t).as_secs())),
                Err(_) => at,
            };
            cosigners.push((who, n, size.saturating_sub(n), kept));
        }
    }
    let (_, recent) = node.alarms().state();
    let alarms = recent
        .into_iter()
        .map(|(at, b)| format!("{at}: {} ({}): {}", b.subject, b.check.as_str(), b.detail))
        .collect();
    let reg = node.registry();
    html(
        StatusCode::OK,
        LedgerPage {
            page: page(
                &node,
                "Ledger",
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            size,
            checkpoint,
            cosigners,
            alarms,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    page: Page,
    /// This party's classified levels, highest first: (name, banner class).
    levels: Vec<(String, String)>,
    updates: Vec<gsomia_api::WarningUpdate>,
}

/// Flights in progress, plotted and updated live (the script draws what
/// the feed brings; the page itself lists what is known now).
async fn warnings_page(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let list = crate::warnings::list(&node, &p, &gsomia_api::Page::default())
        .await
        .ok();
    let reg = node.registry();
    let mut highest: Option<LevelRef> = None;
    let mut updates = Vec::new();
    for f in list.map(|l| l.warnings).unwrap_or_default() {
        for u in f.updates {
            if let Some(l) = level_here(&reg, node.me(), &u.level)
                && highest.is_none_or(|h| reg.rank(l) > reg.rank(h))
            {
                highest = Some(l);
            }
            updates.push(u);
        }
    }
    let mut levels: Vec<(u16, String, String)> = reg
        .policy(node.me())
        .map(|pol| {
            pol.levels()
                .iter()
                .enumerate()
                .filter(|(_, l)| l.classified)
                .map(|(i, l)| (l.rank, l.native.clone(), format!("lv-{i}")))
                .collect()
        })
        .unwrap_or_default();
    levels.sort_by_key(|l| std::cmp::Reverse(l.0));
    html(
        StatusCode::OK,
        WarningsPage {
            page: page(
                &node,
                "Warnings",
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), highest, &[]),
            ),
            levels: levels.into_iter().map(|(_, n, c)| (n, c)).collect(),
            updates,
        }
        .render(),
    )
}

/// The live feed for the console's page, under the session.
async fn warnings_stream(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, _)) = signed_in(&node, &headers).await else {
        return secured(StatusCode::UNAUTHORIZED.into_response());
    };
    secured(super::user::warning_events(node, p))
}

/// A tick of the timeline and its label, placed by [`super::timeline`]
/// (numbers as SVG text).
struct Tick {
    x: String,
    /// The tick's ends (longer for events than for "now").
    y1: String,
    y2: String,
    /// The leader line: from the tick's end (y) to beside the label.
    lead_from: String,
    lead_x: String,
    lead_y: String,
    /// The label's left edge and baseline.
    left: String,
    ty: String,
    label: String,
    class: &'static str,
}

struct EntryRow {
    at: String,
    kind: String,
    text: String,
    cites: String,
    /// The recorded event's number (1-based), for a what-if without it.
    event: Option<usize>,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    page: Page,
    id: String,
    title: String,
    whatif: Option<String>,
    state: String,
    in_force: bool,
    at: String,
    next: Option<String>,
    ticks: Vec<Tick>,
    /// The timeline's axis (y) and height, in SVG units.
    axis: String,
    height: String,
    entries: Vec<EntryRow>,
}

#[derive(Deserialize)]
struct Whatif {
    without: Option<usize>,
}

fn kind_class(kind: &str) -> &'static str {
    match kind {
        "notice" => "notice",
        "termination" | "terminated" => "ends",
        "suspend_notice" | "withdraw_notice" | "lift_suspension" => "eases",
        "amendment" => "amends",
        _ => "plain",
    }
}

/// One agreement: its state now, its timeline drawn and listed with the
/// rule each change cites, and a what-if without any one recorded event.
async fn agreement_page(
    State(node): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Whatif>,
) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    let reg = node.registry();
    let Some(a) = reg
        .agreement_ref(&id)
        .ok()
        .filter(|a| reg.agreement(*a).is_some_and(|x| x.has_party(node.me())))
    else {
        return refused(
            &node,
            Some(&p),
            &s.csrf,
            StatusCode::NOT_FOUND,
            &format!("no agreement `{id}` of this party"),
        );
    };
    let (view, whatif) = match q.without {
        Some(n) if n >= 1 => match reg.without_event(a, n - 1) {
            Ok(r) => (
                std::sync::Arc::new(r),
                Some(format!("event #{n} had not happened")),
            ),
            Err(e) => {
                return refused(
                    &node,
                    Some(&p),
                    &s.csrf,
                    StatusCode::CONFLICT,
                    &e.to_string(),
                );
            }
        },
        _ => (reg.clone(), None),
    };
    let now = node.now();
    let zone = node.zone();
    let when = |t: Timestamp| gsomia_core::time::format_in(t, &zone);
    let Ok(st) = view.status(a, now) else {
        return refused(
            &node,
            Some(&p),
            &s.csrf,
            StatusCode::CONFLICT,
            "the agreement's status could not be computed",
        );
    };
    let next = st.next.map(|n| match n {
        gsomia_core::explain::Next::Renewal(t) => format!("renews at {}", when(t)),
        gsomia_core::explain::Next::Termination(t) => format!("ends at {}", when(t)),
        gsomia_core::explain::Next::EntryIntoForce(t) => {
            format!("enters into force at {}", when(t))
        }
    });
    let until = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 800))
        .unwrap_or(now);
    let timeline = view.timeline(a, until).unwrap_or_default();
    let (first, last) = (
        timeline.first().map_or(now, |e| e.at),
        timeline.last().map_or(now, |e| e.at).max(now),
    );
    let x =
        |t: Timestamp| super::timeline::x_of(t.as_second(), first.as_second(), last.as_second());
    // Renewals are in the table; the picture shows what changed.
    let mut marks: Vec<(f64, String, &'static str)> = timeline
        .iter()
        .filter(|e| e.kind != "renewal")
        .map(|e| {
            (
                x(e.at),
                format!("{} {}", e.kind, gsomia_core::time::date_in(e.at, &zone)),
                kind_class(&e.kind),
            )
        })
        .collect();
    marks.push((x(now), "now".into(), "now"));
    let layout = super::timeline::lay_out(
        &marks
            .iter()
            .map(|(x, l, _)| (*x, l.as_str()))
            .collect::<Vec<_>>(),
    );
    let axis = layout.axis;
    let n = |v: f64| format!("{v:.1}");
    let ticks: Vec<Tick> = marks
        .into_iter()
        .zip(layout.labels)
        .map(|((x, label, class), p)| {
            let reach = if class == "now" { 6.0 } else { 12.0 };
            let above = p.y < axis;
            Tick {
                x: n(x),
                y1: n(axis - reach),
                y2: n(axis + reach),
                lead_from: n(if above { axis - reach } else { axis + reach }),
                lead_x: n(x.clamp(p.left + 2.0, p.left + p.width - 2.0)),
                lead_y: n(p.lead),
                left: n(p.left),
                ty: n(p.y),
                label,
                class,
            }
        })
        .collect();
    let entries = timeline
        .iter()
        .map(|e| EntryRow {
            at: when(e.at),
            kind: e.kind.clone(),
            text: e.text.clone(),
            cites: e
                .cites
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            event: e.event.map(|i| i + 1),
            class: kind_class(&e.kind),
        })
        .collect();
    html(
        StatusCode::OK,
        AgreementPage {
            page: page(
                &node,
                &id,
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            title: reg
                .agreement(a)
                .map(|x| x.title().to_owned())
                .unwrap_or_default(),
            id,
            whatif,
            state: st.state.as_str().to_owned(),
            in_force: st.in_force,
            at: when(Timestamp::from_second(now.as_second()).unwrap_or(now)),
            next,
            ticks,
            axis: n(axis),
            height: n(layout.height),
            entries,
        }
        .render(),
    )
}

struct ConsentRow {
    id: String,
    originator: String,
    holder: String,
    recipient: String,
    scope: String,
    expires_at: String,
    revoked_at: Option<String>,
    ours: bool,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    page: Page,
    consents: Vec<ConsentRow>,
    officer: bool,
    parties: Vec<String>,
    message: Option<String>,
    ok: bool,
}

async fn consents_view(
    node: &Node,
    p: &Person,
    csrf: &str,
    message: Option<(bool, String)>,
) -> Response {
    let list = match crate::consents::list(
        node,
        &gsomia_api::Page {
            limit: Some(500),
            next: None,
        },
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return refused(node, Some(p), csrf, StatusCode::CONFLICT, &e.to_string()),
    };
    let reg = node.registry();
    let consents = list
        .consents
        .into_iter()
        .map(|c| ConsentRow {
            ours: c.originator == node.party(),
            scope: match (&c.item, &c.topics) {
                (Some(i), _) => format!("item {i}"),
                (None, Some(t)) => format!("topics {}", t.join(", ")),
                _ => String::new(),
            },
            id: c.id,
            originator: c.originator,
            holder: c.holder,
            recipient: c.recipient,
            expires_at: c.expires_at,
            revoked_at: c.revoked_at,
        })
        .collect();
    let (ok, message) = match message {
        Some((ok, m)) => (ok, Some(m)),
        None => (true, None),
    };
    html(
        StatusCode::OK,
        ConsentsPage {
            page: page(
                node,
                "Consents",
                Some(p),
                csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            consents,
            officer: p.role == gsomia_store::Role::SecurityOfficer,
            parties: node.partners().iter().map(|x| x.party.clone()).collect(),
            message,
            ok,
        }
        .render(),
    )
}

async fn consents_page(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    if p.role == gsomia_store::Role::Officer {
        return refused(
            &node,
            Some(&p),
            &s.csrf,
            StatusCode::FORBIDDEN,
            "Consents are for security officers and auditors.",
        );
    }
    consents_view(&node, &p, &s.csrf, None).await
}

#[derive(Deserialize)]
struct GrantForm {
    csrf: String,
    holder: String,
    recipient: String,
    topic: String,
    expires: String,
}

async fn grant_consent(State(node): S, headers: HeaderMap, Form(f): Form<GrantForm>) -> Response {
    let (p, s) = match posted(&node, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let req = gsomia_api::GrantConsent {
        holder: f.holder,
        recipient: f.recipient,
        item: None,
        topics: Some(vec![f.topic.trim().to_owned()]),
        expires_at: f.expires.trim().to_owned(),
    };
    let outcome = match crate::consents::grant(&node, &p, &req).await {
        Ok(c) => (
            true,
            format!("Consent {} given, signed and sent to {}.", c.id, c.holder),
        ),
        Err(e) => (false, format!("Not given: {e}")),
    };
    consents_view(&node, &p, &s.csrf, Some(outcome)).await
}

async fn revoke_consent(
    State(node): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (p, s) = match posted(&node, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = match crate::consents::revoke(&node, &p, &id).await {
        Ok(c) => (
            true,
            format!("Consent {} revoked; {} is told.", c.id, c.holder),
        ),
        Err(e) => (false, format!("Not revoked: {e}")),
    };
    consents_view(&node, &p, &s.csrf, Some(outcome)).await
}

struct PersonRow {
    id: String,
    name: String,
    role: String,
    clearance: String,
    until: String,
    days_left: String,
    ntk: String,
    notes: String,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    page: Page,
    people: Vec<PersonRow>,
}

/// The register (security officers and auditors): clearances and how long
/// each still holds.
async fn people_page(State(node): S, headers: HeaderMap) -> Response {
    let Some((p, s)) = signed_in(&node, &headers).await else {
        return to_signin();
    };
    if p.role == gsomia_store::Role::Officer || p.visit.is_some() {
        return refused(
            &node,
            Some(&p),
            &s.csrf,
            StatusCode::FORBIDDEN,
            "The register is for security officers and auditors.",
        );
    }
    let now = node.now();
    let people = node
        .store()
        .people()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|x| {
            let left = gsomia_core::time::parse_instant(&x.clearance_until)
                .map(|u| (u.as_second() - now.as_second()).div_euclid(86_400))
                .map_or_else(|_| "?".to_owned(), |d| d.to_string());
            let mut notes = Vec::new();
            if let Some(r) = &x.revoked_at {
                notes.push(format!("revoked {r}"));
            }
            if let Some(f) = &x.facility {
                notes.push(format!("contractor of {f}"));
            }
            if let Some(v) = &x.visit {
                notes.push(format!("visitor ({v})"));
            }
            if crate::custody::check_person(node.custody(), &x).is_err() {
                notes.push("REGISTER ENTRY FAILS ITS CHECK".into());
            }
            PersonRow {
                id: x.id,
                name: x.name,
                role: x.role.as_str().to_owned(),
                clearance: x.clearance,
                until: x.clearance_until,
                days_left: left,
                ntk: x.need_to_know.join(", "),
                notes: notes.join("; "),
            }
        })
        .collect();
    let reg = node.registry();
    html(
        StatusCode::OK,
        PeoplePage {
            page: page(
                &node,
                "People",
                Some(&p),
                &s.csrf,
                banner(&reg, node.me(), None, &[]),
            ),
            people,
        }
        .render(),
    )
}
