//! The binary's log output: the level and format come from configuration, and `RUST_LOG`
//! wins over the configured level.

use serde_json::Value;

use crate::helpers::GatewayProcess;

const COMPLETED: &str = "request completed";

/// Starts the binary with `env`, posts one notification, stops it; returns its stdout lines.
async fn stdout_after_one_request(env: &[(&str, &str)]) -> Vec<String> {
    let gateway = GatewayProcess::builder().envs(env).start().await;
    let agent = gateway.agent().await;
    gateway.accept_correlated(&agent, "log-level-check").await;
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);
    exited.stdout
}

fn completion_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("every stdout line is JSON"))
        .filter(|line| line["message"] == COMPLETED && line["correlation_id"] == "log-level-check")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_wins_over_the_configured_level() {
    // Arrange + Act: the configured level says one thing, RUST_LOG the opposite.
    let quieted =
        stdout_after_one_request(&[("VOS__TELEMETRY__LOG_LEVEL", "info"), ("RUST_LOG", "warn")])
            .await;
    let raised =
        stdout_after_one_request(&[("VOS__TELEMETRY__LOG_LEVEL", "warn"), ("RUST_LOG", "info")])
            .await;

    // Assert: the info-level completion line follows RUST_LOG, both ways.
    assert_eq!(completion_lines(&quieted).len(), 0, "{quieted:#?}");
    let completed = completion_lines(&raised);
    assert_eq!(completed.len(), 1, "{raised:#?}");
    let line = &completed[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["http.request.method"], "POST");
    assert_eq!(line["http.route"], "/api/v1/agents/{agent_id}/notify");
    assert_eq!(line["http.response.status_code"], 202);
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    assert!(line["request_size"].as_u64().unwrap() > 0, "{line}");
    assert!(line["response_size"].as_u64().unwrap() > 0, "{line}");
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pretty_log_format_writes_human_readable_lines_not_json() {
    // Arrange + Act
    let lines = stdout_after_one_request(&[("VOS__TELEMETRY__LOG_FORMAT", "pretty")]).await;

    // Assert: the request's completion line is there, as plain text with its fields (no
    // colour codes when stdout is not a terminal), and no line is JSON.
    let completed: Vec<_> = lines
        .iter()
        .filter(|line| line.contains(COMPLETED) && line.contains("log-level-check"))
        .collect();
    assert_eq!(completed.len(), 1, "{lines:#?}");
    let line = completed[0];
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("http.response.status_code=202"), "{line}");
    assert!(
        lines
            .iter()
            .all(|line| serde_json::from_str::<Value>(line).is_err() && !line.contains('\u{1b}')),
        "{lines:#?}"
    );
}
