//! `tug scan` against the real Docker Engine, with images built here (`docker import` of a root filesystem
//! whose dpkg database names the package versions) and OSV records written for the test in the shape of a
//! Debian advisory. Seed 004 T123: a vulnerable version fails the gate, the bumped one passes; SARIF,
//! SBOM, ignores with reasons and expiry, the database's age, and one audit event per scan and import.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::sarif::validate;
use crate::util::{one_audit_event, Fixture};

const VULNERABLE: &str = "3.0.11-1~deb12u2";
const FIXED: &str = "3.0.13-1~deb12u1";

/// An image of `tag` whose dpkg database says `libssl3` (source `openssl`) `version` is installed, on Debian 12.
fn image(tag: &str, version: &str) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        r.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    )
    .unwrap();
    std::fs::write(
        r.join("var/lib/dpkg/status"),
        format!(
            "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: {version}\n\
             Description: Secure Sockets Layer toolkit - shared libraries\n\n\
             Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\
             Description: compression library - runtime\n\n\
             Package: old-tool\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 0.1\n\n"
        ),
    )
    .unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("tar -C '{}' -c . | docker import - '{tag}' >/dev/null", r.display()))
        .status()
        .unwrap();
    assert!(status.success(), "docker import {tag} (the tests need the Docker Engine)");
}

struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
    }
}

/// OSV records in the shape of Debian's (DSA-style, Debian:12, source package names, a fixed version) and
/// a GHSA-style npm record that matches nothing here.
fn records(dir: &Path, modified: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let dsa = json!({
        "schema_version": "1.6.0",
        "id": "DSA-5678-1",
        "modified": modified,
        "published": "2024-03-01T00:00:00Z",
        "aliases": ["CVE-2024-0727"],
        "summary": "openssl: NULL dereference on malformed PKCS12 files",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": FIXED}]}]
        }]
    });
    let zlib = json!({
        "id": "DLA-9999-1", "modified": modified, "summary": "zlib: old bug fixed long ago",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-1"}]}]}]
    });
    let npm = json!({
        "id": "GHSA-aaaa-bbbb-cccc", "modified": modified, "summary": "left-pad: nothing here uses it",
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}]}]
    });
    for (name, record) in [("DSA-5678-1.json", dsa), ("DLA-9999-1.json", zlib), ("GHSA-aaaa-bbbb-cccc.json", npm)] {
        std::fs::write(dir.join(name), serde_json::to_string_pretty(&record).unwrap()).unwrap();
    }
}

fn stack(f: &Fixture, image: &str) {
    f.write("compose.yaml", &format!("services:\n  app:\n    image: {image}\n  cache:\n    image: {image}\n"));
}

#[test]
fn a_vulnerable_version_fails_the_gate_and_the_bumped_one_passes() {
    let id = std::process::id();
    let (vulnerable, fixed) = (format!("tugtest-scan-{id}:vulnerable"), format!("tugtest-scan-{id}:fixed"));
    let _images = Images(vec![vulnerable.clone(), fixed.clone()]);
    image(&vulnerable, VULNERABLE);
    image(&fixed, FIXED);
    let f = Fixture::new();
    f.write("tugboat.yml", "stack: shop\n");
    stack(&f, &vulnerable);

    // No database yet: the scan says how to bring one in, and scans nothing.
    f.tug().args(["scan"]).run().failure(3).stderr_contains("tug scan db import");

    let today = time::OffsetDateTime::now_utc().date();
    records(&f.join("osv"), &format!("{today}T00:00:00Z"));
    let (event, _) = one_audit_event(|| f.tug(), "scan db import", &["scan", "db", "import", "osv"], &[], 0);
    assert_eq!(event["outcome"], "ok", "{event:#}");
    f.tug().args(["scan", "db", "status"]).run().success().stdout_contains("Debian:12");

    // The gate: critical (CVSS 9.8), fixable; the two services running the image are one target.
    let (event, _) = one_audit_event(|| f.tug(), "scan", &["scan", "--fail-on", "high"], &[], 1);
    assert_eq!(event["params"]["findings"]["critical"], 1, "{event:#}");
    let text = f.tug().args(["scan"]).run();
    text.success()
        .stdout_contains("DSA-5678-1")
        .stdout_contains(&format!("libssl3 {VULNERABLE} (source openssl)"))
        .stdout_contains(&format!("fixed in {FIXED}"))
        .stdout_contains("(app, cache)")
        .stdout_lacks("DLA-9999-1")
        .stdout_lacks("GHSA-");
    f.tug().args(["scan", "--fail-on", "critical"]).run().failure(1);

    // JSON and SARIF carry the same finding; SARIF as GitHub code scanning reads it.
    let json = f.tug().args(["scan", "--json"]).run().json();
    let finding = &json["images"][0]["findings"][0];
    assert_eq!((finding["id"].as_str(), finding["fixed"].as_str()), (Some("DSA-5678-1"), Some(FIXED)), "{json:#}");
    assert_eq!(finding["aliases"], json!(["CVE-2024-0727"]));
    let sarif = f.tug().args(["scan", "--format", "sarif"]).run().json();
    validate(&sarif);
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "DSA-5678-1");
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(location["artifactLocation"]["uri"].as_str().unwrap().ends_with("compose.yaml"), "{result:#}");
    assert_eq!(location["region"]["startLine"], 3, "the first service's image: line");
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["security-severity"], "9.8");

    // The SBOM: CycloneDX with purls, the deinstalled package left out.
    let sbom = f.tug().args(["scan", "--sbom"]).run().json();
    assert_eq!(sbom["bomFormat"], "CycloneDX", "{sbom:#}");
    let purls: Vec<&str> = sbom["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
    assert!(purls.iter().any(|p| p.starts_with("pkg:deb/debian/libssl3@")), "{purls:?}");
    assert!(!purls.iter().any(|p| p.contains("old-tool")), "{purls:?}");

    // Ignored for a reason until a date: not counted while it holds; counted again once it expired.
    let tomorrow = today.next_day().unwrap();
    let yesterday = today.previous_day().unwrap();
    f.write(
        "tugboat.yml",
        &format!("stack: shop\nscan:\n  ignore:\n    - {{ id: CVE-2024-0727, reason: \"PKCS12 is never parsed here\", until: {tomorrow} }}\n"),
    );
    f.tug().args(["scan", "--fail-on", "low"]).run().success().stdout_contains("PKCS12 is never parsed here");
    f.write(
        "tugboat.yml",
        &format!("stack: shop\nscan:\n  ignore:\n    - {{ id: CVE-2024-0727, reason: \"PKCS12 is never parsed here\", until: {yesterday} }}\n"),
    );
    f.tug().args(["scan", "--fail-on", "low"]).run().failure(1).stderr_contains("expired");

    // Bumped: the gate passes.
    stack(&f, &fixed);
    f.tug().args(["scan", "--fail-on", "low"]).run().success().stdout_contains("no known vulnerabilities");
    // --image scans a reference without the stack's services.
    f.tug().args(["scan", "--image", &vulnerable, "--fail-on", "high"]).run().failure(1);
    f.tug()
        .args(["scan", "--image", "tugtest-scan-absent:none"])
        .run()
        .failure(3)
        .stderr_contains("not on this engine");
}

