//! `tug plan report`: the record of one run of a cutover plan — what was done, when, by whom, on which
//! evidence — as Markdown (a wiki, a git repo) or as one self-contained HTML file (inline CSS and SVG, no
//! JavaScript, nothing fetched, printable).
//!
//! Both formats render one format-neutral [`Doc`] built here: sections of blocks (fields, tables, lists,
//! preformatted text) whose inline text is typed as prose, code or a status. Each renderer escapes for its
//! own syntax in one place, and the two documents cannot drift apart. Every string printed comes from the
//! inputs, which the store redacted when it recorded them; nothing here looks anything up.

use serde_json::Value;
use tugboat::store::{AuditEvent, Outcome, PlanEvent, PlanRun};

use crate::file::{Action, Plan, Step, Undo};
use crate::state::{self, Status, StepState};
use crate::time_text;

mod html;
mod markdown;
mod timeline;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

/// Everything a report shows; the caller reads it from the state database.
pub struct Record<'a> {
    pub plan: &'a Plan,
    pub run: &'a PlanRun,
    /// The run's events, oldest first.
    pub events: &'a [PlanEvent],
    /// The audit events of this run (already filtered).
    pub audit: &'a [AuditEvent],
    /// The head hash of the audit chain, when it was verified intact.
    pub audit_head: Option<&'a str>,
    /// "Generated at", injected so that output is deterministic.
    pub generated_ms: i64,
}

pub fn render(record: &Record, format: Format) -> String {
    let steps = step_views(record);
    let doc = document(record, &steps);
    match format {
        Format::Markdown => markdown::render(&doc),
        Format::Html => html::render(&doc, &timeline::svg(record, &steps)),
    }
}

// ---------------------------------------------------------------------------------------------------
// The document model both renderers read.

/// How a status reads at a glance (the HTML colours it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Bad,
    Open,
    Plain,
}

#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    /// Names, commands, hashes: shown literally.
    Code(String),
    Status(Tone, String),
}

pub(crate) type Line = Vec<Piece>;

pub(crate) enum Block {
    Fields(Vec<(String, Line)>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<Line>>,
    },
    Para(Line),
    List(Vec<Line>),
    /// Command output.
    Pre(String),
    /// Where the HTML puts the SVG (Markdown has the event list instead).
    Timeline,
}

pub(crate) struct Section {
    pub level: u8,
    pub title: String,
    pub id: String,
    pub blocks: Vec<Block>,
}

pub(crate) struct Doc {
    pub title: String,
    pub sections: Vec<Section>,
}

fn text(s: impl Into<String>) -> Piece {
    Piece::Text(s.into())
}

fn code(s: impl Into<String>) -> Piece {
    Piece::Code(s.into())
}

fn line(s: impl Into<String>) -> Line {
    vec![text(s)]
}

fn status(tone: Tone, s: impl Into<String>) -> Line {
    vec![Piece::Status(tone, s.into())]
}

fn table(head: &[&str], rows: Vec<Vec<Line>>) -> Block {
    Block::Table { head: head.iter().map(|h| h.to_string()).collect(), rows }
}

fn section(level: u8, title: impl Into<String>, id: &str, blocks: Vec<Block>) -> Section {
    Section { level, title: title.into(), id: anchor(id), blocks }
}

/// An HTML id from a name: `step-copy-db`.
fn anchor(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// For HTML text and attributes (and the SVG, which is XML).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `340ms`, `1.2s`, `42s`, `4m 12s`, `24h 5m`, `3d 4h`.
pub(crate) fn duration_text(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    let two = |a: i64, ua: &str, b: i64, ub: &str| if b == 0 { format!("{a}{ua}") } else { format!("{a}{ua} {b}{ub}") };
    // Hours up to three days: a 24 h window that took 24 h 5 m should say so.
    match ms {
        0 => "0s".into(),
        1..=999 => format!("{ms}ms"),
        1000..=9_999 => format!("{:.1}s", ms as f64 / 1000.0),
        10_000..=59_999 => format!("{s}s"),
        60_000..=3_599_999 => two(s / 60, "m", s % 60, "s"),
        3_600_000..=259_199_999 => two(s / 3600, "h", s % 3600 / 60, "m"),
        _ => two(s / 86_400, "d", s % 86_400 / 3600, "h"),
    }
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

// ---------------------------------------------------------------------------------------------------
// Steps as the run saw them.

pub(crate) struct StepView<'a> {
    pub name: &'a str,
    /// `None`: the step is in the run's events but no longer in the plan file.
    pub step: Option<&'a Step>,
    pub rollback: bool,
    pub state: StepState,
    pub events: Vec<&'a PlanEvent>,
}

/// The plan's steps, then its rollback steps, then steps only the events still name.
pub(crate) fn step_views<'a>(r: &'a Record) -> Vec<StepView<'a>> {
    let mut named: Vec<(&str, Option<&Step>, bool)> = Vec::new();
    named.extend(r.plan.steps.iter().map(|s| (s.name.as_str(), Some(s), false)));
    named.extend(r.plan.rollback.iter().map(|s| (s.name.as_str(), Some(s), true)));
    for e in r.events {
        if e.step != "-" && !named.iter().any(|(n, _, _)| *n == e.step) {
            named.push((e.step.as_str(), None, false));
        }
    }
    named
        .into_iter()
        .map(|(name, step, rollback)| StepView {
            name,
            step,
            rollback,
            state: state::step_state(r.events, name),
            events: r.events.iter().filter(|e| e.step == name).collect(),
        })
        .collect()
}

