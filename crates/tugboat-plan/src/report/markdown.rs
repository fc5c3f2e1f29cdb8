//! The record as CommonMark with GitHub's tables: for a wiki page or a file in a git repository.

use std::fmt::Write;

use super::{Block, Doc, Line, Piece};

pub(super) fn render(doc: &Doc) -> String {
    let mut out = format!("# {}\n", prose(&doc.title));
    for s in &doc.sections {
        if !s.title.is_empty() {
            let _ = write!(out, "\n{} {}\n", "#".repeat(usize::from(s.level)), prose(&s.title));
        }
        for b in &s.blocks {
            block(&mut out, b);
        }
    }
    out
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Fields(fields) => {
            out.push('\n');
            for (name, value) in fields {
                let _ = writeln!(out, "- **{}:** {}", prose(name), inline(value, false));
            }
        }
        Block::Table { rows, .. } if rows.is_empty() => {}
        Block::Table { head, rows } => {
            let cells = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
            out.push('\n');
            out.push_str(&cells(head.iter().map(|h| prose(h)).collect()));
            out.push_str(&cells(head.iter().map(|_| "---".to_string()).collect()));
            for row in rows {
                out.push_str(&cells(row.iter().map(|c| inline(c, true)).collect()));
            }
        }
        Block::Para(l) => {
            let _ = write!(out, "\n{}\n", starts_block(inline(l, false)));
        }
        Block::List(items) => {
            out.push('\n');
            for l in items {
                // `*`, not the fields' `-`: a list next to a field list stays a list of its own.
                let _ = writeln!(out, "* {}", starts_block(inline(l, false)));
            }
        }
        Block::Pre(text) => {
            // A fence longer than any run of backticks inside, so the output cannot close it.
            let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            let _ = write!(out, "\n{fence}text\n{text}\n{fence}\n");
        }
        // Markdown cannot draw; the event list that follows is its timeline.
        Block::Timeline => {}
    }
}

fn inline(l: &Line, in_table: bool) -> String {
    l.iter()
        .map(|p| match p {
            Piece::Text(s) | Piece::Status(_, s) => prose(s),
            Piece::Code(s) => code(s, in_table),
        })
        .collect()
}

/// Text that renders as itself, on one line: Markdown's punctuation, raw HTML (`<`) and, for tables, `|`
/// backslash-escaped (CommonMark reads a backslash before any ASCII punctuation as an escape).
fn prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '~' | '<' | '[' | ']' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A paragraph or list item: text starting with `>`, `#`, `-` or `+` would open a quote, heading or list.
fn starts_block(s: String) -> String {
    if s.starts_with(['>', '#', '-', '+']) {
        format!("\\{s}")
    } else {
        s
    }
}

/// A code span, with a delimiter longer than any backtick run inside; in a table `|` still splits the
/// cell unless escaped (GitHub's tables read `\|` inside code spans too).
fn code(s: &str, in_table: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let s = one_line(s);
    let s = if in_table { s.replace('|', "\\|") } else { s };
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

fn one_line(s: &str) -> String {
    s.replace("\r\n", " ").replace(['\n', '\r'], " ")
}
