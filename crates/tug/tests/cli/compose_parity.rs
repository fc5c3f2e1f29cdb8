//! `tug config` resolves a stack the way Docker Compose does. For examples/dms and a fixture full of short
//! syntax, both tools print the resolved project and, per service, these must agree: the ports as a set of
//! (host_ip, published, target, protocol), the volumes as a set of (type, source, target, read_only), and
//! the environment mapping.
//!
//! Either Compose works: `docker compose` (v2, JSON output) or Debian's `docker-compose` (v1, YAML output,
//! converted to JSON with the Python that runs it, which has PyYAML). v1 prints some ports and volumes in
//! short syntax; `short_port` and `short_volume` below read those.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{dummy_env, tempdir, which, Fixture};

const NEED_COMPOSE: &str = "install docker-compose (apt-get install docker-compose) — scripts/test does this";

enum Compose {
    /// `docker compose` (the v2 plugin).
    V2(PathBuf),
    /// `docker-compose` v1 and the Python interpreter that runs it.
    V1 { exe: PathBuf, python: PathBuf },
}

fn compose_cli() -> Compose {
    if let Some(docker) = which("docker") {
        let v2 =
            Command::new(&docker).args(["compose", "version"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if v2.is_ok_and(|s| s.success()) {
            return Compose::V2(docker);
        }
    }
    let exe = which("docker-compose").unwrap_or_else(|| panic!("{NEED_COMPOSE}"));
    // The v1 script's shebang names its Python; a standalone binary gets the system python3.
    let shebang = std::fs::read(&exe).ok().and_then(|bytes| {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        text.strip_prefix("#!").and_then(|l| l.lines().next()).map(|l| l.trim().to_string())
    });
    let python = match shebang {
        Some(line) if line.contains("python") => PathBuf::from(line.split_whitespace().last().unwrap_or("python3")),
        _ => PathBuf::from("python3"),
    };
    Compose::V1 { exe, python }
}

/// `docker compose config` of `dir` with the variables in `env_file`, as JSON.
fn compose_config(dir: &Path, env_file: &Path) -> Value {
    let home = tempdir();
    let cli = compose_cli();
    let mut cmd = match &cli {
        Compose::V2(docker) => {
            let mut c = Command::new(docker);
            c.arg("compose");
            c
        }
        Compose::V1 { exe, .. } => Command::new(exe),
    };
    cmd.arg("--env-file").arg(env_file).args(["-f", "docker-compose.yml", "config"]);
    if matches!(cli, Compose::V2(_)) {
        cmd.args(["--format", "json"]);
    }
    cmd.current_dir(dir).env_clear().env("HOME", home.path());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{NEED_COMPOSE}: {e}"));
    assert!(out.status.success(), "compose config failed:\n{}", String::from_utf8_lossy(&out.stderr));
    match &cli {
        Compose::V2(_) => serde_json::from_slice(&out.stdout).expect("compose JSON"),
        Compose::V1 { python, .. } => yaml_to_json(python, &out.stdout),
    }
}

fn yaml_to_json(python: &Path, yaml: &[u8]) -> Value {
    use std::io::Write;
    let mut child = Command::new(python)
        .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    child.stdin.take().expect("stdin").write_all(yaml).expect("write YAML");
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success(), "YAML to JSON failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

type PortKey = (String, String, String, String);
type VolumeKey = (String, String, String, bool);

/// `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, as v1 prints ports with a host address.
fn short_port(spec: &str) -> PortKey {
    let (rest, protocol) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r.split_once(']').expect("closing ]");
            (ip.to_string(), after.trim_start_matches(':').to_string())
        }
        None => (String::new(), rest.to_string()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, published, target) = match parts.as_slice() {
        [t] => (ip, String::new(), t.to_string()),
        [p, t] => (ip, p.to_string(), t.to_string()),
        [i, p, t] => (i.to_string(), p.to_string(), t.to_string()),
        _ => panic!("unexpected port {spec:?}"),
    };
    (ip, published, target, protocol.to_string())
}

/// `SOURCE:TARGET[:MODE]` or `TARGET`, as v1 prints volumes.
fn short_volume(spec: &str) -> VolumeKey {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => panic!("unexpected volume {spec:?}"),
    };
    let kind = if source.starts_with(['/', '.', '~']) { "bind" } else { "volume" };
    (kind.to_string(), source.to_string(), target.to_string(), mode.split(',').any(|m| m == "ro"))
}

fn ports(service: &Value) -> BTreeSet<PortKey> {
    service["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p {
            Value::String(s) => short_port(s),
            Value::Number(n) => (String::new(), String::new(), n.to_string(), "tcp".into()),
            _ => (
                text(&p["host_ip"]),
                text(&p["published"]),
                text(&p["target"]),
                p["protocol"].as_str().unwrap_or("tcp").to_string(),
            ),
        })
        .collect()
}

