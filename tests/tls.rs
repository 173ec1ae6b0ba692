use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use testkit::tls::{TempDir, TestCa};

use crate::common::{Running, fleetbench};

const NAMES: &[&str] = &["127.0.0.1", "localhost"];

/// One agent, four sessions (the fourth claims the budget and runs no turn), two turns each,
/// a tool, no faults: the same calls, tokens and tool calls every run, over any transport.
/// `provider` is the provider's keys after its name; `extra` is appended.
fn scenario(provider: &str, extra: &str) -> String {
    format!(
        r#"
name = "tls"
seed = 11
clock = "live"
[fleet]
agents = 1
ramp_up = "0s"
max_sessions = 4
grace = "10s"
[session]
turns = 2
think_time = "0s"
max_output_tokens = 64
[[llm.providers]]
name = "mock"
model = "mock-gpt"
{provider}
[tools.search]
description = "Search"
args = {{ query = "string" }}
[tools.search.mock]
latency = "5ms"
response_tokens = 30
[mock]
base_latency = "5ms"
inter_token = "0s"
output_tokens = {{ dist = "uniform", min = 10, max = 40 }}
{extra}
[targets]
min_concurrent_agents = 1
"#
    )
}

/// The counters that must not depend on the transport.
const COUNTERS: &[&str] = &[
    "llm_calls",
    "llm_succeeded",
    "llm_attempts",
    "tool_calls",
    "tool_attempts",
    "tokens_in",
    "tokens_out",
    "turns",
    "sessions_started",
];

struct Run {
    report: Value,
    stderr: String,
    code: Option<i32>,
}

/// `fleetbench run` of `toml` (written to `dir`), with `env` set.
fn run(dir: &TempDir, name: &str, toml: &str, env: &[(&str, &Path)]) -> Run {
    let file = dir.write(&format!("{name}.toml"), toml);
    let out = dir.path().join(format!("{name}-out"));
    let mut cmd = fleetbench();
    cmd.arg("run").arg(&file).arg("--out").arg(&out);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let output = cmd
        .timeout(Duration::from_secs(60))
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|err| panic!("{name}: no report ({err}): {stderr}"));
    Run {
        report: serde_json::from_str(&report).expect("the report is JSON"),
        stderr,
        code: output.status.code(),
    }
}

fn counters(report: &Value) -> Vec<(&'static str, u64)> {
    COUNTERS
        .iter()
        .map(|&k| (k, report["counters"][k].as_u64().expect("a counter")))
        .collect()
}

/// `fleetbench serve` over TLS, with `--tls-cert` and `--tls-key` if `flags` holds them (else
/// the scenario's `[mock] tls_cert` and `tls_key`); returns it and its `https://…/v1` URL.
fn serve_tls(scenario: &Path, flags: Option<(&Path, &Path)>) -> (Running, String) {
    let mut args: Vec<std::ffi::OsString> = ["serve", "--port", "0", "--scenario"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(scenario.into());
    if let Some((cert, key)) = flags {
        args.extend([
            "--tls-cert".into(),
            cert.into(),
            "--tls-key".into(),
            key.into(),
        ]);
    }
    let mut server = Running::spawn(args);
    let first = server.first_stdout_line();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("https://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no https URL in {first:?}"))
        .to_owned();
    (server, url)
}

