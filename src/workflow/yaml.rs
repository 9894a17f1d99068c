//! YAML with positions: one document read into a tree of [`Node`]s, each with the [`Span`] it
//! came from, so that every later error can point at the exact place in the file.
//!
//! - [`parse`] reads text, [`parse_bytes`] reads a file's bytes (and reports where invalid UTF-8
//!   starts). Both return every problem they can collect, not just the first.
//! - Plain scalars resolve by the YAML 1.2 core schema ([`Scalar::resolve`]): `on`, `yes`, `no`
//!   and `off` are strings, as GitHub reads them.
//! - Anchors and aliases work; an alias is expanded into a copy of its anchor's node. The copy's
//!   root takes the alias's span (so "expected a string" points at `*name`); everything inside
//!   keeps the spans of the anchored text.
//! - Merge keys (`<<: *base`) are refused: GitHub Actions does not support them (YAML 1.2 dropped
//!   them), so a workflow using one would not run there.
//! - Duplicate keys are an error pointing at the second key, with the first as related span.
//!
//! Events come from `saphyr-parser`, whose scanner and parser keep explicit stacks instead of
//! recursing; the tree is built here, again with an explicit stack. Nothing here panics or
//! overflows the stack on any input: the source is capped at [`MAX_SOURCE_BYTES`], nesting at
//! [`MAX_DEPTH`], and alias expansion at [`MAX_NODES`] nodes and [`MAX_SCALAR_BYTES`] of text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle as RawStyle, ScanError, Tag};

/// The largest source read, in bytes. GitHub's runner reads template files up to 1 MiB
/// (`ParseOptions.MaxFileSize`) and GitHub refuses workflow files over 512,000 bytes, so this
/// refuses nothing GitHub would run, and keeps the worst case (a dense 1 MiB flow sequence)
/// well under a second in release builds.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// The deepest nesting of sequences and mappings, counting those copied in by aliases. Real
/// workflows nest about ten deep; GitHub's template reader stops at 50.
pub const MAX_DEPTH: usize = 128;

/// The most nodes a document may hold once its aliases are expanded (GitHub's reader caps
/// parse events at the same number). Refuses alias bombs before they are built.
pub const MAX_NODES: usize = 1_000_000;

/// The most scalar text, in bytes, a document may hold once its aliases are expanded (GitHub
/// caps a template's result at 10 MB).
pub const MAX_SCALAR_BYTES: usize = 10 << 20;

const CORE: &str = "tag:yaml.org,2002:";
const TAG_STR: &str = "tag:yaml.org,2002:str";
const TAG_INT: &str = "tag:yaml.org,2002:int";
const TAG_FLOAT: &str = "tag:yaml.org,2002:float";
const TAG_BOOL: &str = "tag:yaml.org,2002:bool";
const TAG_NULL: &str = "tag:yaml.org,2002:null";
const TAG_SEQ: &str = "tag:yaml.org,2002:seq";
const TAG_MAP: &str = "tag:yaml.org,2002:map";

/// A place in the source: byte offset, 1-based line and 1-based column counted in characters.
/// Lines break at `\n`, `\r\n` and a lone `\r`, as YAML breaks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pos {
    /// Byte offset from the start of the source.
    pub offset: usize,
    /// Line, starting at 1.
    pub line: u32,
    /// Column in characters (a tab counts as one), starting at 1.
    pub col: u32,
}

impl Pos {
    /// The start of a source.
    pub const START: Pos = Pos {
        offset: 0,
        line: 1,
        col: 1,
    };

    /// The position of byte `offset` in `source` (clamped to the source, and moved back to a
    /// character boundary). Scans the source up to `offset`.
    pub fn locate(source: &str, offset: usize) -> Pos {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let mut line = 1u32;
        let mut col = 1u32;
        let mut previous = '\0';
        // A byte order mark is not part of the first line's text.
        let text = source[..offset]
            .strip_prefix('\u{feff}')
            .unwrap_or(&source[..offset]);
        for ch in text.chars() {
            match ch {
                '\n' if previous == '\r' => {}
                '\n' | '\r' => {
                    line = line.saturating_add(1);
                    col = 1;
                }
                _ => col = col.saturating_add(1),
            }
            previous = ch;
        }
        Pos { offset, line, col }
    }
}

