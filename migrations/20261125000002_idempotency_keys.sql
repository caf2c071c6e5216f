-- Idempotency-Key: a client retry with the same key (per agent) gets the original answer
-- instead of a second notification.
alter table notifications add column idempotency_key text;

create unique index notifications_idempotency
    on notifications (agent_id, idempotency_key)
    where idempotency_key is not null;
