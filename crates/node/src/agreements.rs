//! Agreement events and consents: entered by a security officer through the
//! user API, signed by the party, kept and ledgered, and sent to the
//! partners concerned through the outbox; received from partners over the
//! peer endpoint, verified, decided again against this node's own view, kept
//! and ledgered exactly once, and acknowledged with a signed receipt.
//!
//! Both sides of an agreement replay the same signed events, so both
//! compute the same status. A hub relays an item only with a consent the
//! originator signed; the consent travels with the item so the recipient
//! can decide again with it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gsomia_core::agreement::{Event, EventKind};
use gsomia_core::{AgreementRef, Consent, ConsentScope, ItemId, Registry, TopicSet};
use gsomia_ledger::entry::Kind;
use gsomia_seal::message::{AgreementEvent, ConsentGrant, ConsentRevocation, Scope};
use gsomia_store::{Batch, Message, MessageKind, Outgoing, Role, Store, StoreError};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Node;
use crate::api::{ApiError, authenticate};
use crate::peer::{MAX_SKEW, PeerParty};

fn instant(t: Timestamp) -> (i64, u32) {
    (
        t.as_second(),
        u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
    )
}

fn timestamp(i: (i64, u32)) -> Result<Timestamp, String> {
    Timestamp::new(i.0, i32::try_from(i.1).unwrap_or(-1))
        .map_err(|_| format!("instant {}.{:09} is out of range", i.0, i.1))
}

/// The core event (and its agreement) a signed event message describes.
pub fn core_event(reg: &Registry, ev: &AgreementEvent) -> Result<(AgreementRef, Event), String> {
    let a = reg
        .agreement_ref(&ev.agreement)
        .map_err(|e| e.to_string())?;
    let kind = EventKind::parse(&ev.kind).ok_or_else(|| {
        format!(
            "unknown event kind `{}` (notice, suspend_notice, lift_suspension, withdraw_notice, announcement)",
            ev.kind
        )
    })?;
    let by = reg.party(&ev.by).map_err(|e| e.to_string())?;
    Ok((
        a,
        Event {
            at: timestamp(ev.at)?,
            kind,
            by: Some(by),
            written_diplomatic: ev.written_diplomatic,
            summary: ev.summary.clone(),
            version: None,
        },
    ))
}

/// Whether the profiles already hold this event (same instant, kind and actor).
pub fn already_recorded(reg: &Registry, a: AgreementRef, ev: &Event) -> bool {
    reg.agreement(a).is_some_and(|x| {
        x.events()
            .iter()
            .any(|e| e.at == ev.at && e.kind == ev.kind && e.by == ev.by)
    })
}

/// The core consent a signed consent message describes.
pub fn core_consent(
    reg: &Registry,
    g: &ConsentGrant,
    revoked_at: Option<Timestamp>,
) -> Result<Consent, String> {
    let party = |s: &str| reg.party(s).map_err(|e| e.to_string());
    let scope = match &g.scope {
        Scope::Item(id) => ConsentScope::Item(ItemId::new(id.clone())),
        Scope::Topics(topics) => {
            let mut set = TopicSet::EMPTY;
            for t in topics {
                let r = reg.topic(t).map_err(|e| e.to_string())?;
                set = set.union(&reg.topics().subtree(r));
            }
            if set.is_empty() {
                return Err("a consent names at least one topic".into());
            }
            ConsentScope::Topics(set)
        }
    };
    let c = Consent {
        originator: party(&g.originator)?,
        holder: party(&g.holder)?,
        recipient: party(&g.recipient)?,
        scope,
        granted_at: timestamp(g.granted_at)?,
        expires_at: timestamp(g.expires_at)?,
        revoked_at,
    };
    if c.expires_at <= c.granted_at {
        return Err("the consent expires before it is given".into());
    }
    if c.holder == c.originator || c.recipient == c.originator || c.holder == c.recipient {
        return Err("a consent is for a release by another party to a third party".into());
    }
    Ok(c)
}

