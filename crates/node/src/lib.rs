//! # gsomia-node — the service
//!
//! One node per party (`gsomia serve`): the HTTPS API for the party's own
//! users (bearer tokens from the register; items, agreements, consents,
//! warnings; `/healthz`, `/readyz`, `/metrics`, `/openapi.json`) and the
//! peer endpoint for partners (mutual TLS, durable outbox, signed
//! receipts, warning updates), on two lanes so warnings never wait behind
//! item traffic.
//!
//! The crate owns the node: its directory and `node.toml` ([`Settings`],
//! [`init`]), the register of people ([`register`]), its ledger as read
//! back for audit ([`audit`]), and one entry point ([`run`], or [`start`]
//! for a handle) that takes the settings, bound listeners and a shutdown
//! signal. The `gsomia` binary parses arguments and renders; it never opens
//! the node's database itself.
//!
//! Inside, modules depend one way (ARCHITECTURE.md draws the graph): the
//! HTTP layer calls the capabilities (items, agreements, consents,
//! warnings, witnessing), which use the node's shared state and the
//! plumbing below it; nothing calls back up.

// The public API.
pub mod audit;
pub mod files;
pub mod keys;
pub mod partner;
pub mod register;
pub mod settings;

pub use clock::{Clock, ClockError};
/// What the node's database says when it fails (for callers that report it).
pub use gsomia_store::StoreError;
pub use lanes::item_thread;
pub use node::Node;
pub use service::{Listeners, Options, Running, ServiceError, assemble, run, start};
pub use settings::{Database, LogFormat, Settings, SettingsError, init};

/// Moving a node's database between backends (`gsomia store copy`).
pub mod store {
    pub use gsomia_store::postgres::copy::{Copied, copy_from_sqlite};
    pub use gsomia_store::postgres::redacted;
}
pub use witness::WitnessError;

/// Standalone ledger directories (`gsomia ledger … --dir`), as the store keeps them.
pub mod ledger_dir {
    pub use gsomia_store::{LedgerDir, LedgerDirError, WitnessDir};
}

// Capabilities (over the node's state), and the transport above them.
mod agreements;
mod consents;
pub mod facilities;
mod http;
mod incidents;
mod items;
mod observe;
mod service;
pub mod startup;
mod transfers;
mod visits;
mod warnings;
mod witness;

// The node's state and the plumbing under everything.
mod alerts;
mod checkpoints;
mod clock;
mod custody;
mod error;
mod feed;
mod ids;
mod labels;
mod lanes;
mod lineage;
mod metrics;
mod node;
mod pages;
mod refusals;
mod registers;
mod reload;
mod roster;
mod sealing;
mod tls;

#[cfg(feature = "testkit")]
pub mod testkit;

/// Labels between the engine's references and names (also for the `gsomia`
/// command's offline sealing).
pub use labels::{LabelError, from_wire as label_from_wire, to_wire as label_to_wire};

/// A poisoned lock is still a lock: state here is only ever replaced whole.
fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Sends the node's log to standard error, as text or JSON, at the level
/// `filter` names (`info`, `gsomia_node=debug,warn`, … as `RUST_LOG`
/// takes it). Call once per process; a second call changes nothing.
pub fn init_logging(format: LogFormat, filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
