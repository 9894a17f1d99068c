//! The YAML layer: positions, aliases, the core schema, and hostile input. Tables where the
//! behaviour is a mapping from input to result; a failing table names its row.

use std::time::{Duration, Instant};

use super::*;

fn ok(source: &str) -> Node {
    parse(source).unwrap_or_else(|errors| panic!("{source:?} should parse: {errors:#?}"))
}

fn errors(source: &str) -> Vec<YamlError> {
    match parse(source) {
        Ok(node) => panic!("{source:?} should fail, parsed as {}", shape(&node)),
        Err(errors) => errors,
    }
}

fn only_error(source: &str) -> YamlError {
    let mut errors = errors(source);
    assert_eq!(errors.len(), 1, "{source:?}: {errors:#?}");
    errors.remove(0)
}

/// The node at a path of mapping keys and sequence indices.
fn at<'n>(node: &'n Node, path: &[&str]) -> &'n Node {
    path.iter().fold(node, |node, step| match &node.kind {
        NodeKind::Seq(items) => &items[step.parse::<usize>().expect("an index")],
        NodeKind::Map(_) => node
            .get(step)
            .unwrap_or_else(|| panic!("no key {step:?} in {}", shape(node))),
        NodeKind::Scalar(_) => panic!("{step:?} below a scalar"),
    })
}

/// The key node of `key` in a mapping.
fn key<'n>(map: &'n Node, key: &str) -> &'n Node {
    map.as_map()
        .expect("a mapping")
        .iter()
        .map(|(k, _)| k)
        .find(|k| k.resolve() == Some(Resolved::String(key)))
        .expect("the key")
}

/// A compact rendering of a tree without positions, to compare structures.
fn shape(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar(scalar) if scalar.style == ScalarStyle::Plain => scalar.text.clone(),
        NodeKind::Scalar(scalar) => format!("{:?}", scalar.text),
        NodeKind::Seq(items) => {
            let items: Vec<String> = items.iter().map(shape).collect();
            format!("[{}]", items.join(", "))
        }
        NodeKind::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", shape(k), shape(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// (line, col) of a span's start and end.
fn lines(span: Span) -> ((u32, u32), (u32, u32)) {
    (
        (span.start.line, span.start.col),
        (span.end.line, span.end.col),
    )
}

/// Runs `f`, failing if it takes 20 seconds or more. Not a speed check (benches do those): the
/// inputs below would take minutes and gigabytes without their bounds, so this tells "bounded"
/// from "unbounded" even on a loaded machine with a debug build.
fn quickly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "{what} took {elapsed:?}");
    result
}

const WORKFLOW: &str = "\
name: CI
on:
  push:
    branches: [main, 'release/*']
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo \"hi\"
";

#[test]
fn nested_keys_and_values_have_exact_positions() {
    let root = ok(WORKFLOW);
    let rows = [
        (&["name"][..], "CI", (1, 7), (1, 9)),
        (
            &["on", "push", "branches"],
            "[main, 'release/*']",
            (4, 15),
            (4, 34),
        ),
        (&["on", "push", "branches", "0"], "main", (4, 16), (4, 20)),
        (
            &["on", "push", "branches", "1"],
            "'release/*'",
            (4, 22),
            (4, 33),
        ),
        (
            &["jobs", "build", "runs-on"],
            "ubuntu-latest",
            (7, 14),
            (7, 27),
        ),
        (
            &["jobs", "build", "steps", "0", "run"],
            "echo \"hi\"",
            (9, 14),
            (9, 23),
        ),
        (
            &["jobs", "build", "steps", "0"],
            "run: echo \"hi\"",
            (9, 9),
            (9, 23),
        ),
        (
            &["jobs", "build"],
            "runs-on: ubuntu-latest\n    steps:\n      - run: echo \"hi\"",
            (7, 5),
            (9, 23),
        ),
    ];
    for (path, text, start, end) in rows {
        let node = at(&root, path);
        assert_eq!(&WORKFLOW[node.span.range()], text, "{path:?}");
        assert_eq!(lines(node.span), (start, end), "{path:?}");
    }
    let keys = [
        (key(&root, "jobs"), "jobs", (5, 1)),
        (key(at(&root, &["jobs"]), "build"), "build", (6, 3)),
        (key(at(&root, &["jobs", "build"]), "steps"), "steps", (8, 5)),
        (key(&root, "on"), "on", (2, 1)),
    ];
    for (node, text, start) in keys {
        assert_eq!(&WORKFLOW[node.span.range()], text);
        assert_eq!(lines(node.span).0, start, "{text}");
    }
}

