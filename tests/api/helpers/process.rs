//! The real gateway binary as a child process, for what a test cannot do in-process: the
//! tracing subscriber is global to the test binary, so exporters, log formats and log levels
//! are tested through `vos-gateway serve` itself; and faults need a process to kill, to
//! terminate, or to run twice. Dropping a [`GatewayProcess`] kills it if it still runs.

use std::{
    ops::Deref,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use super::{
    AgentQueues, GatewayClient, TestDatabase, admin_key, amqp_url, closed_port, output::Output,
    results_queue_for, services_lock_async, test_queue_type, wait_until_ready,
};

/// How long the binary may take to become ready (it creates and migrates its database).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a graceful shutdown may take (drain, confirms, telemetry flush).
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// The gateway binary, without the variables that configure it inherited from the test's
/// environment: a developer's `VOS__*`, `OTEL_*` or `RUST_LOG` must not change what a test
/// sees, so only what the test sets applies.
pub fn gateway_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vos-gateway"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("VOS")
            || name.starts_with("OTEL_")
            || ["RUST_LOG", "DATABASE_URL", "AMQP_URL", "NO_COLOR"].contains(&&*name)
        {
            command.env_remove(&*name);
        }
    }
    command
}

/// What the process left behind once it exited.
pub struct Exited {
    pub status: ExitStatus,
    /// Every line it wrote to stdout (with stderr, when both went to a log file).
    pub stdout: Vec<String>,
    pub stderr: String,
}

/// Every setting has a default that suits a test on its own: a free port, a database of its
/// own, the local broker, stdout captured.
#[derive(Default)]
pub struct GatewayProcessBuilder {
    env: Vec<(String, String)>,
    port: Option<u16>,
    database_url: Option<String>,
    amqp_url: Option<String>,
    stdout_to_file: bool,
}

impl GatewayProcessBuilder {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter()
            .fold(self, |builder, (name, value)| builder.env(name, value))
    }

    /// A fixed port, e.g. for a successor of a stopped process (default: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// A database shared with other processes (default: one of its own, dropped with it).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    pub fn amqp_url(mut self, url: &str) -> Self {
        self.amqp_url = Some(url.to_owned());
        self
    }

    /// Stdout and stderr to a log file, kept only if the test fails (default: captured).
    pub fn stdout_to_file(mut self) -> Self {
        self.stdout_to_file = true;
        self
    }

    /// Starts `vos-gateway serve` and waits until it is ready.
    pub async fn start(self) -> GatewayProcess {
        let services = services_lock_async(false).await;
        let port = self.port.unwrap_or_else(closed_port);
        let (database_url, database) = match self.database_url {
            Some(shared) => (shared, None),
            None => {
                let own = TestDatabase::new();
                (own.url.clone(), Some(own))
            }
        };
        // The database's results queue, unless the test names another (which it then owns).
        let queues = AgentQueues::default();
        let results_queue = match self
            .env
            .iter()
            .rfind(|(name, _)| name == "VOS__AMQP__RESULTS_QUEUE")
        {
            Some((_, queue)) => {
                queues.track(queue.clone());
                queues.track(format!("{queue}.dlq"));
                queue.clone()
            }
            None => results_queue_for(&database_url),
        };
        let mut command = gateway_command();
        command
            .arg("serve")
            .env("VOS_BOOTSTRAP_ADMIN_KEY", admin_key())
            .env("VOS__AUTH__REFRESH_INTERVAL", "50ms")
            .env("VOS__RATE_LIMIT__PER_KEY", "off")
            .env("VOS__RATE_LIMIT__PER_AGENT", "off")
            .env("VOS__SERVER__ADDR", format!("127.0.0.1:{port}"))
            .env("VOS__AMQP__RESULTS_QUEUE", &results_queue)
            .env("DATABASE_URL", database_url)
            .env("AMQP_URL", self.amqp_url.unwrap_or_else(amqp_url));
        if let Some(queue_type) = test_queue_type() {
            command.env("VOS__AMQP__QUEUE_TYPE", queue_type);
        }
        command.envs(self.env).stdin(Stdio::null());
        let (child, output) = Output::spawn(command, self.stdout_to_file);
        let mut process = GatewayProcess {
            client: GatewayClient::new(format!("http://127.0.0.1:{port}")),
            child,
            output,
            queues,
            results_queue,
            _database: database,
            _services: services,
        };
        tokio::select! {
            () = wait_until_ready(&process.client, READY_WITHIN) => {}
            status = exit_of(&mut process.child) => panic!(
                "the gateway exited before becoming ready ({status}){}",
                process.output.describe()
            ),
        }
        process
    }
}

pub struct GatewayProcess {
    client: GatewayClient,
    child: Child,
    output: Output,
    // Dropped in this order, after the child: queues, database, then the lock.
    queues: AgentQueues,
    results_queue: String,
    _database: Option<TestDatabase>,
    _services: std::fs::File,
}

impl GatewayProcess {
    pub fn builder() -> GatewayProcessBuilder {
        GatewayProcessBuilder::default()
    }

    /// A fresh agent, registered (so its queue exists); the queue is deleted after the test.
    pub async fn agent(&self) -> String {
        let agent = self.queues.agent();
        self.register(&agent).await;
        agent
    }

    /// The queue this gateway consumes agents' results from.
    pub fn results_queue(&self) -> String {
        self.results_queue.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
        match tokio::time::timeout(within, exit_of(&mut self.child)).await {
            Ok(status) => status,
            Err(_) => panic!(
                "the gateway did not exit within {within:?}{}",
                self.output.describe()
            ),
        }
    }

    /// Sends SIGTERM (a graceful shutdown, which also flushes buffered spans) and waits for
    /// the process to exit.
    pub async fn stop(mut self) -> Exited {
        self.signal("TERM");
        let status = self.wait_exit(EXIT_WITHIN).await;
        let (stdout, stderr) = self.output.finish();
        Exited {
            status,
            stdout,
            stderr,
        }
    }
}

impl Deref for GatewayProcess {
    type Target = GatewayClient;

    fn deref(&self) -> &GatewayClient {
        &self.client
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn exit_of(child: &mut Child) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("the gateway's exit status") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
