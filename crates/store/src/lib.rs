//! # gsomia-store — durable storage
//!
//! - [`node`]: the [`Store`] trait for a node's state (people, items,
//!   transfers and the ledger, committed together), with the embedded
//!   [`sqlite`] adapter; every adapter passes one conformance suite
//!   (`tests/it/conformance.rs`).
//! - [`ledger_dir`]: a standalone ledger in a directory of plain files,
//!   durable before acknowledged (`fdatasync` per batch), checkpoints
//!   published by compare-and-swap, one writer per directory.

pub mod ledger_dir;
pub mod node;
pub mod postgres;
pub mod sqlite;
mod writer;

pub use ledger_dir::{LedgerDir, LedgerDirError, WitnessDir};
pub use node::{
    Batch, Committed, ConsoleSession, Disposed, FacilityRecord, Idempotent, IncidentRow, Incoming,
    Item, ItemIndex, ItemQuery, ItemRow, Message, MessageKind, OutboxRow, OutboxStats, Outgoing,
    Person, Return, ReturnAnswered, Role, Store, StoreError, StoreFuture, Tagged, TransferQuery,
    TransferRow, TransferState, WarningOwed, WarningRow,
};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use writer::lower_this_thread;
