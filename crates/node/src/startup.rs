//! What a node checks before it serves, and refuses to start without: the
//! keys are the party's of node.toml, every private key file is readable by
//! its owner only, the database exists (only `gsomia init` makes one), takes
//! writes, and holds this node's own ledger — its latest checkpoint signed
//! by this node's key, the records it covers still hashing to its root,
//! every record after it re-verified, and no partner holding a cosignature
//! for more records than remain. Then rows kept before custody tags existed
//! are checked in full and tagged once.

use std::path::Path;
use std::sync::Arc;

use gsomia_ledger::merkle::Tree;
use gsomia_ledger::note::{Note, Signer};
use gsomia_ledger::verify::{Chain, Problem};
use gsomia_seal::custody::CustodyKey;
use gsomia_store::{Batch, Store, StoreError, Tagged};

use crate::partner::Partner;

/// Why a node refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A key file names another party than node.toml.
    #[error(
        "`{file}` holds the keys of `{found}`, but node.toml says this node serves `{expected}`"
    )]
    KeyParty {
        /// The key file.
        file: String,
        /// The party it names.
        found: String,
        /// node.toml's party.
        expected: String,
    },
    /// A private key file others may read.
    #[error(transparent)]
    Exposed(#[from] crate::keys::KeyError),
    /// The database is missing.
    #[error(
        "the database `{0}` does not exist; only `gsomia init` creates a node's database (restore it from a backup, or make a new node)"
    )]
    NoDatabase(String),
    /// The database does not take writes.
    #[error(
        "the database `{path}` does not take writes ({why}); a node that cannot record what it does does not serve"
    )]
    NotWritable {
        /// The database.
        path: String,
        /// What the write said.
        why: String,
    },
    /// The ledger is not this node's, or not as this node left it.
    #[error("the ledger in `{path}`: {problem}")]
    Ledger {
        /// The database.
        path: String,
        /// What is wrong.
        problem: LedgerProblem,
    },
    /// The store failed.
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// What is wrong with the ledger a node would start on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerProblem {
    /// No checkpoint at all (`gsomia init` stores the first).
    #[error("it has no checkpoint, so it was not made by `gsomia init`")]
    NoCheckpoint,
    /// The latest checkpoint is another node's (or does not verify).
    #[error(
        "its latest checkpoint (size {size}) is not signed by this node's key `{key}` ({why}): the database belongs to another node"
    )]
    Foreign {
        /// Its size.
        size: u64,
        /// This node's key name.
        key: String,
        /// What the verification said.
        why: String,
    },
    /// Fewer records than the latest checkpoint covers.
    #[error(
        "its latest checkpoint covers {checkpoint} records but only {records} remain: records were deleted or an older copy restored"
    )]
    Truncated {
        /// The checkpoint's size.
        checkpoint: u64,
        /// Records stored.
        records: u64,
    },
    /// A partner cosigned more records than remain.
    #[error(
        "{partner} cosigned a checkpoint of {cosigned} records but only {records} remain: records were deleted or an older copy restored"
    )]
    Cosigned {
        /// The partner.
        partner: String,
        /// The size it cosigned.
        cosigned: u64,
        /// Records stored.
        records: u64,
    },
    /// The stored records no longer hash to the checkpoint's root.
    #[error(
        "the {size} records its latest checkpoint covers no longer hash to its root: a record or its stored hash was changed (run `gsomia ledger verify` to find which)"
    )]
    Root {
        /// The checkpoint's size.
        size: u64,
    },
    /// A record after the latest checkpoint does not verify.
    #[error("record {index}, after the latest checkpoint, {what}")]
    Tail {
        /// Its index.
        index: u64,
        /// What is wrong.
        what: String,
    },
}

/// What the start-up check found.
#[derive(Debug)]
pub struct Checked {
    /// Records in the ledger.
    pub records: u64,
    /// The latest checkpoint's size.
    pub checkpoint: u64,
    /// The ledger tree over every stored leaf hash, built on the way (the
    /// node starts from it rather than reading the hashes again).
    pub tree: Tree,
}

