//! `hashFiles` against real directories: what matches, in which order, and the digest.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

/// Creates the files (`path`, content) below `root`, with their directories.
fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

/// GitHub's digest, computed independently: sha256 over the raw sha256 of each content.
fn expected_digest(contents: &[&str]) -> String {
    if contents.is_empty() {
        return String::new();
    }
    let mut outer = Sha256::new();
    for content in contents {
        outer.update(Sha256::digest(content.as_bytes()));
    }
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hash_in(root: &Path, source: &str) -> Result<Value, ExprError> {
    Expr::parse(source)?.evaluate(&Scope::new().with_workspace(root))
}

/// Each row: files of the workspace, the call, and the contents hashed in order.
type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);

fn check(rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for (what, files, source, hashed) in rows {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), files);
        let want = expected_digest(hashed);
        match hash_in(dir.path(), source) {
            Ok(Value::String(got)) if got == want => {}
            got => failures.push(format!(
                "  {what}: {source}\n    expected {want:?} (contents {hashed:?})\n    got      {got:?}"
            )),
        }
    }
    report(rows.len(), failures);
}

#[test]
fn hash_files_matches_as_github_globs() {
    let lock = "lock";
    check(&[
        (
            "no match is empty",
            &[("a.txt", "a")],
            "hashFiles('*.lock')",
            &[],
        ),
        ("empty workspace is empty", &[], "hashFiles('**')", &[]),
        (
            "one file",
            &[("Cargo.lock", lock)],
            "hashFiles('Cargo.lock')",
            &[lock],
        ),
        (
            "several patterns add up",
            &[("a.lock", "a"), ("b.toml", "b")],
            "hashFiles('*.toml', '*.lock')",
            &["a", "b"],
        ),
        (
            "a file matched twice is hashed once",
            &[("a.lock", "a")],
            "hashFiles('*.lock', 'a.*')",
            &["a"],
        ),
        (
            "** crosses directories, including none",
            &[
                ("package-lock.json", "0"),
                ("web/package-lock.json", "1"),
                ("a/b/c/package-lock.json", "2"),
            ],
            "hashFiles('**/package-lock.json')",
            &["2", "0", "1"],
        ),
        (
            "! excludes",
            &[
                ("app/package-lock.json", "app"),
                ("node_modules/x/package-lock.json", "nm"),
            ],
            "hashFiles('**/package-lock.json', '!node_modules/**')",
            &["app"],
        ),
        (
            "! on a directory excludes what is below it",
            &[("src/a.rs", "a"), ("src/gen/b.rs", "b")],
            "hashFiles('**/*.rs', '!src/gen')",
            &["a"],
        ),
        (
            "a later pattern adds back",
            &[("a/x.txt", "x"), ("a/y.txt", "y")],
            "hashFiles('**', '!a/**', 'a/y.txt')",
            &["y"],
        ),
        (
            "!! is not negated",
            &[("a.txt", "a"), ("b.txt", "b")],
            "hashFiles('a.txt', '!!b.txt')",
            &["a", "b"],
        ),
        (
            "lines of one argument are patterns; blank and # lines skipped",
            &[("a.txt", "a"), ("b.txt", "b"), ("c.txt", "c")],
            "hashFiles(format('a.txt{0}  {0}# c.txt{0} b.txt  ', fromJSON('\"\\n\"')))",
            &["a", "b"],
        ),
        (
            "a directory pattern means everything below it",
            &[("src/a", "a"), ("src/d/b", "b"), ("other", "o")],
            "hashFiles('src')",
            &["a", "b"],
        ),
        (
            "a trailing slash matches directories, so what is below them",
            &[("src/a", "a"), ("srcfile", "f")],
            "hashFiles('src*/')",
            &["a"],
        ),
        (
            "dotfiles and dot directories match * and **",
            &[
                (".env", "env"),
                (".github/ci.yml", "ci"),
                ("x/.hidden", "h"),
            ],
            "hashFiles('**/*')",
            &["env", "ci", "h"],
        ),
        (
            "? and classes match one character",
            &[
                ("a1.txt", "1"),
                ("a2.txt", "2"),
                ("ab.txt", "b"),
                ("a10.txt", "10"),
            ],
            "hashFiles('a?.txt', '![b-z]*', '!a[!0-9].txt', '!a2*')",
            &["1"],
        ),
        (
            "literal patterns are walked one by one, in pattern order",
            &[("a.txt", "a"), ("b.txt", "b")],
            "hashFiles('b.txt', 'a.txt')",
            &["b", "a"],
        ),
        (
            "braces and extglobs are literal",
            &[("a.txt", "a"), ("{a,b}.txt", "brace"), ("+(a).txt", "ext")],
            "hashFiles('{a,b}.txt', '+(a).txt')",
            &["brace", "ext"],
        ),
        (
            "matching is case-sensitive",
            &[("README.md", "r")],
            "hashFiles('readme.md')",
            &[],
        ),
        (
            "./ is the workspace",
            &[("a.txt", "a")],
            "hashFiles('./a.txt')",
            &["a"],
        ),
        (
            "an absolute pattern outside the workspace matches nothing",
            &[("a.txt", "a")],
            "hashFiles('/etc/hostname', '/proc/self/status')",
            &[],
        ),
    ]);
}

