//! `gsomia serve`, and the client commands that talk to a node's user API:
//! `gsomia item submit|list|show|read`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use gsomia_node::Node;
use gsomia_store::SqliteStore;
use serde_json::{Value, json};

use crate::out::Outcome;
use crate::{keys, load, node};

/// A string field of an answer, or `?`.
pub(crate) fn field<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer).and_then(Value::as_str).unwrap_or("?")
}

/// The answer for an item that does not exist or that the caller may not read (one answer for both).
fn not_found(id: &str) -> Outcome {
    Outcome::answer(
        json!({ "id": id, "found": false }),
        format!("NOT FOUND {id} (or not readable by you)\n"),
        true,
    )
}

/// Writes one line to standard output at once (readiness announcements).
fn announce(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A node started from its directory, serving in this process: what
/// `gsomia serve` runs, and what the demo runs three of.
pub struct Running {
    /// The party.
    pub party: String,
    /// The user API's base URL.
    pub api: String,
    /// The peer endpoint's base URL.
    pub peer: String,
    /// The node.
    pub node: Arc<Node>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Listeners bound before start (so partners can be told the peer address first).
pub struct Listeners {
    /// For the user API.
    pub api: tokio::net::TcpListener,
    /// For the peer endpoint.
    pub peer: tokio::net::TcpListener,
}

/// Starts the node in `dir` on `clock` (listening where its config says,
/// unless `listeners` are given): the user API, the peer endpoint, the
/// delivery worker, periodic checkpoints and witnessing of partners.
pub async fn start(
    dir: &Path,
    registry: gsomia_core::Registry,
    clock: Arc<gsomia_node::Clock>,
    listeners: Option<Listeners>,
) -> Result<Running> {
    let cfg = node::config(dir)?;
    registry.party(&cfg.party)?;
    let (_, signer) = keys::signer(&cfg.keys)?;
    let (_, recipient) = keys::recipient(&cfg.keys)?;
    let tls = gsomia_node::tls::server_config(&cfg.tls_cert, &cfg.tls_key)?;
    let partners = gsomia_node::partner::load(&dir.join("partners")).map_err(anyhow::Error::msg)?;
    let peer_tls = gsomia_node::tls::peer_server_config(
        &cfg.tls_cert,
        &cfg.tls_key,
        partners.iter().map(|p| p.certificate.clone()).collect(),
    )?;
    let mut partner_tls = std::collections::BTreeMap::new();
    for p in &partners {
        let config = gsomia_node::tls::peer_client_config(
            &cfg.tls_cert,
            &cfg.tls_key,
            p.certificate.clone(),
        )?;
        partner_tls.insert(p.party.clone(), config);
    }
    let store = SqliteStore::open(&cfg.database)
        .await
        .with_context(|| format!("cannot open `{}`", cfg.database.display()))?;
    let Listeners {
        api: listener,
        peer: peer_listener,
    } = match listeners {
        Some(l) => l,
        None => Listeners {
            api: tokio::net::TcpListener::bind(&cfg.api_listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", cfg.api_listen))?,
            peer: tokio::net::TcpListener::bind(&cfg.peer_listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", cfg.peer_listen))?,
        },
    };
    let api = format!(
        "https://{}",
        listener.local_addr().context("no local address")?
    );
    let peer = format!(
        "https://{}",
        peer_listener.local_addr().context("no local address")?
    );
    let node = Node::start(gsomia_node::Parts {
        party: cfg.party.clone(),
        registry,
        store,
        signer,
        recipient,
        partners,
        peer_tls: partner_tls,
        clock,
    })
    .await
    .map_err(anyhow::Error::msg)
    .context("cannot start the node")?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = vec![
        tokio::spawn(gsomia_node::peer::deliver(node.clone())),
        tokio::spawn(gsomia_node::peer::checkpoints(
            node.clone(),
            std::time::Duration::from_secs(1),
        )),
        tokio::spawn(gsomia_node::witness::witnessing(
            node.clone(),
            std::time::Duration::from_secs(10),
        )),
    ];
    let mut tasks = tasks;
    tasks.extend(gsomia_node::warnings::start(&node));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let servers = vec![
        tokio::spawn(gsomia_node::serve_peers(
            peer_listener,
            peer_tls,
            node.clone(),
            stopped(stop_rx.clone()),
        )),
        tokio::spawn(gsomia_node::serve(
            listener,
            tls,
            node.clone(),
            stopped(stop_rx),
        )),
    ];
    Ok(Running {
        party: cfg.party,
        api,
        peer,
        node,
        stop,
        tasks,
        servers,
    })
}

impl Running {
    /// Stops accepting, lets requests in flight finish, stops the workers.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        for s in self.servers {
            s.await
                .context("server task failed")?
                .context("server failed")?;
        }
        for t in self.tasks {
            t.abort();
        }
        // The last checkpoint a receipt handed out, stored before leaving.
        gsomia_node::peer::store_checkpoint(&self.node)
            .await
            .map_err(anyhow::Error::msg)
            .context("cannot store the final checkpoint")?;
        Ok(())
    }
}

/// `gsomia serve --dir DIR`: runs until SIGTERM or SIGINT.
pub fn serve(dir: &Path, json_out: bool) -> Result<Outcome> {
    let registry = load::registry(None)?;
    // The item lane: its threads run below the node's warning lane, which
    // `start` creates from this (the main) thread at the normal priority.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(gsomia_node::lanes::item_thread)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let running = start(dir, registry, Arc::new(gsomia_node::Clock::System), None).await?;
        if json_out {
            announce(
                &json!({ "party": running.party, "api": running.api, "peer": running.peer })
                    .to_string(),
            )?;
        } else {
            announce(&format!(
                "gsomia serve: {} api {} peer {}",
                running.party, running.api, running.peer
            ))?;
        }
        stop_signal().await;
        running.stop().await
    })?;
    Ok(Outcome::ok(
        json!({ "stopped": true }),
        "gsomia serve: stopped\n".into(),
    ))
}

