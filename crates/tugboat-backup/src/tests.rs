//! The operations in process, as `tug watch` and cutover plans call them: a files-only stack (no database
//! server needed), its plans, runs, audit events and the error classes.

use std::collections::HashMap;
use std::path::Path;

use tugboat::ops::{self, CancelToken, Ctx, ErrorKind, Executed, Guidance, Mode, SystemClock};
use tugboat::stack::{self, LoadOptions, Stack};
use tugboat::store::{AuditVerification, Outcome, Store};

use crate::{Backup, Drill, Forget, InitRepo, Restore};

const PW: &str = "in-process-secret";

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A stack whose backup holds an uploads directory and the config, with the repository password in `.env`
/// when `password` is given.
fn stack(dir: &Path, password: Option<&str>) -> Stack {
    write(
        dir,
        "tugboat.yml",
        "stack: files\nbackup:\n  repository: ./repo\n  password_env: REPO_PW\n  keep: { last: 1 }\n  sources:\n    - { files: ./uploads }\n    - { config: true }\n",
    );
    write(dir, "compose.yaml", "services:\n  app:\n    image: app:1\n");
    write(dir, "uploads/a.txt", "one\n");
    write(dir, "uploads/deep/b.txt", "two\n");
    match password {
        Some(pw) => write(dir, ".env", &format!("REPO_PW={pw}\n")),
        None => {
            let _ = std::fs::remove_file(dir.join(".env"));
        }
    }
    let options = LoadOptions { process_env: Some(HashMap::new()), ..LoadOptions::default() };
    stack::load(dir, &options).unwrap()
}

fn exec<O: ops::Operation>(store: &mut Store, op: &O, mode: Mode) -> ops::Result<Executed<O::Plan, O::Report>> {
    exec_with(store, op, mode, CancelToken::new())
}

fn exec_with<O: ops::Operation>(
    store: &mut Store,
    op: &O,
    mode: Mode,
    cancel: CancelToken,
) -> ops::Result<Executed<O::Plan, O::Report>> {
    let mut ctx = Ctx { store, progress: &(), cancel, clock: &SystemClock };
    ops::execute(op, &mut ctx, mode)
}

fn last_outcome(store: &Store) -> Outcome {
    store.audit_events(None).unwrap().last().unwrap().outcome.clone()
}

#[test]
fn backup_forget_restore_and_drill_run_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path(), Some(PW));
    let mut store = Store::open_in_memory().unwrap();

    // Planning a backup before the repository exists fails: it could not act.
    let err = exec(&mut store, &Backup::all(&stack), Mode::Run).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CannotAct, "{err}");
    assert!(matches!(exec(&mut store, &InitRepo { stack: &stack }, Mode::DryRun), Ok(Executed::Planned(_))));
    assert!(!dir.path().join("repo/config").exists());
    assert!(matches!(exec(&mut store, &InitRepo { stack: &stack }, Mode::Run), Ok(Executed::Ran(..))));
    let err = exec(&mut store, &InitRepo { stack: &stack }, Mode::Run).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");

    // A backup of the sources named; the report says what each did.
    let Executed::Ran(plan, report) = exec(&mut store, &Backup::new(&stack, &["uploads".into()]), Mode::Run).unwrap()
    else {
        panic!("not run")
    };
    assert_eq!(plan.sources.len(), 1);
    assert!(report.ok && report.failures().is_empty(), "{report:#?}");
    assert_eq!(last_outcome(&store), Outcome::Ok);
    let Executed::Ran(_, report) = exec(&mut store, &Backup::all(&stack), Mode::Run).unwrap() else { panic!() };
    assert_eq!(report.sources.len(), 2);
    assert_eq!(store.last_backup_run("files").unwrap().map(|(_, ok)| ok), Some(true));

    // Cancelled before it runs: interrupted, nothing backed up.
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = exec_with(&mut store, &Backup::all(&stack), Mode::Run, cancel).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert_eq!(last_outcome(&store), Outcome::Interrupted);

    // Forget keeps the last per source: one uploads snapshot goes.
    let Executed::Planned(plan) = exec(&mut store, &Forget { stack: &stack, prune: true }, Mode::DryRun).unwrap()
    else {
        panic!()
    };
    assert_eq!(plan.remove.len(), 1, "{plan}");
    let Executed::Ran(_, report) = exec(&mut store, &Forget { stack: &stack, prune: true }, Mode::Run).unwrap() else {
        panic!()
    };
    assert_eq!(report.result.remove.len(), 1);

    // Restore into a directory that holds files: refused, with the guidance to allow replacing it.
    let dest = dir.path().join("back");
    write(&dest, "mine.txt", "keep me");
    let restore = |force| Restore {
        stack: &stack,
        source: "uploads".into(),
        snapshot: None,
        to: Some(dest.display().to_string()),
        force,
    };
    let err = exec(&mut store, &restore(false), Mode::Run).unwrap_err();
    assert_eq!((err.kind(), err.guidance()), (ErrorKind::Usage, Some(&Guidance::AllowReplace)), "{err}");
    assert!(!err.to_string().contains("--force"), "engine messages name no flag: {err}");
    let Executed::Ran(_, report) = exec(&mut store, &restore(true), Mode::Run).unwrap() else { panic!() };
    assert!(report.bytes > 0);
    let restored = dest.join(dir.path().join("uploads/deep/b.txt").strip_prefix("/").unwrap());
    assert_eq!(std::fs::read_to_string(restored).unwrap(), "two\n");

    // The drill, as `tug watch` runs it: every source; the report says which failed and why.
    let Executed::Ran(_, results) = exec(&mut store, &Drill::all(&stack), Mode::Run).unwrap() else { panic!() };
    assert!(results.ok && results.failures().is_empty(), "{results:#?}");
    assert_eq!(results.drills.len(), 2);

    // Every operation above left one event, and the chain is intact.
    assert_eq!(store.audit_events(None).unwrap().len(), 12);
    assert!(matches!(store.verify_audit().unwrap(), AuditVerification::Intact { events: 12, .. }));
}

#[test]
fn a_drill_of_a_source_never_backed_up_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path(), Some(PW));
    let mut store = Store::open_in_memory().unwrap();
    exec(&mut store, &InitRepo { stack: &stack }, Mode::Run).unwrap();
    let Executed::Ran(_, results) = exec(&mut store, &Drill::new(&stack, &["config".into()]), Mode::Run).unwrap()
    else {
        panic!()
    };
    let failures = results.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "config");
    assert!(failures[0].1.contains("no snapshot of `config` yet"), "{failures:?}");
    assert!(matches!(last_outcome(&store), Outcome::Failed(r) if r.starts_with("failed: config (no snapshot")));
}

#[test]
fn configuration_and_usage_errors_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_memory().unwrap();
    // The repository password unset: a configuration error, planned before anything is touched.
    let unset = stack(dir.path(), None);
    let err = exec(&mut store, &Backup::all(&unset), Mode::Run).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("REPO_PW is not set"), "{err}");
    // An unknown source: usage.
    let stack = stack(dir.path(), Some(PW));
    let err = exec(&mut store, &Backup::new(&stack, &["nope".into()]), Mode::Run).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert_eq!(err.to_string(), "no backup source `nope`; defined: uploads, config");
    let err = exec(&mut store, &Drill::new(&stack, &["nope".into()]), Mode::DryRun).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    // A failed plan is still an event, with the request as its parameters.
    let events = store.audit_events(None).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].params, serde_json::json!({"sources": ["nope"]}));
    assert_eq!(events[2].command, "drill");
}
