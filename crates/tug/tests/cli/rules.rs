//! Each rule TB001..TB025: a small stack that triggers it, asserting the finding's `file:line:col` (computed
//! from the text written, never hard-coded), and a near miss — a fully hardened stack that must not.

use serde_json::Value;

use crate::util::{at, at1, loc, Fixture};

/// A service that passes every rule; tests weaken one thing at a time.
const SERVICE: &str = "  NAME:
    image: example.org/NAME:1.4.2
    user: \"1000:1000\"
    read_only: true
    cap_drop: [ALL]
    security_opt: [\"no-new-privileges:true\"]
    healthcheck:
      test: [\"CMD\", \"/healthcheck\"]
      interval: 30s
    restart: unless-stopped
    deploy:
      resources:
        limits: { memory: 256m, cpus: \"0.5\", pids: 256 }
    logging:
      driver: json-file
      options: { max-size: 10m, max-file: \"3\" }
";

fn service(name: &str) -> String {
    SERVICE.replace("NAME", name)
}

/// A service with extra attributes (4-space indented lines) appended.
fn service_with(name: &str, extra: &str) -> String {
    service(name) + extra
}

/// `from` replaced by `to`, exactly once.
#[track_caller]
fn swap(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} in:\n{text}");
    text.replacen(from, to, 1)
}

fn compose(services: &[String]) -> String {
    format!("services:\n{}", services.concat())
}

fn stack(compose_text: &str) -> Fixture {
    let f = Fixture::new();
    f.write("docker-compose.yml", compose_text);
    f
}

const DC: &str = "docker-compose.yml";

/// Runs `tug check .` as text and as JSON and asserts that the failing findings are exactly `expected`
/// (rule id and `file:line:col`; an empty location for a stack-wide finding without one).
#[track_caller]
fn expect(f: &Fixture, expected: &[(&str, String)]) -> Value {
    let text = f.tug().args(["check", "."]).run();
    text.failure(if expected.is_empty() { 0 } else { 1 });
    for (rule, location) in expected {
        if location.is_empty() {
            text.stdout_line_with(&[rule]);
        } else {
            text.stdout_line_with(&[rule, location]);
        }
    }
    let json = f.tug().args(["check", ".", "--format", "json"]).run();
    let doc = json.json();
    let mut got: Vec<(String, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|x| x["exempted"].is_null())
        .map(|x| {
            let l = &x["location"];
            let at =
                if l.is_null() { String::new() } else { format!("{}:{}:{}", str(&l["file"]), l["line"], l["column"]) };
            (str(&x["rule"]), at)
        })
        .collect();
    let mut want: Vec<(String, String)> = expected.iter().map(|(r, l)| (r.to_string(), l.clone())).collect();
    // A wanted location ending in `:` (file and line, any column) matches the column tug reports.
    for (rule, location) in want.iter_mut().filter(|(_, l)| l.ends_with(':')) {
        if let Some((_, g)) = got.iter().find(|(r, g)| r == rule && g.starts_with(location.as_str())) {
            *location = g.clone();
        }
    }
    got.sort();
    want.sort();
    assert_eq!(got, want, "findings of `tug check` in:\n{}\n{}", f.read(DC), text.stdout());
    doc
}

fn str(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// `FILE:LINE:` — any column.
fn line_only(file: &str, (line, _): (usize, usize)) -> String {
    format!("{file}:{line}:")
}

/// A near miss: the stack passes with no findings at all.
#[track_caller]
fn clean(f: &Fixture) {
    expect(f, &[]);
}

#[test]
fn hardened_service_has_no_findings() {
    clean(&stack(&compose(&[service("app")])));
    clean(&stack(&compose(&[service("web"), service("api"), service("db")])));
}

#[test]
fn tb001_runs_as_root() {
    let text = compose(&[swap(&service("app"), "    user: \"1000:1000\"\n", "")]);
    expect(&stack(&text), &[("TB001", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(&service("app"), "user: \"1000:1000\"", "user: root")]);
    expect(&stack(&text), &[("TB001", loc(DC, at(&text, "user: root", "root")))]);

    let text = compose(&[swap(&service("app"), "user: \"1000:1000\"", "user: \"0:0\"")]);
    expect(&stack(&text), &[("TB001", loc(DC, at(&text, "user: \"0:0\"", "\"0:0\"")))]);

    // Near misses: a named user and a bare non-root uid.
    clean(&stack(&compose(&[swap(&service("app"), "user: \"1000:1000\"", "user: app")])));
    clean(&stack(&compose(&[swap(&service("app"), "user: \"1000:1000\"", "user: \"1000\"")])));
}

#[test]
fn tb002_writable_root_filesystem() {
    let text = compose(&[swap(&service("app"), "    read_only: true\n", "")]);
    expect(&stack(&text), &[("TB002", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(&service("app"), "read_only: true", "read_only: false")]);
    expect(&stack(&text), &[("TB002", loc(DC, at1(&text, "read_only")))]);

    clean(&stack(&compose(&[service("app")])));
}

#[test]
fn tb003_capabilities_not_dropped() {
    let text = compose(&[swap(&service("app"), "    cap_drop: [ALL]\n", "")]);
    expect(&stack(&text), &[("TB003", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(&service("app"), "cap_drop: [ALL]", "cap_drop: [NET_RAW, SETUID]")]);
    expect(&stack(&text), &[("TB003", loc(DC, at1(&text, "cap_drop")))]);

    // Near miss: lower-case `all`, and adding back a harmless capability.
    let text = compose(&[swap(&service("app"), "cap_drop: [ALL]", "cap_drop: [all]\n    cap_add: [NET_BIND_SERVICE]")]);
    clean(&stack(&text));
}

#[test]
fn tb004_dangerous_capability() {
    let text =
        compose(&[service_with("app", "    cap_add:\n      - CHOWN\n      - SYS_ADMIN\n      - CAP_NET_ADMIN\n")]);
    expect(
        &stack(&text),
        &[("TB004", loc(DC, at1(&text, "SYS_ADMIN"))), ("TB004", loc(DC, at1(&text, "CAP_NET_ADMIN")))],
    );

    let text = compose(&[service_with("app", "    cap_add: [ALL]\n")]);
    expect(&stack(&text), &[("TB004", loc(DC, at(&text, "cap_add: [ALL]", "ALL")))]);

    clean(&stack(&compose(&[service_with("app", "    cap_add: [NET_BIND_SERVICE, CHOWN, SETUID]\n")])));
}

#[test]
fn tb005_no_new_privileges_missing() {
    let text = compose(&[swap(&service("app"), "    security_opt: [\"no-new-privileges:true\"]\n", "")]);
    expect(&stack(&text), &[("TB005", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(
        &service("app"),
        "security_opt: [\"no-new-privileges:true\"]",
        "security_opt: [\"label:type:svirt_apache_t\"]",
    )]);
    expect(&stack(&text), &[("TB005", loc(DC, at1(&text, "security_opt")))]);

    let text = compose(&[swap(
        &service("app"),
        "security_opt: [\"no-new-privileges:true\"]",
        "security_opt: [\"no-new-privileges:false\"]",
    )]);
    expect(&stack(&text), &[("TB005", loc(DC, at1(&text, "security_opt")))]);

    // Near misses: the other spellings Docker accepts.
    for spelling in ["no-new-privileges", "no-new-privileges=true"] {
        let text = compose(&[swap(&service("app"), "no-new-privileges:true", spelling)]);
        clean(&stack(&text));
    }
}

#[test]
fn tb006_privileged() {
    let text = compose(&[service_with("app", "    privileged: true\n")]);
    expect(&stack(&text), &[("TB006", loc(DC, at1(&text, "privileged")))]);

    clean(&stack(&compose(&[service_with("app", "    privileged: false\n")])));
}

#[test]
fn tb007_host_namespace() {
    for key in ["network_mode", "pid", "ipc", "userns_mode", "uts"] {
        let line = format!("    {key}: host\n");
        let text = compose(&[service_with("app", &line)]);
        expect(&stack(&text), &[("TB007", loc(DC, at(&text, line.trim_start(), "host")))]);
    }
    clean(&stack(&compose(&[service_with("app", "    network_mode: none\n    ipc: private\n")])));
}

#[test]
fn tb008_sensitive_host_mount() {
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - /:/host:ro\n      - /etc/:/host-etc:ro\n      - type: bind\n        source: /proc\n        target: /host/proc\n",
    )]);
    expect(
        &stack(&text),
        &[
            ("TB008", loc(DC, at1(&text, "/var/run/docker.sock:/var/run/docker.sock"))),
            ("TB008", loc(DC, at1(&text, "/:/host:ro"))),
            ("TB008", loc(DC, at1(&text, "/etc/:/host-etc:ro"))),
            // Long syntax: the line only; the column is a known bug (see below).
            ("TB008", line_only(DC, at1(&text, "type: bind"))),
        ],
    );
    // Near misses: a sensitive *target* with a harmless source, a named volume, an ordinary bind.
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - ./run:/var/run\n      - docker:/var/lib/docker\n      - /srv/app-data:/data\n",
    )]) + "volumes:\n  docker: {}\n";
    clean(&stack(&text));
}

#[test]
fn tb008_paths_under_sensitive_directories() {
    // Short and long syntax, read-only or not; `/var/run/…` is `/run/…`.
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - /etc/ssl/private:/keys:ro\n      - /var/lib/docker/volumes:/volumes\n      - /proc/1:/host/proc1:ro\n      - type: bind\n        source: /root/.ssh\n        target: /ssh\n        read_only: true\n      - /var/run/dbus/system_bus_socket:/run/dbus/system_bus_socket:ro\n      - /var:/host-var:ro\n",
    )]);
    let doc = expect(
        &stack(&text),
        &[
            ("TB008", loc(DC, at1(&text, "/etc/ssl/private:/keys:ro"))),
            ("TB008", loc(DC, at1(&text, "/var/lib/docker/volumes:/volumes"))),
            ("TB008", loc(DC, at1(&text, "/proc/1:/host/proc1:ro"))),
            ("TB008", loc(DC, at(&text, "- type: bind\n        source: /root/.ssh", "type: bind"))),
            ("TB008", loc(DC, at1(&text, "/var/run/dbus/system_bus_socket"))),
            ("TB008", loc(DC, at1(&text, "/var:/host-var:ro"))),
        ],
    );
    let messages: Vec<String> = doc["findings"].as_array().into_iter().flatten().map(|f| str(&f["message"])).collect();
    assert!(
        messages.iter().any(|m| m.contains("/etc/ssl/private read-only (still sensitive): under /etc")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("host path /var read-only") && m.contains("it contains /var/lib/docker")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("does not stop a client using a socket")), "{messages:?}");

    // Near misses: names that only start like a sensitive directory, data directories, and the
    // harmless files bound read-only.
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - /etcd:/etcd\n      - /srv/app/data:/data\n      - /mnt/nas:/nas\n      - /etc/localtime:/etc/localtime:ro\n      - /etc/timezone:/etc/timezone:ro\n      - type: bind\n        source: /usr/share/zoneinfo\n        target: /usr/share/zoneinfo\n        read_only: true\n",
    )]);
    clean(&stack(&text));

    // The same harmless file bound read-write is a finding.
    let text = compose(&[service_with("app", "    volumes:\n      - /etc/localtime:/etc/localtime\n")]);
    expect(&stack(&text), &[("TB008", loc(DC, at1(&text, "/etc/localtime:/etc/localtime")))]);
}

