//! Missile-warning latency, publish to subscriber, KOR → USA (hub) → JPN,
//! three nodes in one process over real mutual TLS, with S subscribers on
//! JPN's user API (server-sent events over TLS) and U updates per second,
//! first idle, then while bulk item transfers KOR → JPN run flat out.
//! The baseline, measured in the same run: the same signed update bytes
//! relayed over plain TCP on loopback (publisher → hub → JPN → S
//! subscriber sockets), no TLS, no checks.
//!
//! Run: `cargo bench -p gsomia-node --bench warnings -- [SUBSCRIBERS] [SECONDS]`
//! (default 1000 subscribers, 10 s per phase, 100 updates/s).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gsomia_node::Node;
use gsomia_node::testkit::{Identity, identity};
use gsomia_seal::message::WarningUpdate;
use gsomia_store::{Person, Role, SqliteStore, Store};
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const RATE: u32 = 100;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let subscribers = args.first().copied().unwrap_or(1000);
    let seconds = args.get(1).copied().unwrap_or(10) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(subscribers, seconds));
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

async fn node(
    me: &Identity,
    partners: Vec<(&Identity, &str)>,
    db: std::path::PathBuf,
) -> Arc<Node> {
    let parts = partners
        .iter()
        .map(|(p, u)| p.as_partner(u).unwrap())
        .collect();
    let clients = partners
        .iter()
        .map(|(p, _)| (p.party.clone(), me.client_to(p).unwrap()))
        .collect();
    me.node(
        gsomia_core::shipped().unwrap(),
        SqliteStore::open(&db).await.unwrap(),
        parts,
        clients,
    )
    .await
    .unwrap()
}

/// (flight id, seq) → the instant it was published.
type Sent = Arc<Mutex<std::collections::HashMap<(String, u32), Instant>>>;

