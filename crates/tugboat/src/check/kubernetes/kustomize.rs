//! A kustomization: built with `kubectl kustomize` (kustomize's own semantics, not a reimplementation),
//! then each built object is mapped back to the resource file that defines it, and each offending value
//! to the place that set it: the last patch or transformer (`images:`, `commonAnnotations:`) applied, or
//! the resource file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::{
    find, find_entry, kustomization_file, lexical_join, objects_of, parse_documents, parse_documents_from,
    read_objects, Object, Seg,
};
use crate::stack::{yaml, ConfigError, Node, Span};

pub(super) const INSTALL_KUBECTL: &str = "install kubectl (Debian: apt-get install kubernetes-client)";

/// The built objects of a kustomization and what they were built from.
pub(super) struct Build {
    /// In build order; the caller takes them, and hands each back to [`Build::locate`].
    pub objects: Vec<Object>,
    /// Every file read: kustomization files, resources and patches.
    pub files: Vec<PathBuf>,
    levels: Vec<Level>,
    sources: Vec<Source>,
    patches: Vec<Patch>,
    /// The source of each built object, when one is found.
    origin: Vec<Option<usize>>,
    /// Where a finding points when its object comes from no file here (a generator, a remote base).
    fallback: Span,
}

/// One kustomization of the tree.
struct Level {
    parent: Option<usize>,
    /// Its kustomization, and those of the components it uses (their transformers act at this level).
    kustomizations: Vec<Node>,
    name_prefix: String,
    name_suffix: String,
}

/// An object defined in a resource file.
struct Source {
    object: Object,
    /// The kustomization that lists the file in `resources`.
    level: usize,
    /// Its name as each kustomization up the tree sees it: as written, then after each level's
    /// `namePrefix` / `nameSuffix`. The last is the built name.
    names: Vec<String>,
}

struct Patch {
    level: usize,
    body: PatchBody,
    /// The kustomization entry's `target:`; without one a strategic-merge patch targets its own kind and name.
    target: Option<Target>,
    /// Columns to add to the body's spans: an inline patch is parsed without its indentation.
    col_shift: u32,
    /// Where every finding in it points instead, when its lines cannot be mapped (a quoted inline patch).
    anchor: Option<Span>,
}

enum PatchBody {
    /// A strategic-merge patch: a partial object.
    Merge(Node),
    /// A JSON 6902 patch: a list of operations.
    Json(Node),
}

#[derive(Clone)]
struct Target {
    kind: Option<String>,
    /// A regular expression over names, as kustomize's selectors read it.
    name: Option<String>,
}

impl Build {
    pub(super) fn new(dir: &Path) -> Result<Build, ConfigError> {
        let text = kustomize(dir)?;
        let output = Arc::new(PathBuf::from(format!("kubectl kustomize {}", dir.display())));
        let objects = objects_of(&parse_documents(&text, &output)?);
        let mut walk = Walk::default();
        walk.kustomization(dir, None, None, &mut Vec::new())?;
        walk.name_sources();
        let origin = objects.iter().map(|o| walk.source_of(o)).collect();
        let top = kustomization_file(dir).unwrap_or_else(|| dir.to_path_buf());
        Ok(Build {
            objects,
            files: walk.files,
            levels: walk.levels,
            sources: walk.sources,
            patches: walk.patches,
            origin,
            fallback: Span::new(&Arc::new(top), 1, 1),
        })
    }

    /// Where a finding about `path` of built object `index` (`built`) points. A value points at the place
    /// that set it as built (the last patch or transformer applied, else the resource file), a container or
    /// mapping at its definition; what no file writes, at the object's first line.
    pub(super) fn locate(&self, index: usize, built: &Node, path: &[Seg]) -> Span {
        let Some(si) = self.origin.get(index).copied().flatten() else { return self.fallback.clone() };
        let source = &self.sources[si];
        let target = find(built, path);
        let writers = self.writers(si, path, built, target);
        let chosen = match target.filter(|n| n.as_str().is_some()) {
            Some(value) => {
                writers.iter().find(|(_, w)| w.is_none_or(|w| same_scalar(w, value))).or_else(|| writers.first())
            }
            None => match find_entry(&source.object.node, path) {
                Some(e) => return e.span(),
                None => writers.first(),
            },
        };
        chosen.map_or_else(|| source.object.node.span.clone(), |(span, _)| span.clone())
    }

