//! `tug check [DIR]`: rules over the merged stack; text, JSON or SARIF; exit 1 at or above `--fail-on`.

use tugboat::check::{self, Severity};

use crate::cli::{CheckArgs, CheckFormat, FailOn, Global};
use crate::exit::Exit;
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
    let stack = super::load_stack(&args.dir, g, true)?;
    let report = check::check(&stack)?;
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
