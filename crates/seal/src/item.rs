//! Sealed items: a label bound to a content digest by the originator's
//! signature, and the content encrypted to one recipient party with HPKE.
//!
//! ```text
//! sealed item = canon(
//!   "gsomia/v1/sealed-item",
//!   header = canon("gsomia/v1/item-header",
//!            label, SHA-384(content), content length,
//!            sender party, sender signing key,
//!            recipient party, SHA-256(recipient public key),
//!            kem id, kdf id, aead id),
//!   binding = Ed25519(context "gsomia/v1/item-binding", header),
//!   enc     = HPKE encapsulated key,
//!   ct      = HPKE seal(info "gsomia/v1/sealed-item", aad = header ‖ binding, content))
//! ```
//!
//! A *session-sealed* item (`gsomia/v1/item-header-session`) differs in one
//! way: the header also carries a 32-byte per-item salt, and the content key
//! and nonce are HKDF-SHA256-expanded from a session secret and that salt;
//! the session secret is exported from one HPKE context (info
//! `gsomia/v1/session`) whose encapsulated key every item of the session
//! carries. Each item still opens on its own with the recipient's key; a
//! recipient that keeps the secret of a session it has opened once opens the
//! rest without another decapsulation, and a sender seals many items with
//! one encapsulation.
//!
//! HPKE (RFC 9180) with the X-Wing hybrid KEM (ML-KEM-768 + X25519: secure
//! if either holds, so what is recorded today stays secret against a future
//! quantum computer), HKDF-SHA256 and AES-256-GCM. The AAD carries the header
//! and its signature, so a label moved onto another item's ciphertext fails
//! to decrypt; every byte of the file is covered by the signature, the AEAD
//! or the canonical parser.

use std::convert::Infallible;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::canon::{DecodeError, Reader, Writer};
use crate::sign::{Context, PublicKey, PublicKeyBytes, SecretKey, Signature};

const ITEM_TAG: &str = "gsomia/v1/sealed-item";
const HEADER_TAG: &str = "gsomia/v1/item-header";
const LABEL_TAG: &str = "gsomia/v1/label";
const INFO: &[u8] = b"gsomia/v1/sealed-item";
const SESSION_HEADER_TAG: &str = "gsomia/v1/item-header-session";
const SESSION_INFO: &[u8] = b"gsomia/v1/session";
const SESSION_EXPORT: &[u8] = b"gsomia/v1/session-secret";
const SESSION_ITEM: &[u8] = b"gsomia/v1/session-item";
/// HPKE algorithm ids (RFC 9180 registry): X-Wing, HKDF-SHA256, AES-256-GCM.
pub const SUITE: (u16, u16, u16) = (0x647a, 0x0001, 0x0002);
/// The largest content sealed or opened (bytes).
pub const MAX_CONTENT: usize = 1 << 30;

/// A label as it travels: names, not registry references. The receiving
/// party resolves it against its own profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLabel {
    /// The originator's policy (party code).
    pub policy: String,
    /// The classification, by its native name in that policy.
    pub level: String,
    /// The originating party.
    pub originator: String,
    /// Creation instant: Unix seconds and nanoseconds.
    pub created_at: (i64, u32),
    /// Restrictive topics, sorted and unique.
    pub topics: Vec<String>,
    /// Permissive REL TO parties, sorted and unique (`None`: unmarked).
    pub rel_to: Option<Vec<String>>,
    /// Informative categories: tag and values.
    pub informative: Vec<(String, Vec<String>)>,
}

impl WireLabel {
    /// Sorts and deduplicates the sets, as the canonical form requires.
    pub fn normalized(mut self) -> Self {
        self.topics.sort();
        self.topics.dedup();
        if let Some(r) = &mut self.rel_to {
            r.sort();
            r.dedup();
        }
        self
    }

