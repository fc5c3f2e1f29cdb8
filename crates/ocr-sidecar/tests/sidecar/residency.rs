//! The residency decision reaches Ollama (seed 001 T016, T019, T020): `keep_alive` on every page call
//! and, under VRAM pressure, an unload (`keep_alive: 0`) after the request.

use ocr_sidecar::testing::pdf::numbered_pdf;
use ocr_sidecar::vram::{FixedMonitor, VramState};
use serde_json::json;

use crate::util::{require_poppler, Harness};

/// The seed-000 host: an RTX 5060 Ti with 16 GiB. Defaults: LLM 10240 MiB, OCR 3072 MiB, margin 512.
const TOTAL: u64 = 16_311;

#[tokio::test]
async fn plenty_of_vram_keeps_the_model_resident() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(2));
    h.vram.set(FixedMonitor::gpu(TOTAL, 15_000));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["residency"]["decision"], "keep_resident");
    assert_eq!(body["residency"]["keep_alive"], "10m");
    assert_eq!(body["residency"]["unloaded"], false);
    assert_eq!(body["residency"]["inputs"]["free_mib"], 15_000);
    let calls = h.ollama.bodies("/api/generate");
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c["keep_alive"] == "10m"));
    assert!(h.ollama.loaded().contains(&"np-dms-ocr:latest".to_string()));
}

#[tokio::test]
async fn vram_pressure_unloads_the_model_after_the_request() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(3));
    // 6000 MiB free: with the OCR model (3072) loaded there is no room for the LLM (10240).
    h.vram.set(FixedMonitor::gpu(TOTAL, 6_000));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["residency"]["decision"], "unload_after_request");
    assert_eq!(body["residency"]["unloaded"], true);
    assert_eq!(body["residency"]["inputs"]["headroom_mib"], 6_000 - 3_072 - 10_240 - 512);
    assert!(body["residency"]["reason"].as_str().unwrap().contains("VRAM pressure"));
    let calls = h.ollama.bodies("/api/generate");
    assert_eq!(calls.len(), 4, "three pages then one unload");
    assert!(calls[..3].iter().all(|c| c["keep_alive"] == "30s" && c["images"].is_array()));
    assert_eq!(calls[3], json!({"model": "np-dms-ocr", "keep_alive": 0}));
    assert!(!h.ollama.loaded().iter().any(|m| m.starts_with("np-dms-ocr")));
}

#[tokio::test]
async fn a_loaded_llm_needs_no_further_room() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    h.ollama.set_loaded(&["np-dms-ai:latest"]);
    // 4000 free beside the loaded LLM: the OCR model (3072) plus the margin (512) fit.
    h.vram.set(FixedMonitor::gpu(TOTAL, 4_000));
    let (_, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "keep_resident", "{body}");
    assert_eq!(body["residency"]["inputs"]["llm_loaded"], true);
    // 3000 free and the OCR model not loaded (the LLM evicted it): it does not fit.
    h.ollama.set_loaded(&["np-dms-ai:latest"]);
    h.vram.set(FixedMonitor::gpu(TOTAL, 3_000));
    let (_, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "unload_after_request", "{body}");
}

#[tokio::test]
async fn unreadable_vram_unloads_to_be_safe_and_no_gpu_keeps() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    h.vram.set(VramState::Unknown { error: "NVML: driver not loaded".into() });
    let (_, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "unload_after_request");
    assert_eq!(body["residency"]["inputs"]["vram"], "unknown");
    h.vram.set(VramState::NoGpu { reason: "no nvidia-smi".into() });
    let (_, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "keep_resident");
    assert_eq!(body["residency"]["inputs"]["vram"], "no_gpu");
}

#[tokio::test]
async fn thresholds_come_from_the_configuration() {
    require_poppler();
    let h = Harness::with(&[
        ("LLM_VRAM_MIB", "2000"),
        ("OCR_MODEL_VRAM_MIB", "1000"),
        ("VRAM_MARGIN_MIB", "0"),
        ("OCR_KEEP_ALIVE", "1h"),
    ])
    .await;
    h.write("a.pdf", &numbered_pdf(1));
    h.vram.set(FixedMonitor::gpu(TOTAL, 6_000));
    let (_, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "keep_resident", "{body}");
    assert_eq!(h.ollama.bodies("/api/generate")[0]["keep_alive"], "1h");

    let off = Harness::with(&[("OCR_ADAPTIVE_RESIDENCY", "false")]).await;
    off.write("a.pdf", &numbered_pdf(1));
    off.vram.set(FixedMonitor::gpu(TOTAL, 100));
    let (_, body) = off.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(body["residency"]["decision"], "keep_resident");
    assert_eq!(off.ollama.bodies("/api/generate").len(), 1);
}

#[tokio::test]
async fn the_unload_waits_for_the_last_request_in_flight() {
    require_poppler();
    // One page at a time: the four-page request takes four times as long as the one-page one.
    let h = Harness::with(&[("OCR_PAGE_CONCURRENCY", "1")]).await;
    h.write("one.pdf", &numbered_pdf(1));
    h.write("four.pdf", &numbered_pdf(4));
    h.vram.set(FixedMonitor::gpu(TOTAL, 6_000));
    h.ollama.set_latency(std::time::Duration::from_millis(150));
    let (one, four) = (json!({"path": "one.pdf"}), json!({"path": "four.pdf"}));
    let (short, long) = tokio::join!(h.post("/ocr", &one), h.post("/ocr", &four));
    assert_eq!(short.1["residency"]["unloaded"], false, "the short request finished while the long one ran");
    assert_eq!(long.1["residency"]["unloaded"], true);
    let unloads = h.ollama.bodies("/api/generate").into_iter().filter(|c| c.get("prompt").is_none()).count();
    assert_eq!(unloads, 1);
}

#[tokio::test]
async fn the_failed_request_still_unloads_under_pressure() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    h.vram.set(FixedMonitor::gpu(TOTAL, 1_000));
    h.ollama.fail_next(1, 500);
    let (status, _) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(status, 502);
    let last = h.ollama.bodies("/api/generate").pop().unwrap();
    assert_eq!(last, json!({"model": "np-dms-ocr", "keep_alive": 0}));
}
