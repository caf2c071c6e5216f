//! Registering agents: only an admin may, it declares the queue (then and only then) with the
//! requested type, it is idempotent, and a queue the agent declared itself is used as it is.

use lapin::{
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable},
};
use reqwest::Method;
use serde_json::{Value, json};

use vos_gateway::domain::QueueType;

use crate::helpers::{
    Broker, TestApp, default_queue_type, notification_body, problem, queue_type_on_broker,
    test_settings,
};

pub async fn put_agent(app: &TestApp, agent: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.request(Method::PUT, &format!("/api/v1/agents/{agent}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Whether a durable declare of `queue` with `argument` succeeds, i.e. is equivalent to how
/// the queue exists (or creates it).
async fn declares_with(broker: &Broker, queue: &str, argument: (&str, AMQPValue)) -> bool {
    let channel = broker.fresh_channel().await;
    let mut arguments = FieldTable::default();
    arguments.insert(argument.0.into(), argument.1);
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .is_ok()
}

fn quorum() -> (&'static str, AMQPValue) {
    ("x-queue-type", AMQPValue::LongString("quorum".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_declares_the_queue_and_registering_again_answers_200() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let queue = format!("{agent}_queue");
    assert_eq!(broker.queue_state(&queue).await, None);

    // Act
    let first = put_agent(&app, &agent, Some(json!({ "description": "forecasts" }))).await;
    let again = put_agent(&app, &agent, None).await;

    // Assert
    assert_eq!((first.0, again.0), (201, 200), "{first:?} {again:?}");
    let view = first.1;
    assert_eq!(view["agent_id"], agent.as_str());
    assert_eq!(view["description"], "forecasts");
    assert_eq!(view["queue"], queue.as_str());
    assert_eq!(view["queue_type"], default_queue_type());
    assert_eq!(view["queue_exists"], true);
    assert_eq!(
        (&view["up"], &view["consumers"]),
        (&json!(false), &json!(0))
    );
    assert_eq!(
        (&view["queue_depth"], &view["backlog"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(broker.queue_state(&queue).await, Some((0, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_agent_gets_a_quorum_queue() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let (quorum_agent, classic) = (app.unregistered_agent(), app.unregistered_agent());

    // Act
    let (status, view) =
        put_agent(&app, &quorum_agent, Some(json!({ "queue_type": "quorum" }))).await;
    let (classic_status, _) =
        put_agent(&app, &classic, Some(json!({ "queue_type": "classic" }))).await;

    // Assert: only a quorum queue accepts a quorum declare as equivalent.
    assert_eq!((status, classic_status), (201, 201), "{view}");
    assert_eq!(view["queue_type"], "quorum");
    assert!(declares_with(&broker, &format!("{quorum_agent}_queue"), quorum()).await);
    assert!(!declares_with(&broker, &format!("{classic}_queue"), quorum()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_the_agent_declared_itself_is_used_as_it_is() {
    // Arrange: the agent declared its queue first, with a length limit unknown to the gateway.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let queue = format!("{agent}_queue");
    let limit = ("x-max-length", AMQPValue::LongLongInt(1000));
    assert!(declares_with(&broker, &queue, limit.clone()).await);

    // Act
    let (status, view) = put_agent(&app, &agent, None).await;
    let accepted = app.accept(&agent).await;
    let message = broker
        .next_message(&queue, std::time::Duration::from_secs(10))
        .await;

    // Assert: registered, notified through the queue as it was, which kept its arguments.
    assert_eq!(status, 201, "{view}");
    let body: Value = serde_json::from_slice(&message.expect("delivered").delivery.data).unwrap();
    assert_eq!(body["notification_id"], accepted["notification_id"]);
    assert!(
        declares_with(&broker, &queue, limit).await,
        "the queue was redeclared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_key_registers_or_unregisters_agents() {
    // Arrange: a key that may notify and read every agent, but is no admin.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let (registered, new) = (app.agent().await, app.unregistered_agent());
    let key = json!({ "name": "operator", "scopes": ["notify", "read"] });
    let operator = app.with_key(&app.create_key(key).await);

    // Act
    let register = operator
        .request(Method::PUT, &format!("/api/v1/agents/{new}"))
        .send()
        .await
        .unwrap();
    let unregister = operator
        .request(Method::DELETE, &format!("/api/v1/agents/{registered}"))
        .send()
        .await
        .unwrap();

    // Assert: refused, and nothing declared or unregistered.
    for response in [register, unregister] {
        let (status, _, body) = problem(response).await;
        assert_eq!(
            (status.as_u16(), &body["type"]),
            (403, &json!("urn:vos:problem:forbidden"))
        );
    }
    assert_eq!(broker.queue_state(&format!("{new}_queue")).await, None);
    assert_eq!(
        operator
            .notify(&registered, &notification_body())
            .await
            .status(),
        202
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_without_a_queue_type_gets_the_configured_default() {
    for (default, other) in [
        (QueueType::Quorum, QueueType::Classic),
        (QueueType::Classic, QueueType::Quorum),
    ] {
        // Arrange: a gateway whose `[amqp] queue_type` is `default`.
        let mut settings = test_settings();
        settings.amqp.queue_type = default;
        let app = TestApp::spawn_with(settings, true).await;
        let broker = Broker::connect().await;
        let (bare, described) = (app.unregistered_agent(), app.unregistered_agent());

        // Act: no body, and a body without `queue_type`.
        let (bare_status, bare_view) = put_agent(&app, &bare, None).await;
        let (described_status, described_view) =
            put_agent(&app, &described, Some(json!({ "description": "no type" }))).await;

        // Assert: registered with the default, and the broker has queues of that type
        // (declaring one with the other type's arguments is refused: 406).
        assert_eq!((bare_status, described_status), (201, 201), "{bare_view}");
        for (agent, view) in [(&bare, &bare_view), (&described, &described_view)] {
            let queue = format!("{agent}_queue");
            assert_eq!(view["queue_type"], default.as_str(), "{view}");
            assert_eq!(
                queue_type_on_broker(&queue).await.as_deref(),
                Some(default.as_str()),
                "{queue}"
            );
            let channel = broker.fresh_channel().await;
            let refused = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions::durable(),
                    arguments_of(other),
                )
                .await
                .expect_err("a declare with the other type's arguments");
            assert!(
                refused.to_string().contains("PRECONDITION_FAILED"),
                "{refused}"
            );
        }

        // Act: a gateway whose default is the other type registers the agent again, without
        // a type, and then with one.
        let sibling = app
            .spawn_sibling(|settings| settings.amqp.queue_type = other)
            .await;
        let (again_status, again) = put_agent(&sibling, &bare, None).await;
        let new = sibling.unregistered_agent();
        let (new_status, new_view) = put_agent(&sibling, &new, None).await;

        // Assert: the registered type stays (the queue could not change anyway); a new agent
        // gets the sibling's default.
        assert_eq!((again_status, new_status), (200, 201), "{again} {new_view}");
        assert_eq!(again["queue_type"], default.as_str(), "{again}");
        assert_eq!(new_view["queue_type"], other.as_str(), "{new_view}");
    }
}

/// Arguments that ask for a queue of this type explicitly (the gateway declares a classic
/// queue with none, which some brokers accept for an existing quorum queue).
fn arguments_of(queue_type: QueueType) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(queue_type.as_str().into()),
    );
    arguments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_declare_of_a_quorum_queue_is_refused_so_agents_that_declare_so_register_classic() {
    // Arrange: a quorum queue, as a registration makes it.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.unregistered_agent();
    let queue = format!("{agent}_queue");
    let (status, view) = put_agent(&app, &agent, Some(json!({ "queue_type": "quorum" }))).await;
    assert_eq!(status, 201, "{view}");

    // Act: what an agent built from the seed does at start: durable, no arguments.
    let plain = broker
        .fresh_channel()
        .await
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await;

    // Assert: RabbitMQ 3.10 refuses it (406), so such an agent cannot start against a
    // quorum queue; the gateway's own declare falls back to passive and keeps publishing.
    let refused = plain.expect_err("a plain declare of a quorum queue");
    assert!(
        refused.to_string().contains("PRECONDITION_FAILED"),
        "{refused}"
    );
    let accepted = app.accept(&agent).await;
    let message = broker
        .next_message(&queue, std::time::Duration::from_secs(10))
        .await;
    let body: Value = serde_json::from_slice(&message.expect("delivered").delivery.data).unwrap();
    assert_eq!(body["notification_id"], accepted["notification_id"]);
}
