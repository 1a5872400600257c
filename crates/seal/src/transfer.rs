//! Transfer envelopes and receipts between nodes.
//!
//! An envelope carries one sealed item from a sender party to a recipient
//! party under a named agreement version, with a transfer id that makes any
//! retry or replay idempotent. The sender signs it (context
//! `gsomia/v1/transfer`); a transfer signed for another recipient, agreement
//! version or sender does not verify as this one. Envelopes sent together
//! travel as a batch signed once as a whole (context
//! `gsomia/v1/transfer-batch`): the signature covers every envelope's bytes,
//! so each is as bound to its sender as a signed single one, for one
//! signature and one verification per batch instead of one per item. The
//! receipt is the recipient's signed acknowledgement (context
//! `gsomia/v1/receipt`), carrying its latest ledger checkpoint.

use sha2::{Digest as _, Sha256};

use crate::canon::{DecodeError, Reader, Writer};
use crate::sign::{Context, PublicKey, SecretKey, Signature};

const ENVELOPE_TAG: &str = "gsomia/v1/envelope";
const RECEIPT_TAG: &str = "gsomia/v1/receipt-body";
/// The largest envelope accepted (bytes).
pub const MAX_ENVELOPE: usize = 64 * 1024 * 1024;

/// What a sender transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique transfer id (retries reuse it).
    pub transfer: String,
    /// The sending party.
    pub sender: String,
    /// The recipient party.
    pub recipient: String,
    /// The agreement the release was decided under.
    pub agreement: String,
    /// Its version at the decision.
    pub version: u32,
    /// The sender's instant of release (Unix seconds, nanoseconds).
    pub sent_at: (i64, u32),
    /// The originator's item id (the same at every hop).
    pub item: String,
    /// The sealed item, encrypted to the recipient.
    pub sealed: Vec<u8>,
    /// For an onward release or hub relay: the originator's signed consents
    /// the sender relied on ([`crate::message::ConsentGrant`] bytes), so the
    /// recipient can decide again with them.
    pub consents: Vec<Vec<u8>>,
}

/// Why an envelope or receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Malformed bytes.
    #[error("malformed: {0}")]
    Format(#[from] DecodeError),
    /// The signature does not verify with the expected key.
    #[error("signature does not verify")]
    Signature,
}

/// `bytes(body) || signature` over `body` in context `ctx`.
pub(crate) fn signed(ctx: Context, body: &[u8], key: &SecretKey) -> Vec<u8> {
    let sig = key.sign(ctx, body);
    let mut w = Writer::new();
    w.bytes(body).raw(&sig.0);
    w.finish()
}

/// Splits `bytes(body) || signature` (at most `limit` bytes of body).
pub(crate) fn split(bytes: &[u8], limit: usize) -> Result<(&[u8], Signature), TransferError> {
    let mut r = Reader::new(bytes, limit);
    let body = r.bytes()?;
    let sig = Signature(r.raw::<64>()?);
    r.finish()?;
    Ok((body, sig))
}

/// Splits and verifies with `key` in context `ctx`; returns the body.
pub(crate) fn verified<'a>(
    ctx: Context,
    bytes: &'a [u8],
    limit: usize,
    key: &PublicKey,
) -> Result<&'a [u8], TransferError> {
    let (body, sig) = split(bytes, limit)?;
    key.verify(ctx, body, &sig)
        .map_err(|_| TransferError::Signature)?;
    Ok(body)
}

