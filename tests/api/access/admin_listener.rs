//! `[server] admin_addr`: `/metrics`, `/health` and `/api-docs` move to the admin listener and
//! are gone from the public one; the probes answer on both; the API stays public only.

use reqwest::Method;

use crate::helpers::{GatewayClient, GatewayProcess, closed_port};

const INTERNAL: [&str; 3] = ["/metrics", "/health", "/api-docs/openapi.json"];
const PROBES: [&str; 2] = ["/health/live", "/health/ready"];

async fn status(client: &GatewayClient, path: &str) -> u16 {
    client.get(path).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_address_internal_endpoints_move_there_and_probes_answer_on_both() {
    // Arrange
    let admin_addr = format!("127.0.0.1:{}", closed_port());
    let gateway = GatewayProcess::builder()
        .env("VOS__SERVER__ADMIN_ADDR", &admin_addr)
        .start()
        .await;
    let admin = GatewayClient::new(format!("http://{admin_addr}"));
    let agent = gateway.agent().await;

    // Act
    let mut public = Vec::new();
    let mut private = Vec::new();
    for path in INTERNAL.iter().chain(&PROBES) {
        public.push((*path, status(&gateway, path).await));
        private.push((*path, status(&admin.anonymous(), path).await));
    }
    let notify_public = gateway.accept(&agent).await;
    let api_on_admin = admin
        .request(Method::GET, "/api/v1/keys")
        .send()
        .await
        .unwrap()
        .status();

    // Assert
    let expected_public = [
        ("/metrics", 404),
        ("/health", 404),
        ("/api-docs/openapi.json", 404),
        ("/health/live", 200),
        ("/health/ready", 200),
    ];
    assert_eq!(public, expected_public, "the public listener");
    let expected_admin: Vec<(&str, u16)> =
        INTERNAL.iter().chain(&PROBES).map(|p| (*p, 200)).collect();
    assert_eq!(private, expected_admin, "the admin listener");
    assert_eq!(notify_public["status"], "accepted");
    assert_eq!(
        api_on_admin, 404,
        "the API is not served on the admin listener"
    );
    let metrics = admin
        .anonymous()
        .get("/metrics")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vos_notifications_accepted_total{"),
        "the admin listener's /metrics counts the public listener's traffic"
    );
}