#[test]
fn tb008_named_volume_that_binds_a_host_path() {
    let volumes =
        "volumes:\n  data:\n    driver: local\n    driver_opts:\n      type: none\n      o: bind\n      device: /etc\n";
    let text = compose(&[service_with("app", "    volumes:\n      - data:/data\n")]) + volumes;
    let doc = expect(&stack(&text), &[("TB008", loc(DC, at1(&text, "data:/data")))]);
    let message = str(&doc["findings"][0]["message"]);
    assert!(message.contains("/etc through volume `data` (driver_opts.device)"), "{message}");

    // Near miss: the same kind of volume binding a data directory.
    let text = compose(&[service_with("app", "    volumes:\n      - data:/data\n")])
        + &volumes.replace("device: /etc", "device: /srv/app-data");
    clean(&stack(&text));
}

#[test]
fn tb023_no_pids_limit() {
    let text = compose(&[swap(&service("app"), ", pids: 256 }", " }")]);
    expect(&stack(&text), &[("TB023", loc(DC, at(&text, "\n  app:", "app")))]);

    for unlimited in ["-1", "0"] {
        let text = compose(&[swap(&service("app"), "pids: 256", &format!("pids: {unlimited}"))]);
        let context = format!("pids: {unlimited} }}");
        expect(&stack(&text), &[("TB023", loc(DC, at(&text, &context, unlimited)))]);
    }
    // The older `pids_limit`, on a service without deploy limits.
    let legacy = swap(
        &service("app"),
        "    deploy:\n      resources:\n        limits: { memory: 256m, cpus: \"0.5\", pids: 256 }\n",
        "    mem_limit: 256m\n    cpus: 0.5\n    pids_limit: -1\n",
    );
    let text = compose(std::slice::from_ref(&legacy));
    expect(&stack(&text), &[("TB023", loc(DC, at(&text, "pids_limit: -1", "-1")))]);

    // Near miss: `pids_limit` set.
    clean(&stack(&compose(&[swap(&legacy, "pids_limit: -1", "pids_limit: 200")])));
}

