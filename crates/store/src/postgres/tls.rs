//! How a connection string reaches the server: in clear to a server on
//! this machine, over TLS (rustls, the server's certificate checked
//! against a CA the operator names) to any other.
//!
//! The options are libpq's, read from either form of the string
//! (`postgres://…?sslmode=verify-full&sslrootcert=/etc/gsomia/db-ca.pem`
//! or `host=db.example sslmode=verify-full sslrootcert=…`), with one
//! difference: a mode that would accept an unchecked server is refused
//! rather than honoured.
//!
//! | `sslmode` | to this machine (loopback, Unix socket) | to another host |
//! |---|---|---|
//! | absent | in clear | refused: name a CA, or `disable` |
//! | `disable` | in clear | in clear (the operator said so; logged) |
//! | `allow`, `prefer` | refused: falls back to clear, checks nothing | refused |
//! | `require`, `verify-full` | TLS, chain and name checked | the same |
//! | `verify-ca` | TLS, chain checked, name not | the same |
//!
//! Every TLS mode needs `sslrootcert`; with none the string is refused
//! (libpq's `require` would encrypt without checking who answers, which
//! an active attacker on the path defeats). Client certificates
//! (`sslcert`, `sslkey`) are refused as not supported, never ignored.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::node::StoreError;

/// What a connection string asks for, checked: the driver's settings
/// and how the bytes travel.
pub(super) struct Target {
    config: Config,
    transport: Transport,
}

enum Transport {
    Clear,
    Tls(MakeRustlsConnect),
}

/// What the options say about TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unset,
    Disable,
    VerifyCa,
    VerifyFull,
}

impl Target {
    /// Reads `url` (either form) and applies the table in this module's
    /// documentation; a string that breaks it is
    /// [`StoreError::Refused`] saying what to write instead.
    pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
        let bad = |what: String| StoreError::Refused(format!("{}: {what}", super::redacted(url)));
        let split = split_options(url).map_err(bad)?;
        let mut config: Config = split
            .rest
            .parse()
            .map_err(|e| bad(format!("not a PostgreSQL connection string: {e}")))?;
        let mode = match split.sslmode.as_deref() {
            None => Mode::Unset,
            Some("disable") => Mode::Disable,
            Some("require" | "verify-full") => Mode::VerifyFull,
            Some("verify-ca") => Mode::VerifyCa,
            Some(m @ ("allow" | "prefer")) => {
                return Err(bad(format!(
                    "sslmode={m} would fall back to a connection in clear and checks no certificate; \
                     use sslmode=verify-full with sslrootcert=PATH (or sslmode=disable to send in clear)"
                )));
            }
            Some(m) => {
                return Err(bad(format!(
                    "sslmode={m} is not one of disable, require, verify-ca, verify-full"
                )));
            }
        };
        if let Some(key) = split.client_cert {
            return Err(bad(format!(
                "{key}: client certificates are not supported; authenticate with a password or \
                 the server's host rules"
            )));
        }
        let local = is_local(&config);
        let transport = match (mode, split.sslrootcert) {
            (Mode::Disable, _) => {
                if !local {
                    tracing::warn!(
                        database = %super::redacted(url),
                        "sslmode=disable: the database is reached in clear over the network"
                    );
                }
                Transport::Clear
            }
            (Mode::Unset, None) if local => Transport::Clear,
            (Mode::Unset, None) => {
                return Err(bad(
                    "the server is not on this machine and the string names no TLS: add \
                     sslmode=verify-full&sslrootcert=PATH (the CA that signed the server's \
                     certificate), or sslmode=disable to send in clear"
                        .to_owned(),
                ));
            }
            (Mode::Unset | Mode::VerifyFull | Mode::VerifyCa, root) => {
                let Some(root) = root else {
                    return Err(bad(
                        "TLS needs sslrootcert=PATH: the CA that signed the server's certificate"
                            .to_owned(),
                    ));
                };
                if config
                    .get_hosts()
                    .iter()
                    .any(|h| !matches!(h, Host::Tcp(_)))
                {
                    return Err(bad(
                        "TLS is not possible over a Unix socket: name the server's host".to_owned(),
                    ));
                }
                config.ssl_mode(SslMode::Require);
                Transport::Tls(MakeRustlsConnect::new(client_config(
                    Path::new(&root),
                    mode == Mode::VerifyCa,
                )?))
            }
        };
        if matches!(transport, Transport::Clear) {
            config.ssl_mode(SslMode::Disable);
        }
        Ok(Target { config, transport })
    }

    /// Whether this target travels over TLS.
    #[cfg(test)]
    fn tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// Connects; the connection's I/O runs as a task on the current
    /// tokio runtime.
    pub(super) async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.transport {
            Transport::Clear => open(&self.config, NoTls).await,
            Transport::Tls(tls) => open(&self.config, tls.clone()).await,
        }
    }
}

