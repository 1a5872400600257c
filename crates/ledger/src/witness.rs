//! A partner's witness: cosigns a log's checkpoint only if it is signed by
//! the log, and consistent with the last checkpoint this witness cosigned for
//! that log. Rollbacks and forks are refused; the caller keeps both
//! conflicting checkpoints as evidence.

use crate::merkle::{Hash, ProofError, verify_consistency};
use crate::note::{Checkpoint, Note, NoteError, NoteSignature, Signer, Verifier};

/// Why a witness refused to cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The note is not a valid checkpoint signed by the log.
    #[error("not a checkpoint signed by the log: {0}")]
    Unsigned(#[from] NoteError),
    /// Smaller than the last cosigned checkpoint.
    #[error("rollback: size {new} is below the last cosigned size {last}")]
    Rollback {
        /// Last cosigned size.
        last: u64,
        /// Size offered.
        new: u64,
    },
    /// Same size, different root: two views of one log.
    #[error("fork: size {size} was cosigned with another root")]
    Fork {
        /// The size.
        size: u64,
    },
    /// The consistency proof fails: the new tree does not extend the old.
    #[error(
        "fork: the tree of size {new} does not extend the cosigned tree of size {last} ({error})"
    )]
    Inconsistent {
        /// Last cosigned size.
        last: u64,
        /// New size.
        new: u64,
        /// The proof failure.
        error: ProofError,
    },
}

/// Decides and, if consistent, cosigns. `last` is the last checkpoint this
/// witness cosigned for the log (none the first time), `proof` the
/// consistency proof from `last` to the new checkpoint.
pub fn cosign(
    log: &Verifier,
    witness: &Signer,
    last: Option<&Checkpoint>,
    note: &Note,
    proof: &[Hash],
    time: u64,
) -> Result<(Checkpoint, NoteSignature), Refusal> {
    let new = log.verify_checkpoint(note)?;
    if let Some(last) = last {
        if new.size < last.size {
            return Err(Refusal::Rollback {
                last: last.size,
                new: new.size,
            });
        }
        if new.size == last.size && new.root != last.root {
            return Err(Refusal::Fork { size: new.size });
        }
        verify_consistency(last.size, new.size, &last.root, &new.root, proof).map_err(|error| {
            Refusal::Inconsistent {
                last: last.size,
                new: new.size,
                error,
            }
        })?;
    }
    Ok((new.clone(), witness.cosign(note, time)))
}
