//! The collected logs: `.tugboat/logs.db`, SQLite beside the state database (a file of its own: it is
//! large, written all the time, and pruned, none of which the state database should suffer).
//!
//! `lines` holds one row per line (already redacted), indexed by time and by service; `lines_text` is an
//! FTS5 index with the trigram tokenizer over the same text, so a `--grep` whose regex has literal
//! prefixes of three characters or more reads only the rows holding one of them (the regex then decides).
//! `checkpoints` holds, per container, the time of the last line stored and how many lines carried exactly
//! that time: the collector resumes from there after a restart of tug or of the engine, so nothing is read
//! twice or skipped. Lines and the checkpoint they advance are written in one transaction.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{LogLine, Stream};

#[derive(Debug, thiserror::Error)]
#[error("log store {path}: {cause}")]
pub struct StoreError {
    pub path: String,
    pub cause: rusqlite::Error,
}

/// Where a container's collection stands: the last stored line's time, and how many stored lines had it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub nanos: i128,
    pub at_nanos: u32,
}

impl Checkpoint {
    /// Whether a line at `nanos` is new, given `seen` lines at the checkpoint's time already passed over in
    /// this read; updates `seen`.
    pub fn admits(&self, nanos: i128, seen: &mut u32) -> bool {
        if nanos < self.nanos {
            return false;
        }
        if nanos == self.nanos && *seen < self.at_nanos {
            *seen += 1;
            return false;
        }
        true
    }

    /// The checkpoint after a line at `nanos`.
    pub fn after(self, nanos: i128) -> Checkpoint {
        if nanos == self.nanos {
            Checkpoint { nanos, at_nanos: self.at_nanos + 1 }
        } else {
            Checkpoint { nanos, at_nanos: 1 }
        }
    }
}

/// A line read from a container, with the checkpoint it takes the container to.
#[derive(Clone, Debug)]
pub struct Collected {
    pub container_id: String,
    pub line: LogLine,
    pub checkpoint: Checkpoint,
}

/// What [`LogStore::history`] reads.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    /// All services when empty.
    pub services: Vec<String>,
    /// Unix nanoseconds, inclusive.
    pub since: Option<i128>,
    pub until: Option<i128>,
    /// Rows holding one of these (three characters or more) are read; the caller's regex decides.
    pub any_of: Option<Vec<String>>,
}

/// What one prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub lines: u64,
    pub bytes: u64,
}

/// The store beside a state database (`.tugboat/state.db` -> `.tugboat/logs.db`).
pub fn beside(state: &Path) -> std::path::PathBuf {
    state.with_file_name("logs.db")
}

