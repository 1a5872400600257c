//! `gsomia agreement …`, `policy …`, `topic …` and `label map`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gsomia_core::agreement::{Agreement, TermRule};
use gsomia_core::explain::Next;
use gsomia_core::time::{self, InstantOrDate};
use gsomia_core::{AgreementRef, Registry};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::load::{self, ProfileArg, Request};
use crate::out::{self, Outcome, bullets, rules};
use gsomia_core::explain::texts;

fn registry_with_agreement(dir: Option<PathBuf>, arg: &str) -> Result<(Registry, AgreementRef)> {
    let loaded = load::load(&Request {
        dir,
        agreements: vec![ProfileArg::parse(arg)],
        policies: Vec::new(),
    })?;
    let id = loaded.agreement_ids.first().cloned().unwrap_or_default();
    let r = loaded.registry.agreement_ref(&id)?;
    Ok((loaded.registry, r))
}

fn fmt(a: &Agreement, ts: Timestamp) -> String {
    time::format_in(ts, a.zone())
}

fn parties(reg: &Registry, a: &Agreement) -> Vec<String> {
    a.parties()
        .iter()
        .map(|p| reg.party_id(*p).to_owned())
        .collect()
}

/// `gsomia agreement list`.
pub fn list(dir: Option<PathBuf>, at: Option<&str>) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let at = out::instant_or_now(at, "--at")?;
    let mut docs = Vec::new();
    let mut text = format!(
        "{:<14} {:<16} {:<14} {:<18} {}\n",
        "AGREEMENT", "KIND", "PARTIES", "STATE", "IN FORCE SINCE"
    );
    for r in reg.agreement_refs() {
        let Some(a) = reg.agreement(r) else { continue };
        let status = reg.status(r, at)?;
        let lc = a.lifecycle();
        docs.push(json!({
            "id": a.id().as_str(),
            "title": a.title(),
            "kind": a.kind().as_str(),
            "parties": parties(&reg, a),
            "hub": a.hub().map(|h| reg.party_id(h)),
            "entry_into_force": fmt(a, lc.entry_into_force),
            "termination": lc.termination.map(|t| fmt(a, t)),
            "at": fmt(a, at),
            "state": status.state.as_str(),
            "in_force": status.in_force,
        }));
        let _ = writeln!(
            text,
            "{:<14} {:<16} {:<14} {:<18} {}",
            a.id(),
            a.kind().as_str(),
            parties(&reg, a).join(","),
            status.state.as_str(),
            time::date_in(lc.entry_into_force, a.zone())
        );
    }
    let _ = writeln!(text, "\nstatus at {}", at);
    Ok(Outcome::ok(
        json!({ "at": at.to_string(), "agreements": docs }),
        text,
    ))
}

fn next_json(a: &Agreement, next: Option<Next>) -> Value {
    match next {
        Some(Next::Renewal(t)) => json!({ "kind": "renewal", "at": fmt(a, t) }),
        Some(Next::Termination(t)) => json!({ "kind": "termination", "at": fmt(a, t) }),
        Some(Next::EntryIntoForce(t)) => json!({ "kind": "entry_into_force", "at": fmt(a, t) }),
        None => Value::Null,
    }
}

