//! One request to the agent and its replies, for the process, session and environment calls,
//! with agent errors typed by what they were about.

use tokio::net::UnixStream;

use super::{Error, Sandbox};
use crate::protocol::{
    self, AgentMessage, ClientMessage, FrameReader, OutputStream, ProcessInfo, SessionInfo,
};

/// What a request is about, so an agent error names it.
#[derive(Debug, Clone)]
pub(super) enum Subject {
    Sandbox,
    Process(String),
    Session(String),
}

/// An agent reply, owned.
#[derive(Debug)]
pub(super) enum Reply {
    Done,
    Process(ProcessInfo),
    Processes(Vec<ProcessInfo>),
    Log {
        cursor: u64,
        stream: OutputStream,
        data: Vec<u8>,
    },
    LogDropped {
        from: u64,
        to: u64,
    },
    LogEnd {
        next: u64,
        process: ProcessInfo,
    },
    Session(SessionInfo),
    Sessions(Vec<SessionInfo>),
}

pub(super) struct Conversation {
    id: String,
    subject: Subject,
    stream: UnixStream,
    frames: FrameReader,
}

impl Conversation {
    /// Sends `request` (waking the sandbox if needed).
    pub(super) async fn open(
        sandbox: &Sandbox,
        subject: Subject,
        request: &ClientMessage<'_>,
    ) -> Result<Self, Error> {
        let (stream, frames) = sandbox.inner.open(request).await?;
        Ok(Self {
            id: sandbox.id().to_string(),
            subject,
            stream,
            frames,
        })
    }

    /// The error for a reply that does not fit the request.
    pub(super) fn unexpected(&self) -> Error {
        unexpected(&self.id)
    }

    /// The next reply; agent errors become typed errors.
    pub(super) async fn next(&mut self) -> Result<Reply, Error> {
        let payload = match self.frames.next(&mut self.stream).await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(Error::UnexpectedReply {
                    id: self.id.clone(),
                    what: "closed the connection before answering",
                })
            }
            Err(source) => {
                return Err(Error::Protocol {
                    id: self.id.clone(),
                    source,
                })
            }
        };
        let message =
            protocol::decode::<AgentMessage>(payload).map_err(|source| Error::Protocol {
                id: self.id.clone(),
                source,
            })?;
        Ok(match message {
            AgentMessage::Done => Reply::Done,
            AgentMessage::Process(info) => Reply::Process(info),
            AgentMessage::Processes(list) => Reply::Processes(list),
            AgentMessage::Log {
                cursor,
                stream,
                data,
            } => Reply::Log {
                cursor,
                stream,
                data: data.to_vec(),
            },
            AgentMessage::LogDropped { from, to } => Reply::LogDropped { from, to },
            AgentMessage::LogEnd { next, process } => Reply::LogEnd { next, process },
            AgentMessage::Session(info) => Reply::Session(info),
            AgentMessage::Sessions(list) => Reply::Sessions(list),
            AgentMessage::Error { code, message } => return Err(self.error(code, message)),
            _ => return Err(self.unexpected()),
        })
    }

    /// An error about this conversation's subject.
    pub(super) fn error(&self, code: protocol::ErrorCode, message: String) -> Error {
        let id = self.id.clone();
        match &self.subject {
            Subject::Sandbox => Error::Agent { id, code, message },
            Subject::Process(process) => Error::Process {
                id,
                process: process.clone(),
                code,
                message,
            },
            Subject::Session(session) => Error::Session {
                id,
                session: session.clone(),
                code,
                message,
            },
        }
    }
}

/// The error for a reply that does not fit the request, from sandbox `id`'s agent.
pub(super) fn unexpected(id: &str) -> Error {
    Error::UnexpectedReply {
        id: id.to_string(),
        what: "sent a reply out of place",
    }
}

/// A duration as the protocol's milliseconds (saturating).
pub(super) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Sends one request and returns its single reply.
pub(super) async fn call(
    sandbox: &Sandbox,
    subject: Subject,
    request: ClientMessage<'_>,
) -> Result<Reply, Error> {
    Conversation::open(sandbox, subject, &request)
        .await?
        .next()
        .await
}