/// The consents this node holds (as the releasing party), with their signed
/// bytes, revocations applied.
pub async fn held_consents(node: &Node, reg: &Registry) -> Result<Vec<(Consent, Vec<u8>)>, String> {
    let revoked = revocations(node).await?;
    let mut out = Vec::new();
    for m in node
        .store
        .messages(MessageKind::Consent)
        .await
        .map_err(|e| e.to_string())?
    {
        let g = ConsentGrant::decode(&m.body).map_err(|e| e.to_string())?;
        if g.holder != node.party {
            continue;
        }
        let at = revoked.iter().find(|(id, _)| *id == g.id).map(|(_, t)| *t);
        match core_consent(reg, &g, at) {
            Ok(c) => out.push((c, m.body)),
            Err(e) => crate::log(&format!("consent {} skipped: {e}", g.id)),
        }
    }
    Ok(out)
}

async fn revocations(node: &Node) -> Result<Vec<(String, Timestamp)>, String> {
    let mut out = Vec::new();
    for m in node
        .store
        .messages(MessageKind::Revocation)
        .await
        .map_err(|e| e.to_string())?
    {
        let r = ConsentRevocation::decode(&m.body).map_err(|e| e.to_string())?;
        out.push((r.consent, timestamp(r.revoked_at)?));
    }
    Ok(out)
}

fn outgoing(node: &Node, kind: MessageKind, id: &str, to: &str, body: &[u8]) -> Outgoing {
    Outgoing {
        kind,
        transfer: format!("{id}>{to}"),
        item: id.to_owned(),
        recipient: to.to_owned(),
        envelope: body.to_vec(),
        attempts: 0,
        next_attempt_at: node.now().as_second(),
    }
}

// ---------------------------------------------------------------- user API

/// An agreement event entered by a security officer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterEvent {
    /// `notice`, `suspend_notice`, `lift_suspension`, `withdraw_notice` or `announcement`.
    pub kind: String,
    /// When it took effect (RFC 3339 with offset); now when absent.
    #[serde(default)]
    pub at: Option<String>,
    /// A short description.
    #[serde(default)]
    pub summary: Option<String>,
    /// For a notice: written and given through the diplomatic channel (default true).
    #[serde(default)]
    pub written_diplomatic: Option<bool>,
}

fn status_json(reg: &Registry, a: AgreementRef, at: Timestamp) -> Value {
    let Some(x) = reg.agreement(a) else {
        return json!(null);
    };
    match reg.status(a, at) {
        Ok(s) => json!({
            "agreement": reg.agreement_id(a), "title": x.title(), "at": at.to_string(),
            "state": s.state.as_str(), "in_force": s.in_force, "version": s.version,
            "parties": x.parties().iter().map(|p| reg.party_id(*p)).collect::<Vec<_>>(),
            "events": x.events().len(),
            "reasons": gsomia_core::explain::texts(&s.reasons),
        }),
        Err(e) => json!({ "agreement": reg.agreement_id(a), "error": e.to_string() }),
    }
}

/// `GET /v1/agreements`: every agreement this party is in, with its status now.
pub async fn list(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&node, &headers).await?;
    let reg = node.registry();
    let at = node.now();
    let out: Vec<Value> = reg
        .agreement_refs()
        .filter(|a| reg.agreement(*a).is_some_and(|x| x.has_party(node.me)))
        .map(|a| status_json(&reg, a, at))
        .collect();
    Ok(Json(json!({ "at": at.to_string(), "agreements": out })))
}

/// `GET /v1/agreements/{id}`: one agreement's status now.
pub async fn show(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authenticate(&node, &headers).await?;
    let reg = node.registry();
    let a = reg
        .agreement_ref(&id)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(status_json(&reg, a, node.now())))
}

fn security_officer(p: &gsomia_store::Person, what: &'static str) -> Result<(), ApiError> {
    if p.role == Role::SecurityOfficer {
        Ok(())
    } else {
        Err(ApiError::Forbidden(what))
    }
}

