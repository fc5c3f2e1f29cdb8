//! `tug check` on Kubernetes manifests: a base and an overlay (a kustomization with a `namePrefix` and a
//! patch that makes the container privileged), in every format, with `--fail-on`, and without kubectl.

use insta::{assert_json_snapshot, assert_snapshot};
use serde_json::Value;

use crate::sarif::{assert_locations, validate};
use crate::util::Fixture;

const NEED_KUBECTL: &str =
    "these tests build kustomizations: install kubectl (Debian: apt-get install kubernetes-client)";

const BASE_APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    tugboat.io/exempt.TB010: \"the node's CPU is shared fairly by its quota\"
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: example.org/web:latest
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          resources:
            limits: {memory: 256Mi}
          readinessProbe:
            httpGet: {path: /health, port: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  type: NodePort
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
";

const PRIVILEGED_PATCH: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: web
          securityContext:
            allowPrivilegeEscalation: true
            privileged: true
";

/// `base/` (a Deployment and a NodePort Service) and `overlay/` (`namePrefix: prod-`, the privileged patch).
fn overlay_tree() -> Fixture {
    need_kubectl();
    let f = Fixture::new();
    f.write("base/app.yaml", BASE_APP)
        .write("base/kustomization.yaml", "resources:\n  - app.yaml\n")
        .write(
            "overlay/kustomization.yaml",
            "namePrefix: prod-\nresources:\n  - ../base\npatches:\n  - path: privileged.yaml\n",
        )
        .write("overlay/privileged.yaml", PRIVILEGED_PATCH);
    f
}

fn need_kubectl() {
    let ok =
        std::process::Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{NEED_KUBECTL}");
}

/// The 1-based line of the one line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    let found: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect();
    assert_eq!(found.len(), 1, "{needle:?} is on lines {found:?}");
    found[0] as u64
}

#[test]
fn an_overlay_in_sarif_points_at_the_patch_and_the_base() {
    let f = overlay_tree();
    let run = f.tug().args(["check", "overlay", "--format", "sarif"]).run();
    run.failure(1);
    let doc = run.json();
    validate(&doc);
    assert_locations(&doc);
    let mut got: Vec<(String, String, u64, bool)> = doc["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let at = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap_or_default().to_string(),
                at["artifactLocation"]["uri"].as_str().unwrap_or_default().to_string(),
                at["region"]["startLine"].as_u64().unwrap_or_default(),
                r.get("suppressions").is_some(),
            )
        })
        .collect();
    got.sort();
    let at = |rule: &str, file: &str, text: &str, needle: &str, suppressed: bool| {
        (rule.to_string(), file.to_string(), line_of(text, needle), suppressed)
    };
    let mut want = vec![
        // What the patch sets points at the patch, the rest at the base, whatever the prefix made the names.
        at("TB005", "overlay/privileged.yaml", PRIVILEGED_PATCH, "allowPrivilegeEscalation", false),
        at("TB006", "overlay/privileged.yaml", PRIVILEGED_PATCH, "privileged: true", false),
        at("TB010", "base/app.yaml", BASE_APP, "limits:", true),
        at("TB012", "base/app.yaml", BASE_APP, "image:", false),
        at("TB016", "base/app.yaml", BASE_APP, "type: NodePort", false),
    ];
    want.sort();
    assert_eq!(got, want, "{doc:#}");
    let privileged =
        doc["runs"][0]["results"].as_array().into_iter().flatten().find(|r| r["ruleId"] == "TB006").expect("TB006");
    let message = privileged["message"]["text"].as_str().unwrap();
    assert!(
        message.starts_with("`Deployment/prod-api/web` runs privileged (`securityContext.privileged: true`) (fix: "),
        "the Kubernetes fix, not the compose one: {message}"
    );
    assert!(!message.contains("compose"), "{message}");
    assert_eq!(doc["runs"][0]["automationDetails"]["id"], "tug-check/overlay/");
}

