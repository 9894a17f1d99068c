//! What a sandbox can and cannot reach: host files, host processes, other sandboxes, the host's
//! network, privileged kernel interfaces, and the host file system it is built from.

mod common;

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use common::{describe, processes, sh, text, TestHome};
use sandpit::sandbox::{BindMount, Command, Network, SandboxOptions};

/// Host files and directories a test created; removed when the guard drops, also on failure.
#[derive(Default)]
struct HostPaths(Vec<PathBuf>);

impl HostPaths {
    /// Writes `contents` to `path` (creating its parent if it is missing, which is then also
    /// removed) and remembers both.
    fn file(&mut self, path: impl Into<PathBuf>, contents: &str) -> PathBuf {
        let path = path.into();
        let parent = path.parent().expect("absolute path").to_path_buf();
        if !parent.exists() {
            std::fs::create_dir_all(&parent).unwrap();
            self.0.push(parent);
        }
        self.0.push(path.clone());
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
        path
    }

    /// Remembers a path that should never come to exist, so a leak is cleaned up too.
    fn watch(&mut self, path: impl Into<PathBuf>) -> PathBuf {
        let path = path.into();
        self.0.push(path.clone());
        path
    }
}

impl Drop for HostPaths {
    fn drop(&mut self) {
        // Children were pushed after their parents: remove in reverse.
        for path in self.0.iter().rev() {
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir_all(path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(path);
                }
                Err(_) => {}
            }
        }
    }
}