/// Refuses key files of another party than `party`.
pub(crate) fn keys_are(party: &str, file: &Path, found: &str) -> Result<(), StartError> {
    if found == party {
        Ok(())
    } else {
        Err(StartError::KeyParty {
            file: file.display().to_string(),
            found: found.to_owned(),
            expected: party.to_owned(),
        })
    }
}

/// Refuses private key files others may read (the TLS key, and the local
/// CA's key beside its certificate when there is one). The signing and
/// recipient keys are checked where they are read.
pub(crate) fn private_files(tls_key: &Path, tls_ca: &Path) -> Result<(), StartError> {
    crate::keys::owner_only(tls_key)?;
    let ca_key = tls_ca.with_extension("key");
    if ca_key.is_file() {
        crate::keys::owner_only(&ca_key)?;
    }
    Ok(())
}

/// Opens the node's database: it must exist and take writes.
pub(crate) async fn open(
    database: &crate::settings::Database,
    at: &str,
) -> Result<Arc<dyn Store>, StartError> {
    let store: Arc<dyn Store> = match database.open().await {
        Ok(s) => s,
        Err(StoreError::NoDatabase(p)) => return Err(StartError::NoDatabase(p)),
        Err(e) => {
            return Err(StartError::NotWritable {
                path: database.to_string(),
                why: e.to_string(),
            });
        }
    };
    store
        .probe_write(at)
        .await
        .map_err(|e| StartError::NotWritable {
            path: database.to_string(),
            why: e.to_string(),
        })?;
    Ok(store)
}

/// Checks that the ledger in `store` is this node's (signed with `signer`)
/// and as it left it: the latest checkpoint verifies, covers no more
/// records than remain, and its root is recomputed from the stored leaf
/// hashes; every record after it is decoded, re-hashed and its chain
/// checked; no partner's cosignature covers more records than remain.
pub(crate) async fn ledger(store: &dyn Store, signer: &Signer) -> Result<Checked, LedgerProblem> {
    let records = store.ledger_size().await.map_err(tail_err(0))?;
    let (size, text) = store
        .latest_checkpoint()
        .await
        .map_err(tail_err(0))?
        .ok_or(LedgerProblem::NoCheckpoint)?;
    let foreign = |why: String| LedgerProblem::Foreign {
        size,
        key: signer.name.clone(),
        why,
    };
    let note = Note::parse(&text).map_err(|e| foreign(e.to_string()))?;
    let c = signer
        .verifier()
        .verify_checkpoint(&note)
        .map_err(|e| foreign(e.to_string()))?;
    if c.size != size {
        return Err(foreign(format!(
            "it says size {} in a row of size {size}",
            c.size
        )));
    }
    if c.size > records {
        return Err(LedgerProblem::Truncated {
            checkpoint: c.size,
            records,
        });
    }
    for (cosigned, partner, _, _) in store.cosignatures().await.map_err(tail_err(0))? {
        if cosigned > records {
            return Err(LedgerProblem::Cosigned {
                partner,
                cosigned,
                records,
            });
        }
    }
    // The covered records' stored hashes against the signed root.
    let mut tree = Tree::compact(crate::checkpoints::TREE_BLOCK_BITS);
    let leaves = store.leaf_hashes(0).await.map_err(tail_err(0))?;
    let covered = usize::try_from(c.size).unwrap_or(usize::MAX);
    for h in leaves.iter().take(covered) {
        tree.push_hash(*h);
    }
    if tree.size() != c.size || tree.root() != c.root {
        return Err(LedgerProblem::Root { size: c.size });
    }
    for h in leaves.iter().skip(covered) {
        tree.push_hash(*h);
    }
    // Every record after it, from its bytes; the first one's link is
    // covered by the root.
    let from = c.size.saturating_sub(1);
    let mut chain = Chain::resume(from);
    for (i, (stored, bytes)) in store
        .records(from, records)
        .await
        .map_err(tail_err(from))?
        .into_iter()
        .enumerate()
    {
        let index = from + i as u64;
        chain
            .push(&stored, &bytes)
            .map_err(|p| LedgerProblem::Tail {
                index,
                what: match p {
                    Problem::Altered { index: at } if at == index => {
                        "no longer matches its stored hash".into()
                    }
                    Problem::Altered { .. } => "does not link to the record before it".into(),
                    Problem::Malformed { error, .. } => format!("does not decode: {error}"),
                    Problem::Index { claimed, .. } => format!("claims index {claimed}"),
                    other => other.to_string(),
                },
            })?;
    }
    Ok(Checked {
        records,
        checkpoint: c.size,
        tree,
    })
}

