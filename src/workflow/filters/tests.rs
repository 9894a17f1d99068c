//! Table-driven tests of filter patterns and event filters: each row is input → expected. A
//! failing table reports every failing row at once.

use super::*;

/// Fails with every row whose `got` differs from `expected`.
fn report(rows: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Each row: (pattern, subject, whether the pattern matches it).
fn assert_matches(rows: &[(&str, &str, bool)]) {
    let failures = rows
        .iter()
        .filter_map(|(pattern, subject, expected)| {
            let got = Pattern::parse(pattern).map(|p| p.matches(subject));
            (got != Ok(*expected)).then(|| {
                format!(
                    "  {pattern:?} on {subject:?}\n    expected {expected}\n    got      {got:?}"
                )
            })
        })
        .collect();
    report(rows.len(), failures);
}

/// Each row: (patterns of a `branches`-style list, name, whether the list selects it).
fn assert_lists(rows: &[(&[&str], &str, bool)]) {
    let failures = rows
        .iter()
        .filter_map(|(patterns, subject, expected)| {
            let got = RefFilter::branches(Some(strings(patterns).as_slice()), None)
                .map(|f| f.matches(subject));
            (got != Ok(*expected)).then(|| {
                format!(
                    "  {patterns:?} on {subject:?}\n    expected {expected}\n    got      {got:?}"
                )
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn the_cheat_sheets_branch_and_tag_patterns_match_its_examples() {
    assert_matches(&[
        ("feature/*", "feature/my-branch", true),
        ("feature/*", "feature/your-branch", true),
        ("feature/*", "feature/beta-a/my-branch", false),
        ("feature/*", "feature", false),
        ("feature/**", "feature/beta-a/my-branch", true),
        ("feature/**", "feature/your-branch", true),
        ("feature/**", "feature/mona/the/octocat", true),
        ("feature/**", "features/x", false),
        ("main", "main", true),
        ("main", "main2", false),
        ("main", "Main", false),
        (
            "releases/mona-the-octocat",
            "releases/mona-the-octocat",
            true,
        ),
        ("*", "main", true),
        ("*", "releases", true),
        ("*", "releases/10", false),
        ("**", "all/the/branches", true),
        ("**", "every/tag", true),
        ("*feature", "mona-feature", true),
        ("*feature", "feature", true),
        ("*feature", "ver-10-feature", true),
        ("*feature", "feature-x", false),
        ("v2*", "v2", true),
        ("v2*", "v2.0", true),
        ("v2*", "v2.9", true),
        ("v2*", "v3", false),
        ("v[12].[0-9]+.[0-9]+", "v1.10.1", true),
        ("v[12].[0-9]+.[0-9]+", "v2.0.0", true),
        ("v[12].[0-9]+.[0-9]+", "v3.0.0", false),
        ("v[12].[0-9]+.[0-9]+", "v1..1", false),
        ("v[12].[0-9]+.[0-9]+", "v1.1.1-rc", false),
        // The branch examples of `on.push`: `releases/**` and `v1.*`.
        ("releases/**", "releases/10", true),
        ("releases/**", "releases/beta/mona", true),
        ("releases/**-alpha", "releases/beta/3-alpha", true),
        ("v1.*", "v1.9.1", true),
        ("v1.*", "v1", false),
    ]);
}

#[test]
fn the_cheat_sheets_path_patterns_match_its_examples() {
    assert_matches(&[
        ("*", "README.md", true),
        ("*", "server.rb", true),
        ("*", "docs/README.md", false),
        ("*.jsx?", "page.js", true),
        ("*.jsx?", "page.jsx", true),
        ("*.jsx?", "page.jsxx", false),
        ("**", "all/the/files.md", true),
        ("*.js", "app.js", true),
        ("*.js", "index.js", true),
        ("*.js", "js/index.js", false),
        ("**.js", "index.js", true),
        ("**.js", "js/index.js", true),
        ("**.js", "src/js/app.js", true),
        ("**.js", "src/js/app.jsx", false),
        ("docs/*", "docs/README.md", true),
        ("docs/*", "docs/file.txt", true),
        ("docs/*", "docs/mona/octocat.txt", false),
        ("docs/**", "docs/README.md", true),
        ("docs/**", "docs/mona/octocat.txt", true),
        ("docs/**", "README.md", false),
        ("docs/**/*.md", "docs/README.md", true),
        ("docs/**/*.md", "docs/mona/hello-world.md", true),
        ("docs/**/*.md", "docs/a/markdown/file.md", true),
        ("docs/**/*.md", "docs/a/markdown/file.txt", false),
        ("**/docs/**", "docs/hello.md", true),
        ("**/docs/**", "dir/docs/my-file.txt", true),
        ("**/docs/**", "space/docs/plan/space.doc", true),
        ("**/docs/**", "mydocs/x", false),
        ("**/README.md", "README.md", true),
        ("**/README.md", "js/README.md", true),
        ("**/README.md", "js/NOT-README.md", false),
        ("**/*src/**", "a/src/app.js", true),
        ("**/*src/**", "my-src/code/js/app.js", true),
        ("**/*src/**", "source/app.js", false),
        ("**/*-post.md", "my-post.md", true),
        ("**/*-post.md", "path/their-post.md", true),
        ("**/migrate-*.sql", "migrate-10909.sql", true),
        ("**/migrate-*.sql", "db/migrate-v1.0.sql", true),
        ("**/migrate-*.sql", "db/sept/migrate-v1.sql", true),
        ("**/migrate-*.sql", "db/migrate/v1.sql", false),
        // The `paths` examples of `on.push`.
        ("sub-project/**", "sub-project/src/index.js", true),
        ("sub-project/docs/**", "sub-project/docs/readme.md", true),
    ]);
}

#[test]
fn the_special_characters_behave_as_documented() {
    assert_matches(&[
        // `*` never crosses `/`; `**` does, and may match nothing.
        ("a*b", "ab", true),
        ("a*b", "axxb", true),
        ("a*b", "a/b", false),
        ("a**b", "a/x/b", true),
        ("a**b", "ab", true),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a//b", false),
        ("**/b", "/b", false),
        ("***", "a/b", true),
        // `?` and `+` apply to the preceding character or class.
        ("Octoc?t", "Octoct", true),
        ("Octoc?t", "Octocct", false),
        ("Octoc?at", "Octoat", true),
        ("Octoc?at", "Octocat", true),
        ("ab+c", "abbbc", true),
        ("ab+c", "ac", false),
        ("v[0-9]?", "v", true),
        ("v[0-9]?", "v7", true),
        ("v[0-9]?", "v77", false),
        ("[CB]at", "Cat", true),
        ("[CB]at", "Bat", true),
        ("[CB]at", "cat", false),
        ("[1-2]00", "100", true),
        ("[1-2]00", "200", true),
        ("[1-2]00", "300", false),
        ("[0-9a-z]", "q", true),
        ("[0-9a-z]", "Q", false),
        ("[A-z]", "_", true),
        // At the start, `?` and `+` are literal; after a wildcard `?` changes nothing.
        ("?a", "?a", true),
        ("+a", "+a", true),
        ("*?", "abc", true),
        ("**?", "a/b", true),
        // `\` makes the next character literal.
        ("\\!file", "!file", true),
        ("v1\\*", "v1*", true),
        ("v1\\*", "v10", false),
        ("a\\?", "a?", true),
        ("a\\?", "a", false),
        ("a\\+", "a+", true),
        ("\\[x]", "[x]", true),
        ("escape\\\\backslash", "escape\\backslash", true),
        // Other characters are literal, `.` included; `!` is special only first.
        (".yml", "fyml", false),
        (".yml", ".yml", true),
        ("a!b", "a!b", true),
        ("a]b", "a]b", true),
        ("ü*", "über/x", false),
        ("ü*", "über", true),
        ("", "", true),
        ("", "a", false),
    ]);
}

#[test]
fn a_negative_pattern_matches_like_its_positive_and_says_so() {
    let pattern = Pattern::parse("!docs/**").expect("parses");
    assert!(pattern.is_negated());
    assert!(pattern.matches("docs/a.md"));
    assert_eq!(pattern.as_str(), "!docs/**");
    assert!(!Pattern::parse("docs/**").expect("parses").is_negated());
}

#[test]
fn invalid_patterns_are_errors_pointing_at_the_problem() {
    let rows: &[(&str, usize, &str)] = &[
        ("v[]", 1, "empty brackets `[]`"),
        ("v[0-9", 1, "missing `]` after `[`"),
        ("[", 0, "missing `]` after `[`"),
        ("![a", 1, "missing `]` after `[`"),
        (
            "v[9-0]",
            2,
            "a range may only span 0-9, a-z, A-Z (or A-z), low end first",
        ),
        (
            "v[0-z]",
            2,
            "a range may only span 0-9, a-z, A-Z (or A-z), low end first",
        ),
        ("[-a]", 1, "`-` must stand between the two ends of a range"),
        ("[a-]", 2, "`-` must stand between the two ends of a range"),
        ("[._]", 1, "brackets may only list letters and digits"),
        ("a\\", 1, "`\\` must be followed by a character"),
        ("*+", 1, "`+` must follow a character or a class"),
        ("a++", 2, "`+` must follow a character or a class"),
        ("a?+", 2, "`+` must follow a character or a class"),
    ];
    let failures = rows
        .iter()
        .filter_map(|(pattern, offset, reason)| {
            let expected = Err(FilterError::InvalidPattern {
                pattern: (*pattern).to_owned(),
                offset: *offset,
                reason,
            });
            let got = Pattern::parse(pattern).map(|_| ());
            (got != expected)
                .then(|| format!("  {pattern:?}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);
    assert_eq!(
        Pattern::parse("v[]").unwrap_err().to_string(),
        "invalid filter pattern `v[]`: empty brackets `[]` (at byte 1)"
    );
    assert!(RefFilter::tags(Some(strings(&["v1", "v["]).as_slice()), None).is_err());
    assert!(PathFilter::new(None, Some(strings(&["a\\"]).as_slice())).is_err());
}

#[test]
fn later_patterns_override_earlier_ones() {
    assert_lists(&[
        // The cheat sheet: `'*.md'`, `'!README.md'`.
        (&["*.md", "!README.md"], "hello.md", true),
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "docs/hello.md", false),
        // The cheat sheet: `'*.md'`, `'!README.md'`, `README*`.
        (&["*.md", "!README.md", "README*"], "hello.md", true),
        (&["*.md", "!README.md", "README*"], "README.md", true),
        (&["*.md", "!README.md", "README*"], "README.doc", true),
        // `on.push`: `releases/**`, `!releases/**-alpha`.
        (&["releases/**", "!releases/**-alpha"], "releases/10", true),
        (
            &["releases/**", "!releases/**-alpha"],
            "releases/beta/mona",
            true,
        ),
        (
            &["releases/**", "!releases/**-alpha"],
            "releases/10-alpha",
            false,
        ),
        (
            &["releases/**", "!releases/**-alpha"],
            "releases/beta/3-alpha",
            false,
        ),
        // A negative pattern before the positive one has nothing to undo.
        (
            &["!releases/**-alpha", "releases/**"],
            "releases/10-alpha",
            true,
        ),
        // Negative patterns alone select nothing.
        (&["!main"], "main", false),
        (&["!main"], "dev", false),
        // No pattern, nothing selected.
        (&[], "main", false),
    ]);
}

#[test]
fn ignore_lists_rule_out_what_they_select() {
    let rows: &[(&[&str], &str, bool)] = &[
        (
            &["mona/octocat", "releases/**-alpha"],
            "mona/octocat",
            false,
        ),
        (
            &["mona/octocat", "releases/**-alpha"],
            "releases/beta/3-alpha",
            false,
        ),
        (&["mona/octocat", "releases/**-alpha"], "main", true),
        // Negation works the same way inside an ignore list.
        (&["docs/**", "!docs/keep"], "docs/keep", true),
        (&["docs/**", "!docs/keep"], "docs/other", false),
        (&[], "main", true),
    ];
    let failures = rows
        .iter()
        .filter_map(|(patterns, name, expected)| {
            let got = RefFilter::branches(None, Some(strings(patterns).as_slice()))
                .map(|f| f.matches(name));
            (got != Ok(*expected)).then(|| {
                format!("  {patterns:?} on {name:?}\n    expected {expected}\n    got      {got:?}")
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn an_including_key_and_its_ignoring_key_cannot_both_be_set() {
    let some = strings(&["main"]);
    let rows = [
        (
            RefFilter::branches(Some(some.as_slice()), Some(some.as_slice())).err(),
            ("branches", "branches-ignore"),
        ),
        (
            RefFilter::tags(Some(some.as_slice()), Some(some.as_slice())).err(),
            ("tags", "tags-ignore"),
        ),
        (
            PathFilter::new(Some(some.as_slice()), Some(some.as_slice())).err(),
            ("paths", "paths-ignore"),
        ),
        (
            // Even empty lists count as set.
            PathFilter::new(Some(&[][..]), Some(&[][..])).err(),
            ("paths", "paths-ignore"),
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(got, (include, ignore))| {
            let expected = Some(FilterError::ConflictingKeys { include, ignore });
            (*got != expected).then(|| format!("  expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);
    assert_eq!(
        RefFilter::branches(Some(some.as_slice()), Some(some.as_slice()))
            .unwrap_err()
            .to_string(),
        "`branches` and `branches-ignore` cannot both be used for the same event"
    );
}

/// (what the row shows, branch filter, tag filter, pushed ref, whether it triggers)
type PushRow<'a> = (
    &'a str,
    Option<&'a RefFilter>,
    Option<&'a RefFilter>,
    &'a str,
    bool,
);

#[test]
fn a_push_triggers_only_for_the_kinds_of_ref_that_are_filtered() {
    let branches =
        |include: &[&str]| RefFilter::branches(Some(strings(include).as_slice()), None).unwrap();
    let branches_ignore =
        |ignore: &[&str]| RefFilter::branches(None, Some(strings(ignore).as_slice())).unwrap();
    let tags = |include: &[&str]| RefFilter::tags(Some(strings(include).as_slice()), None).unwrap();
    let tags_ignore =
        |ignore: &[&str]| RefFilter::tags(None, Some(strings(ignore).as_slice())).unwrap();
    let none = RefFilter::branches(None, None).unwrap();

    let main = branches(&["main"]);
    let not_wip = branches_ignore(&["wip/**"]);
    let v = tags(&["v*"]);
    let not_nightly = tags_ignore(&["nightly*"]);

    let rows: &[PushRow] = &[
        (
            "no filters: branches run",
            None,
            None,
            "refs/heads/dev",
            true,
        ),
        ("no filters: tags run", None, None, "refs/tags/v1", true),
        (
            "unconfigured filters count as none",
            Some(&none),
            None,
            "refs/tags/v1",
            true,
        ),
        (
            "branches only: a matching branch runs",
            Some(&main),
            None,
            "refs/heads/main",
            true,
        ),
        (
            "branches only: another branch does not",
            Some(&main),
            None,
            "refs/heads/dev",
            false,
        ),
        (
            "branches only: a tag does not",
            Some(&main),
            None,
            "refs/tags/v1",
            false,
        ),
        (
            "branches-ignore only: a tag does not",
            Some(&not_wip),
            None,
            "refs/tags/v1",
            false,
        ),
        (
            "branches-ignore only: other branches run",
            Some(&not_wip),
            None,
            "refs/heads/dev",
            true,
        ),
        (
            "branches-ignore only: ignored ones do not",
            Some(&not_wip),
            None,
            "refs/heads/wip/x",
            false,
        ),
        (
            "tags only: a matching tag runs",
            None,
            Some(&v),
            "refs/tags/v1.2",
            true,
        ),
        (
            "tags only: another tag does not",
            None,
            Some(&v),
            "refs/tags/release",
            false,
        ),
        (
            "tags only: a branch does not",
            None,
            Some(&v),
            "refs/heads/main",
            false,
        ),
        (
            "tags-ignore only: a branch does not",
            None,
            Some(&not_nightly),
            "refs/heads/main",
            false,
        ),
        (
            "tags-ignore only: other tags run",
            None,
            Some(&not_nightly),
            "refs/tags/v1",
            true,
        ),
        (
            "both: a matching branch runs",
            Some(&main),
            Some(&v),
            "refs/heads/main",
            true,
        ),
        (
            "both: a matching tag runs",
            Some(&main),
            Some(&v),
            "refs/tags/v2",
            true,
        ),
        (
            "both: other branches do not",
            Some(&main),
            Some(&v),
            "refs/heads/dev",
            false,
        ),
        (
            "both: other tags do not",
            Some(&main),
            Some(&v),
            "refs/tags/x",
            false,
        ),
        (
            "branch names keep their slashes",
            Some(&branches(&["releases/**"])),
            None,
            "refs/heads/releases/v1/rc",
            true,
        ),
        (
            "other refs run only without filters",
            None,
            None,
            "refs/pull/1/merge",
            true,
        ),
        (
            "other refs do not run with filters",
            Some(&main),
            None,
            "refs/pull/1/merge",
            false,
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, branches, tags, git_ref, expected)| {
            let got = push_matches(*branches, *tags, git_ref);
            (got != *expected).then(|| {
                format!("  {what}: {git_ref}\n    expected {expected}\n    got      {got}")
            })
        })
        .collect();
    report(rows.len(), failures);
}

#[test]
fn paths_need_one_selected_path_and_paths_ignore_one_path_not_ignored() {
    let paths =
        |patterns: &[&str]| PathFilter::new(Some(strings(patterns).as_slice()), None).unwrap();
    let ignore =
        |patterns: &[&str]| PathFilter::new(None, Some(strings(patterns).as_slice())).unwrap();
    let js = paths(&["**.js"]);
    let sub_project = paths(&["sub-project/**", "!sub-project/docs/**"]);
    let docs_ignored = ignore(&["docs/**"]);
    let none = PathFilter::new(None, None).unwrap();

    let rows: &[(&str, &PathFilter, &[&str], bool)] = &[
        (
            "paths: one JavaScript file among others",
            &js,
            &["README.md", "src/app.js"],
            true,
        ),
        (
            "paths: no JavaScript file",
            &js,
            &["README.md", "src/app.ts"],
            false,
        ),
        (
            "paths with `!`: a file in the project",
            &sub_project,
            &["sub-project/index.js"],
            true,
        ),
        (
            "paths with `!`: a nested file in the project",
            &sub_project,
            &["sub-project/src/index.js"],
            true,
        ),
        (
            "paths with `!`: only project docs",
            &sub_project,
            &["sub-project/docs/readme.md"],
            false,
        ),
        (
            "paths with `!`: docs and one source file",
            &sub_project,
            &[
                "sub-project/docs/readme.md",
                "sub-project/docs/b.md",
                "sub-project/lib.rs",
            ],
            true,
        ),
        (
            "paths with `!`: nothing in the project",
            &sub_project,
            &["other/x"],
            false,
        ),
        (
            "paths-ignore: only ignored files",
            &docs_ignored,
            &["docs/a.md", "docs/b/c.md"],
            false,
        ),
        (
            "paths-ignore: one file outside",
            &docs_ignored,
            &["docs/a.md", "README.md"],
            true,
        ),
        (
            "paths-ignore: nothing ignored",
            &docs_ignored,
            &["src/a.rs", "src/b.rs"],
            true,
        ),
        ("paths: no changed file, no run", &js, &[], false),
        (
            "paths-ignore: no changed file, no run",
            &docs_ignored,
            &[],
            false,
        ),
        ("no path filter: always runs", &none, &[], true),
        (
            "no path filter: always runs with changes",
            &none,
            &["a"],
            true,
        ),
    ];
    let failures = rows
        .iter()
        .filter_map(|(what, filter, changed, expected)| {
            let got = filter.matches_any(changed);
            (got != *expected).then(|| {
                format!("  {what}: {changed:?}\n    expected {expected}\n    got      {got}")
            })
        })
        .collect();
    report(rows.len(), failures);
    assert!(js.is_configured() && docs_ignored.is_configured() && !none.is_configured());
}

#[test]
fn activity_types_must_be_listed_when_types_is_given() {
    let listed = strings(&["opened", "labeled"]);
    let rows: &[(Option<&[String]>, &str, bool)] = &[
        (None, "closed", true),
        (Some(listed.as_slice()), "opened", true),
        (Some(listed.as_slice()), "labeled", true),
        (Some(listed.as_slice()), "closed", false),
        (Some(listed.as_slice()), "Opened", false),
        (Some(&[][..]), "opened", false),
    ];
    let failures = rows
        .iter()
        .filter_map(|(allowed, activity, expected)| {
            let got = types_match(*allowed, activity);
            (got != *expected).then(|| {
                format!("  {allowed:?} / {activity}\n    expected {expected}\n    got      {got}")
            })
        })
        .collect();
    report(rows.len(), failures);

    let defaults = default_activity_types("pull_request").expect("pull_request has defaults");
    let defaults: Vec<String> = defaults.iter().map(|s| (*s).to_owned()).collect();
    assert!(types_match(Some(defaults.as_slice()), "synchronize"));
    assert!(!types_match(Some(defaults.as_slice()), "closed"));
    assert_eq!(
        default_activity_types("pull_request_target"),
        default_activity_types("pull_request")
    );
    assert_eq!(default_activity_types("issues"), None);
}