#[test]
fn hash_files_walks_depth_first_with_names_in_byte_order() {
    check(&[
        (
            "a directory's entries come before a sibling whose name sorts after it",
            &[
                ("a.txt", "dot"),
                ("a/x", "dir"),
                ("B", "upper"),
                ("b", "lower"),
                ("a-b", "dash"),
            ],
            "hashFiles('**')",
            &["upper", "dir", "dash", "dot", "lower"],
        ),
        (
            "each search root in pattern order",
            &[("a/1", "a"), ("z/1", "z")],
            "hashFiles('z/**', 'a/**')",
            &["z", "a"],
        ),
        (
            "a root below another is walked as part of it",
            &[("a/1", "a"), ("z/1", "z")],
            "hashFiles('z/*', '**/1')",
            &["a", "z"],
        ),
    ]);
}

#[test]
fn hash_files_skips_directories_and_what_links_out_of_the_workspace() {
    let outside = tempfile::tempdir().unwrap();
    write_files(outside.path(), &[("secret", "secret"), ("dir/x", "x")]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_files(root, &[("in.txt", "in"), ("sub/y", "y")]);
    fs::create_dir(root.join("empty.txt")).unwrap();
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
    link(&outside.path().join("secret"), "out.txt").unwrap();
    link(&outside.path().join("dir"), "outdir").unwrap();
    link(&root.join("in.txt"), "alias.txt").unwrap();
    link(&root.join("sub"), "subalias").unwrap();
    link(root, "loop").unwrap();

    let rows = [
        // `alias.txt` (a link to a file inside) is hashed as its target; `empty.txt` is a
        // directory; `out.txt` leads outside.
        ("hashFiles('*.txt')", vec!["in", "in"]),
        // Links to directories are not walked without the option.
        ("hashFiles('**')", vec!["in", "in", "y"]),
        ("hashFiles('outdir/**', 'out.txt')", vec![]),
        (
            "hashFiles('--follow-symbolic-links', '**')",
            vec!["in", "in", "y", "y"],
        ),
        (
            "hashFiles('--FOLLOW-SYMBOLIC-LINKS', 'outdir/**', 'loop/in.txt')",
            vec!["in"],
        ),
    ];
    let mut failures = Vec::new();
    for (source, hashed) in &rows {
        let want = expected_digest(hashed);
        match hash_in(root, source) {
            Ok(Value::String(got)) if got == want => {}
            got => failures.push(format!(
                "  {source}\n    expected {hashed:?}\n    got {got:?}"
            )),
        }
    }
    report(rows.len(), failures);
}

#[test]
fn hash_files_fails_clearly_with_the_span_of_the_call_or_argument() {
    use ErrorKind::*;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "a")]);
    std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("broken.txt")).unwrap();
    let rows: &[(&str, Option<&Path>, Span, &str)] = &[
        ("hashFiles('a.txt')", None, 0..18, "needs a workspace"),
        ("1 && hashFiles('x')", None, 5..19, "needs a workspace"),
        (
            "hashFiles('x')",
            Some(Path::new("/nonexistent/ws")),
            0..14,
            "cannot open the workspace",
        ),
        (
            "hashFiles('a', '!')",
            Some(dir.path()),
            15..18,
            "cannot be empty",
        ),
        (
            "hashFiles('../a.txt')",
            Some(dir.path()),
            10..20,
            "`..` is not allowed",
        ),
        (
            "hashFiles('a/./b')",
            Some(dir.path()),
            10..17,
            "`..` is not allowed",
        ),
        (
            "hashFiles('--nope', 'a')",
            Some(dir.path()),
            10..18,
            "invalid `hashFiles` option",
        ),
        ("hashFiles('*.txt')", Some(dir.path()), 0..18, "broken.txt"),
    ];
    let mut failures = Vec::new();
    for (source, workspace, span, piece) in rows {
        let mut scope = Scope::new();
        if let Some(workspace) = workspace {
            scope = scope.with_workspace(workspace);
        }
        let got = Expr::parse(source).unwrap().evaluate(&scope);
        match &got {
            Err(e) if e.kind == HashFilesFailed && e.span == *span && e.message.contains(piece) => {
            }
            _ => failures.push(format!(
                "  {source}\n    expected {span:?} {piece:?}\n    got {got:?}"
            )),
        }
    }
    report(rows.len(), failures);
}

#[test]
fn hash_files_stops_after_too_many_entries() {
    let dir = tempfile::tempdir().unwrap();
    // Wide directories: 20 × 251 entries is beyond the (unit-test) bound.
    const DIRS: usize = 20;
    const { assert!(DIRS * 251 > crate::workflow::expr::hash_files::MAX_ENTRIES) };
    for d in 0..DIRS {
        let sub = dir.path().join(format!("d{d}"));
        fs::create_dir(&sub).unwrap();
        for f in 0..250 {
            fs::File::create(sub.join(f.to_string())).unwrap();
        }
    }
    let started = std::time::Instant::now();
    let error = hash_in(dir.path(), "hashFiles('**/*.lock')").unwrap_err();
    assert_eq!(error.kind, ErrorKind::HashFilesFailed);
    assert!(error.message.contains("stopped after"), "{error}");
    assert!(started.elapsed().as_secs() < 10);
    // Excluding the wide part with `!` is not walked at all.
    let value = hash_in(dir.path(), "hashFiles('**/*.lock', '!d*')").unwrap();
    assert_eq!(value, Value::String(String::new()));
}
