//! An item's life at this party after it is made or received (rules 11–13;
//! Arts 5–6, 13–15): copies, translations, documents derived from held
//! items, destruction and return. Each act is decided by the engine
//! ([`gsomia_core::holding`]) on labels read from verified sealed bytes and
//! records the node tagged, and each is ledgered with its item (a refusal
//! too, as `holding_refused`, before it is answered).

use std::sync::atomic::Ordering;

use base64::Engine as _;
use gsomia_api::{
    Copied, CopyItem, CopyMade, DeriveItem, DestroyItem, Destroyed, Made, ReleaseOutcome,
    ReturnItem, SourceView, TranslateItem,
};
use gsomia_core::holding::{self as rules, DISPOSE_BY, HoldingRefusal, LANGUAGE, REPRODUCTION};
use gsomia_core::label::Informative;
use gsomia_core::{AccessDecision, ItemLabels, Label, Reader, Reason, decide_access};
use gsomia_ledger::entry::Kind;
use gsomia_seal::item::{self as sealed, WireLabel};
use gsomia_store::{Batch, Disposed, Item, ItemRow, Person, Return, Role, StoreError};
use sha2::{Digest, Sha256};

use super::{CONTENT_B64, ItemError, resolve, stored};
use crate::ids::hex;
use crate::labels::{from_wire, to_wire, view};
use crate::lineage::{Disposal, Lineage, Made as How, Source};
use crate::node::Node;

/// The most copies one request makes.
pub const MAX_COPIES_AT_ONCE: u32 = 100;
/// The most sources one derived document names.
pub const MAX_SOURCES: usize = 64;
/// The longest reason or method recorded.
pub const MAX_TEXT: usize = 2000;

/// The originator's handling markings for a new item's label, checked.
pub fn markings(
    reproduction: Option<&str>,
    dispose_by: Option<&str>,
) -> Result<Vec<Informative>, ItemError> {
    let mut out = Vec::new();
    if let Some(r) = reproduction {
        let limit = rules::parse_reproduction(r).map_err(|e| ItemError::Invalid(e.to_string()))?;
        out.push(Informative {
            tag: REPRODUCTION.to_owned(),
            values: vec![rules::reproduction_value(limit)],
        });
    }
    if let Some(d) = dispose_by {
        let t = gsomia_core::time::parse_instant(d)
            .map_err(|e| ItemError::Invalid(format!("`dispose_by`: {e}")))?;
        out.push(Informative {
            tag: DISPOSE_BY.to_owned(),
            values: vec![t.to_string()],
        });
    }
    Ok(out)
}

/// The reason a disposed item is refused (rule 13), from the disposal the
/// node recorded on it.
pub(crate) fn disposed_reason(node: &Node, item: &Item, zone: &jiff::tz::TimeZone) -> String {
    let reg = node.registry();
    let refusal = item
        .disposal
        .as_deref()
        .and_then(|d| Disposal::from_bytes(d).ok())
        .map(|d| HoldingRefusal::Disposed {
            how: d.how,
            at: gsomia_core::time::parse_instant(&d.at).unwrap_or_default(),
        })
        .unwrap_or(HoldingRefusal::UnknownReference);
    reg.explain_holding(&refusal, zone).to_string()
}

/// Ledgers a refused act and answers with its reasons (each citing its rule).
pub(crate) async fn refuse(
    node: &Node,
    person: &Person,
    action: &'static str,
    subject: Option<&str>,
    reasons: Vec<Reason>,
) -> ItemError {
    let cites: Vec<String> = reasons
        .iter()
        .flat_map(|r| r.cites.iter())
        .map(ToString::to_string)
        .collect();
    node.metrics()
        .refused(action, cites.iter().map(String::as_str));
    let texts = gsomia_core::explain::texts(&reasons);
    if let Err(e) = node
        .record(
            Kind::HoldingRefused,
            subject,
            vec![
                ("person", person.id.clone()),
                ("action", action.to_owned()),
                ("reasons", texts.join(" | ")),
            ],
        )
        .await
    {
        return e.into();
    }
    ItemError::Refused {
        action,
        reasons: texts,
    }
}

