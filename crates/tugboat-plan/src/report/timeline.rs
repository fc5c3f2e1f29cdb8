//! The run drawn as an SVG timeline: one row per step, time running left to right.
//!
//! The scale. A cutover mixes steps of seconds with waits of hours (a 24 h watch window, an approval given
//! the next morning): on a linear axis every short step would share one pixel. A log scale keeps them apart
//! but leaves no two lengths comparable. So the axis is linear with the longest quiet gaps cut out — the
//! stretches between two consecutive events, when nothing happened but waiting — each drawn as a narrow
//! hatched band labelled with the time it leaves out, as incident timelines do. The fewest longest gaps are
//! cut that together hold more than three quarters of the run's time, none shorter than a minute, and at
//! least a minute is left to scale: a 24 h window among minutes is cut, a 4-minute copy among 6 minutes of
//! other steps, or three 5-minute copies in a row, stay to scale. A window's `waiting` looks do not split
//! its gap (they are not activity). Bars that span a cut run through its band, and no bar is narrower than
//! `MIN_BAR` pixels.

use std::fmt::Write;

use serde_json::Value;

use super::{duration_text, escape, plural, Field, Record, StepView};
use crate::file::Action;
use crate::state::Status;
use crate::time_text;

const WIDTH: f64 = 960.0;
const PLOT_LEFT: f64 = 184.0;
const PLOT_RIGHT: f64 = 944.0;
/// Two header lines: cut labels, then tick labels.
const TOP: f64 = 40.0;
const ROW: f64 = 26.0;
const CUT_PX: f64 = 56.0;
const CUT_MIN_MS: i64 = 60_000;
const MAX_CUTS: usize = 6;
pub(crate) const MIN_BAR: f64 = 4.0;
const TICK_PX: f64 = 80.0;

const STYLE: &str = "text{font:11px system-ui,sans-serif;fill:#1f2328}.small{font-size:10px;fill:#59636e}\
.ok{fill:#2e7d32;stroke:#2e7d32}.failed{fill:#c62828;stroke:#c62828}.undone{fill:#9e9e9e;stroke:#757575}\
.open{fill:url(#hatch);stroke:#1565c0}.wait{fill-opacity:.2;stroke-dasharray:5 3;stroke-width:1.5}\
.wait.open{fill-opacity:1}.pass{fill:#2e7d32}.block{fill:#e65100}.flag{fill:#6a1b9a;stroke:#6a1b9a}\
.grid{stroke:#e6e8eb}.axis{stroke:#8c959f;fill:none}.cut{fill:url(#cut)}.rollback{stroke:#c62828;stroke-dasharray:3 3}";

/// Hatching for bars not finished, and for the bands of time cut out.
const PATTERNS: &str =
    "<pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
<rect width=\"6\" height=\"6\" fill=\"#bbdefb\"/><rect width=\"2\" height=\"6\" fill=\"#1565c0\"/></pattern>\
<pattern id=\"cut\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(-45)\">\
<rect width=\"8\" height=\"8\" fill=\"#f6f8fa\"/><rect width=\"1\" height=\"8\" fill=\"#d0d7de\"/></pattern>";

/// Time to x: linear pieces with cut gaps of fixed width between them.
pub(crate) struct Scale {
    segments: Vec<Segment>,
}

struct Segment {
    t0: i64,
    t1: i64,
    x0: f64,
    x1: f64,
    cut: bool,
}

impl Scale {
    pub(crate) fn new(instants: &[i64], left: f64, right: f64) -> Scale {
        let mut ts = instants.to_vec();
        ts.sort_unstable();
        ts.dedup();
        if ts.len() < 2 {
            let t = ts.first().copied().unwrap_or(0);
            ts = vec![t, t + 1000];
        }
        let gaps: Vec<(i64, i64)> = ts.windows(2).map(|w| (w[0], w[1])).collect();
        let total = ts[ts.len() - 1] - ts[0];
        // Longest first; ties keep time order, so the choice is deterministic.
        let mut longest: Vec<usize> = (0..gaps.len()).collect();
        longest.sort_by_key(|&i| std::cmp::Reverse(gaps[i].1 - gaps[i].0));
        let (mut chosen, mut cut_ms) = (Vec::new(), 0);
        for &i in longest.iter().take(MAX_CUTS) {
            let len = gaps[i].1 - gaps[i].0;
            if len < CUT_MIN_MS || cut_ms * 4 > total * 3 {
                break;
            }
            chosen.push(i);
            cut_ms += len;
        }
        let mut cut = vec![false; gaps.len()];
        if cut_ms * 4 > total * 3 && total - cut_ms >= CUT_MIN_MS {
            chosen.iter().for_each(|&i| cut[i] = true);
        } else {
            cut_ms = 0;
        }
        // Neighbouring linear gaps make one piece, neighbouring cuts one band; then each gets its width.
        let mut segments: Vec<Segment> = Vec::new();
        for (&(t0, t1), &c) in gaps.iter().zip(&cut) {
            match segments.last_mut() {
                Some(s) if s.cut == c => s.t1 = t1,
                _ => segments.push(Segment { t0, t1, x0: 0.0, x1: 0.0, cut: c }),
            }
        }
        let bands = segments.iter().filter(|s| s.cut).count() as f64;
        let px_per_ms = (right - left - bands * CUT_PX) / (total - cut_ms).max(1) as f64;
        let mut x = left;
        for s in &mut segments {
            s.x0 = x;
            x += if s.cut { CUT_PX } else { (s.t1 - s.t0) as f64 * px_per_ms };
            s.x1 = x;
        }
        Scale { segments }
    }

