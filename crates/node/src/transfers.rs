//! What became of what this node sent: each transfer (and agreement event,
//! consent, revocation) queued for a partner, as its sender shows it —
//! queued, sending (attempts, the last error, the next attempt), delivered
//! (with the partner's receipt checkpoint) or refused (with the partner's
//! reasons). Security officers and auditors see every one; an officer sees
//! the transfers they released.

use gsomia_api::{TransferFilter, TransferList, TransferState, TransferView};
use gsomia_store::{MessageKind, Person, Role, StoreError, TransferQuery, TransferRow};
use jiff::Timestamp;

use crate::error::{Class, Classified};
use crate::node::Node;

/// Why a transfer request failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A filter or cursor that does not hold.
    #[error("{0}")]
    Invalid(String),
    /// No such transfer, or not one the caller may see.
    #[error("no such transfer")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classified for TransferError {
    fn class(&self) -> Class {
        match self {
            TransferError::Invalid(_) => Class::BadRequest,
            TransferError::NotFound => Class::NotFound,
            TransferError::Store(_) => Class::Internal,
        }
    }
}

/// Whether `p` sees every transfer (not only their own releases).
fn sees_all(p: &Person) -> bool {
    matches!(p.role, Role::SecurityOfficer | Role::Auditor)
}

fn instant(unix: i64) -> String {
    Timestamp::from_second(unix).map_or_else(|_| unix.to_string(), |t| t.to_string())
}

/// A stored row as the API shows it, at `now`.
pub fn view(row: TransferRow, now: Timestamp) -> TransferView {
    let state = match row.state() {
        gsomia_store::TransferState::Queued => TransferState::Queued,
        gsomia_store::TransferState::Sending => TransferState::Sending,
        gsomia_store::TransferState::Delivered => TransferState::Delivered,
        gsomia_store::TransferState::Refused => TransferState::Refused,
    };
    let ended = row
        .delivered_at
        .as_deref()
        .or(row.failed_at.as_deref())
        .and_then(|t| gsomia_core::time::parse_instant(t).ok())
        .unwrap_or(now);
    let open = matches!(state, TransferState::Queued | TransferState::Sending);
    TransferView {
        transfer: row.transfer,
        kind: row.kind.as_str().to_owned(),
        item: row.item,
        recipient: row.recipient,
        state,
        released_by: row.released_by,
        queued_at: instant(row.queued_at),
        age_seconds: ended.as_second().saturating_sub(row.queued_at).max(0),
        attempts: row.attempts,
        next_attempt_at: open.then(|| instant(row.next_attempt_at)),
        last_error: row.last_error,
        delivered_at: row.delivered_at,
        receipt_checkpoint: row.receipt,
        refused_at: row.failed_at,
        reasons: row.failure,
    }
}

/// A page of the transfers `person` may see, oldest first.
pub async fn list(
    node: &Node,
    person: &Person,
    filter: &TransferFilter,
) -> Result<TransferList, TransferError> {
    let limit = crate::pages::limit(filter.limit).map_err(TransferError::Invalid)?;
    let after = crate::pages::cursor(&filter.next).map_err(TransferError::Invalid)?;
    fn given<'a>(v: &'a Option<String>, name: &str) -> Result<Option<&'a str>, TransferError> {
        crate::pages::param(v, name).map_err(TransferError::Invalid)
    }
    let state = given(&filter.state, "state")?
        .map(|s| match s {
            "queued" => Ok(gsomia_store::TransferState::Queued),
            "sending" => Ok(gsomia_store::TransferState::Sending),
            "delivered" => Ok(gsomia_store::TransferState::Delivered),
            "refused" => Ok(gsomia_store::TransferState::Refused),
            other => Err(TransferError::Invalid(format!(
                "`state={other}`: one of queued, sending, delivered, refused"
            ))),
        })
        .transpose()?;
    let q = TransferQuery {
        after,
        limit,
        released_by: (!sees_all(person)).then(|| person.id.clone()),
        state,
        recipient: match given(&filter.recipient, "recipient")? {
            None => None,
            Some(r) => {
                let reg = node.registry();
                Some(
                    reg.party(r)
                        .map(|p| reg.party_id(p).to_owned())
                        .map_err(|e| TransferError::Invalid(e.to_string()))?,
                )
            }
        },
        item: given(&filter.item, "item")?.map(str::to_owned),
    };
    let rows = node.store().transfers_page(&q).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.position.to_string()))
        .flatten();
    let now = node.now();
    Ok(TransferList {
        transfers: rows.into_iter().map(|r| view(r, now)).collect(),
        next,
    })
}

/// One transfer, if `person` may see it.
pub async fn show(node: &Node, person: &Person, id: &str) -> Result<TransferView, TransferError> {
    match node.store().transfer(id).await? {
        Some(row)
            if sees_all(person)
                || (row.kind == MessageKind::Transfer
                    && row.released_by.as_deref() == Some(person.id.as_str())) =>
        {
            Ok(view(row, node.now()))
        }
        _ => Err(TransferError::NotFound),
    }
}
