//! `tug init [DIR]`: propose a tugboat.yml (and an env template) for an existing compose project.

use serde_json::json;
use tugboat::stack::{self, init, LoadOptions};
use tugboat::store::Outcome;

use crate::cli::{Global, InitArgs};
use crate::exit::{Exit, UsageError};

pub fn run(g: &Global, args: &InitArgs) -> anyhow::Result<Exit> {
    let target = args.dir.join("tugboat.yml");
    if target.exists() && !args.force {
        return Err(UsageError(format!("{} exists; pass --force to overwrite it", target.display())).into());
    }
    // Read the compose project as Compose would, ignoring any tugboat.yml we are about to replace.
    let loaded = stack::load(
        &args.dir,
        &LoadOptions { template_fallback: true, ignore_config: true, ..LoadOptions::default() },
    )?;
    let proposal = init::propose(&loaded);
    let template_path = args.dir.join(".env.template");
    if args.dry_run {
        super::out(&proposal.config_text)?;
        if let Some(t) = &proposal.template_text {
            super::out(&format!("\n# --- .env.template ---\n{t}\n"))?;
        }
        return Ok(Exit::Ok);
    }
    write_atomic(&target, &proposal.config_text)?;
    let mut written = vec![target.display().to_string()];
    if let Some(t) = &proposal.template_text {
        if !template_path.exists() {
            write_atomic(&template_path, t)?;
            written.push(template_path.display().to_string());
        }
    }
    let stack = stack::load(&args.dir, &LoadOptions { template_fallback: true, ..LoadOptions::default() })?;
    let mut store = super::open_store(&args.dir, g)?;
    let params = json!({"written": written, "databases": proposal.databases.iter().map(|(n, k)| json!({"service": n, "kind": k})).collect::<Vec<_>>(), "published_ports": proposal.published_ports, "force": args.force});
    super::record(&mut store, &stack.name, stack.config_digest(), "init", params.clone(), Outcome::Ok)?;
    if g.json {
        super::print_json(&params)?;
    } else {
        for w in &written {
            super::out(&format!("wrote {w}\n"))?;
        }
        super::out(&format!(
            "next: review the allowlist and databases, then run `tug check {}`\n",
            args.dir.display()
        ))?;
    }
    Ok(Exit::Ok)
}

/// Write to a temporary file and rename, so a failure never leaves a half-written config.
fn write_atomic(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
