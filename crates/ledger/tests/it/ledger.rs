//! Proofs against a naive model; records, checkpoints, tampering, witnesses.

use gsomia_ledger::entry::{Entry, GENESIS, Kind, Record, frame};
use gsomia_ledger::merkle::{
    Hash, ProofError, Tree, empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};
use gsomia_ledger::note::{Checkpoint, Note, Signer};
use gsomia_ledger::verify::{Problem, verify};
use gsomia_ledger::witness::{Refusal, cosign};
use gsomia_seal::SecretKey;
use proptest::prelude::*;

fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

proptest! {
    #[test]
    fn every_proof_verifies_and_roots_match_the_naive_definition(n in 1u64..300, a in 0u64..300, b in 0u64..300) {
        let mut t = Tree::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves { t.push_hash(*l); }
        let (old, new) = (a % (n + 1), b % (n + 1));
        let (old, new) = (old.min(new), old.max(new));
        prop_assert_eq!(t.root_at(new).unwrap(), naive_root(&leaves[..new as usize]));
        let proof = t.consistency_proof(old, new).unwrap();
        let (r1, r2) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
        prop_assert!(verify_consistency(old, new, &r1, &r2, &proof).is_ok());
        if new > 0 {
            let i = a % new;
            let p = t.inclusion_proof(i, new).unwrap();
            prop_assert!(verify_inclusion(&leaves[i as usize], i, new, &p, &r2).is_ok());
            // A wrong index or leaf never verifies.
            prop_assert!(verify_inclusion(&leaf_hash(b"other"), i, new, &p, &r2).is_err());
            if new > 1 {
                prop_assert!(verify_inclusion(&leaves[i as usize], (i + 1) % new, new, &p, &r2).is_err());
            }
        }
        if old > 0 && old < new {
            let mut forged = proof.clone();
            forged[0].0[5] ^= 0x40;
            prop_assert!(verify_consistency(old, new, &r1, &r2, &forged).is_err());
        }
    }
}

/// A proof from a compact tree: asked without help, then, if refused for
/// a pruned block, asked again with that block's leaves (as the node reads
/// them from its store).
fn with_block<T>(
    t: &Tree,
    leaves: &[Hash],
    size: u64,
    ask: impl Fn(&gsomia_ledger::merkle::View<'_>) -> Result<T, ProofError>,
) -> Result<T, ProofError> {
    match t.view(size).and_then(|v| ask(&v)) {
        Err(ProofError::Pruned { index }) => {
            let (from, to) = t.block_of(index);
            let v = t.view_with(size, from, &leaves[from as usize..to as usize])?;
            ask(&v)
        }
        other => other,
    }
}

proptest! {
    /// A compact tree has the full tree's roots at every size, and gives
    /// the same proofs once the one block they need is supplied; it holds
    /// hashes below level `bits` for the last block only.
    #[test]
    fn a_compact_tree_gives_the_full_trees_roots_and_proofs_with_one_block_supplied(
        bits in 1u32..5, n in 1u64..200, a in 0u64..200, b in 0u64..200,
    ) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let (mut full, mut compact) = (Tree::new(), Tree::compact(bits));
        for (i, l) in leaves.iter().enumerate() {
            full.push_hash(*l);
            compact.push_hash(*l);
            prop_assert_eq!(compact.size(), i as u64 + 1);
            prop_assert_eq!(compact.root(), full.root());
        }
        let width = 1u64 << bits;
        prop_assert_eq!(compact.held_from(), n - n % width);
        let (old, new) = (a % (n + 1), b % (n + 1));
        let (old, new) = (old.min(new), old.max(new));
        prop_assert_eq!(
            with_block(&compact, &leaves, new, |v| Ok(v.root())).unwrap(),
            full.root_at(new).unwrap()
        );
        prop_assert_eq!(
            with_block(&compact, &leaves, n, |v| v.consistency_proof(old)).unwrap(),
            full.consistency_proof(old, n).unwrap()
        );
        let i = a % n;
        prop_assert_eq!(
            with_block(&compact, &leaves, n, |v| v.inclusion_proof(i)).unwrap(),
            full.inclusion_proof(i, n).unwrap()
        );
        // A leaf in a pruned block is not in memory: refused, not invented.
        if i < compact.held_from() {
            prop_assert_eq!(compact.leaf(i), None);
            let refused = matches!(compact.inclusion_proof(i, n), Err(ProofError::Pruned { .. }));
            prop_assert!(refused);
        } else {
            prop_assert_eq!(compact.leaf(i), Some(leaves[i as usize]));
        }
    }
}

fn signer(name: &str, seed: u8) -> Signer {
    Signer {
        name: name.to_owned(),
        key: SecretKey::from_seed(&[seed; 32]),
    }
}

