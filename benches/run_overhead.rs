//! Run overhead: what `sandpit run` costs per job and per step, end to end.
//!
//! - **Per job.** A workflow of [`JOBS`] jobs, each one `run: "true"` step, run with
//!   `sandpit run push -W jobs.yml --jobs 2` (stdout on `/dev/null`), beside two baselines
//!   timed in the same iteration (interleaved, so drift on a noisy host hits all alike):
//!   [`JOBS`] sequential fork/execs of `/bin/true` on the host, and the floor the runner sits on,
//!   [`JOBS`] × (create → exec `/bin/true` → destroy) through the SDK, two at a time.
//!   Per-job overhead = (run wall − fork/exec wall) / [`JOBS`] × 2: two jobs run at once, so
//!   each job occupies its lane for twice its share of the wall time.
//! - **Per step.** A workflow of one job with [`STEPS`] `run: "true"` steps: wall / [`STEPS`],
//!   and (wall − wall of the same job with one step) / ([`STEPS`] − 1), which leaves the job's
//!   sandbox out; beside `/bin/true` exec'd in a warm sandbox through the SDK.
//!
//! Target: per-job overhead p50 ≤ 15 ms.
//!
//! Run with `cargo bench --bench run_overhead` (as root). `SANDPIT_BENCH_RUNS` overrides the
//! number of iterations (default 5).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;

use common::{ms, timed, verdict, BenchHome, Repository, Row, Samples};
use sandpit::sandbox::{Command as SandboxCommand, Sandbox, SandboxOptions};

/// Jobs of the per-job workflow.
const JOBS: u32 = 100;
/// Jobs (and SDK lifecycles) running at once.
const PARALLEL: u32 = 2;
/// Steps of the per-step workflow.
const STEPS: u32 = 50;
const TARGET_PER_JOB: Duration = Duration::from_millis(15);

/// The workflow files the bench's repository holds.
const JOBS_WORKFLOW: &str = "jobs.yml";
const STEPS_WORKFLOW: &str = "steps.yml";
const ONE_STEP_WORKFLOW: &str = "one-step.yml";

