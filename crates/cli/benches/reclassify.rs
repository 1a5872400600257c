//! A reclassification reaching every copy, with real node processes (KOR,
//! the USA and JPN; `gsomia serve` each): KOR's report is held at all
//! three, each holding COPIES copies of it (10,000 by default), and KOR
//! changes its level. Measured: from KOR's `item reclassify` request to
//! the USA's and JPN's signed acknowledgements at KOR (each partner
//! acknowledges only once every row it holds carries the new label). The
//! baseline, in the same run and at the same nodes: the same for a report
//! with no copies (the notice's fixed cost). Levels alternate, several
//! runs, medians.
//!
//! Run: `cargo bench -p gsomia --bench reclassify --locked -- [COPIES] [RUNS]`
//! (defaults 10000 and 3).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use gsomia_api::{Client, CopyItem, ReclassifyItem, SubmitItem, TransferState};

mod common;
use common::{median, nodes, scratch, serve, token};

/// Submits a KOR report, releases it to the USA and JPN, waits for both;
/// (origin, id at the USA, id at JPN).
async fn spread(k: &Client, u: &Client, j: &Client, text: &str) -> (String, String, String) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let origin = k
        .submit(&SubmitItem {
            level: "군사II급비밀".into(),
            topics: vec!["dprk.missile".into()],
            rel_to: Some(vec!["JPN".into(), "USA".into()]),
            content: b64,
            reproduction: None,
            dispose_by: None,
        })
        .await
        .unwrap()
        .id;
    for to in ["USA", "JPN"] {
        k.release(&origin, to).await.unwrap();
    }
    let mut held = Vec::new();
    for c in [u, j] {
        loop {
            if let Some(i) = c
                .items()
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|i| i.origin_item == origin)
            {
                held.push(i.id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (origin, held[0].clone(), held[1].clone())
}

/// `n` copies of `id`, 100 a request, 4 requests in flight.
async fn copies(c: &Client, id: &str, n: u32) {
    let mut left = n;
    while left > 0 {
        let mut reqs = Vec::new();
        for _ in 0..4 {
            if left == 0 {
                break;
            }
            let count = left.min(100);
            left -= count;
            reqs.push(CopyItem {
                count: Some(count),
                reason: "bench".into(),
            });
        }
        let batch = reqs.iter().map(|r| c.copy(id, r));
        for r in futures_util::future::join_all(batch).await {
            r.unwrap();
        }
    }
}

/// KOR reclassifies `origin` to `level`; seconds until both partners
/// acknowledged the notice (watched by KOR's security officer `so`).
async fn reclassify(k: &Client, so: &Client, origin: &str, level: &str) -> f64 {
    let t = Instant::now();
    let n = k
        .reclassify(
            origin,
            &ReclassifyItem {
                level: level.into(),
                reason: "bench".into(),
            },
        )
        .await
        .unwrap();
    for to in ["USA", "JPN"] {
        let id = format!("{}>{to}", n.id);
        loop {
            if so.transfer(&id).await.unwrap().state == TransferState::Delivered {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    t.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u32>().ok());
    let n = args.next().unwrap_or(10_000);
    let runs = args.next().unwrap_or(3) as usize;
    let root = scratch("reclassify");
    let [kor, usa, jpn] = <[_; 3]>::try_from(nodes(&root, &["KOR", "USA", "JPN"])).unwrap();
    let kim = token(&kor, "Kim", "군사II급비밀", "officer");
    let park = token(&kor, "Park", "군사II급비밀", "security-officer");
    let smith = token(&usa, "Smith", "SECRET", "officer");
    let sato = token(&jpn, "Sato", "極秘", "officer");
    let (ks, us, js) = (serve(&kor), serve(&usa), serve(&jpn));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let k = Client::new(&ks.api, &kor.join("tls/ca.pem"), Some(&kim)).unwrap();
        let so = Client::new(&ks.api, &kor.join("tls/ca.pem"), Some(&park)).unwrap();
        let u = Client::new(&us.api, &usa.join("tls/ca.pem"), Some(&smith)).unwrap();
        let j = Client::new(&js.api, &jpn.join("tls/ca.pem"), Some(&sato)).unwrap();
        let (base, _, _) = spread(&k, &u, &j, "no copies").await;
        let (origin, at_usa, at_jpn) = spread(&k, &u, &j, "copied").await;
        let t = Instant::now();
        copies(&k, &origin, n).await;
        copies(&u, &at_usa, n).await;
        copies(&j, &at_jpn, n).await;
        println!(
            "{n} copies at each of KOR, the USA and JPN made in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let (mut b, mut m) = (Vec::new(), Vec::new());
        for r in 0..runs {
            let level = if r % 2 == 0 {
                "군사III급비밀"
            } else {
                "군사II급비밀"
            };
            b.push(reclassify(&k, &so, &base, level).await);
            m.push(reclassify(&k, &so, &origin, level).await);
            println!(
                "  run {}: to {level}: no copies {:.3} s, {} rows ({n} copies + the item, at three nodes) {:.3} s",
                r + 1,
                b[r],
                3 * (n + 1),
                m[r]
            );
        }
        let (mb, mm) = (median(b), median(m));
        println!(
            "median over {runs} runs: baseline (no copies) {:.3} s; with {n} copies at each node {:.3} s ({:.0}× the baseline); goal under 5 s",
            mb,
            mm,
            mm / mb
        );
    });
    drop((ks, us, js));
    let _ = std::fs::remove_dir_all(&root);
}