impl StepView<'_> {
    fn kind(&self) -> &'static str {
        self.step.map_or("(not in the plan file)", |s| s.action.kind())
    }

    /// The state in words; a step that never ran but whose gates were evaluated reads `blocked`.
    pub(crate) fn status(&self) -> (&'static str, Tone) {
        match self.state.status {
            Status::Pending if self.events.iter().rev().find(|e| is_gate(e)).is_some_and(|e| e.kind == "blocked") => {
                ("blocked", Tone::Bad)
            }
            Status::Pending => ("not run", Tone::Plain),
            Status::Started => ("started, not finished", Tone::Open),
            Status::Waiting => ("waiting", Tone::Open),
            Status::AwaitingApproval => ("awaiting approval", Tone::Open),
            Status::Succeeded => ("succeeded", Tone::Good),
            Status::Failed => ("failed", Tone::Bad),
            Status::Undoing => ("being undone", Tone::Open),
            Status::Undone => ("undone", Tone::Plain),
            Status::UndoFailed => ("undo failed", Tone::Bad),
        }
    }

    /// When the last attempt began: its `started`, else (an approval) its first wait.
    fn started_ms(&self) -> Option<i64> {
        self.state.started_ms.or_else(|| self.events.iter().find(|e| e.kind == "awaiting_approval").map(|e| e.time_ms))
    }

    /// When the last attempt ended (an undo later does not move it).
    fn finished_ms(&self) -> Option<i64> {
        let from = self.started_ms().unwrap_or(i64::MIN);
        self.events.iter().rev().find(|e| is_end(e) && e.time_ms >= from).map(|e| e.time_ms)
    }

    /// Who acted: the approvers of an approval step, else whoever started the last attempt.
    fn who(&self) -> String {
        if matches!(self.step.map(|s| &s.action), Some(Action::Approve { .. })) {
            let mut people: Vec<&str> = Vec::new();
            for e in self.events.iter().filter(|e| e.kind == "approved") {
                if !people.contains(&e.actor.as_str()) {
                    people.push(&e.actor);
                }
            }
            return people.join(", ");
        }
        let started = self.events.iter().rev().find(|e| e.kind == "started").or(self.events.last());
        started.map(|e| e.actor.clone()).unwrap_or_default()
    }
}

fn is_gate(e: &PlanEvent) -> bool {
    matches!(e.kind.as_str(), "blocked" | "gates_passed")
}

fn is_end(e: &PlanEvent) -> bool {
    matches!(e.kind.as_str(), "succeeded" | "failed" | "resolved")
}

// ---------------------------------------------------------------------------------------------------
// The document.

fn document(r: &Record, steps: &[StepView]) -> Doc {
    let mut sections = vec![header(r, steps), summary(steps), timeline_section(r)];
    sections.push(section(2, "Steps", "steps", Vec::new()));
    let shown = steps.iter().filter(|v| !v.rollback || !v.events.is_empty());
    sections.extend(shown.enumerate().map(|(i, v)| step_section(i + 1, v)));
    sections.push(approvals_section(r));
    sections.extend(undo_section(r, steps));
    sections.push(audit_section(r));
    Doc { title: format!("Cutover record: {} ({}), run #{}", r.plan.name, r.run.stack, r.run.id), sections }
}

fn header(r: &Record, steps: &[StepView]) -> Section {
    let run = r.run;
    let (word, tone) = match run.status.as_str() {
        "active" => ("active: not finished", Tone::Open),
        "done" => ("done: every step succeeded", Tone::Good),
        "rolling_back" => ("rolling back", Tone::Open),
        "rolled_back" => ("rolled back", Tone::Plain),
        other => (other, Tone::Plain),
    };
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for v in steps.iter().filter(|v| !v.rollback) {
        let word = v.status().0;
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let mut digest = vec![code(&run.digest)];
    if r.plan.digest != run.digest {
        digest.extend([text(" (the file has changed since; now "), code(&r.plan.digest), text(")")]);
    }
    let mut fields = vec![
        ("Plan".to_string(), vec![code(&r.plan.name), text(" in "), code(r.plan.path.display().to_string())]),
        ("Stack".into(), vec![code(&run.stack)]),
        ("Run".into(), line(format!("#{}", run.id))),
        ("Status".into(), status(tone, word)),
        ("Steps".into(), line(counts.join(", "))),
        ("Started by".into(), vec![code(&run.started_by)]),
        ("Started".into(), line(time_text(run.started_ms))),
    ];
    match run.finished_ms {
        Some(end) => {
            fields.push(("Finished".into(), line(time_text(end))));
            fields.push(("Took".into(), line(duration_text(end - run.started_ms))));
        }
        None => fields.push(("Finished".into(), line("not finished"))),
    }
    fields.push(("Plan file digest".into(), digest));
    fields.push(("Report generated".into(), line(time_text(r.generated_ms))));
    let mut blocks = Vec::new();
    if let Some(d) = &r.plan.description {
        blocks.push(Block::Para(line(d)));
    }
    blocks.push(Block::Fields(fields));
    section(1, "", "record", blocks)
}

fn summary(steps: &[StepView]) -> Section {
    let rows = steps
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (word, tone) = v.status();
            let kind = if v.rollback { format!("{} (rollback)", v.kind()) } else { v.kind().to_string() };
            let (start, end) = (v.started_ms(), v.finished_ms());
            vec![
                line((i + 1).to_string()),
                vec![code(v.name)],
                line(kind),
                status(tone, word),
                line(start.map(time_text).unwrap_or_default()),
                line(end.map(time_text).unwrap_or_default()),
                line(start.zip(end).map(|(a, b)| duration_text(b - a)).unwrap_or_default()),
                line(v.who()),
            ]
        })
        .collect();
    let head = vec!["#", "Step", "Kind", "Status", "Started", "Finished", "Duration", "By"];
    section(2, "Summary", "summary", vec![table(&head, rows)])
}

