//! Requests and responses of the user API, grouped by route family.
//!
//! Instants travel as RFC 3339 text with an offset; levels, topics and
//! parties as the names the profiles give them. Requests refuse unknown
//! fields, so a misspelt field is an error, never silently ignored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ------------------------------------------------------------------ node

/// The answer of every refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people. Server errors say only that one
    /// happened; the details are in the node's log under the request id.
    pub error: String,
    /// The request's id (also in the `x-request-id` header), for the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `GET /healthz`: the process answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the node answers and no integrity alarm was raised since
    /// it started; `alarm` when one was (see `alarms`).
    pub status: String,
    /// The party the node serves.
    pub party: String,
    /// Records in the node's ledger.
    pub ledger_size: u64,
    /// Integrity alarms raised since the node started: stored rows that
    /// failed their check and were refused (each also in the ledger as an
    /// `integrity_alarm` entry).
    #[serde(default)]
    pub integrity_alarms: u64,
    /// The latest of them, oldest first.
    #[serde(default)]
    pub alarms: Vec<Alarm>,
}

/// An integrity alarm: a stored row refused because it failed its check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alarm {
    /// When it was raised (RFC 3339).
    pub at: String,
    /// The row: `item ID`, `person ID`, `transfer ID`.
    pub subject: String,
    /// The check that failed: `custody_tag`, `untagged`, `label_index`, `sealed_bytes`.
    pub check: String,
    /// What was found.
    pub detail: String,
}

/// `GET /readyz`: whether the node can take work now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// True when every check passes.
    pub ready: bool,
    /// The party the node serves.
    pub party: String,
    /// Each check by name, with what it found.
    pub checks: Vec<Check>,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// What was checked (`store`, `ledger`, …).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

// ----------------------------------------------------------------- items

/// A label as names: the originator's (STANAG 4774-shaped) or a party's
/// equivalent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Label {
    /// The policy the level is written in (a party code).
    pub policy: String,
    /// The classification, in that policy's own words.
    pub level: String,
    /// The party that originated the information.
    pub originator: String,
    /// When the originator labelled it.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Topics: restrictive categories (need-to-know and agreement scope).
    pub topics: Vec<String>,
    /// REL TO parties; absent for an unmarked item.
    pub rel_to: Option<Vec<String>>,
    /// Informative categories (handling markings such as `Reproduction`,
    /// `Dispose-By`, `Contains-Information-Of`, `Language`, `Origin-Note`):
    /// shown, never decided on except where the handling rules say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub informative: Vec<Category>,
}

/// An informative category of a label: a tag and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    /// The tag (`Reproduction`).
    pub tag: String,
    /// Its values (`COPIES 2`).
    pub values: Vec<String>,
}

/// `POST /v1/items`: a new item from one of the party's officers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitItem {
    /// The classification in the party's own policy.
    pub level: String,
    /// Topics (at least one).
    #[schema(min_items = 1)]
    pub topics: Vec<String>,
    /// REL TO parties; absent or null for an unmarked item.
    #[serde(default)]
    pub rel_to: Option<Vec<String>>,
    /// The content, base64 (standard alphabet, padded).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        content_encoding = "base64"
    )]
    pub content: String,
    /// The originator's limit on copies at each holder: `NO COPY` or
    /// `COPIES n` (absent: none beyond the holder's own policy).
    #[serde(default)]
    #[schema(pattern = "^(?:[Nn][Oo] [Cc][Oo][Pp][Yy]|[Cc][Oo][Pp][Ii][Ee][Ss] [0-9]{1,9})$")]
    pub reproduction: Option<String>,
    /// The instant by which a holder returns or destroys the item (RFC 3339).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub dispose_by: Option<String>,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    /// The new item's id.
    pub id: String,
    /// Its label, as sealed.
    pub label: Label,
    /// SHA-384 of the content, hex.
    pub content_sha384: String,
}

/// An item in a list: what a reader may see without opening it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemSummary {
    /// The item's id at this node.
    pub id: String,
    /// The originator's id of the item (the same at every hop).
    pub origin_item: String,
    /// The party it came from, for received items.
    pub received_from: Option<String>,
    /// The originator's label.
    pub label: Label,
    /// This party's equivalent label, for received items.
    pub equivalent_label: Option<Label>,
}

