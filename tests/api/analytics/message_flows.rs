//! `GET /api/v1/analytics/message-flows`.

use serde_json::json;

use super::{
    assert_close,
    fixtures::{Journey, bucket_hours_ago, insert, minutes, ms},
    get_json,
};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_flows_give_each_path_with_its_tools_in_order_how_often_and_its_average_time() {
    // Arrange: three answers that called `zeta` then `geocode` (two took 100 and 300 ms end to
    // end, one 500 ms and failed), one that called no tool, and one notification at each stop
    // short of an answer.
    let app = TestApp::spawn().await;
    let t = bucket_hours_ago(&app, 0).await - minutes(20);
    let tools = [("zeta", "ok"), ("geocode", "error")];
    let with_tools = |e2e| {
        Journey::answered("alpha", t, 50)
            .tools(&tools)
            .end_to_end(ms(e2e))
    };
    insert(
        &app.db,
        &[
            with_tools(100),
            with_tools(300),
            with_tools(500).failed(),
            Journey::answered("alpha", t, 50).end_to_end(ms(80)),
            Journey::pending("alpha", t),
            Journey::unanswered("alpha", t),
            Journey::undelivered("alpha", t),
            Journey::answered("alpha", t - minutes(120), 50),
        ],
    )
    .await;

    // Act
    let answer = get_json(&app, "/api/v1/analytics/message-flows?window=1h").await;

    // Assert: most frequent first, then by path.
    let flows = answer["flows"].as_array().unwrap();
    let paths: Vec<&str> = flows.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "gateway → alpha_queue → alpha → zeta → geocode → response",
            "gateway",
            "gateway → alpha_queue",
            "gateway → alpha_queue → alpha → response",
            "gateway → undelivered",
        ]
    );
    assert_eq!(
        flows[0]["hops"],
        json!([
            "gateway",
            "alpha_queue",
            "alpha",
            "zeta",
            "geocode",
            "response"
        ])
    );
    assert_eq!(
        (flows[0]["count"].as_i64(), flows[0]["failed"].as_i64()),
        (Some(3), Some(1))
    );
    assert_close(&flows[0]["avg_ms"], 300.0, "average end to end");
    assert_close(&flows[3]["avg_ms"], 80.0, "no tools");
    assert_eq!(flows[1]["avg_ms"], json!(null), "not answered: no duration");
    assert_eq!(flows[1]["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_flows_of_an_empty_window_are_an_empty_list() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let answer = get_json(&app, "/api/v1/analytics/message-flows?window=5m").await;

    // Assert
    assert_eq!(answer["flows"], json!([]));
    assert_eq!(answer["truncated"], false);
}
