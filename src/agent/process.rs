//! Background processes: the agent's process table, bounded logs with cursors, kill with a
//! grace period, and waiting for a port.
//!
//! A process's output is kept in a [`Log`] of bounded size (oldest bytes dropped first). A
//! cursor is a byte offset into everything the process ever printed (both streams together),
//! so a reader resumes exactly where it stopped; if what it asks for has been dropped it is
//! told which range (`LogDropped`) and continues from the oldest byte kept.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::exec::{self, Spawned, WORKSPACE};
use super::session::check_id;
use super::{sleep_until_opt, Agent};
use crate::protocol::{
    self, AgentMessage, CommandLine, ErrorCode, ExecRequest, ExitReport, FrameReader, OutputStream,
    PortCheck, ProcessInfo, ProcessOp, ProcessStatus, MAX_CHUNK_LEN,
};
use crate::runtime::sys;

/// Rounds of "stop what was found, look again" before a family is signalled.
const MAX_FREEZE_ROUNDS: usize = 8;

/// Finished processes kept for inspection; the oldest finished ones are forgotten first.
const KEEP_FINISHED: usize = 64;

/// Output chunks are merged up to this size, so a chatty process costs few allocations.
const MERGE_BYTES: usize = 64 << 10;

/// Largest log bound a client may ask for.
const MAX_LOG_LIMIT: u64 = 256 << 20;

/// How often a port is probed while waiting for it (backing off from the first value).
const PORT_PROBE_FIRST: Duration = Duration::from_millis(5);
const PORT_PROBE_MAX: Duration = Duration::from_millis(100);

/// Bound on an HTTP probe's own duration and on the status line it reads.
const HTTP_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const HTTP_STATUS_LINE_MAX: usize = 8 << 10;

/// A bounded log of one process's output.
struct Log {
    /// `(cursor of first byte, stream, bytes)`, oldest first.
    chunks: VecDeque<(u64, OutputStream, Vec<u8>)>,
    /// Cursor of the oldest byte kept.
    start: u64,
    /// Cursor of the next byte to come.
    end: u64,
    limit: u64,
}

impl Log {
    fn new(limit: u64) -> Self {
        Self {
            chunks: VecDeque::new(),
            start: 0,
            end: 0,
            limit,
        }
    }

    fn push(&mut self, stream: OutputStream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match self.chunks.back_mut() {
            Some((_, s, bytes)) if *s == stream && bytes.len() + data.len() <= MERGE_BYTES => {
                bytes.extend_from_slice(data);
            }
            _ => self.chunks.push_back((self.end, stream, data.to_vec())),
        }
        self.end += data.len() as u64;
        let mut excess = (self.end - self.start).saturating_sub(self.limit);
        while excess > 0 {
            let Some((cursor, _, front)) = self.chunks.front_mut() else {
                break;
            };
            let cut = usize::try_from(excess)
                .unwrap_or(usize::MAX)
                .min(front.len());
            if cut == front.len() {
                self.chunks.pop_front();
            } else {
                front.drain(..cut);
                front.shrink_to(MERGE_BYTES);
                *cursor += cut as u64;
            }
            self.start += cut as u64;
            excess -= cut as u64;
        }
    }

    /// Chunks (or their tails) at or after `from`.
    fn since(&self, from: u64) -> impl Iterator<Item = (u64, OutputStream, &[u8])> {
        self.chunks
            .iter()
            .filter_map(move |(cursor, stream, bytes)| {
                let end = cursor + bytes.len() as u64;
                if end <= from {
                    return None;
                }
                let skip = usize::try_from(from.saturating_sub(*cursor)).unwrap_or(0);
                Some(((*cursor).max(from), *stream, &bytes[skip..]))
            })
    }
}

/// One background process.
struct Proc {
    id: String,
    pid: u32,
    command: String,
    started_at_ms: i64,
    status: Cell<ProcessStatus>,
    exit: Cell<Option<ExitReport>>,
    error: Option<String>,
    log: RefCell<Log>,
    /// Woken on new output and on the exit.
    changed: Notify,
}

impl Proc {
    fn info(&self) -> ProcessInfo {
        let log = self.log.borrow();
        ProcessInfo {
            id: self.id.clone(),
            pid: self.pid,
            command: self.command.clone(),
            status: self.status.get(),
            started_at_ms: self.started_at_ms,
            exit: self.exit.get(),
            output_bytes: log.end,
            kept_bytes: log.end - log.start,
            error: self.error.clone(),
        }
    }

