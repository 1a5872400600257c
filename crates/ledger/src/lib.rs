//! # gsomia-ledger — the tamper-evident ledger
//!
//! Every decision, transfer, read, consent, copy, destruction and loss report
//! a node makes becomes a typed [`entry::Entry`], chained in a [`entry::Record`]
//! and appended to an RFC 6962 Merkle tree ([`merkle`]). The log signs
//! checkpoints as C2SP signed notes and partners cosign them as witnesses
//! ([`note`], [`witness`]), so no side can quietly rewrite history.
//! [`verify::verify`] recomputes every root from the stored records.
//!
//! Pure: no I/O, no clock (times are arguments); storing records and notes
//! durably is the caller's job.

pub mod entry;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod merkle;
pub mod note;
pub mod verify;
pub mod witness;

pub use entry::{Entry, Kind, Record};
pub use merkle::{Hash, Tree, View};
pub use note::{Checkpoint, Note, Signer, Verifier};
