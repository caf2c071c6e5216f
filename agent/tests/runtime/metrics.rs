//! The Prometheus endpoint.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::support::{self, Broker, DEADLINE, Running};

async fn scrape(addr: std::net::SocketAddr) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    timeout(DEADLINE, exchange)
        .await
        .expect("scraped in time")
        .expect("scraped")
}

#[tokio::test]
async fn the_metrics_endpoint_shows_notifications_tools_models_and_capacity() {
    // Arrange
    let agent_id = support::unique("metrics");
    let broker = Broker::new(&agent_id).await;
    let agent = support::agent(&agent_id)
        .capacity(3)
        .max_attempts(1)
        .metrics_addr("127.0.0.1:0")
        .handler(vos_agent::demo::handle)
        .build()
        .unwrap();
    let addr = agent.metrics_addr().expect("a metrics address");
    let running = Running::start(agent);

    // Act
    broker.notify("weather", json!({"city": "Nice"})).await;
    broker.result().await;
    broker.notify("fail", json!({})).await;
    broker.result().await;
    // The counters move after the ack, just after the result is out.
    let settled = format!(
        "vos_agent_notifications_failed_total{{agent_id=\"{agent_id}\",notification_type=\"fail\"}} 1"
    );
    let started = Instant::now();
    let response = loop {
        let response = scrape(addr).await;
        if response.contains(&settled) || started.elapsed() > DEADLINE {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Assert
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"));
    let a = format!("agent_id=\"{agent_id}\"");
    for line in [
        format!("vos_agent_notifications_received_total{{{a},notification_type=\"weather\"}} 1"),
        format!(
            "vos_agent_notifications_processed_total{{{a},notification_type=\"weather\",outcome=\"completed\"}} 1"
        ),
        format!(
            "vos_agent_notifications_processed_total{{{a},notification_type=\"fail\",outcome=\"failed\"}} 1"
        ),
        format!("vos_agent_notifications_failed_total{{{a},notification_type=\"fail\"}} 1"),
        format!(
            "vos_agent_processing_duration_seconds_count{{{a},notification_type=\"weather\",outcome=\"completed\"}} 1"
        ),
        format!("vos_agent_tool_executions_total{{{a},tool=\"get_weather\",status=\"ok\"}} 1"),
        format!("vos_agent_tool_duration_seconds_count{{{a},tool=\"get_weather\"}} 1"),
        format!("vos_agent_llm_calls_total{{{a},model=\"demo-llm\"}} 1"),
        format!("vos_agent_llm_tokens_total{{{a},model=\"demo-llm\",direction=\"input\"}} 42"),
        format!("vos_agent_llm_tokens_total{{{a},model=\"demo-llm\",direction=\"output\"}} 7"),
        format!("vos_agent_capacity{{{a}}} 3"),
        format!("vos_agent_capacity_in_use{{{a}}} 0"),
        format!("vos_agent_duplicates_dropped_total{{{a}}} 0"),
        format!("vos_agent_dead_lettered_total{{{a}}} 1"),
        format!("vos_agent_amqp_connected{{{a}}} 1"),
    ] {
        assert!(response.contains(&line), "missing {line}\n{response}");
    }
    assert!(!response.contains("Nice"), "no payload in metrics");
    running.stop().await;
    broker.cleanup().await;
}