    fn running(&self) -> bool {
        !self.status.get().is_finished()
    }
}

/// The sandbox's background processes, in start order.
#[derive(Default)]
pub(super) struct Processes {
    table: RefCell<BTreeMap<u64, Rc<Proc>>>,
    next: Cell<u64>,
}

impl Processes {
    fn find(&self, id: &str) -> Option<Rc<Proc>> {
        self.table
            .borrow()
            .values()
            .find(|p| p.id == id)
            .map(Rc::clone)
    }

    fn insert(&self, proc: Rc<Proc>) {
        let n = self.next.get() + 1;
        self.next.set(n);
        let mut table = self.table.borrow_mut();
        table.retain(|_, p| p.id != proc.id);
        table.insert(n, proc);
        let finished: Vec<u64> = table
            .iter()
            .filter(|(_, p)| !p.running())
            .map(|(n, _)| *n)
            .collect();
        for n in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            table.remove(n);
        }
    }

    fn fresh_id(&self) -> String {
        let mut n = self.next.get();
        loop {
            n += 1;
            let id = format!("proc-{n}");
            if self.find(&id).is_none() {
                return id;
            }
        }
    }

    fn list(&self) -> Vec<ProcessInfo> {
        self.table.borrow().values().map(|p| p.info()).collect()
    }
}

/// Starts a background process and supervises it until it ends.
pub(super) fn start(
    agent: &Rc<Agent>,
    id: Option<String>,
    request: ExecRequest,
    log_limit: u64,
) -> Result<ProcessInfo, (ErrorCode, String)> {
    let invalid = |message: String| (ErrorCode::InvalidRequest, message);
    if request.stdin {
        return Err(invalid(
            "background processes read /dev/null; stdin cannot be piped".into(),
        ));
    }
    if log_limit == 0 || log_limit > MAX_LOG_LIMIT {
        return Err(invalid(format!(
            "log limit must be between 1 byte and {MAX_LOG_LIMIT} bytes"
        )));
    }
    let id = match id {
        Some(id) => {
            check_id("process", &id).map_err(invalid)?;
            if agent.processes.find(&id).is_some_and(|p| p.running()) {
                return Err((
                    ErrorCode::AlreadyExists,
                    format!("process {id:?} is still running"),
                ));
            }
            id
        }
        None => agent.processes.fresh_id(),
    };
    let cmd = {
        let base_env = agent.base_env.borrow();
        let session = match &request.session {
            Some(name) => Some(
                agent
                    .sessions
                    .get(name, &base_env)
                    .ok_or_else(|| (ErrorCode::SessionNotFound, format!("no session {name:?}")))?,
            ),
            None => None,
        };
        let (env, cwd) = match &session {
            Some(session) => session.context(),
            None => (base_env.clone(), WORKSPACE.to_string()),
        };
        exec::build_command(exec::argv(&request.command), &env, &cwd, &request).map_err(invalid)?
    };
    let started_at_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let command = display(&request.command);
    let spawned = match exec::start(agent, cmd) {
        Ok(spawned) => spawned,
        Err(message) => {
            // Kept in the table, so a listing shows why it is not running.
            agent.processes.insert(Rc::new(Proc {
                id,
                pid: 0,
                command,
                started_at_ms,
                status: Cell::new(ProcessStatus::Error),
                exit: Cell::new(None),
                error: Some(message.clone()),
                log: RefCell::new(Log::new(log_limit)),
                changed: Notify::new(),
            }));
            return Err((ErrorCode::SpawnFailed, message));
        }
    };
    let proc = Rc::new(Proc {
        id,
        pid: spawned.pid,
        command,
        started_at_ms,
        status: Cell::new(ProcessStatus::Running),
        exit: Cell::new(None),
        error: None,
        log: RefCell::new(Log::new(log_limit)),
        changed: Notify::new(),
    });
    agent.processes.insert(Rc::clone(&proc));
    agent.running.borrow_mut().insert(spawned.pid);
    let info = proc.info();
    let deadline = request
        .timeout_ms
        .map(|ms| spawned.started + Duration::from_millis(ms));
    let span = tracing::info_span!("process", id = %proc.id, pid = proc.pid);
    tokio::task::spawn_local(tracing::Instrument::instrument(
        supervise(Rc::clone(agent), proc, spawned, deadline),
        span,
    ));
    Ok(info)
}

