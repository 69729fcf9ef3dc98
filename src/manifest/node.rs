//! The manifest's YAML as a tree in which every key and value knows where it starts in
//! the source. This is the "raw" layer: no schema, only YAML. It is built from
//! yaml-rust2's event parser because serde_yaml forgets positions, and every loader
//! diagnostic has to point at a line and column. Scalars keep their text and whether
//! they were quoted; the validator decides what type it wants (YAML 1.2 core schema).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source: both 1-based, `col` counted in characters. `file` says
/// which file of the manifest: 0 the manifest itself, `n` the n-th file it includes
/// (docs/behaviour.md#include). Ordered by file first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub file: u16,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// A position in the manifest itself.
    pub fn at(line: usize, col: usize) -> Pos {
        Pos { file: 0, line, col }
    }
}

impl Pos {
    fn from_marker(m: Marker) -> Pos {
        // yaml-rust2 counts lines from 1 and columns from 0 (see its `Display for
        // ScanError`, which adds 1 to the column).
        Pos::at(m.line(), m.col() + 1)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `text` as written (unquoted); `plain` = not quoted and not a block scalar, so it
    /// may be a null, a boolean or a number.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in source order.
    Map(Vec<(Node, Node)>),
}

/// What a scalar or collection is, for "expected X, found Y" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Seq,
    Map,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Null => "nothing (null)",
            Kind::Bool => "a boolean",
            Kind::Int => "a number",
            Kind::Float => "a fractional number",
            Kind::Str => "a string",
            Kind::Seq => "a list",
            Kind::Map => "a map",
        }
    }
}

