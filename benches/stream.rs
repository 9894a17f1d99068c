//! Output streaming: 1 GiB of stdout (`head -c 1073741824 /dev/zero`) from a sandbox to the
//! host, through the SDK's `exec_stream` (counting the bytes of every chunk) and through the CLI
//! (`sandpit sandbox exec ID -- head -c 1G /dev/zero` with stdout on `/dev/null`), beside
//! `sh -c 'head -c 1073741824 /dev/zero | cat >/dev/null'` on the host, timed the same way.
//! Three runs of each, interleaved; MB/s are 10^6 bytes per second.
//!
//! Targets: SDK ≥ 1000 MB/s and ≥ 50% of the host pipe.
//!
//! Run with `cargo bench --bench stream` (as root). `SANDPIT_BENCH_RUNS` overrides the number
//! of runs (default 3).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{timed, verdict, BenchHome, Row};
use sandpit::sandbox::{Command as SandboxCommand, ExecEvent, OutputStream, Sandbox};

const BYTES: u64 = 1 << 30;
const WARMUP_BYTES: u64 = 64 << 20;
const TARGET_MB_S: f64 = 1000.0;
const TARGET_SHARE: f64 = 0.5;

/// What one streamed command delivered.
struct Streamed {
    bytes: u64,
    chunks: u64,
}

fn main() {
    let runs: usize = common::env_count("SANDPIT_BENCH_RUNS", 3);
    common::print_header(&format!(
        "stream: {BYTES} bytes of stdout to the host, {runs} runs (+1 warm-up of {WARMUP_BYTES} bytes)"
    ));
    let rt = common::runtime();
    let home = BenchHome::new();
    let sandbox = common::running_sandbox(&rt, &home, "stream");

    let warm = rt.block_on(stream(&sandbox, WARMUP_BYTES));
    assert_eq!(warm.bytes, WARMUP_BYTES, "the warm-up lost output");

    let mut sdk = Vec::with_capacity(runs);
    let mut cli = Vec::with_capacity(runs);
    let mut host = Vec::with_capacity(runs);
    let mut chunks = 0;
    for _ in 0..runs {
        let (t, got) = rt.block_on(timed(stream(&sandbox, BYTES)));
        assert_eq!(got.bytes, BYTES, "the SDK stream lost output");
        chunks = got.chunks;
        sdk.push(t);
        cli.push(common::time_command(
            home.cli()
                .args([
                    "sandbox",
                    "exec",
                    "stream",
                    "--",
                    "head",
                    "-c",
                    "1G",
                    "/dev/zero",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        ));
        host.push(common::time_command(
            Command::new("sh")
                .args(["-c", &format!("head -c {BYTES} /dev/zero | cat >/dev/null")])
                .stdin(Stdio::null()),
        ));
    }
    rt.block_on(sandbox.destroy()).expect("destroy the sandbox");

    let (host_median, host_best) = rates(&host);
    let baseline = format!("host pipe {host_median:.0} MB/s");
    let row = |what: &str, samples: &[Duration], targets: bool| {
        let (median, best) = rates(samples);
        let share = median / host_median;
        let note = if targets {
            format!(
                "{:.0}% of host; target ≥ {TARGET_MB_S:.0} MB/s and ≥ {:.0}%: {}",
                share * 100.0,
                TARGET_SHARE * 100.0,
                verdict(median >= TARGET_MB_S && share >= TARGET_SHARE)
            )
        } else {
            format!("{:.0}% of host", share * 100.0)
        };
        Row::new(
            what,
            format!("{median:.0} MB/s"),
            format!("{best:.0} MB/s"),
            baseline.clone(),
            note,
        )
    };
    let rows = [
        row(
            &format!("SDK exec_stream, 1 GiB ({chunks} chunks)"),
            &sdk,
            true,
        ),
        row("CLI sandbox exec > /dev/null, 1 GiB", &cli, true),
        Row::new(
            "host head | cat > /dev/null, 1 GiB",
            format!("{host_median:.0} MB/s"),
            format!("{host_best:.0} MB/s"),
            "",
            "",
        ),
    ];
    common::print_table_with(
        ["what", "median", "best", "baseline", "ratio/target"],
        &rows,
    );
    drop(home);
}

/// Streams `bytes` of zeros out of `sandbox` and counts what arrives.
async fn stream(sandbox: &Sandbox, bytes: u64) -> Streamed {
    let command = SandboxCommand::argv(["head", "-c", &bytes.to_string(), "/dev/zero"]);
    let mut events = sandbox
        .exec_stream(command)
        .await
        .expect("start the streaming command");
    let mut got = Streamed {
        bytes: 0,
        chunks: 0,
    };
    while let Some(event) = events.next().await {
        match event.expect("read the output stream") {
            ExecEvent::Output {
                stream: OutputStream::Stdout,
                data,
                ..
            } => {
                got.bytes += data.len() as u64;
                got.chunks += 1;
            }
            ExecEvent::Output { data, .. } => {
                panic!("unexpected stderr: {}", String::from_utf8_lossy(&data))
            }
            ExecEvent::Started { .. } => {}
            ExecEvent::Exit(report) => {
                assert_eq!(report.exit_code, Some(0), "head failed: {report:?}");
            }
        }
    }
    got
}

/// Median and best throughput in MB/s of timings of [`BYTES`].
fn rates(samples: &[Duration]) -> (f64, f64) {
    let mut rates: Vec<f64> = samples
        .iter()
        .map(|d| BYTES as f64 / d.as_secs_f64() / 1e6)
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = common::nearest_rank(&rates, 50.0).copied().unwrap_or(0.0);
    let best = rates.last().copied().unwrap_or(0.0);
    (median, best)
}
