//! Container logs in `tug watch`: the collector (crate tugboat-runtime) keeps every line of the stack's
//! containers in `logs.db` beside the state database; each stored batch is matched against the log
//! alerts of the configuration in force (alerts go through the outbox like check alerts).

use std::sync::{Arc, Weak};

use tugboat::store::NewAlert;
use tugboat_runtime::logs::collect::{Collector, CollectorOptions};
use tugboat_runtime::logs::{store, LogLine, Redactor};

use super::forward::Forwarders;
use super::log_alerts::{Fired, LogRule};
use super::notify::{self, AlertMessage};
use super::Shared;

/// Starts the forwarders and collecting (unless `watch.logs.collect` is false). A store that cannot be
/// opened is logged and collection stays off; the checks run regardless. Call on the daemon's runtime.
pub fn start(shared: &Arc<Shared>) {
    let loaded = shared.current();
    if loaded.logs.collect == Some(false) {
        return;
    }
    match Forwarders::start(&loaded.logs.forward, &loaded.stack.project.name, &loaded.stack.dir) {
        Ok(f) => *shared.forwarders() = Some(f),
        // Checked when the configuration was loaded; a CA file removed since is the one way here.
        Err(e) => tracing::error!(error = %e, "log lines are not forwarded"),
    }
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let limits = {
        let weak = weak.clone();
        Arc::new(move |service: &str| match weak.upgrade() {
            Some(shared) => shared.current().logs.retention_of(service),
            None => tugboat::stack::logs::LogsConfig::default().retention_of(service),
        })
    };
    let clock = Arc::clone(&shared.options.clock);
    let options = CollectorOptions {
        project: loaded.stack.project.name.clone(),
        store: store::beside(&shared.options.state),
        redactor: Redactor::new(loaded.stack.secret_values()),
        limits,
        now_nanos: Arc::new(move || i128::from(clock.now_ms()) * 1_000_000),
        on_stored: Box::new(move |lines| {
            if let Some(shared) = weak.upgrade() {
                stored(&shared, lines);
            }
        }),
    };
    match Collector::start(options) {
        Ok(c) => {
            tracing::info!(store = %store::beside(&shared.options.state).display(), "collecting container logs");
            *shared.collector() = Some(c);
        }
        Err(e) => tracing::error!(error = %e, "container logs are not collected"),
    }
}

/// A batch is in the store: forwarded, then matched against the log alerts.
fn stored(shared: &Shared, lines: &[LogLine]) {
    if let Some(forwarders) = shared.forwarders().as_ref() {
        for line in lines {
            forwarders.offer(line);
        }
    }
    let loaded = shared.current();
    if loaded.log_rules.is_empty() {
        return;
    }
    let now_ms = shared.options.clock.now_ms();
    let fired = shared.log_matches().observe(&loaded.log_rules, lines, now_ms);
    for f in fired {
        let Some(rule) = loaded.log_rules.iter().find(|r| r.name == f.rule) else { continue };
        let message = alert_message(&loaded.stack.name, loaded.public_url.clone(), rule, &f, now_ms);
        let providers = if rule.providers.is_empty() { loaded.notifier.names() } else { rule.providers.clone() };
        let payload = serde_json::to_string(&message).unwrap_or_default();
        let check_id = format!("logs/{}", rule.name);
        let alert = NewAlert {
            check_id: &check_id,
            kind: "matched",
            summary: &message.summary,
            payload: &payload,
            providers: &providers,
        };
        match shared.store().record_alert(&loaded.stack.name, &alert, now_ms) {
            Ok(id) => tracing::warn!(rule = %rule.name, alert = id, summary = %message.summary, "log alert"),
            Err(e) => tracing::error!(error = %e, rule = %rule.name, "cannot save a log alert"),
        }
        shared.outbox_wake.notify_one();
    }
}

fn alert_message(stack: &str, status_url: Option<String>, rule: &LogRule, f: &Fired, now_ms: i64) -> AlertMessage {
    let services = rule.services.as_ref().map_or_else(|| "every service".to_string(), |s| s.join(", "));
    AlertMessage {
        kind: "matched".into(),
        stack: stack.into(),
        host: notify::hostname(),
        check: format!("logs/{}", rule.name),
        check_kind: "logs".into(),
        target: services,
        summary: format!(
            "{} line{} matched {} within {}",
            f.count,
            if f.count == 1 { "" } else { "s" },
            rule.describe(),
            tugboat::stack::probes::HumanDuration(rule.window)
        ),
        failed_conditions: vec![],
        diagnostics: f.sample.iter().map(|l| format!("{} {} | {}", l.time, l.label, l.line)).collect(),
        failed_sources: vec![],
        time_ms: now_ms,
        failing_since_ms: None,
        last_success_ms: None,
        status_url,
    }
}
