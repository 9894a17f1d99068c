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
    /// The sandbox could not be created, woken or destroyed.
    SandboxUnavailable,
    /// The agent could not be reached; retrying may succeed.
    AgentUnreachable,
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
}

impl ErrorCode {
    /// The code as a constant string, e.g. `SANDBOX_UNAVAILABLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::SandboxUnavailable => "SANDBOX_UNAVAILABLE",
            ErrorCode::AgentUnreachable => "AGENT_UNREACHABLE",
            ErrorCode::Protocol => "PROTOCOL",
            ErrorCode::CommandStartFailed => "COMMAND_START_FAILED",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::FileNotFound => "FILE_NOT_FOUND",
            ErrorCode::NotADirectory => "NOT_A_DIRECTORY",
            ErrorCode::IsADirectory => "IS_A_DIRECTORY",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::FileError => "FILE_ERROR",
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
            Error::Runtime { source, .. } if matches!(**source, RuntimeError::NotRoot) => {
                ErrorCode::PermissionDenied
            }
            Error::Runtime { .. } | Error::Task { .. } => ErrorCode::SandboxUnavailable,
            Error::Unreachable { .. } => ErrorCode::AgentUnreachable,
            Error::Source { .. } => ErrorCode::FileError,
            Error::Protocol { .. } | Error::UnexpectedReply { .. } => ErrorCode::Protocol,
            Error::Agent { code, .. } | Error::File { code, .. } => match code {
                protocol::ErrorCode::SpawnFailed => ErrorCode::CommandStartFailed,
                protocol::ErrorCode::InvalidRequest => ErrorCode::InvalidRequest,
                protocol::ErrorCode::VersionMismatch | protocol::ErrorCode::BadFrame => {
                    ErrorCode::Protocol
                }
                protocol::ErrorCode::NotFound => ErrorCode::FileNotFound,
                protocol::ErrorCode::NotADirectory => ErrorCode::NotADirectory,
                protocol::ErrorCode::IsADirectory => ErrorCode::IsADirectory,
                protocol::ErrorCode::AlreadyExists => ErrorCode::AlreadyExists,
                protocol::ErrorCode::PermissionDenied => ErrorCode::PermissionDenied,
                protocol::ErrorCode::Io => ErrorCode::FileError,
            },
        }
    }

    /// The path a failed file operation was given.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::File { path, .. } | Error::Source { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether trying again may succeed (the agent was restarting or went to sleep).
    pub fn is_retryable(&self) -> bool {
        matches!(self.code(), ErrorCode::AgentUnreachable)
    }
}
