//! Databases: MariaDB/MySQL and PostgreSQL through their own client tools.
//!
//! tugboat talks to databases through the native clients (`mariadb`, `psql`, `mariadb-dump`, `pg_dump`,
//! `pg_restore`) rather than wire-protocol drivers: the same code then reaches a database on a URL and one
//! inside a compose service whose port is not published (`docker exec -i CONTAINER mariadb …`), dumps are
//! the tools operators already trust, and the build stays small. A [`Session`] keeps one client process
//! open and speaks a simple marker protocol over its stdin/stdout so queries cost no process start.

pub mod dump;
pub mod endpoint;
pub mod resolve;
pub mod schema;
pub mod scratch;
pub mod session;

pub use endpoint::{Endpoint, Engine, Target};
pub use session::Session;

/// What went wrong talking to a database. Messages name the command and carry the tool's stderr, never a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{tool} is not installed: install the Debian package {package} (apt-get install {package})")]
    ToolMissing { tool: String, package: String },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{0}")]
    Protocol(String),
    #[error("invalid database URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("the dump failed: `{command}` exited with {status}: {stderr}")]
    Dump { command: String, status: String, stderr: String },
    #[error("the restore failed: {stderr}{}", statement.as_ref().map(|s| format!("\n  failing statement: {s}")).unwrap_or_default())]
    Restore { stderr: String, statement: Option<String> },
}

impl DbError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DbError {
        let what = what.into();
        move |source| DbError::Io { what, source }
    }
}

pub type Result<T> = std::result::Result<T, DbError>;

/// Finds a client tool on PATH (or, for PostgreSQL server tools, in /usr/lib/postgresql/*/bin).
pub fn find_tool(tool: &str) -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(std::path::PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or_else(|| DbError::ToolMissing { tool: tool.to_string(), package: package_for(tool).to_string() })
}

/// The Debian package that ships a tool, for "install X" messages.
pub fn package_for(tool: &str) -> &'static str {
    match tool {
        "mariadb" | "mysql" | "mariadb-dump" | "mysqldump" | "mariadb-admin" => "mariadb-client",
        "mariadbd" | "mysqld" | "mariadb-install-db" | "mysql_install_db" => "mariadb-server",
        "psql" | "pg_dump" | "pg_restore" => "postgresql-client",
        "postgres" | "initdb" | "pg_ctl" => "postgresql",
        "docker" => "docker.io",
        _ => "the package that provides it",
    }
}

impl crate::ops::Classify for DbError {
    fn kind(&self) -> crate::ops::ErrorKind {
        use crate::ops::ErrorKind;
        match self {
            // A URL or name the user wrote that cannot mean a database.
            DbError::Protocol(_) | DbError::BadUrl { .. } => ErrorKind::Usage,
            DbError::ToolMissing { .. }
            | DbError::Command { .. }
            | DbError::Io { .. }
            | DbError::Dump { .. }
            | DbError::Restore { .. } => ErrorKind::CannotAct,
        }
    }
}
