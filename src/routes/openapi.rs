//! The OpenAPI document, generated from the handlers' annotations at `/api-docs/openapi.json`.

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Responses,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::error::PROBLEM_JSON;

use super::{accept, agents, analytics, health, keys, metrics, reports, status};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vos-gateway",
        description = "The VOS API gateway: notifications for agents, stored in Postgres and \
                       published to RabbitMQ with W3C trace context."
    ),
    modifiers(&BearerKeys),
    paths(
        accept::notify,
        status::show,
        agents::register,
        agents::list,
        agents::show,
        agents::unregister,
        analytics::slow_operations,
        analytics::error_rates,
        analytics::message_flows,
        analytics::anomalies,
        reports::summary,
        keys::create,
        keys::list,
        keys::revoke,
        health::live,
        health::ready,
        health::detail,
        metrics::scrape,
        openapi_json
    ),
    tags(
        (name = "notifications", description = "Accepting and tracking notifications"),
        (name = "agents", description = "Registered agents and their live status"),
        (name = "analytics", description = "Analyses of the stored journeys, and the summary report"),
        (name = "keys", description = "API keys (admin)"),
        (name = "health", description = "Probes in application/health+json"),
        (name = "operations", description = "Metrics and the API description"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme the protected routes name: `Authorization: Bearer vos_…`.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("vos_ API key")
            .description(Some(
                "An API key: `vos_` + 32 base62 characters + a 6-character checksum",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_some() {
                    add_refusals(&mut operation.responses);
                }
                add_parse_failures(operation);
            }
        }
    }
}

/// What any protected route may answer before its handler runs, unless the route says more.
fn add_refusals(responses: &mut Responses) {
    let refusals = [
        ("401", "No valid key (`WWW-Authenticate: Bearer`)"),
        ("403", "The key lacks the route's scope"),
        (
            "429",
            "Over a rate limit; see Retry-After, RateLimit-Policy and RateLimit",
        ),
        (
            "503",
            "Keys not loaded yet, or a dependency unavailable; see Retry-After",
        ),
    ];
    for (status, description) in refusals {
        responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

/// What the extractors answer before a handler runs: a body that is not JSON, or a query
/// string that does not parse. Documented here so that no route can forget them.
fn add_parse_failures(operation: &mut Operation) {
    let mut failures = Vec::new();
    if operation.request_body.is_some() {
        failures.extend([
            ("400", "Malformed JSON"),
            ("413", "Body too large"),
            ("415", "Not `Content-Type: application/json`"),
        ]);
    }
    let has_query =
        operation.parameters.iter().flatten().any(
            |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query),
        );
    if has_query {
        failures.push(("400", "A query parameter that does not parse"));
    }
    for (status, description) in failures {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

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
