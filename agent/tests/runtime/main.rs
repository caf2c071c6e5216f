//! The agent runtime against a real RabbitMQ (`AMQP_URL`, default guest@127.0.0.1:5672).
//! Each test plays the gateway with queues of its own, and deletes them at the end.

mod capacity;
mod completion;
mod demo;
mod duplicates;
mod failures;
mod metrics;
mod recovery;
mod redelivery;
mod support;
