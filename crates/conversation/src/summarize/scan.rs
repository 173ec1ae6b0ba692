//! A small linear scanner for the summarizers: sentences, tokens, and what a token is (an
//! identifier, a path, a URL, a number). Hand-written instead of regexes: one pass over the
//! bytes, no backtracking, no allocation per token.

/// What a token says, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fact {
    /// It holds a digit (a count, a line number, a date, a price).
    Number,
    /// An identifier, a path, a URL or an error code: a value worth keeping verbatim.
    Identifier,
}

/// Characters that separate tokens besides whitespace (JSON, code, markup punctuation). A
/// colon does not (`https://`, `src/lib.rs:42`), nor do `.`, `-`, `_` and `/`.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\''
                | '`'
                | ','
                | ';'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '|'
                | '='
        )
}

/// The tokens of `text`, trimmed of surrounding punctuation (a sentence's final dot, a
/// trailing colon); a leading `./` or `../` stays.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_separator)
        .map(|t| {
            t.trim_start_matches([':', '*', '!', '?'])
                .trim_end_matches(['.', ':', '!', '?', '*'])
        })
        .filter(|t| !t.is_empty())
}

/// The sentences of `text`: each line, cut after `.`, `!` or `?` followed by a space. Trimmed,
/// never empty.
pub(crate) fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.lines().flat_map(|line| {
        let bytes = line.as_bytes();
        let mut cuts = Vec::new();
        let mut from = 0;
        for i in 0..bytes.len().saturating_sub(1) {
            if matches!(bytes[i], b'.' | b'!' | b'?') && matches!(bytes[i + 1], b' ' | b'\t') {
                // ASCII bytes: `i + 1` is a char boundary.
                cuts.push(&line[from..=i]);
                from = i + 1;
            }
        }
        cuts.push(&line[from..]);
        cuts.into_iter().map(str::trim).filter(|s| !s.is_empty())
    })
}

/// Extensions that make a bare `name.ext` a file name (code would otherwise read as paths:
/// `self.level`).
const EXTENSIONS: [&str; 40] = [
    "rs", "toml", "md", "json", "yaml", "yml", "py", "js", "ts", "tsx", "jsx", "go", "java", "c",
    "h", "cc", "cpp", "hpp", "txt", "log", "sh", "lock", "csv", "html", "css", "sql", "rb", "kt",
    "swift", "cfg", "ini", "xml", "proto", "lua", "php", "cs", "env", "conf", "ipynb", "diff",
];

/// Whether `t` is a URL.
pub(crate) fn is_url(t: &str) -> bool {
    // A char pattern searches with memchr; a str pattern would build a searcher per token.
    t.find(':').is_some_and(|at| {
        at > 0 && t[at..].starts_with("://") && t[..at].bytes().all(|b| b.is_ascii_alphanumeric())
    }) || t.starts_with("www.")
}

/// Whether `t` is a file path: rooted (`/x`, `./x`, `~/x`), two or more slashes, a slash and an
/// extension, or a bare `name.ext` with a known extension. `and/or` is not.
pub(crate) fn is_path(t: &str) -> bool {
    if !t.bytes().any(|b| matches!(b, b'/' | b'\\' | b'.'))
        || !t.bytes().any(|b| b.is_ascii_alphabetic())
        || is_url(t)
    {
        return false;
    }
    let t = strip_line_suffix(t);
    let last = t.rsplit(['/', '\\']).next().unwrap_or(t);
    let extension = last
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, ext)| ext);
    let slashes = t.bytes().filter(|b| matches!(b, b'/' | b'\\')).count();
    if slashes > 0 {
        return ["/", "./", "../", "~/"].iter().any(|p| t.starts_with(p))
            || slashes >= 2
            || extension.is_some_and(|e| !e.is_empty());
    }
    extension.is_some_and(|e| EXTENSIONS.contains(&e))
}

/// `src/lib.rs:42:7` as `src/lib.rs`.
fn strip_line_suffix(t: &str) -> &str {
    let mut t = t;
    for _ in 0..2 {
        match t.rsplit_once(':') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => t = head,
            _ => break,
        }
    }
    t
}

/// `t` as a file path, without a `:line:column` suffix, if it is one.
pub(crate) fn file_path(t: &str) -> Option<&str> {
    is_path(t).then(|| strip_line_suffix(t))
}