/// A stretch of the source, `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Where it starts.
    pub start: Pos,
    /// Where it ends (the position just past its last character).
    pub end: Pos,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: Pos, end: Pos) -> Span {
        Span { start, end }
    }

    /// An empty span at `pos`.
    pub fn point(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }

    /// The byte range, for slicing the source.
    pub fn range(&self) -> Range<usize> {
        self.start.offset..self.end.offset.max(self.start.offset)
    }

    /// Whether the span covers no character.
    pub fn is_empty(&self) -> bool {
        self.end.offset <= self.start.offset
    }
}

/// A node of the document: a scalar, a sequence or a mapping, where it stands, and its tag if
/// the source gave one (in full form: `!!str` is `tag:yaml.org,2002:str`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it stands; includes a leading anchor or tag, and the quotes or brackets.
    pub span: Span,
    /// The explicit tag, if any.
    pub tag: Option<String>,
}

/// The three kinds of YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// Text, resolved to a type by [`Scalar::resolve`] or [`Node::resolve`].
    Scalar(Scalar),
    /// A sequence, in source order.
    Seq(Vec<Node>),
    /// A mapping's entries, in source order; keys are unique (see [`parse`]).
    Map(Vec<(Node, Node)>),
}

/// A scalar's text (after unescaping, folding and chomping) and the style it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The value as YAML reads it.
    pub text: String,
    /// How it was written; only plain scalars resolve to other types than strings.
    pub style: ScalarStyle,
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// `word`
    Plain,
    /// `'text'`
    SingleQuoted,
    /// `"text"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// A scalar's value under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// `true`, `True`, `TRUE`, `false`, `False`, `FALSE`.
    Bool(bool),
    /// Decimal (`-12`), octal (`0o17`) or hexadecimal (`0x1F`) integers that fit in an `i64`.
    Int(i64),
    /// Floats (`1.5`, `1e3`, `.inf`, `-.Inf`, `.nan`), and integers too large for an `i64`.
    Float(f64),
    /// Everything else, and every quoted or block scalar.
    String(&'a str),
}

impl Scalar {
    /// Resolves the scalar by the YAML 1.2 core schema: quoted and block scalars are strings;
    /// plain ones may be null, booleans, integers or floats. YAML 1.1's `yes`/`no`/`on`/`off`
    /// are strings, as are `0b1`, `1_000` and `0X1F`. Tags are not considered here; see
    /// [`Node::resolve`].
    pub fn resolve(&self) -> Resolved<'_> {
        let text = self.text.as_str();
        if self.style != ScalarStyle::Plain {
            return Resolved::String(text);
        }
        match text {
            "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
            "true" | "True" | "TRUE" => Resolved::Bool(true),
            "false" | "False" | "FALSE" => Resolved::Bool(false),
            _ => resolve_int(text)
                .or_else(|| resolve_float(text).map(Resolved::Float))
                .unwrap_or(Resolved::String(text)),
        }
    }
}

fn resolve_int(text: &str) -> Option<Resolved<'_>> {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(octal) = text.strip_prefix("0o") {
        (octal, 8)
    } else {
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        (unsigned, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix == 10 {
        return Some(match text.parse::<i64>() {
            Ok(value) => Resolved::Int(value),
            Err(_) => Resolved::Float(text.parse::<f64>().ok()?),
        });
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(value) => Resolved::Int(value),
        Err(_) => Resolved::Float(digits.chars().fold(0.0, |value, digit| {
            value * f64::from(radix) + f64::from(digit.to_digit(radix).unwrap_or(0))
        })),
    })
}

fn resolve_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let from = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let whole = digits(&mut i);
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        fraction = digits(&mut i);
    }
    if whole == 0 && fraction == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    text.parse().ok()
}

