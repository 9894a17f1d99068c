//! The CLI's process and session verbs: `exec --session` state carried across separate
//! `sandpit` invocations, `start`/`ps`/`kill`/`logs` from separate processes, exit statuses,
//! and verbs that inspect a sandbox never creating one.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{text, Deadline, TestHome};

/// `sandpit sandbox ARGS` with `home`'s state directory; its output, whatever the status.
fn sandbox(home: &TestHome, args: &[&str]) -> Output {
    home.cli().arg("sandbox").args(args).output().unwrap()
}

/// [`sandbox`], which must succeed; its stdout as text.
fn ok(home: &TestHome, args: &[&str]) -> String {
    let out = sandbox(home, args);
    assert!(
        out.status.success(),
        "sandpit sandbox {args:?} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The processes `ps --json` lists.
fn ps(home: &TestHome, id: &str) -> Vec<serde_json::Value> {
    ok(home, &["ps", id, "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// The status `ps --json` shows for process `proc_id`.
fn status_of(home: &TestHome, id: &str, proc_id: &str) -> String {
    let listed = ps(home, id);
    let found = listed
        .iter()
        .find(|p| p["id"] == proc_id)
        .unwrap_or_else(|| panic!("{proc_id} is not listed: {listed:?}"));
    found["status"].as_str().unwrap().to_string()
}

#[test]
fn session_cd_and_export_persist_between_cli_invocations() {
    let home = TestHome::new();
    ok(
        &home,
        &[
            "exec",
            "sess",
            "--session",
            "s1",
            "--",
            "cd /tmp && export FOO=bar",
        ],
    );
    assert_eq!(
        ok(
            &home,
            &["exec", "sess", "--session", "s1", "--", "pwd; echo $FOO"]
        ),
        "/tmp\nbar\n"
    );
    // Several words run as that command through the session's shell: quoted, not expanded.
    assert_eq!(
        ok(
            &home,
            &[
                "exec",
                "sess",
                "--session",
                "s1",
                "--",
                "echo",
                "a  b",
                "$FOO"
            ]
        ),
        "a  b $FOO\n"
    );
    assert_eq!(
        ok(&home, &["exec", "sess", "--session", "s2", "--", "pwd"]),
        "/workspace\n"
    );
    assert_eq!(ok(&home, &["exec", "sess", "--", "pwd"]), "/workspace\n");
    // The exit status of a session command is the command's.
    let out = sandbox(&home, &["exec", "sess", "--session", "s1", "--", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));

    let sessions = ok(&home, &["sessions", "sess", "--json"]);
    let s1 = sessions
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|s| s["id"] == "s1")
        .unwrap_or_else(|| panic!("s1 is not listed: {sessions}"));
    assert_eq!(s1["cwd"], "/tmp");
    ok(&home, &["session-rm", "sess", "s1"]);
    // Deleted: the next use starts it afresh.
    assert_eq!(
        ok(
            &home,
            &[
                "exec",
                "sess",
                "--session",
                "s1",
                "--",
                "pwd; echo \"[$FOO]\""
            ]
        ),
        "/workspace\n[]\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_process_write_start_then_read_and_ps() {
    let home = TestHome::new();
    let mut writer = home
        .cli()
        .args(["sandbox", "write", "xproc", "file.txt"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writer
        .stdin
        .take()
        .unwrap()
        .write_all(b"written by one sandpit\n")
        .unwrap();
    assert!(writer.wait().unwrap().success());
    assert_eq!(
        ok(
            &home,
            &["start", "xproc", "--name", "web", "--", "sleep", "60"]
        ),
        "web\n"
    );

    // Every call below is a separate sandpit process.
    assert_eq!(
        ok(&home, &["read", "xproc", "file.txt"]),
        "written by one sandpit\n"
    );
    let listed = ps(&home, "xproc");
    let web = listed
        .iter()
        .find(|p| p["id"] == "web")
        .unwrap_or_else(|| panic!("web is not listed: {listed:?}"));
    assert_eq!(web["status"], "running");
    assert_eq!(web["command"], "sleep 60");
    assert!(web["pid"].as_u64().unwrap() > 1, "{web}");
    let table = ok(&home, &["ps", "xproc"]);
    let header = table.lines().next().unwrap();
    for column in ["ID", "PID", "STATUS", "EXIT", "STARTED", "COMMAND"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("running") && l.contains("sleep 60")),
        "{table}"
    );

    ok(&home, &["kill", "xproc", "web", "--signal", "KILL"]);
    let deadline = Deadline::after(Duration::from_secs(30), "web to be killed");
    while status_of(&home, "xproc", "web") == "running" {
        deadline.tick().await;
    }
    let listed = ps(&home, "xproc");
    let web = listed.iter().find(|p| p["id"] == "web").unwrap();
    assert_eq!(web["status"], "killed");
    assert_eq!(web["exit"]["signal"], libc::SIGKILL);
    let table = ok(&home, &["ps", "xproc"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("killed") && l.contains("signal 9")),
        "{table}"
    );
    // Killing a process that does not exist is an error.
    let out = sandbox(&home, &["kill", "xproc", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
}

#[test]
fn start_prints_the_id_and_logs_follow_ends_with_the_exit_status() {
    let home = TestHome::new();
    let id = ok(
        &home,
        &[
            "start",
            "logs",
            "--",
            "echo to-stdout; echo to-stderr >&2; sleep 0.2; echo late; exit 3",
        ],
    );
    assert!(id.ends_with('\n') && id.lines().count() == 1, "{id:?}");
    let id = id.trim_end();
    assert!(!id.is_empty());
    assert!(ps(&home, "logs").iter().any(|p| p["id"] == id));

    let out = sandbox(&home, &["logs", "logs", id, "-f"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "to-stdout\nlate\n");
    assert_eq!(text(&out.stderr), "to-stderr\n");

    // Without -f, the kept log, each stream to its own.
    let out = sandbox(&home, &["logs", "logs", id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "to-stdout\nlate\n");
    assert_eq!(text(&out.stderr), "to-stderr\n");

    // Several words are a program and its arguments (no shell: `$HOME` stays as it is).
    ok(
        &home,
        &[
            "start", "logs", "--name", "argv", "--", "echo", "$HOME", "a b",
        ],
    );
    let out = sandbox(&home, &["logs", "logs", "argv", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "$HOME a b\n");
}

#[test]
fn logs_report_output_dropped_by_the_log_bound() {
    let home = TestHome::new();
    // 3 MB of output, more than the 1 MiB kept.
    ok(
        &home,
        &[
            "start",
            "bound",
            "--name",
            "big",
            "--",
            "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo end",
        ],
    );
    // Following waits for the end (a follower that keeps up may see everything).
    let out = sandbox(&home, &["logs", "bound", "big", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.ends_with(b"x\nend\n"));
    // Read afterwards, only the newest 1 MiB is left.
    let out = sandbox(&home, &["logs", "bound", "big"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.ends_with(b"x\nend\n"));
    assert!(out.stdout.len() <= 1 << 20, "{}", out.stdout.len());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bytes of earlier output were dropped (log bound)"),
        "{stderr}"
    );
}

#[test]
fn inspecting_a_missing_sandbox_does_not_create_it() {
    let home = TestHome::new();
    let verbs: [&[&str]; 5] = [
        &["ps", "nosuch"],
        &["logs", "nosuch", "p"],
        &["kill", "nosuch", "p"],
        &["kill", "nosuch", "--all"],
        &["sessions", "nosuch"],
    ];
    for args in verbs {
        let out = sandbox(&home, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("error: sandbox nosuch does not exist"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(ok(&home, &["list", "--json"]), "");
}

#[test]
fn kill_rejects_unknown_signal_names() {
    let home = TestHome::new();
    for signal in ["TERMINATE", "SIGNOPE", "99"] {
        let out = sandbox(&home, &["kill", "any", "p", "--signal", signal]);
        assert_eq!(out.status.code(), Some(2), "{signal}");
        assert!(
            text(&out.stderr).contains("signal"),
            "{}",
            text(&out.stderr)
        );
    }
    // A usage error touches nothing.
    assert_eq!(ok(&home, &["list", "--json"]), "");
}