    pub(crate) fn x(&self, t: i64) -> f64 {
        match self.segments.iter().find(|s| t <= s.t1).or(self.segments.last()) {
            Some(s) if t > s.t0 && s.t1 > s.t0 => {
                s.x0 + (s.x1 - s.x0) * ((t.min(s.t1) - s.t0) as f64 / (s.t1 - s.t0) as f64)
            }
            Some(s) => s.x0,
            None => PLOT_LEFT,
        }
    }

    /// Tick positions and labels: per linear piece, the finest round step at least `TICK_PX` apart. A label
    /// names the day too when it is not the day of the label before (a cut may skip a night).
    fn ticks(&self) -> Vec<(f64, String)> {
        const STEPS_S: [i64; 20] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
            604_800,
        ];
        let first = self.segments.first().map_or(0, |s| s.t0);
        let mut ticks = vec![(first, 1000)];
        for s in self.segments.iter().filter(|s| !s.cut && s.t1 > s.t0) {
            let px_per_ms = (s.x1 - s.x0) / (s.t1 - s.t0) as f64;
            let Some(step) = STEPS_S.iter().map(|s| s * 1000).find(|&st| st as f64 * px_per_ms >= TICK_PX) else {
                continue;
            };
            let mut t = (s.t0 + step - 1).div_euclid(step) * step;
            while t <= s.t1 {
                if ticks.last().is_none_or(|&(last, _)| self.x(t) - self.x(last) >= TICK_PX * 0.9) {
                    ticks.push((t, step));
                }
                t += step;
            }
        }
        let mut day = String::new();
        let mut out = Vec::new();
        for (t, step) in ticks {
            // `2026-12-01 17:04:05Z`: the day, then the time as fine as the step needs.
            let full = time_text(t);
            let (date, time) = (full.get(5..10).unwrap_or_default(), full.get(11..19).unwrap_or_default());
            let time = if step < 60_000 { time } else { time.get(..5).unwrap_or(time) };
            out.push((self.x(t), if date == day { time.to_string() } else { format!("{date} {time}") }));
            day = date.to_string();
        }
        out
    }
}

/// The CSS class that colours a bar: `ok`, `failed`, `undone`, or `open` (hatched: not finished).
type Paint = &'static str;

struct Bar {
    t0: i64,
    t1: i64,
    paint: Paint,
    /// A wait: a watch window, or an approval step waiting for people.
    dashed: bool,
    what: &'static str,
}

enum Mark {
    Gate { t: i64, ok: bool, title: String },
    Flag { t: i64, title: String },
}

