//! TLS for the listeners (`[server.tls]`): rustls, HTTP/2 and HTTP/1.1 offered by ALPN.

use std::{path::Path, sync::Arc};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key cannot be used; names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: `{key}`: {problem}")]
pub struct TlsError {
    key: &'static str,
    problem: String,
}

/// The acceptor for a certificate chain and its private key, both PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError {
            key: "server.tls.cert",
            problem: format!("{}: {error}", cert.display()),
        })?;
    if chain.is_empty() {
        return Err(TlsError {
            key: "server.tls.cert",
            problem: format!("{}: no certificate in the file", cert.display()),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsError {
        key: "server.tls.key",
        problem: format!("{}: {error}", key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError {
            key: "server.tls",
            problem: error.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|error| TlsError {
            key: "server.tls.key",
            problem: format!("does not match the certificate: {error}"),
        })?;
    // HTTP/2 first: a client that speaks both gets multiplexing.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
