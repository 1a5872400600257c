//! Originators' consents to onward releases and hub relays (rule 9; rule 16
//! for the hub): given by a security officer, signed by the party, kept and
//! ledgered, sent to the holder; received from an originator, verified,
//! kept once and acknowledged with a signed receipt. A relay carries the
//! consent it relied on, so the final recipient decides again with the
//! originator's signature in hand.

use gsomia_api::{ConsentList, ConsentView, GrantConsent};
use gsomia_core::{Consent, ConsentScope, ItemId, Registry, TopicSet};
use gsomia_ledger::entry::{Entry, EntryError, Kind};
use gsomia_seal::message::{ConsentGrant, ConsentRevocation, Scope};
use gsomia_store::{Batch, Message, MessageKind, Outgoing, Person, StoreError};
use jiff::Timestamp;

use crate::error::{Class, Classified};
use crate::node::Node;
use crate::refusals::{Reason, Refusal};

/// Why a consent could not be given, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// A request that does not parse (an instant, a missing scope).
    #[error("{0}")]
    Invalid(String),
    /// A consent the rules refuse to give as asked (rule 9): parties,
    /// scope or term that do not hold together, a holder it cannot reach.
    #[error("{0}")]
    Refused(String),
    /// No such consent here.
    #[error("no consent `{0}`")]
    Unknown(String),
    /// A consent given by another party: only its originator revokes it.
    #[error("consent `{id}` was given by {by}; only its originator revokes it")]
    NotOurs {
        /// The consent.
        id: String,
        /// Who gave it.
        by: String,
    },
    /// Revoked already.
    #[error("consent `{0}` is already revoked")]
    Revoked(String),
    /// A kept consent that no longer decodes (the store was altered).
    #[error("kept consent `{0}` does not decode")]
    Corrupt(String),
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

impl Classified for ConsentError {
    fn class(&self) -> Class {
        match self {
            ConsentError::Invalid(_) => Class::BadRequest,
            ConsentError::Unknown(_) => Class::NotFound,
            ConsentError::NotOurs { .. } => Class::Forbidden,
            ConsentError::Refused(_) | ConsentError::Revoked(_) => Class::Refused,
            ConsentError::Role(e) => e.class(),
            ConsentError::Corrupt(_)
            | ConsentError::Entry(_)
            | ConsentError::Entropy(_)
            | ConsentError::Store(_) => Class::Internal,
        }
    }
}

