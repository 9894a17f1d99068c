//! The per-sandbox record file: what was asked for and who serves it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cgroup::Cgroup;
use super::{state_err, RuntimeError, SandboxSpec};

const RECORD: &str = "record.json";

/// The agent process of a running sandbox, as seen from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProcess {
    /// Host pid.
    pub pid: u32,
    /// Start time in clock ticks since boot: with the pid, names the process even after the
    /// pid is reused.
    pub start_time: u64,
}

/// Everything the state directory knows about one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The sandbox id.
    pub id: String,
    /// What it was created with (reused when it wakes).
    pub spec: SandboxSpec,
    /// When it was first created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Its most recent agent.
    pub agent: Option<AgentProcess>,
    /// Its cgroup, recorded because another process may sit in a different cgroup itself.
    pub cgroup: Option<Cgroup>,
}

/// Reads the record in sandbox directory `dir`; `None` if there is none.
pub(super) fn read(dir: &Path) -> Result<Option<SandboxRecord>, RuntimeError> {
    let path = dir.join(RECORD);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_err("read", &path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RuntimeError::CorruptRecord { path, source })
}

/// Writes the record atomically (temporary file, then rename), so a crash of sandpit leaves
/// either the old or the new record, never half of one. (Not fsynced: after a power loss every
/// agent is gone anyway, and a lost record only costs the sleeping sandbox its spec.)
pub(super) fn write(dir: &Path, record: &SandboxRecord) -> Result<(), RuntimeError> {
    let path = dir.join(RECORD);
    let tmp = dir.join(".record.json.tmp");
    let bytes =
        serde_json::to_vec_pretty(record).map_err(|source| RuntimeError::CorruptRecord {
            path: path.clone(),
            source,
        })?;
    let mut file = fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(state_err("create", &tmp))?;
    file.write_all(&bytes).map_err(state_err("write", &tmp))?;
    fs::rename(&tmp, &path).map_err(state_err("rename", &tmp))
}
