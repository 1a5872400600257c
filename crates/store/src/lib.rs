//! # gsomia-store — durable storage
//!
//! Today: [`ledger_dir`], a ledger kept in a directory of plain files,
//! durable before acknowledged (`fdatasync` per batch), with checkpoints
//! published by compare-and-swap and one writer per directory. The Store
//! trait with its SQLite and PostgreSQL adapters comes with the node.

pub mod ledger_dir;

pub use ledger_dir::{LedgerDir, LedgerDirError, WitnessDir};