#[test]
fn tb024_shared_mount_propagation() {
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - type: bind\n        source: /mnt/media\n        target: /media\n        read_only: true\n        bind:\n          propagation: rshared\n      - type: bind\n        source: /srv/usb\n        target: /usb\n        bind: { propagation: rslave }\n",
    )]);
    expect(
        &stack(&text),
        &[
            ("TB024", loc(DC, at(&text, "propagation: rshared", "rshared"))),
            ("TB024", loc(DC, at(&text, "propagation: rslave", "rslave"))),
        ],
    );
    let text = compose(&[service_with(
        "app",
        "    volumes:\n      - type: bind\n        source: /mnt/media\n        target: /media\n        bind:\n          propagation: rprivate\n",
    )]);
    clean(&stack(&text));
}

/// The short syntax's propagation option (`/mnt:/mnt:ro,rshared`) is dropped by the volume normalizer.
#[test]
fn tb024_shared_mount_propagation_short_syntax() {
    let text =
        compose(&[service_with("app", "    volumes:\n      - /mnt:/mnt:ro,rshared\n      - /srv/usb:/usb:slave\n")]);
    expect(
        &stack(&text),
        &[
            ("TB024", loc(DC, at1(&text, "/mnt:/mnt:ro,rshared"))),
            ("TB024", loc(DC, at1(&text, "/srv/usb:/usb:slave"))),
        ],
    );
    clean(&stack(&compose(&[service_with("app", "    volumes:\n      - /mnt:/mnt:ro,rprivate\n")])));
}

