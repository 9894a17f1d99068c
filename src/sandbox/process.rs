//! Background processes: start, list, kill, wait, logs with resumable cursors, and waiting for
//! a log line or a port.

use std::time::Duration;

use super::conversation::{call, millis, unexpected, Conversation, Reply, Subject};
use super::{Command, Error, Sandbox};
use crate::protocol::{self, ClientMessage, OutputStream, ProcessOp};
pub use crate::protocol::{PortCheck, ProcessInfo, ProcessStatus};

/// Default bound on a process's kept output: the newest 1 MiB.
pub const DEFAULT_LOG_LIMIT: u64 = 1 << 20;

/// Longest partial line [`Process::wait_for_log`] keeps while waiting for its end.
const MAX_PENDING_LINE: usize = 64 << 10;

/// Options of [`Sandbox::start_process`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOptions {
    /// The process id (1-64 of `A-Za-z0-9._-`); the agent picks `proc-N` when absent. The id
    /// of a finished process may be reused; that of a running one may not.
    pub id: Option<String>,
    /// Bytes of output kept (the oldest are dropped first); default [`DEFAULT_LOG_LIMIT`].
    pub log_limit: u64,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            id: None,
            log_limit: DEFAULT_LOG_LIMIT,
        }
    }
}

impl ProcessOptions {
    /// Names the process.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the bound on kept output.
    pub fn log_limit(mut self, bytes: u64) -> Self {
        self.log_limit = bytes;
        self
    }
}

/// A handle to a background process. Dropping it leaves the process running.
#[derive(Clone)]
pub struct Process {
    sandbox: Sandbox,
    info: ProcessInfo,
}

/// A process's kept output, split by stream, from [`Process::logs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessLogs {
    /// Standard output kept.
    pub stdout: Vec<u8>,
    /// Standard error kept.
    pub stderr: Vec<u8>,
    /// Bytes dropped from the front to stay within the bound (0: nothing was lost).
    pub dropped_bytes: u64,
    /// Cursor to resume from with [`Process::stream_logs`].
    pub next_cursor: u64,
    /// The process as it was when the logs were read.
    pub process: ProcessInfo,
}

impl ProcessLogs {
    /// Whether output was dropped to stay within the bound.
    pub fn truncated(&self) -> bool {
        self.dropped_bytes > 0
    }
}

/// One event of [`Process::stream_logs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// Output, in order; `cursor` is the offset of its first byte among everything the process
    /// printed, so resuming from `cursor + data.len()` neither repeats nor skips.
    Output {
        /// Offset of the first byte.
        cursor: u64,
        /// Which stream.
        stream: OutputStream,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Bytes `from..to` were dropped before they could be read (the log's bound).
    Truncated {
        /// First cursor lost.
        from: u64,
        /// First cursor kept.
        to: u64,
    },
    /// The end: the process has ended (when following) or the kept log was all sent.
    End {
        /// Where to resume.
        next_cursor: u64,
        /// The process as it is now, with its exit status if it ended.
        process: ProcessInfo,
    },
}

/// A process's log as it is produced. Dropping it stops following.
pub struct LogStream {
    conversation: Conversation,
    done: bool,
}

impl LogStream {
    /// The next event, or `None` after [`LogEvent::End`].
    pub async fn next(&mut self) -> Option<Result<LogEvent, Error>> {
        if self.done {
            return None;
        }
        let event = match self.conversation.next().await {
            Ok(Reply::Log {
                cursor,
                stream,
                data,
            }) => Ok(LogEvent::Output {
                cursor,
                stream,
                data,
            }),
            Ok(Reply::LogDropped { from, to }) => Ok(LogEvent::Truncated { from, to }),
            Ok(Reply::LogEnd { next, process }) => Ok(LogEvent::End {
                next_cursor: next,
                process,
            }),
            Ok(_) => Err(self.conversation.unexpected()),
            Err(e) => Err(e),
        };
        self.done = !matches!(
            event,
            Ok(LogEvent::Output { .. } | LogEvent::Truncated { .. })
        );
        Some(event)
    }
}

/// What [`Process::wait_for_log`] looks for in each line.
#[derive(Debug, Clone)]
pub enum LogPattern {
    /// The line contains this text.
    Text(String),
    /// The regex matches somewhere in the line.
    Regex(regex::Regex),
}

impl LogPattern {
    fn matches(&self, line: &str) -> bool {
        match self {
            LogPattern::Text(text) => line.contains(text.as_str()),
            LogPattern::Regex(regex) => regex.is_match(line),
        }
    }
}

impl std::fmt::Display for LogPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogPattern::Text(text) => write!(f, "{text:?}"),
            LogPattern::Regex(regex) => write!(f, "/{}/", regex.as_str()),
        }
    }
}

impl From<&str> for LogPattern {
    fn from(text: &str) -> Self {
        LogPattern::Text(text.to_string())
    }
}

impl From<String> for LogPattern {
    fn from(text: String) -> Self {
        LogPattern::Text(text)
    }
}

