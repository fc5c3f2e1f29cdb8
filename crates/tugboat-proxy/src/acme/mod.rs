//! The proxy's certificates: those of TLS files (listed only) and those it keeps from ACME (`tls.acme`):
//! loaded from `dir` at start, issued when missing, renewed within `renew_before_s` of expiry, swapped into
//! the [`SniResolver`] without a restart. A failed attempt keeps the old certificate served, is logged as a
//! warning and shown by `GET /certificates`, and is retried after `retry_min_ms`, doubling up to
//! `retry_max_ms`. Plain listeners answer HTTP-01 challenges from memory and, with `redirect_http`,
//! redirect everything else to HTTPS.

mod client;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::config::{AcmeConfig, ProxyConfig};
use crate::proxy::local;
use crate::server::Body;
use crate::tls::{self, SniResolver};
use crate::ProxyError;

pub(crate) use client::Challenges;

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What `GET /certificates` shows of one name.
#[derive(Default)]
struct Status {
    not_after: Option<OffsetDateTime>,
    renewed: Option<OffsetDateTime>,
    error: Option<String>,
    failures: u32,
    /// Set after a failure: no attempt before it, `retry_delay_ms` after the failure.
    retry_at: Option<OffsetDateTime>,
    retry_delay_ms: u64,
}

pub(crate) struct Certs {
    acme: Option<AcmeConfig>,
    pub resolver: Arc<SniResolver>,
    pub challenges: Challenges,
    status: Mutex<BTreeMap<String, Status>>,
    /// The certificates of TLS files: (path, notAfter).
    files: Vec<(String, Option<OffsetDateTime>)>,
    redirect_http: bool,
    /// The port plain requests are redirected to (the first TLS listener's).
    https_port: Option<u16>,
}

impl Certs {
    /// Checks the config, lists the file certificates and loads the stored ACME ones.
    /// `bound` are the listeners' real addresses, in config order.
    pub(crate) fn new(config: &ProxyConfig, bound: &[std::net::SocketAddr]) -> Result<Certs, ProxyError> {
        let acme = config.tls.as_ref().map(|t| t.acme.clone());
        if let Some(tls) = &config.tls {
            for address in &tls.listen {
                if !config.listen.iter().any(|l| l.address == *address && l.tls.is_none()) {
                    return Err(ProxyError::Config(format!(
                        "tls.listen {address}: not in listen (as a listener without tls files)"
                    )));
                }
            }
            if tls.acme.domains.is_empty() {
                return Err(ProxyError::Config("tls.acme.domains is empty".into()));
            }
            for domain in &tls.acme.domains {
                let ok = !domain.is_empty()
                    && domain.len() <= 253
                    && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if !ok {
                    return Err(ProxyError::Config(format!(
                        "tls.acme.domains: {domain:?} is not a host name (HTTP-01 cannot validate wildcards)"
                    )));
                }
            }
        }
        let mut files = Vec::new();
        let mut https_port = None;
        for (listen, addr) in config.listen.iter().zip(bound) {
            let acme_listener = config.tls.as_ref().is_some_and(|t| t.listen.contains(&listen.address));
            if listen.tls.is_some() || acme_listener {
                https_port = https_port.or(Some(addr.port()));
            }
            if let Some(f) = &listen.tls {
                let pem = fs::read(&f.cert).unwrap_or_default();
                let first = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem).next();
                let not_after =
                    first.and_then(|c: Result<rustls::pki_types::CertificateDer<'_>, _>| tls::not_after(&c.ok()?));
                files.push((f.cert.display().to_string(), not_after));
            }
        }
        if config.redirect_http && https_port.is_none() {
            return Err(ProxyError::Config("redirect_http needs a TLS listener".into()));
        }
        let resolver = Arc::new(SniResolver::new(acme.as_ref().and_then(|a| a.domains.first().cloned())));
        let mut status = BTreeMap::new();
        for domain in acme.iter().flat_map(|a| &a.domains) {
            let mut s = Status::default();
            if let Some(acme) = &acme {
                match load(&acme.dir, domain) {
                    Ok(Some((key, not_after))) => {
                        resolver.set(domain, Arc::new(key));
                        s.not_after = not_after;
                    }
                    Ok(None) => {}
                    // A damaged pair is replaced by a new issuance.
                    Err(e) => tracing::warn!(%domain, "stored certificate unusable, issuing a new one: {e}"),
                }
            }
            status.insert(domain.clone(), s);
        }
        Ok(Certs {
            acme,
            resolver,
            challenges: Challenges::default(),
            status: Mutex::new(status),
            files,
            redirect_http: config.redirect_http,
            https_port,
        })
    }

