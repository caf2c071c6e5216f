//! An agent's live status (what the broker and the outbox know) and unregistering it (the
//! queue stays unless asked, and a queue with messages is never deleted).

use futures::StreamExt as _;
use lapin::{
    options::{BasicConsumeOptions, QueuePurgeOptions},
    types::FieldTable,
};
use reqwest::Method;
use serde_json::{Value, json};

use super::agents::put_agent;
use crate::helpers::{Broker, TestApp, problem};

async fn delete_agent(app: &TestApp, agent: &str, query: &str) -> reqwest::Response {
    let path = format!("/api/v1/agents/{agent}{query}");
    app.request(Method::DELETE, &path).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_status_shows_depth_backlog_last_publish_and_whether_it_is_up() {
    // Arrange: two notifications published, nobody consuming yet; another agent, and a
    // reader that covers only the first one.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let (agent, other) = (app.agent().await, app.agent().await);
    app.accept_published(&agent).await;
    app.accept_published(&agent).await;
    let reader = app.with_key(
        &app.create_key(json!({ "name": "r", "scopes": ["read"], "agents": [agent] }))
            .await,
    );

    // Act
    let idle: Value = reader
        .get(&format!("/api/v1/agents/{agent}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut consumer = broker
        .channel()
        .basic_consume(
            format!("{agent}_queue").as_str().into(),
            "status-check".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    consumer.next().await.expect("a delivery").unwrap();
    let consumed: Value = reader
        .get(&format!("/api/v1/agents/{agent}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Value = reader
        .get("/api/v1/agents")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(
        (&idle["up"], &idle["consumers"]),
        (&json!(false), &json!(0)),
        "{idle}"
    );
    assert_eq!(
        (&idle["queue_depth"], &idle["backlog"]),
        (&json!(2), &json!(0)),
        "{idle}"
    );
    assert!(idle["last_published_at"].is_string(), "{idle}");
    assert_eq!(
        idle["last_hour"],
        json!({ "accepted": 2, "published": 2, "failed": 0 })
    );
    assert_eq!(
        (&consumed["up"], &consumed["consumers"]),
        (&json!(true), &json!(1)),
        "{consumed}"
    );
    let ids: Vec<&Value> = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["agent_id"])
        .collect();
    assert_eq!(
        ids,
        [&json!(agent)],
        "the reader sees its agent, not {other}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_queue_is_never_deleted_by_unregistering_and_nothing_changes() {
    // Arrange: a registered agent with an empty quorum queue.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let quorum = json!({ "queue_type": "quorum" });
    assert_eq!(put_agent(&app, &agent, Some(quorum)).await.0, 201);
    let queue = format!("{agent}_queue");

    // Act: RabbitMQ cannot delete a quorum queue only if empty (and a check then a plain
    // delete could destroy a message confirmed in between).
    let (status, _, body) = problem(delete_agent(&app, &agent, "?delete_queue=true").await).await;

    // Assert: refused, still registered, the queue kept; the admin connection the broker
    // closed is opened again for the next registration; unregistering alone works.
    assert_eq!(
        (status.as_u16(), &body["type"]),
        (409, &json!("urn:vos:problem:queue-not-deletable"))
    );
    let shown = app.get(&format!("/api/v1/agents/{agent}")).await.unwrap();
    assert_eq!(shown.status(), 200);
    assert_eq!(broker.queue_state(&queue).await, Some((0, 0)));
    let other = app.unregistered_agent();
    assert_eq!(put_agent(&app, &other, None).await.0, 201);
    assert_eq!(delete_agent(&app, &agent, "").await.status(), 204);
    assert_eq!(broker.queue_state(&queue).await, Some((0, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistering_keeps_the_queue_unless_asked_and_never_deletes_a_full_one() {
    // Arrange: a registered agent (a classic queue: see the next test for quorum queues) with
    // one message waiting.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let classic = json!({ "queue_type": "classic" });
    assert_eq!(put_agent(&app, &agent, Some(classic.clone())).await.0, 201);
    let queue = format!("{agent}_queue");
    app.accept_published(&agent).await;

    // Act + Assert: asked to delete a full queue, nothing changes.
    let (status, _, body) = problem(delete_agent(&app, &agent, "?delete_queue=true").await).await;
    assert_eq!(
        (status.as_u16(), &body["type"]),
        (409, &json!("urn:vos:problem:queue-not-empty"))
    );
    assert_eq!(
        app.get(&format!("/api/v1/agents/{agent}"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(broker.queue_state(&queue).await, Some((1, 0)));

    // Unregistered: no longer notifiable, the queue and its message stay.
    assert_eq!(delete_agent(&app, &agent, "").await.status(), 204);
    let (status, _, body) = problem(
        app.notify(&agent, &crate::helpers::notification_body())
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), &body["type"]),
        (404, &json!("urn:vos:problem:agent-not-found"))
    );
    assert_eq!(
        app.get(&format!("/api/v1/agents/{agent}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(broker.queue_state(&queue).await, Some((1, 0)));

    // Registered again and emptied, then unregistered with its queue.
    assert_eq!(put_agent(&app, &agent, Some(classic)).await.0, 201);
    broker
        .channel()
        .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(
        delete_agent(&app, &agent, "?delete_queue=true")
            .await
            .status(),
        204
    );
    assert_eq!(broker.queue_state(&queue).await, None);
}
