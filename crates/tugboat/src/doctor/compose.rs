//! Docker Compose v2 on the host: `tug up` needs no Compose, but operators (and `docker compose ps/logs`
//! on tug's containers) do. Looked for as `TUG_COMPOSE_V2` (the binary the tests use as their oracle),
//! `docker compose` (the plugin) and `docker-compose` on PATH. Compose v1 (1.29, retired in 2023) is a
//! warning: it reads the files differently from v2.

use std::path::PathBuf;
use std::process::Command;

use super::{which, Check, Group};

/// `Docker Compose version v2.40.3` -> `2.40.3`; `docker-compose version 1.29.2, build 5becea4c` -> `1.29.2`.
pub fn parse_version(output: &str) -> Option<String> {
    let line = output.lines().find(|l| l.to_ascii_lowercase().contains("version"))?;
    let after = line.split("version").nth(1)?.split_whitespace().next()?;
    let v = after.trim_start_matches('v').trim_end_matches(',');
    v.chars().next().filter(char::is_ascii_digit).map(|_| v.to_string())
}

/// (how it is run, e.g. `docker compose`, its version), for each candidate that answers.
fn candidates() -> Vec<(String, String)> {
    let mut commands: Vec<(PathBuf, Vec<&str>)> = Vec::new();
    if let Some(p) = std::env::var_os("TUG_COMPOSE_V2") {
        commands.push((PathBuf::from(p), vec![]));
    }
    if let Some(docker) = which("docker") {
        commands.push((docker, vec!["compose"]));
    }
    if let Some(dc) = which("docker-compose") {
        commands.push((dc, vec![]));
    }
    commands
        .into_iter()
        .filter_map(|(exe, args)| {
            let out = Command::new(&exe).args(&args).arg("version").output().ok()?;
            let version = parse_version(&String::from_utf8_lossy(&out.stdout)).filter(|_| out.status.success())?;
            let shown = std::iter::once(exe.display().to_string())
                .chain(args.iter().map(|a| a.to_string()))
                .collect::<Vec<_>>();
            Some((shown.join(" "), version))
        })
        .collect()
}

pub fn check_compose() -> Check {
    let id = "compose.v2";
    let found = candidates();
    let install = "install the Compose v2 plugin: `apt-get install docker-compose-plugin` (Docker's repository), \
                   or put a v2 `docker-compose` binary on PATH";
    let major = |v: &str| v.split('.').next().and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    if let Some((cmd, v)) = found.iter().find(|(_, v)| major(v) >= 2) {
        return Check::pass(Group::Compose, id, format!("Docker Compose {v} ({cmd})"));
    }
    match found.first() {
        Some((cmd, v)) => Check::warn(
            Group::Compose,
            id,
            format!("only Docker Compose {v} ({cmd}): v1 is retired and reads some files differently"),
            install,
        ),
        None => Check::fail(
            Group::Compose,
            id,
            "no Docker Compose: neither `docker compose` nor `docker-compose` on PATH",
            install,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_v2_plugin_standalone_and_v1() {
        assert_eq!(parse_version("Docker Compose version v2.40.3\n").as_deref(), Some("2.40.3"));
        assert_eq!(
            parse_version("Docker Compose version 2.24.6+ds1-0+deb12u1\n").as_deref(),
            Some("2.24.6+ds1-0+deb12u1")
        );
        assert_eq!(
            parse_version("docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\n").as_deref(),
            Some("1.29.2")
        );
        assert_eq!(parse_version("docker: 'compose' is not a docker command.\n"), None);
    }
}
