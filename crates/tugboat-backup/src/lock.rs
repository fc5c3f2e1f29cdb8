//! restic-compatible repository locks.
//!
//! rustic_core takes no locks (it relies on its two-phase prune), but `restic` does, and a repository that `tug` writes may also be
//! pruned by `restic`. So `tug` writes lock files exactly as restic does: `locks/<sha256 of the file>`, holding the JSON
//! `{time, exclusive, hostname, username, pid, uid, gid}` encrypted with the repository's master key (AES-256-CTR + Poly1305-AES,
//! the format of every other restic file). restic's rules apply:
//! - an exclusive lock conflicts with every other lock; a non-exclusive lock conflicts with exclusive ones;
//! - take: check for conflicts, write the lock, wait 200 ms, check again (and give up, removing ours, if someone else got in).
//!   The wait is for listings that lag behind writes (object stores behind a REST server); on a local filesystem a listing
//!   shows every completed write, so whichever of two racing writers finishes second sees the first on its re-check
//!   and no wait is needed ([`LockStore::settle`]);
//! - a holder rewrites its lock every 5 minutes, so a lock older than 30 minutes is stale;
//! - stale locks are removed only when we can be sure: the lock was written on this host and its process is gone (or the lock
//!   is older than 30 minutes, which a live restic or tug would have refreshed). A lock from another host is never removed
//!   here: the error names it and says how to remove it.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aes256ctr_poly1305aes::aead::{Aead, AeadInPlace};
use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use rustic_core::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// restic's `StaleLockTimeout`.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// restic's `refreshInterval`.
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// restic's `waitBeforeLockCheck`.
const WAIT_BEFORE_RECHECK: Duration = Duration::from_millis(200);

/// The JSON of a restic lock file (`internal/restic/lock.go`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LockInfo {
    pub time: String,
    pub exclusive: bool,
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    pub pid: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl LockInfo {
    fn mine(exclusive: bool) -> LockInfo {
        let uid = nix::unistd::getuid();
        let username = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default();
        LockInfo {
            time: Timestamp::now().to_string(),
            exclusive,
            hostname: hostname(),
            username,
            pid: i64::from(std::process::id()),
            uid: uid.as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    fn age(&self) -> Option<Duration> {
        let t: Timestamp = self.time.parse().ok()?;
        let secs = Timestamp::now().as_second() - t.as_second();
        Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }

    /// Describes the holder for an error message: `exclusive lock held by root@host (pid 42) since … (3m ago)`.
    pub fn describe(&self) -> String {
        let age = self.age().map(|a| format!(", {} ago", human(a))).unwrap_or_default();
        format!(
            "{} lock held by {}@{} (pid {}) since {}{}",
            if self.exclusive { "an exclusive" } else { "a" },
            self.username,
            self.hostname,
            self.pid,
            self.time,
            age
        )
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether process `pid` exists on this host (`kill(pid, 0)`, as restic does).
fn pid_alive(pid: i64) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    if raw <= 0 {
        return true; // nonsense: treat as alive, never remove on that basis
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true, // EPERM: exists, owned by someone else
    }
}

/// Where lock files live: `locks/` of the repository.
pub(crate) trait LockStore: Send + Sync {
    fn list(&self) -> io::Result<Vec<String>>;
    fn read(&self, id: &str) -> io::Result<Vec<u8>>;
    fn write(&self, id: &str, data: &[u8]) -> io::Result<()>;
    fn remove(&self, id: &str) -> io::Result<()>;
    /// How long to wait between writing our lock and checking again for others: restic's `waitBeforeLockCheck`
    /// for listings that may lag behind writes, nothing where a listing shows every completed write.
    fn settle(&self) -> Duration {
        WAIT_BEFORE_RECHECK
    }
}

/// `locks/` of a local repository.
pub(crate) struct LocalLocks {
    pub dir: PathBuf,
}

impl LockStore for LocalLocks {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(id))
    }

    fn write(&self, id: &str, data: &[u8]) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::backend::write_atomic(&self.dir.join(id), data)
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    /// A local directory lists every file whose write has returned.
    fn settle(&self) -> Duration {
        Duration::ZERO
    }
}

/// restic's authenticated encryption with the repository master key (64 bytes: AES key, Poly1305 k, Poly1305 r).
pub(crate) struct Crypto {
    cipher: Aes256CtrPoly1305Aes,
}

impl Crypto {
    /// `None` when the parts do not have restic's sizes (32, 16 and 16 bytes).
    pub fn new(encrypt: &[u8], k: &[u8], r: &[u8]) -> Option<Crypto> {
        if encrypt.len() != 32 || k.len() != 16 || r.len() != 16 {
            return None;
        }
        let mut key = aes256ctr_poly1305aes::Key::default();
        key[0..32].copy_from_slice(encrypt);
        key[32..48].copy_from_slice(k);
        key[48..64].copy_from_slice(r);
        Some(Crypto { cipher: Aes256CtrPoly1305Aes::new(&key) })
    }

    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        use rand::Rng;
        let mut nonce = aes256ctr_poly1305aes::aead::Nonce::<Aes256CtrPoly1305Aes>::default();
        rand::rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(plain.len() + 32);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        // Encrypting into a buffer of the right size cannot fail.
        match self.cipher.encrypt_in_place_detached(&nonce, &[], &mut out[16..]) {
            Ok(tag) => out.extend_from_slice(&tag),
            Err(_) => out.clear(),
        }
        out
    }

    pub fn decrypt(&self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < 32 {
            return None;
        }
        let nonce = aes256ctr_poly1305aes::aead::Nonce::<Aes256CtrPoly1305Aes>::from_slice(&data[0..16]);
        self.cipher.decrypt(nonce, &data[16..]).ok()
    }
}

