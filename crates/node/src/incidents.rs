//! Loss and compromise reports (rule 14; Art 17): the holder of an item
//! reports an actual or possible loss or compromise to the item's
//! originator at once, then the investigation's findings, then the results
//! and the measures against recurrence. Each message is signed by the
//! holder, kept, ledgered and sent on the warning lane (never behind bulk
//! transfers), in order, until the originator's signed acknowledgement
//! comes back; an unacknowledged message stays pending and is retried. At
//! the originator each message is checked (the sender is the holder that
//! signed it, the item is one of the originator's own), kept once,
//! ledgered, shown live to its officers, and acknowledged.

use std::sync::Arc;
use std::time::Duration;

use gsomia_api::{
    FollowUpIncident, IncidentList, IncidentMessage, IncidentView, Page, ReportIncident,
};
use gsomia_ledger::entry::Kind;
use gsomia_seal::message::IncidentNotice;
use gsomia_store::{Batch, IncidentRow, Person, Role, StoreError};
use tokio::sync::broadcast;

use crate::error::{Class, Classified};
use crate::items::outbox::{Failure, Retry, post_to};
use crate::node::Node;
use crate::refusals::{Reason, Refusal};

/// The longest wait between two delivery rounds while messages are pending.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// The longest text of a message.
pub const MAX_TEXT: usize = 2000;

