//! The CLI surface pinned: `tug --help` and every subcommand's help (nested ones included, found by
//! walking the help itself, so a new subcommand gets a snapshot without anyone listing it here), and
//! the completion scripts and manual page generated from the same clap definition.

use crate::util::{tempdir, Tug};

/// `tug ARGS…` with a fixed width: help is wrapped to the terminal, and the harness has none.
fn tug(args: &[&str]) -> crate::util::Run {
    Tug::new().args(args).env("COLUMNS", "100").run()
}

/// The subcommands listed under `Commands:` in a help text, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A wrapped description continues on a deeper indent; a name starts at two spaces.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Snapshots `tug PATH… --help` and recurses into its subcommands; returns every path visited.
fn snapshot_help(path: &[String], visited: &mut Vec<String>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let run = tug(&args);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(run.stderr(), "", "{}", run.describe());
    let help = run.stdout();
    let name = if path.is_empty() { "help".to_string() } else { format!("help_{}", path.join("_")) };
    insta::assert_snapshot!(name, help);
    visited.push(path.join(" "));
    for sub in subcommands(&help) {
        let mut deeper = path.to_vec();
        deeper.push(sub);
        snapshot_help(&deeper, visited);
    }
}

#[test]
fn help_of_tug_and_every_subcommand() {
    let mut visited = Vec::new();
    snapshot_help(&[], &mut visited);
    // The walk reached the nested commands, so the parsing of `Commands:` works.
    for expected in [
        "",
        "check",
        "backup",
        "backup init",
        "backup snapshots",
        "backup forget",
        "backup check",
        "restore",
        "drill",
        "migrate",
        "audit log",
        "audit verify",
        "completions",
        "man",
        "up",
        "down",
        "status",
        "proxy",
        "deploy",
        "rollback",
        "plan",
        "plan run",
        "approve",
        "export k8s",
        "scan",
        "scan db import",
    ] {
        assert!(visited.iter().any(|v| v == expected), "no help snapshot for `tug {expected}`: {visited:?}");
    }
}

#[test]
fn help_describes_what_exists() {
    let help = tug(&["--help"]).stdout();
    // The state database's variable is named, without an empty value after it (wherever help wraps).
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("[env: TUGBOAT_STATE]"), "{help}");
    assert!(!help.contains("TUGBOAT_STATE="), "{help}");
    // Also when it is set: a path is not shown in help.
    let with_state = Tug::new().args(["--help"]).env("COLUMNS", "100").env("TUGBOAT_STATE", "/srv/x.db").run().stdout();
    assert_eq!(with_state, help);
}

/// Every top-level subcommand (as `tug --help` lists them) and a nested one.
fn names() -> Vec<String> {
    let mut names = subcommands(&tug(&["--help"]).stdout());
    assert!(names.len() >= 12, "{names:?}");
    names.push("snapshots".into());
    names
}

#[test]
fn completion_scripts_name_the_subcommands() {
    let names = names();
    for (shell, marker) in [("bash", "_tug()"), ("zsh", "#compdef tug"), ("fish", "complete -c tug")] {
        let run = tug(&["completions", shell]);
        assert_eq!(run.code(), 0, "{}", run.describe());
        let script = run.stdout();
        assert!(script.contains(marker), "tug completions {shell}: no {marker:?}:\n{script}");
        for name in &names {
            assert!(script.contains(name.as_str()), "tug completions {shell} does not name `{name}`");
        }
        // Global flags and value choices are completed too.
        assert!(script.contains("dry-run") && script.contains("sarif"), "tug completions {shell}");
    }
}

#[test]
fn bash_completion_script_is_valid_bash() {
    let dir = tempdir();
    let file = dir.path().join("tug.bash");
    std::fs::write(&file, tug(&["completions", "bash"]).stdout()).unwrap();
    let status = std::process::Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(status.success(), "bash -n rejects the completion script");
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let run = tug(&["completions", "cmd.exe"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("bash"), "the choices are listed:\n{}", run.describe());
}

#[test]
fn man_prints_a_roff_page() {
    let run = tug(&["man"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let page = run.stdout();
    // roff's apostrophe preamble (`.ie`/`.el`) may precede the title; the first other request is `.TH`.
    let title = page.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap_or("");
    assert!(title.starts_with(".TH tug 1"), "first line {title:?} of:\n{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    for name in names().iter().filter(|n| *n != "snapshots") {
        assert!(page.contains(&format!("tug\\-{}", name.replace('-', "\\-"))), "man does not name `{name}`:\n{page}");
    }
    assert!(page.contains("TUGBOAT_STATE"), "{page}");
}

#[test]
fn man_dir_writes_a_page_per_subcommand() {
    let dir = tempdir();
    let man1 = dir.path().join("man1");
    let run = Tug::new().args(["man", "--dir"]).arg(&man1).run();
    assert_eq!(run.code(), 0, "{}", run.describe());
    let mut expected: Vec<String> =
        names().iter().filter(|n| *n != "snapshots").map(|n| format!("tug-{n}.1")).collect();
    expected.extend(["tug.1", "tug-backup-snapshots.1", "tug-backup-forget.1", "tug-audit-verify.1"].map(String::from));
    for page in &expected {
        let text =
            std::fs::read_to_string(man1.join(page)).unwrap_or_else(|e| panic!("{page}: {e}\n{}", run.describe()));
        assert!(text.contains("\n.TH "), "{page} has no title:\n{text}");
        assert!(run.stdout().contains(page.as_str()), "{page} is not listed:\n{}", run.describe());
    }
    let forget = std::fs::read_to_string(man1.join("tug-backup-forget.1")).unwrap();
    assert!(forget.contains("\\-\\-dry\\-run") && forget.contains("\\-\\-prune"), "{forget}");
}
