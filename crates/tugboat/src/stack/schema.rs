//! Validating the merged compose model against the compose-spec JSON schema, as compose-go does.
//!
//! `schemas/compose-spec.json` is compose-go's `schema/compose-spec.json` at tag v2.9.1 (commit
//! 75fb1aba98ff8a944ebc5ea54f1054f1329e999c), the compose-go Docker Compose v2.40.3 is built with. It is a
//! draft-07 schema; this module implements the keywords it uses (and a few cheap neighbours) over the
//! positioned [`Node`] tree, so every error names the file, line and column of the offending value (of its
//! key, for a property that is not allowed) and its key path.
//!
//! Two steps of compose-go's that happen before its schema check are mirrored here because they decide what
//! the schema sees: strings at the paths compose-go casts while interpolating (`services.*.privileged`,
//! `services.*.ports.*.target`, ...) are read as the boolean or number they spell (and are an error when they
//! spell none), and `uniqueItems` is not enforced on the lists compose-go de-duplicates first (`EnforceUnicity`).

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{ConfigError, Location};
use super::yaml::{plain_scalar_to_json, Key, Node, NodeKind, Span};

const SCHEMA: &str = include_str!("../../../../schemas/compose-spec.json");

/// Validates a merged compose document; all problems are returned at once, in file and line order.
pub fn validate(root: &Node) -> Result<(), ConfigError> {
    let validator = match compiled() {
        Ok(v) => v,
        Err(e) => return Err(ConfigError::Other(format!("the embedded compose schema is invalid: {e}"))),
    };
    let mut failures = Vec::new();
    validator.descend(validator.root, root, &mut Vec::new(), &mut failures);
    failures.sort_by(|a, b| {
        (a.span.path(), a.span.line, a.span.col, &a.path).cmp(&(b.span.path(), b.span.line, b.span.col, &b.path))
    });
    let mut errors: Vec<ConfigError> = Vec::new();
    for f in failures {
        let e = ConfigError::at(Location::new(f.span.clone(), f.path.clone()), f.message());
        if !errors.iter().any(|x| x.to_string() == e.to_string()) {
            errors.push(e);
        }
    }
    ConfigError::collect(errors)
}

/// Whether the schema reads `node` as a string (quoted, plain text that is no number, boolean or null, or
/// anything interpolation produced).
pub(crate) fn is_string(node: &Node) -> bool {
    matches!(Inst::of(node), Inst::Str(_))
}

/// Whether the schema reads `node` as a number.
pub(crate) fn is_number(node: &Node) -> bool {
    matches!(Inst::of(node), Inst::Num(..))
}

fn compiled() -> Result<&'static Validator, &'static str> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR.get_or_init(|| Validator::compile(SCHEMA)).as_ref().map_err(String::as_str)
}