impl Node {
    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// In a mapping, the value whose key resolves to the string `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.resolve() == Some(Resolved::String(key)))
            .map(|(_, value)| value)
    }

    /// A scalar's value, honouring its tag (`!!str 123` is a string, `!!float 1` a float, and
    /// the non-specific `! 123` a string); `None` for sequences and mappings. Tags other than
    /// the core schema's are refused by [`parse`], so they do not occur here.
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        let scalar = self.as_scalar()?;
        Some(match (self.tag.as_deref(), scalar.resolve()) {
            (Some("!" | TAG_STR), _) => Resolved::String(&scalar.text),
            (Some(TAG_FLOAT), Resolved::Int(value)) => Resolved::Float(value as f64),
            (_, resolved) => resolved,
        })
    }

    /// What the node is, for messages such as "expected a string, found a mapping".
    pub fn describe(&self) -> &'static str {
        match self.resolve() {
            None if self.as_seq().is_some() => "a sequence",
            None => "a mapping",
            Some(Resolved::Null) => "null",
            Some(Resolved::Bool(_)) => "a boolean",
            Some(Resolved::Int(_) | Resolved::Float(_)) => "a number",
            Some(Resolved::String(_)) => "a string",
        }
    }
}

/// What kind of problem a [`YamlError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YamlErrorKind {
    /// The text is not YAML; the message is the parser's.
    Syntax,
    /// A tab where YAML allows only spaces (usually indentation).
    Tab,
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// The source is longer than [`MAX_SOURCE_BYTES`].
    TooLarge,
    /// Nesting deeper than [`MAX_DEPTH`], counting what aliases copy in.
    TooDeep,
    /// Expanding aliases would exceed [`MAX_NODES`] nodes or [`MAX_SCALAR_BYTES`] of text.
    ExpansionLimit,
    /// An alias inside the node its anchor names (`&a [*a]`).
    RecursiveAlias,
    /// More than one document (`---`) in the file.
    MultipleDocuments,
    /// The same key twice in one mapping.
    DuplicateKey,
    /// A sequence or mapping used as a mapping key.
    NonScalarKey,
    /// A `<<` merge key, which GitHub Actions does not support.
    MergeKey,
    /// A tag outside the YAML core schema (`!custom`), or one on the wrong kind of node.
    UnsupportedTag,
    /// A core-schema tag whose value does not fit it (`!!int abc`).
    InvalidTaggedValue,
}

impl YamlErrorKind {
    /// What may help, for kinds where one sentence does.
    pub fn help(self) -> Option<&'static str> {
        Some(match self {
            YamlErrorKind::Tab => "YAML does not allow tabs for indentation; indent with spaces",
            YamlErrorKind::InvalidUtf8 => "save the file as UTF-8",
            YamlErrorKind::MultipleDocuments => {
                "a workflow file holds one document; move the second one into its own file"
            }
            YamlErrorKind::MergeKey => {
                "GitHub Actions does not support merge keys; repeat the keys, or alias the whole mapping"
            }
            YamlErrorKind::UnsupportedTag => {
                "remove the tag; GitHub Actions only knows the core tags (!!str, !!int, !!float, !!bool, !!null)"
            }
            YamlErrorKind::RecursiveAlias => "an alias may only name a node that is complete",
            _ => return None,
        })
    }
}

/// A problem with the YAML text, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What kind of problem this is.
    pub kind: YamlErrorKind,
    /// Where in the source.
    pub span: Span,
    /// One sentence for a human.
    pub message: String,
    /// Another place that explains this one, e.g. the first definition of a duplicate key.
    pub related: Option<(Span, String)>,
}

impl YamlError {
    fn new(kind: YamlErrorKind, span: Span, message: impl Into<String>) -> YamlError {
        YamlError {
            kind,
            span,
            message: message.into(),
            related: None,
        }
    }
}

/// Parses one YAML document. An empty document (nothing, or only comments) is a null scalar;
/// a second document is an error. Collects every duplicate key, misplaced tag and merge key;
/// stops at the first syntax error, since the parser cannot go on past one.
pub fn parse(source: &str) -> Result<Node, Vec<YamlError>> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(vec![too_large(source.len())]);
    }
    Builder::new(source).run()
}

