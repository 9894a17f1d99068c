//! `sandpit run` end to end: a real process runs a temporary git repository's workflows, each
//! job in its own sandbox, and the tests read its `--json` event stream, its exit code, its job
//! logs and the repository afterwards. Every test has its own state directory and checks at its
//! end that no sandbox was left behind.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestHome, SANDPIT};
use serde_json::Value;

/// Hang guard for one `sandpit run`: far above what any test needs.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// A repository to run

/// A temporary git repository on `main` with one commit holding `workflows` (file name, YAML)
/// under `.github/workflows/` and `files` (path, contents), and the remote
/// `origin = https://github.com/o/r.git`.
fn repo(workflows: &[(&str, &str)], files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sandpit-run-repo-")
        .tempdir()
        .expect("create a temporary repository");
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    for (name, text) in workflows {
        write(d, &format!(".github/workflows/{name}"), text);
    }
    for (path, text) in files {
        write(d, path, text);
    }
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "first"]);
    git(
        d,
        &["remote", "add", "origin", "https://github.com/o/r.git"],
    );
    dir
}

/// A repository with the single workflow `ci.yml`.
fn repo_with(workflow: &str) -> tempfile::TempDir {
    repo(&[("ci.yml", workflow)], &[])
}

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null());
    cmd
}

fn git(dir: &Path, args: &[&str]) {
    let out = git_command(dir, args)
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `git args` in `dir`, its stdout trimmed.
fn git_output(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args)
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Running sandpit

/// A finished `sandpit run --json`.
struct Run {
    /// The exit code (`None`: killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The NDJSON events of stdout, in order.
    events: Vec<Value>,
    /// From the start of the process to its exit.
    elapsed: Duration,
}

/// Runs `sandpit run --json -C repo ARGS` with `home`'s state directory to its end.
fn run(home: &TestHome, repo: &Path, args: &[&str]) -> Run {
    run_watching(home, repo, args, |_, _| {})
}

/// Like [`run`], calling `watch(event, pid)` for each event as it arrives on stdout, so a test
/// can act (send a signal) at a precise moment of the run.
fn run_watching(
    home: &TestHome,
    repo: &Path,
    args: &[&str],
    mut watch: impl FnMut(&Value, i32),
) -> Run {
    let start = Instant::now();
    let mut child = home
        .cli()
        .arg("run")
        .arg("--json")
        .arg("-C")
        .arg(repo)
        .args(args)
        .current_dir(home.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {SANDPIT} run {args:?}: {e}"));
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");

    // Hang guard: kills sandpit once the deadline passes, unless told that the run ended.
    // The pid stays reserved until `wait` below, which runs only after `done` was sent.
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = finished.recv_timeout(RUN_DEADLINE).is_err();
        if timed_out {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        timed_out
    });

    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });

    let mut stdout = String::new();
    let mut events = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .expect("read sandpit's stdout");
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Ok(event) = serde_json::from_str::<Value>(text.trim_end()) {
            watch(&event, pid);
            events.push(event);
        }
        stdout.push_str(&text);
    }

    let _ = done.send(());
    let status = child.wait().expect("wait for sandpit");
    let elapsed = start.elapsed();
    let timed_out = watchdog.join().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(
        !timed_out,
        "sandpit run {args:?} did not end within {RUN_DEADLINE:?}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
        tail(&stdout)
    );
    Run {
        code: status.code(),
        stdout,
        stderr,
        events,
        elapsed,
    }
}