/// `gsomia agreement status`.
pub fn status(dir: Option<PathBuf>, arg: &str, at: Option<&str>) -> Result<Outcome> {
    let (reg, r) = registry_with_agreement(dir, arg)?;
    let at = out::instant_or_now(at, "--at")?;
    let a = reg.agreement(r).context("agreement vanished")?;
    let s = reg.status(r, at)?;
    let events: Vec<Value> = s
        .deciding_events
        .iter()
        .filter_map(|i| a.events().get(*i))
        .map(|e| {
            json!({
                "at": fmt(a, e.at),
                "kind": e.kind.as_str(),
                "by": e.by.map(|b| reg.party_id(b)),
                "summary": e.summary,
            })
        })
        .collect();
    let doc = json!({
        "agreement": a.id().as_str(),
        "at": fmt(a, at),
        "in_force": s.in_force,
        "state": s.state.as_str(),
        "version": s.version,
        "term": s.term.map(|(n, _, _)| n + 1),
        "term_start": s.term.map(|(_, start, _)| fmt(a, start)),
        // A term that runs past the end of the calendar has no end to show.
        "term_end": s.term.and_then(|(_, _, end)| (end < Timestamp::MAX).then(|| fmt(a, end))),
        "next": next_json(a, s.next),
        "events": events,
        "reasons": texts(&s.reasons),
        "rules": rules(&s.reasons),
    });
    let mut text = format!(
        "{} at {}: {} ({})\n",
        a.id(),
        fmt(a, at),
        if s.in_force {
            "IN FORCE"
        } else {
            "NOT IN FORCE"
        },
        s.state.as_str()
    );
    if let Some((n, start, end)) = s.term {
        let end = if end == Timestamp::MAX {
            "the end of the calendar (9999)".to_owned()
        } else {
            fmt(a, end)
        };
        let _ = writeln!(text, "  term {}: {} – {end}", n + 1, fmt(a, start));
    }
    match s.next {
        Some(Next::Renewal(t)) => {
            let _ = writeln!(text, "  next: renewal at {}", fmt(a, t));
        }
        Some(Next::Termination(t)) => {
            let _ = writeln!(text, "  next: termination at {}", fmt(a, t));
        }
        Some(Next::EntryIntoForce(t)) => {
            let _ = writeln!(text, "  next: entry into force at {}", fmt(a, t));
        }
        None => {}
    }
    text.push_str("reasons:\n");
    text.push_str(&bullets(&s.reasons));
    Ok(Outcome::ok(doc, text))
}

/// `gsomia agreement timeline`.
pub fn timeline(dir: Option<PathBuf>, arg: &str, until: Option<&str>) -> Result<Outcome> {
    let (reg, r) = registry_with_agreement(dir, arg)?;
    let a = reg.agreement(r).context("agreement vanished")?;
    let until = match until {
        Some(u) => time::parse_instant_or_date(u)
            .context("invalid `--until`")?
            .end_exclusive(a.zone())?
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(Timestamp::MAX),
        None => out::now(),
    };
    let entries = reg.timeline(r, until)?;
    let mut text = format!("{} — {}\n", a.id(), a.title());
    let docs: Vec<Value> = entries
        .iter()
        .map(|e| {
            let cites: Vec<String> = e.cites.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                text,
                "{}  {:<17} {} ({})",
                fmt(a, e.at),
                e.kind,
                e.text,
                cites.join("; ")
            );
            json!({ "at": fmt(a, e.at), "kind": e.kind, "text": e.text, "rules": cites })
        })
        .collect();
    let until_text = if until == Timestamp::MAX {
        "end".to_owned()
    } else {
        fmt(a, until)
    };
    Ok(Outcome::ok(
        json!({ "agreement": a.id().as_str(), "until": until_text, "entries": docs }),
        text,
    ))
}

