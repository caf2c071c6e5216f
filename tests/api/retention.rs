//! Retention: settled notifications are deleted once older than `[retention]` allows; pending
//! ones (the outbox) never are.

use std::time::Duration;

use crate::helpers::{TestApp, metric, test_settings, wait_for};

/// Inserts a notification row directly, `age` old, in `status`, for `agent`.
async fn old_row(app: &TestApp, agent: &str, status: &str, age: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into notifications (notification_id, agent_id, notification_type, source, payload, \
             correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, \
             next_attempt_at, published_at, failed_at) \
         values ($1, $2, 'aged', 'tests', '{}', 'c', '4bf92f3577b34da6a3ce929d0e0e4736', \
             '00f067aa0ba902b7', true, $3, now() - $4::interval, now() + interval '1 day', \
             case when $3 = 'published' then now() - $4::interval end, \
             case when $3 = 'failed' then now() - $4::interval end)",
    )
    .bind(id)
    .bind(agent)
    .bind(status)
    .bind(age)
    .execute(&app.db)
    .await
    .expect("an aged row");
    id
}

async fn exists(app: &TestApp, id: uuid::Uuid) -> bool {
    sqlx::query_scalar("select exists (select 1 from notifications where notification_id = $1)")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_expired_settled_notifications_in_batches_and_never_pending_ones() {
    // Arrange: the default ages (7 days published, 30 days failed), small batches, a fast pass.
    let mut settings = test_settings();
    settings.retention.interval = Duration::from_millis(200);
    settings.retention.batch_size = 2;
    settings.retention.pause = Duration::from_millis(1);
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.unregistered_agent();
    let mut expired = Vec::new();
    for _ in 0..5 {
        expired.push(old_row(&app, &agent, "published", "8 days").await);
    }
    expired.push(old_row(&app, &agent, "failed", "31 days").await);
    let kept = [
        old_row(&app, &agent, "published", "6 days").await,
        old_row(&app, &agent, "failed", "8 days").await,
        old_row(&app, &agent, "pending", "90 days").await,
    ];

    // Act: wait for the passes to take everything expired.
    wait_for(
        "expired rows left",
        0.0,
        Duration::from_secs(10),
        || async {
            let mut left = 0.0;
            for id in &expired {
                left += f64::from(u8::from(exists(&app, *id).await));
            }
            left
        },
    )
    .await;

    // Assert
    for id in kept {
        assert!(
            exists(&app, id).await,
            "{id} is within retention, or pending"
        );
    }
    assert_eq!(
        metric(&app, "vos_retention_deleted_total").await,
        6.0,
        "5 published and 1 failed, counted"
    );
}
