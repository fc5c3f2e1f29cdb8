//! Errors on stderr: `error: file:line:col: key: message`, then the source line with a caret; then what
//! the engine's guidance says to do, as this command's flag.

use tugboat::ops::Guidance;
use tugboat::stack::error::{snippet, ConfigError};

use super::style::{paint, DIM, ERROR};

/// `replace_flag`: the flag that allows replacing existing data in the command that failed (`--force`).
pub fn print(err: &anyhow::Error, replace_flag: Option<&str>) {
    let mut stderr = anstream::stderr();
    use std::io::Write;
    let engine = err.downcast_ref::<tugboat::ops::Error>();
    let config =
        err.downcast_ref::<ConfigError>().or_else(|| engine.and_then(|e| e.inner().downcast_ref::<ConfigError>()));
    if let Some(config) = config {
        for e in config.flatten() {
            let _ = writeln!(stderr, "{} {e}", paint(ERROR, "error:"));
            if let Some(s) = e.location().and_then(|l| snippet(&l.span)) {
                let _ = writeln!(stderr, "{s}");
            }
        }
        return;
    }
    let _ = writeln!(stderr, "{} {err}", paint(ERROR, "error:"));
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
    match engine.and_then(|e| e.guidance()) {
        Some(Guidance::AllowReplace) => {
            if let Some(flag) = replace_flag {
                let _ = writeln!(stderr, "{}", paint(DIM, &format!("hint: pass {flag} to replace it")));
            }
        }
        Some(Guidance::Note(text)) => {
            let _ = writeln!(stderr, "{}", paint(DIM, &format!("hint: {text}")));
        }
        None => {}
    }
}
