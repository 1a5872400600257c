//! What a command produces (a JSON document and a text for people, and
//! whether it was a refusal), and how it reaches the terminal.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gsomia_core::{Citation, Reason};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The result of a command.
pub struct Outcome {
    /// The machine form.
    pub doc: Value,
    /// The human form.
    pub text: String,
    /// Whether the answer is a refusal (exit code 1).
    pub refused: bool,
    json: bool,
}

impl Outcome {
    /// An answer that is not a refusal.
    pub fn ok(doc: Value, text: String) -> Self {
        Outcome {
            doc,
            text,
            refused: false,
            json: false,
        }
    }
    /// An answer that may be a refusal.
    pub fn answer(doc: Value, text: String, refused: bool) -> Self {
        Outcome {
            doc,
            text,
            refused,
            json: false,
        }
    }
    pub(crate) fn with_json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }
    /// Prints and gives the exit code.
    pub fn finish(self) -> ExitCode {
        let mut stdout = std::io::stdout().lock();
        let written = if self.json {
            serde_json::to_writer_pretty(&mut stdout, &self.doc)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(stdout))
        } else {
            write!(stdout, "{}", self.text)
        };
        if written.and_then(|()| stdout.flush()).is_err() {
            // A closed pipe: nothing more can be said.
            return ExitCode::from(1);
        }
        ExitCode::from(if self.refused { 1 } else { 0 })
    }
}

/// Reports an input or usage error: text on standard error, or a JSON
/// document on standard output with `--json`. Exit code 2.
#[expect(
    clippy::print_stderr,
    reason = "the binary's one place that reports errors to people"
)]
pub fn fail(e: &anyhow::Error, json: bool) -> ExitCode {
    if json {
        let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
        let doc = json!({ "error": e.to_string(), "causes": causes });
        println_json(&doc);
    } else {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            for line in cause.to_string().lines() {
                eprintln!("  {line}");
            }
        }
    }
    ExitCode::from(2)
}

fn println_json(doc: &Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut stdout, doc);
    let _ = writeln!(stdout);
}

/// Parses an instant argument (offset required).
pub fn instant(text: &str, flag: &str) -> Result<Timestamp> {
    gsomia_core::time::parse_instant(text).with_context(|| format!("invalid `{flag}`"))
}

/// Parses an optional instant argument; absent means now.
pub fn instant_or_now(text: Option<&str>, flag: &str) -> Result<Timestamp> {
    match text {
        Some(t) => instant(t, flag),
        None => Ok(now()),
    }
}

/// The current instant, to the second (the binary's only clock reading).
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now)
}

/// The distinct provisions cited by a list of reasons, in first-seen order.
pub fn rules(reasons: &[Reason]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in reasons.iter().flat_map(|r| r.cites.iter()) {
        let s = c.to_string();
        if !matches!(c, Citation::DenyByDefault) && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Indented bullet lines for reasons.
pub fn bullets(reasons: &[Reason]) -> String {
    let mut s = String::new();
    for r in reasons {
        s.push_str(&format!("  - {r}\n"));
    }
    s
}

static NULL: Value = Value::Null;

/// A member of a JSON object, or null (never panics).
pub fn member<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&NULL)
}

/// Sets a member of a JSON object (no effect on anything else).
pub fn put(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}
