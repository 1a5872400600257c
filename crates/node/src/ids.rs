//! Fresh ids and the operating system's randomness.

use jiff::Timestamp;

/// The operating system could not give randomness.
#[derive(Debug, thiserror::Error)]
#[error("no secure randomness: {0}")]
pub struct EntropyError(String);

/// 32 bytes from the operating system.
pub fn entropy() -> Result<[u8; 32], EntropyError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| EntropyError(e.to_string()))?;
    Ok(b)
}

/// A fresh id: the prefix, then 48 bits of the instant `at` (milliseconds
/// since the epoch) and 80 random bits, in hex. Ids made one after another
/// sort one after another, so the database appends them at the end of its
/// indexes rather than rewriting a random page of them for each one; the
/// random part keeps them unique and unguessable.
pub fn new_id(prefix: &str, at: Timestamp) -> Result<String, EntropyError> {
    let b = entropy()?;
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0) & 0xffff_ffff_ffff;
    let random: String = b.iter().take(10).map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{ms:012x}{random}", prefix.to_ascii_lowercase()))
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
