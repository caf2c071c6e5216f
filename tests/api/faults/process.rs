//! The real binary as a child process, on its own port, for faults that need a process:
//! SIGKILL, SIGTERM, several replicas. Dropping a [`Gateway`] kills what is still running, so
//! a failing test leaves no process behind.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use tokio::time::Instant;

use crate::helpers::{clean_up_blocking, pg_base};

/// Settings every fault-test gateway process gets: a short relay grace so that a successor
/// publishes what a killed predecessor left pending within a second, and quiet logs.
const ENV: &[(&str, &str)] = &[
    ("VOS__RELAY__GRACE", "1s"),
    ("VOS__RELAY__INTERVAL", "200ms"),
    ("VOS__AMQP__RECONNECT_MAX", "1s"),
    ("VOS__SERVER__SHUTDOWN_GRACE", "10s"),
    ("RUST_LOG", "warn"),
];

pub struct Gateway {
    child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
}

impl Gateway {
    /// Starts `vos-gateway serve` on `port`, with stdout (JSON logs) going to a file.
    pub fn spawn(port: u16, database_url: &str, amqp_url: &str) -> Self {
        let log = std::env::temp_dir().join(format!(
            "vos-faults-{port}-{}.log",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let stdout = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_vos-gateway"))
            .envs(ENV.iter().copied())
            .env("VOS__SERVER__ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("AMQP_URL", amqp_url)
            .env_remove("VOS_CONFIG")
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .expect("starting vos-gateway");
        Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub async fn wait_ready(&self, within: Duration) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(response) = http.get(format!("{}/health/ready", self.base)).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not become ready within {within:?} (log: {})",
            self.base,
            self.log.display()
        );
    }

    /// Sends a signal by name (`KILL`, `TERM`) with kill(1), as an orchestrator would.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to exit, up to `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("waiting for vos-gateway") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vos-gateway did not exit within {within:?} (log: {})",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sum of every sample of `name` on `/metrics` (all label sets).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("/metrics")
            .text()
            .await
            .unwrap();
        metric_value(&text, name)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The log is kept only when the test failed.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Sums the samples of `name` (with or without labels) in a Prometheus text exposition.
pub fn metric_value(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Sums the samples of `name` whose labels include `label` (e.g. `reason="timeout"`).
pub fn metric_labelled(exposition: &str, name: &str, label: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// A database of its own for gateway processes, dropped (with force) at the end.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Names a fresh database; the first gateway to start creates it.
    pub fn new() -> Self {
        let name = format!("vos_test_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: format!("{}/{name}", pg_base()),
            name,
        }
    }

    /// A small pool on it, for the test's own queries.
    pub fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&self.url)
            .expect("test pool")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        clean_up_blocking(Vec::new(), Some(self.name.clone()));
    }
}
