//! The connection keys: `api`, `api_key_env`, `ca_cert`, `http2`, `headers`, `query`, and the
//! mock's TLS files; the secrets a run reads from the environment.

use std::path::Path;

use super::problem;
use crate::{Api, Param, Scenario, Secrets};

const PROVIDER: &str =
    "[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nbase_url = \"https://api.example.com/v1\"\n";

fn with_provider(extra: &str) -> String {
    format!("{PROVIDER}{extra}")
}

#[test]
fn the_keys_read_and_print_back_without_a_secret_value() {
    let src = with_provider(
        "api = \"responses\"\napi_key_env = \"MY_KEY\"\nhttp2 = true\nheaders = { \"api-key\" = { env = \"AZURE_KEY\" }, \"x-team\" = \"search\" }\nquery = { \"api-version\" = \"2024-10-21\" }\n",
    );
    let s = Scenario::from_toml(&src, "s.toml").unwrap();
    let p = &s.llm.providers[0];
    assert_eq!(p.api, Api::Responses);
    assert!(p.http2);
    assert_eq!(p.headers["api-key"], Param::Env("AZURE_KEY".to_owned()));
    assert_eq!(p.headers["x-team"], Param::Plain("search".to_owned()));
    assert_eq!(
        p.query["api-version"],
        Param::Plain("2024-10-21".to_owned())
    );
    let printed = s.to_toml();
    assert!(printed.contains("env = \"AZURE_KEY\""), "{printed}");
    assert_eq!(Scenario::from_toml(&printed, "again").unwrap(), s);
}

#[test]
fn a_header_value_is_a_string_or_an_env_table_only() {
    let (p, text) = problem(&with_provider("headers = { \"x\" = { value = \"v\" } }\n"));
    assert_eq!(p.key, "llm.providers[0].headers.x");
    assert!(
        text.contains("unknown key `value`") && text.contains("{ env ="),
        "{text}"
    );
    let (_, text) = problem(&with_provider("headers = { \"x\" = 3 }\n"));
    assert!(text.contains("a string"), "{text}");
}

#[test]
fn bad_header_names_values_and_framing_headers_are_refused() {
    let (p, text) = problem(&with_provider("headers = { \"x team\" = \"v\" }\n"));
    assert_eq!(
        (p.key.as_str(), p.line),
        ("llm.providers[0].headers.x team", Some(5))
    );
    assert!(text.contains("invalid header name"), "{text}");
    let (_, text) = problem(&with_provider("headers = { \"x\" = \"a\\nb\" }\n"));
    assert!(text.contains("line break"), "{text}");
    let (_, text) = problem(&with_provider("headers = { \"Content-Length\" = \"3\" }\n"));
    assert!(text.contains("written by the HTTP client"), "{text}");
    let (_, text) = problem(&with_provider(
        "api_key_env = \"K\"\nheaders = { \"Authorization\" = \"Bearer x\" }\n",
    ));
    assert!(text.contains("keep one"), "{text}");
    let (p, text) = problem(&with_provider(
        "headers = { \"x\" = { env = \"sk-live-abc\" } }\n",
    ));
    assert_eq!(p.key, "llm.providers[0].headers.x.env");
    assert!(
        !text.contains("sk-live-abc"),
        "a key pasted as a name is not echoed: {text}"
    );
}

#[test]
fn a_missing_ca_cert_is_located_and_a_relative_one_is_the_files() {
    let (p, text) = problem(&with_provider("ca_cert = \"/nonexistent/ca.pem\"\n"));
    assert_eq!(
        (p.key.as_str(), p.line, p.column),
        ("llm.providers[0].ca_cert", Some(5), Some(11))
    );
    assert!(text.contains("cannot read `/nonexistent/ca.pem`"), "{text}");

    let dir = tempdir();
    std::fs::write(
        dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("key.pem"), "not a key\n").unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, with_provider("ca_cert = \"ca.pem\"\n")).unwrap();
    let s = crate::load(&file).unwrap();
    assert_eq!(
        s.llm.providers[0].ca_cert.as_deref(),
        Some(dir.join("ca.pem").as_path())
    );

    std::fs::write(
        &file,
        "[mock]\ntls_cert = \"ca.pem\"\ntls_key = \"key.pem\"\n",
    )
    .unwrap();
    let err = crate::load(&file).unwrap_err().to_string();
    assert!(
        err.contains(":3:11: key `mock.tls_key`") && err.contains("PRIVATE KEY"),
        "{err}"
    );
    std::fs::write(&file, "[mock]\ntls_cert = \"ca.pem\"\n").unwrap();
    let err = crate::load(&file).unwrap_err().to_string();
    assert!(err.contains("tls_cert needs tls_key"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ca_cert_on_plain_http_or_the_embedded_mock_is_refused() {
    let src = "[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nca_cert = \"x.pem\"\n";
    let (_, text) = problem(src);
    assert!(text.contains("plain HTTP"), "{text}");
    let (_, text) = problem("[tools.t]\nca_cert = \"x.pem\"\n");
    assert!(text.contains("mock.tls_cert"), "{text}");
}

#[test]
fn api_on_a_tool_says_where_it_belongs() {
    let (p, text) = problem("[tools.search]\napi = \"responses\"\n");
    assert_eq!((p.key.as_str(), p.line), ("tools.search.api", Some(2)));
    assert!(text.contains("chooses an LLM provider's API"), "{text}");
}

#[test]
fn secrets_name_the_key_that_refers_to_an_unset_variable() {
    let src = with_provider(
        "api_key_env = \"FLEETBENCH_UNSET_KEY_1\"\nheaders = { \"h\" = { env = \"FLEETBENCH_UNSET_KEY_2\" } }\n",
    );
    let loaded = Scenario::from_toml_with(&src, "s.toml", &[]).unwrap();
    let err = loaded.secrets.unwrap_err().to_string();
    assert!(err.contains("s.toml:5:15: key `llm.providers[0].api_key_env`: environment variable `FLEETBENCH_UNSET_KEY_1` is not set"), "{err}");
    assert!(
        err.contains("s.toml:6:27: key `llm.providers[0].headers.h.env`"),
        "{err}"
    );
    // Given in code, the values are used and never shown.
    let secrets = Secrets::from_pairs([("FLEETBENCH_UNSET_KEY_1", "sk-given-1")]);
    assert_eq!(
        secrets.get("FLEETBENCH_UNSET_KEY_1").unwrap().expose(),
        "sk-given-1"
    );
    assert!(!format!("{secrets:?}").contains("sk-given"), "{secrets:?}");
    let param = Param::Env("FLEETBENCH_UNSET_KEY_1".to_owned());
    assert_eq!(secrets.resolve(&param), Some("sk-given-1"));
}

/// A fresh directory under the system's temporary one.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fleetbench-scenario-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Path::new(&dir).is_dir());
    dir
}
