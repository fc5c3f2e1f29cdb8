//! Resolving a client-supplied path inside the upload base (seed 001 T011–T013).
//!
//! A path is accepted only when, after canonicalisation (which follows every symlink), it names a
//! regular file inside the canonical upload base. Before touching the filesystem the text itself is
//! refused when it carries anything a legitimate upload path never does: `..` components, NUL and
//! control characters, backslashes and drive letters (Windows separators), percent-encoded bytes
//! (single or double encoded), or excessive length. After opening, the open file descriptor is
//! resolved again through `/proc/self/fd` so that a symlink swapped in between the check and the
//! open is caught too.
//!
//! Every refusal is reported to the client as the same generic 403; the reason is for the log.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// The longest path accepted, in bytes (Linux's PATH_MAX is 4096; uploads are far shorter).
pub const MAX_PATH_BYTES: usize = 1024;
/// The longest single component (NAME_MAX).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Why a path was refused. Logged, never returned to the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathRejection {
    #[error("empty path")]
    Empty,
    #[error("path longer than {MAX_PATH_BYTES} bytes or a component longer than {MAX_COMPONENT_BYTES}")]
    TooLong,
    #[error("NUL byte in path")]
    Nul,
    #[error("control character in path")]
    Control,
    #[error("Windows separator or drive letter in path")]
    Windows,
    #[error("percent-encoded bytes in path")]
    Encoded,
    #[error("`..` component in path")]
    ParentComponent,
    #[error("cannot resolve path: {0}")]
    Unresolvable(String),
    #[error("resolves outside the upload base")]
    Outside,
    #[error("not a regular file")]
    NotAFile,
    #[error("the opened file is not the checked one (changed during the check)")]
    Raced,
}

/// The canonical upload directory.
#[derive(Debug, Clone)]
pub struct UploadBase {
    root: PathBuf,
}

impl UploadBase {
    /// `root` must already be canonical (the config canonicalises it at start-up).
    pub fn new(root: PathBuf) -> Self {
        UploadBase { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks the text of `requested`, then resolves it (relative paths against the base) and
    /// returns the canonical path of a regular file inside the base.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, PathRejection> {
        check_text(requested)?;
        let candidate = Path::new(requested);
        let joined = if candidate.is_absolute() { candidate.to_path_buf() } else { self.root.join(candidate) };
        let canonical =
            std::fs::canonicalize(&joined).map_err(|e| PathRejection::Unresolvable(e.kind().to_string()))?;
        if !canonical.starts_with(&self.root) {
            return Err(PathRejection::Outside);
        }
        let meta = std::fs::metadata(&canonical).map_err(|e| PathRejection::Unresolvable(e.kind().to_string()))?;
        if !meta.is_file() {
            return Err(PathRejection::NotAFile);
        }
        Ok(canonical)
    }

    /// [`resolve`](Self::resolve), then opens the file and confirms that the descriptor still points
    /// inside the base (on Linux, through `/proc/self/fd`).
    pub fn open(&self, requested: &str) -> Result<(File, PathBuf), PathRejection> {
        let canonical = self.resolve(requested)?;
        let file = File::open(&canonical).map_err(|e| PathRejection::Unresolvable(e.kind().to_string()))?;
        let meta = file.metadata().map_err(|e| PathRejection::Unresolvable(e.kind().to_string()))?;
        if !meta.is_file() {
            return Err(PathRejection::NotAFile);
        }
        if let Some(real) = fd_path(&file) {
            if real != canonical || !real.starts_with(&self.root) {
                return Err(PathRejection::Raced);
            }
        }
        Ok((file, canonical))
    }
}

#[cfg(target_os = "linux")]
fn fd_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn fd_path(_file: &File) -> Option<PathBuf> {
    None
}

/// The checks that need no filesystem.
pub fn check_text(requested: &str) -> Result<(), PathRejection> {
    if requested.is_empty() {
        return Err(PathRejection::Empty);
    }
    if requested.len() > MAX_PATH_BYTES {
        return Err(PathRejection::TooLong);
    }
    if requested.contains('\0') {
        return Err(PathRejection::Nul);
    }
    if requested.chars().any(|c| c.is_control()) {
        return Err(PathRejection::Control);
    }
    let bytes = requested.as_bytes();
    if requested.contains('\\') || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':') {
        return Err(PathRejection::Windows);
    }
    if bytes.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit()) {
        return Err(PathRejection::Encoded);
    }
    for component in Path::new(requested).components() {
        match component {
            Component::ParentDir => return Err(PathRejection::ParentComponent),
            Component::Normal(name) if name.len() > MAX_COMPONENT_BYTES => return Err(PathRejection::TooLong),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks() {
        assert_eq!(check_text(""), Err(PathRejection::Empty));
        assert_eq!(check_text("a/../b"), Err(PathRejection::ParentComponent));
        assert_eq!(check_text("%2e%2e/x"), Err(PathRejection::Encoded));
        assert_eq!(check_text("a\\b"), Err(PathRejection::Windows));
        assert_eq!(check_text("C:/x"), Err(PathRejection::Windows));
        assert_eq!(check_text("a\0b"), Err(PathRejection::Nul));
        assert_eq!(check_text("a\nb"), Err(PathRejection::Control));
        assert_eq!(check_text(&"a".repeat(300)), Err(PathRejection::TooLong));
        assert_eq!(check_text(&"a/".repeat(600)), Err(PathRejection::TooLong));
        // Names that merely look odd are fine at this stage.
        for ok in ["doc.pdf", "temp/2026/doc.pdf", "/app/uploads/x.pdf", "100% done.pdf", "a..b.pdf", "./x.pdf"] {
            assert_eq!(check_text(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn resolves_inside_and_refuses_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let base_dir = root.join("base");
        std::fs::create_dir_all(base_dir.join("sub")).unwrap();
        std::fs::write(base_dir.join("sub/doc.pdf"), b"%PDF-1.4").unwrap();
        std::fs::write(root.join("secret.pdf"), b"%PDF-1.4").unwrap();
        let base = UploadBase::new(base_dir.clone());
        assert_eq!(base.resolve("sub/doc.pdf").unwrap(), base_dir.join("sub/doc.pdf"));
        assert_eq!(base.resolve(base_dir.join("sub/doc.pdf").to_str().unwrap()).unwrap(), base_dir.join("sub/doc.pdf"));
        assert_eq!(base.resolve(root.join("secret.pdf").to_str().unwrap()), Err(PathRejection::Outside));
        assert_eq!(base.resolve("sub"), Err(PathRejection::NotAFile));
        assert!(matches!(base.resolve("missing.pdf"), Err(PathRejection::Unresolvable(_))));
        let (_file, path) = base.open("sub/doc.pdf").unwrap();
        assert_eq!(path, base_dir.join("sub/doc.pdf"));
    }
}
