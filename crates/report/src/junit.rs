//! The targets as JUnit XML, for CI test reports: one test suite per run, one test case per
//! target, a `<failure>` for each target missed, and a failed `run interrupted` test case when
//! a signal stopped the run (its figures cover only part of it, so it must not read as a pass).

use metrics::figures::GOODPUT;
use metrics::{RunSnapshot, StopReason, Unit, Verdict};

use crate::readable;

/// `s`'s verdicts as a JUnit XML document.
pub fn junit(s: &RunSnapshot) -> String {
    let interrupted = s.stop == StopReason::Interrupted;
    let tests = s.targets.len() + usize::from(interrupted);
    let failures = s.targets.iter().filter(|v| !v.passed).count() + usize::from(interrupted);
    let time = format!("{:.3}", s.simulated_ms as f64 / 1000.0);
    let counts = format!("tests=\"{tests}\" failures=\"{failures}\" errors=\"0\"");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"fleetbench\" {counts} time=\"{time}\">\n"
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" {counts} skipped=\"0\" time=\"{time}\">\n",
        escape(&format!("fleetbench: {}", s.scenario))
    ));
    out.push_str("    <properties>\n");
    let properties = [
        ("fleetbench_version", s.fleetbench_version.clone()),
        ("scenario", s.scenario.clone()),
        ("seed", s.seed.to_string()),
        ("clock", s.clock.to_string()),
        ("stop", s.stop.to_string()),
        ("simulated_ms", s.simulated_ms.to_string()),
        (GOODPUT.key, s.goodput_turns_per_s.to_string()),
    ];
    for (name, value) in properties {
        out.push_str(&format!(
            "      <property name=\"{name}\" value=\"{}\"/>\n",
            escape(&value)
        ));
    }
    out.push_str("    </properties>\n");
    if interrupted {
        out.push_str(&interrupted_case(s));
    }
    for v in &s.targets {
        out.push_str(&testcase(v));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The failed test case of an interrupted run.
fn interrupted_case(s: &RunSnapshot) -> String {
    let detail = format!(
        "the run was stopped by a signal after {} of fleet time, before its stop condition; its figures cover only that part, and fleetbench exited 3",
        readable::clock(s.simulated_ms)
    );
    format!(
        "    <testcase classname=\"fleetbench.run\" name=\"run interrupted\" time=\"0\">\n      <failure message=\"the run was interrupted\" type=\"interrupted\">{}</failure>\n    </testcase>\n",
        escape(&detail)
    )
}

/// One target as a test case: a `<failure>` when missed, else the measurement in
/// `<system-out>`.
fn testcase(v: &Verdict) -> String {
    let mut out = format!(
        "    <testcase classname=\"fleetbench.targets\" name=\"{}\" time=\"0\">\n",
        escape(&v.target.to_string())
    );
    let mut summary = format!(
        "measured {}, limit {}",
        readable::measured(v),
        readable::limit(v)
    );
    if let Some(note) = &v.note {
        summary.push_str(&format!(" ({note})"));
    }
    if v.passed {
        out.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            escape(&summary)
        ));
    } else {
        let measured = v
            .measured
            .map_or_else(|| "nothing".to_owned(), |m| exact(m, v.unit));
        let detail = format!(
            "{}: measured {measured}, must be {} {}",
            v.target,
            v.op,
            exact(v.limit, v.unit)
        );
        out.push_str(&format!(
            "      <failure message=\"{}\" type=\"target_missed\">{}</failure>\n",
            escape(&summary),
            escape(&detail)
        ));
    }
    out.push_str("    </testcase>\n");
    out
}

/// A number unrounded, with its unit (a ratio stays a plain fraction).
fn exact(x: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => format!("{x} ms"),
        Unit::Agents => format!("{x} agents"),
        Unit::Bytes => format!("{x} bytes"),
        Unit::Ratio | Unit::Count => x.to_string(),
        Unit::PerS => format!("{x}/s"),
    }
}

/// `s` as XML text or attribute value: the five special characters as entities, and the
/// control characters XML 1.0 forbids replaced by U+FFFD.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stopped_by;

    #[test]
    fn escapes_the_five_entities_and_control_characters() {
        assert_eq!(escape(r#"<&>"'"#), "&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(escape("a\u{1}b\tc"), "a\u{FFFD}b\tc");
        assert_eq!(escape("plain p95 < 2 s"), "plain p95 &lt; 2 s");
    }

    #[test]
    fn a_figure_target_is_a_test_case_like_the_others() {
        let mut s = stopped_by(StopReason::Duration);
        s.targets.push(Verdict {
            target: "tool_cache_hit_rate{tool:kb_search}"
                .parse()
                .expect("a figure target"),
            measured: Some(0.5),
            op: metrics::Op::AtLeast,
            limit: 0.8,
            unit: Unit::Ratio,
            passed: false,
            note: None,
        });
        let xml = junit(&s);
        assert!(
            xml.contains(
                "<testcase classname=\"fleetbench.targets\" name=\"tool_cache_hit_rate{tool:kb_search}\" time=\"0\">\n      <failure message=\"measured 50 %, limit &gt;= 80 %\" type=\"target_missed\">tool_cache_hit_rate{tool:kb_search}: measured 0.5, must be &gt;= 0.8</failure>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn an_interrupted_run_is_a_failed_test_case() {
        let done = junit(&stopped_by(StopReason::Duration));
        let stopped = junit(&stopped_by(StopReason::Interrupted));
        let count = |xml: &str, what: &str| xml.matches(what).count();
        assert_eq!(count(&done, "run interrupted"), 0, "{done}");
        assert_eq!(
            count(&stopped, "<testcase "),
            count(&done, "<testcase ") + 1
        );
        assert_eq!(
            count(&stopped, "<failure "),
            count(&done, "<failure ") + 1,
            "{stopped}"
        );
        assert!(
            stopped.contains(
                "<testcase classname=\"fleetbench.run\" name=\"run interrupted\" time=\"0\">\n      <failure message=\"the run was interrupted\" type=\"interrupted\">the run was stopped by a signal after 1m 30s of fleet time"
            ),
            "{stopped}"
        );
        let failures = |xml: &str| {
            let at = xml.find("failures=\"").expect("the suites count failures") + 10;
            xml[at..xml[at..].find('"').expect("the count is quoted") + at]
                .parse::<usize>()
                .expect("a whole number")
        };
        assert_eq!(failures(&stopped), failures(&done) + 1);
    }
}
