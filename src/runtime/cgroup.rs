//! Control groups for sandboxes: detection of the host's cgroup layout, creation with resource
//! limits, joining, and teardown.
//!
//! Three layouts exist in the wild and all are handled:
//! - pure cgroup v2 (one unified hierarchy, controllers listed in `cgroup.controllers`);
//! - pure cgroup v1 (one hierarchy per controller or group of co-mounted controllers, e.g.
//!   `cpu,cpuacct`);
//! - hybrid (v1 controller hierarchies plus a cgroup2 mount that usually carries no controllers).
//!
//! Every sandbox cgroup lives at `<hierarchy mount>/<this process's cgroup>/sandpit/<instance>/<name>`,
//! so it works both as root on a bare host and inside a delegated subtree. One exception, on v2:
//! when this process's cgroup holds processes and does not delegate the controllers already
//! (the no-internal-processes rule forbids enabling them), the sandbox cgroups go to
//! `<hierarchy root>/sandpit/<instance>/<name>` instead.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Name of the directory that groups all of sandpit's cgroups inside the caller's own cgroup.
const SANDPIT_DIR: &str = "sandpit";

/// CFS period used for CPU quotas, in microseconds. 100 ms is the kernel default, so quotas read
/// the same as in other tools (`docker --cpus`, systemd's `CPUQuota=`).
const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses CFS quotas below 1 ms.
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// How long `destroy` keeps killing and retrying `rmdir` before giving up.
const DESTROY_BUDGET: Duration = Duration::from_secs(2);

/// Resource limits for one sandbox. `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (swap is limited to the same total where the kernel allows it).
    pub memory_bytes: Option<u64>,
    /// Maximum number of processes and threads.
    pub pids: Option<u64>,
    /// CPU quota in milli-CPUs (1500 = 1.5 CPUs).
    pub cpu_millis: Option<u64>,
}

/// Which cgroup interface the sandboxes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CgroupVersion {
    /// Legacy per-controller hierarchies (also chosen on hybrid hosts).
    V1,
    /// The unified hierarchy.
    V2,
}

