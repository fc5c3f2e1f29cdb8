//! `tug config` details that the Compose v2 conformance suite (`compose_v2.rs`) does not pin down: what
//! the resolved project holds for a stack full of short syntax, and paths given relative to the current
//! directory.

use crate::util::{dummy_env, Fixture};

const SHORT_SYNTAX: &str = "\
services:
  web:
    image: nginx:1.27.0
    ports:
      - \"3000\"
      - \"3001:3000\"
      - \"127.0.0.1:8080:80/udp\"
      - \"9090-9091:8080-8081\"
      - \"127.0.0.1:5000-5001:5000-5001\"
      - 7000
      - target: 443
        published: \"8443\"
        protocol: tcp
    volumes:
      - ./data:/data:ro
      - named:/var/lib
      - /cache
      - ./logs/../logs:/logs:rw
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
    environment:
      - A=1
      - B=${B_VAL}
      - C
      - NOT_SET_ANYWHERE
      - EMPTY=
      - WITH_EQUALS=x=y
    env_file: [app.env]
  worker:
    image: busybox:1.36.1
    environment:
      GREETING: ${GREETING:-hello}
      TAG: \"${B_VAL}-${C}\"
    volumes:
      - named:/var/lib:ro
volumes:
  named: {}
";

fn short_syntax_stack() -> Fixture {
    let f = Fixture::new();
    f.write("docker-compose.yml", SHORT_SYNTAX);
    f.write("app.env", "FROM_FILE=yes\nA=from-file\nQUOTED=\"hello world\"\n# a comment\n\nEXPORTED=1\n");
    f.write(".env.template", "# used as ${B_VAL}\nB_VAL=\n# passed through as C\nC=\n");
    f
}

#[test]
fn config_expands_short_syntax_and_folds_env_files() {
    let f = short_syntax_stack();
    f.write(".env", &dummy_env(&f.read(".env.template")));
    let ours = f.tug().args(["config", "--format", "json", "--show-secrets"]).arg(f.path()).run().json();
    // Ranges expand to one port each, env_file entries are folded in, explicit environment wins.
    let web = &ours["services"]["web"];
    assert_eq!(web["ports"].as_array().map(Vec::len), Some(9), "{web:#}");
    assert_eq!(web["volumes"].as_array().map(Vec::len), Some(5), "{web:#}");
    let env = &web["environment"];
    assert_eq!(env["A"], "1", "environment wins over env_file");
    assert_eq!(env["B"], "dummy-b_val");
    assert_eq!(env["QUOTED"], "hello world");
    assert_eq!(env["FROM_FILE"], "yes");
    assert!(env["NOT_SET_ANYWHERE"].is_null());
    assert_eq!(ours["services"]["worker"]["environment"]["GREETING"], "hello");
}

/// BUG: with a relative DIR (`tug config .`, the usual way to run it), relative bind sources stay relative
/// (`./data` is printed as `source: data`, which Docker would read as a *named volume* `data`), and `..`
/// is not resolved against the real directory, so `tug check .` misses a sensitive mount such as
/// `../../../../../etc:/host-etc` that `tug check /abs/dir` reports (TB008).
#[test]
fn config_with_relative_dir_makes_bind_sources_absolute() {
    let f = short_syntax_stack();
    f.write(".env", &dummy_env(&f.read(".env.template")));
    let doc = f.tug().args(["config", ".", "--format", "json"]).run().json();
    for v in doc["services"]["web"]["volumes"].as_array().into_iter().flatten() {
        if v["type"] == "bind" {
            let source = v["source"].as_str().unwrap_or_default();
            assert!(source.starts_with('/'), "bind source {source:?} is not absolute");
        }
    }
}

#[test]
fn check_with_relative_dir_resolves_parent_dirs_in_bind_sources() {
    let f = Fixture::new();
    let depth = std::fs::canonicalize(f.path()).expect("canonical").components().count() - 1;
    let source = format!("{}etc", "../".repeat(depth));
    let text = format!(
        "services:\n  app:\n    image: x:1.0.0\n    user: \"1000\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    healthcheck: {{test: [\"CMD\", \"/h\"]}}\n    restart: always\n    deploy: {{resources: {{limits: {{memory: 64m, cpus: \"0.1\"}}}}}}\n    volumes: [\"{source}:/host-etc:ro\"]\n"
    );
    f.write("docker-compose.yml", &text);
    let absolute = f.tug().args(["check"]).arg(f.path()).run();
    absolute.failure(1).stdout_contains("TB008");
    f.tug().args(["check", "."]).run().failure(1).stdout_contains("TB008");
}

/// Like Compose, a variable used unset without a default is warned about once, on stderr, and the
/// value is a blank string (`${X:-}` is an empty string, not null, and a blank `platform` is left out).
#[test]
fn unset_variables_are_warned_about_once() {
    let f = Fixture::new();
    f.write(
        "docker-compose.yml",
        "services:\n  app:\n    image: busybox:1.36.1\n    platform: ${PLATFORM:-}\n    labels: [\"a=${NEVER_SET}\", \"b=${NEVER_SET}\"]\n    environment: {TOKEN: \"${TOKEN:-}\"}\n",
    );
    let run = f.tug().args(["config", "--format", "json"]).arg(f.path()).run();
    run.success();
    let warnings: Vec<String> =
        run.stderr().lines().filter(|l| l.starts_with("warning:")).map(str::to_string).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr());
    assert!(warnings[0].contains("\"NEVER_SET\" variable is not set"), "{}", warnings[0]);
    let app = &run.json()["services"]["app"];
    assert!(app.get("platform").is_none(), "{app:#}");
    assert_eq!(app["environment"]["TOKEN"], "");
    assert_eq!(app["labels"]["a"], "");
}