/// The last few KiB of `text`, for failure messages about runs with a lot of output.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(8 * 1024);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Run {
    /// stdout and stderr, for failure messages.
    fn report(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.elapsed,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n{}",
            self.report()
        );
    }

    /// The events of kind `kind`, in order.
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }

    /// The events of kind `kind` about the job instance named `job`, in order.
    fn of_job(&self, kind: &str, job: &str) -> Vec<&Value> {
        self.of_kind(kind)
            .into_iter()
            .filter(|e| e["job"]["name"] == job)
            .collect()
    }

    /// The one `job_finished` event of the job instance named `job`.
    fn job(&self, job: &str) -> &Value {
        let finished = self.of_job("job_finished", job);
        assert_eq!(
            finished.len(),
            1,
            "expected one job_finished for {job:?}\n{}",
            self.report()
        );
        finished[0]
    }

    /// The result of the job instance named `job`.
    fn result(&self, job: &str) -> &str {
        self.job(job)["result"]
            .as_str()
            .unwrap_or_else(|| panic!("job_finished of {job:?} has no result\n{}", self.report()))
    }

    /// The result of the whole run, from `run_finished`.
    fn run_result(&self) -> &str {
        let finished = self.of_kind("run_finished");
        assert_eq!(
            finished.len(),
            1,
            "expected one run_finished\n{}",
            self.report()
        );
        finished[0]["result"].as_str().unwrap()
    }

    /// Everything the job instance named `job` printed, from its `output` events.
    fn output(&self, job: &str) -> String {
        self.of_job("output", job)
            .into_iter()
            .map(|e| e["text"].as_str().unwrap_or_default())
            .collect()
    }

    /// Asserts that the job instance named `job` printed `text`.
    fn assert_output(&self, job: &str, text: &str) {
        assert!(
            self.output(job).contains(text),
            "{job:?} did not print {text:?}\n{}",
            self.report()
        );
    }

    /// The `step_finished` event of the step named `step` of the job instance named `job`.
    fn step(&self, job: &str, step: &str) -> &Value {
        self.of_job("step_finished", job)
            .into_iter()
            .find(|e| e["name"] == step)
            .unwrap_or_else(|| panic!("no step_finished for {job:?} / {step:?}\n{}", self.report()))
    }

    /// Whether the step named `step` of the job instance named `job` started.
    fn step_started(&self, job: &str, step: &str) -> bool {
        self.of_job("step_started", job)
            .iter()
            .any(|e| e["name"] == step)
    }

    /// The names of the job instances of the job with id `id`, sorted.
    fn instances(&self, id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .of_kind("job_finished")
            .into_iter()
            .filter(|e| e["job"]["id"] == id)
            .map(|e| e["job"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// The contents of the stored log of the job instance named `job`.
    fn log(&self, job: &str) -> String {
        let path = self.log_path(job);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read the log {}: {e}", path.display()))
    }

    fn log_path(&self, job: &str) -> PathBuf {
        let path = self.job(job)["log"]
            .as_str()
            .unwrap_or_else(|| panic!("job_finished of {job:?} names no log\n{}", self.report()));
        PathBuf::from(path)
    }
}

/// The sandboxes of `home` that `sandpit sandbox list` shows, as ids.
fn sandboxes(home: &TestHome) -> Vec<String> {
    let out = home
        .cli()
        .args(["sandbox", "list"])
        .output()
        .expect("run sandpit sandbox list");
    assert!(out.status.success(), "sandpit sandbox list failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1) // the header
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn assert_no_sandbox_left(home: &TestHome) {
    let left = sandboxes(home);
    assert!(left.is_empty(), "sandboxes left behind: {left:?}");
}

/// The `key=value` lines of `text` whose line starts with `prefix`, as a map (without the
/// prefix).
fn values(text: &str, prefix: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Step and job results

#[test]
fn failing_step_fails_the_job_and_the_run() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: first
        run: echo first-ran
      - name: breaks
        run: exit 3
      - name: later
        run: echo later-ran
      - name: on failure
        if: failure()
        run: echo on-failure-ran
      - name: on success
        if: success()
        run: echo on-success-ran
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(1);
    assert_eq!(run.result("build"), "failure");
    assert_eq!(run.run_result(), "failure");
    assert_eq!(run.step("build", "breaks")["outcome"], "failure");
    assert_eq!(run.step("build", "breaks")["conclusion"], "failure");
    assert_eq!(run.step("build", "later")["conclusion"], "skipped");
    assert_eq!(run.step("build", "on success")["conclusion"], "skipped");
    assert_eq!(run.step("build", "on failure")["conclusion"], "success");
    let output = run.output("build");
    assert!(output.contains("first-ran"), "{}", run.report());
    assert!(output.contains("on-failure-ran"), "{}", run.report());
    assert!(!output.contains("later-ran"), "{}", run.report());
    assert!(!output.contains("on-success-ran"), "{}", run.report());
    assert_no_sandbox_left(&home);
}

#[test]
fn continue_on_error_step_keeps_the_job_green() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: allowed to fail
        id: flaky
        continue-on-error: true
        run: exit 4
      - name: after
        run: |
          echo 'after: ${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}'
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    assert_eq!(run.result("build"), "success");
    assert_eq!(run.run_result(), "success");
    let flaky = run.step("build", "allowed to fail");
    assert_eq!(flaky["outcome"], "failure");
    assert_eq!(flaky["conclusion"], "success");
    assert_eq!(run.step("build", "after")["conclusion"], "success");
    run.assert_output("build", "after: failure/success");
    assert_no_sandbox_left(&home);
}

#[test]
fn continue_on_error_job_keeps_the_run_green() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  experimental:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: exit 1
  stable:
    runs-on: ubuntu-latest
    steps:
      - run: echo stable-ran
  after:
    needs: experimental
    runs-on: ubuntu-latest
    steps:
      - run: echo after-ran
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    assert_eq!(run.run_result(), "success");
    assert_eq!(run.result("stable"), "success");
    assert_eq!(run.result("after"), "success");
    run.assert_output("after", "after-ran");
    assert_no_sandbox_left(&home);
}

#[test]
fn status_functions_over_the_dependency_chain() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: echo b-ran
  c-on-failure:
    needs: b
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo 'c-on-failure b=${{ needs.b.result }}'
  c-default:
    needs: b
    runs-on: ubuntu-latest
    steps:
      - run: echo c-default-ran
  c-always:
    needs: [a, b]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo 'c-always a=${{ needs.a.result }} b=${{ needs.b.result }}'
  c-on-success:
    needs: [a, b]
    if: success()
    runs-on: ubuntu-latest
    steps:
      - run: echo c-on-success-ran
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(1);
    assert_eq!(run.result("a"), "failure");
    assert_eq!(run.result("b"), "skipped");
    assert_eq!(run.result("c-on-failure"), "success");
    assert_eq!(run.result("c-default"), "skipped");
    assert_eq!(run.result("c-always"), "success");
    assert_eq!(run.result("c-on-success"), "skipped");
    assert!(
        run.output("c-on-failure")
            .contains("c-on-failure b=skipped"),
        "{}",
        run.report()
    );
    assert!(
        run.output("c-always")
            .contains("c-always a=failure b=skipped"),
        "{}",
        run.report()
    );
    assert_eq!(run.output("b"), "");
    assert_eq!(run.output("c-default"), "");
    assert_eq!(run.of_job("job_started", "c-default").len(), 0);
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Data between jobs

#[test]
fn job_outputs_flow_to_dependent_jobs() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  produce:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.make.outputs.greeting }}
      lines: ${{ steps.make.outputs.lines }}
    steps:
      - id: make
        run: |
          echo 'greeting=hello from produce' >> \"$GITHUB_OUTPUT\"
          { echo 'lines<<END'; echo one; echo two; echo END; } >> \"$GITHUB_OUTPUT\"
  consume:
    needs: produce
    runs-on: ubuntu-latest
    steps:
      - env:
          LINES: ${{ needs.produce.outputs.lines }}
        run: |
          echo 'got: ${{ needs.produce.outputs.greeting }}'
          printf 'lines: %s\\n' \"$(printf '%s' \"$LINES\" | tr '\\n' '+')\"
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    let outputs = &run.job("produce")["outputs"];
    assert_eq!(
        outputs["greeting"],
        "hello from produce",
        "{}",
        run.report()
    );
    assert_eq!(outputs["lines"], "one\ntwo", "{}", run.report());
    let consumed = run.output("consume");
    assert!(
        consumed.contains("got: hello from produce\n"),
        "{}",
        run.report()
    );
    assert!(consumed.contains("lines: one+two\n"), "{}", run.report());
    assert_no_sandbox_left(&home);
}