fn tail_err(index: u64) -> impl Fn(StoreError) -> LedgerProblem {
    move |e| LedgerProblem::Tail {
        index,
        what: format!("cannot be read: {e}"),
    }
}

/// Tags the rows kept before custody tags existed, each checked in full
/// first: an item's binding signature (with the partner's pinned key for a
/// received item) and its label columns against the sealed label; people
/// and queued transfers as found (the ledger audit checks them against
/// their entries). A row that fails is left untagged, so every use of it
/// is refused. One `custody_tagged` entry records the counts.
pub(crate) async fn tag_untagged(
    store: &dyn Store,
    key: &CustodyKey,
    party: &str,
    partners: &[Partner],
    entry: impl FnOnce(Vec<(&str, String)>) -> Option<gsomia_ledger::entry::Entry>,
) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    let (mut items, mut people, mut transfers) = (0u64, 0u64, 0u64);
    for id in store.item_ids().await? {
        let Some(mut item) = store.item(&id).await? else {
            continue;
        };
        if item.custody.is_some() && item.binding.is_some() {
            continue;
        }
        let verified = gsomia_seal::item::inspect(&item.sealed).is_ok_and(|i| {
            let sender_ok = match &item.received_from {
                None => i.header.sender == party,
                Some(from) => partners
                    .iter()
                    .find(|p| &p.party == from)
                    .is_some_and(|p| i.check_sender(from, p.key()).is_ok()),
            };
            sender_ok
                && i.header.label.to_bytes() == item.label
                && i.header.label.originator == item.originator
        });
        if verified && crate::custody::tag_item(key, &mut item).is_ok() {
            if let (Some(tag), Some(binding), Some(index)) = (
                item.custody.clone(),
                item.binding.clone(),
                crate::custody::index_of(&item),
            ) {
                batch.backfill.push((Tagged::Item, id.clone(), tag));
                batch.reindex.push((id, binding, index));
                items += 1;
            }
        } else {
            tracing::error!(item = %id, "an item kept before custody tags does not verify; left untagged, so it is refused");
        }
    }
    for mut p in store.people().await? {
        if p.custody.is_none() {
            crate::custody::tag_person(key, &mut p);
            if let Some(tag) = p.custody {
                batch.backfill.push((Tagged::Person, p.id, tag));
                people += 1;
            }
        }
    }
    for mut o in store.due(i64::MAX, u32::MAX).await? {
        if o.custody.is_none() {
            crate::custody::tag_outgoing(key, &mut o);
            if let Some(tag) = o.custody {
                batch.backfill.push((Tagged::Outbox, o.transfer, tag));
                transfers += 1;
            }
        }
    }
    if batch.backfill.is_empty() && batch.reindex.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        items,
        people,
        transfers,
        "rows kept before custody tags were checked and tagged"
    );
    batch.entries.extend(entry(vec![
        ("items", items.to_string()),
        ("people", people.to_string()),
        ("transfers", transfers.to_string()),
    ]));
    store.commit(batch).await.map(|_| ())
}
