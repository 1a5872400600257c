//! The embedded SQLite adapter (the default): WAL journal with
//! `synchronous=FULL`, so a committed transaction survives a power cut;
//! writes begin with `BEGIN IMMEDIATE`, so the ledger sequencer never races.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use gsomia_ledger::entry::{GENESIS, Record};
use gsomia_ledger::merkle::Hash;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::node::{
    Batch, Committed, Incoming, Item, Message, MessageKind, Outgoing, Person, Role, Store,
    StoreError,
};

/// The migrations, in order; applied once each, in a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_node.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_outbox_failure.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_messages.sql")),
    (4, include_str!("../migrations/sqlite/0004_witness.sql")),
];

fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Exists(d.message().to_owned())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// The node's state in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    group: std::sync::Arc<Group>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Readers do not wait for a commit's fsync (WAL); writes are one at a
        // time through the group commit.
        Self::with_options(options, 4).await
    }

    /// An in-memory database (tests and benchmarks of the logic, not of durability).
    pub async fn memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db)?;
        // An in-memory database lives in its one connection.
        Self::with_options(options, 1).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        connections: u32,
    ) -> Result<SqliteStore, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = SqliteStore {
            pool,
            group: std::sync::Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY) STRICT",
        )
        .execute(&self.pool)
        .await
        .map_err(db)?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_version WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if done.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db)?;
                sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
        }
        Ok(())
    }
}

