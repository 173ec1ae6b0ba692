//! The file formats a report can be written in, as named on the command line.

use std::fmt;
use std::str::FromStr;

/// A report file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `report.json`: the whole [`metrics::RunSnapshot`] (`docs/report.schema.json`).
    Json,
    /// `report.md`: GitHub-flavoured Markdown, for a CI job summary.
    Markdown,
    /// `junit.xml`: one test case per target, for CI test reports.
    Junit,
    /// `summary.csv` (a row per metric, figure and target) and `agents.csv` (a row per
    /// agent), for spreadsheets.
    Csv,
    /// `report.html`: one self-contained page with SVG charts, to open in a browser.
    Html,
}

impl Format {
    /// Every format, in the order they are listed in help and errors.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Csv,
        Format::Html,
    ];

    /// The names of the files this format is written to.
    pub fn file_names(self) -> &'static [&'static str] {
        match self {
            Format::Json => &["report.json"],
            Format::Markdown => &["report.md"],
            Format::Junit => &["junit.xml"],
            Format::Csv => &["summary.csv", "agents.csv"],
            Format::Html => &["report.html"],
        }
    }

    /// The canonical name (what [`Display`](fmt::Display) prints and [`FromStr`] accepts).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format `{value}`: use one of json, md (or markdown), junit, csv, html")]
pub struct ParseFormatError {
    /// The name given.
    pub value: String,
}

impl FromStr for Format {
    type Err = ParseFormatError;

    /// Accepts `json`, `md` or `markdown`, `junit`, `csv` and `html`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "md" | "markdown" => Ok(Format::Markdown),
            "junit" => Ok(Format::Junit),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            _ => Err(ParseFormatError {
                value: s.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases() {
        assert_eq!("json".parse(), Ok(Format::Json));
        assert_eq!("md".parse(), Ok(Format::Markdown));
        assert_eq!("Markdown".parse(), Ok(Format::Markdown));
        assert_eq!("junit".parse(), Ok(Format::Junit));
        assert_eq!("CSV".parse(), Ok(Format::Csv));
        assert_eq!("html".parse(), Ok(Format::Html));
        for f in Format::ALL {
            assert_eq!(f.to_string().parse(), Ok(f));
        }
    }

    #[test]
    fn a_bad_name_says_what_is_allowed() {
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(err.value, "xml");
        assert_eq!(
            err.to_string(),
            "unknown report format `xml`: use one of json, md (or markdown), junit, csv, html"
        );
    }

    #[test]
    fn file_names() {
        let names: Vec<&str> = Format::ALL
            .iter()
            .flat_map(|f| f.file_names().iter().copied())
            .collect();
        assert_eq!(
            names,
            [
                "report.json",
                "report.md",
                "junit.xml",
                "summary.csv",
                "agents.csv",
                "report.html"
            ]
        );
    }
}
