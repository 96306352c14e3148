//! TLS setup from files and the handshake runner: errors name the file and the fault, a client
//! trusting the test CA gets through with the listener's ALPN, a silent client neither blocks
//! others nor stays past the handshake deadline, and mutual TLS turns away clients without a
//! certificate.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use super::*;

/// A CA and a certificate it issued for 127.0.0.1, written as PEM files.
struct TestPki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl TestPki {
    fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = TestPki {
            dir: tempfile::tempdir().unwrap(),
            ca,
        };
        let (cert, key) = pki.issue(&["127.0.0.1"]);
        pki.write("server.pem", &cert);
        pki.write("server.key", &key);
        pki.write("ca.pem", &pki.ca.pem());
        pki
    }

    /// A certificate and key issued by the CA: (certificate PEM, key PEM).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(std::string::ToString::to_string).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.path("server.pem")),
            key_file: Some(self.path("server.key")),
            ..TlsConfig::default()
        }
    }

    fn client(&self, alpn: &[u8], identity: Option<(String, String)>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

fn error_of(config: &TlsConfig) -> String {
    match TlsSetup::from_config(config) {
        Ok(_) => panic!("expected the TLS setup to fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_certificate_means_no_tls() {
    let setup = TlsSetup::from_config(&TlsConfig::default()).unwrap();
    assert!(setup.http.is_none() && setup.grpc.is_none());
}

#[test]
fn each_listener_can_opt_out() {
    let pki = TestPki::new();
    let setup = TlsSetup::from_config(&TlsConfig {
        http: false,
        ..pki.config()
    })
    .unwrap();
    assert!(setup.http.is_none());
    assert!(setup.grpc.is_some());
}

#[test]
fn bad_files_are_named_with_their_fault() {
    let pki = TestPki::new();
    let missing = error_of(&TlsConfig {
        cert_file: Some(pki.path("absent.pem")),
        ..pki.config()
    });
    assert!(
        missing.contains("absent.pem") && missing.contains("cannot read"),
        "{missing}"
    );

    pki.write("empty.pem", "");
    let empty = error_of(&TlsConfig {
        cert_file: Some(pki.path("empty.pem")),
        ..pki.config()
    });
    assert!(empty.contains("no CERTIFICATE"), "{empty}");

    let no_key = error_of(&TlsConfig {
        key_file: Some(pki.path("server.pem")),
        ..pki.config()
    });
    assert!(no_key.contains("no PRIVATE KEY"), "{no_key}");

    let (_, other_key) = pki.issue(&["127.0.0.1"]);
    pki.write("other.key", &other_key);
    let mismatch = error_of(&TlsConfig {
        key_file: Some(pki.path("other.key")),
        ..pki.config()
    });
    assert!(
        mismatch.contains("cannot serve together") && mismatch.contains("other.key"),
        "{mismatch}"
    );

    let client_ca = error_of(&TlsConfig {
        client_ca_file: Some(pki.path("server.key")),
        ..pki.config()
    });
    assert!(client_ca.contains("no CERTIFICATE"), "{client_ca}");
}

async fn start(setup: &ListenerTls) -> (TlsIncoming, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let incoming = setup.incoming(listener).unwrap();
    let address = incoming.local_addr().unwrap();
    (incoming, address)
}

/// Sends a line over a client connection and reads it back through the accepted connection.
async fn round_trip(
    incoming: &mut TlsIncoming,
    client: tokio_rustls::client::TlsStream<TcpStream>,
) -> Vec<u8> {
    let mut client = client;
    client.write_all(b"ping\n").await.unwrap();
    client.flush().await.unwrap();
    let (mut server_side, _) = tokio::time::timeout(Duration::from_secs(10), incoming.accept())
        .await
        .expect("the server side of the handshake finishes");
    let mut line = [0u8; 5];
    server_side.read_exact(&mut line).await.unwrap();
    line.to_vec()
}

#[tokio::test]
async fn trusted_client_connects_past_a_silent_one_with_the_listeners_alpn() {
    let pki = TestPki::new();
    let setup = TlsSetup::from_config(&TlsConfig {
        handshake_timeout_secs: 1,
        ..pki.config()
    })
    .unwrap();
    let (mut incoming, address) = start(setup.grpc.as_ref().unwrap()).await;

    // Connects and never sends a ClientHello.
    let mut silent = TcpStream::connect(address).await.unwrap();

    let tcp = TcpStream::connect(address).await.unwrap();
    let client = pki
        .client(b"h2", None)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("a client trusting the CA completes the handshake");
    assert_eq!(client.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(round_trip(&mut incoming, client).await, b"ping\n");

    // The silent connection is closed once the handshake deadline passes.
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer))
        .await
        .expect("the server closes a connection that never starts its handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn plaintext_and_untrusted_clients_are_turned_away() {
    let pki = TestPki::new();
    let setup = TlsSetup::from_config(&pki.config()).unwrap();
    let (mut incoming, address) = start(setup.http.as_ref().unwrap()).await;

    let mut plaintext = TcpStream::connect(address).await.unwrap();
    plaintext
        .write_all(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plaintext.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "a plaintext request gets no HTTP answer"
    );

    let stranger = TestPki::new();
    let tcp = TcpStream::connect(address).await.unwrap();
    let refused = stranger
        .client(b"http/1.1", None)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await;
    assert!(
        refused.is_err(),
        "a client trusting another CA refuses the server"
    );

    // The listener still serves a proper client afterwards.
    let tcp = TcpStream::connect(address).await.unwrap();
    let client = pki
        .client(b"http/1.1", None)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(client.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(round_trip(&mut incoming, client).await, b"ping\n");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let pki = TestPki::new();
    let setup = TlsSetup::from_config(&TlsConfig {
        client_ca_file: Some(pki.path("ca.pem")),
        ..pki.config()
    })
    .unwrap();
    let (mut incoming, address) = start(setup.grpc.as_ref().unwrap()).await;
    let name = ServerName::try_from("127.0.0.1").unwrap();

    // TLS 1.3 clients learn of the refusal on their first read.
    let tcp = TcpStream::connect(address).await.unwrap();
    let anonymous = match pki.client(b"h2", None).connect(name.clone(), tcp).await {
        Ok(mut stream) => {
            let _ = stream.write_all(b"ping\n").await;
            let mut buffer = [0u8; 1];
            // A server that took the connection would wait for more and never close it.
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
                .await
                .expect("the server closes a connection without a client certificate")
                .map(|n| n > 0)
        }
        Err(e) => Err(e),
    };
    assert!(!matches!(anonymous, Ok(true)), "{anonymous:?}");

    let identity = pki.issue(&["camera-7"]);
    let tcp = TcpStream::connect(address).await.unwrap();
    let client = pki
        .client(b"h2", Some(identity))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(round_trip(&mut incoming, client).await, b"ping\n");
}
