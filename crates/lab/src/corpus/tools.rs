//! The tools of each profile: a call's name and JSON arguments, and its output cut from the
//! embedded real text. Output sizes are log-normal in lines, capped.

use scenario::text::word;
use scenario::{Dist, SimRng, Tokens};
use serde_json::json;

use super::Profile;
use super::text::{self, Source, index};

/// A tool call and the lines of its result.
#[derive(Debug)]
pub(crate) struct Output {
    /// The tool.
    pub(crate) name: &'static str,
    /// Its arguments, a JSON text.
    pub(crate) arguments: String,
    /// The result, line by line.
    pub(crate) lines: Vec<String>,
}

/// Output sizes of a profile, in lines.
struct Sizes {
    median: u32,
    p95: u32,
    min: usize,
    cap: usize,
    /// At least this many lines for an output that carries a fact at its head, middle or tail.
    long: usize,
}

fn sizes(profile: Profile) -> Sizes {
    match profile {
        Profile::Chat => Sizes {
            median: 15,
            p95: 80,
            min: 3,
            cap: 300,
            long: 60,
        },
        Profile::Coding => Sizes {
            median: 40,
            p95: 600,
            min: 10,
            cap: 3000,
            long: 120,
        },
        Profile::Browse => Sizes {
            median: 250,
            p95: 1500,
            min: 40,
            cap: 3000,
            long: 150,
        },
    }
}

/// A random call of `profile`'s tools; a long one (a file, page or search dump) when `long`.
pub(crate) fn call(profile: Profile, rng: &mut SimRng, long: bool) -> Output {
    let s = sizes(profile);
    let drawn = Dist::LogNormal {
        median: Tokens(s.median),
        p95: Tokens(s.p95),
    }
    .sample(rng)
    .0 as usize;
    let n = drawn.clamp(if long { s.long } else { s.min }, s.cap);
    match profile {
        Profile::Chat => dump(rng, "lookup", "query", true, n),
        Profile::Browse if long || rng.chance(0.7) => page(rng, n),
        Profile::Browse => search(rng, n.min(30)),
        // grep and ls can come out shorter than asked, so they never carry a long output.
        Profile::Coding => match index(rng, if long { 3 } else { 5 }) {
            0 => read_file(rng, n),
            1 => run_tests(rng, n),
            2 => diff(rng, n),
            3 => grep(rng, n),
            _ => ls(rng, n.min(40)),
        },
    }
}

/// The call that touches the file `path`, for the profile (its result does not repeat the
/// path, so the value occurs once).
pub(crate) fn touch(profile: Profile, rng: &mut SimRng, path: &str) -> Output {
    let (name, arguments, result) = match profile {
        Profile::Coding => (
            "edit_file",
            json!({"path": path, "instructions": text::prose(rng, 1)}),
            format!("edited: {} lines changed", 1 + rng.below(40)),
        ),
        Profile::Chat => (
            "save_note",
            json!({"path": path, "title": title(rng)}),
            "saved the note".to_owned(),
        ),
        Profile::Browse => (
            "save_page",
            json!({"path": path, "url": url(text::pick(rng, true))}),
            format!("saved {} bytes", 1000 + rng.below(90_000)),
        ),
    };
    Output {
        name,
        arguments: arguments.to_string(),
        lines: vec![result],
    }
}

fn owned(lines: Vec<&str>) -> Vec<String> {
    lines.into_iter().map(str::to_owned).collect()
}

fn title(rng: &mut SimRng) -> String {
    format!("{} {}", word(rng), word(rng))
}

fn url(source: &Source) -> String {
    format!("https://docs.fleetbench.invalid/{}", source.path)
}

/// Lines of a doc (a lookup or page) or of a source file.
fn dump(rng: &mut SimRng, name: &'static str, key: &str, doc: bool, n: usize) -> Output {
    let source = text::pick(rng, doc);
    let arguments = json!({ key: title(rng) }).to_string();
    Output {
        name,
        arguments,
        lines: owned(text::lines(rng, source, n)),
    }
}

