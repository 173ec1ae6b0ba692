//! `--vary VAR=LOW..HIGH` and `--resolution`: what a sweep changes and over which range.

use anyhow::bail;
use scenario::{Arrival, Scenario};

use super::search::Range;

/// The setting a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variable {
    /// `fleet.agents`: the fleet's size (closed loop), or the most sessions at once (open).
    Agents,
    /// `fleet.rate`: sessions started per second, for open-loop arrivals.
    Rate,
}

impl Variable {
    /// The name `--vary` takes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Variable::Agents => "agents",
            Variable::Rate => "rate",
        }
    }

    /// Sets `value` in `s`.
    pub(crate) fn apply(self, s: &mut Scenario, value: f64) {
        match self {
            // The range was checked to fit a u32.
            Variable::Agents => s.fleet.agents = value as u32,
            Variable::Rate => s.fleet.rate = Some(scenario::Rate(value)),
        }
    }

    /// The value as the table shows it.
    pub(crate) fn show(self, value: f64) -> String {
        match self {
            Variable::Agents => format!("{value:.0}"),
            Variable::Rate => format!("{value}"),
        }
    }
}

/// Parses `--vary` and `--resolution` against the scenario they apply to.
pub(crate) fn parse(
    vary: &str,
    resolution: Option<f64>,
    s: &Scenario,
) -> anyhow::Result<(Variable, Range)> {
    let Some((name, range)) = vary.split_once('=') else {
        bail!(
            "--vary {vary}: write the variable and its range as VAR=LOW..HIGH, like --vary agents=500..20000"
        );
    };
    let variable = match name.trim() {
        "agents" => Variable::Agents,
        "rate" => Variable::Rate,
        other => bail!(
            "--vary {vary}: unknown variable `{other}`; vary `agents` (like agents=500..20000) or, for open-loop arrivals, `rate` (sessions/s, like rate=1..50)"
        ),
    };
    if variable == Variable::Rate && s.fleet.arrival == Arrival::Closed {
        bail!(
            "--vary {vary}: the scenario's arrivals are closed-loop, so it has no rate to vary; vary agents instead, or set fleet.arrival to an open-loop kind with a fleet.rate"
        );
    }
    let Some((low, high)) = range.split_once("..") else {
        bail!("--vary {vary}: write the range as LOW..HIGH, like {name}=500..20000");
    };
    let number = |text: &str| -> anyhow::Result<f64> {
        let x: f64 = text.trim().parse().map_err(|_| {
            anyhow::anyhow!("--vary {vary}: `{text}` is not a number; write the range as LOW..HIGH, like {name}=500..20000")
        })?;
        if !x.is_finite() || x < 0.0 {
            bail!("--vary {vary}: `{text}` must be a finite number of at least 0");
        }
        if variable == Variable::Agents && (x.fract() != 0.0 || x < 1.0 || x > f64::from(u32::MAX))
        {
            bail!(
                "--vary {vary}: `{text}` is not a whole number of agents from 1 up; write like agents=500..20000"
            );
        }
        Ok(x)
    };
    let (from, to) = (number(low)?, number(high)?);
    if from >= to {
        bail!(
            "--vary {vary}: the range is empty ({} is not below {}); give the smaller value first, like {name}={}..{}",
            low.trim(),
            high.trim(),
            high.trim(),
            low.trim()
        );
    }
    let whole = variable == Variable::Agents;
    let resolution = match resolution {
        Some(r) if !r.is_finite() || r <= 0.0 => {
            bail!("--resolution {r}: give a positive step in the varied unit, like --resolution 50")
        }
        Some(r) => r,
        // 1 % of the range: some eight steps more than the doubling needs.
        None if whole => ((to - from) / 100.0).round().max(1.0),
        None => (to - from) / 100.0,
    };
    Ok((
        variable,
        Range {
            from,
            to,
            resolution,
            whole,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(arrival: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\nclock = \"virtual\"\n[fleet]\nagents = 10\nduration = \"5s\"\n{arrival}\n[[llm.providers]]\nname = \"mock\"\nbase_url = \"embedded\"\nmodel = \"m\"\n[targets]\nmin_concurrent_agents = 1\n"
        );
        Scenario::from_toml(&text, "test").expect("a valid scenario")
    }

    #[test]
    fn agents_default_to_a_resolution_of_one_percent_of_the_range() {
        let (variable, range) = parse("agents=500..20000", None, &scenario("")).unwrap();
        assert_eq!(variable, Variable::Agents);
        assert_eq!(
            (range.from, range.to, range.resolution),
            (500.0, 20_000.0, 195.0)
        );
        assert!(range.whole);
    }

    #[test]
    fn a_rate_needs_open_loop_arrivals_and_is_not_rounded() {
        let open = scenario("arrival = \"poisson\"\nrate = 5");
        let (variable, range) = parse("rate=0.5..8", Some(0.25), &open).unwrap();
        assert_eq!(variable, Variable::Rate);
        assert_eq!((range.from, range.to, range.resolution), (0.5, 8.0, 0.25));
        assert!(!range.whole);
        let mut s = open;
        variable.apply(&mut s, 2.5);
        assert_eq!(s.fleet.rate, Some(scenario::Rate(2.5)));
        let err = parse("rate=1..5", None, &scenario("")).unwrap_err();
        assert!(err.to_string().contains("closed-loop"), "{err}");
    }

    #[test]
    fn bad_ranges_name_the_flag_the_value_and_a_fix() {
        let s = scenario("");
        for (vary, resolution, says) in [
            (
                "agents",
                None,
                "write the variable and its range as VAR=LOW..HIGH",
            ),
            ("agents=5", None, "write the range as LOW..HIGH"),
            (
                "agents=10..5",
                None,
                "the range is empty (10 is not below 5)",
            ),
            ("agents=5..5", None, "the range is empty"),
            ("agents=1.5..5", None, "not a whole number of agents"),
            ("agents=0..5", None, "not a whole number of agents"),
            ("agents=x..5", None, "`x` is not a number"),
            (
                "agents=1..5",
                Some(0.0),
                "--resolution 0: give a positive step",
            ),
        ] {
            let err = parse(vary, resolution, &s).unwrap_err().to_string();
            assert!(err.contains(says), "{vary}: {err}");
        }
    }
}
