//! The sandbox SDK: the one public API through which the runner, the servers and users' own
//! programs drive sandboxes. Modelled on the Cloudflare Sandbox SDK: `get(id)` creates or wakes
//! a sandbox (same id, same sandbox, also from another process), `exec` runs a command, and
//! `destroy` removes everything.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sandpit::sandbox::Error> {
//! use sandpit::sandbox::{Command, SandboxOptions, Sandboxes, SandboxesConfig};
//! let sandboxes = Sandboxes::open(SandboxesConfig::from_env())?;
//! let sandbox = sandboxes.get("demo", SandboxOptions::default()).await?;
//! let out = sandbox.exec(Command::shell("echo $((2 + 2))")).await?;
//! assert_eq!(out.stdout, b"4\n");
//! sandbox.destroy().await?;
//! # Ok(()) }
//! ```

mod conversation;
mod error;
mod exec;
mod files;
mod process;
mod session;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixStream;

pub use error::{Error, ErrorCode};
pub use exec::{
    AbortHandle, Command, ExecEvent, ExecInput, ExecOutput, ExecStream, DEFAULT_OUTPUT_LIMIT,
};
pub use files::{FileInfo, FileKind, FileReadStream};
pub use process::{
    LogEvent, LogMatch, LogPattern, LogStream, PortCheck, Process, ProcessInfo, ProcessLogs,
    ProcessOptions, ProcessStatus, DEFAULT_LOG_LIMIT,
};
pub use session::{Session, SessionInfo, SessionOptions, DEFAULT_SESSION};

use crate::protocol::{self, AgentMessage, ClientMessage, FrameReader, VERSION};
pub use crate::protocol::{ExitReport, OutputStream};
pub use crate::runtime::{
    BindMount, Limits, Network, PruneReport, SandboxId, SandboxRecord, SandboxState,
};
use crate::runtime::{Runtime, SandboxSpec};

/// Where sandboxes live and which program starts them.
#[derive(Debug, Clone)]
pub struct SandboxesConfig {
    /// The state directory (records, sockets, workspaces).
    pub home: PathBuf,
    /// The sandpit executable, re-executed as each sandbox's init. Programs that embed the SDK
    /// either point this at an installed `sandpit`, or call [`crate::run_init_if_requested`]
    /// first thing in `main` and keep the default (their own executable).
    pub init_program: PathBuf,
}

impl SandboxesConfig {
    /// `SANDPIT_HOME` (default `/var/lib/sandpit`) and `SANDPIT_BIN` (default: the current
    /// executable).
    pub fn from_env() -> Self {
        let home = std::env::var_os("SANDPIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/sandpit"));
        let init_program = std::env::var_os("SANDPIT_BIN")
            .map(PathBuf::from)
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| PathBuf::from("sandpit"));
        Self { home, init_program }
    }
}

/// Options of a sandbox, applied when it is first created (a later `get` of the same id gets
/// the existing sandbox as it was made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Memory, pids and cpu limits.
    pub limits: Limits,
    /// `None` (default: loopback only) or `Host`.
    pub network: Network,
    /// Extra host paths bound in, only by explicit option.
    pub mounts: Vec<BindMount>,
    /// Stop after this long without requests or running commands (default 10 minutes).
    pub sleep_after: Duration,
    /// Never sleep.
    pub keep_alive: bool,
    /// Environment variables of every command.
    pub env: Vec<(String, String)>,
    /// A host directory that `/workspace` shows copy-on-write (default `None`: an empty workspace
    /// of the sandbox's own). Commands see every file and may create, change, delete and rename
    /// whatever file permissions allow (see below); the writes go to the sandbox's own layer on
    /// disk (in the state directory), survive its sleeps and vanish with it; the host directory is
    /// never written. Setting it up is one overlay mount (two for a tree a user owns), whatever the
    /// size of the tree.
    ///
    /// It must be an absolute path to an existing directory, apart from the state directory,
    /// without `,`, `:` or `\` (overlayfs cannot take them); otherwise `get` fails with
    /// [`crate::runtime::RuntimeError::InvalidWorkspace`]. Symlinks are resolved once, at creation.
    /// Like every option it is fixed then: a later `get` of the same id with another directory gets
    /// the existing sandbox, its view and its writes unchanged.
    ///
    /// Owners: commands run as a uid 0 without capabilities, which may change only what it owns
    /// (or what modes let anyone change). So when the directory belongs to someone else (a
    /// developer's checkout owned by uid 1000, say), the tree is shown through an idmapped mount
    /// in which that owner (the uid and gid of the directory itself, looked up at every start)
    /// appears as root: `stat` says 0, and commands may change, create and delete files as the
    /// owner could; what they write belongs to root, in the sandbox's layer. Entries of any other
    /// owner (uid 0 on the host included) then appear as the overflow id 65534 and cannot be
    /// changed, whatever their modes. Where the kernel or the filesystem cannot idmap (Linux
    /// before 5.19, user namespaces disabled, filesystems such as ramfs), the sandbox still
    /// starts, showing the host owners, with a warning in its `agent.log`: files another user owns
    /// can then be changed only as far as their modes let others, and only the entries right in
    /// `/workspace` (which belongs to uid 0) can be added, removed or renamed. A tree root owns
    /// needs none of this.
    ///
    /// Also: mounts below the directory are not seen; renaming a directory that comes from the
    /// host fails with `EXDEV` (`mv` copies instead). Changes to the host directory while the
    /// sandbox runs may or may not show (overlayfs leaves that undefined); changes made while it
    /// sleeps show after it wakes, except where the sandbox has written.
    pub workspace_from: Option<PathBuf>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            network: Network::None,
            mounts: Vec::new(),
            sleep_after: Duration::from_secs(600),
            keep_alive: false,
            env: Vec::new(),
            workspace_from: None,
        }
    }
}

