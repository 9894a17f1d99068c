//! Tests of the `commands` module.

use super::*;

fn parse(line: &str) -> Option<Result<WorkflowCommand, CommandError>> {
    CommandParser::new().parse_line(line.as_bytes())
}

fn ok(line: &str) -> WorkflowCommand {
    match parse(line) {
        Some(Ok(command)) => command,
        other => panic!("{line:?}: expected a command, got {other:?}"),
    }
}

fn annotation_of(line: &str) -> Annotation {
    match ok(line) {
        WorkflowCommand::Annotation(a) => a,
        other => panic!("{line:?}: expected an annotation, got {other:?}"),
    }
}

fn notice(message: &str) -> Annotation {
    Annotation {
        level: AnnotationLevel::Notice,
        message: message.into(),
        file: None,
        line: None,
        col: None,
        end_line: None,
        end_col: None,
        title: None,
    }
}

fn output(name: &str, value: &str) -> WorkflowCommand {
    WorkflowCommand::SetOutput {
        name: name.into(),
        value: value.into(),
    }
}

#[test]
fn recognises_each_command() {
    use WorkflowCommand as W;
    let cases: Vec<(&str, WorkflowCommand)> = vec![
        ("::set-output name=x::v", output("x", "v")),
        (
            "::set-env name=FOO::bar",
            W::SetEnv {
                name: "FOO".into(),
                value: "bar".into(),
            },
        ),
        ("::add-path::/opt/bin", W::AddPath("/opt/bin".into())),
        ("::add-mask::hunter2", W::AddMask("hunter2".into())),
        (
            "::save-state name=pid::42",
            W::SaveState {
                name: "pid".into(),
                value: "42".into(),
            },
        ),
        ("::group::Build", W::Group("Build".into())),
        ("::group::", W::Group(String::new())),
        ("::endgroup::", W::EndGroup),
        ("::endgroup::ignored", W::EndGroup),
        ("::debug::details", W::Debug("details".into())),
        ("::debug file=a,line=3::details", W::Debug("details".into())),
        ("::notice::hi", W::Annotation(notice("hi"))),
        ("::echo::on", W::Echo(true)),
        ("::echo::off", W::Echo(false)),
        ("::echo:: OFF ", W::Echo(false)),
        ("::stop-commands::tok3n", W::StopCommands("tok3n".into())),
    ];
    for (line, expected) in cases {
        assert_eq!(ok(line), expected, "{line:?}");
    }
}

#[test]
fn annotation_levels_follow_the_command_name() {
    let cases = [
        ("::notice::m", AnnotationLevel::Notice),
        ("::warning::m", AnnotationLevel::Warning),
        ("::error::m", AnnotationLevel::Error),
    ];
    for (line, level) in cases {
        assert_eq!(annotation_of(line).level, level, "{line:?}");
    }
}

#[test]
fn ordinary_and_unknown_lines_are_not_commands() {
    let lines = [
        "",
        "hello world",
        "::",
        ":::",
        "::::",
        "::set-output name=x",
        "set-output name=x::v",
        ": :set-output name=x::v",
        "::unknown-command::data",
        "::add-matcher::matcher.json",
        "::remove-matcher owner=x::",
        "::set-output\tname=x::v",
        "##[set-output name=x;]v",
        "echo ::warning::not at the start",
    ];
    for line in lines {
        assert_eq!(parse(line), None, "{line:?}");
    }
}

#[test]
fn command_names_are_case_insensitive() {
    assert_eq!(ok("::SET-OUTPUT name=x::v"), output("x", "v"));
    assert_eq!(
        annotation_of("::Warning::m").level,
        AnnotationLevel::Warning
    );
    assert_eq!(ok("::EndGroup::"), WorkflowCommand::EndGroup);
}

#[test]
fn property_keys_are_case_insensitive_as_on_github() {
    // GitHub stores properties in an OrdinalIgnoreCase dictionary.
    assert_eq!(ok("::set-output NAME=x::v"), output("x", "v"));
    let a = annotation_of("::error FILE=a.rs,LINE=3,EndLine=3,COL=1,endcolumn=2,Title=t::m");
    assert_eq!(a.file.as_deref(), Some("a.rs"));
    assert_eq!(
        (a.line, a.end_line, a.col, a.end_col),
        (Some(3), Some(3), Some(1), Some(2))
    );
    assert_eq!(a.title.as_deref(), Some("t"));
}

