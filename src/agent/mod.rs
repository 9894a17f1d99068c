//! The agent: PID 1 inside every sandbox.
//!
//! It serves the [`protocol`](crate::protocol) on a unix socket that was bound in the host's state
//! directory before the sandbox's root was pivoted (so nothing inside can reach it), runs
//! commands, reaps every zombie of the pid namespace, forwards termination signals to the running
//! commands, and stops the sandbox by exiting once it has been idle for `sleep_after`.
//!
//! It is single-threaded (a current-thread tokio runtime) and holds no privilege: the init
//! dropped every capability and installed the seccomp filter before handing over, so commands,
//! started with `posix_spawn`, simply inherit that.

mod connection;
mod exec;
mod files;
mod process;
mod reaper;
mod session;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::rc::Rc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use tracing::Instrument;

use crate::runtime::cgroup::parse_oom_kill_count;
use crate::runtime::sys;

/// How long a shutting-down agent lets commands react to a forwarded SIGTERM before it exits
/// (which kills whatever is left).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed accept (for example, out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Everything the agent needs, prepared by the init path before the agent starts.
pub struct AgentConfig {
    /// The bound, listening protocol socket.
    pub listener: std::os::unix::net::UnixListener,
    /// The sandbox cgroup's OOM event counter file, opened before the pivot, if limits are
    /// enforced by a memory controller.
    pub oom_events: Option<File>,
    /// Exit after this long without a connection or a running command; `None` = never.
    pub sleep_after: Option<Duration>,
    /// Environment every command starts with.
    pub base_env: Vec<(String, String)>,
}

/// A failure that stops the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The async runtime could not be built.
    #[error("failed to start the agent's event loop")]
    Runtime(#[source] std::io::Error),
    /// The protocol socket could not be registered with the event loop.
    #[error("failed to serve the agent socket")]
    Listener(#[source] std::io::Error),
    /// A signal handler could not be installed.
    #[error("failed to install a signal handler")]
    Signal(#[source] std::io::Error),
}

/// Runs the agent until it is told to stop, goes to sleep, or fails.
pub fn run(config: AgentConfig) -> Result<(), AgentError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, serve(config))
}

/// State shared by the agent's tasks (all on one thread).
struct Agent {
    /// Environment every command starts with; changed by `SetEnv`.
    base_env: RefCell<Vec<(String, String)>>,
    processes: process::Processes,
    sessions: session::Sessions,
    oom_events: Option<RefCell<File>>,
    reaper: reaper::Reaper,
    /// Process groups of the commands and background processes currently running, for signal
    /// forwarding; the sandbox is busy (never idle) while this is not empty.
    running: RefCell<HashSet<u32>>,
    /// This process's `/proc/self/oom_score_adj`, see [`Agent::spawn`].
    oom_score_adj: Option<RefCell<File>>,
    /// Its value at start, restored after each spawn.
    own_oom_score_adj: String,
    /// Open connections; the sandbox is idle only when this is zero.
    connections: Cell<usize>,
    last_activity: Cell<Instant>,
}

impl Agent {
    /// OOM kills counted by the sandbox's cgroup so far.
    fn oom_kills(&self) -> u64 {
        let Some(file) = &self.oom_events else {
            return 0;
        };
        let mut file = file.borrow_mut();
        let mut text = String::new();
        if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
            return 0;
        }
        parse_oom_kill_count(&text).unwrap_or(0)
    }

    /// Starts `cmd` as the OOM killer's first choice. Files in a tmpfs belong to no process, so
    /// when they fill the memory limit the victim would otherwise be whoever is largest, often
    /// the agent, and the whole sandbox would die with it. The agent cannot lower its own score
    /// (that needs `CAP_SYS_RESOURCE`, which these hosts do not even give root), but it can
    /// raise it and lower it back: the child inherits the raised value at fork, so there is no
    /// window in which it runs unmarked.
    fn spawn(&self, cmd: &mut std::process::Command) -> std::io::Result<std::process::Child> {
        let set = |value: &[u8]| {
            if let Some(file) = &self.oom_score_adj {
                // Best effort: without it the sandbox still works, it is just easier to kill.
                let _ = file.borrow_mut().write_all(value);
            }
        };
        set(b"1000");
        let child = cmd.spawn();
        set(self.own_oom_score_adj.as_bytes());
        child
    }

    /// Changes the environment of later commands, processes and sessions (`None` unsets).
    fn set_env(&self, changes: &[(String, Option<String>)]) -> Result<(), String> {
        for (key, value) in changes {
            if !crate::protocol::is_valid_env_var(key, value.as_deref().unwrap_or_default()) {
                return Err(format!("invalid environment variable {key:?}"));
            }
        }
        session::apply_env_changes(&mut self.base_env.borrow_mut(), changes);
        self.sessions.set_env(changes);
        Ok(())
    }

    fn forward_signal(&self, signal: Signal) {
        for &pgid in self.running.borrow().iter() {
            // A group that has just exited is not an error worth reporting.
            let _ = sys::kill_process_group(pgid, signal);
        }
    }
}