/// `GET /v1/items`: a page of the items the caller may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemList {
    /// The items, oldest first.
    pub items: Vec<ItemSummary>,
    /// The cursor of the next page (`?next=`); absent on the last page. A
    /// page may hold fewer items than asked for and still have a next one
    /// (the node stops looking after a deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A list query's pairs: `limit` and every field that is set.
fn query_pairs(
    limit: Option<u32>,
    fields: &[(&'static str, &Option<String>)],
) -> Vec<(&'static str, String)> {
    limit
        .map(|l| ("limit", l.to_string()))
        .into_iter()
        .chain(
            fields
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone()))),
        )
        .collect()
}

/// The query of `GET /v1/items` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemFilter {
    /// At most this many items (1 to 500; 50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub next: Option<String>,
    /// Only items with this topic.
    pub topic: Option<String>,
    /// Only items at this level of the node's own policy (their own level,
    /// or the equivalent recorded at receipt).
    pub level: Option<String>,
    /// Only items of this originator (a party code).
    pub originator: Option<String>,
    /// Only items stored at or after this instant (RFC 3339).
    pub since: Option<String>,
}

impl ItemFilter {
    /// The filter as query pairs (the ones set).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        query_pairs(
            self.limit,
            &[
                ("next", &self.next),
                ("topic", &self.topic),
                ("level", &self.level),
                ("originator", &self.originator),
                ("since", &self.since),
            ],
        )
    }
}

/// `GET /v1/items/{id}`: one item's labels (reading them is ledgered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    /// The item's id at this node.
    pub id: String,
    /// The originator's id of the item.
    pub origin_item: String,
    /// The originating party.
    pub originator: String,
    /// The party it came from, for received items.
    pub received_from: Option<String>,
    /// When this node stored it.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The originator's label.
    pub label: Label,
    /// This party's equivalent label, for received items.
    pub equivalent_label: Option<Label>,
}

/// `POST /v1/items/{id}/release`: release an item to a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseItem {
    /// The recipient party.
    pub to: String,
}

/// How a released item goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Route {
    /// From its originator to a party of an agreement with it.
    #[serde(rename = "direct")]
    Direct,
    /// Onward to a third party, with the originator's consent.
    #[serde(rename = "onward")]
    Onward,
    /// Through the hub of an arrangement, with the originator's consent.
    #[serde(rename = "hub relay")]
    HubRelay,
    /// Back to its originator.
    #[serde(rename = "return")]
    Return,
}

/// The answer to a release request: decided now, either way ledgered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum ReleaseOutcome {
    /// Released: sealed for the recipient and queued for delivery.
    Release(Released),
    /// Withheld, with the reasons and the rules they cite.
    Withhold(Withheld),
}

/// A release that was allowed and queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Released {
    /// The transfer's id.
    pub transfer: String,
    /// The agreement it goes under.
    pub agreement: String,
    /// The level the recipient will mark it with.
    pub recipient_level: String,
    /// How it goes.
    pub route: Route,
    /// Why it may go, each citing the rules applied.
    pub reasons: Vec<String>,
}

/// A release that was withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Withheld {
    /// Why not, each citing the rules applied.
    pub reasons: Vec<String>,
}

// ------------------------------------------------------------ agreements

/// An agreement's status at an instant, as this node computes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgreementStatus {
    /// The agreement's id.
    pub agreement: String,
    /// Its title.
    pub title: String,
    /// The instant of the status.
    #[schema(format = DateTime)]
    pub at: String,
    /// `in_force`, `notice_given`, `suspended_notice`, `terminated`, … .
    pub state: String,
    /// Whether items may cross under it at that instant.
    pub in_force: bool,
    /// The version (amendments) in effect.
    pub version: u32,
    /// Its parties.
    pub parties: Vec<String>,
    /// Events recorded for it (the profile's and those entered since).
    pub events: u64,
    /// Why it is in that state, citing the rules.
    pub reasons: Vec<String>,
}