    /// The kustomizations from the top one down to `level`.
    fn chain(&self, level: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut current = Some(level);
        while let Some(l) = current {
            out.push(l);
            current = self.levels[l].parent;
        }
        out.reverse();
        out
    }

    /// The places that write `path` of the object built from source `si`, the one applied last first: each
    /// kustomization from the top down, its transformers (kustomize runs them after its patches), then its
    /// patches, later ones first; the resource file last. `None`: it sets the value, whatever it is.
    fn writers<'b>(
        &'b self,
        si: usize,
        path: &[Seg],
        built: &Node,
        value: Option<&Node>,
    ) -> Vec<(Span, Option<&'b Node>)> {
        let source = &self.sources[si];
        let pointer = pointer(built, path);
        let mut out = Vec::new();
        for level in self.chain(source.level) {
            for k in &self.levels[level].kustomizations {
                out.extend(transformer_writes(k, path, value));
            }
            for p in self.patches.iter().rev().filter(|p| p.level == level && p.targets(source)) {
                out.extend(p.writes(path, pointer.as_deref()));
            }
        }
        out.extend(find_entry(&source.object.node, path).map(|e| (e.span(), Some(e.node))));
        out
    }
}

impl Patch {
    fn targets(&self, source: &Source) -> bool {
        match (&self.target, &self.body) {
            (Some(t), _) => {
                t.kind.as_ref().is_none_or(|k| *k == source.object.kind)
                    && t.name.as_ref().is_none_or(|n| source.names.iter().any(|name| name_matches(n, name)))
            }
            (None, PatchBody::Merge(node)) => {
                node.get("kind").and_then(Node::as_str) == Some(source.object.kind.as_str())
                    && node
                        .get_path(&["metadata", "name"])
                        .and_then(Node::as_str)
                        .is_some_and(|n| source.names.iter().any(|name| name == n))
            }
            (None, PatchBody::Json(_)) => false,
        }
    }

    fn writes(&self, path: &[Seg], pointer: Option<&[String]>) -> Option<(Span, Option<&Node>)> {
        let (span, node) = match &self.body {
            PatchBody::Merge(node) => find_entry(node, path).map(|e| (e.span(), e.node))?,
            PatchBody::Json(ops) => json_writes(ops, pointer?)?,
        };
        let span = match &self.anchor {
            Some(anchor) => anchor.clone(),
            None => Span { col: span.col + self.col_shift, ..span },
        };
        Some((span, Some(node)))
    }
}

/// A selector's name (a regular expression, whole-name) against a name; one that is no valid expression
/// is compared as text.
fn name_matches(pattern: &str, name: &str) -> bool {
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => re.is_match(name),
        Err(_) => pattern == name,
    }
}

fn same_scalar(a: &Node, b: &Node) -> bool {
    a.as_str() == b.as_str() || a.as_bool().is_some() && a.as_bool() == b.as_bool()
}

/// What a kustomization's transformers write at `path`: `images:` (an image's name, tag or digest) and
/// `commonAnnotations:`.
fn transformer_writes<'a>(k: &'a Node, path: &[Seg], value: Option<&Node>) -> Vec<(Span, Option<&'a Node>)> {
    let mut out = Vec::new();
    let (last, before) = match path {
        [.., before, last] => (last, Some(before)),
        [last] => (last, None),
        [] => return out,
    };
    if let (Seg::Key(field), Some(image)) = (last, value.and_then(Node::as_str)) {
        if field == "image" {
            let name = image_name(image);
            for entry in k.get("images").and_then(Node::as_seq).unwrap_or(&[]) {
                let entry_name = entry.get("name").and_then(Node::as_str);
                let new_name = entry.get("newName").and_then(Node::as_str);
                if entry_name == Some(name) || new_name == Some(name) {
                    let at = ["digest", "newTag", "newName"].iter().find_map(|f| entry.entry(f)).map(|(k, _)| &k.span);
                    out.push((at.unwrap_or(&entry.span).clone(), None));
                }
            }
        }
    }
    if let (Seg::Key(name), Some(Seg::Key(parent))) = (last, before) {
        if parent == "annotations" {
            if let Some((key, v)) = k.get("commonAnnotations").and_then(|a| a.entry(name)) {
                out.push((key.span.clone(), Some(v)));
            }
        }
    }
    out
}