impl SandboxOptions {
    fn to_spec(&self) -> SandboxSpec {
        SandboxSpec {
            limits: self.limits.clone(),
            network: self.network,
            mounts: self.mounts.clone(),
            sleep_after: (!self.keep_alive).then_some(self.sleep_after),
            env: self.env.clone(),
            unset_env: Vec::new(),
            workspace_from: self.workspace_from.clone(),
        }
    }
}

/// One line of [`Sandboxes::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// What the state directory recorded.
    pub record: SandboxRecord,
    /// Whether its agent runs.
    pub state: SandboxState,
}

/// The sandboxes of one state directory.
#[derive(Clone)]
pub struct Sandboxes {
    runtime: Arc<Runtime>,
}

impl Sandboxes {
    /// Opens the state directory, creating it if needed.
    pub fn open(config: SandboxesConfig) -> Result<Self, Error> {
        let runtime =
            Runtime::open(&config.home, &config.init_program).map_err(|source| Error::Runtime {
                id: "*".into(),
                source: Box::new(source),
            })?;
        Ok(Self {
            runtime: Arc::new(runtime),
        })
    }

    /// Returns sandbox `id`, creating it with `options` or waking it if it sleeps.
    pub async fn get(&self, id: &str, options: SandboxOptions) -> Result<Sandbox, Error> {
        let id = SandboxId::new(id)?;
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                id,
                runtime: Arc::clone(&self.runtime),
                spec: Some(options.to_spec()),
            }),
        };
        sandbox.inner.ensure().await?;
        Ok(sandbox)
    }

    /// Returns sandbox `id` if it exists, waking it if it sleeps; `SANDBOX_NOT_FOUND`
    /// otherwise (nothing is created, also not later by this handle).
    pub async fn connect(&self, id: &str) -> Result<Sandbox, Error> {
        let id = SandboxId::new(id)?;
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                id,
                runtime: Arc::clone(&self.runtime),
                spec: None,
            }),
        };
        sandbox.inner.ensure().await?;
        Ok(sandbox)
    }

    /// Every sandbox of this state directory, running or sleeping.
    pub async fn list(&self) -> Result<Vec<SandboxInfo>, Error> {
        let runtime = Arc::clone(&self.runtime);
        let list = blocking("*", move || runtime.list()).await?;
        Ok(list
            .into_iter()
            .map(|(record, state)| SandboxInfo { record, state })
            .collect())
    }

    /// Destroys sandbox `id`; returns whether it existed. Destroying twice is fine.
    pub async fn destroy(&self, id: &str) -> Result<bool, Error> {
        let id = SandboxId::new(id)?;
        let runtime = Arc::clone(&self.runtime);
        let name = id.to_string();
        blocking(&name, move || runtime.destroy(&id)).await
    }

    /// Removes what crashes and reboots left behind.
    pub async fn prune(&self) -> Result<PruneReport, Error> {
        let runtime = Arc::clone(&self.runtime);
        blocking("*", move || runtime.prune()).await
    }
}

/// Runs a blocking runtime operation off the async threads.
async fn blocking<T: Send + 'static>(
    id: &str,
    f: impl FnOnce() -> Result<T, crate::runtime::RuntimeError> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| Error::Task {
            id: id.to_string(),
            source,
        })?
        .map_err(|source| Error::Runtime {
            id: id.to_string(),
            source: Box::new(source),
        })
}

/// A handle to one sandbox. Cheap to clone; dropping it leaves the sandbox running (it sleeps
/// when idle); [`Sandbox::destroy`] removes it.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    id: SandboxId,
    runtime: Arc<Runtime>,
    /// What to create the sandbox with if it is missing; `None`: never create it.
    spec: Option<SandboxSpec>,
}

