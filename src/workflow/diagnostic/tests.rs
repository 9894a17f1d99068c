//! Rendering snapshots (plain text, as a terminal without colour shows them) and the typo
//! suggestions.

use super::*;
use crate::workflow::yaml::{parse, parse_bytes, Pos};

/// The span of the first `needle` in `source`.
fn span_of(source: &str, needle: &str) -> Span {
    let from = source.find(needle).expect("the needle");
    Span::new(
        Pos::locate(source, from),
        Pos::locate(source, from + needle.len()),
    )
}

/// The diagnostic for the first error `parse` reports.
fn yaml_diagnostic(source: &str) -> Diagnostic {
    let errors = parse(source).expect_err("invalid YAML");
    Diagnostic::from(&errors[0])
}

/// Removes ANSI colour sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

const CI: &str = "\
on: push
jobs:
  build:
    runs_on: ubuntu-latest
    stpes:
      - run: make
";

#[test]
fn a_typo_renders_with_its_label_and_help() {
    let diag = Diagnostic::error(span_of(CI, "runs_on"), "unknown key `runs_on`")
        .with_label("not a job key")
        .with_help("did you mean `runs-on`?");
    assert_eq!(
        render(".github/workflows/ci.yml", CI, &diag, false),
        "\
.github/workflows/ci.yml:4:5: error: unknown key `runs_on`
  |
4 |     runs_on: ubuntu-latest
  |     ^^^^^^^ not a job key
help: did you mean `runs-on`?"
    );
}

#[test]
fn a_note_points_at_another_place_with_a_shared_gutter() {
    let source = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\nk: 11\na: 12\n";
    assert_eq!(
        render("dup.yml", source, &yaml_diagnostic(source), false),
        "\
dup.yml:12:1: error: duplicate key `a`
   |
12 | a: 12
   | ^
dup.yml:1:1: note: first defined here
   |
 1 | a: 1
   | ^"
    );
    let diag = Diagnostic::error(span_of(CI, "stpes"), "unknown key `stpes`")
        .with_note(span_of(CI, "build"), "in this job")
        .with_help("did you mean `steps`?");
    assert_eq!(
        render("ci.yml", CI, &diag, false),
        "\
ci.yml:5:5: error: unknown key `stpes`
  |
5 |     stpes:
  |     ^^^^^
ci.yml:3:3: note: in this job
  |
3 |   build:
  |   ^^^^^
help: did you mean `steps`?"
    );
}

#[test]
fn multibyte_and_wide_characters_keep_the_caret_under_its_text() {
    // source, the text to underline, the caret line expected under it
    let rows = [
        ("name: \"é\" # x: q\n", "q", "  |                ^"),
        ("k: [日本語, q]\n", "q", "  |             ^"),
        ("k: [🎉🎉, q]\n", "q", "  |           ^"),
        ("k: 日本語\n", "日本語", "  |    ^^^^^^"),
        ("k: e\u{301}q\n", "q", "  |     ^"),
        ("k: ｑｕｉｔ x\n", "x", "  |             ^"),
    ];
    for (source, needle, carets) in rows {
        let diag = Diagnostic::error(span_of(source, needle), "here");
        let rendered = render("f.yml", source, &diag, false);
        let caret_line = rendered.lines().nth(3).expect("a caret line");
        assert_eq!(caret_line, carets, "{source:?}\n{rendered}");
    }
}

#[test]
fn tabs_are_expanded_alike_in_the_line_and_under_it() {
    let source = "jobs:\n\tbuild: x\n";
    assert_eq!(
        render("tab.yml", source, &yaml_diagnostic(source), false),
        "\
tab.yml:2:1: error: tab character in indentation
  |
2 |     build: x
  | ^^^^
help: YAML does not allow tabs for indentation; indent with spaces"
    );
    let source = "k: a\tb\tc\n";
    let diag = Diagnostic::warning(span_of(source, "c"), "after tabs");
    assert_eq!(
        render("tab.yml", source, &diag, false),
        "\
tab.yml:1:8: warning: after tabs
  |
1 | k: a    b    c
  |              ^"
    );
}

