//! The SQLite adapter against the conformance suite, in memory and on disk.

use std::sync::Arc;

use gsomia_store::{Batch, SqliteStore, Store};

use crate::conformance as c;

async fn fresh() -> SqliteStore {
    SqliteStore::memory().await.unwrap()
}

#[tokio::test]
async fn people() {
    c::people(&fresh().await).await;
}

#[tokio::test]
async fn people_are_updated_whole() {
    c::people_are_updated_whole(&fresh().await).await;
}

#[tokio::test]
async fn backfill_sets_only_missing_tags() {
    c::backfill_sets_only_missing_tags(&fresh().await).await;
}

#[tokio::test]
async fn an_audit_reads_everything() {
    c::an_audit_reads_everything(&fresh().await).await;
}

#[tokio::test]
async fn a_node_database_is_never_made_by_opening_it() {
    let dir = fresh_dir("gsomia-sqlite-", "-existing");
    let path = dir.join("node.db");
    let e = SqliteStore::open_existing(&path).await.unwrap_err();
    assert!(matches!(e, gsomia_store::StoreError::NoDatabase(_)), "{e}");
    assert!(!path.exists(), "nothing was created");
    SqliteStore::open(&path).await.unwrap();
    SqliteStore::open_existing(&path).await.unwrap();
}

#[tokio::test]
async fn ledger_commits_chain() {
    c::ledger_commits_chain(&fresh().await).await;
}

#[tokio::test]
async fn a_replayed_transfer_has_no_second_effect() {
    c::a_replayed_transfer_has_no_second_effect(&fresh().await).await;
}

#[tokio::test]
async fn a_failed_batch_writes_nothing() {
    c::a_failed_batch_writes_nothing(&fresh().await).await;
}

#[tokio::test]
async fn checkpoints_are_compare_and_swap() {
    c::checkpoints_are_compare_and_swap(&fresh().await).await;
}

#[tokio::test]
async fn the_outbox_serves_due_transfers_until_delivered() {
    c::the_outbox_serves_due_transfers_until_delivered(&fresh().await).await;
}

#[tokio::test]
async fn due_except_leaves_out_what_is_in_flight_and_keeps_the_order() {
    c::due_except_leaves_out_what_is_in_flight_and_keeps_the_order(&fresh().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_among_concurrent_ones_fails_alone_on_disk() {
    let dir = fresh_dir("gsomia-sqlite-", "-group");
    c::a_failing_batch_among_concurrent_ones_fails_alone(Arc::new(
        SqliteStore::open(&dir.join("node.db")).await.unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn a_witness_never_goes_back() {
    c::a_witness_never_goes_back(&fresh().await).await;
}

#[tokio::test]
async fn messages_are_kept_once_each_in_order() {
    c::messages_are_kept_once_each_in_order(&fresh().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_keep_one_chain_on_disk() {
    let dir = fresh_dir("gsomia-sqlite-", "-conc");
    c::concurrent_commits_keep_one_chain(Arc::new(
        SqliteStore::open(&dir.join("node.db")).await.unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn a_file_database_survives_reopening_and_migrations_run_once() {
    let dir = fresh_dir("gsomia-sqlite-", "-reopen");
    let path = dir.join("node.db");
    {
        let s = SqliteStore::open(&path).await.unwrap();
        c::people(&s).await;
        s.commit(Batch {
            entries: vec![],
            ..Batch::default()
        })
        .await
        .unwrap();
    }
    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(s.people().await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_outbox_queued_before_envelopes_moved_apart_is_still_sent() {
    let dir = fresh_dir("gsomia-sqlite-", "-v4");
    let path = dir.join("node.db");
    // A database as schema 4 left it, with a transfer and a consent queued.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; \
             CREATE TABLE schema_version (version INTEGER PRIMARY KEY) STRICT;",
        )
        .unwrap();
        for (v, script) in [
            (1, include_str!("../../migrations/sqlite/0001_node.sql")),
            (
                2,
                include_str!("../../migrations/sqlite/0002_outbox_failure.sql"),
            ),
            (3, include_str!("../../migrations/sqlite/0003_messages.sql")),
            (4, include_str!("../../migrations/sqlite/0004_witness.sql")),
        ] {
            conn.execute_batch(script).unwrap();
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", [v])
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO outbox (transfer, item, recipient, envelope, next_attempt_at, kind) \
             VALUES ('t-1', 'jpn-1', 'KOR', x'0102', 5, 'transfer'), \
                    ('c-1', 'c-1', 'USA', x'09', 6, 'consent');",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).await.unwrap();
    let due = s.due(i64::MAX, 10).await.unwrap();
    let got: Vec<(&str, &[u8])> = due
        .iter()
        .map(|o| (o.transfer.as_str(), o.envelope.as_slice()))
        .collect();
    assert_eq!(got, vec![("t-1", &[1u8, 2][..]), ("c-1", &[9u8][..])]);
    s.commit(Batch {
        delivered: vec![("t-1".into(), "now".into(), "checkpoint".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    let left = s
        .due_except(i64::MAX, 10, &Default::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].transfer.as_str(), &left[0].envelope[..]),
        ("c-1", &[9u8][..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An empty directory under the system's temporary one, named
/// `{before}{this process's id}{after}` (removed first if a run left it).
fn fresh_dir(before: &str, after: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{before}{}{after}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn holdings_are_recorded_and_disposed_of_once() {
    c::holdings_are_recorded_and_disposed_of_once(&fresh().await).await;
}

#[tokio::test]
async fn incident_messages_wait_until_answered() {
    c::incident_messages_wait_until_answered(&fresh().await).await;
}

#[tokio::test]
async fn reclassified_rows_are_found_and_sealed_anew() {
    c::reclassified_rows_are_found_and_sealed_anew(&fresh().await).await;
}

#[tokio::test]
async fn facility_files_append_once() {
    c::facility_files_append_once(&fresh().await).await;
}

#[tokio::test]
async fn the_registers_version_moves_with_messages_and_facility_records() {
    c::the_registers_version_moves_with_messages_and_facility_records(&fresh().await).await;
}

#[tokio::test]
async fn warnings_are_followed_in_commit_order() {
    c::warnings_are_followed_in_commit_order(&fresh().await).await;
}

#[tokio::test]
async fn console_sessions_begin_are_found_and_end() {
    c::console_sessions_begin_are_found_and_end(&fresh().await).await;
}
