//! The sidecar benchmark (`bench/sidecar` runs it): a 20-page PDF against the test Ollama answering
//! each page after 200 ms, through the real HTTP stack and real poppler.
//!
//! 1. one 20-page request, pages sequential (`OCR_PAGE_CONCURRENCY=1`) vs the configured concurrency;
//! 2. 50 one-page `/ocr` calls, one after another vs all 50 at once (requests/s);
//! 3. the sidecar's overhead per page, excluding Ollama's time, with Ollama answering at once.
//!
//! Environment: `BENCH_PAGES` (20), `BENCH_LATENCY_MS` (200), `BENCH_CALLS` (50),
//! `BENCH_CONCURRENCY` (4, pages of one request), `BENCH_OLLAMA_CONCURRENCY` (8, calls over all
//! requests), `BENCH_DPI` (150).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocr_sidecar::testing::ollama::FakeOllama;
use ocr_sidecar::testing::{self, pdf::numbered_pdf, TEST_KEY};
use ocr_sidecar::vram::{FixedMonitor, VramState};
use ocr_sidecar::{app, AppState};
use serde_json::{json, Value};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Sidecar {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(base: &Path, ollama: &FakeOllama, vars: &[(&str, &str)]) -> anyhow::Result<Sidecar> {
    let config = testing::config(base, &ollama.url(), vars);
    let state = AppState::new(config, Arc::new(FixedMonitor::new(VramState::NoGpu { reason: "bench".into() })))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    Ok(Sidecar { url, task })
}

async fn ocr(client: &reqwest::Client, url: &str, path: &str) -> anyhow::Result<Value> {
    let r = client.post(format!("{url}/ocr")).header("x-api-key", TEST_KEY).json(&json!({"path": path})).send().await?;
    let status = r.status();
    let body: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "HTTP {status}: {body}");
    Ok(body)
}