fn timeline_section(r: &Record) -> Section {
    let events = r.events.iter().map(|e| {
        let mut l =
            vec![code(time_text(e.time_ms)), text(format!(" +{} ", duration_text(e.time_ms - r.run.started_ms)))];
        match e.step.as_str() {
            "-" => l.push(text(format!("run #{}", r.run.id))),
            step => l.push(code(step)),
        }
        l.push(text(": "));
        l.extend(event_text(e));
        l.extend([text(" — "), code(&e.actor)]);
        l
    });
    let blocks = vec![
        Block::Timeline,
        Block::Para(line("Every event of the run, oldest first:")),
        Block::List(events.collect()),
    ];
    section(2, "Timeline", "timeline", blocks)
}

/// One event in words (without its time, step and actor).
fn event_text(e: &PlanEvent) -> Line {
    let d = &e.detail;
    let s = |key: &str| d.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let gates = |ok: bool| -> String {
        let names: Vec<&str> = d["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["ok"].as_bool() == Some(ok))
            .filter_map(|g| g["gate"].as_str())
            .collect();
        names.join(", ")
    };
    match e.kind.as_str() {
        "run_started" => vec![text("started with plan file "), code(short_hash(&s("digest")))],
        "plan_changed" => {
            vec![text("plan file changed: "), code(short_hash(&s("from"))), text(" → "), code(short_hash(&s("to")))]
        }
        "blocked" => vec![text("blocked by "), code(gates(false))],
        "gates_passed" => vec![text("gates passed: "), code(gates(true))],
        "started" => line(format!("started: {}", s("action"))),
        "succeeded" => line("succeeded"),
        "failed" => line(format!("failed: {}", s("reason"))),
        "waiting" => {
            let so_far = &d["so_far"];
            let clean = match so_far.get("buckets") {
                Some(b) => format!(
                    "; so far {b} of {} buckets, {} results, {} failed, {} alerts",
                    so_far["buckets_expected"], so_far["results"], so_far["failed"], so_far["alerts"]
                ),
                None => String::new(),
            };
            line(format!("waiting until {}{clean}", d["until_ms"].as_i64().map(time_text).unwrap_or_default()))
        }
        "awaiting_approval" => {
            let mut l = line(format!("awaiting approval ({} of {})", d["have"], d["need"]));
            if let Some(note) = d["note"].as_str() {
                l.push(text(format!(": {note}")));
            }
            l
        }
        "approved" => {
            let mut l = line(format!("approved by {}", e.actor));
            if let Some(note) = d["note"].as_str() {
                l.push(text(format!(": {note}")));
            }
            l
        }
        "resolved" => line(format!("resolved as {}: {}", s("outcome"), s("note"))),
        "undo_started" => match d.get("command").or(d.get("action")).and_then(Value::as_str) {
            Some(what) => vec![text("undo started: "), code(what)],
            None => line("undo started"),
        },
        "undone" => line("undone"),
        "undo_failed" => line(format!("undo failed: {}", s("reason"))),
        "rollback_started" => line("rollback started"),
        "rollback_done" => line("rollback done"),
        "done" => line("done: every step succeeded"),
        other => {
            let mut l = vec![code(other)];
            if d.as_object().is_some_and(|m| !m.is_empty()) {
                l.push(text(" "));
                l.extend(kv_line(d));
            }
            l
        }
    }
}

fn step_section(n: usize, v: &StepView) -> Section {
    let (word, tone) = v.status();
    let mut fields = Vec::new();
    match v.step {
        Some(step) => {
            fields.push(("Action".to_string(), line(step.action.summary())));
            if let Action::Run { undo, .. } = &step.action {
                let undo = match undo {
                    Undo::Command { command } => vec![code(command)],
                    Undo::None { why } => line(format!("none: {why}")),
                };
                fields.push(("Undo".into(), undo));
            }
            if !step.gates.is_empty() {
                let wants: Vec<String> = step.gates.iter().map(|g| g.requirement()).collect();
                fields.push(("Gates".into(), line(wants.join("; "))));
            }
            fields.push(("Defined at".into(), vec![code(&step.at)]));
        }
        None => fields.push(("Action".into(), line("not in the plan file any more"))),
    }
    fields.push(("Status".into(), status(tone, word)));
    if let Some(t) = v.started_ms() {
        fields.push(("Started".into(), line(time_text(t))));
    }
    if let Some(t) = v.finished_ms() {
        let took = v.started_ms().map(|s| format!(" (took {})", duration_text(t - s))).unwrap_or_default();
        fields.push(("Finished".into(), line(format!("{}{took}", time_text(t)))));
    }
    let who = v.who();
    if !who.is_empty() {
        fields.push(("By".into(), line(who)));
    }
    let mut blocks = vec![Block::Fields(fields)];

    let gate_rows: Vec<Vec<Line>> = v
        .events
        .iter()
        .filter(|e| is_gate(e))
        .flat_map(|e| {
            e.detail["gates"].as_array().into_iter().flatten().map(|g| {
                let ok = g["ok"].as_bool() == Some(true);
                vec![
                    line(time_text(e.time_ms)),
                    vec![code(g["gate"].as_str().unwrap_or("?"))],
                    line(g["requirement"].as_str().unwrap_or_default()),
                    if ok { status(Tone::Good, "passed") } else { status(Tone::Bad, "blocked") },
                    gate_evidence(g),
                ]
            })
        })
        .collect();
    if !gate_rows.is_empty() {
        blocks.push(Block::Para(line("Gate evaluations:")));
        blocks.push(table(&["When", "Gate", "Requirement", "Result", "Evidence"], gate_rows));
    }

    // Then the step's story, oldest first: each outcome with its evidence, and between them what else moved
    // it (a window's looks, a wait for approval, a person settling an interrupted attempt, an undo).
    let mut notes: Vec<Line> = Vec::new();
    for e in &v.events {
        let (what, tone) = match e.kind.as_str() {
            "succeeded" => ("Succeeded", Tone::Good),
            "failed" => ("Failed", Tone::Bad),
            "undone" => ("Undone", Tone::Plain),
            "undo_failed" => ("Undo failed", Tone::Bad),
            "waiting" | "awaiting_approval" | "resolved" | "undo_started" => {
                let mut l = vec![code(time_text(e.time_ms)), text(" ")];
                l.extend(event_text(e));
                l.extend([text(" — "), code(e.detail["by"].as_str().unwrap_or(&e.actor))]);
                notes.push(l);
                continue;
            }
            _ => continue,
        };
        if !notes.is_empty() {
            blocks.push(Block::List(std::mem::take(&mut notes)));
        }
        let mut l = status(tone, what);
        l.push(text(format!(" at {}", time_text(e.time_ms))));
        if let Some(reason) = e.detail["reason"].as_str() {
            l.push(text(format!(": {reason}")));
        }
        blocks.push(Block::Para(l));
        blocks.extend(evidence_blocks(&e.detail["evidence"]));
    }
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    let rollback = if v.rollback { " (rollback)" } else { "" };
    section(3, format!("{n}. {} — {}{rollback}", v.name, v.kind()), &format!("step-{}", v.name), blocks)
}

fn approvals_section(r: &Record) -> Section {
    let rows: Vec<Vec<Line>> = r
        .events
        .iter()
        .filter(|e| e.kind == "approved")
        .map(|e| {
            vec![
                vec![code(&e.step)],
                line(&e.actor),
                line(time_text(e.time_ms)),
                line(e.detail["note"].as_str().unwrap_or_default()),
                vec![code(e.detail["by"].as_str().unwrap_or_default())],
            ]
        })
        .collect();
    let block = if rows.is_empty() {
        Block::Para(line("No approvals were recorded in this run."))
    } else {
        table(&["Step", "Approver", "When", "Note", "Recorded by"], rows)
    };
    section(2, "Approvals", "approvals", vec![block])
}

/// Undos of steps and runs of the plan's rollback steps, in the order they ran; `None` when the run never
/// went back and the plan has no way back to list.
fn undo_section(r: &Record, steps: &[StepView]) -> Option<Section> {
    let mut rows: Vec<(i64, Vec<Line>)> = Vec::new();
    for v in steps {
        let (start, ok, failed, what) =
            if v.rollback { ("started", "succeeded", "failed", "rollback step") } else { ("undo_started", "undone", "undo_failed", "undo") };
        let mut open: Option<&PlanEvent> = None;
        for e in &v.events {
            if e.kind == start {
                rows.extend(open.replace(e).map(|o| undo_row(v.name, what, o, None)));
            } else if e.kind == ok || e.kind == failed {
                rows.extend(open.take().map(|o| undo_row(v.name, what, o, Some(e))));
            }
        }
        rows.extend(open.map(|o| undo_row(v.name, what, o, None)));
    }
    rows.sort_by_key(|(t, _)| *t);
    let rows: Vec<Vec<Line>> = rows.into_iter().map(|(_, row)| row).collect();
    let marks: Vec<Line> = r
        .events
        .iter()
        .filter(|e| e.step == "-" && e.kind.starts_with("rollback_"))
        .map(|e| {
            let mut l = vec![code(time_text(e.time_ms)), text(" ")];
            l.extend(event_text(e));
            l.extend([text(" — "), code(&e.actor)]);
            l
        })
        .collect();
    if rows.is_empty() && marks.is_empty() && r.plan.rollback.is_empty() {
        return None;
    }
    let mut blocks = Vec::new();
    if !marks.is_empty() {
        blocks.push(Block::List(marks));
    }
    if rows.is_empty() {
        blocks.push(Block::Para(line("Nothing was undone or rolled back in this run.")));
    } else {
        let head = vec!["Step", "What", "Command / action", "Started", "Finished", "Result", "Reason"];
        blocks.push(table(&head, rows));
    }
    if !r.plan.rollback.is_empty() {
        let names: Vec<String> =
            r.plan.rollback.iter().map(|s| format!("{} ({})", s.name, s.action.summary())).collect();
        blocks.push(Block::Para(line(format!("The plan's rollback steps: {}.", names.join("; ")))));
    }
    Some(section(2, "Undo and rollback", "rollback", blocks))
}

fn undo_row(step: &str, what: &str, start: &PlanEvent, end: Option<&PlanEvent>) -> (i64, Vec<Line>) {
    let action = start.detail.get("command").or(start.detail.get("action")).and_then(Value::as_str);
    let result = match end {
        Some(e) if matches!(e.kind.as_str(), "undone" | "succeeded") => status(Tone::Good, "done"),
        Some(_) => status(Tone::Bad, "failed"),
        None => status(Tone::Open, "not finished"),
    };
    let row = vec![
        vec![code(step)],
        line(what),
        vec![code(action.unwrap_or_default())],
        line(time_text(start.time_ms)),
        line(end.map(|e| time_text(e.time_ms)).unwrap_or_default()),
        result,
        line(end.and_then(|e| e.detail["reason"].as_str()).unwrap_or_default()),
    ];
    (start.time_ms, row)
}

fn audit_section(r: &Record) -> Section {
    let rows: Vec<Vec<Line>> = r
        .audit
        .iter()
        .map(|a| {
            let outcome = match &a.outcome {
                Outcome::Ok => status(Tone::Good, "ok"),
                Outcome::Failed(why) => status(Tone::Bad, format!("failed: {why}")),
                Outcome::DryRun => status(Tone::Plain, "dry run"),
                Outcome::Interrupted => status(Tone::Bad, "interrupted"),
                Outcome::Aborted => status(Tone::Bad, "aborted"),
            };
            vec![
                line(a.seq.to_string()),
                line(time_text(a.time_ms)),
                vec![code(&a.command)],
                vec![code(&a.actor)],
                outcome,
                vec![code(short_hash(&a.hash))],
            ]
        })
        .collect();
    let mut blocks = Vec::new();
    if rows.is_empty() {
        blocks.push(Block::Para(line("No audit events belong to this run.")));
    } else {
        blocks.push(table(&["Seq", "Time", "Command", "Actor", "Outcome", "Hash"], rows));
    }
    blocks.push(Block::Para(match r.audit_head {
        Some(head) => vec![text("Audit chain head (the chain verified intact): "), code(head)],
        None => line("The audit chain was not verified for this report: no head hash is given."),
    }));
    section(2, "Audit trail", "audit", blocks)
}

// ---------------------------------------------------------------------------------------------------
// Evidence.

/// A gate's evidence in one line: what record it rests on, and why it blocked.
fn gate_evidence(g: &Value) -> Line {
    let ev = &g["evidence"];
    let t = |key: &str| ev[key].as_i64().map(time_text).unwrap_or_default();
    let s = |key: &str| ev[key].as_str().unwrap_or_default();
    let mut l = if let Some(id) = ev.get("drill") {
        let verdict = if ev["ok"].as_bool() == Some(false) { "failed" } else { "passed" };
        let mut l = line(format!("drill #{id} of {} {verdict} at {}", s("source"), t("time_ms")));
        if let Some(rto) = ev["rto_ms"].as_i64() {
            l.push(text(format!(", RTO {}", duration_text(rto))));
        }
        if let Some(snap) = ev["snapshot"].as_str() {
            l.extend([text(", snapshot "), code(snap)]);
        }
        l
    } else if let Some(id) = ev.get("parity") {
        vec![
            text(format!("parity #{id} ")),
            code(s("source")),
            text(" = "),
            code(s("target")),
            text(format!(" at {}: {}", t("time_ms"), s("summary"))),
        ]
    } else if let Some(id) = ev.get("smoke") {
        line(format!("smoke run #{id} of {} at {}: {}", s("suite"), t("time_ms"), s("summary")))
    } else if let Some(people) = ev["approvers"].as_array() {
        let who: Vec<String> = people
            .iter()
            .map(|p| {
                let note = p["note"].as_str().map(|n| format!(" (“{n}”)")).unwrap_or_default();
                let at = p["time_ms"].as_i64().map(|t| format!(" at {}", time_text(t))).unwrap_or_default();
                format!("{}{at}{note}", p["person"].as_str().unwrap_or("?"))
            })
            .collect();
        line(if who.is_empty() { "no approvals yet".into() } else { who.join(", ") })
    } else if let Some(steps) = ev["steps"].as_array() {
        let done: Vec<String> = steps
            .iter()
            .map(|d| {
                let at = d["time_ms"].as_i64().map(time_text).unwrap_or_default();
                format!("{} succeeded at {at}", d["step"].as_str().unwrap_or("?"))
            })
            .collect();
        line(done.join(", "))
    } else if ev.get("buckets").is_some() {
        let suite = ev["suite"].as_str().unwrap_or("every suite");
        line(format!(
            "{suite} since {}: {} buckets, {} results, {} failed, {} alerts",
            t("since_ms"),
            ev["buckets"],
            ev["results"],
            ev["failed"],
            ev["alerts"]
        ))
    } else if ev.is_object() {
        kv_line(ev)
    } else {
        Line::new()
    };
    if let Some(reason) = g["reason"].as_str() {
        l.push(text(if l.is_empty() { reason.to_string() } else { format!(" — {reason}") }));
    }
    if let Some(fix) = g["fix"].as_str() {
        l.extend([text("; fix: "), code(fix)]);
    }
    l
}

/// The evidence of a step's outcome: the operation's report, rendered where its shape is known.
fn evidence_blocks(ev: &Value) -> Vec<Block> {
    if ev.is_null() {
        return Vec::new();
    }
    let report = &ev["report"];
    if report.is_null() {
        return ev
            .get("summary")
            .map(|s| vec![Block::Fields(fields(s))])
            .unwrap_or_else(|| vec![Block::Fields(fields(ev))]);
    }
    match ev["operation"].as_str().unwrap_or_default() {
        "drill" => drill_blocks(report),
        "migrate" => {
            let c = &report["copied"];
            let mut f = Vec::new();
            if let Some(bytes) = c["bytes"].as_u64() {
                let took = c["duration_ms"].as_i64().map(|d| format!(" in {}", duration_text(d))).unwrap_or_default();
                f.push(("Copied".into(), line(format!("{}{took}", bytes_text(bytes)))));
            }
            if report["rehearsal"].as_bool() == Some(true) {
                f.push(("Rehearsal".into(), line("yes: into a scratch server, removed afterwards")));
            }
            let mut blocks = vec![Block::Fields(f)];
            blocks.extend(parity_blocks(&report["parity"]));
            blocks
        }
        // `report` is the parity step's result: its id and verdict around the parity report.
        "parity" if report["tables"].is_null() && report["report"].is_object() => {
            let mut f = vec![("Parity report".to_string(), line(format!("#{}", report["id"])))];
            if let Some(s) = report["summary"].as_str() {
                f.push(("Summary".into(), line(s)));
            }
            let mut blocks = vec![Block::Fields(f)];
            blocks.extend(parity_blocks(&report["report"]));
            blocks
        }
        "parity" => parity_blocks(report),
        "smoke" => smoke_blocks(report),
        "deploy" | "rollback" => deploy_blocks(report),
        "plan command" | "plan undo" | "run" => command_blocks(report),
        "plan watch" | "watch" => watch_blocks(report),
        "approve" => {
            let rows: Vec<Vec<Line>> = report["approvers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        line(p["person"].as_str().unwrap_or("?")),
                        line(p["time_ms"].as_i64().map(time_text).unwrap_or_default()),
                        line(p["note"].as_str().unwrap_or_default()),
                    ]
                })
                .collect();
            vec![table(&["Approved by", "When", "Note"], rows)]
        }
        _ => generic_blocks(report),
    }
}

