//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus
//! replay tests: each takes arbitrary bytes and must return without
//! panicking, whatever they are.

use gsomia_seal::SecretKey;

use crate::merkle::{Hash, verify_consistency, verify_inclusion};
use crate::note::{Checkpoint, Note, Signer, Verifier};

fn key() -> Verifier {
    Signer {
        name: "gsomia/JPN".into(),
        key: SecretKey::from_seed(&[1; 32]),
    }
    .verifier()
}

/// A checkpoint note: parse (a parsed note renders back to the same text),
/// verify as a checkpoint and as a cosignature.
pub fn checkpoint_note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Checkpoint::parse_body(text);
    if let Ok(note) = Note::parse(text) {
        assert_eq!(note.render(), text, "a parsed note renders differently");
        let k = key();
        let _ = k.verify_checkpoint(&note);
        let _ = k.verify_cosignature(&note);
    }
}

/// Proofs: the first 16 bytes give two sizes or an index and a size, the
/// rest 32-byte hashes; both verifiers must refuse cleanly.
pub fn proofs(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<16>() else {
        return;
    };
    let (a, b) = head.split_at(8);
    let a = u64::from_be_bytes(a.try_into().unwrap_or([0; 8]));
    let b = u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
    let hashes: Vec<Hash> = rest
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
        .collect();
    let (first, tail) = hashes
        .split_first()
        .map_or((Hash([0; 32]), &[][..]), |(f, t)| (*f, t));
    let _ = verify_inclusion(&first, a, b, tail, &first);
    if let Some((root, tail2)) = tail.split_first() {
        let _ = verify_consistency(a, b, &first, root, tail2);
    }
}

/// A ledger log file with no checkpoints: the verifier names a problem or
/// accepts, never panics.
pub fn ledger_log(data: &[u8]) {
    let _ = crate::verify::verify("gsomia/JPN", &key(), data, &[]);
}