// ---------------------------------------------------------------------------------------------------------
// The compiled schema.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl Type {
    fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "string" => Type::String,
            "array" => Type::Array,
            "object" => Type::Object,
            _ => return None,
        })
    }

    fn phrase(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "a boolean",
            Type::Integer => "an integer",
            Type::Number => "a number",
            Type::String => "a string",
            Type::Array => "a list",
            Type::Object => "a mapping",
        }
    }

    fn admits(self, value: &Inst) -> bool {
        match (self, value) {
            (Type::Null, Inst::Null) | (Type::Boolean, Inst::Bool(..)) | (Type::Number, Inst::Num(..)) => true,
            (Type::Integer, Inst::Num(n, _)) => n.fract() == 0.0,
            (Type::String, Inst::Str(_)) | (Type::Array, Inst::Seq(_)) | (Type::Object, Inst::Map(_)) => true,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Format {
    /// Go's `time.ParseDuration`, which compose-go registers as `duration`.
    Duration,
}

enum Schema {
    /// `true` or `{}`.
    Any,
    /// `false`.
    Never,
    Rules(Box<Rules>),
}

/// The keywords of one schema object; schema references are indexes into [`Validator::schemas`].
#[derive(Default)]
struct Rules {
    reference: Option<usize>,
    types: Vec<Type>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    properties: Vec<(String, usize)>,
    pattern_properties: Vec<(Regex, usize)>,
    additional_properties: Option<usize>,
    required: Vec<String>,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    items: Option<usize>,
    unique_items: bool,
    min_items: Option<usize>,
    max_items: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Regex>,
    format: Option<Format>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    one_of: Vec<usize>,
    not: Option<usize>,
}

/// Keywords that only annotate; a validator ignores them.
const ANNOTATIONS: &[&str] =
    &["$schema", "$id", "$comment", "title", "description", "default", "deprecated", "examples", "readOnly"];

/// Every keyword [`Validator::compile`] understands (a schema using any other is refused, not half-checked).
const KEYWORDS: &[&str] = &[
    "$ref",
    "definitions",
    "type",
    "enum",
    "const",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "minProperties",
    "maxProperties",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

struct Validator {
    schemas: Vec<Schema>,
    root: usize,
}

struct Compiler<'a> {
    doc: &'a Value,
    schemas: Vec<Schema>,
    refs: Vec<(String, usize)>,
    /// Each pattern is compiled once (`^x-` alone appears some sixty times).
    patterns: Vec<Regex>,
}

impl Validator {
    fn compile(text: &str) -> Result<Validator, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut c = Compiler { doc: &doc, schemas: Vec::new(), refs: Vec::new(), patterns: Vec::new() };
        let root = c.resolve("#")?;
        Ok(Validator { schemas: c.schemas, root })
    }
}

impl Compiler<'_> {
    /// The schema a `$ref` names, compiled once (references may be recursive).
    fn resolve(&mut self, reference: &str) -> Result<usize, String> {
        if let Some((_, i)) = self.refs.iter().find(|(r, _)| r == reference) {
            return Ok(*i);
        }
        let pointer = reference.strip_prefix('#').ok_or_else(|| format!("unsupported $ref {reference:?}"))?;
        let doc = self.doc;
        let target = doc.pointer(pointer).ok_or_else(|| format!("$ref {reference:?} points nowhere"))?;
        let slot = self.schemas.len();
        self.schemas.push(Schema::Any);
        self.refs.push((reference.to_string(), slot));
        self.schemas[slot] = self.build(target)?;
        Ok(slot)
    }

    fn compile(&mut self, value: &Value) -> Result<usize, String> {
        let slot = self.schemas.len();
        self.schemas.push(Schema::Any);
        self.schemas[slot] = self.build(value)?;
        Ok(slot)
    }

    fn build(&mut self, value: &Value) -> Result<Schema, String> {
        let obj = match value {
            Value::Bool(true) => return Ok(Schema::Any),
            Value::Bool(false) => return Ok(Schema::Never),
            Value::Object(obj) => obj,
            other => return Err(format!("a schema must be an object or a boolean, found {other}")),
        };
        if let Some((k, _)) =
            obj.iter().find(|(k, _)| !KEYWORDS.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()))
        {
            return Err(format!("unsupported keyword {k:?}"));
        }
        let mut r = Rules::default();
        // Draft-07: a `$ref` replaces its siblings.
        if let Some(reference) = obj.get("$ref") {
            let reference = reference.as_str().ok_or("$ref must be a string")?;
            r.reference = Some(self.resolve(reference)?);
            return Ok(Schema::Rules(Box::new(r)));
        }
        let rules_used = obj.keys().any(|k| KEYWORDS.contains(&k.as_str()) && k != "definitions");
        if !rules_used {
            return Ok(Schema::Any);
        }
        for (key, v) in obj {
            match key.as_str() {
                "type" => {
                    let names: Vec<&Value> = match v {
                        Value::Array(items) => items.iter().collect(),
                        one => vec![one],
                    };
                    for n in names {
                        let name = n.as_str().ok_or("type must name a type")?;
                        r.types.push(Type::parse(name).ok_or_else(|| format!("unknown type {name:?}"))?);
                    }
                }
                "enum" => r.enumeration = Some(v.as_array().ok_or("enum must be an array")?.clone()),
                "const" => r.constant = Some(v.clone()),
                "properties" => {
                    for (name, s) in object(v, key)? {
                        let i = self.compile(s)?;
                        r.properties.push((name.clone(), i));
                    }
                }
                "patternProperties" => {
                    for (pattern, s) in object(v, key)? {
                        let re = self.regex(pattern)?;
                        let i = self.compile(s)?;
                        r.pattern_properties.push((re, i));
                    }
                }
                "additionalProperties" => r.additional_properties = Some(self.compile(v)?),
                "required" => {
                    let names = v.as_array().ok_or("required must be an array")?;
                    r.required = names.iter().filter_map(Value::as_str).map(str::to_string).collect();
                }
                "items" => {
                    if v.is_array() {
                        return Err("tuple `items` is not supported".into());
                    }
                    r.items = Some(self.compile(v)?);
                }
                "uniqueItems" => r.unique_items = v.as_bool().ok_or("uniqueItems must be a boolean")?,
                "minProperties" => r.min_properties = Some(count(v, key)?),
                "maxProperties" => r.max_properties = Some(count(v, key)?),
                "minItems" => r.min_items = Some(count(v, key)?),
                "maxItems" => r.max_items = Some(count(v, key)?),
                "minLength" => r.min_length = Some(count(v, key)?),
                "maxLength" => r.max_length = Some(count(v, key)?),
                "pattern" => r.pattern = Some(self.regex(v.as_str().ok_or("pattern must be a string")?)?),
                "format" => {
                    // Unknown formats are annotations, as in any validator; compose-go registers `duration`.
                    r.format = match v.as_str() {
                        Some("duration") => Some(Format::Duration),
                        _ => None,
                    }
                }
                "minimum" => r.minimum = Some(number(v, key)?),
                "maximum" => r.maximum = Some(number(v, key)?),
                "exclusiveMinimum" => r.exclusive_minimum = Some(number(v, key)?),
                "exclusiveMaximum" => r.exclusive_maximum = Some(number(v, key)?),
                "allOf" => r.all_of = self.list(v, key)?,
                "anyOf" => r.any_of = self.list(v, key)?,
                "oneOf" => r.one_of = self.list(v, key)?,
                "not" => r.not = Some(self.compile(v)?),
                _ => {}
            }
        }
        Ok(Schema::Rules(Box::new(r)))
    }

    fn regex(&mut self, pattern: &str) -> Result<Regex, String> {
        if let Some(re) = self.patterns.iter().find(|re| re.as_str() == pattern) {
            return Ok(re.clone());
        }
        let re = Regex::new(pattern).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
        self.patterns.push(re.clone());
        Ok(re)
    }

    fn list(&mut self, v: &Value, key: &str) -> Result<Vec<usize>, String> {
        v.as_array().ok_or_else(|| format!("{key} must be an array"))?.iter().map(|s| self.compile(s)).collect()
    }
}

