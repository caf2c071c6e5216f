//! The checks extraction alone cannot make: ranges, relations between keys, URL schemes.

use super::{ConfigError, Settings};
use crate::domain::ApiKey;

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        for (key, url) in [
            ("telemetry.otlp_endpoint", &self.telemetry.otlp_endpoint),
            (
                "telemetry.otlp_traces_endpoint",
                &self.telemetry.otlp_traces_endpoint,
            ),
        ] {
            let url = url.trim();
            if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError::new(key, "must start with http:// or https://"));
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
        // AMQP queue names are at most 255 bytes, and the dead-letter queue adds ".dlq".
        let results_queue = self.amqp.results_queue.trim();
        if results_queue.is_empty()
            || results_queue.len() > 251
            || results_queue.starts_with("amq.")
        {
            return Err(ConfigError::new(
                "amqp.results_queue",
                "must be a queue name of 1 to 251 bytes, not starting with \"amq.\"",
            ));
        }
        let bootstrap = self.auth.bootstrap_admin_key.expose();
        if !bootstrap.is_empty() && ApiKey::parse(bootstrap).is_err() {
            return Err(ConfigError::new(
                "auth.bootstrap_admin_key",
                "must be a vos_ key (create one with `vos-gateway keys create`, or leave it \
                 empty to have one generated on the first start)",
            ));
        }
        if self
            .server
            .admin_addr
            .is_some_and(|admin| admin == self.server.addr)
        {
            return Err(ConfigError::new(
                "server.admin_addr",
                "must differ from server.addr",
            ));
        }
        if let Err(problem) = self.privacy.policy() {
            return Err(ConfigError::new("privacy.patterns", problem));
        }
        if self.privacy.client_address == super::ClientAddress::Pseudonym
            && self.privacy.pseudonym_secret.expose().is_empty()
        {
            return Err(ConfigError::new(
                "privacy.client_address",
                "\"pseudonym\" needs privacy.pseudonym_secret",
            ));
        }
        if self.results.prefetch == 0
            || self.results.batch_size == 0
            || self.results.wait_poll.is_zero()
        {
            return Err(ConfigError::new(
                "results",
                "prefetch, batch_size and wait_poll must be greater than 0",
            ));
        }
        if self.retention.batch_size < 1 || self.retention.interval.is_zero() {
            return Err(ConfigError::new(
                "retention",
                "batch_size must be at least 1 and interval more than 0",
            ));
        }
        if self.analytics.statement_timeout.is_zero()
            || self.analytics.statement_timeout > std::time::Duration::from_secs(300)
            || self.analytics.max_concurrent == 0
            || self.analytics.rollup_interval.is_zero()
        {
            return Err(ConfigError::new(
                "analytics",
                "statement_timeout must be between 1ms and 5m, max_concurrent at least 1 \
                 and rollup_interval more than 0",
            ));
        }
        // Written so that NaN fails too.
        if !(self.analytics.time_share > 0.0 && self.analytics.time_share <= 1.0) {
            return Err(ConfigError::new(
                "analytics.time_share",
                "must be more than 0 and at most 1",
            ));
        }
        let work_mem = self.analytics.work_mem.trim();
        let digits = work_mem.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || !["kB", "MB", "GB"].contains(&&work_mem[digits.len()..])
        {
            return Err(ConfigError::new(
                "analytics.work_mem",
                "must be a size such as 64MB (kB, MB or GB)",
            ));
        }
        let tls = &self.server.tls;
        if tls.cert.is_empty() != tls.key.is_empty() {
            return Err(ConfigError::new(
                "server.tls",
                "set both cert and key, or neither",
            ));
        }
        if self.rate_limit.max_tracked_clients == 0 {
            return Err(ConfigError::new(
                "rate_limit.max_tracked_clients",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}
