//! Integration tests: the real gateway against the local Postgres and RabbitMQ.
//! One binary; each test has its own database and its own queues.

mod access;
mod analytics;
mod auth;
mod cli;
mod delivery;
mod faults;
mod health;
mod helpers;
mod idempotency;
mod journey;
mod limits;
mod logs;
mod metrics;
mod notify;
mod otlp;
mod outbox;
mod privacy;
mod results;
mod retention;
mod row_locks;
mod status;
mod tls;
mod validation;