impl Inner {
    async fn ensure(&self) -> Result<(), Error> {
        let runtime = Arc::clone(&self.runtime);
        let id = self.id.clone();
        let spec = self.spec.clone();
        let found = blocking(self.id.as_str(), move || match spec {
            Some(spec) => runtime.ensure(&id, &spec).map(|_| true),
            None => runtime.wake(&id).map(|record| record.is_some()),
        })
        .await?;
        if found {
            Ok(())
        } else {
            Err(Error::NotFound {
                id: self.id.to_string(),
            })
        }
    }

    /// Opens a conversation: connects (waking the sandbox if its agent is gone), greets, sends
    /// `request` and reads the agent's greeting.
    async fn open(&self, request: &ClientMessage<'_>) -> Result<(UnixStream, FrameReader), Error> {
        let mut woke = false;
        loop {
            match self.try_open(request).await {
                Ok(opened) => return Ok(opened),
                Err(e) if e.is_retryable() && !woke => {
                    tracing::debug!(sandbox = %self.id, "agent unreachable, waking: {e}");
                    woke = true;
                    self.ensure().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_open(
        &self,
        request: &ClientMessage<'_>,
    ) -> Result<(UnixStream, FrameReader), Error> {
        let id = || self.id.to_string();
        let mut stream = UnixStream::connect(self.runtime.socket_path(&self.id))
            .await
            .map_err(|source| Error::Unreachable { id: id(), source })?;
        // Greeting and request go out together: one round trip instead of two.
        let mut out = Vec::new();
        let mut frame = Vec::new();
        for msg in [&ClientMessage::Hello { version: VERSION }, request] {
            protocol::encode(msg, &mut frame)
                .map_err(|source| Error::Protocol { id: id(), source })?;
            out.extend_from_slice(&frame);
        }
        if let Err(source) = tokio::io::AsyncWriteExt::write_all(&mut stream, &out).await {
            return Err(Error::Unreachable { id: id(), source });
        }
        // Handed on with the stream: it may already hold the replies that follow the greeting.
        let mut frames = FrameReader::new();
        let reply = match frames.next(&mut stream).await {
            // The agent went to sleep between accept and reply.
            Ok(None) => Err(Error::Unreachable {
                id: id(),
                source: std::io::ErrorKind::ConnectionReset.into(),
            }),
            Err(protocol::ProtocolError::Io { source, .. }) => {
                Err(Error::Unreachable { id: id(), source })
            }
            Err(source) => Err(Error::Protocol { id: id(), source }),
            Ok(Some(payload)) => match protocol::decode::<AgentMessage>(payload) {
                Ok(AgentMessage::Hello { .. }) => Ok(()),
                Ok(AgentMessage::Error { code, message }) => Err(Error::Agent {
                    id: id(),
                    code,
                    message,
                }),
                Ok(_) => Err(Error::UnexpectedReply {
                    id: id(),
                    what: "did not greet",
                }),
                Err(source) => Err(Error::Protocol { id: id(), source }),
            },
        };
        reply.map(|()| (stream, frames))
    }
}

impl Sandbox {
    /// The sandbox id.
    pub fn id(&self) -> &str {
        self.inner.id.as_str()
    }

    /// Checks that the agent answers.
    pub async fn ping(&self) -> Result<(), Error> {
        let (mut stream, mut frames) = self.inner.open(&ClientMessage::Ping).await?;
        match frames.next(&mut stream).await {
            Ok(Some(payload)) if matches!(protocol::decode(payload), Ok(AgentMessage::Pong)) => {
                Ok(())
            }
            Ok(_) => Err(Error::UnexpectedReply {
                id: self.id().to_string(),
                what: "did not answer the ping",
            }),
            Err(source) => Err(Error::Protocol {
                id: self.id().to_string(),
                source,
            }),
        }
    }

    /// Starts `command` and returns its event stream. Dropping the stream kills the command's
    /// process group.
    pub async fn exec_stream(&self, command: Command) -> Result<ExecStream, Error> {
        exec::start(self, command).await
    }

    /// Runs `command` to completion and collects its output (each stream capped at the
    /// command's output limit, with a truncation flag).
    pub async fn exec(&self, command: Command) -> Result<ExecOutput, Error> {
        let limit = command.output_limit;
        self.exec_stream(command).await?.collect(limit).await
    }

    /// Destroys the sandbox: every process, mount, cgroup, socket and file of it.
    pub async fn destroy(self) -> Result<(), Error> {
        let runtime = Arc::clone(&self.inner.runtime);
        let id = self.inner.id.clone();
        blocking(self.id(), move || runtime.destroy(&id).map(drop)).await
    }
}
