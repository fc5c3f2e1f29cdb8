//! The fuzz target of the upload path validator (`fuzz/`), also replayed over the committed corpus by
//! `tests/fuzz_corpus.rs`. Not an API: hidden from the docs and used by the fuzz crate and the test only.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use crate::paths::UploadBase;

/// A client's path against a fixed tree (files, symlinks in and out, a loop, a sibling named like a
/// prefix of the base, unicode names). A leading `@` stands for the base's absolute path and `@@` for its
/// parent, so absolute paths reach the tree too. An accepted path is a canonical regular file inside the
/// base, its text has no `..`, NUL or control character, and opening it gives that same file.
pub fn upload_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(tree) = tree() else { panic!("cannot build the upload tree in {}", std::env::temp_dir().display()) };
    let requested = match text.strip_prefix("@@") {
        Some(rest) => format!("{}{rest}", tree.parent.display()),
        None => match text.strip_prefix('@') {
            Some(rest) => format!("{}{rest}", tree.base.root().display()),
            None => text.to_string(),
        },
    };
    let Ok(resolved) = tree.base.resolve(&requested) else { return };
    let root = tree.base.root();
    assert!(resolved.starts_with(root), "{requested:?} resolved outside the base: {}", resolved.display());
    assert!(resolved != root, "{requested:?} resolved to the base itself");
    assert_eq!(
        std::fs::canonicalize(&resolved).ok().as_ref(),
        Some(&resolved),
        "{} is not canonical",
        resolved.display()
    );
    let is_file = std::fs::symlink_metadata(&resolved).is_ok_and(|m| m.file_type().is_file());
    assert!(is_file, "{requested:?} resolved to {}, no regular file", resolved.display());
    assert!(!Path::new(&requested).components().any(|c| c == Component::ParentDir), "{requested:?} has `..`");
    assert!(!requested.chars().any(char::is_control), "{requested:?} has a NUL or control character");
    match tree.base.open(&requested) {
        Ok((file, opened)) => {
            assert_eq!(opened, resolved, "{requested:?} opened another path");
            let same = match (file.metadata(), std::fs::metadata(&resolved)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            assert!(same, "{requested:?} opened another file than {}", resolved.display());
        }
        Err(e) => panic!("{requested:?} resolved to {} but does not open: {e}", resolved.display()),
    }
}

struct Tree {
    parent: PathBuf,
    base: UploadBase,
}

/// The tree, built once per process under the temporary directory.
fn tree() -> Option<&'static Tree> {
    static TREE: OnceLock<Option<Tree>> = OnceLock::new();
    TREE.get_or_init(|| build_tree().ok()).as_ref()
}

fn build_tree() -> std::io::Result<Tree> {
    use std::os::unix::fs::symlink;
    let parent = std::env::temp_dir().join(format!("ocr-sidecar-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&parent);
    let base = parent.join("uploads");
    std::fs::create_dir_all(base.join("sub/deeper"))?;
    std::fs::create_dir_all(parent.join("uploads-sibling"))?;
    for file in ["doc.pdf", "sub/inner.pdf", "sub/deeper/x.png", "ünï cødé.pdf", "100% done.pdf", "a..b.pdf"] {
        std::fs::write(base.join(file), b"%PDF-1.4")?;
    }
    std::fs::write(parent.join("secret.pdf"), b"secret")?;
    std::fs::write(parent.join("uploads-sibling/x.pdf"), b"sibling")?;
    symlink("doc.pdf", base.join("link-in.pdf"))?;
    symlink("../secret.pdf", base.join("link-out.pdf"))?;
    symlink(parent.join("uploads-sibling/x.pdf"), base.join("link-sibling.pdf"))?;
    symlink("/etc/passwd", base.join("link-abs.pdf"))?;
    symlink("loop-b", base.join("loop-a"))?;
    symlink("loop-a", base.join("loop-b"))?;
    symlink("sub", base.join("dir-link"))?;
    symlink("..", base.join("sub/up"))?;
    symlink("../..", base.join("sub/up-out"))?;
    symlink("missing.pdf", base.join("dangling.pdf"))?;
    let parent = std::fs::canonicalize(parent)?;
    Ok(Tree { base: UploadBase::new(parent.join("uploads")), parent })
}
