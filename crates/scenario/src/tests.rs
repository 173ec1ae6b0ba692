//! Whole-file tests: the shipped fixtures, every class of bad input, and round trips.

use std::path::PathBuf;

use proptest::prelude::*;

use crate::*;

mod agent;
mod bounds;
mod connection;
mod popularity;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/scenarios")
        .join(name)
}

/// The single problem of a bad file, with its rendered message.
fn problem(src: &str) -> (Problem, String) {
    let err = Scenario::from_toml(src, "bad.toml").expect_err("the file is invalid");
    let text = err.to_string();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "expected one problem, got: {text}");
    (problems[0].clone(), text)
}

#[test]
fn shipped_fixtures_are_valid() {
    // Every scenario shipped, not a list that a new one can miss.
    let dir = fixture("");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for path in names {
        let s = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!s.name.is_empty());
    }
    let support = load(&fixture("support-fleet.toml")).unwrap();
    assert_eq!(support.llm.providers.len(), 2);
    assert_eq!(support.mock.faults.len(), 4);
    assert_eq!(support.tools["issue_refund"].retry.max_attempts, 1);
}

#[test]
fn wrong_type() {
    let (p, text) = problem("[fleet]\nagents = \"many\"\n");
    assert_eq!(p.key, "fleet.agents");
    assert_eq!((p.line, p.column), (Some(2), Some(10)));
    assert!(
        text.starts_with("bad.toml:2:10: key `fleet.agents`: "),
        "{text}"
    );
    assert!(
        text.contains("\"many\"") || text.contains("string"),
        "{text}"
    );
}

#[test]
fn negative_rate() {
    let (p, text) = problem("[fleet]\narrival = \"poisson\"\nrate = -3.0\n");
    assert_eq!(p.key, "fleet.rate");
    assert_eq!(p.line, Some(3));
    assert!(
        text.contains("invalid rate `-3`") && text.contains("at least 0"),
        "{text}"
    );
}

#[test]
fn p95_below_median() {
    let (p, text) = problem(
        "[session]\nthink_time = { dist = \"lognormal\", median = \"3s\", p95 = \"1s\" }\n",
    );
    assert_eq!(p.key, "session.think_time");
    assert_eq!(p.line, Some(2));
    assert!(text.contains("p95 `1s` is below the median `3s`"), "{text}");
}

#[test]
fn probability_above_one() {
    let src = "[[mock.faults]]\nendpoint = \"chat\"\nkind = \"server-error\"\nprobability = 5\n";
    let (p, text) = problem(src);
    assert_eq!(p.key, "mock.faults[0].probability");
    assert_eq!(p.line, Some(4));
    assert!(
        text.contains("invalid probability `5`") && text.contains("0.05"),
        "{text}"
    );
}

#[test]
fn unknown_key() {
    let (p, text) = problem("seed = 3\n[fleet]\nagentz = 10\n");
    assert_eq!(p.key, "fleet.agentz");
    assert_eq!((p.line, p.column), (Some(3), Some(1)));
    assert!(
        text.contains("unknown field `agentz`") && text.contains("`agents`"),
        "{text}"
    );
}

#[test]
fn missing_provider_reference() {
    let src = "[[llm.providers]]\nname = \"main\"\nmodel = \"m\"\n\n[compression]\nsummarizer = \"llm\"\nsummarizer_provider = \"cheap\"\n";
    let (p, text) = problem(src);
    assert_eq!(p.key, "compression.summarizer_provider");
    assert_eq!(p.line, Some(7));
    assert!(
        text.contains("provider `cheap` is not defined") && text.contains("main"),
        "{text}"
    );
}

#[test]
fn missing_tool_and_model_references() {
    let src = "[[mock.faults]]\nendpoint = \"tool:nope\"\nkind = \"stall\"\nprobability = 0.1\n";
    let (p, text) = problem(src);
    assert_eq!(p.key, "mock.faults[0].endpoint");
    assert!(text.contains("tool `nope` is not defined"), "{text}");
    let src = "[[mock.faults]]\nendpoint = \"chat\"\nkind = \"stall\"\nprobability = 0.1\nmodel = \"gpt-9\"\n";
    let (p, text) = problem(src);
    assert_eq!((p.key.as_str(), p.line), ("mock.faults[0].model", Some(5)));
    assert!(
        text.contains("model `gpt-9` is not served") && text.contains("mock-gpt"),
        "{text}"
    );
}

#[test]
fn empty_file() {
    for src in ["", "\n\n# only a comment\n"] {
        let (p, text) = problem(src);
        assert_eq!(p.line, None);
        assert!(
            text.starts_with("bad.toml: the scenario file is empty"),
            "{text}"
        );
        assert!(text.contains("print-scenario"), "{text}");
    }
}

