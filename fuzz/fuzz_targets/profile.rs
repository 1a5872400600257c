//! Agreement profiles (TOML) from a user or a partner.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_core::fuzzing::agreement_profile(data));
