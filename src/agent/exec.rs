//! Running one command for one connection and streaming its output.
//!
//! The command gets its own process group (whose id is its pid) and inherits the agent's
//! hardening: no capabilities, `no_new_privs`, the seccomp filter. With no per-command set-up
//! left, std starts it with `posix_spawn`, the cheapest way there is. A timeout, or the client
//! going away, kills that process group and nothing else.

use std::cell::Cell;
use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{pipe, OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::connection::error;
use super::{sleep_until_opt, Agent};
use crate::protocol::{
    self, AgentMessage, ClientMessage, CommandLine, ErrorCode, ExecRequest, ExitReport,
    FrameReader, OutputStream, MAX_CHUNK_LEN, STDIN_WINDOW,
};
use crate::runtime::sys;

/// Default working directory of commands.
pub(super) const WORKSPACE: &str = "/workspace";

/// Initial output read buffer; grown to [`MAX_CHUNK_LEN`] for commands that print a lot.
const SMALL_CHUNK_LEN: usize = 16 << 10;

/// Kernel pipe buffer for command output: large enough that a fast writer rarely waits for us.
pub(super) const PIPE_BYTES: i32 = 1 << 20;

/// A command that has been started, with its pipes attached.
pub(super) struct Spawned {
    pub(super) pid: u32,
    /// Resolves when the reaper collects the command's exit.
    pub(super) exited: oneshot::Receiver<WaitStatus>,
    pub(super) stdout: pipe::Receiver,
    pub(super) stderr: pipe::Receiver,
    pub(super) stdin: Option<pipe::Sender>,
    pub(super) started: Instant,
    /// The sandbox's OOM kill count before the start, to tell whether this command was one.
    pub(super) oom_before: u64,
}

/// Spawns `cmd` (built by [`build_command`]) and attaches its pipes. The error is the message
/// for the client.
pub(super) fn start(agent: &Agent, mut cmd: Command) -> Result<Spawned, String> {
    let oom_before = agent.oom_kills();
    let started = Instant::now();
    let mut child = agent.spawn(&mut cmd).map_err(|e| {
        let program = cmd.get_program().to_string_lossy().into_owned();
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("command not found: `{program}` (PATH is searched for names without '/')")
        } else {
            format!("failed to start `{program}`: {e}")
        }
    })?;
    let pid = child.id();
    // Registered before any await: the reaper cannot collect this exit unseen.
    let exited = agent.reaper.register(pid);
    let pipes = (
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
        child.stdin.take().map(OwnedFd::from),
    );
    let attached = match pipes {
        (Some(stdout), Some(stderr), stdin) => {
            open_pipes(stdout, stderr, stdin).map_err(|e| format!("failed to attach output: {e}"))
        }
        _ => Err("failed to attach output: a pipe is missing".to_string()),
    };
    match attached {
        Ok((stdout, stderr, stdin)) => Ok(Spawned {
            pid,
            exited,
            stdout,
            stderr,
            stdin,
            started,
            oom_before,
        }),
        Err(message) => {
            let _ = sys::kill_process_group(pid, Signal::SIGKILL);
            Err(message)
        }
    }
}

/// The exit report of a command that ended with `status`.
pub(super) fn report(
    agent: &Agent,
    spawned_at: Instant,
    oom_before: u64,
    status: Option<WaitStatus>,
    timed_out: bool,
) -> ExitReport {
    let (exit_code, signal) = match status {
        Some(WaitStatus::Exited(_, code)) => (Some(code), None),
        Some(WaitStatus::Signaled(_, signal, _)) => (None, Some(signal as i32)),
        _ => (None, None),
    };
    let oom_killed =
        signal == Some(Signal::SIGKILL as i32) && !timed_out && agent.oom_kills() > oom_before;
    ExitReport {
        exit_code,
        signal,
        timed_out,
        oom_killed,
        duration_us: u64::try_from(spawned_at.elapsed().as_micros()).unwrap_or(u64::MAX),
    }
}

