//! Parsing, validating and planning a generated 1,000-job workflow (chains and fan-outs by
//! `needs`, fan-ins, matrices with include and exclude, conditions and expressions in every
//! step), beside a baseline measured in the same run: `serde_json::from_str` of a JSON
//! document of the same size (no positions, no schema, no expressions).
//!
//! Target: parse + validate + plan p50 < 50 ms.
//!
//! Run with `cargo bench --bench plan`. `SANDPIT_BENCH_N` overrides the number of timed runs
//! (default 50).

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{ms, verdict, Row, Samples};
use sandpit::workflow::load::load;
use sandpit::workflow::plan::plan;
use sandpit::workflow::yaml;

const JOBS: usize = 1_000;
const WARMUP: usize = 5;
const TARGET: Duration = Duration::from_millis(50);

/// A workflow of `jobs` jobs in groups of 50: the group's first job needs the previous group's
/// last, each fifth job continues a chain, the others fan out from their chain link, and each
/// group's last job fans in from the four before it. Every tenth job has a 2×3 matrix with
/// an exclude and an include.
fn generate(jobs: usize) -> String {
    let mut out = String::from(
        "name: Generated
on:
  push:
    branches: [main, 'release/**']
  pull_request:
    types: [opened, synchronize]
env:
  CARGO_TERM_COLOR: always
jobs:
",
    );
    for i in 0..jobs {
        let _ = writeln!(out, "  job_{i:04}:");
        let needs: Vec<usize> = if i % 50 == 49 {
            (i - 4..i).collect()
        } else if i % 50 == 0 {
            if i == 0 {
                vec![]
            } else {
                vec![i - 1]
            }
        } else if i % 5 == 0 {
            vec![i - 5]
        } else {
            vec![i - i % 5]
        };
        if !needs.is_empty() {
            let list: Vec<String> = needs.iter().map(|n| format!("job_{n:04}")).collect();
            let _ = writeln!(out, "    needs: [{}]", list.join(", "));
        }
        if i % 7 == 0 {
            out.push_str("    if: github.event_name == 'push' && !cancelled()\n");
        }
        let matrix = i % 10 == 3;
        if matrix {
            out.push_str(
                "    name: build ${{ matrix.os }} v${{ matrix.version }}
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, macos-latest]
        version: [1, 2, 3]
        exclude:
          - os: macos-latest
            version: 1
        include:
          - os: ubuntu-latest
            experimental: true
",
            );
        } else {
            out.push_str("    runs-on: ubuntu-latest\n    timeout-minutes: 30\n");
        }
        out.push_str(
            "    env:
      JOB_INDEX: ${{ strategy.job-index }}
    steps:
      - uses: actions/checkout@v4
      - name: Cache
        uses: actions/cache@v4
        with:
          path: target
          key: ${{ runner.os }}-cargo-${{ github.sha }}
      - run: |
          cargo build --locked
          cargo test --locked -- --nocapture
      - name: Report
        if: failure() || contains(github.event.head_commit.message, '[report]')
        run: echo \"${{ github.ref_name }} ${{ job.status }}\"
",
        );
    }
    out
}

/// The same size of JSON: one object per job with a few nested fields.
fn json_of_size(bytes: usize) -> String {
    let mut out = String::from("{\"jobs\":{");
    let mut i = 0usize;
    while out.len() < bytes {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\"job_{i:05}\":{{\"runs-on\":\"ubuntu-latest\",\"needs\":[\"job_{:05}\"],\
             \"steps\":[{{\"uses\":\"actions/checkout@v4\"}},{{\"run\":\"cargo build --locked\\ncargo test\"}},\
             {{\"name\":\"Report\",\"if\":\"failure()\",\"run\":\"echo ${{{{ github.ref_name }}}}\"}}]}}",
            i.saturating_sub(1)
        );
        i += 1;
    }
    out.push_str("}}");
    out
}

fn main() {
    let n = common::env_count("SANDPIT_BENCH_N", 50);
    common::print_header(&format!(
        "plan: parse + validate + plan a generated {JOBS}-job workflow, N={n} (+{WARMUP} warm-ups)"
    ));
    let source = generate(JOBS);
    let json = json_of_size(source.len());

    // Check once that the workflow is what it should be: valid, every job planned.
    let (workflow, diagnostics) = load("generated.yml", &source);
    let workflow = workflow.unwrap_or_else(|| {
        let errors: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .take(5)
            .map(|d| d.message.as_str())
            .collect();
        panic!("the generated workflow is invalid: {errors:?}")
    });
    assert_eq!(workflow.jobs.len(), JOBS);
    let planned = plan(&workflow);
    let instances = planned.jobs.len();
    let stages = planned.stage_count();
    println!(
        "workflow: {} bytes, {JOBS} jobs, {instances} job instances, {stages} stages; \
         baseline JSON: {} bytes",
        source.len(),
        json.len()
    );

    let mut total = Samples::with_capacity(n);
    let mut loading = Samples::with_capacity(n);
    let mut planning = Samples::with_capacity(n);
    let mut baseline = Samples::with_capacity(n);
    let mut tree = Samples::with_capacity(n);
    for i in 0..WARMUP + n {
        let start = Instant::now();
        let (workflow, _) = load("generated.yml", &source);
        let loaded = start.elapsed();
        let workflow = workflow.expect("the generated workflow stays valid");
        let plan_start = Instant::now();
        let planned = plan(&workflow);
        let planned_in = plan_start.elapsed();
        let whole = start.elapsed();
        assert_eq!(planned.jobs.len(), instances);
        drop((workflow, planned));

        // The YAML tree alone (also part of `load`), to show where load's time goes.
        let start = Instant::now();
        let root = yaml::parse(&source).expect("the generated workflow is YAML");
        let tree_time = start.elapsed();
        drop(root);

        let start = Instant::now();
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse the JSON");
        let json_time = start.elapsed();
        drop(value);

        if i < WARMUP {
            continue;
        }
        total.push(whole);
        loading.push(loaded);
        planning.push(planned_in);
        baseline.push(json_time);
        tree.push(tree_time);
    }

    let ratio = |d: Duration| d.as_secs_f64() / baseline.p50().as_secs_f64();
    let rows = [
        Row::new(
            format!("parse + validate + plan ({JOBS} jobs)"),
            ms(total.p50()),
            ms(total.p95()),
            format!("serde_json {}", ms(baseline.p50())),
            format!(
                "{:.1}× serde_json; target < {}: {}",
                ratio(total.p50()),
                ms(TARGET),
                verdict(total.p50() < TARGET)
            ),
        ),
        Row::new(
            "  load (YAML tree + schema + expressions)",
            ms(loading.p50()),
            ms(loading.p95()),
            format!("serde_json {}", ms(baseline.p50())),
            format!("{:.1}× serde_json", ratio(loading.p50())),
        ),
        Row::new(
            "    of which the YAML tree (yaml::parse)",
            ms(tree.p50()),
            ms(tree.p95()),
            format!("serde_json {}", ms(baseline.p50())),
            format!("{:.1}× serde_json", ratio(tree.p50())),
        ),
        Row::new(
            format!("  plan ({instances} instances, {stages} stages)"),
            ms(planning.p50()),
            ms(planning.p95()),
            "",
            "",
        ),
        Row::new(
            "serde_json::from_str (same size)",
            ms(baseline.p50()),
            ms(baseline.p95()),
            "",
            "baseline",
        ),
    ];
    common::print_table(&rows);
}
