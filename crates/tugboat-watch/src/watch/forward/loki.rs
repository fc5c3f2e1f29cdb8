//! Loki receivers: batches POSTed to `{base}/loki/api/v1/push` as JSON,
//!
//! ```json
//! {"streams":[{"stream":{"stack":"shop","service":"web","container":"shop-web-1","stream":"stdout"},
//!              "values":[["1796205600123456789","GET / 200"]]}]}
//! ```
//!
//! one stream per container and output stream (plus the configured `labels`), values in the order the
//! lines came, timestamps in Unix nanoseconds as strings. A batch is up to 1000 lines or 1 MiB of text and
//! waits at most a second for more. 2xx: sent. 429, 5xx or no answer: the batch goes back to the buffer and
//! is tried again after a backoff (at least the server's `Retry-After`). Any other status is Loki refusing
//! the batch for good (too old, out of order, too large): it is dropped and counted, and the answer's text
//! becomes `last_error`. A user and password in the URL are sent as basic authentication.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{StatusCode, Url};
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tugboat_runtime::logs::{LogLine, Stream};

use super::{clip, describe, Backoff, Receiver};

const PUSH_PATH: &str = "/loki/api/v1/push";
const BATCH_LINES: usize = 1000;
const BATCH_BYTES: usize = 1 << 20;
/// The longest a line waits for its batch to fill.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a `Retry-After` that is honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// Labels tugboat sets on every stream.
const OWN_LABELS: [&str; 4] = ["stack", "service", "container", "stream"];

pub(super) struct Loki {
    push: Url,
    /// The push URL, for messages (any password masked).
    display: String,
    client: reqwest::Client,
    stack: String,
    labels: BTreeMap<String, String>,
}

enum Outcome {
    Sent,
    /// Refused for good: drop the batch.
    Refused(String),
    /// Try again, not before the duration.
    Retry(String, Duration),
}