fn main() {
    let runs = common::env_count("SANDPIT_BENCH_RUNS", 5);
    common::print_header(&format!(
        "run overhead: {JOBS} jobs × 1 step with --jobs {PARALLEL}, 1 job × {STEPS} steps; \
         {runs} runs (+1 warm-up)"
    ));
    let rt = common::runtime();
    let home = BenchHome::new();
    let repo = Repository::new(&[
        (JOBS_WORKFLOW, jobs_workflow(JOBS)),
        (STEPS_WORKFLOW, steps_workflow(STEPS)),
        (ONE_STEP_WORKFLOW, steps_workflow(1)),
    ]);
    let warm = common::running_sandbox(&rt, &home, "warm");

    let mut run_jobs = Samples::with_capacity(runs);
    let mut host = Samples::with_capacity(runs);
    let mut floor = Samples::with_capacity(runs);
    let mut overhead = Samples::with_capacity(runs);
    let mut above_floor = Samples::with_capacity(runs);
    let mut run_steps = Samples::with_capacity(runs);
    let mut run_one_step = Samples::with_capacity(runs);
    let mut per_step = Samples::with_capacity(runs);
    let mut per_extra_step = Samples::with_capacity(runs);
    let mut warm_exec = Samples::with_capacity(runs * STEPS as usize);

    // Warm-up: the binary, the page cache, the cgroup paths.
    run(&home, &repo, ONE_STEP_WORKFLOW);
    rt.block_on(sdk_floor(&home, "warm-up", PARALLEL));

    for i in 0..runs {
        let t_jobs = run(&home, &repo, JOBS_WORKFLOW);
        let t_host = host_true_n(JOBS);
        let t_floor = rt.block_on(sdk_floor(&home, &format!("floor{i}"), JOBS));
        let t_steps = run(&home, &repo, STEPS_WORKFLOW);
        let t_one_step = run(&home, &repo, ONE_STEP_WORKFLOW);
        for _ in 0..STEPS {
            warm_exec.push(rt.block_on(exec_true(&home, &warm)));
        }

        run_jobs.push(t_jobs);
        host.push(t_host);
        floor.push(t_floor);
        overhead.push(t_jobs.saturating_sub(t_host) * PARALLEL / JOBS);
        above_floor.push(t_jobs.saturating_sub(t_floor) * PARALLEL / JOBS);
        run_steps.push(t_steps);
        run_one_step.push(t_one_step);
        per_step.push(t_steps / STEPS);
        per_extra_step.push(t_steps.saturating_sub(t_one_step) / (STEPS - 1));
    }
    rt.block_on(warm.destroy())
        .expect("destroy the warm sandbox");
    assert_no_sandboxes_left(&home);

    let min = |s: &Samples| s.percentile(0.0);
    let per_job = |d: Duration| d / JOBS;
    let host_line = format!("{JOBS}× fork/exec {}", ms(host.p50()));
    let floor_line = format!("SDK floor {}", ms(floor.p50()));
    let exec_line = format!("warm SDK exec {}", ms(warm_exec.p50()));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let ok = overhead.p50() <= TARGET_PER_JOB;
    let rows = [
        Row::new(
            format!("sandpit run: {JOBS} jobs × `true`, --jobs {PARALLEL}"),
            ms(run_jobs.p50()),
            ms(min(&run_jobs)),
            host_line.clone(),
            format!("{:.2}× the SDK floor", ratio(run_jobs.p50(), floor.p50())),
        ),
        Row::new(
            format!("  wall / {JOBS}"),
            ms(per_job(run_jobs.p50())),
            ms(per_job(min(&run_jobs))),
            format!("fork/exec {}", ms(per_job(host.p50()))),
            "",
        ),
        Row::new(
            format!("  per-job overhead = (run − fork/exec) / {JOBS} × {PARALLEL}"),
            ms(overhead.p50()),
            ms(min(&overhead)),
            host_line.clone(),
            format!("target ≤ {}: {}", ms(TARGET_PER_JOB), verdict(ok)),
        ),
        Row::new(
            format!("  above the floor = (run − SDK floor) / {JOBS} × {PARALLEL}"),
            ms(above_floor.p50()),
            ms(min(&above_floor)),
            floor_line,
            "what the runner adds to its sandboxes",
        ),
        Row::new(
            format!("SDK floor: {JOBS} × create → exec true → destroy, {PARALLEL} at a time"),
            ms(floor.p50()),
            ms(min(&floor)),
            host_line,
            format!(
                "{} per sandbox (wall / {JOBS} × {PARALLEL})",
                ms(floor.p50() * PARALLEL / JOBS)
            ),
        ),
        Row::new(
            format!("host: {JOBS} × fork/exec /bin/true, sequential"),
            ms(host.p50()),
            ms(min(&host)),
            "",
            "",
        ),
        Row::new(
            format!("sandpit run: 1 job × {STEPS} `true` steps"),
            ms(run_steps.p50()),
            ms(min(&run_steps)),
            "",
            "",
        ),
        Row::new(
            format!("  per step = wall / {STEPS}"),
            ms(per_step.p50()),
            ms(min(&per_step)),
            exec_line.clone(),
            format!("{:.1}× warm exec", ratio(per_step.p50(), warm_exec.p50())),
        ),
        Row::new(
            format!("  per step = (wall − 1-step wall) / {}", STEPS - 1),
            ms(per_extra_step.p50()),
            ms(min(&per_extra_step)),
            exec_line,
            format!(
                "{:.1}× warm exec",
                ratio(per_extra_step.p50(), warm_exec.p50())
            ),
        ),
        Row::new(
            "sandpit run: 1 job × 1 `true` step",
            ms(run_one_step.p50()),
            ms(min(&run_one_step)),
            "",
            "",
        ),
        Row::new(
            "SDK exec /bin/true, warm sandbox (each)",
            ms(warm_exec.p50()),
            ms(min(&warm_exec)),
            "",
            format!("{} samples", runs * STEPS as usize),
        ),
    ];
    common::print_table_with(["what", "p50", "min", "baseline", "ratio/target"], &rows);
    println!(
        "verdict: per-job overhead p50 {} = ({} run − {} fork/exec) / {JOBS} × {PARALLEL} \
         (two jobs share the wall time); target ≤ {}: {}",
        ms(overhead.p50()),
        ms(run_jobs.p50()),
        ms(host.p50()),
        ms(TARGET_PER_JOB),
        verdict(ok)
    );
    drop(repo);
    drop(home);
}

