//! Moving a node from SQLite to PostgreSQL (`gsomia store copy`): every
//! table copied row by row into an empty, migrated PostgreSQL database in
//! one transaction (each SQLite rowid kept as the row's list position, so
//! every cursor still points where it did), the head row set from the
//! ledger copied, and then the ledger read back from both sides, each
//! record re-hashed and its chain checked: the copy stands only if both
//! give the same size and root.

use std::path::Path;

use gsomia_ledger::entry::GENESIS;
use gsomia_ledger::merkle::{Hash, Tree};
use gsomia_ledger::verify::Chain;
use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::{PgStore, connect, db, durable, int, migrate, redacted};
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

/// Rows sent before their answers are awaited.
const PIPELINE: usize = 512;

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

/// A table read whole: its column names, and each row's rowid and values.
type Table = (Vec<String>, Vec<(i64, Vec<Value>)>);

/// Every row of `table` in rowid order: its rowid, its column names, values.
fn read_table(path: &Path, table: &str) -> Result<Table, StoreError> {
    let sql = |e: rusqlite::Error| StoreError::Database(format!("{}: {e}", path.display()));
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql)?;
    let cols: Vec<String> = c
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .map_err(sql)?
        .query_map([], |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    let list = cols.join(", ");
    let mut st = c
        .prepare(&format!("SELECT rowid, {list} FROM {table} ORDER BY rowid"))
        .map_err(sql)?;
    let n = cols.len();
    let rows = st
        .query_map([], |r| {
            let rowid: i64 = r.get(0)?;
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(r.get::<_, Value>(i + 1)?);
            }
            Ok((rowid, vals))
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    Ok((cols, rows))
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
/// refused; on any failure nothing is committed there.
pub async fn copy_from_sqlite(sqlite: &Path, url: &str) -> Result<Copied, StoreError> {
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
        let path = sqlite.to_owned();
        let name = (*table).to_owned();
        let (cols, rows) = tokio::task::spawn_blocking(move || read_table(&path, &name))
            .await
            .map_err(|e| StoreError::Database(format!("reading {table}: {e}")))??;
        let mut names = cols.clone();
        if *positioned {
            names.push("pos".into());
        }
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let st = tx
            .prepare(&format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                marks.join(", ")
            ))
            .await
            .map_err(db)?;
        let n = rows.len() as u64;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = rows
                .by_ref()
                .take(PIPELINE)
                .map(|(rowid, vals)| {
                    next_pos = next_pos.max(rowid + 1);
                    let mut ps: Vec<Box<dyn ToSql + Sync + Send>> =
                        vals.into_iter().map(param).collect();
                    if *positioned {
                        ps.push(Box::new(rowid));
                    }
                    ps
                })
                .collect();
            let sent = futures_util::future::join_all(chunk.iter().map(|ps| {
                let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|b| &**b as _).collect();
                let (tx, st) = (&tx, &st);
                async move { tx.execute(st, &refs).await }
            }))
            .await;
            for r in sent {
                r.map_err(|e| StoreError::Database(format!("copying {table}: {e}")))?;
            }
        }
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
