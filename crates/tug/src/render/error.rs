//! Errors on stderr: `error: file:line:col: key: message`, then the source line with a caret.

use tugboat::stack::error::{snippet, ConfigError};

use super::style::{paint, ERROR};

pub fn print(err: &anyhow::Error) {
    let mut stderr = anstream::stderr();
    use std::io::Write;
    if let Some(config) = err.downcast_ref::<ConfigError>() {
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
}
