//! Loading tests: multi-file merges, interpolation sources, env files, extends, profiles, environments and
//! the errors a user sees. Cases follow the compose specification's examples where it has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use super::*;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Dir(d)
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn load(&self) -> Result<Stack, ConfigError> {
        self.load_with(&[], None)
    }
    fn load_with(&self, env: &[(&str, &str)], environment: Option<&str>) -> Result<Stack, ConfigError> {
        let process_env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(
            self.path(),
            &LoadOptions {
                environment: environment.map(str::to_string),
                process_env: Some(process_env),
                ..Default::default()
            },
        )
    }
    fn err(&self) -> String {
        self.load().unwrap_err().to_string().replace(&self.path().display().to_string(), "DIR")
    }
}

fn svc<'a>(stack: &'a Stack, name: &str) -> &'a serde_json::Value {
    let json = Box::leak(Box::new(stack.project.root.to_json()));
    &json["services"][name]
}

#[test]
fn default_file_and_override_are_merged() {
    let d = Dir::new(&[
        ("compose.yaml", "services:\n  web:\n    image: nginx:1.25\n    environment: [A=1, B=2]\n"),
        ("compose.override.yaml", "services:\n  web:\n    environment:\n      B: '3'\n    ports: ['8080:80']\n"),
    ]);
    let s = d.load().unwrap();
    let web = svc(&s, "web");
    assert_eq!(web["environment"], serde_json::json!({"A": "1", "B": "3"}));
    assert_eq!(web["ports"][0]["published"], "8080");
    assert_eq!(s.compose_files().len(), 2);
}

#[test]
fn tugboat_yml_names_files_in_order_and_environments_add_overrides() {
    let d = Dir::new(&[
        (
            "tugboat.yml",
            "stack: demo\ncompose: [base.yml, extra.yml]\nenvironments:\n  staging: { compose: [staging.yml] }\n",
        ),
        ("base.yml", "services:\n  app:\n    image: app:1.0\n    deploy: { resources: { limits: { memory: 1g } } }\n"),
        ("extra.yml", "services:\n  app:\n    image: app:1.1\n"),
        ("staging.yml", "services:\n  app:\n    deploy: { resources: { limits: { memory: 256m } } }\n"),
    ]);
    let base = d.load().unwrap();
    assert_eq!(base.name, "demo");
    assert_eq!(base.service("app").unwrap().image.as_deref(), Some("app:1.1"));
    let staging = d.load_with(&[], Some("staging")).unwrap();
    assert_eq!(diff::memory_limit(staging.service("app").unwrap()).as_deref(), Some("256m"));
    let changes = diff::diff(&base, &staging);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].aspect, "memory");
    let e = d.load_with(&[], Some("prod")).unwrap_err().to_string();
    assert!(e.contains("unknown environment `prod`; defined: staging"), "{e}");
}

#[test]
fn process_environment_wins_over_dotenv() {
    let d = Dir::new(&[
        (
            "docker-compose.yml",
            "services:\n  a:\n    image: \"app:${TAG}\"\n    environment:\n      FROM_ENV: ${ONLY_DOTENV}\n",
        ),
        (".env", "TAG=dotenv\nONLY_DOTENV=x\n"),
    ]);
    let s = d.load_with(&[("TAG", "shell")], None).unwrap();
    let a = s.service("a").unwrap();
    assert_eq!(a.image.as_deref(), Some("app:shell"));
    assert_eq!(a.environment[0].value.as_deref(), Some("x"));
    assert_eq!(a.environment[0].raw.as_deref(), Some("${ONLY_DOTENV}"));
}

#[test]
fn env_file_values_fill_environment_and_explicit_values_win() {
    let d = Dir::new(&[
        ("docker-compose.yml", "services:\n  a:\n    image: a:1\n    env_file: [app.env, {path: missing.env, required: false}]\n    environment: [A=explicit, FROM_SHELL]\n"),
        ("app.env", "A=fromfile\nB=fromfile\n"),
    ]);
    let s = d.load_with(&[("FROM_SHELL", "sh")], None).unwrap();
    let a = svc(&s, "a");
    assert_eq!(a["environment"], serde_json::json!({"A": "explicit", "FROM_SHELL": "sh", "B": "fromfile"}));
    assert!(a.get("env_file").is_none());
    let b = s.service("a").unwrap().environment.iter().find(|e| e.name == "B").unwrap();
    assert!(b.from_file.as_ref().unwrap().ends_with("app.env"));
}

