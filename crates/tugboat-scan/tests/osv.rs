//! The offline OSV database and matching (issue 19, parts 2 and 3), over records written for these tests
//! in the shapes of real advisories (tests/osv/*.json: DSA, DEBIAN-CVE, GHSA npm and PyPI, RUSTSEC,
//! Alpine, Ubuntu and Ubuntu Pro, a withdrawn record, one with `limit`).

// Helpers outside #[test] fns unwrap too (clippy's allow-unwrap-in-tests covers only the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tugboat_scan::osv::{evaluate, Affected, OsvDb, OsvError, Record, Severity};
use tugboat_scan::{Ecosystem, Scheme};

const NOW_MS: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/osv")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "fixtures missing: {files:?}");
    files
}

fn record(id: &str) -> Record {
    let text = std::fs::read_to_string(fixtures().join(format!("{id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A flat, deflate-compressed zip of `<ID>.json` entries, as OSV serves `all.zip`.
fn write_zip(path: &Path, files: &[PathBuf]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for f in files {
        zip.start_file(f.file_name().unwrap().to_str().unwrap(), options).unwrap();
        zip.write_all(&std::fs::read(f).unwrap()).unwrap();
    }
    zip.finish().unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn debian() -> Ecosystem {
    Ecosystem::Debian("12".into())
}

fn ids(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------- import

#[test]
fn import_zip_then_look_up_each_ecosystem() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("all.zip");
    write_zip(&zip_path, &fixture_files());
    // The archive really is deflate-compressed (what OSV serves), not stored.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(archive.by_index(0).unwrap().compression(), zip::CompressionMethod::Deflated);

    let digest = sha256_hex(&std::fs::read(&zip_path).unwrap());
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let summary = db.import(&zip_path, Some(&digest.to_uppercase()), NOW_MS).unwrap();
    assert_eq!(summary.sha256, digest);
    assert_eq!((summary.records, summary.inserted, summary.replaced, summary.unchanged), (11, 11, 0, 0));
    assert_eq!(summary.withdrawn, 1);
    assert_eq!(summary.newest_modified.as_deref(), Some("2024-07-02T09:00:00Z"));
    assert!(summary.ecosystems.contains(&"Ubuntu:Pro:22.04:LTS".to_string()), "{:?}", summary.ecosystems);

    assert_eq!(ids(&db.advisories(&debian(), "openssl").unwrap()), ["DEBIAN-CVE-2024-2511", "DSA-5532-1"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::Debian("11".into()), "openssl").unwrap()), Vec::<&str>::new());
    // The withdrawn duplicate is stored but not offered.
    assert_eq!(ids(&db.advisories(&Ecosystem::Npm, "elliptic").unwrap()), ["GHSA-r9p9-mrjm-926w"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::Npm, "semver").unwrap()), ["GHSA-c2qf-rxjj-qqgw"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::CratesIo, "time").unwrap()), ["RUSTSEC-2020-0071"]);
    // PyPI names compare as PEP 503 normalizes them.
    assert_eq!(ids(&db.advisories(&Ecosystem::PyPI, "jinja2").unwrap()), ["GHSA-h5c8-rqwp-cp95"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::Alpine("v3.19".into()), "openssl").unwrap()), ["ALPINE-CVE-2023-5678"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::Alpine("v3.20".into()), "openssl").unwrap()), Vec::<&str>::new());
    // Ubuntu 22.04: the standard and the Pro (ESM) records both apply to the release.
    let ubuntu = Ecosystem::Ubuntu("22.04:LTS".into());
    assert_eq!(ids(&db.advisories(&ubuntu, "openssh").unwrap()), ["UBUNTU-CVE-2023-48795", "UBUNTU-CVE-2024-6387"]);
    assert_eq!(ids(&db.advisories(&Ecosystem::Ubuntu("24.04:LTS".into()), "openssh").unwrap()), Vec::<&str>::new());

    let status = db.status().unwrap();
    assert_eq!((status.records, status.withdrawn), (11, 1));
    let count = |eco: &str| status.ecosystems.iter().find(|e| e.ecosystem == eco).map(|e| e.records);
    assert_eq!(count("Debian:12"), Some(2));
    assert_eq!(count("npm"), Some(3));
    assert_eq!(count("Alpine:v3.18"), Some(1));
    assert_eq!(count("Ubuntu:Pro:22.04:LTS"), Some(1));
    let last = status.last_import.clone().unwrap();
    assert_eq!((last.sha256.as_str(), last.imported_at, last.records), (digest.as_str(), NOW_MS, 11));
    assert_eq!(last.source, zip_path.display().to_string());
    assert_eq!(status.newest_modified.as_deref(), Some("2024-07-02T09:00:00Z"));
    // Age: now − the newest record's `modified` (2024-07-02T09:00:00Z), not − the import time.
    assert_eq!(status.age_ms(NOW_MS), Some(NOW_MS - 1_719_910_800_000));

    // The database is a file: a second handle sees the same.
    drop(db);
    let again = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    assert_eq!(again.status().unwrap(), status);
}

