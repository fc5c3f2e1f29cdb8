//! The OSV database the operator carried in: SQLite (`.tugboat/osv.db` for the CLI), filled from OSV's
//! per-ecosystem `all.zip` archives or directories of OSV JSON records, never from the network.
//!
//! - **Digest.** `expected_sha256` is checked before anything is written. For a zip it is the sha256 of
//!   the file, as `sha256sum all.zip` prints it. For a directory it is the sha256 of the bytes of every
//!   `*.json` file under it (recursively), concatenated in the order of their paths relative to the
//!   directory, compared as byte strings (`/`-separated): what
//!   `find . -name '*.json' | LC_ALL=C sort | xargs cat | sha256sum` prints from inside the directory.
//! - **One transaction.** A record that is not JSON, has no `id` or no RFC 3339 `modified` fails the
//!   whole import, naming the file and the entry; the database is left as it was.
//! - **Newer wins.** A record already present is replaced only when the imported one's `modified` is
//!   later; withdrawn records are stored (so an older copy cannot come back) but never returned by
//!   [`OsvDb::advisories`].
//! - **Age.** The database's age is `now − newest modified` over the records it holds, not the time of
//!   the last import: importing a month-old archive today must not make the data look fresh.
//!
//! Entries of a zip (or files of a directory) not named `*.json` are skipped.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::matching::{ecosystem_key, package_key, package_key_osv};
use super::record::{timestamp_ms, Record};
use crate::Ecosystem;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id          TEXT PRIMARY KEY,
    modified    TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    withdrawn   INTEGER NOT NULL,
    json        TEXT NOT NULL
);
-- One row per (record, ecosystem as written, package): what advisories() looks up.
CREATE TABLE IF NOT EXISTS affected (
    record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    eco_key   TEXT NOT NULL,
    name_key  TEXT NOT NULL,
    UNIQUE (record_id, ecosystem, name_key)
);
CREATE INDEX IF NOT EXISTS affected_package ON affected (eco_key, name_key);
CREATE TABLE IF NOT EXISTS imports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    source          TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    imported_at     INTEGER NOT NULL,
    records         INTEGER NOT NULL,
    ecosystems      TEXT NOT NULL,
    newest_modified TEXT
);
";

#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    #[error("OSV database {path}: {cause}")]
    Open { path: PathBuf, cause: rusqlite::Error },
    #[error("OSV database: {context}: {cause}")]
    Sql { context: &'static str, cause: rusqlite::Error },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: not a readable zip archive: {cause}")]
    Zip { path: PathBuf, cause: zip::result::ZipError },
    #[error("{path}: neither a file (an OSV all.zip) nor a directory of OSV JSON records")]
    NotASource { path: PathBuf },
    #[error("{path}: sha256 mismatch: expected {expected}, got {actual}; nothing was imported")]
    Sha256Mismatch { path: PathBuf, expected: String, actual: String },
    #[error("{path}: {entry}: {reason}; nothing was imported")]
    Record { path: PathBuf, entry: String, reason: String },
    #[error("OSV database: stored record {id} does not read back: {cause}")]
    Stored { id: String, cause: serde_json::Error },
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> OsvError {
    move |cause| OsvError::Sql { context, cause }
}

/// What one import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub source: String,
    pub sha256: String,
    /// Records read from the source.
    pub records: u64,
    pub inserted: u64,
    pub replaced: u64,
    /// Already present with the same or a later `modified`: left as they were.
    pub unchanged: u64,
    /// Of the records read, how many are withdrawn.
    pub withdrawn: u64,
    /// The ecosystems the source's records name, as written (`Debian:12`, `Ubuntu:Pro:22.04:LTS`).
    pub ecosystems: Vec<String>,
    pub newest_modified: Option<String>,
}

