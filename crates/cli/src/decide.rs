//! `gsomia decide release` and `gsomia decide access`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gsomia_core::decision::Route;
use gsomia_core::{
    AccessDecision, Consent, Decision, ItemId, ItemLabels, Label, Reader, Registry, ReleaseRequest,
    Source, decide_access, decide_release,
};
use serde_json::{Value, json};

use crate::agreement::until_in_zone;
use crate::load::{self, ProfileArg, Request};
use crate::out::{self, Outcome, bullets, rules};
use gsomia_core::explain::texts;

/// Arguments of `decide release`.
#[derive(Args)]
pub struct ReleaseArgs {
    /// The party that originated the item (code or policy file).
    #[arg(long)]
    originator: String,
    /// The party holding the item and releasing it; default: the originator.
    #[arg(long)]
    holder: Option<String>,
    /// The party it would go to.
    #[arg(long)]
    to: String,
    /// The originator's classification level.
    #[arg(long)]
    level: String,
    /// A topic of the item (repeat for several).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// The REL TO marking (repeat for several parties); none: unmarked.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    /// A consent document from the originator (TOML; repeat for several).
    #[arg(long = "consent", value_name = "FILE")]
    consents: Vec<PathBuf>,
    /// The item's id (for item-scoped consents).
    #[arg(long)]
    item: Option<String>,
    /// The instant of release (RFC 3339 with offset).
    #[arg(long)]
    at: String,
    /// When the originator labelled the item; default: the instant of release.
    #[arg(long)]
    created_at: Option<String>,
    /// An agreement file to load beside the shipped ones (replaces one with the same id).
    #[arg(long = "agreement", value_name = "ID|FILE")]
    agreements: Vec<String>,
}

/// Arguments of `decide access`.
#[derive(Args)]
pub struct AccessArgs {
    /// The reader's party (code or policy file).
    #[arg(long)]
    party: String,
    /// The reader's clearance, a level of the reader's policy.
    #[arg(long)]
    clearance: String,
    /// Last day of the clearance (a date is a civil date in the reader's
    /// party's zone, valid through that day) or an instant with offset.
    #[arg(long)]
    clearance_until: String,
    /// A topic the reader needs to know (repeat; covers subtopics).
    #[arg(long = "need-to-know")]
    need_to_know: Vec<String>,
    /// The party that originated the item.
    #[arg(long)]
    originator: String,
    /// The originator's classification level.
    #[arg(long)]
    level: String,
    /// A topic of the item (repeat for several).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// The REL TO marking (repeat); none: unmarked.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    /// The agreement under which the reader's party received the item (id or
    /// file); default: the first agreement linking the two that covers the level.
    #[arg(long)]
    agreement: Option<String>,
    /// The instant of the read (RFC 3339 with offset).
    #[arg(long)]
    at: String,
    /// When the reader's party received the item: it is read under the
    /// equivalent label recorded then (the table of the agreement version in
    /// effect at that instant), whatever amendments came after. Default:
    /// `--at`, an item received as it is read.
    #[arg(long)]
    received_at: Option<String>,
}

