//! The gateway in this test process: [`Application`] on a random port, with a database and
//! queues of its own. Most tests use it; what needs the binary uses
//! [`GatewayProcess`](super::GatewayProcess).

use std::{ops::Deref, sync::OnceLock, time::Duration};

use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use vos_gateway::{config::Settings, domain::QueueType, startup::Application, telemetry};

use super::{
    AgentQueues, GatewayClient, TestDatabase, admin_key, amqp_url, fresh_database_url,
    results_queue_for, services_lock_async, test_pool, test_queue_type, wait_until_ready,
};

/// Starting takes little more than creating and migrating the database.
const READY_WITHIN: Duration = Duration::from_secs(15);

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

/// Settings for a test gateway: random port, a fresh database, a fast relay, the test admin
/// key, changes to keys and agents seen within 50 ms, and no rate limits (the rate-limit
/// tests set their own): the fault tests post faster than a production key may. Agents'
/// queues are of the type `TEST_QUEUE_TYPE` names, if set. No rollup stage: the analytics
/// tests write history straight into the table, which the stage only rolls as it happens;
/// those of the rollups roll when they mean to (tests/api/analytics/rollups.rs).
pub fn test_settings() -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.auth.bootstrap_admin_key = admin_key().into();
    settings.auth.refresh_interval = Duration::from_millis(50);
    settings.rate_limit.per_key = None;
    settings.rate_limit.per_agent = None;
    settings.server.addr = "127.0.0.1:0".parse().unwrap();
    settings.database.url = fresh_database_url();
    settings.amqp.url = amqp_url();
    settings.amqp.results_queue = results_queue_for(&settings.database.url);
    settings.relay.grace = Duration::from_millis(500);
    settings.relay.interval = Duration::from_millis(100);
    settings.server.shutdown_grace = Duration::from_secs(5);
    settings.analytics.rollups = false;
    // Tests ask for analyses back to back; pacing them is tested on its own
    // (tests/api/analytics/parameters.rs).
    settings.analytics.time_share = 1.0;
    if let Some(queue_type) = test_queue_type() {
        settings.amqp.queue_type = QueueType::parse(queue_type);
    }
    settings
}

pub struct TestApp {
    client: GatewayClient,
    pub settings: Settings,
    pub db: PgPool,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Dropped in this order, after the server has stopped: queues, database, then the lock.
    queues: AgentQueues,
    _database: Option<TestDatabase>,
    _services: Option<std::fs::File>,
}

impl TestApp {
    /// A ready gateway with default test settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings(), true).await
    }

    /// A gateway with the given settings; waits for readiness when `wait_ready`.
    pub async fn spawn_with(settings: Settings, wait_ready: bool) -> Self {
        let lock = services_lock_async(false).await;
        let mut app = Self::spawn_unlocked(settings, wait_ready).await;
        app._services = Some(lock);
        app
    }

    /// For tests that already hold [`services_lock`](super::services_lock) exclusively.
    pub async fn spawn_unlocked(settings: Settings, wait_ready: bool) -> Self {
        let database = TestDatabase::adopt(&settings.database.url);
        Self::launch(settings, wait_ready, database).await
    }

    /// Another gateway on the same database (and queues), e.g. a second replica.
    pub async fn spawn_sibling(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.settings.clone();
        settings.server.addr = "127.0.0.1:0".parse().unwrap();
        configure(&mut settings);
        // The first one drops the database, when the test ends.
        Self::launch(settings, true, None).await
    }

    async fn launch(settings: Settings, wait_ready: bool, database: Option<TestDatabase>) -> Self {
        init_telemetry();
        let app = Application::build(settings.clone())
            .await
            .expect("gateway builds");
        let client = GatewayClient::new(format!("http://127.0.0.1:{}", app.port()));
        let stop = app.stop_token();
        let server = tokio::spawn(app.run_until_stopped());
        let app = Self {
            client,
            db: test_pool(&settings.database.url),
            _database: database,
            settings,
            stop,
            server: Some(server),
            queues: AgentQueues::default(),
            _services: None,
        };
        if wait_ready {
            wait_until_ready(&app, READY_WITHIN).await;
        }
        app
    }

    /// A fresh agent, registered (so its queue exists); the queue is deleted after the test.
    pub async fn agent(&self) -> String {
        let agent = self.queues.agent();
        self.register(&agent).await;
        agent
    }

    /// A fresh agent id, not registered (its queue is deleted after the test if made).
    pub fn unregistered_agent(&self) -> String {
        self.queues.agent()
    }

    /// A fresh agent registered straight in the database, for tests whose broker is down
    /// (registering through the API declares the queue, which needs the broker). Returns once
    /// the gateway has picked it up.
    pub async fn agent_registered_in_database(&self) -> String {
        let agent = self.queues.agent();
        sqlx::query("insert into agents (agent_id, queue_type) values ($1, $2)")
            .bind(&agent)
            .bind(self.settings.amqp.queue_type.as_str())
            .execute(&self.db)
            .await
            .expect("agent row");
        // The registry polls every `auth.refresh_interval`.
        tokio::time::sleep(self.settings.auth.refresh_interval * 4).await;
        agent
    }

    /// Like [`GatewayClient::accept`], then waits until the broker confirmed it.
    pub async fn accept_published(&self, agent: &str) -> Value {
        let accepted = self.accept(agent).await;
        self.wait_published(
            accepted["notification_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
        accepted
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

impl Deref for TestApp {
    type Target = GatewayClient;

    fn deref(&self) -> &GatewayClient {
        &self.client
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
