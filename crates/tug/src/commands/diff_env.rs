//! `tug diff-env A B`: what changes between two environments (`base` is the stack without overrides).

use tugboat::stack::{self, diff, LoadOptions};

use crate::cli::{DiffEnvArgs, Global};
use crate::exit::Exit;

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
    crate::render::diff_env::print(&mut anstream::stdout(), &args.a, &args.b, &differences)?;
    Ok(Exit::Ok)
}
