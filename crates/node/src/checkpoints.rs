//! This node's own checkpoints: the ledger tree in memory (compact), signed
//! checkpoints of the ledger as committed, published by compare-and-swap on
//! their size, handed out in receipts and to witnesses, and the keeper that
//! stores the latest soon after a receipt handed one out.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gsomia_ledger::merkle::{Hash, ProofError, Tree};
use gsomia_ledger::note::{Checkpoint, Signer};
use gsomia_seal::transfer::Receipt;
use gsomia_store::{Store, StoreError};
use tokio::sync::Notify;

/// The ledger tree in memory keeps two hashes per block of 2^10 leaves
/// (64 bytes per 1,024 entries) and the last block's own; a proof about an
/// older block reads that block's 1,024 leaf hashes from the store.
pub const TREE_BLOCK_BITS: u32 = 10;

/// Why a checkpoint could not be made or published.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof could not be made (a size beyond the ledger).
    #[error("consistency proof: {0}")]
    Proof(#[from] ProofError),
    /// Another checkpoint of this size exists with another root: the
    /// compare-and-swap was lost. Never a fork: nothing is published.
    #[error("a different checkpoint of size {0} is already published")]
    Conflict(u64),
}

impl crate::error::Classified for CheckpointError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Internal
    }
}

/// A signed checkpoint: what it says, the signed note, and a consistency
/// proof from the size asked for.
pub type Signed = (Checkpoint, String, Vec<Hash>);

/// The node's checkpoint state.
pub struct Checkpoints {
    store: Arc<dyn Store>,
    signer: Arc<Signer>,
    /// The ledger tree as last brought up to the store, compact.
    tree: tokio::sync::Mutex<Tree>,
    /// Wakes the keeper when a receipt handed out a checkpoint not stored yet.
    due: Notify,
    /// The size and time of the last checkpoint this process stored.
    last_stored: Mutex<Option<(u64, Instant)>>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints").finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// The checkpoint state of the ledger in `store`, signed by `signer`:
    /// `tree` (a compact tree of the stored leaf hashes, built by the
    /// caller; it may lag the store, and catches up at the next signing),
    /// or one rebuilt from the stored leaf hashes.
    pub async fn load(
        store: Arc<dyn Store>,
        signer: Arc<Signer>,
        tree: Option<Tree>,
    ) -> Result<Checkpoints, CheckpointError> {
        let tree = match tree {
            Some(t) => t,
            None => {
                let mut tree = Tree::compact(TREE_BLOCK_BITS);
                for h in store.leaf_hashes(0).await? {
                    tree.push_hash(h);
                }
                tree
            }
        };
        Ok(Checkpoints {
            store,
            signer,
            tree: tokio::sync::Mutex::new(tree),
            due: Notify::new(),
            last_stored: Mutex::new(None),
        })
    }

    /// The size of the last checkpoint this process stored and how long ago.
    pub fn last_stored(&self) -> Option<(u64, Duration)> {
        crate::locked(&self.last_stored).map(|(size, at)| (size, at.elapsed()))
    }

