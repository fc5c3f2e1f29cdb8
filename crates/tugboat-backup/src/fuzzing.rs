//! The fuzz target of the restic lock reader (`fuzz/`), also replayed over the committed corpus by
//! `tests/fuzz_corpus.rs`. Not an API: hidden from the docs and used by the fuzz crate and the test only.

use crate::lock::{read_lock, seal_lock, Crypto};

/// A lock file's plaintext (JSON, or `0x02` + zstd), sealed with a fixed key as restic seals it, read as
/// every lock check reads other processes' locks. The same bytes unsealed are never read; a lock that
/// reads is written again and reads back equal; describing it does not panic.
pub fn restic_lock(data: &[u8]) {
    let Some(crypto) = Crypto::new(&[7; 32], &[8; 16], &[9; 16]) else { panic!("restic's key sizes refused") };
    assert_eq!(read_lock(&crypto, data), None, "bytes that were never sealed were read as a lock");
    let Some(lock) = read_lock(&crypto, &crypto.encrypt(data)) else { return };
    let _ = lock.describe();
    let written = match seal_lock(&crypto, &lock) {
        Ok(written) => written,
        Err(e) => panic!("a lock that reads does not write: {e}"),
    };
    assert_eq!(read_lock(&crypto, &written).as_ref(), Some(&lock), "a written lock reads back differently");
}
