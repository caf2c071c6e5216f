//! Canaries: a distinct value planted in every input of valid and invalid requests, then
//! counted in everything the gateway emits. Each must appear 0 times, except the correlation
//! id (which the contract echoes) and the payload (which the agent receives).

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::helpers::{GatewayProcess, OtlpReceiver, scrape};

/// A value nothing else contains; lower-case hex so it also fits an agent id.
fn canary(name: &str) -> String {
    format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// The planted values, by where they were planted.
struct Canaries(Vec<(&'static str, String)>);

impl Canaries {
    fn plant(&mut self, place: &'static str) -> String {
        let value = canary(&place.replace([' ', '.', '/'], "-").to_lowercase());
        self.0.push((place, value.clone()));
        value
    }
}

/// Everything a request can carry, each with a canary of its own.
fn planted(request: RequestBuilder, canaries: &mut Canaries) -> RequestBuilder {
    request
        .query(&[
            ("token", canaries.plant("query token")),
            ("q", canaries.plant("query")),
        ])
        .header("cookie", format!("session={}", canaries.plant("cookie")))
        .header("x-api-key", canaries.plant("x-api-key header"))
        .header("x-secret-note", canaries.plant("custom header"))
        .header("user-agent", canaries.plant("user-agent"))
        .header(
            "tracestate",
            format!("vendor={}", canaries.plant("tracestate")),
        )
        .header("baggage", format!("user={}", canaries.plant("baggage")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_reaches_logs_spans_metrics_health_or_problem_bodies() {
    // Arrange: the binary, its debug logs, and its spans exported to a receiver here.
    let receiver = OtlpReceiver::http().await;
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("RUST_LOG", "debug"),
        ])
        .start()
        .await;
    let agent = gateway.agent().await;
    let mut canaries = Canaries(Vec::new());
    let correlation_id = canary("correlation");
    let secret_payload = json!({
        "password": canaries.plant("payload password"),
        "api_key": canaries.plant("payload api_key"),
        "note": format!("mail {}@example.com, card 4111 1111 1111 1111", canaries.plant("payload email")),
    });

    // Act: a valid notify, then invalid ones of every kind, each carrying canaries.
    let mut answers: Vec<(u16, String)> = Vec::new();
    let mut send = async |request: RequestBuilder| {
        let response = request.send().await.expect("a response");
        let status = response.status().as_u16();
        answers.push((status, response.text().await.unwrap_or_default()));
    };
    let notify = |agent: &str| gateway.notify_request(agent);
    send(
        planted(notify(&agent), &mut canaries)
            .header("x-correlation-id", &correlation_id)
            .header("idempotency-key", canaries.plant("idempotency-key"))
            .json(&json!({ "notification_type": "t", "source": "s", "payload": secret_payload })),
    )
    .await;
    let unknown_agent = canaries.plant("path agent");
    send(
        planted(notify(&unknown_agent), &mut canaries)
            .json(&json!({"notification_type": "t", "source": "s"})),
    )
    .await;
    let unknown_field = canaries.plant("unknown field").replace('-', "_");
    send(
        planted(notify(&agent), &mut canaries)
            .json(&json!({ "notification_type": "t", "source": "s", unknown_field: 1 })),
    )
    .await;
    send(
        planted(notify(&agent), &mut canaries)
            .json(&json!({ "notification_type": canaries.plant("wrong type"), "source": 7 })),
    )
    .await;
    send(
        planted(notify(&agent), &mut canaries)
            .header("content-type", "application/json")
            .body(format!(
                "{{\"notification_type\": \"{}",
                canaries.plant("malformed json")
            )),
    )
    .await;
    send(
        planted(notify(&agent), &mut canaries)
            .json(&json!({ "notification_type": "t", "source": "s", "payload": canaries.plant("payload not an object") })),
    )
    .await;
    let bearer = canaries.plant("authorization");
    send(
        planted(gateway.anonymous().notify_request(&agent), &mut canaries)
            .header("authorization", format!("Bearer {bearer}"))
            .json(&json!({ "notification_type": "t", "source": "s" })),
    )
    .await;
    let missing = uuid::Uuid::new_v4().to_string();
    canaries.0.push(("path notification id", missing.clone()));
    send(planted(
        gateway.request(Method::GET, &format!("/api/v1/notifications/{missing}")),
        &mut canaries,
    ))
    .await;
    send(planted(
        gateway.request(
            Method::GET,
            &format!("/api/v1/notifications/{}", canaries.plant("path bad id")),
        ),
        &mut canaries,
    ))
    .await;
    send(planted(
        gateway.request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", canaries.plant("path key id")),
        ),
        &mut canaries,
    ))
    .await;
    send(planted(
        gateway.request(
            Method::GET,
            &format!("/no/{}", canaries.plant("path unknown route")),
        ),
        &mut canaries,
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = scrape(&gateway).await;
    let health = gateway.get("/health").await.unwrap().text().await.unwrap();
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the valid request was accepted, the rest refused with problems.
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        statuses,
        [202, 404, 422, 422, 400, 422, 401, 404, 400, 404, 404]
    );
    // The correlation id is echoed where the contract says (response, logs, spans) ...
    let logs = exited.stdout.join("\n");
    assert!(logs.contains(&correlation_id));
    // ... and nothing else planted appears anywhere.
    let spans = format!("{:?}", receiver.spans());
    assert!(!receiver.spans().is_empty(), "spans were exported");
    let sinks = [
        ("the log stream", logs.as_str()),
        ("stderr", exited.stderr.as_str()),
        ("exported spans", spans.as_str()),
        ("/metrics", metrics.as_str()),
        ("/health", health.as_str()),
    ];
    let problems = answers[1..]
        .iter()
        .map(|(_, body)| ("a problem body", body.as_str()));
    let everywhere: Vec<(&str, &str)> = sinks.into_iter().chain(problems).collect();
    let mut found = Vec::new();
    for (planted_in, value) in &canaries.0 {
        for (sink, text) in &everywhere {
            let times = text.matches(value.as_str()).count();
            if times > 0 {
                found.push(format!("{planted_in} ({value}) in {sink}: {times} times"));
            }
        }
    }
    assert!(found.is_empty(), "leaked:\n{}", found.join("\n"));
    for (_, body) in &answers[1..] {
        let problem: Value = serde_json::from_str(body).expect("a problem document");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:vos:problem:")
        );
    }
}