#[test]
fn dynamic_matrix_expands_from_job_outputs() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.m.outputs.matrix }}
    steps:
      - id: m
        run: echo 'matrix={\"flavour\":[\"alpha\",\"beta\",\"gamma\"]}' >> \"$GITHUB_OUTPUT\"
  build:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}
    steps:
      - run: echo 'flavour=${{ matrix.flavour }}'
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    assert_eq!(
        run.instances("build"),
        ["build (alpha)", "build (beta)", "build (gamma)"],
        "{}",
        run.report()
    );
    for flavour in ["alpha", "beta", "gamma"] {
        let name = format!("build ({flavour})");
        assert_eq!(run.result(&name), "success");
        assert_eq!(
            run.output(&name),
            format!("flavour={flavour}\n"),
            "{}",
            run.report()
        );
    }
    assert_no_sandbox_left(&home);
}

#[test]
fn fail_fast_cancels_the_running_siblings() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        kind: [quick-failure, slow]
    steps:
      - name: work
        run: |
          # Fail once the sibling is surely running (its sandbox starts in milliseconds).
          if [ '${{ matrix.kind }}' = quick-failure ]; then sleep 2; exit 1; fi
          echo slow-started
          sleep 60
          echo slow-finished
",
    );
    let run = run(&home, repo.path(), &["--jobs", "2"]);
    // The sibling was running when it was cancelled: its step started and was stopped.
    run.assert_output("test (slow)", "slow-started");
    assert_eq!(run.step("test (slow)", "work")["outcome"], "cancelled");

    run.assert_exit(1);
    assert!(
        run.elapsed < Duration::from_secs(30),
        "the slow sibling was not cancelled: the run took {:?}\n{}",
        run.elapsed,
        run.report()
    );
    assert_eq!(run.result("test (quick-failure)"), "failure");
    assert_eq!(run.result("test (slow)"), "cancelled", "{}", run.report());
    assert!(!run.output("test (slow)").contains("slow-finished"));
    assert_no_sandbox_left(&home);
}

