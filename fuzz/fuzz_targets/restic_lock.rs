#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tugboat_backup::fuzzing::restic_lock(data));
