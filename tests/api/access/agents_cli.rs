//! `vos-gateway agents register|list`: straight against the database, so a deployment can set
//! its agents up before any admin key is at hand; running gateways pick the change up.

use std::time::Duration;

use crate::helpers::{GatewayProcess, TestDatabase, amqp_url, gateway_command, notification_body};

use super::keys_cli::text;

/// Runs `vos-gateway agents <args>` against `database_url`, off the async runtime.
async fn agents_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    let mut command = gateway_command();
    command
        .arg("agents")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url());
    tokio::task::spawn_blocking(move || command.output().expect("vos-gateway agents"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_register_lets_a_running_gateway_accept_notifications_for_the_agent() {
    // Arrange: a running gateway that knows no agent yet.
    let database = TestDatabase::new();
    let gateway = GatewayProcess::builder()
        .database_url(&database.url)
        .start()
        .await;
    let agent = format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let before = gateway.notify(&agent, &notification_body()).await;

    // Act
    let registered = agents_cli(
        &database.url,
        &["register", &agent, "--description", "from the CLI"],
    )
    .await;
    let listed = agents_cli(&database.url, &["list"]).await;
    let invalid = agents_cli(&database.url, &["register", "no spaces allowed"]).await;

    // Assert
    assert_eq!(before.status(), 404);
    let (_, stderr) = text(&registered);
    assert!(registered.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("registered {agent} (classic queue {agent}_queue)")));
    assert!(text(&listed).0.contains(&agent));
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        text(&invalid).1.contains("agent_id"),
        "{}",
        text(&invalid).1
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let after = gateway.notify(&agent, &notification_body()).await;
        if after.status() == 202 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {} 10 s after registration",
            after.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    crate::helpers::Broker::connect()
        .await
        .delete_queue(&format!("{agent}_queue"))
        .await;
}
