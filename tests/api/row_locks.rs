//! The statements that update a batch of notifications lock their rows in `notification_id`
//! order. The publish-outcome recorder and the results recorder update the same rows within
//! milliseconds of each other (an agent answers as soon as the message is confirmed); in two
//! orders they deadlock, and Postgres only breaks a deadlock after a second.

use std::{future::Future, pin::Pin, time::Duration};

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;
use vos_gateway::store::{
    StoreError, notifications,
    results::{self, NewResult},
};

use crate::helpers::{TestApp, wait_for};

const AGENT: &str = "lock-order";

type Update = fn(PgPool, Vec<Uuid>) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Two pending rows, the higher id written first (so a scan in table order meets it first).
async fn two_pending_rows(db: &PgPool) -> (Uuid, Uuid) {
    let (low, high) = (Uuid::now_v7(), Uuid::now_v7());
    for id in [high, low] {
        sqlx::query(
            "insert into notifications (notification_id, agent_id, notification_type, source, \
                 payload, correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, \
                 next_attempt_at) \
             values ($1, $2, 'locks', 'tests', '{}', 'c', '4bf92f3577b34da6a3ce929d0e0e4736', \
                 '00f067aa0ba902b7', true, 'pending', now(), now() + interval '1 day')",
        )
        .bind(id)
        .bind(AGENT)
        .execute(db)
        .await
        .expect("a pending row");
    }
    (low, high)
}

/// Whether another transaction holds `id`'s row lock.
async fn is_locked(db: &PgPool, id: Uuid) -> bool {
    let mut probe = db.begin().await.unwrap();
    let taken =
        sqlx::query("select 1 from notifications where notification_id = $1 for update nowait")
            .bind(id)
            .execute(&mut *probe)
            .await;
    probe.rollback().await.unwrap();
    match taken {
        Ok(_) => false,
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => true,
        Err(error) => panic!("probing {id}: {error}"),
    }
}

/// Backends of this database waiting for a lock.
async fn waiting_for_a_lock(db: &PgPool) -> f64 {
    let waiting: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity \
         where datname = current_database() and wait_event_type = 'Lock'",
    )
    .fetch_one(db)
    .await
    .unwrap();
    waiting as f64
}

fn answer(id: Uuid) -> NewResult {
    NewResult {
        notification_id: id,
        agent_id: AGENT.to_owned(),
        outcome: "completed",
        result: Some("{}".to_owned()),
        error: None,
        tools: "[]".to_owned(),
        llm: "[]".to_owned(),
        started_at: Utc::now(),
        completed_at: Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_updates_lock_rows_in_id_order_so_that_two_of_them_cannot_deadlock() {
    let app = TestApp::spawn().await;
    // A connection each for the holder, the update, and the probes.
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&app.settings.database.url)
        .unwrap();
    let updates: [(&str, Update); 4] = [
        ("mark_published", |db, ids| {
            Box::pin(async move { notifications::mark_published(&db, &ids).await.map(drop) })
        }),
        ("record_rejections", |db, ids| {
            Box::pin(async move {
                notifications::record_rejections(&db, &ids, "rejected", 5)
                    .await
                    .map(drop)
            })
        }),
        ("postpone", |db, ids| {
            Box::pin(
                async move { notifications::postpone(&db, &ids, Duration::from_secs(1)).await },
            )
        }),
        ("results::record", |db, ids| {
            Box::pin(async move {
                let answers: Vec<NewResult> = ids.into_iter().map(answer).collect();
                results::record(&db, &answers).await.map(drop)
            })
        }),
    ];
    for (name, update) in updates {
        // Arrange: another transaction holds the lower row.
        let (low, high) = two_pending_rows(&db).await;
        let mut holder = db.begin().await.unwrap();
        sqlx::query("select 1 from notifications where notification_id = $1 for update")
            .bind(low)
            .execute(&mut *holder)
            .await
            .unwrap();

        // Act: the update is given the rows highest first, and waits for the lower one.
        let running = tokio::spawn(update(db.clone(), vec![high, low]));
        wait_for(name, 1.0, Duration::from_secs(10), || {
            waiting_for_a_lock(&db)
        })
        .await;

        // Assert: while it waits for the lower row it holds no lock on the higher one, so a
        // statement taking them in id order could not be waiting for it in turn.
        assert!(
            !is_locked(&db, high).await,
            "{name} locked the higher row before the lower one"
        );
        holder.rollback().await.unwrap();
        let done = tokio::time::timeout(Duration::from_secs(10), running).await;
        done.expect("the update ends once the lower row is free")
            .unwrap()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}
