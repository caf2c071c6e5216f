-- Notifications double as the transactional outbox: a row is committed before the
-- client gets 202, and stays `pending` until the broker confirms its message.
create table notifications (
    -- Acceptance order; the relay publishes pending rows in this order.
    seq               bigint generated always as identity,
    notification_id   uuid primary key,
    agent_id          text not null,
    notification_type text not null,
    source            text not null,
    payload           jsonb not null,
    correlation_id    text not null,
    -- W3C trace context of the producer span, so a republish continues the original trace.
    trace_id          char(32) not null,
    span_id           char(16) not null,
    trace_sampled     boolean not null,
    tracestate        text,
    status            text not null default 'pending'
                      check (status in ('pending', 'published', 'failed')),
    -- Broker rejections (nack, return) so far; connection failures do not count.
    attempts          integer not null default 0,
    last_error        text,
    accepted_at       timestamptz not null,
    -- The relay leaves a row alone until then: first the fast path's grace, later backoff.
    next_attempt_at   timestamptz not null,
    published_at      timestamptz,
    failed_at         timestamptz
);

create unique index notifications_seq on notifications (seq);

-- Keeps the relay's scan and the backlog gauge cheap however many rows are published.
create index notifications_pending on notifications (seq) where status = 'pending';
