//! Turning what a user types (`main`, `mysql://…`, a compose service) into an [`Endpoint`].

use super::endpoint::{Endpoint, Engine, Target};
use super::{find_tool, DbError, Result};
use crate::secret::Secret;
use crate::stack::config::{DatabaseConfig, DatabaseKind};
use crate::stack::interpolate::interpolate;
use crate::stack::Stack;

/// A URL, or the name of a database in `tugboat.yml`.
pub fn resolve(spec: &str, stack: Option<&Stack>) -> Result<Endpoint> {
    if spec.contains("://") {
        return Endpoint::parse_url(spec);
    }
    let Some(stack) = stack else {
        return Err(DbError::Protocol(format!("`{spec}` is not a URL and there is no tugboat.yml to look it up in")));
    };
    let Some(db) = stack.config.databases.get(spec) else {
        let known: Vec<&str> = stack.config.databases.keys().map(String::as_str).collect();
        return Err(DbError::Protocol(format!(
            "no database `{spec}` in tugboat.yml (defined: {}); give a URL like mysql://user:${{PASSWORD}}@host:3306/db instead",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    };
    from_config(spec, db, stack)
}

fn from_config(name: &str, db: &DatabaseConfig, stack: &Stack) -> Result<Endpoint> {
    let engine = match db.kind {
        DatabaseKind::Mariadb => Engine::Mariadb,
        DatabaseKind::Postgres => Engine::Postgres,
    };
    let var = |v: &str| stack.variable(v);
    let required = |v: &str, what: &str| {
        var(v).ok_or_else(|| {
            DbError::Protocol(format!("databases.{name}.{what}: variable {v} is not set (in the environment or .env)"))
        })
    };
    let mut endpoint = match (&db.url, &db.container) {
        (Some(url), _) => {
            let url = interpolate(url, &|k| var(k), &mut Vec::new())
                .map_err(|e| DbError::Protocol(format!("databases.{name}.url: {}", e.message)))?;
            Endpoint::parse_url(&url)?
        }
        (None, Some(service)) => {
            let database = db
                .database
                .clone()
                .ok_or_else(|| DbError::Protocol(format!("databases.{name}: a container database needs `database`")))?;
            let default_user = if engine == Engine::Mariadb { "root" } else { "postgres" };
            Endpoint {
                engine,
                target: Target::Container { container: container_for(service, stack)? },
                user: default_user.into(),
                password: None,
                database,
            }
        }
        (None, None) => return Err(DbError::Protocol(format!("databases.{name}: needs `url` or `container`"))),
    };
    if let Some(u) = &db.user {
        endpoint.user = u.clone();
    }
    if let Some(v) = &db.user_env {
        endpoint.user = required(v, "user_env")?;
    }
    if let Some(v) = &db.password_env {
        endpoint.password = Some(Secret::new(required(v, "password_env")?));
    }
    if let Some(f) = &db.password_file {
        let path = stack.dir.join(f);
        let text = std::fs::read_to_string(&path)
            .map_err(DbError::io(format!("databases.{name}.password_file {}", path.display())))?;
        endpoint.password = Some(Secret::new(text.trim_end_matches(['\n', '\r'])));
    }
    if let (Some(d), Target::Tcp { .. }) = (&db.database, &endpoint.target) {
        endpoint.database = d.clone();
    }
    Ok(endpoint)
}

/// The running container of a compose service, found by Compose's own labels (v1 and v2 set them).
///
/// Only a container of this stack's compose project counts: `COMPOSE_PROJECT_NAME` (environment or .env),
/// the compose file's `name:`, the stack's name, or its directory's name, as Compose normalises them.
/// Another project's container of the same service (a second stack on the host, say) is never used: its
/// database is not this stack's.
pub fn container_for(service: &str, stack: &Stack) -> Result<String> {
    let docker = find_tool("docker")?;
    let filter = format!("label=com.docker.compose.service={service}");
    let out = std::process::Command::new(&docker)
        .args(["ps", "--format", "{{.ID}} {{.Label \"com.docker.compose.project\"}}", "--filter", &filter])
        .output()
        .map_err(DbError::io("docker ps"))?;
    if !out.status.success() {
        return Err(DbError::Command {
            command: "docker ps".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    let projects = compose_projects(stack);
    if let Some((id, _)) = rows.iter().find(|(_, p)| projects.iter().any(|ours| ours == p)) {
        return Ok(id.to_string());
    }
    let mut elsewhere: Vec<&str> = rows.iter().map(|(_, p)| *p).filter(|p| !p.is_empty()).collect();
    elsewhere.sort_unstable();
    elsewhere.dedup();
    // Could not act (the stack is down), not a usage error: DbError::Command, whose exit code is 3.
    Err(DbError::Command {
        command: format!("docker ps --filter {filter}"),
        stderr: format!(
            "no running container for compose service `{service}` in compose project `{}`{}: start the stack \
             (docker compose up -d {service}), or set COMPOSE_PROJECT_NAME when it runs under another project name",
            projects.first().map(String::as_str).unwrap_or("?"),
            if elsewhere.is_empty() {
                String::new()
            } else {
                format!(" (it runs only in other projects: {})", elsewhere.join(", "))
            }
        ),
    })
}

/// The names this stack's compose project may run under, most likely first: `COMPOSE_PROJECT_NAME`
/// (environment or .env), the compose file's `name:`, the stack's name, its directory's name.
pub fn compose_projects(stack: &Stack) -> Vec<String> {
    let directory = stack.dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let compose_name = stack.project.root.get("name").and_then(crate::stack::Node::as_str).map(str::to_string);
    let mut projects: Vec<String> =
        [stack.variable("COMPOSE_PROJECT_NAME"), compose_name, Some(stack.name.clone()), directory]
            .into_iter()
            .flatten()
            .map(|p| normalize_project(&p))
            .filter(|p| !p.is_empty())
            .collect();
    projects.dedup();
    projects
}

/// A compose project name as Compose normalises it: lowercase, only `a-z0-9_-`.
fn normalize_project(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect()
}