    /// Appends the canonical encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.str(&self.policy)
            .str(&self.level)
            .str(&self.originator)
            .i64(self.created_at.0)
            .u32(self.created_at.1)
            .count(self.topics.len());
        for t in &self.topics {
            w.str(t);
        }
        match &self.rel_to {
            None => {
                w.u8(0);
            }
            Some(r) => {
                w.u8(1).count(r.len());
                for p in r {
                    w.str(p);
                }
            }
        }
        w.count(self.informative.len());
        for (tag, values) in &self.informative {
            w.str(tag).count(values.len());
            for v in values {
                w.str(v);
            }
        }
    }

    /// The canonical bytes of the label alone (tagged), as stored by a node.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(LABEL_TAG);
        self.encode(&mut w);
        w.finish()
    }

    /// Reads [`WireLabel::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<WireLabel, DecodeError> {
        let mut r = Reader::new(bytes, 1 << 20);
        r.expect_tag(LABEL_TAG)?;
        let label = Self::decode(&mut r)?;
        r.finish()?;
        Ok(label)
    }

    /// Decodes, refusing non-canonical sets.
    pub fn decode(r: &mut Reader<'_>) -> Result<WireLabel, DecodeError> {
        let policy = r.str()?.to_owned();
        let level = r.str()?.to_owned();
        let originator = r.str()?.to_owned();
        let created_at = (r.i64()?, r.u32()?);
        let n = r.count(4)?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(r.str()?.to_owned());
        }
        let at = r.position();
        let rel_to = match r.u8()? {
            0 => None,
            1 => {
                let n = r.count(4)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(r.str()?.to_owned());
                }
                Some(v)
            }
            tag => return Err(DecodeError::Tag { at, tag }),
        };
        let n = r.count(8)?;
        let mut informative = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = r.str()?.to_owned();
            let m = r.count(4)?;
            let mut values = Vec::with_capacity(m);
            for _ in 0..m {
                values.push(r.str()?.to_owned());
            }
            informative.push((tag, values));
        }
        let label = WireLabel {
            policy,
            level,
            originator,
            created_at,
            topics,
            rel_to,
            informative,
        };
        if label.clone().normalized() != label || label.created_at.1 > 999_999_999 {
            return Err(DecodeError::Kind {
                expected: "a canonical label",
            });
        }
        Ok(label)
    }
}

/// The signed header of a sealed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The originator's label.
    pub label: WireLabel,
    /// SHA-384 of the content.
    pub content_digest: [u8; 48],
    /// Length of the content.
    pub content_len: u64,
    /// The sending party.
    pub sender: String,
    /// The sender's signing key, as the header carries it (checked when the
    /// binding is verified with it, or compared with an expected key).
    pub sender_key: PublicKeyBytes,
    /// The recipient party.
    pub recipient: String,
    /// SHA-256 of the recipient's public encryption key.
    pub recipient_key: [u8; 32],
    /// For a session-sealed item: the per-item salt its key is derived with.
    pub salt: Option<[u8; 32]>,
}

impl Header {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(if self.salt.is_some() {
            SESSION_HEADER_TAG
        } else {
            HEADER_TAG
        });
        self.label.encode(&mut w);
        w.raw(&self.content_digest)
            .u64(self.content_len)
            .str(&self.sender)
            .raw(&self.sender_key.0)
            .str(&self.recipient)
            .raw(&self.recipient_key)
            .u32(u32::from(SUITE.0))
            .u32(u32::from(SUITE.1))
            .u32(u32::from(SUITE.2));
        if let Some(salt) = &self.salt {
            w.raw(salt);
        }
        w.finish()
    }

    fn decode(r: &mut Reader<'_>) -> Result<Header, OpenError> {
        let session = match r.str()? {
            HEADER_TAG => false,
            SESSION_HEADER_TAG => true,
            _ => {
                return Err(DecodeError::Kind {
                    expected: HEADER_TAG,
                }
                .into());
            }
        };
        let label = WireLabel::decode(r)?;
        let content_digest = r.raw::<48>()?;
        let content_len = r.u64()?;
        let sender = r.str()?.to_owned();
        let sender_key = PublicKeyBytes(r.raw::<32>()?);
        let recipient = r.str()?.to_owned();
        let recipient_key = r.raw::<32>()?;
        let suite = (r.u32()?, r.u32()?, r.u32()?);
        if suite != (u32::from(SUITE.0), u32::from(SUITE.1), u32::from(SUITE.2)) {
            return Err(OpenError::Suite);
        }
        let salt = if session { Some(r.raw::<32>()?) } else { None };
        Ok(Header {
            salt,
            label,
            content_digest,
            content_len,
            sender,
            sender_key,
            recipient,
            recipient_key,
        })
    }
}