fn holding_reasons(node: &Node, refusals: &[HoldingRefusal]) -> Vec<Reason> {
    let reg = node.registry();
    let zone = node.zone();
    refusals
        .iter()
        .map(|r| reg.explain_holding(r, &zone))
        .collect()
}

/// A source as the lineage records it.
fn source_of(item: &Item) -> Source {
    Source {
        item: item.id.clone(),
        origin_item: item.origin_item.clone(),
        originator: item.originator.clone(),
        label: item.label.clone(),
        equivalent: item.equivalent_label.clone(),
    }
}

pub(crate) fn source_view(s: &Source) -> Result<SourceView, ItemError> {
    let label = WireLabel::from_bytes(&s.label).map_err(|e| stored(&s.item, e))?;
    let eq = s
        .equivalent
        .as_deref()
        .map(WireLabel::from_bytes)
        .transpose()
        .map_err(|e| stored(&s.item, e))?;
    Ok(SourceView {
        item: s.item.clone(),
        origin_item: s.origin_item.clone(),
        label: view(&label),
        equivalent_label: eq.as_ref().map(view),
    })
}

/// The lineage the node recorded on an item (checked with its row).
pub(crate) fn lineage_of(id: &str, bytes: Option<&[u8]>) -> Result<Option<Lineage>, ItemError> {
    bytes
        .map(Lineage::from_bytes)
        .transpose()
        .map_err(|e| stored(id, format!("its lineage record does not decode: {e}")))
}

/// The foreign parts of a document made here: every source of another
/// originator it draws on, directly or through the documents it was made
/// from (what a release to a third party needs consent for).
pub(crate) fn foreign_parts<'a>(lineage: &'a Lineage, me: &str) -> Vec<&'a Source> {
    let mut out: Vec<&Source> = Vec::new();
    for s in &lineage.sources {
        if s.originator != me && !out.iter().any(|o| o.origin_item == s.origin_item) {
            out.push(s);
        }
    }
    out
}

/// Sources for a new document's lineage: the direct ones, then the foreign
/// parts each of them carries (so a document made from a document keeps
/// every originator's claim).
fn with_inherited(direct: &[(Item, Option<Lineage>)], me: &str) -> Vec<Source> {
    let mut out: Vec<Source> = direct.iter().map(|(i, _)| source_of(i)).collect();
    for (_, l) in direct {
        if let Some(l) = l {
            for s in foreign_parts(l, me) {
                if !out.iter().any(|o| o.origin_item == s.origin_item) {
                    out.push(s.clone());
                }
            }
        }
    }
    out
}

/// A held item, read for an act on it: decided as a read of its labels
/// (ledgered), refused once disposed of; with its checked labels.
async fn held(
    node: &Node,
    person: &Person,
    id: &str,
    what: &str,
) -> Result<(Item, super::Verified, Option<Lineage>), ItemError> {
    let (item, wire, _) = super::decide_read_held(node, person, id, what).await?;
    let v = resolve(node, &item.id, item.equivalent_label.as_deref(), wire)?;
    let lineage = lineage_of(&item.id, item.lineage.as_deref())?;
    Ok((item, v, lineage))
}

/// A copy's row: the source's sealed bytes and labels, unchanged.
/// The answer for an act on an item that was refused as a read: a person
/// who could read the item were it still held is told it was destroyed or
/// returned (rule 13: nothing twice); anyone else, not found.
pub(crate) async fn gone(node: &Node, person: &Person, id: &str, what: &str) -> ItemError {
    let Ok(Some(item)) = node.store().item(id).await else {
        return ItemError::NotFound;
    };
    if item.disposal.is_none() {
        return ItemError::NotFound;
    }
    let Ok(v) = super::verified(node, &item).await else {
        return ItemError::NotFound;
    };
    let Ok(reader) = crate::register::reader(node, person) else {
        return ItemError::NotFound;
    };
    if !decide_access(&node.registry(), &reader, &v.labels, node.now()).is_allow() {
        return ItemError::NotFound;
    }
    let reason = disposed_reason(node, &item, &node.zone());
    let action = match what {
        "copy" => "copy",
        "translate" => "translate",
        "derive" => "derive",
        "destroy" => "destroy",
        "return" => "return",
        "release" => "release",
        "labels" | "content" => "read",
        _ => "act on",
    };
    ItemError::Refused {
        action,
        reasons: vec![reason],
    }
}

