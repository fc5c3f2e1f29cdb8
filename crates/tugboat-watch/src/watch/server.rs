//! The status page (`/`, server-rendered HTML readable on a phone, no JavaScript), Prometheus metrics
//! (`/metrics`) and the same state as JSON (`/api/status`). A token, when configured, is required as
//! `Authorization: Bearer …` or `?token=…`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::forward::ForwardStats;
use super::notify::format_time;
use super::Shared;
use crate::probe::{self, Status};
use tugboat_runtime::logs::collect::ServiceCounts;

/// Hours shown by the history bar, in half-hour segments.
const HISTORY_HOURS: i64 = 24;
const SEGMENT_MS: i64 = 30 * 60 * 1000;

pub fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status_json))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), require_token))
        .with_state(shared)
}

pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    if let Err(e) = axum::serve(listener, app(shared)).await {
        tracing::error!(error = %e, "status page stopped");
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<TokenQuery>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = shared.current().token.clone() else { return next.run(request).await };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = bearer.or(q.token).unwrap_or_default();
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a token is required\n").into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One row of the page: a check's identity and state.
struct Row {
    id: String,
    kind: String,
    target: String,
    status: Option<Status>,
    detail: String,
    duration_ms: Option<f64>,
    incident_since_ms: Option<i64>,
    cert_expiry_ms: Option<f64>,
}

fn rows(shared: &Shared) -> Vec<Row> {
    let view = shared.view.read().unwrap_or_else(|e| e.into_inner());
    view.checks
        .iter()
        .map(|(id, kind, target)| {
            let latest = view.latest.get(id);
            Row {
                id: id.clone(),
                kind: kind.clone(),
                target: target.clone(),
                status: latest.map(|o| o.status),
                detail: latest.map(|o| o.failure_summary()).unwrap_or_default(),
                duration_ms: latest.map(|o| o.duration_ms),
                incident_since_ms: view.states.get(id).and_then(|s| s.incident_since_ms),
                cert_expiry_ms: latest.and_then(|o| o.values.get("CERTIFICATE_EXPIRATION").copied()),
            }
        })
        .collect()
}

async fn status_json(State(shared): State<Arc<Shared>>) -> Response {
    let (stack, drift, runs, reloads) = {
        let view = shared.view.read().unwrap_or_else(|e| e.into_inner());
        (view.stack.clone(), view.drift_summary(), view.runs, view.reloads.clone())
    };
    let checks: Vec<_> = rows(&shared)
        .into_iter()
        .map(|r| {
            json!({"check": r.id, "kind": r.kind, "target": r.target, "status": r.status, "detail": r.detail,
                   "duration_ms": r.duration_ms, "incident_since_ms": r.incident_since_ms})
        })
        .collect();
    let alerts = shared.store().recent_alerts(&stack, 20).unwrap_or_default();
    axum::Json(json!({
        "stack": stack,
        "checks": checks,
        "alerts": alerts,
        "runs": runs,
        "reloads": reloads,
        "schedule_drift_ms": {"p50": drift.0, "p99": drift.1, "max": drift.2},
    }))
    .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let (stack, drift, runs, pending, backup, drill) = {
        let view = shared.view.read().unwrap_or_else(|e| e.into_inner());
        let stack = view.stack.clone();
        let (drift, runs) = (view.drift_summary(), view.runs);
        drop(view);
        let store = shared.store();
        let pending = store.pending_deliveries().unwrap_or(0);
        let backup = store.last_backup_run(&stack).ok().flatten();
        let drill = store.last_drill_run(&stack).ok().flatten();
        (stack, drift, runs, pending, backup, drill)
    };
    let mut m = String::new();
    let labels = |r: &Row| {
        let (suite, name) = r.id.split_once('/').unwrap_or(("", &r.id));
        format!("stack=\"{}\",suite=\"{}\",check=\"{}\",kind=\"{}\"", esc(&stack), esc(suite), esc(name), r.kind)
    };
    let rows = rows(&shared);
    let mut family = |name: &str, help: &str, kind: &str, values: Vec<(String, f64)>| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (l, v) in values {
            let _ = writeln!(m, "{name}{{{l}}} {v}");
        }
    };
    // A check that does not apply here (no GPU) has no `up` sample: it neither passed nor failed.
    family(
        "tugboat_check_up",
        "1 when the check's last run passed, 0 when it failed; absent until it runs and while it is not applicable.",
        "gauge",
        rows.iter()
            .filter(|r| matches!(r.status, Some(Status::Pass | Status::Fail)))
            .map(|r| (labels(r), (r.status == Some(Status::Pass)) as u8 as f64))
            .collect(),
    );
    family(
        "tugboat_check_applicable",
        "0 when the check's last run found nothing to check on this host (a GPU check without a GPU), else 1.",
        "gauge",
        rows.iter()
            .filter(|r| r.status.is_some())
            .map(|r| (labels(r), (r.status != Some(Status::NotApplicable)) as u8 as f64))
            .collect(),
    );
    family(
        "tugboat_check_duration_seconds",
        "How long the check's last run took.",
        "gauge",
        rows.iter().filter_map(|r| r.duration_ms.map(|d| (labels(r), d / 1000.0))).collect(),
    );
    family(
        "tugboat_check_incident_open",
        "1 while an alert for the check is open.",
        "gauge",
        rows.iter().map(|r| (labels(r), r.incident_since_ms.is_some() as u8 as f64)).collect(),
    );
    family(
        "tugboat_check_certificate_expiry_seconds",
        "Seconds until the served certificate expires.",
        "gauge",
        rows.iter().filter_map(|r| r.cert_expiry_ms.map(|c| (labels(r), (c / 1000.0).round()))).collect(),
    );
    let stack_label = format!("stack=\"{}\"", esc(&stack));
    let now_s = probe::now_ms() as f64 / 1000.0;
    let mut job = |what: &str, last: Option<(i64, bool)>| {
        if let Some((at, ok)) = last {
            family(
                &format!("tugboat_{what}_last_run_timestamp_seconds"),
                &format!("When the last {what} ran."),
                "gauge",
                vec![(stack_label.clone(), at as f64 / 1000.0)],
            );
            family(
                &format!("tugboat_{what}_last_run_age_seconds"),
                &format!("Seconds since the last {what} ran."),
                "gauge",
                vec![(stack_label.clone(), (now_s - at as f64 / 1000.0).round())],
            );
            family(
                &format!("tugboat_{what}_last_run_success"),
                &format!("1 when the last {what} succeeded."),
                "gauge",
                vec![(stack_label.clone(), ok as u8 as f64)],
            );
        }
    };
    job("backup", backup);
    job("drill", drill);
    family(
        "tugboat_alerts_pending",
        "Alert deliveries queued for retry.",
        "gauge",
        vec![(stack_label.clone(), pending as f64)],
    );
    family(
        "tugboat_watch_check_runs_total",
        "Check runs since tug watch started.",
        "counter",
        vec![(stack_label.clone(), runs as f64)],
    );
    family(
        "tugboat_watch_schedule_drift_seconds",
        "How late check runs started over the last minute.",
        "gauge",
        [("0.5", drift.0), ("0.99", drift.1), ("1", drift.2)]
            .iter()
            .map(|(q, v)| (format!("{stack_label},quantile=\"{q}\""), v / 1000.0))
            .collect(),
    );
    if let Some(logs) = shared.log_stats() {
        let per_service = |f: fn(&ServiceCounts) -> u64| {
            logs.services
                .iter()
                .map(|(service, c)| (format!("{stack_label},service=\"{}\"", esc(service)), f(c) as f64))
                .collect()
        };
        family(
            "tugboat_logs_lines_total",
            "Log lines stored since tug watch started.",
            "counter",
            per_service(|c| c.lines),
        );
        family(
            "tugboat_logs_dropped_total",
            "Log lines not stored because the collector fell behind (they stay in the engine's own log).",
            "counter",
            per_service(|c| c.dropped),
        );
        family(
            "tugboat_logs_containers_followed",
            "Containers whose log is being read.",
            "gauge",
            vec![(stack_label.clone(), logs.following as f64)],
        );
        family(
            "tugboat_logs_engine_up",
            "1 while the log collector can read the engine.",
            "gauge",
            vec![(stack_label.clone(), logs.engine_error.is_none() as u8 as f64)],
        );
    }
    let forwarded = shared.forwarders().as_ref().map(|f| f.stats());
    if let Some(forwarded) = forwarded.filter(|f| !f.is_empty()) {
        let per_receiver = |f: fn(&ForwardStats) -> f64| {
            forwarded
                .iter()
                .map(|r| (format!("{stack_label},receiver=\"{}\",kind=\"{}\"", esc(&r.name), r.kind), f(r)))
                .collect()
        };
        family(
            "tugboat_logs_forwarded_total",
            "Log lines a receiver took.",
            "counter",
            per_receiver(|r| r.sent as f64),
        );
        family(
            "tugboat_logs_forward_dropped_total",
            "Log lines dropped for a receiver: its buffer was full, or it refused them for good.",
            "counter",
            per_receiver(|r| r.dropped as f64),
        );
        family(
            "tugboat_logs_forward_queued",
            "Log lines waiting for a receiver.",
            "gauge",
            per_receiver(|r| r.queued as f64),
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m).into_response()
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn status_page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let now = probe::now_ms();
    let stack = shared.view.read().map(|v| v.stack.clone()).unwrap_or_default();
    let since = now - HISTORY_HOURS * 3_600_000;
    let (history, alerts, backup, drill) = {
        let store = shared.store();
        (
            store.check_history(&stack, since - SEGMENT_MS).unwrap_or_default(),
            store.recent_alerts(&stack, 10).unwrap_or_default(),
            store.last_backup_run(&stack).ok().flatten(),
            store.last_drill_run(&stack).ok().flatten(),
        )
    };
    let rows = rows(&shared);
    let failing = rows.iter().filter(|r| r.status == Some(Status::Fail)).count();
    let mut page = String::new();
    let headline = if failing == 0 { "All checks pass".to_string() } else { format!("{failing} failing") };
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30"><title>{title} — tugboat</title><style>
body{{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:56rem;padding:1rem;color:#1b1f24;background:#f6f7f9}}
h1{{font-size:1.3rem;margin:.2rem 0}} h2{{font-size:1rem;margin:1.4rem 0 .4rem}} .sub{{color:#57606a;font-size:.85rem}}
.banner{{padding:.6rem .8rem;border-radius:6px;color:#fff;font-weight:600;background:{banner}}}
.check{{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:.5rem .7rem;margin:.4rem 0}}
.top{{display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}} .name{{font-weight:600}} .kind,.t{{color:#57606a;font-size:.8rem;overflow-wrap:anywhere}}
.dot{{display:inline-block;width:.7rem;height:.7rem;border-radius:50%}} .pass{{background:#1f883d}} .fail{{background:#cf222e}} .na,.none{{background:#afb8c1}}
.bar{{display:flex;gap:1px;margin-top:.35rem;height:.9rem}} .bar span{{flex:1;border-radius:1px}}
.part{{background:#d4a72c}} .detail{{color:#cf222e;font-size:.85rem;overflow-wrap:anywhere}}
table{{border-collapse:collapse;width:100%;background:#fff;font-size:.85rem}} td,th{{border-bottom:1px solid #d8dee4;padding:.3rem;text-align:left;vertical-align:top}}
</style></head><body><h1>{title}</h1><p class="sub">tugboat watch · {host} · {now}</p><div class="banner">{headline}</div><h2>Checks</h2>"#,
        title = html(&stack),
        host = html(&super::notify::hostname()),
        now = format_time(now),
        banner = if failing == 0 { "#1f883d" } else { "#cf222e" },
    );
    for r in &rows {
        let class = match r.status {
            Some(Status::Pass) => "pass",
            Some(Status::Fail) => "fail",
            Some(Status::NotApplicable) => "na",
            None => "none",
        };
        let timing = r.duration_ms.map(|d| format!("{d:.0} ms")).unwrap_or_else(|| "not run yet".into());
        let _ = write!(
            page,
            r#"<div class="check"><div class="top"><span class="dot {class}" title="{class}"></span><span class="name">{id}</span><span class="kind">{kind} · {timing}</span></div><div class="t">{target}</div>"#,
            id = html(&r.id),
            kind = html(&r.kind),
            target = html(&r.target)
        );
        if r.status == Some(Status::Fail) {
            let since =
                r.incident_since_ms.map(|s| format!(" — alerting since {}", format_time(s))).unwrap_or_default();
            let _ = write!(page, r#"<div class="detail">{}{}</div>"#, html(&r.detail), html(&since));
        }
        page.push_str(r#"<div class="bar">"#);
        for seg in 0..(HISTORY_HOURS * 2) {
            let start = since + seg * SEGMENT_MS;
            let (ok, failed) = history
                .iter()
                .filter(|b| b.check_id == r.id && b.bucket_ms >= start && b.bucket_ms < start + SEGMENT_MS)
                .fold((0, 0), |(o, f), b| (o + b.ok, f + b.failed));
            let class = match (ok, failed) {
                (0, 0) => "none",
                (_, 0) => "pass",
                (0, _) => "fail",
                _ => "part",
            };
            let _ = write!(
                page,
                r#"<span class="{class}" title="{}: {ok} ok, {failed} failed"></span>"#,
                format_time(start)
            );
        }
        page.push_str("</div></div>");
    }
    page.push_str("<h2>Backups and drills</h2><table>");
    for (what, last) in [("Last backup", backup), ("Last drill", drill)] {
        let text = match last {
            Some((at, ok)) => format!("{} — {}", if ok { "ok" } else { "FAILED" }, format_time(at)),
            None => "none recorded".into(),
        };
        let _ = write!(page, "<tr><th>{what}</th><td>{}</td></tr>", html(&text));
    }
    page.push_str("</table><h2>Recent alerts</h2>");
    if alerts.is_empty() {
        page.push_str(r#"<p class="sub">No alerts.</p>"#);
    } else {
        page.push_str("<table><tr><th>When</th><th>Check</th><th>What</th><th>Delivered</th></tr>");
        for a in &alerts {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td>{}</td></tr>",
                format_time(a.time_ms),
                html(&a.check_id),
                html(&a.kind),
                html(&a.summary),
                match (a.delivered, a.pending) {
                    (0, 0) => "not sent: no provider".to_string(),
                    (d, 0) => d.to_string(),
                    (d, p) => format!("{d} ({p} queued)"),
                }
            );
        }
        page.push_str("</table>");
    }
    let matches: Vec<_> = shared.log_matches().recent.iter().rev().take(20).cloned().collect();
    if !matches.is_empty() {
        page.push_str("<h2>Recent log matches</h2><table><tr><th>When</th><th>Alert</th><th>Line</th></tr>");
        for m in &matches {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{} | {}</td></tr>",
                html(&m.time),
                html(&m.rule),
                html(&m.label),
                html(&m.line)
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>\n");
    Html(page)
}
