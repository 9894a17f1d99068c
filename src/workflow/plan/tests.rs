use super::*;
use crate::workflow::load::load;

/// Plans `source`, which must be a valid workflow.
fn plan_of(source: &str) -> Plan {
    let (workflow, diagnostics) = load("ci.yml", source);
    let errors: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    let workflow = workflow.unwrap_or_else(|| panic!("invalid workflow: {errors:?}"));
    plan(&workflow)
}

/// (id, stage) of every entry.
fn stages_of(plan: &Plan) -> Vec<(&str, usize)> {
    plan.jobs
        .iter()
        .map(|job| (job.id.as_str(), job.stage))
        .collect()
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.jobs.iter().map(|job| job.name.as_str()).collect()
}

fn step_names(job: &PlannedJob) -> Vec<&str> {
    job.steps.iter().map(|step| step.name.as_str()).collect()
}

const STEP: &str = "    runs-on: ubuntu-latest\n    steps:\n      - run: true\n";

fn jobs(jobs: &[(&str, &str)]) -> String {
    let mut source = String::from("on: push\njobs:\n");
    for (id, needs) in jobs {
        source.push_str(&format!("  {id}:\n"));
        if !needs.is_empty() {
            source.push_str(&format!("    needs: [{needs}]\n"));
        }
        source.push_str(STEP);
    }
    source
}

#[test]
fn a_diamond_takes_three_stages() {
    let plan = plan_of(&jobs(&[("a", ""), ("b", "a"), ("c", "a"), ("d", "b, c")]));
    assert_eq!(stages_of(&plan), [("a", 0), ("b", 1), ("c", 1), ("d", 2)]);
    assert_eq!(plan.stage_count(), 3);
    let middle: Vec<&str> = plan.stage(1).map(|job| job.id.as_str()).collect();
    assert_eq!(middle, ["b", "c"]);
    assert_eq!(plan.jobs[3].needs, ["b", "c"]);
}

#[test]
fn jobs_are_ordered_by_stage_then_file_order() {
    // The file lists dependents first; a need that skips a stage puts the job after the
    // latest of its needs.
    let plan = plan_of(&jobs(&[
        ("deploy", "package, lint"),
        ("package", "build"),
        ("build", ""),
        ("docs", "build"),
        ("lint", ""),
    ]));
    assert_eq!(
        stages_of(&plan),
        [
            ("build", 0),
            ("lint", 0),
            ("package", 1),
            ("docs", 1),
            ("deploy", 2)
        ]
    );
}

#[test]
fn a_long_chain_gets_one_stage_per_job() {
    let chain: Vec<(String, String)> = (0..500)
        .map(|i| {
            let needs = if i == 0 {
                String::new()
            } else {
                format!("j{}", i - 1)
            };
            (format!("j{i}"), needs)
        })
        .collect();
    let refs: Vec<(&str, &str)> = chain
        .iter()
        .rev()
        .map(|(id, needs)| (id.as_str(), needs.as_str()))
        .collect();
    let plan = plan_of(&jobs(&refs));
    assert_eq!(plan.stage_count(), 500);
    assert!(plan
        .jobs
        .iter()
        .enumerate()
        .all(|(i, job)| job.stage == i && job.id == format!("j{i}")));
}

