//! fleetbench reports: a run's [`RunSnapshot`] as `report.json`, a terminal summary, Markdown
//! for a CI job summary, JUnit XML for CI test reports, CSV for spreadsheets and one
//! self-contained HTML page with charts. Pure rendering plus [`write()`]; the numbers themselves come from the `metrics` crate.
//!
//! # Layout
//! - `format`: [`Format`], the file formats by name (`json`, `md`, `junit`, `csv`,
//!   `html`) and file names.
//! - `json`: [`json()`], the content of `report.json` (`docs/report.schema.json`).
//! - `terminal`: [`terminal()`], the plain-text summary printed after a run.
//! - `markdown`: [`markdown()`], GitHub-flavoured Markdown tables.
//! - `junit`: [`junit()`], one JUnit test case per target.
//! - `csv`: [`summary_csv()`] and [`agents_csv()`], `summary.csv` and `agents.csv`.
//! - `html`: [`html()`], `report.html`: the page, its tables and sections.
//! - `charts`: the page's SVG charts, drawn with plotters.
//! - [`compare`]: reports of a base and a new build compared figure by figure, for CI gates.
//! - `write`: [`write()`] and [`ReportError`]: the files into a directory.
//! - `sections`: what the terminal and Markdown reports say, shared between them.
//! - `rates`: the line of LLM calls, tool calls and tokens per second, for both.
//! - `tool_cache`: the tool cache per tool, for both.
//! - `table`: fixed-width and Markdown tables.
//! - `readable`: human formatting of durations, sizes and percentages.

mod charts;
pub mod compare;
mod compress_html;
mod csv;
mod format;
mod html;
pub mod interval_log;
mod json;
mod junit;
mod markdown;
mod rates;
mod readable;
mod runtime;
mod sections;
mod sweep_html;
mod table;
mod terminal;
#[cfg(test)]
mod test_support;
mod timeline;
mod tool_cache;
mod write;

pub use compress_html::compress_html;
pub use csv::{agents_csv, csv_record, summary_csv};
pub use format::{Format, ParseFormatError};
pub use html::{html, html_with};
pub use json::json;
pub use junit::junit;
pub use markdown::markdown;
pub use readable::{count, duration};
pub use sweep_html::sweep_html;
pub use table::{Align, Table};
pub use terminal::terminal;
pub use timeline::Timeline;
pub use write::{ReportError, render, write};

#[doc(no_inline)]
pub use metrics::RunSnapshot;
