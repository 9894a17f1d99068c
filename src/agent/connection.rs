//! One client connection: handshake, then one request.
//!
//! Everything on the socket is treated as untrusted input: a bad frame gets an `Error` reply and
//! the connection is closed; a peer that stalls in the middle of the handshake or a request is
//! dropped after [`REQUEST_TIMEOUT`], so it never ties the agent up.

use std::rc::Rc;
use std::time::Duration;

use tokio::net::UnixStream;
use tracing::Instrument;

use super::{exec, files, process, ActivityGuard, Agent};
use crate::protocol::{
    self, AgentMessage, ClientMessage, ErrorCode, FrameReader, SessionOp, VERSION,
};

/// How long a client may take to deliver its hello or its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn serve(agent: Rc<Agent>, stream: UnixStream) {
    let _activity = ActivityGuard::enter(&agent);
    let (mut reader, mut writer) = stream.into_split();
    // Handed on to the exec: the client pipelines its greeting, request and stdin.
    let mut frames = FrameReader::new();
    let mut outbuf = Vec::new();

    let mut greeted = false;
    loop {
        let message = match read_request(&mut reader, &mut frames).await {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(reply) => {
                let _ = protocol::write_frame(&mut writer, &reply, &mut outbuf).await;
                return;
            }
        };
        let reply = match (greeted, message) {
            (false, ClientMessage::Hello { version }) if version == VERSION => {
                greeted = true;
                AgentMessage::Hello { version: VERSION }
            }
            (false, ClientMessage::Hello { version }) => {
                let reply = error(
                    ErrorCode::VersionMismatch,
                    format!("client speaks protocol version {version}, agent speaks {VERSION}"),
                );
                let _ = protocol::write_frame(&mut writer, &reply, &mut outbuf).await;
                return;
            }
            (false, _) => {
                let reply = error(ErrorCode::BadFrame, "expected Hello as the first message");
                let _ = protocol::write_frame(&mut writer, &reply, &mut outbuf).await;
                return;
            }
            (true, ClientMessage::Ping) => AgentMessage::Pong,
            (true, ClientMessage::Exec(request)) => {
                exec::run(&agent, request, (reader, frames), writer)
                    .instrument(tracing::debug_span!("exec", pid = tracing::field::Empty))
                    .await;
                return;
            }
            (true, ClientMessage::WriteFile { path, mode }) => {
                files::write(path, mode, (reader, frames), writer)
                    .instrument(tracing::debug_span!("write_file"))
                    .await;
                return;
            }
            (true, ClientMessage::ReadFile { path }) => {
                files::read(path, writer)
                    .instrument(tracing::debug_span!("read_file"))
                    .await;
                return;
            }
            (true, ClientMessage::File(op)) => {
                files::op(op, writer)
                    .instrument(tracing::debug_span!("file_op"))
                    .await;
                return;
            }
            (
                true,
                ClientMessage::StartProcess {
                    id,
                    request,
                    log_limit,
                },
            ) => match process::start(&agent, id, request, log_limit) {
                Ok(info) => AgentMessage::Process(info),
                Err((code, message)) => error(code, message),
            },
            (true, ClientMessage::Process(op)) => {
                process::serve(&agent, op, (reader, frames), writer)
                    .instrument(tracing::debug_span!("process_op"))
                    .await;
                return;
            }
            (true, ClientMessage::Session(op)) => session_op(&agent, op),
            (true, ClientMessage::SetEnv(changes)) => match agent.set_env(&changes) {
                Ok(()) => AgentMessage::Done,
                Err(message) => error(ErrorCode::InvalidRequest, message),
            },
            (true, _) => {
                let reply = error(ErrorCode::BadFrame, "unexpected message outside a request");
                let _ = protocol::write_frame(&mut writer, &reply, &mut outbuf).await;
                return;
            }
        };
        if protocol::write_frame(&mut writer, &reply, &mut outbuf)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Reads one message; `Ok(None)` on a clean end of stream, `Err(reply)` when the peer sent
/// something unusable or stalled.
async fn read_request(
    reader: &mut tokio::net::unix::OwnedReadHalf,
    frames: &mut FrameReader,
) -> Result<Option<ClientMessage<'static>>, AgentMessage<'static>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, frames.next(reader)).await {
        Err(_) => Err(error(
            ErrorCode::BadFrame,
            "timed out waiting for a request",
        )),
        Ok(Ok(None)) => Ok(None),
        Ok(Ok(Some(payload))) => match protocol::decode::<ClientMessage>(payload) {
            // Requests hold no borrowed data except stdin and file data, which are refused here
            // anyway.
            Ok(ClientMessage::Stdin(_)) => Err(error(
                ErrorCode::BadFrame,
                "stdin sent without a running command",
            )),
            Ok(ClientMessage::FileData(_)) => Err(error(
                ErrorCode::BadFrame,
                "file data sent without a write request",
            )),
            Ok(message) => Ok(Some(into_owned(message))),
            Err(e) => Err(error(ErrorCode::BadFrame, crate::error_chain(&e))),
        },
        Ok(Err(e)) => Err(error(ErrorCode::BadFrame, crate::error_chain(&e))),
    }
}

