//! The single-threaded set-up path: sandpit re-executed as `sandpit __sandbox-init`.
//!
//! The library cannot fork itself safely (it runs tokio's threads), so it starts this program,
//! writes an [`InitSpec`] to its stdin and reads status lines from its stdout. This process,
//! with no thread but its own, then reads top to bottom:
//!
//! 0. close every inherited file descriptor above stderr (a leaked one is a handle on the host);
//! 1. detach into its own session (Ctrl-C at the caller's terminal must not reach the sandbox);
//! 2. join the sandbox's cgroup (so the cgroup namespace created later is rooted there);
//! 3. bind the agent socket in the host's state directory, before the root is pivoted away;
//! 4. open the cgroup's OOM counter, for the same reason;
//! 5. `unshare(CLONE_NEWPID)` and fork: the child is PID 1 of the new pid namespace;
//! 6. the parent reports the child's host pid and exits (the agent is adopted by the host's
//!    init, so it outlives whoever created it);
//! 7. the child unshares mount, uts, ipc, cgroup (and net) namespaces, builds and pivots into
//!    the root filesystem (for a workspace a user owns, a short-lived forked helper holds the
//!    user namespace of its idmapped lower layer, see `sys::id_mapping_user_namespace`), sets the
//!    host name, brings up loopback, becomes non-dumpable, reports `ready` and turns into the
//!    agent.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use super::cgroup::Cgroup;
use super::rootfs::{self, RootfsSpec};
use super::sys::{self, Forked};
use super::Network;
use crate::agent::{self, AgentConfig};

/// The hidden first argument that makes `sandpit` run as a sandbox init.
pub const INIT_ARG: &str = "__sandbox-init";

/// Everything the init needs, sent as JSON on its stdin.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InitSpec {
    pub rootfs: RootfsSpec,
    pub cgroup: Option<Cgroup>,
    pub socket: PathBuf,
    pub network: Network,
    pub sleep_after_ms: Option<u64>,
    pub env: Vec<(String, String)>,
}

/// A set-up step that failed, rendered into the status pipe for the caller.
#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("failed to read the sandbox spec from stdin")]
    ReadSpec(#[source] std::io::Error),
    #[error("failed to decode the sandbox spec")]
    DecodeSpec(#[source] serde_json::Error),
    #[error("failed to join the sandbox cgroup")]
    JoinCgroup(#[source] super::cgroup::CgroupError),
    #[error("failed to bind the agent socket {path}")]
    BindSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open the OOM counter {path}")]
    OpenOomCounter {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to {what}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("failed to build the root filesystem")]
    Rootfs(#[source] rootfs::RootfsError),
    #[error("failed to harden the agent")]
    Hardening(#[source] sys::HardeningError),
    #[error("agent failed")]
    Agent(#[source] agent::AgentError),
}

fn sys_err(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> InitError {
    move |source| InitError::Sys { what, source }
}

/// Entry point of `sandpit __sandbox-init`. Must be called before any thread is started.
pub fn run_init() -> ExitCode {
    // Before anything else opens a file: nothing the caller left open may reach the sandbox.
    if sys::close_inherited_fds().is_err() {
        return ExitCode::FAILURE;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();

    // The status pipe is stdout; keep it as a file and point fd 1 at /dev/null so that nothing
    // printed later can be mistaken for a status line.
    let status = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(_) => return ExitCode::FAILURE,
    };
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(null);
    }
    let mut reporter = Status(Some(status));
    match setup(&mut reporter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", crate::error_chain(&e));
            reporter.line(&format!("error: {}", crate::error_chain(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The write end of the status pipe.
struct Status(Option<File>);

impl Status {
    fn line(&mut self, line: &str) {
        // One write(2) per line: the init and the agent share this pipe, and a line split
        // over two writes could interleave with the other's.
        if let Some(file) = &mut self.0 {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
    fn close(&mut self) {
        self.0 = None;
    }
}

fn setup(status: &mut Status) -> Result<(), InitError> {
    nix::unistd::setsid().map_err(sys_err("start a new session"))?;
    let mut raw = Vec::new();
    std::io::stdin()
        .read_to_end(&mut raw)
        .map_err(InitError::ReadSpec)?;
    let spec: InitSpec = serde_json::from_slice(&raw).map_err(InitError::DecodeSpec)?;
    let _span = tracing::info_span!("sandbox", id = %spec.rootfs.hostname).entered();

    if let Some(cgroup) = &spec.cgroup {
        cgroup.join(0).map_err(InitError::JoinCgroup)?;
    }
    let listener = bind_socket(&spec.socket)?;
    let oom_events = match spec.cgroup.as_ref().and_then(Cgroup::oom_events_file) {
        Some(path) => Some(
            File::open(&path).map_err(|source| InitError::OpenOomCounter {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };

    nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(sys_err("unshare the pid namespace"))?;
    match sys::fork_single_threaded().map_err(sys_err("fork the agent"))? {
        Forked::Parent(child) => {
            status.line(&format!("pid {child}"));
            Ok(())
        }
        Forked::Child => become_agent(spec, listener, oom_events, status),
    }
}

fn become_agent(
    spec: InitSpec,
    listener: UnixListener,
    oom_events: Option<File>,
    status: &mut Status,
) -> Result<(), InitError> {
    let mut namespaces = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if spec.network == Network::None {
        namespaces |= CloneFlags::CLONE_NEWNET;
    }
    nix::sched::unshare(namespaces).map_err(sys_err("unshare namespaces"))?;
    let steps = rootfs::plan(&spec.rootfs, Path::new("/")).map_err(InitError::Rootfs)?;
    rootfs::apply(&steps).map_err(InitError::Rootfs)?;
    nix::unistd::sethostname(&spec.rootfs.hostname).map_err(sys_err("set the host name"))?;
    if spec.network == Network::None {
        sys::loopback_up().map_err(sys_err("bring up loopback"))?;
    }
    sys::set_not_dumpable().map_err(sys_err("make the agent non-dumpable"))?;
    // Last: the set-up above needed privileges; serving and running commands need none.
    sys::harden_self().map_err(InitError::Hardening)?;

    status.line("ready");
    status.close();
    agent::run(AgentConfig {
        listener,
        oom_events,
        sleep_after: spec.sleep_after_ms.map(Duration::from_millis),
        base_env: spec.env,
    })
    .map_err(InitError::Agent)
}

fn bind_socket(path: &Path) -> Result<UnixListener, InitError> {
    let bind_err = |source| InitError::BindSocket {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    // Only root on the host may talk to the agent: the socket is created 0600, with no window
    // in which it is more open.
    let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(previous);
    let listener = bound.map_err(bind_err)?;
    // std creates it close-on-exec, so no command inherits it.
    Ok(listener)
}
