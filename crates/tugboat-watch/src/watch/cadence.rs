//! When a check runs next. Every `interval` on a fixed grid; and when a check fails while its failures are
//! still below the alert threshold, again after `confirm_interval` (1 s by default) instead of a whole
//! interval later, until the failures reach the threshold or a probe passes. Each re-probe is an ordinary
//! run: the alert state machine counts it like any other, so at the defaults (10 s, threshold 2) an outage
//! alerts about a second after the first failed run rather than a whole interval later.
//!
//! A healthy check is never probed more often than its interval, and re-probes never move the grid: a
//! re-probe that would come at or after the next regular run is that run. Kept pure (times are offsets
//! from when the check's task started), so the rules are tested on an injected clock.

use std::time::Duration;

/// The schedule of one check.
#[derive(Debug, Clone)]
pub struct Cadence {
    interval: Duration,
    confirm: Option<Duration>,
    threshold: u32,
    /// The next run on the grid.
    next_regular: Duration,
    /// Failed runs in a row, as this schedule saw them.
    failures: u32,
}

impl Cadence {
    /// A schedule whose first run is at `first`; re-probes `confirm` apart (`None`: none) while fewer than
    /// `failure_threshold` runs in a row have failed.
    pub fn new(first: Duration, interval: Duration, confirm: Option<Duration>, failure_threshold: u32) -> Cadence {
        Cadence { interval, confirm, threshold: failure_threshold, next_regular: first, failures: 0 }
    }

    /// When the first run is due.
    pub fn first(&self) -> Duration {
        self.next_regular
    }

    /// Takes in the result of the run that was due at `due` and finished at `now`; says when the next run
    /// is due. A regular run that ends late (past its next grid time) is followed at once, then the grid
    /// continues from there, as with tokio's `MissedTickBehavior::Delay`.
    pub fn after_run(&mut self, due: Duration, passed: bool, now: Duration) -> Duration {
        if due >= self.next_regular {
            self.next_regular = (self.next_regular + self.interval).max(now);
        }
        if passed {
            self.failures = 0;
            return self.next_regular;
        }
        self.failures = self.failures.saturating_add(1);
        match self.confirm {
            Some(confirm) if self.failures < self.threshold => (now + confirm).min(self.next_regular),
            _ => self.next_regular,
        }
    }
}

#[cfg(test)]
mod tests {
    use tugboat::ops::{Clock, ManualClock};
    use tugboat::store::CheckState;

    use super::*;
    use crate::watch::alerting::{self, Action, Rule};

    const SECOND: i64 = 1000;

    fn rule(threshold: u32, confirm: Option<Duration>) -> Rule {
        Rule {
            enabled: true,
            failure_threshold: threshold,
            success_threshold: 1,
            confirm_interval: confirm,
            renotify: None,
            send_on_resolved: true,
            providers: vec![],
        }
    }

    /// What a simulated daemon did: when it probed (ms) and when each alert was raised.
    #[derive(Debug, Default)]
    struct Trace {
        probes: Vec<i64>,
        alerts: Vec<(i64, Action)>,
    }

    /// Runs a check on the injected clock for `until` ms: each run is due when the cadence says, takes
    /// `probe_ms`, passes when `up(start of the run)`, and goes through the alert state machine as the
    /// daemon's recorder does.
    fn simulate(rule: &Rule, interval_s: i64, probe_ms: i64, until: i64, up: impl Fn(i64) -> bool) -> Trace {
        let clock = ManualClock::at(0);
        let ms = |d: Duration| d.as_millis() as i64;
        let mut cadence = Cadence::new(
            Duration::ZERO,
            Duration::from_secs(interval_s as u64),
            rule.confirm_interval,
            rule.failure_threshold,
        );
        let (mut state, mut trace) = (CheckState::default(), Trace::default());
        let mut due = cadence.first();
        while ms(due) < until {
            clock.set(ms(due));
            let passed = up(clock.now_ms());
            trace.probes.push(clock.now_ms());
            clock.advance(probe_ms);
            let action = alerting::step(&mut state, passed, clock.now_ms(), rule, false);
            if action != Action::None {
                trace.alerts.push((clock.now_ms(), action));
            }
            due = cadence.after_run(due, passed, Duration::from_millis(clock.now_ms() as u64));
        }
        trace
    }

