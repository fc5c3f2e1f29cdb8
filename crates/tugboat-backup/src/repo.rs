//! The backup repository: restic-compatible (repository format v2, zstd-compressed, encrypted), written and read through
//! `rustic_core`, so that `restic` itself can list, restore, check and prune it. `tug` also takes restic-compatible locks
//! (see [`crate::lock`]), which rustic_core does not.
//!
//! Locations: a local path (`/mnt/backup/dms` or `local:/mnt/backup/dms`, a mounted NAS share works), or restic's REST
//! protocol (`rest:http://host:8000/dms`, as served by restic's rest-server on a NAS).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustic_core::repofile::{MasterKey, Metadata, Node, NodeType, SnapshotFile};
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, Excludes, KeepOptions, KeyOptions, LocalDestination,
    LsOptions, OpenStatus, PathList, Progress, ProgressBars, ProgressType, PruneOptions, ReadSource, ReadSourceEntry,
    ReadSubsetOption, Repository, RepositoryBackends, RepositoryOptions, RestoreOptions, RusticError, RusticProgress,
    RusticResult, SnapshotOptions, WriteBackend,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tugboat::secret::Secret;

use crate::backend::{Guard, GuardedBackend};
use crate::lock::{Crypto, LocalLocks, LockError, LockStore, RepoLock};

/// Where the repository is and how to open it.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// A local path (optionally `local:`-prefixed), or `rest:http://host:port/path`.
    pub location: String,
    pub password: Secret,
}