/// `GET /v1/agreements`: every agreement this party is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgreementList {
    /// The instant of the statuses.
    #[schema(format = DateTime)]
    pub at: String,
    /// The agreements.
    pub agreements: Vec<AgreementStatus>,
}

/// What kind of act an agreement event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Written notice of termination.
    Notice,
    /// Suspension of a notice's effect.
    SuspendNotice,
    /// The end of a suspension.
    LiftSuspension,
    /// Withdrawal of a notice.
    WithdrawNotice,
    /// An announcement with no legal effect.
    Announcement,
}

impl EventKind {
    /// The name used on the wire and in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Notice => "notice",
            EventKind::SuspendNotice => "suspend_notice",
            EventKind::LiftSuspension => "lift_suspension",
            EventKind::WithdrawNotice => "withdraw_notice",
            EventKind::Announcement => "announcement",
        }
    }
}

/// `POST /v1/agreements/{id}/events`: an act of this node's party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterEvent {
    /// What kind of act.
    pub kind: EventKind,
    /// When it took effect (RFC 3339 with offset); now when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// A short description.
    #[serde(default)]
    pub summary: Option<String>,
    /// For a notice: given in writing through the diplomatic channel (default true).
    #[serde(default)]
    pub written_diplomatic: Option<bool>,
}

/// The answer to an entered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnteredEvent {
    /// The event's id.
    pub id: String,
    /// The agreement.
    pub agreement: String,
    /// What kind of act.
    pub kind: EventKind,
    /// When it took effect.
    #[schema(format = DateTime)]
    pub at: String,
    /// What it did to the lifecycle, citing the rules.
    pub effect: String,
    /// The agreement's status now.
    pub status: AgreementStatus,
    /// The partners it was queued for.
    pub sent_to: Vec<String>,
    /// Parties to the agreement it could not be sent to, and why.
    pub not_sent: Vec<String>,
}

// -------------------------------------------------------------- consents

/// `POST /v1/consents`: this party, as originator, consents to a release by
/// a holder to a recipient (rule 9; for a hub relay, rule 16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantConsent {
    /// The party that may release (the hub, for a relay).
    pub holder: String,
    /// The party it may release to.
    pub recipient: String,
    /// One item this party originated (exclusive with `topics`).
    #[serde(default)]
    pub item: Option<String>,
    /// Topics, subtopics included (exclusive with `item`).
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// The first instant it no longer holds (RFC 3339 with offset).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A consent given or held by this party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    /// The consent's id.
    pub id: String,
    /// The party that gave it.
    pub originator: String,
    /// The party that may release.
    pub holder: String,
    /// The party it may release to.
    pub recipient: String,
    /// The one item it covers, if scoped to an item.
    pub item: Option<String>,
    /// The topics it covers, if scoped to topics.
    pub topics: Option<Vec<String>>,
    /// When it was given.
    #[schema(format = DateTime)]
    pub granted_at: String,
    /// The first instant it no longer holds.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// When it was revoked, if it was.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// The partners it was queued for (in answers to a grant or revocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<Vec<String>>,
}

/// `GET /v1/consents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentList {
    /// The consents, oldest first.
    pub consents: Vec<ConsentView>,
    /// The cursor of the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

// ------------------------------------------------------------- holdings

/// `POST /v1/items/{id}/copies`: copies of an item, for an official need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyItem {
    /// How many copies (1 to 100; 1 when absent).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    pub count: Option<u32>,
    /// The official need they serve.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub reason: String,
}

/// Whether a text says something: a character other than the ASCII
/// spaces (the schema's `[^ \t\n\r\f\v]`, the same in every regex dialect).
pub fn has_text(t: &str) -> bool {
    t.chars()
        .any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// A count as JSON numbers write it: `3` or `3.0` (the same integer).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n: Option<f64> = Deserialize::deserialize(d)?;
    match n {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) => {
            Ok(Some(x as u32))
        }
        Some(x) => Err(serde::de::Error::custom(format!(
            "`{x}` is not a whole number of copies"
        ))),
    }
}

/// One copy made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CopyMade {
    /// The copy's id.
    pub id: String,
    /// Its number among the source's copies.
    pub number: u32,
    /// How many copies of the source there are with this one.
    pub of: u32,
}

