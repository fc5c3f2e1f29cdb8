//! `tug logs` output: `service-N | line`, the prefix padded and coloured per service (on a terminal,
//! without NO_COLOR), or with --json one object per line (JSONL).

use std::io::Write;

use anstyle::{AnsiColor, Style};
use tugboat_runtime::logs::{LogLine, Source};

/// Service colours, as Compose rotates them (red is left to errors).
const PALETTE: [AnsiColor; 6] =
    [AnsiColor::Cyan, AnsiColor::Yellow, AnsiColor::Green, AnsiColor::Magenta, AnsiColor::Blue, AnsiColor::BrightCyan];

pub struct Printer {
    json: bool,
    width: usize,
    out: anstream::AutoStream<std::io::Stdout>,
}

impl Printer {
    /// `sources` are the containers read from the engine, `history` the lines read from the store.
    pub fn new(json: bool, sources: &[Source], history: &[LogLine]) -> Printer {
        let labels = sources.iter().map(|s| s.label.len()).chain(history.iter().map(|l| l.label.len()));
        let width = labels.max().unwrap_or(0);
        Printer { json, width, out: anstream::stdout() }
    }

    /// Writes one line, flushed (a follow shows it at once); false when stdout is gone (a closed pipe).
    pub fn print(&mut self, line: &LogLine) -> bool {
        let written = if self.json {
            serde_json::to_string(line).map_err(std::io::Error::other).and_then(|j| writeln!(self.out, "{j}"))
        } else {
            let style = service_style(&line.service);
            writeln!(self.out, "{style}{:<width$} |{style:#} {}", line.label, line.line, width = self.width)
        };
        written.and_then(|()| self.out.flush()).is_ok()
    }
}

/// The same colour for a service on every run, whatever else is selected.
fn service_style(service: &str) -> Style {
    let hash = service.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
    PALETTE[hash % PALETTE.len()].on_default()
}