/// What a new snapshot is labelled with.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMeta {
    pub tags: Vec<String>,
    /// Empty: this machine's hostname.
    pub host: String,
    pub label: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotInfo {
    /// Full hex id (64 characters).
    pub id: String,
    /// The first 8 characters, as restic shows it.
    pub short_id: String,
    /// RFC 3339 with the offset the snapshot was written with.
    pub time: String,
    pub time_ms: i64,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub label: String,
    pub host: String,
    /// Absent for snapshots written by restic before 0.17.
    pub summary: Option<SnapshotSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotSummary {
    pub files: u64,
    pub bytes_total: u64,
    /// Data added to the repository by this snapshot after deduplication and compression (pack bytes).
    pub bytes_added: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadData {
    /// Structure only: index, packs listed, trees, blobs referenced.
    No,
    /// Also read and verify every pack.
    All,
    /// Also read a random subset of the packs, this percentage of the repository's size.
    Subset(f64),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckReport {
    pub ok: bool,
    /// Errors, then warnings (prefixed `warning: `, they do not make `ok` false).
    pub errors: Vec<String>,
    pub snapshots: usize,
    pub packs_read: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForgetPlan {
    /// Kept snapshots (oldest first) and why: restic's reasons (`last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`),
    /// or `no <prefix> tag` for snapshots outside every group, which are never forgotten.
    pub keep: Vec<(SnapshotInfo, Vec<String>)>,
    /// Snapshots forgotten (or, with `dry_run`, that would be), oldest first.
    pub remove: Vec<SnapshotInfo>,
}

/// How many snapshots to keep per group (restic's `--keep-*`): the `backup.keep` of `tugboat.yml` itself.
/// All `None` is refused: it would forget everything.
pub use tugboat::stack::config::Keep as KeepPolicy;

/// Why a repository operation failed. Messages never contain the repository password.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no restic repository at {location}: run `tug backup init` to create one")]
    NotARepository { location: String },
    #[error("a repository already exists at {location}")]
    AlreadyExists { location: String },
    #[error("wrong password for the repository at {location}: no key in its keys/ opens with it")]
    WrongPassword { location: String },
    #[error("repository location `{location}`: {reason}")]
    Location { location: String, reason: String },
    #[error("repository {location} is locked: {holder}")]
    Locked { location: String, holder: String },
    /// The source command failed; no snapshot was kept.
    #[error("`{command}` failed ({status}); no snapshot was kept{}", stderr_suffix(.stderr))]
    Command { command: String, status: String, stderr: String },
    #[error("no snapshot `{id}` in {location}")]
    SnapshotNotFound { location: String, id: String },
    #[error("no file `{path}` in snapshot {snapshot}")]
    FileNotFound { snapshot: String, path: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// Anything else rustic_core reported.
    #[error("{what} failed: {message}")]
    Repository { what: String, message: String },
    /// The target filesystem cannot hold what is to be written.
    #[error("no space left on {path}: {needed} to write, {free} free; free space there or choose another target")]
    NoSpace { path: String, needed: String, free: String },
}

impl tugboat::ops::Classify for BackupError {
    fn kind(&self) -> tugboat::ops::ErrorKind {
        use tugboat::ops::ErrorKind;
        match self {
            // What tugboat.yml says does not match the repository that is there.
            BackupError::WrongPassword { .. } | BackupError::Location { .. } => ErrorKind::Config,
            // A request that makes no sense: init over a repository, a snapshot that is not there, bad input.
            BackupError::AlreadyExists { .. } | BackupError::SnapshotNotFound { .. } | BackupError::Invalid(_) => {
                ErrorKind::Usage
            }
            // Another process holds the lock: later it will not.
            BackupError::Locked { .. } => ErrorKind::Retryable,
            BackupError::NotARepository { .. }
            | BackupError::NoSpace { .. }
            | BackupError::Command { .. }
            | BackupError::FileNotFound { .. }
            | BackupError::Io { .. }
            | BackupError::Repository { .. } => ErrorKind::CannotAct,
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", stderr.trim())
    }
}

/// Which storage the location names.
#[derive(Debug, Clone)]
enum Place {
    Local(PathBuf),
    Rest(String),
}

/// An open repository. Cheap operations reopen it with the master key (no key derivation after [`Repo::open`]).
pub struct Repo {
    location: String,
    place: Place,
    base: Arc<dyn WriteBackend>,
    key: MasterKey,
    password: Secret,
    locks: Arc<dyn LockStore>,
    crypto: Arc<Crypto>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("location", &self.location).finish_non_exhaustive()
    }
}

/// The location without a password (`rest:http://user:pw@host/` shows `user:***`).
fn display_location(location: &str) -> String {
    tugboat::secret::mask_url_password(location)
}

fn parse_location(location: &str) -> Result<Place, BackupError> {
    let bad = |reason: &str| BackupError::Location { location: display_location(location), reason: reason.to_string() };
    if location.trim().is_empty() {
        return Err(bad("empty"));
    }
    if let Some(url) = location.strip_prefix("rest:") {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad("expected rest:http://host:port/path or rest:https://…"));
        }
        return Ok(Place::Rest(url.to_string()));
    }
    let path = location.strip_prefix("local:").unwrap_or(location);
    if let Some((scheme, _)) = path.split_once(':') {
        if !scheme.contains('/') && scheme.len() > 1 {
            return Err(bad(&format!(
                "`{scheme}:` repositories are not supported; use a local path (a mounted NAS share works) or rest:http://host:port/path"
            )));
        }
    }
    Ok(Place::Local(PathBuf::from(path)))
}

/// The storage, and where its lock files go.
type Backends = (Arc<dyn WriteBackend>, Arc<dyn LockStore>);

fn make_backend(place: &Place) -> Result<Backends, BackupError> {
    match place {
        Place::Local(path) => {
            let path_str = path.to_string_lossy().into_owned();
            let be = rustic_backend::LocalBackend::new(&path_str, Vec::<(String, String)>::new())
                .map_err(|e| BackupError::Location { location: path_str.clone(), reason: e.display_log() })?;
            Ok((Arc::new(be), Arc::new(LocalLocks { dir: path.join("locks") })))
        }
        Place::Rest(url) => {
            let be = Arc::new(crate::rest::RestBackend::new(url));
            Ok((be.clone(), be))
        }
    }
}

fn local_root(place: &Place) -> Option<PathBuf> {
    match place {
        Place::Local(p) => Some(p.clone()),
        Place::Rest(_) => None,
    }
}

fn repo_options(place: &Place) -> RepositoryOptions {
    let mut opts = RepositoryOptions::default();
    // A local repository needs no cache (and a cache could hide a corrupted tree pack from `check`).
    opts.no_cache = matches!(place, Place::Local(_));
    opts
}

/// Progress hooks: bytes backed up, and the moment `check` starts reading pack data.
#[derive(Debug)]
struct Watch {
    bytes: Arc<AtomicU64>,
    guard: Arc<Guard>,
}

#[derive(Debug)]
struct Counter(Arc<AtomicU64>);

impl RusticProgress for Counter {
    fn is_hidden(&self) -> bool {
        true // no pre-scan of the source's size
    }
    fn set_length(&self, _len: u64) {}
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        self.0.fetch_add(inc, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

impl ProgressBars for Watch {
    fn progress(&self, progress_type: ProgressType, prefix: &str) -> Progress {
        if prefix.starts_with("reading pack data") {
            self.guard.count_pack_reads.store(true, Ordering::SeqCst);
        }
        if matches!(progress_type, ProgressType::Bytes) && prefix.starts_with("backing up") {
            Progress::new(Counter(self.bytes.clone()))
        } else {
            Progress::hidden()
        }
    }
}

/// One operation's view of the repository.
struct Session {
    repo: Repository<OpenStatus>,
    guard: Arc<Guard>,
    bytes: Arc<AtomicU64>,
}

impl Repo {
    fn err(&self, what: &str, e: impl AsRef<RusticError>) -> BackupError {
        let msg = e.as_ref().display_log();
        let msg = msg.strip_prefix("Error: ").unwrap_or(&msg).to_string();
        BackupError::Repository { what: what.to_string(), message: scrub(&msg, &self.password) }
    }

    fn session(&self) -> Result<Session, BackupError> {
        let guard = Arc::new(Guard::default());
        let bytes = Arc::new(AtomicU64::new(0));
        let be = GuardedBackend::new(self.base.clone(), local_root(&self.place), guard.clone());
        let backends = RepositoryBackends::new(Arc::new(be), None);
        let watch = Watch { bytes: bytes.clone(), guard: guard.clone() };
        let repo = Repository::new_with_progress(&repo_options(&self.place), &backends, watch)
            .and_then(|r| r.open(&Credentials::Masterkey(self.key.clone())))
            .map_err(|e| self.err("opening the repository", e))?;
        Ok(Session { repo, guard, bytes })
    }

    fn lock(&self, exclusive: bool) -> Result<RepoLock, BackupError> {
        RepoLock::acquire(self.locks.clone(), self.crypto.clone(), exclusive).map_err(|e| match e {
            LockError::Held(holder) => BackupError::Locked { location: self.location.clone(), holder },
            LockError::Io(source) => {
                BackupError::Io { what: format!("reading the locks of {}", self.location), source }
            }
        })
    }

    fn from_open(
        cfg: &RepoConfig,
        place: Place,
        base: Arc<dyn WriteBackend>,
        locks: Arc<dyn LockStore>,
        key: MasterKey,
    ) -> Result<Repo, BackupError> {
        let location = display_location(&cfg.location);
        let crypto = Crypto::new(&key.encrypt, &key.mac.k, &key.mac.r).ok_or_else(|| BackupError::Repository {
            what: format!("opening {location}"),
            message: "the master key does not have restic's format".into(),
        })?;
        Ok(Repo { location, place, base, key, password: cfg.password.clone(), locks, crypto: Arc::new(crypto) })
    }

    /// Creates a repository (format v2, zstd compression at restic's default level) with one key for the password.
    pub fn init(cfg: &RepoConfig) -> Result<Repo, BackupError> {
        let place = parse_location(&cfg.location)?;
        let (base, locks) = make_backend(&place)?;
        let location = display_location(&cfg.location);
        let rerr = |what: &str, e: Box<RusticError>| {
            let msg = e.display_log();
            BackupError::Repository { what: what.to_string(), message: scrub(&msg, &cfg.password) }
        };
        if cfg.password.expose().is_empty() {
            return Err(BackupError::Invalid("the repository password is empty".into()));
        }
        let guard = Arc::new(Guard::default());
        let be = GuardedBackend::new(base.clone(), local_root(&place), guard);
        let backends = RepositoryBackends::new(Arc::new(be), None);
        let repo = Repository::new(&repo_options(&place), &backends).map_err(|e| rerr("opening the location", e))?;
        if repo.config_id().map_err(|e| rerr("reading the location", e))?.is_some() {
            return Err(BackupError::AlreadyExists { location });
        }
        let mut config = ConfigOptions::default();
        config.set_version = Some(2);
        let repo = repo
            .init(&Credentials::password(cfg.password.expose()), &KeyOptions::default(), &config)
            .map_err(|e| rerr("creating the repository", e))?;
        let key = repo.key();
        Repo::from_open(cfg, place, base, locks, key)
    }

    /// Opens an existing repository; the password is checked against its keys.
    pub fn open(cfg: &RepoConfig) -> Result<Repo, BackupError> {
        let place = parse_location(&cfg.location)?;
        let (base, locks) = make_backend(&place)?;
        let location = display_location(&cfg.location);
        let rerr = |what: &str, e: Box<RusticError>| {
            let msg = e.display_log();
            BackupError::Repository { what: what.to_string(), message: scrub(&msg, &cfg.password) }
        };
        let guard = Arc::new(Guard::default());
        let be = GuardedBackend::new(base.clone(), local_root(&place), guard);
        let backends = RepositoryBackends::new(Arc::new(be), None);
        let repo = Repository::new(&repo_options(&place), &backends).map_err(|e| rerr("opening the location", e))?;
        match repo.config_id() {
            Ok(Some(_)) => {}
            Ok(None) => return Err(BackupError::NotARepository { location }),
            Err(e) => {
                if matches!(place, Place::Local(ref p) if !p.exists()) {
                    return Err(BackupError::NotARepository { location });
                }
                return Err(rerr("reading the repository", e));
            }
        }
        let repo = repo.open(&Credentials::password(cfg.password.expose())).map_err(|e| {
            if e.is_incorrect_password() {
                BackupError::WrongPassword { location: location.clone() }
            } else {
                rerr("opening the repository", e)
            }
        })?;
        let key = repo.key();
        Repo::from_open(cfg, place, base, locks, key)
    }

    /// The location as given, with any URL password masked.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Streams the stdout of `cmd` into one snapshot holding the single file `filename` (no temp file). The command's
    /// environment is passed as set on `cmd`. If the command cannot start, exits non-zero or is killed, or reading its output
    /// fails, no snapshot is written (the snapshot write is refused) and the error carries the command line and its stderr.
    /// `progress` gets the bytes read so far, about ten times a second and once at the end.
    pub fn backup_command(
        &self,
        cmd: Command,
        filename: &str,
        meta: &SnapshotMeta,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<SnapshotInfo, BackupError> {
        self.backup_command_until(cmd, filename, meta, progress, &|| false)
    }

    /// [`Repo::backup_command`] that gives up when `stop` turns true (looked at about ten times a second): the
    /// command is killed and, as for any command that does not finish, no snapshot is kept.
    pub fn backup_command_until(
        &self,
        mut cmd: Command,
        filename: &str,
        meta: &SnapshotMeta,
        progress: &(dyn Fn(u64) + Sync),
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<SnapshotInfo, BackupError> {
        if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
            return Err(BackupError::Invalid(format!("snapshot file name `{filename}`: expected a plain file name")));
        }
        let command_line = command_line(&cmd);
        let _lock = self.lock(true)?;
        let session = self.session()?;
        let Session { repo, guard, .. } = session;
        // Bytes read from the command (the archiver's own count comes a chunk later).
        let bytes = Arc::new(AtomicU64::new(0));
        let repo = repo.to_indexed_ids().map_err(|e| self.err("reading the index", e))?;
        let snap = self.snapshot_file(meta)?;

        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
                BackupError::Command {
                    command: command_line.clone(),
                    status: format!("could not start: {e}"),
                    stderr: String::new(),
                }
            })?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BackupError::Command {
                command: command_line,
                status: "no pipes".into(),
                stderr: String::new(),
            });
        };
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let child = Arc::new(Mutex::new(child));
        let status: Arc<Mutex<Option<io::Result<ExitStatus>>>> = Arc::new(Mutex::new(None));
        let read_failed = Arc::new(AtomicBool::new(false));
        let reader = ChildReader {
            stdout,
            child: child.clone(),
            status: status.clone(),
            bytes: bytes.clone(),
            guard: guard.clone(),
            read_failed: read_failed.clone(),
            finished: false,
        };
        let path = PathBuf::from(filename);
        let src = CommandSource { path: path.clone(), node: file_node(filename), reader: Mutex::new(Some(reader)) };

        let mut opts = BackupOptions::default();
        opts.parent_opts.force = true; // a stream has no parent to compare with
        let stopped = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            // Kills the command once `stop` says so; the archiver then sees its output end in a failure.
            let watcher = s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if stop() {
                        stopped.store(true, Ordering::SeqCst);
                        // A child already waited for is not signalled again (std keeps its status).
                        if let Ok(mut c) = child.lock() {
                            let _ = c.kill();
                        }
                        return;
                    }
                    std::thread::park_timeout(Duration::from_millis(100));
                }
            });
            let result =
                with_progress(&bytes, progress, || repo.archive(&opts, &src, snap, std::slice::from_ref(&path)));
            done.store(true, Ordering::SeqCst);
            watcher.thread().unpark();
            result
        });
        drop(src); // closes the pipe if the archiver never took it

        // Some(..) when the command's output ended and it exited on its own; None when the archiver stopped first.
        let recorded = status.lock().ok().and_then(|mut s| s.take());
        let stopped_by_us = recorded.is_none() && result.is_err();
        let exit = match recorded {
            Some(st) => st,
            None => {
                let mut c = child.lock().map_err(|_| BackupError::Invalid("child lock poisoned".into()))?;
                if result.is_err() {
                    let _ = c.kill();
                }
                c.wait()
            }
        };
        let stderr_text = stderr_thread.join().map(|b| tail_text(&b, 4000)).unwrap_or_default();
        if stopped_by_us {
            // The repository failed first (and the command then died of the closed pipe or our kill): report that.
            if let Err(e) = &result {
                let mut err = self.err("backing up the command's output", e);
                if let BackupError::Repository { message, .. } = &mut err {
                    message.push_str(&format!("; `{command_line}` was stopped, no snapshot was kept"));
                }
                return Err(err);
            }
        }
        let failed_status = match &exit {
            _ if stopped.load(Ordering::SeqCst) => Some("stopped: the operation was interrupted".to_string()),
            Ok(st) if st.success() => None,
            Ok(st) => Some(describe_status(st)),
            Err(e) => Some(format!("could not wait for it: {e}")),
        };
        if let Some(status) = failed_status {
            if let Ok(snap) = &result {
                self.delete_quietly(&repo, snap);
            }
            return Err(BackupError::Command { command: command_line, status, stderr: stderr_text });
        }
        if read_failed.load(Ordering::SeqCst) {
            if let Ok(snap) = &result {
                self.delete_quietly(&repo, snap);
            }
            return Err(BackupError::Command {
                command: command_line,
                status: "reading its output failed".into(),
                stderr: stderr_text,
            });
        }
        let snap = result.map_err(|e| self.err("backing up the command's output", e))?;
        let files = snap.summary.as_ref().map_or(0, |s| s.total_files_processed);
        if files != 1 {
            self.delete_quietly(&repo, &snap);
            return Err(BackupError::Repository {
                what: "backing up the command's output".into(),
                message: format!("the snapshot held {files} files instead of 1; it was removed"),
            });
        }
        Ok(info(&snap))
    }

    fn delete_quietly<S: rustic_core::Open>(&self, repo: &Repository<S>, snap: &SnapshotFile) {
        if !snap.id.is_null() {
            let _ = repo.delete_snapshots(&[snap.id]);
        }
    }

    fn snapshot_file(&self, meta: &SnapshotMeta) -> Result<SnapshotFile, BackupError> {
        let mut opts = SnapshotOptions::default();
        if !meta.host.is_empty() {
            opts.host = Some(meta.host.clone());
        }
        if !meta.label.is_empty() {
            opts.label = Some(meta.label.clone());
        }
        opts.description = meta.description.clone();
        let mut snap = opts.to_snapshot().map_err(|e| self.err("preparing the snapshot", e))?;
        for tag in &meta.tags {
            if tag.is_empty() || tag.contains(',') {
                return Err(BackupError::Invalid(format!("tag `{tag}`: tags must be non-empty and contain no comma")));
            }
            snap.tags.add(tag.clone());
        }
        Ok(snap)
    }

    /// Backs up files and directories into one snapshot. `excludes` are globs matched like restic's `--exclude`
    /// (`*.log`, `cache/`, `/abs/path/tmp`). Unchanged files are detected from the previous snapshot of the same paths and host.
    /// Unreadable files are skipped with a log warning (as restic does); the summary's `files` tells how many went in.
    pub fn backup_paths(
        &self,
        paths: &[PathBuf],
        excludes: &[String],
        meta: &SnapshotMeta,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<SnapshotInfo, BackupError> {
        if paths.is_empty() {
            return Err(BackupError::Invalid("no paths to back up".into()));
        }
        for p in paths {
            if std::fs::symlink_metadata(p).is_err() {
                return Err(BackupError::Invalid(format!("path to back up `{}` does not exist", p.display())));
            }
        }
        let _lock = self.lock(true)?;
        let Session { repo, bytes, .. } = self.session()?;
        let repo = repo.to_indexed_ids().map_err(|e| self.err("reading the index", e))?;
        let snap = self.snapshot_file(meta)?;
        let mut opts = BackupOptions::default();
        let mut ex = Excludes::default();
        ex.globs = excludes.iter().map(|g| format!("!{g}")).collect();
        opts.excludes = ex;
        let source: PathList = paths.iter().cloned().collect();
        let source = source.sanitize().map_err(|e| BackupError::Invalid(format!("paths to back up: {e}")))?;
        let snap = with_progress(&bytes, progress, || repo.backup(&opts, &source, snap))
            .map_err(|e| self.err("backing up", e))?;
        Ok(info(&snap))
    }

    /// Snapshots carrying every tag of `with_tags`, oldest first.
    pub fn snapshots(&self, with_tags: &[String]) -> Result<Vec<SnapshotInfo>, BackupError> {
        let _lock = self.lock(false)?;
        let Session { repo, .. } = self.session()?;
        let mut snaps = repo
            .get_matching_snapshots(|s| with_tags.iter().all(|t| s.tags.contains(t)))
            .map_err(|e| self.err("listing snapshots", e))?;
        snaps.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(snaps.iter().map(info).collect())
    }

    /// Applies `keep` to each group of snapshots that share the tag starting with `group_tag_prefix` (e.g. `source=`);
    /// snapshots with no such tag are kept. Unless `dry_run`, forgets the others, and with `prune` removes the data only
    /// they used (packs are deleted at once, under the exclusive lock, as restic does).
    pub fn forget(
        &self,
        keep: &KeepPolicy,
        group_tag_prefix: &str,
        dry_run: bool,
        prune: bool,
    ) -> Result<ForgetPlan, BackupError> {
        if keep.is_empty() {
            return Err(BackupError::Invalid("the keep policy is empty: refusing to forget every snapshot".into()));
        }
        let n = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        let mut ko = KeepOptions::default();
        ko.keep_last = n(keep.last);
        ko.keep_hourly = n(keep.hourly);
        ko.keep_daily = n(keep.daily);
        ko.keep_weekly = n(keep.weekly);
        ko.keep_monthly = n(keep.monthly);
        ko.keep_yearly = n(keep.yearly);

        let _lock = self.lock(!dry_run)?;
        let Session { repo, .. } = self.session()?;
        let snaps = repo.get_all_snapshots().map_err(|e| self.err("listing snapshots", e))?;
        let mut groups: BTreeMap<String, Vec<SnapshotFile>> = BTreeMap::new();
        let mut plan = ForgetPlan { keep: Vec::new(), remove: Vec::new() };
        let mut kept: Vec<(SnapshotFile, Vec<String>)> = Vec::new();
        let mut removed: Vec<SnapshotFile> = Vec::new();
        for s in snaps {
            let key = if group_tag_prefix.is_empty() {
                Some(String::new())
            } else {
                s.tags.iter().find(|t| t.starts_with(group_tag_prefix)).cloned()
            };
            match key {
                Some(k) => groups.entry(k).or_default().push(s),
                None => kept.push((s, vec![format!("no {group_tag_prefix} tag")])),
            }
        }
        let now = rustic_core::jiff::Zoned::now();
        for (_, items) in groups {
            for fs in ko.apply(items, &now).map_err(|e| self.err("applying the keep policy", e))? {
                if fs.keep {
                    kept.push((fs.snapshot, fs.reasons));
                } else {
                    removed.push(fs.snapshot);
                }
            }
        }
        kept.sort_by(|a, b| a.0.time.cmp(&b.0.time));
        removed.sort_by(|a, b| a.time.cmp(&b.time));
        if !dry_run {
            if !removed.is_empty() {
                let ids: Vec<_> = removed.iter().map(|s| s.id).collect();
                repo.delete_snapshots(&ids).map_err(|e| self.err("forgetting snapshots", e))?;
            }
            if prune {
                let mut popts = PruneOptions::default();
                popts.instant_delete = true;
                let pplan = repo.prune_plan(&popts).map_err(|e| self.err("planning the prune", e))?;
                repo.prune(&popts, pplan).map_err(|e| self.err("pruning", e))?;
            }
        }
        plan.keep = kept.iter().map(|(s, r)| (info(s), r.clone())).collect();
        plan.remove = removed.iter().map(info).collect();
        Ok(plan)
    }

    /// Checks the repository's structure, and with `read` its pack data (all, or a random subset by size).
    pub fn check(&self, read: ReadData) -> Result<CheckReport, BackupError> {
        let _lock = self.lock(false)?;
        let Session { repo, guard, .. } = self.session()?;
        let snapshots = repo.get_all_snapshots().map_err(|e| self.err("listing snapshots", e))?;
        let mut opts = CheckOptions::default();
        match read {
            ReadData::No => {}
            ReadData::All => opts.read_data = true,
            ReadData::Subset(p) => {
                if !(p > 0.0 && p <= 100.0) {
                    return Err(BackupError::Invalid(format!(
                        "read-data subset {p}%: expected more than 0 and at most 100"
                    )));
                }
                opts.read_data = true;
                opts.read_data_subset = ReadSubsetOption::Percentage(p);
            }
        }
        let trees = snapshots.iter().map(|s| s.tree).collect();
        let (results, fatal) = match repo.check_with_trees(opts, trees) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(self.err("checking", e).to_string())),
        };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if let Some(results) = &results {
            for (level, e) in &results.0 {
                if format!("{level:?}") == "Error" {
                    errors.push(e.to_string());
                } else {
                    warnings.push(format!("warning: {e}"));
                }
            }
        }
        errors.extend(fatal);
        let ok = errors.is_empty();
        errors.extend(warnings);
        let packs_read = guard.packs_read.lock().map(|s| s.len() as u64).unwrap_or(0);
        Ok(CheckReport { ok, errors, snapshots: snapshots.len(), packs_read })
    }

    fn find_snapshot<S: rustic_core::Open>(&self, repo: &Repository<S>, id: &str) -> Result<SnapshotFile, BackupError> {
        if id.is_empty() {
            return Err(BackupError::Invalid("empty snapshot id".into()));
        }
        repo.get_snapshot_from_str(id, |_| true).map_err(|e| {
            let msg = e.display_log();
            if msg.contains("No suitable id found") || msg.contains("not found") || msg.contains("No snapshot") {
                BackupError::SnapshotNotFound { location: self.location.clone(), id: id.to_string() }
            } else {
                self.err("finding the snapshot", e)
            }
        })
    }

    /// Restores a whole snapshot under `dest` (created if missing), laid out as `restic restore --target dest` does:
    /// a snapshot of `/srv/uploads` lands in `dest/srv/uploads`. Returns the bytes restored.
    pub fn restore_to_path(&self, snapshot_id: &str, dest: &Path) -> Result<u64, BackupError> {
        let _lock = self.lock(false)?;
        let Session { repo, .. } = self.session()?;
        let repo = repo.to_indexed().map_err(|e| self.err("reading the index", e))?;
        let snap = self.find_snapshot(&repo, snapshot_id)?;
        let node = repo.node_from_snapshot_and_path(&snap, "").map_err(|e| self.err("reading the snapshot", e))?;
        let ls_opts = LsOptions::default();
        let ls = repo.ls(&node, &ls_opts).map_err(|e| self.err("listing the snapshot", e))?;
        let mut dest_str = dest.to_string_lossy().into_owned();
        if !dest_str.ends_with('/') {
            dest_str.push('/');
        }
        let destination =
            LocalDestination::new(&dest_str, true, false).map_err(|e| self.err("preparing the target", e))?;
        let opts = RestoreOptions::default();
        let plan = repo
            .prepare_restore(&opts, ls.clone(), &destination, false)
            .map_err(|e| self.err("planning the restore", e))?;
        let size = plan.restore_size;
        // A target that cannot hold the snapshot is refused before anything is written (rustic_core 0.13 panics
        // on ENOSPC mid-restore; the panic is caught below for space that vanishes meanwhile).
        let free = free_space(dest);
        let no_space = |free: Option<u64>| BackupError::NoSpace {
            path: dest.display().to_string(),
            needed: crate::run::human(size),
            free: free.map_or_else(|| "no space".into(), crate::run::human),
        };
        if free.is_some_and(|free| free < size) {
            return Err(no_space(free));
        }
        let restored =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| repo.restore(plan, &opts, ls, &destination)));
        match restored {
            Ok(result) => result.map_err(|e| self.err("restoring", e))?,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if crate::run::is_disk_full(&message) {
                    return Err(no_space(free_space(dest)));
                }
                return Err(BackupError::Repository {
                    what: "restoring".into(),
                    message: format!("the restore stopped: {message}"),
                });
            }
        }
        Ok(size)
    }

    /// Streams one file of a snapshot into `out` (e.g. a dump into `mariadb`). `filename` is its path in the snapshot
    /// (`lcbp3.sql` for a [`Repo::backup_command`] snapshot, `/srv/uploads/a.pdf` or `srv/uploads/a.pdf` otherwise).
    pub fn restore_file(&self, snapshot_id: &str, filename: &str, out: &mut dyn Write) -> Result<u64, BackupError> {
        let _lock = self.lock(false)?;
        let Session { repo, .. } = self.session()?;
        let repo = repo.to_indexed().map_err(|e| self.err("reading the index", e))?;
        let snap = self.find_snapshot(&repo, snapshot_id)?;
        let not_found = || BackupError::FileNotFound { snapshot: short(&snap), path: filename.to_string() };
        let node =
            repo.node_from_snapshot_and_path(&snap, filename.trim_start_matches('/')).map_err(|_| not_found())?;
        if node.node_type != NodeType::File {
            return Err(not_found());
        }
        let mut w = CountingWriter { inner: out, n: 0 };
        repo.dump(&node, &mut w).map_err(|e| self.err("reading the file", e))?;
        w.flush().map_err(|e| BackupError::Io { what: "writing the restored file".into(), source: e })?;
        Ok(w.n)
    }

    /// SHA-256 (hex) of the content of every regular file in a snapshot, as stored, keyed by its path in the snapshot
    /// without a leading `/` (so `dest.join(key)` is where [`Repo::restore_to_path`] puts it).
    pub fn file_hashes(&self, snapshot_id: &str) -> Result<BTreeMap<String, String>, BackupError> {
        let _lock = self.lock(false)?;
        let Session { repo, .. } = self.session()?;
        let repo = repo.to_indexed().map_err(|e| self.err("reading the index", e))?;
        let snap = self.find_snapshot(&repo, snapshot_id)?;
        let node = repo.node_from_snapshot_and_path(&snap, "").map_err(|e| self.err("reading the snapshot", e))?;
        let mut out = BTreeMap::new();
        for item in repo.ls(&node, &LsOptions::default()).map_err(|e| self.err("listing the snapshot", e))? {
            let (path, node) = item.map_err(|e| self.err("listing the snapshot", e))?;
            if node.node_type != NodeType::File {
                continue;
            }
            let mut h = HashWriter(Sha256::new());
            repo.dump(&node, &mut h).map_err(|e| self.err("reading a file", e))?;
            let key = path.to_string_lossy().trim_start_matches('/').to_string();
            out.insert(key, crate::lock::hex(&h.0.finalize()));
        }
        Ok(out)
    }
}

