//! Rollups: the analyses answer the same from the rollups (by the minute, then by 5-minute
//! bucket) as from the journeys, keep up with journeys that change after their bucket was
//! rolled, and are written once however many replicas roll at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use vos_gateway::analytics::rollup;

use super::{
    fixtures::{Journey, bucket_hours_ago, insert, minutes, ms},
    get_json,
};
use crate::helpers::{TestApp, test_settings};

/// Every analysis and the report over the last three hours.
const ANALYSES: [&str; 7] = [
    "/api/v1/analytics/slow-operations?window=3h",
    "/api/v1/analytics/error-rates?window=3h&bucket=5m",
    "/api/v1/analytics/error-rates?window=3h&bucket=15m",
    "/api/v1/analytics/message-flows?window=3h",
    "/api/v1/analytics/anomalies?window=3h",
    "/api/v1/reports/summary?since=3h",
    // Buckets of a minute are finer than the rollups': always read from the journeys.
    "/api/v1/analytics/error-rates?window=3h&bucket=1m",
];

/// 100 minutes of varied traffic from `start` (855 notifications): two agents, three types, every delivery state,
/// tools, tokens, failures, and a slow spell for the anomalies.
fn traffic(start: DateTime<Utc>) -> Vec<Journey> {
    let mut journeys = Vec::new();
    for minute in 0..100 {
        let at = start + minutes(minute);
        let slow = (40..45).contains(&minute);
        journeys.extend(
            Journey::answered("alpha", at, 100 + minute * 7)
                .typed(["chat", "report"][minute as usize % 2])
                .end_to_end(ms(if slow { 4000 } else { 140 + minute * 7 }))
                .tools(&[("search", "ok"), ("summarise", "error")][..minute as usize % 3])
                .llm(&[("gpt-x", 100 + minute, 20)])
                .times(7),
        );
        journeys.push(Journey::answered("beta", at, 50 + minute % 13).typed("chat"));
        if minute % 4 == 0 {
            journeys.push(Journey::answered("beta", at, 900).typed("chat").failed());
        }
        match minute % 10 {
            0 => journeys.push(Journey::undelivered("alpha", at)),
            3 => journeys.push(Journey::unanswered("beta", at).typed("alert")),
            7 => journeys.push(Journey::pending("beta", at)),
            _ => {}
        }
    }
    journeys
}

/// The answers, without the bounds of their windows (they move with the clock).
async fn answers(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for path in ANALYSES {
        let mut answer = get_json(app, path).await;
        let fields = answer.as_object_mut().unwrap();
        fields.remove("from");
        fields.remove("until");
        all.push(answer);
    }
    all
}

/// Whether two answers agree: the same structure and strings, numbers to a billionth (sums
/// are added up in another order).
fn agree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| agree(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| agree(v, w)))
        }
        _ => a == b,
    }
}

/// Deletes every journey: what answers afterwards comes from the rollups.
async fn delete_journeys(app: &TestApp) {
    sqlx::query("delete from notifications")
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_answer_the_same_from_the_rollups_as_from_the_journeys() {
    // Arrange
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 2).await;
    insert(&app.db, &traffic(start)).await;
    let from_journeys = answers(&app).await;

    // Act: roll everything, then delete the journeys (as retention would).
    let until = rollup::catch_up(&app.db, None).await.unwrap();
    delete_journeys(&app).await;
    let from_rollups = answers(&app).await;

    // Assert
    assert!(until >= start + minutes(100), "rolled until {until}");
    for ((path, journeys), rollups) in ANALYSES.iter().zip(&from_journeys).zip(&from_rollups) {
        if path.ends_with("bucket=1m") {
            assert_eq!(rollups["windows"], serde_json::json!([]), "{path}");
            continue;
        }
        assert!(
            agree(journeys, rollups),
            "{path}\nfrom the journeys: {journeys}\nfrom the rollups: {rollups}"
        );
    }
    let report = &from_rollups[5];
    assert_eq!(report["totals"]["accepted"], 855, "{report}");
    assert!(!from_rollups[4]["anomalies"].as_array().unwrap().is_empty());
}

