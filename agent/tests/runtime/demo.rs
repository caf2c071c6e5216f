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
