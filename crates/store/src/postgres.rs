//! The PostgreSQL adapter, for a party that runs several `gsomia serve`
//! processes on one database — **in progress**: what is here is its
//! foundation, the part every other table's writes go through and the part
//! several processes can get wrong:
//!
//! - the schema (`migrations/postgres/`, beside SQLite's), applied once
//!   however many processes start together (an advisory lock), and
//!   refused on a server that does not sync its commits;
//! - **one ledger, gap-free and in commit order, with several writers.**
//!   Each process keeps its group commit (whatever queued while the last
//!   transaction ran goes in the next one, behind one WAL flush); inside
//!   each transaction the next index and the previous leaf hash are taken
//!   from the single `ledger_head` row, locked for that transaction
//!   (`SELECT … FOR UPDATE`), and written back before it commits. No
//!   sequence decides order: sequences leave gaps and become visible out of
//!   commit order. A writer that dies mid-transaction leaves nothing: its
//!   lock goes with its connection and the next writer continues from the
//!   head it left;
//! - checkpoints written by compare-and-swap on the tree size: the same
//!   root again is a no-op, another root for a size is
//!   [`StoreError::Conflict`], never a fork.
//!
//! The [`crate::Store`] trait (items, people, transfers with leased
//! outbox claims, warnings) is implemented on top of this next; until then
//! a node runs on SQLite only, and nothing here is reachable from the CLI.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gsomia_ledger::entry::{Entry, Record};
use gsomia_ledger::merkle::{Hash, leaf_hash};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls};

use crate::node::{Committed, StoreError};

/// The schema's migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "0001_node",
    include_str!("../migrations/postgres/0001_node.sql"),
)];

/// Batches committed together at most (a bound on one transaction).
const MAX_GROUP: usize = 256;

/// The advisory lock key that serialises migrations across processes
/// (`gsomia` in ASCII).
const MIGRATION_LOCK: i64 = 0x0000_6773_6f6d_6961;

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn int(u: u64) -> Result<i64, StoreError> {
    i64::try_from(u).map_err(|_| StoreError::Corrupt(format!("index {u}")))
}

fn index(i: i64) -> Result<u64, StoreError> {
    u64::try_from(i).map_err(|_| StoreError::Corrupt(format!("index {i}")))
}

fn hash32(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| StoreError::Corrupt(format!("{what}: {} bytes, not 32", bytes.len())))
}

/// Connects to `url` (a `postgres://` URL or key-value string); the
/// connection's I/O runs as a task on the current tokio runtime.
async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped, or on an error
        // that every waiting query then sees for itself.
        let _ = connection.await;
    });
    Ok(client)
}