fn records(n: u64) -> Vec<Vec<u8>> {
    let mut prev = GENESIS;
    (0..n)
        .map(|i| {
            let entry = Entry::new(
                Kind::LossReport,
                1_700_000_000 + i as i64,
                0,
                "JPN",
                Some(format!("item-{i}")),
                vec![
                    ("description".into(), format!("report {i}")),
                    ("actual_or_possible".into(), "possible".into()),
                ],
            )
            .unwrap();
            let r = Record {
                index: i,
                prev,
                entry,
            };
            prev = r.leaf_hash();
            frame(&r)
        })
        .collect()
}

fn ledger(n: u64, every: u64) -> (Vec<Vec<u8>>, Vec<(String, String)>, Signer) {
    let recs = records(n);
    let log = signer("gsomia/JPN", 1);
    let mut t = Tree::new();
    let mut cps = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        t.push(&r[36..]);
        if (i as u64 + 1).is_multiple_of(every) || i as u64 + 1 == n {
            let c = Checkpoint {
                origin: "gsomia/JPN".into(),
                size: t.size(),
                root: t.root(),
            };
            cps.push((
                format!("{:020}.note", t.size()),
                log.sign_checkpoint(&c).render(),
            ));
        }
    }
    (recs, cps, log)
}

#[test]
fn an_intact_ledger_verifies() {
    let (recs, cps, log) = ledger(50, 7);
    let report = verify("gsomia/JPN", &log.verifier(), &recs.concat(), &cps).unwrap();
    assert_eq!(report.records, 50);
    assert_eq!(report.checkpoints, cps.len());
}

#[test]
fn entries_are_typed_by_kind() {
    let e = Entry::new(
        Kind::Destruction,
        0,
        0,
        "KOR",
        None,
        vec![("method".into(), "shred".into())],
    );
    assert!(e.unwrap_err().to_string().contains("`witnesses`"));
    let e = Entry::new(
        Kind::Copy,
        0,
        0,
        "KOR",
        None,
        vec![
            ("copy".into(), "c1".into()),
            ("copies".into(), "2".into()),
            ("colour".into(), "x".into()),
        ],
    );
    assert!(e.unwrap_err().to_string().contains("no field `colour`"));
    assert_eq!(Kind::ALL.len(), 34);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any single-byte change anywhere in the records is detected, and the
    /// record named is the one changed (or, for the last record, the
    /// checkpoint covering it).
    #[test]
    fn every_single_byte_change_in_records_is_detected_at_its_record(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (mut recs, cps, log) = ledger(12, 5);
        let total: usize = recs.iter().map(Vec::len).sum();
        let mut p = pos.index(total);
        let mut which = 0;
        while p >= recs[which].len() { p -= recs[which].len(); which += 1; }
        recs[which][p] ^= flip;
        let err = verify("gsomia/JPN", &log.verifier(), &recs.concat(), &cps).unwrap_err();
        let named = match &err {
            Problem::Malformed { index, .. } | Problem::Index { index, .. } | Problem::Altered { index } | Problem::Frame { index, .. } => *index,
            Problem::Root { last, .. } => *last,
            other => panic!("unexpected {other}"),
        };
        prop_assert_eq!(named, which as u64, "{}", err);
    }

    /// Any single-byte change in a checkpoint note is detected.
    #[test]
    fn every_single_byte_change_in_checkpoints_is_detected(pos in any::<prop::sample::Index>(), flip in 1u8..=255, which in 0usize..3) {
        let (recs, mut cps, log) = ledger(12, 5);
        let mut bytes = cps[which].1.clone().into_bytes();
        let p = pos.index(bytes.len());
        bytes[p] ^= flip;
        cps[which].1 = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(verify("gsomia/JPN", &log.verifier(), &recs.concat(), &cps).is_err());
    }
}

#[test]
fn deletion_insertion_reordering_and_truncation_are_named() {
    let (recs, cps, log) = ledger(10, 3);
    let v = log.verifier();
    let mut del = recs.clone();
    del.remove(4);
    assert_eq!(
        verify("gsomia/JPN", &v, &del.concat(), &cps).unwrap_err(),
        Problem::Index {
            index: 4,
            claimed: 5
        }
    );
    let mut swap = recs.clone();
    swap.swap(2, 3);
    assert_eq!(
        verify("gsomia/JPN", &v, &swap.concat(), &cps).unwrap_err(),
        Problem::Index {
            index: 2,
            claimed: 3
        }
    );
    let mut ins = recs.clone();
    ins.insert(6, recs[6].clone());
    assert!(matches!(
        verify("gsomia/JPN", &v, &ins.concat(), &cps).unwrap_err(),
        Problem::Index { index: 7, .. }
    ));
    let trunc = recs[..8].to_vec();
    assert!(matches!(
        verify("gsomia/JPN", &v, &trunc.concat(), &cps).unwrap_err(),
        Problem::Truncated {
            size: 9,
            stored: 8,
            ..
        }
    ));
    // A checkpoint from another key is refused.
    let other = signer("gsomia/JPN", 2);
    let c = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 10,
        root: Hash([0; 32]),
    };
    let forged = vec![("x.note".to_owned(), other.sign_checkpoint(&c).render())];
    assert!(matches!(
        verify("gsomia/JPN", &v, &recs.concat(), &forged).unwrap_err(),
        Problem::Checkpoint { .. }
    ));
}

