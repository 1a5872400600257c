//! Partner changes while the node runs: the partner files
//! (`DIR/partners/*.toml`, written by `gsomia partner add|remove`) are read
//! again every [`RELOAD_EVERY`]; when they change, the new roster (keys,
//! endpoints, pinned certificates, clients) replaces the old one whole, the
//! peer endpoint accepts exactly the new certificates from its next
//! handshake, a warning queue is opened for a partner added (and closed for
//! one removed), and each change is ledgered (`partner_changed`). A file
//! that does not load leaves the roster as it was, and says why in the log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gsomia_ledger::entry::Kind;
use sha2::{Digest, Sha256};

use crate::node::{Node, Roster};
use crate::partner::Partner;
use crate::settings::Settings;

/// How often the partner files are read again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The partner files' contents, by name (what a change is measured on).
fn fingerprint(settings: &Settings) -> BTreeMap<String, [u8; 32]> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(settings.partners_dir()) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "toml")
            && let Ok(bytes) = crate::files::read_bounded(&path, 1 << 20)
        {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                Sha256::digest(&bytes).into(),
            );
        }
    }
    out
}

fn summary(p: &Partner) -> (String, String) {
    (p.endpoint.clone(), p.certificate_sha256())
}

/// Reads the partner files again if they changed, and applies them.
/// Returns whether the roster changed.
pub async fn reload(node: &Arc<Node>, settings: &Settings) -> Result<bool, String> {
    let partners = crate::partner::load(&settings.partners_dir()).map_err(|e| e.to_string())?;
    let configs = crate::partner::client_configs(&settings.tls_cert, &settings.tls_key, &partners)
        .map_err(|e| e.to_string())?;
    let before: BTreeMap<String, (String, String)> = node
        .partners()
        .iter()
        .map(|p| (p.party.clone(), summary(p)))
        .collect();
    let after: BTreeMap<String, (String, String)> = partners
        .iter()
        .map(|p| (p.party.clone(), summary(p)))
        .collect();
    if before == after {
        return Ok(false);
    }
    let roster = Roster::build(partners, configs).map_err(|e| e.to_string())?;
    node.set_roster(roster);
    let mut entries = Vec::new();
    for (party, (endpoint, cert)) in &after {
        let change = match before.get(party) {
            None => "added",
            Some(old) if old != &(endpoint.clone(), cert.clone()) => "changed",
            Some(_) => continue,
        };
        if let Some(rx) = node.feed().add_queue(party) {
            node.lanes().warning.spawn(crate::warnings::send_to_partner(
                node.clone(),
                party.clone(),
                rx,
            ));
        }
        tracing::warn!(partner = %party, %endpoint, change, "partner roster changed");
        entries.push(node.entry(
            Kind::PartnerChanged,
            None,
            vec![
                ("party", party.clone()),
                ("change", change.to_owned()),
                ("endpoint", endpoint.clone()),
                ("certificate_sha256", cert.clone()),
            ],
        ));
    }
    for party in before.keys().filter(|p| !after.contains_key(*p)) {
        node.feed().remove_queue(party);
        tracing::warn!(partner = %party, "partner removed");
        entries.push(node.entry(
            Kind::PartnerChanged,
            None,
            vec![("party", party.clone()), ("change", "removed".to_owned())],
        ));
    }
    let entries: Vec<_> = entries.into_iter().filter_map(Result::ok).collect();
    node.ledger(entries).await.map_err(|e| e.to_string())?;
    Ok(true)
}

/// Watches the partner files for as long as the node runs.
pub async fn watch(node: Arc<Node>, settings: Settings) {
    let mut last = fingerprint(&settings);
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let now = fingerprint(&settings);
        if now == last {
            continue;
        }
        match reload(&node, &settings).await {
            Ok(_) => last = now,
            Err(e) => {
                // Keep `last` as it was: the files are read again next round.
                tracing::error!(error = %e, "partner files changed but do not load; the roster is unchanged");
            }
        }
    }
}
