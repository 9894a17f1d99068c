//! Files API: a 100 MiB file of pseudo-random bytes written into a running sandbox through the
//! SDK (`write_file_from`, streamed from a host file) and read back through the SDK
//! (`read_file_stream`, counting the bytes of every chunk), beside `cp` of the same file and
//! `cat FILE >/dev/null` on the host (in a temporary directory under `/tmp`, the file system of
//! the sandboxes' state and so of their `/workspace`), timed the same way and interleaved.
//! The file's sha256 is checked once, outside the timed runs. MB/s are 10^6 bytes per second.
//!
//! Also: `list_files` (not recursive) of a directory holding 10,000 empty files, made inside
//! the sandbox with one exec, beside `ls -f` and `find -maxdepth 1 -printf` (which, like the
//! agent, stats every entry) of an equal directory on the host.
//!
//! Targets: write ≥ 500 MB/s and read ≥ 500 MB/s. The listing has no target; it is printed
//! beside its baselines.
//!
//! Run with `cargo bench --bench files` (as root). `SANDPIT_BENCH_RUNS` overrides the number of
//! write and read runs (default 3), `SANDPIT_BENCH_N` the number of listings (default 50).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ms, timed, verdict, BenchHome, Row, Samples};
use sandpit::sandbox::{Command as SandboxCommand, Sandbox};
use sha2::{Digest, Sha256};
use tokio::net::unix::pipe;

const BYTES: u64 = 100 << 20;
const TARGET_MB_S: f64 = 500.0;
/// Where the big file goes inside the sandbox.
const BIG: &str = "/workspace/big.bin";
/// How many files the listed directory holds.
const FILES: usize = 10_000;
/// The listed directory inside the sandbox.
const MANY: &str = "/workspace/many";
const LIST_WARMUP: usize = 3;