pub(super) async fn run(
    agent: &Rc<Agent>,
    request: ExecRequest,
    reader: (OwnedReadHalf, FrameReader),
    mut writer: OwnedWriteHalf,
) {
    let mut outbuf = Vec::new();
    let found = request
        .session
        .as_ref()
        .map(|id| (id, agent.sessions.get(id, &agent.base_env.borrow())));
    let session = match found {
        Some((_, Some(session))) => Some(session),
        Some((id, None)) => {
            let message = format!("no session {id:?}");
            return refuse(&mut writer, ErrorCode::SessionNotFound, message).await;
        }
        None => None,
    };
    // One command at a time per session; later ones wait here, in order.
    let turn = match &session {
        Some(session) => Some(session.take_turn().await),
        None => None,
    };
    let prepared = match &session {
        Some(session) => session.prepare(&request),
        None => {
            let base_env = agent.base_env.borrow();
            build_command(argv(&request.command), &base_env, WORKSPACE, &request)
                .map(|cmd| (cmd, None))
        }
    };
    let (cmd, state_file) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => return refuse(&mut writer, ErrorCode::InvalidRequest, message).await,
    };
    let spawned = match start(agent, cmd) {
        Ok(spawned) => spawned,
        Err(message) => return refuse(&mut writer, ErrorCode::SpawnFailed, message).await,
    };
    let Spawned {
        pid,
        exited,
        mut stdout,
        mut stderr,
        stdin,
        started,
        oom_before,
    } = spawned;
    let _running = RunningGuard::new(agent, pid);
    if let Some(turn) = &turn {
        turn.running(pid);
    }
    tracing::Span::current().record("pid", pid);

    let started_msg = AgentMessage::Started { pid };
    if protocol::write_frame(&mut writer, &started_msg, &mut outbuf)
        .await
        .is_err()
    {
        let _ = sys::kill_process_group(pid, Signal::SIGKILL);
        return;
    }

    let cancelled = Rc::new(Cell::new(false));
    let (consumed_tx, mut consumed_rx) = mpsc::unbounded_channel();
    let control = tokio::task::spawn_local(follow_client(
        reader,
        stdin,
        pid,
        cancelled.clone(),
        consumed_tx,
    ));
    let _control = AbortOnDrop(control);

    let deadline = request
        .timeout_ms
        .map(|ms| started + std::time::Duration::from_millis(ms));
    let mut out = Output::new(OutputStream::Stdout);
    let mut err = Output::new(OutputStream::Stderr);
    let mut seq = 0u64;
    let mut timed_out = false;
    let mut exited = exited;
    let status = loop {
        tokio::select! {
            status = &mut exited => break status.ok(),
            n = stdout.read(&mut out.buf), if out.open => {
                if !out.forward(n, &mut seq, &mut writer, &mut outbuf).await {
                    return cancel(pid, &cancelled);
                }
            }
            n = stderr.read(&mut err.buf), if err.open => {
                if !err.forward(n, &mut seq, &mut writer, &mut outbuf).await {
                    return cancel(pid, &cancelled);
                }
            }
            Some(bytes) = consumed_rx.recv() => {
                let msg = AgentMessage::StdinConsumed { bytes };
                if protocol::write_frame(&mut writer, &msg, &mut outbuf).await.is_err() {
                    return cancel(pid, &cancelled);
                }
            }
            _ = sleep_until_opt(deadline), if !timed_out => {
                tracing::debug!("timed out");
                timed_out = true;
                let _ = sys::kill_process_group(pid, Signal::SIGKILL);
            }
        }
    };
    if cancelled.get() {
        return;
    }
    // Whatever the command wrote before exiting is already in the pipes; take it, but do not
    // wait for background processes that inherited the pipes and may never close them, nor
    // keep reading one that refills them as fast as we drain (at most a pipe's worth more).
    for (output, pipe) in [(&mut out, &stdout), (&mut err, &stderr)] {
        let mut budget = PIPE_BYTES as usize;
        while output.open && budget > 0 {
            let n = read_buffered(pipe, &mut output.buf);
            if matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                break;
            }
            budget = budget.saturating_sub(*n.as_ref().unwrap_or(&0));
            if !output.forward(n, &mut seq, &mut writer, &mut outbuf).await {
                return;
            }
        }
    }

    let report = report(agent, started, oom_before, status, timed_out);
    if let (Some(session), Some(state_file)) = (&session, &state_file) {
        // Only a shell that exited by itself has finished its EXIT trap; one killed by a
        // signal may have left half a state file.
        if report.exit_code.is_some() {
            session.absorb(state_file, &request.env);
        }
        let _ = std::fs::remove_file(state_file);
    }
    tracing::debug!(?report, "exited");
    let _ = protocol::write_frame(&mut writer, &AgentMessage::Exited(report), &mut outbuf).await;
}

