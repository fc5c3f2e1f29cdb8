//! Alerts on collected log lines (`watch.logs.alerts`): a rule matches a line by regex (`match`, on the
//! redacted line) and/or by conditions on a JSON line (`[LINE].level == error`, the check condition
//! language); `threshold` matches within `window` (by the lines' own times) raise it, and it is raised
//! again at most once per `debounce` (by the daemon's clock) while lines keep matching. Alerts go through
//! the outbox like check alerts; the status page lists recent matches.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use tugboat::stack::logs::LogsConfig;
use tugboat::stack::ConfigError;
use tugboat_runtime::logs::LogLine;

use crate::probe::condition::{Condition, Observations};

/// Placeholders a log condition can read.
const PLACEHOLDERS: &[&str] = &["LINE", "SERVICE", "CONTAINER", "STREAM"];
/// Matching lines quoted in an alert.
const SAMPLE: usize = 5;
/// Matches kept for the status page.
pub const RECENT: usize = 50;

#[derive(Debug, Clone)]
pub struct LogRule {
    pub name: String,
    pub services: Option<Vec<String>>,
    pub pattern: Option<Regex>,
    pub conditions: Vec<Condition>,
    pub threshold: u32,
    pub window: Duration,
    pub debounce: Duration,
    pub providers: Vec<String>,
}

impl LogRule {
    fn matches(&self, line: &LogLine) -> bool {
        if self.services.as_ref().is_some_and(|s| !s.contains(&line.service)) {
            return false;
        }
        if self.pattern.as_ref().is_some_and(|re| !re.is_match(&line.line)) {
            return false;
        }
        if self.conditions.is_empty() {
            return true;
        }
        let Ok(parsed) = serde_json::from_str::<Value>(&line.line) else { return false };
        let seen = LineObservations { line, parsed };
        self.conditions.iter().all(|c| c.evaluate(&seen).ok)
    }

    /// What the rule looks for, in an alert.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.pattern.iter().map(|p| format!("`{p}`")).collect();
        parts.extend(self.conditions.iter().map(|c| c.text.clone()));
        parts.join(" and ")
    }
}

struct LineObservations<'a> {
    line: &'a LogLine,
    parsed: Value,
}

impl Observations for LineObservations<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        match name {
            "LINE" => Some(self.parsed.clone()),
            "SERVICE" => Some(Value::String(self.line.service.clone())),
            "CONTAINER" => Some(Value::String(self.line.container.clone())),
            "STREAM" => serde_json::to_value(self.line.stream).ok(),
            _ => None,
        }
    }
}

