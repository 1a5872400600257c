//! Missile-warning latency, publish to subscriber, KOR → USA (hub) → JPN,
//! three nodes in this process over real mutual TLS, with S subscribers on
//! JPN's user API (server-sent events over TLS) in a second process (the
//! users' machines), U updates per second, first idle, then while bulk
//! item transfers KOR → JPN run flat out. The process is laid out as
//! `gsomia serve` lays out a node: the runtime the nodes start on is their
//! item lane, its threads lowered; each node's warning lane is its own.
//! Latency runs from the instant an update is published (it carries that
//! instant, read from the system clock) to the instant a subscriber has
//! read it (the same clock, in the other process).
//! The baseline, measured in the same run: the same signed update bytes
//! relayed over plain TCP on loopback (publisher → hub → JPN → S
//! subscriber sockets in the same second process), no TLS, no checks;
//! then the floor of a TLS feed: the same relay, JPN serving its
//! subscribers server-sent events over TLS written straight to each
//! stream (no HTTP server, no checks), read by the node's SSE readers.
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
use gsomia_node::testkit::{self as kit, Identity, identity};
use gsomia_seal::message::WarningUpdate;
use gsomia_store::{Person, Role, SqliteStore};
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const RATE: u32 = 100;
/// Updates per flight: launch, track points, impact (one second of the
/// feed; the node keeps the last 256 closed flights).
const FLIGHT_UPDATES: u32 = 100;

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some(SUBSCRIBER_PROCESS) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(subscriber_process(&raw[1..]));
        return;
    }
    let args: Vec<usize> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let subscribers = args.first().copied().unwrap_or(1000);
    let seconds = args.get(1).copied().unwrap_or(10) as u64;
    // The item lane, as in `gsomia serve`: the nodes start from this
    // (main) thread, so their warning lanes keep the normal priority.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(subscribers, seconds));
}

/// The first argument that makes this binary the subscribers' process.
const SUBSCRIBER_PROCESS: &str = "--subscriber-process";

