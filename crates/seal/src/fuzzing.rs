//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus
//! replay tests: each takes arbitrary bytes and must return without
//! panicking, whatever they are.

use crate::item::{RecipientSecret, inspect, open};
use crate::stanag;

/// A sealed item from a partner: parse, verify the binding, try to open it.
pub fn sealed_item(data: &[u8]) {
    let _ = inspect(data);
    let key = RecipientSecret::from_seed(&[2; 32]);
    let _ = open(data, &key, None);
}

/// An XML label: import, and if it parses, export and import give it back.
pub fn label_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(label) = stanag::import(text) {
        let again = stanag::import(&stanag::export(&label));
        assert_eq!(again.as_ref(), Ok(&label), "XML label does not round-trip");
    }
}

/// A message from a partner's peer connection (envelope, agreement event,
/// consent, revocation): every decoder refuses or accepts without
/// panicking, and what decodes re-encodes to a message that decodes the same.
pub fn peer_message(data: &[u8]) {
    use crate::message::{AgreementEvent, ConsentGrant, ConsentRevocation};
    let key = crate::SecretKey::from_seed(&[4; 32]);
    if let Ok((env, _, _)) = crate::transfer::Envelope::decode(data) {
        let again = crate::transfer::Envelope::decode(&env.seal(&key)).map(|x| x.0);
        assert_eq!(again.as_ref(), Ok(&env), "envelope does not round-trip");
    }
    if let Ok((bodies, _)) = crate::transfer::decode_batch(data) {
        let again = crate::transfer::seal_batch(&bodies, &key);
        let decoded = crate::transfer::decode_batch(&again).map(|(b, _)| b);
        assert_eq!(decoded, Ok(bodies), "a batch does not round-trip");
    }
    if let Ok(env) = crate::transfer::Envelope::decode_body(data) {
        let again = crate::transfer::Envelope::decode_body(&env.body());
        assert_eq!(
            again.as_ref(),
            Ok(&env),
            "an envelope body does not round-trip"
        );
    }
    if let Ok(e) = AgreementEvent::decode(data) {
        assert_eq!(AgreementEvent::decode(&e.seal(&key)).as_ref(), Ok(&e));
    }
    if let Ok(c) = ConsentGrant::decode(data) {
        assert_eq!(ConsentGrant::decode(&c.seal(&key)).as_ref(), Ok(&c));
    }
    if let Ok(w) = crate::message::WarningUpdate::decode(data) {
        let again = crate::message::WarningUpdate::decode(&w.seal(&key));
        assert_eq!(again.as_ref(), Ok(&w), "warning update does not round-trip");
    }
    if let Ok(r) = ConsentRevocation::decode(data) {
        assert_eq!(ConsentRevocation::decode(&r.seal(&key)).as_ref(), Ok(&r));
    }
}
