//! `run --metrics-listen ADDR`: the run's live metrics in the Prometheus text format at
//! `/metrics` (docs/prometheus.md), encoded with prometheus-client from a [`fleet::LiveWatch`]
//! reading on each scrape: the recorders the progress line reads, merged on demand, so the
//! fleet's hot path does no extra work.
//!
//! The listener is bound before the run starts (a bad address is bad input), and served on a
//! thread of its own with a current-thread runtime, so a slow scraper never takes a worker
//! from the fleet, and the virtual clock's paused runtime never sees it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use fleet::{LiveReading, LiveWatch};
use metrics::{CallClass, LatencyHistogram, MetricKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Upper bounds of the latency histograms' buckets, in seconds: 1 ms to 2 min, about three to
/// a decade, so a tool call of a few ms and an LLM turn of a minute both fall in a bucket of
/// their own size (Prometheus' defaults stop at 10 s, short of a long LLM turn).
pub(crate) const BUCKETS: [f64; 19] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 45.0,
    60.0, 90.0, 120.0,
];

/// The metrics endpoint of a run: serves until dropped.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    /// The address bound (the port chosen when ADDR's was 0).
    pub(crate) addr: SocketAddr,
    stop: CancellationToken,
}

impl MetricsServer {
    /// Binds `addr` now (an error names `--metrics-listen`, the address and a fix) and serves
    /// `watch` on a thread of its own.
    pub(crate) fn start(addr: SocketAddr, watch: LiveWatch) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .with_context(|| {
                format!(
                    "--metrics-listen {addr}: cannot listen there; pick a free port (or port 0 for any free one) on an address of this machine"
                )
            })?;
        let bound = listener
            .local_addr()
            .context("--metrics-listen: cannot read the bound address")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("--metrics-listen: cannot start the metrics server's runtime")?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("metrics".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = serve(listener, watch, stopped.cancelled_owned()).await;
                });
            })
            .context("--metrics-listen: cannot start the metrics server's thread")?;
        Ok(Self { addr: bound, stop })
    }
}

impl MetricsServer {
    /// `--metrics-linger`: blocks for `wait`, or until `interrupt` (a signal), while the
    /// endpoint serves the finished run's figures: its counters are the report's.
    pub(crate) fn linger(&self, wait: std::time::Duration, interrupt: &CancellationToken) {
        crate::output::note_line(&format!(
            "metrics: the run is done; http://{}/metrics serves its final figures for {} (Ctrl-C to stop)",
            self.addr,
            humantime::format_duration(wait)
        ));
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = interrupt.cancelled() => {}
            }
        });
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves `GET /metrics` from `watch` on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    watch: LiveWatch,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let watch = watch.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    )],
                    encode(&watch.read()),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `reading` in the Prometheus text format (version 0.0.4).
pub(crate) fn encode(reading: &LiveReading) -> String {
    let mut registry = Registry::with_prefix("fleetbench");
    registry.register_collector(Box::new(Reading(Arc::new(reading.clone()))));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// One reading, as a prometheus-client collector.
#[derive(Debug)]
struct Reading(Arc<LiveReading>);

impl Collector for Reading {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let r = &*self.0;
        gauge(
            &mut encoder,
            "agents_alive",
            "Agents (or open-loop sessions) running now.",
            r.alive,
        )?;
        gauge(
            &mut encoder,
            "calls_in_flight",
            "LLM and tool requests holding a pool slot now.",
            r.in_flight,
        )?;
        gauge(
            &mut encoder,
            "run_done",
            "1 once every part of the run is done: the counters are the report's.",
            u64::from(r.parts > 0 && r.parts == r.parts_done),
        )?;
        counters(&mut encoder, &r.recorder.counters)?;
        errors(&mut encoder, &r.recorder.errors)?;
        let metric = encoder.encode_descriptor(
            "latency_seconds",
            "Latency per metric of docs/metrics.md (from the run's HDR histograms).",
            None,
            MetricType::Histogram,
        )?;
        histograms(metric, &r.recorder.latency)
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let value = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    value.encode(encoder.encode_descriptor(name, help, None, value.metric_type())?)
}

/// Every counter of the report's `counters`, by its key (`turns` → `fleetbench_turns_total`).
fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    counters: &metrics::Counters,
) -> Result<(), std::fmt::Error> {
    let value = serde_json::to_value(counters).map_err(|_| std::fmt::Error)?;
    let Some(fields) = value.as_object() else {
        return Err(std::fmt::Error);
    };
    for (key, value) in fields {
        if let Some(n) = value.as_u64() {
            let counter = ConstCounter::new(n);
            let help = format!("The report's counters.{key}.");
            counter.encode(encoder.encode_descriptor(
                key,
                &help,
                None,
                counter.metric_type(),
            )?)?;
        }
    }
    Ok(())
}