/// One row of the `imports` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportRecord {
    pub source: String,
    pub sha256: String,
    /// Milliseconds since the Unix epoch.
    pub imported_at: i64,
    pub records: u64,
    pub ecosystems: Vec<String>,
    pub newest_modified: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EcosystemCount {
    pub ecosystem: String,
    pub records: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DbStatus {
    /// Records per ecosystem as the records write it (a record naming two ecosystems counts in both).
    pub ecosystems: Vec<EcosystemCount>,
    pub records: u64,
    pub withdrawn: u64,
    pub last_import: Option<ImportRecord>,
    /// The latest `modified` of any record held.
    pub newest_modified: Option<String>,
    pub newest_modified_ms: Option<i64>,
}

impl DbStatus {
    /// How old the data is at `now_ms`: now − the newest `modified`; `None` for an empty database.
    pub fn age_ms(&self, now_ms: i64) -> Option<i64> {
        self.newest_modified_ms.map(|m| now_ms - m)
    }
}

pub struct OsvDb {
    conn: Connection,
}

impl OsvDb {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<OsvDb, OsvError> {
        let open_err = |cause| OsvError::Open { path: path.to_owned(), cause };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(OsvDb { conn })
    }

    /// Imports an OSV `all.zip` or a directory of `*.json` records (see the module documentation for the
    /// digest, the transaction, and which copy of a record wins).
    pub fn import(
        &mut self,
        source: &Path,
        expected_sha256: Option<&str>,
        now_ms: i64,
    ) -> Result<ImportSummary, OsvError> {
        let meta = std::fs::metadata(source).map_err(|cause| OsvError::Io { path: source.to_owned(), cause })?;
        let dir_files = if meta.is_dir() {
            Some(json_files(source)?)
        } else if meta.is_file() {
            None
        } else {
            return Err(OsvError::NotASource { path: source.to_owned() });
        };
        let sha256 = match &dir_files {
            Some(files) => digest_files(files)?,
            None => digest_file(source)?,
        };
        if let Some(expected) = expected_sha256 {
            if !expected.trim().eq_ignore_ascii_case(&sha256) {
                return Err(OsvError::Sha256Mismatch {
                    path: source.to_owned(),
                    expected: expected.trim().to_owned(),
                    actual: sha256,
                });
            }
        }

        let tx = self.conn.transaction().map_err(sql("beginning the import"))?;
        let mut importer = Importer { tx: &tx, path: source, summary: ImportSummary::empty(source, &sha256) };
        let mut ecosystems = BTreeSet::new();
        let mut newest: Option<(i64, String)> = None;
        let mut add = |entry: &str, bytes: Vec<u8>| -> Result<(), OsvError> {
            let (eco, modified) = importer.add(entry, bytes)?;
            ecosystems.extend(eco);
            if newest.as_ref().is_none_or(|(ms, _)| modified.0 > *ms) {
                newest = Some(modified);
            }
            Ok(())
        };
        match &dir_files {
            Some(files) => {
                for (rel, path) in files {
                    let bytes = std::fs::read(path).map_err(|cause| OsvError::Io { path: path.clone(), cause })?;
                    add(rel, bytes)?;
                }
            }
            None => {
                let zip_err = |cause| OsvError::Zip { path: source.to_owned(), cause };
                let file = File::open(source).map_err(|cause| OsvError::Io { path: source.to_owned(), cause })?;
                let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
                for i in 0..archive.len() {
                    let mut entry = archive.by_index(i).map_err(zip_err)?;
                    let name = entry.name().to_owned();
                    if entry.is_dir() || !name.ends_with(".json") {
                        continue;
                    }
                    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
                    entry.read_to_end(&mut bytes).map_err(|cause| OsvError::Record {
                        path: source.to_owned(),
                        entry: name.clone(),
                        reason: format!("cannot be decompressed: {cause}"),
                    })?;
                    add(&name, bytes)?;
                }
            }
        }
        let mut summary = importer.summary;
        summary.ecosystems = ecosystems.into_iter().collect();
        summary.newest_modified = newest.map(|(_, s)| s);
        let ecosystems_json = serde_json::to_string(&summary.ecosystems).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO imports (source, sha256, imported_at, records, ecosystems, newest_modified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                summary.source,
                summary.sha256,
                now_ms,
                summary.records as i64,
                ecosystems_json,
                summary.newest_modified
            ],
        )
        .map_err(sql("recording the import"))?;
        tx.commit().map_err(sql("committing the import"))?;
        Ok(summary)
    }

    pub fn status(&self) -> Result<DbStatus, OsvError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.ecosystem, COUNT(DISTINCT a.record_id) FROM affected a JOIN records r ON r.id = a.record_id
                 GROUP BY a.ecosystem ORDER BY a.ecosystem",
            )
            .map_err(sql("reading the ecosystems"))?;
        let ecosystems = stmt
            .query_map([], |row| Ok(EcosystemCount { ecosystem: row.get(0)?, records: row.get::<_, i64>(1)? as u64 }))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql("reading the ecosystems"))?;
        let (records, withdrawn): (i64, i64) = self
            .conn
            .query_row("SELECT COUNT(*), COALESCE(SUM(withdrawn), 0) FROM records", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(sql("counting the records"))?;
        let newest: Option<(String, i64)> = self
            .conn
            .query_row("SELECT modified, modified_ms FROM records ORDER BY modified_ms DESC LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(sql("reading the newest record"))?;
        let last_import = self
            .conn
            .query_row(
                "SELECT source, sha256, imported_at, records, ecosystems, newest_modified FROM imports
                 ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    let ecosystems: String = row.get(4)?;
                    Ok(ImportRecord {
                        source: row.get(0)?,
                        sha256: row.get(1)?,
                        imported_at: row.get(2)?,
                        records: row.get::<_, i64>(3)? as u64,
                        ecosystems: serde_json::from_str(&ecosystems).unwrap_or_default(),
                        newest_modified: row.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(sql("reading the last import"))?;
        Ok(DbStatus {
            ecosystems,
            records: records as u64,
            withdrawn: withdrawn as u64,
            last_import,
            newest_modified_ms: newest.as_ref().map(|n| n.1),
            newest_modified: newest.map(|n| n.0),
        })
    }

    /// The records (withdrawn ones left out) whose `affected[]` names `name` in `ecosystem`, by id.
    /// Ubuntu matches by release (`Ubuntu:22.04:LTS` and `Ubuntu:Pro:22.04:LTS` alike), Debian by major
    /// release, Alpine by branch; PyPI names as PEP 503 normalizes them.
    pub fn advisories(&self, ecosystem: &Ecosystem, name: &str) -> Result<Vec<Record>, OsvError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT r.id, r.json FROM affected a JOIN records r ON r.id = a.record_id
                 WHERE a.eco_key = ?1 AND a.name_key = ?2 AND r.withdrawn = 0 ORDER BY r.id",
            )
            .map_err(sql("looking up advisories"))?;
        let rows = stmt
            .query_map(params![ecosystem_key(&ecosystem.osv_name()), package_key(ecosystem, name)], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql("looking up advisories"))?;
        rows.into_iter()
            .map(|(id, json)| serde_json::from_str(&json).map_err(|cause| OsvError::Stored { id, cause }))
            .collect()
    }
}

impl ImportSummary {
    fn empty(source: &Path, sha256: &str) -> ImportSummary {
        ImportSummary {
            source: source.display().to_string(),
            sha256: sha256.to_owned(),
            records: 0,
            inserted: 0,
            replaced: 0,
            unchanged: 0,
            withdrawn: 0,
            ecosystems: Vec::new(),
            newest_modified: None,
        }
    }
}

struct Importer<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
    summary: ImportSummary,
}

