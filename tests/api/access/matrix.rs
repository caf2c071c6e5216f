//! The authorization matrix: every kind of caller against every kind of operation, with the
//! status each must get, and nothing stored or published on any refusal.

use std::fmt::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Broker, TestApp, admin_key, issue_key, malformed_key, mistyped, notification_body,
    notification_count, revoke_key, test_settings, unknown_key,
};

#[derive(Debug, Clone, Copy)]
enum Caller {
    NoKey,
    Malformed,
    BadChecksum,
    Unknown,
    Revoked,
    WrongScope,
    OtherAgentsKey,
    RightKey,
}

/// Rows: callers; columns: notify, status, agents, keys.
const OPERATIONS: [&str; 4] = ["notify", "status", "agents", "keys"];
const EXPECTED: [(Caller, [u16; 4]); 8] = [
    (Caller::NoKey, [401, 401, 401, 401]),
    (Caller::Malformed, [401, 401, 401, 401]),
    (Caller::BadChecksum, [401, 401, 401, 401]),
    (Caller::Unknown, [401, 401, 401, 401]),
    (Caller::Revoked, [401, 401, 401, 401]),
    (Caller::WrongScope, [403, 403, 403, 403]),
    // Outside its agents a key learns nothing (404); the keys API needs admin (403).
    (Caller::OtherAgentsKey, [404, 404, 404, 403]),
    (Caller::RightKey, [202, 200, 200, 200]),
];

/// The keys the matrix uses, issued by the admin.
struct Keys {
    notify: String,
    read: String,
    notify_and_read: String,
    other_agents: String,
    revoked: String,
}

impl Keys {
    /// The `Authorization` key `caller` sends for operation `op` (an index into OPERATIONS).
    fn of(&self, caller: Caller, op: usize) -> Option<String> {
        Some(match caller {
            Caller::NoKey => return None,
            Caller::Malformed => malformed_key(),
            Caller::BadChecksum => mistyped(&self.notify_and_read),
            Caller::Unknown => unknown_key(),
            Caller::Revoked => self.revoked.clone(),
            // Every scope but the one the operation needs.
            Caller::WrongScope => match op {
                0 => self.read.clone(),
                1 | 2 => self.notify.clone(),
                _ => self.notify_and_read.clone(),
            },
            Caller::OtherAgentsKey => self.other_agents.clone(),
            Caller::RightKey => match op {
                0 => self.notify.clone(),
                1 | 2 => self.read.clone(),
                _ => admin_key().to_owned(),
            },
        })
    }
}

/// A key request for `scopes` on the agents `pattern` matches.
fn grant(scopes: Value, pattern: &str) -> Value {
    json!({ "name": "matrix", "scopes": scopes, "agents": [pattern] })
}

/// The problem type a refusal of `op` with `status` carries.
fn slug(status: u16, op: usize) -> Option<&'static str> {
    match (status, op) {
        (401, _) => Some("unauthorized"),
        (403, _) => Some("forbidden"),
        (404, 1) => Some("notification-not-found"),
        (404, _) => Some("agent-not-found"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_holds_and_no_refusal_stores_or_publishes_anything() {
    // Arrange: two agents, a notification for the first one published, a key of every kind.
    let mut settings = test_settings();
    // 20 failed authentications from one address in a moment: not what this test is about.
    settings.rate_limit.failed_auth_per_client = None;
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let (agent, other) = (app.agent().await, app.agent().await);
    let queue = format!("{agent}_queue");
    let stored = app.accept_published(&agent).await;
    let revoked = issue_key(&app, grant(json!(["admin"]), "*")).await;
    revoke_key(&app, revoked["key_id"].as_str().unwrap()).await;
    let keys = Keys {
        notify: app.create_key(grant(json!(["notify"]), &agent)).await,
        read: app.create_key(grant(json!(["read"]), &agent)).await,
        notify_and_read: app
            .create_key(grant(json!(["notify", "read"]), &agent))
            .await,
        other_agents: app
            .create_key(grant(json!(["notify", "read"]), &other))
            .await,
        revoked: revoked["key"].as_str().unwrap().to_owned(),
    };
    let paths = [
        format!("/api/v1/agents/{agent}/notify"),
        format!(
            "/api/v1/notifications/{}",
            stored["notification_id"].as_str().unwrap()
        ),
        format!("/api/v1/agents/{agent}"),
        "/api/v1/keys".to_owned(),
    ];

    // Act: every cell, noting what it answered and what it changed.
    let mut table = format!("{:<18}", "caller");
    for op in OPERATIONS {
        write!(table, " {op:<16}").unwrap();
    }
    table.push('\n');
    let mut failures = 0;
    for (caller, expected) in EXPECTED {
        write!(table, "{:<18}", format!("{caller:?}")).unwrap();
        for (op, path) in paths.iter().enumerate() {
            let rows_before = notification_count(&app.db).await;
            let depth_before = broker.queue_depth(&queue).await;
            let client = match keys.of(caller, op) {
                Some(key) => app.with_key(&key),
                None => app.anonymous(),
            };
            let request = match op {
                0 => client
                    .request(Method::POST, path)
                    .json(&notification_body()),
                _ => client.request(Method::GET, path),
            };
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let challenge = response.headers().get("www-authenticate").cloned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == 202 {
                let id = body["notification_id"].as_str().unwrap();
                app.wait_published(id, std::time::Duration::from_secs(10))
                    .await;
            }
            let wrote = notification_count(&app.db).await != rows_before
                || broker.queue_depth(&queue).await != depth_before;

            // Assert (collected, so that the whole matrix is printed on failure).
            let mut problems = Vec::new();
            if status != expected[op] {
                problems.push(format!("expected {}", expected[op]));
            }
            if let Some(slug) = slug(expected[op], op)
                && body["type"] != format!("urn:vos:problem:{slug}")
            {
                problems.push(format!("type {}", body["type"]));
            }
            let bearer = challenge.is_some_and(|c| c.to_str().unwrap().starts_with("Bearer"));
            if expected[op] == 401 && !bearer {
                problems.push("no Bearer challenge".into());
            }
            if expected[op] >= 400 && wrote {
                problems.push("wrote".into());
            }
            failures += problems.len();
            let cell = match problems.is_empty() {
                true => format!("{status} ok"),
                false => format!("{status} ({})", problems.join(", ")),
            };
            write!(table, " {cell:<16}").unwrap();
        }
        table.push('\n');
    }

    // Assert
    println!("{table}");
    assert_eq!(failures, 0, "authorization matrix:\n{table}");
}