/// The rules of `watch.logs.alerts`, every mistake reported at its key. `services` are the stack's.
pub fn compile(config: &LogsConfig, services: &[String], providers: &[String]) -> Result<Vec<LogRule>, ConfigError> {
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut names = Vec::new();
    for (i, a) in config.alerts.iter().enumerate() {
        let at = |key: &str| format!("watch.logs.alerts[{i}].{key}");
        if names.contains(&a.name) {
            errors.push(ConfigError::Other(format!("{}: `{}` is the name of an earlier alert", at("name"), a.name)));
        }
        names.push(a.name.clone());
        for s in a.services.iter().flatten().filter(|s| !services.contains(s)) {
            errors.push(ConfigError::Other(format!(
                "{}: no service `{s}` in this stack; its services: {}",
                at("services"),
                services.join(", ")
            )));
        }
        let pattern = match a.pattern.as_deref().map(Regex::new).transpose() {
            Ok(p) => p,
            Err(e) => {
                errors.push(ConfigError::Other(format!("{}: not a regular expression: {e}", at("match"))));
                None
            }
        };
        let mut conditions = Vec::new();
        for (j, text) in a.conditions.iter().enumerate() {
            match Condition::parse(text) {
                Ok(c) => {
                    if let Some(p) = c.placeholders().into_iter().find(|p| !PLACEHOLDERS.contains(p)) {
                        errors.push(ConfigError::Other(format!(
                            "{}: [{p}] is not known here; a log condition reads [LINE] (the line as JSON), [SERVICE], [CONTAINER], [STREAM]",
                            at(&format!("conditions[{j}]"))
                        )));
                    }
                    conditions.push(c);
                }
                Err(e) => errors.push(ConfigError::Other(format!("{}: {e}", at(&format!("conditions[{j}]"))))),
            }
        }
        if a.pattern.is_none() && a.conditions.is_empty() {
            errors.push(ConfigError::Other(format!("watch.logs.alerts[{i}]: give `match` (a regex) or `conditions`")));
        }
        if a.threshold == Some(0) {
            errors.push(ConfigError::Other(format!("{}: at least 1", at("threshold"))));
        }
        for p in a.providers.iter().flatten().filter(|p| !providers.contains(p)) {
            errors.push(ConfigError::Other(format!(
                "{}: no provider `{p}` under `alerts:`; there are: {}",
                at("providers"),
                providers.join(", ")
            )));
        }
        rules.push(LogRule {
            name: a.name.clone(),
            services: a.services.clone(),
            pattern,
            conditions,
            threshold: a.threshold.unwrap_or(1),
            window: a.window.map_or(Duration::from_secs(60), |w| w.0),
            debounce: a.debounce.map_or(Duration::from_secs(600), |d| d.0),
            providers: a.providers.clone().unwrap_or_default(),
        });
    }
    ConfigError::collect(errors)?;
    Ok(rules)
}

/// A rule whose threshold was reached: the alert to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: String,
    /// Matches within the window when it fired.
    pub count: usize,
    /// The last few matching lines.
    pub sample: Vec<LogLine>,
}

/// A line a rule matched, for the status page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentMatch {
    pub rule: String,
    pub time: String,
    pub label: String,
    pub line: String,
}

/// Per rule: the times of recent matches and when it last fired.
#[derive(Default)]
pub struct Matcher {
    state: HashMap<String, RuleState>,
    pub recent: VecDeque<RecentMatch>,
}

#[derive(Default)]
struct RuleState {
    matches: VecDeque<i128>,
    sample: VecDeque<LogLine>,
    last_fired_ms: Option<i64>,
}

