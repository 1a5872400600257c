//! Running the binary, shared by the test modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `gsomia` with `args`.
pub fn gsomia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(args)
        .output()
        .expect("run gsomia")
}

/// Runs `gsomia … --json`: the exit code and the JSON document on stdout.
pub fn json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = gsomia(&all);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), doc)
}

/// A fresh, empty directory for one test.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gsomia-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a `&str` argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes the node in `dir`'s public bundle (`identity export`) to `to`.
pub fn export_bundle(dir: &Path, to: &Path) -> PathBuf {
    std::fs::write(to, gsomia(&["identity", "export", "--dir", s(dir)]).stdout).unwrap();
    to.to_path_buf()
}

/// Makes the node whose bundle is `bundle` a partner of the node in `dir`,
/// reached at `endpoint` (`partner add`, which must succeed).
pub fn add_partner(dir: &Path, bundle: &Path, endpoint: &str) {
    let (code, d) = json(&[
        "partner",
        "add",
        "--dir",
        s(dir),
        s(bundle),
        "--endpoint",
        endpoint,
    ]);
    assert_eq!(code, 0, "{d}");
}

/// Gives the node in `dir` a fixed peer port (free now), so partners can
/// pin its endpoint before it runs; the port.
pub fn fixed_peer_port(dir: &Path) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    std::fs::write(
        dir.join("node.toml"),
        toml.replace(
            "peer_listen = \"127.0.0.1:0\"",
            &format!("peer_listen = \"127.0.0.1:{port}\""),
        ),
    )
    .unwrap();
    port
}

/// Copies a node directory (its log left out: it is no state).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "serve.log" {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
