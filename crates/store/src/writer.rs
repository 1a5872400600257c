//! The SQLite writer: one thread owning the one write connection.
//!
//! Every write reaches it as a job on a channel; whatever has queued while
//! it was busy is committed together, in one transaction and so behind one
//! `fsync` (group commit). A commit is one hand-over to this thread and one
//! answer back, with its statements prepared once and run in process —
//! rather than a round trip between the async runtime and a database thread
//! per statement, which on a busy two-core machine waits for the scheduler
//! each time. Reads stay on the pool of read connections beside it (WAL).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use gsomia_ledger::entry::{GENESIS, Record};
use gsomia_ledger::merkle::Hash;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::node::{Batch, Committed, StoreError, Tagged};

/// Jobs committed together at most (a bound on one transaction's size).
const MAX_GROUP: usize = 256;

/// A database error.
pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Whether `e` is a unique or primary-key violation.
fn is_unique(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation
            && matches!(f.extended_code, 1555 | 2067)
    )
}

/// A unique or primary-key violation as `taken()`, any other error as a
/// database error.
pub(crate) fn unique_or(e: rusqlite::Error, taken: impl FnOnce() -> StoreError) -> StoreError {
    if is_unique(&e) { taken() } else { sql(e) }
}

/// Converts a stored index.
pub(crate) fn sql_int(u: u64) -> Result<i64, StoreError> {
    i64::try_from(u).map_err(|_| StoreError::Corrupt(format!("index {u}")))
}

type Reply = tokio::sync::oneshot::Sender<Result<Committed, StoreError>>;

enum Job {
    Commit(Box<Batch>, Reply),
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The handle to the writer thread; the thread ends when the last handle
/// is dropped (after finishing the jobs it holds).
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// A scratch database file removed with the writer (in-memory stores).
    scratch: Option<PathBuf>,
}

impl Writer {
    /// Opens the write connection to `path` (already migrated) and starts
    /// the thread. `durable`: `synchronous=FULL` (every commit synced);
    /// otherwise `OFF` (scratch databases for tests). `scratch`: remove the
    /// file when the writer goes.
    pub(crate) fn start(path: &Path, durable: bool, scratch: bool) -> Result<Writer, StoreError> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        conn.set_prepared_statement_cache_capacity(64);
        // The WAL is copied back into the database by the checkpointer
        // thread, not by whichever commit crosses the threshold (which
        // would hold every waiting commit behind a sync of the whole file).
        let pragmas = |sync: &str| {
            format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                 PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;"
            )
        };
        let sync = if durable { "FULL" } else { "OFF" };
        conn.execute_batch(&pragmas(sync)).map_err(sql)?;
        let checkpointer = Connection::open(path).map_err(sql)?;
        checkpointer
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        checkpointer.execute_batch(&pragmas(sync)).map_err(sql)?;
        let (tx, rx) = mpsc::channel();
        // The writer tells the checkpointer there is something to copy;
        // one pending signal is enough.
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("gsomia-sqlite-writer".into())
            .spawn(move || run(conn, &rx, &kick))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("gsomia-sqlite-checkpointer".into())
            .spawn(move || checkpoint_wal(&checkpointer, &kicked))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpointer thread: {e}"))
            })?;
        Ok(Writer {
            jobs: tx,
            scratch: scratch.then(|| path.to_owned()),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Database("the writer thread has stopped".into()))
    }

    /// Commits `batch` (with others queued meanwhile) once it is durable.
    pub(crate) async fn commit(&self, batch: Batch) -> Result<Committed, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Commit(Box::new(batch), tx))?;
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Database("the commit was abandoned".into())))
    }

    /// Runs `f` on the write connection, in order with the commits.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Run(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        })))?;
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Database("the write was abandoned".into())))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(path) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

/// The least time between two WAL checkpoints. Short, so each copies and
/// syncs little: long ones were what delayed the commits' own syncs (p99 at
/// 1,000 transfers/s: 109 ms with 200 ms, 30 ms with 50 ms, 23 ms with
/// 20 ms; the sustained rate falls a little as the interval shrinks).
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// The writer's nice value: the level of the item traffic it serves (a
/// service's latency-critical work, missile warnings in the node, never
/// waits for a commit), so that work runs first when the cores are busy.
pub const WRITER_NICE: i32 = 10;

/// The checkpointer's nice value: background work, below the writer (a
/// checkpoint that takes a core delays the next commits' own syncs).
pub const CHECKPOINTER_NICE: i32 = 15;

