//! The `gsomia` binary, run as a user would: real process, real files,
//! exit codes and JSON checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../browser/mod.rs"]
mod browser;
mod cli;
mod common;
mod console;
mod contractor;
mod deliver;
mod holding;
mod incident;
mod item;
mod ledger;
mod node;
mod operate;
mod postgres;
mod reclassify;
mod serve;
mod tamper;
mod tamper_random;
mod visit;
mod warn;
