//! `gsomia serve`, and the client commands that talk to a node's user API
//! through the typed client: `gsomia health`, `item submit|list|show|read|release`.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use gsomia_api::{Client, ClientError, ReleaseOutcome, SubmitItem};
use serde_json::json;

use crate::out::Outcome;

/// Writes one line to standard output at once (readiness announcements).
fn announce(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// SIGTERM or SIGINT, listened for from the moment this is made (so a
/// signal sent right after the node announces itself is never missed).
fn stop_signal() -> Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// How `gsomia serve` logs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormatArg {
    /// One line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// `gsomia serve --dir DIR`: runs until SIGTERM or SIGINT.
pub fn serve(
    dir: &Path,
    log: Option<LogFormatArg>,
    witness_every: u64,
    clock: Option<&str>,
    listen: (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>),
    json_out: bool,
) -> Result<Outcome> {
    let mut settings = gsomia_node::Settings::load(dir)?;
    if let Some(a) = listen.0 {
        settings.api_listen = a;
    }
    if let Some(a) = listen.1 {
        settings.peer_listen = a;
    }
    let clock = match clock {
        None => std::sync::Arc::new(gsomia_node::Clock::System),
        Some(at) => std::sync::Arc::new(gsomia_node::Clock::simulated(
            gsomia_core::time::parse_instant(at).with_context(|| format!("`--clock {at}`"))?,
        )),
    };
    let format = match log {
        Some(LogFormatArg::Json) => gsomia_node::LogFormat::Json,
        Some(LogFormatArg::Text) => gsomia_node::LogFormat::Text,
        None => settings.log_format,
    };
    let filter = std::env::var("GSOMIA_LOG").unwrap_or_else(|_| "info".into());
    gsomia_node::init_logging(format, &filter);
    // The item lane: its threads run below the node's warning lane, which
    // `start` creates from this (the main) thread at the normal priority.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(gsomia_node::item_thread)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listeners = gsomia_node::Listeners::bind(&settings).await?;
        let options = gsomia_node::Options {
            witness_every: std::time::Duration::from_secs(witness_every),
            clock,
            ..gsomia_node::Options::default()
        };
        let stop = stop_signal()?;
        let running = gsomia_node::start(&settings, listeners, options)
            .await
            .context("cannot start the node")?;
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
        stop.await;
        running.stop().await?;
        anyhow::Ok(())
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

/// The typed client for `a`.
pub(crate) fn client(a: &NodeArgs) -> Result<Client> {
    Ok(Client::new(&a.node, &a.ca, Some(&a.token))?)
}

/// Runs one client call to its end on a runtime of its own.
pub(crate) fn block<T>(f: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => Err(ClientError::Decode {
            status: 0,
            what: format!("cannot start the async runtime: {e}"),
        }),
    }
}

/// A client error as the command's error (the node's word when it answered).
pub(crate) fn failed(e: ClientError) -> anyhow::Error {
    match &e {
        ClientError::Status { status: 401, body } => {
            anyhow::anyhow!("the node refused the token (401): {}", body.error)
        }
        _ => anyhow::Error::new(e),
    }
}

/// The answer for an item that does not exist or that the caller may not read (one answer for both).
pub(crate) fn not_found(id: &str) -> Outcome {
    Outcome::answer(
        json!({ "id": id, "found": false }),
        format!("NOT FOUND {id} (or not readable by you)\n"),
        true,
    )
}

/// A call about one item: its answer, or the not-found outcome.
fn about_item<T>(id: &str, r: Result<T, ClientError>) -> Result<Result<T, Outcome>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.status() == Some(404) => Ok(Err(not_found(id))),
        Err(e) => Err(failed(e)),
    }
}

pub(crate) fn doc(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The most content `item submit` sends (its base64 fits the node's body limit).
const SUBMIT_LIMIT: u64 = 12 * 1024 * 1024;

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
    /// Limit copies at every holder: `NO COPY` or `COPIES n` (a marking of the label).
    #[arg(long)]
    reproduction: Option<String>,
    /// The instant by which holders return or destroy it (RFC 3339; a marking of the label).
    #[arg(long)]
    dispose_by: Option<String>,
}

/// `gsomia item submit`.
pub fn submit(a: &SubmitArgs) -> Result<Outcome> {
    // The node takes bodies up to 16 MiB: base64 makes 12 MiB of content that.
    let content = gsomia_node::files::read_bounded(&a.input, SUBMIT_LIMIT)
        .with_context(|| format!("cannot read `{}`", a.input.display()))?;
    let req = SubmitItem {
        level: a.level.clone(),
        topics: a.topics.clone(),
        rel_to: (!a.rel_to.is_empty()).then(|| a.rel_to.clone()),
        content: B64.encode(&content),
        reproduction: a.reproduction.clone(),
        dispose_by: a.dispose_by.clone(),
    };
    let c = client(&a.node)?;
    let s = block(c.submit(&req)).map_err(failed)?;
    let text = format!(
        "SUBMITTED {}  {} ({})\n",
        s.id, s.label.level, s.label.policy
    );
    Ok(Outcome::ok(doc(&s), text))
}

/// `gsomia item list`.
/// Arguments of `item list`.
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// At most this many items (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Go on from this cursor (printed after a page that has more).
    #[arg(long)]
    next: Option<String>,
    /// Every page, one after the other.
    #[arg(long, conflicts_with = "next")]
    all: bool,
    /// Only items with this topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only items at this level of your party's policy.
    #[arg(long)]
    level: Option<String>,
    /// Only items of this originator.
    #[arg(long)]
    originator: Option<String>,
    /// Only items stored at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
}

