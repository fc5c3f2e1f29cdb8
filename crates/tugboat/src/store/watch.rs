//! What `tug watch` keeps: each check's alert state, 5-minute history buckets, raised alerts and the
//! outbox of deliveries. Times are passed in (milliseconds since the epoch) so tests control the clock.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Store, StoreError};

/// History is kept in buckets of this size: a day of a 1-second check is 288 rows, not 86 400.
pub const BUCKET_MS: i64 = 5 * 60 * 1000;

/// A check's alerting state, as the state machine left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckState {
    pub check_id: String,
    /// Consecutive failures and successes up to now.
    pub failures: u32,
    pub successes: u32,
    pub last_ok_ms: Option<i64>,
    /// The first failure of the current run of failures ("failing since").
    pub failing_since_ms: Option<i64>,
    /// Set while an alert is open.
    pub incident_since_ms: Option<i64>,
    pub last_notified_ms: Option<i64>,
    /// What failed last, while it fails.
    pub last_result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryBucket {
    pub check_id: String,
    pub bucket_ms: i64,
    pub ok: u32,
    pub failed: u32,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    pub id: i64,
    pub time_ms: i64,
    pub check_id: String,
    /// `triggered`, `renotify` or `resolved`.
    pub kind: String,
    pub summary: String,
    /// Deliveries made / still queued.
    pub delivered: u32,
    pub pending: u32,
}

/// An alert to record: what it says and to whom it goes.
#[derive(Debug, Clone, Copy)]
pub struct NewAlert<'a> {
    pub check_id: &'a str,
    /// `triggered`, `renotify` or `resolved`.
    pub kind: &'a str,
    pub summary: &'a str,
    /// The alert as JSON, handed to each provider.
    pub payload: &'a str,
    pub providers: &'a [String],
}

/// A delivery still to make: the alert's payload to one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub event_id: i64,
    pub provider: String,
    pub created_ms: i64,
    pub attempts: u32,
    pub payload: String,
}

impl Store {
    pub fn check_states(&self, stack: &str) -> Result<Vec<CheckState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT check_id, failures, successes, last_ok_ms, failing_since_ms, incident_since_ms, last_notified_ms, last_result
                 FROM watch_checks WHERE stack = ?1 ORDER BY check_id",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![stack], |r| {
                Ok(CheckState {
                    check_id: r.get(0)?,
                    failures: r.get(1)?,
                    successes: r.get(2)?,
                    last_ok_ms: r.get(3)?,
                    failing_since_ms: r.get(4)?,
                    incident_since_ms: r.get(5)?,
                    last_notified_ms: r.get(6)?,
                    last_result: r.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_err(e))
    }

    /// Saves check states and adds results to their history buckets, in one transaction (the watch
    /// daemon flushes about once a second rather than once per result).
    pub fn record_check_results(
        &mut self,
        stack: &str,
        states: &[CheckState],
        results: &[(String, i64, bool, i64)],
    ) -> Result<(), StoreError> {
        self.record_check_results_and_alert(stack, states, results, None).map(|_| ())
    }

