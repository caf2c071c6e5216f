//! Polling until something holds, with a deadline, so that a test never sleeps for a guessed
//! time and never hangs.

use std::{future::Future, time::Duration};

use reqwest::Method;
use tokio::time::Instant;

use super::GatewayClient;

/// Waits until `/health/ready` answers 200; panics after `within`.
pub async fn wait_until_ready(gateway: &GatewayClient, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        // A short timeout per probe: one probe stuck on a starting server must not use up
        // the whole wait.
        if let Ok(response) = gateway
            .request(Method::GET, "/health/ready")
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the gateway at {} did not become ready within {within:?}",
        gateway.address
    );
}

/// Polls `read` until it returns `wanted`; returns how long that took.
pub async fn wait_for<F, Fut>(what: &str, wanted: f64, within: Duration, read: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = f64>,
{
    let started = Instant::now();
    loop {
        let value = read().await;
        if value == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} is {value}, not {wanted}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