#[test]
fn fail_fast_false_lets_siblings_finish() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        kind: [quick-failure, slow]
    steps:
      - name: work
        run: |
          if [ '${{ matrix.kind }}' = quick-failure ]; then exit 1; fi
          sleep 1
          echo slow-finished
",
    );
    let run = run(&home, repo.path(), &["--jobs", "2"]);

    run.assert_exit(1);
    assert_eq!(run.result("test (quick-failure)"), "failure");
    assert_eq!(run.result("test (slow)"), "success", "{}", run.report());
    run.assert_output("test (slow)", "slow-finished");
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Stopping steps and runs

#[test]
fn step_timeout_stops_the_step_and_fails_it() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: too slow
        timeout-minutes: 0.05
        run: sleep 600
      - name: cleanup
        if: always()
        run: echo cleanup-ran
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(1);
    assert!(
        run.elapsed < Duration::from_secs(30),
        "the step was not stopped: the run took {:?}\n{}",
        run.elapsed,
        run.report()
    );
    let slow = run.step("build", "too slow");
    assert_eq!(slow["conclusion"], "failure", "{}", run.report());
    let message = slow["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("timed out"),
        "message: {message:?}\n{}",
        run.report()
    );
    assert_eq!(run.step("build", "cleanup")["conclusion"], "success");
    run.assert_output("build", "cleanup-ran");
    assert_eq!(run.result("build"), "failure");
    assert_no_sandbox_left(&home);
}

#[test]
fn sigint_cancels_the_run_runs_always_steps_and_destroys_sandboxes() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - name: wait
        run: |
          trap 'echo trap-saw-sigint; exit 130' INT
          echo ready-for-sigint
          sleep 600 &
          wait
          echo wait-returned-without-signal
      - name: next
        run: echo next-ran
      - name: cleanup
        if: always()
        run: echo cleanup-ran
",
    );
    let mut sent = None;
    let run = run_watching(&home, repo.path(), &[], |event, pid| {
        let ready = event["event"] == "output"
            && event["text"]
                .as_str()
                .is_some_and(|t| t.contains("ready-for-sigint"));
        if ready && sent.is_none() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            )
            .expect("send SIGINT to sandpit");
            sent = Some(Instant::now());
        }
    });

    assert!(
        sent.is_some(),
        "the step never printed its marker\n{}",
        run.report()
    );
    run.assert_exit(130);
    let output = run.output("long");
    assert!(
        output.contains("trap-saw-sigint"),
        "the step did not get SIGINT\n{}",
        run.report()
    );
    assert!(!output.contains("wait-returned-without-signal"));
    assert!(!output.contains("next-ran"), "{}", run.report());
    assert!(!run.step_started("long", "next"), "{}", run.report());
    assert_eq!(
        run.step("long", "wait")["conclusion"],
        "cancelled",
        "{}",
        run.report()
    );
    assert!(output.contains("cleanup-ran"), "{}", run.report());
    assert_eq!(run.result("long"), "cancelled");
    assert_eq!(run.run_result(), "cancelled");
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn secret_written_in_pieces_is_masked() {
    let home = TestHome::new();
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("secrets.env");
    std::fs::write(
        &secret_file,
        "MULTI=\"first-multi-line-aaaa\\nsecond-multi-line-bbbb\"\n",
    )
    .unwrap();
    let repo = repo_with(
        "\
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    steps:
      - name: pieces
        env:
          TOKEN: ${{ secrets.TOKEN }}
        run: |
          printf 'whole: %s\\n' \"$TOKEN\"
          printf 'pieces: s3cr3t'
          sleep 0.2
          printf -- '-in-pie'
          sleep 0.2
          printf 'ces-xyzzy'
          printf ' end\\n'
          printf 's3cr3t-in-'
          sleep 0.2
          printf 'pieces-xyzzy at the start of a line\\n'
          printf 'unterminated: s3cr3t-in-pi'
          sleep 0.2
          printf 'eces-xyzzy'
      - name: multi-line
        env:
          MULTI: ${{ secrets.MULTI }}
        run: |
          printf 'multi: %s\\n' \"$MULTI\"
          printf '%s\\n' \"$MULTI\" | tail -n 1 | sed 's/^/second alone: /'
      - name: add-mask
        run: |
          value=\"$(printf '%s-%s' runtime-added masked-qqqq)\"
          echo \"::add-mask::$value\"
          echo \"later: $value\"
      - name: after add-mask
        run: |
          echo \"next step: $(printf '%s-%s' runtime-added masked-qqqq)\"
",
    );
    let secret_arg = format!("--secret-file={}", secret_file.display());
    let run = run(
        &home,
        repo.path(),
        &["-s", "TOKEN=s3cr3t-in-pieces-xyzzy", &secret_arg],
    );

    run.assert_exit(0);
    let log = run.log("leak");
    for (place, text) in [("stdout", &run.stdout), ("the job log", &log)] {
        for secret in [
            "s3cr3t-in-pieces-xyzzy",
            "first-multi-line-aaaa",
            "second-multi-line-bbbb",
            "runtime-added-masked-qqqq",
        ] {
            assert!(
                !text.contains(secret),
                "{place} shows {secret:?}:\n{}",
                tail(text)
            );
        }
        for masked in [
            "whole: ***",
            "pieces: *** end",
            "*** at the start of a line",
            "unterminated: ***",
            "second alone: ***",
            "later: ***",
            "next step: ***",
        ] {
            assert!(
                text.contains(masked),
                "{place} lacks {masked:?}:\n{}",
                tail(text)
            );
        }
    }
    assert_no_sandbox_left(&home);
}