impl Importer<'_> {
    /// Stores one record (if newer than the copy held); returns its ecosystems and `modified`.
    fn add(&mut self, entry: &str, bytes: Vec<u8>) -> Result<(Vec<String>, (i64, String)), OsvError> {
        let bad = |reason: String| OsvError::Record { path: self.path.to_owned(), entry: entry.to_owned(), reason };
        let json = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        let record: Record = serde_json::from_str(&json).map_err(|e| bad(format!("not an OSV record: {e}")))?;
        if record.id.trim().is_empty() {
            return Err(bad("the record has an empty `id`".into()));
        }
        let modified_ms = timestamp_ms(&record.modified).ok_or_else(|| {
            bad(format!("record {}: `modified` {:?} is not an RFC 3339 timestamp", record.id, record.modified))
        })?;
        self.summary.records += 1;
        if record.withdrawn.is_some() {
            self.summary.withdrawn += 1;
        }
        let ecosystems: Vec<String> =
            record.affected.iter().filter_map(|a| a.package.as_ref()).map(|p| p.ecosystem.clone()).collect();

        let held: Option<i64> = self
            .tx
            .query_row("SELECT modified_ms FROM records WHERE id = ?1", [&record.id], |row| row.get(0))
            .optional()
            .map_err(sql("reading a held record"))?;
        match held {
            Some(ms) if ms >= modified_ms => {
                self.summary.unchanged += 1;
                return Ok((ecosystems, (modified_ms, record.modified)));
            }
            Some(_) => {
                self.tx
                    .execute("DELETE FROM records WHERE id = ?1", [&record.id])
                    .map_err(sql("replacing a record"))?;
                self.summary.replaced += 1;
            }
            None => self.summary.inserted += 1,
        }
        self.tx
            .execute(
                "INSERT INTO records (id, modified, modified_ms, withdrawn, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![record.id, record.modified, modified_ms, record.withdrawn.is_some(), json],
            )
            .map_err(sql("storing a record"))?;
        let mut insert = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO affected (record_id, ecosystem, eco_key, name_key) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql("indexing a record"))?;
        for package in record.affected.iter().filter_map(|a| a.package.as_ref()) {
            insert
                .execute(params![
                    record.id,
                    package.ecosystem,
                    ecosystem_key(&package.ecosystem),
                    package_key_osv(&package.ecosystem, &package.name)
                ])
                .map_err(sql("indexing a record"))?;
        }
        Ok((ecosystems, (modified_ms, record.modified)))
    }
}

/// Every `*.json` file under `dir`, as (path relative to `dir` with `/` separators, full path), sorted
/// by the relative path's bytes.
fn json_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, OsvError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let io = |cause| OsvError::Io { path: d.clone(), cause };
        for entry in std::fs::read_dir(&d).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|cause| OsvError::Io { path: path.clone(), cause })?;
            // Symlinks are followed as the files they point to; directories via symlink are not walked.
            if kind.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn digest_files(files: &[(String, PathBuf)]) -> Result<String, OsvError> {
    let mut hasher = Sha256::new();
    for (_, path) in files {
        let mut file = File::open(path).map_err(|cause| OsvError::Io { path: path.clone(), cause })?;
        std::io::copy(&mut file, &mut hasher).map_err(|cause| OsvError::Io { path: path.clone(), cause })?;
    }
    Ok(hex(&hasher.finalize()))
}

fn digest_file(path: &Path) -> Result<String, OsvError> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path).map_err(|cause| OsvError::Io { path: path.to_owned(), cause })?;
    std::io::copy(&mut file, &mut hasher).map_err(|cause| OsvError::Io { path: path.to_owned(), cause })?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