/// Why a signed consent message does not describe a consent that holds.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// A party or topic these profiles do not know.
    #[error(transparent)]
    Lookup(#[from] gsomia_core::LookupError),
    /// An instant that is no instant.
    #[error(transparent)]
    Time(#[from] gsomia_core::time::TimeError),
    /// Scoped to topics but naming none.
    #[error("a consent names at least one topic")]
    NoTopic,
    /// Expiring no later than it is given.
    #[error("the consent expires before it is given")]
    Expired,
    /// Not a release by another party to a third party.
    #[error("a consent is for a release by another party to a third party")]
    NotThirdParty,
}

/// The core consent a signed consent message describes.
pub fn core_consent(
    reg: &Registry,
    g: &ConsentGrant,
    revoked_at: Option<Timestamp>,
) -> Result<Consent, ShapeError> {
    let party = |s: &str| reg.party(s);
    let scope = match &g.scope {
        Scope::Item(id) => ConsentScope::Item(ItemId::new(id.clone())),
        Scope::Topics(topics) => {
            let mut set = TopicSet::EMPTY;
            for t in topics {
                let r = reg.topic(t)?;
                set = set.union(&reg.topics().subtree(r));
            }
            if set.is_empty() {
                return Err(ShapeError::NoTopic);
            }
            ConsentScope::Topics(set)
        }
    };
    let instant = gsomia_core::time::from_wire;
    let c = Consent {
        originator: party(&g.originator)?,
        holder: party(&g.holder)?,
        recipient: party(&g.recipient)?,
        scope,
        granted_at: instant(g.granted_at)?,
        expires_at: instant(g.expires_at)?,
        revoked_at,
    };
    if c.expires_at <= c.granted_at {
        return Err(ShapeError::Expired);
    }
    if c.holder == c.originator || c.recipient == c.originator || c.holder == c.recipient {
        return Err(ShapeError::NotThirdParty);
    }
    Ok(c)
}

/// Every revocation kept here: (consent id, instant).
async fn revocations(node: &Node) -> Result<Vec<(String, Timestamp)>, ConsentError> {
    let mut out = Vec::new();
    for m in node.store().messages(MessageKind::Revocation).await? {
        let r =
            ConsentRevocation::decode(&m.body).map_err(|_| ConsentError::Corrupt(m.id.clone()))?;
        let at = gsomia_core::time::from_wire(r.revoked_at)
            .map_err(|_| ConsentError::Corrupt(m.id.clone()))?;
        out.push((r.consent, at));
    }
    Ok(out)
}

/// The consents this node holds (as the releasing party), with their signed
/// bytes, revocations applied. One that no longer resolves is skipped and logged.
pub async fn held(node: &Node, reg: &Registry) -> Result<Vec<(Consent, Vec<u8>)>, ConsentError> {
    let revoked = revocations(node).await?;
    let mut out = Vec::new();
    for m in node.store().messages(MessageKind::Consent).await? {
        let g = ConsentGrant::decode(&m.body).map_err(|_| ConsentError::Corrupt(m.id.clone()))?;
        if g.holder != node.party() {
            continue;
        }
        let at = revoked.iter().find(|(id, _)| *id == g.id).map(|(_, t)| *t);
        match core_consent(reg, &g, at) {
            Ok(c) => out.push((c, m.body)),
            Err(e) => tracing::warn!(consent = %g.id, error = %e, "consent skipped"),
        }
    }
    Ok(out)
}

/// Verifies the consents carried by an envelope: each signed by its
/// originator (a known partner), returned as core consents.
pub fn carried(node: &Node, reg: &Registry, carried: &[Vec<u8>]) -> Result<Vec<Consent>, Reason> {
    let mut out = Vec::new();
    for bytes in carried {
        let claimed = ConsentGrant::decode(bytes).map_err(|e| Reason::Consent(e.to_string()))?;
        let originator = node.partner(&claimed.originator).ok_or_else(|| {
            Reason::Consent(format!(
                "{} is from {}, whose key this node does not know",
                claimed.id, claimed.originator
            ))
        })?;
        let g = ConsentGrant::open(bytes, originator.key())
            .map_err(|e| Reason::Consent(format!("{}: {e}", claimed.id)))?;
        out.push(
            core_consent(reg, &g, None).map_err(|e| Reason::Consent(format!("{}: {e}", g.id)))?,
        );
    }
    Ok(out)
}

fn view(g: &ConsentGrant, revoked: Option<Timestamp>, sent_to: Option<Vec<String>>) -> ConsentView {
    let (item, topics) = match &g.scope {
        Scope::Item(id) => (Some(id.clone()), None),
        Scope::Topics(t) => (None, Some(t.clone())),
    };
    ConsentView {
        id: g.id.clone(),
        originator: g.originator.clone(),
        holder: g.holder.clone(),
        recipient: g.recipient.clone(),
        item,
        topics,
        granted_at: crate::clock::wire_text(g.granted_at),
        expires_at: crate::clock::wire_text(g.expires_at),
        revoked_at: revoked.map(|t| t.to_string()),
        sent_to,
    }
}

/// A message queued for one partner. Its outbox id is the message's id and
/// the partner's; a revocation has its consent's id, so its outbox id says
/// it is one (the grant and its revocation are two rows).
pub(crate) fn outgoing(
    node: &Node,
    kind: MessageKind,
    id: &str,
    to: &str,
    body: &[u8],
) -> Outgoing {
    let transfer = match kind {
        MessageKind::Revocation => format!("{id}>{to}/revocation"),
        _ => format!("{id}>{to}"),
    };
    let mut o = Outgoing {
        kind,
        transfer,
        item: id.to_owned(),
        recipient: to.to_owned(),
        envelope: body.to_vec(),
        attempts: 0,
        next_attempt_at: node.now().as_second(),
        custody: None,
        released_by: None,
    };
    crate::custody::tag_outgoing(node.custody(), &mut o);
    o
}

fn entry(
    node: &Node,
    g: &ConsentGrant,
    revoked: Option<Timestamp>,
    by: &str,
) -> Result<Entry, EntryError> {
    let scope = match &g.scope {
        Scope::Item(id) => format!("item {id}"),
        Scope::Topics(t) => format!("topics {}", t.join(",")),
    };
    let mut fields = vec![
        ("originator", format!("{} ({by})", g.originator)),
        ("recipient", g.recipient.clone()),
        ("holder", g.holder.clone()),
        ("scope", format!("{scope}; consent {}", g.id)),
        ("expires_at", crate::clock::wire_text(g.expires_at)),
    ];
    if let Some(r) = revoked {
        fields.push(("revoked_at", r.to_string()));
    }
    node.entry(Kind::Consent, None, fields)
}

/// The party, as originator, consents to a release by a holder to a
/// recipient: signed, ledgered and queued for the holder.
pub async fn grant(
    node: &Node,
    person: &Person,
    req: &GrantConsent,
) -> Result<ConsentView, ConsentError> {
    crate::register::security_officer(node, person, "give consents")?;
    let now = node.now();
    let expires = gsomia_core::time::parse_instant(&req.expires_at)
        .map_err(|e| ConsentError::Invalid(format!("`expires_at`: {e}")))?;
    let scope = match (&req.item, &req.topics) {
        (Some(item), None) => {
            let held = node.store().item(item).await?;
            if held.is_none_or(|i| i.originator != node.party()) {
                return Err(ConsentError::Refused(format!(
                    "`{item}` is not an item this party originated"
                )));
            }
            Scope::Item(item.clone())
        }
        (None, Some(t)) if !t.is_empty() => Scope::Topics(t.clone()),
        _ => {
            return Err(ConsentError::Invalid(
                "give exactly one of `item` and `topics`".into(),
            ));
        }
    };
    if node.partner(&req.holder).is_none() {
        return Err(ConsentError::Refused(format!(
            "{} is not a configured partner: the consent could not reach it",
            req.holder
        )));
    }
    let id = crate::ids::new_id(&format!("{}-c", node.party()), now)?;
    let g = ConsentGrant {
        id: id.clone(),
        originator: node.party().to_owned(),
        holder: req.holder.clone(),
        recipient: req.recipient.clone(),
        scope,
        granted_at: gsomia_core::time::to_wire(now),
        expires_at: gsomia_core::time::to_wire(expires),
    };
    core_consent(&node.registry(), &g, None).map_err(|e| ConsentError::Refused(e.to_string()))?;
    let body = g.seal(&node.signer().key);
    let e = entry(node, &g, None, &person.id)?;
    node.store()
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Consent,
                id: id.clone(),
                party: node.party().to_owned(),
                body: body.clone(),
                stored_at: now.to_string(),
            }],
            outgoing: vec![outgoing(
                node,
                MessageKind::Consent,
                &id,
                &req.holder,
                &body,
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    node.wake_outbox();
    Ok(view(&g, None, Some(vec![req.holder.clone()])))
}

/// Consents this party gave or holds, revocations applied.
pub async fn list(node: &Node, page: &gsomia_api::Page) -> Result<ConsentList, ConsentError> {
    let revoked = revocations(node).await?;
    let mut consents = Vec::new();
    for m in node.store().messages(MessageKind::Consent).await? {
        let g = ConsentGrant::decode(&m.body).map_err(|_| ConsentError::Corrupt(m.id.clone()))?;
        let r = revoked.iter().find(|(id, _)| *id == g.id).map(|(_, t)| *t);
        consents.push(view(&g, r, None));
    }
    let (consents, next) = crate::pages::page_of(consents, page).map_err(ConsentError::Invalid)?;
    Ok(ConsentList { consents, next })
}

/// Revokes a consent this party gave, from now; the holder is told.
pub async fn revoke(node: &Node, person: &Person, id: &str) -> Result<ConsentView, ConsentError> {
    crate::register::security_officer(node, person, "revoke consents")?;
    let m = node
        .store()
        .message(MessageKind::Consent, id)
        .await?
        .ok_or_else(|| ConsentError::Unknown(id.to_owned()))?;
    let g = ConsentGrant::decode(&m.body).map_err(|_| ConsentError::Corrupt(id.to_owned()))?;
    if g.originator != node.party() {
        return Err(ConsentError::NotOurs {
            id: id.to_owned(),
            by: g.originator,
        });
    }
    let now = node.now();
    let r = ConsentRevocation {
        consent: id.to_owned(),
        originator: node.party().to_owned(),
        revoked_at: gsomia_core::time::to_wire(now),
    };
    let body = r.seal(&node.signer().key);
    let e = entry(node, &g, Some(now), &person.id)?;
    let committed = node
        .store()
        .commit(Batch {
            messages: vec![Message {
                kind: MessageKind::Revocation,
                id: id.to_owned(),
                party: node.party().to_owned(),
                body: body.clone(),
                stored_at: now.to_string(),
            }],
            outgoing: vec![outgoing(
                node,
                MessageKind::Revocation,
                id,
                &g.holder,
                &body,
            )],
            entries: vec![e],
            ..Batch::default()
        })
        .await;
    match committed {
        Ok(_) => {}
        Err(StoreError::Duplicate(_) | StoreError::Exists(_)) => {
            return Err(ConsentError::Revoked(id.to_owned()));
        }
        Err(e) => return Err(e.into()),
    }
    node.wake_outbox();
    Ok(view(&g, Some(now), Some(vec![g.holder.clone()])))
}

/// The partner that signed a message: the party it claims must be the one
/// the connection authenticated as, and a partner.
pub(crate) fn signer(
    node: &Node,
    peer: &str,
    id: &str,
    what: &'static str,
    claimed: &str,
) -> Result<std::sync::Arc<crate::partner::Partner>, Refusal> {
    if claimed != peer {
        return Err(Refusal::new(
            id,
            Reason::NotFromPeer {
                what,
                claimed: claimed.to_owned(),
                peer: peer.to_owned(),
            },
        ));
    }
    node.partner(peer)
        .ok_or_else(|| Refusal::new(id, Reason::NotPartner(peer.to_owned())))
}

/// Stores a received message with its ledger entry and answers with a
/// receipt (a replay is acknowledged again, with no second effect).
async fn keep(
    node: &Node,
    kind: MessageKind,
    id: &str,
    peer: &str,
    body: &[u8],
    e: Entry,
) -> Result<Vec<u8>, Refusal> {
    let committed = node
        .store()
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
        Err(e) => return Err(Refusal::internal(id, e)),
    };
    node.checkpoints()
        .receipt(node.party(), id, id, duplicate)
        .await
        .map_err(|e| Refusal::internal(id, e))
}