fn object<'v>(v: &'v Value, key: &str) -> Result<&'v Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{key} must be an object"))
}

fn count(v: &Value, key: &str) -> Result<usize, String> {
    v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| format!("{key} must be a non-negative integer"))
}

fn number(v: &Value, key: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{key} must be a number"))
}

// ---------------------------------------------------------------------------------------------------------
// compose-go's steps before its schema check.

/// Where compose-go's interpolation casts strings (`loader/interpolate.go`); `*` is any key or list item.
const CASTS: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    ("services.*.deploy.update_config.max_failure_ratio", Cast::Float),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    ("services.*.deploy.rollback_config.max_failure_ratio", Cast::Float),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    ("services.*.deploy.placement.max_replicas_per_node", Cast::Int),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.*.target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.*.read_only", Cast::Bool),
    ("services.*.volumes.*.volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

/// Lists compose-go de-duplicates before validating (`override/uncity.go`), so `uniqueItems` never fails there.
const DEDUPLICATED: &[&str] = &[
    "networks.*.labels",
    "networks.*.ipam.options",
    "services.*.annotations",
    "services.*.build.args",
    "services.*.build.additional_contexts",
    "services.*.build.platform",
    "services.*.build.tags",
    "services.*.build.labels",
    "services.*.cap_add",
    "services.*.cap_drop",
    "services.*.devices",
    "services.*.configs",
    "services.*.deploy.labels",
    "services.*.dns",
    "services.*.dns_opt",
    "services.*.dns_search",
    "services.*.environment",
    "services.*.env_file",
    "services.*.expose",
    "services.*.labels",
    "services.*.links",
    "services.*.networks.*.aliases",
    "services.*.networks.*.link_local_ips",
    "services.*.ports",
    "services.*.profiles",
    "services.*.secrets",
    "services.*.sysctls",
    "services.*.tmpfs",
    "services.*.volumes",
];

#[derive(Clone, Copy, Debug)]
enum Cast {
    Bool,
    Int,
    Float,
}

/// The cast compose-go applies at `path`, if any. The patterns are indexed by their last key once, since
/// this runs for every string in the model.
fn cast_for(path: &[Seg]) -> Option<Cast> {
    static BY_LAST_KEY: OnceLock<HashMap<&'static str, Vec<(&'static str, Cast)>>> = OnceLock::new();
    let index = BY_LAST_KEY.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<(&'static str, Cast)>> = HashMap::new();
        for (pattern, cast) in CASTS {
            map.entry(pattern.rsplit('.').next().unwrap_or(pattern)).or_default().push((pattern, *cast));
        }
        map
    });
    let last = match path.last()? {
        Seg::Key(k) => *k,
        Seg::Index(_) => "*",
    };
    [last, "*"]
        .iter()
        .filter_map(|k| index.get(k))
        .flatten()
        .find(|(pattern, _)| path_matches(pattern, path))
        .map(|(_, cast)| *cast)
}

