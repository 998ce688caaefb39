//! Parsing and validating a config document, reporting every error with its path in
//! the document (`tenants[2].carriers[0].carrier`) and its line.
//!
//! Three passes over the text:
//! 1. TOML syntax (`toml::de::DeTable::parse_recoverable`); syntax errors stop here.
//! 2. Structure: serde into [`Document`] with unknown fields denied. Serde stops at its
//!    first error, so the spanned tree is repaired after each one (unknown field:
//!    removed; unknown enum value: replaced by a known one; wrong type: removed; a table
//!    missing a required field: dropped) and deserialized again, until it goes through.
//!    Errors that are consequences of a repair are not reported.
//! 3. Meaning, on the typed document: formats (ids, variable names, hashes, URLs,
//!    dates, keys), ranges, duplicate ids, dangling references and residency. If an
//!    entry was dropped in pass 2, the checks across entries (references, residency)
//!    are left out, since the missing entry would make them report false errors; the
//!    typed document's array indexes are mapped back to the text's.
//!
//! Lines come from the spanned tree: each error's path is mapped back to the span of
//! that value in the text (or of its nearest ancestor that is written out).

use super::model::*;
use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

/// One problem in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the document, e.g. `tenants[2].carriers[0].carrier`; empty for syntax
    /// errors and the document as a whole.
    pub path: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parses a region's document and checks it completely. Either the document, valid in
/// every respect checked here, or every error found, in document order.
pub fn parse_and_validate(text: &str) -> Result<Document, Vec<ConfigError>> {
    let lines = Lines::new(text);
    let (tree, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        return Err(syntax
            .iter()
            .map(|e| ConfigError {
                path: String::new(),
                line: e.span().map(|s| lines.line_of(s.start)),
                message: e.message().trim().to_string(),
            })
            .collect());
    }
    let root = Spanned::new(0..text.len(), DeValue::Table(tree.into_inner()));
    let index = SpanIndex::build(&root);
    let mut errors = Vec::new();
    let structure = deserialize_repairing(root, &index, &lines, &mut errors);
    if let Some(doc) = &structure.doc {
        for issue in check(doc) {
            if issue.across && structure.dropped_entries {
                continue;
            }
            let path = structure.original(&issue.path);
            if structure.repaired.iter().any(|r| path.starts_with(r)) {
                continue;
            }
            let message = issue.message;
            errors.push(ConfigError {
                line: index.line_of_path(&path, &lines),
                path: path.to_string(),
                message,
            });
        }
    }
    match structure.doc {
        Some(doc) if errors.is_empty() => Ok(doc),
        _ => {
            if errors.is_empty() {
                errors.push(ConfigError {
                    path: String::new(),
                    line: None,
                    message: "the document could not be read".into(),
                });
            }
            // Document order; errors without a line last, in the order found.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(errors)
        }
    }
}

// ------------------------------------------------------------------------------ paths

/// A path in the document: keys and array indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Path(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    fn root() -> Path {
        Path(Vec::new())
    }

    fn key(&self, key: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    fn parent(&self) -> Option<Path> {
        let mut p = self.clone();
        p.0.pop()?;
        Some(p)
    }

    fn starts_with(&self, prefix: &Path) -> bool {
        self.0.starts_with(&prefix.0)
    }

    fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn is_array_element(&self) -> bool {
        matches!(self.0.last(), Some(Seg::Index(_)))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------ spans

struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

struct Node {
    path: Path,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
}

/// Every key and value of the original text with its path and span.
struct SpanIndex {
    nodes: Vec<Node>,
    by_path: HashMap<Path, usize>,
}

impl SpanIndex {
    fn build(root: &Spanned<DeValue<'_>>) -> SpanIndex {
        let mut index = SpanIndex {
            nodes: Vec::new(),
            by_path: HashMap::new(),
        };
        index.walk(root, Path::root(), None);
        index
    }

    fn walk(&mut self, value: &Spanned<DeValue<'_>>, path: Path, key_span: Option<Range<usize>>) {
        self.by_path.insert(path.clone(), self.nodes.len());
        self.nodes.push(Node {
            path: path.clone(),
            key_span,
            value_span: value.span(),
        });
        match value.get_ref() {
            DeValue::Table(table) => {
                for (k, v) in table.iter() {
                    self.walk(v, path.key(k.get_ref()), Some(k.span()));
                }
            }
            DeValue::Array(array) => {
                for (i, v) in array.iter().enumerate() {
                    self.walk(v, path.index(i), None);
                }
            }
            _ => {}
        }
    }

    /// The key whose span is exactly this.
    fn key_at(&self, span: &Range<usize>) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.key_span.as_ref() == Some(span))
    }

    /// The deepest value whose span is this, else the smallest value containing it.
    fn value_at(&self, span: &Range<usize>) -> Option<&Node> {
        let exact = self
            .nodes
            .iter()
            .filter(|n| n.value_span == *span)
            .max_by_key(|n| n.path.0.len());
        exact.or_else(|| {
            self.nodes
                .iter()
                .filter(|n| n.value_span.start <= span.start && span.end <= n.value_span.end)
                .min_by_key(|n| (n.value_span.len(), usize::MAX - n.path.0.len()))
        })
    }

    /// The line where a path is written: its key, or its value, or the nearest
    /// written ancestor's.
    fn line_of_path(&self, path: &Path, lines: &Lines) -> Option<usize> {
        let mut p = path.clone();
        loop {
            if let Some(&i) = self.by_path.get(&p) {
                let node = &self.nodes[i];
                if p.is_root() {
                    return None;
                }
                let at = node.key_span.as_ref().unwrap_or(&node.value_span).start;
                return Some(lines.line_of(at));
            }
            p = p.parent()?;
        }
    }

    fn line_of_node(&self, node: &Node, lines: &Lines) -> Option<usize> {
        self.line_of_path(&node.path, lines)
    }
}

// -------------------------------------------------------------------------- structure

struct Structure {
    doc: Option<Document>,
    /// Values replaced to get past an error (reported already).
    repaired: Vec<Path>,
    /// Whether an entry (array element or table) had to be dropped: then checks across
    /// entries (references, residency) could report consequences of the drop, so only
    /// the checks of each value by itself run.
    dropped_entries: bool,
    /// Array path (as written) → indexes of the elements dropped from it, to map the
    /// typed document's indexes back to the text's.
    dropped: HashMap<Path, BTreeSet<usize>>,
}