/// Errors from cgroup detection and management.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file (mountinfo, `/proc/<pid>/cgroup` or a cgroup control file) could not be read.
    #[error("failed to read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup control file could not be written.
    #[error("failed to write {value:?} to {path}")]
    WriteFile {
        /// The control file.
        path: PathBuf,
        /// What was being written.
        value: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be created.
    #[error("failed to create cgroup {path}")]
    CreateDir {
        /// The cgroup directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("failed to remove cgroup {path}")]
    RemoveDir {
        /// The cgroup directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup stayed busy (tasks still exiting) for the whole teardown budget.
    #[error("cgroup {path} still busy after killing its processes for {waited:?}")]
    StillBusy {
        /// The cgroup directory.
        path: PathBuf,
        /// How long teardown kept trying.
        waited: Duration,
        /// The last `rmdir` error (normally EBUSY).
        #[source]
        source: io::Error,
    },
    /// The child cgroups of a directory could not be listed.
    #[error("failed to list child cgroups of {path}")]
    ListDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A mountinfo line does not have the documented shape.
    #[error("malformed line {line} in {path}: {reason}")]
    MalformedMountinfo {
        /// The mountinfo file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `/proc/<pid>/cgroup` line does not have the shape `id:controllers:path`.
    #[error("malformed line {line} in {path}: {reason}")]
    MalformedProcCgroup {
        /// The `/proc/<pid>/cgroup` file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A v1 hierarchy is mounted but the process's cgroup file has no entry for it.
    #[error("{proc_cgroup} has no entry for the mounted {controller} hierarchy")]
    MissingProcCgroupEntry {
        /// The `/proc/<pid>/cgroup` file.
        proc_cgroup: PathBuf,
        /// The controller whose hierarchy is unaccounted for.
        controller: &'static str,
    },
    /// The process's cgroup is not below the root of any mount of its hierarchy, so its directory
    /// cannot be reached through the file system.
    #[error("this process's {controller} cgroup {cgroup} is not visible under mount {mount_point} (mount root {mount_root})")]
    CgroupOutsideMount {
        /// The controller of the hierarchy.
        controller: &'static str,
        /// The process's cgroup path in that hierarchy.
        cgroup: PathBuf,
        /// Where the hierarchy is mounted.
        mount_point: PathBuf,
        /// The sub-path of the hierarchy that the mount exposes.
        mount_root: PathBuf,
    },
    /// Neither a usable cgroup2 mount nor any v1 hierarchy with memory, pids or cpu was found.
    #[error("no usable cgroup hierarchy (cgroup2 with memory and pids, or v1 memory/pids/cpu) found in {mountinfo}")]
    NoUsableHierarchy {
        /// The mountinfo file that was searched.
        mountinfo: PathBuf,
    },
    /// A limit was requested whose controller is not available on this host.
    #[error(
        "cannot apply the {limit} limit: no cgroup hierarchy carries the {controller} controller"
    )]
    ControllerUnavailable {
        /// The limit that was requested.
        limit: &'static str,
        /// The controller it needs.
        controller: &'static str,
    },
    /// The CPU limit cannot be expressed as a CFS quota.
    #[error("cpu limit of {millis} milli-CPUs is out of range (the kernel needs at least 10, i.e. 1 ms per 100 ms)")]
    InvalidCpuLimit {
        /// The requested limit.
        millis: u64,
    },
    /// A sandbox cgroup name is unusable as a single path component.
    #[error("invalid cgroup name {name:?}: it must be non-empty, not \".\" or \"..\", and contain no '/'")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// An instance name is unusable as a single path component.
    #[error("invalid cgroup instance name {instance:?}: it must be non-empty, not \".\" or \"..\", and contain no '/'")]
    InvalidInstance {
        /// The rejected instance name.
        instance: String,
    },
    /// cgroup v2 refused to delegate controllers because the cgroup holds processes itself.
    #[error(
        "cannot enable controllers in {path}: cgroup v2 forbids a cgroup with processes of its own from \
         delegating controllers to children (no-internal-processes rule); run sandpit from a cgroup whose \
         cgroup.subtree_control already lists memory and pids, or from the root cgroup"
    )]
    NotDelegated {
        /// The `cgroup.subtree_control` file that refused.
        path: PathBuf,
        /// The underlying error (EBUSY).
        #[source]
        source: io::Error,
    },
    /// Enabling controllers in `cgroup.subtree_control` failed for another reason.
    #[error("failed to enable controllers {controllers:?} in {path}")]
    EnableControllers {
        /// The `cgroup.subtree_control` file.
        path: PathBuf,
        /// What was being written.
        controllers: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A process could not be moved into a cgroup.
    #[error("failed to move process {pid} into cgroup {path}")]
    Join {
        /// The process (0 = the caller).
        pid: u32,
        /// The cgroup directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `cgroup.procs` contained something other than a pid.
    #[error("unexpected entry {value:?} in {path}")]
    ParsePid {
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// The offending line.
        value: String,
    },
    /// A process inside a cgroup could not be killed.
    #[error("failed to kill process {pid} in cgroup {path}")]
    Kill {
        /// The process.
        pid: u32,
        /// The cgroup directory it was listed in.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
}

/// The controllers sandpit uses, as carried by one hierarchy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Controllers {
    memory: bool,
    pids: bool,
    cpu: bool,
}

impl Controllers {
    fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Controllers {
        let mut c = Controllers::default();
        for name in names {
            match name {
                "memory" => c.memory = true,
                "pids" => c.pids = true,
                "cpu" => c.cpu = true,
                _ => {}
            }
        }
        c
    }

    fn any(self) -> bool {
        self.memory || self.pids || self.cpu
    }

    fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.memory {
            v.push("memory");
        }
        if self.pids {
            v.push("pids");
        }
        if self.cpu {
            v.push("cpu");
        }
        v
    }
}

/// One hierarchy's share of the roots.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// This process's own cgroup in the hierarchy (the parent of `sandpit/`).
    own: PathBuf,
    /// `<own>/sandpit/<instance>`: the parent of every sandbox cgroup.
    dir: PathBuf,
    controllers: Controllers,
}

/// Where sandpit creates its cgroups: one directory per hierarchy that carries a needed controller
/// (v2: a single directory), each being
/// `<hierarchy mount>/<this process's own cgroup in that hierarchy>/sandpit/<instance>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoots {
    version: CgroupVersion,
    hierarchies: Vec<Hierarchy>,
}

/// One sandbox's cgroup: one directory per hierarchy.
///
/// Serializable so it can be recorded in a state file and reopened later by another process,
/// whose own cgroup may differ from the creator's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    version: CgroupVersion,
    dirs: Vec<PathBuf>,
}

/// One parsed line of `/proc/<pid>/mountinfo`, reduced to what cgroup detection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountEntry {
    /// `major:minor`; equal for every mount of the same cgroup hierarchy.
    device: String,
    root: PathBuf,
    mount_point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