#[test]
fn tb025_log_not_rotated() {
    const LOGGING: &str = "    logging:\n      driver: json-file\n      options: { max-size: 10m, max-file: \"3\" }\n";
    // No `logging`: the engine's default driver, json-file, never rotates; the finding points at the service.
    let text = compose(&[swap(&service("app"), LOGGING, "")]);
    let doc = expect(&stack(&text), &[("TB025", loc(DC, at(&text, "\n  app:", "app")))]);
    let message = str(&doc["findings"][0]["message"]);
    assert!(message.contains("json-file") && message.contains("/etc/docker/daemon.json"), "{message}");
    // json-file without max-size: at `options`, or at `driver` when there are none.
    let text = compose(&[swap(&service("app"), "max-size: 10m, ", "")]);
    expect(&stack(&text), &[("TB025", loc(DC, at(&text, "      options: { max-file", "options")))]);
    let text = compose(&[swap(&service("app"), "      options: { max-size: 10m, max-file: \"3\" }\n", "")]);
    expect(&stack(&text), &[("TB025", loc(DC, at(&text, "      driver: json-file", "driver")))]);

    // Near misses: `local` rotates by default; `none`, `syslog` and `journald` keep no file on the host.
    for driver in ["local", "none", "syslog", "journald"] {
        let logging = format!("    logging:\n      driver: {driver}\n");
        clean(&stack(&compose(&[swap(&service("app"), LOGGING, &logging)])));
    }
    // One anchor per file, `logging: *logging` per service.
    let text = format!(
        "x-logging: &logging\n  driver: json-file\n  options: {{ max-size: 10m }}\n{}",
        compose(&[
            swap(&service("web"), LOGGING, "    logging: *logging\n"),
            swap(&service("api"), LOGGING, "    logging: *logging\n"),
        ])
    );
    clean(&stack(&text));
    // A stack-wide exemption (the daemon's own `log-opts.max-size`) keeps the findings, without failing.
    let text = compose(&[swap(&service("web"), LOGGING, ""), swap(&service("api"), LOGGING, "")]);
    let f = stack(&text);
    f.write(
        "tugboat.yml",
        "stack: rules\npolicy:\n  exempt:\n    \"*\":\n      TB025: \"daemon.json sets log-opts.max-size\"\n",
    );
    let doc = expect(&f, &[]);
    let exempted: Vec<String> =
        doc["findings"].as_array().expect("findings").iter().map(|x| str(&x["exempted"])).collect();
    assert_eq!(exempted, ["daemon.json sets log-opts.max-size"; 2]);
}

