//! `gsomia facility add|inspect|brief|list|show`: contractor facilities
//! (Art 16; rule 15) on a running node, for security officers (auditors
//! may list and show).

use anyhow::Result;
use clap::Subcommand;
use gsomia_api::{AddFacility, BriefPerson, FacilityView, InspectFacility};

use crate::out::Outcome;
use crate::serve::{NodeArgs, block, client, doc, failed};

/// `gsomia facility …`.
#[derive(Subcommand)]
pub enum FacilityCmd {
    /// Enter a contractor facility: its facility security clearance and responsible person.
    Add {
        #[command(flatten)]
        node: NodeArgs,
        /// Its name.
        #[arg(long)]
        name: String,
        /// Its facility security clearance (a classified level of your policy).
        #[arg(long)]
        clearance: String,
        /// Last day of that clearance (a date in your zone) or an instant.
        #[arg(long)]
        until: String,
        /// The person responsible for security there (a registered person's id).
        #[arg(long)]
        responsible: String,
    },
    /// Record an inspection (passed unless --failed), with its findings.
    Inspect {
        #[command(flatten)]
        node: NodeArgs,
        /// The facility.
        id: String,
        /// What the inspectors found.
        #[arg(long)]
        findings: String,
        /// The facility failed the inspection.
        #[arg(long)]
        failed: bool,
    },
    /// Record the security briefing of a person of the facility.
    Brief {
        #[command(flatten)]
        node: NodeArgs,
        /// The facility.
        id: String,
        /// The person briefed.
        #[arg(long)]
        person: String,
    },
    /// Every facility and what fails there now.
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One facility: inspections, briefings, people, what fails now.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The facility.
        id: String,
    },
}

fn describe(f: &FacilityView) -> String {
    let mut t = format!(
        "{}  {} — clearance {} until {}, responsible {}{}\n",
        f.id,
        f.name,
        f.clearance,
        f.cleared_until,
        f.responsible,
        if f.verified {
            ""
        } else {
            " (RECORDS DO NOT VERIFY)"
        }
    );
    for i in &f.inspections {
        t.push_str(&format!(
            "  inspected {} {} by {}: {}\n",
            i.at,
            if i.passed { "PASSED" } else { "FAILED" },
            i.by,
            i.findings
        ));
    }
    for p in &f.people {
        let briefed = f
            .briefings
            .iter()
            .find(|b| &b.person == p)
            .map_or("never briefed".to_owned(), |b| format!("briefed {}", b.at));
        t.push_str(&format!("  person {p}: {briefed}\n"));
    }
    if f.failing.is_empty() {
        t.push_str("  conditions hold (each person once briefed) — Art 16\n");
    }
    for r in &f.failing {
        t.push_str(&format!("  FAILS  {r}\n"));
    }
    t
}

/// Runs one `facility` command.
pub fn run(cmd: FacilityCmd) -> Result<Outcome> {
    let v = match cmd {
        FacilityCmd::Add {
            node,
            name,
            clearance,
            until,
            responsible,
        } => block(client(&node)?.add_facility(&AddFacility {
            name,
            clearance,
            cleared_until: until,
            responsible,
        })),
        FacilityCmd::Inspect {
            node,
            id,
            findings,
            failed,
        } => block(client(&node)?.inspect_facility(
            &id,
            &InspectFacility {
                passed: !failed,
                findings,
            },
        )),
        FacilityCmd::Brief { node, id, person } => {
            block(client(&node)?.brief(&id, &BriefPerson { person }))
        }
        FacilityCmd::Show { node, id } => block(client(&node)?.facility(&id)),
        FacilityCmd::List { node } => {
            let l = block(client(&node)?.facilities()).map_err(failed)?;
            let text: String = l.facilities.iter().map(describe).collect();
            return Ok(Outcome::ok(doc(&l), text));
        }
    };
    let v = v.map_err(failed)?;
    Ok(Outcome::ok(doc(&v), describe(&v)))
}
