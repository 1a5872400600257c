//! Signed messages a party's node sends its partners besides items: an
//! agreement event entered by a security officer (context
//! `gsomia/v1/agreement-event`), and an originator's consent to an onward
//! release or hub relay and its revocation (context `gsomia/v1/consent`).
//!
//! Each message is `bytes(body) || signature`, the body starting with its
//! own type tag, so a consent never verifies as a revocation, an event or a
//! transfer. The contents are names and instants; what they mean (is the
//! actor a party, does the consent cover a release) is the core's to decide.

use crate::canon::{DecodeError, Reader, Writer};
use crate::sign::{Context, PublicKey, SecretKey, Signature};
use crate::transfer::TransferError;

const EVENT_TAG: &str = "gsomia/v1/agreement-event-body";
const CONSENT_TAG: &str = "gsomia/v1/consent-body";
const REVOCATION_TAG: &str = "gsomia/v1/consent-revocation-body";
const WARNING_TAG: &str = "gsomia/v1/warning-update-body";
const INCIDENT_TAG: &str = "gsomia/v1/incident-body";
const RECLASSIFICATION_TAG: &str = "gsomia/v1/reclassification-body";
const VISIT_TAG: &str = "gsomia/v1/visit-body";
/// The largest message accepted (bytes).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// An instant as Unix seconds and nanoseconds.
pub type Instant = (i64, u32);

/// A lifecycle event of an agreement, as entered at the acting party's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementEvent {
    /// Unique id (retries and replays reuse it).
    pub id: String,
    /// The agreement.
    pub agreement: String,
    /// The event kind's profile name (`notice`, `suspend_notice`, …).
    pub kind: String,
    /// When it took effect.
    pub at: Instant,
    /// The acting party (the signer).
    pub by: String,
    /// For a notice: written and given through the diplomatic channel.
    pub written_diplomatic: bool,
    /// A short description.
    pub summary: String,
}

/// What a consent covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One item, by the originator's item id.
    Item(String),
    /// Items whose topics all fall within these topics (subtrees included).
    Topics(Vec<String>),
}

/// An originator's written consent to a release by a holder to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentGrant {
    /// Unique id.
    pub id: String,
    /// The originator (the signer).
    pub originator: String,
    /// The party that may release (the hub for a relay).
    pub holder: String,
    /// The party it may release to.
    pub recipient: String,
    /// What it covers.
    pub scope: Scope,
    /// When given.
    pub granted_at: Instant,
    /// The first instant it no longer holds.
    pub expires_at: Instant,
}

/// The originator's revocation of a consent it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRevocation {
    /// The consent revoked.
    pub consent: String,
    /// The originator (the signer).
    pub originator: String,
    /// From when.
    pub revoked_at: Instant,
}

/// One update of a missile warning, signed by the originator and relayed
/// unchanged by the hub: the flight, its number, and one of the three data
/// elements (launch point, trajectory point, impact point) with its instant.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningUpdate {
    /// The flight's id.
    pub id: String,
    /// The originating party (the signer).
    pub originator: String,
    /// The originator's classification of the warning (a level of its policy).
    pub level: String,
    /// The update's number (0 is the launch).
    pub seq: u32,
    /// `launch`, `track` or `impact`.
    pub kind: String,
    /// Latitude (degrees).
    pub lat: f64,
    /// Longitude (degrees).
    pub lon: f64,
    /// Altitude (km; trajectory points only, 0 otherwise).
    pub alt_km: f64,
    /// When.
    pub at: Instant,
}

/// A float as its bits, with −0 as +0 so equal values encode equally; NaN is refused.
fn float_bits(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

fn float(r: &mut Reader<'_>) -> Result<f64, DecodeError> {
    let at = r.position();
    let x = f64::from_bits(r.u64()?);
    if x.is_nan() || (x == 0.0 && x.is_sign_negative()) {
        return Err(DecodeError::Tag { at, tag: 0xff });
    }
    Ok(x)
}

impl WarningUpdate {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(WARNING_TAG);
        w.str(&self.id)
            .str(&self.originator)
            .str(&self.level)
            .u32(self.seq)
            .str(&self.kind)
            .u64(float_bits(self.lat))
            .u64(float_bits(self.lon))
            .u64(float_bits(self.alt_km))
            .i64(self.at.0)
            .u32(self.at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Warning, &self.body(), key)
    }

    /// Decodes without verifying (to learn the claimed originator).
    pub fn decode(bytes: &[u8]) -> Result<WarningUpdate, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(WARNING_TAG)?;
        let u = WarningUpdate {
            id: b.str()?.to_owned(),
            originator: b.str()?.to_owned(),
            level: b.str()?.to_owned(),
            seq: b.u32()?,
            kind: b.str()?.to_owned(),
            lat: float(&mut b)?,
            lon: float(&mut b)?,
            alt_km: float(&mut b)?,
            at: instant(&mut b)?,
        };
        b.finish()?;
        Ok(u)
    }

    /// Decodes and verifies with the originator's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<WarningUpdate, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Warning, body, &sig, key)?;
        Self::decode(bytes)
    }
}