#[test]
fn tb009_no_memory_limit() {
    let text = compose(&[swap(
        &service("app"),
        "limits: { memory: 256m, cpus: \"0.5\", pids: 256 }",
        "limits: { cpus: \"0.5\", pids: 256 }",
    )]);
    expect(&stack(&text), &[("TB009", loc(DC, at(&text, "\n  app:", "app")))]);

    // Near miss: the older top-level `mem_limit` and `cpus` keys.
    let text = compose(&[swap(
        &service("app"),
        "    deploy:\n      resources:\n        limits: { memory: 256m, cpus: \"0.5\", pids: 256 }\n",
        "    mem_limit: 256m\n    cpus: 0.5\n    pids_limit: 256\n",
    )]);
    clean(&stack(&text));
}

#[test]
fn tb010_no_cpu_limit() {
    let text = compose(&[swap(
        &service("app"),
        "limits: { memory: 256m, cpus: \"0.5\", pids: 256 }",
        "limits: { memory: 256m, pids: 256 }",
    )]);
    expect(&stack(&text), &[("TB010", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(
        &service("app"),
        "limits: { memory: 256m, cpus: \"0.5\", pids: 256 }",
        "limits: { memory: 256m, pids: 256 }",
    ) + "    cpus: \"0.5\"\n"]);
    clean(&stack(&text));
}

#[test]
fn tb011_no_healthcheck() {
    let no_health =
        swap(&service("app"), "    healthcheck:\n      test: [\"CMD\", \"/healthcheck\"]\n      interval: 30s\n", "");
    let text = compose(std::slice::from_ref(&no_health));
    expect(&stack(&text), &[("TB011", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[no_health.clone() + "    healthcheck:\n      disable: true\n"]);
    expect(&stack(&text), &[("TB011", loc(DC, at1(&text, "healthcheck")))]);

    let text = compose(&[no_health.clone() + "    healthcheck:\n      test: [\"NONE\"]\n"]);
    expect(&stack(&text), &[("TB011", loc(DC, at1(&text, "healthcheck")))]);

    // Near miss: a one-shot job (`restart: "no"`) that another service waits on with
    // service_completed_successfully needs neither a healthcheck nor a restart policy.
    let job = swap(&no_health, "restart: unless-stopped", "restart: \"no\"").replace("app", "migrate");
    let api =
        service_with("api", "    depends_on:\n      migrate:\n        condition: service_completed_successfully\n");
    clean(&stack(&compose(&[job, api])));
}

#[test]
fn tb012_unpinned_image() {
    for image in ["example.org/app:latest", "example.org/app", "localhost:5000/app", "nginx"] {
        let text = compose(&[swap(&service("app"), "example.org/app:1.4.2", image)]);
        let context = format!("image: {image}\n");
        expect(&stack(&text), &[("TB012", loc(DC, at(&text, &context, image)))]);
    }
    let digest = format!("example.org/app@sha256:{}", "ab".repeat(32));
    for image in ["localhost:5000/app:1.2.3", "nginx:1.27.0-alpine", digest.as_str()] {
        clean(&stack(&compose(&[swap(&service("app"), "example.org/app:1.4.2", image)])));
    }
}

#[test]
fn tb013_no_restart_policy() {
    let text = compose(&[swap(&service("app"), "    restart: unless-stopped\n", "")]);
    expect(&stack(&text), &[("TB013", loc(DC, at(&text, "\n  app:", "app")))]);

    let text = compose(&[swap(&service("app"), "restart: unless-stopped", "restart: \"no\"")]);
    expect(&stack(&text), &[("TB013", loc(DC, at1(&text, "restart")))]);

    // Near misses: the swarm-style restart policy, and `always`.
    let text = compose(&[swap(&service("app"), "    restart: unless-stopped\n", "")
        .replace("      resources:", "      restart_policy:\n        condition: on-failure\n      resources:")]);
    clean(&stack(&text));
    clean(&stack(&compose(&[swap(&service("app"), "restart: unless-stopped", "restart: always")])));
}

#[test]
fn tb014_depends_on_not_healthy() {
    let text = compose(&[service_with("web", "    depends_on: [db]\n"), service("db")]);
    expect(&stack(&text), &[("TB014", loc(DC, at(&text, "depends_on: [db]", "db")))]);

    let text = compose(&[
        service_with("web", "    depends_on:\n      db:\n        condition: service_started\n"),
        service("db"),
    ]);
    expect(&stack(&text), &[("TB014", loc(DC, at(&text, "      db:\n        condition", "db")))]);

    clean(&stack(&compose(&[
        service_with("web", "    depends_on:\n      db:\n        condition: service_healthy\n"),
        service("db"),
    ])));
}

const ALLOW_8080: &str = "stack: rules\npolicy:\n  published_ports: [8080]\n";

#[test]
fn tb015_port_not_allowed() {
    let text = compose(&[service_with(
        "app",
        "    ports:\n      - \"9000:9000\"\n      - \"80\"\n      - \"0.0.0.0:8080-8081:80-81\"\n",
    )]);
    let f = stack(&text);
    f.write("tugboat.yml", ALLOW_8080);
    expect(
        &f,
        &[
            ("TB015", loc(DC, at1(&text, "\"9000:9000\""))),
            ("TB015", loc(DC, at1(&text, "\"80\""))),
            // 8080 is allowed, 8081 is not.
            ("TB015", loc(DC, at1(&text, "\"0.0.0.0:8080-8081:80-81\""))),
        ],
    );
    // Near misses: the allowed port, and a disallowed one bound to loopback.
    let f =
        stack(&compose(&[service_with("app", "    ports:\n      - \"8080:80\"\n      - \"127.0.0.1:9000:9000\"\n")]));
    f.write("tugboat.yml", ALLOW_8080);
    clean(&f);
}

#[test]
fn tb016_port_on_all_interfaces() {
    let text = compose(&[service_with(
        "app",
        "    ports:\n      - \"8080:80\"\n      - \"0.0.0.0:8443:443\"\n      - \"[::]:8444:443\"\n      - \"9000\"\n      - target: 81\n        published: \"8081\"\n",
    )]);
    expect(
        &stack(&text),
        &[
            ("TB016", loc(DC, at1(&text, "\"8080:80\""))),
            ("TB016", loc(DC, at1(&text, "\"0.0.0.0:8443:443\""))),
            ("TB016", loc(DC, at1(&text, "\"[::]:8444:443\""))),
            ("TB016", loc(DC, at1(&text, "\"9000\""))),
            ("TB016", line_only(DC, at1(&text, "target: 81"))),
        ],
    );
    clean(&stack(&compose(&[service_with(
        "app",
        "    ports:\n      - \"127.0.0.1:8080:80\"\n      - \"[::1]:8081:80\"\n      - target: 82\n        published: \"8082\"\n        host_ip: 127.0.0.1\n",
    )])));
}

#[test]
fn tb017_internal_service_on_external_network() {
    let text = compose(&[service_with("cache", "    expose: [\"6379\"]\n    networks: [backend]\n")])
        + "networks:\n  backend: {}\n";
    let f = stack(&text);
    f.write("tugboat.yml", ALLOW_8080);
    expect(&f, &[("TB017", loc(DC, at(&text, "networks: [backend]", "backend")))]);

    // On the implicit default network the finding points at the service.
    let text = compose(&[service_with("cache", "    expose: [\"6379\"]\n")]);
    let f = stack(&text);
    f.write("tugboat.yml", ALLOW_8080);
    expect(&f, &[("TB017", loc(DC, at(&text, "\n  cache:", "cache")))]);

    // Near miss: the same service on an `internal: true` network; and a service publishing an allowed port.
    let text = compose(&[
        service_with("cache", "    expose: [\"6379\"]\n    networks: [backend]\n"),
        service_with("web", "    ports: [\"8080:80\"]\n    networks: [backend, public]\n"),
    ]) + "networks:\n  backend:\n    internal: true\n  public: {}\n";
    let f = stack(&text);
    f.write("tugboat.yml", ALLOW_8080);
    clean(&f);
}

#[test]
fn tb018_literal_secret() {
    let text = compose(&[service_with(
        "app",
        "    environment:\n      DB_PASSWORD: hunter2secret\n      DATABASE_URL: postgres://app:hunter2@db:5432/app\n      SESSION_SEED: sk-9fQ2x7LmZp4Rt8Wv1Yb6Nc3\n",
    )]);
    expect(
        &stack(&text),
        &[
            ("TB018", loc(DC, at1(&text, "hunter2secret"))),
            ("TB018", loc(DC, at1(&text, "postgres://app:hunter2@db:5432/app"))),
            ("TB018", loc(DC, at1(&text, "sk-9fQ2x7LmZp4Rt8Wv1Yb6Nc3"))),
        ],
    );
    // List syntax points at the item.
    let text = compose(&[service_with("app", "    environment:\n      - API_TOKEN=abc123literal\n")]);
    expect(&stack(&text), &[("TB018", loc(DC, at1(&text, "API_TOKEN=abc123literal")))]);

    // Near misses: references, secret files, empty values, and values that come from an env_file.
    let text = compose(&[service_with(
        "app",
        "    env_file: app.env\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n      DATABASE_URL: postgres://app:${DB_PASSWORD}@db:5432/app\n      DB_PASSWORD_FILE: /run/secrets/db_password\n      REDIS_PASSWORD: \"\"\n      AUTH_ENABLED: \"true\"\n",
    )]);
    let f = stack(&text);
    f.write(".env.template", "# the database password\nDB_PASSWORD=\n");
    f.write("app.env", "API_TOKEN=from-an-env-file-not-compose\n");
    clean(&f);
}

/// BUG: the secret-name heuristic matches substrings, so AUTHOR_NAME (AUTH) and BYPASS_CACHE (PASS) are
/// reported as literal secrets at high severity.
#[test]
fn tb018_no_false_positive_on_words_containing_auth_or_pass() {
    let text =
        compose(&[service_with("app", "    environment:\n      AUTHOR_NAME: alice\n      BYPASS_CACHE: \"1\"\n")]);
    clean(&stack(&text));
}

#[test]
fn tb019_variable_not_in_template() {
    let text = compose(&[swap(&service("app"), "example.org/app:1.4.2", "example.org/app:${APP_VERSION:-1.4.2}")]);
    let f = stack(&text);
    f.write(".env.template", "# unrelated\nOTHER=1\n");
    f.write(
        "docker-compose.yml",
        &swap(&text, "    restart:", "    environment:\n      OTHER: ${OTHER}\n    restart:"),
    );
    let text = f.read(DC);
    expect(&f, &[("TB019", loc(DC, at1(&text, "example.org/app:${APP_VERSION:-1.4.2}")))]);

    // With no template at all, one stack-wide finding lists every variable.
    let f = stack(&text);
    let doc = expect(&f, &[("TB019", String::new())]);
    let message = doc["findings"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("APP_VERSION") && message.contains("OTHER"), "{message}");

    // Variables in tugboat.yml count too: `*_env` names and `${VAR}` in values.
    let f = stack(&compose(&[service("app")]));
    f.write(".env.template", "");
    let config = "stack: rules\nbackup:\n  repository: /mnt/backup\n  password_env: REPO_PASSWORD\n";
    f.write("tugboat.yml", config);
    expect(&f, &[("TB019", loc("tugboat.yml", at1(config, "REPO_PASSWORD")))]);

    let f = stack(&text);
    f.write(".env.template", "# pinned version\nAPP_VERSION=1.4.2\n# other\nOTHER=1\n");
    clean(&f);
}

#[test]
fn tb020_template_variable_unused() {
    let text = compose(&[service_with("app", "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n")]);
    let template = "# used\nDB_PASSWORD=\n# nobody reads this\nLEFTOVER=\n";
    let f = stack(&text);
    f.write(".env.template", template);
    expect(&f, &[("TB020", loc(".env.template", (at1(template, "LEFTOVER").0, 1)))]);

    let f = stack(&text);
    f.write(".env.template", "# used\nDB_PASSWORD=\n");
    clean(&f);
}

#[test]
fn tb021_dotenv_not_ignored() {
    let text = compose(&[service_with("app", "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n")]);
    let f = stack(&text);
    f.write(".env.template", "DB_PASSWORD=\n");
    f.write(".env", "DB_PASSWORD=not-a-real-password\n");
    f.git_init();
    expect(&f, &[("TB021", ".env:1:1".to_string())]);

    // Near misses: ignored by .gitignore; and not a git work tree at all.
    f.write(".gitignore", ".env\n");
    clean(&f);
    let f = stack(&text);
    f.write(".env.template", "DB_PASSWORD=\n");
    f.write(".env", "DB_PASSWORD=not-a-real-password\n");
    clean(&f);
}

#[test]
fn tb022_security_profile_disabled() {
    let text = compose(&[swap(
        &service("app"),
        "security_opt: [\"no-new-privileges:true\"]",
        "security_opt:\n      - no-new-privileges:true\n      - seccomp:unconfined\n      - apparmor=unconfined\n      - label:disable",
    )]);
    expect(
        &stack(&text),
        &[
            ("TB022", loc(DC, at1(&text, "seccomp:unconfined"))),
            ("TB022", loc(DC, at1(&text, "apparmor=unconfined"))),
            ("TB022", loc(DC, at1(&text, "label:disable"))),
        ],
    );
    let text = compose(&[swap(
        &service("app"),
        "security_opt: [\"no-new-privileges:true\"]",
        "security_opt: [\"no-new-privileges:true\", \"apparmor:docker-default\", \"seccomp:/etc/docker/seccomp.json\"]",
    )]);
    clean(&stack(&text));
}

#[test]
fn exemption_keeps_the_finding_but_not_the_failure() {
    let text = compose(&[service_with("app", "    privileged: true\n")]);
    let f = stack(&text);
    f.write(
        "tugboat.yml",
        "stack: rules\npolicy:\n  exempt:\n    app:\n      TB006: \"needs /dev/kvm for the emulator\"\n",
    );
    f.tug()
        .args(["check", "."])
        .run()
        .success()
        .stdout_line_with(&["exempt", "TB006", &loc(DC, at1(&text, "privileged"))])
        .stdout_contains("exempted: needs /dev/kvm for the emulator");
    // An exemption for a service or rule that does not exist is a config error.
    f.write("tugboat.yml", "stack: rules\npolicy:\n  exempt:\n    nope:\n      TB999: \"x\"\n");
    let run = f.tug().args(["check", "."]).run();
    run.failure(2).stderr_contains("tugboat.yml:4:5").stderr_contains("tugboat.yml:5:7");
}

#[test]
fn fail_on_sets_the_threshold() {
    // TB002 is low: it fails at the default threshold only.
    let f = stack(&compose(&[swap(&service("app"), "read_only: true", "read_only: false")]));
    f.tug().args(["check", "."]).run().failure(1);
    f.tug().args(["check", ".", "--fail-on", "medium"]).run().success().stdout_contains("1 below medium");
    f.tug().args(["check", ".", "--fail-on", "high"]).run().success();
    // TB006 is high: it fails at every threshold.
    let f = stack(&compose(&[service_with("app", "    privileged: true\n")]));
    f.tug().args(["check", ".", "--fail-on", "high"]).run().failure(1);
}

/// BUG: a block mapping inside a sequence (long-syntax port or volume) gets the span of its first key's
/// `:` (yaml-rust's MappingStart marker), so findings on it point at `- target: 81` column 15, not 9.
#[test]
fn long_syntax_items_point_at_their_first_key() {
    let text = compose(&[service_with("app", "    ports:\n      - target: 81\n        published: \"8081\"\n    volumes:\n      - type: bind\n        source: /proc\n        target: /host/proc\n")]);
    expect(
        &stack(&text),
        &[("TB016", loc(DC, at1(&text, "target: 81"))), ("TB008", loc(DC, at1(&text, "type: bind")))],
    );
}
