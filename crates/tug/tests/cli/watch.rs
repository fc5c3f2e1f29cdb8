//! `tug smoke` and `tug watch` on the dms example, its checks pointed at local test servers; the alert
//! e-mail arrives at a real SMTP server (aiosmtpd). A scheduled backup runs in the daemon's process, on a
//! clock started just before its cron time.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::Fixture;
#[path = "../../../tugboat-watch/tests/support/mod.rs"]
pub(crate) mod support;
use support::{wait_until, HttpTarget, Response, SmtpSink, WebhookReceiver};

/// The DMS backend and frontend as the smoke suite expects them: health, login, documents, search.
fn dms_target() -> HttpTarget {
    let target = HttpTarget::start();
    target.route("/api/auth/login", Response::json(serde_json::json!({"access_token": "tok-123"})));
    let bearer = ("Authorization", "Bearer tok-123");
    target.route_requiring("/api/documents", bearer, Response::json(serde_json::json!({"data": [{"id": 1}]})));
    target.route_requiring("/api/search", bearer, Response::json(serde_json::json!({"hits": []})));
    target
}

fn dms_env(target: &HttpTarget, hook: &WebhookReceiver) -> Vec<(&'static str, String)> {
    vec![
        ("DMS_BACKEND", target.url("").trim_end_matches('/').to_string()),
        ("DMS_FRONTEND", target.url("").trim_end_matches('/').to_string()),
        ("SMOKE_USER", "smoke".into()),
        ("SMOKE_PASSWORD", "smoke-pw".into()),
        ("ROCKETCHAT_HOOK", hook.url("/hooks/token")),
        ("NEW_HOST_IP", "127.0.0.1".into()),
        ("COMPOSE_PROJECT_NAME", "tug-watch-test-nothing-runs".into()),
    ]
}

#[test]
fn dms_smoke_suite_passes_its_http_checks_and_names_the_missing_containers() {
    let dms = Fixture::example("dms");
    let target = dms_target();
    let hook = WebhookReceiver::start();
    let mut tug = dms.tug().args(["smoke", "--json"]);
    for (k, v) in dms_env(&target, &hook) {
        tug = tug.env(k, v);
    }
    let run = tug.run();
    run.failure(1);
    let report = run.json();
    let status = |name: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"))
            ["status"]
            .clone()
    };
    for name in ["backend", "frontend", "login-flow"] {
        assert_eq!(status(name), "pass", "{name}: {}", run.describe());
    }
    assert_eq!(status("ocr"), "fail");
    assert!(run.stdout().contains("no container for compose service `ocr-sidecar`"), "{}", run.describe());
    // The login step's password went in a request body, never into the report.
    assert!(!run.stdout().contains("smoke-pw"));
    let login = target.requests().into_iter().find(|r| r.path == "/api/auth/login").unwrap();
    assert!(login.body.contains("smoke-pw"));
}

