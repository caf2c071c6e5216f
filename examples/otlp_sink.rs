//! A do-nothing OTLP/HTTP receiver for benchmarks: answers `200` to `POST /v1/traces`
//! (an empty body is a valid empty `ExportTraceServiceResponse`) and counts what it got,
//! so that the benchmark pays for encoding and sending spans but no collector's work.
//!
//! ```text
//! otlp_sink [ADDR]            default 127.0.0.1:4318
//! curl ADDR/stats             {"requests":…,"bytes":…}
//! ```

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, body::Bytes, extract::State, http::header, routing::get, routing::post};

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn traces(
    State(counts): State<Arc<Counts>>,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Bytes::new(),
    )
}

async fn stats(State(counts): State<Arc<Counts>>) -> String {
    format!(
        "{{\"requests\":{},\"bytes\":{}}}",
        counts.requests.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed)
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4318".to_owned());
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/stats", get(stats))
        // OTLP batches of 512 spans are a few hundred KiB; axum's 2 MiB default may be short.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(Arc::new(Counts::default()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("otlp_sink listening on {addr}");
    axum::serve(listener, app).await
}