fn person(row: &sqlx::sqlite::SqliteRow) -> Result<Person, StoreError> {
    let role: String = row.try_get("role").map_err(db)?;
    let ntk: String = row.try_get("need_to_know").map_err(db)?;
    let hash: Vec<u8> = row.try_get("token_hash").map_err(db)?;
    Ok(Person {
        id: row.try_get("id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
        clearance: row.try_get("clearance").map_err(db)?,
        clearance_until: row.try_get("clearance_until").map_err(db)?,
        need_to_know: ntk
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        token_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("token hash".into()))?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

/// Rows per multi-row statement (well under SQLite's bound-variable limit).
const ROWS: usize = 200;

/// The ledger sequencer's position: the next index and the last leaf hash.
#[derive(Debug, Clone, Copy)]
struct Seq {
    next: u64,
    prev: Hash,
}

/// Reads the last record's index and hash inside the write transaction.
async fn sequencer(tx: &mut sqlx::SqliteConnection) -> Result<Seq, StoreError> {
    let last = sqlx::query("SELECT idx, leaf_hash FROM ledger_record ORDER BY idx DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    Ok(match last {
        Some(row) => {
            let idx: i64 = row.try_get("idx").map_err(db)?;
            let h: Vec<u8> = row.try_get("leaf_hash").map_err(db)?;
            Seq {
                next: index(idx)? + 1,
                prev: hash32(h, "leaf hash")?,
            }
        }
        None => Seq {
            next: 0,
            prev: GENESIS,
        },
    })
}

/// The first of `ids` already in `table` (`column`), if any.
async fn first_existing(
    tx: &mut sqlx::SqliteConnection,
    table: &str,
    column: &str,
    ids: &[&str],
) -> Result<Option<String>, StoreError> {
    let mut q =
        QueryBuilder::<Sqlite>::new(format!("SELECT {column} FROM {table} WHERE {column} IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(") LIMIT 1");
    q.build_query_scalar()
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)
}

/// The first id that appears twice in `ids`.
fn repeated<'a>(ids: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    ids.into_iter()
        .find(|id| !seen.insert(*id))
        .map(str::to_owned)
}

/// Writes one batch inside the open transaction `tx` (the caller wraps it in
/// a savepoint when several share the transaction), with multi-row
/// statements; `seq` is the ledger sequencer, advanced only on success.
async fn apply(
    tx: &mut sqlx::SqliteConnection,
    batch: &Batch,
    seq: &mut Seq,
) -> Result<Committed, StoreError> {
    // Exactly once: a transfer id already received, or twice in the batch.
    if let Some(t) = repeated(batch.incoming.iter().map(|t| t.transfer.as_str())) {
        return Err(StoreError::Duplicate(t));
    }
    for chunk in batch.incoming.chunks(ROWS) {
        let ids: Vec<&str> = chunk.iter().map(|t| t.transfer.as_str()).collect();
        if let Some(t) = first_existing(tx, "received_transfer", "transfer", &ids).await? {
            return Err(StoreError::Duplicate(t));
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO received_transfer (transfer, sender, item, received_at) ",
        );
        q.push_values(chunk, |mut row, t| {
            row.push_bind(&t.transfer)
                .push_bind(&t.sender)
                .push_bind(&t.item)
                .push_bind(&t.received_at);
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
    }
    if let Some(id) = repeated(batch.items.iter().map(|i| i.id.as_str())) {
        return Err(StoreError::Exists(id));
    }
    for chunk in batch.items.chunks(ROWS) {
        let ids: Vec<&str> = chunk.iter().map(|i| i.id.as_str()).collect();
        if let Some(id) = first_existing(tx, "item", "id", &ids).await? {
            return Err(StoreError::Exists(id));
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO item (id, originator, sealed, label, equivalent_label, received_from, created_at, origin_item) ",
        );
        q.push_values(chunk, |mut row, i| {
            row.push_bind(&i.id)
                .push_bind(&i.originator)
                .push_bind(&i.sealed)
                .push_bind(&i.label)
                .push_bind(&i.equivalent_label)
                .push_bind(&i.received_from)
                .push_bind(&i.created_at)
                .push_bind(&i.origin_item);
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
    }
    for chunk in batch.outgoing.chunks(ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO outbox (transfer, item, recipient, envelope, attempts, next_attempt_at, kind) ",
        );
        q.push_values(chunk, |mut row, o| {
            row.push_bind(&o.transfer)
                .push_bind(&o.item)
                .push_bind(&o.recipient)
                .push_bind(&o.envelope)
                .push_bind(i64::from(o.attempts))
                .push_bind(o.next_attempt_at)
                .push_bind(o.kind.as_str());
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
    }
    for m in &batch.messages {
        sqlx::query(
            "INSERT INTO message (kind, id, party, body, stored_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(m.kind.as_str())
        .bind(&m.id)
        .bind(&m.party)
        .bind(&m.body)
        .bind(&m.stored_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db(e) {
            StoreError::Exists(_) => StoreError::Duplicate(m.id.clone()),
            other => other,
        })?;
    }
    for (transfer, at, why) in &batch.failed {
        sqlx::query("UPDATE outbox SET failed_at = ?, failure = ? WHERE transfer = ? AND delivered_at IS NULL")
            .bind(at)
            .bind(why)
            .bind(transfer)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    // Deliveries acknowledged at one instant are marked in one statement.
    let mut by_instant: std::collections::BTreeMap<&str, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (transfer, at) in &batch.delivered {
        by_instant.entry(at).or_default().push(transfer);
    }
    for (at, transfers) in by_instant {
        for chunk in transfers.chunks(ROWS) {
            let mut q = QueryBuilder::<Sqlite>::new("UPDATE outbox SET delivered_at = ");
            q.push_bind(at)
                .push(" WHERE delivered_at IS NULL AND transfer IN (");
            let mut list = q.separated(", ");
            for t in chunk {
                list.push_bind(*t);
            }
            q.push(")");
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
    }
    // The ledger records, chained from the sequencer's position.
    let first_index = seq.next;
    let mut at = *seq;
    let mut rows = Vec::with_capacity(batch.entries.len());
    for entry in &batch.entries {
        let record = Record {
            index: at.next,
            prev: at.prev,
            entry: entry.clone(),
        };
        let bytes = record.to_bytes();
        let leaf = gsomia_ledger::merkle::leaf_hash(&bytes);
        rows.push((sql_int(at.next)?, leaf, bytes));
        at = Seq {
            next: at.next + 1,
            prev: leaf,
        };
    }
    for chunk in rows.chunks(ROWS) {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO ledger_record (idx, leaf_hash, record) ");
        q.push_values(chunk, |mut row, (idx, leaf, bytes)| {
            row.push_bind(*idx).push_bind(&leaf.0[..]).push_bind(bytes);
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
    }
    *seq = at;
    Ok(Committed {
        first_index,
        size: at.next,
    })
}

/// One waiting commit: its batch and where its result goes.
type Pending = (
    Batch,
    tokio::sync::oneshot::Sender<Result<Committed, StoreError>>,
);

/// The group-commit state: batches waiting, and the writer's turn.
#[derive(Debug, Default)]
struct Group {
    queue: std::sync::Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Commits `pending` in one transaction, one savepoint per batch (none for
/// a group of one); answers each.
async fn commit_group(pool: SqlitePool, pending: Vec<Pending>) {
    let mut results: Vec<Result<Committed, StoreError>> = Vec::with_capacity(pending.len());
    let alone = pending.len() == 1;
    let outcome: Result<(), StoreError> = async {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut seq = sequencer(&mut tx).await?;
        // Optimistically, the whole group as one batch (one statement per
        // table); if any part fails, batch by batch so it fails alone.
        if !alone {
            let start = seq;
            let mut merged = Batch::default();
            for (b, _) in &pending {
                merged.items.extend_from_slice(&b.items);
                merged.incoming.extend_from_slice(&b.incoming);
                merged.outgoing.extend_from_slice(&b.outgoing);
                merged.messages.extend_from_slice(&b.messages);
                merged.delivered.extend_from_slice(&b.delivered);
                merged.failed.extend_from_slice(&b.failed);
                merged.entries.extend_from_slice(&b.entries);
            }
            sqlx::query("SAVEPOINT grouped")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if apply(&mut tx, &merged, &mut seq).await.is_ok() {
                sqlx::query("RELEASE grouped")
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let mut next = start.next;
                for (b, _) in &pending {
                    let first_index = next;
                    next += b.entries.len() as u64;
                    results.push(Ok(Committed {
                        first_index,
                        size: next,
                    }));
                }
                return tx.commit().await.map_err(db);
            }
            sqlx::raw_sql("ROLLBACK TO grouped; RELEASE grouped")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            seq = start;
        }
        for (batch, _) in &pending {
            if alone {
                let r = apply(&mut tx, batch, &mut seq).await;
                let failed = r.is_err();
                results.push(r);
                if failed {
                    return tx.rollback().await.map_err(db);
                }
                continue;
            }
            sqlx::query("SAVEPOINT batch")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let r = apply(&mut tx, batch, &mut seq).await;
            let end = if r.is_ok() {
                "RELEASE batch"
            } else {
                "ROLLBACK TO batch; RELEASE batch"
            };
            sqlx::raw_sql(end).execute(&mut *tx).await.map_err(db)?;
            results.push(r);
        }
        tx.commit().await.map_err(db)
    }
    .await;
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

fn message(row: &sqlx::sqlite::SqliteRow) -> Result<Message, StoreError> {
    let kind: String = row.try_get("kind").map_err(db)?;
    Ok(Message {
        kind: MessageKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("message kind `{kind}`")))?,
        id: row.try_get("id").map_err(db)?,
        party: row.try_get("party").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        stored_at: row.try_get("stored_at").map_err(db)?,
    })
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

fn sql_int(u: u64) -> Result<i64, StoreError> {
    i64::try_from(u).map_err(|_| StoreError::Corrupt(format!("index {u}")))
}

impl Store for SqliteStore {
    async fn add_person(&self, p: &Person) -> Result<(), StoreError> {
        if p.need_to_know.iter().any(|t| t.contains(',')) {
            return Err(StoreError::Corrupt("a topic id contains `,`".into()));
        }
        sqlx::query(
            "INSERT INTO person (id, name, role, clearance, clearance_until, need_to_know, token_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.role.as_str())
        .bind(&p.clearance)
        .bind(&p.clearance_until)
        .bind(p.need_to_know.join(","))
        .bind(&p.token_hash[..])
        .bind(&p.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match db(e) {
            StoreError::Exists(_) => StoreError::Exists(p.id.clone()),
            other => other,
        })?;
        Ok(())
    }

    async fn person_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query("SELECT * FROM person WHERE token_hash = ?")
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(person).transpose()
    }

    async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query("SELECT * FROM person ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(person).collect()
    }

    async fn commit(&self, batch: Batch) -> Result<Committed, StoreError> {
        // Group commit: queue the batch; whoever holds the writer turn
        // commits everything queued in one transaction, each batch in its
        // own savepoint, so one fsync serves many callers and a failing
        // batch fails alone.
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        lock(&self.group.queue).push((batch, tx));
        let turn = self.group.turn.lock().await;
        if let Ok(r) = rx.try_recv() {
            return r;
        }
        let pending = std::mem::take(&mut *lock(&self.group.queue));
        if !pending.is_empty() {
            // Spawned, so a cancelled caller cannot abandon the others' commit.
            let pool = self.pool.clone();
            let _ = tokio::spawn(commit_group(pool, pending)).await;
        }
        drop(turn);
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Database("the commit was abandoned".into())))
    }

    async fn incoming(&self, transfer: &str) -> Result<Option<Incoming>, StoreError> {
        let row = sqlx::query("SELECT * FROM received_transfer WHERE transfer = ?")
            .bind(transfer)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(Incoming {
                transfer: r.try_get("transfer").map_err(db)?,
                sender: r.try_get("sender").map_err(db)?,
                item: r.try_get("item").map_err(db)?,
                received_at: r.try_get("received_at").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn incoming_many(&self, transfers: &[String]) -> Result<Vec<Incoming>, StoreError> {
        let mut out = Vec::new();
        for chunk in transfers.chunks(ROWS) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT * FROM received_transfer WHERE transfer IN (");
            let mut list = q.separated(", ");
            for t in chunk {
                list.push_bind(t);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await.map_err(db)? {
                out.push(Incoming {
                    transfer: r.try_get("transfer").map_err(db)?,
                    sender: r.try_get("sender").map_err(db)?,
                    item: r.try_get("item").map_err(db)?,
                    received_at: r.try_get("received_at").map_err(db)?,
                });
            }
        }
        Ok(out)
    }

    async fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT * FROM item WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id").map_err(db)?;
        Ok(Some(Item {
            id: id.clone(),
            originator: row.try_get("originator").map_err(db)?,
            sealed: row.try_get("sealed").map_err(db)?,
            label: row.try_get("label").map_err(db)?,
            equivalent_label: row.try_get("equivalent_label").map_err(db)?,
            received_from: row.try_get("received_from").map_err(db)?,
            created_at: row.try_get("created_at").map_err(db)?,
            origin_item: row
                .try_get::<Option<String>, _>("origin_item")
                .map_err(db)?
                .unwrap_or(id),
        }))
    }

    async fn messages(&self, kind: MessageKind) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query("SELECT * FROM message WHERE kind = ? ORDER BY rowid")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(message).collect()
    }

    async fn message(&self, kind: MessageKind, id: &str) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query("SELECT * FROM message WHERE kind = ? AND id = ?")
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(message).transpose()
    }

    async fn item_ids(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT id FROM item ORDER BY rowid")
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        // Indices are 0, 1, 2, … without gaps: the size is the last index + 1,
        // read from the primary key rather than by counting rows.
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_record")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        index(n)
    }

    async fn records(&self, from: u64, to: u64) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT leaf_hash, record FROM ledger_record WHERE idx >= ? AND idx < ? ORDER BY idx",
        )
        .bind(sql_int(from)?)
        .bind(sql_int(to)?)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let h: Vec<u8> = r.try_get("leaf_hash").map_err(db)?;
                Ok((hash32(h, "leaf hash")?, r.try_get("record").map_err(db)?))
            })
            .collect()
    }

    async fn put_checkpoint(&self, size: u64, root: Hash, note: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let existing: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT root FROM checkpoint WHERE size = ?")
                .bind(sql_int(size)?)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match existing {
            Some(r) if r == root.0 => {}
            Some(_) => return Err(StoreError::Conflict(size)),
            None => {
                sqlx::query("INSERT INTO checkpoint (size, root, note) VALUES (?, ?, ?)")
                    .bind(sql_int(size)?)
                    .bind(&root.0[..])
                    .bind(note)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT size, note FROM checkpoint ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            let size: i64 = r.try_get("size").map_err(db)?;
            Ok((index(size)?, r.try_get("note").map_err(db)?))
        })
        .transpose()
    }

    async fn witnessed(&self, party: &str) -> Result<Option<(u64, Hash, String)>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM witnessed WHERE party = ?")
            .bind(party)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            let size: i64 = r.try_get("size").map_err(db)?;
            let root: Vec<u8> = r.try_get("root").map_err(db)?;
            Ok((
                index(size)?,
                hash32(root, "witnessed root")?,
                r.try_get("note").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn put_witnessed(
        &self,
        party: &str,
        size: u64,
        root: Hash,
        note: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let last: Option<i64> = sqlx::query_scalar("SELECT size FROM witnessed WHERE party = ?")
            .bind(party)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(last) = last
            && index(last)? > size
        {
            return Err(StoreError::Conflict(size));
        }
        sqlx::query(
            "INSERT INTO witnessed (party, size, root, note, at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (party) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, at = excluded.at",
        )
        .bind(party)
        .bind(sql_int(size)?)
        .bind(&root.0[..])
        .bind(note)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn add_cosignature(
        &self,
        size: u64,
        cosigner: &str,
        note: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cosigned (size, cosigner, note, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(sql_int(size)?)
        .bind(cosigner)
        .bind(note)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn cosignatures(&self) -> Result<Vec<(u64, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT size, cosigner, note, at FROM cosigned ORDER BY size DESC, cosigner",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let size: i64 = r.try_get("size").map_err(db)?;
                Ok((
                    index(size)?,
                    r.try_get("cosigner").map_err(db)?,
                    r.try_get("note").map_err(db)?,
                    r.try_get("at").map_err(db)?,
                ))
            })
            .collect()
    }

    async fn due(&self, now: i64, limit: u32) -> Result<Vec<Outgoing>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, rowid LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let attempts: i64 = r.try_get("attempts").map_err(db)?;
                let kind: String = r.try_get("kind").map_err(db)?;
                Ok(Outgoing {
                    kind: MessageKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("outbox kind `{kind}`")))?,
                    transfer: r.try_get("transfer").map_err(db)?,
                    item: r.try_get("item").map_err(db)?,
                    recipient: r.try_get("recipient").map_err(db)?,
                    envelope: r.try_get("envelope").map_err(db)?,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| StoreError::Corrupt("attempts".into()))?,
                    next_attempt_at: r.try_get("next_attempt_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn retry_later(&self, transfer: &str, next_attempt_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE transfer = ? AND delivered_at IS NULL")
            .bind(next_attempt_at)
            .bind(transfer)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