pub struct LogStore {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY,
    nanos INTEGER NOT NULL,
    service TEXT NOT NULL,
    container TEXT NOT NULL,
    label TEXT NOT NULL,
    stream TEXT NOT NULL,
    time TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_by_time ON lines (nanos);
CREATE INDEX IF NOT EXISTS lines_by_service ON lines (service, nanos);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_text USING fts5 (line, content = 'lines', content_rowid = 'id', tokenize = 'trigram', detail = 'none');
CREATE TRIGGER IF NOT EXISTS lines_indexed AFTER INSERT ON lines BEGIN
    INSERT INTO lines_text (rowid, line) VALUES (new.id, new.line);
END;
CREATE TRIGGER IF NOT EXISTS lines_unindexed AFTER DELETE ON lines BEGIN
    INSERT INTO lines_text (lines_text, rowid, line) VALUES ('delete', old.id, old.line);
END;
CREATE TABLE IF NOT EXISTS checkpoints (
    container_id TEXT PRIMARY KEY,
    nanos INTEGER NOT NULL,
    at_nanos INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS service_bytes (
    service TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
);
";

impl LogStore {
    /// Opens (creating) the store for collecting.
    pub fn open(path: &Path) -> Result<LogStore, StoreError> {
        let shown = path.display().to_string();
        let err = |cause| StoreError { path: shown.clone(), cause };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        // WAL: `tug logs` reads while `tug watch` writes. NORMAL: a power cut may lose the last batch, never
        // the file, and the checkpoint goes with its lines, so the lost batch is read again.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(LogStore { conn, path: shown })
    }

    /// Opens an existing store to read; `None` when nothing was ever collected.
    pub fn open_read_only(path: &Path) -> Result<Option<LogStore>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let shown = path.display().to_string();
        let err = |cause| StoreError { path: shown.clone(), cause };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        Ok(Some(LogStore { conn, path: shown }))
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |cause| StoreError { path: self.path.clone(), cause }
    }

    pub fn checkpoints(&self) -> Result<HashMap<String, Checkpoint>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT container_id, nanos, at_nanos FROM checkpoints").map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                let nanos: i64 = r.get(1)?;
                Ok((r.get::<_, String>(0)?, Checkpoint { nanos: i128::from(nanos), at_nanos: r.get(2)? }))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Stores lines and the checkpoints they advance, all or nothing.
    pub fn append(&mut self, batch: &[Collected]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |cause| StoreError { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(err)?;
        let mut bytes: HashMap<&str, u64> = HashMap::new();
        let mut checkpoints: HashMap<&str, Checkpoint> = HashMap::new();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO lines (nanos, service, container, label, stream, time, line) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .map_err(err)?;
            for c in batch {
                let l = &c.line;
                insert
                    .execute(params![
                        nanos_sql(l.nanos),
                        l.service,
                        l.container,
                        l.label,
                        stream_name(l.stream),
                        l.time,
                        l.line
                    ])
                    .map_err(err)?;
                *bytes.entry(&l.service).or_default() += l.line.len() as u64;
                checkpoints.insert(&c.container_id, c.checkpoint);
            }
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO service_bytes (service, bytes) VALUES (?1, ?2)
                     ON CONFLICT (service) DO UPDATE SET bytes = bytes + ?2",
                )
                .map_err(err)?;
            for (service, n) in &bytes {
                add.execute(params![service, *n as i64]).map_err(err)?;
            }
            let mut mark = tx
                .prepare_cached("INSERT OR REPLACE INTO checkpoints (container_id, nanos, at_nanos) VALUES (?, ?, ?)")
                .map_err(err)?;
            for (id, cp) in &checkpoints {
                mark.execute(params![id, nanos_sql(cp.nanos), cp.at_nanos]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Drops each service's lines older than its age limit, then its oldest lines while it holds more than
    /// its byte limit. `limits` gives (age, bytes) per service.
    pub fn prune(&mut self, now_nanos: i128, limits: &dyn Fn(&str) -> (Duration, u64)) -> Result<Pruned, StoreError> {
        let path = self.path.clone();
        let err = |cause| StoreError { path: path.clone(), cause };
        let services: Vec<(String, u64)> = {
            let mut stmt = self.conn.prepare("SELECT service, bytes FROM service_bytes").map_err(err)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let mut pruned = Pruned::default();
        for (service, mut held) in services {
            let (age, max_bytes) = limits(&service);
            let oldest_kept = now_nanos - i128::try_from(age.as_nanos()).unwrap_or(i128::MAX / 2);
            let removed = self.delete(&service, nanos_sql(oldest_kept), u64::MAX)?;
            held = held.saturating_sub(removed.bytes);
            pruned.lines += removed.lines;
            pruned.bytes += removed.bytes;
            // Oldest first, in chunks, until under the limit.
            while held > max_bytes {
                let removed = self.delete(&service, i64::MAX, 1000)?;
                if removed.lines == 0 {
                    held = 0;
                    break;
                }
                held = held.saturating_sub(removed.bytes);
                pruned.lines += removed.lines;
                pruned.bytes += removed.bytes;
                if held <= max_bytes {
                    break;
                }
            }
            self.conn
                .execute("UPDATE service_bytes SET bytes = ?2 WHERE service = ?1", params![service, held as i64])
                .map_err(err)?;
        }
        Ok(pruned)
    }

    /// Deletes up to `limit` of `service`'s oldest lines older than `before` (unix nanoseconds).
    fn delete(&mut self, service: &str, before: i64, limit: u64) -> Result<Pruned, StoreError> {
        let path = self.path.clone();
        let err = |cause| StoreError { path: path.clone(), cause };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "DELETE FROM lines WHERE id IN (SELECT id FROM lines WHERE service = ?1 AND nanos < ?2
                 ORDER BY nanos LIMIT ?3) RETURNING length(CAST(line AS BLOB))",
            )
            .map_err(err)?;
        let sizes = stmt.query_map(params![service, before, limit], |r| r.get::<_, i64>(0)).map_err(err)?;
        let mut out = Pruned::default();
        for size in sizes {
            out.lines += 1;
            out.bytes += size.map_err(err)?.max(0) as u64;
        }
        Ok(out)
    }

    /// Stored lines for `query`, in time order, handed to `emit` (which returns false to stop).
    pub fn history(&self, query: &HistoryQuery, emit: &mut dyn FnMut(LogLine) -> bool) -> Result<(), StoreError> {
        let mut sql = String::from(
            "SELECT nanos, service, container, label, stream, time, line FROM lines WHERE nanos BETWEEN ?1 AND ?2",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![
            nanos_sql(query.since.unwrap_or(i128::from(i64::MIN))).into(),
            nanos_sql(query.until.unwrap_or(i128::from(i64::MAX))).into(),
        ];
        if !query.services.is_empty() {
            let marks = vec!["?"; query.services.len()].join(", ");
            sql.push_str(&format!(" AND service IN ({marks})"));
            args.extend(query.services.iter().map(|s| s.clone().into()));
        }
        if let Some(any_of) = query.any_of.as_ref().filter(|a| !a.is_empty()) {
            // LIKE on a trigram table is answered from the index, case-insensitively like the literals. A `%` or
            // `_` in a literal only widens the match; the regex decides.
            let likes = vec!["line LIKE ?"; any_of.len()].join(" OR ");
            sql.push_str(&format!(" AND id IN (SELECT rowid FROM lines_text WHERE {likes})"));
            args.extend(any_of.iter().map(|literal| format!("%{literal}%").into()));
        }
        sql.push_str(" ORDER BY nanos, id");
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let line = (|| {
                let nanos: i64 = r.get(0)?;
                let stream: String = r.get(4)?;
                Ok::<_, rusqlite::Error>(LogLine {
                    nanos: i128::from(nanos),
                    service: r.get(1)?,
                    container: r.get(2)?,
                    label: r.get(3)?,
                    stream: if stream == "stderr" { Stream::Stderr } else { Stream::Stdout },
                    time: r.get(5)?,
                    line: r.get(6)?,
                })
            })()
            .map_err(self.err())?;
            if !emit(line) {
                break;
            }
        }
        Ok(())
    }

    /// Bytes of lines held per service.
    pub fn bytes_per_service(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT service, bytes FROM service_bytes ORDER BY service").map_err(self.err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The checkpoint of one container, if it was ever collected.
    pub fn checkpoint(&self, container_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.conn
            .query_row("SELECT nanos, at_nanos FROM checkpoints WHERE container_id = ?", [container_id], |r| {
                Ok(Checkpoint { nanos: i128::from(r.get::<_, i64>(0)?), at_nanos: r.get(1)? })
            })
            .optional()
            .map_err(self.err())
    }
}

/// Unix nanoseconds fit an i64 until 2262.
fn nanos_sql(nanos: i128) -> i64 {
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// Literals one of which every match of `regex` contains (its possible prefixes), when they are few and
/// each at least three characters long (what a trigram index can look up); `None` when the regex allows
/// no such shortcut and every row in range must be read.
pub fn required_literals(regex: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new().build().parse(regex).ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    let texts: Vec<String> =
        literals.iter().map(|l| String::from_utf8(l.as_bytes().to_vec())).collect::<Result<_, _>>().ok()?;
    // Case-folded alternatives (`(?i)error`) come out as many variants; the trigram index folds case
    // itself, so one spelling of each is enough.
    let mut folded: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
    folded.sort();
    folded.dedup();
    (!folded.is_empty() && folded.len() <= 16 && folded.iter().all(|t| t.chars().count() >= 3)).then_some(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(nanos: i128, service: &str, text: &str) -> LogLine {
        LogLine {
            time: format!("t{nanos}"),
            nanos,
            service: service.into(),
            container: format!("shop-{service}-1"),
            label: format!("{service}-1"),
            stream: Stream::Stdout,
            line: text.into(),
        }
    }

    fn collected(id: &str, lines: Vec<LogLine>) -> Vec<Collected> {
        let mut cp = Checkpoint::default();
        lines
            .into_iter()
            .map(|l| {
                cp = cp.after(l.nanos);
                Collected { container_id: id.into(), checkpoint: cp, line: l }
            })
            .collect()
    }

    fn texts(store: &LogStore, q: &HistoryQuery) -> Vec<String> {
        let mut out = Vec::new();
        store
            .history(q, &mut |l| {
                out.push(l.line);
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn checkpoints_admit_each_line_once_even_with_equal_timestamps() {
        // Stored: lines at 5, 7, 7 -> checkpoint (7, 2).
        let cp = Checkpoint::default().after(5).after(7).after(7);
        assert_eq!(cp, Checkpoint { nanos: 7, at_nanos: 2 });
        // Read again from the second: 5, 7, 7, 7 (a third line at 7 came later), 9.
        let mut seen = 0;
        let admitted: Vec<i128> = [5, 7, 7, 7, 9].into_iter().filter(|n| cp.admits(*n, &mut seen)).collect();
        assert_eq!(admitted, [7, 9]);
    }

    #[test]
    fn lines_and_checkpoints_are_stored_searched_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(&dir.path().join("logs.db")).unwrap();
        store
            .append(&collected(
                "c1",
                vec![line(1, "web", "GET /health 200"), line(3, "web", "ERROR database gone"), line(4, "web", "x")],
            ))
            .unwrap();
        store.append(&collected("c2", vec![line(2, "db", "ready for connections")])).unwrap();
        assert_eq!(store.checkpoint("c1").unwrap(), Some(Checkpoint { nanos: 4, at_nanos: 1 }));
        let all = HistoryQuery::default();
        assert_eq!(texts(&store, &all), ["GET /health 200", "ready for connections", "ERROR database gone", "x"]);
        let web_from_2 = HistoryQuery { services: vec!["web".into()], since: Some(2), ..Default::default() };
        assert_eq!(texts(&store, &web_from_2), ["ERROR database gone", "x"]);
        let search = HistoryQuery { any_of: required_literals("(?i)error|ready"), ..Default::default() };
        assert_eq!(texts(&store, &search), ["ready for connections", "ERROR database gone"]);

        // Age: web keeps lines from 3 on; bytes: db keeps at most 5 bytes (its one line is longer: gone).
        let pruned = store
            .prune(10, &|s| if s == "web" { (Duration::from_nanos(7), u64::MAX) } else { (Duration::MAX, 5) })
            .unwrap();
        assert_eq!(pruned.lines, 2);
        assert_eq!(texts(&store, &all), ["ERROR database gone", "x"]);
        assert_eq!(store.bytes_per_service().unwrap(), [("db".into(), 0), ("web".into(), 20)]);
        // The text index follows deletions.
        assert_eq!(texts(&store, &search), ["ERROR database gone"]);
    }

    #[test]
    fn literals_a_trigram_index_can_use() {
        assert_eq!(required_literals("timeout"), Some(vec!["timeout".into()]));
        assert_eq!(required_literals("(?i)Error|fatal"), Some(vec!["error".into(), "fatal".into()]));
        assert_eq!(required_literals("level=(warn|error)"), Some(vec!["level=error".into(), "level=warn".into()]));
        // Too short, or no literal at the start: every row is read.
        assert_eq!(required_literals("ab"), None);
        assert_eq!(required_literals(".*oops"), None);
        assert_eq!(required_literals("[0-9]+ ms"), None);
    }
}