/// Parses a file's bytes: like [`parse`], after checking they are UTF-8. Invalid UTF-8 is an
/// error at the byte offset (and line and column) of the first invalid sequence.
pub fn parse_bytes(bytes: &[u8]) -> Result<Node, Vec<YamlError>> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(vec![too_large(bytes.len())]);
    }
    match std::str::from_utf8(bytes) {
        Ok(source) => parse(source),
        Err(error) => {
            let offset = error.valid_up_to();
            let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let start = Pos::locate(valid, offset);
            let bad = error.error_len().unwrap_or(bytes.len() - offset);
            let end = Pos {
                offset: offset + bad,
                col: start.col.saturating_add(1),
                ..start
            };
            let message = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
                "the file is UTF-16; YAML files must be UTF-8".to_owned()
            } else {
                let mut hex = String::new();
                for byte in &bytes[offset..offset + bad] {
                    let _ = write!(hex, " {byte:02X}");
                }
                format!("invalid UTF-8 at byte {offset} (bytes{hex})")
            };
            Err(vec![YamlError::new(
                YamlErrorKind::InvalidUtf8,
                Span::new(start, end),
                message,
            )])
        }
    }
}

fn too_large(len: usize) -> YamlError {
    YamlError::new(
        YamlErrorKind::TooLarge,
        Span::point(Pos::START),
        format!(
            "the file is {len} bytes, more than the {MAX_SOURCE_BYTES} this reads \
             (GitHub refuses workflow files over 512,000 bytes)"
        ),
    )
}

/// Turns the parser's markers (character indices) into [`Pos`], computing line and column the
/// way [`Pos::locate`] does (the parser's own count runs past the end of a file without a final
/// line break). Markers arrive nearly in order, so a cursor that walks from the last answer
/// costs amortised O(1) per marker.
struct Locator<'s> {
    source: &'s str,
    chars: usize,
    at: Pos,
}

impl<'s> Locator<'s> {
    fn new(source: &'s str) -> Self {
        Locator {
            source,
            chars: 0,
            at: Pos::START,
        }
    }

    fn pos(&mut self, marker: &Marker) -> Pos {
        let target = marker.index();
        while self.chars < target {
            let Some(ch) = self.source[self.at.offset..].chars().next() else {
                break;
            };
            let after_cr = self.source[..self.at.offset].ends_with('\r');
            match ch {
                '\n' if after_cr => {}
                '\n' | '\r' => {
                    self.at.line = self.at.line.saturating_add(1);
                    self.at.col = 1;
                }
                '\u{feff}' if self.at.offset == 0 => {}
                _ => self.at.col = self.at.col.saturating_add(1),
            }
            self.at.offset += ch.len_utf8();
            self.chars += 1;
        }
        while self.chars > target {
            let Some(ch) = self.source[..self.at.offset].chars().next_back() else {
                break;
            };
            self.at.offset -= ch.len_utf8();
            self.chars -= 1;
            let after_cr = self.source[..self.at.offset].ends_with('\r');
            match ch {
                '\n' if after_cr => {}
                '\n' | '\r' => {
                    self.at.line = self.at.line.saturating_sub(1).max(1);
                    self.at.col = column(self.source, self.at.offset);
                }
                '\u{feff}' if self.at.offset == 0 => {}
                _ => self.at.col = self.at.col.saturating_sub(1).max(1),
            }
        }
        self.at
    }

    fn span(&mut self, span: &saphyr_parser::Span) -> Span {
        Span::new(self.pos(&span.start), self.pos(&span.end))
    }
}

/// The 1-based column of byte `offset`, counting the characters since the line's start.
fn column(source: &str, offset: usize) -> u32 {
    let line_start = source[..offset].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let mut text = &source[line_start..offset];
    if line_start == 0 {
        text = text.strip_prefix('\u{feff}').unwrap_or(text);
    }
    u32::try_from(text.chars().count() + 1).unwrap_or(u32::MAX)
}

/// A finished node with what alias expansion needs to know about it.
#[derive(Clone)]
struct Built {
    node: Node,
    /// Nodes in the subtree, itself included.
    count: usize,
    /// Scalar text in the subtree.
    bytes: usize,
    /// Collections on the longest path down (0 for a scalar).
    height: usize,
}

/// A mapping key reduced to what makes two keys the same.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    String(String),
}

impl KeyId {
    fn of(resolved: Resolved<'_>) -> KeyId {
        match resolved {
            Resolved::Null => KeyId::Null,
            Resolved::Bool(value) => KeyId::Bool(value),
            Resolved::Int(value) => KeyId::Int(value),
            Resolved::Float(value) if value.is_nan() => KeyId::Float(f64::NAN.to_bits()),
            Resolved::Float(value) => KeyId::Float((value + 0.0).to_bits()),
            Resolved::String(text) => KeyId::String(text.to_owned()),
        }
    }
}

