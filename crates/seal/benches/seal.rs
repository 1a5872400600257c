//! Seal and open against the primitives they are made of, in the same run.
//!
//! Run: `cargo bench -p gsomia-seal --bench seal`. For each size, the
//! primitives' sum for sealing is `ed25519_sign + sha384 + hpke_seal` and for
//! opening `ed25519_verify + sha384 + hpke_open` (HPKE = X-Wing KEM, HKDF,
//! AES-256-GCM over the content).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use divan::{Bencher, black_box};
use gsomia_seal::item::{RecipientSecret, WireLabel, open, seal};
use gsomia_seal::{Context, SecretKey};
use sha2::{Digest, Sha384};

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [1024, 1 << 20];

fn label() -> WireLabel {
    WireLabel {
        policy: "KOR".into(),
        level: "군사II급비밀".into(),
        originator: "KOR".into(),
        created_at: (1_700_000_000, 0),
        topics: vec!["dprk.missile".into()],
        rel_to: Some(vec!["JPN".into(), "USA".into()]),
        informative: vec![],
    }
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn seal_item(bencher: Bencher, n: usize) {
    let (k, r) = (
        SecretKey::from_seed(&[1; 32]),
        RecipientSecret::from_seed(&[2; 32]),
    );
    let (l, content, pk) = (label(), vec![7u8; n], r.public());
    bencher.bench(|| seal(&l, black_box(&content), "KOR", &k, "JPN", &pk, [5; 32]).unwrap());
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn open_item(bencher: Bencher, n: usize) {
    let (k, r) = (
        SecretKey::from_seed(&[1; 32]),
        RecipientSecret::from_seed(&[2; 32]),
    );
    let item = seal(
        &label(),
        &vec![7u8; n],
        "KOR",
        &k,
        "JPN",
        &r.public(),
        [5; 32],
    )
    .unwrap();
    let pk = k.public();
    bencher.bench(|| open(black_box(&item), &r, Some(("KOR", &pk))).unwrap());
}

#[divan::bench(sample_count = 20)]
fn ed25519_sign(bencher: Bencher) {
    let k = SecretKey::from_seed(&[1; 32]);
    let msg = [3u8; 300];
    bencher.bench(|| k.sign(Context::ItemBinding, black_box(&msg)));
}

#[divan::bench(sample_count = 20)]
fn ed25519_verify(bencher: Bencher) {
    let k = SecretKey::from_seed(&[1; 32]);
    let msg = [3u8; 300];
    let sig = k.sign(Context::ItemBinding, &msg);
    let pk = k.public();
    bencher.bench(|| {
        pk.verify(Context::ItemBinding, black_box(&msg), &sig)
            .unwrap()
    });
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn sha384(bencher: Bencher, n: usize) {
    let content = vec![7u8; n];
    bencher.bench(|| Sha384::digest(black_box(&content)));
}

use hpke::aead::AesGcm256 as A;
use hpke::kdf::HkdfSha256 as K;
use hpke::kem::XWing as X;

fn recipient() -> (
    <hpke::kem::XWing as hpke::Kem>::PrivateKey,
    <hpke::kem::XWing as hpke::Kem>::PublicKey,
) {
    <hpke::kem::XWing as hpke::Kem>::derive_keypair(&[2; 32])
}

struct FixedRng(u64);
impl hpke::rand_core::TryRng for FixedRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}
impl hpke::rand_core::TryCryptoRng for FixedRng {}

#[divan::bench(args = SIZES, sample_count = 20)]
fn hpke_seal(bencher: Bencher, n: usize) {
    let (_, pk) = recipient();
    let content = vec![7u8; n];
    let mut rng = FixedRng(1);
    bencher.bench_local(|| {
        hpke::single_shot_seal_with_rng::<A, K, X>(
            &hpke::OpModeS::Base,
            &pk,
            b"i",
            black_box(&content),
            b"aad",
            &mut rng,
        )
        .unwrap()
    });
}

#[divan::bench(args = SIZES, sample_count = 20)]
fn hpke_open(bencher: Bencher, n: usize) {
    let (sk, pk) = recipient();
    let mut rng = FixedRng(1);
    let (enc, ct) = hpke::single_shot_seal_with_rng::<A, K, X>(
        &hpke::OpModeS::Base,
        &pk,
        b"i",
        &vec![7u8; n],
        b"aad",
        &mut rng,
    )
    .unwrap();
    bencher.bench(|| {
        hpke::single_shot_open::<A, K, X>(
            &hpke::OpModeR::Base,
            &sk,
            &enc,
            b"i",
            black_box(&ct),
            b"aad",
        )
        .unwrap()
    });
}

/// A node's check of an item it stored, without the store: parse the
/// sealed header and take the binding id, then the custody tag over the
/// row's facts (compare `ed25519_verify`, in the same run).
#[divan::bench(args = SIZES, sample_count = 20)]
fn custody_check_item(bencher: Bencher, n: usize) {
    use gsomia_seal::canon::Writer;
    use gsomia_seal::custody::CustodyKey;
    let (k, r) = (
        SecretKey::from_seed(&[1; 32]),
        RecipientSecret::from_seed(&[2; 32]),
    );
    let item = seal(
        &label(),
        &vec![7u8; n],
        "KOR",
        &k,
        "JPN",
        &r.public(),
        [5; 32],
    )
    .unwrap();
    let key = CustodyKey::derive(&k);
    let fields = |binding: &[u8; 32]| {
        let mut w = Writer::tagged("gsomia/v1/custody/item");
        w.str("jpn-0123456789abcdef0123456789abcdef")
            .str("kor-0123456789abcdef0123456789abcdef")
            .opt_str(Some("KOR"))
            .str("2026-11-29T22:00:00.123456789Z")
            .raw(binding)
            .u8(1)
            .bytes(&label().to_bytes());
        w
    };
    let (_, binding) = gsomia_seal::item::parse(&item).unwrap();
    let tag = key.tag(&fields(&binding));
    bencher.bench(|| {
        let (header, binding) = gsomia_seal::item::parse(black_box(&item)).unwrap();
        assert!(key.holds(&fields(&binding), &tag));
        header
    });
}
