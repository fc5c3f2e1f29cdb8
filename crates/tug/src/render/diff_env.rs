//! `tug diff-env`: the differences, grouped by service.

use std::io::Write;

use tugboat::stack::diff::Difference;

use super::style::{paint, BOLD, DIM, HIGH, OK};

pub fn print(out: &mut dyn Write, a: &str, b: &str, differences: &[Difference]) -> std::io::Result<()> {
    if differences.is_empty() {
        return writeln!(
            out,
            "{} `{a}` and `{b}` resolve to the same services, images, limits, ports and variables",
            paint(OK, "same:")
        );
    }
    let mut current = "";
    for d in differences {
        if d.service != current {
            writeln!(out, "{}", paint(BOLD, &d.service))?;
            current = &d.service;
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        writeln!(
            out,
            "  {:<24} {} {} {}",
            d.aspect,
            paint(HIGH, &show(&d.a)),
            paint(DIM, "->"),
            paint(OK, &show(&d.b))
        )?;
    }
    Ok(())
}