fn short(s: &SnapshotFile) -> String {
    s.id.to_hex().as_str()[..8].to_string()
}

fn info(s: &SnapshotFile) -> SnapshotInfo {
    let id = s.id.to_hex().as_str().to_string();
    SnapshotInfo {
        short_id: id.chars().take(8).collect(),
        id,
        time: s.time.timestamp().display_with_offset(s.time.offset()).to_string(),
        time_ms: s.time.timestamp().as_millisecond(),
        tags: s.tags.iter().cloned().collect(),
        paths: s.paths.iter().cloned().collect(),
        label: s.label.clone(),
        host: s.hostname.clone(),
        summary: s.summary.as_ref().map(|m| SnapshotSummary {
            files: m.total_files_processed,
            bytes_total: m.total_bytes_processed,
            bytes_added: m.data_added_packed,
            duration_ms: (m.backup_duration.max(0.0) * 1000.0) as u64,
        }),
    }
}

/// Replaces the password wherever it appears (it never should; this is a second fence).
fn scrub(msg: &str, password: &Secret) -> String {
    let p = password.expose();
    if p.len() >= 3 {
        msg.replace(p, "***")
    } else {
        msg.to_string()
    }
}

/// `program arg …`, quoted where needed; the environment is left out (it carries passwords).
fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_status(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => st.to_string(),
    }
}

