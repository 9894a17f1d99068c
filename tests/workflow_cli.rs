//! `sandpit validate` and `sandpit plan` as a user runs them: the corpus of workflows in the
//! shapes real projects use, the rendered diagnostic of each error class (snapshots), hostile
//! input, and exit codes.
//!
//! Snapshots hold the exit status, stdout and stderr, with the temporary directory redacted
//! as `[TMP]`. Review changes with `cargo insta review`, or rerun with `INSTA_UPDATE=always`
//! and read the diff.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The sandpit binary under test.
const SANDPIT: &str = env!("CARGO_BIN_EXE_sandpit");

/// Far above a second: a run that takes this long is hung, not slow.
const HANG: Duration = Duration::from_secs(10);

/// One finished run of sandpit.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    /// The whole run as a snapshot: status, stdout, stderr, with `dir` shown as `[TMP]`.
    fn snapshot(&self, dir: &Path) -> String {
        let text = format!(
            "status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        );
        text.replace(&dir.display().to_string(), "[TMP]")
    }
}

/// Runs `sandpit ARGS` in `cwd` with colour off and stdin closed.
fn sandpit(cwd: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let output = Command::new(SANDPIT)
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run sandpit {args:?}: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// A temporary directory holding `ci.yml` with `source`.
fn workflow(source: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    std::fs::write(dir.path().join("ci.yml"), source).expect("write ci.yml");
    dir
}

/// `sandpit validate ci.yml` on `source`, as a snapshot.
fn validate_snapshot(source: &str) -> String {
    let dir = workflow(source.as_bytes());
    sandpit(dir.path(), &["validate", "ci.yml"]).snapshot(dir.path())
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows/corpus")
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// One row of `EXPECTED.tsv`.
struct Expected {
    file: String,
    jobs: usize,
    dynamic: Vec<String>,
}

fn expected_rows() -> Vec<Expected> {
    let table = std::fs::read_to_string(corpus_dir().join("EXPECTED.tsv"))
        .expect("read the corpus's EXPECTED.tsv");
    table
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() >= 4, "EXPECTED.tsv: short row {line:?}");
            assert_eq!(
                fields[1], "yes",
                "EXPECTED.tsv: {} is not valid?",
                fields[0]
            );
            Expected {
                file: fields[0].to_owned(),
                jobs: fields[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("EXPECTED.tsv: job count of {line:?}")),
                dynamic: match fields[3] {
                    "-" => Vec::new(),
                    ids => ids.split(',').map(|id| id.trim().to_owned()).collect(),
                },
            }
        })
        .collect()
}

#[test]
fn every_corpus_workflow_validates_and_plans_to_its_hand_counted_jobs() {
    let dir = corpus_dir();
    let rows = expected_rows();
    let mut problems = Vec::new();

    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("list the corpus")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = rows.iter().map(|row| row.file.clone()).collect();
    listed.sort();
    if on_disk != listed {
        problems.push(format!(
            "EXPECTED.tsv and the corpus differ:\n  only on disk: {:?}\n  only in EXPECTED.tsv: {:?}",
            on_disk.iter().filter(|f| !listed.contains(f)).collect::<Vec<_>>(),
            listed.iter().filter(|f| !on_disk.contains(f)).collect::<Vec<_>>(),
        ));
    }
    assert!(rows.len() >= 30, "the corpus has {} workflows", rows.len());

    for row in &rows {
        let validate = sandpit(&dir, &["validate", &row.file]);
        if validate.code != 0 {
            problems.push(format!(
                "{}: `sandpit validate` exited {}:\n{}",
                row.file, validate.code, validate.stderr
            ));
            continue;
        }
        let plan = sandpit(&dir, &["plan", &row.file, "--json"]);
        if plan.code != 0 {
            problems.push(format!(
                "{}: `sandpit plan --json` exited {}:\n{}",
                row.file, plan.code, plan.stderr
            ));
            continue;
        }
        let json: serde_json::Value = match serde_json::from_str(&plan.stdout) {
            Ok(json) => json,
            Err(e) => {
                problems.push(format!("{}: the plan is not JSON ({e})", row.file));
                continue;
            }
        };
        let jobs = json["workflows"][0]["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ids: Vec<String> = jobs
            .iter()
            .map(|job| job["id"].as_str().unwrap_or("?").to_owned())
            .collect();
        let dynamic: Vec<String> = jobs
            .iter()
            .filter(|job| job["dynamic"] == true)
            .map(|job| job["id"].as_str().unwrap_or("?").to_owned())
            .collect();
        if jobs.len() != row.jobs {
            problems.push(format!(
                "{}: expected {} job entries, the plan has {}: {ids:?}",
                row.file,
                row.jobs,
                jobs.len()
            ));
        }
        if dynamic != row.dynamic {
            problems.push(format!(
                "{}: expected dynamic jobs {:?}, the plan has {dynamic:?}",
                row.file, row.dynamic
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} corpus problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn the_whole_corpus_directory_validates_with_warnings_only() {
    let dir = corpus_dir();
    let run = sandpit(&dir, &["validate", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.stderr.lines().last().unwrap_or_default();
    let expected = format!("{} workflows checked: 0 errors, ", expected_rows().len());
    assert!(summary.starts_with(&expected), "summary: {summary:?}");
    assert!(run.stderr.contains(": warning: "), "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "validate prints no data: {}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: one snapshot per error class

#[test]
fn an_unknown_key_is_reported_with_the_closest_known_key() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    stpes:
      - run: make
"
    ));
}

#[test]
fn a_value_of_the_wrong_type_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: soon
    steps:
      - run: make
"
    ));
}

#[test]
fn a_bad_job_id_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  1st-build:
    runs-on: ubuntu-latest
    steps:
      - run: make
"
    ));
}