#[test]
fn columns_count_characters_and_offsets_count_bytes() {
    let source = "é: ü\nname: \"日本\"\nx: y\n";
    let root = ok(source);
    let rows = [
        (at(&root, &["é"]), "ü", (1, 4)),
        (at(&root, &["name"]), "\"日本\"", (2, 7)),
        (at(&root, &["x"]), "y", (3, 4)),
    ];
    for (node, text, start) in rows {
        assert_eq!(&source[node.span.range()], text);
        assert_eq!(lines(node.span).0, start, "{text}");
    }
    let name = at(&root, &["name"]);
    assert_eq!(lines(name.span).1, (2, 11));
}

#[test]
fn crlf_lone_cr_and_byte_order_mark_keep_positions_right() {
    let rows = [
        ("\u{feff}a: 1\r\nb: 2\r\n", "b", (2, 1), "2", (2, 4)),
        ("a: 1\rb: 2\r", "b", (2, 1), "2", (2, 4)),
        ("a: 1\r\n\r\nb: x\r\n", "b", (3, 1), "x", (3, 4)),
    ];
    for (source, key_text, key_at, value_text, value_at) in rows {
        let root = ok(source);
        let k = key(&root, key_text);
        let v = at(&root, &[key_text]);
        assert_eq!(&source[k.span.range()], key_text, "{source:?}");
        assert_eq!(lines(k.span).0, key_at, "{source:?}");
        assert_eq!(&source[v.span.range()], value_text, "{source:?}");
        assert_eq!(lines(v.span).0, value_at, "{source:?}");
        assert_eq!(Pos::locate(source, v.span.start.offset), v.span.start);
    }
}

#[test]
fn aliases_expand_to_copies_of_their_anchors() {
    let source = "\
defaults: &defaults
  shell: bash
  env: {A: 1, B: [x, y]}
version: &v '3.12'
job1: *defaults
job2:
  - *defaults
  - *v
";
    let root = ok(source);
    let defaults = at(&root, &["defaults"]);
    let job1 = at(&root, &["job1"]);
    let copied = at(&root, &["job2", "0"]);
    assert_eq!(shape(job1), "{shell: bash, env: {A: 1, B: [x, y]}}");
    assert_eq!(shape(job1), shape(defaults));
    assert_eq!(shape(copied), shape(defaults));
    assert_eq!(
        at(&root, &["job2", "1"]).resolve(),
        Some(Resolved::String("3.12"))
    );
    // The copy's root stands where the alias is; what is inside keeps the anchor's spans.
    assert_eq!(&source[job1.span.range()], "*defaults");
    assert_eq!(lines(job1.span).0, (5, 7));
    assert_eq!(&source[copied.span.range()], "*defaults");
    assert_eq!(key(job1, "shell").span, key(defaults, "shell").span);
    assert_eq!(
        at(job1, &["env", "B"]).span,
        at(defaults, &["env", "B"]).span
    );
}

#[test]
fn an_anchor_may_be_redefined_and_aliases_take_the_latest() {
    let root = ok("- &x 1\n- &x 2\n- *x\n");
    assert_eq!(shape(&root), "[1, 2, 2]");
}

/// Nested anchors, each referring to the previous one `fanout` times.
fn alias_bomb(levels: usize, fanout: usize, flow_maps: bool) -> String {
    let mut source = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..=levels {
        let refs: Vec<String> = (0..fanout)
            .map(|i| {
                if flow_maps {
                    format!("k{i}: *a{}", level - 1)
                } else {
                    format!("*a{}", level - 1)
                }
            })
            .collect();
        let (open, close) = if flow_maps { ("{", "}") } else { ("[", "]") };
        source.push_str(&format!(
            "a{level}: &a{level} {open}{}{close}\n",
            refs.join(", ")
        ));
    }
    source
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let rows = [
        alias_bomb(9, 9, false),
        alias_bomb(10, 10, false),
        alias_bomb(9, 10, true),
        alias_bomb(30, 2, false),
    ];
    for source in &rows {
        let error = quickly("the alias bomb", || only_error(source));
        assert_eq!(error.kind, YamlErrorKind::ExpansionLimit, "{error:?}");
        assert!(source[error.span.range()].starts_with("*a"), "{error:?}");
    }
}

