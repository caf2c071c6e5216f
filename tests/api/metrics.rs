//! `/metrics`: route templates as labels, delivery counters, and valid exposition.

use std::{process::Command, time::Duration};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Broker, TestApp, notification_body, scrape, scrape_as, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_label_requests_by_route_template_and_count_deliveries() {
    // Arrange
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    app.accept_published(&agent).await;
    app.get("/no/such/route").await.unwrap();
    let invented = Method::from_bytes(b"BREW").unwrap();
    app.request(invented, "/metrics").send().await.unwrap();

    // Act
    let (content_type, text) = scrape_as(&app, None).await;

    // Assert
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let route = r#"http_route="/api/v1/agents/{agent_id}/notify""#;
    assert!(text.lines().any(
        |l| l.starts_with("http_server_request_duration_seconds_bucket")
            && l.contains(route)
            && l.contains(r#"http_response_status_code="202""#)
            && l.contains(r#"http_request_method="POST""#)
    ));
    assert!(
        !text.contains(&format!("/api/v1/agents/{agent}/notify")),
        "raw paths never become labels"
    );
    assert!(text.contains(r#"http_route="unmatched""#));
    assert!(
        text.contains(r#"http_request_method="_OTHER""#) && !text.contains("BREW"),
        "a method the client invents is labelled _OTHER"
    );
    let accepted_line = format!(
        r#"vos_notifications_accepted_total{{agent_id="{agent}",notification_type="user_message"}} 1"#
    );
    assert!(text.contains(&accepted_line), "missing {accepted_line}");
    let published_line = format!(
        r#"vos_notifications_published_total{{agent_id="{agent}",notification_type="user_message"}} 1"#
    );
    assert!(text.contains(&published_line), "missing {published_line}");
    assert!(text.contains("vos_publish_confirm_duration_seconds_count 1"));
    assert!(text.contains("vos_outbox_backlog "));
    // One insert statement for the one notification (observed before its commit, so before
    // the 202); the mark follows the confirm asynchronously, but its series exists from the start.
    assert!(text.contains(r#"vos_outbox_batch_rows_count{statement="insert"} 1"#));
    assert!(text.contains(r#"vos_outbox_batch_rows_count{statement="mark"} "#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_offer_openmetrics_with_trace_exemplars() {
    let app = TestApp::spawn().await;
    let accepted: Value = app
        .notify(&app.agent().await, &notification_body())
        .await
        .json()
        .await
        .unwrap();
    let trace_id = accepted["trace_id"].as_str().unwrap();

    let (content_type, text) =
        scrape_as(&app, Some("application/openmetrics-text; version=1.0.0")).await;

    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    assert!(
        text.contains(&format!(r#"# {{trace_id="{trace_id}"}}"#)),
        "an exemplar links the latency to the trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_check_metrics() {
    let app = TestApp::spawn().await;
    app.notify(&app.agent().await, &notification_body()).await;
    let text = scrape(&app).await;

    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        // CI installs promtool (Debian package `prometheus`); elsewhere say loudly what is skipped.
        Err(_) if std::env::var("CI").is_err() => {
            eprintln!(
                "SKIPPED: promtool not found; install the `prometheus` package to run this check"
            );
            return;
        }
        Err(error) => panic!("promtool is required in CI: {error}"),
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let problems = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && problems.trim().is_empty(),
        "promtool check metrics:\n{problems}"
    );
}

/// Polls `/metrics` until `line` appears (the queue gauges refresh on an interval).
async fn wait_for_line(app: &TestApp, line: &str) -> bool {
    for _ in 0..50 {
        let text = scrape(app).await;
        if text.lines().any(|l| l == line) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_consumers_and_agent_availability_are_reported() {
    // Arrange
    let mut settings = test_settings();
    settings.metrics.queue_poll_interval = Duration::from_millis(200);
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let queue = format!("{agent}_queue");
    app.accept_published(&agent).await;

    // Act + Assert: one message waiting, nobody consuming, the agent is down.
    assert!(wait_for_line(&app, &format!(r#"vos_queue_messages{{queue="{queue}"}} 1"#)).await);
    assert!(wait_for_line(&app, &format!(r#"vos_agent_up{{agent_id="{agent}"}} 0"#)).await);

    // Act: the agent starts consuming.
    let _consumer = broker
        .channel()
        .basic_consume(
            queue.as_str().into(),
            "agent".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();

    // Assert
    assert!(
        wait_for_line(
            &app,
            &format!(r#"vos_queue_consumers{{queue="{queue}"}} 1"#)
        )
        .await
    );
    assert!(wait_for_line(&app, &format!(r#"vos_agent_up{{agent_id="{agent}"}} 1"#)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_gateway_exports_every_closed_label_set_at_zero() {
    // Arrange: nothing has happened yet.
    let app = TestApp::spawn().await;

    // Act
    let text = scrape(&app).await;

    // Assert: dashboards show 0, not "No data", for every known reason, stage and limit.
    let expected = [
        r#"vos_publish_failures_total{reason="nack"} 0"#,
        r#"vos_publish_failures_total{reason="returned"} 0"#,
        r#"vos_publish_failures_total{reason="timeout"} 0"#,
        r#"vos_publish_failures_total{reason="unavailable"} 0"#,
        r#"vos_overload_rejections_total{stage="writer"} 0"#,
        r#"vos_auth_failures_total{reason="missing"} 0"#,
        r#"vos_auth_failures_total{reason="malformed"} 0"#,
        r#"vos_auth_failures_total{reason="checksum"} 0"#,
        r#"vos_auth_failures_total{reason="unknown"} 0"#,
        r#"vos_auth_failures_total{reason="revoked"} 0"#,
        r#"vos_rate_limited_total{limit="key"} 0"#,
        r#"vos_rate_limited_total{limit="agent"} 0"#,
        r#"vos_rate_limited_total{limit="client"} 0"#,
        r#"vos_retention_deleted_total{status="published"} 0"#,
        r#"vos_retention_deleted_total{status="failed"} 0"#,
    ];
    for series in expected {
        assert!(
            text.lines().any(|line| line == series),
            "{series} missing:\n{text}"
        );
    }
}
