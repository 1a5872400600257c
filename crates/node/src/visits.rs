//! Visits (Art 8): a party asks a partner to host one of its people, for
//! an official purpose, naming the highest level that may be furnished and
//! the period; the host's security officer approves or refuses. On
//! approval the host registers the visitor — cleared to the host's
//! equivalent of that level, need-to-know for the visit's topics, valid
//! only during the visit, able to read and nothing more — and hands them a
//! credential. Every access the visitor is given (or refused) at the host
//! is ledgered there, as every read is, and reported to the visiting party.
//!
//! Each message is signed by its sender, kept at both ends (the `message`
//! table, kind `visit`), ledgered (`visit`), and sent through the outbox
//! until acknowledged. The visits are folded from the kept messages, each
//! verified, at start, and held in memory.

use std::collections::BTreeMap;

use gsomia_api::{RefuseVisit, RequestVisit, VisitAccess, VisitApproved, VisitList, VisitView};
use gsomia_core::time::{from_wire, parse_instant_or_date, to_wire};
use gsomia_ledger::entry::Kind;
use gsomia_seal::message::VisitNotice;
use gsomia_store::{Batch, Message, MessageKind, Person, Role, StoreError};

use crate::error::{Class, Classified};
use crate::node::Node;
use crate::refusals::{Reason, Refusal};
use crate::registers::VisitFile;

/// The longest text a visit message carries.
pub const MAX_TEXT: usize = 2000;
/// The longest visit.
pub const MAX_DAYS: i64 = 366;

/// Why a visit request failed.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    /// A request that does not hold together.
    #[error("{0}")]
    Invalid(String),
    /// Refused under the rules (answered already, over, no agreement).
    #[error("{0}")]
    Refused(String),
    /// No such visit here.
    #[error("no visit `{0}`")]
    NotFound(String),
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// The visitor could not be registered at the host.
    #[error(transparent)]
    Register(#[from] crate::register::RegisterError),
    /// A ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] gsomia_ledger::entry::EntryError),
    /// No randomness for an id.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classified for VisitError {
    fn class(&self) -> Class {
        match self {
            VisitError::Invalid(_) => Class::BadRequest,
            VisitError::Refused(_) => Class::Refused,
            VisitError::NotFound(_) => Class::NotFound,
            VisitError::Role(e) => e.class(),
            VisitError::Register(_)
            | VisitError::Entry(_)
            | VisitError::Entropy(_)
            | VisitError::Store(_) => Class::Internal,
        }
    }
}

/// Applies one verified message to the visits.
fn apply(all: &mut BTreeMap<String, VisitFile>, n: VisitNotice) {
    match n.kind.as_str() {
        "request" => {
            all.entry(n.visit.clone()).or_insert(VisitFile {
                request: n,
                state: "requested",
                answer: None,
                host_person: None,
                accesses: Vec::new(),
            });
        }
        "approved" | "refused" => {
            if let Some(s) = all.get_mut(&n.visit) {
                s.state = if n.kind == "approved" {
                    "approved"
                } else {
                    "refused"
                };
                s.answer = Some(n.text.clone()).filter(|t| !t.is_empty());
                if n.kind == "approved" && !n.item.is_empty() {
                    // The host's own record names the visitor's entry there.
                    s.host_person = Some(n.item.clone());
                }
            }
        }
        "access" => {
            if let Some(s) = all.get_mut(&n.visit) {
                s.accesses.push(VisitAccess {
                    at: crate::clock::wire_text(n.at),
                    item: n.item.clone(),
                    outcome: n.text.clone(),
                });
            }
        }
        _ => {}
    }
}

/// The party that signs a message of this kind.
fn sender(n: &VisitNotice) -> &str {
    if n.kind == "request" {
        &n.visitor_party
    } else {
        &n.host
    }
}

/// At start: every kept visit message verified with its sender's key and
/// folded; one that does not verify raises an alarm and is left out.
pub(crate) async fn load(node: &Node) -> Result<usize, StoreError> {
    let kept = node.store().messages(MessageKind::Visit).await?;
    let mut all = BTreeMap::new();
    for m in kept {
        let verified = VisitNotice::decode(&m.body)
            .ok()
            .and_then(|c| node.key_of(sender(&c)))
            .and_then(|k| VisitNotice::open(&m.body, &k).ok())
            .filter(|n| n.id == m.id);
        match verified {
            Some(n) => apply(&mut all, n),
            None => {
                node.alarm(&crate::custody::Breach {
                    subject: format!("visit message {}", m.id),
                    check: crate::custody::Check::Sealed,
                    detail: "a kept message that does not verify with its sender's key".into(),
                })
                .await
            }
        }
    }
    let n = all.len();
    *node.visits().write() = all;
    Ok(n)
}

