//! `tug completions SHELL` and `tug man`: generated from the one clap definition in `cli.rs`, so they
//! cannot drift from the parser.

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;

/// The shell's completion script on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    super::out(&String::from_utf8(script)?)?;
    Ok(Exit::Ok)
}

/// The manual page, in roff, on stdout: every global flag, and each subcommand with its summary. With
/// `--dir`, the pages of `tug` and of every subcommand as files, the layout of `man1/`, one path a line.
pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        super::out(&String::from_utf8(page)?)?;
        return Ok(Exit::Ok);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write pages into {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "tug.1" || n.starts_with("tug-")))
        .map(|p| super::display_path(&p))
        .collect();
    pages.sort();
    super::out(&pages.iter().map(|p| format!("{p}\n")).collect::<String>())?;
    Ok(Exit::Ok)
}
