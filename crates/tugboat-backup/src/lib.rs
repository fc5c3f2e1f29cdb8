//! tugboat's backup layer: a restic-compatible repository written through rustic_core, with restic-compatible locks.

mod backend;
pub mod drill;
mod lock;
pub mod repo;
mod rest;
pub mod run;
