//! The embedded SQLite adapter (the default): WAL journal with
//! `synchronous=FULL`, so a committed transaction survives a power cut.
//! One writer thread owns the write connection and commits in groups
//! ([`crate::writer`]); reads run on a few read connections of their own,
//! on the runtime's blocking threads, each query one hand-over there and
//! back (WAL: a reader never waits for the writer).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gsomia_ledger::merkle::Hash;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::node::{
    Batch, Committed, ConsoleSession, Idempotent, IncidentRow, Incoming, Item, ItemIndex,
    ItemQuery, ItemRow, Message, MessageKind, OutboxRow, OutboxStats, Outgoing, Person, Return,
    ReturnAnswered, Role, Store, StoreError, StoreFuture, TransferQuery, TransferRow,
    TransferState, WarningOwed, WarningRow,
};
use crate::writer::{self, Writer, sql, sql_int};

/// The migrations, in order; applied once each, in a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_node.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_outbox_failure.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_messages.sql")),
    (4, include_str!("../migrations/sqlite/0004_witness.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_outbox_envelope.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_outbox_queued.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_custody.sql")),
    (
        8,
        include_str!("../migrations/sqlite/0008_transfers_and_pages.sql"),
    ),
    (9, include_str!("../migrations/sqlite/0009_holdings.sql")),
    (10, include_str!("../migrations/sqlite/0010_incidents.sql")),
    (
        11,
        include_str!("../migrations/sqlite/0011_one_open_return.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_notice_kinds.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_contractors.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_console_sessions.sql"),
    ),
];

/// Read connections kept open (more are opened while many reads run at
/// once, and closed after).
const READERS_KEPT: usize = 4;

/// The node's state in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Read connections.
    readers: Arc<Readers>,
    /// The one write connection, on its own thread.
    writer: Arc<Writer>,
}

/// Idle read connections to one database.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        let idle = match self.idle.lock() {
            Ok(mut g) => g.pop(),
            Err(p) => p.into_inner().pop(),
        };
        match idle {
            Some(c) => Ok(c),
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(sql)?;
                c.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
                c.set_prepared_statement_cache_capacity(32);
                Ok(c)
            }
        }
    }

    fn give_back(&self, c: Connection) {
        let mut idle = match self.idle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if idle.len() < READERS_KEPT {
            idle.push(c);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::at(path.to_owned(), true, false).await
    }

    /// Opens the database at `path`, which must exist (a node's database is
    /// made only by `gsomia init`: a missing one is never silently replaced
    /// by an empty one), and applies migrations.
    pub async fn open_existing(path: &Path) -> Result<SqliteStore, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NoDatabase(path.display().to_string()));
        }
        Self::open(path).await
    }

    /// Applies the migrations an existing node database lacks (`gsomia
    /// store migrate`); the versions applied.
    pub async fn migrate_existing(path: &Path) -> Result<Vec<i64>, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NoDatabase(path.display().to_string()));
        }
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || migrate(&path))
            .await
            .map_err(|e| StoreError::Database(format!("migrating: {e}")))?
    }

    /// A scratch database (tests and benchmarks of the logic, not of
    /// durability): a fresh file in the temporary directory, not synced,
    /// removed when the last handle to the store is dropped.
    pub async fn memory() -> Result<SqliteStore, StoreError> {
        static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gsomia-scratch-{}-{n}.db", std::process::id()));
        Self::at(path, false, true).await
    }

    async fn at(path: PathBuf, durable: bool, scratch: bool) -> Result<SqliteStore, StoreError> {
        let opened = path.clone();
        let writer = tokio::task::spawn_blocking(move || {
            migrate(&opened)?;
            Writer::start(&opened, durable, scratch)
        })
        .await
        .map_err(|e| StoreError::Database(format!("opening the database: {e}")))??;
        Ok(SqliteStore {
            readers: Arc::new(Readers {
                path,
                idle: std::sync::Mutex::default(),
            }),
            writer: Arc::new(writer),
        })
    }

    /// Runs `f` on a read connection, on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let r = f(&conn);
            readers.give_back(conn);
            r
        })
        .await
        .map_err(|e| StoreError::Database(format!("a read did not finish: {e}")))?
    }
}

/// Creates the file if needed, sets WAL, and applies the migrations not
/// applied yet, each in its own transaction.
fn migrate(path: &Path) -> Result<Vec<i64>, StoreError> {
    let mut conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; \
         CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY) STRICT;",
    )
    .map_err(sql)?;
    let mut applied = Vec::new();
    for (version, script) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_version WHERE version = ?",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if done.is_none() {
            applied.push(*version);
            tx.execute_batch(script).map_err(sql)?;
            if *version == 9 {
                subjects(&tx)?;
            }
            tx.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
    }
    Ok(applied)
}

/// Fills the subject index of ledger records kept before it (migration 9),
/// from each record's own entry.
fn subjects(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let mut read = tx
        .prepare("SELECT idx, record FROM ledger_record ORDER BY idx")
        .map_err(sql)?;
    let mut write = tx
        .prepare("UPDATE ledger_record SET subject = ? WHERE idx = ?")
        .map_err(sql)?;
    let mut rows = read.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let idx: i64 = r.get(0).map_err(sql)?;
        let bytes: Vec<u8> = r.get(1).map_err(sql)?;
        // A record that does not decode keeps no subject: `ledger verify`
        // names it; the index is never a fact.
        if let Ok(rec) = gsomia_ledger::entry::Record::from_bytes(&bytes)
            && let Some(s) = rec.entry.item()
        {
            write.execute(params![s, idx]).map_err(sql)?;
        }
    }
    Ok(())
}

/// Ids per `IN (…)` lookup (well under SQLite's bound-variable limit).
const ROWS: usize = 200;

