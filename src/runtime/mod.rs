//! Creating, finding and destroying sandboxes on the local Linux kernel.
//!
//! A sandbox is a record in the state directory plus an agent process (PID 1 of its own pid
//! namespace) serving a unix socket beside that record. The layout under the state directory:
//!
//! ```text
//! sandboxes/ID.lock        flock(2) serialising create/wake/destroy of ID across processes
//! sandboxes/ID/record.json what was asked for, the agent's pid and start time, the cgroup
//! sandboxes/ID/agent.sock  the agent's protocol socket (bound before the pivot: host-only)
//! sandboxes/ID/agent.log   the agent's own log
//! sandboxes/ID/workspace/  /workspace inside; survives sleep, removed by destroy
//! sandboxes/ID/workspace-upper/, workspace-work/
//!                          instead, with `workspace_from`: the writable layer (and overlayfs'
//!                          work dir) of /workspace over that host directory; same lifetime
//! sandboxes/ID/root/       mount point of the sandbox's root (mounted only in its namespace)
//! sandboxes/ID/scratch/    mount point of the tmpfs holding the overlay upper layers
//! ```
//!
//! This module holds every `unsafe` block and raw system call of the crate (in `sys`, `seccomp`
//! and `caps`).

pub mod caps;
pub mod cgroup;
mod id;
mod init;
mod record;
pub mod rootfs;
pub mod seccomp;
pub mod sys;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use cgroup::Limits;
pub use id::{InvalidId, SandboxId};
pub use init::{run_init, INIT_ARG};
pub use record::{AgentProcess, SandboxRecord};
pub use rootfs::BindMount;

use cgroup::{CgroupError, CgroupRoots};
use rootfs::Workspace;

/// How long creating a sandbox may take before it is considered failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long destroy waits for the agent (and so every process of the sandbox) to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// `PATH` of commands inside; the host's system directories are all that is there.
const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Network access of a sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A private network namespace with only loopback, brought up.
    #[default]
    None,
    /// The host's network namespace, shared.
    Host,
}

/// What a sandbox is made with. Fixed when it is first created; waking it reuses the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Memory, pids and cpu limits.
    pub limits: Limits,
    /// Network access.
    pub network: Network,
    /// Extra host paths bound into the sandbox.
    pub mounts: Vec<BindMount>,
    /// Stop the sandbox after this long without requests or running commands (`None`: keep it
    /// alive until destroyed). `/workspace` survives; the next request wakes it.
    pub sleep_after: Option<Duration>,
    /// Environment variables every command starts with (on top of `PATH`, `HOME`, `HOSTNAME`).
    pub env: Vec<(String, String)>,
    /// Variables removed since creation (also defaults such as `HOSTNAME`).
    #[serde(default)]
    pub unset_env: Vec<String>,
    /// A host directory that `/workspace` shows copy-on-write (`None`: an empty directory of
    /// the sandbox's own). Resolved to an absolute path without symlinks when the sandbox is
    /// created, so every wake mounts the same directory; the writes stay in the sandbox's state
    /// directory (`workspace-upper`) across sleeps.
    #[serde(default)]
    pub workspace_from: Option<PathBuf>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            network: Network::None,
            mounts: Vec::new(),
            sleep_after: Some(Duration::from_secs(600)),
            env: Vec::new(),
            unset_env: Vec::new(),
            workspace_from: None,
        }
    }
}

