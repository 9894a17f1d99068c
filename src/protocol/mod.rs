//! The wire protocol between the SDK (client) and the agent (PID 1 inside a sandbox).
//!
//! One connection carries one conversation: the client sends [`ClientMessage::Hello`] and then a
//! request; the agent answers [`AgentMessage::Hello`] and then the request's replies. An exec
//! streams [`AgentMessage::Output`] chunks and ends with exactly one [`AgentMessage::Exited`];
//! closing the connection before that cancels the command.
//!
//! Frames are a 4-byte big-endian length followed by a postcard-encoded message. A frame longer
//! than [`MAX_FRAME_LEN`] is refused before any of it is buffered, so a hostile peer cannot make
//! the other side allocate more than that.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Protocol version; bumped on any incompatible change to the messages below.
pub const VERSION: u32 = 2;

/// Largest frame either side accepts (payload bytes, excluding the length prefix).
pub const MAX_FRAME_LEN: usize = 4 << 20;

/// Largest output or stdin chunk a sender puts in one frame.
pub const MAX_CHUNK_LEN: usize = 256 << 10;

/// Stdin flow control: a client may have at most this many stdin bytes sent and not yet
/// acknowledged by [`AgentMessage::StdinConsumed`]. It bounds what the agent buffers for a
/// command that does not read its stdin, so the agent never has to stop reading the connection
/// (and so still sees signals and the client going away).
pub const STDIN_WINDOW: usize = 1 << 20;

/// What a client asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage<'a> {
    /// First message on every connection.
    Hello {
        /// The client's [`VERSION`].
        version: u32,
    },
    /// Run a command; the agent replies `Started`, `Output`…, `Exited` (or `Error`).
    Exec(ExecRequest),
    /// Bytes for the running command's stdin (only if the request asked for stdin).
    Stdin(#[serde(borrow, with = "serde_bytes")] &'a [u8]),
    /// Close the running command's stdin.
    CloseStdin,
    /// Send a signal to the running command's whole process group.
    Signal {
        /// Signal number, e.g. 15 for SIGTERM.
        signal: i32,
    },
    /// Liveness check; the agent replies `Pong`.
    Ping,
    /// Write a file: the client follows with `FileData`… and `FileEnd`; the agent writes each
    /// chunk as it arrives (the socket is the flow control: the agent reads the next chunk only
    /// once the previous one is on disk) and replies `Done` (or `Error`).
    WriteFile {
        /// Absolute, or relative to `/workspace`.
        path: String,
        /// Permission bits to set (e.g. `0o755`); new files get `0o644` otherwise.
        mode: Option<u32>,
    },
    /// A chunk of the file being written (at most [`MAX_CHUNK_LEN`] bytes).
    FileData(#[serde(borrow, with = "serde_bytes")] &'a [u8]),
    /// The file being written is complete.
    FileEnd,
    /// Read a file; the agent replies `FileData`… then `Done` (or `Error`).
    ReadFile {
        /// Absolute, or relative to `/workspace`.
        path: String,
    },
    /// A metadata operation; the agent replies as [`FileOp`] says.
    File(FileOp),
    /// Start a background process; replies `Process` once it runs (or `Error`).
    StartProcess {
        /// Its id (unique among the sandbox's processes); the agent picks one when absent.
        id: Option<String>,
        /// What to run (`stdin` must be false: background processes read `/dev/null`).
        request: ExecRequest,
        /// Most bytes of output kept (oldest dropped first).
        log_limit: u64,
    },
    /// A process-table operation; the agent replies as [`ProcessOp`] says.
    Process(ProcessOp),
    /// A session operation; the agent replies as [`SessionOp`] says.
    Session(SessionOp),
    /// Change the environment of later commands of the sandbox and of every session (`None`
    /// unsets); replies `Done`.
    SetEnv(Vec<(String, Option<String>)>),
}

/// Operations on background processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessOp {
    /// Replies `Processes` with every process the agent keeps, oldest first.
    List,
    /// Replies `Process`.
    Get {
        /// The process id.
        id: String,
    },
    /// Sends `signal` to the process, its process group and its descendants; with a grace
    /// period, SIGKILL follows if it is still running by then. Replies `Process`.
    Kill {
        /// The process id.
        id: String,
        /// Signal number.
        signal: i32,
        /// Milliseconds to wait before SIGKILL.
        grace_ms: Option<u64>,
    },
    /// `Kill` for every running process; replies `Processes` with those signalled.
    KillAll {
        /// Signal number.
        signal: i32,
        /// Milliseconds to wait before SIGKILL.
        grace_ms: Option<u64>,
    },
    /// The process's log from byte `from` (clamped to what is kept): `LogDropped` when bytes
    /// before the first kept one were asked for, `Log`… chunks, then `LogEnd`; with `follow`,
    /// new output is sent as it comes and `LogEnd` only once the process has ended.
    Logs {
        /// The process id.
        id: String,
        /// Cursor (byte offset into everything the process printed) to start at.
        from: u64,
        /// Keep streaming until the process ends.
        follow: bool,
    },
    /// Waits until something accepts connections on `port` of the sandbox's loopback (and, for
    /// `Http`, answers with a status in range); replies `Done`, or `Error` with `Timeout` or
    /// `ProcessExited`.
    WaitForPort {
        /// The process expected to listen (the wait fails if it ends).
        id: String,
        /// TCP port on 127.0.0.1 / ::1.
        port: u16,
        /// How to check.
        check: PortCheck,
        /// Give up after this many milliseconds.
        timeout_ms: u64,
    },
}

