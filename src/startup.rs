//! Builds the whole gateway from its settings and runs it until told to stop. The only
//! module that sees every other one.

use std::time::Instant;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    analytics::{self, Analytics},
    auth,
    background::Stages,
    broker::{self, Publisher, QueueAdmin},
    config::{ServerSettings, Settings},
    metrics::Metrics,
    middleware::Gatekeeper,
    outbox::Delivery,
    ratelimit::ClientLimiter,
    registry::Registry,
    results::{self, Waiters},
    routes, server,
    state::AppState,
    store::{self, Schema},
};

/// How often idle client addresses are dropped from the failed-authentication limiter.
const CLIENT_SWEEP: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid configuration: `database.url`: {0}")]
    DatabaseUrl(#[source] sqlx::Error),
    #[error(transparent)]
    AmqpUrl(#[from] broker::InvalidUrl),
    #[error(transparent)]
    Tls(#[from] server::TlsError),
}

impl StartupError {
    /// Whether the settings are at fault (exit status 2) rather than the environment.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::DatabaseUrl(_) | Self::AmqpUrl(_) | Self::Tls(_))
    }
}

/// A built gateway: listening, with its background stages running.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: axum::Router,
    /// The admin listener (`[server] admin_addr`), its port and router.
    admin: Option<(TcpListener, u16, axum::Router)>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    metrics: Metrics,
    server: ServerSettings,
    stop: CancellationToken,
    stages: Stages,
    pool: sqlx::PgPool,
}

impl Application {
    /// Starts every stage, in the order data flows through them, and binds the listeners.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let stop = CancellationToken::new();
        let metrics = Metrics::new(settings.metrics.max_agent_labels);
        let pool = store::pool(&settings.database).map_err(StartupError::DatabaseUrl)?;
        let broker_addr = broker::address(&settings.amqp.url)?;
        let tls = match settings.server.tls.files() {
            Some((cert, key)) => Some(server::acceptor(cert, key)?),
            None => None,
        };
        let mut stages = Stages::default();

        let (schema, schema_stage) = Schema::spawn(pool.clone(), &settings.database, stop.clone());
        stages.push(schema_stage);
        let gate = access_control(&pool, &settings, &schema, &metrics, &stop, &mut stages);
        let (publisher, publisher_stage) = Publisher::spawn(
            metrics.clone(),
            &settings.amqp,
            &settings.publisher,
            settings.metrics.queue_poll_interval,
        );
        let (writer, delivery_stages) = Delivery::spawn(
            pool.clone(),
            publisher.clone(),
            metrics.clone(),
            schema.clone(),
            gate.registry.clone(),
            &settings,
            stop.clone(),
        );
        stages.append(delivery_stages).push(publisher_stage);
        let waiters = Waiters::new(&settings.results);
        stages.push(results::spawn(
            pool.clone(),
            metrics.clone(),
            waiters.clone(),
            schema.clone(),
            (
                &settings.amqp,
                &settings.results,
                settings.database.deadline(),
            ),
            stop.clone(),
        ));
        stages.push(store::retention::spawn(
            pool.clone(),
            metrics.clone(),
            schema.clone(),
            &settings.retention,
            settings.database.deadline(),
            stop.clone(),
        ));
        if let Some(rollups) = analytics::rollup::spawn(
            pool.clone(),
            schema.clone(),
            &settings.analytics,
            stop.clone(),
        ) {
            stages.push(rollups);
        }

        let state = AppState {
            pool: pool.clone(),
            writer,
            publisher,
            metrics: metrics.clone(),
            keyring: gate.keyring.clone(),
            registry: gate.registry.clone(),
            waiters,
            analytics: Analytics::new(pool.clone(), &settings.analytics, &settings.database),
            queues: QueueAdmin::new(&settings.amqp),
            broker_addr: broker_addr.into(),
            schema,
            started: Instant::now(),
        };
        let (router, admin_router) = routes::routers(state, gate, &settings.server);
        let (listener, port) = bind(settings.server.addr).await?;
        let admin = match (settings.server.admin_addr, admin_router) {
            (Some(addr), Some(router)) => Some(bind(addr).await.map(|(l, p)| (l, p, router))?),
            _ => None,
        };
        Ok(Self {
            listener,
            port,
            router,
            admin,
            tls,
            metrics,
            server: settings.server,
            stop,
            stages,
            pool,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when `[server] admin_addr` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(_, port, _)| *port)
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
        let serve = |listener, router| {
            server::serve(
                listener,
                router,
                self.tls.clone(),
                self.metrics.http_open_connections.clone(),
                self.server.header_read_timeout,
                grace,
                self.stop.clone(),
            )
        };
        let admin = async {
            if let Some((listener, _, router)) = self.admin {
                serve(listener, router).await;
            }
        };
        tokio::join!(serve(self.listener, self.router), admin);
        tracing::info!("stopped accepting requests; draining");
        self.stages.join(tokio::time::Instant::now() + grace).await;
        self.pool.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// The keyring and the registry (mirrors of `api_keys` and `agents`), the failed-auth limiter,
/// and the gatekeeper that puts them on the request path.
fn access_control(
    pool: &sqlx::PgPool,
    settings: &Settings,
    schema: &Schema,
    metrics: &Metrics,
    stop: &CancellationToken,
    stages: &mut Stages,
) -> Gatekeeper {
    let (keyring, keyring_stage) =
        auth::spawn(pool.clone(), settings, schema.clone(), stop.clone());
    let (registry, registry_stage) =
        Registry::spawn(pool.clone(), settings, schema.clone(), stop.clone());
    stages.push(keyring_stage).push(registry_stage);
    let limits = &settings.rate_limit;
    let clients = limits
        .failed_auth_per_client
        .map(|rate| ClientLimiter::new(rate, limits.max_tracked_clients));
    if let Some(clients) = &clients {
        stages.push(clients.spawn_sweeper(CLIENT_SWEEP, stop.clone()));
    }
    Gatekeeper {
        keyring,
        registry,
        required: settings.auth.required,
        clients,
        metrics: metrics.clone(),
        client_address: settings.privacy.client_address,
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let bind_error = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    Ok((listener, port))
}