/// One parsed line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProcCgroupEntry {
    hierarchy_id: u32,
    controllers: Vec<String>,
    path: PathBuf,
}

impl CgroupRoots {
    /// Detect the cgroup layout from a mountinfo file (normally `/proc/self/mountinfo`) and a
    /// `/proc/<pid>/cgroup` file.
    ///
    /// cgroup v2 is used when a cgroup2 mount's root `cgroup.controllers` (read from the file
    /// system) lists both `memory` and `pids`; otherwise the v1 hierarchies carrying `memory`,
    /// `pids` and `cpu` are used, each optional. `instance` is a short name (e.g. a hash of the
    /// state directory) so that two state directories never share cgroups.
    pub fn detect(
        mountinfo: &Path,
        proc_cgroup: &Path,
        instance: &str,
    ) -> Result<CgroupRoots, CgroupError> {
        if !is_valid_component(instance) {
            return Err(CgroupError::InvalidInstance {
                instance: instance.to_owned(),
            });
        }
        let mounts = parse_mountinfo(&read_to_string(mountinfo)?, mountinfo)?;
        let cgroups = parse_proc_cgroup(&read_to_string(proc_cgroup)?, proc_cgroup)?;

        let roots = match detect_v2(&mounts, &cgroups, instance)? {
            Some(h) => CgroupRoots {
                version: CgroupVersion::V2,
                hierarchies: vec![h],
            },
            None => {
                let hierarchies = detect_v1(&mounts, &cgroups, proc_cgroup, instance)?;
                if hierarchies.is_empty() {
                    return Err(CgroupError::NoUsableHierarchy {
                        mountinfo: mountinfo.to_owned(),
                    });
                }
                CgroupRoots {
                    version: CgroupVersion::V1,
                    hierarchies,
                }
            }
        };
        tracing::debug!(
            version = ?roots.version,
            roots = ?roots.hierarchies.iter().map(|h| (&h.dir, h.controllers.names())).collect::<Vec<_>>(),
            "detected cgroup layout"
        );
        Ok(roots)
    }

    /// Which cgroup interface the roots use.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The `sandpit/<instance>` directories, one per hierarchy.
    pub fn dirs(&self) -> Vec<&Path> {
        self.hierarchies.iter().map(|h| h.dir.as_path()).collect()
    }

    /// Create the cgroup `name` in every hierarchy and apply `limits`.
    ///
    /// Missing `sandpit/<instance>` parents are created; on v2 the needed controllers are enabled
    /// in `cgroup.subtree_control` from this process's own cgroup downward. A cgroup left over
    /// from a crash is emptied (its processes are killed) and reused, with every limit rewritten.
    /// If anything fails half-way, the directories created by this call are removed again.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        validate_name(name)?;
        self.check_controllers(limits)?;
        // Computed before touching anything so a bad value leaves no directories behind.
        let cpu_quota = limits.cpu_millis.map(cpu_quota_us).transpose()?;

        let mut created: Vec<PathBuf> = Vec::new();
        let mut result = self.create_inner(name, limits, cpu_quota, &mut created);
        // A concurrent `remove_if_empty` (prune) may remove the shared parents between our
        // mkdir of them and of the leaf; they are simply made again.
        for _ in 0..3 {
            match &result {
                Err(CgroupError::CreateDir { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    result = self.create_inner(name, limits, cpu_quota, &mut created);
                }
                _ => break,
            }
        }
        if result.is_err() {
            // Reverse order: leaves before the parents they live in. Parents may legitimately be
            // shared with a concurrent `create`, so failures here are not errors.
            for dir in created.iter().rev() {
                if let Err(e) = fs::remove_dir(dir) {
                    tracing::debug!(dir = %dir.display(), error = %e, "could not remove cgroup during cleanup");
                }
            }
        }
        result
    }

    fn create_inner(
        &self,
        name: &str,
        limits: &Limits,
        cpu_quota: Option<u64>,
        created: &mut Vec<PathBuf>,
    ) -> Result<Cgroup, CgroupError> {
        for h in &self.hierarchies {
            for dir in [h.own.join(SANDPIT_DIR), h.dir.clone()] {
                if make_dir(&dir)? {
                    created.push(dir);
                }
            }
            if self.version == CgroupVersion::V2 {
                enable_controllers(h)?;
            }
        }

        let cgroup = self.get(name);
        let leftover = cgroup.dirs.iter().any(|d| d.is_dir());
        if leftover {
            tracing::debug!(name, "reusing leftover cgroup, killing its processes");
            cgroup.kill_all()?;
        }
        for dir in &cgroup.dirs {
            if make_dir(dir)? {
                created.push(dir.clone());
            }
        }

        for (h, dir) in self.hierarchies.iter().zip(&cgroup.dirs) {
            for w in limit_writes(self.version, h.controllers, limits, cpu_quota) {
                let path = dir.join(w.file);
                if !w.required && !path.exists() {
                    continue;
                }
                write_file(&path, &w.value)?;
            }
        }
        tracing::debug!(name, ?limits, dirs = ?cgroup.dirs, "created cgroup");
        Ok(cgroup)
    }

