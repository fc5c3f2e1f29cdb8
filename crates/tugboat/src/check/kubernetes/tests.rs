//! Each rule on a minimal manifest that breaks it and on the hardened one that does not; documents,
//! exemptions, CronJob nesting, precedence; and kustomizations mapped back to their files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// A Deployment that passes every rule; cases edit it.
const HARDENED: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    metadata:
      labels: {app: api}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: web
          image: example.org/web:1.4.2
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          resources:
            limits: {memory: 256Mi, cpu: 500m}
          readinessProbe:
            httpGet: {path: /health, port: 8080}
";

const NEED_KUBECTL: &str =
    "these tests build kustomizations: install kubectl (Debian: apt-get install kubernetes-client)";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::Builder::new().prefix("tug-k8s-").tempdir().unwrap())
    }
    fn write(&self, rel: &str, text: &str) -> &Dir {
        let p = self.0.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }
}

/// `HARDENED` with each `(old, new)` replaced (each `old` must occur once).
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = HARDENED.to_string();
    for (old, new) in edits {
        assert_eq!(text.matches(old).count(), 1, "{old:?} in:\n{text}");
        text = text.replacen(old, new, 1);
    }
    text
}

fn report_of(text: &str) -> Report {
    let d = Dir::new();
    d.write("app.yaml", text);
    check_manifests(&d.path("app.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// (rule, service, line, exempted) of every finding.
fn summary(r: &Report) -> Vec<(&'static str, String, u32, bool)> {
    r.findings
        .iter()
        .map(|f| {
            let line = f.location.as_ref().map_or(0, |l| l.line);
            (f.rule, f.service.clone().unwrap_or_default(), line, f.exempted.is_some())
        })
        .collect()
}

/// The 1-based line of the one line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let found: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect();
    assert_eq!(found.len(), 1, "{needle:?} is on lines {found:?} of:\n{text}");
    found[0] as u32
}

/// The manifest fires exactly `expected`: (rule, service, the text on its line).
#[track_caller]
fn fires(text: &str, expected: &[(&str, &str, &str)]) {
    let r = report_of(text);
    let got: Vec<(String, String, u32)> =
        summary(&r).into_iter().map(|(rule, s, line, _)| (rule.to_string(), s, line)).collect();
    let mut want: Vec<(String, String, u32)> =
        expected.iter().map(|(rule, s, at)| (rule.to_string(), s.to_string(), line_of(text, at))).collect();
    want.sort();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "findings {:#?}\nof:\n{text}", r.findings);
}

const WEB: &str = "Deployment/api/web";
const POD: &str = "Deployment/api";

#[test]
fn the_hardened_manifest_has_no_findings() {
    fires(HARDENED, &[]);
    let r = report_of(HARDENED);
    assert_eq!((r.services, r.stack.as_str()), (1, "app"));
}

#[test]
fn tb001_runs_as_root() {
    // Neither setting: the container is where to add one.
    fires(&edited(&[("        runAsNonRoot: true\n", "")]), &[("TB001", WEB, "- name: web")]);
    fires(&edited(&[("runAsNonRoot: true", "runAsNonRoot: false")]), &[("TB001", WEB, "- name: web")]);
    // An explicit uid 0 points at itself.
    fires(&edited(&[("runAsNonRoot: true", "runAsUser: 0")]), &[("TB001", WEB, "runAsUser: 0")]);
    fires(&edited(&[("runAsNonRoot: true", "runAsUser: 1000")]), &[]);
}

#[test]
fn the_container_security_context_overrides_the_pod_one() {
    let text =
        edited(&[("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            runAsNonRoot: false")]);
    fires(&text, &[("TB001", WEB, "- name: web")]);
    let text = edited(&[
        ("runAsNonRoot: true", "runAsUser: 0"),
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            runAsUser: 1000"),
    ]);
    fires(&text, &[]);
    // Pod-level Unconfined seccomp, but the container asks for the runtime's default: it gets it.
    let text = edited(&[
        ("seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}"),
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: true\n            seccompProfile: {type: RuntimeDefault}",
        ),
    ]);
    fires(&text, &[]);
    fires(
        &edited(&[("seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}")]),
        &[("TB022", WEB, "Unconfined")],
    );
}

