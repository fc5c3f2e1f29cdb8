//! tugboat, the engine behind `tug`: reads a self-hosted stack (compose files, `.env`, `tugboat.yml`),
//! checks it, and records every change in a tamper-evident audit log.
//!
//! This crate knows nothing of terminals, argument parsing or process exit codes; the `tug` binary does.

pub mod check;
pub mod db;
pub mod doctor;
pub mod export;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod migrate;
pub mod ops;
pub mod parity;
pub mod secret;
pub mod stack;
pub mod store;
pub mod yaml_emit;