/// A host process, killed and reaped when the guard drops.
struct HostProcess(std::process::Child);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tmpfs mounted on the host, detached when the guard drops.
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn mount(target: PathBuf) -> Self {
        std::fs::create_dir(&target).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", target.display()));
        Self(target)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Opens `path` without `O_CLOEXEC`, as a program embedding the SDK may hold descriptors
/// (inherited from its own parent, or opened by a library); closed when dropped.
fn inheritable_dir_fd(path: &Path) -> OwnedFd {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// A script printing every path in the sandbox (outside /proc and /sys) whose name contains
/// `marker`.
fn find_by_name(marker: &str) -> String {
    format!(
        "find / \\( -path /proc -o -path /sys \\) -prune -o -name '*{marker}*' -print 2>/dev/null"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_files_outside_the_sandbox_are_not_readable_inside() {
    let home = TestHome::new();
    let marker = common::marker("leak");
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut host = HostPaths::default();
    let places = [
        (
            "root-home",
            PathBuf::from(format!("/root/{marker}-root-home")),
        ),
        (
            "user-home",
            PathBuf::from(format!("/home/{marker}-dir/{marker}-user-home")),
        ),
        ("project", project.join(format!("{marker}-project"))),
        ("state-dir", home.path().join(format!("{marker}-state-dir"))),
        ("host-tmp", PathBuf::from(format!("/tmp/{marker}-host-tmp"))),
        (
            "var-lib",
            PathBuf::from(format!("/var/lib/{marker}-var-lib")),
        ),
        ("run", PathBuf::from(format!("/run/{marker}-run"))),
    ];
    for (label, path) in &places {
        host.file(path, &format!("{marker}-content-{label}\n"));
    }
    let sandbox = home
        .sandboxes
        .get("iso-leak", common::options())
        .await
        .unwrap();

    for (label, path) in &places {
        let out = sh(&sandbox, &format!("cat '{}'", path.display())).await;
        assert!(
            !out.success() && !text(&out.stdout).contains(&marker),
            "host file {} ({label}) is readable inside: {}",
            path.display(),
            describe(&out)
        );
    }

    // Search by content where the host can have put nothing legitimately (/usr and /opt are the
    // host's own read-only lowers, searched by name only), and by name everywhere. A canary
    // written inside proves that the searches find what is there.
    let canary = sh(
        &sandbox,
        &format!("echo {marker}-content-canary > /tmp/{marker}-canary"),
    )
    .await;
    assert!(canary.success(), "{}", describe(&canary));
    let by_content = sh(
        &sandbox,
        &format!(
            "grep -rIo --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev \
             --exclude-dir=usr --exclude-dir=opt '{marker}-content-[a-z-]*' / 2>/dev/null; true"
        ),
    )
    .await;
    let by_name = sh(&sandbox, &find_by_name(&marker)).await;
    let found = format!("{}{}", text(&by_content.stdout), text(&by_name.stdout));
    for (label, path) in &places {
        assert!(
            !found.contains(&format!("{marker}-{label}"))
                && !found.contains(&format!("{marker}-content-{label}")),
            "host file {} ({label}) was found inside the sandbox:\n{found}",
            path.display()
        );
    }
    assert_eq!(
        found,
        format!("/tmp/{marker}-canary:{marker}-content-canary\n/tmp/{marker}-canary\n"),
        "the searches found something other than the canary"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_root_home_run_tmp_var_lib_and_sys_are_not_visible_inside() {
    let home = TestHome::new();
    let marker = common::marker("dirs");
    let mut host = HostPaths::default();
    // Make sure each host directory has at least one entry to leak.
    for dir in ["/root", "/home", "/run", "/tmp", "/var/lib"] {
        host.file(Path::new(dir).join(&marker), "x");
    }
    let sandbox = home
        .sandboxes
        .get("iso-dirs", common::options())
        .await
        .unwrap();

    for dir in ["/root", "/home", "/sys"] {
        let out = sh(&sandbox, &format!("ls -A {dir}")).await;
        assert!(out.success(), "{dir} is missing inside: {}", describe(&out));
        assert_eq!(text(&out.stdout), "", "{dir} is not empty inside");
    }
    for dir in ["/run", "/tmp", "/var/lib"] {
        let out = sh(&sandbox, &format!("ls -A {dir} 2>/dev/null; true")).await;
        let inside: BTreeSet<String> = text(&out.stdout).lines().map(String::from).collect();
        let on_host: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let shared: Vec<_> = inside.intersection(&on_host).collect();
        assert!(
            shared.is_empty(),
            "host {dir} entries are visible inside: {shared:?}"
        );
    }
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_processes_are_invisible_inside() {
    let home = TestHome::new();
    let marker = common::marker("hostproc");
    let _host_sleep = HostProcess(
        std::process::Command::new("sleep")
            .arg0(&marker)
            .arg("300")
            .spawn()
            .unwrap(),
    );
    let sandbox = home
        .sandboxes
        .get("iso-hostproc", common::options())
        .await
        .unwrap();

    let procs = processes(&sandbox).await.unwrap();
    let leaked: Vec<_> = procs.iter().filter(|(_, c)| c.contains(&marker)).collect();
    assert!(leaked.is_empty(), "host process visible inside: {leaked:?}");
    assert!(
        procs.iter().any(|&(pid, _)| pid == 1),
        "the agent (pid 1) is not visible: {procs:?}"
    );
    assert!(
        procs.len() <= 4,
        "a fresh sandbox sees more processes than its agent and the listing shell: {procs:?}"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_cannot_see_each_others_files_or_processes() {
    let home = TestHome::new();
    let marker = common::marker("neighbour");
    let a = home
        .sandboxes
        .get("iso-neighbour-a", common::options())
        .await
        .unwrap();
    let b = home
        .sandboxes
        .get("iso-neighbour-b", common::options())
        .await
        .unwrap();

    let started = sh(&a, &format!("(exec -a {marker} sleep 300) & echo started")).await;
    assert_eq!(text(&started.stdout), "started\n", "{}", describe(&started));
    let shm = sh(&a, "ipcmk -M 4096 >/dev/null && ipcs -m | grep -c '^0x'").await;
    assert_eq!(text(&shm.stdout), "1\n", "{}", describe(&shm));
    let wrote = sh(&a, &format!("echo secret > /workspace/{marker}-file")).await;
    assert!(wrote.success(), "{}", describe(&wrote));
    // The checks below can see what they look for: A sees its own process and file.
    let in_a = processes(&a).await.unwrap();
    assert!(
        in_a.iter().any(|(_, c)| c.contains(&marker)),
        "A's background process is not running: {in_a:?}"
    );

    let in_b = processes(&b).await.unwrap();
    let leaked: Vec<_> = in_b.iter().filter(|(_, c)| c.contains(&marker)).collect();
    assert!(leaked.is_empty(), "A's process is visible in B: {leaked:?}");
    let read = sh(&b, &format!("cat /workspace/{marker}-file")).await;
    assert!(
        !read.success(),
        "A's workspace file is readable in B: {}",
        describe(&read)
    );
    let found = sh(&b, &format!("{}; ls -A /workspace", find_by_name(&marker))).await;
    assert_eq!(text(&found.stdout), "", "A's file is visible in B");
    let shm = sh(&b, "ipcs -m | grep -c '^0x'; true").await;
    assert_eq!(
        text(&shm.stdout),
        "0\n",
        "A's SysV shared memory is visible in B"
    );
    a.destroy().await.unwrap();
    b.destroy().await.unwrap();
}

/// Listens on the sandbox's own loopback, connects to itself and echoes "ping" through.
const LOOPBACK_PING: &str = r#"
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()
client.sendall(b"ping")
print(accepted.recv(4).decode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_loopback_is_unreachable_without_network_but_reachable_with_host_network() {
    let home = TestHome::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("echo hello > /dev/tcp/127.0.0.1/{port}");

    let isolated = home
        .sandboxes
        .get("iso-net-none", common::options())
        .await
        .unwrap();
    let out = sh(&isolated, &connect).await;
    assert!(
        !out.success(),
        "host listener reachable with network none: {}",
        describe(&out)
    );
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection from the isolated sandbox reached the host: {accepted:?}"
    );

    // Loopback inside the sandbox itself works.
    let local = isolated
        .exec(Command::argv(["python3", "-c", LOOPBACK_PING]))
        .await
        .unwrap();
    assert_eq!(text(&local.stdout), "ping\n", "{}", describe(&local));

    // The same check can tell the difference: with the host's network, it connects.
    let shared = home
        .sandboxes
        .get(
            "iso-net-host",
            SandboxOptions {
                network: Network::Host,
                ..common::options()
            },
        )
        .await
        .unwrap();
    let out = sh(&shared, &connect).await;
    assert!(
        out.success(),
        "host listener unreachable with network host: {}",
        describe(&out)
    );
    // connect() returned, so the connection waits in the accept queue.
    listener
        .accept()
        .expect("the host-network sandbox's connection reached the listener");
    isolated.destroy().await.unwrap();
    shared.destroy().await.unwrap();
}

/// Tries privileged calls through libc and prints `name=errno` for each (0: it succeeded).
const PRIVILEGED_CALLS: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def call(name, f, *args):
    ctypes.set_errno(0)
    r = f(*args)
    print(f"{name}={ctypes.get_errno() if r == -1 else 0}")
call("mount", libc.mount, b"none", b"/mnt", b"tmpfs", 0, None)
call("unshare_user", libc.unshare, 0x10000000)  # CLONE_NEWUSER
call("ptrace_attach_1", libc.ptrace, 16, 1, None, None)  # PTRACE_ATTACH to the agent
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_user_namespaces_and_ptrace_of_the_agent_are_refused() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-privileged", common::options())
        .await
        .unwrap();

    let mount = sh(&sandbox, "mount -t tmpfs none /mnt").await;
    assert!(
        !mount.success(),
        "mount succeeded inside: {}",
        describe(&mount)
    );
    let mounts = sh(&sandbox, "cat /proc/self/mountinfo").await;
    assert!(
        !text(&mounts.stdout).contains(" /mnt "),
        "a tmpfs got mounted on /mnt"
    );
    let unshare = sh(&sandbox, "unshare -U true").await;
    assert!(
        !unshare.success(),
        "unshare -U succeeded inside: {}",
        describe(&unshare)
    );

    let out = sandbox
        .exec(Command::argv(["python3", "-c", PRIVILEGED_CALLS]))
        .await
        .unwrap();
    assert!(out.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        format!(
            "mount={eperm}\nunshare_user={eperm}\nptrace_attach_1={eperm}\n",
            eperm = libc::EPERM
        ),
        "each call must fail with EPERM (errno per call; 0 means it succeeded)"
    );
    sandbox.destroy().await.unwrap();
}

/// Tries to read the agent's (PID 1's) secrets through /proc; prints what it could get.
const AGENT_PROC_PROBE: &str = r#"
import os
fds = os.listdir("/proc/1/fd") if os.access("/proc/1/fd", os.R_OK) else []
targets = ["/proc/1/environ", "/proc/1/mem", "/proc/1/maps"] + ["/proc/1/fd/" + fd for fd in fds]
for t in targets:
    try:
        os.close(os.open(t, os.O_RDONLY | os.O_NONBLOCK))
        print("opened", t)
    except OSError:
        pass
for t in ["/proc/1/root", "/proc/1/cwd", "/proc/1/exe"] + ["/proc/1/fd/" + fd for fd in fds]:
    try:
        print("link", t, os.readlink(t))
    except OSError:
        pass
print("checked", len(targets))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_environment_memory_and_file_descriptors_are_not_readable() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-agent-proc", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::argv(["python3", "-c", AGENT_PROC_PROBE]))
        .await
        .unwrap();
    assert!(out.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let leaks: Vec<_> = stdout
        .lines()
        .filter(|l| !l.starts_with("checked"))
        .collect();
    assert!(
        leaks.is_empty(),
        "the agent's process is exposed: {leaks:?}"
    );
    assert!(stdout.starts_with("checked "), "{}", describe(&out));
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_without_capabilities_with_no_new_privs_and_seccomp() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-caps", common::options())
        .await
        .unwrap();
    let out = sh(&sandbox, "cat /proc/self/status").await;
    assert!(out.success(), "{}", describe(&out));
    let status = text(&out.stdout);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status:\n{status}"))
            .to_string()
    };
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(cap), "0000000000000000", "{cap} is not empty");
    }
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2", "no seccomp filter is installed");
    assert_eq!(field("Uid").split_whitespace().next(), Some("0"));
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostname_inside_is_the_sandbox_id() {
    let home = TestHome::new();
    let host_name_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let sandbox = home
        .sandboxes
        .get("iso-hostname-7", common::options())
        .await
        .unwrap();
    let out = sh(&sandbox, "hostname; cat /proc/sys/kernel/hostname").await;
    assert_eq!(
        text(&out.stdout),
        "iso-hostname-7\niso-hostname-7\n",
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name_before,
        "the host's name changed"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_system_dirs_stay_inside_and_vanish_with_the_sandbox() {
    let home = TestHome::new();
    let marker = common::marker("overlay");
    let mut host = HostPaths::default();
    let existing = host.file(format!("/etc/{marker}-existing"), "host\n");
    let new_files = [
        host.watch(format!("/usr/{marker}-new")),
        host.watch(format!("/etc/{marker}-new")),
        host.watch(format!("/opt/{marker}-new")),
    ];
    let id = "iso-overlay";
    let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();

    let mut script = format!("set -e; echo sandbox > {}", existing.display());
    for f in &new_files {
        script += &format!("; echo sandbox > {}", f.display());
    }
    let wrote = sh(&sandbox, &script).await;
    assert!(
        wrote.success(),
        "writing system dirs failed: {}",
        describe(&wrote)
    );
    let read = sh(&sandbox, &format!("cat {}", existing.display())).await;
    assert_eq!(text(&read.stdout), "sandbox\n", "copy-up did not take");

    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "host\n",
        "the host's {} was modified",
        existing.display()
    );
    for f in &new_files {
        assert!(!f.exists(), "{} appeared on the host", f.display());
    }

    sandbox.destroy().await.unwrap();
    let again = home.sandboxes.get(id, common::options()).await.unwrap();
    let mut script = format!("cat {}", existing.display());
    for f in &new_files {
        script += &format!("; test -e {} && echo yes || echo no", f.display());
    }
    let out = sh(&again, &script).await;
    assert_eq!(
        text(&out.stdout),
        "host\nno\nno\nno\n",
        "writes of the destroyed sandbox survived re-creation"
    );
    again.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_files_stay_in_the_state_directory() {
    let home = TestHome::new();
    let marker = common::marker("workspace");
    let mut host = HostPaths::default();
    let cwd = std::env::current_dir().unwrap();
    let elsewhere = [
        host.watch(Path::new("/workspace").join(&marker)),
        host.watch(Path::new("/").join(&marker)),
        host.watch(Path::new("/tmp").join(&marker)),
        host.watch(Path::new(env!("CARGO_MANIFEST_DIR")).join(&marker)),
        host.watch(cwd.join(&marker)),
    ];
    let sandbox = home
        .sandboxes
        .get("iso-workspace", common::options())
        .await
        .unwrap();
    let out = sh(&sandbox, &format!("echo data > /workspace/{marker}")).await;
    assert!(out.success(), "{}", describe(&out));

    let in_state = find_named(home.path(), &marker);
    assert_eq!(
        in_state.len(),
        1,
        "the workspace file should be in the state directory once: {in_state:?}"
    );
    assert_eq!(std::fs::read_to_string(&in_state[0]).unwrap(), "data\n");
    for path in &elsewhere {
        assert!(
            !path.exists(),
            "workspace file visible at {}",
            path.display()
        );
    }
    // The sandbox's mounts live in its own mount namespace only.
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state = home.path().display().to_string();
    let leaked: Vec<_> = host_mounts
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|mp| mp.starts_with(&state) || mp == "/workspace")
        })
        .collect();
    assert!(leaked.is_empty(), "sandbox mounts on the host: {leaked:?}");

    sandbox.destroy().await.unwrap();
    assert!(
        !in_state[0].exists(),
        "the workspace outlived destroy at {}",
        in_state[0].display()
    );
}

/// Every path below `dir` whose file name is `name` (not following symlinks).
fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == name {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// Every dangerous /proc file must be absent on this kernel or the sandbox's /dev/null (so even
/// a successful write to sysrq-trigger goes nowhere), the control dirs must be empty, and
/// sysctls must refuse writes (writing back the current value, harmless if it got through).
/// Prints one line per problem, and the error of each sysctl write.
const PROC_PROBE: &str = r#"
import os, stat
def is_null(p):
    st = os.stat(p)
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
for name in ["sysrq-trigger", "kcore", "timer_list", "keys", "latency_stats", "sched_debug"]:
    p = "/proc/" + name
    if os.path.exists(p) and not is_null(p):
        print("unmasked", p)
try:
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("h")
    if not is_null("/proc/sysrq-trigger"):
        print("written /proc/sysrq-trigger")
except OSError:
    pass
for d in ["/proc/acpi", "/proc/scsi"]:
    if os.path.isdir(d) and os.listdir(d):
        print("unmasked", d)
for p in ["/proc/sys/kernel/printk_ratelimit", "/proc/sys/kernel/domainname"]:
    value = open(p).read()
    try:
        with open(p, "w") as f:
            f.write(value)
        print("writable", p)
    except OSError as e:
        print(p, os.strerror(e.errno))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_proc_files_are_masked_and_proc_sys_is_read_only() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-proc", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::argv(["python3", "-c", PROC_PROBE]))
        .await
        .unwrap();
    assert!(out.success(), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        "/proc/sys/kernel/printk_ratelimit Read-only file system\n\
         /proc/sys/kernel/domainname Read-only file system\n",
        "a /proc file is exposed (unmasked/written/writable lines name it)"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_bind_mounts_honour_read_only() {
    let home = TestHome::new();
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("given"), "from host ro\n").unwrap();
    std::fs::write(rw.path().join("given"), "from host rw\n").unwrap();
    // A mount below the read-only one must be read-only inside as well.
    let sub = HostTmpfs::mount(ro.path().join("sub"));
    std::fs::write(sub.0.join("given"), "from host sub\n").unwrap();
    let sandbox = home
        .sandboxes
        .get(
            "iso-binds",
            SandboxOptions {
                mounts: vec![
                    BindMount {
                        host: ro.path().to_path_buf(),
                        sandbox: PathBuf::from("/mnt/ro"),
                        read_only: true,
                    },
                    BindMount {
                        host: rw.path().to_path_buf(),
                        sandbox: PathBuf::from("/mnt/rw"),
                        read_only: false,
                    },
                ],
                ..common::options()
            },
        )
        .await
        .unwrap();

    let read = sh(
        &sandbox,
        "cat /mnt/ro/given /mnt/ro/sub/given /mnt/rw/given",
    )
    .await;
    assert_eq!(
        text(&read.stdout),
        "from host ro\nfrom host sub\nfrom host rw\n",
        "{}",
        describe(&read)
    );
    for attempt in [
        "echo x > /mnt/ro/new",
        "echo x >> /mnt/ro/given",
        "rm /mnt/ro/given",
        "mkdir /mnt/ro/dir",
        "echo x > /mnt/ro/sub/new",
        "echo x >> /mnt/ro/sub/given",
    ] {
        let out = sh(&sandbox, attempt).await;
        assert!(
            !out.success() && text(&out.stderr).contains("Read-only file system"),
            "`{attempt}` on the read-only mount: {}",
            describe(&out)
        );
    }
    for (dir, file, contents) in [
        (ro.path(), "given", "from host ro\n"),
        (sub.0.as_path(), "given", "from host sub\n"),
    ] {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.retain(|n| n != "sub");
        assert_eq!(
            names,
            [file],
            "the read-only host dir {} changed",
            dir.display()
        );
        assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap(), contents);
    }

    let write = sh(&sandbox, "echo from sandbox > /mnt/rw/new").await;
    assert!(write.success(), "{}", describe(&write));
    assert_eq!(
        std::fs::read_to_string(rw.path().join("new")).unwrap(),
        "from sandbox\n"
    );
    sandbox.destroy().await.unwrap();
    // The bind mounts' host directories survive the sandbox.
    assert!(ro.path().join("given").exists() && rw.path().join("new").exists());
    drop(sub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_minimal_set_of_devices_exists_inside() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-dev", common::options())
        .await
        .unwrap();
    // Device nodes anywhere (a bind of the host's /dev would show up as disks, ttys, kvm…),
    // except the sandbox's own ptys.
    let out = sh(
        &sandbox,
        "find / \\( -path /proc -o -path /sys -o -path /dev/pts \\) -prune -o \
         \\( -type b -o -type c \\) -print 2>/dev/null | sort",
    )
    .await;
    let devices: Vec<_> = text(&out.stdout).lines().map(String::from).collect();
    let expected = [
        "/dev/full",
        "/dev/null",
        "/dev/random",
        "/dev/tty",
        "/dev/urandom",
        "/dev/zero",
    ];
    assert_eq!(devices, expected, "{}", describe(&out));
    sandbox.destroy().await.unwrap();
}

/// Lists the command's own open descriptors (except the one listing them) with their targets,
/// then tries to read directory descriptor `sys.argv[1]`.
const FD_PROBE: &str = r#"
import os, sys
for fd in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        print(fd, os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass  # the descriptor listdir used, already closed
try:
    print("through inherited fd:", os.listdir(int(sys.argv[1])))
except OSError:
    pass
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_file_descriptors_are_not_inherited_by_commands() {
    let home = TestHome::new();
    let marker = common::marker("fd");
    let secret_dir = tempfile::tempdir().unwrap();
    std::fs::write(secret_dir.path().join(&marker), "secret").unwrap();
    // Whoever drives the SDK may hold descriptors without close-on-exec; none may reach the
    // sandbox.
    let fd = inheritable_dir_fd(secret_dir.path());
    let sandbox = home
        .sandboxes
        .get("iso-fds", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::argv([
            "python3",
            "-c",
            FD_PROBE,
            &fd.as_raw_fd().to_string(),
        ]))
        .await
        .unwrap();
    assert!(out.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains(&marker),
        "the host directory {} is reachable through an inherited descriptor:\n{stdout}",
        secret_dir.path().display()
    );
    let fds: Vec<&str> = stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "commands hold descriptors beyond stdin, stdout and stderr:\n{stdout}"
    );
    sandbox.destroy().await.unwrap();
    drop(fd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_cannot_signal_the_agent() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-signal-agent", common::options())
        .await
        .unwrap();
    let agent = home.record("iso-signal-agent")["agent"]["pid"].clone();
    // A long-running command that a forwarded signal (or an agent shutdown) would end.
    let mut bystander = sandbox
        .exec_stream(Command::shell("echo up; sleep 30"))
        .await
        .unwrap();
    loop {
        match bystander.next().await {
            Some(Ok(sandpit::sandbox::ExecEvent::Output { .. })) => break,
            Some(Ok(_)) => {}
            other => panic!("the bystander ended before it was up: {other:?}"),
        }
    }
    let out = sh(
        &sandbox,
        "for sig in TERM INT HUP USR1; do kill -s $sig 1 && echo \"sent $sig\"; done; \
         python3 -c 'import os, signal; fd = os.open(\"/proc/1\", os.O_RDONLY); \
         signal.pidfd_send_signal(fd, signal.SIGTERM)' 2>&1 | tail -1",
    )
    .await;
    let output = text(&out.stdout);
    assert!(
        !output.contains("sent"),
        "a signal reached PID 1: {}",
        describe(&out)
    );
    assert!(
        output.contains("Operation not permitted"),
        "pidfd_send_signal to PID 1 was not refused: {}",
        describe(&out)
    );
    // The agent and the other command carry on.
    sandbox.ping().await.unwrap();
    assert_eq!(home.record("iso-signal-agent")["agent"]["pid"], agent);
    let ps = sh(&sandbox, "cat /proc/*/cmdline | tr '\\0' ' '").await;
    assert!(text(&ps.stdout).contains("sleep 30"), "{}", describe(&ps));
    drop(bystander);
    sandbox.destroy().await.unwrap();
}

/// Removes a host file when dropped (also when the test fails).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_only_host_files_in_etc_are_hidden() {
    use std::os::unix::fs::PermissionsExt;
    let marker = common::marker("etc-secret");
    let secret = PathBuf::from(format!("/etc/{marker}.key"));
    let public = PathBuf::from(format!("/etc/{marker}.pub"));
    let _guards = (RemoveOnDrop(secret.clone()), RemoveOnDrop(public.clone()));
    for (path, mode) in [(&secret, 0o600), (&public, 0o644)] {
        std::fs::write(path, &marker).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("iso-etc-secret", common::options())
        .await
        .unwrap();
    let out = sh(
        &sandbox,
        &format!(
            "cat {} 2>/dev/null && echo LEAKED; cat {}",
            secret.display(),
            public.display()
        ),
    )
    .await;
    assert!(
        !text(&out.stdout).contains("LEAKED"),
        "a root-only host file was readable: {}",
        describe(&out)
    );
    // The world-readable neighbour proves the test looked in the right place.
    assert_eq!(text(&out.stdout), marker, "{}", describe(&out));
    // Hidden inside, untouched on the host.
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), marker);
    sandbox.destroy().await.unwrap();
}