#[test]
fn missing_required_env_file_is_an_error_at_its_line() {
    let d = Dir::new(&[("docker-compose.yml", "services:\n  a:\n    image: a:1\n    env_file: nope.env\n")]);
    let e = d.err();
    assert!(e.starts_with("DIR/docker-compose.yml:4:15") && e.contains("nope.env"), "{e}");
}

#[test]
fn extends_from_same_and_other_file() {
    let d = Dir::new(&[
        (
            "docker-compose.yml",
            "services:\n  base:\n    image: b:1\n    cap_drop: [ALL]\n  web:\n    extends: base\n    user: '1000'\n  worker:\n    extends: { file: common.yml, service: common }\n",
        ),
        ("common.yml", "services:\n  common:\n    image: c:2\n    read_only: true\n"),
    ]);
    let s = d.load().unwrap();
    let web = svc(&s, "web");
    assert_eq!(
        (web["image"].as_str(), web["cap_drop"][0].as_str(), web["user"].as_str()),
        (Some("b:1"), Some("ALL"), Some("1000"))
    );
    assert!(web.get("extends").is_none());
    assert_eq!(svc(&s, "worker")["read_only"], true);
}

#[test]
fn cyclic_extends_and_depends_on_are_errors() {
    let d = Dir::new(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n    extends: b\n  b:\n    image: x:1\n    extends: a\n",
    )]);
    assert!(d.err().contains("cyclic `extends`: a -> b -> a"), "{}", d.err());
    let d = Dir::new(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n    depends_on: [b]\n  b:\n    image: x:1\n    depends_on: [c]\n  c:\n    image: x:1\n    depends_on: [a]\n",
    )]);
    let e = d.err();
    assert!(e.contains("circular dependency: a -> b -> c -> a") && e.starts_with("DIR/docker-compose.yml:4:18"), "{e}");
}

#[test]
fn profiles_are_read_from_compose_profiles() {
    let d = Dir::new(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n  dbg:\n    image: x:1\n    profiles: [debug]\n",
    )]);
    let s = d.load().unwrap();
    assert!(!s.is_active(s.service("dbg").unwrap()) && s.is_active(s.service("a").unwrap()));
    let s = d.load_with(&[("COMPOSE_PROFILES", "debug")], None).unwrap();
    assert!(s.is_active(s.service("dbg").unwrap()));
}

#[test]
fn errors_name_file_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "services:\n  a:\n    image: x:1\n    read_only: maybe\n",
            "DIR/docker-compose.yml:4:16: services.a.read_only: expected true or false",
        ),
        (
            "services:\n  a:\n    image: x:1\n    ports: 12\n",
            "DIR/docker-compose.yml:4:12: services.a.ports: expected a list of ports",
        ),
        (
            "services:\n  a:\n    image: x:1\n    ports: ['99999:80']\n",
            "DIR/docker-compose.yml:4:13: services.a.ports[0]: invalid port",
        ),
        (
            "services:\n  a:\n    image: x:1\n    restrat: always\n",
            "DIR/docker-compose.yml:4:5: services.a: additional property restrat is not allowed (did you mean restart?)",
        ),
        (
            "services:\n  a:\n    image: ${X:?set X in .env}\n",
            "DIR/docker-compose.yml:3:12: services.a.image: required variable X is missing a value: set X in .env",
        ),
        (
            "services:\n  a:\n    image: x:1\n    depends_on: [nope]\n",
            "DIR/docker-compose.yml:4:18: services.a.depends_on: depends on undefined service `nope`",
        ),
        (
            "services:\n  a:\n    image: x:1\n    networks: [back]\n",
            "DIR/docker-compose.yml:4:16: services.a.networks: uses undefined network `back`",
        ),
        ("servics:\n  a: {}\n", "DIR/docker-compose.yml:1:1: additional property servics is not allowed (did you mean services?)"),
        ("services:\n  a:\n    image: [x\n", "DIR/docker-compose.yml:"),
        (
            "services:\n  a:\n    user: root\n",
            "DIR/docker-compose.yml:2:3: services.a: a service needs `image` or `build`",
        ),
        ("services: {}\n", "no services defined"),
    ];
    for (text, want) in cases {
        let d = Dir::new(&[("docker-compose.yml", text)]);
        let got = d.err();
        assert!(got.starts_with(want) || got.contains(want), "for {text:?}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn every_error_in_a_file_is_reported_at_once() {
    let d = Dir::new(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n    read_only: maybe\n    privileged: sometimes\n",
    )]);
    let err = d.load().unwrap_err();
    assert_eq!(err.flatten().len(), 2);
}