/// Keeps, ledgers and queues one message signed here, and applies it.
async fn send(node: &Node, n: VisitNotice, to: &str, state: &str) -> Result<(), VisitError> {
    let bytes = n.seal(&node.signer().key);
    let e = entry(node, &n, state)?;
    node.store()
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Visit,
                id: n.id.clone(),
                party: to.to_owned(),
                body: bytes.clone(),
                stored_at: node.now().to_string(),
            }],
            outgoing: vec![crate::consents::outgoing(
                node,
                MessageKind::Visit,
                &n.id,
                to,
                &bytes,
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    apply(&mut node.visits().write(), n);
    node.wake_outbox();
    Ok(())
}

fn entry(
    node: &Node,
    n: &VisitNotice,
    state: &str,
) -> Result<gsomia_ledger::entry::Entry, gsomia_ledger::entry::EntryError> {
    let mut fields = vec![
        ("visit", n.visit.clone()),
        ("state", state.to_owned()),
        ("visitor", format!("{} ({})", n.visitor, n.visitor_party)),
        ("host", n.host.clone()),
        ("by", n.by.clone()),
    ];
    if n.kind == "request" {
        fields.extend([
            ("highest_level", n.highest_level.clone()),
            ("from", crate::clock::wire_text(n.from)),
            ("until", crate::clock::wire_text(n.until)),
            ("purpose", n.purpose.clone()),
        ]);
    }
    if !n.item.is_empty() && n.kind == "access" {
        fields.push(("item", n.item.clone()));
    }
    if !n.text.is_empty() {
        fields.push(("reason", n.text.clone()));
    }
    node.entry(Kind::Visit, None, fields)
}

fn text(what: &str, v: &str) -> Result<String, VisitError> {
    let t = v.trim();
    if !gsomia_api::has_text(v) || v.chars().count() > MAX_TEXT {
        return Err(VisitError::Invalid(format!(
            "`{what}` is 1 to {MAX_TEXT} characters"
        )));
    }
    Ok(t.to_owned())
}

/// `gsomia visit request`: this party's security officer asks a partner to
/// host one of its people.
pub async fn request(
    node: &Node,
    person: &Person,
    req: &RequestVisit,
) -> Result<VisitView, VisitError> {
    crate::register::security_officer(node, person, "request visits")?;
    let purpose = text("purpose", &req.purpose)?;
    if node.partner(&req.to).is_none() {
        return Err(VisitError::Refused(format!(
            "{} is not a partner of this node",
            req.to
        )));
    }
    let reg = node.registry();
    let level = reg
        .level(node.me(), &req.highest_level)
        .map_err(|e| VisitError::Invalid(e.to_string()))?;
    if !reg.level_info(level).is_some_and(|l| l.classified) {
        return Err(VisitError::Invalid(format!(
            "`{}` is not a classified level",
            req.highest_level
        )));
    }
    let host = reg
        .party(&req.to)
        .map_err(|e| VisitError::Invalid(e.to_string()))?;
    let now = node.now();
    if reg.equivalent_any(level, host, Some(now)).is_err() {
        return Err(VisitError::Refused(format!(
            "no agreement with {} covers `{}`: nothing of that level can be furnished there (Art 8; rule 6)",
            req.to, req.highest_level
        )));
    }
    if req.topics.is_empty() {
        return Err(VisitError::Invalid(
            "a visit needs at least one topic".into(),
        ));
    }
    for t in &req.topics {
        reg.topic(t)
            .map_err(|e| VisitError::Invalid(e.to_string()))?;
    }
    let zone = node.zone();
    let from = parse_instant_or_date(&req.from)
        .and_then(|v| v.start(&zone))
        .map_err(|e| VisitError::Invalid(format!("`from`: {e}")))?;
    let until = parse_instant_or_date(&req.until)
        .and_then(|v| v.end_exclusive(&zone))
        .map_err(|e| VisitError::Invalid(format!("`until`: {e}")))?;
    let days = until.duration_since(from).as_secs() / 86_400;
    if until <= from || until <= now || days > MAX_DAYS {
        return Err(VisitError::Refused(format!(
            "a visit ends after it begins, in the future, and lasts at most {MAX_DAYS} days"
        )));
    }
    // The visitor: one of this party's people whose clearance reaches the
    // level and holds through the visit (the visiting party vouches for it).
    let visitor = node
        .store()
        .people()
        .await?
        .into_iter()
        .find(|p| p.id == req.visitor && p.revoked_at.is_none() && p.visit.is_none())
        .ok_or_else(|| {
            VisitError::Refused(format!(
                "`{}` is not one of this party's people whose access holds",
                req.visitor
            ))
        })?;
    let reader =
        crate::register::reader(node, &visitor).map_err(|e| VisitError::Invalid(e.to_string()))?;
    if reg.rank(reader.clearance) < reg.rank(level) || reader.clearance_until < until {
        return Err(VisitError::Refused(format!(
            "{}'s clearance `{}` (until {}) does not reach `{}` for the whole visit",
            visitor.id, visitor.clearance, visitor.clearance_until, req.highest_level
        )));
    }
    let id = crate::ids::new_id(&format!("{}-v", node.party()), now)?;
    let n = VisitNotice {
        id: id.clone(),
        visit: id.clone(),
        kind: "request".into(),
        visitor_party: node.party().to_owned(),
        host: req.to.clone(),
        visitor: visitor.id.clone(),
        visitor_name: visitor.name.clone(),
        purpose,
        highest_level: reg.level_name(level).to_owned(),
        topics: req.topics.clone(),
        from: to_wire(from),
        until: to_wire(until),
        item: String::new(),
        text: String::new(),
        by: person.id.clone(),
        at: to_wire(now),
    };
    send(node, n, &req.to, "requested").await?;
    view(node, &id)
}

/// Answers a request at the host: approved (the visitor registered here)
/// or refused.
async fn answer(
    node: &Node,
    person: &Person,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<(VisitView, Option<String>), VisitError> {
    crate::register::security_officer(node, person, "answer visit requests")?;
    let req = {
        let all = node.visits().read();
        let s = all
            .get(id)
            .ok_or_else(|| VisitError::NotFound(id.to_owned()))?;
        if s.request.host != node.party() {
            return Err(VisitError::Refused(format!(
                "visit {id} is hosted by {}; only the host answers it",
                s.request.host
            )));
        }
        if s.state != "requested" {
            return Err(VisitError::Refused(format!(
                "visit {id} is {} already",
                s.state
            )));
        }
        s.request.clone()
    };
    let now = node.now();
    let mut token = None;
    let mut host_person = String::new();
    if approve {
        let until = from_wire(req.until).map_err(|e| VisitError::Invalid(e.to_string()))?;
        if until <= now {
            return Err(VisitError::Refused(format!("visit {id} is over")));
        }
        let reg = node.registry();
        let theirs = reg
            .party(&req.visitor_party)
            .and_then(|p| reg.level(p, &req.highest_level))
            .map_err(|e| VisitError::Invalid(e.to_string()))?;
        let (_, here) = reg
            .equivalent_any(theirs, node.me(), Some(now))
            .map_err(|_| {
                VisitError::Refused(format!(
                    "no agreement with {} covers `{}` now (Art 8; rule 6)",
                    req.visitor_party, req.highest_level
                ))
            })?;
        let registered = crate::register::register(
            node.store().as_ref(),
            node.custody(),
            &reg,
            node.party(),
            &crate::register::NewPerson {
                name: format!("{} ({} visitor)", req.visitor_name, req.visitor_party),
                clearance: reg.level_name(here).to_owned(),
                until: until.to_string(),
                need_to_know: req.topics.clone(),
                role: Role::Officer,
                facility: None,
                visit: Some(id.to_owned()),
            },
            now,
        )
        .await?;
        host_person = registered.person.id.clone();
        token = Some(registered.token);
    }
    let n = VisitNotice {
        id: crate::ids::new_id(&format!("{}-v", node.party()), now)?,
        kind: if approve { "approved" } else { "refused" }.into(),
        // Named for the host's own record; the visiting party sees it too.
        item: host_person,
        text: reason.to_owned(),
        by: person.id.clone(),
        at: to_wire(now),
        ..req.clone()
    };
    let to = req.visitor_party.clone();
    send(node, n, &to, if approve { "approved" } else { "refused" }).await?;
    Ok((view(node, id)?, token))
}

/// `gsomia visit approve`.
pub async fn approve(node: &Node, person: &Person, id: &str) -> Result<VisitApproved, VisitError> {
    let (visit, token) = answer(node, person, id, true, "").await?;
    Ok(VisitApproved {
        visit,
        token: token.unwrap_or_default(),
    })
}

/// `gsomia visit refuse`.
pub async fn refuse(
    node: &Node,
    person: &Person,
    id: &str,
    req: &RefuseVisit,
) -> Result<VisitView, VisitError> {
    let reason = text("reason", &req.reason)?;
    Ok(answer(node, person, id, false, &reason).await?.0)
}

/// After a visitor's read was decided at the host (and ledgered): the
/// access reported to the visiting party. Best effort here; the report is
/// queued durably and delivered until acknowledged.
pub(crate) async fn report_access(node: &Node, visitor: &Person, item: &str, outcome: &str) {
    let Some(visit) = &visitor.visit else {
        return;
    };
    let req = match node.visits().read().get(visit) {
        Some(s) => s.request.clone(),
        None => return,
    };
    let now = node.now();
    let id = match crate::ids::new_id(&format!("{}-v", node.party()), now) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "cannot report a visitor's access");
            return;
        }
    };
    let n = VisitNotice {
        id,
        kind: "access".into(),
        item: item.to_owned(),
        text: outcome.to_owned(),
        by: visitor.id.clone(),
        at: to_wire(now),
        ..req.clone()
    };
    if let Err(e) = send(node, n, &req.visitor_party, "access").await {
        tracing::error!(error = %e, visit = %visit, "cannot report a visitor's access");
    }
}

