//! `GET /api/v1/analytics/error-rates`.

use serde_json::{Value, json};

use super::{
    assert_close,
    fixtures::{Journey, bucket_hours_ago, insert, minutes, timestamp},
    get_json,
};
use crate::helpers::TestApp;

/// `(bucket_start, service, requests, errors)`.
type Row = (String, String, i64, i64);

/// The rows of an answer, and their error rates.
fn rows(answer: &Value) -> (Vec<Row>, Vec<Value>) {
    let windows = answer["windows"].as_array().unwrap();
    let rows = windows
        .iter()
        .map(|w| {
            (
                w["bucket_start"].as_str().unwrap().to_owned(),
                w["service"].as_str().unwrap().to_owned(),
                w["requests"].as_i64().unwrap(),
                w["errors"].as_i64().unwrap(),
            )
        })
        .collect();
    (
        rows,
        windows.iter().map(|w| w["error_rate"].clone()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rates_count_per_bucket_and_service_in_float_percent_with_edges_in_the_next_bucket() {
    // Arrange, from the start B of a 5-minute bucket:
    // - 7 undelivered and 3 answered notifications accepted at B+1m (the gateway: 7 of 10);
    // - the 3 answers recorded at B+2m, one failed (alpha: 1 of 3);
    // - one accepted exactly at B+5m and recorded exactly at B+10m: each on the first instant
    //   of the next bucket, where it belongs.
    let app = TestApp::spawn().await;
    let b = bucket_hours_ago(&app, 2).await;
    let mut journeys = Journey::undelivered("alpha", b + minutes(1)).times(7);
    let answered = |processing| Journey::answered("alpha", b + minutes(1), processing);
    journeys.push(answered(100).end_to_end(minutes(1)));
    journeys.push(answered(100).end_to_end(minutes(1)));
    journeys.push(answered(100).end_to_end(minutes(1)).failed());
    journeys.push(Journey::answered("alpha", b + minutes(5), 100).end_to_end(minutes(5)));
    insert(&app.db, &journeys).await;

    // Act
    let all = get_json(&app, "/api/v1/analytics/error-rates?window=24h&bucket=5m").await;
    let over_half = get_json(
        &app,
        "/api/v1/analytics/error-rates?window=24h&min_error_rate=50",
    )
    .await;
    let hourly = get_json(&app, "/api/v1/analytics/error-rates?window=24h&bucket=1h").await;

    // Assert: 7 of 10 is 70.0, not the 0 of integer division.
    let (found, rates) = rows(&all);
    let row =
        |t, service: &str, requests, errors| (timestamp(t), service.to_owned(), requests, errors);
    assert_eq!(
        found,
        [
            row(b, "alpha", 3, 1),
            row(b, "vos-gateway", 10, 7),
            row(b + minutes(5), "vos-gateway", 1, 0),
            row(b + minutes(10), "alpha", 1, 0),
        ]
    );
    assert_close(&rates[0], 100.0 / 3.0, "alpha's rate");
    assert_close(&rates[1], 70.0, "the gateway's rate");
    assert_close(&rates[2], 0.0, "no errors");
    assert_eq!(all["bucket_seconds"], 300);
    let (found, _) = rows(&over_half);
    assert_eq!(found, [row(b, "vos-gateway", 10, 7)]);
    let (found, _) = rows(&hourly);
    let gateway: i64 = found
        .iter()
        .filter(|r| r.1 == "vos-gateway")
        .map(|r| r.2)
        .sum();
    assert_eq!(gateway, 11, "{hourly}");
    assert_eq!(hourly["bucket_seconds"], 3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rates_leave_out_buckets_without_requests_rather_than_divide_by_zero() {
    // Arrange: alpha's notifications are all pending (requests for the gateway, none answered
    // for alpha); nothing at all in the last hour.
    let app = TestApp::spawn().await;
    let b = bucket_hours_ago(&app, 3).await;
    insert(&app.db, &Journey::pending("alpha", b).times(2)).await;

    // Act
    let day = get_json(&app, "/api/v1/analytics/error-rates?window=24h").await;
    let hour = get_json(&app, "/api/v1/analytics/error-rates?window=1h").await;

    // Assert
    let (found, rates) = rows(&day);
    assert_eq!(found, [(timestamp(b), "vos-gateway".to_owned(), 2, 0)]);
    assert_close(&rates[0], 0.0, "no errors among requests");
    assert_eq!(hour["windows"], json!([]));
}
