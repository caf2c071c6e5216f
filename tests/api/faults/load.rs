//! A load generator: N tasks post notifications continuously, each carrying a payload number
//! unique in the run, and record every attempt with its timing and outcome. The payload
//! number identifies a request even when its answer never arrived (the gateway was killed),
//! so the ledger can find what such a request left in Postgres and RabbitMQ.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use reqwest::{StatusCode, header};
use serde_json::Value;
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

use super::report::{Attempt, LoadReport, Outcome};
use crate::helpers::{GatewayClient, numbered_notification};

/// Far beyond any deadline of the gateway: a request this slow is a hang.
const HANG: Duration = Duration::from_secs(15);

/// What to post, where, and how hard.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Task `i` posts to `targets[i % targets.len()]`.
    pub targets: Vec<GatewayClient>,
    pub agent: String,
    pub tasks: usize,
    /// Pause between two requests of one task.
    pub pause: Duration,
    /// Hard bound on the run, whatever the test does.
    pub limit: Duration,
    /// After a failure (503, or no answer) post the same payload number again, as a client
    /// without an idempotency key would.
    pub retry: bool,
}

impl Plan {
    pub fn new(targets: &[&GatewayClient], agent: &str) -> Self {
        Self {
            targets: targets.iter().map(|&target| target.clone()).collect(),
            agent: agent.to_owned(),
            tasks: 4,
            pause: Duration::from_millis(10),
            limit: Duration::from_secs(25),
            retry: true,
        }
    }

    /// Never posts a payload number again after a failure.
    pub fn without_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

/// A running load.
pub struct Load {
    stop: CancellationToken,
    accepted: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Attempt>>>,
}

impl Load {
    pub fn start(plan: Plan) -> Self {
        let stop = CancellationToken::new();
        let accepted = Arc::new(AtomicUsize::new(0));
        let numbers = Arc::new(AtomicI64::new(0));
        let until = Instant::now() + plan.limit;
        let tasks = (0..plan.tasks)
            .map(|task| {
                let worker = Worker {
                    target: plan.targets[task % plan.targets.len()].clone(),
                    plan: plan.clone(),
                    stop: stop.clone(),
                    accepted: accepted.clone(),
                    numbers: numbers.clone(),
                    until,
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Self {
            stop,
            accepted,
            tasks,
        }
    }

    /// 202s so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `more` further requests have been accepted.
    pub async fn wait_accepted(&self, more: usize, within: Duration) {
        let target = self.accepted() + more;
        let deadline = Instant::now() + within;
        while self.accepted() < target {
            assert!(
                Instant::now() < deadline,
                "the load got {} of {target} 202s within {within:?}",
                self.accepted()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops posting, lets requests in flight finish, and returns every attempt.
    pub async fn stop(self) -> LoadReport {
        self.stop.cancel();
        let mut attempts = Vec::new();
        for task in self.tasks {
            attempts.extend(task.await.expect("load task"));
        }
        attempts.sort_by_key(|attempt| attempt.started);
        LoadReport { attempts }
    }
}

struct Worker {
    target: GatewayClient,
    plan: Plan,
    stop: CancellationToken,
    accepted: Arc<AtomicUsize>,
    numbers: Arc<AtomicI64>,
    until: Instant,
}

impl Worker {
    async fn run(self) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        let mut retrying = None;
        while !self.stop.is_cancelled() && Instant::now() < self.until {
            let n = retrying
                .take()
                .unwrap_or_else(|| self.numbers.fetch_add(1, Ordering::SeqCst));
            let attempt = self.post(n).await;
            let failed = matches!(
                attempt.outcome,
                Outcome::NoAnswer { .. } | Outcome::Refused { status: 503, .. }
            );
            if attempt.is_accepted() {
                self.accepted.fetch_add(1, Ordering::SeqCst);
            }
            attempts.push(attempt);
            if failed && self.plan.retry {
                retrying = Some(n);
            }
            // After a failure, back off a little so a dead gateway is not hammered.
            let pause = if failed {
                self.plan.pause.max(Duration::from_millis(50))
            } else {
                self.plan.pause
            };
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        attempts
    }

    async fn post(&self, n: i64) -> Attempt {
        let request = self
            .target
            .notify_request(&self.plan.agent)
            .timeout(HANG)
            .json(&numbered_notification(n));
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                match response.json::<Value>().await {
                    Ok(accepted) => Outcome::Accepted(
                        accepted["notification_id"]
                            .as_str()
                            .and_then(|id| id.parse().ok())
                            .expect("a 202 carries the notification id"),
                    ),
                    // The head arrived, the body did not: the client cannot know the id.
                    Err(error) => Outcome::NoAnswer {
                        connect: false,
                        timeout: error.is_timeout(),
                    },
                }
            }
            Ok(response) => {
                let headers = response.headers();
                let outcome = Outcome::Refused {
                    status: response.status().as_u16(),
                    problem_json: headers
                        .get(header::CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes() == b"application/problem+json"),
                    retry_after: headers.contains_key(header::RETRY_AFTER),
                };
                let body = response.bytes().await.unwrap_or_default();
                if std::env::var_os("TEST_DEBUG_REFUSALS").is_some() {
                    eprintln!("refused: {}", String::from_utf8_lossy(&body));
                }
                outcome
            }
            Err(error) => Outcome::NoAnswer {
                connect: error.is_connect(),
                timeout: error.is_timeout(),
            },
        };
        Attempt {
            n,
            started,
            finished: Instant::now(),
            outcome,
        }
    }
}