impl Envelope {
    /// The unsigned encoding: what a single envelope's signature and a
    /// batch's signature cover, and what an outbox keeps until it is sent.
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(ENVELOPE_TAG);
        w.str(&self.transfer)
            .str(&self.sender)
            .str(&self.recipient)
            .str(&self.agreement)
            .u32(self.version)
            .i64(self.sent_at.0)
            .u32(self.sent_at.1)
            .str(&self.item)
            .bytes(&self.sealed)
            .count(self.consents.len());
        for c in &self.consents {
            w.bytes(c);
        }
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        Self::sign_body(&self.body(), key)
    }

    /// Signs an unsigned encoding ([`Envelope::body`]) as a single envelope.
    pub fn sign_body(body: &[u8], key: &SecretKey) -> Vec<u8> {
        signed(Context::Transfer, body, key)
    }

    /// The unsigned encoding inside `bytes`, which is either that encoding
    /// or a signed single envelope (whose signature is dropped): what an
    /// outbox holds, whichever form it was queued in.
    pub fn unsigned(bytes: &[u8]) -> Result<&[u8], TransferError> {
        let body = match split(bytes, MAX_ENVELOPE) {
            Ok((body, _)) if Self::decode_body(body).is_ok() => body,
            _ => bytes,
        };
        Self::decode_body(body)?;
        Ok(body)
    }

    /// The transfer id an envelope claims, read without copying or
    /// verifying anything else (to look up a replay before the full check).
    pub fn claimed_transfer(bytes: &[u8]) -> Result<&str, TransferError> {
        let (body, _) = split(bytes, MAX_ENVELOPE)?;
        Self::body_transfer(body)
    }

    /// Decodes without verifying (to learn the claimed sender).
    pub fn decode(bytes: &[u8]) -> Result<(Envelope, Vec<u8>, Signature), TransferError> {
        let (body, sig) = split(bytes, MAX_ENVELOPE)?;
        let env = Self::decode_body(body)?;
        Ok((env, body.to_vec(), sig))
    }

    /// Decodes an unsigned encoding ([`Envelope::body`]); only for bytes
    /// whose signature was checked already, as a whole batch's.
    pub fn decode_body(body: &[u8]) -> Result<Envelope, TransferError> {
        let mut b = Reader::new(body, MAX_ENVELOPE);
        b.expect_tag(ENVELOPE_TAG)?;
        let mut env = Envelope {
            transfer: b.str()?.to_owned(),
            sender: b.str()?.to_owned(),
            recipient: b.str()?.to_owned(),
            agreement: b.str()?.to_owned(),
            version: b.u32()?,
            sent_at: (b.i64()?, b.u32()?),
            item: b.str()?.to_owned(),
            sealed: b.bytes()?.to_vec(),
            consents: Vec::new(),
        };
        let n = b.count(4)?;
        for _ in 0..n {
            env.consents.push(b.bytes()?.to_vec());
        }
        b.finish()?;
        Ok(env)
    }

    /// The unsigned encoding `body` with its sending instant replaced by
    /// `sent_at`: each delivery attempt is stamped (and signed) when it is
    /// made, so a receiver's freshness check measures the attempt, not the
    /// release, however long the transfer waited.
    pub fn restamp(body: &[u8], sent_at: (i64, u32)) -> Result<Vec<u8>, TransferError> {
        // Checked whole, then the twelve bytes of the instant written in
        // place (no copy of the sealed item beyond the one returned).
        let mut r = Reader::new(body, MAX_ENVELOPE);
        r.expect_tag(ENVELOPE_TAG)?;
        for _ in 0..4 {
            r.str()?;
        }
        r.u32()?;
        let at = r.position();
        r.i64()?;
        r.u32()?;
        r.str()?;
        r.bytes()?;
        let n = r.count(4)?;
        for _ in 0..n {
            r.bytes()?;
        }
        r.finish()?;
        let mut out = body.to_vec();
        let mut stamp = [0u8; 12];
        let (secs, nanos) = stamp.split_at_mut(8);
        secs.copy_from_slice(&sent_at.0.to_be_bytes());
        nanos.copy_from_slice(&sent_at.1.to_be_bytes());
        out.get_mut(at..at + 12)
            .ok_or(TransferError::Format(DecodeError::Truncated(at)))?
            .copy_from_slice(&stamp);
        Ok(out)
    }

    /// The transfer id an unsigned encoding claims, read without copying.
    pub fn body_transfer(body: &[u8]) -> Result<&str, TransferError> {
        let mut b = Reader::new(body, MAX_ENVELOPE);
        b.expect_tag(ENVELOPE_TAG)?;
        Ok(b.str()?)
    }

    /// Decodes and verifies with the sender's key.
    pub fn open(bytes: &[u8], sender_key: &PublicKey) -> Result<Envelope, TransferError> {
        let (env, body, sig) = Self::decode(bytes)?;
        sender_key
            .verify(Context::Transfer, &body, &sig)
            .map_err(|_| TransferError::Signature)?;
        Ok(env)
    }
}

