//! The log path: a job whose one step prints 1 GiB of text lines holding [`SECRETS`] secrets,
//! run end to end with `sandpit run push -W log.yml -s … --log-cap 2048` (stdout on
//! `/dev/null`): the output crosses the sandbox, the masker and the job log, which keeps all of
//! it. The step is `for i in $(seq 1024); do cat data.txt; done` over a generated 1 MiB
//! `data.txt` of ~100-byte lines in the repository (the workspace), a secret every
//! [`SECRET_EVERY`] lines.
//!
//! Beside it, in the same iteration: the same loop of `cat` on the host into a file of the
//! state directory's filesystem (then removed), and the same run with a step that prints
//! nothing (`true`), so the fixed cost of a run is visible. MB/s are 10^6 bytes per second of
//! the 2^30 bytes printed.
//!
//! Every measured log is checked (outside the timing), then removed: without its timestamps it
//! holds no secret value, it holds `***`, and it has exactly the expected lines (the header,
//! the step's two status lines and every data line, each equal to its masked original).
//!
//! Target: ≥ 300 MB/s end to end.
//!
//! Run with `cargo bench --bench log_path` (as root, with ~5 GiB free under /tmp).
//! `SANDPIT_BENCH_RUNS` overrides the number of runs (default 3).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aho_corasick::AhoCorasick;

use common::{mib, ms, verdict, BenchHome, Repository, Row, Samples};

/// What the step prints.
const BYTES: u64 = 1 << 30;
/// Size of `data.txt`; the step prints it [`COPIES`] times.
const DATA_BYTES: usize = 1 << 20;
const COPIES: u64 = BYTES / DATA_BYTES as u64;
/// Length of a line of `data.txt`, its newline included (the last line is shorter, so the
/// file is exactly [`DATA_BYTES`]).
const LINE_BYTES: usize = 100;
const SECRETS: usize = 10;
/// One line in this many holds a secret.
const SECRET_EVERY: usize = 3;
const MASK: &[u8] = b"***";
const LOG_CAP_MIB: u32 = 2048;
/// A stored log line starts with `2026-11-26T18:33:05.123456Z ` (the space included).
const STAMP_LEN: usize = 28;
/// Free space asked for before starting: the log (~1.3 GiB) with its tail segments at their
/// peak, and the host baseline's 1 GiB file.
const NEED_FREE: u64 = 5 << 30;
const TARGET_MB_S: f64 = 300.0;

const LOG_WORKFLOW: &str = "log.yml";
const QUIET_WORKFLOW: &str = "quiet.yml";
const DATA_FILE: &str = "data.txt";

/// The generated data: the file's bytes and each of its lines as the log must keep it.
struct Data {
    text: Vec<u8>,
    masked_lines: Vec<Vec<u8>>,
    secrets: Vec<String>,
}

/// What one job log held.
#[derive(Debug, Default)]
struct LogCheck {
    stored_bytes: u64,
    lines: u64,
    data_lines: u64,
    wrong_data_lines: u64,
    lines_with_mask: u64,
    lines_with_secret: u64,
}

