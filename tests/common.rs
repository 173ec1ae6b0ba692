use std::path::PathBuf;

use assert_cmd::Command;

/// The `fleetbench` binary under test, with a quiet environment.
pub(crate) fn fleetbench() -> Command {
    let mut cmd = Command::cargo_bin("fleetbench").expect("the fleetbench binary is built");
    cmd.env_remove("RUST_LOG").env("CI", "true");
    cmd
}

/// A path under `fixtures/scenarios/`.
pub(crate) fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/scenarios")
        .join(name)
}