    fn status(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Status>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// On a plain listener, before routing: an HTTP-01 answer we hold, or the redirect to HTTPS.
    pub(crate) fn plain_http<B>(&self, req: &Request<B>, host: &str) -> Option<Response<Body>> {
        let path = req.uri().path();
        if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
            let answer = self.challenges.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned();
            if let Some(answer) = answer {
                return Some(local(StatusCode::OK, "application/octet-stream", answer));
            }
            // Not ours: an app may answer its own challenges.
            return None;
        }
        let port = self.https_port.filter(|_| self.redirect_http)?;
        let name = strip_port(host);
        if name.is_empty() {
            return Some(local(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", "tug proxy: no Host\n"));
        }
        let authority = if port == 443 { name.to_string() } else { format!("{name}:{port}") };
        let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let location = HeaderValue::from_str(&format!("https://{authority}{target}")).ok()?;
        let mut response = local(StatusCode::PERMANENT_REDIRECT, "text/plain; charset=utf-8", "");
        response.headers_mut().insert(header::LOCATION, location);
        Some(response)
    }

    /// `GET /certificates`.
    pub(crate) fn to_json(&self) -> Value {
        let time = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        let mut list: Vec<Value> = self
            .files
            .iter()
            .map(|(path, not_after)| {
                json!({ "name": path, "source": "file", "not_after": time(*not_after), "renewed": null,
                        "error": null, "failures": 0, "retry_delay_ms": 0, "next_attempt": null })
            })
            .collect();
        if let Some(acme) = &self.acme {
            let renew_before = time::Duration::seconds(i64::try_from(acme.renew_before_s).unwrap_or(i64::MAX));
            for (name, s) in self.status().iter() {
                // The planned renewal, or the retry after a failure, whichever is later.
                let planned = s.not_after.map(|t| t.checked_sub(renew_before).unwrap_or(t));
                let next = match (planned, s.retry_at) {
                    (Some(p), Some(r)) => Some(p.max(r)),
                    (p, r) => r.or(p),
                };
                list.push(json!({
                    "name": name, "source": "acme", "not_after": time(s.not_after), "renewed": time(s.renewed),
                    "error": s.error, "failures": s.failures, "retry_delay_ms": s.retry_delay_ms,
                    "next_attempt": time(next),
                }));
            }
        }
        json!({ "certificates": list })
    }

    /// Names due now: no certificate or within `renew_before_s` of expiry, and past any retry time.
    fn due(&self, acme: &AcmeConfig, now: OffsetDateTime) -> Vec<String> {
        let renew_before = time::Duration::seconds(i64::try_from(acme.renew_before_s).unwrap_or(i64::MAX));
        self.status()
            .iter()
            .filter(|(_, s)| s.not_after.is_none_or(|t| t.checked_sub(renew_before).is_none_or(|at| at <= now)))
            .filter(|(_, s)| s.retry_at.is_none_or(|at| at <= now))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// How long until the next retry is due, if one is sooner than `check`.
    fn next_wake(&self, now: OffsetDateTime, check: Duration) -> Duration {
        self.status()
            .values()
            .filter_map(|s| s.retry_at)
            .map(|at| Duration::try_from(at - now).unwrap_or(Duration::ZERO))
            .fold(check, Duration::min)
    }

    fn succeeded(&self, domain: &str, key: rustls::sign::CertifiedKey) {
        let not_after = key.end_entity_cert().ok().and_then(|c| tls::not_after(c));
        self.resolver.set(domain, Arc::new(key));
        let mut status = self.status();
        let s = status.entry(domain.to_string()).or_default();
        *s = Status { not_after, renewed: Some(OffsetDateTime::now_utc()), ..Status::default() };
        tracing::info!(%domain, not_after = ?not_after.and_then(|t| t.format(&Rfc3339).ok()), "certificate installed");
    }

    fn failed(&self, acme: &AcmeConfig, domain: &str, error: String) {
        let mut status = self.status();
        let s = status.entry(domain.to_string()).or_default();
        s.failures = s.failures.saturating_add(1);
        let doubling = 1u64 << (s.failures - 1).min(30);
        let delay = acme.retry_min_ms.saturating_mul(doubling).min(acme.retry_max_ms.max(acme.retry_min_ms));
        s.retry_at = Some(OffsetDateTime::now_utc() + Duration::from_millis(delay));
        s.retry_delay_ms = delay;
        tracing::warn!(%domain, failures = s.failures, retry_in_ms = delay, "certificate renewal failed: {error}");
        s.error = Some(error);
    }
}

/// Host without its port (`[v6]:p`, `name:p`).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The renewal loop: until the proxy stops (`stop` above 0).
pub(crate) async fn run(certs: Arc<Certs>, mut stop: watch::Receiver<u8>) {
    let Some(acme) = certs.acme.clone() else { return };
    let check = Duration::from_millis(acme.check_interval_ms.max(10));
    loop {
        for domain in certs.due(&acme, OffsetDateTime::now_utc()) {
            if *stop.borrow() != 0 {
                return;
            }
            let (config, name, challenges) = (acme.clone(), domain.clone(), Arc::clone(&certs.challenges));
            let attempt = tokio::task::spawn_blocking(move || obtain(&config, &name, &challenges)).await;
            match attempt.unwrap_or_else(|e| Err(format!("the issuing task failed: {e}"))) {
                Ok(key) => certs.succeeded(&domain, key),
                Err(e) => certs.failed(&acme, &domain, e),
            }
        }
        let wait = certs.next_wake(OffsetDateTime::now_utc(), check);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|level| *level != 0) => return,
        }
    }
}

/// One issuance for `domain`, stored in `dir` before it is served.
fn obtain(acme: &AcmeConfig, domain: &str, challenges: &Challenges) -> Result<rustls::sign::CertifiedKey, String> {
    let key = account_key(&acme.dir)?;
    let mut session = client::Acme::connect(acme, key)?;
    session.account(acme.email.as_deref())?;
    let issued = session.issue(domain, challenges)?;
    let key = tls::certified_key(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())?;
    let (crt, key_file) = paths(&acme.dir, domain);
    // The key first: a crash between the two leaves a pair that does not match, which start replaces.
    write_atomic(&key_file, issued.key_pem.as_bytes(), 0o600)?;
    write_atomic(&crt, issued.chain_pem.as_bytes(), 0o644)?;
    Ok(key)
}

fn paths(dir: &Path, domain: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    (dir.join(format!("{domain}.crt")), dir.join(format!("{domain}.key")))
}

fn account_key(dir: &Path) -> Result<client::AccountKey, String> {
    let path = dir.join("account.key");
    match fs::read_to_string(&path) {
        Ok(pem) => client::AccountKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, pem) = client::AccountKey::generate()?;
            write_atomic(&path, pem.as_bytes(), 0o600)?;
            Ok(key)
        }
        Err(e) => Err(format!("read {}: {e}", path.display())),
    }
}

/// The stored pair of `domain` and its notAfter; None when there is none yet.
fn load(dir: &Path, domain: &str) -> Result<Option<(rustls::sign::CertifiedKey, Option<OffsetDateTime>)>, String> {
    let (crt, key) = paths(dir, domain);
    let (chain, key) = match (fs::read(&crt), fs::read(&key)) {
        (Ok(chain), Ok(key)) => (chain, key),
        (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
    };
    let certified = tls::certified_key(&chain, &key)?;
    let not_after = certified.end_entity_cert().ok().and_then(|c| tls::not_after(c));
    Ok(Some((certified, not_after)))
}

/// Temp file (created with `mode`), fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    // A leftover temp file would keep its old mode.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn strip_port_keeps_the_name() {
        assert_eq!(super::strip_port("a.test:8080"), "a.test");
        assert_eq!(super::strip_port("a.test"), "a.test");
        assert_eq!(super::strip_port("[::1]:80"), "[::1]");
    }
}
