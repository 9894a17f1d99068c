//! Tests of the `dotenv` module.

use super::*;

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check(cases: &[(&str, &[(&str, &str)])]) {
    for (text, expected) in cases {
        assert_eq!(parse_dotenv(text), Ok(pairs(expected)), "{text:?}");
    }
}

#[test]
fn acts_documented_examples_parse() {
    check(&[
        (
            r#"MULTILINE_SECRET="foo\nbar\nbaz""#,
            &[("MULTILINE_SECRET", "foo\nbar\nbaz")],
        ),
        (
            r#"JSON_SECRET={"foo": "bar"}"#,
            &[("JSON_SECRET", r#"{"foo": "bar"}"#)],
        ),
    ]);
}

#[test]
fn plain_assignments_are_trimmed() {
    check(&[
        ("", &[]),
        ("A=1", &[("A", "1")]),
        ("A=1\nB=2\n", &[("A", "1"), ("B", "2")]),
        ("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]),
        ("  A  =  hello world  ", &[("A", "hello world")]),
        ("\tA\t=\tx\t", &[("A", "x")]),
        ("A=", &[("A", "")]),
        ("A=   ", &[("A", "")]),
        ("A=b=c", &[("A", "b=c")]),
        ("A=$HOME", &[("A", "$HOME")]),
        ("A=a\\nb", &[("A", "a\\nb")]),
        ("A=it's", &[("A", "it's")]),
        ("A=x\"y\"", &[("A", "x\"y\"")]),
        ("_a.b_1=x", &[("_a.b_1", "x")]),
    ]);
}

#[test]
fn export_prefix_is_optional() {
    check(&[
        ("export A=1", &[("A", "1")]),
        ("export\tA=1", &[("A", "1")]),
        ("  export   A = 1", &[("A", "1")]),
        // `export` as a key, not a prefix.
        ("export=1", &[("export", "1")]),
        ("export = 1", &[("export", "1")]),
        ("exportA=1", &[("exportA", "1")]),
    ]);
}

#[test]
fn blank_and_comment_lines_are_skipped() {
    check(&[
        ("\n\n  \n\t\n", &[]),
        ("# comment\nA=1\n  # indented comment\n", &[("A", "1")]),
        ("#A=1", &[]),
        ("A=1\n\r\nB=2", &[("A", "1"), ("B", "2")]),
    ]);
}

#[test]
fn unquoted_value_ends_at_space_hash() {
    check(&[
        ("A=x # comment", &[("A", "x")]),
        ("A=x\t# comment", &[("A", "x")]),
        ("A=x#not-a-comment", &[("A", "x#not-a-comment")]),
        ("A=#x", &[("A", "#x")]),
        ("A= # only a comment", &[("A", "")]),
        ("A=a #b #c", &[("A", "a")]),
        ("A=url#frag  ", &[("A", "url#frag")]),
    ]);
}

#[test]
fn single_quoted_value_is_literal() {
    check(&[
        (r"A='a\nb'", &[("A", r"a\nb")]),
        (r"A='$HOME \\ #x'", &[("A", r"$HOME \\ #x")]),
        (r#"A='say "hi"'"#, &[("A", r#"say "hi""#)]),
        ("A=''", &[("A", "")]),
        ("A='  padded  '", &[("A", "  padded  ")]),
        ("A = 'x'  # comment", &[("A", "x")]),
        ("A='x'#comment", &[("A", "x")]),
    ]);
}

#[test]
fn double_quoted_value_expands_newlines() {
    check(&[
        (r#"A="a\nb""#, &[("A", "a\nb")]),
        (r#"A="a\r\nb""#, &[("A", "a\r\nb")]),
        (r#"A="a\tb""#, &[("A", "a\tb")]),
        (r#"A="say \"hi\"""#, &[("A", r#"say "hi""#)]),
        (r#"A="back\\slash""#, &[("A", r"back\slash")]),
        (r#"A="ends in \\""#, &[("A", r"ends in \")]),
        (r#"A="\$HOME $HOME""#, &[("A", "$HOME $HOME")]),
        // Unknown escapes keep their backslash, as in a shell's double quotes.
        (r#"A="C:\Users\x""#, &[("A", r"C:\Users\x")]),
        (
            r#"A="it's # not a comment""#,
            &[("A", "it's # not a comment")],
        ),
        ("A=\"\"", &[("A", "")]),
        ("A=\"x\"  # comment", &[("A", "x")]),
    ]);
}

#[test]
fn quoted_values_may_span_lines() {
    check(&[
        (
            "A=\"line one\nline two\"\nB=2",
            &[("A", "line one\nline two"), ("B", "2")],
        ),
        ("A='one\n\ntwo'\nB=2", &[("A", "one\n\ntwo"), ("B", "2")]),
        // \r\n inside the value becomes \n, as godotenv does.
        ("A=\"one\r\ntwo\"\r\nB=2", &[("A", "one\ntwo"), ("B", "2")]),
        (
            "KEY=\"-----BEGIN KEY-----\nabc=\n-----END KEY-----\"\n",
            &[("KEY", "-----BEGIN KEY-----\nabc=\n-----END KEY-----")],
        ),
    ]);
}

#[test]
fn later_duplicates_override_earlier_ones_in_first_seen_order() {
    check(&[
        ("A=1\nB=2\nA=3", &[("A", "3"), ("B", "2")]),
        ("A=1\nA=", &[("A", "")]),
        ("export A=1\nA='2'", &[("A", "2")]),
    ]);
}

#[test]
fn malformed_lines_are_errors_with_line_numbers() {
    let cases = [
        ("JUSTAKEY", DotenvError::MissingEquals { line: 1 }),
        ("A=1\n\n# c\nsecret", DotenvError::MissingEquals { line: 4 }),
        ("export A", DotenvError::MissingEquals { line: 1 }),
        ("=value", DotenvError::InvalidKey { line: 1 }),
        ("1A=x", DotenvError::InvalidKey { line: 1 }),
        ("A-B=x", DotenvError::InvalidKey { line: 1 }),
        ("A B=x", DotenvError::InvalidKey { line: 1 }),
        ("A: x=y", DotenvError::InvalidKey { line: 1 }),
        ("Ä=x", DotenvError::InvalidKey { line: 1 }),
        (".A=x", DotenvError::InvalidKey { line: 1 }),
        (
            "A=1\nB=\"never closed\nC=3\n",
            DotenvError::UnterminatedQuote {
                line: 2,
                quote: '"',
            },
        ),
        (
            "A='open",
            DotenvError::UnterminatedQuote {
                line: 1,
                quote: '\'',
            },
        ),
        (
            r#"A="escaped end\""#,
            DotenvError::UnterminatedQuote {
                line: 1,
                quote: '"',
            },
        ),
        (
            "A=\"trailing backslash\\",
            DotenvError::UnterminatedQuote {
                line: 1,
                quote: '"',
            },
        ),
        ("A=\"x\" y", DotenvError::TrailingCharacters { line: 1 }),
        ("A='x'y", DotenvError::TrailingCharacters { line: 1 }),
        (
            "A=\"one\ntwo\" junk\n",
            DotenvError::TrailingCharacters { line: 2 },
        ),
        // Line numbers keep counting through multi-line values.
        ("A=\"x\ny\"\nB\n", DotenvError::MissingEquals { line: 3 }),
        ("A=\"x\\\ny\"\nB\n", DotenvError::MissingEquals { line: 3 }),
    ];
    for (text, error) in cases {
        let line = error.line();
        assert_eq!(parse_dotenv(text), Err(error), "{text:?}");
        assert!(line >= 1);
    }
}

#[test]
fn errors_do_not_quote_the_file() {
    let texts = [
        "hunter2",
        "A=\"hunter2",
        "hunter-2=x",
        "A=\"x\" hunter2",
        "hunter 2=x",
    ];
    for text in texts {
        let error = parse_dotenv(text).unwrap_err();
        assert!(!error.to_string().contains("hunter"), "{error}");
    }
}

/// SplitMix64: a deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    const PIECES: &[&[u8]] = &[
        b"=",
        b"\"",
        b"'",
        b"\\",
        b"\\\"",
        b"#",
        b" #",
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"\r\n",
        b"export ",
        b"export",
        b"A",
        b"_",
        b".",
        b"$",
        b"\xff",
        b"\xc3",
        b"\xe2\x82\xac",
    ];
    let mut rng = Rng(0xd07e_4e5f);
    for round in 0..3000 {
        let max = if round % 10 == 0 { 2000 } else { 60 };
        let len = rng.below(max + 1);
        let mut bytes = Vec::with_capacity(len * 2);
        while bytes.len() < len {
            if rng.below(3) == 0 {
                bytes.push(rng.next() as u8);
            } else {
                bytes.extend_from_slice(PIECES[rng.below(PIECES.len())]);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(error) = parse_dotenv(&text) {
            let lines = text.split('\n').count();
            assert!((1..=lines).contains(&error.line()), "{error} in {text:?}");
        }
    }
}

#[test]
fn large_files_parse_in_linear_time() {
    let many = "export KEY_1 = \"a\\nb\" # c\nOTHER=x #y\n".repeat(100_000);
    let long_quoted = format!("A=\"{}\"", "\\n".repeat(500_000));
    let start = std::time::Instant::now();
    assert_eq!(parse_dotenv(&many).map(|p| p.len()), Ok(2));
    assert_eq!(
        parse_dotenv(&long_quoted).map(|p| p[0].1.len()),
        Ok(500_000)
    );
    // A hang guard, not a speed check (speed is benchmarked): linear work ends in well under
    // a second even in a debug build; quadratic work would take minutes.
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
}