/// Where and as whom to reach a node.
#[derive(Args)]
pub struct NodeArgs {
    /// The node's API URL (printed by `gsomia serve`).
    #[arg(long)]
    pub node: String,
    /// Bearer token (from `gsomia person add`); default: the GSOMIA_TOKEN environment variable.
    #[arg(long, env = "GSOMIA_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The CA certificate (PEM) that signed the node's certificate.
    #[arg(long)]
    pub ca: PathBuf,
}

pub(crate) fn client(a: &NodeArgs) -> Result<reqwest::Client> {
    let config = gsomia_node::tls::user_client_config(&a.ca)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("cannot build the HTTPS client")
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) async fn call(a: &NodeArgs, req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>)> {
    let resp = req
        .bearer_auth(&a.token)
        .send()
        .await
        .with_context(|| format!("cannot reach `{}`", a.node))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.context("reading the answer")?.to_vec();
    Ok((status, body))
}

pub(crate) fn answer(status: u16, body: &[u8]) -> Result<Value> {
    let doc: Value =
        serde_json::from_slice(body).unwrap_or(json!({ "error": String::from_utf8_lossy(body) }));
    match status {
        200..=299 => Ok(doc),
        401 => bail!("the node refused the token (401)"),
        _ => bail!("the node answered {status}: {}", field(&doc, "/error")),
    }
}

/// Arguments of `item submit`.
#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The classification in the node's party's policy.
    #[arg(long)]
    level: String,
    /// A topic (repeat).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// The REL TO marking (repeat); none: unmarked.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    /// The content.
    #[arg(long = "in")]
    input: PathBuf,
}

/// `gsomia item submit`.
pub fn submit(a: &SubmitArgs) -> Result<Outcome> {
    let content =
        std::fs::read(&a.input).with_context(|| format!("cannot read `{}`", a.input.display()))?;
    let body = json!({
        "level": a.level, "topics": a.topics,
        "rel_to": (!a.rel_to.is_empty()).then_some(&a.rel_to),
        "content": B64.encode(&content),
    });
    let url = format!("{}/v1/items", a.node.node.trim_end_matches('/'));
    let (status, bytes) = runtime()?
        .block_on(async { call(&a.node, client(&a.node)?.post(url).json(&body)).await })?;
    let doc = answer(status, &bytes)?;
    let text = format!(
        "SUBMITTED {}  {} ({})\n",
        field(&doc, "/id"),
        field(&doc, "/label/level"),
        field(&doc, "/label/policy"),
    );
    Ok(Outcome::ok(doc, text))
}