fn volumes(service: &Value) -> BTreeSet<VolumeKey> {
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::String(s) => short_volume(s),
            _ => (
                v["type"].as_str().unwrap_or("volume").to_string(),
                text(&v["source"]),
                text(&v["target"]),
                v["read_only"].as_bool().unwrap_or(false),
            ),
        })
        .collect()
}

fn environment(service: &Value) -> BTreeMap<String, Option<String>> {
    match &service["environment"] {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), (!v.is_null()).then(|| text(v)))).collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let s = text(i);
                match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (s, None),
                }
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Runs both tools on a copy of a stack and compares every service; returns tug's resolved project.
fn assert_same_as_compose(f: &Fixture) -> Value {
    // The throwaway env file for Compose (outside the project) and the same values as .env for tug.
    let values = dummy_env(&f.read(".env.template"));
    let env_dir = tempdir();
    let env_file = env_dir.path().join("compose.env");
    std::fs::write(&env_file, &values).expect("write env file");
    f.write(".env", &values);
    let dir = std::fs::canonicalize(f.path()).expect("canonical dir");

    let theirs = compose_config(&dir, &env_file);
    let run = f.tug().args(["config", "--format", "json", "--show-secrets"]).arg(&dir).run();
    run.success();
    let ours = run.json();

    let names = |doc: &Value| -> BTreeSet<String> {
        doc["services"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    assert_eq!(names(&ours), names(&theirs), "service names");
    for name in names(&theirs) {
        let (a, b) = (&ours["services"][&name], &theirs["services"][&name]);
        assert_eq!(ports(a), ports(b), "ports of `{name}` (left: tug, right: compose)");
        assert_eq!(volumes(a), volumes(b), "volumes of `{name}` (left: tug, right: compose)");
        assert_eq!(environment(a), environment(b), "environment of `{name}` (left: tug, right: compose)");
    }
    ours
}

const SHORT_SYNTAX: &str = "\
services:
  web:
    image: nginx:1.27.0
    ports:
      - \"3000\"
      - \"3001:3000\"
      - \"127.0.0.1:8080:80/udp\"
      - \"9090-9091:8080-8081\"
      - \"127.0.0.1:5000-5001:5000-5001\"
      - 7000
      - target: 443
        published: \"8443\"
        protocol: tcp
    volumes:
      - ./data:/data:ro
      - named:/var/lib
      - /cache
      - ./logs/../logs:/logs:rw
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
    environment:
      - A=1
      - B=${B_VAL}
      - C
      - NOT_SET_ANYWHERE
      - EMPTY=
      - WITH_EQUALS=x=y
    env_file: [app.env]
  worker:
    image: busybox:1.36.1
    environment:
      GREETING: ${GREETING:-hello}
      TAG: \"${B_VAL}-${C}\"
    volumes:
      - named:/var/lib:ro
volumes:
  named: {}
";

fn short_syntax_stack() -> Fixture {
    let f = Fixture::new();
    f.write("docker-compose.yml", SHORT_SYNTAX);
    f.write("app.env", "FROM_FILE=yes\nA=from-file\nQUOTED=\"hello world\"\n# a comment\n\nEXPORTED=1\n");
    f.write(".env.template", "# used as ${B_VAL}\nB_VAL=\n# passed through as C\nC=\n");
    f
}

#[test]
fn config_matches_compose_for_dms() {
    let ours = assert_same_as_compose(&Fixture::example("dms"));
    assert_eq!(ours["services"].as_object().map(|s| s.len()), Some(10));
}

#[test]
fn config_matches_compose_for_every_example() {
    for name in crate::util::example_names() {
        assert_same_as_compose(&Fixture::example(&name));
    }
}

#[test]
fn config_matches_compose_for_short_syntax() {
    let ours = assert_same_as_compose(&short_syntax_stack());
    // The comparison saw every entry: ranges expand to one port each, env_file entries are folded in.
    let web = &ours["services"]["web"];
    assert_eq!(ports(web).len(), 9, "{web:#}");
    assert_eq!(volumes(web).len(), 5, "{web:#}");
    let env = environment(web);
    assert_eq!(env.get("A"), Some(&Some("1".to_string())), "environment wins over env_file");
    assert_eq!(env.get("B"), Some(&Some("dummy-b_val".to_string())));
    assert_eq!(env.get("QUOTED"), Some(&Some("hello world".to_string())));
    assert_eq!(env.get("NOT_SET_ANYWHERE"), Some(&None));
    assert_eq!(environment(&ours["services"]["worker"]).get("GREETING"), Some(&Some("hello".to_string())));
}

/// BUG: with a relative DIR (`tug config .`, the usual way to run it), relative bind sources stay relative
/// (`./data` is printed as `source: data`, which Docker would read as a *named volume* `data`), and `..`
/// is not resolved against the real directory, so `tug check .` misses a sensitive mount such as
/// `../../../../../etc:/host-etc` that `tug check /abs/dir` reports (TB008).
#[test]
fn config_with_relative_dir_makes_bind_sources_absolute() {
    let f = short_syntax_stack();
    f.write(".env", &dummy_env(&f.read(".env.template")));
    let doc = f.tug().args(["config", ".", "--format", "json"]).run().json();
    for v in doc["services"]["web"]["volumes"].as_array().into_iter().flatten() {
        if v["type"] == "bind" {
            let source = v["source"].as_str().unwrap_or_default();
            assert!(source.starts_with('/'), "bind source {source:?} is not absolute");
        }
    }
}

#[test]
fn check_with_relative_dir_resolves_parent_dirs_in_bind_sources() {
    let f = Fixture::new();
    let depth = std::fs::canonicalize(f.path()).expect("canonical").components().count() - 1;
    let source = format!("{}etc", "../".repeat(depth));
    let text = format!(
        "services:\n  app:\n    image: x:1.0.0\n    user: \"1000\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    healthcheck: {{test: [\"CMD\", \"/h\"]}}\n    restart: always\n    deploy: {{resources: {{limits: {{memory: 64m, cpus: \"0.1\"}}}}}}\n    volumes: [\"{source}:/host-etc:ro\"]\n"
    );
    f.write("docker-compose.yml", &text);
    let absolute = f.tug().args(["check"]).arg(f.path()).run();
    absolute.failure(1).stdout_contains("TB008");
    f.tug().args(["check", "."]).run().failure(1).stdout_contains("TB008");
}

#[test]
fn short_port_and_volume_parsers() {
    assert_eq!(short_port("127.0.0.1:8080:80/udp"), ("127.0.0.1".into(), "8080".into(), "80".into(), "udp".into()));
    assert_eq!(short_port("3000"), (String::new(), String::new(), "3000".into(), "tcp".into()));
    assert_eq!(short_port("[::1]:6001:6001/tcp"), ("::1".into(), "6001".into(), "6001".into(), "tcp".into()));
    assert_eq!(short_volume("/abs:/data:ro"), ("bind".into(), "/abs".into(), "/data".into(), true));
    assert_eq!(short_volume("named:/var/lib:rw"), ("volume".into(), "named".into(), "/var/lib".into(), false));
    assert_eq!(short_volume("/cache"), ("volume".into(), String::new(), "/cache".into(), false));
}
