//! Conformance of `tug up` with Docker Compose v2: the same stack, from the same directory and files, is
//! started by `docker compose up -d` (project A) and then by `tug up` (project B, after A is removed, so
//! both use the same host ports, container names and subnets), and what the engine reports for each
//! container, network and volume (`docker inspect`) is compared field by field, with each project's name
//! replaced by `<project>` (and container ids by names, see `CONTAINER_REFS`).
//!
//! Stacks: one that uses as many of the keys `tugboat_runtime::spec` honours as can start on this
//! machine (devices only where `/dev/fuse` exists), and every example with an override file that points its services at the test image (both
//! tools read the same files). GPU device requests cannot be started without a GPU; they are compared
//! in `spec`'s unit tests (`gpus_and_device_reservations`) instead.
//!
//! A difference fails the test unless it is listed in [`DOCUMENTED`] (each entry with its reason; the
//! same list is in docs/runtime.md, "Differences from Compose v2").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

use crate::compose_v2::compose_v2;
use crate::runtime_support::{clear_project, docker, test_image, Project, IMAGE};
use crate::util::{dummy_env, tempdir, Fixture, Tug};

/// Paths whose values may differ, with why. An entry matches a path exactly, or every path it is a
/// prefix of when it ends in `*`. Paths are `container.…`, `network.…` and `volume.…`.
const DOCUMENTED: &[(&str, &str)] = &[
    // Compose hashes compose-go's Go structs; tug hashes the create body it sends (docs/runtime.md).
    ("container.Config.Labels[com.docker.compose.config-hash]", "each tool hashes its own model"),
    // tug does not pretend to be a Compose version; it records its own under org.tugboat.runtime.
    ("container.Config.Labels[com.docker.compose.version]", "tug records its own version instead"),
    ("network.Labels[com.docker.compose.version]", "tug records its own version instead"),
    ("volume.Labels[com.docker.compose.version]", "tug records its own version instead"),
    // Compose 2.40 hashes a network's and a volume's config to notice a file that changed under an existing
    // one; tug labels them without a hash and uses an existing one of the project as it is.
    ("network.Labels[com.docker.compose.config-hash]", "tug does not hash networks"),
    ("volume.Labels[com.docker.compose.config-hash]", "tug does not hash volumes"),
    // `NAME` (no value) in `environment` and unset: Compose passes the bare name, which the engine keeps
    // verbatim and which sets no variable; tug leaves it out (as `tug config` does). Compose's bare names
    // are dropped before comparing, nothing else of Env.
    (BARE_ENV, "an unset variable is left out, not passed as a bare name"),
    // `network_mode`/`ipc`/`pid: service:NAME` and `volumes_from: [NAME]`: Compose looks the container up
    // and sends `container:ID`; tug's spec is resolved before any container exists and sends the
    // container's name, which the engine looks up when the container starts. Container ids are replaced
    // by names before comparing (ids differ between the two runs anyway).
    (CONTAINER_REFS, "service references name the container, not its id"),
    ("container.Config.Labels[org.tugboat.*", "tug's own labels"),
    ("network.Labels[org.tugboat.*", "tug's own labels"),
    ("volume.Labels[org.tugboat.*", "tug's own labels"),
];

const BARE_ENV: &str = "container.Config.Env[NAME without a value]";
const CONTAINER_REFS: &str = "container.HostConfig.{NetworkMode,IpcMode,PidMode,VolumesFrom}[container id]";

/// One stack at a time: every stack publishes fixed host ports.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// object (`container /<project>-web-1`) -> field path -> normalized value.
type Observed = BTreeMap<String, BTreeMap<String, Value>>;

const CONFIG_FIELDS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "ExposedPorts",
    "User",
    "WorkingDir",
    "StopSignal",
    "StopTimeout",
    "Healthcheck",
    "Tty",
    "OpenStdin",
    "Hostname",
    "Domainname",
];

const HOST_CONFIG_FIELDS: &[&str] = &[
    "Binds",
    "Mounts",
    "PortBindings",
    "Tmpfs",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Privileged",
    "Init",
    "RestartPolicy",
    "ReadonlyRootfs",
    "NanoCpus",
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "PidsLimit",
    "ShmSize",
    "CpuShares",
    "DeviceRequests",
    "Devices",
    "Ulimits",
    "Sysctls",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "LogConfig",
    "NetworkMode",
    "GroupAdd",
    "IpcMode",
    "PidMode",
    "OomScoreAdj",
    "VolumesFrom",
    "MaskedPaths",
    "ReadonlyPaths",
    "MemorySwappiness",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "OomKillDisable",
    "BlkioWeight",
    "UTSMode",
    "UsernsMode",
    "CgroupParent",
    "Runtime",
    "Isolation",
    "CgroupnsMode",
];

