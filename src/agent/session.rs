//! Sessions: a working directory and an environment that carry over from one command to the
//! next, one command at a time.
//!
//! There is no long-lived shell to get stuck or to die. Each shell command of a session runs in
//! a fresh `bash` started in the session's working directory with the session's environment;
//! an `EXIT` trap writes the shell's final `$PWD` and exported variables to a state file, which
//! becomes the session's state for its next command. So `cd` and `export` persist (also after
//! `exit N` or a failing `set -e` command), while a command that is killed (timeout, signal,
//! OOM) or replaces its shell with `exec` leaves the session as it was before that command.
//! Unexported variables, functions and shell options last for one command.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;

use tokio::sync::{Mutex, MutexGuard};

use super::exec::{self, WORKSPACE};
use crate::protocol::{CommandLine, ExecRequest, SessionInfo};

/// The session every sandbox has without creating it.
pub(super) const DEFAULT_SESSION: &str = "default";

/// Where the agent asks session shells to leave their state (inside the sandbox: these files
/// are written by sandboxed code and parsed as untrusted input).
const STATE_DIR: &str = "/run/sandpit";

/// Largest state file read back; a larger one is ignored.
const MAX_STATE_BYTES: u64 = 4 << 20;

/// Variables bash maintains itself, which must not be carried over (SHLVL would grow by one per
/// command).
const SHELL_MAINTAINED: &[&str] = &["SHLVL", "_", "PWD"];

/// Run as `bash -c WRAPPER $0 STATE_FILE SCRIPT ARGS…`: saves the state on any exit of the
/// shell, then runs the user's script with its own positional parameters.
const WRAPPER: &str = r#"__sandpit_state=$1
__sandpit_script=$2
shift 2
__sandpit_save() {
    local IFS=$'\n' __sandpit_name
    {
        printf '%s\0' "$PWD"
        for __sandpit_name in $(compgen -e); do
            printf '%s=%s\0' "$__sandpit_name" "${!__sandpit_name-}"
        done
    } >"$__sandpit_state"
}
trap __sandpit_save EXIT
eval "$__sandpit_script""#;

/// A session's carried-over state.
#[derive(Debug, Clone)]
struct State {
    cwd: String,
    env: Vec<(String, String)>,
}

/// One session.
pub(super) struct Session {
    id: String,
    state: RefCell<State>,
    /// Held by the command running in the session; tokio's mutex queues waiters in order.
    turn: Mutex<()>,
    queued: Cell<u32>,
    /// Process group of the command running now.
    running: Cell<Option<u32>>,
    /// Numbers state files.
    commands: Cell<u64>,
}

/// A command's turn in its session; the next command starts when it is dropped.
pub(super) struct Turn<'a> {
    session: &'a Session,
    _guard: MutexGuard<'a, ()>,
}

impl Turn<'_> {
    /// Records the process group of the command holding the turn (for `Delete`).
    pub(super) fn running(&self, pgid: u32) {
        self.session.running.set(Some(pgid));
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.session.running.set(None);
    }
}

impl Session {
    fn new(id: String, cwd: String, env: Vec<(String, String)>) -> Self {
        Self {
            id,
            state: RefCell::new(State { cwd, env }),
            turn: Mutex::new(()),
            queued: Cell::new(0),
            running: Cell::new(None),
            commands: Cell::new(0),
        }
    }

