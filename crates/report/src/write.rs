//! Writing report files into a directory: `report.json` always, plus the formats asked for.

use std::io;
use std::path::{Path, PathBuf};

use metrics::RunSnapshot;

use crate::Format;

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The output directory could not be created.
    #[error(
        "cannot create the report directory {}: check that its parent exists and is writable",
        path.display()
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A report file could not be written.
    #[error("cannot write {}: check that the directory is writable", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl ReportError {
    /// The directory or file that could not be written.
    pub fn path(&self) -> &Path {
        match self {
            ReportError::CreateDir { path, .. } | ReportError::Write { path, .. } => path,
        }
    }
}

/// `s` rendered in `format`: each file's name ([`Format::file_names`]) and content.
pub fn render(s: &RunSnapshot, format: Format) -> Vec<(&'static str, String)> {
    match format {
        Format::Json => vec![("report.json", crate::json(s))],
        Format::Markdown => vec![("report.md", crate::markdown(s))],
        Format::Junit => vec![("junit.xml", crate::junit(s))],
        Format::Csv => vec![
            ("summary.csv", crate::summary_csv(s)),
            ("agents.csv", crate::agents_csv(s)),
        ],
        Format::Html => vec![("report.html", crate::html(s))],
    }
}

/// The run over time from the interval log in `dir`; `None` without a log (or with one that
/// cannot be read: the page then says there is none, and `fleetbench report` says why).
fn timeline(dir: &Path) -> Option<crate::Timeline> {
    if !dir.join(crate::interval_log::JSONL).is_file() {
        return None;
    }
    crate::Timeline::read(dir).ok()
}

/// Writes `report.json` and each of `formats` (once each, `json` included or not) into `dir`,
/// creating it if needed. Returns the paths written, `report.json` first, then in the order
/// of `formats` (a format of two files, `csv`, in the order of its file names).
pub fn write(dir: &Path, s: &RunSnapshot, formats: &[Format]) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut wanted = vec![Format::Json];
    for f in formats {
        if !wanted.contains(f) {
            wanted.push(*f);
        }
    }
    let mut written = Vec::with_capacity(wanted.len());
    for format in wanted {
        let files = match format {
            // The page draws the run over time from the interval log beside it, if any.
            Format::Html => vec![("report.html", crate::html_with(s, timeline(dir).as_ref()))],
            _ => render(s, format),
        };
        for (name, content) in files {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    Ok(written)
}
