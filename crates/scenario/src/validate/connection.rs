//! The keys that say how a client reaches its endpoint (`api_key_env`, `ca_cert`, `http2`,
//! `headers`, `query`) and the mock's TLS files: names the HTTP client would refuse, headers
//! that would break the request's framing, and files that cannot be read, all found before
//! any traffic.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Checker, KeyPath};
use crate::schema::connection::{is_env_name, is_header_name, is_header_value};
use crate::schema::{Endpoint, Param, Scenario};

/// Headers the HTTP client writes itself from the request: one from the scenario would
/// contradict the body or the connection.
const FRAMING: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "upgrade",
    "te",
    "keep-alive",
];

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    for (i, p) in s.llm.providers.iter().enumerate() {
        let at = KeyPath::parse("llm.providers").index(i);
        endpoint(
            c,
            &at,
            &p.base_url,
            Keys::of(&p.api_key_env, &p.ca_cert, &p.headers, &p.query),
        );
    }
    for (name, t) in &s.tools {
        let at = KeyPath::parse("tools").key(name);
        endpoint(
            c,
            &at,
            &t.endpoint,
            Keys::of(&t.api_key_env, &t.ca_cert, &t.headers, &t.query),
        );
    }
    if let Some(url) = s.agent.url.as_ref().filter(|_| s.agent.is_http()) {
        let a = &s.agent;
        endpoint(
            c,
            &KeyPath::parse("agent"),
            &Endpoint::Url(url.clone()),
            Keys::of(&a.api_key_env, &a.ca_cert, &a.headers, &a.query),
        );
    }
    mock_tls(c, s);
}

/// The connection keys of one provider or tool.
struct Keys<'a> {
    api_key_env: &'a Option<String>,
    ca_cert: Option<&'a Path>,
    headers: &'a BTreeMap<String, Param>,
    query: &'a BTreeMap<String, Param>,
}

impl<'a> Keys<'a> {
    fn of(
        api_key_env: &'a Option<String>,
        ca_cert: &'a Option<std::path::PathBuf>,
        headers: &'a BTreeMap<String, Param>,
        query: &'a BTreeMap<String, Param>,
    ) -> Self {
        Self {
            api_key_env,
            ca_cert: ca_cert.as_deref(),
            headers,
            query,
        }
    }
}

fn endpoint(c: &mut Checker, at: &KeyPath, url: &Endpoint, k: Keys<'_>) {
    if let Some(var) = k.api_key_env
        && !is_env_name(var)
    {
        c.fail(
            at.key("api_key_env"),
            format!(
                "invalid environment variable name `{}`: api_key_env names the variable that holds the key (like \"OPENAI_API_KEY\"), never the key itself",
                shown_name(var)
            ),
        );
    }
    for (name, param) in k.headers {
        let hp = at.key("headers").key(name);
        if !is_header_name(name) {
            c.fail(
                hp,
                format!(
                    "invalid header name `{}`: use letters, digits and `-` (an HTTP token, like \"x-team\" or \"api-key\")",
                    name.escape_debug()
                ),
            );
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if FRAMING.contains(&lower.as_str()) {
            c.fail(
                hp,
                format!("header `{name}` is written by the HTTP client from the request itself: remove it"),
            );
        } else if lower == "authorization" && k.api_key_env.is_some() {
            c.fail(
                hp,
                "both `api_key_env` and `headers.authorization` set the Authorization header: keep one".to_owned(),
            );
        }
        param_value(c, at.key("headers").key(name), param, true);
    }
    for (name, param) in k.query {
        let qp = at.key("query").key(name);
        if name.is_empty() {
            c.fail(qp, "a query parameter needs a non-empty name".to_owned());
            continue;
        }
        param_value(c, qp, param, false);
    }
    if let Some(path) = k.ca_cert {
        let cp = at.key("ca_cert");
        match url {
            Endpoint::Embedded => c.fail(
                cp,
                "ca_cert applies to an https:// URL; the embedded mock is trusted through its own `mock.tls_cert`: remove ca_cert".to_owned(),
            ),
            Endpoint::Url(u) if u.starts_with("http://") => c.fail(
                cp,
                format!("ca_cert has no effect on `{u}` (plain HTTP): use an https:// URL, or remove ca_cert"),
            ),
            Endpoint::Url(_) => pem(c, cp, path, "CERTIFICATE", "the CA certificate"),
        }
    }
}

/// A header or query value: a plain value a header can carry, or a valid variable name.
fn param_value(c: &mut Checker, at: KeyPath, param: &Param, header: bool) {
    match param {
        Param::Plain(v) if header && !is_header_value(v) => c.fail(
            at,
            "the header value holds a line break or another control character, which would end the header: remove it".to_owned(),
        ),
        Param::Plain(_) => {}
        Param::Env(var) if !is_env_name(var) => c.fail(
            at.key("env"),
            format!(
                "invalid environment variable name `{}`: `env` names the variable that holds the value (like \"AZURE_OPENAI_KEY\"), never the value itself",
                shown_name(var)
            ),
        ),
        Param::Env(_) => {}
    }
}

/// `[mock] tls_cert` and `tls_key`: both or neither, each a readable PEM file.
fn mock_tls(c: &mut Checker, s: &Scenario) {
    let at = KeyPath::parse("mock");
    match (&s.mock.tls_cert, &s.mock.tls_key) {
        (Some(cert), Some(key)) => {
            pem(
                c,
                at.key("tls_cert"),
                cert,
                "CERTIFICATE",
                "the certificate chain",
            );
            pem(c, at.key("tls_key"), key, "PRIVATE KEY", "the private key");
        }
        (Some(_), None) => c.fail(
            at.key("tls_cert"),
            "tls_cert needs tls_key (the certificate's private key, PEM) beside it".to_owned(),
        ),
        (None, Some(_)) => c.fail(
            at.key("tls_key"),
            "tls_key needs tls_cert (the certificate chain, PEM) beside it".to_owned(),
        ),
        (None, None) => {}
    }
}

/// `path` must be a readable file holding a PEM block whose label ends in `label`.
fn pem(c: &mut Checker, at: KeyPath, path: &Path, label: &str, what: &str) {
    let shown = path.display();
    match std::fs::read(path) {
        Err(err) => c.fail(
            at,
            format!("cannot read `{shown}`: {err}: give the path of {what} (PEM), relative to the scenario file"),
        ),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let found = text.lines().any(|line| {
                line.trim()
                    .strip_prefix("-----BEGIN ")
                    .and_then(|rest| rest.strip_suffix("-----"))
                    .is_some_and(|l| l.ends_with(label))
            });
            if !found {
                c.fail(
                    at,
                    format!("`{shown}` holds no `-----BEGIN {label}-----` block: give {what} in PEM form (convert DER with `openssl x509 -inform der -in FILE -out FILE.pem`)"),
                );
            }
        }
    }
}

/// A variable name as an error shows it: a value pasted where a name belongs may be a key,
/// so anything longer than a name usually is shows only its start.
fn shown_name(var: &str) -> String {
    if var.chars().count() > 40 || var.starts_with("sk-") {
        let head: String = var.chars().take(4).collect();
        format!("{head}…")
    } else {
        var.escape_debug().to_string()
    }
}