fn label_doc(reg: &Registry, label: &Label) -> Value {
    let info = reg.level_info(label.level);
    json!({
        "policy": reg.party_id(label.policy()),
        "level": reg.level_name(label.level),
        "english": info.map(|i| i.english.as_str()),
        "originator": reg.party_id(label.originator),
        "created_at": label.created_at.to_string(),
        "topics": label.topics.iter().map(|t| reg.topics().name(t)).collect::<Vec<_>>(),
        "rel_to": label.rel_to.map(|s| s.iter().map(|p| reg.party_id(p)).collect::<Vec<_>>()),
    })
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `gsomia decide release`.
pub fn release(dir: Option<PathBuf>, a: &ReleaseArgs) -> Result<Outcome> {
    let holder_arg = a.holder.clone().unwrap_or_else(|| a.originator.clone());
    let loaded = load::load(&Request {
        dir,
        agreements: a.agreements.iter().map(|s| ProfileArg::parse(s)).collect(),
        policies: [&a.originator, &holder_arg, &a.to]
            .into_iter()
            .map(|s| ProfileArg::parse(s))
            .collect(),
    })?;
    let reg = &loaded.registry;
    for id in &loaded.agreement_ids {
        reg.agreement_ref(id)?;
    }
    let name = |i: usize, fallback: &str| {
        loaded
            .party_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| fallback.to_owned())
    };
    let originator = reg
        .party(&name(0, &a.originator))
        .context("invalid `--originator`")?;
    let holder = reg
        .party(&name(1, &holder_arg))
        .context("invalid `--holder`")?;
    let recipient = reg.party(&name(2, &a.to)).context("invalid `--to`")?;
    let at = out::instant(&a.at, "--at")?;
    let created_at = match &a.created_at {
        Some(c) => out::instant(c, "--created-at")?,
        None => at,
    };
    let rel_to = (!a.rel_to.is_empty()).then(|| strs(&a.rel_to));
    let label = reg
        .label(
            reg.party_id(originator),
            &a.level,
            &strs(&a.topics),
            rel_to.as_deref(),
            created_at,
        )
        .context("invalid label")?;
    let mut consents: Vec<Consent> = Vec::new();
    for f in &a.consents {
        let text = gsomia_node::files::read_text(f)
            .with_context(|| format!("cannot read consent `{}`", f.display()))?;
        let src = Source {
            name: f.display().to_string(),
            text,
        };
        consents.push(Consent::from_toml(&src, reg).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let item = a.item.as_ref().map(ItemId::new);
    let req = ReleaseRequest {
        label: &label,
        item: item.as_ref(),
        holder,
        recipient,
        at,
        consents: &consents,
    };
    let decision = decide_release(reg, &req);
    Ok(render_release(reg, &req, &decision))
}

/// The output of a release decision (shared with the demo).
pub fn render_release(reg: &Registry, req: &ReleaseRequest<'_>, decision: &Decision) -> Outcome {
    let reasons = reg.explain_decision(decision, req.at);
    let zone = reg
        .policy(req.holder)
        .map(|p| p.zone().clone())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let at = gsomia_core::time::format_in(req.at, &zone);
    let mut doc = json!({
        "decision": if decision.is_release() { "release" } else { "withhold" },
        "at": at,
        "originator": reg.party_id(req.label.originator),
        "holder": reg.party_id(req.holder),
        "recipient": reg.party_id(req.recipient),
        "label": label_doc(reg, req.label),
        "agreement": Value::Null,
        "reasons": texts(&reasons),
        "rules": rules(&reasons),
    });
    let mut text;
    match decision {
        Decision::Release(r) => {
            let route = match r.route {
                Route::Direct => json!({ "kind": "direct" }),
                Route::Onward {
                    received_under,
                    consent,
                } => json!({
                    "kind": "onward", "received_under": reg.agreement_id(received_under), "consent": consent + 1,
                }),
                Route::HubRelay {
                    arrangement,
                    received_under,
                    consent,
                } => json!({
                    "kind": "hub_relay", "arrangement": reg.agreement_id(arrangement),
                    "received_under": reg.agreement_id(received_under), "consent": consent + 1,
                }),
                Route::Return => json!({ "kind": "return" }),
            };
            if let Some(o) = doc.as_object_mut() {
                o.insert("agreement".into(), json!(reg.agreement_id(r.agreement)));
                o.insert("version".into(), json!(r.version));
                o.insert("route".into(), route.clone());
                o.insert(
                    "recipient_level".into(),
                    json!({ "policy": reg.party_id(r.recipient_level.policy()), "level": reg.level_name(r.recipient_level) }),
                );
            }
            text = format!(
                "RELEASE  {} → {}  at {}\n  agreement  {} (version {}), route {}\n  marking    {} ({}) → {} ({})\n",
                reg.party_id(req.holder),
                reg.party_id(req.recipient),
                at,
                reg.agreement_id(r.agreement),
                r.version,
                route.get("kind").and_then(Value::as_str).unwrap_or("?"),
                reg.level_name(req.label.level),
                reg.party_id(req.label.originator),
                reg.level_name(r.recipient_level),
                reg.party_id(r.recipient_level.policy()),
            );
        }
        Decision::Withhold(_) => {
            text = format!(
                "WITHHOLD  {} → {}  at {}\n  item       {} ({})\n",
                reg.party_id(req.holder),
                reg.party_id(req.recipient),
                at,
                reg.level_name(req.label.level),
                reg.party_id(req.label.originator),
            );
        }
    }
    text.push_str("reasons:\n");
    text.push_str(&bullets(&reasons));
    Outcome::answer(doc, text, !decision.is_release())
}

/// `gsomia decide access`.
pub fn access(dir: Option<PathBuf>, a: &AccessArgs) -> Result<Outcome> {
    let loaded = load::load(&Request {
        dir,
        agreements: a.agreement.iter().map(|s| ProfileArg::parse(s)).collect(),
        policies: [&a.party, &a.originator]
            .into_iter()
            .map(|s| ProfileArg::parse(s))
            .collect(),
    })?;
    let reg = &loaded.registry;
    let party = reg
        .party(
            loaded
                .party_ids
                .first()
                .map_or(a.party.as_str(), String::as_str),
        )
        .context("invalid `--party`")?;
    let originator = reg
        .party(
            loaded
                .party_ids
                .get(1)
                .map_or(a.originator.as_str(), String::as_str),
        )
        .context("invalid `--originator`")?;
    let agreement = loaded
        .agreement_ids
        .first()
        .map(|id| reg.agreement_ref(id))
        .transpose()?;
    let at = out::instant(&a.at, "--at")?;
    let received_at = match &a.received_at {
        Some(r) => out::instant(r, "--received-at")?,
        None => at,
    };
    if received_at > at {
        anyhow::bail!("`--received-at` {received_at} is after the read at {at}");
    }
    let zone = reg.policy(party).context("party vanished")?.zone().clone();
    let reader = Reader {
        party,
        clearance: reg
            .level(party, &a.clearance)
            .context("invalid `--clearance`")?,
        clearance_until: until_in_zone(&a.clearance_until, &zone, "--clearance-until")?,
        need_to_know: reg
            .need_to_know(strs(&a.need_to_know))
            .context("invalid `--need-to-know`")?,
        contractor: None,
    };
    let rel_to = (!a.rel_to.is_empty()).then(|| strs(&a.rel_to));
    let label = reg
        .label(
            reg.party_id(originator),
            &a.level,
            &strs(&a.topics),
            rel_to.as_deref(),
            received_at,
        )
        .context("invalid label")?;
    let mut labels = ItemLabels::new(label.clone());
    let mut marking_reason = None;
    if originator != party {
        // The equivalent label recorded at receipt (rules 5 and 7).
        match reg.mark_received(&label, party, agreement, Some(received_at)) {
            Ok(eq) => labels.add_equivalent(eq),
            Err(e) => marking_reason = Some(reg.explain_no_equivalent(&e)),
        }
    }
    let decision = decide_access(reg, &reader, &labels, at);
    let mut reasons = reg.explain_access(&decision, &zone);
    if let Some(r) = marking_reason {
        reasons.insert(0, r);
    }
    let used = labels.in_policy(party);
    let at_text = gsomia_core::time::format_in(at, &zone);
    let doc = json!({
        "decision": if decision.is_allow() { "allow" } else { "deny" },
        "at": at_text,
        "reader": {
            "party": reg.party_id(party),
            "clearance": reg.level_name(reader.clearance),
            "clearance_until": gsomia_core::time::format_in(reader.clearance_until, &zone),
            "need_to_know": strs(&a.need_to_know),
        },
        "original_label": label_doc(reg, labels.original()),
        "equivalent_label": labels.equivalents().first().map(|e| {
            let mut d = label_doc(reg, &e.label);
            if let Some(o) = d.as_object_mut() {
                o.insert(
                    "agreement".into(),
                    json!(e.agreement.map(|a| reg.agreement_id(a))),
                );
            }
            d
        }),
        "label_used": used.map(|l| reg.level_name(l.level)),
        "reasons": texts(&reasons),
        "rules": rules(&reasons),
    });
    let mut text = format!(
        "{}  {} reader with {} at {}\n",
        if decision.is_allow() { "ALLOW" } else { "DENY" },
        reg.party_id(party),
        reg.level_name(reader.clearance),
        at_text
    );
    let _ = writeln!(
        text,
        "  item       {} ({}){}",
        reg.level_name(label.level),
        reg.party_id(originator),
        match labels.equivalents().first() {
            Some(e) => format!(
                ", marked {} ({}){}",
                reg.level_name(e.label.level),
                reg.party_id(party),
                e.agreement
                    .map(|a| format!(" under {}", reg.agreement_id(a)))
                    .unwrap_or_default()
            ),
            None => String::new(),
        }
    );
    text.push_str("reasons:\n");
    text.push_str(&bullets(&reasons));
    let refused = matches!(decision, AccessDecision::Deny(_));
    Ok(Outcome::answer(doc, text, refused))
}