    /// From which leaf the tree in memory still holds leaf hashes, and its root.
    #[cfg_attr(
        not(feature = "testkit"),
        allow(dead_code, reason = "tests look at the tree")
    )]
    pub(crate) async fn tree_state(&self) -> (u64, Hash) {
        let tree = self.tree.lock().await;
        (tree.held_from(), tree.root())
    }

    /// Brings the tree up to the stored ledger and signs a checkpoint of it,
    /// with a consistency proof from the tree of size `from`; stores nothing.
    pub async fn sign(&self, from: u64) -> Result<Signed, CheckpointError> {
        let mut tree = self.tree.lock().await;
        for h in self.store.leaf_hashes(tree.size()).await? {
            tree.push_hash(h);
        }
        let c = Checkpoint {
            origin: self.signer.name.clone(),
            size: tree.size(),
            root: tree.root(),
        };
        let proof = if from == 0 || from >= c.size {
            Vec::new()
        } else {
            match tree.consistency_proof(from, c.size) {
                Ok(p) => p,
                // The block the proof needs left memory: its leaves are in the store.
                Err(ProofError::Pruned { index }) => {
                    let (first, end) = tree.block_of(index);
                    let leaves: Vec<Hash> = self
                        .store
                        .records(first, end)
                        .await?
                        .into_iter()
                        .map(|(h, _)| h)
                        .collect();
                    tree.view_with(c.size, first, &leaves)
                        .and_then(|v| v.consistency_proof(from))?
                }
                Err(e) => return Err(e.into()),
            }
        };
        let note = self.signer.sign_checkpoint(&c).render();
        Ok((c, note, proof))
    }

    /// Signs and publishes a checkpoint of the ledger as stored now
    /// (compare-and-swap on the size), proved consistent with size `from`.
    pub async fn publish(&self, from: u64) -> Result<Signed, CheckpointError> {
        let (c, note, proof) = self.sign(from).await?;
        match self.store.put_checkpoint(c.size, c.root, &note).await {
            Ok(()) => {
                *crate::locked(&self.last_stored) = Some((c.size, Instant::now()));
                Ok((c, note, proof))
            }
            Err(StoreError::Conflict(n)) => Err(CheckpointError::Conflict(n)),
            Err(e) => Err(e.into()),
        }
    }

    /// A signed checkpoint of the ledger as committed now, for a receipt. It
    /// is not stored on the receipt's path (that would be one more `fsync`
    /// before every answer): the keeper is woken and stores the latest one
    /// soon after. Nothing is lost if it never does: the records it covers
    /// are durable, and the same size always gives the same root and the
    /// same (deterministic) signature.
    pub async fn for_receipt(&self) -> Result<String, CheckpointError> {
        let (_, note, _) = self.sign(0).await?;
        self.due.notify_one();
        Ok(note)
    }

    /// A signed receipt from `party` for message `id` (stored here as
    /// `item`), carrying a fresh checkpoint of this node's ledger.
    pub async fn receipt(
        &self,
        party: &str,
        id: &str,
        item: &str,
        duplicate: bool,
    ) -> Result<Vec<u8>, CheckpointError> {
        let note = self.for_receipt().await?;
        Ok(Receipt {
            transfer: id.to_owned(),
            recipient: party.to_owned(),
            item: item.to_owned(),
            duplicate,
            checkpoint: note,
        }
        .seal(&self.signer.key))
    }

    /// The keeper: stores a signed checkpoint whenever the ledger has grown
    /// past the last one stored, at most every `every`, and sooner when a
    /// receipt has handed out a checkpoint not stored yet. Runs until the
    /// task is dropped.
    pub async fn keep(self: Arc<Self>, every: Duration) {
        let mut stored = match self.store.latest_checkpoint().await {
            Ok(c) => c.map_or(0, |(size, _)| size),
            Err(e) => {
                tracing::error!(error = %e, "checkpoints: cannot read the latest");
                0
            }
        };
        loop {
            let _ = tokio::time::timeout(every, self.due.notified()).await;
            let grown = match self.store.ledger_size().await {
                Ok(size) => size > stored,
                Err(e) => {
                    tracing::error!(error = %e, "checkpoints: cannot read the ledger size");
                    false
                }
            };
            // One process of a node publishes at a time (the compare-and-
            // swap would keep one of two anyway); another takes over when
            // its lease lapses.
            let lease = i64::try_from(every.as_secs().saturating_mul(3).max(3)).unwrap_or(i64::MAX);
            let leads = grown
                && match self.store.lead("checkpoints", lease).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "checkpoints: cannot read the lease");
                        false
                    }
                };
            if leads {
                match self.publish(0).await {
                    Ok((c, _, _)) => stored = c.size,
                    Err(e) => tracing::error!(error = %e, "checkpoints: cannot publish"),
                }
            }
        }
    }
}
