//! tugboat's backup layer: a restic-compatible repository written through rustic_core, with restic-compatible locks,
//! and the operations on it — backup, `backup init`, `backup forget`, restore, drill — each planned, then run
//! (see `tugboat::ops`).

mod backend;
pub mod backup;
pub mod config;
pub mod drill;
pub mod forget;
#[doc(hidden)]
pub mod fuzzing;
pub mod init;
mod lock;
pub mod repo;
mod rest;
pub mod restore;
pub mod run;

pub use backup::{Backup, BackupPlan, SourcePlan};
pub use config::{open_repo, SnapshotRef};
pub use drill::{Drill, DrillPlan, DrillReport, DrillResults, DrillSourcePlan};
pub use forget::{Forget, ForgetReport, RetentionPlan};
pub use init::{InitPlan, InitRepo, InitReport};
pub use repo::RepoConfig;
pub use restore::{Restore, RestorePlan, RestoreReport};
pub use run::{BackupRun, SourceOutcome};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
