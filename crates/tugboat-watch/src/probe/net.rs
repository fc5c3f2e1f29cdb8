//! TCP and TLS probes.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use super::{der, Observed};

/// `[CONNECTED]` and `[RESPONSE_TIME]` of a TCP connect. A refused or unreachable port is an
/// observation (`expect: closed` wants exactly that), not an error.
pub async fn tcp(address: &str) -> Observed {
    let start = Instant::now();
    let mut observed = Observed::default();
    let connected = tokio::net::TcpStream::connect(address).await;
    observed.values.insert("CONNECTED".into(), Value::Bool(connected.is_ok()));
    observed.values.insert("RESPONSE_TIME".into(), Value::from(start.elapsed().as_millis() as u64));
    if let Err(e) = &connected {
        if e.kind() != std::io::ErrorKind::ConnectionRefused {
            observed.diagnostics.push(format!("{address}: {e}"));
        }
    }
    observed
}

#[derive(Debug, Clone)]
pub struct TlsProbe {
    pub address: String,
    /// Extra CA certificates (PEM) to trust besides the public roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// Verifies the chain as a browser would, but records the verdict instead of aborting the handshake,
/// so an expired or self-signed certificate is still read and reported.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), String>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(verdict);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn verifier(ca_pem: Option<&[u8]>) -> Result<Arc<RecordingVerifier>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = ca_pem {
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    Ok(Arc::new(RecordingVerifier { inner, verdict: Mutex::new(None) }))
}

/// `[CERTIFICATE_EXPIRATION]` (ms until `notAfter`), `[CERTIFICATE_VALID]` (chain and name verify),
/// `[CERTIFICATE_SUBJECT]` (common name), `[CONNECTED]`, `[RESPONSE_TIME]`.
pub async fn tls(probe: &TlsProbe) -> Observed {
    let mut observed = Observed::default();
    let start = Instant::now();
    let result = handshake(probe).await;
    observed.values.insert("RESPONSE_TIME".into(), Value::from(start.elapsed().as_millis() as u64));
    match result {
        Err(e) => {
            observed.values.insert("CONNECTED".into(), Value::Bool(false));
            observed.error = Some(format!("{}: {e}", probe.address));
        }
        Ok((leaf, verdict)) => {
            observed.values.insert("CONNECTED".into(), Value::Bool(true));
            if let Some(expiry) = der::not_after_unix_ms(&leaf) {
                observed.values.insert("CERTIFICATE_EXPIRATION".into(), Value::from(expiry - super::now_ms()));
            }
            if let Some(cn) = der::subject_common_name(&leaf) {
                observed.values.insert("CERTIFICATE_SUBJECT".into(), Value::String(cn));
            }
            observed.values.insert("CERTIFICATE_VALID".into(), Value::Bool(verdict.is_ok()));
            if let Err(why) = verdict {
                observed.diagnostics.push(format!("certificate does not verify: {why}"));
            }
        }
    }
    observed
}

async fn handshake(probe: &TlsProbe) -> Result<(Vec<u8>, Result<(), String>), String> {
    let host = match probe.address.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => return Err("expected host:port".into()),
    };
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("`{host}`: {e}"))?;
    let verifier = verifier(probe.ca_pem.as_deref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(&probe.address).await.map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .ok_or("the server sent no certificate")?;
    let verdict = verifier.verdict.lock().ok().and_then(|v| v.clone()).unwrap_or(Err("not verified".into()));
    Ok((leaf, verdict))
}
