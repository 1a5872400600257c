//! How both demos narrate a self-checking step: the branch it belongs to,
//! the instant, what was done, the outcome (and the expected one when they
//! differ), the labels when an item crossed, and one JSON document per step.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// One narrated step.
pub struct Step<'a> {
    /// Its number, from 1.
    pub number: usize,
    /// When, as shown.
    pub at: String,
    /// The branch of history.
    pub branch: &'a str,
    /// What was done.
    pub title: &'a str,
    /// What came of it.
    pub outcome: &'a str,
    /// What should have.
    pub expected: &'a str,
    /// Details (labels, states, routes).
    pub details: &'a Value,
}

impl Step<'_> {
    /// Whether it came out as expected.
    pub fn ok(&self) -> bool {
        self.outcome == self.expected
    }

    /// Writes the step's heading (and a branch line when the branch changes)
    /// and its labels line when an item crossed.
    pub fn write(&self, text: &mut String, branch: &mut String, fresh: &str) {
        if self.branch != branch.as_str() {
            *branch = self.branch.to_owned();
            let _ = writeln!(
                text,
                "── branch: {}{fresh} ──────────────────────────────",
                self.branch.replace('_', " ")
            );
        }
        let _ = writeln!(
            text,
            "{:>2}. {}  {}\n    → {}{}",
            self.number,
            self.at,
            self.title,
            self.outcome.to_uppercase(),
            if self.ok() {
                String::new()
            } else {
                format!("   (EXPECTED {})", self.expected.to_uppercase())
            }
        );
        if let Some(l) = self.details.get("recipient_label").filter(|l| !l.is_null()) {
            let at = |p: &str| {
                self.details
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            };
            let _ = writeln!(
                text,
                "       labels: {} {} (originator, unchanged) + {} {} (equivalent)",
                at("/originator_label/policy"),
                at("/originator_label/level"),
                l.get("policy").and_then(Value::as_str).unwrap_or("?"),
                l.get("level").and_then(Value::as_str).unwrap_or("?"),
            );
        }
    }

    /// The step as a JSON document.
    pub fn doc(&self, reasons: Vec<String>, rules: Vec<String>) -> Value {
        json!({
            "step": self.number,
            "at": self.at,
            "branch": self.branch,
            "title": self.title,
            "decision": self.outcome,
            "expected": self.expected,
            "as_expected": self.ok(),
            "details": self.details,
            "reasons": reasons,
            "rules": rules,
        })
    }
}

/// How many of `docs` came out as expected.
pub fn passed(docs: &[Value]) -> usize {
    docs.iter()
        .filter(|d| d.get("as_expected") == Some(&json!(true)))
        .count()
}
