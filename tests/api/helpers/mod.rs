//! Shared test harness: real gateways (in-process or as child processes) on random ports,
//! each with its own database and queues, and clients for HTTP, Postgres and RabbitMQ. No
//! mocks: everything talks to the local services.

mod access;
mod agent;
mod app;
mod broker;
mod client;
mod ledger;
mod metrics;
mod otlp_receiver;
mod output;
mod process;
mod proxy;
mod rabbit;
mod records;
mod results;
mod services;
mod spans;
mod wait;

pub use access::{
    issue_key, malformed_key, mistyped, notification_count, problem, revoke_key, secret_parts,
    unknown_key,
};
pub use agent::AgentProcess;
pub use app::{TestApp, test_settings};
pub use broker::{Broker, header_str};
pub use client::{GatewayClient, admin_key, notification_body, numbered_notification};
pub use ledger::{Delivery, Ledger, Sent, StoredRow, post_numbered};
pub use metrics::{metric, metric_labelled, metric_value, scrape, scrape_as};
pub use otlp_receiver::OtlpReceiver;
pub use process::{GatewayProcess, gateway_command};
pub use proxy::Proxy;
pub use rabbit::{StoppedBroker, queue_type_on_broker};
pub use records::{consume, pending_rows, stored_rows, wait_drained};
pub use results::{completed_result, failed_result};
pub use services::{
    AgentQueues, TestDatabase, amqp_url, closed_port, default_queue_type, fresh_database_url,
    results_queue_for, services_lock, services_lock_async, test_pool, test_queue_type,
};
pub use spans::{ReceivedSpan, attributes, named};
pub use wait::{wait_for, wait_until_ready};