/// The most a compressed lock file may expand to: restic's are about 200 bytes, and a small file that
/// expands to gigabytes (a zstd bomb) must not be read into memory on every lock check.
pub(crate) const MAX_LOCK_JSON: u64 = 64 * 1024;

/// Decodes an unpacked restic file: plain JSON, or (repository v2) a `0x02` version byte followed by zstd.
fn decode_unpacked(plain: Vec<u8>) -> Option<Vec<u8>> {
    use std::io::Read;
    match plain.first() {
        Some(b'{') | Some(b'[') => Some(plain),
        Some(2) => {
            let mut json = Vec::new();
            zstd::stream::read::Decoder::new(&plain[1..]).ok()?.take(MAX_LOCK_JSON + 1).read_to_end(&mut json).ok()?;
            (json.len() as u64 <= MAX_LOCK_JSON).then_some(json)
        }
        _ => None,
    }
}

/// A lock file's contents as restic writes them (sealed, maybe compressed); `None` when it cannot be read.
pub(crate) fn read_lock(crypto: &Crypto, data: &[u8]) -> Option<LockInfo> {
    crypto.decrypt(data).and_then(decode_unpacked).and_then(|plain| serde_json::from_slice(&plain).ok())
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Someone else holds a conflicting lock.
    Held(String),
    Io(io::Error),
}

/// A lock we hold; removed on drop. A background thread refreshes it every 5 minutes, as restic does.
pub(crate) struct RepoLock {
    store: Arc<dyn LockStore>,
    current: Arc<Mutex<String>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock").finish_non_exhaustive()
    }
}

/// A lock file's contents for `info`: its JSON, sealed.
pub(crate) fn seal_lock(crypto: &Crypto, info: &LockInfo) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(info).map_err(io::Error::other)?;
    Ok(crypto.encrypt(&json))
}

fn write_lock(store: &dyn LockStore, crypto: &Crypto, info: &LockInfo) -> io::Result<String> {
    let data = seal_lock(crypto, info)?;
    let id = hex(&Sha256::digest(&data));
    store.write(&id, &data)?;
    Ok(id)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Looks at every lock but `mine`; removes stale ones of this host; fails on the first conflicting one.
fn check_others(store: &dyn LockStore, crypto: &Crypto, mine: Option<&str>, exclusive: bool) -> Result<(), LockError> {
    let me = hostname();
    for id in store.list().map_err(LockError::Io)? {
        if Some(id.as_str()) == mine {
            continue;
        }
        let data = match store.read(&id) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // removed meanwhile
            Err(e) => return Err(LockError::Io(e)),
        };
        let Some(info) = read_lock(crypto, &data) else {
            return Err(LockError::Held(format!(
                "lock file locks/{id} cannot be read with this repository's key (remove it if no process holds it)"
            )));
        };
        if info.hostname == me {
            let dead = !pid_alive(info.pid);
            let old = info.age().is_some_and(|a| a > STALE_AFTER);
            if dead || old {
                // restic would call it stale too; we can tell for sure because it is ours to check.
                let _ = store.remove(&id);
                continue;
            }
        }
        if exclusive || info.exclusive {
            let mut msg = info.describe();
            if info.hostname != me {
                msg.push_str(&format!(
                    "; if no process on {} holds it, remove it with `restic unlock` (once it is older than 30 minutes) or delete locks/{id}",
                    info.hostname
                ));
            }
            return Err(LockError::Held(msg));
        }
    }
    Ok(())
}