#[test]
fn expansion_past_the_node_cap_is_refused() {
    let items = vec!["x"; 999].join(", ");
    let aliases = vec!["*big"; 1_001].join(", ");
    let source = format!("big: &big [{items}]\nall: [{aliases}]\n");
    let error = quickly("1,001,000 nodes", || only_error(&source));
    assert_eq!(error.kind, YamlErrorKind::ExpansionLimit);
    assert_eq!(&source[error.span.range()], "*big");
    assert!(error.message.contains("1000000 nodes"), "{}", error.message);

    // Below the cap the same shape is built in full.
    let aliases = vec!["*big"; 100].join(", ");
    let source = format!("big: &big [{items}]\nall: [{aliases}]\n");
    let root = ok(&source);
    let all = at(&root, &["all"]).as_seq().expect("a sequence");
    assert_eq!(all.len(), 100);
    assert!(all
        .iter()
        .all(|copy| copy.as_seq().map(<[Node]>::len) == Some(999)));
}

#[test]
fn expansion_past_the_text_cap_is_refused() {
    let text = "x".repeat(100_000);
    let aliases = vec!["*text"; 120].join(", ");
    let source = format!("text: &text {text}\nall: [{aliases}]\n");
    let error = quickly("12 MB of text", || only_error(&source));
    assert_eq!(error.kind, YamlErrorKind::ExpansionLimit);
    assert!(error.message.contains("bytes of text"), "{}", error.message);
}

#[test]
fn a_recursive_alias_is_an_error() {
    let error = only_error("a: &x [1, *x]\n");
    assert_eq!(error.kind, YamlErrorKind::RecursiveAlias);
    assert_eq!(lines(error.span).0, (1, 11));
}

#[test]
fn an_unknown_alias_is_a_syntax_error() {
    let error = only_error("a: *nope\n");
    assert_eq!(error.kind, YamlErrorKind::Syntax);
    assert_eq!(lines(error.span).0, (1, 4));
}

#[test]
fn duplicate_keys_point_at_both_definitions() {
    // source, the duplicate's (line, col), the first definition's (line, col)
    let rows = [
        ("a: 1\nb: 2\na: 3\n", (3, 1), (1, 1)),
        (
            "jobs:\n  build:\n    runs-on: x\n    runs-on: y\n",
            (4, 5),
            (3, 5),
        ),
        (
            "steps:\n  - with:\n      a: 1\n      a: 2\n",
            (4, 7),
            (3, 7),
        ),
        ("{a: 1, a: 2}", (1, 8), (1, 2)),
        ("true: 1\nTrue: 2\n", (2, 1), (1, 1)),
        ("0x10: a\n16: b\n", (2, 1), (1, 1)),
        ("~: a\nnull: b\n", (2, 1), (1, 1)),
        ("'on': a\non: b\n", (2, 1), (1, 1)),
        ("base: &k name\n*k : 1\nname: 2\n", (3, 1), (2, 1)),
    ];
    for (source, second, first) in rows {
        let error = only_error(source);
        assert_eq!(error.kind, YamlErrorKind::DuplicateKey, "{source:?}");
        assert_eq!(lines(error.span).0, second, "{source:?}");
        let (related, note) = error.related.expect("the first definition");
        assert_eq!(lines(related).0, first, "{source:?}");
        assert_eq!(note, "first defined here");
    }
}

#[test]
fn keys_of_different_types_are_not_duplicates() {
    let root = ok("1: int\n'1': string\n1.0: float\ntrue: bool\n'true': string\n");
    assert_eq!(root.as_map().map(<[(Node, Node)]>::len), Some(5));
}

