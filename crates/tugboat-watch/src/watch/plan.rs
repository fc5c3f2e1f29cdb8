//! `tug watch --dry-run`: what the daemon would do with the configuration — every check with its
//! interval, conditions and alert rule, the providers, when each scheduled job runs next, the
//! maintenance windows. Its JSON is the `--dry-run --json` document; the CLI renders the text.

use serde::Serialize;
use tugboat::stack::probes::HumanDuration;

use super::cron::Cron;
use super::Loaded;

#[derive(Debug, Clone, Serialize)]
pub struct WatchPlan {
    pub stack: String,
    /// The status page's address.
    pub listen: String,
    /// Whether the status page requires a token.
    pub token: bool,
    pub checks: Vec<PlannedCheck>,
    /// The alert providers, in failover order.
    pub providers: Vec<String>,
    pub schedules: Vec<PlannedJob>,
    pub maintenance: Vec<PlannedWindow>,
    /// How often the heartbeat is pinged (its URL is a secret and not shown).
    pub heartbeat: Option<String>,
    pub logs: PlannedLogs,
}

/// Container log collection: on or off, the default retention, the log alerts and where lines go.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedLogs {
    pub collect: bool,
    pub retention: String,
    pub max_bytes: String,
    /// `name: what it matches (threshold within window)`.
    pub alerts: Vec<String>,
    /// The forwarding receivers' names.
    pub forward: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedCheck {
    pub check: String,
    pub kind: &'static str,
    pub target: String,
    pub interval: String,
    pub conditions: Vec<String>,
    pub alert: PlannedAlert,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedAlert {
    pub enabled: bool,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub renotify: Option<String>,
    /// Where the check's alerts go: its own `providers`, else all.
    pub providers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedJob {
    pub job: String,
    pub cron: String,
    /// The next run, RFC 3339 in local time; `None` for a schedule that never fires.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedWindow {
    pub cron: String,
    pub duration: String,
}

impl Loaded {
    /// The plan at `now_ms` (Unix milliseconds; it decides when each scheduled job runs next).
    pub fn plan(&self, now_ms: i64) -> WatchPlan {
        let providers = self.notifier.names();
        let checks = self
            .checks
            .iter()
            .map(|c| {
                let rule = self.rules.get(&c.id).cloned().unwrap_or_else(super::job_rule);
                PlannedCheck {
                    check: c.id.clone(),
                    kind: c.kind,
                    target: c.target.clone(),
                    interval: self.intervals.get(&c.id).map(|i| HumanDuration(*i).to_string()).unwrap_or_default(),
                    conditions: c.steps.iter().flat_map(|s| s.conditions.iter().map(|c| c.text.clone())).collect(),
                    alert: PlannedAlert {
                        enabled: rule.enabled,
                        failure_threshold: rule.failure_threshold,
                        success_threshold: rule.success_threshold,
                        renotify: rule.renotify.map(|d| HumanDuration(d).to_string()),
                        providers: if rule.providers.is_empty() { providers.clone() } else { rule.providers.clone() },
                    },
                }
            })
            .collect();
        let now = Cron::local(now_ms);
        let schedules = self
            .schedules
            .iter()
            .map(|(what, cron)| PlannedJob {
                job: what.clone(),
                cron: cron.to_string(),
                next: now.and_then(|now| cron.next_after(now)).map(|t| t.to_rfc3339()),
            })
            .collect();
        WatchPlan {
            stack: self.stack.name.clone(),
            listen: self.listen.clone(),
            token: self.token.is_some(),
            checks,
            providers,
            schedules,
            maintenance: self
                .maintenance
                .iter()
                .map(|(c, d)| PlannedWindow { cron: c.to_string(), duration: HumanDuration(*d).to_string() })
                .collect(),
            heartbeat: self.heartbeat.as_ref().map(|(_, every)| HumanDuration(*every).to_string()),
            logs: self.planned_logs(),
        }
    }

    fn planned_logs(&self) -> PlannedLogs {
        // Per-service overrides change only the services they name: the plan shows the defaults.
        let (age, bytes) = self.logs.retention_of("");
        PlannedLogs {
            collect: self.logs.collect != Some(false),
            retention: HumanDuration(age).to_string(),
            max_bytes: tugboat::stack::logs::ByteSize(bytes).to_string(),
            alerts: self
                .log_rules
                .iter()
                .map(|r| format!("{}: {} ({} within {})", r.name, r.describe(), r.threshold, HumanDuration(r.window)))
                .collect(),
            forward: super::forward::forward_names(&self.logs.forward),
        }
    }
}