/// A recipient's acknowledgement of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transfer acknowledged.
    pub transfer: String,
    /// The recipient party.
    pub recipient: String,
    /// The item's id at the recipient.
    pub item: String,
    /// Whether this acknowledges a replay of a transfer already received.
    pub duplicate: bool,
    /// The recipient's latest checkpoint (a signed note) after storing it.
    pub checkpoint: String,
}

impl Receipt {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(RECEIPT_TAG);
        w.str(&self.transfer)
            .str(&self.recipient)
            .str(&self.item)
            .u8(u8::from(self.duplicate))
            .str(&self.checkpoint);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        signed(Context::Receipt, &self.body(), key)
    }

    /// Decodes and verifies with the recipient's key.
    pub fn open(bytes: &[u8], recipient_key: &PublicKey) -> Result<Receipt, TransferError> {
        let body = verified(Context::Receipt, bytes, 1 << 20, recipient_key)?;
        let mut b = Reader::new(body, 1 << 20);
        b.expect_tag(RECEIPT_TAG)?;
        let transfer = b.str()?.to_owned();
        let recipient = b.str()?.to_owned();
        let item = b.str()?.to_owned();
        let at = b.position();
        let duplicate = match b.u8()? {
            0 => false,
            1 => true,
            tag => return Err(DecodeError::Tag { at, tag }.into()),
        };
        let checkpoint = b.str()?.to_owned();
        b.finish()?;
        Ok(Receipt {
            transfer,
            recipient,
            item,
            duplicate,
            checkpoint,
        })
    }
}

const BATCH_TAG: &str = "gsomia/v1/transfer-batch-body";
const BATCH_RECEIPT_TAG: &str = "gsomia/v1/batch-receipt-body";
/// The most envelopes in one batch.
pub const MAX_BATCH: usize = 256;

/// Several envelopes to one recipient in one request, signed once as a
/// whole by the sender: `bytes(body) ‖ signature`, where `body` is
/// `canon(tag, count, bytes(envelope body)…)` and the signature is over its
/// SHA-256 (a batch is hashed once at each end, not three times inside
/// Ed25519). Each envelope is still decided on its own.
pub fn seal_batch(bodies: &[&[u8]], key: &SecretKey) -> Vec<u8> {
    let body = batch_body(bodies);
    let sig = key.sign(Context::TransferBatch, &Sha256::digest(&body));
    let mut w = Writer::new();
    w.bytes(&body).raw(&sig.0);
    w.finish()
}

fn batch_body(bodies: &[&[u8]]) -> Vec<u8> {
    let mut w = Writer::tagged(BATCH_TAG);
    w.count(bodies.len());
    for e in bodies {
        w.bytes(e);
    }
    w.finish()
}

/// The envelope bodies of a batch signed by `sender_key` (at most
/// [`MAX_BATCH`]), undecoded; refused whole if the signature does not verify.
pub fn open_batch<'a>(
    bytes: &'a [u8],
    sender_key: &PublicKey,
) -> Result<Vec<&'a [u8]>, TransferError> {
    let (body, sig) = split(bytes, MAX_ENVELOPE)?;
    let bodies = batch_bodies(body)?;
    sender_key
        .verify(Context::TransferBatch, &Sha256::digest(body), &sig)
        .map_err(|_| TransferError::Signature)?;
    Ok(bodies)
}

