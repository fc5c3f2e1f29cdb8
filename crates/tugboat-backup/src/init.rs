//! `tug backup init` as an engine operation: plan (the location, and that no repository is there yet),
//! then create the repository.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{self, Ctx, Operation, Subject, Verdict};
use tugboat::stack::Stack;

use crate::repo::{BackupError, Repo, RepoConfig};

/// `tug backup init`: the repository named in `tugboat.yml`.
#[derive(Debug, Clone)]
pub struct InitRepo<'a> {
    pub stack: &'a Stack,
}

#[derive(Debug, Serialize)]
pub struct InitPlan {
    /// Where the repository will be (a URL's password masked).
    pub repository: String,
    /// restic's repository format, and its compression.
    pub format: &'static str,
    #[serde(skip)]
    config: RepoConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub repository: String,
    pub created: bool,
}

impl fmt::Display for InitPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "create repository {} ({})", self.repository, self.format)
    }
}

impl Verdict for InitReport {
    fn problem(&self) -> Option<String> {
        None
    }
}

impl Operation for InitRepo<'_> {
    type Plan = InitPlan;
    type Report = InitReport;

    fn command(&self) -> &'static str {
        "backup init"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> Value {
        json!({})
    }

    fn plan(&self, _ctx: &mut Ctx) -> ops::Result<InitPlan> {
        let config = RepoConfig::for_stack(self.stack)?;
        let repository = config.display_location();
        // Only read: is a repository there already (with this password or another)?
        match Repo::open(&config) {
            Ok(_) | Err(BackupError::WrongPassword { .. }) => {
                return Err(BackupError::AlreadyExists { location: repository }.into())
            }
            Err(BackupError::NotARepository { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(InitPlan { repository, format: "restic format 2, zstd-compressed, encrypted", config })
    }

    fn run(&self, plan: &InitPlan, _ctx: &mut Ctx) -> ops::Result<InitReport> {
        Repo::init(&plan.config)?;
        Ok(InitReport { repository: plan.repository.clone(), created: true })
    }
}
