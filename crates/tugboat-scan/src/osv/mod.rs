//! The offline OSV database and what matches it (issue 19, parts 2 and 3).
//!
//! - [`record`]: the OSV schema 1.6 as serde types.
//! - [`db`]: [`OsvDb`], SQLite, filled from OSV `all.zip` archives or directories of records the operator
//!   brought in, with their sha256, provenance and age.
//! - [`matching`]: [`evaluate`], the schema's evaluation algorithm in each ecosystem's version order.
//! - [`cvss`]: CVSS v3 base scores and the [`Severity`] rating.

pub mod cvss;
pub mod db;
pub mod matching;
pub mod record;

pub use cvss::Severity;
pub use db::{DbStatus, EcosystemCount, ImportRecord, ImportSummary, OsvDb, OsvError};
pub use matching::{evaluate, Affected};
pub use record::Record;
