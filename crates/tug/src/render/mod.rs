//! Turning engine reports into text for people, JSON for programs and SARIF for code scanning.

pub mod check;
pub mod error;
pub mod parity;
pub mod progress;
pub mod sarif;
pub mod search_parity;
pub mod style;
pub mod yaml;
