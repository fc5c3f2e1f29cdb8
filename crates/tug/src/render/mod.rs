//! Turning engine reports into text for people, JSON for programs and SARIF for code scanning.

use std::path::Path;

pub mod audit;
pub mod backup;
pub mod check;
pub mod deploy;
pub mod diff_env;
pub mod doctor;
pub mod drill;
pub mod error;
pub mod init;
pub mod logs;
pub mod migrate;
pub mod parity;
pub mod plan;
pub mod progress;
pub mod restore;
pub mod runtime;
pub mod sarif;
pub mod scan;
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

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    out(&format!("{text}\n"))
}

/// Writes to stdout. Unlike `print!` it does not panic when the reader goes away (`tug config | head`);
/// `main` treats that broken pipe as a normal end.
pub fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A path relative to the current directory when it is below it, for shorter and portable output.
pub fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let abs =
        if p.is_absolute() { p.to_path_buf() } else { cwd.as_ref().map(|c| c.join(p)).unwrap_or(p.to_path_buf()) };
    match cwd.and_then(|c| abs.strip_prefix(&c).ok().map(Path::to_path_buf)) {
        Some(rel) => rel.display().to_string(),
        None => p.display().to_string(),
    }
}
