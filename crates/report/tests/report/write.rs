//! Writing report files.

use std::error::Error as _;

use fleetbench_report::{Format, ReportError};

use crate::fixture;

#[test]
fn writes_json_always_and_each_format_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out/nested");
    let s = fixture::snapshot();
    let written = fleetbench_report::write(
        &dir,
        &s,
        &[
            Format::Markdown,
            Format::Json,
            Format::Markdown,
            Format::Junit,
        ],
    )
    .unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["report.json", "report.md", "junit.xml"]);
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert_eq!(json, fleetbench_report::json(&s));
    assert_eq!(
        std::fs::read_to_string(dir.join("junit.xml")).unwrap(),
        fleetbench_report::junit(&s)
    );

    let only_json = tempfile::tempdir().unwrap();
    let written = fleetbench_report::write(only_json.path(), &s, &[]).unwrap();
    assert_eq!(written, [only_json.path().join("report.json")]);
    assert!(!only_json.path().join("report.md").exists());
}

#[test]
fn a_directory_under_a_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let dir = file.join("reports");
    let err = fleetbench_report::write(&dir, &fixture::snapshot(), &[Format::Junit]).unwrap_err();
    assert!(matches!(err, ReportError::CreateDir { .. }), "{err:?}");
    assert_eq!(err.path(), dir);
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(
        msg.starts_with("cannot create the report directory "),
        "{msg}"
    );
    assert!(err.source().is_some());
}

#[test]
fn an_unwritable_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A directory where the file should go: writing it fails, even as root.
    let blocked = tmp.path().join("report.md");
    std::fs::create_dir(&blocked).unwrap();
    let err = fleetbench_report::write(tmp.path(), &fixture::snapshot(), &[Format::Markdown])
        .unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }), "{err:?}");
    assert_eq!(err.path(), blocked);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: check that the directory is writable",
            blocked.display()
        )
    );
    assert!(err.source().is_some());
    assert!(tmp.path().join("report.json").exists(), "json comes first");
}
