//! Logs: to stderr, at the level `RUST_LOG` picks (default: warnings, without
//! rustls-platform-verifier's one error per rejected certificate), coloured only on a
//! terminal, and never async-openai's.
//!
//! async-openai logs a whole response body it cannot parse (`ERROR async_openai ... failed
//! deserialization of: <body>`), once per call, and a server may echo the request's headers
//! in that body, the API key among them. Its target is off whatever `RUST_LOG` says; our
//! client logs such a body as its length and a redacted excerpt instead (at debug).

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The target silenced always (and every module under it).
const SILENCED: &str = "async_openai";

/// Installs the logger of the binary.
pub(crate) fn init() {
    // By default rustls-platform-verifier is off too: it logs an error for every certificate
    // it rejects (every attempt), where the client warns once per endpoint with the fix.
    let env = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,rustls_platform_verifier=off"));
    // After RUST_LOG, so that an `async_openai=...` of the user's is replaced.
    let env = env.add_directive(
        format!("{SILENCED}=off")
            .parse()
            .expect("the directive is valid"),
    );
    // A directive for a module under it (`async_openai::error=trace`) would still win over
    // the one above: the target is dropped here whatever the directives.
    let not_silenced = filter_fn(|meta| !is_silenced(meta.target()));
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // Its fallback for a failed write is `eprintln!`, which panics on a closed stderr.
        .log_internal_errors(false)
        .with_filter(env.and(not_silenced));
    tracing_subscriber::registry().with(layer).init();
}

/// Whether `target` is async-openai's or one of its modules'.
fn is_silenced(target: &str) -> bool {
    target
        .strip_prefix(SILENCED)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::is_silenced;

    #[test]
    fn async_openai_and_its_modules_are_silenced_and_nothing_else() {
        assert!(is_silenced("async_openai"));
        assert!(is_silenced("async_openai::error"));
        assert!(!is_silenced("async_openai_like"));
        assert!(!is_silenced("fleetbench_clients::llm"));
    }
}
