//! `gsomia demo`: the 2016–2023 history of the Japan–Korea agreement, replayed
//! through the pact engine at the instants that mattered, with a what-if
//! branch in which Seoul never suspended its 2019 notice.
//!
//! Every step states the outcome it expects; the demo exits 1 if any step
//! comes out otherwise, so it doubles as an end-to-end check.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gsomia_core::agreement::EventKind;
use gsomia_core::time::{format_in, parse_instant};
use gsomia_core::{
    AccessDecision, AgreementRef, Consent, ConsentScope, Decision, ItemLabels, Label, Reader,
    Registry, ReleaseRequest, Route, decide_access, decide_release,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::load;
use crate::out::{Outcome, rules};
use gsomia_core::explain::texts;

struct Step {
    at: Timestamp,
    branch: &'static str,
    title: String,
    outcome: String,
    expected: &'static str,
    reasons: Vec<gsomia_core::Reason>,
    details: Value,
}

struct Demo {
    steps: Vec<Step>,
    kst: TimeZone,
}

impl Demo {
    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    fn status(
        &mut self,
        reg: &Registry,
        branch: &'static str,
        a: AgreementRef,
        at: Timestamp,
        title: &str,
        expected: &'static str,
    ) -> Result<()> {
        let s = reg.status(a, at)?;
        self.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome: s.state.as_str().to_owned(),
            expected,
            details: json!({ "in_force": s.in_force, "term": s.term.map(|(n, _, _)| n + 1) }),
            reasons: s.reasons,
        });
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call per narrated exchange reads best flat"
    )]
    fn release(
        &mut self,
        reg: &Registry,
        branch: &'static str,
        label: &Label,
        holder: &str,
        to: &str,
        at: Timestamp,
        consents: &[Consent],
        title: &str,
        expected: &'static str,
    ) -> Result<Decision> {
        let req = ReleaseRequest {
            label,
            item: None,
            holder: reg.party(holder)?,
            recipient: reg.party(to)?,
            at,
            consents,
        };
        let d = decide_release(reg, &req);
        let mut details = json!({
            "holder": holder,
            "recipient": to,
            "originator_label": { "policy": reg.party_id(label.policy()), "level": reg.level_name(label.level) },
        });
        if let (Decision::Release(r), Some(o)) = (&d, details.as_object_mut()) {
            o.insert("agreement".into(), json!(reg.agreement_id(r.agreement)));
            o.insert(
                "route".into(),
                json!(match r.route {
                    Route::Direct => "direct",
                    Route::Onward { .. } => "onward",
                    Route::HubRelay { .. } => "hub_relay",
                    Route::Return => "return",
                }),
            );
            o.insert(
                "recipient_label".into(),
                json!({ "policy": reg.party_id(r.recipient_level.policy()), "level": reg.level_name(r.recipient_level) }),
            );
        }
        self.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome: if d.is_release() {
                "release"
            } else {
                "withhold"
            }
            .to_owned(),
            expected,
            reasons: reg.explain_decision(&d, at),
            details,
        });
        Ok(d)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call per narrated read reads best flat"
    )]
    fn read(
        &mut self,
        reg: &Registry,
        branch: &'static str,
        reader: &Reader,
        labels: &ItemLabels,
        at: Timestamp,
        title: &str,
        expected: &'static str,
    ) {
        let d = decide_access(reg, reader, labels, at);
        let zone = reg
            .policy(reader.party)
            .map_or(TimeZone::UTC, |p| p.zone().clone());
        self.push(Step {
            at,
            branch,
            title: title.to_owned(),
            outcome: if matches!(d, AccessDecision::Allow { .. }) {
                "allow"
            } else {
                "deny"
            }
            .to_owned(),
            expected,
            reasons: reg.explain_access(&d, &zone),
            details: json!({
                "reader": reg.party_id(reader.party),
                "clearance": reg.level_name(reader.clearance),
                "label_used": labels.in_policy(reader.party).map(|l| reg.level_name(l.level)),
            }),
        });
    }
}

fn kst(s: &str) -> Result<Timestamp> {
    parse_instant(s).with_context(|| format!("demo instant `{s}`"))
}