#[test]
fn unknown_secret_env_is_a_usage_error() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo should-not-run
",
    );
    let name = "SANDPIT_TEST_SECRET_THAT_IS_NOT_SET";
    let out = home
        .cli()
        .args(["run", "-s", name, "-C"])
        .arg(repo.path())
        .env_remove(name)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run sandpit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(name),
        "stderr does not name the secret:\n{stderr}"
    );
    assert!(!stdout.contains("should-not-run"), "{stdout}");
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Actions

#[test]
fn composite_action_inputs_defaults_outputs_and_nesting() {
    let home = TestHome::new();
    let shout = "\
name: shout
inputs:
  text:
    required: true
  suffix:
    default: '!!'
outputs:
  loud:
    value: ${{ steps.up.outputs.loud }}
runs:
  using: composite
  steps:
    - id: up
      shell: bash
      run: echo \"loud=$(printf '%s' '${{ inputs.text }}' | tr a-z A-Z)${{ inputs.suffix }}\" >> \"$GITHUB_OUTPUT\"
";
    let greet = "\
name: greet
inputs:
  who:
    default: world
outputs:
  greeting:
    value: ${{ steps.shout.outputs.loud }}
runs:
  using: composite
  steps:
    - id: shout
      uses: ./actions/shout
      with:
        text: hello ${{ inputs.who }}
    - shell: bash
      run: |
        echo 'inside greet: ${{ steps.shout.outputs.loud }}'
";
    let repo = repo(
        &[(
            "ci.yml",
            "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: default
        uses: ./actions/greet
      - id: named
        uses: ./actions/greet
        with:
          who: sandpit
      - name: read
        run: |
          echo 'default: ${{ steps.default.outputs.greeting }}'
          echo 'named: ${{ steps.named.outputs.greeting }}'
",
        )],
        &[
            ("actions/shout/action.yml", shout),
            ("actions/greet/action.yml", greet),
        ],
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    let output = run.output("build");
    for line in [
        "inside greet: HELLO WORLD!!\n",
        "inside greet: HELLO SANDPIT!!\n",
        "default: HELLO WORLD!!\n",
        "named: HELLO SANDPIT!!\n",
    ] {
        assert!(output.contains(line), "missing {line:?}\n{}", run.report());
    }
    assert_no_sandbox_left(&home);
}

#[test]
fn remote_action_fails_the_job_with_a_clear_message() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: remote
        uses: someone/else@v1
      - name: after
        run: echo after-ran
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(1);
    assert_eq!(run.result("build"), "failure");
    let remote = run.step("build", "remote");
    assert_eq!(remote["conclusion"], "failure");
    let message = remote["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not supported") && message.contains("someone/else@v1"),
        "message: {message:?}\n{}",
        run.report()
    );
    assert_eq!(run.step("build", "after")["conclusion"], "skipped");
    assert_no_sandbox_left(&home);
}

#[test]
fn remote_action_warning_is_printed_once() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: someone/else@v1
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(1);
    let warnings = run.stderr.matches("is a remote action").count();
    assert_eq!(
        warnings,
        1,
        "the warning is not printed exactly once\n{}",
        run.report()
    );
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Logs

#[test]
fn log_cap_keeps_head_and_tail() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  noisy:
    runs-on: ubuntu-latest
    steps:
      - run: seq 1 250000 | sed 's/^/numbered-line-/'