#[test]
fn import_directory_recursively_with_its_documented_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("records");
    std::fs::create_dir_all(src.join("npm")).unwrap();
    std::fs::create_dir_all(src.join("debian")).unwrap();
    std::fs::copy(fixtures().join("DSA-5532-1.json"), src.join("debian/DSA-5532-1.json")).unwrap();
    std::fs::copy(fixtures().join("GHSA-r9p9-mrjm-926w.json"), src.join("npm/GHSA-r9p9-mrjm-926w.json")).unwrap();
    std::fs::write(src.join("README.md"), "not a record, skipped").unwrap();

    // The digest of a directory: its *.json files' bytes in the byte order of their relative paths.
    let mut bytes = std::fs::read(src.join("debian/DSA-5532-1.json")).unwrap();
    bytes.extend(std::fs::read(src.join("npm/GHSA-r9p9-mrjm-926w.json")).unwrap());
    let digest = sha256_hex(&bytes);

    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let summary = db.import(&src, Some(&digest), NOW_MS).unwrap();
    assert_eq!((summary.records, summary.inserted), (2, 2));
    assert_eq!(summary.ecosystems, ["Debian:12", "npm"]);
    assert_eq!(ids(&db.advisories(&debian(), "openssl").unwrap()), ["DSA-5532-1"]);
}

#[test]
fn sha256_mismatch_imports_nothing_and_says_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("all.zip");
    write_zip(&zip_path, &fixture_files());
    let actual = sha256_hex(&std::fs::read(&zip_path).unwrap());
    let wrong = "0".repeat(64);
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let err = db.import(&zip_path, Some(&wrong), NOW_MS).unwrap_err();
    assert!(matches!(err, OsvError::Sha256Mismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&wrong) && msg.contains(&actual) && msg.contains("all.zip"), "{msg}");
    let status = db.status().unwrap();
    assert_eq!((status.records, status.last_import), (0, None));
}

#[test]
fn a_broken_record_imports_nothing_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let cases: [(&str, &str, &str); 3] = [
        ("ZZZ-broken.json", "{\"id\": \"ZZZ-1\", \"modified\": ", "not an OSV record"),
        ("ZZZ-no-id.json", r#"{"modified": "2024-01-01T00:00:00Z", "affected": []}"#, "missing field `id`"),
        ("ZZZ-bad-time.json", r#"{"id": "ZZZ-3", "modified": "last tuesday"}"#, "`modified`"),
    ];
    for (name, text, why) in cases {
        // A zip whose good records come first: they must not survive the bad one.
        let zip_path = tmp.path().join(format!("{name}.zip"));
        let bad = tmp.path().join(name);
        std::fs::write(&bad, text).unwrap();
        let mut files = fixture_files();
        files.push(bad.clone());
        write_zip(&zip_path, &files);
        let err = db.import(&zip_path, None, NOW_MS).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, OsvError::Record { .. }), "{err:?}");
        assert!(msg.contains(name) && msg.contains(why) && msg.contains(&zip_path.display().to_string()), "{msg}");

        // The same in a directory.
        let dir = tmp.path().join(format!("{name}.d"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixtures().join("DSA-5532-1.json"), dir.join("DSA-5532-1.json")).unwrap();
        std::fs::copy(&bad, dir.join(name)).unwrap();
        let msg = db.import(&dir, None, NOW_MS).unwrap_err().to_string();
        assert!(msg.contains(name) && msg.contains(why), "{msg}");

        let status = db.status().unwrap();
        assert_eq!((status.records, status.last_import), (0, None), "{name}");
    }
}

