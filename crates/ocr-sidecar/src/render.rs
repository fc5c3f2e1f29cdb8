//! PDF pages to PNG with poppler (`pdfinfo`, `pdftoppm` from Debian `poppler-utils`): one process per
//! page writing to a pipe, so nothing touches the (read-only) filesystem, with a timeout, a cap on
//! the image size and a bound on pixels whatever page size the PDF declares.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::config::PageFormat;

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0} is not installed (Debian: apt-get install poppler-utils)")]
    ToolMissing(&'static str),
    #[error("{tool} failed: {message}")]
    Failed { tool: &'static str, message: String },
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("rendered page is larger than {0} bytes")]
    TooLarge(usize),
}

/// What `pdfinfo` says about a PDF.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfInfo {
    pub pages: u32,
    /// Page sizes in points, for the pages asked about (index 0 = the first page asked about).
    pub sizes: Vec<(f64, f64)>,
}

/// Whether poppler's tools can be run.
pub async fn poppler_available() -> bool {
    Command::new("pdftoppm").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().await.is_ok()
}

async fn run(
    tool: &'static str,
    cmd: &mut Command,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, RenderError> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RenderError::ToolMissing(tool),
        _ => RenderError::Failed { tool, message: e.to_string() },
    })?;
    let mut stdout = child.stdout.take().ok_or(RenderError::Failed { tool, message: "no stdout".into() })?;
    let mut stderr = child.stderr.take().ok_or(RenderError::Failed { tool, message: "no stderr".into() })?;
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
        let mut out_pipe = (&mut stdout).take(limit);
        let mut err_pipe = (&mut stderr).take(64 * 1024);
        let (o, e) = tokio::join!(out_pipe.read_to_end(&mut out), err_pipe.read_to_end(&mut err));
        o.map_err(|e| RenderError::Failed { tool, message: e.to_string() })?;
        e.map_err(|e| RenderError::Failed { tool, message: e.to_string() })?;
        if out.len() > max_bytes {
            return Err(RenderError::TooLarge(max_bytes));
        }
        let status = child.wait().await.map_err(|e| RenderError::Failed { tool, message: e.to_string() })?;
        if !status.success() {
            let message = String::from_utf8_lossy(&err).trim().chars().take(500).collect::<String>();
            return Err(RenderError::Failed { tool, message: format!("{status}: {message}") });
        }
        Ok(out)
    };
    // On timeout the future (and with it the child, kill_on_drop) is dropped.
    tokio::time::timeout(timeout, work).await.map_err(|_| RenderError::Timeout(tool))?
}

/// Page count and the sizes of pages `first..=last` (all pages when `last` is `None`).
pub async fn pdf_info(path: &Path, first: u32, last: Option<u32>, timeout: Duration) -> Result<PdfInfo, RenderError> {
    let mut cmd = Command::new("pdfinfo");
    cmd.arg("-f").arg(first.to_string());
    cmd.arg("-l").arg(last.map_or_else(|| "100000".to_string(), |l| l.to_string()));
    cmd.arg("--").arg(path);
    let out = run("pdfinfo", &mut cmd, timeout, 8 * 1024 * 1024).await?;
    parse_pdfinfo(&String::from_utf8_lossy(&out))
        .ok_or(RenderError::Failed { tool: "pdfinfo", message: "no page count in its output".into() })
}

/// Parses `pdfinfo -f A -l B` output.
pub fn parse_pdfinfo(out: &str) -> Option<PdfInfo> {
    let mut pages = None;
    let mut sizes = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Pages:") {
            pages = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("Page ") {
            // "Page    1 size:  612 x 792 pts (letter)"
            let Some((_, dims)) = rest.split_once("size:") else { continue };
            let mut parts = dims.split_whitespace();
            let w = parts.next().and_then(|v| v.parse::<f64>().ok());
            let x = parts.next();
            let h = parts.next().and_then(|v| v.parse::<f64>().ok());
            if let (Some(w), Some("x"), Some(h)) = (w, x, h) {
                sizes.push((w, h));
            }
        }
    }
    Some(PdfInfo { pages: pages?, sizes })
}

/// How to render one page.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub dpi: u32,
    pub format: PageFormat,
    /// The longest side in pixels; larger pages are scaled down to it.
    pub max_pixels: u32,
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// Renders page `page` (1-based) to PNG or JPEG bytes. `size_pts` (from [`pdf_info`]) decides whether
/// the page must be scaled down to `max_pixels`; unknown, it always is bounded.
pub async fn render_page(
    path: &Path,
    page: u32,
    size_pts: Option<(f64, f64)>,
    opts: RenderOptions,
) -> Result<Vec<u8>, RenderError> {
    let RenderOptions { dpi, format, max_pixels, timeout, max_bytes } = opts;
    let mut cmd = Command::new("pdftoppm");
    match format {
        PageFormat::Png => cmd.arg("-png"),
        PageFormat::Jpeg { quality } => cmd.args(["-jpeg", "-jpegopt", &format!("quality={quality}")]),
    };
    cmd.args(["-singlefile", "-f", &page.to_string(), "-l", &page.to_string(), "-r", &dpi.to_string()]);
    // Unknown size: scale-to bounds it anyway.
    let longest_px = size_pts.map_or(f64::INFINITY, |(w, h)| w.max(h) / 72.0 * f64::from(dpi));
    if longest_px > f64::from(max_pixels) {
        cmd.args(["-scale-to", &max_pixels.to_string()]);
    }
    cmd.arg("--").arg(path);
    run("pdftoppm", &mut cmd, timeout, max_bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pdfinfo_output() {
        let out = "Producer: x\nPages:           3\nPage    1 size:  612 x 792 pts (letter)\nPage    1 rot:  0\n\
                   Page    2 size:  595.276 x 841.89 pts (A4)\nPage    3 size:  14400 x 14400 pts\n";
        let info = parse_pdfinfo(out).unwrap();
        assert_eq!(info.pages, 3);
        assert_eq!(info.sizes, vec![(612.0, 792.0), (595.276, 841.89), (14400.0, 14400.0)]);
        assert_eq!(parse_pdfinfo("Title: x\n"), None);
    }
}
