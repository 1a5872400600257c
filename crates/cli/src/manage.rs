//! Client commands for a node's security officers: agreement events
//! (`gsomia agreement enter`, `gsomia agreement live`) and consents
//! (`gsomia consent grant|list|revoke`). A refusal by the rules (HTTP 409)
//! exits 1 with the reason; bad input exits 2.

use anyhow::{Result, bail};
use clap::Args;
use gsomia_api::{AgreementStatus, ClientError, EnterEvent, EventKind, GrantConsent};
use serde_json::json;

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, failed};

fn doc(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A refusal by the rules (409), or the answer rendered by `text`.
fn decided<T: serde::Serialize>(
    r: Result<T, ClientError>,
    text: impl FnOnce(&T) -> String,
) -> Result<Outcome> {
    match r {
        Ok(v) => {
            let t = text(&v);
            Ok(Outcome::ok(doc(&v), t))
        }
        Err(ClientError::Status { status: 409, body }) => Ok(Outcome::answer(
            json!({ "refused": true, "reason": body.error }),
            format!("REFUSED  {}\n", body.error),
            true,
        )),
        Err(e) => Err(failed(e)),
    }
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
    let kind: EventKind = match serde_json::from_value(json!(a.kind)) {
        Ok(k) => k,
        Err(_) => bail!(
            "unknown event kind `{}` (notice, suspend_notice, lift_suspension, withdraw_notice, announcement)",
            a.kind
        ),
    };
    let req = EnterEvent {
        kind,
        at: a.at.clone(),
        summary: a.summary.clone(),
        written_diplomatic: Some(!a.not_written),
    };
    let c = client(&a.node)?;
    decided(block(c.enter_event(&a.agreement, &req)), |e| {
        format!(
            "RECORDED {} {} at {}: {}\n  now {} (in force: {}); sent to {}\n",
            e.agreement,
            e.kind.as_str(),
            e.at,
            e.effect,
            e.status.state,
            e.status.in_force,
            if e.sent_to.is_empty() {
                "no partner".to_owned()
            } else {
                e.sent_to.join(", ")
            },
        )
    })
}

fn status_line(s: &AgreementStatus) -> String {
    format!(
        "{:<14} {:<18} in force: {:<5} events: {}\n",
        s.agreement, s.state, s.in_force, s.events,
    )
}

/// `gsomia agreement live [AGREEMENT]`: the node's own view now (its profiles
/// with every event recorded or received).
pub fn live(a: &NodeArgs, agreement: Option<&str>) -> Result<Outcome> {
    let c = client(a)?;
    match agreement {
        Some(id) => {
            let s = block(c.agreement(id)).map_err(failed)?;
            Ok(Outcome::ok(doc(&s), status_line(&s)))
        }
        None => {
            let l = block(c.agreements()).map_err(failed)?;
            let text = l.agreements.iter().map(status_line).collect();
            Ok(Outcome::ok(doc(&l), text))
        }
    }
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
    let req = GrantConsent {
        holder: a.holder.clone(),
        recipient: a.recipient.clone(),
        item: a.item.clone(),
        topics: (!a.topics.is_empty()).then(|| a.topics.clone()),
        expires_at: a.expires.clone(),
    };
    let c = client(&a.node)?;
    decided(block(c.grant(&req)), |v| {
        format!(
            "CONSENT  {}: {} may release to {} until {}; sent to {}\n",
            v.id, v.holder, v.recipient, v.expires_at, v.holder,
        )
    })
}

/// `gsomia consent list`.
pub fn list(a: &NodeArgs) -> Result<Outcome> {
    let c = client(a)?;
    let l = block(c.consents()).map_err(failed)?;
    let mut text = String::new();
    for v in &l.consents {
        text.push_str(&format!(
            "{}  {} → {} via {}  until {}{}\n",
            v.id,
            v.originator,
            v.recipient,
            v.holder,
            v.expires_at,
            v.revoked_at
                .as_ref()
                .map(|r| format!("  REVOKED {r}"))
                .unwrap_or_default(),
        ));
    }
    Ok(Outcome::ok(doc(&l), text))
}

/// `gsomia consent revoke ID`.
pub fn revoke(a: &NodeArgs, id: &str) -> Result<Outcome> {
    let c = client(a)?;
    decided(block(c.revoke(id)), |v| {
        format!(
            "REVOKED  {} from {}; sent to {}\n",
            v.id,
            v.revoked_at.as_deref().unwrap_or("?"),
            v.holder,
        )
    })
}
