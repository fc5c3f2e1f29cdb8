//! `plans/NAME.yml`: ordered steps (each one engine operation, a command with its undo, a watch window or
//! a human approval), the gates each step waits for, and a `rollback:` section. Read with positions, and
//! validated against the stack before anything runs, so every mistake is reported at file:line:column.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tugboat::stack::probes::HumanDuration;
use tugboat::stack::{config, yaml, ConfigError, Location, Node, Span, Stack};

/// A plan, read and validated.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub path: PathBuf,
    /// sha256 of the file: a run remembers the plan it started with.
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub steps: Vec<Step>,
    pub rollback: Vec<Step>,
}

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub action: Action,
    pub gates: Vec<Gate>,
    /// Where it is written (`plans/cutover.yml:7:5`).
    pub at: String,
}

/// What a step does.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Backup {
        sources: Vec<String>,
    },
    Drill {
        sources: Vec<String>,
        deep: bool,
    },
    Migrate {
        source: String,
        target: String,
        replace: bool,
        tables: Vec<String>,
        exclude: Vec<String>,
    },
    Parity {
        source: String,
        target: String,
        tables: Vec<String>,
        exclude: Vec<String>,
        counts_only: bool,
    },
    Smoke {
        suite: Option<String>,
    },
    Deploy {
        service: String,
        image: Option<String>,
    },
    /// A stabilisation window: with `every`, the suite is probed in process that often for `window`;
    /// without it, `tug watch`'s recorded history of the suite is read until the window has passed.
    Watch {
        suite: String,
        window: HumanDuration,
        every: Option<HumanDuration>,
    },
    Run {
        command: String,
        undo: Undo,
        idempotent: bool,
        timeout: Option<HumanDuration>,
    },
    Approve {
        note: Option<String>,
        count: u32,
    },
}

/// How a `run` step is reversed.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Undo {
    Command { command: String },
    None { why: String },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Backup { .. } => "backup",
            Action::Drill { .. } => "drill",
            Action::Migrate { .. } => "migrate",
            Action::Parity { .. } => "parity",
            Action::Smoke { .. } => "smoke",
            Action::Deploy { .. } => "deploy",
            Action::Watch { .. } => "watch",
            Action::Run { .. } => "run",
            Action::Approve { .. } => "approve",
        }
    }

    /// Whether running it again after an interruption is safe. Operations with their own recovery (a
    /// migration marks an incomplete target, a deploy journals its phases) and read-only evidence are;
    /// a command is only when the plan says so.
    pub fn idempotent(&self) -> bool {
        match self {
            Action::Run { idempotent, .. } => *idempotent,
            _ => true,
        }
    }

    /// One line: `migrate old -> new`, `run ./switch.sh new`.
    pub fn summary(&self) -> String {
        match self {
            Action::Backup { sources } => format!("backup {}", list_or(sources, "every source")),
            Action::Drill { sources, deep } => {
                format!("drill {}{}", list_or(sources, "every source"), if *deep { " (deep)" } else { "" })
            }
            Action::Migrate { source, target, .. } => format!("migrate {source} -> {target}"),
            Action::Parity { source, target, .. } => format!("parity {source} = {target}"),
            Action::Smoke { suite } => format!("smoke {}", suite.as_deref().unwrap_or("smoke")),
            Action::Deploy { service, image } => match image {
                Some(image) => format!("deploy {service} ({image})"),
                None => format!("deploy {service}"),
            },
            Action::Watch { suite, window, every } => match every {
                Some(every) => format!("watch {suite} for {window}, every {every}"),
                None => format!("watch {suite} for {window} (tug watch history)"),
            },
            Action::Run { command, .. } => format!("run {command}"),
            Action::Approve { note, count } => {
                let who = if *count == 1 { "1 approver".to_string() } else { format!("{count} approvers") };
                match note {
                    Some(note) => format!("approve ({who}): {note}"),
                    None => format!("approve ({who})"),
                }
            }
        }
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_string()
    } else {
        items.join(", ")
    }
}

