//! What the peer endpoint refuses, and how a refusal is recorded: every
//! refusal of a partner's message is ledgered (`transfer_refused`, with the
//! reason) before it is answered, so both sides can later show why.

use crate::error::{Class, Classified};
use crate::node::Node;
use gsomia_ledger::entry::Kind;

/// Why a partner's message was refused.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    /// Bytes that are not the message they claim to be.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// A message signed in another party's name than the connection's.
    #[error("{what} claims to be from {claimed} but the connection is from {peer}")]
    NotFromPeer {
        /// What kind of message.
        what: &'static str,
        /// The party it names.
        claimed: String,
        /// The party the connection proved to be.
        peer: String,
    },
    /// An envelope sent in another party's name than the connection's.
    #[error("envelope claims sender {claimed} but the connection is from {peer}")]
    WrongSender {
        /// The party it names.
        claimed: String,
        /// The party the connection proved to be.
        peer: String,
    },
    /// A consent for another holder than this party.
    #[error("consent is for {holder} to hold, not {me}")]
    NotHolder {
        /// The holder it names.
        holder: String,
        /// This party.
        me: String,
    },
    /// The connection's party is not a partner (any more).
    #[error("{0} is not a partner")]
    NotPartner(String),
    /// A signature that does not verify with the partner's key.
    #[error("{what} signature: {detail}")]
    Signature {
        /// What was signed.
        what: &'static str,
        /// What the verifier said.
        detail: String,
    },
    /// A message for another party.
    #[error("{what} is for {to}, not {me}")]
    NotForUs {
        /// What kind of message.
        what: &'static str,
        /// Whom it names.
        to: String,
        /// This party.
        me: String,
    },
    /// The sender's instant too far from this node's clock.
    #[error("sender's instant {sent} is {skew}s from ours (at most {max}s)")]
    Skew {
        /// The sender's instant.
        sent: String,
        /// The difference in seconds.
        skew: u64,
        /// The most allowed.
        max: u64,
    },
    /// A sealed item that does not open or verify.
    #[error("sealed item: {0}")]
    Sealed(#[from] gsomia_seal::item::OpenError),
    /// A label that does not resolve here.
    #[error("label: {0}")]
    Label(#[from] crate::labels::LabelError),
    /// A consent carried or sent that does not hold.
    #[error("consent: {0}")]
    Consent(String),
    /// The release, decided again here, is not allowed (the engine's reasons).
    #[error("not allowed here: {}", .0.join(" | "))]
    NotAllowed(Vec<String>),
    /// Sent under another agreement than the one that applies here.
    #[error("sent under {sent} but {applies} applies here")]
    Agreement {
        /// The agreement the sender named.
        sent: String,
        /// The agreement this node found.
        applies: String,
    },
    /// An agreement event this node does not record (the engine's reason).
    #[error("{0}")]
    Event(String),
    /// A cosignature or checkpoint that does not verify.
    #[error("{0}")]
    Witness(String),
    /// Something failed here; the partner should try again.
    #[error("internal error")]
    Internal(String),
}

/// A refusal of message `id` (a transfer, event or consent id; `?` when
/// the bytes did not say), with its class and reason.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// The message refused.
    pub id: String,
    /// Why.
    pub reason: Reason,
}

impl Refusal {
    /// A refusal of `id`.
    pub fn new(id: &str, reason: Reason) -> Refusal {
        Refusal {
            id: id.to_owned(),
            reason,
        }
    }

    /// A refusal of a message whose id is not known.
    pub fn unnamed(reason: Reason) -> Refusal {
        Refusal::new("?", reason)
    }

    /// A failure here, for message `id`.
    pub fn internal(id: &str, e: impl std::fmt::Display) -> Refusal {
        Refusal::new(id, Reason::Internal(e.to_string()))
    }
}

impl Reason {
    /// Whether this refusal is a decision of the receiving party under the
    /// rules (the release is not allowed here, a label or consent that does
    /// not hold here, an event it does not record): final, never sent
    /// again. Everything else (a clock too far apart, a malformed or
    /// unverifiable message, a partner not configured yet, a failure here)
    /// may pass on a later attempt, so the sender keeps trying.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Reason::NotAllowed(_)
                | Reason::Label(_)
                | Reason::Consent(_)
                | Reason::NotHolder { .. }
                | Reason::Event(_)
        )
    }
}

/// The header a peer answer carries when its refusal is a decision
/// ([`Reason::is_decision`]): the sender stops retrying only then.
pub const DECISION_HEADER: &str = "gsomia-refusal";

impl Classified for Refusal {
    fn class(&self) -> Class {
        match self.reason {
            Reason::Malformed { .. } => Class::BadRequest,
            Reason::Internal(_) => Class::Internal,
            _ => Class::Forbidden,
        }
    }
}

/// Ledgers a refusal of a message from `sender` (internal failures are
/// logged, not ledgered: nothing was decided). Returns whether it was
/// recorded; a failure to record is logged and the caller answers 500.
pub async fn record(node: &Node, sender: &str, r: &Refusal) -> bool {
    if let Reason::Internal(detail) = &r.reason {
        tracing::error!(partner = sender, message = %r.id, %detail, "peer request failed");
        return true;
    }
    tracing::warn!(partner = sender, message = %r.id, reason = %r.reason, "refused");
    node.metrics().transfer(sender, "refused", 1);
    match node
        .record(
            Kind::TransferRefused,
            None,
            vec![
                ("sender", sender.to_owned()),
                ("transfer", r.id.clone()),
                ("reasons", r.reason.to_string()),
            ],
        )
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %crate::error::chain(&e), "cannot ledger a refusal");
            false
        }
    }
}
