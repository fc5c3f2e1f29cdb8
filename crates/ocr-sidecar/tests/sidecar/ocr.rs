//! `/ocr` against the test Ollama with real poppler: what each generate call carries, errors, limits
//! and concurrency.

use std::time::Duration;

use base64::Engine;
use ocr_sidecar::testing::ollama::page_text;
use ocr_sidecar::testing::pdf::numbered_pdf;
use serde_json::{json, Value};

use crate::util::{error_code, require_poppler, Harness};

fn decode(b64: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_pdf_is_rendered_per_page_and_every_call_carries_the_request_parameters() {
    require_poppler();
    let h = Harness::new().await;
    h.write("2026/letter.pdf", &numbered_pdf(3));
    let (status, body) = h
        .post(
            "/ocr",
            &json!({
                "path": "2026/letter.pdf",
                "runtime_params": {"temperature": 0.1, "top_p": 0.6, "repeat_penalty": 1.2, "max_tokens": 4096, "num_ctx": 8192},
                "system_prompt": "You transcribe construction documents exactly.",
                "dms_tags": ["RFI", "LCBP3-C2"],
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "np-dms-ocr");
    assert_eq!(body["media"], "pdf");
    assert_eq!(body["document_pages"], 3);
    let pages = body["pages"].as_array().unwrap();
    assert_eq!(pages.iter().map(|p| p["page"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    for p in pages {
        assert!(p["text"].as_str().unwrap().starts_with("image "), "{p}");
        assert!(p["render_ms"].as_f64().unwrap() > 0.0);
        assert!(p["ollama_ms"].as_f64().is_some());
    }

    let calls = h.ollama.bodies("/api/generate");
    assert_eq!(calls.len(), 3);
    let mut texts = Vec::new();
    for call in &calls {
        assert_eq!(call["model"], "np-dms-ocr");
        assert_eq!(call["stream"], false);
        assert_eq!(call["prompt"], "Extract all text from this page.");
        assert_eq!(call["system"], "You transcribe construction documents exactly.\n\nDMS tags: RFI, LCBP3-C2");
        assert_eq!(
            call["options"],
            json!({"temperature": 0.1, "top_p": 0.6, "repeat_penalty": 1.2, "num_predict": 4096, "num_ctx": 8192})
        );
        // No GPU in the harness: nothing to protect, the model stays resident.
        assert_eq!(call["keep_alive"], "10m");
        let images = call["images"].as_array().unwrap();
        assert_eq!(images.len(), 1);
        let png = decode(&images[0]);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "page image is not a PNG");
        texts.push(page_text(images[0].as_str().unwrap()));
    }
    // Each page's text is the answer to that page's image, and the three pages differ.
    let mut returned: Vec<String> = pages.iter().map(|p| p["text"].as_str().unwrap().to_string()).collect();
    returned.sort();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 3);
    assert_eq!(returned, texts);
    assert_eq!(body["parameters"]["dms_tags"], json!(["RFI", "LCBP3-C2"]));
    assert_eq!(body["residency"]["decision"], "keep_resident");
}

#[tokio::test]
async fn the_sidecar_holds_no_generation_parameters_of_its_own() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(status, 200, "{body}");
    let call = &h.ollama.bodies("/api/generate")[0];
    assert_eq!(call["options"], json!({}), "no hard-coded temperature, top_p, …");
    assert!(call.get("system").is_none());
}

#[tokio::test]
async fn the_prompt_and_dpi_can_be_set_per_request() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    let (status, _) = h.post("/ocr", &json!({"path": "a.pdf", "prompt": "Text only.", "dpi": 72})).await;
    assert_eq!(status, 200);
    let (status, _) = h.post("/ocr", &json!({"path": "a.pdf", "dpi": 200})).await;
    assert_eq!(status, 200);
    let calls = h.ollama.bodies("/api/generate");
    assert_eq!(calls[0]["prompt"], "Text only.");
    let small = decode(&calls[0]["images"][0]);
    let large = decode(&calls[1]["images"][0]);
    // PNG width is bytes 16..20 of the IHDR chunk: 612 pt at 72 and 200 dpi.
    let width = |png: &[u8]| u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width(&small), 612);
    assert_eq!(width(&large), 1700);
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf", "dpi": 1200})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn pages_can_be_sent_as_jpeg() {
    require_poppler();
    let h = Harness::with(&[("OCR_PAGE_FORMAT", "jpeg"), ("OCR_JPEG_QUALITY", "80")]).await;
    h.write("a.pdf", &numbered_pdf(1));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!(status, 200, "{body}");
    let image = decode(&h.ollama.bodies("/api/generate")[0]["images"][0]);
    assert!(image.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
}

#[tokio::test]
async fn the_chat_api_carries_the_same_parameters() {
    require_poppler();
    let h = Harness::with(&[("OCR_OLLAMA_API", "chat")]).await;
    h.write("a.pdf", &numbered_pdf(2));
    let (status, body) = h
        .post(
            "/ocr",
            &json!({"path": "a.pdf", "runtime_params": {"temperature": 0.0}, "system_prompt": "S", "dms_tags": ["T"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let calls = h.ollama.bodies("/api/chat");
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(call["messages"][0], json!({"role": "system", "content": "S\n\nDMS tags: T"}));
        assert_eq!(call["messages"][1]["role"], "user");
        assert_eq!(call["messages"][1]["images"].as_array().unwrap().len(), 1);
        assert_eq!(call["options"], json!({"temperature": 0.0}));
        assert_eq!(call["keep_alive"], "10m");
    }
    assert!(h.ollama.bodies("/api/generate").is_empty());
}

#[tokio::test]
async fn an_image_is_sent_as_is_by_its_content_not_its_name() {
    let h = Harness::new().await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[7u8; 100]);
    h.write("scan.dat", &png);
    let (status, body) = h.post("/ocr", &json!({"path": "scan.dat"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["media"], "png");
    let call = &h.ollama.bodies("/api/generate")[0];
    assert_eq!(decode(&call["images"][0]), png);

    h.write("fake.pdf", b"#!/bin/sh\necho not a pdf\n");
    let (status, body) = h.post("/ocr", &json!({"path": "fake.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn keep_alive_from_the_client_is_refused_wherever_it_is() {
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    for body in [
        json!({"path": "a.pdf", "keep_alive": 0}),
        json!({"path": "a.pdf", "runtime_params": {"keep_alive": "30m"}}),
        json!({"path": "a.pdf", "runtime_params": {"temperature": 0.1, "options": {"keep_alive": -1}}}),
        json!({"path": "a.pdf", "keepAlive": "5m"}),
    ] {
        let (status, answer) = h.post("/ocr", &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_code(&answer), "keep_alive_not_allowed");
    }
    assert!(h.ollama.requests().is_empty());
}

#[tokio::test]
async fn unknown_or_mistyped_parameters_are_refused() {
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    for (params, code) in [
        (json!({"temprature": 0.1}), "unknown_parameter"),
        (json!({"num_gpu": 99}), "unknown_parameter"),
        (json!({"temperature": "0.1"}), "invalid_parameter"),
    ] {
        let (status, body) = h.post("/ocr", &json!({"path": "a.pdf", "runtime_params": params})).await;
        assert_eq!((status.as_u16(), error_code(&body)), (400, code.to_string()));
    }
}

#[tokio::test]
async fn page_limits_and_ranges() {
    require_poppler();
    let h = Harness::with(&[("OCR_MAX_PAGES", "2")]).await;
    h.write("five.pdf", &numbered_pdf(5));
    let (status, body) = h.post("/ocr", &json!({"path": "five.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (422, "too_many_pages"));
    assert!(h.ollama.requests().is_empty());
    let (status, body) = h.post("/ocr", &json!({"path": "five.pdf", "first_page": 4, "last_page": 9})).await;
    assert_eq!(status, 200, "{body}");
    let pages: Vec<u64> = body["pages"].as_array().unwrap().iter().map(|p| p["page"].as_u64().unwrap()).collect();
    assert_eq!(pages, vec![4, 5]);
    assert_eq!(body["document_pages"], 5);
    let (status, body) = h.post("/ocr", &json!({"path": "five.pdf", "first_page": 6})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (422, "page_out_of_range"));
    let (status, _) = h.post("/ocr", &json!({"path": "five.pdf", "first_page": 0})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn files_over_the_size_cap_are_413() {
    let h = Harness::with(&[("OCR_MAX_FILE_MB", "1")]).await;
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(1024 * 1024 + 1, b' ');
    h.write("big.pdf", &big);
    let (status, body) = h.post("/ocr", &json!({"path": "big.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (413, "payload_too_large"));
}

#[tokio::test]
async fn a_broken_pdf_is_422_without_internals() {
    require_poppler();
    let h = Harness::new().await;
    h.write("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n");
    let (status, body) = h.post("/ocr", &json!({"path": "broken.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (422, "unreadable_document"));
    assert!(!body.to_string().contains("broken.pdf"));
}

#[tokio::test]
async fn ollama_failures_are_502_and_never_leak_the_upstream_body() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(2));
    h.ollama.fail_next(1, 500);
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (502, "upstream_error"));
    assert!(!body.to_string().contains("injected"), "{body}");

    h.ollama.set_available(&["other:latest"]);
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (502, "upstream_error"));
    assert!(!body.to_string().contains("pulling"), "{body}");
}

#[tokio::test]
async fn an_unreachable_ollama_is_502() {
    require_poppler();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let h = Harness::build(&[], Some(url)).await;
    h.write("a.pdf", &numbered_pdf(1));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (502, "upstream_error"));
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn an_ollama_timeout_is_504() {
    require_poppler();
    let h = Harness::with(&[("OLLAMA_TIMEOUT_S", "1")]).await;
    h.write("a.pdf", &numbered_pdf(1));
    h.ollama.set_latency(Duration::from_millis(1500));
    let (status, body) = h.post("/ocr", &json!({"path": "a.pdf"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (504, "upstream_timeout"));
}

#[tokio::test]
async fn pages_of_one_request_run_with_bounded_concurrency() {
    require_poppler();
    let h = Harness::with(&[
        ("OCR_PAGE_CONCURRENCY", "3"),
        ("OCR_OLLAMA_CONCURRENCY", "8"),
        ("OCR_RENDER_CONCURRENCY", "8"),
    ])
    .await;
    h.write("six.pdf", &numbered_pdf(6));
    // Long enough that the three pages in flight overlap however slowly the machine renders.
    h.ollama.set_latency(Duration::from_millis(600));
    let (status, body) = h.post("/ocr", &json!({"path": "six.pdf"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.ollama.max_in_flight(), 3);
}

#[tokio::test]
async fn calls_to_ollama_are_bounded_over_all_requests() {
    require_poppler();
    let h = Harness::with(&[("OCR_PAGE_CONCURRENCY", "4"), ("OCR_OLLAMA_CONCURRENCY", "2")]).await;
    h.write("four.pdf", &numbered_pdf(4));
    // Long enough that two calls overlap however slowly the machine renders (100 ms did not, under load).
    h.ollama.set_latency(Duration::from_millis(1000));
    let body = json!({"path": "four.pdf"});
    let (a, b, c) = tokio::join!(h.post("/ocr", &body), h.post("/ocr", &body), h.post("/ocr", &body));
    for (status, answer) in [a, b, c] {
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(h.ollama.max_in_flight(), 2);
    assert_eq!(h.ollama.bodies("/api/generate").len(), 12);
}

#[tokio::test]
async fn a_real_socket_serves_ocr() {
    require_poppler();
    let h = Harness::new().await;
    h.write("a.pdf", &numbered_pdf(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = h.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}");
    let r = client.post(format!("{url}/ocr")).json(&json!({"path": "a.pdf"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{url}/ocr"))
        .header("x-api-key", ocr_sidecar::testing::TEST_KEY)
        .json(&json!({"path": "a.pdf"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["pages"].as_array().unwrap().len(), 1);
    server.abort();
}
