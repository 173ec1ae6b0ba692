//! Part reports: what `run --part I/N` writes into `--out` (`part-I-of-N.json`) and
//! `fleetbench merge` reads (docs/distributed.md). One JSON file per part, written whole and
//! then renamed into place, so a merge never reads half a part.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use metrics::{Interval, MemoryMethod, ProcessStats};
use scenario::{Param, Scenario};

use crate::args::RunArgs;
use crate::output::{note, note_line, out};

/// The version of the part report's fields; a merge refuses parts of another.
pub(crate) const FORMAT: u32 = 1;

/// Everything one part of a run measured, and what it was a part of.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartReport {
    /// [`FORMAT`].
    pub(crate) fleetbench_part: u32,
    /// The fleetbench version that ran it.
    pub(crate) fleetbench_version: String,
    /// Which part, from 0.
    pub(crate) index: u32,
    /// Of how many.
    pub(crate) of: u32,
    /// The effective scenario (flags applied, `fleet.shards` = `of`) as TOML, the literal
    /// values of headers and query parameters redacted: the merge judges its targets.
    pub(crate) scenario: String,
    /// [`scenario_hash`] of `scenario`: parts of one run have the same.
    pub(crate) scenario_hash: String,
    /// The run seed (also in `scenario`; here so a mismatch names it).
    pub(crate) seed: u64,
    /// The time series' interval, ms.
    pub(crate) interval_ms: u64,
    /// How per-agent memory was measured.
    pub(crate) memory_method: MemoryMethod,
    /// `--start-at`, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_at_unix_ms: Option<u64>,
    /// The machine it ran on (`HOSTNAME`, else `/etc/hostname`; empty when neither says).
    pub(crate) host: String,
    /// What it measured.
    pub(crate) outcome: fleet::PartOutcome,
    /// Its time series, each interval as `metrics::Interval` serializes (kept encoded until
    /// the merge adds them one index at a time).
    pub(crate) intervals: Vec<Box<RawValue>>,
    /// Its process's figures.
    pub(crate) process: ProcessStats,
}

/// `--part I/N` or `--part auto/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    /// `None` for `auto`: read from [`INDEX_VAR`] when the run starts.
    pub(crate) index: Option<u32>,
    pub(crate) of: u32,
}

/// The most parts a run may have: far beyond any cluster's pods for one run, and small
/// enough that a merge's bookkeeping of them is nothing.
pub(crate) const MAX_PARTS: u32 = 65_536;

/// Where `--part auto/N` reads its index: what a Kubernetes Indexed Job sets in each pod.
pub(crate) const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

pub(crate) fn parse_spec(s: &str) -> Result<Spec, String> {
    let usage = "give I/N, the part I (from 0) of N parts, like 0/4, or auto/4 to read I from JOB_COMPLETION_INDEX";
    let Some((index, of)) = s.split_once('/') else {
        return Err(format!("`{s}` is not I/N: {usage}"));
    };
    let of: u32 = of
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| format!("`{of}` is not a number of parts (1 to {MAX_PARTS}): {usage}"))?;
    let index = match index.trim() {
        "auto" => None,
        i => Some(check_index(i, of).map_err(|e| format!("{e}: {usage}"))?),
    };
    Ok(Spec { index, of })
}

/// `index` as part of `of` parts: a number below `of`.
fn check_index(index: &str, of: u32) -> Result<u32, String> {
    let i: u32 = index
        .parse()
        .map_err(|_| format!("the part index `{index}` is not a whole number"))?;
    if i >= of {
        return Err(format!(
            "the part index {i} is out of range: the parts of {of} are 0 to {}",
            of - 1
        ));
    }
    Ok(i)
}

impl Spec {
    /// The part this process runs: `auto` resolved from [`INDEX_VAR`] in `env`.
    pub(crate) fn resolve(self, env: Option<String>) -> anyhow::Result<fleet::Part> {
        let index = match self.index {
            Some(i) => i,
            None => {
                let Some(value) = env else {
                    anyhow::bail!(
                        "--part auto/{}: {INDEX_VAR} is not set (a Kubernetes Indexed Job sets it in each pod); elsewhere give the index, like --part 0/{}",
                        self.of,
                        self.of
                    );
                };
                check_index(value.trim(), self.of).map_err(|e| {
                    anyhow::anyhow!(
                        "--part auto/{}: {INDEX_VAR}={value:?}: {e}; run {} parts (completions = parallelism = {}) or give --part with the run's N",
                        self.of,
                        self.of,
                        self.of
                    )
                })?
            }
        };
        Ok(fleet::Part { index, of: self.of })
    }
}

pub(crate) fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("`{s}` is not an RFC 3339 instant ({e}): give one like 2026-12-06T18:00:00Z")
    })
}

