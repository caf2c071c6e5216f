//! The analyses in the OpenAPI document: their parameters, their 200 schema and refusals.

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_analysis_with_its_answer_and_refusals() {
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
    let routes = [
        (
            "/api/v1/analytics/slow-operations",
            "SlowOperations",
            "min_avg_ms",
        ),
        ("/api/v1/analytics/error-rates", "ErrorRates", "bucket"),
        ("/api/v1/analytics/message-flows", "MessageFlows", "window"),
        ("/api/v1/analytics/anomalies", "Anomalies", "window"),
        ("/api/v1/reports/summary", "Summary", "since"),
    ];
    for (path, schema, parameter) in routes {
        let get = &document["paths"][path]["get"];
        let ok = &get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(ok, &format!("#/components/schemas/{schema}"), "{path}");
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
        for status in ["400", "401", "403", "422", "429", "503"] {
            assert!(
                get["responses"][status].is_object(),
                "{path} documents {status}"
            );
        }
        for status in ["422", "503"] {
            let response = &get["responses"][status];
            let body = &response["content"]["application/problem+json"]["schema"]["$ref"];
            assert_eq!(body, "#/components/schemas/Problem", "{path} {status}");
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{path} {status}"
            );
        }
        let parameters = get["parameters"].as_array().unwrap();
        assert!(
            parameters.iter().any(|p| p["name"] == parameter),
            "{path} documents ?{parameter}"
        );
    }
}
