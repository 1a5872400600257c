//! Items at this node: submitted by the party's officers (sealed at rest to
//! the party's own key), read under access decisions (every read and every
//! refusal ledgered before the answer), released to partners through the
//! one egress function ([`release`]), delivered from the durable outbox
//! ([`outbox`]) and received from partners ([`receive`]).
//!
//! "Not found" and "forbidden" are one answer for an item, so a reader
//! learns nothing about items they may not read.

pub mod history;
pub mod holding;
pub mod outbox;
pub mod receive;
pub mod reclassify;
pub mod release;

use base64::Engine as _;
use gsomia_api::{ItemList, ItemSummary, ItemView, SubmitItem, Submitted};
use gsomia_core::{AccessDecision, ItemLabels, decide_access};
use gsomia_ledger::entry::{EntryError, Kind};
use gsomia_seal::item::{self as sealed, WireLabel};
use gsomia_store::{Batch, Item, Person, StoreError};
use sha2::{Digest, Sha256};

use crate::error::{Class, Classified};
use crate::ids::hex;
use crate::labels::{from_wire, to_wire, view};
use crate::node::{LedgerError, Node};

/// Why an item request failed.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// A request that does not hold together (not base64, unknown level or
    /// topic, an unclassified level, an unknown recipient).
    #[error("{0}")]
    Invalid(String),
    /// No such item, or not one the caller may read (one answer for both).
    #[error("no such item")]
    NotFound,
    /// A role that may not do this.
    #[error(transparent)]
    Role(#[from] crate::register::RoleError),
    /// The person's stored clearance does not resolve.
    #[error(transparent)]
    Reader(#[from] crate::register::ReaderError),
    /// A stored item that does not decode or open.
    #[error("stored item `{id}`: {what}")]
    Stored {
        /// The item.
        id: String,
        /// What is wrong.
        what: String,
    },
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] crate::sealing::SealError),
    /// The consents held could not be read.
    #[error(transparent)]
    Consents(#[from] crate::consents::ConsentError),
    /// A ledger entry could not be made.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A ledger entry could not be written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// No randomness for an id.
    #[error(transparent)]
    Entropy(#[from] crate::ids::EntropyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored row that failed its integrity check: refused, alarm raised.
    #[error("{0}; it is withheld and an integrity alarm was raised")]
    Integrity(crate::custody::Breach),
    /// A submission the person may not make (rule 10 applied to writing).
    #[error("submission refused: {}", .0.join(" | "))]
    Denied(Vec<String>),
    /// An act on a held item the rules refuse (rules 11–13): a copy, a
    /// translation, a derived document, a destruction, a return.
    #[error("{action} refused: {}", .reasons.join(" | "))]
    Refused {
        /// What was asked.
        action: &'static str,
        /// Why not, each citing its rule.
        reasons: Vec<String>,
    },
}

impl Classified for ItemError {
    fn class(&self) -> Class {
        match self {
            ItemError::Invalid(_) => Class::BadRequest,
            ItemError::NotFound => Class::NotFound,
            ItemError::Integrity(_) => Class::Refused,
            ItemError::Denied(_) => Class::Forbidden,
            ItemError::Refused { .. } => Class::Refused,
            ItemError::Role(e) => e.class(),
            ItemError::Consents(e) => e.class(),
            ItemError::Reader(_)
            | ItemError::Stored { .. }
            | ItemError::Seal(_)
            | ItemError::Entry(_)
            | ItemError::Ledger(_)
            | ItemError::Entropy(_)
            | ItemError::Store(_) => Class::Internal,
        }
    }
}

/// Commits a batch that acts on held items (named in `batch.held`): one
/// destroyed or returned by a request that committed first refuses this
/// act, citing its disposal (rule 13), and nothing of the batch is written.
pub(crate) async fn commit_held(
    node: &Node,
    batch: Batch,
    action: &'static str,
) -> Result<gsomia_store::Committed, ItemError> {
    match node.store().commit(batch).await {
        Err(StoreError::Gone(id)) => {
            let reason = match node.store().item(&id).await? {
                Some(i) if i.disposal.is_some() => holding::disposed_reason(node, &i, &node.zone()),
                _ => format!("item {id} is no longer held here"),
            };
            Err(ItemError::Refused {
                action,
                reasons: vec![reason],
            })
        }
        r => Ok(r?),
    }
}

fn stored(id: &str, what: impl std::fmt::Display) -> ItemError {
    ItemError::Stored {
        id: id.to_owned(),
        what: what.to_string(),
    }
}

/// Base64 as clients write it: the standard alphabet, padded; stray bits
/// in the last symbol are ignored (they carry no content).
const CONTENT_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A new item from one of the party's officers: labelled, sealed at rest
/// to the party's own key, stored with its `item_created` entry.
pub async fn submit(
    node: &Node,
    person: &Person,
    req: &SubmitItem,
) -> Result<Submitted, ItemError> {
    crate::register::not_auditor(node, person, "submit items")?;
    let content = CONTENT_B64
        .decode(req.content.as_bytes())
        .map_err(|_| ItemError::Invalid("`content` is not base64".into()))?;
    let topics: Vec<&str> = req.topics.iter().map(String::as_str).collect();
    let rel: Option<Vec<&str>> = req
        .rel_to
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let created = node.now();
    let reg = node.registry();
    let mut label = reg
        .label(node.party(), &req.level, &topics, rel.as_deref(), created)
        .map_err(|e| ItemError::Invalid(e.to_string()))?;
    label.informative = holding::markings(req.reproduction.as_deref(), req.dispose_by.as_deref())?;
    if !reg.level_info(label.level).is_some_and(|l| l.classified) {
        return Err(ItemError::Invalid(format!(
            "`{}` is not a classified level; gsomia holds classified information only",
            req.level
        )));
    }
    // Written like read (Art 7, rule 10): only at or below a valid
    // clearance, within need-to-know. Who could not read it cannot make it.
    let reader = crate::register::reader(node, person)?;
    let decision = decide_access(&reg, &reader, &ItemLabels::new(label.clone()), created);
    if let d @ AccessDecision::Deny(_) = decision {
        let zone = reg
            .policy(node.me())
            .map_or(jiff::tz::TimeZone::UTC, |p| p.zone().clone());
        let explained = reg.explain_access(&d, &zone);
        let cites: Vec<String> = explained
            .iter()
            .flat_map(|r| r.cites.iter())
            .map(ToString::to_string)
            .collect();
        node.metrics()
            .refused("submit", cites.iter().map(String::as_str));
        let reasons = gsomia_core::explain::texts(&explained);
        node.record(
            Kind::SubmitDenied,
            None,
            vec![
                ("person", person.id.clone()),
                ("reasons", reasons.join(" | ")),
                ("level", req.level.clone()),
            ],
        )
        .await?;
        return Err(ItemError::Denied(reasons));
    }
    let wire = to_wire(&reg, &label);
    let sealing = node.sealing();
    let sealed = sealing.seal_for(created, node.party(), &sealing.own_key(), &wire, &content)?;
    let digest = sealed::inspect(&sealed)
        .map_err(|e| stored("new", e))?
        .header
        .content_digest;
    let id = crate::ids::new_id(node.party(), created)?;
    let label_bytes = wire.to_bytes();
    let e = node.entry(
        Kind::ItemCreated,
        Some(&id),
        vec![
            ("label", hex(&Sha256::digest(&label_bytes))),
            ("content_digest", hex(&digest)),
            ("title", format!("{} by {}", wire.level, person.id)),
        ],
    )?;
    let mut item = Item {
        id: id.clone(),
        originator: node.party().to_owned(),
        sealed,
        label: label_bytes,
        equivalent_label: None,
        received_from: None,
        created_at: created.to_string(),
        origin_item: id.clone(),
        binding: None,
        custody: None,
        lineage: None,
        disposal: None,
        index: None,
    };
    crate::custody::tag_item(node.custody(), &mut item).map_err(|b| stored(&id, b))?;
    node.store()
        .commit(Batch {
            items: vec![item],
            entries: vec![e],
            ..Batch::default()
        })
        .await?;
    Ok(Submitted {
        id,
        label: view(&wire),
        content_sha384: hex(&digest),
    })
}

/// A stored item as decisions take it, checked: the originator's label
/// from its sealed bytes (never from a column), this party's equivalent as
/// the node recorded it at receipt (never recomputed from the tables in
/// force later: rules 5 and 7), and both for the engine.
pub(crate) struct Verified {
    /// The originator's label, from the sealed bytes.
    pub wire: WireLabel,
    /// The equivalent label recorded at receipt (received items).
    pub equivalent: Option<WireLabel>,
    /// Both, resolved for the engine.
    pub labels: ItemLabels,
}

/// Checks a stored item (its custody tag, its index columns against its
/// sealed label) and resolves its labels. A breach raises an integrity
/// alarm and refuses.
pub(crate) async fn verified(node: &Node, item: &Item) -> Result<Verified, ItemError> {
    match crate::custody::check_item_any(node.custody(), item) {
        Ok(label) => resolve(node, &item.id, item.equivalent_label.as_deref(), label),
        Err(b) => {
            node.alarm(&b).await;
            Err(ItemError::Integrity(b))
        }
    }
}

/// Resolves an item's checked labels against the profiles.
pub(crate) fn resolve(
    node: &Node,
    id: &str,
    equivalent: Option<&[u8]>,
    wire: WireLabel,
) -> Result<Verified, ItemError> {
    let reg = node.registry();
    let original = from_wire(&reg, &wire).map_err(|e| stored(id, e))?;
    let mut labels = ItemLabels::new(original.clone());
    let equivalent = match equivalent {
        Some(bytes) => {
            let eq = WireLabel::from_bytes(bytes).map_err(|e| stored(id, e))?;
            let recorded = crate::labels::equivalent_from_wire(&reg, &eq, node.party())
                .map_err(|e| stored(id, e))?;
            // The agreement it came under, for citing only.
            let agreement = reg.linking(original.originator, node.me()).first().copied();
            labels.add_equivalent(gsomia_core::EquivalentLabel {
                label: recorded,
                agreement,
            });
            Some(eq)
        }
        None => None,
    };
    Ok(Verified {
        wire,
        equivalent,
        labels,
    })
}

/// Decides a read at this instant, ledgers the outcome (allowed, denied or
/// not found) before answering, and returns the item when allowed.
pub(crate) async fn decide_read(
    node: &Node,
    person: &Person,
    id: &str,
    what: &str,
) -> Result<(Item, WireLabel, Option<WireLabel>), ItemError> {
    let item = node.store().item(id).await?;
    let at = node.now();
    let outcome = match &item {
        None => Err(vec!["no such item".to_owned()]),
        Some(item) if item.disposal.is_some() => {
            // Checked first: a row that claims a disposal it never had is an alarm.
            verified(node, item).await?;
            let zone = node.zone();
            Err(vec![holding::disposed_reason(node, item, &zone)])
        }
        Some(item) => {
            let v = verified(node, item).await?;
            let reg = node.registry();
            match decide_access(&reg, &crate::register::reader(node, person)?, &v.labels, at) {
                AccessDecision::Allow { .. } => Ok((v.wire, v.equivalent)),
                d @ AccessDecision::Deny(_) => {
                    let zone = reg
                        .policy(node.me())
                        .map_or(jiff::tz::TimeZone::UTC, |p| p.zone().clone());
                    let reasons = reg.explain_access(&d, &zone);
                    node.metrics().refused(
                        "read",
                        reasons
                            .iter()
                            .flat_map(|r| r.cites.iter())
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .iter()
                            .map(String::as_str),
                    );
                    Err(gsomia_core::explain::texts(&reasons))
                }
            }
        }
    };
    let e = read_entry(
        node,
        person,
        id,
        outcome.as_ref().map(|_| format!("rule 10; {what}")),
    )?;
    // Durable before answered: the ledger entry commits first.
    node.ledger(vec![e]).await?;
    // A visitor's every access is reported to their own party (Art 8).
    if person.visit.is_some() {
        let about = item.as_ref().map_or(id, |i| i.origin_item.as_str());
        let said = match &outcome {
            Ok(_) => format!("allowed ({what})"),
            Err(r) => format!("refused ({what}): {}", r.join(" | ")),
        };
        crate::visits::report_access(node, person, about, &said).await;
    }
    match (outcome, item) {
        (Ok((wire, eq)), Some(item)) => Ok((item, wire, eq)),
        _ => Err(ItemError::NotFound),
    }
}

/// The ledger entry of a read decided for `person`: allowed under
/// `rules`, or denied for these reasons.
pub(crate) fn read_entry(
    node: &Node,
    person: &Person,
    id: &str,
    outcome: Result<String, &Vec<String>>,
) -> Result<gsomia_ledger::entry::Entry, EntryError> {
    match outcome {
        Ok(rules) => node.entry(
            Kind::ReadAllowed,
            Some(id),
            vec![("person", person.id.clone()), ("rules", rules)],
        ),
        Err(reasons) => node.entry(
            Kind::ReadDenied,
            Some(id),
            vec![
                ("person", person.id.clone()),
                ("reasons", reasons.join(" | ")),
            ],
        ),
    }
}

/// [`decide_read`], and for an item destroyed or returned that the person
/// could read were it held, a refusal saying so (rule 13) instead of "not
/// found".
pub(crate) async fn decide_read_held(
    node: &Node,
    person: &Person,
    id: &str,
    what: &str,
) -> Result<(Item, WireLabel, Option<WireLabel>), ItemError> {
    match decide_read(node, person, id, what).await {
        Err(ItemError::NotFound) => Err(holding::gone(node, person, id, what).await),
        r => r,
    }
}

/// One item's labels, if the person may read it.
pub async fn show(node: &Node, person: &Person, id: &str) -> Result<ItemView, ItemError> {
    let (item, wire, eq) = decide_read_held(node, person, id, "labels").await?;
    Ok(ItemView {
        id: item.id,
        origin_item: item.origin_item,
        originator: item.originator,
        received_from: item.received_from,
        created_at: item.created_at,
        label: view(&wire),
        equivalent_label: eq.as_ref().map(view),
    })
}

/// One item's content, if the person may read it.
pub async fn read(node: &Node, person: &Person, id: &str) -> Result<Vec<u8>, ItemError> {
    let (item, _, _) = decide_read_held(node, person, id, "content").await?;
    let opened = crate::lanes::compute(item.sealed.len(), || {
        node.sealing().open(&item.sealed, None)
    });
    match opened {
        Ok((_, content)) => Ok(content),
        Err(e) => Err(unopened(node, id, &e).await),
    }
}

/// A stored item whose content no longer opens (its ciphertext changed:
/// the tag covers the signed header, the AEAD the rest): an integrity
/// alarm, and a refusal.
pub(crate) async fn unopened(node: &Node, id: &str, e: &gsomia_seal::item::OpenError) -> ItemError {
    let b = crate::custody::unopened(id, e);
    node.alarm(&b).await;
    ItemError::Integrity(b)
}

/// How long a list looks for readable items before it answers with what
/// it found and a cursor to go on from.
pub const LIST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// A page of the items the person may read, oldest first. The store is
/// asked only for rows that could be readable (levels at or below the
/// clearance, topics within the need-to-know: indexes, never trusted);
/// each row is then checked (its tag) and decided (its verified labels);
/// paging comes after the decision, so a page says nothing of what is
/// hidden. Metadata only: no content is read.
pub async fn list(
    node: &Node,
    person: &Person,
    filter: &gsomia_api::ItemFilter,
) -> Result<ItemList, ItemError> {
    let r = crate::register::reader(node, person)?;
    let at = node.now();
    let reg = node.registry();
    let limit = crate::pages::limit(filter.limit).map_err(ItemError::Invalid)?;
    let after = crate::pages::cursor(&filter.next).map_err(ItemError::Invalid)?;
    fn given<'a>(v: &'a Option<String>, name: &str) -> Result<Option<&'a str>, ItemError> {
        crate::pages::param(v, name).map_err(ItemError::Invalid)
    }
    let since = given(&filter.since, "since")?
        .map(|t| {
            gsomia_core::time::parse_instant(t)
                .map(|t| t.as_second())
                .map_err(|e| ItemError::Invalid(format!("`since`: {e}")))
        })
        .transpose()?;
    // What the reader could possibly read: levels of the own policy at or
    // below the clearance (none once it has ended), topics within the
    // need-to-know.
    let levels: Vec<String> = match reg.level_info(r.clearance) {
        Some(c) if at < r.clearance_until => reg
            .policy(node.me())
            .map(|p| {
                p.levels()
                    .iter()
                    .filter(|l| l.rank <= c.rank && (c.classified || !l.classified))
                    .map(|l| l.native.clone())
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let levels = match given(&filter.level, "level")? {
        None => levels,
        Some(want) => {
            let want = reg
                .level(node.me(), want)
                .map_err(|e| ItemError::Invalid(e.to_string()))?;
            let name = reg.level_name(want).to_owned();
            levels.into_iter().filter(|l| *l == name).collect()
        }
    };
    let within: Vec<String> = r
        .need_to_know
        .iter()
        .map(|t| reg.topics().name(t).to_owned())
        .collect();
    let topic = match given(&filter.topic, "topic")? {
        None => None,
        Some(t) => Some(
            reg.topic(t)
                .map(|t| reg.topics().name(t).to_owned())
                .map_err(|e| ItemError::Invalid(e.to_string()))?,
        ),
    };
    let originator = match given(&filter.originator, "originator")? {
        None => None,
        Some(o) => Some(
            reg.party(o)
                .map(|p| reg.party_id(p).to_owned())
                .map_err(|e| ItemError::Invalid(e.to_string()))?,
        ),
    };
    let mut query = gsomia_store::ItemQuery {
        after,
        limit: limit.saturating_mul(2).max(64),
        levels: Some(levels),
        topics_within: Some(within),
        topic,
        originator,
        since,
        held_only: true,
        due_by: None,
    };
    let started = std::time::Instant::now();
    let mut items = Vec::new();
    let mut last = after;
    loop {
        let rows = node.store().items_page(&query).await?;
        let exhausted = rows.len() < query.limit as usize;
        for row in rows {
            last = Some(row.position);
            let wire = match crate::custody::check_item_row(node.custody(), &row) {
                Ok(w) => w,
                // A row that fails its check is left out, its alarm raised
                // naming what changed (the whole row read to tell).
                Err(b) => {
                    let b = match node.store().item(&row.id).await? {
                        Some(item) => crate::custody::check_item(node.custody(), &item)
                            .err()
                            .unwrap_or(b),
                        None => b,
                    };
                    node.alarm(&b).await;
                    continue;
                }
            };
            // Destroyed and returned items are no longer read (the record
            // the tag covers says so, whatever the index column says).
            if row.disposal.is_some() {
                continue;
            }
            let v = resolve(node, &row.id, row.equivalent_label.as_deref(), wire)?;
            if decide_access(&reg, &r, &v.labels, at).is_allow() {
                items.push(ItemSummary {
                    id: row.id,
                    origin_item: row.origin_item,
                    received_from: row.received_from,
                    label: view(&v.wire),
                    equivalent_label: v.equivalent.as_ref().map(view),
                });
                if items.len() == limit as usize {
                    return Ok(ItemList {
                        items,
                        next: last.map(|n| n.to_string()),
                    });
                }
            }
        }
        if exhausted {
            return Ok(ItemList { items, next: None });
        }
        if started.elapsed() >= LIST_DEADLINE {
            return Ok(ItemList {
                items,
                next: last.map(|n| n.to_string()),
            });
        }
        query.after = last;
    }
}
