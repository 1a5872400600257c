//! Checkpoints as C2SP signed notes, and witness cosignatures (C2SP
//! tlog-checkpoint, signed-note and tlog-cosignature `cosignature/v1`).
//!
//! A checkpoint's text is `<origin>\n<size>\n<base64 root>\n`; a signed note
//! adds a blank line and one line per signature:
//! `— <key name> <base64(key id || signature)>`. The key id is the first four
//! bytes of `SHA-256(name || "\n" || type || public key)`, type 0x01 for a
//! log's Ed25519 signature and 0x04 for a cosignature, whose signed message is
//! `cosignature/v1\ntime <unix seconds>\n` followed by the checkpoint text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gsomia_seal::{PublicKey, SecretKey, Signature};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The largest note accepted (bytes).
pub const MAX_NOTE: usize = 64 * 1024;
/// The most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 100;

const DASH: &str = "\u{2014} ";

/// Why a note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Malformed text.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// Larger than [`MAX_NOTE`] or with too many signatures.
    #[error("note too large")]
    TooLarge,
    /// No signature from the expected key.
    #[error("no signature by `{0}`")]
    Unsigned(String),
    /// A signature from the expected key that does not verify.
    #[error("signature by `{0}` does not verify")]
    BadSignature(String),
}

/// A checkpoint: a log's size and root at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (`gsomia/JPN`).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Root hash of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text (three lines).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.0)
        )
    }

    /// Parses a checkpoint body (extension lines are refused).
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = text.split_terminator('\n');
        let origin = lines.next().ok_or(NoteError::Malformed("no origin"))?;
        let size = lines.next().ok_or(NoteError::Malformed("no size"))?;
        let root = lines.next().ok_or(NoteError::Malformed("no root"))?;
        if lines.next().is_some() || !text.ends_with('\n') {
            return Err(NoteError::Malformed("checkpoint has extra lines"));
        }
        if origin.is_empty() || origin.chars().any(|c| c.is_control()) {
            return Err(NoteError::Malformed("bad origin"));
        }
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(NoteError::Malformed("bad size"));
        }
        let size: u64 = size.parse().map_err(|_| NoteError::Malformed("bad size"))?;
        let root: [u8; 32] = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Malformed("bad root"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root: Hash(root),
        })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The four-byte key id.
    pub key_id: [u8; 4],
    /// What follows the key id (a signature, or a timestamp and a signature).
    pub payload: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut raw = self.key_id.to_vec();
        raw.extend_from_slice(&self.payload);
        format!("{DASH}{} {}\n", self.name, B64.encode(raw))
    }
}

/// A parsed signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text (ends with a newline).
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.len() > MAX_NOTE {
            return Err(NoteError::TooLarge);
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line"))?;
        let (text, sigs) = note.split_at(split + 1);
        let sigs = sigs
            .strip_prefix('\n')
            .ok_or(NoteError::Malformed("no blank line"))?;
        if text.contains("\n\n") || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("blank lines in text"));
        }
        let mut signatures = Vec::new();
        for line in sigs.split_terminator('\n') {
            if signatures.len() >= MAX_SIGNATURES {
                return Err(NoteError::TooLarge);
            }
            let rest = line
                .strip_prefix(DASH)
                .ok_or(NoteError::Malformed("signature line"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line"))?;
            if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
                return Err(NoteError::Malformed("key name"));
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed("signature too short"));
            }
            let (id, payload) = raw.split_at(4);
            let key_id: [u8; 4] = id.try_into().map_err(|_| NoteError::Malformed("key id"))?;
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id,
                payload: payload.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signatures"));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note as text.
    pub fn render(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }

    /// Adds a signature line, replacing one by the same key.
    pub fn add(&mut self, sig: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
    }
}

fn key_id(name: &str, kind: u8, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(key.to_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 4];
    id.copy_from_slice(digest.first_chunk::<4>().map_or(&[0u8; 4][..], |c| &c[..]));
    id
}

/// A named public key that verifies log signatures or cosignatures.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Key name.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

impl Verifier {
    /// The key id for log signatures.
    pub fn log_id(&self) -> [u8; 4] {
        key_id(&self.name, 0x01, &self.key)
    }
    /// The key id for cosignatures.
    pub fn cosign_id(&self) -> [u8; 4] {
        key_id(&self.name, 0x04, &self.key)
    }

    /// Verifies a checkpoint note signed by this log key and returns the checkpoint.
    pub fn verify_checkpoint(&self, note: &Note) -> Result<Checkpoint, NoteError> {
        let id = self.log_id();
        let mut found = false;
        for s in note
            .signatures
            .iter()
            .filter(|s| s.name == self.name && s.key_id == id)
        {
            found = true;
            let sig: [u8; 64] = s
                .payload
                .as_slice()
                .try_into()
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            if self
                .key
                .verify_raw(note.text.as_bytes(), &Signature(sig))
                .is_ok()
            {
                return Checkpoint::parse_body(&note.text);
            }
        }
        if found {
            Err(NoteError::BadSignature(self.name.clone()))
        } else {
            Err(NoteError::Unsigned(self.name.clone()))
        }
    }

    /// Verifies this witness's cosignature on a note; returns its timestamp.
    pub fn verify_cosignature(&self, note: &Note) -> Result<u64, NoteError> {
        let id = self.cosign_id();
        let s = note
            .signatures
            .iter()
            .find(|s| s.name == self.name && s.key_id == id)
            .ok_or_else(|| NoteError::Unsigned(self.name.clone()))?;
        if s.payload.len() != 72 {
            return Err(NoteError::BadSignature(self.name.clone()));
        }
        let (ts, sig) = s.payload.split_at(8);
        let time = u64::from_be_bytes(ts.try_into().map_err(|_| NoteError::Malformed("time"))?);
        let sig: [u8; 64] = sig
            .try_into()
            .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        let msg = cosigned_message(time, &note.text);
        self.key
            .verify_raw(msg.as_bytes(), &Signature(sig))
            .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        Ok(time)
    }
}

fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// A named secret key that signs checkpoints (a log) or cosigns them (a witness).
#[derive(Debug)]
pub struct Signer {
    /// Key name.
    pub name: String,
    /// The key.
    pub key: SecretKey,
}

impl Signer {
    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.public(),
        }
    }

    /// Signs a checkpoint as the log.
    pub fn sign_checkpoint(&self, c: &Checkpoint) -> Note {
        let text = c.body();
        let sig = self.key.sign_raw(text.as_bytes());
        Note {
            text,
            signatures: vec![NoteSignature {
                name: self.name.clone(),
                key_id: self.verifier().log_id(),
                payload: sig.0.to_vec(),
            }],
        }
    }

    /// A witness cosignature over a note's text at `time` (unix seconds).
    pub fn cosign(&self, note: &Note, time: u64) -> NoteSignature {
        let sig = self
            .key
            .sign_raw(cosigned_message(time, &note.text).as_bytes());
        let mut payload = time.to_be_bytes().to_vec();
        payload.extend_from_slice(&sig.0);
        NoteSignature {
            name: self.name.clone(),
            key_id: self.verifier().cosign_id(),
            payload,
        }
    }
}