#[test]
fn the_witness_cosigns_extensions_and_refuses_rollbacks_and_forks() {
    let log = signer("gsomia/JPN", 1);
    let witness = signer("gsomia/KOR/witness", 9);
    let mut t = Tree::new();
    for i in 0..10u64 {
        t.push(&i.to_be_bytes());
    }
    let c5 = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 5,
        root: t.root_at(5).unwrap(),
    };
    let c10 = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 10,
        root: t.root(),
    };
    let n5 = log.sign_checkpoint(&c5);
    let (seen, sig) = cosign(&log.verifier(), &witness, None, &n5, &[], 1_700_000_000).unwrap();
    assert_eq!(seen, c5);
    let mut cosigned = n5.clone();
    cosigned.add(sig);
    let parsed = Note::parse(&cosigned.render()).unwrap();
    assert_eq!(
        witness.verifier().verify_cosignature(&parsed).unwrap(),
        1_700_000_000
    );
    assert!(
        log.verifier().verify_checkpoint(&parsed).is_ok(),
        "the log signature survives"
    );

    let n10 = log.sign_checkpoint(&c10);
    let proof = t.consistency_proof(5, 10).unwrap();
    assert!(
        cosign(
            &log.verifier(),
            &witness,
            Some(&c5),
            &n10,
            &proof,
            1_700_000_100
        )
        .is_ok()
    );

    // Rollback.
    assert!(matches!(
        cosign(&log.verifier(), &witness, Some(&c10), &n5, &[], 1).unwrap_err(),
        Refusal::Rollback { last: 10, new: 5 }
    ));
    // Fork at the same size.
    let mut other = Tree::new();
    for i in 0..10u64 {
        other.push(&(i + 1).to_be_bytes());
    }
    let fork = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 10,
        root: other.root(),
    };
    assert!(matches!(
        cosign(
            &log.verifier(),
            &witness,
            Some(&c10),
            &log.sign_checkpoint(&fork),
            &[],
            1
        )
        .unwrap_err(),
        Refusal::Fork { size: 10 }
    ));
    // A larger tree that does not extend the cosigned one.
    for i in 10..12u64 {
        other.push(&i.to_be_bytes());
    }
    let c12 = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 12,
        root: other.root(),
    };
    let bad_proof = other.consistency_proof(10, 12).unwrap();
    assert!(matches!(
        cosign(
            &log.verifier(),
            &witness,
            Some(&c10),
            &log.sign_checkpoint(&c12),
            &bad_proof,
            1
        )
        .unwrap_err(),
        Refusal::Inconsistent { .. }
    ));
    // Not signed by the log.
    assert!(matches!(
        cosign(
            &log.verifier(),
            &witness,
            None,
            &witness.sign_checkpoint(&c5),
            &[],
            1
        )
        .unwrap_err(),
        Refusal::Unsigned(_)
    ));
}

#[test]
fn a_record_rewritten_with_its_hash_is_named_by_the_next_link_or_the_checkpoint() {
    let (recs, cps, log) = ledger(6, 6);
    let v = log.verifier();
    let rewrite = |i: usize, recs: &mut Vec<Vec<u8>>| {
        let mut r = Record::from_bytes(&recs[i][36..]).unwrap();
        r.entry = Entry::new(
            Kind::LossReport,
            0,
            0,
            "JPN",
            None,
            vec![
                ("description".into(), "nothing".into()),
                ("actual_or_possible".into(), "none".into()),
            ],
        )
        .unwrap();
        recs[i] = frame(&r);
    };
    let mut a = recs.clone();
    rewrite(2, &mut a);
    assert_eq!(
        verify("gsomia/JPN", &v, &a.concat(), &cps).unwrap_err(),
        Problem::Altered { index: 2 }
    );
    let mut b = recs.clone();
    rewrite(5, &mut b);
    assert!(matches!(
        verify("gsomia/JPN", &v, &b.concat(), &cps).unwrap_err(),
        Problem::Root { last: 5, .. }
    ));
}

