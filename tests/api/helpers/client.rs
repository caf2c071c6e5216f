//! The HTTP client of a gateway under test, in-process ([`TestApp`](super::TestApp)) or a
//! child process ([`GatewayProcess`](super::GatewayProcess)); both dereference to it. Every
//! request the tests send to a gateway is built by [`GatewayClient::request`], so that what
//! every request must carry (an API key, say) is added in one place.

use std::{sync::LazyLock, time::Duration};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use vos_gateway::domain::ApiKey;

#[derive(Debug, Clone)]
pub struct GatewayClient {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer` with every request; the test admin key by default.
    key: Option<String>,
}

impl GatewayClient {
    /// A client that authenticates with the test admin key.
    pub fn new(address: String) -> Self {
        // reqwest is built with rustls and no provider of its own: ring, as the gateway uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            address,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            key: Some(admin_key().to_owned()),
        }
    }

    /// The same gateway, called with another key.
    pub fn with_key(&self, key: &str) -> Self {
        Self {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// The same gateway, called without any key.
    pub fn anonymous(&self) -> Self {
        Self {
            key: None,
            ..self.clone()
        }
    }

    /// A request to `path` (e.g. `/health`), to complete with headers and a body.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.address));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Registers `agent` (which declares its queue) and asserts it was created.
    pub async fn register(&self, agent: &str) {
        let response = self
            .request(Method::PUT, &format!("/api/v1/agents/{agent}"))
            .send()
            .await
            .expect("register request");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Issues a key with `body` (`scopes`, `agents`, …) through the admin API; returns it.
    pub async fn create_key(&self, body: Value) -> String {
        let response = self
            .request(Method::POST, "/api/v1/keys")
            .json(&body)
            .send()
            .await
            .expect("create key request");
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("201 body");
        created["key"].as_str().expect("the key").to_owned()
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

/// The admin key every test gateway is started with (`VOS_BOOTSTRAP_ADMIN_KEY`), one per
/// test process.
pub fn admin_key() -> &'static str {
    static KEY: LazyLock<ApiKey> = LazyLock::new(ApiKey::generate);
    KEY.expose()
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