#[test]
fn matrix_instances_are_named_as_github_names_them() {
    let plan = plan_of(
        "on: push
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest, windows-latest]
        node: [18, 20]
        include:
          - os: windows-latest
            experimental: true
          - os: macos-latest
            node: 22
    steps:
      - run: npm test
  lint:
    name: Lint
    strategy:
      matrix:
        tool: [clippy, fmt]
    runs-on: ubuntu-latest
    steps:
      - run: true
  node:
    name: Node ${{ matrix.node }} on ${{ matrix.os }} (${{ strategy.job-index }}/${{ strategy.job-total }})
    strategy:
      matrix:
        os: [linux]
        node: [18, 20]
    runs-on: ubuntu-latest
    steps:
      - run: true
  deploy:
    name: Deploy ${{ github.ref_name }} ${{ matrix.env }}
    strategy:
      matrix:
        env: [staging]
    runs-on: ubuntu-latest
    steps:
      - run: true
  release:
    name: Release ${{ github.ref_name }}
    strategy:
      matrix:
        target: [linux]
    runs-on: ubuntu-latest
    steps:
      - run: true
",
    );
    assert_eq!(
        names(&plan),
        [
            // Values an include added do not show; an include that matched nothing is named
            // by all of its values.
            "test (ubuntu-latest, 18)",
            "test (ubuntu-latest, 20)",
            "test (windows-latest, 18)",
            "test (windows-latest, 20)",
            "test (macos-latest, 22)",
            "Lint (clippy)",
            "Lint (fmt)",
            // A name with expressions is evaluated, without the suffix.
            "Node 18 on linux (0/2)",
            "Node 20 on linux (1/2)",
            // Contexts known only when the job runs stay as written.
            "Deploy ${{ github.ref_name }} staging",
            "Release ${{ github.ref_name }}",
        ]
    );
    let windows = &plan.jobs[2];
    let matrix = windows.matrix.as_ref().expect("a matrix instance");
    assert_eq!(matrix.get("experimental"), Some(&Value::Bool(true)));
    assert!(plan.jobs.iter().all(|job| !job.dynamic));
}

#[test]
fn a_matrix_known_only_at_run_time_is_one_dynamic_entry() {
    let plan = plan_of(
        "on: push
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.list.outputs.matrix }}
    steps:
      - id: list
        run: echo 'matrix={}' >> $GITHUB_OUTPUT
  whole:
    needs: setup
    strategy:
      matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}
    runs-on: ubuntu-latest
    steps:
      - name: Test ${{ matrix.crate }}
        run: cargo test -p ${{ matrix.crate }}
  axis:
    needs: setup
    name: Example ${{ matrix.example }}
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
        example: ${{ fromJSON(needs.setup.outputs.matrix) }}
    runs-on: ${{ matrix.os }}
    steps:
      - run: cargo run --example ${{ matrix.example }}
",
    );
    let entries: Vec<(&str, &str, bool, usize)> = plan
        .jobs
        .iter()
        .map(|job| (job.id.as_str(), job.name.as_str(), job.dynamic, job.stage))
        .collect();
    assert_eq!(
        entries,
        [
            ("setup", "setup", false, 0),
            ("whole", "whole", true, 1),
            ("axis", "Example ${{ matrix.example }}", true, 1),
        ]
    );
    assert!(plan.jobs.iter().all(|job| job.matrix.is_none()));
    // The matrix is unknown: step names stay as written.
    assert_eq!(step_names(&plan.jobs[1]), ["Test ${{ matrix.crate }}"]);
    assert_eq!(
        step_names(&plan.jobs[2]),
        ["Run cargo run --example ${{ matrix.example }}"]
    );
}

#[test]
fn steps_get_githubs_default_names() {
    let plan = plan_of(
        "on: push
jobs:
  build:
    strategy:
      matrix:
        os: [linux]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |

          cargo build --release
          cargo test
      - run: echo ${{ matrix.os }} ${{ github.sha }}
      - name: Build on ${{ matrix.os }}
        run: make
      - name: Named
        uses: ./.github/actions/setup
",
    );
    assert_eq!(
        step_names(&plan.jobs[0]),
        [
            "Run actions/checkout@v4",
            "Run cargo build --release",
            "Run echo linux ${{ github.sha }}",
            "Build on linux",
            "Named",
        ]
    );
}

#[test]
fn steps_keep_their_if_as_written() {
    let plan = plan_of(
        "on: push
jobs:
  build:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    steps:
      - run: make
        if: ${{ failure() }}
      - run: make
",
    );
    let job = &plan.jobs[0];
    assert_eq!(
        job.condition.as_deref(),
        Some("github.event_name == 'push'")
    );
    let conditions: Vec<Option<&str>> = job
        .steps
        .iter()
        .map(|step| step.condition.as_deref())
        .collect();
    assert_eq!(conditions, [Some("${{ failure() }}"), None]);
}