/// How [`ProcessOp::WaitForPort`] decides a port is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortCheck {
    /// A TCP connection is accepted.
    Tcp,
    /// An HTTP `GET path` is answered with a status in `min..=max`.
    Http {
        /// Request path, e.g. `/health`.
        path: String,
        /// Lowest accepted status.
        min: u16,
        /// Highest accepted status.
        max: u16,
    },
}

impl PortCheck {
    /// An HTTP `GET path` answered with a status from 200 to 399.
    pub fn http(path: impl Into<String>) -> Self {
        PortCheck::Http {
            path: path.into(),
            min: 200,
            max: 399,
        }
    }
}

/// Operations on sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionOp {
    /// Replies `Session`; `AlreadyExists` if the id is taken.
    Create {
        /// Its id; the agent picks one when absent.
        id: Option<String>,
        /// Variables added to the sandbox's environment for this session.
        env: Vec<(String, String)>,
        /// Initial working directory (default `/workspace`).
        cwd: Option<String>,
    },
    /// Replies `Session`.
    Get {
        /// The session id.
        id: String,
    },
    /// Replies `Sessions`.
    List,
    /// Kills the session's running command and forgets the session; replies `Done`.
    Delete {
        /// The session id.
        id: String,
    },
}

/// The state of a background process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessStatus {
    /// Registered and being spawned. The agent spawns synchronously, so a listing only sees this
    /// if it races the spawn.
    Starting,
    /// Running.
    Running,
    /// Exited with code 0.
    Completed,
    /// Exited with a non-zero code.
    Failed,
    /// Ended by a signal (a kill, the timeout, the OOM killer).
    Killed,
    /// Could not be started; see the process's `error`.
    Error,
}

impl ProcessStatus {
    /// Whether the process has ended (or never started).
    pub fn is_finished(self) -> bool {
        !matches!(self, ProcessStatus::Starting | ProcessStatus::Running)
    }

    /// The lowercase name, e.g. `running`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Starting => "starting",
            ProcessStatus::Running => "running",
            ProcessStatus::Completed => "completed",
            ProcessStatus::Failed => "failed",
            ProcessStatus::Killed => "killed",
            ProcessStatus::Error => "error",
        }
    }
}