/// Why a sealed item was refused. Each names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes are not a sealed item (truncated, extended, malformed).
    #[error("not a well-formed sealed item: {0}")]
    Format(#[from] DecodeError),
    /// An unsupported algorithm suite.
    #[error("unsupported encryption suite")]
    Suite,
    /// The binding signature does not verify: label, digest or header altered.
    #[error("binding signature does not verify: the label or the header was altered")]
    Signature,
    /// Signed by a key other than the expected sender's.
    #[error("signed by `{found}`'s embedded key, which is not the expected key for `{expected}`")]
    Sender {
        /// The party expected.
        expected: String,
        /// The party named in the item.
        found: String,
    },
    /// Sealed to another recipient key.
    #[error("sealed for `{0}` with another key: not for this recipient")]
    Recipient(String),
    /// Decryption failed: the ciphertext, the encapsulated key or the header was altered.
    #[error("decryption failed: the content was altered or moved under another label")]
    Decrypt,
    /// The decrypted content does not match the signed digest.
    #[error("the content does not match the signed digest")]
    Digest,
    /// Content too large.
    #[error("content larger than {MAX_CONTENT} bytes")]
    TooLarge,
}

/// A recipient party's encryption key pair (X-Wing), with its public key's
/// fingerprint computed once.
pub struct RecipientSecret(<XWing as hpke::Kem>::PrivateKey, [u8; 32]);

impl std::fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecipientSecret(…)")
    }
}

/// A recipient party's public encryption key.
#[derive(Clone)]
pub struct RecipientPublic(<XWing as hpke::Kem>::PublicKey);

impl std::fmt::Debug for RecipientPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecipientPublic({})", hex(&self.fingerprint()))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid recipient key")]
pub struct KeyError;

impl RecipientSecret {
    /// From a 32-byte seed (the caller draws it from a secure source).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let (sk, pk) = XWing::derive_keypair(seed);
        let fp = RecipientPublic(pk).fingerprint();
        RecipientSecret(sk, fp)
    }
    /// The public key.
    pub fn public(&self) -> RecipientPublic {
        RecipientPublic(XWing::sk_to_pk(&self.0))
    }
    /// The public key's fingerprint (as sealed items name it).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.1
    }
}

impl RecipientPublic {
    /// The encoded key.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
    /// From its encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        <XWing as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(RecipientPublic)
            .map_err(|_| KeyError)
    }
    /// SHA-256 of the encoding: names the key in sealed items.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

/// A deterministic random generator expanded from a caller's 32-byte seed
/// (SHA-512 in counter mode): the crate draws no randomness of its own.
struct SeedRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 64],
    used: usize,
}

impl SeedRng {
    fn new(seed: [u8; 32]) -> Self {
        SeedRng {
            seed,
            counter: 0,
            buf: [0; 64],
            used: 64,
        }
    }
}

