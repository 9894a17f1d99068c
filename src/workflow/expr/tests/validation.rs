//! Validation against what the place an expression appears in makes available.

use super::*;

const JOB_IF: Availability<'static> =
    Availability::new(&["github", "needs", "vars", "inputs"]).with_status_functions();
const STEP_ENV: Availability<'static> = Availability::new(&[
    "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps",
    "inputs",
]);
const NOTHING: Availability<'static> = Availability::new(&[]);

/// A source, where it appears, and the problems expected there.
type Row<'a> = (&'a str, &'a Availability<'a>, &'a [(ErrorKind, Span)]);

fn problems(source: &str, available: &Availability<'_>) -> Vec<(ErrorKind, Span)> {
    let expr = Expr::parse(source).expect(source);
    validate(&expr, available)
        .into_iter()
        .map(|e| (e.kind, e.span))
        .collect()
}

#[test]
fn validation_reports_each_problem_with_its_span() {
    use ErrorKind::*;
    let rows: &[Row<'_>] = &[
        ("github.ref == 'x'", &JOB_IF, &[]),
        ("github.event.steps", &JOB_IF, &[]),
        ("format('{0}', github.ref)", &JOB_IF, &[]),
        ("TOJSON(GitHub)", &JOB_IF, &[]),
        ("success() && always()", &JOB_IF, &[]),
        ("steps.build.outputs.x", &STEP_ENV, &[]),
        (
            "steps.build.outputs.x",
            &JOB_IF,
            &[(UnavailableContext, 0..5)],
        ),
        ("STEPS.x", &JOB_IF, &[(UnavailableContext, 0..5)]),
        ("githb.ref", &JOB_IF, &[(UnavailableContext, 0..5)]),
        ("matrix.os", &JOB_IF, &[(UnavailableContext, 0..6)]),
        ("fromJSON(x).y", &NOTHING, &[(UnavailableContext, 9..10)]),
        (
            "startWith(github.ref, 'x')",
            &JOB_IF,
            &[(UnknownFunction, 0..9)],
        ),
        ("frobnicate()", &JOB_IF, &[(UnknownFunction, 0..10)]),
        ("hashFiles('**/x', '!y')", &STEP_ENV, &[]),
        ("contains('a')", &JOB_IF, &[(WrongArity, 0..13)]),
        ("toJSON()", &JOB_IF, &[(WrongArity, 0..8)]),
        ("join(1, 2, 3)", &JOB_IF, &[(WrongArity, 0..13)]),
        ("case(true, 1)", &JOB_IF, &[(WrongArity, 0..13)]),
        ("case(true, 1, false, 2)", &JOB_IF, &[(WrongArity, 0..23)]),
        ("success()", &STEP_ENV, &[(UnavailableFunction, 0..7)]),
        (
            "success(1)",
            &STEP_ENV,
            &[(WrongArity, 0..10), (UnavailableFunction, 0..7)],
        ),
        (
            "nope(steps.x, githb) || contains(matrix)",
            &JOB_IF,
            &[
                (UnknownFunction, 0..4),
                (UnavailableContext, 5..10),
                (UnavailableContext, 14..19),
                (WrongArity, 24..40),
                (UnavailableContext, 33..39),
            ],
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, available, expected)| {
            let got = problems(source, available);
            (got != *expected)
                .then(|| format!("  {source}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn validation_hints_name_the_closest_valid_name() {
    let rows: &[(&str, &Availability<'_>, &str, &str)] = &[
        (
            "startWith(github, 1)",
            &STEP_ENV,
            "unrecognized function `startWith`",
            "did you mean `startsWith`?",
        ),
        (
            "fromJson2(github)",
            &STEP_ENV,
            "unrecognized function `fromJson2`",
            "did you mean `fromJSON`?",
        ),
        (
            "sucess()",
            &JOB_IF,
            "unrecognized function `sucess`",
            "did you mean `success`?",
        ),
        (
            "frobnicate()",
            &JOB_IF,
            "unrecognized function `frobnicate`",
            "the functions are contains, startsWith",
        ),
        (
            "githb.ref",
            &JOB_IF,
            "unrecognized named-value `githb`",
            "did you mean `github`? available here: github, needs, vars, inputs",
        ),
        (
            "foo",
            &JOB_IF,
            "unrecognized named-value `foo`",
            "available here: github, needs, vars, inputs",
        ),
        (
            "Steps.x",
            &JOB_IF,
            "the `steps` context is not available here",
            "available here: github, needs, vars, inputs",
        ),
        (
            "x",
            &NOTHING,
            "unrecognized named-value `x`",
            "no context is available here",
        ),
        (
            "always()",
            &STEP_ENV,
            "`always()` is not available here",
            "status functions can only be used in `if:` conditions",
        ),
        (
            "case(true, 1, 2, 3)",
            &STEP_ENV,
            "`case` takes an odd number of arguments, got 4",
            "give pairs of predicate and value",
        ),
    ];
    for (source, available, message, hint) in rows {
        let errors = validate(&Expr::parse(source).unwrap(), available);
        assert_eq!(errors.len(), 1, "{source}: {errors:?}");
        assert_eq!(errors[0].message, *message, "{source}");
        let got = errors[0].hint.as_deref().unwrap_or_default();
        assert!(
            got.starts_with(hint),
            "{source}: hint {got:?} does not start with {hint:?}"
        );
    }
}

#[test]
fn arity_messages_say_what_the_function_takes() {
    let rows = [
        ("contains('a')", "`contains` takes 2 arguments, got 1"),
        ("toJSON(1, 2)", "`toJSON` takes 1 argument, got 2"),
        ("always(1)", "`always` takes no arguments, got 1"),
        ("format()", "`format` takes at least 1 argument, got 0"),
        ("join(1, 2, 3)", "`join` takes at most 2 arguments, got 3"),
        ("case(true, 1)", "`case` takes at least 3 arguments, got 2"),
    ];
    for (source, message) in rows {
        let errors = validate(&Expr::parse(source).unwrap(), &JOB_IF);
        assert_eq!(errors.len(), 1, "{source}: {errors:?}");
        assert_eq!(errors[0].message, message, "{source}");
    }
}

#[test]
fn conditions_and_templates_validate_every_expression() {
    let steps = Availability::new(&["github", "steps"]);
    let condition = Condition::parse("success() && steps.x.outcome == 'success'").unwrap();
    assert_eq!(condition.validate(&steps), Vec::new());
    let condition = Condition::parse("${{ failure() || env.X }}").unwrap();
    let errors: Vec<_> = condition
        .validate(&steps)
        .into_iter()
        .map(|e| (e.kind, e.span))
        .collect();
    assert_eq!(errors, [(ErrorKind::UnavailableContext, 17..20)]);

    let template = Template::parse("a ${{ steps.x }} b ${{ nope() }}").unwrap();
    let errors: Vec<_> = template
        .validate(&JOB_IF)
        .into_iter()
        .map(|e| (e.kind, e.span))
        .collect();
    assert_eq!(
        errors,
        [
            (ErrorKind::UnavailableContext, 6..11),
            (ErrorKind::UnknownFunction, 23..27),
        ]
    );
}
