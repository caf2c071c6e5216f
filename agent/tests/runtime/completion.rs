//! A notification that the handler completes: the result, its message, and the trace.

use lapin::types::AMQPValue;
use opentelemetry::trace::{SpanKind, Status};
use serde_json::json;
use vos_protocol::Outcome;

use crate::support::{self, Broker, PARENT_SPAN_ID, Running, TRACE_ID, attribute, header};

#[tokio::test]
async fn echo_completes_with_the_payload_and_continues_the_senders_trace() {
    // Arrange
    let agent_id = support::unique("echo");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );

    // Act
    let id = broker
        .notify("echo", json!({"city": "Lyon", "n": [1, 2]}))
        .await;
    let (result, message) = broker.result().await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.agent_id, agent_id);
    assert_eq!(result.status, Outcome::Completed);
    let answer: serde_json::Value = serde_json::from_str(result.result.unwrap().get()).unwrap();
    assert_eq!(answer, json!({"city": "Lyon", "n": [1, 2]}));
    assert!(result.tools.is_empty() && result.llm.is_empty() && result.error.is_none());
    assert!(result.finished_at >= result.started_at);
    let traceparent = header(&message, "traceparent").expect("a traceparent header");
    assert_eq!(
        &traceparent[3..35],
        TRACE_ID,
        "the result continues the trace"
    );
    assert_ne!(
        &traceparent[36..52],
        PARENT_SPAN_ID,
        "from the agent's own span"
    );
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn the_result_message_is_persistent_json_with_the_correlation_id_and_its_own_message_id() {
    // Arrange
    let agent_id = support::unique("props");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );

    // Act
    let id = broker.notify("anything", json!({})).await;
    let (result, message) = broker.result().await;

    // Assert
    let properties = &message.properties;
    assert_eq!(
        properties.correlation_id().as_ref().unwrap().as_str(),
        format!("corr-{id}")
    );
    let message_id = properties
        .message_id()
        .as_ref()
        .unwrap()
        .as_str()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&message_id).is_ok());
    assert_ne!(message_id, id.to_string());
    assert_eq!(
        properties.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    let answer: serde_json::Value = serde_json::from_str(result.result.unwrap().get()).unwrap();
    assert_eq!(answer, json!({"handled": "anything"}));
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn weather_reports_its_tool_and_model_calls_in_the_result_and_in_spans() {
    // Arrange
    let agent_id = support::unique("weather");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );

    // Act
    let id = broker.notify("weather", json!({"city": "Lyon"})).await;
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.status, Outcome::Completed);
    let answer: serde_json::Value = serde_json::from_str(result.result.unwrap().get()).unwrap();
    assert_eq!(answer["forecast"]["city"], "Lyon");
    assert_eq!(answer["forecast"]["conditions"], "sunny");
    assert_eq!(result.tools.len(), 1);
    assert_eq!(result.tools[0].name, "get_weather");
    assert_eq!(result.tools[0].status, "ok");
    assert!(result.tools[0].duration_ms >= 4.0);
    assert_eq!(result.llm.len(), 1);
    assert_eq!(
        (
            result.llm[0].model.as_str(),
            result.llm[0].input_tokens,
            result.llm[0].output_tokens
        ),
        ("demo-llm", 42, 7)
    );
    let queue = broker.queue();
    let process = support::span_where(|span| {
        attribute(span, "messaging.message.id").as_deref() == Some(&id.to_string())
    })
    .await;
    assert_eq!(process.name, format!("process {queue}"));
    let tool = support::span_where(|span| {
        span.name == "execute_tool get_weather"
            && span.parent_span_id == process.span_context.span_id()
    })
    .await;
    assert_eq!(tool.span_kind, SpanKind::Internal);
    assert_eq!(
        attribute(&tool, "gen_ai.tool.name").as_deref(),
        Some("get_weather")
    );
    assert_eq!(
        attribute(&tool, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn the_consumer_span_is_a_child_of_the_senders_context_and_links_to_it() {
    // Arrange
    let agent_id = support::unique("span");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );
    let (id, body) = broker.notification("echo", json!({}));
    // Sent as a byte array, as some publishers do.
    let traceparent = AMQPValue::ByteArray(support::traceparent().as_bytes().into());

    // Act
    broker
        .publish(&body, broker.properties(&id.to_string(), traceparent))
        .await;
    let (_, message) = broker.result().await;

    // Assert
    let span = support::span_where(|span| {
        attribute(span, "messaging.message.id").as_deref() == Some(&id.to_string())
    })
    .await;
    assert_eq!(span.name, format!("process {}", broker.queue()));
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_SPAN_ID);
    assert!(span.parent_span_is_remote);
    let link = span.links.links.first().expect("a link to the sender");
    assert_eq!(link.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(link.span_context.span_id().to_string(), PARENT_SPAN_ID);
    for (key, value) in [
        ("messaging.system", "rabbitmq".to_owned()),
        ("messaging.operation.type", "process".to_owned()),
        ("messaging.destination.name", broker.queue()),
        ("messaging.message.conversation_id", format!("corr-{id}")),
        ("vos.agent_id", agent_id.clone()),
        ("vos.notification_type", "echo".to_owned()),
    ] {
        assert_eq!(attribute(&span, key), Some(value), "{key}");
    }
    assert!(attribute(&span, "messaging.rabbitmq.message.delivery_tag").is_some());
    assert_ne!(span.status, Status::error(""));
    let traceparent = header(&message, "traceparent").unwrap();
    assert_eq!(
        traceparent,
        format!("00-{TRACE_ID}-{}-01", span.span_context.span_id()),
        "the result carries the consumer span's context"
    );
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace() {
    // Arrange
    let agent_id = support::unique("badtrace");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );
    let (id, body) = broker.notification("echo", json!({}));
    let bad =
        AMQPValue::LongString(format!("00-{}-{PARENT_SPAN_ID}-01", TRACE_ID.to_uppercase()).into());

    // Act
    broker
        .publish(&body, broker.properties(&id.to_string(), bad))
        .await;
    let (result, message) = broker.result().await;

    // Assert
    assert_eq!(result.status, Outcome::Completed);
    let traceparent = header(&message, "traceparent").unwrap();
    assert_ne!(&traceparent[3..35], TRACE_ID);
    let span = support::span_where(|span| {
        attribute(span, "messaging.message.id").as_deref() == Some(&id.to_string())
    })
    .await;
    assert_eq!(
        attribute(&span, "vos.trace_context.invalid").as_deref(),
        Some("true")
    );
    assert!(span.links.links.is_empty());
    running.stop().await;
    broker.cleanup().await;
}
