//! `[agent]`: an HTTP agent needs a URL, the live clock and, in the template shape, a body and
//! the pointer to its answer; every placeholder must be one the driver fills in. The
//! connection keys (`api_key_env`, `headers`, …) are checked with the providers' in
//! `connection`.

use super::{Checker, KeyPath};
use crate::schema::agent::{PLACEHOLDERS, placeholders};
use crate::schema::{AgentShape, ClockMode, Endpoint, Scenario};

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    let a = &s.agent;
    let p = KeyPath::parse("agent");
    if !a.is_http() {
        if a.url.is_some() {
            c.fail(
                p.key("url"),
                "url applies to kind = \"http\" (a runtime under test): add kind = \"http\", or remove url".to_owned(),
            );
        }
        return;
    }
    match &a.url {
        None => c.fail(
            p.key("url"),
            "kind = \"http\" needs the runtime's endpoint, like url = \"http://127.0.0.1:8700/chat\"".to_owned(),
        ),
        Some(url) => {
            // The URL's own checks (scheme, host, port, no credentials) are the providers'.
            if let Err(message) = Endpoint::try_from(url.clone()) {
                c.fail(p.key("url"), message.replace("base_url", "url"));
            } else if url == "embedded" {
                c.fail(
                    p.key("url"),
                    "the runtime under test is your own server, not the embedded mock: give its URL, like \"http://127.0.0.1:8700/chat\"".to_owned(),
                );
            }
            if a.shape == AgentShape::Chat && !placeholders(url).is_empty() {
                c.fail(
                    p.key("url"),
                    "placeholders in url apply to shape = \"template\"; a chat endpoint has one URL: remove them or set shape = \"template\"".to_owned(),
                );
            } else {
                known_placeholders(c, p.key("url"), url, &["session", "turn"]);
            }
        }
    }
    if s.clock == ClockMode::Virtual {
        c.fail(
            KeyPath::parse("clock"),
            "an HTTP agent is a real process on real time: use clock = \"live\" (or --clock live), or agent kind = \"scripted\" for a virtual-clock run".to_owned(),
        );
    }
    c.positive(p.key("timeout"), a.timeout, "the turn timeout");
    if let Some(pointer) = &a.answer
        && !(pointer.is_empty() || pointer.starts_with('/'))
    {
        c.fail(
            p.key("answer"),
            format!(
                "invalid JSON pointer `{pointer}`: it starts with `/` and names each step, like \"/answer\" or \"/output/0/text\" (RFC 6901)"
            ),
        );
    }
    match a.shape {
        AgentShape::Chat => {
            if a.body.is_some() {
                c.fail(
                    p.key("body"),
                    "body applies to shape = \"template\"; the chat shape sends OpenAI's chat body itself: remove body, or set shape = \"template\"".to_owned(),
                );
            }
        }
        AgentShape::Template => {
            match &a.body {
                None => c.fail(
                    p.key("body"),
                    "shape = \"template\" needs the request body, like body = { session_id = \"{{session}}\", message = \"{{message}}\" }".to_owned(),
                ),
                Some(body) => {
                    let mut found = Vec::new();
                    for (k, v) in body {
                        strings(&p.key("body").key(k), v, &mut found);
                    }
                    for (at, text) in &found {
                        known_placeholders(c, at.clone(), text, &PLACEHOLDERS);
                    }
                    if !found.iter().any(|(_, t)| {
                        placeholders(t).iter().any(|(name, _)| *name == "message")
                    }) {
                        c.fail(
                            p.key("body"),
                            "the body never sends the user's message: put \"{{message}}\" where your runtime reads it, like message = \"{{message}}\"".to_owned(),
                        );
                    }
                }
            }
            if a.answer.is_none() {
                c.fail(
                    p.key("answer"),
                    "shape = \"template\" needs the JSON pointer to the answer's text in the response, like answer = \"/answer\"".to_owned(),
                );
            }
        }
    }
}

/// Every string in `v`, with the key path that holds it.
fn strings(at: &KeyPath, v: &toml::Value, out: &mut Vec<(KeyPath, String)>) {
    match v {
        toml::Value::String(s) => out.push((at.clone(), s.clone())),
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(&at.index(i), item, out);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t {
                strings(&at.key(k), item, out);
            }
        }
        _ => {}
    }
}

fn known_placeholders(c: &mut Checker, at: KeyPath, text: &str, known: &[&str]) {
    for (name, _) in placeholders(text) {
        if !known.contains(&name) {
            let list: Vec<String> = known.iter().map(|k| format!("{{{{{k}}}}}")).collect();
            c.fail(
                at.clone(),
                format!(
                    "unknown placeholder `{{{{{name}}}}}`: the driver fills in {} here; fix the name or remove it",
                    list.join(", ")
                ),
            );
        }
    }
}
