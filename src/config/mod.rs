//! Layered configuration: compiled-in defaults, an optional file, `VOS__SECTION__KEY`
//! variables, then the standard variables (`DATABASE_URL`, `AMQP_URL`, `OTEL_*`, `RUST_LOG`,
//! `VOS_BOOTSTRAP_ADMIN_KEY`).

mod sections;
mod validate;

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};

pub use sections::*;

/// The committed defaults; every key is present and commented there.
pub const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Invalid configuration: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
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
    set(
        "telemetry",
        "otlp_certificate",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    );
    set(
        "telemetry",
        "otlp_certificate",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    );
    set("telemetry", "service_name", "OTEL_SERVICE_NAME");
    set("telemetry", "log_level", "RUST_LOG");
    set("auth", "bootstrap_admin_key", "VOS_BOOTSTRAP_ADMIN_KEY");
    Serialized::defaults(serde_json::Value::Object(map))
}