enum Open {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        seen: HashMap<KeyId, Span>,
    },
}

/// A sequence or mapping being read.
struct Frame {
    open: Open,
    start: Pos,
    last_end: Pos,
    anchor: usize,
    tag: Option<String>,
    count: usize,
    bytes: usize,
    height: usize,
}

/// Parsing stopped; the reason is in `Builder::errors`.
struct Stop;

struct Builder<'s> {
    source: &'s str,
    locator: Locator<'s>,
    stack: Vec<Frame>,
    /// Anchor id → the node it names, once complete.
    anchors: HashMap<usize, Built>,
    /// Nodes and scalar bytes in the document so far, aliases expanded.
    nodes: usize,
    bytes: usize,
    documents: usize,
    root: Option<Node>,
    errors: Vec<YamlError>,
}

impl<'s> Builder<'s> {
    fn new(source: &'s str) -> Self {
        Builder {
            source,
            locator: Locator::new(source),
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            bytes: 0,
            documents: 0,
            root: None,
            errors: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Node, Vec<YamlError>> {
        let mut parser = Parser::new_from_str(self.source);
        loop {
            let (event, span) = match parser.next_event() {
                None | Some(Ok((Event::StreamEnd, _))) => break,
                Some(Ok(next)) => next,
                Some(Err(error)) => {
                    let error = self.scan_error(&error);
                    self.errors.push(error);
                    break;
                }
            };
            let span = self.locator.span(&span);
            if self.event(event, span).is_err() {
                break;
            }
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        // No document at all (an empty file, or only comments) reads as null.
        Ok(self.root.unwrap_or(Node {
            kind: NodeKind::Scalar(Scalar {
                text: String::new(),
                style: ScalarStyle::Plain,
            }),
            span: Span::point(Pos::START),
            tag: None,
        }))
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Stop> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.errors.push(YamlError::new(
                        YamlErrorKind::MultipleDocuments,
                        span,
                        "a second YAML document starts here; the file must hold exactly one",
                    ));
                    return Err(Stop);
                }
                Ok(())
            }
            Event::Alias(id) => self.alias(id, span),
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    RawStyle::Plain => ScalarStyle::Plain,
                    RawStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    RawStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    RawStyle::Literal => ScalarStyle::Literal,
                    RawStyle::Folded => ScalarStyle::Folded,
                };
                let text = text.into_owned();
                let bytes = text.len();
                self.charge(1, bytes, span)?;
                let node = Node {
                    kind: NodeKind::Scalar(Scalar { text, style }),
                    span,
                    tag: tag.map(|tag| full_tag(&tag)),
                };
                self.check_tag(&node);
                self.finish(
                    Built {
                        node,
                        count: 1,
                        bytes,
                        height: 0,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(Open::Seq(Vec::new()), span, anchor, tag)
            }
            Event::MappingStart(anchor, tag) => self.open(
                Open::Map {
                    entries: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                },
                span,
                anchor,
                tag,
            ),
            Event::SequenceEnd | Event::MappingEnd => self.close(span),
        }
    }