impl Loki {
    /// From Loki's base URL (`http://loki:3100`, a path prefix kept; the full push URL is accepted too).
    /// An error starts with the key it is about (`loki: …`, `labels.env: …`).
    pub(super) fn new(
        url: &str,
        ca_pem: Option<&[u8]>,
        stack: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Loki, String> {
        let masked = tugboat::secret::mask_urls(url).into_owned();
        let bad = |why: &str| format!("loki: `{masked}`: {why}; write Loki's base URL, e.g. http://loki:3100");
        let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("Loki is reached over http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("a base URL has no query"));
        }
        let base = parsed.as_str().trim_end_matches('/');
        let push = if parsed.path().trim_end_matches('/').ends_with(PUSH_PATH) {
            Url::parse(base)
        } else {
            Url::parse(&format!("{base}{PUSH_PATH}"))
        }
        .map_err(|e| bad(&e.to_string()))?;
        for name in labels.keys() {
            if OWN_LABELS.contains(&name.as_str()) {
                return Err(format!("labels.{name}: tugboat sets `{name}` itself"));
            }
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with("__");
            if !valid {
                return Err(format!(
                    "labels.{name}: a Loki label name is letters, digits and `_`, not starting with a digit or `__`"
                ));
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tugboat/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("ca_file: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("loki: cannot set up the HTTP client: {}", describe(&e)))?;
        Ok(Loki {
            display: tugboat::secret::mask_urls(push.as_str()).into_owned(),
            push,
            client,
            stack: stack.to_string(),
            labels: labels.clone(),
        })
    }

    /// Sends until shutdown finds the buffer empty.
    pub(super) async fn run(self, r: Arc<Receiver>) {
        let mut backoff = Backoff::new();
        let mut retrying = false;
        loop {
            if !r.lines().await {
                return;
            }
            if !retrying {
                let until = Instant::now() + FLUSH_EVERY;
                while !r.closing() && !r.batch_ready(BATCH_LINES, BATCH_BYTES) {
                    if tokio::time::timeout_at(until, r.wake.notified()).await.is_err() {
                        break;
                    }
                }
            }
            let batch = r.take(BATCH_LINES, BATCH_BYTES);
            retrying = false;
            match self.push(&batch).await {
                Outcome::Sent => {
                    r.sent(batch.len());
                    backoff.reset();
                }
                Outcome::Refused(e) => r.refused(batch.len(), e),
                Outcome::Retry(e, after) => {
                    r.give_back(batch);
                    r.failed(e);
                    retrying = true;
                    tokio::time::sleep(backoff.step(after)).await;
                }
            }
        }
    }

    async fn push(&self, batch: &[Arc<LogLine>]) -> Outcome {
        let body = self.body(batch);
        let response = match self.client.post(self.push.clone()).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry(format!("{}: {}", self.display, describe(&e.without_url())), Duration::ZERO)
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, |s| Duration::from_secs(s).min(RETRY_AFTER_MAX));
        let text = response.text().await.unwrap_or_default();
        let error = clip(&format!("Loki answered {status}: {}", text.trim()));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Outcome::Retry(error, retry_after)
        } else {
            Outcome::Refused(error)
        }
    }

    /// The push request: one stream per (service, container, output stream), in the order first seen.
    fn body(&self, batch: &[Arc<LogLine>]) -> Value {
        let mut index: HashMap<(&str, &str, bool), usize> = HashMap::new();
        let mut streams: Vec<(&LogLine, Vec<Value>)> = Vec::new();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for line in batch {
            let key = (line.service.as_str(), line.container.as_str(), line.stream == Stream::Stderr);
            let i = *index.entry(key).or_insert_with(|| {
                streams.push((line, Vec::new()));
                streams.len() - 1
            });
            let nanos = if line.time.is_empty() || line.nanos <= 0 { now.to_string() } else { line.nanos.to_string() };
            streams[i].1.push(json!([nanos, line.line]));
        }
        let streams: Vec<Value> = streams
            .into_iter()
            .map(|(first, values)| {
                let mut labels: Map<String, Value> =
                    self.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                labels.insert("stack".into(), self.stack.clone().into());
                labels.insert("service".into(), first.service.clone().into());
                labels.insert("container".into(), first.container.clone().into());
                let stream = match first.stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                };
                labels.insert("stream".into(), stream.into());
                json!({"stream": labels, "values": values})
            })
            .collect();
        json!({ "streams": streams })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::tests::line;
    use super::*;

    fn loki(url: &str) -> Result<Loki, String> {
        Loki::new(url, None, "shop", &[("env".to_string(), "prod".to_string())].into())
    }

    #[test]
    fn push_urls() {
        assert_eq!(loki("http://loki:3100").unwrap().push.as_str(), "http://loki:3100/loki/api/v1/push");
        assert_eq!(
            loki("https://l.example/prefix/").unwrap().push.as_str(),
            "https://l.example/prefix/loki/api/v1/push"
        );
        assert_eq!(loki("http://l/loki/api/v1/push").unwrap().push.as_str(), "http://l/loki/api/v1/push");
        let masked = loki("http://u:hunter22@l:3100").unwrap().display;
        assert!(!masked.contains("hunter22"), "{masked}");
        assert!(loki("ftp://l").err().unwrap().starts_with("loki: `ftp://l`"));
        assert!(loki("http://l?x=1").is_err());
    }

    #[test]
    fn batches_are_streams_per_container_and_output() {
        let mut err = line(2, "oops");
        err.stream = Stream::Stderr;
        let mut db = line(3, "ready");
        db.service = "db".into();
        db.container = "shop-db-1".into();
        let batch: Vec<_> = [line(0, "a"), err, line(1, "b"), db].into_iter().map(Arc::new).collect();
        let body = loki("http://l").unwrap().body(&batch);
        let expected = json!({"streams": [
            {"stream": {"env": "prod", "stack": "shop", "service": "web", "container": "shop-web-1", "stream": "stdout"},
             "values": [["1796205600123456789", "a"], ["1796205600123456790", "b"]]},
            {"stream": {"env": "prod", "stack": "shop", "service": "web", "container": "shop-web-1", "stream": "stderr"},
             "values": [["1796205600123456791", "oops"]]},
            {"stream": {"env": "prod", "stack": "shop", "service": "db", "container": "shop-db-1", "stream": "stdout"},
             "values": [["1796205600123456792", "ready"]]},
        ]});
        assert_eq!(body, expected);
    }
}
