//! Background processes: start, list, wait, kill (signal honoured, grace, no grandchildren
//! left), bounded logs with resumable cursors, waiting for a log line or a port, typed errors.

mod common;

use std::time::Duration;

use common::{sandbox, sh, text, TestHome};
use sandpit::sandbox::{
    Command, ErrorCode, LogEvent, OutputStream, PortCheck, ProcessOptions, ProcessStatus,
};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_server_is_found_by_wait_for_port() {
    let home = TestHome::new();
    let sb = sandbox(&home, "server").await;
    sb.mkdir("www", true).await.unwrap();
    sb.write_file("www/hello.txt", "hi from the sandbox\n", None)
        .await
        .unwrap();
    // Sleeps first, so the port is surely not ready when the wait starts.
    let server = sb
        .start_process(
            Command::shell("sleep 0.3; exec python3 -m http.server 8123 --bind 127.0.0.1")
                .cwd("/workspace/www"),
            ProcessOptions::default().id("web"),
        )
        .await
        .unwrap();
    assert_eq!(server.id(), "web");
    server
        .wait_for_port(8123, PortCheck::http("/hello.txt"), WAIT)
        .await
        .unwrap();
    let got = sh(&sb, "python3 -c 'import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:8123/hello.txt\").read().decode(), end=\"\")'").await;
    assert_eq!(text(&got.stdout), "hi from the sandbox\n");
    // The TCP check passes on the same server.
    server
        .wait_for_port(8123, PortCheck::Tcp, WAIT)
        .await
        .unwrap();
    let listed = sb.list_processes().await.unwrap();
    assert!(listed
        .iter()
        .any(|p| p.id == "web" && p.status == ProcessStatus::Running));
    server
        .kill(libc::SIGTERM, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let ended = server.wait().await.unwrap();
    assert_eq!(ended.status, ProcessStatus::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_port_fails_fast_when_the_process_exits_and_times_out_otherwise() {
    let home = TestHome::new();
    let sb = sandbox(&home, "noport").await;
    let quitter = sb
        .start_process(Command::shell("exit 3"), ProcessOptions::default())
        .await
        .unwrap();
    let err = quitter
        .wait_for_port(8124, PortCheck::Tcp, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProcessExited, "{err}");
    assert_eq!(err.process_id(), Some(quitter.id()));
    assert!(err.to_string().contains("exited with code 3"), "{err}");

    let idler = sb
        .start_process(Command::new("sleep").arg("60"), ProcessOptions::default())
        .await
        .unwrap();
    let err = idler
        .wait_for_port(8125, PortCheck::Tcp, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CommandTimeout, "{err}");
    sb.kill_all_processes(libc::SIGKILL, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_runs_the_programs_handler() {
    let home = TestHome::new();
    let sb = sandbox(&home, "handler").await;
    let proc = sb
        .start_process(
            Command::shell(
                "trap 'echo cleaning up; echo done > /workspace/handled; exit 0' TERM; \
                 echo ready; while :; do sleep 0.05; done",
            ),
            ProcessOptions::default().id("graceful"),
        )
        .await
        .unwrap();
    proc.wait_for_log("ready", WAIT).await.unwrap();
    sb.kill_process("graceful", libc::SIGTERM, Some(Duration::from_secs(20)))
        .await
        .unwrap();
    let ended = proc.wait().await.unwrap();
    // The handler ran and exited normally: not a kill by signal.
    assert_eq!(ended.status, ProcessStatus::Completed, "{ended:?}");
    assert_eq!(ended.exit.and_then(|e| e.exit_code), Some(0));
    assert_eq!(sb.read_file_text("handled").await.unwrap(), "done\n");
    let logs = proc.logs().await.unwrap();
    assert!(text(&logs.stdout).contains("cleaning up"), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_process_leaves_no_grandchildren_behind() {
    let home = TestHome::new();
    let sb = sandbox(&home, "family").await;
    // A child in the group, a grandchild that moves to a process group of its own (as job
    // control does), and the parent waiting on them.
    let proc = sb
        .start_process(
            Command::shell(
                "sleep 1001 & \
                 (set -m; sleep 1002 & wait) & \
                 echo started; wait",
            ),
            ProcessOptions::default().id("parent"),
        )
        .await
        .unwrap();
    proc.wait_for_log("started", WAIT).await.unwrap();
    let deadline = common::Deadline::after(WAIT, "both sleeps to run");
    loop {
        let ps = sh(&sb, "ps -eo args= | grep -c '^sleep 100[12]$' || true").await;
        if text(&ps.stdout).trim() == "2" {
            break;
        }
        deadline.tick().await;
    }
    proc.kill(libc::SIGKILL, None).await.unwrap();
    let ended = proc.wait().await.unwrap();
    assert_eq!(ended.status, ProcessStatus::Killed);
    let deadline = common::Deadline::after(WAIT, "the grandchildren to be gone");
    loop {
        // Zombies waiting for the agent to reap them count as gone.
        let ps = sh(
            &sb,
            "ps -eo stat=,args= | grep -c '^[^Z]* sleep 100[12]$' || true",
        )
        .await;
        if text(&ps.stdout).trim() == "0" {
            break;
        }
        deadline.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_printing_50_mib_keeps_only_its_bound_and_reports_truncation() {
    let home = TestHome::new();
    let sb = sandbox(&home, "chatty").await;
    let agent_hwm = |sb: sandpit::sandbox::Sandbox| async move {
        let status = sb.read_file_text("/proc/1/status").await.unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let before = agent_hwm(sb.clone()).await;
    let proc = sb
        .start_process(
            Command::shell("head -c 52428800 /dev/zero | tr '\\0' 'x'; echo; echo last line"),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
    let ended = proc.wait().await.unwrap();
    assert_eq!(ended.status, ProcessStatus::Completed, "{ended:?}");
    assert_eq!(ended.output_bytes, (50 << 20) + 1 + 10);
    assert_eq!(ended.kept_bytes, 1 << 20);
    let logs = proc.logs().await.unwrap();
    assert!(logs.truncated());
    assert_eq!(logs.dropped_bytes, ended.output_bytes - (1 << 20));
    assert_eq!(logs.stdout.len(), 1 << 20);
    assert!(text(&logs.stdout).ends_with("x\nlast line\n"));
    // Streaming from the start reports the dropped range first.
    let mut stream = proc.stream_logs(0).await.unwrap();
    match stream.next().await.unwrap().unwrap() {
        LogEvent::Truncated { from, to } => assert_eq!((from, to), (0, logs.dropped_bytes)),
        other => panic!("expected a truncation marker first, got {other:?}"),
    }
    // The agent never held the whole output: its peak memory grew by far less than 50 MiB.
    let after = agent_hwm(sb.clone()).await;
    assert!(
        after - before < 16 << 10,
        "agent peak RSS grew from {before} kB to {after} kB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_stream_logs_from_a_cursor_neither_repeats_nor_skips() {
    let home = TestHome::new();
    let sb = sandbox(&home, "cursor").await;
    let proc = sb
        .start_process(
            Command::shell(
                "for i in $(seq 1 400); do echo \"out $i\"; echo \"err $i\" >&2; \
                 [ $((i % 50)) = 0 ] && sleep 0.01; done",
            ),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
    // Read a little, stop, resume from the cursor, several times, until the end.
    let mut got: Vec<(OutputStream, Vec<u8>)> = Vec::new();
    let mut cursor = 0u64;
    let mut ended = None;
    while ended.is_none() {
        let mut stream = proc.stream_logs(cursor).await.unwrap();
        for _ in 0..3 {
            match stream.next().await {
                Some(Ok(LogEvent::Output {
                    cursor: at,
                    stream,
                    data,
                })) => {
                    assert_eq!(at, cursor, "a gap or an overlap at {cursor}");
                    cursor += data.len() as u64;
                    got.push((stream, data));
                }
                Some(Ok(LogEvent::End {
                    next_cursor,
                    process,
                })) => {
                    assert_eq!(next_cursor, cursor);
                    ended = Some(process);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let ended = ended.unwrap();
    assert_eq!(ended.exit.and_then(|e| e.exit_code), Some(0));
    let joined = |which| {
        got.iter()
            .filter(|(s, _)| *s == which)
            .flat_map(|(_, d)| d.clone())
            .collect::<Vec<u8>>()
    };
    let want_out: String = (1..=400).map(|i| format!("out {i}\n")).collect();
    let want_err: String = (1..=400).map(|i| format!("err {i}\n")).collect();
    assert_eq!(text(&joined(OutputStream::Stdout)), want_out);
    assert_eq!(text(&joined(OutputStream::Stderr)), want_err);
    assert_eq!(cursor, ended.output_bytes);
    // A non-following read from a cursor gives the rest of what is kept, then ends.
    let mut rest = proc.read_logs(cursor - 12).await.unwrap();
    let mut tail = Vec::new();
    while let Some(event) = rest.next().await {
        match event.unwrap() {
            LogEvent::Output { data, .. } => tail.extend(data),
            LogEvent::End { next_cursor, .. } => assert_eq!(next_cursor, cursor),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(tail.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_ids_and_errors_are_reported() {
    let home = TestHome::new();
    let sb = sandbox(&home, "statuses").await;
    let ok = sb
        .start_process(Command::new("true"), ProcessOptions::default().id("ok"))
        .await
        .unwrap();
    let bad = sb
        .start_process(
            Command::shell("exit 7"),
            ProcessOptions::default().id("bad"),
        )
        .await
        .unwrap();
    let slow = sb
        .start_process(
            Command::new("sleep")
                .arg("60")
                .timeout(Duration::from_millis(200)),
            ProcessOptions::default().id("slow"),
        )
        .await
        .unwrap();
    assert_eq!(ok.wait().await.unwrap().status, ProcessStatus::Completed);
    assert_eq!(bad.wait().await.unwrap().status, ProcessStatus::Failed);
    let timed_out = slow.wait().await.unwrap();
    assert_eq!(timed_out.status, ProcessStatus::Killed);
    assert!(timed_out.exit.unwrap().timed_out);

    let err = sb
        .start_process(
            Command::new("no-such-program"),
            ProcessOptions::default().id("missing"),
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::CommandStartFailed, "{err}");
    let missing = sb.get_process("missing").await.unwrap();
    assert_eq!(missing.info().status, ProcessStatus::Error);
    assert!(missing
        .info()
        .error
        .as_deref()
        .unwrap()
        .contains("not found"));

    let err = sb.get_process("nobody").await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::ProcessNotFound);
    assert_eq!(err.process_id(), Some("nobody"));
    assert_eq!(err.sandbox_id(), Some("statuses"));
    let err = sb
        .start_process(Command::new("true"), ProcessOptions::default().id("../x"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");

    let running = sb
        .start_process(
            Command::new("sleep").arg("60"),
            ProcessOptions::default().id("dup"),
        )
        .await
        .unwrap();
    let err = sb
        .start_process(Command::new("true"), ProcessOptions::default().id("dup"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::AlreadyExists, "{err}");
    let killed = sb.kill_all_processes(libc::SIGKILL, None).await.unwrap();
    assert_eq!(
        killed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["dup"]
    );
    assert_eq!(running.wait().await.unwrap().status, ProcessStatus::Killed);
    // A finished id may be reused.
    sb.start_process(Command::new("true"), ProcessOptions::default().id("dup"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_log_matches_text_and_regex_and_fails_when_the_process_ends() {
    let home = TestHome::new();
    let sb = sandbox(&home, "waitlog").await;
    let proc = sb
        .start_process(
            Command::shell("echo booting; sleep 0.2; echo 'listening on port 4242' >&2; sleep 60"),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
    let found = proc
        .wait_for_log(regex::Regex::new(r"port (\d+)").unwrap(), WAIT)
        .await
        .unwrap();
    assert_eq!(found.line, "listening on port 4242");
    assert_eq!(found.stream, OutputStream::Stderr);
    let found = proc.wait_for_log("booting", WAIT).await.unwrap();
    assert_eq!(found.stream, OutputStream::Stdout);
    let err = proc
        .wait_for_log("never printed", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CommandTimeout);
    proc.kill(libc::SIGKILL, None).await.unwrap();
    let err = proc.wait_for_log("never printed", WAIT).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProcessExited, "{err}");
}
