//! Drift probes: the running stack against its compose files, exactly as `tug status` compares them
//! (missing, orphaned, image or configuration changed, unhealthy, restarting, stopped). `[DRIFT]` is the
//! number of differences; each one is a diagnostic, so an alert says what drifted.

use std::sync::Arc;

use serde_json::Value;
use tugboat::stack::Stack;
use tugboat_runtime::engine::{Docker, EngineError};

use super::Observed;

#[derive(Debug, Clone)]
pub struct DriftProbe {
    pub stack: Arc<Stack>,
}

impl DriftProbe {
    pub(super) async fn observe(&self) -> Observed {
        let stack = Arc::clone(&self.stack);
        // The runtime's engine client blocks (its own small I/O runtime): keep it off this one.
        let result = tokio::task::spawn_blocking(move || {
            let engine =
                Docker::connect().map_err(|e| (matches!(e, EngineError::Unreachable { .. }), e.to_string()))?;
            // What `tug deploy` put live stands in for the files' images (the stack's default state file).
            let state = stack.dir.join(".tugboat").join("state.db");
            let images = match (stack.config.deploy.is_empty(), state.exists()) {
                (false, true) => {
                    tugboat::store::Store::open(&state).map_err(|e| (false, e.to_string())).and_then(|s| {
                        tugboat_runtime::deploy::deployed_images(&s, &stack).map_err(|e| (false, e.to_string()))
                    })?
                }
                _ => Default::default(),
            };
            tugboat_runtime::status::status(&stack, &engine, &images).map_err(|e| (false, e.to_string()))
        })
        .await;
        let mut observed = Observed::default();
        match result {
            Ok(Ok(report)) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(true));
                observed.values.insert("DRIFT".into(), Value::from(report.drift.len()));
                observed.diagnostics = report.drift.iter().map(ToString::to_string).collect();
            }
            Ok(Err((unreachable, e))) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(!unreachable));
                observed.error = Some(e);
            }
            Err(e) => observed.error = Some(format!("drift probe stopped: {e}")),
        }
        observed
    }
}
