//! `tug doctor`: passes on this machine for a small stack, and each check that can be made to fail here
//! does fail, with its fix: a dead DOCKER_HOST, a PATH without Compose v2, a fresh network namespace
//! (ip_forward is 0 there), a full tmpfs, a bind source under an unmounted /mnt mount point, mounts of the
//! wrong type, a port held by a listener the test opens, memory limits over the host's, a GPU reservation
//! on a host without one, a missing backup repository and a REST one nobody answers for. Namespaces,
//! mounts and directories under /mnt are removed by guards, also when a test fails (root is needed, as
//! on the CI machine).
//!
//! Compose v2 is found through `TUG_COMPOSE_V2` where the test run exports it (scripts/test does).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::util::{which, Fixture, Run};

const REPO_PW: &str = "doctor-test-password";

/// A stack of one service with `service` appended under it (ports, volumes, limits) and `tugboat` as
/// the rest of tugboat.yml.
fn stack(service: &str, tugboat: &str) -> Fixture {
    let f = Fixture::new();
    f.write("compose.yaml", &format!("services:\n  app:\n    image: shop:1.0\n{service}"));
    f.write("tugboat.yml", &format!("stack: shop\n{tugboat}"));
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f
}

/// `tug doctor --json` (with the Compose v2 the test run was given, as scripts/test exports it).
fn doctor(f: &Fixture, env: &[(&str, &str)]) -> (Run, Value) {
    doctor_with(f, env, std::env::var_os("TUG_COMPOSE_V2"))
}

fn doctor_with(f: &Fixture, env: &[(&str, &str)], compose_v2: Option<std::ffi::OsString>) -> (Run, Value) {
    let mut tug = f.tug().args(["doctor", "--json"]);
    if let Some(v2) = compose_v2 {
        tug = tug.env("TUG_COMPOSE_V2", v2);
    }
    for (k, v) in env {
        tug = tug.env(k, v);
    }
    let run = tug.run();
    let report = run.json();
    (run, report)
}

/// The check `id` of a report (the test fails listing the ids there are).
#[track_caller]
fn check<'r>(report: &'r Value, id: &str) -> &'r Value {
    let checks = report["checks"].as_array().expect("checks");
    checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| {
        let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
        panic!("no check {id}; there are {ids:?}")
    })
}

