//! What a provider's or tool's requests carry besides their body (credentials, headers, query
//! parameters), and what of a response body may be logged.
//!
//! An endpoint sends exactly the key its `api_key_env` names, to its own URL, with its own
//! `headers` and `query`, and nothing else. async-openai's `OpenAIConfig::new` reads `OPENAI_API_KEY` (or `OPENAI_ADMIN_KEY`),
//! `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_BASE_URL` from the environment and would
//! send whatever it found to any server a scenario points at, so it is not used: the client is
//! configured with [`ProviderConfig`], which reads nothing and sends no header of its own, and
//! each request gets the provider's own credential in [`set_credentials`] (no `Authorization`
//! header at all without a key).

use std::collections::BTreeMap;
use std::fmt;

use async_openai::config::{Config, OPENAI_ORGANIZATION_HEADER, OPENAI_PROJECT_HEADER};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use scenario::{Param, Secrets};
use secrecy::SecretString;

use crate::build::BuildError;

/// async-openai's configuration for one provider: its base URL and query parameters, nothing
/// else. Nothing is read from the environment, and its headers are empty (the credential and
/// the provider's headers are set per request: [`Extras::apply`]).
#[derive(Clone)]
pub(crate) struct ProviderConfig {
    api_base: String,
    query: Vec<(String, Shown)>,
    /// Always empty: async-openai only reads it to build headers, which this config does not.
    no_key: SecretString,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("api_base", &self.api_base)
            .field("query", &QueryDebug(&self.query))
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    pub(crate) fn new(base_url: &str, extras: &Extras) -> Self {
        Self {
            api_base: base_url.to_owned(),
            query: extras.query.clone(),
            no_key: SecretString::default(),
        }
    }
}

/// The value `param` stands for, and whether it came from the environment.
fn value<'a>(
    target: &str,
    param: &'a Param,
    secrets: &'a Secrets,
) -> Result<(&'a str, bool), BuildError> {
    match param {
        Param::Plain(v) => Ok((v.as_str(), false)),
        Param::Env(var) => {
            secrets
                .get(var)
                .map(|s| (s.expose(), true))
                .ok_or_else(|| BuildError::MissingSecret {
                    target: target.to_owned(),
                    var: var.clone(),
                })
        }
    }
}

/// A query parameter's value, and whether it came from the environment (then no `Debug`
/// shows it).
#[derive(Clone)]
pub(crate) struct Shown {
    pub(crate) value: String,
    pub(crate) secret: bool,
}

struct QueryDebug<'a>(&'a [(String, Shown)]);

impl fmt::Debug for QueryDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, v)| {
                let value = if v.secret {
                    "[redacted]"
                } else {
                    v.value.as_str()
                };
                (name, value)
            }))
            .finish()
    }
}

/// What every request to one endpoint carries besides its body: the key its `api_key_env`
/// names (as `Authorization: Bearer`), its `headers` and its `query` parameters, with the
/// values taken from the environment marked sensitive so that no `Debug` of ours, http's,
/// hyper's or reqwest's shows them.
#[derive(Clone, Default)]
pub(crate) struct Extras {
    authorization: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    query: Vec<(String, Shown)>,
}

impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extras")
            .field("authorization", &self.authorization)
            .field("headers", &self.headers)
            .field("query", &QueryDebug(&self.query))
            .finish()
    }
}

impl Extras {
    /// The extras of endpoint `target`: `api_key` (the value of its `api_key_env`), and its
    /// `headers` and `query` with `{ env = "VAR" }` values taken from `secrets`.
    pub(crate) fn new(
        target: &str,
        api_key: Option<&str>,
        headers: &BTreeMap<String, Param>,
        query: &BTreeMap<String, Param>,
        secrets: &Secrets,
    ) -> Result<Self, BuildError> {
        let value = |param| value(target, param, secrets);
        let mut out = Extras {
            authorization: authorization(api_key),
            ..Extras::default()
        };
        for (name, param) in headers {
            let (text, secret) = value(param)?;
            let bad = || BuildError::Header {
                target: target.to_owned(),
                name: name.clone(),
                secret,
            };
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            let mut header = HeaderValue::try_from(text).map_err(|_| bad())?;
            header.set_sensitive(secret);
            out.headers.push((name, header));
        }
        for (name, param) in query {
            let (text, secret) = value(param)?;
            out.query.push((
                name.clone(),
                Shown {
                    value: text.to_owned(),
                    secret,
                },
            ));
        }
        Ok(out)
    }

