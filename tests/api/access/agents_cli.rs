//! `vos-gateway agents register|list`: straight against the database, so a deployment can set
//! its agents up before any admin key is at hand; running gateways pick the change up.

use std::time::Duration;

use crate::helpers::{
    GatewayProcess, TestDatabase, amqp_url, default_queue_type, gateway_command, notification_body,
    test_queue_type,
};

use super::keys_cli::text;

/// Runs `vos-gateway agents <args>` against `database_url`, off the async runtime.
async fn agents_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    agents_cli_with(database_url, test_queue_type(), args).await
}

/// [`agents_cli`] with `[amqp] queue_type` set (or left to its default).
async fn agents_cli_with(
    database_url: &str,
    queue_type: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut command = gateway_command();
    command
        .arg("agents")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url());
    if let Some(queue_type) = queue_type {
        command.env("VOS__AMQP__QUEUE_TYPE", queue_type);
    }
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
    let queue_type = default_queue_type();
    assert!(
        stderr.contains(&format!(
            "registered {agent} ({queue_type} queue {agent}_queue)"
        )),
        "{stderr}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_register_without_a_queue_type_uses_the_configured_default_and_keeps_an_existing_type()
 {
    // Arrange
    let database = TestDatabase::new();
    let (quorum, classic) = ("cli-default-quorum", "cli-default-classic");

    // Act: each default for a new agent; then the other default, and an explicit type.
    let new_quorum = agents_cli_with(&database.url, Some("quorum"), &["register", quorum]).await;
    let new_classic = agents_cli_with(&database.url, Some("classic"), &["register", classic]).await;
    let again = agents_cli_with(&database.url, Some("classic"), &["register", quorum]).await;
    let explicit = agents_cli_with(
        &database.url,
        Some("quorum"),
        &["register", classic, "--queue-type", "classic"],
    )
    .await;
    let changed = agents_cli_with(
        &database.url,
        Some("classic"),
        &["register", classic, "--queue-type", "quorum"],
    )
    .await;

    // Assert
    for (output, expected) in [
        (&new_quorum, format!("registered {quorum} (quorum queue")),
        (&new_classic, format!("registered {classic} (classic queue")),
        (&again, format!("updated {quorum} (quorum queue")),
        (&explicit, format!("updated {classic} (classic queue")),
        (&changed, format!("updated {classic} (quorum queue")),
    ] {
        let (_, stderr) = text(output);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
}
