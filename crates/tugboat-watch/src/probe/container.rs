//! Container probes through the Docker Engine API on its Unix socket: `[STATE]` (`running`, `exited`…),
//! `[HEALTH]` (`healthy`, `unhealthy`, `starting`, `none`), `[RESTARTS]`, `[EXIT_CODE]`, `[UPTIME]` (ms).
//!
//! The API is spoken directly (HTTP/1.0 over the socket, one request per connection): a probe needs two
//! GETs, not a Docker SDK.

use std::path::PathBuf;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Observed;

/// Engine API version asked for; 1.41 (Docker 20.10) has everything used here.
const API: &str = "/v1.41";

#[derive(Debug, Clone)]
pub struct DockerClient {
    socket: PathBuf,
}

impl DockerClient {
    /// `DOCKER_HOST=unix://…` when set, else `/var/run/docker.sock`.
    pub fn from_env() -> DockerClient {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
        DockerClient { socket }
    }

    /// GET `path` (below the API version); the status and the JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let mut stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| format!("cannot reach the Docker Engine at {}: {e}", self.socket.display()))?;
        let request = format!("GET {API}{path} HTTP/1.0\r\nHost: docker\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("malformed answer from the Docker Engine")?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut body = raw[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// The id of `name`: a compose service of one of `projects` (by Compose's labels), else a container name.
    async fn find(&self, name: &str, projects: &[String]) -> Result<String, String> {
        if projects.is_empty() {
            return Ok(name.to_string());
        }
        let filter = format!(r#"{{"label":["com.docker.compose.service={name}"]}}"#);
        let (_, list) = self.get(&format!("/containers/json?all=true&filters={}", percent_encode(&filter))).await?;
        let containers = list.as_array().cloned().unwrap_or_default();
        // A running replica first: an exited one left behind by a recreate is not the service.
        let mut containers = containers;
        containers.sort_by_key(|c| c["State"] != "running");
        containers
            .iter()
            .find(|c| {
                let project = c["Labels"]["com.docker.compose.project"].as_str().unwrap_or_default();
                projects.iter().any(|p| p == project)
            })
            .and_then(|c| c["Id"].as_str().map(str::to_string))
            .ok_or_else(|| format!("no container for compose service `{name}` in project `{}`", projects[0]))
    }

    pub(super) async fn observe(&self, name: &str, projects: &[String]) -> Observed {
        let mut observed = Observed::default();
        let inspect = match self.find(name, projects).await {
            Ok(id) => self.get(&format!("/containers/{id}/json")).await,
            Err(e) => Err(e),
        };
        let values = &mut observed.values;
        match inspect {
            Ok((200, c)) => {
                let state = &c["State"];
                values.insert("STATE".into(), state["Status"].clone());
                let health = state["Health"]["Status"].as_str().unwrap_or("none");
                values.insert("HEALTH".into(), Value::String(health.to_string()));
                values.insert("RESTARTS".into(), c["RestartCount"].clone());
                values.insert("EXIT_CODE".into(), state["ExitCode"].clone());
                let started = state["StartedAt"]
                    .as_str()
                    .and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok());
                if let (Some(t), Some(true)) = (started, state["Running"].as_bool()) {
                    let ms = (time::OffsetDateTime::now_utc() - t).whole_milliseconds() as i64;
                    values.insert("UPTIME".into(), Value::from(ms.max(0)));
                }
                if health == "unhealthy" {
                    let log = state["Health"]["Log"].as_array().and_then(|l| l.last()).cloned().unwrap_or(Value::Null);
                    if let Some(out) = log["Output"].as_str() {
                        observed.diagnostics.push(format!("last health check: {}", out.trim()));
                    }
                }
            }
            Ok((404, _)) => {
                values.insert("STATE".into(), Value::String("missing".into()));
                observed.error = Some(format!("no container `{name}`"));
            }
            Ok((status, body)) => {
                observed.error =
                    Some(format!("Docker Engine answered {status}: {}", body["message"].as_str().unwrap_or("")))
            }
            Err(e) => {
                values.insert("STATE".into(), Value::String("missing".into()));
                observed.error = Some(e);
            }
        }
        observed
    }

    /// The `n` running containers using the most memory, as `name 1.2 GiB` lines (for resource alerts).
    pub async fn top_by_memory(&self, n: usize) -> Vec<String> {
        let Ok((_, list)) = self.get("/containers/json").await else { return Vec::new() };
        let mut usage = Vec::new();
        for c in list.as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (c["Id"].as_str(), c["Names"][0].as_str()) else { continue };
            if let Ok((200, stats)) = self.get(&format!("/containers/{id}/stats?stream=false&one-shot=true")).await {
                let bytes = stats["memory_stats"]["usage"].as_u64().unwrap_or(0);
                let cache = stats["memory_stats"]["stats"]["inactive_file"].as_u64().unwrap_or(0);
                usage.push((bytes.saturating_sub(cache), name.trim_start_matches('/').to_string()));
            }
        }
        usage.sort_by_key(|u| std::cmp::Reverse(u.0));
        usage.into_iter().take(n).map(|(b, name)| format!("{name} {:.1} MiB", b as f64 / 1048576.0)).collect()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || body.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = body.get(eol + 4 + size..).unwrap_or_default();
    }
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"), b"{\"a\":1}");
        assert_eq!(percent_encode(r#"{"l":["a=b"]}"#), "%7B%22l%22%3A%5B%22a%3Db%22%5D%7D");
    }
}