/// Answers a request with an error (the connection ends after it).
pub(super) async fn refuse(writer: &mut OwnedWriteHalf, code: ErrorCode, message: String) {
    let _ = protocol::write_frame(writer, &error(code, message), &mut Vec::new()).await;
}

/// Reads what is in `pipe` right now. Not `try_read`: that answers WouldBlock until the
/// runtime has seen the pipe become readable, and a command's exit may be noticed first, which
/// would drop the output it wrote just before exiting.
pub(super) fn read_buffered(pipe: &pipe::Receiver, buf: &mut [u8]) -> std::io::Result<usize> {
    sys::read_now(pipe.as_fd(), buf)
}

/// One output pipe's read buffer and state.
struct Output {
    stream: OutputStream,
    buf: Vec<u8>,
    open: bool,
}

impl Output {
    fn new(stream: OutputStream) -> Self {
        Self {
            stream,
            // Most commands print little; the buffer grows when a read fills it.
            buf: vec![0; SMALL_CHUNK_LEN],
            open: true,
        }
    }

    /// Sends what a read produced. Returns false when the client is gone.
    async fn forward(
        &mut self,
        read: std::io::Result<usize>,
        seq: &mut u64,
        writer: &mut OwnedWriteHalf,
        outbuf: &mut Vec<u8>,
    ) -> bool {
        let n = match read {
            Ok(0) | Err(_) => {
                self.open = false;
                return true;
            }
            Ok(n) => n,
        };
        let msg = AgentMessage::Output {
            stream: self.stream,
            seq: *seq,
            data: &self.buf[..n],
        };
        *seq += 1;
        let sent = protocol::write_frame(writer, &msg, outbuf).await.is_ok();
        if n == self.buf.len() && n < MAX_CHUNK_LEN {
            self.buf.resize(MAX_CHUNK_LEN, 0);
        }
        sent
    }
}

/// The client is gone: its command goes too.
fn cancel(pid: u32, cancelled: &Cell<bool>) {
    tracing::debug!("client gone, killing the command");
    cancelled.set(true);
    let _ = sys::kill_process_group(pid, Signal::SIGKILL);
}

/// Reads the client's side of the conversation while the command runs: stdin, signals, and
/// the end of the connection (which cancels the command). Stdin is queued (at most
/// [`STDIN_WINDOW`] bytes, which the client's flow control guarantees) and written as the command
/// reads it, so a command that ignores its stdin never stops this loop from seeing a signal or
/// the client going away.
async fn follow_client(
    (mut reader, mut frames): (OwnedReadHalf, FrameReader),
    mut stdin: Option<pipe::Sender>,
    pgid: u32,
    cancelled: Rc<Cell<bool>>,
    consumed: mpsc::UnboundedSender<u64>,
) {
    let mut queue = StdinQueue::default();
    let mut close_when_drained = false;
    loop {
        tokio::select! {
            frame = frames.next(&mut reader) => {
                let message = match frame {
                    Ok(Some(payload)) => protocol::decode::<ClientMessage>(payload).ok(),
                    Ok(None) | Err(_) => None,
                };
                match message {
                    Some(ClientMessage::Stdin(data)) => {
                        if queue.len + data.len() > STDIN_WINDOW {
                            tracing::debug!("client overran the stdin window");
                            return cancel(pgid, &cancelled);
                        }
                        if stdin.is_some() {
                            queue.push(data);
                        } else {
                            // Nobody will read it; acknowledge so the client is not stuck.
                            let _ = consumed.send(data.len() as u64);
                        }
                    }
                    Some(ClientMessage::CloseStdin) => close_when_drained = true,
                    Some(ClientMessage::Signal { signal }) => {
                        if let Ok(signal) = Signal::try_from(signal) {
                            let _ = sys::kill_process_group(pgid, signal);
                        }
                    }
                    // End of stream, garbage or an out-of-place message: the client is gone or
                    // broken.
                    _ => return cancel(pgid, &cancelled),
                }
            }
            written = queue.write_to(stdin.as_mut()), if stdin.is_some() && queue.len > 0 => {
                match written {
                    Ok(n) => {
                        let _ = consumed.send(n as u64);
                    }
                    // The command closed its stdin: drop what it will never read.
                    Err(_) => {
                        stdin = None;
                        let _ = consumed.send(queue.clear() as u64);
                    }
                }
            }
        }
        if close_when_drained && queue.len == 0 {
            stdin = None;
        }
    }
}

/// Stdin bytes received from the client and not yet written to the command.
#[derive(Default)]
struct StdinQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    offset: usize,
    /// Bytes queued in all.
    len: usize,
}

