//! `tug export k8s`: the stack as Kustomize manifests (tugboat::export), with the conversion report.

use tugboat::export::{Export, ExportOptions};

use crate::cli::{ExportCommand, Global};
use crate::exit::Exit;

pub fn run(g: &Global, cmd: &ExportCommand) -> anyhow::Result<Exit> {
    let ExportCommand::K8s(args) = cmd;
    // Manifests never hold secret values, so no .env is needed: the env template stands in.
    let stack = super::load_stack(&args.dir, g, true)?;
    let base = stack
        .config_file
        .as_ref()
        .and_then(|(p, _)| p.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_else(|| stack.dir.clone());
    let out = args.out.clone().unwrap_or_else(|| base.join("k8s"));
    let op =
        Export { stack: &stack, options: ExportOptions { out, namespace: args.namespace.clone(), force: args.force } };
    super::run_operation(&args.dir, g, &op, args.dry_run, |plan, report| {
        if g.json {
            super::print_json(&serde_json::json!({"out": report.out, "namespace": plan.rendered.namespace,
                "overlays": plan.rendered.overlays, "files": plan.files, "written": report.written,
                "unchanged": report.unchanged, "removed": report.removed, "conversion": report.report}))?;
        } else {
            let mut text = String::new();
            tugboat::export::write_summary(&mut text, &report.report)?;
            super::out(&format!(
                "exported {} files to {} ({} written, {} unchanged, {} removed); namespace {}, overlays {}\n{text}",
                plan.files.len(),
                report.out.display(),
                report.written,
                report.unchanged,
                report.removed.len(),
                plan.rendered.namespace,
                plan.rendered.overlays.join(", ")
            ))?;
        }
        Ok(Exit::Ok)
    })
}
