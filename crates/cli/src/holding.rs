//! `gsomia item copy|translate|derive|destroy|return|history` and
//! `gsomia inventory`: an item's life at the holder, on a running node.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, ValueEnum};
use gsomia_api::{
    ClientError, CopyItem, DeriveItem, DestroyItem, InventoryFilter, Page, ReleaseOutcome,
    ReturnItem, TranslateItem,
};
use serde_json::json;

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, doc, failed, not_found};

/// The most content a translation or derived document sends.
const CONTENT_LIMIT: u64 = 12 * 1024 * 1024;

/// The reasons of a refusal under the rules, from its error text
/// (`ACTION refused: REASON | REASON`).
pub(crate) fn refusal_reasons(error: &str) -> Vec<String> {
    error
        .split_once(": ")
        .map_or(error, |(_, r)| r)
        .split(" | ")
        .map(str::to_owned)
        .collect()
}

/// The node's answer, or: a refusal under the rules (409) as a refused
/// outcome with its reasons; an item that is not there or not readable
/// (404) as one answer for both.
pub(crate) fn answered<T>(
    what: &str,
    id: &str,
    r: Result<T, ClientError>,
) -> Result<Result<T, Outcome>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ClientError::Status { status: 409, body }) => {
            let reasons = refusal_reasons(&body.error);
            let mut text = format!("REFUSED  {what} {id}\n");
            for r in &reasons {
                text.push_str(&format!("  - {r}\n"));
            }
            Ok(Err(Outcome::answer(
                json!({ "id": id, "refused": true, "action": what, "reasons": reasons, "request_id": body.request_id }),
                text,
                true,
            )))
        }
        Err(e) if e.status() == Some(404) => Ok(Err(not_found(id))),
        Err(e) => Err(failed(e)),
    }
}

fn read(path: &std::path::Path) -> Result<String> {
    let content = gsomia_node::files::read_bounded(path, CONTENT_LIMIT)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(B64.encode(content))
}

/// Arguments of `item copy`.
#[derive(Args)]
pub struct CopyArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The item to copy.
    id: String,
    /// How many copies (1 to 100).
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// The official need they serve (recorded with each copy).
    #[arg(long)]
    reason: String,
}

/// `gsomia item copy ID --count N --reason R`.
pub fn copy(a: &CopyArgs) -> Result<Outcome> {
    let c = client(&a.node)?;
    let req = CopyItem {
        count: Some(a.count),
        reason: a.reason.clone(),
    };
    let r = match answered("copy", &a.id, block(c.copy(&a.id, &req)))? {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let mut text = String::new();
    for m in &r.copies {
        text.push_str(&format!(
            "COPY  {}  copy {} of {} of {}\n",
            m.id, m.number, m.of, r.source
        ));
    }
    Ok(Outcome::ok(doc(&r), text))
}

/// Arguments of `item translate`.
#[derive(Args)]
pub struct TranslateArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The item translated.
    id: String,
    /// The language of the translation (a BCP 47 tag: `ko`, `ja`, `en`).
    #[arg(long)]
    language: String,
    /// The translated text.
    #[arg(long = "in")]
    input: PathBuf,
    /// Why it is made.
    #[arg(long)]
    reason: Option<String>,
}

fn made_text(m: &gsomia_api::Made) -> String {
    let mut text = format!(
        "MADE  {} ({})  {} ({})\n",
        m.id, m.kind, m.label.level, m.label.policy
    );
    for c in &m.label.informative {
        text.push_str(&format!("  {}: {}\n", c.tag, c.values.join(", ")));
    }
    for s in &m.sources {
        text.push_str(&format!(
            "  from {} ({}'s {}, {} {}){}\n",
            s.item,
            s.label.originator,
            s.origin_item,
            s.label.level,
            s.label.policy,
            s.equivalent_label
                .as_ref()
                .map(|e| format!(", marked {} here", e.level))
                .unwrap_or_default()
        ));
    }
    text
}

/// `gsomia item translate ID --language L --in FILE`.
pub fn translate(a: &TranslateArgs) -> Result<Outcome> {
    let content = read(&a.input)?;
    let c = client(&a.node)?;
    let req = TranslateItem {
        language: a.language.clone(),
        content,
        reason: a.reason.clone(),
    };
    let m = match answered("translate", &a.id, block(c.translate(&a.id, &req)))? {
        Ok(m) => m,
        Err(o) => return Ok(o),
    };
    Ok(Outcome::ok(doc(&m), made_text(&m)))
}

