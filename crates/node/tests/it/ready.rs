//! Readiness while the database stops taking writes: a store that fails
//! every write on demand (as a full disk or a file made read-only under a
//! running node would), or holds its commits until let go, everything else
//! passed through. And the warning ledger's batches under both.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gsomia_ledger::merkle::Hash;
use gsomia_store::{
    Batch, Committed, ConsoleSession, Idempotent, Incoming, Item, ItemIndex, ItemQuery, ItemRow,
    Message, MessageKind, OutboxRow, OutboxStats, Outgoing, Person, Store, StoreError, StoreFuture,
    TransferQuery, TransferRow,
};
use tower::ServiceExt as _;

use gsomia_node::testkit as kit;

#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
    /// While true, commits wait (a slow disk, a busy server).
    held: tokio::sync::watch::Sender<bool>,
}

impl Flaky {
    fn over(inner: Arc<dyn Store>) -> Flaky {
        Flaky {
            inner,
            failing: AtomicBool::new(false),
            held: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Flaky {
    fn refuse(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Relaxed) {
            Err(StoreError::Database(
                "attempt to write a readonly database".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl Store for Flaky {
    fn person_by_token<'a>(&'a self, h: &'a [u8; 32]) -> StoreFuture<'a, Option<Person>> {
        self.inner.person_by_token(h)
    }
    fn people(&self) -> StoreFuture<'_, Vec<Person>> {
        self.inner.people()
    }
    fn commit(&self, batch: Batch) -> StoreFuture<'_, Committed> {
        Box::pin(async move {
            let mut held = self.held.subscribe();
            let _ = held.wait_for(|h| !*h).await;
            self.refuse()?;
            self.inner.commit(batch).await
        })
    }
    fn incoming<'a>(&'a self, t: &'a str) -> StoreFuture<'a, Option<Incoming>> {
        self.inner.incoming(t)
    }
    fn incoming_many<'a>(&'a self, t: &'a [String]) -> StoreFuture<'a, Vec<Incoming>> {
        self.inner.incoming_many(t)
    }
    fn item<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Item>> {
        self.inner.item(id)
    }
    fn messages(&self, kind: MessageKind) -> StoreFuture<'_, Vec<Message>> {
        self.inner.messages(kind)
    }
    fn message<'a>(&'a self, kind: MessageKind, id: &'a str) -> StoreFuture<'a, Option<Message>> {
        self.inner.message(kind, id)
    }
    fn item_ids(&self) -> StoreFuture<'_, Vec<String>> {
        self.inner.item_ids()
    }
    fn ledger_size(&self) -> StoreFuture<'_, u64> {
        self.inner.ledger_size()
    }
    fn leaf_hashes(&self, from: u64) -> StoreFuture<'_, Vec<Hash>> {
        self.inner.leaf_hashes(from)
    }
    fn records(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<(Hash, Vec<u8>)>> {
        self.inner.records(from, to)
    }
    fn put_checkpoint<'a>(&'a self, size: u64, root: Hash, note: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.put_checkpoint(size, root, note).await
        })
    }
    fn latest_checkpoint(&self) -> StoreFuture<'_, Option<(u64, String)>> {
        self.inner.latest_checkpoint()
    }
    fn checkpoints(&self) -> StoreFuture<'_, Vec<(u64, Hash, String)>> {
        self.inner.checkpoints()
    }
    fn received(&self) -> StoreFuture<'_, Vec<Incoming>> {
        self.inner.received()
    }
    fn outbox_rows(&self) -> StoreFuture<'_, Vec<OutboxRow>> {
        self.inner.outbox_rows()
    }
    fn probe_write<'a>(&'a self, at: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.probe_write(at).await
        })
    }
    fn session_begin<'a>(&'a self, s: &'a ConsoleSession, now: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.session_begin(s, now).await
        })
    }
    fn session<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, Option<ConsoleSession>> {
        self.inner.session(id)
    }
    fn session_end<'a>(&'a self, id: &'a [u8; 32]) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.session_end(id).await
        })
    }
    fn witnessed<'a>(&'a self, party: &'a str) -> StoreFuture<'a, Option<(u64, Hash, String)>> {
        self.inner.witnessed(party)
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
            self.refuse()?;
            self.inner.put_witnessed(party, size, root, note, at).await
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
            self.refuse()?;
            self.inner.add_cosignature(size, cosigner, note, at).await
        })
    }
    fn cosignatures(&self) -> StoreFuture<'_, Vec<(u64, String, String, String)>> {
        self.inner.cosignatures()
    }
    fn due(&self, now: i64, limit: u32) -> StoreFuture<'_, Vec<Outgoing>> {
        self.inner.due(now, limit)
    }
    fn due_except<'a>(
        &'a self,
        now: i64,
        limit: u32,
        except: &'a HashSet<String>,
    ) -> StoreFuture<'a, Vec<Outgoing>> {
        self.inner.due_except(now, limit, except)
    }
    fn outbox_stats(&self) -> StoreFuture<'_, Vec<OutboxStats>> {
        self.inner.outbox_stats()
    }
    fn retry_later<'a>(
        &'a self,
        transfer: &'a str,
        next: i64,
        error: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.retry_later(transfer, next, error).await
        })
    }
    fn warnings_since(&self, since: i64) -> StoreFuture<'_, Vec<gsomia_store::WarningRow>> {
        self.inner.warnings_since(since)
    }
    fn warnings_owed(&self) -> StoreFuture<'_, Vec<gsomia_store::WarningOwed>> {
        self.inner.warnings_owed()
    }
    fn item_indexes(&self) -> StoreFuture<'_, Vec<(String, Option<ItemIndex>)>> {
        self.inner.item_indexes()
    }
    fn items_page<'a>(&'a self, q: &'a ItemQuery) -> StoreFuture<'a, Vec<ItemRow>> {
        self.inner.items_page(q)
    }
    fn transfers_page<'a>(&'a self, q: &'a TransferQuery) -> StoreFuture<'a, Vec<TransferRow>> {
        self.inner.transfers_page(q)
    }
    fn transfer<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<TransferRow>> {
        self.inner.transfer(id)
    }
    fn items_of_origin<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<Item>> {
        self.inner.items_of_origin(origin_item)
    }
    fn documents_made(&self) -> StoreFuture<'_, Vec<Item>> {
        self.inner.documents_made()
    }
    fn distribution<'a>(&'a self, origin_item: &'a str) -> StoreFuture<'a, Vec<String>> {
        self.inner.distribution(origin_item)
    }
    fn facility_records(&self) -> StoreFuture<'_, Vec<gsomia_store::FacilityRecord>> {
        self.inner.facility_records()
    }
    fn made_from<'a>(&'a self, source: &'a str) -> StoreFuture<'a, Vec<ItemRow>> {
        self.inner.made_from(source)
    }
    fn history<'a>(
        &'a self,
        subjects: &'a [String],
        after: Option<u64>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(u64, Hash, Vec<u8>)>> {
        self.inner.history(subjects, after, limit)
    }
    fn returns_answered(&self) -> StoreFuture<'_, Vec<gsomia_store::ReturnAnswered>> {
        self.inner.returns_answered()
    }
    fn returns_open(&self) -> StoreFuture<'_, Vec<gsomia_store::Return>> {
        self.inner.returns_open()
    }
    fn incidents_page(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<gsomia_store::IncidentRow>> {
        self.inner.incidents_page(after, limit)
    }
    fn incident_messages<'a>(
        &'a self,
        incident: &'a str,
    ) -> StoreFuture<'a, Vec<gsomia_store::IncidentRow>> {
        self.inner.incident_messages(incident)
    }
    fn incidents_unacked(&self) -> StoreFuture<'_, Vec<gsomia_store::IncidentRow>> {
        self.inner.incidents_unacked()
    }
    fn scrub(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            self.refuse()?;
            self.inner.scrub().await
        })
    }
    fn idempotent<'a>(
        &'a self,
        person: &'a str,
        key: &'a str,
    ) -> StoreFuture<'a, Option<Idempotent>> {
        self.inner.idempotent(person, key)
    }
    fn registers_version(&self) -> StoreFuture<'_, (i64, i64)> {
        self.inner.registers_version()
    }
    fn warnings_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(i64, gsomia_store::WarningRow)>> {
        self.inner.warnings_after(after, limit)
    }
    fn last_warning_position(&self) -> StoreFuture<'_, i64> {
        self.inner.last_warning_position()
    }
}