#[test]
fn fail_on_high_gates_on_the_privileged_patch() {
    let f = overlay_tree();
    f.tug()
        .args(["check", "overlay", "--fail-on", "high"])
        .run()
        .failure(1)
        .stdout_contains("fail: 1 finding at or above high");
    // The base alone has medium findings only.
    f.tug()
        .args(["check", "base", "--fail-on", "high"])
        .run()
        .success()
        .stdout_contains("ok: no findings at or above high (1 exempted, 2 below high)");
    f.tug().args(["check", "base"]).run().failure(1);
    f.tug().args(["check", "base", "--fail-on", "medium"]).run().failure(1);
}

#[test]
fn overlay_text() {
    let f = overlay_tree();
    let run = f.tug().args(["check", "overlay"]).run();
    run.failure(1);
    assert_snapshot!(run.stdout());
}

#[test]
fn overlay_json() {
    let f = overlay_tree();
    let run = f.tug().args(["check", "overlay", "--format", "json"]).run();
    run.failure(1);
    let doc: Value = run.json();
    assert_eq!(doc["services"], 1);
    assert_json_snapshot!(doc);
}

#[test]
fn a_hardened_manifest_set_exits_0() {
    need_kubectl();
    let hardened = BASE_APP
        .replace("web:latest", "web:1.4.2")
        .replace("{memory: 256Mi}", "{memory: 256Mi, cpu: 500m}")
        .replace("type: NodePort", "type: ClusterIP");
    let f = Fixture::new();
    f.write("k8s/app.yaml", &hardened).write("k8s/kustomization.yaml", "resources: [app.yaml]\n");
    f.tug()
        .args(["check", "k8s"])
        .run()
        .success()
        .stdout_contains("ok: no findings")
        .stdout_contains("k8s: 1 services");
    // The same files as a plain directory, and as one file.
    f.write("plain/app.yaml", &hardened);
    f.tug().args(["check", "plain"]).run().success().stdout_contains("ok: no findings");
    f.tug().args(["check", "plain/app.yaml", "--format", "json"]).run().success();
}

#[test]
fn a_plain_file_points_at_its_own_lines() {
    let f = Fixture::new();
    f.write("app.yaml", BASE_APP);
    let run = f.tug().args(["check", "app.yaml"]).run();
    run.failure(1);
    let image = format!("app.yaml:{}:11", line_of(BASE_APP, "image:"));
    run.stdout_line_with(&["TB012", &image]).stdout_line_with(&["exempt", "TB010"]);
}

#[test]
fn without_kubectl_a_kustomization_says_what_to_install() {
    let f = overlay_tree();
    let empty = f.join("no-tools");
    std::fs::create_dir_all(&empty).expect("dir");
    let run = f.tug().args(["check", "overlay"]).env("PATH", &empty).run();
    run.failure(2).stderr_contains("install kubectl (Debian: apt-get install kubernetes-client)");
}

#[test]
fn a_kustomize_error_shows_the_command_and_its_stderr() {
    let f = overlay_tree();
    f.write("overlay/kustomization.yaml", "resources:\n  - ../base\npatches:\n  - path: missing.yaml\n");
    let run = f.tug().args(["check", "overlay"]).run();
    run.failure(2).stderr_contains("`kubectl kustomize overlay` failed").stderr_contains("missing.yaml");
}

#[test]
fn an_exemption_without_a_reason_is_a_configuration_error() {
    let f = Fixture::new();
    f.write("app.yaml", &BASE_APP.replace("\"the node's CPU is shared fairly by its quota\"", "\"\""));
    let run = f.tug().args(["check", "app.yaml"]).run();
    run.failure(2).stderr_contains("app.yaml:6:5").stderr_contains("gives no reason");
}

#[test]
fn env_is_refused_for_manifests() {
    let f = Fixture::new();
    f.write("k8s/app.yaml", BASE_APP);
    let run = f.tug().args(["--env", "staging", "check", "k8s"]).run();
    run.failure(2).stderr_contains("tug check k8s/overlays/staging");
}