#[test]
fn the_database_is_checked_old_ones_warn_or_fail_and_bad_imports_change_nothing() {
    let f = Fixture::new();
    f.write("tugboat.yml", "stack: shop\n");
    f.write("compose.yaml", "services:\n  app:\n    image: tugtest-scan-unused:1\n");
    records(&f.join("osv"), "2024-03-01T00:00:00Z");
    // A digest that does not match imports nothing.
    let wrong = "0".repeat(64);
    f.tug().args(["scan", "db", "import", "osv", "--sha256", &wrong]).run().failure(3);
    assert!(
        !f.exists(".tugboat/osv.db")
            || f.tug().args(["scan", "db", "status", "--json"]).run().stdout().contains("\"records\": 0"),
        "nothing imported"
    );
    // A broken record fails the import naming it, and nothing of the directory is imported.
    std::fs::write(f.join("osv/broken.json"), "{ not json").unwrap();
    f.tug().args(["scan", "db", "import", "osv"]).run().failure(3).stderr_contains("broken.json");
    std::fs::remove_file(f.join("osv/broken.json")).unwrap();
    f.tug().args(["scan", "db", "import", "osv"]).run().success();
    // Records from 2024: more than --max-db-age days old is an error before anything is scanned.
    f.tug().args(["scan", "--max-db-age", "30"]).run().failure(3).stderr_contains("days old");
    f.tug().args(["scan", "--dry-run"]).run().success().stdout_contains("tugtest-scan-unused:1");
}

/// `watch.schedule.scan`: at its cron time (on a clock started a few seconds before it) tug watch scans the
/// stack's images and alerts, naming the image and the advisory, while a high or critical finding is not ignored.
#[test]
fn a_scheduled_scan_alerts_on_a_serious_finding() {
    use chrono::TimeZone;
    let tag = format!("tugtest-scan-{}:scheduled", std::process::id());
    let _images = Images(vec![tag.clone()]);
    image(&tag, VULNERABLE);
    let f = Fixture::new();
    let hook = crate::watch::support::WebhookReceiver::start();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\nalerts:\n  - webhook: {{ url: \"{}\" }}\nwatch:\n  logs: {{ collect: false }}\n  \
             schedule: {{ scan: \"0 12 * * *\" }}\n",
            hook.url("/hook")
        ),
    );
    stack(&f, &tag);
    let today = time::OffsetDateTime::now_utc().date();
    records(&f.join("osv"), &format!("{today}T00:00:00Z"));
    f.tug().args(["scan", "db", "import", "osv"]).run().success();
    let before_noon = chrono::Local.with_ymd_and_hms(2026, 11, 26, 11, 59, 57).single().unwrap().to_rfc3339();
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_tug"))
        .env("TUGBOAT_WATCH_CLOCK_START", before_noon)
        .args(["watch", "--listen", "127.0.0.1:0", "--dir"])
        .arg(f.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(f.join("watch.log")).unwrap())
        .spawn()
        .unwrap();
    let alerts = hook.wait_for(1, std::time::Duration::from_secs(120));
    let _ = Command::new("kill").args(["-TERM", &watch.id().to_string()]).status();
    let _ = watch.wait();
    let alert: serde_json::Value = serde_json::from_str(&alerts[0].body).unwrap();
    assert_eq!(alert["check"], "schedule/scan", "{alert:#}");
    assert_eq!(alert["failed_sources"][0]["source"], tag.as_str(), "{alert:#}");
    assert!(alert["failed_sources"][0]["reason"].as_str().unwrap().contains("DSA-5678-1"), "{alert:#}");
}
