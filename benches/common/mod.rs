//! Shared pieces of the benchmarks (each bench is its own crate and includes this module):
//! a private state directory that removes every sandbox it made when dropped (also while
//! unwinding from a panic, and on Ctrl-C), sample statistics, baselines and the result table.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sandpit::sandbox::{Sandbox, SandboxOptions, Sandboxes, SandboxesConfig};

/// The sandpit binary built with the benchmarks (also the sandboxes' init program).
pub const SANDPIT: &str = env!("CARGO_BIN_EXE_sandpit");

/// State directories still to clean up, for the Ctrl-C handler.
static HOMES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A private state directory under `/tmp` and the SDK opened on it.
pub struct BenchHome {
    dir: tempfile::TempDir,
    /// The SDK on this state directory.
    pub sandboxes: Sandboxes,
}

impl BenchHome {
    /// Creates `/tmp/spb-XXXXXX` (short: agent socket paths must stay under 108 bytes).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spb-")
            .tempdir_in("/tmp")
            .expect("create a temporary state directory under /tmp");
        let sandboxes = Sandboxes::open(SandboxesConfig {
            home: dir.path().to_path_buf(),
            init_program: PathBuf::from(SANDPIT),
        })
        .expect("open the state directory (benchmarks run as root)");
        HOMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.path().to_path_buf());
        Self { dir, sandboxes }
    }

    /// The state directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `sandpit` with this state directory.
    pub fn cli(&self) -> Command {
        cli(self.path())
    }

    /// The recorded JSON of sandbox `id` (`<home>/sandboxes/<id>/record.json`).
    pub fn record(&self, id: &str) -> serde_json::Value {
        let path = self.path().join("sandboxes").join(id).join("record.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read the sandbox record {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("parse the sandbox record {}: {e}", path.display()))
    }

    /// The agent log of sandbox `id` (the guard removes it, so read it while it is there).
    pub fn agent_log(&self, id: &str) -> String {
        let log = self.path().join("sandboxes").join(id).join("agent.log");
        std::fs::read_to_string(&log).unwrap_or_else(|e| format!("({}: {e})", log.display()))
    }

    /// Panics with `what` failed for sandbox `id`, quoting the sandbox's agent log.
    pub fn fail(&self, id: &str, what: &str, error: impl std::fmt::Display) -> ! {
        panic!(
            "{what} sandbox {id}: {error}\n--- agent log ---\n{}",
            self.agent_log(id)
        )
    }
}

/// Sandbox creations that failed and were retried, so that a rare failure is reported without
/// losing the run's numbers.
#[derive(Debug, Default)]
pub struct Creates {
    attempts: usize,
    failures: Vec<String>,
}

impl Creates {
    /// Retries per sandbox before giving up.
    const RETRIES: usize = 3;

    /// Creates sandbox `id` (retried as `id-rN` after a failure) and returns it with the time
    /// its successful attempt took.
    pub async fn create(
        &mut self,
        home: &BenchHome,
        id: &str,
        options: &SandboxOptions,
    ) -> (Duration, Sandbox) {
        for attempt in 0..=Self::RETRIES {
            let id = match attempt {
                0 => id.to_string(),
                n => format!("{id}-r{n}"),
            };
            self.attempts += 1;
            let (t, created) = timed(home.sandboxes.get(&id, options.clone())).await;
            match created {
                Ok(sandbox) => return (t, sandbox),
                Err(e) => self.failures.push(format!(
                    "{id}: {e}\n  agent log: {}",
                    home.agent_log(&id).trim_end().replace('\n', "\n  ")
                )),
            }
        }
        panic!(
            "creating sandbox {id} failed {} times:\n{}",
            Self::RETRIES + 1,
            self.failures.join("\n")
        )
    }

    /// A table row: how many creations failed.
    pub fn row(&self) -> Row {
        Row::new(
            "create failures (retried)",
            self.failures.len().to_string(),
            "-",
            "",
            format!(
                "{} of {} creations failed: {}",
                self.failures.len(),
                self.attempts,
                verdict(self.failures.is_empty())
            ),
        )
    }

    /// Prints every failure (after the table).
    pub fn print_failures(&self) {
        for failure in &self.failures {
            println!("create failure: {failure}");
        }
    }
}

impl Drop for BenchHome {
    fn drop(&mut self) {
        // Synchronous on purpose: this also runs while unwinding from a panic.
        clean_up(self.path());
        HOMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != self.path());
    }
}

fn cli(home: &Path) -> Command {
    let mut cmd = Command::new(SANDPIT);
    cmd.env("SANDPIT_HOME", home);
    cmd
}