    fn seconds(probes: &[i64]) -> Vec<i64> {
        probes.iter().map(|p| p / SECOND).collect()
    }

    #[test]
    fn an_outage_reaches_the_threshold_through_re_probes() {
        // Down from 12.3 s: the run at 20 s fails, the re-probe at 21 s makes it two, and the alert goes.
        let down = |t: i64| t < 12_300;
        let trace = simulate(&rule(2, Some(Duration::from_secs(1))), 10, 0, 60 * SECOND, down);
        assert_eq!(trace.alerts, [(21 * SECOND, Action::Trigger)]);
        // Once alerted, the grid only: no re-probes while the incident is open.
        assert_eq!(seconds(&trace.probes), [0, 10, 20, 21, 30, 40, 50]);

        // Threshold 3: two re-probes, each counted.
        let trace = simulate(&rule(3, Some(Duration::from_secs(1))), 10, 0, 60 * SECOND, down);
        assert_eq!(trace.alerts, [(22 * SECOND, Action::Trigger)]);
        assert_eq!(seconds(&trace.probes), [0, 10, 20, 21, 22, 30, 40, 50]);

        // Without re-probes the same outage alerts a whole interval later.
        let trace = simulate(&rule(2, None), 10, 0, 60 * SECOND, down);
        assert_eq!(trace.alerts, [(30 * SECOND, Action::Trigger)]);
        assert_eq!(seconds(&trace.probes), [0, 10, 20, 30, 40, 50]);
    }

    #[test]
    fn a_target_that_passes_on_re_probe_does_not_alert() {
        // A blip that only the run at 20 s sees: the re-probe at 21 s passes and resets the count.
        let blip = |t: i64| !(19_500..20_500).contains(&t);
        let trace = simulate(&rule(2, Some(Duration::from_secs(1))), 10, 50, 60 * SECOND, blip);
        assert!(trace.alerts.is_empty(), "{trace:?}");
        assert_eq!(trace.probes, [0, 10_000, 20_000, 21_050, 30_000, 40_000, 50_000]);
        // Flapping on every run never reaches two in a row either.
        let runs = std::cell::Cell::new(0);
        let every_other_run = |_: i64| {
            runs.set(runs.get() + 1);
            runs.get() % 2 == 0
        };
        let trace = simulate(&rule(2, Some(Duration::from_secs(1))), 10, 0, 120 * SECOND, every_other_run);
        assert!(trace.alerts.is_empty(), "{trace:?}");
        assert_eq!(seconds(&trace.probes)[..6], [0, 1, 10, 11, 20, 21]);
    }

    #[test]
    fn a_healthy_target_is_probed_at_the_interval_only() {
        let trace = simulate(&rule(2, Some(Duration::from_secs(1))), 10, 30, 600 * SECOND, |_| true);
        let expected: Vec<i64> = (0..60).map(|i| i * 10 * SECOND).collect();
        assert_eq!(trace.probes, expected);
    }

    #[test]
    fn re_probes_never_go_past_the_next_regular_run() {
        // Re-probes 4 s apart with threshold 5 at a 10 s interval: 20, 24, 28, then the grid's 30 (not 32),
        // and 34 makes five.
        let trace = simulate(&rule(5, Some(Duration::from_secs(4))), 10, 0, 45 * SECOND, |t| t < 15_000);
        assert_eq!(seconds(&trace.probes), [0, 10, 20, 24, 28, 30, 34, 40]);
        assert_eq!(trace.alerts, [(34 * SECOND, Action::Trigger)]);
        // A re-probe interval at or above the check interval changes nothing.
        let trace = simulate(&rule(2, Some(Duration::from_secs(10))), 10, 0, 45 * SECOND, |t| t < 15_000);
        assert_eq!(seconds(&trace.probes), [0, 10, 20, 30, 40]);
    }

    #[test]
    fn a_run_longer_than_the_interval_is_followed_at_once() {
        let mut cadence = Cadence::new(Duration::ZERO, Duration::from_secs(10), None, 2);
        // Due at 0, finished at 14 s: the next run is due now, then the grid goes on from there.
        assert_eq!(cadence.after_run(Duration::ZERO, true, Duration::from_secs(14)), Duration::from_secs(14));
        assert_eq!(cadence.after_run(Duration::from_secs(14), true, Duration::from_secs(14)), Duration::from_secs(24));
    }
}