#[test]
fn reimport_keeps_the_newer_modified() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let write = |dir: &str, modified: &str, fixed: &str| -> PathBuf {
        let d = tmp.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let mut r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join("DSA-5532-1.json")).unwrap()).unwrap();
        r["modified"] = modified.into();
        r["affected"][0]["ranges"][0]["events"][1]["fixed"] = fixed.into();
        std::fs::write(d.join("DSA-5532-1.json"), serde_json::to_vec(&r).unwrap()).unwrap();
        d
    };
    let fixed_held = |db: &OsvDb| -> String {
        let rs = db.advisories(&debian(), "openssl").unwrap();
        rs[0].affected[0].ranges[0].events[1].fixed.clone().unwrap()
    };

    let newer = write("newer", "2023-10-25T08:12:31.5Z", "3.0.11-1~deb12u2");
    let s = db.import(&newer, None, NOW_MS).unwrap();
    assert_eq!(s.inserted, 1);
    // Older by half a second: as strings "…31Z" sorts after "…31.5Z", as times it is earlier.
    let older = write("older", "2023-10-25T08:12:31Z", "3.0.11-1~deb12u1");
    let s = db.import(&older, None, NOW_MS + 1).unwrap();
    assert_eq!((s.inserted, s.replaced, s.unchanged), (0, 0, 1));
    assert_eq!(fixed_held(&db), "3.0.11-1~deb12u2");
    // The same `modified` again is not newer either.
    assert_eq!(db.import(&newer, None, NOW_MS + 2).unwrap().unchanged, 1);
    let newest = write("newest", "2024-01-01T00:00:00+01:00", "3.0.11-1~deb12u3");
    let s = db.import(&newest, None, NOW_MS + 3).unwrap();
    assert_eq!((s.inserted, s.replaced, s.unchanged), (0, 1, 0));
    assert_eq!(fixed_held(&db), "3.0.11-1~deb12u3");

    let status = db.status().unwrap();
    assert_eq!(status.records, 1);
    assert_eq!(status.ecosystems.len(), 1);
    assert_eq!(status.ecosystems[0].records, 1);
    assert_eq!(status.last_import.unwrap().imported_at, NOW_MS + 3);
    assert_eq!(status.newest_modified.as_deref(), Some("2024-01-01T00:00:00+01:00"));
}

#[test]
fn a_withdrawn_record_is_kept_so_an_older_copy_cannot_return() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let dir = tmp.path().join("w");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures().join("GHSA-9999-wwww-0001.json"), dir.join("a.json")).unwrap();
    db.import(&dir, None, NOW_MS).unwrap();
    // An earlier, not yet withdrawn copy of the same advisory.
    let mut r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("a.json")).unwrap()).unwrap();
    r.as_object_mut().unwrap().remove("withdrawn");
    r["modified"] = "2022-01-20T00:00:00Z".into();
    std::fs::write(dir.join("a.json"), serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(db.import(&dir, None, NOW_MS).unwrap().unchanged, 1);
    assert_eq!(ids(&db.advisories(&Ecosystem::Npm, "elliptic").unwrap()), Vec::<&str>::new());
    assert_eq!(db.status().unwrap().withdrawn, 1);
}

