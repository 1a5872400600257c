//! The peer endpoint under attack, in process but over real mutual TLS on
//! loopback: replays, forgeries, redirected envelopes, strangers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod ready;

use std::sync::Arc;

use gsomia_ledger::entry::Record;
use gsomia_node::Node;
use gsomia_seal::item::seal;
use gsomia_seal::transfer::{Envelope, Receipt};
use gsomia_store::SqliteStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use gsomia_node::testkit::{self as kit, Identity, Partner, missile_label};

fn identity(dir: &std::path::Path, party: &str, seed: u8) -> Identity {
    kit::identity(dir, party, seed).unwrap()
}

fn partner(id: &Identity, endpoint: &str) -> Partner {
    id.as_partner(endpoint).unwrap()
}

fn client(me: &Identity, them: &Identity) -> reqwest::Client {
    me.client_to(them).unwrap()
}

async fn kor_node(kor: &Identity, partners: Vec<Partner>) -> Arc<Node> {
    kor.node(
        gsomia_core::shipped().unwrap(),
        kit::scratch_store().await.unwrap(),
        partners,
        Default::default(),
    )
    .await
    .unwrap()
}

/// KOR's peer endpoint on a free loopback port, accepting JPN: its base URL,
/// a stop switch, and the server task.
async fn start_peer_server(
    kor: &Identity,
    jpn: &Identity,
    node: Arc<Node>,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let tls = kit::peer_server_config(
        &kor.cert,
        &kor.tls_key,
        vec![CertificateDer::from_pem_file(&jpn.cert).unwrap()],
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kit::serve_peers(listener, tls, node, async move {
        let _ = stopped.await;
    }));
    (url, stop, server)
}

fn envelope(from: &Identity, to: &Identity, transfer: &str, sent_at: i64) -> Envelope {
    let reg = gsomia_core::shipped().unwrap();
    let wire = missile_label(&reg, &from.party, "極秘", Some(&["KOR"])).unwrap();
    let sealed = seal(
        &wire,
        b"launch 06:30",
        &from.party,
        &from.key,
        &to.party,
        &to.recipient.public(),
        [7; 32],
    )
    .unwrap();
    Envelope {
        transfer: transfer.into(),
        sender: from.party.clone(),
        recipient: to.party.clone(),
        agreement: "jp-kr-2016".into(),
        version: 1,
        sent_at: (sent_at, 0),
        item: "jpn-1".into(),
        sealed,
        consents: Vec::new(),
    }
}

