//! Messages from a partner's peer connection: envelopes, agreement events, consents, revocations.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gsomia_seal::fuzzing::peer_message(data));
