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
    analyze: mpsc::UnboundedSender<&'static str>,
) {
    let mut stmts = Stmts::new();
    let mut growth = Growth::default();
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
            for table in growth.grown(&batches, &results) {
                let _ = analyze.send(table);
            }
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

/// Rows this process has added to each table that grows with use, and
/// when each is next analyzed. The planner's statistics of a table that
/// has just grown from empty say it is empty, and the plans a connection
/// keeps for its prepared statements are made from them (a scan of the
/// whole table for a key lookup, kept until the statistics change);
/// autovacuum analyzes only after a minute and a tenth's growth. Each
/// table is analyzed here whenever its rows since the last time reach as
/// many as it had then (at least [`FIRST_ANALYZE`]), which remakes every
/// connection's plans: a few analyzes over a table's life.
#[derive(Default)]
struct Growth {
    added: HashMap<&'static str, (u64, u64)>,
}

/// Rows added before a table is first analyzed.
const FIRST_ANALYZE: u64 = 200;

impl Growth {
    /// Counts what the committed `batches` added; the tables now due.
    fn grown(
        &mut self,
        batches: &[Box<Batch>],
        results: &[Result<Committed, StoreError>],
    ) -> Vec<&'static str> {
        let mut due = Vec::new();
        let mut add = |table: &'static str, n: usize| {
            if n == 0 {
                return;
            }
            let (since, threshold) = self.added.entry(table).or_insert((0, FIRST_ANALYZE));
            *since += n as u64;
            if *since >= *threshold {
                *threshold = (*threshold).max(*since) * 2;
                *since = 0;
                due.push(table);
            }
        };
        let ok = batches
            .iter()
            .zip(results)
            .filter(|(_, r)| r.is_ok())
            .map(|(b, _)| b);
        let (mut items, mut topics, mut received, mut outbox, mut messages, mut records) =
            (0, 0, 0, 0, 0, 0);
        let (mut warnings, mut owed) = (0, 0);
        for b in ok {
            items += b.items.len();
            topics += b
                .items
                .iter()
                .filter_map(|i| i.index.as_ref())
                .map(|x| x.topics.len())
                .sum::<usize>();
            received += b.incoming.len();
            outbox += b.outgoing.len();
            messages += b.messages.len();
            records += b.entries.len();
            warnings += b.warnings.len();
            owed += b.warnings_owed.len();
        }
        add("item", items);
        add("item_topic", topics);
        add("received_transfer", received);
        add("outbox", outbox);
        add("outbox_envelope", outbox);
        add("message", messages);
        add("ledger_record", records);
        add("warning_update", warnings);
        add("warning_out", owed);
        due
    }
}

