//! Sandbox lifecycle: create → exec `/bin/true` → destroy, timed as a whole and step by step,
//! beside `bwrap --unshare-all --ro-bind / / /bin/true` and a plain fork/exec of `/bin/true`
//! measured in the same run (interleaved, so drift on a noisy host hits all three alike).
//!
//! The back-to-back loop flatters sandpit: joining a cgroup (a write to `cgroup.procs`) waits
//! for an RCU grace period when no other migration happened shortly before, and in a tight loop
//! the previous iteration's migration keeps that path warm. So a second, shorter series runs
//! each iteration after [`IDLE_GAP`] of quiet, as a runner that starts a job now and then does
//! (bwrap, which touches no cgroup, is measured the same way for fairness).
//!
//! Target: p50 ≤ 10 ms and ≤ 2× bwrap.
//!
//! Run with `cargo bench --bench sandbox_lifecycle` (as root). `SANDPIT_BENCH_N` overrides the
//! number of iterations (default 200; the idle-gap series runs a fifth of that, at least 10).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ms, timed, verdict, BenchHome, Creates, Row, Samples};
use sandpit::sandbox::{Command as SandboxCommand, SandboxOptions};

const WARMUP: usize = 5;
/// Quiet time before each iteration of the idle-gap series.
const IDLE_GAP: Duration = Duration::from_millis(200);
const TARGET_P50: Duration = Duration::from_millis(10);
const TARGET_BWRAP_RATIO: f64 = 2.0;

/// One create → exec → destroy, step by step.
struct Lifecycle {
    create: Duration,
    exec: Duration,
    destroy: Duration,
}

impl Lifecycle {
    fn total(&self) -> Duration {
        self.create + self.exec + self.destroy
    }
}

