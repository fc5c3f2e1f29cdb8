//! `tug`: operate self-hosted service stacks. This binary parses arguments, calls the engine
//! (`tugboat`), renders its reports and turns outcomes into exit codes; nothing else.

mod cli;
mod commands;
mod exit;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            render::error::print(&err);
            exit::classify(&err).into()
        }
    }
}
