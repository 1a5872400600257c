//! The records a security officer audits (rule 11; Art 6): an item's whole
//! history (identification, location, what was made from it, every ledger
//! record about it) and the inventory of every item held or once held.
//! Metadata only: no content is read. Every row is checked with its
//! custody tag and every ledger record re-hashed and matched to its
//! subject before it is shown; a failure raises an alarm and is shown as
//! such, never hidden.

use gsomia_api::{HistoryEntry, InventoryEntry, InventoryFilter, ItemHistory, MadeFrom, Page};
use gsomia_core::{AccessDecision, decide_access};
use gsomia_ledger::entry::Record;
use gsomia_seal::item::WireLabel;
use gsomia_store::{Item, ItemRow, Person};

use super::holding::{keeps_records, lineage_of};
use super::{ItemError, resolve, stored};
use crate::custody::Breach;
use crate::labels::view;
use crate::lineage::{Disposal, Lineage, Made};
use crate::node::Node;

fn made_detail(l: &Lineage) -> String {
    match &l.made {
        Made::Derived => format!(
            "derived from {}",
            l.sources
                .iter()
                .map(|s| s.item.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        m => m.describe(),
    }
}

fn state_of(disposal: Option<&[u8]>) -> (String, Option<String>) {
    match disposal.map(Disposal::from_bytes) {
        None => ("held".into(), None),
        Some(Ok(d)) => (d.how.as_str().into(), Some(d.at)),
        Some(Err(_)) => ("integrity".into(), None),
    }
}

/// Decides whether `person` may see the item's history: security officers
/// and auditors see every item's records; anyone else only an item they
/// could read (its labels decided at this instant, whether or not it is
/// still held). Ledgered either way before the answer.
async fn may_see(node: &Node, person: &Person, item: &Item) -> Result<WireLabel, ItemError> {
    let label = match crate::custody::check_item_any(node.custody(), item) {
        Ok(l) => l,
        Err(b) => {
            node.alarm(&b).await;
            return Err(ItemError::Integrity(b));
        }
    };
    let allowed = if keeps_records(person) {
        Ok("rule 11; history (records of the register)".to_owned())
    } else {
        let v = resolve(
            node,
            &item.id,
            item.equivalent_label.as_deref(),
            label.clone(),
        )?;
        let reg = node.registry();
        match decide_access(
            &reg,
            &crate::register::reader(node, person)?,
            &v.labels,
            node.now(),
        ) {
            AccessDecision::Allow { .. } => Ok("rule 10; history".to_owned()),
            d @ AccessDecision::Deny(_) => Err(gsomia_core::explain::texts(
                &reg.explain_access(&d, &node.zone()),
            )),
        }
    };
    let outcome = match &allowed {
        Ok(rules) => Ok(rules.clone()),
        Err(reasons) => Err(reasons),
    };
    let e = super::read_entry(node, person, &item.id, outcome)?;
    node.ledger(vec![e]).await?;
    match allowed {
        Ok(_) => Ok(label),
        Err(_) => Err(ItemError::NotFound),
    }
}

/// The ledger records about `subjects`, each re-hashed and its subject
/// checked (a record that fails raises an alarm and ends the page there).
async fn records(
    node: &Node,
    subjects: &[String],
    after: Option<u64>,
    limit: u32,
) -> Result<(Vec<HistoryEntry>, Option<String>), ItemError> {
    let rows = node.store().history(subjects, after, limit).await?;
    let full = rows.len() == limit as usize;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = after;
    for (idx, stored_hash, bytes) in rows {
        let bad = |detail: String| Breach {
            subject: format!("ledger record {idx}"),
            check: crate::custody::Check::Tag,
            detail,
        };
        if gsomia_ledger::merkle::leaf_hash(&bytes) != stored_hash {
            let b = bad("its bytes do not hash to the stored leaf hash".into());
            node.alarm(&b).await;
            return Err(ItemError::Integrity(b));
        }
        let rec = match Record::from_bytes(&bytes) {
            Ok(r) if r.index == idx => r,
            _ => {
                let b = bad("it does not decode as the record at this index".into());
                node.alarm(&b).await;
                return Err(ItemError::Integrity(b));
            }
        };
        let Some(subject) = rec.entry.item().filter(|s| subjects.iter().any(|x| x == s)) else {
            let b = bad("its subject index names an item the record is not about".into());
            node.alarm(&b).await;
            return Err(ItemError::Integrity(b));
        };
        let (secs, nanos) = rec.entry.at();
        out.push(HistoryEntry {
            index: idx,
            at: gsomia_core::time::from_wire((secs, nanos))
                .map(|t| t.to_string())
                .unwrap_or_default(),
            kind: rec.entry.kind().as_str().to_owned(),
            item: subject.to_owned(),
            fields: rec.entry.fields().iter().cloned().collect(),
        });
        last = Some(idx);
    }
    Ok((
        out,
        if full {
            last.map(|l| l.to_string())
        } else {
            None
        },
    ))
}

/// An item's whole record at this node: identification (ids, labels),
/// location, state, how it was made and from what, what was made from it
/// with their states, and a page of every ledger record about it and
/// about what was made from it (creation or receipt, reads, releases,
/// deliveries, copies, translations, destruction, return).
pub async fn history(
    node: &Node,
    person: &Person,
    id: &str,
    page: &Page,
) -> Result<ItemHistory, ItemError> {
    let limit = crate::pages::limit(page.limit).map_err(ItemError::Invalid)?;
    let after = crate::pages::cursor(&page.next)
        .map_err(ItemError::Invalid)?
        .map(|n| u64::try_from(n).unwrap_or(0));
    let Some(item) = node.store().item(id).await? else {
        return Err(ItemError::NotFound);
    };
    let label = may_see(node, person, &item).await?;
    let eq = item
        .equivalent_label
        .as_deref()
        .map(WireLabel::from_bytes)
        .transpose()
        .map_err(|e| stored(id, e))?;
    let lineage = lineage_of(id, item.lineage.as_deref())?;
    let mut derived = Vec::new();
    let mut subjects = vec![item.id.clone()];
    for row in node.store().made_from(id).await? {
        let state = match crate::custody::check_item_row(node.custody(), &row) {
            Ok(_) => state_of(row.disposal.as_deref()).0,
            Err(b) => {
                node.alarm(&b).await;
                "integrity".into()
            }
        };
        let l = lineage_of(&row.id, row.lineage.as_deref()).ok().flatten();
        derived.push(MadeFrom {
            id: row.id.clone(),
            kind: l.as_ref().map_or("?", |l| l.made.kind()).to_owned(),
            detail: l.as_ref().map(made_detail).unwrap_or_default(),
            state,
        });
        subjects.push(row.id);
    }
    let (entries, next) = records(node, &subjects, after, limit).await?;
    let (state, disposed_at) = state_of(item.disposal.as_deref());
    let sources = match &lineage {
        Some(l) => l
            .sources
            .iter()
            .map(super::holding::source_view)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(ItemHistory {
        id: item.id.clone(),
        origin_item: item.origin_item.clone(),
        originator: item.originator.clone(),
        location: format!("{} (this node's store)", node.party()),
        state,
        disposed_at,
        label: view(&label),
        equivalent_label: eq.as_ref().map(view),
        made: lineage.as_ref().map(|l| l.made.kind().to_owned()),
        made_detail: lineage.as_ref().map(made_detail),
        sources,
        derived,
        entries,
        next,
    })
}

fn entry_of(node: &Node, row: &ItemRow, now: i64) -> InventoryEntry {
    let mut e = InventoryEntry {
        id: row.id.clone(),
        origin_item: row.origin_item.clone(),
        originator: row.originator.clone(),
        level: String::new(),
        topics: Vec::new(),
        received_from: row.received_from.clone(),
        created_at: row.created_at.clone(),
        state: "integrity".into(),
        made: None,
        source: None,
        dispose_by: None,
        overdue: false,
        disposed_at: None,
    };
    let Ok(label) = crate::custody::check_item_row(node.custody(), row) else {
        return e;
    };
    let eq = row
        .equivalent_label
        .as_deref()
        .and_then(|b| WireLabel::from_bytes(b).ok());
    e.level = eq.as_ref().map_or(label.level.clone(), |l| l.level.clone());
    e.topics = label.topics.clone();
    let (state, disposed_at) = state_of(row.disposal.as_deref());
    e.state = state;
    e.disposed_at = disposed_at;
    if let Ok(Some(l)) = lineage_of(&row.id, row.lineage.as_deref()) {
        e.made = Some(l.made.describe());
        e.source = l.sources.first().map(|s| s.item.clone());
    }
    if let Some(by) = crate::labels::dispose_by(&label) {
        e.dispose_by = Some(by.to_string());
        e.overdue = e.state == "held" && by.as_second() <= now;
    }
    e
}

/// The inventory (rule 11; Art 6): every item held or once held here, in
/// the order stored, with its state; `due`: only those held whose
/// originator's return-or-destroy date has passed; `held`: only those
/// still held. For security officers and auditors. A row that fails its
/// check is listed as `integrity` (and raises an alarm), never left out.
pub async fn inventory(
    node: &Node,
    person: &Person,
    filter: &InventoryFilter,
) -> Result<gsomia_api::Inventory, ItemError> {
    crate::register::keeper_of_records(node, person, "see the inventory")?;
    let limit = crate::pages::limit(filter.limit).map_err(ItemError::Invalid)?;
    let after = crate::pages::cursor(&filter.next).map_err(ItemError::Invalid)?;
    let due = filter.due.unwrap_or(false);
    let held = filter.held.unwrap_or(false);
    let now = node.now().as_second();
    let rows = node
        .store()
        .items_page(&gsomia_store::ItemQuery {
            after,
            limit,
            held_only: held,
            due_by: due.then_some(now),
            ..gsomia_store::ItemQuery::default()
        })
        .await?;
    let full = rows.len() == limit as usize;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = after;
    for row in &rows {
        last = Some(row.position);
        let e = entry_of(node, row, now);
        if e.state == "integrity" {
            if let Err(b) = crate::custody::check_item_row(node.custody(), row) {
                node.alarm(&b).await;
            }
        } else if (held || due) && e.state != "held" {
            // The index said held; the record the tag covers says not.
            continue;
        }
        items.push(e);
    }
    Ok(gsomia_api::Inventory {
        items,
        next: if full {
            last.map(|n| n.to_string())
        } else {
            None
        },
    })
}
