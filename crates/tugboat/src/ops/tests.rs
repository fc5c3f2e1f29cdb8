use serde_json::json;

use super::*;
use crate::store::{AuditVerification, Outcome};

/// A toy operation that fails where it is told to.
#[derive(Clone, Copy)]
enum FailAt {
    Nowhere,
    Plan,
    Run,
    Problem,
    Cancel,
    Panic,
}

struct Toy(FailAt);

#[derive(Debug, Serialize)]
struct ToyPlan {
    target: String,
}

impl Display for ToyPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "write {}", self.target)
    }
}

#[derive(Debug, Serialize)]
struct ToyReport {
    bad: bool,
}

impl Verdict for ToyReport {
    fn problem(&self) -> Option<String> {
        self.bad.then(|| "the copy differs".to_string())
    }
    fn audit_summary(&self) -> Value {
        json!({"bytes": 42})
    }
}

impl Operation for Toy {
    type Plan = ToyPlan;
    type Report = ToyReport;
    fn command(&self) -> &'static str {
        "toy"
    }
    fn subject(&self) -> Subject {
        Subject { stack: "s".into(), config_digest: "d".into() }
    }
    fn request(&self) -> Value {
        json!({"to": "mysql://u:pw@h/db"})
    }
    fn plan(&self, _ctx: &mut Ctx) -> Result<ToyPlan> {
        match self.0 {
            FailAt::Plan => Err(Error::cannot_act("cannot connect to h:3306\nsecond line")),
            _ => Ok(ToyPlan { target: "mysql://u:pw@h/db".into() }),
        }
    }
    fn run(&self, _plan: &ToyPlan, ctx: &mut Ctx) -> Result<ToyReport> {
        match self.0 {
            FailAt::Run => Err(Error::cannot_act("the restore failed")),
            FailAt::Cancel => {
                ctx.cancel.cancel();
                ctx.cancel.check()?;
                unreachable!("check returns an error once cancelled")
            }
            FailAt::Panic => panic!("bug"),
            FailAt::Problem => Ok(ToyReport { bad: true }),
            FailAt::Nowhere | FailAt::Plan => Ok(ToyReport { bad: false }),
        }
    }
}

fn exec(store: &mut Store, at: FailAt, mode: Mode) -> std::thread::Result<Result<Executed<ToyPlan, ToyReport>>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut ctx = Ctx { store, progress: &(), cancel: CancelToken::new(), clock: &SystemClock };
        execute(&Toy(at), &mut ctx, mode)
    }))
}

#[test]
fn every_path_leaves_exactly_one_event() {
    let cases = [
        (FailAt::Nowhere, Mode::Run, Outcome::Ok),
        (FailAt::Nowhere, Mode::DryRun, Outcome::DryRun),
        (FailAt::Plan, Mode::Run, Outcome::Failed("cannot connect to h:3306".into())),
        (FailAt::Plan, Mode::DryRun, Outcome::Failed("cannot connect to h:3306".into())),
        (FailAt::Run, Mode::Run, Outcome::Failed("the restore failed".into())),
        (FailAt::Problem, Mode::Run, Outcome::Failed("the copy differs".into())),
        (FailAt::Cancel, Mode::Run, Outcome::Interrupted),
        (FailAt::Panic, Mode::Run, Outcome::Aborted),
    ];
    for (at, mode, expected) in cases {
        let mut store = Store::open_in_memory().unwrap();
        let _ = exec(&mut store, at, mode);
        let events = store.audit_events(None).unwrap();
        assert_eq!(events.len(), 1, "{expected:?}: {events:#?}");
        assert_eq!(events[0].outcome, expected);
        assert_eq!(events[0].command, "toy");
        let text = events[0].params.to_string();
        assert!(!text.contains("pw@"), "secret in params: {text}");
        assert!(matches!(store.verify_audit().unwrap(), AuditVerification::Intact { events: 1, .. }));
    }
}

#[test]
fn params_are_the_plan_and_the_report_summary() {
    let mut store = Store::open_in_memory().unwrap();
    let done = exec(&mut store, FailAt::Nowhere, Mode::Run).unwrap().unwrap();
    assert!(matches!(done, Executed::Ran(_, ToyReport { bad: false })));
    let events = store.audit_events(None).unwrap();
    assert_eq!(events[0].params, json!({"target": "mysql://u:***@h/db", "bytes": 42}));
    // A failed plan records the request.
    let mut store = Store::open_in_memory().unwrap();
    let err = exec(&mut store, FailAt::Plan, Mode::Run).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CannotAct);
    assert_eq!(store.audit_events(None).unwrap()[0].params, json!({"to": "mysql://u:***@h/db"}));
}

#[test]
fn interrupted_errors_are_classified() {
    let mut store = Store::open_in_memory().unwrap();
    let err = exec(&mut store, FailAt::Cancel, Mode::Run).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
}