fn sum(body: &Value, key: &str) -> f64 {
    body["pages"].as_array().map_or(0.0, |p| p.iter().filter_map(|p| p[key].as_f64()).sum())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pages = env_num("BENCH_PAGES", 20);
    let latency = env_num("BENCH_LATENCY_MS", 200);
    let calls = env_num("BENCH_CALLS", 50) as usize;
    let conc = env_num("BENCH_CONCURRENCY", 4).to_string();
    let ollama_conc = env_num("BENCH_OLLAMA_CONCURRENCY", 8).to_string();
    let dpi = env_num("BENCH_DPI", 150).to_string();

    let dir = tempfile::tempdir()?;
    let base = std::fs::canonicalize(dir.path())?;
    std::fs::write(base.join("doc.pdf"), numbered_pdf(pages as usize))?;
    std::fs::write(base.join("one.pdf"), numbered_pdf(1))?;
    let ollama = FakeOllama::start().await?;
    ollama.set_latency(Duration::from_millis(latency));
    let client = reqwest::Client::new();

    let common = [("OCR_OLLAMA_CONCURRENCY", ollama_conc.as_str()), ("OCR_DPI", dpi.as_str())];
    let seq = start(&base, &ollama, &[&common[..], &[("OCR_PAGE_CONCURRENCY", "1")]].concat()).await?;
    let par = start(&base, &ollama, &[&common[..], &[("OCR_PAGE_CONCURRENCY", conc.as_str())]].concat()).await?;
    let seq_jpeg =
        start(&base, &ollama, &[&common[..], &[("OCR_PAGE_CONCURRENCY", "1"), ("OCR_PAGE_FORMAT", "jpeg")]].concat())
            .await?;

    // Warm-up: first poppler start, connection pools.
    ocr(&client, &par.url, "one.pdf").await?;
    ocr(&client, &seq.url, "one.pdf").await?;
    ocr(&client, &seq_jpeg.url, "one.pdf").await?;

    println!("## sidecar benchmark\n");
    println!(
        "{pages}-page PDF at {dpi} dpi, test Ollama answering after {latency} ms per call; page concurrency {conc}, \
         Ollama concurrency {ollama_conc}; {} CPUs.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. One document.
    let t = Instant::now();
    let b_seq = ocr(&client, &seq.url, "doc.pdf").await?;
    let seq_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let b_par = ocr(&client, &par.url, "doc.pdf").await?;
    let par_s = t.elapsed().as_secs_f64();
    println!("| {pages}-page document | wall | pages/s | Σ render | Σ Ollama |");
    println!("|---|---:|---:|---:|---:|");
    for (name, s, b) in [("sequential pages", seq_s, &b_seq), (&*format!("{conc} pages at once"), par_s, &b_par)] {
        println!(
            "| {name} | {:.2} s | {:.2} | {:.0} ms | {:.0} ms |",
            s,
            pages as f64 / s,
            sum(b, "render_ms"),
            sum(b, "ollama_ms")
        );
    }
    println!(
        "\nthroughput ratio, concurrent ÷ sequential: **{:.2}×** (seed 001 T061 asks for ≥ 1.20×)\n",
        seq_s / par_s
    );

    // 2. Many one-page calls.
    let t = Instant::now();
    for _ in 0..calls {
        ocr(&client, &par.url, "one.pdf").await?;
    }
    let one_by_one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..calls {
        let client = client.clone();
        let url = par.url.clone();
        set.spawn(async move { ocr(&client, &url, "one.pdf").await });
    }
    let mut latencies = Vec::new();
    while let Some(r) = set.join_next().await {
        latencies.push(r??["timings"]["total_ms"].as_f64().unwrap_or(0.0));
    }
    let at_once = t.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies[latencies.len() / 2];
    let p95 = latencies[(latencies.len() * 95 / 100).min(latencies.len() - 1)];
    println!("| {calls} one-page `/ocr` calls | wall | requests/s |");
    println!("|---|---:|---:|");
    println!("| one after another | {one_by_one:.2} s | {:.1} |", calls as f64 / one_by_one);
    println!("| all at once | {at_once:.2} s | {:.1} |", calls as f64 / at_once);
    println!(
        "\nconcurrent ÷ sequential requests/s: **{:.2}×**; server-side latency at once: p50 {p50:.0} ms, p95 {p95:.0} ms \
         (Ollama concurrency {ollama_conc} × {latency} ms bounds it at {:.1} requests/s)\n",
        one_by_one / at_once,
        ollama_conc.parse::<f64>().unwrap_or(1.0) * 1000.0 / latency.max(1) as f64
    );

    // 3. Overhead per page excluding Ollama: Ollama answers at once, pages sequential.
    ollama.set_latency(Duration::ZERO);
    println!("| overhead per page, Ollama time excluded (median of 3, sequential) | PNG (default) | JPEG q92 |");
    println!("|---|---:|---:|");
    let mut cols = Vec::new();
    for sidecar in [&seq, &seq_jpeg] {
        let mut rows = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let b = ocr(&client, &sidecar.url, "doc.pdf").await?;
            let wall_ms = t.elapsed().as_secs_f64() * 1e3;
            rows.push((wall_ms, sum(&b, "render_ms"), sum(&b, "ollama_ms")));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        cols.push(rows[1]);
    }
    let n = pages as f64;
    let row = |name: &str, f: &dyn Fn((f64, f64, f64)) -> f64| {
        println!("| {name} | {:.1} ms | {:.1} ms |", f(cols[0]) / n, f(cols[1]) / n);
    };
    row("total (render + base64 + HTTP to Ollama and back + JSON)", &|(w, _, o)| w - o);
    row("of which rendering (one pdftoppm process per page)", &|(_, r, _)| r);
    row("of which everything else", &|(w, r, o)| w - o - r);
    row("(the zero-latency test Ollama's own answer)", &|(_, _, o)| o);
    Ok(())
}