/// A node of `party` alone, on a scratch store behind [`Flaky`] (its
/// identity under a fresh directory named from `prefix`).
async fn flaky_node(
    prefix: &str,
    party: &str,
    seed: u8,
) -> (kit::Identity, Arc<Flaky>, Arc<gsomia_node::Node>) {
    let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let me = kit::identity(&dir, party, seed).unwrap();
    let flaky = Arc::new(Flaky::over(kit::scratch_store().await.unwrap()));
    let node = me
        .node(
            gsomia_core::shipped().unwrap(),
            flaky.clone(),
            vec![],
            Default::default(),
        )
        .await
        .unwrap();
    (me, flaky, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_false_while_writes_fail_and_true_again_after() {
    let (_, flaky, node) = flaky_node("gsomia-ready-", "JPN", 41).await;
    let ready = |node: Arc<gsomia_node::Node>| async move {
        let req = axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = kit::user_router(node).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (status, doc)
    };
    let (status, doc) = ready(node.clone()).await;
    assert_eq!(
        (status, doc["ready"].clone()),
        (200, serde_json::json!(true)),
        "{doc}"
    );
    flaky.failing.store(true, Ordering::Relaxed);
    let (status, doc) = ready(node.clone()).await;
    assert_eq!(
        (status, doc["ready"].clone()),
        (503, serde_json::json!(false)),
        "{doc}"
    );
    let write = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "store_write")
        .unwrap()
        .clone();
    assert_eq!(write["ok"], false);
    assert!(
        write["detail"].as_str().unwrap().contains("readonly"),
        "{write}"
    );
    flaky.failing.store(false, Ordering::Relaxed);
    assert_eq!(ready(node).await.0, 200);
}

/// How many `warning` entries the node's ledger holds.
async fn warning_entries(node: &gsomia_node::Node) -> usize {
    super::ledger_kinds(node)
        .await
        .iter()
        .filter(|k| *k == "warning")
        .count()
}

/// A flush of the warning ledger returns only once what waited is
/// written, even when another batch took it and is still writing (the
/// periodic batch and a flush at stop, or a test's); a batch whose write
/// fails keeps its entries for the next one instead of losing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_ledger_batch_is_written_before_a_flush_returns_and_kept_when_it_fails() {
    let (kor, flaky, node) = flaky_node("gsomia-flush-", "KOR", 42).await;
    let t0 = jiff::Timestamp::now().as_second() - 60;
    let publish = |seq: u32, kind: &str| {
        let bytes = super::warning("kor-flush", seq, kind, t0).seal(&kor.key);
        kit::accept(&node, &bytes, None).unwrap();
    };
    let before = warning_entries(&node).await;

    // One batch takes the entry and is held writing it; a flush meanwhile
    // may not return before it is written.
    publish(0, "launch");
    flaky.held.send_replace(true);
    let first = tokio::spawn({
        let node = node.clone();
        async move { kit::flush_warnings(&node).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        kit::flush_warnings(&node),
    )
    .await;
    assert!(
        second.is_err(),
        "a flush returned while the entry it was to write was not yet written"
    );
    flaky.held.send_replace(false);
    first.await.unwrap();
    kit::flush_warnings(&node).await;
    assert_eq!(warning_entries(&node).await, before + 1);

    // A batch that cannot be written keeps its entry for the next one.
    publish(1, "track");
    flaky.failing.store(true, Ordering::Relaxed);
    kit::flush_warnings(&node).await;
    assert_eq!(warning_entries(&node).await, before + 1);
    flaky.failing.store(false, Ordering::Relaxed);
    kit::flush_warnings(&node).await;
    assert_eq!(
        warning_entries(&node).await,
        before + 2,
        "the entry of a batch that failed was lost"
    );
}
