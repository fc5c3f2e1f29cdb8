//! The run loop without any server: approvals and a 1 h stabilisation window read from recorded watch
//! history, with the clock injected (no test waits for an hour).

use super::*;
use crate::file::tests::stack;
use tugboat::ops::{execute, CancelToken, Executed, ManualClock, Mode};
use tugboat::store::{NewAlert, BUCKET_MS};

const HOUR: i64 = 3_600_000;

const PLAN: &str = "steps:\n  - { name: ok, approve: { note: freeze } }\n  - { name: stabilise, watch: { suite: monitor, for: 1h } }\n";

fn run_once(stack: &Stack, plan: &Plan, store: &mut Store, clock: &ManualClock) -> RunReport {
    let mut ctx = Ctx { store, progress: &(), cancel: CancelToken::new(), clock };
    match execute(&RunPlan { stack, plan, new_run: false }, &mut ctx, Mode::Run).unwrap() {
        Executed::Ran(_, report) => report,
        Executed::Planned(_) => unreachable!(),
    }
}

fn approve(stack: &Stack, plan: &Plan, store: &mut Store, clock: &ManualClock, who: &str) {
    let mut ctx = Ctx { store, progress: &(), cancel: CancelToken::new(), clock };
    let op = crate::approve::Approve { stack, plan, step: "ok".into(), person: who.into(), note: None };
    execute(&op, &mut ctx, Mode::Run).unwrap();
}

/// A result of `monitor/api` every minute over `[from, to)`.
fn watched(store: &mut Store, from: i64, to: i64) {
    let results: Vec<(String, i64, bool, i64)> = (0..)
        .map(|i| from + i * 60_000)
        .take_while(|t| *t < to)
        .map(|t| ("monitor/api".to_string(), t, true, 3))
        .collect();
    store.record_check_results("hub", &[], &results).unwrap();
}

#[test]
fn an_approval_then_a_window_read_from_watch_history() {
    let (_dir, stack) = stack();
    let plan = crate::file::parse(&stack, "cutover", std::path::Path::new("plans/cutover.yml"), PLAN).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let t0 = (1_800_000_000_000 / BUCKET_MS) * BUCKET_MS;
    let clock = ManualClock::at(t0);

    let r = run_once(&stack, &plan, &mut store, &clock);
    assert_eq!((r.stop, r.step.as_deref()), (Stop::AwaitingApproval, Some("ok")));
    assert_eq!(r.fix, ["tug approve cutover ok --as NAME --note \"…\""]);
    approve(&stack, &plan, &mut store, &clock, "alice");

    let r = run_once(&stack, &plan, &mut store, &clock);
    assert_eq!((r.stop, r.step.as_deref()), (Stop::Waiting, Some("stabilise")), "{}", r.message);
    // Half-way, watched so far: still waiting, and the window did not restart.
    watched(&mut store, t0, t0 + HOUR / 2);
    clock.set(t0 + HOUR / 2);
    let r = run_once(&stack, &plan, &mut store, &clock);
    assert_eq!(r.stop, Stop::Waiting);
    assert!(r.message.contains(&crate::time_text(t0 + HOUR)), "{}", r.message);
    // The window over and watched throughout: done.
    watched(&mut store, t0 + HOUR / 2, t0 + HOUR);
    clock.set(t0 + HOUR + 1000);
    let r = run_once(&stack, &plan, &mut store, &clock);
    assert_eq!(r.stop, Stop::Done, "{}", r.message);
    let run = store.last_plan_run("hub", "cutover").unwrap().unwrap();
    assert_eq!(run.status, "done");
    let events = store.plan_events(run.id).unwrap();
    let evidence = &events.iter().find(|e| e.step == "stabilise" && e.kind == "succeeded").unwrap().detail;
    assert_eq!(evidence["evidence"]["report"]["buckets"], 12);

    // A finished run is not run again by accident.
    let mut ctx = Ctx { store: &mut store, progress: &(), cancel: CancelToken::new(), clock: &clock };
    let e = execute(&RunPlan { stack: &stack, plan: &plan, new_run: false }, &mut ctx, Mode::Run).unwrap_err();
    assert!(e.to_string().contains("start another with `tug plan run cutover --new`"), "{e}");
}

#[test]
fn an_alert_in_the_window_fails_the_step_at_once() {
    let (_dir, stack) = stack();
    let text = "steps:\n  - { name: stabilise, watch: { suite: monitor, for: 1h } }\n";
    let plan = crate::file::parse(&stack, "cutover", std::path::Path::new("plans/cutover.yml"), text).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let t0 = (1_800_000_000_000 / BUCKET_MS) * BUCKET_MS;
    let clock = ManualClock::at(t0);
    assert_eq!(run_once(&stack, &plan, &mut store, &clock).stop, Stop::Waiting);
    let providers: Vec<String> = Vec::new();
    let alert = NewAlert {
        check_id: "monitor/api",
        kind: "triggered",
        summary: "api: 503",
        payload: "{}",
        providers: &providers,
    };
    store.record_alert("hub", &alert, t0 + 10 * 60_000).unwrap();
    clock.set(t0 + 15 * 60_000);
    let r = run_once(&stack, &plan, &mut store, &clock);
    assert_eq!(r.stop, Stop::Failed);
    assert!(r.message.contains("1 alert(s) in the window, the first for monitor/api"), "{}", r.message);
}