#[test]
fn spans_at_the_end_of_the_file_or_on_empty_lines_render() {
    // source, byte offset of an empty span, expected rendering after the header
    let rows = [
        ("a: [1,\n", 7, "2:1", "2 |\n  | ^"),
        ("a: b", 4, "1:5", "1 | a: b\n  |     ^"),
        ("", 0, "1:1", "1 |\n  | ^"),
        ("a: 1\n\n\nb: 2\n", 6, "3:1", "3 |\n  | ^"),
        ("a: 1\r\n", 6, "2:1", "2 |\n  | ^"),
        ("a: 1\n", 999, "2:1", "2 |\n  | ^"),
    ];
    for (source, offset, place, snippet) in rows {
        let pos = Pos::locate(source, offset);
        assert_eq!(format!("{}:{}", pos.line, pos.col), place, "{source:?}");
        let diag = Diagnostic::error(Span::point(pos), "end");
        let expected = format!("f.yml:{place}: error: end\n  |\n{snippet}");
        assert_eq!(
            render("f.yml", source, &diag, false),
            expected,
            "{source:?}"
        );
    }
    // The parser's own end-of-file error, in a file without a final line break.
    let source = "a: [1,";
    let rendered = render("f.yml", source, &yaml_diagnostic(source), false);
    assert!(rendered.starts_with("f.yml:1:7: error: "), "{rendered}");
    assert!(rendered.ends_with("1 | a: [1,\n  |       ^"), "{rendered}");
}

#[test]
fn a_span_over_several_lines_is_underlined_on_its_first_line() {
    let source = "run: |\n  make\n  make test\nnext: 1\n";
    let from = source.find("make").expect("make");
    let to = source.find("next").expect("next");
    let span = Span::new(Pos::locate(source, from), Pos::locate(source, to));
    let diag = Diagnostic::error(span, "script fails").with_label("this script");
    assert_eq!(
        render("f.yml", source, &diag, false),
        "\
f.yml:2:3: error: script fails
  |
2 |   make
  |   ^^^^ this script"
    );
}

#[test]
fn crlf_lines_render_without_their_carriage_return() {
    let source = "a: 1\r\nb: x\r\n";
    let diag = Diagnostic::error(span_of(source, "x"), "bad");
    assert_eq!(
        render("f.yml", source, &diag, false),
        "f.yml:2:4: error: bad\n  |\n2 | b: x\n  |    ^"
    );
}

#[test]
fn colour_marks_errors_red_and_warnings_yellow_and_plain_has_none() {
    let error = Diagnostic::error(span_of(CI, "stpes"), "unknown key")
        .with_label("here")
        .with_note(span_of(CI, "build"), "in this job")
        .with_help("did you mean `steps`?");
    let warning = Diagnostic::warning(span_of(CI, "make"), "will not run here");
    for (diag, code) in [
        (&error, "\x1b[1;31merror:"),
        (&warning, "\x1b[1;33mwarning:"),
    ] {
        let colored = render("ci.yml", CI, diag, true);
        let plain = render("ci.yml", CI, diag, false);
        assert!(colored.contains(code), "{colored:?}");
        assert!(!plain.contains('\x1b'), "{plain:?}");
        assert_eq!(strip_ansi(&colored), plain);
    }
}

#[test]
fn long_lines_are_cut_to_a_window_around_the_caret() {
    let items: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let source = format!("k: [{}]\n", items.join(", "));
    let diag = Diagnostic::error(span_of(&source, "150"), "this one").with_label("here");
    let rendered = render("f.yml", &source, &diag, false);
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines[0], "f.yml:1:645: error: this one");
    let text = lines[2].strip_prefix("1 | ").expect("the source line");
    assert!(text.starts_with("...") && text.ends_with("..."), "{text}");
    assert!(text.chars().count() <= 140, "{}", text.chars().count());
    let caret = lines[3].find('^').expect("a caret") - "  | ".len();
    assert_eq!(&text[caret..caret + 3], "150", "{rendered}");
    assert!(lines[3].ends_with("^^^ here"));
}

#[test]
fn control_characters_cannot_reach_the_terminal() {
    let source = "k: \"\x1b[31mred\"\n";
    let diag = Diagnostic::error(span_of(source, "red"), "bad \x1b]0;title\x07 value");
    let rendered = render("f\x1b.yml", source, &diag, false);
    assert!(
        !rendered.contains('\x1b') && !rendered.contains('\x07'),
        "{rendered:?}"
    );
    assert_eq!(
        rendered,
        "\
f\u{fffd}.yml:1:10: error: bad \u{fffd}]0;title\u{fffd} value
  |
1 | k: \"\u{fffd}[31mred\"
  |          ^^^"
    );
}