fn new_item(id: String, from: &Item, at: &str, lineage: &Lineage) -> Item {
    Item {
        id: id.clone(),
        originator: from.originator.clone(),
        sealed: from.sealed.clone(),
        label: from.label.clone(),
        equivalent_label: from.equivalent_label.clone(),
        received_from: from.received_from.clone(),
        created_at: at.to_owned(),
        origin_item: from.origin_item.clone(),
        binding: None,
        custody: None,
        lineage: Some(lineage.to_bytes()),
        disposal: None,
        index: None,
    }
}

/// The copies of `id` made here so far (checked rows): their count and the
/// highest number given.
async fn copies_made(node: &Node, id: &str) -> Result<(u32, u32), ItemError> {
    let mut count = 0u32;
    let mut highest = 0u32;
    for row in made_from_checked(node, id).await? {
        if let Some(Lineage {
            made: How::Copy { number, .. },
            ..
        }) = lineage_of(&row.id, row.lineage.as_deref())?
        {
            count += 1;
            highest = highest.max(number);
        }
    }
    Ok((count, highest))
}

/// Makes `req.count` copies of an item (rule 12): each an item of its own
/// with the source's sealed bytes and both labels unchanged, numbered
/// "copy n of N", pointing to its source. Refused when the originator's
/// marking or this party's policy for the level would be passed.
pub async fn copy(
    node: &Node,
    person: &Person,
    id: &str,
    req: &CopyItem,
) -> Result<Copied, ItemError> {
    crate::register::not_auditor(node, person, "copy items")?;
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_COPIES_AT_ONCE).contains(&count) {
        return Err(ItemError::Invalid(format!(
            "`count` is 1 to {MAX_COPIES_AT_ONCE}"
        )));
    }
    if !gsomia_api::has_text(&req.reason) || req.reason.chars().count() > MAX_TEXT {
        return Err(ItemError::Invalid(format!(
            "a copy needs a `reason` of 1 to {MAX_TEXT} characters: the official need it serves (Art 14)"
        )));
    }
    let (item, v, lineage) = held(node, person, id, "copy").await?;
    let (made, highest) = copies_made(node, id).await?;
    let reg = node.registry();
    if let Err(r) = rules::decide_copy(&reg, &v.labels, node.me(), made, count) {
        let reasons = holding_reasons(node, &r);
        return Err(refuse(node, person, "copy", Some(id), reasons).await);
    }
    let at = node.now();
    let at_text = at.to_string();
    // A copy of a document made here carries the parts its source carries.
    let inherited: Vec<Source> = lineage
        .as_ref()
        .map(|l| {
            foreign_parts(l, node.party())
                .into_iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let of = highest + count;
    let mut batch = Batch {
        held: vec![item.id.clone()],
        ..Batch::default()
    };
    let mut copies = Vec::new();
    for k in 1..=count {
        let number = highest + k;
        let cid = crate::ids::new_id(node.party(), at)?;
        let mut sources = vec![source_of(&item)];
        sources.extend(inherited.iter().cloned());
        let l = Lineage {
            made: How::Copy { number, of },
            sources,
            by: person.id.clone(),
            reason: req.reason.clone(),
        };
        let mut c = new_item(cid.clone(), &item, &at_text, &l);
        crate::custody::tag_item(node.custody(), &mut c).map_err(|b| stored(&cid, b))?;
        batch.entries.push(node.entry(
            Kind::Copy,
            Some(&cid),
            vec![
                ("copy", cid.clone()),
                ("copies", format!("{number} of {of}")),
                ("source", item.id.clone()),
                ("by", person.id.clone()),
                ("reason", req.reason.clone()),
            ],
        )?);
        batch.items.push(c);
        copies.push(CopyMade {
            id: cid,
            number,
            of,
        });
    }
    super::commit_held(node, batch, "copy").await?;
    Ok(Copied {
        source: item.id,
        copies,
    })
}

/// The act a made document's kind names, for a refusal.
fn lineage_action(kind: Kind) -> &'static str {
    match kind {
        Kind::Translation => "translate",
        _ => "derive",
    }
}

