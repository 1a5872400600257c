//! `gsomia item reclassify|reclassifications`: the originator changes an
//! item's classification (rule 8) and sees who has applied it.

use anyhow::Result;
use gsomia_api::{Reclassification, ReclassifyItem};

use crate::holding::answered;
use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, doc};

fn describe(r: &Reclassification) -> String {
    let mut text = format!(
        "{}  notice {} (#{}) by {}: {} → {}{}\n  reason: {}\n",
        r.origin_item,
        r.id,
        r.seq,
        r.originator,
        r.previous,
        r.level,
        r.received_from
            .as_deref()
            .map(|f| format!(" (received from {f})"))
            .unwrap_or_default(),
        r.reason
    );
    for a in &r.applied {
        text.push_str(&format!(
            "  here   {:<40} {:<11} held at {}{}\n",
            a.id,
            a.kind,
            a.level,
            if a.covered {
                ""
            } else {
                " (no agreement covers the new level: protected here, provided no further)"
            }
        ));
    }
    for t in &r.sent_to {
        text.push_str(&format!(
            "  sent   {:<6} {}{}\n",
            t.recipient,
            t.state.as_str(),
            t.delivered_at
                .as_deref()
                .map(|d| format!(" (applied, acknowledged {d})"))
                .unwrap_or_default()
        ));
    }
    text
}

/// `gsomia item reclassify ID --level L --reason R`.
pub fn reclassify(node: &NodeArgs, id: &str, level: &str, reason: &str) -> Result<Outcome> {
    let c = client(node)?;
    let req = ReclassifyItem {
        level: level.to_owned(),
        reason: reason.to_owned(),
    };
    let r = match answered("reclassify", id, block(c.reclassify(id, &req)))? {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    Ok(Outcome::ok(
        doc(&r),
        format!("RECLASSIFIED  {}", describe(&r)),
    ))
}

/// `gsomia item reclassifications ID`.
pub fn list(node: &NodeArgs, id: &str) -> Result<Outcome> {
    let c = client(node)?;
    let l = match answered("reclassifications of", id, block(c.reclassifications(id)))? {
        Ok(l) => l,
        Err(o) => return Ok(o),
    };
    let mut text = String::new();
    if l.items.is_empty() {
        text.push_str(&format!("{id}: never reclassified\n"));
    }
    for r in &l.items {
        text.push_str(&describe(r));
    }
    Ok(Outcome::ok(doc(&l), text))
}
