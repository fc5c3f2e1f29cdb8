//! Probes: the checks of `checks:` compiled into runnable form, and running one.
//!
//! A [`Check`] is validated once (conditions parsed, `${VAR}` resolved, placeholders known to its probe
//! kind) so that `tug smoke` and `tug watch` refuse bad config before touching anything, with the file,
//! line and column of the mistake. Running a check never fails as a Rust error: whatever happens — a
//! refused connection, a timeout, a missing container — becomes an [`Outcome`] with what was observed.

pub mod condition;
mod container;
mod der;
mod dns;
mod drift;
mod host;
mod http;
mod net;
mod sql;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use tugboat::stack::probes::{CheckConfig, Expect, HostProbeConfig};
use tugboat::stack::{ConfigError, Location, Node, Span, Stack};

pub use condition::{Condition, ConditionResult, Placeholder};
pub use container::DockerClient;

/// The default per-probe time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much later than its time limit a probe is abandoned when it has not given up by itself.
const TIMEOUT_BACKSTOP_GRACE: Duration = Duration::from_millis(250);

/// A check ready to run.
#[derive(Debug, Clone)]
pub struct Check {
    /// `suite/name`, unique within the stack.
    pub id: String,
    pub suite: String,
    pub name: String,
    pub kind: &'static str,
    /// What it probes, for reports (passwords in URLs masked; headers and bodies never shown).
    pub target: String,
    pub steps: Vec<Step>,
    pub timeout: Duration,
    /// The entry in `tugboat.yml` (for the watch layer's own settings: interval, alert).
    pub config: CheckConfig,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub label: Option<String>,
    pub probe: Probe,
    pub conditions: Vec<Condition>,
    /// Values kept for later steps: `[CONTEXT].name`.
    pub store: Vec<(String, Placeholder)>,
}

#[derive(Debug, Clone)]
pub enum Probe {
    Http(http::HttpProbe),
    Tcp { address: String },
    Tls(net::TlsProbe),
    Dns(dns::DnsProbe),
    Sql(sql::SqlProbe),
    Container { name: String, projects: Vec<String> },
    Host { mounts: Vec<String> },
    Gpu,
    Drift(drift::DriftProbe),
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Nothing to probe here (no GPU on this host): neither a pass nor a failure.
    NotApplicable,
}

/// The result of running a check once.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub check: String,
    pub suite: String,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub status: Status,
    /// Unix time (ms) at the start.
    pub started_ms: i64,
    pub duration_ms: f64,
    pub conditions: Vec<ConditionResult>,
    /// Why the probe could not observe anything (connection refused, timeout, no such container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra facts for an alert (the busiest containers when memory runs out, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// Numeric observations for metrics (`RESPONSE_TIME`, `CERTIFICATE_EXPIRATION`, `CPU` …).
    pub values: BTreeMap<String, f64>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.status != Status::Fail
    }

    /// One line on what went wrong: the failed conditions with what was seen, or the error.
    pub fn failure_summary(&self) -> String {
        let failed: Vec<String> = self
            .conditions
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{} (observed {})", c.condition, c.observed))
            .collect();
        match (&self.error, failed.is_empty()) {
            (Some(e), true) => e.clone(),
            (Some(e), false) => format!("{e}; {}", failed.join("; ")),
            (None, _) => failed.join("; "),
        }
    }
}

/// What a probe saw: placeholder values, plus an error when it could not look at all.
#[derive(Debug, Default)]
struct Observed {
    values: Map<String, Value>,
    error: Option<String>,
    not_applicable: bool,
    diagnostics: Vec<String>,
}