",
    );
    let run = run(&home, repo.path(), &["--log-cap", "1"]);

    run.assert_exit(0);
    let path = run.log_path("noisy");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size <= 1_258_291, // 1.2 MiB
        "the log {} has {size} bytes despite --log-cap 1",
        path.display()
    );
    let log = run.log("noisy");
    let lines: Vec<&str> = log.lines().collect();
    let has = |wanted: &str| lines.iter().any(|l| l.ends_with(&format!(" {wanted}")));
    assert!(has("numbered-line-1"), "the first line is missing");
    assert!(has("numbered-line-250000"), "the last line is missing");
    assert!(
        !has("numbered-line-125000"),
        "the middle was kept: the cap did not drop anything"
    );
    assert!(
        log.contains("dropped"),
        "no marker says where lines were dropped"
    );
    assert_no_sandbox_left(&home);
}

/// `sandpit logs ARGS` in `home`: (exit code, stdout, stderr).
fn logs(home: &TestHome, args: &[&str]) -> (Option<i32>, String, String) {
    let out = home
        .cli()
        .arg("logs")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run sandpit logs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sandpit_logs_prints_the_latest_run() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - env:
          TOKEN: ${{ secrets.TOKEN }}
        run: |
          echo 'said: ${{ vars.WORD }}'
          echo \"token: $TOKEN\"
",
    );
    let first = run(
        &home,
        repo.path(),
        &["--var", "WORD=first", "-s", "TOKEN=logged-secret-value"],
    );
    first.assert_exit(0);
    let second = run(
        &home,
        repo.path(),
        &["--var", "WORD=second", "-s", "TOKEN=logged-secret-value"],
    );
    second.assert_exit(0);

    let (code, latest, stderr) = logs(&home, &[]);
    assert_eq!(code, Some(0), "sandpit logs failed: {stderr}");
    let lines: Vec<&str> = latest.lines().collect();
    assert!(
        lines.contains(&"said: second"),
        "not the latest run:\n{latest}"
    );
    assert!(
        !latest.contains("said: first"),
        "an older run is shown:\n{latest}"
    );
    assert!(
        lines.contains(&"token: ***"),
        "the secret is not masked:\n{latest}"
    );
    assert!(!latest.contains("logged-secret-value"), "{latest}");

    let first_id = first.of_kind("run_started")[0]["run_id"].to_string();
    let (code, older, stderr) = logs(&home, &[&first_id, "build"]);
    assert_eq!(
        code,
        Some(0),
        "sandpit logs {first_id} build failed: {stderr}"
    );
    assert!(
        older.lines().any(|l| l == "said: first"),
        "run {first_id} is not shown:\n{older}"
    );
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Workspace and environment

#[test]
fn workspace_changes_never_reach_the_repository() {
    let home = TestHome::new();
    let repo = repo(
        &[(
            "ci.yml",
            "\
on: push
jobs:
  change:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo changed > README.md
          rm delete-me.txt
          echo new > created.txt
          mkdir -p new-dir && echo nested > new-dir/file.txt
          git add -A && git -c user.name=x -c user.email=x@x commit -qm inside
          echo change-done
  look:
    needs: change
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo \"readme: $(cat README.md)\"
          test -e delete-me.txt && echo delete-me-present
          test -e created.txt || echo created-absent
          test -e new-dir || echo new-dir-absent
",
        )],
        &[("README.md", "original\n"), ("delete-me.txt", "keep me\n")],
    );
    let head = git_output(repo.path(), &["rev-parse", "HEAD"]);
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    run.assert_output("change", "change-done");
    let look = run.output("look");
    for line in [
        "readme: original\n",
        "delete-me-present\n",
        "created-absent\n",
        "new-dir-absent\n",
    ] {
        assert!(look.contains(line), "missing {line:?}\n{}", run.report());
    }
    let d = repo.path();
    assert_eq!(
        std::fs::read_to_string(d.join("README.md")).unwrap(),
        "original\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("delete-me.txt")).unwrap(),
        "keep me\n"
    );
    assert!(!d.join("created.txt").exists());
    assert!(!d.join("new-dir").exists());
    assert_eq!(git_output(d, &["rev-parse", "HEAD"]), head);
    assert_eq!(git_output(d, &["status", "--porcelain"]), "");
    assert_no_sandbox_left(&home);
}

