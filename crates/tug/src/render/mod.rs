//! Turning engine reports into text for people, JSON for programs and SARIF for code scanning.

pub mod audit;
pub mod backup;
pub mod check;
pub mod diff_env;
pub mod drill;
pub mod error;
pub mod init;
pub mod migrate;
pub mod parity;
pub mod progress;
pub mod restore;
pub mod sarif;
pub mod search_parity;
pub mod smoke;
pub mod style;
pub mod watch;
pub mod yaml;

/// `1.5 MiB`, `812 B`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
