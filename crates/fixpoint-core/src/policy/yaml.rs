//! A YAML node tree with a source span on every node, built with resource limits.
//!
//! We parse with `saphyr-parser`, the event parser of the maintained saphyr
//! project (`serde_yaml` is deprecated upstream, and its forks report only the
//! first error's position). We build our own tree from its events because
//! policy diagnostics must point at *any* node, long after parsing: semantic
//! checks (an unknown group, a ring that cannot meet a deadline) name the
//! line and column of the offending field, which needs a span per node.
//!
//! Building the tree ourselves also lets us bound the work an input can cause:
//! nesting depth, and the number of nodes after alias expansion (so a
//! "billion laughs" document is rejected after a few hundred thousand nodes
//! instead of exhausting memory). Aliased nodes are shared (`Arc`), never
//! copied, so memory stays proportional to the input.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A 1-based line and column (in characters) in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn from_marker(m: saphyr_parser::Marker) -> Pos {
        Pos {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX).max(1),
            column: u32::try_from(m.col())
                .unwrap_or(u32::MAX - 1)
                .saturating_add(1),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Limits on what one file may cost to load.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes in one file, counting every expansion of an alias.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A large real policy file has a few thousand nodes and a depth under ten.
        Limits {
            max_depth: 64,
            max_nodes: 250_000,
        }
    }
}

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` scalars are resolved by the YAML 1.2 core schema
    /// (null, booleans, numbers), quoted and block scalars are strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Arc<Node>>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Arc<Node>,
    pub value: Arc<Node>,
}

/// One segment of a path from a document's root to a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

impl Node {
    /// Whether this is a plain scalar that YAML resolves to null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }

    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node, with its key node.
    pub fn get_entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key.as_str() == Some(key)),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|e| &*e.value)
    }

    /// The position a diagnostic about the node at `path` should point at:
    /// the value itself when it is a scalar or a sequence element, the key
    /// when the value is a collection (its first line is the key's line).
    /// Walks as far as the path exists, so a missing field points at its parent.
    pub fn locate(&self, path: &[Seg]) -> Pos {
        let mut node = self;
        let mut pos = self.pos;
        for seg in path {
            match (seg, &node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    match entries.iter().find(|e| e.key.as_str() == Some(k.as_str())) {
                        Some(e) => {
                            pos = match e.value.value {
                                Value::Scalar { .. } => e.value.pos,
                                _ => e.key.pos,
                            };
                            node = &e.value;
                        }
                        None => return pos,
                    }
                }
                (Seg::Index(i), Value::Seq(items)) => match items.get(*i) {
                    Some(item) => {
                        pos = item.pos;
                        node = item;
                    }
                    None => return pos,
                },
                _ => return pos,
            }
        }
        pos
    }
}

pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A problem found while reading YAML, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlIssue {
    pub pos: Pos,
    pub message: String,
}

/// The documents of a YAML stream, and the problems found reading it. When a
/// problem is fatal (a syntax error, a limit), the documents before it are kept.
#[derive(Debug, Default)]
pub struct Stream {
    pub documents: Vec<Arc<Node>>,
    pub issues: Vec<YamlIssue>,
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Arc<Node>>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Arc<Node>>,
    },
}

/// Parses every document of `text`.
pub fn parse_stream(text: &str, limits: Limits) -> Stream {
    let mut out = Stream::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Arc<Node>> = HashMap::new();
    let mut nodes: usize = 0;
    let mut sizes: HashMap<*const Node, usize> = HashMap::new();

    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(ev) => ev,
            Err(e) => {
                out.issues.push(YamlIssue {
                    pos: Pos::from_marker(*e.marker()),
                    message: format!("invalid YAML: {}", e.info()),
                });
                return out;
            }
        };
        let pos = Pos::from_marker(span.start);
        let mut is_alias = false;
        let is_seq = matches!(event, Event::SequenceStart(..));
        let finished: Arc<Node> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                anchors.clear();
                continue;
            }
            Event::DocumentEnd => continue,
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if let Some(tag) = tag {
                    out.issues.push(YamlIssue {
                        pos,
                        message: format!(
                            "YAML tag `{}{}` is not supported on a collection",
                            tag.handle, tag.suffix
                        ),
                    });
                    return out;
                }
                if stack.len() >= limits.max_depth {
                    out.issues.push(YamlIssue {
                        pos,
                        message: format!(
                            "nesting deeper than {} levels; a policy is never this deep",
                            limits.max_depth
                        ),
                    });
                    return out;
                }
                let frame = if is_seq {
                    Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                };
                stack.push(frame);
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = stack.pop() else { continue };
                let (node, anchor) = match frame {
                    Frame::Seq { pos, anchor, items } => (
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    } => (
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ),
                };
                let node = Arc::new(node);
                if anchor != 0 {
                    anchors.insert(anchor, Arc::clone(&node));
                }
                node
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut plain = style == ScalarStyle::Plain;
                if let Some(tag) = tag {
                    let core_schema = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
                    if core_schema && tag.suffix == "str" {
                        plain = false;
                    } else {
                        out.issues.push(YamlIssue {
                            pos,
                            message: format!(
                                "YAML tag `{}{}` is not supported; only `!!str` is",
                                tag.handle, tag.suffix
                            ),
                        });
                        return out;
                    }
                }
                let node = Arc::new(Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                });
                if anchor != 0 {
                    anchors.insert(anchor, Arc::clone(&node));
                }
                node
            }
            Event::Alias(anchor) => match anchors.get(&anchor) {
                Some(node) => {
                    is_alias = true;
                    Arc::clone(node)
                }
                None => {
                    out.issues.push(YamlIssue {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    });
                    return out;
                }
            },
        };

        // Count nodes as if every alias were expanded: a new node counts once
        // (its children were counted as they finished), an alias counts its
        // whole subtree again.
        let size = subtree_size(&finished, &mut sizes);
        nodes = nodes.saturating_add(if is_alias { size } else { 1 });
        if nodes > limits.max_nodes {
            out.issues.push(YamlIssue {
                pos,
                message: format!(
                    "file expands to more than {} YAML nodes (aliases included); \
                     refusing it (a YAML alias bomb?)",
                    limits.max_nodes
                ),
            });
            return out;
        }

        match stack.last_mut() {
            None => out.documents.push(finished),
            Some(Frame::Seq { items, .. }) => items.push(finished),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if !matches!(finished.value, Value::Scalar { .. }) {
                        out.issues.push(YamlIssue {
                            pos: finished.pos,
                            message: "a mapping key must be a string, not a collection".into(),
                        });
                        return out;
                    }
                    *key = Some(finished);
                }
                Some(k) => {
                    let name = k.as_str().unwrap_or_default();
                    if let Some(first) = entries.iter().find(|e| e.key.as_str() == Some(name)) {
                        out.issues.push(YamlIssue {
                            pos: k.pos,
                            message: format!(
                                "duplicate key `{name}` (first at line {}); the second is ignored",
                                first.key.pos.line
                            ),
                        });
                    } else {
                        entries.push(Entry {
                            key: k,
                            value: finished,
                        });
                    }
                }
            },
        }
    }
    out
}

/// Nodes in `node`'s subtree, each alias expansion counted again; memoised by
/// address so shared subtrees are measured once.
fn subtree_size(node: &Arc<Node>, memo: &mut HashMap<*const Node, usize>) -> usize {
    let key = Arc::as_ptr(node);
    if let Some(&n) = memo.get(&key) {
        return n;
    }
    let n = match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => items
            .iter()
            .map(|i| memo.get(&Arc::as_ptr(i)).copied().unwrap_or(1))
            .fold(1usize, usize::saturating_add),
        Value::Map(entries) => entries
            .iter()
            .map(|e| {
                memo.get(&Arc::as_ptr(&e.value))
                    .copied()
                    .unwrap_or(1)
                    .saturating_add(1)
            })
            .fold(1usize, usize::saturating_add),
    };
    memo.insert(key, n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Stream {
        parse_stream(text, Limits::default())
    }

    #[test]
    fn nodes_carry_one_based_positions() {
        let s = parse("a: 1\nb:\n  - x\n  - 'y'\n");
        assert!(s.issues.is_empty(), "{:?}", s.issues);
        let doc = &s.documents[0];
        assert_eq!(
            doc.locate(&["b".into(), 1.into()]),
            Pos { line: 4, column: 5 }
        );
        assert_eq!(doc.locate(&["a".into()]), Pos { line: 1, column: 4 });
        assert_eq!(doc.locate(&["b".into()]), Pos { line: 2, column: 1 });
    }

    #[test]
    fn several_documents_in_one_stream() {
        let s = parse("a: 1\n---\nb: 2\n---\n");
        assert_eq!(s.documents.len(), 3);
        assert!(s.documents[2].is_null());
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_kept() {
        let s = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(s.issues.len(), 1);
        assert_eq!(s.issues[0].pos, Pos { line: 3, column: 1 });
        assert!(
            s.issues[0]
                .message
                .contains("duplicate key `a` (first at line 1)")
        );
        assert_eq!(s.documents[0].get("a").and_then(Node::as_str), Some("1"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let s = parse("a: [1, 2\nb: 3\n");
        assert_eq!(s.issues.len(), 1);
        assert!(
            s.issues[0].message.starts_with("invalid YAML"),
            "{:?}",
            s.issues
        );
    }

    #[test]
    fn alias_bombs_stop_at_the_node_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let s = parse(&text);
        assert_eq!(s.issues.len(), 1);
        assert!(s.issues[0].message.contains("alias bomb"), "{:?}", s.issues);
    }

    #[test]
    fn deep_block_nesting_stops_at_our_depth_limit() {
        let text: String = (0..100)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let s = parse(&text);
        assert!(
            s.issues[0].message.contains("nesting deeper than 64"),
            "{:?}",
            s.issues
        );
    }

    #[test]
    fn deep_flow_nesting_is_refused_by_the_parser_before_it_costs_anything() {
        let s = parse(&"[".repeat(100_000));
        assert_eq!(s.issues.len(), 1);
        assert!(
            s.issues[0].message.contains("recursion limit exceeded"),
            "{:?}",
            s.issues
        );
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let s = parse("a: '1'\nb: 1\nc: !!str 2\n");
        let d = &s.documents[0];
        assert!(matches!(
            d.get("a").map(|n| &n.value),
            Some(Value::Scalar { plain: false, .. })
        ));
        assert!(matches!(
            d.get("b").map(|n| &n.value),
            Some(Value::Scalar { plain: true, .. })
        ));
        assert!(matches!(
            d.get("c").map(|n| &n.value),
            Some(Value::Scalar { plain: false, .. })
        ));
    }

    #[test]
    fn unknown_tags_are_rejected() {
        let s = parse("a: !python/object x\n");
        assert!(
            s.issues[0].message.contains("not supported"),
            "{:?}",
            s.issues
        );
    }
}
