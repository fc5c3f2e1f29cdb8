use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns.iter().copied()).unwrap_or_else(|e| panic!("{patterns:?}: {e:?}"))
}

#[test]
fn clean_is_go_filepath_clean() {
    for (input, want) in [
        ("", "."),
        (".", "."),
        ("./", "."),
        ("a/", "a"),
        ("a//b", "a/b"),
        ("./a/./b/", "a/b"),
        ("a/../b", "b"),
        ("a/..", "."),
        ("../a", "../a"),
        ("../../a/..", "../.."),
        ("/", "/"),
        ("/..", "/"),
        ("/../a", "/a"),
        ("//a//", "/a"),
        ("!docs/", "!docs"),
        ("**/", "**"),
    ] {
        assert_eq!(clean(input), want, "clean({input:?})");
    }
}

#[test]
fn dockerignore_lines() {
    let text =
        "\u{feff}# comment\n\n  node_modules/  \r\n/abs/path\n!/keep/me\n! spaced \n  # not a comment\n./x/../y\n/\n";
    let got: Vec<(usize, String)> = parse_dockerignore(text);
    let want = [
        (3, "node_modules"),
        (4, "abs/path"),
        (5, "!keep/me"),
        (6, "!spaced"),
        // `#` only starts a comment in the first column.
        (7, "# not a comment"),
        (8, "y"),
        (9, "/"),
    ];
    assert_eq!(got, want.iter().map(|(l, p)| (*l, p.to_string())).collect::<Vec<_>>());
}

/// moby/patternmatcher's TestMatches table (MatchesOrParentMatches), and more.
#[test]
fn single_pattern_table() {
    let table: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        // Go's filepath.Match cases that patternmatcher keeps.
        ("*", "abc", true),
        ("a*", "ab/c", true), // via the parent directory "ab"
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[^c]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a?b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[a-ζ]*", "α", true),
        ("a[\\]]b", "a]b", true),
        // A pattern naming a directory excludes everything under it.
        ("docs", "docs/a/b.txt", true),
        ("docs/", "docs/a", true),
        ("/docs", "docs/a", false), // a leading `/` is stripped by the .dockerignore reader, not here
        ("doc", "docs/a", false),
        // `*.md` is the top level only; `**/*.md` is any depth.
        ("*.md", "README.md", true),
        ("*.md", "docs/README.md", false),
        ("**/*.md", "docs/README.md", true),
        ("**/*.md", "README.md", true),
        ("*/*.md", "docs/README.md", true),
        ("*/*.md", "docs/sub/README.md", false),
        ("node_modules", "node_modules", true),
        ("**/node_modules", "a/b/node_modules/x/y.js", true),
        ("*", "anything/deep/file", true),
        (".git", ".gitignore", false),
    ];
    for (pattern, path, want) in table {
        assert_eq!(matcher(&[pattern]).matches(path), *want, "pattern {pattern:?} vs {path:?}");
    }
}

#[test]
fn multi_pattern_table() {
    let table: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
        (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        // Exceptions re-include files inside excluded directories, at any depth.
        (&["docs", "!docs/sub/keep.txt"], "docs/sub/keep.txt", false),
        (&["docs", "!docs/sub/keep.txt"], "docs/sub/drop.txt", true),
        (&["docs", "!**/keep.txt"], "docs/sub/keep.txt", false),
        // `*.md` then `!README.md`: the top-level README only.
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "CHANGES.md", true),
        (&["*.md", "!README.md"], "docs/README.md", false),
        (&["**/*.md", "!README.md"], "docs/README.md", true),
        (&["**/*.md", "!**/README.md"], "docs/README.md", false),
        // The last matching pattern wins.
        (&["*.log", "!*.log", "*.log"], "a.log", true),
        (&["*.log", "!keep.log", "*.log"], "keep.log", true),
        (&["tmp", "!tmp/keep", "tmp/keep/*.bin"], "tmp/keep/x.bin", true),
        (&["tmp", "!tmp/keep", "tmp/keep/*.bin"], "tmp/keep/x.txt", false),
        (&[], "anything", false),
        (&["", "  "], "anything", false),
    ];
    for (patterns, path, want) in table {
        assert_eq!(matcher(patterns).matches(path), *want, "patterns {patterns:?} vs {path:?}");
    }
}

#[test]
fn pattern_errors() {
    for (patterns, index) in
        [(&["ok", "["][..], 1), (&["!"][..], 0), (&["a\\"][..], 0), (&["[]a]"][..], 0), (&["[a-]"][..], 0)]
    {
        let err = Matcher::new(patterns.iter().copied()).unwrap_err();
        assert_eq!(err.index, index, "{patterns:?}");
    }
    for fine in ["[a]", "[^a-z]", "a]b", "[\\-]", "\\[x"] {
        assert!(Matcher::new([fine]).is_ok(), "{fine:?}");
    }
}