impl RepoLock {
    pub fn acquire(store: Arc<dyn LockStore>, crypto: Arc<Crypto>, exclusive: bool) -> Result<RepoLock, LockError> {
        check_others(store.as_ref(), &crypto, None, exclusive)?;
        let id = write_lock(store.as_ref(), &crypto, &LockInfo::mine(exclusive)).map_err(LockError::Io)?;
        std::thread::sleep(store.settle());
        if let Err(e) = check_others(store.as_ref(), &crypto, Some(&id), exclusive) {
            let _ = store.remove(&id);
            return Err(e);
        }
        let current = Arc::new(Mutex::new(id));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let refresher = {
            let (store, crypto, current, stop) = (store.clone(), crypto.clone(), current.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tugboat-lock-refresh".into())
                .spawn(move || refresh_loop(store.as_ref(), &crypto, &current, &stop, exclusive))
                .ok()
        };
        Ok(RepoLock { store, current, stop, refresher })
    }
}

fn refresh_loop(
    store: &dyn LockStore,
    crypto: &Crypto,
    current: &Mutex<String>,
    stop: &(Mutex<bool>, Condvar),
    exclusive: bool,
) {
    let (flag, cvar) = stop;
    let Ok(mut stopped) = flag.lock() else { return };
    loop {
        // Checked before each wait: the drop may have come before this thread first took the mutex.
        if *stopped {
            return;
        }
        let Ok((guard, timeout)) = cvar.wait_timeout(stopped, REFRESH_EVERY) else { return };
        stopped = guard;
        if *stopped {
            return;
        }
        if timeout.timed_out() {
            // As restic: write a fresh lock, then remove the old one.
            if let Ok(new_id) = write_lock(store, crypto, &LockInfo::mine(exclusive)) {
                if let Ok(mut cur) = current.lock() {
                    let old = std::mem::replace(&mut *cur, new_id);
                    let _ = store.remove(&old);
                }
            }
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        {
            let (flag, cvar) = &*self.stop;
            if let Ok(mut s) = flag.lock() {
                *s = true;
            }
            cvar.notify_all();
        }
        if let Some(h) = self.refresher.take() {
            let _ = h.join();
        }
        if let Ok(id) = self.current.lock() {
            let _ = self.store.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_round_trip_and_tamper() {
        let c = Crypto::new(&[1; 32], &[2; 16], &[3; 16]).unwrap();
        assert!(Crypto::new(&[1; 31], &[2; 16], &[3; 16]).is_none());
        let enc = c.encrypt(b"{\"a\":1}");
        assert_eq!(c.decrypt(&enc).as_deref(), Some(&b"{\"a\":1}"[..]));
        let mut bad = enc.clone();
        bad[20] ^= 1;
        assert!(c.decrypt(&bad).is_none());
    }

    #[test]
    fn compressed_and_plain_lock_json_decode() {
        let json =
            br#"{"time":"2024-01-02T03:04:05.123456789+01:00","exclusive":true,"hostname":"h","username":"u","pid":7}"#;
        let mut z = vec![2u8];
        z.extend(zstd::encode_all(&json[..], 3).unwrap_or_default());
        for plain in [json.to_vec(), z] {
            let info: LockInfo =
                serde_json::from_slice(&decode_unpacked(plain).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
            assert!(info.exclusive);
            assert_eq!(info.pid, 7);
            assert!(info.age().is_some());
        }
    }

    #[test]
    fn regression_restic_lock_zstd_bomb_is_refused() {
        // 64 MiB of spaces inside a lock's JSON compress to a few KB; they must not be expanded.
        let json = br#"{"time":"2024-01-02T03:04:05Z","exclusive":true,"hostname":"h","pid":7}"#;
        let mut bomb = vec![2u8];
        let mut encoder = zstd::stream::write::Encoder::new(&mut bomb, 3).unwrap();
        std::io::Write::write_all(&mut encoder, &json[..json.len() - 1]).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..64 {
            std::io::Write::write_all(&mut encoder, &spaces).unwrap();
        }
        std::io::Write::write_all(&mut encoder, b"}").unwrap();
        encoder.finish().unwrap();
        assert!(bomb.len() < 100_000, "the bomb is {} bytes", bomb.len());
        assert_eq!(decode_unpacked(bomb.clone()), None);
        let crypto = Crypto::new(&[1; 32], &[2; 16], &[3; 16]).unwrap();
        assert_eq!(read_lock(&crypto, &crypto.encrypt(&bomb)), None);
        // Within the bound it still reads.
        let mut small = vec![2u8];
        small.extend(zstd::encode_all(&json[..], 3).unwrap());
        assert_eq!(read_lock(&crypto, &crypto.encrypt(&small)).map(|l| l.pid), Some(7));
    }

    fn plant(store: &LocalLocks, crypto: &Crypto, host: &str, pid: i64, age_secs: i64, exclusive: bool) -> String {
        let time = Timestamp::now().checked_sub(rustic_core::jiff::SignedDuration::from_secs(age_secs)).unwrap();
        let info = LockInfo {
            time: time.to_string(),
            exclusive,
            hostname: host.into(),
            username: "someone".into(),
            pid,
            uid: 0,
            gid: 0,
        };
        write_lock(store, crypto, &info).unwrap()
    }

    #[test]
    fn stale_rules() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn LockStore> = Arc::new(LocalLocks { dir: dir.path().join("locks") });
        let local = LocalLocks { dir: dir.path().join("locks") };
        let crypto = Arc::new(Crypto::new(&[7; 32], &[8; 16], &[9; 16]).unwrap());
        let dead = 4_194_304 + 23;

        // a lock of a dead process on this host is removed, whatever its age
        let id = plant(&local, &crypto, &hostname(), dead, 5, true);
        let lock = RepoLock::acquire(store.clone(), crypto.clone(), true).unwrap();
        assert!(!store.list().unwrap().contains(&id));
        assert_eq!(store.list().unwrap().len(), 1);
        drop(lock);
        assert!(store.list().unwrap().is_empty(), "our lock is removed on drop");

        // another host's lock is never removed here, even two hours old: the error names it and the way out
        let id = plant(&local, &crypto, "nas-elsewhere", dead, 7200, false);
        let err = match RepoLock::acquire(store.clone(), crypto.clone(), true) {
            Err(LockError::Held(m)) => m,
            other => panic!("expected a conflict, got {other:?}"),
        };
        assert!(err.contains("someone@nas-elsewhere"), "{err}");
        assert!(err.contains("restic unlock"), "{err}");
        assert!(store.list().unwrap().contains(&id));
        // ... but a non-exclusive lock goes on beside a non-exclusive one
        drop(RepoLock::acquire(store.clone(), crypto.clone(), false).unwrap());
        local.remove(&id).unwrap();

        // a live process on this host (ourselves, another thread) holds its lock
        let id = plant(&local, &crypto, &hostname(), i64::from(std::process::id()), 5, true);
        assert!(matches!(RepoLock::acquire(store.clone(), crypto.clone(), false), Err(LockError::Held(_))));
        // unless it is older than restic's 30 minutes (a live holder refreshes every 5)
        local.remove(&id).unwrap();
        plant(&local, &crypto, &hostname(), i64::from(std::process::id()), 31 * 60, true);
        drop(RepoLock::acquire(store.clone(), crypto.clone(), true).unwrap());
        assert!(store.list().unwrap().is_empty());

        // a lock file we cannot decrypt blocks, and says so
        local.write(&"ab".repeat(32), b"garbage garbage garbage garbage garbage").unwrap();
        match RepoLock::acquire(store.clone(), crypto.clone(), false) {
            Err(LockError::Held(m)) => assert!(m.contains("cannot be read"), "{m}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn dead_pid_is_dead() {
        assert!(pid_alive(i64::from(std::process::id())));
        // pid_max is at most 2^22 on Linux
        assert!(!pid_alive(4_194_304 + 17));
    }
}