fn main() {
    let runs: usize = common::env_count("SANDPIT_BENCH_RUNS", 3);
    let n: usize = common::env_count("SANDPIT_BENCH_N", 50);
    common::print_header(&format!(
        "files: write and read of {BYTES} bytes, {runs} runs (+1 checked warm-up); \
         list of {FILES} files, N={n} (+{LIST_WARMUP} warm-ups)"
    ));
    let rt = common::runtime();
    let home = BenchHome::new();
    let host_dir = tempfile::Builder::new()
        .prefix("spb-files-")
        .tempdir_in("/tmp")
        .expect("create a temporary directory under /tmp");
    let source = host_dir.path().join("source.bin");
    let copy = host_dir.path().join("copy.bin");
    let digest = {
        let data = pseudo_random(BYTES as usize, 0x5eed_f11e);
        std::fs::write(&source, &data).expect("write the source file");
        Sha256::digest(&data).to_vec()
    };
    let sandbox = common::running_sandbox(&rt, &home, "files");

    // Warm-up, and the one check that what came back is what went in.
    let written = rt.block_on(write(&sandbox, &source));
    assert_eq!(written, BYTES, "write_file_from wrote the wrong size");
    let back = rt.block_on(read_digest(&sandbox));
    assert_eq!(
        back, digest,
        "the file read back differs from the one written"
    );

    let mut sdk_write = Vec::with_capacity(runs);
    let mut host_cp = Vec::with_capacity(runs);
    let mut sdk_read = Vec::with_capacity(runs);
    let mut host_cat = Vec::with_capacity(runs);
    let mut chunks = 0;
    for _ in 0..runs {
        let (t, written) = rt.block_on(timed(write(&sandbox, &source)));
        assert_eq!(written, BYTES, "write_file_from wrote the wrong size");
        sdk_write.push(t);
        host_cp.push(common::time_command(
            Command::new("cp")
                .arg(&source)
                .arg(&copy)
                .stdin(Stdio::null()),
        ));
        let (t, (bytes, n_chunks)) = rt.block_on(timed(read(&sandbox)));
        assert_eq!(bytes, BYTES, "read_file_stream returned the wrong size");
        chunks = n_chunks;
        sdk_read.push(t);
        host_cat.push(common::time_command(
            Command::new("cat")
                .arg(&source)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        ));
    }

    // The listing: one exec makes the files inside, the same script makes them on the host.
    let make_many = |dir: &str| format!("mkdir -p {dir} && cd {dir} && seq {FILES} | xargs touch");
    let out = rt
        .block_on(sandbox.exec(SandboxCommand::shell(make_many(MANY))))
        .expect("run the script that makes the files");
    assert!(out.success(), "making {FILES} files failed: {out:?}");
    let host_many = host_dir.path().join("many");
    let host_many = host_many.to_str().expect("a UTF-8 temporary path");
    common::time_command(
        Command::new("sh")
            .args(["-c", &make_many(host_many)])
            .stdin(Stdio::null()),
    );
    let mut list = Samples::with_capacity(n);
    let mut ls = Samples::with_capacity(n);
    let mut find = Samples::with_capacity(n);
    for i in 0..LIST_WARMUP + n {
        let (t, entries) = rt.block_on(timed(sandbox.list_files(MANY, false, false)));
        let entries = entries.expect("list the directory");
        assert_eq!(entries.len(), FILES, "list_files missed entries");
        let ls_time = common::time_command(
            Command::new("ls")
                .args(["-f", host_many])
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        let find_time = common::time_command(
            Command::new("find")
                .args([host_many, "-maxdepth", "1", "-printf", "%p %y %s %m %T@\n"])
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        if i < LIST_WARMUP {
            continue;
        }
        list.push(t);
        ls.push(ls_time);
        find.push(find_time);
    }
    rt.block_on(sandbox.destroy()).expect("destroy the sandbox");

    let throughput = |what: String, samples: &[Duration], host: &[Duration], name: &str| {
        let (median, best) = rates(samples);
        let (host_median, _) = rates(host);
        Row::new(
            what,
            format!("{median:.0} MB/s"),
            format!("{best:.0} MB/s"),
            format!("{name} {host_median:.0} MB/s"),
            format!(
                "{:.0}% of host; target ≥ {TARGET_MB_S:.0} MB/s: {}",
                100.0 * median / host_median,
                verdict(median >= TARGET_MB_S)
            ),
        )
    };
    let host_row = |what: &str, samples: &[Duration]| {
        let (median, best) = rates(samples);
        Row::new(
            what,
            format!("{median:.0} MB/s"),
            format!("{best:.0} MB/s"),
            "",
            "",
        )
    };
    let rows = [
        throughput(
            "SDK write_file_from, 100 MiB".to_string(),
            &sdk_write,
            &host_cp,
            "host cp",
        ),
        throughput(
            format!("SDK read_file_stream, 100 MiB ({chunks} chunks)"),
            &sdk_read,
            &host_cat,
            "host cat",
        ),
        host_row("host cp, 100 MiB", &host_cp),
        host_row("host cat > /dev/null, 100 MiB", &host_cat),
    ];
    common::print_table_with(
        ["what", "median", "best", "baseline", "ratio/target"],
        &rows,
    );
    println!();

    let times = |base: &Samples| list.p50().as_secs_f64() / base.p50().as_secs_f64();
    let rows = [
        Row::new(
            format!("SDK list_files, {FILES} files"),
            ms(list.p50()),
            ms(list.p95()),
            format!("host ls -f {}", ms(ls.p50())),
            format!(
                "{:.1}× ls -f, {:.1}× find; no target",
                times(&ls),
                times(&find)
            ),
        ),
        Row::new(
            format!("host ls -f, {FILES} files"),
            ms(ls.p50()),
            ms(ls.p95()),
            "",
            "",
        ),
        Row::new(
            format!("host find -maxdepth 1 -printf, {FILES} files"),
            ms(find.p50()),
            ms(find.p95()),
            "",
            "stats every entry, like the agent",
        ),
    ];
    common::print_table(&rows);
    drop(host_dir);
    drop(home);
}

/// Streams the host file `source` into the sandbox at [`BIG`]; returns the bytes written.
///
/// The crate's tokio has no `fs`, so, as a caller without it would, a thread copies the file
/// into a pipe (with `splice`) and the SDK reads the pipe's other end.
async fn write(sandbox: &Sandbox, source: &Path) -> u64 {
    let (reader, mut writer) = std::io::pipe().expect("make a pipe");
    let mut file = std::fs::File::open(source).expect("open the source file");
    let feeder = std::thread::spawn(move || std::io::copy(&mut file, &mut writer));
    let reader = pipe::Receiver::from_owned_fd(reader.into()).expect("register the pipe");
    let written = sandbox
        .write_file_from(BIG, reader, None)
        .await
        .expect("write the file into the sandbox");
    let fed = feeder
        .join()
        .expect("the feeding thread panicked")
        .expect("copy the source file into the pipe");
    assert_eq!(fed, written, "write_file_from lost bytes of the pipe");
    written
}

/// Streams [`BIG`] out of the sandbox; returns the bytes and chunks that arrived.
async fn read(sandbox: &Sandbox) -> (u64, u64) {
    let mut stream = sandbox
        .read_file_stream(BIG)
        .await
        .expect("start reading the file");
    let (mut bytes, mut chunks) = (0, 0);
    while let Some(chunk) = stream.next().await {
        bytes += chunk.expect("read a chunk").len() as u64;
        chunks += 1;
    }
    (bytes, chunks)
}

/// Streams [`BIG`] out of the sandbox and returns its sha256.
async fn read_digest(sandbox: &Sandbox) -> Vec<u8> {
    let mut stream = sandbox
        .read_file_stream(BIG)
        .await
        .expect("start reading the file");
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.expect("read a chunk"));
    }
    hasher.finalize().to_vec()
}

/// Deterministic pseudo-random bytes (xorshift64*), every byte value included.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
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
