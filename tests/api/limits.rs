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
    let agent = app.agent().await;
    let mut request = app.notify_request(&agent).json(&notification_body());
    for n in 0..app.settings.server.max_headers + 1 {
        request = request.header(format!("x-filler-{n}"), "1");
    }

    assert_431(request.send().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_headers_are_a_431_problem() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
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

/// Holds an exclusive lock on the notifications table, so every insert waits.
async fn block_inserts(app: &TestApp) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("lock table notifications in access exclusive mode")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_sheds_load_with_a_fast_503() {
    // Arrange: room for one batch in flight and one request waiting; inserts blocked.
    let mut settings = test_settings();
    settings.writer.queue_capacity = 1;
    settings.writer.max_inflight_batches = 1;
    settings.writer.max_batch = 1;
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    let lock = block_inserts(&app).await;

    // Act: more requests than the pipeline holds.
    let body = notification_body();
    let requests: Vec<_> = (0..6).map(|_| app.notify(&agent, &body)).collect();
    let shed = tokio::time::timeout(Duration::from_secs(3), async {
        let mut responses = futures::future::join_all(requests);
        // The shed ones answer while the others still wait for the lock.
        tokio::select! {
            all = &mut responses => all,
            _ = tokio::time::sleep(Duration::from_millis(1500)) => {
                lock.rollback().await.unwrap();
                responses.await
            }
        }
    })
    .await
    .expect("every request is answered");

    // Assert
    let statuses: Vec<u16> = shed.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.contains(&503),
        "some requests were shed: {statuses:?}"
    );
    assert!(
        statuses.contains(&202),
        "the ones that fit were accepted: {statuses:?}"
    );
    let overloaded = shed.into_iter().find(|r| r.status() == 503).unwrap();
    assert_eq!(overloaded.headers()["retry-after"], "1");
    let problem: Value = overloaded.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:overloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_a_503_problem() {
    let mut settings = test_settings();
    settings.server.request_timeout = Duration::from_millis(300);
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    let lock = block_inserts(&app).await;

    let started = Instant::now();
    let response = app.notify(&agent, &notification_body()).await;
    let took = started.elapsed();
    lock.rollback().await.unwrap();

    assert_eq!(response.status(), 503);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:request-timeout");
}
