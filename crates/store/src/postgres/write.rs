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
    owner: Arc<str>,
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
        let (results, outcome) = commit_group(&mut conn, &mut stmts, &owner, &batches).await;
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

const HEAD: &str =
    "SELECT next_index, last_leaf, next_pos FROM ledger_head WHERE id = 1 FOR UPDATE";
const MOVE_HEAD: &str =
    "UPDATE ledger_head SET next_index = $1, last_leaf = $2, next_pos = $3 WHERE id = 1";

/// Locks the head row for the transaction: where the next records and
/// positions go.
async fn head(tx: &Transaction<'_>, st: &mut Stmts) -> Result<Seq, StoreError> {
    let q = prep(tx, st, HEAD).await.map_err(db)?;
    let head = tx.query_one(&q, &[]).await.map_err(db)?;
    Ok(Seq {
        next: index(head.get(0))?,
        prev: hash32(head.get(1), "the head's leaf hash")?,
        pos: head.get(2),
    })
}

fn move_head(seq: &Seq) -> Result<Op, StoreError> {
    Ok(op(
        MOVE_HEAD,
        vec![p(int(seq.next)?), p(seq.prev.0.to_vec()), p(seq.pos)],
        Expect::One(StoreError::Corrupt("no ledger head row".into())),
    ))
}

/// One transaction for `batches`, all together: the head locked, every
/// statement and the head's move sent pipelined, the commit. If any batch
/// fails, the transaction is rolled back and the batches are committed
/// again one by one ([`one_by_one`]), so a failing batch fails alone. Each
/// batch's result, and the transaction's.
async fn commit_group(
    conn: &mut Client,
    st: &mut Stmts,
    owner: &str,
    batches: &[Box<Batch>],
) -> (Vec<Result<Committed, StoreError>>, Result<(), StoreError>) {
    let together = async {
        let tx = conn.transaction().await.map_err(db)?;
        let mut seq = head(&tx, st).await?;
        let mut ops = Vec::new();
        let mut all = Vec::with_capacity(batches.len());
        for b in batches {
            all.push(plan(b, owner, &mut seq, &mut ops)?);
        }
        ops.push(move_head(&seq)?);
        run_ops(&tx, st, ops).await?;
        tx.commit().await.map_err(db)?;
        Ok::<_, StoreError>(all)
    }
    .await;
    match together {
        Ok(all) => (all.into_iter().map(Ok).collect(), Ok(())),
        // Alone, its own failure is its answer (nothing was committed).
        Err(e) if batches.len() == 1 => (
            vec![Err(e)],
            Err(StoreError::Database("rolled back".into())),
        ),
        Err(_) => one_by_one(conn, st, owner, batches).await,
    }
}

/// One transaction for `batches`, each in a savepoint of its own.
async fn one_by_one(
    conn: &mut Client,
    st: &mut Stmts,
    owner: &str,
    batches: &[Box<Batch>],
) -> (Vec<Result<Committed, StoreError>>, Result<(), StoreError>) {
    let mut results = Vec::with_capacity(batches.len());
    let outcome = async {
        let tx = conn.transaction().await.map_err(db)?;
        let mut seq = head(&tx, st).await?;
        for b in batches {
            tx.batch_execute("SAVEPOINT batch").await.map_err(db)?;
            let mut ops = Vec::new();
            let mut planned = seq;
            let r = match plan(b, owner, &mut planned, &mut ops) {
                Ok(c) => run_ops(&tx, st, ops).await.map(|()| c),
                Err(e) => Err(e),
            };
            if r.is_ok() {
                tx.batch_execute("RELEASE batch").await.map_err(db)?;
                seq = planned;
            } else {
                tx.batch_execute("ROLLBACK TO batch; RELEASE batch")
                    .await
                    .map_err(db)?;
            }
            results.push(r);
        }
        run_ops(&tx, st, vec![move_head(&seq)?]).await?;
        tx.commit().await.map_err(db)
    }
    .await;
    (results, outcome)
}

