//! `tug up`, `tug down`, `tug status` against the real Docker Engine, with images built from this
//! workspace's `tug-testserver` (see `runtime_support`): health-gated start in `depends_on` order,
//! idempotency, drift, teardown, pulls from a real registry (the distribution registry on loopback,
//! with htpasswd), and the bad-input paths the issue names — each leaving one audit event.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::compose_v2::compose_v2;
use crate::runtime_support::{docker, docker_raw, inspect, test_image, Project};
use crate::util::{audit_events, failed_reason, one_audit_event, wait_for, which, Fixture, Run};

const LONG: Duration = Duration::from_secs(120);

/// A fixture whose compose file is `name: <project>` then `services` (and whatever follows).
fn stack(project: &Project, body: &str) -> Fixture {
    let f = Fixture::new();
    f.write("compose.yml", &format!("name: {}\n{}", project.name, body.replace("IMAGE", test_image())));
    f
}

fn up(f: &Fixture, args: &[&str]) -> Run {
    f.tug().arg("up").args(args).run()
}

fn container(project: &Project, service: &str) -> Value {
    inspect(&format!("{}-{service}-1", project.name))
}

fn started_at(c: &Value) -> String {
    c["State"]["StartedAt"].as_str().unwrap_or_default().to_string()
}

/// RFC 3339 with nanoseconds, as the engine writes it, to seconds since the epoch.
fn seconds(rfc3339: &str) -> f64 {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// The seed-000 shape in miniature: a database that becomes healthy only after a few checks, a one-shot
/// migration that needs it healthy, and a web service that needs both.
const GATED: &str = "services:
  db:
    image: IMAGE
    command: [\"--healthy-after\", \"3\"]
    healthcheck: { test: [\"CMD\", \"/tug-testserver\", \"health\"], interval: 1s, retries: 30 }
    volumes: [data:/data]
  migrate:
    image: IMAGE
    command: [\"--exit-code\", \"0\"]
    healthcheck: { disable: true }
    depends_on: { db: { condition: service_healthy } }
  web:
    image: IMAGE
    environment: { APP_MODE: prod }
    stop_grace_period: 3s
    depends_on:
      db: { condition: service_healthy }
      migrate: { condition: service_completed_successfully }
    networks: [default, front]
networks:
  front: {}
volumes:
  data: {}
";

#[test]
fn up_is_health_gated_and_idempotent_and_down_leaves_nothing() {
    let p = Project::new();
    let f = stack(&p, GATED);
    let run = up(&f, &["--json"]);
    run.success();
    let report = run.json();
    let actions: Vec<(&str, &str)> = report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    let names = |s: &str| format!("{}-{s}-1", p.name);
    assert_eq!(
        actions,
        vec![
            (names("db").as_str(), "create"),
            (names("migrate").as_str(), "create"),
            (names("web").as_str(), "create")
        ]
    );

    // The gate held: db needs four health checks a second apart before it is healthy, and migrate ran to
    // completion before web started.
    let (db, migrate, web) = (container(&p, "db"), container(&p, "migrate"), container(&p, "web"));
    assert!(
        seconds(&started_at(&migrate)) - seconds(&started_at(&db)) >= 3.0,
        "migrate started before db could be healthy: db {} migrate {}",
        started_at(&db),
        started_at(&migrate)
    );
    assert_eq!(migrate["State"]["ExitCode"], 0);
    let finished = migrate["State"]["FinishedAt"].as_str().unwrap();
    assert!(seconds(finished) <= seconds(&started_at(&web)), "web started before migrate finished");

    // Compose v2 sees tug's containers as its own project.
    let v2 = compose_v2();
    let ps = Command::new(&v2[0])
        .args(&v2[1..])
        .args(["-p", &p.name, "ps", "-a", "--format", "{{.Service}}"])
        .current_dir(f.path())
        .output()
        .unwrap();
    let mut services: Vec<String> = String::from_utf8_lossy(&ps.stdout).lines().map(str::to_string).collect();
    services.sort();
    assert_eq!(services, ["db", "migrate", "web"], "{}", String::from_utf8_lossy(&ps.stderr));

    // Again: nothing changes (the exited one-shot is started again, as Compose does).
    let ids = |p: &Project| -> Vec<String> {
        ["db", "web"].iter().map(|s| container(p, s)["Id"].as_str().unwrap().to_string()).collect()
    };
    let before = ids(&p);
    let again = up(&f, &["--json"]);
    again.success();
    let again = again.json();
    for c in again["containers"].as_array().unwrap() {
        let expected = if c["service"] == "migrate" { "start" } else { "keep" };
        assert_eq!(c["action"], expected, "{c:#}");
    }
    assert_eq!(ids(&p), before);
    f.tug().arg("status").run().success().stdout_contains("in sync");

    // Down: containers and networks gone, the named volume kept; `down -v` removes it too.
    f.tug().arg("down").run().success();
    assert!(p.containers().is_empty(), "{:?}", p.containers());
    assert!(p.networks().is_empty(), "{:?}", p.networks());
    assert_eq!(p.volumes(), [format!("{}_data", p.name)]);
    f.tug().args(["down", "--volumes"]).run().success();
    assert!(p.volumes().is_empty());
}

#[test]
fn status_reports_each_kind_of_drift_and_up_repairs_it() {
    let p = Project::new();
    let f = stack(
        &p,
        "services:
  api:
    image: IMAGE
    environment: { APP_MODE: prod, DB_PASSWORD: hunter2-secret }
  worker:
    image: IMAGE
  cache:
    image: IMAGE
  gone:
    image: IMAGE
",
    );
    up(&f, &[]).success();
    f.tug().arg("status").run().success();

    // A removed container, an edited environment (named, never its value), a stopped container, a service
    // deleted from the file, and a tag moved to another image.
    docker(&["rm", "-f", &format!("{}-worker-1", p.name)]);
    docker(&["stop", "-t", "1", &format!("{}-cache-1", p.name)]);
    f.edit("compose.yml", |t| {
        t.replace("APP_MODE: prod", "APP_MODE: staging").replace("  gone:\n    image: tugboat-test/server:local\n", "")
    });
    let status = f.tug().args(["status", "--json"]).run();
    status.failure(1);
    assert!(!status.stdout().contains("staging") && !status.stdout().contains("hunter2"), "{}", status.stdout());
    let drift = status.json()["drift"].as_array().unwrap().clone();
    let kinds: Vec<(&str, &str)> =
        drift.iter().map(|d| (d["kind"].as_str().unwrap(), d["service"].as_str().unwrap())).collect();
    for expected in [("config_differs", "api"), ("missing", "worker"), ("not_running", "cache"), ("orphaned", "gone")] {
        assert!(kinds.contains(&expected), "{expected:?} not in {kinds:?}");
    }
    let config = drift.iter().find(|d| d["kind"] == "config_differs").unwrap();
    assert_eq!(config["detail"], "environment APP_MODE changed");
    f.tug().arg("status").run().failure(1).stdout_contains("worker-1 is missing");

    // Repair: up recreates, creates and starts; --remove-orphans removes `gone`.
    up(&f, &["--remove-orphans"]).success();
    f.tug().arg("status").run().success().stdout_contains("in sync");
    assert!(!p.containers().iter().any(|(n, _)| n.contains("gone")));

    // The tag now names another image: the running container is on the old one.
    let moved = format!("tugboat-test/moved:{}", p.name);
    derived_image(&moved, "v2");
    f.edit("compose.yml", |t| t.replacen("image: tugboat-test/server:local", &format!("image: {moved}"), 1));
    let status = f.tug().args(["status", "--json"]).run();
    status.failure(1);
    let drift = status.json()["drift"].clone();
    assert!(
        drift.as_array().unwrap().iter().any(|d| d["kind"] == "image_differs" && d["service"] == "api"),
        "{drift:#}"
    );
    up(&f, &[]).success();
    derived_image(&moved, "v3");
    let status = f.tug().args(["status", "--json"]).run();
    status.failure(1);
    let detail = status.json()["drift"][0]["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("is now"), "{detail}");
    // up sees the moved tag and recreates.
    let again = up(&f, &["--json"]);
    again.success();
    assert!(again.stdout().contains("\"image changed\""), "{}", again.stdout());
    f.tug().arg("status").run().success();
    docker(&["rmi", "-f", &moved]);
}

/// An image FROM the test image with one more label (so another id), tagged `reference`.
fn derived_image(reference: &str, version: &str) {
    crate::runtime_support::derived_image(reference, &[], &[&format!("LABEL org.tugboat.test.version={version}")]);
}

#[test]
fn a_dependency_that_turns_unhealthy_fails_up_naming_it_with_its_health_output() {
    let p = Project::new();
    let f = stack(
        &p,
        "services:
  db:
    image: IMAGE
    command: [\"--unhealthy\"]
    healthcheck: { test: [\"CMD\", \"/tug-testserver\", \"health\"], interval: 1s, retries: 2 }
  web:
    image: IMAGE
    depends_on: { db: { condition: service_healthy } }
",
    );
    let (event, stderr) = one_audit_event(|| f.tug(), "up", &["up"], &[], 3);
    assert!(stderr.contains("dependency db (service_healthy)") && stderr.contains("is unhealthy"), "{stderr}");
    assert!(stderr.contains("503"), "the last health output is shown: {stderr}");
    assert!(failed_reason(&event).contains("db"), "{event:#}");
    // web was never created; db is left as it is, for a look at its logs.
    let containers = p.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
}

/// A database that stays `starting` (healthy only after 100000 checks) and a web service waiting on it.
const NEVER_READY: &str = "services:
  db:
    image: IMAGE
    command: [\"--healthy-after\", \"100000\"]
    healthcheck: { test: [\"CMD\", \"/tug-testserver\", \"health\"], interval: 1s, retries: 100000 }
  web:
    image: IMAGE
    depends_on: { db: { condition: service_healthy } }
";

#[test]
fn a_dependency_that_never_gets_ready_times_out_naming_it() {
    let p = Project::new();
    let f = stack(&p, NEVER_READY);
    let run = up(&f, &["--timeout", "3s"]);
    run.failure(3).stderr_contains("dependency db (service_healthy)").stderr_contains("not ready after 3s");
}

#[test]
fn a_port_in_use_names_the_service_and_leaves_the_started_ones() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let p = Project::new();
    let f = stack(
        &p,
        &format!(
            "services:
  db:
    image: IMAGE
  web:
    image: IMAGE
    ports: [\"127.0.0.1:{port}:8080\"]
    depends_on: [db]
"
        ),
    );
    let run = up(&f, &[]);
    run.failure(3).stderr_contains("service web").stderr_contains("started before it and left running: db");
    let states: Vec<(String, String)> = p.containers();
    assert!(states.contains(&(format!("{}-db-1", p.name), "running".into())), "{states:?}");
    drop(taken);
}

#[test]
fn a_key_the_runtime_cannot_honour_is_refused_at_its_line_before_anything_starts() {
    let p = Project::new();
    let f = stack(
        &p,
        "services:
  web:
    image: IMAGE
    post_start:
      - command: [\"/bin/true\"]
",
    );
    let (event, stderr) = one_audit_event(|| f.tug(), "up", &["up"], &[], 2);
    assert!(stderr.contains("compose.yml:5:5") && stderr.contains("post_start"), "{stderr}");
    assert!(failed_reason(&event).contains("post_start"));
    assert!(p.containers().is_empty() && p.networks().is_empty());
}

#[test]
fn an_unreachable_engine_is_exit_3_with_what_to_check() {
    let p = Project::new();
    let f = stack(&p, "services:\n  web:\n    image: IMAGE\n");
    for cmd in ["up", "down", "status"] {
        let run = f.tug().arg(cmd).env("DOCKER_HOST", "unix:///nonexistent/docker.sock").run();
        run.failure(3).stderr_contains("cannot reach the Docker Engine at unix:///nonexistent/docker.sock");
    }
}

#[test]
fn dry_run_prints_the_plan_changes_nothing_and_is_audited() {
    let p = Project::new();
    let f = stack(&p, GATED);
    let (event, _) = one_audit_event(|| f.tug(), "up", &["up", "--dry-run"], &[], 0);
    assert_eq!(event["outcome"], "dry_run", "{event:#}");
    assert!(p.containers().is_empty() && p.networks().is_empty() && p.volumes().is_empty());
    let plan = f.tug().args(["up", "--dry-run"]).run();
    plan.success().stdout_line_with(&["network", "create", &format!("{}_front", p.name)]).stdout_line_with(&[
        "container",
        "create",
        &format!("{}-web-1", p.name),
        "after db service_healthy",
    ]);
    let json = f.tug().args(["up", "--dry-run", "--json"]).run().json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(
        json["plan"]["services"][2]["waits_for"][1],
        serde_json::json!(["migrate", "service_completed_successfully"])
    );

    one_audit_event(|| f.tug(), "up", &["up"], &[], 0);
    let (event, _) = one_audit_event(|| f.tug(), "down", &["down", "--dry-run"], &[], 0);
    assert_eq!(event["outcome"], "dry_run");
    assert_eq!(p.containers().len(), 3);
    let (event, _) = one_audit_event(|| f.tug(), "down", &["down"], &[], 0);
    assert_eq!(event["params"]["removed_containers"], 3, "{event:#}");
}

#[test]
fn scale_creates_numbered_replicas_and_scaling_down_removes_the_extra() {
    let p = Project::new();
    let f = stack(&p, "services:\n  worker:\n    image: IMAGE\n    scale: 3\n");
    up(&f, &[]).success();
    let mut names: Vec<String> = p.containers().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, (1..=3).map(|n| format!("{}-worker-{n}", p.name)).collect::<Vec<_>>());
    f.edit("compose.yml", |t| t.replace("scale: 3", "scale: 1"));
    let run = up(&f, &["--dry-run"]);
    run.success().stdout_line_with(&["remove", &format!("{}-worker-3", p.name), "scaled down"]);
    up(&f, &[]).success();
    assert_eq!(p.containers().len(), 1);
    f.tug().arg("status").run().success();
}

#[test]
fn a_build_section_is_built_through_the_engine_honouring_dockerignore() {
    let p = Project::new();
    let f = stack(
        &p,
        "services:
  app:
    build:
      context: ./app
      args: { FLAVOUR: plain }
",
    );
    f.write(
        "app/Dockerfile",
        &format!("FROM {}\nARG FLAVOUR\nLABEL org.tugboat.test.flavour=$FLAVOUR\nCOPY . /ctx/\n", test_image()),
    );
    f.write("app/kept.txt", "kept\n");
    f.write("app/secret.env", "TOKEN=never-sent\n");
    f.write("app/.dockerignore", "*.env\n");
    up(&f, &[]).success();
    let image = format!("{}-app", p.name);
    let labels = inspect(&image)["Config"]["Labels"].clone();
    assert_eq!(labels["org.tugboat.test.flavour"], "plain");
    // The build context the engine got: kept.txt, not secret.env.
    let export =
        Command::new("sh").arg("-c").arg(format!("docker cp {}-app-1:/ctx - | tar -t", p.name)).output().unwrap();
    let listing = String::from_utf8_lossy(&export.stdout);
    assert!(listing.contains("ctx/kept.txt") && !listing.contains("secret.env"), "{listing}");

    // A changed build arg with --build: a new image, so the container is recreated.
    f.edit("compose.yml", |t| t.replace("FLAVOUR: plain", "FLAVOUR: spicy"));
    let run = up(&f, &["--build", "--json"]);
    run.success();
    assert_eq!(run.json()["containers"][0]["action"], "recreate", "{}", run.stdout());
    assert_eq!(inspect(&image)["Config"]["Labels"]["org.tugboat.test.flavour"], "spicy");
    f.tug().arg("down").run().success();
    docker(&["rmi", "-f", &image]);
}

#[test]
fn sigint_during_a_wait_stops_up_and_records_it_interrupted() {
    let p = Project::new();
    let f = stack(&p, NEVER_READY);
    let before = audit_events(|| f.tug()).len();
    let spawned = f.tug().arg("up").spawn();
    wait_for("db to be created", LONG, || p.containers().iter().any(|(n, s)| n.ends_with("-db-1") && s == "running"));
    spawned.signal("INT");
    let (code, stderr) = spawned.wait();
    assert_eq!(code, Some(130), "{stderr}");
    let events = audit_events(|| f.tug());
    assert_eq!(events.len(), before + 1);
    assert_eq!(events[before]["outcome"], "interrupted", "{:#}", events[before]);
    assert!(!p.containers().iter().any(|(n, _)| n.ends_with("-web-1")));
}

// ---------------------------------------------------------------------------------------------------------
// A real registry: Debian's docker-registry (the distribution registry) on a loopback port, htpasswd auth.

pub(crate) struct Registry {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
    /// `/etc/docker/certs.d/127.0.0.1:PORT`, where the engine finds the test CA of a TLS registry.
    trust: Option<std::path::PathBuf>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.trust {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

const NEED_REGISTRY: &str = "install Debian's docker-registry and apache2-utils (htpasswd): \
     apt-get install docker-registry apache2-utils — scripts/test does this";

impl Registry {
    pub(crate) fn start(user: &str, password: &str) -> Registry {
        Registry::start_with(user, password, false)
    }

    /// Over TLS, with a test CA the engine trusts for this registry only (`/etc/docker/certs.d`, which it
    /// reads at each connection: no restart).
    pub(crate) fn start_tls(user: &str, password: &str) -> Registry {
        Registry::start_with(user, password, true)
    }

    fn start_with(user: &str, password: &str, tls: bool) -> Registry {
        let exe = which("docker-registry").unwrap_or_else(|| panic!("no docker-registry: {NEED_REGISTRY}"));
        let htpasswd = which("htpasswd").unwrap_or_else(|| panic!("no htpasswd: {NEED_REGISTRY}"));
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(htpasswd).args(["-Bbn", user, password]).output().unwrap();
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut trust = None;
        let tls_config = if tls {
            let (ca, cert, key) = test_ca_and_leaf("127.0.0.1");
            std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
            std::fs::write(dir.path().join("key.pem"), key).unwrap();
            let certs_d = std::path::PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}"));
            std::fs::create_dir_all(&certs_d)
                .unwrap_or_else(|e| panic!("{}: {e} (the TLS registry test needs root)", certs_d.display()));
            std::fs::write(certs_d.join("ca.crt"), ca).unwrap();
            trust = Some(certs_d);
            format!(
                ", tls: {{ certificate: {}, key: {} }}",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nstorage: {{ filesystem: {{ rootdirectory: {root} }} }}\nhttp: {{ addr: 127.0.0.1:{port}{tls_config} }}\n\
             auth: {{ htpasswd: {{ realm: tugboat-test, path: {htpasswd} }} }}\n",
            root = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new(exe)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry { child, port, _dir: dir, trust };
        wait_for("the registry to listen", LONG, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        registry
    }

    /// A docker config holding `user:password` for the registry at `port`, written as `docker login` writes
    /// it (for credentials the registry refuses, which `docker login` would not store).
    pub(crate) fn login_config(port: u16, user: &str, password: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64(format!("{user}:{password}").as_bytes());
        let config = format!(r#"{{"auths": {{"127.0.0.1:{port}": {{"auth": "{auth}"}}}}}}"#);
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    /// `docker login` into a fresh config dir; returns it.
    pub(crate) fn login(&self, user: &str, password: &str) -> tempfile::TempDir {
        let config = tempfile::tempdir().unwrap();
        let mut child = Command::new("docker")
            .args(["login", "-u", user, "--password-stdin", &format!("127.0.0.1:{}", self.port)])
            .env("DOCKER_CONFIG", config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "docker login: {}", String::from_utf8_lossy(&out.stderr));
        config
    }
}

/// A fresh CA and a server certificate for `name` signed by it: (CA PEM, certificate PEM, key PEM).
fn test_ca_and_leaf(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "tugboat registry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![name.to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, name);
    let cert = leaf.signed_by(&key, &Issuer::new(ca, &ca_key)).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Tags `image` as `reference`, pushes it with the credentials in `config`, and removes the local tag.
pub(crate) fn push_image(image: &str, reference: &str, config: &Path) {
    docker(&["tag", image, reference]);
    let out = Command::new("docker").args(["push", reference]).env("DOCKER_CONFIG", config).output().unwrap();
    assert!(out.status.success(), "docker push: {}", String::from_utf8_lossy(&out.stderr));
    docker(&["rmi", reference]);
}

#[test]
fn a_missing_image_is_pulled_with_the_users_credentials_or_the_registrys_answer_is_named() {
    let registry = Registry::start("ci", "pull-s3cret");
    let config = registry.login("ci", "pull-s3cret");
    let p = Project::new();
    let reference = format!("127.0.0.1:{}/{}/server:1", registry.port, p.name);
    push_image(test_image(), &reference, config.path());
    let f = stack(&p, &format!("services:\n  app:\n    image: {reference}\n"));
    let config_dir = config.path().to_str().unwrap();

    // No credentials: the registry's refusal, the service named, how to log in, nothing created.
    let run = f.tug().arg("up").env("DOCKER_CONFIG", tempfile::tempdir().unwrap().path()).run();
    run.failure(3)
        .stderr_contains("service app: cannot pull")
        .stderr_contains("no basic auth credentials")
        .stderr_contains(&format!("docker login 127.0.0.1:{}", registry.port));
    assert!(p.containers().is_empty() && p.networks().is_empty());

    // With the user's docker login: pulled, started.
    f.tug().arg("up").env("DOCKER_CONFIG", config_dir).run().success();
    assert_eq!(p.containers(), [(format!("{}-app-1", p.name), "running".to_string())]);
    let digests = inspect(&reference)["RepoDigests"].clone();
    assert!(digests.to_string().contains("sha256:"), "{digests}");
    f.tug().arg("down").run().success();

    // Not in the registry; and a registry that is not there.
    f.edit("compose.yml", |t| t.replace("/server:1", "/absent:1"));
    let run = f.tug().arg("up").env("DOCKER_CONFIG", config_dir).run();
    run.failure(3).stderr_contains("service app: cannot pull").stderr_contains("not found");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    f.edit("compose.yml", |t| t.replace(&format!("127.0.0.1:{}", registry.port), &format!("127.0.0.1:{closed}")));
    let run = f.tug().arg("up").env("DOCKER_CONFIG", config_dir).run();
    run.failure(3).stderr_contains("service app: cannot pull").stderr_contains("connection refused");
    let _ = docker_raw(&["rmi", &reference]);
}

#[test]
fn a_drift_check_fails_with_what_drifted_and_passes_once_repaired() {
    let p = Project::new();
    let f = stack(&p, "services:\n  web:\n    image: IMAGE\n  worker:\n    image: IMAGE\n");
    f.write("tugboat.yml", "checks:\n  smoke:\n    - { name: matches-files, drift: true }\n");
    up(&f, &[]).success();
    f.tug().arg("smoke").run().success().stdout_line_with(&["pass", "matches-files", "drift"]);
    docker(&["rm", "-f", &format!("{}-worker-1", p.name)]);
    let run = f.tug().arg("smoke").run();
    run.failure(1)
        .stdout_contains("[DRIFT] == 0  observed 1")
        .stdout_contains(&format!("{}-worker-1 is missing", p.name));
    up(&f, &[]).success();
    f.tug().arg("smoke").run().success();
}
