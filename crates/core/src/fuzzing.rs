//! Entry points for fuzzers (`fuzz/`) and for the tests that replay their
//! corpora; built only with the `fuzzing` feature. Each takes arbitrary
//! bytes and must never panic or hang.

/// Fuzzing entry point (shared by `fuzz/` and the corpus replay test): an
/// agreement profile of arbitrary bytes, over the shipped profiles, compiles
/// or is refused with located errors; it never panics.
pub fn agreement_profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut b = crate::shipped::builder();
    b.agreement(crate::profile::Source {
        name: "fuzz".into(),
        text: text.to_owned(),
    });
    if let Err(errors) = b.build() {
        assert!(!errors.0.is_empty(), "refused without a reason");
    }
}
