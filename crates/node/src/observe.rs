//! What an operator sees of stored state: the gauges of `/metrics` read
//! from the store at each scrape (outbox per partner, ledger size) and from
//! the checkpoint keeper (age of the last checkpoint).

use crate::metrics::PartnerLabel;
use crate::node::{LedgerError, Node};

/// Sets the gauges from the store and the checkpoint state, now.
pub async fn refresh(node: &Node) -> Result<(), LedgerError> {
    let m = node.metrics();
    let now = node.now().as_second();
    let stats = node.store().outbox_stats().await?;
    // Every partner has a value, zero when nothing waits for it.
    for p in node.partners() {
        let (depth, oldest) = stats
            .iter()
            .find(|s| s.recipient == p.party)
            .map_or((0, 0.0), |s| {
                (
                    i64::try_from(s.depth).unwrap_or(i64::MAX),
                    (now - s.oldest_queued_at).max(0) as f64,
                )
            });
        let label = PartnerLabel {
            partner: p.party.clone(),
        };
        m.outbox_depth.get_or_create(&label).set(depth);
        m.outbox_oldest.get_or_create(&label).set(oldest);
    }
    let size = node.store().ledger_size().await?;
    m.ledger_size.set(i64::try_from(size).unwrap_or(i64::MAX));
    match node.checkpoints().last_stored() {
        Some((size, age)) => {
            m.checkpoint_age.set(age.as_secs_f64());
            m.checkpoint_size
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
        None => {
            m.checkpoint_age.set(-1.0);
        }
    }
    Ok(())
}