#[test]
fn not_a_source_and_not_a_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = OsvDb::open(&tmp.path().join("osv.db")).unwrap();
    let missing = tmp.path().join("nope.zip");
    assert!(db.import(&missing, None, NOW_MS).unwrap_err().to_string().contains("nope.zip"));
    let text = tmp.path().join("all.zip");
    std::fs::write(&text, "this is not a zip").unwrap();
    let err = db.import(&text, None, NOW_MS).unwrap_err();
    assert!(matches!(err, OsvError::Zip { .. }) && err.to_string().contains("all.zip"), "{err}");
}

// -------------------------------------------------------------------------------------------- matching

fn hit(id: &str, eco: &Ecosystem, name: &str, version: &str) -> Option<Affected> {
    evaluate(&record(id), eco, name, version)
}

#[test]
fn debian_dpkg_order_introduced_zero_and_fixed_is_not_affected() {
    let a = hit("DSA-5532-1", &debian(), "openssl", "3.0.11-1~deb12u1").unwrap();
    assert_eq!(a.id, "DSA-5532-1");
    assert_eq!(a.aliases, ["CVE-2023-5363"]);
    assert_eq!(a.fixed.as_deref(), Some("3.0.11-1~deb12u2"));
    // Debian records carry no CVSS and this one no label.
    assert_eq!((a.severity, a.cvss), (Severity::Unknown, None));
    // introduced "0" sorts before every version, even an epoch-less tilde one.
    assert!(hit("DSA-5532-1", &debian(), "openssl", "0~1").is_some());
    // version == fixed is not affected; ~ sorts before the empty string in dpkg.
    assert!(hit("DSA-5532-1", &debian(), "openssl", "3.0.11-1~deb12u2").is_none());
    assert!(hit("DSA-5532-1", &debian(), "openssl", "3.0.11-1").is_none());
    assert!(hit("DSA-5532-1", &debian(), "openssl", "3.0.13-1~deb12u1").is_none());
    // Another release, another package: no.
    assert!(hit("DSA-5532-1", &Ecosystem::Debian("11".into()), "openssl", "1.1.1n-0+deb11u4").is_none());
    assert!(hit("DSA-5532-1", &debian(), "libssl3", "3.0.11-1~deb12u1").is_none());
    // The label fallback when the record has one.
    let low = hit("DEBIAN-CVE-2024-2511", &debian(), "openssl", "3.0.11-1~deb12u2").unwrap();
    assert_eq!((low.severity, low.fixed.as_deref()), (Severity::Low, Some("3.0.14-1~deb12u1")));
}

#[test]
fn npm_ghsa_with_a_cvss_vector() {
    let a = hit("GHSA-r9p9-mrjm-926w", &Ecosystem::Npm, "elliptic", "6.5.3").unwrap();
    assert_eq!(a.cvss, Some(("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N".to_string(), 6.8)));
    // The vector wins over the database's label (also MODERATE here).
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.summary.as_deref(), Some("elliptic: secp256k1 ECDH accepts points off the curve"));
    assert!(hit("GHSA-r9p9-mrjm-926w", &Ecosystem::Npm, "elliptic", "6.5.4").is_none());
    assert!(hit("GHSA-r9p9-mrjm-926w", &Ecosystem::Npm, "elliptic", "6.6.0").is_none());
    // Semver: a pre-release of the fix is still before it.
    assert!(hit("GHSA-r9p9-mrjm-926w", &Ecosystem::Npm, "elliptic", "6.5.4-beta.1").is_some());
}

