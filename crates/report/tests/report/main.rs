//! The reports of a fixed, realistic run: `report.json` against `docs/report.schema.json`,
//! snapshots of the terminal, Markdown and JUnit renderings, and writing files.

mod fixture;
mod harness;
mod render;
mod schema;
mod write;
