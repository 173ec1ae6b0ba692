//! The signals that end a run or the server: SIGINT (Ctrl-C), SIGTERM (what `docker stop`, a
//! Kubernetes eviction and CI timeouts send) and SIGHUP (a closed terminal or SSH session).
//!
//! A run treats the first one as a stop: calls in flight get the grace period, the reports are
//! written and the exit code is [`INTERRUPTED`]. A second one exits at once, without a report,
//! with 128 + its number, as a shell reports a process killed by it (docs/cli.md).

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

/// The exit code of a run stopped by a signal whose reports were written.
pub(crate) const INTERRUPTED: u8 = 3;

/// One of the signals that stop fleetbench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, `docker stop`, a Kubernetes eviction, a CI job's timeout.
    Terminate,
    /// SIGHUP: the terminal or SSH session went away.
    Hangup,
}

impl Signal {
    /// Its name, like `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// 128 + its number (POSIX numbers these three 2, 15 and 1): what a shell reports for a
    /// process it killed, and what fleetbench exits with when a second signal arrives.
    pub(crate) fn exit_code(self) -> i32 {
        128 + match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
            Signal::Hangup => 1,
        }
    }
}

/// The three signals, caught from the moment [`Signals::listen`] returns: from then on none of
/// them ends the process by its default action.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    streams: [(Signal, tokio::signal::unix::Signal); 3],
}

impl Signals {
    /// Starts catching the three signals. Must be called within a tokio runtime with its IO
    /// driver enabled; that runtime delivers them to [`Signals::recv`].
    pub(crate) fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                streams: [
                    (Signal::Interrupt, signal(SignalKind::interrupt())?),
                    (Signal::Terminate, signal(SignalKind::terminate())?),
                    (Signal::Hangup, signal(SignalKind::hangup())?),
                ],
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// The next signal. When several are pending, the first in the order SIGINT, SIGTERM,
    /// SIGHUP.
    pub(crate) async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            let [(a, int), (b, term), (c, hup)] = &mut self.streams;
            tokio::select! {
                biased;
                Some(()) = int.recv() => *a,
                Some(()) = term.recv() => *b,
                Some(()) = hup.recv() => *c,
                // The runtime is shutting down: no signal will come.
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Watches for signals while a run blocks the calling thread: the first cancels `interrupt`
/// (the run stops and reports), a second exits the process at once with 128 + its number.
///
/// The signals are received on a small thread with its own current-thread runtime, because a
/// virtual run holds the main thread. This returns once that thread catches them, so a signal
/// sent after the caller has printed its plan is never lost. If that cannot be set up, a signal
/// ends the process by its default action, as it would without this, and a warning says so.
#[allow(
    clippy::exit,
    reason = "a second signal means: quit now, without a report"
)]
pub(crate) fn stop_run_on_signal(interrupt: CancellationToken) {
    let (ready, listening) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let caught = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| {
                    let signals = {
                        let _entered = rt.enter();
                        Signals::listen()?
                    };
                    Ok((rt, signals))
                });
            let (rt, mut signals) = match caught {
                Ok(caught) => {
                    let _ = ready.send(Ok(()));
                    caught
                }
                Err(err) => {
                    let _ = ready.send(Err(err));
                    return;
                }
            };
            rt.block_on(async {
                let first = signals.recv().await;
                interrupt.cancel();
                crate::output::note(&format!(
                    "\ninterrupted by {}: finishing calls in flight, then reporting (exit {INTERRUPTED}); a second signal quits at once, without a report\n",
                    first.name()
                ));
                let second = signals.recv().await;
                crate::output::note(&format!(
                    "{}: quitting without a report\n",
                    second.name()
                ));
                std::process::exit(second.exit_code());
            });
        });
    let outcome = match spawned {
        Ok(_) => listening
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the signal thread ended"))),
        Err(err) => Err(err),
    };
    if let Err(err) = outcome {
        tracing::warn!("a signal will end the run without a report: {err}");
    }
}

/// The exit code of a run the first signal stopped.
pub(crate) fn interrupted() -> ExitCode {
    ExitCode::from(INTERRUPTED)
}