/// Lowers the calling thread to `nice` (0 is normal, 19 the lowest; on
/// Linux a nice value is per thread and `None` names the calling one;
/// elsewhere nothing is done). The store's own threads ignore a failure:
/// it only costs the preference. The node's lanes use it too.
pub fn lower_this_thread(nice: i32) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return rustix::process::setpriority_process(None, nice).map_err(|e| e.to_string());
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        Ok(())
    }
}

/// The checkpointer thread: after the writer has committed, a passive WAL
/// checkpoint (it never blocks the writer or the readers), at most every
/// [`WAL_CHECKPOINT_EVERY`]; nothing while nothing is written. When the
/// writer thread ends, a last one.
fn checkpoint_wal(conn: &Connection, kicked: &mpsc::Receiver<()>) {
    let _ = lower_this_thread(CHECKPOINTER_NICE);
    loop {
        let last = kicked.recv().is_err();
        // A failure here costs only WAL growth; the next round tries again.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if last {
            return;
        }
        std::thread::sleep(WAL_CHECKPOINT_EVERY);
    }
}

/// The thread: takes a job, and every job queued behind it, and runs them
/// in order, consecutive commits as one group.
fn run(mut conn: Connection, jobs: &mpsc::Receiver<Job>, kick: &mpsc::SyncSender<()>) {
    let _ = lower_this_thread(WRITER_NICE);
    while let Ok(first) = jobs.recv() {
        let mut taken = vec![first];
        while taken.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(j) => taken.push(j),
                Err(_) => break,
            }
        }
        let mut group: Vec<(Box<Batch>, Reply)> = Vec::new();
        for job in taken {
            match job {
                Job::Commit(batch, reply) => group.push((batch, reply)),
                Job::Run(f) => {
                    commit_group(&mut conn, std::mem::take(&mut group));
                    f(&mut conn);
                }
            }
        }
        commit_group(&mut conn, group);
        let _ = kick.try_send(());
    }
}

/// The ledger sequencer's position: the next index and the last leaf hash.
#[derive(Debug, Clone, Copy)]
struct Seq {
    next: u64,
    prev: Hash,
}

/// Reads the last record's index and hash inside the write transaction.
fn sequencer(conn: &Connection) -> Result<Seq, StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT idx, leaf_hash FROM ledger_record ORDER BY idx DESC LIMIT 1")
        .map_err(sql)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql)?;
    Ok(match last {
        Some((idx, h)) => Seq {
            next: u64::try_from(idx).map_err(|_| StoreError::Corrupt(format!("index {idx}")))? + 1,
            prev: Hash(
                h.try_into()
                    .map_err(|_| StoreError::Corrupt("leaf hash".into()))?,
            ),
        },
        None => Seq {
            next: 0,
            prev: GENESIS,
        },
    })
}

