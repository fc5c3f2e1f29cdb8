//! `tug backup forget [--prune]` as an engine operation: plan (apply `backup.keep` to each source's
//! snapshots: what is kept and why, what goes), then forget those snapshots and, with `prune`, remove the
//! data nothing uses any more.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{self, Ctx, Error, ErrorKind, Operation, Subject, Verdict};
use tugboat::stack::Stack;

use crate::config::{backup_config, SnapshotRef};
use crate::repo::{ForgetPlan, KeepPolicy, Repo, RepoConfig};

/// Snapshots are grouped by this tag: the keep policy applies to each source on its own.
const GROUP_TAG: &str = "source=";

/// `tug backup forget`.
#[derive(Debug, Clone)]
pub struct Forget<'a> {
    pub stack: &'a Stack,
    /// Also delete the data only forgotten snapshots used.
    pub prune: bool,
}

/// What forgetting will do, per the policy as it applies now.
#[derive(Debug, Serialize)]
pub struct RetentionPlan {
    pub repository: String,
    pub policy: KeepPolicy,
    pub prune: bool,
    /// Kept snapshots, oldest first, with why (restic's reasons: `last`, `daily`, …).
    pub keep: Vec<Kept>,
    /// Snapshots that will be forgotten, oldest first.
    pub remove: Vec<SnapshotRef>,
    #[serde(skip)]
    repo: Repo,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Kept {
    #[serde(flatten)]
    pub snapshot: SnapshotRef,
    pub reasons: Vec<String>,
}

/// What was forgotten (the policy applied again when it ran, so a snapshot taken meanwhile counts).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetReport {
    pub prune: bool,
    #[serde(flatten)]
    pub result: ForgetPlan,
}

impl fmt::Display for RetentionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "apply the keep policy ({}) to each source in {}", policy_text(&self.policy), self.repository)?;
        for k in &self.keep {
            let source = k.snapshot.source.as_deref().unwrap_or("-");
            writeln!(f, "keep         {}  {}  {source:<16} {}", k.snapshot.id, k.snapshot.time, k.reasons.join(", "))?;
        }
        for s in &self.remove {
            writeln!(f, "would remove {}  {}  {}", s.id, s.time, s.source.as_deref().unwrap_or("-"))?;
        }
        let then = if self.prune { ", then prune the data they alone use" } else { "" };
        writeln!(f, "{} kept, {} to forget{then}", self.keep.len(), self.remove.len())
    }
}

/// `last 2, daily 7`.
pub fn policy_text(p: &KeepPolicy) -> String {
    let parts = [
        ("last", p.last),
        ("hourly", p.hourly),
        ("daily", p.daily),
        ("weekly", p.weekly),
        ("monthly", p.monthly),
        ("yearly", p.yearly),
    ];
    parts.iter().filter_map(|(name, n)| n.map(|n| format!("{name} {n}"))).collect::<Vec<_>>().join(", ")
}

impl Verdict for ForgetReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> Value {
        json!({
            "kept": self.result.keep.len(),
            "removed": self.result.remove.iter().map(|s| &s.short_id).collect::<Vec<_>>(),
        })
    }
}

impl Operation for Forget<'_> {
    type Plan = RetentionPlan;
    type Report = ForgetReport;

    fn command(&self) -> &'static str {
        "backup forget"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> Value {
        json!({"prune": self.prune})
    }

    fn plan(&self, _ctx: &mut Ctx) -> ops::Result<RetentionPlan> {
        let policy = backup_config(self.stack)?.keep;
        if policy.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "backup.keep is empty: set e.g. { daily: 7, weekly: 4, monthly: 12 } before forgetting anything",
            ));
        }
        let config = RepoConfig::for_stack(self.stack)?;
        let repo = Repo::open(&config)?;
        // A dry run of the policy: it reads the snapshots and changes nothing.
        let decision = repo.forget(&policy, GROUP_TAG, true, false)?;
        Ok(RetentionPlan {
            repository: config.display_location(),
            policy,
            prune: self.prune,
            keep: decision
                .keep
                .iter()
                .map(|(s, r)| Kept { snapshot: SnapshotRef::of(s), reasons: r.clone() })
                .collect(),
            remove: decision.remove.iter().map(SnapshotRef::of).collect(),
            repo,
        })
    }

    fn run(&self, plan: &RetentionPlan, _ctx: &mut Ctx) -> ops::Result<ForgetReport> {
        let result = plan.repo.forget(&plan.policy, GROUP_TAG, false, plan.prune)?;
        Ok(ForgetReport { prune: plan.prune, result })
    }
}
