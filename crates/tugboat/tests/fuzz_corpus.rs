//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same functions the fuzz
//! targets call, so `cargo test` checks every input found so far deterministically.

#[path = "../../../fuzz/replay_corpus.rs"]
mod replay_corpus;
use replay_corpus::replay;

#[test]
fn compose_yaml() {
    replay("compose_yaml", tugboat::fuzzing::compose_yaml);
}

#[test]
fn interpolation() {
    replay("interpolation", tugboat::fuzzing::interpolation);
}

#[test]
fn envfile() {
    replay("envfile", tugboat::fuzzing::envfile);
}

#[test]
fn tugboat_config() {
    replay("tugboat_config", tugboat::fuzzing::tugboat_config);
}
