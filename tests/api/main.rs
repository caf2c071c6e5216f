//! Integration tests: the real gateway against the local Postgres and RabbitMQ.
//! One binary; each test has its own database and its own queues.

mod cli;
mod delivery;
mod faults;
mod health;
mod helpers;
mod metrics;
mod notify;
mod outbox;
mod proxy;
mod status;
mod validation;
