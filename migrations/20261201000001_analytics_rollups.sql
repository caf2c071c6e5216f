-- Rollups (docs/analytics.md "Rollups"): per 5-minute bucket, what the analyses need of the
-- journeys in it, written by the gateway's rollup stage once a bucket has closed. An analysis
-- reads the whole buckets of its window from here and only the rest (the window's first
-- partial bucket and the last few minutes) from `notifications`: a day is ~300 buckets instead
-- of every journey of the day. Aggregates only: no ids, payloads, results or errors.
--
-- Group keys are `collate "C"`: the analyses group and sort by them, and byte order is what
-- they did on `notifications` too.

-- Results recorded in the bucket (`result_recorded_at`), per agent and notification type.
-- Written once: a result is recorded once, and the stage only rolls buckets that have closed.
create table rollup_results (
    bucket_start      timestamptz not null,
    agent_id          text collate "C" not null,
    notification_type text collate "C" not null,
    results           bigint not null,
    failed            bigint not null,
    -- The agent's work (`completed_at − started_at`) of the results reporting both times:
    -- how many, their sum and maximum in ms, and their sketch.
    worked            bigint not null,
    work_ms           float8 not null,
    work_max_ms       float8,
    -- A sketch is a log-scale histogram (src/analytics/sketch.rs): bins and their counts.
    work_bins         smallint[] not null,
    work_counts       int[] not null,
    primary key (bucket_start, agent_id, notification_type)
);

-- The anomaly rule's figures per bucket and agent (results recorded in the bucket), its p95
-- of acceptance → result recorded taken from the bucket's sketch as it was rolled: the rule
-- only ever asks for one bucket's p95, so the sketch itself need not be kept.
create table rollup_agents (
    bucket_start timestamptz not null,
    agent_id     text collate "C" not null,
    results      bigint not null,
    failed       bigint not null,
    e2e_p95_ms   float8 not null,
    primary key (bucket_start, agent_id)
);

-- Tool calls of the results recorded in the bucket, per agent and tool.
create table rollup_tools (
    bucket_start timestamptz not null,
    agent_id     text collate "C" not null,
    tool         text collate "C" not null,
    calls        bigint not null,
    errors       bigint not null,
    primary key (bucket_start, agent_id, tool)
);

-- Language-model usage of the results recorded in the bucket, per agent and model.
create table rollup_models (
    bucket_start  timestamptz not null,
    agent_id      text collate "C" not null,
    model         text collate "C" not null,
    calls         bigint not null,
    input_tokens  bigint not null,
    output_tokens bigint not null,
    primary key (bucket_start, agent_id, model)
);

-- Notifications accepted in the bucket (`accepted_at`), per agent, type, delivery state,
-- outcome and the names of the tools called (null while unanswered). Their state changes
-- after the bucket closes, so the stage rolls such a bucket again when it sees a change: a
-- result recorded for it, or its count of pending rows moving.
create table rollup_journeys (
    bucket_start      timestamptz not null,
    agent_id          text collate "C" not null,
    notification_type text collate "C" not null,
    status            text not null,
    outcome           text,
    tool_names        jsonb,
    journeys          bigint not null,
    -- Of those, answered, and the sum of their acceptance → result recorded in ms.
    answers           bigint not null,
    total_ms          float8 not null
);
create index rollup_journeys_bucket on rollup_journeys (bucket_start);

-- What the rollups cover: every bucket in `[rolled_from, rolled_until)`. One row.
create table rollup_progress (
    singleton    boolean primary key default true check (singleton),
    rolled_from  timestamptz not null,
    rolled_until timestamptz not null
);