/// Runs the demo.
pub fn run(dir: Option<PathBuf>, _json: bool) -> Result<Outcome> {
    let reg = load::registry(dir)?;
    let jk = reg.agreement_ref("jp-kr-2016")?;
    let kst_zone = reg.agreement(jk).context("jp-kr-2016")?.zone().clone();
    let mut demo = Demo {
        steps: Vec::new(),
        kst: kst_zone,
    };
    let main = "history";
    let jpn = reg.party("JPN")?;
    let kor = reg.party("KOR")?;

    demo.status(
        &reg,
        main,
        jk,
        kst("2016-11-23T00:00:00+09:00")?,
        "The Japan–Korea agreement enters into force",
        "in_force",
    )?;

    // A 2017 launch: Korea reports to Japan.
    let launch_at = kst("2017-05-14T06:30:00+09:00")?;
    let report = reg.label(
        "KOR",
        "군사Ⅱ급비밀",
        &["dprk.missile"],
        Some(&["JPN", "USA"]),
        launch_at,
    )?;
    demo.release(
        &reg,
        main,
        &report,
        "KOR",
        "JPN",
        kst("2017-05-14T07:10:00+09:00")?,
        &[],
        "KOR sends its launch report (군사II급비밀, REL TO JPN USA) to JPN",
        "release",
    )?;
    let mut at_jpn = ItemLabels::new(report.clone());
    at_jpn.add_equivalent(
        reg.mark_received(&report, jpn, Some(jk), Some(launch_at))
            .map_err(|e| anyhow::anyhow!("{}", reg.explain_no_equivalent(&e)))?,
    );
    let analyst = Reader {
        party: jpn,
        clearance: reg.level(jpn, "極秘")?,
        clearance_until: kst("2027-04-01T00:00:00+09:00")?,
        need_to_know: reg.need_to_know(["dprk.missile"])?,
        contractor: None,
    };
    demo.read(&reg, main, &analyst, &at_jpn, kst("2017-05-14T08:00:00+09:00")?, "A JPN analyst with 極秘 clearance and need-to-know reads it (marked 極秘 beside the Korean label)", "allow");
    let clerk = Reader {
        need_to_know: reg.need_to_know(["defence.logistics"])?,
        ..analyst
    };
    demo.read(
        &reg,
        main,
        &clerk,
        &at_jpn,
        kst("2017-05-14T08:05:00+09:00")?,
        "A JPN officer with the same clearance but no need-to-know is refused",
        "deny",
    );
    let top = reg.label("KOR", "군사I급비밀", &["dprk.nuclear"], None, launch_at)?;
    demo.release(
        &reg,
        main,
        &top,
        "KOR",
        "JPN",
        kst("2017-09-04T10:00:00+09:00")?,
        &[],
        "KOR tries to send a 군사I급비밀 (TOP SECRET) assessment to JPN",
        "withhold",
    )?;

    // 2019.
    demo.status(
        &reg,
        main,
        jk,
        kst("2019-08-22T21:00:00+09:00")?,
        "Seoul announces it will terminate: a statement, not a notice",
        "in_force",
    )?;
    demo.status(
        &reg,
        main,
        jk,
        kst("2019-08-23T15:30:00+09:00")?,
        "Written notice of termination handed over, by the 2019-08-24 deadline",
        "notice_given",
    )?;
    let oct = reg.label(
        "KOR",
        "군사III급비밀",
        &["dprk.missile"],
        None,
        kst("2019-10-02T07:20:00+09:00")?,
    )?;
    demo.release(
        &reg,
        main,
        &oct,
        "KOR",
        "JPN",
        kst("2019-10-02T08:00:00+09:00")?,
        &[],
        "During the notice period, a launch report still goes to JPN",
        "release",
    )?;
    demo.status(
        &reg,
        main,
        jk,
        kst("2019-11-22T18:00:00+09:00")?,
        "Six hours before expiry Seoul suspends the effect of its notice",
        "notice_suspended",
    )?;
    let nov = reg.label(
        "JPN",
        "秘",
        &["dprk.missile"],
        None,
        kst("2019-11-23T00:00:00+09:00")?,
    )?;
    demo.release(
        &reg,
        main,
        &nov,
        "JPN",
        "KOR",
        kst("2019-11-23T00:00:00+09:00")?,
        &[],
        "At the would-be expiry instant, JPN sends a report to KOR",
        "release",
    )?;

    // The branch in which the suspension never happened.
    let suspend_ix = reg
        .agreement(jk)
        .context("jp-kr-2016")?
        .events()
        .iter()
        .position(|e| e.kind == EventKind::SuspendNotice)
        .context("the shipped history has a suspension")?;
    let branch_reg = reg.without_event(jk, suspend_ix)?;
    let branch = "without_suspension";
    demo.release(
        &branch_reg,
        branch,
        &nov,
        "JPN",
        "KOR",
        kst("2019-11-22T23:59:59.999999999+09:00")?,
        &[],
        "What if Seoul had not suspended: one nanosecond before expiry, still released",
        "release",
    )?;
    demo.release(
        &branch_reg,
        branch,
        &nov,
        "JPN",
        "KOR",
        kst("2019-11-23T00:00:00+09:00")?,
        &[],
        "…and at 2019-11-23T00:00:00+09:00, withheld",
        "withhold",
    )?;
    demo.read(
        &branch_reg,
        branch,
        &analyst,
        &at_jpn,
        kst("2019-12-02T09:00:00+09:00")?,
        "The 2017 report stays readable at JPN: protection survives termination",
        "allow",
    );

    // The trilateral arrangement: relay via the US hub.
    let relay_at = kst("2019-12-02T09:00:00+09:00")?;
    demo.release(
        &branch_reg,
        branch,
        &report,
        "KOR",
        "USA",
        relay_at,
        &[],
        "KOR gives the same kind of report to the US under the US–ROK agreement",
        "release",
    )?;
    demo.release(
        &branch_reg,
        branch,
        &report,
        "USA",
        "JPN",
        relay_at,
        &[],
        "The US hub wants to forward it to JPN: no Korean consent yet",
        "withhold",
    )?;
    let consent = Consent {
        originator: kor,
        holder: reg.party("USA")?,
        recipient: jpn,
        scope: ConsentScope::Topics(reg.need_to_know(["dprk.missile"])?),
        granted_at: kst("2019-12-02T10:00:00+09:00")?,
        expires_at: kst("2020-12-02T00:00:00+09:00")?,
        revoked_at: None,
    };
    demo.release(
        &branch_reg,
        branch,
        &report,
        "USA",
        "JPN",
        kst("2019-12-02T10:30:00+09:00")?,
        std::slice::from_ref(&consent),
        "KOR consents in writing (dprk.missile, to JPN, one year): the hub relays",
        "release",
    )?;

    demo.status(
        &reg,
        main,
        jk,
        kst("2023-03-21T09:00:00+09:00")?,
        "Seoul withdraws both 2019 notes: the agreement was never out of force",
        "in_force",
    )?;
    demo.status(
        &reg,
        main,
        jk,
        kst("2026-11-23T00:00:00+09:00")?,
        "Ten years on, the term renews again",
        "in_force",
    )?;

    Ok(render(&demo))
}

