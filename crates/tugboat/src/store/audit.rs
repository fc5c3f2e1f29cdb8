//! The audit log: one row per state-changing command, chained by SHA-256.
//!
//! Each event stores the hash of the event before it, and its own hash covers that link plus
//! everything it records, so changing any stored field or removing an event breaks the chain
//! at that point. Removing events from the *end* leaves a shorter chain that is still
//! internally consistent, so a one-row `audit_head` table (last seq and hash) is updated in the
//! same transaction as every append; `verify` compares the chain's end with it.
//!
//! What this detects: an event edited in place (hash mismatch), an event deleted from the middle
//! (gap in `seq`, or a `prev_hash` that does not match), events deleted from the end or the head
//! record edited (chain end disagrees with the head).
//!
//! What it cannot detect: someone with write access who recomputes every hash after the point
//! they change *and* rewrites the head. The chain holds no secret, so it proves integrity only
//! relative to a head hash kept somewhere else — which is why `tug audit verify` prints the head
//! hash: record it (ticket, chat, another host) and a later rewrite shows up as a different head.
//!
//! Hash format (stable; an outside verifier can recompute it):
//! `hash = hex(sha256(prev_hash + "\n" + canonical))` where `canonical` is the JSON object
//! `{"seq":…,"time_ms":…,"actor":…,"command":…,"stack":…,"config_digest":…,"params":…,"outcome":…}`
//! in exactly that field order, without whitespace, with `params` inserted as the exact JSON
//! text stored in the `params` column (so the hash never depends on re-serialising numbers) and
//! `outcome` in its JSON form (see [`Outcome`]). The first event's `prev_hash` is 64 zeros.

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::redact::redact_params;
use super::{Store, StoreError};

/// `prev_hash` of the first event, and the head hash of an empty log.
pub(crate) const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// RFC 3339, UTC, millisecond precision: `2025-01-31T08:15:02.123Z`.
const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// How a command ended.
///
/// JSON shape: `"ok"`, `"dry_run"`, `"interrupted"`, `"aborted"`, or `{"failed": "short reason"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The command did what it was asked.
    Ok,
    /// The command failed; the reason is one line, for humans.
    Failed(String),
    /// `--dry-run`: the plan was shown, nothing was changed.
    DryRun,
    /// Ctrl-C or SIGTERM stopped it at a safe point (or, when it did not get there in time, wherever it was).
    Interrupted,
    /// It ended without saying how (a panic): whatever it had changed by then stays changed.
    Aborted,
}

impl Outcome {
    /// The `outcome` column value (queryable without JSON functions).
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::DryRun => "dry_run",
            Outcome::Interrupted => "interrupted",
            Outcome::Aborted => "aborted",
        }
    }

    /// The `outcome_detail` column value.
    fn detail(&self) -> Option<&str> {
        match self {
            Outcome::Failed(reason) => Some(reason),
            Outcome::Ok | Outcome::DryRun | Outcome::Interrupted | Outcome::Aborted => None,
        }
    }

    fn from_columns(kind: &str, detail: Option<String>) -> Result<Outcome, String> {
        match (kind, detail) {
            ("ok", None) => Ok(Outcome::Ok),
            ("dry_run", None) => Ok(Outcome::DryRun),
            ("interrupted", None) => Ok(Outcome::Interrupted),
            ("aborted", None) => Ok(Outcome::Aborted),
            ("failed", Some(reason)) => Ok(Outcome::Failed(reason)),
            (kind, detail) => Err(format!("outcome {kind:?} with detail {detail:?} is not a valid outcome")),
        }
    }
}

/// What a command reports about itself; the store adds seq, time and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// Who ran it, usually [`current_actor`].
    pub actor: String,
    /// The command, e.g. `backup`, `deploy`, `plan step`.
    pub command: String,
    /// The stack name from `tugboat.yml`.
    pub stack: String,
    /// Digest of the configuration the command acted on.
    pub config_digest: String,
    /// The command's parameters; redacted with [`redact_params`] before they are stored.
    pub params: serde_json::Value,
    /// How it ended.
    pub outcome: Outcome,
}

/// One stored event. This is the shape of `tug audit log --json` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds, derived from `time_ms`.
    pub time: String,
    /// Unix time in milliseconds (this, not `time`, is covered by the hash).
    pub time_ms: i64,
    pub actor: String,
    pub command: String,
    pub stack: String,
    pub config_digest: String,
    /// Parameters as stored, i.e. already redacted.
    pub params: serde_json::Value,
    pub outcome: Outcome,
    /// Hash of the event before this one (64 zeros for the first).
    pub prev_hash: String,
    /// Hash of this event; see the module documentation for what it covers.
    pub hash: String,
}

