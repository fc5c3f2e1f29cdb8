//! Cut off over a real network link: the server tug talks to lives on its own test host (a network namespace joined
//! to this one by a veth pair), and the link is dropped mid-command the way a pulled cable, a dead VPN or a firewall
//! does it: packets vanish, nothing is refused, no reset ever arrives. tug must fail within a bounded time with exit 3,
//! naming the repository or database, record nothing as done, and succeed again once the link is back.
//!
//! The link is dropped with iptables DROP rules on the host's side of the veth (both directions), not by `ip link set
//! down` (the route disappears and connections fail at once with "network unreachable": refused, not blackholed) and
//! not with netem loss (the `sch_netem` qdisc is not available on these machines). Needs root, iproute2 and iptables.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use tugboat::db::scratch::ScratchServer;

use crate::backups::REPO_PW;
use crate::cut_off::{big_server, TableLock};
use crate::util::{tempdir, wait_for, Fixture, Spawned};

/// Namespaces of this suite are named `tugtest-PID-N`; veth ends `ttPIDhN` (host) and `ttPIDnN` (test host).
const NS_PREFIX: &str = "tugtest-";
/// How long tug may take to give up on a dead link before the test calls it a hang.
const HANG_DEADLINE: Duration = Duration::from_secs(300);

static NEXT_HOST: AtomicU32 = AtomicU32::new(0);
/// Serializes picking a free /30, so parallel tests never take the same one.
static ADDRESSES: Mutex<()> = Mutex::new(());
static LEFTOVERS: Once = Once::new();

