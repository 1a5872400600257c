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
