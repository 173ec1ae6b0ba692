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
