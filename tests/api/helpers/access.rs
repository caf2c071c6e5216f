//! Access-control helpers: keys issued and revoked through the admin API, keys that must be
//! refused (malformed, mistyped), refusals read as problems, and what a refusal must not
//! have written.

use reqwest::{Method, Response, StatusCode, header::HeaderMap};
use serde_json::Value;
use sqlx::PgPool;
use vos_gateway::domain::ApiKey;

use super::GatewayClient;

/// Issues a key through `POST /api/v1/keys`; returns the whole 201 body (`key`, `key_id`, …).
pub async fn issue_key(gateway: &GatewayClient, body: Value) -> Value {
    let response = gateway
        .request(Method::POST, "/api/v1/keys")
        .json(&body)
        .send()
        .await
        .expect("create key request");
    assert_eq!(response.status(), 201, "issuing {body}");
    response.json().await.expect("201 body")
}

/// Revokes a key through `DELETE /api/v1/keys/{id}`, asserting 204.
pub async fn revoke_key(gateway: &GatewayClient, key_id: &str) {
    let response = gateway
        .request(Method::DELETE, &format!("/api/v1/keys/{key_id}"))
        .send()
        .await
        .expect("revoke request");
    assert_eq!(response.status(), 204, "revoking {key_id}");
}

/// `key` with one character of its random part changed: well-formed, but its checksum fails.
pub fn mistyped(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).expect("ASCII")
}

/// A `vos_` key of the wrong length: malformed before any checksum is computed.
pub fn malformed_key() -> String {
    format!("{}x", ApiKey::generate().expose())
}

/// A well-formed key with a valid checksum that no gateway ever issued.
pub fn unknown_key() -> String {
    ApiKey::generate().expose().to_owned()
}

/// What may not appear anywhere once `key` was used: the key, its random part, and everything
/// after its display prefix.
pub fn secret_parts(key: &str) -> [String; 3] {
    [key.to_owned(), key[4..36].to_owned(), key[12..].to_owned()]
}

/// A refusal: its status, headers and problem document (asserting the problem media type).
pub async fn problem(response: Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json"),
        "a {status} is a problem document"
    );
    (
        status,
        headers,
        response.json().await.expect("problem JSON"),
    )
}

/// Rows in `notifications`.
pub async fn notification_count(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from notifications")
        .fetch_one(db)
        .await
        .expect("counting notifications")
}