/// Placeholders each probe kind provides (conditions on anything else are config errors).
fn placeholders_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "http" | "steps" => {
            &["STATUS", "RESPONSE_TIME", "BODY", "HEADERS", "CONNECTED", "CERTIFICATE_EXPIRATION", "CONTEXT"]
        }
        "tcp" => &["CONNECTED", "RESPONSE_TIME"],
        "tls" => &["CONNECTED", "RESPONSE_TIME", "CERTIFICATE_EXPIRATION", "CERTIFICATE_VALID", "CERTIFICATE_SUBJECT"],
        "dns" => &["DNS_RCODE", "BODY", "ANSWERS", "RESPONSE_TIME", "CONNECTED"],
        "sql" => &["RESULT", "ROWS", "RESPONSE_TIME", "CONNECTED"],
        "container" => &["STATE", "HEALTH", "RESTARTS", "EXIT_CODE", "UPTIME", "CPU", "MEMORY"],
        "host" => &["CPU", "MEMORY", "SWAP", "DISK", "LOAD"],
        "drift" => &["DRIFT", "CONNECTED"],
        _ => &["GPU_MEMORY", "GPU_MEMORY_USED", "GPU_MEMORY_FREE", "GPU_UTILIZATION", "GPU_TEMPERATURE"],
    }
}

/// Conditions used when a check has no `expect`.
fn default_conditions(kind: &str) -> &'static [&'static str] {
    match kind {
        "http" | "steps" => &["[CONNECTED] == true", "[STATUS] < 400"],
        "tcp" | "sql" => &["[CONNECTED] == true"],
        "tls" => &["[CONNECTED] == true", "[CERTIFICATE_VALID] == true", "[CERTIFICATE_EXPIRATION] > 168h"],
        "dns" => &["[DNS_RCODE] == NOERROR"],
        "container" => &["[STATE] == running", "[HEALTH] != unhealthy"],
        "host" => &["[CPU] < 90", "[MEMORY] < 90", "[DISK] < 90"],
        "drift" => &["[DRIFT] == 0"],
        _ => &["[GPU_MEMORY] < 95"],
    }
}

/// Compiles the named suites of a stack (all when `suites` is `None`), reporting every problem at once.
pub fn compile(stack: &Stack, suites: Option<&[String]>) -> Result<Vec<Check>, ConfigError> {
    let config = &stack.config;
    let names: Vec<String> = match suites {
        Some(s) => s.to_vec(),
        None => config.checks.keys().cloned().collect(),
    };
    let root = stack.config_file.as_ref().map(|(_, node)| node);
    let mut errors = Vec::new();
    let mut checks = Vec::new();
    let shared_stack = std::cell::OnceCell::new();
    for suite in &names {
        let Some(entries) = config.checks.get(suite) else {
            let known: Vec<&str> = config.checks.keys().map(String::as_str).collect();
            errors.push(ConfigError::Other(format!(
                "no check suite `{suite}` in tugboat.yml; {}",
                if known.is_empty() {
                    "define one under `checks:`".to_string()
                } else {
                    format!("suites: {}", known.join(", "))
                }
            )));
            continue;
        };
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("checks.{suite}[{i}]");
            let node =
                root.and_then(|r| r.get_path(&["checks", suite])).and_then(|n| n.as_seq()).and_then(|s| s.get(i));
            let mut ctx = Compiler { stack, shared_stack: &shared_stack, node, path: &path, errors: &mut errors };
            checks.extend(ctx.check(suite, entry));
        }
    }
    ConfigError::collect(errors)?;
    Ok(checks)
}

struct Compiler<'a> {
    stack: &'a Stack,
    /// One copy of the stack for all SQL probes (they resolve their database when they run).
    shared_stack: &'a std::cell::OnceCell<Arc<Stack>>,
    node: Option<&'a Node>,
    path: &'a str,
    errors: &'a mut Vec<ConfigError>,
}

