//! Shared test harness: a real gateway on a random port, its own database and queues, and
//! clients for HTTP, Postgres and RabbitMQ. No mocks: everything talks to the local services.

use std::{
    sync::{Mutex, OnceLock},
    time::Duration,
};

use lapin::{
    Connection, ConnectionProperties,
    message::BasicGetMessage,
    options::{BasicGetOptions, QueueDeleteOptions},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use uuid::Uuid;
use vos_gateway::{config::Settings, startup::Application, telemetry};

/// Tests share Postgres and RabbitMQ with every other test process on the machine. Normal
/// tests hold this lock shared; a test that stops a service holds it exclusively, so it
/// never pulls the broker away from a test that is running (in this or another process).
pub fn services_lock(exclusive: bool) -> std::fs::File {
    let path = std::env::temp_dir().join("vos-gateway-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("lock file");
    if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    }
    .expect("services lock");
    file
}

/// Postgres server for tests (without a database name).
pub fn pg_base() -> String {
    std::env::var("TEST_PG_BASE").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Telemetry is process-global: install it once. Logs go nowhere unless `TEST_LOG` is set
/// (to a filter, e.g. `TEST_LOG=debug`); trace ids work either way.
fn init_telemetry() {
    static GUARD: OnceLock<telemetry::TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut settings = Settings::load(None).expect("default settings").telemetry;
        let writer = match std::env::var("TEST_LOG") {
            Ok(filter) => {
                settings.log_level = if filter.is_empty() {
                    "info".into()
                } else {
                    filter
                };
                BoxMakeWriter::new(std::io::stdout)
            }
            Err(_) => {
                settings.log_level = "off".into();
                BoxMakeWriter::new(std::io::sink)
            }
        };
        telemetry::init(&settings, writer).expect("telemetry")
    });
}

/// Settings for a test gateway: random port, a fresh database, a fast relay.
pub fn test_settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.addr = "127.0.0.1:0".parse().unwrap();
    settings.database.url = format!("{}/vos_test_{}", pg_base(), Uuid::new_v4().simple());
    settings.amqp.url = amqp_url();
    settings.relay.grace = Duration::from_millis(500);
    settings.relay.interval = Duration::from_millis(100);
    settings.server.shutdown_grace = Duration::from_secs(5);
    settings
}

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub http: reqwest::Client,
    pub db: PgPool,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    queues: Mutex<Vec<String>>,
    owns_database: bool,
    _services: Option<std::fs::File>,
}

