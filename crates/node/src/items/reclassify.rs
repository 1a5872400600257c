//! Reclassification (rule 8; Art 6): only the originator changes an item's
//! classification, by a signed notice; every holder follows it.
//!
//! A notice is kept once (the fact), then every row here converges to it:
//! the item, its copies and the same item received by another route are
//! sealed anew at rest under the originator's label at the new level (the
//! number of the notice in the label, so a row never goes back to an older
//! one), with this party's equivalent label recorded anew; translations
//! and derived documents made from it get their level recomputed by the
//! aggregation rule. Each changed row is ledgered (`reclassified`), so its
//! history keeps the levels it had. A notice is forwarded to every party a
//! row of the item went to from here — the hub passes the originator's
//! signed bytes on unchanged — and each acknowledges it with a signed
//! receipt. An item that arrives after its notice is sealed under the new
//! label before it is stored. A node that stops between keeping a notice
//! and converging converges at start.

use gsomia_api::{AppliedRow, Reclassification, ReclassificationList, ReclassifyItem};
use gsomia_core::reclassification::{
    aggregate, decide_reclassification, equivalent_after, notice_number, relabel,
};
use gsomia_core::{Label, LevelRef, Registry};
use gsomia_ledger::entry::{Entry, Kind};
use gsomia_seal::item::WireLabel;
use gsomia_seal::message::ReclassificationNotice;
use gsomia_store::{Batch, Item, Message, MessageKind, Person, StoreError};

use super::ItemError;
use crate::labels::{from_wire, to_wire};
use crate::lineage::{Lineage, Source};
use crate::node::Node;
use crate::refusals::{Reason, Refusal};

/// The longest reason a notice carries.
pub const MAX_REASON: usize = 2000;

/// `gsomia item reclassify`: the originator's officer changes the level of
/// one of the party's own items. Anyone else is refused citing rule 8.
pub async fn reclassify(
    node: &Node,
    person: &Person,
    id: &str,
    req: &ReclassifyItem,
) -> Result<Reclassification, ItemError> {
    crate::register::not_auditor(node, person, "reclassify items")?;
    let reason = req.reason.trim();
    if !gsomia_api::has_text(&req.reason) || req.reason.chars().count() > MAX_REASON {
        return Err(ItemError::Invalid(format!(
            "a reclassification needs a `reason` of 1 to {MAX_REASON} characters (the written notice's)"
        )));
    }
    let (item, _, _) = super::decide_read_held(node, person, id, "reclassify").await?;
    let v = super::verified(node, &item).await?;
    let reg = node.registry();
    let original = v.labels.original().clone();
    // Only the originator (rule 8): said before anything about the level.
    let level = if original.originator == node.me() {
        reg.level(node.me(), &req.level)
            .map_err(|e| ItemError::Invalid(e.to_string()))?
    } else {
        original.level
    };
    if let Err(r) = decide_reclassification(&reg, &v.labels, node.me(), level) {
        let reasons = r.iter().map(|r| reg.explain_reclassification(r)).collect();
        return Err(super::holding::refuse(node, person, "reclassify", Some(id), reasons).await);
    }
    let at = node.now();
    let notice = ReclassificationNotice {
        id: crate::ids::new_id(&format!("{}-r", node.party()), at)?,
        originator: node.party().to_owned(),
        origin_item: item.origin_item.clone(),
        seq: notice_number(&original).saturating_add(1),
        level: reg.level_name(level).to_owned(),
        previous: reg.level_name(original.level).to_owned(),
        reason: reason.to_owned(),
        by: person.id.clone(),
        at: gsomia_core::time::to_wire(at),
    };
    let bytes = notice.seal(&node.signer().key);
    keep(node, &notice, &bytes, None).await?;
    converge(node, &notice.origin_item).await?;
    view(node, &notice, None).await
}