impl Compiler<'_> {
    fn span(&self, keys: &[&str]) -> Span {
        let mut node = self.node;
        for k in keys {
            node = match k.parse::<usize>() {
                Ok(i) => node.and_then(|n| n.as_seq()).and_then(|s| s.get(i)),
                Err(_) => node.and_then(|n| n.get(k)),
            };
        }
        node.or(self.node).map(|n| n.span.clone()).unwrap_or_else(|| Span::new(&Arc::new("tugboat.yml".into()), 0, 0))
    }

    fn fail(&mut self, keys: &[&str], message: impl Into<String>) {
        let key_path = std::iter::once(self.path.to_string())
            .chain(keys.iter().map(|k| if k.parse::<usize>().is_ok() { format!("[{k}]") } else { format!(".{k}") }))
            .collect::<String>();
        self.errors.push(ConfigError::at(Location::new(self.span(keys), key_path), message));
    }

    /// `${VAR}` from the environment, then `.env`.
    fn resolve(&mut self, keys: &[&str], text: &str) -> String {
        let lookup = |name: &str| self.stack.variable(name);
        let mut used = Vec::new();
        let result = tugboat::stack::interpolate::interpolate(text, &lookup, &mut used);
        // Unset is an error only where no default (`${VAR:-x}`) stands in.
        let bare = |v: &str| {
            text.contains(&format!("${{{v}}}"))
                || text
                    .match_indices(&format!("${v}"))
                    .any(|(i, m)| !text[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        };
        let missing: Vec<String> = used.into_iter().filter(|v| self.stack.variable(v).is_none() && bare(v)).collect();
        match result {
            Ok(_) if !missing.is_empty() => {
                self.fail(keys, format!("${{{}}} is not set (environment or .env)", missing.join("}, ${")));
                String::new()
            }
            Ok(s) => s,
            Err(e) => {
                self.fail(keys, e.message);
                String::new()
            }
        }
    }

    fn check(&mut self, suite: &str, entry: &CheckConfig) -> Option<Check> {
        let name = entry.name.clone().unwrap_or_default();
        let kinds = entry.kinds();
        let kind = *kinds.first()?;
        let timeout = entry.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT);
        let before = self.errors.len();
        let steps: Vec<Step> = if entry.steps.is_empty() {
            self.step(&[], entry, kind).into_iter().collect()
        } else {
            let mut steps = Vec::new();
            for (j, step) in entry.steps.iter().enumerate() {
                let j = j.to_string();
                steps.extend(self.step(&["steps", &j], step, "http"));
            }
            steps
        };
        if self.errors.len() > before {
            return None;
        }
        let target = steps.first().map(|s| s.probe.target()).unwrap_or_default();
        Some(Check {
            id: format!("{suite}/{name}"),
            suite: suite.to_string(),
            name,
            kind,
            target,
            steps,
            timeout,
            config: entry.clone(),
        })
    }

    fn step(&mut self, at: &[&str], entry: &CheckConfig, kind: &'static str) -> Option<Step> {
        let key = |k: &'static str| -> Vec<&str> { at.iter().copied().chain(std::iter::once(k)).collect() };
        let ca_pem = match &entry.ca_file {
            Some(f) => {
                let p = self.stack.dir.join(f);
                match std::fs::read(&p) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        self.fail(&key("ca_file"), format!("cannot read {}: {e}", p.display()));
                        None
                    }
                }
            }
            None => None,
        };
        let probe = match kind {
            "http" => {
                let url = self.resolve(&key("http"), entry.http.as_deref().unwrap_or_default());
                let mut headers = Vec::new();
                for (h, v) in &entry.headers {
                    let v = self.resolve(&key("headers"), v);
                    headers.push((h.clone(), v));
                }
                let body = entry.body.as_deref().map(|b| self.resolve(&key("body"), b));
                if !url.is_empty()
                    && !url.starts_with("http://")
                    && !url.starts_with("https://")
                    && !url.contains("[CONTEXT]")
                {
                    self.fail(
                        &key("http"),
                        format!("`{}` is not an http:// or https:// URL", tugboat::secret::mask_url_password(&url)),
                    );
                }
                let method = entry.method.clone().unwrap_or_else(|| "GET".into()).to_uppercase();
                if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
                    self.fail(&key("method"), format!("`{method}` is not an HTTP method"));
                }
                Probe::Http(http::HttpProbe {
                    url,
                    method,
                    headers,
                    body,
                    follow_redirects: entry.follow_redirects.unwrap_or(true),
                    insecure: entry.insecure,
                    ca_id: http::ca_id(ca_pem.as_deref()),
                    ca_pem,
                })
            }
            "tcp" => Probe::Tcp { address: self.resolve(&key("tcp"), entry.tcp.as_deref().unwrap_or_default()) },
            "tls" => {
                let address = self.resolve(&key("tls"), entry.tls.as_deref().unwrap_or_default());
                Probe::Tls(net::TlsProbe { address, ca_pem })
            }
            "dns" => {
                let d = entry.dns.as_ref()?;
                let name = self.resolve(&key("dns"), &d.name);
                match dns::DnsProbe::new(name, d.record.as_deref(), d.server.as_deref()) {
                    Ok(p) => Probe::Dns(p),
                    Err(e) => {
                        self.fail(&key("dns"), e);
                        return None;
                    }
                }
            }
            "sql" => {
                let s = entry.sql.as_ref()?;
                let stack = Arc::clone(self.shared_stack.get_or_init(|| Arc::new(self.stack.clone())));
                Probe::Sql(sql::SqlProbe { database: s.database.clone(), stack, query: s.query.clone() })
            }
            "container" => {
                let name = entry.container.clone().unwrap_or_default();
                let projects = if self.stack.service(&name).is_some() {
                    tugboat::db::resolve::compose_projects(self.stack)
                } else {
                    Vec::new()
                };
                Probe::Container { name, projects }
            }
            "host" => Probe::Host {
                mounts: match &entry.host {
                    Some(HostProbeConfig::Mounts { mounts }) if !mounts.is_empty() => mounts.clone(),
                    _ => vec!["/".into()],
                },
            },
            "drift" => {
                let stack = Arc::clone(self.shared_stack.get_or_init(|| Arc::new(self.stack.clone())));
                Probe::Drift(drift::DriftProbe { stack })
            }
            _ => Probe::Gpu,
        };
        let texts: Vec<String> = match &entry.expect {
            None => default_conditions(kind).iter().map(|s| s.to_string()).collect(),
            Some(Expect::Word(w)) if kind == "tcp" && (w == "open" || w == "closed") => {
                vec![format!("[CONNECTED] == {}", w == "open")]
            }
            Some(Expect::Word(w)) => {
                self.fail(
                    &key("expect"),
                    format!("`expect: {w}`: write a list of conditions (open/closed is for tcp checks)"),
                );
                return None;
            }
            Some(Expect::Conditions(list)) => list.clone(),
        };
        let known = placeholders_of(kind);
        let mut conditions = Vec::new();
        for (c, text) in texts.iter().enumerate() {
            let c = c.to_string();
            let keys: Vec<&str> = at.iter().copied().chain(["expect", &c]).collect();
            match Condition::parse(text) {
                Ok(cond) => {
                    for p in cond.placeholders() {
                        if !known.contains(&p) {
                            self.fail(
                                &keys,
                                format!("`{text}`: a {kind} check has no [{p}]; it has [{}]", known.join("], [")),
                            );
                        }
                    }
                    conditions.push(cond);
                }
                Err(e) => self.fail(&keys, format!("`{text}`: {e}")),
            }
        }
        let mut store = Vec::new();
        for (name, expr) in &entry.store {
            match Condition::parse(&format!("{expr} == x")).ok().and_then(|c| c.single_placeholder()) {
                Some(p) => store.push((name.clone(), p)),
                None => self.fail(&key("store"), format!("`{name}: {expr}`: store a placeholder such as [BODY].token")),
            }
        }
        Some(Step { label: entry.name.clone(), probe, conditions, store })
    }
}

