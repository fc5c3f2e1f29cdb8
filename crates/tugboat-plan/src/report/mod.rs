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

#[derive(Clone)]
pub(crate) enum Block {
    Fields(Vec<(String, Line)>),
    /// Renderers leave out a table without rows.
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

fn code_line(s: impl Into<String>) -> Line {
    vec![code(s)]
}

fn status(tone: Tone, s: impl Into<String>) -> Line {
    vec![Piece::Status(tone, s.into())]
}

/// A report's own status word (`equal`, `bad_backup`, `pass`), toned by what it means.
fn verdict(word: &str) -> Line {
    let tone = match word {
        "equal" | "pass" | "passed" | "ok" | "deployed" | "done" | "succeeded" => Tone::Good,
        "unverified" => Tone::Open,
        "newer_than_snapshot" | "not_applicable" => Tone::Plain,
        _ => Tone::Bad,
    };
    status(tone, word.replace('_', " "))
}

fn passed(ok: bool) -> Line {
    verdict(if ok { "passed" } else { "failed" })
}

fn field(name: &str, value: Line) -> (String, Line) {
    (name.to_string(), value)
}

fn table(head: &[&str], rows: Vec<Vec<Line>>) -> Block {
    Block::Table { head: head.iter().map(|h| h.to_string()).collect(), rows }
}

fn section(level: u8, title: impl Into<String>, id: &str, blocks: Vec<Block>) -> Section {
    // An HTML id from a name: `step-copy-db`.
    let id = id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    Section { level, title: title.into(), id, blocks }
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

/// `0s`, `340ms`, `1.2s`, `42s`, `4m 12s`, `24h 5m`, `3d 4h`.
pub(crate) fn duration_text(ms: i64) -> String {
    let (ms, s) = (ms.max(0), ms.max(0) / 1000);
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
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut value, mut unit) = (n as f64, 0);
    while value >= 1024.0 && unit < units.len() - 1 {
        (value, unit) = (value / 1024.0, unit + 1);
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Reading a recorded report: a missing or mistyped field reads as empty, so a report of an older or newer
/// shape still renders what it has.
trait Field {
    fn str_at(&self, key: &str) -> &str;
    fn time_at(&self, key: &str) -> String;
    fn took_at(&self, key: &str) -> String;
    fn list_at(&self, key: &str) -> &[Value];
}

impl Field for Value {
    fn str_at(&self, key: &str) -> &str {
        self[key].as_str().unwrap_or_default()
    }
    fn time_at(&self, key: &str) -> String {
        self[key].as_i64().map(time_text).unwrap_or_default()
    }
    fn took_at(&self, key: &str) -> String {
        self[key].as_f64().map(|ms| duration_text(ms as i64)).unwrap_or_default()
    }
    fn list_at(&self, key: &str) -> &[Value] {
        self[key].as_array().map_or(&[], Vec::as_slice)
    }
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
    let events = |name: &str| r.events.iter().filter(|e| e.step == name).collect();
    let view = |(name, step, rollback)| StepView {
        name,
        step,
        rollback,
        state: state::step_state(r.events, name),
        events: events(name),
    };
    named.into_iter().map(view).collect()
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
        let end = |e: &&&PlanEvent| matches!(e.kind.as_str(), "succeeded" | "failed" | "resolved") && e.time_ms >= from;
        self.events.iter().rev().find(end).map(|e| e.time_ms)
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
    for word in steps.iter().filter(|v| !v.rollback).map(|v| v.status().0) {
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let mut digest = code_line(&run.digest);
    if r.plan.digest != run.digest {
        digest.extend([text(" (the file has changed since; now "), code(&r.plan.digest), text(")")]);
    }
    let mut fields = vec![
        field("Plan", vec![code(&r.plan.name), text(" in "), code(r.plan.path.display().to_string())]),
        field("Stack", code_line(&run.stack)),
        field("Run", line(format!("#{}", run.id))),
        field("Status", status(tone, word)),
        field("Steps", line(counts.join(", "))),
        field("Started by", code_line(&run.started_by)),
        field("Started", line(time_text(run.started_ms))),
        field("Finished", line(run.finished_ms.map_or("not finished".into(), time_text))),
    ];
    if let Some(end) = run.finished_ms {
        fields.push(field("Took", line(duration_text(end - run.started_ms))));
    }
    fields.push(field("Plan file digest", digest));
    fields.push(field("Report generated", line(time_text(r.generated_ms))));
    let description = r.plan.description.iter().map(|d| Block::Para(line(d)));
    section(1, "", "record", description.chain([Block::Fields(fields)]).collect())
}

fn summary(steps: &[StepView]) -> Section {
    let row = |(i, v): (usize, &StepView)| {
        let (word, tone) = v.status();
        let kind = if v.rollback { format!("{} (rollback)", v.kind()) } else { v.kind().to_string() };
        let (start, end) = (v.started_ms(), v.finished_ms());
        let took = start.zip(end).map(|(a, b)| duration_text(b - a));
        let time = |t: Option<i64>| line(t.map(time_text).unwrap_or_default());
        let n = line((i + 1).to_string());
        vec![
            n,
            code_line(v.name),
            line(kind),
            status(tone, word),
            time(start),
            time(end),
            line(took.unwrap_or_default()),
            line(v.who()),
        ]
    };
    let head = ["#", "Step", "Kind", "Status", "Started", "Finished", "Duration", "By"];
    section(2, "Summary", "summary", vec![table(&head, steps.iter().enumerate().map(row).collect())])
}

fn timeline_section(r: &Record) -> Section {
    let event = |e: &PlanEvent| {
        let offset = format!(" +{} ", duration_text(e.time_ms - r.run.started_ms));
        let step = if e.step == "-" { text(format!("run #{}", r.run.id)) } else { code(&e.step) };
        let mut l = vec![code(time_text(e.time_ms)), text(offset), step, text(": ")];
        l.extend(event_text(e));
        l.extend([text(" — "), code(&e.actor)]);
        l
    };
    let list = Block::List(r.events.iter().map(event).collect());
    section(
        2,
        "Timeline",
        "timeline",
        vec![Block::Timeline, Block::Para(line("Every event of the run, oldest first:")), list],
    )
}

/// One event in words (without its time, step and actor).
fn event_text(e: &PlanEvent) -> Line {
    let d = &e.detail;
    let gates = |ok: bool| {
        let names: Vec<&str> = d.list_at("gates").iter().filter(|g| g["ok"] == ok).map(|g| g.str_at("gate")).collect();
        code(names.join(", "))
    };
    let note = d["note"].as_str().map(|n| format!(": {n}")).unwrap_or_default();
    match e.kind.as_str() {
        "run_started" => vec![text("started with plan file "), code(short_hash(d.str_at("digest")))],
        "plan_changed" => {
            vec![
                text("plan file changed: "),
                code(short_hash(d.str_at("from"))),
                text(" → "),
                code(short_hash(d.str_at("to"))),
            ]
        }
        "blocked" => vec![text("blocked by "), gates(false)],
        "gates_passed" => vec![text("gates passed: "), gates(true)],
        "started" => line(format!("started: {}", d.str_at("action"))),
        "failed" => line(format!("failed: {}", d.str_at("reason"))),
        "waiting" => {
            let f = &d["so_far"];
            let so_far = match f.get("buckets") {
                Some(b) => format!(
                    "; so far {b} of {} buckets, {} results, {} failed, {} alerts",
                    f["buckets_expected"], f["results"], f["failed"], f["alerts"]
                ),
                None => String::new(),
            };
            line(format!("waiting until {}{so_far}", d.time_at("until_ms")))
        }
        "awaiting_approval" => line(format!("awaiting approval ({} of {}){note}", d["have"], d["need"])),
        "approved" => line(format!("approved by {}{note}", e.actor)),
        "resolved" => line(format!("resolved as {}{note}", d.str_at("outcome"))),
        "undo_started" => match d.get("command").or(d.get("action")).and_then(Value::as_str) {
            Some(what) => vec![text("undo started: "), code(what)],
            None => line("undo started"),
        },
        "undo_failed" => line(format!("undo failed: {}", d.str_at("reason"))),
        "done" => line("done: every step succeeded"),
        "succeeded" | "undone" | "rollback_started" | "rollback_done" => line(e.kind.replace('_', " ")),
        other if d.as_object().is_some_and(|m| !m.is_empty()) => vec![code(other), text(" "), text(kv_text(d))],
        other => code_line(other),
    }
}

fn step_section(n: usize, v: &StepView) -> Section {
    let (word, tone) = v.status();
    let mut fields = Vec::new();
    match v.step {
        Some(step) => {
            fields.push(field("Action", line(step.action.summary())));
            match &step.action {
                Action::Run { undo: Undo::Command { command }, .. } => fields.push(field("Undo", code_line(command))),
                Action::Run { undo: Undo::None { why }, .. } => {
                    fields.push(field("Undo", line(format!("none: {why}"))))
                }
                _ => {}
            }
            if !step.gates.is_empty() {
                let wants: Vec<String> = step.gates.iter().map(|g| g.requirement()).collect();
                fields.push(field("Gates", line(wants.join("; "))));
            }
            fields.push(field("Defined at", code_line(&step.at)));
        }
        None => fields.push(field("Action", line("not in the plan file any more"))),
    }
    fields.push(field("Status", status(tone, word)));
    fields.extend(v.started_ms().map(|t| field("Started", line(time_text(t)))));
    if let Some(t) = v.finished_ms() {
        let took = v.started_ms().map(|s| format!(" (took {})", duration_text(t - s))).unwrap_or_default();
        fields.push(field("Finished", line(format!("{}{took}", time_text(t)))));
    }
    fields.extend(Some(v.who()).filter(|w| !w.is_empty()).map(|w| field("By", line(w))));
    let mut blocks = vec![Block::Fields(fields)];

    let gate_row = |e: &&PlanEvent, g: &Value| {
        let result = if g["ok"] == true { verdict("passed") } else { verdict("blocked") };
        vec![
            line(time_text(e.time_ms)),
            code_line(g.str_at("gate")),
            line(g.str_at("requirement")),
            result,
            gate_evidence(g),
        ]
    };
    let gate_rows: Vec<Vec<Line>> = v
        .events
        .iter()
        .filter(|e| is_gate(e))
        .flat_map(|e| e.detail.list_at("gates").iter().map(move |g| gate_row(e, g)))
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
        let reason = e.detail["reason"].as_str().map(|r| format!(": {r}")).unwrap_or_default();
        l.push(text(format!(" at {}{reason}", time_text(e.time_ms))));
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
    let row = |e: &PlanEvent| {
        let d = &e.detail;
        vec![
            code_line(&e.step),
            line(&e.actor),
            line(time_text(e.time_ms)),
            line(d.str_at("note")),
            code_line(d.str_at("by")),
        ]
    };
    let rows: Vec<Vec<Line>> = r.events.iter().filter(|e| e.kind == "approved").map(row).collect();
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
        let (start, ok, failed, what) = match v.rollback {
            true => ("started", "succeeded", "failed", "rollback step"),
            false => ("undo_started", "undone", "undo_failed", "undo"),
        };
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
    let mark = |e: &PlanEvent| {
        [vec![code(time_text(e.time_ms)), text(" ")], event_text(e), vec![text(" — "), code(&e.actor)]].concat()
    };
    let marks: Vec<Line> =
        r.events.iter().filter(|e| e.step == "-" && e.kind.starts_with("rollback_")).map(mark).collect();
    if rows.is_empty() && marks.is_empty() && r.plan.rollback.is_empty() {
        return None;
    }
    let mut blocks = Vec::new();
    if !marks.is_empty() {
        blocks.push(Block::List(marks));
    }
    if rows.is_empty() {
        blocks.push(Block::Para(line("Nothing was undone or rolled back in this run.")));
    }
    let head = ["Step", "What", "Command / action", "Started", "Finished", "Result", "Reason"];
    blocks.push(table(&head, rows.into_iter().map(|(_, row)| row).collect()));
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
        Some(e) => verdict(if matches!(e.kind.as_str(), "undone" | "succeeded") { "done" } else { "failed" }),
        None => status(Tone::Open, "not finished"),
    };
    let finished = line(end.map(|e| time_text(e.time_ms)).unwrap_or_default());
    let reason = line(end.map(|e| e.detail.str_at("reason")).unwrap_or_default());
    let row = vec![code_line(step), line(what), code_line(action.unwrap_or_default()), line(time_text(start.time_ms))];
    (start.time_ms, [row, vec![finished, result, reason]].concat())
}

fn audit_section(r: &Record) -> Section {
    let row = |a: &AuditEvent| {
        let outcome = match &a.outcome {
            Outcome::Ok => verdict("ok"),
            Outcome::Failed(why) => status(Tone::Bad, format!("failed: {why}")),
            Outcome::DryRun => status(Tone::Plain, "dry run"),
            Outcome::Interrupted => verdict("interrupted"),
            Outcome::Aborted => verdict("aborted"),
        };
        let seq = line(a.seq.to_string());
        vec![
            seq,
            line(time_text(a.time_ms)),
            code_line(&a.command),
            code_line(&a.actor),
            outcome,
            code_line(short_hash(&a.hash)),
        ]
    };
    let mut blocks =
        vec![table(&["Seq", "Time", "Command", "Actor", "Outcome", "Hash"], r.audit.iter().map(row).collect())];
    if r.audit.is_empty() {
        blocks.push(Block::Para(line("No audit events belong to this run.")));
    }
    blocks.push(Block::Para(match r.audit_head {
        Some(head) => vec![text("Audit chain head (the chain verified intact): "), code(head)],
        None => line("The audit chain was not verified for this report: no head hash is given."),
    }));
    section(2, "Audit trail", "audit", blocks)
}

// ---------------------------------------------------------------------------------------------------
// Evidence.

/// A gate's evidence in one line: the record it rests on, and why it blocked.
fn gate_evidence(g: &Value) -> Line {
    let ev = &g["evidence"];
    let mut l = if let Some(id) = ev.get("drill") {
        let rto = ev["rto_ms"].as_i64().map(|ms| format!(", RTO {}", duration_text(ms))).unwrap_or_default();
        let result = if ev["ok"] == false { "failed" } else { "passed" };
        let mut l = line(format!("drill #{id} of {} {result} at {}{rto}", ev.str_at("source"), ev.time_at("time_ms")));
        l.extend(ev["snapshot"].as_str().map(|s| [text(", snapshot "), code(s)]).into_iter().flatten());
        l
    } else if let Some(id) = ev.get("parity") {
        let rest = format!(" at {}: {}", ev.time_at("time_ms"), ev.str_at("summary"));
        vec![
            text(format!("parity #{id} ")),
            code(ev.str_at("source")),
            text(" = "),
            code(ev.str_at("target")),
            text(rest),
        ]
    } else if let Some(id) = ev.get("smoke") {
        line(format!(
            "smoke run #{id} of {} at {}: {}",
            ev.str_at("suite"),
            ev.time_at("time_ms"),
            ev.str_at("summary")
        ))
    } else if let Some(people) = ev["approvers"].as_array() {
        let who: Vec<String> = people
            .iter()
            .map(|p| {
                let note = p["note"].as_str().map(|n| format!(" (“{n}”)")).unwrap_or_default();
                format!("{} at {}{note}", p.str_at("person"), p.time_at("time_ms"))
            })
            .collect();
        line(if who.is_empty() { "no approvals yet".into() } else { who.join(", ") })
    } else if let Some(steps) = ev["steps"].as_array() {
        let done: Vec<String> =
            steps.iter().map(|d| format!("{} succeeded at {}", d.str_at("step"), d.time_at("time_ms"))).collect();
        line(done.join(", "))
    } else if ev.get("buckets").is_some() {
        let suite = ev["suite"].as_str().unwrap_or("every suite");
        let counts = format!(
            "{} buckets, {} results, {} failed, {} alerts",
            ev["buckets"], ev["results"], ev["failed"], ev["alerts"]
        );
        line(format!("{suite} since {}: {counts}", ev.time_at("since_ms")))
    } else if ev.is_object() {
        line(kv_text(ev))
    } else {
        Line::new()
    };
    if let Some(reason) = g["reason"].as_str() {
        l.push(text(if l.is_empty() { reason.to_string() } else { format!(" — {reason}") }));
    }
    l.extend(g["fix"].as_str().map(|fix| [text("; fix: "), code(fix)]).into_iter().flatten());
    l
}

/// The evidence of a step's outcome: the operation's report, rendered where its shape is known.
fn evidence_blocks(ev: &Value) -> Vec<Block> {
    let report = &ev["report"];
    if report.is_null() {
        return ev.get("summary").or(Some(ev).filter(|e| e.is_object())).map(generic_blocks).unwrap_or_default();
    }
    match ev.str_at("operation") {
        "drill" => drill_blocks(report),
        "migrate" => {
            let c = &report["copied"];
            let took = c["duration_ms"].as_i64().map(|d| format!(" in {}", duration_text(d))).unwrap_or_default();
            let mut f: Vec<_> = c["bytes"]
                .as_u64()
                .map(|b| field("Copied", line(format!("{}{took}", bytes_text(b)))))
                .into_iter()
                .collect();
            if report["rehearsal"] == true {
                f.push(field("Rehearsal", line("yes: into a scratch server, removed afterwards")));
            }
            [vec![Block::Fields(f)], parity_blocks(&report["parity"])].concat()
        }
        // The parity step's result: its id and verdict around the parity report.
        "parity" if report["tables"].is_null() && report["report"].is_object() => {
            let f = vec![
                field("Parity report", line(format!("#{}", report["id"]))),
                field("Summary", line(report.str_at("summary"))),
            ];
            [vec![Block::Fields(f)], parity_blocks(&report["report"])].concat()
        }
        "parity" => parity_blocks(report),
        "smoke" => smoke_blocks(report),
        "deploy" | "rollback" => deploy_blocks(report),
        "plan command" | "plan undo" | "run" => command_blocks(report),
        "plan watch" | "watch" => watch_blocks(report),
        "approve" => {
            let row = |p: &Value| vec![line(p.str_at("person")), line(p.time_at("time_ms")), line(p.str_at("note"))];
            vec![table(&["Approved by", "When", "Note"], report.list_at("approvers").iter().map(row).collect())]
        }
        _ => generic_blocks(report),
    }
}

fn drill_blocks(report: &Value) -> Vec<Block> {
    let drills = report.list_at("drills");
    let row = |d: &Value| {
        let snap = &d["snapshot"];
        let snapshot = match snap["short_id"].as_str().or(snap["id"].as_str()) {
            Some(id) => vec![code(id), text(format!(" {}", snap.str_at("time")))],
            None => Line::new(),
        };
        let detail = match (d["error"].as_str(), d["files_checked"].as_u64()) {
            (Some(e), _) => e.to_string(),
            (None, Some(n)) => {
                format!("{} checked, {} differ", plural(n as usize, "file"), d.list_at("files_differing").len())
            }
            (None, None) => plural(d.list_at("tables").len(), "table"),
        };
        let age = d["snapshot_age_s"].as_i64().map(|s| duration_text(s * 1000)).unwrap_or_default();
        let source = code_line(d.str_at("source"));
        vec![
            source,
            line(d.str_at("kind")),
            passed(d["ok"] == true),
            line(d.took_at("restore_ms")),
            snapshot,
            line(age),
            line(detail),
        ]
    };
    let head = ["Source", "Kind", "Result", "Restore time (RTO)", "Snapshot", "Snapshot age", "Detail"];
    let mut blocks = vec![table(&head, drills.iter().map(row).collect())];
    for d in drills.iter().filter(|d| !d.list_at("tables").is_empty()) {
        let count = |t: &Value, k: &str| line(t[k].as_u64().map(|n| n.to_string()).unwrap_or_default());
        let row = |t: &Value| {
            let counts = vec![count(t, "restored_rows"), count(t, "snapshot_rows"), count(t, "live_rows")];
            [vec![code_line(t.str_at("table")), verdict(t.str_at("verdict"))], counts, vec![line(t.str_at("note"))]]
                .concat()
        };
        blocks.push(Block::Para(vec![text("Tables restored from "), code(d.str_at("source")), text(":")]));
        let head = ["Table", "Verdict", "Restored rows", "Snapshot rows", "Live rows", "Note"];
        blocks.push(table(&head, d.list_at("tables").iter().map(row).collect()));
        if d["parity"].is_object() {
            blocks.extend(parity_blocks(&d["parity"]));
        }
    }
    blocks
}

fn parity_blocks(p: &Value) -> Vec<Block> {
    let Some(tables) = p["tables"].as_array() else { return generic_blocks(p) };
    let side = |name: &str| {
        let version = p[&format!("{name}_version")].as_str().filter(|v| !v.is_empty()).map(|v| format!(" ({v})"));
        vec![code(p.str_at(name)), text(version.unwrap_or_default())]
    };
    let differing = tables.iter().filter(|t| t["status"] != "equal").count();
    let result = match p["equal"] == true {
        true => status(Tone::Good, format!("equal: {}", plural(tables.len(), "table"))),
        false => status(Tone::Bad, format!("differs: {differing} of {}", plural(tables.len(), "table"))),
    };
    let fields =
        vec![field("Parity source", side("source")), field("Parity target", side("target")), field("Parity", result)];
    let row = |t: &Value| {
        let keys = |k: &str| line(t[k]["total"].as_u64().unwrap_or(0).to_string());
        let mut note: Vec<&str> = t.list_at("schema_differences").iter().filter_map(Value::as_str).collect();
        note.extend(t["note"].as_str());
        let rows = vec![line(t["source_rows"].to_string()), line(t["target_rows"].to_string())];
        let keys = vec![keys("missing"), keys("extra"), keys("changed"), line(note.join("; "))];
        [vec![code_line(t.str_at("table")), verdict(t.str_at("status"))], rows, keys].concat()
    };
    let head = ["Table", "Status", "Source rows", "Target rows", "Missing", "Extra", "Changed", "Note"];
    let mut blocks = vec![Block::Fields(fields), table(&head, tables.iter().map(row).collect())];
    for (key, words) in [("tables_only_in_source", "source"), ("tables_only_in_target", "target")] {
        let names: Vec<&str> = p.list_at(key).iter().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            blocks.push(Block::Para(line(format!("Tables only in the {words}: {}.", names.join(", ")))));
        }
    }
    blocks
}

fn smoke_blocks(r: &Value) -> Vec<Block> {
    let counts = format!("{} passed, {} failed, {} not applicable", r["passed"], r["failed"], r["not_applicable"]);
    let fields = vec![
        field("Suite", code_line(r.str_at("suite"))),
        field("Result", passed(r["ok"] == true)),
        field("Checks", line(counts)),
        field("Took", line(r.took_at("duration_ms"))),
    ];
    let row = |c: &Value| {
        let failed: Vec<String> = c
            .list_at("conditions")
            .iter()
            .filter(|k| k["ok"] == false)
            .map(|k| format!("{} (observed {})", k.str_at("condition"), k.str_at("observed")))
            .collect();
        let detail = c["error"].as_str().map_or_else(|| failed.join("; "), str::to_string);
        let name = code_line(c["name"].as_str().unwrap_or(c.str_at("check")));
        vec![
            name,
            line(c.str_at("kind")),
            code_line(c.str_at("target")),
            verdict(c.str_at("status")),
            line(c.took_at("duration_ms")),
            line(detail),
        ]
    };
    let head = ["Check", "Kind", "Target", "Result", "Took", "Detail"];
    vec![Block::Fields(fields), table(&head, r.list_at("checks").iter().map(row).collect())]
}

fn deploy_blocks(r: &Value) -> Vec<Block> {
    let side = |s: &Value| match s["image"].as_str() {
        Some(image) => vec![code(image), text(" in "), code(s.str_at("container"))],
        None => line("none"),
    };
    let mut f = vec![field("Service", code_line(r.str_at("service")))];
    f.extend(r["outcome"].as_str().map(|o| field("Outcome", verdict(o))));
    f.extend([field("From", side(&r["from"])), field("To", side(&r["to"]))]);
    f.extend(r["digest"].as_str().map(|d| field("Image digest", code_line(d))));
    for (key, name) in [("healthy_after_ms", "Healthy after"), ("took_ms", "Took")] {
        f.extend(r.get(key).map(|_| field(name, line(r.took_at(key)))));
    }
    if r.get("watched_requests").is_some() {
        f.push(field("Watched", line(format!("{} requests, {} errors", r["watched_requests"], r["watched_errors"]))));
    }
    f.extend(r["reason"].as_str().map(|why| field("Rolled back because", line(why))));
    if r["drain_timed_out"] == true {
        f.push(field("Drain", status(Tone::Bad, "timed out: requests in flight on the old version were cut")));
    }
    vec![Block::Fields(f)]
}

fn command_blocks(r: &Value) -> Vec<Block> {
    let exit = match (r["exit_code"].as_i64(), r["timed_out"] == true) {
        (Some(code), _) => status(if code == 0 { Tone::Good } else { Tone::Bad }, code.to_string()),
        (None, true) => status(Tone::Bad, "killed: it did not finish in time"),
        (None, false) => status(Tone::Bad, "killed by a signal"),
    };
    let f = vec![
        field("Command", code_line(r.str_at("command"))),
        field("Exit code", exit),
        field("Took", line(r.took_at("duration_ms"))),
    ];
    let mut blocks = vec![Block::Fields(f)];
    if let Some(out) = r["output"].as_str().filter(|o| !o.trim().is_empty()) {
        blocks.extend([Block::Para(line("Output (its end):")), Block::Pre(out.trim_end().to_string())]);
    }
    blocks
}

fn watch_blocks(r: &Value) -> Vec<Block> {
    let suite = field("Suite", code_line(r["suite"].as_str().unwrap_or("every suite")));
    // `tug watch` history: counts read from the daemon's five-minute buckets.
    if r.get("buckets").is_some() {
        let expected = r["buckets_expected"].as_u64().map(|n| format!(" of {n}")).unwrap_or_default();
        let mut f = vec![
            suite,
            field("Window", line(format!("{} to {}", r.time_at("since_ms"), r.time_at("until_ms")))),
            field(
                "Coverage",
                line(format!("{}{expected} five-minute buckets, {} results", r["buckets"], r["results"])),
            ),
            field("Failures", line(format!("{} failed results, {} alerts", r["failed"], r["alerts"]))),
        ];
        f.extend(r["problem"].as_str().map(|p| field("Problem", status(Tone::Bad, p))));
        return vec![Block::Fields(f)];
    }
    let failures = r.list_at("failures");
    let f = vec![
        suite,
        field("Window", line(r.took_at("window_ms"))),
        field("Rounds", line(r["rounds"].to_string())),
        field("Failures", line(failures.len().to_string())),
    ];
    let row = |x: &Value| vec![line(x.time_at("time_ms")), code_line(x.str_at("check")), line(x.str_at("message"))];
    vec![Block::Fields(f), table(&["When", "Check", "Message"], failures.iter().map(row).collect())]
}

/// A report of a shape this file does not know: its scalar fields, and lists of records as tables.
fn generic_blocks(v: &Value) -> Vec<Block> {
    let Some(map) = v.as_object() else { return vec![Block::Para(line(v.to_string()))] };
    let records = |x: &Value| x.as_array().is_some_and(|a| a.first().is_some_and(Value::is_object));
    let fields = map.iter().filter(|(_, x)| !records(x)).map(|(k, x)| (k.replace('_', " "), line(value_text(k, x))));
    let mut blocks = vec![Block::Fields(fields.collect())];
    for (key, items) in map.iter().filter(|(_, x)| records(x)) {
        let items = items.as_array().map_or(&[][..], Vec::as_slice);
        let mut head: Vec<&str> = Vec::new();
        for k in items.iter().filter_map(Value::as_object).flat_map(|o| o.keys()) {
            if !head.contains(&k.as_str()) {
                head.push(k);
            }
        }
        let rows = items.iter().map(|item| head.iter().map(|k| line(value_text(k, &item[*k]))).collect()).collect();
        blocks.extend([Block::Para(line(format!("{}:", key.replace('_', " ")))), table(&head, rows)]);
    }
    blocks
}

/// `key: value, …` in one line.
fn kv_text(v: &Value) -> String {
    let parts: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, x)| format!("{}: {}", k.replace('_', " "), value_text(k, x)))
        .collect();
    parts.join(", ")
}

/// A value for people: `…_ms` keys as times or durations, byte counts in units.
fn value_text(key: &str, v: &Value) -> String {
    let is_time = ["time_ms", "since_ms", "until_ms", "started_ms", "finished_ms"].iter().any(|k| key.ends_with(k));
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if is_time => n.as_i64().map_or_else(|| n.to_string(), time_text),
        Value::Number(n) if key.ends_with("_ms") => {
            n.as_f64().map_or_else(|| n.to_string(), |f| duration_text(f as i64))
        }
        Value::Number(n) if key == "bytes" || key.ends_with("_bytes") => {
            n.as_u64().map_or_else(|| n.to_string(), bytes_text)
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(|i| value_text("", i)).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}
