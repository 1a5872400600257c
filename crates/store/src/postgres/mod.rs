//! The PostgreSQL adapter, for a party that runs several `gsomia serve`
//! processes on one database. It implements [`Store`] as the SQLite
//! adapter does and passes the same conformance suite; what several
//! processes need on top:
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
//! - list positions (every paged list's cursor) taken from the same head
//!   row, so a page never skips a row that committed late;
//! - checkpoints written by compare-and-swap on the tree size: the same
//!   root again is a no-op, another root for a size is
//!   [`StoreError::Conflict`], never a fork;
//! - a transfer received once across processes (its id is the key);
//! - deliveries claimed by one process at a time (`FOR UPDATE SKIP
//!   LOCKED` under a [`LEASE_SECS`] lease), only the claimant's receipt,
//!   refusal or retry recorded;
//! - work one process does at a time ([`Store::lead`]: a lease per role);
//! - what processes must reload when another records it
//!   ([`Store::registers_version`], [`Store::warnings_after`]).
//!
//! Connections to a server on this machine are in clear; to any other,
//! over TLS with the server's certificate checked against the CA the
//! connection string names (`sslmode=verify-full&sslrootcert=…`), or in
//! clear only if the string says `sslmode=disable` ([`tls`]).

pub mod copy;
mod tls;
mod write;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gsomia_ledger::merkle::Hash;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::node::{
    Batch, Committed, ConsoleSession, FacilityRecord, Idempotent, IncidentRow, Incoming, Item,
    ItemIndex, ItemQuery, ItemRow, Message, MessageKind, OutboxRow, OutboxStats, Outgoing, Person,
    Return, ReturnAnswered, Role, Store, StoreError, StoreFuture, TransferQuery, TransferRow,
    TransferState, WarningOwed, WarningRow,
};

/// The schema's migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "0001_node",
        include_str!("../../migrations/postgres/0001_node.sql"),
    ),
    (
        2,
        "0002_leases",
        include_str!("../../migrations/postgres/0002_leases.sql"),
    ),
    (
        3,
        "0003_claims_and_inline_bytes",
        include_str!("../../migrations/postgres/0003_claims_and_inline_bytes.sql"),
    ),
    (
        4,
        "0004_console_sessions",
        include_str!("../../migrations/postgres/0004_console_sessions.sql"),
    ),
];

/// The advisory lock key that serialises migrations across processes
/// (`gsomia` in ASCII).
const MIGRATION_LOCK: i64 = 0x0000_6773_6f6d_6961;

/// A driver error as a store error, with the server's own message (the
/// driver's text alone says only "db error").
pub(super) fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(chain(&e))
}

pub(super) fn int(u: u64) -> Result<i64, StoreError> {
    i64::try_from(u).map_err(|_| StoreError::Corrupt(format!("index {u}")))
}

pub(super) fn index(i: i64) -> Result<u64, StoreError> {
    u64::try_from(i).map_err(|_| StoreError::Corrupt(format!("index {i}")))
}

pub(super) fn hash32(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| StoreError::Corrupt(format!("{what}: {} bytes, not 32", bytes.len())))
}

/// Connects to `url` (a `postgres://` URL or key-value string), over
/// TLS where it says so or the server is elsewhere ([`tls`]); the
/// connection's I/O runs as a task on the current tokio runtime.
async fn connect(url: &str) -> Result<Client, StoreError> {
    tls::Target::parse(url)?.connect().await.map_err(|e| {
        StoreError::Database(format!(
            "cannot connect to PostgreSQL at {}: {}",
            redacted(url),
            chain(&e)
        ))
    })
}

/// An error with its sources (the server's message, or a TLS failure, is
/// the driver error's source).
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut said = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let more = s.to_string();
        if !said.contains(&more) {
            said.push_str(": ");
            said.push_str(&more);
        }
        next = s.source();
    }
    said
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
            .map_err(|e| StoreError::Database(format!("migration {name}: {}", chain(&e))))?;
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

/// [`migrate`] for a database that must already hold a node: one without
/// the schema is [`StoreError::NoDatabase`] (only `gsomia init` makes a
/// node's database), one with it gets the migrations it lacks.
pub async fn migrate_existing(url: &str) -> Result<Vec<i32>, StoreError> {
    let c = connect(url).await?;
    let made = c
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'ledger_head'",
            &[],
        )
        .await
        .map_err(db)?
        .is_some();
    drop(c);
    if !made {
        return Err(StoreError::NoDatabase(format!(
            "{} (no gsomia schema; only `gsomia init --database` makes a node's database)",
            redacted(url)
        )));
    }
    migrate(url).await
}