impl StdinQueue {
    fn push(&mut self, data: &[u8]) {
        self.len += data.len();
        self.chunks.push_back(data.to_vec());
    }

    /// Writes some of the front chunk; cancel-safe (a single `write`).
    async fn write_to(&mut self, pipe: Option<&mut pipe::Sender>) -> std::io::Result<usize> {
        let (Some(pipe), Some(front)) = (pipe, self.chunks.front()) else {
            return std::future::pending().await;
        };
        let n = pipe.write(&front[self.offset..]).await?;
        self.offset += n;
        self.len -= n;
        if self.offset == front.len() {
            self.chunks.pop_front();
            self.offset = 0;
        }
        Ok(n)
    }

    /// Empties the queue, returning how many bytes were dropped.
    fn clear(&mut self) -> usize {
        self.chunks.clear();
        self.offset = 0;
        std::mem::take(&mut self.len)
    }
}

/// The argv of a command line: itself, or the shell running the script.
pub(super) fn argv(line: &CommandLine) -> Vec<String> {
    match line {
        CommandLine::Argv(argv) => argv.clone(),
        CommandLine::Shell { script, args } => [shell(), "-c", script.as_str()]
            .into_iter()
            .map(str::to_string)
            .chain(args.iter().cloned())
            .collect(),
    }
}

/// The command to spawn: `argv` with `base_env` overridden by the request's variables, in the
/// request's working directory or `default_cwd`, in a process group of its own.
pub(super) fn build_command(
    argv: Vec<String>,
    base_env: &[(String, String)],
    default_cwd: &str,
    request: &ExecRequest,
) -> Result<Command, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    if argv.iter().any(|a| a.contains('\0')) {
        return Err("command contains a NUL byte".into());
    }
    for (key, value) in &request.env {
        if !protocol::is_valid_env_var(key, value) {
            return Err(format!(
                "invalid environment variable name or value: {key:?}"
            ));
        }
    }
    let cwd = request.cwd.as_deref().unwrap_or(default_cwd);
    if cwd.contains('\0') || !Path::new(cwd).is_dir() {
        return Err(format!("working directory {cwd} does not exist"));
    }
    let path_var = request
        .env
        .iter()
        .chain(base_env.iter())
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    // Resolved here because std only uses posix_spawn when it need not search a PATH of the
    // child's environment itself.
    let mut cmd = Command::new(resolve_program(program, path_var));
    cmd.args(args)
        .env_clear()
        .envs(base_env.iter().map(|(k, v)| (k, v)))
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    Ok(cmd)
}

/// The first executable `program` in `path_var`, as a shell would find it; the name itself
/// when it contains a `/` or is found nowhere (then the spawn reports "not found").
fn resolve_program(program: &str, path_var: Option<&str>) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    path_var
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

pub(super) fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

type Pipes = (pipe::Receiver, pipe::Receiver, Option<pipe::Sender>);

pub(super) fn open_pipes(
    stdout: OwnedFd,
    stderr: OwnedFd,
    stdin: Option<OwnedFd>,
) -> std::io::Result<Pipes> {
    // A smaller buffer only costs throughput; not worth failing the command for.
    let _ = sys::set_pipe_size(stdout.as_fd(), PIPE_BYTES);
    let _ = sys::set_pipe_size(stderr.as_fd(), PIPE_BYTES);
    Ok((
        pipe::Receiver::from_owned_fd(stdout)?,
        pipe::Receiver::from_owned_fd(stderr)?,
        stdin.map(pipe::Sender::from_owned_fd).transpose()?,
    ))
}

/// Keeps a command's process group in the agent's table while it runs.
struct RunningGuard<'a> {
    agent: &'a Agent,
    pgid: u32,
}

impl<'a> RunningGuard<'a> {
    fn new(agent: &'a Agent, pgid: u32) -> Self {
        agent.running.borrow_mut().insert(pgid);
        Self { agent, pgid }
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.agent.running.borrow_mut().remove(&self.pgid);
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_already_in_the_pipe_is_read_before_the_runtime_sees_it() {
        let (tx, rx) = pipe::pipe().unwrap();
        // Written and read with no await in between: the runtime has had no chance to learn
        // that the pipe is readable, as when an exit is noticed first.
        nix::unistd::write(&tx, b"last words").unwrap();
        let mut buf = [0u8; 64];
        let n = read_buffered(&rx, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"last words");
    }
}