impl TryRng for SeedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        for byte in dest.iter_mut() {
            if self.used == 64 {
                let mut h = Sha512::new();
                h.update(b"gsomia/v1/seed-rng");
                h.update(self.seed);
                h.update(self.counter.to_be_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.buf.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for SeedRng {}

/// The signed header of an item about to be sealed: its bytes, the binding
/// signature over them, and the AEAD's associated data (header ‖ binding).
fn bind(
    label: &WireLabel,
    content: &[u8],
    (sender, sender_key): (&str, &SecretKey),
    recipient: &str,
    recipient_key: [u8; 32],
    salt: Option<[u8; 32]>,
) -> Result<(Vec<u8>, Signature, Vec<u8>), OpenError> {
    if content.len() > MAX_CONTENT {
        return Err(OpenError::TooLarge);
    }
    let header = Header {
        label: label.clone().normalized(),
        content_digest: Sha384::digest(content).into(),
        content_len: content.len() as u64,
        sender: sender.to_owned(),
        sender_key: PublicKeyBytes::from(&sender_key.public()),
        recipient: recipient.to_owned(),
        recipient_key,
        salt,
    };
    let header_bytes = header.to_bytes();
    let binding = sender_key.sign(Context::ItemBinding, &header_bytes);
    let mut aad = header_bytes.clone();
    aad.extend_from_slice(&binding.0);
    Ok((header_bytes, binding, aad))
}

/// Seals `content` from `sender` to `recipient`. `entropy` must be 32 fresh
/// random bytes (it seeds the KEM encapsulation).
pub fn seal(
    label: &WireLabel,
    content: &[u8],
    sender: &str,
    sender_key: &SecretKey,
    recipient: &str,
    recipient_key: &RecipientPublic,
    entropy: [u8; 32],
) -> Result<Vec<u8>, OpenError> {
    let (header_bytes, binding, aad) = bind(
        label,
        content,
        (sender, sender_key),
        recipient,
        recipient_key.fingerprint(),
        None,
    )?;
    // Lay the item out once and encrypt the content in place: the content is
    // copied a single time, whatever its size.
    let enc_len = <<XWing as hpke::Kem>::EncappedKey as Serializable>::size();
    let ct_len = content.len() + TAG_LEN;
    let mut w = Writer::tagged(ITEM_TAG);
    w.bytes(&header_bytes).raw(&binding.0);
    let mut out = w.finish();
    out.reserve(8 + enc_len + ct_len);
    out.extend_from_slice(
        &u32::try_from(enc_len)
            .map_err(|_| OpenError::TooLarge)?
            .to_be_bytes(),
    );
    let enc_at = out.len();
    out.resize(enc_at + enc_len, 0);
    out.extend_from_slice(
        &u32::try_from(ct_len)
            .map_err(|_| OpenError::TooLarge)?
            .to_be_bytes(),
    );
    let content_at = out.len();
    out.extend_from_slice(content);
    let mut rng = SeedRng::new(entropy);
    let body = out.get_mut(content_at..).ok_or(OpenError::TooLarge)?;
    let (enc, tag) =
        hpke::single_shot_seal_inout_detached_with_rng::<AesGcm256, HkdfSha256, XWing>(
            &OpModeS::Base,
            &recipient_key.0,
            INFO,
            body.into(),
            &aad,
            &mut rng,
        )
        .map_err(|_| OpenError::Decrypt)?;
    out.extend_from_slice(&tag.to_bytes());
    out.get_mut(enc_at..enc_at + enc_len)
        .ok_or(OpenError::TooLarge)?
        .copy_from_slice(&enc.to_bytes());
    Ok(out)
}

/// The AES-256-GCM tag length.
const TAG_LEN: usize = 16;

/// A parsed sealed item whose binding signature verified against its
/// embedded sender key. Not yet decrypted.
#[derive(Debug, Clone)]
pub struct Inspected<'a> {
    /// The header.
    pub header: Header,
    /// The binding signature.
    pub binding: Signature,
    enc: &'a [u8],
    ct: &'a [u8],
    header_bytes: &'a [u8],
}

/// Parses a sealed item and checks its binding signature against the sender
/// key it carries (whether that key is the sender's is checked by
/// [`Inspected::check_sender`] or [`open`]). Nothing is decrypted.
pub fn inspect(bytes: &[u8]) -> Result<Inspected<'_>, OpenError> {
    inspect_memo(bytes, None, None).map(|(i, _)| i)
}

/// Whether the caller vouches for an item's binding, so its signature need
/// not be checked: given the binding's [`binding_id`] (one the caller
/// verified or made before) and, for a session-sealed item, its session's
/// id ([`Session::id`]). A caller may vouch for every item of a session it
/// began itself to its own key: such an item's header and binding are the
/// associated data of an AEAD under a secret only the caller can derive, so
/// [`open_known`] still refuses any changed byte when it decrypts.
pub type KnownBindings<'a> = dyn Fn(&[u8; 32], Option<&[u8; 32]>) -> bool + 'a;

/// [`inspect`], skipping the signature check for a binding `known` holds;
/// returns the binding's id too. With the `expected` key of the sender, an
/// item carrying that key is verified with it as given (no decoding of the
/// key it carries).
fn inspect_memo<'a>(
    bytes: &'a [u8],
    known: Option<&KnownBindings<'_>>,
    expected: Option<&PublicKey>,
) -> Result<(Inspected<'a>, [u8; 32]), OpenError> {
    let mut r = Reader::new(bytes, MAX_CONTENT + 4096);
    r.expect_tag(ITEM_TAG)?;
    let header_bytes = r.bytes()?;
    let binding = Signature(r.raw::<64>()?);
    let enc = r.bytes()?;
    let ct = r.bytes()?;
    r.finish()?;
    let mut hr = Reader::new(header_bytes, 1 << 20);
    let header = Header::decode(&mut hr)?;
    hr.finish()?;
    let id = binding_id_of(header_bytes, &binding);
    let vouched = known.is_some_and(|k| {
        let session: Option<[u8; 32]> = header.salt.map(|_| Sha256::digest(enc).into());
        k(&id, session.as_ref())
    });
    if !vouched {
        let key = match expected {
            Some(k) if header.sender_key.is(k) => *k,
            _ => header.sender_key.key().map_err(|_| OpenError::Signature)?,
        };
        key.verify(Context::ItemBinding, header_bytes, &binding)
            .map_err(|_| OpenError::Signature)?;
    }
    Ok((
        Inspected {
            header,
            binding,
            enc,
            ct,
            header_bytes,
        },
        id,
    ))
}

