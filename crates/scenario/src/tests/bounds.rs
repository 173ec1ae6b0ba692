//! Every bound of `crate::bounds`: the tester's values and their neighbours are rejected with
//! the file, line, column, key, bad value and a fix; the bound itself is accepted.

use crate::bounds::{MAX_DURATION, MAX_TOKENS};
use crate::budget::Budget;
use crate::rng::SimRng;
use crate::*;

/// The one problem of `src`: its key, line and rendered text.
fn fails(src: &str) -> (String, Option<usize>, String) {
    let err = Scenario::from_toml(src, "bad.toml").expect_err("the file is invalid");
    let text = err.to_string();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "expected one problem, got: {text}");
    let p = &problems[0];
    assert!(p.column.is_some() == p.line.is_some(), "{text}");
    (p.key.clone(), p.line, text)
}

/// `src` is rejected at `key` on `line`, and the message holds every one of `says`.
fn rejects(src: &str, key: &str, line: usize, says: &[&str]) {
    let (k, l, text) = fails(src);
    assert_eq!((k.as_str(), l), (key, Some(line)), "{text}");
    assert!(
        text.starts_with(&format!("bad.toml:{line}:")),
        "names file, line and column: {text}"
    );
    for s in says {
        assert!(text.contains(s), "`{s}` missing from: {text}");
    }
}

fn accepts(src: &str) {
    if let Err(e) = Scenario::from_toml(src, "good.toml") {
        panic!("{src}\n{e}");
    }
}

#[test]
fn open_loop_rate_from_a_millionth_to_a_million() {
    for arrival in ["poisson", "constant"] {
        let src = |rate: &str| format!("[fleet]\narrival = \"{arrival}\"\nrate = {rate}\n");
        for (rate, shown, says) in [
            ("1e-300", "`1e-300`", "use at least 1e-6"),
            ("9.9e-7", "`9.9e-7`", "tokio's timers"),
            ("1e300", "`1e300`", "use at most 1000000"),
            ("1000001.0", "`1000001`", "never advances"),
            ("0.0", "`0`", "greater than zero"),
        ] {
            rejects(
                &src(rate),
                "fleet.rate",
                3,
                &[shown, says, "sessions per second"],
            );
        }
        accepts(&src("1e-6"));
        accepts(&src("1e6"));
        accepts(&src("20.0"));
    }
    // Each shard's part must still reach the slowest rate.
    let sharded = |rate: &str| {
        format!(
            "clock = \"virtual\"\n[fleet]\nagents = 4\nshards = 4\narrival = \"poisson\"\nrate = {rate}\n"
        )
    };
    rejects(
        &sharded("2e-6"),
        "fleet.rate",
        6,
        &["over 4 shards", "5e-7", "fewer shards"],
    );
    accepts(&sharded("4e-6"));
}

#[test]
fn agents_at_most_a_million_a_process() {
    for agents in ["4294967295", "1000001"] {
        rejects(
            &format!("[fleet]\nagents = {agents}\n"),
            "fleet.agents",
            2,
            &[
                &format!("`{agents}`"),
                "at most 1000000",
                "memory",
                "several processes",
            ],
        );
    }
    accepts("[fleet]\nagents = 1000000\n");
    // A flag's value is checked too.
    let mut s = Scenario::default();
    s.fleet.agents = u32::MAX;
    let err = s.check("command line (--agents)").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "command line (--agents): key `fleet.agents`: invalid value `4294967295`: at most 1000000"
        ),
        "{err}"
    );
}

