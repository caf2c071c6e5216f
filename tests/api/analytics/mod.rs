//! The analyses and the report (`/api/v1/analytics/*`, `/api/v1/reports/summary`,
//! `vos-gateway report`) against fixture journeys with known figures.

mod anomalies;
mod documented;
mod error_rates;
mod fixtures;
mod message_flows;
mod parameters;
mod plans;
mod reports;
mod rollups;
mod scoping;
mod slow_operations;

use serde_json::Value;

use crate::helpers::GatewayClient;

/// `GET path` answered 200; its JSON body.
pub async fn get_json(client: &GatewayClient, path: &str) -> Value {
    let response = client.get(path).await.expect("analytics request");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("a JSON body")
}

/// Whether two figures agree to a millionth (they are computed in floating point).
pub fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|actual| (actual - expected).abs() < 1e-6 * expected.abs().max(1.0))
}

/// Asserts `close`, saying which figure differs.
#[track_caller]
pub fn assert_close(actual: &Value, expected: f64, what: &str) {
    assert!(
        close(actual, expected),
        "{what}: {actual} is not {expected}"
    );
}

/// Asserts that a percentile, read from a sketch, is within the sketch's relative error of
/// the exact figure.
#[track_caller]
pub fn assert_sketched(actual: &Value, exact: f64, what: &str) {
    let error = vos_gateway::analytics::sketch::RELATIVE_ERROR;
    let actual_value = actual.as_f64().unwrap_or(f64::NAN);
    assert!(
        (actual_value - exact).abs() <= error * exact.abs() * 1.000_001,
        "{what}: {actual} is not within {:.2} % of {exact}",
        error * 100.0
    );
}
