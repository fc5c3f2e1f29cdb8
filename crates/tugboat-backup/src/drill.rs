//! `tug drill`: restore the latest snapshot of each database source into a scratch server, time it (the
//! measured recovery time), and prove what came back:
//!
//! 1. the restored tables against the manifest recorded with the snapshot (row counts and row-hash sums)
//!    — a mismatch is a **bad backup**, whatever the live database says now;
//! 2. the restored tables against the live database — differences there are writes made **after** the
//!    snapshot, reported as "newer than snapshot", not as corruption.
//!
//! `--deep` adds a full row-level parity of live against restored. File sources are restored to a temp
//! directory and every file's content hash is checked against the snapshot.
//!
//! This module holds the mechanics, one source at a time; [`Drill`] is the operation over a stack's sources.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use tugboat::db::dump::{dump_file_name, restore_from};
use tugboat::db::scratch::ScratchServer;
use tugboat::db::{Endpoint, Session};
use tugboat::parity::{self, fingerprints, ParityOptions, ParityReport, TableFingerprint};

use crate::repo::{Repo, SnapshotInfo};

mod operation;

pub use operation::{Drill, DrillPlan, DrillResults, DrillSourcePlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableVerdict {
    /// Restored = snapshot manifest = live.
    Equal,
    /// Restored = manifest, live has changed since the snapshot.
    NewerThanSnapshot,
    /// Restored differs from what was recorded when the snapshot was taken.
    BadBackup,
    /// No manifest for this snapshot: restored differs from live and nothing can tell why.
    Unverified,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillTable {
    pub table: String,
    pub verdict: TableVerdict,
    pub restored_rows: Option<u64>,
    pub snapshot_rows: Option<u64>,
    pub live_rows: Option<u64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub source: String,
    pub kind: String,
    pub ok: bool,
    pub snapshot: Option<SnapshotInfo>,
    /// Seconds between the snapshot and the drill.
    pub snapshot_age_s: Option<i64>,
    /// The measured recovery time: restoring the snapshot into a fresh server (or a directory).
    pub restore_ms: Option<u64>,
    pub tables: Vec<DrillTable>,
    /// File sources: files checked and those whose content differs.
    pub files_checked: Option<usize>,
    pub files_differing: Vec<String>,
    /// `--deep`: row-level parity of live against restored.
    pub parity: Option<ParityReport>,
    pub error: Option<String>,
}

impl DrillReport {
    /// A drill that could not run: `error` says why.
    pub fn failed(source: &str, kind: &str, snapshot: Option<SnapshotInfo>, error: String) -> DrillReport {
        DrillReport {
            source: source.to_string(),
            kind: kind.to_string(),
            ok: false,
            snapshot_age_s: snapshot.as_ref().map(age_s),
            snapshot,
            restore_ms: None,
            tables: Vec::new(),
            files_checked: None,
            files_differing: Vec::new(),
            parity: None,
            error: Some(error),
        }
    }

    /// Why the drill failed, in one line; `None` when it passed.
    pub fn why(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        if let Some(e) = &self.error {
            return Some(e.lines().next().unwrap_or("failed").to_string());
        }
        let bad: Vec<&str> = self
            .tables
            .iter()
            .filter(|t| matches!(t.verdict, TableVerdict::BadBackup | TableVerdict::Unverified))
            .map(|t| t.table.as_str())
            .collect();
        if !bad.is_empty() {
            return Some(format!("restored tables differ from the snapshot: {}", bad.join(", ")));
        }
        if !self.files_differing.is_empty() {
            return Some(format!("{} restored files differ from the snapshot", self.files_differing.len()));
        }
        Some("failed".into())
    }
}

fn age_s(s: &SnapshotInfo) -> i64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    (now - s.time_ms) / 1000
}

/// Drills one database source. `manifest` is what was recorded with the snapshot (from the state DB).
pub fn drill_database(
    repo: &Repo,
    source: &str,
    live: &Endpoint,
    snapshot: SnapshotInfo,
    manifest: Option<Vec<TableFingerprint>>,
    deep: bool,
) -> DrillReport {
    match drill_database_inner(repo, source, live, &snapshot, manifest, deep) {
        Ok(r) => r,
        Err(e) => DrillReport::failed(source, "database", Some(snapshot), e),
    }
}

fn drill_database_inner(
    repo: &Repo,
    source: &str,
    live: &Endpoint,
    snapshot: &SnapshotInfo,
    manifest: Option<Vec<TableFingerprint>>,
    deep: bool,
) -> Result<DrillReport, String> {
    let scratch = ScratchServer::start(live.engine).map_err(|e| format!("starting a scratch server: {e}"))?;
    scratch.create_database(&live.database).map_err(|e| e.to_string())?;
    let restored_ep = scratch.endpoint(&live.database);
    let file = dump_file_name(live);
    let started = Instant::now();
    restore_from(&restored_ep, &mut |w| {
        repo.restore_file(&snapshot.id, &file, w).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| format!("restoring snapshot {} into a scratch server: {e}", snapshot.short_id))?;
    let restore_ms = started.elapsed().as_millis() as u64;

    let restored = fingerprints(&mut Session::connect(&restored_ep).map_err(|e| e.to_string())?, true)
        .map_err(|e| e.to_string())?;
    let live_now =
        fingerprints(&mut Session::connect(live).map_err(|e| e.to_string())?, deep).map_err(|e| e.to_string())?;
    let by_name = |list: &[TableFingerprint]| -> BTreeMap<String, TableFingerprint> {
        list.iter().map(|f| (f.table.clone(), f.clone())).collect()
    };
    let (restored_map, live_map) = (by_name(&restored), by_name(&live_now));
    let manifest_map = manifest.as_deref().map(by_name);
    let mut names: Vec<&String> =
        restored_map.keys().chain(live_map.keys()).chain(manifest_map.iter().flat_map(|m| m.keys())).collect();
    names.sort();
    names.dedup();

    let mut tables = Vec::new();
    for name in names {
        let r = restored_map.get(name);
        let l = live_map.get(name);
        let m = manifest_map.as_ref().and_then(|m| m.get(name));
        let same = |a: Option<&TableFingerprint>, b: Option<&TableFingerprint>, with_hash: bool| match (a, b) {
            (Some(a), Some(b)) => {
                a.rows == b.rows && (!with_hash || a.hash.is_empty() || b.hash.is_empty() || a.hash == b.hash)
            }
            (None, None) => true,
            _ => false,
        };
        let (verdict, note) = match (&manifest_map, m) {
            (Some(_), _) if !same(r, m, true) => (
                TableVerdict::BadBackup,
                Some(match (r, m) {
                    (None, Some(_)) => "in the snapshot's manifest but missing from the restore".to_string(),
                    (Some(_), None) => "restored but not in the snapshot's manifest".to_string(),
                    (Some(r), Some(m)) if r.rows != m.rows => {
                        format!("restored {} rows, the snapshot recorded {}", r.rows, m.rows)
                    }
                    _ => "restored rows differ in content from what the snapshot recorded".to_string(),
                }),
            ),
            (Some(_), _) if same(r, l, deep) => (TableVerdict::Equal, None),
            (Some(_), _) => {
                (TableVerdict::NewerThanSnapshot, Some("the live table changed after the snapshot".to_string()))
            }
            (None, _) if same(r, l, deep) => (TableVerdict::Equal, None),
            (None, _) => (
                TableVerdict::Unverified,
                Some(
                    "differs from live, and no manifest was recorded with this snapshot to tell newer writes from loss"
                        .into(),
                ),
            ),
        };
        tables.push(DrillTable {
            table: name.clone(),
            verdict,
            restored_rows: r.map(|f| f.rows),
            snapshot_rows: m.map(|f| f.rows),
            live_rows: l.map(|f| f.rows),
            note,
        });
    }
    let parity = if deep {
        Some(parity::compare(live, &restored_ep, &ParityOptions::default(), &()).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let ok = tables.iter().all(|t| matches!(t.verdict, TableVerdict::Equal | TableVerdict::NewerThanSnapshot));
    Ok(DrillReport {
        source: source.to_string(),
        kind: "database".into(),
        ok,
        snapshot_age_s: Some(age_s(snapshot)),
        snapshot: Some(snapshot.clone()),
        restore_ms: Some(restore_ms),
        tables,
        files_checked: None,
        files_differing: Vec::new(),
        parity,
        error: None,
    })
}

/// Drills a files/volume/config source: restore to a temp directory, then hash every restored file and
/// compare it with the content hash the snapshot holds.
pub fn drill_files(repo: &Repo, source: &str, kind: &str, snapshot: SnapshotInfo) -> DrillReport {
    let result = (|| -> Result<DrillReport, String> {
        let dir = std::env::temp_dir().join(format!("tug-drill-{}-{}", std::process::id(), snapshot.short_id));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cleanup = RemoveOnDrop(dir.clone());
        let started = Instant::now();
        repo.restore_to_path(&snapshot.id, &dir).map_err(|e| e.to_string())?;
        let restore_ms = started.elapsed().as_millis() as u64;
        let expected = repo.file_hashes(&snapshot.id).map_err(|e| e.to_string())?;
        let mut differing = Vec::new();
        for (path, hash) in &expected {
            let restored = dir.join(path.trim_start_matches('/'));
            match std::fs::read(&restored) {
                Ok(bytes) if hex_sha256(&bytes) == *hash => {}
                Ok(_) => differing.push(format!("{path}: content differs")),
                Err(e) => differing.push(format!("{path}: not restored ({e})")),
            }
        }
        drop(cleanup);
        Ok(DrillReport {
            source: source.to_string(),
            kind: kind.to_string(),
            ok: differing.is_empty(),
            snapshot_age_s: Some(age_s(&snapshot)),
            snapshot: Some(snapshot.clone()),
            restore_ms: Some(restore_ms),
            tables: Vec::new(),
            files_checked: Some(expected.len()),
            files_differing: differing,
            parity: None,
            error: None,
        })
    })();
    result.unwrap_or_else(|e| DrillReport::failed(source, kind, Some(snapshot), e))
}

pub fn no_snapshot(source: &str, kind: &str) -> DrillReport {
    DrillReport::failed(source, kind, None, format!("no snapshot of `{source}` yet: run `tug backup {source}` first"))
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
