//! What the benches with real node processes share: running the `gsomia`
//! binary, starting `gsomia serve`, registering people, fixed peer ports,
//! percentiles.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_gsomia");

/// Runs `gsomia --json ARGS`, which must succeed; its JSON answer.
pub fn gsomia(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN).arg("--json").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh scratch directory for one bench run.
pub fn scratch(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("gsomia-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A running `gsomia serve`, killed and reaped when dropped.
pub struct Served {
    child: Child,
    pub api: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gsomia serve --dir DIR` and waits for its first line.
pub fn serve(dir: &Path) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--dir", s(dir)])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let api = words[words.iter().position(|w| *w == "api").unwrap() + 1].to_owned();
    Served { child, api }
}

/// Registers a person (need-to-know `dprk`, valid to 2099); their token.
pub fn token(dir: &Path, name: &str, clearance: &str, role: &str) -> String {
    token_for(dir, name, clearance, role, "dprk")
}

/// Registers a person with need-to-know `topics` (valid to 2099); their token.
pub fn token_for(dir: &Path, name: &str, clearance: &str, role: &str, topics: &str) -> String {
    gsomia(&[
        "person",
        "add",
        "--dir",
        s(dir),
        "--name",
        name,
        "--clearance",
        clearance,
        "--until",
        "2099-12-31",
        "--need-to-know",
        topics,
        "--role",
        role,
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A fixed port for a node's peer endpoint, so its partners can be told it first.
pub fn peer_port(dir: &Path) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = dir.join("node.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("peer_listen") {
            out.push_str(&format!("peer_listen = \"127.0.0.1:{port}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(&toml, out).unwrap();
    port
}

/// Nodes for `parties` under `root`, each a partner of every other on
/// fixed peer ports; their directories, in order.
pub fn nodes(root: &Path, parties: &[&str]) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = parties
        .iter()
        .map(|p| root.join(p.to_ascii_lowercase()))
        .collect();
    let mut ports = Vec::new();
    for (p, d) in parties.iter().zip(&dirs) {
        gsomia(&["init", "--party", p, "--dir", s(d)]);
        ports.push(peer_port(d));
        let doc = gsomia(&["identity", "export", "--dir", s(d)]);
        std::fs::write(
            root.join(format!("{p}.bundle")),
            doc["bundle"].as_str().unwrap(),
        )
        .unwrap();
    }
    for (i, d) in dirs.iter().enumerate() {
        for (j, p) in parties.iter().enumerate() {
            if i != j {
                let bundle = root.join(format!("{p}.bundle"));
                gsomia(&[
                    "partner",
                    "add",
                    "--dir",
                    s(d),
                    s(&bundle),
                    "--endpoint",
                    &format!("https://127.0.0.1:{}", ports[j]),
                ]);
            }
        }
    }
    dirs
}

/// The `p` quantile of sorted samples.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The median of samples.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pct(&v, 0.5)
}
