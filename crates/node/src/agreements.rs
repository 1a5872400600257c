//! Agreement events (notices, suspensions, withdrawals): entered by a
//! security officer, signed by the party, kept and ledgered, and sent to
//! every partner to the agreement; received from a partner, verified,
//! decided again against this node's own view, kept and ledgered exactly
//! once. Both sides replay the same signed events, so both compute the
//! same status.

use gsomia_api::{AgreementList, AgreementStatus, EnterEvent, EnteredEvent};
use gsomia_core::agreement::{Event, EventKind};
use gsomia_core::{AgreementRef, Registry};
use gsomia_ledger::entry::{EntryError, Kind};
use gsomia_seal::message::AgreementEvent;
use gsomia_store::{Batch, Message, MessageKind, Person, Store, StoreError};
use jiff::Timestamp;

use crate::error::{Class, Classified};
use crate::node::Node;
use crate::refusals::{Reason, Refusal};

/// The largest difference accepted between an event's instant and this
/// node's clock in the future direction (an act cannot be dated ahead).
pub const MAX_AHEAD: std::time::Duration = std::time::Duration::from_secs(300);

/// Why an event could not be entered or an agreement shown.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    /// An instant or name in the request that does not resolve.
    #[error("{0}")]
    Invalid(String),
    /// The agreement's status could not be computed at the instant asked.
    #[error("status")]
    Status(#[from] gsomia_core::time::TimeError),
    /// The event message does not describe an event here.
    #[error(transparent)]
    Event(#[from] EventError),
    /// No such agreement.
    #[error("{0}")]
    NotFound(String),
    /// The rules refuse the event (no effect, wrong party, mutual act, …).
    #[error("{0}")]
    Refused(String),
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// The ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// No randomness for an id.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classified for AgreementError {
    fn class(&self) -> Class {
        match self {
            AgreementError::Invalid(_) | AgreementError::Status(_) | AgreementError::Event(_) => {
                Class::BadRequest
            }
            AgreementError::NotFound(_) => Class::NotFound,
            AgreementError::Refused(_) => Class::Refused,
            AgreementError::Role(e) => e.class(),
            AgreementError::Entry(_) | AgreementError::Entropy(_) | AgreementError::Store(_) => {
                Class::Internal
            }
        }
    }
}

/// Why a signed event message does not describe an event here.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// An agreement or party these profiles do not know.
    #[error(transparent)]
    Lookup(#[from] gsomia_core::LookupError),
    /// A kind of event that does not exist.
    #[error(
        "unknown event kind `{0}` (notice, suspend_notice, lift_suspension, withdraw_notice, announcement)"
    )]
    Kind(String),
    /// An instant that is no instant.
    #[error(transparent)]
    Time(#[from] gsomia_core::time::TimeError),
}

