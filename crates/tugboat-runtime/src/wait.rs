//! Waiting on containers: a dependency's `depends_on` condition before its dependents start, and every
//! service settled for `tug up --wait`. Polls the engine until the condition holds, fails at once when
//! it can no longer hold (unhealthy, exited), and gives up at the deadline naming what it waited for.

use std::time::{Duration, Instant};

use tugboat::ops::{CancelToken, Error, ErrorKind, Result};

use crate::engine::Engine;
use crate::observe::{self, ContainerState};
use crate::spec::Condition;

const POLL: Duration = Duration::from_millis(250);
/// Health check outputs shown when a wait fails.
const LOG_LINES: usize = 5;

/// What a container must reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Condition(Condition),
    /// `--wait`: running (healthy when it has a health check), or exited 0 for a one-shot.
    Settled {
        one_shot: bool,
    },
}

enum Check {
    Done,
    Pending(String),
    Failed(String),
}

fn check(state: &ContainerState, goal: Goal) -> Check {
    let exited = matches!(state.status.as_str(), "exited" | "dead");
    let code = state.exit_code.unwrap_or(0);
    let health_tail = || {
        let tail: Vec<&str> = state.health_log.iter().rev().take(LOG_LINES).rev().map(String::as_str).collect();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; last health check output:\n  {}", tail.join("\n  "))
        }
    };
    match goal {
        Goal::Condition(Condition::ServiceStarted) => Check::Done,
        Goal::Condition(Condition::ServiceCompletedSuccessfully) | Goal::Settled { one_shot: true } => {
            match (exited, code) {
                (true, 0) => Check::Done,
                (true, code) => Check::Failed(format!("exited with code {code}")),
                (false, _) => Check::Pending(format!("still {}", state.status)),
            }
        }
        Goal::Condition(Condition::ServiceHealthy) | Goal::Settled { one_shot: false } => {
            let needs_health = goal == Goal::Condition(Condition::ServiceHealthy);
            match state.health.as_deref() {
                _ if exited => Check::Failed(format!("exited with code {code}{}", health_tail())),
                Some("healthy") => Check::Done,
                Some("unhealthy") => Check::Failed(format!("is unhealthy{}", health_tail())),
                Some(other) => Check::Pending(format!("health {other}{}", health_tail())),
                None if needs_health => Check::Failed("has no health check to wait on".into()),
                None if state.running() && !state.restarting => Check::Done,
                None => Check::Pending(format!("still {}", state.status)),
            }
        }
    }
}

/// Waits until the container `id` (of `service`) reaches `goal`, or fails naming it.
pub fn until(
    engine: &dyn Engine,
    service: &str,
    id: &str,
    goal: Goal,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<ContainerState> {
    let deadline = Instant::now() + timeout;
    let what = match goal {
        Goal::Condition(c) => format!("dependency {service} ({})", c.as_str()),
        Goal::Settled { .. } => format!("service {service}"),
    };
    loop {
        cancel.check()?;
        let state = observe::inspect(engine, id)?;
        match check(&state, goal) {
            Check::Done => return Ok(state),
            Check::Failed(why) => {
                return Err(Error::new(ErrorKind::CannotAct, format!("{what}: container {} {why}", state.name)))
            }
            Check::Pending(why) if Instant::now() >= deadline => {
                return Err(Error::new(
                    ErrorKind::CannotAct,
                    format!("{what}: container {} not ready after {}s ({why})", state.name, timeout.as_secs()),
                ))
            }
            Check::Pending(_) => std::thread::sleep(POLL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, code: i64, health: Option<&str>) -> ContainerState {
        ContainerState {
            id: "id".into(),
            name: "p-db-1".into(),
            status: status.into(),
            exit_code: Some(code),
            restarting: false,
            health: health.map(str::to_string),
            health_log: vec!["connection refused".into()],
            image_id: String::new(),
            image: String::new(),
            env: vec![],
            labels: Default::default(),
            restart_policy: "no".into(),
            ip: None,
        }
    }

    #[test]
    fn healthy_condition_follows_the_health_status() {
        let goal = Goal::Condition(Condition::ServiceHealthy);
        assert!(matches!(check(&state("running", 0, Some("healthy")), goal), Check::Done));
        assert!(matches!(check(&state("running", 0, Some("starting")), goal), Check::Pending(_)));
        let Check::Failed(why) = check(&state("running", 0, Some("unhealthy")), goal) else { panic!() };
        assert!(why.contains("unhealthy") && why.contains("connection refused"), "{why}");
        assert!(matches!(check(&state("running", 0, None), goal), Check::Failed(_)));
        assert!(matches!(check(&state("exited", 1, Some("starting")), goal), Check::Failed(_)));
    }

    #[test]
    fn completed_successfully_needs_exit_zero() {
        let goal = Goal::Condition(Condition::ServiceCompletedSuccessfully);
        assert!(matches!(check(&state("exited", 0, None), goal), Check::Done));
        assert!(matches!(check(&state("running", 0, None), goal), Check::Pending(_)));
        assert!(matches!(check(&state("exited", 3, None), goal), Check::Failed(w) if w.contains("code 3")));
    }

    #[test]
    fn settled_means_running_or_healthy() {
        let goal = Goal::Settled { one_shot: false };
        assert!(matches!(check(&state("running", 0, None), goal), Check::Done));
        assert!(matches!(check(&state("created", 0, None), goal), Check::Pending(_)));
        assert!(matches!(check(&state("exited", 0, None), goal), Check::Failed(_)));
        assert!(matches!(check(&state("exited", 0, None), Goal::Settled { one_shot: true }), Check::Done));
    }
}