/// What the agent knows about one background process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its id.
    pub id: String,
    /// Its pid inside the sandbox (also its process group id); 0 if it never started.
    pub pid: u32,
    /// The command, for display.
    pub command: String,
    /// Its state.
    pub status: ProcessStatus,
    /// When it started: milliseconds since the epoch.
    pub started_at_ms: i64,
    /// How it ended, once it has.
    pub exit: Option<ExitReport>,
    /// Bytes it has printed in all (the next chunk's cursor).
    pub output_bytes: u64,
    /// Bytes of that still kept.
    pub kept_bytes: u64,
    /// Why it could not be started (status `Error`).
    pub error: Option<String>,
}

/// What the agent knows about one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its id.
    pub id: String,
    /// The working directory its next command starts in.
    pub cwd: String,
    /// Whether a command runs in it now.
    pub busy: bool,
    /// Commands waiting for their turn.
    pub queued: u32,
}

/// File operations that carry no file contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileOp {
    /// Create a directory (with its parents if `recursive`); replies `Done`.
    Mkdir {
        /// The directory.
        path: String,
        /// Create missing parents, and succeed if it exists already.
        recursive: bool,
    },
    /// Delete a file, symlink or (with `recursive`) a directory tree; replies `Done`.
    Delete {
        /// What to delete.
        path: String,
        /// Delete directories with everything in them.
        recursive: bool,
    },
    /// Rename `from` to `to`, copying and deleting when they are on different file systems;
    /// replies `Done`.
    Move {
        /// Source.
        from: String,
        /// Destination (replaced if it is a file).
        to: String,
    },
    /// Whether an entry exists (a dangling symlink does); replies `Exists`.
    Exists {
        /// The path.
        path: String,
    },
    /// List a directory; replies `Entries`… (batches) then `Done`.
    List {
        /// The directory.
        path: String,
        /// Descend into subdirectories (never through symlinks).
        recursive: bool,
        /// Include names starting with `.`.
        include_hidden: bool,
    },
}

/// The kind of a directory entry (named in lowercase in JSON; postcard uses the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// A device, fifo or socket.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path inside the sandbox.
    pub path: String,
    /// What it is.
    pub kind: FileKind,
    /// Size in bytes (of the link itself for symlinks).
    pub size: u64,
    /// Permission and special bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time: seconds since the epoch.
    pub modified_secs: i64,
    /// Modification time: nanoseconds within the second.
    pub modified_nanos: u32,
}

/// The command of an exec request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandLine {
    /// Program and arguments, run without a shell. The program is looked up in `PATH`.
    Argv(Vec<String>),
    /// A shell string, run with `bash -c` (or `sh -c` where bash is missing); `args` become
    /// `$0`, `$1`….
    Shell {
        /// The script.
        script: String,
        /// Its positional parameters, starting with `$0`.
        args: Vec<String>,
    },
}

/// Everything the agent needs to start one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// What to run.
    pub command: CommandLine,
    /// Variables added to (and overriding) the sandbox's base environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox; `/workspace` when absent.
    pub cwd: Option<String>,
    /// Whether the client will send stdin; otherwise the command's stdin is `/dev/null`.
    pub stdin: bool,
    /// Kill the command's process group after this many milliseconds.
    pub timeout_ms: Option<u64>,
    /// Run in this session: its working directory and environment, one command at a time; a
    /// shell command's `cd` and `export` carry over to the session's next command.
    pub session: Option<String>,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputStream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

