//! Secrets: a run reads a credential only from the variable a provider's `api_key_env` names,
//! sends it only to that provider, and never writes a key to stdout, stderr or a report, even
//! at `RUST_LOG=trace` against a server that echoes every request header back in a body the
//! client cannot parse.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;

use crate::common::{fleetbench, scenario};

/// Variables async-openai reads by default, each with a value that must never leave the run.
const PLANTED: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "sk-planted-api-4f1c9e"),
    ("OPENAI_ADMIN_KEY", "sk-planted-admin-7d2a0b"),
    ("OPENAI_ORG_ID", "org-planted-5e8b31"),
    ("OPENAI_PROJECT_ID", "proj-planted-c03f6d"),
];

/// The key a scenario names with `api_key_env = "MY_KEY"` (`named-only` is in no other output).
const NAMED_KEY: &str = "sk-named-only-9b7e44";

/// A header value a scenario takes from `MY_HEADER` (`header-only` is in no other output).
const HEADER_VALUE: &str = "hv-header-only-51c2";

/// A query value a scenario takes from `MY_QUERY` (`query-only` is in no other output).
const QUERY_VALUE: &str = "qv-query-only-8d0e";

/// The key of a tool (`tool-only` is in no other output).
const TOOL_KEY: &str = "sk-tool-only-3a6f";

/// One request the server saw: its path, query and headers (names lowercase).
#[derive(Debug)]
struct Seen {
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Records the request and answers 200 with the request's headers echoed in a body
/// async-openai cannot parse: SSE events when a stream was asked for, JSON otherwise.
async fn echo(
    State(log): State<Log>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let echoed = serde_json::json!({ "echo": headers }).to_string();
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers,
        });
    let stream = String::from_utf8_lossy(&body).contains("\"stream\":true");
    if stream {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/event-stream")],
            format!("data: {echoed}\n\ndata: [DONE]\n\n"),
        )
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            echoed,
        )
    }
}

/// What one run produced: the server's requests, stdout, stderr, and every report file.
struct Outputs {
    seen: Vec<Seen>,
    texts: Vec<(String, String)>,
}

/// Runs `fleetbench run <scenario> <args>` with the planted variables (and `MY_KEY`), at
/// `RUST_LOG=trace`, against the echo server; `{base}` in `args` and in the scenario file
/// becomes the server's address.
fn run_against_echo(scenario_text: Option<&str>, args: &[&str]) -> Outputs {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let log: Log = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let app = Router::new().fallback(echo).with_state(log.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("out");
    let file = match scenario_text {
        Some(text) => {
            let file = dir.path().join("secrets.toml");
            std::fs::write(&file, text.replace("{base}", &base)).expect("write the scenario");
            file
        }
        None => scenario("smoke.toml"),
    };
    let mut cmd = fleetbench();
    cmd.arg("run")
        .arg(&file)
        .args(args.iter().map(|a| a.replace("{base}", &base)))
        .args(["--clock", "live", "--format", "json,md,junit", "--out"])
        .arg(&out)
        .env("RUST_LOG", "trace")
        .env("MY_KEY", NAMED_KEY)
        .env("MY_HEADER", HEADER_VALUE)
        .env("MY_QUERY", QUERY_VALUE)
        .env("TOOL_KEY", TOOL_KEY)
        // Were it read, it would send traffic elsewhere: every base URL here is explicit.
        .env("OPENAI_BASE_URL", format!("{base}/planted-base/v1"));
    for (var, value) in PLANTED {
        cmd.env(var, value);
    }
    let output = cmd.output().expect("fleetbench runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "the run finished: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut texts = vec![
        (
            "stdout".to_owned(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        (
            "stderr".to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
    ];
    let mut reports = 0;
    for entry in std::fs::read_dir(&out).expect("the --out directory exists") {
        let path = entry.expect("a directory entry").path();
        texts.push((path.display().to_string(), read(&path)));
        reports += 1;
    }
    assert_eq!(
        reports,
        5,
        "report.json, report.md, junit.xml and the interval log's two files in {}",
        out.display()
    );
    drop(rt);
    let seen = std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner));
    Outputs { seen, texts }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("a report file is readable")).into_owned()
}

/// No planted value (nor `also`), nor a part of one, in any output; no ANSI escape on stderr
/// (not a terminal).
fn assert_clean(outputs: &Outputs, also: &[&str]) {
    // Every planted value holds `planted`: a cut-off key is caught too.
    let secrets: Vec<&str> = ["planted"]
        .into_iter()
        .chain(also.iter().copied())
        .collect();
    for (name, text) in &outputs.texts {
        for secret in &secrets {
            if let Some(at) = text.find(secret) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "{name} contains `{secret}`: ...{}",
                    &text[from..(at + secret.len()).min(text.len())]
                );
            }
        }
    }
    let stderr = &outputs.texts[1].1;
    assert!(
        !stderr.contains("\x1b["),
        "ANSI escapes on a stderr that is not a terminal: {}",
        &stderr[..stderr.len().min(400)]
    );
}

const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "openai-organization", "openai-project"];

#[test]
fn an_ambient_openai_key_is_never_sent_nor_logged() {
    let outputs = run_against_echo(
        None,
        &[
            "--agents",
            "2",
            "--duration",
            "1s",
            "--base-url",
            "{base}/v1",
        ],
    );
    assert!(!outputs.seen.is_empty(), "the server saw no request");
    for seen in &outputs.seen {
        assert_eq!(seen.path, "/v1/chat/completions", "{seen:?}");
        for name in CREDENTIAL_HEADERS {
            assert!(
                !seen.headers.contains_key(name),
                "no provider names a key, yet `{name}` was sent: {seen:?}"
            );
        }
    }
    assert_clean(&outputs, &[]);
}