fn render(demo: &Demo) -> Outcome {
    let mut text = String::from(
        "gsomia demo — the Japan–Korea GSOMIA, 2016–2026, decided by the pact engine\n\n",
    );
    let mut docs = Vec::new();
    let mut all_ok = true;
    let mut branch = "history".to_owned();
    for (i, s) in demo.steps.iter().enumerate() {
        let step = crate::narrate::Step {
            number: i + 1,
            at: format_in(s.at, &demo.kst),
            branch: s.branch,
            title: &s.title,
            outcome: &s.outcome,
            expected: s.expected,
            details: &s.details,
        };
        all_ok &= step.ok();
        step.write(&mut text, &mut branch, "");
        // Status steps end with what decided them; decisions start with it.
        let shown: Vec<&gsomia_core::Reason> = if s.details.get("in_force").is_some() {
            s.reasons.iter().skip(1).rev().take(2).rev().collect()
        } else {
            s.reasons.iter().take(4).collect()
        };
        for r in shown {
            let _ = writeln!(text, "       · {r}");
        }
        docs.push(step.doc(texts(&s.reasons), rules(&s.reasons)));
    }
    let _ = writeln!(
        text,
        "\n{} of {} steps as expected.",
        crate::narrate::passed(&docs),
        docs.len()
    );
    Outcome::answer(
        json!({ "steps": docs, "all_as_expected": all_ok }),
        text,
        !all_ok,
    )
}
