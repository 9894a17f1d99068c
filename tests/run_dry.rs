//! `sandpit run -n` and `-l` in a real git repository: which workflows an event triggers for
//! the checked-out branch or tag, a payload and the changed files; `-j` and `--matrix`; the
//! `--json` document; exit codes; a directory that is not a git repository.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The sandpit binary under test.
const SANDPIT: &str = env!("CARGO_BIN_EXE_sandpit");

const CI: &str = "\
name: CI
on:
  push:
    branches: [main]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: make lint
  test:
    needs: lint
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
        node: [18, 20]
    steps:
      - run: npm test
  package:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: make package
  docs-check:
    runs-on: ubuntu-latest
    steps:
      - run: make docs
";

const RELEASE: &str = "\
name: Release
on:
  push:
    tags: ['v*']
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - run: make publish
";

const PR: &str = "\
name: PR
on:
  pull_request:
    branches: [main]
    types: [opened, labeled]
    paths: ['src/**']
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: make check
";

const MANUAL: &str = "\
name: Manual
on:
  workflow_dispatch:
    inputs:
      level:
        default: info
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ inputs.level }}
";

const DOCS: &str = "\
name: Docs
on:
  push:
    paths: ['docs/**']
jobs:
  site:
    runs-on: ubuntu-latest
    steps:
      - run: make site
";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The part of the human output for the workflow titled `name`: from its title line to
    /// the next workflow's.
    fn block(&self, name: &str) -> String {
        let is_title = |line: &str| line.ends_with(".yml)") && line.contains("  (");
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .skip_while(|line| !line.starts_with(&format!("{name}  (")))
            .collect();
        assert!(
            !lines.is_empty(),
            "no block for {name} in:\n{}",
            self.stdout
        );
        let end = lines[1..]
            .iter()
            .position(|line| is_title(line))
            .map_or(lines.len(), |i| i + 1);
        lines[..end].join("\n")
    }
}

fn sandpit(cwd: &Path, args: &[&str]) -> Run {
    let output = Command::new(SANDPIT)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run sandpit {args:?}: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(status.success(), "git {args:?} failed");
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn write_workflows(dir: &Path) {
    for (file, text) in [
        ("ci.yml", CI),
        ("release.yml", RELEASE),
        ("pr.yml", PR),
        ("manual.yml", MANUAL),
        ("docs.yml", DOCS),
    ] {
        write(dir, &format!(".github/workflows/{file}"), text);
    }
}

/// A repository: `main` (last commit changes src/lib.rs) tagged `v1.0`; `feature` (changes
/// docs/guide.md) and `fix` (changes src/lib.rs) branch off it. `main` is checked out.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    write_workflows(d);
    write(d, "README.md", "hello\n");
    write(d, "src/lib.rs", "// 1\n");
    write(d, "docs/guide.md", "guide\n");
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "first"]);
    write(d, "src/lib.rs", "// 2\n");
    git(d, &["commit", "-q", "-am", "second"]);
    git(d, &["tag", "v1.0"]);
    git(d, &["checkout", "-q", "-b", "feature"]);
    write(d, "docs/guide.md", "guide 2\n");
    git(d, &["commit", "-q", "-am", "docs"]);
    git(d, &["checkout", "-q", "-b", "fix", "main"]);
    write(d, "src/lib.rs", "// 3\n");
    git(d, &["commit", "-q", "-am", "fix"]);
    git(d, &["checkout", "-q", "main"]);
    dir
}

fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

