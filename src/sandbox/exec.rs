//! Commands: the builder, the event stream and the buffered result.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

use super::{Error, Sandbox};
use crate::protocol::{
    self, AgentMessage, ClientMessage, CommandLine, ExecRequest, ExitReport, FrameReader,
    OutputStream, MAX_CHUNK_LEN, STDIN_WINDOW,
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
    /// Set by [`super::Session`].
    pub(super) session: Option<String>,
}

impl Command {
    /// A program and its arguments, run without a shell (looked up in `PATH`).
    pub fn new(program: impl Into<String>) -> Self {
        Self::from_line(CommandLine::Argv(vec![program.into()]))
    }

    /// A shell string, run with `bash -c` (or `sh -c` where bash is missing).
    pub fn shell(script: impl Into<String>) -> Self {
        Self::from_line(CommandLine::Shell {
            script: script.into(),
            args: Vec::new(),
        })
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
            session: None,
        }
    }

    /// Appends an argument (for argv commands; for shell strings it becomes `$0`, `$1`…).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        match &mut self.line {
            CommandLine::Argv(argv) => argv.push(arg.into()),
            CommandLine::Shell { args, .. } => args.push(arg.into()),
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

    pub(super) fn request(&self) -> ExecRequest {
        ExecRequest {
            command: self.line.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            stdin: self.stdin,
            timeout_ms: self.timeout.map(super::conversation::millis),
            session: self.session.clone(),
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

/// A running command's events. Dropping it closes the conversation and the agent kills the
/// command's process group (also when its [`ExecInput`] lives on elsewhere).
///
/// Events are read by a background task, which also applies stdin flow control; read events and
/// write stdin concurrently when both are large, as with any pipe.
pub struct ExecStream {
    id: String,
    events: mpsc::Receiver<Result<ExecEvent, Error>>,
    input: Option<ExecInput>,
    /// A second handle on the socket, to shut it down on drop whoever holds the halves.
    socket: OwnedFd,
    reader_task: tokio::task::JoinHandle<()>,
    done: bool,
}

/// Cancels a running command; see [`ExecStream::abort_handle`].
#[derive(Debug)]
pub struct AbortHandle {
    socket: OwnedFd,
}

impl AbortHandle {
    /// Ends the conversation, so the agent kills the command's process group. Aborting a
    /// command that has already exited does nothing.
    pub fn abort(&self) {
        crate::runtime::sys::shutdown_socket(self.socket.as_fd());
    }
}

/// The sending side of a running command: stdin and signals. Dropping it does not cancel the
/// command; use [`ExecInput::close_stdin`] to send end-of-file.
pub struct ExecInput {
    id: String,
    writer: Option<OwnedWriteHalf>,
    /// Stdin bytes the agent can still take (see [`STDIN_WINDOW`]).
    window: Arc<Semaphore>,
    buf: Vec<u8>,
}

/// How many events the reader may run ahead of the consumer: enough to keep the pipe full,
/// few enough that a slow consumer slows the command down instead of filling memory.
const EVENT_QUEUE: usize = 16;

pub(super) async fn start(sandbox: &Sandbox, command: Command) -> Result<ExecStream, Error> {
    let request = ClientMessage::Exec(command.request());
    let (stream, frames) = sandbox.inner.open(&request).await?;
    let id = sandbox.id().to_string();
    let socket = stream
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| Error::Unreachable {
            id: id.clone(),
            source,
        })?;
    let (reader, writer) = stream.into_split();
    let window = Arc::new(Semaphore::new(STDIN_WINDOW));
    let (tx, events) = mpsc::channel(EVENT_QUEUE);
    let span = tracing::debug_span!("exec", sandbox = %id);
    let reader_task = tokio::spawn(
        read_events(id.clone(), reader, frames, tx, Arc::clone(&window)).instrument(span),
    );
    Ok(ExecStream {
        input: Some(ExecInput {
            id: id.clone(),
            writer: Some(writer),
            window,
            buf: Vec::new(),
        }),
        id,
        events,
        socket,
        reader_task,
        done: false,
    })
}

/// Turns the agent's frames into events until the exit (or a failure), returning stdin credit
/// to the input side as the agent reports it consumed.
async fn read_events(
    id: String,
    mut reader: OwnedReadHalf,
    mut frames: FrameReader,
    events: mpsc::Sender<Result<ExecEvent, Error>>,
    window: Arc<Semaphore>,
) {
    loop {
        let event = match frames.next(&mut reader).await {
            Ok(Some(payload)) => match protocol::decode::<AgentMessage>(payload) {
                Ok(AgentMessage::StdinConsumed { bytes }) => {
                    window.add_permits(usize::try_from(bytes).unwrap_or(0));
                    continue;
                }
                Ok(AgentMessage::Started { pid }) => Ok(ExecEvent::Started { pid }),
                Ok(AgentMessage::Output { stream, seq, data }) => Ok(ExecEvent::Output {
                    stream,
                    seq,
                    data: data.to_vec(),
                }),
                Ok(AgentMessage::Exited(report)) => Ok(ExecEvent::Exit(report)),
                Ok(AgentMessage::Error { code, message }) => Err(Error::Agent {
                    id: id.clone(),
                    code,
                    message,
                }),
                Ok(_) => Err(Error::UnexpectedReply {
                    id: id.clone(),
                    what: "sent a reply out of place",
                }),
                Err(source) => Err(Error::Protocol {
                    id: id.clone(),
                    source,
                }),
            },
            Ok(None) => Err(Error::UnexpectedReply {
                id: id.clone(),
                what: "closed the connection before the command exited",
            }),
            Err(source) => Err(Error::Protocol {
                id: id.clone(),
                source,
            }),
        };
        let last = matches!(event, Ok(ExecEvent::Exit(_)) | Err(_));
        if events.send(event).await.is_err() || last {
            break;
        }
    }
    // No more credit will come: writers waiting for it get an error instead of hanging.
    window.close();
}

impl ExecStream {
    /// The next event, or `None` after the exit event.
    pub async fn next(&mut self) -> Option<Result<ExecEvent, Error>> {
        if self.done {
            return None;
        }
        let event = self.events.recv().await.unwrap_or_else(|| {
            Err(Error::UnexpectedReply {
                id: self.id.clone(),
                what: "ended the stream without an exit status",
            })
        });
        if matches!(event, Ok(ExecEvent::Exit(_)) | Err(_)) {
            self.done = true;
        }
        Some(event)
    }

    /// A handle that cancels the command from anywhere (another task, a Ctrl-C handler), as
    /// dropping the stream does: the agent kills the command's process group, and this stream
    /// then ends with an error instead of an exit event.
    pub fn abort_handle(&self) -> Result<AbortHandle, Error> {
        let socket = self
            .socket
            .try_clone()
            .map_err(|source| Error::Unreachable {
                id: self.id.clone(),
                source,
            })?;
        Ok(AbortHandle { socket })
    }

    /// The stdin/signal side, to drive from another task while this one reads events.
    /// Available once.
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
        self.reader_task.abort();
        if !self.done {
            // The input half may live on elsewhere; shut the socket down so the agent sees the
            // end of the conversation and kills the command.
            crate::runtime::sys::shutdown_socket(self.socket.as_fd());
        }
    }
}