#[test]
fn dms_watch_emails_an_alert_when_the_backend_fails() {
    let dms = Fixture::example("dms");
    let target = dms_target();
    target.route("/health", Response::new(503, "maintenance"));
    let hook = WebhookReceiver::start();
    let smtp = SmtpSink::start();
    // The example's e-mail provider, pointed at the test's SMTP server; the checks stay as shipped.
    dms.edit("tugboat.yml", |t| {
        t.replace(
            "smtp: { host: smtp.np-dms.work,",
            &format!("smtp: {{ host: 127.0.0.1, port: {}, security: none,", smtp.port()),
        )
    });
    // A Thursday noon: far from the example's 02:00 backup and its Sunday 04:00 maintenance window (which
    // would mute the alert), whenever the test runs.
    let noon = {
        use chrono::TimeZone;
        chrono::Local.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single().unwrap().to_rfc3339()
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_tug"));
    command
        .env("TUGBOAT_WATCH_CLOCK_START", noon)
        .args(["watch", "--listen", "127.0.0.1:0", "--log-format", "json", "--dir"])
        .arg(dms.path())
        .arg("--state")
        .arg(dms.join("state.db"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dms.join("watch.log")).unwrap());
    for (k, v) in dms_env(&target, &hook) {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mail = smtp.wait_for(1, Duration::from_secs(60));
    assert!(mail[0].contains("Subject: [tugboat] dms: smoke/backend is DOWN"), "{}", mail[0]);
    assert!(mail[0].contains("[STATUS] == 200 (observed 503)"), "{}", mail[0]);
    assert!(mail[0].contains("ops@np-dms.work"), "{}", mail[0]);
    // SIGHUP with a broken tugboat.yml: logged, and the running configuration is kept.
    let good = dms.read("tugboat.yml");
    dms.write("tugboat.yml", &good.replace("\"[STATUS] == 200\", \"[RESPONSE_TIME] < 2000\"", "\"[STATUS] = 200\""));
    Command::new("kill").arg("-HUP").arg(child.id().to_string()).status().unwrap();
    let log = || std::fs::read_to_string(dms.join("watch.log")).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the reload to be refused",
        || log().contains("configuration not reloaded").then_some(()),
        log,
    );
    assert!(log().contains("use `==`"), "the log says what is wrong: {}", log());
    assert!(child.try_wait().unwrap().is_none(), "still running after a bad reload");
    // SIGTERM: a graceful stop with exit code 0.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = wait_until(
        Duration::from_secs(30),
        "tug watch to stop",
        || child.try_wait().unwrap(),
        || "still running".into(),
    );
    let log = log();
    assert!(status.success(), "{status:?}\n{log}");
    let first = log.lines().next().unwrap();
    let line: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(line["message"], "tug watch started", "{log}");
    assert!(!log.contains("smoke-pw") && !log.contains("/hooks/token"), "no secret in the log:\n{log}");
}

#[test]
fn watch_dry_run_prints_the_plan_and_bad_conditions_are_config_errors() {
    let dms = Fixture::example("dms");
    let target = dms_target();
    let hook = WebhookReceiver::start();
    let with_env = |mut tug: crate::util::Tug| {
        for (k, v) in dms_env(&target, &hook) {
            tug = tug.env(k, v);
        }
        tug
    };
    let run = with_env(dms.tug().args(["watch", "--dry-run", "--json"])).run();
    run.success();
    let mut plan = run.json();
    assert_eq!(plan["checks"].as_array().unwrap().len(), 12, "smoke and monitor suites: {plan}");
    assert_eq!(plan["checks"][0]["check"], "smoke/backend");
    assert_eq!(plan["checks"][0]["alert"]["providers"], serde_json::json!(["email", "rocketchat"]));
    assert_eq!(plan["schedules"][0]["job"], "backup");
    assert!(plan["schedules"][0]["next"].as_str().unwrap().contains("T02:00:00"), "{plan}");
    assert!(!run.stdout().contains("/hooks/token"), "the webhook URL is not printed");
    // Pinned: the test servers' port and the next run's date redacted.
    let port = target.port().to_string();
    for c in plan["checks"].as_array_mut().unwrap() {
        c["target"] = c["target"].as_str().unwrap().replace(&port, "PORT").into();
    }
    for s in plan["schedules"].as_array_mut().unwrap() {
        s["next"] = redact_next(s["next"].as_str().unwrap()).into();
    }
    insta::assert_json_snapshot!("watch_dry_run_json", plan);
    let text = with_env(dms.tug().args(["watch", "--dry-run"])).run();
    text.success();
    let text: String = text.stdout().replace(&port, "PORT").lines().map(|l| redact_next(l) + "\n").collect();
    insta::assert_snapshot!("watch_dry_run_text", text);

    dms.edit("tugboat.yml", |t| {
        t.replacen("\"[STATUS] == 200\", \"[RESPONSE_TIME] < 2000\"", "\"[STATUS] =< 200\"", 1)
    });
    let run = with_env(dms.tug().args(["watch", "--dry-run"])).run();
    run.failure(2);
    run.stderr_contains("tugboat.yml:38:").stderr_contains("checks.smoke[0].expect[0]").stderr_contains("column 10");
}