    /// Only a key (the value of an `api_key_env`), no headers or query.
    #[cfg(test)]
    pub(crate) fn bearer(api_key: Option<&str>) -> Self {
        Extras {
            authorization: authorization(api_key),
            ..Extras::default()
        }
    }

    /// Makes the headers of a request exactly this endpoint's: async-openai's own
    /// `Authorization` (an empty `Bearer `), organization and project headers go; the key
    /// (sensitive) comes in when there is one, then the endpoint's headers.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        set_credentials(headers, self.authorization.clone());
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// Adds the query parameters to `url` (for requests async-openai does not build).
    pub(crate) fn add_query(&self, url: &mut reqwest::Url) {
        if self.query.is_empty() {
            return;
        }
        let mut pairs = url.query_pairs_mut();
        for (name, v) in &self.query {
            pairs.append_pair(name, &v.value);
        }
    }
}

impl Config for ProviderConfig {
    fn headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }

    fn query(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(name, v)| (name.as_str(), v.value.as_str()))
            .collect()
    }

    fn api_base(&self) -> &str {
        &self.api_base
    }

    fn api_key(&self) -> &SecretString {
        &self.no_key
    }
}

/// The `Authorization` header for the key a provider's `api_key_env` named, marked sensitive
/// so that the debug output of http, hyper and reqwest shows `Sensitive` instead. `None`
/// without a key, or with an empty one: no header is sent.
pub(crate) fn authorization(api_key: Option<&str>) -> Option<HeaderValue> {
    let key = api_key.filter(|k| !k.is_empty())?;
    match HeaderValue::try_from(format!("Bearer {key}")) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Some(value)
        }
        Err(_) => {
            // The key is not named: it would be in the log.
            tracing::warn!(
                "an API key holds characters an HTTP header cannot carry (a line break?); \
                 its provider's requests are sent without one: fix the variable its \
                 `api_key_env` names"
            );
            None
        }
    }
}

/// Makes the credential headers of a request async-openai built exactly the provider's:
/// async-openai's own `Authorization` (an empty `Bearer `), organization and project headers
/// go, and `authorization` (sensitive) comes in when the provider has a key.
fn set_credentials(headers: &mut HeaderMap, authorization: Option<HeaderValue>) {
    headers.remove(AUTHORIZATION);
    headers.remove(OPENAI_ORGANIZATION_HEADER);
    headers.remove(OPENAI_PROJECT_HEADER);
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value);
    }
}

/// Characters of a response body a debug log may show.
const EXCERPT_CHARS: usize = 64;

/// Words after which the next word is taken for a credential (lowercase substrings): a
/// server may echo request headers, `authorization: Bearer <key>` among them.
const CREDENTIAL_NAMES: [&str; 8] = [
    "auth",
    "bearer",
    "key",
    "token",
    "secret",
    "password",
    "organization",
    "project",
];

/// A word this long is taken for an opaque token.
const OPAQUE_CHARS: usize = 32;

/// The start of a response body for a debug log ([`EXCERPT_CHARS`] characters), with every
/// word that looks like a credential replaced by `[redacted]`: an `sk-` key, a long opaque
/// token, or the word after a credential's name (`Bearer`, `"authorization":`, `api_key=`).
pub(super) fn excerpt(body: &str) -> String {
    let head: String = body.chars().take(EXCERPT_CHARS).collect();
    let mut out = String::with_capacity(head.len());
    let mut previous = String::new();
    let mut rest = head.as_str();
    while !rest.is_empty() {
        let word_len = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
        if word_len == 0 {
            let gap = rest.find(is_word).unwrap_or(rest.len());
            out.push_str(&rest[..gap]);
            rest = &rest[gap..];
            continue;
        }
        let word = &rest[..word_len];
        let lower = word.to_ascii_lowercase();
        let secret = lower.starts_with("sk-")
            || lower.starts_with("sk_")
            || word.chars().count() >= OPAQUE_CHARS
            || CREDENTIAL_NAMES.iter().any(|name| previous.contains(name));
        out.push_str(if secret { "[redacted]" } else { word });
        previous = lower;
        rest = &rest[word_len..];
    }
    out
}