#[test]
fn a_named_key_goes_only_to_its_provider_and_never_into_an_output() {
    let text = r#"
name = "secrets"
seed = 3

[fleet]
agents = 4
ramp_up = "0s"
duration = "1s"
grace = "1s"

[session]
turns = 2
think_time = "50ms"

[llm]
routing = "round-robin"

[[llm.providers]]
name = "named"
base_url = "{base}/named/v1"
model = "m"
api_key_env = "MY_KEY"

[[llm.providers]]
name = "unnamed"
base_url = "{base}/unnamed/v1"
model = "m"
stream = false
"#;
    let outputs = run_against_echo(Some(text), &[]);
    let named: Vec<&Seen> = outputs
        .seen
        .iter()
        .filter(|s| s.path.starts_with("/named/"))
        .collect();
    let unnamed: Vec<&Seen> = outputs
        .seen
        .iter()
        .filter(|s| s.path.starts_with("/unnamed/"))
        .collect();
    assert_eq!(
        named.len() + unnamed.len(),
        outputs.seen.len(),
        "{:?}",
        outputs.seen
    );
    assert!(
        !named.is_empty() && !unnamed.is_empty(),
        "{:?}",
        outputs.seen
    );
    let bearer = format!("Bearer {NAMED_KEY}");
    for seen in named {
        assert_eq!(seen.headers.get("authorization"), Some(&bearer), "{seen:?}");
        assert!(
            !seen.headers.contains_key("openai-organization"),
            "{seen:?}"
        );
        assert!(!seen.headers.contains_key("openai-project"), "{seen:?}");
    }
    for seen in unnamed {
        for name in CREDENTIAL_HEADERS {
            assert!(!seen.headers.contains_key(name), "`{name}` sent: {seen:?}");
        }
    }
    assert_clean(&outputs, &["named-only"]);
}

#[test]
fn headers_query_and_keys_from_the_environment_reach_only_their_endpoint_and_no_output() {
    // Round robin over the embedded mock (its answers call the tool) and the echo server.
    let text = r#"
name = "secrets"
seed = 5

[fleet]
agents = 4
ramp_up = "0s"
duration = "2s"
grace = "1s"

[session]
turns = 3
think_time = "20ms"

[llm]
routing = "round-robin"

[[llm.providers]]
name = "mock"
base_url = "embedded"

[[llm.providers]]
name = "echo"
base_url = "{base}/echo/v1"
model = "m"
stream = false
api_key_env = "MY_KEY"
headers = { "api-key" = { env = "MY_HEADER" }, "x-team" = "search" }
query = { "api-version" = "2024-10-21", "sig" = { env = "MY_QUERY" } }

[tools.lookup]
description = "Look a thing up."
args = { q = "string" }
endpoint = "{base}/tool/lookup"
api_key_env = "TOOL_KEY"
headers = { "x-tool" = "yes" }

[mock]
tool_call_probability = 1.0
"#;
    let outputs = run_against_echo(Some(text), &[]);
    let echo: Vec<&Seen> = outputs
        .seen
        .iter()
        .filter(|s| s.path == "/echo/v1/chat/completions")
        .collect();
    let tool: Vec<&Seen> = outputs
        .seen
        .iter()
        .filter(|s| s.path == "/tool/lookup")
        .collect();
    assert_eq!(
        echo.len() + tool.len(),
        outputs.seen.len(),
        "{:?}",
        outputs.seen
    );
    assert!(!echo.is_empty() && !tool.is_empty(), "{:?}", outputs.seen);
    let bearer = format!("Bearer {NAMED_KEY}");
    for seen in echo {
        assert_eq!(seen.headers.get("authorization"), Some(&bearer), "{seen:?}");
        assert_eq!(
            seen.headers.get("api-key").map(String::as_str),
            Some(HEADER_VALUE)
        );
        assert_eq!(
            seen.headers.get("x-team").map(String::as_str),
            Some("search")
        );
        assert!(!seen.headers.contains_key("x-tool"), "{seen:?}");
        assert_eq!(
            seen.query,
            format!("api-version=2024-10-21&sig={QUERY_VALUE}"),
            "{seen:?}"
        );
    }
    let tool_bearer = format!("Bearer {TOOL_KEY}");
    for seen in tool {
        assert_eq!(
            seen.headers.get("authorization"),
            Some(&tool_bearer),
            "{seen:?}"
        );
        assert_eq!(seen.headers.get("x-tool").map(String::as_str), Some("yes"));
        assert!(!seen.headers.contains_key("api-key"), "{seen:?}");
        assert_eq!(seen.query, "", "{seen:?}");
    }
    assert_clean(
        &outputs,
        &["named-only", "header-only", "query-only", "tool-only"],
    );
}

#[test]
fn the_key_and_header_flags_reach_every_provider_and_no_output() {
    let outputs = run_against_echo(
        None,
        &[
            "--agents",
            "2",
            "--duration",
            "1s",
            "--base-url",
            "{base}/v1",
            "--api-key-env",
            "MY_KEY",
            "--header",
            "x-flag: flagged-value-only-77",
        ],
    );
    assert!(!outputs.seen.is_empty(), "the server saw no request");
    let bearer = format!("Bearer {NAMED_KEY}");
    for seen in &outputs.seen {
        assert_eq!(seen.headers.get("authorization"), Some(&bearer), "{seen:?}");
        assert_eq!(
            seen.headers.get("x-flag").map(String::as_str),
            Some("flagged-value-only-77"),
            "{seen:?}"
        );
    }
    assert_clean(&outputs, &["named-only", "value-only"]);
}
