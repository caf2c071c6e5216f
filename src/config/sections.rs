//! The settings, one struct per section of `config/default.toml`.

use std::{fmt, net::SocketAddr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    domain::QueueType,
    ratelimit::{Rate, serde_rate},
};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub writer: WriterSettings,
    pub publisher: PublisherSettings,
    pub relay: RelaySettings,
    pub telemetry: TelemetrySettings,
    pub metrics: MetricsSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub privacy: PrivacySettings,
    pub retention: RetentionSettings,
    pub results: ResultsSettings,
    pub analytics: AnalyticsSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    /// Where `/metrics`, `/health` and `/api-docs` are served instead of `addr`; `""` (unset)
    /// keeps them on `addr`.
    #[serde(deserialize_with = "optional_addr", serialize_with = "unset_as_empty")]
    pub admin_addr: Option<SocketAddr>,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub tls: TlsSettings,
}

/// `[server.tls]`: both files set turns TLS on for both listeners.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

impl TlsSettings {
    /// The two files, when TLS is on.
    pub fn files(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        (!self.cert.is_empty() && !self.key.is_empty()).then(|| {
            (
                std::path::Path::new(&self.cert),
                std::path::Path::new(&self.key),
            )
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    pub create_if_missing: bool,
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The most one database step may take, client side: getting a connection, then the
    /// statement. Postgres enforces `statement_timeout` only on statements it receives, so
    /// every wait on the database is also bounded here (a half-open link never answers).
    pub fn deadline(&self) -> Duration {
        self.acquire_timeout + self.statement_timeout
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub url: String,
    /// The queue agents answer on (every message's `reply_to`) and the results stage consumes;
    /// unreadable results go to `{results_queue}.dlq`.
    pub results_queue: String,
    /// The type of an agent's queue when its registration names none (API or CLI).
    pub queue_type: QueueType,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    pub confirm_window: usize,
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriterSettings {
    pub queue_capacity: usize,
    pub max_batch: usize,
    pub max_inflight_batches: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherSettings {
    pub queue_capacity: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    pub batch_size: i64,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub service_name: String,
    pub environment: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub otlp_endpoint: String,
    pub otlp_traces_endpoint: String,
    pub otlp_protocol: OtlpProtocol,
    /// A PEM CA file trusted for `https://` endpoints, besides the system's roots.
    pub otlp_certificate: String,
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub max_agent_labels: usize,
    #[serde(with = "humantime_serde")]
    pub queue_poll_interval: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub required: bool,
    pub pepper: Secret,
    pub bootstrap_admin_key: Secret,
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    #[serde(with = "serde_rate")]
    pub per_key: Option<Rate>,
    #[serde(with = "serde_rate")]
    pub per_agent: Option<Rate>,
    #[serde(with = "serde_rate")]
    pub failed_auth_per_client: Option<Rate>,
    pub max_tracked_clients: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    pub sensitive_keys: Vec<String>,
    pub patterns: Vec<String>,
    pub redact_ip_addresses: bool,
    pub client_address: ClientAddress,
    pub pseudonym_secret: Secret,
}

impl PrivacySettings {
    /// The redaction policy these settings describe.
    pub fn policy(&self) -> Result<crate::privacy::Policy, String> {
        crate::privacy::Policy::new(&crate::privacy::Rules {
            sensitive_keys: &self.sensitive_keys,
            patterns: &self.patterns,
            redact_ip_addresses: self.redact_ip_addresses,
            pseudonym_secret: self.pseudonym_secret.expose(),
        })
    }
}

/// Whether the server span and the log line record the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAddress {
    /// Not recorded.
    Off,
    /// An HMAC pseudonym (needs `pseudonym_secret`): joinable, not readable.
    Pseudonym,
    /// The address itself.
    Plain,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsSettings {
    pub prefetch: u16,
    pub batch_size: usize,
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    pub max_waiters: usize,
    #[serde(with = "humantime_serde")]
    pub wait_poll: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(with = "humantime_serde")]
    pub published: Duration,
    #[serde(with = "humantime_serde")]
    pub failed: Duration,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub batch_size: i64,
    #[serde(with = "humantime_serde")]
    pub pause: Duration,
}

/// `[analytics]`: the guardrails of the analyses and reports (docs/analytics.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Postgres cancels one analysis statement past this (`SET LOCAL statement_timeout`).
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Postgres `work_mem` of an analysis (`64MB`): per sort or hash, per statement.
    pub work_mem: String,
    /// Postgres parallel workers one analysis statement may use besides its own process
    /// (`max_parallel_workers_per_gather`); 0 keeps an analysis on one core.
    pub parallel_workers: u8,
    /// Analyses running at once per gateway; more are answered 503 at once, so that reports
    /// never take the connections the notify path needs.
    pub max_concurrent: usize,
    /// The share of the time this gateway's analyses may run, on average (`0 < share ≤ 1`,
    /// 1 being one Postgres backend's whole time); past a burst, further analyses are paced
    /// to it (`src/analytics/budget.rs`).
    pub time_share: f64,
    /// Whether this gateway keeps the rollups up to date (`src/analytics/rollup`). Any
    /// replica may; they take turns. Off, the analyses read the journeys only (slower over
    /// long windows) unless another gateway rolls.
    pub rollups: bool,
    /// How often the rollups roll the minutes that have closed (and merge the minutes of a
    /// 5-minute bucket that has).
    #[serde(with = "humantime_serde")]
    pub rollup_interval: Duration,
}

/// A setting that must never be printed: `Debug` shows whether it is set, not what it is.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

/// `""` is unset; anything else must be a socket address.
fn optional_addr<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.trim().is_empty() {
        return Ok(None);
    }
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn unset_as_empty<S: serde::Serializer>(
    addr: &Option<SocketAddr>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match addr {
        Some(addr) => serializer.collect_str(addr),
        None => serializer.serialize_str(""),
    }
}
