//! # gsomia-seal — what gsomia signs, and how
//!
//! - [`canon`]: the one canonical binary encoding for everything that is
//!   signed or hashed (never serde_json output), with a strict reader.
//! - [`sign`]: Ed25519 signing and verification bound to a [`sign::Context`],
//!   so a signature made for one kind of object never verifies as another.
//!
//! Pure: no I/O, no clock. Key generation takes its seed from the caller.
//! Sealing items (label + content binding, HPKE encryption to the recipient)
//! is to follow in this crate.

pub mod canon;
pub mod sign;

pub use sign::{Context, PublicKey, SecretKey, SignError, Signature};