#[test]
fn multiple_ranges_and_the_lowest_fix_above() {
    let eco = Ecosystem::Npm;
    let fixed = |v: &str| hit("GHSA-c2qf-rxjj-qqgw", &eco, "semver", v).map(|a| a.fixed);
    assert_eq!(fixed("5.7.1"), Some(Some("5.7.2".into())));
    assert_eq!(fixed("5.7.2"), None);
    assert_eq!(fixed("6.0.0"), Some(Some("6.3.1".into())));
    assert_eq!(fixed("6.3.0"), Some(Some("6.3.1".into())));
    assert_eq!(fixed("6.3.1"), None);
    assert_eq!(fixed("7.5.1"), Some(Some("7.5.2".into())));
    assert_eq!(fixed("7.5.2"), None);
    // Events written out of order ("fixed" first) are sorted before the walk.
    assert_eq!(fixed("1.0.0"), Some(Some("5.7.2".into())));
    let a = hit("GHSA-c2qf-rxjj-qqgw", &eco, "semver", "7.0.0").unwrap();
    assert_eq!((a.severity, a.cvss.map(|c| c.1)), (Severity::High, Some(7.5)));
}

#[test]
fn rustsec_semver_last_affected_is_inclusive() {
    let eco = Ecosystem::CratesIo;
    let at = |v: &str| hit("RUSTSEC-2020-0071", &eco, "time", v);
    assert!(at("0.1.0").is_some());
    assert!(at("0.1.43").is_some(), "last_affected is itself affected");
    assert!(at("0.1.44").is_none());
    assert!(at("0.2.6").is_none());
    assert!(at("0.2.7").is_some());
    let a = at("0.2.22").unwrap();
    assert_eq!(a.fixed.as_deref(), Some("0.2.23"));
    assert_eq!((a.severity, a.cvss.map(|c| c.1)), (Severity::Medium, Some(5.1)));
    assert!(at("0.2.23").is_none());
    assert!(at("0.3.36").is_none());
    // No fix above a 0.1 version: the 0.1 line ends at last_affected, and 0.2.23 is the next fixed event.
    assert_eq!(at("0.1.43").unwrap().fixed.as_deref(), Some("0.2.23"));
}

#[test]
fn limit_bounds_a_range_and_git_ranges_are_ignored() {
    let eco = Ecosystem::CratesIo;
    let at = |v: &str| hit("OSV-2024-1001", &eco, "lzstring", v);
    assert!(at("0.9.0").is_none());
    assert!(at("1.0.0").is_some());
    assert!(at("1.4.9").is_some());
    assert!(at("1.5.0").is_none(), "limit is exclusive");
    assert!(at("2.0.0").is_none(), "past the limit, although no fixed event ends the range");
    assert!(at("3.0.0").is_some(), "limit \"*\" is infinity");
    assert!(at("9.9.9").is_some());
    // No fixed event in the ECOSYSTEM ranges; the GIT range's commit is not a version.
    let a = at("1.2.0").unwrap();
    assert_eq!((a.fixed, a.severity), (None, Severity::High));
    // The GIT range alone (introduced "0") must not make every version match.
    let mut git_only = record("OSV-2024-1001");
    git_only.affected[0].ranges.retain(|r| r.kind == "GIT");
    assert!(evaluate(&git_only, &eco, "lzstring", "0.1.0").is_none());
}

#[test]
fn pypi_versions_list_and_unparseable_versions() {
    let eco = Ecosystem::PyPI;
    // The premise: this is not a PEP 440 version.
    assert!(!tugboat_scan::version::is_valid(Scheme::Pep440, "2.11.3-distro"));
    assert!(!tugboat_scan::version::is_valid(Scheme::Pep440, "2.11.4-distro"));
    let at = |v: &str| hit("GHSA-h5c8-rqwp-cp95", &eco, "jinja2", v);
    // Listed in versions[]: a match whatever the ranges can say.
    let a = at("2.11.3-distro").unwrap();
    assert_eq!(a.fixed, None, "no fix can be placed above a version that does not parse");
    assert_eq!((a.severity, a.cvss.map(|c| c.1)), (Severity::Medium, Some(5.4)));
    // Unparseable and not listed: the range (introduced "0") would take everything, it must not.
    assert!(at("2.11.4-distro").is_none());
    // Not in versions[], in the range: a match through the range.
    assert_eq!(at("3.0.0").unwrap().fixed.as_deref(), Some("3.1.3"));
    assert!(at("3.1.2").is_some());
    assert!(at("3.1.3").is_none());
    // PEP 503 names: the record writes Jinja2.
    assert!(hit("GHSA-h5c8-rqwp-cp95", &eco, "JINJA2", "3.1.2").is_some());
}