/// Why an incident request failed.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// A request that does not hold together.
    #[error("{0}")]
    Invalid(String),
    /// Refused under the rules (an item of this party's own, a closed incident).
    #[error("{0}")]
    Refused(String),
    /// No such incident or item, or not one the caller may see.
    #[error("no such incident or item")]
    NotFound,
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// The item could not be read for the caller.
    #[error(transparent)]
    Item(#[from] crate::items::ItemError),
    /// A stored message that does not verify.
    #[error("stored incident message {0}: {1}")]
    Stored(String, String),
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

impl Classified for IncidentError {
    fn class(&self) -> Class {
        match self {
            IncidentError::Invalid(_) => Class::BadRequest,
            IncidentError::Refused(_) => Class::Refused,
            IncidentError::NotFound => Class::NotFound,
            IncidentError::Role(e) => e.class(),
            IncidentError::Item(e) => e.class(),
            IncidentError::Stored(..)
            | IncidentError::Entry(_)
            | IncidentError::Entropy(_)
            | IncidentError::Store(_) => Class::Internal,
        }
    }
}

fn text_ok(t: &str, what: &str) -> Result<(), IncidentError> {
    if !gsomia_api::has_text(t) || t.chars().count() > MAX_TEXT {
        return Err(IncidentError::Invalid(format!(
            "`{what}` is 1 to {MAX_TEXT} characters, not only spaces"
        )));
    }
    Ok(())
}

/// The incident's view from its messages (each verified: this node's own
/// signature on what it sent, the holder's on what it received).
fn view(node: &Node, rows: &[IncidentRow]) -> Result<IncidentView, IncidentError> {
    let mut out: Option<IncidentView> = None;
    for r in rows {
        let key = node.key_of(if r.sent { node.party() } else { &r.party });
        let n = match key {
            Some(k) => IncidentNotice::open(&r.bytes, &k)
                .map_err(|e| IncidentError::Stored(r.incident.clone(), e.to_string()))?,
            // A partner removed since: its signature was checked when the
            // message was received (and ledgered); it is shown as kept.
            None => IncidentNotice::decode(&r.bytes)
                .map_err(|e| IncidentError::Stored(r.incident.clone(), e.to_string()))?,
        };
        if n.id != r.incident || n.seq != r.seq {
            return Err(IncidentError::Stored(
                r.incident.clone(),
                "its signed id or place is not the row's".into(),
            ));
        }
        let v = out.get_or_insert_with(|| IncidentView {
            id: n.id.clone(),
            direction: if r.sent { "reported" } else { "received" }.into(),
            holder: n.holder.clone(),
            originator: n.originator.clone(),
            origin_item: n.origin_item.clone(),
            item: r.sent.then(|| r.item.clone()),
            actual: n.actual,
            state: "open".into(),
            pending: 0,
            messages: Vec::new(),
        });
        if n.kind == "close" {
            v.state = "closed".into();
        }
        if r.failed_at.is_some() && n.seq == 0 {
            v.state = "refused".into();
        }
        if r.sent && r.acked_at.is_none() && r.failed_at.is_none() {
            v.pending += 1;
        }
        v.messages.push(IncidentMessage {
            seq: n.seq,
            kind: n.kind.clone(),
            text: n.text.clone(),
            by: n.by.clone(),
            at: crate::clock::wire_text(n.at),
            acknowledged_at: r.acked_at.clone(),
            refused: r.failure.clone(),
        });
    }
    out.ok_or(IncidentError::NotFound)
}

/// The party a report about `item` goes to: the originator, or the hub
/// the item came through.
fn route_of(item: &gsomia_store::Item) -> String {
    match &item.received_from {
        Some(from) if *from != item.originator => from.clone(),
        _ => item.originator.clone(),
    }
}

/// Whether `person` may see an incident: security officers and auditors
/// all; an officer those they reported.
fn may_see(person: &Person, v: &IncidentView) -> bool {
    matches!(person.role, Role::SecurityOfficer | Role::Auditor)
        || (v.direction == "reported" && v.messages.first().is_some_and(|m| m.by == person.id))
}

/// Reports an actual or possible loss or compromise of a held item to its
/// originator: signed, kept and ledgered (`loss_report`) before it is
/// answered, and sent at once on the warning lane. Officers report on
/// items they may read; security officers on any item held.
pub async fn report(
    node: &Node,
    person: &Person,
    req: &ReportIncident,
) -> Result<IncidentView, IncidentError> {
    crate::register::not_auditor(node, person, "report incidents")?;
    text_ok(&req.description, "description")?;
    let item = match person.role {
        Role::SecurityOfficer => {
            let item = node
                .store()
                .item(&req.item)
                .await?
                .ok_or(IncidentError::NotFound)?;
            crate::items::verified(node, &item).await?;
            item
        }
        _ => {
            crate::items::decide_read(node, person, &req.item, "incident report")
                .await?
                .0
        }
    };
    if item.originator == node.party() {
        return Err(IncidentError::Refused(format!(
            "item {} is {}'s own: a loss of it is handled under this party's own rules, not reported to a partner (rule 14)",
            req.item,
            node.party()
        )));
    }
    let at = node.now();
    let id = crate::ids::new_id(&format!("{}-i", node.party()), at)?;
    // An item that came through a hub: the report goes back the same way,
    // and the hub passes it on to the originator.
    let route = route_of(&item);
    let notice = IncidentNotice {
        id: id.clone(),
        seq: 0,
        kind: "report".into(),
        holder: node.party().to_owned(),
        originator: item.originator.clone(),
        origin_item: item.origin_item.clone(),
        actual: req.actual,
        text: req.description.clone(),
        by: person.id.clone(),
        at: gsomia_core::time::to_wire(at),
    };
    let row = IncidentRow {
        position: 0,
        incident: id.clone(),
        seq: 0,
        sent: true,
        party: route.clone(),
        item: item.id.clone(),
        bytes: notice.seal(&node.signer().key),
        at: at.to_string(),
        acked_at: None,
        ack: None,
        failed_at: None,
        failure: None,
    };
    let e = node.entry(
        Kind::LossReport,
        Some(&item.id),
        vec![
            ("description", req.description.clone()),
            (
                "actual_or_possible",
                if req.actual { "actual" } else { "possible" }.into(),
            ),
            (
                "notified",
                if route == item.originator {
                    format!("queued for {}", item.originator)
                } else {
                    format!("queued for {} through {route}", item.originator)
                },
            ),
            ("incident", id.clone()),
            ("by", person.id.clone()),
            ("originator", item.originator.clone()),
        ],
    )?;
    node.store()
        .commit(Batch {
            incidents: vec![row.clone()],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    node.incidents().wake.notify_one();
    let v = view(node, &[row])?;
    node.incidents().show(&v);
    Ok(v)
}

/// The investigation's findings, or the incident closed with its remedy:
/// the next signed message of an incident this node reported, sent after
/// the ones before it. By the officer who reported it or a security officer.
pub async fn follow_up(
    node: &Node,
    person: &Person,
    id: &str,
    req: &FollowUpIncident,
) -> Result<IncidentView, IncidentError> {
    crate::register::not_auditor(node, person, "follow incidents up")?;
    text_ok(&req.text, "text")?;
    let rows = node.store().incident_messages(id).await?;
    let v = view(node, &rows)?;
    if v.direction != "reported" || !may_see(person, &v) {
        return Err(IncidentError::NotFound);
    }
    if v.state != "open" {
        return Err(IncidentError::Refused(format!(
            "incident {id} is {}; report a new one",
            v.state
        )));
    }
    let last = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let kind = if req.close { "close" } else { "update" };
    let at = node.now();
    let first = rows.first().ok_or(IncidentError::NotFound)?;
    let notice = IncidentNotice {
        id: id.to_owned(),
        seq: last + 1,
        kind: kind.into(),
        holder: node.party().to_owned(),
        originator: v.originator.clone(),
        origin_item: v.origin_item.clone(),
        actual: v.actual,
        text: req.text.clone(),
        by: person.id.clone(),
        at: gsomia_core::time::to_wire(at),
    };
    let row = IncidentRow {
        position: 0,
        incident: id.to_owned(),
        seq: last + 1,
        sent: true,
        // The same way as the report.
        party: first.party.clone(),
        item: first.item.clone(),
        bytes: notice.seal(&node.signer().key),
        at: at.to_string(),
        acked_at: None,
        ack: None,
        failed_at: None,
        failure: None,
    };
    let e = node.entry(
        Kind::IncidentFollowUp,
        Some(&first.item),
        vec![
            ("incident", id.to_owned()),
            ("kind", kind.to_owned()),
            ("text", req.text.clone()),
            ("by", person.id.clone()),
            ("seq", (last + 1).to_string()),
        ],
    )?;
    match node
        .store()
        .commit(Batch {
            incidents: vec![row],
            entries: vec![e],
            ..Batch::default()
        })
        .await
    {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => {
            return Err(IncidentError::Refused(format!(
                "another follow-up of incident {id} was written at the same moment; look again"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    node.incidents().wake.notify_one();
    let v = view(node, &node.store().incident_messages(id).await?)?;
    node.incidents().show(&v);
    Ok(v)
}

/// A page of the incidents the person may see, oldest first.
pub async fn list(
    node: &Node,
    person: &Person,
    page: &Page,
) -> Result<IncidentList, IncidentError> {
    let limit = crate::pages::limit(page.limit).map_err(IncidentError::Invalid)?;
    let mut after = crate::pages::cursor(&page.next).map_err(IncidentError::Invalid)?;
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let reports = node.store().incidents_page(after, limit).await?;
        let full = reports.len() == limit as usize;
        for r in &reports {
            after = Some(r.position);
            let v = view(node, &node.store().incident_messages(&r.incident).await?)?;
            if may_see(person, &v) {
                out.push(v);
                if out.len() == limit as usize {
                    return Ok(IncidentList {
                        incidents: out,
                        next: after.map(|a| a.to_string()),
                    });
                }
            }
        }
        if !full {
            return Ok(IncidentList {
                incidents: out,
                next: None,
            });
        }
        // Bounded work: what was found, and where to go on from.
        if started.elapsed() >= crate::items::LIST_DEADLINE {
            return Ok(IncidentList {
                incidents: out,
                next: after.map(|a| a.to_string()),
            });
        }
    }
}

/// One incident, if the person may see it.
pub async fn show(node: &Node, person: &Person, id: &str) -> Result<IncidentView, IncidentError> {
    let v = view(node, &node.store().incident_messages(id).await?)?;
    if may_see(person, &v) {
        Ok(v)
    } else {
        Err(IncidentError::NotFound)
    }
}

/// A live subscription for a security officer or auditor: every incident
/// as it is reported, updated or acknowledged here.
pub fn subscribe(
    node: &Node,
    person: &Person,
) -> Result<broadcast::Receiver<Arc<String>>, IncidentError> {
    crate::register::keeper_of_records(node, person, "follow incidents live")?;
    Ok(node.incidents().subscribe())
}

/// The delivery worker (on the warning lane): sends every unacknowledged
/// message in order, per originator, until acknowledged; a message whose
/// predecessor is unacknowledged waits for it.
pub async fn deliver(node: Arc<Node>) {
    loop {
        let pending = match node.store().incidents_unacked().await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "incidents: cannot read the pending messages");
                Vec::new()
            }
        };
        let mut blocked: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for row in &pending {
            if blocked.contains(&row.party) {
                continue;
            }
            match send(&node, row).await {
                Ok(()) => {}
                Err(Failure::Refused(why)) => refused(&node, row, &why).await,
                Err(Failure::Retry(e)) => {
                    tracing::info!(incident = %row.incident, seq = row.seq, partner = %row.party, error = %e, "incident message not acknowledged yet; will retry");
                    blocked.insert(row.party.clone());
                }
            }
        }
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            RETRY_EVERY
        };
        tokio::select! {
            () = node.incidents().wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Records the originator's final refusal of a message (ledgered, shown).
async fn refused(node: &Node, row: &IncidentRow, why: &str) {
    tracing::warn!(incident = %row.incident, seq = row.seq, partner = %row.party, reason = %why, "incident message refused by the originator");
    let why = crate::node::bounded(why, crate::node::MAX_ENTRY_FIELD);
    let e = node.entry(
        Kind::IncidentRefused,
        Some(&row.item),
        vec![
            ("incident", row.incident.clone()),
            ("by", row.party.clone()),
            ("reasons", why.clone()),
            ("seq", row.seq.to_string()),
        ],
    );
    let committed = match e {
        Ok(e) => node
            .store()
            .commit(Batch {
                incidents_refused: vec![(
                    row.incident.clone(),
                    row.seq,
                    node.now().to_string(),
                    why,
                )],
                entries: vec![e],
                ..Batch::default()
            })
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = committed {
        tracing::error!(error = %e, "incidents: cannot record a refusal");
        return;
    }
    show_now(node, &row.incident).await;
}

/// Shows an incident as it now stands to the live subscribers.
async fn show_now(node: &Node, id: &str) {
    if let Ok(rows) = node.store().incident_messages(id).await
        && let Ok(v) = view(node, &rows)
    {
        node.incidents().show(&v);
    }
}

/// Sends one message to the originator (the peer channel the outbox uses:
/// only the originator's decision is a final refusal) and records its
/// acknowledgement.
async fn send(node: &Node, row: &IncidentRow) -> Result<(), Failure> {
    let receipt = |what: String| Failure::Retry(Retry::Receipt(what));
    let originator = IncidentNotice::decode(&row.bytes)
        .map_err(|e| Failure::Retry(Retry::Queued(e.to_string())))?
        .originator;
    // The acknowledgement is the originator's, whichever way it came back.
    let key = node
        .partner(&originator)
        .map(|p| *p.key())
        .ok_or_else(|| receipt(format!("{originator}'s key is not known here")))?;
    let (_, body) = post_to(node, &row.party, "incidents", row.bytes.clone()).await?;
    let ack = IncidentNotice::open(&body, &key).map_err(|e| receipt(e.to_string()))?;
    if ack.kind != "ack"
        || ack.id != row.incident
        || ack.seq != row.seq
        || ack.originator != originator
    {
        return Err(receipt("an acknowledgement of another message".into()));
    }
    let now = node.now().to_string();
    let by = if row.party == originator {
        originator.clone()
    } else {
        format!("{originator} (through {})", row.party)
    };
    let e = node
        .entry(
            Kind::IncidentAcknowledged,
            Some(&row.item),
            vec![
                ("incident", row.incident.clone()),
                ("by", by),
                ("seq", row.seq.to_string()),
            ],
        )
        .map_err(|e| Retry::Record(e.to_string()))?;
    node.store()
        .commit(Batch {
            incidents_acked: vec![(row.incident.clone(), row.seq, now, body)],
            entries: vec![e],
            ..Batch::default()
        })
        .await
        .map_err(|e| Retry::Record(e.to_string()))?;
    show_now(node, &row.incident).await;
    Ok(())
}

/// A partner's incident message, at the originator: checked, kept once,
/// ledgered, shown live, and acknowledged (the signed acknowledgement is
/// the answer; a replay is answered with the same one and has no second
/// effect).
pub async fn receive(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = IncidentNotice::decode(body).map_err(|e| {
        Refusal::unnamed(Reason::Malformed {
            what: "incident message",
            detail: e.to_string(),
        })
    })?;
    let t = format!("{} #{}", claimed.id, claimed.seq);
    let bad = |reason: Reason| Refusal::new(&t, reason);
    if node.partner(peer).is_none() {
        return Err(bad(Reason::NotPartner(peer.to_owned())));
    }
    // Signed by the holder, whoever passed it on.
    let holder = node
        .partner(&claimed.holder)
        .ok_or_else(|| bad(Reason::NotPartner(claimed.holder.clone())))?;
    let n = IncidentNotice::open(body, holder.key()).map_err(|e| {
        bad(Reason::Signature {
            what: "incident message",
            detail: e.to_string(),
        })
    })?;
    if n.originator != node.party() {
        // A hub: passes on a report about an item it relayed to the holder.
        if n.holder != peer {
            return Err(bad(Reason::WrongSender {
                claimed: n.holder.clone(),
                peer: peer.to_owned(),
            }));
        }
        return relay(node, peer, body, &n).await;
    }
    if n.holder != peer {
        // Relayed by a hub: only one this party gave the item to.
        let gave = node
            .store()
            .distribution(&n.origin_item)
            .await
            .map_err(|e| Refusal::internal(&t, e))?;
        if !gave.iter().any(|p| p == peer) {
            return Err(bad(Reason::WrongSender {
                claimed: n.holder.clone(),
                peer: peer.to_owned(),
            }));
        }
    }
    if !matches!(n.kind.as_str(), "report" | "update" | "close")
        || (n.kind == "report") != (n.seq == 0)
    {
        return Err(bad(Reason::Malformed {
            what: "incident message",
            detail: format!("`{}` at place {}", n.kind, n.seq),
        }));
    }
    let known = node
        .store()
        .incident_messages(&n.id)
        .await
        .map_err(|e| Refusal::internal(&t, e))?;
    // Exactly once: the same message again gets the same acknowledgement.
    if let Some(r) = known.iter().find(|r| !r.sent && r.seq == n.seq) {
        return r
            .ack
            .clone()
            .ok_or_else(|| Refusal::internal(&t, "a kept message without its acknowledgement"));
    }
    if n.seq > 0 && !known.iter().any(|r| !r.sent && r.seq == n.seq - 1) {
        return Err(bad(Reason::Malformed {
            what: "incident message",
            detail: format!("place {} before place {}", n.seq, n.seq - 1),
        }));
    }
    // The item must be one this party originated (and still knows).
    let ours = node
        .store()
        .item(&n.origin_item)
        .await
        .map_err(|e| Refusal::internal(&t, e))?
        .is_some_and(|i| i.originator == node.party());
    if !ours {
        return Err(bad(Reason::NotAllowed(vec![format!(
            "item {} is not one {} originated (rule 14: reports go to the originator)",
            n.origin_item,
            node.party()
        )])));
    }
    let now = node.now();
    let ack = IncidentNotice {
        kind: "ack".into(),
        text: String::new(),
        by: node.party().to_owned(),
        at: gsomia_core::time::to_wire(now),
        ..n.clone()
    }
    .seal(&node.signer().key);
    let row = IncidentRow {
        position: 0,
        incident: n.id.clone(),
        seq: n.seq,
        sent: false,
        party: n.holder.clone(),
        item: n.origin_item.clone(),
        bytes: body.to_vec(),
        at: now.to_string(),
        acked_at: Some(now.to_string()),
        ack: Some(ack.clone()),
        failed_at: None,
        failure: None,
    };
    let e = node
        .entry(
            Kind::IncidentReceived,
            Some(&n.origin_item),
            vec![
                ("incident", n.id.clone()),
                (
                    "from",
                    if n.holder == peer {
                        peer.to_owned()
                    } else {
                        format!("{} (through {peer})", n.holder)
                    },
                ),
                ("kind", n.kind.clone()),
                ("seq", n.seq.to_string()),
                (
                    "actual_or_possible",
                    if n.actual { "actual" } else { "possible" }.into(),
                ),
                ("text", n.text.clone()),
            ],
        )
        .map_err(|e| Refusal::internal(&t, e))?;
    match node
        .store()
        .commit(Batch {
            incidents: vec![row],
            entries: vec![e],
            ..Batch::default()
        })
        .await
    {
        Ok(_) => {}
        // A concurrent replay stored it first: its acknowledgement.
        Err(StoreError::Duplicate(_)) => {
            let rows = node
                .store()
                .incident_messages(&n.id)
                .await
                .map_err(|e| Refusal::internal(&t, e))?;
            return rows
                .into_iter()
                .find(|r| !r.sent && r.seq == n.seq)
                .and_then(|r| r.ack)
                .ok_or_else(|| {
                    Refusal::internal(&t, "a kept message without its acknowledgement")
                });
        }
        Err(e) => return Err(Refusal::internal(&t, e)),
    }
    show_now(node, &n.id).await;
    Ok(ack)
}

/// At a hub: a holder's report about an item this party relayed to it,
/// passed on to the originator at once; the originator's signed
/// acknowledgement (or its refusal by decision) is the answer. Nothing is
/// kept here but the ledger entry: the holder retries until acknowledged.
async fn relay(
    node: &Node,
    peer: &str,
    body: &[u8],
    n: &IncidentNotice,
) -> Result<Vec<u8>, Refusal> {
    let t = format!("{} #{}", n.id, n.seq);
    let bad = |reason: Reason| Refusal::new(&t, reason);
    let gave = node
        .store()
        .distribution(&n.origin_item)
        .await
        .map_err(|e| Refusal::internal(&t, e))?;
    let originator = node.partner(&n.originator);
    if !gave.iter().any(|p| p == peer) || originator.is_none() {
        return Err(bad(Reason::NotForUs {
            what: "incident message",
            to: n.originator.clone(),
            me: node.party().to_owned(),
        }));
    }
    let ack = match post_to(node, &n.originator, "incidents", body.to_vec()).await {
        Ok((p, ack)) => {
            IncidentNotice::open(&ack, p.key())
                .ok()
                .filter(|a| a.kind == "ack" && a.id == n.id && a.seq == n.seq)
                .ok_or_else(|| {
                    Refusal::internal(&t, "the originator's answer is not its acknowledgement")
                })?;
            ack
        }
        // The originator decided: that decision is the answer.
        Err(Failure::Refused(why)) => return Err(bad(Reason::NotAllowed(vec![why]))),
        Err(Failure::Retry(e)) => return Err(Refusal::internal(&t, e)),
    };
    // The hub's own record of the relay goes with the next flush (within
    // a tenth of a second): the acknowledgement it answers with is the originator's,
    // made durable there, and the holder keeps the report until it has it.
    match node.entry(
        Kind::IncidentReceived,
        None,
        vec![
            ("incident", n.id.clone()),
            ("from", peer.to_owned()),
            ("kind", format!("{} relayed to {}", n.kind, n.originator)),
            ("seq", n.seq.to_string()),
        ],
    ) {
        Ok(e) => node.ledger_soon(e),
        Err(e) => return Err(Refusal::internal(&t, e)),
    }
    Ok(ack)
}
