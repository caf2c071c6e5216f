//! Edge limits: header count and size, and clients that send their headers too slowly.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, notification_body, test_settings};

async fn assert_431(response: reqwest::Response) {
    assert_eq!(response.status(), 431);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:headers-too-large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_request_headers_are_a_431_problem() {
    let app = TestApp::spawn().await;
    let agent = app.agent();
    let mut request = app.notify_request(&agent).json(&notification_body());
    for n in 0..app.settings.server.max_headers + 1 {
        request = request.header(format!("x-filler-{n}"), "1");
    }

    assert_431(request.send().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_headers_are_a_431_problem() {
    let app = TestApp::spawn().await;
    let agent = app.agent();
    let big = "x".repeat(app.settings.server.max_header_bytes);

    let response = app
        .notify_request(&agent)
        .header("x-big", big)
        .json(&notification_body())
        .send()
        .await
        .unwrap();

    assert_431(response).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_disconnected() {
    // Arrange
    let mut settings = test_settings();
    settings.server.header_read_timeout = Duration::from_millis(500);
    let app = TestApp::spawn_with(settings, true).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // Act: start a request and never finish its headers.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;

    // Assert: the server gave up on it (with a 408 or by closing), and soon.
    assert!(read.is_ok(), "the connection was closed by the server");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within the header deadline: {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buffer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}
