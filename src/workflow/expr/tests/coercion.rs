//! Loose equality, comparisons, truthiness, and converting numbers to and from strings.

use super::*;

#[test]
fn loose_equality_follows_githubs_coercion_table() {
    assert_bools(&[
        // null converts to 0.
        ("null == null", true),
        ("null == 0", true),
        ("null == false", true),
        ("null == ''", true),
        ("null == 'null'", false),
        // Booleans convert to 0 and 1.
        ("true == 1", true),
        ("false == 0", true),
        ("true == 'true'", false),
        ("true == '1'", true),
        ("false == ''", true),
        ("false == ' '", true),
        // Strings compared with numbers are parsed: trimmed, '' is 0, hex and exponents allowed.
        ("1 == '1'", true),
        ("1 == ' 1 '", true),
        ("1 == '1.0'", true),
        ("255 == '0xff'", true),
        ("8 == '0o10'", true),
        ("1000 == '1e3'", true),
        ("0 == ''", true),
        ("0 == 'abc'", false),
        ("Infinity == 'Infinity'", true),
        ("-0 == 0", true),
        // Strings compare ignoring case (simple one-to-one case mapping, as .NET).
        ("'abc' == 'ABC'", true),
        ("'abc' != 'ABC'", false),
        ("'é' == 'É'", true),
        ("'straße' == 'STRASSE'", false),
        ("'ı' == 'I'", false),
        ("'abc' == 'abd'", false),
        // NaN equals nothing, itself included.
        ("NaN == NaN", false),
        ("NaN != NaN", true),
        ("'abc' == NaN", false),
        // Arrays and objects equal only themselves.
        ("ctx.words == ctx.words", true),
        ("ctx.obj == ctx.obj", true),
        ("ctx.words != ctx.words", false),
        ("ctx.nested[0] == ctx.nested[0]", true),
        ("fromJSON('[]') == fromJSON('[]')", false),
        ("fromJSON('{}') == fromJSON('{}')", false),
        ("ctx.words == ctx.obj", false),
        ("ctx.words == 'Array'", false),
        ("ctx.obj == 'Object'", false),
        ("ctx.words == 0", false),
        ("ctx.words == null", false),
        ("ctx.words == true", false),
        ("ctx.words != null", true),
    ]);
}

#[test]
fn relational_operators_coerce_like_equality_and_fail_on_nan() {
    assert_bools(&[
        ("1 < 2", true),
        ("1.001 < 1.002", true),
        ("'a' < 'b'", true),
        ("'a' < 'B'", true),
        ("'B' < 'a'", false),
        ("'Z' < 'a'", false),
        ("'abc' < 'abd'", true),
        ("'10' < '9'", true),
        ("'10' < 9", false),
        ("'a' <= 'A'", true),
        ("'a' >= 'A'", true),
        ("true > false", true),
        ("false < true", true),
        ("true < true", false),
        ("null < 1", true),
        ("null <= 0", true),
        ("null >= 0", true),
        ("null > -1", true),
        ("null <= null", true),
        ("NaN < 1", false),
        ("NaN > 1", false),
        ("NaN >= 1", false),
        ("NaN <= NaN", false),
        ("'abc' < 1", false),
        ("'abc' >= 1", false),
        ("Infinity > 1e308", true),
        ("-Infinity < -1e308", true),
        ("ctx.words < ctx.words", false),
        ("ctx.words <= ctx.words", true),
        ("ctx.obj > 1", false),
        ("ctx.obj < 'z'", false),
    ]);
}