#[test]
fn leading_whitespace_and_trailing_carriage_return_are_ignored() {
    assert_eq!(ok("   ::set-output name=x::v\r"), output("x", "v"));
    assert_eq!(ok("\t::set-output name=x::v"), output("x", "v"));
    // Only one \r is a line ending; a second is data.
    assert_eq!(ok("::set-output name=x::v\r\r"), output("x", "v\r"));
}

#[test]
fn message_runs_from_the_first_separator_to_the_end() {
    let cases = [
        ("::set-output name=x::a::b", "a::b"),
        ("::set-output name=x::", ""),
        ("::set-output name=x:: padded ", " padded "),
        ("::set-output name=x::k=v,w", "k=v,w"),
    ];
    for (line, value) in cases {
        assert_eq!(ok(line), output("x", value), "{line:?}");
    }
}

#[test]
fn data_is_unescaped() {
    let cases = [
        ("%25", "%"),
        ("%0D", "\r"),
        ("%0A", "\n"),
        ("a%0Ab%0D%0Ac", "a\nb\r\nc"),
        // Decoded once: %25 followed by 0A is a literal "%0A", not a newline.
        ("%250A", "%0A"),
        ("%2525", "%25"),
        // Upper case only, as GitHub's ordinal replace.
        ("%0a", "%0a"),
        // Property-only escapes stay as they are in data.
        ("%3A%2C", "%3A%2C"),
        // Incomplete or unknown escapes are literal.
        ("%", "%"),
        ("100%", "100%"),
        ("%%0A", "%\n"),
        ("%Z9", "%Z9"),
        ("%é", "%é"),
    ];
    for (data, value) in cases {
        let line = format!("::set-output name=x::{data}");
        assert_eq!(ok(&line), output("x", value), "{line:?}");
    }
}

#[test]
fn annotation_properties_are_unescaped() {
    let a = annotation_of(
        "::warning file=dir%2Cname%3Afile.rs,title=a%3A b%2C c%25 d%0Ae%0Df,line=2::msg%0Amore",
    );
    assert_eq!(a.file.as_deref(), Some("dir,name:file.rs"));
    assert_eq!(a.title.as_deref(), Some("a: b, c% d\ne\rf"));
    assert_eq!(a.message, "msg\nmore");
    assert_eq!(a.line, Some(2));
}

#[test]
fn property_name_is_unescaped() {
    assert_eq!(ok("::set-output name=a%3Ab%2Cc::v"), output("a:b,c", "v"));
}

#[test]
fn properties_split_as_github_splits_them() {
    let cases = [
        // A value may contain '='.
        ("::set-output name=a=b::v", Some("a=b")),
        // Empty entries and surrounding spaces are skipped.
        ("::set-output  ,,name=x ,::v", Some("x ")),
        // A repeated key keeps its last value.
        ("::set-output name=a,name=b::v", Some("b")),
        ("::set-output name=a,NAME=b::v", Some("b")),
        // Leading '=' are dropped, like .NET's RemoveEmptyEntries.
        ("::set-output =name=x::v", Some("x")),
        // A pair with an empty value is dropped, so an earlier one survives.
        ("::set-output name=x,name=::v", Some("x")),
        // Keys are not trimmed.
        ("::set-output other=1, name=x::v", None),
    ];
    for (line, name) in cases {
        match name {
            Some(name) => assert_eq!(ok(line), output(name, "v"), "{line:?}"),
            None => assert_eq!(
                parse(line),
                Some(Err(CommandError::MissingName {
                    command: "set-output"
                })),
                "{line:?}"
            ),
        }
    }
}

