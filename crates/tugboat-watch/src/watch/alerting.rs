//! The alert state machine of one check, kept pure so its rules are tested without a clock or a network:
//! `failure_threshold` consecutive failures open an incident and alert; `success_threshold` consecutive
//! passes resolve it; an open incident is re-sent every `renotify`; maintenance windows mute alerts.
//!
//! A check that flaps — fails fewer times in a row than the threshold — never alerts. The state is saved
//! after every result, so a restarted daemon neither alerts again for an incident it already reported nor
//! forgets one that is open.

use std::time::Duration;

use tugboat::stack::probes::{AlertRule, DEFAULT_CONFIRM_INTERVAL};
use tugboat::store::CheckState;

/// A check's alert rule with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub enabled: bool,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// How soon a failing check is probed again until the failures reach the threshold (`None`: at its
    /// interval only); see [`super::cadence`].
    pub confirm_interval: Option<Duration>,
    pub renotify: Option<Duration>,
    pub send_on_resolved: bool,
    /// Provider names, in order; empty means all.
    pub providers: Vec<String>,
}

impl Rule {
    /// The check's own settings, then `watch.alert`, then the defaults (2, 1, 1 s, never, true).
    pub fn resolve(check: Option<&AlertRule>, defaults: &AlertRule) -> Rule {
        let pick = |f: fn(&AlertRule) -> Option<u32>, fallback: u32| {
            check.and_then(f).or_else(|| f(defaults)).unwrap_or(fallback).max(1)
        };
        Rule {
            enabled: check.and_then(|c| c.enabled).or(defaults.enabled).unwrap_or(true),
            failure_threshold: pick(|a| a.failure_threshold, 2),
            success_threshold: pick(|a| a.success_threshold, 1),
            confirm_interval: Some(
                check
                    .and_then(|c| c.confirm_interval)
                    .or(defaults.confirm_interval)
                    .map_or(DEFAULT_CONFIRM_INTERVAL, |d| d.0),
            )
            .filter(|d| !d.is_zero()),
            renotify: check.and_then(|c| c.renotify).or(defaults.renotify).map(|d| d.0),
            send_on_resolved: check.and_then(|c| c.send_on_resolved).or(defaults.send_on_resolved).unwrap_or(true),
            providers: check
                .and_then(|c| c.providers.clone())
                .or_else(|| defaults.providers.clone())
                .unwrap_or_default(),
        }
    }
}

/// What a result asks of the notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Trigger,
    Renotify,
    Resolve,
}

impl Action {
    pub fn kind(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Trigger => "triggered",
            Action::Renotify => "renotify",
            Action::Resolve => "resolved",
        }
    }
}

/// Folds one result into `state` and says whether to notify.
pub fn step(state: &mut CheckState, passed: bool, now_ms: i64, rule: &Rule, muted: bool) -> Action {
    if passed {
        state.failures = 0;
        state.successes = state.successes.saturating_add(1);
        state.last_ok_ms = Some(now_ms);
        state.failing_since_ms = None;
        if state.incident_since_ms.is_some() && state.successes >= rule.success_threshold {
            state.incident_since_ms = None;
            state.last_notified_ms = None;
            return if rule.enabled && rule.send_on_resolved && !muted { Action::Resolve } else { Action::None };
        }
        return Action::None;
    }
    state.successes = 0;
    state.failures = state.failures.saturating_add(1);
    state.failing_since_ms.get_or_insert(now_ms);
    if !rule.enabled || muted {
        return Action::None;
    }
    match state.incident_since_ms {
        None if state.failures >= rule.failure_threshold => {
            state.incident_since_ms = Some(state.failing_since_ms.unwrap_or(now_ms));
            state.last_notified_ms = Some(now_ms);
            Action::Trigger
        }
        Some(_) => match (rule.renotify, state.last_notified_ms) {
            (Some(every), Some(last)) if now_ms - last >= every.as_millis() as i64 => {
                state.last_notified_ms = Some(now_ms);
                Action::Renotify
            }
            _ => Action::None,
        },
        None => Action::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule {
            enabled: true,
            failure_threshold: 2,
            success_threshold: 2,
            confirm_interval: None,
            renotify: Some(Duration::from_secs(60)),
            send_on_resolved: true,
            providers: vec![],
        }
    }

    fn run(results: &[bool], rule: &Rule) -> (Vec<Action>, CheckState) {
        let mut state = CheckState::default();
        let actions =
            results.iter().enumerate().map(|(i, ok)| step(&mut state, *ok, i as i64 * 10_000, rule, false)).collect();
        (actions, state)
    }

    #[test]
    fn a_flapping_check_below_the_threshold_never_alerts() {
        let (actions, state) = run(&[false, true, false, true, false, true, false], &rule());
        assert!(actions.iter().all(|a| *a == Action::None), "{actions:?}");
        assert_eq!(state.incident_since_ms, None);
    }

    #[test]
    fn an_outage_alerts_once_renotifies_and_resolves_after_enough_passes() {
        use Action::*;
        let results = [true, false, false, false, false, false, false, false, false, true, true, true];
        let (actions, state) = run(&results, &rule());
        assert_eq!(actions, [None, None, Trigger, None, None, None, None, None, Renotify, None, Resolve, None]);
        assert_eq!(state.incident_since_ms, Option::None);
        assert_eq!(state.last_ok_ms, Some(110_000));
    }

    #[test]
    fn the_incident_starts_at_the_first_failure() {
        let (_, state) = run(&[true, false, false, false], &rule());
        assert_eq!(state.incident_since_ms, Some(10_000));
        assert_eq!(state.last_ok_ms, Some(0));
    }

    #[test]
    fn muted_or_disabled_checks_track_state_but_stay_quiet() {
        let mut state = CheckState::default();
        for i in 0..5 {
            assert_eq!(step(&mut state, false, i, &rule(), true), Action::None);
        }
        assert_eq!(state.failures, 5);
        // The window closes while the target is still down: the next failure alerts.
        assert_eq!(step(&mut state, false, 6, &rule(), false), Action::Trigger);
        let off = Rule { enabled: false, ..rule() };
        let (actions, _) = run(&[false; 5], &off);
        assert!(actions.iter().all(|a| *a == Action::None));
    }

    #[test]
    fn defaults_fill_in_from_watch_then_builtin() {
        let watch = AlertRule { failure_threshold: Some(3), ..Default::default() };
        let check = AlertRule {
            renotify: Some(tugboat::stack::probes::HumanDuration(Duration::from_secs(600))),
            ..Default::default()
        };
        let r = Rule::resolve(Some(&check), &watch);
        assert_eq!((r.failure_threshold, r.success_threshold, r.renotify), (3, 1, Some(Duration::from_secs(600))));
        assert!(r.enabled && r.send_on_resolved);
        assert_eq!(r.confirm_interval, Some(Duration::from_secs(1)));
        let off = AlertRule { confirm_interval: Some(tugboat::stack::probes::HumanDuration(Duration::ZERO)), ..watch };
        assert_eq!(Rule::resolve(Some(&check), &off).confirm_interval, None);
    }
}
