//! Reading files with a bound: every file a node or the `gsomia` command
//! reads (profiles, consents, bundles, keys, labels, items, entries) is read
//! up to a size, so an endless input (`/dev/zero`, a pipe that never closes)
//! ends in an error instead of filling memory.

use std::io::{BufRead, Read};
use std::path::Path;

/// The most a text file (a profile, a consent, a bundle, a key, a label) may hold.
pub const TEXT_LIMIT: u64 = 1024 * 1024;
/// The longest line a line-by-line input may have.
pub const LINE_LIMIT: u64 = 64 * 1024;

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("larger than {limit} bytes"),
    )
}

/// Up to `limit` bytes of `reader`; more is an error.
pub fn read_limited(reader: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

/// The bytes of the file at `path`, at most `limit` of them.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_limited(std::fs::File::open(path)?, limit)
}

/// The text of the file at `path` (UTF-8), at most [`TEXT_LIMIT`] bytes.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, TEXT_LIMIT)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The next line of `reader` (without its end), at most [`LINE_LIMIT`]
/// bytes; `None` at the end of the input.
pub fn next_line(reader: &mut impl BufRead) -> Option<std::io::Result<String>> {
    let mut buf = Vec::new();
    match reader
        .by_ref()
        .take(LINE_LIMIT.saturating_add(1))
        .read_until(b'\n', &mut buf)
    {
        Ok(0) => None,
        Ok(_) => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            } else if buf.len() as u64 > LINE_LIMIT {
                return Some(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a line longer than {LINE_LIMIT} bytes"),
                )));
            }
            Some(
                String::from_utf8(buf)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            )
        }
        Err(e) => Some(Err(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_input_ends_in_an_error() {
        let zeros = std::io::repeat(0);
        let e = read_limited(zeros, 1000).unwrap_err();
        assert!(e.to_string().contains("larger than 1000 bytes"));
        let mut endless = std::io::BufReader::new(std::io::repeat(b'x'));
        assert!(next_line(&mut endless).unwrap().is_err());
        let mut two = std::io::Cursor::new(b"a\r\nb".to_vec());
        assert_eq!(next_line(&mut two).unwrap().unwrap(), "a");
        assert_eq!(next_line(&mut two).unwrap().unwrap(), "b");
        assert!(next_line(&mut two).is_none());
    }
}