/// A command line as one line of text, for listings.
fn display(line: &CommandLine) -> String {
    let text = match line {
        CommandLine::Argv(argv) => argv.join(" "),
        CommandLine::Shell { script, .. } => script.clone(),
    };
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    text.trim().to_string()
}

/// Collects the process's output into its log until it exits, then records how it ended.
async fn supervise(agent: Rc<Agent>, proc: Rc<Proc>, spawned: Spawned, deadline: Option<Instant>) {
    let Spawned {
        pid,
        mut exited,
        mut stdout,
        mut stderr,
        started,
        oom_before,
        ..
    } = spawned;
    let mut out_buf = vec![0u8; MAX_CHUNK_LEN];
    let mut err_buf = vec![0u8; MAX_CHUNK_LEN];
    let (mut out_open, mut err_open) = (true, true);
    let mut timed_out = false;
    let status = loop {
        tokio::select! {
            status = &mut exited => break status.ok(),
            n = stdout.read(&mut out_buf), if out_open => {
                out_open = record(&proc, OutputStream::Stdout, n, &out_buf);
            }
            n = stderr.read(&mut err_buf), if err_open => {
                err_open = record(&proc, OutputStream::Stderr, n, &err_buf);
            }
            _ = sleep_until_opt(deadline), if !timed_out => {
                tracing::debug!("timed out");
                timed_out = true;
                kill_family(pid, Signal::SIGKILL);
            }
        }
    };
    // What it wrote before exiting is in the pipes; take at most a pipe's worth more, as a
    // background child that inherited them may never close them.
    for (open, pipe, stream) in [
        (out_open, &stdout, OutputStream::Stdout),
        (err_open, &stderr, OutputStream::Stderr),
    ] {
        let mut budget = exec::PIPE_BYTES as usize;
        while open && budget > 0 {
            match exec::read_buffered(pipe, &mut out_buf) {
                Ok(n) if n > 0 => {
                    record(&proc, stream, Ok(n), &out_buf);
                    budget = budget.saturating_sub(n);
                }
                _ => break,
            }
        }
    }
    agent.running.borrow_mut().remove(&pid);
    let report = exec::report(&agent, started, oom_before, status, timed_out);
    proc.exit.set(Some(report));
    proc.status.set(match (report.exit_code, report.timed_out) {
        (Some(0), false) => ProcessStatus::Completed,
        (Some(_), false) => ProcessStatus::Failed,
        _ => ProcessStatus::Killed,
    });
    tracing::debug!(?report, "process ended");
    proc.changed.notify_waiters();
}

/// Adds what a read produced to the log; returns whether the pipe is still open.
fn record(proc: &Proc, stream: OutputStream, read: std::io::Result<usize>, buf: &[u8]) -> bool {
    match read {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            proc.log.borrow_mut().push(stream, &buf[..n]);
            proc.changed.notify_waiters();
            true
        }
    }
}

/// Sends `signal` to process group `pgid` and to every descendant of its leader, including
/// those that moved to another process group. Everything is stopped first, so that nothing can
/// fork a new child or be re-parented (and so escape the walk) while the family is gathered;
/// those that get a catchable signal are continued after it, to handle it. (A descendant that
/// had already left its parent, a daemon's double fork, is beyond reach of this; destroying
/// the sandbox still ends it.)
pub(super) fn kill_family(pgid: u32, signal: Signal) {
    let mut family = std::collections::BTreeSet::new();
    for _ in 0..MAX_FREEZE_ROUNDS {
        let _ = sys::kill_process_group(pgid, Signal::SIGSTOP);
        let found = descendants(pgid);
        let before = family.len();
        for pid in found {
            if family.insert(pid) {
                let _ = sys::signal_process(pid, Signal::SIGSTOP);
            }
        }
        if family.len() == before {
            break;
        }
    }
    let _ = sys::kill_process_group(pgid, signal);
    for &pid in &family {
        let _ = sys::signal_process(pid, signal);
    }
    if signal != Signal::SIGKILL && signal != Signal::SIGSTOP {
        let _ = sys::kill_process_group(pgid, Signal::SIGCONT);
        for &pid in &family {
            let _ = sys::signal_process(pid, Signal::SIGCONT);
        }
    }
}

