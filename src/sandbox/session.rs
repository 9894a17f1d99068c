//! Sessions (a working directory and environment that carry over between commands, one
//! command at a time) and the sandbox-wide environment.

use super::conversation::{call, unexpected, Reply, Subject};
use super::{Command, Error, ExecOutput, ExecStream, Sandbox};
pub use crate::protocol::SessionInfo;
use crate::protocol::{is_valid_env_var, ClientMessage, SessionOp};

/// The id of the session every sandbox has without creating it.
pub const DEFAULT_SESSION: &str = "default";

/// Options of [`Sandbox::create_session`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Its id (1-64 of `A-Za-z0-9._-`); the agent picks `session-N` when absent.
    pub id: Option<String>,
    /// Variables added to the sandbox's environment for this session.
    pub env: Vec<(String, String)>,
    /// Initial working directory (default `/workspace`).
    pub cwd: Option<String>,
}

impl SessionOptions {
    /// Names the session.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the initial working directory.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
}

/// A session of a sandbox. Within it, a shell command's `cd` and `export` carry over to the
/// next command; commands run one at a time, in the order they arrive (others wait); separate
/// sessions run in parallel and never see each other's directory or variables.
///
/// Each command runs in a fresh shell started from the session's state, so nothing can wedge a
/// session: a command that times out or is killed is simply not taken into the state (the
/// session stays as it was before it), and the next command runs normally. Variables that are
/// not exported, shell functions and options last for one command. Sessions live in the
/// sandbox's agent: they end when the sandbox goes to sleep or is destroyed.
#[derive(Clone)]
pub struct Session {
    sandbox: Sandbox,
    id: String,
}

impl Session {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn command(&self, mut command: Command) -> Command {
        command.session = Some(self.id.clone());
        command
    }

    /// Runs `command` in the session and collects its output (see [`Sandbox::exec`]).
    pub async fn exec(&self, command: Command) -> Result<ExecOutput, Error> {
        self.sandbox.exec(self.command(command)).await
    }

    /// Runs `command` in the session as a stream of events (see [`Sandbox::exec_stream`]).
    pub async fn exec_stream(&self, command: Command) -> Result<ExecStream, Error> {
        self.sandbox.exec_stream(self.command(command)).await
    }

    /// Starts a background process from the session's current directory and environment (it
    /// does not wait for the session's turn, and changes nothing in it).
    pub async fn start_process(
        &self,
        command: Command,
        options: super::ProcessOptions,
    ) -> Result<super::Process, Error> {
        self.sandbox
            .start_process(self.command(command), options)
            .await
    }

    /// The session as it is now: working directory, whether a command runs.
    pub async fn info(&self) -> Result<SessionInfo, Error> {
        self.sandbox.session_info(&self.id).await
    }
}

impl Sandbox {
    /// Creates a session; `ALREADY_EXISTS` if its id is taken.
    pub async fn create_session(&self, options: SessionOptions) -> Result<Session, Error> {
        let subject = Subject::Session(options.id.clone().unwrap_or_default());
        let op = SessionOp::Create {
            id: options.id,
            env: options.env,
            cwd: options.cwd,
        };
        match call(self, subject, ClientMessage::Session(op)).await? {
            Reply::Session(info) => Ok(Session {
                sandbox: self.clone(),
                id: info.id,
            }),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Session `id`; `SESSION_NOT_FOUND` if there is none.
    pub async fn get_session(&self, id: &str) -> Result<Session, Error> {
        self.session_info(id).await?;
        Ok(Session {
            sandbox: self.clone(),
            id: id.to_string(),
        })
    }

    /// The session every sandbox has: created on first use with `/workspace` and the
    /// sandbox's environment. [`Sandbox::exec`] does not use it (plain commands run in
    /// parallel, each from a clean state); this is for callers that want one shell-like
    /// context without naming it.
    pub fn default_session(&self) -> Session {
        Session {
            sandbox: self.clone(),
            id: DEFAULT_SESSION.to_string(),
        }
    }

    async fn session_info(&self, id: &str) -> Result<SessionInfo, Error> {
        let op = SessionOp::Get { id: id.to_string() };
        match call(
            self,
            Subject::Session(id.into()),
            ClientMessage::Session(op),
        )
        .await?
        {
            Reply::Session(info) => Ok(info),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Every session that exists now, by id.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let op = ClientMessage::Session(SessionOp::List);
        match call(self, Subject::Sandbox, op).await? {
            Reply::Sessions(list) => Ok(list),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Deletes session `id`, killing the command running in it; `SESSION_NOT_FOUND` if there
    /// is none. Deleting the default session resets it.
    pub async fn delete_session(&self, id: &str) -> Result<(), Error> {
        let op = SessionOp::Delete { id: id.to_string() };
        match call(
            self,
            Subject::Session(id.into()),
            ClientMessage::Session(op),
        )
        .await?
        {
            Reply::Done => Ok(()),
            _ => Err(unexpected(self.id())),
        }
    }

    /// Sets (or, with `None`, unsets) environment variables for every later command, process
    /// and session of the sandbox, also after it sleeps and wakes.
    pub async fn set_env_vars<I, K, V>(&self, vars: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (K, Option<V>)>,
        K: Into<String>,
        V: Into<String>,
    {
        let changes: Vec<(String, Option<String>)> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.map(Into::into)))
            .collect();
        if let Some((key, _)) = changes
            .iter()
            .find(|(k, v)| !is_valid_env_var(k, v.as_deref().unwrap_or_default()))
        {
            return Err(Error::Agent {
                id: self.id().to_string(),
                code: crate::protocol::ErrorCode::InvalidRequest,
                message: format!("invalid environment variable name or value: {key:?}"),
            });
        }
        // Recorded first: a sandbox that sleeps right after wakes with the new environment.
        let runtime = std::sync::Arc::clone(&self.inner.runtime);
        let id = self.inner.id.clone();
        let recorded = changes.clone();
        let exists = super::blocking(self.id(), move || runtime.update_env(&id, &recorded)).await?;
        if !exists {
            return Err(Error::NotFound {
                id: self.id().to_string(),
            });
        }
        match call(self, Subject::Sandbox, ClientMessage::SetEnv(changes)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected(self.id())),
        }
    }
}