impl TestApp {
    /// A ready gateway with default test settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings(), true).await
    }

    /// A gateway with the given settings; waits for readiness when `wait_ready`.
    pub async fn spawn_with(settings: Settings, wait_ready: bool) -> Self {
        let lock = tokio::task::spawn_blocking(|| services_lock(false))
            .await
            .unwrap();
        let mut app = Self::spawn_unlocked(settings, wait_ready).await;
        app._services = Some(lock);
        app
    }

    /// For tests that already hold [`services_lock`] exclusively.
    pub async fn spawn_unlocked(settings: Settings, wait_ready: bool) -> Self {
        init_telemetry();
        let app = Application::build(settings.clone())
            .await
            .expect("gateway builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let stop = app.stop_token();
        let server = tokio::spawn(app.run_until_stopped());
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&settings.database.url)
            .expect("test pool");
        let app = Self {
            address,
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            db,
            stop,
            server: Some(server),
            queues: Mutex::default(),
            owns_database: true,
            _services: None,
        };
        if wait_ready {
            app.wait_until_ready().await;
        }
        app
    }

    /// Another gateway on the same database (and queues), e.g. a second replica.
    pub async fn spawn_sibling(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.settings.clone();
        settings.server.addr = "127.0.0.1:0".parse().unwrap();
        configure(&mut settings);
        let mut sibling = Self::spawn_unlocked(settings, true).await;
        sibling.owns_database = false;
        sibling
    }

    pub async fn wait_until_ready(&self) {
        for _ in 0..300 {
            if let Ok(response) = self.get("/health/ready").await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not become ready");
    }

    /// A fresh agent id whose queue is deleted after the test.
    pub fn agent(&self) -> String {
        let agent = format!("test-{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.queues.lock().unwrap().push(format!("{agent}_queue"));
        agent
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
    }

    pub async fn notify(&self, agent: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/agents/{agent}/notify", self.address))
            .json(body)
            .send()
            .await
            .expect("notify request")
    }

    /// Posts the standard notification, asserts 202, and returns the answer.
    pub async fn accept(&self, agent: &str) -> Value {
        let response = self.notify(agent, &notification_body()).await;
        assert_eq!(response.status(), 202);
        response.json().await.expect("202 body")
    }

    /// Like [`TestApp::accept`], then waits until the broker confirmed it.
    pub async fn accept_published(&self, agent: &str) -> Value {
        let accepted = self.accept(agent).await;
        self.wait_published(
            accepted["notification_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
        accepted
    }

    /// A notify request with arbitrary headers and a raw body.
    pub fn notify_request(&self, agent: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/v1/agents/{agent}/notify", self.address))
    }

    /// Stops the gateway gracefully and waits for it (the database stays).
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }

    /// The delivery state of a stored notification.
    pub async fn status_of(&self, id: &str) -> String {
        sqlx::query_scalar("select status from notifications where notification_id = $1::uuid")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .expect("notification row")
    }

    /// Waits until the row is published (or panics after `within`).
    pub async fn wait_published(&self, id: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.status_of(id).await == "published" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("notification {id} was not published within {within:?}");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let queues = std::mem::take(&mut *self.queues.lock().unwrap());
        let database = self
            .owns_database
            .then(|| self.settings.database.url.clone());
        clean_up_blocking(
            queues,
            database.map(|url| url.rsplit('/').next().unwrap().to_owned()),
        );
    }
}

/// Deletes test queues and a test database from synchronous code (a `Drop`): async work on
/// a short-lived runtime of its own thread.
pub fn clean_up_blocking(queues: Vec<String>, database: Option<String>) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            if !queues.is_empty()
                && let Ok(connection) =
                    Connection::connect(&amqp_url(), ConnectionProperties::default()).await
                && let Ok(channel) = connection.create_channel().await
            {
                for queue in queues {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
            }
            if let Some(name) = database {
                drop_database(&name).await;
            }
        });
    })
    .join();
}

/// Drops a test database, closing whatever still uses it.
pub async fn drop_database(name: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", pg_base())).await {
        let sql = format!("drop database if exists \"{name}\" with (force)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
        admin.close().await;
    }
}

/// A valid notify body.
pub fn notification_body() -> Value {
    json!({ "notification_type": "user_message", "source": "tests", "payload": { "text": "hello" } })
}

/// A RabbitMQ client for checking what reached a queue.
pub struct Broker {
    channel: lapin::Channel,
    /// `basic.get` on a queue that does not exist yet closes its channel: use a fresh one.
    polling: tokio::sync::Mutex<lapin::Channel>,
    connection: Connection,
}

impl Broker {
    pub async fn connect() -> Self {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        let polling = tokio::sync::Mutex::new(connection.create_channel().await.expect("channel"));
        Self {
            channel,
            polling,
            connection,
        }
    }

    /// The next message on `queue`, waiting up to `within`.
    pub async fn next_message(&self, queue: &str, within: Duration) -> Option<BasicGetMessage> {
        let deadline = tokio::time::Instant::now() + within;
        let mut polling = self.polling.lock().await;
        while tokio::time::Instant::now() < deadline {
            match polling
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
            {
                Ok(Some(message)) => return Some(message),
                Ok(None) => {}
                Err(_) => *polling = self.connection.create_channel().await.expect("channel"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Everything currently on `queue`, as JSON bodies.
    pub async fn drain(&self, queue: &str, expected: usize, within: Duration) -> Vec<Value> {
        let mut bodies = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while bodies.len() < expected && tokio::time::Instant::now() < deadline {
            match self.next_message(queue, Duration::from_millis(200)).await {
                Some(message) => {
                    bodies.push(serde_json::from_slice(&message.delivery.data).expect("JSON body"))
                }
                None => continue,
            }
        }
        // Anything beyond what was expected is a duplicate: take it too, briefly.
        while let Some(message) = self.next_message(queue, Duration::from_millis(300)).await {
            bodies.push(serde_json::from_slice(&message.delivery.data).expect("JSON body"));
        }
        bodies
    }

    pub fn channel(&self) -> &lapin::Channel {
        &self.channel
    }
}