#[test]
fn malformed_known_commands_are_errors() {
    let cases = [
        (
            "::set-output::v",
            CommandError::MissingName {
                command: "set-output",
            },
        ),
        (
            "::set-output name=::v",
            CommandError::MissingName {
                command: "set-output",
            },
        ),
        (
            "::set-output title=x::v",
            CommandError::MissingName {
                command: "set-output",
            },
        ),
        (
            "::set-env::v",
            CommandError::MissingName { command: "set-env" },
        ),
        (
            "::save-state::v",
            CommandError::MissingName {
                command: "save-state",
            },
        ),
        ("::add-path::", CommandError::EmptyPath),
        ("::add-mask::", CommandError::EmptyMask),
        ("::add-mask::   ", CommandError::EmptyMask),
        ("::add-mask::%0A", CommandError::EmptyMask),
        ("::echo::", CommandError::InvalidEcho),
        ("::echo::yes", CommandError::InvalidEcho),
        ("::stop-commands::", CommandError::EmptyStopToken),
        (
            "::stop-commands::pause-logging",
            CommandError::GuessableStopToken,
        ),
        ("::stop-commands::WARNING", CommandError::GuessableStopToken),
        (
            "::stop-commands::add-matcher",
            CommandError::GuessableStopToken,
        ),
        (
            "::stop-commands::stop-commands",
            CommandError::GuessableStopToken,
        ),
    ];
    for (line, error) in cases {
        let mut parser = CommandParser::new();
        assert_eq!(
            parser.parse_line(line.as_bytes()),
            Some(Err(error)),
            "{line:?}"
        );
        assert!(!parser.stopped(), "{line:?} must not stop commands");
    }
}

#[test]
fn error_messages_do_not_quote_the_mask_value() {
    // The error path cannot see a value, but the Debug form of a command can.
    let command = ok("::add-mask::hunter2");
    assert!(!format!("{command:?}").contains("hunter2"));
    assert_eq!(command, WorkflowCommand::AddMask("hunter2".into()));
}

#[test]
fn stop_commands_ignores_until_token() {
    let mut parser = CommandParser::new();
    assert_eq!(
        parser.parse_line(b"::stop-commands::abc123"),
        Some(Ok(WorkflowCommand::StopCommands("abc123".into())))
    );
    assert!(parser.stopped());
    let ignored: [&[u8]; 5] = [
        b"::set-output name=x::v",
        b"::add-mask::secret",
        b"::stop-commands::other",
        b"::set-output::malformed",
        b"::abc12::",
    ];
    for line in ignored {
        assert_eq!(parser.parse_line(line), None, "{line:?}");
        assert!(parser.stopped(), "{line:?}");
    }
    assert_eq!(parser.parse_line(b"::abc123::"), None);
    assert!(!parser.stopped());
    assert_eq!(
        parser.parse_line(b"::set-output name=x::v"),
        Some(Ok(output("x", "v")))
    );
}

#[test]
fn resume_token_matches_like_a_command_name() {
    // As on GitHub: any command whose name is the token resumes, case-insensitively, with
    // leading whitespace, properties and data allowed.
    for resume in ["::TOKEN::", "::token::", "  ::Token key=v::text\r"] {
        let mut parser = CommandParser::new();
        assert!(parser.parse_line(b"::stop-commands::token").is_some());
        assert_eq!(parser.parse_line(resume.as_bytes()), None, "{resume:?}");
        assert!(!parser.stopped(), "{resume:?}");
    }
    // Not a resume: the token must be the whole name.
    for not_resume in [
        "token",
        "::token",
        "::tokens::",
        "::token-x::",
        "x ::token::",
    ] {
        let mut parser = CommandParser::new();
        assert!(parser.parse_line(b"::stop-commands::token").is_some());
        assert_eq!(parser.parse_line(not_resume.as_bytes()), None);
        assert!(parser.stopped(), "{not_resume:?}");
    }
}

#[test]
fn stop_token_is_unescaped_before_matching() {
    let mut parser = CommandParser::new();
    assert_eq!(
        parser.parse_line(b"::stop-commands::a%25b"),
        Some(Ok(WorkflowCommand::StopCommands("a%b".into())))
    );
    assert_eq!(parser.parse_line(b"::a%25b::"), None);
    assert!(parser.stopped(), "the resume line's name is not unescaped");
    assert_eq!(parser.parse_line(b"::a%b::"), None);
    assert!(!parser.stopped());
}