/// Connects with `tls` and runs the connection's I/O as a task: it ends
/// when the client is dropped, or on an error that every waiting query
/// then sees for itself.
async fn open<T>(config: &Config, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Whether every host the string names is this machine.
fn is_local(config: &Config) -> bool {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    if hosts.is_empty() && addrs.is_empty() {
        // The driver refuses a string with neither when it connects.
        return true;
    }
    hosts.iter().all(|h| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }) && addrs.iter().all(IpAddr::is_loopback)
}

/// A rustls client configuration that trusts the CA certificates in
/// `root` and checks the server's name unless `skip_name`.
fn client_config(root: &Path, skip_name: bool) -> Result<rustls::ClientConfig, StoreError> {
    let unusable =
        |what: String| StoreError::Refused(format!("sslrootcert {}: {what}", root.display()));
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(root)
        .map_err(|e| unusable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unusable("no certificate in the file".to_owned()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| unusable(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(e.to_string()))?;
    let checked = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| unusable(e.to_string()))?;
    let config = if skip_name {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(checked)))
            .with_no_client_auth()
    } else {
        builder.with_webpki_verifier(checked).with_no_client_auth()
    };
    Ok(config)
}

/// `verify-ca`: the chain is checked against the roots as always; only a
/// certificate issued for another name is accepted.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A connection string with the TLS options taken out (the driver knows
/// `sslmode` but neither `sslrootcert` nor the client-certificate keys).
#[derive(Debug, Default, PartialEq, Eq)]
struct Split {
    rest: String,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    /// The first client-certificate option seen, refused later.
    client_cert: Option<&'static str>,
}

impl Split {
    /// Takes `key = value` if it is one of ours; false if it is not.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.sslmode = Some(value),
            "sslrootcert" => self.sslrootcert = Some(value),
            "sslcert" => self.client_cert = self.client_cert.or(Some("sslcert")),
            "sslkey" => self.client_cert = self.client_cert.or(Some("sslkey")),
            _ => return false,
        }
        true
    }
}

fn split_options(url: &str) -> Result<Split, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)
    } else {
        split_key_values(url)
    }
}

/// The URL form: the options are the query's `key=value` pairs,
/// percent-encoded.
fn split_url(url: &str) -> Result<Split, String> {
    let mut split = Split::default();
    let Some((base, query)) = url.split_once('?') else {
        split.rest = url.to_owned();
        return Ok(split);
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !split.take(&percent_decoded(key)?, percent_decoded(value)?) {
            kept.push(pair);
        }
    }
    split.rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(split)
}

fn percent_decoded(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// One `key = value` of the key-value form: the key, the value
/// unquoted, and where the pair lies in the string.
struct Pair {
    key: String,
    value: String,
    span: std::ops::Range<usize>,
}

/// The key-value form's pairs: apart by whitespace, a value either bare or
/// in single quotes with backslash escapes.
fn key_values(s: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!("{key:?} has no value (expected key=value)"));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("{key}: unterminated quoted value")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("{key}: unterminated quoted value")),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        pairs.push(Pair {
            key,
            value,
            span: start..end,
        });
    }
    Ok(pairs)
}