/// A connection string without its password (in either form, the URL's
/// user part or query).
pub fn redacted(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return tls::redacted_key_values(url);
    };
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.rfind('@') {
        Some(at) if at > scheme => {
            let user = base[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}@{}", &base[..scheme + 3], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        let pairs: Vec<&str> = q
            .split('&')
            .map(|p| {
                if p.split('=').next() == Some("password") {
                    "password=***"
                } else {
                    p
                }
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
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

/// A PostgreSQL store of one process: a writer task with its own
/// connection (group commit under the head row's lock), and a connection
/// for reads and single-statement writes.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Connections for reads and single-statement writes, taken in turn
    /// (the first, then the others).
    first: Arc<Conn>,
    others: Arc<[Conn]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    jobs: mpsc::UnboundedSender<(Box<Batch>, write::Reply)>,
    commits: Arc<AtomicU64>,
    /// This process's name on the outbox rows it has claimed.
    owner: Arc<str>,
}

/// How long a claim on an outbox row holds (seconds): a process that dies
/// mid-delivery loses its rows to the others after this. Longer than a
/// delivery attempt takes.
pub const LEASE_SECS: i64 = 15;

impl PgStore {
    /// Opens the (migrated) database at `url`: two connections, one of
    /// them the writer's. Must be called inside a tokio runtime.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let first = connect(url).await?;
        durable(&first).await?;
        let missing = first
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_name = 'ledger_head'",
                &[],
            )
            .await
            .map_err(db)?
            .is_none();
        if missing {
            return Err(StoreError::NoDatabase(format!(
                "{} (no gsomia schema: run the migrations first)",
                redacted(url)
            )));
        }
        let mut others = Vec::with_capacity(READERS - 1);
        for _ in 1..READERS {
            others.push(Conn::new(connect(url).await?));
        }
        let writer = connect(url).await?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| StoreError::Database(format!("no randomness for the lease owner: {e}")))?;
        let owner: Arc<str> = format!(
            "{}-{}",
            std::process::id(),
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
        .into();
        let (analyze, to_analyze) = mpsc::unbounded_channel();
        tokio::spawn(write::analyzer(url.to_owned(), to_analyze));
        tokio::spawn(write::run(
            writer,
            rx,
            commits.clone(),
            owner.clone(),
            analyze,
        ));
        Ok(PgStore {
            first: Arc::new(Conn::new(first)),
            others: others.into(),
            next: Arc::default(),
            jobs,
            commits,
            owner,
        })
    }

    /// Transactions this store's writer has committed (each one group of
    /// batches behind one WAL flush).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The next connection in turn.
    fn conn(&self) -> &Conn {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % (self.others.len() + 1);
        match n.checked_sub(1) {
            Some(i) => self.others.get(i).unwrap_or(&self.first),
            None => &self.first,
        }
    }

    /// Every row of `sql` with `params`, each mapped by `f`.
    async fn all<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let c = self.conn();
        let st = c.prepared(sql).await?;
        c.client
            .query(&st, params)
            .await
            .map_err(db)?
            .iter()
            .map(f)
            .collect()
    }

    /// The one row of `sql` with `params`, if any, mapped by `f`.
    async fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let c = self.conn();
        let st = c.prepared(sql).await?;
        c.client
            .query_opt(&st, params)
            .await
            .map_err(db)?
            .as_ref()
            .map(f)
            .transpose()
    }

    /// Runs `sql` (one statement, committed on its own): rows changed.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let c = self.conn();
        let st = c.prepared(sql).await?;
        c.client.execute(&st, params).await.map_err(db)
    }
}

/// Connections for reads kept open per store.
const READERS: usize = 4;

/// A connection and the statements prepared on it, by their text: each is
/// parsed once per connection, and a query costs one round trip.
struct Conn {
    client: Client,
    stmts: std::sync::Mutex<std::collections::HashMap<String, tokio_postgres::Statement>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").finish_non_exhaustive()
    }
}

impl Conn {
    fn new(client: Client) -> Conn {
        Conn {
            client,
            stmts: std::sync::Mutex::default(),
        }
    }

    async fn prepared(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        let cached = match self.stmts.lock() {
            Ok(g) => g.get(sql).cloned(),
            Err(p) => p.into_inner().get(sql).cloned(),
        };
        if let Some(s) = cached {
            return Ok(s);
        }
        let s = self.client.prepare(sql).await.map_err(db)?;
        match self.stmts.lock() {
            Ok(mut g) => g.insert(sql.to_owned(), s.clone()),
            Err(p) => p.into_inner().insert(sql.to_owned(), s.clone()),
        };
        Ok(s)
    }
}

/// A column, typed.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, name: &str) -> Result<T, StoreError> {
    r.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column `{name}`: {}", chain(&e))))
}

fn small(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

fn kind_of(kind: &str, what: &str) -> Result<MessageKind, StoreError> {
    MessageKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("{what} kind `{kind}`")))
}

fn person(r: &Row) -> Result<Person, StoreError> {
    let role: String = col(r, "role")?;
    let ntk: String = col(r, "need_to_know")?;
    let hash: Vec<u8> = col(r, "token_hash")?;
    Ok(Person {
        id: col(r, "id")?,
        name: col(r, "name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
        clearance: col(r, "clearance")?,
        clearance_until: col(r, "clearance_until")?,
        need_to_know: ntk
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        token_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("token hash".into()))?,
        created_at: col(r, "created_at")?,
        revoked_at: col(r, "revoked_at")?,
        facility: col(r, "facility")?,
        visit: col(r, "visit")?,
        custody: col(r, "custody")?,
    })
}

fn message(r: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        kind: kind_of(&col::<String>(r, "kind")?, "message")?,
        id: col(r, "id")?,
        party: col(r, "party")?,
        body: col(r, "body")?,
        stored_at: col(r, "stored_at")?,
    })
}

fn incoming(r: &Row) -> Result<Incoming, StoreError> {
    Ok(Incoming {
        transfer: col(r, "transfer")?,
        sender: col(r, "sender")?,
        item: col(r, "item")?,
        received_at: col(r, "received_at")?,
    })
}

