//! A build context as the docker CLI sends it to the legacy builder: the directory as a tar, minus what
//! `.dockerignore` excludes (moby/patternmatcher semantics, walked as moby's `archive.TarWithOptions`
//! walks), the Dockerfile and `.dockerignore` always included, uid/gid 0.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The name `dockerfile_inline` content gets in the context (and the `dockerfile` to pass the builder).
pub const INLINE_DOCKERFILE: &str = ".tug-dockerfile-inline";
/// The name a Dockerfile from outside the context gets inside it (the docker CLI does the same with
/// `.dockerfile.<random>`).
pub const EXTERNAL_DOCKERFILE: &str = ".tug-dockerfile-external";
const DOCKERIGNORE: &str = ".dockerignore";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}: invalid pattern {pattern:?}: {message}", path.display())]
    Pattern { path: PathBuf, line: usize, pattern: String, message: String },
    #[error("cannot locate the Dockerfile {}", path.display())]
    MissingDockerfile { path: PathBuf },
    #[error("cannot add {} to the build context: {source}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A build context ready for the Engine API's `POST /build`.
#[derive(Debug, Clone)]
pub struct ContextTar {
    /// An uncompressed tar.
    pub bytes: Vec<u8>,
    /// The `dockerfile` parameter for the builder: a slash path inside the context.
    pub dockerfile: String,
    /// Entries that are not directories (files, symlinks, …), the generated Dockerfile included.
    pub files: usize,
}

