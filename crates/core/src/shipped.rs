//! The profiles shipped with gsomia, compiled into the binary so that a fresh
//! machine needs nothing installed. The files live under `profiles/` at the
//! root of the repository.

use crate::profile::{Builder, ProfileErrors, Source};
use crate::registry::Registry;

/// The topic taxonomy: (name, text).
pub const TOPICS: (&str, &str) = ("topics.toml", include_str!("../../../profiles/topics.toml"));

/// National policies: (name, text).
pub const POLICIES: [(&str, &str); 3] = [
    (
        "policies/JPN.toml",
        include_str!("../../../profiles/policies/JPN.toml"),
    ),
    (
        "policies/KOR.toml",
        include_str!("../../../profiles/policies/KOR.toml"),
    ),
    (
        "policies/USA.toml",
        include_str!("../../../profiles/policies/USA.toml"),
    ),
];

/// Agreements: (name, text).
pub const AGREEMENTS: [(&str, &str); 5] = [
    (
        "agreements/jp-kr-2016.toml",
        include_str!("../../../profiles/agreements/jp-kr-2016.toml"),
    ),
    (
        "agreements/us-kr-1987.toml",
        include_str!("../../../profiles/agreements/us-kr-1987.toml"),
    ),
    (
        "agreements/us-jp-2007.toml",
        include_str!("../../../profiles/agreements/us-jp-2007.toml"),
    ),
    (
        "agreements/tisa-2014.toml",
        include_str!("../../../profiles/agreements/tisa-2014.toml"),
    ),
    (
        "agreements/warning-2023.toml",
        include_str!("../../../profiles/agreements/warning-2023.toml"),
    ),
];

fn source((name, text): (&str, &str)) -> Source {
    Source {
        name: format!("shipped:{name}"),
        text: text.to_owned(),
    }
}

/// A builder loaded with every shipped profile; add sources to override.
pub fn builder() -> Builder {
    let mut b = Builder::new();
    b.topics(source(TOPICS));
    for p in POLICIES {
        b.policy(source(p));
    }
    for a in AGREEMENTS {
        b.agreement(source(a));
    }
    b
}

/// The shipped registry.
pub fn shipped() -> Result<Registry, ProfileErrors> {
    builder().build()
}
