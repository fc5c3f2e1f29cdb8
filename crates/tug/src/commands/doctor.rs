//! `tug doctor`: host preflight for the stack — the engine, Compose, cgroups, kernel, forwarding, space,
//! mounts, GPU, ports, memory and the backup repository; exit 1 on any failed check.

use std::path::Path;

use tugboat::doctor::{Check, Group, Report};
use tugboat::stack::Stack;
use tugboat_backup::repo::{BackupError, Repo, RepoConfig};

use crate::cli::{DoctorArgs, Global};
use crate::exit::Exit;

pub fn run(g: &Global, args: &DoctorArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, false)?;
    let mut checks = tugboat_runtime::doctor::diagnose(&stack)?;
    checks.push(backup_repository(&stack));
    let report = Report::new(checks);
    if g.json {
        super::print_json(&report)?;
    } else {
        crate::render::doctor::print(&mut anstream::stdout(), &report)?;
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Problem })
}

/// Opens the repository as `tug backup` would (the REST backend retries like restic, so a server that
/// does not answer takes about 15 s to give up on).
fn backup_repository(stack: &Stack) -> Check {
    let id = "backup.repository";
    if stack.config.backup.is_none() {
        return Check::skip(Group::Backup, id, "tugboat.yml has no `backup:` section");
    }
    let cfg = match RepoConfig::for_stack(stack) {
        Ok(cfg) => cfg,
        Err(e) => {
            return Check::fail(
                Group::Backup,
                id,
                e.to_string(),
                "set the repository's password (`password_env` in .env, or `password_file`)",
            )
        }
    };
    let location = cfg.display_location();
    match Repo::open(&cfg) {
        Ok(_) => match local_path(&cfg) {
            Some(dir) if !tugboat::doctor::mounts::writable(dir) => Check::fail(
                Group::Backup,
                id,
                format!("{location} opens but is not writable by this user"),
                format!("give the user that runs `tug backup` write access: `ls -ld {}`", dir.display()),
            ),
            _ => Check::pass(Group::Backup, id, format!("{location} opens with its password")),
        },
        Err(e) => {
            let fix = match &e {
                BackupError::NotARepository { .. } => {
                    "create it with `tug backup init` (or mount the share that holds it)".to_string()
                }
                BackupError::WrongPassword { .. } => "set the password the repository was created with".to_string(),
                BackupError::Location { .. } => "correct `backup.repository` in tugboat.yml".to_string(),
                _ if local_path(&cfg).is_none() => {
                    "start the repository's server, or correct the URL in `backup.repository`".to_string()
                }
                _ => format!("check {location} (`tug backup check` for the details)"),
            };
            Check::fail(Group::Backup, id, e.to_string(), fix)
        }
    }
}

fn local_path(cfg: &RepoConfig) -> Option<&Path> {
    let l = cfg.location.strip_prefix("local:").unwrap_or(&cfg.location);
    (!l.starts_with("rest:")).then(|| Path::new(l))
}
