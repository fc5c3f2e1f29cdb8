#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocr_sidecar::fuzzing::upload_path(data));
