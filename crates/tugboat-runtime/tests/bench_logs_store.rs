//! What the log store costs (`bench/logs`; ignored in the suite): lines stored per second, bytes on disk
//! per byte of log, and how long a `--grep` over the history takes, for the store as built (SQLite with
//! the FTS5 trigram index) against the same table without the index, in the same run, alternating.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tugboat_runtime::logs::store::{required_literals, Checkpoint, Collected, HistoryQuery, LogStore};
use tugboat_runtime::logs::{LogLine, Stream};

const LINES: usize = 200_000;
const BATCH: usize = 4096;
const SERVICES: [&str; 3] = ["web", "api", "worker"];

/// Access-log-like lines with request ids, statuses and the odd error: what a web service writes.
fn line(i: usize) -> LogLine {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x
    };
    let status = [200, 200, 200, 201, 204, 301, 404, 500][(next() % 8) as usize];
    let text = if i.is_multiple_of(997) {
        format!("ERROR upstream timed out after 30000 ms request_id={:016x}", next())
    } else {
        format!(
            "10.0.{}.{} - - \"GET /api/v1/items/{} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0\" rt={}ms id={:016x}",
            next() % 256,
            next() % 256,
            next() % 100_000,
            next() % 50_000,
            next() % 900,
            next()
        )
    };
    let service = SERVICES[i % 3];
    LogLine {
        time: String::new(),
        nanos: 1_764_000_000_000_000_000 + i as i128 * 1_000_000,
        service: service.into(),
        container: format!("shop-{service}-1"),
        label: format!("{service}-1"),
        stream: Stream::Stdout,
        line: text,
    }
}

fn batches() -> Vec<Vec<Collected>> {
    let mut cp = Checkpoint::default();
    let all: Vec<Collected> = (0..LINES)
        .map(|i| {
            let l = line(i);
            cp = cp.after(l.nanos);
            Collected { container_id: l.container.clone(), line: l, checkpoint: cp }
        })
        .collect();
    all.chunks(BATCH).map(<[Collected]>::to_vec).collect()
}

fn size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum()
}

type Run = (f64, u64, Duration, Duration);

/// (lines/s, bytes on disk, grep with a literal, grep without one) for the store with or without its index.
fn run(indexed: bool, batches: &[Vec<Collected>]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let mut store = LogStore::open(&path).unwrap();
    if !indexed {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("DROP TRIGGER lines_indexed; DROP TRIGGER lines_unindexed; DROP TABLE lines_text;").unwrap();
    }
    let started = Instant::now();
    for b in batches {
        store.append(b).unwrap();
    }
    let rate = LINES as f64 / started.elapsed().as_secs_f64();
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(c);
    let bytes = size(dir.path());
    let store = LogStore::open_read_only(&path).unwrap().unwrap();
    let grep = |pattern: &str| {
        let re = regex::Regex::new(pattern).unwrap();
        let any_of = if indexed { required_literals(pattern) } else { None };
        let started = Instant::now();
        let mut found = 0;
        store
            .history(&HistoryQuery { any_of, ..Default::default() }, &mut |l| {
                found += usize::from(re.is_match(&l.line));
                true
            })
            .unwrap();
        assert!(found > 0, "{pattern} finds lines");
        started.elapsed()
    };
    (rate, bytes, grep("ERROR upstream"), grep("rt=8[0-9]{2}ms"))
}

#[test]
#[ignore = "a benchmark: bench/logs runs it"]
fn log_store_cost() {
    let batches = batches();
    let text: usize = batches.iter().flatten().map(|c| c.line.line.len()).sum();
    let mut results: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for indexed in if round % 2 == 0 { [true, false] } else { [false, true] } {
            results[usize::from(!indexed)].push(run(indexed, &batches));
        }
    }
    println!(
        "| store ({LINES} lines, {:.1} MiB of text) | lines/s | on disk / text | grep `ERROR upstream` | grep `rt=8[0-9]{{2}}ms` |",
        text as f64 / 1_048_576.0
    );
    println!("|---|---|---|---|---|");
    for (name, runs) in [("SQLite + FTS5 trigram (tug)", &results[0]), ("SQLite, no text index", &results[1])] {
        let median = |f: &dyn Fn(&Run) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "| {name} | {:.0} | {:.2}× | {:.0} ms | {:.0} ms |",
            median(&|r| r.0),
            median(&|r| r.1 as f64) / text as f64,
            median(&|r| r.2.as_secs_f64() * 1000.0),
            median(&|r| r.3.as_secs_f64() * 1000.0)
        );
    }
}
