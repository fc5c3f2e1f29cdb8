//! A copy of examples/dms with its hardening taken apart one piece at a time, as an operator might by
//! accident: every weakening must be reported, at the line where it was written, and nothing else.

use crate::util::{at, at1, loc, Fixture};

const DC: &str = "docker-compose.yml";

#[track_caller]
fn swap(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once in the dms compose file");
    text.replacen(from, to, 1)
}

/// The weakened dms compose text and the findings it must produce: (rule, service, location).
fn weaken(original: &str) -> (String, Vec<(&'static str, &'static str, String)>) {
    let mut t = original.to_string();
    t = swap(
        &t,
        "    image: registry.np-dms.work/lcbp3/backend:1.8.0\n",
        "    image: registry.np-dms.work/lcbp3/backend:1.8.0\n    privileged: true\n",
    );
    t = swap(&t, "    expose: [\"11434\"]\n", "    expose: [\"11434\"]\n    ports:\n      - \"11434:11434\"\n");
    t = swap(
        &t,
        "      - redis-data:/data\n",
        "      - redis-data:/data\n      - /var/run/docker.sock:/var/run/docker.sock\n",
    );
    t = swap(&t, "image: mariadb:11.8.2", "image: mariadb:latest");
    t = swap(
        &t,
        "      DB_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}\n      # T008b",
        "      DB_PASSWORD: hunter2secret\n      # T008b",
    );
    // frontend loses its read-only root filesystem, embedder its cap_drop.
    t = swap(
        &t,
        "    image: registry.np-dms.work/lcbp3/frontend:1.8.0\n    user: \"1000:1000\"\n    read_only: true\n",
        "    image: registry.np-dms.work/lcbp3/frontend:1.8.0\n    user: \"1000:1000\"\n",
    );
    t = swap(
        &t,
        "    image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.7\n    user: \"1000:1000\"\n    read_only: true\n    tmpfs:\n      - /tmp:size=256m\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    environment:\n      MODEL_ID: /models/bge-m3",
        "    image: ghcr.io/huggingface/text-embeddings-inference:cpu-1.7\n    user: \"1000:1000\"\n    read_only: true\n    tmpfs:\n      - /tmp:size=256m\n    security_opt: [\"no-new-privileges:true\"]\n    environment:\n      MODEL_ID: /models/bge-m3",
    );
    // The reranker publishes nothing; it moves onto the host network (networks: and network_mode exclude each other).
    t = swap(
        &t,
        "      MODEL_ID: /models/bge-reranker-v2-m3\n      PORT: \"8080\"\n    volumes:\n      - hf-models:/models:ro\n    expose: [\"8080\"]\n    networks: [dms-internal]\n",
        "      MODEL_ID: /models/bge-reranker-v2-m3\n      PORT: \"8080\"\n    volumes:\n      - hf-models:/models:ro\n    expose: [\"8080\"]\n    network_mode: host\n",
    );
    let expected = vec![
        ("TB006", "backend", loc(DC, at1(&t, "privileged"))),
        ("TB015", "ollama", loc(DC, at1(&t, "\"11434:11434\""))),
        ("TB008", "redis", loc(DC, at1(&t, "/var/run/docker.sock:/var/run/docker.sock"))),
        ("TB012", "mariadb", loc(DC, at(&t, "image: mariadb:latest", "mariadb:latest"))),
        ("TB018", "backend", loc(DC, at1(&t, "hunter2secret"))),
        ("TB002", "frontend", loc(DC, at(&t, "\n  frontend:", "frontend"))),
        ("TB003", "embedder", loc(DC, at(&t, "\n  embedder:", "embedder"))),
        ("TB007", "reranker", loc(DC, at(&t, "network_mode: host", "host"))),
    ];
    (t, expected)
}

fn weakened_dms() -> (Fixture, Vec<(&'static str, &'static str, String)>) {
    let f = Fixture::example("dms");
    let (text, mut expected) = weaken(&f.read(DC));
    f.write(DC, &text);
    // A .env with every value filled in, in a git work tree that does not ignore it.
    f.dotenv_from_template();
    f.git_init();
    expected.push(("TB021", "", ".env:1:1".to_string()));
    (f, expected)
}

#[test]
fn weakened_dms_reports_every_weakening_at_its_line() {
    let (f, expected) = weakened_dms();
    let run = f.tug().args(["check", "."]).run();
    run.failure(1);
    for (rule, _, location) in &expected {
        run.stdout_line_with(&[rule, location]);
    }
    // Exactly these, no more: the rest of the stack is still hardened (the two exemptions stay exempt).
    let doc = f.tug().args(["check", ".", "--format", "json"]).run().json();
    let mut got: Vec<(String, String, String)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|x| x["exempted"].is_null())
        .map(|x| {
            let l = &x["location"];
            (
                x["rule"].as_str().unwrap_or_default().to_string(),
                x["service"].as_str().unwrap_or_default().to_string(),
                format!("{}:{}:{}", l["file"].as_str().unwrap_or_default(), l["line"], l["column"]),
            )
        })
        .collect();
    let mut want: Vec<(String, String, String)> =
        expected.iter().map(|(r, s, l)| (r.to_string(), s.to_string(), l.clone())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{}", run.stdout());
    assert_eq!(doc["summary"]["exempted"], 2);
    assert_eq!(doc["summary"]["failed"], true);
    assert_eq!(doc["placeholder_variables"], serde_json::json!([]), "a .env exists, so no placeholders");
}

#[test]
fn weakened_dms_fails_at_high_and_staging_inherits_the_weakening() {
    let (f, _) = weakened_dms();
    f.tug().args(["check", ".", "--fail-on", "high"]).run().failure(1).stdout_line_with(&["TB006", "HIGH"]);
    f.tug().args(["check", ".", "--env", "staging"]).run().failure(1).stdout_contains("TB006");
}

#[test]
fn ignoring_dotenv_clears_tb021_only() {
    let (f, _) = weakened_dms();
    f.write(".gitignore", ".env\n");
    let run = f.tug().args(["check", "."]).run();
    run.failure(1).stdout_lacks("TB021").stdout_contains("TB006");
}
