//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same functions the fuzz
//! targets call, so `cargo test` checks every input found so far deterministically.

#[path = "../../../fuzz/replay_corpus.rs"]
mod replay_corpus;
use replay_corpus::replay;

#[test]
fn upload_path() {
    replay("upload_path", ocr_sidecar::fuzzing::upload_path);
}