#[test]
fn github_environment_is_set() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  env:
    runs-on: ubuntu-latest
    steps:
      - run: |
          for k in CI GITHUB_ACTIONS GITHUB_WORKSPACE GITHUB_SHA GITHUB_REF GITHUB_REF_NAME \\
                   GITHUB_REPOSITORY GITHUB_EVENT_NAME GITHUB_JOB RUNNER_OS HOME; do
            echo \"env:$k=${!k}\"
          done
          echo \"env:PWD=$(pwd)\"
          test -d \"$HOME\" && echo \"env:HOME_IS_DIR=yes\"
          test -w \"$RUNNER_TEMP\" && echo \"env:RUNNER_TEMP_WRITABLE=yes\"
          echo \"event:$(tr -d '\\n' < \"$GITHUB_EVENT_PATH\")\"
",
    );
    let sha = git_output(repo.path(), &["rev-parse", "HEAD"]);
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(0);
    let output = run.output("env");
    let env = values(&output, "env:");
    let expected = [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_WORKSPACE", "/workspace"),
        ("PWD", "/workspace"),
        ("GITHUB_SHA", sha.as_str()),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REPOSITORY", "o/r"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_JOB", "env"),
        ("RUNNER_OS", "Linux"),
        ("HOME_IS_DIR", "yes"),
        ("RUNNER_TEMP_WRITABLE", "yes"),
    ];
    for (key, value) in expected {
        assert_eq!(
            env.get(key).map(String::as_str),
            Some(value),
            "{key}\n{}",
            run.report()
        );
    }
    assert!(
        env.get("HOME").is_some_and(|h| h.starts_with('/')),
        "HOME is not an absolute path\n{}",
        run.report()
    );
    let event = output
        .lines()
        .find_map(|l| l.strip_prefix("event:"))
        .unwrap_or_else(|| panic!("no event line\n{}", run.report()));
    let payload: Value = serde_json::from_str(event)
        .unwrap_or_else(|e| panic!("GITHUB_EVENT_PATH is not JSON ({e}): {event}"));
    assert!(
        payload.is_object(),
        "the event payload is not an object: {payload}"
    );
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Invalid input

#[test]
fn invalid_workflow_exits_2_with_a_diagnostic() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    steps:
      - run: echo should-not-run
",
    );
    let run = run(&home, repo.path(), &[]);

    run.assert_exit(2);
    assert!(
        run.stderr.contains("ci.yml") && run.stderr.contains("runs-on"),
        "no diagnostic naming the file and the missing key\n{}",
        run.report()
    );
    assert_eq!(run.of_kind("job_started").len(), 0, "{}", run.report());
    assert!(!run.stdout.contains("should-not-run"));
    assert_no_sandbox_left(&home);
}

// ---------------------------------------------------------------------------------------------
// Keeping sandboxes

#[test]
fn keep_sandboxes_leaves_each_job_sandbox_until_destroyed() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo left-for-inspection > /workspace/marker.txt
",
    );
    let run = run(&home, repo.path(), &["--keep-sandboxes"]);

    run.assert_exit(0);
    let started = run.of_job("job_started", "build");
    assert_eq!(started.len(), 1, "{}", run.report());
    let id = started[0]["sandbox"]
        .as_str()
        .expect("job_started names its sandbox");
    assert_eq!(sandboxes(&home), [id], "{}", run.report());

    let read = home
        .cli()
        .args(["sandbox", "read", id, "/workspace/marker.txt"])
        .output()
        .expect("run sandpit sandbox read");
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        "left-for-inspection\n",
        "the kept sandbox lost the job's files: {}",
        String::from_utf8_lossy(&read.stderr)
    );

    let destroyed = home
        .cli()
        .args(["sandbox", "destroy", id])
        .status()
        .expect("run sandpit sandbox destroy");
    assert!(destroyed.success());
    assert_no_sandbox_left(&home);
}

#[test]
fn hash_files_hashes_the_working_tree() {
    let home = TestHome::new();
    let workflow = "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo \"lock=${{ hashFiles('**/app.lock') }}\"
          echo \"none=${{ hashFiles('**/missing.lock') }}\"
";
    let repo = repo(
        &[("ci.yml", workflow)],
        &[("sub/app.lock", "pinned 1.2.3\n")],
    );
    let first = run(&home, repo.path(), &[]);
    first.assert_exit(0);
    let found = values(&first.output("build"), "");
    let hash = found.get("lock").cloned().unwrap_or_default();
    assert_eq!(hash.len(), 64, "{}", first.report());
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(found.get("none").map(String::as_str), Some(""));

    // Another content, another hash.
    write(repo.path(), "sub/app.lock", "pinned 1.2.4\n");
    let second = run(&home, repo.path(), &[]);
    second.assert_exit(0);
    let again = values(&second.output("build"), "");
    assert_ne!(again.get("lock"), Some(&hash), "{}", second.report());
    assert_no_sandbox_left(&home);
}