fn path_matches(pattern: &str, path: &[Seg]) -> bool {
    // This runs for every string in the model against every pattern: reject on the last key first.
    match (pattern.rsplit('.').next(), path.last()) {
        (Some("*"), Some(_)) => {}
        (Some(last), Some(Seg::Key(k))) if last == *k => {}
        _ => return false,
    }
    let mut parts = pattern.split('.');
    for seg in path {
        match (parts.next(), seg) {
            (Some("*"), _) => {}
            (Some(p), Seg::Key(k)) if p == *k => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

// ---------------------------------------------------------------------------------------------------------
// Validation.

#[derive(Clone, Copy, Debug)]
enum Seg<'n> {
    Key(&'n str),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A node as the schema sees it: YAML 1.2 core typing for plain scalars, quoted scalars are strings.
#[derive(Clone, Copy, Debug)]
enum Inst<'n> {
    Null,
    Bool(bool, &'n str),
    Num(f64, &'n str),
    Str(&'n str),
    Seq(&'n [Node]),
    Map(&'n [(Key, Node)]),
}

impl<'n> Inst<'n> {
    fn of(node: &'n Node) -> Inst<'n> {
        match &node.kind {
            // compose-go interpolates after YAML typing, so whatever `${VAR}` gives is a string.
            NodeKind::Scalar { value, .. } if node.raw.is_some() => Inst::Str(value),
            NodeKind::Scalar { value, quoted: true } => Inst::Str(value),
            NodeKind::Scalar { value, quoted: false } => match plain_scalar_to_json(value) {
                Value::Null => Inst::Null,
                Value::Bool(b) => Inst::Bool(b, value),
                Value::Number(n) => Inst::Num(n.as_f64().unwrap_or(f64::NAN), value),
                _ => Inst::Str(value),
            },
            NodeKind::Seq(items) => Inst::Seq(items),
            NodeKind::Map(entries) => Inst::Map(entries),
        }
    }

    fn describe(&self) -> String {
        match self {
            Inst::Null => "null".into(),
            Inst::Bool(_, text) | Inst::Num(_, text) => (*text).to_string(),
            Inst::Str(s) => quote(s),
            Inst::Seq(_) => "a list".into(),
            Inst::Map(_) => "a mapping".into(),
        }
    }

    /// Equality with a JSON value from the schema (`enum`, `const`).
    fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (Inst::Null, Value::Null) => true,
            (Inst::Bool(b, _), Value::Bool(c)) => b == c,
            (Inst::Num(n, _), Value::Number(m)) => m.as_f64() == Some(*n),
            (Inst::Str(s), Value::String(t)) => s == t,
            _ => false,
        }
    }
}

fn quote(s: &str) -> String {
    let mut q = format!("{s:?}");
    if q.chars().count() > 60 {
        q = q.chars().take(56).collect::<String>() + "...\"";
    }
    q
}

#[derive(Clone, Debug)]
enum Kind {
    /// The node's type is none of `expected`.
    Type {
        expected: Vec<Type>,
        found: String,
    },
    /// A mapping key no `properties`/`patternProperties` admits.
    Additional {
        name: String,
        suggestion: Option<String>,
        patterns: Vec<String>,
    },
    Other(String),
}

#[derive(Clone, Debug)]
struct Failure {
    span: Span,
    path: String,
    /// How deep in the document the failing node is: compose-go reports the deepest failure of a `oneOf`.
    depth: usize,
    kind: Kind,
}

impl Failure {
    fn specificity(&self) -> usize {
        self.depth + usize::from(matches!(self.kind, Kind::Additional { .. }))
    }

    fn message(&self) -> String {
        match &self.kind {
            Kind::Type { expected, found } => {
                let mut msg = format!("must be {}, found {found}", alternatives(expected));
                if expected == &[Type::String] && !found.starts_with('"') && found != "null" && !found.starts_with("a ")
                {
                    msg.push_str(&format!(" (quote it to make it a string: \"{found}\")"));
                }
                msg
            }
            Kind::Additional { name, suggestion, patterns } => {
                let mut msg = format!("additional property {name} is not allowed");
                if let Some(s) = suggestion {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                } else if !patterns.is_empty() {
                    msg.push_str(&format!(" (names must match {})", patterns.join(" or ")));
                }
                msg
            }
            Kind::Other(msg) => msg.clone(),
        }
    }
}

fn alternatives(types: &[Type]) -> String {
    let mut phrases: Vec<&str> = Vec::new();
    for t in types {
        // "a number" covers "an integer".
        if *t == Type::Integer && types.contains(&Type::Number) {
            continue;
        }
        if !phrases.contains(&t.phrase()) {
            phrases.push(t.phrase());
        }
    }
    match phrases.split_last() {
        None => "nothing".into(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl Validator {
    fn failure(&self, node_span: &Span, path: &[Seg], kind: Kind) -> Failure {
        Failure { span: node_span.clone(), path: render(path), depth: path.len(), kind }
    }

    /// Validates `node`, reached at `path`, against schema `index`: reads it as compose-go would first.
    fn descend<'n>(&self, index: usize, node: &'n Node, path: &mut Vec<Seg<'n>>, out: &mut Vec<Failure>) {
        let mut inst = Inst::of(node);
        if let Inst::Str(text) = inst {
            if let Some(cast) = cast_for(path) {
                match cast_value(cast, text) {
                    Ok(v) => inst = v,
                    Err(msg) => {
                        out.push(self.failure(&node.span, path, Kind::Other(msg)));
                        return;
                    }
                }
            }
        }
        self.check(index, node, inst, path, out);
    }

    fn check<'n>(&self, index: usize, node: &'n Node, inst: Inst<'n>, path: &mut Vec<Seg<'n>>, out: &mut Vec<Failure>) {
        let rules = match &self.schemas[index] {
            Schema::Any => return,
            Schema::Never => {
                out.push(self.failure(&node.span, path, Kind::Other("is not allowed here".into())));
                return;
            }
            Schema::Rules(r) => r,
        };
        if let Some(target) = rules.reference {
            return self.check(target, node, inst, path, out);
        }
        if !rules.types.is_empty() && !rules.types.iter().any(|t| t.admits(&inst)) {
            let kind = Kind::Type { expected: rules.types.clone(), found: inst.describe() };
            out.push(self.failure(&node.span, path, kind));
            return;
        }
        if let Some(values) = &rules.enumeration {
            if !values.iter().any(|v| inst.equals(v)) {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                let mut msg = format!("must be one of {}, found {}", list.join(", "), inst.describe());
                if let Inst::Str(s) = inst {
                    if let Some(best) = suggest(s, values.iter().filter_map(Value::as_str)) {
                        msg.push_str(&format!(" (did you mean {best}?)"));
                    }
                }
                out.push(self.failure(&node.span, path, Kind::Other(msg)));
            }
        }
        if let Some(v) = &rules.constant {
            if !inst.equals(v) {
                let msg = format!("must be {v}, found {}", inst.describe());
                out.push(self.failure(&node.span, path, Kind::Other(msg)));
            }
        }
        match inst {
            Inst::Str(s) => self.check_string(rules, s, node, path, out),
            Inst::Num(n, text) => self.check_number(rules, n, text, node, path, out),
            Inst::Seq(items) => self.check_list(rules, items, node, path, out),
            Inst::Map(entries) => self.check_mapping(rules, entries, node, path, out),
            Inst::Null | Inst::Bool(..) => {}
        }
        for s in &rules.all_of {
            self.check(*s, node, inst, path, out);
        }
        if !rules.any_of.is_empty() {
            self.alternatives(&rules.any_of, false, node, inst, path, out);
        }
        if !rules.one_of.is_empty() {
            self.alternatives(&rules.one_of, true, node, inst, path, out);
        }
        if let Some(s) = rules.not {
            let mut inner = Vec::new();
            self.check(s, node, inst, path, &mut inner);
            if inner.is_empty() {
                out.push(self.failure(&node.span, path, Kind::Other("is not allowed in this form".into())));
            }
        }
    }

    fn check_string(&self, r: &Rules, s: &str, node: &Node, path: &[Seg], out: &mut Vec<Failure>) {
        let len = s.chars().count();
        if let Some(min) = r.min_length.filter(|m| len < *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must be at least {min} characters long"))));
        }
        if let Some(max) = r.max_length.filter(|m| len > *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must be at most {max} characters long"))));
        }
        if let Some(re) = r.pattern.as_ref().filter(|re| !re.is_match(s)) {
            let msg = format!("must match the pattern `{}`, found {}", re.as_str(), quote(s));
            out.push(self.failure(&node.span, path, Kind::Other(msg)));
        }
        if let Some(Format::Duration) = r.format {
            if let Err(e) = go_duration(s) {
                out.push(self.failure(&node.span, path, Kind::Other(format!("invalid duration {}: {e}", quote(s)))));
            }
        }
    }

    fn check_number(&self, r: &Rules, n: f64, text: &str, node: &Node, path: &[Seg], out: &mut Vec<Failure>) {
        let bounds = [
            (r.minimum.filter(|m| n < *m), "greater than or equal to"),
            (r.maximum.filter(|m| n > *m), "less than or equal to"),
            (r.exclusive_minimum.filter(|m| n <= *m), "greater than"),
            (r.exclusive_maximum.filter(|m| n >= *m), "less than"),
        ];
        for (bound, what) in bounds {
            if let Some(b) = bound {
                let msg = format!("must be {what} {}, found {text}", format_number(b));
                out.push(self.failure(&node.span, path, Kind::Other(msg)));
            }
        }
    }

    fn check_list<'n>(
        &self,
        r: &Rules,
        items: &'n [Node],
        node: &'n Node,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Failure>,
    ) {
        if let Some(min) = r.min_items.filter(|m| items.len() < *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must have at least {min} items"))));
        }
        if let Some(max) = r.max_items.filter(|m| items.len() > *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must have at most {max} items"))));
        }
        if r.unique_items && !DEDUPLICATED.iter().any(|p| path_matches(p, path)) {
            let values: Vec<Value> = items.iter().map(Node::to_json).collect();
            for (j, v) in values.iter().enumerate() {
                if let Some(i) = values[..j].iter().position(|w| w == v) {
                    path.push(Seg::Index(j));
                    let msg = format!("repeats item [{i}]; items must be unique");
                    out.push(self.failure(&items[j].span, path, Kind::Other(msg)));
                    path.pop();
                }
            }
        }
        if let Some(s) = r.items {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                self.descend(s, item, path, out);
                path.pop();
            }
        }
    }

    fn check_mapping<'n>(
        &self,
        r: &Rules,
        entries: &'n [(Key, Node)],
        node: &'n Node,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Failure>,
    ) {
        for name in &r.required {
            if !entries.iter().any(|(k, _)| &k.name == name) {
                out.push(self.failure(&node.span, path, Kind::Other(format!("missing required property {name}"))));
            }
        }
        if let Some(min) = r.min_properties.filter(|m| entries.len() < *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must have at least {min} entries"))));
        }
        if let Some(max) = r.max_properties.filter(|m| entries.len() > *m) {
            out.push(self.failure(&node.span, path, Kind::Other(format!("must have at most {max} entries"))));
        }
        for (key, value) in entries {
            let mut matched = false;
            let before = out.len();
            path.push(Seg::Key(&key.name));
            if let Some((_, s)) = r.properties.iter().find(|(name, _)| *name == key.name) {
                matched = true;
                self.descend(*s, value, path, out);
            }
            for (re, s) in &r.pattern_properties {
                if re.is_match(&key.name) {
                    matched = true;
                    self.descend(*s, value, path, out);
                }
            }
            if !matched {
                if let Some(s) = r.additional_properties {
                    if let Schema::Never = self.schemas[s] {
                        path.pop();
                        let suggestion =
                            suggest(&key.name, r.properties.iter().map(|(n, _)| n.as_str())).map(str::to_string);
                        let patterns = r
                            .pattern_properties
                            .iter()
                            .map(|(re, _)| re.as_str())
                            .filter(|p| *p != "^x-")
                            .map(|p| format!("`{p}`"))
                            .collect();
                        let kind = Kind::Additional { name: key.name.clone(), suggestion, patterns };
                        out.push(Failure { span: key.span.clone(), path: render(path), depth: path.len(), kind });
                        continue;
                    }
                    self.descend(s, value, path, out);
                }
            }
            path.pop();
            // An empty value (`image:`) starts where the next token does; the key is where a reader looks.
            if matches!(&value.kind, NodeKind::Scalar { value: v, quoted: false } if v.is_empty()) {
                for f in &mut out[before..] {
                    if f.span == value.span {
                        f.span = key.span.clone();
                    }
                }
            }
        }
    }

    /// `oneOf` (`exactly_one`) and `anyOf`. When no branch fits, the errors of the branch that got furthest are
    /// reported: the one the node's type matched, and among those the one whose failure is deepest, as
    /// compose-go does. When the type matched none, one error lists every type that would do.
    fn alternatives<'n>(
        &self,
        branches: &[usize],
        exactly_one: bool,
        node: &'n Node,
        inst: Inst<'n>,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Failure>,
    ) {
        let mut results: Vec<Vec<Failure>> = Vec::with_capacity(branches.len());
        for b in branches {
            let mut errs = Vec::new();
            self.check(*b, node, inst, path, &mut errs);
            results.push(errs);
        }
        let passing: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_empty()).collect();
        match passing.len() {
            1 => return,
            n if n > 1 && !exactly_one => return,
            n if n > 1 => {
                let msg = format!("matches {n} of the allowed forms where exactly one must match");
                out.push(self.failure(&node.span, path, Kind::Other(msg)));
                return;
            }
            _ => {}
        }
        let depth = path.len();
        let type_miss =
            |errs: &[Failure]| matches!(errs, [Failure { kind: Kind::Type { .. }, depth: d, .. }] if *d == depth);
        let mut best: Option<(&Vec<Failure>, usize)> = None;
        for errs in results.iter().filter(|e| !type_miss(e)) {
            let s = errs.iter().map(Failure::specificity).max().unwrap_or(0);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((errs, s));
            }
        }
        if let Some((errs, _)) = best {
            out.extend(errs.iter().cloned());
            return;
        }
        let mut expected: Vec<Type> = Vec::new();
        for errs in &results {
            if let [Failure { kind: Kind::Type { expected: e, .. }, .. }] = errs.as_slice() {
                for t in e {
                    if !expected.contains(t) {
                        expected.push(*t);
                    }
                }
            }
        }
        out.push(self.failure(&node.span, path, Kind::Type { expected, found: inst.describe() }));
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// compose-go's casts: `strconv.ParseBool`-like booleans, `strconv.Atoi`, `strconv.ParseFloat`.
fn cast_value(cast: Cast, text: &str) -> Result<Inst<'_>, String> {
    match cast {
        // Compose also takes `yes`/`no`/`on`/`off` in any case (with a warning); tugboat's rules read only the
        // YAML 1.2 spellings, so anything else is refused rather than read differently.
        Cast::Bool => match text {
            "true" | "True" | "TRUE" => Ok(Inst::Bool(true, text)),
            "false" | "False" | "FALSE" => Ok(Inst::Bool(false, text)),
            _ => Err(format!("expected true or false, found {}", quote(text))),
        },
        Cast::Int => match text.parse::<i64>() {
            Ok(n) => Ok(Inst::Num(n as f64, text)),
            Err(_) => Err(format!("expected an integer, found {}", quote(text))),
        },
        Cast::Float => match text.trim().parse::<f64>() {
            Ok(n) if text.chars().any(|c| c.is_ascii_digit()) => Ok(Inst::Num(n, text)),
            _ => Err(format!("expected a number, found {}", quote(text))),
        },
    }
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `NUMBER UNIT` (`1h30m`, `1.5s`), or `0`.
fn go_duration(s: &str) -> Result<(), &'static str> {
    let rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err("empty duration");
    }
    let mut rest = rest;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err("expected a number");
        }
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        if !matches!(&rest[..unit], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return Err(if unit == 0 { "missing unit" } else { "unknown unit" });
        }
        rest = &rest[unit..];
    }
    Ok(())
}

