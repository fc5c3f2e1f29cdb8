//! A YAML tree that remembers where every node came from.
//!
//! Serde-based YAML loaders lose positions once a value is typed. Compose files are merged from several
//! files and interpolated before anything is typed, and every error and finding must still point at
//! `file:line:column`, so tugboat keeps its own small tree built from `yaml-rust2`'s event stream.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{ConfigError, Location};

/// Where a node starts: the file and a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: &Arc<PathBuf>, line: u32, col: u32) -> Span {
        Span { file: Arc::clone(file), line, col }
    }

    /// A span for values that no file holds (defaults, generated nodes).
    pub fn synthetic(what: &str) -> Span {
        Span { file: Arc::new(PathBuf::from(what)), line: 0, col: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// `!reset` / `!override` (compose merge tags), kept until the merge consumes them.
    pub tag: Option<MergeTag>,
    /// The text as written, when interpolation changed it: rules need to know whether a value was a
    /// literal or came from `${VAR}`, and `tug config` masks values that came from secrets.
    pub raw: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeTag {
    Reset,
    Override,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// Any scalar. `quoted` scalars are always strings; plain ones may read as numbers, booleans or null.
    Scalar {
        value: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn new(kind: NodeKind, span: Span) -> Node {
        Node { kind, span, tag: None, raw: None }
    }

    pub fn string(value: impl Into<String>, span: Span) -> Node {
        Node::new(NodeKind::Scalar { value: value.into(), quoted: true }, span)
    }

    pub fn plain(value: impl Into<String>, span: Span) -> Node {
        Node::new(NodeKind::Scalar { value: value.into(), quoted: false }, span)
    }

    pub fn map(entries: Vec<(Key, Node)>, span: Span) -> Node {
        Node::new(NodeKind::Map(entries), span)
    }

    pub fn seq(items: Vec<Node>, span: Span) -> Node {
        Node::new(NodeKind::Seq(items), span)
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, quoted: false } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar's text (numbers and booleans included), or `None` for collections.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => match value.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Looks up a key in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(k, v)| (k, v))
    }

    /// Follows a dotted path of mapping keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON, reading plain scalars the way YAML 1.2's core schema does.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { value, quoted: true } => Value::String(value.clone()),
            NodeKind::Scalar { value, quoted: false } => plain_scalar_to_json(value),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }
}

pub fn plain_scalar_to_json(value: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = value.parse::<i64>() {
                Value::from(i)
            } else if let Some(f) =
                value.parse::<f64>().ok().filter(|f| f.is_finite() && value.chars().any(|c| c.is_ascii_digit()))
            {
                Value::from(f)
            } else {
                Value::String(value.to_string())
            }
        }
    }
}

/// Parses one YAML document. An empty file gives an empty mapping.
pub fn parse(text: &str, file: &Arc<PathBuf>) -> Result<Node, ConfigError> {
    let mut builder =
        Builder { file: Arc::clone(file), stack: Vec::new(), anchors: HashMap::new(), root: None, error: None };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        let m = e.marker();
        return Err(ConfigError::at(
            Location::new(Span::new(file, m.line() as u32, m.col() as u32 + 1), ""),
            format!("invalid YAML: {}", e.info()),
        ));
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or_else(|| Node::map(Vec::new(), Span::new(file, 1, 1))))
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
        tag: Option<MergeTag>,
    },
    Map {
        entries: Vec<(Key, Node)>,
        pending_key: Option<Key>,
        span: Span,
        anchor: usize,
        tag: Option<MergeTag>,
        merges: Vec<Node>,
    },
}

struct Builder {
    file: Arc<PathBuf>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<ConfigError>,
}

impl Builder {
    fn span(&self, mark: Marker) -> Span {
        Span::new(&self.file, mark.line() as u32, mark.col() as u32 + 1)
    }

    fn fail(&mut self, span: Span, msg: String) {
        if self.error.is_none() {
            self.error = Some(ConfigError::at(Location::new(span, ""), msg));
        }
    }

