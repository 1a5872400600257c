//! Ed25519 signatures bound to a context.
//!
//! The signed message is `canon(context string) || message`: a signature
//! over a ledger entry can never be replayed as a signature over an item
//! binding, a consent or a receipt.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;

use crate::canon::Writer;

/// Every kind of object gsomia signs, each with its own context string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A label bound to a content digest.
    ItemBinding,
    /// An originator's consent to an onward release.
    Consent,
    /// A receipt for a delivered item.
    Receipt,
    /// An agreement event entered by a security officer.
    AgreementEvent,
    /// A transfer envelope between nodes.
    Transfer,
    /// A batch of transfer envelopes between nodes, signed as a whole.
    TransferBatch,
    /// A missile-warning update, signed by its originator.
    Warning,
    /// A loss or compromise report, its follow-ups and their acknowledgements.
    Incident,
    /// An originator's notice that an item's classification changed.
    Reclassification,
    /// A visit request, its answer, or an access during the visit.
    Visit,
}

impl Context {
    /// The context string.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::ItemBinding => "gsomia/v1/item-binding",
            Context::Consent => "gsomia/v1/consent",
            Context::Receipt => "gsomia/v1/receipt",
            Context::AgreementEvent => "gsomia/v1/agreement-event",
            Context::Transfer => "gsomia/v1/transfer",
            Context::TransferBatch => "gsomia/v1/transfer-batch",
            Context::Warning => "gsomia/v1/warning",
            Context::Incident => "gsomia/v1/incident",
            Context::Reclassification => "gsomia/v1/reclassification",
            Context::Visit => "gsomia/v1/visit",
        }
    }
}

fn framed(ctx: Context, msg: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(ctx.as_str()).raw(msg);
    w.finish()
}

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Not 32 bytes of a valid public key.
    #[error("invalid public key")]
    BadPublicKey,
    /// Not a 64-byte signature.
    #[error("invalid signature encoding")]
    BadSignature,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Mismatch,
    /// Text that is not base64.
    #[error("invalid base64")]
    Base64,
}

/// A 64-byte Ed25519 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// A public verification key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| SignError::BadPublicKey)
    }
    /// From base64 text.
    pub fn from_base64(text: &str) -> Result<Self, SignError> {
        let raw = B64.decode(text.trim()).map_err(|_| SignError::Base64)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| SignError::BadPublicKey)?;
        Self::from_bytes(&bytes)
    }
    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// As base64 text.
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_bytes())
    }
    /// Verifies a context-bound signature.
    pub fn verify(&self, ctx: Context, msg: &[u8], sig: &Signature) -> Result<(), SignError> {
        self.verify_raw(&framed(ctx, msg), sig)
    }
    /// Verifies a signature over `msg` exactly (for formats with their own
    /// domain separation, such as signed notes).
    pub fn verify_raw(&self, msg: &[u8], sig: &Signature) -> Result<(), SignError> {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| SignError::Mismatch)
    }
}

/// A public key's 32 bytes as a message carries them, not yet checked to be
/// a valid key: decoding it costs a field square root, which a reader that
/// already holds the expected key, or need not verify, is spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKeyBytes(pub [u8; 32]);

impl PublicKeyBytes {
    /// The key, if the bytes are one.
    pub fn key(&self) -> Result<PublicKey, SignError> {
        PublicKey::from_bytes(&self.0)
    }
    /// Whether these are `key`'s bytes.
    pub fn is(&self, key: &PublicKey) -> bool {
        self.0 == key.to_bytes()
    }
    /// As base64 text.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }
}

impl From<&PublicKey> for PublicKeyBytes {
    fn from(k: &PublicKey) -> Self {
        PublicKeyBytes(k.to_bytes())
    }
}

/// A secret signing key.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// From a 32-byte seed (the caller draws it from a secure source).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }
    /// From base64 text of the seed.
    pub fn from_base64(text: &str) -> Result<Self, SignError> {
        let raw = B64.decode(text.trim()).map_err(|_| SignError::Base64)?;
        let seed: [u8; 32] = raw.try_into().map_err(|_| SignError::BadPublicKey)?;
        Ok(Self::from_seed(&seed))
    }
    /// The seed as base64 (for the owner-only key file).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }
    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
    /// Signs with a context.
    pub fn sign(&self, ctx: Context, msg: &[u8]) -> Signature {
        self.sign_raw(&framed(ctx, msg))
    }
    /// 32 bytes derived from the seed for another purpose, named by `info`
    /// (HKDF-SHA256): a key that cannot be turned back into this one.
    pub fn derive(&self, info: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"gsomia/v1/derive"), &self.0.to_bytes())
            .expand(info, &mut out);
        out
    }
    /// Signs `msg` exactly (formats with their own domain separation only).
    pub fn sign_raw(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_never_verifies_in_another_context() {
        let k = SecretKey::from_seed(&[7; 32]);
        let sig = k.sign(Context::Consent, b"msg");
        assert!(k.public().verify(Context::Consent, b"msg", &sig).is_ok());
        assert_eq!(
            k.public().verify(Context::Receipt, b"msg", &sig),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            k.public().verify(Context::Consent, b"msh", &sig),
            Err(SignError::Mismatch)
        );
        let other = SecretKey::from_seed(&[8; 32]);
        assert_eq!(
            other.public().verify(Context::Consent, b"msg", &sig),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn ed25519_matches_rfc8032_test_1() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let k = SecretKey::from_seed(&seed);
        assert_eq!(
            k.public().to_bytes().to_vec(),
            hex::<32>("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").to_vec()
        );
        let sig = k.sign_raw(b"");
        assert_eq!(
            sig.0.to_vec(),
            hex::<64>("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b").to_vec()
        );
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