    fn open(
        &mut self,
        open: Open,
        span: Span,
        anchor: usize,
        tag: Option<std::borrow::Cow<'_, Tag>>,
    ) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            self.errors.push(YamlError::new(
                YamlErrorKind::TooDeep,
                span,
                format!("sequences and mappings nest deeper than {MAX_DEPTH} levels"),
            ));
            return Err(Stop);
        }
        self.charge(1, 0, span)?;
        self.stack.push(Frame {
            open,
            start: span.start,
            last_end: span.end,
            anchor,
            tag: tag.map(|tag| full_tag(&tag)),
            count: 1,
            bytes: 0,
            height: 0,
        });
        Ok(())
    }

    fn close(&mut self, span: Span) -> Result<(), Stop> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        // Flow collections end at their bracket; block ones where their last item ends.
        let end = if span.is_empty() {
            frame.last_end
        } else {
            span.end
        };
        let kind = match frame.open {
            Open::Seq(items) => NodeKind::Seq(items),
            Open::Map { entries, key, .. } => {
                // The parser always pairs keys with values; a lone key cannot remain.
                debug_assert!(key.is_none());
                NodeKind::Map(entries)
            }
        };
        let node = Node {
            kind,
            span: Span::new(frame.start, end),
            tag: frame.tag,
        };
        self.check_tag(&node);
        self.finish(
            Built {
                node,
                count: frame.count,
                bytes: frame.bytes,
                height: frame.height + 1,
            },
            frame.anchor,
        )
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), Stop> {
        let Some(anchored) = self.anchors.get(&id) else {
            // The parser knows the anchor, so it names a node still being read.
            self.errors.push(YamlError::new(
                YamlErrorKind::RecursiveAlias,
                span,
                "this alias refers to a node that contains it",
            ));
            return self.finish(
                Built {
                    node: Node {
                        kind: NodeKind::Scalar(Scalar {
                            text: String::new(),
                            style: ScalarStyle::Plain,
                        }),
                        span,
                        tag: None,
                    },
                    count: 1,
                    bytes: 0,
                    height: 0,
                },
                0,
            );
        };
        let (count, bytes, height) = (anchored.count, anchored.bytes, anchored.height);
        if self.stack.len() + height > MAX_DEPTH {
            self.errors.push(YamlError::new(
                YamlErrorKind::TooDeep,
                span,
                format!(
                    "expanding this alias nests sequences and mappings deeper than {MAX_DEPTH} levels"
                ),
            ));
            return Err(Stop);
        }
        self.charge(count, bytes, span)?;
        let Some(mut copy) = self.anchors.get(&id).cloned() else {
            return Ok(());
        };
        copy.node.span = span;
        self.finish(copy, 0)
    }

    /// Counts nodes and text against the expansion budget before they are built.
    fn charge(&mut self, count: usize, bytes: usize, span: Span) -> Result<(), Stop> {
        let nodes = self.nodes.saturating_add(count);
        let total = self.bytes.saturating_add(bytes);
        if nodes > MAX_NODES || total > MAX_SCALAR_BYTES {
            let what = if nodes > MAX_NODES {
                format!("more than {MAX_NODES} nodes")
            } else {
                format!("more than {MAX_SCALAR_BYTES} bytes of text")
            };
            self.errors.push(YamlError::new(
                YamlErrorKind::ExpansionLimit,
                span,
                format!("the document grows to {what} here (aliases are expanded)"),
            ));
            return Err(Stop);
        }
        self.nodes = nodes;
        self.bytes = total;
        Ok(())
    }

    /// Records a finished node under its anchor and hands it to its parent.
    fn finish(&mut self, built: Built, anchor: usize) -> Result<(), Stop> {
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return Ok(());
        };
        frame.count += built.count;
        frame.bytes += built.bytes;
        frame.height = frame.height.max(built.height);
        frame.last_end = built.node.span.end;
        match &mut frame.open {
            Open::Seq(items) => items.push(built.node),
            Open::Map { entries, key, seen } => match key.take() {
                Some(key) => entries.push((key, built.node)),
                None => {
                    let problem = check_key(&built.node, seen);
                    *key = Some(built.node);
                    if let Some(problem) = problem {
                        self.errors.push(problem);
                    }
                }
            },
        }
        Ok(())
    }

    /// Refuses tags outside the core schema, and core tags that do not fit their node.
    fn check_tag(&mut self, node: &Node) {
        let Some(tag) = node.tag.as_deref() else {
            return;
        };
        let shown = short_tag(tag);
        let problem = match (&node.kind, tag) {
            (_, "!") | (NodeKind::Seq(_), TAG_SEQ) | (NodeKind::Map(_), TAG_MAP) => return,
            (NodeKind::Scalar(_), TAG_STR) => return,
            (NodeKind::Scalar(scalar), TAG_INT | TAG_FLOAT | TAG_BOOL | TAG_NULL) => {
                let fits = scalar.style == ScalarStyle::Plain
                    && matches!(
                        (tag, scalar.resolve()),
                        (TAG_INT, Resolved::Int(_))
                            | (TAG_FLOAT, Resolved::Int(_) | Resolved::Float(_))
                            | (TAG_BOOL, Resolved::Bool(_))
                            | (TAG_NULL, Resolved::Null)
                    );
                if fits {
                    return;
                }
                YamlError::new(
                    YamlErrorKind::InvalidTaggedValue,
                    node.span,
                    format!("`{}` is not a valid {shown} value", clip(&scalar.text, 40)),
                )
            }
            (_, TAG_STR | TAG_INT | TAG_FLOAT | TAG_BOOL | TAG_NULL | TAG_SEQ | TAG_MAP) => {
                let what = match node.kind {
                    NodeKind::Scalar(_) => "a scalar",
                    NodeKind::Seq(_) => "a sequence",
                    NodeKind::Map(_) => "a mapping",
                };
                YamlError::new(
                    YamlErrorKind::UnsupportedTag,
                    node.span,
                    format!("the tag {shown} cannot be put on {what}"),
                )
            }
            _ => YamlError::new(
                YamlErrorKind::UnsupportedTag,
                node.span,
                format!("unsupported tag {shown}"),
            ),
        };
        self.errors.push(problem);
    }

    /// Turns a parser error into ours. Errors caused by a tab point at the tab: the parser
    /// reports some of them where the enclosing scalar starts.
    fn scan_error(&mut self, error: &ScanError) -> YamlError {
        let info = error.info().trim();
        let pos = self.locator.pos(error.marker());
        let source = self.source;
        let line_start = source[..pos.offset]
            .rfind(['\n', '\r'])
            .map_or(0, |i| i + 1);
        let before = &source[line_start..pos.offset];
        let indent = &before[..before.len() - before.trim_start_matches([' ', '\t']).len()];
        let tab = if source[pos.offset..].starts_with('\t') {
            Some(pos.offset)
        } else if let Some(i) = indent.rfind('\t') {
            Some(line_start + i)
        } else if info.contains("tab") {
            before
                .rfind('\t')
                .map(|i| line_start + i)
                .or_else(|| source[pos.offset..].find('\t').map(|i| pos.offset + i))
        } else {
            None
        };
        if let Some(tab) = tab {
            let start = Pos::locate(source, tab);
            let end = Pos {
                offset: tab + 1,
                col: start.col.saturating_add(1),
                ..start
            };
            let tab_line_start = source[..tab].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            let message = if source[tab_line_start..tab]
                .trim_start_matches([' ', '\t'])
                .is_empty()
            {
                "tab character in indentation".to_owned()
            } else {
                info.to_owned()
            };
            return YamlError::new(YamlErrorKind::Tab, Span::new(start, end), message);
        }
        let kind = if info.contains("recursion limit") {
            YamlErrorKind::TooDeep
        } else {
            YamlErrorKind::Syntax
        };
        YamlError::new(kind, Span::point(pos), info)
    }
}