/// Latencies in 10 µs buckets up to 5 s (beyond: the last bucket).
struct Hist {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Hist {
    const BUCKET_US: u64 = 10;
    fn new() -> Hist {
        Hist {
            buckets: vec![0; 500_000],
            count: 0,
            max_us: 0,
        }
    }
    fn record(&mut self, us: u64) {
        let i = ((us / Self::BUCKET_US) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }
    /// The latency (ms) at quantile `q`.
    fn ms(&self, q: f64) -> f64 {
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return ((i as u64 + 1) * Self::BUCKET_US) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

/// Per phase (a flight id up to its first `.`): the histogram; and how
/// many subscribers were cut off.
#[derive(Default)]
struct Seen {
    flights: std::collections::HashMap<String, Hist>,
    cutoffs: u64,
}

/// Microseconds from `at` (RFC 3339) to now, on the system clock.
fn since(at: &str) -> Option<u64> {
    let at: jiff::Timestamp = at.parse().ok()?;
    let d = jiff::Timestamp::now().duration_since(at);
    Some(u64::try_from(d.as_micros()).unwrap_or(0))
}

/// The value of string field `name` in a flat JSON object, without parsing
/// the whole of it (the subscribers stay light, as on users' own machines).
fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let from = json.find(&key)? + key.len();
    let len = json[from..].find('"')?;
    Some(&json[from..from + len])
}

impl Seen {
    /// A delivery of flight `id`, `us` after it was published, counted in
    /// its phase (the id up to the first `.`).
    fn record(&mut self, id: &str, us: u64) {
        let phase = id.split('.').next().unwrap_or(id);
        self.flights
            .entry(phase.to_owned())
            .or_insert_with(Hist::new)
            .record(us);
    }
}

/// The subscribers' process: `--subscriber-process sse API TOKEN CA N` or
/// `--subscriber-process tcp ADDR N`. Prints `ready` once all are
/// connected; then answers each `report FLIGHT` line on stdin with
/// `FLIGHT COUNT P50 P99 P999 MAX CUTOFFS` (milliseconds).
async fn subscriber_process(args: &[String]) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    match args.first().map(String::as_str) {
        Some("sse") => {
            let (api, token, ca) = (&args[1], &args[2], &args[3]);
            let n: usize = args[4].parse().unwrap();
            let tls = Arc::new(gsomia_api::user_tls_config(std::path::Path::new(ca)).unwrap());
            let connector = tokio_rustls::TlsConnector::from(tls);
            let addr = api.trim_start_matches("https://").to_owned();
            let host = addr
                .rsplit_once(':')
                .map_or(addr.as_str(), |(h, _)| h)
                .to_owned();
            let name = rustls_pki_types::ServerName::try_from(host.clone()).unwrap();
            for _ in 0..n {
                // A TLS stream read as the TCP readers read theirs: the
                // request written by hand, lines found in the bytes as they
                // come (chunk sizes are lines of their own, never `data:`),
                // nothing allocated per line; no HTTP client's tasks and
                // channels between the socket and the reader.
                let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut s = connector.connect(name.clone(), tcp).await.unwrap();
                s.write_all(
                    format!(
                        "GET /v1/warnings/stream HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\naccept: text/event-stream\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
                s.flush().await.unwrap();
                let mut buf: Vec<u8> = Vec::with_capacity(8192);
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut more = [0u8; 4096];
                    let k = tokio::io::AsyncReadExt::read(&mut s, &mut more)
                        .await
                        .unwrap();
                    assert!(k > 0, "the stream closed before its answer");
                    buf.extend_from_slice(&more[..k]);
                }
                assert!(
                    buf.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&buf)
                );
                let head = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                buf.drain(..head);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut more = vec![0u8; 16 * 1024];
                    loop {
                        let mut start = 0;
                        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
                            let line = &buf[start..start + nl];
                            start += nl + 1;
                            if line.starts_with(b"event: cutoff") {
                                seen.lock().unwrap().cutoffs += 1;
                            }
                            let Some(d) = line
                                .strip_prefix(b"data:")
                                .and_then(|d| std::str::from_utf8(d).ok())
                            else {
                                continue;
                            };
                            if let (Some(id), Some(us)) =
                                (field(d, "id"), field(d, "at").and_then(since))
                            {
                                seen.lock().unwrap().record(id, us);
                            }
                        }
                        buf.drain(..start);
                        match tokio::io::AsyncReadExt::read(&mut s, &mut more).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&more[..k]),
                        }
                    }
                });
            }
        }
        Some("tcp") => {
            let (addr, n): (&String, usize) = (&args[1], args[2].parse().unwrap());
            for _ in 0..n {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(s).lines();
                    while let Ok(Some(l)) = lines.next_line().await {
                        let mut parts = l.split(' ');
                        if let (Some(id), Some(us)) = (parts.next(), parts.next().and_then(since)) {
                            seen.lock().unwrap().record(id, us);
                        }
                    }
                });
            }
        }
        other => panic!("unknown subscriber mode {other:?}"),
    }
    println!("ready");
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(c)) = commands.next_line().await {
        let Some(phase) = c.strip_prefix("report ") else {
            continue;
        };
        let s = seen.lock().unwrap();
        let cutoffs = s.cutoffs;
        match s.flights.get(phase) {
            Some(h) => println!(
                "{phase} {} {:.2} {:.2} {:.2} {:.2} {cutoffs}",
                h.count,
                h.ms(0.5),
                h.ms(0.99),
                h.ms(0.999),
                h.max_us as f64 / 1000.0
            ),
            None => println!("{phase} 0 0 0 0 0 {cutoffs}"),
        }
    }
}

/// The subscribers' process, started with `args`, once it says `ready`.
struct Subscribers {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    out: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Subscribers {
    async fn start(args: &[&str]) -> Subscribers {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .arg(SUBSCRIBER_PROCESS)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(out.next_line().await.unwrap().as_deref(), Some("ready"));
        Subscribers { child, stdin, out }
    }

    /// Deliveries in `phase`, and the percentiles, as the subscribers saw them.
    async fn report(&mut self, phase: &str) -> Vec<String> {
        self.stdin
            .write_all(format!("report {phase}\n").as_bytes())
            .await
            .unwrap();
        let line = self.out.next_line().await.unwrap().unwrap();
        line.split(' ').map(str::to_owned).collect()
    }

