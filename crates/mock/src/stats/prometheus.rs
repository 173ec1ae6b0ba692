//! `GET /metrics`: what `GET /stats` reports, in the Prometheus text format (version 0.0.4),
//! encoded by prometheus-client from a snapshot at each scrape (docs/prometheus.md). Nothing is
//! recorded for it on the request path.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{SeriesStats, StatsSnapshot};

/// The `Content-Type` of the body [`encode`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// `stats` as metrics named `fleetbench_mock_*`.
pub(crate) fn encode(stats: &StatsSnapshot) -> String {
    let mut registry = Registry::with_prefix("fleetbench_mock");
    registry.register_collector(Box::new(Snapshot(stats.clone())));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

#[derive(Debug)]
struct Snapshot(StatsSnapshot);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let mut requests = encoder.encode_descriptor(
            "requests",
            "Requests served, by endpoint (tool: POST /tools/NAME and MCP tool calls).",
            None,
            MetricType::Counter,
        )?;
        for (endpoint, n) in [
            ("chat", s.chat_requests),
            ("responses", s.responses_requests),
            ("tool", s.tool_requests),
            ("mcp", s.mcp_requests),
        ] {
            ConstCounter::new(n).encode(requests.encode_family(&[("endpoint", endpoint)])?)?;
        }
        let mut tokens = encoder.encode_descriptor(
            "tokens",
            "Tokens: prompt tokens counted, completion tokens planned.",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in [
            ("prompt", s.prompt_tokens),
            ("completion", s.completion_tokens),
        ] {
            ConstCounter::new(n).encode(tokens.encode_family(&[("kind", kind)])?)?;
        }
        let mut faults = encoder.encode_descriptor(
            "faults",
            "Faults injected, by kind.",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in &s.faults {
            ConstCounter::new(*n).encode(faults.encode_family(&[("kind", kind.as_str())])?)?;
        }
        for (label, series) in [("model", &s.by_model), ("tool", &s.by_tool)] {
            series_metrics(&mut encoder, label, series)?;
        }
        let uptime = ConstGauge::new(s.uptime_ms as f64 / 1000.0);
        uptime.encode(encoder.encode_descriptor(
            "uptime_seconds",
            "Time since the mock started.",
            None,
            uptime.metric_type(),
        )?)
    }
}

/// Requests, tokens and requests in flight per model or per tool.
fn series_metrics(
    encoder: &mut DescriptorEncoder<'_>,
    label: &str,
    series: &std::collections::BTreeMap<String, SeriesStats>,
) -> Result<(), std::fmt::Error> {
    let name = format!("{label}_requests");
    let help = format!("Requests served, per {label}.");
    let mut metric = encoder.encode_descriptor(&name, &help, None, MetricType::Counter)?;
    for (key, s) in series {
        ConstCounter::new(s.requests).encode(metric.encode_family(&[(label, key.as_str())])?)?;
    }
    if label == "model" {
        let mut metric = encoder.encode_descriptor(
            "model_tokens",
            "Tokens (prompt + completion) of the requests, per model.",
            None,
            MetricType::Counter,
        )?;
        for (key, s) in series {
            ConstCounter::new(s.tokens).encode(metric.encode_family(&[(label, key.as_str())])?)?;
        }
    }
    let name = format!("{label}_in_flight");
    let help = format!("Requests being answered now, per {label}.");
    let mut metric = encoder.encode_descriptor(&name, &help, None, MetricType::Gauge)?;
    for (key, s) in series {
        let n = i64::try_from(s.in_flight).unwrap_or(i64::MAX);
        ConstGauge::new(n).encode(metric.encode_family(&[(label, key.as_str())])?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::MockServer;
    use crate::tests::{FAST, chat_body, config, post};

    #[tokio::test(start_paused = true)]
    async fn get_metrics_counts_what_was_served() {
        let mock = MockServer::new(config(FAST));
        let router = mock.router();
        post(&router, "/v1/chat/completions", chat_body(false)).await;
        let response = router
            .oneshot(
                Request::get("/metrics")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("the router answers");
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is read")
            .to_bytes();
        let text = String::from_utf8(body.to_vec()).expect("UTF-8");
        assert!(
            text.lines()
                .any(|l| l == "fleetbench_mock_requests_total{endpoint=\"chat\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn the_stats_in_the_text_format() {
        let mut stats = StatsSnapshot {
            chat_requests: 3,
            tool_requests: 2,
            prompt_tokens: 120,
            completion_tokens: 40,
            uptime_ms: 1500,
            ..StatsSnapshot::default()
        };
        stats.faults.insert("http_429".to_owned(), 1);
        stats.by_model.insert(
            "mock-gpt".to_owned(),
            SeriesStats {
                requests: 3,
                tokens: 160,
                in_flight: 1,
                ..SeriesStats::default()
            },
        );
        let text = encode(&stats);
        for line in [
            "# TYPE fleetbench_mock_requests_total counter",
            "fleetbench_mock_requests_total{endpoint=\"chat\"} 3",
            "fleetbench_mock_requests_total{endpoint=\"tool\"} 2",
            "fleetbench_mock_tokens_total{kind=\"prompt\"} 120",
            "fleetbench_mock_faults_total{kind=\"http_429\"} 1",
            "fleetbench_mock_model_requests_total{model=\"mock-gpt\"} 3",
            "fleetbench_mock_model_tokens_total{model=\"mock-gpt\"} 160",
            "# TYPE fleetbench_mock_model_in_flight gauge",
            "fleetbench_mock_model_in_flight{model=\"mock-gpt\"} 1",
            "fleetbench_mock_uptime_seconds 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
