//! The built-in functions, their edge cases and their errors.

use super::*;

#[test]
fn contains_searches_strings_ignoring_case_and_arrays_by_loose_equality() {
    assert_bools(&[
        ("contains('Hello world', 'WORLD')", true),
        ("contains('abc', '')", true),
        ("contains('abc', 'd')", false),
        ("contains(123, 2)", true),
        ("contains(true, 'RU')", true),
        ("contains(null, '')", true),
        ("contains(ctx.arr, 'TWO')", true),
        ("contains(ctx.arr, 1)", true),
        ("contains(ctx.arr, '1')", true),
        ("contains(ctx.arr, null)", true),
        ("contains(ctx.arr, 'three')", false),
        ("contains(ctx.words, 'B')", true),
        ("contains(fromJSON('[true]'), 1)", true),
        ("contains(ctx.nested, ctx.nested[0])", true),
        ("contains(ctx.nested, fromJSON('[1, 2]'))", false),
        ("contains(fromJSON('[]'), 'x')", false),
        ("contains(ctx.obj, 'Key')", false),
        ("contains('abc', ctx.words)", false),
        ("CONTAINS('abc', 'B')", true),
    ]);
}

#[test]
fn starts_with_and_ends_with_compare_strings_ignoring_case() {
    assert_bools(&[
        ("startsWith('Hello world', 'he')", true),
        ("startsWith('Hello', '')", true),
        ("startsWith('Hello', 'world')", false),
        ("startsWith(12345, 12)", true),
        ("startsWith(github.ref, 'REFS/heads/')", true),
        ("startsWith(ctx.words, 'a')", false),
        ("startsWith('a', ctx.words)", false),
        ("endsWith('Hello world', 'WORLD')", true),
        ("endsWith('refs/heads/main', '/MAIN')", true),
        ("endsWith(1.5, '.5')", true),
        ("endsWith(null, '')", true),
        ("endsWith('x', 'xx')", false),
        ("startswith('ABC', 'a')", true),
    ]);
}

#[test]
fn format_replaces_placeholders_and_unescapes_braces() {
    assert_strings(&[
        (
            "format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')",
            "Hello Mona the Octocat",
        ),
        (
            "format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
            "{Hello Mona the Octocat!}",
        ),
        ("format('{0}{0}', 'x')", "xx"),
        ("format('{1}{0}', 'a', 'b')", "ba"),
        ("format('{00}', 'x')", "x"),
        ("format('{{0}}', 'abc')", "{0}"),
        ("format('{{{{0}}}}', 'abc')", "{{0}}"),
        ("format('}}{{', 'x')", "}{"),
        ("format('}}{{}}', 'x')", "}{}"),
        ("format('{{{0}}}', 'x')", "{x}"),
        ("format('no placeholders')", "no placeholders"),
        ("format('', 'unused')", ""),
        ("format(null)", ""),
        ("format('{0}', 'a{1}b')", "a{1}b"),
        ("format('ünï {0} ✓', 'ç')", "ünï ç ✓"),
        ("format(1.50)", "1.5"),
    ]);
}

#[test]
fn format_refuses_bad_braces_and_missing_arguments() {
    use ErrorKind::InvalidFormat;
    assert_errors(&[
        ("format('{0')", InvalidFormat, 7..11),
        ("format('{0', '')", InvalidFormat, 7..11),
        ("format('{0}}', '')", InvalidFormat, 7..13),
        ("format('0}')", InvalidFormat, 7..11),
        ("format('{{0}')", InvalidFormat, 7..13),
        ("format('}0{')", InvalidFormat, 7..12),
        ("format('}{0}', '')", InvalidFormat, 7..13),
        ("format('{0}{', '')", InvalidFormat, 7..13),
        ("format('{}', 'x')", InvalidFormat, 7..11),
        ("format('{a}', 'x')", InvalidFormat, 7..12),
        ("format('{0:x}', 1)", InvalidFormat, 7..14),
        ("format('{0 }', 1)", InvalidFormat, 7..13),
        ("format('{256}', 1)", InvalidFormat, 7..14),
        ("format('{0}')", InvalidFormat, 7..12),
        ("format('{0}{1}', 'abc')", InvalidFormat, 7..15),
    ]);
    let error = eval("format('{0}{1}', 'abc')").unwrap_err();
    assert!(error.message.contains("{1}"), "{}", error.message);
    assert!(error.message.contains("1 argument"), "{}", error.message);
}

#[test]
fn join_joins_array_items_with_a_separator() {
    assert_strings(&[
        ("join(ctx.words)", "a,b,c"),
        ("join(ctx.words, ', ')", "a, b, c"),
        ("join(ctx.words, '')", "abc"),
        ("join(ctx.words, 0)", "a0b0c"),
        ("join(ctx.words, null)", "abc"),
        ("join(ctx.words, ctx.arr)", "a,b,c"),
        ("join(ctx.arr, '|')", "1|two|true|"),
        ("join(ctx.nested)", "Array,Array"),
        ("join(fromJSON('[\"x\"]'), '-')", "x"),
        ("join(fromJSON('[]'))", ""),
        ("join('abc')", "abc"),
        ("join('abc', '-')", "abc"),
        ("join(1.5)", "1.5"),
        ("join(null)", ""),
        ("join(ctx.obj)", ""),
    ]);
}

