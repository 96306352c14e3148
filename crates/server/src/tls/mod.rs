//! TLS (rustls with the ring provider) for the HTTP and gRPC listeners: turns `[tls]` into one
//! acceptor per listener. HTTP offers ALPN `http/1.1`, gRPC offers `h2` (gRPC clients require
//! it). With `client_ca_file` set, clients must present a certificate issued by one of those CAs.
//! [`incoming`] runs the handshakes; [`pem`] reads the files.

mod incoming;
mod pem;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

pub use incoming::{TlsConnection, TlsIncoming};

/// Why the TLS files could not be used; the server does not start.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the kind expected.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not belong to the certificate, or rustls refuses them.
    #[error("certificate {cert} and key {key} cannot serve together: {source}")]
    Identity {
        /// The certificate chain file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The client CA certificates cannot verify clients.
    #[error("client CA file {path}: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
}

/// TLS for one listener: the acceptor and how long a handshake may take.
#[derive(Clone)]
pub struct ListenerTls {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl ListenerTls {
    /// Starts accepting TLS connections on `listener` (see [`TlsIncoming`]).
    pub fn incoming(&self, listener: tokio::net::TcpListener) -> std::io::Result<TlsIncoming> {
        TlsIncoming::spawn(listener, self.acceptor.clone(), self.handshake_timeout)
    }
}

/// Which listeners speak TLS. Both are `None` when no certificate is configured.
#[derive(Clone, Default)]
pub struct TlsSetup {
    /// TLS for the HTTP (and metrics) listener.
    pub http: Option<ListenerTls>,
    /// TLS for the gRPC listener.
    pub grpc: Option<ListenerTls>,
}

impl TlsSetup {
    /// Reads the certificate, key and client CAs named in `config` and builds the acceptors.
    /// Fails on unreadable files, files without the expected PEM sections, or a key that does not
    /// belong to the certificate.
    pub fn from_config(config: &TlsConfig) -> Result<TlsSetup, TlsError> {
        let (Some(cert_path), Some(key_path)) = (&config.cert_file, &config.key_file) else {
            return Ok(TlsSetup::default());
        };
        let chain = pem::read_certificates(cert_path)?;
        let key = pem::read_private_key(key_path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?;
        let builder = match &config.client_ca_file {
            Some(ca_path) => {
                let roots = pem::read_trust_anchors(ca_path)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError::ClientCa {
                            path: ca_path.clone(),
                            reason: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let base = builder
            .with_single_cert(chain, key)
            .map_err(|source| TlsError::Identity {
                cert: cert_path.clone(),
                key: key_path.clone(),
                source,
            })?;
        let handshake_timeout = Duration::from_secs(config.handshake_timeout_secs);
        let listener = |alpn: &[u8]| {
            let mut server = base.clone();
            server.alpn_protocols = vec![alpn.to_vec()];
            ListenerTls {
                acceptor: TlsAcceptor::from(Arc::new(server)),
                handshake_timeout,
            }
        };
        Ok(TlsSetup {
            http: config.http.then(|| listener(b"http/1.1")),
            grpc: config.grpc.then(|| listener(b"h2")),
        })
    }
}

#[cfg(test)]
mod tests;
