//! OTLP trace export from the real binary to a receiver in this process, over gRPC and over
//! HTTP/protobuf: the server span and the producer span of a notification, linked parent to
//! child, with the semantic-convention attributes and the resource; parent-based sampling.
//!
//! The batch span processor exports on a timer and at shutdown; the tests send SIGTERM to
//! flush rather than waiting for the timer.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

use crate::helpers::{
    Broker, GatewayProcess, OtlpReceiver, attributes, closed_port, header_str, named,
    notification_body,
};

const SERVER_SPAN: &str = "POST /api/v1/agents/{agent_id}/notify";
const PRODUCER_SPAN: &str = "publish {agent_id}_queue";
const SERVICE_NAME: &str = "vos-gateway-under-test";
const ENVIRONMENT: &str = "otlp-test";
/// Spans are flushed by the time the process has exited; this only bounds the last hop.
const ARRIVE_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_delivers_the_server_and_producer_spans_with_the_resource() {
    let receiver = OtlpReceiver::grpc().await;

    exports_the_notification_trace(&receiver, "grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_export_delivers_the_server_and_producer_spans_with_the_resource() {
    let receiver = OtlpReceiver::http().await;

    exports_the_notification_trace(&receiver, "http/protobuf").await;

    // The base endpoint got the traces path appended; the body was protobuf.
    let exports = receiver.http_exports();
    assert!(!exports.is_empty());
    assert!(
        exports.iter().all(|export| export.path == "/v1/traces"
            && export.content_type.as_deref() == Some("application/x-protobuf")),
        "{exports:?}"
    );
}

/// One notification through a gateway exporting with `protocol`; checks what arrived.
async fn exports_the_notification_trace(receiver: &OtlpReceiver, protocol: &str) {
    // Arrange: the binary exporting to the receiver, configured by the standard variables.
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", SERVICE_NAME),
            ("VOS__TELEMETRY__ENVIRONMENT", ENVIRONMENT),
        ])
        .start()
        .await;
    let broker = Broker::connect().await;
    let agent = gateway.agent().await;
    let queue = format!("{agent}_queue");

    // Act: one notification, published; then SIGTERM, which flushes the span batch.
    let accepted = gateway.accept_correlated(&agent, "otlp-check-1").await;
    let message = broker
        .next_message(&queue, Duration::from_secs(10))
        .await
        .expect("the notification is published");
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: both spans of the 202's trace arrived.
    let trace_id = accepted["trace_id"].as_str().unwrap();
    let notification_id = accepted["notification_id"].as_str().unwrap();
    let spans = receiver.wait_for_trace(trace_id, 2, ARRIVE_WITHIN).await;
    let server = named(&spans, SERVER_SPAN);
    let producer = named(&spans, PRODUCER_SPAN);

    // The server span: kind SERVER, a root here (no incoming traceparent), HTTP attributes.
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    assert_eq!(
        server.parent_span_id(),
        "",
        "a new trace starts at the gateway"
    );
    let http = attributes(&server.span.attributes);
    assert_eq!(
        http.get("http.request.method").map(String::as_str),
        Some("POST"),
        "{http:?}"
    );
    assert_eq!(
        http.get("http.route").map(String::as_str),
        Some("/api/v1/agents/{agent_id}/notify")
    );
    assert_eq!(
        http.get("http.response.status_code").map(String::as_str),
        Some("202")
    );
    assert_eq!(http.get("url.scheme").map(String::as_str), Some("http"));

    // The producer span: kind PRODUCER, child of the server span, messaging attributes.
    assert_eq!(producer.span.kind, SpanKind::Producer as i32);
    assert_eq!(producer.trace_id(), trace_id);
    assert_eq!(producer.parent_span_id(), server.span_id());
    let messaging = attributes(&producer.span.attributes);
    for (key, expected) in [
        ("messaging.system", "rabbitmq"),
        ("messaging.destination.name", queue.as_str()),
        ("messaging.message.id", notification_id),
        ("messaging.message.conversation_id", "otlp-check-1"),
        ("messaging.operation.type", "send"),
    ] {
        assert_eq!(
            messaging.get(key).map(String::as_str),
            Some(expected),
            "{key}: {messaging:?}"
        );
    }

    // The message carries the producer span's context, so the agent continues this trace.
    let headers = message
        .delivery
        .properties
        .headers()
        .as_ref()
        .expect("headers");
    assert_eq!(
        header_str(headers, "traceparent").as_deref(),
        Some(format!("00-{trace_id}-{}-01", producer.span_id()).as_str())
    );

    // The resource: who exported these spans.
    for span in [server, producer] {
        assert_eq!(
            span.resource_attribute("service.name").as_deref(),
            Some(SERVICE_NAME)
        );
        assert_eq!(
            span.resource_attribute("service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        let instance = span
            .resource_attribute("service.instance.id")
            .unwrap_or_default();
        assert!(
            uuid::Uuid::parse_str(&instance).is_ok(),
            "service.instance.id: {instance:?}"
        );
        assert_eq!(
            span.resource_attribute("deployment.environment.name")
                .as_deref(),
            Some(ENVIRONMENT)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traces_specific_variables_win_over_the_generic_ones() {
    // Arrange: the generic variables point at nothing useful (a closed port, gRPC); the
    // traces-specific ones at an HTTP receiver, with a path of its own.
    let receiver = OtlpReceiver::http().await;
    let traces_endpoint = format!("{}/collector/traces", receiver.endpoint);
    let unused = format!("http://127.0.0.1:{}", closed_port());
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", unused.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                traces_endpoint.as_str(),
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ])
        .start()
        .await;
    let agent = gateway.agent().await;

    // Act
    let accepted = gateway.accept_correlated(&agent, "otlp-check").await;
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the spans went over HTTP to the traces URL exactly as given (no path appended).
    let trace_id = accepted["trace_id"].as_str().unwrap();
    let spans = receiver.wait_for_trace(trace_id, 2, ARRIVE_WITHIN).await;
    named(&spans, SERVER_SPAN);
    named(&spans, PRODUCER_SPAN);
    let exports = receiver.http_exports();
    assert!(
        exports
            .iter()
            .all(|export| export.path == "/collector/traces"),
        "{exports:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_is_parent_based_for_a_trusted_caller_and_new_traces_use_the_ratio() {
    // Arrange: a gateway that samples no new trace at all, and an internal caller's key.
    let receiver = OtlpReceiver::http().await;
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("VOS__TELEMETRY__SAMPLE_RATIO", "0"),
        ])
        .start()
        .await;
    let agent = gateway.agent().await;
    let internal = gateway.with_key(
        &gateway
            .create_key(
                json!({ "name": "internal", "scopes": ["notify"], "trust_trace_context": true }),
            )
            .await,
    );
    let caller_trace = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];

    // Act: one request from a sampled caller, one starting a new trace.
    let continued = internal
        .notify_request(&agent)
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&notification_body())
        .send()
        .await
        .expect("notify request");
    let fresh = gateway.notify(&agent, &notification_body()).await;
    assert_eq!(continued.status(), 202);
    assert_eq!(fresh.status(), 202);
    let continued: Value = continued.json().await.unwrap();
    let fresh: Value = fresh.json().await.unwrap();
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the caller's sampled trace is continued and exported, its server span a child
    // of the caller's span; the new trace (ratio 0) exports nothing.
    assert_eq!(continued["trace_id"], caller_trace.as_str());
    let spans = receiver
        .wait_for_trace(&caller_trace, 2, ARRIVE_WITHIN)
        .await;
    let server = named(&spans, SERVER_SPAN);
    assert_eq!(server.parent_span_id(), caller_span);
    assert_eq!(
        named(&spans, PRODUCER_SPAN).parent_span_id(),
        server.span_id()
    );
    let fresh_trace = fresh["trace_id"].as_str().unwrap();
    assert_ne!(fresh_trace, caller_trace);
    assert_eq!(
        receiver.trace(fresh_trace).len(),
        0,
        "an unsampled new trace exports no spans"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_no_exporter_runs() {
    // Arrange: no endpoint in any layer (the helper removes OTEL_* from the environment).
    let gateway = GatewayProcess::builder().start().await;
    let agent = gateway.agent().await;

    // Act: a request (whose spans exist, for ids) and a shutdown (which flushes exporters).
    gateway.accept_correlated(&agent, "otlp-check").await;
    let exited = gateway.stop().await;

    // Assert: a clean exit and not a word from the OpenTelemetry SDK, which would report
    // an exporter trying (and failing) to reach a default endpoint.
    assert!(exited.status.success(), "{}", exited.stderr);
    assert_eq!(exited.stderr, "");
    let sdk_lines: Vec<_> = exited
        .stdout
        .iter()
        .filter(|line| line.contains("opentelemetry"))
        .collect();
    assert!(sdk_lines.is_empty(), "{sdk_lines:#?}");
}
