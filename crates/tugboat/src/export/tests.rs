use super::*;

fn stack(compose: &str, tugboat: &str) -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    std::fs::write(dir.path().join("tugboat.yml"), tugboat).unwrap();
    let options = crate::stack::LoadOptions { process_env: Some(Default::default()), ..Default::default() };
    let stack = crate::stack::load(dir.path(), &options).unwrap();
    (dir, stack)
}

fn file(r: &Rendered, name: &str) -> Value {
    let text = &r.files.iter().find(|(p, _)| p == name).unwrap_or_else(|| panic!("no {name}")).1;
    crate::stack::yaml::parse(text, &std::sync::Arc::new(name.into())).unwrap().to_json()
}

#[test]
fn sizes_and_commands_convert_as_compose_means_them() {
    assert_eq!(workload::quantity("512m"), "512Mi");
    assert_eq!(workload::quantity("1g"), "1Gi");
    assert_eq!(workload::quantity("1.5g"), "1536Mi");
    assert_eq!(workload::quantity("64M"), "64Mi");
    assert_eq!(dns_name("State_Hub"), "state-hub");
}

#[test]
fn a_healthcheck_becomes_liveness_and_its_start_period_a_startup_probe() {
    let (_d, s) = stack(
        "services:\n  web:\n    image: web:1\n    user: \"1000:1000\"\n    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"]\n      interval: 10s\n      timeout: 2s\n      retries: 3\n      start_period: 45s\n",
        "stack: shop\n",
    );
    let r = render(&s, None).unwrap();
    let d = file(&r, "base/web.deployment.yaml");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["livenessProbe"]["exec"]["command"], json!(["sh", "-c", "curl -f http://localhost/ || exit 1"]));
    assert_eq!(
        (c["livenessProbe"]["periodSeconds"].clone(), c["livenessProbe"]["failureThreshold"].clone()),
        (json!(10), json!(3))
    );
    // 45 s of grace at 10 s intervals, then the 3 retries: 8 tries, never an initial delay.
    assert_eq!(c["startupProbe"]["failureThreshold"], 8);
    assert!(c["livenessProbe"].get("initialDelaySeconds").is_none());
    assert_eq!(c["readinessProbe"]["exec"], c["livenessProbe"]["exec"], "readiness falls back to the healthcheck");
    assert_eq!(c["securityContext"]["runAsUser"], 1000);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(d["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
}

#[test]
fn secrets_go_to_a_template_and_plain_values_to_a_config_map() {
    let (_d, s) = stack(
        "services:\n  api:\n    image: api:1\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD:-changeme}\n      DATABASE_URL: postgres://u:${DB_PASSWORD:-changeme}@db/app\n      LOG_LEVEL: info\n",
        "stack: shop\n",
    );
    let r = render(&s, None).unwrap();
    let cm = file(&r, "base/api.configmap.yaml");
    assert_eq!(cm["data"], json!({"LOG_LEVEL": "info"}));
    let secret = file(&r, "base/secrets/api-secrets.secret.yaml");
    assert_eq!(secret["stringData"], json!({"DATABASE_URL": "", "DB_PASSWORD": ""}));
    assert_eq!(
        secret["metadata"]["annotations"]["tugboat.io/compose.DATABASE_URL"],
        "postgres://u:${DB_PASSWORD:-changeme}@db/app"
    );
    assert!(
        r.files.iter().all(|(_, t)| !t.contains("changeme@") && !t.contains(": changeme")),
        "no value of a secret is written"
    );
    let k = file(&r, "base/kustomization.yaml");
    assert!(
        !k["resources"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().contains("secret")),
        "templates are not applied"
    );
}

#[test]
fn exemptions_relax_the_hardening_and_are_written_as_annotations() {
    let (_d, s) = stack(
        "services:\n  gpu:\n    image: ollama:0.5\n",
        "stack: shop\npolicy:\n  exempt:\n    gpu: { TB001: \"needs root for the model store\" }\n",
    );
    let r = render(&s, None).unwrap();
    let d = file(&r, "base/gpu.deployment.yaml");
    let sc = &d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert!(sc.get("runAsNonRoot").is_none());
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["tugboat.io/exempt.TB001"],
        "needs root for the model store"
    );
}

#[test]
fn gpus_external_secrets_and_internal_networks() {
    let (_d, s) = stack(
        "services:
  ollama:
    image: ollama/ollama:0.5.7
    user: \"1000:1000\"
    environment: { OLLAMA_API_KEY: \"${OLLAMA_API_KEY:-x}\" }
    expose: [\"11434\"]
    networks: [inside]
    deploy:
      resources:
        limits: { memory: 8g }
        reservations:
          devices: [ { driver: nvidia, count: 1, capabilities: [gpu] } ]
networks:
  inside: { internal: true }
",
        "stack: ai\nkubernetes:\n  external_secrets: { store: vault }\n",
    );
    let r = render(&s, None).unwrap();
    let d = file(&r, "base/ollama.deployment.yaml");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], 1);
    assert!(c["resources"]["requests"].get("nvidia.com/gpu").is_none());
    let es = file(&r, "base/ollama-secrets.externalsecret.yaml");
    assert_eq!(es["spec"]["secretStoreRef"], json!({"name": "vault", "kind": "ClusterSecretStore"}));
    assert_eq!(es["spec"]["data"][0]["remoteRef"], json!({"key": "ai/ollama-secrets", "property": "OLLAMA_API_KEY"}));
    let k = file(&r, "base/kustomization.yaml");
    assert!(k["resources"].as_array().unwrap().contains(&json!("ollama-secrets.externalsecret.yaml")), "applied");
    // Only on an internal network: it admits its network's members on its port, and reaches nothing but
    // them and DNS.
    let np = file(&r, "base/ollama.networkpolicy.yaml");
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["ingress"][0]["ports"], json!([{"port": 11434, "protocol": "TCP"}]));
    assert_eq!(np["spec"]["egress"].as_array().unwrap().len(), 2, "{np:#}");
    assert!(!r.files.iter().any(|(p, _)| p.ends_with("ingress.yaml")), "nothing is published");
}
