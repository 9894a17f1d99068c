//! Running commands: exit statuses, output streams and their order, stdin, environment and
//! working directory, start failures, cancellation, signals, concurrency, output limits, large
//! binary output, and the CLI's `sandbox exec`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use common::{pseudo_random, sandbox, text, Deadline, TestHome};
use sandpit::sandbox::{
    Command, ErrorCode, ExecEvent, ExecOutput, ExitReport, OutputStream, Sandbox, SandboxOptions,
    DEFAULT_OUTPUT_LIMIT,
};

async fn run(sandbox: &Sandbox, cmd: Command) -> ExecOutput {
    sandbox.exec(cmd).await.expect("exec")
}

/// The SHA-256 of `data`, computed by the host's `sha256sum` (hex).
fn host_sha256(data: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the host's sha256sum");
    // sha256sum prints only at the end, so writing everything first cannot deadlock.
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    first_word(&out.stdout)
}

fn first_word(bytes: &[u8]) -> String {
    text(bytes)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// How many processes inside the sandbox have argv[0] `name` (counted by a bash loop, so the
/// counting itself adds no process carrying the name).
async fn count_processes_named(sandbox: &Sandbox, name: &str) -> usize {
    let script = r#"n=0
for f in /proc/[0-9]*/cmdline; do
  IFS= read -r -d '' a0 < "$f" 2>/dev/null && [ "$a0" = "$NAME" ] && n=$((n+1))
done
echo $n"#;
    let out = run(sandbox, Command::shell(script).env("NAME", name)).await;
    assert!(out.success(), "{out:?}");
    text(&out.stdout).trim().parse().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_come_back() {
    let home = TestHome::new();
    let sb = sandbox(&home, "codes").await;
    for code in [0, 3, 255] {
        let out = run(&sb, Command::shell(format!("exit {code}"))).await;
        assert_eq!(out.exit.exit_code, Some(code), "{out:?}");
        assert_eq!(out.exit.signal, None);
        assert!(!out.exit.timed_out && !out.exit.oom_killed);
    }
    let cli = home
        .cli()
        .args(["sandbox", "exec", "codes", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(3), "{cli:?}");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_deaths_report_the_signal() {
    let home = TestHome::new();
    let sb = sandbox(&home, "signals").await;
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGKILL, "KILL")] {
        let out = run(&sb, Command::shell(format!("echo before; kill -{name} $$"))).await;
        assert_eq!(out.stdout, b"before\n", "{out:?}");
        assert_eq!(out.exit.signal, Some(signal), "{out:?}");
        assert_eq!(out.exit.exit_code, None, "{out:?}");
        assert!(!out.exit.oom_killed && !out.exit.timed_out, "{out:?}");
    }
    let cli = home
        .cli()
        .args([
            "sandbox",
            "exec",
            "signals",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(128 + libc::SIGTERM), "{cli:?}");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_command_and_says_so() {
    let home = TestHome::new();
    let sb = sandbox(&home, "timeout").await;
    let out = run(
        &sb,
        Command::shell("echo started; sleep 300").timeout(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(out.stdout, b"started\n");
    assert!(out.exit.timed_out, "{out:?}");
    assert_eq!(out.exit.signal, Some(libc::SIGKILL));
    assert!(out.duration() < Duration::from_secs(30), "{out:?}");
    let cli = home
        .cli()
        .args(["sandbox", "exec", "timeout", "--timeout", "300ms", "--"])
        .args(["sleep", "300"])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(124), "{cli:?}");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_stay_separate_with_increasing_seq() {
    let home = TestHome::new();
    let sb = sandbox(&home, "streams").await;
    let script = "for i in $(seq 1 300); do echo out$i; echo err$i >&2; done";
    let mut stream = sb.exec_stream(Command::shell(script)).await.unwrap();
    let mut seqs = Vec::new();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut started = false;
    let mut exit = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ExecEvent::Started { pid } => {
                assert!(!started && seqs.is_empty(), "Started must come first");
                assert!(pid > 1, "pid {pid}");
                started = true;
            }
            ExecEvent::Output { stream, seq, data } => {
                assert!(exit.is_none(), "output after the exit");
                seqs.push(seq);
                match stream {
                    OutputStream::Stdout => stdout.extend(data),
                    OutputStream::Stderr => stderr.extend(data),
                }
            }
            ExecEvent::Exit(report) => exit = Some(report),
        }
    }
    assert!(started);
    assert_eq!(exit.map(|e| e.exit_code), Some(Some(0)));
    let want = |prefix: &str| -> String { (1..=300).map(|i| format!("{prefix}{i}\n")).collect() };
    assert_eq!(text(&stdout), want("out"));
    assert_eq!(text(&stderr), want("err"));
    // Chunks of both streams are numbered together, from 0, without gaps.
    let expected: Vec<u64> = (0..seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaving_is_preserved_when_the_writer_waits() {
    let home = TestHome::new();
    let sb = sandbox(&home, "interleave").await;
    // Each write waits for the test to have seen the previous one (a line on stdin), so the
    // order across the two pipes is well defined.
    let script = "echo a; read x; echo b >&2; read x; echo c; read x; echo d >&2";
    let mut stream = sb
        .exec_stream(Command::shell(script).stdin_piped())
        .await
        .unwrap();
    let mut input = stream.input().unwrap();
    let mut chunks = Vec::new();
    let mut exit = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ExecEvent::Output { stream, seq, data } => {
                chunks.push((seq, stream, text(&data)));
                if chunks.len() < 4 {
                    input.write(b"\n").await.unwrap();
                }
            }
            ExecEvent::Exit(report) => exit = Some(report),
            ExecEvent::Started { .. } => {}
        }
    }
    assert_eq!(exit.and_then(|e| e.exit_code), Some(0));
    let want = [
        (0, OutputStream::Stdout, "a\n".to_string()),
        (1, OutputStream::Stderr, "b\n".to_string()),
        (2, OutputStream::Stdout, "c\n".to_string()),
        (3, OutputStream::Stderr, "d\n".to_string()),
    ];
    assert_eq!(chunks, want);
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_round_trips_five_mebibytes() {
    let home = TestHome::new();
    let sb = sandbox(&home, "stdin").await;
    let data = pseudo_random(5 << 20, 0x5eed);
    let want = host_sha256(&data);

    let mut stream = sb
        .exec_stream(
            Command::shell("tee /tmp/copy | sha256sum; wc -c < /tmp/copy >&2").stdin_piped(),
        )
        .await
        .unwrap();
    let mut input = stream.input().unwrap();
    // Written from another task while this one reads events, as a real client would. The
    // input is handed back rather than dropped: dropping it is checked on its own below.
    let writer = tokio::spawn(async move {
        input.write(&data).await?;
        input.close_stdin().await.map(|()| input)
    });
    let out = stream.collect(1 << 20).await.unwrap();
    let _input = writer.await.unwrap().unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(first_word(&out.stdout), want, "{out:?}");
    assert_eq!(text(&out.stderr).trim(), (5 << 20).to_string());

    // Without stdin_piped the command reads end of file at once.
    let out = run(&sb, Command::shell("wc -c")).await;
    assert_eq!(text(&out.stdout).trim(), "0");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_exec_input_does_not_cancel_the_command() {
    let home = TestHome::new();
    let sb = sandbox(&home, "input-drop").await;
    // The command outlives its stdin: it goes on until the test lets it finish.
    let script = "cat; echo eof; while [ ! -e /tmp/go ]; do sleep 0.01; done; echo done";
    let mut stream = sb
        .exec_stream(Command::shell(script).stdin_piped())
        .await
        .unwrap();
    let mut input = stream.input().unwrap();
    input.write(b"data\n").await.unwrap();
    input.close_stdin().await.unwrap();
    drop(input); // documented: only dropping the stream cancels

    let mut stdout = Vec::new();
    let mut exit = None;
    while let Some(event) = stream.next().await {
        match event.expect("the command was cancelled when its input was dropped") {
            ExecEvent::Output { data, .. } => {
                stdout.extend_from_slice(&data);
                if stdout == b"data\neof\n" {
                    assert!(run(&sb, Command::new("touch").arg("/tmp/go"))
                        .await
                        .success());
                }
            }
            ExecEvent::Exit(report) => exit = Some(report),
            ExecEvent::Started { .. } => {}
        }
    }
    assert_eq!(text(&stdout), "data\neof\ndone\n");
    assert_eq!(exit.and_then(|e| e.exit_code), Some(0));
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_exec_stream_kills_the_command_even_with_unread_stdin() {
    let home = TestHome::new();
    let sb = sandbox(&home, "stuck-stdin").await;
    let marker = common::marker("stuck-stdin");
    let mut stream = sb
        .exec_stream(
            Command::shell(r#"(exec -a "$MARKER" sleep 300) & echo started; wait"#)
                .env("MARKER", &marker)
                .stdin_piped(),
        )
        .await
        .unwrap();
    loop {
        if let ExecEvent::Output { .. } = stream.next().await.unwrap().unwrap() {
            break;
        }
    }
    // One full chunk: the agent must read all of it, and it is more than a pipe holds
    // (64 KiB), so the stdin pipe is now full and nothing inside will ever read it.
    let mut input = stream.input().unwrap();
    input
        .write(&vec![b'x'; sandpit::protocol::MAX_CHUNK_LEN])
        .await
        .unwrap();
    let deadline = Deadline::after(Duration::from_secs(10), "the marker sleep to start");
    while count_processes_named(&sb, &marker).await != 1 {
        deadline.tick().await;
    }

    drop(stream);

    let deadline = Deadline::after(
        Duration::from_secs(10),
        "the dropped command (with a full stdin pipe) to be killed",
    );
    while count_processes_named(&sb, &marker).await != 0 {
        deadline.tick().await;
    }
    drop(input);
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_strings_with_arguments_still_run_in_bash() {
    let home = TestHome::new();
    let sb = sandbox(&home, "shell-args").await;
    let out = run(
        &sb,
        Command::shell(r#"[[ -n "$BASH_VERSION" ]] && echo "bash $0 $1""#).args(["zero", "one"]),
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "bash zero one\n",
        "stderr: {}",
        text(&out.stderr)
    );
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_cwd_and_shell_are_honoured() {
    let home = TestHome::new();
    let options = SandboxOptions {
        env: vec![
            ("FROM_SANDBOX".into(), "base".into()),
            ("OVERRIDDEN".into(), "base".into()),
        ],
        ..common::options()
    };
    let sb = home.sandboxes.get("env", options).await.unwrap();

    let out = run(
        &sb,
        Command::shell(r#"echo "$GREETING|$FROM_SANDBOX|$OVERRIDDEN"; pwd"#)
            .env("GREETING", "hello world")
            .env("OVERRIDDEN", "command")
            .cwd("/tmp"),
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "hello world|base|command\n/tmp\n",
        "{out:?}"
    );

    let out = run(&sb, Command::new("pwd")).await;
    assert_eq!(text(&out.stdout), "/workspace\n", "default cwd");

    // Shell strings run in bash.
    let out = run(
        &sb,
        Command::shell(r#"[[ -n "$BASH_VERSION" ]] && echo bash"#),
    )
    .await;
    assert_eq!(text(&out.stdout), "bash\n", "{out:?}");

    // Argv commands do not go through a shell.
    let out = run(&sb, Command::argv(["echo", "$HOME", "a  b", "*"])).await;
    assert_eq!(text(&out.stdout), "$HOME a  b *\n", "{out:?}");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_have_stable_codes() {
    let home = TestHome::new();
    let sb = sandbox(&home, "failures").await;
    let err = sb
        .exec(Command::new("no-such-program-sandpit"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CommandStartFailed, "{err}");
    assert_eq!(err.code().as_str(), "COMMAND_START_FAILED");

    let err = sb
        .exec(Command::new("true").cwd("/no/such/dir"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    assert_eq!(err.code().as_str(), "INVALID_REQUEST");

    // Neither failure hurt the sandbox.
    assert!(run(&sb, Command::new("true")).await.success());
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_exec_stream_kills_its_process_group() {
    let home = TestHome::new();
    let sb = sandbox(&home, "cancel").await;
    let marker = common::marker("dropped");
    let mut stream = sb
        .exec_stream(
            Command::shell(r#"(exec -a "$MARKER" sleep 300) & echo started; wait"#)
                .env("MARKER", &marker),
        )
        .await
        .unwrap();
    let pid = loop {
        if let ExecEvent::Started { pid } = stream.next().await.unwrap().unwrap() {
            break pid;
        }
    };
    match stream.next().await.unwrap().unwrap() {
        ExecEvent::Output { data, .. } => assert_eq!(data, b"started\n"),
        other => panic!("expected output, got {other:?}"),
    }
    let deadline = Deadline::after(Duration::from_secs(10), "the marker sleep to start");
    while count_processes_named(&sb, &marker).await != 1 {
        deadline.tick().await;
    }

    drop(stream);

    let deadline = Deadline::after(Duration::from_secs(10), "the dropped command to be killed");
    while count_processes_named(&sb, &marker).await != 0 {
        deadline.tick().await;
    }
    let gone = format!("test -e /proc/{pid} && echo alive || echo gone");
    let deadline = Deadline::after(Duration::from_secs(10), "the dropped shell to be reaped");
    while run(&sb, Command::shell(&gone)).await.stdout != b"gone\n" {
        deadline.tick().await;
    }
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_handle_kills_the_command_from_another_task() {
    let home = TestHome::new();
    let sb = sandbox(&home, "abort").await;
    let marker = common::marker("aborted");
    let mut stream = sb
        .exec_stream(
            Command::shell(r#"(exec -a "$MARKER" sleep 300) & echo started; wait"#)
                .env("MARKER", &marker),
        )
        .await
        .unwrap();
    let abort = stream.abort_handle().unwrap();
    let deadline = Deadline::after(Duration::from_secs(10), "the marker sleep to start");
    while count_processes_named(&sb, &marker).await != 1 {
        deadline.tick().await;
    }
    tokio::spawn(async move { abort.abort() }).await.unwrap();
    // The stream ends without an exit event; the whole group is gone.
    let mut last = None;
    while let Some(event) = stream.next().await {
        last = Some(event);
    }
    assert!(
        matches!(last, Some(Err(_))),
        "expected an error after the abort, got {last:?}"
    );
    let deadline = Deadline::after(Duration::from_secs(10), "the aborted command to be killed");
    while count_processes_named(&sb, &marker).await != 0 {
        deadline.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_reaches_the_trap_handler() {
    let home = TestHome::new();
    let sb = sandbox(&home, "trap").await;
    let script = "trap 'echo got-term; exit 7' TERM; echo ready; sleep 300 & wait";
    let mut stream = sb.exec_stream(Command::shell(script)).await.unwrap();
    let mut input = stream.input().unwrap();
    let mut stdout = Vec::new();
    let mut exit: Option<ExitReport> = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ExecEvent::Output { data, .. } => {
                stdout.extend_from_slice(&data);
                if stdout == b"ready\n" {
                    input.signal(libc::SIGTERM).await.unwrap();
                }
            }
            ExecEvent::Exit(report) => exit = Some(report),
            ExecEvent::Started { .. } => {}
        }
    }
    let exit = exit.expect("an exit event");
    assert_eq!(text(&stdout), "ready\ngot-term\n");
    assert_eq!(exit.exit_code, Some(7), "{exit:?}");
    assert_eq!(exit.signal, None);
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_execs_run_concurrently() {
    const N: usize = 8;
    let home = TestHome::new();
    let sb = sandbox(&home, "parallel").await;
    assert!(run(&sb, Command::new("mkdir").arg("/tmp/barrier"))
        .await
        .success());
    // Each command waits until all of them have arrived: only possible if all run at once.
    // The timeout is a safety net against a serialising agent.
    let script = r#"touch /tmp/barrier/$N
until [ "$(ls /tmp/barrier | wc -l)" -ge 8 ]; do sleep 0.01; done
echo $N"#;
    let runs = (0..N).map(|n| {
        sb.exec(
            Command::shell(script)
                .env("N", n.to_string())
                .timeout(Duration::from_secs(20)),
        )
    });
    let outputs = futures::future::join_all(runs).await;
    for (n, out) in outputs.into_iter().enumerate() {
        let out = out.unwrap();
        assert!(
            !out.exit.timed_out,
            "command {n} never saw the others: {out:?}"
        );
        assert_eq!(out.exit.exit_code, Some(0), "{out:?}");
        assert_eq!(text(&out.stdout), format!("{n}\n"));
    }
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_output_is_capped_at_the_limit() {
    let home = TestHome::new();
    let sb = sandbox(&home, "limits").await;

    let out = run(
        &sb,
        Command::shell("head -c 1000000 /dev/zero; echo small >&2").output_limit(1000),
    )
    .await;
    assert!(out.success(), "{:?}", out.exit);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    assert_eq!(out.stderr, b"small\n");
    assert!(!out.stderr_truncated);

    // Exactly at the limit is not truncated.
    let out = run(
        &sb,
        Command::shell("head -c 1000 /dev/zero").output_limit(1000),
    )
    .await;
    assert_eq!(out.stdout.len(), 1000);
    assert!(!out.stdout_truncated);

    // The default limit is 16 MiB per stream.
    assert_eq!(DEFAULT_OUTPUT_LIMIT, 16 << 20);
    let out = run(&sb, Command::shell("head -c 20M /dev/zero >&2")).await;
    assert!(out.success(), "{:?}", out.exit);
    assert_eq!(out.stderr.len(), 16 << 20);
    assert!(out.stderr_truncated);
    assert!(out.stdout.is_empty() && !out.stdout_truncated);
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_binary_output_arrives_byte_for_byte() {
    const LEN: usize = 50 << 20;
    let home = TestHome::new();
    let sb = sandbox(&home, "binary").await;
    let script = "head -c 50M /dev/urandom > /tmp/blob && sha256sum /tmp/blob >&2 && cat /tmp/blob";
    let out = run(&sb, Command::shell(script).output_limit(LEN + 1)).await;
    assert!(out.success(), "{:?} {}", out.exit, text(&out.stderr));
    assert_eq!(out.stdout.len(), LEN);
    assert!(!out.stdout_truncated);
    assert_eq!(host_sha256(&out.stdout), first_word(&out.stderr));
    sb.destroy().await.unwrap();
}

/// Reads a child's stdout line by line on a thread, so the test can wait with a deadline.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exec_streams_output_live_and_returns_the_exit_code() {
    let home = TestHome::new();
    let sb = sandbox(&home, "cli-live").await;
    // The command prints, then waits for a file only the test creates after seeing the print:
    // the line can only arrive if the CLI streams while the command runs.
    let mut child = home
        .cli()
        .args(["sandbox", "exec", "cli-live", "--", "sh", "-c"])
        .arg("echo first; while [ ! -e /workspace/go ]; do sleep 0.01; done; echo second; echo oops >&2; exit 5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let timeout = Duration::from_secs(10);
    assert_eq!(lines.recv_timeout(timeout).as_deref(), Ok("first"));
    assert!(child.try_wait().unwrap().is_none(), "the CLI exited early");
    std::fs::write(home.path().join("sandboxes/cli-live/workspace/go"), b"").unwrap();
    assert_eq!(lines.recv_timeout(timeout).as_deref(), Ok("second"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(text(&out.stderr), "oops\n");
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exec_passes_stdin_only_with_i() {
    let home = TestHome::new();
    let sb = sandbox(&home, "cli-stdin").await;
    let data = pseudo_random(1 << 20, 42);
    let want = host_sha256(&data);
    let run_cli = |interactive: bool| {
        let mut cmd = home.cli();
        cmd.args(["sandbox", "exec"]);
        if interactive {
            cmd.arg("-i");
        }
        let mut child = cmd
            .args(["cli-stdin", "--", "sha256sum"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.clone();
        // Without -i the CLI never reads its stdin; the pipe must not need to drain.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    };
    let out = run_cli(true);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(first_word(&out.stdout), want);

    let out = run_cli(false);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        first_word(&out.stdout),
        host_sha256(b""),
        "stdin leaked without -i"
    );
    sb.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exec_sets_env_and_cwd() {
    let home = TestHome::new();
    let out = home
        .cli()
        .args([
            "sandbox", "exec", "cli-env", "--env", "K=V w", "-e", "EMPTY=",
        ])
        .args([
            "--cwd",
            "/tmp",
            "--",
            "sh",
            "-c",
            "echo \"$K|${EMPTY-unset}\"; pwd",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "V w|\n/tmp\n");
    let out = home
        .cli()
        .args(["sandbox", "exec", "cli-env", "--", "pwd"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "/workspace\n");
    assert!(home.sandboxes.destroy("cli-env").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_commands_never_lose_their_last_output() {
    // The exit of a command that prints and quits at once can be noticed before its pipe is
    // seen readable; the output must still arrive. Many at once make that race likely.
    const ROUNDS: usize = 25;
    const PARALLEL: usize = 8;
    let home = TestHome::new();
    let sb = sandbox(&home, "last-output").await;
    for round in 0..ROUNDS {
        let runs = (0..PARALLEL).map(|n| sb.exec(Command::argv(["echo", &format!("{round}-{n}")])));
        let outputs = futures::future::join_all(runs).await;
        for (n, out) in outputs.into_iter().enumerate() {
            let out = out.unwrap();
            assert_eq!(text(&out.stdout), format!("{round}-{n}\n"), "{out:?}");
        }
    }
    sb.destroy().await.unwrap();
}