/// A visit message from a partner: signed by its sender (the visiting
/// party for a request, the host for the rest), kept once, ledgered,
/// applied, acknowledged.
pub async fn receive(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = VisitNotice::decode(body).map_err(|e| {
        Refusal::unnamed(Reason::Malformed {
            what: "visit message",
            detail: e.to_string(),
        })
    })?;
    let id = claimed.id.clone();
    let partner = crate::consents::signer(node, peer, &id, "visit message", sender(&claimed))?;
    let n = VisitNotice::open(body, partner.key()).map_err(|e| {
        Refusal::new(
            &id,
            Reason::Signature {
                what: "visit message",
                detail: e.to_string(),
            },
        )
    })?;
    let ours = match n.kind.as_str() {
        "request" => n.host == node.party(),
        "approved" | "refused" | "access" => {
            n.visitor_party == node.party() && node.visits().read().contains_key(&n.visit)
        }
        _ => false,
    };
    if !ours {
        return Err(Refusal::new(
            &id,
            Reason::NotForUs {
                what: "visit message",
                to: format!("{} (visit {})", n.host, n.visit),
                me: node.party().to_owned(),
            },
        ));
    }
    let state = match n.kind.as_str() {
        "request" => "requested",
        k => k,
    }
    .to_owned();
    let e = entry(node, &n, &state).map_err(|e| Refusal::internal(&id, e))?;
    let committed = node
        .store()
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Visit,
                id: id.clone(),
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
        Err(e) => return Err(Refusal::internal(&id, e)),
    };
    if !duplicate {
        apply(&mut node.visits().write(), n);
    }
    node.checkpoints()
        .receipt(node.party(), &id, &id, duplicate)
        .await
        .map_err(|e| Refusal::internal(&id, e))
}

