//! `tug backup`, `tug drill`, `tug restore` end to end: real scratch MariaDB/PostgreSQL servers, a real
//! repository read back by Debian's `restic` binary.

use std::process::Command;

use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::util::Fixture;

pub(crate) const REPO_PW: &str = "repo-secret-4711";

pub(crate) fn restic(f: &Fixture, args: &[&str]) -> std::process::Output {
    let out = Command::new("restic")
        .args(["-r", &f.join("repo").display().to_string(), "--no-cache"])
        .args(args)
        .env("RESTIC_PASSWORD", REPO_PW)
        .output()
        .expect("the restic binary is needed for these tests: apt-get install restic (scripts/test installs it)");
    assert!(out.status.success(), "restic {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub(crate) fn snapshots(f: &Fixture) -> Vec<serde_json::Value> {
    let out = restic(f, &["snapshots", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

pub(crate) fn tags_of(s: &serde_json::Value) -> Vec<String> {
    s["tags"].as_array().map(|t| t.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

/// A stack whose backup covers a MariaDB database, an uploads directory and the config.
pub(crate) fn stack(server: &ScratchServer, extra_sources: &str) -> Fixture {
    let f = Fixture::new();
    let yml = format!(
        "stack: shop\ndatabases:\n  main: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n\
         backup:\n  repository: ./repo\n  password_env: REPO_PW\n  keep: {{ last: 2 }}\n  sources:\n    - {{ database: main }}\n    - {{ files: ./uploads }}\n    - {{ config: true }}\n{extra_sources}",
        server.port()
    );
    f.write("tugboat.yml", &yml);
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f.write("uploads/a.txt", "first upload\n");
    f.write("uploads/nested/b.bin", &"binary-ish \u{1} content ".repeat(500));
    f
}

pub(crate) fn mariadb_shop() -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("shop").unwrap();
    server
        .query(
            Some("shop"),
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2));
             INSERT INTO orders SELECT seq, CONCAT('c', seq % 97), seq * 1.5 FROM seq_1_to_3000;
             CREATE TABLE customers (name VARCHAR(40) PRIMARY KEY, since DATE);
             INSERT INTO customers SELECT CONCAT('c', seq), '2026-01-01' + INTERVAL seq DAY FROM seq_0_to_96;",
        )
        .unwrap();
    server
}

#[test]
fn backup_drill_restore_end_to_end_with_restic_interop() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    let run = f.tug().args(["backup"]).run();
    run.success().stdout_contains("3 of 3 sources backed up");
    assert!(!run.stdout().contains(REPO_PW) && !run.stderr().contains(REPO_PW));

    // restic itself lists the snapshots with tugboat's tags, and restores the uploads byte-identical.
    let list = snapshots(&f);
    assert_eq!(list.len(), 3, "{list:#?}");
    let uploads = list.iter().find(|s| tags_of(s).contains(&"source=uploads".to_string())).unwrap();
    for tag in ["tugboat", "stack=shop", "kind=files"] {
        assert!(tags_of(uploads).contains(&tag.to_string()), "{uploads:#}");
    }
    let db = list.iter().find(|s| tags_of(s).contains(&"source=main".to_string())).unwrap();
    assert!(tags_of(db).iter().any(|t| t.starts_with("tool=") && t.contains("mariadb-dump")), "{db:#}");
    let out = f.join("restic-out");
    restic(&f, &["restore", uploads["id"].as_str().unwrap(), "--target", &out.display().to_string()]);
    let original = f.join("uploads/nested/b.bin");
    let restored = out.join(original.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(&restored).unwrap(), std::fs::read(&original).unwrap());

    // The drill restores into a scratch server and matches the manifest and the live database.
    let drill = f.tug().args(["drill"]).run();
    drill.success().stdout_contains("drill passed: 3 of 3").stdout_contains("restored in");

    // Writes after the snapshot are "newer than snapshot", not a failure.
    server.query(Some("shop"), "INSERT INTO orders VALUES (5001, 'late', 1.00)").unwrap();
    let drill = f.tug().args(["drill", "main", "--json"]).run();
    drill.success();
    let report = drill.json();
    let orders =
        report["drills"][0]["tables"].as_array().unwrap().iter().find(|t| t["table"] == "orders").unwrap().clone();
    assert_eq!(orders["verdict"], "newer_than_snapshot", "{orders:#}");
    assert!(report["drills"][0]["restore_ms"].as_u64().is_some());

    // Restore the database into another server database; refused on a non-empty target without --force.
    server.create_database("restored").unwrap();
    let to = format!("mysql://root@127.0.0.1:{}/restored", server.port());
    f.tug().args(["restore", "main", "--to", &to]).run().success().stdout_contains("restored snapshot");
    f.tug().args(["restore", "main", "--to", &to]).run().failure(2).stderr_contains("--force");
    f.tug().args(["restore", "main", "--to", &to, "--force"]).run().success();
    let parity = f.tug().args(["parity", "main", &to]).run();
    parity.failure(1).stdout_contains("missing in target").stdout_contains("[5001]");

    // Files restore to a directory.
    let dest = f.join("files-back");
    f.tug().args(["restore", "uploads", "--to", &dest.display().to_string()]).run().success();
    assert_eq!(
        std::fs::read(dest.join(original.strip_prefix("/").unwrap())).unwrap(),
        std::fs::read(&original).unwrap()
    );

    // Integrity, retention, and the audit trail.
    f.tug().args(["backup", "check", "--read-data"]).run().success().stdout_contains("ok:");
    f.tug().args(["backup"]).run().success();
    f.tug().args(["backup"]).run().success();
    let forget = f.tug().args(["backup", "forget", "--dry-run"]).run();
    forget.success().stdout_contains("would remove");
    assert_eq!(snapshots(&f).len(), 9, "a dry run removes nothing");
    f.tug().args(["backup", "forget", "--prune"]).run().success();
    assert_eq!(snapshots(&f).len(), 6, "keep last 2 per source");
    f.tug().args(["backup", "check", "--read-data"]).run().success();
    let log = f.tug().args(["audit", "log", "--json"]).run();
    let commands: Vec<String> =
        log.json().as_array().unwrap().iter().map(|e| e["command"].as_str().unwrap().to_string()).collect();
    for c in ["backup init", "backup", "drill", "restore", "backup forget"] {
        assert!(commands.contains(&c.to_string()), "{commands:?}");
    }
    assert!(!log.stdout().contains(REPO_PW));
}

#[test]
fn one_failing_source_does_not_stop_the_others() {
    let server = mariadb_shop();
    let f = stack(&server, "    - { database: broken }\n");
    let yml = f
        .read("tugboat.yml")
        .replace("databases:\n", "databases:\n  broken: { kind: mariadb, url: \"mysql://root@127.0.0.1:1/nope\" }\n");
    f.write("tugboat.yml", &yml);
    f.tug().args(["backup", "init"]).run().success();
    let run = f.tug().args(["backup", "--json"]).run();
    run.failure(1);
    let report = run.json();
    let by_name = |n: &str| report["sources"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap().clone();
    assert_eq!(by_name("main")["ok"], true);
    assert_eq!(by_name("uploads")["ok"], true);
    assert_eq!(by_name("broken")["ok"], false);
    assert!(by_name("broken")["error"].as_str().unwrap().contains("Can't connect"), "{report:#}");
    let list = snapshots(&f);
    assert_eq!(list.len(), 3);
    assert!(
        !list.iter().any(|s| tags_of(s).contains(&"source=broken".to_string())),
        "the failed source has no snapshot"
    );
}

#[test]
fn a_failing_dump_leaves_no_snapshot() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    // The dump fails half-way: a table the dump user may not read (mariadb-dump exits non-zero).
    server.query(None, "CREATE USER 'half'@'127.0.0.1'; GRANT SELECT ON shop.orders TO 'half'@'127.0.0.1'").unwrap();
    let yml = f.read("tugboat.yml").replace("mysql://root@", "mysql://half@");
    f.write("tugboat.yml", &yml);
    let run = f.tug().args(["backup", "main"]).run();
    run.failure(1).stdout_contains("failed");
    assert!(snapshots(&f).is_empty(), "a failed dump must leave no snapshot");
}

#[test]
fn the_drill_catches_a_bad_backup() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().args(["backup", "main"]).run().success();
    let good = snapshots(&f).into_iter().next().unwrap();
    let good_id = good["id"].as_str().unwrap().to_string();

    // Someone's dump lost rows: restic stores a tampered copy as the newest snapshot of `main`,
    // and the state database holds the manifest recorded at backup time for it.
    let dump = restic(&f, &["dump", &good_id, "/shop.sql"]).stdout;
    let text = String::from_utf8(dump).unwrap();
    // Drop the rows c1 and c10…c19 of `customers` (each tuple is a line of the extended INSERT).
    let tampered: String = text.lines().filter(|l| !l.starts_with("('c1")).map(|l| format!("{l}\n")).collect();
    assert!(tampered.len() < text.len(), "the tampering removed nothing");
    let tmp = f.join("tampered.sql");
    std::fs::write(&tmp, tampered).unwrap();
    let mut args: Vec<String> = vec!["backup".into(), "--stdin".into(), "--stdin-filename".into(), "shop.sql".into()];
    for t in tags_of(&good) {
        args.extend(["--tag".into(), t]);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("restic -r {} --no-cache {} < {}", f.join("repo").display(), args.join(" "), tmp.display()))
        .env("RESTIC_PASSWORD", REPO_PW)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad_id =
        snapshots(&f).into_iter().map(|s| s["id"].as_str().unwrap().to_string()).find(|id| *id != good_id).unwrap();
    let state = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
    state
        .execute("INSERT INTO backup_manifests (snapshot_id, source, time_ms, manifest) SELECT ?1, source, time_ms, manifest FROM backup_manifests WHERE snapshot_id = ?2", [&bad_id, &good_id])
        .unwrap();

    let drill = f.tug().args(["drill", "main"]).run();
    drill.failure(1).stdout_contains("BAD BACKUP").stdout_contains("customers");
    // The good snapshot still drills clean.
    f.tug().args(["drill", "main", "--snapshot", &good_id[..8]]).run().success();
}

#[test]
fn postgres_backup_and_deep_drill() {
    let server = ScratchServer::start(Engine::Postgres).unwrap();
    server.create_database("hub").unwrap();
    server
        .query(Some("hub"), "CREATE TABLE states (id serial PRIMARY KEY, name text, payload jsonb); INSERT INTO states (name, payload) SELECT 's' || g, jsonb_build_object('g', g) FROM generate_series(1, 2000) g")
        .unwrap();
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: hub\ndatabases:\n  hub: {{ kind: postgres, url: \"postgres://postgres@127.0.0.1:{}/hub\" }}\nbackup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ {{ database: hub }} ]\n",
            server.port()
        ),
    );
    f.write("compose.yaml", "services:\n  api:\n    image: hub:1\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f.tug().args(["backup", "init"]).run().success();
    f.tug().args(["backup"]).run().success();
    let drill = f.tug().args(["drill", "--deep"]).run();
    drill.success().stdout_contains("deep parity live -> restored: 1 tables equal");
}

/// A Docker volume source: the volume's directory on this host is backed up and drilled.
#[test]
fn docker_volume_source() {
    let info = Command::new("docker").arg("info").output();
    assert!(
        matches!(&info, Ok(o) if o.status.success()),
        "this test needs a running Docker Engine: install docker.io and start dockerd"
    );
    let name = format!("tug-test-vol-{}", std::process::id());
    let created = Command::new("docker").args(["volume", "create", &name]).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["volume", "rm", "-f", &self.0]).output();
        }
    }
    let _guard = Remove(name.clone());
    let mount = Command::new("docker").args(["volume", "inspect", "-f", "{{.Mountpoint}}", &name]).output().unwrap();
    let mount = std::path::PathBuf::from(String::from_utf8_lossy(&mount.stdout).trim());
    std::fs::write(mount.join("index.json"), "{\"shards\": 3}\n").unwrap();

    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: es\nbackup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ {{ volume: {name} }} ]\n"
        ),
    );
    f.write("compose.yaml", "services:\n  es:\n    image: es:8\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f.tug().args(["backup", "init"]).run().success();
    f.tug().args(["backup"]).run().success().stdout_contains("1 of 1 sources backed up");
    f.tug().args(["drill"]).run().success().stdout_contains("1 files checked, 0 differ");
    let list = snapshots(&f);
    assert!(tags_of(&list[0]).contains(&"kind=volume".to_string()), "{list:#?}");
}