impl Matcher {
    /// Matches `lines` against `rules`; the alerts to send now (`now_ms` on the daemon's clock).
    pub fn observe(&mut self, rules: &[LogRule], lines: &[LogLine], now_ms: i64) -> Vec<Fired> {
        let mut fired = Vec::new();
        for rule in rules {
            let state = self.state.entry(rule.name.clone()).or_default();
            let window = i128::try_from(rule.window.as_nanos()).unwrap_or(i128::MAX);
            for line in lines.iter().filter(|l| rule.matches(l)) {
                state.matches.push_back(line.nanos);
                while state.matches.front().is_some_and(|t| line.nanos - *t > window) {
                    state.matches.pop_front();
                }
                state.sample.push_back(line.clone());
                if state.sample.len() > SAMPLE {
                    state.sample.pop_front();
                }
                self.recent.push_back(RecentMatch {
                    rule: rule.name.clone(),
                    time: line.time.clone(),
                    label: line.label.clone(),
                    line: line.line.clone(),
                });
                if self.recent.len() > RECENT {
                    self.recent.pop_front();
                }
                let reached = state.matches.len() >= rule.threshold as usize;
                let debounced = state
                    .last_fired_ms
                    .is_some_and(|at| now_ms - at < i64::try_from(rule.debounce.as_millis()).unwrap_or(i64::MAX));
                if reached && !debounced {
                    state.last_fired_ms = Some(now_ms);
                    fired.push(Fired {
                        rule: rule.name.clone(),
                        count: state.matches.len(),
                        sample: state.sample.iter().cloned().collect(),
                    });
                }
            }
        }
        // Rules removed by a reload forget their state.
        self.state.retain(|name, _| rules.iter().any(|r| &r.name == name));
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tugboat::stack::logs::LogAlertConfig;
    use tugboat::stack::probes::HumanDuration;
    use tugboat_runtime::logs::Stream;

    fn line(second: i128, service: &str, text: &str) -> LogLine {
        LogLine {
            time: format!("t{second}"),
            nanos: second * 1_000_000_000,
            service: service.into(),
            container: format!("shop-{service}-1"),
            label: format!("{service}-1"),
            stream: Stream::Stdout,
            line: text.into(),
        }
    }

    fn rules(alerts: Vec<LogAlertConfig>) -> Result<Vec<LogRule>, ConfigError> {
        let config = LogsConfig { alerts, ..Default::default() };
        compile(&config, &["app".into(), "db".into()], &["mail".into()])
    }

    #[test]
    fn a_threshold_within_the_window_fires_once_per_debounce() {
        let rules = rules(vec![LogAlertConfig {
            name: "errors".into(),
            services: Some(vec!["app".into()]),
            pattern: Some("(?i)error".into()),
            threshold: Some(3),
            window: Some(HumanDuration(Duration::from_secs(60))),
            debounce: Some(HumanDuration(Duration::from_secs(600))),
            ..Default::default()
        }])
        .unwrap();
        let mut m = Matcher::default();
        // Two errors, then one 2 minutes later: never three within a minute.
        let spread = [line(0, "app", "ERROR a"), line(10, "app", "error b"), line(130, "app", "Error c")];
        assert!(m.observe(&rules, &spread, 0).is_empty());
        // Two more within the minute of the third (and one of db's, not watched): fires with the count.
        let burst = [line(140, "db", "ERROR x"), line(150, "app", "ERROR d"), line(160, "app", "ERROR e")];
        let fired = m.observe(&rules, &burst, 1_000);
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].count, fired[0].sample.len()), (3, 5));
        // More matches inside the debounce: nothing; after it: again.
        assert!(m.observe(&rules, &[line(170, "app", "ERROR f")], 2_000).is_empty());
        assert_eq!(m.observe(&rules, &[line(180, "app", "ERROR g")], 601_000).len(), 1);
        assert_eq!(m.recent.back().map(|r| r.line.as_str()), Some("ERROR g"));
    }

    #[test]
    fn json_conditions_read_the_line() {
        let rules = rules(vec![LogAlertConfig {
            name: "slow".into(),
            conditions: vec!["[LINE].level == error".into(), "[LINE].ms > 500".into()],
            ..Default::default()
        }])
        .unwrap();
        let mut m = Matcher::default();
        let lines = [
            line(1, "app", r#"{"level":"error","ms":20}"#),
            line(2, "app", "level=error ms=900"),
            line(3, "db", r#"{"level":"error","ms":900}"#),
        ];
        let fired = m.observe(&rules, &lines, 0);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].sample[0].service, "db");
    }

    #[test]
    fn mistakes_are_reported_at_their_keys() {
        let err = rules(vec![
            LogAlertConfig { name: "a".into(), pattern: Some("(".into()), ..Default::default() },
            LogAlertConfig {
                name: "a".into(),
                services: Some(vec!["web".into()]),
                conditions: vec!["[BODY].x == 1".into()],
                providers: Some(vec!["pager".into()]),
                threshold: Some(0),
                ..Default::default()
            },
            LogAlertConfig { name: "b".into(), ..Default::default() },
        ])
        .unwrap_err()
        .to_string();
        for expected in [
            "watch.logs.alerts[0].match: not a regular expression",
            "watch.logs.alerts[1].name: `a` is the name of an earlier alert",
            "watch.logs.alerts[1].services: no service `web` in this stack; its services: app, db",
            "watch.logs.alerts[1].conditions[0]: [BODY] is not known here",
            "watch.logs.alerts[1].providers: no provider `pager`",
            "watch.logs.alerts[1].threshold: at least 1",
            "watch.logs.alerts[2]: give `match` (a regex) or `conditions`",
        ] {
            assert!(err.contains(expected), "{expected}\nin: {err}");
        }
    }
}