/// Lists whose order means nothing to the engine (Dns and DnsSearch keep theirs: resolver order).
const UNORDERED: &[&str] = &[
    "Config.Env",
    "HostConfig.Binds",
    "HostConfig.CapAdd",
    "HostConfig.CapDrop",
    "HostConfig.SecurityOpt",
    "HostConfig.ExtraHosts",
    "HostConfig.GroupAdd",
];

/// Empty lists, empty objects and nulls are one value to the engine (`[]` extra hosts = none).
fn norm(v: &Value) -> Value {
    match v {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(norm).collect()),
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> =
                m.iter().map(|(k, v)| (k.clone(), norm(v))).filter(|(_, v)| !v.is_null()).collect();
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        }
        other => other.clone(),
    }
}

fn sorted(v: Value, key: impl Fn(&Value) -> String) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|i| key(i));
            Value::Array(items)
        }
        other => other,
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Every string with the container ids replaced by their names, then the project name by `<project>`.
fn scrub(v: &Value, project: &str, ids: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (id, name) in ids {
                s = s.replace(id, name);
            }
            Value::String(s.replace(project, "<project>"))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| scrub(i, project, ids)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.replace(project, "<project>"), scrub(v, project, ids))).collect())
        }
        other => other.clone(),
    }
}

fn inspect_all(kind: &str, project: &str) -> Vec<Value> {
    let filter = format!("label=com.docker.compose.project={project}");
    let list = match kind {
        "container" => docker(&["ps", "-aq", "--filter", &filter]),
        other => docker(&[other, "ls", "-q", "--filter", &filter]),
    };
    let ids: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec![kind, "inspect"];
    args.extend(ids);
    serde_json::from_str::<Value>(&docker(&args)).expect("docker inspect JSON").as_array().cloned().unwrap_or_default()
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the engine reports for the project's containers, networks and volumes. `explicit_ipam`: the
/// (scrubbed) names of networks whose subnets the compose file sets; the engine picks the others.
fn observe(project: &str, explicit_ipam: &BTreeSet<String>) -> Observed {
    let containers = inspect_all("container", project);
    let ids: Vec<(String, String)> = containers
        .iter()
        .filter(|_| documented(CONTAINER_REFS))
        .map(|c| (text(&c["Id"]), text(&c["Name"]).trim_start_matches('/').to_string()))
        .collect();
    let mut out = Observed::new();
    for c in &containers {
        let short: String = text(&c["Id"]).chars().take(12).collect();
        let c = scrub(c, project, &ids);
        let mut fields = BTreeMap::new();
        for key in CONFIG_FIELDS {
            let path = format!("Config.{key}");
            let mut v = norm(&c["Config"][key]);
            if *key == "ExposedPorts" {
                v = v.as_object().map_or(Value::Null, |m| Value::from(m.keys().cloned().collect::<Vec<_>>()));
            }
            if *key == "Hostname" && v.as_str() == Some(short.as_str()) {
                v = Value::from("<short id>");
            }
            if UNORDERED.contains(&path.as_str()) {
                v = sorted(v, text);
            }
            fields.insert(path, v);
        }
        for (k, v) in c["Config"]["Labels"].as_object().into_iter().flatten() {
            let mut v = v.clone();
            if k == "com.docker.compose.depends_on" {
                // Compose joins a Go map: its order changes from run to run.
                let mut deps: Vec<&str> = v.as_str().unwrap_or("").split(',').collect();
                deps.sort_unstable();
                v = Value::from(deps.join(","));
            }
            fields.insert(format!("Config.Labels[{k}]"), v);
        }
        for key in HOST_CONFIG_FIELDS {
            let path = format!("HostConfig.{key}");
            let mut v = norm(&c["HostConfig"][key]);
            if UNORDERED.contains(&path.as_str()) {
                v = sorted(v, text);
            }
            match *key {
                "Mounts" => v = sorted(v, |m| text(&m["Target"])),
                "Ulimits" => v = sorted(v, |m| text(&m["Name"])),
                _ => {}
            }
            fields.insert(path, v);
        }
        let mounts: Vec<Value> = c["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let anonymous = m["Type"] == "volume" && is_hex_id(&text(&m["Name"]));
                serde_json::json!({
                    "Type": m["Type"],
                    "Source": if anonymous { Value::from("<anonymous volume>") } else { m["Source"].clone() },
                    "Destination": m["Destination"],
                    "RW": m["RW"],
                    "Propagation": m["Propagation"],
                })
            })
            .collect();
        fields.insert("Mounts".into(), sorted(norm(&Value::from(mounts)), |m| text(&m["Destination"])));
        for (net, ep) in c["NetworkSettings"]["Networks"].as_object().into_iter().flatten() {
            fields.insert(format!("NetworkSettings.Networks[{net}]"), Value::Bool(true));
            let aliases: Vec<Value> = ep["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a.as_str() != Some(&short))
                .cloned()
                .collect();
            fields
                .insert(format!("NetworkSettings.Networks[{net}].Aliases"), sorted(norm(&Value::from(aliases)), text));
            fields.insert(format!("NetworkSettings.Networks[{net}].IPAMConfig"), norm(&ep["IPAMConfig"]));
        }
        out.insert(format!("container {}", text(&c["Name"])), fields);
    }
    for n in inspect_all("network", project) {
        let n = scrub(&n, project, &ids);
        let name = text(&n["Name"]);
        let mut fields = BTreeMap::new();
        for key in ["Driver", "Internal", "Attachable", "EnableIPv6", "Options"] {
            fields.insert(key.to_string(), norm(&n[key]));
        }
        fields.insert("IPAM.Driver".into(), norm(&n["IPAM"]["Driver"]));
        fields.insert("IPAM.Options".into(), norm(&n["IPAM"]["Options"]));
        let config = norm(&n["IPAM"]["Config"]);
        let config = if explicit_ipam.contains(&name) || config.is_null() {
            config
        } else {
            Value::from("<picked by the engine>")
        };
        fields.insert("IPAM.Config".into(), config);
        for (k, v) in n["Labels"].as_object().into_iter().flatten() {
            fields.insert(format!("Labels[{k}]"), v.clone());
        }
        out.insert(format!("network {name}"), fields);
    }
    for v in inspect_all("volume", project) {
        let v = scrub(&v, project, &ids);
        let mut fields = BTreeMap::new();
        fields.insert("Driver".into(), norm(&v["Driver"]));
        fields.insert("Options".into(), norm(&v["Options"]));
        for (k, l) in v["Labels"].as_object().into_iter().flatten() {
            fields.insert(format!("Labels[{k}]"), l.clone());
        }
        out.insert(format!("volume {}", text(&v["Name"])), fields);
    }
    out
}

fn documented(path: &str) -> bool {
    DOCUMENTED.iter().any(|(p, _)| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p,
    })
}

