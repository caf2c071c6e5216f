//! Every analysis statement reads `notifications` through an index, never a sequential scan,
//! on a table big enough (and analysed) for the planner to prefer a scan if it could, with
//! and without rollups.

use std::time::Duration;

use serde_json::Value;
use vos_gateway::{
    analytics::{AgentScope, Period, plans, rollup},
    auth::Principal,
};

use crate::helpers::TestApp;

/// Nodes of a plan (the `Plan` tree of `EXPLAIN (FORMAT JSON)`) that scan `notifications`,
/// as their node types.
fn scans_of_notifications(plan: &Value, found: &mut Vec<String>) {
    if plan["Relation Name"] == "notifications" {
        found.push(plan["Node Type"].as_str().unwrap_or("?").to_owned());
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans_of_notifications(child, found);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_analysis_reads_notifications_through_an_index_for_an_hour_and_a_day() {
    // Arrange: a week of 200,000 journeys in acceptance order, half of them answered, analysed.
    let app = TestApp::spawn().await;
    sqlx::query(
        "insert into notifications (notification_id, agent_id, notification_type, source, \
             payload, correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, \
             next_attempt_at, published_at, outcome, tools, llm, started_at, completed_at, \
             result_recorded_at) \
         select gen_random_uuid(), 'agent_' || (g % 20), 'type_' || (g % 7), 's', '{}', 'c', \
             '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', true, 'published', at, \
             at, at, o, case when o is null then null else '[{\"name\":\"t\"}]'::json end, \
             case when o is null then null else '[]'::json end, \
             case when o is null then null else at end, \
             case when o is null then null else at + interval '50 ms' end, \
             case when o is null then null else at + interval '80 ms' end \
         from generate_series(1, 200000) g, \
             lateral (select now() - (200001 - g) * interval '3 seconds' as at, \
                 case when g % 2 = 0 then 'completed' end as o) j",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("analyze notifications")
        .execute(&app.db)
        .await
        .unwrap();
    let scoped = AgentScope::of(&Principal::Unrestricted);
    let windows = [3600, 86_400].map(|s| Period::last(Duration::from_secs(s)));

    // Once from the rows only, then rolled up: the rest of each window still through an index.
    for rolled in [false, true] {
        if rolled {
            rollup::catch_up(&app.db, None).await.unwrap();
            sqlx::query("analyze").execute(&app.db).await.unwrap();
        }
        check_plans(&app, &scoped, windows).await;
    }
}

async fn check_plans(app: &TestApp, scoped: &AgentScope, windows: [Period; 2]) {
    for statement in plans::statements() {
        for period in windows {
            // Act
            let plan = plans::explain(&app.db, &statement, scoped, period)
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", statement.name));

            // Assert
            let mut scans = Vec::new();
            scans_of_notifications(&plan[0]["Plan"], &mut scans);
            assert!(!scans.is_empty(), "{}: {plan}", statement.name);
            assert!(
                scans.iter().all(|node| node != "Seq Scan"),
                "{} over {:?}: {scans:?}\n{plan}",
                statement.name,
                period.length()
            );
        }
    }
}