impl From<regex::Regex> for LogPattern {
    fn from(regex: regex::Regex) -> Self {
        LogPattern::Regex(regex)
    }
}

/// The line [`Process::wait_for_log`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMatch {
    /// The line, without its newline (lossily decoded as UTF-8).
    pub line: String,
    /// The stream it was printed on.
    pub stream: OutputStream,
    /// Cursor just after the output that completed the match.
    pub cursor: u64,
}

impl Process {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Its pid inside the sandbox.
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// What was known when this handle was made (see [`Process::status`] for now).
    pub fn info(&self) -> &ProcessInfo {
        &self.info
    }

    fn subject(&self) -> Subject {
        Subject::Process(self.info.id.clone())
    }

    /// The process as it is now.
    pub async fn status(&self) -> Result<ProcessInfo, Error> {
        let op = ProcessOp::Get {
            id: self.info.id.clone(),
        };
        match call(&self.sandbox, self.subject(), ClientMessage::Process(op)).await? {
            Reply::Process(info) => Ok(info),
            _ => Err(unexpected(self.sandbox.id())),
        }
    }

    /// Waits until the process ends and returns it, with its exit status.
    pub async fn wait(&self) -> Result<ProcessInfo, Error> {
        // A cursor past the end sends no output: only the end, once it comes.
        let mut stream = self.stream_logs(u64::MAX).await?;
        while let Some(event) = stream.next().await {
            if let LogEvent::End { process, .. } = event? {
                return Ok(process);
            }
        }
        Err(unexpected(self.sandbox.id()))
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process, its process group and its
    /// descendants; with `grace`, SIGKILL follows if it still runs by then. Returns at once.
    pub async fn kill(&self, signal: i32, grace: Option<Duration>) -> Result<ProcessInfo, Error> {
        self.sandbox.kill_process(self.id(), signal, grace).await
    }

    /// The output kept so far, split by stream.
    pub async fn logs(&self) -> Result<ProcessLogs, Error> {
        let op = ProcessOp::Logs {
            id: self.info.id.clone(),
            from: 0,
            follow: false,
        };
        let mut conversation =
            Conversation::open(&self.sandbox, self.subject(), &ClientMessage::Process(op)).await?;
        let mut logs = ProcessLogs {
            stdout: Vec::new(),
            stderr: Vec::new(),
            dropped_bytes: 0,
            next_cursor: 0,
            process: self.info.clone(),
        };
        loop {
            match conversation.next().await? {
                Reply::Log { stream, data, .. } => match stream {
                    OutputStream::Stdout => logs.stdout.extend_from_slice(&data),
                    OutputStream::Stderr => logs.stderr.extend_from_slice(&data),
                },
                Reply::LogDropped { from, to } => logs.dropped_bytes += to - from,
                Reply::LogEnd { next, process } => {
                    logs.next_cursor = next;
                    logs.process = process;
                    return Ok(logs);
                }
                _ => return Err(conversation.unexpected()),
            }
        }
    }

    /// Follows the log from `from_cursor` (0 for the beginning) until the process ends: the
    /// kept output first, then new output as it comes, then [`LogEvent::End`] with the exit
    /// status.
    pub async fn stream_logs(&self, from_cursor: u64) -> Result<LogStream, Error> {
        self.open_logs(from_cursor, true).await
    }

    /// The kept output from `from_cursor` up to now, in the order it was printed (both streams
    /// interleaved), then [`LogEvent::End`] with the process as it is; does not wait for more.
    pub async fn read_logs(&self, from_cursor: u64) -> Result<LogStream, Error> {
        self.open_logs(from_cursor, false).await
    }

    async fn open_logs(&self, from_cursor: u64, follow: bool) -> Result<LogStream, Error> {
        let op = ProcessOp::Logs {
            id: self.info.id.clone(),
            from: from_cursor,
            follow,
        };
        let conversation =
            Conversation::open(&self.sandbox, self.subject(), &ClientMessage::Process(op)).await?;
        Ok(LogStream {
            conversation,
            done: false,
        })
    }

    /// Waits until a line of output (from the beginning of the kept log) matches `pattern`.
    /// Fails with `PROCESS_EXITED` if the process ends first and `COMMAND_TIMEOUT` after
    /// `timeout`.
    pub async fn wait_for_log(
        &self,
        pattern: impl Into<LogPattern>,
        timeout: Duration,
    ) -> Result<LogMatch, Error> {
        let pattern = pattern.into();
        match tokio::time::timeout(timeout, self.find_line(&pattern)).await {
            Ok(found) => found,
            Err(_) => Err(self.process_error(
                protocol::ErrorCode::Timeout,
                format!(
                    "no line of process {:?} matched {pattern} within {timeout:?}",
                    self.id()
                ),
            )),
        }
    }

    async fn find_line(&self, pattern: &LogPattern) -> Result<LogMatch, Error> {
        let mut stream = self.stream_logs(0).await?;
        // The unfinished last line of each stream.
        let mut pending = [Vec::new(), Vec::new()];
        while let Some(event) = stream.next().await {
            match event? {
                LogEvent::Output {
                    cursor,
                    stream: which,
                    data,
                } => {
                    let line_buf = &mut pending[which as usize];
                    let end = cursor + data.len() as u64;
                    for piece in data.split_inclusive(|&b| b == b'\n') {
                        line_buf.extend_from_slice(piece);
                        let complete = piece.ends_with(b"\n");
                        let line = String::from_utf8_lossy(line_buf.trim_ascii_end()).into_owned();
                        // Partial lines are checked too: a prompt may never end its line.
                        if pattern.matches(&line) {
                            return Ok(LogMatch {
                                line,
                                stream: which,
                                cursor: end,
                            });
                        }
                        if complete {
                            line_buf.clear();
                        } else if line_buf.len() > MAX_PENDING_LINE {
                            line_buf.drain(..line_buf.len() - MAX_PENDING_LINE);
                        }
                    }
                }
                LogEvent::Truncated { .. } => pending.iter_mut().for_each(Vec::clear),
                LogEvent::End { process, .. } => {
                    return Err(self.process_error(
                        protocol::ErrorCode::ProcessExited,
                        format!(
                            "process {:?} ended ({}) before a line matched {pattern}",
                            self.id(),
                            process.status.as_str()
                        ),
                    ))
                }
            }
        }
        Err(unexpected(self.sandbox.id()))
    }

    /// Waits until something inside the sandbox accepts connections on `port` (and, with
    /// [`PortCheck::Http`], answers in the accepted status range). Fails with
    /// `PROCESS_EXITED` if this process ends first and `COMMAND_TIMEOUT` after `timeout`.
    pub async fn wait_for_port(
        &self,
        port: u16,
        check: PortCheck,
        timeout: Duration,
    ) -> Result<(), Error> {
        let op = ProcessOp::WaitForPort {
            id: self.info.id.clone(),
            port,
            check,
            timeout_ms: millis(timeout),
        };
        match call(&self.sandbox, self.subject(), ClientMessage::Process(op)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected(self.sandbox.id())),
        }
    }

