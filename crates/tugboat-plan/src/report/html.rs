//! The record as one HTML file: inline CSS and the inline SVG timeline, no JavaScript, nothing fetched
//! (the Content-Security-Policy says so to the browser too), readable printed.

use std::fmt::Write;

use super::{escape, Block, Doc, Line, Piece, Tone};

const STYLE: &str = "
:root { color-scheme: light; --good: #1b5e20; --bad: #b71c1c; --open: #8a4b00; --line: #d0d4d9; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1f2328; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 24px 0 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dt { color: #59636e; } dd { margin: 0; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
code, pre { font: 12px/1.4 ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace; }
code { background: #f3f5f7; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px; white-space: pre-wrap; overflow-wrap: anywhere; }
ul { padding-left: 20px; } li { margin: 2px 0; }
.st { font-weight: 600; } .good { color: var(--good); } .bad { color: var(--bad); } .open { color: var(--open); }
figure { margin: 8px 0; } svg { max-width: 100%; height: auto; }
@media print {
  main { max-width: none; padding: 0; } body { font-size: 11px; }
  h2, h3 { break-after: avoid; } tr, figure, li { break-inside: avoid; }
  .wide { overflow: visible; }
}
";

pub(super) fn render(doc: &Doc, svg: &str) -> String {
    let title = escape(&doc.title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n"
    );
    for s in &doc.sections {
        if !s.title.is_empty() {
            let _ =
                writeln!(out, "<h{l} id=\"{}\">{}</h{l}>", escape(&s.id), escape(&s.title), l = s.level.clamp(2, 6));
        }
        for b in &s.blocks {
            block(&mut out, b, svg);
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn block(out: &mut String, b: &Block, svg: &str) {
    match b {
        Block::Fields(fields) => {
            out.push_str("<dl>\n");
            for (name, value) in fields {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), inline(value));
            }
            out.push_str("</dl>\n");
        }
        Block::Table { rows, .. } if rows.is_empty() => {}
        Block::Table { head, rows } => {
            out.push_str("<div class=\"wide\"><table>\n<thead><tr>");
            for h in head {
                let _ = write!(out, "<th>{}</th>", escape(h));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in rows {
                out.push_str("<tr>");
                for cell in row {
                    let _ = write!(out, "<td>{}</td>", inline(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        Block::Para(l) => {
            let _ = writeln!(out, "<p>{}</p>", inline(l));
        }
        Block::List(items) => {
            out.push_str("<ul>\n");
            for l in items {
                let _ = writeln!(out, "<li>{}</li>", inline(l));
            }
            out.push_str("</ul>\n");
        }
        Block::Pre(text) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(text));
        }
        Block::Timeline => {
            let _ = writeln!(out, "<figure>\n{svg}</figure>");
        }
    }
}

fn inline(l: &Line) -> String {
    l.iter()
        .map(|p| match p {
            Piece::Text(s) => escape(s),
            Piece::Code(s) if s.is_empty() => String::new(),
            Piece::Code(s) => format!("<code>{}</code>", escape(s)),
            Piece::Status(tone, s) => {
                let class = match tone {
                    Tone::Good => "st good",
                    Tone::Bad => "st bad",
                    Tone::Open => "st open",
                    Tone::Plain => "st",
                };
                format!("<span class=\"{class}\">{}</span>", escape(s))
            }
        })
        .collect()
}
