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

/// A `fleetbench` process run as a user would: its own process, stdout and stderr piped, so a
/// test can wait for a line on stderr, send it signals, then collect how it ended. Killed if
/// the test ends first.
pub(crate) struct Running {
    child: Option<std::process::Child>,
    stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
    stderr: Option<std::io::BufReader<std::process::ChildStderr>>,
    /// Everything read from stdout so far.
    seen_out: String,
    /// Everything read from stderr so far.
    seen: String,
}

/// How a [`Running`] process ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: std::process::ExitStatus,
    /// All of stdout, including what [`Running::first_stdout_line`] read.
    pub(crate) stdout: String,
    /// All of stderr, including what [`Running::wait_for`] read.
    pub(crate) stderr: String,
}

impl Running {
    /// Starts `fleetbench ARGS` with `CI=true` (plain progress lines on stderr).
    pub(crate) fn spawn<I, S>(args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut child = spawn_piped(args);
        let stdout = child.stdout.take().map(std::io::BufReader::new);
        let stderr = child.stderr.take().map(std::io::BufReader::new);
        Running {
            child: Some(child),
            stdout,
            stderr,
            seen_out: String::new(),
            seen: String::new(),
        }
    }

    /// Reads stderr up to the first line `wanted` accepts and returns it; panics if stderr
    /// ends first. Blocks on the process's output, never on a timer.
    pub(crate) fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        use std::io::BufRead;
        let stderr = self.stderr.as_mut().expect("stderr is read until finish");
        loop {
            let mut line = String::new();
            let read = stderr.read_line(&mut line).expect("stderr is readable");
            self.seen.push_str(&line);
            assert!(read > 0, "stderr ended before the line: {}", self.seen);
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Reads stdout's first line (for a command that says nothing on stderr until it ends).
    pub(crate) fn first_stdout_line(&mut self) -> String {
        use std::io::BufRead;
        let stdout = self.stdout.as_mut().expect("stdout is read until finish");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("stdout is readable");
        self.seen_out.push_str(&line);
        line
    }

    /// `fleetbench serve`'s base URL (`http://127.0.0.1:PORT/v1`), from the first line it
    /// prints.
    pub(crate) fn served_url(&mut self) -> String {
        let first = self.first_stdout_line();
        first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Sends `signal` (`TERM`, `HUP`, `INT`, `KILL`) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the process is running");
        send_signal(child.id(), signal);
    }

    /// Waits for the exit, reading the rest of stdout and stderr; if it takes more than
    /// `limit`, kills the process and panics.
    pub(crate) fn finish(mut self, limit: std::time::Duration) -> Finished {
        use std::io::Read;
        let mut child = self.child.take().expect("finish is called once");
        let pid = child.id();
        let drain = |stream: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut stream) = stream {
                    let _ = stream.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = drain(
            self.stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            self.stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let (done, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait());
        });
        let Ok(status) = exited.recv_timeout(limit) else {
            send_signal(pid, "KILL");
            panic!(
                "fleetbench did not exit within {limit:?}; stderr so far: {}",
                self.seen
            );
        };
        Finished {
            status: status.expect("the exit status is readable"),
            stdout: format!(
                "{}{}",
                self.seen_out,
                stdout.join().expect("stdout is read")
            ),
            stderr: format!("{}{}", self.seen, stderr.join().expect("stderr is read")),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `kill -SIGNAL PID`.
fn send_signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {pid} failed");
}

/// Runs `fleetbench ARGS` with stdout a pipe whose reading end is closed before the command
/// writes to it (as `fleetbench ... | head -c1` once head has exited), and returns how it ended.
pub(crate) fn with_stdout_closed<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut child = spawn_piped(args);
    // The reader goes away at once: the command's first write to stdout fails (EPIPE).
    drop(child.stdout.take());
    child.wait_with_output().expect("the process ends")
}

/// Starts `fleetbench ARGS` with `CI=true` (plain progress lines on stderr), no `RUST_LOG`,
/// and stdout and stderr piped.
fn spawn_piped<I, S>(args: I) -> std::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_fleetbench"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fleetbench binary starts")
}

/// What `fleetbench corpus generate ARGS` prints.
pub(crate) fn generate_corpus(args: &[&str]) -> Vec<u8> {
    fleetbench()
        .args(["corpus", "generate"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

/// A temporary directory holding `fleetbench corpus generate ARGS` as `c.jsonl`.
pub(crate) fn generated_corpus(args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("c.jsonl");
    std::fs::write(&file, generate_corpus(args)).expect("the corpus is written");
    (dir, file)
}
