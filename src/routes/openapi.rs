//! The OpenAPI document, generated from the handlers' annotations at `/api-docs/openapi.json`.

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use utoipa::OpenApi;

use super::{accept, health, metrics, status};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vos-gateway",
        description = "The VOS API gateway: notifications for agents, stored in Postgres and \
                       published to RabbitMQ with W3C trace context."
    ),
    paths(
        accept::notify,
        status::show,
        health::live,
        health::ready,
        health::detail,
        metrics::scrape,
        openapi_json
    ),
    tags(
        (name = "notifications", description = "Accepting and tracking notifications"),
        (name = "health", description = "Probes in application/health+json"),
        (name = "operations", description = "Metrics and the API description"),
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// This document.
#[utoipa::path(get, path = "/api-docs/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