/// The reasons of every `transfer_refused` entry in `node`'s ledger.
async fn ledger_reasons(node: &Node) -> Vec<String> {
    let size = node.store().ledger_size().await.unwrap();
    node.store()
        .records(0, size)
        .await
        .unwrap()
        .iter()
        .filter_map(|(_, b)| {
            let r = Record::from_bytes(b).unwrap();
            (r.entry.kind().as_str() == "transfer_refused").then(|| {
                r.entry
                    .fields()
                    .iter()
                    .find(|(k, _)| k == "reasons")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
        })
        .collect()
}

async fn ledger_kinds(node: &Node) -> Vec<String> {
    let size = node.store().ledger_size().await.unwrap();
    node.store()
        .records(0, size)
        .await
        .unwrap()
        .iter()
        .map(|(_, b)| {
            Record::from_bytes(b)
                .unwrap()
                .entry
                .kind()
                .as_str()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_endpoint_takes_each_transfer_once_and_refuses_everything_else_with_a_ledger_entry()
 {
    let dir = fresh_dir("gsomia-node-peer-", "");
    let (jpn, kor, rogue, usa) = (
        identity(&dir, "JPN", 1),
        identity(&dir, "KOR", 2),
        identity(&dir, "JPN", 3),
        identity(&dir, "USA", 4),
    );
    let node = kor_node(&kor, vec![partner(&jpn, "https://unused")]).await;
    let (base, stop, server) = start_peer_server(&kor, &jpn, node.clone()).await;
    let url = format!("{base}/peer/v1/transfers");
    let now = jiff::Timestamp::now().as_second();
    let jpn_client = client(&jpn, &kor);
    let post = |c: &reqwest::Client, body: Vec<u8>| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let r = c.post(url).body(body).send().await?;
            let status = r.status().as_u16();
            Ok::<_, reqwest::Error>((status, r.bytes().await?.to_vec()))
        }
    };

    // A genuine transfer: stored once, acknowledged with a signed receipt.
    let good = envelope(&jpn, &kor, "t-1", now).seal(&jpn.key);
    let (status, body) = post(&jpn_client, good.clone()).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let receipt = Receipt::open(&body, &kor.key.public()).unwrap();
    assert!(!receipt.duplicate);
    assert_eq!(node.store().item_ids().await.unwrap().len(), 1);
    // The replay is acknowledged again with no second effect.
    let (status, body) = post(&jpn_client, good).await.unwrap();
    assert_eq!(status, 200);
    let again = Receipt::open(&body, &kor.key.public()).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.item, receipt.item);
    assert_eq!(node.store().item_ids().await.unwrap().len(), 1);

    // Forged signature, wrong recipient, wrong claimed sender, stale clock: 403, ledgered.
    let forged = envelope(&jpn, &kor, "t-2", now).seal(&rogue.key);
    let for_usa = envelope(&jpn, &usa, "t-3", now).seal(&jpn.key);
    let mut claims_usa = envelope(&jpn, &kor, "t-4", now);
    claims_usa.sender = "USA".into();
    let claims_usa = claims_usa.seal(&jpn.key);
    let stale = envelope(&jpn, &kor, "t-5", now - 3600).seal(&jpn.key);
    for (what, body) in [
        ("forged", forged),
        ("for usa", for_usa),
        ("claims usa", claims_usa),
        ("stale", stale),
    ] {
        let (status, answer) = post(&jpn_client, body).await.unwrap();
        assert_eq!(status, 403, "{what}: {}", String::from_utf8_lossy(&answer));
    }
    let (status, _) = post(&jpn_client, b"not an envelope".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        node.store().item_ids().await.unwrap().len(),
        1,
        "nothing else stored"
    );
    let kinds = ledger_kinds(&node).await;
    assert_eq!(kinds.iter().filter(|k| *k == "received").count(), 1);
    assert_eq!(
        kinds.iter().filter(|k| *k == "transfer_refused").count(),
        5,
        "{kinds:?}"
    );

    // A stranger's certificate does not even complete the handshake.
    let stranger = client(&rogue, &kor);
    assert!(
        post(&stranger, envelope(&jpn, &kor, "t-6", now).seal(&jpn.key))
            .await
            .is_err()
    );
    // Nor does a client with no certificate at all (a user with a token).
    let anonymous = gsomia_api::user_tls_config(&kor.cert).unwrap();
    let anon = reqwest::Client::builder()
        .tls_backend_preconfigured(anonymous)
        .build()
        .unwrap();
    let r = anon
        .post(url.clone())
        .bearer_auth("gsomia_token")
        .body(vec![1])
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().status().as_u16() >= 400);
    assert_eq!(node.store().item_ids().await.unwrap().len(), 1);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_the_recipient_refuses_is_not_retried_and_is_ledgered_at_the_sender() {
    use gsomia_core::shipped::AGREEMENTS;
    use gsomia_store::Item;
    let dir = fresh_dir("gsomia-node-refuse-", "");
    let (jpn, kor) = (identity(&dir, "JPN", 1), identity(&dir, "KOR", 2));

    // KOR's profiles say jp-kr-2016 ended in 2020 (its own view); JPN's say it is in force.
    let text = AGREEMENTS
        .iter()
        .find(|(n, _)| n.ends_with("jp-kr-2016.toml"))
        .unwrap()
        .1
        .to_owned()
        + "\n[[event]]\nat = \"2020-01-01T00:00:00+09:00\"\nkind = \"termination\"\nsummary = \"test: ended by mutual consent\"\n";
    let mut b = gsomia_core::shipped::builder();
    b.agreement(gsomia_core::Source {
        name: "kor-view.toml".into(),
        text,
    });
    let kor_registry = b.build().unwrap();
    let kor_node = kor
        .node(
            kor_registry,
            kit::scratch_store().await.unwrap(),
            vec![partner(&jpn, "https://unused")],
            Default::default(),
        )
        .await
        .unwrap();
    let (kor_url, stop, server) = start_peer_server(&kor, &jpn, kor_node.clone()).await;

    let mut clients = std::collections::BTreeMap::new();
    clients.insert("KOR".to_owned(), jpn.tls_to(&kor).unwrap());
    let jpn_node = jpn
        .node(
            gsomia_core::shipped().unwrap(),
            kit::scratch_store().await.unwrap(),
            vec![partner(&kor, &kor_url)],
            clients,
        )
        .await
        .unwrap();
    let wire = missile_label(&jpn_node.registry(), "JPN", "極秘", None).unwrap();
    let mut item = Item {
        id: "jpn-1".into(),
        originator: "JPN".into(),
        sealed: seal(
            &wire,
            b"x",
            "JPN",
            &jpn.key,
            "JPN",
            &jpn.recipient.public(),
            [9; 32],
        )
        .unwrap(),
        label: wire.to_bytes(),
        equivalent_label: None,
        received_from: None,
        created_at: "now".into(),
        origin_item: "jpn-1".into(),
        binding: None,
        custody: None,
        lineage: None,
        disposal: None,
        index: None,
    };
    kit::tag_item(&jpn_node, &mut item);
    jpn_node
        .store()
        .commit(gsomia_store::Batch {
            items: vec![item.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    kit::person(&jpn_node, "tester", "極秘", &["dprk"], "tester-token")
        .await
        .unwrap();
    let transfer = kit::release(&jpn_node, &item, "KOR", "tester")
        .await
        .expect("JPN's view allows it");

    let worker = tokio::spawn(kit::deliver(jpn_node.clone()));
    let mut refused = false;
    for _ in 0..100 {
        if ledger_kinds(&jpn_node)
            .await
            .iter()
            .any(|k| k == "transfer_refused")
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    worker.abort();
    assert!(
        refused,
        "JPN ledgered KOR's refusal: {:?}",
        ledger_kinds(&jpn_node).await
    );
    assert!(
        jpn_node.store().due(i64::MAX, 10).await.unwrap().is_empty(),
        "and will not retry it"
    );
    assert!(
        kor_node.store().item_ids().await.unwrap().is_empty(),
        "KOR stored nothing"
    );
    assert!(
        ledger_kinds(&kor_node)
            .await
            .iter()
            .any(|k| k == "transfer_refused"),
        "KOR ledgered its refusal too"
    );
    // The person who released it sees it refused, with KOR's reasons.
    use tower::ServiceExt as _;
    let req = axum::http::Request::get(format!("/v1/transfers/{transfer}"))
        .header("authorization", "Bearer tester-token")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = kit::user_router(jpn_node.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(t["state"], "refused", "{t}");
    assert!(
        t["reasons"].as_str().unwrap().contains("not in force"),
        "{t}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agreement_events_and_consents_from_a_partner_are_verified_kept_once_and_refused_otherwise()
{
    use gsomia_seal::message::{AgreementEvent, ConsentGrant, ConsentRevocation, Scope};
    let dir = fresh_dir("gsomia-node-msg-", "");
    let (jpn, kor) = (identity(&dir, "JPN", 1), identity(&dir, "KOR", 2));
    let node = kor_node(&kor, vec![partner(&jpn, "https://unused")]).await;
    let (url, stop, server) = start_peer_server(&kor, &jpn, node.clone()).await;
    let http = client(&jpn, &kor);
    let post = |path: &str, body: Vec<u8>| {
        let req = http.post(format!("{url}/peer/v1/{path}")).body(body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let now = jiff::Timestamp::now();
    let at = (now.as_second(), 0);
    let notice = |id: &str, by: &str, agreement: &str, at: (i64, u32)| AgreementEvent {
        id: id.into(),
        agreement: agreement.into(),
        kind: "notice".into(),
        at,
        by: by.into(),
        written_diplomatic: true,
        summary: "test notice".into(),
    };
    let a = node.registry().agreement_ref("jp-kr-2016").unwrap();
    assert_eq!(
        node.registry().status(a, now).unwrap().state.as_str(),
        "in_force"
    );

    // A JPN notice, signed by JPN: kept, and KOR now computes the same status.
    let bytes = notice("jpn-e-1", "JPN", "jp-kr-2016", at).seal(&jpn.key);
    let (status, body) = post("events", bytes.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r = Receipt::open(&body, &kor.key.public()).unwrap();
    assert!(!r.duplicate);
    assert_eq!(r.transfer, "jpn-e-1");
    assert_eq!(
        node.registry().status(a, now).unwrap().state.as_str(),
        "notice_given"
    );
    // Replayed: acknowledged again, no second effect.
    let (status, body) = post("events", bytes).await;
    assert_eq!(status, 200);
    assert!(Receipt::open(&body, &kor.key.public()).unwrap().duplicate);
    let kinds = ledger_kinds(&node).await;
    assert_eq!(kinds.iter().filter(|k| *k == "agreement_event").count(), 1);

    // Refused, each with a reason and a ledger entry.
    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "events",
            notice("jpn-e-2", "KOR", "jp-kr-2016", at).seal(&jpn.key),
            "connection is from JPN",
        ),
        (
            "events",
            notice("jpn-e-3", "JPN", "jp-kr-2016", at).seal(&kor.key),
            "signature",
        ),
        (
            "events",
            notice("jpn-e-4", "JPN", "us-kr-1987", at).seal(&jpn.key),
            "not an agreement between",
        ),
        (
            "events",
            notice("jpn-e-5", "JPN", "jp-kr-2016", (at.0 + 86_400, 0)).seal(&jpn.key),
            "in the future",
        ),
        (
            "events",
            notice("jpn-e-6", "JPN", "jp-kr-2016", (at.0 + 1, 0)).seal(&jpn.key),
            "no effect",
        ),
        (
            "consents",
            ConsentGrant {
                id: "usa-c-1".into(),
                originator: "USA".into(),
                holder: "KOR".into(),
                recipient: "JPN".into(),
                scope: Scope::Topics(vec!["dprk.missile".into()]),
                granted_at: at,
                expires_at: (at.0 + 3600, 0),
            }
            .seal(&jpn.key),
            "connection is from JPN",
        ),
        (
            "consents",
            ConsentGrant {
                id: "jpn-c-0".into(),
                originator: "JPN".into(),
                holder: "USA".into(),
                recipient: "KOR".into(),
                scope: Scope::Topics(vec!["dprk.missile".into()]),
                granted_at: at,
                expires_at: (at.0 + 3600, 0),
            }
            .seal(&jpn.key),
            "for USA to hold",
        ),
        (
            "revocations",
            ConsentRevocation {
                consent: "jpn-c-9".into(),
                originator: "JPN".into(),
                revoked_at: at,
            }
            .seal(&jpn.key),
            "no consent",
        ),
    ];
    for (path, bytes, why) in refusals {
        let (status, body) = post(path, bytes).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains(why), "{path}: expected `{why}` in {text}");
    }
    let kinds = ledger_kinds(&node).await;
    assert_eq!(kinds.iter().filter(|k| *k == "transfer_refused").count(), 8);

    // A consent JPN gives KOR to hold, then revokes.
    let grant = ConsentGrant {
        id: "jpn-c-1".into(),
        originator: "JPN".into(),
        holder: "KOR".into(),
        recipient: "USA".into(),
        scope: Scope::Topics(vec!["dprk.missile".into()]),
        granted_at: at,
        expires_at: (at.0 + 3600, 0),
    };
    let (status, _) = post("consents", grant.seal(&jpn.key)).await;
    assert_eq!(status, 200);
    let held = kit::held_consents(&node).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].revoked_at, None);
    let revoke = ConsentRevocation {
        consent: "jpn-c-1".into(),
        originator: "JPN".into(),
        revoked_at: (at.0 + 60, 0),
    };
    let (status, _) = post("revocations", revoke.seal(&jpn.key)).await;
    assert_eq!(status, 200);
    let held = kit::held_consents(&node).await.unwrap();
    assert_eq!(held[0].revoked_at.map(|t| t.as_second()), Some(at.0 + 60));
    assert_eq!(
        ledger_kinds(&node)
            .await
            .iter()
            .filter(|k| *k == "consent")
            .count(),
        2
    );

    // The recorded event survives a restart: a node started on the same
    // store replays it onto the profiles.
    let again = kor
        .node(
            gsomia_core::shipped().unwrap(),
            node.store().clone(),
            vec![],
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.registry().status(a, now).unwrap().state.as_str(),
        "notice_given"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_decided_envelope_by_envelope_stored_once_and_receipted_as_a_whole() {
    use gsomia_seal::transfer::{BatchReceipt, Outcome, seal_batch};
    let dir = fresh_dir("gsomia-node-batch-", "");
    let (jpn, kor) = (identity(&dir, "JPN", 1), identity(&dir, "KOR", 2));
    let node = kor_node(&kor, vec![partner(&jpn, "https://unused")]).await;
    let (url, stop, server) = start_peer_server(&kor, &jpn, node.clone()).await;
    let http = client(&jpn, &kor);
    let now = jiff::Timestamp::now().as_second();
    // Signed by JPN as a whole; inside it, one envelope claims another
    // sender and one was sent an hour ago.
    let good = envelope(&jpn, &kor, "t-1", now).body();
    let claims_usa = Envelope {
        sender: "USA".into(),
        ..envelope(&jpn, &kor, "t-2", now)
    }
    .body();
    let stale = envelope(&jpn, &kor, "t-3", now - 3600).body();
    let batch = seal_batch(&[&good, &claims_usa, &stale, &good], &jpn.key);
    let send = |body: Vec<u8>| {
        let req = http
            .post(format!("{url}/peer/v1/transfers/batch"))
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = send(batch.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r = BatchReceipt::open(&body, &kor.key.public()).unwrap();
    assert_eq!(r.recipient, "KOR");
    let outcomes: Vec<(&str, &Outcome)> = r.outcomes.iter().map(|(t, o)| (t.as_str(), o)).collect();
    // The forged sender and the stale instant are refused here (and
    // ledgered below) but are no decision under the rules: left
    // unanswered in the receipt, so the sender tries them again.
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let Outcome::Stored(item) = outcomes[0].1 else {
        panic!("{outcomes:?}")
    };
    assert_eq!(
        outcomes[1],
        ("t-1", &Outcome::Duplicate(item.clone())),
        "the same transfer twice in one batch"
    );
    // The checkpoint in the receipt is KOR's, signed.
    let note = gsomia_ledger::note::Note::parse(&r.checkpoint).unwrap();
    kor.signer()
        .unwrap()
        .verifier()
        .verify_checkpoint(&note)
        .unwrap();

    // The whole batch again: nothing new is stored.
    let (status, body) = send(batch).await;
    assert_eq!(status, 200);
    let r = BatchReceipt::open(&body, &kor.key.public()).unwrap();
    assert_eq!(r.outcomes[0].1, Outcome::Duplicate(item.clone()));
    assert_eq!(
        node.store().item_ids().await.unwrap(),
        std::slice::from_ref(item)
    );
    let kinds = ledger_kinds(&node).await;
    assert_eq!(kinds.iter().filter(|k| *k == "received").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "transfer_refused").count(), 4);

    // A batch not signed with JPN's key: refused whole, with a reason and
    // a ledger entry, and nothing in it stored.
    let forged = seal_batch(&[&envelope(&jpn, &kor, "t-4", now).body()], &kor.key);
    let (status, body) = send(forged).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("batch signature"));
    assert_eq!(
        node.store().item_ids().await.unwrap(),
        std::slice::from_ref(item)
    );
    let kinds = ledger_kinds(&node).await;
    assert_eq!(kinds.iter().filter(|k| *k == "transfer_refused").count(), 5);
    // A batch carries envelopes unsigned: a signed single one inside it is
    // malformed there, and refused on its own. Bytes that are no batch at
    // all are refused whole, with a reason.
    let singles = seal_batch(
        &[&envelope(&jpn, &kor, "t-5", now).seal(&jpn.key)],
        &jpn.key,
    );
    let (status, body) = send(singles).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let r = BatchReceipt::open(&body, &kor.key.public()).unwrap();
    assert!(
        r.outcomes.is_empty(),
        "malformed, unanswered: {:?}",
        r.outcomes
    );
    let refused = ledger_reasons(&node).await;
    assert!(
        refused.iter().any(|w| w.contains("claims sender USA")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|w| w.contains("from ours")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|w| w.contains("malformed")),
        "{refused:?}"
    );
    let (status, body) = send(b"not a batch".to_vec()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A peer server for `me` accepting `pinned`, on `listener`.
async fn peer_server_on(
    listener: tokio::net::TcpListener,
    me: &Identity,
    pinned: &[&Identity],
    node: Arc<Node>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let tls = kit::peer_server_config(
        &me.cert,
        &me.tls_key,
        pinned.iter().map(|p| p.certificate().unwrap()).collect(),
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kit::serve_peers(listener, tls, node, async move {
        let _ = stopped.await;
    }));
    (stop, server)
}

/// A node for `me` with these partners (and a client to each).
async fn mk(
    reg: &gsomia_core::Registry,
    me: &Identity,
    partners: Vec<(&Identity, &str)>,
) -> Arc<Node> {
    let parts: Vec<Partner> = partners.iter().map(|(p, url)| partner(p, url)).collect();
    let clients: std::collections::BTreeMap<String, rustls::ClientConfig> = partners
        .iter()
        .map(|(p, _)| (p.party.clone(), me.tls_to(p).unwrap()))
        .collect();
    me.node(
        reg.clone(),
        kit::scratch_store().await.unwrap(),
        parts,
        clients,
    )
    .await
    .unwrap()
}

fn warning(id: &str, seq: u32, kind: &str, at: i64) -> gsomia_seal::message::WarningUpdate {
    gsomia_seal::message::WarningUpdate {
        id: id.into(),
        originator: "KOR".into(),
        level: "군사II급비밀".into(),
        seq,
        kind: kind.into(),
        lat: 39.0 + f64::from(seq) * 0.3,
        lon: 125.7 + f64::from(seq),
        alt_km: if kind == "track" { 100.0 } else { 0.0 },
        at: (at + i64::from(seq), 0),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    // Waiting for asynchronous delivery (bounded), not for readiness.
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_back_mid_flight_receives_what_it_missed_in_order_through_the_hub() {
    let dir = fresh_dir("gsomia-node-warn-", "");
    let (kor, usa, jpn) = (
        identity(&dir, "KOR", 2),
        identity(&dir, "USA", 3),
        identity(&dir, "JPN", 1),
    );
    let reg = gsomia_core::shipped().unwrap();
    let usa_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jpn_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (usa_url, jpn_addr) = (
        format!("https://{}", usa_listener.local_addr().unwrap()),
        jpn_listener.local_addr().unwrap(),
    );
    let jpn_url = format!("https://{jpn_addr}");
    let kor_node = mk(
        &reg,
        &kor,
        vec![(&usa, &usa_url), (&jpn, "https://127.0.0.1:1")],
    )
    .await;
    let usa_node = mk(
        &reg,
        &usa,
        vec![(&kor, "https://127.0.0.1:1"), (&jpn, &jpn_url)],
    )
    .await;
    let jpn_node = mk(
        &reg,
        &jpn,
        vec![(&kor, "https://127.0.0.1:1"), (&usa, &usa_url)],
    )
    .await;
    let mut tasks = Vec::new();
    for n in [&kor_node, &usa_node, &jpn_node] {
        tasks.extend(kit::start_warnings(n));
    }
    let (usa_stop, usa_server) =
        peer_server_on(usa_listener, &usa, &[&kor, &jpn], usa_node.clone()).await;
    let (jpn_stop, jpn_server) =
        peer_server_on(jpn_listener, &jpn, &[&kor, &usa], jpn_node.clone()).await;

    let t0 = jiff::Timestamp::now().as_second();
    let publish = |seq: u32, kind: &str| {
        let bytes = warning("kor-w-1", seq, kind, t0).seal(&kor.key);
        kit::accept(&kor_node, &bytes, None).unwrap();
    };
    publish(0, "launch");
    until("JPN to see the launch through USA", || {
        kit::warnings_applied(&jpn_node, "kor-w-1") == 1
    })
    .await;

    // JPN goes away mid-flight; the track goes on.
    let _ = jpn_stop.send(());
    jpn_server.await.unwrap().unwrap();
    publish(1, "track");
    publish(2, "track");
    until("USA to apply the track", || {
        kit::warnings_applied(&usa_node, "kor-w-1") == 3
    })
    .await;
    assert_eq!(kit::warnings_applied(&jpn_node, "kor-w-1"), 1);

    // JPN is back on the same address: it receives what it missed, in order.
    let again = tokio::net::TcpListener::bind(jpn_addr).await.unwrap();
    let (jpn_stop, jpn_server) = peer_server_on(again, &jpn, &[&kor, &usa], jpn_node.clone()).await;
    until("JPN to catch up", || {
        kit::warnings_applied(&jpn_node, "kor-w-1") == 3
    })
    .await;
    publish(3, "impact");
    until("JPN to see the impact", || {
        kit::warnings_applied(&jpn_node, "kor-w-1") == 4
    })
    .await;

    // Deduplicated at every hop: the same update again has no second effect.
    let dup = warning("kor-w-1", 2, "track", t0).seal(&kor.key);
    assert_eq!(
        kit::accept(&usa_node, &dup, Some("KOR")).unwrap(),
        gsomia_core::warning::Applied::Duplicate
    );
    // KOR may not send to JPN around the hub, nor JPN relay onwards.
    assert!(matches!(
        kit::accept(&jpn_node, &warning("kor-w-2", 0, "launch", t0).seal(&kor.key), Some("KOR")),
        Err(kit::Rejected::Refused(why)) if why.contains("through the hub")
    ));

    // Every hop ledgers its updates in batches.
    for n in [&kor_node, &usa_node, &jpn_node] {
        kit::flush_warnings(n).await;
    }
    let usa_kinds = ledger_kinds(&usa_node).await;
    assert_eq!(usa_kinds.iter().filter(|k| *k == "warning").count(), 4);
    let _ = (usa_stop.send(()), jpn_stop.send(()));
    let _ = (usa_server.await, jpn_server.await);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_flows_before_the_warning_link_is_in_force() {
    let dir = fresh_dir("gsomia-node-warn-early-", "");
    let (kor, usa) = (identity(&dir, "KOR", 2), identity(&dir, "USA", 3));
    let before = jiff::Timestamp::from_second(1_685_577_600).unwrap(); // 2023-06-01
    let clock = Arc::new(gsomia_node::Clock::simulated(before));
    let usa_node = usa
        .node_at(
            gsomia_core::shipped().unwrap(),
            kit::scratch_store().await.unwrap(),
            vec![partner(&kor, "https://127.0.0.1:1")],
            Default::default(),
            clock.clone(),
        )
        .await
        .unwrap();
    let kor_node = kor
        .node_at(
            gsomia_core::shipped().unwrap(),
            kit::scratch_store().await.unwrap(),
            vec![partner(&usa, "https://127.0.0.1:1")],
            Default::default(),
            clock,
        )
        .await
        .unwrap();
    let bytes = warning("kor-w-9", 0, "launch", before.as_second()).seal(&kor.key);
    // At KOR it is recorded, but queued for nobody.
    kit::accept(&kor_node, &bytes, None).unwrap();
    kit::flush_warnings(&kor_node).await;
    let size = kor_node.store().ledger_size().await.unwrap();
    let (_, last) = kor_node
        .store()
        .records(size - 1, size)
        .await
        .unwrap()
        .remove(0);
    let e = Record::from_bytes(&last).unwrap().entry;
    assert_eq!(e.kind().as_str(), "warning");
    assert!(
        !e.fields().iter().any(|(k, _)| k == "relayed_to"),
        "{:?}",
        e.fields()
    );
    // And the hub refuses it, citing the rule.
    match kit::accept(&usa_node, &bytes, Some("KOR")) {
        Err(kit::Rejected::Refused(why)) => {
            assert!(
                why.contains("no warning link") && why.contains("rule 17"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kit::warnings_applied(&usa_node, "kor-w-9"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_cut_off_while_an_active_one_gets_every_update_in_order() {
    use futures_util::StreamExt as _;
    use gsomia_store::{Person, Role};
    use sha2::Digest as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt as _;
    let dir = fresh_dir("gsomia-node-stall-", "");
    let jpn = identity(&dir, "JPN", 1);
    let node = jpn
        .node(
            gsomia_core::shipped().unwrap(),
            kit::scratch_store().await.unwrap(),
            vec![],
            Default::default(),
        )
        .await
        .unwrap();
    let mut sato = Person {
        id: "jpn-sato".into(),
        name: "Sato".into(),
        role: Role::Officer,
        clearance: "極秘".into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: vec!["warning".into()],
        token_hash: sha2::Sha256::digest(b"t").into(),
        created_at: "test".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    kit::tag_person(&node, &mut sato);
    node.store()
        .commit(gsomia_store::Batch {
            people: vec![sato],
            ..gsomia_store::Batch::default()
        })
        .await
        .unwrap();
    let open = || async {
        let req = axum::http::Request::get("/v1/warnings/stream")
            .header("authorization", "Bearer t")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = kit::user_router(node.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().into_data_stream()
    };
    let stalled = open().await;
    let mut active = open().await;
    let seen = Arc::new(AtomicUsize::new(0));
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            let mut seqs = Vec::new();
            while let Some(Ok(chunk)) = active.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = text.find("\n\n") {
                    let event: String = text.drain(..end + 2).collect();
                    if let Some(d) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                        let v: serde_json::Value = serde_json::from_str(d.trim()).unwrap();
                        seqs.push(v["seq"].as_u64().unwrap());
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if seqs.len() == 3001 {
                    break;
                }
            }
            seqs
        })
    };
    // A JPN flight of 3,001 updates, three times the subscribers' backlog.
    let t0 = jiff::Timestamp::now().as_second();
    for seq in 0..3001u32 {
        let kind = if seq == 0 { "launch" } else { "track" };
        let mut u = warning("jpn-w-1", seq, kind, t0);
        u.originator = "JPN".into();
        u.level = "極秘".into();
        u.at = (t0, seq);
        (u.lat, u.lon) = (39.0, 130.0);
        kit::accept(&node, &u.seal(&jpn.key), None).unwrap();
        if seq % 500 == 499 {
            // Let the active subscriber drain (it is not the one under test).
            until("the active subscriber to keep up", || {
                seen.load(Ordering::SeqCst) as u32 > seq
            })
            .await;
        }
    }
    let seqs = reader.await.unwrap();
    assert_eq!(
        seqs,
        (0..3001).collect::<Vec<u64>>(),
        "every update, in order, once"
    );
    // The stalled subscriber, read at last: cut off, then the stream ends.
    let rest: Vec<String> = stalled
        .map(|c| String::from_utf8_lossy(&c.unwrap()).into_owned())
        .collect()
        .await;
    let rest = rest.concat();
    assert!(
        rest.contains("event: cutoff"),
        "{}",
        &rest[..rest.len().min(400)]
    );
    assert!(
        rest.trim_end().ends_with("subscribe again"),
        "the stream ends after the cut-off"
    );
}

/// The node's ledger tree keeps hashes only for its last block of leaves;
/// a witness that last cosigned inside an older block still gets a proof
/// (the block's leaves read back from the store) that verifies, and the
/// node restarts onto the same root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistency_proofs_from_blocks_no_longer_in_memory_read_them_from_the_store() {
    use gsomia_ledger::merkle::{Tree, verify_consistency};
    let dir = fresh_dir("gsomia-node-tree-", "");
    let kor = identity(&dir, "KOR", 2);
    let db = dir.join("kor.db");
    let start = || async {
        kor.node(
            gsomia_core::shipped().unwrap(),
            Arc::new(SqliteStore::open(&db).await.unwrap()),
            Vec::new(),
            Default::default(),
        )
        .await
        .unwrap()
    };
    let node = start().await;
    let block = 1u64 << kit::TREE_BLOCK_BITS;
    let entries = |n: u64| {
        (0..n)
            .map(|i| {
                gsomia_ledger::entry::Entry::new(
                    gsomia_ledger::entry::Kind::Warning,
                    1_700_000_000,
                    0,
                    "KOR",
                    Some(format!("w{i}")),
                    vec![
                        ("originator".to_owned(), "KOR".to_owned()),
                        ("updates".to_owned(), i.to_string()),
                    ],
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let ledger = |entries: Vec<gsomia_ledger::entry::Entry>| {
        let node = node.clone();
        async move {
            node.store()
                .commit(gsomia_store::Batch {
                    entries,
                    ..gsomia_store::Batch::default()
                })
                .await
        }
    };
    // A witness cosigns at `from`, inside the first block.
    let from = block / 2 + 7;
    ledger(entries(from)).await.unwrap();
    let (old, _, _) = kit::signed_checkpoint(&node, 0).await.unwrap();
    assert_eq!(old.size, from);
    // The ledger grows past two more blocks: the first leaves memory.
    ledger(entries(2 * block + 100)).await.unwrap();
    let (new, _, proof) = kit::signed_checkpoint(&node, from).await.unwrap();
    assert!(kit::tree(&node).await.0 > from);
    assert_eq!(new.size, from + 2 * block + 100);
    assert!(!proof.is_empty());
    verify_consistency(from, new.size, &old.root, &new.root, &proof).unwrap();
    // The same root as a tree holding every hash.
    let mut full = Tree::new();
    for h in node.store().leaf_hashes(0).await.unwrap() {
        full.push_hash(h);
    }
    assert_eq!(full.root(), new.root);
    assert_eq!(full.consistency_proof(from, new.size).unwrap(), proof);
    // A node started again over the same database: the same root.
    let again = start().await;
    assert_eq!(kit::tree(&again).await.1, new.root);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_item_at_rest_in_the_nodes_own_session_refuses_every_changed_byte() {
    let dir = fresh_dir("gsomia-node-own-", "");
    let kor = identity(&dir, "KOR", 2);
    let node = kor_node(&kor, vec![]).await;
    let wire = missile_label(&node.registry(), "KOR", "군사II급비밀", Some(&["JPN"])).unwrap();
    // Sealed at rest as `item submit` does: in a session to the node's own key.
    let at_rest = kit::seal_at_rest(&node, &wire, b"track 41.2N 129.7E").unwrap();
    assert_eq!(kit::open(&node, &at_rest).unwrap(), b"track 41.2N 129.7E");
    assert_eq!(
        gsomia_seal::item::inspect(&at_rest).unwrap().header.label,
        wire
    );
    // A changed byte anywhere (header, binding, ciphertext) makes another
    // binding, which this process never made: whether its signature is
    // checked or its session vouched for, it does not open.
    for i in 0..at_rest.len() {
        let mut t = at_rest.clone();
        t[i] ^= 0x01;
        assert!(kit::open(&node, &t).is_err(), "byte {i}");
    }
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

/// An amendment of 2021 makes JPN mark Korean SECRET items 特定秘密 instead
/// of 極秘. An item KOR labelled in 2020 and released now is received under
/// the amended table: JPN records 特定秘密 and every read decides on that
/// recorded label — not on a level recomputed from the table of the item's
/// creation (or any other) time (rules 5 and 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_item_is_read_under_the_equivalent_label_recorded_at_receipt() {
    use tower::ServiceExt as _;
    let dir = fresh_dir("gsomia-node-recorded-", "");
    let text = gsomia_core::shipped::AGREEMENTS
        .iter()
        .find(|(n, _)| n.ends_with("jp-kr-2016.toml"))
        .unwrap()
        .1
        .to_owned();
    let cut = text.find("[[event]]").unwrap();
    let amended = format!(
        "{}{}",
        &text[..cut],
        "[[event]]\nat = \"2021-01-01T00:00:00+09:00\"\nkind = \"amendment\"\nsummary = \"JPN marks SECRET items 特定秘密\"\n\
         [[event.coverage]]\ngrade = \"SECRET\"\nlevels.JPN = [\"特定秘密\", \"極秘\"]\nlevels.KOR = [\"군사II급비밀\"]\n\
         [[event.coverage]]\ngrade = \"CONFIDENTIAL\"\nlevels.JPN = [\"秘\"]\nlevels.KOR = [\"군사III급비밀\"]\n"
    );
    let registry = || {
        let mut b = gsomia_core::shipped::builder();
        b.agreement(gsomia_core::Source {
            name: "jp-kr-2016.toml".into(),
            text: amended.clone(),
        });
        b.build().unwrap()
    };
    let (jpn, kor) = (identity(&dir, "JPN", 1), identity(&dir, "KOR", 2));
    let jpn_node = jpn
        .node(
            registry(),
            kit::scratch_store().await.unwrap(),
            vec![partner(&kor, "https://unused")],
            Default::default(),
        )
        .await
        .unwrap();
    let (url, _stop, _server) = start_peer_server(&jpn, &kor, jpn_node.clone()).await;
    let mut clients = std::collections::BTreeMap::new();
    clients.insert("JPN".to_owned(), kor.tls_to(&jpn).unwrap());
    let kor_node = kor
        .node(
            registry(),
            kit::scratch_store().await.unwrap(),
            vec![partner(&jpn, &url)],
            clients,
        )
        .await
        .unwrap();
    // Labelled in 2020, before the amendment; released now, after it.
    let reg = kor_node.registry();
    let label = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            Some(&["JPN"]),
            jiff::Timestamp::from_second(1_590_000_000).unwrap(),
        )
        .unwrap();
    let wire = gsomia_node::label_to_wire(&reg, &label);
    let mut item = gsomia_store::Item {
        id: "kor-2020".into(),
        originator: "KOR".into(),
        sealed: kit::seal_at_rest(&kor_node, &wire, b"2020 report").unwrap(),
        label: wire.to_bytes(),
        equivalent_label: None,
        received_from: None,
        created_at: "2020-05-20T00:00:00Z".into(),
        origin_item: "kor-2020".into(),
        binding: None,
        custody: None,
        lineage: None,
        disposal: None,
        index: None,
    };
    kit::tag_item(&kor_node, &mut item);
    kor_node
        .store()
        .commit(gsomia_store::Batch {
            items: vec![item.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    kit::release(&kor_node, &item, "JPN", "tester")
        .await
        .unwrap();
    let worker = tokio::spawn(kit::deliver(kor_node.clone()));
    let mut held = None;
    for _ in 0..200 {
        if let Some(id) = jpn_node.store().item_ids().await.unwrap().first() {
            held = Some(id.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    worker.abort();
    let id = held.expect("delivered");
    let stored = jpn_node.store().item(&id).await.unwrap().unwrap();
    let eq = gsomia_seal::item::WireLabel::from_bytes(&stored.equivalent_label.unwrap()).unwrap();
    assert_eq!(eq.level, "特定秘密", "recorded under the amended table");
    // Readers: cleared 極秘 (below the recorded level) and 特定秘密.
    kit::person(&jpn_node, "jpn-gokuhi", "極秘", &["dprk"], "t-gokuhi")
        .await
        .unwrap();
    kit::person(&jpn_node, "jpn-tokutei", "特定秘密", &["dprk"], "t-tokutei")
        .await
        .unwrap();
    let read = |token: &'static str| {
        let router = kit::user_router(jpn_node.clone());
        let id = id.clone();
        async move {
            let req = axum::http::Request::get(format!("/v1/items/{id}/content"))
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(
        read("t-gokuhi").await,
        404,
        "極秘 is below the recorded 特定秘密"
    );
    assert_eq!(read("t-tokutei").await, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A release that read an item just before a destruction (or a return)
/// of it committed queues nothing: the commit finds the item no longer
/// held, the release is refused citing the disposal, and no transfer,
/// `sent` record or decision is kept. (Found as a flaky CLI test: a second
/// `item return` slipped between the first one's settlement and its own
/// check, and sent an erased item home again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_of_an_item_disposed_of_after_it_was_read_queues_nothing() {
    let dir = fresh_dir("gsomia-node-gone-", "");
    let (jpn, kor) = (identity(&dir, "JPN", 1), identity(&dir, "KOR", 2));
    let node = kor_node(&kor, vec![partner(&jpn, "https://unused")]).await;
    let reg = node.registry();
    let label = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            Some(&["JPN"]),
            jiff::Timestamp::now(),
        )
        .unwrap();
    let wire = gsomia_node::label_to_wire(&reg, &label);
    let mut item = gsomia_store::Item {
        id: "kor-gone".into(),
        originator: "KOR".into(),
        sealed: kit::seal_at_rest(&node, &wire, b"about to be destroyed").unwrap(),
        label: wire.to_bytes(),
        equivalent_label: None,
        received_from: None,
        created_at: jiff::Timestamp::now().to_string(),
        origin_item: "kor-gone".into(),
        binding: None,
        custody: None,
        lineage: None,
        disposal: None,
        index: None,
    };
    kit::tag_item(&node, &mut item);
    node.store()
        .commit(gsomia_store::Batch {
            items: vec![item.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Read (`item` is what the release request holds), then destroyed by
    // another request before the release commits.
    let size = node.store().ledger_size().await.unwrap();
    node.store()
        .commit(gsomia_store::Batch {
            disposals: vec![gsomia_store::Disposed {
                id: item.id.clone(),
                disposal: b"destroyed meanwhile".to_vec(),
                custody: vec![0; 32],
                at_unix: jiff::Timestamp::now().as_second(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = kit::release(&node, &item, "JPN", "tester")
        .await
        .unwrap_err();
    assert!(refused.starts_with("release refused"), "{refused}");
    assert!(
        node.store().outbox_stats().await.unwrap().is_empty(),
        "nothing queued for an item no longer held"
    );
    assert_eq!(
        node.store().ledger_size().await.unwrap(),
        size,
        "no decision or `sent` record for what was not sent"
    );
}

/// Two processes of JPN on one PostgreSQL database publish one flight: a
/// point sent through the process that did not open it is numbered after
/// the launch at once (it reads what the other committed); points sent
/// through both at the same time are each numbered once (a number the
/// other took is refused, never written twice), and both processes'
/// subscribers see the flight as stored, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_published_through_two_processes_is_numbered_once_and_seen_alike() {
    let dir = fresh_dir("gsomia-node-pg-publish-", "");
    let jpn = identity(&dir, "JPN", 1);
    let usa = identity(&dir, "USA", 3);
    let url = kit::postgres_scratch_url().await.unwrap();
    let mk = || async {
        jpn.node(
            gsomia_core::shipped().unwrap(),
            Arc::new(gsomia_store::PgStore::open(&url).await.unwrap()),
            // The hub the link routes JPN's warnings to (away: forwards wait).
            vec![usa.as_partner("https://127.0.0.1:1").unwrap()],
            Default::default(),
        )
        .await
        .unwrap()
    };
    let (a, b) = (mk().await, mk().await);
    let ito = gsomia_store::Person {
        id: "jpn-ito".into(),
        name: "Ito".into(),
        role: gsomia_store::Role::Officer,
        clearance: "極秘".into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: vec!["warning".into()],
        token_hash: [8; 32],
        created_at: "test".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    let (mut sub_a, mut sub_b) = (
        kit::subscribe(a.clone(), ito.clone()),
        kit::subscribe(b.clone(), ito.clone()),
    );
    let launch = gsomia_api::Launch {
        launch_point: gsomia_api::Point {
            lat: 39.0,
            lon: 125.7,
        },
        at: None,
    };
    let id = kit::launch_warning(&a, &ito, &launch).await.unwrap().id;
    // B's follower starts only now, after the launch was committed: B
    // must still learn of it (it follows from where it was assembled).
    let tasks = [kit::start_warnings(&a), kit::start_warnings(&b)];
    let point = |n: u32| gsomia_api::Track {
        point: gsomia_api::Point {
            lat: 39.0 + f64::from(n) * 0.01,
            lon: 126.0 + f64::from(n) * 0.02,
        },
        alt_km: 100.0,
        at: None,
    };
    // At once through the other process.
    let first = kit::track_warning(&b, &ito, &id, &point(1)).await.unwrap();
    assert_eq!(first.seq, 1);
    // Through both together.
    let through = |node: Arc<gsomia_node::Node>, from: u32| {
        let (ito, id) = (ito.clone(), id.clone());
        tokio::spawn(async move {
            let mut out = Vec::new();
            for n in from..from + 10 {
                out.push(kit::track_warning(&node, &ito, &id, &point(n)).await);
            }
            out
        })
    };
    let (x, y) = (through(a.clone(), 10), through(b.clone(), 30));
    let mut seqs = vec![0, 1];
    for r in x.await.unwrap().into_iter().chain(y.await.unwrap()) {
        match r {
            Ok(p) => seqs.push(p.seq),
            Err(e) => assert!(e.to_string().contains("another process"), "{e}"),
        }
    }
    seqs.sort_unstable();
    let n = seqs.len() as u32;
    assert_eq!(
        seqs,
        (0..n).collect::<Vec<u32>>(),
        "each number once, none skipped"
    );
    assert!(n >= 12, "{n}");
    let stored: Vec<u32> = a
        .store()
        .warnings_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.seq)
        .collect();
    assert_eq!(
        stored,
        (0..n).collect::<Vec<u32>>(),
        "stored once each, in order"
    );
    for sub in [&mut sub_a, &mut sub_b] {
        let mut seen = Vec::new();
        while seen.len() < n as usize {
            match tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
                .await
                .expect("a subscriber waited in vain")
            {
                Some(kit::Next::Update(s)) => seen.push(s.update.seq),
                other => panic!("{:?}", other.is_some()),
            }
        }
        assert_eq!(
            seen,
            (0..n).collect::<Vec<u32>>(),
            "seen as stored, in order"
        );
    }
    for t in tasks.into_iter().flatten() {
        t.abort();
    }
}

/// Two processes of JPN on one PostgreSQL database: a flight applied at
/// one reaches the other's subscribers too, every update once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_applied_by_one_process_reaches_the_subscribers_of_another_in_order() {
    let dir = fresh_dir("gsomia-node-pg-warn-", "");
    let jpn = identity(&dir, "JPN", 1);
    let url = kit::postgres_scratch_url().await.unwrap();
    let mk = || async {
        jpn.node(
            gsomia_core::shipped().unwrap(),
            Arc::new(gsomia_store::PgStore::open(&url).await.unwrap()),
            vec![],
            Default::default(),
        )
        .await
        .unwrap()
    };
    let (a, b) = (mk().await, mk().await);
    let tasks = [kit::start_warnings(&a), kit::start_warnings(&b)];
    let sato = gsomia_store::Person {
        id: "jpn-sato".into(),
        name: "Sato".into(),
        role: gsomia_store::Role::Officer,
        clearance: "極秘".into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: vec!["warning".into()],
        token_hash: [7; 32],
        created_at: "test".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    let mut sub = kit::subscribe(b.clone(), sato);
    let t0 = jiff::Timestamp::now().as_second();
    for seq in 0..20u32 {
        let kind = if seq == 0 { "launch" } else { "track" };
        let mut u = warning("jpn-w-pg", seq, kind, t0);
        u.originator = "JPN".into();
        u.level = "極秘".into();
        u.at = (t0, seq);
        (u.lat, u.lon) = (39.0, 130.0);
        kit::accept(&a, &u.seal(&jpn.key), None).unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
            .await
            .expect("the other process's subscriber waited in vain");
        match next {
            Some(kit::Next::Update(s)) => seqs.push(s.update.seq),
            other => panic!("{:?}", other.is_some()),
        }
    }
    assert_eq!(
        seqs,
        (0..20).collect::<Vec<u32>>(),
        "every update, once, in order"
    );
    for t in tasks.into_iter().flatten() {
        t.abort();
    }
}

/// Two processes of KOR on one PostgreSQL database: one applies a flight
/// while the USA hub is away and dies; the other sends the USA what the
/// dead one owed, once the hub is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_forwards_owed_by_a_dead_process_are_sent_by_another() {
    let dir = fresh_dir("gsomia-node-pg-owed-", "");
    let (kor, usa, jpn) = (
        identity(&dir, "KOR", 2),
        identity(&dir, "USA", 3),
        identity(&dir, "JPN", 1),
    );
    let reg = gsomia_core::shipped().unwrap();
    let url = kit::postgres_scratch_url().await.unwrap();
    // The hub's address, kept for later: nothing listens there yet.
    let usa_addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let usa_url = format!("https://{usa_addr}");
    let kor_process = || async {
        let clients: std::collections::BTreeMap<String, rustls::ClientConfig> =
            [(usa.party.clone(), kor.tls_to(&usa).unwrap())].into();
        kor.node(
            reg.clone(),
            Arc::new(gsomia_store::PgStore::open(&url).await.unwrap()),
            vec![
                partner(&usa, &usa_url),
                partner(&jpn, "https://127.0.0.1:1"),
            ],
            clients,
        )
        .await
        .unwrap()
    };
    // B runs throughout; A applies the flight.
    let b = kor_process().await;
    let b_tasks = kit::start_warnings(&b);
    let a = kor_process().await;
    let a_tasks = kit::start_warnings(&a);
    let t0 = jiff::Timestamp::now().as_second();
    for (seq, kind) in [(0, "launch"), (1, "track")] {
        let bytes = warning("kor-w-owed", seq, kind, t0).seal(&kor.key);
        kit::accept(&a, &bytes, None).unwrap();
    }
    kit::flush_warnings(&a).await;
    // A dies owing the hub both updates.
    for t in a_tasks {
        t.abort();
    }
    drop(a);
    // The hub comes back.
    let usa_node = mk(
        &reg,
        &usa,
        vec![(&kor, "https://127.0.0.1:1"), (&jpn, "https://127.0.0.1:1")],
    )
    .await;
    let listener = tokio::net::TcpListener::bind(usa_addr).await.unwrap();
    let (usa_stop, usa_server) =
        peer_server_on(listener, &usa, &[&kor, &jpn], usa_node.clone()).await;
    let mut got = 0;
    for _ in 0..300 {
        got = kit::warnings_applied(&usa_node, "kor-w-owed");
        if got == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got, 2, "the hub got what the dead process owed it");
    let _ = usa_stop.send(());
    let _ = usa_server.await;
    for t in b_tasks {
        t.abort();
    }
}
