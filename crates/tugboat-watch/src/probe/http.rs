//! HTTP(S) probes: `[STATUS]`, `[RESPONSE_TIME]`, `[BODY]`, `[HEADERS]`, `[CONNECTED]` and, over TLS,
//! `[CERTIFICATE_EXPIRATION]`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{der, Observed};

/// Bodies beyond this are cut: a probe checks health, it does not download.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub follow_redirects: bool,
    pub insecure: bool,
    pub ca_pem: Option<Vec<u8>>,
    /// A digest of `ca_pem` (0 without one), taken once so that finding the shared client on every run
    /// does not copy and hash the certificate again.
    pub ca_id: u64,
}

/// The `ca_id` of a PEM bundle.
pub fn ca_id(pem: Option<&[u8]>) -> u64 {
    use std::hash::{Hash, Hasher};
    pem.map_or(0, |pem| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pem.hash(&mut h);
        h.finish() | 1
    })
}

/// One client per TLS/redirect setting, shared by every check that uses it: a client holds a connection
/// pool and a parsed root store, too much to have 1000 of.
#[derive(Default)]
pub struct Clients {
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
}

/// (follow redirects, skip verification, extra CA's `ca_id`).
type ClientKey = (bool, bool, u64);

impl Clients {
    fn client(&self, probe: &HttpProbe) -> Result<reqwest::Client, String> {
        let key = (probe.follow_redirects, probe.insecure, probe.ca_id);
        let mut clients = self.clients.lock().map_err(|_| "HTTP client cache poisoned".to_string())?;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("tugboat/", env!("CARGO_PKG_VERSION")))
            .redirect(if probe.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .danger_accept_invalid_certs(probe.insecure)
            .tls_info(true)
            .pool_max_idle_per_host(2);
        if let Some(pem) = &probe.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("ca_file: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub(super) async fn observe(&self, probe: &HttpProbe, context: &Map<String, Value>, timeout: Duration) -> Observed {
        let mut observed = Observed::default();
        let client = match self.client(probe) {
            Ok(c) => c,
            Err(e) => {
                observed.error = Some(e);
                return observed;
            }
        };
        let url = substitute(&probe.url, context);
        let method = reqwest::Method::from_bytes(probe.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = client.request(method, &url).timeout(timeout);
        for (name, value) in &probe.headers {
            request = request.header(name, substitute(value, context));
        }
        if let Some(body) = &probe.body {
            request = request.body(substitute(body, context));
        }
        let start = Instant::now();
        let values = &mut observed.values;
        match request.send().await {
            Err(e) => {
                values.insert("CONNECTED".into(), Value::Bool(false));
                values.insert("STATUS".into(), Value::from(0));
                values.insert("RESPONSE_TIME".into(), Value::from(elapsed_ms(start)));
                observed.error = Some(describe(e, &url));
            }
            Ok(mut response) => {
                values.insert("CONNECTED".into(), Value::Bool(true));
                values.insert("STATUS".into(), Value::from(response.status().as_u16()));
                let headers: Map<String, Value> = response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), Value::String(String::from_utf8_lossy(v.as_bytes()).into())))
                    .collect();
                values.insert("HEADERS".into(), Value::Object(headers));
                let cert = response.extensions().get::<reqwest::tls::TlsInfo>().and_then(|t| t.peer_certificate());
                if let Some(expiry) = cert.and_then(der::not_after_unix_ms) {
                    values.insert("CERTIFICATE_EXPIRATION".into(), Value::from(expiry - super::now_ms()));
                }
                let mut body = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())]);
                            if body.len() >= MAX_BODY {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            observed.error = Some(format!("reading the body of {url}: {e}"));
                            break;
                        }
                    }
                }
                values.insert("RESPONSE_TIME".into(), Value::from(elapsed_ms(start)));
                values.insert("BODY".into(), Value::String(String::from_utf8_lossy(&body).into_owned()));
            }
        }
        observed
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Replaces `[CONTEXT].name` with values stored by earlier steps.
fn substitute(text: &str, context: &Map<String, Value>) -> String {
    if !text.contains("[CONTEXT].") {
        return text.to_string();
    }
    let mut out = text.to_string();
    // Longest names first, so `[CONTEXT].id` does not eat the start of `[CONTEXT].id2`.
    let mut names: Vec<&String> = context.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = match &context[name.as_str()] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("[CONTEXT].{name}"), &value);
    }
    out
}

/// reqwest's errors nest their cause; operators want the innermost words ("connection refused").
/// The URL is left out of reqwest's text (it may carry a token) and shown masked instead.
fn describe(e: reqwest::Error, url: &str) -> String {
    let e = e.without_url();
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        cause.to_string()
    };
    format!("{}: {what}", tugboat::secret::mask_url_password(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_values_are_substituted_longest_name_first() {
        let ctx: Map<String, Value> = serde_json::from_str(r#"{"id": 7, "id2": "x", "token": "abc"}"#).unwrap();
        assert_eq!(substitute("/d/[CONTEXT].id2/[CONTEXT].id?t=[CONTEXT].token", &ctx), "/d/x/7?t=abc");
        assert_eq!(substitute("plain", &ctx), "plain");
    }
}