/// How many rollup buckets `rollup_results` holds in `[from, until)`.
async fn buckets_rolled(app: &TestApp, from: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(
        "select count(distinct bucket_start) from rollup_results \
         where bucket_start >= $1 and bucket_start < $2",
    )
    .bind(from)
    .bind(until)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_rolled_before_their_bucket_closes_answer_the_same_and_merge_into_it() {
    // Arrange
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 2).await;
    insert(&app.db, &traffic(start)).await;
    let from_journeys = answers(&app).await;
    let bucket = (start + minutes(50), start + minutes(55));

    // Act: roll to the middle of a bucket, a minute further, then past its end.
    let mut stages = Vec::new();
    for cap in [52, 53, 57] {
        rollup::catch_up(&app.db, Some(start + minutes(cap)))
            .await
            .unwrap();
        let rolled = buckets_rolled(&app, bucket.0, bucket.1).await;
        stages.push((cap, rolled, answers(&app).await));
    }

    // Assert: two minutes, three, then one bucket; the same answers all along.
    let rolled: Vec<i64> = stages.iter().map(|(_, rolled, _)| *rolled).collect();
    assert_eq!(rolled, [2, 3, 1]);
    for (cap, _, answers) in &stages {
        for ((path, journeys), rollups) in ANALYSES.iter().zip(&from_journeys).zip(answers) {
            assert!(
                agree(journeys, rollups),
                "rolled to +{cap} min: {path}\nfrom the journeys: {journeys}\n\
                 with the rollups: {rollups}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_that_change_after_their_bucket_was_rolled_are_rolled_again() {
    // Arrange: two notifications pending (one in a rolled bucket, one in a rolled minute of
    // the bucket still open) and one not answered yet when they are rolled.
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 2).await;
    insert(
        &app.db,
        &[
            Journey::pending("alpha", start + minutes(1)),
            Journey::unanswered("alpha", start + minutes(2)),
            Journey::pending("alpha", start + minutes(31)),
        ],
    )
    .await;
    rollup::catch_up(&app.db, Some(start + minutes(32)))
        .await
        .unwrap();

    // Act: the pending ones are published and the other answered 40 minutes later; roll on.
    sqlx::query(
        "update notifications set status = 'published', published_at = accepted_at \
         where status = 'pending'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "update notifications set outcome = 'completed', tools = '[{\"name\":\"search\"}]', \
             llm = '[]', started_at = $1, completed_at = $1, result_recorded_at = $1 \
         where accepted_at = $2",
    )
    .bind(start + minutes(40))
    .bind(start + minutes(2))
    .execute(&app.db)
    .await
    .unwrap();
    rollup::catch_up(&app.db, None).await.unwrap();
    delete_journeys(&app).await;

    // Assert
    let report = get_json(&app, "/api/v1/reports/summary?since=3h").await;
    let totals = &report["totals"];
    assert_eq!(
        [
            &totals["pending"],
            &totals["published"],
            &totals["answered"]
        ],
        [0, 3, 1],
        "{report}"
    );
    let flows = get_json(&app, "/api/v1/analytics/message-flows?window=3h").await;
    let paths: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|flow| flow["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "gateway → alpha_queue",
            "gateway → alpha_queue → alpha → search → response"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_rolling_at_once_count_every_journey_once() {
    // Arrange
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 2).await;
    insert(&app.db, &traffic(start)).await;

    // Act
    let (one, two) = tokio::join!(
        rollup::catch_up(&app.db, None),
        rollup::catch_up(&app.db, None)
    );
    delete_journeys(&app).await;

    // Assert
    assert_eq!(one.unwrap(), two.unwrap());
    let report = get_json(&app, "/api/v1/reports/summary?since=3h").await;
    assert_eq!(report["totals"]["accepted"], 855, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollup_stage_rolls_closed_buckets_on_its_own() {
    // Arrange
    let mut settings = test_settings();
    settings.analytics.rollups = true;
    settings.analytics.rollup_interval = Duration::from_millis(100);

    // Act
    let app = TestApp::spawn_with(settings, true).await;

    // Assert: within a minute it has caught up a week and is a minute or two behind now.
    let caught_up = async {
        loop {
            let behind: Option<f64> = sqlx::query_scalar(
                "select extract(epoch from now() - rolled_until)::float8 from rollup_progress",
            )
            .fetch_optional(&app.db)
            .await
            .unwrap();
            if behind.is_some_and(|seconds| seconds < 2.0 * 60.0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), caught_up)
        .await
        .expect("the stage catches up within a minute");
}
