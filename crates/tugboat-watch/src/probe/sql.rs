//! SQL probes: a query against a database of `databases:`, through the same native clients as parity.
//! `[RESULT]` (first column of the first row), `[ROWS]`, `[CONNECTED]`, `[RESPONSE_TIME]`.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tugboat::db::Session;
use tugboat::stack::Stack;

use super::Observed;

/// The database is resolved at each run, not at start-up: a database container that is down (or
/// recreated under a new id) is a failing check, not a daemon that refuses to start.
#[derive(Debug, Clone)]
pub struct SqlProbe {
    pub database: String,
    pub stack: Arc<Stack>,
    pub query: String,
}

impl SqlProbe {
    pub(super) async fn observe(&self) -> Observed {
        let probe = self.clone();
        let start = Instant::now();
        // The client sessions are blocking (a child process per session): keep them off the runtime.
        // Connecting and querying fail differently: a refused connection is `[CONNECTED] == false`, a
        // bad query is an error from a server that answered.
        let result = tokio::task::spawn_blocking(move || {
            let endpoint =
                tugboat::db::resolve::resolve(&probe.database, Some(&probe.stack)).map_err(|e| (false, e))?;
            let mut session = Session::connect(&endpoint).map_err(|e| (false, e))?;
            session.query(&probe.query).map_err(|e| (true, e))
        })
        .await;
        let mut observed = Observed::default();
        observed.values.insert("RESPONSE_TIME".into(), Value::from(start.elapsed().as_millis() as u64));
        match result {
            Ok(Ok(rows)) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(true));
                observed.values.insert("ROWS".into(), Value::from(rows.len()));
                let first = rows.first().and_then(|r| r.first().cloned()).flatten();
                observed.values.insert("RESULT".into(), first.map(Value::String).unwrap_or(Value::Null));
            }
            Ok(Err((connected, e))) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(connected));
                observed.error = Some(format!("database `{}`: {e}", self.database));
            }
            Err(e) => observed.error = Some(format!("SQL probe stopped: {e}")),
        }
        observed
    }
}