#[test]
fn no_compose_file_is_a_clear_error() {
    let d = Dir::new(&[("README", "hi")]);
    assert!(d.err().contains("no compose file found"), "{}", d.err());
}

#[test]
fn template_fallback_gives_placeholders_only_without_dotenv() {
    let d = Dir::new(&[
        (
            "docker-compose.yml",
            "services:\n  a:\n    image: x:${TAG:?}\n    environment: { DB_PASSWORD: \"${DB_PASSWORD:?}\" }\n",
        ),
        (".env.template", "TAG=1.0\nDB_PASSWORD=\n"),
    ]);
    assert!(d.load().is_err(), "acting commands still need real values");
    let s = load(
        d.path(),
        &LoadOptions { template_fallback: true, process_env: Some(HashMap::new()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(s.service("a").unwrap().image.as_deref(), Some("x:1.0"));
    assert_eq!(s.placeholder_variables, ["DB_PASSWORD", "TAG"]);
}

#[test]
fn yaml_anchors_and_extension_fields() {
    let d = Dir::new(&[(
        "docker-compose.yml",
        "x-hardening: &hardening\n  read_only: true\n  cap_drop: [ALL]\nservices:\n  a:\n    <<: *hardening\n    image: x:1\n",
    )]);
    let s = d.load().unwrap();
    assert_eq!(svc(&s, "a")["read_only"], true);
}

#[test]
fn short_syntax_becomes_long_syntax() {
    let d = Dir::new(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n    ports: ['3000', '127.0.0.1:8080:80/udp']\n    volumes: ['./data:/data:ro', 'cache:/cache']\n    depends_on: [b]\n    healthcheck: { test: 'curl -f http://localhost' }\n  b:\n    image: y:1\nvolumes: { cache: {} }\n",
    )]);
    let s = d.load().unwrap();
    let a = svc(&s, "a");
    assert_eq!(a["ports"][0], serde_json::json!({"mode": "ingress", "target": 3000, "protocol": "tcp"}));
    assert_eq!(a["ports"][1]["host_ip"], "127.0.0.1");
    let data = d.path().join("data").display().to_string();
    assert_eq!(
        a["volumes"][0],
        serde_json::json!({"type": "bind", "source": data, "target": "/data", "read_only": true, "bind": {"create_host_path": true}})
    );
    assert_eq!(a["volumes"][1]["type"], "volume");
    assert_eq!(a["depends_on"]["b"]["condition"], "service_started");
    assert_eq!(a["healthcheck"]["test"], serde_json::json!(["CMD-SHELL", "curl -f http://localhost"]));
}

proptest::proptest! {
    // Loading arbitrary YAML-ish text never panics: it loads or returns an error.
    #[test]
    fn loading_never_panics(text in "(services:\n  [a-c]:\n    [a-z_]{1,12}: [\\[\\]{}:,'\"$ a-zA-Z0-9_./-]{0,30}\n){0,4}") {
        let d = Dir::new(&[("docker-compose.yml", text.as_str())]);
        let _ = d.load();
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        let d = Dir::new(&[("docker-compose.yml", text.as_str()), ("tugboat.yml", text.as_str())]);
        let _ = d.load();
    }

    // Near-valid input: the dms example with a random splice (a cut, and a fragment of YAML syntax or
    // interpolation put in its place) still loads or fails cleanly.
    #[test]
    fn mutated_example_never_panics(at in 0usize..20_000, cut in 0usize..40, insert in "[ :\\-\\[\\]{}$'\"#&*!|>\n a-z0-9_]{0,12}") {
        let base = include_str!("../../../../examples/dms/docker-compose.yml");
        let at = at % base.len();
        let at = (0..=at).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(base.len());
        let end = (end..=base.len()).find(|i| base.is_char_boundary(*i)).unwrap_or(base.len());
        let text = format!("{}{}{}", &base[..at], insert, &base[end..]);
        let d = Dir::new(&[("docker-compose.yml", text.as_str())]);
        let _ = load(d.path(), &LoadOptions { template_fallback: true, process_env: Some(HashMap::new()), ..Default::default() });
    }
}
