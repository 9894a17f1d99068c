//! Literals, operators, precedence, syntax errors and spans.

use super::*;

#[test]
fn literals_evaluate_to_their_values() {
    assert_values(&[
        ("null", "null"),
        ("true", "true"),
        ("false", "false"),
        ("711", "711"),
        ("-9.2", "-9.2"),
        ("+7", "7"),
        ("-0", "0"),
        ("0.1", "0.1"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("5.", "5"),
        ("0xff", "255"),
        ("0xFF", "255"),
        ("0x0", "0"),
        ("0x7fffffff", "2147483647"),
        ("0xffffffff", "-1"),
        ("0o17", "15"),
        ("-2.99e-2", "-0.0299"),
        ("1e3", "1000"),
        ("1E+2", "100"),
        ("1.2e-2", "0.012"),
        ("1e15", "1E+15"),
        ("123456789012345", "123456789012345"),
        ("1e400", "Infinity"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("''", r#""""#),
        ("'It''s open source!'", r#""It's open source!""#),
        ("''''", r#""'""#),
        ("'a''''b'", r#""a''b""#),
        ("'}}'", r#""}}""#),
        (
            "'${{ not an expression }}'",
            r#""${{ not an expression }}""#,
        ),
        ("'two\nlines'", r#""two\nlines""#),
        ("'ünïcödé ✓'", r#""ünïcödé ✓""#),
        ("  true  ", "true"),
        ("\ttrue\n", "true"),
    ]);
}

#[test]
fn keywords_are_case_sensitive_and_only_keywords_outside_properties() {
    assert_values(&[
        // `True` is a context name (missing here, so null), not the boolean.
        ("True", "null"),
        ("NULL", "null"),
        ("nan == NaN", "false"),
        ("fromJSON('{\"true\": 1, \"null\": 2}').true", "1"),
        ("fromJSON('{\"true\": 1, \"null\": 2}').null", "2"),
        ("fromJSON('{\"NaN\": 3}').NaN", "3"),
    ]);
}

#[test]
fn each_operator_computes_its_result() {
    assert_bools(&[
        ("1 == 1", true),
        ("1 == 2", false),
        ("1 != 2", true),
        ("1 != 1", false),
        ("1 < 2", true),
        ("2 < 1", false),
        ("2 <= 2", true),
        ("3 <= 2", false),
        ("3 > 2", true),
        ("2 > 2", false),
        ("2 >= 2", true),
        ("2 >= 3", false),
        ("!true", false),
        ("!false", true),
        ("!!'x'", true),
        ("true && true", true),
        ("true && false", false),
        ("false || true", true),
        ("false || false", false),
    ]);
}

#[test]
fn operators_bind_by_githubs_precedence() {
    assert_values(&[
        // && binds tighter than ||.
        ("true || false && false", "true"),
        ("(true || false) && false", "false"),
        ("false && true || true", "true"),
        // ! binds tighter than comparisons.
        ("!true == false", "true"),
        ("!(1 == 2)", "true"),
        ("!1 < 2", "true"),
        // Relational binds tighter than equality.
        ("1 < 2 == true", "true"),
        ("true == 1 < 2", "true"),
        // Equality binds tighter than &&.
        ("1 == 1 && 2 == 3", "false"),
        ("1 == 2 || 2 == 2 && 'x'", r#""x""#),
        // Comparisons associate to the left: (3 > 2) > 1 is true > 1 is 1 > 1.
        ("3 > 2 > 1", "false"),
        ("2 > 1 > 0", "true"),
        ("1 == 1 == true", "true"),
        // Property access binds tightest.
        ("!github.ref", "false"),
        ("!ctx.missing", "true"),
        (
            "github.ref == 'refs/heads/main' && github.event_name == 'push'",
            "true",
        ),
        ("format('{0}', 1) == '1'", "true"),
        ("(1)", "1"),
        ("((('x')))", r#""x""#),
        ("(ctx.words)[1]", r#""b""#),
    ]);
}

#[test]
fn and_or_return_an_operand_not_a_boolean() {
    assert_values(&[
        ("'a' && 'b'", r#""b""#),
        ("'' && 'b'", r#""""#),
        ("null && 'b'", "null"),
        ("0 && 'b'", "0"),
        ("'a' || 'b'", r#""a""#),
        ("'' || 'b'", r#""b""#),
        ("null || 0", "0"),
        ("0 || '' || null", "null"),
        ("NaN || 'x'", r#""x""#),
        ("ctx.words || 'x'", r#"["a","b","c"]"#),
        ("true && 'yes' || 'no'", r#""yes""#),
        ("false && 'yes' || 'no'", r#""no""#),
        ("'a' && 'b' && 'c'", r#""c""#),
        ("'a' && '' && 'c'", r#""""#),
        // Short-circuit: the failing operand is never evaluated.
        ("false && fromJSON('not json')", "false"),
        ("true || fromJSON('not json')", "true"),
    ]);
}

#[test]
fn syntax_errors_point_at_the_offending_bytes() {
    use ErrorKind::*;
    assert_errors(&[
        ("", EmptyExpression, 0..0),
        ("   ", EmptyExpression, 0..3),
        ("1 ==", UnexpectedEnd, 4..4),
        ("1 && ", UnexpectedEnd, 5..5),
        ("!", UnexpectedEnd, 1..1),
        ("(1", UnexpectedEnd, 2..2),
        ("a[1", UnexpectedEnd, 3..3),
        ("github.", UnexpectedEnd, 7..7),
        ("github.ref == )", UnexpectedSymbol, 14..15),
        ("1)", UnexpectedSymbol, 1..2),
        ("1 2", UnexpectedSymbol, 2..3),
        ("f(1,)", UnexpectedSymbol, 4..5),
        ("f(1 2)", UnexpectedSymbol, 4..5),
        ("a[]", UnexpectedSymbol, 2..3),
        ("a.*b", UnexpectedSymbol, 3..4),
        ("a.b(1)", UnexpectedSymbol, 3..4),
        ("a.b.1", UnexpectedSymbol, 4..5),
        ("github.'ref'", UnexpectedSymbol, 7..12),
        // Literals cannot be indexed.
        ("'abc'[0]", UnexpectedSymbol, 5..6),
        ("\"abc\"", UnexpectedSymbol, 0..5),
        ("a = b", UnexpectedSymbol, 2..3),
        ("a & b", UnexpectedSymbol, 2..3),
        ("a | b", UnexpectedSymbol, 2..3),
        ("a ||| b", UnexpectedSymbol, 4..5),
        ("$x", UnexpectedSymbol, 0..2),
        ("é", UnexpectedSymbol, 0..2),
        ("'abc", UnterminatedString, 0..4),
        ("x == 'it''s", UnterminatedString, 5..11),
        ("1.2.3", InvalidNumber, 0..5),
        ("0xZZ", InvalidNumber, 0..4),
        ("0XFF", InvalidNumber, 0..4),
        ("0x100000000", InvalidNumber, 0..11),
        ("-", InvalidNumber, 0..1),
        ("- 1", InvalidNumber, 0..1),
        ("1-2", InvalidNumber, 0..3),
        ("1e", InvalidNumber, 0..2),
        ("'abc'.length", InvalidNumber, 5..12),
    ]);
}

#[test]
fn syntax_errors_carry_hints_where_a_fix_is_obvious() {
    let rows = [
        ("\"abc\"", "single quotes"),
        ("a = b", "`==`"),
        ("a & b", "`&&`"),
        ("'abc", "`''`"),
        ("1 - 2", "no arithmetic"),
    ];
    for (source, fragment) in rows {
        let error = Expr::parse(source).expect_err(source);
        let hint = error.hint.unwrap_or_default();
        assert!(
            hint.contains(fragment),
            "{source}: hint {hint:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn every_node_carries_its_span() {
    let source = "github.event.commits[0].id == 'x'";
    let expr = Expr::parse(source).unwrap();
    let spans: Vec<(&str, &str)> = expr
        .nodes()
        .into_iter()
        .map(|node| {
            let kind = match &node.kind {
                ExprKind::Compare { .. } => "compare",
                ExprKind::Property { .. } => "property",
                ExprKind::Index { .. } => "index",
                ExprKind::Context(_) => "context",
                ExprKind::Literal(_) => "literal",
                _ => "other",
            };
            (kind, &source[node.span.clone()])
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("compare", source),
            ("property", "github.event.commits[0].id"),
            ("index", "github.event.commits[0]"),
            ("property", "github.event.commits"),
            ("property", "github.event"),
            ("context", "github"),
            ("literal", "0"),
            ("literal", "'x'"),
        ]
    );
    let ExprKind::Compare { left, .. } = &expr.kind else {
        panic!("not a comparison: {expr:?}");
    };
    let ExprKind::Property {
        name, name_span, ..
    } = &left.kind
    else {
        panic!("not a property: {left:?}");
    };
    assert_eq!((name.as_str(), name_span.clone()), ("id", 24..26));
}

#[test]
fn groups_and_calls_span_their_parentheses() {
    let source = "!(a || b) && f(x, 'y')";
    let expr = Expr::parse(source).unwrap();
    let texts: Vec<&str> = expr
        .nodes()
        .into_iter()
        .map(|node| &source[node.span.clone()])
        .collect();
    assert_eq!(
        texts,
        [
            source,
            "!(a || b)",
            "(a || b)",
            "a",
            "b",
            "f(x, 'y')",
            "x",
            "'y'"
        ]
    );
}

#[test]
fn errors_render_with_a_caret_under_the_span() {
    let source = "github.ref == )";
    let error = Expr::parse(source).unwrap_err();
    assert_eq!(
        error.render(source),
        "error: unexpected symbol `)`\n  | github.ref == )\n  |               ^"
    );
    let source = "'a' == \"b\"";
    let error = Expr::parse(source).unwrap_err();
    assert_eq!(
        error.render(source),
        "error: unexpected symbol `\"b\"`\n  | 'a' == \"b\"\n  |        ^^^\n  = hint: string literals use single quotes, e.g. 'text'"
    );
}
