//! What reaches RabbitMQ: the message format of DESIGN.md, and queue declaration.

use std::time::Duration;

use lapin::{
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Broker, TestApp, header_str, post_numbered};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_message_matches_the_202_response() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let body = json!({ "notification_type": "task_update", "source": "planner", "payload": { "step": 3 } });

    // Act
    let response = app
        .notify_request(&agent)
        .header("x-correlation-id", "corr-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    let accepted: Value = response.json().await.unwrap();
    let message = broker
        .next_message(&format!("{agent}_queue"), Duration::from_secs(10))
        .await
        .expect("a message");

    // Assert: body
    let sent: Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(sent["notification_id"], accepted["notification_id"]);
    assert_eq!(sent["agent_id"], agent.as_str());
    assert_eq!(sent["notification_type"], "task_update");
    assert_eq!(sent["source"], "planner");
    assert_eq!(sent["payload"], json!({ "step": 3 }));
    assert_eq!(sent["trace_id"], accepted["trace_id"]);
    assert_eq!(sent["correlation_id"], "corr-42");
    let span_id = sent["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert!(chrono::DateTime::parse_from_rfc3339(sent["timestamp"].as_str().unwrap()).is_ok());

    // Assert: properties
    let properties = &message.delivery.properties;
    let id = accepted["notification_id"].as_str().unwrap();
    assert_eq!(
        properties.message_id().as_ref().map(|v| v.as_str()),
        Some(id)
    );
    assert_eq!(
        properties.correlation_id().as_ref().map(|v| v.as_str()),
        Some("corr-42")
    );
    assert_eq!(
        properties.content_type().as_ref().map(|v| v.as_str()),
        Some("application/json")
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert!(properties.timestamp().is_some());

    // Assert: traceparent continues the trace from the producer span named in the body.
    let headers = properties.headers().as_ref().expect("headers");
    let traceparent = header_str(headers, "traceparent").expect("traceparent header");
    let trace_id = accepted["trace_id"].as_str().unwrap();
    assert_eq!(traceparent, format!("00-{trace_id}-{span_id}-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_queue_is_declared_durable_on_first_use() {
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;

    app.accept_published(&agent).await;

    // A durable redeclare with the same arguments (none for a classic queue, the type for a
    // quorum queue) succeeds only if ours was durable.
    let mut arguments = FieldTable::default();
    if app.settings.amqp.queue_type == vos_gateway::domain::QueueType::Quorum {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    let queue = broker
        .channel()
        .queue_declare(
            format!("{agent}_queue").as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .expect("queue is durable with the type's arguments");
    assert_eq!(queue.message_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_the_agent_declared_with_its_own_arguments_is_used_as_it_is() {
    // Arrange: the agent declared its queue first, with a length limit; then it is registered.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let queue = format!("{agent}_queue");
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongInt(1000));
    broker
        .channel()
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .unwrap();
    app.register(&agent).await;

    // Act
    let accepted = app.accept(&agent).await;

    // Assert: no clash, the message is in the agent's queue.
    app.wait_published(
        accepted["notification_id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    let message = broker
        .next_message(&queue, Duration::from_secs(5))
        .await
        .expect("message in the agent's queue");
    let sent: Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(sent["notification_id"], accepted["notification_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_notifications_to_one_agent_arrive_once_each() {
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;

    let sent = post_numbered(&app, &agent, 0..50).await;
    let delivered = broker
        .drain(&format!("{agent}_queue"), 50, Duration::from_secs(15))
        .await;

    let mut delivered_ids: Vec<String> = delivered
        .iter()
        .map(|m| m["notification_id"].as_str().unwrap().to_owned())
        .collect();
    let mut ids: Vec<String> = sent.accepted.iter().map(Uuid::to_string).collect();
    delivered_ids.sort();
    ids.sort();
    assert_eq!(delivered_ids, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_is_stored_and_delivered_exactly_as_sent() {
    // Arrange: what JSON allows but a normalising store would change or refuse: key order,
    // a duplicate key, number spellings, escapes, a NUL escape, an astral character.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let payload = r#"{"z":1, "a":1.50e2,"a":-0.0,"nul":"x\u0000y","s":"\ud83d\ude00 \u00e9","n":123456789012345678901234567890}"#;
    let body = format!(r#"{{"notification_type":"raw","source":"tests","payload":{payload}}}"#);

    // Act
    let response = app
        .notify_request(&agent)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    // Assert: 202; the row, the status answer and the message hold the very same bytes.
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["notification_id"].as_str().unwrap();
    let stored: String = sqlx::query_scalar(
        "select payload::text from notifications where notification_id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, payload);
    let status = app
        .get(&format!("/api/v1/notifications/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        status.contains(&format!(r#""payload":{payload}"#)),
        "{status}"
    );
    let message = broker
        .next_message(&format!("{agent}_queue"), Duration::from_secs(10))
        .await
        .expect("the message");
    let sent = String::from_utf8(message.delivery.data.clone()).unwrap();
    assert!(sent.contains(&format!(r#""payload":{payload}"#)), "{sent}");
}