/// A message about an actual or possible loss or compromise of an item
/// (Art 17, rule 14): the holder's report to the item's originator and its
/// follow-ups (investigation findings, closing with the remedies), each
/// signed by the holder; and the originator's acknowledgement of each,
/// signed by the originator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentNotice {
    /// The incident's id (made by the reporting holder).
    pub id: String,
    /// The message's place in the incident (0 is the report).
    pub seq: u32,
    /// `report`, `update`, `close`, or `ack` (an acknowledgement of `seq`).
    pub kind: String,
    /// The party holding the item, which reports.
    pub holder: String,
    /// The item's originator, which is notified.
    pub originator: String,
    /// The originator's id of the item.
    pub origin_item: String,
    /// Whether the loss or compromise is actual (else possible).
    pub actual: bool,
    /// The description, findings or remedy.
    pub text: String,
    /// The person who wrote it.
    pub by: String,
    /// When.
    pub at: Instant,
}

impl IncidentNotice {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(INCIDENT_TAG);
        w.str(&self.id)
            .u32(self.seq)
            .str(&self.kind)
            .str(&self.holder)
            .str(&self.originator)
            .str(&self.origin_item)
            .u8(u8::from(self.actual))
            .str(&self.text)
            .str(&self.by)
            .i64(self.at.0)
            .u32(self.at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Incident, &self.body(), key)
    }

    /// Decodes without verifying (to learn who claims to have signed).
    pub fn decode(bytes: &[u8]) -> Result<IncidentNotice, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(INCIDENT_TAG)?;
        let id = b.str()?.to_owned();
        let seq = b.u32()?;
        let kind = b.str()?.to_owned();
        let holder = b.str()?.to_owned();
        let originator = b.str()?.to_owned();
        let origin_item = b.str()?.to_owned();
        let at_flag = b.position();
        let actual = match b.u8()? {
            0 => false,
            1 => true,
            tag => return Err(DecodeError::Tag { at: at_flag, tag }.into()),
        };
        let n = IncidentNotice {
            id,
            seq,
            kind,
            holder,
            originator,
            origin_item,
            actual,
            text: b.str()?.to_owned(),
            by: b.str()?.to_owned(),
            at: instant(&mut b)?,
        };
        b.finish()?;
        Ok(n)
    }

    /// Decodes and verifies with the signer's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<IncidentNotice, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Incident, body, &sig, key)?;
        Self::decode(bytes)
    }
}

/// An originator's written notice that one of its items is classified
/// anew (rule 8; Art 6), signed by the originator. It reaches every party
/// the item went to, directly or through the hub, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReclassificationNotice {
    /// The notice's id (made by the originator).
    pub id: String,
    /// The originator, which signs.
    pub originator: String,
    /// The originator's id of the item.
    pub origin_item: String,
    /// The notice's number for this item (1 for the first change).
    pub seq: u32,
    /// The new level, in the originator's policy.
    pub level: String,
    /// The level it replaces.
    pub previous: String,
    /// Why.
    pub reason: String,
    /// The person who changed it.
    pub by: String,
    /// When.
    pub at: Instant,
}

impl ReclassificationNotice {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(RECLASSIFICATION_TAG);
        w.str(&self.id)
            .str(&self.originator)
            .str(&self.origin_item)
            .u32(self.seq)
            .str(&self.level)
            .str(&self.previous)
            .str(&self.reason)
            .str(&self.by)
            .i64(self.at.0)
            .u32(self.at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Reclassification, &self.body(), key)
    }

    /// Decodes without verifying (to learn who claims to have signed).
    pub fn decode(bytes: &[u8]) -> Result<ReclassificationNotice, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(RECLASSIFICATION_TAG)?;
        let n = ReclassificationNotice {
            id: b.str()?.to_owned(),
            originator: b.str()?.to_owned(),
            origin_item: b.str()?.to_owned(),
            seq: b.u32()?,
            level: b.str()?.to_owned(),
            previous: b.str()?.to_owned(),
            reason: b.str()?.to_owned(),
            by: b.str()?.to_owned(),
            at: instant(&mut b)?,
        };
        b.finish()?;
        Ok(n)
    }

    /// Decodes and verifies with the originator's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<ReclassificationNotice, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Reclassification, body, &sig, key)?;
        Self::decode(bytes)
    }
}

