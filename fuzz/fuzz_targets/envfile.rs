#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tugboat::fuzzing::envfile(data));
