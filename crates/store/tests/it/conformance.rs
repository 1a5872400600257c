//! The conformance suite every `Store` adapter passes: each check takes a
//! fresh, empty store.

use gsomia_ledger::entry::{Entry, Kind, Record, frame};
use gsomia_ledger::merkle::{Tree, leaf_hash};
use gsomia_store::{
    Batch, Incoming, Item, Message, MessageKind, Outgoing, Person, Role, Store, StoreError,
};

fn entry(i: u64) -> Entry {
    Entry::new(
        Kind::ReadAllowed,
        1_700_000_000 + i as i64,
        0,
        "JPN",
        Some(format!("item-{i}")),
        vec![
            ("person".into(), "p1".into()),
            ("rules".into(), "rule 10".into()),
        ],
    )
    .unwrap()
}

pub fn person(id: &str, token: u8) -> Person {
    Person {
        id: id.into(),
        name: format!("Officer {id}"),
        role: Role::Officer,
        clearance: "極秘".into(),
        clearance_until: "2027-01-02T00:00:00+09:00".into(),
        need_to_know: vec!["dprk.missile".into(), "dprk.nuclear".into()],
        token_hash: [token; 32],
        created_at: "2026-11-28T00:00:00Z".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: Some(vec![token; 32]),
    }
}

fn item(id: &str) -> Item {
    Item {
        id: id.into(),
        originator: "KOR".into(),
        sealed: vec![1, 2, 3],
        label: vec![4, 5],
        equivalent_label: Some(vec![6]),
        received_from: Some("KOR".into()),
        created_at: "2026-11-28T00:00:00Z".into(),
        origin_item: format!("kor-{id}"),
        binding: Some(vec![7; 32]),
        custody: Some(id.as_bytes().to_vec()),
        lineage: None,
        disposal: None,
        index: None,
    }
}

/// A registration: the person and its ledger entry, in one batch.
fn register(p: Person, i: u64) -> Batch {
    Batch {
        people: vec![p],
        entries: vec![entry(i)],
        ..Batch::default()
    }
}

