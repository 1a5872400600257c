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
    let mut seen = node.registers_seen().lock().await;
    let v = match node.store().registers_version().await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the registers' version");
            return false;
        }
    };
    if *seen == Some(v) {
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
    *seen = Some(v);
    true
}
