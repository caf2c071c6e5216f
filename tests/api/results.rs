//! The response hop, gateway side: results an agent publishes to the results queue are
//! recorded once on their notification, shown by the status route (which can wait for them),
//! and never block the queue: duplicates and results for unknown notifications are counted
//! and dropped, unreadable ones dead-lettered. These tests play the agent with a plain AMQP
//! client; `journey.rs` runs the real agent.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

use crate::helpers::{
    Broker, GatewayProcess, OtlpReceiver, ReceivedSpan, TestApp, completed_result, failed_result,
    metric_labelled, named, scrape, wait_for,
};

/// Published, recorded and visible: well within this on a loaded machine.
const RECORDED_WITHIN: &str = "20s";

async fn show(app: &TestApp, accepted: &Value, wait: &str) -> Value {
    let id = accepted["notification_id"].as_str().unwrap();
    let response = app
        .get(&format!("/api/v1/notifications/{id}?wait={wait}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_result_is_recorded_with_its_tools_usage_and_durations() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let result = completed_result(&accepted, &agent, json!({"answer": 42, "unit": "°C"}));

    // Act
    let body = serde_json::to_vec(&result).unwrap();
    broker
        .publish_result(&app.settings.amqp.results_queue, &body, None)
        .await;
    let record = show(&app, &accepted, RECORDED_WITHIN).await;

    // Assert
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["result"], json!({"answer": 42, "unit": "°C"}));
    assert!(record["error"].is_null());
    assert_eq!(record["tools"], result["tools"]);
    assert_eq!(record["llm"], result["llm"]);
    assert_eq!(record["started_at"], "2099-01-01T00:00:00Z");
    assert_eq!(record["completed_at"], "2099-01-01T00:00:00.250Z");
    assert_eq!(record["processing_ms"], 250.0);
    assert!(record["end_to_end_ms"].as_f64().unwrap() >= 0.0);
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(&metrics, "vos_results_total", r#"outcome="completed""#),
        1.0
    );
    assert_eq!(
        metric_labelled(
            &metrics,
            "vos_tool_executions_total",
            r#"tool="get_weather""#
        ),
        1.0
    );
    assert_eq!(
        metric_labelled(&metrics, "vos_llm_tokens_total", r#"model="demo-llm""#),
        49.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_result_changes_nothing_and_is_counted() {
    // Arrange: a first result, recorded.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let queue = &app.settings.amqp.results_queue;
    let first = completed_result(&accepted, &agent, json!({"n": 1}));
    broker
        .publish_result(queue, &serde_json::to_vec(&first).unwrap(), None)
        .await;
    assert_eq!(
        show(&app, &accepted, RECORDED_WITHIN).await["outcome"],
        "completed"
    );

    // Act: the same notification answered again, differently.
    let second = failed_result(&accepted, &agent, "a second answer");
    broker
        .publish_result(queue, &serde_json::to_vec(&second).unwrap(), None)
        .await;
    wait_for(
        "duplicate results",
        1.0,
        Duration::from_secs(20),
        || async {
            metric_labelled(
                &scrape(&app).await,
                "vos_results_dropped_total",
                r#"reason="duplicate""#,
            )
        },
    )
    .await;

    // Assert: the first answer stands.
    let record = show(&app, &accepted, "0s").await;
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["result"], json!({"n": 1}));
    assert!(record["error"].is_null());
    assert_eq!(broker.queue_depth(queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_for_unknown_notifications_and_unreadable_results_do_not_block_the_queue() {
    // Arrange: an accepted notification, and three results that cannot be recorded ahead of
    // its answer: no such notification, another agent's notification, not a result at all.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let queue = &app.settings.amqp.results_queue;
    let dead_letters = format!("{queue}.dlq");
    let unknown = completed_result(
        &json!({"notification_id": uuid::Uuid::now_v7()}),
        &agent,
        json!({}),
    );
    let wrong_agent = completed_result(&accepted, "someone-else", json!({}));
    let unreadable = br#"{"notification_id": "not even a uuid", "password": "hunter2"}"#;

    // Act
    for body in [
        serde_json::to_vec(&unknown).unwrap(),
        serde_json::to_vec(&wrong_agent).unwrap(),
        unreadable.to_vec(),
    ] {
        broker.publish_result(queue, &body, None).await;
    }
    let answer = completed_result(&accepted, &agent, json!({"ok": true}));
    broker
        .publish_result(queue, &serde_json::to_vec(&answer).unwrap(), None)
        .await;

    // Assert: the real answer is recorded; the others are counted, the unreadable one kept
    // byte for byte in the dead-letter queue, and nothing is left on the results queue.
    let record = show(&app, &accepted, RECORDED_WITHIN).await;
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["result"], json!({"ok": true}));
    // The row may be read back (the wait also polls it) a moment before the consumer has
    // counted, so the counts are awaited rather than read once.
    let dropped = |reason: &'static str| {
        let app = &app;
        move || async move {
            metric_labelled(
                &scrape(app).await,
                "vos_results_dropped_total",
                &format!(r#"reason="{reason}""#),
            )
        }
    };
    let within = Duration::from_secs(5);
    wait_for("unknown results dropped", 2.0, within, dropped("unknown")).await;
    wait_for(
        "malformed results dropped",
        1.0,
        within,
        dropped("malformed"),
    )
    .await;
    let kept = broker
        .next_message(&dead_letters, Duration::from_secs(10))
        .await
        .expect("the unreadable result is in the dead-letter queue");
    assert_eq!(kept.delivery.data, unreadable);
    assert_eq!(broker.queue_depth(queue).await, 0);
    broker.delete_queue(&dead_letters).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_as_soon_as_the_outcome_is_recorded() {
    // Arrange: a client waiting up to 30 s for a notification nobody has answered yet.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let started = Instant::now();
    let waiting = show(&app, &accepted, "30s");

    // Act: the agent answers half a second later.
    let answer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let failed = failed_result(&accepted, &agent, "the tool timed out");
        broker
            .publish_result(
                &app.settings.amqp.results_queue,
                &serde_json::to_vec(&failed).unwrap(),
                None,
            )
            .await;
    };
    let (record, ()) = tokio::join!(waiting, answer);

    // Assert: the answer, long before the wait would have ended.
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["error"], "the tool timed out");
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ends_with_no_outcome_when_nobody_answers_and_rejects_a_non_duration() {
    // Arrange
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let id = accepted["notification_id"].as_str().unwrap();

    // Act
    let started = Instant::now();
    let record = show(&app, &accepted, "1s").await;
    let waited = started.elapsed();
    let invalid = app
        .get(&format!("/api/v1/notifications/{id}?wait=soon"))
        .await
        .unwrap();

    // Assert
    assert!(record["outcome"].is_null());
    assert!(record["result"].is_null());
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert_eq!(invalid.status(), 422);
    let problem: Value = invalid.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_sees_a_result_that_another_gateway_process_recorded() {
    // Arrange: a gateway consuming the results queue, and a second gateway process on the
    // same database that consumes another queue, so it can only learn of the answer from
    // the database.
    let app = TestApp::spawn().await;
    let elsewhere = format!("{}.other", app.settings.amqp.results_queue);
    let other = GatewayProcess::builder()
        .database_url(&app.settings.database.url)
        .env("VOS__AMQP__RESULTS_QUEUE", &elsewhere)
        .start()
        .await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let accepted = app.accept_published(&agent).await;
    let id = accepted["notification_id"].as_str().unwrap();
    let path = format!("/api/v1/notifications/{id}?wait=30s");
    let waiting = other.get(&path);

    // Act
    let answer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let result = completed_result(&accepted, &agent, json!({"via": "the first gateway"}));
        broker
            .publish_result(
                &app.settings.amqp.results_queue,
                &serde_json::to_vec(&result).unwrap(),
                None,
            )
            .await;
    };
    let (response, ()) = tokio::join!(waiting, answer);

    // Assert
    let record: Value = response.unwrap().json().await.unwrap();
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["result"], json!({"via": "the first gateway"}));
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_consumer_span_continues_the_agents_trace() {
    // Arrange: the binary exporting spans; an agent span id of our own as the parent.
    let receiver = OtlpReceiver::http().await;
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ])
        .start()
        .await;
    let broker = Broker::connect().await;
    let agent = gateway.agent().await;
    let accepted = gateway.accept(&agent).await;
    let trace_id = accepted["trace_id"].as_str().unwrap();
    let agent_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{agent_span}-01");

    // Act
    let result = failed_result(&accepted, &agent, "boom");
    broker
        .publish_result(
            &gateway.results_queue(),
            &serde_json::to_vec(&result).unwrap(),
            Some(&traceparent),
        )
        .await;
    let id = accepted["notification_id"].as_str().unwrap();
    let record: Value = gateway
        .get(&format!(
            "/api/v1/notifications/{id}?wait={RECORDED_WITHIN}"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["outcome"], "failed");
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: a CONSUMER span in the notification's trace, child of and linked to the agent's
    // span, with the messaging attributes, in error because the outcome is `failed`.
    let spans = receiver
        .wait_for_trace(trace_id, 3, Duration::from_secs(5))
        .await;
    let queue = result_queue_name(&spans);
    let consumer = named(&spans, &format!("process {queue}"));
    assert_eq!(consumer.span.kind, SpanKind::Consumer as i32);
    assert_eq!(consumer.parent_span_id(), agent_span);
    let links = consumer.links();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        (links[0].0.as_str(), links[0].1.as_str()),
        (trace_id, agent_span)
    );
    let attributes = crate::helpers::attributes(&consumer.span.attributes);
    assert_eq!(attributes["messaging.system"], "rabbitmq");
    assert_eq!(attributes["messaging.operation.type"], "process");
    assert_eq!(attributes["messaging.destination.name"], queue);
    assert_eq!(attributes["vos.notification_id"], id);
    assert_eq!(consumer.span.status.as_ref().map(|s| s.code), Some(2));
}

/// The results queue named by the consumer span (`process <queue>`) among `spans`.
fn result_queue_name(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .find_map(|span| span.span.name.strip_prefix("process ").map(str::to_owned))
        .expect("a result consumer span")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_agents_result_in_the_same_batch_never_replaces_the_agents_own() {
    use vos_gateway::store::results::{NewResult, record};
    // Arrange: one notification, answered by its agent and by someone else in one batch, in
    // both orders.
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let answer = |id: uuid::Uuid, agent_id: &str, result: &str| NewResult {
        notification_id: id,
        agent_id: agent_id.to_owned(),
        outcome: "completed",
        result: Some(result.to_owned()),
        error: None,
        tools: "[]".to_owned(),
        llm: "[]".to_owned(),
        started_at: chrono::Utc::now(),
        completed_at: chrono::Utc::now(),
    };
    for forged_first in [true, false] {
        let accepted = app.accept_published(&agent).await;
        let id = accepted["notification_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let own = answer(id, &agent, r#"{"from": "the agent"}"#);
        let forged = answer(id, "someone-else", r#"{"from": "someone else"}"#);
        let batch = if forged_first {
            [forged, own]
        } else {
            [own, forged]
        };

        // Act
        let recorded = record(&app.db, &batch).await.unwrap();

        // Assert
        assert_eq!(recorded.recorded.len(), 1);
        assert_eq!(recorded.recorded[0].agent_id, agent);
        let record = show(&app, &accepted, "0s").await;
        assert_eq!(
            record["result"],
            json!({"from": "the agent"}),
            "forged first: {forged_first}"
        );
    }
}