// --- the tar --------------------------------------------------------------------------------------

struct Entry {
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
    link: Option<String>,
    content: Vec<u8>,
}

/// The archive read back with tar::Archive: path -> entry, plus the order of paths.
fn read_back(bytes: &[u8]) -> (BTreeMap<String, Entry>, Vec<String>) {
    let mut archive = tar::Archive::new(bytes);
    let mut map = BTreeMap::new();
    let mut order = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let header = entry.header().clone();
        let link = entry.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        order.push(path.clone());
        let previous = map.insert(
            path.clone(),
            Entry {
                kind: header.entry_type(),
                mode: header.mode().unwrap(),
                mtime: header.mtime().unwrap(),
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                link,
                content,
            },
        );
        assert!(previous.is_none(), "{path} twice");
    }
    (map, order)
}

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

#[test]
fn tar_round_trip_honours_dockerignore() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        ".dockerignore",
        "# ignore docs but one\n*.md\n!README.md\nnode_modules\ndocs\n!docs/sub/keep.txt\n**/*.log\nsecret/**\nDockerfile\n.dockerignore\n",
    );
    write(dir, "Dockerfile", "FROM scratch\nCOPY . /\n");
    write(dir, "README.md", "readme");
    write(dir, "CHANGES.md", "changes");
    write(dir, "app/main.rs", "fn main() {}");
    write(dir, "app/notes.md", "nested md is not matched by *.md");
    write(dir, "app/debug.log", "log");
    write(dir, "node_modules/x/index.js", "js");
    write(dir, "docs/a.txt", "a");
    write(dir, "docs/sub/keep.txt", "keep");
    write(dir, "docs/sub/drop.txt", "drop");
    write(dir, "secret/key", "k");
    write(dir, "bin/run.sh", "#!/bin/sh\n");
    write(dir, "private", "p");
    fs::set_permissions(dir.join("bin/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
    symlink("app/main.rs", dir.join("link-to-main")).unwrap();
    symlink("/nowhere/at/all", dir.join("dangling")).unwrap();
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options().write(true).open(dir.join("app/main.rs")).unwrap().set_modified(mtime).unwrap();

    let context = context_tar(dir, "Dockerfile", None).unwrap();
    assert_eq!(context.dockerfile, "Dockerfile");
    let (entries, order) = read_back(&context.bytes);
    let names: Vec<&str> = order.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            "Dockerfile",
            "README.md",
            "app/",
            "app/main.rs",
            "app/notes.md",
            "bin/",
            "bin/run.sh",
            "dangling",
            "docs/sub/keep.txt",
            "link-to-main",
            "private",
            // `secret/**` matches what is under secret/, not the directory itself.
            "secret/",
        ],
        "walk order: each directory sorted, excluded directories without their own entry"
    );
    assert_eq!(context.files, names.iter().filter(|n| !n.ends_with('/')).count());

    assert_eq!(entries["Dockerfile"].content, b"FROM scratch\nCOPY . /\n");
    assert_eq!(entries["docs/sub/keep.txt"].content, b"keep");
    assert_eq!(entries["app/"].kind, tar::EntryType::Directory);
    assert_eq!(entries["bin/run.sh"].mode, 0o755);
    assert_eq!(entries["private"].mode, 0o600);
    assert_eq!(entries["app/main.rs"].mtime, 1_600_000_000);
    let link = &entries["link-to-main"];
    assert_eq!((link.kind, link.link.as_deref()), (tar::EntryType::Symlink, Some("app/main.rs")));
    assert_eq!(entries["dangling"].link.as_deref(), Some("/nowhere/at/all"));
    for (path, entry) in &entries {
        assert_eq!((entry.uid, entry.gid), (0, 0), "{path}");
    }
    // Deterministic: the same directory gives the same bytes.
    assert_eq!(context_tar(dir, "Dockerfile", None).unwrap().bytes, context.bytes);
}

#[test]
fn exception_with_wildcard_does_not_reopen_an_excluded_directory() {
    // moby only walks into an excluded directory when an exception starts with its path literally.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, ".dockerignore", "docs\n!**/keep.txt\n");
    write(dir, "Dockerfile", "FROM scratch\n");
    write(dir, "docs/keep.txt", "k");
    write(dir, "other/keep.txt", "k");
    let (entries, _) = read_back(&context_tar(dir, "", None).unwrap().bytes);
    assert!(!entries.contains_key("docs/keep.txt"));
    assert!(entries.contains_key("other/keep.txt"));
}

#[test]
fn nested_dockerfile_is_kept_inside_an_excluded_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, ".dockerignore", "build\n");
    write(dir, "build/docker/Dockerfile.prod", "FROM scratch\n");
    write(dir, "build/docker/other", "x");
    let context = context_tar(dir, "./build/docker/../docker/Dockerfile.prod", None).unwrap();
    assert_eq!(context.dockerfile, "build/docker/Dockerfile.prod");
    let (_, order) = read_back(&context.bytes);
    assert_eq!(order, [".dockerignore", "build/docker/Dockerfile.prod"]);
    assert_eq!(context.files, 2);
}