/// Applies every migration not yet applied to the database at `url`, once
/// however many processes call this together; the versions it applied.
/// Refuses a server that would acknowledge a commit before it is durable
/// (`fsync` or `synchronous_commit` off).
pub async fn migrate(url: &str) -> Result<Vec<i32>, StoreError> {
    let mut c = connect(url).await?;
    durable(&c).await?;
    let tx = c.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migration (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db)?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migration", &[])
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Database(format!("migration {name}: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db)?;
        applied.push(*version);
    }
    tx.commit().await.map_err(db)?;
    Ok(applied)
}

/// Refuses a server or session that does not make commits durable.
async fn durable(c: &Client) -> Result<(), StoreError> {
    for setting in ["fsync", "synchronous_commit"] {
        let v: String = c
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .map_err(db)?
            .get(0);
        if v != "on"
            && !(setting == "synchronous_commit"
                && matches!(v.as_str(), "remote_apply" | "remote_write"))
        {
            return Err(StoreError::Database(format!(
                "PostgreSQL has {setting} = {v}: a commit would be acknowledged before it is durable; set it to on"
            )));
        }
    }
    Ok(())
}

type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// A PostgreSQL store of one process: a writer task with its own
/// connection (group commit), and a connection for reads.
#[derive(Debug, Clone)]
pub struct PgStore {
    reads: Arc<Client>,
    jobs: mpsc::UnboundedSender<(Vec<Entry>, Reply)>,
    commits: Arc<AtomicU64>,
}

impl PgStore {
    /// Opens the (migrated) database at `url`: two connections, one of
    /// them the writer's. Must be called inside a tokio runtime.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let reads = connect(url).await?;
        durable(&reads).await?;
        let missing = reads
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'ledger_head'",
                &[],
            )
            .await
            .map_err(db)?
            .is_none();
        if missing {
            return Err(StoreError::NoDatabase(format!(
                "{url} (no gsomia schema: run the migrations first)"
            )));
        }
        let writer = connect(url).await?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(write(writer, rx, commits.clone()));
        Ok(PgStore {
            reads: Arc::new(reads),
            jobs,
            commits,
        })
    }

    /// Appends `entries` to the ledger, committed (with whatever else this
    /// process queued meanwhile) once durable: their indexes follow the
    /// head row's, whichever process commits next.
    pub async fn append(&self, entries: Vec<Entry>) -> Result<Committed, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((entries, tx))
            .map_err(|_| StoreError::Database("the writer task has stopped".into()))?;
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Database("the commit was abandoned".into())))
    }

    /// Transactions this store's writer has committed (each one group of
    /// batches behind one WAL flush).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The ledger's size: the head row as last committed.
    pub async fn ledger_size(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .reads
            .query_one("SELECT next_index FROM ledger_head WHERE id = 1", &[])
            .await
            .map_err(db)?
            .get(0);
        index(n)
    }

    /// The leaf hashes from index `from` on, checked to run without a gap.
    pub async fn leaf_hashes(&self, from: u64) -> Result<Vec<Hash>, StoreError> {
        let rows = self
            .reads
            .query(
                "SELECT idx, leaf_hash FROM ledger_record WHERE idx >= $1 ORDER BY idx",
                &[&int(from)?],
            )
            .await
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, r) in (from..).zip(&rows) {
            let idx = index(r.get(0))?;
            if idx != expected {
                return Err(StoreError::Corrupt(format!(
                    "ledger index {idx} where {expected} was expected"
                )));
            }
            out.push(hash32(r.get(1), "leaf hash")?);
        }
        Ok(out)
    }

    /// The records `from..to`: each leaf hash as stored and the record's bytes.
    pub async fn records(&self, from: u64, to: u64) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        self.reads
            .query(
                "SELECT leaf_hash, record FROM ledger_record WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&int(from)?, &int(to)?],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| Ok((hash32(r.get(0), "leaf hash")?, r.get(1))))
            .collect()
    }

    /// Writes the checkpoint of `size` by compare-and-swap: the same root
    /// again changes nothing; another root for that size is a conflict.
    pub async fn put_checkpoint(
        &self,
        size: u64,
        root: Hash,
        note: &str,
    ) -> Result<(), StoreError> {
        let put = self
            .reads
            .query_opt(
                "INSERT INTO checkpoint (size, root, note) VALUES ($1, $2, $3) \
                 ON CONFLICT (size) DO NOTHING RETURNING size",
                &[&int(size)?, &&root.0[..], &note],
            )
            .await
            .map_err(db)?;
        if put.is_some() {
            return Ok(());
        }
        let existing: Vec<u8> = self
            .reads
            .query_one(
                "SELECT root FROM checkpoint WHERE size = $1",
                &[&int(size)?],
            )
            .await
            .map_err(db)?
            .get(0);
        if existing == root.0 {
            Ok(())
        } else {
            Err(StoreError::Conflict(size))
        }
    }

    /// The latest checkpoint: its size and note.
    pub async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.reads
            .query_opt(
                "SELECT size, note FROM checkpoint ORDER BY size DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(db)?
            .map(|r| Ok((index(r.get(0))?, r.get(1))))
            .transpose()
    }
}

/// The writer task: takes a batch and every batch queued behind it, and
/// commits them in one transaction under the head row's lock.
async fn write(
    mut conn: Client,
    mut rx: mpsc::UnboundedReceiver<(Vec<Entry>, Reply)>,
    commits: Arc<AtomicU64>,
) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let entries: Vec<&[Entry]> = group.iter().map(|(e, _)| e.as_slice()).collect();
        match commit(&mut conn, &entries).await {
            Ok(committed) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for ((_, reply), c) in group.into_iter().zip(committed) {
                    let _ = reply.send(Ok(c));
                }
            }
            Err(e) => {
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Database(format!(
                        "group commit failed: {e}"
                    ))));
                }
            }
        }
    }
}

/// One transaction: lock the head, chain every batch's records from it,
/// insert them (one statement), move the head, commit.
async fn commit(conn: &mut Client, batches: &[&[Entry]]) -> Result<Vec<Committed>, StoreError> {
    let tx = conn.transaction().await.map_err(db)?;
    let head = tx
        .query_one(
            "SELECT next_index, last_leaf FROM ledger_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(db)?;
    let mut next = index(head.get(0))?;
    let mut prev = hash32(head.get(1), "the head's leaf hash")?;
    let total: usize = batches.iter().map(|b| b.len()).sum();
    let (mut idx, mut leaves, mut records, mut subjects) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    let mut committed = Vec::with_capacity(batches.len());
    for batch in batches {
        let first_index = next;
        for entry in *batch {
            let bytes = Record {
                index: next,
                prev,
                entry: entry.clone(),
            }
            .to_bytes();
            let leaf = leaf_hash(&bytes);
            idx.push(int(next)?);
            leaves.push(leaf.0.to_vec());
            records.push(bytes);
            subjects.push(entry.item().map(str::to_owned));
            next += 1;
            prev = leaf;
        }
        committed.push(Committed {
            first_index,
            size: next,
        });
    }
    if total > 0 {
        tx.execute(
            "INSERT INTO ledger_record (idx, leaf_hash, record, subject) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[], $4::TEXT[])",
            &[&idx, &leaves, &records, &subjects],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "UPDATE ledger_head SET next_index = $1, last_leaf = $2 WHERE id = 1",
            &[&int(next)?, &&prev.0[..]],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(committed)
}