/// A message about a visit (Art 8), signed by its sender: the visiting
/// party's request (purpose, the highest level that may be furnished, the
/// period), the host's approval or refusal, and each access the visitor
/// was given at the host, reported to the visiting party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitNotice {
    /// This message's id.
    pub id: String,
    /// The visit's id (made by the visiting party).
    pub visit: String,
    /// `request`, `approved`, `refused` or `access`.
    pub kind: String,
    /// The visiting party.
    pub visitor_party: String,
    /// The host party.
    pub host: String,
    /// The visitor, as the visiting party registers them.
    pub visitor: String,
    /// The visitor's name.
    pub visitor_name: String,
    /// The official purpose.
    pub purpose: String,
    /// The highest level that may be furnished, in the visiting party's policy.
    pub highest_level: String,
    /// The topics the visit concerns (need-to-know at the host).
    pub topics: Vec<String>,
    /// The first instant of the visit.
    pub from: Instant,
    /// The first instant after it.
    pub until: Instant,
    /// For an access: the item (the originator's id) and the outcome.
    pub item: String,
    /// A refusal's reason, an access's outcome, an approval's note.
    pub text: String,
    /// The person who sent it.
    pub by: String,
    /// When.
    pub at: Instant,
}

impl VisitNotice {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(VISIT_TAG);
        w.str(&self.id)
            .str(&self.visit)
            .str(&self.kind)
            .str(&self.visitor_party)
            .str(&self.host)
            .str(&self.visitor)
            .str(&self.visitor_name)
            .str(&self.purpose)
            .str(&self.highest_level)
            .count(self.topics.len());
        for t in &self.topics {
            w.str(t);
        }
        w.i64(self.from.0)
            .u32(self.from.1)
            .i64(self.until.0)
            .u32(self.until.1)
            .str(&self.item)
            .str(&self.text)
            .str(&self.by)
            .i64(self.at.0)
            .u32(self.at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Visit, &self.body(), key)
    }

    /// Decodes without verifying (to learn who claims to have signed).
    pub fn decode(bytes: &[u8]) -> Result<VisitNotice, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(VISIT_TAG)?;
        let id = b.str()?.to_owned();
        let visit = b.str()?.to_owned();
        let kind = b.str()?.to_owned();
        let visitor_party = b.str()?.to_owned();
        let host = b.str()?.to_owned();
        let visitor = b.str()?.to_owned();
        let visitor_name = b.str()?.to_owned();
        let purpose = b.str()?.to_owned();
        let highest_level = b.str()?.to_owned();
        let n = b.count(4)?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(b.str()?.to_owned());
        }
        let v = VisitNotice {
            id,
            visit,
            kind,
            visitor_party,
            host,
            visitor,
            visitor_name,
            purpose,
            highest_level,
            topics,
            from: instant(&mut b)?,
            until: instant(&mut b)?,
            item: b.str()?.to_owned(),
            text: b.str()?.to_owned(),
            by: b.str()?.to_owned(),
            at: instant(&mut b)?,
        };
        b.finish()?;
        Ok(v)
    }

    /// Decodes and verifies with the sender's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<VisitNotice, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Visit, body, &sig, key)?;
        Self::decode(bytes)
    }
}

fn seal(ctx: Context, body: &[u8], key: &SecretKey) -> Vec<u8> {
    crate::transfer::signed(ctx, body, key)
}

/// Splits a message into its body and signature without verifying.
fn split(bytes: &[u8]) -> Result<(&[u8], Signature), TransferError> {
    crate::transfer::split(bytes, MAX_MESSAGE)
}

fn verify(
    ctx: Context,
    body: &[u8],
    sig: &Signature,
    key: &PublicKey,
) -> Result<(), TransferError> {
    key.verify(ctx, body, sig)
        .map_err(|_| TransferError::Signature)
}

fn instant(r: &mut Reader<'_>) -> Result<Instant, DecodeError> {
    Ok((r.i64()?, r.u32()?))
}