/// Why the chain is broken at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The event's stored fields do not hash to its stored hash (or cannot be read).
    Edited,
    /// The event is missing: `seq` has a gap, or the next event's `prev_hash` does not link to
    /// the event before it.
    Deleted,
    /// The end of the chain disagrees with the head record: events were removed from the end,
    /// or the last event or the head record was altered.
    Truncated,
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakReason::Edited => "edited",
            BreakReason::Deleted => "deleted",
            BreakReason::Truncated => "truncated",
        })
    }
}

/// Result of recomputing the chain.
///
/// JSON shape: `{"status":"intact","events":N,"head":"<hash>"}` or
/// `{"status":"broken","seq":N,"reason":"edited"|"deleted"|"truncated","detail":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuditVerification {
    /// Every event hashes correctly, links to the one before, and the end matches the head.
    Intact {
        /// Number of events.
        events: u64,
        /// Hash of the last event (64 zeros for an empty log); record it to detect rewrites.
        head: String,
    },
    /// The first event at which the chain is broken.
    Broken {
        /// The first broken (or first missing) event.
        seq: i64,
        reason: BreakReason,
        /// One line for humans, e.g. which hashes differ.
        detail: String,
    },
}

/// One `audit_events` row as stored, before any parsing.
struct RawEvent {
    seq: i64,
    time_ms: i64,
    actor: String,
    command: String,
    stack: String,
    config_digest: String,
    params: String,
    outcome: String,
    outcome_detail: Option<String>,
    prev_hash: String,
    hash: String,
}

const SELECT_EVENTS: &str = "SELECT seq, time_ms, actor, command, stack, config_digest, params, \
     outcome, outcome_detail, prev_hash, hash FROM audit_events";

impl RawEvent {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
        Ok(RawEvent {
            seq: row.get(0)?,
            time_ms: row.get(1)?,
            actor: row.get(2)?,
            command: row.get(3)?,
            stack: row.get(4)?,
            config_digest: row.get(5)?,
            params: row.get(6)?,
            outcome: row.get(7)?,
            outcome_detail: row.get(8)?,
            prev_hash: row.get(9)?,
            hash: row.get(10)?,
        })
    }

    /// Parses the stored text columns; an error names what is wrong.
    fn parse(self) -> Result<AuditEvent, String> {
        let params: serde_json::Value =
            serde_json::from_str(&self.params).map_err(|e| format!("params are not valid JSON: {e}"))?;
        let outcome = Outcome::from_columns(&self.outcome, self.outcome_detail)?;
        let time = format_time_ms(self.time_ms)?;
        Ok(AuditEvent {
            seq: self.seq,
            time,
            time_ms: self.time_ms,
            actor: self.actor,
            command: self.command,
            stack: self.stack,
            config_digest: self.config_digest,
            params,
            outcome,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }

    /// The hash this row's contents should have, or why it cannot be computed.
    fn expected_hash(&self) -> Result<String, String> {
        let outcome = Outcome::from_columns(&self.outcome, self.outcome_detail.clone())?;
        serde_json::from_str::<serde_json::Value>(&self.params)
            .map_err(|e| format!("params are not valid JSON: {e}"))?;
        event_hash(
            &self.prev_hash,
            &HashInput {
                seq: self.seq,
                time_ms: self.time_ms,
                actor: &self.actor,
                command: &self.command,
                stack: &self.stack,
                config_digest: &self.config_digest,
                params_json: &self.params,
                outcome: &outcome,
            },
        )
    }
}

/// The hashed fields of an event.
pub(crate) struct HashInput<'a> {
    pub seq: i64,
    pub time_ms: i64,
    pub actor: &'a str,
    pub command: &'a str,
    pub stack: &'a str,
    pub config_digest: &'a str,
    /// The exact stored JSON text of the parameters.
    pub params_json: &'a str,
    pub outcome: &'a Outcome,
}

/// `hex(sha256(prev_hash + "\n" + canonical JSON))`; see the module documentation.
pub(crate) fn event_hash(prev_hash: &str, e: &HashInput<'_>) -> Result<String, String> {
    let json = |s: &str| serde_json::to_string(s).map_err(|e| e.to_string());
    let outcome = serde_json::to_string(e.outcome).map_err(|e| e.to_string())?;
    let canonical = format!(
        "{{\"seq\":{},\"time_ms\":{},\"actor\":{},\"command\":{},\"stack\":{},\"config_digest\":{},\"params\":{},\"outcome\":{}}}",
        e.seq,
        e.time_ms,
        json(e.actor)?,
        json(e.command)?,
        json(e.stack)?,
        json(e.config_digest)?,
        e.params_json,
        outcome,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn format_time_ms(time_ms: i64) -> Result<String, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)
        .map_err(|e| format!("time_ms {time_ms} is out of range: {e}"))?
        .format(TIME_FORMAT)
        .map_err(|e| format!("time_ms {time_ms} cannot be formatted: {e}"))
}