/// A step's bars and marks, from its events.
fn shapes(v: &StepView, end: i64) -> (Vec<Bar>, Vec<Mark>) {
    let watch = matches!(v.step.map(|s| &s.action), Some(Action::Watch { .. }));
    let (mut bars, mut marks) = (Vec::new(), Vec::new());
    let (mut attempt, mut approval, mut undo, mut last_waiting) = (None, None, None, None);
    for e in &v.events {
        let t = e.time_ms;
        match e.kind.as_str() {
            "started" => {
                // Started again: the attempt before never finished (the process died under it).
                if let Some(t0) = attempt.replace(t) {
                    bars.push(Bar { t0, t1: t, paint: "open", dashed: watch, what: "interrupted" });
                }
            }
            "succeeded" | "failed" | "resolved" => {
                let ok = e.kind == "succeeded" || (e.kind == "resolved" && e.detail["outcome"] == "succeeded");
                let paint = match (ok, v.state.status) {
                    (false, _) => "failed",
                    (true, Status::Undone) => "undone",
                    (true, _) => "ok",
                };
                if let Some(t0) = approval.take() {
                    bars.push(Bar { t0, t1: t, paint, dashed: true, what: "waiting for approval" });
                }
                let what = if ok { "succeeded" } else { "failed" };
                bars.push(Bar { t0: attempt.take().unwrap_or(t), t1: t, paint, dashed: watch, what });
            }
            "waiting" => last_waiting = Some(t),
            "awaiting_approval" => {
                approval.get_or_insert(t);
            }
            "approved" => {
                let note = e.detail["note"].as_str().map(|n| format!(": {n}")).unwrap_or_default();
                marks.push(Mark::Flag { t, title: format!("approved by {} at {}{note}", e.actor, time_text(t)) });
            }
            "blocked" | "gates_passed" => {
                let gate = |g: &Value| {
                    format!("{}: {}", g.str_at("requirement"), if g["ok"] == true { "passed" } else { "blocked" })
                };
                let gates: Vec<String> = e.detail.list_at("gates").iter().map(gate).collect();
                let title = format!("gates at {}: {}", time_text(t), gates.join("; "));
                marks.push(Mark::Gate { t, ok: e.kind == "gates_passed", title });
            }
            "undo_started" => undo = Some(t),
            "undone" | "undo_failed" => {
                let (paint, what) = if e.kind == "undone" { ("undone", "undone") } else { ("failed", "undo failed") };
                bars.push(Bar { t0: undo.take().unwrap_or(t), t1: t, paint, dashed: false, what });
            }
            _ => {}
        }
    }
    // What is still open runs to the end; an open history window, for now, to its last look.
    let t1 = if watch { last_waiting.unwrap_or(end) } else { end };
    bars.extend(attempt.map(|t0| Bar { t0, t1, paint: "open", dashed: watch, what: "not finished" }));
    bars.extend(approval.map(|t0| Bar { t0, t1: end, paint: "open", dashed: true, what: "waiting for approval" }));
    bars.extend(undo.map(|t0| Bar { t0, t1: end, paint: "open", dashed: false, what: "undo not finished" }));
    (bars, marks)
}

/// An element with its tooltip: `<rect …><title>…</title></rect>`.
fn titled(out: &mut String, tag: &str, attributes: &str, title: &str) {
    let _ = writeln!(out, "<{tag} {attributes}><title>{}</title></{tag}>", escape(title));
}