/// A character of a token-like word (keys, JWTs and base64 included; `=` separates a name
/// from its value).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers async-openai builds from an environment with every credential set.
    fn ambient() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-ambient-1"),
        );
        headers.insert(
            OPENAI_ORGANIZATION_HEADER,
            HeaderValue::from_static("org-1"),
        );
        headers.insert(OPENAI_PROJECT_HEADER, HeaderValue::from_static("proj-1"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers
    }

    #[test]
    fn the_config_carries_no_credential_whatever_the_environment() {
        let config = ProviderConfig::new("http://127.0.0.1:9/v1", &Extras::default());
        assert!(config.headers().is_empty(), "{:?}", config.headers());
        assert!(config.query().is_empty());
        assert_eq!(config.api_base(), "http://127.0.0.1:9/v1");
        assert_eq!(
            config.url("/chat/completions"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
    }

    #[test]
    fn a_provider_without_a_key_sends_no_credential_header() {
        let mut headers = ambient();
        set_credentials(&mut headers, authorization(None));
        assert!(!headers.contains_key(AUTHORIZATION), "{headers:?}");
        assert!(!headers.contains_key(OPENAI_ORGANIZATION_HEADER));
        assert!(!headers.contains_key(OPENAI_PROJECT_HEADER));
        assert_eq!(headers.len(), 1, "other headers stay: {headers:?}");
        let mut headers = ambient();
        set_credentials(&mut headers, authorization(Some("")));
        assert!(!headers.contains_key(AUTHORIZATION), "an empty key is none");
    }

    #[test]
    fn a_named_key_is_sent_alone_and_sensitive() {
        let mut headers = ambient();
        set_credentials(&mut headers, authorization(Some("sk-named-2")));
        let value = headers.get(AUTHORIZATION).expect("the header is set");
        assert_eq!(value.as_bytes(), b"Bearer sk-named-2");
        assert!(value.is_sensitive());
        assert_eq!(
            format!("{headers:?}").matches("sk-").count(),
            0,
            "{headers:?}"
        );
        assert!(!headers.contains_key(OPENAI_ORGANIZATION_HEADER));
        assert!(!headers.contains_key(OPENAI_PROJECT_HEADER));
    }

    #[test]
    fn the_debug_of_an_endpoint_s_extras_shows_no_secret() {
        let headers = [
            ("api-key".to_owned(), Param::Env("H".to_owned())),
            ("x-team".to_owned(), Param::Plain("search".to_owned())),
        ]
        .into();
        let query = [
            ("sig".to_owned(), Param::Env("Q".to_owned())),
            ("api-version".to_owned(), Param::Plain("v1".to_owned())),
        ]
        .into();
        let secrets = Secrets::from_pairs([("H", "hv-secret-1"), ("Q", "qv-secret-2")]);
        let extras = Extras::new("p", Some("sk-key-3"), &headers, &query, &secrets).unwrap();
        let config = ProviderConfig::new("http://127.0.0.1:9/v1", &extras);
        for shown in [format!("{extras:?}"), format!("{config:?}")] {
            assert!(
                !shown.contains("secret") && !shown.contains("sk-key"),
                "{shown}"
            );
        }
        assert!(
            format!("{extras:?}").contains("search"),
            "plain values are shown"
        );
        assert!(
            format!("{config:?}").contains("v1"),
            "plain values are shown"
        );
        let mut sent = HeaderMap::new();
        extras.apply(&mut sent);
        assert_eq!(sent.get("api-key").unwrap().as_bytes(), b"hv-secret-1");
        assert!(sent.get("api-key").unwrap().is_sensitive());
        assert!(!sent.get("x-team").unwrap().is_sensitive());
        assert_eq!(
            config.query(),
            vec![("api-version", "v1"), ("sig", "qv-secret-2")]
        );
        // A variable the secrets lack is a build error naming it, not a request without it.
        let err = Extras::new("p", None, &headers, &query, &Secrets::new()).unwrap_err();
        assert!(err.to_string().contains("`H`"), "{err}");
    }

    #[test]
    fn a_key_no_header_can_carry_is_not_sent() {
        assert_eq!(authorization(Some("sk-with\nbreak")), None);
    }

    #[test]
    fn an_excerpt_is_short_and_redacts_credentials() {
        let echoed = r#"{"echo":{"authorization":"Bearer sk-abc123","x":"ok"}}"#;
        assert_eq!(
            excerpt(echoed),
            r#"{"echo":{"authorization":"[redacted] [redacted]","x":"ok"}}"#
        );
        assert_eq!(excerpt("key=hunter2 and more"), "key=[redacted] and more");
        assert_eq!(
            excerpt("token sk_live_1 then plain words"),
            "token [redacted] then plain words"
        );
        let opaque = "a".repeat(40);
        assert_eq!(excerpt(&format!("x {opaque}")), "x [redacted]");
        let long = "word ".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt("tiny ünïcödé"), "tiny ünïcödé");
        assert_eq!(excerpt(""), "");
    }
}
