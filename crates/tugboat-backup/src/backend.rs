//! The storage backend under rustic_core, with two guards that rustic's own local backend lacks:
//! - crash safety: rustic_backend's local backend writes a file in place under its final name (open, set_len, write, fsync),
//!   so a `kill -9` in the middle of writing an index or snapshot file leaves a truncated file that breaks the repository for
//!   restic and rustic alike. Here every local write goes to a temp file in the same directory, is fsynced, and renamed
//!   (as restic does); listings of both tools skip the temp names.
//! - no snapshot after a failure: once any write has failed, or the operation says so ([`Guard::veto`], e.g. the dump
//!   command exited non-zero), writing a snapshot file fails, so a snapshot that would not be complete is never saved.
//!
//! It also counts the packs read while `check` reads pack data (for [`crate::repo::CheckReport::packs_read`]).

use std::collections::HashSet;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustic_core::{BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend};

pub(crate) use tugboat::fs::write_atomic;

/// Per-operation switches shared between the backend and the operation.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Refuse to write snapshot files from now on.
    pub veto: AtomicBool,
    /// Count distinct packs read (set while `check` reads pack data).
    pub count_pack_reads: AtomicBool,
    pub packs_read: Mutex<HashSet<Id>>,
}

#[derive(Debug)]
pub(crate) struct GuardedBackend {
    inner: Arc<dyn WriteBackend>,
    /// The repository directory when the backend is local (writes go through [`write_atomic`]).
    local: Option<PathBuf>,
    guard: Arc<Guard>,
}

impl GuardedBackend {
    pub fn new(inner: Arc<dyn WriteBackend>, local: Option<PathBuf>, guard: Arc<Guard>) -> GuardedBackend {
        GuardedBackend { inner, local, guard }
    }

    fn local_path(root: &Path, tpe: FileType, id: &Id) -> PathBuf {
        let hex = id.to_hex();
        let hex = hex.as_str();
        match tpe {
            FileType::Config => root.join("config"),
            FileType::Pack => root.join("data").join(&hex[0..2]).join(hex),
            _ => root.join(tpe.dirname()).join(hex),
        }
    }

    fn note_read(&self, tpe: FileType, id: &Id) {
        if tpe == FileType::Pack && self.guard.count_pack_reads.load(Ordering::Relaxed) {
            if let Ok(mut set) = self.guard.packs_read.lock() {
                set.insert(*id);
            }
        }
    }
}

impl ReadBackend for GuardedBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<bytes::Bytes> {
        self.note_read(tpe, id);
        self.inner.read_full(tpe, id)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<bytes::Bytes> {
        self.note_read(tpe, id);
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }

    fn needs_warm_up(&self) -> bool {
        self.inner.needs_warm_up()
    }

    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.inner.warm_up(tpe, id)
    }
}

impl WriteBackend for GuardedBackend {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()
    }

    fn write_bytes(&self, tpe: FileType, id: &Id, cacheable: bool, content: BytesList) -> RusticResult<()> {
        if tpe == FileType::Snapshot && self.guard.veto.load(Ordering::SeqCst) {
            return Err(RusticError::new(
                ErrorKind::Backend,
                "not saving the snapshot: the backup's source failed or a write to the repository failed",
            ));
        }
        let result = match &self.local {
            Some(root) => {
                let path = Self::local_path(root, tpe, id);
                // A pack comes as one buffer (vendor/rustic_core/TUGBOAT.md): written as it is, not copied into
                // another 16 MiB buffer first (two packs are written at once).
                let joined;
                let data: &[u8] = match content.slice() {
                    [one] => one,
                    parts => {
                        joined = parts.concat();
                        &joined
                    }
                };
                let written =
                    path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| write_atomic(&path, data));
                written.map_err(|err| {
                    RusticError::with_source(ErrorKind::InputOutput, "Failed to write `{path}`", err)
                        .attach_context("path", path.display().to_string())
                })
            }
            None => self.inner.write_bytes(tpe, id, cacheable, content),
        };
        if result.is_err() {
            // A pack or index that did not make it: no snapshot may refer to it.
            self.guard.veto.store(true, Ordering::SeqCst);
        }
        result
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