impl Structure {
    /// A path in the (repaired) typed document → the same element's path in the text.
    fn original(&self, path: &Path) -> Path {
        let mut out = Path::root();
        for seg in &path.0 {
            out = match seg {
                Seg::Key(k) => out.key(k),
                Seg::Index(i) => {
                    let index = match self.dropped.get(&out) {
                        Some(gone) => (0..).filter(|j| !gone.contains(j)).nth(*i).unwrap_or(*i),
                        None => *i,
                    };
                    out.index(index)
                }
            };
        }
        out
    }

    fn drop_element(&mut self, path: &Path) {
        if let (Some(parent), Some(Seg::Index(i))) = (path.parent(), path.0.last()) {
            self.dropped.entry(parent).or_default().insert(*i);
        }
    }
}

const MAX_ROUNDS: usize = 500;

/// Deserializes, repairing the tree after each serde error, until it goes through.
fn deserialize_repairing(
    mut work: Spanned<DeValue<'_>>,
    index: &SpanIndex,
    lines: &Lines,
    errors: &mut Vec<ConfigError>,
) -> Structure {
    let mut out = Structure {
        doc: None,
        repaired: Vec::new(),
        dropped_entries: false,
        dropped: HashMap::new(),
    };
    // Fields removed by a repair, whose "missing field" error would be a repeat.
    let mut removed: Vec<Path> = Vec::new();
    let mut report = |path: &Path, line: Option<usize>, message: String, repaired: &[Path]| {
        // An error inside a repaired value is a consequence of the repair.
        if repaired.iter().any(|r| path.starts_with(r)) {
            return;
        }
        errors.push(ConfigError {
            path: path.to_string(),
            line,
            message,
        });
    };
    for _ in 0..MAX_ROUNDS {
        let err = match Document::deserialize(ValueDeserializer::from(work.clone())) {
            Ok(doc) => {
                out.doc = Some(doc);
                return out;
            }
            Err(e) => e,
        };
        let message = polish(err.message().trim());
        let Some(span) = err.span() else {
            report(&Path::root(), None, message, &out.repaired);
            return out;
        };
        let edited = if let Some(field) = backticked_after(&message, "unknown field `") {
            let field = field.to_string();
            if let Some(node) = index.key_at(&span) {
                report(
                    &node.path,
                    index.line_of_node(node, lines),
                    message,
                    &out.repaired,
                );
                apply(&mut work, &span, &Edit::Remove)
            } else {
                let table = index
                    .value_at(&span)
                    .map(|n| n.path.clone())
                    .unwrap_or_default();
                let path = table.key(&field);
                report(
                    &path,
                    index.line_of_path(&path, lines),
                    message,
                    &out.repaired,
                );
                apply(&mut work, &span, &Edit::RemoveChild(&field))
            }
        } else if let Some(first) = unknown_variant(&message) {
            let (path, by_key) = match index.key_at(&span) {
                Some(node) => (node.path.clone(), true),
                None => match index.value_at(&span) {
                    Some(node) => (node.path.clone(), false),
                    None => (Path::root(), false),
                },
            };
            let text = message.replacen("unknown variant", "unknown value", 1);
            report(&path, index.line_of_path(&path, lines), text, &out.repaired);
            // What the replacement may disturb: the enum's own table for `{ variant = .. }`
            // and for an internally tagged enum (its other fields depend on the tag), else
            // just the value.
            let scope = match path.0.last() {
                _ if by_key => path.parent().unwrap_or_default(),
                Some(Seg::Key(k)) if TAG_FIELDS.contains(&k.as_str()) => {
                    path.parent().unwrap_or_default()
                }
                _ => path.clone(),
            };
            out.repaired.push(scope);
            // The least restrictive value where one matters to later checks.
            let stand_in = match path.0.last() {
                Some(Seg::Key(k)) => LENIENT_VALUES
                    .iter()
                    .find(|(f, _)| f == k)
                    .map(|(_, v)| v.to_string()),
                _ => None,
            }
            .unwrap_or(first);
            if by_key {
                apply(&mut work, &span, &Edit::RenameKey(&stand_in))
            } else {
                apply(&mut work, &span, &Edit::ReplaceString(&stand_in))
            }
        } else if let Some(field) = backticked_after(&message, "missing field `") {
            let node = index.value_at(&span);
            let path = node.map(|n| n.path.clone()).unwrap_or_default();
            if !removed.contains(&path.key(field)) {
                report(
                    &path,
                    index.line_of_path(&path, lines),
                    format!("missing field `{field}`"),
                    &out.repaired,
                );
            }
            if path.is_root() {
                return out;
            }
            out.dropped_entries = true;
            out.drop_element(&path);
            removed.push(path.clone());
            let target = node.map(|n| n.value_span.clone()).unwrap_or(span.clone());
            apply(&mut work, &target, &Edit::Remove)
        } else {
            let node = index.key_at(&span).or_else(|| index.value_at(&span));
            let path = node.map(|n| n.path.clone()).unwrap_or_default();
            report(
                &path,
                index.line_of_path(&path, lines),
                message.clone(),
                &out.repaired,
            );
            if path.is_root() {
                return out;
            }
            if path.is_array_element() {
                out.dropped_entries = true;
                out.drop_element(&path);
            }
            removed.push(path);
            apply(&mut work, &span, &Edit::Remove)
        };
        if !edited {
            return out;
        }
    }
    errors.push(ConfigError {
        path: String::new(),
        line: None,
        message: format!("more than {MAX_ROUNDS} errors; stopped"),
    });
    out
}

/// The text between `prefix` and the next backtick.
fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find('`')?])
}

/// From serde's "unknown variant `x`, expected `a` or `b`": `a`.
fn unknown_variant(message: &str) -> Option<String> {
    backticked_after(message, "unknown variant `")?;
    let expected = &message[message.find("expected")?..];
    Some(backticked_after(expected, "`")?.to_string())
}

/// Tag fields of internally tagged enums in the model (`signature.scheme`).
const TAG_FIELDS: &[&str] = &["scheme"];

/// Stand-ins for a misspelt enum value that trigger no further checks.
const LENIENT_VALUES: &[(&str, &str)] = &[("residency", "relaxed"), ("adapter", "generic")];

/// Serde's wording, in the document's terms.
fn polish(message: &str) -> String {
    message
        .replace(", there are no fields", ": no fields are allowed here")
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected u64", "expected a whole number ≥ 0")
}