    /// Waits for the session's previous commands to finish.
    pub(super) async fn take_turn(&self) -> Turn<'_> {
        self.queued.set(self.queued.get() + 1);
        let guard = self.turn.lock().await;
        self.queued.set(self.queued.get() - 1);
        Turn {
            session: self,
            _guard: guard,
        }
    }

    /// The command to spawn for `request` in this session, and the state file its shell will
    /// write (shell commands only: an argv cannot change the session).
    pub(super) fn prepare(
        &self,
        request: &ExecRequest,
    ) -> Result<(Command, Option<PathBuf>), String> {
        let state = self.state.borrow();
        // A directory removed since (by another session, say) must not wedge the session: its
        // commands start in /workspace then, as a fresh session's would.
        let cwd = if std::path::Path::new(&state.cwd).is_dir() {
            state.cwd.as_str()
        } else {
            WORKSPACE
        };
        let mut env = state.env.clone();
        env.retain(|(k, _)| k != "PWD");
        env.push(("PWD".into(), request.cwd.clone().unwrap_or(cwd.to_string())));
        match &request.command {
            CommandLine::Argv(_) => {
                let argv = exec::argv(&request.command);
                exec::build_command(argv, &env, cwd, request).map(|cmd| (cmd, None))
            }
            CommandLine::Shell { script, args } => {
                if exec::shell() != "/bin/bash" {
                    return Err("sessions need /bin/bash inside the sandbox".into());
                }
                std::fs::create_dir_all(STATE_DIR)
                    .map_err(|e| format!("failed to create {STATE_DIR}: {e}"))?;
                let n = self.commands.get() + 1;
                self.commands.set(n);
                let state_file = PathBuf::from(format!("{STATE_DIR}/{}.{n}.state", self.id));
                let _ = std::fs::remove_file(&state_file);
                let mut argv = vec![
                    "/bin/bash".to_string(),
                    "-c".to_string(),
                    WRAPPER.to_string(),
                    args.first().cloned().unwrap_or_else(|| "bash".into()),
                    state_file.to_string_lossy().into_owned(),
                    script.clone(),
                ];
                argv.extend(args.iter().skip(1).cloned());
                exec::build_command(argv, &env, cwd, request).map(|cmd| (cmd, Some(state_file)))
            }
        }
    }

    /// Takes the state a finished shell command left, if it left one. Variables the request
    /// set for that one command are not carried over unless the command changed them.
    pub(super) fn absorb(&self, state_file: &PathBuf, request_env: &[(String, String)]) {
        let Some(mut new) = read_state(state_file) else {
            tracing::debug!(session = %self.id, "command left no state; keeping the previous one");
            return;
        };
        let mut state = self.state.borrow_mut();
        for (key, value) in request_env {
            if new.env.iter().any(|(k, v)| k == key && v == value) {
                new.env.retain(|(k, _)| k != key);
                if let Some(before) = state.env.iter().find(|(k, _)| k == key) {
                    new.env.push(before.clone());
                }
            }
        }
        *state = new;
    }

    /// The environment and working directory a command of this session starts with, for a
    /// background process (which runs beside the session's commands, changing nothing).
    pub(super) fn context(&self) -> (Vec<(String, String)>, String) {
        let state = self.state.borrow();
        (state.env.clone(), state.cwd.clone())
    }

    /// Applies sandbox-wide environment changes.
    fn set_env(&self, changes: &[(String, Option<String>)]) {
        apply_env_changes(&mut self.state.borrow_mut().env, changes);
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            cwd: self.state.borrow().cwd.clone(),
            busy: self.running.get().is_some(),
            queued: self.queued.get(),
        }
    }
}

/// Sets (or, for `None`, removes) each changed variable in `env`.
pub(super) fn apply_env_changes(
    env: &mut Vec<(String, String)>,
    changes: &[(String, Option<String>)],
) {
    for (key, value) in changes {
        env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            env.push((key.clone(), value.clone()));
        }
    }
}

/// Parses a state file: the working directory, then `NAME=value` entries, each NUL-terminated.
fn read_state(path: &PathBuf) -> Option<State> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return None;
    }
    let mut fields = bytes.split(|&b| b == 0);
    let cwd = String::from_utf8(fields.next()?.to_vec()).ok()?;
    if !cwd.starts_with('/') {
        return None;
    }
    let mut env = Vec::new();
    for field in fields.filter(|f| !f.is_empty()) {
        let text = String::from_utf8_lossy(field);
        let Some((key, value)) = text.split_once('=') else {
            continue;
        };
        if key.is_empty() || SHELL_MAINTAINED.contains(&key) {
            continue;
        }
        env.push((key.to_string(), value.to_string()));
    }
    Some(State { cwd, env })
}

