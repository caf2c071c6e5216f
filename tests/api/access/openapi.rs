//! The OpenAPI document declares the bearer scheme and names it on every protected route,
//! with the refusals each can answer; the probes need no key.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const PROTECTED: [(&str, &str); 9] = [
    ("/api/v1/agents/{agent_id}/notify", "post"),
    ("/api/v1/notifications/{notification_id}", "get"),
    ("/api/v1/agents", "get"),
    ("/api/v1/agents/{agent_id}", "get"),
    ("/api/v1/agents/{agent_id}", "put"),
    ("/api/v1/agents/{agent_id}", "delete"),
    ("/api/v1/keys", "post"),
    ("/api/v1/keys", "get"),
    ("/api/v1/keys/{key_id}", "delete"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_declares_the_bearer_scheme_on_every_protected_route() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let document: Value = app
        .get("/api-docs/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer")),
        "{scheme}"
    );
    for (path, method) in PROTECTED {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not described");
        assert_eq!(
            operation["security"],
            json!([{ "bearer": [] }]),
            "{method} {path}"
        );
        let responses = &operation["responses"];
        assert!(responses.get("401").is_some(), "{method} {path}: no 401");
        assert!(responses.get("403").is_some(), "{method} {path}: no 403");
    }
    let notify = &document["paths"]["/api/v1/agents/{agent_id}/notify"]["post"]["responses"];
    for status in ["404", "429"] {
        assert!(notify.get(status).is_some(), "notify: no {status}");
    }
    for probe in ["/health/live", "/health/ready"] {
        let security = &document["paths"][probe]["get"]["security"];
        assert!(
            security.is_null() || security == &json!([]),
            "{probe}: {security}"
        );
    }
}