/// What a statement's outcome must be, and the batch's error if not.
enum Expect {
    /// Anything.
    Any,
    /// A unique-key violation is this error (else it succeeds).
    Unique(StoreError),
    /// It changes (or finds) at least one row, else this error.
    Some(StoreError),
    /// It changes (or finds) exactly one row, else this error.
    One(StoreError),
}

/// A parameter, owned (the batch's statements are planned before any runs).
type Param = Box<dyn ToSql + Sync + Send>;

/// One statement of a batch.
struct Op {
    sql: &'static str,
    params: Vec<Param>,
    expect: Expect,
}

fn op(sql: &'static str, params: Vec<Param>, expect: Expect) -> Op {
    Op {
        sql,
        params,
        expect,
    }
}

fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

/// A topic list as stored (topics never contain `,`).
fn need_to_know(person: &crate::node::Person) -> Result<String, StoreError> {
    if person.need_to_know.iter().any(|t| t.contains(',')) {
        return Err(StoreError::Corrupt(format!(
            "a topic id of `{}` contains `,`",
            person.id
        )));
    }
    Ok(person.need_to_know.join(","))
}

const TOPIC: &str = "INSERT INTO item_topic (item, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// The statements of one batch, in order, with the head advanced past
/// its list positions and ledger records. `owner`: this process, the only
/// one whose receipts and refusals of the outbox rows it has claimed count.
fn plan(
    batch: &Batch,
    owner: &str,
    seq: &mut Seq,
    ops: &mut Vec<Op>,
) -> Result<Committed, StoreError> {
    // Every commit holds the head row: a destruction or return that
    // committed first (in any process) is seen here.
    for id in &batch.held {
        ops.push(op(
            "SELECT 1 FROM item WHERE id = $1 AND disposal IS NULL",
            vec![p(id.clone())],
            Expect::One(StoreError::Gone(id.clone())),
        ));
    }
    for person in &batch.people {
        ops.push(op(
            "INSERT INTO person (id, name, role, clearance, clearance_until, need_to_know, token_hash, \
             created_at, revoked_at, custody, facility, visit, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            vec![
                p(person.id.clone()),
                p(person.name.clone()),
                p(person.role.as_str()),
                p(person.clearance.clone()),
                p(person.clearance_until.clone()),
                p(need_to_know(person)?),
                p(person.token_hash.to_vec()),
                p(person.created_at.clone()),
                p(person.revoked_at.clone()),
                p(person.custody.clone()),
                p(person.facility.clone()),
                p(person.visit.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(person.id.clone())),
        ));
    }
    for person in &batch.person_updates {
        ops.push(op(
            "UPDATE person SET name = $1, role = $2, clearance = $3, clearance_until = $4, need_to_know = $5, \
             token_hash = $6, created_at = $7, revoked_at = $8, custody = $9, facility = $10, visit = $11 \
             WHERE id = $12",
            vec![
                p(person.name.clone()),
                p(person.role.as_str()),
                p(person.clearance.clone()),
                p(person.clearance_until.clone()),
                p(need_to_know(person)?),
                p(person.token_hash.to_vec()),
                p(person.created_at.clone()),
                p(person.revoked_at.clone()),
                p(person.custody.clone()),
                p(person.facility.clone()),
                p(person.visit.clone()),
                p(person.id.clone()),
            ],
            Expect::Some(StoreError::Missing(person.id.clone())),
        ));
    }
    for (table, id, tag) in &batch.backfill {
        let sql = match table {
            Tagged::Item => {
                "UPDATE item SET custody = $1 WHERE id = $2 AND (custody IS NULL OR binding IS NULL)"
            }
            Tagged::Person => "UPDATE person SET custody = $1 WHERE id = $2 AND custody IS NULL",
            Tagged::Outbox => {
                "UPDATE outbox SET custody = $1 WHERE transfer = $2 AND custody IS NULL"
            }
        };
        ops.push(op(sql, vec![p(tag.clone()), p(id.clone())], Expect::Any));
    }
    // Exactly once, across processes: a transfer id already received (or
    // twice in the batch) meets the primary key.
    for t in &batch.incoming {
        ops.push(op(
            "INSERT INTO received_transfer (transfer, sender, item, received_at, pos) VALUES ($1, $2, $3, $4, $5)",
            vec![
                p(t.transfer.clone()),
                p(t.sender.clone()),
                p(t.item.clone()),
                p(t.received_at.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Duplicate(t.transfer.clone())),
        ));
    }
    for i in &batch.items {
        let ix = i.index.as_ref();
        ops.push(op(
            "INSERT INTO item (id, originator, sealed, label, equivalent_label, received_from, created_at, origin_item, \
             custody, binding, access_level, created_unix, lineage, disposal, source, dispose_by, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            vec![
                p(i.id.clone()),
                p(i.originator.clone()),
                p(i.sealed.clone()),
                p(i.label.clone()),
                p(i.equivalent_label.clone()),
                p(i.received_from.clone()),
                p(i.created_at.clone()),
                p(i.origin_item.clone()),
                p(i.custody.clone()),
                p(i.binding.clone()),
                p(ix.map(|x| x.access_level.clone())),
                p(ix.map(|x| x.created_unix)),
                p(i.lineage.clone()),
                p(i.disposal.clone()),
                p(ix.and_then(|x| x.source.clone())),
                p(ix.and_then(|x| x.dispose_by)),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(i.id.clone())),
        ));
        for t in ix.map(|x| x.topics.as_slice()).unwrap_or_default() {
            ops.push(op(TOPIC, vec![p(i.id.clone()), p(t.clone())], Expect::Any));
        }
    }
    for (id, binding, index) in &batch.reindex {
        ops.push(op(
            "UPDATE item SET binding = $1, access_level = $2, created_unix = $3 WHERE id = $4 AND binding IS NULL",
            vec![
                p(binding.clone()),
                p(index.access_level.clone()),
                p(index.created_unix),
                p(id.clone()),
            ],
            Expect::Any,
        ));
        // An item indexed before keeps the same topics (its label's).
        for t in &index.topics {
            ops.push(op(TOPIC, vec![p(id.clone()), p(t.clone())], Expect::Any));
        }
    }
    for w in &batch.warnings {
        ops.push(op(
            "INSERT INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (flight, seq) DO NOTHING",
            vec![
                p(w.flight.clone()),
                p(i64::from(w.seq)),
                p(w.bytes.clone()),
                p(w.applied_at.clone()),
                p(w.applied_unix),
                p(w.level.clone()),
                p(seq.take_pos()),
            ],
            Expect::Any,
        ));
    }
    for (party, flight, s, at) in &batch.warnings_owed {
        ops.push(op(
            "INSERT INTO warning_out (party, flight, seq, queued_at, pos) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (party, flight, seq) DO NOTHING",
            vec![
                p(party.clone()),
                p(flight.clone()),
                p(i64::from(*s)),
                p(at.clone()),
                p(seq.take_pos()),
            ],
            Expect::Any,
        ));
    }
    for (party, flight, s, at) in &batch.warnings_taken {
        ops.push(op(
            "UPDATE warning_out SET delivered_at = $1 WHERE party = $2 AND flight = $3 AND seq = $4 AND delivered_at IS NULL",
            vec![p(at.clone()), p(party.clone()), p(flight.clone()), p(i64::from(*s))],
            Expect::Any,
        ));
    }
    for k in &batch.idempotent {
        ops.push(op(
            "INSERT INTO idempotency (person, key, request, response, at) VALUES ($1, $2, $3, $4, $5)",
            vec![
                p(k.person.clone()),
                p(k.key.clone()),
                p(k.request.clone()),
                p(k.response.clone()),
                p(k.at.clone()),
            ],
            Expect::Unique(StoreError::Duplicate(k.key.clone())),
        ));
    }
    for o in &batch.outgoing {
        ops.push(op(
            "INSERT INTO outbox (transfer, item, recipient, attempts, next_attempt_at, kind, queued_at, custody, \
             released_by, pos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
                p(o.transfer.clone()),
                p(o.item.clone()),
                p(o.recipient.clone()),
                p(i64::from(o.attempts)),
                p(o.next_attempt_at),
                p(o.kind.as_str()),
                p(o.next_attempt_at),
                p(o.custody.clone()),
                p(o.released_by.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(o.transfer.clone())),
        ));
        ops.push(op(
            "INSERT INTO outbox_envelope (transfer, envelope) VALUES ($1, $2)",
            vec![p(o.transfer.clone()), p(o.envelope.clone())],
            Expect::Unique(StoreError::Exists(o.transfer.clone())),
        ));
    }
    for m in &batch.messages {
        ops.push(op(
            "INSERT INTO message (kind, id, party, body, stored_at, pos) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                p(m.kind.as_str()),
                p(m.id.clone()),
                p(m.party.clone()),
                p(m.body.clone()),
                p(m.stored_at.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Duplicate(m.id.clone())),
        ));
    }
    for (transfer, at, why) in &batch.failed {
        ops.push(op(
            "UPDATE outbox SET failed_at = $1, failure = $2 WHERE transfer = $3 AND delivered_at IS NULL \
             AND (lease_owner IS NULL OR lease_owner = $4)",
            vec![
                p(at.clone()),
                p(why.clone()),
                p(transfer.clone()),
                p(owner.to_owned()),
            ],
            Expect::Any,
        ));
    }
    for (transfer, at, receipt) in &batch.delivered {
        ops.push(op(
            "UPDATE outbox SET delivered_at = $1, receipt = $2 WHERE transfer = $3 AND delivered_at IS NULL \
             AND (lease_owner IS NULL OR lease_owner = $4)",
            vec![
                p(at.clone()),
                p(receipt.clone()),
                p(transfer.clone()),
                p(owner.to_owned()),
            ],
            Expect::Any,
        ));
    }
    for i in &batch.relabelled {
        ops.push(op(
            "UPDATE item SET sealed = $1, label = $2, equivalent_label = $3, binding = $4, custody = $5, \
             lineage = $6, access_level = COALESCE($7, access_level) WHERE id = $8 AND disposal IS NULL",
            vec![
                p(i.sealed.clone()),
                p(i.label.clone()),
                p(i.equivalent_label.clone()),
                p(i.binding.clone()),
                p(i.custody.clone()),
                p(i.lineage.clone()),
                p(i.index.as_ref().map(|x| x.access_level.clone())),
                p(i.id.clone()),
            ],
            Expect::One(StoreError::Gone(i.id.clone())),
        ));
    }
    for d in &batch.disposals {
        // Erased from the live row; the old row version lingers until
        // vacuum reclaims it (`Store::scrub` rewrites the table).
        ops.push(op(
            "UPDATE item SET sealed = ''::bytea, disposal = $1, custody = $2, disposed_unix = $3 \
             WHERE id = $4 AND disposal IS NULL",
            vec![
                p(d.disposal.clone()),
                p(d.custody.clone()),
                p(d.at_unix),
                p(d.id.clone()),
            ],
            Expect::One(StoreError::Gone(d.id.clone())),
        ));
    }
    for r in &batch.returns {
        ops.push(op(
            "INSERT INTO item_return (transfer, item, requested_by, requested_at, pos) VALUES ($1, $2, $3, $4, $5)",
            vec![
                p(r.transfer.clone()),
                p(r.item.clone()),
                p(r.requested_by.clone()),
                p(r.requested_at.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(format!(
                "an open return of item {}",
                r.item
            ))),
        ));
    }
    for (transfer, at) in &batch.returns_closed {
        ops.push(op(
            "UPDATE item_return SET done_at = $1 WHERE transfer = $2 AND done_at IS NULL",
            vec![p(at.clone()), p(transfer.clone())],
            Expect::Any,
        ));
    }
    for r in &batch.facility_records {
        ops.push(op(
            "INSERT INTO facility_record (facility, seq, body, at, custody) VALUES ($1, $2, $3, $4, $5)",
            vec![
                p(r.facility.clone()),
                p(i64::from(r.seq)),
                p(r.body.clone()),
                p(r.at.clone()),
                p(r.custody.clone()),
            ],
            Expect::Unique(StoreError::Duplicate(format!("{} #{}", r.facility, r.seq))),
        ));
    }
    for m in &batch.incidents {
        ops.push(op(
            "INSERT INTO incident_message (incident, seq, direction, party, item, bytes, at, acked_at, ack, pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
                p(m.incident.clone()),
                p(i64::from(m.seq)),
                p(if m.sent { "sent" } else { "received" }),
                p(m.party.clone()),
                p(m.item.clone()),
                p(m.bytes.clone()),
                p(m.at.clone()),
                p(m.acked_at.clone()),
                p(m.ack.clone()),
                p(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Duplicate(format!("{} #{}", m.incident, m.seq))),
        ));
    }
    for (incident, s, at, ack) in &batch.incidents_acked {
        ops.push(op(
            "UPDATE incident_message SET acked_at = $1, ack = $2 \
             WHERE incident = $3 AND seq = $4 AND direction = 'sent' AND acked_at IS NULL",
            vec![
                p(at.clone()),
                p(ack.clone()),
                p(incident.clone()),
                p(i64::from(*s)),
            ],
            Expect::Any,
        ));
    }
    for (incident, s, at, why) in &batch.incidents_refused {
        ops.push(op(
            "UPDATE incident_message SET failed_at = $1, failure = $2 \
             WHERE incident = $3 AND seq = $4 AND direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL",
            vec![p(at.clone()), p(why.clone()), p(incident.clone()), p(i64::from(*s))],
            Expect::Any,
        ));
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
        ops.push(op(
            "INSERT INTO ledger_record (idx, leaf_hash, record, subject) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[], $4::TEXT[])",
            vec![p(idx), p(leaves), p(records), p(subjects)],
            Expect::Any,
        ));
    }
    seq.next = at.next;
    seq.prev = at.prev;
    Ok(Committed {
        first_index,
        size: at.next,
    })
}

/// Runs `ops` in order, pipelined: every statement is sent before the
/// first answer is awaited, so a group costs about one round trip rather
/// than one per row. The first statement that does not hold fails it
/// (the ones after it fail with the aborted transaction).
async fn run_ops(tx: &Transaction<'_>, st: &mut Stmts, ops: Vec<Op>) -> Result<(), StoreError> {
    for o in &ops {
        prep(tx, st, o.sql).await.map_err(db)?;
    }
    let st = &*st;
    let results = futures_util::future::join_all(ops.iter().map(|o| async move {
        let Some(s) = st.get(o.sql) else {
            return Err(StoreError::Database(format!("unprepared: {}", o.sql)));
        };
        let params: Vec<&(dyn ToSql + Sync)> = o.params.iter().map(|b| &**b as _).collect();
        match tx.execute(s, &params).await {
            Ok(n) => Ok(Ok(n)),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(Err(e)),
            Err(e) => Err(db(e)),
        }
    }))
    .await;
    for (o, r) in ops.into_iter().zip(results) {
        match (r?, o.expect) {
            (Ok(_), Expect::Any | Expect::Unique(_)) => {}
            (Ok(0), Expect::Some(e)) => return Err(e),
            (Ok(n), Expect::One(e)) if n != 1 => return Err(e),
            (Ok(_), Expect::Some(_) | Expect::One(_)) => {}
            (Err(_), Expect::Unique(e)) => return Err(e),
            (Err(e), _) => return Err(db(e)),
        }
    }
    Ok(())
}