pub async fn people<S: Store + ?Sized>(s: &S) {
    s.commit(register(person("b", 2), 0)).await.unwrap();
    s.commit(register(person("a", 1), 1)).await.unwrap();
    assert!(
        matches!(s.commit(register(person("a", 3), 2)).await, Err(StoreError::Exists(id)) if id == "a")
    );
    assert!(
        matches!(
            s.commit(register(person("c", 1), 3)).await,
            Err(StoreError::Exists(_))
        ),
        "tokens are unique"
    );
    // A refused registration writes nothing: neither the person nor its entry.
    assert_eq!(s.ledger_size().await.unwrap(), 2);
    let p = s.person_by_token(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(p, person("b", 2));
    assert!(s.person_by_token(&[9; 32]).await.unwrap().is_none());
    let ids: Vec<String> = s
        .people()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

/// A person's row is replaced whole by an update (a revocation, a new
/// token), with its entry; an update of nobody fails the batch.
pub async fn people_are_updated_whole<S: Store + ?Sized>(s: &S) {
    s.commit(register(person("a", 1), 0)).await.unwrap();
    let mut a = person("a", 1);
    a.revoked_at = Some("2026-12-01T00:00:00Z".into());
    a.token_hash = [5; 32];
    a.custody = Some(vec![8; 32]);
    s.commit(Batch {
        person_updates: vec![a.clone()],
        entries: vec![entry(1)],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert!(s.person_by_token(&[1; 32]).await.unwrap().is_none());
    assert_eq!(s.person_by_token(&[5; 32]).await.unwrap(), Some(a));
    let missing = s
        .commit(Batch {
            person_updates: vec![person("z", 7)],
            entries: vec![entry(2)],
            ..Batch::default()
        })
        .await;
    assert!(matches!(missing, Err(StoreError::Missing(id)) if id == "z"));
    assert_eq!(s.ledger_size().await.unwrap(), 2, "nothing of it written");
}

/// A backfilled tag is set only on a row that has none.
pub async fn backfill_sets_only_missing_tags<S: Store + ?Sized>(s: &S) {
    let mut bare = item("bare");
    bare.custody = None;
    s.commit(Batch {
        items: vec![bare, item("tagged")],
        ..Batch::default()
    })
    .await
    .unwrap();
    s.commit(Batch {
        backfill: vec![
            (gsomia_store::Tagged::Item, "bare".into(), vec![1]),
            (gsomia_store::Tagged::Item, "tagged".into(), vec![2]),
        ],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.item("bare").await.unwrap().unwrap().custody,
        Some(vec![1])
    );
    assert_eq!(
        s.item("tagged").await.unwrap().unwrap().custody,
        Some(b"tagged".to_vec())
    );
}

/// What an audit reads: every checkpoint, every accepted transfer, every
/// outbox row; and a write probe.
pub async fn an_audit_reads_everything<S: Store + ?Sized>(s: &S) {
    let h = |b: u8| gsomia_ledger::merkle::Hash([b; 32]);
    s.put_checkpoint(2, h(2), "note-2").await.unwrap();
    s.put_checkpoint(1, h(1), "note-1").await.unwrap();
    assert_eq!(
        s.checkpoints().await.unwrap(),
        vec![(1, h(1), "note-1".into()), (2, h(2), "note-2".into())]
    );
    let incoming = Incoming {
        transfer: "t1".into(),
        sender: "KOR".into(),
        item: "x".into(),
        received_at: "2026-11-28T00:00:00Z".into(),
    };
    s.commit(Batch {
        incoming: vec![incoming.clone()],
        outgoing: vec![Outgoing {
            kind: MessageKind::Transfer,
            transfer: "o1".into(),
            item: "x".into(),
            recipient: "USA".into(),
            envelope: vec![1],
            attempts: 0,
            next_attempt_at: 5,
            custody: Some(vec![3]),
            released_by: Some("jpn-sato".into()),
        }],
        delivered: vec![],
        ..Batch::default()
    })
    .await
    .unwrap();
    s.commit(Batch {
        delivered: vec![(
            "o1".into(),
            "2026-11-29T00:00:00Z".into(),
            "checkpoint".into(),
        )],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.received().await.unwrap(), vec![incoming]);
    let rows = s.outbox_rows().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].transfer, "o1");
    assert_eq!(
        rows[0].delivered_at.as_deref(),
        Some("2026-11-29T00:00:00Z")
    );
    assert_eq!(rows[0].failed_at, None);
    assert!(rows[0].has_envelope);
    s.probe_write("2026-11-29T00:00:00Z").await.unwrap();
    s.probe_write("2026-11-29T00:00:01Z").await.unwrap();
}

/// Rebuilds the framed log from the store and verifies it with the ledger's verifier.
async fn verify_ledger<S: Store + ?Sized>(s: &S) -> u64 {
    let size = s.ledger_size().await.unwrap();
    let recs = s.records(0, size).await.unwrap();
    assert_eq!(recs.len() as u64, size);
    let mut log = Vec::new();
    let mut tree = Tree::new();
    for (i, (h, bytes)) in recs.iter().enumerate() {
        assert_eq!(*h, leaf_hash(bytes), "stored hash of record {i}");
        let r = Record::from_bytes(bytes).unwrap();
        assert_eq!(r.index, i as u64);
        log.extend_from_slice(&frame(&r));
        tree.push_hash(*h);
    }
    let signer = gsomia_ledger::note::Signer {
        name: "gsomia/JPN".into(),
        key: gsomia_seal::SecretKey::from_seed(&[1; 32]),
    };
    let c = gsomia_ledger::note::Checkpoint {
        origin: "gsomia/JPN".into(),
        size,
        root: tree.root(),
    };
    let note = signer.sign_checkpoint(&c).render();
    gsomia_ledger::verify::verify(
        "gsomia/JPN",
        &signer.verifier(),
        &log,
        &[("c".into(), note)],
    )
    .unwrap();
    size
}

pub async fn ledger_commits_chain<S: Store + ?Sized>(s: &S) {
    let c = s
        .commit(Batch {
            entries: (0..5).map(entry).collect(),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!((c.first_index, c.size), (0, 5));
    let c = s
        .commit(Batch {
            entries: (5..8).map(entry).collect(),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!((c.first_index, c.size), (5, 8));
    assert_eq!(verify_ledger(s).await, 8);
    // The leaf hashes from any index on are the stored records' own.
    let recs = s.records(0, 8).await.unwrap();
    for from in [0u64, 3, 7, 8] {
        let leaves = s.leaf_hashes(from).await.unwrap();
        let expected: Vec<_> = recs[from as usize..].iter().map(|(h, _)| *h).collect();
        assert_eq!(leaves, expected, "from {from}");
    }
}

pub async fn a_replayed_transfer_has_no_second_effect<S: Store + ?Sized>(s: &S) {
    let batch = |item_id: &str| Batch {
        items: vec![item(item_id)],
        incoming: vec![Incoming {
            transfer: "t-1".into(),
            sender: "KOR".into(),
            item: item_id.into(),
            received_at: "2026-11-28T00:00:00Z".into(),
        }],
        entries: vec![entry(0)],
        ..Batch::default()
    };
    s.commit(batch("i-1")).await.unwrap();
    assert!(matches!(s.commit(batch("i-2")).await, Err(StoreError::Duplicate(t)) if t == "t-1"));
    assert_eq!(
        s.item_ids().await.unwrap(),
        ["i-1"],
        "nothing of the replay was stored"
    );
    assert_eq!(s.ledger_size().await.unwrap(), 1, "nor ledgered");
    assert_eq!(s.item("i-1").await.unwrap().unwrap(), item("i-1"));
    assert!(s.item("i-2").await.unwrap().is_none());
    assert_eq!(s.incoming("t-1").await.unwrap().unwrap().item, "i-1");
    let many = s
        .incoming_many(&["t-0".into(), "t-1".into(), "t-2".into()])
        .await
        .unwrap();
    assert_eq!(
        many.iter().map(|i| i.transfer.as_str()).collect::<Vec<_>>(),
        ["t-1"]
    );
    assert!(s.incoming("t-2").await.unwrap().is_none());
}

pub async fn a_failed_batch_writes_nothing<S: Store + ?Sized>(s: &S) {
    s.commit(Batch {
        items: vec![item("x")],
        entries: vec![entry(0)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let again = Batch {
        items: vec![item("y"), item("x")],
        entries: vec![entry(1), entry(2)],
        ..Batch::default()
    };
    assert!(matches!(s.commit(again).await, Err(StoreError::Exists(id)) if id == "x"));
    assert_eq!(s.item_ids().await.unwrap(), ["x"]);
    assert_eq!(s.ledger_size().await.unwrap(), 1);
}

pub async fn checkpoints_are_compare_and_swap<S: Store + ?Sized>(s: &S) {
    let (r1, r2) = (leaf_hash(b"a"), leaf_hash(b"b"));
    s.put_checkpoint(1, r1, "note-1").await.unwrap();
    s.put_checkpoint(1, r1, "note-1").await.unwrap();
    assert!(matches!(
        s.put_checkpoint(1, r2, "other").await,
        Err(StoreError::Conflict(1))
    ));
    s.put_checkpoint(3, r2, "note-3").await.unwrap();
    assert_eq!(
        s.latest_checkpoint().await.unwrap(),
        Some((3, "note-3".into()))
    );
}

pub async fn the_outbox_serves_due_transfers_until_delivered<S: Store + ?Sized>(s: &S) {
    let out = |t: &str, at: i64| Outgoing {
        kind: if t == "late" {
            MessageKind::Event
        } else {
            MessageKind::Transfer
        },
        transfer: t.into(),
        item: "i".into(),
        recipient: "KOR".into(),
        envelope: vec![7],
        attempts: 0,
        next_attempt_at: at,
        custody: None,
        released_by: None,
    };
    s.commit(Batch {
        outgoing: vec![out("late", 200), out("early", 100)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let due: Vec<String> = s
        .due(150, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.transfer)
        .collect();
    assert_eq!(due, ["early"]);
    s.retry_later("early", 300, "unreachable").await.unwrap();
    let due = s.due(250, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|o| o.transfer.as_str()).collect::<Vec<_>>(),
        ["late"]
    );
    let due = s.due(300, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(
        due.iter().find(|o| o.transfer == "early").unwrap().attempts,
        1
    );
    s.commit(Batch {
        delivered: vec![(
            "early".into(),
            "2026-11-28T00:00:00Z".into(),
            "checkpoint".into(),
        )],
        ..Batch::default()
    })
    .await
    .unwrap();
    let due: Vec<String> = s
        .due(1_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.transfer)
        .collect();
    assert_eq!(due, ["late"]);
    assert_eq!(s.due(1_000, 10).await.unwrap()[0].kind, MessageKind::Event);
}

pub async fn due_except_leaves_out_what_is_in_flight_and_keeps_the_order<S: Store + ?Sized>(s: &S) {
    let out = |t: String, at: i64| Outgoing {
        kind: MessageKind::Transfer,
        transfer: t.clone(),
        item: t,
        recipient: "KOR".into(),
        envelope: vec![1, 2, 3],
        attempts: 0,
        next_attempt_at: at,
        custody: Some(vec![9]),
        released_by: None,
    };
    // 300 due (more than one lookup's worth of ids), oldest first by time.
    s.commit(Batch {
        outgoing: (0..300)
            .map(|i| out(format!("t{i:03}"), 1_000 - i))
            .collect(),
        ..Batch::default()
    })
    .await
    .unwrap();
    let names = |v: Vec<Outgoing>| v.into_iter().map(|o| o.transfer).collect::<Vec<_>>();
    let all = names(s.due(2_000, 1_000).await.unwrap());
    assert_eq!(all.len(), 300);
    assert_eq!(all[0], "t299", "the oldest first");
    let none = std::collections::HashSet::new();
    assert_eq!(names(s.due_except(2_000, 1_000, &none).await.unwrap()), all);
    // The first 250 in flight: the next ones, as many as asked, in order.
    let flying: std::collections::HashSet<String> = all[..250].iter().cloned().collect();
    let next = s.due_except(2_000, 20, &flying).await.unwrap();
    assert_eq!(names(next.clone()), all[250..270].to_vec());
    assert_eq!(next[0].envelope, vec![1, 2, 3], "envelopes are read");
    // Not due yet, or delivered: left out as by `due`.
    assert!(s.due_except(700, 10, &none).await.unwrap().is_empty());
    s.commit(Batch {
        delivered: vec![(
            all[260].clone(),
            "2026-11-28T00:00:00Z".into(),
            "checkpoint".into(),
        )],
        ..Batch::default()
    })
    .await
    .unwrap();
    let next = names(s.due_except(2_000, 20, &flying).await.unwrap());
    assert_eq!(next.len(), 20);
    assert!(!next.contains(&all[260]));
    assert_eq!(next[19], all[270]);
}

pub async fn messages_are_kept_once_each_in_order<S: Store + ?Sized>(s: &S) {
    let msg = |kind, id: &str, body: u8| Message {
        kind,
        id: id.into(),
        party: "KOR".into(),
        body: vec![body],
        stored_at: "2026-11-28T00:00:00Z".into(),
    };
    s.commit(Batch {
        messages: vec![
            msg(MessageKind::Consent, "c-2", 1),
            msg(MessageKind::Consent, "c-1", 2),
            msg(MessageKind::Event, "c-1", 3),
        ],
        entries: vec![entry(1)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.messages(MessageKind::Consent).await.unwrap()),
        ["c-2", "c-1"],
        "oldest first"
    );
    assert_eq!(ids(s.messages(MessageKind::Event).await.unwrap()), ["c-1"]);
    assert!(
        s.messages(MessageKind::Revocation)
            .await
            .unwrap()
            .is_empty()
    );
    // A replayed id of the same kind: the whole batch fails, nothing written.
    let replay = s
        .commit(Batch {
            messages: vec![
                msg(MessageKind::Revocation, "c-1", 4),
                msg(MessageKind::Consent, "c-1", 5),
            ],
            entries: vec![entry(2)],
            ..Batch::default()
        })
        .await;
    assert!(matches!(replay, Err(StoreError::Duplicate(id)) if id == "c-1"));
    assert!(
        s.messages(MessageKind::Revocation)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.ledger_size().await.unwrap(), 1);
    assert_eq!(
        s.message(MessageKind::Consent, "c-1")
            .await
            .unwrap()
            .unwrap()
            .body,
        [2]
    );
    assert_eq!(s.message(MessageKind::Consent, "c-3").await.unwrap(), None);
}

pub async fn concurrent_commits_keep_one_chain<S: Store + 'static>(s: std::sync::Arc<S>) {
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u64 {
                s.commit(Batch {
                    entries: vec![entry(t * 100 + i), entry(t * 100 + i + 50)],
                    ..Batch::default()
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(verify_ledger(&*s).await, 160);
}

pub async fn a_witness_never_goes_back<S: Store + ?Sized>(s: &S) {
    use gsomia_ledger::merkle::Hash;
    assert_eq!(s.witnessed("KOR").await.unwrap(), None);
    s.put_witnessed("KOR", 5, Hash([5; 32]), "n5", "t")
        .await
        .unwrap();
    s.put_witnessed("KOR", 9, Hash([9; 32]), "n9", "t")
        .await
        .unwrap();
    assert!(matches!(
        s.put_witnessed("KOR", 7, Hash([7; 32]), "n7", "t").await,
        Err(StoreError::Conflict(7))
    ));
    assert_eq!(
        s.witnessed("KOR").await.unwrap(),
        Some((9, Hash([9; 32]), "n9".into()))
    );
    assert_eq!(s.witnessed("USA").await.unwrap(), None);
    s.add_cosignature(3, "KOR", "c3", "t").await.unwrap();
    s.add_cosignature(8, "USA", "c8", "t").await.unwrap();
    s.add_cosignature(3, "KOR", "c3-again", "t").await.unwrap();
    let c = s.cosignatures().await.unwrap();
    assert_eq!(
        c.iter()
            .map(|(n, who, note, _)| (*n, who.as_str(), note.as_str()))
            .collect::<Vec<_>>(),
        [(8, "USA", "c8"), (3, "KOR", "c3")]
    );
}

/// Many concurrent commits, one of them a replayed transfer: the replay
/// fails alone (whatever the adapter groups together), every other batch is
/// committed with its item and entry, and the ledger is one chain.
pub async fn a_failing_batch_among_concurrent_ones_fails_alone<S: Store + 'static>(
    s: std::sync::Arc<S>,
) {
    let batch = |n: u64, transfer: String| Batch {
        items: vec![item(&format!("c-{n}"))],
        incoming: vec![Incoming {
            transfer,
            sender: "KOR".into(),
            item: format!("c-{n}"),
            received_at: "2026-11-28T00:00:00Z".into(),
        }],
        entries: vec![entry(n)],
        ..Batch::default()
    };
    let mut tasks = Vec::new();
    for n in 0..24u64 {
        // Batch 24 replays transfer t-5.
        let t = if n == 23 {
            "t-5".to_owned()
        } else {
            format!("t-{n}")
        };
        let s = s.clone();
        let b = batch(n, t);
        tasks.push(tokio::spawn(async move { s.commit(b).await }));
    }
    let mut ok = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Duplicate(id)) => {
                assert_eq!(id, "t-5");
                duplicates += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, duplicates), (23, 1));
    assert_eq!(s.item_ids().await.unwrap().len(), 23);
    assert_eq!(verify_ledger(&*s).await, 23);
}

/// An item's life: what was made from it, its history by subject, a
/// disposal that erases and never happens twice, returns followed to
/// their answer.
pub async fn holdings_are_recorded_and_disposed_of_once<S: Store + ?Sized>(s: &S) {
    use gsomia_store::{Disposed, ItemIndex, Return};
    let mut copy = item("c1");
    copy.lineage = Some(vec![9, 9]);
    copy.index = Some(ItemIndex {
        access_level: "極秘".into(),
        created_unix: 1,
        topics: vec!["dprk".into()],
        source: Some("i1".into()),
        dispose_by: Some(100),
    });
    s.commit(Batch {
        items: vec![item("i1"), copy, item("other")],
        entries: vec![entry(0), entry(1)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let made = s.made_from("i1").await.unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].id, "c1");
    assert_eq!(made[0].lineage.as_deref(), Some(&[9u8, 9][..]));
    assert!(s.made_from("other").await.unwrap().is_empty());
    // History by subject: entry(i) is about `item-{i}`.
    let h = s
        .history(&["item-1".into(), "item-9".into()], None, 10)
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].0, 1);
    assert_eq!(h[0].1, leaf_hash(&h[0].2));
    assert!(
        s.history(&["item-1".into()], Some(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The due index: only items still held.
    let due = s
        .items_page(&gsomia_store::ItemQuery {
            limit: 10,
            due_by: Some(100),
            ..gsomia_store::ItemQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["c1"]
    );
    let dispose = |id: &str| Disposed {
        id: id.into(),
        disposal: vec![1],
        custody: vec![2],
        at_unix: 50,
    };
    s.commit(Batch {
        disposals: vec![dispose("c1")],
        ..Batch::default()
    })
    .await
    .unwrap();
    let gone = s.item("c1").await.unwrap().unwrap();
    assert!(gone.sealed.is_empty(), "the sealed bytes are erased");
    assert_eq!(
        (gone.disposal, gone.custody),
        (Some(vec![1]), Some(vec![2]))
    );
    let size = s.ledger_size().await.unwrap();
    assert!(matches!(
        s.commit(Batch {
            disposals: vec![dispose("c1")],
            entries: vec![entry(7)],
            ..Batch::default()
        })
        .await,
        Err(StoreError::Gone(id)) if id == "c1"
    ));
    assert_eq!(
        s.ledger_size().await.unwrap(),
        size,
        "nothing of a second disposal is kept"
    );
    // An act on an item read before its disposal committed (a release, a
    // copy) fails whole: nothing queued, nothing ledgered.
    let late = Outgoing {
        kind: MessageKind::Transfer,
        transfer: "t-late".into(),
        item: "c1".into(),
        recipient: "KOR".into(),
        envelope: vec![1],
        attempts: 0,
        next_attempt_at: 5,
        custody: Some(vec![3]),
        released_by: Some("p".into()),
    };
    for held in [vec!["c1".to_owned()], vec!["i1".into(), "nowhere".into()]] {
        let gone = held.last().cloned().unwrap();
        assert!(matches!(
            s.commit(Batch {
                held,
                outgoing: vec![late.clone()],
                entries: vec![entry(7)],
                ..Batch::default()
            })
            .await,
            Err(StoreError::Gone(id)) if id == gone
        ));
    }
    assert_eq!(s.ledger_size().await.unwrap(), size);
    assert!(s.outbox_stats().await.unwrap().is_empty(), "nothing queued");
    assert!(
        s.items_page(&gsomia_store::ItemQuery {
            limit: 10,
            due_by: Some(100),
            ..gsomia_store::ItemQuery::default()
        })
        .await
        .unwrap()
        .is_empty()
    );
    assert!(s.scrub().await.unwrap());
    // A return follows its transfer to its answer.
    let o = Outgoing {
        kind: MessageKind::Transfer,
        transfer: "t1".into(),
        item: "i1".into(),
        recipient: "KOR".into(),
        envelope: vec![1],
        attempts: 0,
        next_attempt_at: 5,
        custody: Some(vec![3]),
        released_by: Some("p".into()),
    };
    s.commit(Batch {
        outgoing: vec![o.clone()],
        returns: vec![Return {
            transfer: "t1".into(),
            item: "i1".into(),
            requested_by: "p".into(),
            requested_at: "2026-11-28T00:00:00Z".into(),
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.returns_open().await.unwrap().len(), 1);
    assert!(s.returns_answered().await.unwrap().is_empty());
    // A second return of the item while the first is open fails whole.
    let mut again = o.clone();
    again.transfer = "t2".into();
    assert!(matches!(
        s.commit(Batch {
            held: vec!["i1".into()],
            outgoing: vec![again],
            returns: vec![Return {
                transfer: "t2".into(),
                item: "i1".into(),
                requested_by: "p".into(),
                requested_at: "2026-11-28T00:00:00Z".into(),
            }],
            ..Batch::default()
        })
        .await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(s.returns_open().await.unwrap().len(), 1);
    s.commit(Batch {
        delivered: vec![("t1".into(), "2026-11-28T00:00:01Z".into(), "cp".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    let a = s.returns_answered().await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].receipt.as_deref(), Some("cp"));
    s.commit(Batch {
        returns_closed: vec![("t1".into(), "2026-11-28T00:00:02Z".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert!(s.returns_open().await.unwrap().is_empty());
    assert!(s.returns_answered().await.unwrap().is_empty());
}

/// Incident messages: kept once each, pending until acknowledged or
/// refused, listed by report.
pub async fn incident_messages_wait_until_answered<S: Store + ?Sized>(s: &S) {
    use gsomia_store::IncidentRow;
    let row = |incident: &str, seq: u32, sent: bool| IncidentRow {
        position: 0,
        incident: incident.into(),
        seq,
        sent,
        party: "KOR".into(),
        item: "i1".into(),
        bytes: vec![seq as u8],
        at: "2026-11-28T00:00:00Z".into(),
        acked_at: None,
        ack: None,
        failed_at: None,
        failure: None,
    };
    s.commit(Batch {
        incidents: vec![row("a", 0, true), row("a", 1, true), row("b", 0, true)],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        s.commit(Batch {
            incidents: vec![row("a", 1, true)],
            ..Batch::default()
        })
        .await,
        Err(StoreError::Duplicate(_))
    ));
    // The same place received is another row.
    s.commit(Batch {
        incidents: vec![row("a", 1, false)],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.incidents_unacked().await.unwrap().len(), 3);
    s.commit(Batch {
        incidents_acked: vec![("a".into(), 0, "t".into(), vec![9])],
        incidents_refused: vec![("b".into(), 0, "t".into(), "not ours".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    let pending = s.incidents_unacked().await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|r| (r.incident.as_str(), r.seq))
            .collect::<Vec<_>>(),
        vec![("a", 1)]
    );
    let a = s.incident_messages("a").await.unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].ack.as_deref(), Some(&[9u8][..]));
    let b = s.incident_messages("b").await.unwrap();
    assert_eq!(b[0].failure.as_deref(), Some("not ours"));
    let reports = s.incidents_page(None, 10).await.unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| r.incident.as_str())
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    let after = s
        .incidents_page(Some(reports[0].position), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

/// A reclassification's reach: every row of one originator's item, the
/// documents made here, where the item went; rows sealed anew in place,
/// one no longer held failing the batch whole; notices kept as messages.
pub async fn reclassified_rows_are_found_and_sealed_anew<S: Store + ?Sized>(s: &S) {
    // Two rows of kor-a (received twice), one of kor-b, a translation.
    let mut twice = item("a2");
    twice.origin_item = "kor-a1".into();
    let mut made = item("t1");
    made.originator = "JPN".into();
    made.origin_item = "t1".into();
    made.lineage = Some(vec![1]);
    let mut copy_of_made = item("t1c");
    copy_of_made.origin_item = "t1".into();
    copy_of_made.lineage = Some(vec![2]);
    s.commit(Batch {
        items: vec![item("a1"), twice, item("b1"), made, copy_of_made],
        ..Batch::default()
    })
    .await
    .unwrap();
    let rows = s.items_of_origin("kor-a1").await.unwrap();
    assert_eq!(
        rows.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["a1", "a2"]
    );
    let made: Vec<String> = s
        .documents_made()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(made, vec!["t1".to_owned()], "copies are reached by origin");
    // Where kor-a1 went: a row delivered to USA, one queued to KOR; one
    // refused by CAN is not in the record.
    let out = |t: &str, item: &str, to: &str| Outgoing {
        kind: MessageKind::Transfer,
        transfer: t.into(),
        item: item.into(),
        recipient: to.into(),
        envelope: vec![1],
        attempts: 0,
        next_attempt_at: 5,
        custody: Some(vec![3]),
        released_by: Some("p".into()),
    };
    s.commit(Batch {
        outgoing: vec![
            out("x1", "a1", "USA"),
            out("x2", "a2", "KOR"),
            out("x3", "a2", "CAN"),
            out("x4", "b1", "NZL"),
        ],
        ..Batch::default()
    })
    .await
    .unwrap();
    s.commit(Batch {
        failed: vec![("x3".into(), "t".into(), "refused".into())],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.distribution("kor-a1").await.unwrap(), vec!["KOR", "USA"]);
    // Sealed anew in place.
    let mut a1 = s.item("a1").await.unwrap().unwrap();
    a1.sealed = vec![9, 9, 9];
    a1.label = vec![8];
    a1.equivalent_label = Some(vec![7]);
    a1.custody = Some(vec![6]);
    s.commit(Batch {
        relabelled: vec![a1.clone()],
        ..Batch::default()
    })
    .await
    .unwrap();
    let back = s.item("a1").await.unwrap().unwrap();
    assert_eq!(
        (back.sealed, back.label, back.equivalent_label, back.custody),
        (vec![9, 9, 9], vec![8], Some(vec![7]), Some(vec![6]))
    );
    // A row disposed of meanwhile fails the batch: the other row is unchanged.
    s.commit(Batch {
        disposals: vec![gsomia_store::Disposed {
            id: "a2".into(),
            disposal: vec![1],
            custody: vec![2],
            at_unix: 1,
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    let mut b1 = s.item("b1").await.unwrap().unwrap();
    b1.label = vec![0];
    let mut a2 = item("a2");
    a2.label = vec![0];
    assert!(matches!(
        s.commit(Batch {
            relabelled: vec![b1, a2],
            ..Batch::default()
        })
        .await,
        Err(StoreError::Gone(id)) if id == "a2"
    ));
    assert_eq!(s.item("b1").await.unwrap().unwrap().label, vec![4, 5]);
    // Notices are kept as messages of their own kind.
    s.commit(Batch {
        messages: vec![gsomia_store::Message {
            kind: MessageKind::Reclassification,
            id: "kor-r-1".into(),
            party: "KOR".into(),
            body: vec![1],
            stored_at: "t".into(),
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.messages(MessageKind::Reclassification)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Contractor facilities: each file appended record by record, a place
/// kept once; a person's facility kept and changed with the person.
pub async fn facility_files_append_once<S: Store + ?Sized>(s: &S) {
    use gsomia_store::FacilityRecord;
    let rec = |f: &str, seq: u32| FacilityRecord {
        facility: f.into(),
        seq,
        body: vec![seq as u8],
        at: "2026-11-30T00:00:00Z".into(),
        custody: vec![9; 32],
    };
    s.commit(Batch {
        facility_records: vec![rec("f-b", 0), rec("f-a", 0), rec("f-a", 1)],
        entries: vec![entry(0)],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        s.commit(Batch {
            facility_records: vec![rec("f-a", 1)],
            entries: vec![entry(1)],
            ..Batch::default()
        })
        .await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        s.ledger_size().await.unwrap(),
        1,
        "nothing of the second kept"
    );
    let all = s.facility_records().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.facility.as_str(), r.seq))
            .collect::<Vec<_>>(),
        vec![("f-a", 0), ("f-a", 1), ("f-b", 0)]
    );
    assert_eq!(all[1], rec("f-a", 1));
    let mut p = person("c1", 7);
    p.facility = Some("f-a".into());
    s.commit(register(p.clone(), 2)).await.unwrap();
    assert_eq!(
        s.person_by_token(&[7; 32]).await.unwrap().unwrap().facility,
        Some("f-a".into())
    );
    let mut v = person("v1", 8);
    v.visit = Some("jpn-v-1".into());
    s.commit(register(v, 3)).await.unwrap();
    assert_eq!(
        s.person_by_token(&[8; 32]).await.unwrap().unwrap().visit,
        Some("jpn-v-1".into())
    );
    p.facility = None;
    s.commit(Batch {
        person_updates: vec![p],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.person_by_token(&[7; 32]).await.unwrap().unwrap().facility,
        None
    );
}

/// The registers' version moves with every message and facility record
/// kept, and with nothing else.
pub async fn the_registers_version_moves_with_messages_and_facility_records<S: Store + ?Sized>(
    s: &S,
) {
    let v0 = s.registers_version().await.unwrap();
    s.commit(Batch {
        people: vec![person("p1", 1)],
        entries: vec![entry(0)],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.registers_version().await.unwrap(),
        v0,
        "a person is not a register change"
    );
    s.commit(Batch {
        messages: vec![Message {
            kind: MessageKind::Event,
            id: "ev-1".into(),
            party: "KOR".into(),
            body: vec![1],
            stored_at: "2026-11-30T00:00:00Z".into(),
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    let v1 = s.registers_version().await.unwrap();
    assert_ne!(v1, v0);
    s.commit(Batch {
        facility_records: vec![gsomia_store::FacilityRecord {
            facility: "f".into(),
            seq: 0,
            body: vec![0],
            at: "2026-11-30T00:00:00Z".into(),
            custody: vec![9; 32],
        }],
        ..Batch::default()
    })
    .await
    .unwrap();
    let v2 = s.registers_version().await.unwrap();
    assert_ne!(v2, v1);
    assert_eq!(
        s.registers_version().await.unwrap(),
        v2,
        "stable while nothing is kept"
    );
}

/// Warning updates are read back after a position in the order they were
/// committed, each once; the last position says where to start.
pub async fn warnings_are_followed_in_commit_order<S: Store + ?Sized>(s: &S) {
    let w = |flight: &str, seq: u32| gsomia_store::WarningRow {
        flight: flight.into(),
        seq,
        bytes: vec![seq as u8],
        applied_at: "2026-11-30T00:00:00Z".into(),
        applied_unix: 1_800_000_000,
        level: "極秘".into(),
    };
    assert_eq!(s.last_warning_position().await.unwrap(), 0);
    s.commit(Batch {
        warnings: vec![w("b", 0), w("a", 0)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let start = s.last_warning_position().await.unwrap();
    s.commit(Batch {
        warnings: vec![w("a", 1), w("b", 1), w("a", 1)],
        ..Batch::default()
    })
    .await
    .unwrap();
    let all = s.warnings_after(0, 100).await.unwrap();
    let order: Vec<(String, u32)> = all.iter().map(|(_, r)| (r.flight.clone(), r.seq)).collect();
    assert_eq!(
        order,
        [("b", 0), ("a", 0), ("a", 1), ("b", 1)].map(|(f, n)| (f.to_owned(), n)),
        "in commit order, a repeated update once"
    );
    assert!(all.windows(2).all(|p| p[0].0 < p[1].0), "positions grow");
    let after = s.warnings_after(start, 100).await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(
        s.warnings_after(start, 1).await.unwrap().len(),
        1,
        "bounded"
    );
    assert_eq!(s.last_warning_position().await.unwrap(), all[3].0);
    // An update published here must be new: one kept already (another
    // process took that number) fails its batch, which writes nothing.
    let size = s.ledger_size().await.unwrap();
    let taken = s
        .commit(Batch {
            warnings: vec![w("a", 2), w("b", 1)],
            warnings_new: true,
            entries: vec![entry(9)],
            ..Batch::default()
        })
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Duplicate(k)) if k == "b #1"),
        "{taken:?}"
    );
    assert_eq!(s.ledger_size().await.unwrap(), size);
    assert_eq!(s.warnings_after(0, 100).await.unwrap().len(), 4);
    s.commit(Batch {
        warnings: vec![w("a", 2)],
        warnings_new: true,
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.warnings_after(0, 100).await.unwrap().len(), 5);
}

/// Console sessions: kept under the hash of their id, found, refused a
/// second time under one id, forgotten when ended, and the ended ones
/// swept when a new one begins.
pub async fn console_sessions_begin_are_found_and_end<S: Store + ?Sized>(s: &S) {
    use gsomia_store::ConsoleSession;
    let session = |n: u8, expires_unix: i64| ConsoleSession {
        id_hash: [n; 32],
        token_hash: [n + 100; 32],
        expires_unix,
        custody: vec![n; 32],
    };
    assert_eq!(s.session(&[1; 32]).await.unwrap(), None);
    s.session_begin(&session(1, 1_000), 0).await.unwrap();
    s.session_begin(&session(2, 2_000), 0).await.unwrap();
    assert_eq!(s.session(&[1; 32]).await.unwrap(), Some(session(1, 1_000)));
    assert!(matches!(
        s.session_begin(&session(1, 5_000), 0).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(s.session(&[1; 32]).await.unwrap(), Some(session(1, 1_000)));
    // Ended: forgotten, once.
    assert!(s.session_end(&[2; 32]).await.unwrap());
    assert!(!s.session_end(&[2; 32]).await.unwrap());
    assert_eq!(s.session(&[2; 32]).await.unwrap(), None);
    // A session begun at 1,000 sweeps the one that ended then, not later ones.
    s.session_begin(&session(3, 3_000), 999).await.unwrap();
    assert!(s.session(&[1; 32]).await.unwrap().is_some());
    s.session_begin(&session(4, 3_000), 1_000).await.unwrap();
    assert_eq!(s.session(&[1; 32]).await.unwrap(), None);
    assert_eq!(s.session(&[3; 32]).await.unwrap(), Some(session(3, 3_000)));
}
