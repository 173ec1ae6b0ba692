//! Writing to stdout and stderr without panicking.
//!
//! `print!` and `eprint!` panic when their stream is closed (`fleetbench compare … | head -1`,
//! a CI log collector that went away), which exits 101 and, after a run, lost its reports. Here
//! a reader that went away is not an error: the output was for it alone, so the command goes
//! on and exits with its own code (a run's reports are written before its summary is printed).

use std::io::{self, Write};

/// Writes `text` to stdout. A closed stdout (`BrokenPipe`) is not an error: nothing is printed
/// and the command carries on. Any other failure (a full disk behind `>`) is returned.
pub(crate) fn out(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

/// Writes `text` to stderr, for progress, notes and errors; a failure is ignored, since
/// stderr is where it would be reported.
pub(crate) fn note(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// [`note`] with a line break.
pub(crate) fn note_line(text: &str) {
    note(&format!("{text}\n"));
}