#[test]
fn syntax_error_is_located() {
    let (p, text) = problem("[fleet\nagents = 3\n");
    assert_eq!(p.line, Some(1));
    assert!(text.starts_with("bad.toml:1:"), "{text}");
}

#[test]
fn cross_field_problems_are_all_reported() {
    let src = "[fleet]\nagents = 0\nduration = \"5s\"\nramp_up = \"10s\"\n[llm.providers.0]\n";
    // `[llm.providers.0]` is a table, not an array: a type error stops before validation.
    assert!(Scenario::from_toml(src, "x.toml").is_err());
    let src = "[fleet]\nagents = 0\nduration = \"5s\"\nramp_up = \"10s\"\n";
    let err = Scenario::from_toml(src, "x.toml").unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["fleet.agents", "fleet.ramp_up"]);
    assert_eq!(err.problems()[1].line, Some(4));
}

#[test]
fn a_run_always_has_a_stop_condition() {
    let s = Scenario::from_toml("[fleet]\nagents = 3\n", "x.toml").unwrap();
    assert_eq!(s.fleet.duration, Some(Fleet::DEFAULT_DURATION));
    let s = Scenario::from_toml("[fleet]\nmax_sessions = 40\n", "x.toml").unwrap();
    assert_eq!((s.fleet.duration, s.fleet.max_sessions), (None, Some(40)));
    assert_eq!(Scenario::from_toml(&s.to_toml(), "again").unwrap(), s);
}

#[test]
fn api_key_itself_is_refused_as_a_variable_name() {
    let src = "[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nbase_url = \"https://api.example.com/v1\"\napi_key_env = \"sk-abc123\"\n";
    let (p, text) = problem(src);
    assert_eq!(p.key, "llm.providers[0].api_key_env");
    assert!(text.contains("never the key itself"), "{text}");
}

#[test]
fn bad_base_url() {
    let (p, text) =
        problem("[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nbase_url = \"localhost:8000\"\n");
    assert_eq!(p.key, "llm.providers[0].base_url");
    assert!(
        text.contains("\"embedded\"") && text.contains("http"),
        "{text}"
    );
}

#[test]
fn effective_scenario_fills_defaults_and_reparses() {
    let s = load(&fixture("smoke.toml")).unwrap();
    let text = s.to_toml();
    assert!(
        text.contains("[targets]") && text.contains("agent_response_p95 = \"2s\""),
        "{text}"
    );
    assert_eq!(Scenario::from_toml(&text, "effective").unwrap(), s);
}

// ---- round trips over generated scenarios ----

fn dur() -> impl Strategy<Value = Dur> {
    (0u64..10_000_000).prop_map(Dur::micros)
}

fn dur_dist() -> impl Strategy<Value = DurationDist> {
    prop_oneof![
        dur().prop_map(Dist::Constant),
        (dur(), dur()).prop_map(|(a, b)| Dist::Uniform {
            min: a.min(b),
            max: a.max(b)
        }),
        (1u64..5_000_000, 0u64..5_000_000).prop_map(|(m, extra)| Dist::LogNormal {
            median: Dur::micros(m),
            p95: Dur::micros(m + extra)
        }),
        prop::collection::vec(dur(), 1..5).prop_map(Dist::Empirical),
    ]
}

fn token_dist() -> impl Strategy<Value = TokenDist> {
    prop_oneof![
        (0u32..100_000).prop_map(|t| Dist::Constant(Tokens(t))),
        (1u32..1000, 0u32..1000).prop_map(|(m, e)| Dist::LogNormal {
            median: Tokens(m),
            p95: Tokens(m + e)
        }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        1u32..100_000,
        dur_dist(),
        token_dist(),
        prop::option::of(1u32..1_000_000),
        0.0f64..=1.0,
        prop::sample::select(vec![ClockMode::Live, ClockMode::Virtual]),
        prop::collection::btree_map("[a-z_]{1,12}", (0.0f64..10.0, dur_dist()), 0..4),
    )
        .prop_map(|(seed, agents, think, user, rpm, p, clock, tools)| {
            let mut s = Scenario {
                seed,
                clock,
                ..Scenario::default()
            };
            s.fleet.agents = agents;
            s.session.think_time = think;
            s.session.user_message_tokens = user;
            s.llm.providers[0].limits.rpm = rpm;
            s.mock.tool_call_probability = Probability(p);
            for (name, (weight, latency)) in tools {
                let mut tool = Tool {
                    weight: Rate(weight),
                    ..Tool::default()
                };
                tool.mock.latency = latency;
                s.tools.insert(name, tool);
            }
            s
        })
}

proptest! {
    #[test]
    fn toml_round_trip(s in scenario()) {
        let text = s.to_toml();
        let back = Scenario::from_toml(&text, "generated").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, s);
    }

    #[test]
    fn durations_round_trip_through_text(us in 0u64..u64::from(u32::MAX) * 1000) {
        let d = Dur::micros(us);
        prop_assert_eq!(d.to_string().parse::<Dur>().unwrap(), d);
    }
}