/// An image reference without its tag and digest (`example.org:5000/web:1.2` -> `example.org:5000/web`),
/// as `images:` entries name it.
fn image_name(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].find(':') {
        Some(colon) => &image[..last_slash + colon],
        None => image,
    }
}

/// `path` in `built` as a JSON pointer's segments (list elements by their index there).
fn pointer(built: &Node, path: &[Seg]) -> Option<Vec<String>> {
    let mut node = built;
    let mut out = Vec::new();
    for seg in path {
        let (step, next) = match seg {
            Seg::Key(k) => (k.clone(), node.get(k)?),
            Seg::Elem { field, value } => {
                let items = node.as_seq()?;
                let i = items.iter().position(|e| e.get(field).and_then(Node::as_str) == Some(value))?;
                (i.to_string(), &items[i])
            }
            Seg::Index(i) => (i.to_string(), node.as_seq()?.get(*i)?),
            Seg::Item(v) => {
                let items = node.as_seq()?;
                let i = items.iter().position(|e| e.as_str() == Some(v))?;
                (i.to_string(), &items[i])
            }
        };
        out.push(step);
        node = next;
    }
    Some(out)
}

/// The node a JSON 6902 patch's last `add` / `replace` at or above `pointer` writes there, with its span.
fn json_writes<'a>(ops: &'a Node, pointer: &[String]) -> Option<(Span, &'a Node)> {
    'ops: for op in ops.as_seq()?.iter().rev() {
        if !matches!(op.get("op").and_then(Node::as_str), Some("add" | "replace")) {
            continue;
        }
        let Some(at) = op.get("path").and_then(Node::as_str) else { continue };
        let segs: Vec<String> = if at.is_empty() {
            Vec::new()
        } else {
            at.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
        };
        if segs.len() > pointer.len() || segs[..] != pointer[..segs.len()] {
            continue;
        }
        let Some((value_key, value)) = op.entry("value") else { continue };
        let mut found = (value_key.span.clone(), value);
        for step in &pointer[segs.len()..] {
            let node = found.1;
            found = if let Some((k, v)) = node.entry(step) {
                (k.span.clone(), v)
            } else if let Some(v) = step.parse::<usize>().ok().and_then(|i| node.as_seq()?.get(i)) {
                (v.span.clone(), v)
            } else {
                continue 'ops;
            };
        }
        return Some(found);
    }
    None
}

/// `kubectl kustomize DIR`: the built objects as YAML.
fn kustomize(dir: &Path) -> Result<String, ConfigError> {
    let command = format!("kubectl kustomize {}", dir.display());
    let output = match Command::new("kubectl").arg("kustomize").arg(dir).stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Other(format!(
                "{} is a kustomization, and building it (`{command}`) needs kubectl, which is not installed: \
                 {INSTALL_KUBECTL}",
                dir.display()
            )));
        }
        Err(e) => return Err(ConfigError::Other(format!("`{command}` could not start: {e}"))),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ConfigError::Other(format!("`{command}` failed ({}):\n{}", output.status, stderr.trim_end())));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| ConfigError::Other(format!("`{command}` printed output that is not UTF-8")))
}

/// What reading the kustomization tree collects.
#[derive(Default)]
struct Walk {
    levels: Vec<Level>,
    sources: Vec<Source>,
    patches: Vec<Patch>,
    files: Vec<PathBuf>,
}

fn strings<'a>(node: &'a Node, key: &str) -> Vec<&'a str> {
    node.get(key).and_then(Node::as_seq).unwrap_or(&[]).iter().filter_map(Node::as_str).collect()
}

