//! The summary report: `GET /api/v1/reports/summary` and `vos-gateway report`, the same
//! figures as JSON or Markdown.

use serde_json::{Value, json};

use super::{
    assert_close,
    fixtures::{Journey, bucket_hours_ago, insert, minutes, timestamp},
    get_json,
};
use crate::helpers::{TestApp, amqp_url, gateway_command};

/// Two hours of traffic: at H, alpha answers 3 (one failed) with tools and tokens; at H+1h,
/// beta answers 1 and 1 more is undelivered.
async fn arrange(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    let h = bucket_hours_ago(app, 5).await;
    let h = h - minutes(i64::from(chrono::Timelike::minute(&h)));
    let tooled = |processing| {
        Journey::answered("alpha", h + minutes(10), processing)
            .typed("chat")
            .tools(&[("search", "ok"), ("summarise", "error")])
            .llm(&[("gpt-x", 100, 20)])
    };
    insert(
        &app.db,
        &[
            tooled(1000),
            tooled(2000),
            tooled(3000).failed(),
            Journey::answered("beta", h + minutes(70), 600)
                .typed("report")
                .tools(&[("search", "ok")])
                .llm(&[("gpt-x", 1, 2), ("small", 5, 5)]),
            Journey::undelivered("beta", h + minutes(70)).typed("chat"),
        ],
    )
    .await;
    h
}

/// Runs `vos-gateway report <args>` against the app's database.
async fn report_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut command = gateway_command();
    command
        .arg("report")
        .args(args)
        .env("DATABASE_URL", &app.settings.database.url)
        .env("AMQP_URL", amqp_url());
    let output = tokio::task::spawn_blocking(move || command.output().expect("vos-gateway report"))
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_report_gives_totals_load_types_tools_tokens_hours_and_the_worst() {
    // Arrange
    let app = TestApp::spawn().await;
    let h = arrange(&app).await;

    // Act
    let report = get_json(&app, "/api/v1/reports/summary?since=24h").await;

    // Assert
    let totals = &report["totals"];
    assert_eq!(
        [
            &totals["accepted"],
            &totals["answered"],
            &totals["completed"],
            &totals["failed"]
        ],
        [5, 4, 3, 1]
    );
    assert_eq!(
        (&totals["published"], &totals["undelivered"]),
        (&json!(4), &json!(1))
    );
    assert_close(&totals["success_ratio"], 0.75, "success ratio");
    let busiest = &report["busiest_agents"][0];
    assert_eq!(
        (&busiest["agent_id"], &busiest["results"]),
        (&json!("alpha"), &json!(3))
    );
    assert_close(&busiest["busy_ms"], 6000.0, "alpha worked 6 s");
    assert_close(&busiest["utilisation"], 6000.0 / 86_400_000.0, "of a day");
    assert_eq!(
        report["notification_types"],
        json!([{ "notification_type": "chat", "count": 4 }, { "notification_type": "report", "count": 1 }])
    );
    assert_eq!(
        report["tools"],
        json!([
            { "tool": "search", "calls": 4, "errors": 0, "agents": 2 },
            { "tool": "summarise", "calls": 3, "errors": 3, "agents": 1 },
        ])
    );
    assert_eq!(
        report["llm"],
        json!([
            { "model": "gpt-x", "calls": 4, "input_tokens": 301, "output_tokens": 62 },
            { "model": "small", "calls": 1, "input_tokens": 5, "output_tokens": 5 },
        ])
    );
    assert_eq!(
        report["peak_hours"],
        json!([{ "hour": timestamp(h), "accepted": 3 }, { "hour": timestamp(h + minutes(60)), "accepted": 2 }])
    );
    let slowest = &report["slowest_operations"][0];
    assert_eq!(
        (&slowest["agent_id"], &slowest["count"]),
        (&json!("alpha"), &json!(3))
    );
    assert_close(&slowest["avg_ms"], 2000.0, "slowest average");
    let worst: Vec<(&Value, &Value)> = report["worst_error_windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (&w["service"], &w["error_rate"]))
        .collect();
    assert_eq!(worst.len(), 2, "only windows with errors: {worst:?}");
    assert_eq!(worst[0].0, "vos-gateway", "1 of 2 beats 1 of 3");
    assert_close(worst[0].1, 50.0, "worst");
    assert_close(worst[1].1, 100.0 / 3.0, "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_report_has_zero_totals_no_success_ratio_and_empty_lists() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let report = get_json(&app, "/api/v1/reports/summary").await;

    // Assert
    assert_eq!(report["totals"]["accepted"], 0);
    assert_eq!(report["totals"]["success_ratio"], Value::Null);
    for list in [
        "busiest_agents",
        "tools",
        "llm",
        "peak_hours",
        "worst_error_windows",
    ] {
        assert_eq!(report[list], json!([]), "{list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_command_prints_the_same_summary_as_markdown_or_json() {
    // Arrange
    let app = TestApp::spawn().await;
    arrange(&app).await;

    // Act
    let (markdown_ok, markdown, stderr) = report_cli(&app, &["--since", "24h"]).await;
    let (json_ok, json_text, _) = report_cli(&app, &["--since", "24h", "--format", "json"]).await;
    let (too_long_ok, _, too_long) = report_cli(&app, &["--since", "8d"]).await;

    // Assert
    assert!(markdown_ok, "{stderr}");
    for expected in [
        "# vos-gateway report",
        "| accepted | published | pending | undelivered | answered | completed | failed | success ratio |",
        "| 5        | 4         | 0       | 1           | 4        | 3         | 1      | 75.0 %        |",
        "| search    | 4     | 0      | 2      |",
        "## Peak hours (accepted per hour)",
        "████████████████████████████████████████",
    ] {
        assert!(markdown.contains(expected), "{expected:?} in\n{markdown}");
    }
    assert!(json_ok);
    let cli: Value = serde_json::from_str(&json_text).expect("JSON on stdout");
    let api = get_json(&app, "/api/v1/reports/summary?since=24h").await;
    for part in [
        "totals",
        "busiest_agents",
        "notification_types",
        "tools",
        "llm",
        "peak_hours",
    ] {
        if part == "busiest_agents" {
            assert_eq!(cli[part][0]["busy_ms"], api[part][0]["busy_ms"]);
        } else {
            assert_eq!(cli[part], api[part], "{part}");
        }
    }
    assert!(!too_long_ok);
    assert!(too_long.contains("since must be at most 7d"), "{too_long}");
}
