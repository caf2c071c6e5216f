//! The trust boundary for trace context: an untrusted caller's `traceparent` becomes a link on
//! a new root span, its sampled flag decides nothing, its `tracestate` is dropped; a trusted
//! key (`trust_trace_context`) keeps parent-based behaviour. The correlation id counts for all.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Broker, GatewayClient, GatewayProcess, OtlpReceiver, TestDatabase, attributes, header_str,
    named,
};

const SERVER_SPAN: &str = "POST /api/v1/agents/{agent_id}/notify";
const TRACESTATE: &str = "vendor=opaque";
const BAGGAGE: &str = "user.id=alice";

/// A gateway exporting to `receiver` with `ratio`, an agent for each kind of caller, and the
/// callers: (gateway, untrusted, trusted, their agents).
async fn gateway(
    receiver: &OtlpReceiver,
    database: &TestDatabase,
    ratio: &str,
) -> (GatewayProcess, [GatewayClient; 2], [String; 2]) {
    let gateway = GatewayProcess::builder()
        .database_url(&database.url)
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("VOS__TELEMETRY__SAMPLE_RATIO", ratio),
        ])
        .start()
        .await;
    let agents = [gateway.agent().await, gateway.agent().await];
    let mut callers = Vec::new();
    for trusted in [false, true] {
        let key = json!({ "name": "caller", "scopes": ["notify"], "trust_trace_context": trusted });
        callers.push(gateway.with_key(&gateway.create_key(key).await));
    }
    let callers = [callers.remove(0), callers.remove(0)];
    (gateway, callers, agents)
}

/// Posts with the caller's trace context and a correlation id; returns the 202 body and the
/// response's `traceparent`, after checking the correlation id came back.
async fn post(
    client: &GatewayClient,
    agent: &str,
    traceparent: &str,
    correlation: &str,
) -> (Value, String) {
    let response = client
        .notify_request(agent)
        .header("traceparent", traceparent)
        .header("tracestate", TRACESTATE)
        .header("baggage", BAGGAGE)
        .header("x-correlation-id", correlation)
        .json(&crate::helpers::notification_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-correlation-id"], correlation);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["correlation_id"], correlation,
        "the correlation id is honoured"
    );
    (body, traceparent)
}

/// A caller's random trace and span ids.
fn caller_ids() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (id.clone(), id[..16].to_owned())
}

/// The `tracestate` the stored row and the published message carry, and the message's
/// `baggage` (if any).
async fn tracestate_kept(
    database: &TestDatabase,
    broker: &Broker,
    agent: &str,
) -> (Option<String>, Option<String>, Option<String>) {
    let stored: Option<String> =
        sqlx::query_scalar("select tracestate from notifications where agent_id = $1")
            .bind(agent)
            .fetch_one(&database.pool())
            .await
            .unwrap();
    let message = broker
        .next_message(&format!("{agent}_queue"), Duration::from_secs(10))
        .await
        .expect("published");
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let sent_on = |name| header_str(&headers, name);
    (stored, sent_on("tracestate"), sent_on("baggage"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_traceparent_becomes_a_link_on_a_new_root_and_its_00_flag_hides_nothing() {
    // Arrange: every new trace sampled.
    let receiver = OtlpReceiver::http().await;
    let database = TestDatabase::new();
    let broker = Broker::connect().await;
    let (gateway, [untrusted, trusted], [outside, inside]) =
        gateway(&receiver, &database, "1").await;
    let ((t1, s1), (t2, s2)) = (caller_ids(), caller_ids());

    // Act: both callers ask not to be sampled.
    let (outside_body, outside_parent) = post(
        &untrusted,
        &outside,
        &format!("00-{t1}-{s1}-00"),
        "untrusted-1",
    )
    .await;
    let (inside_body, _) = post(&trusted, &inside, &format!("00-{t2}-{s2}-00"), "trusted-1").await;
    let outside_state = tracestate_kept(&database, &broker, &outside).await;
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the untrusted request is a new, sampled root trace that links to the caller.
    let new_trace = outside_body["trace_id"].as_str().unwrap();
    assert_ne!(new_trace, t1);
    assert!(
        outside_parent.ends_with("-01"),
        "sampled by the gateway: {outside_parent}"
    );
    let spans = receiver
        .wait_for_trace(new_trace, 2, Duration::from_secs(5))
        .await;
    let server = named(&spans, SERVER_SPAN);
    assert_eq!(server.parent_span_id(), "", "a new root");
    assert_eq!(server.links(), [(t1.clone(), s1.clone(), String::new())]);
    assert_eq!(
        server.span.trace_state, "",
        "the caller's tracestate is dropped"
    );
    let attributes = attributes(&server.span.attributes);
    assert_eq!(
        attributes.get("correlation_id").map(String::as_str),
        Some("untrusted-1")
    );
    assert_eq!(
        outside_state,
        (None, None, None),
        "no tracestate stored or sent on, no baggage sent on"
    );
    assert!(
        receiver.trace(&t1).is_empty(),
        "nothing joins the caller's trace"
    );
    // The trusted caller's unsampled trace is continued, and so not exported.
    assert_eq!(inside_body["trace_id"], t2.as_str());
    assert!(receiver.trace(&t2).is_empty(), "a trusted -00 is respected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_sampled_flag_forces_nothing_while_a_trusted_caller_continues_its_trace() {
    // Arrange: no new trace sampled.
    let receiver = OtlpReceiver::http().await;
    let database = TestDatabase::new();
    let broker = Broker::connect().await;
    let (gateway, [untrusted, trusted], [outside, inside]) =
        gateway(&receiver, &database, "0").await;
    let ((t1, s1), (t2, s2)) = (caller_ids(), caller_ids());

    // Act: both callers ask to be sampled.
    let (outside_body, outside_parent) = post(
        &untrusted,
        &outside,
        &format!("00-{t1}-{s1}-01"),
        "untrusted-2",
    )
    .await;
    let (inside_body, _) = post(&trusted, &inside, &format!("00-{t2}-{s2}-01"), "trusted-2").await;
    let inside_state = tracestate_kept(&database, &broker, &inside).await;
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the trusted caller's trace is continued and exported, with its tracestate.
    assert_eq!(inside_body["trace_id"], t2.as_str());
    let spans = receiver
        .wait_for_trace(&t2, 2, Duration::from_secs(5))
        .await;
    assert_eq!(named(&spans, SERVER_SPAN).parent_span_id(), s2);
    assert_eq!(
        (inside_state.0.as_deref(), inside_state.1.as_deref()),
        (Some(TRACESTATE), Some(TRACESTATE))
    );
    // The untrusted caller's -01 forced nothing: a new trace, unsampled, not exported.
    let new_trace = outside_body["trace_id"].as_str().unwrap();
    assert_ne!(new_trace, t1);
    assert!(
        outside_parent.ends_with("-00"),
        "not sampled: {outside_parent}"
    );
    assert!(receiver.trace(new_trace).is_empty() && receiver.trace(&t1).is_empty());
}
