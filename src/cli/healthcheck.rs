//! `vos-gateway healthcheck`: a plain HTTP/1.1 GET over TCP, enough for a container
//! healthcheck without curl in the image.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Exit;
use crate::config::Settings;

/// The whole check, connect to answer, has this long.
const DEADLINE: Duration = Duration::from_secs(3);

pub(super) async fn healthcheck(settings: &Settings, url: Option<String>) -> Exit {
    let url = url.unwrap_or_else(|| {
        format!(
            "http://127.0.0.1:{}/health/ready",
            settings.server.addr.port()
        )
    });
    let Some(rest) = url.strip_prefix("http://") else {
        return Exit::Configuration("healthcheck supports http:// URLs only".into());
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = vec![0; 64];
        let n = stream.read(&mut head).await.ok()?;
        Some(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"))
    };
    match tokio::time::timeout(DEADLINE, check).await {
        Ok(Some(true)) => Exit::Success,
        _ => Exit::Failure(format!("{url} is not ready")),
    }
}
