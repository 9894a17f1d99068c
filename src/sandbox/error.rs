//! The SDK's one error type, with a stable machine-readable code per case.

use crate::protocol::{self, ProtocolError};
use crate::runtime::{InvalidId, RuntimeError};

/// Stable, machine-readable kinds of SDK failures (their `as_str` forms never change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The sandbox id is not a valid DNS label.
    InvalidId,
    /// sandpit is not running as root.
    PermissionDenied,
    /// No sandbox has that id.
    SandboxNotFound,
    /// The sandbox could not be created, woken, reached or destroyed; see
    /// [`Error::is_retryable`].
    SandboxUnavailable,
    /// The agent and the SDK disagree on the wire (version, framing).
    Protocol,
    /// The command could not be started.
    CommandStartFailed,
    /// The request was refused as invalid.
    InvalidRequest,
    /// A file or directory does not exist.
    FileNotFound,
    /// A path that must be a directory (or one of its parents) is not one.
    NotADirectory,
    /// A path that must not be a directory is one.
    IsADirectory,
    /// The path exists already.
    AlreadyExists,
    /// Any other file system failure inside the sandbox (no space, directory not empty…).
    FileError,
    /// No background process has that id.
    ProcessNotFound,
    /// No session has that id.
    SessionNotFound,
    /// A wait (for a log line, a port, an exit) gave up.
    CommandTimeout,
    /// The process a wait depended on ended first.
    ProcessExited,
}

impl ErrorCode {
    /// The code as a constant string, e.g. `SANDBOX_UNAVAILABLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::SandboxNotFound => "SANDBOX_NOT_FOUND",
            ErrorCode::SandboxUnavailable => "SANDBOX_UNAVAILABLE",
            ErrorCode::Protocol => "PROTOCOL",
            ErrorCode::CommandStartFailed => "COMMAND_START_FAILED",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::NotADirectory => "NOT_A_DIRECTORY",
            ErrorCode::IsADirectory => "IS_A_DIRECTORY",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::FileError => "FILE_ERROR",
            ErrorCode::ProcessNotFound => "PROCESS_NOT_FOUND",
            ErrorCode::SessionNotFound => "SESSION_NOT_FOUND",
            ErrorCode::CommandTimeout => "COMMAND_TIMEOUT",
            ErrorCode::ProcessExited => "PROCESS_EXITED",
        }
    }
}

