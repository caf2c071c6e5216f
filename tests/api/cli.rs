//! The binary itself: subcommands, configuration errors, JSON logs, graceful shutdown.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{amqp_url, closed_port, pg_base, services_lock};

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vos-gateway"));
    command.env_remove("RUST_LOG").env("AMQP_URL", amqp_url());
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
    let name = format!("vos_test_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", pg_base());

    let output = gateway()
        .arg("migrate")
        .env("DATABASE_URL", &url)
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
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let versions: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(versions >= 1);
        pool.close().await;
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_base()))
            .await
            .unwrap();
        let drop = format!("drop database \"{name}\" with (force)");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await
            .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_with_trace_context_and_stops_cleanly_on_sigterm() {
    // Arrange: the real binary on a free port, its own database.
    let _services = tokio::task::spawn_blocking(|| services_lock(false))
        .await
        .unwrap();
    let port = closed_port();
    let name = format!("vos_test_{}", uuid::Uuid::new_v4().simple());
    let mut child = gateway()
        .env("VOS__SERVER__ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("{}/{name}", pg_base()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{base}/health/ready")).send().await
            && response.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the binary became ready");

    // Act: one request carrying a canary in its body, then SIGTERM.
    let agent = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let body = serde_json::json!({ "notification_type": "t", "source": "s", "payload": { "secret": "PII-CANARY-7731" } });
    let response = http
        .post(format!("{base}/api/v1/agents/{agent}/notify"))
        .header("x-correlation-id", "log-check-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let healthcheck = gateway()
        .args(["healthcheck", "--url", &format!("{base}/health/ready")])
        .status()
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().map(|s| (s, child)))
        .await
        .unwrap()
        .unwrap();

    // Assert: exit 0, and the log lines joined to the trace, without the body.
    let (exit, mut child) = status;
    assert!(healthcheck.success());
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).expect("every stdout line is JSON"))
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

    let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_base()))
        .await
        .unwrap();
    let drop = format!("drop database \"{name}\" with (force)");
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&admin)
        .await
        .unwrap();
    let _ = crate::helpers::Broker::connect()
        .await
        .channel()
        .queue_delete(format!("{agent}_queue").as_str().into(), Default::default())
        .await;
}