/// `POST /v1/agreements/{id}/events`: records an event of this party,
/// signed, ledgered and queued for every partner to the agreement.
pub async fn enter_event(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(agreement): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let person = authenticate(&node, &headers).await?;
    security_officer(&person, "only security officers enter agreement events")?;
    let req: EnterEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    let now = node.now();
    let at = match &req.at {
        Some(s) => gsomia_core::time::parse_instant(s)
            .map_err(|e| ApiError::BadRequest(format!("`at`: {e}")))?,
        None => now,
    };
    if at.as_second() > now.as_second() + MAX_SKEW.as_secs() as i64 {
        return Err(ApiError::BadRequest(format!(
            "`at` {at} is in the future (the node's clock reads {now})"
        )));
    }
    let id = crate::new_id(&format!("{}-e", node.party), node.now()).map_err(ApiError::Internal)?;
    let msg = AgreementEvent {
        id: id.clone(),
        agreement: agreement.clone(),
        kind: req.kind.clone(),
        at: instant(at),
        by: node.party.clone(),
        written_diplomatic: req.written_diplomatic.unwrap_or(true),
        summary: req
            .summary
            .clone()
            .unwrap_or_else(|| format!("{} entered by {}", req.kind, person.id)),
    };
    let _guard = node.agreements_lock.lock().await;
    let reg = node.registry();
    let (a, event) = core_event(&reg, &msg).map_err(ApiError::BadRequest)?;
    let (next, effect) = reg
        .record_event(a, event)
        .map_err(|e| ApiError::Refused(e.to_string()))?;
    let body = msg.seal(&node.signer.key);
    let parties: Vec<String> = reg
        .agreement(a)
        .map(|x| {
            x.parties()
                .iter()
                .map(|p| reg.party_id(*p).to_owned())
                .collect()
        })
        .unwrap_or_default();
    let (mut sent_to, mut not_sent) = (Vec::new(), Vec::new());
    let mut queue = Vec::new();
    for p in parties.iter().filter(|p| **p != node.party) {
        if node.partner(p).is_some() {
            queue.push(outgoing(&node, MessageKind::Event, &id, p, &body));
            sent_to.push(p.clone());
        } else {
            not_sent.push(format!("{p} (not a configured partner)"));
        }
    }
    let e = node
        .entry(
            Kind::AgreementEvent,
            None,
            vec![
                ("agreement", agreement.clone()),
                ("event", format!("{} at {at} ({id})", req.kind)),
                ("by", format!("{} ({})", node.party, person.id)),
                ("summary", effect.to_string()),
            ],
        )
        .map_err(ApiError::Internal)?;
    node.store
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Event,
                id: id.clone(),
                party: node.party.clone(),
                body,
                stored_at: now.to_string(),
            }],
            outgoing: queue,
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    node.set_registry(next);
    drop(_guard);
    node.outbox.notify_one();
    let reg = node.registry();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id, "agreement": agreement, "kind": req.kind, "at": at.to_string(),
            "effect": effect.to_string(), "status": status_json(&reg, a, now),
            "sent_to": sent_to, "not_sent": not_sent,
        })),
    ))
}

/// A consent given by this party as originator.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConsent {
    /// The party that may release (the hub for a relay).
    pub holder: String,
    /// The party it may release to.
    pub recipient: String,
    /// One item of this party's (exclusive with `topics`).
    #[serde(default)]
    pub item: Option<String>,
    /// Topics (exclusive with `item`).
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// The first instant it no longer holds (RFC 3339 with offset).
    pub expires_at: String,
}

fn consent_json(g: &ConsentGrant, revoked: Option<Timestamp>) -> Value {
    let at = |i: (i64, u32)| timestamp(i).map(|t| t.to_string()).unwrap_or_default();
    let (item, topics) = match &g.scope {
        Scope::Item(id) => (Some(id.clone()), None),
        Scope::Topics(t) => (None, Some(t.clone())),
    };
    json!({
        "id": g.id, "originator": g.originator, "holder": g.holder, "recipient": g.recipient,
        "item": item, "topics": topics, "granted_at": at(g.granted_at),
        "expires_at": at(g.expires_at), "revoked_at": revoked.map(|t| t.to_string()),
    })
}

