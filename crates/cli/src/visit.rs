//! `gsomia visit request|approve|refuse|list|show`: visits between parties
//! (Art 8) on a running node, for security officers (auditors may list
//! and show).

use anyhow::Result;
use clap::Subcommand;
use gsomia_api::{RefuseVisit, RequestVisit, VisitView};

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, doc, failed};

/// `gsomia visit …`.
#[derive(Subcommand)]
pub enum VisitCmd {
    /// Ask a partner to host one of your people: purpose, highest level, topics, period.
    Request {
        #[command(flatten)]
        node: NodeArgs,
        /// The host party.
        #[arg(long)]
        to: String,
        /// The visitor (a person of your register, cleared to the level).
        #[arg(long)]
        visitor: String,
        /// The official purpose.
        #[arg(long)]
        purpose: String,
        /// The highest level that may be furnished (your policy's).
        #[arg(long = "highest-level")]
        highest_level: String,
        /// A topic the visit concerns (repeat).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        /// First day (in your zone) or instant.
        #[arg(long)]
        from: String,
        /// Last day (in your zone) or the first instant after the visit.
        #[arg(long)]
        until: String,
    },
    /// Approve a visit you host: the visitor's credential here is shown once.
    Approve {
        #[command(flatten)]
        node: NodeArgs,
        /// The visit.
        id: String,
    },
    /// Refuse a visit you host.
    Refuse {
        #[command(flatten)]
        node: NodeArgs,
        /// The visit.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Every visit requested or hosted, with each access reported.
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One visit.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The visit.
        id: String,
    },
}

fn describe(v: &VisitView) -> String {
    let mut t = format!(
        "{}  {} ({}) → {}: {}  [{}]\n  purpose: {}\n  up to {}, topics {}, {} until {}\n",
        v.id,
        v.visitor_name,
        v.visitor_party,
        v.host,
        v.state.to_uppercase(),
        v.visitor,
        v.purpose,
        v.highest_level,
        v.topics.join(","),
        v.from,
        v.until
    );
    if let Some(a) = &v.answer {
        t.push_str(&format!("  answer: {a}\n"));
    }
    if let Some(p) = &v.host_person {
        t.push_str(&format!("  registered here as {p}\n"));
    }
    for a in &v.accesses {
        t.push_str(&format!("  access {}  {}  {}\n", a.at, a.item, a.outcome));
    }
    t
}

/// Runs one `visit` command.
pub fn run(cmd: VisitCmd) -> Result<Outcome> {
    let v = match cmd {
        VisitCmd::Request {
            node,
            to,
            visitor,
            purpose,
            highest_level,
            topics,
            from,
            until,
        } => block(client(&node)?.request_visit(&RequestVisit {
            to,
            visitor,
            purpose,
            highest_level,
            topics,
            from,
            until,
        })),
        VisitCmd::Approve { node, id } => {
            let a = block(client(&node)?.approve_visit(&id)).map_err(failed)?;
            let text = format!(
                "{}  visitor's credential here (shown once; valid only during the visit):\n{}\n",
                describe(&a.visit),
                a.token
            );
            return Ok(Outcome::ok(doc(&a), text));
        }
        VisitCmd::Refuse { node, id, reason } => {
            block(client(&node)?.refuse_visit(&id, &RefuseVisit { reason }))
        }
        VisitCmd::Show { node, id } => block(client(&node)?.visit(&id)),
        VisitCmd::List { node } => {
            let l = block(client(&node)?.visits()).map_err(failed)?;
            let text: String = l.visits.iter().map(describe).collect();
            return Ok(Outcome::ok(doc(&l), text));
        }
    };
    let v = v.map_err(failed)?;
    Ok(Outcome::ok(doc(&v), describe(&v)))
}