/// What the agent sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMessage<'a> {
    /// Reply to `Hello`.
    Hello {
        /// The agent's [`VERSION`].
        version: u32,
    },
    /// The command was started.
    Started {
        /// Its pid inside the sandbox (also its process group id).
        pid: u32,
    },
    /// A chunk of output. Sequence numbers start at 0 and count chunks of both streams together,
    /// so interleaving is preserved.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// Position of this chunk among all chunks of the command.
        seq: u64,
        /// The bytes.
        #[serde(borrow, with = "serde_bytes")]
        data: &'a [u8],
    },
    /// The command ended; always the last message of an exec.
    Exited(ExitReport),
    /// The request failed; the connection is closed after this.
    Error {
        /// Machine-readable kind.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// Reply to `Ping`.
    Pong,
    /// This many stdin bytes left the agent's buffer (written to the command, or discarded
    /// because the command closed its stdin); the client may send as many more.
    StdinConsumed {
        /// Byte count.
        bytes: u64,
    },
    /// A chunk of a file being read (at most [`MAX_CHUNK_LEN`] bytes).
    FileData(#[serde(borrow, with = "serde_bytes")] &'a [u8]),
    /// A batch of directory entries of a `List`.
    Entries(Vec<FileEntry>),
    /// Reply to `Exists`.
    Exists(bool),
    /// A file request completed; always its last message.
    Done,
    /// Reply naming one background process.
    Process(ProcessInfo),
    /// Reply listing background processes.
    Processes(Vec<ProcessInfo>),
    /// A chunk of a process's log.
    Log {
        /// Cursor of the chunk's first byte.
        cursor: u64,
        /// Which stream.
        stream: OutputStream,
        /// The bytes.
        #[serde(borrow, with = "serde_bytes")]
        data: &'a [u8],
    },
    /// The bytes from `from` to `to` were dropped to keep the log within its bound.
    LogDropped {
        /// First cursor dropped.
        from: u64,
        /// First cursor kept.
        to: u64,
    },
    /// The end of a log reply.
    LogEnd {
        /// Where to resume.
        next: u64,
        /// The process as it is now (ended, when following).
        process: ProcessInfo,
    },
    /// Reply naming one session.
    Session(SessionInfo),
    /// Reply listing sessions.
    Sessions(Vec<SessionInfo>),
}

/// Whether `key=value` can be an environment variable: a non-empty name without `=` or NUL,
/// a value without NUL. Both sides check it: the SDK before recording, the agent before use.
pub fn is_valid_env_var(key: &str, value: &str) -> bool {
    !key.is_empty() && !key.contains(['=', '\0']) && !value.contains('\0')
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitReport {
    /// Exit code when the command exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the command was killed by a signal.
    pub signal: Option<i32>,
    /// The agent killed it because its timeout passed.
    pub timed_out: bool,
    /// It was killed by the kernel's OOM killer (the sandbox hit its memory limit).
    pub oom_killed: bool,
    /// Wall time from start to exit, in microseconds.
    pub duration_us: u64,
}

impl ExitReport {
    /// The exit status a shell would report: the exit code, 128 + signal when killed, 124 on
    /// timeout (as coreutils `timeout` does).
    pub fn shell_status(&self) -> i32 {
        if self.timed_out {
            124
        } else if let Some(code) = self.exit_code {
            code
        } else {
            128 + self.signal.unwrap_or(0)
        }
    }
}

/// Kinds of agent-side failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The peers speak different protocol versions.
    VersionMismatch,
    /// A frame could not be decoded, was too large, or came out of order.
    BadFrame,
    /// The command could not be started (not found, not executable, bad cwd…).
    SpawnFailed,
    /// The request was invalid (empty argv, NUL bytes…).
    InvalidRequest,
    /// A file or directory does not exist.
    NotFound,
    /// A path component, or a path that must be a directory, is not a directory.
    NotADirectory,
    /// A path that must not be a directory is one.
    IsADirectory,
    /// The path exists already.
    AlreadyExists,
    /// The file system refused access.
    PermissionDenied,
    /// Any other file system failure (no space, not empty, read-only…).
    Io,
    /// No process has that id.
    ProcessNotFound,
    /// No session has that id.
    SessionNotFound,
    /// A wait gave up.
    Timeout,
    /// The process a wait depended on has ended.
    ProcessExited,
}

/// A framing or decoding failure.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The underlying socket failed.
    #[error("failed to {op} a protocol frame")]
    Io {
        /// "read" or "write".
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The peer announced a frame larger than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
    },
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// The payload is not a valid message.
    #[error("failed to decode a protocol message")]
    Decode(#[source] postcard::Error),
    /// A message could not be encoded (should not happen for well-formed values).
    #[error("failed to encode a protocol message")]
    Encode(#[source] postcard::Error),
}

/// Reads exactly one frame's payload into `buf` (replacing its contents), never reading past
/// it. Not cancel-safe; loops that `select!` on reads use a [`FrameReader`].
///
/// Returns `Ok(false)` on a clean end of stream at a frame boundary.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<bool, ProtocolError> {
    let mut len_bytes = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        let n = reader
            .read(&mut len_bytes[filled..])
            .await
            .map_err(|source| ProtocolError::Io { op: "read", source })?;
        if n == 0 {
            return if filled == 0 {
                Ok(false)
            } else {
                Err(ProtocolError::Truncated)
            };
        }
        filled += n;
    }
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameTooLarge { len });
    }
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            ProtocolError::Truncated
        } else {
            ProtocolError::Io { op: "read", source }
        }
    })?;
    Ok(true)
}