/// A failure to create, find or destroy a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// sandpit needs root for namespaces, mounts and cgroups.
    #[error("sandpit must run as root to create sandboxes (it needs namespaces, mounts and cgroups); try again with sudo")]
    NotRoot,
    /// A state directory operation failed.
    #[error("failed to {action} {path}")]
    State {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox's record is unreadable.
    #[error("sandbox record {path} is corrupt")]
    CorruptRecord {
        /// The record file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The cgroup layer failed.
    #[error("failed to set up the cgroup of sandbox {id}")]
    Cgroup {
        /// The sandbox.
        id: String,
        /// The cause.
        #[source]
        source: CgroupError,
    },
    /// An extra mount was refused.
    #[error("refused the extra mount")]
    InvalidMount {
        /// Host side.
        host: PathBuf,
        /// Sandbox side.
        sandbox: PathBuf,
        /// Why.
        #[source]
        source: rootfs::RootfsError,
    },
    /// The host directory to show at `/workspace` was refused.
    #[error("refused the host directory of /workspace")]
    InvalidWorkspace {
        /// The host directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: rootfs::RootfsError,
    },
    /// The state directory path is too long for a unix socket address.
    #[error(
        "socket path {path} is too long for a unix socket (108 bytes); use a shorter SANDPIT_HOME"
    )]
    SocketPathTooLong {
        /// The socket path.
        path: PathBuf,
    },
    /// The sandbox init process could not be started.
    #[error("failed to start the sandbox init program {program}")]
    SpawnInit {
        /// The program (sandpit itself).
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox could not be set up; the message comes from the init process.
    #[error("failed to create sandbox {id}: {message}")]
    Setup {
        /// The sandbox.
        id: String,
        /// What went wrong inside the set-up.
        message: String,
    },
    /// The agent did not stop in time.
    #[error("failed to stop the agent of sandbox {id} (pid {pid})")]
    Stop {
        /// The sandbox.
        id: String,
        /// The agent's host pid.
        pid: u32,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
}

fn state_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.to_path_buf();
    move |source| RuntimeError::State {
        action,
        path,
        source,
    }
}

/// Whether a recorded sandbox's agent is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    /// The agent is up and serving.
    Running,
    /// The agent stopped (idle sleep, crash or reboot); the next request wakes it.
    Sleeping,
}

/// What [`Runtime::prune`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Sandbox directories without a valid record, removed.
    pub orphan_dirs: Vec<String>,
    /// Cgroups that belonged to no running sandbox, removed.
    pub stale_cgroups: Vec<String>,
    /// Sockets of sleeping sandboxes, removed.
    pub stale_sockets: Vec<String>,
}

/// The sandboxes of one state directory.
pub struct Runtime {
    home: PathBuf,
    init_program: PathBuf,
    instance: String,
    cgroups: OnceLock<CgroupRoots>,
    /// What of the host's `/etc` to hide, found once per process.
    host_secrets: OnceLock<Vec<rootfs::HiddenPath>>,
}

