//! A key sees only its agents, in aggregates too; the analyses need the read scope.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    fixtures::{Journey, bucket_hours_ago, insert, minutes},
    get_json,
};
use crate::helpers::{TestApp, problem};

fn agents_in(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| row[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_for_some_agents_sees_only_their_figures_in_every_analysis_and_the_report() {
    // Arrange: a read key for `alpha_*`; `alphax` would match if `_` were a LIKE wildcard.
    let app = TestApp::spawn().await;
    let t = bucket_hours_ago(&app, 0).await - minutes(20);
    let journeys: Vec<Journey> = ["alpha_eu", "alpha_us", "alphax", "beta"]
        .iter()
        .map(|agent| Journey::answered(agent, t, 100).failed())
        .collect();
    insert(&app.db, &journeys).await;
    let key = app
        .create_key(json!({ "name": "alpha readers", "scopes": ["read"], "agents": ["alpha_*"] }))
        .await;
    let reader = app.with_key(&key);

    // Act
    let slow = get_json(&reader, "/api/v1/analytics/slow-operations?window=1h").await;
    let rates = get_json(&reader, "/api/v1/analytics/error-rates?window=1h").await;
    let flows = get_json(&reader, "/api/v1/analytics/message-flows?window=1h").await;
    let report = get_json(&reader, "/api/v1/reports/summary?since=1h").await;
    let everything = get_json(&app, "/api/v1/reports/summary?since=1h").await;

    // Assert
    let theirs: BTreeSet<String> = ["alpha_eu", "alpha_us"].map(String::from).into();
    assert_eq!(agents_in(&slow["operations"], "agent_id"), theirs);
    let mut services = theirs.clone();
    services.insert("vos-gateway".to_owned());
    assert_eq!(agents_in(&rates["windows"], "service"), services);
    let gateway_requests: i64 = rates["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["service"] == "vos-gateway")
        .map(|w| w["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(gateway_requests, 2, "only their notifications count");
    assert_eq!(flows["flows"].as_array().unwrap().len(), 2, "{flows}");
    assert_eq!(report["totals"]["accepted"], 2);
    assert_eq!(agents_in(&report["busiest_agents"], "agent_id"), theirs);
    assert_eq!(
        everything["totals"]["accepted"], 4,
        "an admin key sees every agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analyses_need_the_read_scope() {
    // Arrange
    let app = TestApp::spawn().await;
    let key = app
        .create_key(json!({ "name": "poster", "scopes": ["notify"], "agents": ["*"] }))
        .await;

    // Act
    let refused = app
        .with_key(&key)
        .get("/api/v1/analytics/anomalies")
        .await
        .unwrap();
    let anonymous = app
        .anonymous()
        .get("/api/v1/reports/summary")
        .await
        .unwrap();

    // Assert
    assert_eq!(problem(refused).await.0, 403);
    assert_eq!(problem(anonymous).await.0, 401);
}
