use super::*;
use crate::file::tests::stack;
use tugboat::store::{NewAlert, PlanEvent};

const HOUR: i64 = 3_600_000;

fn plan(stack: &Stack, text: &str) -> Plan {
    crate::file::parse(stack, "cutover", std::path::Path::new("plans/cutover.yml"), text).unwrap()
}

fn check(stack: &Stack, store: &Store, plan: &Plan, events: &[PlanEvent], now_ms: i64, step: usize) -> GateCheck {
    let env = GateEnv { stack, store, plan, events, now_ms };
    evaluate_step(&env, step).unwrap().remove(0)
}

fn now() -> i64 {
    tugboat::ops::Clock::now_ms(&tugboat::ops::SystemClock)
}

#[test]
fn a_drill_gate_names_the_drill_and_says_when_it_is_stale() {
    let (_dir, stack) = stack();
    let mut store = Store::open_in_memory().unwrap();
    let p = plan(&stack, "steps:\n  - { name: copy, migrate: { source: old, target: new }, gates: { drill_passed_within: { source: old, within: 24h } } }\n");
    let c = check(&stack, &store, &p, &[], now(), 0);
    assert!(!c.ok);
    assert_eq!(c.reason.as_deref(), Some("no drill of old is recorded"));
    assert_eq!(c.fix.as_deref(), Some("tug drill old"));
    store.record_drill("hub", "old", Some("abcdef1234"), true, Some(1500), &json!({})).unwrap();
    let c = check(&stack, &store, &p, &[], now(), 0);
    assert!(c.ok, "{c:?}");
    let e = c.evidence.unwrap();
    assert_eq!(
        (e["source"].as_str(), e["rto_ms"].as_i64(), e["snapshot"].as_str()),
        (Some("old"), Some(1500), Some("abcdef12"))
    );
    // A day and an hour later the same drill is stale.
    let c = check(&stack, &store, &p, &[], now() + 25 * HOUR, 0);
    assert!(!c.ok);
    let reason = c.reason.unwrap();
    assert!(reason.contains("passed 25h 0m ago: older than 1d"), "{reason}");
    // A newer failed drill blocks, even though an older one passed.
    store.record_drill("hub", "old", None, false, None, &json!({})).unwrap();
    let c = check(&stack, &store, &p, &[], now(), 0);
    assert!(c.reason.unwrap().contains("failed"));
}

#[test]
fn parity_and_smoke_gates_read_the_newest_record() {
    let (_dir, stack) = stack();
    let mut store = Store::open_in_memory().unwrap();
    let p = plan(&stack, "steps:\n  - name: switch\n    run: ./s.sh\n    undo: ./s.sh back\n    gates: { parity_equal: { source: old, target: new, within: 1h }, smoke_passed_within: 15m }\n");
    let env = |store: &Store, now_ms: i64| {
        let env = GateEnv { stack: &stack, store, plan: &p, events: &[], now_ms };
        evaluate_step(&env, 0).unwrap()
    };
    let gates = env(&store, now());
    assert_eq!(gates[0].reason.as_deref(), Some("no parity report between old and new is recorded"));
    assert_eq!(gates[0].fix.as_deref(), Some("tug parity old new"));
    assert_eq!(gates[1].fix.as_deref(), Some("tug smoke smoke"));
    let name = |s: &str| tugboat::db::resolve::resolve(s, Some(&stack)).unwrap().to_string();
    store.record_parity(&name("new"), &name("old"), false, "1 of 3 tables differ", &json!({})).unwrap();
    assert!(env(&store, now())[0].reason.as_deref().unwrap().contains("differs: 1 of 3 tables differ"));
    store.record_parity(&name("old"), &name("new"), true, "3 tables equal", &json!({})).unwrap();
    store.record_smoke("hub", "smoke", true, "1 passed").unwrap();
    let gates = env(&store, now());
    assert!(gates.iter().all(|g| g.ok), "{gates:?}");
    let gates = env(&store, now() + 2 * HOUR);
    assert!(gates[0].reason.as_deref().unwrap().contains("older than 1h"));
    assert!(gates[1].reason.as_deref().unwrap().contains("older than 15m"));
}

#[test]
fn approvals_count_this_step_and_earlier_approval_steps() {
    let (_dir, stack) = stack();
    let store = Store::open_in_memory().unwrap();
    let p = plan(
        &stack,
        "steps:\n  - { name: ok, approve: {} }\n  - { name: switch, run: ./s.sh, undo: ./b.sh, gates: { approved_by: 2 } }\n",
    );
    let ev = |step: &str, who: &str| PlanEvent {
        id: 0,
        run_id: 1,
        time_ms: 1,
        step: step.into(),
        kind: "approved".into(),
        actor: who.into(),
        detail: json!({"note": "frozen"}),
    };
    let c = check(&stack, &store, &p, &[ev("ok", "alice")], now(), 1);
    assert_eq!(c.reason.as_deref(), Some("1 of 2 approvals recorded in this run"));
    assert_eq!(c.fix.as_deref(), Some("tug approve cutover switch --as NAME"));
    let c = check(&stack, &store, &p, &[ev("ok", "alice"), ev("switch", "alice")], now(), 1);
    assert!(!c.ok, "one person counts once");
    let c = check(&stack, &store, &p, &[ev("ok", "alice"), ev("switch", "bob")], now(), 1);
    assert!(c.ok);
    assert_eq!(c.evidence.unwrap()["approvers"][1]["person"], "bob");
}

#[test]
fn a_watch_window_needs_history_throughout_and_no_alert() {
    let (_dir, stack) = stack();
    let mut store = Store::open_in_memory().unwrap();
    let p = plan(&stack, "steps:\n  - { name: retire, run: ./r.sh, undo: none, why: gone, gates: { watch_clean_for: { suite: monitor, for: 1h } } }\n");
    let end = (now() / BUCKET_MS) * BUCKET_MS + 1000;
    // An hour of results, one per minute, except a gap of 20 minutes.
    let results = |from: i64, to: i64| -> Vec<(String, i64, bool, i64)> {
        (0..)
            .map(|i| from + i * 60_000)
            .take_while(|t| *t < to)
            .map(|t| ("monitor/api".to_string(), t, true, 5))
            .collect()
    };
    store.record_check_results("hub", &[], &results(end - HOUR - BUCKET_MS, end - 40 * 60_000)).unwrap();
    store.record_check_results("hub", &[], &results(end - 20 * 60_000, end)).unwrap();
    let c = check(&stack, &store, &p, &[], end, 0);
    assert!(!c.ok);
    assert!(
        c.reason.as_deref().unwrap().contains("tug watch recorded nothing for 4 of 12 five-minute periods"),
        "{c:?}"
    );
    store.record_check_results("hub", &[], &results(end - 40 * 60_000, end - 20 * 60_000)).unwrap();
    let c = check(&stack, &store, &p, &[], end, 0);
    assert!(c.ok, "{c:?}");
    assert_eq!(c.evidence.as_ref().unwrap()["buckets"], 12);
    // Results of another suite do not count; an alert of this one fails the window.
    let providers: Vec<String> = Vec::new();
    let alert = NewAlert {
        check_id: "monitor/api",
        kind: "triggered",
        summary: "api down",
        payload: "{}",
        providers: &providers,
    };
    store.record_alert("hub", &alert, end - 10 * 60_000).unwrap();
    let c = check(&stack, &store, &p, &[], end, 0);
    assert!(c.reason.as_deref().unwrap().starts_with("1 alert(s) in the window, the first for monitor/api"), "{c:?}");
}