fn drill_blocks(report: &Value) -> Vec<Block> {
    let drills = report["drills"].as_array().map(Vec::as_slice).unwrap_or_default();
    let rows = drills
        .iter()
        .map(|d| {
            let ok = d["ok"].as_bool() == Some(true);
            let snap = &d["snapshot"];
            let snapshot = match snap["short_id"].as_str().or(snap["id"].as_str()) {
                Some(id) => vec![code(id), text(format!(" {}", snap["time"].as_str().unwrap_or_default()))],
                None => Line::new(),
            };
            let detail = match (d["error"].as_str(), d["files_checked"].as_u64()) {
                (Some(e), _) => e.to_string(),
                (None, Some(n)) => {
                    let differing = d["files_differing"].as_array().map_or(0, Vec::len);
                    format!("{n} files checked, {differing} differ")
                }
                (None, None) => format!("{} tables", d["tables"].as_array().map_or(0, Vec::len)),
            };
            vec![
                vec![code(d["source"].as_str().unwrap_or("?"))],
                line(d["kind"].as_str().unwrap_or_default()),
                if ok { status(Tone::Good, "passed") } else { status(Tone::Bad, "failed") },
                line(d["restore_ms"].as_i64().map(duration_text).unwrap_or_default()),
                snapshot,
                line(d["snapshot_age_s"].as_i64().map(|s| duration_text(s * 1000)).unwrap_or_default()),
                line(detail),
            ]
        })
        .collect();
    let head = vec!["Source", "Kind", "Result", "Restore time (RTO)", "Snapshot", "Snapshot age", "Detail"];
    let mut blocks = vec![table(&head, rows)];
    for d in drills {
        let tables = d["tables"].as_array().map(Vec::as_slice).unwrap_or_default();
        if tables.is_empty() {
            continue;
        }
        let count = |v: &Value| v.as_u64().map(|n| n.to_string()).unwrap_or_default();
        let rows = tables
            .iter()
            .map(|t| {
                let verdict = t["verdict"].as_str().unwrap_or("?");
                let tone = match verdict {
                    "equal" => Tone::Good,
                    "bad_backup" => Tone::Bad,
                    "unverified" => Tone::Open,
                    _ => Tone::Plain,
                };
                vec![
                    vec![code(t["table"].as_str().unwrap_or("?"))],
                    status(tone, verdict.replace('_', " ")),
                    line(count(&t["restored_rows"])),
                    line(count(&t["snapshot_rows"])),
                    line(count(&t["live_rows"])),
                    line(t["note"].as_str().unwrap_or_default()),
                ]
            })
            .collect();
        blocks.push(Block::Para(vec![
            text("Tables restored from "),
            code(d["source"].as_str().unwrap_or("?")),
            text(":"),
        ]));
        blocks.push(table(&["Table", "Verdict", "Restored rows", "Snapshot rows", "Live rows", "Note"], rows));
        if d["parity"].is_object() {
            blocks.extend(parity_blocks(&d["parity"]));
        }
    }
    blocks
}

