//! A server that accepts every request and never answers: the run ends after its grace
//! period, and every request it was sent is in the report, as a call and an attempt that
//! ended `cancelled` (before, they vanished: "no call was made").

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::common::fleetbench;

/// Listens on 127.0.0.1:0, reads each connection's requests and counts their heads, and
/// never writes a byte. The connections stay open until the test process ends.
fn silent_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    );
    let heads = Arc::new(AtomicU64::new(0));
    let counted = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        if seen.starts_with(b"POST ") {
                            counted.fetch_add(1, Ordering::SeqCst);
                        }
                        // The body follows the head; drop all of it (one request a
                        // connection: none is ever answered).
                        seen.drain(..end + 4);
                        seen.clear();
                    }
                }
            });
        }
    });
    (url, heads)
}

#[test]
fn requests_a_server_never_answers_are_counted_as_cancelled_calls() {
    let (url, heads) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("silent.toml");
    std::fs::write(
        &scenario,
        r#"
name = "silent"
clock = "live"
[fleet]
agents = 8
ramp_up = "0s"
duration = "1s"
grace = "1s"
[session]
turns = 3
[[llm.providers]]
name = "silent"
base_url = "http://127.0.0.1:9/v1"
model = "m"
timeout = "60s"
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = fleetbench()
        .arg("run")
        .arg(&scenario)
        .args(["--base-url", &format!("{url}/v1"), "--out"])
        .arg(&out)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let counters = &report["counters"];
    let sent = heads.load(Ordering::SeqCst);
    // One call per agent, each on the wire when the grace period ended.
    assert_eq!(sent, 8, "{report:#}");
    assert_eq!(counters["llm_calls"], 8, "{counters:#}");
    assert_eq!(counters["llm_attempts"], 8, "{counters:#}");
    assert_eq!(counters["llm_succeeded"], 0);
    assert_eq!(
        report["errors"]["calls"]["llm"]["cancelled"], 8,
        "{report:#}"
    );
    assert_eq!(report["errors"]["attempts"]["llm"]["cancelled"], 8);
    assert_eq!(counters["turns_cancelled"], 8);
    assert_eq!(report["errors"]["calls"]["turn"]["cancelled"], 8);
    // The error-rate target sees them: every call failed.
    let verdict = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "error_rate")
        .unwrap();
    assert_eq!(verdict["passed"], false, "{verdict:#}");
}
