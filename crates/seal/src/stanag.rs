//! The label as XML shaped like a NATO STANAG 4774 confidentiality label:
//! policy identifier, classification, categories (topics RESTRICTIVE, REL TO
//! PERMISSIVE, others INFORMATIVE), originator and creation time.
//!
//! Export and import round-trip exactly with [`WireLabel`]. The importer is
//! strict: unknown elements or attributes, repeated singletons, missing
//! fields, DTDs and entities other than the five predefined ones and
//! character references are refused; input is capped at 1 MiB.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::item::WireLabel;

/// The namespace used for the label elements.
pub const NAMESPACE: &str = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0";
/// The largest XML label accepted (bytes).
pub const MAX_XML: usize = 1 << 20;

const TOPIC_TAG: &str = "Topic";
const REL_TO_TAG: &str = "Releasable To";

/// Why an XML label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("malformed XML at byte {at}: {what}")]
    Syntax {
        /// Byte position.
        at: u64,
        /// What the parser said.
        what: String,
    },
    /// Well-formed, but not a label of the expected shape.
    #[error("not a confidentiality label: {0}")]
    Shape(String),
    /// Too large.
    #[error("label larger than {MAX_XML} bytes")]
    TooLarge,
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds and nanoseconds as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn format_time(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses exactly the form [`format_time`] writes (fraction optional).
pub fn parse_time(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.last() != Some(&b'Z')
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = match b.get(19) {
        Some(b'Z') if b.len() == 20 => 0,
        Some(b'.') => {
            let frac = s.get(20..s.len() - 1)?;
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: u32 = frac.parse().ok()?;
            v * 10u32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let (mo, d) = (u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    if !(1..=12).contains(&mo) || d == 0 || d > 31 || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some((days * 86_400 + h * 3600 + mi * 60 + se, nanos))
}

/// Writes the label as XML.
pub fn export(label: &WireLabel) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<slab:originatorConfidentialityLabel xmlns:slab=\"{NAMESPACE}\">\n"
    ));
    x.push_str("  <slab:ConfidentialityInformation>\n");
    x.push_str(&format!(
        "    <slab:PolicyIdentifier>{}</slab:PolicyIdentifier>\n",
        esc(&label.policy)
    ));
    x.push_str(&format!(
        "    <slab:Classification>{}</slab:Classification>\n",
        esc(&label.level)
    ));
    let mut category = |tag: &str, kind: &str, values: &[String]| {
        x.push_str(&format!(
            "    <slab:Category TagName=\"{}\" Type=\"{kind}\">\n",
            esc(tag)
        ));
        for v in values {
            x.push_str(&format!(
                "      <slab:GenericValue>{}</slab:GenericValue>\n",
                esc(v)
            ));
        }
        x.push_str("    </slab:Category>\n");
    };
    category(TOPIC_TAG, "RESTRICTIVE", &label.topics);
    if let Some(r) = &label.rel_to {
        category(REL_TO_TAG, "PERMISSIVE", r);
    }
    for (tag, values) in &label.informative {
        category(tag, "INFORMATIVE", values);
    }
    x.push_str("  </slab:ConfidentialityInformation>\n");
    x.push_str(&format!(
        "  <slab:OriginatorID IDType=\"Party\">{}</slab:OriginatorID>\n",
        esc(&label.originator)
    ));
    x.push_str(&format!(
        "  <slab:CreationDateTime>{}</slab:CreationDateTime>\n",
        format_time(label.created_at.0, label.created_at.1)
    ));
    x.push_str("</slab:originatorConfidentialityLabel>\n");
    x
}

#[derive(Default)]
struct Parsed {
    policy: Option<String>,
    level: Option<String>,
    originator: Option<String>,
    created: Option<String>,
    topics: Option<Vec<String>>,
    rel_to: Option<Vec<String>>,
    informative: Vec<(String, Vec<String>)>,
}

fn shape(what: impl Into<String>) -> XmlError {
    XmlError::Shape(what.into())
}

fn set(slot: &mut Option<String>, name: &str, value: String) -> Result<(), XmlError> {
    if slot.is_some() {
        return Err(shape(format!("`{name}` given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Reads an XML label.
pub fn import(xml: &str) -> Result<WireLabel, XmlError> {
    if xml.len() > MAX_XML {
        return Err(XmlError::TooLarge);
    }
    let mut r = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut p = Parsed::default();
    let mut category: Option<(String, String, Vec<String>)> = None;
    loop {
        let at = r.buffer_position();
        let ev = r.read_event().map_err(|e| XmlError::Syntax {
            at,
            what: e.to_string(),
        })?;
        match ev {
            Event::Decl(_) | Event::Comment(_) => {}
            Event::DocType(_) | Event::PI(_) | Event::CData(_) => {
                return Err(shape("doctype, processing instruction or CDATA"));
            }
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                let depth = path.len();
                let allowed = matches!(
                    (depth, name.as_str(), path.last().map(String::as_str)),
                    (0, "originatorConfidentialityLabel", None)
                        | (
                            1,
                            "ConfidentialityInformation" | "OriginatorID" | "CreationDateTime",
                            _
                        )
                        | (
                            2,
                            "PolicyIdentifier" | "Classification" | "Category",
                            Some("ConfidentialityInformation")
                        )
                        | (3, "GenericValue", Some("Category"))
                );
                if !allowed {
                    return Err(shape(format!("unexpected element `{name}`")));
                }
                for a in e.attributes() {
                    let a = a.map_err(|e| XmlError::Syntax {
                        at,
                        what: e.to_string(),
                    })?;
                    let key = a.key.local_name().as_ref().to_owned();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| XmlError::Syntax {
                            at,
                            what: e.to_string(),
                        })?
                        .into_owned();
                    match (name.as_str(), key.as_str()) {
                        ("originatorConfidentialityLabel", "slab") => {
                            if value != NAMESPACE {
                                return Err(shape(format!("namespace `{value}`")));
                            }
                        }
                        ("originatorConfidentialityLabel", "xmlns") if value == NAMESPACE => {}
                        ("OriginatorID", "IDType") => {}
                        ("Category", "TagName") => match &mut category {
                            Some(c) => c.0 = value,
                            None => category = Some((value, String::new(), Vec::new())),
                        },
                        ("Category", "Type") => match &mut category {
                            Some(c) => c.1 = value,
                            None => category = Some((String::new(), value, Vec::new())),
                        },
                        _ => {
                            return Err(shape(format!("unexpected attribute `{key}` on `{name}`")));
                        }
                    }
                }
                if name == "Category" && category.is_none() {
                    category = Some((String::new(), String::new(), Vec::new()));
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                return Err(shape(format!("empty element `{name}`")));
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) => {
                let name = g.as_ref().to_owned();
                let c = match name.as_str() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                        .ok()
                        .and_then(char::from_u32),
                    n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                text.push(c.ok_or_else(|| shape(format!("entity `&{name};`")))?);
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(shape("unbalanced end tag"));
                };
                let value = std::mem::take(&mut text);
                match name.as_str() {
                    "PolicyIdentifier" => set(&mut p.policy, &name, value)?,
                    "Classification" => set(&mut p.level, &name, value)?,
                    "OriginatorID" => set(&mut p.originator, &name, value)?,
                    "CreationDateTime" => set(&mut p.created, &name, value)?,
                    "GenericValue" => match &mut category {
                        Some(c) => c.2.push(value),
                        None => return Err(shape("value outside a category")),
                    },
                    "Category" => {
                        let Some((tag, kind, values)) = category.take() else {
                            return Err(shape("category without attributes"));
                        };
                        match (kind.as_str(), tag.as_str()) {
                            ("RESTRICTIVE", TOPIC_TAG) if p.topics.is_none() => {
                                p.topics = Some(values)
                            }
                            ("PERMISSIVE", REL_TO_TAG) if p.rel_to.is_none() => {
                                p.rel_to = Some(values)
                            }
                            ("INFORMATIVE", t) if !t.is_empty() => {
                                p.informative.push((tag, values))
                            }
                            _ => {
                                return Err(shape(format!(
                                    "category `{tag}` of type `{kind}` is not understood or repeated"
                                )));
                            }
                        }
                    }
                    _ => {
                        if !value.trim().is_empty() {
                            return Err(shape(format!("text directly inside `{name}`")));
                        }
                    }
                }
            }
            Event::Eof => break,
        }
    }
    if !path.is_empty() {
        return Err(shape("document ends inside an element"));
    }
    let need = |v: Option<String>, n: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| shape(format!("missing `{n}`")))
    };
    let created_text = need(p.created, "CreationDateTime")?;
    let created_at = parse_time(&created_text).ok_or_else(|| {
        shape(format!(
            "creation time `{created_text}` is not YYYY-MM-DDTHH:MM:SS[.f]Z"
        ))
    })?;
    let topics = p
        .topics
        .filter(|t| !t.is_empty())
        .ok_or_else(|| shape("missing the RESTRICTIVE `Topic` category"))?;
    let label = WireLabel {
        policy: need(p.policy, "PolicyIdentifier")?,
        level: need(p.level, "Classification")?,
        originator: need(p.originator, "OriginatorID")?,
        created_at,
        topics,
        rel_to: p.rel_to,
        informative: p.informative,
    };
    Ok(label.normalized())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> WireLabel {
        WireLabel {
            policy: "JPN".into(),
            level: "極秘".into(),
            originator: "JPN".into(),
            created_at: (1_574_434_800, 123),
            topics: vec!["dprk.missile".into(), "dprk.nuclear".into()],
            rel_to: Some(vec!["KOR".into(), "USA".into()]),
            informative: vec![("Handling <note>".into(), vec!["a & b".into()])],
        }
    }

    #[test]
    fn export_and_import_round_trip() {
        let xml = export(&label());
        assert!(xml.contains("<slab:Classification>極秘</slab:Classification>"));
        assert!(xml.contains("Type=\"PERMISSIVE\""));
        assert_eq!(import(&xml).unwrap(), label());
        let unmarked = WireLabel {
            rel_to: None,
            informative: vec![],
            ..label()
        };
        assert_eq!(import(&export(&unmarked)).unwrap(), unmarked);
    }

    #[test]
    fn times_round_trip_and_bad_times_are_refused() {
        for (s, n) in [
            (0i64, 0u32),
            (1_574_434_800, 999_999_999),
            (-86_401, 5),
            (4_102_444_800, 1),
        ] {
            assert_eq!(parse_time(&format_time(s, n)), Some((s, n)), "{s}");
        }
        assert_eq!(
            format_time(1_574_434_800, 0),
            "2019-11-22T15:00:00.000000000Z"
        );
        for bad in [
            "2019-02-30T00:00:00Z",
            "2019-11-22T15:00:00+09:00",
            "2019-11-22 15:00:00Z",
            "2019-11-22T24:00:00Z",
            "2019-11-22T15:00:00.Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn strange_documents_are_refused() {
        let xml = export(&label());
        for bad in [
            xml.replace("slab:Classification>", "slab:Colour>"),
            xml.replace("<slab:OriginatorID IDType=\"Party\">JPN</slab:OriginatorID>", ""),
            xml.replace("IDType=", "Evil="),
            xml.replace("RESTRICTIVE", "PERMISSIVE"),
            xml.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<!DOCTYPE x [<!ENTITY e \"x\">]>"),
            xml.replace("JPN</slab:PolicyIdentifier>", "&e;</slab:PolicyIdentifier>"),
            xml.replace("</slab:originatorConfidentialityLabel>", ""),
            xml.replace("<slab:PolicyIdentifier>JPN</slab:PolicyIdentifier>", "<slab:PolicyIdentifier>JPN</slab:PolicyIdentifier><slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>"),
            String::from("not xml"),
            String::new(),
        ] {
            assert!(import(&bad).is_err(), "{bad}");
        }
    }
}