/// Runs `program args` and panics with its stderr when it fails.
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): the network tests need iproute2 and iptables (apt-get install iproute2 iptables)")
    });
    assert!(
        out.status.success(),
        "`{program} {}` failed (the network tests need root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test host: a network namespace with a /30 link to this one, and the servers started inside it.
/// Dropping it kills the servers and deletes the namespace and the veth, whether the test passed or not.
struct TestHost {
    ns: String,
    /// The veth end in this (the root) namespace.
    veth: String,
    /// This namespace's address on the link, and the test host's.
    local_ip: String,
    ip: String,
    servers: Vec<Child>,
}

impl TestHost {
    fn new() -> TestHost {
        LEFTOVERS.call_once(remove_leftovers);
        let (pid, n) = (std::process::id(), NEXT_HOST.fetch_add(1, Ordering::SeqCst));
        let ns = format!("{NS_PREFIX}{pid}-{n}");
        let (veth, peer) = (format!("tt{pid}h{n}"), format!("tt{pid}n{n}"));
        sh("ip", &["netns", "add", &ns]);
        // From here on, Drop removes what exists.
        let mut host = TestHost { ns, veth, local_ip: String::new(), ip: String::new(), servers: Vec::new() };
        sh("ip", &["link", "add", &host.veth, "type", "veth", "peer", "name", &peer]);
        sh("ip", &["link", "set", &peer, "netns", &host.ns]);
        {
            let _picking = ADDRESSES.lock().unwrap_or_else(|e| e.into_inner());
            let (local, remote) = free_subnet();
            sh("ip", &["addr", "add", &format!("{local}/30"), "dev", &host.veth]);
            (host.local_ip, host.ip) = (local, remote);
        }
        sh("ip", &["link", "set", &host.veth, "up"]);
        host.exec(&["ip", "addr", "add", &format!("{}/30", host.ip), "dev", &peer]);
        host.exec(&["ip", "link", "set", &peer, "up"]);
        host.exec(&["ip", "link", "set", "lo", "up"]);
        host
    }

    /// Runs a command inside the test host to its end.
    fn exec(&self, command: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.ns];
        args.extend_from_slice(command);
        sh("ip", &args)
    }

    /// Starts a server inside the test host (in its own process group, killed on drop) and waits until `port`
    /// accepts connections from here.
    fn serve(&mut self, program: &str, args: &[&str], port: u16) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} in {}: {e}", self.ns));
        self.servers.push(child);
        let addr = std::net::SocketAddr::new(self.ip.parse().unwrap(), port);
        wait_for(&format!("{program} to listen on {addr}"), Duration::from_secs(60), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        });
    }

    /// Drops every packet between the hosts, both ways, from now on: the link is dead, nothing is refused.
    fn cut(&self) {
        sh("iptables", &["-I", "INPUT", "-i", &self.veth, "-j", "DROP"]);
        sh("iptables", &["-I", "OUTPUT", "-o", &self.veth, "-j", "DROP"]);
    }

    /// Lets packets through again (the connections that were cut stay dead on the client's side).
    fn restore(&self) {
        sh("iptables", &["-D", "INPUT", "-i", &self.veth, "-j", "DROP"]);
        sh("iptables", &["-D", "OUTPUT", "-o", &self.veth, "-j", "DROP"]);
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", server.id())]).status();
            let _ = server.wait();
        }
        // Rules left by a failed test would match nothing once the veth is gone, but are removed all the same.
        for (chain, dir) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
            while Command::new("iptables")
                .args(["-D", chain, dir, &self.veth, "-j", "DROP"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {}
        }
        let _ = Command::new("ip").args(["link", "del", &self.veth]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// The first 10.213.x.y/30 that no interface here uses: (this side's address, the test host's).
fn free_subnet() -> (String, String) {
    let used = sh("ip", &["-o", "-4", "addr", "show"]);
    (0u32..16384)
        .map(|i| (i * 4 / 256, i * 4 % 256))
        .map(|(c, d)| (format!("10.213.{c}.{}", d + 1), format!("10.213.{c}.{}", d + 2)))
        .find(|(local, _)| !used.contains(&format!("inet {local}/")))
        .expect("a free /30 in 10.213.0.0/16")
}

/// Namespaces (and their processes, veths and DROP rules) of earlier runs whose test process is gone.
fn remove_leftovers() {
    let dead = |pid: &str| !Path::new(&format!("/proc/{pid}")).exists();
    for line in sh("ip", &["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(pid) = name.strip_prefix(NS_PREFIX).and_then(|rest| rest.split('-').next()) else { continue };
        if dead(pid) {
            for inside in sh("ip", &["netns", "pids", name]).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", inside]).status();
            }
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
    for line in sh("ip", &["-o", "link", "show"]).lines() {
        // `7: tt1234h0@if6: <…`
        let Some(name) = line.split_whitespace().nth(1).map(|n| n.trim_end_matches(':')) else { continue };
        let name = name.split('@').next().unwrap_or(name);
        let Some(pid) = name.strip_prefix("tt").and_then(|rest| rest.split(['h', 'n']).next()) else { continue };
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && dead(pid) {
            let _ = Command::new("ip").args(["link", "del", name]).status();
        }
    }
    for rule in sh("iptables", &["-S"]).lines() {
        let words: Vec<&str> = rule.split_whitespace().collect();
        let pid = words.iter().find_map(|w| w.strip_prefix("tt")).and_then(|r| r.split(['h', 'n']).next());
        if words.first() == Some(&"-A") && pid.is_some_and(|p| !p.is_empty() && dead(p)) {
            let _ = Command::new("iptables").arg("-D").args(&words[1..]).status();
        }
    }
}

/// Freezes tug while the link is cut, so where the cut lands does not depend on the machine's speed.
fn cut_while_frozen(tug: &Spawned, host: &TestHost) {
    tug.signal("STOP");
    host.cut();
    tug.signal("CONT");
}

/// Waits for tug's exit, at most [`HANG_DEADLINE`] (then it is killed and the test fails as a hang): the exit code,
/// stdout + stderr, and how long it took.
fn exit_within_deadline(mut tug: Spawned) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = tug.child.try_wait().unwrap() {
            let out = tug.child.wait_with_output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            return (status.code(), text, started.elapsed());
        }
        if started.elapsed() > HANG_DEADLINE {
            let _ = tug.child.kill();
            let out = tug.child.wait_with_output().unwrap();
            panic!(
                "tug hung on the dead link for {HANG_DEADLINE:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Incompressible bytes, so the upload takes real packs.
fn random_file(path: &Path, bytes: usize) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let data: Vec<u8> = (0..bytes / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[test]
fn a_rest_repository_cut_off_mid_backup_fails_in_bounded_time_and_recovers() {
    const PORT: u16 = 8000;
    const URL_PW: &str = "rest-link-secret-3141";
    let mut host = TestHost::new();
    let store = tempdir();
    let store_path = store.path().display().to_string();
    host.serve(
        "pyrestserver",
        &["serve", "--no-auth", "--listen", &format!("{}:{PORT}", host.ip), "--path", &store_path],
        PORT,
    );
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\nbackup:\n  repository: \"rest:http://backup:{URL_PW}@{}:{PORT}/shop\"\n  password_env: REPO_PW\n  \
             sources: [ {{ files: ./uploads }} ]\n",
            host.ip
        ),
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    random_file(&f.join("uploads/big.bin"), 96 << 20);
    f.tug().args(["backup", "init"]).run().success();
    let data = store.path().join("shop/data");

    let tug = f.tug().arg("backup").spawn();
    wait_for("the first pack to reach the server", Duration::from_secs(120), || !files_under(&data).is_empty());
    cut_while_frozen(&tug, &host);
    let (code, out, took) = exit_within_deadline(tug);
    eprintln!("tug backup gave up on the dead link after {took:?}");
    assert_eq!(code, Some(3), "could not act: {out}");
    let shown = format!("rest:http://backup:***@{}:{PORT}/shop", host.ip);
    assert!(out.contains(&shown), "the repository is named, its password masked: {out}");
    assert!(!out.contains(URL_PW), "the URL's password never shows: {out}");
    assert!(out.to_lowercase().contains("timed out") || out.contains("timeout"), "what happened: {out}");

    host.restore();
    let snapshots = store.path().join("shop/snapshots");
    assert!(files_under(&snapshots).is_empty(), "no snapshot of a cut backup");
    f.tug().args(["backup", "check", "--read-data"]).run().success();
    f.tug().arg("backup").run().success();
    assert_eq!(files_under(&snapshots).len(), 1, "the next backup succeeds with no repair");
    f.tug().args(["audit", "verify"]).run().success();
}

/// A server's database reachable on the test host at `ip:port`: socat there relays TCP to the scratch server's Unix
/// socket (which no network namespace separates), so the TCP connection tug makes crosses the link to the test host.
fn relay_database(host: &mut TestHost, server: &ScratchServer, port: u16) {
    let socket = server.dir().join("mysqld.sock");
    let listen = format!("TCP-LISTEN:{port},bind={},fork,reuseaddr", host.ip);
    host.serve("socat", &[&listen, &format!("UNIX-CONNECT:{}", socket.display())], port);
}

#[test]
fn a_database_cut_off_mid_parity_fails_in_bounded_time_reports_nothing_equal_and_recovers() {
    const PORT: u16 = 3306;
    let source = big_server();
    let target = big_server();
    let mut host = TestHost::new();
    relay_database(&mut host, &target, PORT);
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\ndatabases:\n  main: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n  \
             new: {{ kind: mariadb, url: \"mysql://root@{}:{PORT}/shop\" }}\n",
            source.port(),
            host.ip
        ),
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");

    // The cut lands while tug waits on a statement over the link, whichever pass it is in.
    let lock = TableLock::hold(&target);
    let tug = f.tug().args(["parity", "main", "new", "--json"]).spawn();
    lock.wait_for_a_blocked_reader(&target);
    host.cut();
    drop(lock);
    let (code, out, took) = exit_within_deadline(tug);
    eprintln!("tug parity gave up on the dead link after {took:?}");
    assert_eq!(code, Some(3), "could not compare: {out}");
    // The cut finds tug waiting on a statement (the silence deadline: "no answer from the database URL") or
    // opening its next session (the client's connect timeout, naming host and port).
    let named = out.contains(&format!("mariadb://root@{}:{PORT}/shop", host.ip))
        || out.contains(&format!("--host={} --port={PORT}", host.ip));
    assert!(named, "the database is named: {out}");
    assert!(out.contains("no answer") || out.contains("Can't connect"), "what happened: {out}");
    assert!(!out.contains("\"equal\": true"), "nothing is reported equal: {out}");
    if f.join(".tugboat/state.db").exists() {
        let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
        let equal: i64 = db.query_row("SELECT COUNT(*) FROM parity_runs WHERE equal = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(equal, 0, "no equal parity is recorded for gates to trust");
    }

    host.restore();
    f.tug().args(["parity", "main", "new"]).run().success();
}