/// Keeps a verified notice, ledgered, with its forwards to the item's
/// distribution here queued in the same commit; `false` when it was kept
/// before (a replay, or the same notice by another route).
async fn keep(
    node: &Node,
    n: &ReclassificationNotice,
    bytes: &[u8],
    from: Option<&str>,
) -> Result<bool, ItemError> {
    let mut batch = Batch {
        messages: vec![Message {
            kind: MessageKind::Reclassification,
            id: n.id.clone(),
            party: from.unwrap_or(node.party()).to_owned(),
            body: bytes.to_vec(),
            stored_at: node.now().to_string(),
        }],
        ..Batch::default()
    };
    for to in node.store().distribution(&n.origin_item).await? {
        if Some(to.as_str()) != from && to != n.originator && to != node.party() {
            batch.outgoing.push(forward(node, n, &to, bytes));
        }
    }
    match node.store().commit(batch).await {
        Ok(_) => {}
        Err(StoreError::Duplicate(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    node.notices().note(n.clone());
    node.wake_outbox();
    Ok(true)
}

fn forward(
    node: &Node,
    n: &ReclassificationNotice,
    to: &str,
    bytes: &[u8],
) -> gsomia_store::Outgoing {
    crate::consents::outgoing(node, MessageKind::Reclassification, &n.id, to, bytes)
}

/// What a row becomes under a notice: its new sealed bytes and labels.
struct Relabelled {
    sealed: Vec<u8>,
    label: WireLabel,
    equivalent: Option<WireLabel>,
    covered: bool,
}

/// The originator's label at the notice's level, and this party's
/// equivalent of it (for an item of another originator), sealed at rest
/// with `content`.
fn relabelled(
    node: &Node,
    reg: &Registry,
    original: &Label,
    n: &ReclassificationNotice,
    content: &[u8],
) -> Result<Relabelled, ItemError> {
    let at = node.now();
    let level = reg
        .level(original.originator, &n.level)
        .map_err(|e| ItemError::Invalid(format!("notice {}: {e}", n.id)))?;
    let new = relabel(original, level, n.seq);
    let (equivalent, covered) = if new.originator == node.me() {
        (None, true)
    } else {
        let (l, covered) = equivalent_after(reg, level, node.me(), at).ok_or_else(|| {
            ItemError::Invalid(format!("{} has no classified level", node.party()))
        })?;
        (
            Some(to_wire(
                reg,
                &Label {
                    level: l,
                    ..new.clone()
                },
            )),
            covered,
        )
    };
    let wire = to_wire(reg, &new);
    let sealing = node.sealing();
    let sealed = sealing.seal_for(at, node.party(), &sealing.own_key(), &wire, content)?;
    Ok(Relabelled {
        sealed,
        label: wire,
        equivalent,
        covered,
    })
}

/// An arriving item as a kept notice makes it.
pub(crate) struct Arriving {
    /// Sealed at rest under the new label.
    pub sealed: Vec<u8>,
    /// The originator's label at the new level.
    pub label: WireLabel,
    /// This party's equivalent of it.
    pub equivalent: Option<WireLabel>,
    /// The `reclassified` entry.
    pub entry: Entry,
}

/// An item arriving under a label older than a notice kept here: its
/// sealed bytes and labels under the notice instead, and the entry that
/// says so. `None` when no newer notice is kept for it.
pub(crate) fn arriving(
    node: &Node,
    reg: &Registry,
    origin_item: &str,
    label: &Label,
    content: &[u8],
    id: &str,
) -> Option<Result<Arriving, ItemError>> {
    let n = node.notices().latest(origin_item)?;
    if n.seq <= notice_number(label) {
        return None;
    }
    Some(relabelled(node, reg, label, &n, content).and_then(|r| {
        let entry = entry(node, reg, &n, id, label, &r, None)?;
        Ok(Arriving {
            sealed: r.sealed,
            label: r.label,
            equivalent: r.equivalent,
            entry,
        })
    }))
}

fn entry(
    node: &Node,
    reg: &Registry,
    n: &ReclassificationNotice,
    id: &str,
    before: &Label,
    r: &Relabelled,
    source: Option<&str>,
) -> Result<Entry, ItemError> {
    let mut fields = vec![
        ("notice", n.id.clone()),
        ("originator", n.originator.clone()),
        ("seq", n.seq.to_string()),
        ("from", reg.level_name(before.level).to_owned()),
        ("to", r.label.level.clone()),
        (
            "label",
            crate::ids::hex(&<sha2::Sha256 as sha2::Digest>::digest(r.label.to_bytes())),
        ),
        ("reason", n.reason.clone()),
        ("by", n.by.clone()),
    ];
    if let Some(eq) = &r.equivalent {
        fields.push(("equivalent", format!("{} ({})", eq.level, eq.policy)));
        fields.push(("covered", r.covered.to_string()));
    }
    if let Some(s) = source {
        fields.push(("source", s.to_owned()));
    }
    Ok(node.entry(Kind::Reclassified, Some(id), fields)?)
}

/// Brings every row of `origin_item` here (and every document made from
/// one) to the latest notice kept for it; rows already there are left
/// alone. Serialised: one convergence at a time.
pub(crate) async fn converge(node: &Node, origin_item: &str) -> Result<usize, ItemError> {
    let Some(n) = node.notices().latest(origin_item) else {
        return Ok(0);
    };
    let _one = node.notices().converging.lock().await;
    // A row destroyed or returned between the read and the commit: read
    // again and try once more.
    for _ in 0..3 {
        match converge_once(node, &n).await {
            Err(ItemError::Store(StoreError::Gone(_))) => continue,
            r => return r,
        }
    }
    converge_once(node, &n).await
}

async fn converge_once(node: &Node, n: &ReclassificationNotice) -> Result<usize, ItemError> {
    let reg = node.registry();
    let mut batch = Batch::default();
    // The rows of the item: the item, its copies, the same item by another route.
    let mut opened: Option<Relabelled> = None;
    for item in node.store().items_of_origin(&n.origin_item).await? {
        // Only the originator's own item follows its notice (rule 8).
        if item.disposal.is_some() || item.originator != n.originator {
            continue;
        }
        let v = super::verified(node, &item).await?;
        let original = v.labels.original().clone();
        if notice_number(&original) >= n.seq {
            continue;
        }
        // Copies share their source's sealed bytes: sealed anew once.
        let r = match opened.take() {
            Some(r) => r,
            None => {
                let content = open(node, &item).await?;
                relabelled(node, &reg, &original, n, &content)?
            }
        };
        batch
            .entries
            .push(entry(node, &reg, n, &item.id, &original, &r, None)?);
        batch
            .relabelled
            .push(row(node, &item, &r, item.lineage.clone())?);
        opened = Some(r);
    }
    // Documents made here from it: their parts' labels, and their level by
    // the aggregation rule.
    if let Some(r) = &opened {
        for doc in node.store().documents_made().await? {
            made_from(node, &reg, n, r, &doc, &mut batch).await?;
        }
    }
    let changed = batch.relabelled.len();
    if changed == 0 {
        return Ok(0);
    }
    node.store().commit(batch).await?;
    Ok(changed)
}

/// The content of a held row (sealed to this party).
async fn open(node: &Node, item: &Item) -> Result<Vec<u8>, ItemError> {
    match node.sealing().open(&item.sealed, None) {
        Ok((_, c)) => Ok(c),
        Err(e) => Err(super::unopened(node, &item.id, &e).await),
    }
}

/// The row `item` under `r`, tagged (its level index recomputed).
fn row(
    node: &Node,
    item: &Item,
    r: &Relabelled,
    lineage: Option<Vec<u8>>,
) -> Result<Item, ItemError> {
    let mut out = Item {
        sealed: r.sealed.clone(),
        label: r.label.to_bytes(),
        equivalent_label: r.equivalent.as_ref().map(WireLabel::to_bytes),
        lineage,
        binding: None,
        custody: None,
        index: None,
        ..item.clone()
    };
    crate::custody::tag_item(node.custody(), &mut out).map_err(ItemError::Integrity)?;
    Ok(out)
}

/// A document made here that draws on the notice's item: its lineage's
/// record of that part replaced, its level recomputed from its parts
/// (never below a level its author chose above them), sealed anew, and
/// its copies with it.
async fn made_from(
    node: &Node,
    reg: &Registry,
    n: &ReclassificationNotice,
    r: &Relabelled,
    doc: &Item,
    batch: &mut Batch,
) -> Result<(), ItemError> {
    let Some(mut lineage) = super::holding::lineage_of(&doc.id, doc.lineage.as_deref())? else {
        return Ok(());
    };
    if !lineage
        .sources
        .iter()
        .any(|s| s.origin_item == n.origin_item && s.label != r.label.to_bytes())
    {
        return Ok(());
    }
    let before = part_levels(reg, node, &lineage.sources);
    for s in lineage
        .sources
        .iter_mut()
        .filter(|s| s.origin_item == n.origin_item)
    {
        s.label = r.label.to_bytes();
        if s.originator != node.party() {
            s.equivalent = r.equivalent.as_ref().map(WireLabel::to_bytes);
        }
    }
    let after = part_levels(reg, node, &lineage.sources);
    let v = super::verified(node, doc).await?;
    let own = v.labels.original().clone();
    let highest_before = aggregate(reg, None, &before);
    let floor = match highest_before {
        Some(h) if reg.rank(own.level) > reg.rank(h) => Some(own.level),
        _ => None,
    };
    let level = aggregate(reg, floor, &after).unwrap_or(own.level);
    let new_label = Label {
        level,
        ..own.clone()
    };
    let wire = to_wire(reg, &new_label);
    let sealed = if level == own.level {
        doc.sealed.clone()
    } else {
        let content = open(node, doc).await?;
        let sealing = node.sealing();
        sealing.seal_for(
            node.now(),
            node.party(),
            &sealing.own_key(),
            &wire,
            &content,
        )?
    };
    let made = Relabelled {
        sealed,
        label: wire,
        equivalent: None,
        covered: true,
    };
    let bytes = lineage.to_bytes();
    // The document and its copies (which share its bytes and carry the
    // same parts).
    for item in node.store().items_of_origin(&doc.id).await? {
        if item.disposal.is_some() {
            continue;
        }
        let lineage_bytes = if item.id == doc.id {
            bytes.clone()
        } else {
            match super::holding::lineage_of(&item.id, item.lineage.as_deref())? {
                Some(mut l) => {
                    replace_part(&mut l, n, r, node.party());
                    l.to_bytes()
                }
                None => continue,
            }
        };
        batch.entries.push(entry(
            node,
            reg,
            n,
            &item.id,
            &own,
            &made,
            Some(&n.origin_item),
        )?);
        batch
            .relabelled
            .push(row(node, &item, &made, Some(lineage_bytes))?);
    }
    Ok(())
}

fn replace_part(l: &mut Lineage, n: &ReclassificationNotice, r: &Relabelled, me: &str) {
    for s in l
        .sources
        .iter_mut()
        .filter(|s| s.origin_item == n.origin_item)
    {
        s.label = r.label.to_bytes();
        if s.originator != me {
            s.equivalent = r.equivalent.as_ref().map(WireLabel::to_bytes);
        }
    }
}

/// The level of each part of a document in this party's policy (its
/// recorded equivalent, or its own label); parts that do not decode are
/// left out (the document's own label then stands).
fn part_levels(reg: &Registry, node: &Node, sources: &[Source]) -> Vec<LevelRef> {
    sources
        .iter()
        .filter_map(|s| {
            if s.originator == node.party() {
                let w = WireLabel::from_bytes(&s.label).ok()?;
                from_wire(reg, &w).ok().map(|l| l.level)
            } else {
                let w = WireLabel::from_bytes(s.equivalent.as_ref()?).ok()?;
                crate::labels::equivalent_from_wire(reg, &w, node.party())
                    .ok()
                    .map(|l| l.level)
            }
        })
        .collect()
}

/// A notice from a partner: the originator's signature verified (the
/// partner may be the originator, or a hub passing it on), kept once,
/// forwarded, applied to every row here, and acknowledged.
pub async fn receive(node: &Node, peer: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let claimed = ReclassificationNotice::decode(body).map_err(|e| {
        Refusal::unnamed(Reason::Malformed {
            what: "reclassification notice",
            detail: e.to_string(),
        })
    })?;
    let id = claimed.id.clone();
    if node.partner(peer).is_none() {
        return Err(Refusal::new(&id, Reason::NotPartner(peer.to_owned())));
    }
    let key = node
        .key_of(&claimed.originator)
        .ok_or_else(|| Refusal::new(&id, Reason::NotPartner(claimed.originator.clone())))?;
    let n = ReclassificationNotice::open(body, &key).map_err(|e| {
        Refusal::new(
            &id,
            Reason::Signature {
                what: "reclassification notice",
                detail: e.to_string(),
            },
        )
    })?;
    // Only the originator reclassifies (rule 8): a notice about another
    // party's item, or in a level of another policy, is refused.
    let reg = node.registry();
    let origin_party = reg
        .party(&n.originator)
        .map_err(|e| Refusal::new(&id, Reason::NotPartner(e.to_string())))?;
    let level_ok = reg
        .level(origin_party, &n.level)
        .ok()
        .and_then(|l| reg.level_info(l))
        .is_some_and(|l| l.classified);
    if !level_ok || n.seq == 0 {
        return Err(Refusal::new(
            &id,
            Reason::NotAllowed(vec![format!(
                "notice {}: `{}` is not a classified level of {}'s policy; an originator reclassifies in its own levels (rule 8)",
                n.id, n.level, n.originator
            )]),
        ));
    }
    let kept = keep(node, &n, body, Some(peer))
        .await
        .map_err(|e| Refusal::internal(&id, e))?;
    if kept {
        tracing::info!(notice = %n.id, item = %n.origin_item, level = %n.level, from = peer, "reclassification received");
    }
    converge(node, &n.origin_item)
        .await
        .map_err(|e| Refusal::internal(&id, e))?;
    node.checkpoints()
        .receipt(node.party(), &id, &id, !kept)
        .await
        .map_err(|e| Refusal::internal(&id, e))
}

/// At start: the notices kept, verified, noted; rows that did not converge
/// before the node stopped brought to them.
pub(crate) async fn resume(node: &Node) {
    let kept = match node.store().messages(MessageKind::Reclassification).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the reclassification notices");
            return;
        }
    };
    for m in kept {
        let verified = ReclassificationNotice::decode(&m.body)
            .ok()
            .and_then(|c| node.key_of(&c.originator))
            .and_then(|k| ReclassificationNotice::open(&m.body, &k).ok());
        match verified {
            Some(n) if n.id == m.id => node.notices().note(n),
            _ => {
                node.alarm(&crate::custody::Breach {
                    subject: format!("reclassification notice {}", m.id),
                    check: crate::custody::Check::Sealed,
                    detail: "a kept notice does not verify with its originator's key".into(),
                })
                .await;
            }
        }
    }
    for origin in node.notices().origins() {
        if let Err(e) = converge(node, &origin).await {
            tracing::error!(error = %e, item = %origin, "cannot apply a reclassification");
        }
    }
}

/// After an item was released: a notice newer than the label it was sent
/// under follows it, so a release racing a reclassification ends with the
/// recipient holding the new label.
pub(crate) async fn follow_release(node: &Node, origin_item: &str, sent_under: u32, to: &str) {
    let Some(n) = node.notices().latest(origin_item) else {
        return;
    };
    if n.seq <= sent_under || to == n.originator {
        return;
    }
    let bytes = match node
        .store()
        .message(MessageKind::Reclassification, &n.id)
        .await
    {
        Ok(Some(m)) => m.body,
        _ => return,
    };
    let transfer = format!("{}>{to}", n.id);
    if let Ok(Some(_)) = node.store().transfer(&transfer).await {
        return;
    }
    let r = node
        .store()
        .commit(Batch {
            outgoing: vec![forward(node, &n, to, &bytes)],
            ..Batch::default()
        })
        .await;
    match r {
        Ok(_) | Err(StoreError::Duplicate(_) | StoreError::Exists(_)) => node.wake_outbox(),
        Err(e) => tracing::error!(error = %e, "cannot queue a reclassification notice"),
    }
}

/// The notices about an item the person may read (or any item, for
/// security officers and auditors), with the rows here that carry them
/// and each party's acknowledgement.
pub async fn list(
    node: &Node,
    person: &Person,
    id: &str,
) -> Result<ReclassificationList, ItemError> {
    let item = if super::holding::keeps_records(person) {
        node.store().item(id).await?.ok_or(ItemError::NotFound)?
    } else {
        super::decide_read_held(node, person, id, "labels").await?.0
    };
    let mut items = Vec::new();
    for m in node.store().messages(MessageKind::Reclassification).await? {
        let Ok(n) = ReclassificationNotice::decode(&m.body) else {
            continue;
        };
        if n.origin_item != item.origin_item {
            continue;
        }
        let from = (m.party != node.party()).then(|| m.party.clone());
        items.push(view(node, &n, from).await?);
    }
    Ok(ReclassificationList { items })
}

async fn view(
    node: &Node,
    n: &ReclassificationNotice,
    received_from: Option<String>,
) -> Result<Reclassification, ItemError> {
    let reg = node.registry();
    let mut applied = Vec::new();
    let mut rows = node.store().items_of_origin(&n.origin_item).await?;
    for doc in node.store().documents_made().await? {
        let draws = super::holding::lineage_of(&doc.id, doc.lineage.as_deref())?
            .is_some_and(|l| l.sources.iter().any(|s| s.origin_item == n.origin_item));
        if draws {
            rows.extend(node.store().items_of_origin(&doc.id).await?);
        }
    }
    for item in rows {
        if item.disposal.is_some() {
            continue;
        }
        let v = super::verified(node, &item).await?;
        let here = v.equivalent.as_ref().unwrap_or(&v.wire);
        let kind = match super::holding::lineage_of(&item.id, item.lineage.as_deref())? {
            Some(l) => l.made.kind().to_owned(),
            None => "item".to_owned(),
        };
        let covered = v.equivalent.is_none()
            || reg
                .party(&v.wire.originator)
                .ok()
                .and_then(|o| reg.level(o, &v.wire.level).ok())
                .is_some_and(|l| reg.equivalent_any(l, node.me(), Some(node.now())).is_ok());
        applied.push(AppliedRow {
            id: item.id.clone(),
            kind,
            level: here.level.clone(),
            covered,
        });
    }
    let mut sent_to = Vec::new();
    for t in node
        .store()
        .transfers_page(&gsomia_store::TransferQuery {
            limit: 500,
            item: Some(n.id.clone()),
            ..gsomia_store::TransferQuery::default()
        })
        .await?
    {
        sent_to.push(crate::transfers::view(t, node.now()));
    }
    Ok(Reclassification {
        id: n.id.clone(),
        originator: n.originator.clone(),
        origin_item: n.origin_item.clone(),
        seq: n.seq,
        level: n.level.clone(),
        previous: n.previous.clone(),
        reason: n.reason.clone(),
        by: n.by.clone(),
        at: crate::clock::wire_text(n.at),
        received_from,
        applied,
        sent_to,
    })
}
