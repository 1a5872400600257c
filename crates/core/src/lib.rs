//! # gsomia-core — the pact engine
//!
//! Answers, exactly and with reasons, the two questions everything else in
//! gsomia asks: *may this item go to that party now?* ([`decide_release`]) and
//! *may this person read it now?* ([`decide_access`]). Around them:
//! national classification policies and their equivalences, STANAG
//! 4774-shaped labels, agreements with their full lifecycle (terms, notices,
//! suspensions, withdrawals, amendments, termination), consents, and the
//! shipped profiles of the Japan–Korea, US–Korea, US–Japan and trilateral
//! arrangements.
//!
//! What this crate does **not** do: any I/O, reading a clock, randomness or
//! async. Time is always an argument; profiles arrive as text. Sealing,
//! ledgers, storage and networking live in other crates. CI checks this
//! (`.ci/core-purity`).
//!
//! ```
//! use gsomia_core::{decide_release, time::parse_instant, Decision, ReleaseRequest};
//!
//! let reg = gsomia_core::shipped()?;
//! let at = parse_instant("2019-11-23T00:00:00+09:00")?;
//! let label = reg.label("KOR", "군사Ⅱ급비밀", &["dprk.missile"], None, at)?;
//! let req = ReleaseRequest {
//!     label: &label,
//!     item: None,
//!     holder: reg.party("KOR")?,
//!     recipient: reg.party("JPN")?,
//!     at,
//!     consents: &[],
//! };
//! // The 2019 notice was suspended six hours before expiry: still in force.
//! assert!(matches!(decide_release(&reg, &req), Decision::Release(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod agreement;
pub mod consent;
pub mod contractor;
pub mod decision;
pub mod explain;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod holding;
pub mod ids;
pub mod label;
pub mod policy;
pub mod profile;
pub mod reason;
pub mod reclassification;
pub mod registry;
pub mod shipped;
pub mod time;
pub mod warning;

pub use agreement::{Agreement, AgreementKind, State};
pub use consent::{Consent, ConsentScope};
pub use decision::{
    AccessDecision, AccessRefusal, Decision, Reader, Refusal, Release, ReleaseRequest, Route,
    decide_access, decide_release,
};
pub use explain::{Status, TimelineEntry};
pub use ids::{AgreementId, AgreementRef, ItemId, LevelRef, PartyId, PartyRef, TopicRef, TopicSet};
pub use label::{EquivalentLabel, ItemLabels, Label};
pub use profile::{Builder, ProfileError, ProfileErrors, Source};
pub use reason::{Citation, Reason};
pub use registry::{LookupError, RecordError, Registry};
pub use shipped::shipped;