#[test]
fn alpine_apk_order_and_branch() {
    let eco = Ecosystem::Alpine("v3.19".into());
    let at = |eco: &Ecosystem, v: &str| hit("ALPINE-CVE-2023-5678", eco, "openssl", v);
    assert_eq!(at(&eco, "3.1.4-r0").unwrap().fixed.as_deref(), Some("3.1.4-r1"));
    assert!(at(&eco, "3.1.3-r2").is_some());
    assert!(at(&eco, "3.1.4-r1").is_none());
    assert!(at(&eco, "3.1.4-r10").is_none());
    assert!(at(&eco, "3.1.5-r0").is_none());
    assert!(at(&Ecosystem::Alpine("v3.20".into()), "3.1.4-r0").is_none());
    assert_eq!(at(&eco, "3.1.4-r0").unwrap().severity, Severity::Unknown);
}

#[test]
fn ubuntu_release_and_pro_and_labels() {
    let eco = Ecosystem::Ubuntu("22.04:LTS".into());
    let a = hit("UBUNTU-CVE-2024-6387", &eco, "openssh", "1:8.9p1-3ubuntu0.7").unwrap();
    assert_eq!((a.severity, a.fixed.as_deref()), (Severity::High, Some("1:8.9p1-3ubuntu0.10")));
    // 0.10 > 0.7 in dpkg order (numbers, not strings).
    assert!(hit("UBUNTU-CVE-2024-6387", &eco, "openssh", "1:8.9p1-3ubuntu0.10").is_none());
    // Without the epoch the installed version is lower than every event (epoch 0 < 1).
    assert!(hit("UBUNTU-CVE-2024-6387", &eco, "openssh", "8.9p1-3ubuntu0.7").is_none());
    // A Pro record applies to the release; CVSS v4 only: the ecosystem's label gives the severity.
    let pro = hit("UBUNTU-CVE-2023-48795", &eco, "openssh", "1:8.9p1-3ubuntu0.6").unwrap();
    assert_eq!(
        (pro.severity, pro.cvss, pro.fixed.as_deref()),
        (Severity::Medium, None, Some("1:8.9p1-3ubuntu0.6+esm1"))
    );
    assert!(hit("UBUNTU-CVE-2023-48795", &eco, "openssh", "1:8.9p1-3ubuntu0.6+esm1").is_none());
    assert!(hit("UBUNTU-CVE-2023-48795", &Ecosystem::Ubuntu("20.04:LTS".into()), "openssh", "1:8.2p1-4").is_none());
}

#[test]
fn withdrawn_never_matches() {
    let r = record("GHSA-9999-wwww-0001");
    assert!(r.withdrawn.is_some());
    assert!(evaluate(&r, &Ecosystem::Npm, "elliptic", "6.5.3").is_none());
    // The same record without `withdrawn` would match every version: the test can fail.
    let mut live = r.clone();
    live.withdrawn = None;
    assert_eq!(evaluate(&live, &Ecosystem::Npm, "elliptic", "6.5.3").map(|a| a.severity), Some(Severity::Critical));
}

#[test]
fn unparseable_event_versions_make_a_range_say_nothing() {
    let r: Record = serde_json::from_str(
        r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"v1.x"}]}]}]}"#,
    )
    .unwrap();
    assert!(evaluate(&r, &Ecosystem::Npm, "a", "0.5.0").is_none());
    assert!(evaluate(&r, &Ecosystem::Npm, "a", "2.0.0").is_none());
}