/// `gsomia agreement show`.
pub fn show(dir: Option<PathBuf>, arg: &str) -> Result<Outcome> {
    let (reg, r) = registry_with_agreement(dir, arg)?;
    let a = reg.agreement(r).context("agreement vanished")?;
    let v = a.latest().context("agreement has no version")?;
    let grades: Vec<Value> = v
        .coverage
        .grades()
        .iter()
        .map(|g| {
            let levels: serde_json::Map<String, Value> = g
                .levels
                .iter()
                .map(|(p, ls)| {
                    (
                        reg.party_id(*p).to_owned(),
                        json!(ls.iter().map(|l| reg.level_name(*l)).collect::<Vec<_>>()),
                    )
                })
                .collect();
            json!({ "grade": g.name, "levels": levels })
        })
        .collect();
    let topics: Vec<&str> = v
        .topic_roots
        .iter()
        .map(|t| reg.topics().name(*t))
        .collect();
    let term = match a.schedule().term {
        TermRule::Renewing { years } => json!({ "kind": "renewing", "years": years }),
        TermRule::Indefinite => json!({ "kind": "indefinite" }),
    };
    let rules_doc: Vec<Value> = a
        .rules()
        .iter()
        .map(|r| json!({ "id": r.id, "text": r.text }))
        .collect();
    let doc = json!({
        "id": a.id().as_str(),
        "title": a.title(),
        "kind": a.kind().as_str(),
        "parties": parties(&reg, a),
        "hub": a.hub().map(|h| reg.party_id(h)),
        "zone": a.zone_name(),
        "signed": a.signed().map(|d| d.to_string()),
        "entry_into_force": fmt(a, a.lifecycle().entry_into_force),
        "term": term,
        "notice_days": a.schedule().notice.days,
        "topics": topics,
        "coverage": grades,
        "data_elements": a.data_elements(),
        "versions": a.versions().len(),
        "rules": rules_doc,
        "notes": a.notes(),
    });
    let mut text = format!("{} — {}\n", a.id(), a.title());
    let _ = writeln!(text, "  kind      {}", a.kind().as_str());
    let _ = writeln!(text, "  parties   {}", parties(&reg, a).join(", "));
    if let Some(h) = a.hub() {
        let _ = writeln!(text, "  hub       {}", reg.party_id(h));
    }
    let _ = writeln!(
        text,
        "  in force  {}",
        fmt(a, a.lifecycle().entry_into_force)
    );
    let _ = writeln!(text, "  topics    {}", topics.join(", "));
    if !a.data_elements().is_empty() {
        let _ = writeln!(text, "  elements  {}", a.data_elements().join(", "));
    }
    text.push_str("  levels\n");
    for g in v.coverage.grades() {
        let row: Vec<String> = g
            .levels
            .iter()
            .map(|(p, ls)| {
                let names: Vec<&str> = ls.iter().map(|l| reg.level_name(*l)).collect();
                format!("{} {}", reg.party_id(*p), names.join("/"))
            })
            .collect();
        let _ = writeln!(text, "    {:<13} {}", g.name, row.join("  ↔  "));
    }
    text.push_str("  rules\n");
    for r in a.rules() {
        let _ = writeln!(text, "    {:<12} {}", r.id, r.text);
    }
    for n in a.notes() {
        let _ = writeln!(text, "  note: {n}");
    }
    Ok(Outcome::ok(doc, text))
}

/// `gsomia policy list`.
pub fn policy_list(dir: Option<PathBuf>) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let mut text = String::new();
    let docs: Vec<Value> = reg
        .policies()
        .iter()
        .map(|p| {
            let _ = writeln!(text, "{}  {} ({})", p.party(), p.name(), p.zone_name());
            json!({ "party": p.party().as_str(), "name": p.name(), "zone": p.zone_name(), "levels": p.levels().len() })
        })
        .collect();
    Ok(Outcome::ok(json!({ "policies": docs }), text))
}

/// `gsomia policy show`.
pub fn policy_show(dir: Option<PathBuf>, arg: &str) -> Result<Outcome> {
    let loaded = load::load(&Request {
        dir,
        agreements: Vec::new(),
        policies: vec![ProfileArg::parse(arg)],
    })?;
    let reg = loaded.registry;
    let p = reg.party(loaded.party_ids.first().map_or(arg, String::as_str))?;
    let policy = reg.policy(p).context("policy vanished")?;
    let mut text = format!(
        "{} — {} ({})\n",
        policy.party(),
        policy.name(),
        policy.zone_name()
    );
    text.push_str(
        "  LEVEL          ROMANIZATION           ENGLISH                        RANK  ALIASES\n",
    );
    let levels: Vec<Value> = policy
        .levels()
        .iter()
        .map(|l| {
            let _ = writeln!(
                text,
                "  {:<14} {:<22} {:<30} {:>4}  {}{}",
                l.native,
                l.romanization,
                l.english,
                l.rank,
                l.aliases.join(", "),
                if l.classified { "" } else { "  (unclassified)" }
            );
            json!({
                "native": l.native, "romanization": l.romanization, "english": l.english,
                "rank": l.rank, "classified": l.classified, "aliases": l.aliases, "note": l.note,
            })
        })
        .collect();
    Ok(Outcome::ok(
        json!({ "party": policy.party().as_str(), "name": policy.name(), "zone": policy.zone_name(), "levels": levels }),
        text,
    ))
}

/// `gsomia topic list`.
pub fn topic_list(dir: Option<PathBuf>) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let mut text = String::new();
    let docs: Vec<Value> = reg
        .topics()
        .list()
        .iter()
        .map(|t| {
            let depth = t.id.as_str().matches('.').count();
            let _ = writeln!(text, "{}{:<24} {}", "  ".repeat(depth), t.id, t.title);
            json!({ "id": t.id.as_str(), "title": t.title })
        })
        .collect();
    Ok(Outcome::ok(json!({ "topics": docs }), text))
}