pub(crate) fn svg(r: &Record, steps: &[StepView]) -> String {
    let last = r.events.iter().map(|e| e.time_ms).max().unwrap_or(r.run.started_ms);
    // A finished run ends with it; an unfinished one runs on to when the report was made.
    let end = last.max(r.run.finished_ms.unwrap_or(r.generated_ms));
    let mut instants: Vec<i64> = r.events.iter().filter(|e| e.kind != "waiting").map(|e| e.time_ms).collect();
    instants.extend([r.run.started_ms, end]);
    let scale = Scale::new(&instants, PLOT_LEFT, PLOT_RIGHT);
    let rows: Vec<&StepView> = steps.iter().filter(|v| !v.rollback || !v.events.is_empty()).collect();
    let (bottom, cuts) = (TOP + rows.len() as f64 * ROW, scale.segments.iter().filter(|s| s.cut).count());
    let height = bottom + 36.0;
    let cut_words =
        if cuts == 0 { String::new() } else { format!("; {} cut short on the axis", plural(cuts, "long wait")) };
    let (from, to) = (time_text(r.run.started_ms), time_text(end));
    let label = escape(&format!(
        "Timeline of run #{} of plan {}: {} steps from {from} to {to}{cut_words}",
        r.run.id,
        r.plan.name,
        rows.len()
    ));
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{label}\">\n\
         <title>{label}</title>\n<style>{STYLE}</style>\n<defs>{PATTERNS}</defs>\n"
    );
    for i in (0..rows.len()).step_by(2) {
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"{}\" width=\"{WIDTH}\" height=\"{ROW}\" fill=\"#f6f8fa\"/>",
            TOP + i as f64 * ROW
        );
    }
    for s in scale.segments.iter().filter(|s| s.cut) {
        let (left_out, x0, w) = (duration_text(s.t1 - s.t0), s.x0, s.x1 - s.x0);
        let band = format!("class=\"cut\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{w:.1}\" height=\"{:.1}\"", bottom - TOP);
        titled(&mut out, "rect", &band, &format!("{left_out} cut from the axis: nothing happened but waiting"));
        let _ = writeln!(
            out,
            "<text class=\"small\" x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{left_out}</text>",
            x0 + w / 2.0
        );
        let _ = writeln!(
            out,
            "<path class=\"axis\" d=\"M{:.1} {} l4 -8 M{:.1} {1} l4 -8\"/>",
            x0 - 2.0,
            TOP + 4.0,
            s.x1 - 2.0
        );
    }
    let _ = writeln!(out, "<text class=\"small\" x=\"8\" y=\"{}\">step (times UTC)</text>", TOP - 8.0);
    let _ = writeln!(out, "<line class=\"axis\" x1=\"{PLOT_LEFT}\" y1=\"{TOP}\" x2=\"{PLOT_RIGHT}\" y2=\"{TOP}\"/>");
    for (x, tick) in scale.ticks() {
        let _ = writeln!(out, "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>");
        let _ = writeln!(
            out,
            "<text class=\"small\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{tick}</text>",
            TOP - 8.0
        );
    }
    for (i, v) in rows.iter().enumerate() {
        let cy = TOP + i as f64 * ROW + ROW / 2.0;
        let short: String =
            if v.name.chars().count() > 26 { v.name.chars().take(25).chain(['…']).collect() } else { v.name.into() };
        let about = escape(&format!("{} ({}): {}", v.name, v.kind(), v.status().0));
        let _ = writeln!(out, "<text x=\"8\" y=\"{:.1}\"><title>{about}</title>{}</text>", cy + 4.0, escape(&short));
        let (bars, marks) = shapes(v, end);
        for b in &bars {
            let (x0, h) = (scale.x(b.t0), if b.dashed { 8.0 } else { 12.0 });
            let w = (scale.x(b.t1) - x0).max(MIN_BAR);
            let (from, to, took) = (time_text(b.t0), time_text(b.t1), duration_text(b.t1 - b.t0));
            let class = format!("bar {}{}", b.paint, if b.dashed { " wait" } else { "" });
            let attributes = format!(
                "class=\"{class}\" data-step=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h}\" rx=\"2\"",
                escape(v.name),
                cy - h / 2.0
            );
            titled(&mut out, "rect", &attributes, &format!("{}: {}, {from} to {to} ({took})", v.name, b.what));
        }
        for m in &marks {
            match m {
                // Its right tip at the time: the bar of the step that follows stays in sight.
                Mark::Gate { t, ok, title } => {
                    let d = format!("M{:.1} {:.1} l6 6 l-6 6 l-6 -6 z", scale.x(*t) - 6.0, cy - 6.0);
                    titled(
                        &mut out,
                        "path",
                        &format!("class=\"{}\" d=\"{d}\" stroke=\"#fff\"", if *ok { "pass" } else { "block" }),
                        title,
                    );
                }
                Mark::Flag { t, title } => {
                    titled(
                        &mut out,
                        "path",
                        &format!("class=\"flag\" d=\"M{:.1} {:.1} v-18 l9 4 l-9 4\"", scale.x(*t), cy + 8.0),
                        title,
                    );
                }
            }
        }
    }
    for e in r.events.iter().filter(|e| e.step == "-" && e.kind == "rollback_started") {
        let x = scale.x(e.time_ms);
        let line = format!("x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" class=\"rollback\"");
        titled(&mut out, "line", &line, &format!("rollback started at {} by {}", time_text(e.time_ms), e.actor));
    }
    legend(&mut out, bottom + 22.0);
    out.push_str("</svg>\n");
    out
}

fn legend(out: &mut String, y: f64) {
    let diamond = "d=\"M7 -10 l5 5 l-5 5 l-5 -5 z\"";
    let items = [
        ("<rect class=\"ok\" width=\"14\" height=\"10\" y=\"-9\"/>".to_string(), "succeeded"),
        ("<rect class=\"failed\" width=\"14\" height=\"10\" y=\"-9\"/>".into(), "failed"),
        ("<rect class=\"undone\" width=\"14\" height=\"10\" y=\"-9\"/>".into(), "undone"),
        ("<rect class=\"open\" width=\"14\" height=\"10\" y=\"-9\"/>".into(), "not finished"),
        ("<rect class=\"ok wait\" width=\"14\" height=\"8\" y=\"-8\"/>".into(), "waiting"),
        (format!("<path class=\"pass\" {diamond}/>"), "gates passed"),
        (format!("<path class=\"block\" {diamond}/>"), "blocked"),
        ("<path class=\"flag\" d=\"M4 1 v-12 l8 3 l-8 3\"/>".into(), "approval"),
        ("<rect class=\"cut\" width=\"14\" height=\"12\" y=\"-10\" stroke=\"#d0d7de\"/>".into(), "time cut out"),
        ("<path class=\"rollback\" d=\"M7 -11 v12\"/>".into(), "rollback started"),
    ];
    let mut x = 8.0;
    for (shape, words) in items {
        let _ = writeln!(
            out,
            "<g transform=\"translate({x:.0} {y})\">{shape}<text class=\"small\" x=\"19\">{words}</text></g>"
        );
        x += 34.0 + words.len() as f64 * 5.6;
    }
}