#[test]
fn only_false_zero_nan_empty_and_null_are_falsy() {
    let rows = [
        ("false", false),
        ("0", false),
        ("-0", false),
        ("0.0", false),
        ("NaN", false),
        ("''", false),
        ("null", false),
        ("ctx.missing", false),
        ("true", true),
        ("1", true),
        ("-1", true),
        ("Infinity", true),
        ("'a'", true),
        ("'0'", true),
        ("'false'", true),
        ("' '", true),
        ("ctx.words", true),
        ("ctx.obj", true),
        ("fromJSON('[]')", true),
        ("fromJSON('{}')", true),
    ];
    let failures = rows
        .iter()
        .filter_map(|(source, truthy)| {
            let value = eval(source).expect(source);
            let negated = eval(&format!("!({source})")).expect(source);
            (value.is_truthy() != *truthy || negated != Value::Bool(!truthy))
                .then(|| format!("  {source}: expected truthy = {truthy}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn numbers_print_with_at_most_fifteen_significant_digits() {
    let rows: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (0.5, "0.5"),
        (1234.56, "1234.56"),
        (123456.789, "123456.789"),
        (2f64.sqrt(), "1.4142135623731"),
        (1.0 / 3.0, "0.333333333333333"),
        (0.1 + 0.2, "0.3"),
        (1e14, "100000000000000"),
        (123_456_789_012_345.0, "123456789012345"),
        (1e15, "1E+15"),
        (1_234_567_890_123_456.0, "1.23456789012346E+15"),
        (9_007_199_254_740_993.0, "9.00719925474099E+15"),
        (999_999_999_999_999.9, "1E+15"),
        (0.0001, "0.0001"),
        (0.000123, "0.000123"),
        (0.00001, "1E-05"),
        (1.5e-7, "1.5E-07"),
        (1e300, "1E+300"),
        (-2.5e20, "-2.5E+20"),
        (5e-324, "4.94065645841247E-324"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    let failures = rows
        .iter()
        .filter_map(|(n, expected)| {
            let got = format_number(*n);
            (got != *expected).then(|| format!("  {n:e}: expected {expected}, got {got}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn strings_parse_as_numbers_like_githubs_runner() {
    let nan = f64::NAN;
    let rows: &[(&str, f64)] = &[
        ("", 0.0),
        ("  ", 0.0),
        (" 123 ", 123.0),
        ("\t42\n", 42.0),
        ("+1", 1.0),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("0x1F", 31.0),
        ("0x000000001", 1.0),
        ("0xffffffff", -1.0),
        ("0x100000000", nan),
        ("0x", nan),
        ("0XFF", nan),
        ("-0xff", nan),
        ("0o17", 15.0),
        ("0o8", nan),
        ("Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("infinity", nan),
        ("inf", nan),
        ("nan", nan),
        ("NaN", nan),
        ("1_000", nan),
        ("1 2", nan),
        ("abc", nan),
        ("e5", nan),
        (".", nan),
        ("-", nan),
        ("1e", nan),
        ("١", nan),
    ];
    let failures = rows
        .iter()
        .filter_map(|(text, expected)| {
            let got = parse_number(text);
            let same = got == *expected || (got.is_nan() && expected.is_nan());
            (!same).then(|| format!("  {text:?}: expected {expected}, got {got}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn values_convert_to_strings_as_format_and_templates_do() {
    assert_strings(&[
        ("format('{0}', null)", ""),
        ("format('{0}', true)", "true"),
        ("format('{0}', false)", "false"),
        ("format('{0}', 1)", "1"),
        ("format('{0}', -2.0)", "-2"),
        ("format('{0}', 1.2e2)", "120"),
        ("format('{0}', 0.84551240822557006)", "0.84551240822557"),
        ("format('{0}', 'text')", "text"),
        ("format('{0}', ctx.words)", "Array"),
        ("format('{0}', ctx.obj)", "Object"),
    ]);
}

#[test]
fn objects_look_up_keys_ignoring_case_and_keep_insertion_order() {
    let mut object = Object::new();
    object.insert("Zeta", Value::from(1.0));
    object.insert("alpha", Value::from("a"));
    object.insert("ZETA", Value::from(2.0));
    assert_eq!(object.len(), 2);
    assert_eq!(object.get("zeta"), Some(&Value::Number(2.0)));
    assert_eq!(object.get("ALPHA"), Some(&Value::from("a")));
    assert_eq!(object.get("beta"), None);
    let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["Zeta", "alpha"]);

    let scope = Scope::new().with_context("GitHub", Value::from("x"));
    assert_eq!(scope.context("github"), Some(&Value::from("x")));
}

#[test]
fn serde_json_values_convert_into_values() {
    let from_serde = Value::from(serde_json::json!({"a": [1, "b", null, true], "c": {}}));
    assert_eq!(show(&from_serde), r#"{"a":[1,"b",null,true],"c":{}}"#);
}
