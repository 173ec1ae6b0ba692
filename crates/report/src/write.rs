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

/// `s` rendered in `format`.
pub fn render(s: &RunSnapshot, format: Format) -> String {
    match format {
        Format::Json => crate::json(s),
        Format::Markdown => crate::markdown(s),
        Format::Junit => crate::junit(s),
    }
}

/// Writes `report.json` and each of `formats` (once each, `json` included or not) into `dir`,
/// creating it if needed. Returns the paths written, `report.json` first, then in the order
/// of `formats`.
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
        let path = dir.join(format.file_name());
        std::fs::write(&path, render(s, format)).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
