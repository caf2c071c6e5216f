//! Telemetry without secrets: the refusal counters exist from the start, the key's display
//! prefix names the caller on the server span and the log line, and no key (nor its random
//! part) reaches a log line, an exported span, `/metrics` or an error body.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    GatewayProcess, OtlpReceiver, TestApp, admin_key, attributes, issue_key, malformed_key,
    metric_labelled, mistyped, named, notification_body, revoke_key, scrape, secret_parts,
    unknown_key,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_counters_exist_at_zero_on_a_fresh_gateway() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let metrics = scrape(&app).await;

    // Assert: every series is there before anything happened, so rate() works from the start.
    for reason in ["missing", "malformed", "checksum", "unknown", "revoked"] {
        let series = format!("vos_auth_failures_total{{reason=\"{reason}\"}} 0");
        assert!(metrics.lines().any(|l| l == series), "missing {series}");
    }
    for limit in ["key", "agent", "client"] {
        let series = format!("vos_rate_limited_total{{limit=\"{limit}\"}} 0");
        assert!(metrics.lines().any(|l| l == series), "missing {series}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_reaches_logs_spans_metrics_or_error_bodies_but_its_prefix_names_the_caller() {
    // Arrange: the binary (its real log stream), exporting spans, the gateway's own debug logs on.
    let receiver = OtlpReceiver::http().await;
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("RUST_LOG", "info,vos_gateway=debug"),
        ])
        .start()
        .await;
    let agent = gateway.agent().await;
    let valid = gateway
        .create_key(json!({ "name": "valid", "scopes": ["notify"] }))
        .await;
    let revoked = issue_key(&gateway, json!({ "name": "gone", "scopes": ["notify"] })).await;
    let revoked_key = revoked["key"].as_str().unwrap().to_owned();
    let (malformed, unknown) = (malformed_key(), unknown_key());
    let typo = mistyped(&unknown_key());

    // Act: a valid request, one before and one after revocation, and the refused kinds.
    let mut seen = Vec::new();
    let send = |key: String, correlation: &'static str| {
        let request = gateway
            .with_key(&key)
            .notify_request(&agent)
            .header("x-correlation-id", correlation)
            .json(&notification_body());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                format!("{:?}", response.headers()),
                response.text().await.unwrap(),
            )
        }
    };
    let accepted = send(valid.clone(), "secret-valid").await;
    seen.push(accepted.clone());
    seen.push(send(revoked_key.clone(), "secret-before").await);
    revoke_key(&gateway, revoked["key_id"].as_str().unwrap()).await;
    for (key, correlation) in [
        (revoked_key.clone(), "secret-revoked"),
        (malformed.clone(), "secret-malformed"),
        (typo.clone(), "secret-mistyped"),
        (unknown.clone(), "secret-unknown"),
    ] {
        seen.push(send(key, correlation).await);
    }
    let metrics = scrape(&gateway).await;
    let exited = gateway.stop().await;
    assert!(exited.status.success(), "{}", exited.stderr);

    // Assert: the answers were what they should be.
    let statuses: Vec<u16> = seen.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(statuses, [202, 202, 401, 401, 401, 401]);
    let body: Value = serde_json::from_str(&accepted.2).unwrap();
    let trace_id = body["trace_id"].as_str().unwrap();
    receiver
        .wait_for_trace(trace_id, 2, Duration::from_secs(5))
        .await;
    // The prefix names the caller on the server span and the completion log line.
    let spans = receiver.trace(trace_id);
    let server = attributes(
        &named(&spans, "POST /api/v1/agents/{agent_id}/notify")
            .span
            .attributes,
    );
    assert_eq!(
        server.get("auth.key_prefix").map(String::as_str),
        Some(&valid[..12])
    );
    let completion = exited
        .stdout
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|l| l["correlation_id"] == "secret-valid" && l["message"] == "request completed")
        .expect("the completion line");
    assert_eq!(completion["auth.key_prefix"], &valid[..12]);
    // No key, anywhere.
    let places = [
        ("stdout (the log stream)", exited.stdout.join("\n")),
        ("stderr", exited.stderr.clone()),
        ("exported spans", format!("{:?}", receiver.spans())),
        ("/metrics", metrics.clone()),
        ("responses", format!("{seen:?}")),
    ];
    let keys = [
        admin_key(),
        &valid,
        &revoked_key,
        &malformed,
        &typo,
        &unknown,
    ];
    for (place, text) in &places {
        for key in keys {
            for secret in secret_parts(key) {
                assert!(!text.contains(&secret), "{place} shows {secret}");
            }
        }
    }
    let failures = ["revoked", "malformed", "checksum", "unknown"].map(|reason| {
        metric_labelled(
            &metrics,
            "vos_auth_failures_total",
            &format!("reason=\"{reason}\""),
        )
    });
    assert_eq!(failures, [1.0; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pasted_where_its_key_id_belongs_is_neither_echoed_nor_logged() {
    // Arrange: an operator who wants a leaked key revoked, and pastes the key itself.
    let gateway = GatewayProcess::builder().start().await;
    let leaked = gateway
        .create_key(json!({ "name": "leaked", "scopes": ["notify"] }))
        .await;

    // Act
    let response = gateway
        .request(reqwest::Method::DELETE, &format!("/api/v1/keys/{leaked}"))
        .header("x-correlation-id", "revoke-by-key")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let exited = gateway.stop().await;

    // Assert: refused or revoked, but the key is repeated nowhere.
    assert!([204, 404].contains(&status), "{status} {body}");
    let problem: Value = serde_json::from_str(&body).unwrap_or_default();
    let places = [
        ("the problem's detail", problem["detail"].to_string()),
        ("the problem's instance", problem["instance"].to_string()),
        ("the log stream", exited.stdout.join("\n")),
    ];
    let showing: Vec<&str> = places
        .iter()
        .filter(|(_, text)| secret_parts(&leaked).iter().any(|s| text.contains(s)))
        .map(|(place, _)| *place)
        .collect();
    let lines: Vec<&String> = exited
        .stdout
        .iter()
        .filter(|line| line.contains(&leaked[12..]))
        .collect();
    assert!(
        showing.is_empty(),
        "the key is shown in {showing:?}: {body}\n{lines:#?}"
    );
}