/// The answer to a copy request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Copied {
    /// The source.
    pub source: String,
    /// The copies made.
    pub copies: Vec<CopyMade>,
}

/// `POST /v1/items/{id}/translations`: a translation of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateItem {
    /// The language (a BCP 47 tag such as `ko`, `ja`, `en`).
    #[schema(
        min_length = 2,
        max_length = 35,
        pattern = "^[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*$"
    )]
    pub language: String,
    /// The translated text, base64 (standard alphabet, padded).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        content_encoding = "base64"
    )]
    pub content: String,
    /// Why it is made.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/items/derived`: a document written from items held here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeriveItem {
    /// The items it draws on (ids at this node).
    #[schema(min_items = 1, max_items = 64)]
    pub sources: Vec<String>,
    /// The level of the author's own contribution, in the party's policy
    /// (the document's level is the highest of it and every source's).
    pub level: String,
    /// The topics of the author's own contribution (the document's are the
    /// union with every source's).
    #[schema(min_items = 1)]
    pub topics: Vec<String>,
    /// REL TO for the author's own contribution (intersected with every source's).
    #[serde(default)]
    pub rel_to: Option<Vec<String>>,
    /// The document, base64 (standard alphabet, padded).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        content_encoding = "base64"
    )]
    pub content: String,
    /// Why it is made.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One source of a translation or derived document, as it stood when
/// the document was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    /// Its id at this node.
    pub item: String,
    /// Its originator's id.
    pub origin_item: String,
    /// Its originator's label.
    pub label: Label,
    /// This party's equivalent label, for a received source.
    pub equivalent_label: Option<Label>,
}

/// A translation or derived document made: its label (computed, sealed)
/// and every source it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Made {
    /// The new item's id.
    pub id: String,
    /// `translation` or `derived`.
    pub kind: String,
    /// Its label, as sealed (originated by this party).
    pub label: Label,
    /// SHA-384 of the content, hex.
    pub content_sha384: String,
    /// What it was made from.
    pub sources: Vec<SourceView>,
}

/// `POST /v1/items/{id}/destruction`: destroy an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyItem {
    /// How (`shredded`, `burned`, `degaussed`, `crypto-erased`…).
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub method: String,
    /// The witnesses (people of this party), as the policy for the item's level needs.
    #[serde(default)]
    pub witnesses: Vec<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Destroy every copy of it held here too, in the same record.
    #[serde(default)]
    pub with_copies: bool,
}

/// The answer to a destruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Destroyed {
    /// The items destroyed (the item, then its copies when asked).
    pub items: Vec<String>,
    /// How many witnesses the policy needed for the level.
    pub witnesses_needed: u32,
    /// Until when the policy keeps the record, if it asks for one.
    pub keep_until: Option<String>,
    /// Items made from it still held (copies, translations, derived
    /// documents): the officer destroys or accounts for them.
    pub still_held: Vec<String>,
    /// Whether the erased bytes are gone from the database files already
    /// (false: at the next full checkpoint).
    pub erased: bool,
}

/// `POST /v1/items/{id}/return`: send an item back to its originator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnItem {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/items/{id}/reclassify`: the originator changes the item's
/// classification (rule 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReclassifyItem {
    /// The new level, in the originator's policy (`군사III급비밀`, `秘`).
    #[schema(min_length = 1, max_length = 64)]
    pub level: String,
    /// Why (the written notice's reason).
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub reason: String,
}

/// An originator's reclassification notice as this node holds it: what
/// changed, which rows here follow it, and (where this node sent it) each
/// party's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reclassification {
    /// The notice's id.
    pub id: String,
    /// The originator, which signed it.
    pub originator: String,
    /// The originator's id of the item.
    pub origin_item: String,
    /// Its number for the item (1 for the first change).
    pub seq: u32,
    /// The new level, in the originator's policy.
    pub level: String,
    /// The level it replaced.
    pub previous: String,
    /// Why.
    pub reason: String,
    /// Who changed it.
    pub by: String,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// Where it came from (absent at the originator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_from: Option<String>,
    /// The rows here that carry it now (the item, its copies, documents
    /// made from it), each with the level it is held at.
    pub applied: Vec<AppliedRow>,
    /// The parties this node sent it to, each with where it stands.
    pub sent_to: Vec<TransferView>,
}

