//! `gsomia warn`: missile warnings on a running node — publish a launch,
//! add trajectory points, close with the impact, list, and subscribe to the
//! live feed (one line per update as it arrives).

use std::io::Write as _;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::out::{Outcome, member};
use crate::serve::{NodeArgs, answer, call, client, field, runtime};

/// `gsomia warn …`.
#[derive(Subcommand)]
pub enum WarnCmd {
    /// Open a warning with its estimated launch point.
    Publish {
        #[command(flatten)]
        node: NodeArgs,
        /// LAT,LON in degrees.
        #[arg(long = "launch-point")]
        launch_point: String,
        /// The launch instant (RFC 3339 with offset); default: now.
        #[arg(long = "launched-at")]
        launched_at: Option<String>,
    },
    /// Add a trajectory point, or a stream of them (`--from FILE`, `-` for
    /// standard input: one `LAT,LON,ALT[,RFC3339]` per line, sent as read).
    Track {
        #[command(flatten)]
        node: NodeArgs,
        /// The warning id.
        id: String,
        /// LAT,LON,ALT (degrees, degrees, km).
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        point: Option<String>,
        /// Read points from a file, or `-` for standard input.
        #[arg(long)]
        from: Option<std::path::PathBuf>,
        /// When (RFC 3339 with offset); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Close the warning with its estimated impact point.
    Impact {
        #[command(flatten)]
        node: NodeArgs,
        /// The warning id.
        id: String,
        /// LAT,LON in degrees.
        #[arg(long)]
        point: String,
        /// When (RFC 3339 with offset); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Every warning the node holds that you may see.
    List(NodeArgs),
    /// Print warnings live as they arrive (warnings still in flight first).
    Subscribe(SubscribeArgs),
}

/// Arguments of `warn subscribe`.
#[derive(Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Stop after this many updates.
    #[arg(long)]
    count: Option<usize>,
}

fn numbers(s: &str, n: usize, what: &str) -> Result<Vec<f64>> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("`{s}` is not {what}"))?;
    if v.len() != n {
        bail!("`{s}` is not {what}");
    }
    Ok(v)
}

fn latlon(s: &str) -> Result<Value> {
    let v = numbers(s, 2, "LAT,LON")?;
    Ok(json!({ "lat": v.first(), "lon": v.get(1) }))
}

fn post(a: &NodeArgs, path: &str, body: Value) -> Result<Outcome> {
    let url = format!("{}{path}", a.node.trim_end_matches('/'));
    let (status, bytes) =
        runtime()?.block_on(async { call(a, client(a)?.post(url).json(&body)).await })?;
    if status == 409 {
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
        let why = field(&doc, "/error").to_owned();
        return Ok(Outcome::answer(
            json!({ "refused": true, "reason": why }),
            format!("REFUSED  {why}\n"),
            true,
        ));
    }
    let doc = answer(status, &bytes)?;
    let text = format!(
        "{} {} #{} at {}\n",
        field(&doc, "/kind").to_uppercase(),
        field(&doc, "/id"),
        member(&doc, "seq"),
        field(&doc, "/at")
    );
    Ok(Outcome::ok(doc, text))
}

/// Runs a `warn` command.
pub fn run(cmd: WarnCmd, json_out: bool) -> Result<Outcome> {
    match cmd {
        WarnCmd::Publish {
            node,
            launch_point,
            launched_at,
        } => post(
            &node,
            "/v1/warnings",
            json!({ "launch_point": latlon(&launch_point)?, "at": launched_at }),
        ),
        WarnCmd::Track {
            node,
            id,
            point,
            from,
            at,
        } => match (point, from) {
            (Some(point), _) => {
                let v = numbers(&point, 3, "LAT,LON,ALT")?;
                post(
                    &node,
                    &format!("/v1/warnings/{id}/track"),
                    json!({ "point": { "lat": v.first(), "lon": v.get(1) }, "alt_km": v.get(2), "at": at }),
                )
            }
            (None, Some(from)) => track_stream(&node, &id, &from),
            (None, None) => bail!("give `--point` or `--from`"),
        },
        WarnCmd::Impact {
            node,
            id,
            point,
            at,
        } => post(
            &node,
            &format!("/v1/warnings/{id}/impact"),
            json!({ "impact_point": latlon(&point)?, "at": at }),
        ),
        WarnCmd::List(node) => {
            let url = format!("{}/v1/warnings", node.node.trim_end_matches('/'));
            let (status, bytes) =
                runtime()?.block_on(async { call(&node, client(&node)?.get(url)).await })?;
            let doc = answer(status, &bytes)?;
            let mut text = String::new();
            for w in member(&doc, "warnings").as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "{}  from {}  {}  {} updates  {}\n",
                    field(w, "/id"),
                    field(w, "/originator"),
                    field(w, "/level"),
                    member(w, "updates").as_array().map_or(0, Vec::len),
                    if *member(w, "closed") == json!(true) {
                        "closed"
                    } else {
                        "IN FLIGHT"
                    }
                ));
            }
            Ok(Outcome::ok(doc, text))
        }
        WarnCmd::Subscribe(a) => subscribe(&a, json_out),
    }
}