fn main() {
    let runs = common::env_count("SANDPIT_BENCH_RUNS", 3);
    common::print_header(&format!(
        "log path: 1 job printing {BYTES} bytes ({} lines, {SECRETS} secrets masked), \
         --log-cap {LOG_CAP_MIB}; {runs} runs (+1 warm-up)",
        COPIES * lines_per_copy() as u64
    ));
    let _rt = common::runtime(); // its Ctrl-C handler destroys the sandboxes
    let home = BenchHome::new();
    let free = free_bytes(home.path());
    assert!(
        free >= NEED_FREE,
        "only {} free under {}; the bench needs {}",
        mib(free as f64),
        home.path().display(),
        mib(NEED_FREE as f64)
    );

    let data = generate_data();
    let repo = Repository::new(&[
        (
            LOG_WORKFLOW,
            workflow("for i in $(seq 1024); do cat data.txt; done"),
        ),
        (QUIET_WORKFLOW, workflow("true")),
        (DATA_FILE, data.text.clone()),
    ]);
    let searcher = AhoCorasick::new(&data.secrets).expect("build the secret searcher");
    let secret_args: Vec<String> = data
        .secrets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| ["-s".to_string(), format!("BENCH_SECRET_{k}={s}")])
        .collect();

    run(&home, &repo, QUIET_WORKFLOW, &secret_args);
    remove_run(&home);

    let mut logged = Vec::with_capacity(runs);
    let mut host = Vec::with_capacity(runs);
    let mut quiet = Samples::with_capacity(runs);
    let mut problems = Vec::new();
    let mut check = LogCheck::default();
    for i in 0..runs {
        logged.push(run(&home, &repo, LOG_WORKFLOW, &secret_args));
        let log = remove_run_keeping_log(&home);
        check = check_log(&log, &data, &searcher);
        std::fs::remove_file(&log).unwrap_or_else(|e| panic!("remove {}: {e}", log.display()));
        problems.extend(
            problems_of(&check)
                .into_iter()
                .map(|p| format!("run {i}: {p}")),
        );

        host.push(host_cat(&home, &repo));
        quiet.push(run(&home, &repo, QUIET_WORKFLOW, &secret_args));
        remove_run(&home);
    }

    let (median, best) = rates(&logged);
    let (host_median, host_best) = rates(&host);
    let logged_samples = samples(&logged);
    let host_samples = samples(&host);
    let net: Vec<Duration> = logged
        .iter()
        .map(|t| t.saturating_sub(quiet.p50()))
        .collect();
    let (net_median, net_best) = rates(&net);
    let ok = median >= TARGET_MB_S && problems.is_empty();
    let host_line = format!("host cat {host_median:.0} MB/s");
    let rows = [
        Row::new(
            "sandpit run: step prints 1 GiB, masked, logged",
            format!("{median:.0} MB/s"),
            format!("{best:.0} MB/s"),
            host_line.clone(),
            format!(
                "{:.0}% of host; target ≥ {TARGET_MB_S:.0} MB/s: {}",
                100.0 * median / host_median,
                verdict(median >= TARGET_MB_S)
            ),
        ),
        Row::new(
            "  wall, run start → exit",
            ms(logged_samples.p50()),
            ms(logged_samples.percentile(0.0)),
            format!("host cat {}", ms(host_samples.p50())),
            "",
        ),
        Row::new(
            "  net of the fixed cost: 2^30 / (wall − quiet run)",
            format!("{net_median:.0} MB/s"),
            format!("{net_best:.0} MB/s"),
            host_line,
            format!("{:.0}% of host", 100.0 * net_median / host_median),
        ),
        Row::new(
            "sandpit run: same job, step `true` (fixed cost)",
            ms(quiet.p50()),
            ms(quiet.percentile(0.0)),
            "",
            "",
        ),
        Row::new(
            "host: 1024 × cat data.txt > file, same fs",
            format!("{host_median:.0} MB/s"),
            format!("{host_best:.0} MB/s"),
            "",
            format!("{} p50", ms(host_samples.p50())),
        ),
        Row::new(
            "log check (last run)",
            format!("{} lines", check.lines),
            mib(check.stored_bytes as f64),
            format!("expected {} lines", expected_lines()),
            format!(
                "{} with ***, {} with a secret, {} data lines differ: {}",
                check.lines_with_mask,
                check.lines_with_secret,
                check.wrong_data_lines,
                verdict(problems.is_empty())
            ),
        ),
    ];
    common::print_table_with(
        ["what", "median", "best", "baseline", "ratio/target"],
        &rows,
    );
    for problem in &problems {
        println!("log problem: {problem}");
    }
    println!(
        "verdict: {median:.0} MB/s end to end (2^30 bytes / wall of the whole run), \
         target ≥ {TARGET_MB_S:.0} MB/s, log {}: {}",
        if problems.is_empty() {
            "correct"
        } else {
            "WRONG"
        },
        verdict(ok)
    );
    drop(repo);
    drop(home);
}

