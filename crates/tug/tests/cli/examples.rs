//! Every stack under `examples/` loads, resolves and passes its own checks.

use crate::util::{example_names, Fixture};

#[test]
fn every_example_passes_check_at_fail_on_high() {
    for name in example_names() {
        let f = Fixture::example(&name);
        f.tug().args(["check", ".", "--fail-on", "high"]).run().success();
    }
}

#[test]
fn every_example_passes_check_at_the_default_threshold() {
    for name in example_names() {
        let f = Fixture::example(&name);
        let run = f.tug().args(["check", "."]).run();
        run.success().stdout_contains("ok: no findings at or above low");
        let json = f.tug().args(["check", ".", "--format", "json"]).run();
        let doc = json.success().json();
        assert_eq!(doc["summary"]["failed"], false, "{name}: {doc:#}");
        // Exemptions are the only findings an example may have, and each carries its reason.
        for finding in doc["findings"].as_array().expect("findings") {
            assert!(finding["exempted"].as_str().is_some_and(|r| !r.is_empty()), "{name}: {finding:#}");
        }
    }
}

#[test]
fn every_example_resolves_with_tug_config() {
    for name in example_names() {
        let f = Fixture::example(&name);
        let yaml = f.tug().args(["config", "."]).run();
        yaml.success().stdout_contains("services:");
        let json = f.tug().args(["config", ".", "--format", "json"]).run();
        let doc = json.success().json();
        assert!(doc["services"].as_object().is_some_and(|s| !s.is_empty()), "{name}: {doc:#}");
    }
}

#[test]
fn every_example_environment_passes_check() {
    for name in example_names() {
        let f = Fixture::example(&name);
        let config = f.read("tugboat.yml");
        // Environment names are the keys under `environments:` (one flow mapping per line in the examples).
        let envs: Vec<String> = config
            .split("environments:")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .skip(1)
                    .take_while(|l| l.starts_with("  "))
                    .filter_map(|l| l.trim().split(':').next().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for env in envs {
            f.tug().args(["check", ".", "--env", &env]).run().success();
            f.tug().args(["config", ".", "--env", &env]).run().success();
        }
    }
}

#[test]
fn dms_staging_checks_clean_and_says_so() {
    let f = Fixture::example("dms");
    f.tug().args(["check", ".", "--env", "staging"]).run().success().stdout_contains(
        "dms --env staging: 10 services in tugboat.yml, docker-compose.yml, docker-compose.staging.yml",
    );
    let doc = f.tug().args(["check", ".", "--env", "staging", "--json"]).run().json();
    assert_eq!(doc["environment"], "staging");
}

#[test]
fn dms_staging_resolves_the_override_images() {
    let f = Fixture::example("dms");
    let doc = f.tug().args(["config", ".", "--env", "staging", "--format", "json"]).run().json();
    assert_eq!(doc["services"]["backend"]["image"], "registry.np-dms.work/lcbp3/backend:1.9.0-rc.1");
    assert_eq!(doc["services"]["backend"]["deploy"]["resources"]["limits"]["memory"], "1g");
    // Hardening is inherited from the base file.
    assert_eq!(doc["services"]["backend"]["read_only"], true);
}

#[test]
fn examples_run_from_outside_their_directory() {
    // DIR given as a path, not the working directory: locations are shown relative to where tug runs.
    let f = Fixture::example("docsearch");
    let parent = f.path().parent().expect("parent").to_path_buf();
    let dir = f.path().file_name().expect("name").to_string_lossy().into_owned();
    crate::util::Tug::new().current_dir(&parent).args(["check", &dir]).run().success();
}

#[test]
fn list_rules_lists_25_rules() {
    let f = Fixture::new();
    let run = f.tug().args(["check", "--list-rules"]).run();
    run.success();
    let ids: Vec<String> = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("TB"))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<String> = (1..=25).map(|n| format!("TB{n:03}")).collect();
    assert_eq!(ids, expected);
    let json = f.tug().args(["check", "--list-rules", "--json"]).run().json();
    assert_eq!(json.as_array().map(Vec::len), Some(25));
    for rule in json.as_array().into_iter().flatten() {
        for key in ["id", "name", "severity", "rationale", "fix"] {
            assert!(rule[key].as_str().is_some_and(|s| !s.is_empty()), "{rule:#}");
        }
    }
}

/// Seed 000's consolidation and seed 003's cutover are valid plans against their stacks, and what they
/// gate on is what the seeds' safety rules say.
#[test]
fn the_example_plans_validate() {
    for (example, plan, steps) in [("dms", "consolidate", 18), ("state-hub", "cutover", 11)] {
        let f = Fixture::example(example);
        f.tug().args(["plan", "show"]).run().success().stdout_contains(plan);
        let show = f.tug().args(["plan", "show", plan, "--json"]).run();
        let doc = show.success().json();
        let list = doc["steps"].as_array().unwrap();
        assert_eq!(list.len(), steps, "{example}/{plan}");
        assert!(!doc["rollback"].as_array().unwrap().is_empty(), "{example}/{plan} has a rollback");
        assert!(doc["run"].is_null(), "showing a plan starts no run");
        let gates: Vec<&str> =
            list.iter().flat_map(|s| s["gates"].as_array().unwrap()).map(|g| g["gate"].as_str().unwrap()).collect();
        for gate in ["parity_equal", "approved_by", "smoke_passed_within"] {
            assert!(gates.contains(&gate), "{example}/{plan} gates on {gate}");
        }
        assert!(!f.path().join(".tugboat").exists(), "showing a plan writes no state");
    }
    let f = Fixture::example("state-hub");
    let doc = f.tug().args(["plan", "show", "cutover", "--json"]).run().json();
    let deploy = doc["steps"].as_array().unwrap().iter().find(|s| s["name"] == "deploy-empty").unwrap();
    assert_eq!(deploy["gates"][0]["gate"], "drill_passed_within", "T01: a drill before anything moves");
}
