//! Deploys that move no traffic: a worker (no `port`: start new, health-gate, stop old), an image from a
//! registry over TLS (pulled with the user's credentials, pinned and journaled by digest; a wrong password or a
//! missing tag fails before blue is touched), and a database (refused, pointing at `tug migrate`).

use std::process::Command;

use crate::runtime::{push_image, Registry};
use crate::runtime_support::{derived_image, docker, inspect, test_image, Project};
use crate::util::{audit_events, failed_reason, Fixture};

/// A worker stack: `worker` on `image`, deployable, no proxy.
fn worker_stack(project: &Project, image: &str) -> Fixture {
    let f = Fixture::new();
    f.write("compose.yml", &format!("name: {}\nservices:\n  worker:\n    image: {image}\n", project.name));
    f.write("tugboat.yml", "deploy:\n  worker: { health: { timeout: 60s } }\n");
    f
}

fn running(project: &Project) -> Vec<String> {
    project.containers().into_iter().filter(|(_, s)| s == "running").map(|(n, _)| n).collect()
}

fn image_of(container: &str) -> String {
    inspect(container)["Config"]["Image"].as_str().unwrap_or_default().to_string()
}

fn variant(reference: &str, version: &str) {
    derived_image(reference, &[("TESTSERVER_VERSION", version)], &[]);
}

#[test]
fn a_worker_is_started_new_health_gated_and_the_old_one_stopped() {
    let p = Project::new();
    let v2 = format!("tugboat-test/worker:{}-v2", p.name);
    variant(&v2, "v2");
    let f = worker_stack(&p, test_image());
    f.tug().arg("up").run().success();
    let before = running(&p);
    let plan = f.tug().args(["deploy", "worker", "--image", &v2, "--dry-run"]).run();
    plan.success().stdout_contains("(worker)").stdout_lacks("switch:");
    f.tug().args(["deploy", "worker", "--image", &v2]).run().success().stdout_contains("deployed worker");
    let after = running(&p);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
    assert_eq!(image_of(&after[0]), v2);
    // The deployed image stands in for the file's: in sync, and `tug up` leaves it alone.
    f.tug().arg("status").run().success();
    let up = f.tug().args(["up", "--json"]).run();
    up.success();
    assert_eq!(up.json()["containers"][0]["action"], "keep", "{}", up.stdout());
    f.tug().arg("down").run().success();
    docker(&["rmi", "-f", &v2]);
}

#[test]
fn a_registry_image_is_pulled_pinned_by_digest_and_refusals_leave_blue_alone() {
    // As CI publishes: a registry over TLS (a test CA) with htpasswd.
    let registry = Registry::start_tls("ci", "deploy-s3cret");
    let config = registry.login("ci", "deploy-s3cret");
    let p = Project::new();
    let reference = format!("127.0.0.1:{}/{}/worker:2", registry.port, p.name);
    let v2 = format!("tugboat-test/worker:{}-v2", p.name);
    variant(&v2, "v2");
    push_image(&v2, &reference, config.path());
    let f = worker_stack(&p, test_image());
    f.tug().arg("up").run().success();
    let blue = running(&p);

    // A wrong password, then a tag the registry does not have: refused before anything else happens.
    let wrong = Registry::login_config(registry.port, "ci", "not-the-password");
    let run = f.tug().args(["deploy", "worker", "--image", &reference]).env("DOCKER_CONFIG", wrong.path()).run();
    run.failure(3).stderr_contains("cannot pull").stderr_contains("blue was not touched");
    let missing = reference.replace(":2", ":404");
    let run = f.tug().args(["deploy", "worker", "--image", &missing]).env("DOCKER_CONFIG", config.path()).run();
    run.failure(3).stderr_contains("not found");
    assert_eq!(running(&p), blue);
    assert_eq!(p.containers().len(), 1, "nothing was created: {:?}", p.containers());
    for event in audit_events(|| f.tug()).iter().rev().take(2) {
        assert!(failed_reason(event).contains("cannot pull"), "{event:#}");
    }

    // With the user's login: pulled, run by digest, the digest in the audit event.
    let run =
        f.tug().args(["deploy", "worker", "--image", &reference, "--json"]).env("DOCKER_CONFIG", config.path()).run();
    run.success();
    let digest = run.json()["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with(&format!("127.0.0.1:{}/{}/worker@sha256:", registry.port, p.name)), "{digest}");
    let green = running(&p);
    assert_eq!(image_of(&green[0]), digest);
    let last = audit_events(|| f.tug()).pop().unwrap();
    assert_eq!(last["params"]["digest"], digest.as_str(), "{last:#}");
    f.tug().arg("status").run().success();
    f.tug().arg("down").run().success();
    let _ = Command::new("docker").args(["rmi", "-f", &v2, &digest]).output();
}

#[test]
fn a_database_is_refused_with_a_pointer_to_migrate() {
    let f = Fixture::new();
    f.write("compose.yml", "services:\n  db:\n    image: mariadb:11.8\n");
    f.write("tugboat.yml", "deploy:\n  db: {}\n");
    let run = f.tug().args(["deploy", "db"]).run();
    run.failure(2).stderr_contains("mariadb database").stderr_contains("tug migrate");
    let run = f.tug().args(["deploy", "nope"]).run();
    run.failure(2).stderr_contains("deploy.nope");
}