impl ExecInput {
    async fn send(&mut self, msg: &ClientMessage<'_>) -> Result<(), Error> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.closed());
        };
        protocol::write_frame(writer, msg, &mut self.buf)
            .await
            .map_err(|source| Error::Protocol {
                id: self.id.clone(),
                source,
            })
    }

    fn closed(&self) -> Error {
        Error::UnexpectedReply {
            id: self.id.clone(),
            what: "no longer takes input: the command has ended",
        }
    }

    /// Writes bytes to the command's stdin (requires [`Command::stdin_piped`]). Waits while the
    /// command has not read what was sent before (flow control), so memory stays bounded.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        for chunk in data.chunks(MAX_CHUNK_LEN) {
            let credit = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            match self.window.acquire_many(credit).await {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(self.closed()),
            }
            self.send(&ClientMessage::Stdin(chunk)).await?;
        }
        Ok(())
    }

    /// Closes the command's stdin (it reads end of file once it has read what was sent).
    pub async fn close_stdin(&mut self) -> Result<(), Error> {
        self.send(&ClientMessage::CloseStdin).await
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the command's whole process group.
    pub async fn signal(&mut self, signal: i32) -> Result<(), Error> {
        self.send(&ClientMessage::Signal { signal }).await
    }
}

impl Drop for ExecInput {
    fn drop(&mut self) {
        // Dropping a tokio write half shuts the socket's write side, which the agent would
        // read as the client going away; only the stream's drop may mean that.
        if let Some(writer) = self.writer.take() {
            writer.forget();
        }
    }
}