/// Decodes a batch without verifying it (fuzzing: every decoder refuses or
/// accepts without panicking): the signed bytes and the bodies.
pub fn decode_batch(bytes: &[u8]) -> Result<(Vec<&[u8]>, Signature), TransferError> {
    let (body, sig) = split(bytes, MAX_ENVELOPE)?;
    Ok((batch_bodies(body)?, sig))
}

fn batch_bodies(body: &[u8]) -> Result<Vec<&[u8]>, TransferError> {
    let mut r = Reader::new(body, MAX_ENVELOPE);
    r.expect_tag(BATCH_TAG)?;
    let n = r.count(4)?;
    if n > MAX_BATCH {
        return Err(DecodeError::TooLong {
            at: 0,
            len: n as u64,
            limit: MAX_BATCH,
        }
        .into());
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.bytes()?);
    }
    r.finish()?;
    Ok(out)
}

/// What became of one transfer of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now, under this item id.
    Stored(String),
    /// Already received before, under this item id (no second effect).
    Duplicate(String),
    /// Refused for good, with the reason.
    Refused(String),
}

/// A recipient's signed acknowledgement of a batch: one outcome per
/// transfer, and its latest checkpoint after storing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    /// The recipient party.
    pub recipient: String,
    /// (transfer id, outcome), in the batch's order.
    pub outcomes: Vec<(String, Outcome)>,
    /// The recipient's latest checkpoint (a signed note).
    pub checkpoint: String,
}