fn malformed(what: &'static str) -> impl Fn(gsomia_seal::transfer::TransferError) -> Refusal {
    move |e| {
        Refusal::unnamed(Reason::Malformed {
            what,
            detail: e.to_string(),
        })
    }
}

/// A consent from its originator to this node as holder.
pub async fn receive_consent(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = ConsentGrant::decode(body).map_err(malformed("consent"))?;
    let id = claimed.id.clone();
    let partner = signer(node, peer, &id, "consent", &claimed.originator)?;
    let g = ConsentGrant::open(body, partner.key()).map_err(|e| {
        Refusal::new(
            &id,
            Reason::Signature {
                what: "consent",
                detail: e.to_string(),
            },
        )
    })?;
    if g.holder != node.party() {
        return Err(Refusal::new(
            &id,
            Reason::NotHolder {
                holder: g.holder.clone(),
                me: node.party().to_owned(),
            },
        ));
    }
    core_consent(&node.registry(), &g, None)
        .map_err(|e| Refusal::new(&id, Reason::Consent(e.to_string())))?;
    let e = entry(node, &g, None, "received").map_err(|e| Refusal::internal(&id, e))?;
    keep(node, MessageKind::Consent, &id, peer, body, e).await
}

/// The originator revokes a consent this node holds.
pub async fn receive_revocation(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = ConsentRevocation::decode(body).map_err(malformed("revocation"))?;
    let id = claimed.consent.clone();
    let partner = signer(node, peer, &id, "revocation", &claimed.originator)?;
    let r = ConsentRevocation::open(body, partner.key()).map_err(|e| {
        Refusal::new(
            &id,
            Reason::Signature {
                what: "revocation",
                detail: e.to_string(),
            },
        )
    })?;
    let m = node
        .store()
        .message(MessageKind::Consent, &id)
        .await
        .map_err(|e| Refusal::internal(&id, e))?
        .ok_or_else(|| {
            Refusal::new(&id, Reason::Consent(format!("no consent `{id}` held here")))
        })?;
    let g = ConsentGrant::decode(&m.body).map_err(|e| Refusal::internal(&id, e))?;
    if g.originator != peer || r.originator != peer {
        return Err(Refusal::new(
            &id,
            Reason::Consent(format!("`{id}` was given by {}, not {peer}", g.originator)),
        ));
    }
    let at = gsomia_core::time::from_wire(r.revoked_at)
        .map_err(|e| Refusal::new(&id, Reason::Consent(e.to_string())))?;
    let e = entry(node, &g, Some(at), "received").map_err(|e| Refusal::internal(&id, e))?;
    keep(node, MessageKind::Revocation, &id, peer, body, e).await
}