/// Asserts a check's status, that its observation holds `observed`, and (failed or warned) its fix `fix`.
#[track_caller]
fn expect(report: &Value, id: &str, status: &str, observed: &str, fix: &str) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{c:#}");
    assert!(c["observed"].as_str().unwrap().contains(observed), "observed lacks {observed:?}: {c:#}");
    assert!(c["fix"].as_str().unwrap_or_default().contains(fix), "fix lacks {fix:?}: {c:#}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

#[track_caller]
fn run_ok(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd} (install it): {e}"));
    assert!(
        out.status.success(),
        "`{cmd} {}` failed (root is needed): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tmpfs at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        run_ok("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.to_str().unwrap()]);
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A directory the test made under /mnt, removed (after any mount on it) when dropped.
struct MntDir(PathBuf);

impl Drop for MntDir {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A network namespace, deleted when dropped.
struct Netns(String);

impl Netns {
    fn add() -> Netns {
        let name = unique("tugdoc-");
        run_ok("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        // Whether a new namespace starts with forwarding on depends on the kernel (on 6.18 it does): turn
        // it off there. It is the namespace's own setting; the host's stays as it is.
        run_ok("ip", &["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        ns
    }

    /// `ip netns exec NS tug doctor --json` in the fixture, with the harness's clean environment.
    fn doctor(&self, f: &Fixture) -> Value {
        let home = crate::util::tempdir();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_tug"), "doctor", "--json"])
            .current_dir(f.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("ip netns exec (iproute2) is needed");
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
    }
}

#[test]
fn a_small_stack_passes_on_this_machine() {
    let port = free_port();
    let f = stack(
        &format!("    ports: [\"127.0.0.1:{port}:8080\"]\n    volumes: [./data:/data]\n    mem_limit: 64m\n"),
        "backup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ { files: ./data } ]\n",
    );
    f.write("data/letter.txt", "kept\n");
    f.tug().args(["backup", "init"]).run().success();
    let (run, report) = doctor(&f, &[]);
    run.success();
    assert_eq!(report["ok"], true, "{report:#}");
    let failed: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for id in [
        "engine.reachable",
        "engine.version",
        "compose.v2",
        "cgroup.controllers",
        "kernel.namespaces",
        "kernel.netfilter",
        "network.ip-forward",
        "memory.limits",
        "backup.repository",
    ] {
        assert_eq!(check(&report, id)["status"], "pass", "{:#}", check(&report, id));
    }
    let data = std::fs::canonicalize(f.join("data")).unwrap();
    expect(
        &report,
        &format!("bind:{}", f.join("data").display()),
        "pass",
        &format!("{} exists (writable)", f.join("data").display()),
        "",
    );
    assert!(data.exists());
    expect(&report, &format!("port:{port}/tcp"), "pass", &format!("127.0.0.1:{port} for app: free"), "");
    expect(&report, "gpu.driver", "skip", "no service reserves a GPU", "");
    expect(&report, "engine.version", "pass", "tug needs API 1.41", "");
    let space = report["checks"].as_array().unwrap().iter().filter(|c| c["group"] == "storage").count();
    assert!(space >= 1, "{report:#}");

    // The same report for people: grouped, a mark per line.
    let text =
        f.tug().arg("doctor").env("TUG_COMPOSE_V2", std::env::var_os("TUG_COMPOSE_V2").unwrap_or_default()).run();
    text.success()
        .stdout_line_with(&["pass", "engine.reachable", "Docker Engine at"])
        .stdout_line_with(&["pass", "network.ip-forward"])
        .stdout_contains("\nmounts\n")
        .stdout_contains("doctor: 0 failed");
}

#[test]
fn an_engine_nobody_listens_on_fails_with_how_to_start_it() {
    let f = stack("", "");
    let dead = f.join("dead.sock");
    let (run, report) = doctor(&f, &[("DOCKER_HOST", &format!("unix://{}", dead.display()))]);
    run.failure(1);
    assert_eq!(report["ok"], false);
    expect(
        &report,
        "engine.reachable",
        "fail",
        &format!("cannot reach the Docker Engine at unix://{}", dead.display()),
        "systemctl start docker",
    );
    expect(&report, "engine.storage-driver", "skip", "unreachable", "");
}

#[test]
fn without_compose_v2_on_path_it_fails_and_compose_v1_only_warns() {
    let f = stack("", "");
    let empty = crate::util::tempdir();
    let (run, report) = doctor_with(&f, &[("PATH", empty.path().to_str().unwrap())], None);
    run.failure(1);
    expect(&report, "compose.v2", "fail", "no Docker Compose", "docker-compose-plugin");

    // Debian's docker-compose 1.29 (this machine kind has it) alone on PATH.
    let v1 = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("docker-compose"))
        .find(|p| {
            Command::new(p)
                .arg("version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("version 1."))
        })
        .expect("this test needs Compose v1 on PATH: apt-get install docker-compose (Debian's 1.29)");
    let bin = crate::util::tempdir();
    std::os::unix::fs::symlink(&v1, bin.path().join("docker-compose")).unwrap();
    // Alone on PATH (its script names /usr/bin/python3 itself).
    let path = bin.path().display().to_string();
    let (_, report) = doctor_with(&f, &[("PATH", &path)], None);
    expect(&report, "compose.v2", "warn", "only Docker Compose 1.", "docker-compose-plugin");
}

#[test]
fn in_a_fresh_network_namespace_ip_forwarding_fails() {
    let f = stack("", "");
    let ns = Netns::add();
    let report = ns.doctor(&f);
    expect(&report, "network.ip-forward", "fail", "net.ipv4.ip_forward = 0", "sysctl -w net.ipv4.ip_forward=1");
}

#[test]
fn a_bind_source_on_a_full_filesystem_fails_space() {
    let f = stack("    volumes: [./full:/data]\n", "");
    let full = Tmpfs::mount(&f.join("full"), "1m");
    let mut file = std::fs::File::create(f.join("full/fill")).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(&report, &format!("space:{}", full.0.display()), "fail", "0 B free of 1.0 MiB", "free space on");
}

#[test]
fn a_bind_source_under_an_unmounted_mnt_mount_point_fails_and_passes_once_mounted() {
    let share = MntDir(Path::new("/mnt").join(unique("tug-doctor-")));
    std::fs::create_dir_all(share.0.join("uploads")).unwrap();
    let source = share.0.join("uploads");
    let f = stack(&format!("    volumes: [\"{}:/app/uploads\"]\n", source.display()), "");
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    let id = format!("bind:{}", source.display());
    expect(
        &report,
        &id,
        "fail",
        &format!("nothing is mounted at {}", share.0.display()),
        &format!("mount {}", share.0.display()),
    );

    run_ok("mount", &["-t", "tmpfs", "-o", "size=8m", "tmpfs", share.0.to_str().unwrap()]);
    std::fs::create_dir_all(&source).unwrap();
    let (_, report) = doctor(&f, &[]);
    expect(&report, &id, "pass", &format!("on {} (tmpfs tmpfs)", share.0.display()), "");
}

#[test]
fn expected_mounts_must_be_mounted_of_their_type() {
    let f = Fixture::new();
    let share = f.join("share");
    let elsewhere = f.join("not-mounted");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let _mounted = Tmpfs::mount(&share, "8m");
    let write = |t: &str| {
        f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
        f.write(
            "tugboat.yml",
            &format!(
                "stack: shop\nhost:\n  mounts:\n    - {{ path: {}, type: {t} }}\n    - {{ path: {} }}\n",
                share.display(),
                elsewhere.display()
            ),
        );
    };
    write("cifs");
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(
        &report,
        &format!("mount:{}", share.display()),
        "fail",
        "is a tmpfs mount (tmpfs); tugboat.yml expects cifs",
        "mount the cifs share",
    );
    expect(&report, &format!("mount:{}", elsewhere.display()), "fail", "nothing is mounted at", "mount it");
    write("tmpfs");
    let (_, report) = doctor(&f, &[]);
    expect(&report, &format!("mount:{}", share.display()), "pass", "is mounted: tmpfs", "");

    // A relative mount point is a configuration error at its line.
    f.write("tugboat.yml", "stack: shop\nhost:\n  mounts:\n    - { path: mnt/uploads, type: cifs }\n");
    f.tug()
        .args(["doctor"])
        .run()
        .failure(2)
        .stderr_contains("tugboat.yml:4:15: host.mounts[0].path")
        .stderr_contains("absolute path");
}

#[test]
fn a_port_held_by_another_process_fails_naming_it() {
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let f = stack(&format!("    ports: [\"{port}:8080\"]\n"), "");
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(
        &report,
        &format!("port:{port}/tcp"),
        "fail",
        &format!("is in use by pid {}", std::process::id()),
        "stop that process",
    );
    drop(taken);
}

#[test]
fn memory_limits_over_the_host_fail() {
    let f = stack("    mem_limit: 64g\n    deploy: { replicas: 64 }\n", "");
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(&report, "memory.limits", "fail", "limits sum to 4.0 TiB", "largest: app");
}

#[test]
fn a_gpu_reservation_needs_the_driver_and_the_container_runtime() {
    let f = stack("    deploy:\n      resources:\n        reservations:\n          devices: [ { capabilities: [gpu], count: 1 } ]\n", "");
    let (_, report) = doctor(&f, &[]);
    if which("nvidia-smi").is_some() {
        expect(&report, "gpu.driver", "pass", "app reserve a GPU", "");
    } else {
        expect(&report, "gpu.driver", "fail", "nvidia-smi not found", "install the NVIDIA driver");
        expect(&report, "gpu.runtime", "fail", "no NVIDIA container runtime", "nvidia-container-toolkit");
    }
}

#[test]
fn a_backup_repository_that_is_missing_or_does_not_answer_fails() {
    let f = stack("", "backup:\n  repository: ./nowhere\n  password_env: REPO_PW\n  sources: [ { config: true } ]\n");
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(&report, "backup.repository", "fail", "no restic repository at", "tug backup init");
    assert!(!f.exists("nowhere"), "the doctor only looks");

    let port = free_port();
    f.write(
        "tugboat.yml",
        &format!("stack: shop\nbackup:\n  repository: rest:http://127.0.0.1:{port}/shop\n  password_env: REPO_PW\n  sources: [ {{ config: true }} ]\n"),
    );
    let (run, report) = doctor(&f, &[]);
    run.failure(1);
    expect(&report, "backup.repository", "fail", &format!("127.0.0.1:{port}"), "start the repository's server");
}

#[test]
fn ports_held_by_the_stack_itself_pass() {
    use crate::runtime_support::{test_image, Project};
    let p = Project::new();
    let port = free_port();
    let f = Fixture::new();
    f.write(
        "compose.yml",
        &format!(
            "name: {}\nservices:\n  web:\n    image: {}\n    ports: [\"127.0.0.1:{port}:8080\"]\n",
            p.name,
            test_image()
        ),
    );
    f.tug().arg("up").run().success();
    let (_, report) = doctor(&f, &[]);
    expect(
        &report,
        &format!("port:{port}/tcp"),
        "pass",
        &format!("held by this stack's container {}-web-1", p.name),
        "",
    );

    // The same port published by another stack is taken.
    let other = Fixture::new();
    other.write(
        "compose.yml",
        &format!("name: {}-other\nservices:\n  web:\n    image: x\n    ports: [\"127.0.0.1:{port}:8080\"]\n", p.name),
    );
    let (run, report) = doctor(&other, &[]);
    run.failure(1);
    expect(&report, &format!("port:{port}/tcp"), "fail", "docker-proxy", "docker ps --filter publish");
}