impl BatchReceipt {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(BATCH_RECEIPT_TAG);
        w.str(&self.recipient).count(self.outcomes.len());
        for (t, o) in &self.outcomes {
            w.str(t);
            match o {
                Outcome::Stored(i) => w.u8(0).str(i),
                Outcome::Duplicate(i) => w.u8(1).str(i),
                Outcome::Refused(why) => w.u8(2).str(why),
            };
        }
        w.str(&self.checkpoint);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        signed(Context::Receipt, &self.body(), key)
    }

    /// Decodes and verifies with the recipient's key.
    pub fn open(bytes: &[u8], recipient_key: &PublicKey) -> Result<BatchReceipt, TransferError> {
        let body = verified(Context::Receipt, bytes, 16 << 20, recipient_key)?;
        let mut b = Reader::new(body, 16 << 20);
        b.expect_tag(BATCH_RECEIPT_TAG)?;
        let recipient = b.str()?.to_owned();
        let n = b.count(9)?;
        let mut outcomes = Vec::with_capacity(n);
        for _ in 0..n {
            let t = b.str()?.to_owned();
            let at = b.position();
            let o = match b.u8()? {
                0 => Outcome::Stored(b.str()?.to_owned()),
                1 => Outcome::Duplicate(b.str()?.to_owned()),
                2 => Outcome::Refused(b.str()?.to_owned()),
                tag => return Err(DecodeError::Tag { at, tag }.into()),
            };
            outcomes.push((t, o));
        }
        let checkpoint = b.str()?.to_owned();
        b.finish()?;
        Ok(BatchReceipt {
            recipient,
            outcomes,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            transfer: "t-1".into(),
            sender: "KOR".into(),
            recipient: "JPN".into(),
            agreement: "jp-kr-2016".into(),
            version: 1,
            sent_at: (1_700_000_000, 5),
            item: "kor-1".into(),
            sealed: vec![1, 2, 3],
            consents: vec![vec![9; 5]],
        }
    }

    #[test]
    fn a_restamped_envelope_differs_only_in_its_instant() {
        let body = env().body();
        let again = Envelope::restamp(&body, (1_800_000_000, 42)).unwrap();
        let got = Envelope::decode_body(&again).unwrap();
        assert_eq!(got.sent_at, (1_800_000_000, 42));
        assert_eq!(
            Envelope {
                sent_at: env().sent_at,
                ..got
            },
            env()
        );
        assert!(Envelope::restamp(&body[..body.len() - 1], (1, 1)).is_err());
    }

    #[test]
    fn envelopes_verify_only_with_the_senders_key_and_unchanged() {
        let k = SecretKey::from_seed(&[1; 32]);
        let bytes = env().seal(&k);
        assert_eq!(Envelope::open(&bytes, &k.public()).unwrap(), env());
        assert_eq!(Envelope::claimed_transfer(&bytes).unwrap(), "t-1");
        assert!(Envelope::claimed_transfer(&bytes[..bytes.len() / 2]).is_err());
        let other = SecretKey::from_seed(&[2; 32]);
        assert_eq!(
            Envelope::open(&bytes, &other.public()),
            Err(TransferError::Signature)
        );
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(Envelope::open(&t, &k.public()).is_err(), "byte {i}");
        }
        // A receipt signature never verifies as a transfer.
        let r = Receipt {
            transfer: "t-1".into(),
            recipient: "JPN".into(),
            item: "x".into(),
            duplicate: false,
            checkpoint: "c".into(),
        };
        let rb = r.seal(&k);
        assert!(Envelope::open(&rb, &k.public()).is_err());
        assert_eq!(Receipt::open(&rb, &k.public()).unwrap(), r);
        // Batch receipts: only as themselves, only unchanged.
        let br = BatchReceipt {
            recipient: "JPN".into(),
            outcomes: vec![
                ("t-1".into(), Outcome::Stored("jpn-1".into())),
                ("t-2".into(), Outcome::Duplicate("jpn-0".into())),
                ("t-3".into(), Outcome::Refused("not in force".into())),
            ],
            checkpoint: "c".into(),
        };
        let bb = br.seal(&k);
        assert_eq!(BatchReceipt::open(&bb, &k.public()).unwrap(), br);
        assert!(Receipt::open(&bb, &k.public()).is_err());
        assert!(BatchReceipt::open(&rb, &k.public()).is_err());
        for i in 0..bb.len() {
            let mut t = bb.clone();
            t[i] ^= 1;
            assert!(BatchReceipt::open(&t, &k.public()).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_batch_opens_only_with_the_senders_key_and_unchanged() {
        let k = SecretKey::from_seed(&[1; 32]);
        let one = env().body();
        let two = Envelope {
            transfer: "t-2".into(),
            ..env()
        }
        .body();
        let batch = seal_batch(&[&one, &two], &k);
        assert_eq!(
            open_batch(&batch, &k.public()).unwrap(),
            vec![&one[..], &two[..]]
        );
        assert_eq!(Envelope::decode_body(&two).unwrap().transfer, "t-2");
        assert_eq!(Envelope::body_transfer(&two).unwrap(), "t-2");
        let other = SecretKey::from_seed(&[2; 32]);
        assert_eq!(
            open_batch(&batch, &other.public()),
            Err(TransferError::Signature)
        );
        for i in 0..batch.len() {
            let mut t = batch.clone();
            t[i] ^= 1;
            assert!(open_batch(&t, &k.public()).is_err(), "byte {i}");
        }
        // A single envelope's signature never opens as a batch's, nor the reverse.
        let single = env().seal(&k);
        assert!(open_batch(&single, &k.public()).is_err());
        assert!(Envelope::open(&batch, &k.public()).is_err());
        let too_many = seal_batch(&vec![&one[..]; MAX_BATCH + 1], &k);
        assert!(open_batch(&too_many, &k.public()).is_err());
    }

    #[test]
    fn an_outbox_holds_either_form_and_gives_the_unsigned_one() {
        let k = SecretKey::from_seed(&[1; 32]);
        let body = env().body();
        assert_eq!(Envelope::unsigned(&body).unwrap(), &body[..]);
        assert_eq!(Envelope::unsigned(&env().seal(&k)).unwrap(), &body[..]);
        assert_eq!(
            Envelope::open(&Envelope::sign_body(&body, &k), &k.public()).unwrap(),
            env()
        );
        assert!(Envelope::unsigned(b"not an envelope").is_err());
    }
}
