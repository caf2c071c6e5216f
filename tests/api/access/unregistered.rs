//! An agent exists once registered. Notifying any other id stores, publishes and declares
//! nothing, the relay declares nothing for it either, and a key learns nothing about agents
//! outside its patterns.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Broker, TestApp, notification_body, notification_count, problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_to_an_unregistered_agent_is_404_and_stores_publishes_and_declares_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let rows_before = notification_count(&app.db).await;

    // Act
    let response = app.notify(&agent, &notification_body()).await;

    // Assert
    let (status, _, body) = problem(response).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "urn:vos:problem:agent-not-found");
    assert_eq!(
        notification_count(&app.db).await,
        rows_before,
        "nothing stored"
    );
    assert_eq!(
        broker.queue_state(&format!("{agent}_queue")).await,
        None,
        "no queue declared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_never_declares_a_queue_for_an_unregistered_agent() {
    // Arrange: a pending row for an agent nobody registered (left from before the upgrade, or
    // unregistered since), due now.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    sqlx::query(
        "insert into notifications (notification_id, agent_id, notification_type, source, \
             payload, correlation_id, trace_id, span_id, trace_sampled, accepted_at, \
             next_attempt_at) \
         values (gen_random_uuid(), $1, 'user_message', 'tests', '{}', 'relay-check', \
             '0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', true, now(), now())",
    )
    .bind(&agent)
    .execute(&app.db)
    .await
    .unwrap();

    // Act: wait until the relay has tried it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (attempts, error): (i32, Option<String>) = loop {
        let row: (i32, Option<String>) =
            sqlx::query_as("select attempts, last_error from notifications where agent_id = $1")
                .bind(&agent)
                .fetch_one(&app.db)
                .await
                .unwrap();
        if row.0 > 0 || tokio::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert: tried (and returned as unroutable), but no queue was made for it.
    assert!(attempts > 0, "the relay did not try the row within 10 s");
    assert_eq!(
        broker.queue_state(&format!("{agent}_queue")).await,
        None,
        "the relay declared a queue for an unregistered agent ({error:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_gets_the_same_404_for_an_agent_outside_its_patterns_as_for_no_agent_at_all() {
    // Arrange: a registered agent, and a key for other agents only.
    let app = TestApp::spawn().await;
    let (registered, missing) = (app.agent().await, app.unregistered_agent());
    let key = app
        .create_key(json!({ "name": "n", "scopes": ["notify", "read"], "agents": ["weather_*"] }))
        .await;
    let outsider = app.with_key(&key);

    // Act
    let mut answers = Vec::new();
    for agent in [&registered, &missing] {
        let notify = problem(outsider.notify(agent, &notification_body()).await).await;
        let show = problem(
            outsider
                .get(&format!("/api/v1/agents/{agent}"))
                .await
                .unwrap(),
        )
        .await;
        for (status, _, body) in [notify, show] {
            // The id is echoed back; everything else must be the same.
            let detail = body["detail"]
                .as_str()
                .unwrap()
                .replace(agent.as_str(), "ID");
            answers.push((
                status.as_u16(),
                body["type"].clone(),
                body["title"].clone(),
                detail,
            ));
        }
    }

    // Assert
    assert_eq!(answers[0].0, 404, "{answers:?}");
    assert_eq!(
        answers[0..2],
        answers[2..4],
        "an outsider can tell the agents apart"
    );
}