impl Runtime {
    /// Opens (creating if needed) the state directory `home`. `init_program` is the sandpit
    /// executable, re-executed as each sandbox's init (see [`INIT_ARG`]).
    pub fn open(home: &Path, init_program: &Path) -> Result<Self, RuntimeError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(RuntimeError::NotRoot);
        }
        let sandboxes = home.join("sandboxes");
        // 0700 all the way down: workspaces hold files a sandbox made as uid 0 (setuid bits
        // included) and records may hold secrets passed as environment variables; no other
        // host user may even traverse into them.
        for dir in [home, &sandboxes] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(state_err("create state directory", dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(state_err("restrict state directory", dir))?;
        }
        let home = fs::canonicalize(home).map_err(state_err("resolve state directory", home))?;
        Ok(Self {
            instance: instance_name(&home),
            home,
            init_program: init_program.to_path_buf(),
            cgroups: OnceLock::new(),
            host_secrets: OnceLock::new(),
        })
    }

    /// The state directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn dir(&self, id: &SandboxId) -> PathBuf {
        self.home.join("sandboxes").join(id.as_str())
    }

    /// Path of the agent socket of sandbox `id`.
    pub fn socket_path(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join("agent.sock")
    }

    fn cgroup_roots(&self) -> Result<&CgroupRoots, CgroupError> {
        if let Some(roots) = self.cgroups.get() {
            return Ok(roots);
        }
        let roots = CgroupRoots::detect(
            Path::new("/proc/self/mountinfo"),
            Path::new("/proc/self/cgroup"),
            &self.instance,
        )?;
        Ok(self.cgroups.get_or_init(|| roots))
    }

    /// Makes sure sandbox `id` is running: returns its record, creating it with `spec` if it
    /// does not exist, or waking it (with its recorded spec) if it sleeps.
    pub fn ensure(
        &self,
        id: &SandboxId,
        spec: &SandboxSpec,
    ) -> Result<SandboxRecord, RuntimeError> {
        let lock = self.lock(id)?;
        let dir = self.dir(id);
        match record::read(&dir)? {
            // Fixed at creation: a different spec (limits, workspace_from…) is ignored.
            Some(record) => self.run_recorded(id, record),
            None => self
                .start(id, &resolved(spec), chrono::Utc::now())
                .inspect_err(|_| {
                    // Nothing of a sandbox that never ran is worth keeping.
                    let _ = remove_dir_all(&dir);
                    lock.remove_file();
                }),
        }
    }

    /// Makes sure sandbox `id` is running if it exists (waking it if it sleeps); `None` when
    /// there is no such sandbox (nothing is created).
    pub fn wake(&self, id: &SandboxId) -> Result<Option<SandboxRecord>, RuntimeError> {
        let lock = self.lock(id)?;
        match record::read(&self.dir(id))? {
            Some(record) => self.run_recorded(id, record).map(Some),
            None => {
                lock.remove_file();
                Ok(None)
            }
        }
    }

    /// Applies environment changes (`None` unsets) to the recorded spec of sandbox `id`, so
    /// that its agent starts with them when it next wakes; `false` when there is no such
    /// sandbox.
    pub fn update_env(
        &self,
        id: &SandboxId,
        changes: &[(String, Option<String>)],
    ) -> Result<bool, RuntimeError> {
        let lock = self.lock(id)?;
        let dir = self.dir(id);
        let Some(mut record) = record::read(&dir)? else {
            lock.remove_file();
            return Ok(false);
        };
        let spec = &mut record.spec;
        for (key, value) in changes {
            spec.env.retain(|(k, _)| k != key);
            spec.unset_env.retain(|k| k != key);
            match value {
                Some(value) => spec.env.push((key.clone(), value.clone())),
                None => spec.unset_env.push(key.clone()),
            }
        }
        record::write(&dir, &record)?;
        Ok(true)
    }

    /// Returns the record of a sandbox whose record exists, waking its agent if needed.
    /// Called with the sandbox's lock held.
    fn run_recorded(
        &self,
        id: &SandboxId,
        record: SandboxRecord,
    ) -> Result<SandboxRecord, RuntimeError> {
        if record_is_running(&record) && probe_socket(&self.socket_path(id)) {
            return Ok(record);
        }
        let _span = tracing::info_span!("wake", sandbox = %id).entered();
        self.clear_leftovers(id, &record)?;
        self.start(id, &record.spec, record.created_at)
    }

    /// Stops whatever is left of a sandbox's previous agent, keeping its workspace.
    fn clear_leftovers(&self, id: &SandboxId, record: &SandboxRecord) -> Result<(), RuntimeError> {
        if let Some(agent) = &record.agent {
            sys::kill_and_wait(agent.pid, agent.start_time, STOP_TIMEOUT).map_err(|source| {
                RuntimeError::Stop {
                    id: id.to_string(),
                    pid: agent.pid,
                    source,
                }
            })?;
        }
        if let Some(cgroup) = &record.cgroup {
            cgroup.destroy().map_err(|source| RuntimeError::Cgroup {
                id: id.to_string(),
                source,
            })?;
        }
        remove_file_if_exists(&self.socket_path(id))
    }

    fn start(
        &self,
        id: &SandboxId,
        spec: &SandboxSpec,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<SandboxRecord, RuntimeError> {
        let _span = tracing::info_span!("create", sandbox = %id).entered();
        for mount in &spec.mounts {
            rootfs::validate_mount(mount).map_err(|source| RuntimeError::InvalidMount {
                host: mount.host.clone(),
                sandbox: mount.sandbox.clone(),
                source,
            })?;
        }
        // Checked on every start: the directory may have gone while the sandbox slept.
        if let Some(lower) = &spec.workspace_from {
            rootfs::validate_workspace_source(lower, &self.home).map_err(|source| {
                RuntimeError::InvalidWorkspace {
                    path: lower.clone(),
                    source,
                }
            })?;
        }
        let dir = self.dir(id);
        let socket = self.socket_path(id);
        if socket.as_os_str().len() >= 108 {
            return Err(RuntimeError::SocketPathTooLong { path: socket });
        }
        let workspace = match &spec.workspace_from {
            None => Workspace::Bind {
                dir: dir.join("workspace"),
            },
            // On disk beside the record, not on the scratch tmpfs: what a build writes can be
            // large, and it must be there again when the sandbox wakes. The owner is looked up
            // on every start, like the directory itself.
            Some(lower) => Workspace::Overlay {
                lower: lower.clone(),
                upper: dir.join("workspace-upper"),
                work: dir.join("workspace-work"),
                idmap: rootfs::workspace_idmap(lower).map_err(|source| {
                    RuntimeError::InvalidWorkspace {
                        path: lower.clone(),
                        source,
                    }
                })?,
            },
        };
        let rootfs = rootfs::RootfsSpec {
            root: dir.join("root"),
            scratch: dir.join("scratch"),
            workspace,
            hostname: id.to_string(),
            mounts: spec.mounts.clone(),
            hidden: self
                .host_secrets
                .get_or_init(|| rootfs::find_host_secrets(Path::new("/")))
                .clone(),
        };
        let mut dirs = vec![rootfs.root.as_path(), rootfs.scratch.as_path()];
        dirs.extend(rootfs.workspace.state_dirs());
        for path in dirs {
            fs::create_dir_all(path).map_err(state_err("create directory", path))?;
        }
        let cgroup_err = |source| RuntimeError::Cgroup {
            id: id.to_string(),
            source,
        };
        let cgroup = self
            .cgroup_roots()
            .and_then(|roots| roots.create(id.as_str(), &spec.limits))
            .map_err(cgroup_err)?;

        let mut env = vec![
            ("PATH".to_string(), SANDBOX_PATH.to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("HOSTNAME".to_string(), id.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        env.retain(|(k, _)| !spec.env.iter().any(|(s, _)| s == k) && !spec.unset_env.contains(k));
        env.extend(spec.env.iter().cloned());
        let init_spec = init::InitSpec {
            rootfs,
            cgroup: Some(cgroup.clone()),
            socket,
            network: spec.network,
            sleep_after_ms: spec
                .sleep_after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            env,
        };
        let agent = match self.spawn_init(id, &dir, &init_spec) {
            Ok(agent) => agent,
            Err(e) => {
                let _ = cgroup.destroy();
                return Err(e);
            }
        };
        let record = SandboxRecord {
            id: id.to_string(),
            spec: spec.clone(),
            created_at,
            agent: Some(agent),
            cgroup: Some(cgroup),
        };
        if let Err(e) = record::write(&dir, &record) {
            let _ = sys::kill_and_wait(agent.pid, agent.start_time, STOP_TIMEOUT);
            if let Some(cgroup) = &record.cgroup {
                let _ = cgroup.destroy();
            }
            return Err(e);
        }
        tracing::debug!(pid = agent.pid, "sandbox running");
        Ok(record)
    }

    /// Runs the init program and waits until the agent reports ready (or a set-up error).
    fn spawn_init(
        &self,
        id: &SandboxId,
        dir: &Path,
        spec: &init::InitSpec,
    ) -> Result<AgentProcess, RuntimeError> {
        let log_path = dir.join("agent.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(state_err("open agent log", &log_path))?;
        let mut cmd = Command::new(&self.init_program);
        cmd.arg(INIT_ARG)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(filter) = std::env::var_os("RUST_LOG") {
            cmd.env("RUST_LOG", filter);
        }
        let spawn_err = |source| RuntimeError::SpawnInit {
            program: self.init_program.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let setup_err = |message: String| RuntimeError::Setup {
            id: id.to_string(),
            message,
        };
        let payload = serde_json::to_vec(spec).map_err(|e| setup_err(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A failed write shows up below as a missing "ready".
            let _ = stdin.write_all(&payload);
        }
        let status = child
            .stdout
            .take()
            .map(|out| read_status(out, START_TIMEOUT))
            .unwrap_or_default();
        // The init exits right after forking the agent; if it is stuck instead (the status
        // pipe timed out), it must not hold up this call, which holds the sandbox's lock.
        if !status.contains("pid ") {
            let _ = child.kill();
        }
        let _ = child.wait();
        let mut pid = None;
        let mut ready = false;
        let mut errors = Vec::new();
        for line in status.lines() {
            if let Some(p) = line.strip_prefix("pid ") {
                pid = p.trim().parse::<u32>().ok();
            } else if line == "ready" {
                ready = true;
            } else if let Some(message) = line.strip_prefix("error: ") {
                errors.push(message.to_string());
            }
        }
        let agent = pid.and_then(|pid| {
            sys::process_start_time(pid).map(|start_time| AgentProcess { pid, start_time })
        });
        match (agent, ready) {
            (Some(agent), true) => Ok(agent),
            (agent, _) => {
                if let Some(agent) = agent {
                    let _ = sys::kill_and_wait(agent.pid, agent.start_time, STOP_TIMEOUT);
                }
                let message = if !errors.is_empty() {
                    errors.join("; ")
                } else if agent.is_none() {
                    format!(
                        "the sandbox init did not report a running agent (see {})",
                        log_path.display()
                    )
                } else {
                    format!(
                        "the agent exited before reporting ready (see {})",
                        log_path.display()
                    )
                };
                Err(setup_err(message))
            }
        }
    }

    /// Destroys sandbox `id`: kills every process, removes its cgroup, socket, workspace (or
    /// the writable layer of a copy-on-write one) and record. Returns whether there was
    /// anything to destroy; a second call is a no-op.
    pub fn destroy(&self, id: &SandboxId) -> Result<bool, RuntimeError> {
        let lock = self.lock(id)?;
        self.destroy_locked(id, lock)
    }

    /// [`Runtime::destroy`] for a caller that already holds the sandbox's lock.
    fn destroy_locked(&self, id: &SandboxId, lock: SandboxLock) -> Result<bool, RuntimeError> {
        let _span = tracing::info_span!("destroy", sandbox = %id).entered();
        let dir = self.dir(id);
        let record = record::read(&dir).ok().flatten();
        let existed = record.is_some() || dir.exists();
        if let Some(record) = &record {
            self.clear_leftovers(id, record)?;
        }
        // Also the cgroup a crashed create may have left without a record.
        if let Ok(roots) = self.cgroup_roots() {
            roots
                .get(id.as_str())
                .destroy()
                .map_err(|source| RuntimeError::Cgroup {
                    id: id.to_string(),
                    source,
                })?;
        }
        match remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(state_err("remove", &dir)(e)),
        }
        lock.remove();
        // The last sandbox takes this state directory's cgroup parents with it; while others
        // remain this fails harmlessly, and a concurrent create re-makes them.
        if let Ok(roots) = self.cgroup_roots() {
            let _ = roots.remove_if_empty();
        }
        Ok(existed)
    }

    /// Every recorded sandbox with its state, sorted by id.
    pub fn list(&self) -> Result<Vec<(SandboxRecord, SandboxState)>, RuntimeError> {
        let mut out = Vec::new();
        for id in self.sandbox_ids()? {
            if let Ok(Some(record)) = record::read(&self.dir(&id)) {
                let state = if record_is_running(&record) {
                    SandboxState::Running
                } else {
                    SandboxState::Sleeping
                };
                out.push((record, state));
            }
        }
        out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(out)
    }

    /// Ids of the sandbox directories present (valid ids only; anything else is not ours).
    fn sandbox_ids(&self) -> Result<Vec<SandboxId>, RuntimeError> {
        let sandboxes = self.home.join("sandboxes");
        let entries = fs::read_dir(&sandboxes).map_err(state_err("read", &sandboxes))?;
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| SandboxId::new(n).ok())
                {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Removes what a crash or a reboot left: sandbox directories without a valid record,
    /// cgroups of this state directory that belong to no running sandbox, and the sockets of
    /// sleeping sandboxes. Sleeping sandboxes keep their workspace.
    pub fn prune(&self) -> Result<PruneReport, RuntimeError> {
        let mut report = PruneReport::default();
        for id in self.sandbox_ids()? {
            let lock = self.lock(&id)?;
            match record::read(&self.dir(&id)) {
                Ok(Some(record)) => {
                    if !record_is_running(&record) && self.socket_path(&id).exists() {
                        self.clear_leftovers(&id, &record)?;
                        report.stale_sockets.push(id.to_string());
                    }
                }
                // A directory without a record: a create that crashed half-way.
                Ok(None) => {
                    self.destroy_locked(&id, lock)?;
                    report.orphan_dirs.push(id.to_string());
                }
                // Unreadable: its workspace may still matter to someone; say so, delete nothing.
                Err(e) => tracing::warn!("leaving sandbox {id} alone: {}", crate::error_chain(&e)),
            }
        }
        let Ok(roots) = self.cgroup_roots() else {
            return Ok(report);
        };
        let cgroup_err = |name: &str| {
            let id = name.to_string();
            move |source| RuntimeError::Cgroup { id, source }
        };
        for name in roots.list().map_err(cgroup_err("*"))? {
            // Under the sandbox's lock, so a sandbox being created right now (its cgroup exists,
            // its record not yet) is left alone.
            let _lock = match SandboxId::new(&name) {
                Ok(id) => {
                    let lock = self.lock(&id)?;
                    let record = record::read(&self.dir(&id)).ok().flatten();
                    if record.as_ref().is_some_and(record_is_running) {
                        continue;
                    }
                    Some(lock)
                }
                Err(_) => None,
            };
            roots.get(&name).destroy().map_err(cgroup_err(&name))?;
            report.stale_cgroups.push(name);
        }
        let _ = roots.remove_if_empty();
        Ok(report)
    }

    /// Takes the per-sandbox lock. The lock file lives beside the sandbox directory so destroy
    /// can remove the directory while holding it; a waiter that then locks the unlinked file
    /// notices (different inode at the path) and tries again.
    fn lock(&self, id: &SandboxId) -> Result<SandboxLock, RuntimeError> {
        let path = self.home.join("sandboxes").join(format!("{id}.lock"));
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(state_err("open lock", &path))?;
            let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
                state_err("lock", &path)(std::io::Error::from_raw_os_error(errno as i32))
            })?;
            let same = match (fs::metadata(&path), lock.metadata()) {
                (Ok(at_path), Ok(held)) => at_path.ino() == held.ino(),
                _ => false,
            };
            if same {
                return Ok(SandboxLock { path, _file: lock });
            }
        }
    }
}

/// Held while a sandbox is created, woken or destroyed.
struct SandboxLock {
    path: PathBuf,
    _file: Flock<File>,
}

impl SandboxLock {
    /// Removes the lock file (while still holding it), for destroy.
    fn remove(self) {
        self.remove_file();
    }

    fn remove_file(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The spec a new sandbox is recorded with: `workspace_from` resolved once (absolute, no
/// symlinks), so that changing a symlink on the way later cannot swap the tree under a
/// sleeping sandbox's writes. What is wrong with it is reported when the sandbox starts (see
/// [`rootfs::validate_workspace_source`]); a relative path is left as it is, to be refused.
fn resolved(spec: &SandboxSpec) -> SandboxSpec {
    let mut spec = spec.clone();
    if let Some(path) = &mut spec.workspace_from {
        if path.is_absolute() {
            if let Ok(resolved) = fs::canonicalize(&*path) {
                *path = resolved;
            }
        }
    }
    spec
}

/// Whether the record's agent process is running.
fn record_is_running(record: &SandboxRecord) -> bool {
    record
        .agent
        .is_some_and(|a| sys::process_is_alive(a.pid, a.start_time))
}

/// Whether something accepts connections on the socket.
fn probe_socket(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Removes a sandbox directory and everything in it. overlayfs leaves a mode 000 `work`
/// directory in a workspace overlay's work directory; it is opened up first, so removal does
/// not depend on holding `CAP_DAC_OVERRIDE`.
fn remove_dir_all(dir: &Path) -> std::io::Result<()> {
    let overlay_work = dir.join("workspace-work").join("work");
    if fs::symlink_metadata(&overlay_work).is_ok_and(|m| m.is_dir()) {
        let _ = fs::set_permissions(&overlay_work, fs::Permissions::from_mode(0o700));
    }
    fs::remove_dir_all(dir)
}

fn remove_file_if_exists(path: &Path) -> Result<(), RuntimeError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(state_err("remove", path)(e)),
    }
}

/// Reads the init's status pipe until every writer closed it or `timeout` passed.
fn read_status(out: std::process::ChildStdout, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    let mut out = File::from(std::os::fd::OwnedFd::from(out));
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match sys::wait_readable(out.as_fd(), left) {
            Ok(true) => {}
            _ => break,
        }
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
        if text.len() > 64 << 10 {
            break;
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// A short, stable name for a state directory, so two state directories never share cgroups.
fn instance_name(home: &Path) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in home.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}