/// `POST /v1/consents`: the party, as originator, consents to a release by a
/// holder to a recipient; signed, ledgered and sent to the holder.
pub async fn grant(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let person = authenticate(&node, &headers).await?;
    security_officer(&person, "only security officers give consents")?;
    let req: GrantConsent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?;
    let now = node.now();
    let expires = gsomia_core::time::parse_instant(&req.expires_at)
        .map_err(|e| ApiError::BadRequest(format!("`expires_at`: {e}")))?;
    let scope = match (&req.item, &req.topics) {
        (Some(item), None) => {
            let held = node.store.item(item).await?;
            if held.is_none_or(|i| i.originator != node.party) {
                return Err(ApiError::BadRequest(format!(
                    "`{item}` is not an item this party originated"
                )));
            }
            Scope::Item(item.clone())
        }
        (None, Some(t)) if !t.is_empty() => Scope::Topics(t.clone()),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `item` and `topics`".into(),
            ));
        }
    };
    if node.partner(&req.holder).is_none() {
        return Err(ApiError::BadRequest(format!(
            "{} is not a configured partner: the consent could not reach it",
            req.holder
        )));
    }
    let id = crate::new_id(&format!("{}-c", node.party), node.now()).map_err(ApiError::Internal)?;
    let g = ConsentGrant {
        id: id.clone(),
        originator: node.party.clone(),
        holder: req.holder.clone(),
        recipient: req.recipient.clone(),
        scope,
        granted_at: instant(now),
        expires_at: instant(expires),
    };
    core_consent(&node.registry(), &g, None).map_err(ApiError::BadRequest)?;
    let body = g.seal(&node.signer.key);
    let e = consent_entry(&node, &g, None, &person.id)?;
    node.store
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Consent,
                id: id.clone(),
                party: node.party.clone(),
                body: body.clone(),
                stored_at: now.to_string(),
            }],
            outgoing: vec![outgoing(
                &node,
                MessageKind::Consent,
                &id,
                &req.holder,
                &body,
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    node.outbox.notify_one();
    let mut out = consent_json(&g, None);
    if let Some(o) = out.as_object_mut() {
        o.insert("sent_to".into(), json!([req.holder]));
    }
    Ok((StatusCode::CREATED, Json(out)))
}

fn consent_entry(
    node: &Node,
    g: &ConsentGrant,
    revoked: Option<Timestamp>,
    by: &str,
) -> Result<gsomia_ledger::entry::Entry, ApiError> {
    let scope = match &g.scope {
        Scope::Item(id) => format!("item {id}"),
        Scope::Topics(t) => format!("topics {}", t.join(",")),
    };
    let mut fields = vec![
        ("originator", format!("{} ({by})", g.originator)),
        ("recipient", g.recipient.clone()),
        ("holder", g.holder.clone()),
        ("scope", format!("{scope}; consent {}", g.id)),
        (
            "expires_at",
            timestamp(g.expires_at)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ),
    ];
    if let Some(r) = revoked {
        fields.push(("revoked_at", r.to_string()));
    }
    node.entry(Kind::Consent, None, fields)
        .map_err(ApiError::Internal)
}

/// `GET /v1/consents`: consents this party gave or holds, revocations applied.
pub async fn list_consents(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authenticate(&node, &headers).await?;
    let revoked = revocations(&node).await.map_err(ApiError::Internal)?;
    let mut out = Vec::new();
    for m in node.store.messages(MessageKind::Consent).await? {
        let g = ConsentGrant::decode(&m.body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let r = revoked.iter().find(|(id, _)| *id == g.id).map(|(_, t)| *t);
        out.push(consent_json(&g, r));
    }
    Ok(Json(json!({ "consents": out })))
}

/// `POST /v1/consents/{id}/revoke`: revokes a consent this party gave, from now.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let person = authenticate(&node, &headers).await?;
    security_officer(&person, "only security officers revoke consents")?;
    let m = node
        .store
        .message(MessageKind::Consent, &id)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("no consent `{id}`")))?;
    let g = ConsentGrant::decode(&m.body).map_err(|e| ApiError::Internal(e.to_string()))?;
    if g.originator != node.party {
        return Err(ApiError::BadRequest(format!(
            "consent `{id}` was given by {}; only its originator revokes it",
            g.originator
        )));
    }
    let now = node.now();
    let r = ConsentRevocation {
        consent: id.clone(),
        originator: node.party.clone(),
        revoked_at: instant(now),
    };
    let body = r.seal(&node.signer.key);
    let e = consent_entry(&node, &g, Some(now), &person.id)?;
    let committed = node
        .store
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Revocation,
                id: id.clone(),
                party: node.party.clone(),
                body: body.clone(),
                stored_at: now.to_string(),
            }],
            outgoing: vec![outgoing(
                &node,
                MessageKind::Revocation,
                &id,
                &g.holder,
                &body,
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await;
    match committed {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => {
            return Err(ApiError::Refused(format!(
                "consent `{id}` is already revoked"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    node.outbox.notify_one();
    let mut out = consent_json(&g, Some(now));
    if let Some(o) = out.as_object_mut() {
        o.insert("sent_to".into(), json!([g.holder]));
    }
    Ok(Json(out))
}

// ------------------------------------------------------------ peer endpoint

type Refusal = (StatusCode, String, String);

fn bad(id: &str, why: String) -> Refusal {
    (StatusCode::FORBIDDEN, id.to_owned(), why)
}

fn internal(id: &str) -> impl Fn(String) -> Refusal + '_ {
    move |e| (StatusCode::INTERNAL_SERVER_ERROR, id.to_owned(), e)
}

async fn answer(node: &Node, peer: &str, r: Result<Vec<u8>, Refusal>) -> Response {
    match r {
        Ok(receipt) => (StatusCode::OK, receipt).into_response(),
        Err((status, id, why)) => crate::peer::refuse(node, peer, &id, &why, status).await,
    }
}

/// The partner that signed a message: the party it claims must be the one
/// the connection authenticated as, and a partner.
fn signer<'a>(
    node: &'a Node,
    peer: &str,
    id: &str,
    what: &str,
    claimed: &str,
) -> Result<&'a crate::partner::Partner, Refusal> {
    if claimed != peer {
        return Err(bad(
            id,
            format!("{what} claims to be from {claimed} but the connection is from {peer}"),
        ));
    }
    node.partner(peer)
        .ok_or_else(|| bad(id, format!("{peer} is not a partner")))
}

fn malformed(what: &str) -> impl Fn(gsomia_seal::transfer::TransferError) -> Refusal + '_ {
    move |e| {
        (
            StatusCode::BAD_REQUEST,
            "?".into(),
            format!("malformed {what}: {e}"),
        )
    }
}

/// `POST /peer/v1/events`: an agreement event from the partner that acted.
pub async fn receive_event(
    State(node): State<Arc<Node>>,
    axum::Extension(peer): axum::Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    let r = receive_event_inner(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_event_inner(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = AgreementEvent::decode(body).map_err(malformed("agreement event"))?;
    let id = claimed.id.clone();
    let partner = signer(node, peer, &id, "event", &claimed.by)?;
    let ev = AgreementEvent::open(body, partner.key())
        .map_err(|e| bad(&id, format!("event signature: {e}")))?;
    if node
        .store
        .message(MessageKind::Event, &id)
        .await
        .map_err(|e| internal(&id)(e.to_string()))?
        .is_some()
    {
        return crate::peer::receipt(node, &id, &id, true)
            .await
            .map_err(internal(&id));
    }
    let now = node.now();
    let _guard = node.agreements_lock.lock().await;
    let reg = node.registry();
    let (a, event) = core_event(&reg, &ev).map_err(|e| bad(&id, e))?;
    if !reg
        .agreement(a)
        .is_some_and(|x| x.has_party(node.me) && x.has_party(event.by.unwrap_or(node.me)))
    {
        return Err(bad(
            &id,
            format!(
                "{} is not an agreement between {peer} and {}",
                ev.agreement, node.party
            ),
        ));
    }
    if event.at.as_second() > now.as_second() + MAX_SKEW.as_secs() as i64 {
        return Err(bad(
            &id,
            format!("event instant {} is in the future here ({now})", event.at),
        ));
    }
    let known = already_recorded(&reg, a, &event);
    let (next, effect) = if known {
        (None, "already in this node's profile".to_owned())
    } else {
        let (next, effect) = reg
            .record_event(a, event)
            .map_err(|e| bad(&id, format!("not recorded here: {e}")))?;
        (Some(next), effect.to_string())
    };
    let e = node
        .entry(
            Kind::AgreementEvent,
            None,
            vec![
                ("agreement", ev.agreement.clone()),
                (
                    "event",
                    format!(
                        "{} at {} ({id})",
                        ev.kind,
                        timestamp(ev.at).map(|t| t.to_string()).unwrap_or_default()
                    ),
                ),
                ("by", ev.by.clone()),
                ("summary", effect),
            ],
        )
        .map_err(internal(&id))?;
    let committed = node
        .store
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Event,
                id: id.clone(),
                party: peer.to_owned(),
                body: body.to_vec(),
                stored_at: now.to_string(),
            }],
            entries: vec![e],
            ..Batch::default()
        })
        .await;
    let duplicate = match committed {
        Ok(_) => {
            if let Some(next) = next {
                node.set_registry(next);
            }
            false
        }
        Err(StoreError::Duplicate(_)) => true,
        Err(e) => return Err(internal(&id)(e.to_string())),
    };
    drop(_guard);
    crate::peer::receipt(node, &id, &id, duplicate)
        .await
        .map_err(internal(&id))
}

