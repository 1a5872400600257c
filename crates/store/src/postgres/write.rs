//! The PostgreSQL writer of one process: a task with its own connection
//! that commits every batch queued while the last transaction ran in one
//! transaction (group commit), each batch in a savepoint of its own when
//! the group as a whole fails, so a failing batch fails alone. Inside the
//! transaction the head row is locked first: the ledger's next index and
//! last leaf hash and the next list position come from it, and go back to
//! it before the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gsomia_ledger::entry::Record;
use gsomia_ledger::merkle::{Hash, leaf_hash};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement, Transaction};

use super::{db, hash32, index, int};
use crate::node::{Batch, Committed, StoreError, Tagged};

/// Batches committed together at most (a bound on one transaction).
const MAX_GROUP: usize = 256;

pub(super) type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// A unique or primary-key violation as `taken()`, any other error as a
/// database error.
fn unique_or(e: tokio_postgres::Error, taken: impl FnOnce() -> StoreError) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        taken()
    } else {
        db(e)
    }
}

/// The writer connection's prepared statements, by their text: each is
/// parsed once per connection, and a statement costs one round trip.
type Stmts = HashMap<String, Statement>;

/// `sql` prepared on this connection (once).
async fn prep(
    tx: &Transaction<'_>,
    st: &mut Stmts,
    sql: &str,
) -> Result<Statement, tokio_postgres::Error> {
    if let Some(s) = st.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql).await?;
    st.insert(sql.to_owned(), s.clone());
    Ok(s)
}

/// Runs prepared `sql` with `params`: the rows it changed.
async fn ex(
    tx: &Transaction<'_>,
    st: &mut Stmts,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let s = prep(tx, st, sql).await?;
    tx.execute(&s, params).await
}

/// The head row's position within the transaction.
#[derive(Debug, Clone, Copy)]
struct Seq {
    next: u64,
    prev: Hash,
    pos: i64,
}

impl Seq {
    fn take_pos(&mut self) -> i64 {
        let p = self.pos;
        self.pos += 1;
        p
    }
}

/// The writer task: a batch and every batch queued behind it, committed
/// together.
pub(super) async fn run(
    mut conn: Client,
    mut rx: mpsc::UnboundedReceiver<(Box<Batch>, Reply)>,
    commits: Arc<AtomicU64>,
) {
    let mut stmts = Stmts::new();
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<Box<Batch>>, Vec<Reply>) = group.into_iter().unzip();
        let (results, outcome) = commit_group(&mut conn, &mut stmts, &batches).await;
        if outcome.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        let mut results = results.into_iter();
        for reply in replies {
            let r = match (results.next(), &outcome) {
                // Its own refusal stands, whatever happened to the group.
                (Some(Err(e)), _) => Err(e),
                (Some(Ok(c)), Ok(())) => Ok(c),
                (Some(Ok(_)) | None, Err(e)) => {
                    Err(StoreError::Database(format!("group commit failed: {e}")))
                }
                (None, Ok(())) => Err(StoreError::Database("no result".into())),
            };
            let _ = reply.send(r);
        }
    }
}