#[test]
fn checkpoint_notes_have_the_c2sp_shape() {
    let log = signer("gsomia/JPN", 1);
    let c = Checkpoint {
        origin: "gsomia/JPN".into(),
        size: 8,
        root: leaf_hash(b""),
    };
    let text = log.sign_checkpoint(&c).render();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "gsomia/JPN");
    assert_eq!(lines[1], "8");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with("\u{2014} gsomia/JPN "));
    assert_eq!(Note::parse(&text).unwrap().render(), text);
    for bad in [
        "",
        "x\n",
        "gsomia/JPN\n8\nAAAA\n\n\u{2014} k AAAAAAAA\n",
        "a\n\n\n\u{2014} k AAAAAAAA\n",
    ] {
        assert!(
            Note::parse(bad).is_err()
                || log
                    .verifier()
                    .verify_checkpoint(&Note::parse(bad).unwrap())
                    .is_err(),
            "{bad:?}"
        );
    }
}

/// Known answers for the record encoding and the signed checkpoint: any
/// change to either format changes these.
#[test]
fn record_and_checkpoint_known_answers() {
    let entry = Entry::new(
        Kind::LossReport,
        1_574_434_800,
        0,
        "KOR",
        Some("rep-1".into()),
        vec![
            ("description".into(), "envelope seal broken".into()),
            ("actual_or_possible".into(), "possible".into()),
        ],
    )
    .unwrap();
    let r = Record {
        index: 0,
        prev: GENESIS,
        entry,
    };
    assert_eq!(r.leaf_hash().to_hex(), RECORD_LEAF);
    let log = signer("gsomia/KOR", 5);
    let c = Checkpoint {
        origin: "gsomia/KOR".into(),
        size: 1,
        root: r.leaf_hash(),
    };
    assert_eq!(log.sign_checkpoint(&c).render(), CHECKPOINT);
}

const RECORD_LEAF: &str = "0cbe908c631980889afe7312ff8f4f53bc548ddf9494974e7d8b78e21ab7004e";
const CHECKPOINT: &str = "gsomia/KOR\n1\nDL6QjGMZgIia/nMS/49PU7xUjd+UlJdOfYt44hq3AE4=\n\n\u{2014} gsomia/KOR Cv4J7edcXTPFSDAUxLb7OAPgQCN+ZIYclsxPkKFCuPnlYQIMeuYu9zIEGRY5NtM1uElsIekX8fpnLtt6JoK9QAJcIwQ=\n";

/// A walk over records one at a time, from the first or resumed at one
/// whose predecessor is not read: each record's hash, index and link.
#[test]
fn a_chain_checks_hashes_indexes_and_links_from_the_first_record_or_resumed() {
    use gsomia_ledger::verify::Chain;
    let log = records(4).concat();
    let records: Vec<(Hash, Vec<u8>)> = gsomia_ledger::entry::unframe(&log)
        .0
        .iter()
        .map(|f| (f.stored, f.bytes.to_vec()))
        .collect();
    let mut whole = Chain::new();
    for (h, b) in &records {
        assert_eq!(whole.push(h, b), Ok(*h));
    }
    // Resumed at record 2: its link is not checked, the next one's is.
    let mut resumed = Chain::resume(2);
    assert!(resumed.push(&records[2].0, &records[2].1).is_ok());
    assert!(resumed.push(&records[3].0, &records[3].1).is_ok());
    // Out of place: its index is not its position.
    let mut skipped = Chain::resume(1);
    assert_eq!(
        skipped.push(&records[2].0, &records[2].1),
        Err(Problem::Index {
            index: 1,
            claimed: 2
        })
    );
    // A changed byte, and a stored hash that is not the record's.
    let mut bent = records[1].1.clone();
    if let Some(last) = bent.last_mut() {
        *last ^= 1;
    }
    let mut c = Chain::new();
    c.push(&records[0].0, &records[0].1).unwrap();
    assert_eq!(
        c.push(&records[1].0, &bent),
        Err(Problem::Altered { index: 1 })
    );
    // A record rewritten with its stored hash: the next link names it.
    let mut c2 = Chain::new();
    c2.push(&records[0].0, &records[0].1).unwrap();
    let mut rewritten = Record::from_bytes(&records[1].1).unwrap();
    rewritten.entry = Record::from_bytes(&records[3].1).unwrap().entry;
    let rewritten = rewritten.to_bytes();
    c2.push(&leaf_hash(&rewritten), &rewritten).unwrap();
    assert_eq!(
        c2.push(&records[2].0, &records[2].1),
        Err(Problem::Altered { index: 1 })
    );
}