/// `object: path: compose=… tug=…` for every difference that is not documented.
fn differences(compose: &Observed, tug: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let objects: BTreeSet<&String> = compose.keys().chain(tug.keys()).collect();
    for object in objects {
        let kind = object.split(' ').next().unwrap_or("");
        let (Some(a), Some(b)) = (compose.get(object), tug.get(object)) else {
            let side = if compose.contains_key(object) { "compose" } else { "tug" };
            out.push(format!("{object}: only {side} created it"));
            continue;
        };
        let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for path in paths {
            let (mut va, vb) = (a.get(path).cloned().unwrap_or(Value::Null), b.get(path).unwrap_or(&Value::Null));
            if kind == "container" && path == "Config.Env" && documented(BARE_ENV) {
                va = Value::from(
                    va.as_array().into_iter().flatten().filter(|e| text(e).contains('=')).cloned().collect::<Vec<_>>(),
                );
            }
            let va = &va;
            if va != vb && !documented(&format!("{kind}.{path}")) {
                out.push(format!("{object}: {path}: compose={va} tug={vb}"));
            }
        }
    }
    out
}

/// Compose v2 with a clean environment: PATH, a throwaway HOME, the project name.
fn compose(dir: &Path, files: &[&str], project: &str, args: &[&str]) -> String {
    let v2 = compose_v2();
    let home = tempdir();
    let mut cmd = Command::new(&v2[0]);
    cmd.args(&v2[1..]);
    for f in files {
        cmd.args(["-f", f]);
    }
    cmd.args(args).current_dir(dir).env_clear().env("HOME", home.path()).env("COMPOSE_PROJECT_NAME", project);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd.output().expect("run docker compose");
    assert!(
        out.status.success(),
        "`docker compose {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the stack in `dir` with Compose, then (after removing Compose's copy) with tug, and returns the
/// undocumented differences. `files`: the `-f` files Compose is given (tug reads the same ones through
/// tugboat.yml or Compose's default names).
fn conformance(dir: &Path, files: &[&str]) -> Vec<String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(test_image(), IMAGE);
    let (a, b) = (Project::new(), Project::new());

    // The networks whose subnets the files set (the engine picks every other one, differently each time).
    let config: Value = serde_json::from_str(&compose(dir, files, &a.name, &["config", "--format", "json"]))
        .expect("compose config JSON");
    let explicit: BTreeSet<String> = config["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n["ipam"]["config"].as_array().is_some_and(|c| !c.is_empty()))
        .map(|(k, n)| n["name"].as_str().unwrap_or(k).replace(&a.name, "<project>"))
        .collect();

    compose(dir, files, &a.name, &["up", "-d"]);
    let by_compose = observe(&a.name, &explicit);
    clear_project(&a);
    assert!(a.containers().is_empty() && a.networks().is_empty(), "Compose's project {} is still there", a.name);

    Tug::new().current_dir(dir).env("COMPOSE_PROJECT_NAME", &b.name).args(["up"]).run().success();
    let by_tug = observe(&b.name, &explicit);
    assert!(!by_compose.is_empty(), "Compose created nothing");
    differences(&by_compose, &by_tug)
}

#[track_caller]
fn assert_conforms(what: &str, diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "{what}: `tug up` differs from `docker compose up` in {} places (neither fixed nor documented in DOCUMENTED):\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    );
}

/// As many of the keys `spec` honours as can start here (no GPU; `/dev/fuse` is mapped where it exists).
const EVERY_KEY: &str = r#"
services:
  web:
    image: tugboat-test/server:local
    command: ["--version", "every-key"]
    env_file: [web.env]
    environment:
      APP_MODE: conformance
      APP_EMPTY: ""
      APP_UNSET:
    ports:
      - "18201:8080"
      - "127.0.0.1:18202-18203:9000-9001"
      - "18204:5353/udp"
      - "127.0.0.1::8081"
      - target: 8443
        published: "18205"
        host_ip: 127.0.0.1
        protocol: tcp
        mode: host
    expose: ["7000", "7001/udp", "7100-7101"]
    user: "1000:1000"
    working_dir: /srv
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD, NET_RAW]
    security_opt: ["no-new-privileges:true"]
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "/tug-testserver", "health"]
      interval: 1s
      timeout: 2s
      retries: 30
      start_period: 1s
    stop_signal: SIGINT
    stop_grace_period: 3s
    mem_limit: 64m
    mem_reservation: 32m
    memswap_limit: 128m
    pids_limit: 100
    cpus: 0.5
    cpu_shares: 512
    shm_size: 16m
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    sysctls:
      net.core.somaxconn: "512"
    extra_hosts: ["db.local:10.0.0.5", "other.local=10.0.0.6"]
    dns: [1.1.1.1, 8.8.8.8]
    dns_search: [example.org]
    dns_opt: ["ndots:2"]
    logging:
      driver: json-file
      options: {max-size: 1m, max-file: "2"}
    labels:
      tier: front
      org.example.note: "a b"
    hostname: web-host
    domainname: example.org
    tmpfs: ["/tmp:size=8m", /cache]
    group_add: ["1001", "2000"]  # numbers: the test image has no /etc/group
    oom_score_adj: 100
    volumes:
      - data:/data
      - ./files:/files:ro
      - /anon
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576, mode: 01777}
      - type: volume
        source: cache
        target: /cache2
        volume: {nocopy: true}
      - type: bind
        source: ./files
        target: /files-long
        read_only: true
        bind: {create_host_path: true}
      - type: bind
        source: ./files
        target: /files-private
        # rprivate: (r)slave and (r)shared need a shared mount on the host, which this one is not.
        bind: {propagation: rprivate}
    secrets: [token, {source: token, target: /etc/token-copy}]
    configs: [{source: settings, target: /etc/settings.ini}]
    networks:
      front:
        aliases: [w1, w2]
        ipv4_address: 10.123.45.10
      back: {}

  job:
    image: tugboat-test/server:local
    command: ["--exit-code", "0"]
    volumes: ["data:/job-data"]
    network_mode: none
    restart: "no"
    init: true
    cpu_period: 100000
    cpu_quota: 50000
    cpuset: "0"
    mem_swappiness: 10
    blkio_config: {weight: 300}
    cgroup: private
    runtime: runc
    healthcheck:
      test: ["NONE"]

  worker:
    image: tugboat-test/server:local
    scale: 2
    entrypoint: ["/tug-testserver"]
    command: --slow 1 --version "two words"
    environment: ["APP_A=1", "APP_LIST_UNSET"]
    restart: on-failure:3
    healthcheck:
      disable: true
    tty: true
    stdin_open: true
    cap_drop: [ALL]
    devices: ["/dev/fuse", "/dev/fuse:/dev/fuse2:r"]
    ipc: shareable
    deploy:
      resources:
        limits: {memory: 48m, cpus: "0.25", pids: 64}
        reservations: {memory: 16m}
    networks: [back]
    depends_on:
      web: {condition: service_healthy}
      job: {condition: service_completed_successfully}

  sidecar:
    image: tugboat-test/server:local
    entrypoint: /tug-testserver
    command: ["--listen", "0.0.0.0:8090"]
    network_mode: "service:web"
    pid: "service:web"
    privileged: false  # true needs every capability, which this (nested) engine cannot grant
    security_opt: ["seccomp=unconfined", "systempaths=unconfined"]
    healthcheck:
      test: /tug-testserver health --url http://127.0.0.1:8090/health
      interval: 1s
    deploy:
      restart_policy: {condition: on-failure, max_attempts: 2}
    # Not `job:ro`: Compose 2.40 drops the mode of `SERVICE:MODE` (see DOCUMENTED's notes); spec's tests
    # check that tug keeps it.
    volumes_from: ["job"]
    depends_on: [web]

  debug:
    image: tugboat-test/server:local
    profiles: [debug]

