//! The HTTP client of a gateway under test, in-process ([`TestApp`](super::TestApp)) or a
//! child process ([`GatewayProcess`](super::GatewayProcess)); both dereference to it. Every
//! request the tests send to a gateway is built by [`GatewayClient::request`], so that what
//! every request must carry (an API key, say) is added in one place.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct GatewayClient {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    http: reqwest::Client,
}

impl GatewayClient {
    pub fn new(address: String) -> Self {
        Self {
            address,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// A request to `path` (e.g. `/health`), to complete with headers and a body.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.address))
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<Response> {
        self.request(Method::GET, path).send().await
    }

    /// A notify request for `agent`, to complete with headers and a body.
    pub fn notify_request(&self, agent: &str) -> RequestBuilder {
        self.request(Method::POST, &format!("/api/v1/agents/{agent}/notify"))
    }

    pub async fn notify(&self, agent: &str, body: &Value) -> Response {
        self.notify_request(agent)
            .json(body)
            .send()
            .await
            .expect("notify request")
    }

    /// Posts the standard notification, asserts 202, and returns the answer.
    pub async fn accept(&self, agent: &str) -> Value {
        accepted(self.notify_request(agent)).await
    }

    /// Like [`GatewayClient::accept`], under the given correlation id (to find its log lines).
    pub async fn accept_correlated(&self, agent: &str, correlation_id: &str) -> Value {
        accepted(
            self.notify_request(agent)
                .header("x-correlation-id", correlation_id),
        )
        .await
    }
}

async fn accepted(request: RequestBuilder) -> Value {
    let response = request
        .json(&notification_body())
        .send()
        .await
        .expect("notify request");
    assert_eq!(response.status(), 202);
    response.json().await.expect("202 body")
}

/// A valid notify body.
pub fn notification_body() -> Value {
    json!({ "notification_type": "user_message", "source": "tests", "payload": { "text": "hello" } })
}

/// A valid notify body carrying `n`, which the ledger uses to recognise what it finds in
/// Postgres and RabbitMQ even when the client never saw an answer.
pub fn numbered_notification(n: i64) -> Value {
    json!({ "notification_type": "numbered", "source": "tests", "payload": { "n": n } })
}
