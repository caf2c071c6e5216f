//! The local Postgres and RabbitMQ the tests share, and what each test creates on them: a
//! database and agent queues of its own, removed when the test ends, passed or failed.

use std::{sync::Mutex, time::Duration};

use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};
use uuid::Uuid;

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

/// [`services_lock`] from async code, without blocking the runtime while another test holds
/// it exclusively.
pub async fn services_lock_async(exclusive: bool) -> std::fs::File {
    tokio::task::spawn_blocking(move || services_lock(exclusive))
        .await
        .unwrap()
}

/// Postgres server for tests (without a database name).
fn pg_base() -> String {
    std::env::var("TEST_PG_BASE").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `TEST_QUEUE_TYPE` (`classic` or `quorum`): the `[amqp] queue_type` of every test gateway,
/// in-process and child process, so the whole suite (the fault ledgers among it) runs on
/// either type. Unset: the configured default.
pub fn test_queue_type() -> Option<&'static str> {
    match std::env::var("TEST_QUEUE_TYPE").ok().as_deref() {
        None | Some("") => None,
        Some("classic") => Some("classic"),
        Some("quorum") => Some("quorum"),
        Some(other) => panic!("TEST_QUEUE_TYPE must be classic or quorum, not {other:?}"),
    }
}

/// The queue type a registration without one gets in test gateways: `TEST_QUEUE_TYPE`, else
/// the compiled-in default of `[amqp] queue_type`.
pub fn default_queue_type() -> &'static str {
    test_queue_type().unwrap_or_else(|| {
        use figment::providers::Format as _;
        let defaults = figment::Figment::from(figment::providers::Toml::string(
            vos_gateway::config::DEFAULTS,
        ));
        vos_gateway::config::Settings::from_figment(defaults)
            .expect("the compiled-in defaults")
            .amqp
            .queue_type
            .as_str()
    })
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TEST_DATABASE_PREFIX: &str = "vos_test_";

/// The URL of a database nobody uses yet; the first gateway to start on it creates it.
pub fn fresh_database_url() -> String {
    format!(
        "{}/{TEST_DATABASE_PREFIX}{}",
        pg_base(),
        Uuid::new_v4().simple()
    )
}

/// The results queue of the gateways on `database_url`: one per test database, as in
/// production one per deployment, so that gateways of other tests never take its results
/// (they would drop them as unknown). Deleted with the database.
pub fn results_queue_for(database_url: &str) -> String {
    let name = database_url.rsplit('/').next().unwrap_or("vos");
    let name = name.split('?').next().unwrap_or(name);
    format!("{name}.results")
}

/// A database of its own, dropped (with force) at the end. The first gateway to start on it
/// creates and migrates it.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        Self::adopt(&fresh_database_url()).unwrap()
    }

    /// Takes over the database `url` names, if the harness named it: a test that points a
    /// gateway at some other database must not have that one dropped.
    pub fn adopt(url: &str) -> Option<Self> {
        let name = url.rsplit('/').next()?;
        name.starts_with(TEST_DATABASE_PREFIX).then(|| Self {
            url: url.to_owned(),
            name: name.to_owned(),
        })
    }

    /// A small pool on it, for the test's own queries.
    pub fn pool(&self) -> sqlx::PgPool {
        test_pool(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let results = results_queue_for(&self.url);
        let queues = vec![format!("{results}.dlq"), results];
        clean_up_blocking(queues, Some(self.name.clone()));
    }
}

/// A small pool for a test's own queries, connected on first use.
pub fn test_pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url)
        .expect("test pool")
}

/// Fresh agent ids, whose queues are deleted when this is dropped.
#[derive(Default)]
pub struct AgentQueues(Mutex<Vec<String>>);

impl AgentQueues {
    pub fn agent(&self) -> String {
        let agent = format!("test-{}", &Uuid::new_v4().simple().to_string()[..12]);
        // The agent's dead-letter queue too: the agent runtime declares it (journey tests).
        let queues = [format!("{agent}_queue"), format!("{agent}_queue.dlq")];
        self.0.lock().unwrap().extend(queues);
        agent
    }

    /// Another queue to delete at the end.
    pub fn track(&self, queue: String) {
        self.0.lock().unwrap().push(queue);
    }
}

impl Drop for AgentQueues {
    fn drop(&mut self) {
        let queues = std::mem::take(&mut *self.0.lock().unwrap());
        if !queues.is_empty() {
            clean_up_blocking(queues, None);
        }
    }
}

/// Deletes test queues and a test database from synchronous code (a `Drop`): async work on
/// a short-lived runtime of its own thread.
fn clean_up_blocking(queues: Vec<String>, database: Option<String>) {
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
async fn drop_database(name: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", pg_base())).await {
        let sql = format!("drop database if exists \"{name}\" with (force)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
        admin.close().await;
    }
}