async fn run(subscribers: usize, seconds: u64) {
    let dir = std::env::temp_dir().join(format!("gsomia-bench-warn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (kor, usa, jpn) = (
        identity(&dir, "KOR", 2).unwrap(),
        identity(&dir, "USA", 3).unwrap(),
        identity(&dir, "JPN", 1).unwrap(),
    );
    // Peer listeners first, so every partner knows every endpoint.
    let usa_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jpn_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let usa_url = format!("https://{}", usa_l.local_addr().unwrap());
    let jpn_url = format!("https://{}", jpn_l.local_addr().unwrap());
    drop((usa_l, jpn_l));
    let kor_node = node(
        &kor,
        vec![(&usa, &usa_url), (&jpn, &jpn_url)],
        dir.join("kor.db"),
    )
    .await;
    let usa_node = node(
        &usa,
        vec![(&kor, "https://127.0.0.1:1"), (&jpn, &jpn_url)],
        dir.join("usa.db"),
    )
    .await;
    let jpn_node = node(
        &jpn,
        vec![(&kor, "https://127.0.0.1:1"), (&usa, &usa_url)],
        dir.join("jpn.db"),
    )
    .await;
    for (me, pinned, n, url) in [
        (&usa, vec![&kor, &jpn], usa_node.clone(), &usa_url),
        (&jpn, vec![&kor, &usa], jpn_node.clone(), &jpn_url),
    ] {
        let listener = tokio::net::TcpListener::bind(url.trim_start_matches("https://"))
            .await
            .unwrap();
        let tls = gsomia_node::tls::peer_server_config(
            &me.cert,
            &me.tls_key,
            pinned.iter().map(|p| p.certificate().unwrap()).collect(),
        )
        .unwrap();
        tokio::spawn(gsomia_node::serve_peers(
            listener,
            tls,
            n,
            std::future::pending(),
        ));
    }
    for n in [&kor_node, &usa_node, &jpn_node] {
        gsomia_node::warnings::start(n);
    }
    tokio::spawn(gsomia_node::peer::deliver(kor_node.clone()));

    // JPN's user API, and one cleared reader.
    let api_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("https://{}", api_l.local_addr().unwrap());
    let tls = gsomia_node::tls::server_config(&jpn.cert, &jpn.tls_key).unwrap();
    tokio::spawn(gsomia_node::serve(
        api_l,
        tls,
        jpn_node.clone(),
        std::future::pending(),
    ));
    let token = "bench-token";
    jpn_node
        .store
        .add_person(&Person {
            id: "jpn-sato".into(),
            name: "Sato".into(),
            role: Role::Officer,
            clearance: "極秘".into(),
            clearance_until: "2099-01-01T00:00:00+09:00".into(),
            need_to_know: vec!["warning".into(), "dprk".into()],
            token_hash: sha2::Sha256::digest(token.as_bytes()).into(),
            created_at: "bench".into(),
        })
        .await
        .unwrap();
    let ca = gsomia_node::tls::user_client_config(&jpn.cert).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(ca)
        .pool_max_idle_per_host(subscribers + 8)
        .build()
        .unwrap();

    // Subscribers.
    let sent: Sent = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let rss_before = rss_kib();
    for _ in 0..subscribers {
        let resp = http
            .get(format!("{api}/v1/warnings/stream"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let (sent, latencies) = (sent.clone(), latencies.clone());
        tokio::spawn(async move {
            let mut resp = resp;
            let mut buf = String::new();
            while let Ok(Some(c)) = resp.chunk().await {
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&c));
                while let Some(nl) = buf.find('\n') {
                    let line: String = buf.drain(..=nl).collect();
                    if let Some(d) = line.trim_end().strip_prefix("data:") {
                        let v: serde_json::Value =
                            serde_json::from_str(d.trim()).unwrap_or_default();
                        let key = (
                            v["id"].as_str().unwrap_or_default().to_owned(),
                            v["seq"].as_u64().unwrap_or(0) as u32,
                        );
                        if let Some(t) = sent.lock().unwrap().get(&key) {
                            latencies
                                .lock()
                                .unwrap()
                                .push(now.duration_since(*t).as_secs_f64() * 1000.0);
                        }
                    }
                }
            }
        });
    }

    let phase = |name: &'static str, flight: String| {
        let (kor_node, kor, sent, latencies) =
            (kor_node.clone(), &kor, sent.clone(), latencies.clone());
        async move {
            // Resident memory sampled every second through the phase.
            let samples: Arc<Mutex<Vec<u64>>> = Arc::default();
            let sampler = {
                let samples = samples.clone();
                tokio::spawn(async move {
                    loop {
                        samples.lock().unwrap().push(rss_kib());
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                })
            };
            latencies.lock().unwrap().clear();
            sent.lock().unwrap().clear();
            let n = RATE as u64 * seconds;
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
            let t0 = jiff::Timestamp::now().as_second();
            for seq in 0..n as u32 {
                tick.tick().await;
                let kind = if seq == 0 { "launch" } else { "track" };
                let u = WarningUpdate {
                    id: flight.clone(),
                    originator: "KOR".into(),
                    level: "군사II급비밀".into(),
                    seq,
                    kind: kind.into(),
                    lat: 39.0 + f64::from(seq % 500) * 0.001,
                    lon: 125.7 + f64::from(seq % 500) * 0.01,
                    alt_km: 100.0,
                    at: (t0, seq),
                };
                let bytes = u.seal(&kor.key);
                sent.lock()
                    .unwrap()
                    .insert((flight.clone(), seq), Instant::now());
                gsomia_node::warnings::accept(&kor_node, &bytes, None).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            sampler.abort();
            let rss = samples.lock().unwrap().clone();
            if let (Some(first), Some(last), Some(max)) =
                (rss.first(), rss.last(), rss.iter().max())
            {
                println!(
                    "{name}: RSS {first} KiB at the start, {last} KiB at the end, {max} KiB at most ({} samples)",
                    rss.len()
                );
            }
            let mut v = std::mem::take(&mut *latencies.lock().unwrap());
            let expected = n as usize * subscribers;
            println!(
                "{name}: {} of {expected} deliveries; publish → subscriber p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
                v.len(),
                pct(&mut v, 0.5),
                pct(&mut v, 0.99),
                pct(&mut v, 0.999)
            );
        }
    };
    phase("warm-up (not counted)", "kor-w-warm".into()).await;
    phase("idle", "kor-w-idle".into()).await;
    let rss_idle = rss_kib();

    // Bulk: KOR releases items to JPN as fast as it can meanwhile.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Sixteen release loops, flat out.
    let reg = kor_node.registry();
    let label = reg
        .label(
            "KOR",
            "군사II급비밀",
            &["dprk.missile"],
            Some(&["JPN"]),
            jiff::Timestamp::now(),
        )
        .unwrap();
    let wire = gsomia_node::labels::to_wire(&reg, &label);
    let bulk: Vec<_> = (0..16u64)
        .map(|w| {
            let (kor_node, stop, wire) = (kor_node.clone(), stop.clone(), wire.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                let content = vec![7u8; 1024];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sealed = kor_node
                        .seal_for("KOR", &kor_node.recipient.public(), &wire, &content)
                        .unwrap();
                    let id = format!("kor-bulk-{w}-{i}");
                    let item = gsomia_store::Item {
                        id: id.clone(),
                        originator: "KOR".into(),
                        sealed,
                        label: wire.to_bytes(),
                        equivalent_label: None,
                        received_from: None,
                        created_at: "bench".into(),
                        origin_item: id,
                    };
                    kor_node
                        .store
                        .commit(gsomia_store::Batch {
                            items: vec![item.clone()],
                            ..gsomia_store::Batch::default()
                        })
                        .await
                        .unwrap();
                    gsomia_node::peer::release(&kor_node, &item, "JPN", "bench")
                        .await
                        .unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    let before = jpn_node.store.item_ids().await.unwrap().len();
    let t = Instant::now();
    phase("under bulk transfers", "kor-w-bulk".into()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut released = 0;
    for b in bulk {
        released += b.await.unwrap();
    }
    let arrived = jpn_node.store.item_ids().await.unwrap().len() - before;
    println!(
        "bulk meanwhile: {released} items released, {arrived} arrived at JPN ({:.0}/s)",
        arrived as f64 / t.elapsed().as_secs_f64()
    );
    let rss_after = rss_kib();
    println!(
        "memory (RSS): {rss_before} KiB with {subscribers} subscribers connected, {rss_idle} KiB after the idle phase, {rss_after} KiB after the bulk phase"
    );

    baseline(subscribers, seconds).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same signed update bytes over plain TCP: publisher → hub → JPN →
/// subscriber sockets, one line each (base64), latency at the subscribers.
async fn baseline(subscribers: usize, seconds: u64) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    // JPN: accepts the hub's connection and the subscribers', fans out.
    let jpn = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jpn_addr = jpn.local_addr().unwrap();
    let subs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let subs_addr = subs.local_addr().unwrap();
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<String>>(1024);
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let (s, _) = subs.accept().await.unwrap();
                let mut rx = tx.subscribe();
                tokio::spawn(async move {
                    let mut s = s;
                    while let Ok(line) = rx.recv().await {
                        if s.write_all(line.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let (s, _) = jpn.accept().await.unwrap();
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(Arc::new(format!("{l}\n")));
            }
        });
    }
    // The hub relays lines from the publisher to JPN.
    let hub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_addr = hub.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = hub.accept().await.unwrap();
        let mut out = tokio::net::TcpStream::connect(jpn_addr).await.unwrap();
        out.set_nodelay(true).unwrap();
        let mut lines = BufReader::new(s).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            out.write_all(format!("{l}\n").as_bytes()).await.unwrap();
        }
    });
    for _ in 0..subscribers {
        let s = tokio::net::TcpStream::connect(subs_addr).await.unwrap();
        let (latencies, sent) = (latencies.clone(), sent.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let now = Instant::now();
                let seq: usize = l
                    .split(' ')
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                if let Some(t) = sent.lock().unwrap().get(seq) {
                    latencies
                        .lock()
                        .unwrap()
                        .push(now.duration_since(*t).as_secs_f64() * 1000.0);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut publisher = tokio::net::TcpStream::connect(hub_addr).await.unwrap();
    publisher.set_nodelay(true).unwrap();
    let key = gsomia_seal::SecretKey::from_seed(&[2; 32]);
    let n = u64::from(RATE) * seconds;
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
    for seq in 0..n as u32 {
        tick.tick().await;
        let bytes = WarningUpdate {
            id: "tcp".into(),
            originator: "KOR".into(),
            level: "군사II급비밀".into(),
            seq,
            kind: "track".into(),
            lat: 39.0,
            lon: 125.7,
            alt_km: 100.0,
            at: (0, seq),
        }
        .seal(&key);
        sent.lock().unwrap().push(Instant::now());
        publisher
            .write_all(format!("{seq} {}\n", b64.encode(&bytes)).as_bytes())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut v = latencies.lock().unwrap().clone();
    println!(
        "baseline, plain TCP relay: {} of {} deliveries; p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        v.len(),
        n as usize * subscribers,
        pct(&mut v, 0.5),
        pct(&mut v, 0.99),
        pct(&mut v, 0.999)
    );
}
