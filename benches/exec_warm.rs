//! Warm exec: `/bin/true` in an already-running sandbox, beside a plain fork/exec of
//! `/bin/true` on the host measured in the same run (interleaved).
//!
//! Also printed, to see where the time goes: a ping (connect, hello, one request, reply: the
//! protocol's fixed cost) and the command's duration as the agent saw it (from just before its
//! fork to its reaped exit), so that `exec - agent-side` is the client, socket and protocol
//! overhead.
//!
//! Target: p50 ≤ host fork/exec p50 + 0.5 ms.
//!
//! Run with `cargo bench --bench exec_warm` (as root). `SANDPIT_BENCH_N` overrides the number
//! of iterations (default 500).

mod common;

use std::time::Duration;

use common::{ms, timed, verdict, BenchHome, Row, Samples};
use sandpit::sandbox::Command as SandboxCommand;

const WARMUP: usize = 20;
const TARGET_OVERHEAD: Duration = Duration::from_micros(500);

fn main() {
    let n: usize = common::env_count("SANDPIT_BENCH_N", 500);
    common::print_header(&format!(
        "warm exec: /bin/true in a running sandbox, N={n} (+{WARMUP} warm-ups)"
    ));
    let rt = common::runtime();
    let home = BenchHome::new();
    let sandbox = common::running_sandbox(&rt, &home, "warm");

    let mut exec = Samples::with_capacity(n);
    let mut agent_side = Samples::with_capacity(n);
    let mut ping = Samples::with_capacity(n);
    let mut host = Samples::with_capacity(n);
    for i in 0..WARMUP + n {
        let (exec_time, out) = rt.block_on(timed(sandbox.exec(SandboxCommand::new("/bin/true"))));
        let out = out.expect("exec /bin/true");
        assert!(out.success(), "/bin/true failed: {out:?}");
        let (ping_time, pong) = rt.block_on(timed(sandbox.ping()));
        pong.expect("ping the agent");
        let host_time = common::time_command(&mut common::host_true());
        if i < WARMUP {
            continue;
        }
        exec.push(exec_time);
        agent_side.push(out.duration());
        ping.push(ping_time);
        host.push(host_time);
    }
    rt.block_on(sandbox.destroy()).expect("destroy the sandbox");

    let limit = host.p50() + TARGET_OVERHEAD;
    let overhead = exec.p50().saturating_sub(host.p50());
    let rows = [
        Row::new(
            "exec /bin/true (warm sandbox)",
            ms(exec.p50()),
            ms(exec.p95()),
            format!("host {}", ms(host.p50())),
            format!(
                "{:.2}× host, +{}; target ≤ {}: {}",
                exec.p50().as_secs_f64() / host.p50().as_secs_f64(),
                ms(overhead),
                ms(limit),
                verdict(exec.p50() <= limit)
            ),
        ),
        Row::new(
            "  agent-side (fork → reaped exit)",
            ms(agent_side.p50()),
            ms(agent_side.p95()),
            format!("host {}", ms(host.p50())),
            format!(
                "{:.2}× host",
                agent_side.p50().as_secs_f64() / host.p50().as_secs_f64()
            ),
        ),
        Row::new(
            "  client + protocol (exec − agent-side)",
            ms(exec.p50().saturating_sub(agent_side.p50())),
            "-",
            "",
            "difference of the p50s",
        ),
        Row::new(
            "ping (connect + hello + pong)",
            ms(ping.p50()),
            ms(ping.p95()),
            "",
            "",
        ),
        Row::new(
            "host fork/exec /bin/true (posix_spawn)",
            ms(host.p50()),
            ms(host.p95()),
            "",
            "",
        ),
    ];
    common::print_table(&rows);
    drop(home);
}
