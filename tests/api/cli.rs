//! The binary itself: subcommands, configuration errors, JSON logs, graceful shutdown.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{GatewayProcess, TestDatabase, amqp_url, gateway_command, services_lock};

fn gateway() -> Command {
    let mut command = gateway_command();
    command.env("AMQP_URL", amqp_url());
    command
}

#[test]
fn help_is_available_for_every_subcommand() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["healthcheck", "--help"],
    ] {
        let output = gateway().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn invalid_configuration_exits_2_with_one_line_naming_the_key() {
    for (key, value, named) in [
        ("VOS__SERVER__ADDR", "not-an-address", "server.addr"),
        (
            "VOS__DATABASE__MAX_CONNECTIONS",
            "0",
            "database.max_connections",
        ),
        (
            "VOS__TELEMETRY__SAMPLE_RATIO",
            "2.5",
            "telemetry.sample_ratio",
        ),
        ("VOS__RELAY__INTERVAL", "soon", "relay.interval"),
        ("VOS__AMQP__QUEUE_TYPE", "stream", "amqp.queue_type"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector:4317",
            "telemetry.otlp_endpoint",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/json",
            "telemetry.otlp_protocol",
        ),
    ] {
        let output = gateway().env(key, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{key}: {stderr}");
        assert!(stderr.contains(named), "{key}: {stderr}");
    }
    let missing = gateway()
        .args(["--config", "/nonexistent/vos.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn migrate_creates_the_database_and_runs_the_migrations() {
    let _services = services_lock(false);
    let database = TestDatabase::new();

    let output = gateway()
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
        let versions: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(versions >= 1);
        pool.close().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_with_trace_context_and_stops_cleanly_on_sigterm() {
    // Arrange: the real binary on a free port, its own database.
    let gateway_process = GatewayProcess::builder().start().await;
    let agent = gateway_process.agent().await;

    // Act: one request carrying a canary in its body, a healthcheck, then SIGTERM.
    let body = serde_json::json!({ "notification_type": "t", "source": "s", "payload": { "secret": "PII-CANARY-7731" } });
    let response = gateway_process
        .notify_request(&agent)
        .header("x-correlation-id", "log-check-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let ready_url = format!("{}/health/ready", gateway_process.address);
    let healthcheck = gateway()
        .args(["healthcheck", "--url", &ready_url])
        .status()
        .unwrap();
    let exited = gateway_process.stop().await;

    // Assert: exit 0, and the log lines joined to the trace, without the body.
    assert!(healthcheck.success());
    assert!(
        exited.status.success(),
        "graceful shutdown exits 0: {:?}",
        exited.status
    );
    let lines: Vec<Value> = exited
        .stdout
        .iter()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect();
    let completion = lines
        .iter()
        .find(|l| l["correlation_id"] == "log-check-1" && l["message"] == "request completed")
        .expect("a completion line for the request");
    assert_eq!(completion["trace_id"], accepted["trace_id"]);
    assert_eq!(completion["span_id"].as_str().unwrap().len(), 16);
    assert_eq!(completion["http.route"], "/api/v1/agents/{agent_id}/notify");
    assert!(
        lines.iter().all(|l| !l.to_string().contains("PII-CANARY")),
        "bodies never reach the logs"
    );
    assert!(lines.iter().any(|l| l["message"] == "shutdown complete"));
}