/// Tars `dir` for a build: `.dockerignore` honoured as Docker honours it, `dockerfile` (relative to
/// `dir`, or absolute; "" means `Dockerfile`) always sent. `inline` (compose `dockerfile_inline`) is
/// sent as [`INLINE_DOCKERFILE`] instead. Entries are in walk order (each directory sorted by name),
/// with their modes, mtimes and symlinks kept and uid/gid 0.
pub fn context_tar(dir: &Path, dockerfile: &str, inline: Option<&str>) -> Result<ContextTar, BuildError> {
    let ignore_path = dir.join(DOCKERIGNORE);
    let mut patterns: Vec<(usize, String)> = match fs::read(&ignore_path) {
        Ok(bytes) => parse_dockerignore(&String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(BuildError::Read { path: ignore_path, source }),
    };
    let matcher = Matcher::new(patterns.iter().map(|(_, p)| p.as_str())).map_err(|e| {
        let (line, pattern) = patterns[e.index].clone();
        BuildError::Pattern { path: ignore_path.clone(), line, pattern, message: e.message }
    })?;

    // Where the Dockerfile comes from: inside the context (sent as is), or generated content.
    let (dockerfile_name, generated) = match inline {
        Some(text) => (INLINE_DOCKERFILE.to_string(), Some(text.as_bytes().to_vec())),
        None => match locate_dockerfile(dir, dockerfile)? {
            Located::Inside(rel) => (rel, None),
            Located::Outside(path) => {
                let bytes = fs::read(&path).map_err(|source| BuildError::Read { path, source })?;
                (EXTERNAL_DOCKERFILE.to_string(), Some(bytes))
            }
        },
    };

    // As the docker CLI's TrimBuildFilesFromExcludes: the builder must see these even when ignored (the
    // daemon drops them from what COPY sees again, as it reads the same .dockerignore).
    let mut extra = Vec::new();
    if matcher.matches(DOCKERIGNORE) {
        extra.push(format!("!{DOCKERIGNORE}"));
    }
    if generated.is_none() && matcher.matches(&dockerfile_name) {
        extra.push(format!("!{}", escape_glob(&dockerfile_name)));
    }
    let matcher = if extra.is_empty() {
        matcher
    } else {
        patterns.extend(extra.into_iter().map(|p| (0, p)));
        Matcher::new(patterns.iter().map(|(_, p)| p.as_str())).map_err(|e| BuildError::Pattern {
            path: ignore_path.clone(),
            line: patterns[e.index].0,
            pattern: patterns[e.index].1.clone(),
            message: e.message,
        })?
    };

    let mut tar = TarWriter {
        builder: tar::Builder::new(Vec::new()),
        files: 0,
        hardlinks: HashMap::new(),
        // A generated Dockerfile is listed in .dockerignore so the daemon hides it from COPY, as
        // the docker CLI's AddDockerfileToBuildContext does.
        generated_name: generated.as_ref().map(|_| dockerfile_name.clone()),
        dockerignore_written: false,
    };
    walk(&mut tar, &matcher, dir, "", &[])?;

    if let Some(content) = generated {
        if !tar.dockerignore_written {
            let mut text = match fs::read(&ignore_path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(source) => return Err(BuildError::Read { path: ignore_path, source }),
            };
            text.extend_from_slice(format!("\n{dockerfile_name}\n").as_bytes());
            tar.append_generated(DOCKERIGNORE, &text)?;
        }
        tar.append_generated(&dockerfile_name, &content)?;
    }
    let files = tar.files;
    let bytes = tar.builder.into_inner().map_err(|source| BuildError::Archive { path: dir.to_path_buf(), source })?;
    Ok(ContextTar { bytes, dockerfile: dockerfile_name, files })
}

enum Located {
    /// A slash path relative to the context.
    Inside(String),
    Outside(PathBuf),
}

fn locate_dockerfile(dir: &Path, dockerfile: &str) -> Result<Located, BuildError> {
    let defaulted = dockerfile.is_empty();
    let name = if defaulted { "Dockerfile" } else { dockerfile };
    let mut path = if Path::new(name).is_absolute() { PathBuf::from(name) } else { dir.join(name) };
    // Like the docker CLI: the default `Dockerfile` may be spelled `dockerfile`.
    if defaulted && !path.exists() && dir.join("dockerfile").is_file() {
        path = dir.join("dockerfile");
    }
    if !path.is_file() {
        return Err(BuildError::MissingDockerfile { path });
    }
    let clean_dir = lexical_clean(&absolute(dir));
    let clean_file = lexical_clean(&absolute(&path));
    match clean_file.strip_prefix(&clean_dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => {
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            Ok(Located::Inside(parts.join("/")))
        }
        _ => Ok(Located::Outside(path)),
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// `.` and `..` resolved without touching the filesystem (as Go's filepath.Clean).
fn lexical_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A literal file name as a pattern (so a Dockerfile named `a[1]` cannot become a syntax error).
fn escape_glob(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
    files: usize,
    /// (device, inode) -> the first path written, for hard links.
    hardlinks: HashMap<(u64, u64), String>,
    generated_name: Option<String>,
    dockerignore_written: bool,
}

impl TarWriter {
    fn header(kind: tar::EntryType, meta: &Metadata) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        // Permission bits plus setuid/setgid/sticky, as Go's FileInfoHeader keeps them.
        header.set_mode(meta.mode() & 0o7777);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        header
    }

    fn append(&mut self, abs: &Path, rel: &str, meta: &Metadata) -> Result<(), BuildError> {
        let archive_err = |source| BuildError::Archive { path: abs.to_path_buf(), source };
        let file_type = meta.file_type();
        if file_type.is_dir() {
            let mut header = Self::header(tar::EntryType::Directory, meta);
            return self.builder.append_data(&mut header, format!("{rel}/"), io::empty()).map_err(archive_err);
        }
        if file_type.is_symlink() {
            let target = fs::read_link(abs).map_err(|source| BuildError::Read { path: abs.to_path_buf(), source })?;
            let mut header = Self::header(tar::EntryType::Symlink, meta);
            self.builder.append_link(&mut header, rel, &target).map_err(archive_err)?;
        } else if file_type.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = self.hardlinks.get(&(meta.dev(), meta.ino())) {
                    let mut header = Self::header(tar::EntryType::Link, meta);
                    let first = first.clone();
                    self.builder.append_link(&mut header, rel, &first).map_err(archive_err)?;
                    self.files += 1;
                    return Ok(());
                }
                self.hardlinks.insert((meta.dev(), meta.ino()), rel.to_string());
            }
            let mut content = fs::read(abs).map_err(|source| BuildError::Read { path: abs.to_path_buf(), source })?;
            if rel == DOCKERIGNORE {
                self.dockerignore_written = true;
                if let Some(name) = &self.generated_name {
                    content.extend_from_slice(format!("\n{name}\n").as_bytes());
                }
            }
            let mut header = Self::header(tar::EntryType::Regular, meta);
            header.set_size(content.len() as u64);
            self.builder.append_data(&mut header, rel, content.as_slice()).map_err(archive_err)?;
        } else if file_type.is_fifo() || file_type.is_char_device() || file_type.is_block_device() {
            let kind = if file_type.is_fifo() {
                tar::EntryType::Fifo
            } else if file_type.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut header = Self::header(kind, meta);
            if !file_type.is_fifo() {
                let (major, minor) = device_numbers(meta.rdev());
                header.set_device_major(major).map_err(archive_err)?;
                header.set_device_minor(minor).map_err(archive_err)?;
            }
            self.builder.append_data(&mut header, rel, io::empty()).map_err(archive_err)?;
        } else {
            // Sockets: moby skips them too.
            return Ok(());
        }
        self.files += 1;
        Ok(())
    }

    fn append_generated(&mut self, name: &str, content: &[u8]) -> Result<(), BuildError> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(content.len() as u64);
        self.builder
            .append_data(&mut header, name, content)
            .map_err(|source| BuildError::Archive { path: PathBuf::from(name), source })?;
        self.files += 1;
        Ok(())
    }
}

