//! The demo agent (`vos-agent-demo`, from the `agent` crate) as a child process, for the
//! journey tests: the real runtime consuming the queue a gateway publishes to, to be killed,
//! terminated or run twice. Dropping an [`AgentProcess`] kills it if it still runs.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::Mutex,
    time::Duration,
};

use super::{amqp_url, output::Output};

/// How long a graceful stop may take: the runtime drains in-flight work first.
const EXIT_WITHIN: Duration = Duration::from_secs(40);

/// The demo binary beside this test binary (`target/<profile>/vos-agent-demo`). `cargo test`
/// builds it with the workspace; `cargo test -p vos-gateway` does not, so it is built here
/// once when missing.
fn demo_binary() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/api-… → target/<profile>/vos-agent-demo
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("vos-agent-demo");
    let mut built = BUILT.lock().unwrap();
    if !*built && !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "vos-agent", "--bin", "vos-agent-demo"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building vos-agent-demo failed");
    }
    *built = true;
    binary
}

pub struct AgentProcess {
    child: Child,
    output: Output,
}

impl AgentProcess {
    /// `vos-agent-demo --agent-id AGENT` with extra `args` and `env`, and only those: the
    /// test's own `OTEL_*` or `AMQP_URL` do not leak in.
    pub fn start(agent: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(demo_binary());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("VOS") || name.starts_with("OTEL_") || name == "AMQP_URL" {
                command.env_remove(&*name);
            }
        }
        command
            .args(["--agent-id", agent])
            .args(args)
            .env("AMQP_URL", amqp_url())
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let (child, output) = Output::spawn(command, false);
        Self { child, output }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
    }

    /// SIGKILL: no drain, no acknowledgements; the broker takes back what it had delivered.
    pub async fn kill(mut self) {
        self.signal("KILL");
        self.wait_exit().await;
    }

    /// SIGTERM: the runtime stops consuming, finishes in-flight work, and exits.
    pub async fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.signal("TERM");
        let status = self.wait_exit().await;
        let (stdout, _) = self.output.finish();
        (status, stdout)
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + EXIT_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("the agent's exit status") {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the agent did not exit within {EXIT_WITHIN:?}{}",
                    self.output.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
