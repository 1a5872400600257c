//! Sealed items from a partner: parse, verify, decrypt.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_seal::fuzzing::sealed_item(data));
