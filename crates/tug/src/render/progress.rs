//! Progress on a terminal (stderr), nothing otherwise: `--json` and pipes stay clean.
//!
//! One implementation of the engine's [`Progress`] for every operation: a counted bar for the steps
//! (`3/12  docs`), and a byte counter with its rate for each step that streams data.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tugboat::ops::Progress;

pub struct Bars {
    multi: Option<MultiProgress>,
    steps: Mutex<Option<ProgressBar>>,
    bytes: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars when `enabled` (not `--json`) and stderr is a terminal.
    pub fn new(enabled: bool) -> Bars {
        let multi = (enabled && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Bars { multi, steps: Mutex::new(None), bytes: Mutex::new(HashMap::new()) }
    }

    fn bar(&self, template: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new(0));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    }

    /// Clears every bar (before the report is printed).
    pub fn finish(&self) {
        if let Some(bar) = self.steps.lock().ok().and_then(|mut s| s.take()) {
            bar.finish_and_clear();
        }
        if let Ok(mut bytes) = self.bytes.lock() {
            for (_, bar) in bytes.drain() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Progress for Bars {
    fn started(&self, step: &str, index: usize, total: usize) {
        let Ok(mut steps) = self.steps.lock() else { return };
        if steps.is_none() {
            *steps = self.bar("{spinner} {pos}/{len}  {msg}  {elapsed}");
        }
        if let Some(bar) = steps.as_ref() {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(step.to_string());
        }
    }

    fn bytes(&self, step: &str, bytes: u64) {
        let Ok(mut bars) = self.bytes.lock() else { return };
        if !bars.contains_key(step) {
            let Some(bar) = self.bar("{spinner} {msg:16} {bytes} ({bytes_per_sec}) {elapsed}") else { return };
            bar.set_message(step.to_string());
            bars.insert(step.to_string(), bar);
        }
        if let Some(bar) = bars.get(step) {
            bar.set_position(bytes);
        }
    }

    fn finished(&self, step: &str, _ok: bool) {
        if let Some(bar) = self.bytes.lock().ok().and_then(|mut b| b.remove(step)) {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.steps.lock().ok().as_deref().and_then(Option::as_ref) {
            bar.inc(1);
        }
    }
}