impl Probe {
    /// What is probed, safe to print.
    pub fn target(&self) -> String {
        match self {
            Probe::Http(h) => format!("{} {}", h.method, tugboat::secret::mask_url_password(&h.url)),
            Probe::Tcp { address } => address.clone(),
            Probe::Tls(t) => t.address.clone(),
            Probe::Dns(d) => d.describe(),
            Probe::Sql(s) => format!("database {}", s.database),
            Probe::Container { name, .. } => name.clone(),
            Probe::Host { mounts } => format!("cpu, memory, disk {}", mounts.join(" ")),
            Probe::Gpu => "nvidia-smi".into(),
            Probe::Drift(d) => format!("project {}", d.stack.project.name),
        }
    }
}

/// Runs checks; holds what is shared between runs (HTTP clients, the Docker socket, CPU samples).
pub struct Prober {
    http: http::Clients,
    docker: DockerClient,
    cpu: host::CpuSampler,
}

impl Prober {
    pub fn new() -> Prober {
        Prober { http: http::Clients::default(), docker: DockerClient::from_env(), cpu: host::CpuSampler::default() }
    }

    /// Runs a check once, within its time limit.
    pub async fn run(&self, check: &Check) -> Outcome {
        let started_ms = now_ms();
        let start = Instant::now();
        let mut context = Map::new();
        let mut conditions = Vec::new();
        let mut values = BTreeMap::new();
        let (mut error, mut diagnostics, mut not_applicable) = (None, Vec::new(), false);
        for step in &check.steps {
            let deadline = check.timeout;
            // The probes that enforce the limit themselves (HTTP, DNS) report what they saw when it passes
            // (`[STATUS]` 0, the URL, the server); this backstop, a little later so that it never wins that
            // race, covers those that cannot (a TCP connect or TLS handshake with a silent host).
            let backstop = deadline + TIMEOUT_BACKSTOP_GRACE;
            let observed = match tokio::time::timeout(backstop, self.observe(&step.probe, &context, deadline)).await {
                Ok(o) => o,
                Err(_) => Observed {
                    error: Some(format!("no answer within {}", condition::format_ms(deadline.as_millis() as f64))),
                    values: Map::from_iter([("CONNECTED".to_string(), Value::Bool(false))]),
                    ..Default::default()
                },
            };
            let mut obs = observed.values;
            obs.insert("CONTEXT".into(), Value::Object(context.clone()));
            for (k, v) in &obs {
                if let Some(n) = v.as_f64() {
                    values.insert(k.clone(), n);
                }
            }
            let label = step.label.as_deref().filter(|_| check.steps.len() > 1);
            let mut step_ok = true;
            if !observed.not_applicable {
                for cond in &step.conditions {
                    let mut r = cond.evaluate(&obs);
                    if let Some(l) = label {
                        r.condition = format!("{l}: {}", r.condition);
                    }
                    step_ok &= r.ok;
                    conditions.push(r);
                }
            }
            for (name, placeholder) in &step.store {
                if let Some(v) = placeholder.resolve(&obs) {
                    context.insert(name.clone(), v);
                }
            }
            not_applicable |= observed.not_applicable;
            diagnostics.extend(observed.diagnostics);
            if let Some(e) = observed.error {
                error = Some(match label {
                    Some(l) => format!("{l}: {e}"),
                    None => e,
                });
            }
            if !step_ok {
                break;
            }
        }
        let failed = conditions.iter().any(|c| !c.ok) || conditions.is_empty();
        if failed && !not_applicable && matches!(check.steps.first().map(|s| &s.probe), Some(Probe::Host { .. })) {
            // What is eating the host, so the alert says where to look.
            let top = self.docker.top_by_memory(3).await;
            if !top.is_empty() {
                diagnostics.push(format!("top containers by memory: {}", top.join(", ")));
            }
        }
        let status = if not_applicable {
            Status::NotApplicable
        } else if conditions.iter().all(|c| c.ok) && !conditions.is_empty() && error.is_none() {
            // An error means part of the probe saw nothing (a mount that is gone): not a pass.
            Status::Pass
        } else {
            Status::Fail
        };
        Outcome {
            check: check.id.clone(),
            suite: check.suite.clone(),
            name: check.name.clone(),
            kind: check.kind,
            target: check.target.clone(),
            status,
            started_ms,
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            conditions,
            error,
            diagnostics,
            values,
        }
    }

    async fn observe(&self, probe: &Probe, context: &Map<String, Value>, timeout: Duration) -> Observed {
        match probe {
            Probe::Http(h) => self.http.observe(h, context, timeout).await,
            Probe::Tcp { address } => net::tcp(address).await,
            Probe::Tls(t) => net::tls(t).await,
            Probe::Dns(d) => d.observe(timeout).await,
            Probe::Sql(s) => s.observe().await,
            Probe::Container { name, projects } => self.docker.observe(name, projects).await,
            Probe::Host { mounts } => host::observe(&self.cpu, mounts).await,
            Probe::Gpu => host::gpu().await,
            Probe::Drift(d) => d.observe().await,
        }
    }
}

impl Default for Prober {
    fn default() -> Self {
        Prober::new()
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Runs `checks` with at most `concurrency` at once; outcomes come back in the checks' order.
pub async fn run_all(prober: &Prober, checks: &[Check], concurrency: usize) -> Vec<Outcome> {
    use futures_util::stream::{self, StreamExt};
    stream::iter(checks.iter().map(|c| prober.run(c))).buffered(concurrency.max(1)).collect().await
}
