//! `vos-agent-demo`: the demo agent (see `vos_agent::demo`). Exits 0 after draining on
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "A demo VOS agent: echo, weather (with a tool), fail; payload sleep_ms"
)]
struct Cli {
    /// The agent id; the queue consumed is `{agent_id}_queue`.
    #[arg(long, env = "VOS_AGENT_ID")]
    agent_id: String,
    /// Prefetch and most notifications handled at once.
    #[arg(long, default_value_t = 8, env = "VOS_AGENT_CAPACITY")]
    capacity: u16,
    /// Attempts before a notification is dead-lettered.
    #[arg(long, default_value_t = 3, env = "VOS_AGENT_MAX_ATTEMPTS")]
    max_attempts: u32,
    /// Serve Prometheus `GET /metrics` here, e.g. 127.0.0.1:9464.
    #[arg(long, env = "VOS_AGENT_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// The broker.
    #[arg(long, env = "AMQP_URL", default_value = vos_agent::DEFAULT_AMQP_URL, hide_env_values = true)]
    amqp_url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the runtime: the OTLP HTTP exporter's blocking client must not be built on it.
    let telemetry = match vos_agent::telemetry::init(&cli.agent_id) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("vos-agent-demo: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let code = runtime.block_on(run(cli));
    drop(runtime);
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> ExitCode {
    let mut builder = vos_agent::Agent::builder(&cli.agent_id)
        .amqp_url(cli.amqp_url)
        .capacity(cli.capacity)
        .max_attempts(cli.max_attempts)
        .handler(vos_agent::demo::handle);
    if let Some(addr) = cli.metrics_addr {
        builder = builder.metrics_addr(addr);
    }
    let agent = match builder.build() {
        Ok(agent) => agent,
        Err(error) => {
            eprintln!("vos-agent-demo: {error}");
            return ExitCode::from(2);
        }
    };
    match agent.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vos-agent-demo: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