/// One row that follows a reclassification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppliedRow {
    /// The item's id here.
    pub id: String,
    /// `item`, `copy`, `translation` or `derived`.
    pub kind: String,
    /// The level this party holds it at now.
    pub level: String,
    /// Whether an agreement covers the new level (if not, the item is
    /// held at this party's highest level and goes no further).
    pub covered: bool,
}

/// The reclassifications of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReclassificationList {
    /// Oldest first.
    pub items: Vec<Reclassification>,
}

/// `POST /v1/facilities`: a contractor facility enters the register
/// (Art 16), with its facility security clearance and responsible person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFacility {
    /// Its name.
    #[schema(min_length = 1, max_length = 200, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub name: String,
    /// Its facility security clearance: a classified level of this party's policy.
    #[schema(min_length = 1, max_length = 64)]
    pub clearance: String,
    /// When the clearance ends: an instant, or a date meaning that whole day
    /// in the party's zone.
    #[schema(format = DateTime, example = "2027-12-31T15:00:00Z")]
    pub cleared_until: String,
    /// The person responsible for security there (a registered person's id).
    #[schema(min_length = 1, max_length = 64)]
    pub responsible: String,
}

/// `POST /v1/facilities/{id}/inspections`: an inspection's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectFacility {
    /// Whether the facility passed.
    pub passed: bool,
    /// What the inspectors found.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub findings: String,
}

/// `POST /v1/facilities/{id}/briefings`: a person of the facility was given
/// a security briefing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BriefPerson {
    /// The person (one registered as of this facility).
    #[schema(min_length = 1, max_length = 64)]
    pub person: String,
}

/// One inspection of a facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InspectionView {
    /// When it was recorded.
    #[schema(format = DateTime)]
    pub at: String,
    /// Whether the facility passed.
    pub passed: bool,
    /// The findings.
    pub findings: String,
    /// Who recorded it.
    pub by: String,
}

/// One briefing of a person of a facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BriefingView {
    /// The person.
    pub person: String,
    /// When they were last briefed.
    #[schema(format = DateTime)]
    pub at: String,
}

/// A contractor facility and where it stands against Art 16.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacilityView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its facility security clearance.
    pub clearance: String,
    /// When the clearance ends.
    #[schema(format = DateTime)]
    pub cleared_until: String,
    /// Its responsible person.
    pub responsible: String,
    /// Its inspections, oldest first.
    pub inspections: Vec<InspectionView>,
    /// Its people's latest briefings.
    pub briefings: Vec<BriefingView>,
    /// The people registered as of this facility.
    pub people: Vec<String>,
    /// The facility's conditions that fail now, at its own clearance level
    /// (empty: its people may be given items up to that level, each once
    /// briefed).
    pub failing: Vec<String>,
    /// Whether its records verified.
    pub verified: bool,
}

/// `GET /v1/facilities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacilityList {
    /// Every facility, by id.
    pub facilities: Vec<FacilityView>,
}

/// `POST /v1/visits`: the visiting party asks a partner to host one of its
/// people (Art 8), naming the purpose and the highest level that may be
/// furnished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestVisit {
    /// The host party.
    #[schema(min_length = 3, max_length = 3, example = "KOR")]
    pub to: String,
    /// The visitor: a person registered here, cleared at least to `highest_level`.
    #[schema(min_length = 1, max_length = 64)]
    pub visitor: String,
    /// The official purpose.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub purpose: String,
    /// The highest level that may be furnished, in this party's policy.
    #[schema(min_length = 1, max_length = 64)]
    pub highest_level: String,
    /// The topics the visit concerns (the visitor's need-to-know there).
    #[schema(min_items = 1, max_items = 64)]
    pub topics: Vec<String>,
    /// The first day (in this party's zone) or instant of the visit.
    #[schema(format = DateTime, example = "2027-03-01T00:00:00+09:00")]
    pub from: String,
    /// The last day of the visit, or the first instant after it.
    #[schema(format = DateTime, example = "2027-03-06T00:00:00+09:00")]
    pub until: String,
}