/// RFC 3339 times (`2026-12-02T02:00:00+00:00`) → `DATET02:00:00ZONE`: the date and the zone vary from
/// run to run and machine to machine; the time of day is the schedule's.
fn redact_next(text: &str) -> String {
    let shape = |s: &[u8], pattern: &[u8]| {
        s.len() >= pattern.len()
            && pattern.iter().zip(s).all(|(p, c)| if *p == b'9' { c.is_ascii_digit() } else { p == c })
    };
    let (bytes, mut out, mut i) = (text.as_bytes(), String::new(), 0);
    while i < bytes.len() {
        if shape(&bytes[i..], b"9999-99-99T99:99:99") {
            let zone = &bytes[i + 19..];
            let zone_len = if zone.first() == Some(&b'Z') {
                1
            } else if shape(zone, b"+99:99") || shape(zone, b"-99:99") {
                6
            } else {
                0
            };
            out.push_str("DATE");
            out.push_str(&text[i + 10..i + 19]);
            out.push_str(if zone_len > 0 { "ZONE" } else { "" });
            i += 19 + zone_len;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The daemon runs a scheduled backup in its own process through the engine's backup operation: the
/// database source is unreachable, so the alert names that source and why, the config source is backed up
/// anyway, and the run leaves exactly one audit event. The binary is a copy deleted right after it starts,
/// so a job that re-executed `tug` could not run at all. Its clock starts two seconds before 02:00.
#[test]
fn a_scheduled_backup_runs_in_process_and_its_alert_names_the_failed_source() {
    use chrono::TimeZone;

    let hook = WebhookReceiver::start();
    let closed = support::free_port();
    let f = Fixture::new();
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\n\
             databases:\n  main: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{closed}/shop\" }}\n\
             backup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources:\n    - {{ database: main }}\n    - {{ config: true }}\n\
             alerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\n\
             watch:\n  schedule: {{ backup: \"0 2 * * *\" }}\n",
            hook.url("/alert")
        ),
    );
    f.write(".env", "REPO_PW=correct horse battery staple\n");
    f.tug().args(["backup", "init"]).run().success();

    let bin = crate::util::tempdir();
    let tug = bin.path().join("tug");
    std::fs::copy(env!("CARGO_BIN_EXE_tug"), &tug).unwrap();
    let start = chrono::Local.with_ymd_and_hms(2026, 11, 26, 1, 59, 58).single().unwrap().to_rfc3339();
    let mut command = Command::new(&tug);
    command
        .args(["watch", "--listen", "127.0.0.1:0", "--log-format", "json", "--dir"])
        .arg(f.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", f.path())
        .env("TUGBOAT_WATCH_CLOCK_START", &start)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(f.join("watch.log")).unwrap());
    let mut child = command.spawn().unwrap();
    // `spawn` returns once the program is executing: from here on there is no `tug` to run again.
    std::fs::remove_file(&tug).unwrap();

    let alert = hook.wait_for(1, Duration::from_secs(120))[0].json();
    let log = || std::fs::read_to_string(f.join("watch.log")).unwrap();
    assert_eq!(alert["check"], "schedule/backup", "{alert}\n{}", log());
    assert_eq!(alert["kind"], "triggered", "{alert}");
    let summary = alert["summary"].as_str().unwrap();
    assert!(summary.starts_with("backup: 1 of 2 sources failed — main: "), "{alert}");
    assert!(summary.contains("Can't connect"), "the reason, from the dump tool: {alert}");
    assert_eq!(alert["failed_sources"].as_array().unwrap().len(), 1, "{alert}");
    assert_eq!(alert["failed_sources"][0]["source"], "main", "{alert}");
    assert!(alert["failed_sources"][0]["reason"].as_str().unwrap().contains("Can't connect"), "{alert}");

    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = wait_until(
        Duration::from_secs(60),
        "tug watch to stop",
        || child.try_wait().unwrap(),
        || "still running".into(),
    );
    assert!(status.success(), "{status:?}\n{}", log());
    assert!(!log().contains("correct horse"), "no secret in the log:\n{}", log());

    // One audit event for the run, failed, naming the source; the chain verifies.
    let events = f.tug().args(["audit", "log", "--json", "."]).run().json();
    let backups: Vec<&serde_json::Value> =
        events.as_array().unwrap().iter().filter(|e| e["command"] == "backup").collect();
    assert_eq!(backups.len(), 1, "{events:#}");
    let why = backups[0]["outcome"]["failed"].as_str().unwrap_or_default();
    assert!(why.contains("main"), "{events:#}");
    f.tug().args(["audit", "verify", "."]).run().success();
    // The other source was backed up all the same.
    let snapshots = f.tug().args(["backup", "snapshots", "--json"]).run().json();
    assert_eq!(snapshots.as_array().map(Vec::len), Some(1), "{snapshots:#}");
}

/// `tug smoke`'s two formats for one small suite, pinned: a pass, a failure with its observed values, a
/// closed port that should be closed, and a GPU check on a host without one. Ports and timings redacted.
#[test]
fn smoke_report_formats() {
    let target = HttpTarget::start();
    target.route("/health", Response::new(503, r#"{"status":"degraded"}"#));
    let closed = support::free_port();
    let stack = Fixture::new();
    stack.write("docker-compose.yml", "services:\n  web:\n    image: example.org/web:1.0\n");
    stack.write(
        "tugboat.yml",
        &format!(
            r#"stack: snap
checks:
  smoke:
    - {{ name: frontend, http: "{front}", expect: ["[STATUS] == 200", "[RESPONSE_TIME] < 5000"] }}
    - {{ name: backend, http: "{back}", expect: ["[STATUS] == 200", "[BODY].status == ok"] }}
    - {{ name: admin-hidden, tcp: "127.0.0.1:{closed}", expect: closed }}
    - {{ name: gpu-vram, gpu: true, expect: ["[GPU_MEMORY] < 90"] }}
"#,
            front = target.url("/"),
            back = target.url("/health"),
        ),
    );
    let redact = |text: &str| -> String {
        let mut out = String::new();
        for line in text.lines() {
            let mut l = line.to_string();
            for port in [target.port(), closed] {
                l = l.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:PORT");
            }
            // "12 ms" and "in 0.3 s" vary from run to run.
            let words: Vec<&str> = l.split(' ').collect();
            let l: Vec<&str> = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let timed = words.get(i + 1).is_some_and(|unit| *unit == "ms" || *unit == "s");
                    if timed && w.parse::<f64>().is_ok() {
                        "N"
                    } else {
                        *w
                    }
                })
                .collect();
            let l = l.join(" ");
            out.push_str(l.trim_end());
            out.push('\n');
        }
        out
    };
    let run = stack.tug().arg("smoke").run();
    run.failure(1);
    insta::assert_snapshot!("smoke_text", redact(&run.stdout()));

    let run = stack.tug().args(["smoke", "--json"]).run();
    run.failure(1);
    let mut report = run.json();
    report["duration_ms"] = "N".into();
    for c in report["checks"].as_array_mut().unwrap() {
        c["duration_ms"] = "N".into();
        c["started_ms"] = "N".into();
        c["target"] = redact(c["target"].as_str().unwrap()).trim().into();
        if let Some(v) = c["values"].as_object_mut() {
            for (k, v) in v.iter_mut() {
                if k == "RESPONSE_TIME" {
                    *v = "N".into();
                }
            }
        }
        for cond in c["conditions"].as_array_mut().unwrap() {
            if cond["condition"].as_str().unwrap().starts_with("[RESPONSE_TIME]") {
                cond["observed"] = "N".into();
            }
        }
    }
    insta::assert_json_snapshot!("smoke_json", report);
}