/// Arguments of `item derive`.
#[derive(Args)]
pub struct DeriveArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The items it draws on (comma-separated ids at this node).
    #[arg(long = "from", value_delimiter = ',', required = true)]
    from: Vec<String>,
    /// The document.
    #[arg(long = "in")]
    input: PathBuf,
    /// The level of your own contribution (the document's is the highest of it and its sources').
    #[arg(long)]
    level: String,
    /// A topic of your own contribution (repeat).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// REL TO for your own contribution (repeat).
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    /// Why it is written.
    #[arg(long)]
    reason: Option<String>,
}

/// `gsomia item derive --from ID,ID --in FILE --level L --topic T`.
pub fn derive(a: &DeriveArgs) -> Result<Outcome> {
    let content = read(&a.input)?;
    let c = client(&a.node)?;
    let req = DeriveItem {
        sources: a.from.clone(),
        level: a.level.clone(),
        topics: a.topics.clone(),
        rel_to: (!a.rel_to.is_empty()).then(|| a.rel_to.clone()),
        content,
        reason: a.reason.clone(),
    };
    let m = match answered("derive from", &a.from.join(","), block(c.derive(&req)))? {
        Ok(m) => m,
        Err(o) => return Ok(o),
    };
    Ok(Outcome::ok(doc(&m), made_text(&m)))
}

/// Arguments of `item destroy`.
#[derive(Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The item destroyed.
    id: String,
    /// How (shredded, burned, crypto-erased…).
    #[arg(long)]
    method: String,
    /// A witness: a person of the register (repeat, as the policy for the level needs).
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// Why.
    #[arg(long)]
    reason: Option<String>,
    /// Destroy every copy of it held here too, in the same record.
    #[arg(long)]
    with_copies: bool,
}

/// `gsomia item destroy ID --method M --witness P …`.
pub fn destroy(a: &DestroyArgs) -> Result<Outcome> {
    let c = client(&a.node)?;
    let req = DestroyItem {
        method: a.method.clone(),
        witnesses: a.witnesses.clone(),
        reason: a.reason.clone(),
        with_copies: a.with_copies,
    };
    let d = match answered("destroy", &a.id, block(c.destroy(&a.id, &req)))? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let mut text = format!(
        "DESTROYED  {}  ({} witness{} needed; record {})\n",
        d.items.join(", "),
        d.witnesses_needed,
        if d.witnesses_needed == 1 { "" } else { "es" },
        d.keep_until
            .as_ref()
            .map_or("not required".to_owned(), |t| format!("kept until {t}"))
    );
    if !d.erased {
        text.push_str(
            "  (the erased bytes leave the database files at the next full checkpoint)\n",
        );
    }
    if !d.still_held.is_empty() {
        text.push_str(&format!(
            "  still held, made from it (destroy or account for them): {}\n",
            d.still_held.join(", ")
        ));
    }
    Ok(Outcome::ok(doc(&d), text))
}

/// `gsomia item return ID`.
pub fn give_back(node: &NodeArgs, id: &str, reason: Option<&str>) -> Result<Outcome> {
    let c = client(node)?;
    let req = ReturnItem {
        reason: reason.map(str::to_owned),
    };
    let r = match answered("return", id, block(c.give_back(id, &req)))? {
        Ok(r) => r,
        Err(o) => return Ok(o),
    };
    let (mut text, reasons, refused) = match &r {
        ReleaseOutcome::Release(x) => (
            format!(
                "RETURNING  {id} → its originator under {}, queued as {}; erased here once the receipt arrives (gsomia transfer show {})\n",
                x.agreement, x.transfer, x.transfer
            ),
            &x.reasons,
            false,
        ),
        ReleaseOutcome::Withhold(w) => (format!("WITHHOLD  return of {id}\n"), &w.reasons, true),
    };
    for reason in reasons {
        text.push_str(&format!("  - {reason}\n"));
    }
    Ok(Outcome::answer(doc(&r), text, refused))
}

