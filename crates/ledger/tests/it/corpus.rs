//! Replays the fuzz corpora (fuzz/corpus) through the fuzz entry points.

use std::path::PathBuf;

use gsomia_ledger::fuzzing;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn checkpoint_note_corpus_replays() {
    for input in corpus("checkpoint_note") {
        fuzzing::checkpoint_note(&input);
    }
}

#[test]
fn proofs_corpus_replays() {
    for input in corpus("proofs") {
        fuzzing::proofs(&input);
    }
}

#[test]
fn ledger_log_corpus_replays() {
    for input in corpus("ledger_log") {
        fuzzing::ledger_log(&input);
    }
}