fn tail_text(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Runs `f`, reporting `bytes` to `progress` about ten times a second and once at the end.
fn with_progress<T>(bytes: &AtomicU64, progress: &(dyn Fn(u64) + Sync), f: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        let reporter = s.spawn(|| {
            let mut last = u64::MAX;
            while !done.load(Ordering::Relaxed) {
                let v = bytes.load(Ordering::Relaxed);
                if v != last {
                    progress(v);
                    last = v;
                }
                // Parked, not asleep: the end of the work wakes it at once instead of costing up to 100 ms.
                std::thread::park_timeout(Duration::from_millis(100));
            }
        });
        let r = f();
        done.store(true, Ordering::Relaxed);
        reporter.thread().unpark();
        r
    });
    progress(bytes.load(Ordering::Relaxed));
    r
}

fn file_node(filename: &str) -> Node {
    let meta = Metadata {
        mode: Some(0o600), // dumps hold the database's data
        mtime: Some(rustic_core::jiff::Timestamp::now()),
        uid: Some(nix::unistd::getuid().as_raw()),
        gid: Some(nix::unistd::getgid().as_raw()),
        ..Metadata::default()
    };
    Node::new_node(OsStr::new(filename), NodeType::File, meta)
}

/// The command's stdout as one file. On end of stream it waits for the command: a failed command turns the end into an
/// error and vetoes the snapshot, so rustic (which skips unreadable files with a warning) cannot save a snapshot without it.
struct ChildReader {
    stdout: ChildStdout,
    child: Arc<Mutex<Child>>,
    status: Arc<Mutex<Option<io::Result<ExitStatus>>>>,
    bytes: Arc<AtomicU64>,
    guard: Arc<Guard>,
    read_failed: Arc<AtomicBool>,
    finished: bool,
}

