//! Bad parameters are 422 problems naming the field; a statement past its timeout is a 503
//! with Retry-After, never a 500.

use std::time::Duration;

use crate::helpers::{TestApp, problem, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_parameters_are_422_problems_naming_the_field() {
    // Arrange
    let app = TestApp::spawn().await;
    let cases = [
        ("/api/v1/analytics/slow-operations?window=8d", "window"),
        ("/api/v1/analytics/slow-operations?window=soon", "window"),
        ("/api/v1/analytics/slow-operations?window=0s", "window"),
        (
            "/api/v1/analytics/slow-operations?min_avg_ms=-1",
            "min_avg_ms",
        ),
        (
            "/api/v1/analytics/slow-operations?min_avg_ms=fast",
            "min_avg_ms",
        ),
        ("/api/v1/analytics/error-rates?bucket=30s", "bucket"),
        ("/api/v1/analytics/error-rates?bucket=2d", "bucket"),
        (
            "/api/v1/analytics/error-rates?window=7d&bucket=1m",
            "bucket",
        ),
        (
            "/api/v1/analytics/error-rates?min_error_rate=101",
            "min_error_rate",
        ),
        (
            "/api/v1/analytics/error-rates?min_error_rate=NaN",
            "min_error_rate",
        ),
        ("/api/v1/analytics/message-flows?window=1y", "window"),
        ("/api/v1/analytics/anomalies?window=169h", "window"),
        ("/api/v1/reports/summary?since=8d", "since"),
    ];

    for (path, field) in cases {
        // Act
        let response = app.get(path).await.unwrap();

        // Assert
        let (status, _, body) = problem(response).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["type"], "urn:vos:problem:validation-failed", "{path}");
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_past_its_statement_timeout_is_a_503_with_retry_after() {
    // Arrange: a statement timeout no analysis of a week of rows can meet.
    let mut settings = test_settings();
    settings.analytics.statement_timeout = Duration::from_millis(1);
    let app = TestApp::spawn_with(settings, true).await;
    sqlx::query(
        "insert into notifications (notification_id, agent_id, notification_type, source, \
             payload, correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, \
             next_attempt_at) \
         select gen_random_uuid(), 'alpha', 'bulk', 's', '{}', 'c', \
             '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', true, 'published', \
             now() - g * interval '3 seconds', now() + interval '1 day' \
         from generate_series(1, 200000) g",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // Act
    let response = app
        .get("/api/v1/analytics/message-flows?window=7d")
        .await
        .unwrap();

    // Assert
    let (status, headers, body) = problem(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "urn:vos:problem:analysis-timeout");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_past_their_time_share_are_a_503_saying_when_to_come_back() {
    // Arrange: a share so small that, past the burst (a second of analyses), the budget is
    // spent for hours.
    let mut settings = test_settings();
    settings.analytics.time_share = 0.00001;
    let app = TestApp::spawn_with(settings, true).await;
    let path = "/api/v1/analytics/slow-operations?window=1h";

    // Act: ask back to back until refused (a second of analyses is a few hundred).
    let started = std::time::Instant::now();
    let mut answered = 0;
    let refusal = loop {
        let response = app.get(path).await.unwrap();
        if response.status() != 200 || started.elapsed() > Duration::from_secs(30) {
            break response;
        }
        answered += 1;
    };

    // Assert
    assert!(answered > 0);
    let (status, headers, body) = problem(refusal).await;
    assert_eq!(status, 503, "after {answered} answers: {body}");
    assert_eq!(body["type"], "urn:vos:problem:analysis-busy");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 2, "Retry-After: {retry_after}");
}