fn split_key_values(s: &str) -> Result<Split, String> {
    let mut split = Split::default();
    let mut kept: Vec<&str> = Vec::new();
    for pair in key_values(s)? {
        let span = pair.span.clone();
        if !split.take(&pair.key, pair.value) {
            kept.push(s.get(span).unwrap_or_default().trim_end());
        }
    }
    split.rest = kept.join(" ");
    Ok(split)
}

/// A key-value string with its password's value hidden (a string that
/// does not parse is not shown at all).
pub(super) fn redacted_key_values(s: &str) -> String {
    match key_values(s) {
        Ok(pairs) => pairs
            .iter()
            .map(|p| {
                if p.key == "password" {
                    "password=***"
                } else {
                    s.get(p.span.clone()).unwrap_or_default().trim_end()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "(a connection string that does not parse)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_form_gives_up_its_tls_options_and_keeps_the_rest() {
        let s = split_options(
            "postgres://u:p@db.example:5433/gsomia?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(
            s.rest,
            "postgres://u:p@db.example:5433/gsomia?application_name=x"
        );
        assert_eq!(s.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        let bare = split_options("postgres://db.example/g?sslmode=disable").unwrap();
        assert_eq!(bare.rest, "postgres://db.example/g");
    }

    #[test]
    fn the_key_value_form_gives_up_its_tls_options_and_keeps_the_rest() {
        let s = split_options(
            "host=db.example  sslrootcert = '/etc/my ca\\'s.pem' password='a b' sslmode=verify-ca dbname=g",
        )
        .unwrap();
        assert_eq!(s.rest, "host=db.example password='a b' dbname=g");
        assert_eq!(s.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/my ca's.pem"));
        assert!(split_options("host=x sslrootcert='/open").is_err());
        assert!(split_options("host").is_err());
    }

    #[test]
    fn a_client_certificate_is_refused_not_ignored() {
        let said = refused("host=127.0.0.1 sslkey=/k.pem");
        assert!(
            said.contains("client certificates are not supported"),
            "{said}"
        );
    }

    #[test]
    fn a_server_on_this_machine_is_reached_in_clear_unless_tls_is_named() {
        for url in [
            "host=127.0.0.1 user=postgres dbname=g",
            "host=localhost dbname=g",
            "host=/var/run/postgresql dbname=g",
            "postgres://postgres@[::1]:5432/g",
            "host=db.example dbname=g sslmode=disable",
        ] {
            assert!(!Target::parse(url).unwrap().tls(), "{url}");
        }
    }

    /// What parsing `url` refused, said.
    fn refused(url: &str) -> String {
        match Target::parse(url) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{url} was taken"),
        }
    }

    #[test]
    fn a_server_elsewhere_needs_a_checked_tls_connection_or_an_explicit_disable() {
        let said = refused("postgres://u:secret@db.example/g");
        assert!(said.contains("sslmode=verify-full&sslrootcert"), "{said}");
        assert!(!said.contains("secret"), "the password is shown: {said}");
        for mode in ["prefer", "allow"] {
            let said = refused(&format!("host=127.0.0.1 sslmode={mode}"));
            assert!(said.contains("fall back"), "{said}");
        }
        for (url, part) in [
            ("host=db.example sslmode=require", "needs sslrootcert"),
            (
                "host=db.example sslmode=verify-full sslrootcert=/nonexistent.pem",
                "/nonexistent.pem",
            ),
            (
                "host=/run/pg sslmode=verify-full sslrootcert=/x",
                "Unix socket",
            ),
            ("host=x sslmode=yes", "not one of"),
        ] {
            let said = refused(url);
            assert!(said.contains(part), "{url}: {said}");
        }
    }
}
