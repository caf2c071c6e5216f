//! A TCP proxy the tests can cut, stall and restore, to take Postgres or RabbitMQ away from
//! one gateway without stopping the shared service.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::AbortHandle,
};

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    open: Arc<AtomicBool>,
    /// Whether bytes flow; links made from now on follow this sender.
    flow: Arc<Mutex<watch::Sender<bool>>>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let flow = Arc::new(Mutex::new(watch::channel(true).0));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let (open, flow, links) = (open.clone(), flow.clone(), links.clone());
            let upstream = upstream.to_owned();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        drop(inbound); // refused: closed at once
                        continue;
                    }
                    let upstream = upstream.clone();
                    let flowing = flow.lock().unwrap().subscribe();
                    let link = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(upstream).await {
                            let (from_client, to_client) = inbound.into_split();
                            let (from_server, to_server) = outbound.into_split();
                            tokio::select! {
                                _ = pump(from_client, to_server, flowing.clone()) => {}
                                _ = pump(from_server, to_client, flowing) => {}
                            }
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            }
        })
        .abort_handle();
        Self {
            addr,
            upstream: upstream.to_owned(),
            open,
            flow,
            links,
            accept,
        }
    }

    /// `url` (of Postgres or RabbitMQ) leading through this proxy instead of to its upstream.
    pub fn route(&self, url: &str) -> String {
        url.replacen(&self.upstream, &self.addr.to_string(), 1)
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Keeps every connection, old and new, open but silent: a black hole.
    pub fn stall(&self) {
        self.flow.lock().unwrap().send_replace(false);
    }

    /// Opens the proxy again; stalled connections resume.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.flow.lock().unwrap().send_replace(true);
    }

    /// New connections work again, but those made so far stay stalled for good: half-open
    /// connections, as after a failover behind a firewall that silently dropped them.
    pub fn restore_new_only(&self) {
        self.open.store(true, Ordering::SeqCst);
        *self.flow.lock().unwrap() = watch::channel(true).0;
    }
}

/// Copies one direction, holding the bytes while the link is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await.unwrap_or(0);
        // Bytes, and the end of the stream too, wait while the link is stalled; a dropped
        // sender (superseded by `restore_new_only`) means stalled for good.
        if flowing.wait_for(|flowing| *flowing).await.is_err() {
            std::future::pending::<()>().await;
        }
        if read == 0 || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