fn binding_id_of(header_bytes: &[u8], binding: &Signature) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(BINDING_ID_TAG.as_bytes());
    h.update((header_bytes.len() as u64).to_be_bytes());
    h.update(header_bytes);
    h.update(binding.0);
    h.finalize().into()
}

const BINDING_ID_TAG: &str = "gsomia/v1/binding-id";

/// The id of a sealed item's binding (a hash of its signed header and its
/// signature: the same id means the same signed bytes and the same
/// signature); `None` if it does not parse.
pub fn binding_id(bytes: &[u8]) -> Option<[u8; 32]> {
    let mut r = Reader::new(bytes, MAX_CONTENT + 4096);
    r.expect_tag(ITEM_TAG).ok()?;
    let header_bytes = r.bytes().ok()?;
    let binding = Signature(r.raw::<64>().ok()?);
    Some(binding_id_of(header_bytes, &binding))
}

/// A sealed item's header and binding id, parsed without checking the
/// binding signature: for bytes whose binding was verified when they were
/// received or made, and are now vouched for by something else (a node's
/// custody tag over the binding id). Anything not well formed is refused.
pub fn parse(bytes: &[u8]) -> Result<(Header, [u8; 32]), OpenError> {
    let mut r = Reader::new(bytes, MAX_CONTENT + 4096);
    r.expect_tag(ITEM_TAG)?;
    let header_bytes = r.bytes()?;
    let binding = Signature(r.raw::<64>()?);
    r.bytes()?;
    r.bytes()?;
    r.finish()?;
    let mut hr = Reader::new(header_bytes, 1 << 20);
    let header = Header::decode(&mut hr)?;
    hr.finish()?;
    Ok((header, binding_id_of(header_bytes, &binding)))
}

impl Inspected<'_> {
    /// Checks that the item was signed by `key`, the sender's known key.
    pub fn check_sender(&self, party: &str, key: &PublicKey) -> Result<(), OpenError> {
        if self.header.sender != party || !self.header.sender_key.is(key) {
            return Err(OpenError::Sender {
                expected: party.to_owned(),
                found: self.header.sender.clone(),
            });
        }
        Ok(())
    }
}

/// Opens a sealed item: checks the binding, the sender (if a known key is
/// given), that it is for this recipient, decrypts and checks the digest.
pub fn open(
    bytes: &[u8],
    recipient_key: &RecipientSecret,
    sender: Option<(&str, &PublicKey)>,
) -> Result<(Header, Vec<u8>), OpenError> {
    open_with(bytes, recipient_key, sender, &mut |enc| {
        session_secret(enc, recipient_key)
    })
}

/// Where [`open_with`] takes a session's secret from, given its encapsulated key.
pub type SessionSecrets<'a> = dyn FnMut(&[u8]) -> Result<[u8; 32], OpenError> + 'a;

