//! Signed-note checkpoints and cosignatures from a partner.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_ledger::fuzzing::checkpoint_note(data));