/// Linux's `major()` / `minor()` of a `dev_t`.
fn device_numbers(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (u32::try_from(major).unwrap_or(u32::MAX), u32::try_from(minor).unwrap_or(u32::MAX))
}

/// moby's TarWithOptions walk: depth first, each directory sorted by name; a directory that matches is
/// skipped unless an exception pattern names a path under it (a literal prefix test, as moby's), and then
/// only its entries that are re-included are sent (without the directory's own entry).
fn walk(
    tar: &mut TarWriter,
    matcher: &Matcher,
    abs_dir: &Path,
    rel_dir: &str,
    parent: &[bool],
) -> Result<(), BuildError> {
    let read_err = |source| BuildError::Read { path: abs_dir.to_path_buf(), source };
    let mut entries = fs::read_dir(abs_dir)
        .map_err(read_err)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in entries {
        let abs = abs_dir.join(&name);
        // Matching sees a lossy UTF-8 name; the tar keeps the exact bytes only where they are UTF-8.
        let name = name.to_string_lossy();
        let rel = if rel_dir.is_empty() { name.into_owned() } else { format!("{rel_dir}/{name}") };
        if rel_dir.is_empty() && tar.generated_name.as_deref() == Some(rel.as_str()) {
            // Our generated Dockerfile takes this name.
            continue;
        }
        let meta = fs::symlink_metadata(&abs).map_err(|source| BuildError::Read { path: abs.clone(), source })?;
        let (skip, info) = matcher.matches_with_parent(&rel, parent);
        let is_dir = meta.file_type().is_dir();
        if skip {
            if is_dir && matcher.has_exception_under(&rel) {
                walk(tar, matcher, &abs, &rel, &info)?;
            }
            continue;
        }
        tar.append(&abs, &rel, &meta)?;
        if is_dir {
            walk(tar, matcher, &abs, &rel, &info)?;
        }
    }
    Ok(())
}

/// The patterns of a `.dockerignore` with their line numbers, as moby's ignorefile.ReadAll reads them:
/// BOM stripped, `#` lines skipped (before trimming), blank lines skipped, each pattern trimmed and
/// cleaned (filepath.Clean), a leading `/` dropped, `!` kept in front.
pub fn parse_dockerignore(text: &str) -> Vec<(usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push((index + 1, if invert { format!("!{cleaned}") } else { cleaned }));
    }
    out
}

/// Go's `path/filepath.Clean` for slash paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// A bad pattern: its index among the patterns given to [`Matcher::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub index: usize,
    pub message: String,
}

/// moby/patternmatcher's PatternMatcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exclusion: bool,
    kind: Kind,
}

/// moby's match types: exact, prefix (`dir/**`), suffix (`**/name`), else a regular expression, here
/// as a token list.
#[derive(Debug, Clone)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Token>),
}

#[derive(Debug, Clone)]
enum Token {
    Literal(char),
    /// `*`: `[^/]*`
    Star,
    /// `?`: `[^/]`
    Any,
    /// `**` before more pattern: `(.*/)?`
    Dirs,
    /// `**` at the end: `.*`
    Rest,
    /// `[...]` / `[^...]`
    Class(Class),
}

#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    /// Inclusive; a single character is a range of one.
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

impl Matcher {
    /// Patterns as in a `.dockerignore` (`!` for exceptions); whitespace trimmed, cleaned, empty ones
    /// dropped. Syntax as Go's filepath.Match (an unclosed `[` or a trailing `\` is an error).
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Matcher, PatternError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for (index, raw) in patterns.into_iter().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut text = clean(trimmed);
            let exclusion = text.starts_with('!');
            if exclusion {
                if text.len() == 1 {
                    return Err(PatternError { index, message: "illegal exclusion pattern: \"!\"".into() });
                }
                text.remove(0);
                exclusions = true;
            }
            validate(&text).map_err(|message| PatternError { index, message })?;
            let kind = compile(&text);
            out.push(Pattern { text, exclusion, kind });
        }
        Ok(Matcher { patterns: out, exclusions })
    }

    /// Whether `path` (a slash path relative to the context) is excluded: the last pattern that matches
    /// it or one of its parent directories wins (MatchesOrParentMatches).
    pub fn matches(&self, path: &str) -> bool {
        self.matches_with_parent(&clean(path), &[]).0
    }

    /// moby's MatchesUsingParentResults: `parent` is what the parent directory's call returned (empty at
    /// the top, or when unknown: then parent directories are tested one by one).
    fn matches_with_parent(&self, path: &str, parent: &[bool]) -> (bool, Vec<bool>) {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.get(i).copied().unwrap_or(false);
            if !hit {
                // An inclusion cannot change an already excluded path, nor an exception an included one.
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(path);
                if !hit && parent.is_empty() {
                    if let Some((dir, _)) = path.rsplit_once('/') {
                        let mut end = 0;
                        for part in dir.split('/') {
                            end += part.len();
                            if pattern.matches(&dir[..end]) {
                                hit = true;
                                break;
                            }
                            end += 1;
                        }
                    }
                }
            }
            info[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether an exception pattern names a path under directory `dir` (moby's literal prefix test).
    fn has_exception_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.exclusions && self.patterns.iter().any(|p| p.exclusion && format!("{}/", p.text).starts_with(&dir_slash))
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Tokens(tokens) => match_tokens(tokens, path),
        }
    }
}

