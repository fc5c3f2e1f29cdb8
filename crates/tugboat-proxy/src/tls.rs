//! TLS listeners: rustls with the ring provider (no aws-lc build), ALPN h2 then http/1.1. A listener has
//! either fixed files ([`acceptor`]) or the [`SniResolver`] of the ACME certificates, whose entries are
//! swapped on renewal while it serves (new handshakes get the new certificate; no restart).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;
use crate::ProxyError;

fn server_config() -> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>, ProxyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Config(format!("TLS: {e}")))
}

fn with_alpn(mut config: rustls::ServerConfig) -> TlsAcceptor {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ProxyError> {
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        ProxyError::Config(format!("{what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("certificate", &files.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", &files.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("private key", &files.key, &e))?;
    let config = server_config()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate", &files.cert, &e))?;
    Ok(with_alpn(config))
}

/// An acceptor serving whatever `resolver` holds at each handshake.
pub(crate) fn resolver_acceptor(resolver: Arc<SniResolver>) -> Result<TlsAcceptor, ProxyError> {
    Ok(with_alpn(server_config()?.with_no_client_auth().with_cert_resolver(resolver)))
}

/// A certificate chain and key from PEM bytes, checked to belong together.
pub(crate) fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain_pem).collect::<Result<_, _>>().map_err(|e| format!("certificate: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the chain".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key: {e}"))?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| format!("certificate and key: {e}"))
}

/// The current certificate of each name; `default` answers clients without SNI or with another name.
#[derive(Debug, Default)]
pub(crate) struct SniResolver {
    certs: RwLock<BTreeMap<String, Arc<CertifiedKey>>>,
    default: RwLock<Option<String>>,
}

impl SniResolver {
    pub(crate) fn new(default: Option<String>) -> SniResolver {
        SniResolver { certs: RwLock::default(), default: RwLock::new(default) }
    }

    /// Installs (or replaces) the certificate of `name`: the next handshake gets it.
    pub(crate) fn set(&self, name: &str, key: Arc<CertifiedKey>) {
        self.certs.write().unwrap_or_else(PoisonError::into_inner).insert(name.to_ascii_lowercase(), key);
        let mut default = self.default.write().unwrap_or_else(PoisonError::into_inner);
        if default.is_none() {
            *default = Some(name.to_ascii_lowercase());
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(name) = hello.server_name() {
            if let Some(key) = certs.get(&name.to_ascii_lowercase()) {
                return Some(Arc::clone(key));
            }
        }
        // No SNI (an IP address) or a name we have no certificate for: the first name's, so the client
        // gets a certificate it can judge rather than a handshake failure.
        let default = self.default.read().unwrap_or_else(PoisonError::into_inner);
        default.as_ref().and_then(|name| certs.get(name)).or_else(|| certs.values().next()).cloned()
    }
}

/// The `notAfter` of a DER X.509 certificate (RFC 5280 4.1.2.5: UTCTime or GeneralizedTime, UTC).
pub(crate) fn not_after(cert: &[u8]) -> Option<time::OffsetDateTime> {
    let (tag, certificate, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = der(certificate)?;
    if tag != 0x30 {
        return None;
    }
    // [version [0]], serialNumber, signature, issuer, validity, ...
    let mut elements = Vec::new();
    let mut rest = tbs;
    while elements.len() < 5 {
        let Some((tag, value, after)) = der(rest) else { break };
        elements.push((tag, value));
        rest = after;
    }
    let skip = usize::from(elements.first()?.0 == 0xa0);
    let (tag, validity) = *elements.get(skip + 3)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, after) = der(validity)?;
    let (tag, text, _) = der(after)?;
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if digits.len() == 12 => {
            let yy: i32 = digits.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, digits.get(2..)?)
        }
        0x18 if digits.len() == 14 => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
    let month = time::Month::try_from(field(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, field(2)?).ok()?;
    Some(date.with_hms(field(4)?, field(6)?, field(8)?).ok()?.assume_utc())
}

/// One DER element: (tag, contents, the bytes after it).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn not_after_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params.self_signed(&key).unwrap();
        let t = super::not_after(cert.der()).unwrap();
        assert_eq!((t.year(), t.month() as u8, t.day()), (2049, 12, 31));
        params.not_after = rcgen::date_time_ymd(2051, 3, 4);
        let t = super::not_after(params.self_signed(&key).unwrap().der()).unwrap();
        assert_eq!((t.year(), t.month() as u8, t.day()), (2051, 3, 4));
        assert!(super::not_after(b"\x30\x03\x02\x01\x01").is_none());
    }
}
