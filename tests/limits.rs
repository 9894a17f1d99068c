//! Resource limits: memory (OOM kills are reported), pids (fork bombs stay inside), CPU quota,
//! timeouts (the whole process group goes), and the cgroup files that carry the limits.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{describe, processes, sh, text, Deadline, TestHome};
use sandpit::sandbox::{
    Command, ExecEvent, Limits, OutputStream, Sandbox, SandboxOptions, SandboxState,
};

const MIB: u64 = 1 << 20;

/// Generous safety net for conditions the tests wait for.
const DEADLINE: Duration = Duration::from_secs(20);

fn with_limits(limits: Limits) -> SandboxOptions {
    SandboxOptions {
        limits,
        ..common::options()
    }
}

/// Allocates and touches `mib` MiB in 1 MiB chunks, then prints "survived".
fn allocate(mib: u64) -> Command {
    Command::argv([
        "python3".to_string(),
        "-c".to_string(),
        format!("chunks = [b'\\x01' * (1 << 20) for _ in range({mib})]\nprint('survived')"),
    ])
    .timeout(common::EXEC_DEADLINE)
}

/// The host pid of the sandbox's agent, from its record.
fn agent_pid(home: &TestHome, id: &str) -> u64 {
    home.record(id)["agent"]["pid"]
        .as_u64()
        .expect("the record names the agent's pid")
}

/// The sandbox's cgroup directories, from its record.
fn cgroup_dirs(home: &TestHome, id: &str) -> Vec<PathBuf> {
    let record = home.record(id);
    let dirs = record["cgroup"]["dirs"]
        .as_array()
        .unwrap_or_else(|| panic!("no cgroup dirs in the record: {record}"));
    dirs.iter()
        .map(|d| PathBuf::from(d.as_str().expect("cgroup dir is a string")))
        .collect()
}

/// The trimmed contents of the first of `files` that exists in one of `dirs`, with its path.
fn cgroup_value(dirs: &[PathBuf], files: &[&str]) -> (PathBuf, String) {
    for dir in dirs {
        for file in files {
            let path = dir.join(file);
            if let Ok(value) = std::fs::read_to_string(&path) {
                return (path, value.trim().to_string());
            }
        }
    }
    panic!("none of {files:?} exists in {dirs:?}");
}

