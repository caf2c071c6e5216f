//! Access control on the request path: without a valid key every `/api/v1` route answers 401;
//! the probes stay open.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_answer_401_without_a_key_and_probes_stay_open() {
    // Arrange
    let app = TestApp::spawn().await;
    let anonymous = app.anonymous();
    let agent = app.agent().await;

    // Act
    let notify = anonymous
        .notify(&agent, &crate::helpers::notification_body())
        .await;
    let keys = anonymous
        .request(Method::GET, "/api/v1/keys")
        .send()
        .await
        .unwrap();
    let live = anonymous.get("/health/live").await.unwrap();
    let ready = anonymous.get("/health/ready").await.unwrap();

    // Assert
    for response in [notify, keys] {
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"vos-gateway\""
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:vos:problem:unauthorized");
    }
    assert_eq!(live.status(), 200);
    assert_eq!(ready.status(), 200);
}