enum Edit<'a> {
    /// Remove the entry whose key or value has this span, or the array element.
    Remove,
    /// Remove a key from the table with this span.
    RemoveChild(&'a str),
    /// Rename the key with this span.
    RenameKey(&'a str),
    /// Replace the value with this span by a string.
    ReplaceString(&'a str),
}

/// Applies an edit at the deepest matching place; false when nothing matched.
fn apply(value: &mut Spanned<DeValue<'_>>, target: &Range<usize>, edit: &Edit) -> bool {
    let own_span = value.span();
    match value.get_mut() {
        DeValue::Table(table) => {
            let mut hit: Option<(String, bool)> = None;
            for (k, child) in table.iter_mut() {
                if apply(child, target, edit) {
                    return true;
                }
                if hit.is_none() && (k.span() == *target || child.span() == *target) {
                    hit = Some((k.get_ref().to_string(), k.span() == *target));
                }
            }
            if let Some((key, by_key)) = hit {
                match edit {
                    Edit::Remove => return table.remove(key.as_str()).is_some(),
                    Edit::RenameKey(new) if by_key => {
                        if let Some((k, v)) = table.remove_entry(key.as_str()) {
                            table.insert(Spanned::new(k.span(), Cow::Owned(new.to_string())), v);
                            return true;
                        }
                    }
                    Edit::ReplaceString(s) if !by_key => {
                        if let Some(v) = table.get_mut(key.as_str()) {
                            *v = Spanned::new(
                                target.clone(),
                                DeValue::String(Cow::Owned(s.to_string())),
                            );
                            return true;
                        }
                    }
                    _ => {}
                }
            }
            if own_span == *target
                && let Edit::RemoveChild(name) = edit
            {
                return remove_from(table, name);
            }
            false
        }
        DeValue::Array(array) => {
            for child in array.iter_mut() {
                if apply(child, target, edit) {
                    return true;
                }
            }
            let Some(i) = array.iter().position(|c| c.span() == *target) else {
                return false;
            };
            match edit {
                Edit::Remove => {
                    let old = std::mem::replace(array, DeArray::new());
                    for (j, item) in old.into_iter().enumerate() {
                        if j != i {
                            array.push(item);
                        }
                    }
                    true
                }
                Edit::ReplaceString(s) => {
                    let slot = &mut array.as_mut()[i];
                    *slot =
                        Spanned::new(target.clone(), DeValue::String(Cow::Owned(s.to_string())));
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

fn remove_from(table: &mut DeTable<'_>, name: &str) -> bool {
    table.remove(name).is_some()
}

// ---------------------------------------------------------------------------- meaning

/// A problem found by the meaning checks.
struct Issue {
    path: Path,
    message: String,
    /// Found by looking across entries (a reference, residency), not at the value alone.
    across: bool,
}

/// The meaning checks: every issue found.
fn check(doc: &Document) -> Vec<Issue> {
    let mut c = Checker {
        doc,
        issues: Vec::new(),
    };
    c.regions();
    c.tenants();
    c.issuers();
    c.routes();
    c.carriers();
    c.plans();
    c.account_limits();
    c.webhooks();
    c.subscriptions();
    c.tiers();
    c.issues
}

struct Checker<'d> {
    doc: &'d Document,
    issues: Vec<Issue>,
}

fn root(key: &str) -> Path {
    Path::root().key(key)
}

/// `known: a, b, c` for messages (at most 10 names).
fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return "none are defined".into();
    }
    let more = names.len().saturating_sub(10);
    let mut out = format!("known: {}", names[..names.len().min(10)].join(", "));
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A DNS host name in lower case: labels of `[a-z0-9-]` joined by dots.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// RFC 6749 scope-token: printable ASCII except space, `"` and `\`.
fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl<'d> Checker<'d> {
    /// A value wrong by itself (format, range, duplicate).
    fn error(&mut self, path: Path, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
            across: false,
        });
    }

    /// A value wrong with respect to other entries (a reference, residency).
    fn dangling(&mut self, path: Path, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
            across: true,
        });
    }

    /// Ids: `[a-z0-9][a-z0-9-]*`, at most 63 characters (they go into URLs and KV keys).
    fn id(&mut self, path: Path, id: &str, what: &str) -> bool {
        match check_id(id, what) {
            Ok(()) => true,
            Err(e) => {
                self.error(path, e);
                false
            }
        }
    }

    fn unique<'a>(&mut self, what: &str, items: impl Iterator<Item = (Path, &'a str)>) {
        let mut seen: HashMap<&str, Path> = HashMap::new();
        for (path, id) in items {
            if let Some(first) = seen.get(id) {
                let msg = format!("duplicate {what} {id:?} (first at {first})");
                self.error(path, msg);
            } else {
                seen.insert(id, path);
            }
        }
    }

    fn var(&mut self, path: Path, name: &VarName) {
        if let Err(e) = VarName::check(name.as_str()) {
            self.error(path, e);
        }
    }

    fn url(&mut self, path: Path, url: &HttpUrl) {
        if let Err(e) = HttpUrl::check(url.as_str()) {
            self.error(path, e);
        }
    }

    fn pointer(&mut self, path: Path, pointer: &JsonPointer) {
        if let Err(e) = JsonPointer::check(pointer.as_str()) {
            self.error(path, e);
        }
    }

    fn timestamp(&mut self, path: Path, t: &Timestamp) {
        if t.unix_seconds().is_none() {
            self.error(
                path,
                format!(
                    "{:?} is not an RFC 3339 date-time with an offset (e.g. 2027-01-01T00:00:00Z) or a date",
                    t.as_str()
                ),
            );
        }
    }

    fn header(&mut self, path: Path, name: &str) {
        if !is_header_name(name) {
            self.error(path, format!("{name:?} is not an HTTP header name"));
        }
    }

    fn range(&mut self, path: Path, value: u32, min: u32, max: u32, unit: &str) {
        if value < min || value > max {
            self.error(
                path,
                format!("{value} is out of range: {min} to {max} {unit}"),
            );
        }
    }

    fn region_known(&mut self, path: Path, region: &str) -> bool {
        if self.doc.regions.contains_key(region) {
            return true;
        }
        let msg = format!(
            "unknown region {region:?} (regions are the keys of [regions]; {})",
            known(self.doc.regions.keys().map(String::as_str))
        );
        self.dangling(path, msg);
        false
    }

    fn credentials(
        &mut self,
        path: Path,
        adapter: Adapter,
        carrier: &str,
        creds: &BTreeMap<String, VarName>,
    ) {
        for (role, var) in creds {
            self.var(path.key(role), var);
        }
        let Some((required, optional)) = adapter.credential_roles() else {
            return;
        };
        for role in creds.keys() {
            if !required.contains(&role.as_str()) && !optional.contains(&role.as_str()) {
                let all: Vec<&str> = required.iter().chain(optional).copied().collect();
                self.error(
                    path.key(role),
                    format!(
                        "unknown credential {role:?} for carrier {carrier:?} (adapter {}): expected {}",
                        adapter.as_str(),
                        all.join(", ")
                    ),
                );
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !creds.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            self.error(
                path,
                format!(
                    "carrier {carrier:?} (adapter {}) needs credentials {} (Spin variable names)",
                    adapter.as_str(),
                    missing.join(", ")
                ),
            );
        }
    }

    // ------------------------------------------------------------------- sections

    fn regions(&mut self) {
        let doc = self.doc;
        for (name, url) in &doc.regions {
            let path = root("regions").key(name);
            self.id(path.clone(), name, "region");
            self.url(path, url);
        }
        let id_path = root("region").key("id");
        if self.id(id_path.clone(), &doc.region.id, "region")
            && !doc.regions.contains_key(&doc.region.id)
        {
            let msg = format!(
                "region {:?} has no public base URL: add it to [regions]",
                doc.region.id
            );
            self.dangling(id_path, msg);
        }
        for (i, served) in doc.region.serves.iter().enumerate() {
            self.region_known(root("region").key("serves").index(i), served);
        }
        self.unique(
            "served region",
            doc.region
                .serves
                .iter()
                .enumerate()
                .map(|(i, s)| (root("region").key("serves").index(i), s.as_str())),
        );
    }

    fn tenants(&mut self) {
        let doc = self.doc;
        self.unique(
            "tenant id",
            doc.tenants
                .iter()
                .enumerate()
                .map(|(i, t)| (root("tenants").index(i).key("id"), t.id.as_str())),
        );
        let key_paths = doc.tenants.iter().enumerate().flat_map(|(i, t)| {
            t.keys.iter().enumerate().map(move |(j, k)| {
                (
                    root("tenants").index(i).key("keys").index(j).key("hash"),
                    k.hash.as_str(),
                )
            })
        });
        self.unique("API key hash", key_paths);
        // Own accounts: one tenant per (carrier, account number), so a webhook naming the
        // account finds one tenant.
        let own_paths = doc.tenants.iter().enumerate().flat_map(|(i, t)| {
            t.carriers
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_platform())
                .map(move |(j, c)| {
                    (
                        root("tenants")
                            .index(i)
                            .key("carriers")
                            .index(j)
                            .key("account"),
                        (c.carrier.as_str(), c.account.as_str()),
                    )
                })
        });
        let mut seen_accounts: HashMap<(&str, &str), Path> = HashMap::new();
        for (path, key) in own_paths {
            if let Some(first) = seen_accounts.get(&key) {
                let msg = format!(
                    "account {:?} of carrier {:?} is already used by another tenant (at {first}): own accounts belong to one tenant",
                    key.1, key.0
                );
                self.error(path, msg);
            } else {
                seen_accounts.insert(key, path);
            }
        }
        let route_scopes: BTreeSet<&str> = doc
            .routes
            .iter()
            .flat_map(|r| r.scopes.iter().map(String::as_str))
            .collect();

        for (i, t) in doc.tenants.iter().enumerate() {
            let tp = root("tenants").index(i);
            self.id(tp.key("id"), &t.id, "tenant");
            let home_known = self.region_known(tp.key("home"), &t.home);
            match t.residency {
                Residency::Strict if !t.allowed_regions.is_empty() => self.error(
                    tp.key("allowed_regions"),
                    format!(
                        "tenant {:?} is strict: it is served only in its home region, so allowed_regions must be empty",
                        t.id
                    ),
                ),
                _ => {}
            }
            for (j, r) in t.allowed_regions.iter().enumerate() {
                if self.region_known(tp.key("allowed_regions").index(j), r) && *r == t.home {
                    self.error(
                        tp.key("allowed_regions").index(j),
                        format!("{r:?} is the tenant's home region already"),
                    );
                }
            }
            if doc.plan(&t.plan).is_none() {
                let msg = format!(
                    "unknown plan {:?} ({})",
                    t.plan,
                    known(doc.plans.iter().map(|p| p.id.as_str()))
                );
                self.dangling(tp.key("plan"), msg);
            }
            for (j, issuer) in t.issuers.iter().enumerate() {
                if doc.issuer(issuer).is_none() {
                    let msg = format!(
                        "unknown issuer {issuer:?} ({})",
                        known(doc.issuers.iter().map(|i| i.id.as_str()))
                    );
                    self.dangling(tp.key("issuers").index(j), msg);
                }
            }
            self.unique(
                "issuer",
                t.issuers
                    .iter()
                    .enumerate()
                    .map(|(j, s)| (tp.key("issuers").index(j), s.as_str())),
            );
            if let Some(name) = &t.name
                && name.trim().is_empty()
            {
                self.error(tp.key("name"), "name is empty");
            }

            for (j, key) in t.keys.iter().enumerate() {
                let kp = tp.key("keys").index(j);
                if let Err(e) = KeyHash::check(key.hash.as_str()) {
                    self.error(kp.key("hash"), e);
                }
                if let Some(expires) = &key.expires {
                    self.timestamp(kp.key("expires"), expires);
                }
                if let Some(scopes) = &key.scopes {
                    for (s, scope) in scopes.iter().enumerate() {
                        if !is_scope(scope) {
                            self.error(
                                kp.key("scopes").index(s),
                                format!("{scope:?} is not a scope"),
                            );
                        } else if !route_scopes.contains(scope.as_str()) {
                            let msg = format!(
                                "scope {scope:?} is not required by any route ({})",
                                known(route_scopes.iter().copied())
                            );
                            self.dangling(kp.key("scopes").index(s), msg);
                        }
                    }
                }
            }

            self.unique(
                "carrier",
                t.carriers.iter().enumerate().map(|(j, c)| {
                    (
                        tp.key("carriers").index(j).key("carrier"),
                        c.carrier.as_str(),
                    )
                }),
            );
            for (j, tc) in t.carriers.iter().enumerate() {
                let cp = tp.key("carriers").index(j);
                let Some(carrier) = doc.carrier(&tc.carrier) else {
                    let msg = format!(
                        "unknown carrier {:?} ({})",
                        tc.carrier,
                        known(doc.carriers.iter().map(|c| c.id.as_str()))
                    );
                    self.dangling(cp.key("carrier"), msg);
                    continue;
                };
                if tc.is_platform() {
                    if !tc.credentials.is_empty() {
                        self.error(
                            cp.key("credentials"),
                            "the platform account's credentials are the carrier's (carriers[].platform); \
                             a tenant's credentials go with its own account number",
                        );
                    }
                    if carrier.platform.is_none() {
                        let msg = format!(
                            "carrier {:?} has no platform account (carriers[].platform)",
                            carrier.id
                        );
                        self.dangling(cp.key("account"), msg);
                    }
                } else {
                    if !is_account_number(&tc.account) {
                        let msg = format!(
                            "{:?} is neither \"platform\" nor an account number (`[A-Za-z0-9._-]`, at most 64)",
                            tc.account
                        );
                        self.error(cp.key("account"), msg);
                    }
                    self.credentials(
                        cp.key("credentials"),
                        carrier.adapter,
                        &carrier.id,
                        &tc.credentials,
                    );
                }
                if let Some(upstream) = &tc.upstream {
                    match carrier.upstreams.iter().find(|u| u.id == *upstream) {
                        None => {
                            let msg = format!(
                                "carrier {:?} has no upstream {upstream:?} ({})",
                                carrier.id,
                                known(carrier.upstreams.iter().map(|u| u.id.as_str()))
                            );
                            self.dangling(cp.key("upstream"), msg);
                        }
                        Some(u) if t.residency == Residency::Strict && u.region != t.home => {
                            let msg = format!(
                                "upstream {upstream:?} of carrier {:?} is in region {:?}, outside strict tenant {:?}'s home region {:?}",
                                carrier.id, u.region, t.id, t.home
                            );
                            self.dangling(cp.key("upstream"), msg);
                        }
                        Some(_) => {}
                    }
                }
                // Residency: a strict tenant's calls never leave its home region.
                if t.residency == Residency::Strict
                    && home_known
                    && !carrier.upstreams.iter().any(|u| u.region == t.home)
                {
                    let regions: BTreeSet<&str> = carrier
                        .upstreams
                        .iter()
                        .map(|u| u.region.as_str())
                        .collect();
                    let msg = format!(
                        "carrier {:?} has no upstream in region {:?}, the home of strict tenant {:?} \
                         (its upstreams are in: {})",
                        carrier.id,
                        t.home,
                        t.id,
                        regions.into_iter().collect::<Vec<_>>().join(", ")
                    );
                    self.dangling(cp.key("carrier"), msg);
                }
            }
        }
    }

    fn issuers(&mut self) {
        let doc = self.doc;
        self.unique(
            "issuer id",
            doc.issuers
                .iter()
                .enumerate()
                .map(|(i, x)| (root("issuers").index(i).key("id"), x.id.as_str())),
        );
        self.unique(
            "iss",
            doc.issuers
                .iter()
                .enumerate()
                .map(|(i, x)| (root("issuers").index(i).key("iss"), x.iss.as_str())),
        );
        for (i, issuer) in doc.issuers.iter().enumerate() {
            let ip = root("issuers").index(i);
            self.id(ip.key("id"), &issuer.id, "issuer");
            if issuer.iss.trim().is_empty() {
                self.error(ip.key("iss"), "iss is empty");
            }
            if issuer.audiences.is_empty() {
                self.error(
                    ip.key("audiences"),
                    "at least one audience is needed: tokens must name one",
                );
            }
            for (a, aud) in issuer.audiences.iter().enumerate() {
                if aud.trim().is_empty() {
                    self.error(ip.key("audiences").index(a), "audience is empty");
                }
            }
            if issuer.tenant_claim.trim().is_empty() {
                self.error(ip.key("tenant_claim"), "tenant_claim is empty");
            }
            if let Some(claim) = &issuer.agent_claim
                && claim.trim().is_empty()
            {
                self.error(ip.key("agent_claim"), "agent_claim is empty");
            }
            self.range(ip.key("leeway_secs"), issuer.leeway_secs, 0, 300, "seconds");
            if let Some(age) = issuer.max_age_secs {
                self.range(ip.key("max_age_secs"), age, 1, 31 * 86_400, "seconds");
            }
            if issuer.keys.is_empty() {
                self.error(ip.key("keys"), "an issuer needs at least one key");
            }
            self.unique(
                "kid",
                issuer
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(k, key)| (ip.key("keys").index(k).key("kid"), key.kid.as_str())),
            );
            for (k, key) in issuer.keys.iter().enumerate() {
                self.issuer_key(ip.key("keys").index(k), key);
            }
        }
    }

    fn issuer_key(&mut self, kp: Path, key: &IssuerKey) {
        if key.kid.trim().is_empty() {
            self.error(kp.key("kid"), "kid is empty");
        }
        let alg = key.alg;
        if alg.is_hmac() {
            match (&key.secret, &key.public_key) {
                (_, Some(_)) => self.error(
                    kp.key("alg"),
                    format!("{alg} is HMAC: its key is a shared secret named by `secret` (a Spin variable), not a `public_key`"),
                ),
                (None, None) => self.error(kp.key("secret"), format!("{alg} needs `secret`: the Spin variable holding the HMAC secret")),
                (Some(var), None) => self.var(kp.key("secret"), var),
            }
            return;
        }
        match (&key.secret, &key.public_key) {
            (Some(_), _) => self.error(
                kp.key("alg"),
                format!(
                    "{alg} is asymmetric: its key is a `public_key` (PEM), not a `secret` variable"
                ),
            ),
            (None, None) => self.error(
                kp.key("public_key"),
                format!("{alg} needs `public_key`: a PEM public key"),
            ),
            (None, Some(pem)) => match public_key_kind(pem.as_str()) {
                Err(e) => self.error(kp.key("public_key"), e),
                Ok(kind) if !alg_fits(alg, kind) => self.error(
                    kp.key("alg"),
                    format!(
                        "{alg} cannot be verified with this public key: it is {}",
                        kind.describe()
                    ),
                ),
                Ok(_) => {}
            },
        }
    }

    fn routes(&mut self) {
        let doc = self.doc;
        self.unique(
            "route id",
            doc.routes
                .iter()
                .enumerate()
                .map(|(i, r)| (root("routes").index(i).key("id"), r.id.as_str())),
        );
        let mut shapes: Vec<(String, &[String], Path)> = Vec::new();
        for (i, route) in doc.routes.iter().enumerate() {
            let rp = root("routes").index(i);
            self.id(rp.key("id"), &route.id, "route");
            match PathPattern::parse(&route.path) {
                Err(e) => self.error(rp.key("path"), e),
                Ok(pattern) => {
                    let shape = pattern.shape();
                    let overlap = shapes.iter().find(|(s, methods, _)| {
                        *s == shape
                            && (methods.is_empty()
                                || route.methods.is_empty()
                                || methods.iter().any(|m| route.methods.contains(m)))
                    });
                    if let Some((_, _, first)) = overlap {
                        let msg = format!(
                            "route {:?} matches the same paths and methods as {first}",
                            route.id
                        );
                        self.error(rp.key("path"), msg);
                    }
                    shapes.push((shape, &route.methods, rp.clone()));
                }
            }
            for (m, method) in route.methods.iter().enumerate() {
                if !METHODS.contains(&method.as_str()) {
                    self.error(
                        rp.key("methods").index(m),
                        format!("{method:?} is not an HTTP method ({})", METHODS.join(", ")),
                    );
                }
            }
            for (s, scope) in route.scopes.iter().enumerate() {
                if !is_scope(scope) {
                    self.error(
                        rp.key("scopes").index(s),
                        format!("{scope:?} is not a scope"),
                    );
                }
            }
            self.range(rp.key("weight"), route.weight, 0, 1_000, "");
            if let Some(sunset) = &route.sunset {
                self.timestamp(rp.key("sunset"), sunset);
                if !route.deprecated {
                    self.error(rp.key("sunset"), "a sunset date needs `deprecated = true`");
                }
            }
            if let Some(ms) = route.deadline_ms {
                self.range(rp.key("deadline_ms"), ms, 1, 300_000, "ms");
            }
        }
    }

    fn carriers(&mut self) {
        let doc = self.doc;
        self.unique(
            "carrier id",
            doc.carriers
                .iter()
                .enumerate()
                .map(|(i, c)| (root("carriers").index(i).key("id"), c.id.as_str())),
        );
        for (i, carrier) in doc.carriers.iter().enumerate() {
            let cp = root("carriers").index(i);
            self.id(cp.key("id"), &carrier.id, "carrier");
            match (&carrier.token_url, carrier.adapter.uses_oauth()) {
                (Some(url), _) if carrier.adapter != Adapter::Dhl => self.url(cp.key("token_url"), url),
                (Some(_), _) => self.error(
                    cp.key("token_url"),
                    "the dhl adapter uses HTTP Basic (MyDHL) and an API key (tracking): no token_url",
                ),
                (None, true) => self.error(
                    cp.key("token_url"),
                    format!(
                        "adapter {} takes OAuth2 client-credentials tokens: token_url is needed",
                        carrier.adapter.as_str()
                    ),
                ),
                (None, false) => {}
            }
            if carrier.upstreams.is_empty() {
                self.error(cp.key("upstreams"), "a carrier needs at least one upstream");
            }
            self.unique(
                "upstream id",
                carrier
                    .upstreams
                    .iter()
                    .enumerate()
                    .map(|(u, up)| (cp.key("upstreams").index(u).key("id"), up.id.as_str())),
            );
            let mut default_regions: BTreeMap<&str, bool> = BTreeMap::new();
            for (u, up) in carrier.upstreams.iter().enumerate() {
                let up_path = cp.key("upstreams").index(u);
                self.id(up_path.key("id"), &up.id, "upstream");
                self.region_known(up_path.key("region"), &up.region);
                self.url(up_path.key("url"), &up.url);
                self.range(up_path.key("weight"), up.weight, 0, 10_000, "");
                if let Some(h) = &up.header {
                    self.header(up_path.key("header").key("name"), &h.name);
                    if h.value.is_empty() {
                        self.error(up_path.key("header").key("value"), "value is empty");
                    }
                }
                if let Some(prefix) = &up.path_prefix
                    && !prefix.starts_with('/')
                {
                    self.error(
                        up_path.key("path_prefix"),
                        format!("{prefix:?} must start with `/`"),
                    );
                }
                if let Some(host) = &up.host
                    && !is_host_name(host)
                {
                    self.error(
                        up_path.key("host"),
                        format!("{host:?} is not a lower-case host name"),
                    );
                }
                let is_default = up.weight > 0
                    && up.header.is_none()
                    && up.path_prefix.is_none()
                    && up.host.is_none();
                *default_regions.entry(up.region.as_str()).or_default() |= is_default;
            }
            for (region, has_default) in default_regions {
                if !has_default {
                    self.dangling(
                        cp.key("upstreams"),
                        format!(
                            "region {region:?} has no default upstream (weight > 0, no header, no path_prefix) for ordinary requests"
                        ),
                    );
                }
            }
            if let Some(platform) = &carrier.platform {
                let pp = cp.key("platform");
                if let Some(number) = &platform.account_number
                    && !is_account_number(number)
                {
                    self.error(
                        pp.key("account_number"),
                        format!("{number:?} is not an account number"),
                    );
                }
                self.credentials(
                    pp.key("credentials"),
                    carrier.adapter,
                    &carrier.id,
                    &platform.credentials,
                );
            }
            self.range(
                cp.key("connect_timeout_ms"),
                carrier.connect_timeout_ms,
                1,
                60_000,
                "ms",
            );
            self.range(cp.key("timeout_ms"), carrier.timeout_ms, 1, 300_000, "ms");
            if carrier.connect_timeout_ms > carrier.timeout_ms {
                self.error(
                    cp.key("connect_timeout_ms"),
                    "connect_timeout_ms is longer than timeout_ms",
                );
            }
            let bp = cp.key("breaker");
            self.range(bp.key("failures"), carrier.breaker.failures, 1, 10_000, "");
            self.range(
                bp.key("credential_failures"),
                carrier.breaker.credential_failures,
                1,
                10_000,
                "",
            );
            self.range(
                bp.key("window_secs"),
                carrier.breaker.window_secs,
                1,
                3_600,
                "seconds",
            );
            self.range(
                bp.key("open_secs"),
                carrier.breaker.open_secs,
                1,
                3_600,
                "seconds",
            );
            if let Some(hedge) = carrier.hedge_after_ms {
                self.range(
                    cp.key("hedge_after_ms"),
                    hedge,
                    1,
                    carrier.timeout_ms.max(1),
                    "ms",
                );
            }
            let rp = cp.key("retry");
            self.range(rp.key("max_retries"), carrier.retry.max_retries, 0, 5, "");
            self.range(
                rp.key("budget_percent"),
                carrier.retry.budget_percent,
                0,
                100,
                "percent",
            );
            for (f, fallback) in carrier.fallback.iter().enumerate() {
                let fp = cp.key("fallback").index(f);
                if *fallback == carrier.id {
                    self.error(
                        fp,
                        format!("carrier {fallback:?} cannot be its own fallback"),
                    );
                } else if let Some(other) = doc.carrier(fallback) {
                    // The router passes a request on as it came, in the carrier's API.
                    if other.adapter != carrier.adapter {
                        self.error(
                            fp,
                            format!(
                                "carrier {fallback:?} speaks the `{}` API, not `{}`: a \
                                 fallback answers the requests of this carrier's API as they \
                                 came, so it must have the same adapter",
                                other.adapter.as_str(),
                                carrier.adapter.as_str()
                            ),
                        );
                    }
                } else {
                    let msg = format!(
                        "unknown carrier {fallback:?} ({})",
                        known(doc.carriers.iter().map(|c| c.id.as_str()))
                    );
                    self.dangling(fp, msg);
                }
            }
            self.unique(
                "fallback",
                carrier
                    .fallback
                    .iter()
                    .enumerate()
                    .map(|(f, s)| (cp.key("fallback").index(f), s.as_str())),
            );
        }
    }

    fn plans(&mut self) {
        let doc = self.doc;
        self.unique(
            "plan id",
            doc.plans
                .iter()
                .enumerate()
                .map(|(i, p)| (root("plans").index(i).key("id"), p.id.as_str())),
        );
        for (i, plan) in doc.plans.iter().enumerate() {
            let pp = root("plans").index(i);
            self.id(pp.key("id"), &plan.id, "plan");
            self.unique(
                "limit id",
                plan.limits
                    .iter()
                    .enumerate()
                    .map(|(l, x)| (pp.key("limits").index(l).key("id"), x.id.as_str())),
            );
            for (l, limit) in plan.limits.iter().enumerate() {
                let lp = pp.key("limits").index(l);
                self.id(lp.key("id"), &limit.id, "limit");
                self.range(lp.key("rate"), limit.rate, 1, 100_000_000, "");
                self.range(
                    lp.key("window_secs"),
                    limit.window_secs,
                    1,
                    31 * 86_400,
                    "seconds",
                );
                if let Some(route) = &limit.route
                    && doc.route(route).is_none()
                {
                    let msg = format!(
                        "unknown route {route:?} ({})",
                        known(doc.routes.iter().map(|r| r.id.as_str()))
                    );
                    self.dangling(lp.key("route"), msg);
                }
                // A request costs its route's weight; one heavier than the whole
                // budget could never pass.
                let heaviest = doc
                    .routes
                    .iter()
                    .filter(|r| limit.route.as_ref().is_none_or(|id| *id == r.id))
                    .max_by_key(|r| r.weight);
                if let Some(route) = heaviest
                    && limit.rate >= 1
                    && route.weight > limit.rate
                {
                    let msg = format!(
                        "route {:?} costs {} units a request, more than this limit's rate {}: its requests could never pass",
                        route.id, route.weight, limit.rate
                    );
                    self.dangling(lp.key("rate"), msg);
                }
            }
        }
    }

    fn account_limits(&mut self) {
        let doc = self.doc;
        let mut seen: HashMap<(&str, &str), Path> = HashMap::new();
        for (i, limit) in doc.account_limits.iter().enumerate() {
            let lp = root("account_limits").index(i);
            self.range(lp.key("rate"), limit.rate, 1, 100_000_000, "");
            self.range(
                lp.key("window_secs"),
                limit.window_secs,
                1,
                31 * 86_400,
                "seconds",
            );
            if let Some(first) = seen.get(&(limit.carrier.as_str(), limit.account.as_str())) {
                let msg = format!(
                    "duplicate limit for account {:?} of carrier {:?} (first at {first})",
                    limit.account, limit.carrier
                );
                self.error(lp.key("account"), msg);
            } else {
                seen.insert((limit.carrier.as_str(), limit.account.as_str()), lp.clone());
            }
            let Some(carrier) = doc.carrier(&limit.carrier) else {
                let msg = format!(
                    "unknown carrier {:?} ({})",
                    limit.carrier,
                    known(doc.carriers.iter().map(|c| c.id.as_str()))
                );
                self.dangling(lp.key("carrier"), msg);
                continue;
            };
            if limit.account == PLATFORM_ACCOUNT {
                if carrier.platform.is_none() {
                    let msg = format!(
                        "carrier {:?} has no platform account (carriers[].platform)",
                        carrier.id
                    );
                    self.dangling(lp.key("account"), msg);
                }
            } else {
                let owned = doc
                    .tenants
                    .iter()
                    .flat_map(|t| &t.carriers)
                    .any(|c| c.carrier == carrier.id && c.account == limit.account);
                if !owned {
                    let msg = format!(
                        "no tenant uses account {:?} of carrier {:?} (\"platform\" or a tenant's own account number)",
                        limit.account, carrier.id
                    );
                    self.dangling(lp.key("account"), msg);
                }
            }
        }
    }

    fn webhooks(&mut self) {
        let doc = self.doc;
        self.unique(
            "webhook intake for carrier",
            doc.webhooks
                .iter()
                .enumerate()
                .map(|(i, w)| (root("webhooks").index(i).key("carrier"), w.carrier.as_str())),
        );
        for (i, hook) in doc.webhooks.iter().enumerate() {
            let wp = root("webhooks").index(i);
            if doc.carrier(&hook.carrier).is_none() {
                let msg = format!(
                    "unknown carrier {:?} ({})",
                    hook.carrier,
                    known(doc.carriers.iter().map(|c| c.id.as_str()))
                );
                self.dangling(wp.key("carrier"), msg);
            }
            let sp = wp.key("signature");
            match &hook.signature {
                Signature::HmacSha256 {
                    header,
                    signed_fields,
                    timestamp,
                    ..
                } => {
                    self.header(sp.key("header"), header);
                    for (f, field) in signed_fields.iter().enumerate() {
                        self.pointer(sp.key("signed_fields").index(f), field);
                    }
                    if let Some(timestamp) = timestamp
                        && !signed_fields.contains(timestamp)
                    {
                        self.error(
                            sp.key("timestamp"),
                            format!(
                                "{:?} is not one of `signed_fields`: an unsigned time could \
                                 be changed by anyone replaying the event",
                                timestamp.as_str()
                            ),
                        );
                    }
                }
                Signature::StaticToken { header, .. } => self.header(sp.key("header"), header),
                Signature::StandardWebhooks {} => {}
            }
            if hook.secrets.is_empty() {
                self.error(
                    wp.key("secrets"),
                    "at least one secret (a Spin variable name) is needed",
                );
            }
            for (s, secret) in hook.secrets.iter().enumerate() {
                self.var(wp.key("secrets").index(s), secret);
            }
            self.unique(
                "secret",
                hook.secrets
                    .iter()
                    .enumerate()
                    .map(|(s, v)| (wp.key("secrets").index(s), v.as_str())),
            );
            self.range(
                wp.key("tolerance_secs"),
                hook.tolerance_secs,
                1,
                3_600,
                "seconds",
            );
            self.range(
                wp.key("dedup_window_secs"),
                hook.dedup_window_secs,
                60,
                30 * 86_400,
                "seconds",
            );
            match &hook.event_id {
                EventIdSource::Header(h) => self.header(wp.key("event_id").key("header"), h),
                EventIdSource::Pointer(p) => self.pointer(wp.key("event_id").key("pointer"), p),
                EventIdSource::BodyHash => {}
            }
            if let Some(p) = &hook.account_pointer {
                self.pointer(wp.key("account_pointer"), p);
            }
        }
    }

    fn subscriptions(&mut self) {
        let doc = self.doc;
        self.unique(
            "subscription id",
            doc.subscriptions
                .iter()
                .enumerate()
                .map(|(i, s)| (root("subscriptions").index(i).key("id"), s.id.as_str())),
        );
        for (i, sub) in doc.subscriptions.iter().enumerate() {
            let sp = root("subscriptions").index(i);
            self.id(sp.key("id"), &sub.id, "subscription");
            let tenant = doc.tenant(&sub.tenant);
            if tenant.is_none() {
                let msg = format!(
                    "unknown tenant {:?} ({})",
                    sub.tenant,
                    known(doc.tenants.iter().map(|t| t.id.as_str()))
                );
                self.dangling(sp.key("tenant"), msg);
            }
            self.url(sp.key("url"), &sub.url);
            if sub.events.is_empty() {
                self.error(sp.key("events"), "no events: use [\"*\"] for all");
            }
            for (e, pattern) in sub.events.iter().enumerate() {
                let body = pattern.strip_suffix('*').unwrap_or(pattern);
                let ok = !pattern.is_empty()
                    && body.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                    });
                if !ok {
                    self.error(
                        sp.key("events").index(e),
                        format!("{pattern:?} is not an event filter: an event type (`tracking.delivered`) or a prefix ending in `*`"),
                    );
                }
            }
            for (c, carrier) in sub.carriers.iter().enumerate() {
                let cp = sp.key("carriers").index(c);
                if doc.carrier(carrier).is_none() {
                    let msg = format!(
                        "unknown carrier {carrier:?} ({})",
                        known(doc.carriers.iter().map(|c| c.id.as_str()))
                    );
                    self.dangling(cp, msg);
                } else if let Some(t) = tenant
                    && !t.carriers.iter().any(|tc| tc.carrier == *carrier)
                {
                    let msg = format!("tenant {:?} does not use carrier {carrier:?}", t.id);
                    self.dangling(cp, msg);
                }
            }
            self.var(sp.key("secret"), &sub.secret);
            if doc.schedule(&sub.tier).is_none() {
                let mut tiers: Vec<&str> = doc.tiers.iter().map(|t| t.id.as_str()).collect();
                tiers.push(DEFAULT_TIER);
                let msg = format!("unknown tier {:?} ({})", sub.tier, known(tiers.into_iter()));
                self.dangling(sp.key("tier"), msg);
            }
        }
    }

    fn tiers(&mut self) {
        let doc = self.doc;
        self.unique(
            "tier id",
            doc.tiers
                .iter()
                .enumerate()
                .map(|(i, t)| (root("tiers").index(i).key("id"), t.id.as_str())),
        );
        for (i, tier) in doc.tiers.iter().enumerate() {
            let tp = root("tiers").index(i);
            self.id(tp.key("id"), &tier.id, "tier");
            if tier.schedule_secs.is_empty() || tier.schedule_secs.len() > 50 {
                self.error(tp.key("schedule_secs"), "a schedule has 1 to 50 attempts");
            }
            for (a, delay) in tier.schedule_secs.iter().enumerate() {
                self.range(
                    tp.key("schedule_secs").index(a),
                    *delay,
                    0,
                    7 * 86_400,
                    "seconds",
                );
            }
            if tier.id == DEFAULT_TIER {
                let total = |s: &[u32]| s.iter().map(|&d| u64::from(d)).sum::<u64>();
                if tier.schedule_secs.len() < DEFAULT_SCHEDULE_SECS.len()
                    || total(&tier.schedule_secs) < total(&DEFAULT_SCHEDULE_SECS)
                {
                    self.error(
                        tp.key("schedule_secs"),
                        format!(
                            "the default tier must be at least as persistent as {DEFAULT_SCHEDULE_SECS:?} \
                             (as many attempts, over as long)"
                        ),
                    );
                }
            }
        }
    }
}