#[test]
fn needs_naming_an_unknown_job_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  test:
    needs: [biuld]
    runs-on: ubuntu-latest
    steps:
      - run: make test
"
    ));
}

#[test]
fn a_needs_cycle_is_reported_with_the_cycle_named() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  a:
    needs: c
    runs-on: ubuntu-latest
    steps: [{run: make}]
  b:
    needs: a
    runs-on: ubuntu-latest
    steps: [{run: make}]
  c:
    needs: [b]
    runs-on: ubuntu-latest
    steps: [{run: make}]
"
    ));
}

#[test]
fn a_job_without_runs_on_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    steps:
      - run: make
"
    ));
}

#[test]
fn a_job_without_steps_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
"
    ));
}

#[test]
fn a_step_with_both_run_and_uses_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        run: make
"
    ));
}

#[test]
fn an_empty_matrix_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [ubuntu-latest]
        exclude:
          - os: ubuntu-latest
    steps:
      - run: make
"
    ));
}

#[test]
fn an_expression_syntax_error_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.ref == }}
"
    ));
}

#[test]
fn an_unknown_function_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ toUpper(github.ref) }}
"
    ));
}

#[test]
fn a_context_that_is_not_available_is_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    if: steps.check.outputs.ok == 'true'
    steps:
      - run: echo ${{ matrix.os }}
"
    ));
}

#[test]
fn several_problems_in_one_file_are_all_reported() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs_on: ubuntu-latest
    steps:
      - run: make
  test:
    needs: nope
    runs-on: ubuntu-latest
    steps:
      - name: nothing to do
"
    ));
}

#[test]
fn warnings_alone_leave_the_workflow_valid() {
    insta::assert_snapshot!(validate_snapshot(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
      - uses: docker://alpine:3.20
  deploy:
    needs: build
    uses: ./.github/workflows/deploy.yml
"
    ));
}

// ---------------------------------------------------------------------------------------------
// The plan as a user sees it

const PIPELINE: &str = "name: CI
on:
  push:
    branches: [main]
  pull_request:
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cargo clippy -- -D warnings
  test:
    needs: lint
    name: test
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
        rust: [stable, '1.80']
        exclude:
          - os: macos-latest
            rust: '1.80'
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@master
        with:
          toolchain: ${{ matrix.rust }}
      - run: |
          cargo test --locked
          cargo test --doc
  examples:
    needs: lint
    strategy:
      matrix: ${{ fromJSON(needs.lint.outputs.examples) }}
    runs-on: ubuntu-latest
    steps:
      - run: cargo run --example ${{ matrix.example }}
  deploy:
    needs: [test, examples]
    if: startsWith(github.ref, 'refs/tags/')
    runs-on: ubuntu-latest
    steps:
      - name: Publish
        run: cargo publish
        if: github.event_name == 'push'
  notify:
    needs: lint
    uses: ./.github/workflows/notify.yml