    /// As [`Store::record_check_results`], plus an alert and its queued deliveries in the same
    /// transaction: the state that says "alerted" and the alert itself are saved together or not at all,
    /// so a crash can neither lose the alert nor send it twice. Returns the alert's id.
    pub fn record_check_results_and_alert(
        &mut self,
        stack: &str,
        states: &[CheckState],
        results: &[(String, i64, bool, i64)],
        alert: Option<(&NewAlert<'_>, i64)>,
    ) -> Result<Option<i64>, StoreError> {
        let path = self.display_path();
        let err = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut save = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO watch_checks
                     (stack, check_id, failures, successes, last_ok_ms, failing_since_ms, incident_since_ms, last_notified_ms, last_result)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err)?;
            for s in states {
                save.execute(params![
                    stack,
                    s.check_id,
                    s.failures,
                    s.successes,
                    s.last_ok_ms,
                    s.failing_since_ms,
                    s.incident_since_ms,
                    s.last_notified_ms,
                    s.last_result
                ])
                .map_err(err)?;
            }
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO watch_history (stack, check_id, bucket_ms, ok, failed, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (stack, check_id, bucket_ms) DO UPDATE SET
                       ok = ok + excluded.ok, failed = failed + excluded.failed, duration_ms = duration_ms + excluded.duration_ms",
                )
                .map_err(err)?;
            for (check, at_ms, ok, duration_ms) in results {
                let bucket = at_ms - at_ms.rem_euclid(BUCKET_MS);
                add.execute(params![stack, check, bucket, *ok as i64, !*ok as i64, duration_ms]).map_err(err)?;
            }
        }
        let id = match alert {
            Some((alert, now_ms)) => Some(insert_alert(&tx, stack, alert, now_ms).map_err(err)?),
            None => None,
        };
        tx.commit().map_err(err)?;
        Ok(id)
    }

    /// History buckets from `since_ms` on, oldest first.
    pub fn check_history(&self, stack: &str, since_ms: i64) -> Result<Vec<HistoryBucket>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT check_id, bucket_ms, ok, failed, duration_ms FROM watch_history
                 WHERE stack = ?1 AND bucket_ms >= ?2 ORDER BY check_id, bucket_ms",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![stack, since_ms], |r| {
                Ok(HistoryBucket {
                    check_id: r.get(0)?,
                    bucket_ms: r.get(1)?,
                    ok: r.get(2)?,
                    failed: r.get(3)?,
                    duration_ms: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_err(e))
    }

    /// Drops history and delivered or abandoned alerts older than `before_ms` (the retention bound).
    pub fn prune_watch_history(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM watch_history WHERE bucket_ms < ?1", params![before_ms])
            .map_err(|e| self.sql_err(e))?;
        self.conn
            .execute(
                "DELETE FROM alert_outbox WHERE created_ms < ?1 AND (delivered_ms IS NOT NULL OR gave_up_ms IS NOT NULL)",
                params![before_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        self.conn
            .execute(
                "DELETE FROM alert_events WHERE time_ms < ?1 AND id NOT IN (SELECT event_id FROM alert_outbox)",
                params![before_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(n)
    }

    /// Records a raised alert and queues one delivery per provider, atomically: once this returns, the
    /// alert will be delivered or retried even if the process dies.
    pub fn record_alert(&mut self, stack: &str, alert: &NewAlert<'_>, now_ms: i64) -> Result<i64, StoreError> {
        let id = self.record_check_results_and_alert(stack, &[], &[], Some((alert, now_ms)))?;
        Ok(id.unwrap_or_default())
    }

    /// Queues one more delivery of an alert (a fallback provider), unless that provider has it already.
    pub fn add_delivery(&mut self, event_id: i64, provider: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "INSERT INTO alert_outbox (event_id, provider, created_ms, next_attempt_ms)
                 SELECT ?1, ?2, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM alert_outbox WHERE event_id = ?1 AND provider = ?2)",
                params![event_id, provider, now_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(n > 0)
    }

    /// Deliveries whose next attempt is due, oldest first.
    pub fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.id, o.event_id, o.provider, o.created_ms, o.attempts, e.payload
                 FROM alert_outbox o JOIN alert_events e ON e.id = o.event_id
                 WHERE o.delivered_ms IS NULL AND o.gave_up_ms IS NULL AND o.next_attempt_ms <= ?1
                 ORDER BY o.next_attempt_ms, o.id LIMIT ?2",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![now_ms, limit as i64], |r| {
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    provider: r.get(2)?,
                    created_ms: r.get(3)?,
                    attempts: r.get(4)?,
                    payload: r.get(5)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_err(e))
    }

    /// When the next queued delivery is due (to sleep until then).
    pub fn next_delivery_ms(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(next_attempt_ms) FROM alert_outbox WHERE delivered_ms IS NULL AND gave_up_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }

    pub fn mark_delivered(&mut self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alert_outbox SET delivered_ms = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, now_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// A failed attempt: retry at `next_attempt_ms`, or give up when that is `None`.
    pub fn mark_failed(
        &mut self,
        id: i64,
        error: &str,
        next_attempt_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?2,
                   next_attempt_ms = coalesce(?3, next_attempt_ms), gave_up_ms = CASE WHEN ?3 IS NULL THEN ?4 END
                 WHERE id = ?1",
                params![id, error, next_attempt_ms, now_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// The newest alerts of a stack, with how many of their deliveries are done and pending.
    pub fn recent_alerts(&self, stack: &str, limit: usize) -> Result<Vec<AlertEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.id, e.time_ms, e.check_id, e.kind, e.summary,
                   (SELECT count(*) FROM alert_outbox o WHERE o.event_id = e.id AND o.delivered_ms IS NOT NULL),
                   (SELECT count(*) FROM alert_outbox o WHERE o.event_id = e.id AND o.delivered_ms IS NULL AND o.gave_up_ms IS NULL)
                 FROM alert_events e WHERE e.stack = ?1 ORDER BY e.time_ms DESC, e.id DESC LIMIT ?2",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![stack, limit as i64], |r| {
                Ok(AlertEvent {
                    id: r.get(0)?,
                    time_ms: r.get(1)?,
                    check_id: r.get(2)?,
                    kind: r.get(3)?,
                    summary: r.get(4)?,
                    delivered: r.get(5)?,
                    pending: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_err(e))
    }

    /// Deliveries still queued (all stacks).
    pub fn pending_deliveries(&self) -> Result<u32, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL AND gave_up_ms IS NULL", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sql_err(e))
    }

    /// The newest backup run of a stack: (time, ok).
    pub fn last_backup_run(&self, stack: &str) -> Result<Option<(i64, bool)>, StoreError> {
        self.conn
            .query_row(
                "SELECT time_ms, ok FROM backup_runs WHERE stack = ?1 ORDER BY time_ms DESC LIMIT 1",
                params![stack],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// The newest drill of a stack: (time, ok).
    pub fn last_drill_run(&self, stack: &str) -> Result<Option<(i64, bool)>, StoreError> {
        self.conn
            .query_row(
                "SELECT time_ms, ok FROM drill_runs WHERE stack = ?1 ORDER BY time_ms DESC, id DESC LIMIT 1",
                params![stack],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }
}

fn insert_alert(
    tx: &rusqlite::Transaction<'_>,
    stack: &str,
    alert: &NewAlert<'_>,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    let NewAlert { check_id, kind, summary, payload, providers } = *alert;
    tx.execute(
        "INSERT INTO alert_events (time_ms, stack, check_id, kind, summary, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_ms, stack, check_id, kind, summary, payload],
    )?;
    let id = tx.last_insert_rowid();
    for p in providers {
        tx.execute(
            "INSERT INTO alert_outbox (event_id, provider, created_ms, next_attempt_ms) VALUES (?1, ?2, ?3, ?3)",
            params![id, p, now_ms],
        )?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_fold_into_buckets_and_states_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let state =
            CheckState { check_id: "smoke/api".into(), failures: 2, incident_since_ms: Some(5), ..Default::default() };
        let t = 10 * BUCKET_MS;
        let results = vec![
            ("smoke/api".to_string(), t + 1, true, 10),
            ("smoke/api".into(), t + 2, false, 30),
            ("smoke/api".into(), t + BUCKET_MS, true, 5),
        ];
        s.record_check_results("dms", std::slice::from_ref(&state), &results).unwrap();
        assert_eq!(s.check_states("dms").unwrap(), vec![state]);
        let h = s.check_history("dms", 0).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].bucket_ms, h[0].ok, h[0].failed, h[0].duration_ms), (t, 1, 1, 40));
        assert_eq!(s.prune_watch_history(t + BUCKET_MS).unwrap(), 1);
    }

    #[test]
    fn outbox_retries_then_delivers_and_fallbacks_are_not_doubled() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s
            .record_alert(
                "dms",
                &NewAlert {
                    check_id: "smoke/api",
                    kind: "triggered",
                    summary: "api down",
                    payload: "{}",
                    providers: &["smtp".into()],
                },
                1000,
            )
            .unwrap();
        let due = s.due_deliveries(1000, 10).unwrap();
        assert_eq!(due.len(), 1);
        s.mark_failed(due[0].id, "connection refused", Some(3000), 1000).unwrap();
        assert!(s.due_deliveries(2000, 10).unwrap().is_empty());
        assert_eq!(s.next_delivery_ms().unwrap(), Some(3000));
        assert!(s.add_delivery(id, "chat", 1000).unwrap());
        assert!(!s.add_delivery(id, "chat", 1000).unwrap());
        let due = s.due_deliveries(3000, 10).unwrap();
        assert_eq!(due.iter().map(|d| d.provider.as_str()).collect::<Vec<_>>(), ["chat", "smtp"]);
        assert_eq!(due[1].attempts, 1);
        for d in &due {
            s.mark_delivered(d.id, 3000).unwrap();
        }
        assert_eq!(s.pending_deliveries().unwrap(), 0);
        let alerts = s.recent_alerts("dms", 5).unwrap();
        assert_eq!((alerts[0].delivered, alerts[0].pending), (2, 0));
    }
}