networks:
  front:
    driver: bridge
    driver_opts: {com.docker.network.bridge.enable_icc: "true"}
    attachable: true
    labels: {purpose: front}
    ipam:
      config:
        - subnet: 10.123.45.0/24
          gateway: 10.123.45.1
  back:
    internal: true
    labels: ["purpose=back"]

secrets:
  token: {file: ./token.txt}

configs:
  settings: {file: ./settings.ini}

volumes:
  data:
    labels: {kind: data}
  cache:
    driver: local
    driver_opts: {type: tmpfs, device: tmpfs, o: "size=4m"}
"#;

#[test]
fn every_key_stack_matches_compose_v2() {
    let f = Fixture::new();
    let devices = "    devices: [\"/dev/fuse\", \"/dev/fuse:/dev/fuse2:r\"]\n";
    assert!(EVERY_KEY.contains(devices));
    f.write(
        "compose.yaml",
        &if Path::new("/dev/fuse").exists() { EVERY_KEY.into() } else { EVERY_KEY.replace(devices, "") },
    );
    f.write("web.env", "APP_FROM_FILE=1\nAPP_QUOTED=\"a b\"\n# a comment\n");
    f.write("files/readme.txt", "bind-mounted\n");
    f.write("token.txt", "s3cret\n");
    f.write("settings.ini", "[a]\nb = 1\n");
    assert_conforms("every-key stack", &conformance(f.path(), &[]));
}