#[test]
fn durations_at_most_a_year_everywhere() {
    rejects(
        "[fleet]\nduration = \"500000y\"\n",
        "fleet.duration",
        2,
        &["`500000y`", "one year (\"1y\")", "shorter"],
    );
    // Beyond humantime's own range: an error, never a saturated duration.
    for huge in ["99999999999999999999s", "18446744073709551616ns"] {
        rejects(
            &format!("[fleet]\nduration = \"{huge}\"\n"),
            "fleet.duration",
            2,
            &[&format!("`{huge}`"), "\"1y\""],
        );
    }
    rejects(
        "[fleet]\nduration = \"366d\"\n",
        "fleet.duration",
        2,
        &["`366d`"],
    );
    accepts("[fleet]\nduration = \"1y\"\n");
    accepts("[fleet]\nduration = \"365d\"\n");
    for (src, key, line) in [
        ("[fleet]\nramp_up = \"2y\"\n", "fleet.ramp_up", 2),
        ("[fleet]\ngrace = \"10000h\"\n", "fleet.grace", 2),
        (
            "[session]\nthink_time = { dist = \"uniform\", min = \"1s\", max = \"2y\" }\n",
            "session.think_time.max",
            2,
        ),
        (
            "[session]\nbetween_sessions = { dist = \"empirical\", values = [\"1s\", \"400d\"] }\n",
            "session.between_sessions.values[1]",
            2,
        ),
        (
            "[mock]\nbase_latency = { dist = \"lognormal\", median = \"1s\", p95 = \"9999y\" }\n",
            "mock.base_latency.p95",
            2,
        ),
        (
            "[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\ntimeout = \"2y\"\n",
            "llm.providers[0].timeout",
            4,
        ),
        (
            "[tools.t]\nmock = { latency = \"5000000000s\" }\n",
            "tools.t.mock.latency",
            2,
        ),
        (
            "[targets]\ntool_call_p90 = \"2y\"\n",
            "targets.tool_call_p90",
            2,
        ),
    ] {
        let (k, l, text) = fails(src);
        assert!(
            key.starts_with(&k) && l == Some(line),
            "{key} on {line}: {text}"
        );
        assert!(text.contains("one year"), "{text}");
    }
}

#[test]
fn a_drawn_duration_or_token_count_never_exceeds_its_bound() {
    let d: DurationDist = Dist::LogNormal {
        median: Dur::micros(1),
        p95: MAX_DURATION,
    };
    let t: TokenDist = Dist::LogNormal {
        median: Tokens(1),
        p95: Tokens(MAX_TOKENS),
    };
    let mut rng = SimRng::new(3);
    let (mut longest, mut most) = (Dur::default(), Tokens(0));
    for _ in 0..2000 {
        longest = longest.max(d.sample(&mut rng));
        most = most.max(t.sample(&mut rng));
    }
    assert_eq!((longest, most), (MAX_DURATION, Tokens(MAX_TOKENS)));
}

#[test]
fn sizes_that_do_not_fit_64_bits_are_errors() {
    for size in [
        "99999999999999 TB",
        "18446744073709551616",
        "18446744073709551616B",
        "17179869184GiB",
        "18446744073709551615.9B",
        "1e30MB",
    ] {
        let (k, l, text) = fails(&format!("[targets]\nagent_memory = \"{size}\"\n"));
        assert_eq!((k.as_str(), l), ("targets.agent_memory", Some(2)), "{text}");
        assert!(text.contains(&format!("`{size}`")), "{text}");
        if !size.contains('e') {
            assert!(
                text.contains("16 EiB") && text.contains("\"100MB\""),
                "{text}"
            );
        }
    }
    for (size, bytes) in [
        ("18446744073709551615", u64::MAX),
        ("17179869183GiB", u64::MAX - (1 << 30) + 1),
        ("2TB", 2_000_000_000_000),
        ("1TiB", 1 << 40),
        ("1.5TB", 1_500_000_000_000),
    ] {
        assert_eq!(size.parse::<Bytes>(), Ok(Bytes(bytes)), "{size}");
    }
    assert_eq!(Bytes(1 << 40).to_string(), "1TiB");
    assert!(
        "-5MB"
            .parse::<Bytes>()
            .unwrap_err()
            .contains("cannot be negative")
    );
    // The budget file reads sizes the same way.
    let err = Budget::from_toml(
        "[targets]\nagent_memory = \"99999999999999 TB\"\n",
        "budget.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "budget.toml:2:16: key `targets.agent_memory`: invalid size `99999999999999 TB`"
        ),
        "{err}"
    );
    let err = Budget::from_toml(
        "[targets]\nmin_concurrent_agents = 4294967295\n",
        "budget.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("budget.toml:2:25: key `targets.min_concurrent_agents`: invalid value `4294967295`: at most 1000000"),
        "{err}"
    );
}

#[test]
fn token_counts_at_most_ten_million() {
    rejects(
        "[session]\nsystem_prompt_tokens = 10000001\n",
        "session.system_prompt_tokens",
        2,
        &["`10000001`", "from 0 to 10000000", "memory"],
    );
    accepts("[session]\nsystem_prompt_tokens = 10000000\n");
    rejects(
        "[session]\nturns = { dist = \"uniform\", min = 1, max = 4294967295 }\n",
        "session.turns.max",
        2,
        &["`4294967295`"],
    );
    for (src, key) in [
        (
            "[session]\nmax_output_tokens = 4294967295\n",
            "session.max_output_tokens",
        ),
        (
            "[compression]\ncontext_window = 10000001\n",
            "compression.context_window",
        ),
        (
            "[compression]\nclip_tokens = 10000001\n",
            "compression.clip_tokens",
        ),
        (
            "[compression]\ntrigger = { tokens = 10000001 }\n",
            "compression.trigger",
        ),
    ] {
        rejects(src, key, 2, &["invalid value", "at most 10000000"]);
    }
    accepts("[compression]\ncontext_window = 10000000\ntrigger = { tokens = 10000000 }\n");
}