/// `?, ?, …` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn outgoing(r: &Row<'_>) -> rusqlite::Result<Result<Outgoing, StoreError>> {
    let attempts: i64 = r.get("attempts")?;
    let kind: String = r.get("kind")?;
    let (transfer, item, recipient, envelope, next_attempt_at) = (
        r.get("transfer")?,
        r.get("item")?,
        r.get("recipient")?,
        r.get("envelope")?,
        r.get("next_attempt_at")?,
    );
    let (custody, released_by) = (r.get("custody")?, r.get("released_by")?);
    Ok((|| {
        Ok(Outgoing {
            kind: MessageKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox kind `{kind}`")))?,
            transfer,
            item,
            recipient,
            envelope,
            attempts: u32::try_from(attempts)
                .map_err(|_| StoreError::Corrupt("attempts".into()))?,
            next_attempt_at,
            custody,
            released_by,
        })
    })())
}

fn person(row: &Row<'_>) -> rusqlite::Result<Result<Person, StoreError>> {
    let role: String = row.get("role")?;
    let ntk: String = row.get("need_to_know")?;
    let hash: Vec<u8> = row.get("token_hash")?;
    let (id, name, clearance, clearance_until, created_at) = (
        row.get("id")?,
        row.get("name")?,
        row.get("clearance")?,
        row.get("clearance_until")?,
        row.get("created_at")?,
    );
    let (revoked_at, custody, facility, visit) = (
        row.get("revoked_at")?,
        row.get("custody")?,
        row.get("facility")?,
        row.get("visit")?,
    );
    Ok((|| {
        Ok(Person {
            id,
            name,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
            clearance,
            clearance_until,
            need_to_know: ntk
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            token_hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("token hash".into()))?,
            created_at,
            revoked_at,
            facility,
            visit,
            custody,
        })
    })())
}

fn message(row: &Row<'_>) -> rusqlite::Result<Result<Message, StoreError>> {
    let kind: String = row.get("kind")?;
    let (id, party, body, stored_at) = (
        row.get("id")?,
        row.get("party")?,
        row.get("body")?,
        row.get("stored_at")?,
    );
    Ok(MessageKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("message kind `{kind}`")))
        .map(|kind| Message {
            kind,
            id,
            party,
            body,
            stored_at,
        }))
}

fn incoming(r: &Row<'_>) -> rusqlite::Result<Incoming> {
    Ok(Incoming {
        transfer: r.get("transfer")?,
        sender: r.get("sender")?,
        item: r.get("item")?,
        received_at: r.get("received_at")?,
    })
}

fn item(row: &Row<'_>) -> rusqlite::Result<Item> {
    let id: String = row.get("id")?;
    Ok(Item {
        id: id.clone(),
        originator: row.get("originator")?,
        sealed: row.get("sealed")?,
        label: row.get("label")?,
        equivalent_label: row.get("equivalent_label")?,
        received_from: row.get("received_from")?,
        created_at: row.get("created_at")?,
        origin_item: row.get::<_, Option<String>>("origin_item")?.unwrap_or(id),
        binding: row.get("binding")?,
        custody: row.get("custody")?,
        lineage: row.get("lineage")?,
        disposal: row.get("disposal")?,
        index: None,
    })
}

/// The columns of an item list (never the sealed bytes).
const ITEM_ROW: &str = "rowid, id, originator, label, equivalent_label, received_from, \
     COALESCE(origin_item, id) AS origin_item, created_at, binding, custody, lineage, disposal";

fn item_row(r: &Row<'_>) -> rusqlite::Result<Result<ItemRow, StoreError>> {
    Ok(Ok(ItemRow {
        position: r.get("rowid")?,
        id: r.get("id")?,
        originator: r.get("originator")?,
        label: r.get("label")?,
        equivalent_label: r.get("equivalent_label")?,
        received_from: r.get("received_from")?,
        origin_item: r.get("origin_item")?,
        created_at: r.get("created_at")?,
        binding: r.get("binding")?,
        custody: r.get("custody")?,
        lineage: r.get("lineage")?,
        disposal: r.get("disposal")?,
    }))
}

/// The columns of an incident message.
const INCIDENT_ROW: &str =
    "rowid, incident, seq, direction, party, item, bytes, at, acked_at, ack, failed_at, failure";

fn incident_row(r: &Row<'_>) -> rusqlite::Result<Result<IncidentRow, StoreError>> {
    let direction: String = r.get("direction")?;
    let seq: i64 = r.get("seq")?;
    Ok(Ok(IncidentRow {
        position: r.get("rowid")?,
        incident: r.get("incident")?,
        seq: u32::try_from(seq).unwrap_or(u32::MAX),
        sent: direction == "sent",
        party: r.get("party")?,
        item: r.get("item")?,
        bytes: r.get("bytes")?,
        at: r.get("at")?,
        acked_at: r.get("acked_at")?,
        ack: r.get("ack")?,
        failed_at: r.get("failed_at")?,
        failure: r.get("failure")?,
    }))
}

/// The columns of a transfer as its sender shows it.
const TRANSFER_ROW: &str = "rowid, kind, transfer, item, recipient, released_by, attempts, \
     COALESCE(queued_at, next_attempt_at) AS queued, next_attempt_at, last_error, delivered_at, \
     receipt, failed_at, failure";