#[test]
fn annotation_positions_are_made_consistent() {
    // (properties, line, end_line, col, end_col), after GitHub's ValidateLinesAndColumns.
    type Position = (Option<u64>, Option<u64>, Option<u64>, Option<u64>);
    let cases: &[(&str, Position)] = &[
        ("", (None, None, None, None)),
        ("line=1,col=1", (Some(1), None, Some(1), None)),
        (
            "line=1,endLine=1,col=1,endColumn=2",
            (Some(1), Some(1), Some(1), Some(2)),
        ),
        // Columns are dropped on a multi-line range.
        (
            "line=1,endLine=2,col=1,endColumn=2",
            (Some(1), Some(2), None, None),
        ),
        // Columns need a line.
        ("col=1,endColumn=2", (None, None, None, None)),
        // endLine alone also sets line; endColumn alone also sets col.
        ("endLine=4", (Some(4), Some(4), None, None)),
        ("line=1,endColumn=2", (Some(1), None, Some(2), Some(2))),
        ("line=,endLine=3", (Some(3), Some(3), None, None)),
        // Backwards ranges are dropped.
        ("line=4,endLine=3", (None, None, None, None)),
        (
            "line=1,endLine=1,col=3,endColumn=2",
            (Some(1), Some(1), None, None),
        ),
        // Numbers that do not parse are absent, not errors.
        ("line=abc,col=-1", (None, None, None, None)),
        ("line= 7 ,col=+2", (Some(7), None, Some(2), None)),
        ("line=99999999999999999999999", (None, None, None, None)),
    ];
    for (properties, expected) in cases {
        let a = annotation_of(&format!("::error {properties}::m"));
        assert_eq!(
            (a.line, a.end_line, a.col, a.end_col),
            *expected,
            "{properties:?}"
        );
    }
}

#[test]
fn non_utf8_lines_are_decoded_lossily() {
    let mut parser = CommandParser::new();
    assert_eq!(
        parser.parse_line(b"::set-output name=x\xff::a\xfe\xc3b"),
        Some(Ok(output("x\u{fffd}", "a\u{fffd}\u{fffd}b")))
    );
    assert_eq!(parser.parse_line(b"\xff::set-output name=x::v"), None);
}

#[test]
fn unicode_case_folding_matches_dotnet_ordinal_ignore_case() {
    // .NET upper-cases U+0131 (dotless i) to I, so GitHub accepts this spelling.
    let a = annotation_of("::not\u{131}ce::m");
    assert_eq!(a.level, AnnotationLevel::Notice);
    assert!(!eq_ignore_case("straße", "STRASSE"));
    assert!(eq_ignore_case("Ωmega", "ωMEGA"));
    assert!(!eq_ignore_case("abc", "abcd"));
}

#[test]
fn multiline_env_value_with_uuid_delimiter() {
    let text = "JSON<<ghadelimiter_5e2b3f0c-7d1a-4c3e-9f4b-2a6d8e1c0b7f\n\
                {\n  \"a\": 1\n}\n\
                ghadelimiter_5e2b3f0c-7d1a-4c3e-9f4b-2a6d8e1c0b7f\n\
                AFTER=1\n";
    assert_eq!(
        parse_file_commands(text),
        Ok(vec![
            ("JSON".into(), "{\n  \"a\": 1\n}".into()),
            ("AFTER".into(), "1".into()),
        ])
    );
}

#[test]
fn file_commands_parse_both_forms() {
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: &[(&str, Pairs)] = &[
        ("", &[]),
        ("\n\n", &[]),
        ("A=1", &[("A", "1")]),
        ("A=1\nB=2\n", &[("A", "1"), ("B", "2")]),
        ("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]),
        ("A=b=c", &[("A", "b=c")]),
        ("A=", &[("A", "")]),
        // Whichever of '=' and '<<' comes first decides the form.
        ("A=x<<y", &[("A", "x<<y")]),
        ("A<<E=F\nv\nE=F\n", &[("A", "v")]),
        // Nothing is trimmed.
        (" A = 1 ", &[(" A ", " 1 ")]),
        ("A<<EOF\nEOF\n", &[("A", "")]),
        ("A<<EOF\n\nEOF", &[("A", "")]),
        ("A<<EOF\n\n\nEOF", &[("A", "\n")]),
        ("A<<EOF\nx\n\ny\nEOF\n", &[("A", "x\n\ny")]),
        ("A<<EOF\r\nx\r\ny\r\nEOF\r\n", &[("A", "x\ny")]),
        // The delimiter must be the whole line; a line that only contains it is value.
        ("A<<EOF\n EOF\nEOFX\nEOF", &[("A", " EOF\nEOFX")]),
        // Value lines that look like entries are value.
        ("A<<EOF\nB=2\nEOF\nC=3", &[("A", "B=2"), ("C", "3")]),
        // Repeats are kept in order.
        ("A=1\nA=2", &[("A", "1"), ("A", "2")]),
    ];
    for (text, expected) in cases {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parse_file_commands(text), Ok(expected), "{text:?}");
    }
}

