//! Sandbox lifecycle across processes: one id is one sandbox (SDK and CLI alike), destroy leaves
//! nothing behind, idle sandboxes sleep and wake with their workspace, prune repairs crashes,
//! ids are validated, and many sandboxes can exist at once.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{Deadline, TestHome};
use sandpit::sandbox::{Command, ErrorCode, SandboxOptions, SandboxState};

// ---------------------------------------------------------------------------------------------
// Host-side observations (independent of sandpit's own code, so they can catch its bugs).

/// The agent recorded for `id`: host pid and start time.
fn recorded_agent(home: &TestHome, id: &str) -> (u32, u64) {
    let record = home.record(id);
    let agent = &record["agent"];
    let pid = agent["pid"].as_u64().expect("record has agent.pid") as u32;
    let start_time = agent["start_time"]
        .as_u64()
        .expect("record has agent.start_time");
    (pid, start_time)
}

/// The cgroup directories recorded for `id`.
fn recorded_cgroups(home: &TestHome, id: &str) -> Vec<PathBuf> {
    let record = home.record(id);
    let dirs: Vec<PathBuf> = record["cgroup"]["dirs"]
        .as_array()
        .expect("record has cgroup.dirs")
        .iter()
        .map(|d| PathBuf::from(d.as_str().expect("cgroup dir is a string")))
        .collect();
    assert!(!dirs.is_empty(), "the record names no cgroup directory");
    dirs
}

/// Whether host process `pid` started at `start_time` is running (a zombie counts as gone).
fn process_running(pid: u32, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let state = fields.first().copied().unwrap_or("X");
    let started = fields.get(19).and_then(|s| s.parse::<u64>().ok());
    started == Some(start_time) && state != "Z" && state != "X"
}

/// Host pids of the processes whose argv[0] is exactly `argv0`.
fn host_processes_named(argv0: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|&b| b == 0).next() == Some(argv0.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// The `pid:[inode]` link of a host process's pid namespace.
fn pid_namespace_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .expect("read a pid namespace link")
        .to_string_lossy()
        .into_owned()
}

