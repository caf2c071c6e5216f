//! Capacity bounds how much runs at once, and shutdown drains what is running.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use tokio::sync::mpsc;
use vos_protocol::Outcome;

use crate::support::{self, Broker, DEADLINE, Running};

#[tokio::test]
async fn capacity_two_never_runs_more_than_two_handlers_at_once() {
    // Arrange
    let agent_id = support::unique("capacity");
    let broker = Broker::new(&agent_id).await;
    let running_now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (running_now.clone(), most.clone());
    let running = Running::start(
        support::agent(&agent_id)
            .capacity(2)
            .handler(move |_ctx: vos_agent::Context, _| {
                let (now, peak) = (now.clone(), peak.clone());
                async move {
                    let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(current, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(json!({}))
                }
            })
            .build()
            .unwrap(),
    );

    // Act
    for _ in 0..6 {
        broker.notify("slow", json!({})).await;
    }
    let mut completed = 0;
    for _ in 0..6 {
        let (result, _) = broker.result().await;
        completed += usize::from(result.status == Outcome::Completed);
    }

    // Assert
    assert_eq!(completed, 6);
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "at most (and at best) two at once"
    );
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_work_finish_and_leaves_the_rest_on_the_queue() {
    // Arrange
    let agent_id = support::unique("drain");
    let broker = Broker::new(&agent_id).await;
    let (started, mut starts) = mpsc::unbounded_channel::<()>();
    let running = Running::start(
        support::agent(&agent_id)
            .capacity(2)
            .handler(move |_ctx: vos_agent::Context, _| {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    Ok(json!({"drained": true}))
                }
            })
            .build()
            .unwrap(),
    );
    for _ in 0..5 {
        broker.notify("slow", json!({})).await;
    }
    for _ in 0..2 {
        tokio::time::timeout(DEADLINE, starts.recv())
            .await
            .expect("two handlers start")
            .unwrap();
    }

    // Act
    running.stop().await;

    // Assert
    for _ in 0..2 {
        let (result, _) = broker.result().await;
        assert_eq!(result.status, Outcome::Completed);
    }
    assert!(
        broker
            .next(&broker.results.clone(), Duration::from_millis(200))
            .await
            .is_none(),
        "nothing started after shutdown"
    );
    assert_eq!(
        broker.depth(&broker.queue()).await,
        (3, 0),
        "the three not started are back on the queue, unacknowledged ones included"
    );
    broker.cleanup().await;
}