/// Each example with an override that runs the test image in every service (health checks reset to the
/// test server's, one-shot jobs made to exit 0); every other key is the example's.
fn example(name: &str, override_yaml: &str, extra_env: &[(&str, &str)]) {
    let f = Fixture::example(name);
    let mut env = dummy_env(&f.read(".env.template"));
    for (k, v) in extra_env {
        env.push_str(&format!("{k}={}\n", v.replace("{dir}", &f.path().display().to_string())));
    }
    f.write(".env", &env);
    // Compose's default files (`docker-compose.yml` + `docker-compose.override.yml`), read by both tools;
    // without tugboat.yml, whose other sections (deploy, backup, checks) are not what is compared here.
    f.write("docker-compose.override.yml", override_yaml);
    std::fs::remove_file(f.join("tugboat.yml")).expect("remove tugboat.yml");
    let diffs = conformance(f.path(), &[]);
    assert_conforms(name, &diffs);
}

/// A service of an example run as the test server: its own health check, answering in a second.
fn server(service: &str) -> String {
    format!(
        "  {service}:\n    image: tugboat-test/server:local\n    command: !reset []\n    healthcheck:\n      test: [\"CMD\", \"/tug-testserver\", \"health\"]\n      interval: 1s\n      start_period: 0s\n"
    )
}

#[test]
fn example_state_hub_matches_compose_v2() {
    let mut o = String::from("services:\n");
    o.push_str(&server("postgres"));
    o.push_str(&server("api"));
    o.push_str("  migrate:\n    image: tugboat-test/server:local\n    command: [\"--exit-code\", \"0\"]\n");
    example("state-hub", &o, &[]);
}

