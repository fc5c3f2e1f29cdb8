//! The one integration-test binary: runs the real `tug` in temp dirs (see `util.rs`).
//!
//! Modules by subject: every shipped example, each check rule (with a stack that triggers it and a
//! hardened one that does not), output formats pinned by snapshots, SARIF schema validation, `tug init`
//! and the audit log, bad input, `tug config` against Docker Compose, `tug diff-env`, and databases reached
//! inside compose services with `docker exec` (`containers`, which needs a running Docker Engine).

// A test binary: a failed `expect` in a helper is a failed test with its message, which is what we want
// (clippy's allow-expect-in-tests covers only `#[test]` functions, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod backups;
mod check_kubernetes;
mod compose_v2;
mod config;
mod containers;
mod cut_off;
mod cut_off_network;
mod databases;
mod deploy;
mod deploy_cases;
mod deploy_faults;
mod diff_env;
mod disk_full;
mod doctor;
mod engine_restart;
mod errors;
mod examples;
mod export_k8s;
mod faults;
mod formats;
mod help;
mod logs;
mod logs_history;
mod operations;
mod operations_backup;
mod plans;
mod rules;
mod runtime;
mod runtime_conformance;
mod runtime_support;
mod sarif;
mod scan;
mod search_parity;
mod secret_canaries;
mod util;
mod watch;
mod weakened;
