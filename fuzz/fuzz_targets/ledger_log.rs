//! A ledger log file handed over for verification.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_ledger::fuzzing::ledger_log(data));