fn is_account_number(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

// ------------------------------------------------------------------------ public keys

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    RsaPss,
    EcP256,
    EcP384,
    EcOther,
    Ed25519,
    Other,
}

impl KeyKind {
    fn describe(self) -> &'static str {
        match self {
            KeyKind::Rsa => "an RSA key",
            KeyKind::RsaPss => "an RSA-PSS key",
            KeyKind::EcP256 => "an EC P-256 key",
            KeyKind::EcP384 => "an EC P-384 key",
            KeyKind::EcOther => "an EC key on an unsupported curve",
            KeyKind::Ed25519 => "an Ed25519 key",
            KeyKind::Other => "a key of an unsupported type",
        }
    }
}

fn alg_fits(alg: Alg, kind: KeyKind) -> bool {
    match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 => kind == KeyKind::Rsa,
        Alg::PS256 => matches!(kind, KeyKind::Rsa | KeyKind::RsaPss),
        Alg::ES256 => kind == KeyKind::EcP256,
        Alg::ES384 => kind == KeyKind::EcP384,
        Alg::EdDSA => kind == KeyKind::Ed25519,
        Alg::HS256 | Alg::HS384 | Alg::HS512 => false,
    }
}

/// Checks a PEM SubjectPublicKeyInfo and tells its key type from the algorithm OIDs.
fn public_key_kind(pem: &str) -> Result<KeyKind, String> {
    if pem.contains("PRIVATE KEY") {
        return Err(
            "this is a private key: private keys are secrets and never belong in the document; \
                    put the public key here"
                .into(),
        );
    }
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|r| r.strip_suffix("-----END PUBLIC KEY-----"))
        .ok_or(
            "expected a PEM public key: -----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----",
        )?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the PEM body is not valid base64".to_string())?;
    if der.len() < 24 || der[0] != 0x30 {
        return Err("the PEM body is not a DER SubjectPublicKeyInfo".into());
    }
    // The AlgorithmIdentifier comes first, within the first few dozen bytes.
    let head = &der[..der.len().min(40)];
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    const RSA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const RSA_PSS: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    ];
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    Ok(if has(RSA) {
        KeyKind::Rsa
    } else if has(RSA_PSS) {
        KeyKind::RsaPss
    } else if has(EC) {
        if has(P256) {
            KeyKind::EcP256
        } else if has(P384) {
            KeyKind::EcP384
        } else {
            KeyKind::EcOther
        }
    } else if has(ED25519) {
        KeyKind::Ed25519
    } else {
        KeyKind::Other
    })
}

#[cfg(test)]
mod tests;
