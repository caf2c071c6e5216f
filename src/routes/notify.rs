//! `POST /api/v1/agents/{agent_id}/notify`: validate, stamp, commit, hand to the publisher.

use axum::{
    Json,
    extract::{FromRequest, Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    domain::{NewNotification, Notification, NotifyRequest, TraceStamp},
    error::ApiError,
    metrics::StageLabels,
    middleware::CorrelationId,
    state::AppState,
    store::CommitError,
    telemetry,
};

/// `axum::Json`, with rejections turned into our problems.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(error) => ApiError::InvalidBody(error.body_text()),
            JsonRejection::JsonSyntaxError(error) => ApiError::MalformedJson(error.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(error)
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge(0)
            }
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

/// The 202 body.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub notification_id: Uuid,
    pub trace_id: String,
    pub correlation_id: String,
    pub status: &'static str,
}

pub async fn notify(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    axum::Extension(CorrelationId(correlation_id)): axum::Extension<CorrelationId>,
    ApiJson(request): ApiJson<NotifyRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let new = NewNotification::parse(&agent_id, request)?;
    let notification_id = Uuid::now_v7();
    // The producer span starts now, as a child of the request span; its context is stored
    // with the row and travels in the message, so a republish continues the same trace.
    let span = telemetry::producer_span(
        &new.agent_id.queue_name(),
        &notification_id.to_string(),
        &correlation_id,
    );
    let ids = telemetry::ids_of(&span);
    let labels = state
        .metrics
        .delivery_labels(new.agent_id.as_str(), &new.notification_type);
    let accepted = Accepted {
        notification_id,
        trace_id: ids.trace_id.clone(),
        correlation_id: correlation_id.to_string(),
        status: "accepted",
    };
    let notification = Notification {
        notification_id,
        agent_id: new.agent_id,
        notification_type: new.notification_type,
        source: new.source,
        payload: new.payload,
        correlation_id: correlation_id.to_string(),
        trace: TraceStamp {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            sampled: ids.sampled,
            tracestate: ids.tracestate,
        },
        accepted_at: chrono::Utc::now(),
    };
    state
        .writer
        .commit(notification, span)
        .await
        .map_err(|error| match error {
            CommitError::Overloaded => {
                state
                    .metrics
                    .overload_rejections
                    .get_or_create(&StageLabels { stage: "writer" })
                    .inc();
                ApiError::Overloaded
            }
            CommitError::Unavailable | CommitError::Stopped => {
                ApiError::DatabaseUnavailable(Box::new(error))
            }
            CommitError::Failed => ApiError::Internal(Box::new(error)),
        })?;
    state.metrics.accepted.get_or_create(&labels).inc();
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
