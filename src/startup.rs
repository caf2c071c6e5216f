//! Builds the whole gateway from its settings and runs it until told to stop. The only
//! module that sees every other one.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    broker::{PublishJob, Publisher, Reply},
    config::Settings,
    metrics::Metrics,
    outbox::{Relay, spawn_recorder},
    routes, server,
    state::AppState,
    store::{self, OnCommitted, Writer},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid configuration: `database.url`: {0}")]
    DatabaseUrl(#[source] sqlx::Error),
    #[error("invalid configuration: `amqp.url`: {0}")]
    AmqpUrl(String),
    #[error("preparing the database failed")]
    Database(#[source] store::StoreError),
    #[error("running migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// A built gateway: listening, with its background tasks running.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    port: u16,
    stop: CancellationToken,
    metrics: Metrics,
    server: crate::config::ServerSettings,
    tasks: Tasks,
}

/// The background tasks, in shutdown order: each stage ends once the one feeding it has
/// let go of its queue. Dropping this (say, when the serving future is aborted) aborts them.
struct Tasks {
    stages: Vec<(&'static str, JoinHandle<()>)>,
    schema: JoinHandle<()>,
    pool: sqlx::PgPool,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.schema.abort();
        for (_, task) in &self.stages {
            task.abort();
        }
    }
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let metrics = Metrics::new(settings.metrics.max_agent_labels);
        let pool = store::pool(&settings.database).map_err(StartupError::DatabaseUrl)?;
        let broker_addr = broker_addr(&settings.amqp.url)?;
        let schema_ready = Arc::new(AtomicBool::new(false));
        let schema = tokio::spawn(prepare_schema(
            settings.clone(),
            pool.clone(),
            schema_ready.clone(),
        ));
        let (publisher, publisher_task) = Publisher::spawn(
            settings.amqp.clone(),
            settings.publisher.queue_capacity,
            metrics.clone(),
            settings.metrics.queue_poll_interval,
        );
        let (recorder, recorder_task) = spawn_recorder(
            pool.clone(),
            metrics.clone(),
            settings.relay.max_attempts,
            settings.database.acquire_timeout + settings.database.statement_timeout,
            settings.publisher.queue_capacity,
        );
        let on_committed: OnCommitted = {
            let publisher = publisher.clone();
            Arc::new(move |notification, span| {
                let job = PublishJob {
                    notification,
                    span,
                    reply: Reply::Record(recorder.clone()),
                };
                // A full publisher queue is not an error: the row is pending, the relay has it.
                if !publisher.offer(job) {
                    tracing::debug!(
                        "publisher queue full; the relay will publish this notification"
                    );
                }
            })
        };
        let (writer, writer_task) = Writer::spawn(
            pool.clone(),
            &settings.writer,
            settings.database.acquire_timeout + settings.database.statement_timeout,
            settings.relay.grace,
            on_committed,
        );
        let stop = CancellationToken::new();
        let relay = Relay {
            pool: pool.clone(),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            settings: settings.relay.clone(),
            confirm_timeout: settings.amqp.confirm_timeout,
            db_deadline: settings.database.acquire_timeout + settings.database.statement_timeout,
            schema_ready: schema_ready.clone(),
        };
        let relay_task = tokio::spawn(relay.run(stop.clone()));

        let state = AppState {
            pool: pool.clone(),
            writer,
            publisher,
            metrics: metrics.clone(),
            broker_addr: broker_addr.into(),
            schema_ready,
            started: Instant::now(),
        };
        let router = routes::router(state, &settings.server);
        let addr = settings.server.addr;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let port = tcp
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        Ok(Self {
            listener: tcp,
            router,
            port,
            stop,
            metrics,
            server: settings.server,
            tasks: Tasks {
                stages: vec![
                    ("relay", relay_task),
                    ("writer", writer_task),
                    ("publisher", publisher_task),
                    ("recorder", recorder_task),
                ],
                schema,
                pool,
            },
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Serves until the stop token is cancelled, then shuts down in order: stop accepting,
    /// finish in-flight requests, commit what the writer holds, wait (bounded) for
    /// outstanding confirms, record their outcomes, close the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let grace = self.server.shutdown_grace;
        server::serve(
            self.listener,
            self.router,
            self.metrics.http_open_connections.clone(),
            self.server.header_read_timeout,
            grace,
            self.stop.clone(),
        )
        .await;
        tracing::info!("stopped accepting requests; draining");
        let deadline = tokio::time::Instant::now() + grace;
        let mut tasks = self.tasks;
        tasks.schema.abort();
        for (name, task) in &mut tasks.stages {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    task = name,
                    "did not finish within the shutdown grace period; pending rows stay in the outbox"
                );
            }
        }
        tasks.pool.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Creates the database and runs migrations, retrying while Postgres is unreachable so
/// the gateway can start (and report not-ready) before its database is up.
async fn prepare_schema(settings: Settings, pool: sqlx::PgPool, ready: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match try_prepare_schema(&settings, &pool).await {
            Ok(()) => {
                ready.store(true, Ordering::Release);
                return;
            }
            Err(error) => tracing::warn!(
                error = &error as &dyn std::error::Error,
                "database not ready; retrying"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn try_prepare_schema(settings: &Settings, pool: &sqlx::PgPool) -> Result<(), StartupError> {
    if settings.database.create_if_missing {
        store::create_database_if_missing(&settings.database)
            .await
            .map_err(StartupError::Database)?;
    }
    if settings.database.migrate_on_start {
        store::migrate(pool).await.map_err(StartupError::Migrate)?;
    }
    Ok(())
}

/// `host:port` of the AMQP URL.
fn broker_addr(url: &str) -> Result<String, StartupError> {
    let uri = lapin::uri::AMQPUri::from_str(url).map_err(StartupError::AmqpUrl)?;
    Ok(format!("{}:{}", uri.authority.host, uri.authority.port))
}