/// Checks that `scenario` can run as `part`, and says what a part run should know. An HTTP
/// agent's runtime is not split (its memory section has no merge yet); `fleet.shards` in the
/// scenario must be 1 or the parts' N; each part needs an agent.
pub(crate) fn check(
    scenario: &Scenario,
    part: fleet::Part,
    start_at: Option<std::time::SystemTime>,
) -> anyhow::Result<()> {
    let of = part.of;
    if scenario.agent.is_http() {
        anyhow::bail!(
            "--part {}/{of}: an HTTP agent's runtime ([agent] kind = \"http\") runs whole for now (the runtime's memory section has no merge); drop --part, or run one fleetbench per runtime",
            part.index
        );
    }
    let shards = scenario.fleet.shards;
    if shards > 1 && shards != of {
        anyhow::bail!(
            "--part {}/{of} with `fleet.shards = {shards}` in the scenario: the parts are the run's shards; set fleet.shards to {of} or 1 (or leave it out)",
            part.index
        );
    }
    if scenario.fleet.agents < of {
        anyhow::bail!(
            "--part {}/{of}: {of} parts of {} agents (`fleet.agents`) leave a part without one; use at most {} parts, or more agents",
            part.index,
            scenario.fleet.agents,
            scenario.fleet.agents
        );
    }
    match scenario.clock {
        scenario::ClockMode::Live if of > 1 && start_at.is_none() => {
            crate::output::note_line(&format!(
                "warning: --part {}/{of} on the live clock without --start-at: this part starts when it is ready, not with the others; give every part the same --start-at instant",
                part.index
            ))
        }
        scenario::ClockMode::Virtual if start_at.is_some() => crate::output::note_line(
            "warning: --start-at applies to the live clock; a virtual run starts at once (its report does not depend on when)",
        ),
        _ => {}
    }
    Ok(())
}

/// The time series kept for the part report: each interval encoded as it ends (its
/// histograms compressed, a few KB an interval; decoded, each histogram takes 190 KB).
pub(crate) type Kept = Arc<Mutex<Vec<Box<RawValue>>>>;

/// The interval (the run's `--interval`, 1 s for 0), the callback that keeps each one, and
/// where it keeps them.
pub(crate) fn keep_intervals(
    every: std::time::Duration,
) -> (std::time::Duration, fleet::IntervalFn, Kept) {
    let every = if every.is_zero() {
        std::time::Duration::from_secs(1)
    } else {
        every
    };
    let kept: Kept = Arc::default();
    let sink = kept.clone();
    let on_interval: fleet::IntervalFn = Arc::new(move |i: &Interval| {
        let encoded =
            serde_json::value::to_raw_value(i).expect("an interval always serializes to JSON");
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(encoded);
    });
    (every, on_interval, kept)
}

/// After a part's run: its part report written into --out (nothing is lost if stdout fails
/// later), its own summary printed; exits 0 when it ran to its end (its targets are judged by
/// the merge, on the whole run), 3 when a signal stopped it.
pub(crate) fn finish(
    args: &RunArgs,
    scenario: &Scenario,
    part: fleet::Part,
    outcome: fleet::RunOutcome,
    intervals: Option<Kept>,
) -> anyhow::Result<ExitCode> {
    let Some(figures) = outcome.part else {
        anyhow::bail!("the part's run gave no figures (a bug: please report it)");
    };
    let intervals = intervals
        .map(|k| std::mem::take(&mut *k.lock().unwrap_or_else(PoisonError::into_inner)))
        .unwrap_or_default();
    let stored = stored_scenario(scenario);
    let report = PartReport {
        fleetbench_part: FORMAT,
        fleetbench_version: env!("CARGO_PKG_VERSION").to_owned(),
        index: part.index,
        of: part.of,
        scenario_hash: scenario_hash(&stored),
        scenario: stored,
        seed: scenario.seed,
        interval_ms: u64::try_from(args.interval.0.as_millis()).unwrap_or(u64::MAX),
        memory_method: outcome.snapshot.agents.memory_method,
        start_at_unix_ms: args.start_at.map(unix_ms),
        host: host(),
        outcome: figures,
        intervals,
        process: outcome.snapshot.process.clone(),
    };
    let dir = args
        .out
        .as_deref()
        .context("--part needs --out (clap requires it)")?;
    let path = match write(dir, &report) {
        Ok(path) => path,
        // Not lost: the part report goes to the temporary directory, and the error says where.
        Err(err) => {
            return Err(match write(&std::env::temp_dir(), &report) {
                Ok(rescued) => err.context(format!(
                    "the part report was saved to {} instead; move it beside the other parts",
                    rescued.display()
                )),
                Err(_) => err.context("the part report could not be saved anywhere"),
            });
        }
    };
    note_line(&format!("wrote {}", path.display()));
    let summary = report::terminal(&outcome.snapshot);
    let said = format!(
        "{summary}\npart {} of {}: its targets are judged on the whole run by `fleetbench merge`\n",
        part.index, part.of
    );
    if args.json {
        note(&said);
        out(&report::json(&outcome.snapshot)).context("cannot print report.json to stdout")?;
    } else {
        out(&said).context("cannot print the summary to stdout")?;
    }
    Ok(if outcome.stop == fleet::StopReason::Interrupted {
        crate::signals::interrupted()
    } else {
        ExitCode::SUCCESS
    })
}

