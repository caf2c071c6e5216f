//! Revocation takes effect on every replica within 1 s, whoever writes it: an HTTP call to
//! another replica, or the CLI. The replicas run with the shipped `[auth] refresh_interval`.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use vos_gateway::config::Settings;

use super::keys_cli::{keys_cli, text};
use crate::helpers::{GatewayClient, GatewayProcess, TestDatabase, issue_key, revoke_key};

/// The requirement.
const WITHIN: Duration = Duration::from_secs(1);

/// A gateway process on `database_url`, polling for key changes as often as it ships to.
async fn replica(database_url: &str) -> GatewayProcess {
    let shipped = Settings::load(None)
        .expect("defaults")
        .auth
        .refresh_interval;
    GatewayProcess::builder()
        .database_url(database_url)
        .env(
            "VOS__AUTH__REFRESH_INTERVAL",
            &format!("{}ms", shipped.as_millis()),
        )
        .start()
        .await
}

/// Polls a read-only call with `client`'s key until it answers `status`; how long that took
/// from `since`. Panics after 10 s.
async fn answers(client: &GatewayClient, status: u16, since: Instant) -> Duration {
    loop {
        let answered = client.get("/api/v1/agents").await.unwrap().status();
        if answered == status {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "still {answered}, not {status}, after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_is_refused_by_the_other_within_a_second() {
    // Arrange: two replicas on one database; a key both accept.
    let database = TestDatabase::new();
    let first = replica(&database.url).await;
    let second = replica(&database.url).await;
    let created = issue_key(&first, json!({ "name": "shared", "scopes": ["read"] })).await;
    let key = created["key"].as_str().unwrap();
    answers(&second.with_key(key), 200, Instant::now()).await;

    // Act
    let revoked_at = Instant::now();
    revoke_key(&first, created["key_id"].as_str().unwrap()).await;
    let on_first = answers(&first.with_key(key), 401, revoked_at).await;
    let on_second = answers(&second.with_key(key), 401, revoked_at).await;

    // Assert
    assert!(
        on_first < WITHIN,
        "the replica that revoked took {on_first:?}"
    );
    assert!(on_second < WITHIN, "the other replica took {on_second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_with_the_cli_is_refused_by_a_running_gateway_within_a_second() {
    // Arrange: a running gateway, and a key the CLI created behind its back.
    let database = TestDatabase::new();
    let gateway = replica(&database.url).await;
    let created = keys_cli(
        &database.url,
        &["create", "--name", "cli", "--scope", "read"],
    )
    .await;
    let key = text(&created).0.trim().to_owned();
    answers(&gateway.with_key(&key), 200, Instant::now()).await;

    // Act: the CLI revokes it by its prefix; the clock starts when the CLI has finished.
    let revoked = keys_cli(&database.url, &["revoke", &key[..12]]).await;
    let revoked_at = Instant::now();
    assert!(revoked.status.success(), "{}", text(&revoked).1);
    let refused_after = answers(&gateway.with_key(&key), 401, revoked_at).await;

    // Assert
    assert!(refused_after < WITHIN, "the gateway took {refused_after:?}");
}