/// Checks a key about to enter a mapping: a scalar, no merge key, not seen before.
fn check_key(key: &Node, seen: &mut HashMap<KeyId, Span>) -> Option<YamlError> {
    let Some(resolved) = key.resolve() else {
        return Some(YamlError::new(
            YamlErrorKind::NonScalarKey,
            key.span,
            format!("a mapping key must be a scalar, not {}", key.describe()),
        ));
    };
    if key.tag.is_none() && resolved == Resolved::String("<<") {
        if let Some(Scalar {
            style: ScalarStyle::Plain,
            ..
        }) = key.as_scalar()
        {
            return Some(YamlError::new(
                YamlErrorKind::MergeKey,
                key.span,
                "merge keys (`<<`) are not supported",
            ));
        }
    }
    let text = key.as_scalar().map_or("", |scalar| scalar.text.as_str());
    match seen.entry(KeyId::of(resolved)) {
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(key.span);
            None
        }
        std::collections::hash_map::Entry::Occupied(first) => Some(YamlError {
            kind: YamlErrorKind::DuplicateKey,
            span: key.span,
            message: format!("duplicate key `{}`", clip(text, 60)),
            related: Some((*first.get(), "first defined here".to_owned())),
        }),
    }
}

/// A tag in full form: `!!str` becomes `tag:yaml.org,2002:str`, `!x` stays `!x`.
fn full_tag(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// A tag as written most often: `tag:yaml.org,2002:str` becomes `!!str`.
fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(CORE) {
        Some(name) => format!("!!{name}"),
        None => tag.to_owned(),
    }
}

/// At most `max` characters of `text`, with `…` when cut; line breaks shown as `\n`.
fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests;
