//! Commands: the builder, the event stream and the buffered result.

use std::os::fd::AsFd;
use std::time::Duration;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::{Error, Sandbox};
use crate::protocol::{
    self, AgentMessage, ClientMessage, CommandLine, ExecRequest, ExitReport, OutputStream,
    MAX_CHUNK_LEN,
};

/// Default cap on each of stdout and stderr in a buffered [`ExecOutput`].
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;

/// A command to run in a sandbox: a shell string or an argv, with its environment, working
/// directory, stdin and timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    line: CommandLine,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    stdin: bool,
    timeout: Option<Duration>,
    pub(super) output_limit: usize,
}

impl Command {
    /// A program and its arguments, run without a shell (looked up in `PATH`).
    pub fn new(program: impl Into<String>) -> Self {
        Self::from_line(CommandLine::Argv(vec![program.into()]))
    }

    /// A shell string, run with `bash -c` (or `sh -c` where bash is missing).
    pub fn shell(script: impl Into<String>) -> Self {
        Self::from_line(CommandLine::Shell(script.into()))
    }

    /// An argv given as a whole.
    pub fn argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_line(CommandLine::Argv(
            argv.into_iter().map(Into::into).collect(),
        ))
    }

    fn from_line(line: CommandLine) -> Self {
        Self {
            line,
            env: Vec::new(),
            cwd: None,
            stdin: false,
            timeout: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
        }
    }

    /// Appends an argument (for argv commands; for shell strings it becomes `$0`, `$1`…).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        match &mut self.line {
            CommandLine::Argv(argv) => argv.push(arg.into()),
            CommandLine::Shell(script) => {
                let script = std::mem::take(script);
                self.line =
                    CommandLine::Argv(vec!["/bin/sh".into(), "-c".into(), script, arg.into()]);
            }
        }
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        args.into_iter().fold(self, |cmd, a| cmd.arg(a))
    }

    /// Sets an environment variable for this command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the working directory (default `/workspace`).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Kills the command's process group after `timeout`; the result says `timed_out`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Gives the command a stdin pipe to write to through [`ExecStream::input`]; otherwise
    /// its stdin is `/dev/null`.
    pub fn stdin_piped(mut self) -> Self {
        self.stdin = true;
        self
    }

    /// Caps each stream of a buffered result at `bytes` (default [`DEFAULT_OUTPUT_LIMIT`]).
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    fn request(&self) -> ExecRequest {
        ExecRequest {
            command: self.line.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            stdin: self.stdin,
            timeout_ms: self
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// One event of a running command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// The command started.
    Started {
        /// Its pid inside the sandbox.
        pid: u32,
    },
    /// A chunk of output, in order; `seq` counts chunks of both streams.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// Position among all chunks.
        seq: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The command ended; always the last event.
    Exit(ExitReport),
}

/// The buffered result of [`Sandbox::exec`]. A non-zero exit is a result, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output, up to the limit.
    pub stdout: Vec<u8>,
    /// Standard error, up to the limit.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut at the limit.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the limit.
    pub stderr_truncated: bool,
    /// How it ended.
    pub exit: ExitReport,
}

impl ExecOutput {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.exit.exit_code == Some(0)
    }

    /// The exit code, if it exited normally.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit.exit_code
    }

    /// Duration of the command.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.exit.duration_us)
    }
}

/// A running command's events. Dropping it (or its [`ExecInput`] together with it) closes the
/// connection, and the agent kills the command's process group.
pub struct ExecStream {
    id: String,
    reader: OwnedReadHalf,
    input: Option<ExecInput>,
    buf: Vec<u8>,
    done: bool,
}

/// The sending side of a running command: stdin and signals.
pub struct ExecInput {
    id: String,
    writer: OwnedWriteHalf,
    buf: Vec<u8>,
}

pub(super) async fn start(sandbox: &Sandbox, command: Command) -> Result<ExecStream, Error> {
    let request = ClientMessage::Exec(command.request());
    let stream = sandbox.inner.open(&request).await?;
    let (reader, writer) = stream.into_split();
    let id = sandbox.id().to_string();
    Ok(ExecStream {
        input: Some(ExecInput {
            id: id.clone(),
            writer,
            buf: Vec::new(),
        }),
        id,
        reader,
        buf: Vec::new(),
        done: false,
    })
}