#[test]
fn job_output_holding_a_secret_is_not_passed_on() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      token: ${{ steps.s.outputs.token }}
      plain: ${{ steps.s.outputs.plain }}
    steps:
      - id: s
        run: |
          echo \"token=${{ secrets.TOKEN }}\" >> \"$GITHUB_OUTPUT\"
          echo \"plain=visible\" >> \"$GITHUB_OUTPUT\"
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: echo \"got=[${{ needs.a.outputs.token }}] plain=[${{ needs.a.outputs.plain }}]\"
",
    );
    let secret = "s3cr3t-output-value-91";
    let run = run(&home, repo.path(), &["-s", &format!("TOKEN={secret}")]);
    run.assert_exit(0);
    run.assert_output("b", "got=[] plain=[visible]");
    assert!(!run.stdout.contains(secret), "{}", run.report());
    assert!(!run.stderr.contains(secret), "{}", run.report());
    assert_eq!(run.job("a")["outputs"]["plain"], "visible");
    assert!(run.job("a")["outputs"].get("token").is_none());
    assert_no_sandbox_left(&home);
}

#[test]
fn many_add_masks_stay_cheap_and_are_capped() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          for i in $(seq 1500); do echo \"::add-mask::hidden-$i-value\"; done
          echo \"first=hidden-7-value last=hidden-1400-value\"
",
    );
    let run = run(&home, repo.path(), &[]);
    run.assert_exit(0);
    // The first thousand are masked; the rest were refused (and said so).
    run.assert_output("build", "first=*** last=hidden-1400-value");
    let warned = run.of_job("notice", "build").iter().any(|e| {
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("add-mask")
    });
    assert!(
        warned,
        "no warning about the refused masks\n{}",
        run.report()
    );
    assert_no_sandbox_left(&home);
}

#[test]
fn jobs_of_two_workflows_with_one_name_keep_separate_logs() {
    let home = TestHome::new();
    let workflow = |word: &str| {
        format!(
            "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo from-{word}\n"
        )
    };
    let (a, b) = (workflow("a"), workflow("b"));
    let repo = repo(&[("a.yml", &a), ("b.yml", &b)], &[]);
    let run = run(&home, repo.path(), &[]);
    run.assert_exit(0);
    let logs: Vec<String> = run
        .of_kind("job_finished")
        .iter()
        .map(|e| e["log"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(logs.len(), 2, "{}", run.report());
    assert_ne!(logs[0], logs[1]);
    let texts: Vec<String> = logs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(texts
        .iter()
        .any(|t| t.contains("from-a") && !t.contains("from-b")));
    assert!(texts
        .iter()
        .any(|t| t.contains("from-b") && !t.contains("from-a")));
    assert_no_sandbox_left(&home);
}

#[test]
fn oversized_step_summary_is_dropped_without_failing_later_steps() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: head -c 2000000 /dev/zero | tr '\\0' x >> \"$GITHUB_STEP_SUMMARY\"
      - name: innocent
        run: echo fine
",
    );
    let run = run(&home, repo.path(), &[]);
    run.assert_exit(0);
    assert_eq!(run.step("build", "innocent")["conclusion"], "success");
    assert_no_sandbox_left(&home);
}

#[test]
fn always_steps_run_after_the_job_timeout() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 0.05
    steps:
      - run: sleep 600
      - name: cleanup
        if: always()
        run: echo cleanup-ran
",
    );
    let run = run(&home, repo.path(), &[]);
    run.assert_exit(1);
    assert_eq!(
        run.step("build", "cleanup")["conclusion"],
        "success",
        "{}",
        run.report()
    );
    run.assert_output("build", "cleanup-ran");
    assert_eq!(run.result("build"), "failure");
    assert_no_sandbox_left(&home);
}

#[test]
fn strategy_and_continue_on_error_expressions_read_their_contexts() {
    let home = TestHome::new();
    let repo = repo_with(
        "\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    continue-on-error: ${{ strategy.job-index == 1 }}
    strategy:
      fail-fast: ${{ github.event_name != 'push' }}
      matrix:
        kind: [good, bad]
    steps:
      - name: work
        run: |
          if [ '${{ matrix.kind }}' = bad ]; then exit 1; fi
          sleep 2
          echo good-finished
",
    );
    let run = run(&home, repo.path(), &["--jobs", "2"]);
    // fail-fast is false on a push: the good instance finishes; the bad one may fail.
    run.assert_exit(0);
    assert_eq!(run.result("test (good)"), "success", "{}", run.report());
    run.assert_output("test (good)", "good-finished");
    assert_eq!(run.result("test (bad)"), "failure");
    assert_no_sandbox_left(&home);
}