/// Commits `pending` in one transaction: optimistically all together; if
/// any fails, each in its own savepoint, so a failing batch fails alone.
/// Every caller gets its own answer.
fn commit_group(conn: &mut Connection, pending: Vec<(Box<Batch>, Reply)>) {
    if pending.is_empty() {
        return;
    }
    let mut results: Vec<Result<Committed, StoreError>> = Vec::with_capacity(pending.len());
    let alone = pending.len() == 1;
    let outcome: Result<(), StoreError> = (|| {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let mut seq = sequencer(&tx)?;
        if alone {
            let r = pending
                .first()
                .map(|(b, _)| apply(&tx, b, &mut seq))
                .unwrap_or_else(|| Err(StoreError::Database("no batch".into())));
            let failed = r.is_err();
            results.push(r);
            return if failed {
                tx.rollback().map_err(sql)
            } else {
                tx.commit().map_err(sql)
            };
        }
        let start = seq;
        tx.execute_batch("SAVEPOINT grouped").map_err(sql)?;
        let mut all = Vec::with_capacity(pending.len());
        let together = pending.iter().try_for_each(|(b, _)| {
            all.push(apply(&tx, b, &mut seq)?);
            Ok::<(), StoreError>(())
        });
        if together.is_ok() {
            tx.execute_batch("RELEASE grouped").map_err(sql)?;
            results.extend(all.into_iter().map(Ok));
            return tx.commit().map_err(sql);
        }
        tx.execute_batch("ROLLBACK TO grouped; RELEASE grouped")
            .map_err(sql)?;
        seq = start;
        for (batch, _) in &pending {
            tx.execute_batch("SAVEPOINT batch").map_err(sql)?;
            let before = seq;
            let r = apply(&tx, batch, &mut seq);
            if r.is_ok() {
                tx.execute_batch("RELEASE batch").map_err(sql)?;
            } else {
                tx.execute_batch("ROLLBACK TO batch; RELEASE batch")
                    .map_err(sql)?;
                seq = before;
            }
            results.push(r);
        }
        tx.commit().map_err(sql)
    })();
    let mut results = results.into_iter();
    for (_, reply) in pending {
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

/// Indexes an item's topics (each once).
fn topics(conn: &Connection, item: &str, topics: &[String]) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached("INSERT OR IGNORE INTO item_topic (item, topic) VALUES (?, ?)")
        .map_err(sql)?;
    for t in topics {
        st.execute(params![item, t]).map_err(sql)?;
    }
    Ok(())
}

/// Writes one batch inside the open transaction; `seq` is the ledger
/// sequencer, advanced only on success.
fn apply(conn: &Connection, batch: &Batch, seq: &mut Seq) -> Result<Committed, StoreError> {
    if !batch.held.is_empty() {
        // Checked inside the transaction: a destruction or return that
        // committed after the request read the item wins.
        let mut st = conn
            .prepare_cached("SELECT disposal IS NULL FROM item WHERE id = ?")
            .map_err(sql)?;
        for id in &batch.held {
            let held: Option<bool> = st.query_row([id], |r| r.get(0)).optional().map_err(sql)?;
            if held != Some(true) {
                return Err(StoreError::Gone(id.clone()));
            }
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO person (id, name, role, clearance, clearance_until, need_to_know, token_hash, created_at, revoked_at, custody, facility, visit) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for p in &batch.people {
            if p.need_to_know.iter().any(|t| t.contains(',')) {
                return Err(StoreError::Corrupt(format!(
                    "a topic id of `{}` contains `,`",
                    p.id
                )));
            }
            st.execute(params![
                p.id,
                p.name,
                p.role.as_str(),
                p.clearance,
                p.clearance_until,
                p.need_to_know.join(","),
                &p.token_hash[..],
                p.created_at,
                p.revoked_at,
                p.custody,
                p.facility,
                p.visit
            ])
            .map_err(|e| unique_or(e, || StoreError::Exists(p.id.clone())))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "UPDATE person SET name = ?, role = ?, clearance = ?, clearance_until = ?, need_to_know = ?, \
                 token_hash = ?, created_at = ?, revoked_at = ?, custody = ?, facility = ?, visit = ? WHERE id = ?",
            )
            .map_err(sql)?;
        for p in &batch.person_updates {
            if p.need_to_know.iter().any(|t| t.contains(',')) {
                return Err(StoreError::Corrupt(format!(
                    "a topic id of `{}` contains `,`",
                    p.id
                )));
            }
            let n = st
                .execute(params![
                    p.name,
                    p.role.as_str(),
                    p.clearance,
                    p.clearance_until,
                    p.need_to_know.join(","),
                    &p.token_hash[..],
                    p.created_at,
                    p.revoked_at,
                    p.custody,
                    p.facility,
                    p.visit,
                    p.id
                ])
                .map_err(|e| unique_or(e, || StoreError::Exists(p.id.clone())))?;
            if n == 0 {
                return Err(StoreError::Missing(p.id.clone()));
            }
        }
    }
    for (table, id, tag) in &batch.backfill {
        let q = match table {
            Tagged::Item => {
                "UPDATE item SET custody = ? WHERE id = ? AND (custody IS NULL OR binding IS NULL)"
            }
            Tagged::Person => "UPDATE person SET custody = ? WHERE id = ? AND custody IS NULL",
            Tagged::Outbox => {
                "UPDATE outbox SET custody = ? WHERE transfer = ? AND custody IS NULL"
            }
        };
        conn.prepare_cached(q)
            .and_then(|mut st| st.execute(params![tag, id]))
            .map_err(sql)?;
    }
    // Exactly once: a transfer id already received (or twice in the batch)
    // meets the primary key.
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO received_transfer (transfer, sender, item, received_at) VALUES (?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for t in &batch.incoming {
            st.execute(params![t.transfer, t.sender, t.item, t.received_at])
                .map_err(|e| unique_or(e, || StoreError::Duplicate(t.transfer.clone())))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO item (id, originator, sealed, label, equivalent_label, received_from, created_at, origin_item, \
                 custody, binding, access_level, created_unix, lineage, disposal, source, dispose_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for i in &batch.items {
            st.execute(params![
                i.id,
                i.originator,
                i.sealed,
                i.label,
                i.equivalent_label,
                i.received_from,
                i.created_at,
                i.origin_item,
                i.custody,
                i.binding,
                i.index.as_ref().map(|x| x.access_level.as_str()),
                i.index.as_ref().map(|x| x.created_unix),
                i.lineage,
                i.disposal,
                i.index.as_ref().and_then(|x| x.source.as_deref()),
                i.index.as_ref().and_then(|x| x.dispose_by)
            ])
            .map_err(|e| unique_or(e, || StoreError::Exists(i.id.clone())))?;
            if let Some(index) = &i.index {
                topics(conn, &i.id, &index.topics)?;
            }
        }
    }
    for (id, binding, index) in &batch.reindex {
        let n = conn
            .prepare_cached(
                "UPDATE item SET binding = ?, access_level = ?, created_unix = ? WHERE id = ? AND binding IS NULL",
            )
            .and_then(|mut st| {
                st.execute(params![binding, index.access_level, index.created_unix, id])
            })
            .map_err(sql)?;
        if n > 0 {
            topics(conn, id, &index.topics)?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(if batch.warnings_new {
                "INSERT INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level) VALUES (?, ?, ?, ?, ?, ?)"
            } else {
                "INSERT OR IGNORE INTO warning_update (flight, seq, bytes, applied_at, applied_unix, level) VALUES (?, ?, ?, ?, ?, ?)"
            })
            .map_err(sql)?;
        for w in &batch.warnings {
            st.execute(params![
                w.flight,
                w.seq,
                w.bytes,
                w.applied_at,
                w.applied_unix,
                w.level
            ])
            .map_err(|e| {
                unique_or(e, || {
                    StoreError::Duplicate(format!("{} #{}", w.flight, w.seq))
                })
            })?;
        }
        let mut owed = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO warning_out (party, flight, seq, queued_at) VALUES (?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for (party, flight, seq, at) in &batch.warnings_owed {
            owed.execute(params![party, flight, seq, at]).map_err(sql)?;
        }
        let mut taken = conn
            .prepare_cached(
                "UPDATE warning_out SET delivered_at = ? WHERE party = ? AND flight = ? AND seq = ? AND delivered_at IS NULL",
            )
            .map_err(sql)?;
        for (party, flight, seq, at) in &batch.warnings_taken {
            taken
                .execute(params![at, party, flight, seq])
                .map_err(sql)?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO idempotency (person, key, request, response, at) VALUES (?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for k in &batch.idempotent {
            st.execute(params![k.person, k.key, k.request, k.response, k.at])
                .map_err(|e| unique_or(e, || StoreError::Duplicate(k.key.clone())))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO outbox (transfer, item, recipient, attempts, next_attempt_at, kind, queued_at, custody, released_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        let mut envelope = conn
            .prepare_cached("INSERT INTO outbox_envelope (transfer, envelope) VALUES (?, ?)")
            .map_err(sql)?;
        for o in &batch.outgoing {
            st.execute(params![
                o.transfer,
                o.item,
                o.recipient,
                i64::from(o.attempts),
                o.next_attempt_at,
                o.kind.as_str(),
                o.next_attempt_at,
                o.custody,
                o.released_by
            ])
            .map_err(|e| unique_or(e, || StoreError::Exists(o.transfer.clone())))?;
            envelope
                .execute(params![o.transfer, o.envelope])
                .map_err(|e| unique_or(e, || StoreError::Exists(o.transfer.clone())))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO message (kind, id, party, body, stored_at) VALUES (?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for m in &batch.messages {
            st.execute(params![m.kind.as_str(), m.id, m.party, m.body, m.stored_at])
                .map_err(|e| unique_or(e, || StoreError::Duplicate(m.id.clone())))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "UPDATE outbox SET failed_at = ?, failure = ? WHERE transfer = ? AND delivered_at IS NULL",
            )
            .map_err(sql)?;
        for (transfer, at, why) in &batch.failed {
            st.execute(params![at, why, transfer]).map_err(sql)?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "UPDATE outbox SET delivered_at = ?, receipt = ? WHERE transfer = ? AND delivered_at IS NULL",
            )
            .map_err(sql)?;
        for (transfer, at, receipt) in &batch.delivered {
            st.execute(params![at, receipt, transfer]).map_err(sql)?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "UPDATE item SET sealed = ?, label = ?, equivalent_label = ?, binding = ?, custody = ?, \
                 lineage = ?, access_level = COALESCE(?, access_level) WHERE id = ? AND disposal IS NULL",
            )
            .map_err(sql)?;
        for i in &batch.relabelled {
            let n = st
                .execute(params![
                    i.sealed,
                    i.label,
                    i.equivalent_label,
                    i.binding,
                    i.custody,
                    i.lineage,
                    i.index.as_ref().map(|x| x.access_level.as_str()),
                    i.id
                ])
                .map_err(sql)?;
            if n != 1 {
                return Err(StoreError::Gone(i.id.clone()));
            }
        }
    }
    if !batch.disposals.is_empty() {
        // Erased, not flagged: with secure_delete the old cell and any
        // overflow pages the sealed bytes held are overwritten with zeros
        // (the WAL frames that held them go with the next full checkpoint:
        // `Store::scrub`).
        conn.execute_batch("PRAGMA secure_delete = ON")
            .map_err(sql)?;
        let mut st = conn
            .prepare_cached(
                "UPDATE item SET sealed = x'', disposal = ?, custody = ?, disposed_unix = ? \
                 WHERE id = ? AND disposal IS NULL",
            )
            .map_err(sql)?;
        let mut done = Ok(());
        for d in &batch.disposals {
            match st.execute(params![d.disposal, d.custody, d.at_unix, d.id]) {
                Ok(1) => {}
                Ok(_) => {
                    done = Err(StoreError::Gone(d.id.clone()));
                    break;
                }
                Err(e) => {
                    done = Err(sql(e));
                    break;
                }
            }
        }
        conn.execute_batch("PRAGMA secure_delete = OFF")
            .map_err(sql)?;
        done?;
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO item_return (transfer, item, requested_by, requested_at) VALUES (?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for r in &batch.returns {
            st.execute(params![r.transfer, r.item, r.requested_by, r.requested_at])
                .map_err(|e| {
                    unique_or(e, || {
                        StoreError::Exists(format!("an open return of item {}", r.item))
                    })
                })?;
        }
        let mut st = conn
            .prepare_cached(
                "UPDATE item_return SET done_at = ? WHERE transfer = ? AND done_at IS NULL",
            )
            .map_err(sql)?;
        for (transfer, at) in &batch.returns_closed {
            st.execute(params![at, transfer]).map_err(sql)?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO facility_record (facility, seq, body, at, custody) VALUES (?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for r in &batch.facility_records {
            st.execute(params![r.facility, r.seq, r.body, r.at, r.custody])
                .map_err(|e| {
                    unique_or(e, || {
                        StoreError::Duplicate(format!("{} #{}", r.facility, r.seq))
                    })
                })?;
        }
    }
    {
        let mut st = conn
            .prepare_cached(
                "INSERT INTO incident_message (incident, seq, direction, party, item, bytes, at, acked_at, ack) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(sql)?;
        for m in &batch.incidents {
            st.execute(params![
                m.incident,
                m.seq,
                if m.sent { "sent" } else { "received" },
                m.party,
                m.item,
                m.bytes,
                m.at,
                m.acked_at,
                m.ack
            ])
            .map_err(|e| {
                unique_or(e, || {
                    StoreError::Duplicate(format!("{} #{}", m.incident, m.seq))
                })
            })?;
        }
        let mut st = conn
            .prepare_cached(
                "UPDATE incident_message SET acked_at = ?, ack = ? \
                 WHERE incident = ? AND seq = ? AND direction = 'sent' AND acked_at IS NULL",
            )
            .map_err(sql)?;
        for (incident, seq_no, at, ack) in &batch.incidents_acked {
            st.execute(params![at, ack, incident, seq_no])
                .map_err(sql)?;
        }
        let mut st = conn
            .prepare_cached(
                "UPDATE incident_message SET failed_at = ?, failure = ? \
                 WHERE incident = ? AND seq = ? AND direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL",
            )
            .map_err(sql)?;
        for (incident, seq_no, at, why) in &batch.incidents_refused {
            st.execute(params![at, why, incident, seq_no])
                .map_err(sql)?;
        }
    }
    // The ledger records, chained from the sequencer's position.
    let first_index = seq.next;
    let mut at = *seq;
    let mut st = conn
        .prepare_cached(
            "INSERT INTO ledger_record (idx, leaf_hash, record, subject) VALUES (?, ?, ?, ?)",
        )
        .map_err(sql)?;
    for entry in &batch.entries {
        let record = Record {
            index: at.next,
            prev: at.prev,
            entry: entry.clone(),
        };
        let bytes = record.to_bytes();
        let leaf = gsomia_ledger::merkle::leaf_hash(&bytes);
        st.execute(params![sql_int(at.next)?, &leaf.0[..], bytes, entry.item()])
            .map_err(sql)?;
        at = Seq {
            next: at.next + 1,
            prev: leaf,
        };
    }
    *seq = at;
    Ok(Committed {
        first_index,
        size: at.next,
    })
}
