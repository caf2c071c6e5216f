//! Stopping the real RabbitMQ (`rabbitmqctl stop_app`) and, whatever happens to the test,
//! starting it again. Only for a test that holds `services_lock(true)`.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    time::{Duration, Instant},
};

/// The broker, stopped. Dropping it (also while a failed test unwinds) starts the broker
/// again and waits until it accepts AMQP connections, so no later test finds it down.
pub struct StoppedBroker {
    started: bool,
}

impl StoppedBroker {
    pub async fn stop() -> Self {
        // The guard exists before the command runs: even a half-done stop is undone.
        let broker = Self { started: false };
        tokio::task::spawn_blocking(|| rabbitmqctl("stop_app"))
            .await
            .unwrap()
            .expect("RabbitMQ stops");
        broker
    }

    /// `rabbitmqctl start_app`, then waits until the broker speaks AMQP.
    pub async fn start(mut self) {
        self.started = true;
        let started = tokio::task::spawn_blocking(start_and_wait).await.unwrap();
        started.expect("RabbitMQ starts again");
    }
}

impl Drop for StoppedBroker {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        if !self.started
            && let Err(error) = start_and_wait()
        {
            eprintln!("could not start RabbitMQ again: {error}");
        }
    }
}

/// The type of `queue` as the broker reports it (`rabbitmqctl list_queues name type`): a
/// passive declare cannot tell. `None` when there is no such queue.
pub async fn queue_type_on_broker(queue: &str) -> Option<String> {
    let queue = queue.to_owned();
    tokio::task::spawn_blocking(move || {
        let output = Command::new("rabbitmqctl")
            .args(["-q", "list_queues", "name", "type"])
            .output()
            .expect("rabbitmqctl list_queues");
        assert!(
            output.status.success(),
            "rabbitmqctl list_queues: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .map(|(_, queue_type)| queue_type.trim().to_owned())
    })
    .await
    .unwrap()
}

fn rabbitmqctl(command: &str) -> Result<(), String> {
    let output = Command::new("rabbitmqctl")
        .arg(command)
        .output()
        .map_err(|error| format!("rabbitmqctl {command}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "rabbitmqctl {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn start_and_wait() -> Result<(), String> {
    rabbitmqctl("start_app")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !speaks_amqp() {
        if Instant::now() > deadline {
            return Err("no AMQP connection accepted 60 s after start_app".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Sends the AMQP 0-9-1 protocol header and expects a method frame (`connection.start`).
fn speaks_amqp() -> bool {
    let addr: SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut frame_type = [0u8; 1];
    stream.write_all(b"AMQP\x00\x00\x09\x01").is_ok()
        && stream.read_exact(&mut frame_type).is_ok()
        && frame_type[0] == 1
}