/// `POST /v1/visits/{id}/refuse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseVisit {
    /// Why.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub reason: String,
}

/// One access a visitor was given at the host (or refused), as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VisitAccess {
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// The item (its originator's id).
    pub item: String,
    /// `allowed`, or `refused: …`.
    pub outcome: String,
}

/// A visit, as this party knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VisitView {
    /// Its id.
    pub id: String,
    /// The visiting party.
    pub visitor_party: String,
    /// The host.
    pub host: String,
    /// The visitor, as the visiting party registers them.
    pub visitor: String,
    /// Their name.
    pub visitor_name: String,
    /// The official purpose.
    pub purpose: String,
    /// The highest level that may be furnished (the visiting party's).
    pub highest_level: String,
    /// The topics.
    pub topics: Vec<String>,
    /// First instant.
    #[schema(format = DateTime)]
    pub from: String,
    /// First instant after it.
    #[schema(format = DateTime)]
    pub until: String,
    /// `requested`, `approved` or `refused`.
    pub state: String,
    /// The host's reason for a refusal, or its note on an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// At the host: the visitor's register entry there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_person: Option<String>,
    /// Every access reported, oldest first.
    pub accesses: Vec<VisitAccess>,
}

/// `GET /v1/visits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VisitList {
    /// Every visit, requested or hosted, by id.
    pub visits: Vec<VisitView>,
}

/// `POST /v1/visits/{id}/approve`: the approval, and the visitor's
/// credential at the host (shown once; handed to the visitor on arrival).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VisitApproved {
    /// The visit.
    pub visit: VisitView,
    /// The visitor's bearer token at this node, valid only during the visit.
    pub token: String,
}

/// One ledger record about an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// Its index in the node's ledger.
    pub index: u64,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// The kind of entry.
    pub kind: String,
    /// The item it is about (the item, or one made from it).
    pub item: String,
    /// Its fields.
    pub fields: std::collections::BTreeMap<String, String>,
}

/// An item made from another here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MadeFrom {
    /// Its id.
    pub id: String,
    /// `copy`, `translation` or `derived`.
    pub kind: String,
    /// "copy n of N", the language, or the sources.
    pub detail: String,
    /// `held`, `destroyed` or `returned`.
    pub state: String,
}

/// `GET /v1/items/{id}/history`: the item's whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemHistory {
    /// The item's id at this node.
    pub id: String,
    /// The originator's id.
    pub origin_item: String,
    /// The originator.
    pub originator: String,
    /// Where it is held: this node's party (the node keeps it sealed in its store).
    pub location: String,
    /// `held`, `destroyed` or `returned`.
    pub state: String,
    /// When it left custody, if it has.
    pub disposed_at: Option<String>,
    /// The originator's label.
    pub label: Label,
    /// This party's equivalent label, for a received item.
    pub equivalent_label: Option<Label>,
    /// How it was made here (`copy`, `translation`, `derived`), if it was.
    pub made: Option<String>,
    /// "copy n of N", the language, or the sources.
    pub made_detail: Option<String>,
    /// What it was made from.
    pub sources: Vec<SourceView>,
    /// Copies, translations and documents made from it.
    pub derived: Vec<MadeFrom>,
    /// A page of the ledger records about it and what was made from it.
    pub entries: Vec<HistoryEntry>,
    /// The cursor of the next page of entries.
    pub next: Option<String>,
}

/// The query of `GET /v1/inventory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryFilter {
    /// At most this many items (1 to 500; 50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub next: Option<String>,
    /// Only items held whose originator's return-or-destroy date has passed.
    pub due: Option<bool>,
    /// Only items still held.
    pub held: Option<bool>,
}

impl InventoryFilter {
    /// The filter as query pairs (the ones set).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = query_pairs(self.limit, &[("next", &self.next)]);
        for (k, v) in [("due", self.due), ("held", self.held)] {
            if let Some(v) = v {
                p.push((k, v.to_string()));
            }
        }
        p
    }
}