/// Runs `sandpit run push -W workflow` with the secrets in `repo` (stdout on `/dev/null`) and
/// returns its wall time; panics unless the job succeeded.
fn run(home: &BenchHome, repo: &Repository, workflow: &str, secrets: &[String]) -> Duration {
    common::time_command(
        home.cli()
            .current_dir(repo.path())
            .args(["run", "push", "-W", workflow])
            .args(["--log-cap", &LOG_CAP_MIB.to_string()])
            .args(secrets)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

/// The loop of the step on the host, into a file beside the state directory (the same
/// filesystem as the job logs), then removed.
fn host_cat(home: &BenchHome, repo: &Repository) -> Duration {
    let out = home.path().join("host-cat.out");
    let t = common::time_command(
        Command::new("sh")
            .current_dir(repo.path())
            .args([
                "-c",
                &format!("for i in $(seq {COPIES}); do cat {DATA_FILE}; done > \"$1\""),
                "sh",
            ])
            .arg(&out)
            .stdin(Stdio::null()),
    );
    let written = std::fs::metadata(&out).map_or(0, |m| m.len());
    assert_eq!(written, BYTES, "the host baseline wrote {written} bytes");
    std::fs::remove_file(&out).unwrap_or_else(|e| panic!("remove {}: {e}", out.display()));
    t
}

/// The only run directory of the state directory (each run's is removed after it).
fn only_run(home: &BenchHome) -> PathBuf {
    let runs = home.path().join("runs");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap_or_else(|e| panic!("list {}: {e}", runs.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [dir] => dir.clone(),
        _ => panic!("expected one run directory in {}: {dirs:?}", runs.display()),
    }
}

/// Removes the only run's directory.
fn remove_run(home: &BenchHome) {
    let dir = only_run(home);
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
}

/// Moves the only run's only job log beside the runs (same filesystem) and removes the rest
/// of the run, so the next run starts from an empty runs directory.
fn remove_run_keeping_log(home: &BenchHome) -> PathBuf {
    let dir = only_run(home);
    let logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    let [log] = logs.as_slice() else {
        panic!("expected one job log in {}: {logs:?}", dir.display())
    };
    let kept = home.path().join("measured.log");
    std::fs::rename(log, &kept).unwrap_or_else(|e| panic!("move {}: {e}", log.display()));
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    kept
}

/// Reads a job log: the header, then stamped lines; each data line must equal its masked
/// original, in order.
fn check_log(path: &Path, data: &Data, secrets: &AhoCorasick) -> LogCheck {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut check = LogCheck::default();
    let mut line = Vec::with_capacity(1 << 10);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        check.stored_bytes += n as u64;
        check.lines += 1;
        if check.lines == 1 {
            assert!(
                line.starts_with(b"# sandpit job log: "),
                "the log does not start with its header: {:?}",
                String::from_utf8_lossy(&line)
            );
            continue;
        }
        let stamped = line.len() > STAMP_LEN
            && line[STAMP_LEN - 2] == b'Z'
            && line[STAMP_LEN - 1] == b' '
            && line[..4].iter().all(u8::is_ascii_digit);
        assert!(
            stamped,
            "line {} has no timestamp: {:?}",
            check.lines,
            String::from_utf8_lossy(&line)
        );
        let body = &line[STAMP_LEN..];
        if secrets.is_match(body) {
            check.lines_with_secret += 1;
        }
        if memchr::memmem::find(body, MASK).is_some() {
            check.lines_with_mask += 1;
        }
        if is_data_line(body) {
            let expected =
                &data.masked_lines[(check.data_lines % data.masked_lines.len() as u64) as usize];
            if body != expected.as_slice() {
                check.wrong_data_lines += 1;
            }
            check.data_lines += 1;
        }
    }
    check
}

/// What is wrong with a checked log, if anything.
fn problems_of(check: &LogCheck) -> Vec<String> {
    let mut problems = Vec::new();
    let data_lines = COPIES * lines_per_copy() as u64;
    if check.lines != expected_lines() {
        problems.push(format!(
            "{} lines, expected {} (header, 2 step lines, {data_lines} data lines)",
            check.lines,
            expected_lines()
        ));
    }
    if check.data_lines != data_lines {
        problems.push(format!(
            "{} data lines, expected {data_lines}",
            check.data_lines
        ));
    }
    if check.wrong_data_lines > 0 {
        problems.push(format!(
            "{} data lines differ from the masked data",
            check.wrong_data_lines
        ));
    }
    if check.lines_with_secret > 0 {
        problems.push(format!(
            "{} lines hold a secret value",
            check.lines_with_secret
        ));
    }
    let masked = COPIES * lines_per_copy().div_ceil(SECRET_EVERY) as u64;
    if check.lines_with_mask != masked {
        problems.push(format!(
            "{} lines hold ***, expected {masked}",
            check.lines_with_mask
        ));
    }
    problems
}

/// The stored lines of a correct log: the header, `step: …` and `success: …`, and the data.
fn expected_lines() -> u64 {
    3 + COPIES * lines_per_copy() as u64
}

/// Lines of `data.txt`.
fn lines_per_copy() -> usize {
    DATA_BYTES.div_ceil(LINE_BYTES)
}

/// A data line starts with `d` and its five-digit number.
fn is_data_line(body: &[u8]) -> bool {
    body.len() > 6 && body[0] == b'd' && body[1..6].iter().all(u8::is_ascii_digit)
}

/// `data.txt`: exactly [`DATA_BYTES`] of lines `dNNNNN value=SECRET …filler` (a secret every
/// [`SECRET_EVERY`] lines, cycling through them) or `dNNNNN plain …filler`. Secrets are
/// `QSEC<k>Z` and eight hex digits: the filler is lowercase without `q`, so no secret is
/// part of another, nor of the filler.
fn generate_data() -> Data {
    let secrets: Vec<String> = (0..SECRETS)
        .map(|k| format!("QSEC{k}Z{:08x}", (k as u32 + 1).wrapping_mul(0x9e37_79b9)))
        .collect();
    const FILLER: &[u8] = b"the lazy brown dog jumps over a sleepy fox while it rains ";
    let mut text = Vec::with_capacity(DATA_BYTES);
    let mut masked_lines = Vec::with_capacity(lines_per_copy());
    for n in 0..lines_per_copy() {
        let len = LINE_BYTES.min(DATA_BYTES - text.len());
        let secret = (n % SECRET_EVERY == 0).then(|| &secrets[(n / SECRET_EVERY) % SECRETS]);
        let head = match secret {
            Some(s) => format!("d{n:05} value={s} "),
            None => format!("d{n:05} plain "),
        };
        let mut line = head.into_bytes();
        let mut i = 0;
        while line.len() < len - 1 {
            line.push(FILLER[i % FILLER.len()]);
            i += 1;
        }
        line.push(b'\n');
        assert_eq!(line.len(), len);
        text.extend_from_slice(&line);
        let masked = match secret {
            Some(s) => String::from_utf8_lossy(&line)
                .replace(s.as_str(), "***")
                .into_bytes(),
            None => line,
        };
        masked_lines.push(masked);
    }
    assert_eq!(text.len(), DATA_BYTES);
    Data {
        text,
        masked_lines,
        secrets,
    }
}

/// One job `log` with one step running `script`.
fn workflow(script: &str) -> Vec<u8> {
    format!(
        "name: log\non: push\njobs:\n  log:\n    runs-on: ubuntu-latest\n    steps:\n      \
         - name: print\n        run: |\n          {script}\n"
    )
    .into_bytes()
}

/// Bytes free under `path` (for root, who may also use the reserved blocks, a lower bound).
fn free_bytes(path: &Path) -> u64 {
    let stat = nix::sys::statvfs::statvfs(path)
        .unwrap_or_else(|e| panic!("statvfs {}: {e}", path.display()));
    stat.blocks_available() * stat.fragment_size()
}

/// Samples of timings.
fn samples(timings: &[Duration]) -> Samples {
    let mut s = Samples::with_capacity(timings.len());
    for t in timings {
        s.push(*t);
    }
    s
}

/// Median and best throughput in MB/s of timings of [`BYTES`].
fn rates(timings: &[Duration]) -> (f64, f64) {
    let mut rates: Vec<f64> = timings
        .iter()
        .map(|d| BYTES as f64 / d.as_secs_f64() / 1e6)
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = common::nearest_rank(&rates, 50.0).copied().unwrap_or(0.0);
    let best = rates.last().copied().unwrap_or(0.0);
    (median, best)
}
