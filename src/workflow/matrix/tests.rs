//! Table-driven tests of matrix expansion: each row is a matrix (written as JSON, keys in
//! order) → the combinations it expands to, or the error. A failing table reports every
//! failing row at once.

use super::*;

/// A matrix from JSON text: `include` and `exclude` are entry lists, every other key an axis.
fn spec(text: &str) -> MatrixSpec {
    let Value::Object(object) = Value::from_json(text).expect("fixture JSON parses") else {
        panic!("fixture is not an object: {text}");
    };
    let entries = |value: &Value| -> Vec<Entry> {
        let Value::Array(items) = value else {
            panic!("include/exclude is not an array: {text}");
        };
        items
            .iter()
            .map(|item| match item {
                Value::Object(entry) => entry
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect(),
                _ => panic!("entry is not an object: {text}"),
            })
            .collect()
    };
    let mut spec = MatrixSpec::default();
    for (key, value) in object.iter() {
        match (key, value) {
            ("include", v) => spec.include = entries(v),
            ("exclude", v) => spec.exclude = entries(v),
            (axis, Value::Array(values)) => spec.axes.push((axis.to_owned(), values.to_vec())),
            (axis, _) => panic!("axis {axis} is not an array: {text}"),
        }
    }
    spec
}

/// A value on one line: strings bare, numbers as GitHub prints them, objects and arrays in
/// braces and brackets.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format_number(*n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(object) => {
            let entries: Vec<String> = object
                .iter()
                .map(|(k, v)| format!("{k}:{}", show(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
    }
}

/// A combination as `key=value key=value`, in order.
fn show_combination(combination: &Combination) -> String {
    let pairs: Vec<String> = combination
        .values
        .iter()
        .map(|(k, v)| format!("{k}={}", show(v)))
        .collect();
    pairs.join(" ")
}

/// What a matrix expands to: one line per combination, or the error.
fn expanded(text: &str) -> Vec<String> {
    match expand(&spec(text)) {
        Ok(combinations) => combinations.iter().map(show_combination).collect(),
        Err(error) => vec![format!("error: {error:?}")],
    }
}

/// Fails with every row whose `got` differs from `expected`.
fn report(rows: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each row: (what it shows, matrix JSON, expected combinations in order).
fn assert_expansions(rows: &[(&str, &str, &[&str])]) {
    let failures = rows
        .iter()
        .filter_map(|(what, text, expected)| {
            let got = expanded(text);
            (got != *expected).then(|| {
                format!(
                    "  {what}\n    matrix   {text}\n    expected {expected:#?}\n    got      {got:#?}"
                )
            })
        })
        .collect();
    report(rows.len(), failures);
}

/// Each row: (what it shows, matrix JSON, expected error).
fn assert_errors(rows: &[(&str, &str, MatrixError)]) {
    let failures = rows
        .iter()
        .filter_map(|(what, text, expected)| {
            let got = expand(&spec(text)).map(|c| c.len());
            (got.as_ref().err() != Some(expected)).then(|| {
                format!("  {what}\n    matrix   {text}\n    expected {expected:?}\n    got      {got:?}")
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn the_product_varies_the_first_axis_slowest() {
    assert_expansions(&[
        (
            "the documentation's version × os example, in its documented order",
            r#"{"version": [10, 12, 14], "os": ["ubuntu-latest", "windows-latest"]}"#,
            &[
                "version=10 os=ubuntu-latest",
                "version=10 os=windows-latest",
                "version=12 os=ubuntu-latest",
                "version=12 os=windows-latest",
                "version=14 os=ubuntu-latest",
                "version=14 os=windows-latest",
            ],
        ),
        ("one axis", r#"{"node": [18, 20]}"#, &["node=18", "node=20"]),
        (
            "three axes",
            r#"{"a": [1, 2], "b": ["x"], "c": [true, false]}"#,
            &[
                "a=1 b=x c=true",
                "a=1 b=x c=false",
                "a=2 b=x c=true",
                "a=2 b=x c=false",
            ],
        ),
        (
            "values keep their types and order, duplicates included",
            r#"{"v": ["1", 1, null, 1.5, "1"]}"#,
            &["v=1", "v=1", "v=null", "v=1.5", "v=1"],
        ),
    ]);
}

#[test]
fn exclude_removes_every_combination_matching_all_of_an_entrys_pairs() {
    assert_expansions(&[
        (
            "the documentation's example: 12 combinations, 1 + 2 excluded",
            r#"{
                "os": ["macos-latest", "windows-latest"],
                "version": [12, 14, 16],
                "environment": ["staging", "production"],
                "exclude": [
                    {"os": "macos-latest", "version": 12, "environment": "production"},
                    {"os": "windows-latest", "version": 16}
                ]
            }"#,
            &[
                "os=macos-latest version=12 environment=staging",
                "os=macos-latest version=14 environment=staging",
                "os=macos-latest version=14 environment=production",
                "os=macos-latest version=16 environment=staging",
                "os=macos-latest version=16 environment=production",
                "os=windows-latest version=12 environment=staging",
                "os=windows-latest version=12 environment=production",
                "os=windows-latest version=14 environment=staging",
                "os=windows-latest version=14 environment=production",
            ],
        ),
        (
            "a partial entry removes every combination with that value",
            r#"{"os": ["a", "b"], "node": [1, 2], "exclude": [{"node": 2}]}"#,
            &["os=a node=1", "os=b node=1"],
        ),
        (
            "an entry that matches nothing removes nothing",
            r#"{"os": ["a", "b"], "exclude": [{"os": "c"}]}"#,
            &["os=a", "os=b"],
        ),
        (
            "several entries each remove their own",
            r#"{"os": ["a", "b", "c"], "exclude": [{"os": "a"}, {"os": "c"}]}"#,
            &["os=b"],
        ),
        (
            "values compare with the expression language's ==: strings ignore case",
            r#"{"os": ["Ubuntu", "windows"], "exclude": [{"os": "UBUNTU"}]}"#,
            &["os=windows"],
        ),
        (
            "values compare with ==: a string equals the number it spells",
            r#"{"node": [18, 20], "exclude": [{"node": "18"}]}"#,
            &["node=20"],
        ),
        (
            "values compare with ==: null equals false and 0",
            r#"{"flag": [false, true], "exclude": [{"flag": null}]}"#,
            &["flag=true"],
        ),
        (
            "keys compare ignoring case",
            r#"{"os": ["a", "b"], "exclude": [{"OS": "a"}]}"#,
            &["os=b"],
        ),
        (
            "an object in an entry matches on the keys it lists",
            r#"{
                "target": [{"os": "linux", "arch": "x64"}, {"os": "linux", "arch": "arm64"},
                           {"os": "mac", "arch": "arm64"}],
                "exclude": [{"target": {"arch": "arm64"}}]
            }"#,
            &["target={os:linux,arch:x64}"],
        ),
        (
            "an object entry does not match a string value",
            r#"{"os": ["linux"], "exclude": [{"os": {"name": "linux"}}]}"#,
            &["os=linux"],
        ),
        (
            "an array in an entry matches element by element",
            r#"{"pair": [[1, 2], [1, 3]], "exclude": [{"pair": [1, 3]}]}"#,
            &["pair=[1,2]"],
        ),
        (
            "an exclude is applied before includes, so an include can add a combination back",
            r#"{"os": ["a", "b"], "exclude": [{"os": "a"}], "include": [{"os": "a", "extra": 1}]}"#,
            &["os=b", "os=a extra=1"],
        ),
    ]);
}

#[test]
fn include_follows_the_documentations_worked_example() {
    assert_expansions(&[(
        "fruit × animal with five include entries gives six combinations",
        r#"{
            "fruit": ["apple", "pear"],
            "animal": ["cat", "dog"],
            "include": [
                {"color": "green"},
                {"color": "pink", "animal": "cat"},
                {"fruit": "apple", "shape": "circle"},
                {"fruit": "banana"},
                {"fruit": "banana", "animal": "cat"}
            ]
        }"#,
        &[
            "fruit=apple animal=cat color=pink shape=circle",
            "fruit=apple animal=dog color=green shape=circle",
            "fruit=pear animal=cat color=pink",
            "fruit=pear animal=dog color=green",
            "fruit=banana",
            "fruit=banana animal=cat",
        ],
    )]);
}

#[test]
fn include_merges_where_it_overwrites_no_original_value_and_adds_the_rest() {
    assert_expansions(&[
        (
            "an entry of new keys only is added to every combination",
            r#"{"os": ["a", "b"], "include": [{"experimental": false}]}"#,
            &["os=a experimental=false", "os=b experimental=false"],
        ),
        (
            "an entry naming an axis value is added only where that value is",
            r#"{"os": ["windows", "ubuntu"], "node": [12, 14, 16],
                "include": [{"os": "windows", "node": 16, "npm": 6}]}"#,
            &[
                "os=windows node=12",
                "os=windows node=14",
                "os=windows node=16 npm=6",
                "os=ubuntu node=12",
                "os=ubuntu node=14",
                "os=ubuntu node=16",
            ],
        ),
        (
            "a later entry overwrites a value an earlier entry added, keeping its place",
            r#"{"os": ["a", "b"], "include": [{"x": 1, "y": 1}, {"os": "b", "x": 2}]}"#,
            &["os=a x=1 y=1", "os=b x=2 y=1"],
        ),
        (
            "an entry that would overwrite an original value becomes its own combination",
            r#"{"os": ["a"], "node": [1], "include": [{"os": "a", "node": 2, "x": true}]}"#,
            &["os=a node=1", "os=a node=2 x=true"],
        ),
        (
            "an entry of known axis values only adds nothing and no combination",
            r#"{"os": ["a", "b"], "include": [{"os": "b"}]}"#,
            &["os=a", "os=b"],
        ),
        (
            "an entry with a new axis value becomes a combination without the other axes",
            r#"{"arch": ["x64", "x86"], "os": ["linux", "windows"],
                "include": [{"arch": "x64"}, {"os": "macos"}]}"#,
            &[
                "arch=x64 os=linux",
                "arch=x64 os=windows",
                "arch=x86 os=linux",
                "arch=x86 os=windows",
                "os=macos",
            ],
        ),
        (
            "new combinations are never merged into by later entries",
            r#"{"os": ["a"], "include": [{"os": "z"}, {"os": "z", "x": 1}, {"y": 2}]}"#,
            &["os=a y=2", "os=z", "os=z x=1"],
        ),
        (
            "a new combination lists its axis keys first, then its other keys",
            r#"{"os": ["a"], "node": [1], "include": [{"x": 1, "node": 2, "os": "b"}]}"#,
            &["os=a node=1", "node=2 os=b x=1"],
        ),
        (
            "matching uses ==: strings ignore case and the original spelling stays",
            r#"{"os": ["Ubuntu"], "include": [{"os": "ubuntu", "x": 1}]}"#,
            &["os=Ubuntu x=1"],
        ),
        (
            "matching uses ==: '18' matches 18",
            r#"{"node": [18], "include": [{"node": "18", "lts": true}]}"#,
            &["node=18 lts=true"],
        ),
        (
            "an include key differing only in case from an axis is that axis",
            r#"{"os": ["a"], "include": [{"OS": "b"}]}"#,
            &["os=a", "OS=b"],
        ),
        (
            "an object entry value matches an object axis value on its listed keys",
            r#"{"target": [{"os": "linux", "arch": "x64"}, {"os": "mac", "arch": "arm64"}],
                "include": [{"target": {"os": "mac"}, "notarize": true}]}"#,
            &[
                "target={os:linux,arch:x64}",
                "target={os:mac,arch:arm64} notarize=true",
            ],
        ),
        (
            "the documentation's fail-fast example: a new version with its own flag",
            r#"{"version": [6, 7, 8], "experimental": [false],
                "include": [{"version": 9, "experimental": true}]}"#,
            &[
                "version=6 experimental=false",
                "version=7 experimental=false",
                "version=8 experimental=false",
                "version=9 experimental=true",
            ],
        ),
        (
            "when every combination is excluded, an include of new keys stands alone",
            r#"{"os": ["a"], "exclude": [{"os": "a"}], "include": [{"x": 1}]}"#,
            &["x=1"],
        ),
    ]);
}

#[test]
fn an_include_only_matrix_gives_one_combination_per_entry() {
    assert_expansions(&[
        (
            "two entries, keys in each entry's order",
            r#"{"include": [{"site": "production", "datacenter": "site-a"},
                            {"datacenter": "site-b", "site": "staging"}]}"#,
            &[
                "site=production datacenter=site-a",
                "datacenter=site-b site=staging",
            ],
        ),
        (
            "equal entries stay separate",
            r#"{"include": [{"a": 1}, {"a": 1}]}"#,
            &["a=1", "a=1"],
        ),
        (
            "an empty exclude list is allowed",
            r#"{"include": [{"a": 1}], "exclude": []}"#,
            &["a=1"],
        ),
    ]);
}

