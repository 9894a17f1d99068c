//! Template strings and `if:` conditions.

use super::*;

/// The segments of a template as `L(text)` and `E(expression source)`.
fn split(source: &str) -> Result<Vec<String>, ExprError> {
    Ok(Template::parse(source)?
        .segments()
        .iter()
        .map(|segment| match segment {
            Segment::Literal { text, span } => {
                assert_eq!(&source[span.clone()], text, "literal span of {source:?}");
                format!("L({text})")
            }
            Segment::Expr(expr) => format!("E({})", &source[expr.span.clone()]),
        })
        .collect())
}

#[test]
fn templates_split_into_literal_and_expression_segments() {
    let rows: &[(&str, &[&str])] = &[
        ("", &[]),
        ("plain text", &["L(plain text)"]),
        ("${{ github.ref }}", &["E(github.ref)"]),
        (
            "run ${{ github.ref }} now",
            &["L(run )", "E(github.ref)", "L( now)"],
        ),
        ("${{a}}${{b}}", &["E(a)", "E(b)"]),
        ("${{ '}}' }}", &["E('}}')"]),
        ("${{ 'it''s }}' }}", &["E('it''s }}')"]),
        (
            "${{ format('{0}}}', 'x') }} done",
            &["E(format('{0}}}', 'x'))", "L( done)"],
        ),
        ("a }} b", &["L(a }} b)"]),
        ("${ { x }}", &["L(${ { x }})"]),
        ("$${{ x }}", &["L($)", "E(x)"]),
        ("${{ x }}}", &["E(x)", "L(})"]),
        ("${{\n  github.ref\n}}", &["E(github.ref)"]),
        ("ü ${{ 'ö' }} ß", &["L(ü )", "E('ö')", "L( ß)"]),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, expected)| {
            let got = split(source);
            let same = got
                .as_ref()
                .is_ok_and(|got| got.iter().map(String::as_str).eq(expected.iter().copied()));
            (!same)
                .then(|| format!("  {source:?}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn template_errors_point_into_the_template() {
    use ErrorKind::*;
    let rows: &[(&str, ErrorKind, Span)] = &[
        ("${{ github.ref", UnclosedExpression, 0..14),
        ("x ${{ 'a }}", UnclosedExpression, 2..11),
        ("${{ }}", EmptyExpression, 0..6),
        ("${{}}", EmptyExpression, 0..5),
        ("ok ${{ 1 == }}", UnexpectedEnd, 11..11),
        ("${{ github.ref == ) }}", UnexpectedSymbol, 18..19),
        ("a ${{ 1 }} b ${{ 'x }}", UnclosedExpression, 13..22),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, kind, span)| {
            let got = Template::parse(source).err().map(|e| (e.kind, e.span));
            (got != Some((*kind, span.clone()))).then(|| {
                format!("  {source:?}\n    expected {kind:?} at {span:?}\n    got      {got:?}")
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn templates_evaluate_to_a_value_or_a_string() {
    let rows = [
        ("Hello ${{ ctx.str }}!", r#""Hello Hello!""#),
        ("${{ ctx.num }}", "3"),
        ("n=${{ ctx.num }}", r#""n=3""#),
        ("${{ ctx.words }}", r#"["a","b","c"]"#),
        (
            "a ${{ ctx.words }} ${{ ctx.obj }} ${{ null }}.",
            r#""a Array Object .""#,
        ),
        ("${{ 1 }}${{ 2 }}", r#""12""#),
        ("${{ '${{' }}", r#""${{""#),
        ("plain", r#""plain""#),
        ("", r#""""#),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, expected)| {
            let got = Template::parse(source)
                .and_then(|t| t.evaluate(&scope()))
                .map(|v| show(&v));
            (got.as_deref() != Ok(*expected))
                .then(|| format!("  {source:?}\n    expected {expected}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);

    let template = Template::parse("${{ ctx.num }}").unwrap();
    assert_eq!(template.evaluate_to_string(&scope()).unwrap(), "3");
    assert!(Template::parse("no expressions").unwrap().is_literal());
    assert!(!template.is_literal());
}

#[test]
fn conditions_without_a_status_function_imply_success() {
    let rows = [
        ("", true),
        ("   ", true),
        ("github.ref == 'x'", true),
        ("${{ github.ref == 'x' }}", true),
        ("success()", false),
        ("always()", false),
        ("ALWAYS()", false),
        ("${{ always() }}", false),
        ("failure() && github.ref == 'x'", false),
        ("!cancelled()", false),
        ("contains(format('{0}', failure()), 'x')", false),
        ("steps.always.outputs.failure", true),
        ("'always()'", true),
    ];
    for (source, implicit) in rows {
        let condition = Condition::parse(source).expect(source);
        assert_eq!(condition.implicit_success(), implicit, "{source:?}");
        if let Some(expr) = condition.expr() {
            assert_eq!(expr.calls_status_function(), !implicit, "{source:?}");
        }
    }
}

#[test]
fn conditions_decide_by_status_and_truthiness() {
    use JobStatus::*;
    let rows = [
        ("", Success, true),
        ("", Failure, false),
        ("true", Failure, false),
        ("always()", Failure, true),
        ("always()", Cancelled, true),
        ("failure()", Failure, true),
        ("failure()", Success, false),
        ("success() || failure()", Failure, true),
        ("!cancelled()", Failure, true),
        ("cancelled()", Cancelled, true),
        ("github.ref == 'refs/heads/main'", Success, true),
        ("${{ github.ref == 'refs/heads/other' }}", Success, false),
        // Text around `${{ }}` makes a string, and a non-empty string is true.
        ("${{ false }} && ${{ false }}", Success, true),
        ("0", Success, false),
        ("'false'", Success, true),
        ("ctx.missing", Success, false),
        ("false && fromJSON('bad')", Success, false),
        // The implied success() short-circuits before the failing part.
        ("fromJSON('bad')", Failure, false),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, status, expected)| {
            let got =
                Condition::parse(source).and_then(|c| c.evaluate(&scope().with_status(*status)));
            (got != Ok(*expected)).then(|| {
                format!(
                    "  {source:?} with {status:?}\n    expected {expected}\n    got      {got:?}"
                )
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn condition_errors_keep_spans_relative_to_the_condition() {
    let error = Condition::parse("github.ref == )").unwrap_err();
    assert_eq!(
        (error.kind, error.span),
        (ErrorKind::UnexpectedSymbol, 14..15)
    );
    let error = Condition::parse("${{ github.ref").unwrap_err();
    assert_eq!(
        (error.kind, error.span),
        (ErrorKind::UnclosedExpression, 0..14)
    );
    let error = Condition::parse("fromJSON('bad')")
        .unwrap()
        .evaluate(&scope())
        .unwrap_err();
    assert_eq!((error.kind, error.span), (ErrorKind::InvalidJson, 9..14));
}