/// Processes of the cgroup in `dir` whose command line says they are a sandbox init/agent.
fn agents_in_cgroup(dir: &Path) -> Vec<u32> {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("read cgroup.procs");
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    c.split(|&b| b == 0)
                        .any(|arg| arg == sandpit::runtime::INIT_ARG.as_bytes())
                })
                .unwrap_or(false)
        })
        .collect()
}

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("run the sandpit binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sandpit sandbox list --json`, parsed, one value per line.
fn cli_list_json(home: &TestHome) -> Vec<serde_json::Value> {
    let out = run(home.cli().args(["sandbox", "list", "--json"]));
    assert!(out.status.success(), "list --json failed: {out:?}");
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

async fn state_of(home: &TestHome, id: &str) -> Option<SandboxState> {
    home.sandboxes
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|info| info.record.id == id)
        .map(|info| info.state)
}

async fn kill_agent_and_wait(home: &TestHome, id: &str) {
    let (pid, start_time) = recorded_agent(home, id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the agent");
    let deadline = Deadline::after(Duration::from_secs(10), "the killed agent to be gone");
    while process_running(pid, start_time) {
        deadline.tick().await;
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_id_from_two_processes_is_one_sandbox() {
    let home = TestHome::new();

    // One process writes, a second one reads it back: same sandbox, same agent.
    let write = run(home.cli().args([
        "sandbox",
        "exec",
        "shared",
        "--",
        "sh",
        "-c",
        "echo hi > /workspace/f",
    ]));
    assert!(write.status.success(), "{write:?}");
    let agent = recorded_agent(&home, "shared");

    let read = run(home
        .cli()
        .args(["sandbox", "exec", "shared", "--", "cat", "/workspace/f"]));
    assert!(read.status.success(), "{read:?}");
    assert_eq!(text(&read.stdout), "hi\n");
    assert_eq!(
        recorded_agent(&home, "shared"),
        agent,
        "the second process started another agent"
    );
    let listed = cli_list_json(&home);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], "shared");
    assert_eq!(listed[0]["pid"], agent.0);
    assert_eq!(listed[0]["state"], "running");

    // Two processes racing to create a new id end up in the same single sandbox.
    let spawn = || {
        home.cli()
            .args([
                "sandbox",
                "exec",
                "raced",
                "--",
                "readlink",
                "/proc/self/ns/pid",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sandpit")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "first racer failed: {a:?}");
    assert!(b.status.success(), "second racer failed: {b:?}");
    let (raced_pid, raced_start) = recorded_agent(&home, "raced");
    assert!(process_running(raced_pid, raced_start));
    let ns = format!("{}\n", pid_namespace_of(raced_pid));
    assert_eq!(
        text(&a.stdout),
        ns,
        "first racer ran outside the recorded sandbox"
    );
    assert_eq!(
        text(&b.stdout),
        ns,
        "second racer ran outside the recorded sandbox"
    );
    for dir in recorded_cgroups(&home, "raced") {
        assert_eq!(
            agents_in_cgroup(&dir),
            vec![raced_pid],
            "expected exactly the recorded agent in {}",
            dir.display()
        );
    }
    let ids: BTreeSet<String> = cli_list_json(&home)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, BTreeSet::from(["raced".into(), "shared".into()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_cli_share_a_sandbox() {
    let home = TestHome::new();
    let sandbox = home.sandboxes.get("both", common::options()).await.unwrap();
    let agent = recorded_agent(&home, "both");
    let out = sandbox
        .exec(Command::shell("echo from-sdk > /workspace/sdk"))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");

    let cli = run(home.cli().args([
        "sandbox",
        "exec",
        "both",
        "--",
        "sh",
        "-c",
        "cat /workspace/sdk && echo from-cli > /workspace/cli",
    ]));
    assert!(cli.status.success(), "{cli:?}");
    assert_eq!(text(&cli.stdout), "from-sdk\n");

    let out = sandbox
        .exec(Command::argv(["cat", "/workspace/cli"]))
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "from-cli\n", "{out:?}");
    assert_eq!(
        recorded_agent(&home, "both"),
        agent,
        "a second agent was started"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_leaves_nothing_behind() {
    let home = TestHome::new();
    let id = "doomed";
    let marker = common::marker("destroy");
    let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();
    let out = sandbox
        .exec(
            Command::shell(r#"(exec -a "$MARKER" sleep 300) >/dev/null 2>&1 & echo started"#)
                .env("MARKER", &marker),
        )
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "started\n", "{out:?}");
    let (pid, start_time) = recorded_agent(&home, id);
    let cgroups = recorded_cgroups(&home, id);
    let dir = home.path().join("sandboxes").join(id);
    let lock = home.path().join("sandboxes").join(format!("{id}.lock"));
    let state_dir = std::fs::canonicalize(home.path()).unwrap();

    // Preconditions, so the checks below mean something.
    let deadline = Deadline::after(Duration::from_secs(10), "the background sleep to start");
    while host_processes_named(&marker).is_empty() {
        deadline.tick().await;
    }
    assert!(process_running(pid, start_time));
    for cgroup in &cgroups {
        assert!(
            cgroup.is_dir(),
            "{} missing while running",
            cgroup.display()
        );
    }
    assert!(dir.is_dir() && lock.exists());

    sandbox.destroy().await.unwrap();

    assert!(
        !process_running(pid, start_time),
        "the agent survived destroy"
    );
    assert_eq!(
        host_processes_named(&marker),
        Vec::<u32>::new(),
        "a background process of the sandbox survived destroy"
    );
    for cgroup in &cgroups {
        assert!(
            !cgroup.exists(),
            "cgroup {} survived destroy",
            cgroup.display()
        );
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let leaked: Vec<&str> = mountinfo
        .lines()
        .filter(|l| l.contains(state_dir.to_str().unwrap()))
        .collect();
    assert!(leaked.is_empty(), "mounts left on the host: {leaked:#?}");
    assert!(!dir.exists(), "{} survived destroy", dir.display());
    assert!(!lock.exists(), "{} survived destroy", lock.display());
    assert!(home.sandboxes.list().await.unwrap().is_empty());

    // Destroying again is a no-op, for the SDK and the CLI alike.
    assert!(!home.sandboxes.destroy(id).await.unwrap());
    let again = run(home.cli().args(["sandbox", "destroy", id]));
    assert!(again.status.success(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_mounts_stay_out_of_the_host_mount_table() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("private-mounts", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::shell(
            "touch /workspace/x && grep -c ' /workspace ' /proc/self/mountinfo",
        ))
        .await
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        "1\n",
        "workspace not mounted inside: {out:?}"
    );
    let state_dir = std::fs::canonicalize(home.path()).unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let leaked: Vec<&str> = mountinfo
        .lines()
        .filter(|l| l.contains(state_dir.to_str().unwrap()))
        .collect();
    assert!(
        leaked.is_empty(),
        "a running sandbox's mounts propagated to the host: {leaked:#?}"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_then_wake_keeps_workspace() {
    let home = TestHome::new();
    let id = "sleepy";
    let options = SandboxOptions {
        sleep_after: Duration::from_secs(1),
        ..common::options()
    };
    let sandbox = home.sandboxes.get(id, options).await.unwrap();
    let out = sandbox
        .exec(Command::shell(
            "echo kept > /workspace/keep && echo lost > /tmp/gone",
        ))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    let first = recorded_agent(&home, id);

    let deadline = Deadline::after(Duration::from_secs(15), "the idle sandbox to sleep");
    while state_of(&home, id).await != Some(SandboxState::Sleeping)
        || process_running(first.0, first.1)
    {
        deadline.tick().await;
    }
    assert!(
        home.path()
            .join("sandboxes")
            .join(id)
            .join("workspace/keep")
            .exists(),
        "the workspace did not survive the sleep on disk"
    );

    // The next exec wakes it transparently.
    let out = sandbox
        .exec(Command::shell(
            "cat /workspace/keep; test -e /tmp/gone && echo tmp-kept || echo tmp-fresh",
        ))
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "kept\ntmp-fresh\n", "{out:?}");
    let second = recorded_agent(&home, id);
    assert_ne!(second, first, "the agent was not restarted");
    assert!(process_running(second.0, second.1));
    assert_eq!(state_of(&home, id).await, Some(SandboxState::Running));
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_sandbox_never_sleeps() {
    let home = TestHome::new();
    let id = "awake";
    let sleep_after = Duration::from_secs(1);
    let options = SandboxOptions {
        sleep_after,
        keep_alive: true,
        ..common::options()
    };
    let sandbox = home.sandboxes.get(id, options).await.unwrap();
    assert!(sandbox.exec(Command::new("true")).await.unwrap().success());
    let agent = recorded_agent(&home, id);

    // The property is that nothing happens, so waiting is the test.
    tokio::time::sleep(sleep_after * 2).await;
    assert!(
        process_running(agent.0, agent.1),
        "a keep-alive sandbox went to sleep"
    );
    assert_eq!(state_of(&home, id).await, Some(SandboxState::Running));
    sandbox.ping().await.unwrap();
    assert_eq!(recorded_agent(&home, id), agent);
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_cleans_up_after_a_crashed_agent() {
    let home = TestHome::new();
    let id = "crashed";
    let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();
    let healthy = home
        .sandboxes
        .get("healthy", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::shell("echo survived > /workspace/keep"))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    let crashed_agent = recorded_agent(&home, id);
    let cgroups = recorded_cgroups(&home, id);
    let healthy_agent = recorded_agent(&home, "healthy");
    let healthy_cgroups = recorded_cgroups(&home, "healthy");
    let dir = home.path().join("sandboxes").join(id);
    let socket = dir.join("agent.sock");

    kill_agent_and_wait(&home, id).await;
    assert!(socket.exists(), "precondition: the crash leaves the socket");
    assert_eq!(state_of(&home, id).await, Some(SandboxState::Sleeping));

    let report = home.sandboxes.prune().await.unwrap();
    assert!(report.stale_sockets.contains(&id.to_string()), "{report:?}");
    assert!(
        !report.stale_cgroups.contains(&"healthy".to_string()),
        "{report:?}"
    );
    assert!(!socket.exists(), "prune left the stale socket");
    for cgroup in &cgroups {
        assert!(!cgroup.exists(), "prune left cgroup {}", cgroup.display());
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("workspace/keep")).unwrap(),
        "survived\n",
        "prune must keep the workspace"
    );
    // The running neighbour is untouched.
    assert!(process_running(healthy_agent.0, healthy_agent.1));
    for cgroup in &healthy_cgroups {
        assert!(
            cgroup.is_dir(),
            "prune removed live cgroup {}",
            cgroup.display()
        );
    }
    assert!(healthy.exec(Command::new("true")).await.unwrap().success());

    // The crashed sandbox wakes on the next exec, workspace intact.
    let out = sandbox
        .exec(Command::argv(["cat", "/workspace/keep"]))
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "survived\n", "{out:?}");
    let woken = recorded_agent(&home, id);
    assert_ne!(woken, crashed_agent);
    assert!(process_running(woken.0, woken.1));
    sandbox.destroy().await.unwrap();
    healthy.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_are_refused() {
    let home = TestHome::new();
    let too_long = "a".repeat(64);
    for id in ["Bad_Id", "", too_long.as_str(), "../x", "-x", "a/b"] {
        let err = match home.sandboxes.get(id, common::options()).await {
            Ok(_) => panic!("id {id:?} was accepted"),
            Err(e) => e,
        };
        assert_eq!(err.code(), ErrorCode::InvalidId, "{id:?}: {err}");
        assert_eq!(err.code().as_str(), "INVALID_ID");
        let err = home.sandboxes.destroy(id).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidId, "destroy {id:?}: {err}");
    }
    // Nothing was created, neither inside the state directory nor beside it.
    let entries: Vec<_> = std::fs::read_dir(home.path().join("sandboxes"))
        .unwrap()
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
    assert!(!home.path().join("x").exists());

    let out = run(home.cli().args(["sandbox", "exec", "Bad_Id", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = text(&out.stderr);
    let naming: Vec<&str> = stderr.lines().filter(|l| l.contains("Bad_Id")).collect();
    assert_eq!(
        naming.len(),
        1,
        "expected one line naming the id: {stderr:?}"
    );
    assert!(naming[0].starts_with("error:"), "{stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Usage"),
        "{stderr:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_each_sandbox_and_its_state() {
    let home = TestHome::new();
    let _alpha = home
        .sandboxes
        .get("alpha", common::options())
        .await
        .unwrap();
    let _beta = home.sandboxes.get("beta", common::options()).await.unwrap();
    let (alpha_pid, _) = recorded_agent(&home, "alpha");
    kill_agent_and_wait(&home, "beta").await;

    let out = run(home.cli().args(["sandbox", "list"]));
    assert!(out.status.success(), "{out:?}");
    let human = text(&out.stdout);
    let row = |id: &str| -> Vec<String> {
        human
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|f| f.first().map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no row for {id} in {human:?}"))
    };
    assert_eq!(
        row("alpha")[1..3],
        ["running".to_string(), alpha_pid.to_string()]
    );
    assert_eq!(row("beta")[1..3], ["sleeping".to_string(), "-".to_string()]);

    let json = cli_list_json(&home);
    assert_eq!(json.len(), 2, "{json:?}");
    let alpha = json
        .iter()
        .find(|v| v["id"] == "alpha")
        .expect("alpha listed");
    let beta = json
        .iter()
        .find(|v| v["id"] == "beta")
        .expect("beta listed");
    assert_eq!(alpha["state"], "running");
    assert_eq!(alpha["pid"], alpha_pid);
    assert_eq!(beta["state"], "sleeping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_all_removes_every_sandbox() {
    let home = TestHome::new();
    let mut agents = Vec::new();
    for id in ["one", "two", "three"] {
        home.sandboxes.get(id, common::options()).await.unwrap();
        agents.push(recorded_agent(&home, id));
    }
    kill_agent_and_wait(&home, "three").await; // a sleeping one goes too

    let out = run(home.cli().args(["sandbox", "destroy", "--all"]));
    assert!(out.status.success(), "{out:?}");
    assert!(home.sandboxes.list().await.unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(home.path().join("sandboxes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the state directory: {left:?}");
    for (pid, start_time) in agents {
        assert!(!process_running(pid, start_time), "agent {pid} survived");
    }
    let listed = run(home.cli().args(["sandbox", "list", "--json"]));
    assert!(listed.stdout.is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_idle_sandboxes_run_at_once() {
    use futures::stream::{self, StreamExt};
    const COUNT: usize = 100;
    const PARALLEL: usize = 8;
    let home = TestHome::new();
    let ids: Vec<String> = (0..COUNT).map(|i| format!("idle-{i}")).collect();
    let started = Instant::now();

    // Every step runs to completion before anything is asserted: a creation still in flight
    // when the test fails would outlive the state directory's clean-up.
    let options = SandboxOptions {
        keep_alive: true,
        ..common::options()
    };
    let results: Vec<_> = stream::iter(ids.iter())
        .map(|id| home.sandboxes.get(id, options.clone()))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let created = started.elapsed();
    let (sandboxes, errors): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let errors: Vec<String> = errors
        .into_iter()
        .filter_map(Result::err)
        .map(|e| sandpit::error_chain(&e))
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {COUNT} creations failed, e.g. {:?}",
        errors.len(),
        errors.first()
    );
    let sandboxes: Vec<_> = sandboxes.into_iter().map(Result::unwrap).collect();

    let outputs: Vec<_> = stream::iter(sandboxes.iter())
        .map(|s| s.exec(Command::new("true")))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for out in outputs {
        let out = out.expect("exec in one of many sandboxes");
        assert!(out.success(), "{out:?}");
    }

    let list = home.sandboxes.list().await.unwrap();
    assert_eq!(list.len(), COUNT);
    assert!(list.iter().all(|i| i.state == SandboxState::Running));
    let agents: BTreeSet<u32> = list.iter().map(|i| i.record.agent.unwrap().pid).collect();
    assert_eq!(agents.len(), COUNT, "sandboxes share agents");

    let destroyed: Vec<_> = stream::iter(ids.iter())
        .map(|id| home.sandboxes.destroy(id))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for existed in destroyed {
        assert!(existed.expect("destroy one of many sandboxes"));
    }
    assert!(home.sandboxes.list().await.unwrap().is_empty());
    eprintln!(
        "{COUNT} sandboxes: created in {created:?}, total {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_spares_sandboxes_created_while_it_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const COUNT: usize = 30;
    let home = TestHome::new();
    // Prune runs over and over while sandboxes are being created: none of them is a leftover.
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let sandboxes = home.sandboxes.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut reports = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                reports.push(sandboxes.prune().await);
            }
            reports
        })
    };
    let mut created = Vec::new();
    let mut failures = Vec::new();
    for i in 0..COUNT {
        let id = format!("busy-{i}");
        match home.sandboxes.get(&id, common::options()).await {
            Ok(_) => created.push((id.clone(), recorded_agent(&home, &id))),
            Err(e) => failures.push(format!("{id}: {}", sandpit::error_chain(&e))),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reports = pruner.await.unwrap();
    for (id, (pid, start_time)) in &created {
        if !process_running(*pid, *start_time) {
            failures.push(format!("{id}: its agent was killed"));
        }
    }
    let removed: Vec<_> = reports
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| !r.orphan_dirs.is_empty() || !r.stale_cgroups.is_empty())
        .collect();
    assert!(
        failures.is_empty() && removed.is_empty(),
        "{} of {COUNT} sandboxes broken by {} concurrent prunes, e.g.:\n{}\n\
         prune reports that removed something: {:?}",
        failures.len(),
        reports.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        removed.iter().take(3).collect::<Vec<_>>()
    );
}