/// `gsomia item list`: a page (or, with `--all`, every page).
pub fn list(a: &ListArgs) -> Result<Outcome> {
    let c = client(&a.node)?;
    let mut filter = gsomia_api::ItemFilter {
        limit: Some(a.limit),
        next: a.next.clone(),
        topic: a.topic.clone(),
        level: a.level.clone(),
        originator: a.originator.clone(),
        since: a.since.clone(),
    };
    let mut l = block(c.items_page(&filter)).map_err(failed)?;
    while a.all && l.next.is_some() {
        filter.next = l.next.take();
        let more = block(c.items_page(&filter)).map_err(failed)?;
        l.items.extend(more.items);
        l.next = more.next;
    }
    let mut text = String::new();
    for it in &l.items {
        text.push_str(&format!(
            "{}  {} ({}){}\n",
            it.id,
            it.label.level,
            it.label.policy,
            it.equivalent_label
                .as_ref()
                .map(|l| format!(", marked {}", l.level))
                .unwrap_or_default()
        ));
    }
    if let Some(next) = &l.next {
        text.push_str(&format!("(more: --next {next})\n"));
    }
    Ok(Outcome::ok(doc(&l), text))
}

/// `gsomia item show ID`.
pub fn show(a: &NodeArgs, id: &str) -> Result<Outcome> {
    let c = client(a)?;
    let item = match about_item(id, block(c.item(id)))? {
        Ok(v) => v,
        Err(o) => return Ok(o),
    };
    let d = doc(&item);
    let text = format!("{}\n", serde_json::to_string_pretty(&d).unwrap_or_default());
    Ok(Outcome::ok(d, text))
}

/// `gsomia item read ID --out FILE`.
pub fn read(a: &NodeArgs, id: &str, out: &Path) -> Result<Outcome> {
    let c = client(a)?;
    let bytes = match about_item(id, block(c.content(id)))? {
        Ok(v) => v,
        Err(o) => return Ok(o),
    };
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
    let c = Client::new(node_url, ca, None)?;
    let h = block(c.health()).map_err(failed)?;
    let mut text = format!("{} {}: ledger size {}\n", h.party, h.status, h.ledger_size);
    if h.integrity_alarms > 0 {
        text.push_str(&format!(
            "  {} integrity alarm(s) since start; latest:\n",
            h.integrity_alarms
        ));
        for a in &h.alarms {
            text.push_str(&format!(
                "  ! {} {} ({}): {}\n",
                a.at, a.subject, a.check, a.detail
            ));
        }
    }
    // A node in alarm answers, but something it holds was refused: exit 1.
    let alarmed = h.integrity_alarms > 0;
    Ok(Outcome::answer(doc(&h), text, alarmed))
}

/// Arguments of `item release`.
#[derive(Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The item id.
    id: String,
    /// The recipient party.
    #[arg(long)]
    to: String,
    /// A key that makes a retried request answer what the first one did and
    /// send nothing new (default: a fresh one, reused by this command's own
    /// retries after a network error).
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Return once the release is decided, without waiting for the receipt.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for the partner's receipt (seconds).
    #[arg(long, default_value_t = 5, conflicts_with = "no_wait")]
    wait: u64,
}

/// How often `item release` sends its request again after a network error.
const RELEASE_TRIES: u32 = 3;