/// The closest candidate to a misspelt `name`, if one is close enough to be what was meant.
fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match name.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    candidates.map(|c| (distance(name, c), c)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::yaml::parse;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn doc(text: &str) -> Node {
        parse(text, &Arc::new(PathBuf::from("docker-compose.yml"))).unwrap()
    }

    fn errors(text: &str) -> Vec<String> {
        match validate(&doc(text)) {
            Ok(()) => Vec::new(),
            Err(e) => e.flatten().iter().map(ToString::to_string).collect(),
        }
    }

    #[track_caller]
    fn one_error(text: &str) -> String {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        errs[0].clone()
    }

    #[test]
    fn the_schema_compiles_and_uses_only_known_keywords() {
        let v = compiled().unwrap();
        assert!(v.schemas.len() > 100);
        // Every keyword in the vendored schema is implemented or an annotation (compile refuses others).
        fn walk(v: &Value, seen: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, child) in m {
                    if !seen.contains(k) {
                        seen.push(k.clone());
                    }
                    match k.as_str() {
                        "properties" | "patternProperties" | "definitions" => {
                            child.as_object().unwrap().values().for_each(|s| walk(s, seen))
                        }
                        "enum" | "const" | "default" | "examples" => {}
                        _ => match child {
                            Value::Array(items) => items.iter().for_each(|s| walk(s, seen)),
                            other => walk(other, seen),
                        },
                    }
                }
            }
        }
        let mut seen = Vec::new();
        walk(&serde_json::from_str(SCHEMA).unwrap(), &mut seen);
        for k in seen {
            assert!(KEYWORDS.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str()), "{k}");
        }
    }

    #[test]
    fn valid_documents_pass() {
        let text = r#"
name: shop
x-defaults: &defaults
  restart: unless-stopped
services:
  web:
    <<: *defaults
    image: nginx:1.27
    x-note: extensions are allowed on services
    ports:
      - {mode: ingress, target: 80, published: "8080", protocol: tcp}
      - 443
      - "127.0.0.1:9000:9000"
    environment: {A: "1", B: null, C: 2, D: true}
    depends_on:
      db: {condition: service_healthy, required: true}
    healthcheck: {test: [CMD, curl, -f, localhost], interval: 30s, retries: 3}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 512M}
    read_only: "true"
    privileged: false
    cpus: "1.5"
    ulimits: {nofile: {soft: 1024, hard: "2048"}, nproc: 512}
    volumes:
      - {type: bind, source: /srv, target: /srv, read_only: true, bind: {create_host_path: true}}
      - data:/data
    networks: {front: null, back: {aliases: [api]}}
    cap_add: [NET_ADMIN, NET_ADMIN]
    command: ["npm", "start"]
    build: {context: ., dockerfile: Dockerfile}
  db:
    image: postgres:16
    user: "999"
    command: null
    stop_grace_period: 1m30s
