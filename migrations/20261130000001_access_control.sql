-- Access control: API keys (only an HMAC of each key is stored) and registered agents.
create table api_keys (
    key_id              uuid primary key,
    name                text not null,
    -- `vos_` + 8 characters: enough to tell keys apart in listings and logs, useless to an attacker.
    display_prefix      text not null,
    key_hash            bytea not null unique,
    scopes              text[] not null,
    -- Agent id patterns (`*` matches any run of characters).
    agents              text[] not null,
    -- Requests per second for this key; null means `[rate_limit] per_key`.
    rate_per_second     integer check (rate_per_second > 0),
    -- Whether the caller's traceparent may parent the gateway's spans (internal services).
    trust_trace_context boolean not null default false,
    created_at          timestamptz not null default now(),
    revoked_at          timestamptz
);

-- An agent exists once registered: only then is its queue declared and may it be notified.
create table agents (
    agent_id      text primary key,
    description   text,
    queue_type    text not null default 'classic' check (queue_type in ('classic', 'quorum')),
    registered_at timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

-- Every replica keeps keys and agents in memory and polls these versions (a one-row read per
-- table) to reload what changed: a revocation takes effect everywhere within a second, whoever
-- wrote it (an HTTP call to any replica, or `vos-gateway keys revoke`).
create table change_versions (
    table_name text primary key,
    version    bigint not null default 0
);
insert into change_versions (table_name) values ('api_keys'), ('agents');

create function bump_change_version() returns trigger language plpgsql as $$
begin
    update change_versions set version = version + 1 where table_name = tg_table_name;
    return null;
end $$;

create trigger api_keys_changed after insert or update or delete or truncate on api_keys
    for each statement execute function bump_change_version();
create trigger agents_changed after insert or update or delete or truncate on agents
    for each statement execute function bump_change_version();

-- Agents that already have notifications keep working after the upgrade.
insert into agents (agent_id) select distinct agent_id from notifications on conflict do nothing;

-- Agent status (backlog, last publish, counts of the last hour) reads one agent's rows by time.
create index notifications_agent_accepted on notifications (agent_id, accepted_at);
