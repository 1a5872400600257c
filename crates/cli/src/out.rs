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

/// How a failure ends the command: 1 refused (the node said no under its
/// rules: a 403, a 409), 2 bad usage or input (a 4xx about the request, a
/// file or argument that does not hold), 3 the node failed or could not be
/// reached (a 5xx, a timeout, a connection that broke, a database error;
/// a database connection string refused before connecting is input, 2).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<gsomia_api::ClientError>() {
            return match c {
                gsomia_api::ClientError::Status { status, .. } => match status {
                    403 | 409 => 1,
                    408 | 500..=599 => 3,
                    _ => 2,
                },
                // A node whose certificate the given CA does not vouch for
                // is the caller's input (`--ca`), not the node failing.
                gsomia_api::ClientError::Unreachable { .. }
                    if e.chain().any(|c| c.to_string().contains("certificate")) =>
                {
                    2
                }
                gsomia_api::ClientError::Unreachable { .. }
                | gsomia_api::ClientError::Decode { .. } => 3,
                _ => 2,
            };
        }
        if let Some(s) = cause.downcast_ref::<gsomia_node::StoreError>() {
            // A connection string refused before connecting is the
            // caller's input; anything the database did is not.
            return if matches!(s, gsomia_node::StoreError::Refused(_)) {
                2
            } else {
                3
            };
        }
    }
    2
}

/// Reports a failure: text on standard error, or a JSON document on
/// standard output with `--json`. The exit code says which kind
/// ([`exit_code`]).
#[expect(
    clippy::print_stderr,
    reason = "the binary's one place that reports errors to people"
)]
pub fn fail(e: &anyhow::Error, json: bool) -> ExitCode {
    let code = exit_code(e);
    if json {
        let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
        let doc = json!({ "error": e.to_string(), "causes": causes, "exit_code": code });
        println_json(&doc);
    } else {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            for line in cause.to_string().lines() {
                eprintln!("  {line}");
            }
        }
    }
    ExitCode::from(code)
}

/// Reports a usage error found while parsing arguments: with `--json`
/// anywhere among them, one JSON document on standard output; otherwise
/// clap's own message. Help and version are not errors (exit 0).
pub fn usage(e: &clap::Error, json: bool) -> ExitCode {
    let code = if e.use_stderr() { 2 } else { 0 };
    if json && code == 2 {
        let text = e.render().to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_owned();
        println_json(&json!({ "error": first, "usage": text, "exit_code": 2 }));
    } else {
        // clap prints help and version to stdout, usage errors to stderr.
        let _ = e.print();
    }
    ExitCode::from(code)
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
