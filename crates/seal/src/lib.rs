//! # gsomia-seal — what gsomia signs, and how
//!
//! - [`canon`]: the one canonical binary encoding for everything that is
//!   signed or hashed (never serde_json output), with a strict reader.
//! - [`sign`]: Ed25519 signing and verification bound to a [`sign::Context`],
//!   so a signature made for one kind of object never verifies as another.
//!
//! - [`item`]: sealed items — a label bound to the content digest by the
//!   originator's signature, the content encrypted to the recipient with HPKE
//!   (X-Wing hybrid post-quantum KEM, AES-256-GCM).
//! - [`custody`]: the tags a node keeps beside its own rows to check them
//!   when it reads them back.
//! - [`stanag`]: the label as STANAG 4774-shaped XML, both ways.
//!
//! Pure: no I/O, no clock, no randomness of its own: key generation and
//! sealing take their random bytes from the caller.

pub mod canon;
pub mod custody;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod item;
pub mod message;
pub mod sign;
pub mod stanag;
pub mod transfer;

pub use sign::{Context, PublicKey, PublicKeyBytes, SecretKey, SignError, Signature};