/// `gsomia item list`.
pub fn list(a: &NodeArgs) -> Result<Outcome> {
    let url = format!("{}/v1/items", a.node.trim_end_matches('/'));
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.get(url)).await })?;
    let doc = answer(status, &bytes)?;
    let mut text = String::new();
    for it in doc
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&format!(
            "{}  {} ({}){}\n",
            field(it, "/id"),
            field(it, "/label/level"),
            field(it, "/label/policy"),
            it.pointer("/equivalent_label/level")
                .and_then(Value::as_str)
                .map(|l| format!(", marked {l}"))
                .unwrap_or_default()
        ));
    }
    Ok(Outcome::ok(doc, text))
}

/// `gsomia item show ID`.
pub fn show(a: &NodeArgs, id: &str) -> Result<Outcome> {
    let url = format!("{}/v1/items/{id}", a.node.trim_end_matches('/'));
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.get(url)).await })?;
    if status == 404 {
        return Ok(not_found(id));
    }
    let doc = answer(status, &bytes)?;
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
    Ok(Outcome::ok(doc, text))
}

/// `gsomia item read ID --out FILE`.
pub fn read(a: &NodeArgs, id: &str, out: &Path) -> Result<Outcome> {
    let url = format!("{}/v1/items/{id}/content", a.node.trim_end_matches('/'));
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.get(url)).await })?;
    if status == 404 {
        return Ok(not_found(id));
    }
    if status != 200 {
        answer(status, &bytes)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create `{}` (outputs are never overwritten)",
                out.display()
            )
        })?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write `{}`", out.display()))?;
    Ok(Outcome::ok(
        json!({ "id": id, "out": out.display().to_string(), "bytes": bytes.len() }),
        format!("READ {id} → {} ({} bytes)\n", out.display(), bytes.len()),
    ))
}

/// `gsomia health --node URL --ca PEM`: the node's liveness and ledger size.
pub fn health(node_url: &str, ca: &Path) -> Result<Outcome> {
    let args = NodeArgs {
        node: node_url.to_owned(),
        token: String::new(),
        ca: ca.to_path_buf(),
    };
    let url = format!("{}/healthz", node_url.trim_end_matches('/'));
    let (status, bytes) = runtime()?.block_on(async {
        let resp = client(&args)?
            .get(url)
            .send()
            .await
            .with_context(|| format!("cannot reach `{node_url}`"))?;
        let status = resp.status().as_u16();
        anyhow::Ok((
            status,
            resp.bytes().await.context("reading the answer")?.to_vec(),
        ))
    })?;
    let doc = answer(status, &bytes)?;
    let text = format!(
        "{} {}: ledger size {}\n",
        field(&doc, "/party"),
        field(&doc, "/status"),
        doc.get("ledger_size").and_then(Value::as_u64).unwrap_or(0)
    );
    Ok(Outcome::ok(doc, text))
}

/// `gsomia item release ID --to PARTY`.
pub fn release(a: &NodeArgs, id: &str, to: &str) -> Result<Outcome> {
    let url = format!("{}/v1/items/{id}/release", a.node.trim_end_matches('/'));
    let (status, bytes) = runtime()?
        .block_on(async { call(a, client(a)?.post(url).json(&json!({ "to": to }))).await })?;
    if status == 404 {
        return Ok(not_found(id));
    }
    let doc = answer(status, &bytes)?;
    let released = doc.get("decision").and_then(Value::as_str) == Some("release");
    let mut text = if released {
        format!(
            "RELEASE  {id} → {to} under {}, queued as {} (marked {} there)\n",
            field(&doc, "/agreement"),
            field(&doc, "/transfer"),
            field(&doc, "/recipient_level")
        )
    } else {
        format!("WITHHOLD  {id} → {to}\n")
    };
    for r in doc
        .get("reasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&format!("  - {}\n", r.as_str().unwrap_or("?")));
    }
    Ok(Outcome::answer(doc, text, !released))
}
