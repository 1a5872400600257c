//! National classification policies and the topic taxonomy.

use jiff::tz::TimeZone;

use crate::ids::{PartyId, TopicId, TopicRef, TopicSet};

/// One classification level of a national policy.
#[derive(Debug, Clone)]
pub struct Level {
    /// The level's name in the national language (`極秘`, `군사II급비밀`, `SECRET`).
    pub native: String,
    /// The name in Latin letters (`gokuhi`).
    pub romanization: String,
    /// An English gloss (`SECRET`).
    pub english: String,
    /// Order within the policy: a clearance reaches every level of equal or lower rank.
    pub rank: u16,
    /// Whether the level marks classified information at all (false for unclassified grades).
    pub classified: bool,
    /// Other spellings accepted on input.
    pub aliases: Vec<String>,
    /// A remark (for example, a fact that could not be verified).
    pub note: Option<String>,
}

/// A party's national classification policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) party: PartyId,
    pub(crate) name: String,
    pub(crate) zone_name: String,
    pub(crate) zone: TimeZone,
    pub(crate) levels: Vec<Level>,
    /// Normalised spelling → level index, sorted by spelling.
    pub(crate) lookup: Vec<(String, u16)>,
}

impl Policy {
    /// The party whose policy this is.
    pub fn party(&self) -> &PartyId {
        &self.party
    }
    /// The policy's title.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The party's civil time zone (for dates such as a clearance's last day).
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
    /// The zone's IANA name.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
    /// Every level, in the order the profile lists them.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }
    /// The index of the level spelled `name` (native, romanization or alias;
    /// Roman numerals `Ⅱ` and `II`, full-width letters and spacing are equivalent).
    pub fn find_level(&self, name: &str) -> Option<u16> {
        let key = normalize_level_name(name);
        self.lookup
            .binary_search_by(|(k, _)| k.as_str().cmp(key.as_str()))
            .ok()
            .and_then(|i| self.lookup.get(i))
            .map(|(_, l)| *l)
    }
    /// The native names of all levels, for error messages.
    pub fn level_names(&self) -> Vec<String> {
        self.levels.iter().map(|l| l.native.clone()).collect()
    }
}

/// Folds the spellings users type into one key: trims and drops spaces,
/// turns full-width ASCII and the Roman numeral characters `Ⅰ..Ⅻ` into plain
/// letters, and upper-cases ASCII.
pub fn normalize_level_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        let code = u32::from(c);
        match c {
            _ if c.is_whitespace() || c == '-' || c == '_' || c == '・' => {}
            // Full-width ASCII block.
            '\u{FF01}'..='\u{FF5E}' => {
                if let Some(ascii) = char::from_u32(code - 0xFEE0) {
                    out.push(ascii.to_ascii_uppercase());
                }
            }
            // Roman numerals, upper and lower case forms.
            '\u{2160}'..='\u{216B}' | '\u{2170}'..='\u{217B}' => {
                let n = if code >= 0x2170 {
                    code - 0x2170
                } else {
                    code - 0x2160
                };
                out.push_str(ROMAN.get(n as usize).copied().unwrap_or(""));
            }
            _ => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

/// One topic of the taxonomy.
#[derive(Debug, Clone)]
pub struct Topic {
    /// Dotted id (`dprk.missile`).
    pub id: TopicId,
    /// A human title.
    pub title: String,
    /// The parent topic (`dprk` for `dprk.missile`).
    pub parent: Option<TopicRef>,
}

/// The topic taxonomy: dotted ids, each with its parent present.
#[derive(Debug, Clone, Default)]
pub struct Topics {
    pub(crate) list: Vec<Topic>,
    /// For each topic, itself and all its descendants.
    pub(crate) subtree: Vec<TopicSet>,
}

impl Topics {
    /// Every topic in taxonomy order.
    pub fn list(&self) -> &[Topic] {
        &self.list
    }
    /// Resolves a dotted id.
    pub fn find(&self, id: &str) -> Option<TopicRef> {
        let id = id.trim();
        self.list
            .iter()
            .position(|t| t.id.as_str() == id)
            .and_then(|i| u16::try_from(i).ok())
            .map(TopicRef)
    }
    /// The topic's record.
    pub fn topic(&self, t: TopicRef) -> Option<&Topic> {
        self.list.get(usize::from(t.0))
    }
    /// The topic's dotted id, or `?` for a reference from another registry.
    pub fn name(&self, t: TopicRef) -> &str {
        self.topic(t).map_or("?", |t| t.id.as_str())
    }
    /// A topic together with all its descendants.
    pub fn subtree(&self, t: TopicRef) -> TopicSet {
        self.subtree
            .get(usize::from(t.0))
            .copied()
            .unwrap_or_default()
    }
    /// The union of the subtrees of `roots`.
    pub fn expand(&self, roots: &[TopicRef]) -> TopicSet {
        roots
            .iter()
            .fold(TopicSet::EMPTY, |acc, t| acc.union(&self.subtree(*t)))
    }
    /// All topics.
    pub fn all(&self) -> TopicSet {
        (0..self.list.len())
            .filter_map(|i| u16::try_from(i).ok())
            .map(TopicRef)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roman_numerals_full_width_and_spacing_fold_together() {
        assert_eq!(normalize_level_name("군사Ⅱ급비밀"), "군사II급비밀");
        assert_eq!(normalize_level_name(" 군사 II급 비밀 "), "군사II급비밀");
        assert_eq!(normalize_level_name("군사ⅲ급비밀"), "군사III급비밀");
        assert_eq!(normalize_level_name("ＳＥＣＲＥＴ"), "SECRET");
        assert_eq!(normalize_level_name("top secret"), "TOPSECRET");
        assert_ne!(
            normalize_level_name("군사I급비밀"),
            normalize_level_name("군사II급비밀")
        );
    }
}