#[test]
fn limits_and_capacities_are_sane() {
    let provider = "[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\n";
    for (extra, key, max) in [
        (
            "limits = { rpm = 60000001 }",
            "llm.providers[0].limits.rpm",
            "60000000",
        ),
        (
            "limits = { tpm = 1000000001 }",
            "llm.providers[0].limits.tpm",
            "1000000000",
        ),
        (
            "limits = { max_in_flight = 4294967295 }",
            "llm.providers[0].limits.max_in_flight",
            "1000000",
        ),
        (
            "retry = { multiplier = 1e300 }",
            "llm.providers[0].retry.multiplier",
            "1000",
        ),
        (
            "retry = { budget_min_per_sec = 1e7 }",
            "llm.providers[0].retry.budget_min_per_sec",
            "1000000",
        ),
    ] {
        rejects(
            &format!("{provider}{extra}\n"),
            key,
            4,
            &["invalid value", &format!("at most {max}")],
        );
    }
    accepts(&format!(
        "{provider}limits = {{ rpm = 60000000, tpm = 1000000000, max_in_flight = 1000000 }}\n"
    ));
    for (src, key, max) in [
        (
            "[mock]\ncapacity = 4294967295\n",
            "mock.capacity",
            "1000000",
        ),
        (
            "[mock]\nmax_tool_calls = 1001\n",
            "mock.max_tool_calls",
            "1000",
        ),
        ("[tools.t]\nweight = 1e300\n", "tools.t.weight", "1000000"),
        (
            "[tools.t.cache]\ncapacity = 100000001\n",
            "tools.t.cache.capacity",
            "100000000",
        ),
    ] {
        rejects(src, key, 2, &[&format!("at most {max}")]);
    }
    rejects(
        "[compression]\nchars_per_token = 1e-300\n",
        "compression.chars_per_token",
        2,
        &["`1e-300`", "0.1 to 100"],
    );
    accepts("[compression]\nchars_per_token = 0.1\n");
}

#[test]
fn urls_are_parsed_and_refuse_credentials() {
    let url =
        |u: &str| format!("[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nbase_url = \"{u}\"\n");
    let key = "llm.providers[0].base_url";
    rejects(
        &url("http://[::1"),
        key,
        4,
        &["`http://[::1`", "IPv6", "like \""],
    );
    rejects(
        &url("http://127.0.0.1:99999/v1"),
        key,
        4,
        &["`http://127.0.0.1:99999/v1`", "1 to 65535"],
    );
    rejects(
        &url("http://127.0.0.1:0/v1"),
        key,
        4,
        &["port 0", "1 to 65535"],
    );
    rejects(&url("http://a b/v1"), key, 4, &["whitespace"]);
    rejects(&url("ftp://host/v1"), key, 4, &["\"embedded\"", "http"]);
    for secret in [
        "http://user:hunter2@api.example.com/v1",
        "https://hunter2@api.example.com/v1",
        "https://user:hunter2@[::1/v1",
        "user:hunter2@api.example.com",
    ] {
        let (k, _, text) = fails(&url(secret));
        assert_eq!(k, key, "{text}");
        assert!(!text.contains("hunter2"), "the password is echoed: {text}");
        assert!(text.contains("***@"), "{text}");
    }
    let (_, _, text) = fails(&url("http://user:hunter2@api.example.com/v1"));
    assert!(
        text.contains("`http://***@api.example.com/v1`") && text.contains("api_key_env"),
        "{text}"
    );
    for good in [
        "http://127.0.0.1:8000/v1",
        "https://api.example.com/v1/",
        "http://[::1]:65535/v1",
        "http://localhost:1",
        "http://host/v1/@latest",
    ] {
        accepts(&url(good));
    }
    // A tool's endpoint is the same kind of value.
    let (k, _, text) = fails("[tools.t]\nendpoint = \"http://u:hunter2@tools.local/t\"\n");
    assert_eq!(k, "tools.t.endpoint", "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // `--base-url` goes through the same conversion.
    let err = Endpoint::try_from("http://u:hunter2@h:99999/v1".to_owned()).unwrap_err();
    assert!(
        !err.contains("hunter2") && err.contains("***@h:99999"),
        "{err}"
    );
}
