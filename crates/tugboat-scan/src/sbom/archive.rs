//! Image archives: `docker save` / Engine API `GET /images/{name}/get` (a tar of a manifest, a config and
//! layer tars: Docker's `manifest.json` format and the OCI layout newer engines write, `index.json` and
//! `blobs/sha256/`), and a container's filesystem export (`docker export`, one tar).
//!
//! Memory stays bounded whatever the image's size: the outer tar is read once, front to back; entries up to
//! 256 KiB (manifests, configs, small layers) stay in memory, bigger ones (layer tars) are spilled to a temp
//! dir, because Docker 20.10 writes manifest.json after the layers and the layer order is only known then.
//! Layers are then streamed in order; of their files only those the readers need are kept (os-release,
//! the package databases, lockfiles, each capped) and ELF files are spooled (1 MiB in memory, then a temp
//! file) up to their section header table to read `.dep-v0`, keeping only the crates found.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::path::PathBuf;

use super::{apk, auditable, dpkg, lockfiles, OsRelease, Package, Sbom, SbomError};

/// Package databases and lockfiles (this machine's dpkg status is under 1 MiB; a big monorepo's
/// package-lock.json is tens of MiB).
const MAX_TEXT: u64 = 64 << 20;
const MAX_OS_RELEASE: u64 = 64 << 10;
/// ELF files bigger than this are not looked into (debug builds of huge programs).
const MAX_ELF: u64 = 512 << 20;
/// manifest.json, index.json, configs and OCI manifests are read whole.
const MAX_META: u64 = 16 << 20;
/// Outer-tar entries up to this size stay in memory; bigger ones go to the temp dir.
const IN_MEMORY: u64 = 256 << 10;
/// An ELF file is spooled in memory up to this size, then on disk.
const SPOOL_IN_MEMORY: usize = 1 << 20;

/// A `docker save` / Engine API `GET /images/{name}/get` archive: manifest.json's Config and Layers (Docker's format,
/// and the OCI layout newer engines write: index.json + blobs/sha256/), layers applied in order, whiteouts honoured
/// (`.wh.NAME` removes NAME and everything under it from earlier layers; `.wh..wh..opq` empties the directory of
/// earlier layers' entries). Streams: never holds a layer or the whole filesystem in memory — only the files the
/// readers need (the package databases, os-release, lockfiles, and ELF files' `.dep-v0` sections), each capped in size.
pub fn from_image_archive(image: &str, archive: impl Read) -> Result<Sbom, SbomError> {
    let spill = tempfile::tempdir().map_err(SbomError::io("creating a temp dir for the image's layers"))?;
    let mut blobs: HashMap<String, Blob> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut outer = tar::Archive::new(archive);
    let entries = outer.entries().map_err(SbomError::io("image archive: not a tar archive"))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry.map_err(SbomError::io("image archive: reading the tar"))?;
        let Some(path) = normalize(&String::from_utf8_lossy(&entry.path_bytes())) else { continue };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            // `docker save` stores a layer shared by two images once, the second `layer.tar` a symlink to it.
            let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            let target = if kind.is_symlink() { relative_to(&path, &target) } else { normalize(&target) };
            if let Some(t) = target {
                links.insert(path, t);
            }
            continue;
        }
        if !kind.is_file() && kind != tar::EntryType::Continuous {
            continue;
        }
        let blob = if entry.size() <= IN_MEMORY {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut buf).map_err(SbomError::io(format!("image archive: reading {path}")))?;
            Blob::Memory(buf)
        } else {
            let file = spill.path().join(i.to_string());
            let mut out =
                File::create(&file).map_err(SbomError::io(format!("spilling {path} to {}", file.display())))?;
            io::copy(&mut entry, &mut out).map_err(SbomError::io(format!("spilling {path} to {}", file.display())))?;
            out.flush().map_err(SbomError::io(format!("spilling {path}")))?;
            Blob::File(file)
        };
        blobs.insert(path, blob);
    }
    let outer = Outer { blobs, links };
    let (image_id, layers) = if outer.get("manifest.json").is_some() {
        docker_manifest(&outer, image)?
    } else if outer.get("index.json").is_some() {
        oci_index(&outer, image)?
    } else {
        return Err(SbomError::Archive("no manifest.json or index.json: not a `docker save` archive".into()));
    };
    let mut state = FsState::default();
    for (n, layer) in layers.iter().enumerate() {
        let name = format!("layer {} of {} ({layer})", n + 1, layers.len());
        let Some(blob) = outer.get(layer) else {
            return Err(SbomError::Archive(format!("the manifest names {layer}, which the archive does not hold")));
        };
        let reader = blob.open().map_err(SbomError::io(format!("opening {name}")))?;
        let mut reader = BufReader::new(reader);
        let magic = reader.fill_buf().map_err(SbomError::io(format!("reading {name}")))?;
        if magic.starts_with(&[0x1f, 0x8b]) {
            apply_layer(&mut state, flate2::read::MultiGzDecoder::new(reader), &name)?;
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(SbomError::Archive(format!(
                "{name} is zstd-compressed, which tug does not read: save the image from an engine that writes gzip or \
                 uncompressed layers (`docker save`)"
            )));
        } else {
            apply_layer(&mut state, reader, &name)?;
        }
    }
    finish(image, image_id, &state)
}