fn into_owned(message: ClientMessage<'_>) -> ClientMessage<'static> {
    match message {
        ClientMessage::Hello { version } => ClientMessage::Hello { version },
        ClientMessage::Exec(request) => ClientMessage::Exec(request),
        ClientMessage::Stdin(_) => ClientMessage::Stdin(&[]),
        ClientMessage::CloseStdin => ClientMessage::CloseStdin,
        ClientMessage::Signal { signal } => ClientMessage::Signal { signal },
        ClientMessage::Ping => ClientMessage::Ping,
        ClientMessage::WriteFile { path, mode } => ClientMessage::WriteFile { path, mode },
        ClientMessage::FileData(_) => ClientMessage::FileData(&[]),
        ClientMessage::FileEnd => ClientMessage::FileEnd,
        ClientMessage::ReadFile { path } => ClientMessage::ReadFile { path },
        ClientMessage::File(op) => ClientMessage::File(op),
        ClientMessage::StartProcess {
            id,
            request,
            log_limit,
        } => ClientMessage::StartProcess {
            id,
            request,
            log_limit,
        },
        ClientMessage::Process(op) => ClientMessage::Process(op),
        ClientMessage::Session(op) => ClientMessage::Session(op),
        ClientMessage::SetEnv(changes) => ClientMessage::SetEnv(changes),
    }
}

/// Answers a session request.
fn session_op(agent: &Agent, op: SessionOp) -> AgentMessage<'static> {
    let not_found = |id: &str| error(ErrorCode::SessionNotFound, format!("no session {id:?}"));
    let base_env = agent.base_env.borrow();
    match op {
        SessionOp::Create { id, env, cwd } => {
            match agent.sessions.create(id, env, cwd, &base_env) {
                Ok(info) => AgentMessage::Session(info),
                Err((true, message)) => error(ErrorCode::AlreadyExists, message),
                Err((false, message)) => error(ErrorCode::InvalidRequest, message),
            }
        }
        SessionOp::Get { id } => match agent.sessions.info(&id, &base_env) {
            Some(info) => AgentMessage::Session(info),
            None => not_found(&id),
        },
        SessionOp::List => AgentMessage::Sessions(agent.sessions.list()),
        SessionOp::Delete { id } => {
            if agent.sessions.delete(&id) {
                AgentMessage::Done
            } else {
                not_found(&id)
            }
        }
    }
}

pub(super) fn error(code: ErrorCode, message: impl Into<String>) -> AgentMessage<'static> {
    AgentMessage::Error {
        code,
        message: message.into(),
    }
}
