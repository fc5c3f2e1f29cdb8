//! `tug parity`: prove two databases hold the same data, down to the rows that differ.
//!
//! Per table: compare the schema, then split the table into buckets and compute, inside each database, a
//! count and a sum of per-row hashes per bucket — one scan per side, both sides in parallel. Equal buckets
//! everywhere means equal tables (one pass). Only the buckets that differ are read back as (key, row hash)
//! pairs and compared, which finds exactly the missing, extra and changed rows in a second, small pass.
//! Buckets are key ranges when the primary key is a single integer (so the second pass reads through the
//! index) and hash buckets of the key otherwise; a table without a primary key is compared as a multiset
//! of row hashes. This is the hash-and-bisect idea of data-diff with the bisection flattened to two
//! levels, which bounds the work at two scans however the changes are spread.

pub mod search;
mod sql;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use serde::Serialize;

use crate::db::schema::{self, Column, SchemaObject, Table};
use crate::db::session::quote_ident;
use crate::db::{DbError, Endpoint, Engine, Session};

#[derive(Debug, Clone)]
pub struct ParityOptions {
    /// Only these tables (glob `*` allowed); empty means all.
    pub tables: Vec<String>,
    pub exclude: Vec<String>,
    /// A SQL condition applied to both sides (for live sources still being written).
    pub where_clause: Option<String>,
    pub counts_only: bool,
    /// How many keys per kind of difference the report lists (totals are always exact).
    pub max_keys: usize,
}

