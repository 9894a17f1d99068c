//! Contexts, properties, indexes and object filters.

use super::*;

#[test]
fn properties_and_indexes_read_contexts_ignoring_case() {
    assert_values(&[
        ("github.ref", r#""refs/heads/main""#),
        ("GITHUB.REF", r#""refs/heads/main""#),
        ("github['ref']", r#""refs/heads/main""#),
        ("github['REF']", r#""refs/heads/main""#),
        ("(github).ref", r#""refs/heads/main""#),
        ("github.event.commits[0].id", r#""a1""#),
        ("needs.build-job.result", r#""success""#),
        ("ctx.obj.key", r#""value""#),
        ("ctx.obj['Key']", r#""value""#),
        ("ctx.obj.nested.n", "1"),
        ("ctx.nested[1][0]", "3"),
        ("fromJSON('[10,20]')[1]", "20"),
        ("fromJSON('{\"a-b\": 1}').a-b", "1"),
    ]);
}

#[test]
fn missing_things_read_as_null() {
    assert_values(&[
        ("github.nope", "null"),
        ("github.nope.deeper", "null"),
        ("nope", "null"),
        ("nope.x", "null"),
        ("ctx.words.length", "null"),
        ("ctx.str[0]", "null"),
        ("ctx.obj[1]", "null"),
        ("ctx.obj[ctx.obj]", "null"),
        ("(1)[0]", "null"),
    ]);
}

#[test]
fn array_indexes_are_numbers_rounded_down() {
    assert_values(&[
        ("ctx.arr[0]", "1"),
        ("ctx.arr[1]", r#""two""#),
        ("ctx.arr['1']", r#""two""#),
        ("ctx.arr[' 1 ']", r#""two""#),
        ("ctx.arr[1.9]", r#""two""#),
        ("ctx.arr[true]", r#""two""#),
        ("ctx.arr[null]", "1"),
        ("ctx.arr[3]", "null"),
        ("ctx.arr[4]", "null"),
        ("ctx.arr[-1]", "null"),
        ("ctx.arr[99999999999]", "null"),
        ("ctx.arr[NaN]", "null"),
        ("ctx.arr[Infinity]", "null"),
        ("ctx.arr['x']", "null"),
        ("ctx.arr[ctx.words]", "null"),
    ]);
}

#[test]
fn object_filters_map_over_items_and_values() {
    assert_values(&[
        ("github.event.commits.*.id", r#"["a1","b2"]"#),
        ("github.event.commits[*].id", r#"["a1","b2"]"#),
        (
            "github.event.commits.*.message",
            r#"["first","second","no id"]"#,
        ),
        ("github.event.commits.*['id']", r#"["a1","b2"]"#),
        ("github.event.labels.*.name", r#"["bug","CI"]"#),
        ("ctx.words.*", r#"["a","b","c"]"#),
        ("ctx.obj.*", r#"["value",{"n":1}]"#),
        ("ctx.nested.*[0]", "[1,3]"),
        ("ctx.nested.*.*", "[1,2,3,4]"),
        ("ctx.nested[*][*]", "[1,2,3,4]"),
        ("(ctx.nested.*)[1]", "[2,4]"),
        // Primitives inside a filtered list have no properties.
        ("github.event.commits.*.id[0]", "[]"),
        ("ctx.arr.*.x", "[]"),
        ("ctx.arr.*.*", "[]"),
        // A filter over a primitive or nothing is an empty list.
        ("ctx.str.*", "[]"),
        ("nope.*", "[]"),
        ("nope[*].x", "[]"),
        ("contains(github.event.commits.*.id, 'B2')", "true"),
        ("join(github.event.commits.*.id, ' ')", r#""a1 b2""#),
    ]);
    assert_strings(&[(
        "toJSON(github.event.commits.*.id)",
        "[\n  \"a1\",\n  \"b2\"\n]",
    )]);
}