#[test]
fn example_docsearch_matches_compose_v2() {
    let mut o = String::from("services:\n");
    for s in ["qdrant", "backend", "frontend"] {
        o.push_str(&server(s));
    }
    example("docsearch", &o, &[("DOCS_PATH", "{dir}")]);
}

#[test]
fn example_dms_matches_compose_v2() {
    let mut o = String::from("services:\n");
    for s in [
        "frontend",
        "backend",
        "mariadb",
        "redis",
        "elasticsearch",
        "ocr-sidecar",
        "ollama-metrics",
        "embedder",
        "reranker",
    ] {
        o.push_str(&server(s));
    }
    // The engine's own open-files limit here is 20000.
    o = o.replace(
        "  elasticsearch:\n    image: tugboat-test/server:local\n",
        "  elasticsearch:\n    image: tugboat-test/server:local\n    ulimits:\n      nofile: {soft: 16384, hard: 16384}\n",
    );
    // No GPU here: the device reservations are reset (spec's unit tests cover them); 6 CPUs are more than
    // this machine has, which the engine refuses.
    o.push_str(&server("ollama"));
    o.push_str("    deploy:\n      resources:\n        limits: {cpus: \"1.5\"}\n        reservations: !reset {}\n");
    o = o.replace(
        "  ocr-sidecar:\n    image: tugboat-test/server:local\n",
        "  ocr-sidecar:\n    image: tugboat-test/server:local\n    deploy:\n      resources:\n        reservations: !reset {}\n",
    );
    // The uploads share is CIFS on a host that does not exist here: a tmpfs volume keeps driver_opts.
    o.push_str(
        "volumes:\n  uploads:\n    driver_opts: !override {type: tmpfs, device: tmpfs, o: \"size=8m,uid=1000\"}\n",
    );
    example("dms", &o, &[]);
}

/// GPU requests cannot start without a GPU, but the engine takes them at create: Compose's `create`
/// against the create body `spec` resolves for the same file.
#[test]
fn gpu_requests_match_compose_v2_create() {
    const GPUS: &str = "services:\n  reserved:\n    image: tugboat-test/server:local\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - {driver: nvidia, count: 1, capabilities: [gpu, utility]}\n            - {driver: nvidia, device_ids: ['0', '3'], capabilities: [gpu], options: {virtualization: 'false'}}\n            - {capabilities: [gpu]}\n  all:\n    image: tugboat-test/server:local\n    gpus: all\n  two:\n    image: tugboat-test/server:local\n    gpus: [{driver: nvidia, count: 2}]\n";
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(test_image(), IMAGE);
    let f = Fixture::new();
    f.write("compose.yaml", GPUS);
    let a = Project::new();
    compose(f.path(), &[], &a.name, &["create"]);
    let options = tugboat::stack::LoadOptions { process_env: Some(Default::default()), ..Default::default() };
    let spec =
        tugboat_runtime::spec::resolve(&tugboat::stack::load(f.path(), &options).expect("load")).expect("resolve");
    // What the engine reports for a request: every field, zero when not sent.
    let filled = |requests: Value| -> Value {
        let items = requests.as_array().cloned().unwrap_or_default();
        Value::from(
            items
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "Driver": r["Driver"].as_str().unwrap_or(""),
                        "Count": r["Count"].as_i64().unwrap_or(0),
                        "DeviceIDs": norm(&r["DeviceIDs"]),
                        "Capabilities": norm(&r["Capabilities"]),
                        "Options": norm(&r["Options"]),
                    })
                })
                .collect::<Vec<_>>(),
        )
    };
    let mut diffs = Vec::new();
    for service in ["reserved", "all", "two"] {
        let by_compose = filled(
            crate::runtime_support::inspect(&format!("{}-{service}-1", a.name))["HostConfig"]["DeviceRequests"].clone(),
        );
        let s = spec.services.iter().find(|s| s.name == service).expect("service in spec");
        let body = serde_json::to_value(&s.create.host_config).expect("host config JSON");
        let by_tug = filled(body["DeviceRequests"].clone());
        assert!(by_compose.as_array().is_some_and(|r| !r.is_empty()), "{service}: Compose sent no device requests");
        if by_compose != by_tug {
            diffs.push(format!("service {service}: HostConfig.DeviceRequests: compose={by_compose} tug={by_tug}"));
        }
    }
    assert_conforms("GPU requests", &diffs);
}