fn main() {
    let n: usize = common::env_count("SANDPIT_BENCH_N", 200);
    common::print_header(&format!(
        "sandbox lifecycle: create → exec /bin/true → destroy, N={n} (+{WARMUP} warm-ups)"
    ));
    let rt = common::runtime();
    let home = BenchHome::new();
    let bwrap = common::bwrap_available();

    let mut create = Samples::with_capacity(n);
    let mut exec = Samples::with_capacity(n);
    let mut destroy = Samples::with_capacity(n);
    let mut total = Samples::with_capacity(n);
    let mut bwrap_samples = Samples::with_capacity(n);
    let mut host = Samples::with_capacity(n);
    let mut creates = Creates::default();

    for i in 0..WARMUP + n {
        let steps = rt.block_on(lifecycle(&home, &mut creates, &format!("lc-{i}")));
        let bwrap_time = bwrap.then(|| common::time_command(&mut bwrap_true()));
        let host_time = common::time_command(&mut common::host_true());
        if i < WARMUP {
            continue;
        }
        create.push(steps.create);
        exec.push(steps.exec);
        destroy.push(steps.destroy);
        total.push(steps.total());
        if let Some(t) = bwrap_time {
            bwrap_samples.push(t);
        }
        host.push(host_time);
    }

    let n_idle = (n / 5).max(10);
    let mut idle_create = Samples::with_capacity(n_idle);
    let mut idle_total = Samples::with_capacity(n_idle);
    let mut idle_bwrap = Samples::with_capacity(n_idle);
    for i in 0..n_idle {
        std::thread::sleep(IDLE_GAP);
        let steps = rt.block_on(lifecycle(&home, &mut creates, &format!("idle-{i}")));
        idle_create.push(steps.create);
        idle_total.push(steps.total());
        if bwrap {
            std::thread::sleep(IDLE_GAP);
            idle_bwrap.push(common::time_command(&mut bwrap_true()));
        }
    }

    let bwrap_p50 = bwrap.then(|| bwrap_samples.p50());
    let note = |total: &Samples, bwrap_p50: Option<Duration>| {
        let ratio = bwrap_p50.map(|b| total.p50().as_secs_f64() / b.as_secs_f64());
        let ok = total.p50() <= TARGET_P50 && ratio.is_none_or(|r| r <= TARGET_BWRAP_RATIO);
        match ratio {
            Some(r) => format!(
                "{r:.2}× bwrap; target ≤ 10 ms and ≤ {TARGET_BWRAP_RATIO}× bwrap: {}",
                verdict(ok)
            ),
            None => format!("target ≤ 10 ms: {}", verdict(ok)),
        }
    };
    let baseline_of = |p50: Option<Duration>| match p50 {
        Some(p50) => format!("bwrap {}", ms(p50)),
        None => "bwrap not installed".to_string(),
    };
    let host_ratio = |s: &Samples| {
        format!(
            "{:.1}× host",
            s.p50().as_secs_f64() / host.p50().as_secs_f64()
        )
    };
    let share = |s: &Samples| {
        format!(
            "{:.0}% of the total p50",
            100.0 * s.p50().as_secs_f64() / total.p50().as_secs_f64()
        )
    };
    let mut rows = vec![
        Row::new(
            "create → exec → destroy",
            ms(total.p50()),
            ms(total.p95()),
            baseline_of(bwrap_p50),
            note(&total, bwrap_p50),
        ),
        Row::new(
            "  create (get)",
            ms(create.p50()),
            ms(create.p95()),
            "",
            share(&create),
        ),
        Row::new(
            "  exec /bin/true",
            ms(exec.p50()),
            ms(exec.p95()),
            "",
            share(&exec),
        ),
        Row::new(
            "  destroy",
            ms(destroy.p50()),
            ms(destroy.p95()),
            "",
            share(&destroy),
        ),
        Row::new(
            format!(
                "same, {} ms idle before each (N={n_idle})",
                IDLE_GAP.as_millis()
            ),
            ms(idle_total.p50()),
            ms(idle_total.p95()),
            baseline_of(bwrap.then(|| idle_bwrap.p50())),
            note(&idle_total, bwrap.then(|| idle_bwrap.p50())),
        ),
        Row::new(
            "  create (get) after idle",
            ms(idle_create.p50()),
            ms(idle_create.p95()),
            format!("back-to-back {}", ms(create.p50())),
            format!(
                "+{} over back-to-back",
                ms(idle_create.p50().saturating_sub(create.p50()))
            ),
        ),
    ];
    match bwrap_p50 {
        Some(_) => rows.push(Row::new(
            "bwrap --unshare-all --ro-bind / / /bin/true",
            ms(bwrap_samples.p50()),
            ms(bwrap_samples.p95()),
            format!("host {}", ms(host.p50())),
            host_ratio(&bwrap_samples),
        )),
        None => rows.push(Row::new(
            "bwrap --unshare-all --ro-bind / / /bin/true",
            "-",
            "-",
            "bwrap not installed",
            "",
        )),
    }
    rows.push(Row::new(
        "host fork/exec /bin/true",
        ms(host.p50()),
        ms(host.p95()),
        "",
        "",
    ));
    rows.push(creates.row());
    common::print_table(&rows);
    creates.print_failures();
    drop(home);
}

/// Creates sandbox `id`, runs `/bin/true` in it and destroys it, timing each step.
async fn lifecycle(home: &BenchHome, creates: &mut Creates, id: &str) -> Lifecycle {
    let (create, sandbox) = creates.create(home, id, &SandboxOptions::default()).await;
    let id = sandbox.id().to_string();
    let id = id.as_str();
    let (exec, out) = timed(sandbox.exec(SandboxCommand::new("/bin/true"))).await;
    let out = out.unwrap_or_else(|e| home.fail(id, "exec /bin/true in", e));
    assert!(out.success(), "/bin/true failed in {id}: {out:?}");
    let (destroy, done) = timed(sandbox.destroy()).await;
    done.unwrap_or_else(|e| home.fail(id, "destroy", e));
    Lifecycle {
        create,
        exec,
        destroy,
    }
}

fn bwrap_true() -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--unshare-all", "--ro-bind", "/", "/", "/bin/true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}
