//! STANAG 4774-shaped XML labels.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_seal::fuzzing::label_xml(data));
