//! The parity report for people: one line per table, then the keys of the rows that differ.

use std::io::Write;

use tugboat::parity::{Method, ParityReport, TableReport, TableStatus};

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

fn status(t: &TableReport) -> (&'static str, anstyle::Style) {
    match t.status {
        TableStatus::Equal => ("equal", OK),
        TableStatus::CountDiffers => ("count differs", HIGH),
        TableStatus::ContentDiffers => ("content differs", HIGH),
        TableStatus::SchemaDiffers => ("schema differs", MEDIUM),
        TableStatus::Error => ("error", HIGH),
    }
}

fn method(m: Method) -> &'static str {
    match m {
        Method::KeyRanges => "key ranges",
        Method::KeyHashBuckets => "key hashes",
        Method::RowHashes => "row hashes (no key)",
        Method::CountsOnly => "counts only",
    }
}

pub fn print(r: &ParityReport) {
    let mut out = anstream::stdout();
    let _ = writeln!(out, "{} {}  {}", paint(BOLD, "source"), r.source, paint(DIM, &r.source_version));
    let _ = writeln!(out, "{} {}  {}", paint(BOLD, "target"), r.target, paint(DIM, &r.target_version));
    if let Some(w) = &r.where_clause {
        let _ = writeln!(out, "{}", paint(DIM, &format!("where {w}")));
    }
    let width = r.tables.iter().map(|t| t.table.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "\n{}",
        paint(
            BOLD,
            &format!(
                "{:<width$}  {:<15}  {:>21}  {:>7}  {:>7}  {:>7}  {:<19}  {:>7}",
                "table", "status", "rows source / target", "missing", "extra", "changed", "method", "time"
            )
        )
    );
    for t in &r.tables {
        let (label, style) = status(t);
        let _ = writeln!(
            out,
            "{:<width$}  {}  {:>21}  {:>7}  {:>7}  {:>7}  {:<19}  {:>6.2}s",
            t.table,
            paint(style, &format!("{label:<15}")),
            format!("{} / {}", t.source_rows, t.target_rows),
            t.missing.total,
            t.extra.total,
            t.changed.total,
            method(t.method),
            t.duration_ms as f64 / 1000.0
        );
        for (what, keys) in [("missing in target", &t.missing), ("extra in target", &t.extra), ("changed", &t.changed)]
        {
            if keys.total > 0 {
                let list: Vec<String> = keys.keys.iter().map(|k| k.to_string()).collect();
                let more = if keys.total as usize > keys.keys.len() {
                    format!(" … and {} more", keys.total as usize - keys.keys.len())
                } else {
                    String::new()
                };
                let _ = writeln!(out, "  {} {}{more}", paint(DIM, &format!("{what}:")), list.join(" "));
            }
        }
        for d in &t.schema_differences {
            let _ = writeln!(out, "  {} {d}", paint(DIM, "schema:"));
        }
        if let Some(n) = &t.note {
            let _ = writeln!(out, "  {} {n}", paint(DIM, "note:"));
        }
    }
    for (what, list) in [("only in source", &r.tables_only_in_source), ("only in target", &r.tables_only_in_target)] {
        if !list.is_empty() {
            let _ = writeln!(out, "{} {}", paint(HIGH, &format!("tables {what}:")), list.join(", "));
        }
    }
    for (what, list) in [("only in source", &r.objects_only_in_source), ("only in target", &r.objects_only_in_target)] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|o| format!("{} {}", o.kind, o.name)).collect();
            let _ = writeln!(out, "{} {}", paint(HIGH, &format!("objects {what}:")), names.join(", "));
        }
    }
    let _ = writeln!(out);
    let verdict = if r.equal { paint(OK, "equal:") } else { paint(HIGH, "differ:") };
    let _ = writeln!(out, "{verdict} {} ({:.2}s)", r.summary(), r.duration_ms as f64 / 1000.0);
}