fn keeper(node: &Node, p: &Person) -> Result<(), VisitError> {
    Ok(crate::register::keeper_of_records(node, p, "see visits")?)
}

/// Every visit (security officers and auditors).
pub async fn list(node: &Node, person: &Person) -> Result<VisitList, VisitError> {
    keeper(node, person)?;
    let ids: Vec<String> = node.visits().read().keys().cloned().collect();
    Ok(VisitList {
        visits: ids
            .iter()
            .map(|id| view(node, id))
            .collect::<Result<_, _>>()?,
    })
}

/// One visit (security officers and auditors).
pub async fn show(node: &Node, person: &Person, id: &str) -> Result<VisitView, VisitError> {
    keeper(node, person)?;
    view(node, id)
}

fn view(node: &Node, id: &str) -> Result<VisitView, VisitError> {
    let all = node.visits().read();
    let s = all
        .get(id)
        .ok_or_else(|| VisitError::NotFound(id.to_owned()))?;
    let r = &s.request;
    Ok(VisitView {
        id: id.to_owned(),
        visitor_party: r.visitor_party.clone(),
        host: r.host.clone(),
        visitor: r.visitor.clone(),
        visitor_name: r.visitor_name.clone(),
        purpose: r.purpose.clone(),
        highest_level: r.highest_level.clone(),
        topics: r.topics.clone(),
        from: crate::clock::wire_text(r.from),
        until: crate::clock::wire_text(r.until),
        state: s.state.to_owned(),
        answer: s.answer.clone(),
        host_person: s.host_person.clone().filter(|_| r.host == node.party()),
        accesses: s.accesses.clone(),
    })
}
