//! An OTLP trace receiver inside the test process, built on the `opentelemetry-proto` types:
//! gRPC (a tonic `TraceService`) or HTTP/protobuf (a protobuf `ExportTraceServiceRequest`
//! POSTed to any path, normally `/v1/traces`). It keeps every span it is sent, with its
//! resource, so tests can check what the gateway binary exported.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use prost::Message as _;
use tokio::{net::TcpListener, task::JoinHandle};

use super::spans::ReceivedSpan;

/// What the HTTP receiver saw of each export request.
#[derive(Debug, Clone)]
pub struct HttpExport {
    pub path: String,
    pub content_type: Option<String>,
}

#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ReceivedSpan>>,
    http_exports: Mutex<Vec<HttpExport>>,
}

impl Received {
    fn store(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let resource = resource_spans
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                spans.extend(scope_spans.spans.into_iter().map(|span| ReceivedSpan {
                    span,
                    resource: resource.clone(),
                }));
            }
        }
    }
}

/// A running receiver; it stops when dropped.
pub struct OtlpReceiver {
    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should be set to (a base URL, no path).
    pub endpoint: String,
    received: Arc<Received>,
    server: JoinHandle<()>,
}

impl OtlpReceiver {
    /// A gRPC receiver: the collector's `TraceService/Export`.
    pub async fn grpc() -> Self {
        Self::grpc_with(None).await
    }

    /// A gRPC receiver over TLS with `identity` (PEM certificate and key), reached as
    /// `https://localhost:<port>`.
    pub async fn grpc_tls(certificate: &str, key: &str) -> Self {
        Self::grpc_with(Some(tonic::transport::Identity::from_pem(certificate, key))).await
    }

    async fn grpc_with(identity: Option<tonic::transport::Identity>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let endpoint = match identity {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let received = Arc::new(Received::default());
        let service = TraceServiceServer::new(GrpcService(received.clone()));
        let mut builder = tonic::transport::Server::builder();
        if let Some(identity) = identity {
            let tls = tonic::transport::ServerTlsConfig::new().identity(identity);
            builder = builder.tls_config(tls).expect("TLS configuration");
        }
        let server = tokio::spawn(async move {
            let _ = builder
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        Self {
            endpoint,
            received,
            server,
        }
    }

    /// An HTTP receiver: `POST` with an `application/x-protobuf` body, on any path (the path
    /// is recorded, so tests can check which URL the exporter used).
    pub async fn http() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Received::default());
        let state = received.clone();
        let router = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let received = state.clone();
                async move { http_export(&received, &uri, &headers, body) }
            }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            endpoint,
            received,
            server,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().unwrap().clone()
    }

    /// The spans of one trace received so far.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|span| span.trace_id() == trace_id)
            .collect()
    }

    /// Waits (at most `within`) until `count` spans of the trace have arrived; returns them.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        count: usize,
        within: Duration,
    ) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let spans = self.trace(trace_id);
            if spans.len() >= count || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The HTTP export requests received so far (empty for the gRPC receiver).
    pub fn http_exports(&self) -> Vec<HttpExport> {
        self.received.http_exports.lock().unwrap().clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct GrpcService(Arc<Received>);

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.store(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn http_export(received: &Received, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    received.http_exports.lock().unwrap().push(HttpExport {
        path: uri.path().to_owned(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    });
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            received.store(request);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            b"not an ExportTraceServiceRequest".to_vec(),
        )
            .into_response(),
    }
}