/// `gsomia item history ID`.
pub fn history(node: &NodeArgs, id: &str, limit: u32, next: Option<&str>) -> Result<Outcome> {
    let c = client(node)?;
    let page = Page {
        limit: Some(limit),
        next: next.map(str::to_owned),
    };
    let h = match answered("history of", id, block(c.history(id, &page)))? {
        Ok(h) => h,
        Err(o) => return Ok(o),
    };
    let mut text = format!(
        "{}  {} ({}) of {} ({}), {}{}\n",
        h.id,
        h.label.level,
        h.label.policy,
        h.originator,
        h.origin_item,
        h.state,
        h.disposed_at
            .as_ref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default()
    );
    if let Some(e) = &h.equivalent_label {
        text.push_str(&format!("  marked here: {} ({})\n", e.level, e.policy));
    }
    text.push_str(&format!("  location: {}\n", h.location));
    if let Some(d) = &h.made_detail {
        text.push_str(&format!("  made here: {d}\n"));
    }
    for s in &h.sources {
        text.push_str(&format!(
            "  source: {} ({}'s {}, {} {})\n",
            s.item, s.label.originator, s.origin_item, s.label.level, s.label.policy
        ));
    }
    for m in &h.derived {
        text.push_str(&format!(
            "  made from it: {} — {} ({})\n",
            m.id, m.detail, m.state
        ));
    }
    for e in &h.entries {
        let fields: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!(
            "  #{:<6} {}  {:<16} {}  {}\n",
            e.index,
            e.at,
            e.kind,
            e.item,
            fields.join("  ")
        ));
    }
    if let Some(n) = &h.next {
        text.push_str(&format!("(more: --next {n})\n"));
    }
    Ok(Outcome::ok(doc(&h), text))
}

/// How `gsomia inventory` prints.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per item.
    Text,
    /// Comma-separated values with a header line (RFC 4180).
    Csv,
}

/// Arguments of `gsomia inventory`.
#[derive(Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Only items held whose originator's return-or-destroy date has passed.
    #[arg(long)]
    due: bool,
    /// Only items still held.
    #[arg(long)]
    held: bool,
    /// Items per page (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Continue from a page's `next` cursor.
    #[arg(long)]
    next: Option<String>,
    /// Every page (progress on standard error).
    #[arg(long)]
    all: bool,
    /// Text or CSV (for an export; `--json` for JSON).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `gsomia inventory`.
#[expect(
    clippy::print_stderr,
    reason = "progress of a long export, on standard error"
)]
pub fn inventory(a: &InventoryArgs) -> Result<Outcome> {
    let c = client(&a.node)?;
    let mut filter = InventoryFilter {
        limit: Some(a.limit),
        next: a.next.clone(),
        due: a.due.then_some(true),
        held: a.held.then_some(true),
    };
    let mut inv = block(c.inventory(&filter)).map_err(failed)?;
    let mut pages = 1u64;
    while a.all && inv.next.is_some() {
        filter.next = inv.next.take();
        let more = block(c.inventory(&filter)).map_err(failed)?;
        inv.items.extend(more.items);
        inv.next = more.next;
        pages += 1;
        if pages.is_multiple_of(20) {
            eprintln!("inventory: {} items read ({pages} pages)", inv.items.len());
            let _ = std::io::stderr().flush();
        }
    }
    let mut text = String::new();
    match a.format {
        Format::Csv => {
            text.push_str("id,origin_item,originator,level,topics,received_from,created_at,state,made,source,dispose_by,overdue,disposed_at\n");
            for e in &inv.items {
                let row = [
                    e.id.clone(),
                    e.origin_item.clone(),
                    e.originator.clone(),
                    e.level.clone(),
                    e.topics.join(" "),
                    e.received_from.clone().unwrap_or_default(),
                    e.created_at.clone(),
                    e.state.clone(),
                    e.made.clone().unwrap_or_default(),
                    e.source.clone().unwrap_or_default(),
                    e.dispose_by.clone().unwrap_or_default(),
                    e.overdue.to_string(),
                    e.disposed_at.clone().unwrap_or_default(),
                ];
                let row: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                text.push_str(&row.join(","));
                text.push('\n');
            }
        }
        Format::Text => {
            for e in &inv.items {
                text.push_str(&format!(
                    "{}  {:<10} {} of {}{}{}{}\n",
                    e.id,
                    e.state,
                    e.level,
                    e.originator,
                    e.made
                        .as_ref()
                        .map(|m| format!(", {m}"))
                        .unwrap_or_default(),
                    e.dispose_by
                        .as_ref()
                        .map(|d| format!(", dispose by {d}"))
                        .unwrap_or_default(),
                    if e.overdue { " OVERDUE" } else { "" }
                ));
            }
            if let Some(n) = &inv.next {
                text.push_str(&format!("(more: --next {n})\n"));
            }
        }
    }
    Ok(Outcome::ok(doc(&inv), text))
}