/// A failure of the sandbox SDK. A command that exits non-zero is not an error; it is a result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The id was refused.
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    /// Creating, waking, listing or destroying failed.
    #[error("{}", scope(id))]
    Runtime {
        /// The sandbox (or `*` for all).
        id: String,
        /// The cause (boxed: runtime errors carry paths and are large).
        #[source]
        source: Box<RuntimeError>,
    },
    /// No sandbox has this id (from operations that do not create one).
    #[error("sandbox {id} does not exist")]
    NotFound {
        /// The sandbox.
        id: String,
    },
    /// The agent's socket could not be reached.
    #[error("failed to reach the agent of sandbox {id}")]
    Unreachable {
        /// The sandbox.
        id: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The conversation with the agent broke.
    #[error("failed to talk to the agent of sandbox {id}")]
    Protocol {
        /// The sandbox.
        id: String,
        /// The cause.
        #[source]
        source: ProtocolError,
    },
    /// The agent ended the conversation unexpectedly or sent something out of place.
    #[error("the agent of sandbox {id} {what}")]
    UnexpectedReply {
        /// The sandbox.
        id: String,
        /// What happened.
        what: &'static str,
    },
    /// The agent refused the request.
    #[error("sandbox {id}: {message}")]
    Agent {
        /// The sandbox.
        id: String,
        /// The agent's error kind.
        code: protocol::ErrorCode,
        /// The agent's explanation.
        message: String,
    },
    /// A file operation failed inside the sandbox.
    #[error("sandbox {id}: {message}")]
    File {
        /// The sandbox.
        id: String,
        /// The path the operation was given (the source, for a move).
        path: String,
        /// The agent's error kind.
        code: protocol::ErrorCode,
        /// The agent's explanation, naming the path it failed on.
        message: String,
    },
    /// An operation on a background process failed.
    #[error("sandbox {id}: {message}")]
    Process {
        /// The sandbox.
        id: String,
        /// The process id.
        process: String,
        /// The agent's error kind.
        code: protocol::ErrorCode,
        /// What happened.
        message: String,
    },
    /// An operation on a session failed.
    #[error("sandbox {id}: {message}")]
    Session {
        /// The sandbox.
        id: String,
        /// The session id.
        session: String,
        /// The agent's error kind.
        code: protocol::ErrorCode,
        /// What happened.
        message: String,
    },
    /// The local source of a streamed write failed.
    #[error("sandbox {id}: failed to read the data for {path}")]
    Source {
        /// The sandbox.
        id: String,
        /// The file being written.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A blocking runtime task could not complete.
    #[error("sandbox {id}: a background task failed")]
    Task {
        /// The sandbox.
        id: String,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// "sandbox ID", or "sandboxes" for an operation on all of them (id `*`).
fn scope(id: &str) -> String {
    if id == "*" {
        "sandboxes".to_string()
    } else {
        format!("sandbox {id}")
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidId(_) => ErrorCode::InvalidId,
            Error::NotFound { .. } => ErrorCode::SandboxNotFound,
            Error::Runtime { source, .. } if matches!(**source, RuntimeError::NotRoot) => {
                ErrorCode::PermissionDenied
            }
            Error::Runtime { .. } | Error::Task { .. } | Error::Unreachable { .. } => {
                ErrorCode::SandboxUnavailable
            }
            Error::Source { .. } => ErrorCode::FileError,
            Error::Protocol { .. } | Error::UnexpectedReply { .. } => ErrorCode::Protocol,
            Error::Agent { code, .. }
            | Error::File { code, .. }
            | Error::Process { code, .. }
            | Error::Session { code, .. } => agent_code(*code),
        }
    }

    /// The sandbox the failed operation was on (`*` for operations on all of them).
    pub fn sandbox_id(&self) -> Option<&str> {
        match self {
            Error::InvalidId(_) => None,
            Error::NotFound { id }
            | Error::Runtime { id, .. }
            | Error::Unreachable { id, .. }
            | Error::Protocol { id, .. }
            | Error::UnexpectedReply { id, .. }
            | Error::Agent { id, .. }
            | Error::File { id, .. }
            | Error::Process { id, .. }
            | Error::Session { id, .. }
            | Error::Source { id, .. }
            | Error::Task { id, .. } => Some(id),
        }
    }

    /// The background process a failed operation was about.
    pub fn process_id(&self) -> Option<&str> {
        match self {
            Error::Process { process, .. } => Some(process),
            _ => None,
        }
    }

    /// The session a failed operation was about.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Error::Session { session, .. } => Some(session),
            _ => None,
        }
    }

    /// The path a failed file operation was given.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::File { path, .. } | Error::Source { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether trying again may succeed: the agent could not be reached (it was going to sleep
    /// or restarting).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }
}

/// The SDK code of an agent's error kind.
fn agent_code(code: protocol::ErrorCode) -> ErrorCode {
    use protocol::ErrorCode as Agent;
    match code {
        Agent::SpawnFailed => ErrorCode::CommandStartFailed,
        Agent::InvalidRequest => ErrorCode::InvalidRequest,
        Agent::VersionMismatch | Agent::BadFrame => ErrorCode::Protocol,
        Agent::NotFound => ErrorCode::FileNotFound,
        Agent::NotADirectory => ErrorCode::NotADirectory,
        Agent::IsADirectory => ErrorCode::IsADirectory,
        Agent::AlreadyExists => ErrorCode::AlreadyExists,
        Agent::PermissionDenied => ErrorCode::PermissionDenied,
        Agent::Io => ErrorCode::FileError,
        Agent::ProcessNotFound => ErrorCode::ProcessNotFound,
        Agent::SessionNotFound => ErrorCode::SessionNotFound,
        Agent::Timeout => ErrorCode::CommandTimeout,
        Agent::ProcessExited => ErrorCode::ProcessExited,
    }
}