/// `POST /peer/v1/consents`: a consent from the originator to this node as holder.
pub async fn receive_consent(
    State(node): State<Arc<Node>>,
    axum::Extension(peer): axum::Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    let r = receive_consent_inner(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_consent_inner(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = ConsentGrant::decode(body).map_err(malformed("consent"))?;
    let id = claimed.id.clone();
    let partner = signer(node, peer, &id, "consent", &claimed.originator)?;
    let g = ConsentGrant::open(body, partner.key())
        .map_err(|e| bad(&id, format!("consent signature: {e}")))?;
    if g.holder != node.party {
        return Err(bad(
            &id,
            format!("consent is for {} to hold, not {}", g.holder, node.party),
        ));
    }
    core_consent(&node.registry(), &g, None).map_err(|e| bad(&id, format!("consent: {e}")))?;
    let e =
        consent_entry(node, &g, None, "received").map_err(|e| internal(&id)(format!("{e:?}")))?;
    keep(node, MessageKind::Consent, &id, peer, body, e).await
}

/// Stores a received message with its ledger entry and answers with a
/// receipt (a replay is acknowledged again, with no second effect).
async fn keep(
    node: &Node,
    kind: MessageKind,
    id: &str,
    peer: &str,
    body: &[u8],
    e: gsomia_ledger::entry::Entry,
) -> Result<Vec<u8>, Refusal> {
    let committed = node
        .store
        .commit(Batch {
            messages: vec![Message {
                kind,
                id: id.to_owned(),
                party: peer.to_owned(),
                body: body.to_vec(),
                stored_at: node.now().to_string(),
            }],
            entries: vec![e],
            ..Batch::default()
        })
        .await;
    let duplicate = match committed {
        Ok(_) => false,
        Err(StoreError::Duplicate(_)) => true,
        Err(e) => return Err(internal(id)(e.to_string())),
    };
    crate::peer::receipt(node, id, id, duplicate)
        .await
        .map_err(internal(id))
}

/// `POST /peer/v1/revocations`: the originator revokes a consent this node holds.
pub async fn receive_revocation(
    State(node): State<Arc<Node>>,
    axum::Extension(peer): axum::Extension<PeerParty>,
    body: axum::body::Bytes,
) -> Response {
    let r = receive_revocation_inner(&node, &peer.0, &body).await;
    answer(&node, &peer.0, r).await
}

async fn receive_revocation_inner(
    node: &Node,
    peer: &str,
    body: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let claimed = ConsentRevocation::decode(body).map_err(malformed("revocation"))?;
    let id = claimed.consent.clone();
    let partner = signer(node, peer, &id, "revocation", &claimed.originator)?;
    let r = ConsentRevocation::open(body, partner.key())
        .map_err(|e| bad(&id, format!("revocation signature: {e}")))?;
    let m = node
        .store
        .message(MessageKind::Consent, &id)
        .await
        .map_err(|e| internal(&id)(e.to_string()))?
        .ok_or_else(|| bad(&id, format!("no consent `{id}` held here")))?;
    let g = ConsentGrant::decode(&m.body).map_err(|e| internal(&id)(e.to_string()))?;
    if g.originator != peer || r.originator != peer {
        return Err(bad(
            &id,
            format!("consent `{id}` was given by {}, not {peer}", g.originator),
        ));
    }
    let at = timestamp(r.revoked_at).map_err(|e| bad(&id, e))?;
    let e = consent_entry(node, &g, Some(at), "received")
        .map_err(|e| internal(&id)(format!("{e:?}")))?;
    keep(node, MessageKind::Revocation, &id, peer, body, e).await
}

/// Verifies the consents carried by an envelope from `holder`: each signed
/// by its originator (a known partner), returned as core consents.
pub fn carried_consents(
    node: &Node,
    reg: &Registry,
    carried: &[Vec<u8>],
) -> Result<Vec<Consent>, String> {
    let mut out = Vec::new();
    for bytes in carried {
        let claimed = ConsentGrant::decode(bytes).map_err(|e| format!("consent: {e}"))?;
        let originator = node.partner(&claimed.originator).ok_or_else(|| {
            format!(
                "consent {} is from {}, whose key this node does not know",
                claimed.id, claimed.originator
            )
        })?;
        let g = ConsentGrant::open(bytes, originator.key())
            .map_err(|e| format!("consent {}: {e}", claimed.id))?;
        out.push(core_consent(reg, &g, None).map_err(|e| format!("consent {}: {e}", g.id))?);
    }
    Ok(out)
}