/// Why a process or session id (`kind`) was refused.
pub(super) fn check_id(kind: &str, id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid {kind} id {id:?}: use 1-64 characters of A-Z, a-z, 0-9, '-', '_' and '.', not starting with '.'"
        ))
    }
}

/// The sandbox's sessions.
#[derive(Default)]
pub(super) struct Sessions {
    table: RefCell<BTreeMap<String, Rc<Session>>>,
    next: Cell<u64>,
}

impl Sessions {
    /// Session `id`; the default session is created on first use.
    pub(super) fn get(&self, id: &str, base_env: &[(String, String)]) -> Option<Rc<Session>> {
        if let Some(session) = self.table.borrow().get(id) {
            return Some(Rc::clone(session));
        }
        if id != DEFAULT_SESSION {
            return None;
        }
        let session = Rc::new(Session::new(
            id.to_string(),
            WORKSPACE.to_string(),
            base_env.to_vec(),
        ));
        self.table
            .borrow_mut()
            .insert(id.to_string(), Rc::clone(&session));
        Some(session)
    }

    /// Creates a session. The error is `(already exists?, message)`.
    pub(super) fn create(
        &self,
        id: Option<String>,
        env: Vec<(String, String)>,
        cwd: Option<String>,
        base_env: &[(String, String)],
    ) -> Result<SessionInfo, (bool, String)> {
        let id = match id {
            Some(id) => {
                check_id("session", &id).map_err(|m| (false, m))?;
                id
            }
            None => loop {
                let n = self.next.get() + 1;
                self.next.set(n);
                let id = format!("session-{n}");
                if !self.table.borrow().contains_key(&id) {
                    break id;
                }
            },
        };
        if self.table.borrow().contains_key(&id) || id == DEFAULT_SESSION {
            return Err((true, format!("session {id:?} exists already")));
        }
        for (key, value) in &env {
            if !crate::protocol::is_valid_env_var(key, value) {
                return Err((false, format!("invalid environment variable {key:?}")));
            }
        }
        let cwd = cwd.unwrap_or_else(|| WORKSPACE.to_string());
        if !cwd.starts_with('/') || cwd.contains('\0') {
            return Err((false, format!("working directory {cwd:?} is not absolute")));
        }
        let mut full_env = base_env.to_vec();
        for (key, value) in env {
            full_env.retain(|(k, _)| *k != key);
            full_env.push((key, value));
        }
        let session = Rc::new(Session::new(id.clone(), cwd, full_env));
        let info = session.info();
        self.table.borrow_mut().insert(id, session);
        Ok(info)
    }

    /// Every session, by id.
    pub(super) fn list(&self) -> Vec<SessionInfo> {
        self.table.borrow().values().map(|s| s.info()).collect()
    }

    /// The session's info, if it exists (the default session always does).
    pub(super) fn info(&self, id: &str, base_env: &[(String, String)]) -> Option<SessionInfo> {
        self.get(id, base_env).map(|s| s.info())
    }

    /// Forgets session `id`, killing its running command; `false` if there was none. The
    /// default session is reset (it exists again, fresh, on next use).
    pub(super) fn delete(&self, id: &str) -> bool {
        let Some(session) = self.table.borrow_mut().remove(id) else {
            return id == DEFAULT_SESSION;
        };
        if let Some(pgid) = session.running.get() {
            super::process::kill_family(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        true
    }

    /// Applies sandbox-wide environment changes to every session.
    pub(super) fn set_env(&self, changes: &[(String, Option<String>)]) {
        for session in self.table.borrow().values() {
            session.set_env(changes);
        }
    }
}