/// Processes whose parent chain leads to `root`, from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: BTreeMap<u32, u32> = dir
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parse_ppid(&stat)?))
        })
        .collect();
    parents
        .keys()
        .copied()
        .filter(|&pid| {
            let mut current = pid;
            // Bounded: a pid-reuse race could in theory make a cycle.
            for _ in 0..parents.len() {
                match parents.get(&current) {
                    Some(&parent) if parent == root => return true,
                    Some(&parent) if parent > 1 => current = parent,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// The parent pid from a `/proc/PID/stat` line (the command name may hold spaces and
/// parentheses, so fields are counted from the last `)`).
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Signals one process (see [`kill_family`]); with a grace period, SIGKILL follows if it still
/// runs then.
fn kill(proc: &Rc<Proc>, signal: Signal, grace: Option<Duration>) {
    if !proc.running() {
        return;
    }
    kill_family(proc.pid, signal);
    let Some(grace) = grace else {
        return;
    };
    let proc = Rc::clone(proc);
    tokio::task::spawn_local(async move {
        let ended = async {
            while proc.running() {
                proc.changed.notified().await;
            }
        };
        if tokio::time::timeout(grace, ended).await.is_err() {
            tracing::debug!(id = %proc.id, "grace period over, killing");
            kill_family(proc.pid, Signal::SIGKILL);
        }
    });
}

/// Serves one process-table request.
pub(super) async fn serve(
    agent: &Rc<Agent>,
    op: ProcessOp,
    (mut reader, mut frames): (OwnedReadHalf, FrameReader),
    mut writer: OwnedWriteHalf,
) {
    let mut out = Vec::new();
    let find = |id: &str| {
        agent
            .processes
            .find(id)
            .ok_or_else(|| (ErrorCode::ProcessNotFound, format!("no process {id:?}")))
    };
    let signal_of = |signal: i32| {
        Signal::try_from(signal).map_err(|_| {
            (
                ErrorCode::InvalidRequest,
                format!("no signal number {signal}"),
            )
        })
    };
    let grace_of = |ms: Option<u64>| ms.map(Duration::from_millis);
    let reply = match op {
        ProcessOp::List => Ok(AgentMessage::Processes(agent.processes.list())),
        ProcessOp::Get { id } => find(&id).map(|p| AgentMessage::Process(p.info())),
        ProcessOp::Kill {
            id,
            signal,
            grace_ms,
        } => find(&id).and_then(|proc| {
            kill(&proc, signal_of(signal)?, grace_of(grace_ms));
            Ok(AgentMessage::Process(proc.info()))
        }),
        ProcessOp::KillAll { signal, grace_ms } => signal_of(signal).map(|signal| {
            let running: Vec<Rc<Proc>> = agent
                .processes
                .table
                .borrow()
                .values()
                .filter(|p| p.running())
                .map(Rc::clone)
                .collect();
            for proc in &running {
                kill(proc, signal, grace_of(grace_ms));
            }
            AgentMessage::Processes(running.iter().map(|p| p.info()).collect())
        }),
        ProcessOp::Logs { id, from, follow } => match find(&id) {
            Ok(proc) => {
                return send_logs(&proc, from, follow, (reader, frames), writer).await;
            }
            Err(e) => Err(e),
        },
        ProcessOp::WaitForPort {
            id,
            port,
            check,
            timeout_ms,
        } => match find(&id) {
            Ok(proc) => {
                let timeout = Duration::from_millis(timeout_ms);
                tokio::select! {
                    result = wait_for_port(&proc, port, &check, timeout) => {
                        result.map(|()| AgentMessage::Done)
                    }
                    // The client went away: stop probing.
                    _ = frames.next(&mut reader) => return,
                }
            }
            Err(e) => Err(e),
        },
    };
    let reply = reply.unwrap_or_else(|(code, message)| super::connection::error(code, message));
    let _ = protocol::write_frame(&mut writer, &reply, &mut out).await;
}

/// Streams a process's log from `from`; with `follow`, until it ends.
async fn send_logs(
    proc: &Rc<Proc>,
    from: u64,
    follow: bool,
    (mut reader, mut frames): (OwnedReadHalf, FrameReader),
    mut writer: OwnedWriteHalf,
) {
    let mut out = Vec::new();
    let mut cursor = from;
    let mut client_gone = std::pin::pin!(async move {
        // Anything from the client now is the end of the conversation.
        let _ = frames.next(&mut reader).await;
    });
    loop {
        let changed = proc.changed.notified();
        let mut changed = std::pin::pin!(changed);
        // Registered before reading the log, so no change between the two is missed.
        changed.as_mut().enable();
        let ended = !proc.running();
        // Collected first: the log may not stay borrowed across the awaits below.
        let (dropped, chunks) = {
            let log = proc.log.borrow();
            let dropped = (cursor < log.start).then_some((cursor, log.start));
            cursor = cursor.clamp(log.start, log.end);
            let chunks: Vec<(u64, OutputStream, Vec<u8>)> = log
                .since(cursor)
                .map(|(c, s, d)| (c, s, d.to_vec()))
                .collect();
            cursor = log.end;
            (dropped, chunks)
        };
        if let Some((from, to)) = dropped {
            let msg = AgentMessage::LogDropped { from, to };
            if protocol::write_frame(&mut writer, &msg, &mut out)
                .await
                .is_err()
            {
                return;
            }
        }
        for (chunk_cursor, stream, data) in &chunks {
            for (i, piece) in data.chunks(MAX_CHUNK_LEN).enumerate() {
                let msg = AgentMessage::Log {
                    cursor: chunk_cursor + (i * MAX_CHUNK_LEN) as u64,
                    stream: *stream,
                    data: piece,
                };
                if protocol::write_frame(&mut writer, &msg, &mut out)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        if ended || !follow {
            let msg = AgentMessage::LogEnd {
                next: cursor,
                process: proc.info(),
            };
            let _ = protocol::write_frame(&mut writer, &msg, &mut out).await;
            return;
        }
        tokio::select! {
            _ = changed => {}
            _ = &mut client_gone => return,
        }
    }
}

/// Probes `port` on loopback until it is ready, the process ends, or `timeout` passes.
async fn wait_for_port(
    proc: &Proc,
    port: u16,
    check: &PortCheck,
    timeout: Duration,
) -> Result<(), (ErrorCode, String)> {
    let deadline = Instant::now() + timeout;
    let mut pause = PORT_PROBE_FIRST;
    loop {
        if probe(port, check).await {
            return Ok(());
        }
        if !proc.running() {
            let how =
                proc.exit
                    .get()
                    .map_or("ended".to_string(), |r| match (r.exit_code, r.signal) {
                        (Some(code), _) => format!("exited with code {code}"),
                        (_, Some(signal)) => format!("was killed by signal {signal}"),
                        _ => "ended".to_string(),
                    });
            return Err((
                ErrorCode::ProcessExited,
                format!("process {:?} {how} before port {port} was ready", proc.id),
            ));
        }
        if Instant::now() >= deadline {
            return Err((
                ErrorCode::Timeout,
                format!(
                    "port {port} was not ready ({}) within {timeout:?}",
                    describe(check)
                ),
            ));
        }
        // Woken early when the process ends, so that is reported without delay.
        let _ = tokio::time::timeout(pause.min(deadline - Instant::now()), async {
            while proc.running() {
                proc.changed.notified().await;
            }
        })
        .await;
        pause = (pause * 2).min(PORT_PROBE_MAX);
    }
}

fn describe(check: &PortCheck) -> String {
    match check {
        PortCheck::Tcp => "accepting TCP connections".into(),
        PortCheck::Http { path, min, max } => format!("HTTP GET {path} answered {min}-{max}"),
    }
}

/// One probe of `port` on 127.0.0.1 and ::1.
async fn probe(port: u16, check: &PortCheck) -> bool {
    for addr in [
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
    ] {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        match check {
            PortCheck::Tcp => return true,
            PortCheck::Http { path, min, max } => {
                let status = tokio::time::timeout(HTTP_PROBE_TIMEOUT, http_status(stream, path))
                    .await
                    .ok()
                    .flatten();
                if status.is_some_and(|s| (*min..=*max).contains(&s)) {
                    return true;
                }
            }
        }
    }
    false
}

/// Sends `GET path` and returns the response's status code.
async fn http_status(mut stream: tokio::net::TcpStream, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < HTTP_STATUS_LINE_MAX {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head)
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests;