fn item(r: &Row) -> Result<Item, StoreError> {
    let id: String = col(r, "id")?;
    Ok(Item {
        originator: col(r, "originator")?,
        sealed: col(r, "sealed")?,
        label: col(r, "label")?,
        equivalent_label: col(r, "equivalent_label")?,
        received_from: col(r, "received_from")?,
        created_at: col(r, "created_at")?,
        origin_item: col::<Option<String>>(r, "origin_item")?.unwrap_or_else(|| id.clone()),
        binding: col(r, "binding")?,
        custody: col(r, "custody")?,
        lineage: col(r, "lineage")?,
        disposal: col(r, "disposal")?,
        index: None,
        id,
    })
}

fn outgoing(r: &Row) -> Result<Outgoing, StoreError> {
    Ok(Outgoing {
        kind: kind_of(&col::<String>(r, "kind")?, "outbox")?,
        transfer: col(r, "transfer")?,
        item: col(r, "item")?,
        recipient: col(r, "recipient")?,
        envelope: col(r, "envelope")?,
        attempts: small(col(r, "attempts")?, "attempts")?,
        next_attempt_at: col(r, "next_attempt_at")?,
        custody: col(r, "custody")?,
        released_by: col(r, "released_by")?,
    })
}

/// The columns of an item list (never the sealed bytes).
const ITEM_ROW: &str = "pos, id, originator, label, equivalent_label, received_from, \
     COALESCE(origin_item, id) AS origin_item, created_at, binding, custody, lineage, disposal";

fn item_row(r: &Row) -> Result<ItemRow, StoreError> {
    Ok(ItemRow {
        position: col(r, "pos")?,
        id: col(r, "id")?,
        originator: col(r, "originator")?,
        label: col(r, "label")?,
        equivalent_label: col(r, "equivalent_label")?,
        received_from: col(r, "received_from")?,
        origin_item: col(r, "origin_item")?,
        created_at: col(r, "created_at")?,
        binding: col(r, "binding")?,
        custody: col(r, "custody")?,
        lineage: col(r, "lineage")?,
        disposal: col(r, "disposal")?,
    })
}

/// The columns of an incident message.
const INCIDENT_ROW: &str =
    "pos, incident, seq, direction, party, item, bytes, at, acked_at, ack, failed_at, failure";

fn incident_row(r: &Row) -> Result<IncidentRow, StoreError> {
    let direction: String = col(r, "direction")?;
    Ok(IncidentRow {
        position: col(r, "pos")?,
        incident: col(r, "incident")?,
        seq: small(col(r, "seq")?, "incident seq")?,
        sent: direction == "sent",
        party: col(r, "party")?,
        item: col(r, "item")?,
        bytes: col(r, "bytes")?,
        at: col(r, "at")?,
        acked_at: col(r, "acked_at")?,
        ack: col(r, "ack")?,
        failed_at: col(r, "failed_at")?,
        failure: col(r, "failure")?,
    })
}

/// The columns of a transfer as its sender shows it.
const TRANSFER_ROW: &str = "pos, kind, transfer, item, recipient, released_by, attempts, \
     COALESCE(queued_at, next_attempt_at) AS queued, next_attempt_at, last_error, delivered_at, \
     receipt, failed_at, failure";

fn transfer_row(r: &Row) -> Result<TransferRow, StoreError> {
    Ok(TransferRow {
        position: col(r, "pos")?,
        kind: kind_of(&col::<String>(r, "kind")?, "outbox")?,
        transfer: col(r, "transfer")?,
        item: col(r, "item")?,
        recipient: col(r, "recipient")?,
        released_by: col(r, "released_by")?,
        attempts: small(col(r, "attempts")?, "attempts")?,
        queued_at: col(r, "queued")?,
        next_attempt_at: col(r, "next_attempt_at")?,
        last_error: col(r, "last_error")?,
        delivered_at: col(r, "delivered_at")?,
        receipt: col(r, "receipt")?,
        failed_at: col(r, "failed_at")?,
        failure: col(r, "failure")?,
    })
}

/// Outbox rows with their envelopes.
const OUTGOING: &str =
    "SELECT outbox.*, outbox_envelope.envelope FROM outbox JOIN outbox_envelope USING (transfer)";

/// The due-transfer condition, oldest first.
const DUE: &str = "WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
     ORDER BY next_attempt_at, outbox.pos LIMIT $2";

impl Store for PgStore {
    fn person_by_token<'a>(&'a self, token_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Person>> {
        Box::pin(async move {
            self.one(
                "SELECT * FROM person WHERE token_hash = $1",
                &[&&token_hash[..]],
                person,
            )
            .await
        })
    }