pub(crate) fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

impl Store {
    /// Appends one event, stamped with the current time.
    ///
    /// `params` are passed through [`redact_params`] first, so secrets never reach the file even
    /// if a caller forgot. The head is read and the row and head written in one IMMEDIATE
    /// transaction, so concurrent appenders (other `tug` processes) serialize and the chain
    /// never forks.
    pub fn append_audit(&mut self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        self.append_audit_at(event, now_ms())
    }

    /// [`Store::append_audit`] with an explicit time, for tests and imports.
    pub(crate) fn append_audit_at(&mut self, event: NewAuditEvent, time_ms: i64) -> Result<AuditEvent, StoreError> {
        let path = self.display_path();
        self.append_audit_closing(event, time_ms, None)?
            .ok_or(StoreError::InvalidAuditEvent { path, detail: "the event was not written".into() })
    }

    /// Appends the event of an operation and, in the same transaction, removes its `open_operations` row:
    /// after a crash either the event exists or the row does, never both or neither. `None` when the row
    /// is already gone: another process wrote that event first.
    pub(crate) fn append_audit_closing(
        &mut self,
        event: NewAuditEvent,
        time_ms: i64,
        open_operation: Option<i64>,
    ) -> Result<Option<AuditEvent>, StoreError> {
        let path = self.display_path();
        let invalid = |detail: String| StoreError::InvalidAuditEvent { path: path.clone(), detail };
        let sql_err = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let time = format_time_ms(time_ms).map_err(invalid)?;
        let params = redact_params(event.params);
        let params_json = serde_json::to_string(&params).map_err(|e| invalid(e.to_string()))?;

        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_err)?;
        let (head_seq, prev_hash): (i64, String) = tx
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql_err)?
            // The head row is created by the schema; if someone deleted it, appending after
            // whatever rows exist keeps new events chained, and `verify` reports the damage.
            .map_or_else(
                || {
                    tx.query_row("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map(|last| last.unwrap_or((0, GENESIS_HASH.to_string())))
                },
                Ok,
            )
            .map_err(sql_err)?;
        let seq = head_seq + 1;
        let hash = event_hash(
            &prev_hash,
            &HashInput {
                seq,
                time_ms,
                actor: &event.actor,
                command: &event.command,
                stack: &event.stack,
                config_digest: &event.config_digest,
                params_json: &params_json,
                outcome: &event.outcome,
            },
        )
        .map_err(invalid)?;
        tx.execute(
            "INSERT INTO audit_events (seq, time_ms, actor, command, stack, config_digest, params, \
             outcome, outcome_detail, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                seq,
                time_ms,
                event.actor,
                event.command,
                event.stack,
                event.config_digest,
                params_json,
                event.outcome.kind(),
                event.outcome.detail(),
                prev_hash,
                hash,
            ],
        )
        .map_err(sql_err)?;
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            rusqlite::params![seq, hash],
        )
        .map_err(sql_err)?;
        if let Some(id) = open_operation {
            if tx.execute("DELETE FROM open_operations WHERE id = ?1", [id]).map_err(sql_err)? == 0 {
                return Ok(None); // dropping the transaction rolls the event back
            }
        }
        tx.commit().map_err(sql_err)?;

        // Return what a later `audit_events` will read back: params as parsed from the stored
        // text, so callers never see a value that differs from the log.
        let params = serde_json::from_str(&params_json).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(AuditEvent {
            seq,
            time,
            time_ms,
            actor: event.actor,
            command: event.command,
            stack: event.stack,
            config_digest: event.config_digest,
            params,
            outcome: event.outcome,
            prev_hash,
            hash,
        }))
    }

    /// Events in chain order, optionally only those with `time_ms >= since_ms`.
    ///
    /// Fails on a row that cannot be parsed (altered outside tugboat); `verify_audit` says where.
    pub fn audit_events(&self, since_ms: Option<i64>) -> Result<Vec<AuditEvent>, StoreError> {
        let sql = format!("{SELECT_EVENTS} WHERE time_ms >= ?1 ORDER BY seq");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt.query_map([since_ms.unwrap_or(i64::MIN)], RawEvent::from_row).map_err(|e| self.sql_err(e))?;
        let mut events = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| self.sql_err(e))?;
            let seq = raw.seq;
            let event = raw.parse().map_err(|detail| StoreError::CorruptAuditEvent {
                path: self.display_path(),
                seq,
                detail,
            })?;
            events.push(event);
        }
        Ok(events)
    }

    /// Recomputes the whole chain and compares its end with the head record.
    ///
    /// `Ok(Broken { .. })` names the first event where the chain breaks; `Err` means the
    /// database itself could not be read.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        // One read transaction: a consistent snapshot even while another process appends.
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sql_err(e))?;
        let verdict = verify_in(&tx).map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))?;
        Ok(verdict)
    }
}

