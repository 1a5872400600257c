use gsomia_core::profile::Builder;
use gsomia_core::{Registry, Source, shipped::AGREEMENTS};
use jiff::Timestamp;

pub fn reg() -> Registry {
    gsomia_core::shipped().expect("shipped profiles compile")
}

pub fn t(s: &str) -> Timestamp {
    gsomia_core::time::parse_instant(s).expect(s)
}

pub fn shipped_text(name: &str) -> String {
    AGREEMENTS
        .iter()
        .find(|(n, _)| n.ends_with(name))
        .map(|(_, text)| (*text).to_owned())
        .expect(name)
}

/// The shipped registry with one agreement replaced by `text`.
pub fn with_agreement(text: String) -> Result<Registry, gsomia_core::ProfileErrors> {
    let mut b: Builder = gsomia_core::shipped::builder();
    b.agreement(Source {
        name: "test.toml".into(),
        text,
    });
    b.build()
}

/// jp-kr-2016 with its events replaced by `events` (TOML `[[event]]` tables).
pub fn jp_kr_with_events(events: &str) -> Registry {
    let text = shipped_text("jp-kr-2016.toml");
    let cut = text.find("[[event]]").expect("events");
    with_agreement(format!("{}{}", &text[..cut], events)).expect("compiles")
}
