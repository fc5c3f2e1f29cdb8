//! `tug check --format sarif` is valid SARIF 2.1.0 (the OASIS schema, draft-04) and every result has a
//! relative location GitHub code scanning can show.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::formats::snap_stack;
use crate::util::{Fixture, SCHEMAS};

const NEED_JSONSCHEMA: &str = "install the Python package jsonschema (pip install jsonschema) — scripts/test does this";

/// Validates `doc` against the SARIF schema with Python's jsonschema; fails the test when it is missing.
pub fn validate(doc: &Value) {
    let has_jsonschema = Command::new("python3").args(["-c", "import jsonschema"]).status().is_ok_and(|s| s.success());
    assert!(has_jsonschema, "{NEED_JSONSCHEMA}");
    let dir = crate::util::tempdir();
    let file = dir.path().join("report.sarif");
    std::fs::write(&file, serde_json::to_string_pretty(doc).expect("JSON")).expect("write SARIF");
    let schema = Path::new(SCHEMAS).join("sarif-schema-2.1.0.json");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,jsonschema,sys; jsonschema.Draft4Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))",
        ])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "SARIF does not validate against {}:\n{}\n{doc:#}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sarif(f: &Fixture) -> Value {
    f.tug().args(["check", ".", "--format", "sarif"]).run().json()
}

#[track_caller]
pub fn assert_locations(doc: &Value) -> usize {
    let results = doc["runs"][0]["results"].as_array().expect("results");
    for r in results {
        let locations = r["locations"].as_array().expect("locations");
        assert!(!locations.is_empty(), "{r:#}");
        for l in locations {
            let uri = l["physicalLocation"]["artifactLocation"]["uri"].as_str().expect("uri");
            assert!(!uri.is_empty() && !uri.starts_with('/') && !uri.contains('\\') && !uri.starts_with("./"), "{uri}");
            assert_eq!(l["physicalLocation"]["artifactLocation"]["uriBaseId"], "%SRCROOT%");
            assert!(l["physicalLocation"]["region"]["startLine"].as_u64().is_some_and(|n| n >= 1), "{r:#}");
            assert!(l["physicalLocation"]["region"]["startColumn"].as_u64().is_some_and(|n| n >= 1), "{r:#}");
        }
        // ruleIndex points at the rule with that id.
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(doc["runs"][0]["tool"]["driver"]["rules"][index]["id"], r["ruleId"]);
    }
    results.len()
}

#[test]
fn sarif_validates_against_the_schema() {
    let doc = sarif(&snap_stack());
    validate(&doc);
    assert_eq!(assert_locations(&doc), 4);
    assert_eq!(doc["runs"][0]["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(25));
    // The exemption is an external suppression with its reason.
    let suppressed: Vec<&Value> = doc["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["suppressions"][0]["justification"], "the vendor image only runs as root");
}

#[test]
fn sarif_of_a_clean_example_validates() {
    let f = Fixture::example("dms");
    let doc = sarif(&f);
    validate(&doc);
    assert_locations(&doc);
}

#[test]
fn sarif_stack_wide_findings_still_have_a_location() {
    // TB019 without any template has no location of its own; SARIF falls back to the first file.
    let f = Fixture::new();
    f.write(
        "docker-compose.yml",
        "services:\n  app:\n    image: example.org/app:${TAG}\n    user: \"1000:1000\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    healthcheck: {test: [\"CMD\", \"/h\"]}\n    restart: always\n    deploy: {resources: {limits: {memory: 64m, cpus: \"0.1\", pids: 64}}}\n    logging: {driver: local}\n",
    );
    let doc = f.tug().args(["check", ".", "--format", "sarif"]).env("TAG", "1.0.0").run().json();
    validate(&doc);
    assert_eq!(assert_locations(&doc), 1);
    assert_eq!(doc["runs"][0]["results"][0]["ruleId"], "TB019");
    assert_eq!(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "docker-compose.yml"
    );
}

#[test]
fn sarif_from_another_directory_has_relative_uris() {
    let f = snap_stack();
    let parent = f.path().parent().expect("parent").to_path_buf();
    let name = f.path().file_name().expect("name").to_string_lossy().into_owned();
    let doc = crate::util::Tug::new().current_dir(&parent).args(["check", &name, "--format", "sarif"]).run().json();
    validate(&doc);
    assert_locations(&doc);
    let uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(uri.starts_with(&format!("{name}/")), "{uri}");
}
