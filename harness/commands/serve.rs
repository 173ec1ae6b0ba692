//! `fleetbench serve`: the mock on a TCP port until Ctrl-C, SIGTERM or SIGHUP, then a summary
//! of what it saw. Over TLS with `--tls-cert`/`--tls-key`, or the scenario's `[mock]
//! tls_cert`/`tls_key` when the flags are absent.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use mock::{MockConfig, MockServer, TlsConfig};

use crate::args::{OverrideArgs, ServeArgs};
use crate::output::{note_line, out};
use crate::scenario_source;
use crate::signals::Signals;

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let scenario = scenario_source::load(args.scenario.as_deref(), &OverrideArgs::default())?;
    let tls = tls(args, &scenario)?;
    // Every connection is a file descriptor; the default soft limit is often 1,024.
    if let Err(err) = clients::raise_fd_limit() {
        tracing::warn!("cannot raise the open-file limit: {err}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::new(args.host, args.port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr}: pick another port with --port, or --port 0 for a free one")
        })?;
        let bound = listener.local_addr().context("cannot read the bound address")?;
        // Caught before the address is printed: whoever reads it may stop the server at once.
        let mut signals = Signals::listen().context("cannot catch SIGINT, SIGTERM and SIGHUP")?;
        let config = MockConfig::from_scenario(&scenario);
        let tools: Vec<&str> = config.tools.keys().map(String::as_str).collect();
        let tools = if tools.is_empty() { "none".to_owned() } else { tools.join(", ") };
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The server keeps serving if whoever reads stdout goes away.
        let _ = out(&format!(
            "fleetbench mock serving on {scheme}://{bound}/v1 (scenario `{}`)\n  models: {}\n  tools:  {tools} (POST /tools/NAME)\n  mcp:    {scheme}://{bound}/mcp (streamable HTTP: the same tools)\n  stats:  {scheme}://{bound}/stats, Prometheus: {scheme}://{bound}/metrics   (Ctrl-C to stop)\n",
            scenario.name,
            config.models.join(", "),
        ));
        let server = MockServer::new(config);
        let shutdown = async move {
            let signal = signals.recv().await;
            note_line(&format!("{}: stopping", signal.name()));
        };
        match tls {
            Some(tls) => mock::serve_tls(listener, server.clone(), tls, shutdown).await,
            None => mock::serve_with(listener, server.clone(), shutdown).await,
        }
        .context("the mock server failed")?;
        let stats = server.stats();
        let _ = out(&format!(
            "served {} chat, {} responses and {} tool requests, {} prompt and {} completion tokens, {} faults injected\n",
            stats.chat_requests,
            stats.responses_requests,
            stats.tool_requests,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.faults.values().sum::<u64>()
        ));
        Ok(ExitCode::SUCCESS)
    })
}

/// The certificate and key to serve: the flags (clap requires both or neither), else the
/// scenario's `[mock] tls_cert`/`tls_key` (validated as a pair when it was loaded).
fn tls(args: &ServeArgs, scenario: &scenario::Scenario) -> anyhow::Result<Option<TlsConfig>> {
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        _ => match (&scenario.mock.tls_cert, &scenario.mock.tls_key) {
            (Some(cert), Some(key)) => (cert, key),
            _ => return Ok(None),
        },
    };
    TlsConfig::from_pem_files(cert, key)
        .map(Some)
        .context("cannot serve over TLS: check --tls-cert and --tls-key (or the scenario's `[mock] tls_cert` and `tls_key`)")
}