fn language_ok(l: &str) -> bool {
    (2..=35).contains(&l.len())
        && l.split('-')
            .all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Seals and stores a document this party made from held items (`held`:
/// the ones it was made from directly, still held when it commits), with
/// its lineage and entry; answers what was made.
#[allow(clippy::too_many_arguments, reason = "one document's parts")]
async fn store_made(
    node: &Node,
    id: String,
    person: &Person,
    label: &Label,
    content: &[u8],
    lineage: Lineage,
    held: Vec<String>,
    kind: Kind,
    fields: Vec<(&str, String)>,
) -> Result<Made, ItemError> {
    let reg = node.registry();
    let at = node.now();
    let wire = to_wire(&reg, label);
    let sealing = node.sealing();
    let bytes = sealing.seal_for(at, node.party(), &sealing.own_key(), &wire, content)?;
    let digest = sealed::inspect(&bytes)
        .map_err(|e| stored("new", e))?
        .header
        .content_digest;
    let label_bytes = wire.to_bytes();
    let mut all_fields = fields;
    all_fields.push(("label", hex(&Sha256::digest(&label_bytes))));
    all_fields.push(("by", person.id.clone()));
    let e = node.entry(kind, Some(&id), all_fields)?;
    let sources = lineage
        .sources
        .iter()
        .map(source_view)
        .collect::<Result<Vec<_>, _>>()?;
    let made = lineage.made.kind().to_owned();
    let mut item = Item {
        id: id.clone(),
        originator: node.party().to_owned(),
        sealed: bytes,
        label: label_bytes,
        equivalent_label: None,
        received_from: None,
        created_at: at.to_string(),
        origin_item: id.clone(),
        binding: None,
        custody: None,
        lineage: Some(lineage.to_bytes()),
        disposal: None,
        index: None,
    };
    crate::custody::tag_item(node.custody(), &mut item).map_err(|b| stored(&id, b))?;
    super::commit_held(
        node,
        Batch {
            held,
            items: vec![item],
            entries: vec![e],
            ..Batch::default()
        },
        lineage_action(kind),
    )
    .await?;
    Ok(Made {
        id,
        kind: made,
        label: view(&wire),
        content_sha384: hex(&digest),
        sources,
    })
}

/// Refuses making a document the person could not read once made (rule
/// 10 applied to writing, as for a submission).
async fn may_write(
    node: &Node,
    person: &Person,
    reader: &Reader,
    label: &Label,
    action: &'static str,
) -> Result<(), ItemError> {
    let reg = node.registry();
    let d = decide_access(&reg, reader, &ItemLabels::new(label.clone()), node.now());
    if let d @ AccessDecision::Deny(_) = d {
        let reasons = reg.explain_access(&d, &node.zone());
        return Err(refuse(node, person, action, None, reasons).await);
    }
    Ok(())
}

/// A translation of a held item (rules 7, 12; Art 15): made only by a
/// person who may read the item; it carries the item's level in this
/// party's policy, the source's labels beside it, the origin note and the
/// language, and is this party's document for every later decision (its
/// release to a third party needs the originator's consent).
pub async fn translate(
    node: &Node,
    person: &Person,
    id: &str,
    req: &TranslateItem,
) -> Result<Made, ItemError> {
    crate::register::not_auditor(node, person, "translate items")?;
    if !language_ok(&req.language) {
        return Err(ItemError::Invalid(format!(
            "`language` is a BCP 47 tag such as `ko` or `ja-JP`, not `{}`",
            req.language
        )));
    }
    let content = CONTENT_B64
        .decode(req.content.as_bytes())
        .map_err(|_| ItemError::Invalid("`content` is not base64".into()))?;
    let (item, v, lineage) = held(node, person, id, "translate").await?;
    let reg = node.registry();
    let at = node.now();
    let Some(here) = v.labels.in_policy(node.me()).cloned() else {
        return Err(refuse(
            node,
            person,
            "translate",
            Some(id),
            holding_reasons(node, &[HoldingRefusal::UnknownReference]),
        )
        .await);
    };
    let direct = vec![(item, lineage)];
    let sources = with_inherited(&direct, node.party());
    let originators: Vec<_> = sources
        .iter()
        .filter_map(|s| reg.party(&s.originator).ok())
        .collect();
    let mut label = rules::derived_label(&reg, node.me(), &here, &[], &originators, at)
        .map_err(|e| ItemError::Invalid(e.to_string()))?;
    label.informative.retain(|i| i.tag != LANGUAGE);
    label.informative.push(Informative {
        tag: LANGUAGE.to_owned(),
        values: vec![req.language.clone()],
    });
    let lineage = Lineage {
        made: How::Translation {
            language: req.language.clone(),
        },
        sources,
        by: person.id.clone(),
        reason: req.reason.clone().unwrap_or_default(),
    };
    let source = direct
        .first()
        .map(|(i, _)| i.id.clone())
        .unwrap_or_default();
    let new = crate::ids::new_id(node.party(), at)?;
    store_made(
        node,
        new.clone(),
        person,
        &label,
        &content,
        lineage,
        direct.iter().map(|(i, _)| i.id.clone()).collect(),
        Kind::Translation,
        vec![
            ("translation", new),
            ("language", req.language.clone()),
            ("source", source),
            ("translator", person.id.clone()),
        ],
    )
    .await
}

/// A document written here from held items (rule 7; Art 4): its label by
/// the aggregation rule over the author's own contribution and every
/// source's label in this party's policy, naming every originator; every
/// source read is decided and ledgered.
pub async fn derive(node: &Node, person: &Person, req: &DeriveItem) -> Result<Made, ItemError> {
    crate::register::not_auditor(node, person, "write derived documents")?;
    if req.sources.is_empty() || req.sources.len() > MAX_SOURCES {
        return Err(ItemError::Invalid(format!(
            "`sources` names 1 to {MAX_SOURCES} items"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = req.sources.iter().find(|s| !seen.insert(s.as_str())) {
        return Err(ItemError::Invalid(format!("source `{d}` is named twice")));
    }
    let content = CONTENT_B64
        .decode(req.content.as_bytes())
        .map_err(|_| ItemError::Invalid("`content` is not base64".into()))?;
    let reg = node.registry();
    let at = node.now();
    let topics: Vec<&str> = req.topics.iter().map(String::as_str).collect();
    let rel: Option<Vec<&str>> = req
        .rel_to
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let own = reg
        .label(node.party(), &req.level, &topics, rel.as_deref(), at)
        .map_err(|e| ItemError::Invalid(e.to_string()))?;
    if !reg.level_info(own.level).is_some_and(|l| l.classified) {
        return Err(ItemError::Invalid(format!(
            "`{}` is not a classified level; gsomia holds classified information only",
            req.level
        )));
    }
    let mut direct = Vec::with_capacity(req.sources.len());
    let mut parts: Vec<Label> = Vec::with_capacity(req.sources.len());
    for s in &req.sources {
        let (item, v, lineage) = held(node, person, s, "derive").await?;
        let Some(here) = v.labels.in_policy(node.me()).cloned() else {
            return Err(refuse(
                node,
                person,
                "derive",
                Some(s),
                holding_reasons(node, &[HoldingRefusal::UnknownReference]),
            )
            .await);
        };
        parts.push(here);
        direct.push((item, lineage));
    }
    let sources = with_inherited(&direct, node.party());
    let originators: Vec<_> = sources
        .iter()
        .filter_map(|s| reg.party(&s.originator).ok())
        .collect();
    let refs: Vec<&Label> = parts.iter().collect();
    let label = rules::derived_label(&reg, node.me(), &own, &refs, &originators, at)
        .map_err(|e| ItemError::Invalid(e.to_string()))?;
    // Whoever writes it must be able to read what it becomes.
    let reader = crate::register::reader(node, person)?;
    may_write(node, person, &reader, &label, "derive").await?;
    let names: Vec<String> = {
        let mut v: Vec<String> = sources.iter().map(|s| s.originator.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let lineage = Lineage {
        made: How::Derived,
        sources,
        by: person.id.clone(),
        reason: req.reason.clone().unwrap_or_default(),
    };
    store_made(
        node,
        crate::ids::new_id(node.party(), at)?,
        person,
        &label,
        &content,
        lineage,
        direct.iter().map(|(i, _)| i.id.clone()).collect(),
        Kind::Derived,
        vec![
            ("sources", req.sources.join(",")),
            ("originators", names.join(",")),
            ("reason", req.reason.clone().unwrap_or_default()),
        ],
    )
    .await
}

/// The witnesses named for a destruction, as the engine's readers: each a
/// different person of the register from the one destroying, checked with
/// their custody tag; a revoked person's clearance ends at the revocation.
async fn witnesses(node: &Node, person: &Person, ids: &[String]) -> Result<Vec<Reader>, ItemError> {
    let mut seen = std::collections::BTreeSet::new();
    let refused = |why: String| ItemError::Refused {
        action: "destroy",
        reasons: vec![format!("{why} (rule 13)")],
    };
    for w in ids {
        if w == &person.id {
            return Err(refused(format!(
                "`{w}` destroys the item and cannot also witness it"
            )));
        }
        if !seen.insert(w.as_str()) {
            return Err(refused(format!("witness `{w}` is named twice")));
        }
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let people = node.store().people().await?;
    let mut out = Vec::with_capacity(ids.len());
    for w in ids {
        let Some(p) = people.iter().find(|p| &p.id == w) else {
            return Err(ItemError::Refused {
                action: "destroy",
                reasons: vec![format!(
                    "witness `{w}` is not in the register (gsomia person list) (rule 13)"
                )],
            });
        };
        if let Err(b) = crate::custody::check_person(node.custody(), p) {
            node.alarm(&b).await;
            return Err(ItemError::Integrity(b));
        }
        let mut r = crate::register::reader(node, p)?;
        if let Some(t) = p
            .revoked_at
            .as_deref()
            .and_then(|t| gsomia_core::time::parse_instant(t).ok())
        {
            r.clearance_until = r.clearance_until.min(t);
        }
        out.push(r);
    }
    Ok(out)
}

/// Items made from `id` here, each row checked (an alarm and a refusal
/// on a breach).
async fn made_from_checked(node: &Node, id: &str) -> Result<Vec<ItemRow>, ItemError> {
    let rows = node.store().made_from(id).await?;
    for row in &rows {
        if let Err(b) = crate::custody::check_item_row(node.custody(), row) {
            node.alarm(&b).await;
            return Err(ItemError::Integrity(b));
        }
    }
    Ok(rows)
}

/// Destroys a held item (rule 13; Art 13): refused unless this party's
/// policy for the item's level is met (witnesses, their clearance); the
/// sealed bytes are erased from the database (not flagged) with the
/// destruction record tagged on the row, and the destruction is ledgered
/// with its witnesses and how long the record is kept. With `with_copies`,
/// every copy held goes in the same record; items made from it that stay
/// are listed for the officer to destroy or account for.
pub async fn destroy(
    node: &Node,
    person: &Person,
    id: &str,
    req: &DestroyItem,
) -> Result<Destroyed, ItemError> {
    crate::register::not_auditor(node, person, "destroy items")?;
    if !gsomia_api::has_text(&req.method) || req.method.chars().count() > MAX_TEXT {
        return Err(ItemError::Invalid(format!(
            "a destruction names its `method` in 1 to {MAX_TEXT} characters (shredded, burned, crypto-erased…)"
        )));
    }
    let readers = witnesses(node, person, &req.witnesses).await?;
    let (item, v, _) = held(node, person, id, "destroy").await?;
    let reg = node.registry();
    let at = node.now();
    let record = match rules::decide_destruction(&reg, &v.labels, node.me(), &readers, at) {
        Ok(r) => r,
        Err(r) => {
            let reasons = holding_reasons(node, &r);
            return Err(refuse(node, person, "destroy", Some(id), reasons).await);
        }
    };
    let made = made_from_checked(node, id).await?;
    let mut targets: Vec<(String, Option<ItemRow>)> = vec![(item.id.clone(), None)];
    let mut still_held = Vec::new();
    for row in made {
        if row.disposal.is_some() {
            continue;
        }
        let is_copy = matches!(
            lineage_of(&row.id, row.lineage.as_deref())?,
            Some(Lineage {
                made: How::Copy { .. },
                ..
            })
        );
        if req.with_copies && is_copy {
            targets.push((row.id.clone(), Some(row)));
        } else {
            still_held.push(row.id);
        }
    }
    let at_text = at.to_string();
    let keep_until = record.keep_until.map(|t| t.to_string());
    let level = reg.level_name(record.level).to_owned();
    let mut batch = Batch::default();
    for (tid, row) in &targets {
        let disposal = Disposal {
            how: rules::Disposal::Destroyed,
            at: at_text.clone(),
            by: person.id.clone(),
            method: req.method.clone(),
            witnesses: req.witnesses.clone(),
            keep_until: keep_until.clone(),
            transfer: None,
            reason: req.reason.clone().unwrap_or_default(),
        }
        .to_bytes();
        let custody = match row {
            None => crate::custody::tag_disposed(node.custody(), &item, &disposal),
            Some(r) => crate::custody::tag_disposed_row(node.custody(), r, &disposal),
        };
        batch.disposals.push(Disposed {
            id: tid.clone(),
            disposal,
            custody,
            at_unix: at.as_second(),
        });
        let mut fields = vec![
            ("method", req.method.clone()),
            ("witnesses", req.witnesses.join(",")),
            ("by", person.id.clone()),
            ("level", level.clone()),
            (
                "record",
                match &keep_until {
                    Some(t) => format!("signed record kept until {t}"),
                    None => "no record required at this level".into(),
                },
            ),
        ];
        if let Some(t) = &keep_until {
            fields.push(("keep_until", t.clone()));
        }
        if row.is_none() && !still_held.is_empty() {
            fields.push(("copies_held", still_held.join(",")));
        }
        if let Some(r) = &req.reason {
            fields.push(("reason", r.clone()));
        }
        batch
            .entries
            .push(node.entry(Kind::Destruction, Some(tid), fields)?);
    }
    // Another destruction or return committed first: nothing twice.
    super::commit_held(node, batch, "destroy").await?;
    let erased = scrub(node).await;
    Ok(Destroyed {
        items: targets.into_iter().map(|(t, _)| t).collect(),
        witnesses_needed: record.witnesses_needed,
        keep_until,
        still_held,
        erased,
    })
}

/// Sends a received item back to its originator (rule 13; Art 6): the
/// return is decided and queued like any release (a return is always
/// allowed, even after termination: rule 5), and once the originator's
/// receipt arrives the local copy's sealed bytes are erased and the return
/// ledgered. Refused for this party's own items and while a return of the
/// item is under way.
pub async fn give_back(
    node: &Node,
    person: &Person,
    id: &str,
    req: &ReturnItem,
) -> Result<ReleaseOutcome, ItemError> {
    crate::register::not_auditor(node, person, "return items")?;
    let (item, _, _) = held(node, person, id, "return").await?;
    if item.originator == node.party() {
        return Err(ItemError::Refused {
            action: "return",
            reasons: vec![format!(
                "item {id} is {}'s own: only received items are returned to their originator; destroy it instead (rule 13)",
                node.party()
            )],
        });
    }
    if let Some(r) = node
        .store()
        .returns_open()
        .await?
        .into_iter()
        .find(|r| r.item == item.id)
    {
        return Err(ItemError::Refused {
            action: "return",
            reasons: vec![format!(
                "item {id} is already being returned (transfer {}); see `gsomia transfer show {}`",
                r.transfer, r.transfer
            )],
        });
    }
    let to = item.originator.clone();
    let ret = Return {
        transfer: String::new(),
        item: item.id.clone(),
        requested_by: person.id.clone(),
        requested_at: node.now().to_string(),
    };
    let by = match req.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => format!("{} (return: {r})", person.id),
        _ => format!("{} (return)", person.id),
    };
    let outcome = super::release::release_returning(node, &item, &to, &by, ret).await?;
    if matches!(outcome, ReleaseOutcome::Release(_)) {
        node.returns_open().fetch_add(1, Ordering::Relaxed);
        node.wake_outbox();
    }
    Ok(outcome)
}

/// Settles the returns whose transfer has been answered: delivered ones
/// erase the local copy (its disposal tagged, `returned` ledgered with the
/// originator's receipt checkpoint); refused ones close, the item still
/// held. Called by the delivery worker while returns are open, and at start.
pub(crate) async fn settle_returns(node: &Node) {
    let answered = match node.store().returns_answered().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the returns answered");
            return;
        }
    };
    for a in answered {
        if let Err(e) = settle_one(node, &a).await {
            tracing::error!(error = %e, transfer = %a.ret.transfer, "cannot settle a return");
            continue;
        }
        let _ = node
            .returns_open()
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }
}

async fn settle_one(node: &Node, a: &gsomia_store::ReturnAnswered) -> Result<(), ItemError> {
    let now = node.now().to_string();
    let mut batch = Batch {
        returns_closed: vec![(a.ret.transfer.clone(), now.clone())],
        ..Batch::default()
    };
    let item = node.store().item(&a.ret.item).await?;
    match (&a.delivered_at, item) {
        (Some(_), Some(item)) if item.disposal.is_none() => {
            if let Err(b) = crate::custody::check_item_any(node.custody(), &item) {
                node.alarm(&b).await;
                return Err(ItemError::Integrity(b));
            }
            let disposal = Disposal {
                how: rules::Disposal::Returned,
                at: now.clone(),
                by: a.ret.requested_by.clone(),
                method: "returned to its originator".into(),
                witnesses: Vec::new(),
                keep_until: None,
                transfer: Some(a.ret.transfer.clone()),
                reason: String::new(),
            }
            .to_bytes();
            let custody = crate::custody::tag_disposed(node.custody(), &item, &disposal);
            batch.disposals.push(Disposed {
                id: item.id.clone(),
                disposal,
                custody,
                at_unix: node.now().as_second(),
            });
            batch.entries.push(node.entry(
                Kind::Returned,
                Some(&item.id),
                vec![
                    ("recipient", item.originator.clone()),
                    ("transfer", a.ret.transfer.clone()),
                    ("by", a.ret.requested_by.clone()),
                    ("receipt_checkpoint", a.receipt.clone().unwrap_or_default()),
                ],
            )?);
        }
        // Refused by the originator, or already disposed of: the return
        // closes; a refusal was ledgered when the transfer was refused.
        _ => {}
    }
    match node.store().commit(batch).await {
        Ok(_) => {}
        Err(StoreError::Gone(_)) => {
            // Destroyed meanwhile: close the return alone.
            node.store()
                .commit(Batch {
                    returns_closed: vec![(a.ret.transfer.clone(), now)],
                    ..Batch::default()
                })
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    scrub(node).await;
    Ok(())
}

/// Empties the write-ahead log so erased bytes survive nowhere in the
/// database files. A checkpoint running at the same moment (the store's
/// own, every few milliseconds after commits) makes one attempt give up
/// at once, so it is tried again, for up to a second; whether it
/// completed.
async fn scrub(node: &Node) -> bool {
    for _ in 0..50 {
        match node.store().scrub().await {
            Ok(true) => return true,
            Ok(false) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot empty the write-ahead log after an erasure");
                return false;
            }
        }
    }
    false
}

/// At start: counts the returns still open and settles those answered
/// while the node was down.
pub(crate) async fn resume_returns(node: &Node) {
    match node.store().returns_open().await {
        Ok(open) => {
            node.returns_open().store(open.len(), Ordering::Relaxed);
            if !open.is_empty() {
                settle_returns(node).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the open returns"),
    }
}

/// Whether the person may see the records of every item (security
/// officers and auditors, whose work is the audit of Art 6 records).
pub(crate) fn keeps_records(p: &Person) -> bool {
    matches!(p.role, Role::SecurityOfficer | Role::Auditor)
}

/// The release of a document made here (a translation, a derived document,
/// or a copy of one): every foreign part decided as an onward release of
/// its originator's item. `None` when the item has no foreign part (its
/// own label decides alone).
pub(crate) fn parts_for_release(
    node: &Node,
    item: &Item,
) -> Result<Option<Vec<(Source, Label)>>, ItemError> {
    if item.originator != node.party() {
        return Ok(None);
    }
    let Some(l) = lineage_of(&item.id, item.lineage.as_deref())? else {
        return Ok(None);
    };
    let reg = node.registry();
    let mut out = Vec::new();
    for s in foreign_parts(&l, node.party()) {
        let wire = WireLabel::from_bytes(&s.label).map_err(|e| stored(&item.id, e))?;
        let label = from_wire(&reg, &wire).map_err(|e| stored(&item.id, e))?;
        out.push((s.clone(), label));
    }
    Ok((!out.is_empty()).then_some(out))
}
