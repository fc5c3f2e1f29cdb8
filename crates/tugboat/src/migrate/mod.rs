//! `tug migrate`: copy a database with its own tools, streamed (`mariadb-dump | mariadb`,
//! `pg_dump -Fc | pg_restore`), never through a temporary file, then prove parity.
//!
//! The source is only ever read (`--single-transaction` dumps take no locks). The target must be empty
//! unless the caller asked to replace it; a restore that fails names the statement that failed; a run
//! that dies half-way leaves a `running` row in the state database, so the next run knows the target is
//! incomplete.

use std::process::Command;

use serde::Serialize;

mod operation;

pub use crate::db::dump::{clear_target, copy, dump_command, dump_file_name, restore_command, restore_from, Copied};
use crate::db::schema;
use crate::db::scratch::version_mismatch;
use crate::db::session::{describe, Session};
use crate::db::{DbError, Endpoint, Engine};
pub use operation::{Migrate, MigratePlan, MigrateReport};

/// What will happen, shown by `--dry-run` and checked before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: String,
    pub target: String,
    pub engine: Engine,
    pub source_version: String,
    pub target_version: String,
    /// Tables already in the target.
    pub target_tables: usize,
    pub replace: bool,
    pub dump_command: String,
    pub restore_command: String,
    /// Things that will not stop the copy but that the operator must know (an older target server, objects
    /// the dump user cannot read).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("source and target must be the same engine (source is {0}, target is {1}); cross-engine copies need a conversion tool")]
    EngineMismatch(&'static str, &'static str),
    #[error("the target already holds {0} tables: replacing them must be allowed explicitly")]
    TargetNotEmpty(usize),
    #[error("source and target are the same database ({0}): migrating it onto itself would destroy it")]
    SameDatabase(String),
}

impl crate::ops::Classify for MigrateError {
    fn kind(&self) -> crate::ops::ErrorKind {
        use crate::ops::ErrorKind;
        match self {
            MigrateError::Db(e) => crate::ops::Classify::kind(e),
            MigrateError::EngineMismatch(..) | MigrateError::TargetNotEmpty(_) | MigrateError::SameDatabase(_) => {
                ErrorKind::Usage
            }
        }
    }
    fn guidance(&self) -> Option<crate::ops::Guidance> {
        matches!(self, MigrateError::TargetNotEmpty(_)).then_some(crate::ops::Guidance::AllowReplace)
    }
}

/// Connects to both sides and checks that the copy can go ahead.
pub fn plan(source: &Endpoint, target: &Endpoint, replace: bool) -> Result<Plan, MigrateError> {
    if source.engine != target.engine {
        return Err(MigrateError::EngineMismatch(source.engine.name(), target.engine.name()));
    }
    if source.same_database(target) {
        return Err(MigrateError::SameDatabase(source.to_string()));
    }
    let src = Session::connect(source)?;
    let mut tgt = Session::connect(target)?;
    let target_tables = schema::tables(&mut tgt)?.len();
    if target_tables > 0 && !replace {
        return Err(MigrateError::TargetNotEmpty(target_tables));
    }
    let (dump, restore) = commands(source, target)?;
    Ok(Plan {
        source: source.to_string(),
        target: target.to_string(),
        engine: source.engine,
        source_version: src.server_version().to_string(),
        target_version: tgt.server_version().to_string(),
        target_tables,
        replace,
        dump_command: describe(&dump),
        restore_command: describe(&restore),
        warnings: version_mismatch(source.engine, src.server_version(), tgt.server_version())
            .into_iter()
            .chain(unreadable_routines(source)?)
            .collect(),
    })
}

/// The plan of a rehearsal: the target is a scratch server this run will start, empty by construction.
pub fn plan_rehearsal(source: &Endpoint) -> Result<Plan, MigrateError> {
    let src = Session::connect(source)?;
    // Scratch servers listen on loopback, on a port chosen when they start.
    let scratch = Endpoint {
        target: crate::db::Target::Tcp { host: "127.0.0.1".into(), port: 0, socket: None },
        ..source.clone()
    };
    let (dump, restore) = commands(source, &scratch)?;
    Ok(Plan {
        source: source.to_string(),
        target: "scratch".into(),
        engine: source.engine,
        source_version: src.server_version().to_string(),
        target_version: format!("this host's {} server", source.engine.name()),
        target_tables: 0,
        replace: false,
        dump_command: describe(&dump),
        // The port is the scratch server's, chosen when it starts.
        restore_command: describe(&restore).replace("--port=0", "--port=<scratch>"),
        warnings: unreadable_routines(source)?.into_iter().collect(),
    })
}

/// MariaDB dumps only the routines its user may read (SELECT on `mysql.proc`; SHOW CREATE ROUTINE from
/// 11.3), silently leaving out the rest — and parity as the same user cannot see them either.
fn unreadable_routines(source: &Endpoint) -> Result<Option<String>, DbError> {
    if source.engine != Engine::Mariadb {
        return Ok(None);
    }
    // A failing statement ends a session, so each probe gets its own.
    if Session::connect(source)?.query("SELECT 1 FROM mysql.proc LIMIT 1").is_ok() {
        return Ok(None);
    }
    let grants: Vec<String> = Session::connect(source)?
        .query("SHOW GRANTS")?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let covered = grants.iter().any(|g| {
        let g = g.to_ascii_uppercase();
        g.contains("SHOW CREATE ROUTINE")
            || g.contains("ALL PRIVILEGES ON *.*")
            || g.starts_with("GRANT SELECT") && g.contains(" ON *.*")
    });
    Ok((!covered).then(|| {
        format!(
            "user `{}` cannot read stored routines (grant SELECT ON mysql.proc, or SHOW CREATE ROUTINE on MariaDB 11.3+): \
             the dump will leave procedures and functions out, and parity as the same user cannot see them",
            source.user
        )
    }))
}

fn commands(source: &Endpoint, target: &Endpoint) -> Result<(Command, Command), DbError> {
    Ok((dump_command(source, &[])?, restore_command(target)?))
}

#[cfg(test)]
mod tests;