#[test]
fn every_duplicate_key_is_reported() {
    let errors = errors("a: 1\na: 2\na: 3\nb:\n  c: 1\n  c: 2\n");
    let found: Vec<(YamlErrorKind, (u32, u32))> =
        errors.iter().map(|e| (e.kind, lines(e.span).0)).collect();
    assert_eq!(
        found,
        [
            (YamlErrorKind::DuplicateKey, (2, 1)),
            (YamlErrorKind::DuplicateKey, (3, 1)),
            (YamlErrorKind::DuplicateKey, (6, 3)),
        ]
    );
    assert_eq!(errors[0].message, "duplicate key `a`");
}

#[test]
fn errors_are_collected_until_a_syntax_error() {
    let errors = errors("a: 1\na: 2\nb: !custom x\nc: [\n");
    let kinds: Vec<YamlErrorKind> = errors.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            YamlErrorKind::DuplicateKey,
            YamlErrorKind::UnsupportedTag,
            YamlErrorKind::Syntax
        ]
    );
}

#[test]
fn collection_keys_are_refused() {
    let rows = [
        ("? [a, b]\n: c\n", (1, 3)),
        ("{[a]: b}", (1, 2)),
        ("? {a: 1}\n: c\n", (1, 3)),
    ];
    for (source, start) in rows {
        let error = only_error(source);
        assert_eq!(error.kind, YamlErrorKind::NonScalarKey, "{source:?}");
        assert_eq!(lines(error.span).0, start, "{source:?}");
    }
}

#[test]
fn merge_keys_are_refused_as_github_refuses_them() {
    let source = "base: &base\n  a: 1\njob:\n  <<: *base\n  b: 2\n";
    let error = only_error(source);
    assert_eq!(error.kind, YamlErrorKind::MergeKey);
    assert_eq!(lines(error.span).0, (4, 3));
    assert!(error.kind.help().is_some());
    // A quoted `<<` is an ordinary key.
    let root = ok("'<<': x\n");
    assert_eq!(at(&root, &["<<"]).resolve(), Some(Resolved::String("x")));
}

