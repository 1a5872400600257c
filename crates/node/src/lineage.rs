//! What a node records of an item's life here, beyond what its sealed bytes
//! say: what it was made from (a copy, a translation, a derived document:
//! [`Lineage`]) and how it left custody (destroyed or returned:
//! [`Disposal`]). Both are canonical bytes kept in the item's row and
//! covered by its custody tag, so a decision reads them as facts the node
//! recorded, never as columns anyone could edit (rules 11–13).

use gsomia_seal::canon::{DecodeError, Reader, Writer};

const LINEAGE_TAG: &str = "gsomia/v1/lineage";
const DISPOSAL_TAG: &str = "gsomia/v1/disposal";
/// The longest field a record holds.
const LIMIT: usize = 64 * 1024;

/// How an item was made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// A copy of its one source: "copy `number` of `of`".
    Copy {
        /// Its number among the copies of the source.
        number: u32,
        /// How many copies of the source there were when it was made.
        of: u32,
    },
    /// A translation of its one source.
    Translation {
        /// The language (a BCP 47 tag such as `ko`).
        language: String,
    },
    /// A document written from its sources.
    Derived,
}

impl Made {
    /// How it is shown: `copy 2 of 3`, `translation (ko)`, `derived`.
    pub fn describe(&self) -> String {
        match self {
            Made::Copy { number, of } => format!("copy {number} of {of}"),
            Made::Translation { language } => format!("translation ({language})"),
            Made::Derived => "derived".into(),
        }
    }

    /// The name shown and recorded.
    pub fn kind(&self) -> &'static str {
        match self {
            Made::Copy { .. } => "copy",
            Made::Translation { .. } => "translation",
            Made::Derived => "derived",
        }
    }
}

/// One item something was made from, as it stood when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its id at this node.
    pub item: String,
    /// Its originator's id.
    pub origin_item: String,
    /// Its originator.
    pub originator: String,
    /// The originator's label (canonical bytes, as verified then).
    pub label: Vec<u8>,
    /// This party's equivalent label (canonical bytes), for a received source.
    pub equivalent: Option<Vec<u8>>,
}

/// What an item was made from, who made it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// How.
    pub made: Made,
    /// From what (one source for a copy or a translation).
    pub sources: Vec<Source>,
    /// The person who made it.
    pub by: String,
    /// Why (the official need).
    pub reason: String,
}

impl Lineage {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(LINEAGE_TAG);
        match &self.made {
            Made::Copy { number, of } => w.u8(1).u32(*number).u32(*of),
            Made::Translation { language } => w.u8(2).str(language),
            Made::Derived => w.u8(3),
        };
        w.count(self.sources.len());
        for s in &self.sources {
            w.str(&s.item)
                .str(&s.origin_item)
                .str(&s.originator)
                .bytes(&s.label);
            match &s.equivalent {
                Some(e) => w.u8(1).bytes(e),
                None => w.u8(0),
            };
        }
        w.str(&self.by).str(&self.reason);
        w.finish()
    }

    /// Decodes the canonical bytes, refusing anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Lineage, DecodeError> {
        let mut r = Reader::new(bytes, LIMIT);
        r.expect_tag(LINEAGE_TAG)?;
        let at = r.position();
        let made = match r.u8()? {
            1 => Made::Copy {
                number: r.u32()?,
                of: r.u32()?,
            },
            2 => Made::Translation {
                language: r.str()?.to_owned(),
            },
            3 => Made::Derived,
            tag => return Err(DecodeError::Tag { at, tag }),
        };
        let n = r.count(17)?;
        let mut sources = Vec::with_capacity(n);
        for _ in 0..n {
            let item = r.str()?.to_owned();
            let origin_item = r.str()?.to_owned();
            let originator = r.str()?.to_owned();
            let label = r.bytes()?.to_vec();
            let at = r.position();
            let equivalent = match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?.to_vec()),
                tag => return Err(DecodeError::Tag { at, tag }),
            };
            sources.push(Source {
                item,
                origin_item,
                originator,
                label,
                equivalent,
            });
        }
        let by = r.str()?.to_owned();
        let reason = r.str()?.to_owned();
        r.finish()?;
        Ok(Lineage {
            made,
            sources,
            by,
            reason,
        })
    }
}

/// How an item left custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposal {
    /// Destroyed or returned.
    pub how: gsomia_core::holding::Disposal,
    /// When (RFC 3339).
    pub at: String,
    /// Who destroyed it, or asked for its return.
    pub by: String,
    /// How it was destroyed (or `returned to its originator`).
    pub method: String,
    /// The witnesses (person ids).
    pub witnesses: Vec<String>,
    /// Until when the policy keeps the record (RFC 3339), if it asks for one.
    pub keep_until: Option<String>,
    /// The transfer that carried a return.
    pub transfer: Option<String>,
    /// Why.
    pub reason: String,
}

impl Disposal {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::tagged(DISPOSAL_TAG);
        w.u8(match self.how {
            gsomia_core::holding::Disposal::Destroyed => 1,
            gsomia_core::holding::Disposal::Returned => 2,
        })
        .str(&self.at)
        .str(&self.by)
        .str(&self.method)
        .count(self.witnesses.len());
        for p in &self.witnesses {
            w.str(p);
        }
        w.opt_str(self.keep_until.as_deref())
            .opt_str(self.transfer.as_deref())
            .str(&self.reason);
        w.finish()
    }

    /// Decodes the canonical bytes, refusing anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Disposal, DecodeError> {
        let mut r = Reader::new(bytes, LIMIT);
        r.expect_tag(DISPOSAL_TAG)?;
        let at = r.position();
        let how = match r.u8()? {
            1 => gsomia_core::holding::Disposal::Destroyed,
            2 => gsomia_core::holding::Disposal::Returned,
            tag => return Err(DecodeError::Tag { at, tag }),
        };
        let when = r.str()?.to_owned();
        let by = r.str()?.to_owned();
        let method = r.str()?.to_owned();
        let n = r.count(4)?;
        let mut witnesses = Vec::with_capacity(n);
        for _ in 0..n {
            witnesses.push(r.str()?.to_owned());
        }
        let keep_until = r.opt_str()?.map(str::to_owned);
        let transfer = r.opt_str()?.map(str::to_owned);
        let reason = r.str()?.to_owned();
        r.finish()?;
        Ok(Disposal {
            how,
            at: when,
            by,
            method,
            witnesses,
            keep_until,
            transfer,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_trailing_bytes() {
        let l = Lineage {
            made: Made::Translation {
                language: "ko".into(),
            },
            sources: vec![Source {
                item: "JPN-1".into(),
                origin_item: "KOR-1".into(),
                originator: "KOR".into(),
                label: vec![1, 2, 3],
                equivalent: Some(vec![4]),
            }],
            by: "jpn-officer".into(),
            reason: "briefing".into(),
        };
        let b = l.to_bytes();
        assert_eq!(Lineage::from_bytes(&b), Ok(l));
        let mut longer = b.clone();
        longer.push(0);
        assert!(Lineage::from_bytes(&longer).is_err());
        let d = Disposal {
            how: gsomia_core::holding::Disposal::Destroyed,
            at: "2026-01-01T00:00:00Z".into(),
            by: "a".into(),
            method: "shredded".into(),
            witnesses: vec!["b".into(), "c".into()],
            keep_until: Some("2028-01-01T00:00:00Z".into()),
            transfer: None,
            reason: String::new(),
        };
        assert_eq!(Disposal::from_bytes(&d.to_bytes()), Ok(d));
        assert!(Disposal::from_bytes(&b).is_err());
    }
}
