//! `tug diff-env A B`: what changes between two environments (`base` is the stack without overrides).

use std::io::Write;

use tugboat::stack::{self, diff, LoadOptions};

use crate::cli::{DiffEnvArgs, Global};
use crate::exit::Exit;
use crate::render::style::{paint, BOLD, DIM, HIGH, OK};

pub fn run(g: &Global, args: &DiffEnvArgs) -> anyhow::Result<Exit> {
    let load = |name: &str| {
        let environment = (name != "base").then(|| name.to_string());
        stack::load(&args.dir, &LoadOptions { environment, template_fallback: true, ..LoadOptions::default() })
    };
    let (a, b) = (load(&args.a)?, load(&args.b)?);
    let differences = diff::diff(&a, &b);
    if g.json {
        super::print_json(&serde_json::json!({"a": args.a, "b": args.b, "differences": differences}))?;
        return Ok(Exit::Ok);
    }
    let mut out = anstream::stdout();
    if differences.is_empty() {
        let _ = writeln!(
            out,
            "{} `{}` and `{}` resolve to the same services, images, limits, ports and variables",
            paint(OK, "same:"),
            args.a,
            args.b
        );
        return Ok(Exit::Ok);
    }
    let mut current = "";
    for d in &differences {
        if d.service != current {
            let _ = writeln!(out, "{}", paint(BOLD, &d.service));
            current = &d.service;
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        let _ = writeln!(
            out,
            "  {:<24} {} {} {}",
            d.aspect,
            paint(HIGH, &show(&d.a)),
            paint(DIM, "->"),
            paint(OK, &show(&d.b))
        );
    }
    Ok(Exit::Ok)
}
