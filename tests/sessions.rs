//! Sessions: `cd` and `export` persist within one and never leak into another, commands in one
//! session run one at a time while separate sessions run in parallel, a timeout leaves the
//! session usable, and the sandbox-wide environment (`set_env_vars`).

mod common;

use std::time::Duration;

use common::{sandbox, text, TestHome};
use sandpit::sandbox::{Command, ErrorCode, SessionOptions};

async fn run(session: &sandpit::sandbox::Session, script: &str) -> String {
    let out = session.exec(Command::shell(script)).await.unwrap();
    assert!(out.success(), "{script}: {}", common::describe(&out));
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd_and_export_persist_in_a_session_and_not_in_another() {
    let home = TestHome::new();
    let sb = sandbox(&home, "sessions").await;
    let one = sb
        .create_session(SessionOptions::default().id("one"))
        .await
        .unwrap();
    let two = sb.create_session(SessionOptions::default()).await.unwrap();
    run(
        &one,
        "cd /tmp; export GREETING='hello world'; LOCAL=only-now",
    )
    .await;
    assert_eq!(run(&one, "pwd").await, "/tmp\n");
    assert_eq!(
        run(&one, "echo \"$GREETING|${LOCAL-}\"").await,
        "hello world|\n"
    );
    assert_eq!(run(&two, "pwd").await, "/workspace\n");
    assert_eq!(run(&two, "echo \"${GREETING-unset}\"").await, "unset\n");
    // Plain exec is not in any session.
    let plain = common::sh(&sb, "pwd; echo \"${GREETING-unset}\"").await;
    assert_eq!(text(&plain.stdout), "/workspace\nunset\n");
    // `exit` and a failing command still carry the state over; unset works too.
    let out = one
        .exec(Command::shell("cd /; export A=1; unset GREETING; exit 4"))
        .await
        .unwrap();
    assert_eq!(out.exit_code(), Some(4));
    assert_eq!(
        run(&one, "pwd; echo \"$A ${GREETING-gone}\"").await,
        "/\n1 gone\n"
    );
    // Argv commands run in the session's directory with its environment.
    let out = one.exec(Command::new("printenv").arg("A")).await.unwrap();
    assert_eq!(text(&out.stdout), "1\n");
    // A variable given for one command does not stick, unless the command changed it.
    let out = one
        .exec(
            Command::shell("echo $ONCE; export CHANGED=new")
                .env("ONCE", "x")
                .env("CHANGED", "old"),
        )
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "x\n");
    assert_eq!(
        run(&one, "echo \"${ONCE-none} ${CHANGED-none}\"").await,
        "none new\n"
    );
    // Values with newlines and shell metacharacters survive the round trip.
    run(&one, "export TRICKY=$'line one\\nline \"two\" $x `y`'").await;
    assert_eq!(
        run(&one, "printf '%s' \"$TRICKY\"").await,
        "line one\nline \"two\" $x `y`"
    );
    // SHLVL does not creep up command after command.
    assert_eq!(
        run(&one, "echo $SHLVL").await,
        run(&one, "echo $SHLVL").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_run_concurrently_and_one_session_runs_in_order() {
    let home = TestHome::new();
    let sb = sandbox(&home, "parallel").await;
    let a = sb
        .create_session(SessionOptions::default().id("a"))
        .await
        .unwrap();
    let b = sb
        .create_session(SessionOptions::default().id("b"))
        .await
        .unwrap();
    sb.mkdir("/tmp/rendezvous", true).await.unwrap();
    // Each waits for the other's marker: this finishes only if both run at the same time.
    let meet = |me: &'static str, other: &'static str| {
        Command::shell(format!(
            "touch /tmp/rendezvous/{me}; while [ ! -e /tmp/rendezvous/{other} ]; do sleep 0.01; done; echo met"
        ))
        .timeout(Duration::from_secs(30))
    };
    let (ra, rb) = tokio::join!(a.exec(meet("a", "b")), b.exec(meet("b", "a")));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        !ra.exit.timed_out && !rb.exit.timed_out,
        "sessions did not run concurrently"
    );
    assert_eq!(text(&ra.stdout), "met\n");

    // In one session the second command waits for the first: it sees the first one's marker
    // file complete, never half-written, and the first one's `cd`.
    let first = a.exec(Command::shell(
        "cd /tmp; for i in 1 2 3 4 5; do echo $i >> order; sleep 0.05; done",
    ));
    let second = async {
        // Queued behind `first` (sent after it has started).
        let deadline = common::Deadline::after(Duration::from_secs(30), "the first command");
        while !sb.exists("/tmp/order").await.unwrap() {
            deadline.tick().await;
        }
        a.exec(Command::shell("pwd; wc -l < order")).await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.unwrap().success());
    assert_eq!(text(&second.unwrap().stdout), "/tmp\n5\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_in_a_session_kills_the_command_and_leaves_the_session_usable() {
    let home = TestHome::new();
    let sb = sandbox(&home, "timeout").await;
    let session = sb
        .create_session(SessionOptions::default().cwd("/tmp"))
        .await
        .unwrap();
    run(&session, "export KEPT=yes").await;
    let out = session
        .exec(Command::shell("cd /; export LOST=1; sleep 60").timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(out.exit.timed_out);
    // The killed command's changes are not taken; what came before is.
    assert_eq!(
        run(&session, "pwd; echo \"$KEPT ${LOST-none}\"").await,
        "/tmp\nyes none\n"
    );
    let info = session.info().await.unwrap();
    assert!(!info.busy);
    assert_eq!(info.cwd, "/tmp");
    // A working directory removed behind the session's back does not wedge it.
    run(&session, "mkdir -p /tmp/gone && cd /tmp/gone").await;
    common::sh(&sb, "rm -rf /tmp/gone").await;
    assert_eq!(run(&session, "pwd; echo $KEPT").await, "/workspace\nyes\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_created_found_listed_and_deleted_with_typed_errors() {
    let home = TestHome::new();
    let sb = sandbox(&home, "lifecycle").await;
    let s = sb
        .create_session(
            SessionOptions::default()
                .id("work")
                .env("MODE", "ci")
                .cwd("/tmp"),
        )
        .await
        .unwrap();
    assert_eq!(run(&s, "echo $MODE; pwd").await, "ci\n/tmp\n");
    let err = sb
        .create_session(SessionOptions::default().id("work"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::AlreadyExists);
    let found = sb.get_session("work").await.unwrap();
    assert_eq!(run(&found, "pwd").await, "/tmp\n");
    let ids: Vec<String> = sb
        .list_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["work"]);

    // The default session exists without being created.
    let default = sb.default_session();
    run(&default, "cd /etc").await;
    assert_eq!(
        run(&sb.get_session("default").await.unwrap(), "pwd").await,
        "/etc\n"
    );

    // Deleting kills what runs in it.
    let running = tokio::spawn({
        let s = s.clone();
        async move {
            s.exec(Command::shell("echo started > /tmp/started; sleep 60"))
                .await
        }
    });
    let deadline = common::Deadline::after(Duration::from_secs(30), "the session command");
    while !sb.exists("/tmp/started").await.unwrap() {
        deadline.tick().await;
    }
    sb.delete_session("work").await.unwrap();
    let killed = running.await.unwrap().unwrap();
    assert_eq!(killed.exit.signal, Some(libc::SIGKILL));
    let err = sb.get_session("work").await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::SessionNotFound);
    assert_eq!(err.session_id(), Some("work"));
    let err = s.exec(Command::shell("true")).await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::SessionNotFound, "{err}");
    let err = sb
        .create_session(SessionOptions::default().id("no/slash"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_env_vars_reaches_later_commands_and_sessions_and_survives_sleep() {
    let home = TestHome::new();
    let sb = sandbox(&home, "envvars").await;
    let session = sb.create_session(SessionOptions::default()).await.unwrap();
    sb.set_env_vars([("ADDED", Some("1")), ("LANG", None)])
        .await
        .unwrap();
    let plain = common::sh(&sb, "echo \"$ADDED ${LANG-unset}\"").await;
    assert_eq!(text(&plain.stdout), "1 unset\n");
    assert_eq!(run(&session, "echo \"$ADDED\"").await, "1\n");
    // Recorded for the next wake: stop the agent (as sleep does) and ask again.
    let record = home.record("envvars");
    let pid = record["agent"]["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    let deadline = common::Deadline::after(Duration::from_secs(30), "the agent to stop");
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        deadline.tick().await;
    }
    let woken = common::sh(&sb, "echo \"$ADDED ${LANG-unset}\"").await;
    assert_eq!(text(&woken.stdout), "1 unset\n");
    let err = sb
        .set_env_vars([("BAD=NAME", Some("x"))])
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
}