impl Default for ParityOptions {
    fn default() -> Self {
        ParityOptions { tables: Vec::new(), exclude: Vec::new(), where_clause: None, counts_only: false, max_keys: 20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Equal,
    /// Row counts differ (missing/extra rows are listed).
    CountDiffers,
    /// Same count, different content.
    ContentDiffers,
    /// Columns differ; content was compared over the common columns.
    SchemaDiffers,
    /// The comparison failed (table altered or dropped meanwhile, permissions…); see `note`.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Integer primary key: key-range buckets.
    KeyRanges,
    /// Other primary key: hash buckets of the key.
    KeyHashBuckets,
    /// No primary key: multiset of row hashes.
    RowHashes,
    CountsOnly,
}

/// Keys of rows in one kind of difference: the exact total and the first few keys (JSON arrays).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Keys {
    pub total: u64,
    pub keys: Vec<serde_json::Value>,
}

impl Keys {
    fn add(&mut self, key: serde_json::Value, cap: usize) {
        self.total += 1;
        if self.keys.len() < cap {
            self.keys.push(key);
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub status: TableStatus,
    pub method: Method,
    pub source_rows: u64,
    pub target_rows: u64,
    /// Rows in the source that the target lacks (by primary key, or by content without one).
    pub missing: Keys,
    /// Rows in the target that the source lacks.
    pub extra: Keys,
    /// Rows present on both sides with different content.
    pub changed: Keys,
    pub schema_differences: Vec<String>,
    pub note: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub source: String,
    pub target: String,
    pub source_version: String,
    pub target_version: String,
    pub equal: bool,
    pub tables: Vec<TableReport>,
    pub tables_only_in_source: Vec<String>,
    pub tables_only_in_target: Vec<String>,
    pub objects_only_in_source: Vec<SchemaObject>,
    pub objects_only_in_target: Vec<SchemaObject>,
    pub where_clause: Option<String>,
    pub duration_ms: u64,
}

impl ParityReport {
    /// One line for audit events and gates.
    pub fn summary(&self) -> String {
        let differing = self.tables.iter().filter(|t| t.status != TableStatus::Equal).count();
        if self.equal {
            format!("{} tables equal", self.tables.len())
        } else {
            format!(
                "{differing} of {} tables differ; {} tables only in source, {} only in target",
                self.tables.len(),
                self.tables_only_in_source.len(),
                self.tables_only_in_target.len()
            )
        }
    }
}

/// A table's row count and (with `deep`) the sum of its row hashes: what a backup records so a drill can
/// tell a faithful restore (matches the fingerprint) from one that lost or changed rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TableFingerprint {
    pub table: String,
    pub rows: u64,
    /// Empty when only counted.
    pub hash: String,
}

/// Fingerprints every base table the session sees, inside one read transaction where the engine allows.
pub fn fingerprints(s: &mut Session, deep: bool) -> Result<Vec<TableFingerprint>, DbError> {
    let tables = schema::tables(s)?;
    let mut out = Vec::with_capacity(tables.len());
    for t in &tables {
        let engine = s.engine();
        let cols: Vec<&Column> = t.columns.iter().collect();
        let hash = if deep { format!(", SUM({})", sql::row_hash_number(engine, &cols)) } else { String::new() };
        let row = s
            .query(&format!("SELECT COUNT(*){hash} FROM {}", quote_ident(engine, &t.name)))?
            .into_iter()
            .next()
            .unwrap_or_default();
        let value = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        out.push(TableFingerprint {
            table: t.name.clone(),
            rows: value(0).parse().unwrap_or(0),
            hash: if deep { value(1).trim_end_matches(".0").to_string() } else { String::new() },
        });
    }
    Ok(out)
}

/// Progress is the operations layer's: one `started` per table.
pub use crate::ops::Progress;

/// Compares `source` with `target`. Errors are for connections; per-table failures land in the report.
pub fn compare(
    source: &Endpoint,
    target: &Endpoint,
    options: &ParityOptions,
    progress: &dyn Progress,
) -> Result<ParityReport, DbError> {
    let started = Instant::now();
    let (src, tgt) = in_parallel(source, target, Session::connect);
    let (mut src, mut tgt) = (src?, tgt?);
    let (source_version, target_version) = (src.server_version().to_string(), tgt.server_version().to_string());
    let (src_tables, tgt_tables) = in_parallel(&mut src, &mut tgt, schema::tables);
    let (src_tables, tgt_tables) = (src_tables?, tgt_tables?);
    let (src_objects, tgt_objects) = in_parallel(&mut src, &mut tgt, schema::objects);
    let (src_objects, tgt_objects) = (src_objects?, tgt_objects?);

    let selected = |name: &str| {
        (options.tables.is_empty() || options.tables.iter().any(|p| glob(p, name)))
            && !options.exclude.iter().any(|p| glob(p, name))
    };
    let src_names: BTreeSet<&str> = src_tables.iter().map(|t| t.name.as_str()).filter(|n| selected(n)).collect();
    let tgt_names: BTreeSet<&str> = tgt_tables.iter().map(|t| t.name.as_str()).filter(|n| selected(n)).collect();
    let common: Vec<&str> = src_names.intersection(&tgt_names).copied().collect();

    let mut tables = Vec::new();
    for (i, name) in common.iter().enumerate() {
        progress.started(name, i, common.len());
        let (Some(a), Some(b)) =
            (src_tables.iter().find(|t| t.name == *name), tgt_tables.iter().find(|t| t.name == *name))
        else {
            continue;
        };
        let table_started = Instant::now();
        let mut report = match compare_table(&mut src, &mut tgt, a, b, options) {
            Ok(r) => r,
            Err(e) => {
                // The clients stop at the first error; reconnect for the next table.
                src = Session::connect(source)?;
                tgt = Session::connect(target)?;
                let mut r = empty_report(name, Method::CountsOnly);
                r.status = TableStatus::Error;
                r.note = Some(format!("comparison failed (was the table altered or dropped meanwhile?): {e}"));
                r
            }
        };
        report.duration_ms = table_started.elapsed().as_millis() as u64;
        tables.push(report);
    }
    let only = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| a.difference(b).map(|s| s.to_string()).collect::<Vec<_>>();
    let tables_only_in_source = only(&src_names, &tgt_names);
    let tables_only_in_target = only(&tgt_names, &src_names);
    // Objects are compared by kind and name within one engine; across engines their catalogs differ too much.
    let (objects_only_in_source, objects_only_in_target) =
        if source.engine == target.engine && options.tables.is_empty() {
            let a: BTreeSet<&SchemaObject> = src_objects.iter().collect();
            let b: BTreeSet<&SchemaObject> = tgt_objects.iter().collect();
            (a.difference(&b).map(|o| (*o).clone()).collect(), b.difference(&a).map(|o| (*o).clone()).collect())
        } else {
            (Vec::new(), Vec::new())
        };
    let equal = tables.iter().all(|t| t.status == TableStatus::Equal)
        && tables_only_in_source.is_empty()
        && tables_only_in_target.is_empty()
        && objects_only_in_source.is_empty()
        && objects_only_in_target.is_empty();
    Ok(ParityReport {
        source: source.to_string(),
        target: target.to_string(),
        source_version,
        target_version,
        equal,
        tables,
        tables_only_in_source,
        tables_only_in_target,
        objects_only_in_source,
        objects_only_in_target,
        where_clause: options.where_clause.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Runs `f` on both sides at once (one thread each): every query of a comparison goes to the two databases
/// in parallel.
fn in_parallel<A: Send, T: Send>(
    a: A,
    b: A,
    f: impl Fn(A) -> Result<T, DbError> + Sync,
) -> (Result<T, DbError>, Result<T, DbError>) {
    std::thread::scope(|s| {
        let left = s.spawn(|| f(a));
        let right = f(b);
        (left.join().unwrap_or_else(|_| Err(DbError::Protocol("query thread panicked".into()))), right)
    })
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            name.starts_with(prefix) && {
                let tail = &name[prefix.len()..];
                if rest.is_empty() {
                    true
                } else {
                    (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
                }
            }
        }
    }
}

fn empty_report(table: &str, method: Method) -> TableReport {
    TableReport {
        table: table.to_string(),
        status: TableStatus::Equal,
        method,
        source_rows: 0,
        target_rows: 0,
        missing: Keys::default(),
        extra: Keys::default(),
        changed: Keys::default(),
        schema_differences: Vec::new(),
        note: None,
        duration_ms: 0,
    }
}

/// Per bucket: (rows, sum of row hashes as decimal text).
type Buckets = HashMap<String, (u64, String)>;

fn compare_table(
    src: &mut Session,
    tgt: &mut Session,
    a: &Table,
    b: &Table,
    options: &ParityOptions,
) -> Result<TableReport, DbError> {
    // Columns compared: the source's, in order, that the target also has.
    let mut schema_differences = Vec::new();
    let mut common: Vec<(&Column, &Column)> = Vec::new();
    for ca in &a.columns {
        match b.columns.iter().find(|cb| cb.name == ca.name) {
            Some(cb) => {
                let same_engine = src.engine() == tgt.engine();
                if same_engine && (ca.data_type != cb.data_type || ca.nullable != cb.nullable) {
                    schema_differences.push(format!(
                        "column {}: {}{} vs {}{}",
                        ca.name,
                        ca.data_type,
                        if ca.nullable { "" } else { " not null" },
                        cb.data_type,
                        if cb.nullable { "" } else { " not null" }
                    ));
                }
                common.push((ca, cb));
            }
            None => schema_differences.push(format!("column {} only in source", ca.name)),
        }
    }
    for cb in &b.columns {
        if !a.columns.iter().any(|ca| ca.name == cb.name) {
            schema_differences.push(format!("column {} only in target", cb.name));
        }
    }
    if a.primary_key != b.primary_key {
        schema_differences.push(format!(
            "primary key ({}) vs ({})",
            a.primary_key.join(", "),
            b.primary_key.join(", ")
        ));
    }
    let key_usable = !a.primary_key.is_empty()
        && a.primary_key == b.primary_key
        && a.primary_key.iter().all(|k| common.iter().any(|(c, _)| &c.name == k));
    let method = if options.counts_only {
        Method::CountsOnly
    } else if key_usable && a.integer_key().is_some() && b.integer_key().is_some() {
        Method::KeyRanges
    } else if key_usable {
        Method::KeyHashBuckets
    } else {
        Method::RowHashes
    };
    let mut report = empty_report(&a.name, method);
    report.schema_differences = schema_differences;
    if method == Method::RowHashes && !a.primary_key.is_empty() {
        report.note = Some("primary keys differ: compared as a multiset of row hashes".into());
    } else if method == Method::RowHashes {
        report.note =
            Some("no primary key: compared as a multiset of row hashes; differing rows are shown by content".into());
    }
    let cond = options.where_clause.as_deref().map(|w| format!("({w})"));

    let native = src.engine() == tgt.engine();
    let side = |engine: Engine, t: &Table, cols: Vec<&Column>| Side {
        engine,
        native,
        table: quote_ident(engine, &t.name),
        key: t.primary_key.clone(),
        columns: cols.into_iter().cloned().collect(),
        table_def: t.clone(),
    };
    let sa = side(src.engine(), a, common.iter().map(|(x, _)| *x).collect());
    let sb = side(tgt.engine(), b, common.iter().map(|(_, y)| *y).collect());

    if method == Method::CountsOnly {
        let (na, nb) = in_parallel((&mut *src, &sa), (&mut *tgt, &sb), |(s, side)| count(s, side, cond.as_deref()));
        let (na, nb) = (na?, nb?);
        report.source_rows = na;
        report.target_rows = nb;
        report.status = status_of(&report, true);
        return Ok(report);
    }

    // Pass 0: a table whose key starts with an integer column is first compared in up to CHUNKS ranges of that
    // column, one aggregate per range, read through the primary key's index and without a GROUP BY (on MariaDB the
    // grouping costs as much as the hash). Equal tables end here; passes 1 and 2 run only inside the ranges that differ.
    let ranged = key_usable && a.leading_integer_key().is_some() && b.leading_integer_key().is_some();
    let span = if ranged {
        let (ra, rb) = in_parallel((&mut *src, &sa), (&mut *tgt, &sb), |(s, side)| key_range(s, side, cond.as_deref()));
        match (ra?, rb?) {
            (KeySpan::Empty, KeySpan::Empty) => {
                report.status = status_of(&report, true);
                return Ok(report);
            }
            (KeySpan::Unusable, _) | (_, KeySpan::Unusable) => None,
            (KeySpan::Range(lo, hi), KeySpan::Empty) | (KeySpan::Empty, KeySpan::Range(lo, hi)) => Some((lo, hi)),
            (KeySpan::Range(la, ha), KeySpan::Range(lb, hb)) => Some((la.min(lb), ha.max(hb))),
        }
    } else {
        None
    };
    // The differing chunks; empty: the whole table.
    let mut within: Vec<(i64, i64)> = Vec::new();
    if let Some((lo, hi)) = span {
        let chunks = chunk_ranges(lo, hi);
        let (ca, cb) =
            in_parallel((&mut *src, &sa), (&mut *tgt, &sb), |(s, side)| chunk_sums(s, side, &chunks, cond.as_deref()));
        let (ca, cb) = (ca?, cb?);
        report.source_rows = ca.iter().map(|c| c.0).sum();
        report.target_rows = cb.iter().map(|c| c.0).sum();
        let differing: Vec<(i64, i64)> =
            chunks.iter().zip(ca.iter().zip(&cb)).filter(|(_, (x, y))| x != y).map(|(r, _)| *r).collect();
        if differing.is_empty() {
            report.status = status_of(&report, true);
            return Ok(report);
        }
        within = differing;
    }

    // Pass 1: bucket aggregates on both sides at once (inside the differing chunks, when pass 0 ran).
    let plan = match (method, span) {
        (Method::KeyRanges, Some((lo, hi))) => {
            let span = (hi - lo) as u128 + 1;
            let buckets = (span / 64).clamp(1, 4096) as u64;
            let width = span.div_ceil(buckets as u128).max(1) as u64;
            BucketPlan::Ranges { lo, width }
        }
        (Method::KeyRanges | Method::KeyHashBuckets, _) => BucketPlan::KeyHash { buckets: 4096 },
        _ => BucketPlan::RowHash { buckets: 4096 },
    };
    let (ba, bb) = in_parallel((&mut *src, &sa), (&mut *tgt, &sb), |(s, side)| {
        bucket_sums(s, side, &plan, side.narrowed(cond.as_deref(), &within).as_deref())
    });
    let (ba, bb) = (ba?, bb?);
    if span.is_none() {
        report.source_rows = ba.values().map(|v| v.0).sum();
        report.target_rows = bb.values().map(|v| v.0).sum();
    }
    let differing: BTreeSet<String> = ba
        .iter()
        .filter(|(k, v)| bb.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(bb.keys().filter(|k| !ba.contains_key(*k)).cloned())
        .collect();

    // Pass 2: read back (key, row hash) only for the buckets that differ, and diff them.
    if !differing.is_empty() {
        let ids: Vec<i64> = differing.iter().filter_map(|d| d.parse().ok()).collect();
        let (ra, rb) = in_parallel((&mut *src, &sa), (&mut *tgt, &sb), |(s, side)| {
            fetch_rows(s, side, &plan, &ids, side.narrowed(cond.as_deref(), &within).as_deref())
        });
        let (ra, rb) = (ra?, rb?);
        diff_rows(&mut report, ra, rb, method, options.max_keys);
    }
    report.status = status_of(&report, differing.is_empty());
    Ok(report)
}

/// A compared table's status from its row counts, whether its content matched, and its schema differences.
fn status_of(report: &TableReport, content_equal: bool) -> TableStatus {
    if report.source_rows != report.target_rows {
        TableStatus::CountDiffers
    } else if !content_equal {
        TableStatus::ContentDiffers
    } else if !report.schema_differences.is_empty() {
        TableStatus::SchemaDiffers
    } else {
        TableStatus::Equal
    }
}

/// What one side needs to build its queries.
struct Side {
    engine: Engine,
    /// Both sides are the same engine: hash with its native functions (see `sql::native_row_hash`).
    native: bool,
    table: String,
    key: Vec<String>,
    columns: Vec<Column>,
    table_def: Table,
}

impl Side {
    fn cols(&self) -> Vec<&Column> {
        self.columns.iter().collect()
    }
    fn key_col(&self) -> String {
        quote_ident(self.engine, self.key.first().map(String::as_str).unwrap_or(""))
    }
    /// The per-row hash as a summable number (pass 1).
    fn row_hash_number(&self) -> String {
        if self.native {
            sql::native_row_hash(self.engine, &self.cols())
        } else {
            sql::row_hash_number(self.engine, &self.cols())
        }
    }

    /// `cond` and, when `within` is not empty, the key in those ranges.
    fn narrowed(&self, cond: Option<&str>, within: &[(i64, i64)]) -> Option<String> {
        if within.is_empty() {
            return cond.map(str::to_string);
        }
        let ranges = ranges_filter(&self.key_col(), within);
        Some(match cond {
            Some(c) => format!("{c} AND {ranges}"),
            None => ranges,
        })
    }

    /// The per-row hash of pass 0, which finds most of the table equal and so must cost little more than reading it.
    /// MariaDB pairs sum one CRC32 (32 bits, the checksum pt-table-checksum uses): a second hash would re-evaluate the
    /// row text and cost 1.6× the scan. A change slips through only if the chunk's sums collide (about 1 in 2^32);
    /// passes 1 and 2 keep 64 bits for locating rows.
    fn chunk_hash_number(&self) -> String {
        match (self.native, self.engine) {
            (true, Engine::Mariadb) => format!("CRC32({})", sql::native_row_text(self.engine, &self.cols())),
            _ => self.row_hash_number(),
        }
    }

    /// The per-row hash as compared in pass 2.
    fn row_hash(&self) -> String {
        if self.native {
            sql::native_row_hash(self.engine, &self.cols())
        } else {
            sql::row_md5(self.engine, &self.cols())
        }
    }

    fn key_as_int(&self) -> String {
        match self.engine {
            Engine::Mariadb => self.key_col(),
            Engine::Postgres => format!("{}::bigint", self.key_col()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum BucketPlan {
    Ranges { lo: i64, width: u64 },
    KeyHash { buckets: u64 },
    RowHash { buckets: u64 },
}

fn where_sql(parts: &[Option<String>]) -> String {
    let parts: Vec<&String> = parts.iter().flatten().collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" AND "))
    }
}

fn count(s: &mut Session, side: &Side, cond: Option<&str>) -> Result<u64, DbError> {
    let sql = format!("SELECT COUNT(*) FROM {}{}", side.table, where_sql(&[cond.map(str::to_string)]));
    Ok(s.query_value(&sql)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The smallest and largest value of the key's first column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeySpan {
    /// No rows.
    Empty,
    Range(i64, i64),
    /// Values beyond what ranges are computed in (an unsigned BIGINT above `i64::MAX - 1`): no ranges for this table.
    Unusable,
}

fn key_range(s: &mut Session, side: &Side, cond: Option<&str>) -> Result<KeySpan, DbError> {
    // The bare column, so both engines answer MIN/MAX from the primary key's index.
    let k = side.key_col();
    let sql = format!("SELECT MIN({k}), MAX({k}) FROM {}{}", side.table, where_sql(&[cond.map(str::to_string)]));
    let row = s.query(&sql)?.into_iter().next().unwrap_or_default();
    let value = |i: usize| row.get(i).cloned().flatten();
    Ok(match (value(0), value(1)) {
        (None, None) => KeySpan::Empty,
        (Some(lo), Some(hi)) => match (lo.parse::<i64>(), hi.parse::<i64>()) {
            (Ok(lo), Ok(hi)) if hi < i64::MAX => KeySpan::Range(lo, hi),
            _ => KeySpan::Unusable,
        },
        _ => KeySpan::Unusable,
    })
}

/// At most this many ranges in pass 0: enough that a few changed rows leave most of the table out of pass 1,
/// few enough that one statement holds them all.
const CHUNKS: i64 = 64;

/// `lo..=hi` cut into up to [`CHUNKS`] half-open ranges of equal width.
fn chunk_ranges(lo: i64, hi: i64) -> Vec<(i64, i64)> {
    let span = (hi as i128 - lo as i128 + 1) as u128;
    let count = span.min(CHUNKS as u128);
    let width = span.div_ceil(count) as i128;
    (0..count as i128)
        .map(|i| {
            let start = lo as i128 + i * width;
            let end = (start + width).min(i64::MAX as i128);
            (start as i64, end as i64)
        })
        .collect()
}

/// `(k >= a AND k < b) OR …` for half-open ranges, adjacent ones merged, so both engines read them through the index.
fn ranges_filter(key: &str, ranges: &[(i64, i64)]) -> String {
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for &(start, end) in ranges {
        match merged.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => merged.push((start, end)),
        }
    }
    let parts: Vec<String> = merged.iter().map(|(a, b)| format!("({key} >= {a} AND {key} < {b})")).collect();
    format!("({})", parts.join(" OR "))
}

/// Pass 0: (row count, hash sum) of every chunk, in the order of `chunks`, from one statement.
fn chunk_sums(
    s: &mut Session,
    side: &Side,
    chunks: &[(i64, i64)],
    cond: Option<&str>,
) -> Result<Vec<(u64, String)>, DbError> {
    let k = side.key_col();
    let h = side.chunk_hash_number();
    let selects: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            let w = where_sql(&[Some(format!("{k} >= {a} AND {k} < {b}")), cond.map(str::to_string)]);
            format!("SELECT {i}, COUNT(*), SUM({h}) FROM {}{w}", side.table)
        })
        .collect();
    let mut out = vec![(0, String::new()); chunks.len()];
    s.query_each(&selects.join(" UNION ALL "), |row| {
        if let [Some(i), Some(n), sum] = row.as_slice() {
            if let Some(slot) = i.parse::<usize>().ok().and_then(|i| out.get_mut(i)) {
                let sum = sum.as_deref().unwrap_or("").trim_end_matches(".0").to_string();
                *slot = (n.parse().unwrap_or(0), sum);
            }
        }
        Ok(())
    })?;
    Ok(out)
}

fn bucket_expr(side: &Side, plan: &BucketPlan) -> String {
    match plan {
        BucketPlan::Ranges { lo, width } => {
            sql::integer_div(side.engine, &format!("{} - ({lo})", side.key_as_int()), *width)
        }
        BucketPlan::KeyHash { buckets } => {
            sql::hash_bucket(side.engine, &sql::key_text(side.engine, &side.table_def), *buckets)
        }
        BucketPlan::RowHash { buckets } => {
            sql::hash_bucket(side.engine, &sql::row_text(side.engine, &side.cols()), *buckets)
        }
    }
}

fn bucket_sums(s: &mut Session, side: &Side, plan: &BucketPlan, cond: Option<&str>) -> Result<Buckets, DbError> {
    let sql = format!(
        "SELECT {b}, COUNT(*), SUM({h}) FROM {t}{w} GROUP BY 1",
        b = bucket_expr(side, plan),
        h = side.row_hash_number(),
        t = side.table,
        w = where_sql(&[cond.map(str::to_string)])
    );
    let mut out = Buckets::new();
    s.query_each(&sql, |row| {
        if let [Some(b), Some(n), Some(sum)] = row.as_slice() {
            out.insert(b.clone(), (n.parse().unwrap_or(0), sum.trim_end_matches(".0").to_string()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// (key JSON or row JSON, row md5) for every row in the given buckets.
fn fetch_rows(
    s: &mut Session,
    side: &Side,
    plan: &BucketPlan,
    ids: &[i64],
    cond: Option<&str>,
) -> Result<Vec<(String, String)>, DbError> {
    let filter = match plan {
        BucketPlan::Ranges { lo, width } => {
            // Contiguous buckets become one range, read through the key's index.
            let ranges: Vec<(i64, i64)> = ids
                .iter()
                .map(|id| {
                    let start = lo.saturating_add(id.saturating_mul(*width as i64));
                    (start, start.saturating_add(*width as i64))
                })
                .collect();
            ranges_filter(&side.key_col(), &ranges)
        }
        _ => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!("{} IN ({})", bucket_expr(side, plan), list.join(", "))
        }
    };
    let label = if matches!(plan, BucketPlan::RowHash { .. }) {
        let cols: Vec<String> = side.columns.iter().map(|c| quote_ident(side.engine, &c.name)).collect();
        match side.engine {
            Engine::Mariadb => format!("JSON_ARRAY({})", cols.join(", ")),
            Engine::Postgres => format!("json_build_array({})::text", cols.join(", ")),
        }
    } else {
        sql::key_json(side.engine, &side.key)
    };
    let sql = format!(
        "SELECT {label}, {h} FROM {t}{w}",
        h = side.row_hash(),
        t = side.table,
        w = where_sql(&[Some(filter), cond.map(str::to_string)])
    );
    let mut out = Vec::new();
    s.query_each(&sql, |row| {
        if let [Some(k), Some(h)] = row.as_slice() {
            out.push((k.clone(), h.clone()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// JSON text from either engine, re-serialized so `[1,"a"]` and `[1, "a"]` compare equal.
fn canonical(json: &str) -> (String, serde_json::Value) {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => (v.to_string(), v),
        Err(_) => (json.to_string(), serde_json::Value::String(json.to_string())),
    }
}

fn diff_rows(report: &mut TableReport, a: Vec<(String, String)>, b: Vec<(String, String)>, method: Method, cap: usize) {
    if method == Method::RowHashes {
        // Multisets: count each row hash on both sides.
        let mut counts: BTreeMap<String, (i64, serde_json::Value)> = BTreeMap::new();
        for (row, h) in a {
            let e = counts.entry(h).or_insert((0, canonical(&row).1));
            e.0 += 1;
        }
        for (row, h) in b {
            let e = counts.entry(h).or_insert((0, canonical(&row).1));
            e.0 -= 1;
        }
        for (_, (n, row)) in counts {
            for _ in 0..n.max(0) {
                report.missing.add(row.clone(), cap);
            }
            for _ in 0..(-n).max(0) {
                report.extra.add(row.clone(), cap);
            }
        }
        return;
    }
    let mut target: HashMap<String, (String, serde_json::Value)> = HashMap::with_capacity(b.len());
    for (k, h) in b {
        let (text, value) = canonical(&k);
        target.insert(text, (h, value));
    }
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for (k, h) in a {
        let (text, value) = canonical(&k);
        match target.remove(&text) {
            None => missing.push((text, value)),
            Some((th, _)) if th != h => changed.push((text, value)),
            Some(_) => {}
        }
    }
    let mut extra: Vec<(String, serde_json::Value)> = target.into_iter().map(|(k, (_, v))| (k, v)).collect();
    for list in [&mut missing, &mut changed, &mut extra] {
        list.sort_by(|x, y| key_order(&x.1, &y.1).then_with(|| x.0.cmp(&y.0)));
    }
    for (_, v) in missing {
        report.missing.add(v, cap);
    }
    for (_, v) in changed {
        report.changed.add(v, cap);
    }
    for (_, v) in extra {
        report.extra.add(v, cap);
    }
}

/// Orders keys numerically where they are numbers, so `[9]` comes before `[10]`.
fn key_order(a: &serde_json::Value, b: &serde_json::Value) -> std::cmp::Ordering {
    match (a, b) {
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = match (p.as_f64(), q.as_f64()) {
                    (Some(m), Some(n)) => m.partial_cmp(&n).unwrap_or(std::cmp::Ordering::Equal),
                    _ => p.to_string().cmp(&q.to_string()),
                };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests;