/// What the token `t` says, if anything.
pub(crate) fn fact(t: &str) -> Option<Fact> {
    let (mut digit, mut alpha, mut upper, mut lower) = (false, false, false, false);
    for b in t.bytes() {
        digit |= b.is_ascii_digit();
        alpha |= b.is_ascii_alphabetic();
        upper |= b.is_ascii_uppercase();
        lower |= b.is_ascii_lowercase();
    }
    let code = upper && !lower && t.contains('_') && t.len() >= 4; // ERR_TIMEOUT
    if (digit && alpha && t.len() >= 4) || code || is_url(t) || is_path(t) {
        Some(Fact::Identifier)
    } else if digit {
        Some(Fact::Number)
    } else {
        None
    }
}

/// The strongest fact in `text`, if any.
pub(crate) fn strongest(text: &str) -> Option<Fact> {
    let mut best = None;
    for t in tokens(text) {
        best = best.max(fact(t));
        if best == Some(Fact::Identifier) {
            break;
        }
    }
    best
}

/// `s` if short, else its fact-bearing tokens (identifiers first) within `max` bytes: a long
/// log line or minified JSON keeps its values, not its filler.
pub(crate) fn condense(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut out = String::from("…");
    for wanted in [Fact::Identifier, Fact::Number] {
        for t in tokens(s).filter(|t| fact(t) == Some(wanted)) {
            if out.len() + t.len() + 1 > max {
                break;
            }
            out.push(' ');
            out.push_str(t);
        }
    }
    out
}

/// Whether `text` holds one of `phrases` (lowercase words separated by single spaces) as
/// whole words, ignoring ASCII case. Words are runs of letters, digits and apostrophes.
pub(crate) fn has_phrase(text: &str, phrases: &[&str]) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    (0..words.len()).any(|i| {
        phrases.iter().any(|p| {
            let mut at = i;
            p.split(' ').all(|w| {
                let hit = words.get(at).is_some_and(|x| x.eq_ignore_ascii_case(w));
                at += 1;
                hit
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts() {
        for id in [
            "QX7-4471-KP",
            "550e8400-e29b-41d4-a716-446655440000",
            "a3f9c21",
            "E0308",
            "ORD-20931",
            "ERR_TIMEOUT",
            "src/lib.rs",
            "./run.sh",
            "Cargo.toml",
            "https://example.com/a?b=1",
        ] {
            assert_eq!(fact(id), Some(Fact::Identifier), "{id}");
        }
        for n in ["42", "3.5", "2024-05-01"] {
            assert_eq!(fact(n), Some(Fact::Number), "{n}");
        }
        for none in ["hello", "and/or", "self.level", "e.g", "README"] {
            assert_eq!(fact(none), None, "{none}");
        }
    }

    #[test]
    fn tokens_and_paths() {
        let t: Vec<_> = tokens(r#"{"path":"src/a.rs"} see ./b.py:12, (c/d/e)."#).collect();
        assert_eq!(t, vec!["path", "src/a.rs", "see", "./b.py:12", "c/d/e"]);
        assert_eq!(file_path("./b.py:12"), Some("./b.py"));
        assert_eq!(file_path("src/lib.rs:4:2"), Some("src/lib.rs"));
        assert_eq!(file_path("12:30"), None);
        assert!(is_path("/etc/hosts"));
        assert!(!is_path("https://x.io/a.rs"));
    }

    #[test]
    fn sentences_split_on_stops() {
        let s: Vec<_> = sentences("One. Two is v1.2! Three?\n\n  four").collect();
        assert_eq!(s, vec!["One.", "Two is v1.2!", "Three?", "four"]);
        assert_eq!(sentences("").count(), 0);
    }

    #[test]
    fn long_text_keeps_its_values() {
        let long = format!("{} order QX7-4471-KP costs 12", "filler ".repeat(50));
        assert_eq!(condense(&long, 40), "… QX7-4471-KP 12");
        assert!(has_phrase("You MUST not", &["never", "must"]));
        assert!(!has_phrase("mustard", &["must"]));
        assert!(has_phrase("keep it at most 3", &["at least", "at most"]));
        assert!(!has_phrase("keep it at", &["at most"]));
        assert!(has_phrase("Don't do it", &["don't"]));
    }
}
