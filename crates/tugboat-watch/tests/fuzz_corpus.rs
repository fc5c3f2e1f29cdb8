//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same functions the fuzz
//! targets call, so `cargo test` checks every input found so far deterministically.

#[path = "../../../fuzz/replay_corpus.rs"]
mod replay_corpus;
use replay_corpus::replay;

#[test]
fn condition() {
    replay("condition", tugboat_watch::fuzzing::condition);
}

#[test]
fn cron() {
    replay("cron", tugboat_watch::fuzzing::cron);
}
