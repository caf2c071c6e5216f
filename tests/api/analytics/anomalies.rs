//! `GET /api/v1/analytics/anomalies`: z-score ≥ 3 against the agent's own baseline of 5-minute
//! values, at least 30 results in the window (the rule of the Prometheus alerts).

use chrono::{DateTime, Utc};

use super::{
    assert_close, assert_sketched,
    fixtures::{Journey, bucket_hours_ago, insert, minutes, ms, timestamp},
    get_json,
};
use crate::helpers::TestApp;

const BUCKETS: i64 = 24;

/// `results` answers recorded one minute into each of 24 buckets from `start`, 100 ms end to
/// end and completed, except in bucket `odd` where `change` applies.
fn day_of(
    agent: &str,
    start: DateTime<Utc>,
    results: usize,
    odd: (i64, &dyn Fn(Journey) -> Journey, usize),
) -> Vec<Journey> {
    let (odd_bucket, change, odd_results) = odd;
    let mut journeys = Vec::new();
    for bucket in 0..BUCKETS {
        let at = start + minutes(5 * bucket + 1);
        let normal = Journey::answered(agent, at, 50)
            .end_to_end(ms(100))
            .recorded_at(at);
        if bucket == odd_bucket {
            for _ in 0..odd_results {
                journeys.push(change(normal.clone()).recorded_at(at));
            }
        } else {
            journeys.extend(normal.times(results));
        }
    }
    journeys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_flag_the_windows_far_from_each_agents_own_baseline() {
    // Arrange: 24 buckets of 30 results each. alpha: one bucket 2 s end to end; beta: one
    // bucket where 15 of 30 failed; gamma: one bucket 2 s end to end but only 29 results.
    // One outlier among 24 scores √23 ≈ 4.80.
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 3).await;
    let slow = |j: Journey| j.end_to_end(ms(2000));
    let mut journeys = day_of("alpha", start, 30, (12, &slow, 30));
    journeys.extend(day_of("gamma", start, 30, (12, &slow, 29)));
    let mut beta = day_of("beta", start, 30, (5, &|j| j, 30));
    for journey in beta.iter_mut().skip(5 * 30).take(15) {
        *journey = journey.clone().failed();
    }
    journeys.extend(beta);
    insert(&app.db, &journeys).await;

    // Act
    let answer = get_json(&app, "/api/v1/analytics/anomalies?window=24h").await;

    // Assert
    let anomalies = answer["anomalies"].as_array().unwrap();
    let flagged: Vec<(&str, &str)> = anomalies
        .iter()
        .map(|a| {
            (
                a["agent_id"].as_str().unwrap(),
                a["bucket_start"].as_str().unwrap(),
            )
        })
        .collect();
    let bucket = |n: i64| timestamp(start + minutes(5 * n));
    assert_eq!(
        flagged,
        [("beta", bucket(5).as_str()), ("alpha", bucket(12).as_str())]
    );
    let (beta, alpha) = (&anomalies[0], &anomalies[1]);
    let outlier = 23f64.sqrt();
    assert_close(&alpha["latency_z"], outlier, "alpha's latency z-score");
    assert_sketched(&alpha["p95_ms"], 2000.0, "alpha's p95");
    assert_sketched(
        &alpha["baseline_p95_ms"],
        (23.0 * 100.0 + 2000.0) / 24.0,
        "baseline",
    );
    assert_close(&alpha["error_z"], 0.0, "no errors");
    assert_close(&beta["error_z"], outlier, "beta's error z-score");
    assert_close(&beta["error_rate"], 50.0, "beta's error rate");
    assert_close(&beta["latency_z"], 0.0, "flat latency, floored deviation");
    assert_eq!(beta["results"], 30);
    assert_eq!(answer["rule"]["z_threshold"], 3.0);
    assert_eq!(answer["rule"]["min_results"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_stay_quiet_on_a_steady_agent_and_an_empty_window() {
    // Arrange: 24 buckets alike; one a little slower (120 ms), well within the floor of 10 %.
    let app = TestApp::spawn().await;
    let start = bucket_hours_ago(&app, 3).await;
    let slower = |j: Journey| j.end_to_end(ms(120));
    insert(&app.db, &day_of("alpha", start, 30, (7, &slower, 30))).await;

    // Act
    let day = get_json(&app, "/api/v1/analytics/anomalies?window=24h").await;
    let hour = get_json(&app, "/api/v1/analytics/anomalies?window=1h").await;

    // Assert
    assert_eq!(day["anomalies"], serde_json::json!([]), "{day}");
    assert_eq!(hour["anomalies"], serde_json::json!([]));
}
