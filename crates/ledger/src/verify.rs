//! The verifier: recomputes every root from the stored records (not only
//! from proofs), checks every checkpoint's signature and that each extends
//! the one before, and names the first bad record or checkpoint.

use crate::entry::{EntryError, GENESIS, Record, unframe};
use crate::merkle::{Hash, Tree, leaf_hash};
use crate::note::{Checkpoint, Note, NoteError, Verifier};

/// What was wrong, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A frame cut short or oversized (a length changed, or the file truncated mid-record).
    #[error("record {index}: damaged frame at byte {offset}")]
    Frame {
        /// The record's position.
        index: u64,
        /// Byte offset in the log file.
        offset: usize,
    },
    /// A record that does not decode.
    #[error("record {index}: does not decode ({error})")]
    Malformed {
        /// Its position in the file.
        index: u64,
        /// Why.
        error: EntryError,
    },
    /// A record whose index is not its position (deleted, inserted or moved records).
    #[error("record {index}: claims index {claimed} (records deleted, inserted or reordered)")]
    Index {
        /// Its position.
        index: u64,
        /// The index it carries.
        claimed: u64,
    },
    /// A record whose bytes no longer match its stored hash, or whose hash no
    /// longer matches the next record's link.
    #[error("record {index}: altered")]
    Altered {
        /// The altered record.
        index: u64,
    },
    /// A checkpoint note that does not parse or verify.
    #[error("checkpoint `{name}`: {error}")]
    Checkpoint {
        /// Its name (file).
        name: String,
        /// Why.
        error: NoteError,
    },
    /// A checkpoint of another log.
    #[error("checkpoint `{name}`: origin `{found}` is not `{expected}`")]
    Origin {
        /// Its name.
        name: String,
        /// The origin found.
        found: String,
        /// The ledger's origin.
        expected: String,
    },
    /// A checkpoint for more records than stored (records truncated).
    #[error(
        "checkpoint `{name}` covers {size} records but only {stored} are stored (records truncated)"
    )]
    Truncated {
        /// Its name.
        name: String,
        /// Its size.
        size: u64,
        /// Records stored.
        stored: u64,
    },
    /// A checkpoint whose root differs from the recomputed one.
    #[error(
        "checkpoint `{name}` (size {size}) does not match the records: the last record it covers ({last}) or an earlier one was altered"
    )]
    Root {
        /// Its name.
        name: String,
        /// Its size.
        size: u64,
        /// The last record it covers.
        last: u64,
    },
    /// Checkpoints out of order (a smaller size after a larger one).
    #[error("checkpoint `{name}` (size {size}) comes after a checkpoint of size {previous}")]
    Order {
        /// Its name.
        name: String,
        /// Its size.
        size: u64,
        /// The previous size.
        previous: u64,
    },
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records verified.
    pub records: u64,
    /// Checkpoints verified.
    pub checkpoints: usize,
    /// The root of all records.
    pub root: Hash,
    /// The latest checkpoint, if any.
    pub latest: Option<Checkpoint>,
}

/// Records checked one after another, as every reader of a ledger checks
/// them (a log file, a node's store at start-up, a store being copied):
/// each record's bytes against its stored hash, that it decodes, that its
/// index is its position, and that it links to the record before it.
#[derive(Debug, Clone)]
pub struct Chain {
    next: u64,
    /// The hash the next record must link to; none when the walk resumed
    /// at a record whose predecessor was not read.
    prev: Option<Hash>,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain::new()
    }
}

impl Chain {
    /// A walk from the first record (which links to [`GENESIS`]).
    pub fn new() -> Chain {
        Chain {
            next: 0,
            prev: Some(GENESIS),
        }
    }

    /// A walk from record `index`, whose link to the record before it is
    /// not checked (that record is not read); every later link is.
    pub fn resume(index: u64) -> Chain {
        if index == 0 {
            return Chain::new();
        }
        Chain {
            next: index,
            prev: None,
        }
    }

    /// Checks the next record (`bytes`, stored beside `stored`); its hash.
    /// A link that fails names the record before it as altered (rewritten
    /// together with its stored hash).
    pub fn push(&mut self, stored: &Hash, bytes: &[u8]) -> Result<Hash, Problem> {
        let index = self.next;
        let hash = leaf_hash(bytes);
        if hash != *stored {
            return Err(Problem::Altered { index });
        }
        let record =
            Record::from_bytes(bytes).map_err(|error| Problem::Malformed { index, error })?;
        if record.index != index {
            return Err(Problem::Index {
                index,
                claimed: record.index,
            });
        }
        if self.prev.is_some_and(|p| p != record.prev) {
            return Err(Problem::Altered {
                index: index.saturating_sub(1),
            });
        }
        self.prev = Some(hash);
        self.next = index.saturating_add(1);
        Ok(hash)
    }
}

/// Verifies a log file (framed records, see [`crate::entry::frame`]) and
/// checkpoint notes (name, text; in increasing size) against the log key.
///
/// A record is named as altered when its bytes no longer match its stored
/// hash; when a record was rewritten together with its stored hash, the next
/// record's link names it; the last record's rewrite is caught by the
/// checkpoints covering it.
pub fn verify(
    origin: &str,
    key: &Verifier,
    log: &[u8],
    checkpoints: &[(String, String)],
) -> Result<Report, Problem> {
    let (frames, stopped) = unframe(log);
    let mut tree = Tree::new();
    let mut chain = Chain::new();
    for f in &frames {
        tree.push_hash(chain.push(&f.stored, f.bytes)?);
    }
    if let Some((index, offset)) = stopped {
        return Err(Problem::Frame { index, offset });
    }
    let stored = tree.size();
    let mut latest: Option<Checkpoint> = None;
    for (name, text) in checkpoints {
        let note = Note::parse(text).map_err(|error| Problem::Checkpoint {
            name: name.clone(),
            error,
        })?;
        let c = key
            .verify_checkpoint(&note)
            .map_err(|error| Problem::Checkpoint {
                name: name.clone(),
                error,
            })?;
        if c.origin != origin {
            return Err(Problem::Origin {
                name: name.clone(),
                found: c.origin,
                expected: origin.to_owned(),
            });
        }
        if let Some(p) = &latest
            && c.size < p.size
        {
            return Err(Problem::Order {
                name: name.clone(),
                size: c.size,
                previous: p.size,
            });
        }
        if c.size > stored {
            return Err(Problem::Truncated {
                name: name.clone(),
                size: c.size,
                stored,
            });
        }
        let root = tree.root_at(c.size).map_err(|_| Problem::Truncated {
            name: name.clone(),
            size: c.size,
            stored,
        })?;
        if root != c.root {
            return Err(Problem::Root {
                name: name.clone(),
                size: c.size,
                last: c.size.saturating_sub(1),
            });
        }
        latest = Some(c);
    }
    Ok(Report {
        records: stored,
        checkpoints: checkpoints.len(),
        root: tree.root(),
        latest,
    })
}