/// `gsomia item release ID --to PARTY`: decided, then (unless `--no-wait`)
/// waited for up to `--wait` seconds until the partner's receipt or refusal.
pub fn release(a: &ReleaseArgs) -> Result<Outcome> {
    let c = client(&a.node)?;
    let key = match &a.idempotency_key {
        Some(k) => k.clone(),
        None => {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            b.iter().map(|x| format!("{x:02x}")).collect()
        }
    };
    let (id, to) = (a.id.as_str(), a.to.as_str());
    let mut tries = 0;
    let answer = loop {
        tries += 1;
        match block(c.release_once(id, to, &key)) {
            Err(ClientError::Unreachable { .. }) if tries < RELEASE_TRIES => {
                std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(tries)));
            }
            r => break r,
        }
    };
    let r = match about_item(id, answer)? {
        Ok(v) => v,
        Err(o) => return Ok(o),
    };
    let (mut text, reasons, transfer) = match &r {
        ReleaseOutcome::Release(r) => (
            format!(
                "RELEASE  {id} → {to} under {}, queued as {} (marked {} there)\n",
                r.agreement, r.transfer, r.recipient_level
            ),
            &r.reasons,
            Some(r.transfer.clone()),
        ),
        ReleaseOutcome::Withhold(w) => (format!("WITHHOLD  {id} → {to}\n"), &w.reasons, None),
    };
    for reason in reasons {
        text.push_str(&format!("  - {reason}\n"));
    }
    let mut d = doc(&r);
    let Some(transfer) = transfer else {
        return Ok(Outcome::answer(d, text, true));
    };
    if a.no_wait {
        return Ok(Outcome::ok(d, text));
    }
    // Wait for the receipt, the refusal, or the end of the wait.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(a.wait);
    let t = loop {
        let t = block(c.transfer(&transfer)).map_err(failed)?;
        let open = matches!(
            t.state,
            gsomia_api::TransferState::Queued | gsomia_api::TransferState::Sending
        );
        if !open || std::time::Instant::now() >= until {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let refused = t.state == gsomia_api::TransferState::Refused;
    text.push_str(&match t.state {
        gsomia_api::TransferState::Delivered => format!(
            "DELIVERED  receipted by {to} at {}\n",
            t.delivered_at.as_deref().unwrap_or("?")
        ),
        gsomia_api::TransferState::Refused => format!(
            "REFUSED by {to}: {}\n",
            t.reasons.as_deref().unwrap_or("?")
        ),
        _ => format!(
            "NOT YET RECEIPTED after {}s: still {} ({} attempt(s){}); the node keeps trying — `gsomia transfer show {transfer}`\n",
            a.wait,
            t.state.as_str(),
            t.attempts,
            t.last_error
                .as_deref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        ),
    });
    if let Some(obj) = d.as_object_mut() {
        obj.insert("delivery".into(), doc(&t));
    }
    Ok(Outcome::answer(d, text, refused))
}

/// `gsomia transfer …`.
#[derive(clap::Subcommand)]
pub enum TransferCmd {
    /// A page of the transfers you may see (security officers and auditors: all).
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Go on from this cursor.
        #[arg(long)]
        next: Option<String>,
        /// Only in this state.
        #[arg(long, value_parser = ["queued", "sending", "delivered", "refused"])]
        state: Option<String>,
        /// Only to this partner.
        #[arg(long)]
        to: Option<String>,
        /// Only of this item.
        #[arg(long)]
        item: Option<String>,
    },
    /// What became of one transfer.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The transfer id (printed by `item release`).
        id: String,
    },
}

fn transfer_line(t: &gsomia_api::TransferView) -> String {
    let detail = match t.state {
        gsomia_api::TransferState::Delivered => {
            format!("delivered {}", t.delivered_at.as_deref().unwrap_or("?"))
        }
        gsomia_api::TransferState::Refused => {
            format!("REFUSED: {}", t.reasons.as_deref().unwrap_or("?"))
        }
        _ => format!(
            "{} for {}s, {} attempt(s){}",
            t.state.as_str(),
            t.age_seconds,
            t.attempts,
            t.last_error
                .as_deref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "{}  {} {} → {}  {detail}\n",
        t.transfer, t.kind, t.item, t.recipient
    )
}

/// Runs a `transfer` subcommand.
pub fn transfer(cmd: TransferCmd) -> Result<Outcome> {
    match cmd {
        TransferCmd::List {
            node,
            limit,
            next,
            state,
            to,
            item,
        } => {
            let c = client(&node)?;
            let l = block(c.transfers(&gsomia_api::TransferFilter {
                limit: Some(limit),
                next,
                state,
                recipient: to,
                item,
            }))
            .map_err(failed)?;
            let mut text: String = l.transfers.iter().map(transfer_line).collect();
            if let Some(n) = &l.next {
                text.push_str(&format!("(more: --next {n})\n"));
            }
            Ok(Outcome::ok(doc(&l), text))
        }
        TransferCmd::Show { node, id } => {
            let c = client(&node)?;
            match block(c.transfer(&id)) {
                Ok(t) => {
                    let mut text = transfer_line(&t);
                    text.push_str(&format!("  queued {}\n", t.queued_at));
                    if let Some(r) = &t.receipt_checkpoint {
                        text.push_str(&format!("  receipt checkpoint:\n{r}\n"));
                    }
                    let refused = t.state == gsomia_api::TransferState::Refused;
                    Ok(Outcome::answer(doc(&t), text, refused))
                }
                Err(e) if e.status() == Some(404) => Ok(Outcome::answer(
                    json!({ "id": id, "found": false }),
                    format!("NOT FOUND {id} (or not one you may see)\n"),
                    true,
                )),
                Err(e) => Err(failed(e)),
            }
        }
    }
}