#[test]
fn object_valued_axes_expand_like_any_other_value() {
    assert_expansions(&[(
        "objects and arrays as axis values",
        r#"{"config": [{"os": "linux", "cc": ["gcc", "clang"]}, {"os": "mac", "cc": []}],
            "opt": [0, 2]}"#,
        &[
            "config={os:linux,cc:[gcc,clang]} opt=0",
            "config={os:linux,cc:[gcc,clang]} opt=2",
            "config={os:mac,cc:[]} opt=0",
            "config={os:mac,cc:[]} opt=2",
        ],
    )]);
}

#[test]
fn invalid_or_empty_matrices_are_errors() {
    assert_errors(&[
        ("no axes and no include", r#"{}"#, MatrixError::Empty),
        (
            "only an exclude list",
            r#"{"exclude": [{"os": "a"}]}"#,
            MatrixError::Empty,
        ),
        (
            "every combination excluded and nothing included",
            r#"{"os": ["a", "b"], "exclude": [{"os": "a"}, {"os": "b"}]}"#,
            MatrixError::Empty,
        ),
        (
            "an axis without values (GitHub: does not contain any values)",
            r#"{"os": ["a"], "node": [], "include": [{"x": 1}]}"#,
            MatrixError::EmptyAxis {
                key: "node".to_owned(),
            },
        ),
        (
            "an exclude key that is no axis",
            r#"{"os": ["a"], "exclude": [{"os": "a"}, {"arch": "x64"}]}"#,
            MatrixError::UnknownExcludeKey {
                index: 1,
                key: "arch".to_owned(),
            },
        ),
        (
            "an exclude key in an include-only matrix",
            r#"{"include": [{"os": "a"}], "exclude": [{"os": "a"}]}"#,
            MatrixError::UnknownExcludeKey {
                index: 0,
                key: "os".to_owned(),
            },
        ),
        (
            "an exclude key naming a key only an include adds",
            r#"{"os": ["a"], "include": [{"x": 1}], "exclude": [{"x": 1}]}"#,
            MatrixError::UnknownExcludeKey {
                index: 0,
                key: "x".to_owned(),
            },
        ),
        (
            "an empty exclude entry",
            r#"{"os": ["a"], "exclude": [{}]}"#,
            MatrixError::EmptyExclude { index: 0 },
        ),
        (
            "an empty include entry",
            r#"{"os": ["a"], "include": [{"x": 1}, {}]}"#,
            MatrixError::EmptyInclude { index: 1 },
        ),
    ]);
}

/// A matrix of one axis `n` with `count` values, as JSON.
fn axis_of(count: usize) -> String {
    let values: Vec<String> = (0..count).map(|n| n.to_string()).collect();
    format!("[{}]", values.join(","))
}

#[test]
fn at_most_256_combinations_are_allowed() {
    let sixteen = axis_of(16);
    let ok_256 = format!(r#"{{"a": {sixteen}, "b": {sixteen}}}"#);
    let with_new = format!(r#"{{"a": {sixteen}, "b": {sixteen}, "include": [{{"a": 99}}]}}"#);
    let merged = format!(r#"{{"a": {sixteen}, "b": {sixteen}, "include": [{{"x": 1}}]}}"#);
    let excluded_down =
        format!(r#"{{"a": {sixteen}, "b": {sixteen}, "c": [1, 2], "exclude": [{{"c": 2}}]}}"#);
    let include_only: Vec<String> = (0..257).map(|n| format!(r#"{{"n": {n}}}"#)).collect();
    let include_only = format!(r#"{{"include": [{}]}}"#, include_only.join(","));

    let counts = [
        ("16 × 16 is exactly the limit", ok_256.as_str(), Ok(256)),
        (
            "an include merged into every combination adds none",
            merged.as_str(),
            Ok(256),
        ),
        (
            "512 before exclude, 256 after",
            excluded_down.as_str(),
            Ok(256),
        ),
        (
            "one new combination past the limit",
            with_new.as_str(),
            Err(MatrixError::TooManyCombinations { count: 257 }),
        ),
        (
            "257 include-only entries",
            include_only.as_str(),
            Err(MatrixError::TooManyCombinations { count: 257 }),
        ),
        (
            "a product of 1000",
            r#"{"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10], "c": [1,2,3,4,5,6,7,8,9,10]}"#,
            Err(MatrixError::TooManyCombinations { count: 1000 }),
        ),
    ];
    let failures = counts
        .iter()
        .filter_map(|(what, text, expected)| {
            let got = expand(&spec(text)).map(|c| c.len());
            (got != *expected)
                .then(|| format!("  {what}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(counts.len(), failures);
}

#[test]
fn a_huge_product_is_refused_before_it_is_built() {
    let twenty = axis_of(20);
    let axes: Vec<String> = (0..20).map(|i| format!(r#""k{i}": {twenty}"#)).collect();
    let hostile = format!("{{{}}}", axes.join(","));
    let started = std::time::Instant::now();
    assert_eq!(expand(&spec(&hostile)), Err(MatrixError::ProductTooLarge));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

/// (what the row shows, `--matrix` pairs, the combinations kept)
type FilterRow<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn filter_keeps_combinations_whose_value_reads_as_one_of_the_wanted_strings() {
    let combos = expand(&spec(
        r#"{"os": ["ubuntu", "windows"], "node": [18, 20.5],
            "include": [{"os": "windows", "experimental": true}, {"os": "macos"}]}"#,
    ))
    .expect("expands");
    let rows: &[FilterRow] = &[
        (
            "no filter keeps all",
            &[],
            &[
                "os=ubuntu node=18",
                "os=ubuntu node=20.5",
                "os=windows node=18 experimental=true",
                "os=windows node=20.5 experimental=true",
                "os=macos",
            ],
        ),
        (
            "one key",
            &[("os", "windows")],
            &[
                "os=windows node=18 experimental=true",
                "os=windows node=20.5 experimental=true",
            ],
        ),
        (
            "numbers read as GitHub prints them",
            &[("node", "20.5")],
            &[
                "os=ubuntu node=20.5",
                "os=windows node=20.5 experimental=true",
            ],
        ),
        (
            "two keys must both match",
            &[("os", "ubuntu"), ("node", "18")],
            &["os=ubuntu node=18"],
        ),
        (
            "a repeated key allows either value",
            &[("os", "ubuntu"), ("os", "macos")],
            &["os=ubuntu node=18", "os=ubuntu node=20.5", "os=macos"],
        ),
        (
            "booleans read as true/false, and a combination without the key is dropped",
            &[("experimental", "true")],
            &[
                "os=windows node=18 experimental=true",
                "os=windows node=20.5 experimental=true",
            ],
        ),
        (
            "keys ignore case, values do not",
            &[("OS", "ubuntu"), ("node", "18")],
            &["os=ubuntu node=18"],
        ),
        ("values compare exactly", &[("os", "Ubuntu")], &[]),
        ("an unknown key keeps nothing", &[("arch", "x64")], &[]),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, wanted, expected)| {
            let wanted: Vec<(String, String)> = wanted
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let got: Vec<String> = filter(&combos, &wanted)
                .iter()
                .map(show_combination)
                .collect();
            (got != *expected)
                .then(|| format!("  {what}\n    expected {expected:#?}\n    got      {got:#?}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn instance_names_follow_github() {
    let long_value = "x".repeat(120);
    let long = format!(r#"{{"v": ["{long_value}"]}}"#);
    let long_name = format!("test ({}...", "x".repeat(91));
    let rows: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "axis values in order",
            r#"{"os": ["ubuntu-latest"], "node": [18]}"#,
            vec!["test (ubuntu-latest, 18)"],
        ),
        (
            "numbers as GitHub prints them, booleans in lower case",
            r#"{"python": [3.10, 3.0], "experimental": [false]}"#,
            vec!["test (3.1, false)", "test (3, false)"],
        ),
        (
            "values an include added to a product combination do not show",
            r#"{"os": ["a", "b"], "include": [{"os": "b", "experimental": true}]}"#,
            vec!["test (a)", "test (b)"],
        ),
        (
            "a combination made from an include entry shows all its values",
            r#"{"os": ["a"], "include": [{"os": "z", "experimental": true}]}"#,
            vec!["test (a)", "test (z, true)"],
        ),
        (
            "include-only entries show all their values",
            r#"{"include": [{"site": "prod", "dc": "a"}]}"#,
            vec!["test (prod, a)"],
        ),
        (
            "objects and arrays are walked depth first, their keys left out",
            r#"{"cfg": [{"os": "linux", "cc": ["gcc", {"v": 12}]}], "n": [1]}"#,
            vec!["test (linux, gcc, 12, 1)"],
        ),
        (
            "null and empty strings are skipped",
            r#"{"a": [null], "b": [""], "c": ["c"]}"#,
            vec!["test (c)"],
        ),
        (
            "without segments the name is the job's",
            r#"{"a": [null, ""]}"#,
            vec!["test", "test"],
        ),
        (
            "a name over 100 characters is cut to 97 and `...`",
            &long,
            vec![&long_name],
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, text, expected)| {
            let got: Vec<String> = expand(&spec(text))
                .expect("expands")
                .iter()
                .map(|combo| instance_name("test", combo))
                .collect();
            (got != *expected)
                .then(|| format!("  {what}\n    expected {expected:#?}\n    got      {got:#?}"))
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn a_combination_reads_as_the_matrix_context() {
    let combos = expand(&spec(r#"{"os": ["a"], "include": [{"x": 1}]}"#)).expect("expands");
    let combo = &combos[0];
    assert_eq!(combo.get("OS"), Some(&Value::from("a")));
    assert_eq!(combo.get("missing"), None);
    assert_eq!(combo.naming_values().len(), 1);
    assert_eq!(
        combo.to_value(),
        Value::from_json(r#"{"os": "a", "x": 1}"#).expect("parses")
    );
}

#[test]
fn errors_read_as_sentences() {
    let rows = [
        (
            MatrixError::EmptyAxis {
                key: "os".to_owned(),
            },
            "matrix axis `os` does not contain any values",
        ),
        (
            MatrixError::UnknownExcludeKey {
                index: 0,
                key: "arch".to_owned(),
            },
            "matrix exclude key `arch` does not match any key within the matrix",
        ),
        (
            MatrixError::EmptyInclude { index: 2 },
            "matrix include entry 3 does not contain any values",
        ),
        (
            MatrixError::TooManyCombinations { count: 300 },
            "the matrix produces 300 combinations; at most 256 are allowed",
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(error, expected)| {
            let got = error.to_string();
            (got != *expected).then(|| format!("  expected {expected}\n    got      {got}"))
        })
        .collect();
    report(rows.len(), failures);
}

// ---------------------------------------------------------------------------------------------
// Dynamic matrices

/// The contexts the dynamic-matrix rows are evaluated against: `needs.setup.outputs.matrix`
/// holds `output` (text, as job outputs are), and `inputs` holds a number, a boolean and a
/// JSON list as text.
fn dynamic_scope(output: &str) -> Scope {
    let mut outputs = Object::new();
    outputs.insert("matrix", Value::String(output.to_owned()));
    let mut setup = Object::new();
    setup.insert("outputs", Value::object(outputs));
    let mut needs = Object::new();
    needs.insert("setup", Value::object(setup));
    let inputs = Value::from_json(r#"{"node": 18, "debug": true, "oses": "[\"a\", \"b\"]"}"#)
        .expect("fixture JSON parses");
    Scope::new()
        .with_context("needs", Value::object(needs))
        .with_context("inputs", inputs)
}

/// What a dynamic matrix (its value as written, in JSON) expands to against
/// [`dynamic_scope`]: one line per combination, or the error.
fn expanded_dynamic(written: &str, output: &str) -> Vec<String> {
    let value = Value::from_json(written).expect("fixture JSON parses");
    match expand_dynamic(&value, &dynamic_scope(output)) {
        Ok(combinations) => combinations.iter().map(show_combination).collect(),
        Err(error) => vec![format!("error: {error:?}")],
    }
}

/// A whole-matrix expression, as the loader leaves `matrix: ${{ … }}` in the model.
const WHOLE: &str = r#""${{ fromJSON(needs.setup.outputs.matrix) }}""#;

#[test]
fn a_dynamic_matrix_expands_like_the_matrix_written_out() {
    // Each row: (what it shows, the matrix as written, the job output, the static equivalent).
    let full = r#"{"os": ["a", "b"], "node": [18, 20], "include": [{"os": "a", "experimental": true}, {"os": "c", "node": 22}], "exclude": [{"os": "b", "node": 18}]}"#;
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "the whole matrix from fromJSON, with include and exclude",
            WHOLE,
            full,
            full,
        ),
        (
            "an include-only matrix from fromJSON",
            WHOLE,
            r#"{"include": [{"project": "x", "dir": "a"}, {"project": "y", "dir": "b"}]}"#,
            r#"{"include": [{"project": "x", "dir": "a"}, {"project": "y", "dir": "b"}]}"#,
        ),
        (
            "one axis from an expression, one written out",
            r#"{"os": "${{ fromJSON(inputs.oses) }}", "node": [18]}"#,
            "",
            r#"{"os": ["a", "b"], "node": [18]}"#,
        ),
        (
            "include from an expression",
            r#"{"os": ["a", "b"], "include": "${{ fromJSON(needs.setup.outputs.matrix) }}"}"#,
            r#"[{"os": "b", "extra": 1}]"#,
            r#"{"os": ["a", "b"], "include": [{"os": "b", "extra": 1}]}"#,
        ),
        (
            "one exclude entry from an expression",
            r#"{"os": ["a", "b"], "exclude": ["${{ fromJSON(needs.setup.outputs.matrix) }}"]}"#,
            r#"{"os": "a"}"#,
            r#"{"os": ["a", "b"], "exclude": [{"os": "a"}]}"#,
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, written, output, equivalent)| {
            let got = expanded_dynamic(written, output);
            let expected = expanded(equivalent);
            (got != expected).then(|| {
                format!("  {what}\n    written  {written}\n    expected {expected:#?}\n    got      {got:#?}")
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn expressions_inside_axis_and_entry_values_are_evaluated() {
    assert_eq!(
        expanded_dynamic(
            r#"{"node": ["${{ inputs.node }}", 20], "name": ["build-${{ inputs.node }}"], "os": "${{ fromJSON(inputs.oses) }}", "include": [{"os": "a", "debug": "${{ inputs.debug }}"}]}"#,
            "",
        ),
        [
            // A string that is one expression keeps the value's type: `18` is a number.
            "node=18 name=build-18 os=a debug=true",
            "node=18 name=build-18 os=b",
            "node=20 name=build-18 os=a debug=true",
            "node=20 name=build-18 os=b",
        ]
    );
    let evaluated = evaluate_dynamic(
        &Value::from_json(r#"{"n": ["${{ inputs.node }}", "v${{ inputs.node }}"], "keep": [1]}"#)
            .expect("parses"),
        &dynamic_scope(""),
    )
    .expect("evaluates");
    assert_eq!(
        evaluated,
        Value::from_json(r#"{"n": [18, "v18"], "keep": [1]}"#).expect("parses")
    );
    // A value an expression produced is not evaluated again.
    assert_eq!(
        expanded_dynamic(WHOLE, r#"{"x": ["${{ inputs.node }}"]}"#),
        ["x=${{ inputs.node }}"]
    );
}

#[test]
fn a_dynamic_matrix_of_the_wrong_shape_is_an_error() {
    let rows: &[(&str, &str, MatrixError)] = &[
        (
            "an array is no matrix",
            r#"[{"os": "a"}]"#,
            MatrixError::NotAnObject { found: "array" },
        ),
        (
            "a JSON string is no matrix",
            r#""os""#,
            MatrixError::NotAnObject { found: "string" },
        ),
        (
            "an axis that is no array",
            r#"{"os": "a"}"#,
            MatrixError::AxisNotAnArray {
                key: "os".to_owned(),
                found: "string",
            },
        ),
        (
            "include that is no array",
            r#"{"os": ["a"], "include": {"os": "a"}}"#,
            MatrixError::EntriesNotAnArray {
                key: "include",
                found: "object",
            },
        ),
        (
            "an exclude entry that is no object",
            r#"{"os": ["a"], "exclude": [{"os": "a"}, "b"]}"#,
            MatrixError::EntryNotAnObject {
                key: "exclude",
                index: 1,
                found: "string",
            },
        ),
        // GitHub fails the job, it does not skip it, when a matrix yields nothing.
        ("an empty object", "{}", MatrixError::Empty),
        (
            "an empty include list",
            r#"{"include": []}"#,
            MatrixError::Empty,
        ),
        (
            "an empty axis",
            r#"{"os": []}"#,
            MatrixError::EmptyAxis {
                key: "os".to_owned(),
            },
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, output, expected)| {
            let value = Value::from_json(WHOLE).expect("parses");
            let got = expand_dynamic(&value, &dynamic_scope(output)).map(|c| c.len());
            (got.as_ref().err() != Some(expected)).then(|| {
                format!("  {what}\n    output   {output}\n    expected {expected:?}\n    got      {got:?}")
            })
        })
        .collect();
    report(rows.len(), failures);

    // Output that is no JSON fails in `fromJSON`; the error names the expression.
    let value = Value::from_json(WHOLE).expect("parses");
    let error = expand_dynamic(&value, &dynamic_scope("not json")).expect_err("fails");
    assert!(
        matches!(&error, MatrixError::Expression { text, .. } if text.contains("fromJSON")),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "failed to evaluate matrix expression `${{ fromJSON(needs.setup.outputs.matrix) }}`"
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn a_dynamic_matrix_keeps_the_limits() {
    let include_only: Vec<String> = (0..300).map(|n| format!(r#"{{"n": {n}}}"#)).collect();
    let include_only = format!(r#"{{"include": [{}]}}"#, include_only.join(","));
    assert_eq!(
        expanded_dynamic(WHOLE, &include_only),
        [format!(
            "error: {:?}",
            MatrixError::TooManyCombinations { count: 300 }
        )]
    );

    // 2^16 combinations (the largest product allowed) against 1,000 exclude entries would take
    // 2^16 × 1,000 comparisons: refused before any is made.
    let axes: Vec<String> = (0..16).map(|i| format!(r#""k{i}": [0, 1]"#)).collect();
    let excludes: Vec<String> = (0..1000).map(|n| format!(r#"{{"k0": {n}}}"#)).collect();
    let hostile = format!(
        r#"{{{}, "exclude": [{}]}}"#,
        axes.join(","),
        excludes.join(",")
    );
    let started = std::time::Instant::now();
    assert_eq!(
        expanded_dynamic(WHOLE, &hostile),
        [format!(
            "error: {:?}",
            MatrixError::TooManyComparisons {
                product: 65_536,
                values: 1000
            }
        )]
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}