#[test]
fn push_on_main_triggers_the_branch_workflow_only() {
    let repo = repo();
    let run = sandpit(repo.path(), &["run", "-n"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let ci = run.block("CI");
    assert!(ci.contains("triggered by push"), "{ci}");
    assert!(ci.contains("[test] test (ubuntu-latest, 18)"), "{ci}");
    assert!(run.block("Release").contains(
        "not triggered: `push` filters only tags, so a push of branch `main` does not trigger"
    ));
    assert!(run.block("Docs").contains(
        "not triggered: none of the 1 changed file matches the `paths` filter of `push`"
    ));
    assert!(run
        .block("PR")
        .contains("not triggered: `push` is not among its events (on: pull_request)"));
    assert!(
        run.stderr.contains("1 of 5 workflows triggered by push"),
        "{}",
        run.stderr
    );
}

#[test]
fn push_on_a_feature_branch_and_on_a_tag() {
    let repo = repo();
    let dir = dir_arg(&repo);
    git(repo.path(), &["checkout", "-q", "feature"]);
    let run = sandpit(Path::new("/"), &["run", "push", "-n", "-C", &dir]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run
        .block("CI")
        .contains("not triggered: branch `feature` does not pass the `branches` filter of `push`"));
    assert!(run.block("Docs").contains("triggered by push"));

    git(repo.path(), &["checkout", "-q", "v1.0"]);
    let run = sandpit(Path::new("/"), &["run", "-n", "-C", &dir]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.block("Release").contains("triggered by push"));
    assert!(run
        .block("CI")
        .contains("filters only branches, so a push of tag `v1.0`"));
    // Path filters are not evaluated for tag pushes.
    assert!(run.block("Docs").contains("triggered by push"));

    // The payload's ref wins over the checkout.
    write(repo.path(), "event.json", r#"{"ref": "refs/heads/main"}"#);
    let run = sandpit(
        Path::new("/"),
        &["run", "-n", "-C", &dir, "-e", "event.json"],
    );
    assert!(
        run.block("CI").contains("triggered by push"),
        "{}",
        run.stdout
    );
}

#[test]
fn pull_request_payloads_select_base_branch_and_activity() {
    let repo = repo();
    let dir = dir_arg(&repo);
    git(repo.path(), &["checkout", "-q", "fix"]);
    // The payload lives outside the repository, so it is no uncommitted change.
    let payloads = tempfile::tempdir().unwrap();
    let pr = |base: &str, action: &str| {
        let payload =
            format!(r#"{{"action": "{action}", "pull_request": {{"base": {{"ref": "{base}"}}}}}}"#);
        std::fs::write(payloads.path().join("pr-event.json"), payload).unwrap();
        let path = payloads.path().join("pr-event.json").display().to_string();
        sandpit(
            Path::new("/"),
            &["run", "pull_request", "-n", "-C", &dir, "-e", &path],
        )
    };
    let run = pr("main", "labeled");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.block("PR").contains("triggered by pull_request"),
        "{}",
        run.stdout
    );
    assert!(pr("main", "closed").block("PR").contains(
        "not triggered: activity type `closed` is not among the listed types of `pull_request` (opened, labeled)"
    ));
    assert!(pr("dev", "opened")
        .block("PR")
        .contains("not triggered: base branch `dev` does not pass the `branches` filter"));

    // The feature branch changed only docs: the paths filter rules it out.
    git(repo.path(), &["checkout", "-q", "feature"]);
    let run = pr("main", "opened");
    assert!(run.block("PR").contains(
        "not triggered: none of the 1 changed file matches the `paths` filter of `pull_request`"
    ));
}

#[test]
fn uncommitted_changes_count_as_changed_paths() {
    let repo = repo();
    git(repo.path(), &["checkout", "-q", "fix"]);
    let run = sandpit(repo.path(), &["run", "-n"]);
    assert!(run.block("Docs").contains("not triggered"));
    write(repo.path(), "docs/new.md", "new\n");
    let run = sandpit(repo.path(), &["run", "-n", "--json"]);
    let doc = run.json();
    let changed = doc["changed_paths"].as_array().unwrap();
    assert!(changed.contains(&Value::from("docs/new.md")), "{changed:?}");
    assert!(changed.contains(&Value::from("src/lib.rs")), "{changed:?}");
    let triggered: Vec<&str> = doc["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(triggered, ["Docs"]);
}

#[test]
fn job_and_matrix_restrict_the_plan() {
    let repo = repo();
    let ids = |args: &[&str]| -> Vec<(String, String)> {
        let mut all = vec!["run", "-n", "--json"];
        all.extend_from_slice(args);
        let run = sandpit(repo.path(), &all);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        run.json()["workflows"][0]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["id"].as_str().unwrap().to_string(),
                    j["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // -j keeps the job and what it needs, transitively.
    let jobs = ids(&["-j", "package"]);
    let job_ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(job_ids, ["lint", "test", "test", "test", "test", "package"]);
    let jobs = ids(&["-j", "lint"]);
    assert_eq!(jobs, [("lint".to_string(), "lint".to_string())]);
    let jobs = ids(&["-j", "test", "--matrix", "os:macos-latest"]);
    let names: Vec<&str> = jobs.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        names,
        ["lint", "test (macos-latest, 18)", "test (macos-latest, 20)"]
    );
    let jobs = ids(&["--matrix", "os:ubuntu-latest", "--matrix", "node:20"]);
    let names: Vec<&str> = jobs.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        names,
        ["lint", "docs-check", "test (ubuntu-latest, 20)", "package"]
    );

    let run = sandpit(repo.path(), &["run", "-n", "-j", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("error: no workflow has a job `nope`"),
        "{}",
        run.stderr
    );
}

#[test]
fn list_prints_one_line_per_job_instance() {
    let repo = repo();
    let run = sandpit(repo.path(), &["run", "-l"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["STAGE", "JOB ID", "JOB NAME", "WORKFLOW FILE", "EVENTS"]
    );
    assert_eq!(lines.len(), 1 + 7, "{}", run.stdout);
    assert_eq!(
        lines[1],
        ["0", "lint", "lint", ".github/workflows/ci.yml", "push"]
    );
    assert_eq!(
        lines[3],
        [
            "1",
            "test",
            "test (ubuntu-latest, 18)",
            ".github/workflows/ci.yml",
            "push"
        ]
    );
    assert_eq!(
        lines[7],
        [
            "2",
            "package",
            "package",
            ".github/workflows/ci.yml",
            "push"
        ]
    );
}

#[test]
fn json_lists_triggered_plans_and_not_triggered_reasons() {
    let repo = repo();
    let run = sandpit(
        repo.path(),
        &[
            "run",
            "workflow_dispatch",
            "-n",
            "--json",
            "--input",
            "level=debug",
            "--var",
            "X=1",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["event"], "workflow_dispatch");
    assert_eq!(doc["ref"], "refs/heads/main");
    assert_eq!(doc["payload"]["inputs"]["level"], "debug");
    assert_eq!(doc["vars"]["X"], "1");
    let workflows = doc["workflows"].as_array().unwrap();
    assert_eq!(workflows.len(), 1);
    assert_eq!(workflows[0]["path"], ".github/workflows/manual.yml");
    assert_eq!(workflows[0]["jobs"][0]["id"], "go");
    assert_eq!(workflows[0]["notes"], serde_json::json!([]));
    let not = doc["not_triggered"].as_array().unwrap();
    assert_eq!(not.len(), 4);
    assert_eq!(not[0]["path"], ".github/workflows/ci.yml");
    assert_eq!(not[0]["events"], serde_json::json!(["push"]));
    assert_eq!(
        not[0]["reason"],
        "`workflow_dispatch` is not among its events (on: push)"
    );
}

#[test]
fn bad_payloads_and_invalid_workflows_exit_2() {
    let repo = repo();
    write(repo.path(), "bad.json", "{ not json");
    let run = sandpit(repo.path(), &["run", "-n", "-e", "bad.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: the event payload bad.json is not valid JSON"),
        "{}",
        run.stderr
    );

    write(
        repo.path(),
        ".github/workflows/broken.yml",
        "on: push\njobs:\n  x:\n    steps: []\n",
    );
    let run = sandpit(repo.path(), &["run", "-n"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("broken.yml"), "{}", run.stderr);
}

#[test]
fn a_directory_that_is_not_a_git_repository_works_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write_workflows(dir.path());
    let run = sandpit(dir.path(), &["run", "-n", "-W", ".github/workflows"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("is not a git repository"),
        "{}",
        run.stderr
    );
    assert!(run.block("CI").contains(
        "not triggered: `push` has branches/tags filters but the branch or tag is unknown"
    ));
    // No ref filters, changed files unknown: path filters pass, with a note.
    let docs = run.block("Docs");
    assert!(
        docs.contains("triggered by push\nnote: paths not checked: changed files unknown"),
        "{docs}"
    );

    write(dir.path(), "event.json", r#"{"ref": "refs/heads/main"}"#);
    let run = sandpit(dir.path(), &["run", "-n", "-e", "event.json"]);
    assert!(run.block("CI").contains("triggered by push"));
}