    /// The subscribers' process's resident memory (KiB).
    fn rss_kib(&self) -> u64 {
        rss_kib_of(&self.child.id().unwrap_or(0).to_string())
    }
}

/// This process's resident memory (KiB).
fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// The resident memory (KiB) of process `pid` (`self` for this one).
fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
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
        .map(|(p, _)| (p.party.clone(), me.tls_to(p).unwrap()))
        .collect();
    me.node(
        gsomia_core::shipped().unwrap(),
        std::sync::Arc::new(SqliteStore::open(&db).await.unwrap()),
        parts,
        clients,
    )
    .await
    .unwrap()
}

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
        let tls = kit::peer_server_config(
            &me.cert,
            &me.tls_key,
            pinned.iter().map(|p| p.certificate().unwrap()).collect(),
        )
        .unwrap();
        tokio::spawn(kit::serve_peers(listener, tls, n, std::future::pending()));
    }
    for n in [&kor_node, &usa_node, &jpn_node] {
        kit::start_warnings(n);
    }
    tokio::spawn(kit::deliver(kor_node.clone()));

    // JPN's user API, and one cleared reader.
    let api_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("https://{}", api_l.local_addr().unwrap());
    let tls = kit::server_config(&jpn.cert, &jpn.tls_key).unwrap();
    tokio::spawn(kit::serve(
        api_l,
        tls,
        jpn_node.clone(),
        std::future::pending(),
    ));
    let token = "bench-token";
    let mut sato = Person {
        id: "jpn-sato".into(),
        name: "Sato".into(),
        role: Role::Officer,
        clearance: "極秘".into(),
        clearance_until: "2099-01-01T00:00:00+09:00".into(),
        need_to_know: vec!["warning".into(), "dprk".into()],
        token_hash: sha2::Sha256::digest(token.as_bytes()).into(),
        created_at: "bench".into(),
        revoked_at: None,
        facility: None,
        visit: None,
        custody: None,
    };
    kit::tag_person(&jpn_node, &mut sato);
    jpn_node
        .store()
        .commit(gsomia_store::Batch {
            people: vec![sato],
            ..gsomia_store::Batch::default()
        })
        .await
        .unwrap();
    // Subscribers, in their own process.
    let rss_before = rss_kib();
    let subs = Subscribers::start(&[
        "sse",
        &api,
        token,
        jpn.cert.to_str().unwrap(),
        &subscribers.to_string(),
    ])
    .await;
    let subs_rss = subs.rss_kib();
    let subs = Arc::new(tokio::sync::Mutex::new(subs));

    // Each phase publishes flight after flight of FLIGHT_UPDATES updates
    // (launch, track points, impact), so closed flights come and go as in
    // a long watch; ids `PHASE.N`.
    let phase = |name: &'static str, prefix: String, seconds: u64| {
        let (kor_node, kor, subs) = (kor_node.clone(), &kor, subs.clone());
        async move {
            // Resident memory of the nodes sampled every second through the phase.
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
            let n = RATE as u64 * seconds;
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
            for seq in 0..n as u32 {
                tick.tick().await;
                let (flight, step) = (seq / FLIGHT_UPDATES, seq % FLIGHT_UPDATES);
                let kind = match step {
                    0 => "launch",
                    s if s == FLIGHT_UPDATES - 1 => "impact",
                    _ => "track",
                };
                let now = jiff::Timestamp::now();
                let u = WarningUpdate {
                    id: format!("{prefix}.{flight}"),
                    originator: "KOR".into(),
                    level: "군사II급비밀".into(),
                    seq: step,
                    kind: kind.into(),
                    lat: 39.0 + f64::from(seq % 500) * 0.001,
                    lon: 125.7 + f64::from(seq % 500) * 0.01,
                    alt_km: 100.0,
                    // Published now: the subscribers measure from here.
                    at: (now.as_second(), now.subsec_nanosecond().unsigned_abs()),
                };
                let bytes = u.seal(&kor.key);
                kit::accept(&kor_node, &bytes, None).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            sampler.abort();
            let rss = samples.lock().unwrap().clone();
            let mut subs = subs.lock().await;
            if let (Some(first), Some(last), Some(max)) =
                (rss.first(), rss.last(), rss.iter().max())
            {
                println!(
                    "{name}: nodes' RSS {first} KiB at the start, {last} KiB at the end, {max} KiB at most ({} samples); subscribers' process {} KiB",
                    rss.len(),
                    subs.rss_kib()
                );
            }
            if rss.len() > 120 {
                let each_minute: Vec<String> = rss
                    .iter()
                    .step_by(60)
                    .map(|k| format!("{} MiB", k / 1024))
                    .collect();
                println!(
                    "{name}: nodes' RSS minute by minute: {}",
                    each_minute.join(", ")
                );
            }
            let r = subs.report(&prefix).await;
            println!(
                "{name}: {} of {} deliveries; publish → subscriber p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms; {} subscribers cut off so far",
                r[1],
                n as usize * subscribers,
                r[2],
                r[3],
                r[4],
                r[5],
                r[6]
            );
            // The p99, for the ratios printed at the end.
            r[3].parse::<f64>().unwrap_or(f64::NAN)
        }
    };
    phase("warm-up (not counted)", "kor-w-warm".into(), 2).await;
    let idle_p99 = phase("idle", "kor-w-idle".into(), seconds).await;
    let rss_idle = rss_kib();

    // Bulk: KOR releases items to JPN as fast as it can meanwhile.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Sixteen release loops, flat out.
    let wire =
        kit::missile_label(&kor_node.registry(), "KOR", "군사II급비밀", Some(&["JPN"])).unwrap();
    let bulk: Vec<_> = (0..16u64)
        .map(|w| {
            let (kor_node, stop, wire) = (kor_node.clone(), stop.clone(), wire.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                let content = vec![7u8; 1024];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sealed = kit::seal_at_rest(&kor_node, &wire, &content).unwrap();
                    let id = format!("kor-bulk-{w}-{i}");
                    let mut item = gsomia_store::Item {
                        id: id.clone(),
                        originator: "KOR".into(),
                        sealed,
                        label: wire.to_bytes(),
                        equivalent_label: None,
                        received_from: None,
                        created_at: "bench".into(),
                        origin_item: id,
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
                            ..gsomia_store::Batch::default()
                        })
                        .await
                        .unwrap();
                    kit::release(&kor_node, &item, "JPN", "bench")
                        .await
                        .unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    let before = jpn_node.store().item_ids().await.unwrap().len();
    let t = Instant::now();
    let bulk_p99 = phase("under bulk transfers", "kor-w-bulk".into(), seconds).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut released = 0;
    for b in bulk {
        released += b.await.unwrap();
    }
    let arrived = jpn_node.store().item_ids().await.unwrap().len() - before;
    println!(
        "bulk meanwhile: {released} items released, {arrived} arrived at JPN ({:.0}/s)",
        arrived as f64 / t.elapsed().as_secs_f64()
    );
    let rss_after = rss_kib();
    println!(
        "nodes' memory (RSS): {rss_before} KiB before the subscribers connected, {rss_idle} KiB after the idle phase, {rss_after} KiB after the bulk phase; the subscribers' process {subs_rss} KiB once connected"
    );
    drop(subs);

    let tcp_p99 = baseline(subscribers, seconds.min(30), None).await;
    let tls_p99 = baseline(subscribers, seconds.min(30), Some(&jpn)).await;
    println!(
        "p99 ratios, this run: node idle / plain TCP relay {:.2}, under bulk / plain TCP relay {:.2}; \
         node idle / TLS floor {:.2}, under bulk / TLS floor {:.2}; TLS floor / plain TCP relay {:.2}",
        idle_p99 / tcp_p99,
        bulk_p99 / tcp_p99,
        idle_p99 / tls_p99,
        bulk_p99 / tls_p99,
        tls_p99 / tcp_p99
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same signed update bytes over plain TCP: publisher → hub → JPN →
/// subscriber sockets (in the subscribers' process), one line each
/// (`ID PUBLISHED-AT BASE64`), latency at the subscribers; its p99 (ms).
///
/// With `tls` (JPN's identity): the floor of a TLS feed. The hops are the
/// same plain TCP lines, but JPN serves its subscribers as the node does,
/// server-sent events over TLS (HTTP/1.1, chunked, each event framed once
/// and shared), read by the same SSE readers as the node's; written
/// straight to each TLS stream, with no HTTP server, no checks, no node.
async fn baseline(subscribers: usize, seconds: u64, tls: Option<&Identity>) -> f64 {
    use base64::Engine as _;
    use tokio::io::AsyncReadExt as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = if tls.is_some() { "tls" } else { "tcp" };
    // JPN: accepts the hub's connection and the subscribers', fans out.
    let jpn = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jpn_addr = jpn.local_addr().unwrap();
    let subs_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let subs_addr = subs_l.local_addr().unwrap();
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<Vec<u8>>>(1024);
    let acceptor = tls.map(|me| {
        tokio_rustls::TlsAcceptor::from(kit::server_config(&me.cert, &me.tls_key).unwrap())
    });
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let (s, _) = subs_l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut rx = tx.subscribe();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        let mut s = s;
                        while let Ok(line) = rx.recv().await {
                            if s.write_all(&line).await.is_err() {
                                return;
                            }
                        }
                        return;
                    };
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    // The request's head, then the answer's, then events.
                    let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
                    if s.write_all(answer).await.is_err() || s.flush().await.is_err() {
                        return;
                    }
                    while let Ok(event) = rx.recv().await {
                        if s.write_all(&event).await.is_err() || s.flush().await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    {
        let tx = tx.clone();
        let sse = tls.is_some();
        tokio::spawn(async move {
            let (s, _) = jpn.accept().await.unwrap();
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let framed = if sse {
                    // One chunk holding one event, as the node's stream sends it.
                    let mut parts = l.splitn(3, ' ');
                    let (id, at, sealed) = (
                        parts.next().unwrap_or(""),
                        parts.next().unwrap_or(""),
                        parts.next().unwrap_or(""),
                    );
                    let event = format!(
                        "event: warning\ndata: {{\"id\":\"{id}\",\"at\":\"{at}\",\"sealed\":\"{sealed}\"}}\n\n"
                    );
                    format!("{:x}\r\n{event}\r\n", event.len())
                } else {
                    format!("{l}\n")
                };
                let _ = tx.send(Arc::new(framed.into_bytes()));
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
    let n_subs = subscribers.to_string();
    let mut subs = match tls {
        None => Subscribers::start(&["tcp", &subs_addr.to_string(), &n_subs]).await,
        Some(me) => {
            Subscribers::start(&[
                "sse",
                &format!("https://{subs_addr}"),
                "no-token",
                me.cert.to_str().unwrap(),
                &n_subs,
            ])
            .await
        }
    };
    let mut publisher = tokio::net::TcpStream::connect(hub_addr).await.unwrap();
    publisher.set_nodelay(true).unwrap();
    let key = gsomia_seal::SecretKey::from_seed(&[2; 32]);
    let n = u64::from(RATE) * seconds;
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / u64::from(RATE)));
    for seq in 0..n as u32 {
        tick.tick().await;
        let now = jiff::Timestamp::now();
        let bytes = WarningUpdate {
            id: id.into(),
            originator: "KOR".into(),
            level: "군사II급비밀".into(),
            seq,
            kind: "track".into(),
            lat: 39.0,
            lon: 125.7,
            alt_km: 100.0,
            at: (now.as_second(), now.subsec_nanosecond().unsigned_abs()),
        }
        .seal(&key);
        publisher
            .write_all(format!("{id} {now} {}\n", b64.encode(&bytes)).as_bytes())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = subs.report(id).await;
    let what = if tls.is_some() {
        "floor of a TLS feed, server-sent events over TLS written straight (plain TCP hops)"
    } else {
        "baseline, plain TCP relay"
    };
    println!(
        "{what}: {} of {} deliveries; p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        r[1],
        n as usize * subscribers,
        r[2],
        r[3],
        r[4],
        r[5]
    );
    r[3].parse::<f64>().unwrap_or(f64::NAN)
}
