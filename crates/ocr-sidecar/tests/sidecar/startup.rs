//! The binary's start-up: no key, no start (seed 001 T008, T010); network mode says so loudly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sidecar() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocr-sidecar"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OCR_") || k.starts_with("OLLAMA_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn without_an_api_key_the_process_exits_non_zero_with_guidance() {
    let dir = tempfile::tempdir().unwrap();
    let out = sidecar()
        .env("OCR_SIDECAR_UPLOAD_BASE", dir.path())
        .env("OCR_MODEL", "np-dms-ocr")
        .env("OCR_SIDECAR_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OCR_SIDECAR_API_KEY is not set"), "{stderr}");
    assert!(stderr.contains("OCR_SIDECAR_AUTH=network"), "{stderr}");

    let out = sidecar()
        .env("OCR_SIDECAR_API_KEY", "")
        .env("OCR_SIDECAR_UPLOAD_BASE", dir.path())
        .env("OCR_MODEL", "np-dms-ocr")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "an empty key is no key");
}

#[test]
fn a_missing_upload_base_is_a_configuration_error() {
    let out = sidecar()
        .env("OCR_SIDECAR_API_KEY", "0123456789abcdef0123")
        .env("OCR_SIDECAR_UPLOAD_BASE", "/nonexistent/uploads")
        .env("OCR_MODEL", "np-dms-ocr")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OCR_SIDECAR_UPLOAD_BASE"));
}

#[test]
fn network_mode_starts_and_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sidecar()
        .env("OCR_SIDECAR_AUTH", "network")
        .env("OCR_SIDECAR_UPLOAD_BASE", dir.path())
        .env("OCR_MODEL", "np-dms-ocr")
        .env("OCR_SIDECAR_LISTEN", "127.0.0.1:0")
        .env("OCR_SIDECAR_VRAM_SOURCE", "none")
        .env("OLLAMA_API_URL", "http://127.0.0.1:9")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut warned = false;
    let mut started = false;
    while Instant::now() < deadline && !(warned && started) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            warned |= line.contains("AUTHENTICATION IS OFF");
            started |= line.contains("ocr-sidecar starting");
            seen.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned && started, "log:\n{}", seen.join("\n"));
}

#[test]
fn vram_report_prints_the_reading_and_the_decision() {
    let out = sidecar().arg("vram-report").env("OCR_SIDECAR_VRAM_SOURCE", "none").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["reading"]["state"], "no_gpu");
    assert_eq!(report["ocr_residency"]["decision"], "keep_resident");
    assert_eq!(report["embed_placement"]["device"], "cpu");
}
