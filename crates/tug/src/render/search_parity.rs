//! The search parity report for people: one line per index, then the ids and mapping fields that differ.

use std::io::Write;

use serde_json::Value;
use tugboat::parity::search::{IndexReport, IndexStatus, MappingDifference, SampleOrder, SearchParityReport};
use tugboat::parity::Keys;

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

fn status(i: &IndexReport) -> (&'static str, anstyle::Style) {
    match i.status {
        IndexStatus::Equal => ("equal", OK),
        IndexStatus::CountDiffers => ("count differs", HIGH),
        IndexStatus::ContentDiffers => ("content differs", HIGH),
        IndexStatus::MappingDiffers => ("mapping differs", MEDIUM),
        IndexStatus::MissingInTarget => ("missing in target", HIGH),
        IndexStatus::MissingInSource => ("missing in source", HIGH),
        IndexStatus::Closed => ("closed", MEDIUM),
        IndexStatus::Error => ("error", HIGH),
    }
}

fn docs(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// A JSON value without quotes when it is a string.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn ids(keys: &Keys) -> String {
    let list: Vec<String> = keys.keys.iter().map(plain).collect();
    let more = if keys.total as usize > keys.keys.len() {
        format!(" … and {} more", keys.total as usize - keys.keys.len())
    } else {
        String::new()
    };
    format!("{}{more}", list.join(" "))
}

fn mapping_line(d: &MappingDifference) -> String {
    let side = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_string(), Value::to_string);
    let what = match (d.field.is_empty(), d.setting.is_empty()) {
        (false, false) => format!("{} {}", d.field, d.setting),
        (false, true) => d.field.clone(),
        (true, _) => d.setting.clone(),
    };
    match (&d.source, &d.target) {
        (Some(_), None) if d.setting.is_empty() => format!("{what}: only in source {}", side(&d.source)),
        (None, Some(_)) if d.setting.is_empty() => format!("{what}: only in target {}", side(&d.target)),
        _ => format!("{what}: {} vs {}", side(&d.source), side(&d.target)),
    }
}

pub fn print(r: &SearchParityReport) {
    let mut out = anstream::stdout();
    let _ = writeln!(out, "{} {}  {}", paint(BOLD, "source"), r.source, paint(DIM, &r.source_version));
    let _ = writeln!(out, "{} {}  {}", paint(BOLD, "target"), r.target, paint(DIM, &r.target_version));
    let width = r.indices.iter().map(|i| i.index.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "\n{}",
        paint(
            BOLD,
            &format!(
                "{:<width$}  {:<17}  {:>21}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}",
                "index", "status", "docs source / target", "sampled", "missing", "extra", "changed", "mapping", "time"
            )
        )
    );
    for i in &r.indices {
        let (label, style) = status(i);
        let sampled = match i.sample_order {
            SampleOrder::None => "-".to_string(),
            _ => i.sampled.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {}  {:>21}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>6.2}s",
            i.index,
            paint(style, &format!("{label:<17}")),
            format!("{} / {}", docs(i.source_docs), docs(i.target_docs)),
            sampled,
            i.missing.total,
            i.extra.total,
            i.changed.total,
            i.mapping_differences.len(),
            i.duration_ms as f64 / 1000.0
        );
        for (what, keys) in [("missing in target", &i.missing), ("extra in target", &i.extra), ("changed", &i.changed)]
        {
            if keys.total > 0 {
                let _ = writeln!(out, "  {} {}", paint(DIM, &format!("{what}:")), ids(keys));
            }
        }
        for d in &i.mapping_differences {
            let _ = writeln!(out, "  {} {}", paint(DIM, "mapping:"), mapping_line(d));
        }
        for n in &i.notes {
            let _ = writeln!(out, "  {} {n}", paint(DIM, "note:"));
        }
    }
    for (what, list) in [("only in source", &r.indices_only_in_source), ("only in target", &r.indices_only_in_target)] {
        if !list.is_empty() {
            let _ = writeln!(out, "{} {}", paint(HIGH, &format!("indices {what}:")), list.join(", "));
        }
    }
    let _ = writeln!(out);
    let sample = if r.sample == 0 {
        "counts and mappings only".to_string()
    } else {
        format!("up to {} documents sampled per index", r.sample)
    };
    let verdict = if r.equal { paint(OK, "equal:") } else { paint(HIGH, "differ:") };
    let _ = writeln!(out, "{verdict} {}; {sample} ({:.2}s)", r.summary(), r.duration_ms as f64 / 1000.0);
}