/// Evidence a step needs, read from the state database just before it runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// A passing restore drill (of `source`, or of any source) no older than `within`.
    DrillPassedWithin { source: Option<String>, within: HumanDuration },
    /// The newest parity report between the two databases is equal and no older than `within`.
    ParityEqual { source: String, target: String, within: HumanDuration },
    /// The newest run of the smoke suite passed and is no older than `within`.
    SmokePassedWithin { suite: String, within: HumanDuration },
    /// At least `count` different people approved this step or the closest `approve` step before it, in this run.
    ApprovedBy { count: u32 },
    /// These earlier steps succeeded in this run.
    StepSucceeded { steps: Vec<String> },
    /// `tug watch` recorded the suite (every suite when `None`) for the whole window with no failure and no
    /// alert.
    WatchCleanFor { suite: Option<String>, window: HumanDuration },
}

impl Gate {
    pub fn name(&self) -> &'static str {
        match self {
            Gate::DrillPassedWithin { .. } => "drill_passed_within",
            Gate::ParityEqual { .. } => "parity_equal",
            Gate::SmokePassedWithin { .. } => "smoke_passed_within",
            Gate::ApprovedBy { .. } => "approved_by",
            Gate::StepSucceeded { .. } => "step_succeeded",
            Gate::WatchCleanFor { .. } => "watch_clean_for",
        }
    }

    /// What it asks for, in words.
    pub fn requirement(&self) -> String {
        match self {
            Gate::DrillPassedWithin { source, within } => match source {
                Some(s) => format!("a passing drill of {s} within {within}"),
                None => format!("a passing drill within {within}"),
            },
            Gate::ParityEqual { source, target, within } => format!("{source} and {target} equal within {within}"),
            Gate::SmokePassedWithin { suite, within } => format!("smoke suite {suite} passed within {within}"),
            Gate::ApprovedBy { count } => {
                if *count == 1 {
                    "approved by 1 person".into()
                } else {
                    format!("approved by {count} people")
                }
            }
            Gate::StepSucceeded { steps } => format!("step {} succeeded", steps.join(", ")),
            Gate::WatchCleanFor { suite, window } => match suite {
                Some(s) => format!("watch of {s} clean for {window}"),
                None => format!("watch clean for {window}"),
            },
        }
    }
}

const KINDS: [&str; 9] = ["backup", "drill", "migrate", "parity", "smoke", "deploy", "watch", "run", "approve"];
const STEP_KEYS: [&str; 6] = ["name", "gates", "undo", "why", "idempotent", "timeout"];

/// `plans/NAME.yml` beside tugboat.yml.
pub fn plan_path(stack: &Stack, name: &str) -> PathBuf {
    plans_dir(stack).join(format!("{name}.yml"))
}

pub fn plans_dir(stack: &Stack) -> PathBuf {
    let base = stack.config_file.as_ref().and_then(|(p, _)| p.parent().map(Path::to_path_buf));
    base.unwrap_or_else(|| stack.dir.clone()).join("plans")
}

/// The plans of a stack, by name.
pub fn plan_names(stack: &Stack) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(plans_dir(stack))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".yml")).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Reads and validates `plans/NAME.yml`.
pub fn load(stack: &Stack, name: &str) -> Result<Plan, ConfigError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ConfigError::Other(format!("`{name}` is not a plan name: use letters, digits, - and _")));
    }
    let path = plan_path(stack, name);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::Other(format!(
            "no plan `{name}`: {} does not exist{}",
            path.display(),
            match plan_names(stack) {
                names if names.is_empty() => String::new(),
                names => format!(" (plans: {})", names.join(", ")),
            }
        )),
        _ => ConfigError::Read { path: path.clone(), source },
    })?;
    parse(stack, name, &path, &text)
}