fn parity_blocks(p: &Value) -> Vec<Block> {
    let Some(tables) = p["tables"].as_array() else { return generic_blocks(p) };
    let side = |name: &str| {
        let mut l = vec![code(p[name].as_str().unwrap_or("?"))];
        if let Some(v) = p[&format!("{name}_version")].as_str().filter(|v| !v.is_empty()) {
            l.push(text(format!(" ({v})")));
        }
        l
    };
    let equal = p["equal"].as_bool() == Some(true);
    let differing = tables.iter().filter(|t| t["status"] != "equal").count();
    let verdict = if equal {
        status(Tone::Good, format!("equal: {} tables", tables.len()))
    } else {
        status(Tone::Bad, format!("differs: {differing} of {} tables", tables.len()))
    };
    let fields = vec![
        ("Parity source".to_string(), side("source")),
        ("Parity target".into(), side("target")),
        ("Parity".into(), verdict),
    ];
    let keys = |t: &Value, k: &str| t[k]["total"].as_u64().unwrap_or(0).to_string();
    let rows = tables
        .iter()
        .map(|t| {
            let st = t["status"].as_str().unwrap_or("?");
            let tone = if st == "equal" { Tone::Good } else { Tone::Bad };
            let mut note: Vec<String> = t["schema_differences"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            note.extend(t["note"].as_str().map(str::to_string));
            vec![
                vec![code(t["table"].as_str().unwrap_or("?"))],
                status(tone, st.replace('_', " ")),
                line(t["source_rows"].to_string()),
                line(t["target_rows"].to_string()),
                line(keys(t, "missing")),
                line(keys(t, "extra")),
                line(keys(t, "changed")),
                line(note.join("; ")),
            ]
        })
        .collect();
    let head = vec!["Table", "Status", "Source rows", "Target rows", "Missing", "Extra", "Changed", "Note"];
    let mut blocks = vec![Block::Fields(fields), table(&head, rows)];
    for (key, words) in
        [("tables_only_in_source", "Tables only in the source"), ("tables_only_in_target", "Tables only in the target")]
    {
        let names: Vec<&str> = p[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            blocks.push(Block::Para(line(format!("{words}: {}.", names.join(", ")))));
        }
    }
    blocks
}

fn smoke_blocks(r: &Value) -> Vec<Block> {
    let ok = r["ok"].as_bool() == Some(true);
    let fields = vec![
        ("Suite".to_string(), vec![code(r["suite"].as_str().unwrap_or("?"))]),
        ("Result".into(), if ok { status(Tone::Good, "passed") } else { status(Tone::Bad, "failed") }),
        (
            "Checks".into(),
            line(format!("{} passed, {} failed, {} not applicable", r["passed"], r["failed"], r["not_applicable"])),
        ),
        ("Took".into(), line(r["duration_ms"].as_f64().map(|d| duration_text(d as i64)).unwrap_or_default())),
    ];
    let rows = r["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let st = c["status"].as_str().unwrap_or("?");
            let tone = match st {
                "pass" => Tone::Good,
                "fail" => Tone::Bad,
                _ => Tone::Plain,
            };
            let failed: Vec<String> = c["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|k| k["ok"].as_bool() == Some(false))
                .map(|k| {
                    format!(
                        "{} (observed {})",
                        k["condition"].as_str().unwrap_or("?"),
                        k["observed"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let detail = c["error"].as_str().map(str::to_string).unwrap_or_else(|| failed.join("; "));
            vec![
                vec![code(c["name"].as_str().or(c["check"].as_str()).unwrap_or("?"))],
                line(c["kind"].as_str().unwrap_or_default()),
                vec![code(c["target"].as_str().unwrap_or_default())],
                status(tone, st.replace('_', " ")),
                line(c["duration_ms"].as_f64().map(|d| duration_text(d as i64)).unwrap_or_default()),
                line(detail),
            ]
        })
        .collect();
    vec![Block::Fields(fields), table(&["Check", "Kind", "Target", "Result", "Took", "Detail"], rows)]
}

fn deploy_blocks(r: &Value) -> Vec<Block> {
    let side = |s: &Value| match s["image"].as_str() {
        Some(image) => vec![code(image), text(" in "), code(s["container"].as_str().unwrap_or("?"))],
        None => line("none"),
    };
    let mut f = vec![("Service".to_string(), vec![code(r["service"].as_str().unwrap_or("?"))])];
    if let Some(outcome) = r["outcome"].as_str() {
        let tone = if outcome == "deployed" { Tone::Good } else { Tone::Bad };
        f.push(("Outcome".into(), status(tone, outcome.replace('_', " "))));
    }
    f.push(("From".into(), side(&r["from"])));
    f.push(("To".into(), side(&r["to"])));
    if let Some(digest) = r["digest"].as_str() {
        f.push(("Image digest".into(), vec![code(digest)]));
    }
    for (key, label) in [("healthy_after_ms", "Healthy after"), ("took_ms", "Took")] {
        if let Some(ms) = r[key].as_i64() {
            f.push((label.into(), line(duration_text(ms))));
        }
    }
    if r.get("watched_requests").is_some() {
        f.push(("Watched".into(), line(format!("{} requests, {} errors", r["watched_requests"], r["watched_errors"]))));
    }
    if let Some(reason) = r["reason"].as_str() {
        f.push(("Rolled back because".into(), line(reason)));
    }
    if r["drain_timed_out"].as_bool() == Some(true) {
        f.push(("Drain".into(), status(Tone::Bad, "timed out: requests in flight on the old version were cut")));
    }
    vec![Block::Fields(f)]
}

fn command_blocks(r: &Value) -> Vec<Block> {
    let exit = match (r["exit_code"].as_i64(), r["timed_out"].as_bool() == Some(true)) {
        (Some(0), _) => status(Tone::Good, "0"),
        (Some(code), _) => status(Tone::Bad, code.to_string()),
        (None, true) => status(Tone::Bad, "killed: it did not finish in time"),
        (None, false) => status(Tone::Bad, "killed by a signal"),
    };
    let mut f =
        vec![("Command".to_string(), vec![code(r["command"].as_str().unwrap_or("?"))]), ("Exit code".into(), exit)];
    if let Some(ms) = r["duration_ms"].as_i64() {
        f.push(("Took".into(), line(duration_text(ms))));
    }
    let mut blocks = vec![Block::Fields(f)];
    if let Some(out) = r["output"].as_str().filter(|o| !o.trim().is_empty()) {
        blocks.push(Block::Para(line("Output (its end):")));
        blocks.push(Block::Pre(out.trim_end().to_string()));
    }
    blocks
}

fn watch_blocks(r: &Value) -> Vec<Block> {
    let suite = vec![code(r["suite"].as_str().unwrap_or("every suite"))];
    // `tug watch` history: counts read from the daemon's buckets.
    if r.get("buckets").is_some() {
        let t = |k: &str| r[k].as_i64().map(time_text).unwrap_or_default();
        let expected = r["buckets_expected"].as_u64().map(|n| format!(" of {n}")).unwrap_or_default();
        let mut f = vec![
            ("Suite".to_string(), suite),
            ("Window".into(), line(format!("{} to {}", t("since_ms"), t("until_ms")))),
            (
                "Coverage".into(),
                line(format!("{}{expected} five-minute buckets, {} results", r["buckets"], r["results"])),
            ),
            ("Failures".into(), line(format!("{} failed results, {} alerts", r["failed"], r["alerts"]))),
        ];
        if let Some(p) = r["problem"].as_str() {
            f.push(("Problem".into(), status(Tone::Bad, p)));
        }
        return vec![Block::Fields(f)];
    }
    let failures = r["failures"].as_array().map(Vec::as_slice).unwrap_or_default();
    let f = vec![
        ("Suite".to_string(), suite),
        ("Window".into(), line(r["window_ms"].as_i64().map(duration_text).unwrap_or_default())),
        ("Rounds".into(), line(r["rounds"].to_string())),
        ("Failures".into(), line(failures.len().to_string())),
    ];
    let mut blocks = vec![Block::Fields(f)];
    if !failures.is_empty() {
        let rows = failures
            .iter()
            .map(|x| {
                vec![
                    line(x["time_ms"].as_i64().map(time_text).unwrap_or_default()),
                    vec![code(x["check"].as_str().unwrap_or("?"))],
                    line(x["message"].as_str().unwrap_or_default()),
                ]
            })
            .collect();
        blocks.push(table(&["When", "Check", "Message"], rows));
    }
    blocks
}

/// A report of a shape this file does not know: its scalar fields, and arrays of records as tables.
fn generic_blocks(v: &Value) -> Vec<Block> {
    let mut blocks = vec![Block::Fields(fields(v))];
    for (key, items) in v.as_object().into_iter().flatten() {
        let Some(items) = items.as_array().filter(|a| a.first().is_some_and(Value::is_object)) else { continue };
        let mut head: Vec<&str> = Vec::new();
        for k in items.iter().filter_map(Value::as_object).flat_map(|o| o.keys()) {
            if !head.contains(&k.as_str()) {
                head.push(k);
            }
        }
        let rows = items.iter().map(|item| head.iter().map(|k| line(value_text(k, &item[*k]))).collect()).collect();
        blocks.push(Block::Para(line(format!("{}:", key.replace('_', " ")))));
        blocks.push(table(&head, rows));
    }
    blocks
}

/// The scalar fields of an object (nested values compact), for reports of unknown shape.
fn fields(v: &Value) -> Vec<(String, Line)> {
    let Some(map) = v.as_object() else { return vec![("Value".into(), line(v.to_string()))] };
    map.iter()
        .filter(|(_, x)| !x.as_array().is_some_and(|a| a.first().is_some_and(Value::is_object)))
        .map(|(k, x)| (k.replace('_', " "), line(value_text(k, x))))
        .collect()
}

/// `key: value, …` in one line.
fn kv_line(v: &Value) -> Line {
    let parts: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, x)| format!("{}: {}", k.replace('_', " "), value_text(k, x)))
        .collect();
    line(parts.join(", "))
}

/// A value for people: `…_ms` keys as times or durations, byte counts in units.
fn value_text(key: &str, v: &Value) -> String {
    let is_time = ["time_ms", "since_ms", "until_ms", "started_ms", "finished_ms"].iter().any(|k| key.ends_with(k));
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if is_time => n.as_i64().map(time_text).unwrap_or_else(|| n.to_string()),
        Value::Number(n) if key.ends_with("_ms") => {
            n.as_f64().map(|f| duration_text(f as i64)).unwrap_or_else(|| n.to_string())
        }
        Value::Number(n) if key == "bytes" || key.ends_with("_bytes") => {
            n.as_u64().map(bytes_text).unwrap_or_else(|| n.to_string())
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(|i| value_text("", i)).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}
