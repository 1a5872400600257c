//! Custody tags: what a node writes beside each row it keeps (an item, a
//! person, a queued transfer), so that the row can be checked when it is
//! read back. A tag is HMAC-SHA256 over the row's canonical bytes (see
//! [`crate::canon`]) under a key derived from the party's signing seed:
//! only the node (or whoever holds its secret key) can make one, and any
//! change to the row, or a row moved under another id, no longer matches.
//!
//! A MAC rather than a signature: only the node itself ever checks its own
//! rows, and a tag is checked on every read (a few microseconds, where an
//! Ed25519 verification costs tens).

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::canon::Writer;
use crate::sign::SecretKey;

/// The label under which the custody key is derived from the signing seed.
const DERIVE_INFO: &[u8] = b"gsomia/v1/custody-key";

/// The length of a tag.
pub const TAG_LEN: usize = 32;

/// A party's custody key: 32 derived bytes, kept as the 64-byte HMAC-SHA256
/// key block they pad to (the same key, taken without a fallible length check).
#[derive(Clone)]
pub struct CustodyKey([u8; 64]);

impl std::fmt::Debug for CustodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustodyKey(…)")
    }
}

/// The canonical bytes of a row being tagged: a kind tag, then its fields
/// in a fixed order (each length-prefixed by [`Writer`]).
pub type Fields = Writer;

impl CustodyKey {
    /// The custody key of the party whose signing key is `key` (HKDF-SHA256
    /// of the seed; the seed itself never leaves the signing key).
    pub fn derive(key: &SecretKey) -> CustodyKey {
        let mut block = [0u8; 64];
        let (head, _) = block.split_at_mut(32);
        head.copy_from_slice(&key.derive(DERIVE_INFO));
        CustodyKey(block)
    }

    /// The tag of `fields`.
    pub fn tag(&self, fields: &Writer) -> [u8; TAG_LEN] {
        self.mac(fields).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `fields` (compared in constant time).
    pub fn holds(&self, fields: &Writer, tag: &[u8]) -> bool {
        self.mac(fields).verify_slice(tag).is_ok()
    }

    fn mac(&self, fields: &Writer) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256>>::new(&self.0.into());
        m.update(fields.as_bytes());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(id: &str, level: &str) -> Writer {
        let mut w = Writer::tagged("gsomia/v1/test-row");
        w.str(id).str(level);
        w
    }

    #[test]
    fn a_tag_holds_for_its_row_only() {
        let k = CustodyKey::derive(&SecretKey::from_seed(&[1; 32]));
        let t = k.tag(&fields("a", "極秘"));
        assert!(k.holds(&fields("a", "極秘"), &t));
        assert!(!k.holds(&fields("a", "秘"), &t));
        assert!(!k.holds(&fields("b", "極秘"), &t));
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(k.tag(&fields("ab", "c")), k.tag(&fields("a", "bc")));
        assert!(!k.holds(&fields("a", "極秘"), &t[..31]));
        let other = CustodyKey::derive(&SecretKey::from_seed(&[2; 32]));
        assert!(!other.holds(&fields("a", "極秘"), &t));
    }
}