/// One line of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InventoryEntry {
    /// The item's id at this node.
    pub id: String,
    /// The originator's id.
    pub origin_item: String,
    /// The originator.
    pub originator: String,
    /// The level it is held at here (its own, or the equivalent recorded at receipt).
    pub level: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// The party it came from, for a received item.
    pub received_from: Option<String>,
    /// When stored here.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `held`, `destroyed`, `returned`, or `integrity` (its row failed its check).
    pub state: String,
    /// How it was made here, if it was (`copy 2 of 3`, `translation (ko)`, `derived`).
    pub made: Option<String>,
    /// The item it was made from.
    pub source: Option<String>,
    /// The originator's return-or-destroy date.
    pub dispose_by: Option<String>,
    /// Whether that date has passed while it is held.
    pub overdue: bool,
    /// When it left custody.
    pub disposed_at: Option<String>,
}

/// `GET /v1/inventory`: every item held or once held here, in the order stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Inventory {
    /// This page.
    pub items: Vec<InventoryEntry>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

// ------------------------------------------------------------- incidents

/// `POST /v1/incidents`: report an actual or possible loss or compromise
/// of an item held here to its originator (Art 17, rule 14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIncident {
    /// The item (its id at this node; received from its originator).
    pub item: String,
    /// Whether the loss or compromise is actual (else possible).
    pub actual: bool,
    /// What happened.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub description: String,
}

/// `POST /v1/incidents/{id}/updates`: the investigation's findings, or
/// (with `close`) its results and the measures against recurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpIncident {
    /// The findings, or the remedy when closing.
    #[schema(min_length = 1, max_length = 2000, pattern = "[^ \\t\\n\\r\\f\\v]")]
    pub text: String,
    /// Close the incident with this remedy.
    #[serde(default)]
    pub close: bool,
}

/// One message of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentMessage {
    /// Its place (0 is the report).
    pub seq: u32,
    /// `report`, `update` or `close`.
    pub kind: String,
    /// The description, findings or remedy.
    pub text: String,
    /// Who wrote it (a person of the holder).
    pub by: String,
    /// When it was written.
    #[schema(format = DateTime)]
    pub at: String,
    /// When the originator acknowledged it (absent: pending, retried).
    pub acknowledged_at: Option<String>,
    /// The originator's reasons, when it refused it by decision (final,
    /// not retried).
    #[serde(default)]
    pub refused: Option<String>,
}

/// An incident as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    /// Its id.
    pub id: String,
    /// `reported` (this node holds the item) or `received` (this node is its originator).
    pub direction: String,
    /// The party holding the item.
    pub holder: String,
    /// The item's originator, notified.
    pub originator: String,
    /// The originator's id of the item.
    pub origin_item: String,
    /// This node's id of the item, when it holds it.
    pub item: Option<String>,
    /// Actual (else possible).
    pub actual: bool,
    /// `open`, `closed`, or `refused` (the originator refused the report).
    pub state: String,
    /// Messages neither acknowledged nor refused by the originator.
    pub pending: u32,
    /// Every message, in order.
    pub messages: Vec<IncidentMessage>,
}

/// `GET /v1/incidents`: a page of incidents, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    /// This page.
    pub incidents: Vec<IncidentView>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

/// A page of a list: `GET …?limit=&next=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many (1 to 500; 50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub next: Option<String>,
}

impl Page {
    /// The page as query pairs (the ones set).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        query_pairs(self.limit, &[("next", &self.next)])
    }
}

// -------------------------------------------------------------- warnings

/// A point on the earth, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Latitude, -90 to 90.
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: f64,
    /// Longitude, -180 to 180.
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub lon: f64,
}

/// `POST /v1/warnings`: a launch, with its estimated launch point. Only the
/// three data elements of the warning link exist (rule 17): any other field
/// is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// The estimated launch point.
    pub launch_point: Point,
    /// The launch instant (RFC 3339 with offset); now when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// `POST /v1/warnings/{id}/track`: a trajectory point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Where the missile is.
    pub point: Point,
    /// Its altitude, km.
    #[schema(minimum = 0.0, maximum = 10000.0)]
    pub alt_km: f64,
    /// When (RFC 3339 with offset); now when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// `POST /v1/warnings/{id}/impact`: the estimated impact point; closes the warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    /// The estimated impact point.
    pub impact_point: Point,
    /// When (RFC 3339 with offset); now when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// The answer to a published update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    /// The warning's id.
    pub id: String,
    /// The update's number in its flight (0 is the launch).
    pub seq: u32,
    /// `launch`, `track` or `impact`.
    pub kind: String,
    /// The instant the update describes.
    #[schema(format = DateTime)]
    pub at: String,
}

