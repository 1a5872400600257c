//! Labels between the engine (registry references) and the wire (names).

use gsomia_core::label::Informative;
use gsomia_core::{Label, LookupError, Registry};
use gsomia_seal::item::WireLabel;

/// Why a wire label does not resolve against this party's profiles.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// Written in a policy other than the originator's.
    #[error(
        "the label is written in `{policy}`'s policy but originated by `{originator}`: only originator labels travel"
    )]
    NotOriginal {
        /// The policy named.
        policy: String,
        /// The originator named.
        originator: String,
    },
    /// An equivalent label written in another policy than this party's.
    #[error("the equivalent label is written in `{policy}`'s policy, not `{me}`'s")]
    NotOurs {
        /// The policy named.
        policy: String,
        /// This party.
        me: String,
    },
    /// A creation time that is no instant.
    #[error("creation time: {0}")]
    Time(gsomia_core::time::TimeError),
    /// An unknown party, level or topic.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The label in the API's terms.
pub fn view(w: &WireLabel) -> gsomia_api::Label {
    gsomia_api::Label {
        policy: w.policy.clone(),
        level: w.level.clone(),
        originator: w.originator.clone(),
        created_at: gsomia_core::time::from_wire(w.created_at)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        topics: w.topics.clone(),
        rel_to: w.rel_to.clone(),
        informative: w
            .informative
            .iter()
            .map(|(tag, values)| gsomia_api::Category {
                tag: tag.clone(),
                values: values.clone(),
            })
            .collect(),
    }
}

/// The earliest "return or destroy by" instant a label's `Dispose-By`
/// marking sets (a value that is no instant sets none).
pub fn dispose_by(w: &WireLabel) -> Option<jiff::Timestamp> {
    w.informative
        .iter()
        .filter(|(tag, _)| tag == gsomia_core::holding::DISPOSE_BY)
        .flat_map(|(_, values)| values.iter())
        .filter_map(|v| gsomia_core::time::parse_instant(v).ok())
        .min()
}

/// The label as names, for sealing and storing.
pub fn to_wire(reg: &Registry, l: &Label) -> WireLabel {
    WireLabel {
        policy: reg.party_id(l.policy()).to_owned(),
        level: reg.level_name(l.level).to_owned(),
        originator: reg.party_id(l.originator).to_owned(),
        created_at: gsomia_core::time::to_wire(l.created_at),
        topics: l
            .topics
            .iter()
            .map(|t| reg.topics().name(t).to_owned())
            .collect(),
        rel_to: l
            .rel_to
            .map(|s| s.iter().map(|p| reg.party_id(p).to_owned()).collect()),
        informative: l
            .informative
            .iter()
            .map(|i| (i.tag.clone(), i.values.clone()))
            .collect(),
    }
    .normalized()
}

/// Resolves a label from names against this party's profiles (deny unknown).
pub fn from_wire(reg: &Registry, w: &WireLabel) -> Result<Label, LabelError> {
    if w.policy != w.originator {
        return Err(LabelError::NotOriginal {
            policy: w.policy.clone(),
            originator: w.originator.clone(),
        });
    }
    let created = gsomia_core::time::from_wire(w.created_at).map_err(LabelError::Time)?;
    let topics: Vec<&str> = w.topics.iter().map(String::as_str).collect();
    let rel: Option<Vec<&str>> = w
        .rel_to
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    let mut label = reg.label(&w.originator, &w.level, &topics, rel.as_deref(), created)?;
    label.informative = w
        .informative
        .iter()
        .map(|(tag, values)| Informative {
            tag: tag.clone(),
            values: values.clone(),
        })
        .collect();
    Ok(label)
}

/// Resolves the equivalent label this party (`me`) recorded for a received
/// item: the level in its own policy, the rest as the originator wrote it.
pub fn equivalent_from_wire(reg: &Registry, w: &WireLabel, me: &str) -> Result<Label, LabelError> {
    if w.policy != me {
        return Err(LabelError::NotOurs {
            policy: w.policy.clone(),
            me: me.to_owned(),
        });
    }
    let created = gsomia_core::time::from_wire(w.created_at).map_err(LabelError::Time)?;
    let topics: Vec<&str> = w.topics.iter().map(String::as_str).collect();
    let rel: Option<Vec<&str>> = w
        .rel_to
        .as_ref()
        .map(|r| r.iter().map(String::as_str).collect());
    // The originator's attributes, with this party's level.
    let level = reg.level(reg.party(me)?, &w.level)?;
    let topics = reg.topic_set(topics.iter().copied())?;
    if topics.is_empty() {
        return Err(LookupError::NoTopic.into());
    }
    let mut label = Label {
        level,
        originator: reg.party(&w.originator)?,
        created_at: created,
        topics,
        rel_to: rel
            .as_deref()
            .map(|names| reg.party_set(names.iter().copied()))
            .transpose()?,
        informative: Vec::new(),
    };
    label.informative = w
        .informative
        .iter()
        .map(|(tag, values)| Informative {
            tag: tag.clone(),
            values: values.clone(),
        })
        .collect();
    Ok(label)
}
