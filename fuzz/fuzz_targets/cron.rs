#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tugboat_watch::fuzzing::cron(data));