impl Node {
    pub fn kind(&self) -> Kind {
        match &self.value {
            Value::Seq(_) => Kind::Seq,
            Value::Map(_) => Kind::Map,
            Value::Scalar { plain: false, .. } => Kind::Str,
            Value::Scalar { text, plain: true } => {
                if is_null(text) {
                    Kind::Null
                } else if parse_bool(text).is_some() {
                    Kind::Bool
                } else if parse_int(text).is_some() {
                    Kind::Int
                } else if is_float(text) {
                    Kind::Float
                } else {
                    Kind::Str
                }
            }
        }
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// The scalar's text, whatever its YAML type (a number written as a name or an env
    /// value is fine as a string); `None` for null and collections.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar { text, plain: true } => parse_int(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => parse_bool(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

fn is_null(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn is_float(t: &str) -> bool {
    matches!(t, ".inf" | "-.inf" | "+.inf" | ".nan" | ".NaN" | ".NAN")
        || (t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && t.parse::<f64>().is_ok())
}

/// A problem found while building the tree. `fatal` problems (YAML syntax) mean there is
/// no tree.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// The outcome of parsing: the document (None for an empty file) and non-fatal problems
/// (duplicate keys, a second document).
#[derive(Debug)]
pub struct Parsed {
    pub root: Option<Node>,
    pub problems: Vec<YamlProblem>,
}

/// Parse `src`. A syntax error is returned as `Err` with its location: parsing stops
/// there.
pub fn parse(src: &str) -> Result<Parsed, YamlProblem> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(YamlProblem {
            pos: Pos::from_marker(*m),
            message: format!("invalid YAML: {}", e.info()),
            hint: Some(syntax_hint(src, Pos::from_marker(*m))),
        });
    }
    Ok(Parsed {
        root: b.root,
        problems: b.problems,
    })
}

fn syntax_hint(src: &str, pos: Pos) -> String {
    let line = src.lines().nth(pos.line.saturating_sub(1)).unwrap_or("");
    if src
        .lines()
        .any(|l| l.trim_start_matches(' ').starts_with('\t'))
    {
        "YAML does not allow tabs for indentation: indent with spaces".to_string()
    } else if line.contains(": ") && line.matches(':').count() > 1 {
        "a value containing `: ` must be quoted, e.g. `cmd: \"echo a: b\"`".to_string()
    } else {
        "check the indentation and quoting around this line".to_string()
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        pos: Pos,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: Vec<(usize, Node)>,
    documents: usize,
    problems: Vec<YamlProblem>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => {
                // Only the first document is the manifest; later ones were reported.
                if self.root.is_none() && self.documents <= 1 {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let dup = k.scalar_text().and_then(|kt| {
                        entries
                            .iter()
                            .find(|(e, _)| e.scalar_text() == Some(kt) && kt != "<<")
                            .map(|(e, _)| (kt.to_string(), e.pos))
                    });
                    if let Some((name, first)) = dup {
                        self.problems.push(YamlProblem {
                            pos: k.pos,
                            message: format!("duplicate key `{name}`"),
                            hint: Some(format!(
                                "it is already set on line {}; remove one of them",
                                first.line
                            )),
                        });
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

/// Apply YAML merge keys (`<<: *base`, `<<: [*a, *b]`): entries the map sets itself win.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if is_merge_key(&k) {
            let sources: Vec<Node> = match v.value {
                Value::Seq(items) => items,
                _ => vec![v],
            };
            for src in sources {
                match src.value {
                    Value::Map(m) => merged.extend(m),
                    // Not a map: keep it as an ordinary key so validation reports it.
                    other => own.push((
                        k.clone(),
                        Node {
                            value: other,
                            pos: src.pos,
                        },
                    )),
                }
            }
        } else {
            own.push((k, v));
        }
    }
    for (k, v) in merged {
        let present = own
            .iter()
            .any(|(o, _)| o.scalar_text().is_some() && o.scalar_text() == k.scalar_text());
        if !present {
            own.push((k, v));
        }
    }
    own
}

fn is_merge_key(k: &Node) -> bool {
    matches!(&k.value, Value::Scalar { text, plain: true } if text == "<<")
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.problems.push(YamlProblem {
                        pos,
                        message: "more than one YAML document in the manifest".to_string(),
                        hint: Some("remove the `---` separator and everything after it, or merge the documents".to_string()),
                    });
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push(
                    Node {
                        value: Value::Scalar { text, plain },
                        pos,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    pos,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node_anchor = match self.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => Some((
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                    )),
                    Some(Frame::Map {
                        entries,
                        pos,
                        anchor,
                        ..
                    }) => Some((
                        Node {
                            value: Value::Map(merge_keys(entries)),
                            pos,
                        },
                        anchor,
                    )),
                    None => None,
                };
                if let Some((node, anchor)) = node_anchor {
                    self.push(node, anchor);
                }
            }
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                let node = found.unwrap_or(Node {
                    value: Value::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                    pos,
                });
                self.push(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        parse(src).expect("valid yaml").root.expect("a document")
    }

    #[test]
    fn positions_are_one_based_for_keys_and_values() {
        let n = root("version: 1\ntasks:\n  api:\n    cmd: echo hi\n    ports: [4000, 4001]\n");
        let tasks = &n.as_map().unwrap()[1];
        assert_eq!(tasks.0.pos, Pos::at(2, 1));
        let api = &tasks.1.as_map().unwrap()[0];
        assert_eq!(api.0.pos, Pos::at(3, 3));
        let fields = api.1.as_map().unwrap();
        assert_eq!(fields[0].0.pos, Pos::at(4, 5));
        assert_eq!(fields[0].1.pos, Pos::at(4, 10));
        let Value::Seq(ports) = &fields[1].1.value else {
            panic!("a list")
        };
        assert_eq!(ports[1].pos, Pos::at(5, 19));
        assert_eq!(ports[1].as_int(), Some(4001));
    }

    #[test]
    fn scalar_kinds_follow_yaml_core_schema() {
        let n = root("a: 1\nb: '1'\nc: true\nd: ~\ne: no\nf: 1.5\ng:\n");
        let kinds: Vec<Kind> = n.as_map().unwrap().iter().map(|(_, v)| v.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::Int,
                Kind::Str,
                Kind::Bool,
                Kind::Null,
                Kind::Str,
                Kind::Float,
                Kind::Null
            ]
        );
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let p = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].pos, Pos::at(3, 1));
        assert!(p.problems[0].hint.as_deref().unwrap().contains("line 1"));
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let e = parse("tasks:\n  api:\n    cmd: [unclosed\n").unwrap_err();
        assert!(e.pos.line >= 3, "{e:?}");
        let e = parse("a:\n\tb: 1\n").unwrap_err();
        assert!(e.hint.unwrap().contains("tabs"));
    }

    #[test]
    fn merge_keys_and_aliases_expand() {
        let n = root("base: &b {restart: always, log_keep: 2}\nt:\n  <<: *b\n  log_keep: 5\n");
        let t = &n.as_map().unwrap()[1].1;
        let m = t.as_map().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0.scalar_text(), Some("log_keep"));
        assert_eq!(m[0].1.as_int(), Some(5));
        assert_eq!(m[1].1.scalar_text(), Some("always"));
    }

    #[test]
    fn odd_documents_do_not_panic() {
        for src in [
            "",
            "---\n",
            "- a\n- b\n",
            "tasks:\n",
            "just a string",
            "? [a]\n: b\n",
            "*x\n",
            "a: *nope\n",
        ] {
            let _ = parse(src);
        }
        assert!(parse("").unwrap().root.is_none());
    }
}