/// One update of a warning as this node applied it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningUpdate {
    /// The warning's id.
    pub id: String,
    /// The party that published it.
    pub originator: String,
    /// The update's number in its flight.
    pub seq: u32,
    /// `launch`, `track` or `impact`.
    pub kind: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Altitude, km (0 for launch and impact).
    pub alt_km: f64,
    /// The instant the update describes.
    #[schema(format = DateTime)]
    pub at: String,
    /// The level this party marks it with.
    pub level: String,
    /// The level the originator marked it with.
    pub originator_level: String,
    /// When this node applied it.
    #[schema(format = DateTime)]
    pub applied_at: String,
}

/// A warning flight known to this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningFlight {
    /// The warning's id.
    pub id: String,
    /// The party that published it.
    pub originator: String,
    /// Whether its impact point has arrived.
    pub closed: bool,
    /// The level this party marks it with.
    pub level: String,
    /// Its updates, in order.
    pub updates: Vec<WarningUpdate>,
}

/// `GET /v1/warnings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningList {
    /// The flights the caller may see, a page of them (by id).
    pub warnings: Vec<WarningFlight>,
    /// The cursor of the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Updates still owed to partners that have not taken them yet (kept,
    /// and sent again, until they do).
    #[serde(default)]
    pub pending: Vec<WarningsOwed>,
}

/// Warning updates owed to one partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarningsOwed {
    /// The partner.
    pub partner: String,
    /// How many updates it has not taken yet.
    pub updates: u64,
    /// When the oldest of them was queued.
    #[schema(format = DateTime)]
    pub oldest_queued_at: String,
}

/// Where a transfer stands at its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Queued, not attempted yet.
    Queued,
    /// Attempted, not acknowledged yet: retried until the partner answers.
    Sending,
    /// Acknowledged by the partner with a signed receipt.
    Delivered,
    /// Refused by the partner's decision under the rules: never sent again.
    Refused,
}

impl TransferState {
    /// The name used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Queued => "queued",
            TransferState::Sending => "sending",
            TransferState::Delivered => "delivered",
            TransferState::Refused => "refused",
        }
    }
}

/// `GET /v1/transfers/{id}`: what became of a transfer (or an agreement
/// event, consent or revocation sent to a partner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    /// The transfer's id.
    pub transfer: String,
    /// What it carries: `transfer` (an item), `event`, `consent`, `revocation`.
    pub kind: String,
    /// The item at this node (or the message's id).
    pub item: String,
    /// The recipient party.
    pub recipient: String,
    /// Where it stands.
    pub state: TransferState,
    /// Who released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// When it was queued.
    #[schema(format = DateTime)]
    pub queued_at: String,
    /// Seconds from queueing to its end (delivery or refusal), or to now.
    pub age_seconds: i64,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// When the next attempt is due (while sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the partner acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    /// The partner's signed checkpoint its receipt carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_checkpoint: Option<String>,
    /// When the partner refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub refused_at: Option<String>,
    /// The partner's reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<String>,
}

/// `GET /v1/transfers`: a page of transfers, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferList {
    /// The transfers.
    pub transfers: Vec<TransferView>,
    /// The cursor of the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The query of `GET /v1/transfers` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferFilter {
    /// At most this many (1 to 500; 50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub next: Option<String>,
    /// Only transfers in this state: `queued`, `sending`, `delivered`, `refused`.
    pub state: Option<String>,
    /// Only transfers to this partner.
    pub recipient: Option<String>,
    /// Only transfers of this item.
    pub item: Option<String>,
}

impl TransferFilter {
    /// The filter as query pairs (the ones set).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        query_pairs(
            self.limit,
            &[
                ("next", &self.next),
                ("state", &self.state),
                ("recipient", &self.recipient),
                ("item", &self.item),
            ],
        )
    }
}
