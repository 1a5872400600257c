//! How the node's typed errors are classed for those who call it: each
//! capability's error enum says which class each of its variants is in;
//! the HTTP layer turns a class into a status code, and the peer endpoint
//! ledgers refusals with the error's text as the reason.

/// What kind of failure an error is, as a caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request is malformed or names something unknown (400).
    BadRequest,
    /// No credentials, or unknown ones (401).
    Unauthorized,
    /// The caller's role or the connection's party does not allow it (403).
    Forbidden,
    /// No such thing, or not one the caller may see (404; one answer for both).
    NotFound,
    /// The rules refuse it, or it conflicts with what is recorded (409).
    Refused,
    /// Something failed inside the node (500; details only in the log).
    Internal,
}

/// A typed error that knows its class.
pub trait Classified: std::error::Error + Send + Sync + 'static {
    /// The class of this error.
    fn class(&self) -> Class;
}

/// The error's message and every cause under it, joined for a log line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