    fn check_controllers(&self, limits: &Limits) -> Result<(), CgroupError> {
        let available = self
            .hierarchies
            .iter()
            .fold(Controllers::default(), |a, h| Controllers {
                memory: a.memory || h.controllers.memory,
                pids: a.pids || h.controllers.pids,
                cpu: a.cpu || h.controllers.cpu,
            });
        let checks = [
            (limits.memory_bytes.is_some(), available.memory, "memory"),
            (limits.pids.is_some(), available.pids, "pids"),
            (limits.cpu_millis.is_some(), available.cpu, "cpu"),
        ];
        for (requested, present, controller) in checks {
            if requested && !present {
                return Err(CgroupError::ControllerUnavailable {
                    limit: controller,
                    controller,
                });
            }
        }
        Ok(())
    }

    /// Names of the existing child cgroups under the roots (union over hierarchies, sorted), so
    /// that leftovers can be pruned.
    pub fn list(&self) -> Result<Vec<String>, CgroupError> {
        let mut names = BTreeSet::new();
        for h in &self.hierarchies {
            for dir in child_dirs(&h.dir)? {
                if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                    names.insert(name.to_owned());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Handle to the cgroup `name`, without touching the file system.
    ///
    /// `name` should come from [`CgroupRoots::list`] or an earlier [`CgroupRoots::create`]. An
    /// invalid name (one that would escape the roots) yields a handle with no directories, so
    /// that it can never act on anything outside sandpit's cgroups.
    pub fn get(&self, name: &str) -> Cgroup {
        if !is_valid_component(name) {
            tracing::warn!(name, "invalid cgroup name; returning an empty handle");
            return Cgroup::from_dirs(self.version, Vec::new());
        }
        Cgroup::from_dirs(
            self.version,
            self.hierarchies.iter().map(|h| h.dir.join(name)).collect(),
        )
    }

    /// Remove the `sandpit/<instance>` directories (and `sandpit/` itself) if no child cgroups
    /// remain. Directories still in use (ENOTEMPTY, EBUSY) or already gone are left alone.
    pub fn remove_if_empty(&self) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            for dir in [h.dir.clone(), h.own.join(SANDPIT_DIR)] {
                match fs::remove_dir(&dir) {
                    Ok(()) => tracing::debug!(dir = %dir.display(), "removed empty cgroup parent"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ENOTEMPTY | libc::EBUSY | libc::EEXIST)
                        ) =>
                    {
                        // Still in use by another sandbox or instance: nothing more to remove
                        // in this hierarchy.
                        break;
                    }
                    Err(source) => return Err(CgroupError::RemoveDir { path: dir, source }),
                }
            }
        }
        Ok(())
    }
}

impl Cgroup {
    /// A handle from its version and directories (one per hierarchy).
    pub fn from_dirs(version: CgroupVersion, dirs: Vec<PathBuf>) -> Cgroup {
        Cgroup { version, dirs }
    }

