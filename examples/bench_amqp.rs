//! Benchmark helper for RabbitMQ (used by `bench/run.sh`).
//!
//! ```text
//! bench_amqp limit QUEUE SECONDS [WINDOW [TYPE]]
//!                                           raw limit: persistent confirmed publishes/s
//! bench_amqp purge QUEUE...                 empty queues (missing ones are ignored)
//! bench_amqp delete QUEUE...                delete queues (missing ones are ignored)
//! ```
//!
//! `limit` measures what one client can get out of this broker: one connection, one
//! confirm-mode channel, persistent messages of the gateway's size to a durable queue, and a
//! window of unconfirmed publishes (the gateway's default, 512). TYPE is the queue's type:
//! `classic` (default, no arguments, as the gateway declares it) or `quorum`; the queue is
//! declared with it, so delete a queue of another type first. It prints one JSON line.
//! `AMQP_URL` selects the broker (default `amqp://guest:guest@127.0.0.1:5672/%2f`).

use std::time::{Duration, Instant};

use futures::{StreamExt, stream::FuturesUnordered};
use lapin::{
    BasicProperties, Confirmation, Connection, ConnectionProperties,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
        QueuePurgeOptions,
    },
    types::{AMQPValue, FieldTable},
};

/// Roughly the body the gateway publishes for the benchmark's notification.
const BODY: &[u8] = br#"{"notification_id":"0193a3f0-7c1e-7d2a-9b1e-5f2d9c3e4a10","agent_id":"bench_agent","notification_type":"user_message","source":"bench","payload":{"text":"hello from the load test","n":12345},"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","correlation_id":"0193a3f0-7c1e-7d2a-9b1e-5f2d9c3e4a11","timestamp":"2026-11-25T14:00:00.000000Z"}"#;

fn usage() -> ! {
    eprintln!(
        "usage: bench_amqp limit QUEUE SECONDS [WINDOW [classic|quorum]] | purge QUEUE... | \
         delete QUEUE..."
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let connect = Connection::connect(&url, ConnectionProperties::default());
    let connection = tokio::time::timeout(Duration::from_secs(10), connect).await??;
    match args.first().map(String::as_str) {
        Some("limit") => {
            let queue = args.get(1).unwrap_or_else(|| usage());
            let seconds: f64 = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            let window: usize = args.get(3).map_or(Ok(512), |s| s.parse())?;
            let queue_type = match args.get(4).map(String::as_str) {
                None | Some("classic") => "classic",
                Some("quorum") => "quorum",
                Some(_) => usage(),
            };
            let duration = Duration::from_secs_f64(seconds);
            limit(&connection, queue, duration, window, queue_type).await?;
        }
        Some(command @ ("purge" | "delete")) if args.len() > 1 => {
            for queue in &args[1..] {
                // A missing queue closes the channel (404); a fresh channel per queue.
                let channel = connection.create_channel().await?;
                let result = if command == "purge" {
                    channel
                        .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                        .await
                } else {
                    channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await
                };
                match result {
                    Ok(messages) => eprintln!("{command} {queue}: {messages} messages"),
                    Err(error) => eprintln!("{command} {queue}: {error}"),
                }
            }
        }
        _ => usage(),
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        connection.close(200, "bench done".into()),
    )
    .await;
    Ok(())
}

async fn limit(
    connection: &Connection,
    queue: &str,
    duration: Duration,
    window: usize,
    queue_type: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    // The gateway's declaration: no arguments for a classic queue.
    let mut arguments = FieldTable::default();
    if queue_type == "quorum" {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    let declare = connection.create_channel().await?;
    declare
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    // Publishes are pipelined: each future sends its frames on first poll and then waits
    // for its confirm, so the I/O loop writes many messages per wake-up.
    let mut pending = FuturesUnordered::new();
    let (mut published, mut acked, mut failed) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let deadline = started + duration;
    while Instant::now() < deadline {
        while pending.len() < window {
            let channel = channel.clone();
            let properties = properties.clone();
            let queue = queue.to_owned();
            pending.push(async move {
                let confirm = channel
                    .basic_publish("".into(), queue.into(), options, BODY, properties)
                    .await?;
                confirm.await
            });
            published += 1;
        }
        match pending.next().await {
            Some(Ok(Confirmation::Ack(None))) => acked += 1,
            Some(_) => failed += 1,
            None => {}
        }
    }
    let counted = started.elapsed();
    let in_time = acked;
    // Drain the window (bounded) so that nothing is left unaccounted for.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(result) = pending.next().await {
            if matches!(result, Ok(Confirmation::Ack(None))) {
                acked += 1;
            } else {
                failed += 1;
            }
        }
    })
    .await;
    let seconds = counted.as_secs_f64();
    println!(
        "{{\"published\":{published},\"confirmed\":{acked},\"failed\":{failed},\"seconds\":{seconds:.3},\"window\":{window},\"queue_type\":\"{queue_type}\",\"body_bytes\":{},\"confirmed_per_s\":{:.1}}}",
        BODY.len(),
        in_time as f64 / seconds
    );
    Ok(())
}