/// A container's filesystem export (`docker export`, one tar, no layers).
pub fn from_filesystem_archive(image: &str, archive: impl Read) -> Result<Sbom, SbomError> {
    let mut state = FsState::default();
    apply_layer(&mut state, archive, "filesystem archive")?;
    finish(image, None, &state)
}

enum Blob {
    Memory(Vec<u8>),
    File(PathBuf),
}

impl Blob {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Blob::Memory(b) => Box::new(Cursor::new(b.as_slice())),
            Blob::File(p) => Box::new(File::open(p)?),
        })
    }
}

/// The outer tar's files, and its links (followed when a path is looked up).
struct Outer {
    blobs: HashMap<String, Blob>,
    links: HashMap<String, String>,
}

impl Outer {
    fn get(&self, path: &str) -> Option<&Blob> {
        let mut p = normalize(path)?;
        for _ in 0..16 {
            if let Some(b) = self.blobs.get(&p) {
                return Some(b);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    fn json(&self, path: &str) -> Result<serde_json::Value, SbomError> {
        let Some(blob) = self.get(path) else {
            return Err(SbomError::Archive(format!("{path} is not in the archive")));
        };
        let mut text = Vec::new();
        let reader = blob.open().map_err(SbomError::io(format!("image archive: opening {path}")))?;
        reader.take(MAX_META + 1).read_to_end(&mut text).map_err(SbomError::io(format!("image archive: {path}")))?;
        if text.len() as u64 > MAX_META {
            return Err(SbomError::TooLarge {
                path: path.into(),
                size: text.len() as u64,
                cap: MAX_META,
                what: "JSON",
            });
        }
        serde_json::from_slice(&text).map_err(|e| SbomError::Archive(format!("{path}: not JSON: {e}")))
    }
}

/// Docker's manifest.json: `[{"Config": "<id>.json", "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}]`; the
/// entry tagged `image` when the archive holds several. Returns the image ID and the layer paths in order.
fn docker_manifest(outer: &Outer, image: &str) -> Result<(Option<String>, Vec<String>), SbomError> {
    let doc = outer.json("manifest.json")?;
    let Some(list) = doc.as_array().filter(|l| !l.is_empty()) else {
        return Err(SbomError::Archive("manifest.json: not a non-empty array of images".into()));
    };
    let tagged = |m: &&serde_json::Value| {
        m.get("RepoTags").and_then(|t| t.as_array()).is_some_and(|t| t.iter().any(|t| t.as_str() == Some(image)))
    };
    let (index, entry) = list.iter().enumerate().find(|(_, m)| tagged(m)).unwrap_or((0, &list[0]));
    let Some(layers) = entry.get("Layers").and_then(|l| l.as_array()) else {
        return Err(SbomError::Archive(format!("manifest.json[{index}]: no Layers array")));
    };
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let Some(l) = l.as_str() else {
            return Err(SbomError::Archive(format!("manifest.json[{index}].Layers[{i}]: not a string")));
        };
        paths.push(l.to_string());
    }
    // The config's file name is its digest: `<hex>.json` (Docker) or `blobs/sha256/<hex>` (Docker 25+).
    let image_id = entry.get("Config").and_then(|c| c.as_str()).and_then(|c| {
        let hex = c.strip_prefix("blobs/sha256/").or_else(|| c.strip_suffix(".json"))?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
    });
    Ok((image_id, paths))
}

/// The OCI image layout: index.json's manifest (the one named `image`, else the first; an index within is
/// followed to its linux/amd64 manifest, else its first), whose config digest is the image ID and whose
/// layers are the blobs to apply.
fn oci_index(outer: &Outer, image: &str) -> Result<(Option<String>, Vec<String>), SbomError> {
    let mut doc_path = "index.json".to_string();
    let mut doc = outer.json(&doc_path)?;
    for _ in 0..4 {
        if let Some(manifests) = doc.get("manifests").and_then(|m| m.as_array()) {
            let named = |m: &&serde_json::Value| {
                let ann = m.get("annotations");
                ["org.opencontainers.image.ref.name", "io.containerd.image.name"].iter().any(|k| {
                    ann.and_then(|a| a.get(*k))
                        .and_then(|v| v.as_str())
                        .is_some_and(|v| v == image || image.ends_with(v))
                })
            };
            let amd64 = |m: &&serde_json::Value| {
                let p = m.get("platform");
                p.and_then(|p| p.get("os")).and_then(|v| v.as_str()) == Some("linux")
                    && p.and_then(|p| p.get("architecture")).and_then(|v| v.as_str()) == Some("amd64")
            };
            let Some(chosen) =
                manifests.iter().find(named).or_else(|| manifests.iter().find(amd64)).or(manifests.first())
            else {
                return Err(SbomError::Archive(format!("{doc_path}: an empty manifests list")));
            };
            let Some(digest) = chosen.get("digest").and_then(|d| d.as_str()) else {
                return Err(SbomError::Archive(format!("{doc_path}: a manifest without a digest")));
            };
            doc_path = blob_path(digest).ok_or_else(|| SbomError::Archive(format!("{doc_path}: digest {digest}")))?;
            doc = outer.json(&doc_path)?;
            continue;
        }
        let Some(layers) = doc.get("layers").and_then(|l| l.as_array()) else {
            return Err(SbomError::Archive(format!(
                "{doc_path}: neither an index (manifests) nor a manifest (layers)"
            )));
        };
        let mut paths = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let digest = l.get("digest").and_then(|d| d.as_str());
            let Some(p) = digest.and_then(blob_path) else {
                return Err(SbomError::Archive(format!("{doc_path}: layers[{i}] has no sha256 digest")));
            };
            paths.push(p);
        }
        let id = doc.get("config").and_then(|c| c.get("digest")).and_then(|d| d.as_str()).map(str::to_string);
        return Ok((id, paths));
    }
    Err(SbomError::Archive(format!("{doc_path}: indexes nested too deep")))
}

/// `sha256:<hex>` -> `blobs/sha256/<hex>`.
fn blob_path(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (plain(alg) && plain(hex)).then(|| format!("blobs/{alg}/{hex}"))
}

/// What is kept of a file the readers need.
#[derive(Clone)]
enum Captured {
    Text(String),
    /// The crates.io packages of an ELF file's `.dep-v0`.
    Crates(Vec<Package>),
}

/// The merged filesystem so far: only the captured files, and every symlink (to resolve os-release).
#[derive(Default)]
struct FsState {
    files: BTreeMap<String, Captured>,
    links: BTreeMap<String, String>,
}

impl FsState {
    fn has(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.links.contains_key(path)
    }