/// Parses and validates a plan's text (`path` is where errors point).
pub fn parse(stack: &Stack, name: &str, path: &Path, text: &str) -> Result<Plan, ConfigError> {
    let file = Arc::new(path.to_path_buf());
    let root = yaml::parse(text, &file)?;
    let at =
        |node: &Node, key: String, message: String| ConfigError::at(Location::new(node.span.clone(), key), message);
    let Some(entries) = root.as_map() else {
        return Err(at(&root, String::new(), "a plan is a mapping with `steps:` (and optionally `rollback:`)".into()));
    };
    let mut errors = Vec::new();
    for (key, _) in entries {
        if !matches!(key.name.as_str(), "steps" | "rollback" | "description") {
            errors.push(ConfigError::at(
                Location::new(key.span.clone(), key.name.clone()),
                format!("unknown key `{}`: a plan has `description`, `steps` and `rollback`", key.name),
            ));
        }
    }
    let description = root.get("description").and_then(Node::as_str).map(str::to_string);
    let read_section = |section: &str, errors: &mut Vec<ConfigError>| -> Vec<(usize, Step, Node)> {
        let Some(node) = root.get(section) else { return Vec::new() };
        let Some(items) = node.as_seq() else {
            errors.push(at(node, section.into(), format!("`{section}` is a list of steps")));
            return Vec::new();
        };
        let mut steps = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match read_step(stack, item, &format!("{section}[{i}]"), section == "rollback") {
                Ok(step) => steps.push((i, step, item.clone())),
                Err(e) => errors.push(e),
            }
        }
        steps
    };
    let steps = read_section("steps", &mut errors);
    let rollback = read_section("rollback", &mut errors);
    if root.get("steps").and_then(Node::as_seq).is_none_or(<[Node]>::is_empty) && errors.is_empty() {
        errors.push(at(&root, "steps".into(), "a plan needs at least one step under `steps:`".into()));
    }
    check_names(&root, &mut errors);
    check_order(&root, &steps, &mut errors);
    ConfigError::collect(errors)?;
    Ok(Plan {
        name: name.to_string(),
        path: path.to_path_buf(),
        digest: format!("{:x}", Sha256::digest(text.as_bytes())),
        description,
        steps: steps.into_iter().map(|(_, s, _)| s).collect(),
        rollback: rollback.into_iter().map(|(_, s, _)| s).collect(),
    })
}

/// Names unique across both sections (read from the tree, so a step with other errors still counts).
fn check_names(root: &Node, errors: &mut Vec<ConfigError>) {
    let mut seen = BTreeSet::new();
    for section in ["steps", "rollback"] {
        for (i, node) in root.get(section).and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
            let Some(name) = node.get("name") else { continue };
            if !seen.insert(name.as_str().unwrap_or_default().to_string()) {
                errors.push(ConfigError::at(
                    Location::new(name.span.clone(), format!("{section}[{i}].name")),
                    format!(
                        "two steps are called `{}`: step names are unique in a plan",
                        name.as_str().unwrap_or_default()
                    ),
                ));
            }
        }
    }
}

/// `step_succeeded` only names a step that comes earlier: anything else could never pass (a later step,
/// itself, or a cycle through them).
fn check_order(root: &Node, steps: &[(usize, Step, Node)], errors: &mut Vec<ConfigError>) {
    // Every step written, also those with errors of their own, so only a truly unknown name is called so.
    let items = root.get("steps").and_then(Node::as_seq).unwrap_or(&[]);
    let names: Vec<&str> = items.iter().map(|n| n.get("name").and_then(Node::as_str).unwrap_or_default()).collect();
    for (i, step, node) in steps {
        for gate in &step.gates {
            let Gate::StepSucceeded { steps: wanted } = gate else { continue };
            let span = node.get_path(&["gates", "step_succeeded"]).map_or(node.span.clone(), |n| n.span.clone());
            for w in wanted {
                let message = match names.iter().position(|n| n == w) {
                    None => format!("unknown step `{w}`; steps: {}", names.join(", ")),
                    Some(j) if j == *i => format!("step `{w}` waits for itself: a cycle that can never pass"),
                    Some(j) if j > *i => format!(
                        "step `{}` waits for `{w}`, which comes after it: a cycle that can never pass; move the gate to a later step",
                        step.name
                    ),
                    Some(_) => continue,
                };
                errors.push(ConfigError::at(
                    Location::new(span.clone(), format!("steps[{i}].gates.step_succeeded")),
                    message,
                ));
            }
        }
    }
}