/// Sends every point read from `from` (a file or `-`), in order, each as
/// soon as it is read; stops at the first refusal (exit 1) or bad line (exit 2).
fn track_stream(node: &NodeArgs, id: &str, from: &std::path::Path) -> Result<Outcome> {
    use std::io::BufRead as _;
    let reader: Box<dyn std::io::BufRead> = if from.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(from)
                .with_context(|| format!("cannot read `{}`", from.display()))?,
        ))
    };
    let mut sent = 0usize;
    // Progress goes to standard error; standard output gets the one answer.
    let mut progress = std::io::stderr();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read `{}`", from.display()))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(4, ',');
        let nums: Vec<&str> = parts.by_ref().take(3).collect();
        let v = numbers(&nums.join(","), 3, "LAT,LON,ALT")
            .with_context(|| format!("{}:{}", from.display(), n + 1))?;
        let at = parts.next().map(str::trim);
        let o = post(
            node,
            &format!("/v1/warnings/{id}/track"),
            json!({ "point": { "lat": v.first(), "lon": v.get(1) }, "alt_km": v.get(2), "at": at }),
        )?;
        if *member(&o.doc, "refused") == json!(true) {
            return Ok(Outcome::answer(
                json!({ "sent": sent, "refused_at_line": n + 1, "reason": member(&o.doc, "reason") }),
                format!(
                    "sent {sent}; line {} REFUSED: {}\n",
                    n + 1,
                    field(&o.doc, "/reason")
                ),
                true,
            ));
        }
        let _ = writeln!(progress, "TRACK {id} #{}", member(&o.doc, "seq"));
        sent += 1;
    }
    Ok(Outcome::ok(
        json!({ "sent": sent }),
        format!("sent {sent} points\n"),
    ))
}

/// Prints each update as it arrives; ends after `--count`, or when the node
/// cuts the subscriber off (exit 1) or closes the stream.
fn subscribe(a: &SubscribeArgs, json_out: bool) -> Result<Outcome> {
    let url = format!("{}/v1/warnings/stream", a.node.node.trim_end_matches('/'));
    let config = gsomia_node::tls::user_client_config(&a.node.ca)?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .context("cannot build the HTTPS client")?;
    runtime()?.block_on(async {
        let mut resp = http
            .get(url)
            .bearer_auth(&a.node.token)
            .send()
            .await
            .with_context(|| format!("cannot reach `{}`", a.node.node))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            answer(status, &body)?;
            bail!("the node answered {status}");
        }
        let mut seen = 0usize;
        let mut buf = String::new();
        let mut event = String::new();
        let mut out = std::io::stdout();
        loop {
            let Some(chunk) = resp.chunk().await.context("reading the stream")? else {
                return Ok(Outcome::ok(
                    json!({ "updates": seen, "ended": "closed" }),
                    String::new(),
                ));
            };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(nl) = buf.find('\n') {
                let line: String = buf.drain(..=nl).collect();
                let line = line.trim_end();
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    let d = d.trim();
                    if event == "cutoff" {
                        return Ok(Outcome::answer(
                            json!({ "updates": seen, "ended": "cutoff", "reason": d }),
                            format!("CUT OFF: {d}\n"),
                            true,
                        ));
                    }
                    let doc: Value = serde_json::from_str(d).unwrap_or(json!({ "raw": d }));
                    let text = if json_out {
                        doc.to_string()
                    } else {
                        format!(
                            "{} {} #{} {} {},{}{} at {} (from {}, marked {})",
                            field(&doc, "/kind").to_uppercase(),
                            field(&doc, "/id"),
                            member(&doc, "seq"),
                            "point",
                            member(&doc, "lat"),
                            member(&doc, "lon"),
                            if field(&doc, "/kind") == "track" {
                                format!(",{}km", member(&doc, "alt_km"))
                            } else {
                                String::new()
                            },
                            field(&doc, "/at"),
                            field(&doc, "/originator"),
                            field(&doc, "/level"),
                        )
                    };
                    writeln!(out, "{text}")
                        .and_then(|()| out.flush())
                        .context("cannot write to standard output")?;
                    seen += 1;
                    if a.count.is_some_and(|n| seen >= n) {
                        return Ok(Outcome::ok(
                            json!({ "updates": seen, "ended": "count" }),
                            String::new(),
                        ));
                    }
                }
            }
        }
    })
}