/// [`open`], taking the secret of a session-sealed item's session from
/// `secrets` (given the encapsulated key), so a caller that keeps the
/// secrets of sessions it has opened decapsulates once per session.
pub fn open_with(
    bytes: &[u8],
    recipient_key: &RecipientSecret,
    sender: Option<(&str, &PublicKey)>,
    secrets: &mut SessionSecrets<'_>,
) -> Result<(Header, Vec<u8>), OpenError> {
    open_inner(bytes, recipient_key, sender, secrets, None)
        .map(|(header, content, _)| (header, content))
}

/// [`open_with`], skipping the binding's signature check when `known`
/// vouches for it (the same signed bytes with the same signature verify
/// the same way every time; see [`KnownBindings`]); everything else is
/// checked as ever, the AEAD over the header and binding included. Returns the
/// binding's id too, for the caller to remember once the item has opened.
pub fn open_known(
    bytes: &[u8],
    recipient_key: &RecipientSecret,
    sender: Option<(&str, &PublicKey)>,
    secrets: &mut SessionSecrets<'_>,
    known: &KnownBindings<'_>,
) -> Result<(Header, Vec<u8>, [u8; 32]), OpenError> {
    open_inner(bytes, recipient_key, sender, secrets, Some(known))
}

fn open_inner(
    bytes: &[u8],
    recipient_key: &RecipientSecret,
    sender: Option<(&str, &PublicKey)>,
    secrets: &mut SessionSecrets<'_>,
    known: Option<&KnownBindings<'_>>,
) -> Result<(Header, Vec<u8>, [u8; 32]), OpenError> {
    let (item, id) = inspect_memo(bytes, known, sender.map(|(_, key)| key))?;
    if let Some((party, key)) = sender {
        item.check_sender(party, key)?;
    }
    if item.header.recipient_key != recipient_key.fingerprint() {
        return Err(OpenError::Recipient(item.header.recipient.clone()));
    }
    let mut aad = item.header_bytes.to_vec();
    aad.extend_from_slice(&item.binding.0);
    // Decrypt in place in one copy of the ciphertext.
    let split = item
        .ct
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(OpenError::Decrypt)?;
    let (ct, tag) = item.ct.split_at(split);
    let mut content = ct.to_vec();
    match &item.header.salt {
        None => {
            let enc = <XWing as hpke::Kem>::EncappedKey::from_bytes(item.enc)
                .map_err(|_| OpenError::Decrypt)?;
            let tag = hpke::aead::AeadTag::<AesGcm256>::from_bytes(tag)
                .map_err(|_| OpenError::Decrypt)?;
            hpke::single_shot_open_inout_detached::<AesGcm256, HkdfSha256, XWing>(
                &OpModeR::Base,
                &recipient_key.0,
                &enc,
                INFO,
                content.as_mut_slice().into(),
                &aad,
                &tag,
            )
            .map_err(|_| OpenError::Decrypt)?;
        }
        Some(salt) => {
            use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
            let secret = secrets(item.enc)?;
            let (key, nonce) = item_key(&secret, salt)?;
            let cipher =
                aes_gcm::Aes256Gcm::new_from_slice(&key).map_err(|_| OpenError::Decrypt)?;
            let tag = aes_gcm::Tag::try_from(tag).map_err(|_| OpenError::Decrypt)?;
            cipher
                .decrypt_inout_detached(
                    &aes_gcm::Nonce::from(nonce),
                    &aad,
                    content.as_mut_slice().into(),
                    &tag,
                )
                .map_err(|_| OpenError::Decrypt)?;
        }
    }
    let digest: [u8; 48] = Sha384::digest(&content).into();
    if digest != item.header.content_digest || content.len() as u64 != item.header.content_len {
        return Err(OpenError::Digest);
    }
    Ok((item.header, content, id))
}

