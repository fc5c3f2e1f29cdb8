//! The access log: one JSON line per response (or tunnel) when it ends. Only the fields below: never
//! query strings, bodies, cookies or Authorization.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::ProxyError;

pub(crate) struct AccessLog {
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Serialize)]
pub(crate) struct Entry<'a> {
    pub time: String,
    pub route: &'a str,
    pub target: String,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration_ms: u64,
    pub bytes: u64,
}

impl AccessLog {
    pub(crate) fn open(spec: &str) -> Result<AccessLog, ProxyError> {
        let out: Box<dyn Write + Send> = if spec == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(spec)
                    .map_err(|e| ProxyError::io(format!("open access log {spec}"), e))?,
            )
        };
        Ok(AccessLog { out: Mutex::new(out) })
    }

    pub(crate) fn write(&self, entry: &Entry<'_>) {
        let Ok(mut line) = serde_json::to_vec(entry) else { return };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // One write per line, so concurrent writers (and a successor process) never interleave within one.
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::warn!("access log: {e}");
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