/// Counts a connection as activity for as long as it lives.
struct ActivityGuard(Rc<Agent>);

impl ActivityGuard {
    fn enter(agent: &Rc<Agent>) -> Self {
        agent.connections.set(agent.connections.get() + 1);
        agent.last_activity.set(Instant::now());
        Self(Rc::clone(agent))
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
        self.0.last_activity.set(Instant::now());
    }
}

async fn serve(config: AgentConfig) -> Result<(), AgentError> {
    // Installed before any command starts, so no exit can be missed.
    let mut sigchld = signal(SignalKind::child()).map_err(AgentError::Signal)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(AgentError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(AgentError::Signal)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(AgentError::Signal)?;

    config
        .listener
        .set_nonblocking(true)
        .map_err(AgentError::Listener)?;
    let listener =
        tokio::net::UnixListener::from_std(config.listener).map_err(AgentError::Listener)?;
    let agent = Rc::new(Agent {
        base_env: RefCell::new(config.base_env),
        processes: process::Processes::default(),
        sessions: session::Sessions::default(),
        oom_events: config.oom_events.map(RefCell::new),
        own_oom_score_adj: std::fs::read_to_string("/proc/self/oom_score_adj")
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "0".into()),
        oom_score_adj: File::options()
            .write(true)
            .open("/proc/self/oom_score_adj")
            .ok()
            .map(RefCell::new),
        reaper: reaper::Reaper::default(),
        running: RefCell::new(HashSet::new()),
        connections: Cell::new(0),
        last_activity: Cell::new(Instant::now()),
    });
    tracing::info!("agent serving");

    loop {
        // Re-computed every turn: any connection pushes the deadline back.
        let idle_deadline = config
            .sleep_after
            .map(|after| agent.last_activity.get() + after);
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let request = tracing::debug_span!("request");
                    tokio::task::spawn_local(
                        connection::serve(Rc::clone(&agent), stream).instrument(request),
                    );
                }
                // Out of file descriptors or an aborted connection: the agent must survive it;
                // pause briefly so a persistent condition does not spin.
                Err(e) => {
                    tracing::warn!("failed to accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = sigchld.recv() => agent.reaper.reap_all(),
            _ = sighup.recv() => agent.forward_signal(Signal::SIGHUP),
            _ = sigterm.recv() => return shut_down(&agent, Signal::SIGTERM, &mut sigchld).await,
            _ = sigint.recv() => return shut_down(&agent, Signal::SIGINT, &mut sigchld).await,
            _ = sleep_until_opt(idle_deadline) => {
                if agent.connections.get() == 0 && agent.running.borrow().is_empty() {
                    tracing::info!("idle for {:?}, going to sleep", config.sleep_after);
                    return Ok(());
                }
                // Busy: count now as activity so the deadline moves on.
                agent.last_activity.set(Instant::now());
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Forwards `signal` to every command, gives them [`SHUTDOWN_GRACE`] to finish, then returns
/// (the agent's exit kills whatever is left in the pid namespace).
async fn shut_down(
    agent: &Rc<Agent>,
    signal: Signal,
    sigchld: &mut tokio::signal::unix::Signal,
) -> Result<(), AgentError> {
    tracing::info!(?signal, "shutting down");
    agent.forward_signal(signal);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while !agent.running.borrow().is_empty() {
        tokio::select! {
            _ = sigchld.recv() => {
                agent.reaper.reap_all();
                // Let the exec tasks observe their exits and deregister.
                tokio::task::yield_now().await;
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    Ok(())
}
