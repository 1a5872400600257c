//! Ledger primitives: in-memory appends, inclusion and consistency proofs.
//!
//! Run: `cargo bench -p gsomia-ledger --bench ledger`. `sha256_leaf` is the
//! floor for appends (one leaf hash); a tree append adds about one node hash.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use gsomia_ledger::merkle::{Hash, Tree, leaf_hash, verify_consistency, verify_inclusion};

fn main() {
    divan::main();
}

const N: u64 = 1 << 20;

fn leaves(n: u64) -> Vec<[u8; 64]> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 64];
            b[..8].copy_from_slice(&i.to_be_bytes());
            b
        })
        .collect()
}

/// The floor: hashing 64-byte leaves only.
#[divan::bench(sample_count = 10)]
fn sha256_leaf(bencher: Bencher) {
    let data = leaves(100_000);
    bencher.counter(ItemsCount::new(data.len())).bench(|| {
        let mut acc = 0u8;
        for d in &data {
            acc ^= leaf_hash(black_box(d)).0[0];
        }
        acc
    });
}

/// One view (right-edge precompute) per proof: the cost of a one-off proof.
#[divan::bench(sample_count = 10)]
fn inclusion_generate_one_off(bencher: Bencher) {
    let t = big_tree();
    let size = N - 12_345;
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        let mut n = 0;
        for i in 0..1000u64 {
            n += t
                .inclusion_proof(black_box(i * 997 % size), size)
                .unwrap()
                .len();
        }
        n
    });
}

/// Appending 64-byte leaves to an in-memory tree (leaf hash + tree update).
#[divan::bench(sample_count = 10)]
fn append_in_memory(bencher: Bencher) {
    let data = leaves(100_000);
    bencher.counter(ItemsCount::new(data.len())).bench(|| {
        let mut t = Tree::new();
        for d in &data {
            t.push(black_box(d));
        }
        t.size()
    });
}

fn big_tree() -> Tree {
    let mut t = Tree::new();
    for i in 0..N {
        t.push_hash(leaf_hash(&i.to_be_bytes()));
    }
    t
}

/// Inclusion proof generation in a tree of 2^20 leaves, at a non-power-of-two
/// size, from one view (the way a log serves proofs for its latest checkpoint).
#[divan::bench(sample_count = 10)]
fn inclusion_generate(bencher: Bencher) {
    let t = big_tree();
    let size = N - 12_345;
    let view = t.view(size).unwrap();
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        let mut n = 0;
        for i in 0..1000u64 {
            n += view
                .inclusion_proof(black_box(i * 997 % size))
                .unwrap()
                .len();
        }
        n
    });
}

/// Inclusion proof verification.
#[divan::bench(sample_count = 10)]
fn inclusion_verify(bencher: Bencher) {
    let t = big_tree();
    let size = N - 12_345;
    let root = t.root_at(size).unwrap();
    let proofs: Vec<(u64, Hash, Vec<Hash>)> = (0..1000u64)
        .map(|i| {
            let idx = i * 997 % size;
            (
                idx,
                t.leaf(idx).unwrap(),
                t.inclusion_proof(idx, size).unwrap(),
            )
        })
        .collect();
    bencher.counter(ItemsCount::new(proofs.len())).bench(|| {
        for (i, leaf, p) in &proofs {
            verify_inclusion(leaf, *i, size, p, &root).unwrap();
        }
    });
}

/// Consistency proof generation from one view (as when witnesses catch up to
/// the latest checkpoint from their various last sizes).
#[divan::bench(sample_count = 10)]
fn consistency_generate(bencher: Bencher) {
    let t = big_tree();
    let view = t.view(N - 12_345).unwrap();
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        let mut n = 0;
        for i in 1..=1000u64 {
            n += view.consistency_proof(black_box(i * 1021)).unwrap().len();
        }
        n
    });
}

#[divan::bench(sample_count = 10)]
fn consistency_verify(bencher: Bencher) {
    let t = big_tree();
    let cases: Vec<_> = (1..=1000u64)
        .map(|i| {
            let (a, b) = (i * 1021, N - i);
            (
                a,
                b,
                t.root_at(a).unwrap(),
                t.root_at(b).unwrap(),
                t.consistency_proof(a, b).unwrap(),
            )
        })
        .collect();
    bencher.counter(ItemsCount::new(cases.len())).bench(|| {
        for (a, b, r1, r2, p) in &cases {
            verify_consistency(*a, *b, r1, r2, p).unwrap();
        }
    });
}