/// A buffered, cancel-safe frame reader: every await point is a single `read` whose bytes are
/// kept in the reader, so dropping a pending [`FrameReader::next`] (in `select!`) loses nothing.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of unconsumed bytes.
    start: usize,
    /// End of valid bytes.
    end: usize,
    /// Length of the frame handed out by the previous `next`, consumed on the next call.
    handed_out: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next frame's payload, `Ok(None)` on a clean end of stream at a frame boundary.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<&[u8]>, ProtocolError> {
        self.start += std::mem::take(&mut self.handed_out);
        loop {
            let available = self.end - self.start;
            if available >= 4 {
                let mut len_bytes = [0u8; 4];
                len_bytes.copy_from_slice(&self.buf[self.start..self.start + 4]);
                let len = u32::from_be_bytes(len_bytes) as usize;
                if len > MAX_FRAME_LEN {
                    return Err(ProtocolError::FrameTooLarge { len });
                }
                if available >= 4 + len {
                    self.handed_out = 4 + len;
                    let payload = self.start + 4..self.start + 4 + len;
                    return Ok(Some(&self.buf[payload]));
                }
                self.make_room(4 + len);
            } else {
                self.make_room(4);
            }
            let n = reader
                .read(&mut self.buf[self.end..])
                .await
                .map_err(|source| ProtocolError::Io { op: "read", source })?;
            if n == 0 {
                return if self.end == self.start {
                    Ok(None)
                } else {
                    Err(ProtocolError::Truncated)
                };
            }
            self.end += n;
        }
    }

    /// Ensures the buffer can hold a frame of `frame_len` bytes from `start`, with spare room
    /// for reading ahead.
    fn make_room(&mut self, frame_len: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let wanted = frame_len.max(64 << 10);
        if self.buf.len() - self.start < wanted {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() < wanted {
                self.buf.resize(wanted, 0);
            }
        }
    }
}

/// Decodes a message from a frame payload read by [`read_frame`] or a [`FrameReader`].
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, ProtocolError> {
    postcard::from_bytes(payload).map_err(ProtocolError::Decode)
}

/// Encodes `msg` as one frame (length prefix included) into `buf`, replacing its contents.
pub fn encode<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), ProtocolError> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    let taken = std::mem::take(buf);
    *buf = postcard::to_extend(msg, taken).map_err(ProtocolError::Encode)?;
    let len = buf.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameTooLarge { len });
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Encodes `msg` into `buf` and writes it as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    writer: &mut W,
    msg: &T,
    buf: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    encode(msg, buf)?;
    writer
        .write_all(buf)
        .await
        .map_err(|source| ProtocolError::Io {
            op: "write",
            source,
        })
}

#[cfg(test)]
mod tests;