impl AgreementEvent {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(EVENT_TAG);
        w.str(&self.id)
            .str(&self.agreement)
            .str(&self.kind)
            .i64(self.at.0)
            .u32(self.at.1)
            .str(&self.by)
            .u8(u8::from(self.written_diplomatic))
            .str(&self.summary);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::AgreementEvent, &self.body(), key)
    }

    /// Decodes without verifying (to learn the claimed actor).
    pub fn decode(bytes: &[u8]) -> Result<AgreementEvent, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(EVENT_TAG)?;
        let id = b.str()?.to_owned();
        let agreement = b.str()?.to_owned();
        let kind = b.str()?.to_owned();
        let at = instant(&mut b)?;
        let by = b.str()?.to_owned();
        let pos = b.position();
        let written_diplomatic = match b.u8()? {
            0 => false,
            1 => true,
            tag => return Err(DecodeError::Tag { at: pos, tag }.into()),
        };
        let summary = b.str()?.to_owned();
        b.finish()?;
        Ok(AgreementEvent {
            id,
            agreement,
            kind,
            at,
            by,
            written_diplomatic,
            summary,
        })
    }

    /// Decodes and verifies with the actor's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<AgreementEvent, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::AgreementEvent, body, &sig, key)?;
        Self::decode(bytes)
    }
}

impl ConsentGrant {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(CONSENT_TAG);
        w.str(&self.id)
            .str(&self.originator)
            .str(&self.holder)
            .str(&self.recipient);
        match &self.scope {
            Scope::Item(id) => {
                w.u8(0).str(id);
            }
            Scope::Topics(topics) => {
                w.u8(1).count(topics.len());
                for t in topics {
                    w.str(t);
                }
            }
        }
        w.i64(self.granted_at.0)
            .u32(self.granted_at.1)
            .i64(self.expires_at.0)
            .u32(self.expires_at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Consent, &self.body(), key)
    }

    /// Decodes without verifying (to learn the claimed originator).
    pub fn decode(bytes: &[u8]) -> Result<ConsentGrant, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(CONSENT_TAG)?;
        let id = b.str()?.to_owned();
        let originator = b.str()?.to_owned();
        let holder = b.str()?.to_owned();
        let recipient = b.str()?.to_owned();
        let pos = b.position();
        let scope = match b.u8()? {
            0 => Scope::Item(b.str()?.to_owned()),
            1 => {
                let n = b.count(4)?;
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    topics.push(b.str()?.to_owned());
                }
                Scope::Topics(topics)
            }
            tag => return Err(DecodeError::Tag { at: pos, tag }.into()),
        };
        let granted_at = instant(&mut b)?;
        let expires_at = instant(&mut b)?;
        b.finish()?;
        Ok(ConsentGrant {
            id,
            originator,
            holder,
            recipient,
            scope,
            granted_at,
            expires_at,
        })
    }

    /// Decodes and verifies with the originator's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<ConsentGrant, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Consent, body, &sig, key)?;
        Self::decode(bytes)
    }
}

