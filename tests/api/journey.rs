//! The whole journey with the real agent runtime (`vos-agent-demo`): user → gateway →
//! RabbitMQ → agent → tool → result → gateway, in one trace and one record; and what happens
//! to it when the agent is killed, when a message always fails, and when the broker goes away.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

use crate::helpers::{
    AgentProcess, Broker, GatewayClient, GatewayProcess, OtlpReceiver, ReceivedSpan, StoppedBroker,
    TestApp, attributes, metric_labelled, named, scrape, services_lock_async, test_settings,
    wait_for,
};

/// An answered notification is visible well within this on a loaded machine.
const ANSWERED_WITHIN: &str = "30s";

/// Posts a notification of `notification_type` with `payload`; the 202 body.
async fn post(
    gateway: &GatewayClient,
    agent: &str,
    notification_type: &str,
    payload: Value,
) -> Value {
    let body = json!({
        "notification_type": notification_type,
        "source": "journey-tests",
        "payload": payload,
    });
    let response = gateway.notify(agent, &body).await;
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// The record, once the outcome is known (or after the longest wait).
async fn answered(gateway: &GatewayClient, accepted: &Value) -> Value {
    let id = accepted["notification_id"].as_str().unwrap();
    let response = gateway
        .get(&format!(
            "/api/v1/notifications/{id}?wait={ANSWERED_WITHIN}"
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until `queue` has a consumer: the agent is connected and consuming.
async fn wait_consuming(broker: &Broker, queue: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if broker
            .queue_state(queue)
            .await
            .is_some_and(|(_, consumers)| consumers > 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing consumes {queue} after 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_holds_the_gateway_the_agent_its_tool_and_the_result() {
    // Arrange: gateway and agent exporting spans to one receiver.
    let receiver = OtlpReceiver::http().await;
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ];
    let gateway = GatewayProcess::builder().envs(&otel).start().await;
    let broker = Broker::connect().await;
    let agent = gateway.agent().await;
    let queue = format!("{agent}_queue");
    let runtime = AgentProcess::start(&agent, &[], &otel);
    wait_consuming(&broker, &queue).await;

    // Act
    let accepted = post(&gateway, &agent, "weather", json!({"city": "Lyon"})).await;
    let record = answered(&gateway, &accepted).await;
    let (agent_exit, _) = runtime.stop().await;
    let gateway_exit = gateway.stop().await;

    // Assert: the record has the answer and the tool call.
    assert_eq!(record["outcome"], "completed", "{record}");
    assert_eq!(record["tools"][0]["name"], "get_weather");
    assert_eq!(record["tools"][0]["status"], "ok");
    assert_eq!(record["llm"][0]["model"], "demo-llm");
    assert!(record["result"]["forecast"].is_object(), "{record}");
    assert!(agent_exit.success() && gateway_exit.status.success());

    // One trace: server → producer → agent consumer → tool, and the agent consumer → the
    // gateway's result consumer.
    let trace_id = accepted["trace_id"].as_str().unwrap();
    let spans = receiver
        .wait_for_trace(trace_id, 5, Duration::from_secs(10))
        .await;
    let server = named(&spans, "POST /api/v1/agents/{agent_id}/notify");
    let producer = named(&spans, "publish {agent_id}_queue");
    let consumer = named(&spans, &format!("process {queue}"));
    let tool = named(&spans, "execute_tool get_weather");
    let result = named(
        &spans,
        &format!("process {}", gateway_results_queue(&spans)),
    );
    assert_eq!(producer.parent_span_id(), server.span_id());
    assert_eq!(consumer.span.kind, SpanKind::Consumer as i32);
    assert_eq!(consumer.parent_span_id(), producer.span_id());
    assert_eq!(tool.parent_span_id(), consumer.span_id());
    assert_eq!(result.span.kind, SpanKind::Consumer as i32);
    assert_eq!(result.parent_span_id(), consumer.span_id());
    let messaging = attributes(&consumer.span.attributes);
    assert_eq!(messaging["messaging.system"], "rabbitmq");
    assert_eq!(messaging["messaging.destination.name"], queue);
    assert_eq!(
        messaging["messaging.message.id"],
        accepted["notification_id"].as_str().unwrap()
    );
    assert_ne!(
        consumer.resource_attribute("service.name"),
        server.resource_attribute("service.name"),
        "the agent exports as a service of its own"
    );
}

/// The gateway's results queue, from its consumer span's name (`process <queue>`): the one
/// `process` span whose queue is not an agent's.
fn gateway_results_queue(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .filter_map(|span| span.span.name.strip_prefix("process "))
        .find(|queue| !queue.ends_with("_queue"))
        .expect("the gateway's result consumer span")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_the_payload_and_the_record_has_the_durations() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let runtime = AgentProcess::start(&agent, &[], &[]);
    wait_consuming(&broker, &format!("{agent}_queue")).await;
    let payload = json!({"text": "héllo", "n": [1, 2.5, null], "sleep_ms": 20});

    // Act
    let accepted = post(&app, &agent, "echo", payload.clone()).await;
    let record = answered(&app, &accepted).await;

    // Assert
    assert_eq!(record["outcome"], "completed", "{record}");
    assert_eq!(record["result"], payload);
    assert!(
        record["processing_ms"].as_f64().unwrap() >= 20.0,
        "{record}"
    );
    assert!(record["queue_wait_ms"].is_number());
    assert!(record["end_to_end_ms"].as_f64().unwrap() >= record["processing_ms"].as_f64().unwrap());
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(
            &metrics,
            "vos_notification_end_to_end_duration_seconds_count",
            r#"outcome="completed""#
        ),
        1.0
    );
    let (status, _) = runtime.stop().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_handler_is_redelivered_and_the_notification_completes_once() {
    // Arrange: an agent busy with a slow notification.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let queue = format!("{agent}_queue");
    let first = AgentProcess::start(&agent, &[], &[]);
    wait_consuming(&broker, &queue).await;
    let accepted = post(&app, &agent, "echo", json!({"sleep_ms": 3000, "k": "v"})).await;
    // Delivered: no longer ready on the queue, held unacknowledged by the agent.
    app.wait_published(
        accepted["notification_id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    wait_for("ready messages", 0.0, Duration::from_secs(10), || async {
        f64::from(broker.queue_depth(&queue).await)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: SIGKILL mid-handler, then a new agent process.
    first.kill().await;
    let second = AgentProcess::start(&agent, &[], &[]);
    let record = answered(&app, &accepted).await;

    // Assert: completed, recorded once, nothing left on the queue.
    assert_eq!(record["outcome"], "completed", "{record}");
    assert_eq!(record["result"], json!({"sleep_ms": 3000, "k": "v"}));
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(&metrics, "vos_results_total", r#"outcome="completed""#),
        1.0
    );
    let (status, _) = second.stop().await;
    assert!(status.success());
    assert_eq!(
        broker.queue_state(&queue).await.map(|(ready, _)| ready),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_tried_max_attempts_times_then_dead_lettered_and_failed() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let dead_letters = format!("{agent}_queue.dlq");
    let runtime = AgentProcess::start(&agent, &["--max-attempts", "3"], &[]);
    wait_consuming(&broker, &format!("{agent}_queue")).await;

    // Act
    let accepted = post(&app, &agent, "fail", json!({"why": "always"})).await;
    let record = answered(&app, &accepted).await;

    // Assert: failed with the handler's error; the original message is in the DLQ.
    assert_eq!(record["outcome"], "failed", "{record}");
    assert!(
        record["error"].as_str().unwrap().contains("demo failure"),
        "{record}"
    );
    let kept = broker
        .next_message(&dead_letters, Duration::from_secs(10))
        .await
        .expect("the message is dead-lettered");
    let body: Value = serde_json::from_slice(&kept.delivery.data).unwrap();
    assert_eq!(body["notification_id"], accepted["notification_id"]);
    assert_eq!(
        kept.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
        accepted["notification_id"].as_str().map(str::to_owned)
    );
    let (status, _) = runtime.stop().await;
    assert!(status.success());
    broker.delete_queue(&dead_letters).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_broker_stopped_and_started_while_agents_consume_every_notification_completes() {
    // Arrange: this test stops the shared broker, so it runs alone.
    let _exclusive = services_lock_async(true).await;
    let mut settings = test_settings();
    settings.amqp.reconnect_max = Duration::from_secs(1);
    let app = TestApp::spawn_unlocked(settings, true).await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let runtime = AgentProcess::start(&agent, &[], &[]);
    wait_consuming(&broker, &format!("{agent}_queue")).await;
    let mut accepted = Vec::new();
    for n in 0..20 {
        accepted.push(post(&app, &agent, "echo", json!({"n": n, "sleep_ms": 50})).await);
    }

    // Act: the broker goes away for 3 s while notifications keep arriving.
    let stopped = StoppedBroker::stop().await;
    for n in 20..40 {
        accepted.push(post(&app, &agent, "echo", json!({"n": n})).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stopped.start().await;
    for n in 40..60 {
        accepted.push(post(&app, &agent, "echo", json!({"n": n})).await);
    }

    // Assert: every accepted notification is answered, with its own payload.
    let broker = Broker::connect().await;
    wait_consuming(&broker, &format!("{agent}_queue")).await;
    for (n, accepted) in accepted.iter().enumerate() {
        let record = answered(&app, accepted).await;
        assert_eq!(record["outcome"], "completed", "notification {n}: {record}");
        assert_eq!(record["result"]["n"], n, "notification {n}");
    }
    let (status, _) = runtime.stop().await;
    assert!(status.success());
}
