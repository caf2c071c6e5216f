//! The report's statements: each adds up the rolled buckets' figures and those of the rest of
//! the window's rows (docs/analytics.md "Rollups").

use super::super::{
    BUCKET_ORIGIN,
    rollup::sql,
    scope,
    split::{self, ROLLED},
};
use super::{TOOLS_TOP, TOP};

/// The report's statements, by name; each takes `$1`, `$2` (the period), `$3` (the scope)
/// and `$4`, `$5` (the split), and adds up the rolled buckets' figures and those of the rest
/// of the window's rows.
pub(in crate::analytics) fn statements() -> [(&'static str, String); 6] {
    let busy = "coalesce(sum(extract(epoch from completed_at - started_at)::float8 * 1000), 0)";
    let in_scope = scope::condition("$3");
    let rolled = |table: &str, select: &str, rest: &str| {
        format!("select {select} from {table} where {ROLLED} and {in_scope} {rest}")
    };
    let totals = [
        ("accepted", "true"),
        ("published", "status = 'published'"),
        ("pending", "status = 'pending'"),
        ("undelivered", "status = 'failed'"),
        ("answered", "outcome is not null"),
        ("completed", "outcome = 'completed'"),
        ("failed", "outcome = 'failed'"),
    ];
    let list = |f: &dyn Fn(&str, &str) -> String| {
        let items: Vec<String> = totals.iter().map(|(name, cond)| f(name, cond)).collect();
        items.join(", ")
    };
    [
        (
            "totals",
            format!(
                "select {} from ({} union all {}) parts",
                list(&|name, _| format!("coalesce(sum({name}), 0)::bigint as {name}")),
                rolled(
                    "rollup_journeys",
                    &list(&|name, cond| format!("sum(journeys) filter (where {cond}) as {name}")),
                    ""
                ),
                window(
                    "accepted_at",
                    &list(&|_, cond| format!("count(*) filter (where {cond})")),
                    "",
                    ""
                ),
            ),
        ),
        (
            "busiest_agents",
            format!(
                "select agent_id, sum(results)::bigint as results, sum(busy_ms) as busy_ms \
                 from ({} union all {}) parts \
                 group by 1 order by busy_ms desc, results desc, agent_id limit {TOP}",
                rolled(
                    "rollup_results",
                    "agent_id, results, work_ms as busy_ms",
                    ""
                ),
                window(
                    "result_recorded_at",
                    &format!("agent_id collate \"C\", count(*), {busy}"),
                    "",
                    "group by 1"
                ),
            ),
        ),
        (
            "notification_types",
            format!(
                "select notification_type, sum(count)::bigint as count \
                 from ({} union all {}) parts \
                 group by 1 order by count desc, notification_type limit {TOP}",
                rolled(
                    "rollup_journeys",
                    "notification_type, sum(journeys) as count",
                    "group by 1"
                ),
                window(
                    "accepted_at",
                    "notification_type collate \"C\", count(*)",
                    "",
                    "group by 1"
                ),
            ),
        ),
        (
            "tools",
            // Per tool and agent first, then per tool: a hash aggregate each, where
            // `count(distinct agent_id)` would sort every call.
            format!(
                "select tool, sum(calls)::bigint as calls, sum(errors)::bigint as errors, \
                     count(*) as agents \
                 from (select tool, agent_id, sum(calls) as calls, sum(errors) as errors \
                       from ({} union all {}) parts \
                       group by 1, 2) per_agent \
                 group by tool order by calls desc, tool limit {TOOLS_TOP}",
                rolled("rollup_tools", "tool, agent_id, calls, errors", ""),
                window(
                    "result_recorded_at",
                    "t.item ->> 'name' collate \"C\", n.agent_id collate \"C\", count(*), \
                     count(*) filter (where t.item ->> 'status' = 'error')",
                    &format!("cross join lateral {}", sql::elements("tools")),
                    "and t.item ->> 'name' is not null group by 1, 2",
                )
            ),
        ),
        (
            "llm",
            format!(
                "select model, sum(calls)::bigint as calls, \
                     sum(input_tokens)::bigint as input_tokens, \
                     sum(output_tokens)::bigint as output_tokens \
                 from ({} union all {}) parts \
                 group by 1 order by calls desc, model limit {TOOLS_TOP}",
                rolled(
                    "rollup_models",
                    "model, calls, input_tokens, output_tokens",
                    ""
                ),
                window(
                    "result_recorded_at",
                    &format!(
                        "coalesce(t.item ->> 'model', '?') collate \"C\", count(*), {}, {}",
                        sql::tokens("input_tokens"),
                        sql::tokens("output_tokens")
                    ),
                    &format!("cross join lateral {}", sql::elements("llm")),
                    "group by 1",
                ),
            ),
        ),
        (
            "peak_hours",
            format!(
                "select hour, sum(accepted)::bigint as accepted \
                 from ({} union all {}) parts \
                 group by 1 order by 1",
                rolled(
                    "rollup_journeys",
                    &format!(
                        "{} as hour, sum(journeys) as accepted",
                        hour("bucket_start")
                    ),
                    "group by 1"
                ),
                window(
                    "accepted_at",
                    &format!("{}, count(*)", hour("accepted_at")),
                    "",
                    "group by 1"
                ),
            ),
        ),
    ]
}

/// The hour `column` is in.
fn hour(column: &str) -> String {
    format!("date_bin(interval '1 hour', {column}, {BUCKET_ORIGIN})")
}

/// `select {select} from notifications n {join} where {column} is in the period but not in
/// the rolled buckets, and in scope {rest}`.
fn window(column: &str, select: &str, join: &str, rest: &str) -> String {
    format!(
        "select {select} from notifications n {join} where {} and {} {rest}",
        split::raw(&format!("n.{column}")),
        scope::condition("$3")
    )
}