    /// The cgroup's directories, one per hierarchy.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Which cgroup interface the directories belong to.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Move `pid` into this cgroup in every hierarchy (pid 0 means the caller).
    pub fn join(&self, pid: u32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            let path = dir.join("cgroup.procs");
            write_raw(&path, &pid.to_string()).map_err(|source| CgroupError::Join {
                pid,
                path: dir.clone(),
                source,
            })?;
        }
        tracing::debug!(pid, dirs = ?self.dirs, "joined cgroup");
        Ok(())
    }

    /// The file whose `oom_kill N` line counts OOM kills: v2 `memory.events`, v1
    /// `memory.oom_control`. `None` if there is no memory controller.
    ///
    /// On v1 the memory hierarchy is recognised by its control file, so this returns `None` once
    /// the cgroup has been destroyed.
    pub fn oom_events_file(&self) -> Option<PathBuf> {
        match self.version {
            // v2 roots are only chosen when the memory controller is available.
            CgroupVersion::V2 => self.dirs.first().map(|d| d.join("memory.events")),
            CgroupVersion::V1 => self
                .dirs
                .iter()
                .map(|d| d.join("memory.oom_control"))
                .find(|f| f.exists()),
        }
    }

    /// Pids currently in the cgroup or its descendants (union over hierarchies, sorted).
    ///
    /// A hierarchy whose directory no longer exists contributes nothing. Processes outside the
    /// caller's pid namespace (listed as 0 by the kernel) are left out.
    pub fn pids(&self) -> Result<Vec<u32>, CgroupError> {
        let mut pids = BTreeSet::new();
        for dir in &self.dirs {
            for d in subtree_postorder(dir)? {
                pids.extend(read_procs(&d)?);
            }
        }
        Ok(pids.into_iter().collect())
    }

    /// SIGKILL everything inside, then remove the directories (descendants first).
    ///
    /// `rmdir` fails with EBUSY while killed tasks are still exiting, so it is retried with a
    /// short backoff for about two seconds, killing again between tries. Idempotent: a missing
    /// directory counts as removed.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(5);
        loop {
            self.kill_all()?;
            let busy = match self.try_remove()? {
                None => {
                    tracing::debug!(dirs = ?self.dirs, "destroyed cgroup");
                    return Ok(());
                }
                Some(busy) => busy,
            };
            let waited = start.elapsed();
            if waited >= DESTROY_BUDGET {
                let (path, source) = busy;
                return Err(CgroupError::StillBusy {
                    path,
                    waited,
                    source,
                });
            }
            thread::sleep(backoff.min(DESTROY_BUDGET - waited));
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    /// Remove every directory bottom-up. Returns the first directory that is still busy, if any.
    fn try_remove(&self) -> Result<Option<(PathBuf, io::Error)>, CgroupError> {
        let mut busy = None;
        for dir in &self.dirs {
            for d in subtree_postorder(dir)? {
                match fs::remove_dir(&d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        if busy.is_none() {
                            busy = Some((d, e));
                        }
                        // Its ancestors cannot go before it does.
                        break;
                    }
                    Err(source) => return Err(CgroupError::RemoveDir { path: d, source }),
                }
            }
        }
        Ok(busy)
    }

    /// SIGKILL every process in the cgroup and its descendants.
    fn kill_all(&self) -> Result<(), CgroupError> {
        let mut killed = BTreeSet::new();
        for dir in &self.dirs {
            if self.version == CgroupVersion::V2 {
                // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, which also
                // catches processes forked while we iterate.
                let kill_file = dir.join("cgroup.kill");
                if kill_file.exists() {
                    match write_raw(&kill_file, "1") {
                        Ok(()) => {
                            tracing::debug!(dir = %dir.display(), "killed cgroup via cgroup.kill");
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(source) => {
                            return Err(CgroupError::WriteFile {
                                path: kill_file,
                                value: "1".to_owned(),
                                source,
                            })
                        }
                    }
                }
            }
            for d in subtree_postorder(dir)? {
                for pid in read_procs(&d)? {
                    // On v1 every process is listed once per hierarchy; one signal is enough.
                    if killed.insert(pid) {
                        kill_pid(pid, &d)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parse the `oom_kill N` counter out of `memory.events` (v2) or `memory.oom_control` (v1).
pub fn parse_oom_kill_count(contents: &str) -> Option<u64> {
    contents.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next()) {
            (Some("oom_kill"), Some(n)) => n.parse().ok(),
            _ => None,
        }
    })
}

fn is_valid_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

fn validate_name(name: &str) -> Result<(), CgroupError> {
    if is_valid_component(name) {
        Ok(())
    } else {
        Err(CgroupError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn cpu_quota_us(millis: u64) -> Result<u64, CgroupError> {
    millis
        .checked_mul(CPU_PERIOD_US)
        .map(|q| q / 1000)
        .filter(|&q| q >= MIN_CPU_QUOTA_US)
        .ok_or(CgroupError::InvalidCpuLimit { millis })
}

/// One control-file write of a limit.
#[derive(Debug, PartialEq, Eq)]
struct LimitWrite {
    file: &'static str,
    value: String,
    /// Whether a missing file is an error. Writes that only reset a leftover cgroup to
    /// "unlimited", or that tighten swap where swap accounting exists, are skipped when the file
    /// is absent.
    required: bool,
}

/// The writes, in order, that apply `limits` to a cgroup in a hierarchy carrying `controllers`.
fn limit_writes(
    version: CgroupVersion,
    controllers: Controllers,
    limits: &Limits,
    cpu_quota: Option<u64>,
) -> Vec<LimitWrite> {
    let w = |file, value: String, required| LimitWrite {
        file,
        value,
        required,
    };
    let mut out = Vec::new();
    match version {
        CgroupVersion::V2 => {
            if controllers.memory {
                match limits.memory_bytes {
                    Some(b) => {
                        out.push(w("memory.max", b.to_string(), true));
                        out.push(w("memory.swap.max", "0".into(), false));
                    }
                    None => {
                        out.push(w("memory.max", "max".into(), false));
                        out.push(w("memory.swap.max", "max".into(), false));
                    }
                }
            }
            if controllers.pids {
                out.push(match limits.pids {
                    Some(n) => w("pids.max", n.to_string(), true),
                    None => w("pids.max", "max".into(), false),
                });
            }
            if controllers.cpu {
                out.push(match cpu_quota {
                    Some(q) => w("cpu.max", format!("{q} {CPU_PERIOD_US}"), true),
                    None => w("cpu.max", format!("max {CPU_PERIOD_US}"), false),
                });
            }
        }
        CgroupVersion::V1 => {
            if controllers.memory {
                // The kernel insists memsw >= limit at every step, so lift memsw first; then it
                // can follow the new limit down or up.
                out.push(w("memory.memsw.limit_in_bytes", "-1".into(), false));
                match limits.memory_bytes {
                    Some(b) => {
                        out.push(w("memory.limit_in_bytes", b.to_string(), true));
                        out.push(w("memory.memsw.limit_in_bytes", b.to_string(), false));
                    }
                    None => out.push(w("memory.limit_in_bytes", "-1".into(), false)),
                }
            }
            if controllers.pids {
                out.push(match limits.pids {
                    Some(n) => w("pids.max", n.to_string(), true),
                    None => w("pids.max", "max".into(), false),
                });
            }
            if controllers.cpu {
                let required = cpu_quota.is_some();
                out.push(w("cpu.cfs_period_us", CPU_PERIOD_US.to_string(), required));
                out.push(match cpu_quota {
                    Some(q) => w("cpu.cfs_quota_us", q.to_string(), true),
                    None => w("cpu.cfs_quota_us", "-1".into(), false),
                });
            }
        }
    }
    out
}

/// Enable the hierarchy's controllers in `cgroup.subtree_control` of this process's cgroup,
/// `sandpit/` and `sandpit/<instance>`, so that sandbox cgroups get them.
fn enable_controllers(h: &Hierarchy) -> Result<(), CgroupError> {
    let sandpit = h.own.join(SANDPIT_DIR);
    for parent in [&h.own, &sandpit, &h.dir] {
        let path = parent.join("cgroup.subtree_control");
        let current = read_to_string(&path)?;
        let enabled: BTreeSet<&str> = current.split_whitespace().collect();
        let missing: Vec<String> = h
            .controllers
            .names()
            .into_iter()
            .filter(|c| !enabled.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let value = missing.join(" ");
        tracing::debug!(path = %path.display(), %value, "enabling cgroup controllers");
        write_raw(&path, &value).map_err(|source| subtree_control_error(path, value, source))?;
    }
    Ok(())
}

fn subtree_control_error(path: PathBuf, controllers: String, source: io::Error) -> CgroupError {
    if source.raw_os_error() == Some(libc::EBUSY) {
        CgroupError::NotDelegated { path, source }
    } else {
        CgroupError::EnableControllers {
            path,
            controllers,
            source,
        }
    }
}

/// Pick the first cgroup2 mount that exposes this process's cgroup and whose root cgroup offers
/// both memory and pids.
fn detect_v2(
    mounts: &[MountEntry],
    cgroups: &[ProcCgroupEntry],
    instance: &str,
) -> Result<Option<Hierarchy>, CgroupError> {
    let Some(own) = cgroups
        .iter()
        .find(|c| c.hierarchy_id == 0 && c.controllers.is_empty())
    else {
        return Ok(None);
    };
    for m in mounts.iter().filter(|m| m.fstype == "cgroup2") {
        let Some(rel) = relative_to_root(&own.path, &m.root) else {
            tracing::debug!(mount = %m.mount_point.display(), "cgroup2 mount does not expose our cgroup");
            continue;
        };
        let controllers_file = m.mount_point.join("cgroup.controllers");
        let available = match fs::read_to_string(&controllers_file) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(CgroupError::ReadFile {
                    path: controllers_file,
                    source,
                })
            }
        };
        let controllers = Controllers::from_names(available.split_whitespace());
        if controllers.memory && controllers.pids {
            let mut own_dir = own_dir(&m.mount_point, &rel);
            if !can_delegate(&own_dir, controllers) {
                // v2's no-internal-processes rule: a cgroup holding processes (ours, say a
                // shell's or a service's) cannot hand controllers to children. Go next to it,
                // under the hierarchy's root, as container engines with the cgroupfs driver do.
                tracing::debug!(own = %own_dir.display(), "own cgroup cannot delegate; using the hierarchy root");
                own_dir = m.mount_point.clone();
            }
            let dir = own_dir.join(SANDPIT_DIR).join(instance);
            return Ok(Some(Hierarchy {
                own: own_dir,
                dir,
                controllers,
            }));
        }
        tracing::debug!(
            mount = %m.mount_point.display(),
            available = available.trim(),
            "cgroup2 mount lacks memory or pids; not using v2"
        );
    }
    Ok(None)
}

/// Whether cgroup `dir` can give `controllers` to child cgroups: it already does, or it holds no
/// process (so enabling them is allowed). The hierarchy root is exempt from the rule but is
/// never passed here as "own" unless the caller lives there, in which case it already delegates
/// or has no internal-process restriction.
fn can_delegate(dir: &Path, controllers: Controllers) -> bool {
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
    if controllers.names().iter().all(|c| enabled.contains(c)) {
        return true;
    }
    let is_root = !dir.join("cgroup.type").exists();
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    is_root || procs.trim().is_empty()
}

/// Collect the v1 hierarchies carrying memory, pids or cpu, one entry per hierarchy even when it
/// is mounted several times.
fn detect_v1(
    mounts: &[MountEntry],
    cgroups: &[ProcCgroupEntry],
    proc_cgroup: &Path,
    instance: &str,
) -> Result<Vec<Hierarchy>, CgroupError> {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    let mut seen_devices: Vec<&str> = Vec::new();
    let mut unreachable: Vec<(&str, CgroupError)> = Vec::new();
    for m in mounts.iter().filter(|m| m.fstype == "cgroup") {
        let controllers = Controllers::from_names(m.super_options.iter().map(String::as_str));
        if !controllers.any() || seen_devices.contains(&m.device.as_str()) {
            continue;
        }
        let Some(&first) = controllers.names().first() else {
            continue;
        };
        let entry = cgroups
            .iter()
            .find(|c| c.controllers.iter().any(|n| n == first))
            .ok_or_else(|| CgroupError::MissingProcCgroupEntry {
                proc_cgroup: proc_cgroup.to_owned(),
                controller: first,
            })?;
        let Some(rel) = relative_to_root(&entry.path, &m.root) else {
            // Another mount of the same hierarchy may still expose it.
            unreachable.push((
                &m.device,
                CgroupError::CgroupOutsideMount {
                    controller: first,
                    cgroup: entry.path.clone(),
                    mount_point: m.mount_point.clone(),
                    mount_root: m.root.clone(),
                },
            ));
            continue;
        };
        seen_devices.push(&m.device);
        let own = own_dir(&m.mount_point, &rel);
        let dir = own.join(SANDPIT_DIR).join(instance);
        hierarchies.push(Hierarchy {
            own,
            dir,
            controllers,
        });
    }
    // A hierarchy that no mount exposes would silently lose its limits, so that is an error.
    if let Some((_, e)) = unreachable
        .into_iter()
        .find(|(device, _)| !seen_devices.contains(device))
    {
        return Err(e);
    }
    Ok(hierarchies)
}

/// The process's own cgroup directory under a mount: the mount point plus the part of the cgroup
/// path below the mount's root.
fn own_dir(mount_point: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        // Avoid a trailing '/' in paths shown in logs and errors.
        mount_point.to_owned()
    } else {
        mount_point.join(rel)
    }
}

/// The part of `cgroup` (a path relative to the hierarchy root, as in `/proc/<pid>/cgroup`) below
/// a mount whose root is `root`; `None` if the mount does not expose it.
fn relative_to_root(cgroup: &Path, root: &Path) -> Option<PathBuf> {
    cgroup.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// Parse `/proc/<pid>/mountinfo` (see proc(5)):
/// `id parent major:minor root mount-point options [optional...] - fstype source super-options`.
fn parse_mountinfo(contents: &str, path: &Path) -> Result<Vec<MountEntry>, CgroupError> {
    let mut mounts = Vec::new();
    for (i, line) in contents.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |reason| CgroupError::MalformedMountinfo {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 6 {
            return Err(malformed("fewer than six fields before the separator"));
        }
        // Optional fields (shared:N, master:N, ...) vary in number, so the separator is found by
        // value, and only after the six fixed fields.
        let sep = fields
            .iter()
            .skip(6)
            .position(|f| *f == "-")
            .map(|p| p + 6)
            .ok_or_else(|| malformed("missing ' - ' separator"))?;
        let after = &fields[sep + 1..];
        let (fstype, super_options) = match after {
            [fstype, _source, super_options, ..] => (*fstype, *super_options),
            [fstype, _source] => (*fstype, ""),
            _ => {
                return Err(malformed(
                    "missing filesystem type or source after separator",
                ))
            }
        };
        mounts.push(MountEntry {
            device: fields[2].to_owned(),
            root: unescape_octal(fields[3]),
            mount_point: unescape_octal(fields[4]),
            fstype: fstype.to_owned(),
            super_options: super_options.split(',').map(str::to_owned).collect(),
        });
    }
    Ok(mounts)
}

/// Undo the kernel's `\NNN` octal escaping of space, tab, newline and backslash in mountinfo paths.
fn unescape_octal(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(value) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Parse `/proc/<pid>/cgroup`: `hierarchy-id:controller-list:path` per line.
fn parse_proc_cgroup(contents: &str, path: &Path) -> Result<Vec<ProcCgroupEntry>, CgroupError> {
    let mut entries = Vec::new();
    for (i, line) in contents.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |reason| CgroupError::MalformedProcCgroup {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        // The path is last and may itself contain ':', so split only twice.
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(cgroup)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected id:controllers:path"));
        };
        let hierarchy_id = id
            .parse()
            .map_err(|_| malformed("hierarchy id is not a number"))?;
        if !cgroup.starts_with('/') {
            return Err(malformed("cgroup path is not absolute"));
        }
        entries.push(ProcCgroupEntry {
            hierarchy_id,
            controllers: controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            path: PathBuf::from(cgroup),
        });
    }
    Ok(entries)
}

fn read_to_string(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// Write a control file with a single `write(2)`, as cgroupfs parses each write on its own.
/// The file is never created: a missing control file means a missing controller.
fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    tracing::debug!(path = %path.display(), value, "writing cgroup limit");
    write_raw(path, value).map_err(|source| CgroupError::WriteFile {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    })
}

/// Create one directory; `Ok(true)` if this call created it.
fn make_dir(path: &Path) -> Result<bool, CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::CreateDir {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Child cgroups (subdirectories) of `dir`; none if `dir` does not exist.
fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let list_err = |source| CgroupError::ListDir {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(list_err(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(list_err)?;
        if entry.file_type().map_err(list_err)?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// `dir` and all its descendant cgroups, children before parents (the order `rmdir` needs).
fn subtree_postorder(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = Vec::new();
    collect_postorder(dir, &mut out)?;
    Ok(out)
}

fn collect_postorder(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for child in child_dirs(dir)? {
        collect_postorder(&child, out)?;
    }
    out.push(dir.to_owned());
    Ok(())
}

/// Pids listed in `<dir>/cgroup.procs`; empty if the cgroup is gone.
fn read_procs(dir: &Path) -> Result<Vec<u32>, CgroupError> {
    let path = dir.join("cgroup.procs");
    let contents = match fs::read_to_string(&path) {
        Ok(s) => s,
        // ENODEV: the cgroup was removed between listing and reading.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV) => {
            return Ok(Vec::new())
        }
        Err(source) => return Err(CgroupError::ReadFile { path, source }),
    };
    let mut pids = Vec::new();
    for line in contents.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let pid: u32 = line.parse().map_err(|_| CgroupError::ParsePid {
            path: path.clone(),
            value: line.to_owned(),
        })?;
        // The kernel shows 0 for tasks outside the reader's pid namespace.
        if pid != 0 {
            pids.push(pid);
        }
    }
    Ok(pids)
}

fn kill_pid(pid: u32, dir: &Path) -> Result<(), CgroupError> {
    // kill(2) with 0 or a negative pid signals whole process groups, so only ever pass a
    // positive pid.
    let Ok(raw) = i32::try_from(pid) else {
        return Ok(());
    };
    if raw <= 0 {
        return Ok(());
    }
    match kill(Pid::from_raw(raw), Signal::SIGKILL) {
        Ok(()) => {
            tracing::debug!(pid, dir = %dir.display(), "killed process in cgroup");
            Ok(())
        }
        Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(CgroupError::Kill {
            pid,
            path: dir.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
