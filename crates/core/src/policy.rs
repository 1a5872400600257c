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
    /// How items of this level are handled at this party (copies, destruction).
    pub handling: Handling,
    /// The banner colour (`#rrggbb`) the console marks this level with.
    pub colour: Option<String>,
}

/// What the holder's policy asks of contractors (Art 16 leaves the
/// periods to national policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractorRule {
    /// Days an inspection stays good (the periodic inspection's period).
    pub inspection_days: u32,
    /// Days a security briefing stays good.
    pub briefing_days: u32,
}

impl Default for ContractorRule {
    fn default() -> Self {
        ContractorRule {
            inspection_days: 365,
            briefing_days: 365,
        }
    }
}

/// What a party's policy sets for handling items of one level (rules 12, 13;
/// Arts 13–14 leave these to national policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handling {
    /// The most copies of one item a holder may make (`None`: no cap).
    pub max_copies: Option<u32>,
    /// What a destruction needs.
    pub destruction: DestructionRule,
}

/// What destroying an item of a level needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestructionRule {
    /// How many witnesses besides the person destroying (0: none).
    pub witnesses: u32,
    /// The level (index in this policy) a witness's clearance must reach
    /// (`None`: the item's own level).
    pub witness_level: Option<u16>,
    /// How many days the signed destruction record is kept (0: the policy
    /// asks for no record; the ledger keeps its entry regardless).
    pub record_days: u32,
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
    /// What the party asks of contractor facilities (`[contractors]`).
    pub(crate) contractors: ContractorRule,
}

impl Policy {
    /// The party whose policy this is.
    pub fn party(&self) -> &PartyId {
        &self.party
    }
    /// What the party asks of contractor facilities (Art 16).
    pub fn contractors(&self) -> ContractorRule {
        self.contractors
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

/// Folds the spellings users type into one key.
///
/// Width and spacing variants are one spelling: full-width ASCII becomes
/// ASCII, ASCII letters are upper-cased, and spaces, `-`, `_` and `・` are
/// dropped (after they have separated tokens). Numerals are one spelling
/// whatever their script — `II`, `Ⅱ`, `ⅱ`, `ＩＩ` and `2` all fold to the
/// number 2 — but only real numerals: a run of Latin letters standing apart
/// from other Latin letters that is a well-formed Roman numeral up to XII,
/// a single Roman numeral character, or a run of digits. Anything that
/// merely looks like one (`ⅠⅠ`, `IⅠ`, `II-I`, `11`) keeps its own spelling
/// and so names no level.
pub fn normalize_level_name(name: &str) -> String {
    /// A char after width folding, and whether it separates tokens.
    fn fold(c: char) -> Option<char> {
        match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
            '\u{3000}' => Some(' '),
            _ => Some(c),
        }
    }
    fn separator(c: char) -> bool {
        c.is_whitespace() || c == '-' || c == '_' || c == '・'
    }
    fn unicode_roman(c: char) -> Option<usize> {
        let code = u32::from(c);
        match c {
            '\u{2160}'..='\u{216B}' => Some((code - 0x2160) as usize + 1),
            '\u{2170}'..='\u{217B}' => Some((code - 0x2170) as usize + 1),
            _ => None,
        }
    }
    fn latin(c: char) -> bool {
        c.is_ascii_alphabetic() || unicode_roman(c).is_some()
    }
    let chars: Vec<char> = name.trim().chars().filter_map(fold).collect();
    let mut out = String::with_capacity(name.len() + 4);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if separator(c) {
            i += 1;
            continue;
        }
        // A token: a run of Latin letters and Roman numeral characters, a
        // run of digits, or one other character.
        let class = |c: char| {
            if latin(c) {
                1
            } else if c.is_ascii_digit() {
                2
            } else {
                0
            }
        };
        let k = class(c);
        let mut j = i + 1;
        if k != 0 {
            while chars.get(j).is_some_and(|&d| class(d) == k) {
                j += 1;
            }
        }
        let run: &[char] = chars.get(i..j).unwrap_or_default();
        let number = match (k, run) {
            (1, [one]) if unicode_roman(*one).is_some() => unicode_roman(*one),
            (1, _) if run.iter().all(char::is_ascii_alphabetic) => {
                let upper: String = run.iter().map(char::to_ascii_uppercase).collect();
                ROMAN.iter().position(|r| *r == upper).map(|p| p + 1)
            }
            (2, _) => run
                .iter()
                .collect::<String>()
                .trim_start_matches('0')
                .parse()
                .ok(),
            _ => None,
        };
        match number {
            Some(n) => out.push_str(&format!("#{n}#")),
            None => out.extend(run.iter().map(char::to_ascii_uppercase)),
        }
        i = j;
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

    fn same(a: &str, b: &str) -> bool {
        normalize_level_name(a) == normalize_level_name(b)
    }

    #[test]
    fn roman_numerals_full_width_and_spacing_fold_together() {
        assert!(same("군사Ⅱ급비밀", "군사II급비밀"));
        assert!(same(" 군사 II급 비밀 ", "군사II급비밀"));
        assert!(same("군사ⅲ급비밀", "군사III급비밀"));
        assert!(same("ＳＥＣＲＥＴ", "SECRET"));
        assert_eq!(normalize_level_name("ＳＥＣＲＥＴ"), "SECRET");
        assert_eq!(normalize_level_name("top secret"), "TOPSECRET");
        assert!(!same("군사I급비밀", "군사II급비밀"));
        // Digits, full-width letters and lower case are the same numeral.
        for v in [
            "군사2급비밀",
            "군사ＩＩ급비밀",
            "군사ⅱ급비밀",
            "군사ii급비밀",
            "군사-II-급비밀",
        ] {
            assert!(same(v, "군사II급비밀"), "{v}");
        }
        // A numeral inside a Latin word is no numeral: CONFIDENTIAL keeps its I.
        assert!(!same("CONFIDENTIAL", "CONF1DENT1AL"));
    }

    #[test]
    fn what_only_looks_like_a_numeral_is_not_folded_into_one() {
        for v in [
            "군사ⅠⅠ급비밀",   // two ONE characters, not TWO
            "군사IⅠ급비밀",   // mixed scripts
            "군사II-I급비밀", // two numerals, not three
            "군사11급비밀",
            "군사IIII급비밀", // not a well-formed numeral
            "군사2급비밀x",
        ] {
            assert!(!same(v, "군사II급비밀"), "{v}");
            assert!(!same(v, "군사III급비밀"), "{v}");
        }
    }
}
