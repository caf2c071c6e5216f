-- The agent's answer, on the notification's row (DESIGN.md "Agents and results"): recorded
-- once (a duplicate result changes nothing), kept as long as the row.
alter table notifications
    add column outcome text check (outcome in ('completed', 'failed')),
    -- What the agent produced (a JSON object), and why it failed.
    add column result json,
    add column error text,
    -- The tools it called and the language-model usage it reported, as it reported them.
    add column tools json,
    add column llm json,
    -- The agent's clock: when it started and finished the work.
    add column started_at timestamptz,
    add column completed_at timestamptz,
    -- The gateway's clock: when the result was recorded (the end of the end-to-end time).
    add column result_recorded_at timestamptz;