fn page(rng: &mut SimRng, n: usize) -> Output {
    let source = text::pick(rng, true);
    Output {
        name: "fetch_page",
        arguments: json!({"url": url(source)}).to_string(),
        lines: owned(text::lines(rng, source, n)),
    }
}

fn search(rng: &mut SimRng, n: usize) -> Output {
    let query = title(rng);
    let mut lines = Vec::with_capacity(2 * n);
    for i in 1..=n.div_ceil(2) {
        let source = text::pick(rng, true);
        let snippet = text::lines(rng, source, 1)[0];
        lines.push(format!("{i}. {} ({})", source.path, url(source)));
        lines.push(format!("   {}", snippet.trim()));
    }
    Output {
        name: "search",
        arguments: json!({ "query": query }).to_string(),
        lines,
    }
}

fn read_file(rng: &mut SimRng, n: usize) -> Output {
    let doc = rng.chance(0.2);
    let source = text::pick(rng, doc);
    Output {
        name: "read_file",
        arguments: json!({"path": source.path}).to_string(),
        lines: owned(text::lines(rng, source, n)),
    }
}

fn grep(rng: &mut SimRng, n: usize) -> Output {
    let pattern = word(rng);
    let mut hits: Vec<String> = Vec::new();
    for s in text::sources() {
        for (i, line) in s.lines.iter().enumerate() {
            if line.contains(pattern) {
                hits.push(format!("{}:{}:{line}", s.path, i + 1));
            }
        }
    }
    let start = index(rng, hits.len());
    hits.rotate_left(start);
    hits.truncate(n);
    Output {
        name: "grep",
        arguments: json!({"pattern": pattern}).to_string(),
        lines: hits,
    }
}

fn run_tests(rng: &mut SimRng, n: usize) -> Output {
    let source = text::pick(rng, false);
    let module = source
        .path
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".rs"))
        .unwrap_or("lib");
    let mut lines: Vec<String> = text::lines(rng, source, n.saturating_sub(1) * 4)
        .into_iter()
        .filter_map(|l| l.trim_start().strip_prefix("fn ")?.split('(').next())
        .chain(std::iter::repeat_with(|| word(rng)))
        .take(n.saturating_sub(1))
        .map(|f| format!("test {module}::tests::{f} ... ok"))
        .collect();
    lines.push(format!(
        "test result: ok. {} passed; 0 failed; 0 ignored",
        lines.len()
    ));
    Output {
        name: "run_tests",
        arguments: json!({"filter": module}).to_string(),
        lines,
    }
}

fn diff(rng: &mut SimRng, n: usize) -> Output {
    let source = text::pick(rng, false);
    let path = source.path;
    let start = 1 + rng.below(400);
    let mut lines = vec![
        format!("diff --git a/{path} b/{path}"),
        format!("--- a/{path}"),
        format!("+++ b/{path}"),
        format!("@@ -{start},{n} +{start},{n} @@"),
    ];
    for l in text::lines(rng, source, n) {
        let mark = match rng.below(10) {
            0 => '-',
            1 => '+',
            _ => ' ',
        };
        lines.push(format!("{mark}{l}"));
    }
    Output {
        name: "diff",
        arguments: json!({"path": path}).to_string(),
        lines,
    }
}

fn ls(rng: &mut SimRng, n: usize) -> Output {
    let dir = text::pick(rng, false)
        .path
        .rsplit_once('/')
        .map_or("src", |(d, _)| d);
    let mut lines: Vec<String> = text::sources().iter().map(|s| s.path.to_owned()).collect();
    lines.extend((0..n.saturating_sub(lines.len())).map(|_| format!("{dir}/{}.rs", word(rng))));
    Output {
        name: "ls",
        arguments: json!({"path": dir}).to_string(),
        lines,
    }
}
