//! `tug export k8s` on both examples: every overlay builds with `kubectl kustomize`, every object
//! validates strictly against the Kubernetes JSON schemas (PyPI's kubernetes-validate, offline) and the
//! CloudNativePG objects against the vendored CRDs; the full output is pinned (golden files); `tug check`
//! finds nothing high in the production overlay; and the bad-input paths.

use std::path::Path;
use std::process::Command;

use crate::util::{Fixture, Run};

const CNPG_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/k8s/cnpg");
const CNPG_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/k8s_validate.py");
/// The Kubernetes version the schemas are taken for (kubectl on this machine is 1.32).
const K8S_VERSION: &str = "1.32.0";

fn export(f: &Fixture, args: &[&str]) -> Run {
    f.tug().args(["export", "k8s", "."]).args(args).run()
}

fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .args(["kustomize", &dir.display().to_string()])
        .output()
        .expect("install kubectl (Debian: apt-get install kubernetes-client) to build the exported overlays");
    assert!(out.status.success(), "kubectl kustomize {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Strict schema validation of every object; the CloudNativePG kinds against their CRDs.
fn validate(built: &Path) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn", "-k", K8S_VERSION, &built.display().to_string()])
        .output()
        .expect("install kubernetes-validate (pip install kubernetes-validate) to validate the exported objects");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("ERROR"), "kubernetes-validate {}:\n{text}", built.display());
    let out = Command::new("python3").args([CNPG_CHECK, CNPG_CRDS, &built.display().to_string()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "CloudNativePG CRD validation of {}:\n{text}{}",
        built.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of the export, in one text, for a golden snapshot.
fn all_files(out: &Path) -> String {
    let mut files = Vec::new();
    fn walk(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, files);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                files.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    walk(out, out, &mut files);
    files.sort();
    files.iter().map(|(p, t)| format!("=== {p}\n{t}")).collect()
}

#[test]
fn both_examples_export_build_validate_and_pass_check() {
    for (example, overlays, cnpg) in [("state-hub", 3, true), ("docsearch", 3, false)] {
        let f = Fixture::example(example);
        let run = export(&f, &["--out", "k8s"]);
        run.success().stdout_contains("0 refused");
        let out = f.join("k8s");
        insta::assert_snapshot!(format!("export_{example}"), all_files(&out));
        let mut built_overlays = 0;
        for overlay in ["dev", "staging", "production"] {
            let built = kustomize(&out.join("overlays").join(overlay));
            let file = f.join(&format!("{overlay}.built.yaml"));
            std::fs::write(&file, &built).unwrap();
            validate(&file);
            assert_eq!(built.contains("kind: Cluster"), cnpg, "{example}/{overlay}");
            built_overlays += 1;
        }
        assert_eq!(built_overlays, overlays);
        // The exported production overlay holds up to the same rules as the compose stack.
        f.tug().args(["check", "k8s/overlays/production", "--fail-on", "high"]).run().success();
        // Exporting again changes nothing.
        export(&f, &["--out", "k8s"]).success().stdout_contains("0 written");
        // No secret value reaches a manifest: the env template's values and any .env are absent.
        assert!(!all_files(&out).contains("***"), "secrets are left out, not masked");
    }
}

#[test]
fn the_seed_layouts_are_what_the_seeds_ask_for() {
    let f = Fixture::example("state-hub");
    export(&f, &["--out", "k8s"]).success();
    let prod = kustomize(&f.join("k8s/overlays/production"));
    // Seed 003: CNPG `state-hub-db` in `databases`, the app in `railiance-apps`, probes on /state/health, ClusterIP only.
    assert!(prod.contains("kind: Cluster\nmetadata:\n  labels:"), "{prod}");
    assert!(prod.contains("name: state-hub-db\n  namespace: databases"), "{prod}");
    assert!(prod.contains("namespace: railiance-apps"), "{prod}");
    assert!(prod.contains("path: /state/health"), "{prod}");
    assert!(!prod.contains("kind: Ingress") && !prod.contains("NodePort") && !prod.contains("LoadBalancer"));
    assert!(prod.contains("instances: 3"), "production runs three PostgreSQL instances");
    assert!(prod.contains("kind: Job"), "the migration is a Job");

    let f = Fixture::example("docsearch");
    export(&f, &["--out", "k8s"]).success();
    for (overlay, replicas) in [("dev", 1), ("staging", 2), ("production", 3)] {
        let built = kustomize(&f.join(&format!("k8s/overlays/{overlay}")));
        assert!(built.contains(&format!("minReplicas: {replicas}")), "{overlay}: {built}");
        assert!(
            built.contains(&format!("name: qdrant\n  namespace: docsearch\nspec:\n  replicas: {replicas}")),
            "{overlay}"
        );
    }
    let prod = kustomize(&f.join("k8s/overlays/production"));
    for wanted in [
        "averageUtilization: 70",
        "averageUtilization: 80",
        "initialDelaySeconds: 30",
        "path: /health",
        "path: /ready",
        "kind: Ingress",
        "cert-manager.io/cluster-issuer: letsencrypt",
        "secretName: backend-tls",
        "storage: 10Gi",
    ] {
        assert!(prod.contains(wanted), "docsearch production lacks {wanted:?}");
    }
}

#[test]
fn the_strict_validation_can_fail() {
    // The validators are the test's teeth: an unknown field in a Deployment and in a Cluster is caught.
    let f = Fixture::new();
    f.write(
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: a }\nspec:\n  replicas: 1\n  replica: 2\n  selector: { matchLabels: { a: b } }\n  template: { metadata: { labels: { a: b } }, spec: { containers: [ { name: a, image: a:1 } ] } }\n",
    );
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "-k", K8S_VERSION, &f.join("bad.yaml").display().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "kubernetes-validate accepted an unknown field");
    f.write("cnpg.yaml", "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: { name: a }\nspec: { instances: 1, storage: { size: 1Gi, sise: 2Gi } }\n");
    let out = Command::new("python3")
        .args([CNPG_CHECK, CNPG_CRDS, &f.join("cnpg.yaml").display().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sise"));
}

#[test]
fn what_has_no_kubernetes_equivalent_is_refused_at_its_line_and_nothing_is_written() {
    let f = Fixture::new();
    f.write("tugboat.yml", "stack: shop\n");
    f.write(
        "compose.yaml",
        "services:
  app:
    image: shop:1.0
    privileged: true
    network_mode: host
    volumes:
      - /srv/shop:/data
  db:
    image: mariadb:11.4
    volumes: [ \"dbdata:/var/lib/mysql\" ]
volumes:
  dbdata: {}
",
    );
    let run = export(&f, &["--out", "k8s"]);
    run.failure(2)
        .stderr_contains("compose.yaml:4:5: services.app.privileged: privileged containers are refused")
        .stderr_contains(
            "compose.yaml:5:5: services.app.network_mode: `network_mode: host` has no Kubernetes equivalent",
        )
        .stderr_contains("services.app.volumes[0]: a bind mount of /srv/shop at /data")
        .stderr_contains("services.db.volumes[0]: volume `dbdata` has no size: set `kubernetes.volumes.dbdata.size`");
    assert!(!f.join("k8s").exists(), "nothing is written");

    // A bad `kubernetes:` section is an error at its line before anything is read further.
    f.write(
        "tugboat.yml",
        "stack: shop\nkubernetes:\n  volumes: { dbdata: { size: lots } }\n  services: { nope: {} }\n",
    );
    f.write("compose.yaml", "services:\n  db:\n    image: mariadb:11.4\n    volumes: [ \"dbdata:/var/lib/mysql\" ]\nvolumes:\n  dbdata: {}\n");
    export(&f, &["--out", "k8s"]).failure(2).stderr_contains("tugboat.yml:3:").stderr_contains("`lots` is not a size");
    f.write(
        "tugboat.yml",
        "stack: shop\nkubernetes:\n  volumes: { dbdata: { size: 2Gi } }\n  services: { nope: {} }\n",
    );
    export(&f, &["--out", "k8s"])
        .failure(2)
        .stderr_contains("tugboat.yml:4:")
        .stderr_contains("no compose service `nope`");

    // A directory that is not tug's export is refused without --force; its files are untouched.
    f.write("tugboat.yml", "stack: shop\nkubernetes:\n  volumes: { dbdata: { size: 2Gi } }\n");
    f.write("mine/notes.txt", "keep me\n");
    export(&f, &["--out", "mine"])
        .failure(2)
        .stderr_contains("was not written by tug export")
        .stderr_contains("hint: pass --force");
    export(&f, &["--out", "mine", "--dry-run"]).failure(2);
    export(&f, &["--out", "mine", "--force"]).success();
    assert_eq!(f.read("mine/notes.txt"), "keep me\n");
    // A re-export after a change removes what no longer exists.
    f.write("compose.yaml", "services:\n  db:\n    image: mariadb:11.4\n    volumes: [ \"dbdata:/var/lib/mysql\" ]\n  web:\n    image: web:1\n    ports: [\"8080:80\"]\nvolumes:\n  dbdata: {}\n");
    export(&f, &["--out", "k8s"]).success();
    assert!(f.join("k8s/base/web.deployment.yaml").exists());
    f.write("compose.yaml", "services:\n  db:\n    image: mariadb:11.4\n    volumes: [ \"dbdata:/var/lib/mysql\" ]\nvolumes:\n  dbdata: {}\n");
    let run = export(&f, &["--out", "k8s", "--json"]);
    run.success();
    assert!(
        run.json()["removed"].as_array().unwrap().iter().any(|r| r == "base/web.deployment.yaml"),
        "{}",
        run.stdout()
    );
    assert!(!f.join("k8s/base/web.deployment.yaml").exists());
    // Every key is accounted for in the report.
    let conversion = &run.json()["conversion"]["entries"];
    assert!(
        conversion.as_array().unwrap().iter().any(|e| e["service"] == "db" && e["key"] == "volumes[0]"),
        "{conversion:#}"
    );
}