/// `t` in ms since the epoch (0 before it).
pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The file part `index` of `of` is written to in `dir`.
pub(crate) fn file_name(index: u32, of: u32) -> String {
    format!("part-{index}-of-{of}.json")
}

/// Writes `report` into `dir` as [`file_name`], through a temporary file renamed into place.
pub(crate) fn write(dir: &Path, report: &PartReport) -> anyhow::Result<PathBuf> {
    let path = dir.join(file_name(report.index, report.of));
    let partial = dir.join(format!(".{}.partial", file_name(report.index, report.of)));
    let text = serde_json::to_string(report).context("the part report serializes")?;
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &path))
        .with_context(|| {
            format!(
                "--out {}: cannot write the part report {}; give a directory you can write to",
                dir.display(),
                path.display()
            )
        })?;
    Ok(path)
}

/// Reads the part report at `path`.
pub(crate) fn read(path: &Path) -> anyhow::Result<PartReport> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "{}: cannot read the part report; give the part-I-of-N.json files `run --part` wrote, or their directory",
            path.display()
        )
    })?;
    let head: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a part report (not JSON); give the part-I-of-N.json files `run --part` wrote",
            path.display()
        )
    })?;
    let format = head
        .get("fleetbench_part")
        .and_then(serde_json::Value::as_u64);
    match format {
        None => anyhow::bail!(
            "{}: not a part report (no `fleetbench_part` field); give the part-I-of-N.json files `run --part` wrote",
            path.display()
        ),
        Some(f) if f != u64::from(FORMAT) => anyhow::bail!(
            "{}: `fleetbench_part` is {f}, this fleetbench reads {FORMAT}; merge with the fleetbench version that ran the parts ({})",
            path.display(),
            head.get("fleetbench_version")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown")
        ),
        Some(_) => {}
    }
    serde_json::from_value(head).with_context(|| {
        format!(
            "{}: a damaged part report; run that part again",
            path.display()
        )
    })
}

/// The scenario as a part report holds it: TOML, every literal header and query value
/// replaced (a key passed with `--header` must not land on a shared volume); variables'
/// names stay.
pub(crate) fn stored_scenario(scenario: &Scenario) -> String {
    let mut s = scenario.clone();
    let redact = |map: &mut std::collections::BTreeMap<String, Param>| {
        for value in map.values_mut() {
            if let Param::Plain(v) = value {
                *v = "<redacted>".to_owned();
            }
        }
    };
    redact(&mut s.agent.headers);
    redact(&mut s.agent.query);
    for p in &mut s.llm.providers {
        redact(&mut p.headers);
        redact(&mut p.query);
    }
    for t in s.tools.values_mut() {
        redact(&mut t.headers);
        redact(&mut t.query);
    }
    s.to_toml()
}

/// The hash parts of one run share: of the stored scenario's TOML, in hex.
pub(crate) fn scenario_hash(stored: &str) -> String {
    format!("{:016x}", scenario::rng::BodyHash::of(stored.as_bytes()))
}

/// This machine's name, for the merged report's list of parts.
pub(crate) fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_spec("1/4"),
            Ok(Spec {
                index: Some(1),
                of: 4
            })
        );
        assert_eq!(parse_spec("auto/3"), Ok(Spec { index: None, of: 3 }));
        let err = parse_spec("4/4").unwrap_err();
        assert!(
            err.contains("index 4 is out of range") && err.contains("0 to 3"),
            "{err}"
        );
        assert!(parse_spec("1/0").unwrap_err().contains("number of parts"));
        assert!(parse_spec("x/2").unwrap_err().contains("`x`"));
        assert!(parse_spec("3").unwrap_err().contains("not I/N"));
        let auto = Spec { index: None, of: 2 };
        assert_eq!(
            auto.resolve(Some("1".to_owned())).unwrap(),
            fleet::Part { index: 1, of: 2 }
        );
        let err = auto.resolve(None).unwrap_err().to_string();
        assert!(err.contains("JOB_COMPLETION_INDEX is not set"), "{err}");
        let err = auto.resolve(Some("2".to_owned())).unwrap_err().to_string();
        assert!(
            err.contains("JOB_COMPLETION_INDEX=\"2\"") && err.contains("out of range"),
            "{err}"
        );
    }

    #[test]
    fn literal_header_values_are_redacted_and_variables_kept() {
        let s = Scenario::from_toml(
            r#"
            [[llm.providers]]
            name = "p"
            base_url = "http://127.0.0.1:1/v1"
            model = "m"
            headers = { authorization = "Bearer sk-secret", "x-team" = { env = "TEAM" } }
            query = { key = "q-secret" }
            "#,
            "test",
        )
        .expect("a valid scenario");
        let stored = stored_scenario(&s);
        assert!(
            !stored.contains("sk-secret") && !stored.contains("q-secret"),
            "{stored}"
        );
        assert!(stored.contains("TEAM"), "{stored}");
        let back = Scenario::from_toml(&stored, "stored").expect("the stored scenario loads");
        assert_eq!(back.targets, s.targets);
        assert_eq!(
            scenario_hash(&stored),
            scenario_hash(&stored_scenario(&back))
        );
    }
}