/// The fields a step may have, all optional: which kind it is is checked by hand for a clear message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    backup: Option<RawSources>,
    drill: Option<RawDrill>,
    migrate: Option<RawMigrate>,
    parity: Option<RawParity>,
    smoke: Option<RawSmoke>,
    deploy: Option<RawDeploy>,
    watch: Option<RawWatch>,
    run: Option<String>,
    approve: Option<RawApprove>,
    undo: Option<String>,
    why: Option<String>,
    #[serde(default)]
    idempotent: bool,
    timeout: Option<HumanDuration>,
    #[allow(dead_code)]
    gates: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSources {
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDrill {
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    deep: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigrate {
    source: String,
    target: String,
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParity {
    source: String,
    target: String,
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    counts_only: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSmoke {
    suite: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    service: String,
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    suite: String,
    #[serde(rename = "for")]
    window: HumanDuration,
    every: Option<HumanDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApprove {
    note: Option<String>,
    count: Option<u32>,
}

fn read_step(stack: &Stack, node: &Node, key: &str, in_rollback: bool) -> Result<Step, ConfigError> {
    let fail = |span: &Span, sub: &str, message: String| {
        ConfigError::at(Location::new(span.clone(), format!("{key}{sub}")), message)
    };
    let Some(entries) = node.as_map() else {
        return Err(fail(&node.span, "", "a step is a mapping: `{ name: …, <kind>: … }`".into()));
    };
    let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).filter(|k| KINDS.contains(k)).collect();
    for (k, _) in entries {
        if !KINDS.contains(&k.name.as_str()) && !STEP_KEYS.contains(&k.name.as_str()) {
            return Err(fail(
                &k.span,
                &format!(".{}", k.name),
                format!("unknown step kind `{}`: a step is one of {}", k.name, KINDS.join(", ")),
            ));
        }
    }
    // An empty mapping (`backup: {}`) and a bare key (`backup:`) mean the same.
    let normalized = Node::map(
        entries
            .iter()
            .map(|(k, v)| {
                let empty = v.is_null() && KINDS.contains(&k.name.as_str());
                (k.clone(), if empty { Node::map(Vec::new(), v.span.clone()) } else { v.clone() })
            })
            .collect(),
        node.span.clone(),
    );
    let raw: RawStep = config::from_node(&normalized).map_err(|e| prefix_key(e, key))?;
    let name_span = node.get("name").map_or(node.span.clone(), |n| n.span.clone());
    if raw.name.trim().is_empty() || raw.name.contains(char::is_whitespace) {
        return Err(fail(&name_span, ".name", "a step name is one word (letters, digits, - and _)".into()));
    }
    if kinds.len() != 1 {
        let found = if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
        return Err(fail(&node.span, "", format!("a step needs exactly one of {} (it has {found})", KINDS.join(", "))));
    }
    let kind_span = node.get(kinds[0]).map_or(node.span.clone(), |n| n.span.clone());
    // At the field when there is one (`.target`), else at the kind.
    let kind_fail = |sub: &str, message: String| {
        let field = node.get_path(&[kinds[0], sub.trim_start_matches('.')]).map(|n| &n.span);
        fail(field.unwrap_or(&kind_span), &format!(".{}{sub}", kinds[0]), message)
    };
    let undo_span = node.get("undo").map_or(node.span.clone(), |n| n.span.clone());
    if raw.run.is_none() && (raw.undo.is_some() || raw.why.is_some() || raw.idempotent || raw.timeout.is_some()) {
        let message = match raw.deploy.is_some() {
            true => "only `run` steps take undo/why/idempotent/timeout: a deploy step is undone by `tug rollback`",
            false => "only `run` steps take undo/why/idempotent/timeout",
        };
        return Err(fail(&undo_span, "", message.into()));
    }
    let action = if let Some(b) = raw.backup {
        check_sources(stack, &b.sources).map_err(|m| kind_fail(".sources", m))?;
        Action::Backup { sources: b.sources }
    } else if let Some(d) = raw.drill {
        check_sources(stack, &d.sources).map_err(|m| kind_fail(".sources", m))?;
        Action::Drill { sources: d.sources, deep: d.deep }
    } else if let Some(m) = raw.migrate {
        check_database(stack, &m.source, false).map_err(|e| kind_fail(".source", e))?;
        check_database(stack, &m.target, true).map_err(|e| kind_fail(".target", e))?;
        Action::Migrate { source: m.source, target: m.target, replace: m.replace, tables: m.tables, exclude: m.exclude }
    } else if let Some(p) = raw.parity {
        check_database(stack, &p.source, false).map_err(|e| kind_fail(".source", e))?;
        check_database(stack, &p.target, false).map_err(|e| kind_fail(".target", e))?;
        Action::Parity {
            source: p.source,
            target: p.target,
            tables: p.tables,
            exclude: p.exclude,
            counts_only: p.counts_only,
        }
    } else if let Some(s) = raw.smoke {
        let suite = default_suite(stack, s.suite.as_deref()).map_err(|m| kind_fail(".suite", m))?;
        Action::Smoke { suite: Some(suite) }
    } else if let Some(d) = raw.deploy {
        if !stack.config.deploy.contains_key(&d.service) {
            let known: Vec<&str> = stack.config.deploy.keys().map(String::as_str).collect();
            return Err(kind_fail(
                ".service",
                format!("`{}` is not under `deploy:` in tugboat.yml (deployable: {})", d.service, none_or(&known)),
            ));
        }
        Action::Deploy { service: d.service, image: d.image }
    } else if let Some(w) = raw.watch {
        check_suite(stack, &w.suite).map_err(|m| kind_fail(".suite", m))?;
        if w.window.0.is_zero() {
            return Err(kind_fail(".for", "a watch window must be longer than 0s".into()));
        }
        if w.every.is_some_and(|e| e.0.is_zero() || e.0 > w.window.0) {
            return Err(kind_fail(".every", "`every` must be more than 0s and at most the window (`for`)".into()));
        }
        Action::Watch { suite: w.suite, window: w.window, every: w.every }
    } else if let Some(command) = raw.run {
        if command.trim().is_empty() {
            return Err(kind_fail("", "`run` needs a command".into()));
        }
        let undo = match (raw.undo, raw.why) {
            (Some(u), Some(why)) if u == "none" && !why.trim().is_empty() => Undo::None { why },
            (Some(u), _) if u == "none" => {
                return Err(fail(
                    &undo_span,
                    ".why",
                    "`undo: none` needs `why:`: say why nothing has to be reversed".into(),
                ))
            }
            (Some(u), _) if u.trim().is_empty() => {
                return Err(fail(&undo_span, ".undo", "`undo` needs a command (or `none` with `why:`)".into()))
            }
            (Some(u), _) => Undo::Command { command: u },
            // A rollback step is not itself undone.
            (None, why) if in_rollback => Undo::None { why: why.unwrap_or_else(|| "a rollback step".into()) },
            (None, _) => {
                return Err(fail(
                    &node.span,
                    ".undo",
                    "a `run` step needs `undo:` (the command that reverses it) or `undo: none` with `why:`".into(),
                ))
            }
        };
        Action::Run { command, undo, idempotent: raw.idempotent, timeout: raw.timeout }
    } else if let Some(a) = raw.approve {
        let count = a.count.unwrap_or(1);
        if count == 0 {
            return Err(kind_fail(".count", "an approval needs at least 1 approver".into()));
        }
        Action::Approve { note: a.note, count }
    } else {
        return Err(fail(&node.span, "", format!("a step needs one of {}", KINDS.join(", "))));
    };
    let gates = match node.get("gates") {
        None => Vec::new(),
        Some(_) if in_rollback => {
            return Err(fail(
                &node.span,
                ".gates",
                "rollback steps take no gates: a rollback must never wait for evidence".into(),
            ))
        }
        Some(g) => read_gates(stack, g, &format!("{key}.gates"))?,
    };
    Ok(Step { name: raw.name, action, gates, at: node.span.to_string() })
}

fn read_gates(stack: &Stack, node: &Node, key: &str) -> Result<Vec<Gate>, ConfigError> {
    let fail = |n: &Node, sub: &str, message: String| {
        ConfigError::at(Location::new(n.span.clone(), format!("{key}{sub}")), message)
    };
    let Some(entries) = node.as_map() else {
        return Err(fail(node, "", "`gates` is a mapping: `{ drill_passed_within: 24h, approved_by: 1 }`".into()));
    };
    let mut gates = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in entries {
        let sub = format!(".{}", k.name);
        let result = read_gate(stack, &k.name, v).map_err(|m| fail(v, &sub, m));
        match result {
            Ok(g) => gates.push(g),
            Err(e) => errors.push(e),
        }
    }
    ConfigError::collect(errors)?;
    Ok(gates)
}

/// One gate: a duration (`24h`) or the long form (`{ source: main, within: 24h }`).
fn read_gate(stack: &Stack, name: &str, v: &Node) -> Result<Gate, String> {
    let duration = |n: Option<&Node>, field: &str| -> Result<HumanDuration, String> {
        let text =
            n.and_then(Node::as_str).ok_or_else(|| format!("`{field}` needs a duration such as 15m, 1h or 24h"))?;
        HumanDuration::parse(text)
    };
    let string = |field: &str| v.get(field).and_then(Node::as_str).map(str::to_string);
    let short = v.as_str().is_some();
    let allowed = |fields: &[&str]| -> Result<(), String> {
        for (k, _) in v.as_map().unwrap_or(&[]) {
            if !fields.contains(&k.name.as_str()) {
                return Err(format!("unknown field `{}`; `{name}` takes {}", k.name, fields.join(", ")));
            }
        }
        Ok(())
    };
    match name {
        "drill_passed_within" => {
            if short {
                return Ok(Gate::DrillPassedWithin { source: None, within: duration(Some(v), "within")? });
            }
            allowed(&["source", "within"])?;
            let source = string("source");
            if let Some(s) = &source {
                check_sources(stack, std::slice::from_ref(s))?;
            }
            Ok(Gate::DrillPassedWithin { source, within: duration(v.get("within"), "within")? })
        }
        "parity_equal" => {
            allowed(&["source", "target", "within"])?;
            let (Some(source), Some(target)) = (string("source"), string("target")) else {
                return Err("`parity_equal` needs `{ source: DB, target: DB, within: 1h }`".into());
            };
            check_database(stack, &source, false)?;
            check_database(stack, &target, false)?;
            Ok(Gate::ParityEqual { source, target, within: duration(v.get("within"), "within")? })
        }
        "smoke_passed_within" => {
            if short {
                let suite = default_suite(stack, None)?;
                return Ok(Gate::SmokePassedWithin { suite, within: duration(Some(v), "within")? });
            }
            allowed(&["suite", "within"])?;
            let suite = default_suite(stack, string("suite").as_deref())?;
            Ok(Gate::SmokePassedWithin { suite, within: duration(v.get("within"), "within")? })
        }
        "approved_by" => match v.as_str().and_then(|s| s.parse::<u32>().ok()) {
            Some(count) if count >= 1 => Ok(Gate::ApprovedBy { count }),
            _ => Err("`approved_by` is how many people must approve: 1 or more".into()),
        },
        "step_succeeded" => {
            let steps: Vec<String> = match (v.as_str(), v.as_seq()) {
                (Some(s), _) => vec![s.to_string()],
                (_, Some(items)) => items.iter().filter_map(Node::as_str).map(str::to_string).collect(),
                _ => return Err("`step_succeeded` names a step (or a list of steps)".into()),
            };
            Ok(Gate::StepSucceeded { steps })
        }
        "watch_clean_for" => {
            if short {
                return Ok(Gate::WatchCleanFor { suite: None, window: duration(Some(v), "for")? });
            }
            allowed(&["suite", "for"])?;
            let suite = string("suite");
            if let Some(s) = &suite {
                check_suite(stack, s)?;
            }
            Ok(Gate::WatchCleanFor { suite, window: duration(v.get("for"), "for")? })
        }
        other => Err(format!(
            "unknown gate `{other}`: gates are drill_passed_within, parity_equal, smoke_passed_within, approved_by, step_succeeded, watch_clean_for"
        )),
    }
}

/// A database as migrate and parity take it: a name under `databases:`, a URL, or (targets) `scratch`.
fn check_database(stack: &Stack, spec: &str, target: bool) -> Result<(), String> {
    if spec.contains("://") || (target && spec == "scratch") || stack.config.databases.contains_key(spec) {
        return Ok(());
    }
    let known: Vec<&str> = stack.config.databases.keys().map(String::as_str).collect();
    Err(format!("unknown database `{spec}`: name one under `databases:` ({}) or give a URL", none_or(&known)))
}

fn check_sources(stack: &Stack, sources: &[String]) -> Result<(), String> {
    let Some(backup) = &stack.config.backup else {
        return Err("tugboat.yml has no `backup:` section".into());
    };
    let known: Vec<String> = backup.sources.iter().map(|s| s.display_name()).collect();
    match sources.iter().find(|s| !known.contains(s)) {
        Some(s) => Err(format!("unknown backup source `{s}` (sources: {})", known.join(", "))),
        None => Ok(()),
    }
}

fn check_suite(stack: &Stack, suite: &str) -> Result<(), String> {
    if stack.config.checks.contains_key(suite) {
        return Ok(());
    }
    let known: Vec<&str> = stack.config.checks.keys().map(String::as_str).collect();
    Err(format!("unknown suite `{suite}`: define it under `checks:` (suites: {})", none_or(&known)))
}

/// The suite named, or `smoke`, or the only suite — as `tug smoke` picks it.
fn default_suite(stack: &Stack, suite: Option<&str>) -> Result<String, String> {
    match suite {
        Some(s) => check_suite(stack, s).map(|()| s.to_string()),
        None if stack.config.checks.contains_key("smoke") => Ok("smoke".into()),
        None if stack.config.checks.len() == 1 => Ok(stack.config.checks.keys().next().cloned().unwrap_or_default()),
        None => Err("name the suite: `{ suite: NAME, … }`".into()),
    }
}

fn none_or(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Prefixes a serde error's key path with the step's (`steps[2].migrate.source`).
fn prefix_key(e: ConfigError, key: &str) -> ConfigError {
    match e {
        ConfigError::At { location, message } => {
            let path =
                if location.key_path.is_empty() { key.to_string() } else { format!("{key}.{}", location.key_path) };
            ConfigError::At { location: Location::new(location.span, path), message }
        }
        other => other,
    }
}

impl Plan {
    /// Every step of both sections, by name.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().chain(&self.rollback).find(|s| s.name == name)
    }

    /// The longest watch window, for the report's scale.
    pub fn longest_window(&self) -> Duration {
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Watch { window, .. } => Some(window.0),
                _ => None,
            })
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests;