/// Go's filepath.Match syntax check: classes closed and non-empty, ranges complete, no trailing `\`.
fn validate(pattern: &str) -> Result<(), String> {
    let bad = || Err("syntax error in pattern".to_string());
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return bad();
                }
                i += 2;
            }
            '[' => match parse_class(&chars, i + 1) {
                Some((_, next)) => i = next,
                None => return bad(),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses a class body starting after `[`: the class and the index after its `]`; None when malformed.
fn parse_class(chars: &[char], mut i: usize) -> Option<(Class, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Class { negated, ranges }, i + 1));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// Go's getEsc: one (possibly `\`-escaped) class character; `-` and `]` unescaped are errors.
fn class_char(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars.get(i)? {
        '-' | ']' => None,
        '\\' => chars.get(i + 1).map(|c| (*c, i + 2)),
        c => Some((*c, i + 1)),
    }
}

/// moby's Pattern.compile, with its match-type detection.
fn compile(pattern: &str) -> Kind {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut detected = Detected::Exact;
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut step = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::Rest);
                        detected = Detected::Regexp;
                    }
                } else {
                    tokens.push(Token::Dirs);
                    detected = Detected::Regexp;
                }
                if step == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                detected = Detected::Regexp;
            }
            '?' => {
                tokens.push(Token::Any);
                detected = Detected::Regexp;
            }
            '\\' => {
                if let Some(next) = chars.get(i) {
                    tokens.push(Token::Literal(*next));
                    i += 1;
                    detected = Detected::Regexp;
                } else {
                    tokens.push(Token::Literal('\\'));
                }
            }
            '[' => {
                // Validated already; a malformed class cannot get here.
                if let Some((class, next)) = parse_class(&chars, i) {
                    tokens.push(Token::Class(class));
                    i = next;
                } else {
                    tokens.push(Token::Literal('['));
                }
                detected = Detected::Regexp;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                detected = Detected::Regexp;
            }
            other => tokens.push(Token::Literal(other)),
        }
        step += 1;
    }
    match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Regexp => Kind::Tokens(tokens),
    }
}

/// The tokens against the whole of `path` (an anchored regexp): the set of reachable positions,
/// token by token, so no pattern can backtrack exponentially.
fn match_tokens(tokens: &[Token], path: &str) -> bool {
    let s: Vec<char> = path.chars().collect();
    let n = s.len();
    let mut current = vec![false; n + 1];
    current[0] = true;
    for token in tokens {
        let mut next = vec![false; n + 1];
        for p in (0..=n).filter(|&p| current[p]) {
            match token {
                Token::Literal(c) => {
                    if s.get(p) == Some(c) {
                        next[p + 1] = true;
                    }
                }
                Token::Any => {
                    if s.get(p).is_some_and(|c| *c != '/') {
                        next[p + 1] = true;
                    }
                }
                Token::Class(class) => {
                    if s.get(p).is_some_and(|c| class.matches(*c)) {
                        next[p + 1] = true;
                    }
                }
                Token::Star => {
                    next[p] = true;
                    let mut q = p;
                    while q < n && s[q] != '/' {
                        q += 1;
                        next[q] = true;
                    }
                }
                // Go's `.` does not match a newline.
                Token::Rest => {
                    next[p] = true;
                    let mut q = p;
                    while q < n && s[q] != '\n' {
                        q += 1;
                        next[q] = true;
                    }
                }
                Token::Dirs => {
                    next[p] = true;
                    let mut q = p;
                    while q < n && s[q] != '\n' {
                        if s[q] == '/' {
                            next[q + 1] = true;
                        }
                        q += 1;
                    }
                }
            }
        }
        current = next;
    }
    current[n]
}