impl ChildReader {
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.guard.veto.store(true, Ordering::SeqCst);
        self.read_failed.store(true, Ordering::SeqCst);
        e
    }
}

impl Read for ChildReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.stdout.read(buf) {
                Ok(0) => {
                    let st = match self.child.lock() {
                        Ok(mut c) => c.wait(),
                        Err(_) => Err(io::Error::other("child lock poisoned")),
                    };
                    let ok = matches!(&st, Ok(s) if s.success());
                    let msg = match &st {
                        Ok(s) => describe_status(s),
                        Err(e) => e.to_string(),
                    };
                    if let Ok(mut slot) = self.status.lock() {
                        *slot = Some(st);
                    }
                    self.finished = true;
                    if ok {
                        return Ok(0);
                    }
                    // Not a read failure of ours: the command failed. Veto, and let the archiver drop the file.
                    self.guard.veto.store(true, Ordering::SeqCst);
                    return Err(io::Error::other(format!("the command failed: {msg}")));
                }
                Ok(n) => {
                    self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
}

struct CommandSource {
    path: PathBuf,
    node: Node,
    reader: Mutex<Option<ChildReader>>,
}

impl ReadSource for CommandSource {
    type Open = ChildReader;
    type Iter = std::option::IntoIter<RusticResult<ReadSourceEntry<ChildReader>>>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let open = self.reader.lock().ok().and_then(|mut r| r.take());
        Some(Ok(ReadSourceEntry { path: self.path.clone(), node: self.node.clone(), open })).into_iter()
    }
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes free for an unprivileged writer on the filesystem of `path` (or its nearest existing ancestor).
fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let v = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(v.blocks_available() * v.fragment_size())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert!(matches!(parse_location("/mnt/backup"), Ok(Place::Local(_))));
        assert!(matches!(parse_location("local:/mnt/backup"), Ok(Place::Local(p)) if p == Path::new("/mnt/backup")));
        let e = parse_location("s3:bucket/x").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        assert!(parse_location("").is_err());
    }

    #[test]
    fn command_lines_are_quoted_and_env_free() {
        let mut c = Command::new("sh");
        c.arg("-c").arg("echo 'hi' there").env("MYSQL_PWD", "hunter2");
        let s = command_line(&c);
        assert_eq!(s, r"sh -c 'echo '\''hi'\'' there'");
        assert!(!s.contains("hunter2"));
    }

    /// An endless command stopped by `stop`: killed, and no snapshot kept.
    #[test]
    fn a_stopped_command_leaves_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RepoConfig { location: dir.path().join("repo").display().to_string(), password: Secret::new("pw-1") };
        let repo = Repo::init(&cfg).unwrap();
        let read = AtomicU64::new(0);
        let progress = |n: u64| read.store(n, Ordering::SeqCst);
        // Stops once a good part of the output went by: the command is running when it is stopped.
        let stop = || read.load(Ordering::SeqCst) > 1 << 20;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do head -c 65536 /dev/urandom; done"]);
        let meta = SnapshotMeta { tags: vec!["source=endless".into()], ..SnapshotMeta::default() };
        let err = repo.backup_command_until(cmd, "endless.sql", &meta, &progress, &stop).unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
        assert!(repo.snapshots(&[]).unwrap().is_empty());
    }

    #[test]
    fn scrub_removes_password() {
        assert_eq!(scrub("bad hunter2 here", &Secret::new("hunter2")), "bad *** here");
    }
}
