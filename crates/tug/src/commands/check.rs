//! `tug check [DIR]`: rules over the merged stack, or over Kubernetes manifests (a YAML file, a directory
//! of them, a kustomization); text, JSON or SARIF; exit 1 at or above `--fail-on`.

use tugboat::check::{self, Severity};

use crate::cli::{CheckArgs, CheckFormat, FailOn, Global};
use crate::exit::{Exit, UsageError};
use crate::render;

pub fn run(g: &Global, args: &CheckArgs) -> anyhow::Result<Exit> {
    if args.list_rules {
        if g.json {
            super::print_json(&check::RULES)?;
        } else {
            render::check::print_rules();
        }
        return Ok(Exit::Ok);
    }
    let report = if check::kubernetes::is_manifest_input(&args.dir) {
        // Manifests have no environments of their own: each overlay is its own directory.
        if let Some(env) = &g.environment {
            return Err(UsageError(format!(
                "--env {env} selects a compose environment, and {} holds Kubernetes manifests: check the \
                 overlay's directory instead (`tug check k8s/overlays/{env}`)",
                args.dir.display()
            ))
            .into());
        }
        check::kubernetes::check_manifests(&args.dir)?
    } else {
        let stack = super::load_stack(&args.dir, g, true)?;
        check::check(&stack)?
    };
    let threshold = match args.fail_on {
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
    };
    let format = if g.json { CheckFormat::Json } else { args.format };
    match format {
        CheckFormat::Text => render::check::print_text(&report, threshold),
        CheckFormat::Json => super::print_json(&render::check::json(&report, threshold))?,
        CheckFormat::Sarif => super::print_json(&render::sarif::sarif(&report))?,
    }
    Ok(if report.failing(threshold).next().is_some() { Exit::Problem } else { Exit::Ok })
}
