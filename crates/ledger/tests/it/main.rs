//! Ledger tests: known-answer vectors, proofs against a naive model,
//! tampering, checkpoints and witnesses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod corpus;
mod ledger;
mod vectors;
