//! `GET /api/v1/analytics/slow-operations`.

use super::{
    assert_close, assert_sketched,
    fixtures::{Journey, bucket_hours_ago, insert, minutes},
    get_json,
};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_give_count_average_p95_and_max_per_agent_and_type_slowest_first() {
    // Arrange: alpha/chat worked 100, 200, … 1000 ms; alpha/report 2000 and 3000 ms; beta/chat
    // 50 ms; and what the window leaves out: an answer recorded two hours ago, an unanswered one.
    let app = TestApp::spawn().await;
    let recent = bucket_hours_ago(&app, 0).await - minutes(20);
    let mut journeys: Vec<Journey> = (1..=10)
        .map(|i| Journey::answered("alpha", recent, i * 100).typed("chat"))
        .collect();
    journeys.push(Journey::answered("alpha", recent, 2000).typed("report"));
    journeys.push(Journey::answered("alpha", recent, 3000).typed("report"));
    journeys.push(Journey::answered("beta", recent, 50).typed("chat"));
    journeys.push(Journey::answered("alpha", recent - minutes(120), 9000).typed("chat"));
    journeys.push(Journey::unanswered("alpha", recent).typed("chat"));
    insert(&app.db, &journeys).await;

    // Act
    let all = get_json(&app, "/api/v1/analytics/slow-operations?window=1h").await;
    let slow = get_json(
        &app,
        "/api/v1/analytics/slow-operations?window=1h&min_avg_ms=100",
    )
    .await;

    // Assert: p95 interpolates (like `percentile_cont`): 900 + 0.55 × 100 for ten values,
    // each read from a sketch.
    let operations = all["operations"].as_array().unwrap();
    let keys: Vec<(&str, &str)> = operations
        .iter()
        .map(|o| {
            (
                o["agent_id"].as_str().unwrap(),
                o["notification_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("alpha", "report"), ("alpha", "chat"), ("beta", "chat")]
    );
    let chat = &operations[1];
    assert_eq!(chat["count"], 10);
    assert_close(&chat["avg_ms"], 550.0, "average");
    assert_sketched(&chat["p95_ms"], 955.0, "p95");
    assert_close(&chat["max_ms"], 1000.0, "max");
    let report = &operations[0];
    assert_eq!(report["count"], 2);
    assert_close(&report["avg_ms"], 2500.0, "average");
    assert_sketched(&report["p95_ms"], 2950.0, "p95");
    assert_eq!(all["truncated"], false);
    assert_eq!(slow["operations"].as_array().unwrap().len(), 2, "{slow}");
    assert_close(&slow["min_avg_ms"], 100.0, "threshold echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_of_an_empty_window_are_an_empty_list() {
    // Arrange: only answers recorded before the window.
    let app = TestApp::spawn().await;
    let old = bucket_hours_ago(&app, 3).await;
    insert(&app.db, &[Journey::answered("alpha", old, 500)]).await;

    // Act
    let answer = get_json(&app, "/api/v1/analytics/slow-operations?window=1h").await;

    // Assert
    assert_eq!(answer["operations"], serde_json::json!([]));
    assert_eq!(answer["truncated"], false);
}
