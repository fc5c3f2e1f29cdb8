//! Secrets never leak: every command of `tug` runs on a stack whose passwords, keys and tokens are canary
//! strings (`CANARY-…`, one per secret: in `.env`, in database URLs, behind `password_env`, as the
//! repository password, the SMTP password, a webhook URL's token and header), successes and failures
//! alike, with and without `--json`. Then everything `tug` wrote is searched for the canaries: stdout and
//! stderr, the state database and its WAL as bytes, the audit log, plan reports, the export, the repository's
//! files, the alert e-mails and webhook bodies, the status page and `tug watch`'s log. None may appear.
//!
//! Real components: a scratch MariaDB with password users, a restic-compatible repository on disk, aiosmtpd
//! (STARTTLS with AUTH) and a webhook receiver. `tug up`/`down`/`deploy` run as `--dry-run` (and `status`),
//! which need the Docker Engine's answers but no image.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::util::{wait_for, Fixture, Run, Tug};
use crate::watch::support::{free_port, HttpTarget, Response, SmtpOptions, SmtpSink, TestCert, WebhookReceiver};

/// Every canary starts with this: a hit anywhere is a leak, whichever secret it is.
const MARK: &str = "CANARY-";

const DB_PW: &str = "CANARY-db-7f3a9c";
const NEW_DB_PW: &str = "CANARY-newdb-2b81e4";
const WRONG_DB_PW: &str = "CANARY-wrongpw-5d0c17";
const REPO_PW: &str = "CANARY-repo-91ce3a";
const SMTP_PW: &str = "CANARY-smtp-44af0b";
const HOOK_PATH_TOKEN: &str = "CANARY-hook-c3d9e2";
const HOOK_HEADER_TOKEN: &str = "CANARY-hdr-8e1f6a";
const SMOKE_PW: &str = "CANARY-smoke-0a7b5c";
const PROBE_PW: &str = "CANARY-probe-6e2d90";
const APP_SECRET: &str = "CANARY-app-3f5a1b";
const STAGING_SECRET: &str = "CANARY-staging-9c4e7d";
const WATCH_TOKEN: &str = "CANARY-watch-1b6f3e";
/// Written literally into the compose file (what `tug check` reports as a literal secret).
const LITERAL_KEY: &str = "CANARY-literal-d2a8f0";
/// In a `.env` line that does not parse.
const BAD_ENV_PW: &str = "CANARY-badenv-70e3c1";
/// A literal password in a URL (refused in tugboat.yml, masked on the command line).
const URL_LITERAL_PW: &str = "CANARY-urllit-5a9b2d";

/// What `tug` printed and wrote, each piece labelled with where it came from.
#[derive(Default)]
struct Evidence {
    pieces: Vec<(String, Vec<u8>)>,
}

impl Evidence {
    fn add(&mut self, label: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.pieces.push((label.into(), bytes.into()));
    }

    /// Keeps a run's stdout and stderr; returns the run for its own assertions.
    fn run(&mut self, run: Run) -> Run {
        self.add(format!("stdout of `{}`", run.line), run.output.stdout.clone());
        self.add(format!("stderr of `{}`", run.line), run.output.stderr.clone());
        run
    }