#[test]
fn missing_delimiter_is_an_error() {
    let cases = [
        ("A<<EOF", 1),
        ("A<<EOF\nvalue\n", 1),
        ("X=1\n\nA<<EOF\nvalue\nEOF \n", 3),
        ("A<<EOF\nvalue\neof\n", 1),
    ];
    for (text, line) in cases {
        assert_eq!(
            parse_file_commands(text),
            Err(FileCommandError::MissingDelimiter {
                line,
                delimiter: "EOF".into()
            }),
            "{text:?}"
        );
    }
    let error = parse_file_commands("A<<EOF\n").unwrap_err();
    assert!(error.to_string().contains("\"EOF\""), "{error}");
}

#[test]
fn malformed_file_command_lines_are_errors_with_line_numbers() {
    let cases = [
        ("NAME", FileCommandError::InvalidFormat { line: 1 }),
        ("A=1\n \n", FileCommandError::InvalidFormat { line: 2 }),
        (
            "A=1\n\nB=2\njunk",
            FileCommandError::InvalidFormat { line: 4 },
        ),
        ("A<1", FileCommandError::InvalidFormat { line: 1 }),
        ("=value", FileCommandError::EmptyName { line: 1 }),
        (
            "A=1\n<<EOF\nx\nEOF",
            FileCommandError::EmptyName { line: 2 },
        ),
        ("A<<", FileCommandError::EmptyDelimiter { line: 1 }),
        ("A<<\r\n", FileCommandError::EmptyDelimiter { line: 1 }),
    ];
    for (text, error) in cases {
        assert_eq!(parse_file_commands(text), Err(error), "{text:?}");
    }
}

#[test]
fn file_command_errors_do_not_quote_values() {
    let error = parse_file_commands("A=1\nsecret-without-equals\n").unwrap_err();
    assert_eq!(error.line(), 2);
    assert!(!error.to_string().contains("secret"), "{error}");
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

/// Bytes biased towards the syntax the parsers care about, plus arbitrary bytes.
fn hostile_bytes(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"::",
        b":",
        b"%",
        b"%25",
        b"%0A",
        b"%0D",
        b"%3A",
        b"%2C",
        b"=",
        b"<<",
        b",",
        b" ",
        b"\t",
        b"\r",
        b"\n",
        b"\r\n",
        b"name",
        b"line",
        b"endLine",
        b"col",
        b"endColumn",
        b"set-output",
        b"stop-commands",
        b"error",
        b"echo",
        b"add-mask",
        b"EOF",
        b"\"",
        b"'",
        b"\\",
        b"#",
        b"export ",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"\xc4\xb1",
        b"-1",
        b"9",
    ];
    let len = rng.below(max_len + 1);
    let mut out = Vec::with_capacity(len * 2);
    while out.len() < len {
        if rng.below(3) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
    }
    out
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let mut parser = CommandParser::new();
    for _ in 0..5000 {
        let mut line = hostile_bytes(&mut rng, 80);
        if rng.below(2) == 0 {
            line.splice(0..0, b"::".iter().copied());
        }
        let _ = parser.parse_line(&line);
        let text = String::from_utf8_lossy(&line);
        let _ = parse_file_commands(&text);
    }
    for _ in 0..500 {
        let text = String::from_utf8_lossy(&hostile_bytes(&mut rng, 2000)).into_owned();
        let _ = parse_file_commands(&text);
    }
}

#[test]
fn long_lines_parse_in_linear_time() {
    // Many properties and many escapes: a quadratic parser would take minutes here.
    let properties = "k=v,".repeat(200_000);
    let data = "%0A".repeat(200_000);
    let line = format!("::error {properties}line=3::{data}");
    let start = std::time::Instant::now();
    let a = annotation_of(&line);
    assert_eq!(a.line, Some(3));
    assert_eq!(a.message.len(), 200_000);
    let heredoc = format!("A<<EOF\n{}EOF\n", "x\n".repeat(200_000));
    assert!(parse_file_commands(&heredoc).is_ok());
    // A hang guard, not a speed check (speed is benchmarked): linear work ends in well under
    // a second even in a debug build; quadratic work would take minutes.
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
}
