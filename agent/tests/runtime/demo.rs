//! The `vos-agent-demo` binary: starts, answers, and exits 0 after draining on SIGTERM.

use std::process::Stdio;

use serde_json::json;
use tokio::{io::AsyncReadExt, process::Command, time::timeout};
use vos_protocol::Outcome;

use crate::support::{self, Broker, DEADLINE};

#[tokio::test]
async fn the_demo_binary_answers_and_exits_zero_on_sigterm() {
    // Arrange
    let agent_id = support::unique("demo");
    let broker = Broker::new(&agent_id).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vos-agent-demo"))
        .args(["--agent-id", &agent_id, "--capacity", "2"])
        .env("AMQP_URL", support::amqp_url())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");

    // Act
    let id = broker
        .notify("weather", json!({"city": "Paris", "sleep_ms": 20}))
        .await;
    let (result, _) = broker.result().await;
    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = timeout(DEADLINE, child.wait())
        .await
        .expect("exits within the deadline")
        .unwrap();
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();

    // Assert
    assert!(killed.success());
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Completed);
    assert_eq!(result.tools[0].name, "get_weather");
    assert!(status.success(), "{status:?}");
    let start = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "agent starting")
        .unwrap_or_else(|| panic!("a JSON start line in {logs}"));
    assert_eq!(start["agent_id"], agent_id.as_str());
    assert_eq!(start["queue"], broker.queue());
    assert_eq!(start["capacity"], 2);
    assert!(!logs.contains("Paris"), "no payload in the logs");
    broker.cleanup().await;
}

/// What a stand-in OTLP/HTTP collector received: (path, content type, body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A stand-in collector on a free port that answers 200 to every export.
async fn collector() -> (std::net::SocketAddr, Received) {
    use axum::{body::Bytes, http::HeaderMap, http::Uri};
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let store = store.clone();
        async move {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            store
                .lock()
                .unwrap()
                .push((uri.path().to_owned(), content_type, body.to_vec()));
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

#[tokio::test]
async fn the_demo_binary_exports_its_spans_and_metrics_over_otlp_http_by_default() {
    // Arrange
    let agent_id = support::unique("otlp");
    let broker = Broker::new(&agent_id).await;
    let (addr, received) = collector().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vos-agent-demo"))
        .args(["--agent-id", &agent_id])
        .env("AMQP_URL", support::amqp_url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_SERVICE_NAME")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");

    // Act: one notification, then SIGTERM (shutdown flushes both exporters).
    broker.notify("weather", json!({})).await;
    broker.result().await;
    let pid = child.id().expect("running").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = timeout(DEADLINE, child.wait())
        .await
        .expect("exits within the deadline")
        .unwrap();

    // Assert
    assert!(status.success());
    let received = received.lock().unwrap().clone();
    let contains = |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
    let traces = received
        .iter()
        .find(|(path, _, _)| path == "/v1/traces")
        .expect("spans exported to /v1/traces");
    assert_eq!(traces.1, "application/x-protobuf");
    assert!(contains(&traces.2, &format!("process {}", broker.queue())));
    assert!(contains(&traces.2, "execute_tool get_weather"));
    assert!(
        contains(&traces.2, &format!("vos-agent-{agent_id}")),
        "service name"
    );
    let metrics = received
        .iter()
        .find(|(path, _, _)| path == "/v1/metrics")
        .expect("metrics exported to /v1/metrics");
    assert!(contains(&metrics.2, "vos.agent.notifications.processed"));
    assert!(contains(&metrics.2, "vos.agent.llm.tokens"));
    broker.cleanup().await;
}
