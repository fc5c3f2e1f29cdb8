//! `tug init`: a commented `tugboat.yml` proposed from an existing compose project.

use std::collections::BTreeSet;

use super::{Service, Stack};

/// What `tug init` found and will write.
#[derive(Debug, Clone)]
pub struct InitProposal {
    pub config_text: String,
    /// A `.env.template` to write when the project has none.
    pub template_text: Option<String>,
    pub databases: Vec<(String, &'static str)>,
    pub published_ports: Vec<u32>,
    pub variables: Vec<String>,
}

/// Detects a database engine from a service's image.
pub fn database_kind(s: &Service) -> Option<&'static str> {
    let image = s.image.as_deref()?.to_ascii_lowercase();
    let repo = image.split(['@']).next()?.rsplit('/').next()?.split(':').next()?;
    match repo {
        "mariadb" | "mysql" | "percona" => Some("mariadb"),
        "postgres" | "postgis" | "timescaledb" | "pgvector" => Some("postgres"),
        _ => None,
    }
}

/// Builds the proposal from a stack loaded without a `tugboat.yml`.
pub fn propose(stack: &Stack) -> InitProposal {
    let services = &stack.project.services;
    let databases: Vec<(String, &'static str)> =
        services.iter().filter_map(|s| database_kind(s).map(|k| (s.name.clone(), k))).collect();
    let published: BTreeSet<u32> = services
        .iter()
        .flat_map(|s| s.ports.iter().filter(|p| !p.is_loopback()).flat_map(|p| p.published_ports()))
        .collect();
    let mut variables: BTreeSet<String> = stack.project.variables_used.iter().map(|v| v.name.clone()).collect();
    if !databases.is_empty() {
        // The proposed `user_env` / `password_env` must be declared too (TB019).
        variables.extend(["DB_USER".to_string(), "DB_PASSWORD".to_string()]);
    }
    let compose: Vec<String> =
        stack.compose_files().iter().map(|f| f.strip_prefix(&stack.dir).unwrap_or(f).display().to_string()).collect();

    let mut t = String::new();
    t.push_str("# tugboat.yml — written by `tug init`; see docs/config.md for every key.\n");
    t.push_str(&format!("stack: {}\n", stack.name));
    t.push_str(&format!(
        "# Compose files, merged in order like `docker compose -f a -f b`.\ncompose: [{}]\n",
        compose.join(", ")
    ));
    t.push_str("# Variables come from the process environment, then this file.\nenv_file: .env\n");
    t.push_str("# Every ${VAR} the compose files use must be declared here (rules TB019/TB020).\nenv_template: .env.template\n");
    t.push_str("# environments:\n#   staging: { compose: [docker-compose.staging.yml] }\n");
    t.push_str("policy:\n");
    t.push_str(
        "  # Host ports that may be reachable from other machines; anything else published is a finding (TB015).\n",
    );
    t.push_str("  # Proposed from what is published today — remove what should not be public.\n");
    let ports: Vec<String> = published.iter().map(u32::to_string).collect();
    t.push_str(&format!("  published_ports: [{}]\n", ports.join(", ")));
    t.push_str("  # Exemptions need a reason, which reports show:\n  # exempt: { ollama: { TB001: \"needs root for GPU device files\" } }\n");
    if databases.is_empty() {
        t.push_str("# databases:\n#   main: { kind: postgres, url: \"postgres://backup:${DB_BACKUP_PASSWORD}@127.0.0.1:5432/app\" }\n");
    } else {
        t.push_str("# Databases found by image. Native tools run inside the container (docker exec) unless you give a `url`.\ndatabases:\n");
        for (name, kind) in &databases {
            t.push_str(&format!(
                "  {name}: {{ kind: {kind}, container: {name}, database: CHANGE_ME, user_env: DB_USER, password_env: DB_PASSWORD }}\n"
            ));
        }
    }
    if !variables.is_empty() {
        t.push_str(&format!(
            "# Variables used by the compose files: {}\n",
            variables.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let template_text = stack.env_template.is_none().then(|| {
        let mut s = String::from("# Every variable the stack uses. Copy to .env and fill in; never commit .env.\n");
        for v in &variables {
            s.push_str(&format!("{v}=\n"));
        }
        s
    });
    InitProposal {
        config_text: t,
        template_text,
        databases,
        published_ports: published.into_iter().collect(),
        variables: variables.into_iter().collect(),
    }
}

/// `tug init` as an engine operation: propose, then write `tugboat.yml` (and `.env.template` when the project
/// has none), each atomically.
pub struct Init<'a> {
    /// The compose project as Compose reads it, ignoring any tugboat.yml about to be replaced.
    pub project: &'a Stack,
    /// Replace an existing tugboat.yml.
    pub force: bool,
}

/// What `tug init` will write.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitPlan {
    /// The files to write, in order.
    pub write: Vec<std::path::PathBuf>,
    pub databases: Vec<serde_json::Value>,
    pub published_ports: Vec<u32>,
    pub force: bool,
    #[serde(skip)]
    config_text: String,
    #[serde(skip)]
    template_text: Option<String>,
}

impl std::fmt::Display for InitPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.config_text)?;
        if let Some(t) = self.template_text.as_ref().filter(|_| self.write.len() > 1) {
            write!(f, "\n# --- .env.template ---\n{t}\n")?;
        }
        Ok(())
    }
}

/// What `tug init` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitReport {
    pub written: Vec<std::path::PathBuf>,
}

impl crate::ops::Verdict for InitReport {
    fn problem(&self) -> Option<String> {
        None
    }
    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({"written": self.written})
    }
}

impl crate::ops::Operation for Init<'_> {
    type Plan = InitPlan;
    type Report = InitReport;

    fn command(&self) -> &'static str {
        "init"
    }

    fn subject(&self) -> crate::ops::Subject {
        crate::ops::Subject::of(self.project)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::json!({"dir": self.project.dir, "force": self.force})
    }

    fn plan(&self, _ctx: &mut crate::ops::Ctx) -> crate::ops::Result<InitPlan> {
        let config = self.project.dir.join("tugboat.yml");
        if config.exists() && !self.force {
            return Err(crate::ops::Error::usage(format!("{} exists", config.display()))
                .with_guidance(crate::ops::Guidance::AllowReplace));
        }
        let proposal = propose(self.project);
        let template = self.project.dir.join(".env.template");
        let mut write = vec![config];
        if proposal.template_text.is_some() && !template.exists() {
            write.push(template);
        }
        Ok(InitPlan {
            write,
            databases: proposal
                .databases
                .iter()
                .map(|(service, kind)| serde_json::json!({"service": service, "kind": kind}))
                .collect(),
            published_ports: proposal.published_ports,
            force: self.force,
            config_text: proposal.config_text,
            template_text: proposal.template_text,
        })
    }

    fn run(&self, plan: &InitPlan, _ctx: &mut crate::ops::Ctx) -> crate::ops::Result<InitReport> {
        let texts = std::iter::once(&plan.config_text).chain(plan.template_text.as_ref());
        let mut written = Vec::new();
        for (path, text) in plan.write.iter().zip(texts) {
            crate::fs::write_atomic(path, text.as_bytes())
                .map_err(|e| crate::ops::Error::cannot_act(format!("cannot write {}: {e}", path.display())))?;
            written.push(path.clone());
        }
        Ok(InitReport { written })
    }
}
