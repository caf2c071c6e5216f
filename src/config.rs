//! Layered configuration: compiled-in defaults, an optional file, `VOS__SECTION__KEY`
//! variables, then the standard variables (`DATABASE_URL`, `AMQP_URL`, `OTEL_*`, `RUST_LOG`).

use std::{net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The committed defaults; every key is present and commented there.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
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
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub max_agent_labels: usize,
    #[serde(with = "humantime_serde")]
    pub queue_poll_interval: Duration,
}

/// Invalid configuration: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl Settings {
    /// Loads all layers. `file` is `--config PATH` (or `VOS_CONFIG`), if any.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file)?)
    }

    /// The layered sources, before extraction; tests add their own layer on top.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("VOS__").split("__"));
        Ok(figment.merge(standard_variables()))
    }

    /// Extracts and validates settings from a figment.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|error| {
            let key = error.path.join(".");
            let key = if key.is_empty() {
                "<root>".to_owned()
            } else {
                key
            };
            ConfigError::new(key, error.kind.to_string())
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "database.max_connections",
                self.database.max_connections as usize,
            ),
            ("amqp.confirm_window", self.amqp.confirm_window),
            ("writer.queue_capacity", self.writer.queue_capacity),
            ("writer.max_batch", self.writer.max_batch),
            (
                "writer.max_inflight_batches",
                self.writer.max_inflight_batches,
            ),
            ("publisher.queue_capacity", self.publisher.queue_capacity),
            ("server.body_limit_bytes", self.server.body_limit_bytes),
            ("server.max_headers", self.server.max_headers),
            ("server.max_header_bytes", self.server.max_header_bytes),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(ConfigError::new(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.server.max_headers > 200 {
            return Err(ConfigError::new(
                "server.max_headers",
                "must be at most 200",
            ));
        }
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            return Err(ConfigError::new(
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        if self.relay.batch_size < 1 || self.relay.max_attempts < 1 {
            return Err(ConfigError::new(
                "relay",
                "batch_size and max_attempts must be at least 1",
            ));
        }
        // No TLS is built into the exporters: a https endpoint would fail on every export.
        for (key, url) in [
            ("telemetry.otlp_endpoint", &self.telemetry.otlp_endpoint),
            (
                "telemetry.otlp_traces_endpoint",
                &self.telemetry.otlp_traces_endpoint,
            ),
        ] {
            let url = url.trim();
            if !url.is_empty() && !url.starts_with("http://") {
                return Err(ConfigError::new(
                    key,
                    "must start with http:// (TLS is not built in; export through a local collector)",
                ));
            }
        }
        for (key, url, schemes) in [
            (
                "database.url",
                &self.database.url,
                &["postgres://", "postgresql://"][..],
            ),
            ("amqp.url", &self.amqp.url, &["amqp://", "amqps://"][..]),
        ] {
            if !schemes.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(ConfigError::new(
                    key,
                    format!("must start with {}", schemes.join(" or ")),
                ));
            }
        }
        Ok(())
    }
}

/// The well-known variables other tools already set, mapped onto our keys.
fn standard_variables() -> Serialized<serde_json::Value> {
    let mut map = serde_json::Map::new();
    let mut set = |section: &str, key: &str, variable: &str| {
        if let Some(value) = std::env::var(variable).ok().filter(|v| !v.is_empty()) {
            let entry = map.entry(section).or_insert_with(|| serde_json::json!({}));
            entry[key] = serde_json::Value::String(value);
        }
    };
    set("database", "url", "DATABASE_URL");
    set("amqp", "url", "AMQP_URL");
    set("telemetry", "otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT");
    set(
        "telemetry",
        "otlp_traces_endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    );
    // The signal-specific variable wins over the generic one, as the OTel spec says.
    set("telemetry", "otlp_protocol", "OTEL_EXPORTER_OTLP_PROTOCOL");
    set(
        "telemetry",
        "otlp_protocol",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    );
    set("telemetry", "service_name", "OTEL_SERVICE_NAME");
    set("telemetry", "log_level", "RUST_LOG");
    Serialized::defaults(serde_json::Value::Object(map))
}