/// `gsomia label map`.
pub fn label_map(
    dir: Option<PathBuf>,
    policy: &str,
    level: &str,
    to: &str,
    agreement: Option<&str>,
    at: Option<&str>,
) -> Result<Outcome> {
    let loaded = load::load(&Request {
        dir,
        agreements: agreement.map(ProfileArg::parse).into_iter().collect(),
        policies: vec![ProfileArg::parse(policy), ProfileArg::parse(to)],
    })?;
    let reg = &loaded.registry;
    let from_party = reg.party(loaded.party_ids.first().map_or(policy, String::as_str))?;
    let to_party = reg.party(loaded.party_ids.get(1).map_or(to, String::as_str))?;
    let from_level = reg.level(from_party, level)?;
    let at = at.map(|t| out::instant(t, "--at")).transpose()?;
    let candidates: Vec<AgreementRef> = match loaded.agreement_ids.first() {
        Some(id) => vec![reg.agreement_ref(id)?],
        None => reg.linking(from_party, to_party),
    };
    let level_doc = |l: gsomia_core::LevelRef| {
        let info = reg.level_info(l);
        json!({
            "policy": reg.party_id(l.policy()),
            "level": reg.level_name(l),
            "romanization": info.map(|i| i.romanization.as_str()),
            "english": info.map(|i| i.english.as_str()),
        })
    };
    let mut mappings = Vec::new();
    let mut refusals = Vec::new();
    for r in &candidates {
        match reg.equivalent(from_level, to_party, *r, at) {
            Ok(l) => {
                let a = reg.agreement(*r).context("agreement vanished")?;
                let grade = a
                    .latest()
                    .and_then(|v| {
                        v.coverage
                            .grade_of(from_level)
                            .and_then(|g| v.coverage.grades().get(g))
                    })
                    .map(|g| g.name.clone());
                mappings.push((
                    *r,
                    l,
                    json!({
                        "agreement": a.id().as_str(),
                        "grade": grade,
                        "level": level_doc(l),
                        "rule": format!("{} {}", a.id(), a.rule_id(a.cites().coverage)),
                    }),
                ));
            }
            Err(e) => refusals.push(reg.explain_no_equivalent(&e)),
        }
    }
    if candidates.is_empty() {
        refusals.push(reg.explain_no_equivalent(
            &gsomia_core::registry::NoEquivalent::NoAgreement {
                from: from_party,
                to: to_party,
            },
        ));
    }
    let from_doc = level_doc(from_level);
    if let Some((r, l, _)) = mappings.first() {
        let a = reg.agreement(*r).context("agreement vanished")?;
        let mut text = format!(
            "{} ({}) → {} ({}) under {} [{}]\n",
            reg.level_name(from_level),
            reg.party_id(from_party),
            reg.level_name(*l),
            reg.party_id(to_party),
            a.id(),
            format_args!("{} {}", a.id(), a.rule_id(a.cites().coverage))
        );
        for (r2, l2, _) in mappings.iter().skip(1) {
            let _ = writeln!(
                text,
                "  also {} under {}",
                reg.level_name(*l2),
                reg.agreement_id(*r2)
            );
        }
        let doc = json!({
            "decision": "equivalent",
            "from": from_doc,
            "to": level_doc(*l),
            "agreement": a.id().as_str(),
            "mappings": mappings.iter().map(|(_, _, d)| d.clone()).collect::<Vec<_>>(),
        });
        return Ok(Outcome::ok(doc, text));
    }
    let text = format!(
        "NO EQUIVALENT for {} ({}) in {}'s policy\n{}",
        reg.level_name(from_level),
        reg.party_id(from_party),
        reg.party_id(to_party),
        bullets(&refusals)
    );
    let doc = json!({
        "decision": "no_equivalent",
        "from": from_doc,
        "to_party": reg.party_id(to_party),
        "reasons": texts(&refusals),
        "rules": rules(&refusals),
    });
    Ok(Outcome::answer(doc, text, true))
}

/// Parses a date or an instant for a party's zone (helper shared with `decide`).
pub fn until_in_zone(text: &str, zone: &jiff::tz::TimeZone, flag: &str) -> Result<Timestamp> {
    let v: InstantOrDate =
        time::parse_instant_or_date(text).with_context(|| format!("invalid `{flag}`"))?;
    Ok(v.end_exclusive(zone)?)
}
