//! `gsomia warn`: missile warnings on a running node — publish a launch,
//! add trajectory points, close with the impact, list, and subscribe to the
//! live feed (one line per update as it arrives).

use std::io::Write as _;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use gsomia_api::{ClientError, Impact, Launch, Point, Published, Track, WarningEvent};

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, failed};

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

fn latlon(s: &str) -> Result<Point> {
    Ok(point(&numbers(s, 2, "LAT,LON")?))
}

/// A refusal by the rules (409), or the published update.
fn published(r: Result<Published, ClientError>) -> Result<Outcome> {
    match r {
        Ok(p) => {
            let text = format!(
                "{} {} #{} at {}\n",
                p.kind.to_uppercase(),
                p.id,
                p.seq,
                p.at
            );
            Ok(Outcome::ok(doc(&p), text))
        }
        Err(ClientError::Status { status: 409, body }) => Ok(Outcome::answer(
            json!({ "refused": true, "reason": body.error }),
            format!("REFUSED  {}\n", body.error),
            true,
        )),
        Err(e) => Err(failed(e)),
    }
}

fn doc(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn point(v: &[f64]) -> Point {
    Point {
        lat: v.first().copied().unwrap_or(f64::NAN),
        lon: v.get(1).copied().unwrap_or(f64::NAN),
    }
}

fn track_req(v: &[f64], at: Option<String>) -> Track {
    Track {
        point: point(v),
        alt_km: v.get(2).copied().unwrap_or(f64::NAN),
        at,
    }
}

/// Runs a `warn` command.
pub fn run(cmd: WarnCmd, json_out: bool) -> Result<Outcome> {
    match cmd {
        WarnCmd::Publish {
            node,
            launch_point,
            launched_at,
        } => {
            let req = Launch {
                launch_point: latlon(&launch_point)?,
                at: launched_at,
            };
            published(block(client(&node)?.launch(&req)))
        }
        WarnCmd::Track {
            node,
            id,
            point,
            from,
            at,
        } => match (point, from) {
            (Some(point), _) => {
                let v = numbers(&point, 3, "LAT,LON,ALT")?;
                published(block(client(&node)?.track(&id, &track_req(&v, at))))
            }
            (None, Some(from)) => track_stream(&node, &id, &from),
            (None, None) => bail!("give `--point` or `--from`"),
        },
        WarnCmd::Impact {
            node,
            id,
            point,
            at,
        } => {
            let req = Impact {
                impact_point: latlon(&point)?,
                at,
            };
            published(block(client(&node)?.impact(&id, &req)))
        }
        WarnCmd::List(node) => {
            let l = block(client(&node)?.warnings()).map_err(failed)?;
            let mut text = String::new();
            for w in &l.warnings {
                text.push_str(&format!(
                    "{}  from {}  {}  {} updates  {}\n",
                    w.id,
                    w.originator,
                    w.level,
                    w.updates.len(),
                    if w.closed { "closed" } else { "IN FLIGHT" }
                ));
            }
            for p in &l.pending {
                text.push_str(&format!(
                    "pending for {}: {} update(s), the oldest queued {} (sent again until taken)\n",
                    p.partner, p.updates, p.oldest_queued_at
                ));
            }
            Ok(Outcome::ok(doc(&l), text))
        }
        WarnCmd::Subscribe(a) => subscribe(&a, json_out),
    }
}

/// Sends every point read from `from` (a file or `-`), in order, each as
/// soon as it is read; stops at the first refusal (exit 1) or bad line (exit 2).
fn track_stream(node: &NodeArgs, id: &str, from: &std::path::Path) -> Result<Outcome> {
    let mut reader: Box<dyn std::io::BufRead> = if from.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(from)
                .with_context(|| format!("cannot read `{}`", from.display()))?,
        ))
    };
    let c = client(node)?;
    let mut sent = 0usize;
    // Progress goes to standard error; standard output gets the one answer.
    let mut progress = std::io::stderr();
    let mut n = 0usize;
    // Each line as it is read (the input may be endless), each bounded.
    while let Some(line) = gsomia_node::files::next_line(&mut reader) {
        n += 1;
        let line = line.with_context(|| format!("cannot read `{}`:{n}", from.display()))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(4, ',');
        let nums: Vec<&str> = parts.by_ref().take(3).collect();
        let v = numbers(&nums.join(","), 3, "LAT,LON,ALT")
            .with_context(|| format!("{}:{n}", from.display()))?;
        let at = parts.next().map(|s| s.trim().to_owned());
        let p = match block(c.track(id, &track_req(&v, at))) {
            Ok(p) => p,
            Err(ClientError::Status { status: 409, body }) => {
                return Ok(Outcome::answer(
                    json!({ "sent": sent, "refused_at_line": n, "reason": body.error }),
                    format!("sent {sent}; line {n} REFUSED: {}\n", body.error),
                    true,
                ));
            }
            Err(e) => return Err(failed(e)),
        };
        let _ = writeln!(progress, "TRACK {id} #{}", p.seq);
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
    use futures_util::StreamExt as _;
    let c = client(&a.node)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let feed = c.subscribe().await.map_err(failed)?;
        futures_util::pin_mut!(feed);
        let mut seen = 0usize;
        let mut out = std::io::stdout();
        while let Some(event) = feed.next().await {
            match event.map_err(failed)? {
                WarningEvent::Cutoff(why) => {
                    return Ok(Outcome::answer(
                        json!({ "updates": seen, "ended": "cutoff", "reason": why }),
                        format!("CUT OFF: {why}\n"),
                        true,
                    ));
                }
                WarningEvent::Update(u) => {
                    let text = if json_out {
                        doc(&u).to_string()
                    } else {
                        format!(
                            "{} {} #{} point {},{}{} at {} (from {}, marked {})",
                            u.kind.to_uppercase(),
                            u.id,
                            u.seq,
                            u.lat,
                            u.lon,
                            if u.kind == "track" {
                                format!(",{}km", u.alt_km)
                            } else {
                                String::new()
                            },
                            u.at,
                            u.originator,
                            u.level,
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
        Ok(Outcome::ok(
            json!({ "updates": seen, "ended": "closed" }),
            String::new(),
        ))
    })
}
