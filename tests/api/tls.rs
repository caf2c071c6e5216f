//! Encryption in transit: the listener over TLS (HTTP/2 and HTTP/1.1 by ALPN), Postgres with
//! `sslmode=verify-full`, and OTLP export to an `https://` collector with a private CA.

use std::{path::PathBuf, time::Duration};

use reqwest::Version;

use crate::helpers::{
    GatewayProcess, OtlpReceiver, TestApp, fresh_database_url, gateway_command, notification_body,
    test_settings,
};

/// A self-signed certificate for `localhost`, written as PEM files in a directory of its own.
struct Certificate {
    dir: PathBuf,
    pem: String,
    key_pem: String,
}

impl Certificate {
    fn for_localhost() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("vos-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pem, key_pem) = (generated.cert.pem(), generated.signing_key.serialize_pem());
        std::fs::write(dir.join("cert.pem"), &pem).unwrap();
        std::fs::write(dir.join("key.pem"), &key_pem).unwrap();
        Self { dir, pem, key_pem }
    }

    fn cert_file(&self) -> String {
        self.dir.join("cert.pem").display().to_string()
    }

    fn key_file(&self) -> String {
        self.dir.join("key.pem").display().to_string()
    }

    /// A client that trusts this certificate (and nothing else), speaking HTTP/2 when
    /// `http2`, HTTP/1.1 only otherwise.
    fn client(&self, http2: bool) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root = reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap();
        let builder = reqwest::Client::builder()
            .tls_certs_only([root])
            .timeout(Duration::from_secs(10));
        let builder = if http2 { builder } else { builder.http1_only() };
        builder.build().unwrap()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_http2_and_http1_over_tls_with_the_configured_certificate() {
    // Arrange
    let certificate = Certificate::for_localhost();
    let mut settings = test_settings();
    settings.server.tls.cert = certificate.cert_file();
    settings.server.tls.key = certificate.key_file();
    let app = TestApp::spawn_with(settings, false).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");

    // Act: wait for readiness over TLS, then notify with each protocol.
    let h2 = certificate.client(true);
    let h1 = certificate.client(false);
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = h2.get(format!("{base}/health/ready")).send().await
            && response.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the gateway became ready over TLS");
    let agent = app.unregistered_agent();
    let registered = h2
        .put(format!("{base}/api/v1/agents/{agent}"))
        .bearer_auth(crate::helpers::admin_key())
        .send()
        .await
        .unwrap();
    let notify = |client: &reqwest::Client| {
        client
            .post(format!("{base}/api/v1/agents/{agent}/notify"))
            .bearer_auth(crate::helpers::admin_key())
            .json(&notification_body())
            .send()
    };
    let over_h2 = notify(&h2).await.unwrap();
    let over_h1 = notify(&h1).await.unwrap();
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await;

    // Assert
    assert_eq!(registered.status(), 201);
    assert_eq!(
        (over_h2.status().as_u16(), over_h2.version()),
        (202, Version::HTTP_2)
    );
    assert_eq!(
        (over_h1.status().as_u16(), over_h1.version()),
        (202, Version::HTTP_11)
    );
    assert!(
        plain.map_or(true, |response| response.status() != 200),
        "plain HTTP is not served on a TLS listener"
    );
}

#[test]
fn an_unreadable_certificate_exits_2_naming_the_key() {
    let output = gateway_command()
        .arg("serve")
        .env("VOS__SERVER__ADDR", "127.0.0.1:0")
        .env("VOS__SERVER__TLS__CERT", "/nonexistent/cert.pem")
        .env("VOS__SERVER__TLS__KEY", "/nonexistent/key.pem")
        .env("DATABASE_URL", fresh_database_url())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`server.tls.cert`"), "{stderr}");
}

/// Debian's Postgres serves TLS with its "snakeoil" certificate for `localhost`; where the
/// local server has no TLS, the test says so and checks nothing.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_is_verified_against_the_configured_ca() {
    if !std::path::Path::new(SNAKEOIL).exists() {
        eprintln!("skipped: no {SNAKEOIL}, so the local Postgres serves no TLS to verify");
        return;
    }
    // Arrange: the database URL asks for verify-full against the server's CA.
    let mut settings = test_settings();
    let url = settings.database.url.replacen("127.0.0.1", "localhost", 1);
    settings.database.url = format!("{url}?sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;

    // Act
    let accepted = app.accept(&agent).await;
    let encrypted: bool = sqlx::query_scalar(
        "select bool_and(s.ssl) from pg_stat_ssl s join pg_stat_activity a using (pid) \
         where a.application_name = 'vos-gateway' and a.datname = current_database()",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    // Assert
    assert!(accepted["notification_id"].is_string());
    assert!(encrypted, "every gateway connection is encrypted");

    // And a CA that did not sign the server's certificate is refused: never ready.
    let stranger = Certificate::for_localhost();
    let mut settings = test_settings();
    settings.database.url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        settings.database.url.replacen("127.0.0.1", "localhost", 1),
        stranger.cert_file()
    );
    settings.database.acquire_timeout = Duration::from_millis(500);
    let untrusting = TestApp::spawn_with(settings, false).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = untrusting.get("/health/ready").await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_collector_trusted_through_the_configured_ca() {
    // Arrange: a gRPC collector on TLS with a private certificate; its CA given to the gateway.
    let certificate = Certificate::for_localhost();
    let receiver = OtlpReceiver::grpc_tls(&certificate.pem, &certificate.key_pem).await;
    let gateway = GatewayProcess::builder()
        .envs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &certificate.cert_file()),
        ])
        .start()
        .await;
    let agent = gateway.agent().await;

    // Act
    let accepted = gateway.accept(&agent).await;
    let exited = gateway.stop().await;

    // Assert
    assert!(exited.status.success(), "{}", exited.stderr);
    let trace_id = accepted["trace_id"].as_str().unwrap();
    let spans = receiver
        .wait_for_trace(trace_id, 2, Duration::from_secs(10))
        .await;
    assert!(
        spans.len() >= 2,
        "server and producer spans over TLS: {spans:?}"
    );
}