#[test]
fn token_limits_belong_to_llm_providers_only() {
    let (p, text) = problem("[tools.search]\nlimits = { rpm = 100, tpm = 5000 }\n");
    assert_eq!(p.key, "tools.search.limits.tpm");
    assert_eq!(p.line, Some(2));
    assert!(
        text.contains("applies to LLM providers only") && text.contains("rpm"),
        "{text}"
    );
}

#[test]
fn shards_are_checked_against_the_agents_and_the_clock() {
    let base = "clock = \"virtual\"\n[fleet]\nagents = 4\n";
    assert!(Scenario::from_toml(&format!("{base}shards = 4\n"), "x.toml").is_ok());
    for (extra, says) in [
        ("shards = 0\n", "invalid shards `0`: give 1 to 256"),
        ("shards = 257\n", "invalid shards `257`"),
        ("shards = 5\n", "shards `5` is more than the 4 agents"),
    ] {
        let (p, text) = problem(&format!("{base}{extra}"));
        assert_eq!(
            (p.key.as_str(), p.line),
            ("fleet.shards", Some(4)),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
    }
    let (p, text) = problem("clock = \"live\"\n[fleet]\nagents = 4\nshards = 2\n");
    assert_eq!(p.key, "fleet.shards");
    assert!(
        text.contains("virtual clock only") && text.contains("shards = 1"),
        "{text}"
    );
}

#[test]
fn scenarios_changed_in_code_are_checked_too() {
    let mut s = Scenario::default();
    assert!(s.check("flags").is_ok());
    s.fleet.agents = 0;
    let err = s.check("command line (--agents)").unwrap_err().to_string();
    assert_eq!(
        err,
        "command line (--agents): key `fleet.agents`: invalid value `0`: the number of agents must be at least 1"
    );
}

#[test]
fn unknown_strategy_names_the_key_the_value_and_the_valid_names() {
    let (p, text) = problem("[compression]\nstrategy = \"window + clipp\"\n");
    assert_eq!(p.key, "compression.strategy");
    assert_eq!((p.line, p.column), (Some(2), Some(12)));
    assert_eq!(
        text,
        "bad.toml:2:12: key `compression.strategy`: unknown compression strategy `clipp` in \
         `window + clipp`: use one of none, window, token-budget, observation-masking, clip, \
         dedup, supersede, amortized, rolling-summary, structured-summary, offload (join several \
         with `+`)"
    );
}

#[test]
fn strategy_names_are_spelled_one_way() {
    for name in StrategyName::ALL {
        // serde, Display and FromStr agree on the kebab-case name.
        let toml = toml::Value::try_from(name).unwrap();
        assert_eq!(toml.as_str(), Some(name.as_str()));
        assert_eq!(toml.try_into::<StrategyName>(), Ok(name));
        assert_eq!(name.as_str().parse::<StrategyName>(), Ok(name));
        assert_eq!(Pipeline::from(name).stages(), [name]);
    }
    let p: Pipeline = " observation-masking +rolling-summary".parse().unwrap();
    assert_eq!(
        p.stages(),
        [
            StrategyName::ObservationMasking,
            StrategyName::RollingSummary
        ]
    );
    assert_eq!(p.to_string(), "observation-masking+rolling-summary");
    assert!(p.rewrites());
    assert!(!"none+none".parse::<Pipeline>().unwrap().rewrites());
    assert_eq!(Pipeline::default().to_string(), "none");
    assert!("".parse::<Pipeline>().is_err());
    // Tables align names.
    assert_eq!(format!("{:<6}|", StrategyName::Clip), "clip  |");
}

#[test]
fn each_strategy_reads_only_its_own_keys() {
    use compression::*;
    let src = "[compression]\n\
               strategy = \"window+observation-masking+clip+offload+amortized\"\n\
               keep_first = 3\nkeep_last = 7\nmask_keep_last = 4\n\
               clip_tokens = 90\nzstd_level = 9\n";
    let c = Scenario::from_toml(src, "c.toml").unwrap().compression;
    let stages: Vec<StrategyConfig> = c.stages().collect();
    assert_eq!(
        stages,
        [
            StrategyConfig::Window(WindowConfig {
                keep_first: 3,
                keep_last: 7
            }),
            StrategyConfig::ObservationMasking(MaskingConfig { keep_last: 4 }),
            StrategyConfig::Clip(ClipConfig { clip_tokens: 90 }),
            StrategyConfig::Offload(OffloadConfig {
                keep_first: 3,
                zstd_level: 9
            }),
            StrategyConfig::Amortized(AmortizedConfig { keep_first: 3 }),
        ]
    );
    for name in StrategyName::ALL {
        assert_eq!(c.stage(name).name(), name);
    }
}
