//! Integration tests of the pact engine: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;
mod decisions;
mod holding;
mod lifecycle;
mod profiles;
mod properties;
mod rules;
mod warnings;