#[test]
fn to_json_pretty_prints_with_two_space_indentation() {
    assert_strings(&[
        ("toJSON(null)", "null"),
        ("toJSON(true)", "true"),
        ("toJSON(1234.5)", "1234.5"),
        ("toJSON(-0)", "0"),
        ("toJSON(1e20)", "1E+20"),
        ("toJSON('abc')", r#""abc""#),
        ("toJSON('a\"b\\c')", r#""a\"b\\c""#),
        ("toJSON('it''s')", r#""it's""#),
        (
            r#"toJSON(fromJSON('"tab\there\u0001 \u2028"'))"#,
            r#""tab\there\u0001 \u2028""#,
        ),
        ("toJSON(fromJSON('[]'))", "[]"),
        ("toJSON(fromJSON('{}'))", "{}"),
        ("toJSON(fromJSON('[1,2,3]'))", "[\n  1,\n  2,\n  3\n]"),
        (
            r#"toJSON(fromJSON('{"one":1,"two":[true,null,{}],"three":{"x":"y"}}'))"#,
            "{\n  \"one\": 1,\n  \"two\": [\n    true,\n    null,\n    {}\n  ],\n  \"three\": {\n    \"x\": \"y\"\n  }\n}",
        ),
        ("tojson(ctx.words)", "[\n  \"a\",\n  \"b\",\n  \"c\"\n]"),
    ]);
}

#[test]
fn from_json_parses_json_keeping_key_order() {
    assert_values(&[
        ("fromJSON('true')", "true"),
        ("fromJSON('1.5')", "1.5"),
        ("fromJSON('\"x\"')", r#""x""#),
        ("fromJSON('null')", "null"),
        ("fromJSON(' {\"x\": 1} ').x", "1"),
        ("fromJSON('[1,\"a\"]')[1]", r#""a""#),
        ("fromJSON('{\"A\":{\"b\":2}}').a.B", "2"),
        ("fromJSON('{\"b\":1,\"a\":2}')", r#"{"b":1,"a":2}"#),
        ("fromJSON(format('[{0}]', 5))[0]", "5"),
        ("fromJSON('12345678901234567890')", "1.23456789012346E+19"),
        ("fromJSON('1') == 1", "true"),
        ("fromJSON('\"1\"') == 1", "true"),
    ]);
}

#[test]
fn from_json_errors_point_at_its_argument_and_say_where_the_json_broke() {
    use ErrorKind::InvalidJson;
    assert_errors(&[
        ("fromJSON('')", InvalidJson, 9..11),
        ("fromJSON('{')", InvalidJson, 9..12),
        ("fromJSON('[1,]')", InvalidJson, 9..15),
        ("fromJSON('{a: 1}')", InvalidJson, 9..17),
        ("fromJSON('1 2')", InvalidJson, 9..14),
        ("fromJSON(ctx.words)", InvalidJson, 9..18),
    ]);
    let error = eval("fromJSON('[1,\n  x]')").unwrap_err();
    assert!(
        error.message.contains("line 2 column 3"),
        "{}",
        error.message
    );
}

#[test]
fn case_returns_the_value_of_the_first_true_predicate() {
    assert_values(&[
        ("case(true, 'a', 'b')", r#""a""#),
        ("case(false, 'a', 'b')", r#""b""#),
        ("case(false, 'a', true, 'b', 'c')", r#""b""#),
        ("case(true, 'a', true, 'b', 'c')", r#""a""#),
        ("case(false, 'a', false, 'b', 'c')", r#""c""#),
        ("case(1 == 1, 123, 456)", "123"),
        ("case(true, ctx.words, 'x')", r#"["a","b","c"]"#),
        ("case(true, '', 'x')", r#""""#),
        (
            "case(github.event_name == 'push', 'pushed', github.event_name == 'pull_request', 'pr', 'other')",
            r#""pushed""#,
        ),
        // Only what is needed is evaluated.
        ("case(true, 'first', fromJSON('bad'))", r#""first""#),
        ("case(false, fromJSON('bad'), 'default')", r#""default""#),
    ]);
}

#[test]
fn case_predicates_must_be_booleans() {
    use ErrorKind::*;
    assert_errors(&[
        ("case('yes', 'a', 'b')", CasePredicateNotBoolean, 5..10),
        ("case(1, 'a', 'b')", CasePredicateNotBoolean, 5..6),
        ("case(null, 'a', 'b')", CasePredicateNotBoolean, 5..9),
        (
            "case(false, 'a', ctx.words, 'b', 'c')",
            CasePredicateNotBoolean,
            17..26,
        ),
        ("case(true, 'a')", WrongArity, 0..15),
        ("case(true, 'a', false, 'b')", WrongArity, 0..27),
    ]);
}

#[test]
fn status_functions_read_the_job_status() {
    use JobStatus::*;
    let rows = [
        ("success()", [true, false, false]),
        ("failure()", [false, true, false]),
        ("cancelled()", [false, false, true]),
        ("always()", [true, true, true]),
        ("Success()", [true, false, false]),
    ];
    for (source, expected) in rows {
        let expr = Expr::parse(source).unwrap();
        for (status, expected) in [Success, Failure, Cancelled].into_iter().zip(expected) {
            let got = expr.evaluate(&Scope::new().with_status(status)).unwrap();
            assert_eq!(got, Value::Bool(expected), "{source} with {status:?}");
        }
    }
}

#[test]
fn calling_what_does_not_exist_fails_at_evaluation_too() {
    use ErrorKind::*;
    assert_errors(&[
        ("nope()", UnknownFunction, 0..4),
        ("toJson(nope())", UnknownFunction, 7..11),
        ("hashFiles('**/Cargo.lock')", HashFilesFailed, 0..26),
        ("hashFiles()", WrongArity, 0..11),
        ("contains('a')", WrongArity, 0..13),
        ("toJSON()", WrongArity, 0..8),
        ("join(1, 2, 3)", WrongArity, 0..13),
        ("success(1)", WrongArity, 0..10),
    ]);
}
