//! The real gateway binary as a child process, for what a test cannot do in-process: the
//! tracing subscriber is global to the test binary, so exporters, log formats and log levels
//! are tested through `vos-gateway serve` itself, with its own port, database and queues.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use uuid::Uuid;

use crate::helpers::{amqp_url, clean_up_blocking, closed_port, pg_base, services_lock};

/// How long the binary may take to become ready (it creates and migrates its database).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a graceful shutdown may take (drain, confirms, telemetry flush).
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// What the process left behind once it exited.
pub struct Exited {
    pub status: ExitStatus,
    /// Every line it wrote to stdout.
    pub stdout: Vec<String>,
    pub stderr: String,
}

pub struct GatewayProcess {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub http: reqwest::Client,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    database: String,
    queues: Vec<String>,
    _services: std::fs::File,
}

impl GatewayProcess {
    /// Starts `vos-gateway serve` with a clean environment plus `env`, and waits until it is
    /// ready. Variables from the test's own environment that configure the gateway
    /// (`VOS_*`, `OTEL_*`, `RUST_LOG`, …) are removed so that only `env` applies.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let services = tokio::task::spawn_blocking(|| services_lock(false))
            .await
            .unwrap();
        let database = format!("vos_test_{}", Uuid::new_v4().simple());
        let port = closed_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vos-gateway"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("VOS")
                || name.starts_with("OTEL_")
                || ["RUST_LOG", "DATABASE_URL", "AMQP_URL"].contains(&name.as_str())
            {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .env("VOS__SERVER__ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", format!("{}/{database}", pg_base()))
            .env("AMQP_URL", amqp_url())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the gateway binary starts");

        // Read both pipes continuously, so the child never blocks on a full pipe.
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let readers = vec![
            {
                let lines = stdout.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        lines.lock().unwrap().push(line);
                    }
                })
            },
            {
                let text = stderr.clone();
                std::thread::spawn(move || {
                    let mut buffer = String::new();
                    let _ = BufReader::new(err).read_to_string(&mut buffer);
                    text.lock().unwrap().push_str(&buffer);
                })
            },
        ];

        let mut process = Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            child,
            stdout,
            stderr,
            readers,
            database,
            queues: Vec::new(),
            _services: services,
        };
        process.wait_until_ready().await;
        process
    }

    async fn wait_until_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the gateway exited before becoming ready ({status}): {}",
                    self.stderr.lock().unwrap()
                );
            }
            if let Ok(response) = self
                .http
                .get(format!("{}/health/ready", self.base))
                .send()
                .await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not become ready within {READY_WITHIN:?}");
    }

    /// A fresh agent id whose queue is deleted after the test.
    pub fn agent(&mut self) -> String {
        let agent = format!("test-{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.queues.push(format!("{agent}_queue"));
        agent
    }

    /// A notify request for `agent`, to complete with headers and a body.
    pub fn notify(&self, agent: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/v1/agents/{agent}/notify", self.base))
    }

    /// Posts the standard notification with `correlation_id`, asserts 202, and returns the
    /// answer (the counterpart of `TestApp::accept`).
    pub async fn accept(&self, agent: &str, correlation_id: &str) -> serde_json::Value {
        let response = self
            .notify(agent)
            .header("x-correlation-id", correlation_id)
            .json(&crate::helpers::notification_body())
            .send()
            .await
            .expect("notify request");
        assert_eq!(response.status(), 202);
        response.json().await.expect("202 body")
    }

    /// The stdout lines written so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Sends SIGTERM (a graceful shutdown, which also flushes buffered spans) and waits for
    /// the process to exit, at most [`EXIT_WITHIN`].
    pub async fn stop(mut self) -> Exited {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was delivered");
        let deadline = tokio::time::Instant::now() + EXIT_WITHIN;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gateway did not exit within {EXIT_WITHIN:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The pipes close with the process: the readers finish promptly.
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        Exited {
            status,
            stdout: self.stdout_lines(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let queues = std::mem::take(&mut self.queues);
        let database = self.database.clone();
        clean_up_blocking(queues, Some(database));
    }
}