fn transfer_row(r: &Row<'_>) -> rusqlite::Result<Result<TransferRow, StoreError>> {
    let kind: String = r.get("kind")?;
    let attempts: i64 = r.get("attempts")?;
    let row = (
        r.get("rowid")?,
        r.get("transfer")?,
        r.get("item")?,
        r.get("recipient")?,
        r.get("released_by")?,
        r.get("queued")?,
        r.get("next_attempt_at")?,
        r.get("last_error")?,
    );
    let (delivered_at, receipt, failed_at, failure) = (
        r.get("delivered_at")?,
        r.get("receipt")?,
        r.get("failed_at")?,
        r.get("failure")?,
    );
    Ok((|| {
        Ok(TransferRow {
            position: row.0,
            kind: MessageKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox kind `{kind}`")))?,
            transfer: row.1,
            item: row.2,
            recipient: row.3,
            released_by: row.4,
            attempts: u32::try_from(attempts)
                .map_err(|_| StoreError::Corrupt("attempts".into()))?,
            queued_at: row.5,
            next_attempt_at: row.6,
            last_error: row.7,
            delivered_at,
            receipt,
            failed_at,
            failure,
        })
    })())
}

/// Every row of `sql` with `params`, each mapped by `f` (which may refuse it).
fn all<T, P: rusqlite::Params>(
    conn: &Connection,
    query: &str,
    params: P,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Vec<T>, StoreError> {
    let mut st = conn.prepare_cached(query).map_err(sql)?;
    let rows = st.query_map(params, f).map_err(sql)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(sql)??);
    }
    Ok(out)
}

/// The one row of `sql` with `params`, if any, mapped by `f`.
fn one<T, P: rusqlite::Params>(
    conn: &Connection,
    query: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Option<T>, StoreError> {
    let mut st = conn.prepare_cached(query).map_err(sql)?;
    st.query_row(params, f).optional().map_err(sql)?.transpose()
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| StoreError::Corrupt(what.to_owned()))
}

fn index(i: i64) -> Result<u64, StoreError> {
    u64::try_from(i).map_err(|_| StoreError::Corrupt(format!("index {i}")))
}

/// The due-transfer condition, oldest first.
const DUE: &str = "FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, rowid LIMIT ?";

/// Outbox rows with their envelopes (kept apart: see migration 5).
const OUTGOING: &str =
    "SELECT outbox.*, outbox_envelope.envelope FROM outbox JOIN outbox_envelope USING (transfer)";

impl Store for SqliteStore {
    fn person_by_token<'a>(&'a self, token_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Person>> {
        Box::pin(async move {
            let token_hash = *token_hash;
            self.read(move |c| {
                one(
                    c,
                    "SELECT * FROM person WHERE token_hash = ?",
                    [&token_hash[..]],
                    person,
                )
            })
            .await
        })
    }