    fn process_error(&self, code: protocol::ErrorCode, message: String) -> Error {
        Error::Process {
            id: self.sandbox.id().to_string(),
            process: self.info.id.clone(),
            code,
            message,
        }
    }
}

impl Sandbox {
    /// Starts `command` in the background (its stdin is `/dev/null`; its env, cwd and timeout
    /// apply) and returns its handle once it runs.
    pub async fn start_process(
        &self,
        command: Command,
        options: ProcessOptions,
    ) -> Result<Process, Error> {
        let subject = Subject::Process(options.id.clone().unwrap_or_default());
        let request = ClientMessage::StartProcess {
            id: options.id,
            request: command.request(),
            log_limit: options.log_limit,
        };
        match call(self, subject, request).await? {
            Reply::Process(info) => Ok(Process {
                sandbox: self.clone(),
                info,
            }),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Every process the sandbox keeps (running ones and the most recent finished ones), in
    /// start order.
    pub async fn list_processes(&self) -> Result<Vec<ProcessInfo>, Error> {
        match call(
            self,
            Subject::Sandbox,
            ClientMessage::Process(ProcessOp::List),
        )
        .await?
        {
            Reply::Processes(list) => Ok(list),
            _ => Err(unexpected(self.id())),
        }
    }

    /// The process named `id`; `PROCESS_NOT_FOUND` if there is none.
    pub async fn get_process(&self, id: &str) -> Result<Process, Error> {
        let op = ProcessOp::Get { id: id.to_string() };
        match call(
            self,
            Subject::Process(id.to_string()),
            ClientMessage::Process(op),
        )
        .await?
        {
            Reply::Process(info) => Ok(Process {
                sandbox: self.clone(),
                info,
            }),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Sends `signal` to process `id`, its process group and its descendants; with `grace`,
    /// SIGKILL follows if it still runs by then. Killing a finished process does nothing.
    pub async fn kill_process(
        &self,
        id: &str,
        signal: i32,
        grace: Option<Duration>,
    ) -> Result<ProcessInfo, Error> {
        let op = ProcessOp::Kill {
            id: id.to_string(),
            signal,
            grace_ms: grace.map(millis),
        };
        match call(
            self,
            Subject::Process(id.to_string()),
            ClientMessage::Process(op),
        )
        .await?
        {
            Reply::Process(info) => Ok(info),
            _ => Err(unexpected(self.id())),
        }
    }

    /// [`Sandbox::kill_process`] for every running process; returns those signalled.
    pub async fn kill_all_processes(
        &self,
        signal: i32,
        grace: Option<Duration>,
    ) -> Result<Vec<ProcessInfo>, Error> {
        let op = ProcessOp::KillAll {
            signal,
            grace_ms: grace.map(millis),
        };
        match call(self, Subject::Sandbox, ClientMessage::Process(op)).await? {
            Reply::Processes(list) => Ok(list),
            _ => Err(unexpected(self.id())),
        }
    }
}
