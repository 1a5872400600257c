//! The canonical encoding.
//!
//! Rules, fixed for all time for version 1 (known-answer tests pin them):
//! - integers are fixed-width big-endian (`u8`, `u32`, `u64`, `i64`);
//! - byte strings and UTF-8 strings are a `u32` length then the bytes;
//! - an optional value is a `u8` 0 (absent) or 1 (present) then the value;
//! - a list is a `u32` count then the items;
//! - every signed object starts with its own type tag (a string).
//!
//! There is exactly one encoding of a value, so equal values hash and sign
//! equally. The reader refuses truncation, trailing bytes, lengths beyond a
//! limit, bad UTF-8 and option bytes other than 0 or 1.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A length beyond what this reader accepts.
    #[error("length {len} at byte {at} exceeds the limit {limit}")]
    TooLong {
        /// Where.
        at: usize,
        /// The length read.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// Bytes left after the value.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    /// An option byte that is neither 0 nor 1, or an unknown variant.
    #[error("invalid tag {tag} at byte {at}")]
    Tag {
        /// Where.
        at: usize,
        /// The byte read.
        tag: u8,
    },
    /// A type tag other than the one expected.
    #[error("expected `{expected}`, found another kind of object")]
    Kind {
        /// The tag expected.
        expected: &'static str,
    },
}

/// Builds a canonical encoding.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// A writer that starts with a type tag.
    pub fn tagged(tag: &str) -> Self {
        let mut w = Self::new();
        w.str(tag);
        w
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends an `i64`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a length-prefixed byte string. Lengths above `u32::MAX` are a
    /// caller bug; they are clamped, which the reader then refuses.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends fixed-size bytes without a length (hashes, keys).
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Appends a string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Appends an optional string.
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(s) => self.u8(1).str(s),
            None => self.u8(0),
        }
    }
    /// Appends a list count.
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// The encoding.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    /// The encoding so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads a canonical encoding, refusing anything malformed.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limit: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` accepting byte strings up to `limit` bytes.
    pub fn new(buf: &'a [u8], limit: usize) -> Self {
        Reader { buf, pos: 0, limit }
    }
    /// The current position.
    pub fn position(&self) -> usize {
        self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| DecodeError::Truncated(at))
    }
    /// Reads a byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Reads an `i64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// Reads fixed-size bytes.
    pub fn raw<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.array()
    }
    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let len = self.u32()?;
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        if n > self.limit {
            return Err(DecodeError::TooLong {
                at,
                len: u64::from(len),
                limit: self.limit,
            });
        }
        self.take(n)
    }
    /// Reads a string.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Utf8(at))
    }
    /// Reads an optional string.
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            tag => Err(DecodeError::Tag { at, tag }),
        }
    }
    /// Reads a list count, refusing counts that cannot fit the remaining input
    /// (each item takes at least `min_item` bytes).
    pub fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        let remaining = self.buf.len().saturating_sub(self.pos);
        if n.saturating_mul(min_item.max(1)) > remaining {
            return Err(DecodeError::TooLong {
                at,
                len: n as u64,
                limit: remaining,
            });
        }
        Ok(n)
    }
    /// Checks the type tag.
    pub fn expect_tag(&mut self, tag: &'static str) -> Result<(), DecodeError> {
        if self.str()? == tag {
            Ok(())
        } else {
            Err(DecodeError::Kind { expected: tag })
        }
    }
    /// Refuses trailing bytes.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_pinned() {
        let mut w = Writer::tagged("t");
        w.u8(7)
            .u32(1)
            .u64(2)
            .i64(-1)
            .str("極")
            .opt_str(None)
            .opt_str(Some("a"));
        let hex: String = w.finish().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0000000174\
             07\
             00000001\
             0000000000000002\
             ffffffffffffffff\
             00000003e6a5b5\
             00\
             010000000161"
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        let mut w = Writer::tagged("t");
        w.str("abc");
        let bytes = w.finish();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut], 1024);
            assert!(
                r.expect_tag("t")
                    .and_then(|()| r.str().map(|_| ()))
                    .is_err(),
                "cut {cut}"
            );
        }
        let mut r = Reader::new(&bytes, 2);
        r.expect_tag("t").unwrap();
        assert!(matches!(r.str(), Err(DecodeError::TooLong { .. })));
        let mut extra = bytes.clone();
        extra.push(0);
        let mut r = Reader::new(&extra, 1024);
        r.expect_tag("t").unwrap();
        r.str().unwrap();
        assert_eq!(r.finish(), Err(DecodeError::Trailing(1)));
        let mut r = Reader::new(&[2], 1024);
        assert!(matches!(r.opt_str(), Err(DecodeError::Tag { tag: 2, .. })));
        let mut r = Reader::new(&bytes, 1024);
        assert_eq!(r.expect_tag("u"), Err(DecodeError::Kind { expected: "u" }));
    }
}