#[test]
fn what_will_not_run_here_is_flagged() {
    let plan = plan_of(
        "on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: target
          key: k
      - uses: actions/upload-artifact@v4
        with:
          name: a
          path: target
      - uses: actions/download-artifact@v4
      - uses: ./.github/actions/setup
      - uses: actions/setup-node@v4
      - uses: docker://alpine:3.20
      - uses: github/codeql-action/upload-sarif@v3
      - run: make
  call:
    needs: build
    uses: ./.github/workflows/deploy.yml
",
    );
    let build = &plan.jobs[0];
    assert!(build.runs_here);
    assert_eq!(build.uses, None);
    let flags: Vec<(&str, bool)> = build
        .steps
        .iter()
        .map(|step| (step.name.as_str(), step.runs_here))
        .collect();
    assert_eq!(
        flags,
        [
            ("Run actions/checkout@v4", true),
            ("Run actions/cache@v4", true),
            ("Run actions/upload-artifact@v4", true),
            ("Run actions/download-artifact@v4", true),
            ("Run ./.github/actions/setup", true),
            ("Run actions/setup-node@v4", false),
            ("Run docker://alpine:3.20", false),
            ("Run github/codeql-action/upload-sarif@v3", false),
            ("Run make", true),
        ]
    );
    assert_eq!(
        build.steps[5].uses.as_deref(),
        Some("actions/setup-node@v4")
    );
    assert_eq!(build.steps[8].uses, None);

    let call = &plan.jobs[1];
    assert!(!call.runs_here);
    assert_eq!(call.uses.as_deref(), Some("./.github/workflows/deploy.yml"));
    assert!(call.steps.is_empty());
    assert_eq!(call.stage, 1);
}

#[test]
fn the_plan_serialises_to_the_documented_shape() {
    let plan = plan_of(
        "name: CI
on: [push, pull_request]
jobs:
  test:
    strategy:
      matrix:
        os: [ubuntu-latest]
        node: [18, 2.5]
        include:
          - os: ubuntu-latest
            extra: { a: [1, null] }
    runs-on: ubuntu-latest
    steps:
      - run: make
",
    );
    let json = serde_json::to_value(&plan).expect("serialise the plan");
    assert_eq!(json["path"], "ci.yml");
    assert_eq!(json["name"], "CI");
    assert_eq!(json["events"], serde_json::json!(["push", "pull_request"]));
    let job = &json["jobs"][0];
    assert_eq!(job["id"], "test");
    assert_eq!(job["name"], "test (ubuntu-latest, 18)");
    assert_eq!(job["needs"], serde_json::json!([]));
    assert_eq!(job["dynamic"], false);
    assert_eq!(job["stage"], 0);
    assert_eq!(job["if"], serde_json::Value::Null);
    assert_eq!(
        job["steps"],
        serde_json::json!([
            {"id": null, "name": "Run make", "if": null, "uses": null, "runs_here": true}
        ])
    );
    // Keys in matrix order (not sorted), whole numbers without a fraction.
    let text = serde_json::to_string(&plan.jobs[1]).expect("serialise a job");
    assert!(
        text.contains(r#""matrix":{"os":"ubuntu-latest","node":2.5,"extra":{"a":[1,null]}}"#),
        "{text}"
    );
    assert_eq!(
        json["jobs"][0]["matrix"],
        serde_json::json!({"os": "ubuntu-latest", "node": 18, "extra": {"a": [1, null]}})
    );
}

#[test]
fn a_workflow_without_a_name_is_named_by_its_path() {
    let plan = plan_of(&jobs(&[("a", "")]));
    assert_eq!(plan.name, "ci.yml");
    assert_eq!(plan.events, ["push"]);
}

#[test]
fn parallel_steps_are_planned_inside_their_step() {
    let plan = plan_of(
        "on: push
jobs:
  build:
    strategy:
      matrix:
        os: [linux, mac]
    runs-on: ubuntu-latest
    steps:
      - parallel:
          - run: echo ${{ matrix.os }}
          - uses: actions/setup-go@v5
",
    );
    let nested: Vec<Vec<(&str, bool)>> = plan
        .jobs
        .iter()
        .map(|job| {
            job.steps[0]
                .parallel
                .iter()
                .map(|step| (step.name.as_str(), step.runs_here))
                .collect()
        })
        .collect();
    assert_eq!(
        nested,
        [
            [("Run echo linux", true), ("Run actions/setup-go@v5", false)],
            [("Run echo mac", true), ("Run actions/setup-go@v5", false)],
        ]
    );
    assert_eq!(plan.jobs[0].steps[0].name, "Run 2 steps in parallel");
}