networks:
  front:
  back: {internal: "true"}
volumes:
  data:
x-anything: {free: form}
"#;
        assert_eq!(errors(text), Vec::<String>::new());
    }

    #[test]
    fn a_misspelt_service_attribute_names_the_key_and_suggests() {
        let e = one_error("services:\n  web:\n    imgae: nginx\n");
        assert_eq!(
            e,
            "docker-compose.yml:3:5: services.web: additional property imgae is not allowed (did you mean image?)"
        );
        let e = one_error("servics:\n  web: {image: x}\n");
        assert_eq!(e, "docker-compose.yml:1:1: additional property servics is not allowed (did you mean services?)");
        let e = one_error("services:\n  web:\n    image: x\n    frobnicate: 1\n");
        assert_eq!(e, "docker-compose.yml:4:5: services.web: additional property frobnicate is not allowed");
        let e = one_error("services:\n  my web:\n    image: x\n");
        assert!(e.starts_with("docker-compose.yml:2:3: services: additional property my web is not allowed (names must match `^[a-zA-Z0-9._-]+$`)"), "{e}");
    }

    #[test]
    fn extension_keys_are_allowed_where_the_schema_allows_them() {
        assert_eq!(errors("x-top: 1\nservices:\n  web:\n    image: x\n    x-mine: {a: b}\n"), Vec::<String>::new());
        assert_eq!(
            errors("services:\n  web:\n    image: x\n    deploy: {x-ext: 1, resources: {x-r: 2}}\n"),
            Vec::<String>::new()
        );
        // An `x-` key is no escape where the schema allows none: under `services`, it must be a service.
        let e = one_error("services:\n  x-web: 5\n");
        assert!(e.starts_with("docker-compose.yml:2:10: services.x-web: must be a mapping, found 5"), "{e}");
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_found() {
        let e = one_error("services:\n  web:\n    image: x\n    user: 1000\n");
        assert_eq!(e, "docker-compose.yml:4:11: services.web.user: must be a string, found 1000 (quote it to make it a string: \"1000\")");
        let e = one_error("services:\n  web:\n    image: x\n    ports: 12\n");
        assert_eq!(e, "docker-compose.yml:4:12: services.web.ports: must be a list, found 12");
        let e = one_error("services:\n  web:\n    image:\n");
        assert_eq!(e, "docker-compose.yml:3:5: services.web.image: must be a string, found null");
        let e = one_error("services:\n  web:\n    image: x\n    cpus: [1]\n");
        assert_eq!(e, "docker-compose.yml:4:11: services.web.cpus: must be a number or a string, found a list");
        // `scale` is an integer; a plain `2.5` is a number, not an integer.
        let e = one_error("services:\n  web:\n    image: x\n    scale: 2.5\n");
        assert_eq!(e, "docker-compose.yml:4:12: services.web.scale: must be an integer or a string, found 2.5");
        assert_eq!(errors("services:\n  web:\n    image: x\n    scale: 2\n"), Vec::<String>::new());
        let e = one_error("services:\n  web:\n    image: x\n    oom_score_adj: 2000\n");
        assert_eq!(
            e,
            "docker-compose.yml:4:20: services.web.oom_score_adj: must be less than or equal to 1000, found 2000"
        );
        let e = one_error("services:\n  web:\n    image: x\n    cpu_count: -1\n");
        assert_eq!(e, "docker-compose.yml:4:16: services.web.cpu_count: must be greater than or equal to 0, found -1");
    }

    #[test]
    fn casts_follow_compose_interpolation() {
        let e = one_error("services:\n  web:\n    image: x\n    read_only: maybe\n");
        assert_eq!(e, "docker-compose.yml:4:16: services.web.read_only: expected true or false, found \"maybe\"");
        let e = one_error("services:\n  web:\n    image: x\n    cpus: lots\n");
        assert_eq!(e, "docker-compose.yml:4:11: services.web.cpus: expected a number, found \"lots\"");
        let e = one_error("services:\n  web:\n    image: x\n    ulimits: {nofile: many}\n");
        assert!(e.contains("services.web.ulimits.nofile: expected an integer, found \"many\""), "{e}");
        // `yes` is refused (tugboat's rules would read it as not-true) even though Compose warns and takes it.
        assert_eq!(errors("services:\n  web:\n    image: x\n    privileged: yes\n").len(), 1);
    }

    #[test]
    fn enums_and_patterns() {
        let e = one_error(
            "services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_healty}}\n  db: {image: y}\n",
        );
        assert_eq!(
            e,
            "docker-compose.yml:4:34: services.web.depends_on.db.condition: must be one of \"service_started\", \
             \"service_healthy\", \"service_completed_successfully\", found \"service_healty\" (did you mean service_healthy?)"
        );
        let e = one_error("services:\n  web:\n    image: x\n    pull_policy: sometimes\n");
        assert!(
            e.starts_with("docker-compose.yml:4:18: services.web.pull_policy: must match the pattern `always|never"),
            "{e}"
        );
    }

    #[test]
    fn one_of_reports_the_branch_the_node_was_meant_for() {
        // A mapping port: the mapping branch's own error, not "must be a number".
        let e = one_error("services:\n  web:\n    image: x\n    ports:\n      - {target: 80, publishd: 8080}\n");
        assert_eq!(e, "docker-compose.yml:5:22: services.web.ports[0]: additional property publishd is not allowed (did you mean published?)");
        // Neither branch's type: every type that would do.
        let e = one_error("services:\n  web:\n    image: x\n    ports:\n      - [80]\n");
        assert_eq!(
            e,
            "docker-compose.yml:5:9: services.web.ports[0]: must be a number, a string or a mapping, found a list"
        );
        let e = one_error("services:\n  web:\n    image: x\n    dns: {a: 1}\n");
        assert_eq!(e, "docker-compose.yml:4:10: services.web.dns: must be a string or a list, found a mapping");
        let e = one_error("services:\n  web:\n    build: {context: ., dockerfil: D}\n");
        assert!(
            e.contains("services.web.build: additional property dockerfil is not allowed (did you mean dockerfile?)"),
            "{e}"
        );
        let e =
            one_error("services:\n  web:\n    image: x\n    depends_on: {db: {required: false}}\n  db: {image: y}\n");
        assert_eq!(e, "docker-compose.yml:4:22: services.web.depends_on.db: missing required property condition");
    }

    #[test]
    fn nested_typos_are_found() {
        let e = one_error(
            "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits:\n          cpu: '0.5'\n",
        );
        assert_eq!(e, "docker-compose.yml:7:11: services.web.deploy.resources.limits: additional property cpu is not allowed (did you mean cpus?)");
    }

    #[test]
    fn unique_items_except_where_compose_deduplicates() {
        let e = one_error("services:\n  web:\n    image: x\n    security_opt: [a, b, a]\n");
        assert_eq!(e, "docker-compose.yml:4:26: services.web.security_opt[2]: repeats item [0]; items must be unique");
        assert_eq!(errors("services:\n  web:\n    image: x\n    cap_drop: [ALL, ALL]\n"), Vec::<String>::new());
    }

    #[test]
    fn every_error_is_reported_in_line_order() {
        let text = "services:\n  web:\n    imgae: x\n    read_only: maybe\n    ports: [{target: 80, mode: 5}]\n  db:\n    image: 5\n    restart: [always]\nservice: {}\n";
        assert_eq!(
            errors(text),
            [
                "docker-compose.yml:3:5: services.web: additional property imgae is not allowed (did you mean image?)",
                "docker-compose.yml:4:16: services.web.read_only: expected true or false, found \"maybe\"",
                "docker-compose.yml:5:32: services.web.ports[0].mode: must be a string, found 5 (quote it to make it a string: \"5\")",
                "docker-compose.yml:7:12: services.db.image: must be a string, found 5 (quote it to make it a string: \"5\")",
                "docker-compose.yml:8:14: services.db.restart: must be a string, found a list",
                "docker-compose.yml:9:1: additional property service is not allowed (did you mean services?)",
            ]
        );
    }

    #[test]
    fn durations_parse_like_go() {
        for ok in ["0", "1s", "1m30s", "1.5h", "-2ms", "300us", "1h2m3s4ms"] {
            assert!(go_duration(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1", "s", "1x", "1..5s", "1s2"] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions_are_close_matches_only() {
        let c = ["image", "ports", "environment", "restart"];
        assert_eq!(suggest("imgae", c.iter().copied()), Some("image"));
        assert_eq!(suggest("enviroment", c.iter().copied()), Some("environment"));
        assert_eq!(suggest("zzz", c.iter().copied()), None);
    }
}
