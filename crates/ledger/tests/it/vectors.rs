//! RFC 6962 known answers (tests/data/rfc6962.json, public transparency-dev data).

use gsomia_ledger::merkle::{Hash, Tree, verify_consistency, verify_inclusion};
use serde_json::Value;

fn data() -> Value {
    serde_json::from_str(include_str!("../data/rfc6962.json")).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn tree() -> Tree {
    let mut t = Tree::new();
    for leaf in data()["leaves_hex"].as_array().unwrap() {
        t.push(&unhex(leaf.as_str().unwrap()));
    }
    t
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn roots_for_sizes_0_to_8() {
    let t = tree();
    let d = data();
    let roots = d["roots_by_size_hex"].as_array().unwrap();
    assert_eq!(roots.len(), 9);
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(
            t.root_at(size as u64).unwrap().to_hex(),
            root.as_str().unwrap(),
            "size {size}"
        );
    }
}

#[test]
fn inclusion_proofs_generate_and_verify() {
    let t = tree();
    for p in data()["inclusion_proofs"].as_array().unwrap() {
        let (index, size) = (
            p["leaf_index"].as_u64().unwrap(),
            p["tree_size"].as_u64().unwrap(),
        );
        let expected = hashes(&p["proof_hex"]);
        assert_eq!(
            t.inclusion_proof(index, size).unwrap(),
            expected,
            "leaf {index} size {size}"
        );
        let root = Hash::from_hex(p["root_hex"].as_str().unwrap()).unwrap();
        verify_inclusion(&t.leaf(index).unwrap(), index, size, &expected, &root).unwrap();
        let mut bad = expected.clone();
        if let Some(h) = bad.first_mut() {
            h.0[0] ^= 1;
            assert!(verify_inclusion(&t.leaf(index).unwrap(), index, size, &bad, &root).is_err());
        }
    }
}

#[test]
fn consistency_proofs_generate_and_verify() {
    let t = tree();
    for p in data()["consistency_proofs"].as_array().unwrap() {
        let (a, b) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        let expected = hashes(&p["proof_hex"]);
        assert_eq!(t.consistency_proof(a, b).unwrap(), expected, "{a} -> {b}");
        let r1 = Hash::from_hex(p["root1_hex"].as_str().unwrap()).unwrap();
        let r2 = Hash::from_hex(p["root2_hex"].as_str().unwrap()).unwrap();
        verify_consistency(a, b, &r1, &r2, &expected).unwrap();
        assert!(verify_consistency(a, b, &r2, &r1, &expected).is_err() || r1 == r2);
    }
}