    /// Places a finished node into its parent (or makes it the document root).
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, merges, .. }) => match pending_key.take() {
                None => {
                    let Some(name) = node.as_str().map(str::to_string) else {
                        let span = node.span.clone();
                        self.fail(span, "mapping keys must be scalars".into());
                        return;
                    };
                    *pending_key = Some(Key { name, span: node.span });
                }
                Some(key) if key.name == "<<" => merges.push(node),
                Some(key) => {
                    if entries.iter().any(|(k, _)| k.name == key.name) {
                        let (span, name) = (key.span.clone(), key.name.clone());
                        self.fail(span, format!("duplicate key `{name}`"));
                        return;
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

fn merge_tag(tag: &Option<yaml_rust2::parser::Tag>) -> Option<MergeTag> {
    match tag.as_ref().map(|t| t.suffix.as_str()) {
        Some("reset") => Some(MergeTag::Reset),
        Some("override") => Some(MergeTag::Override),
        _ => None,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let span = self.span(mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain) || tag.as_ref().is_some_and(|t| t.suffix == "str");
                let mut node = Node::new(NodeKind::Scalar { value, quoted }, span);
                node.tag = merge_tag(&tag);
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node);
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Frame::Seq { items: Vec::new(), span, anchor, tag: merge_tag(&tag) })
            }
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                pending_key: None,
                span,
                anchor,
                tag: merge_tag(&tag),
                merges: Vec::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, span, anchor, tag }) => {
                        (Node { kind: NodeKind::Seq(items), span, tag, raw: None }, anchor)
                    }
                    Some(Frame::Map { mut entries, span, anchor, tag, merges, .. }) => {
                        // YAML merge keys (`<<: *defaults`): explicit keys win over merged ones.
                        for merged in merges {
                            let sources: Vec<Node> = match merged.kind {
                                NodeKind::Seq(items) => items,
                                _ => vec![merged],
                            };
                            for source in sources {
                                let NodeKind::Map(extra) = source.kind else {
                                    self.fail(source.span, "`<<` must merge a mapping".into());
                                    return;
                                };
                                for (k, v) in extra {
                                    if !entries.iter().any(|(e, _)| e.name == k.name) {
                                        entries.push((k, v));
                                    }
                                }
                            }
                        }
                        // yaml-rust2 marks a block mapping where its first value starts; its first key is where a reader looks.
                        let span = entries
                            .first()
                            .map(|(k, _)| k.span.clone())
                            .filter(|k| (k.line, k.col) < (span.line, span.col))
                            .unwrap_or(span);
                        (Node { kind: NodeKind::Map(entries), span, tag, raw: None }, anchor)
                    }
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.push(node)
                }
                None => self.fail(span, "alias to an unknown anchor".into()),
            },
            Event::DocumentStart => {
                if self.root.is_some() {
                    self.fail(span, "only one YAML document per file is supported".into());
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(text, &Arc::new(PathBuf::from("t.yml"))).unwrap()
    }

    #[test]
    fn spans_are_one_based() {
        let n = p("a:\n  b: 1\n");
        let (k, v) = n.get("a").unwrap().entry("b").unwrap();
        assert_eq!((k.span.line, k.span.col), (2, 3));
        assert_eq!((v.span.line, v.span.col), (2, 6));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let n = p("x: &d {a: 1, b: 2}\ny:\n  <<: *d\n  b: 3\n");
        let y = n.get("y").unwrap();
        assert_eq!(y.get("a").unwrap().as_str(), Some("1"));
        assert_eq!(y.get("b").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n", &Arc::new(PathBuf::from("t.yml"))).unwrap_err();
        assert!(err.to_string().contains("t.yml:2:1"), "{err}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n", &Arc::new(PathBuf::from("t.yml"))).unwrap_err();
        assert!(err.to_string().starts_with("t.yml:"), "{err}");
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let n = p("a: '1'\nb: 1\nc: !!str 2\n");
        assert_eq!(n.to_json(), serde_json::json!({"a": "1", "b": 1, "c": "2"}));
    }
}