/// Analyzes each table sent, on a connection of its own (off the writer's
/// path), opened at the first; a failure is logged and the next is tried.
pub(super) async fn analyzer(url: String, mut rx: mpsc::UnboundedReceiver<&'static str>) {
    let mut conn: Option<Client> = None;
    while let Some(table) = rx.recv().await {
        if conn.as_ref().is_none_or(Client::is_closed) {
            conn = super::connect(&url).await.ok();
        }
        let Some(c) = &conn else {
            continue;
        };
        // `table` is one of this file's own names, never input.
        if let Err(e) = c.batch_execute(&format!("ANALYZE {table}")).await {
            tracing::warn!(table, error = %super::chain(&e), "cannot analyze");
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
/// statement and the head's move sent pipelined (the rows of each
/// column-wise statement in one execution, [`merge`]), the commit. If any batch
/// fails, the transaction is rolled back and the batches are committed
/// again one by one ([`one_by_one`]), so a failing batch fails alone. Each
/// batch's result, and the transaction's.
async fn commit_group(
    conn: &mut Client,
    st: &mut Stmts,
    owner: &str,
    batches: &[Box<Batch>],
) -> (Vec<Result<Committed, StoreError>>, Result<(), StoreError>) {
    let mut merged = false;
    let together = async {
        let tx = conn.transaction().await.map_err(db)?;
        let mut seq = head(&tx, st).await?;
        let mut ops = Vec::new();
        let mut all = Vec::with_capacity(batches.len());
        for b in batches {
            all.push(plan(b, owner, &mut seq, &mut ops)?);
        }
        ops.push(move_head(&seq)?);
        let ops = {
            let (ops, m) = merge(ops);
            merged = m;
            ops
        };
        run_ops(&tx, st, ops).await?;
        tx.commit().await.map_err(db)?;
        Ok::<_, StoreError>(all)
    }
    .await;
    match together {
        Ok(all) => (all.into_iter().map(Ok).collect(), Ok(())),
        // Alone and unmerged, its own failure is its answer (nothing was
        // committed).
        Err(e) if batches.len() == 1 && !merged => (
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
    params: Params,
    expect: Expect,
}

/// A statement's parameters.
enum Params {
    /// Bound as they are.
    One(Vec<Param>),
    /// Rows of a statement that takes its values as one array per column
    /// (`UNNEST($1::TEXT[], …)`): the same statement's rows from every
    /// batch of a group can travel in one execution ([`merge`]).
    Rows(Vec<Vec<Val>>),
}

fn op(sql: &'static str, params: Vec<Param>, expect: Expect) -> Op {
    Op {
        sql,
        params: Params::One(params),
        expect,
    }
}

/// A statement of one row whose values go as one-element arrays; `sql`
/// takes a `UNNEST` of one array per column.
fn row(sql: &'static str, values: Vec<Val>, expect: Expect) -> Op {
    Op {
        sql,
        params: Params::Rows(vec![values]),
        expect,
    }
}

/// One value of a row sent column-wise (the column types this store uses).
#[derive(Debug)]
enum Val {
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Int(Option<i64>),
}

/// A value as a column element.
fn v(x: impl Into<Val>) -> Val {
    x.into()
}

impl From<String> for Val {
    fn from(x: String) -> Self {
        Val::Text(Some(x))
    }
}
impl From<&str> for Val {
    fn from(x: &str) -> Self {
        Val::Text(Some(x.to_owned()))
    }
}
impl From<Option<String>> for Val {
    fn from(x: Option<String>) -> Self {
        Val::Text(x)
    }
}
impl From<Vec<u8>> for Val {
    fn from(x: Vec<u8>) -> Self {
        Val::Bytes(Some(x))
    }
}
impl From<Option<Vec<u8>>> for Val {
    fn from(x: Option<Vec<u8>>) -> Self {
        Val::Bytes(x)
    }
}
impl From<i64> for Val {
    fn from(x: i64) -> Self {
        Val::Int(Some(x))
    }
}
impl From<Option<i64>> for Val {
    fn from(x: Option<i64>) -> Self {
        Val::Int(x)
    }
}

/// `rows` as one array parameter per column (every row of one statement
/// has the same shape; a value of another type in a column is a fault).
fn columns(sql: &str, rows: Vec<Vec<Val>>) -> Result<Vec<Param>, StoreError> {
    let width = rows.first().map_or(0, Vec::len);
    let mut cols: Vec<Column> = Vec::with_capacity(width);
    for (i, row) in rows.into_iter().enumerate() {
        if row.len() != width {
            return Err(StoreError::Database(format!(
                "rows of unequal width for {sql}"
            )));
        }
        for (j, value) in row.into_iter().enumerate() {
            if i == 0 {
                cols.push(match value {
                    Val::Text(x) => Column::Text(vec![x]),
                    Val::Bytes(x) => Column::Bytes(vec![x]),
                    Val::Int(x) => Column::Int(vec![x]),
                });
                continue;
            }
            match (cols.get_mut(j), value) {
                (Some(Column::Text(c)), Val::Text(x)) => c.push(x),
                (Some(Column::Bytes(c)), Val::Bytes(x)) => c.push(x),
                (Some(Column::Int(c)), Val::Int(x)) => c.push(x),
                _ => {
                    return Err(StoreError::Database(format!(
                        "column {j} of {sql} mixes types"
                    )));
                }
            }
        }
    }
    Ok(cols
        .into_iter()
        .map(|c| match c {
            Column::Text(x) => p(x),
            Column::Bytes(x) => p(x),
            Column::Int(x) => p(x),
        })
        .collect())
}

/// A column being gathered.
enum Column {
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
    Int(Vec<Option<i64>>),
}

/// `ops` with the rows of each column-wise statement gathered into one
/// execution, placed where that statement last occurred: a row is only
/// ever written later than planned, never earlier, so no statement sees
/// a row it would not have seen (a statement that could have found one
/// written by an earlier batch of the same group finds nothing and fails
/// the group, which is then committed batch by batch, unmerged). Whether
/// any rows were gathered from two or more statements: a unique key met
/// then cannot be told to one batch.
fn merge(ops: Vec<Op>) -> (Vec<Op>, bool) {
    let mut last: HashMap<&'static str, usize> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        if matches!(o.params, Params::Rows(_)) {
            last.insert(o.sql, i);
        }
    }
    let mut waiting: HashMap<&'static str, Vec<Vec<Val>>> = HashMap::new();
    let mut merged = false;
    let mut out = Vec::with_capacity(ops.len());
    for (i, mut o) in ops.into_iter().enumerate() {
        if let Params::Rows(rows) = &mut o.params {
            if last.get(o.sql) != Some(&i) {
                waiting.entry(o.sql).or_default().append(rows);
                continue;
            }
            if let Some(mut earlier) = waiting.remove(o.sql) {
                earlier.append(rows);
                *rows = earlier;
                merged = true;
                if let Expect::Unique(_) = o.expect {
                    o.expect = Expect::Unique(StoreError::Database(
                        "rows of several batches met a unique key".into(),
                    ));
                }
            }
        }
        out.push(o);
    }
    (out, merged)
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

const TOPIC: &str = "INSERT INTO item_topic (item, topic) \
     SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[]) ON CONFLICT DO NOTHING";

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
        ops.push(row(
            "INSERT INTO received_transfer (transfer, sender, item, received_at, pos) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])",
            vec![
                v(t.transfer.clone()),
                v(t.sender.clone()),
                v(t.item.clone()),
                v(t.received_at.clone()),
                v(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Duplicate(t.transfer.clone())),
        ));
    }
    for i in &batch.items {
        let ix = i.index.as_ref();
        ops.push(row(
            "INSERT INTO item (id, originator, sealed, label, equivalent_label, received_from, created_at, origin_item, \
             custody, binding, access_level, created_unix, lineage, disposal, source, dispose_by, pos) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::BYTEA[], $5::BYTEA[], $6::TEXT[], \
             $7::TEXT[], $8::TEXT[], $9::BYTEA[], $10::BYTEA[], $11::TEXT[], $12::BIGINT[], $13::BYTEA[], \
             $14::BYTEA[], $15::TEXT[], $16::BIGINT[], $17::BIGINT[])",
            vec![
                v(i.id.clone()),
                v(i.originator.clone()),
                v(i.sealed.clone()),
                v(i.label.clone()),
                v(i.equivalent_label.clone()),
                v(i.received_from.clone()),
                v(i.created_at.clone()),
                v(i.origin_item.clone()),
                v(i.custody.clone()),
                v(i.binding.clone()),
                v(ix.map(|x| x.access_level.clone())),
                v(ix.map(|x| x.created_unix)),
                v(i.lineage.clone()),
                v(i.disposal.clone()),
                v(ix.and_then(|x| x.source.clone())),
                v(ix.and_then(|x| x.dispose_by)),
                v(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(i.id.clone())),
        ));
        for t in ix.map(|x| x.topics.as_slice()).unwrap_or_default() {
            ops.push(row(TOPIC, vec![v(i.id.clone()), v(t.clone())], Expect::Any));
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
            ops.push(row(TOPIC, vec![v(id.clone()), v(t.clone())], Expect::Any));
        }
    }
    for w in &batch.warnings {
        ops.push(row(
            if batch.warnings_new {
                "INSERT INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level, pos) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BYTEA[], $4::TEXT[], $5::BIGINT[], \
                 $6::TEXT[], $7::BIGINT[])"
            } else {
                "INSERT INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level, pos) \
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BYTEA[], $4::TEXT[], $5::BIGINT[], \
                 $6::TEXT[], $7::BIGINT[]) ON CONFLICT (flight, seq) DO NOTHING"
            },
            vec![
                v(w.flight.clone()),
                v(i64::from(w.seq)),
                v(w.bytes.clone()),
                v(w.applied_at.clone()),
                v(w.applied_unix),
                v(w.level.clone()),
                v(seq.take_pos()),
            ],
            if batch.warnings_new {
                Expect::Unique(StoreError::Duplicate(format!("{} #{}", w.flight, w.seq)))
            } else {
                Expect::Any
            },
        ));
    }
    for (party, flight, s, at) in &batch.warnings_owed {
        ops.push(row(
            "INSERT INTO warning_out (party, flight, seq, queued_at, pos) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[]) \
             ON CONFLICT (party, flight, seq) DO NOTHING",
            vec![
                v(party.clone()),
                v(flight.clone()),
                v(i64::from(*s)),
                v(at.clone()),
                v(seq.take_pos()),
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
        ops.push(row(
            "INSERT INTO idempotency (person, key, request, response, at) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::TEXT[])",
            vec![
                v(k.person.clone()),
                v(k.key.clone()),
                v(k.request.clone()),
                v(k.response.clone()),
                v(k.at.clone()),
            ],
            Expect::Unique(StoreError::Duplicate(k.key.clone())),
        ));
    }
    for o in &batch.outgoing {
        ops.push(row(
            "INSERT INTO outbox (transfer, item, recipient, attempts, next_attempt_at, kind, queued_at, custody, \
             released_by, pos) SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], \
             $5::BIGINT[], $6::TEXT[], $7::BIGINT[], $8::BYTEA[], $9::TEXT[], $10::BIGINT[])",
            vec![
                v(o.transfer.clone()),
                v(o.item.clone()),
                v(o.recipient.clone()),
                v(i64::from(o.attempts)),
                v(o.next_attempt_at),
                v(o.kind.as_str()),
                v(o.next_attempt_at),
                v(o.custody.clone()),
                v(o.released_by.clone()),
                v(seq.take_pos()),
            ],
            Expect::Unique(StoreError::Exists(o.transfer.clone())),
        ));
        ops.push(row(
            "INSERT INTO outbox_envelope (transfer, envelope) \
             SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[])",
            vec![v(o.transfer.clone()), v(o.envelope.clone())],
            Expect::Unique(StoreError::Exists(o.transfer.clone())),
        ));
    }
    for m in &batch.messages {
        ops.push(row(
            "INSERT INTO message (kind, id, party, body, stored_at, pos) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::TEXT[], $6::BIGINT[])",
            vec![
                v(m.kind.as_str()),
                v(m.id.clone()),
                v(m.party.clone()),
                v(m.body.clone()),
                v(m.stored_at.clone()),
                v(seq.take_pos()),
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
        // A transfer delivered twice in one group keeps one receipt (the
        // row is updated once).
        ops.push(row(
            "UPDATE outbox SET delivered_at = d.at, receipt = d.receipt \
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS d(at, receipt, transfer, owner) \
             WHERE outbox.transfer = d.transfer AND outbox.delivered_at IS NULL \
             AND (outbox.lease_owner IS NULL OR outbox.lease_owner = d.owner)",
            vec![v(at.clone()), v(receipt.clone()), v(transfer.clone()), v(owner)],
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
    let mut bound = Vec::with_capacity(ops.len());
    for o in ops {
        prep(tx, st, o.sql).await.map_err(db)?;
        let params = match o.params {
            Params::One(p) => p,
            Params::Rows(rows) => columns(o.sql, rows)?,
        };
        bound.push((o.sql, params, o.expect));
    }
    let st = &*st;
    let results = futures_util::future::join_all(bound.iter().map(|(sql, params, _)| async move {
        let Some(s) = st.get(*sql) else {
            return Err(StoreError::Database(format!("unprepared: {sql}")));
        };
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| &**b as _).collect();
        match tx.execute(s, &params).await {
            Ok(n) => Ok(Ok(n)),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(Err(e)),
            Err(e) => Err(db(e)),
        }
    }))
    .await;
    for ((_, _, expect), r) in bound.into_iter().zip(results) {
        match (r?, expect) {
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