fn verify_in(conn: &rusqlite::Connection) -> rusqlite::Result<AuditVerification> {
    let mut stmt = conn.prepare(&format!("{SELECT_EVENTS} ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut expected_seq: i64 = 1;
    let mut prev_hash = GENESIS_HASH.to_string();
    while let Some(row) = rows.next()? {
        let raw = RawEvent::from_row(row)?;
        if raw.seq != expected_seq {
            return Ok(AuditVerification::Broken {
                seq: expected_seq,
                reason: BreakReason::Deleted,
                detail: format!("event {expected_seq} is missing: the next stored event is {}", raw.seq),
            });
        }
        match raw.expected_hash() {
            Err(problem) => {
                return Ok(AuditVerification::Broken { seq: raw.seq, reason: BreakReason::Edited, detail: problem })
            }
            Ok(computed) if computed != raw.hash => {
                return Ok(AuditVerification::Broken {
                    seq: raw.seq,
                    reason: BreakReason::Edited,
                    detail: format!("stored hash {} but the event's contents hash to {computed}", raw.hash),
                })
            }
            Ok(_) => {}
        }
        if raw.prev_hash != prev_hash {
            // Contents are self-consistent but do not link to the event before: events were
            // removed (and the rest renumbered and rehashed) or the chain was spliced.
            return Ok(AuditVerification::Broken {
                seq: raw.seq,
                reason: BreakReason::Deleted,
                detail: format!(
                    "prev_hash {} does not match the hash of event {} ({prev_hash})",
                    raw.prev_hash,
                    raw.seq - 1
                ),
            });
        }
        prev_hash = raw.hash;
        expected_seq += 1;
    }
    let last_seq = expected_seq - 1;

    let head: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let broken = |seq, detail| AuditVerification::Broken { seq, reason: BreakReason::Truncated, detail };
    Ok(match head {
        None => broken(
            last_seq + 1,
            "the audit head record is missing, so events removed from the end cannot be ruled out".to_string(),
        ),
        Some((head_seq, _)) if head_seq > last_seq => {
            broken(last_seq + 1, format!("the head record says there are {head_seq} events, but only {last_seq} exist"))
        }
        Some((head_seq, _)) if head_seq < last_seq => broken(
            head_seq + 1,
            format!(
                "the head record says there are {head_seq} events, but {last_seq} exist: \
                 events after {head_seq} were not written by tugboat"
            ),
        ),
        Some((_, head_hash)) if head_hash != prev_hash => broken(
            last_seq,
            format!("the head record's hash {head_hash} differs from event {last_seq}'s hash {prev_hash}"),
        ),
        Some(_) => AuditVerification::Intact { events: u64::try_from(last_seq).unwrap_or(0), head: prev_hash },
    })
}

/// Who is acting: `user@host`.
///
/// The user is `$SUDO_USER` when run through sudo (the person, not `root`), else `$USER`
/// (`$LOGNAME`, `$USERNAME`), else — as under a service manager, which sets none of them — the name
/// of the process's uid in `/etc/passwd`, else `uid<N>`; the host is the kernel's hostname,
/// `/etc/hostname` or `$HOSTNAME`, else `unknown`. Self-reported: it records who ran a command for
/// honest operators, it does not authenticate them.
pub fn current_actor() -> String {
    let env = |name: &str| std::env::var(name).ok();
    let file = |path: &str| std::fs::read_to_string(path).ok();
    actor_from(env, file, process_uid())
}

/// The process's (effective) uid: the owner of `/proc/self`.
#[cfg(unix)]
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn process_uid() -> Option<u32> {
    None
}

fn actor_from(env: impl Fn(&str) -> Option<String>, file: impl Fn(&str) -> Option<String>, uid: Option<u32>) -> String {
    let non_empty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let user = ["SUDO_USER", "USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| non_empty(env(name)))
        .or_else(|| {
            let uid = uid?;
            let named = file("/etc/passwd").and_then(|passwd| user_of_uid(&passwd, uid));
            Some(named.unwrap_or_else(|| format!("uid{uid}")))
        })
        .unwrap_or_else(|| "unknown".to_string());
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .find_map(|path| non_empty(file(path)))
        .or_else(|| non_empty(env("HOSTNAME")))
        .unwrap_or_else(|| "unknown".to_string());
    format!("{user}@{host}")
}

/// The name of `uid` in passwd(5) text (`name:password:uid:gid:gecos:home:shell`), the first that has it.
fn user_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let line_uid = fields.nth(1)?.trim().parse::<u32>().ok()?;
        (line_uid == uid && !name.is_empty() && !name.starts_with('#')).then(|| name.to_string())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(n: usize) -> NewAuditEvent {
        NewAuditEvent {
            actor: "alice@nas".into(),
            command: "backup".into(),
            stack: "dms".into(),
            config_digest: format!("sha256:{n:064x}"),
            params: json!({ "n": n, "sources": ["main", "/mnt/uploads"] }),
            outcome: match n % 3 {
                0 => Outcome::Failed(format!("restic exited with status {n}")),
                1 => Outcome::Ok,
                _ => Outcome::DryRun,
            },
        }
    }

    fn store_with(n: usize) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        for i in 1..=n {
            store.append_audit_at(event(i), 1_700_000_000_000 + i as i64 * 1000).unwrap();
        }
        store
    }

    fn intact_count(v: &AuditVerification) -> u64 {
        match v {
            AuditVerification::Intact { events, .. } => *events,
            other => panic!("expected intact, got {other:?}"),
        }
    }

    fn broken(v: AuditVerification) -> (i64, BreakReason, String) {
        match v {
            AuditVerification::Broken { seq, reason, detail } => (seq, reason, detail),
            other => panic!("expected broken, got {other:?}"),
        }
    }

    #[test]
    fn append_and_list_round_trip() {
        let mut store = Store::open_in_memory().unwrap();
        let first = store.append_audit_at(event(1), 1_738_311_302_123).unwrap();
        let second = store.append_audit(event(2)).unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.time, "2025-01-31T08:15:02.123Z");
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(second.hash.len(), 64);
        assert!(second.time.ends_with('Z') && second.time.len() == 24, "{}", second.time);
        let listed = store.audit_events(None).unwrap();
        assert_eq!(listed, vec![first, second]);
    }

    #[test]
    fn json_shape_of_an_event_is_stable() {
        let mut store = Store::open_in_memory().unwrap();
        let e = store
            .append_audit_at(
                NewAuditEvent {
                    actor: "alice@nas".into(),
                    command: "deploy".into(),
                    stack: "dms".into(),
                    config_digest: "sha256:abc".into(),
                    params: json!({"service": "backend", "password": "hunter2"}),
                    outcome: Outcome::Failed("health check timed out".into()),
                },
                1_738_311_302_123,
            )
            .unwrap();
        let value = serde_json::to_value(&e).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "seq",
                "time",
                "time_ms",
                "actor",
                "command",
                "stack",
                "config_digest",
                "params",
                "outcome",
                "prev_hash",
                "hash"
            ]
        );
        assert_eq!(value["params"], json!({"service": "backend", "password": "***"}));
        assert_eq!(value["outcome"], json!({"failed": "health check timed out"}));
        assert_eq!(serde_json::to_value(Outcome::Ok).unwrap(), json!("ok"));
        assert_eq!(serde_json::to_value(Outcome::DryRun).unwrap(), json!("dry_run"));
        let back: AuditEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn hash_follows_the_documented_formula() {
        let mut store = Store::open_in_memory().unwrap();
        let e = store
            .append_audit_at(
                NewAuditEvent {
                    actor: "a@h".into(),
                    command: "backup".into(),
                    stack: "dms".into(),
                    config_digest: "d".into(),
                    params: json!({"b": 1, "a": [true, null]}),
                    outcome: Outcome::Ok,
                },
                5,
            )
            .unwrap();
        let canonical = format!(
            "{GENESIS_HASH}\n{{\"seq\":1,\"time_ms\":5,\"actor\":\"a@h\",\"command\":\"backup\",\
             \"stack\":\"dms\",\"config_digest\":\"d\",\"params\":{{\"b\":1,\"a\":[true,null]}},\
             \"outcome\":\"ok\"}}"
        );
        assert_eq!(e.hash, hex(&Sha256::digest(canonical.as_bytes())));
    }

    #[test]
    fn verification_json_shape() {
        let intact = AuditVerification::Intact { events: 2, head: "ab".into() };
        assert_eq!(serde_json::to_value(&intact).unwrap(), json!({"status": "intact", "events": 2, "head": "ab"}));
        let broken = AuditVerification::Broken { seq: 3, reason: BreakReason::Deleted, detail: "x".into() };
        assert_eq!(
            serde_json::to_value(&broken).unwrap(),
            json!({"status": "broken", "seq": 3, "reason": "deleted", "detail": "x"})
        );
        assert_eq!(BreakReason::Truncated.to_string(), "truncated");
    }

    #[test]
    fn empty_log_is_intact_with_genesis_head() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.verify_audit().unwrap(), AuditVerification::Intact { events: 0, head: GENESIS_HASH.into() });
        assert!(store.audit_events(None).unwrap().is_empty());
    }

    #[test]
    fn chain_intact_after_many_appends() {
        let store = store_with(50);
        let verdict = store.verify_audit().unwrap();
        assert_eq!(intact_count(&verdict), 50);
        let events = store.audit_events(None).unwrap();
        assert_eq!(verdict, AuditVerification::Intact { events: 50, head: events[49].hash.clone() });
        for pair in events.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
            assert_eq!(pair[1].seq, pair[0].seq + 1);
        }
    }

    #[test]
    fn edited_params_are_reported_at_that_seq() {
        let store = store_with(5);
        store
            .conn
            .execute("UPDATE audit_events SET params = '{\"n\":3,\"sources\":[\"main\"]}' WHERE seq = 3", [])
            .unwrap();
        let (seq, reason, detail) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (3, BreakReason::Edited));
        assert!(detail.contains("hash"), "{detail}");
    }

    #[test]
    fn edited_fields_of_every_kind_are_detected() {
        let edits = [
            "UPDATE audit_events SET time_ms = time_ms + 1 WHERE seq = 2",
            "UPDATE audit_events SET actor = 'mallory@nas' WHERE seq = 2",
            "UPDATE audit_events SET command = 'restore' WHERE seq = 2",
            "UPDATE audit_events SET stack = 'other' WHERE seq = 2",
            "UPDATE audit_events SET config_digest = 'x' WHERE seq = 2",
            "UPDATE audit_events SET outcome = 'ok', outcome_detail = NULL WHERE seq = 2",
            "UPDATE audit_events SET outcome = 'bogus' WHERE seq = 2",
            "UPDATE audit_events SET params = 'not json' WHERE seq = 2",
            "UPDATE audit_events SET hash = prev_hash WHERE seq = 2",
        ];
        for edit in edits {
            let store = store_with(4);
            store.conn.execute(edit, []).unwrap();
            let (seq, reason, _) = broken(store.verify_audit().unwrap());
            assert_eq!((seq, reason), (2, BreakReason::Edited), "{edit}");
        }
    }

    #[test]
    fn unreadable_row_makes_listing_fail_with_its_seq() {
        let store = store_with(3);
        store.conn.execute("UPDATE audit_events SET params = '{' WHERE seq = 2", []).unwrap();
        let err = store.audit_events(None).unwrap_err();
        assert!(matches!(err, StoreError::CorruptAuditEvent { seq: 2, .. }), "{err}");
        assert!(err.to_string().contains("tug audit verify"), "{err}");
    }

    #[test]
    fn deleting_a_middle_event_is_reported() {
        let store = store_with(5);
        store.conn.execute("DELETE FROM audit_events WHERE seq = 3", []).unwrap();
        let (seq, reason, detail) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (3, BreakReason::Deleted));
        assert!(detail.contains("missing"), "{detail}");
    }

    #[test]
    fn deleting_the_first_event_is_reported() {
        let store = store_with(3);
        store.conn.execute("DELETE FROM audit_events WHERE seq = 1", []).unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (1, BreakReason::Deleted));
    }

    #[test]
    fn deleting_and_renumbering_is_reported() {
        // Delete event 3 and shift 4, 5 down so `seq` has no gap: the renumbered event's hash
        // covers its old seq, so it shows as edited at 3.
        let store = store_with(5);
        store
            .conn
            .execute_batch(
                "DELETE FROM audit_events WHERE seq = 3;
                 UPDATE audit_events SET seq = seq - 1 WHERE seq > 3;
                 UPDATE audit_head SET seq = 4;",
            )
            .unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!(seq, 3);
        assert_eq!(reason, BreakReason::Edited);
    }

    #[test]
    fn spliced_chain_with_valid_hashes_is_reported_as_deleted() {
        // Rehash event 3 with a wrong prev_hash: its own hash is consistent, the link is not.
        let store = store_with(4);
        let raw = store.conn.query_row(&format!("{SELECT_EVENTS} WHERE seq = 3"), [], RawEvent::from_row).unwrap();
        let fake_prev = "f".repeat(64);
        let outcome = Outcome::from_columns(&raw.outcome, raw.outcome_detail.clone()).unwrap();
        let hash = event_hash(
            &fake_prev,
            &HashInput {
                seq: 3,
                time_ms: raw.time_ms,
                actor: &raw.actor,
                command: &raw.command,
                stack: &raw.stack,
                config_digest: &raw.config_digest,
                params_json: &raw.params,
                outcome: &outcome,
            },
        )
        .unwrap();
        store
            .conn
            .execute("UPDATE audit_events SET prev_hash = ?1, hash = ?2 WHERE seq = 3", [&fake_prev, &hash])
            .unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (3, BreakReason::Deleted));
    }

    #[test]
    fn deleting_the_last_event_is_reported_as_truncated() {
        let store = store_with(5);
        store.conn.execute("DELETE FROM audit_events WHERE seq = 5", []).unwrap();
        let (seq, reason, detail) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (5, BreakReason::Truncated));
        assert!(detail.contains("5 events, but only 4"), "{detail}");
    }

    #[test]
    fn deleting_everything_is_reported_as_truncated() {
        let store = store_with(3);
        store.conn.execute("DELETE FROM audit_events", []).unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (1, BreakReason::Truncated));
    }

    #[test]
    fn tampered_head_record_is_reported() {
        let store = store_with(3);
        store.conn.execute("UPDATE audit_head SET hash = 'abc'", []).unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (3, BreakReason::Truncated));

        let store = store_with(3);
        store.conn.execute("DELETE FROM audit_head", []).unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (4, BreakReason::Truncated));

        let store = store_with(3);
        store.conn.execute("UPDATE audit_head SET seq = 2", []).unwrap();
        let (seq, reason, _) = broken(store.verify_audit().unwrap());
        assert_eq!((seq, reason), (3, BreakReason::Truncated));
    }

    #[test]
    fn appending_after_a_deleted_head_keeps_chaining() {
        let mut store = store_with(2);
        store.conn.execute("DELETE FROM audit_head", []).unwrap();
        let e = store.append_audit(event(3)).unwrap();
        assert_eq!(e.seq, 3);
        // The head is recreated by the append; the chain itself was never broken.
        assert_eq!(intact_count(&store.verify_audit().unwrap()), 3);
    }

    #[test]
    fn full_rewrite_is_undetectable_locally_but_changes_the_head() {
        // The documented limit: recompute every hash and the head, and verify passes — only a
        // head hash recorded elsewhere reveals it.
        let store = store_with(3);
        let AuditVerification::Intact { head: before, .. } = store.verify_audit().unwrap() else {
            panic!("expected intact");
        };
        let rows: Vec<RawEvent> = {
            let mut stmt = store.conn.prepare(&format!("{SELECT_EVENTS} ORDER BY seq")).unwrap();
            let rows = stmt.query_map([], RawEvent::from_row).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
            rows
        };
        let mut prev = GENESIS_HASH.to_string();
        for mut raw in rows {
            if raw.seq == 2 {
                raw.actor = "mallory@nas".into();
            }
            let outcome = Outcome::from_columns(&raw.outcome, raw.outcome_detail.clone()).unwrap();
            let hash = event_hash(
                &prev,
                &HashInput {
                    seq: raw.seq,
                    time_ms: raw.time_ms,
                    actor: &raw.actor,
                    command: &raw.command,
                    stack: &raw.stack,
                    config_digest: &raw.config_digest,
                    params_json: &raw.params,
                    outcome: &outcome,
                },
            )
            .unwrap();
            store
                .conn
                .execute(
                    "UPDATE audit_events SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                    rusqlite::params![raw.actor, prev, hash, raw.seq],
                )
                .unwrap();
            prev = hash;
        }
        store.conn.execute("UPDATE audit_head SET hash = ?1", [&prev]).unwrap();
        let AuditVerification::Intact { head: after, .. } = store.verify_audit().unwrap() else {
            panic!("a consistent rewrite passes local verification");
        };
        assert_ne!(before, after);
    }

    #[test]
    fn since_filter_is_inclusive() {
        let store = store_with(5); // times ..001000, ..002000, ..., ..005000
        let all = store.audit_events(None).unwrap();
        let since = store.audit_events(Some(1_700_000_003_000)).unwrap();
        assert_eq!(since.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(since[..], all[2..]);
        assert!(store.audit_events(Some(1_700_000_005_001)).unwrap().is_empty());
        assert_eq!(store.audit_events(Some(0)).unwrap().len(), 5);
    }

    #[test]
    fn params_are_redacted_before_storage() {
        let mut store = Store::open_in_memory().unwrap();
        let mut e = event(1);
        e.params = json!({
            "database": { "url": "mysql://backup:s3cret@127.0.0.1:3306/lcbp3", "password": "s3cret" },
        });
        let appended = store.append_audit(e).unwrap();
        let stored: String = store.conn.query_row("SELECT params FROM audit_events", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains("s3cret"), "{stored}");
        assert_eq!(
            appended.params,
            json!({"database": {"url": "mysql://backup:***@127.0.0.1:3306/lcbp3", "password": "***"}})
        );
        assert_eq!(intact_count(&store.verify_audit().unwrap()), 1);
    }

    #[test]
    fn reopening_persists_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".tugboat/state.db");
        let first = {
            let mut store = Store::open(&path).unwrap();
            store.append_audit(event(1)).unwrap()
        };
        let mut store = Store::open(&path).unwrap();
        let second = store.append_audit(event(2)).unwrap();
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(store.audit_events(None).unwrap(), vec![first, second]);
        assert_eq!(intact_count(&store.verify_audit().unwrap()), 2);
    }

    #[test]
    fn two_handles_appending_alternately_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        for i in 0..10 {
            let store = if i % 2 == 0 { &mut a } else { &mut b };
            let e = store.append_audit(event(i)).unwrap();
            assert_eq!(e.seq, i as i64 + 1);
        }
        assert_eq!(intact_count(&a.verify_audit().unwrap()), 10);
        assert_eq!(a.audit_events(None).unwrap(), b.audit_events(None).unwrap());
    }

    #[test]
    fn concurrent_appenders_in_threads_serialize() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(Store::open(&path).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut store = Store::open(&path).unwrap();
                    for i in 0..15 {
                        store.append_audit(event(t * 100 + i)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(intact_count(&store.verify_audit().unwrap()), 60);
    }

    #[test]
    fn actor_prefers_sudo_user_and_falls_back() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let host = |path: &str| (path == "/etc/hostname").then(|| "nas01\n".to_string());
        let none = |_: &str| None;
        assert_eq!(actor_from(env(&[("SUDO_USER", "alice"), ("USER", "root")]), host, Some(0)), "alice@nas01");
        assert_eq!(actor_from(env(&[("SUDO_USER", ""), ("USER", "bob")]), host, Some(0)), "bob@nas01");
        assert_eq!(actor_from(env(&[("HOSTNAME", "box")]), none, None), "unknown@box");
        assert_eq!(actor_from(env(&[]), none, None), "unknown@unknown");
        let actual = current_actor();
        assert!(actual.contains('@') && !actual.ends_with('@'), "{actual}");
    }

    #[test]
    fn actor_without_user_variables_is_the_uids_name() {
        // As root under a service manager: no SUDO_USER, USER, LOGNAME or USERNAME.
        let env = |name: &str| (name == "HOSTNAME").then(|| "nas01".to_string());
        let passwd = "# local users\nroot:x:0:0:root:/root:/bin/bash\n\
                      daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                      broken line\n\
                      backup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n";
        let files = |path: &str| (path == "/etc/passwd").then(|| passwd.to_string());
        assert_eq!(actor_from(env, files, Some(0)), "root@nas01");
        assert_eq!(actor_from(env, files, Some(34)), "backup@nas01");
        // A uid passwd does not name (a container's arbitrary uid), or no passwd at all.
        assert_eq!(actor_from(env, files, Some(1000650000)), "uid1000650000@nas01");
        assert_eq!(actor_from(env, |_: &str| None, Some(1000)), "uid1000@nas01");
        // A set variable still wins.
        let env_user = |name: &str| (name == "LOGNAME").then(|| "carol".to_string());
        assert_eq!(actor_from(env_user, files, Some(0)), "carol@unknown");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_uid() {
        let uid = process_uid();
        assert!(uid.is_some());
        let user = actor_from(|_: &str| None, |path: &str| std::fs::read_to_string(path).ok(), uid);
        assert!(!user.starts_with("unknown@"), "{user}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_round_trips_and_verifies(
            actor in ".*",
            command in ".*",
            text in ".*",
            number in proptest::num::f64::NORMAL,
            int in proptest::num::i64::ANY,
            time_ms in -62_135_596_800_000_i64..253_402_300_799_000,
        ) {
            let mut store = Store::open_in_memory().unwrap();
            let appended = store
                .append_audit_at(
                    NewAuditEvent {
                        actor: actor.clone(),
                        command,
                        stack: text.clone(),
                        config_digest: String::new(),
                        params: json!({ "text": text, "f": number, "i": int, "nested": [{ "t": actor }] }),
                        outcome: Outcome::Failed(text.clone()),
                    },
                    time_ms,
                )
                .unwrap();
            proptest::prop_assert_eq!(store.audit_events(None).unwrap(), vec![appended]);
            proptest::prop_assert_eq!(intact_count(&store.verify_audit().unwrap()), 1);
        }
    }
}