";

#[test]
fn plan_lists_stages_instances_and_steps() {
    let dir = workflow(PIPELINE.as_bytes());
    insta::assert_snapshot!(sandpit(dir.path(), &["plan", "ci.yml"]).snapshot(dir.path()));
}

#[test]
fn plan_draws_the_job_graph() {
    let dir = workflow(PIPELINE.as_bytes());
    insta::assert_snapshot!(
        sandpit(dir.path(), &["plan", "ci.yml", "--graph"]).snapshot(dir.path())
    );
}

#[test]
fn plan_json_has_one_entry_per_instance_and_one_per_dynamic_matrix() {
    let dir = workflow(PIPELINE.as_bytes());
    let run = sandpit(dir.path(), &["plan", "ci.yml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("the plan is JSON");
    let workflows = json["workflows"].as_array().expect("a workflows array");
    assert_eq!(workflows.len(), 1);
    let plan = &workflows[0];
    assert_eq!(plan["path"], "ci.yml");
    assert_eq!(plan["name"], "CI");
    assert_eq!(plan["events"], serde_json::json!(["push", "pull_request"]));
    let entries: Vec<(&str, &str, bool, u64)> = plan["jobs"]
        .as_array()
        .expect("a jobs array")
        .iter()
        .map(|job| {
            (
                job["id"].as_str().unwrap_or("?"),
                job["name"].as_str().unwrap_or("?"),
                job["dynamic"].as_bool().unwrap_or(false),
                job["stage"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("lint", "lint", false, 0),
            ("test", "test (ubuntu-latest, stable)", false, 1),
            ("test", "test (ubuntu-latest, 1.80)", false, 1),
            ("test", "test (macos-latest, stable)", false, 1),
            ("examples", "examples", true, 1),
            ("notify", "notify", false, 1),
            ("deploy", "deploy", false, 2),
        ]
    );
    let test = &plan["jobs"][2];
    assert_eq!(test["needs"], serde_json::json!(["lint"]));
    assert_eq!(
        test["matrix"],
        serde_json::json!({"os": "ubuntu-latest", "rust": "1.80"})
    );
    assert_eq!(plan["jobs"][4]["matrix"], serde_json::Value::Null);
    let steps = &test["steps"];
    assert_eq!(steps[1]["name"], "Run dtolnay/rust-toolchain@master");
    assert_eq!(steps[1]["uses"], "dtolnay/rust-toolchain@master");
    assert_eq!(steps[1]["runs_here"], false);
    assert_eq!(steps[2]["name"], "Run cargo test --locked");
    assert_eq!(steps[2]["runs_here"], true);
    let deploy = &plan["jobs"][6];
    assert_eq!(deploy["if"], "startsWith(github.ref, 'refs/tags/')");
    assert_eq!(deploy["steps"][0]["if"], "github.event_name == 'push'");
    let notify = &plan["jobs"][5];
    assert_eq!(notify["uses"], "./.github/workflows/notify.yml");
    assert_eq!(notify["runs_here"], false);
}

#[test]
fn plan_of_an_invalid_workflow_exits_2_with_diagnostics_and_no_plan() {
    let dir = workflow(b"on: push\njobs:\n  build:\n    steps:\n      - run: make\n");
    let run = sandpit(dir.path(), &["plan", "ci.yml", "--json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ci.yml:3:3: error: job `build` has no `runs-on`"),
        "{}",
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("the plan is JSON");
    assert_eq!(json, serde_json::json!({"workflows": []}));
}

// ---------------------------------------------------------------------------------------------
// Exit codes and paths

#[test]
fn a_valid_workflow_exits_0() {
    let run = sandpit(
        &corpus_dir(),
        &["validate", "multi-stage-needs-pipeline.yml"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr, "1 workflow checked: 0 errors, 0 warnings\n",
        "a valid workflow without warnings prints only the summary"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn an_invalid_workflow_exits_2() {
    let dir = workflow(b"on: push\njobs: {}\nbogus: 1\n");
    let run = sandpit(dir.path(), &["validate", "ci.yml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: "), "{}", run.stderr);
    let summary = run.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("1 workflow checked: "),
        "{}",
        run.stderr
    );
    assert!(!summary.contains(" 0 errors"), "{}", run.stderr);
}

#[test]
fn a_missing_path_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    insta::assert_snapshot!(sandpit(dir.path(), &["validate", "nope.yml"]).snapshot(dir.path()));
    let run = sandpit(dir.path(), &["plan", "nope.yml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("\nhint: "), "{}", run.stderr);
}

#[test]
fn without_a_workflow_directory_validate_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    insta::assert_snapshot!(sandpit(dir.path(), &["validate"]).snapshot(dir.path()));
}

#[test]
fn a_directory_without_workflow_files_exits_2_with_a_hint() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    std::fs::write(dir.path().join("README.md"), "not a workflow").expect("write a file");
    insta::assert_snapshot!(sandpit(dir.path(), &["validate", "."]).snapshot(dir.path()));
}

#[test]
fn validate_reads_github_workflows_by_default_and_only_yaml_files_there() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(workflows.join("nested")).expect("create .github/workflows");
    let valid = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n";
    std::fs::write(workflows.join("ci.yml"), valid).expect("write ci.yml");
    std::fs::write(workflows.join("release.yaml"), valid).expect("write release.yaml");
    std::fs::write(workflows.join("notes.txt"), "jobs: [").expect("write notes.txt");
    // Not recursive: a broken workflow in a subdirectory is not read.
    std::fs::write(workflows.join("nested/broken.yml"), "jobs: [").expect("write broken.yml");
    let run = sandpit(dir.path(), &["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "2 workflows checked: 0 errors, 0 warnings\n");

    let run = sandpit(dir.path(), &["plan", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("the plan is JSON");
    let paths: Vec<&str> = json["workflows"]
        .as_array()
        .expect("a workflows array")
        .iter()
        .map(|w| w["path"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        paths,
        [".github/workflows/ci.yml", ".github/workflows/release.yaml"]
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile input: refused with an error, never a hang or a crash

/// Runs `sandpit validate ci.yml` on `source` and checks it fails with `expected` in stderr,
/// long before [`HANG`].
fn refused(source: &[u8], expected: &str) {
    let dir = workflow(source);
    let run = sandpit(dir.path(), &["validate", "ci.yml"]);
    assert!(run.took < HANG, "took {:?}", run.took);
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 64 << 10,
        "{} bytes of stderr",
        run.stderr.len()
    );
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut source = String::from("on: push\nlol0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..=12 {
        let p = i - 1;
        source.push_str(&format!(
            "lol{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    source.push_str("jobs: *a12\n");
    refused(
        source.as_bytes(),
        "error: the document grows to more than 1000000 nodes here (aliases are expanded)",
    );
}

#[test]
fn nesting_ten_thousand_deep_is_refused() {
    let flow = format!(
        "on: push\njobs: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    refused(flow.as_bytes(), "ci.yml:2:");
    let block = format!("on: push\njobs:\n{}x\n", "- ".repeat(10_000));
    refused(
        block.as_bytes(),
        "error: sequences and mappings nest deeper than 128 levels",
    );
}

#[test]
fn a_50_mb_file_is_refused() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("ci.yml");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create ci.yml"));
    file.write_all(b"on: push\njobs:\n").expect("write");
    let line = format!("# {}\n", "x".repeat(1021));
    for _ in 0..50 * 1024 {
        file.write_all(line.as_bytes()).expect("write");
    }
    file.flush().expect("write");
    drop(file);
    let run = sandpit(dir.path(), &["validate", "ci.yml"]);
    assert!(run.took < HANG, "took {:?}", run.took);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ci.yml:1:1: error: the file is 52428815 bytes, more than the 1048576"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_utf8_is_refused_where_it_starts() {
    refused(
        b"on: push\njobs:\n  build:\n    runs-on: ubuntu-\xff\xfelatest\n",
        "ci.yml:4:21: error: invalid UTF-8 at byte 44 (bytes FF)",
    );
}
