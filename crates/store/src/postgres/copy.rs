//! Moving a node from SQLite to PostgreSQL (`gsomia store copy`): every
//! table streamed in chunks (memory stays bounded however large the node)
//! through binary `COPY` into an empty, migrated PostgreSQL database in
//! one transaction (each SQLite rowid kept as the row's list position, so
//! every cursor still points where it did), progress reported per chunk, the head row set from the
//! ledger copied, and then the ledger read back from both sides, each
//! record re-hashed and its chain checked: the copy stands only if both
//! give the same size and root.

use std::path::Path;

use gsomia_ledger::entry::GENESIS;
use gsomia_ledger::merkle::{Hash, Tree};
use gsomia_ledger::verify::Chain;
use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::{PgStore, chain, connect, db, durable, int, migrate, redacted};
use crate::node::{Store, StoreError};

/// The tables copied, in order, and whether each has a list position
/// (SQLite's rowid) on PostgreSQL. The readiness probe is not state.
const TABLES: &[(&str, bool)] = &[
    ("person", true),
    ("item", true),
    ("item_topic", false),
    ("ledger_record", false),
    ("checkpoint", false),
    ("received_transfer", true),
    ("message", true),
    ("outbox", true),
    ("outbox_envelope", false),
    ("witnessed", false),
    ("cosigned", false),
    ("idempotency", false),
    ("warning_update", true),
    ("warning_out", true),
    ("item_return", true),
    ("incident_message", true),
    ("facility_record", false),
];

/// SQLite's tables that are not state to move: the readiness probe, the
/// schema's own bookkeeping, and console sessions (everyone signs in again
/// on the new database). Named so that a test can tell a table forgotten
/// from one left out on purpose.
#[cfg(test)]
const NOT_COPIED: &[&str] = &["probe", "schema_version", "console_session"];

/// Rows read from SQLite and sent at a time.
const CHUNK: usize = 2_000;

/// What a copy moved, and the ledger both sides agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Rows copied, per table.
    pub rows: Vec<(String, u64)>,
    /// The ledger's size, the same on both sides.
    pub ledger_size: u64,
    /// Its root, the same on both sides.
    pub root: Hash,
}

/// SQL NULL for a column of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        _: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(tokio_postgres::types::IsNull::Yes)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A stored value as a PostgreSQL parameter.
fn param(v: Value) -> Box<dyn ToSql + Sync + Send> {
    match v {
        Value::Null => Box::new(Null),
        Value::Integer(i) => Box::new(i),
        Value::Real(f) => Box::new(f),
        Value::Text(t) => Box::new(t),
        Value::Blob(b) => Box::new(b),
    }
}

/// A chunk of rows: each row's rowid and values.
type Rows = Vec<(i64, Vec<Value>)>;

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database(format!("{}: {e}", path.display()))
}

fn open_source(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err(path))
}

/// `table`'s column names and how many rows it has.
fn shape(path: &Path, table: &str) -> Result<(Vec<String>, u64), StoreError> {
    let sql = sqlite_err(path);
    let c = open_source(path)?;
    let cols: Vec<String> = c
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .map_err(&sql)?
        .query_map([], |r| r.get(0))
        .map_err(&sql)?
        .collect::<Result<_, _>>()
        .map_err(&sql)?;
    let n: i64 = c
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .map_err(&sql)?;
    Ok((cols, u64::try_from(n).unwrap_or(0)))
}

/// Sends `table`'s rows (columns `cols`) in rowid order, [`CHUNK`] at a
/// time; stops early if the receiver is gone.
fn read_rows(
    path: &Path,
    table: &str,
    cols: &[String],
    out: &tokio::sync::mpsc::Sender<Result<Rows, StoreError>>,
) -> Result<(), StoreError> {
    let sql = sqlite_err(path);
    let c = open_source(path)?;
    let mut st = c
        .prepare(&format!(
            "SELECT rowid, {} FROM {table} ORDER BY rowid",
            cols.join(", ")
        ))
        .map_err(&sql)?;
    let n = cols.len();
    let mut rows = st.query([]).map_err(&sql)?;
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(r) = rows.next().map_err(&sql)? {
        let rowid: i64 = r.get(0).map_err(&sql)?;
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(r.get::<_, Value>(i + 1).map_err(&sql)?);
        }
        chunk.push((rowid, vals));
        if chunk.len() == CHUNK
            && out
                .blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
                .is_err()
        {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = out.blocking_send(Ok(chunk));
    }
    Ok(())
}