#[test]
fn invalid_utf8_renders_against_the_lossy_text() {
    let bytes = b"a: 1\nb: x\xffy\n";
    let errors = parse_bytes(bytes).expect_err("invalid UTF-8");
    let source = String::from_utf8_lossy(bytes);
    assert_eq!(
        render("f.yml", &source, &Diagnostic::from(&errors[0]), false),
        "\
f.yml:2:5: error: invalid UTF-8 at byte 9 (bytes FF)
  |
2 | b: x\u{fffd}y
  |     ^
help: save the file as UTF-8"
    );
}

#[test]
fn yaml_errors_bring_their_help_and_related_place() {
    let source = "base: &b {a: 1}\njob:\n  <<: *b\n";
    let diag = yaml_diagnostic(source);
    assert_eq!(
        render("f.yml", source, &diag, false),
        "\
f.yml:3:3: error: merge keys (`<<`) are not supported
  |
3 |   <<: *b
  |   ^^
help: GitHub Actions does not support merge keys; repeat the keys, or alias the whole mapping"
    );
    assert!(diag.is_error());
    assert!(diag.notes.is_empty());
    let duplicate = yaml_diagnostic("a: 1\na: 2\n");
    assert_eq!(duplicate.notes.len(), 1);
    assert_eq!(duplicate.help, None);
}

#[test]
fn closest_suggests_only_near_words() {
    let job_keys = [
        "name",
        "needs",
        "runs-on",
        "steps",
        "env",
        "if",
        "outputs",
        "strategy",
        "container",
        "services",
        "timeout-minutes",
        "continue-on-error",
        "permissions",
        "environment",
        "defaults",
        "concurrency",
        "uses",
        "with",
        "secrets",
    ];
    let rows = [
        ("runs_on", Some("runs-on")),
        ("stpes", Some("steps")),
        ("step", Some("steps")),
        ("Steps", Some("steps")),
        ("RUNS-ON", Some("runs-on")),
        ("need", Some("needs")),
        ("timeout_minutes", Some("timeout-minutes")),
        ("continue-on-eror", Some("continue-on-error")),
        ("enviroment", Some("environment")),
        ("srategy", Some("strategy")),
        ("nmae", Some("name")),
        ("permission", Some("permissions")),
        ("runs", None),
        ("matrix", None),
        ("x", None),
        ("", None),
        ("completely-unrelated", None),
        ("if", Some("if")),
    ];
    let mut failures = Vec::new();
    for (word, expected) in rows {
        let got = closest(word, &job_keys);
        if got != expected {
            failures.push(format!("{word:?}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(closest("abc", &[]), None);
    assert_eq!(closest(&"x".repeat(100_000), &job_keys), None);
}

#[test]
fn closest_prefers_the_nearest_and_then_the_first() {
    assert_eq!(closest("cat", &["bat", "cut", "cart"]), Some("bat"));
    assert_eq!(closest("cart", &["bat", "cut", "cart"]), Some("cart"));
    assert_eq!(
        closest("branchs", &["branches", "branches-ignore"]),
        Some("branches")
    );
}

#[test]
fn a_huge_single_line_renders_quickly_and_briefly() {
    let source = format!("k: [{}x]", "a, ".repeat(10_000_000));
    let at = source.len() / 2;
    let at = at - at % 3 + 4; // on an `a`
    let span = Span::new(
        Pos {
            offset: at,
            line: 1,
            col: 1,
        },
        Pos {
            offset: at + 1,
            line: 1,
            col: 2,
        },
    );
    let started = std::time::Instant::now();
    let rendered = render("f.yml", &source, &Diagnostic::error(span, "here"), false);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines.len(), 4, "{rendered}");
    assert!(
        lines[2].starts_with("1 | ...") && lines[2].ends_with("..."),
        "{rendered}"
    );
    assert!(lines[2].contains("a, a, a, "), "{rendered}");
    assert!(lines[2].chars().count() <= 4 + 140);
    let caret = lines[3].find('^').expect("a caret");
    assert_eq!(&lines[2][caret..=caret], "a", "{rendered}");
}