    fn has_under(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        let hit = |k: Option<&String>| k.is_some_and(|k| k.starts_with(&prefix));
        hit(self.files.range(prefix.clone()..).next().map(|(k, _)| k))
            || hit(self.links.range(prefix.clone()..).next().map(|(k, _)| k))
    }

    fn remove(&mut self, path: &str) {
        self.files.remove(path);
        self.links.remove(path);
    }

    /// Everything below `dir` (the whole filesystem for the root, `""`).
    fn remove_under(&mut self, dir: &str) {
        if dir.is_empty() {
            self.files.clear();
            self.links.clear();
            return;
        }
        let prefix = format!("{dir}/");
        self.files.retain(|k, _| !k.starts_with(&prefix));
        self.links.retain(|k, _| !k.starts_with(&prefix));
    }

    /// The captured file at `path`, following symlinks (absolute or relative) within the image.
    fn resolve(&self, path: &str) -> Option<&Captured> {
        let mut p = path.to_string();
        for _ in 0..16 {
            if let Some(c) = self.files.get(&p) {
                return Some(c);
            }
            p = relative_to(&p, self.links.get(&p)?)?;
        }
        None
    }
}

/// Which reader a path feeds, and its size cap.
fn wanted(path: &str) -> Option<(&'static str, u64)> {
    match path {
        "etc/os-release" | "usr/lib/os-release" => Some(("os-release", MAX_OS_RELEASE)),
        "var/lib/dpkg/status" => Some(("the dpkg status file", MAX_TEXT)),
        "lib/apk/db/installed" => Some(("the apk database", MAX_TEXT)),
        p if status_d(p) => Some(("a dpkg status.d file", MAX_TEXT)),
        p if lockfiles::kind_of(p).is_some() => Some(("a lockfile", MAX_TEXT)),
        _ => None,
    }
}

/// `var/lib/dpkg/status.d/NAME` (distroless writes `NAME.md5sums` beside each, which are no stanzas).
fn status_d(path: &str) -> bool {
    path.strip_prefix("var/lib/dpkg/status.d/").is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
}

/// Applies one layer's entries over `state`. Whiteouts and opaque dirs remove what lower layers had, so they
/// are collected and applied before this layer's own files are merged in.
fn apply_layer(state: &mut FsState, reader: impl Read, layer: &str) -> Result<(), SbomError> {
    let mut files: BTreeMap<String, Captured> = BTreeMap::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let (mut whiteouts, mut opaque, mut replaced) = (Vec::new(), Vec::new(), Vec::new());
    let mut ar = tar::Archive::new(reader);
    let entries = ar.entries().map_err(SbomError::io(format!("{layer}: not a tar archive")))?;
    for entry in entries {
        let mut entry = entry.map_err(SbomError::io(format!("{layer}: reading the tar")))?;
        let Some(path) = normalize(&String::from_utf8_lossy(&entry.path_bytes())) else { continue };
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if name == ".wh..wh..opq" {
            opaque.push(parent.to_string());
            continue;
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            whiteouts.push(if parent.is_empty() { target.to_string() } else { format!("{parent}/{target}") });
            continue;
        }
        let kind = entry.header().entry_type();
        // Any entry replaces what a lower layer had at its path; a non-directory also what was below it.
        files.remove(&path);
        links.remove(&path);
        if state.has(&path) {
            replaced.push(path.clone());
        }
        if !kind.is_dir() && state.has_under(&path) {
            whiteouts.push(path.clone());
        }
        if kind.is_symlink() {
            if let Some(t) = entry.link_name_bytes() {
                links.insert(path, String::from_utf8_lossy(&t).into_owned());
            }
        } else if kind.is_hard_link() {
            let target = entry.link_name_bytes().and_then(|t| normalize(&String::from_utf8_lossy(&t)));
            let found = target.and_then(|t| files.get(&t).or_else(|| state.files.get(&t)).cloned());
            if let Some(c) = found {
                files.insert(path.clone(), relocate(c, &path));
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            if let Some(c) = capture(&mut entry, size, &path, layer)? {
                files.insert(path, c);
            }
        }
    }
    for d in &opaque {
        state.remove_under(d);
    }
    for w in &whiteouts {
        state.remove(w);
        state.remove_under(w);
    }
    for p in &replaced {
        state.remove(p);
    }
    for (k, v) in files {
        state.links.remove(&k);
        state.files.insert(k, v);
    }
    for (k, v) in links {
        state.files.remove(&k);
        state.links.insert(k, v);
    }
    Ok(())
}

/// What to keep of a regular file: the text of the files the readers need, the crates of an ELF file.
fn capture(entry: &mut impl Read, size: u64, path: &str, layer: &str) -> Result<Option<Captured>, SbomError> {
    if let Some((what, cap)) = wanted(path) {
        if size > cap {
            return Err(SbomError::TooLarge { path: path.into(), size, cap, what });
        }
        let mut buf = Vec::with_capacity(size as usize);
        entry.take(cap).read_to_end(&mut buf).map_err(SbomError::io(format!("{layer}: reading {path}")))?;
        return Ok(Some(Captured::Text(String::from_utf8_lossy(&buf).into_owned())));
    }
    if !(64..=MAX_ELF).contains(&size) || ["proc/", "sys/", "dev/"].iter().any(|p| path.starts_with(p)) {
        return Ok(None);
    }
    let mut head = [0u8; 64];
    entry.read_exact(&mut head).map_err(SbomError::io(format!("{layer}: reading {path}")))?;
    let Some(needed) = auditable::needed_len(&head).filter(|n| *n <= size) else { return Ok(None) };
    let mut spool = tempfile::SpooledTempFile::new(SPOOL_IN_MEMORY);
    spool.write_all(&head).map_err(SbomError::io(format!("spooling {path}")))?;
    io::copy(&mut entry.take(needed - 64), &mut spool).map_err(SbomError::io(format!("{layer}: reading {path}")))?;
    match auditable::dep_v0(&mut spool) {
        Ok(Some(json)) => {
            let crates = auditable::packages(path, &json)?;
            Ok((!crates.is_empty()).then_some(Captured::Crates(crates)))
        }
        Ok(None) => Ok(None),
        // An ELF file whose section headers do not hold together is no binary tug can read; one whose
        // `.dep-v0` is corrupt is reported, its crates would go unscanned.
        Err(auditable::DepError::Elf) => Ok(None),
        Err(auditable::DepError::Section(e)) => Err(SbomError::parse(path, e)),
    }
}

fn relocate(c: Captured, path: &str) -> Captured {
    match c {
        Captured::Crates(v) => {
            Captured::Crates(v.into_iter().map(|p| Package { location: path.to_string(), ..p }).collect())
        }
        t => t,
    }
}

/// The Sbom of the merged filesystem: os-release first, then the OS package databases, then lockfiles and
/// binaries in path order.
fn finish(image: &str, image_id: Option<String>, state: &FsState) -> Result<Sbom, SbomError> {
    let os = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| match state.resolve(p) {
            Some(Captured::Text(t)) => Some(t),
            _ => None,
        })
        .and_then(|t| OsRelease::parse(t));
    let mut os_packages = Vec::new();
    let mut others = Vec::new();
    for (path, c) in &state.files {
        match c {
            Captured::Crates(v) => others.extend(v.iter().cloned()),
            Captured::Text(t) => {
                if path == "var/lib/dpkg/status" {
                    os_packages.extend(dpkg::parse(path, t, os.as_ref(), true)?);
                } else if status_d(path) {
                    os_packages.extend(dpkg::parse(path, t, os.as_ref(), false)?);
                } else if path == "lib/apk/db/installed" {
                    os_packages.extend(apk::parse(path, t, os.as_ref())?);
                } else if let Some(kind) = lockfiles::kind_of(path) {
                    others.extend(lockfiles::parse(kind, path, t)?);
                }
            }
        }
    }
    os_packages.extend(others);
    Ok(Sbom { image: image.to_string(), image_id, os, packages: os_packages })
}

/// A tar path as a relative path within the image: no leading `/` or `./`, `.` and `..` resolved (never above
/// the root). None for the root itself.
fn normalize(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A symlink's target as a path within the image: absolute targets from the root, relative ones from the
/// link's directory.
fn relative_to(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let dir = link.rsplit_once('/').map_or("", |(d, _)| d);
    normalize(&format!("{dir}/{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links() {
        assert_eq!(normalize("./etc/os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(normalize("/a/../../b/./c/").as_deref(), Some("b/c"));
        assert_eq!(normalize("./"), None);
        assert_eq!(relative_to("etc/os-release", "../usr/lib/os-release").as_deref(), Some("usr/lib/os-release"));
        assert_eq!(relative_to("etc/os-release", "/usr/lib/os-release").as_deref(), Some("usr/lib/os-release"));
        assert_eq!(blob_path("sha256:ab12").as_deref(), Some("blobs/sha256/ab12"));
        assert_eq!(blob_path("sha256:../x"), None);
        assert!(status_d("var/lib/dpkg/status.d/base"));
        assert!(!status_d("var/lib/dpkg/status.d/base.md5sums"));
    }
}