/// An empty CA store for rustls-native-certs: `SSL_CERT_FILE` (an empty file) and
/// `SSL_CERT_DIR` (an empty directory) set, it reads nothing else.
fn no_system_roots(dir: &TempDir) -> [(&'static str, std::path::PathBuf); 2] {
    let empty_dir = dir.path().join("no-roots");
    std::fs::create_dir_all(&empty_dir).expect("a directory");
    [
        ("SSL_CERT_FILE", dir.write("no-roots.pem", "")),
        ("SSL_CERT_DIR", empty_dir),
    ]
}

#[test]
fn a_live_run_over_tls_counts_what_plain_http_counts() {
    let dir = TempDir::new();
    let ca = TestCa::new("fleetbench e2e CA");
    let server = ca.server(NAMES);
    let ca_file = dir.write("ca.pem", &ca.pem);
    let cert = dir.write("cert.pem", &server.chain_pem);
    let key = dir.write("key.pem", &server.key_pem);
    let embedded = "base_url = \"embedded\"";

    let plain = run(&dir, "plain", &scenario(embedded, ""), &[]);
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    let expected = counters(&plain.report);
    assert!(expected[0].1 > 0 && expected[4].1 > 0, "{expected:?}");

    // The embedded mock over TLS: its clients trust its certificate, whatever the machine's
    // CA store holds (here none at all).
    let tls = format!(
        "tls_cert = {:?}\ntls_key = {:?}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let roots = no_system_roots(&dir);
    let env: Vec<(&str, &Path)> = roots.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let embedded_tls = run(&dir, "embedded-tls", &scenario(embedded, &tls), &env);
    assert_eq!(embedded_tls.code, Some(0), "{}", embedded_tls.stderr);
    assert_eq!(counters(&embedded_tls.report), expected);

    // An explicit https:// URL with `ca_cert`, to `fleetbench serve --tls-cert --tls-key`
    // (the tool stays on the embedded mock, over plain HTTP).
    let served = dir.write("served.toml", scenario(embedded, ""));
    let (server, url) = serve_tls(&served, Some((&cert, &key)));
    let provider = format!("base_url = \"{url}\"\nca_cert = \"ca.pem\"");
    assert!(ca_file.exists());
    let explicit = run(&dir, "explicit", &scenario(&provider, ""), &env);
    assert_eq!(explicit.code, Some(0), "{}", explicit.stderr);
    assert_eq!(counters(&explicit.report), expected);
    for run in [&plain, &embedded_tls, &explicit] {
        assert_eq!(run.report["errors"]["calls"], serde_json::json!({}));
    }
    server.signal("INT");
    let served = server.finish(Duration::from_secs(20));
    assert!(served.status.success(), "{served:?}");
    // The serve summary counts the run's chat requests.
    let calls = expected[0].1;
    assert!(
        served.stdout.contains(&format!("served {calls} chat")),
        "{}",
        served.stdout
    );
}

#[test]
fn a_wrong_ca_gives_tls_errors_and_the_hint_once() {
    let dir = TempDir::new();
    let server = TestCa::new("the server's CA").server(NAMES);
    dir.write("other-ca.pem", TestCa::new("another CA").pem);
    let cert = dir.write("cert.pem", &server.chain_pem);
    let key = dir.write("key.pem", &server.key_pem);
    // Served over TLS by the scenario's `[mock]` keys this time.
    let tls = format!(
        "tls_cert = {:?}\ntls_key = {:?}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let served = dir.write("served.toml", scenario("base_url = \"embedded\"", &tls));
    let (_server, url) = serve_tls(&served, None);
    let provider = format!(
        "base_url = \"{url}\"\nca_cert = \"other-ca.pem\"\nquery = {{ \"api-version\" = \"query-secret-7\" }}"
    );
    let run = run(&dir, "wrong-ca", &scenario(&provider, ""), &[]);
    assert_ne!(run.code, Some(2), "{}", run.stderr);
    let tls = run.report["errors"]["calls"]["llm"]["tls"]
        .as_u64()
        .unwrap_or(0);
    assert!(tls > 0, "{:#}", run.report["errors"]);
    assert_eq!(
        run.report["counters"]["llm_calls"].as_u64(),
        Some(tls),
        "every call failed as tls"
    );
    // One hint, and the reason said once only (no log line per attempt).
    let hints = run.stderr.matches("ca_cert = \"ca.pem\"").count();
    assert_eq!(hints, 1, "one hint: {}", run.stderr);
    assert_eq!(
        run.stderr.matches("UnknownIssuer").count(),
        1,
        "{}",
        run.stderr
    );
    let host = url
        .trim_start_matches("https://")
        .trim_end_matches("/v1")
        .to_owned();
    assert!(
        run.stderr.contains(&format!("TLS with {host} failed"))
            && run.stderr.contains("UnknownIssuer"),
        "the host and the reason: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("query-secret-7"), "{}", run.stderr);
}

#[test]
fn plain_http_needs_no_ca_store_and_https_without_one_fails_before_traffic() {
    let dir = TempDir::new();
    let roots = no_system_roots(&dir);
    let env: Vec<(&str, &Path)> = roots.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let plain = run(
        &dir,
        "plain",
        &scenario("base_url = \"embedded\"", ""),
        &env,
    );
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);

    let file = dir.write(
        "https.toml",
        scenario("base_url = \"https://127.0.0.1:9/v1\"", ""),
    );
    let mut cmd = fleetbench();
    cmd.arg("run").arg(&file);
    for (key, value) in &env {
        cmd.env(key, value);
    }
    let output = cmd
        .timeout(Duration::from_secs(60))
        .output()
        .expect("fleetbench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`mock`: no CA certificates") && stderr.contains("ca_cert = \"ca.pem\""),
        "{stderr}"
    );
}
