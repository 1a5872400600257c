//! Several processes of one node on a shared store: what one process holds
//! in memory, rebuilt when another has recorded something it was built
//! from. Nothing happens on a store of one process (SQLite).

use crate::node::Node;

/// When the store has kept a message (an agreement event, a consent, a
/// notice, a visit) or a facility record since this process last looked:
/// the registry (agreement events replayed on it), the facilities and the
/// visits rebuilt from it, so this process decides under what another has
/// recorded. Whether anything was rebuilt.
pub(crate) async fn registers(node: &Node) -> bool {
    if !node.store().shared() {
        return false;
    }
    // Read before the lock: concurrent releases each ask at once instead
    // of queueing behind one another's query. A caller that finds the
    // version moved waits for the lock, and finds it rebuilt by whoever
    // held it, or rebuilds it itself.
    let v = match node.store().registers_version().await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the registers' version");
            return false;
        }
    };
    let mut seen = node.registers_seen().lock().await;
    // Both parts only grow: rebuilt at or past `v` (perhaps by a caller
    // that read a later version) is enough.
    if seen.is_some_and(|s| s.0 >= v.0 && s.1 >= v.1) {
        return false;
    }
    {
        let _one = node.agreements_lock().lock().await;
        match crate::agreements::replay(node.store().as_ref(), (*node.registry()).clone()).await {
            Ok(r) => node.set_registry(r),
            Err(e) => {
                tracing::error!(error = %e, "agreement events kept by another process do not replay here");
                return false;
            }
        }
    }
    if let Err(e) = crate::facilities::load(node).await {
        tracing::error!(error = %e, "cannot reload the contractor facilities");
        return false;
    }
    if let Err(e) = crate::visits::load(node).await {
        tracing::error!(error = %e, "cannot reload the visits");
        return false;
    }
    *seen = Some(seen.map_or(v, |s| (s.0.max(v.0), s.1.max(v.1))));
    true
}