    fn people(&self) -> StoreFuture<'_, Vec<Person>> {
        Box::pin(async move {
            self.read(|c| all(c, "SELECT * FROM person ORDER BY id", [], person))
                .await
        })
    }

    fn commit(&self, batch: Batch) -> StoreFuture<'_, Committed> {
        Box::pin(async move {
            // Group commit on the writer thread: everything queued while it
            // was busy goes in one transaction (one fsync), each batch failing
            // alone if it fails.
            self.writer.commit(batch).await
        })
    }

    fn incoming<'a>(&'a self, transfer: &'a str) -> StoreFuture<'a, Option<Incoming>> {
        Box::pin(async move {
            let transfer = transfer.to_owned();
            self.read(move |c| {
                one(
                    c,
                    "SELECT * FROM received_transfer WHERE transfer = ?",
                    [&transfer],
                    |r| incoming(r).map(Ok),
                )
            })
            .await
        })
    }

    fn incoming_many<'a>(&'a self, transfers: &'a [String]) -> StoreFuture<'a, Vec<Incoming>> {
        Box::pin(async move {
            let transfers = transfers.to_vec();
            self.read(move |c| {
                let mut out = Vec::with_capacity(transfers.len());
                for chunk in transfers.chunks(ROWS) {
                    let q = format!(
                        "SELECT * FROM received_transfer WHERE transfer IN ({})",
                        placeholders(chunk.len())
                    );
                    out.extend(all(c, &q, rusqlite::params_from_iter(chunk), |r| {
                        incoming(r).map(Ok)
                    })?);
                }
                Ok(out)
            })
            .await
        })
    }

    fn item<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Item>> {
        Box::pin(async move {
            let id = id.to_owned();
            self.read(move |c| {
                one(c, "SELECT * FROM item WHERE id = ?", [&id], |r| {
                    item(r).map(Ok)
                })
            })
            .await
        })
    }

    fn messages(&self, kind: MessageKind) -> StoreFuture<'_, Vec<Message>> {
        Box::pin(async move {
            self.read(move |c| {
                all(
                    c,
                    "SELECT * FROM message WHERE kind = ? ORDER BY rowid",
                    [kind.as_str()],
                    message,
                )
            })
            .await
        })
    }

    fn message<'a>(&'a self, kind: MessageKind, id: &'a str) -> StoreFuture<'a, Option<Message>> {
        Box::pin(async move {
            let id = id.to_owned();
            self.read(move |c| {
                one(
                    c,
                    "SELECT * FROM message WHERE kind = ? AND id = ?",
                    params![kind.as_str(), id],
                    message,
                )
            })
            .await
        })
    }

    fn item_ids(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.read(|c| {
                all(c, "SELECT id FROM item ORDER BY rowid", [], |r| {
                    r.get(0).map(Ok)
                })
            })
            .await
        })
    }

    fn ledger_size(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            // Indices are 0, 1, 2, … without gaps: the size is the last index + 1,
            // read from the primary key rather than by counting rows.
            let n = self
                .read(|c| {
                    one(
                        c,
                        "SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_record",
                        [],
                        |r| r.get::<_, i64>(0).map(Ok),
                    )
                })
                .await?
                .unwrap_or(0);
            index(n)
        })
    }

    fn leaf_hashes(&self, from: u64) -> StoreFuture<'_, Vec<Hash>> {
        Box::pin(async move {
            // A reader sees every commit made before it starts (WAL), so a
            // caller that has just committed reads what it wrote, without
            // queueing behind the writer's next group.
            let start = sql_int(from)?;
            let hashes = self
                .read(move |c| {
                    all(
                        c,
                        "SELECT idx, leaf_hash FROM ledger_record WHERE idx >= ? ORDER BY idx",
                        [start],
                        |r| {
                            let idx: i64 = r.get(0)?;
                            let h: Vec<u8> = r.get(1)?;
                            Ok(Ok((idx, h)))
                        },
                    )
                })
                .await?;
            let mut out = Vec::with_capacity(hashes.len());
            for (expected, (idx, h)) in (from..).zip(hashes) {
                if index(idx)? != expected {
                    return Err(StoreError::Corrupt(format!(
                        "ledger index {idx} where {expected} was expected"
                    )));
                }
                out.push(hash32(h, "leaf hash")?);
            }
            Ok(out)
        })
    }

    fn records(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<(Hash, Vec<u8>)>> {
        Box::pin(async move {
            let (from, to) = (sql_int(from)?, sql_int(to)?);
            self.read(move |c| {
                all(
                    c,
                    "SELECT leaf_hash, record FROM ledger_record WHERE idx >= ? AND idx < ? ORDER BY idx",
                    [from, to],
                    |r| {
                        let h: Vec<u8> = r.get(0)?;
                        let rec: Vec<u8> = r.get(1)?;
                        Ok(hash32(h, "leaf hash").map(|h| (h, rec)))
                    },
                )
            })
            .await
        })
    }

    fn put_checkpoint<'a>(&'a self, size: u64, root: Hash, note: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let note = note.to_owned();
            self.writer
                .run(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(writer::sql)?;
                    let existing: Option<Vec<u8>> = tx
                        .query_row(
                            "SELECT root FROM checkpoint WHERE size = ?",
                            [sql_int(size)?],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(writer::sql)?;
                    match existing {
                        Some(r) if r == root.0 => {}
                        Some(_) => return Err(StoreError::Conflict(size)),
                        None => {
                            tx.execute(
                                "INSERT INTO checkpoint (size, root, note) VALUES (?, ?, ?)",
                                rusqlite::params![sql_int(size)?, &root.0[..], note],
                            )
                            .map_err(writer::sql)?;
                        }
                    }
                    tx.commit().map_err(writer::sql)
                })
                .await
        })
    }

    fn latest_checkpoint(&self) -> StoreFuture<'_, Option<(u64, String)>> {
        Box::pin(async move {
            self.read(|c| {
                one(
                    c,
                    "SELECT size, note FROM checkpoint ORDER BY size DESC LIMIT 1",
                    [],
                    |r| {
                        let size: i64 = r.get(0)?;
                        let note: String = r.get(1)?;
                        Ok(index(size).map(|s| (s, note)))
                    },
                )
            })
            .await
        })
    }

    fn checkpoints(&self) -> StoreFuture<'_, Vec<(u64, Hash, String)>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT size, root, note FROM checkpoint ORDER BY size",
                    [],
                    |r| {
                        let size: i64 = r.get(0)?;
                        let root: Vec<u8> = r.get(1)?;
                        let note: String = r.get(2)?;
                        Ok((|| {
                            Ok((index(size)?, hash32(root, "checkpoint root")?, note))
                        })())
                    },
                )
            })
            .await
        })
    }

    fn received(&self) -> StoreFuture<'_, Vec<Incoming>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT * FROM received_transfer ORDER BY rowid",
                    [],
                    |r| incoming(r).map(Ok),
                )
            })
            .await
        })
    }

    fn outbox_rows(&self) -> StoreFuture<'_, Vec<OutboxRow>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT kind, outbox.transfer, item, recipient, delivered_at, failed_at, \
                     outbox_envelope.transfer IS NOT NULL FROM outbox \
                     LEFT JOIN outbox_envelope USING (transfer) ORDER BY outbox.rowid",
                    [],
                    |r| {
                        let kind: String = r.get(0)?;
                        let (transfer, item, recipient, delivered_at, failed_at) =
                            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
                        let has_envelope: bool = r.get(6)?;
                        Ok(MessageKind::parse(&kind)
                            .ok_or_else(|| StoreError::Corrupt(format!("outbox kind `{kind}`")))
                            .map(|kind| OutboxRow {
                                kind,
                                transfer,
                                item,
                                recipient,
                                delivered_at,
                                failed_at,
                                has_envelope,
                            }))
                    },
                )
            })
            .await
        })
    }

    fn probe_write<'a>(&'a self, at: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let at = at.to_owned();
            self.writer
                .run(move |conn| {
                    conn.execute(
                        "INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                        [at],
                    )
                    .map_err(writer::sql)?;
                    Ok(())
                })
                .await
        })
    }

    fn witnessed<'a>(&'a self, party: &'a str) -> StoreFuture<'a, Option<(u64, Hash, String)>> {
        Box::pin(async move {
            let party = party.to_owned();
            self.read(move |c| {
                one(
                    c,
                    "SELECT size, root, note FROM witnessed WHERE party = ?",
                    [&party],
                    |r| {
                        let size: i64 = r.get(0)?;
                        let root: Vec<u8> = r.get(1)?;
                        let note: String = r.get(2)?;
                        Ok((|| {
                            Ok((index(size)?, hash32(root, "witnessed root")?, note))
                        })())
                    },
                )
            })
            .await
        })
    }

    fn put_witnessed<'a>(
        &'a self,
        party: &'a str,
        size: u64,
        root: Hash,
        note: &'a str,
        at: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (party, note, at) = (party.to_owned(), note.to_owned(), at.to_owned());
            self.writer
                .run(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(writer::sql)?;
                    let last: Option<i64> = tx
                        .query_row("SELECT size FROM witnessed WHERE party = ?", [&party], |r| {
                            r.get(0)
                        })
                        .optional()
                        .map_err(writer::sql)?;
                    if let Some(last) = last
                        && index(last)? > size
                    {
                        return Err(StoreError::Conflict(size));
                    }
                    tx.execute(
                        "INSERT INTO witnessed (party, size, root, note, at) VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (party) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, at = excluded.at",
                        rusqlite::params![party, sql_int(size)?, &root.0[..], note, at],
                    )
                    .map_err(writer::sql)?;
                    tx.commit().map_err(writer::sql)
                })
                .await
        })
    }

    fn session_begin<'a>(&'a self, s: &'a ConsoleSession, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let s = s.clone();
            self.writer
                .run(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(writer::sql)?;
                    tx.execute(
                        "DELETE FROM console_session WHERE expires_unix <= ?",
                        [now],
                    )
                    .map_err(writer::sql)?;
                    let n = tx
                        .execute(
                            "INSERT INTO console_session (id_hash, token_hash, expires_unix, custody) \
                             VALUES (?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING",
                            rusqlite::params![
                                &s.id_hash[..],
                                &s.token_hash[..],
                                s.expires_unix,
                                s.custody
                            ],
                        )
                        .map_err(writer::sql)?;
                    if n == 0 {
                        return Err(StoreError::Exists("console session".to_owned()));
                    }
                    tx.commit().map_err(writer::sql)
                })
                .await
        })
    }

    fn session<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<ConsoleSession>> {
        Box::pin(async move {
            let id = *id_hash;
            self.read(move |c| {
                one(
                    c,
                    "SELECT token_hash, expires_unix, custody FROM console_session WHERE id_hash = ?",
                    [&id[..]],
                    |r| {
                        let token: Vec<u8> = r.get(0)?;
                        let expires_unix: i64 = r.get(1)?;
                        let custody: Vec<u8> = r.get(2)?;
                        Ok(hash32(token, "console session token hash").map(|t| ConsoleSession {
                            id_hash: id,
                            token_hash: t.0,
                            expires_unix,
                            custody,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn session_end<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let id = *id_hash;
            self.writer
                .run(move |conn| {
                    Ok(conn
                        .execute("DELETE FROM console_session WHERE id_hash = ?", [&id[..]])
                        .map_err(writer::sql)?
                        > 0)
                })
                .await
        })
    }

    fn add_cosignature<'a>(
        &'a self,
        size: u64,
        cosigner: &'a str,
        note: &'a str,
        at: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (cosigner, note, at) = (cosigner.to_owned(), note.to_owned(), at.to_owned());
            self.writer
                .run(move |conn| {
                    conn.execute(
                        "INSERT INTO cosigned (size, cosigner, note, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        rusqlite::params![sql_int(size)?, cosigner, note, at],
                    )
                    .map_err(writer::sql)?;
                    Ok(())
                })
                .await
        })
    }

    fn cosignatures(&self) -> StoreFuture<'_, Vec<(u64, String, String, String)>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT size, cosigner, note, at FROM cosigned ORDER BY size DESC, cosigner",
                    [],
                    |r| {
                        let size: i64 = r.get(0)?;
                        let (cosigner, note, at) = (r.get(1)?, r.get(2)?, r.get(3)?);
                        Ok(index(size).map(|s| (s, cosigner, note, at)))
                    },
                )
            })
            .await
        })
    }

    fn due(&self, now: i64, limit: u32) -> StoreFuture<'_, Vec<Outgoing>> {
        Box::pin(async move {
            self.read(move |c| {
                all(
                    c,
                    &format!(
                        "{OUTGOING} WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? \
                         ORDER BY next_attempt_at, outbox.rowid LIMIT ?"
                    ),
                    params![now, i64::from(limit)],
                    outgoing,
                )
            })
            .await
        })
    }

    fn due_except<'a>(
        &'a self,
        now: i64,
        limit: u32,
        except: &'a std::collections::HashSet<String>,
    ) -> StoreFuture<'a, Vec<Outgoing>> {
        Box::pin(async move {
            // The ids first (small), then the envelopes of those not excluded.
            let wider =
                i64::from(limit).saturating_add(i64::try_from(except.len()).unwrap_or(i64::MAX));
            let ids: Vec<String> = self
                .read(move |c| {
                    all(
                        c,
                        &format!("SELECT transfer {DUE}"),
                        params![now, wider],
                        |r| r.get(0).map(Ok),
                    )
                })
                .await?;
            let wanted: Vec<String> = ids
                .into_iter()
                .filter(|t| !except.contains(t))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect();
            if wanted.is_empty() {
                return Ok(Vec::new());
            }
            self.read(move |c| {
                let mut found = std::collections::HashMap::with_capacity(wanted.len());
                for chunk in wanted.chunks(ROWS) {
                    let q = format!(
                        "{OUTGOING} WHERE transfer IN ({})",
                        placeholders(chunk.len())
                    );
                    for o in all(c, &q, rusqlite::params_from_iter(chunk), outgoing)? {
                        found.insert(o.transfer.clone(), o);
                    }
                }
                // In the order they fell due (one delivered meanwhile is left out).
                Ok(wanted.iter().filter_map(|t| found.remove(t)).collect())
            })
            .await
        })
    }

    fn outbox_stats(&self) -> StoreFuture<'_, Vec<OutboxStats>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT recipient, COUNT(*), MIN(COALESCE(queued_at, next_attempt_at)) FROM outbox \
                     WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY recipient ORDER BY recipient",
                    [],
                    |r| {
                        let depth: i64 = r.get(1)?;
                        Ok(Ok(OutboxStats {
                            recipient: r.get(0)?,
                            depth: u64::try_from(depth).unwrap_or(0),
                            oldest_queued_at: r.get(2)?,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn retry_later<'a>(
        &'a self,
        transfer: &'a str,
        next_attempt_at: i64,
        error: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (transfer, error) = (transfer.to_owned(), error.to_owned());
            self.writer
                .run(move |conn| {
                    conn.prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? \
                         WHERE transfer = ? AND delivered_at IS NULL",
                    )
                    .and_then(|mut st| {
                        st.execute(rusqlite::params![next_attempt_at, error, transfer])
                    })
                    .map_err(writer::sql)?;
                    Ok(())
                })
                .await
        })
    }

    fn warnings_since(&self, since: i64) -> StoreFuture<'_, Vec<WarningRow>> {
        Box::pin(async move {
            self.read(move |c| {
                all(
                    c,
                    "SELECT flight, seq, bytes, applied_at, applied_unix, level FROM warning_update \
                     WHERE applied_unix >= ? ORDER BY applied_unix, rowid",
                    [since],
                    |r| {
                        let seq: i64 = r.get(1)?;
                        let (flight, bytes, applied_at, applied_unix, level) =
                            (r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
                        Ok(u32::try_from(seq)
                            .map_err(|_| StoreError::Corrupt("warning seq".into()))
                            .map(|seq| WarningRow {
                                flight,
                                seq,
                                bytes,
                                applied_at,
                                applied_unix,
                                level,
                            }))
                    },
                )
            })
            .await
        })
    }

    fn warnings_owed(&self) -> StoreFuture<'_, Vec<WarningOwed>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT o.party, o.flight, o.seq, u.bytes, o.queued_at FROM warning_out o \
                     JOIN warning_update u ON u.flight = o.flight AND u.seq = o.seq \
                     WHERE o.delivered_at IS NULL ORDER BY o.rowid",
                    [],
                    |r| {
                        let seq: i64 = r.get(2)?;
                        let (party, flight, bytes, queued_at) =
                            (r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?);
                        Ok(u32::try_from(seq)
                            .map_err(|_| StoreError::Corrupt("warning seq".into()))
                            .map(|seq| WarningOwed {
                                party,
                                flight,
                                seq,
                                bytes,
                                queued_at,
                            }))
                    },
                )
            })
            .await
        })
    }

    fn item_indexes(&self) -> StoreFuture<'_, Vec<(String, Option<ItemIndex>)>> {
        Box::pin(async move {
            self.read(|c| {
                let rows = all(
                    c,
                    "SELECT id, access_level, created_unix, source, dispose_by FROM item ORDER BY rowid",
                    [],
                    |r| {
                        let id: String = r.get(0)?;
                        let level: Option<String> = r.get(1)?;
                        let unix: Option<i64> = r.get(2)?;
                        let extra: (Option<String>, Option<i64>) = (r.get(3)?, r.get(4)?);
                        Ok(Ok((id, level, unix, extra)))
                    },
                )?;
                let mut topics: std::collections::HashMap<String, Vec<String>> =
                    std::collections::HashMap::new();
                for (item, topic) in all(
                    c,
                    "SELECT item, topic FROM item_topic ORDER BY item, topic",
                    [],
                    |r| Ok(Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))),
                )? {
                    topics.entry(item).or_default().push(topic);
                }
                Ok(rows
                    .into_iter()
                    .map(|(id, level, unix, (source, dispose_by))| {
                        let index = match (level, unix) {
                            (Some(access_level), Some(created_unix)) => Some(ItemIndex {
                                access_level,
                                created_unix,
                                topics: topics.remove(&id).unwrap_or_default(),
                                source,
                                dispose_by,
                            }),
                            _ => None,
                        };
                        (id, index)
                    })
                    .collect())
            })
            .await
        })
    }

    fn items_page<'a>(&'a self, q: &'a ItemQuery) -> StoreFuture<'a, Vec<ItemRow>> {
        Box::pin(async move {
            let q = q.clone();
            self.read(move |c| {
                // Items are stored in time order: a `since` walk starts at
                // the row stored first at or after it. (Should the system
                // clock have stepped back, rows stored before that one are
                // not looked at; the node's own clock never goes back.)
                let mut after = q.after.unwrap_or(0);
                if let Some(since) = q.since {
                    let first: Option<i64> = one(
                        c,
                        "SELECT rowid FROM item WHERE created_unix >= ? ORDER BY created_unix LIMIT 1",
                        [since],
                        |r| r.get::<_, i64>(0).map(Ok),
                    )?;
                    match first {
                        Some(f) => after = after.max(f - 1),
                        None => return Ok(Vec::new()),
                    }
                }
                let mut sql = format!("SELECT {ITEM_ROW} FROM item WHERE rowid > ?");
                let mut p: Vec<rusqlite::types::Value> = vec![after.into()];
                if let Some(levels) = &q.levels {
                    if levels.is_empty() {
                        return Ok(Vec::new());
                    }
                    sql.push_str(&format!(
                        " AND +access_level IN ({})",
                        placeholders(levels.len())
                    ));
                    p.extend(levels.iter().map(|l| l.clone().into()));
                }
                if let Some(within) = &q.topics_within {
                    if within.is_empty() {
                        return Ok(Vec::new());
                    }
                    sql.push_str(&format!(
                        " AND NOT EXISTS (SELECT 1 FROM item_topic t WHERE t.item = item.id AND t.topic NOT IN ({}))",
                        placeholders(within.len())
                    ));
                    p.extend(within.iter().map(|t| t.clone().into()));
                }
                if let Some(topic) = &q.topic {
                    sql.push_str(
                        " AND EXISTS (SELECT 1 FROM item_topic t WHERE t.topic = ? AND t.item = item.id)",
                    );
                    p.push(topic.clone().into());
                }
                if let Some(o) = &q.originator {
                    sql.push_str(" AND originator = ?");
                    p.push(o.clone().into());
                }
                if let Some(since) = q.since {
                    sql.push_str(" AND +created_unix >= ?");
                    p.push(since.into());
                }
                if q.held_only {
                    sql.push_str(" AND disposed_unix IS NULL");
                }
                if let Some(by) = q.due_by {
                    sql.push_str(" AND dispose_by <= ? AND disposed_unix IS NULL");
                    p.push(by.into());
                }
                sql.push_str(" ORDER BY rowid LIMIT ?");
                p.push(i64::from(q.limit).into());
                all(c, &sql, rusqlite::params_from_iter(p), item_row)
            })
            .await
        })
    }

    fn transfers_page<'a>(&'a self, q: &'a TransferQuery) -> StoreFuture<'a, Vec<TransferRow>> {
        Box::pin(async move {
            let q = q.clone();
            self.read(move |c| {
                let mut sql = format!("SELECT {TRANSFER_ROW} FROM outbox WHERE rowid > ?");
                let mut p: Vec<rusqlite::types::Value> = vec![q.after.unwrap_or(0).into()];
                if let Some(by) = &q.released_by {
                    sql.push_str(" AND released_by = ?");
                    p.push(by.clone().into());
                }
                if let Some(to) = &q.recipient {
                    sql.push_str(" AND recipient = ?");
                    p.push(to.clone().into());
                }
                if let Some(item) = &q.item {
                    sql.push_str(" AND item = ?");
                    p.push(item.clone().into());
                }
                match q.state {
                    None => {}
                    Some(TransferState::Queued) => sql.push_str(
                        " AND delivered_at IS NULL AND failed_at IS NULL AND attempts = 0",
                    ),
                    Some(TransferState::Sending) => sql.push_str(
                        " AND delivered_at IS NULL AND failed_at IS NULL AND attempts > 0",
                    ),
                    Some(TransferState::Delivered) => sql.push_str(" AND delivered_at IS NOT NULL"),
                    Some(TransferState::Refused) => {
                        sql.push_str(" AND failed_at IS NOT NULL AND delivered_at IS NULL")
                    }
                }
                sql.push_str(" ORDER BY rowid LIMIT ?");
                p.push(i64::from(q.limit).into());
                all(c, &sql, rusqlite::params_from_iter(p), transfer_row)
            })
            .await
        })
    }

    fn transfer<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TransferRow>> {
        Box::pin(async move {
            let id = id.to_owned();
            self.read(move |c| {
                one(
                    c,
                    &format!("SELECT {TRANSFER_ROW} FROM outbox WHERE transfer = ?"),
                    [&id],
                    transfer_row,
                )
            })
            .await
        })
    }

    fn incidents_page(&self, after: Option<i64>, limit: u32) -> StoreFuture<'_, Vec<IncidentRow>> {
        Box::pin(async move {
            self.read(move |c| {
                all(
                    c,
                    &format!(
                        "SELECT {INCIDENT_ROW} FROM incident_message WHERE seq = 0 AND rowid > ? ORDER BY rowid LIMIT ?"
                    ),
                    params![after.unwrap_or(0), i64::from(limit)],
                    incident_row,
                )
            })
            .await
        })
    }

    fn incident_messages<'a>(&'a self, incident: &'a str) -> StoreFuture<'a, Vec<IncidentRow>> {
        Box::pin(async move {
            let incident = incident.to_owned();
            self.read(move |c| {
                all(
                    c,
                    &format!(
                        "SELECT {INCIDENT_ROW} FROM incident_message WHERE incident = ? ORDER BY seq, direction"
                    ),
                    [&incident],
                    incident_row,
                )
            })
            .await
        })
    }

    fn incidents_unacked(&self) -> StoreFuture<'_, Vec<IncidentRow>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    &format!(
                        "SELECT {INCIDENT_ROW} FROM incident_message \
                         WHERE direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL ORDER BY rowid"
                    ),
                    [],
                    incident_row,
                )
            })
            .await
        })
    }

    fn items_of_origin<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<Item>> {
        Box::pin(async move {
            let origin = origin_item.to_owned();
            self.read(move |c| {
                all(
                    c,
                    "SELECT * FROM item WHERE COALESCE(origin_item, id) = ? ORDER BY rowid",
                    [&origin],
                    |r| item(r).map(Ok),
                )
            })
            .await
        })
    }

    fn documents_made(&self) -> StoreFuture<'_, Vec<Item>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT * FROM item WHERE lineage IS NOT NULL AND disposal IS NULL \
                     AND COALESCE(origin_item, id) = id ORDER BY rowid",
                    [],
                    |r| item(r).map(Ok),
                )
            })
            .await
        })
    }

    fn distribution<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let origin = origin_item.to_owned();
            self.read(move |c| {
                all(
                    c,
                    "SELECT DISTINCT o.recipient FROM outbox o JOIN item i ON i.id = o.item \
                     WHERE COALESCE(i.origin_item, i.id) = ? AND o.kind = 'transfer' \
                     AND o.failed_at IS NULL ORDER BY o.recipient",
                    [&origin],
                    |r| Ok(Ok(r.get(0)?)),
                )
            })
            .await
        })
    }

    fn facility_records(&self) -> StoreFuture<'_, Vec<crate::FacilityRecord>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT facility, seq, body, at, custody FROM facility_record ORDER BY facility, seq",
                    [],
                    |r| {
                        Ok(Ok(crate::FacilityRecord {
                            facility: r.get(0)?,
                            seq: r.get(1)?,
                            body: r.get(2)?,
                            at: r.get(3)?,
                            custody: r.get(4)?,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn made_from<'a>(&'a self, source: &'a str) -> StoreFuture<'a, Vec<ItemRow>> {
        Box::pin(async move {
            let source = source.to_owned();
            self.read(move |c| {
                all(
                    c,
                    &format!("SELECT {ITEM_ROW} FROM item WHERE source = ? ORDER BY rowid"),
                    [&source],
                    item_row,
                )
            })
            .await
        })
    }

    fn history<'a>(
        &'a self,
        subjects: &'a [String],
        after: Option<u64>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(u64, Hash, Vec<u8>)>> {
        Box::pin(async move {
            let subjects = subjects.to_vec();
            let after = after.map(sql_int).transpose()?.unwrap_or(-1);
            self.read(move |c| {
                if subjects.is_empty() {
                    return Ok(Vec::new());
                }
                // One indexed range per subject, merged in index order.
                let sql = format!(
                    "SELECT idx, leaf_hash, record FROM ledger_record \
                     WHERE subject IN ({}) AND idx > ? ORDER BY idx LIMIT ?",
                    placeholders(subjects.len())
                );
                let mut p: Vec<rusqlite::types::Value> =
                    subjects.iter().map(|s| s.clone().into()).collect();
                p.push(after.into());
                p.push(i64::from(limit).into());
                all(c, &sql, rusqlite::params_from_iter(p), |r| {
                    let idx: i64 = r.get(0)?;
                    let h: Vec<u8> = r.get(1)?;
                    let rec: Vec<u8> = r.get(2)?;
                    Ok(hash32(h, "leaf hash").and_then(|h| {
                        u64::try_from(idx)
                            .map(|i| (i, h, rec))
                            .map_err(|_| StoreError::Corrupt(format!("ledger index {idx}")))
                    }))
                })
            })
            .await
        })
    }

    fn returns_answered(&self) -> StoreFuture<'_, Vec<ReturnAnswered>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT r.transfer, r.item, r.requested_by, r.requested_at, o.receipt, o.delivered_at, o.failure \
                     FROM item_return r JOIN outbox o ON o.transfer = r.transfer \
                     WHERE r.done_at IS NULL AND (o.delivered_at IS NOT NULL OR o.failed_at IS NOT NULL) \
                     ORDER BY r.rowid",
                    [],
                    |r| {
                        Ok(Ok(ReturnAnswered {
                            ret: Return {
                                transfer: r.get(0)?,
                                item: r.get(1)?,
                                requested_by: r.get(2)?,
                                requested_at: r.get(3)?,
                            },
                            receipt: r.get(4)?,
                            delivered_at: r.get(5)?,
                            failure: r.get(6)?,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn returns_open(&self) -> StoreFuture<'_, Vec<Return>> {
        Box::pin(async move {
            self.read(|c| {
                all(
                    c,
                    "SELECT transfer, item, requested_by, requested_at FROM item_return \
                     WHERE done_at IS NULL ORDER BY rowid",
                    [],
                    |r| {
                        Ok(Ok(Return {
                            transfer: r.get(0)?,
                            item: r.get(1)?,
                            requested_by: r.get(2)?,
                            requested_at: r.get(3)?,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn scrub(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            self.writer
                .run(|conn| {
                    // (busy, frames in the log, frames copied): complete
                    // when not busy; TRUNCATE then empties the WAL file.
                    let busy: i64 = conn
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                        .map_err(writer::sql)?;
                    Ok(busy == 0)
                })
                .await
        })
    }

    fn idempotent<'a>(
        &'a self,
        person: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Idempotent>> {
        Box::pin(async move {
            let (person, key) = (person.to_owned(), key.to_owned());
            self.read(move |c| {
                one(
                    c,
                    "SELECT person, key, request, response, at FROM idempotency WHERE person = ? AND key = ?",
                    [&person, &key],
                    |r| {
                        Ok(Ok(Idempotent {
                            person: r.get(0)?,
                            key: r.get(1)?,
                            request: r.get(2)?,
                            response: r.get(3)?,
                            at: r.get(4)?,
                        }))
                    },
                )
            })
            .await
        })
    }

    fn registers_version(&self) -> StoreFuture<'_, (i64, i64)> {
        Box::pin(async move {
            self.read(|c| {
                one(
                    c,
                    "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM message), (SELECT COUNT(*) FROM facility_record)",
                    [],
                    |r| Ok(Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))),
                )
            })
            .await
            .map(Option::unwrap_or_default)
        })
    }

    fn warnings_after(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<(i64, WarningRow)>> {
        Box::pin(async move {
            self.read(move |c| {
                all(
                    c,
                    "SELECT rowid, flight, seq, bytes, applied_at, applied_unix, level FROM warning_update \
                     WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    params![after, i64::from(limit)],
                    |r| {
                        let seq: i64 = r.get(2)?;
                        let (pos, flight, bytes, applied_at, applied_unix, level) =
                            (r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
                        Ok(u32::try_from(seq)
                            .map_err(|_| StoreError::Corrupt("warning seq".into()))
                            .map(|seq| {
                                (
                                    pos,
                                    WarningRow {
                                        flight,
                                        seq,
                                        bytes,
                                        applied_at,
                                        applied_unix,
                                        level,
                                    },
                                )
                            }))
                    },
                )
            })
            .await
        })
    }

    fn last_warning_position(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            self.read(|c| {
                one(
                    c,
                    "SELECT COALESCE(MAX(rowid), 0) FROM warning_update",
                    [],
                    |r| r.get::<_, i64>(0).map(Ok),
                )
            })
            .await
            .map(Option::unwrap_or_default)
        })
    }
}