#[test]
fn tb002_to_tb006_container_security_context() {
    fires(
        &edited(&[("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")]),
        &[("TB002", WEB, "readOnlyRootFilesystem")],
    );
    fires(&edited(&[("            readOnlyRootFilesystem: true\n", "")]), &[("TB002", WEB, "- name: web")]);
    fires(&edited(&[("drop: [ALL]", "drop: [NET_RAW]")]), &[("TB003", WEB, "drop: [NET_RAW]")]);
    fires(
        &edited(&[("{drop: [ALL]}", "{drop: [ALL], add: [NET_BIND_SERVICE, CAP_SYS_ADMIN]}")]),
        &[("TB004", WEB, "CAP_SYS_ADMIN")],
    );
    fires(
        &edited(&[("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")]),
        &[("TB005", WEB, "allowPrivilegeEscalation")],
    );
    fires(
        &edited(&[(
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: false\n            privileged: true",
        )]),
        &[("TB006", WEB, "privileged: true")],
    );
}

#[test]
fn tb007_host_namespaces() {
    let text = edited(&[(
        "      containers:",
        "      hostNetwork: true\n      hostPID: true\n      hostIPC: false\n      containers:",
    )]);
    fires(&text, &[("TB007", POD, "hostNetwork"), ("TB007", POD, "hostPID")]);
    fires(&edited(&[("      containers:", "      hostUsers: false\n      containers:")]), &[]);
}

#[test]
fn tb008_sensitive_host_paths() {
    let volumes = |path: &str, read_only: &str| {
        edited(&[
            ("      containers:", &format!("      volumes:\n        - name: host\n          hostPath: {{path: {path}}}\n      containers:")),
            ("          readinessProbe:", &format!("          volumeMounts:\n            - {{name: host, mountPath: /host, readOnly: {read_only}}}\n          readinessProbe:")),
        ])
    };
    let text = volumes("/var/run/docker.sock", "true");
    fires(&text, &[("TB008", POD, "docker.sock")]);
    let r = report_of(&text);
    assert!(
        r.findings[0].message.contains("read-only (which does not stop a client using a socket)"),
        "{}",
        r.findings[0].message
    );
    fires(&volumes("/etc/localtime", "true"), &[]);
    fires(&volumes("/etc/localtime", "false"), &[("TB008", POD, "/etc/localtime")]);
    fires(&volumes("/srv/../etc/shadow", "true"), &[("TB008", POD, "/srv/../etc/shadow")]);
    fires(&volumes("/srv/data", "false"), &[]);
}

#[test]
fn tb009_tb010_limits() {
    fires(
        &edited(&[("limits: {memory: 256Mi, cpu: 500m}", "requests: {memory: 256Mi}")]),
        &[("TB009", WEB, "resources:"), ("TB010", WEB, "resources:")],
    );
    fires(&edited(&[("{memory: 256Mi, cpu: 500m}", "{memory: 256Mi}")]), &[("TB010", WEB, "limits:")]);
}

#[test]
fn tb011_probes() {
    let without = edited(&[("          readinessProbe:\n            httpGet: {path: /health, port: 8080}\n", "")]);
    fires(&without, &[("TB011", WEB, "- name: web")]);
    fires(&edited(&[("readinessProbe:", "livenessProbe:")]), &[]);
    // An init container runs to completion; a Job too.
    let init = edited(&[(
        "      containers:",
        "      initContainers:\n        - name: migrate\n          image: example.org/web:1.4.2\n          \
         securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n          \
         resources: {limits: {memory: 64Mi, cpu: 100m}}\n      containers:",
    )]);
    fires(&init, &[]);
    let job = without.replace("apps/v1\nkind: Deployment", "batch/v1\nkind: Job");
    fires(&job, &[]);
}

