//! The candle cross-encoders against PyTorch: the committed tiny random-weight models
//! (`tests/fixtures/reranker/{xlmr,bert}`, made by `generate.py`) and the logits PyTorch computed.

use std::path::PathBuf;

use ocr_sidecar::rerank::{Arch, Reranker};
use ocr_sidecar::residency::Device;
use serde_json::{json, Value};

use crate::util::{error_code, Harness};

fn fixture(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reranker").join(kind)
}

fn reference(kind: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(kind).join("reference.json")).unwrap()).unwrap()
}

fn check_against_pytorch(kind: &str, arch: Arch) {
    let reference = reference(kind);
    let max_length = reference["max_length"].as_u64().unwrap() as usize;
    let reranker = Reranker::load(&fixture(kind), max_length).unwrap();
    assert_eq!(reranker.arch(), arch);
    let pairs = reference["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 10);
    let mut worst = 0f64;
    for pair in pairs {
        let (q, d) = (pair["query"].as_str().unwrap(), pair["document"].as_str().unwrap());
        let (ids, types) = reranker.encode(q, d).unwrap();
        let want_ids: Vec<u32> = serde_json::from_value(pair["ids"].clone()).unwrap();
        let want_types: Vec<u32> = serde_json::from_value(pair["type_ids"].clone()).unwrap();
        assert_eq!(ids, want_ids, "token ids of ({q:?}, {d:?})");
        assert_eq!(types, want_types, "type ids of ({q:?}, {d:?})");
        // One pair at a time (no padding).
        let (single, device) = reranker.score(q, &[d.to_string()], 1, Device::Cpu).unwrap();
        assert_eq!(device, "cpu");
        let want = pair["logit"].as_f64().unwrap();
        let diff = (f64::from(single[0]) - want).abs();
        worst = worst.max(diff);
        assert!(diff < 1e-4, "{kind} ({q:?}, {d:?}): rust {} pytorch {want}", single[0]);
    }
    // Per query, all documents in one padded batch: the same logits.
    for batch_size in [3, 16] {
        for pair in pairs {
            let q = pair["query"].as_str().unwrap();
            let docs: Vec<&Value> = pairs.iter().filter(|p| p["query"] == q).collect();
            let texts: Vec<String> = docs.iter().map(|p| p["document"].as_str().unwrap().to_string()).collect();
            let (scores, _) = reranker.score(q, &texts, batch_size, Device::Cpu).unwrap();
            for (got, p) in scores.iter().zip(&docs) {
                let want = p["logit"].as_f64().unwrap();
                assert!((f64::from(*got) - want).abs() < 1e-4, "{kind} batched ({q:?}): rust {got} pytorch {want}");
            }
        }
    }
    eprintln!("{kind}: {} pairs, largest difference from PyTorch {worst:.2e}", pairs.len());
}

#[test]
fn xlm_roberta_cross_encoder_matches_pytorch() {
    check_against_pytorch("xlmr", Arch::Roberta);
}

#[test]
fn bert_cross_encoder_matches_pytorch() {
    check_against_pytorch("bert", Arch::Bert);
}

#[tokio::test]
async fn rerank_endpoint_orders_documents_by_score() {
    let dir = fixture("xlmr");
    let h = Harness::with(&[("RERANK_MODEL_DIR", dir.to_str().unwrap()), ("RERANK_MAX_LENGTH", "48")]).await;
    let reference = reference("xlmr");
    let pairs: Vec<&Value> =
        reference["pairs"].as_array().unwrap().iter().filter(|p| p["query"] == "shop drawings approval").collect();
    let docs: Vec<&str> = pairs.iter().map(|p| p["document"].as_str().unwrap()).collect();
    let (status, body) = h.post("/rerank", &json!({"query": "shop drawings approval", "documents": docs})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["device"], "cpu");
    assert_eq!(body["model"], "xlmr");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), docs.len());
    let mut want: Vec<(usize, f64)> =
        pairs.iter().enumerate().map(|(i, p)| (i, p["logit"].as_f64().unwrap())).collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (got, (index, logit)) in results.iter().zip(&want) {
        assert_eq!(got["index"].as_u64().unwrap() as usize, *index);
        assert!((got["score"].as_f64().unwrap() - logit).abs() < 1e-4);
    }
    let (_, body) =
        h.post("/rerank", &json!({"query": "q", "documents": ["a", "b", "c"], "top_n": 1, "normalize": true})).await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let s = results[0]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&s));
}

#[tokio::test]
async fn rerank_refusals() {
    let h = Harness::new().await;
    let (status, body) = h.post("/rerank", &json!({"query": "q", "documents": ["a"]})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (503, "not_configured"));
    let dir = fixture("bert");
    let h = Harness::with(&[("RERANK_MODEL_DIR", dir.to_str().unwrap()), ("RERANK_MAX_DOCUMENTS", "2")]).await;
    for body in [
        json!({"query": "q", "documents": []}),
        json!({"query": "q", "documents": ["a", "b", "c"]}),
        json!({"query": "q"}),
        json!({"query": "q", "documents": ["a"], "keep_alive": 0}),
    ] {
        let (status, _) = h.post("/rerank", &body).await;
        assert_eq!(status, 400, "{body}");
    }
}
