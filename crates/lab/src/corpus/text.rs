//! The real text tool outputs are cut from: a dozen of this repository's docs and sources
//! (`fixtures/corpus/text/`, about 200 KB), compiled into the binary so it works from any
//! directory and lossless ratios are those of real text, not of a small synthetic vocabulary.

use std::sync::LazyLock;

use scenario::SimRng;

/// One embedded file.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path it is shown under (where it lives in the repository).
    pub(crate) path: &'static str,
    /// Documentation (`true`) or source code.
    pub(crate) doc: bool,
    /// Its lines.
    pub(crate) lines: Vec<&'static str>,
}

macro_rules! embed {
    ($($doc:literal $path:literal => $file:literal),* $(,)?) => {
        [$(($doc, $path, include_str!(concat!("../../../../fixtures/corpus/text/", $file)))),*]
    };
}

const FILES: [(bool, &str, &str); 12] = embed![
    true "docs/architecture.md" => "architecture.md",
    true "docs/metrics.md" => "metrics.md",
    true "docs/mock.md" => "mock.md",
    true "docs/performance.md" => "performance.md",
    true "docs/scenario.md" => "scenario.md",
    false "crates/clients/src/breaker.rs" => "breaker.rs.txt",
    false "crates/clients/src/cache.rs" => "cache.rs.txt",
    false "crates/fleet/src/runner.rs" => "runner.rs.txt",
    false "crates/metrics/src/histogram.rs" => "histogram.rs.txt",
    false "crates/mock/src/app.rs" => "app.rs.txt",
    false "crates/scenario/src/dist.rs" => "dist.rs.txt",
    false "crates/scenario/src/validate.rs" => "validate.rs.txt",
];

static SOURCES: LazyLock<Vec<Source>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(doc, path, text)| Source {
            path,
            doc,
            lines: text.lines().collect(),
        })
        .collect()
});

/// Every embedded file.
pub(crate) fn sources() -> &'static [Source] {
    &SOURCES
}

/// A random embedded file: a doc when `doc`, else source code.
pub(crate) fn pick(rng: &mut SimRng, doc: bool) -> &'static Source {
    let of_kind: Vec<&Source> = sources().iter().filter(|s| s.doc == doc).collect();
    of_kind[index(rng, of_kind.len())]
}

/// `n` consecutive lines of `source` from a random start, running on into the next files
/// when one ends (so outputs of thousands of lines are still real text).
pub(crate) fn lines(rng: &mut SimRng, source: &'static Source, n: usize) -> Vec<&'static str> {
    let all = sources();
    let mut file = all
        .iter()
        .position(|s| std::ptr::eq(s, source))
        .expect("a source comes from sources()");
    let mut at = index(rng, source.lines.len());
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let lines = &all[file].lines;
        let take = (n - out.len()).min(lines.len() - at);
        out.extend_from_slice(&lines[at..at + take]);
        file = (file + 1) % all.len();
        at = 0;
    }
    out
}

/// A few sentences of prose from the docs (for user and assistant text).
pub(crate) fn prose(rng: &mut SimRng, max_lines: usize) -> String {
    let n = 1 + index(rng, max_lines.max(1));
    let source = pick(rng, true);
    lines(rng, source, n * 3)
        .into_iter()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with(['#', '|', '`', '-'])
        })
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A uniform index below `n` (0 when `n` is 0).
pub(crate) fn index(rng: &mut SimRng, n: usize) -> usize {
    usize::try_from(rng.below(n as u64)).expect("an index below a usize fits a usize")
}
