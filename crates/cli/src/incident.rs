//! `gsomia incident report|update|close|list|show|watch`: loss and
//! compromise reports to an item's originator (rule 14), on a running node.

use anyhow::Result;
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use gsomia_api::{FollowUpIncident, IncidentView, Page, ReportIncident};

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, doc, failed};

/// `gsomia incident …`.
#[derive(Subcommand)]
pub enum IncidentCmd {
    /// Report an actual or possible loss or compromise of an item held here to its originator.
    Report(ReportArgs),
    /// Send the investigation's findings.
    Update {
        #[command(flatten)]
        node: NodeArgs,
        /// The incident.
        id: String,
        /// What the investigation found.
        #[arg(long)]
        findings: String,
    },
    /// Close the incident with its results and the measures against recurrence.
    Close {
        #[command(flatten)]
        node: NodeArgs,
        /// The incident.
        id: String,
        /// The remedy.
        #[arg(long)]
        remedy: String,
    },
    /// The incidents you may see: reported here, or received as originator.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Per page (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a page's `next` cursor.
        #[arg(long)]
        next: Option<String>,
    },
    /// One incident, every message and its acknowledgement.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The incident.
        id: String,
    },
    /// Incidents live, one line each as they are reported, followed up or acknowledged.
    Watch {
        #[command(flatten)]
        node: NodeArgs,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// Arguments of `incident report`.
#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The item (its id here).
    item: String,
    /// The loss or compromise is actual.
    #[arg(
        long,
        conflicts_with = "possible",
        required_unless_present = "possible"
    )]
    actual: bool,
    /// The loss or compromise is possible.
    #[arg(long)]
    possible: bool,
    /// What happened.
    #[arg(long)]
    description: String,
}

fn line(v: &IncidentView) -> String {
    let last = v.messages.last();
    format!(
        "{}  {} {} of {}'s {} ({} → {}), {}{}: {}\n",
        v.id,
        v.direction,
        if v.actual { "ACTUAL" } else { "possible" },
        v.originator,
        v.origin_item,
        v.holder,
        v.originator,
        v.state,
        if v.pending > 0 {
            format!(", {} pending", v.pending)
        } else {
            String::new()
        },
        last.map(|m| format!("{} — {}", m.kind, m.text))
            .unwrap_or_default()
    )
}

fn full(v: &IncidentView) -> String {
    let mut text = line(v);
    for m in &v.messages {
        text.push_str(&format!(
            "  #{} {:<7} {} by {}: {}  [{}]\n",
            m.seq,
            m.kind,
            m.at,
            m.by,
            m.text,
            m.acknowledged_at
                .as_ref()
                .map_or("pending".to_owned(), |a| format!("acknowledged {a}"))
        ));
    }
    text
}

/// Runs an `incident` command.
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a live feed prints as it goes; that it is subscribed goes to standard error"
)]
pub fn run(cmd: IncidentCmd) -> Result<Outcome> {
    match cmd {
        IncidentCmd::Report(a) => {
            let c = client(&a.node)?;
            let v = block(c.report_incident(&ReportIncident {
                item: a.item.clone(),
                actual: a.actual,
                description: a.description.clone(),
            }))
            .map_err(failed)?;
            Ok(Outcome::ok(doc(&v), full(&v)))
        }
        IncidentCmd::Update { node, id, findings } => {
            let c = client(&node)?;
            let v = block(c.follow_up(
                &id,
                &FollowUpIncident {
                    text: findings,
                    close: false,
                },
            ))
            .map_err(failed)?;
            Ok(Outcome::ok(doc(&v), full(&v)))
        }
        IncidentCmd::Close { node, id, remedy } => {
            let c = client(&node)?;
            let v = block(c.follow_up(
                &id,
                &FollowUpIncident {
                    text: remedy,
                    close: true,
                },
            ))
            .map_err(failed)?;
            Ok(Outcome::ok(doc(&v), full(&v)))
        }
        IncidentCmd::List { node, limit, next } => {
            let c = client(&node)?;
            let l = block(c.incidents(&Page {
                limit: Some(limit),
                next,
            }))
            .map_err(failed)?;
            let mut text: String = l.incidents.iter().map(line).collect();
            if let Some(n) = &l.next {
                text.push_str(&format!("(more: --next {n})\n"));
            }
            Ok(Outcome::ok(doc(&l), text))
        }
        IncidentCmd::Show { node, id } => {
            let c = client(&node)?;
            let v = block(c.incident(&id)).map_err(failed)?;
            Ok(Outcome::ok(doc(&v), full(&v)))
        }
        IncidentCmd::Watch { node, count } => {
            let c = client(&node)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let seen = rt.block_on(async {
                let stream = c.incident_stream().await.map_err(failed)?;
                // Subscribed: what happens from now on is shown.
                eprintln!("watching incidents (subscribed)");
                futures_util::pin_mut!(stream);
                let mut seen = Vec::new();
                while let Some(e) = stream.next().await {
                    let v = e.map_err(failed)?;
                    print!("{}", line(&v));
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                    seen.push(v);
                    if count.is_some_and(|n| seen.len() as u64 >= n) {
                        break;
                    }
                }
                anyhow::Ok(seen)
            })?;
            Ok(Outcome::ok(doc(&seen), String::new()))
        }
    }
}