/// The core event (and its agreement) a signed event message describes.
pub fn core_event(
    reg: &Registry,
    ev: &AgreementEvent,
) -> Result<(AgreementRef, Event), EventError> {
    let a = reg.agreement_ref(&ev.agreement)?;
    let kind = EventKind::parse(&ev.kind).ok_or_else(|| EventError::Kind(ev.kind.clone()))?;
    let by = reg.party(&ev.by)?;
    Ok((
        a,
        Event {
            at: gsomia_core::time::from_wire(ev.at)?,
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

/// A kept event that no longer replays onto the profiles.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event that does not decode or no longer records.
    #[error("kept agreement event `{id}`: {what}")]
    Event {
        /// The event's id.
        id: String,
        /// What is wrong.
        what: String,
    },
}

/// The profiles with every agreement event kept in `store` (entered here
/// or received from partners) replayed on top, oldest first; events the
/// profiles already hold are skipped.
pub async fn replay(store: &dyn Store, registry: Registry) -> Result<Registry, ReplayError> {
    let mut registry = registry;
    for m in store.messages(MessageKind::Event).await? {
        let err = |what: String| ReplayError::Event {
            id: m.id.clone(),
            what,
        };
        let ev = AgreementEvent::decode(&m.body).map_err(|e| err(e.to_string()))?;
        let (a, event) = core_event(&registry, &ev).map_err(|e| err(e.to_string()))?;
        if already_recorded(&registry, a, &event) {
            continue;
        }
        registry = registry
            .record_event(a, event)
            .map_err(|e| err(format!("no longer replays: {e}")))?
            .0;
    }
    Ok(registry)
}

/// An agreement's status at `at`, as the API shows it.
pub fn status(
    reg: &Registry,
    a: AgreementRef,
    at: Timestamp,
) -> Result<AgreementStatus, gsomia_core::time::TimeError> {
    let x = reg.agreement(a).ok_or_else(|| {
        gsomia_core::time::TimeError::OutOfRange("an agreement of another registry".into())
    })?;
    let s = reg.status(a, at)?;
    Ok(AgreementStatus {
        agreement: reg.agreement_id(a).to_owned(),
        title: x.title().to_owned(),
        at: at.to_string(),
        state: s.state.as_str().to_owned(),
        in_force: s.in_force,
        version: s.version,
        parties: x
            .parties()
            .iter()
            .map(|p| reg.party_id(*p).to_owned())
            .collect(),
        events: x.events().len() as u64,
        reasons: gsomia_core::explain::texts(&s.reasons),
    })
}

/// Every agreement this party is in, with its status now.
pub fn list(node: &Node) -> Result<AgreementList, AgreementError> {
    let reg = node.registry();
    let at = node.now();
    let agreements = reg
        .agreement_refs()
        .filter(|a| reg.agreement(*a).is_some_and(|x| x.has_party(node.me())))
        .map(|a| status(&reg, a, at))
        .collect::<Result<_, _>>()?;
    Ok(AgreementList {
        at: at.to_string(),
        agreements,
    })
}

/// One agreement's status now.
pub fn show(node: &Node, id: &str) -> Result<AgreementStatus, AgreementError> {
    let reg = node.registry();
    let a = reg
        .agreement_ref(id)
        .map_err(|e| AgreementError::NotFound(e.to_string()))?;
    Ok(status(&reg, a, node.now())?)
}

/// Records an event of this party: signed, ledgered and queued for every
/// partner to the agreement.
pub async fn enter(
    node: &Node,
    person: &Person,
    agreement: &str,
    req: &EnterEvent,
) -> Result<EnteredEvent, AgreementError> {
    crate::register::security_officer(node, person, "enter agreement events")?;
    let now = node.now();
    let at = match &req.at {
        Some(s) => gsomia_core::time::parse_instant(s)
            .map_err(|e| AgreementError::Invalid(format!("`at`: {e}")))?,
        None => now,
    };
    if at.as_second() > now.as_second() + MAX_AHEAD.as_secs() as i64 {
        return Err(AgreementError::Refused(format!(
            "`at` {at} is in the future (the node's clock reads {now})"
        )));
    }
    let kind = req.kind.as_str();
    let id = crate::ids::new_id(&format!("{}-e", node.party()), now)?;
    let msg = AgreementEvent {
        id: id.clone(),
        agreement: agreement.to_owned(),
        kind: kind.to_owned(),
        at: gsomia_core::time::to_wire(at),
        by: node.party().to_owned(),
        written_diplomatic: req.written_diplomatic.unwrap_or(true),
        summary: req
            .summary
            .clone()
            .unwrap_or_else(|| format!("{kind} entered by {}", person.id)),
    };
    let _guard = node.agreements_lock().lock().await;
    let reg = node.registry();
    reg.agreement_ref(agreement)
        .map_err(|e| AgreementError::NotFound(e.to_string()))?;
    let (a, event) = core_event(&reg, &msg)?;
    let (next, effect) = reg
        .record_event(a, event)
        .map_err(|e| AgreementError::Refused(e.to_string()))?;
    let body = msg.seal(&node.signer().key);
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
    for p in parties.iter().filter(|p| *p != node.party()) {
        if node.partner(p).is_some() {
            queue.push(crate::consents::outgoing(
                node,
                MessageKind::Event,
                &id,
                p,
                &body,
            ));
            sent_to.push(p.clone());
        } else {
            not_sent.push(format!("{p} (not a configured partner)"));
        }
    }
    let e = node.entry(
        Kind::AgreementEvent,
        None,
        vec![
            ("agreement", agreement.to_owned()),
            ("event", format!("{kind} at {at} ({id})")),
            ("by", format!("{} ({})", node.party(), person.id)),
            ("summary", effect.to_string()),
        ],
    )?;
    node.store()
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Event,
                id: id.clone(),
                party: node.party().to_owned(),
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
    node.wake_outbox();
    let reg = node.registry();
    Ok(EnteredEvent {
        id,
        agreement: agreement.to_owned(),
        kind: req.kind,
        at: at.to_string(),
        effect: effect.to_string(),
        status: status(&reg, a, now)?,
        sent_to,
        not_sent,
    })
}

/// An agreement event from the partner that acted.
pub async fn receive(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = AgreementEvent::decode(body).map_err(|e| {
        Refusal::unnamed(Reason::Malformed {
            what: "agreement event",
            detail: e.to_string(),
        })
    })?;
    let id = claimed.id.clone();
    let partner = crate::consents::signer(node, peer, &id, "event", &claimed.by)?;
    let ev = AgreementEvent::open(body, partner.key()).map_err(|e| {
        Refusal::new(
            &id,
            Reason::Signature {
                what: "event",
                detail: e.to_string(),
            },
        )
    })?;
    if node
        .store()
        .message(MessageKind::Event, &id)
        .await
        .map_err(|e| Refusal::internal(&id, e))?
        .is_some()
    {
        return node
            .checkpoints()
            .receipt(node.party(), &id, &id, true)
            .await
            .map_err(|e| Refusal::internal(&id, e));
    }
    let now = node.now();
    let guard = node.agreements_lock().lock().await;
    let reg = node.registry();
    let (a, event) =
        core_event(&reg, &ev).map_err(|e| Refusal::new(&id, Reason::Event(e.to_string())))?;
    if !reg
        .agreement(a)
        .is_some_and(|x| x.has_party(node.me()) && x.has_party(event.by.unwrap_or(node.me())))
    {
        return Err(Refusal::new(
            &id,
            Reason::Event(format!(
                "{} is not an agreement between {peer} and {}",
                ev.agreement,
                node.party()
            )),
        ));
    }
    if event.at.as_second() > now.as_second() + MAX_AHEAD.as_secs() as i64 {
        return Err(Refusal::new(
            &id,
            Reason::Event(format!(
                "event instant {} is in the future here ({now})",
                event.at
            )),
        ));
    }
    let event_at = event.at;
    let (next, effect) = if already_recorded(&reg, a, &event) {
        (None, "already in this node's profile".to_owned())
    } else {
        let (next, effect) = reg
            .record_event(a, event)
            .map_err(|e| Refusal::new(&id, Reason::Event(format!("not recorded here: {e}"))))?;
        (Some(next), effect.to_string())
    };
    let e = node
        .entry(
            Kind::AgreementEvent,
            None,
            vec![
                ("agreement", ev.agreement.clone()),
                ("event", format!("{} at {event_at} ({id})", ev.kind)),
                ("by", ev.by.clone()),
                ("summary", effect),
            ],
        )
        .map_err(|e| Refusal::internal(&id, e))?;
    let committed = node
        .store()
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
        Err(e) => return Err(Refusal::internal(&id, e)),
    };
    drop(guard);
    node.checkpoints()
        .receipt(node.party(), &id, &id, duplicate)
        .await
        .map_err(|e| Refusal::internal(&id, e))
}
