//! Client commands for a node's security officers: agreement events
//! (`gsomia agreement enter`, `gsomia agreement live`) and consents
//! (`gsomia consent grant|list|revoke`). A refusal by the rules (HTTP 409)
//! exits 1 with the reason; bad input exits 2.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use crate::out::Outcome;
use crate::serve::{NodeArgs, answer, call, client, field, runtime};

fn url(a: &NodeArgs, path: &str) -> String {
    format!("{}{path}", a.node.trim_end_matches('/'))
}

/// A refusal by the rules, or the answer.
fn decided(status: u16, bytes: &[u8], text: impl FnOnce(&Value) -> String) -> Result<Outcome> {
    if status == 409 {
        let doc: Value = serde_json::from_slice(bytes).unwrap_or(json!({}));
        let why = field(&doc, "/error").to_owned();
        return Ok(Outcome::answer(
            json!({ "refused": true, "reason": why }),
            format!("REFUSED  {why}\n"),
            true,
        ));
    }
    let doc = answer(status, bytes)?;
    let t = text(&doc);
    Ok(Outcome::ok(doc, t))
}

/// Arguments of `agreement enter`.
#[derive(Args)]
pub struct EnterArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The agreement (e.g. jp-kr-2016).
    agreement: String,
    /// notice, suspend_notice, lift_suspension, withdraw_notice or announcement.
    kind: String,
    /// When it took effect (RFC 3339 with offset); default: now.
    #[arg(long)]
    at: Option<String>,
    /// A short description.
    #[arg(long)]
    summary: Option<String>,
    /// A notice not given in writing through the diplomatic channel (it will have no effect).
    #[arg(long)]
    not_written: bool,
}

/// `gsomia agreement enter`: records an event of the node's party, signed and sent to partners.
pub fn enter(a: &EnterArgs) -> Result<Outcome> {
    let body = json!({
        "kind": a.kind, "at": a.at, "summary": a.summary,
        "written_diplomatic": !a.not_written,
    });
    let u = url(&a.node, &format!("/v1/agreements/{}/events", a.agreement));
    let (status, bytes) =
        runtime()?.block_on(async { call(&a.node, client(&a.node)?.post(u).json(&body)).await })?;
    decided(status, &bytes, |doc| {
        format!(
            "RECORDED {} {} at {}: {}\n  now {} (in force: {}); sent to {}\n",
            field(doc, "/agreement"),
            field(doc, "/kind"),
            field(doc, "/at"),
            field(doc, "/effect"),
            field(doc, "/status/state"),
            doc.pointer("/status/in_force")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            doc.get("sent_to")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "no partner".into()),
        )
    })
}

/// `gsomia agreement live [AGREEMENT]`: the node's own view now (its profiles
/// with every event recorded or received).
pub fn live(a: &NodeArgs, agreement: Option<&str>) -> Result<Outcome> {
    let u = match agreement {
        Some(id) => url(a, &format!("/v1/agreements/{id}")),
        None => url(a, "/v1/agreements"),
    };
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.get(u)).await })?;
    let doc = answer(status, &bytes)?;
    let one = |d: &Value| {
        format!(
            "{:<14} {:<18} in force: {:<5} events: {}\n",
            field(d, "/agreement"),
            field(d, "/state"),
            d.get("in_force").and_then(Value::as_bool).unwrap_or(false),
            d.get("events").and_then(Value::as_u64).unwrap_or(0),
        )
    };
    let text = match doc.get("agreements").and_then(Value::as_array) {
        Some(list) => list.iter().map(one).collect(),
        None => one(&doc),
    };
    Ok(Outcome::ok(doc, text))
}

/// Arguments of `consent grant`.
#[derive(Args)]
pub struct GrantArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The party allowed to release (the hub, for a relay).
    #[arg(long)]
    holder: String,
    /// The party it may release to.
    #[arg(long)]
    recipient: String,
    /// One item this party originated (exclusive with --topic).
    #[arg(long, conflicts_with = "topics", required_unless_present = "topics")]
    item: Option<String>,
    /// A topic (repeat; subtopics included).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// The first instant the consent no longer holds (RFC 3339 with offset).
    #[arg(long)]
    expires: String,
}

/// `gsomia consent grant`.
pub fn grant(a: &GrantArgs) -> Result<Outcome> {
    let body = json!({
        "holder": a.holder, "recipient": a.recipient, "item": a.item,
        "topics": (!a.topics.is_empty()).then_some(&a.topics), "expires_at": a.expires,
    });
    let u = url(&a.node, "/v1/consents");
    let (status, bytes) =
        runtime()?.block_on(async { call(&a.node, client(&a.node)?.post(u).json(&body)).await })?;
    decided(status, &bytes, |doc| {
        format!(
            "CONSENT  {}: {} may release to {} until {}; sent to {}\n",
            field(doc, "/id"),
            field(doc, "/holder"),
            field(doc, "/recipient"),
            field(doc, "/expires_at"),
            field(doc, "/holder"),
        )
    })
}

/// `gsomia consent list`.
pub fn list(a: &NodeArgs) -> Result<Outcome> {
    let u = url(a, "/v1/consents");
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.get(u)).await })?;
    let doc = answer(status, &bytes)?;
    let mut text = String::new();
    for c in doc
        .get("consents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&format!(
            "{}  {} → {} via {}  until {}{}\n",
            field(c, "/id"),
            field(c, "/originator"),
            field(c, "/recipient"),
            field(c, "/holder"),
            field(c, "/expires_at"),
            c.get("revoked_at")
                .and_then(Value::as_str)
                .map(|r| format!("  REVOKED {r}"))
                .unwrap_or_default(),
        ));
    }
    Ok(Outcome::ok(doc, text))
}

/// `gsomia consent revoke ID`.
pub fn revoke(a: &NodeArgs, id: &str) -> Result<Outcome> {
    let u = url(a, &format!("/v1/consents/{id}/revoke"));
    let (status, bytes) = runtime()?.block_on(async { call(a, client(a)?.post(u)).await })?;
    decided(status, &bytes, |doc| {
        format!(
            "REVOKED  {} from {}; sent to {}\n",
            field(doc, "/id"),
            field(doc, "/revoked_at"),
            field(doc, "/holder"),
        )
    })
}