impl ConsentRevocation {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::tagged(REVOCATION_TAG);
        w.str(&self.consent)
            .str(&self.originator)
            .i64(self.revoked_at.0)
            .u32(self.revoked_at.1);
        w.finish()
    }

    /// Signs and encodes.
    pub fn seal(&self, key: &SecretKey) -> Vec<u8> {
        seal(Context::Consent, &self.body(), key)
    }

    /// Decodes without verifying.
    pub fn decode(bytes: &[u8]) -> Result<ConsentRevocation, TransferError> {
        let (body, _) = split(bytes)?;
        let mut b = Reader::new(body, MAX_MESSAGE);
        b.expect_tag(REVOCATION_TAG)?;
        let consent = b.str()?.to_owned();
        let originator = b.str()?.to_owned();
        let revoked_at = instant(&mut b)?;
        b.finish()?;
        Ok(ConsentRevocation {
            consent,
            originator,
            revoked_at,
        })
    }

    /// Decodes and verifies with the originator's key.
    pub fn open(bytes: &[u8], key: &PublicKey) -> Result<ConsentRevocation, TransferError> {
        let (body, sig) = split(bytes)?;
        verify(Context::Consent, body, &sig, key)?;
        Self::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> ConsentGrant {
        ConsentGrant {
            id: "kor-c-1".into(),
            originator: "KOR".into(),
            holder: "USA".into(),
            recipient: "JPN".into(),
            scope: Scope::Topics(vec!["dprk.missile".into()]),
            granted_at: (1_700_000_000, 0),
            expires_at: (1_800_000_000, 0),
        }
    }

    #[test]
    fn each_message_verifies_only_as_itself_with_the_signers_key_and_unchanged() {
        let k = SecretKey::from_seed(&[7; 32]);
        let other = SecretKey::from_seed(&[8; 32]);
        let g = grant();
        let gb = g.seal(&k);
        assert_eq!(ConsentGrant::open(&gb, &k.public()).unwrap(), g);
        assert!(ConsentGrant::open(&gb, &other.public()).is_err());
        for i in 0..gb.len() {
            let mut t = gb.clone();
            t[i] ^= 1;
            assert!(ConsentGrant::open(&t, &k.public()).is_err(), "byte {i}");
        }
        let item = ConsentGrant {
            scope: Scope::Item("kor-1".into()),
            ..grant()
        };
        assert_eq!(
            ConsentGrant::open(&item.seal(&k), &k.public()).unwrap(),
            item
        );
        let r = ConsentRevocation {
            consent: "kor-c-1".into(),
            originator: "KOR".into(),
            revoked_at: (1_750_000_000, 1),
        };
        let rb = r.seal(&k);
        assert_eq!(ConsentRevocation::open(&rb, &k.public()).unwrap(), r);
        // Same context, other type: refused by the tag.
        assert!(ConsentGrant::open(&rb, &k.public()).is_err());
        assert!(ConsentRevocation::open(&gb, &k.public()).is_err());
        let e = AgreementEvent {
            id: "kor-e-1".into(),
            agreement: "jp-kr-2016".into(),
            kind: "notice".into(),
            at: (1_566_541_800, 0),
            by: "KOR".into(),
            written_diplomatic: true,
            summary: "notice".into(),
        };
        let eb = e.seal(&k);
        assert_eq!(AgreementEvent::open(&eb, &k.public()).unwrap(), e);
        assert!(AgreementEvent::open(&gb, &k.public()).is_err());
        assert!(ConsentGrant::open(&eb, &k.public()).is_err());
        let w = WarningUpdate {
            id: "kor-w-1".into(),
            originator: "KOR".into(),
            level: "군사II급비밀".into(),
            seq: 3,
            kind: "track".into(),
            lat: 39.5,
            lon: -0.0,
            alt_km: 120.25,
            at: (1_705_211_700, 5),
        };
        let wb = w.seal(&k);
        let back = WarningUpdate::open(&wb, &k.public()).unwrap();
        assert_eq!(back.lon.to_bits(), 0, "−0 travels as +0");
        assert_eq!(
            WarningUpdate {
                lon: 0.0,
                ..back.clone()
            },
            w
        );
        let n = ReclassificationNotice {
            id: "kor-r-1".into(),
            originator: "KOR".into(),
            origin_item: "kor-1".into(),
            seq: 2,
            level: "군사III급비밀".into(),
            previous: "군사II급비밀".into(),
            reason: "sources declassified".into(),
            by: "kor-officer".into(),
            at: (1_800_000_000, 9),
        };
        let nb = n.seal(&k);
        assert_eq!(ReclassificationNotice::open(&nb, &k.public()).unwrap(), n);
        assert!(ReclassificationNotice::open(&nb, &other.public()).is_err());
        assert!(ReclassificationNotice::open(&gb, &k.public()).is_err());
        for i in 0..nb.len() {
            let mut t = nb.clone();
            t[i] ^= 1;
            assert!(
                ReclassificationNotice::open(&t, &k.public()).is_err(),
                "byte {i}"
            );
        }
        let v = VisitNotice {
            id: "jpn-v-1".into(),
            visit: "jpn-v-1".into(),
            kind: "request".into(),
            visitor_party: "JPN".into(),
            host: "KOR".into(),
            visitor: "jpn-1".into(),
            visitor_name: "Sato".into(),
            purpose: "liaison on launch data".into(),
            highest_level: "極秘".into(),
            topics: vec!["dprk.missile".into(), "dprk.nuclear".into()],
            from: (1_800_000_000, 0),
            until: (1_800_086_400, 0),
            item: String::new(),
            text: String::new(),
            by: "jpn-2".into(),
            at: (1_799_000_000, 7),
        };
        let vb = v.seal(&k);
        assert_eq!(VisitNotice::open(&vb, &k.public()).unwrap(), v);
        assert!(VisitNotice::open(&vb, &other.public()).is_err());
        assert!(VisitNotice::open(&nb, &k.public()).is_err());
        for i in 0..vb.len() {
            let mut t = vb.clone();
            t[i] ^= 1;
            assert!(VisitNotice::open(&t, &k.public()).is_err(), "byte {i}");
        }
        assert!(WarningUpdate::open(&wb, &other.public()).is_err());
        assert!(WarningUpdate::open(&eb, &k.public()).is_err());
        for i in 0..wb.len() {
            let mut t = wb.clone();
            t[i] ^= 1;
            assert!(WarningUpdate::open(&t, &k.public()).is_err(), "byte {i}");
        }
    }
}