#[test]
fn inline_dockerfile_is_added_and_hidden_from_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, ".dockerignore", "*.tmp");
    write(dir, "a.tmp", "x");
    write(dir, "b.txt", "y");
    // A file of the same name in the context is replaced by ours.
    write(dir, INLINE_DOCKERFILE, "stale");
    let context = context_tar(dir, "ignored-when-inline", Some("FROM scratch\nCOPY b.txt /\n")).unwrap();
    assert_eq!(context.dockerfile, INLINE_DOCKERFILE);
    let (entries, order) = read_back(&context.bytes);
    assert_eq!(order, [".dockerignore", "b.txt", INLINE_DOCKERFILE]);
    assert_eq!(entries[INLINE_DOCKERFILE].content, b"FROM scratch\nCOPY b.txt /\n");
    assert_eq!(entries[".dockerignore"].content, format!("*.tmp\n{INLINE_DOCKERFILE}\n").as_bytes());
    assert_eq!(context.files, 3);

    // Without a .dockerignore one is created for the daemon.
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "b.txt", "y");
    let context = context_tar(tmp.path(), "", Some("FROM scratch\n")).unwrap();
    let (entries, order) = read_back(&context.bytes);
    assert_eq!(order, ["b.txt", ".dockerignore", INLINE_DOCKERFILE]);
    assert_eq!(entries[".dockerignore"].content, format!("\n{INLINE_DOCKERFILE}\n").as_bytes());
}

#[test]
fn dockerfile_outside_the_context_is_copied_in() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "Dockerfile.shared", "FROM scratch\n");
    write(tmp.path(), "ctx/file", "f");
    let ctx = tmp.path().join("ctx");
    let context = context_tar(&ctx, "../Dockerfile.shared", None).unwrap();
    assert_eq!(context.dockerfile, EXTERNAL_DOCKERFILE);
    let (entries, _) = read_back(&context.bytes);
    assert_eq!(entries[EXTERNAL_DOCKERFILE].content, b"FROM scratch\n");
    assert!(entries.contains_key("file"));
    // Absolute paths inside the context are relative names.
    let inside = tmp.path().join("ctx/sub/Dockerfile");
    write(tmp.path(), "ctx/sub/Dockerfile", "FROM scratch\n");
    assert_eq!(context_tar(&ctx, inside.to_str().unwrap(), None).unwrap().dockerfile, "sub/Dockerfile");
}

#[test]
fn default_dockerfile_and_lowercase_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "dockerfile", "FROM scratch\n");
    assert_eq!(context_tar(tmp.path(), "", None).unwrap().dockerfile, "dockerfile");
    let err = context_tar(tmp.path(), "Dockerfile.missing", None).unwrap_err();
    assert!(matches!(&err, BuildError::MissingDockerfile { path } if path.ends_with("Dockerfile.missing")), "{err}");
}

#[test]
fn errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    let err = context_tar(&missing, "", Some("FROM scratch\n")).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");

    // A .dockerignore that cannot be read (a directory: fails even for root).
    fs::create_dir(tmp.path().join(".dockerignore")).unwrap();
    let err = context_tar(tmp.path(), "", Some("FROM scratch\n")).unwrap_err();
    assert!(matches!(&err, BuildError::Read { path, .. } if path.ends_with(".dockerignore")), "{err}");
    assert!(err.to_string().contains(".dockerignore"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), ".dockerignore", "ok\n\n[oops\n");
    let err = context_tar(tmp.path(), "", Some("FROM scratch\n")).unwrap_err();
    assert!(matches!(&err, BuildError::Pattern { line: 3, .. }), "{err}");
    assert!(err.to_string().contains(".dockerignore:3"), "{err}");
}

#[test]
fn long_names_and_hard_links() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let long = format!("{}/{}.txt", "d".repeat(80), "f".repeat(120));
    write(dir, &long, "long");
    write(dir, "Dockerfile", "FROM scratch\n");
    fs::hard_link(dir.join("Dockerfile"), dir.join("Dockerfile.copy")).unwrap();
    let target = "t".repeat(150);
    symlink(&target, dir.join("long-link")).unwrap();
    let (entries, _) = read_back(&context_tar(dir, "", None).unwrap().bytes);
    assert_eq!(entries[&long].content, b"long");
    assert_eq!(entries["long-link"].link.as_deref(), Some(target.as_str()));
    let copy = &entries["Dockerfile.copy"];
    assert_eq!((copy.kind, copy.link.as_deref()), (tar::EntryType::Link, Some("Dockerfile")));
}