/// The secret of the session whose encapsulated key is `enc` (one
/// decapsulation with the recipient's key).
pub fn session_secret(enc: &[u8], recipient_key: &RecipientSecret) -> Result<[u8; 32], OpenError> {
    let enc = <XWing as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| OpenError::Decrypt)?;
    let ctx = hpke::setup_receiver::<AesGcm256, HkdfSha256, XWing>(
        &OpModeR::Base,
        &recipient_key.0,
        &enc,
        SESSION_INFO,
    )
    .map_err(|_| OpenError::Decrypt)?;
    let mut secret = [0u8; 32];
    ctx.export(SESSION_EXPORT, &mut secret)
        .map_err(|_| OpenError::Decrypt)?;
    Ok(secret)
}

/// An item's AES-256-GCM key and nonce from its session's secret and salt.
fn item_key(secret: &[u8; 32], salt: &[u8; 32]) -> Result<([u8; 32], [u8; 12]), OpenError> {
    let hk = hkdf::Hkdf::<Sha256>::from_prk(secret).map_err(|_| OpenError::Decrypt)?;
    let mut okm = [0u8; 44];
    hk.expand_multi_info(&[SESSION_ITEM, salt], &mut okm)
        .map_err(|_| OpenError::Decrypt)?;
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    key.copy_from_slice(okm.get(..32).ok_or(OpenError::Decrypt)?);
    nonce.copy_from_slice(okm.get(32..).ok_or(OpenError::Decrypt)?);
    Ok((key, nonce))
}

/// One HPKE encapsulation to a recipient, shared by many session-sealed
/// items: sealing costs a signature and the AEAD, not a KEM.
pub struct Session {
    enc: Vec<u8>,
    secret: [u8; 32],
    recipient_key: [u8; 32],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({})", hex(&self.id()))
    }
}

impl Session {
    /// A new session to `recipient_key`; `entropy` must be 32 fresh random bytes.
    pub fn new(recipient_key: &RecipientPublic, entropy: [u8; 32]) -> Result<Session, OpenError> {
        let mut rng = SeedRng::new(entropy);
        let (enc, ctx) = hpke::setup_sender_with_rng::<AesGcm256, HkdfSha256, XWing>(
            &OpModeS::Base,
            &recipient_key.0,
            SESSION_INFO,
            &mut rng,
        )
        .map_err(|_| OpenError::Decrypt)?;
        let mut secret = [0u8; 32];
        ctx.export(SESSION_EXPORT, &mut secret)
            .map_err(|_| OpenError::Decrypt)?;
        Ok(Session {
            enc: enc.to_bytes().to_vec(),
            secret,
            recipient_key: recipient_key.fingerprint(),
        })
    }

    /// SHA-256 of the encapsulated key: names the session.
    pub fn id(&self) -> [u8; 32] {
        Sha256::digest(&self.enc).into()
    }

    /// Seals `content` in this session. `salt` must be 32 fresh random bytes
    /// (never reused within a session: it derives the item's key and nonce).
    pub fn seal(
        &self,
        label: &WireLabel,
        content: &[u8],
        sender: &str,
        sender_key: &SecretKey,
        recipient: &str,
        salt: [u8; 32],
    ) -> Result<Vec<u8>, OpenError> {
        use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
        let (header_bytes, binding, aad) = bind(
            label,
            content,
            (sender, sender_key),
            recipient,
            self.recipient_key,
            Some(salt),
        )?;
        let ct_len = content.len() + TAG_LEN;
        let mut w = Writer::tagged(ITEM_TAG);
        w.bytes(&header_bytes).raw(&binding.0).bytes(&self.enc);
        let mut out = w.finish();
        out.reserve(4 + ct_len);
        out.extend_from_slice(
            &u32::try_from(ct_len)
                .map_err(|_| OpenError::TooLarge)?
                .to_be_bytes(),
        );
        let content_at = out.len();
        out.extend_from_slice(content);
        let (key, nonce) = item_key(&self.secret, &salt)?;
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).map_err(|_| OpenError::Decrypt)?;
        let body = out.get_mut(content_at..).ok_or(OpenError::TooLarge)?;
        let tag = cipher
            .encrypt_inout_detached(&aes_gcm::Nonce::from(nonce), &aad, body.into())
            .map_err(|_| OpenError::Decrypt)?;
        out.extend_from_slice(tag.as_slice());
        Ok(out)
    }
}
