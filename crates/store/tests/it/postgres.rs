//! The PostgreSQL adapter's foundation against a real server (never
//! skipped): `GSOMIA_TEST_POSTGRES` names it, else the machine's server at
//! 127.0.0.1:5432 as `postgres`. Each test gets its own database, cloned
//! from a template migrated once per schema version.
//!
//! The conformance suite every adapter passes, on PostgreSQL; then what
//! must hold with several writers: one ledger, gap-free, each record
//! chained to the one before it in commit order, whatever the processes
//! (here: stores with their own connections) and however they interleave;
//! a writer dying mid-transaction leaves no gap; checkpoints are a
//! compare-and-swap on the size.

use std::collections::BTreeSet;

use gsomia_ledger::entry::{Entry, GENESIS, Kind, Record};
use gsomia_ledger::merkle::{Tree, leaf_hash};
use std::sync::Arc;

use gsomia_store::{Batch, PgStore, Store, StoreError, postgres};

use crate::conformance as c;

/// The server's base URL (without a database).
fn server() -> String {
    std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

fn url_of(db: &str) -> String {
    format!("{} dbname={db}", server())
}

async fn admin() -> tokio_postgres::Client {
    let url = url_of("postgres");
    let (c, conn) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(x) => x,
        Err(e) => panic!(
            "PostgreSQL is not reachable at `{url}` ({e}). The PostgreSQL tests never skip: start \
             the server (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
             start`; .ci/run does) or name another in GSOMIA_TEST_POSTGRES."
        ),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// FNV-1a, for short database names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A fresh database for one test, cloned from the migrated template of
/// this schema (made once, under a lock, by whichever test comes first);
/// its connection string.
async fn fresh(test: &str) -> String {
    let a = admin().await;
    // Named by a digest of the migrations' text, so a changed schema gets
    // a template of its own rather than a stale one.
    let digest = fnv(&postgres::MIGRATIONS
        .iter()
        .flat_map(|m| m.2.bytes())
        .collect::<Vec<u8>>());
    let template = format!("gsomia_template_{digest:016x}");
    // Serialise template making across test processes and threads.
    a.execute("SELECT pg_advisory_lock(7467)", &[])
        .await
        .unwrap();
    let exists = a
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap()
        .is_some();
    if !exists {
        a.batch_execute(&format!("CREATE DATABASE {template}"))
            .await
            .unwrap();
        postgres::migrate(&url_of(&template)).await.unwrap();
    }
    // Databases of test runs that have ended go (their process is gone),
    // and templates of schemas that are no more.
    for r in a
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'gsomia_test_%' OR datname LIKE 'gsomia_template_%'",
            &[],
        )
        .await
        .unwrap()
    {
        let name: String = r.get(0);
        let pid = name.rsplit('_').next().unwrap_or("");
        if name.starts_with("gsomia_template_") {
            if name != template {
                a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .unwrap();
            }
            continue;
        }
        if pid != std::process::id().to_string()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
    // Short (identifiers stop at 63 bytes), distinct per test, and ending
    // in the process id the clean-up above reads.
    let db = format!(
        "gsomia_test_{:016x}_{}",
        fnv(test.as_bytes()),
        std::process::id()
    );
    a.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    a.batch_execute(&format!("CREATE DATABASE {db} TEMPLATE {template}"))
        .await
        .unwrap();
    a.execute("SELECT pg_advisory_unlock(7467)", &[])
        .await
        .unwrap();
    url_of(&db)
}

/// A batch of nothing but ledger entries.
fn ledgered(entries: Vec<Entry>) -> Batch {
    Batch {
        entries,
        ..Batch::default()
    }
}

fn entry(writer: usize, n: usize) -> Entry {
    Entry::new(
        Kind::ReadAllowed,
        1_700_000_000 + n as i64,
        0,
        "JPN",
        Some(format!("item-{writer}-{n}")),
        vec![
            ("person".into(), format!("writer-{writer}")),
            ("rules".into(), "rule 10".into()),
        ],
    )
    .unwrap()
}

/// Every record from 0: present, its index its place, chained to the
/// previous leaf, its stored leaf hash its own; the tree over them.
async fn check_chain(s: &PgStore) -> (Vec<Record>, Tree) {
    let size = s.ledger_size().await.unwrap();
    let rows = s.records(0, size).await.unwrap();
    assert_eq!(rows.len() as u64, size, "a gap in the ledger");
    let mut prev = GENESIS;
    let mut tree = Tree::new();
    let mut out = Vec::new();
    for (i, (stored, bytes)) in rows.iter().enumerate() {
        assert_eq!(leaf_hash(bytes), *stored, "record {i}'s stored hash");
        let r = Record::from_bytes(bytes).unwrap();
        assert_eq!(r.index, i as u64);
        assert_eq!(r.prev, prev, "record {i} is chained to the one before it");
        prev = *stored;
        tree.push_hash(*stored);
        out.push(r);
    }
    assert_eq!(s.leaf_hashes(0).await.unwrap().len() as u64, size);
    (out, tree)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_store_refuses_a_database_without_them() {
    let url = fresh("migrate").await;
    // The template was migrated: nothing left to apply, however often asked.
    assert_eq!(postgres::migrate(&url).await.unwrap(), Vec::<i32>::new());
    let (a, b) = tokio::join!(postgres::migrate(&url), postgres::migrate(&url));
    assert_eq!((a.unwrap(), b.unwrap()), (vec![], vec![]));
    let s = PgStore::open(&url).await.unwrap();
    assert_eq!(s.ledger_size().await.unwrap(), 0);
    // A database that would acknowledge commits before they are durable
    // is refused, saying which setting.
    let adm = admin().await;
    let db = url.rsplit("dbname=").next().unwrap().to_owned();
    adm.batch_execute(&format!("ALTER DATABASE {db} SET synchronous_commit = off"))
        .await
        .unwrap();
    match PgStore::open(&url).await {
        Err(StoreError::Database(m)) => assert!(m.contains("synchronous_commit = off"), "{m}"),
        other => panic!("{other:?}"),
    }
    adm.batch_execute(&format!("ALTER DATABASE {db} RESET synchronous_commit"))
        .await
        .unwrap();
    PgStore::open(&url).await.unwrap();
    // An empty database: not a node's, named as such.
    let empty = format!("gsomia_test_empty_{}", std::process::id());
    adm.batch_execute(&format!("DROP DATABASE IF EXISTS {empty}"))
        .await
        .unwrap();
    adm.batch_execute(&format!("CREATE DATABASE {empty}"))
        .await
        .unwrap();
    match PgStore::open(&url_of(&empty)).await {
        Err(StoreError::NoDatabase(m)) => assert!(m.contains("migrations"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Migrating two processes at once into an empty database: applied once.
    let fresh_url = url_of(&empty);
    let (a, b) = tokio::join!(postgres::migrate(&fresh_url), postgres::migrate(&fresh_url));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), postgres::MIGRATIONS.len(), "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_writers_make_one_gap_free_ledger_in_commit_order() {
    let url = fresh("writers").await;
    // Three processes' stores, each with its own connections and group commit.
    let stores = [
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
    ];
    const BATCHES: usize = 60;
    const PER: usize = 16;
    let mut tasks = Vec::new();
    for (w, s) in stores.iter().enumerate() {
        // Several commits in flight per store, so groups form.
        for lane in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for b in (lane..BATCHES).step_by(4) {
                    let entries = (0..PER).map(|n| entry(w, b * PER + n)).collect();
                    got.push((w, b, s.commit(ledgered(entries)).await.unwrap()));
                }
                got
            }));
        }
    }
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.extend(t.await.unwrap());
    }
    let total = (3 * BATCHES * PER) as u64;
    assert_eq!(stores[0].ledger_size().await.unwrap(), total);
    // Each batch got a run of consecutive indexes of its own.
    let mut covered = BTreeSet::new();
    for (_, _, c) in &ranges {
        assert_eq!(c.size - c.first_index, PER as u64);
        for i in c.first_index..c.size {
            assert!(covered.insert(i), "index {i} given twice");
        }
    }
    assert_eq!(covered.len() as u64, total);
    // The records are where their commits said, each chained to the one
    // before, and every store reads the same ledger.
    let (records, tree) = check_chain(&stores[1]).await;
    for (w, b, c) in &ranges {
        let first = &records[c.first_index as usize].entry;
        assert_eq!(first.item(), Some(format!("item-{w}-{}", b * PER).as_str()));
    }
    let (_, again) = check_chain(&stores[2]).await;
    assert_eq!(tree.root(), again.root());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_transaction_leaves_no_gap_and_the_next_one_continues() {
    let url = fresh("killed").await;
    let s = PgStore::open(&url).await.unwrap();
    s.commit(ledgered((0..5).map(|n| entry(0, n)).collect()))
        .await
        .unwrap();
    // Another process takes the head, writes a record after it, and dies
    // before committing (its connection gone, as with SIGKILL).
    let (dying, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let io = tokio::spawn(async move {
        let _ = conn.await;
    });
    dying
        .batch_execute(
            "BEGIN; SELECT next_index FROM ledger_head WHERE id = 1 FOR UPDATE; \
             INSERT INTO ledger_record (idx, leaf_hash, record) VALUES (5, '\\x00', '\\x00'); \
             UPDATE ledger_head SET next_index = 6 WHERE id = 1;",
        )
        .await
        .unwrap();
    // This process's commit waits on the head meanwhile…
    let waiting = {
        let s = s.clone();
        tokio::spawn(async move { s.commit(ledgered(vec![entry(1, 0), entry(1, 1)])).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the head row is locked");
    // …until the other dies.
    drop(dying);
    io.abort();
    let c = waiting.await.unwrap().unwrap();
    assert_eq!((c.first_index, c.size), (5, 7));
    let (records, _) = check_chain(&s).await;
    assert_eq!(records.len(), 7);
    assert_eq!(records[5].entry.item(), Some("item-1-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_a_compare_and_swap_on_its_size() {
    let url = fresh("checkpoint").await;
    let (a, b) = (
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
    );
    a.commit(ledgered((0..3).map(|n| entry(0, n)).collect()))
        .await
        .unwrap();
    let (_, tree) = check_chain(&a).await;
    let root = tree.root();
    a.put_checkpoint(3, root, "note a").await.unwrap();
    // The same tree again, from another process: nothing changes.
    b.put_checkpoint(3, root, "note b").await.unwrap();
    assert_eq!(
        b.latest_checkpoint().await.unwrap(),
        Some((3, "note a".to_owned()))
    );
    // Another root for that size: refused, never a fork.
    match b.put_checkpoint(3, leaf_hash(b"other"), "forged").await {
        Err(StoreError::Conflict(3)) => {}
        other => panic!("{other:?}"),
    }
    // Two processes racing with different roots for a new size: one wins.
    let (x, y) = tokio::join!(
        a.put_checkpoint(4, leaf_hash(b"x"), "x"),
        b.put_checkpoint(4, leaf_hash(b"y"), "y")
    );
    assert!(
        matches!(
            (&x, &y),
            (Ok(()), Err(StoreError::Conflict(4))) | (Err(StoreError::Conflict(4)), Ok(()))
        ),
        "{x:?} {y:?}"
    );
}

/// A fresh store on a fresh database.
async fn store(test: &str) -> PgStore {
    PgStore::open(&fresh(test).await).await.unwrap()
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                c::$check(&store(stringify!($check)).await).await;
            }
        )*
    };
}

/// Each check of the suite, by name, on a database of its own.
mod suite {
    use super::*;

    conformance!(
        people,
        people_are_updated_whole,
        backfill_sets_only_missing_tags,
        an_audit_reads_everything,
        ledger_commits_chain,
        a_replayed_transfer_has_no_second_effect,
        a_failed_batch_writes_nothing,
        checkpoints_are_compare_and_swap,
        the_outbox_serves_due_transfers_until_delivered,
        due_except_leaves_out_what_is_in_flight_and_keeps_the_order,
        a_witness_never_goes_back,
        messages_are_kept_once_each_in_order,
        holdings_are_recorded_and_disposed_of_once,
        incident_messages_wait_until_answered,
        reclassified_rows_are_found_and_sealed_anew,
        facility_files_append_once,
        the_registers_version_moves_with_messages_and_facility_records,
        warnings_are_followed_in_commit_order,
        console_sessions_begin_are_found_and_end,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_keep_one_chain() {
        c::concurrent_commits_keep_one_chain(Arc::new(store("concurrent").await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_batch_among_concurrent_ones_fails_alone() {
        c::a_failing_batch_among_concurrent_ones_fails_alone(Arc::new(store("failing").await))
            .await;
    }
}

fn outgoing(t: &str, at: i64) -> gsomia_store::Outgoing {
    gsomia_store::Outgoing {
        kind: gsomia_store::MessageKind::Transfer,
        transfer: t.into(),
        item: "i".into(),
        recipient: "KOR".into(),
        envelope: vec![7],
        attempts: 0,
        next_attempt_at: at,
        custody: None,
        released_by: None,
    }
}

/// Two processes' delivery workers claim disjoint transfers; only the
/// claimant's receipt or retry counts; a dead claimant's transfers go to
/// the other once its lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_claimed_by_one_process_at_a_time_and_taken_over_after_a_lease() {
    let url = fresh("leases").await;
    let (a, b) = (
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
    );
    a.commit(Batch {
        outgoing: (0..10).map(|n| outgoing(&format!("t{n}"), 100)).collect(),
        ..Batch::default()
    })
    .await
    .unwrap();
    let none = std::collections::HashSet::new();
    // Both ask at once: every transfer goes to exactly one of them.
    let (x, y) = tokio::join!(a.due_except(100, 6, &none), b.due_except(100, 6, &none));
    let (x, y) = (x.unwrap(), y.unwrap());
    let ids = |v: &[gsomia_store::Outgoing]| -> BTreeSet<String> {
        v.iter().map(|o| o.transfer.clone()).collect()
    };
    let (xa, yb) = (ids(&x), ids(&y));
    assert!(xa.is_disjoint(&yb), "{xa:?} {yb:?}");
    assert_eq!(xa.len() + yb.len(), 10, "{xa:?} {yb:?}");
    // While the leases hold, neither is offered the other's again.
    assert!(
        ids(&b.due_except(101, 10, &none).await.unwrap()).is_disjoint(&xa),
        "b is offered a's"
    );
    // `a` claimed one; `b`'s receipt or retry of it does not count.
    let t = xa.iter().next().unwrap().clone();
    b.retry_later(&t, 500, "b tried").await.unwrap();
    b.commit(Batch {
        delivered: vec![(t.clone(), "then".into(), "b's receipt".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    let row = a.transfer(&t).await.unwrap().unwrap();
    assert_eq!(
        (row.attempts, row.delivered_at.as_deref()),
        (0, None),
        "{row:?}"
    );
    // `a` dies holding its claims: once the leases run out, `b` takes them.
    drop(a);
    let later = 100 + postgres::LEASE_SECS + 1;
    let taken = ids(&b.due_except(later, 10, &none).await.unwrap());
    assert!(xa.is_subset(&taken), "{xa:?} not in {taken:?}");
    b.commit(Batch {
        delivered: vec![(t.clone(), "later".into(), "b's receipt".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    let row = b.transfer(&t).await.unwrap().unwrap();
    assert_eq!(row.delivered_at.as_deref(), Some("later"), "{row:?}");
}

/// Work one process does at a time: a lease taken by one, renewed by it,
/// refused to the other until it lapses, then taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_held_by_one_process_and_taken_over_when_it_lapses() {
    let url = fresh("lease").await;
    let (a, b) = (
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
    );
    assert!(a.lead("checkpoints", 1).await.unwrap());
    assert!(!b.lead("checkpoints", 1).await.unwrap(), "held by a");
    assert!(
        a.lead("checkpoints", 1).await.unwrap(),
        "renewed by its holder"
    );
    assert!(b.lead("another", 1).await.unwrap(), "roles are apart");
    // `a` stops renewing (it died): once the lease lapses, `b` takes it.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert!(b.lead("checkpoints", 1).await.unwrap());
    assert!(!a.lead("checkpoints", 1).await.unwrap(), "now held by b");
}

/// The server's TLS identity for the TLS test: `GSOMIA_TEST_POSTGRES_TLS`
/// (a base string naming host, port and user, as the server's certificate
/// names the host) and `GSOMIA_TEST_POSTGRES_CA` (the CA that signed it),
/// else Debian's default: `ssl = on` with the snakeoil certificate, made
/// for `localhost` and signed by itself.
fn tls_server() -> (String, String) {
    (
        std::env::var("GSOMIA_TEST_POSTGRES_TLS")
            .unwrap_or_else(|_| "host=localhost port=5432 user=postgres".into()),
        std::env::var("GSOMIA_TEST_POSTGRES_CA")
            .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".into()),
    )
}

/// How many of the database's sessions are (encrypted, in clear).
async fn sessions(db: &str) -> (i64, i64) {
    let r = admin()
        .await
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
               FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.datname = $1",
            &[&db],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_reaches_its_server_over_tls_with_the_certificate_checked() {
    let on: String = admin()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        on, "on",
        "the PostgreSQL server has ssl = off; this test needs TLS on it (Debian's default, with \
         the snakeoil certificate; .ci/run turns it on)"
    );
    let (base, ca) = tls_server();
    let db = fresh("tls")
        .await
        .rsplit("dbname=")
        .next()
        .unwrap()
        .to_owned();
    // Chain and name checked: every one of the store's sessions encrypted.
    let full = format!("{base} dbname={db} sslmode=verify-full sslrootcert={ca}");
    assert_eq!(postgres::migrate(&full).await.unwrap(), Vec::<i32>::new());
    let s = PgStore::open(&full).await.unwrap();
    s.commit(ledgered(vec![entry(0, 0)])).await.unwrap();
    assert_eq!(s.ledger_size().await.unwrap(), 1);
    let (encrypted, clear) = sessions(&db).await;
    assert!(encrypted >= 3, "{encrypted} sessions encrypted");
    assert_eq!(clear, 0, "a session in clear");
    drop(s);
    // The same certificate reached by an address it was not made for:
    // refused by verify-full, saying why; accepted by verify-ca.
    let by_ip = format!("host=127.0.0.1 port=5432 user=postgres dbname={db}");
    match PgStore::open(&format!("{by_ip} sslmode=verify-full sslrootcert={ca}")).await {
        Err(StoreError::Database(m)) => assert!(m.contains("not valid for name"), "{m}"),
        other => panic!("verify-full by an address the certificate does not name: {other:?}"),
    }
    let ca_only = PgStore::open(&format!("{by_ip} sslmode=verify-ca sslrootcert={ca}"))
        .await
        .unwrap();
    assert_eq!(ca_only.ledger_size().await.unwrap(), 1);
    drop(ca_only);
    // A CA that did not sign the server's certificate: refused.
    let stranger = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/stranger-ca.pem");
    match PgStore::open(&format!(
        "{base} dbname={db} sslmode=verify-full sslrootcert={stranger}"
    ))
    .await
    {
        Err(StoreError::Database(m)) => {
            assert!(m.contains("UnknownIssuer"), "{m}");
        }
        other => panic!("a server whose certificate the named CA did not sign: {other:?}"),
    }
}

/// `store copy`: a copy that fails part-way (here the target refuses the
/// ledger's rows, after the people went in) leaves the target as it was;
/// once it no longer refuses, the copy holds every row and the same ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_from_sqlite_that_fails_part_way_commits_nothing() {
    let dir = std::env::temp_dir().join(format!("gsomia-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("node.db");
    {
        let s = gsomia_store::SqliteStore::open(&source).await.unwrap();
        s.commit(Batch {
            people: vec![c::person("p1", 1), c::person("p2", 2)],
            entries: (0..2_500).map(|n| entry(0, n)).collect(),
            ..Batch::default()
        })
        .await
        .unwrap();
    }
    let url = fresh("copy").await;
    let (c0, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let count = |table: &'static str| {
        let c0 = &c0;
        async move {
            c0.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    c0.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON ledger_record FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut progress = |t: &str, done: u64, total: u64| seen.push((t.to_owned(), done, total));
    match postgres::copy::copy_from_sqlite(&source, &url, &mut progress).await {
        Err(StoreError::Database(m)) => {
            assert!(
                m.contains("ledger_record") && m.contains("refused by the test"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        count("person").await,
        0,
        "people copied before the failure stayed"
    );
    assert_eq!(count("ledger_record").await, 0);
    // Progress was told for the people, and the ledger's table began.
    assert!(seen.contains(&("person".to_owned(), 2, 2)), "{seen:?}");
    assert!(
        seen.contains(&("ledger_record".to_owned(), 0, 2_500)),
        "{seen:?}"
    );
    c0.batch_execute("DROP TRIGGER refuse ON ledger_record")
        .await
        .unwrap();
    seen.clear();
    let copied = postgres::copy::copy_from_sqlite(&source, &url, &mut |t: &str, d, n| {
        seen.push((t.to_owned(), d, n));
    })
    .await
    .unwrap();
    assert_eq!(copied.ledger_size, 2_500);
    assert!(
        copied.rows.contains(&("ledger_record".to_owned(), 2_500)),
        "{copied:?}"
    );
    assert_eq!(count("person").await, 2);
    // Told per chunk: the ledger's 2,500 rows in two.
    assert!(
        seen.contains(&("ledger_record".to_owned(), 2_000, 2_500)),
        "{seen:?}"
    );
    let target = PgStore::open(&url).await.unwrap();
    let (records, tree) = check_chain(&target).await;
    assert_eq!(records.len(), 2_500);
    assert_eq!(tree.root(), copied.root);
    let _ = std::fs::remove_dir_all(&dir);
}
