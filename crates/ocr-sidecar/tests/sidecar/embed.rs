//! `/embed` through the test Ollama: CPU fallback (`num_gpu: 0`) under VRAM pressure.

use ocr_sidecar::vram::{FixedMonitor, VramState};
use serde_json::json;

use crate::util::{error_code, Harness};

#[tokio::test]
async fn embeddings_come_from_ollama_with_the_configured_model() {
    let h = Harness::with(&[("EMBED_MODEL", "bge-m3")]).await;
    let (status, body) = h.post("/embed", &json!({"input": ["สัญญา", "contract"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "bge-m3");
    assert_eq!(body["embeddings"].as_array().unwrap().len(), 2);
    let call = &h.ollama.bodies("/api/embed")[0];
    assert_eq!(call["model"], "bge-m3");
    assert_eq!(call["input"], json!(["สัญญา", "contract"]));
    // No GPU: nothing to force.
    assert!(call.get("options").is_none(), "{call}");
    assert_eq!(body["placement"]["device"], "cpu");

    let (status, body) = h.post("/embed", &json!({"input": "one text"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["embeddings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn vram_pressure_forces_the_cpu() {
    let h = Harness::with(&[("EMBED_MODEL", "bge-m3")]).await;
    // LLM loaded and 1000 MiB free: the embedding model (1536) does not fit beside it.
    h.ollama.set_loaded(&["np-dms-ai:latest"]);
    h.vram.set(FixedMonitor::gpu(16_311, 1_000));
    let (status, body) = h.post("/embed", &json!({"input": ["x"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["placement"]["device"], "cpu");
    assert_eq!(body["placement"]["num_gpu"], 0);
    assert_eq!(h.ollama.bodies("/api/embed")[0]["options"], json!({"num_gpu": 0}));

    // Plenty of room: Ollama decides (no num_gpu).
    h.vram.set(FixedMonitor::gpu(16_311, 12_000));
    let (_, body) = h.post("/embed", &json!({"input": ["x"]})).await;
    assert_eq!(body["placement"]["device"], "gpu");
    assert!(h.ollama.bodies("/api/embed")[1].get("options").is_none());

    // VRAM unreadable: CPU to be safe.
    h.vram.set(VramState::Unknown { error: "x".into() });
    let (_, _) = h.post("/embed", &json!({"input": ["x"]})).await;
    assert_eq!(h.ollama.bodies("/api/embed")[2]["options"], json!({"num_gpu": 0}));
}

#[tokio::test]
async fn embed_refusals() {
    let h = Harness::new().await;
    let (status, body) = h.post("/embed", &json!({"input": ["x"]})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (503, "not_configured"));
    let h = Harness::with(&[("EMBED_MODEL", "bge-m3"), ("EMBED_MAX_INPUTS", "2")]).await;
    for (body, status, code) in [
        (json!({"input": ["x"], "keep_alive": "5m"}), 400, "keep_alive_not_allowed"),
        (json!({"input": []}), 400, "invalid_request"),
        (json!({"input": ["a", "b", "c"]}), 400, "invalid_request"),
        (json!({"input": ["a"], "model": "other"}), 400, "invalid_request"),
    ] {
        let (s, answer) = h.post("/embed", &body).await;
        assert_eq!((s.as_u16(), error_code(&answer)), (status, code.to_string()), "{body}");
    }
    h.ollama.fail_next(1, 503);
    let (status, body) = h.post("/embed", &json!({"input": ["a"]})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (502, "upstream_error"));
}