/// Waits until the sandbox runs nothing but its agent and the listing shell, returning what
/// was left if that does not happen before [`DEADLINE`]. Killed processes exit and are reaped
/// asynchronously, and while they linger the listing itself may fail to start.
async fn wait_until_idle(sandbox: &Sandbox) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < DEADLINE {
        match processes(sandbox).await {
            Ok(procs) if procs.len() <= 2 => return Ok(()),
            Ok(procs) => last = format!("{procs:?}"),
            Err(e) => last = format!("listing failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_is_oom_killed() {
    let home = TestHome::new();
    let id = "lim-oom";
    let sandbox = home
        .sandboxes
        .get(
            id,
            with_limits(Limits {
                memory_bytes: Some(64 * MIB),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();
    let agent = agent_pid(&home, id);

    let out = sandbox.exec(allocate(512)).await.unwrap();
    assert!(
        out.exit.oom_killed,
        "512 MiB under a 64 MiB limit: {}",
        describe(&out)
    );
    assert_eq!(out.exit.signal, Some(libc::SIGKILL), "{}", describe(&out));
    assert!(!out.exit.timed_out, "{}", describe(&out));
    assert!(!text(&out.stdout).contains("survived"));

    // The sandbox itself survived: same agent, still answering.
    let after = sh(&sandbox, "echo alive").await;
    assert_eq!(text(&after.stdout), "alive\n", "{}", describe(&after));
    assert_eq!(
        agent_pid(&home, id),
        agent,
        "the agent was replaced: the OOM killer took the sandbox down"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_tmp_past_the_memory_limit_does_not_kill_the_agent() {
    let home = TestHome::new();
    let id = "lim-tmpfs";
    let sandbox = home
        .sandboxes
        .get(
            id,
            with_limits(Limits {
                memory_bytes: Some(64 * MIB),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();
    let agent = agent_pid(&home, id);

    // tmpfs pages belong to no process, so the OOM killer must find its victim among the
    // commands; the agent (PID 1) going instead takes the whole sandbox down.
    let out = sandbox
        .exec(
            Command::argv(["dd", "if=/dev/zero", "of=/tmp/fill", "bs=1M", "count=256"])
                .timeout(common::EXEC_DEADLINE),
        )
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!("no exit report for the command that filled /tmp: {e}"),
    };
    assert!(!out.success(), "256 MiB fit in /tmp under a 64 MiB limit");
    sandbox.ping().await.unwrap();
    assert_eq!(
        agent_pid(&home, id),
        agent,
        "the agent died (the sandbox had to be woken again)"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_under_the_memory_limit_is_not_reported_as_oom_killed() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get(
            "lim-under",
            with_limits(Limits {
                memory_bytes: Some(64 * MIB),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();
    let out = sandbox.exec(allocate(16)).await.unwrap();
    assert!(
        out.success(),
        "16 MiB under a 64 MiB limit: {}",
        describe(&out)
    );
    assert!(!out.exit.oom_killed, "{}", describe(&out));
    assert_eq!(text(&out.stdout), "survived\n");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_an_earlier_oom_is_not_reported_as_oom() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get(
            "lim-oom-then-kill",
            with_limits(Limits {
                memory_bytes: Some(64 * MIB),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();
    let oom = sandbox.exec(allocate(512)).await.unwrap();
    assert!(oom.exit.oom_killed, "{}", describe(&oom));

    let killed = sh(&sandbox, "kill -KILL $$").await;
    assert_eq!(
        killed.exit.signal,
        Some(libc::SIGKILL),
        "{}",
        describe(&killed)
    );
    assert!(
        !killed.exit.oom_killed,
        "a plain SIGKILL was reported as an OOM kill: {}",
        describe(&killed)
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_is_contained_by_pids_limit() {
    let home = TestHome::new();
    let id = "lim-forkbomb";
    let sandbox = home
        .sandboxes
        .get(
            id,
            with_limits(Limits {
                pids: Some(64),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();

    // The bomb runs in the background of the command's process group; the shell then becomes
    // a `sleep` (exec needs no fork) so the command lasts until its timeout.
    let mut stream = sandbox
        .exec_stream(Command::shell(":(){ :|:& };:; exec sleep 30").timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    let mut stderr = String::new();
    let mut host_checked = false;
    let report = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = stream.next().await {
            match event.expect("the bomb's event stream broke") {
                ExecEvent::Output {
                    stream: OutputStream::Stderr,
                    data,
                    ..
                } => {
                    stderr.push_str(&text(&data));
                    if !host_checked
                        && (stderr.contains("Resource temporarily unavailable")
                            || stderr.contains("retry"))
                    {
                        host_checked = true;
                        // The limit bites right now; the host must still be able to fork.
                        let started = Instant::now();
                        let spawned = tokio::task::spawn_blocking(|| {
                            (0..5).all(|_| {
                                std::process::Command::new("true")
                                    .status()
                                    .is_ok_and(|s| s.success())
                            })
                        })
                        .await
                        .unwrap();
                        assert!(spawned, "the host cannot start processes during the bomb");
                        assert!(
                            started.elapsed() < Duration::from_secs(5),
                            "the host crawls during the bomb: {:?} for 5 processes",
                            started.elapsed()
                        );
                    }
                }
                ExecEvent::Exit(report) => return report,
                _ => {}
            }
        }
        panic!("the stream ended without an exit event");
    })
    .await
    .expect("the fork bomb outlived its timeout");

    assert!(
        host_checked,
        "no fork failures reported, the pids limit did not bite:\n{stderr}"
    );
    // `exec sleep 30` outlives the 2 s timeout, so only the timeout can end the command.
    assert!(report.timed_out, "{report:?}");
    let (events, counters) = cgroup_value(&cgroup_dirs(&home, id), &["pids.events"]);
    let denied: u64 = counters
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        denied > 0,
        "{} says no fork was denied: {counters}",
        events.display()
    );
    if let Err(left) = wait_until_idle(&sandbox).await {
        panic!("processes left over after the bomb was killed: {left}");
    }
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_command_and_all_its_children_are_gone() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("lim-timeout", common::options())
        .await
        .unwrap();
    let started = Instant::now();
    let out = sandbox
        .exec(
            Command::argv(["sh", "-c", "sleep 300 & sleep 300 & echo up; wait"])
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(out.exit.timed_out, "{}", describe(&out));
    assert_eq!(out.exit.signal, Some(libc::SIGKILL), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "up\n", "the children never started");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout took {:?}",
        started.elapsed()
    );

    let gone = Deadline::after(DEADLINE, "the timed-out command's children to be gone");
    loop {
        let procs = processes(&sandbox).await.unwrap();
        if !procs.iter().any(|(_, c)| c == "sleep 300") {
            break;
        }
        gone.tick().await;
    }
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exec_timeout_exits_with_status_124() {
    let home = TestHome::new();
    let mut cli = home.cli();
    cli.args([
        "sandbox",
        "exec",
        "lim-cli-timeout",
        "--timeout",
        "1s",
        "--",
        "sleep",
        "30",
    ]);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cli.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(124),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the 1 s timeout took {:?}",
        started.elapsed()
    );
}

/// Busy-loops for a second and prints CPU time over wall time.
const BUSY_LOOP: &str = r#"
import time
wall0, cpu0 = time.monotonic(), time.process_time()
while time.monotonic() - wall0 < 1.0:
    pass
print((time.process_time() - cpu0) / (time.monotonic() - wall0))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_quota_holds_a_busy_loop_well_below_one_cpu() {
    let home = TestHome::new();
    let id = "lim-cpu";
    let sandbox = home
        .sandboxes
        .get(
            id,
            with_limits(Limits {
                cpu_millis: Some(200),
                ..Limits::default()
            }),
        )
        .await
        .unwrap();

    assert_limits_in_cgroups(
        &home,
        id,
        &Limits {
            cpu_millis: Some(200),
            ..Limits::default()
        },
    );

    let out = sandbox
        .exec(Command::argv(["python3", "-c", BUSY_LOOP]).timeout(common::EXEC_DEADLINE))
        .await
        .unwrap();
    assert!(out.success(), "{}", describe(&out));
    let ratio: f64 = text(&out.stdout).trim().parse().unwrap();
    assert!(
        ratio > 0.0 && ratio < 0.5,
        "a 0.2 CPU quota let the loop use {ratio:.2} CPUs"
    );
    sandbox.destroy().await.unwrap();
}

/// Checks that sandbox `id`'s recorded cgroups carry `limits` and hold its agent (and so every
/// command); returns the directories.
fn assert_limits_in_cgroups(home: &TestHome, id: &str, limits: &Limits) -> Vec<PathBuf> {
    let dirs = cgroup_dirs(home, id);
    if let Some(bytes) = limits.memory_bytes {
        let (path, memory) = cgroup_value(&dirs, &["memory.max", "memory.limit_in_bytes"]);
        assert_eq!(memory, bytes.to_string(), "{}", path.display());
        let memsw = path.with_file_name("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            let swap = std::fs::read_to_string(&memsw).unwrap();
            assert_eq!(swap.trim(), bytes.to_string(), "{}", memsw.display());
        }
    }
    if let Some(pids) = limits.pids {
        let (path, value) = cgroup_value(&dirs, &["pids.max"]);
        assert_eq!(value, pids.to_string(), "{}", path.display());
    }
    if let Some(millis) = limits.cpu_millis {
        let quota = millis * 100;
        let (path, value) = cgroup_value(&dirs, &["cpu.max", "cpu.cfs_quota_us"]);
        let expected = if path.ends_with("cpu.max") {
            format!("{quota} 100000")
        } else {
            let period = std::fs::read_to_string(path.with_file_name("cpu.cfs_period_us")).unwrap();
            assert_eq!(period.trim(), "100000");
            quota.to_string()
        };
        assert_eq!(value, expected, "{}", path.display());
    }
    let agent = agent_pid(home, id).to_string();
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|p| p == agent),
            "agent {agent} is not in {}: {procs:?}",
            dir.display()
        );
    }
    dirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_written_to_the_recorded_cgroups_which_hold_the_agent() {
    let home = TestHome::new();
    let id = "lim-cgroup-files";
    let limits = Limits {
        memory_bytes: Some(96 * MIB),
        pids: Some(77),
        cpu_millis: Some(250),
    };
    let sandbox = home
        .sandboxes
        .get(id, with_limits(limits.clone()))
        .await
        .unwrap();
    let dirs = assert_limits_in_cgroups(&home, id, &limits);
    sandbox.destroy().await.unwrap();
    for dir in &dirs {
        assert!(!dir.exists(), "{} outlived destroy", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_survive_idle_sleep_and_wake() {
    let home = TestHome::new();
    let id = "lim-sleep-wake";
    let limits = Limits {
        memory_bytes: Some(80 * MIB),
        pids: Some(55),
        cpu_millis: Some(300),
    };
    let options = SandboxOptions {
        sleep_after: Duration::from_millis(300),
        ..with_limits(limits.clone())
    };
    home.sandboxes.get(id, options).await.unwrap();
    let first_agent = agent_pid(&home, id);

    let asleep = Deadline::after(DEADLINE, "the idle sandbox to go to sleep");
    loop {
        let list = home.sandboxes.list().await.unwrap();
        let info = list.iter().find(|i| i.record.id == id).expect("listed");
        if info.state == SandboxState::Sleeping {
            break;
        }
        asleep.tick().await;
    }

    // Woken by someone who asks for no limits: the recorded ones still apply.
    let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();
    let out = sh(&sandbox, "echo awake").await;
    assert_eq!(text(&out.stdout), "awake\n", "{}", describe(&out));
    assert_ne!(agent_pid(&home, id), first_agent, "the sandbox never slept");
    assert_limits_in_cgroups(&home, id, &limits);
    sandbox.destroy().await.unwrap();
}