/// Streams `table` from the SQLite file into the transaction by binary
/// `COPY`, `progress` told after each chunk; the rows copied, and the
/// list position past the last one.
async fn copy_table(
    sqlite: &Path,
    tx: &tokio_postgres::Transaction<'_>,
    table: &'static str,
    positioned: bool,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<(u64, i64), StoreError> {
    let failed =
        |e: tokio_postgres::Error| StoreError::Database(format!("copying {table}: {}", chain(&e)));
    let path = sqlite.to_owned();
    let (cols, total) = tokio::task::spawn_blocking(move || shape(&path, table))
        .await
        .map_err(|e| StoreError::Database(format!("reading {table}: {e}")))??;
    let mut names = cols.clone();
    if positioned {
        names.push("pos".into());
    }
    let list = names.join(", ");
    let types: Vec<tokio_postgres::types::Type> = tx
        .prepare(&format!("SELECT {list} FROM {table} LIMIT 0"))
        .await
        .map_err(failed)?
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let sink = tx
        .copy_in(&format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)"))
        .await
        .map_err(failed)?;
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    let (send, mut chunks) = tokio::sync::mpsc::channel(2);
    let path = sqlite.to_owned();
    // A read that fails sends its error as the last chunk.
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read_rows(&path, table, &cols, &send) {
            let _ = send.blocking_send(Err(e));
        }
    });
    let (mut done, mut next_pos) = (0u64, 1i64);
    progress(table, 0, total);
    while let Some(chunk) = chunks.recv().await {
        for (rowid, vals) in chunk? {
            next_pos = next_pos.max(rowid + 1);
            let mut ps: Vec<Box<dyn ToSql + Sync + Send>> = vals.into_iter().map(param).collect();
            if positioned {
                ps.push(Box::new(rowid));
            }
            let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|b| &**b as _).collect();
            writer.as_mut().write(&refs).await.map_err(failed)?;
            done += 1;
        }
        progress(table, done, total);
    }
    reader
        .await
        .map_err(|e| StoreError::Database(format!("reading {table}: {e}")))?;
    let written = writer.finish().await.map_err(failed)?;
    if written != done {
        return Err(StoreError::Database(format!(
            "copying {table}: {done} rows sent, {written} taken"
        )));
    }
    Ok((done, next_pos))
}

/// The ledger in `store`, every record re-hashed and its chain checked:
/// its size and root.
pub async fn ledger_root(store: &dyn Store) -> Result<(u64, Hash), StoreError> {
    let size = store.ledger_size().await?;
    let mut tree = Tree::new();
    let mut chain = Chain::new();
    let mut from = 0;
    while from < size {
        let to = (from + 10_000).min(size);
        for (stored, bytes) in store.records(from, to).await? {
            let h = chain
                .push(&stored, &bytes)
                .map_err(|p| StoreError::Corrupt(format!("ledger {p}")))?;
            tree.push_hash(h);
        }
        from = to;
    }
    Ok((size, tree.root()))
}

/// Copies the node database at `sqlite` (a stopped node's) into the empty
/// PostgreSQL database at `url` (migrated here), then verifies both
/// ledgers and compares them. A database that holds a node already is
/// refused; on any failure nothing is committed there. `progress` is told
/// (table, rows copied, rows in it) as each table starts and after each
/// chunk.
pub async fn copy_from_sqlite(
    sqlite: &Path,
    url: &str,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<Copied, StoreError> {
    if !sqlite.is_file() {
        return Err(StoreError::NoDatabase(sqlite.display().to_string()));
    }
    // The source first: it must verify before anything is written.
    let source = crate::SqliteStore::open_existing(sqlite).await?;
    let (size, root) = ledger_root(&source).await?;
    migrate(url).await?;
    let mut c = connect(url).await?;
    durable(&c).await?;
    let tx = c.transaction().await.map_err(db)?;
    let taken = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM checkpoint) + (SELECT COUNT(*) FROM ledger_record)",
            &[],
        )
        .await
        .map_err(db)?
        .get::<_, i64>(0);
    if taken > 0 {
        return Err(StoreError::Exists(format!(
            "{} holds a node already",
            redacted(url)
        )));
    }
    let mut copied = Vec::with_capacity(TABLES.len());
    let mut next_pos = 1;
    for (table, positioned) in TABLES {
        let (n, past) = copy_table(sqlite, &tx, table, *positioned, progress).await?;
        next_pos = next_pos.max(past);
        copied.push(((*table).to_owned(), n));
    }
    // The head: after the last record copied, and past every position.
    let last = match size.checked_sub(1) {
        Some(i) => tx
            .query_one(
                "SELECT leaf_hash FROM ledger_record WHERE idx = $1",
                &[&int(i)?],
            )
            .await
            .map_err(db)?
            .get::<_, Vec<u8>>(0),
        None => GENESIS.0.to_vec(),
    };
    tx.execute(
        "UPDATE ledger_head SET next_index = $1, last_leaf = $2, next_pos = $3 WHERE id = 1",
        &[&int(size)?, &last, &next_pos],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    // Read back through the adapter and compared.
    let target = PgStore::open(url).await?;
    let (size2, root2) = ledger_root(&target).await?;
    if (size2, root2) != (size, root) {
        return Err(StoreError::Corrupt(format!(
            "the copy's ledger ({size2} records, root {}) is not the source's ({size} records, root {})",
            root2.to_hex(),
            root.to_hex()
        )));
    }
    Ok(Copied {
        rows: copied,
        ledger_size: size,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table added to the SQLite schema but to neither list would be
    /// lost by every copy, silently.
    #[tokio::test]
    async fn every_sqlite_table_is_copied_or_named_as_not_state() {
        let dir = std::env::temp_dir().join(format!("gsomia-copy-tables-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("node.db");
        let made = crate::SqliteStore::open(&path).await;
        assert!(made.is_ok(), "{made:?}");
        drop(made);
        let c = open_source(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut st = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let tables: Vec<String> = st
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(tables.len() > 10, "{tables:?}");
        for t in &tables {
            assert!(
                TABLES.iter().any(|(name, _)| name == t) || NOT_COPIED.contains(&t.as_str()),
                "table {t} is neither copied nor named as not state"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
