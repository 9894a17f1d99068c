//! Hostile input: deep nesting, long text, random bytes. Errors, never panics or overflows.

use std::time::{Duration, Instant};

use super::*;

#[test]
fn deep_nesting_is_refused_quickly() {
    let rows = [
        format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}1", "(".repeat(10_000)),
        format!("{}true", "!".repeat(10_000)),
        format!("a{}", ".b".repeat(10_000)),
        format!("a{}", "[0]".repeat(6_000)),
        format!("a{}", "[a".repeat(6_000)),
        format!("{}1{}", "f(".repeat(5_000), ")".repeat(5_000)),
        format!("1{}", " == 1".repeat(3_000)),
        format!("1{}", " < 1".repeat(3_000)),
        format!("{}x", "!(".repeat(5_000)),
    ];
    for source in &rows {
        let started = Instant::now();
        let error = Expr::parse(source).expect_err("too deep");
        assert_eq!(error.kind, ErrorKind::TooDeep, "{}…", &source[..20]);
        assert!(error.span.end <= source.len());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{}… took {:?}",
            &source[..20],
            started.elapsed()
        );
    }
}

#[test]
fn nesting_below_the_limit_parses_and_evaluates() {
    let rows = [
        (format!("{}1{}", "(".repeat(40), ")".repeat(40)), "1"),
        (format!("{}true", "!".repeat(40)), "true"),
        (format!("ctx{}", ".x".repeat(40)), "null"),
        (
            format!("{}'x'{}", "format('{0}', ".repeat(40), ")".repeat(40)),
            r#""x""#,
        ),
    ];
    for (source, expected) in &rows {
        assert_eq!(eval_shown(source), *expected, "{source}");
    }
    let deeper = format!("{}true", "!".repeat(60));
    assert_eq!(Expr::parse(&deeper).unwrap_err().kind, ErrorKind::TooDeep);
}

#[test]
fn long_flat_chains_are_not_deep() {
    let source = format!("false{}", " || false".repeat(2_000));
    assert_eq!(eval_shown(&source), "false");
    let source = format!("ctx.str{}", " && ctx.str".repeat(1_500));
    assert_eq!(eval_shown(&source), r#""Hello""#);
}

#[test]
fn overlong_expressions_are_refused() {
    let source = "1 == 1 && ".repeat(2_200) + "true";
    let error = Expr::parse(&source).unwrap_err();
    assert_eq!(
        (error.kind, error.span),
        (ErrorKind::TooLong, 0..source.len())
    );
}

#[test]
fn results_that_grow_without_bound_are_refused() {
    let bomb = format!("{}'\\'{}", "toJSON(".repeat(45), ")".repeat(45));
    let started = Instant::now();
    assert_eq!(eval(&bomb).unwrap_err().kind, ErrorKind::TooLarge);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let big = format!("{}'\\'{}", "toJSON(".repeat(15), ")".repeat(15));
    let placeholders = "{0}".repeat(1_000);
    let rows = [
        format!("format('{placeholders}', {big})"),
        format!("join(fromJSON('[1,2,3]'), format('{placeholders}', {big}))"),
    ];
    for source in &rows {
        let error = eval(source).unwrap_err();
        assert_eq!(error.kind, ErrorKind::TooLarge, "{}…", &source[..40]);
    }
    let source = format!("${{{{ {big} }}}}").repeat(400);
    let template = Template::parse(&source).unwrap();
    let error = template.evaluate(&scope()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(error.span.end <= source.len());
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Checks that whatever happens to `source`, errors stay inside it and render.
fn survive(source: &str, scope: &Scope) {
    let available = Availability::new(&["github", "ctx"]);
    let check = |error: &ExprError| {
        assert!(
            error.span.start <= error.span.end && error.span.end <= source.len(),
            "{source:?}: span {:?} outside the source",
            error.span
        );
        let _ = error.render(source);
    };
    match Expr::parse(source) {
        Ok(expr) => {
            validate(&expr, &available).iter().for_each(check);
            let _ = expr.calls_status_function();
            if let Err(error) = expr.evaluate(scope) {
                check(&error);
            }
        }
        Err(error) => check(&error),
    }
    match Template::parse(source) {
        Ok(template) => {
            template.validate(&available).iter().for_each(check);
            if let Err(error) = template.evaluate(scope) {
                check(&error);
            }
        }
        Err(error) => check(&error),
    }
    match Condition::parse(source) {
        Ok(condition) => {
            if let Err(error) = condition.evaluate(scope) {
                check(&error);
            }
        }
        Err(error) => check(&error),
    }
}

#[test]
fn random_input_never_panics() {
    const PIECES: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        ".",
        ",",
        "*",
        "!",
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&",
        "&&",
        "|",
        "||",
        "'",
        "''",
        "${{",
        "}}",
        "{",
        "}",
        " ",
        "\n",
        "-",
        "+",
        "0",
        "1",
        "9",
        "0x",
        "0o",
        "e",
        ".5",
        "1e",
        "NaN",
        "Infinity",
        "null",
        "true",
        "false",
        "github",
        "ctx",
        "arr",
        "words",
        "nested",
        "ref",
        "contains",
        "format",
        "join",
        "toJSON",
        "fromJSON",
        "case",
        "success",
        "always",
        "startsWith",
        "hashFiles",
        "'{0}'",
        "'{'",
        "'}'",
        "'['",
        "é",
        "\u{0}",
        "\"",
        "$",
        "_",
        "-x",
    ];
    let scope = scope();
    let mut noise = Noise(0x5eed_cafe_f00d_d00d);
    for _ in 0..3_000 {
        let mut source = String::new();
        for _ in 0..noise.below(24) {
            source.push_str(PIECES[noise.below(PIECES.len())]);
        }
        survive(&source, &scope);
    }
    for _ in 0..1_000 {
        let bytes: Vec<u8> = (0..noise.below(40)).map(|_| noise.next() as u8).collect();
        survive(&String::from_utf8_lossy(&bytes), &scope);
    }
}
