//! A node's ledger read back from its database for verification, with the
//! partners' cosignatures of its checkpoints, each verified: what `gsomia
//! ledger verify|status --dir NODE` reports, with the node running or not.

use gsomia_ledger::entry::{Record, frame};
use gsomia_ledger::note::{Note, Verifier};
use gsomia_store::StoreError;

use crate::keys::KeyError;
use crate::partner::PartnerError;
use crate::settings::Settings;

/// Why a node's ledger could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The node's identity.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A partner file.
    #[error(transparent)]
    Partner(#[from] PartnerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record that does not decode.
    #[error("ledger record {index} does not decode: {what}")]
    Record {
        /// Its index.
        index: u64,
        /// What is wrong.
        what: String,
    },
}

/// A node's ledger as the verifier takes it.
#[derive(Debug, Clone)]
pub struct NodeLedger {
    /// The log's key, named.
    pub key: Verifier,
    /// The framed records.
    pub log: Vec<u8>,
    /// Checkpoint notes: (name, text).
    pub checkpoints: Vec<(String, String)>,
}

/// Reads a node's ledger back from its database: every record framed, and
/// its latest checkpoint.
pub async fn read_ledger(settings: &Settings) -> Result<NodeLedger, AuditError> {
    let key = crate::keys::read_identity(&settings.keys)?.verifier;
    let store = settings.open_store().await?;
    let size = store.ledger_size().await?;
    let mut log = Vec::new();
    for (i, (_, bytes)) in store.records(0, size).await?.iter().enumerate() {
        let r = Record::from_bytes(bytes).map_err(|e| AuditError::Record {
            index: i as u64,
            what: e.to_string(),
        })?;
        log.extend_from_slice(&frame(&r));
    }
    let checkpoints = store
        .latest_checkpoint()
        .await?
        .map(|(size, note)| (format!("checkpoint {size}"), note))
        .into_iter()
        .collect();
    Ok(NodeLedger {
        key,
        log,
        checkpoints,
    })
}

/// A partner's latest cosignature of this node's checkpoints.
#[derive(Debug, Clone)]
pub struct Cosignature {
    /// The partner.
    pub party: String,
    /// Its largest cosigned checkpoint: size, when kept, and whether both
    /// signatures (the node's and the partner's) verify, or why not.
    pub latest: Option<(u64, String, Result<(), String>)>,
}

/// Every partner's latest cosignature, each verified with the node's key
/// and the partner's.
pub async fn cosignatures(
    settings: &Settings,
    key: &Verifier,
) -> Result<Vec<Cosignature>, AuditError> {
    let partners = crate::partner::load(&settings.partners_dir())?;
    let store = settings.open_store().await?;
    let cosigned = store.cosignatures().await?;
    Ok(partners
        .iter()
        .map(|p| {
            // Latest first: the first one of this partner's is its largest.
            let latest = cosigned.iter().find(|(_, who, _, _)| *who == p.party).map(
                |(size, _, note, at)| {
                    let ok = Note::parse(note).map_err(|e| e.to_string()).and_then(|n| {
                        key.verify_checkpoint(&n).map_err(|e| e.to_string())?;
                        p.verifier
                            .verify_cosignature(&n)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    });
                    (*size, at.clone(), ok)
                },
            );
            Cosignature {
                party: p.party.clone(),
                latest,
            }
        })
        .collect())
}
