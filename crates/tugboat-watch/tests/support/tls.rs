//! Certificates made on the spot with `rcgen` (a test CA and a leaf it signs, for `localhost` and
//! `127.0.0.1`, with a chosen expiry) and a TLS server presenting one: rustls on std threads, answering
//! every HTTP request over TLS with `200 secure ok`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A leaf certificate, its key and the CA that signed it.
#[derive(Clone)]
pub struct TestCert {
    /// The CA certificate (PEM): what `ca_file:` should point at for the leaf to verify.
    pub ca_pem: String,
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8 PEM).
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    /// `notAfter` of the leaf, Unix seconds.
    pub not_after_unix: i64,
}

impl TestCert {
    /// For `localhost` and `127.0.0.1`, valid from yesterday until `valid_for` from now.
    pub fn expiring_in(valid_for: Duration) -> TestCert {
        TestCert::issue(&["localhost", "127.0.0.1"], valid_for.as_secs() as i64)
    }

    /// For `localhost` and `127.0.0.1`, expired `ago` ago.
    pub fn expired(ago: Duration) -> TestCert {
        TestCert::issue(&["localhost", "127.0.0.1"], -(ago.as_secs() as i64))
    }

    /// A leaf for `names` (DNS names or IP addresses) whose `notAfter` is `not_after_secs` from now
    /// (negative: already expired), signed by a fresh CA.
    pub fn issue(names: &[&str], not_after_secs: i64) -> TestCert {
        let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("whole seconds");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, "tugboat test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ca.not_before = now - time::Duration::days(400);
        ca.not_after = now + time::Duration::days(400);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");

        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut leaf = CertificateParams::new(names.clone()).expect("leaf params");
        leaf.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.not_after = now + time::Duration::seconds(not_after_secs);
        leaf.not_before = leaf.not_after.min(now) - time::Duration::days(30);
        let cert = leaf.signed_by(&key, &Issuer::new(ca, &ca_key)).expect("leaf certificate");

        TestCert {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            not_after_unix: leaf.not_after.unix_timestamp(),
        }
    }
}

/// A TLS server on 127.0.0.1 presenting a [`TestCert`]; answers HTTP requests with `200 secure ok`.
pub struct TlsServer {
    port: u16,
    cert: TestCert,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// A server whose certificate expires `valid_for` from now.
    pub fn expiring_in(valid_for: Duration) -> TlsServer {
        TlsServer::start(TestCert::expiring_in(valid_for))
    }

    pub fn start(cert: TestCert) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.cert_der.clone())], key)
            .expect("server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen for TLS");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                std::thread::spawn(move || serve(stream, config));
            }
        });
        TlsServer { port, cert, stop, thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `tls:` checks (the certificate names that address).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn ca_pem(&self) -> &str {
        &self.cert.ca_pem
    }

    pub fn cert(&self) -> &TestCert {
        &self.cert
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // Reading the request head drives the handshake; a client that only wanted the certificate hangs
    // up here, which is fine.
    let mut reader = BufReader::new(&mut tls);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.trim_end().is_empty() => break,
            Ok(_) => {}
        }
    }
    drop(reader);
    let body = "secure ok";
    let _ = write!(tls, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            let _ = thread.join();
        }
    }
}
