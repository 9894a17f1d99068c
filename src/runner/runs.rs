//! Where a run's records live: `HOME/runs/RUN_ID/`, with one `JOB.log` per job instance (see
//! [`super::log`]) and a `run.json` summary.
//!
//! Choices:
//! - Run ids are 1, 2, 3… per state directory. A new id is taken by `mkdir`, which is atomic,
//!   so concurrent sandpit processes never share one; only canonical decimal names (no sign, no
//!   leading zero) count as runs.
//! - Job names are hostile text, so file names are derived from them (see
//!   [`RunDir::job_log_path`]) and the exact name is kept in each log's header line.
//! - Directories are owner-only (as the rest of the state directory): logs may hold a secret
//!   that masking missed.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::log;

/// The summary's file name inside a run directory.
const SUMMARY: &str = "run.json";

/// The longest file name stem derived from a job name, in bytes.
const MAX_STEM: usize = 100;

/// Errors of run directories.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// `HOME/runs` could not be created.
    #[error("failed to create the runs directory {path}")]
    CreateRunsDir {
        /// The runs directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `HOME/runs` could not be listed.
    #[error("failed to list runs in {path}")]
    ListRuns {
        /// The runs directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A new run's directory could not be created.
    #[error("failed to create run directory {path}")]
    CreateRun {
        /// The run directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Every run id up to `u64::MAX` is taken.
    #[error("failed to pick a run id in {path}: the largest id is taken")]
    IdsExhausted {
        /// The runs directory.
        path: PathBuf,
    },
    /// No run has this id.
    #[error("failed to find run {id} in {path}")]
    NotFound {
        /// The run id asked for.
        id: u64,
        /// The runs directory.
        path: PathBuf,
    },
    /// A run directory exists but could not be examined.
    #[error("failed to open run directory {path}")]
    OpenRun {
        /// The run directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A run directory could not be listed.
    #[error("failed to list job logs in {path}")]
    ListLogs {
        /// The run directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A job log's metadata or header could not be read.
    #[error("failed to read job log {path}")]
    ReadLog {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The summary could not be serialised.
    #[error("failed to encode run summary {path}")]
    EncodeSummary {
        /// The summary file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The summary could not be written or moved into place.
    #[error("failed to write run summary {path}")]
    WriteSummary {
        /// The file being written (the temporary file or the summary).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The summary could not be read.
    #[error("failed to read run summary {path}")]
    ReadSummary {
        /// The summary file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The summary is not JSON.
    #[error("failed to parse run summary {path}")]
    ParseSummary {
        /// The summary file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// One run's directory, `HOME/runs/RUN_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// The run's id (1 for a state directory's first run).
    pub id: u64,
    /// The directory.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates the next run's directory: its id is one more than the largest existing one (1
    /// for the first). Safe against concurrent sandpit processes: the id is claimed by
    /// `mkdir`, and a process that loses the race looks again and tries a larger id.
    pub fn create(home: &Path) -> Result<RunDir, RunsError> {
        let runs = runs_dir(home);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&runs)
            .map_err(|source| RunsError::CreateRunsDir {
                path: runs.clone(),
                source,
            })?;
        let next = |largest: Option<u64>| match largest {
            None => Ok(1),
            Some(id) => id
                .checked_add(1)
                .ok_or_else(|| RunsError::IdsExhausted { path: runs.clone() }),
        };
        let mut id = next(largest_id(&runs, false)?)?;
        loop {
            let path = runs.join(id.to_string());
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(RunDir { id, path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // Another process took it after we looked. The next try is always larger
                    // than this one, so the loop ends even if the listing lags.
                    id = next(largest_id(&runs, false)?)?.max(next(Some(id))?);
                }
                Err(source) => return Err(RunsError::CreateRun { path, source }),
            }
        }
    }

    /// The run with this id; [`RunsError::NotFound`] if there is none.
    pub fn open(home: &Path, id: u64) -> Result<RunDir, RunsError> {
        let path = runs_dir(home).join(id.to_string());
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(RunDir { id, path }),
            Ok(_) => Err(RunsError::NotFound {
                id,
                path: runs_dir(home),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(RunsError::NotFound {
                id,
                path: runs_dir(home),
            }),
            Err(source) => Err(RunsError::OpenRun { path, source }),
        }
    }

    /// The run with the largest id, or `None` before the first run.
    pub fn latest(home: &Path) -> Result<Option<RunDir>, RunsError> {
        let runs = runs_dir(home);
        Ok(largest_id(&runs, true)?.map(|id| RunDir {
            id,
            path: runs.join(id.to_string()),
        }))
    }

    /// The log file for a job instance. Job names are hostile text (`/`, `..`, NUL, control
    /// characters, huge or empty), so the file name keeps ASCII letters, digits, `.`, `_` and
    /// `-`, writes any other character as `-`, collapses runs of `-`, never starts with `.`
    /// (no hidden files, never `.` or `..`) and is at most 100 bytes before `.log`. When that
    /// changed anything, the leading `-` and `.` and the trailing `-` go and `~` plus 16 hex digits of the
    /// name's SHA-256 follow: `build (ubuntu-latest, 18)` →
    /// `build-ubuntu-latest-18~1f2e….log`. A name kept as it is never contains `~`, so two
    /// names never share a file (short of a 64-bit hash collision between changed names).
    pub fn job_log_path(&self, job: &str) -> PathBuf {
        self.path.join(log_file_name(job))
    }

    /// The job logs of this run as (job name, path), in the order the jobs last wrote to them
    /// (file modification time, then file name): for a finished run, roughly the order the
    /// jobs ended. The name is read back from each log's header; a log whose header is
    /// unreadable (cut short by a crash) is listed under its file name without `.log`.
    pub fn job_logs(&self) -> Result<Vec<(String, PathBuf)>, RunsError> {
        let list_error = |source| RunsError::ListLogs {
            path: self.path.clone(),
            source,
        };
        let mut logs = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(list_error)? {
            let entry = entry.map_err(list_error)?;
            let file_name = entry.file_name();
            let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                continue;
            };
            let path = entry.path();
            let modified = match entry.metadata().and_then(|m| {
                // Only regular files: a directory or symlink named `x.log` is not ours.
                if m.is_file() {
                    m.modified().map(Some)
                } else {
                    Ok(None)
                }
            }) {
                Ok(Some(time)) => time,
                Ok(None) => continue,
                // Removed between the listing and now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RunsError::ReadLog { path, source }),
            };
            let name = match read_job_name(&path) {
                Ok(name) => name.unwrap_or_else(|| stem.to_string()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RunsError::ReadLog { path, source }),
            };
            logs.push((modified, file_name, name, path));
        }
        logs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(logs
            .into_iter()
            .map(|(_, _, name, path)| (name, path))
            .collect())
    }

    /// Writes `run.json` atomically: a temporary file beside it, synced, then renamed over
    /// it, so readers see the old summary or the new one, never part of one.
    pub fn write_summary(&self, summary: &serde_json::Value) -> Result<(), RunsError> {
        // Unique per process and call, so concurrent writers never share a temporary file.
        static NEXT_TMP: AtomicU64 = AtomicU64::new(0);
        let path = self.path.join(SUMMARY);
        let mut text =
            serde_json::to_vec_pretty(summary).map_err(|source| RunsError::EncodeSummary {
                path: path.clone(),
                source,
            })?;
        text.push(b'\n');
        let tmp = self.path.join(format!(
            "{SUMMARY}.tmp.{}.{}",
            std::process::id(),
            NEXT_TMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(&text)?;
                file.sync_data()
            });
        if let Err(source) = written {
            let _ = fs::remove_file(&tmp);
            return Err(RunsError::WriteSummary { path: tmp, source });
        }
        fs::rename(&tmp, &path).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            RunsError::WriteSummary { path, source }
        })
    }

    /// The summary, or `None` when none was written yet.
    pub fn read_summary(&self) -> Result<Option<serde_json::Value>, RunsError> {
        let path = self.path.join(SUMMARY);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RunsError::ReadSummary { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| RunsError::ParseSummary { path, source })
    }
}

fn runs_dir(home: &Path) -> PathBuf {
    home.join("runs")
}

/// The largest run id in `runs` (only directories when `dirs_only`; any entry blocks its id
/// from being created), or `None` when there is none or no `runs` at all.
fn largest_id(runs: &Path, dirs_only: bool) -> Result<Option<u64>, RunsError> {
    let list_error = |source| RunsError::ListRuns {
        path: runs.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(runs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(list_error(e)),
    };
    let mut largest = None;
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        let Some(id) = entry.file_name().to_str().and_then(parse_run_id) else {
            continue;
        };
        if dirs_only && !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        largest = largest.max(Some(id));
    }
    Ok(largest)
}

/// A run id written canonically: decimal digits, no leading zero, not 0.
pub fn parse_run_id(text: &str) -> Option<u64> {
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The job name in a log's header, `None` if the header is missing or malformed.
fn read_job_name(path: &Path) -> io::Result<Option<String>> {
    let mut first = Vec::new();
    BufReader::new(File::open(path)?)
        .take(log::MAX_HEADER_LEN)
        .read_until(b'\n', &mut first)?;
    // A header cut at the length limit (or by a crash) is not trusted to hold the whole name.
    if first.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(log::parse_header(&first))
}

/// The log file name for a job name; see [`RunDir::job_log_path`].
fn log_file_name(job: &str) -> String {
    let mut stem = String::with_capacity(job.len().min(MAX_STEM + 1));
    let mut changed = false;
    for c in job.chars() {
        let kept = c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        // A leading '.' would hide the file, or make it `.` or `..`.
        let c = if kept && !(c == '.' && stem.is_empty()) {
            c
        } else {
            changed = true;
            '-'
        };
        if c == '-' && stem.ends_with('-') {
            changed = true;
            continue;
        }
        stem.push(c);
        if stem.len() > MAX_STEM {
            // Everything after is covered by the hash; no need to walk a huge name.
            changed = true;
            stem.truncate(MAX_STEM);
            break;
        }
    }
    if !changed && !stem.is_empty() {
        return format!("{stem}.log");
    }
    // Trimming '-' may bare a '.', which must not lead either.
    let stem = stem.trim_start_matches(['-', '.']).trim_end_matches('-');
    let stem = if stem.is_empty() { "job" } else { stem };
    let digest = Sha256::digest(job.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}~{hash}.log")
}

#[cfg(test)]
mod tests;