/// A resource kustomize fetches (a git repository or a URL): nothing here to point at.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || ["git@", "github.com/", "gitlab.com/", "bitbucket.org/"].iter().any(|p| entry.starts_with(p))
}

impl Walk {
    fn add_file(&mut self, path: &Path) {
        if !self.files.iter().any(|f| f == path) {
            self.files.push(path.to_path_buf());
        }
    }

    /// Reads the kustomization in `dir`, its resources (recursively) and its patches. A component
    /// (`component_of`) adds to the level that uses it. `ancestors` stops a cycle (kustomize refuses one).
    fn kustomization(
        &mut self,
        dir: &Path,
        parent: Option<usize>,
        component_of: Option<usize>,
        ancestors: &mut Vec<PathBuf>,
    ) -> Result<(), ConfigError> {
        let Some(file) = kustomization_file(dir) else {
            return Err(ConfigError::Other(format!(
                "{}: no kustomization file ({})",
                dir.display(),
                super::KUSTOMIZATION_FILE_NAMES.join(", ")
            )));
        };
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if ancestors.contains(&canonical) {
            return Ok(());
        }
        ancestors.push(canonical);
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read { path: file.clone(), source })?;
        let arc = Arc::new(file.clone());
        let node = yaml::parse(&text, &arc)?;
        self.add_file(&file);
        let level = match component_of {
            Some(l) => {
                self.levels[l].kustomizations.push(node.clone());
                l
            }
            None => {
                let text_of = |k: &str| node.get(k).and_then(Node::as_str).unwrap_or("").to_string();
                self.levels.push(Level {
                    parent,
                    kustomizations: vec![node.clone()],
                    name_prefix: text_of("namePrefix"),
                    name_suffix: text_of("nameSuffix"),
                });
                self.levels.len() - 1
            }
        };
        let resources = [strings(&node, "resources"), strings(&node, "bases")].concat();
        for entry in resources.into_iter().filter(|e| !is_remote(e)) {
            let path = lexical_join(dir, entry);
            if path.is_dir() {
                self.kustomization(&path, Some(level), None, ancestors)?;
            } else if path.is_file() {
                self.add_file(&path);
                for object in read_objects(&path)?.0 {
                    self.sources.push(Source { object, level, names: Vec::new() });
                }
            }
        }
        for entry in strings(&node, "components").into_iter().filter(|e| !is_remote(e)) {
            let path = lexical_join(dir, entry);
            if path.is_dir() {
                self.kustomization(&path, None, Some(level), ancestors)?;
            }
        }
        self.patches_of(&node, dir, &arc, &text, level)?;
        ancestors.pop();
        Ok(())
    }

    /// `patches`, `patchesStrategicMerge` and `patchesJson6902`, from files or inline.
    fn patches_of(
        &mut self,
        node: &Node,
        dir: &Path,
        file: &Arc<PathBuf>,
        text: &str,
        level: usize,
    ) -> Result<(), ConfigError> {
        let items = |key: &str| node.get(key).and_then(Node::as_seq).unwrap_or(&[]).to_vec();
        for item in items("patches").iter().chain(items("patchesJson6902").iter()) {
            let target = item.get("target").map(|t| Target {
                kind: t.get("kind").and_then(Node::as_str).map(str::to_string),
                name: t.get("name").and_then(Node::as_str).map(str::to_string),
            });
            if let Some(path) = item.get("path").and_then(Node::as_str) {
                self.patch_file(&lexical_join(dir, path), level, target)?;
            } else if let Some(inline) = item.get("patch") {
                self.patch_inline(inline, file, text, level, target)?;
            }
        }
        // Each entry is a file, or else the patch itself.
        for item in items("patchesStrategicMerge") {
            let Some(entry) = item.as_str() else { continue };
            let path = lexical_join(dir, entry);
            if path.is_file() {
                self.patch_file(&path, level, None)?;
            } else {
                self.patch_inline(&item, file, text, level, None)?;
            }
        }
        Ok(())
    }

    fn patch_file(&mut self, path: &Path, level: usize, target: Option<Target>) -> Result<(), ConfigError> {
        if !path.is_file() {
            return Ok(()); // kustomize built it, so it is not needed for the build (or was read elsewhere)
        }
        self.add_file(path);
        for doc in read_objects(path)?.1 {
            self.push_patch(doc, level, target.clone(), 0, None);
        }
        Ok(())
    }

    /// An inline patch: a `|` block keeps its lines, so it is parsed where it stands in the kustomization
    /// (its indentation added back to each column); any other scalar points at itself.
    fn patch_inline(
        &mut self,
        value: &Node,
        file: &Arc<PathBuf>,
        text: &str,
        level: usize,
        target: Option<Target>,
    ) -> Result<(), ConfigError> {
        let Some(body) = value.as_str() else { return Ok(()) };
        match literal_block_start(text, value, body) {
            Some((lines_before, indent)) => {
                for doc in parse_documents_from(body, file, lines_before)? {
                    self.push_patch(doc, level, target.clone(), indent, None);
                }
            }
            None => {
                let inline = Arc::new(PathBuf::from(format!("{} (inline patch)", file.display())));
                for doc in parse_documents(body, &inline)? {
                    self.push_patch(doc, level, target.clone(), 0, Some(value.span.clone()));
                }
            }
        }
        Ok(())
    }

    fn push_patch(&mut self, doc: Node, level: usize, target: Option<Target>, col_shift: u32, anchor: Option<Span>) {
        let body = if doc.as_seq().is_some() { PatchBody::Json(doc) } else { PatchBody::Merge(doc) };
        self.patches.push(Patch { level, body, target, col_shift, anchor });
    }

    /// Each source's names up the tree.
    fn name_sources(&mut self) {
        for source in &mut self.sources {
            let mut name = source.object.name.clone();
            let mut names = vec![name.clone()];
            let mut current = Some(source.level);
            while let Some(l) = current {
                let level = &self.levels[l];
                name = format!("{}{name}{}", level.name_prefix, level.name_suffix);
                names.push(name.clone());
                current = level.parent;
            }
            source.names = names;
        }
    }

    /// The source a built object comes from: same kind, and its built name; else any name it had on the
    /// way up; else the one source whose name the built name contains (a transformer this does not model).
    fn source_of(&self, built: &Object) -> Option<usize> {
        let same_kind = |s: &Source| s.object.kind == built.kind;
        let first = |pred: &dyn Fn(&Source) -> bool| self.sources.iter().position(|s| same_kind(s) && pred(s));
        first(&|s| s.names.last() == Some(&built.name)).or_else(|| first(&|s| s.names.contains(&built.name))).or_else(
            || {
                let within: Vec<usize> = (0..self.sources.len())
                    .filter(|&i| same_kind(&self.sources[i]) && built.name.contains(&self.sources[i].object.name))
                    .collect();
                (within.len() == 1).then(|| within[0])
            },
        )
    }
}

/// Where the lines of a `|` block scalar start in `text` (the number of lines before its first) and its
/// indentation, checked against the value; `None` for any other style (`>` folds lines together, quoted
/// scalars start mid-line).
fn literal_block_start(text: &str, value: &Node, body: &str) -> Option<(usize, u32)> {
    let lines: Vec<&str> = text.lines().collect();
    // yaml-rust2 marks a block scalar at its first line that is not blank, at the block's indentation.
    let (blank_before, first) = body.lines().enumerate().find(|(_, l)| !l.trim().is_empty())?;
    let marked = (value.span.line as usize).checked_sub(1)?;
    let lines_before = marked.checked_sub(blank_before)?;
    let header = lines.get(lines_before.checked_sub(1)?)?;
    let header = header.split(" #").next().unwrap_or_default().trim_end();
    if !header.rsplit(char::is_whitespace).next().is_some_and(|t| t.starts_with('|')) {
        return None;
    }
    let indent = value.span.col.checked_sub(1)?;
    (lines.get(marked)?.get(indent as usize..) == Some(first)).then_some((lines_before, indent))
}