/// One transaction for `batches`: all together, or (if any fails) each in
/// its own savepoint. Each batch's result, and the transaction's.
async fn commit_group(
    conn: &mut Client,
    st: &mut Stmts,
    batches: &[Box<Batch>],
) -> (Vec<Result<Committed, StoreError>>, Result<(), StoreError>) {
    let mut results = Vec::with_capacity(batches.len());
    let outcome = async {
        let tx = conn.transaction().await.map_err(db)?;
        let q = prep(
            &tx,
            st,
            "SELECT next_index, last_leaf, next_pos FROM ledger_head WHERE id = 1 FOR UPDATE",
        )
        .await
        .map_err(db)?;
        let head = tx.query_one(&q, &[]).await.map_err(db)?;
        let start = Seq {
            next: index(head.get(0))?,
            prev: hash32(head.get(1), "the head's leaf hash")?,
            pos: head.get(2),
        };
        let mut seq = start;
        tx.batch_execute("SAVEPOINT grouped").await.map_err(db)?;
        let mut all = Vec::with_capacity(batches.len());
        let mut together = Ok(());
        for b in batches {
            match apply(&tx, st, b, &mut seq).await {
                Ok(c) => all.push(c),
                Err(e) => {
                    together = Err(e);
                    break;
                }
            }
        }
        match together {
            Ok(()) => {
                tx.batch_execute("RELEASE grouped").await.map_err(db)?;
                results.extend(all.into_iter().map(Ok));
            }
            Err(e) if batches.len() == 1 => {
                tx.batch_execute("ROLLBACK TO grouped; RELEASE grouped")
                    .await
                    .map_err(db)?;
                results.push(Err(e));
                seq = start;
            }
            Err(_) => {
                tx.batch_execute("ROLLBACK TO grouped; RELEASE grouped")
                    .await
                    .map_err(db)?;
                seq = start;
                for b in batches {
                    tx.batch_execute("SAVEPOINT batch").await.map_err(db)?;
                    let before = seq;
                    let r = apply(&tx, st, b, &mut seq).await;
                    if r.is_ok() {
                        tx.batch_execute("RELEASE batch").await.map_err(db)?;
                    } else {
                        tx.batch_execute("ROLLBACK TO batch; RELEASE batch")
                            .await
                            .map_err(db)?;
                        seq = before;
                    }
                    results.push(r);
                }
            }
        }
        ex(
            &tx,
            st,
            "UPDATE ledger_head SET next_index = $1, last_leaf = $2, next_pos = $3 WHERE id = 1",
            &[&int(seq.next)?, &&seq.prev.0[..], &seq.pos],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
    .await;
    (results, outcome)
}

/// Indexes an item's topics (each once).
async fn topics(
    tx: &Transaction<'_>,
    st: &mut Stmts,
    item: &str,
    topics: &[String],
) -> Result<(), StoreError> {
    for t in topics {
        ex(
            tx,
            st,
            "INSERT INTO item_topic (item, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&item, t],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// A topic list as stored (topics never contain `,`).
fn need_to_know(p: &crate::node::Person) -> Result<String, StoreError> {
    if p.need_to_know.iter().any(|t| t.contains(',')) {
        return Err(StoreError::Corrupt(format!(
            "a topic id of `{}` contains `,`",
            p.id
        )));
    }
    Ok(p.need_to_know.join(","))
}

/// Writes one batch inside the open transaction; `seq` advances only on
/// success (the caller restores it otherwise).
async fn apply(
    tx: &Transaction<'_>,
    st: &mut Stmts,
    batch: &Batch,
    seq: &mut Seq,
) -> Result<Committed, StoreError> {
    // Every commit holds the head row: a destruction or return that
    // committed first (in any process) is seen here.
    for id in &batch.held {
        let q = prep(tx, st, "SELECT disposal IS NULL FROM item WHERE id = $1")
            .await
            .map_err(db)?;
        let held: Option<bool> = tx.query_opt(&q, &[id]).await.map_err(db)?.map(|r| r.get(0));
        if held != Some(true) {
            return Err(StoreError::Gone(id.clone()));
        }
    }
    for p in &batch.people {
        let ntk = need_to_know(p)?;
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO person (id, name, role, clearance, clearance_until, need_to_know, token_hash, \
             created_at, revoked_at, custody, facility, visit, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &p.id,
                &p.name,
                &p.role.as_str(),
                &p.clearance,
                &p.clearance_until,
                &ntk,
                &&p.token_hash[..],
                &p.created_at,
                &p.revoked_at,
                &p.custody,
                &p.facility,
                &p.visit,
                &pos,
            ],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Exists(p.id.clone())))?;
    }
    for p in &batch.person_updates {
        let ntk = need_to_know(p)?;
        let n = tx
            .execute(
                "UPDATE person SET name = $1, role = $2, clearance = $3, clearance_until = $4, need_to_know = $5, \
                 token_hash = $6, created_at = $7, revoked_at = $8, custody = $9, facility = $10, visit = $11 \
                 WHERE id = $12",
                &[
                    &p.name,
                    &p.role.as_str(),
                    &p.clearance,
                    &p.clearance_until,
                    &ntk,
                    &&p.token_hash[..],
                    &p.created_at,
                    &p.revoked_at,
                    &p.custody,
                    &p.facility,
                    &p.visit,
                    &p.id,
                ],
            )
            .await
            .map_err(|e| unique_or(e, || StoreError::Exists(p.id.clone())))?;
        if n == 0 {
            return Err(StoreError::Missing(p.id.clone()));
        }
    }
    for (table, id, tag) in &batch.backfill {
        let q = match table {
            Tagged::Item => {
                "UPDATE item SET custody = $1 WHERE id = $2 AND (custody IS NULL OR binding IS NULL)"
            }
            Tagged::Person => "UPDATE person SET custody = $1 WHERE id = $2 AND custody IS NULL",
            Tagged::Outbox => {
                "UPDATE outbox SET custody = $1 WHERE transfer = $2 AND custody IS NULL"
            }
        };
        ex(tx, st, q, &[tag, id]).await.map_err(db)?;
    }
    // Exactly once, across processes: a transfer id already received (or
    // twice in the batch) meets the primary key.
    for t in &batch.incoming {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO received_transfer (transfer, sender, item, received_at, pos) VALUES ($1, $2, $3, $4, $5)",
            &[&t.transfer, &t.sender, &t.item, &t.received_at, &pos],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Duplicate(t.transfer.clone())))?;
    }
    for i in &batch.items {
        let pos = seq.take_pos();
        let ix = i.index.as_ref();
        ex(tx, st,
            "INSERT INTO item (id, originator, sealed, label, equivalent_label, received_from, created_at, origin_item, \
             custody, binding, access_level, created_unix, lineage, disposal, source, dispose_by, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            &[
                &i.id,
                &i.originator,
                &i.sealed,
                &i.label,
                &i.equivalent_label,
                &i.received_from,
                &i.created_at,
                &i.origin_item,
                &i.custody,
                &i.binding,
                &ix.map(|x| x.access_level.as_str()),
                &ix.map(|x| x.created_unix),
                &i.lineage,
                &i.disposal,
                &ix.and_then(|x| x.source.as_deref()),
                &ix.and_then(|x| x.dispose_by),
                &pos,
            ],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Exists(i.id.clone())))?;
        if let Some(index) = ix {
            topics(tx, st, &i.id, &index.topics).await?;
        }
    }
    for (id, binding, index) in &batch.reindex {
        let n = tx
            .execute(
                "UPDATE item SET binding = $1, access_level = $2, created_unix = $3 WHERE id = $4 AND binding IS NULL",
                &[binding, &index.access_level, &index.created_unix, id],
            )
            .await
            .map_err(db)?;
        if n > 0 {
            topics(tx, st, id, &index.topics).await?;
        }
    }
    for w in &batch.warnings {
        let pos = seq.take_pos();
        ex(
            tx,
            st,
            "INSERT INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (flight, seq) DO NOTHING",
            &[
                &w.flight,
                &i64::from(w.seq),
                &w.bytes,
                &w.applied_at,
                &w.applied_unix,
                &w.level,
                &pos,
            ],
        )
        .await
        .map_err(db)?;
    }
    for (party, flight, s, at) in &batch.warnings_owed {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO warning_out (party, flight, seq, queued_at, pos) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (party, flight, seq) DO NOTHING",
            &[party, flight, &i64::from(*s), at, &pos],
        )
        .await
        .map_err(db)?;
    }
    for (party, flight, s, at) in &batch.warnings_taken {
        ex(tx, st,
            "UPDATE warning_out SET delivered_at = $1 WHERE party = $2 AND flight = $3 AND seq = $4 AND delivered_at IS NULL",
            &[at, party, flight, &i64::from(*s)],
        )
        .await
        .map_err(db)?;
    }
    for k in &batch.idempotent {
        ex(tx, st,
            "INSERT INTO idempotency (person, key, request, response, at) VALUES ($1, $2, $3, $4, $5)",
            &[&k.person, &k.key, &k.request, &k.response, &k.at],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Duplicate(k.key.clone())))?;
    }
    for o in &batch.outgoing {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO outbox (transfer, item, recipient, attempts, next_attempt_at, kind, queued_at, custody, \
             released_by, pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &o.transfer,
                &o.item,
                &o.recipient,
                &i64::from(o.attempts),
                &o.next_attempt_at,
                &o.kind.as_str(),
                &o.next_attempt_at,
                &o.custody,
                &o.released_by,
                &pos,
            ],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Exists(o.transfer.clone())))?;
        ex(
            tx,
            st,
            "INSERT INTO outbox_envelope (transfer, envelope) VALUES ($1, $2)",
            &[&o.transfer, &o.envelope],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Exists(o.transfer.clone())))?;
    }
    for m in &batch.messages {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO message (kind, id, party, body, stored_at, pos) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&m.kind.as_str(), &m.id, &m.party, &m.body, &m.stored_at, &pos],
        )
        .await
        .map_err(|e| unique_or(e, || StoreError::Duplicate(m.id.clone())))?;
    }
    for (transfer, at, why) in &batch.failed {
        ex(tx, st,
            "UPDATE outbox SET failed_at = $1, failure = $2 WHERE transfer = $3 AND delivered_at IS NULL",
            &[at, why, transfer],
        )
        .await
        .map_err(db)?;
    }
    for (transfer, at, receipt) in &batch.delivered {
        ex(tx, st,
            "UPDATE outbox SET delivered_at = $1, receipt = $2 WHERE transfer = $3 AND delivered_at IS NULL",
            &[at, receipt, transfer],
        )
        .await
        .map_err(db)?;
    }
    for i in &batch.relabelled {
        let n = tx
            .execute(
                "UPDATE item SET sealed = $1, label = $2, equivalent_label = $3, binding = $4, custody = $5, \
                 lineage = $6, access_level = COALESCE($7, access_level) WHERE id = $8 AND disposal IS NULL",
                &[
                    &i.sealed,
                    &i.label,
                    &i.equivalent_label,
                    &i.binding,
                    &i.custody,
                    &i.lineage,
                    &i.index.as_ref().map(|x| x.access_level.as_str()),
                    &i.id,
                ],
            )
            .await
            .map_err(db)?;
        if n != 1 {
            return Err(StoreError::Gone(i.id.clone()));
        }
    }
    for d in &batch.disposals {
        // Erased from the live row; the old row version lingers until
        // vacuum reclaims it (`Store::scrub` rewrites the table).
        let n = tx
            .execute(
                "UPDATE item SET sealed = ''::bytea, disposal = $1, custody = $2, disposed_unix = $3 \
                 WHERE id = $4 AND disposal IS NULL",
                &[&d.disposal, &d.custody, &d.at_unix, &d.id],
            )
            .await
            .map_err(db)?;
        if n != 1 {
            return Err(StoreError::Gone(d.id.clone()));
        }
    }
    for r in &batch.returns {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO item_return (transfer, item, requested_by, requested_at, pos) VALUES ($1, $2, $3, $4, $5)",
            &[&r.transfer, &r.item, &r.requested_by, &r.requested_at, &pos],
        )
        .await
        .map_err(|e| {
            unique_or(e, || {
                StoreError::Exists(format!("an open return of item {}", r.item))
            })
        })?;
    }
    for (transfer, at) in &batch.returns_closed {
        ex(
            tx,
            st,
            "UPDATE item_return SET done_at = $1 WHERE transfer = $2 AND done_at IS NULL",
            &[at, transfer],
        )
        .await
        .map_err(db)?;
    }
    for r in &batch.facility_records {
        ex(tx, st,
            "INSERT INTO facility_record (facility, seq, body, at, custody) VALUES ($1, $2, $3, $4, $5)",
            &[&r.facility, &i64::from(r.seq), &r.body, &r.at, &r.custody],
        )
        .await
        .map_err(|e| {
            unique_or(e, || {
                StoreError::Duplicate(format!("{} #{}", r.facility, r.seq))
            })
        })?;
    }
    for m in &batch.incidents {
        let pos = seq.take_pos();
        ex(tx, st,
            "INSERT INTO incident_message (incident, seq, direction, party, item, bytes, at, acked_at, ack, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &m.incident,
                &i64::from(m.seq),
                &if m.sent { "sent" } else { "received" },
                &m.party,
                &m.item,
                &m.bytes,
                &m.at,
                &m.acked_at,
                &m.ack,
                &pos,
            ],
        )
        .await
        .map_err(|e| {
            unique_or(e, || {
                StoreError::Duplicate(format!("{} #{}", m.incident, m.seq))
            })
        })?;
    }
    for (incident, s, at, ack) in &batch.incidents_acked {
        ex(
            tx,
            st,
            "UPDATE incident_message SET acked_at = $1, ack = $2 \
             WHERE incident = $3 AND seq = $4 AND direction = 'sent' AND acked_at IS NULL",
            &[at, ack, incident, &i64::from(*s)],
        )
        .await
        .map_err(db)?;
    }
    for (incident, s, at, why) in &batch.incidents_refused {
        ex(tx, st,
            "UPDATE incident_message SET failed_at = $1, failure = $2 \
             WHERE incident = $3 AND seq = $4 AND direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL",
            &[at, why, incident, &i64::from(*s)],
        )
        .await
        .map_err(db)?;
    }
    // The ledger records, chained from the head, in one statement.
    let first_index = seq.next;
    let mut at = *seq;
    let n = batch.entries.len();
    let (mut idx, mut leaves, mut records, mut subjects) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for entry in &batch.entries {
        let bytes = Record {
            index: at.next,
            prev: at.prev,
            entry: entry.clone(),
        }
        .to_bytes();
        let leaf = leaf_hash(&bytes);
        idx.push(int(at.next)?);
        leaves.push(leaf.0.to_vec());
        records.push(bytes);
        subjects.push(entry.item().map(str::to_owned));
        at.next += 1;
        at.prev = leaf;
    }
    if n > 0 {
        ex(
            tx,
            st,
            "INSERT INTO ledger_record (idx, leaf_hash, record, subject) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[], $4::TEXT[])",
            &[&idx, &leaves, &records, &subjects],
        )
        .await
        .map_err(db)?;
    }
    *seq = at;
    Ok(Committed {
        first_index,
        size: at.next,
    })
}