#[test]
fn tb012_unpinned_images() {
    fires(&edited(&[("web:1.4.2", "web:latest")]), &[("TB012", WEB, "image:")]);
    fires(&edited(&[("web:1.4.2", "web")]), &[("TB012", WEB, "image:")]);
    fires(
        &edited(&[("web:1.4.2", "web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]),
        &[],
    );
    // A registry port is no tag.
    fires(&edited(&[("example.org/web:1.4.2", "registry:5000/web")]), &[("TB012", WEB, "image:")]);
}

#[test]
fn tb016_node_exposure() {
    let service =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n";
    fires(service, &[("TB016", "Service/api", "type: NodePort")]);
    fires(&service.replace("NodePort", "LoadBalancer"), &[("TB016", "Service/api", "type: LoadBalancer")]);
    fires(&service.replace("NodePort", "ClusterIP"), &[]);
    let ports = |extra: &str| {
        edited(&[(
            "          readinessProbe:",
            &format!("          ports:\n            - {{containerPort: 8080{extra}}}\n          readinessProbe:"),
        )])
    };
    fires(&ports(", hostPort: 8080"), &[("TB016", WEB, "hostPort")]);
    fires(&ports(", hostPort: 8080, hostIP: 127.0.0.1"), &[]);
    fires(&ports(""), &[]);
}

#[test]
fn tb018_literal_secrets_in_env() {
    let env = |entries: &str| {
        edited(&[("          readinessProbe:", &format!("          env:\n{entries}          readinessProbe:"))])
    };
    fires(&env("            - {name: DB_PASSWORD, value: hunter2}\n"), &[("TB018", WEB, "DB_PASSWORD")]);
    fires(
        &env("            - {name: DATABASE_URL, value: \"postgres://app:s3cret@db/app\"}\n"),
        &[("TB018", WEB, "DATABASE_URL")],
    );
    // References are not literals: $(VAR), valueFrom, a path.
    fires(&env("            - {name: DB_PASSWORD, value: \"$(DB_PASSWORD_FROM_SECRET)\"}\n"), &[]);
    fires(
        &env("            - name: DB_PASSWORD\n              valueFrom: {secretKeyRef: {name: db, key: password}}\n"),
        &[],
    );
    fires(&env("            - {name: DB_PASSWORD_FILE, value: /run/secrets/db}\n            - {name: LOG_LEVEL, value: info}\n"), &[]);
}

#[test]
fn tb022_profiles() {
    fires(
        &edited(&[("{type: RuntimeDefault}", "{type: RuntimeDefault}\n        appArmorProfile: {type: Unconfined}")]),
        &[("TB022", WEB, "appArmorProfile")],
    );
    let annotation =
        edited(&[("labels: {app: api}", "labels: {app: api}\n      annotations:\n        container.apparmor.security.beta.kubernetes.io/web: unconfined")]);
    fires(&annotation, &[("TB022", WEB, "apparmor")]);
    fires(
        &edited(&[("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            procMount: Unmasked")]),
        &[("TB022", WEB, "procMount")],
    );
}

#[test]
fn documents_keep_their_lines() {
    let service = "# the service\napiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {type: NodePort}\n";
    let bad = edited(&[("web:1.4.2", "web:latest")]);
    // A document marker with a comment, an empty document, and an end marker.
    let text = format!("---\n{service}--- # the workload\n{bad}...\n---\n---\n");
    fires(&text, &[("TB016", "Service/api", "NodePort"), ("TB012", WEB, "web:latest")]);
    let r = report_of(&text);
    let tb012 = r.findings.iter().find(|f| f.rule == "TB012").unwrap();
    assert_eq!(tb012.location.as_ref().unwrap().column, 11, "the key `image` of `- name: web` / `  image:`");
    // A document that begins on its `---` line keeps its columns.
    let inline = "--- {apiVersion: v1, kind: Service, metadata: {name: api}, spec: {type: NodePort}}\n";
    let r = report_of(inline);
    let at = r.findings[0].location.as_ref().unwrap();
    assert_eq!((at.line, at.column), (1, 67), "{:?}", r.findings);
    // A syntax error in a later document is reported at its line in the file.
    let d = Dir::new();
    d.write("app.yaml", &format!("{service}---\napiVersion: v1\nkind: Pod\nkind: Service\n"));
    let err = check_manifests(&d.path("app.yaml")).unwrap_err().to_string();
    assert!(err.contains("app.yaml:9:1: invalid YAML: duplicate key `kind`"), "{err}");
}

#[test]
fn a_list_is_its_items() {
    let text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: api}\n    spec: {type: NodePort}\n";
    fires(text, &[("TB016", "Service/api", "NodePort")]);
}

#[test]
fn cronjob_pods_are_checked_where_they_are_nested() {
    let pod = edited(&[
        ("web:1.4.2", "web:latest"),
        ("          readinessProbe:\n            httpGet: {path: /health, port: 8080}\n", ""),
    ]);
    // The Deployment's `template:` (from its sixth line), indented under the CronJob's `jobTemplate.spec`.
    let template: String = pod.lines().skip(5).map(|l| format!("    {l}\n")).collect();
    let text = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: \"0 3 * * *\"\n  \
         jobTemplate:\n    spec:\n{template}"
    );
    // No probe is expected of a job's container.
    fires(&text, &[("TB012", "CronJob/nightly/web", "web:latest")]);
    assert_eq!(report_of(&text).services, 1);
}

#[test]
fn exemption_annotations() {
    let text = edited(&[
        (
            "  name: api\n",
            "  name: api\n  annotations:\n    tugboat.io/exempt.TB012: \"the vendor ships only latest\"\n",
        ),
        ("web:1.4.2", "web:latest"),
        (
            "labels: {app: api}",
            "labels: {app: api}\n      annotations: {tugboat.io/exempt.TB002: \"writes its cache to /\"}",
        ),
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    ]);
    let r = report_of(&text);
    assert_eq!(
        summary(&r).iter().map(|(rule, _, _, exempt)| (*rule, *exempt)).collect::<Vec<_>>(),
        [("TB002", true), ("TB012", true)]
    );
    let reasons: Vec<&str> = r.findings.iter().filter_map(|f| f.exempted.as_deref()).collect();
    assert_eq!(reasons, ["writes its cache to /", "the vendor ships only latest"]);
    assert_eq!(r.failing(super::super::Severity::Low).count(), 0);

    // No reason: an error at the annotation's line.
    let empty = edited(&[("  name: api\n", "  name: api\n  annotations:\n    tugboat.io/exempt.TB001: \"  \"\n")]);
    let d = Dir::new();
    d.write("app.yaml", &empty);
    let err = check_manifests(&d.path("app.yaml")).unwrap_err();
    let at = err.location().expect("a located error");
    assert_eq!(at.span.line, line_of(&empty, "exempt.TB001"), "{err}");
    assert!(err.to_string().contains("gives no reason"), "{err}");
    // An unknown rule too; a rule that Kubernetes does not apply is accepted (an exporter writes them).
    let unknown = empty.replace("TB001: \"  \"", "TB999: \"why\"");
    d.write("app.yaml", &unknown);
    let err = check_manifests(&d.path("app.yaml")).unwrap_err().to_string();
    assert!(err.contains("unknown rule `TB999`"), "{err}");
    d.write("app.yaml", &empty.replace("TB001: \"  \"", "TB013: \"Kubernetes restarts it\""));
    assert!(check_manifests(&d.path("app.yaml")).unwrap().findings.is_empty());
}

#[test]
fn directories_and_what_counts_as_manifests() {
    let d = Dir::new();
    d.write("k8s/app.yaml", &edited(&[("web:1.4.2", "web:latest")]))
        .write("k8s/service.yml", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {type: ClusterIP}\n")
        .write("k8s/values.yaml", "replicas: 3\n")
        .write(
            "k8s/nested/ignored.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}\n",
        );
    let r = check_manifests(&d.path("k8s")).unwrap();
    assert_eq!((r.stack.as_str(), r.services, r.files.len()), ("k8s", 1, 3));
    assert_eq!(summary(&r).iter().map(|f| f.0).collect::<Vec<_>>(), ["TB012"]);
    assert!(is_manifest_input(&d.path("k8s")));
    assert!(is_manifest_input(&d.path("k8s/values.yaml")), "a file is read as manifests");

    d.write("stack/docker-compose.yml", "services: {}\n").write("stack/extra.yaml", HARDENED);
    assert!(!is_manifest_input(&d.path("stack")), "a compose project stays one");
    d.write("conf/tugboat.yml", "stack: x\n");
    assert!(!is_manifest_input(&d.path("conf")) && !is_manifest_input(&d.path("conf/tugboat.yml")));
    d.write("kust/kustomization.yaml", "resources: []\n").write("kust/docker-compose.yml", "services: {}\n");
    assert!(is_manifest_input(&d.path("kust")), "a kustomization wins");

    d.write("empty/values.yaml", "replicas: 3\n");
    let err = check_manifests(&d.path("empty")).unwrap_err().to_string();
    assert!(err.contains("no Kubernetes objects found"), "{err}");
}

fn need_kubectl() {
    let ok =
        std::process::Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{NEED_KUBECTL}");
}

/// (rule, service, file relative to the tree, line).
fn located(d: &Dir, r: &Report) -> Vec<(&'static str, String, String, u32)> {
    let root = d.0.path();
    r.findings
        .iter()
        .map(|f| {
            let l = f.location.as_ref().unwrap();
            let file = l.file.strip_prefix(root).unwrap_or(&l.file).display().to_string();
            (f.rule, f.service.clone().unwrap_or_default(), file, l.line)
        })
        .collect()
}

#[test]
fn a_kustomization_points_at_its_patches_transformers_and_bases() {
    need_kubectl();
    let d = Dir::new();
    let base = edited(&[("example.org/web:1.4.2", "example.org/web")]);
    d.write("base/app.yaml", &base)
        .write("base/kustomization.yaml", "namePrefix: shop-\nresources:\n  - app.yaml\n")
        .write(
            "prod/kustomization.yaml",
            "nameSuffix: -prod\nresources:\n  - ../base\nimages:\n  - name: example.org/web\n    newTag: latest\n\
             commonAnnotations:\n  tugboat.io/exempt.TB005: \"\"\n\
             patches:\n  - target: {kind: Deployment, name: shop-api}\n    patch: |-\n      - op: replace\n        \
             path: /spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem\n        value: false\n  \
             - patch: |\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: api}\n      spec:\n        \
             template:\n          spec:\n            hostNetwork: true\n",
        );
    // The exemption written by `commonAnnotations` has no reason: the error points there.
    let prod = std::fs::read_to_string(d.path("prod/kustomization.yaml")).unwrap();
    let err = check_manifests(&d.path("prod")).unwrap_err();
    let at = err.location().unwrap_or_else(|| panic!("{err}"));
    assert!(at.span.file.ends_with("prod/kustomization.yaml"), "{err}");
    assert_eq!(at.span.line, line_of(&prod, "exempt.TB005"), "{err}");

    d.write("prod/kustomization.yaml", &prod.replace("TB005: \"\"", "TB005: \"set by the platform\""));
    let r = check_manifests(&d.path("prod")).unwrap();
    assert_eq!(r.stack, "prod");
    let service = "Deployment/shop-api-prod";
    let web = format!("{service}/web");
    let kustomization = "prod/kustomization.yaml".to_string();
    assert_eq!(
        located(&d, &r),
        [
            // The inline strategic-merge patch, at its line in the kustomization.
            ("TB007", service.to_string(), kustomization.clone(), line_of(&prod, "hostNetwork")),
            // The JSON patch's value.
            ("TB002", web.clone(), kustomization.clone(), line_of(&prod, "value: false")),
            // `images:` set the tag.
            ("TB012", web.clone(), kustomization, line_of(&prod, "newTag")),
        ]
    );
    let tb002 = &r.findings[1];
    assert_eq!(tb002.location.as_ref().unwrap().column, 9, "{:?}", tb002.location);
    let tb007 = &r.findings[0];
    assert_eq!(tb007.location.as_ref().unwrap().column, 13, "{:?}", tb007.location);
    assert!(r.files.iter().any(|f| f.ends_with("base/app.yaml")), "{:?}", r.files);
    assert!(r.files.iter().all(|f| !f.to_string_lossy().contains("..")), "{:?}", r.files);
}

#[test]
fn a_kustomization_error_shows_the_command_and_its_stderr() {
    need_kubectl();
    let d = Dir::new();
    d.write("bad/kustomization.yaml", "resources:\n  - missing.yaml\n");
    let err = check_manifests(&d.path("bad")).unwrap_err().to_string();
    assert!(err.contains("`kubectl kustomize ") && err.contains("failed") && err.contains("missing.yaml"), "{err}");
}

#[test]
fn patch_files_json_and_strategic_merge_are_followed() {
    need_kubectl();
    let d = Dir::new();
    let base = edited(&[(
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: false\n            privileged: false",
    )]);
    let add_caps = "- op: add\n  path: /spec/template/spec/containers/0/securityContext/capabilities\n  value:\n    \
                    drop: [ALL]\n    add:\n      - NET_BIND_SERVICE\n      - SYS_ADMIN\n";
    let root = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      \
                securityContext:\n        runAsNonRoot: false\n        runAsUser: 0\n      containers:\n        - name: web\n          \
                securityContext:\n            privileged: true\n";
    d.write("base/app.yaml", &base)
        .write("base/kustomization.yaml", "resources: [app.yaml]\n")
        .write(
            "overlay/kustomization.yaml",
            "namePrefix: prod-\nresources: [../base]\npatchesStrategicMerge: [root.yaml]\n\
             patchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: api}\n    path: caps.yaml\n",
        )
        .write("overlay/caps.yaml", add_caps)
        .write("overlay/root.yaml", root);
    let r = check_manifests(&d.path("overlay")).unwrap();
    let web = "Deployment/prod-api/web".to_string();
    assert_eq!(
        located(&d, &r),
        [
            // `runAsUser: 0` at pod level, from the strategic-merge patch.
            ("TB001", web.clone(), "overlay/root.yaml".to_string(), line_of(root, "runAsUser")),
            // Inside the value of a JSON patch that adds the whole mapping.
            ("TB004", web.clone(), "overlay/caps.yaml".to_string(), line_of(add_caps, "SYS_ADMIN")),
            // The base says `false`, the patch `true`: the patch set what was built.
            ("TB006", web, "overlay/root.yaml".to_string(), line_of(root, "privileged")),
        ]
    );
    assert_eq!(r.files.len(), 5, "{:?}", r.files);
    // The kustomization file named instead of its directory is the same kustomization.
    let named = check_manifests(&d.path("overlay/kustomization.yaml")).unwrap();
    assert_eq!(located(&d, &named), located(&d, &r));
}

/// Breaks every rule at once.
const WORST: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      hostPID: true
      securityContext: {seccompProfile: {type: Unconfined}}
      volumes:
        - {name: docker, hostPath: {path: /var/run/docker.sock}}
      containers:
        - name: agent
          image: example.org/agent
          securityContext:
            privileged: true
            capabilities: {add: [SYS_ADMIN]}
          ports: [{containerPort: 9100, hostPort: 9100}]
          env: [{name: API_TOKEN, value: hunter2}]
          volumeMounts: [{name: docker, mountPath: /var/run/docker.sock}]
---
apiVersion: v1
kind: Service
metadata: {name: agent}
spec: {type: LoadBalancer}
";

#[test]
fn the_rule_table_is_what_fires() {
    let r = report_of(WORST);
    let fired: std::collections::BTreeSet<&str> = r.findings.iter().map(|f| f.rule).collect();
    let listed: std::collections::BTreeSet<&str> = KUBERNETES_RULES.iter().map(|r| r.id).collect();
    assert_eq!(fired, listed, "{:#?}", r.findings);
    assert!(KUBERNETES_RULES.iter().all(|r| super::super::rule(r.id).is_some() && kubernetes_fix(r.id).is_some()));
}

#[test]
fn the_docs_hold_the_rule_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/check-kubernetes.md");
    let doc = std::fs::read_to_string(path).expect("docs/check-kubernetes.md");
    let table = kubernetes_rules_markdown();
    assert!(doc.contains(&table), "docs/check-kubernetes.md lacks the current rule table; put this in:\n{table}");
}