/// Runs `sandpit run push -W workflow` in `repo` (stdout on `/dev/null`, two jobs at a time)
/// and returns its wall time; panics unless every job succeeded.
fn run(home: &BenchHome, repo: &Repository, workflow: &str) -> Duration {
    common::time_command(
        home.cli()
            .current_dir(repo.path())
            .args([
                "run",
                "push",
                "-W",
                workflow,
                "--jobs",
                &PARALLEL.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

/// `n` sequential fork/execs of `/bin/true`, timed together.
fn host_true_n(n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let status = common::host_true().status().expect("spawn /bin/true");
        assert!(status.success(), "/bin/true failed: {status}");
    }
    start.elapsed()
}

/// `n` × (create → exec `/bin/true` → destroy) through the SDK, [`PARALLEL`] at a time, as
/// `sandpit run --jobs 2` schedules its jobs; returns the wall time of all of them.
async fn sdk_floor(home: &BenchHome, prefix: &str, n: u32) -> Duration {
    let (t, ()) = timed(
        futures::stream::iter(0..n)
            .map(|i| lifecycle(home, format!("{prefix}-{i}")))
            .buffer_unordered(PARALLEL as usize)
            .collect(),
    )
    .await;
    t
}

/// Creates sandbox `id`, runs `/bin/true` in it and destroys it.
async fn lifecycle(home: &BenchHome, id: String) {
    let sandbox = home
        .sandboxes
        .get(&id, SandboxOptions::default())
        .await
        .unwrap_or_else(|e| home.fail(&id, "create", sandpit::error_chain(&e)));
    let out = sandbox
        .exec(SandboxCommand::new("/bin/true"))
        .await
        .unwrap_or_else(|e| home.fail(&id, "exec /bin/true in", e));
    assert!(out.success(), "/bin/true failed in {id}: {out:?}");
    sandbox
        .destroy()
        .await
        .unwrap_or_else(|e| home.fail(&id, "destroy", e));
}

/// One exec of `/bin/true` in the warm sandbox, timed.
async fn exec_true(home: &BenchHome, sandbox: &Sandbox) -> Duration {
    let (t, out) = timed(sandbox.exec(SandboxCommand::new("/bin/true"))).await;
    let out = out.unwrap_or_else(|e| home.fail(sandbox.id(), "exec /bin/true in", e));
    assert!(out.success(), "/bin/true failed: {out:?}");
    t
}

/// Panics if a run left a sandbox behind (the runner destroys each job's sandbox).
fn assert_no_sandboxes_left(home: &BenchHome) {
    let dir = home.path().join("sandboxes");
    let left: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "sandboxes left behind: {left:?}");
}

/// `JOBS` jobs `j0`, `j1`, … of one `true` step each.
fn jobs_workflow(jobs: u32) -> String {
    let mut text = String::from("name: jobs\non: push\njobs:\n");
    for j in 0..jobs {
        text.push_str(&format!(
            "  j{j}:\n    runs-on: ubuntu-latest\n    steps:\n      - run: \"true\"\n"
        ));
    }
    text
}

/// One job of `steps` `true` steps.
fn steps_workflow(steps: u32) -> String {
    let mut text = String::from("name: steps\non: push\njobs:\n  steps:\n");
    text.push_str("    runs-on: ubuntu-latest\n    steps:\n");
    for _ in 0..steps {
        text.push_str("      - run: \"true\"\n");
    }
    text
}