/// Final errors and failed attempts per class and kind.
fn errors(
    encoder: &mut DescriptorEncoder<'_>,
    errors: &metrics::Errors,
) -> Result<(), std::fmt::Error> {
    for (name, help, table) in [
        (
            "errors",
            "Final errors of logical calls and turns, by class and kind.",
            &errors.calls,
        ),
        (
            "attempt_errors",
            "Failed attempts, by class and kind.",
            &errors.attempts,
        ),
    ] {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for class in CallClass::ALL {
            for (kind, n) in table.get(&class).into_iter().flatten() {
                let labels = [("class", class.as_str()), ("kind", kind.as_str())];
                ConstCounter::new(*n).encode(metric.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}

/// One histogram per latency metric that saw a value, labelled `metric`.
fn histograms(
    mut metric: prometheus_client::encoding::MetricEncoder<'_>,
    latency: &std::collections::BTreeMap<MetricKind, LatencyHistogram>,
) -> Result<(), std::fmt::Error> {
    for (kind, h) in latency {
        let (sum, count, buckets) = buckets(h);
        let labels = [("metric", kind.as_str())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, count, &buckets, None,
            )?;
    }
    Ok(())
}

/// A histogram's sum (count × mean: HDR keeps no exact sum), count, and the count in each
/// bucket of [`BUCKETS`] then `+Inf`, not cumulated (the encoder adds them up).
fn buckets(h: &LatencyHistogram) -> (f64, u64, Vec<(f64, u64)>) {
    let count = h.count();
    let mut below = 0;
    let mut out = Vec::with_capacity(BUCKETS.len() + 1);
    for bound in BUCKETS {
        let at_most = h.count_at_most(std::time::Duration::from_secs_f64(bound));
        out.push((bound, at_most - below));
        below = at_most;
    }
    out.push((f64::INFINITY, count - below));
    (h.mean().as_secs_f64() * count as f64, count, out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample() -> LiveReading {
        let mut reading = LiveReading {
            alive: 5,
            in_flight: 2,
            parts: 1,
            ..LiveReading::default()
        };
        let r = &mut reading.recorder;
        r.counters.turns = 7;
        r.counters.tokens_in = 1234;
        r.error(CallClass::Llm, metrics::ErrorKind::ALL[0]);
        for ms in [3, 40, 40, 900, 200_000] {
            r.record(MetricKind::AgentResponse, Duration::from_millis(ms));
        }
        reading
    }

    #[test]
    fn counters_gauges_errors_and_histograms_in_the_text_format() {
        let text = encode(&sample());
        for line in [
            "# TYPE fleetbench_agents_alive gauge",
            "fleetbench_agents_alive 5",
            "fleetbench_calls_in_flight 2",
            "fleetbench_run_done 0",
            "# TYPE fleetbench_turns_total counter",
            "fleetbench_turns_total 7",
            "fleetbench_tokens_in_total 1234",
            "# TYPE fleetbench_latency_seconds histogram",
            "fleetbench_latency_seconds_count{metric=\"agent_response\"} 5",
            "fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"0.005\"} 1",
            "fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"0.05\"} 3",
            "fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"1\"} 4",
            "fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"120\"} 4",
            "fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"+Inf\"} 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line `{line}` in:\n{text}"
            );
        }
        let kind = metrics::ErrorKind::ALL[0].as_str();
        let errors = format!("fleetbench_errors_total{{class=\"llm\",kind=\"{kind}\"}} 1");
        assert!(text.lines().any(|l| l == errors), "{errors} in:\n{text}");
    }

    #[test]
    fn every_counter_of_the_report_is_exported() {
        let text = encode(&LiveReading::default());
        let counters = serde_json::to_value(metrics::Counters::default()).expect("serializes");
        for key in counters.as_object().expect("an object").keys() {
            let line = format!("fleetbench_{key}_total 0");
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }

    #[test]
    fn bucket_counts_are_per_bucket_and_add_to_the_count() {
        let (sum, count, buckets) = buckets(&sample().recorder.latency[&MetricKind::AgentResponse]);
        assert_eq!(count, 5);
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert_eq!(buckets.len(), BUCKETS.len() + 1);
        assert!((sum - 201.0).abs() < 0.5, "sum {sum}");
    }

    #[tokio::test]
    async fn serves_the_watch_on_get_metrics() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds loopback");
        let addr = listener.local_addr().expect("bound");
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            LiveWatch::new(),
            stop.clone().cancelled_owned(),
        ));
        let body = scrape(addr).await;
        assert!(body.contains("fleetbench_agents_alive 0"), "{body}");
        stop.cancel();
        server.await.expect("joins").expect("serves");
    }

    #[test]
    fn an_address_in_use_names_the_flag_the_address_and_a_fix() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds loopback");
        let addr = taken.local_addr().expect("bound");
        let err = MetricsServer::start(addr, LiveWatch::new()).expect_err("the port is taken");
        let text = format!("{err:#}");
        assert!(text.contains(&format!("--metrics-listen {addr}")), "{text}");
        assert!(text.contains("pick a free port"), "{text}");
    }

    /// A plain HTTP/1.1 GET of /metrics: the body.
    async fn scrape(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }
}