    /// Every file under `dir` (recursively) except the inputs the test wrote with canaries in them.
    fn files_under(&mut self, dir: &Path, inputs: &[PathBuf]) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if inputs.contains(&path) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.files_under(&path, inputs),
                Ok(t) if t.is_file() => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        self.add(format!("file {}", path.display()), bytes);
                    }
                }
                _ => {}
            }
        }
    }

    /// Each piece that holds a canary, with the canary in its context.
    fn leaks(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (label, bytes) in &self.pieces {
            let mut from = 0;
            while let Some(at) = find(&bytes[from..], MARK.as_bytes()) {
                let start = (from + at).saturating_sub(100);
                let end = (from + at + 120).min(bytes.len());
                found.push(format!("{label}:\n    …{}…", String::from_utf8_lossy(&bytes[start..end])));
                from += at + MARK.len();
            }
        }
        found
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The MariaDB of the stack: `shop` with data, read by `app` (password DB_PW); `shop_new` (the migration
/// target) written by `mover` (password NEW_DB_PW). The scratch server's root has no password.
fn database() -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("shop").unwrap();
    server.create_database("shop_new").unwrap();
    server
        .query(
            Some("shop"),
            &format!(
                "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2));
                 INSERT INTO orders SELECT seq, CONCAT('c', seq % 97), seq * 1.5 FROM seq_1_to_500;
                 CREATE USER 'app'@'%' IDENTIFIED BY '{DB_PW}'; GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
                 CREATE USER 'app'@'localhost' IDENTIFIED BY '{DB_PW}'; GRANT ALL PRIVILEGES ON *.* TO 'app'@'localhost';
                 CREATE USER 'mover'@'%' IDENTIFIED BY '{NEW_DB_PW}'; GRANT ALL PRIVILEGES ON *.* TO 'mover'@'%';
                 CREATE USER 'mover'@'localhost' IDENTIFIED BY '{NEW_DB_PW}'; GRANT ALL PRIVILEGES ON *.* TO 'mover'@'localhost';"
            ),
        )
        .unwrap();
    server
}

const COMPOSE: &str = "services:
  app:
    image: shop/app:1.0
    environment:
      DB_URL: \"mysql://app:${DB_PASSWORD}@db:3306/shop\"
      APP_SECRET: \"${APP_SECRET}\"
      LEGACY_API_KEY: \"CANARY-literal-d2a8f0\"
    ports: [\"127.0.0.1:8080:8080\"]
    depends_on: [db]
  db:
    image: mariadb:11.4
    environment:
      MARIADB_DATABASE: shop
      MARIADB_USER: app
      MARIADB_PASSWORD: \"${DB_PASSWORD}\"
      MARIADB_ROOT_PASSWORD: \"${DB_PASSWORD}\"
    volumes: [\"dbdata:/var/lib/mysql\"]
volumes:
  dbdata: {}
";

const COMPOSE_STAGING: &str = "services:
  app:
    environment:
      APP_SECRET: \"${STAGING_APP_SECRET}\"
";

fn tugboat_yml(db: u16, closed: u16, target: &HttpTarget, smtp: u16, smtp_closed: u16, watch_port: u16) -> String {
    let http = target.url("");
    let http = http.trim_end_matches('/');
    let authority = http.trim_start_matches("http://");
    format!(
        r#"stack: shop
environments:
  staging: {{ compose: [compose.staging.yaml] }}
databases:
  main: {{ kind: mariadb, url: "mysql://app:${{DB_PASSWORD}}@127.0.0.1:{db}/shop" }}
  new: {{ kind: mariadb, url: "mysql://127.0.0.1:{db}/shop_new", user: mover, password_env: NEW_DB_PASSWORD }}
  broken: {{ kind: mariadb, url: "mysql://app:${{DB_PASSWORD}}@127.0.0.1:{closed}/shop" }}
  wrongpw: {{ kind: mariadb, url: "mysql://127.0.0.1:{db}/shop", user: app, password_env: WRONG_DB_PASSWORD }}
backup:
  repository: ./repo
  password_env: REPO_PW
  keep: {{ last: 1 }}
  sources:
    - {{ database: main }}
    - {{ files: ./uploads }}
    - {{ config: true }}
    - {{ database: broken }}
checks:
  smoke:
    - name: login
      steps:
        - name: login
          http: "{http}/api/auth/login"
          method: POST
          headers: {{ Content-Type: application/json }}
          body: '{{"user": "smoke", "password": "${{SMOKE_PASSWORD}}"}}'
          expect: ["[STATUS] == 200", "len([BODY].access_token) > 0"]
          store: {{ token: "[BODY].access_token" }}
        - name: documents
          http: "{http}/api/documents"
          headers: {{ Authorization: "Bearer [CONTEXT].token" }}
          expect: ["[STATUS] == 200"]
    - {{ name: health, http: "http://probe:${{PROBE_PASSWORD}}@{authority}/health", expect: ["[STATUS] == 200"] }}
    - {{ name: orders, sql: {{ database: main, query: "SELECT COUNT(*) FROM orders" }}, expect: ["[RESULT] > 0"] }}
  failing:
    - {{ name: down, http: "http://probe:${{PROBE_PASSWORD}}@{authority}/down", expect: ["[STATUS] == 200"] }}
    - {{ name: unreachable-db, sql: {{ database: broken, query: "SELECT 1" }} }}
    - {{ name: wrong-password, sql: {{ database: wrongpw, query: "SELECT 1" }} }}
    - {{ name: closed, tcp: "127.0.0.1:{closed}" }}
  monitor:
    - {{ name: down, http: "http://probe:${{PROBE_PASSWORD}}@{authority}/down", interval: 200ms, expect: ["[STATUS] == 200"] }}
    - {{ name: unreachable-db, sql: {{ database: broken, query: "SELECT 1" }}, interval: 200ms }}
alerts:
  - {{ name: mail, smtp: {{ host: localhost, port: {smtp}, security: starttls, ca_file: relay-ca.pem, user: alerts, password_env: SMTP_PASSWORD, from: tug@example.org, to: [ops@example.org] }} }}
  - {{ name: deadmail, smtp: {{ host: 127.0.0.1, port: {smtp_closed}, security: none, user: alerts, password_env: SMTP_PASSWORD, to: [ops@example.org] }} }}
  - {{ name: hook, webhook: {{ url: "${{HOOK_URL}}", headers: {{ X-Token: "${{HOOK_TOKEN}}" }} }} }}
watch:
  suites: [monitor]
  listen: 127.0.0.1:{watch_port}
  token_env: WATCH_TOKEN
  alert: {{ failure_threshold: 1 }}
deploy:
  app: {{ port: 8080, health: {{ path: /health }} }}
kubernetes:
  volumes: {{ dbdata: {{ size: 1Gi }} }}
"#
    )
}

const PLAN: &str = r#"description: "a tiny cutover"
steps:
  - { name: pre-smoke, smoke: {} }
  - { name: approve-copy, approve: { note: "copy main to new" } }
  - { name: show-config, run: "./show.sh", undo: "./show.sh" }
  - { name: compare, parity: { source: main, target: new } }
"#;

/// What a careless script prints: the secrets it was given, by value and inside a URL.
const SHOW_SH: &str = "#!/bin/sh
echo \"connecting to mysql://app:$DB_PASSWORD@db/shop\"
echo \"app secret $APP_SECRET, new db $NEW_DB_PASSWORD, repository $REPO_PW, mail $SMTP_PASSWORD\"
echo \"hook $HOOK_URL token $HOOK_TOKEN\" >&2
";

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0, so the answer ends with the connection), the whole answer.
fn http_get(port: u16, path: &str, bearer: Option<&str>) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn chmod_x(path: &Path) {
    let status = Command::new("chmod").arg("+x").arg(path).status().unwrap();
    assert!(status.success(), "chmod +x {}", path.display());
}

#[test]
fn no_secret_appears_in_anything_tug_prints_or_writes() {
    let server = database();
    let closed = free_port();
    let target = HttpTarget::start();
    target.route("/api/auth/login", Response::json(serde_json::json!({"access_token": "session-42"})));
    target.route_requiring(
        "/api/documents",
        ("Authorization", "Bearer session-42"),
        Response::json(serde_json::json!({"data": []})),
    );
    target.route("/health", Response::new(200, "ok"));
    target.route("/down", Response::new(503, "maintenance"));
    let cert = TestCert::expiring_in(Duration::from_secs(86_400));
    let ca = cert.ca_pem.clone();
    let smtp =
        SmtpSink::start_with(SmtpOptions { auth: Some(("alerts".into(), SMTP_PW.into())), starttls: Some(cert) });
    let hook = WebhookReceiver::start();
    let smtp_closed = free_port();
    let watch_port = free_port();

    let f = Fixture::new();
    f.write("tugboat.yml", &tugboat_yml(server.port(), closed, &target, smtp.port(), smtp_closed, watch_port));
    f.write("compose.yaml", COMPOSE);
    f.write("compose.staging.yaml", COMPOSE_STAGING);
    let dotenv = format!(
        "DB_PASSWORD={DB_PW}\nNEW_DB_PASSWORD={NEW_DB_PW}\nWRONG_DB_PASSWORD={WRONG_DB_PW}\nREPO_PW={REPO_PW}\n\
         SMTP_PASSWORD={SMTP_PW}\nHOOK_URL={}\nHOOK_TOKEN={HOOK_HEADER_TOKEN}\nSMOKE_PASSWORD={SMOKE_PW}\n\
         PROBE_PASSWORD={PROBE_PW}\nAPP_SECRET={APP_SECRET}\nSTAGING_APP_SECRET={STAGING_SECRET}\nWATCH_TOKEN={WATCH_TOKEN}\n",
        hook.url(&format!("/hooks/{HOOK_PATH_TOKEN}"))
    );
    f.write(".env", &dotenv);
    f.write("relay-ca.pem", &ca);
    f.write("uploads/a.txt", "an upload\n");
    f.write("plans/cutover.yml", PLAN);
    f.write("show.sh", SHOW_SH);
    chmod_x(&f.join("show.sh"));
    // Inputs that hold canaries by design (the test wrote them): not searched.
    let mut inputs = vec![f.join(".env"), f.join("compose.yaml")];
    assert!(COMPOSE.contains(LITERAL_KEY));

    let mut seen = Evidence::default();
    let tug = || f.tug();

    // Reading the stack: check (three formats), config, diff-env, init.
    seen.run(tug().arg("check").run());
    seen.run(tug().args(["check", "--format", "json"]).run());
    seen.run(tug().args(["check", "--format", "sarif"]).run());
    seen.run(tug().arg("config").run()).success();
    seen.run(tug().args(["config", "--format", "json"]).run()).success();
    seen.run(tug().args(["--env", "staging", "config"]).run()).success();
    seen.run(tug().args(["diff-env", "base", "staging"]).run());
    seen.run(tug().args(["diff-env", "base", "staging", "--json"]).run());
    // The host preflight probes the repository (its URL holds a password) and the databases' hosts.
    seen.run(tug().args(["doctor"]).run());
    seen.run(tug().args(["doctor", "--json"]).run());
    let init_dir = f.join("init-here");
    std::fs::create_dir_all(&init_dir).unwrap();
    std::fs::write(init_dir.join("compose.yaml"), COMPOSE).unwrap();
    std::fs::write(init_dir.join(".env"), &dotenv).unwrap();
    inputs.extend([init_dir.join("compose.yaml"), init_dir.join(".env")]);
    seen.run(Tug::new().current_dir(&init_dir).args(["init", "--dry-run", "--json"]).run()).success();
    seen.run(Tug::new().current_dir(&init_dir).arg("init").run()).success();

    // Databases: parity (equal after the migration, a closed port, a wrong password, a literal password
    // in a URL on the command line), migrate.
    seen.run(tug().args(["migrate", "main", "new", "--dry-run", "--json"]).run()).success();
    seen.run(tug().args(["migrate", "main", "new", "--replace"]).run()).success();
    seen.run(tug().args(["migrate", "main", "broken", "--replace"]).run());
    seen.run(tug().args(["migrate", "main", "broken", "--replace", "--json"]).run());
    seen.run(tug().args(["parity", "main", "new"]).run()).success();
    seen.run(tug().args(["parity", "main", "new", "--json"]).run()).success();
    seen.run(tug().args(["parity", "main", "broken"]).run()).failure(3);
    seen.run(tug().args(["parity", "main", "broken", "--json"]).run()).failure(3);
    seen.run(tug().args(["parity", "main", "wrongpw"]).run()).failure(3);
    let literal = format!("mysql://app:{URL_LITERAL_PW}@127.0.0.1:{closed}/shop");
    seen.run(tug().args(["parity", "main", &literal]).run());
    seen.run(tug().args(["parity", "main", &literal, "--json"]).run());

    // The repository: init, backups (one source unreachable), snapshots, forget, check, restore, drill.
    seen.run(tug().args(["backup", "init", "--dry-run"]).run()).success();
    seen.run(tug().args(["backup", "init"]).run()).success();
    seen.run(tug().args(["backup", "main", "uploads", "config"]).run()).success();
    seen.run(tug().args(["backup", "--json"]).run()).failure(1);
    seen.run(tug().arg("backup").run()).failure(1);
    seen.run(tug().args(["backup", "--dry-run", "--json"]).run());
    seen.run(tug().args(["backup", "snapshots"]).run()).success();
    seen.run(tug().args(["backup", "snapshots", "--json"]).run()).success();
    seen.run(tug().args(["backup", "forget", "--dry-run"]).run()).success();
    seen.run(tug().args(["backup", "forget", "--prune", "--json"]).run()).success();
    seen.run(tug().args(["backup", "check", "--read-data"]).run()).success();
    seen.run(tug().args(["restore", "main", "--to", "new", "--force", "--dry-run", "--json"]).run()).success();
    seen.run(tug().args(["restore", "main", "--to", "new", "--force"]).run()).success();
    seen.run(tug().args(["restore", "main", "--to", "broken", "--force"]).run());
    seen.run(tug().args(["restore", "uploads", "--to", "restored-uploads"]).run()).success();
    seen.run(tug().args(["drill", "main", "--json"]).run()).success();
    seen.run(tug().args(["drill", "broken"]).run());
    seen.run(tug().args(["drill", "--dry-run"]).run());

    // Smoke: a passing suite (a login with a password in its body, a URL with a password, SQL), a failing one.
    seen.run(tug().arg("smoke").run()).success();
    seen.run(tug().args(["smoke", "failing"]).run()).failure(1);
    seen.run(tug().args(["smoke", "failing", "--json"]).run()).failure(1);

    // The runtime, as far as it goes without images: the plans and the drift report.
    seen.run(tug().args(["up", "--dry-run"]).run());
    seen.run(tug().args(["up", "--dry-run", "--json"]).run());
    seen.run(tug().args(["down", "--dry-run", "--json"]).run());
    seen.run(tug().arg("status").run());
    seen.run(tug().args(["status", "--json"]).run());
    seen.run(tug().args(["deploy", "app", "--dry-run"]).run());

    // A tiny plan: smoke, an approval, a command that prints its secrets, parity; then its record.
    seen.run(tug().args(["plan", "show"]).run()).success();
    seen.run(tug().args(["plan", "show", "cutover", "--json"]).run()).success();
    seen.run(tug().args(["plan", "run", "cutover"]).run()).failure(1).stdout_contains("awaiting approval");
    seen.run(tug().args(["approve", "cutover", "approve-copy", "--as", "alice", "--note", "go"]).run()).success();
    seen.run(tug().args(["plan", "run", "cutover", "--json"]).run()).success();
    seen.run(tug().args(["plan", "show", "cutover"]).run()).success();
    seen.run(tug().args(["plan", "rollback", "cutover", "--dry-run"]).run()).success();
    seen.run(tug().args(["plan", "report", "cutover", "-o", "cutover.html"]).run()).success();
    seen.run(tug().args(["plan", "report", "cutover", "--format", "markdown"]).run()).success();

    // The export: files, the conversion report, and its JSON.
    seen.run(tug().args(["export", "k8s", "--dry-run", "--json"]).run()).success();
    seen.run(tug().args(["export", "k8s"]).run()).success();

    // Watch: the plan, then a few seconds of the daemon with an alert to the SMTP server (and one that is
    // down) and the webhook; the status page, /metrics and /api/status asked meanwhile.
    seen.run(tug().args(["watch", "--dry-run"]).run()).success();
    seen.run(tug().args(["watch", "--dry-run", "--json"]).run()).success();
    let log_path = f.join("watch.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(["watch", "--log-format", "json", "--dir"])
        .arg(f.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", f.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    smtp.wait_for(1, Duration::from_secs(60));
    hook.wait_for(1, Duration::from_secs(60));
    wait_for("the delivery to the SMTP server that is down to fail", Duration::from_secs(60), || {
        log().contains("deadmail")
    });
    for path in ["/", "/metrics", "/api/status"] {
        seen.add(format!("GET {path} of tug watch"), http_get(watch_port, path, Some(WATCH_TOKEN)));
    }
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    wait_for("tug watch to stop", Duration::from_secs(30), || daemon.try_wait().unwrap().is_some());
    seen.add("tug watch's log", log());
    for (i, mail) in smtp.messages().into_iter().enumerate() {
        seen.add(format!("e-mail #{i}"), mail);
    }
    for (i, request) in hook.requests().into_iter().enumerate() {
        // The URL's token and the X-Token header are where the webhook's secrets are meant to go.
        let headers: Vec<String> =
            request.headers.iter().filter(|(n, _)| n != "x-token").map(|(n, v)| format!("{n}: {v}")).collect();
        seen.add(format!("webhook #{i} headers"), headers.join("\n"));
        seen.add(format!("webhook #{i} body"), request.body);
    }

    // Bad configuration: a `.env` line that does not parse, and a literal password in a database URL.
    let bad_env = crate::util::tempdir();
    std::fs::write(bad_env.path().join("compose.yaml"), COMPOSE).unwrap();
    std::fs::write(bad_env.path().join(".env"), format!("APP_SECRET={APP_SECRET}\nDB_PASSWORD=\"{BAD_ENV_PW}\n"))
        .unwrap();
    seen.run(Tug::new().current_dir(bad_env.path()).arg("config").run());
    seen.run(Tug::new().current_dir(bad_env.path()).args(["check", "--format", "json"]).run());
    let bad_url = crate::util::tempdir();
    std::fs::write(bad_url.path().join("compose.yaml"), "services:\n  app:\n    image: shop/app:1.0\n").unwrap();
    std::fs::write(
        bad_url.path().join("tugboat.yml"),
        format!("stack: shop\ndatabases:\n  main: {{ kind: mariadb, url: \"mysql://app:{URL_LITERAL_PW}@127.0.0.1:{closed}/shop\" }}\n"),
    )
    .unwrap();
    seen.run(Tug::new().current_dir(bad_url.path()).args(["parity", "main", "main"]).run()).failure(2);
    seen.run(Tug::new().current_dir(bad_url.path()).args(["check", "--json"]).run());

    // The audit trail, read back; then every file tug wrote (state DB and WAL, repository, reports, export).
    seen.run(tug().args(["audit", "log"]).run()).success();
    seen.run(tug().args(["audit", "log", "--json"]).run()).success();
    seen.run(tug().args(["audit", "verify"]).run()).success();
    assert!(f.exists(".tugboat/state.db") && f.exists("repo/config") && f.exists("k8s/CONVERSION.md"));
    assert!(f.exists("cutover.html") && f.exists("init-here/tugboat.yml"));
    seen.files_under(f.path(), &inputs);
    seen.files_under(bad_env.path(), &[bad_env.path().join("compose.yaml"), bad_env.path().join(".env")]);
    seen.files_under(bad_url.path(), &[bad_url.path().join("tugboat.yml")]);

    let leaks = seen.leaks();
    assert!(leaks.is_empty(), "{} secret(s) leaked:\n{}", leaks.len(), leaks.join("\n"));
}