impl ExecStream {
    /// The next event, or `None` after the exit event.
    pub async fn next(&mut self) -> Option<Result<ExecEvent, Error>> {
        if self.done {
            return None;
        }
        let event = self.next_inner().await;
        if matches!(event, Ok(ExecEvent::Exit(_)) | Err(_)) {
            self.done = true;
        }
        Some(event)
    }

    async fn next_inner(&mut self) -> Result<ExecEvent, Error> {
        let id = || self.id.clone();
        match protocol::read_frame(&mut self.reader, &mut self.buf).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::UnexpectedReply {
                    id: id(),
                    what: "closed the connection before the command exited",
                })
            }
            Err(source) => return Err(Error::Protocol { id: id(), source }),
        }
        match protocol::decode::<AgentMessage>(&self.buf) {
            Ok(AgentMessage::Started { pid }) => Ok(ExecEvent::Started { pid }),
            Ok(AgentMessage::Output { stream, seq, data }) => Ok(ExecEvent::Output {
                stream,
                seq,
                data: data.to_vec(),
            }),
            Ok(AgentMessage::Exited(report)) => Ok(ExecEvent::Exit(report)),
            Ok(AgentMessage::Error { code, message }) => Err(Error::Agent {
                id: id(),
                code,
                message,
            }),
            Ok(AgentMessage::Hello { .. } | AgentMessage::Pong) => Err(Error::UnexpectedReply {
                id: id(),
                what: "sent a reply out of place",
            }),
            Err(source) => Err(Error::Protocol { id: id(), source }),
        }
    }

    /// The stdin/signal side, to drive from another task while this one reads events.
    /// Available once; dropping it does not cancel the command (dropping the stream does).
    pub fn input(&mut self) -> Option<ExecInput> {
        self.input.take()
    }

    /// Reads to the end, collecting each stream up to `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<ExecOutput, Error> {
        let mut out = ExecOutput {
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            exit: ExitReport {
                exit_code: None,
                signal: None,
                timed_out: false,
                oom_killed: false,
                duration_us: 0,
            },
        };
        while let Some(event) = self.next().await {
            match event? {
                ExecEvent::Started { .. } => {}
                ExecEvent::Output { stream, data, .. } => {
                    let (buf, truncated) = match stream {
                        OutputStream::Stdout => (&mut out.stdout, &mut out.stdout_truncated),
                        OutputStream::Stderr => (&mut out.stderr, &mut out.stderr_truncated),
                    };
                    let room = limit.saturating_sub(buf.len());
                    if data.len() > room {
                        *truncated = true;
                    }
                    buf.extend_from_slice(&data[..data.len().min(room)]);
                }
                ExecEvent::Exit(report) => {
                    out.exit = report;
                    return Ok(out);
                }
            }
        }
        Err(Error::UnexpectedReply {
            id: self.id.clone(),
            what: "ended the stream without an exit status",
        })
    }
}

impl Drop for ExecStream {
    fn drop(&mut self) {
        if !self.done {
            // The input half may live on elsewhere; shut the socket down so the agent sees the
            // end of the conversation and kills the command.
            crate::runtime::sys::shutdown_socket(self.reader.as_ref().as_fd());
        }
    }
}

impl ExecInput {
    async fn send(&mut self, msg: &ClientMessage<'_>) -> Result<(), Error> {
        protocol::write_frame(&mut self.writer, msg, &mut self.buf)
            .await
            .map_err(|source| Error::Protocol {
                id: self.id.clone(),
                source,
            })
    }

    /// Writes bytes to the command's stdin (requires [`Command::stdin_piped`]).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(MAX_CHUNK_LEN) {
            self.send(&ClientMessage::Stdin(chunk)).await?;
        }
        Ok(())
    }

    /// Closes the command's stdin (it reads end of file).
    pub async fn close_stdin(&mut self) -> Result<(), Error> {
        self.send(&ClientMessage::CloseStdin).await
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the command's whole process group.
    pub async fn signal(&mut self, signal: i32) -> Result<(), Error> {
        self.send(&ClientMessage::Signal { signal }).await
    }
}