/// Destroys every sandbox of `home` and whatever a crash left there.
fn clean_up(home: &Path) {
    let quiet = |mut cmd: Command| {
        let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    let mut destroy = cli(home);
    destroy.args(["sandbox", "destroy", "--all"]);
    quiet(destroy);
    let mut prune = cli(home);
    prune.args(["sandbox", "prune"]);
    quiet(prune);
}

/// A count from the environment variable `name` (to shorten a run), or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running keep-alive sandbox `id` in `home`, for benches that measure one warm sandbox.
pub fn running_sandbox(
    rt: &tokio::runtime::Runtime,
    home: &BenchHome,
    id: &str,
) -> sandpit::sandbox::Sandbox {
    let options = sandpit::sandbox::SandboxOptions {
        keep_alive: true,
        ..Default::default()
    };
    rt.block_on(home.sandboxes.get(id, options))
        .unwrap_or_else(|e| home.fail(id, "create the sandbox", sandpit::error_chain(&e)))
}

/// The multi-threaded runtime the benchmarks drive the SDK with (two workers, like the CLI),
/// with a Ctrl-C handler that destroys every sandbox of every open [`BenchHome`] and exits.
pub fn runtime() -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    rt.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: destroying the benchmark's sandboxes");
            let homes = HOMES.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for home in homes {
                clean_up(&home);
                let _ = std::fs::remove_dir_all(&home);
            }
            std::process::exit(130);
        }
    });
    rt
}

/// Prints what the numbers depend on: the load of this (shared, noisy) machine.
pub fn print_header(title: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\n== {title} ==");
    println!(
        "host: {cpus} cpus, loadavg {} | sandpit: {SANDPIT}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Times one future.
pub async fn timed<T>(f: impl std::future::Future<Output = T>) -> (Duration, T) {
    let start = Instant::now();
    let out = f.await;
    (start.elapsed(), out)
}

/// Runs `cmd` to completion and returns how long that took; panics if it fails.
pub fn time_command(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("spawn baseline {cmd:?}: {e}"));
    let elapsed = start.elapsed();
    assert!(status.success(), "baseline {cmd:?} failed: {status}");
    elapsed
}

/// Plain fork/exec of `/bin/true` on the host, output discarded.
pub fn host_true() -> Command {
    let mut cmd = Command::new("/bin/true");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Whether `bwrap` can be run.
pub fn bwrap_available() -> bool {
    Command::new("bwrap")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A set of timings.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Adds one sample.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `p`-th percentile (0-100, nearest rank); zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        nearest_rank(&sorted, p).copied().unwrap_or_default()
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 95th percentile.
    pub fn p95(&self) -> Duration {
        self.percentile(95.0)
    }
}

/// Nearest-rank percentile of sorted values.
pub fn nearest_rank<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1)
}

/// A duration in milliseconds, e.g. `1.234 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A byte count in MiB, e.g. `3.21 MiB`.
pub fn mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / f64::from(1u32 << 20))
}

/// `PASS` or `MISS`.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// One line of a result table.
pub struct Row {
    what: String,
    p50: String,
    p95: String,
    baseline: String,
    note: String,
}

impl Row {
    /// A row: what was measured, its median and 95th percentile, the baseline it compares
    /// with, and the ratio and/or target verdict.
    pub fn new(
        what: impl Into<String>,
        p50: impl Into<String>,
        p95: impl Into<String>,
        baseline: impl Into<String>,
        note: impl Into<String>,
    ) -> Self {
        Self {
            what: what.into(),
            p50: p50.into(),
            p95: p95.into(),
            baseline: baseline.into(),
            note: note.into(),
        }
    }
}

/// Prints `rows` as a compact `what | p50 | p95 | baseline | ratio/target` table.
pub fn print_table(rows: &[Row]) {
    print_table_with(["what", "p50", "p95", "baseline", "ratio/target"], rows);
}

/// Prints `rows` as a compact table under other column names (e.g. `median` and `best` for
/// throughputs over a few runs).
pub fn print_table_with(columns: [&str; 5], rows: &[Row]) {
    let [what, p50, p95, baseline, note] = columns;
    let header = Row::new(what, p50, p95, baseline, note);
    let cells = |r: &Row| {
        [
            r.what.clone(),
            r.p50.clone(),
            r.p95.clone(),
            r.baseline.clone(),
            r.note.clone(),
        ]
    };
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(rows) {
        for (w, c) in widths.iter_mut().zip(cells(row)) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |r: &Row| {
        let c = cells(r);
        format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {:<w3$} | {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )
    };
    println!("{}", line(&header));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-")
    );
    for row in rows {
        println!("{}", line(row));
    }
}

/// A git repository in a temporary directory under `/tmp`: the given files, one commit on
/// `main` (what `sandpit run` expects of a repository).
pub struct Repository {
    dir: tempfile::TempDir,
}

impl Repository {
    /// Writes `files` (name, contents) and commits them.
    pub fn new<B: AsRef<[u8]>>(files: &[(&str, B)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spb-repo-")
            .tempdir_in("/tmp")
            .expect("create the repository directory");
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes)
                .unwrap_or_else(|e| panic!("write {name}: {e}"));
        }
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["add", "."]);
        let identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"];
        let mut commit = identity.to_vec();
        commit.extend(["commit", "-q", "-m", "bench"]);
        git(dir.path(), &commit);
        Self { dir }
    }

    /// The repository's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `git ARGS` in `dir`; panics if it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("spawn git {args:?}: {e}"));
    assert!(status.success(), "git {args:?} failed: {status}");
}