#[test]
fn deep_flow_nesting_is_refused_quickly() {
    let rows = [
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{}x", "[".repeat(10_000)),
        format!("{}x{}", "{a: ".repeat(10_000), "}".repeat(10_000)),
        format!("key: {}", "[{a: ".repeat(5_000)),
    ];
    for source in &rows {
        let error = quickly(&source[..10], || only_error(source));
        assert_eq!(
            error.kind,
            YamlErrorKind::TooDeep,
            "{}: {error:?}",
            &source[..10]
        );
        assert_eq!(error.span.start.line, 1);
    }
}

#[test]
fn deep_block_nesting_is_refused_quickly() {
    let compact_sequences = format!("{}x\n", "- ".repeat(10_000));
    let indented_maps: String = (0..1_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let indented_sequences: String = (0..1_000)
        .map(|i| format!("{}-\n", "  ".repeat(i)))
        .collect();
    for source in [&compact_sequences, &indented_maps, &indented_sequences] {
        let error = quickly(&source[..10], || only_error(source));
        assert_eq!(
            error.kind,
            YamlErrorKind::TooDeep,
            "{}: {error:?}",
            &source[..10]
        );
    }
    // 10,000 levels of indentation need 50 MB of spaces: refused for its size.
    let ten_thousand: String = (0..10_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let error = quickly("10,000 indented mappings", || only_error(&ten_thousand));
    assert_eq!(error.kind, YamlErrorKind::TooLarge);
}

#[test]
fn nesting_up_to_the_cap_parses() {
    let at_cap = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    ok(&at_cap);
    let past_cap = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(only_error(&past_cap).kind, YamlErrorKind::TooDeep);
}

#[test]
fn aliases_count_toward_the_depth_cap() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let source = format!("x: &d {deep}\ny: {}*d{}\n", "[".repeat(40), "]".repeat(40));
    let error = only_error(&source);
    assert_eq!(error.kind, YamlErrorKind::TooDeep);
    assert_eq!(&source[error.span.range()], "*d");
}

/// A flat mapping of about `bytes` bytes.
fn flat_document(bytes: usize) -> String {
    let mut source = String::with_capacity(bytes + 64);
    let mut i = 0;
    while source.len() < bytes {
        source.push_str(&format!("key{i}: value number {i}\n"));
        i += 1;
    }
    source
}

#[test]
fn a_50_mb_file_is_refused_quickly() {
    let source = flat_document(50 << 20);
    let error = quickly("50 MB as text", || only_error(&source));
    assert_eq!(error.kind, YamlErrorKind::TooLarge);
    assert_eq!(lines(error.span).0, (1, 1));
    let errors = quickly("50 MB as bytes", || {
        parse_bytes(source.as_bytes()).unwrap_err()
    });
    assert_eq!(errors[0].kind, YamlErrorKind::TooLarge);
}

#[test]
fn a_flat_file_just_under_the_size_cap_parses() {
    let source = flat_document(MAX_SOURCE_BYTES - 100);
    let root = ok(&source);
    let entries = root.as_map().expect("a mapping");
    assert!(entries.len() > 30_000);
    let (last_key, _) = entries.last().expect("entries");
    assert_eq!(
        last_key.span.end.offset,
        source.trim_end().rfind(':').expect("a colon")
    );
}

#[test]
fn invalid_utf8_is_reported_at_its_byte_offset() {
    // bytes, offset, (line, col), message
    let rows = [
        (
            &b"a: 1\nb: \xff\n"[..],
            8,
            (2, 4),
            "invalid UTF-8 at byte 8 (bytes FF)",
        ),
        (
            &b"\xc3\xa9: \xe2\x28\xa1\n"[..],
            4,
            (1, 4),
            "invalid UTF-8 at byte 4 (bytes E2)",
        ),
        (
            &b"a: \xc3"[..],
            3,
            (1, 4),
            "invalid UTF-8 at byte 3 (bytes C3)",
        ),
    ];
    for (bytes, offset, start, message) in rows {
        let errors = quickly("invalid UTF-8", || parse_bytes(bytes).unwrap_err());
        assert_eq!(errors.len(), 1);
        let error = &errors[0];
        assert_eq!(error.kind, YamlErrorKind::InvalidUtf8, "{bytes:?}");
        assert_eq!(error.span.start.offset, offset, "{bytes:?}");
        assert_eq!(lines(error.span).0, start, "{bytes:?}");
        assert_eq!(error.message, message);
    }
    let utf16 = [0xFF, 0xFE, b'a', 0, b':', 0];
    let errors = parse_bytes(&utf16).unwrap_err();
    assert_eq!(errors[0].kind, YamlErrorKind::InvalidUtf8);
    assert!(
        errors[0].message.contains("UTF-16"),
        "{}",
        errors[0].message
    );
}

#[test]
fn parse_bytes_reads_valid_utf8_like_parse() {
    assert_eq!(parse_bytes(WORKFLOW.as_bytes()), parse(WORKFLOW));
}

#[test]
fn only_one_document_is_accepted() {
    let rows = [
        ("a: 1\n---\nb: 2\n", (2, 1)),
        ("a: 1\n...\n---\nb: 1\n", (3, 1)),
        ("---\n---\n", (2, 1)),
    ];
    for (source, start) in rows {
        let error = only_error(source);
        assert_eq!(error.kind, YamlErrorKind::MultipleDocuments, "{source:?}");
        assert_eq!(lines(error.span).0, start, "{source:?}");
    }
    ok("---\na: 1\n...\n");
    ok("%YAML 1.2\n---\na: 1\n");
}

#[test]
fn an_empty_document_is_null() {
    for source in [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n",
        "--- # comment\n...\n",
    ] {
        let root = ok(source);
        assert_eq!(root.resolve(), Some(Resolved::Null), "{source:?}");
        assert_eq!(root.describe(), "null");
    }
}

#[test]
fn plain_scalars_resolve_by_the_core_schema() {
    use Resolved::{Bool, Float, Int, Null, String as Str};
    let rows = [
        ("on", Str("on")),
        ("yes", Str("yes")),
        ("no", Str("no")),
        ("off", Str("off")),
        ("y", Str("y")),
        ("true", Bool(true)),
        ("True", Bool(true)),
        ("TRUE", Bool(true)),
        ("false", Bool(false)),
        ("False", Bool(false)),
        ("FALSE", Bool(false)),
        ("tRUE", Str("tRUE")),
        ("~", Null),
        ("null", Null),
        ("Null", Null),
        ("NULL", Null),
        ("", Null),
        ("nUll", Str("nUll")),
        ("0x1F", Int(31)),
        ("0xff", Int(255)),
        ("0o17", Int(15)),
        ("017", Int(17)),
        ("-42", Int(-42)),
        ("+7", Int(7)),
        ("0", Int(0)),
        ("1e3", Float(1000.0)),
        ("1E-2", Float(0.01)),
        ("1.5", Float(1.5)),
        (".5", Float(0.5)),
        ("1.", Float(1.0)),
        ("-2.5e+2", Float(-250.0)),
        (".inf", Float(f64::INFINITY)),
        ("+.Inf", Float(f64::INFINITY)),
        ("-.INF", Float(f64::NEG_INFINITY)),
        ("99999999999999999999", Float(1e20)),
        ("0x10000000000000000", Float(18_446_744_073_709_551_616.0)),
        ("1_000", Str("1_000")),
        ("0b101", Str("0b101")),
        ("0X1F", Str("0X1F")),
        ("-0x1F", Str("-0x1F")),
        ("0x", Str("0x")),
        ("0o8", Str("0o8")),
        ("12:30", Str("12:30")),
        ("1.2.3", Str("1.2.3")),
        ("e3", Str("e3")),
        ("1e", Str("1e")),
        (".", Str(".")),
        ("inf", Str("inf")),
        ("nan", Str("nan")),
        ("ubuntu-latest", Str("ubuntu-latest")),
    ];
    let mut failures = Vec::new();
    for (text, expected) in rows {
        let source = format!("v: {text}\n");
        let root = ok(&source);
        let got = at(&root, &["v"]).resolve().expect("a scalar");
        if got != expected {
            failures.push(format!("{text:?}: got {got:?}, expected {expected:?}"));
        }
    }
    let nan = ok("v: .NaN\n");
    assert!(matches!(at(&nan, &["v"]).resolve(), Some(Float(f)) if f.is_nan()));
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn quoted_block_and_tagged_scalars_resolve_as_their_style_and_tag_say() {
    use Resolved::{Bool, Float, Int, Null, String as Str};
    let rows = [
        ("'true'", Str("true")),
        ("\"123\"", Str("123")),
        ("'~'", Str("~")),
        ("|\n  null\n", Str("null\n")),
        (">-\n  0x1F\n", Str("0x1F")),
        ("!!str 123", Str("123")),
        ("!!str", Str("")),
        ("! true", Str("true")),
        ("!!float 1", Float(1.0)),
        ("!!int 0x1F", Int(31)),
        ("!!bool FALSE", Bool(false)),
        ("!!null ~", Null),
    ];
    for (text, expected) in rows {
        let source = format!("v: {text}\n");
        let root = ok(&source);
        assert_eq!(at(&root, &["v"]).resolve(), Some(expected), "{text:?}");
    }
    let root = ok("v: !!str 1\n");
    assert_eq!(
        at(&root, &["v"]).tag.as_deref(),
        Some("tag:yaml.org,2002:str")
    );
}

#[test]
fn tags_outside_the_core_schema_are_refused() {
    let rows = [
        (
            "a: !custom x\n",
            YamlErrorKind::UnsupportedTag,
            "unsupported tag !custom",
        ),
        (
            "a: !!int abc\n",
            YamlErrorKind::InvalidTaggedValue,
            "`abc` is not a valid !!int value",
        ),
        (
            "a: !!int '1'\n",
            YamlErrorKind::InvalidTaggedValue,
            "`1` is not a valid !!int value",
        ),
        (
            "a: !!bool yes\n",
            YamlErrorKind::InvalidTaggedValue,
            "`yes` is not a valid !!bool value",
        ),
        (
            "a: !!map [1]\n",
            YamlErrorKind::UnsupportedTag,
            "the tag !!map cannot be put on a sequence",
        ),
        (
            "a: !!str [1]\n",
            YamlErrorKind::UnsupportedTag,
            "the tag !!str cannot be put on a sequence",
        ),
        (
            "a: !!seq x\n",
            YamlErrorKind::UnsupportedTag,
            "the tag !!seq cannot be put on a scalar",
        ),
        (
            "a: !!timestamp 2001-12-14\n",
            YamlErrorKind::UnsupportedTag,
            "unsupported tag !!timestamp",
        ),
    ];
    for (source, kind, message) in rows {
        let error = only_error(source);
        assert_eq!(
            (error.kind, error.message.as_str()),
            (kind, message),
            "{source:?}"
        );
        assert_eq!(lines(error.span).0, (1, 4), "{source:?}");
    }
    ok("a: !!seq [1]\nb: !!map {x: 1}\nc: ! [1]\n");
}

#[test]
fn block_scalars_keep_their_exact_text() {
    let rows = [
        ("a: |\n  one\n  two\n\n", "one\ntwo\n", ScalarStyle::Literal),
        ("a: |-\n  one\n  two\n\n", "one\ntwo", ScalarStyle::Literal),
        (
            "a: |+\n  one\n  two\n\n",
            "one\ntwo\n\n",
            ScalarStyle::Literal,
        ),
        (
            "a: |\n  echo # not a comment  \n",
            "echo # not a comment  \n",
            ScalarStyle::Literal,
        ),
        (
            "a: |\n  if x; then\n    y\n  fi\n",
            "if x; then\n  y\nfi\n",
            ScalarStyle::Literal,
        ),
        ("a: |2\n    x\n  y\n", "  x\ny\n", ScalarStyle::Literal),
        (
            "a: >\n  one\n  two\n\n  three\n",
            "one two\nthree\n",
            ScalarStyle::Folded,
        ),
        ("a: >-\n  one\n  two\n", "one two", ScalarStyle::Folded),
        ("a: >+\n  one\n\n", "one\n\n", ScalarStyle::Folded),
        (
            "a: >\n  one\n    more\n  two\n",
            "one\n  more\ntwo\n",
            ScalarStyle::Folded,
        ),
        ("a: |\nb: 1\n", "", ScalarStyle::Literal),
    ];
    for (source, text, style) in rows {
        let root = ok(source);
        let scalar = at(&root, &["a"]).as_scalar().expect("a scalar");
        assert_eq!(
            (scalar.text.as_str(), scalar.style),
            (text, style),
            "{source:?}"
        );
    }
}

#[test]
fn tabs_in_indentation_are_errors_at_the_tab() {
    // source, (line, col) of the tab
    let rows = [
        ("a:\n\tb: 1\n", (2, 1)),
        ("a:\n  - b\n\t- c\n", (3, 1)),
        ("jobs:\n  build:\n  \truns-on: x\n", (3, 3)),
    ];
    for (source, start) in rows {
        let error = only_error(source);
        assert_eq!(error.kind, YamlErrorKind::Tab, "{source:?}: {error:?}");
        assert_eq!(lines(error.span).0, start, "{source:?}");
        assert_eq!(&source[error.span.range()], "\t", "{source:?}");
        assert_eq!(error.message, "tab character in indentation");
    }
    // A tab after the indentation, inside a line, is ordinary white space.
    ok("a: b\t# comment\n");
    ok("- \tx\n");
}

#[test]
fn syntax_errors_carry_the_parser_position() {
    // source, (line, col)
    let rows = [
        ("a: [1, 2\nb: 3\n", (2, 2)),
        ("a: 'x'\nb: - c\n", (2, 4)),
        ("a: b: c\n", (1, 5)),
        ("key: \"unterminated\n", (1, 6)),
        ("[a, b\n", (2, 1)),
        ("a: 1\n b: 2\n", (2, 3)),
    ];
    for (source, start) in rows {
        let error = only_error(source);
        assert_eq!(error.kind, YamlErrorKind::Syntax, "{source:?}: {error:?}");
        assert_eq!(lines(error.span).0, start, "{source:?}: {}", error.message);
        assert!(!error.message.contains(" at byte "), "{}", error.message);
        assert!(error.span.start.offset <= source.len());
    }
}

#[test]
fn node_helpers_answer_what_validation_asks() {
    let root = ok("s: text\nn: 3\nb: true\nz: ~\nl: [1]\nm: {k: v}\n");
    let rows = [
        ("s", "a string"),
        ("n", "a number"),
        ("b", "a boolean"),
        ("z", "null"),
        ("l", "a sequence"),
        ("m", "a mapping"),
    ];
    for (key, described) in rows {
        assert_eq!(at(&root, &[key]).describe(), described, "{key}");
    }
    assert!(root.get("missing").is_none());
    assert_eq!(at(&root, &["l"]).as_seq().map(<[Node]>::len), Some(1));
    assert!(at(&root, &["m"]).as_map().is_some());
    assert!(at(&root, &["m"]).resolve().is_none());
}

/// Every span's line and column agree with [`Pos::locate`] on its offset.
fn assert_positions_agree(source: &str, node: &Node) {
    for pos in [node.span.start, node.span.end] {
        assert_eq!(Pos::locate(source, pos.offset), pos, "{source:?}");
    }
    match &node.kind {
        NodeKind::Scalar(_) => {}
        NodeKind::Seq(items) => items
            .iter()
            .for_each(|item| assert_positions_agree(source, item)),
        NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            assert_positions_agree(source, k);
            assert_positions_agree(source, v);
        }),
    }
}

#[test]
fn positions_agree_with_locate_across_line_break_styles() {
    let rows = [
        WORKFLOW.to_owned(),
        WORKFLOW.replace('\n', "\r\n"),
        WORKFLOW.replace('\n', "\r"),
        format!("\u{feff}{WORKFLOW}"),
        "a: |\r\n  x\r\n\r\n\r\nb: >-\r\n  é\r\n  ü\r\n\r\nc: [日, 本]".to_owned(),
        "k: v".to_owned(),
    ];
    for source in &rows {
        assert_positions_agree(source, &ok(source));
    }
}

/// A small deterministic generator, so the fuzz rows are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn arbitrary_input_never_panics_and_errors_point_inside_it() {
    let fixed = [
        "\0",
        ":",
        "- - -",
        "[",
        "{",
        "]",
        "}",
        "&a",
        "*",
        "!!",
        "? ",
        "'",
        "\"\\x",
        "\"\\u12",
        "%YAML 1.2\n---\na",
        "--- >\n",
        "a: &a\n  *a",
        "? a\n? b\n? a\n",
        "[a: b, a: b]",
        "- &x [*x]",
        "a:\n  - b\n  c: d",
        "\u{feff}\u{feff}",
        "a: 'é\n",
        "日本: [",
    ];
    let alphabet: &[u8] = b" \t\n\r-:?[]{},&*!|>'\"%@`#abc01.~\\\xc3\xa9\xff";
    let mut random = Lcg(42);
    let mut inputs: Vec<Vec<u8>> = fixed.iter().map(|s| s.as_bytes().to_vec()).collect();
    for _ in 0..2_000 {
        let len = (random.next() % 48) as usize;
        let bytes = (0..len)
            .map(|_| alphabet[(random.next() % alphabet.len() as u64) as usize])
            .collect();
        inputs.push(bytes);
    }
    for bytes in &inputs {
        let lossy = String::from_utf8_lossy(bytes);
        let parsed = parse_bytes(bytes);
        if let Ok(root) = &parsed {
            assert_positions_agree(&lossy, root);
        }
        if let Err(errors) = parsed {
            assert!(!errors.is_empty());
            for error in errors {
                let span = error.span;
                assert!(span.start.offset <= span.end.offset, "{bytes:?}: {error:?}");
                assert!(span.end.offset <= bytes.len(), "{bytes:?}: {error:?}");
                assert!(
                    span.start.line >= 1 && span.start.col >= 1,
                    "{bytes:?}: {error:?}"
                );
                if error.kind != YamlErrorKind::InvalidUtf8 {
                    assert!(
                        lossy.is_char_boundary(span.start.offset),
                        "{bytes:?}: {error:?}"
                    );
                    assert_eq!(
                        Pos::locate(&lossy, span.start.offset),
                        span.start,
                        "{bytes:?}"
                    );
                }
            }
        }
    }
}
