//! # gsomia-api — the user API's contract
//!
//! One type per message, used at both ends of the wire: the node's handlers
//! take and return these types, its OpenAPI document (`/openapi.json`) is
//! generated from them, and [`Client`] — what the `gsomia` command, the
//! demo and the tests use — sends and receives them. A field renamed here
//! is renamed everywhere at once.
//!
//! What this crate does not do: decide anything. It carries names and
//! instants as text; the node resolves and checks them.

mod client;
mod types;

pub use client::{Client, ClientError, WarningEvent, user_tls_config};
pub use types::*;
