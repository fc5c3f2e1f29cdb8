//! Colours, applied only when stdout is a terminal (anstream strips them otherwise and honours NO_COLOR).

use anstyle::{AnsiColor, Style};

pub const HIGH: Style = AnsiColor::Red.on_default().bold();
pub const MEDIUM: Style = AnsiColor::Yellow.on_default().bold();
pub const LOW: Style = AnsiColor::Cyan.on_default();
pub const DIM: Style = Style::new().dimmed();
pub const BOLD: Style = Style::new().bold();
pub const OK: Style = AnsiColor::Green.on_default().bold();
pub const ERROR: Style = AnsiColor::Red.on_default().bold();

pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}