    fn people(&self) -> StoreFuture<'_, Vec<Person>> {
        Box::pin(async move {
            self.all("SELECT * FROM person ORDER BY id", &[], person)
                .await
        })
    }

    fn commit(&self, batch: Batch) -> StoreFuture<'_, Committed> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.jobs
                .send((Box::new(batch), tx))
                .map_err(|_| StoreError::Database("the writer task has stopped".into()))?;
            rx.await
                .unwrap_or_else(|_| Err(StoreError::Database("the commit was abandoned".into())))
        })
    }

    fn incoming<'a>(&'a self, transfer: &'a str) -> StoreFuture<'a, Option<Incoming>> {
        Box::pin(async move {
            self.one(
                "SELECT * FROM received_transfer WHERE transfer = $1",
                &[&transfer],
                incoming,
            )
            .await
        })
    }

    fn incoming_many<'a>(&'a self, transfers: &'a [String]) -> StoreFuture<'a, Vec<Incoming>> {
        Box::pin(async move {
            self.all(
                "SELECT * FROM received_transfer WHERE transfer = ANY($1)",
                &[&transfers],
                incoming,
            )
            .await
        })
    }

    fn item<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Item>> {
        Box::pin(async move {
            self.one("SELECT * FROM item WHERE id = $1", &[&id], item)
                .await
        })
    }

    fn messages(&self, kind: MessageKind) -> StoreFuture<'_, Vec<Message>> {
        Box::pin(async move {
            self.all(
                "SELECT * FROM message WHERE kind = $1 ORDER BY pos",
                &[&kind.as_str()],
                message,
            )
            .await
        })
    }

    fn message<'a>(&'a self, kind: MessageKind, id: &'a str) -> StoreFuture<'a, Option<Message>> {
        Box::pin(async move {
            self.one(
                "SELECT * FROM message WHERE kind = $1 AND id = $2",
                &[&kind.as_str(), &id],
                message,
            )
            .await
        })
    }

    fn item_ids(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.all("SELECT id FROM item ORDER BY pos", &[], |r| col(r, "id"))
                .await
        })
    }

    fn ledger_size(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let n = self
                .one(
                    "SELECT next_index FROM ledger_head WHERE id = 1",
                    &[],
                    |r| col::<i64>(r, "next_index"),
                )
                .await?
                .unwrap_or(0);
            index(n)
        })
    }

    fn leaf_hashes(&self, from: u64) -> StoreFuture<'_, Vec<Hash>> {
        Box::pin(async move {
            let rows = self
                .all(
                    "SELECT idx, leaf_hash FROM ledger_record WHERE idx >= $1 ORDER BY idx",
                    &[&int(from)?],
                    |r| Ok((col::<i64>(r, "idx")?, col::<Vec<u8>>(r, "leaf_hash")?)),
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for (expected, (idx, h)) in (from..).zip(rows) {
                if index(idx)? != expected {
                    return Err(StoreError::Corrupt(format!(
                        "ledger index {idx} where {expected} was expected"
                    )));
                }
                out.push(hash32(&h, "leaf hash")?);
            }
            Ok(out)
        })
    }

    fn records(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<(Hash, Vec<u8>)>> {
        Box::pin(async move {
            self.all(
                "SELECT leaf_hash, record FROM ledger_record WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&int(from)?, &int(to)?],
                |r| Ok((hash32(&col::<Vec<u8>>(r, "leaf_hash")?, "leaf hash")?, col(r, "record")?)),
            )
            .await
        })
    }

    fn put_checkpoint<'a>(&'a self, size: u64, root: Hash, note: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let put = self
                .one(
                    "INSERT INTO checkpoint (size, root, note) VALUES ($1, $2, $3) \
                     ON CONFLICT (size) DO NOTHING RETURNING size",
                    &[&int(size)?, &&root.0[..], &note],
                    |_| Ok(()),
                )
                .await?;
            if put.is_some() {
                return Ok(());
            }
            let existing = self
                .one(
                    "SELECT root FROM checkpoint WHERE size = $1",
                    &[&int(size)?],
                    |r| col::<Vec<u8>>(r, "root"),
                )
                .await?;
            match existing {
                Some(r) if r == root.0 => Ok(()),
                _ => Err(StoreError::Conflict(size)),
            }
        })
    }

    fn latest_checkpoint(&self) -> StoreFuture<'_, Option<(u64, String)>> {
        Box::pin(async move {
            self.one(
                "SELECT size, note FROM checkpoint ORDER BY size DESC LIMIT 1",
                &[],
                |r| Ok((index(col(r, "size")?)?, col(r, "note")?)),
            )
            .await
        })
    }

    fn checkpoints(&self) -> StoreFuture<'_, Vec<(u64, Hash, String)>> {
        Box::pin(async move {
            self.all(
                "SELECT size, root, note FROM checkpoint ORDER BY size",
                &[],
                |r| {
                    Ok((
                        index(col(r, "size")?)?,
                        hash32(&col::<Vec<u8>>(r, "root")?, "checkpoint root")?,
                        col(r, "note")?,
                    ))
                },
            )
            .await
        })
    }

    fn received(&self) -> StoreFuture<'_, Vec<Incoming>> {
        Box::pin(async move {
            self.all(
                "SELECT * FROM received_transfer ORDER BY pos",
                &[],
                incoming,
            )
            .await
        })
    }

    fn outbox_rows(&self) -> StoreFuture<'_, Vec<OutboxRow>> {
        Box::pin(async move {
            self.all(
                "SELECT kind, outbox.transfer, item, recipient, delivered_at, failed_at, \
                 outbox_envelope.transfer IS NOT NULL AS has_envelope FROM outbox \
                 LEFT JOIN outbox_envelope USING (transfer) ORDER BY outbox.pos",
                &[],
                |r| {
                    Ok(OutboxRow {
                        kind: kind_of(&col::<String>(r, "kind")?, "outbox")?,
                        transfer: col(r, "transfer")?,
                        item: col(r, "item")?,
                        recipient: col(r, "recipient")?,
                        delivered_at: col(r, "delivered_at")?,
                        failed_at: col(r, "failed_at")?,
                        has_envelope: col(r, "has_envelope")?,
                    })
                },
            )
            .await
        })
    }

    fn probe_write<'a>(&'a self, at: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self
                .exec(
                    "INSERT INTO probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    &[&at],
                )
                .await?;
            Ok(())
        })
    }

    fn witnessed<'a>(&'a self, party: &'a str) -> StoreFuture<'a, Option<(u64, Hash, String)>> {
        Box::pin(async move {
            self.one(
                "SELECT size, root, note FROM witnessed WHERE party = $1",
                &[&party],
                |r| {
                    Ok((
                        index(col(r, "size")?)?,
                        hash32(&col::<Vec<u8>>(r, "root")?, "witnessed root")?,
                        col(r, "note")?,
                    ))
                },
            )
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
            // Never backwards, whichever process writes: the update applies
            // only over a smaller size (or none).
            let n = self
                .exec(
                    "INSERT INTO witnessed (party, size, root, note, at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (party) DO UPDATE SET size = excluded.size, root = excluded.root, \
                     note = excluded.note, at = excluded.at WHERE witnessed.size <= excluded.size",
                    &[&party, &int(size)?, &&root.0[..], &note, &at],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Conflict(size));
            }
            Ok(())
        })
    }

    fn session_begin<'a>(&'a self, s: &'a ConsoleSession, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.exec(
                "DELETE FROM console_session WHERE expires_unix <= $1",
                &[&now],
            )
            .await?;
            let n = self
                .exec(
                    "INSERT INTO console_session (id_hash, token_hash, expires_unix, custody) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO NOTHING",
                    &[
                        &&s.id_hash[..],
                        &&s.token_hash[..],
                        &s.expires_unix,
                        &s.custody,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Exists("console session".to_owned()));
            }
            Ok(())
        })
    }

    fn session<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, Option<ConsoleSession>> {
        Box::pin(async move {
            self.one(
                "SELECT token_hash, expires_unix, custody FROM console_session WHERE id_hash = $1",
                &[&&id_hash[..]],
                |r| {
                    Ok(ConsoleSession {
                        id_hash: *id_hash,
                        token_hash: hash32(
                            &col::<Vec<u8>>(r, "token_hash")?,
                            "console session token hash",
                        )?
                        .0,
                        expires_unix: col(r, "expires_unix")?,
                        custody: col(r, "custody")?,
                    })
                },
            )
            .await
        })
    }

    fn session_end<'a>(&'a self, id_hash: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .exec(
                    "DELETE FROM console_session WHERE id_hash = $1",
                    &[&&id_hash[..]],
                )
                .await?
                > 0)
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
            self
                .exec(
                    "INSERT INTO cosigned (size, cosigner, note, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&int(size)?, &cosigner, &note, &at],
                )
                .await?;
            Ok(())
        })
    }

    fn cosignatures(&self) -> StoreFuture<'_, Vec<(u64, String, String, String)>> {
        Box::pin(async move {
            self.all(
                "SELECT size, cosigner, note, at FROM cosigned ORDER BY size DESC, cosigner",
                &[],
                |r| {
                    Ok((
                        index(col(r, "size")?)?,
                        col(r, "cosigner")?,
                        col(r, "note")?,
                        col(r, "at")?,
                    ))
                },
            )
            .await
        })
    }

    fn due(&self, now: i64, limit: u32) -> StoreFuture<'_, Vec<Outgoing>> {
        Box::pin(async move {
            self.all(
                &format!("{OUTGOING} {DUE}"),
                &[&now, &i64::from(limit)],
                outgoing,
            )
            .await
        })
    }

    fn due_except<'a>(
        &'a self,
        now: i64,
        limit: u32,
        except: &'a HashSet<String>,
    ) -> StoreFuture<'a, Vec<Outgoing>> {
        Box::pin(async move {
            // Claimed for this process (a lease, renewed by each claim),
            // skipping rows another process holds or is claiming now: one
            // sender at a time per transfer, and a dead process's rows go
            // to the others when its leases run out.
            let except: Vec<String> = except.iter().cloned().collect();
            // Claimed and read in one statement (the envelopes joined to
            // the few rows claimed), in the order they fell due.
            self.all(
                "WITH claimed AS (UPDATE outbox SET lease_owner = $1, lease_until = $2 + $5 \
                 WHERE transfer IN (SELECT transfer FROM outbox \
                   WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
                   AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $2) \
                   AND NOT (transfer = ANY($3)) \
                   ORDER BY next_attempt_at, pos LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING outbox.*) \
                 SELECT claimed.*, outbox_envelope.envelope FROM claimed \
                 JOIN outbox_envelope USING (transfer) ORDER BY next_attempt_at, pos",
                &[&&*self.owner, &now, &except, &i64::from(limit), &LEASE_SECS],
                outgoing,
            )
            .await
        })
    }

    fn outbox_stats(&self) -> StoreFuture<'_, Vec<OutboxStats>> {
        Box::pin(async move {
            self.all(
                "SELECT recipient, COUNT(*) AS depth, MIN(COALESCE(queued_at, next_attempt_at)) AS oldest FROM outbox \
                 WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY recipient ORDER BY recipient",
                &[],
                |r| {
                    Ok(OutboxStats {
                        recipient: col(r, "recipient")?,
                        depth: u64::try_from(col::<i64>(r, "depth")?).unwrap_or(0),
                        oldest_queued_at: col(r, "oldest")?,
                    })
                },
            )
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
            self.exec(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
                     WHERE transfer = $3 AND delivered_at IS NULL \
                     AND (lease_owner IS NULL OR lease_owner = $4)",
                &[&next_attempt_at, &error, &transfer, &&*self.owner],
            )
            .await?;
            Ok(())
        })
    }

    fn warnings_since(&self, since: i64) -> StoreFuture<'_, Vec<WarningRow>> {
        Box::pin(async move {
            self.all(
                "SELECT flight, seq, bytes, applied_at, applied_unix, level FROM warning_update \
                 WHERE applied_unix >= $1 ORDER BY applied_unix, pos",
                &[&since],
                |r| {
                    Ok(WarningRow {
                        flight: col(r, "flight")?,
                        seq: small(col(r, "seq")?, "warning seq")?,
                        bytes: col(r, "bytes")?,
                        applied_at: col(r, "applied_at")?,
                        applied_unix: col(r, "applied_unix")?,
                        level: col(r, "level")?,
                    })
                },
            )
            .await
        })
    }

    fn warnings_owed(&self) -> StoreFuture<'_, Vec<WarningOwed>> {
        Box::pin(async move {
            self.all(
                "SELECT o.party, o.flight, o.seq, u.bytes, o.queued_at FROM warning_out o \
                 JOIN warning_update u ON u.flight = o.flight AND u.seq = o.seq \
                 WHERE o.delivered_at IS NULL ORDER BY o.pos",
                &[],
                |r| {
                    Ok(WarningOwed {
                        party: col(r, "party")?,
                        flight: col(r, "flight")?,
                        seq: small(col(r, "seq")?, "warning seq")?,
                        bytes: col(r, "bytes")?,
                        queued_at: col(r, "queued_at")?,
                    })
                },
            )
            .await
        })
    }

    fn item_indexes(&self) -> StoreFuture<'_, Vec<(String, Option<ItemIndex>)>> {
        Box::pin(async move {
            let rows = self
                .all(
                    "SELECT id, access_level, created_unix, source, dispose_by FROM item ORDER BY pos",
                    &[],
                    |r| {
                        Ok((
                            col::<String>(r, "id")?,
                            col::<Option<String>>(r, "access_level")?,
                            col::<Option<i64>>(r, "created_unix")?,
                            col::<Option<String>>(r, "source")?,
                            col::<Option<i64>>(r, "dispose_by")?,
                        ))
                    },
                )
                .await?;
            let mut topics: std::collections::HashMap<String, Vec<String>> =
                std::collections::HashMap::new();
            for (item, topic) in self
                .all(
                    "SELECT item, topic FROM item_topic ORDER BY item, topic",
                    &[],
                    |r| Ok((col::<String>(r, "item")?, col::<String>(r, "topic")?)),
                )
                .await?
            {
                topics.entry(item).or_default().push(topic);
            }
            Ok(rows
                .into_iter()
                .map(|(id, level, unix, source, dispose_by)| {
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
    }

    fn items_page<'a>(&'a self, q: &'a ItemQuery) -> StoreFuture<'a, Vec<ItemRow>> {
        Box::pin(async move {
            let mut after = q.after.unwrap_or(0);
            if let Some(since) = q.since {
                // Items are stored in time order: a `since` walk starts at
                // the first stored at or after it.
                let first = self
                    .one(
                        "SELECT pos FROM item WHERE created_unix >= $1 ORDER BY created_unix, pos LIMIT 1",
                        &[&since],
                        |r| col::<i64>(r, "pos"),
                    )
                    .await?;
                match first {
                    Some(f) => after = after.max(f - 1),
                    None => return Ok(Vec::new()),
                }
            }
            let mut sql = format!("SELECT {ITEM_ROW} FROM item WHERE pos > $1");
            let mut p: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(after)];
            if let Some(levels) = &q.levels {
                if levels.is_empty() {
                    return Ok(Vec::new());
                }
                p.push(Box::new(levels.clone()));
                sql.push_str(&format!(" AND access_level = ANY(${})", p.len()));
            }
            if let Some(within) = &q.topics_within {
                if within.is_empty() {
                    return Ok(Vec::new());
                }
                p.push(Box::new(within.clone()));
                sql.push_str(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM item_topic t WHERE t.item = item.id AND NOT (t.topic = ANY(${})))",
                    p.len()
                ));
            }
            if let Some(topic) = &q.topic {
                p.push(Box::new(topic.clone()));
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM item_topic t WHERE t.topic = ${} AND t.item = item.id)",
                    p.len()
                ));
            }
            if let Some(o) = &q.originator {
                p.push(Box::new(o.clone()));
                sql.push_str(&format!(" AND originator = ${}", p.len()));
            }
            if let Some(since) = q.since {
                p.push(Box::new(since));
                sql.push_str(&format!(" AND created_unix >= ${}", p.len()));
            }
            if q.held_only {
                sql.push_str(" AND disposed_unix IS NULL");
            }
            if let Some(by) = q.due_by {
                p.push(Box::new(by));
                sql.push_str(&format!(
                    " AND dispose_by <= ${} AND disposed_unix IS NULL",
                    p.len()
                ));
            }
            p.push(Box::new(i64::from(q.limit)));
            sql.push_str(&format!(" ORDER BY pos LIMIT ${}", p.len()));
            let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| &**b as _).collect();
            self.all(&sql, &refs, item_row).await
        })
    }

    fn transfers_page<'a>(&'a self, q: &'a TransferQuery) -> StoreFuture<'a, Vec<TransferRow>> {
        Box::pin(async move {
            let mut sql = format!("SELECT {TRANSFER_ROW} FROM outbox WHERE pos > $1");
            let mut p: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(q.after.unwrap_or(0))];
            for (col, v) in [
                ("released_by", &q.released_by),
                ("recipient", &q.recipient),
                ("item", &q.item),
            ] {
                if let Some(v) = v {
                    p.push(Box::new(v.clone()));
                    sql.push_str(&format!(" AND {col} = ${}", p.len()));
                }
            }
            match q.state {
                None => {}
                Some(TransferState::Queued) => {
                    sql.push_str(" AND delivered_at IS NULL AND failed_at IS NULL AND attempts = 0")
                }
                Some(TransferState::Sending) => {
                    sql.push_str(" AND delivered_at IS NULL AND failed_at IS NULL AND attempts > 0")
                }
                Some(TransferState::Delivered) => sql.push_str(" AND delivered_at IS NOT NULL"),
                Some(TransferState::Refused) => {
                    sql.push_str(" AND failed_at IS NOT NULL AND delivered_at IS NULL")
                }
            }
            p.push(Box::new(i64::from(q.limit)));
            sql.push_str(&format!(" ORDER BY pos LIMIT ${}", p.len()));
            let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| &**b as _).collect();
            self.all(&sql, &refs, transfer_row).await
        })
    }

    fn transfer<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TransferRow>> {
        Box::pin(async move {
            self.one(
                &format!("SELECT {TRANSFER_ROW} FROM outbox WHERE transfer = $1"),
                &[&id],
                transfer_row,
            )
            .await
        })
    }

    fn items_of_origin<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<Item>> {
        Box::pin(async move {
            self.all(
                "SELECT * FROM item WHERE COALESCE(origin_item, id) = $1 ORDER BY pos",
                &[&origin_item],
                item,
            )
            .await
        })
    }

    fn documents_made(&self) -> StoreFuture<'_, Vec<Item>> {
        Box::pin(async move {
            self.all(
                "SELECT * FROM item WHERE lineage IS NOT NULL AND disposal IS NULL \
                 AND COALESCE(origin_item, id) = id ORDER BY pos",
                &[],
                item,
            )
            .await
        })
    }

    fn distribution<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            self.all(
                "SELECT DISTINCT o.recipient FROM outbox o JOIN item i ON i.id = o.item \
                 WHERE COALESCE(i.origin_item, i.id) = $1 AND o.kind = 'transfer' \
                 AND o.failed_at IS NULL ORDER BY o.recipient",
                &[&origin_item],
                |r| col(r, "recipient"),
            )
            .await
        })
    }

    fn facility_records(&self) -> StoreFuture<'_, Vec<FacilityRecord>> {
        Box::pin(async move {
            self.all(
                "SELECT facility, seq, body, at, custody FROM facility_record ORDER BY facility, seq",
                &[],
                |r| {
                    Ok(FacilityRecord {
                        facility: col(r, "facility")?,
                        seq: small(col(r, "seq")?, "facility record")?,
                        body: col(r, "body")?,
                        at: col(r, "at")?,
                        custody: col(r, "custody")?,
                    })
                },
            )
            .await
        })
    }

    fn made_from<'a>(&'a self, source: &'a str) -> StoreFuture<'a, Vec<ItemRow>> {
        Box::pin(async move {
            self.all(
                &format!("SELECT {ITEM_ROW} FROM item WHERE source = $1 ORDER BY pos"),
                &[&source],
                item_row,
            )
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
            if subjects.is_empty() {
                return Ok(Vec::new());
            }
            let after = after.map(int).transpose()?.unwrap_or(-1);
            self.all(
                "SELECT idx, leaf_hash, record FROM ledger_record \
                 WHERE subject = ANY($1) AND idx > $2 ORDER BY idx LIMIT $3",
                &[&subjects, &after, &i64::from(limit)],
                |r| {
                    Ok((
                        index(col(r, "idx")?)?,
                        hash32(&col::<Vec<u8>>(r, "leaf_hash")?, "leaf hash")?,
                        col(r, "record")?,
                    ))
                },
            )
            .await
        })
    }

    fn returns_answered(&self) -> StoreFuture<'_, Vec<ReturnAnswered>> {
        Box::pin(async move {
            self.all(
                "SELECT r.transfer, r.item, r.requested_by, r.requested_at, o.receipt, o.delivered_at, o.failure \
                 FROM item_return r JOIN outbox o ON o.transfer = r.transfer \
                 WHERE r.done_at IS NULL AND (o.delivered_at IS NOT NULL OR o.failed_at IS NOT NULL) \
                 ORDER BY r.pos",
                &[],
                |r| {
                    Ok(ReturnAnswered {
                        ret: Return {
                            transfer: col(r, "transfer")?,
                            item: col(r, "item")?,
                            requested_by: col(r, "requested_by")?,
                            requested_at: col(r, "requested_at")?,
                        },
                        receipt: col(r, "receipt")?,
                        delivered_at: col(r, "delivered_at")?,
                        failure: col(r, "failure")?,
                    })
                },
            )
            .await
        })
    }

    fn returns_open(&self) -> StoreFuture<'_, Vec<Return>> {
        Box::pin(async move {
            self.all(
                "SELECT transfer, item, requested_by, requested_at FROM item_return \
                 WHERE done_at IS NULL ORDER BY pos",
                &[],
                |r| {
                    Ok(Return {
                        transfer: col(r, "transfer")?,
                        item: col(r, "item")?,
                        requested_by: col(r, "requested_by")?,
                        requested_at: col(r, "requested_at")?,
                    })
                },
            )
            .await
        })
    }

    fn incidents_page(&self, after: Option<i64>, limit: u32) -> StoreFuture<'_, Vec<IncidentRow>> {
        Box::pin(async move {
            self.all(
                &format!(
                    "SELECT {INCIDENT_ROW} FROM incident_message WHERE seq = 0 AND pos > $1 ORDER BY pos LIMIT $2"
                ),
                &[&after.unwrap_or(0), &i64::from(limit)],
                incident_row,
            )
            .await
        })
    }

    fn incident_messages<'a>(&'a self, incident: &'a str) -> StoreFuture<'a, Vec<IncidentRow>> {
        Box::pin(async move {
            self.all(
                &format!(
                    "SELECT {INCIDENT_ROW} FROM incident_message WHERE incident = $1 ORDER BY seq, direction"
                ),
                &[&incident],
                incident_row,
            )
            .await
        })
    }

    fn incidents_unacked(&self) -> StoreFuture<'_, Vec<IncidentRow>> {
        Box::pin(async move {
            self.all(
                &format!(
                    "SELECT {INCIDENT_ROW} FROM incident_message \
                     WHERE direction = 'sent' AND acked_at IS NULL AND failed_at IS NULL ORDER BY pos"
                ),
                &[],
                incident_row,
            )
            .await
        })
    }

    fn scrub(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            // Erased sealed bytes live on in dead row versions until the
            // table is rewritten: VACUUM FULL rewrites it without them
            // (it waits for the table's other users).
            self.conn()
                .client
                .batch_execute("VACUUM FULL item")
                .await
                .map_err(db)?;
            Ok(true)
        })
    }

    fn idempotent<'a>(
        &'a self,
        person: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Idempotent>> {
        Box::pin(async move {
            self.one(
                "SELECT person, key, request, response, at FROM idempotency WHERE person = $1 AND key = $2",
                &[&person, &key],
                |r| {
                    Ok(Idempotent {
                        person: col(r, "person")?,
                        key: col(r, "key")?,
                        request: col(r, "request")?,
                        response: col(r, "response")?,
                        at: col(r, "at")?,
                    })
                },
            )
            .await
        })
    }

    fn registers_version(&self) -> StoreFuture<'_, (i64, i64)> {
        Box::pin(async move {
            self.one(
                "SELECT (SELECT COALESCE(MAX(pos), 0) FROM message) AS m, \
                 (SELECT COUNT(*) FROM facility_record) AS f",
                &[],
                |r| Ok((col::<i64>(r, "m")?, col::<i64>(r, "f")?)),
            )
            .await
            .map(Option::unwrap_or_default)
        })
    }

    fn lead<'a>(&'a self, role: &'a str, secs: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Taken when free or lapsed, renewed by its holder; the
            // server's clock times it (every process asks the same server).
            Ok(self
                .one(
                    "INSERT INTO lease (role, owner, until_unix) \
                     VALUES ($1, $2, EXTRACT(EPOCH FROM clock_timestamp())::BIGINT + $3) \
                     ON CONFLICT (role) DO UPDATE SET owner = excluded.owner, until_unix = excluded.until_unix \
                     WHERE lease.owner = excluded.owner \
                     OR lease.until_unix < EXTRACT(EPOCH FROM clock_timestamp())::BIGINT \
                     RETURNING owner",
                    &[&role, &&*self.owner, &secs],
                    |_| Ok(()),
                )
                .await?
                .is_some())
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn warnings_after(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<(i64, WarningRow)>> {
        Box::pin(async move {
            self.all(
                "SELECT pos, flight, seq, bytes, applied_at, applied_unix, level FROM warning_update \
                 WHERE pos > $1 ORDER BY pos LIMIT $2",
                &[&after, &i64::from(limit)],
                |r| {
                    Ok((
                        col(r, "pos")?,
                        WarningRow {
                            flight: col(r, "flight")?,
                            seq: small(col(r, "seq")?, "warning seq")?,
                            bytes: col(r, "bytes")?,
                            applied_at: col(r, "applied_at")?,
                            applied_unix: col(r, "applied_unix")?,
                            level: col(r, "level")?,
                        },
                    ))
                },
            )
            .await
        })
    }

    fn last_warning_position(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            self.one(
                "SELECT COALESCE(MAX(pos), 0) AS p FROM warning_update",
                &[],
                |r| col::<i64>(r, "p"),
            )
            .await
            .map(Option::unwrap_or_default)
        })
    }
}
