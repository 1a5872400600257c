//! Reasons: a sentence for people and the provisions it applies. The
//! bottom of the engine's explanations ([`crate::explain`] builds them);
//! everything that records or returns a reason uses these types.

use std::fmt;

/// A provision cited by a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Citation {
    /// A numbered provision of an agreement.
    Article {
        /// The agreement's id.
        agreement: String,
        /// The provision's id (`art 21(3)`).
        rule: String,
    },
    /// A rule of GSOMIA.md §7, by number.
    System(u8),
    /// The deny-by-default principle.
    DenyByDefault,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Citation::Article { agreement, rule } => write!(f, "{agreement} {rule}"),
            Citation::System(n) => write!(f, "rule {n}"),
            Citation::DenyByDefault => f.write_str("deny by default"),
        }
    }
}

/// One reason: a sentence and the provisions it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What happened, for people.
    pub text: String,
    /// The provisions applied.
    pub cites: Vec<Citation>,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if !self.cites.is_empty() {
            let cites: Vec<String> = self.cites.iter().map(ToString::to_string).collect();
            write!(f, " ({})", cites.join("; "))?;
        }
        Ok(())
    }
}

/// Reasons as text, each with its citations (the form output shows them in).
pub fn texts(reasons: &[Reason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}
