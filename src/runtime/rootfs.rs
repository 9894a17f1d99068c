//! Builds a sandbox's root filesystem and pivots into it.
//!
//! The privileged sequence is first computed as data by [`plan`], which is pure apart from
//! looking at the host's system directories, and then executed by [`apply`], one syscall (or a
//! tiny group of them) per [`Step`]. Keeping the two apart lets the whole layout be unit-tested
//! without root, and makes the order of operations readable top to bottom.
//!
//! The resulting root is a tmpfs holding:
//! - the host's system directories (`/usr`, `/etc`, …) as overlays whose writable layer lives on
//!   a scratch tmpfs, so a job can `apt-get install` and the changes vanish with the sandbox;
//!   merged-`/usr` symlinks (`/bin -> usr/bin`) are recreated as symlinks;
//! - a fresh `/proc` with the dangerous entries masked, a minimal `/dev`, tmpfs `/tmp`, `/run`
//!   and `/dev/shm`, empty `/root`, `/home`, `/var/tmp`, `/mnt` and `/sys`;
//! - the job's workspace at `/workspace` (a directory of the sandbox's state bound read-write,
//!   or a host directory shown copy-on-write through an overlay whose writable layer is on disk
//!   in the sandbox's state, its lower layer idmapped so that a user's tree appears root's, see
//!   [`Workspace`]) and any explicitly requested extra bind mounts.
//!
//! Nothing else of the host is reachable once the old root is detached.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use super::sys;

/// Host directories that make up the operating system a job runs on. Each one that exists on the
/// host is either recreated as the same symlink (merged `/usr`) or overlaid copy-on-write.
const SYSTEM_DIRS: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
];

/// Top-level sandbox paths under which no extra mount may go: they hold kernel interfaces that
/// are deliberately restricted (or, for `.oldroot`, the pivot's scratch point).
const KERNEL_DIRS: &[&str] = &["proc", "dev", "sys", OLD_ROOT];

/// Where the workspace appears inside the sandbox.
const WORKSPACE: &str = "workspace";

/// Mount point, on the scratch tmpfs, of the idmapped copy of a workspace's host directory.
const WORKSPACE_LOWER: &str = "workspace-lower";

/// Directory, relative to the new root, on which the host's root is parked during the pivot.
const OLD_ROOT: &str = ".oldroot";

/// `/proc` files that leak host information or act on the whole machine (`sysrq-trigger` can
/// reboot it even without capabilities); each is replaced by `/dev/null`.
const MASKED_PROC_FILES: &[&str] = &[
    "kcore",
    "sysrq-trigger",
    "timer_list",
    "keys",
    "latency_stats",
    "sched_debug",
];

/// `/proc` directories exposing hardware control; each is covered by an empty read-only tmpfs.
const MASKED_PROC_DIRS: &[&str] = &["acpi", "scsi"];

/// `/proc` subtrees that programs legitimately read but must never write (sysctls, IRQ
/// affinity, device and filesystem tunables).
const READ_ONLY_PROC_DIRS: &[&str] = &["sys", "irq", "bus", "fs"];

/// The character devices a sandbox gets: `(name, major, minor)`, all mode 0666.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Longest hostname the kernel accepts (`HOST_NAME_MAX`).
const HOST_NAME_MAX: usize = 64;

/// What a sandbox's root filesystem is built from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RootfsSpec {
    /// Empty host directory on which the new root (a tmpfs) is mounted, e.g.
    /// `<state>/sandboxes/<id>/root`.
    pub root: PathBuf,
    /// Empty host directory where a tmpfs holding the overlay upper/work dirs is mounted (writes
    /// to /usr, /etc… land there and vanish with the sandbox).
    pub scratch: PathBuf,
    /// What /workspace shows (persists across sandbox sleeps).
    pub workspace: Workspace,
    /// Name written to the sandbox's `/etc/hostname` and `/etc/hosts`.
    pub hostname: String,
    /// Extra host paths, only by explicit option.
    pub mounts: Vec<BindMount>,
    /// Host files and directories under `/etc` that only root may read (see
    /// [`find_host_secrets`]); hidden inside, since commands are the host's uid 0.
    #[serde(default)]
    pub hidden: Vec<HiddenPath>,
}

/// What a sandbox's `/workspace` is made of. Either way it is mounted nosuid and nodev, and its
/// contents live on disk in the sandbox's state directory (not on the scratch tmpfs: build
/// outputs can be large), so they survive the sandbox's sleeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Workspace {
    /// A directory of the sandbox's state (empty at first), bound read-write.
    Bind {
        /// The directory, e.g. `<state>/sandboxes/<id>/workspace`.
        dir: PathBuf,
    },
    /// A host directory shown copy-on-write: the sandbox sees every file of `lower` (with its
    /// host mode and, unless `idmap` says otherwise, its host owner) and may change what those
    /// allow; the changes land in `upper` and `lower` is never written. Costs one mount (two
    /// with `idmap`) whatever the size of the tree.
    Overlay {
        /// The host directory shown (absolute, normalized; never written).
        lower: PathBuf,
        /// Receives the sandbox's writes, e.g. `<state>/sandboxes/<id>/workspace-upper`.
        upper: PathBuf,
        /// overlayfs' private work directory, on the same filesystem as `upper`, e.g.
        /// `<state>/sandboxes/<id>/workspace-work`.
        work: PathBuf,
        /// The owner of `lower` when it is not root (see [`workspace_idmap`]): the lower layer is
        /// then seen through an idmapped mount showing that owner as root, so that commands
        /// (uid 0 without capabilities) may change the tree as its owner could.
        #[serde(default)]
        idmap: Option<IdMap>,
    },
}

/// Host ids shown as root through an idmapped mount (see [`Step::IdmappedBind`]): its user
/// namespace has the single mappings `uid 0 1` and `gid 0 1` (an idmapped mount takes a
/// file's on-disk owner as an id inside the namespace and shows the id it maps to outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    /// Host uid that appears as uid 0.
    pub uid: u32,
    /// Host gid that appears as gid 0.
    pub gid: u32,
}

impl IdMap {
    /// The mapping that shows a tree owned by `uid`:`gid` as root's; `None` when it already is.
    pub fn owner_to_root(uid: u32, gid: u32) -> Option<IdMap> {
        (uid != 0 || gid != 0).then_some(IdMap { uid, gid })
    }
}

impl Workspace {
    /// The directories of the sandbox's own state it uses (the runtime creates them and destroy
    /// removes them); an overlay's lower directory is not one of them.
    pub fn state_dirs(&self) -> Vec<&Path> {
        match self {
            Workspace::Bind { dir } => vec![dir],
            Workspace::Overlay { upper, work, .. } => vec![upper, work],
        }
    }
}

/// A host path under `/etc` that is not world-readable, relative to the host root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HiddenPath {
    /// A file: whited out of the sandbox's `/etc` layer (password files are kept, without
    /// their hashes).
    File(PathBuf),
    /// A directory: covered by an empty read-only tmpfs.
    Dir(PathBuf),
}

/// Most entries [`find_host_secrets`] looks at: /etc holds about a thousand on a Debian host;
/// the cap only bounds a pathological one.
const MAX_ETC_ENTRIES: usize = 100_000;

/// The files and directories under `host_root/etc` that other users may not read: TLS private
/// keys, SSH host keys, password hashes, database and VPN credentials. Jobs run as uid 0 over the
/// host's `/etc`, so they would own these. Symlinks are not followed; an unreadable directory
/// is hidden whole and not walked. Called once per process (about a millisecond), not per
/// sandbox.
pub fn find_host_secrets(host_root: &Path) -> Vec<HiddenPath> {
    let mut hidden = Vec::new();
    let mut pending = vec![PathBuf::from("etc")];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(host_root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ETC_ENTRIES {
                return hidden;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let relative = dir.join(entry.file_name());
            let others = meta.permissions().mode() & 0o007;
            if meta.is_dir() {
                if others & 0o005 == 0o005 {
                    pending.push(relative);
                } else {
                    hidden.push(HiddenPath::Dir(relative));
                }
            } else if meta.is_file() && others & 0o004 == 0 {
                hidden.push(HiddenPath::File(relative));
            }
        }
    }
    hidden.sort_by(|a, b| hidden_path(a).cmp(hidden_path(b)));
    hidden
}

fn hidden_path(hidden: &HiddenPath) -> &Path {
    match hidden {
        HiddenPath::File(path) | HiddenPath::Dir(path) => path,
    }
}

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    /// Absolute host path (file or directory) to expose.
    pub host: PathBuf,
    /// Absolute, normalized path inside the sandbox where it appears.
    pub sandbox: PathBuf,
    /// Whether the sandbox sees it (and everything mounted below it) read-only.
    pub read_only: bool,
}

/// Per-mount flags added to an existing mount; flags the mount already has are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restrictions {
    /// Refuse all writes.
    pub read_only: bool,
    /// Ignore setuid/setgid bits and file capabilities.
    pub nosuid: bool,
    /// Refuse to open device nodes.
    pub nodev: bool,
    /// Refuse to execute files.
    pub noexec: bool,
}

/// Whether an extra mount's mount point is a directory or a (possibly empty) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPointKind {
    /// The source is a directory.
    Dir,
    /// The source is anything else (regular file, socket, …); bind mounts need a non-directory.
    File,
}

/// How a `/proc` entry is neutralised by [`Step::Mask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masking {
    /// Bind this character device (the sandbox's own `/dev/null`) over the file.
    NullDevice(PathBuf),
    /// Cover the directory with an empty, read-only tmpfs.
    EmptyDir,
    /// Bind the entry onto itself and make that mount read-only, nosuid, nodev and noexec.
    ReadOnly,
}

/// One step of the privileged sequence. Each variant maps to one syscall (or a tiny group) with
/// its own error. Paths are host paths as seen before the pivot unless stated otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make every mount in this namespace private, recursively, so nothing mounted afterwards
    /// propagates back to the host.
    MakeRootPrivate,
    /// Mount a new tmpfs.
    Tmpfs {
        /// Mount point.
        target: PathBuf,
        /// Mount flags (`MS_NOSUID`, …).
        flags: MsFlags,
        /// tmpfs options, e.g. `mode=0755`.
        data: String,
    },
    /// Mount an overlay of a host directory (never written) with a writable layer: on the
    /// scratch tmpfs for system directories, on disk for a copy-on-write workspace.
    Overlay {
        /// Host directory seen through the overlay.
        lower: PathBuf,
        /// Directory receiving the writes.
        upper: PathBuf,
        /// overlayfs' private work directory, on the same filesystem as `upper`.
        work: PathBuf,
        /// Mount point.
        target: PathBuf,
        /// The upper layer outlives this mount and is mounted again, after a sleep, over a
        /// lower directory that may have changed meanwhile: the overlayfs features that record
        /// facts about the lower layer in the upper one (`redirect_dir`, `index`, `metacopy`,
        /// `xino`) are turned off, as the kernel requires for changing the lower layer between
        /// mounts.
        persistent: bool,
    },
    /// Mount a copy of `from`'s mount (not of those below it) on `target` through an idmapped
    /// mount whose user namespace maps host `idmap.uid` and `idmap.gid` to 0, so the tree appears
    /// owned by root; other owners appear as the overflow id (65534). It serves as the lower
    /// layer of a copy-on-write workspace owned by a user. Where the kernel or the filesystem
    /// does not do idmapped mounts, the copy is mounted unmapped and a warning logged: the
    /// sandbox starts, and sees the host's owners.
    IdmappedBind {
        /// Host directory.
        from: PathBuf,
        /// Mount point, on the scratch tmpfs.
        target: PathBuf,
        /// The host ids shown as root.
        idmap: IdMap,
    },
    /// Bind-mount `from` on `target`.
    Bind {
        /// Existing file or directory.
        from: PathBuf,
        /// Mount point (same kind as `from`).
        target: PathBuf,
        /// Also bind everything mounted below `from`.
        recursive: bool,
    },
    /// Add restrictions to the mount at `target` (and, if `recursive`, to every mount below it),
    /// keeping the flags it already has.
    Restrict {
        /// Mount point.
        target: PathBuf,
        /// Flags to add.
        restrictions: Restrictions,
        /// Also apply to submounts.
        recursive: bool,
    },
    /// Mount a fresh procfs (nosuid, nodev, noexec) showing this pid namespace.
    Proc {
        /// Mount point.
        target: PathBuf,
    },
    /// Mount a private devpts instance, so the sandbox sees only its own ptys.
    Devpts {
        /// Mount point.
        target: PathBuf,
    },
    /// Neutralise a `/proc` entry. Skipped when the running kernel has no such entry, since
    /// there is then nothing to protect.
    Mask {
        /// Entry under the freshly mounted procfs.
        path: PathBuf,
        /// How to neutralise it.
        how: Masking,
    },
    /// Create a character device node.
    CharDevice {
        /// Node to create.
        path: PathBuf,
        /// Device major number.
        major: u64,
        /// Device minor number.
        minor: u64,
        /// Permission bits.
        mode: u32,
    },
    /// Create a directory with exactly these permission bits; it must not exist yet.
    MkDir {
        /// Directory to create.
        path: PathBuf,
        /// Permission bits (sticky bit included).
        mode: u32,
    },
    /// Create the mount point of an extra mount below `root`, creating missing parents (0755) and
    /// refusing to traverse symlinks, which could lead outside the new root.
    MountPoint {
        /// The new root.
        root: PathBuf,
        /// Relative path of the mount point below `root`.
        path: PathBuf,
        /// Directory or file.
        kind: MountPointKind,
    },
    /// Create a symlink.
    Symlink {
        /// What the link points to (interpreted inside the sandbox).
        target: PathBuf,
        /// Link to create.
        link: PathBuf,
    },
    /// Replace a file below `root` with new contents, refusing to follow symlinks (a lower
    /// layer's absolute symlink would otherwise resolve on the host).
    WriteFile {
        /// The new root.
        root: PathBuf,
        /// Relative path of the file below `root`; its parent must exist.
        path: PathBuf,
        /// New contents.
        contents: String,
        /// Permission bits.
        mode: u32,
    },
    /// Remove `root/path` (a file of an overlay's lower layer: this leaves a whiteout in the
    /// upper layer, the host's file is untouched), walking `path` without following symlinks.
    RemoveFile {
        /// The new root.
        root: PathBuf,
        /// Relative path of the file below `root`.
        path: PathBuf,
    },
    /// Make `new_root` the root (its `.oldroot` directory must exist), `chdir("/")`, then detach
    /// and remove the old root.
    PivotRoot {
        /// The new root, a mount point.
        new_root: PathBuf,
    },
}

/// What is wrong with a path given to [`plan`] or [`validate_mount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// It is relative.
    NotAbsolute,
    /// It contains `.`, `..`, `//` or a trailing `/`.
    NotNormalized,
    /// It is `/`.
    Root,
    /// It is inside `/proc`, `/dev`, `/sys` or the pivot's `/.oldroot`.
    KernelDir,
    /// It would replace a whole system directory (`/usr`, `/etc`, …).
    SystemDir,
    /// It would replace `/workspace`.
    Workspace,
    /// Two of the sandbox's own directories (root, scratch, workspace), or one of them and the
    /// host directory shown at `/workspace`, are nested.
    Overlap,
    /// It contains sandpit's state directory or lies inside it (the sandbox would see agent
    /// sockets and records).
    StateDir,
}

impl std::fmt::Display for PathProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "it must be absolute",
            Self::NotNormalized => "it must be normalized (no `.`, `..`, `//` or trailing `/`)",
            Self::Root => "it must not be /",
            Self::KernelDir => "it must not be inside /proc, /dev, /sys or /.oldroot",
            Self::SystemDir => "it must not replace a system directory",
            Self::Workspace => "it must not replace /workspace",
            Self::Overlap => {
                "it must not be nested with another of the sandbox's directories (root, scratch, \
                 workspace)"
            }
            Self::StateDir => "it must neither contain nor lie inside sandpit's state directory",
        })
    }
}

/// Why a root filesystem could not be planned or built.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A path of the spec itself (root, scratch or workspace) is unusable.
    #[error("sandbox directory {path:?} is invalid: {reason}")]
    InvalidSpecPath {
        /// The offending path.
        path: PathBuf,
        /// What is wrong with it.
        reason: PathProblem,
    },
    /// The hostname could end up anywhere in `/etc/hosts`, so it is restricted.
    #[error("invalid hostname {hostname:?}: expected 1 to 64 ASCII letters, digits, '-' or '.'")]
    InvalidHostname {
        /// The offending hostname.
        hostname: String,
    },
    /// An extra mount's sandbox path is refused.
    #[error("invalid sandbox path {path:?} for an extra mount: {reason}")]
    InvalidMountPath {
        /// The offending sandbox path.
        path: PathBuf,
        /// What is wrong with it.
        reason: PathProblem,
    },
    /// An extra mount's host path is refused.
    #[error("invalid host path {path:?} for an extra mount: {reason}")]
    InvalidMountSource {
        /// The offending host path.
        path: PathBuf,
        /// What is wrong with it.
        reason: PathProblem,
    },
    /// An extra mount's host path cannot be inspected (usually: it does not exist).
    #[error("cannot inspect host path {} of an extra mount", path.display())]
    MountSource {
        /// The host path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Two extra mounts are the same or nested; nesting would create mount points inside a
    /// host directory.
    #[error("extra mount at {} overlaps another extra mount", path.display())]
    MountConflict {
        /// The sandbox path of the later of the two mounts.
        path: PathBuf,
    },
    /// A host system directory cannot be inspected.
    #[error("cannot inspect host system directory {}", path.display())]
    HostRoot {
        /// The host directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The host directory shown at `/workspace` is refused.
    #[error("invalid host directory {path:?} for /workspace: {reason}")]
    InvalidWorkspaceSource {
        /// The offending host path.
        path: PathBuf,
        /// What is wrong with it.
        reason: PathProblem,
    },
    /// The host directory shown at `/workspace` cannot be inspected or is not a directory.
    #[error("cannot use host directory {} for /workspace", path.display())]
    WorkspaceSource {
        /// The host path.
        path: PathBuf,
        /// The underlying error (`NotFound`, `NotADirectory`, …).
        #[source]
        source: io::Error,
    },
    /// overlayfs splits its options on `,` and its layers on `:`, and `\` escapes them.
    #[error("path {path:?} cannot be passed to overlayfs: it contains ',', ':' or '\\'")]
    OverlayPath {
        /// The offending path.
        path: PathBuf,
    },
    /// `mount(MS_REC | MS_PRIVATE)` on `/` failed.
    #[error("failed to make the mount tree private")]
    MakeRootPrivate(#[source] Errno),
    /// A tmpfs mount failed.
    #[error("failed to mount tmpfs on {}", target.display())]
    Tmpfs {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// An overlay mount failed.
    #[error("failed to mount overlay on {}", target.display())]
    Overlay {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Copying the mount of a workspace's host directory (`open_tree(2)`) failed.
    #[error("failed to clone the mount of {}", path.display())]
    CloneMount {
        /// The host directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Idmapping that copy failed otherwise than for lack of support (which falls back to the
    /// unmapped copy).
    #[error("failed to idmap the mount of {}", path.display())]
    IdmapMount {
        /// The host directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Attaching that copy (`move_mount(2)`) failed.
    #[error("failed to attach a mount on {}", target.display())]
    MoveMount {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// A bind mount failed (the step's `from` is not kept, to keep this error small).
    #[error("failed to bind-mount onto {}", target.display())]
    Bind {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Adding restrictions to a mount failed.
    #[error("failed to restrict the mount on {}", target.display())]
    Restrict {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// The procfs mount failed.
    #[error("failed to mount proc on {}", target.display())]
    Proc {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// The devpts mount failed.
    #[error("failed to mount devpts on {}", target.display())]
    Devpts {
        /// Mount point.
        target: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Masking a `/proc` entry failed.
    #[error("failed to mask {}", path.display())]
    Mask {
        /// The `/proc` entry.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Creating a device node failed.
    #[error("failed to create device node {}", path.display())]
    CharDevice {
        /// Node path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Creating a directory failed.
    #[error("failed to create directory {}", path.display())]
    MkDir {
        /// Directory path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Creating an extra mount's mount point failed.
    #[error("failed to create mount point {}", path.display())]
    MountPoint {
        /// The mount point (new root joined with the relative path).
        path: PathBuf,
        /// The underlying error (`ELOOP`/`ENOTDIR`: a component is a symlink).
        #[source]
        source: io::Error,
    },
    /// Creating a symlink failed.
    #[error("failed to create symlink {}", link.display())]
    Symlink {
        /// Link path.
        link: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing a file failed.
    #[error("failed to write {}", path.display())]
    WriteFile {
        /// The file (new root joined with the relative path).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A host secret could not be removed from the sandbox's view.
    #[error("failed to remove {}", path.display())]
    RemoveFile {
        /// The file (new root joined with the relative path).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `pivot_root(2)` or the `chdir("/")` after it failed.
    #[error("failed to pivot into {}", new_root.display())]
    PivotRoot {
        /// The new root.
        new_root: PathBuf,
        /// The underlying error.
        #[source]
        source: Errno,
    },
    /// Unmounting or removing the old root after the pivot failed.
    #[error("failed to detach the old root")]
    DetachOldRoot(#[source] Errno),
}

/// Computes the steps building the sandbox root described by `spec`.
///
/// Pure apart from reading `host_root` (normally `/`) to see which system directories exist and
/// which are symlinks, and inspecting the host paths of extra mounts. Needs no privilege.
pub fn plan(spec: &RootfsSpec, host_root: &Path) -> Result<Vec<Step>, RootfsError> {
    check_spec(spec)?;
    for m in &spec.mounts {
        validate_mount(m)?;
    }
    check_no_overlap(&spec.mounts)?;

    let root = spec.root.as_path();
    let at = |path: &str| root.join(path);
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let mut steps = Vec::new();

    // Nothing mounted below may propagate back into the host's namespace.
    steps.push(Step::MakeRootPrivate);
    steps.push(tmpfs(root, 0o755, nosuid_nodev));
    // Holds every overlay's writable layer; 0700 since it sits in the host's state directory.
    steps.push(tmpfs(&spec.scratch, 0o700, nosuid_nodev));

    for name in SYSTEM_DIRS {
        plan_system_dir(&mut steps, spec, host_root, name)?;
    }
    if !steps.iter().any(|s| creates(s, &at("etc"))) {
        steps.push(mkdir(at("etc"), 0o755));
    }
    // These land in /etc's upper layer, never on the host.
    let hostname = &spec.hostname;
    let hosts = format!("127.0.0.1 localhost\n::1 localhost\n127.0.1.1 {hostname}\n");
    steps.push(write_file(root, "etc/hostname", format!("{hostname}\n")));
    steps.push(write_file(root, "etc/hosts", hosts));
    if !host_root.join("etc").is_symlink() && host_root.join("etc").is_dir() {
        hide_host_secrets(&mut steps, root, host_root, &spec.hidden);
    }

    // /dev comes before /proc: the sandbox's own /dev/null masks /proc entries, so nothing of
    // the host's devtmpfs stays referenced.
    steps.push(mkdir(at("dev"), 0o755));
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    steps.push(tmpfs(&at("dev"), 0o755, nosuid_noexec));
    for &(name, major, minor) in DEVICES {
        steps.push(Step::CharDevice {
            path: at("dev").join(name),
            major,
            minor,
            mode: 0o666,
        });
    }
    steps.push(mkdir(at("dev/pts"), 0o755));
    steps.push(Step::Devpts {
        target: at("dev/pts"),
    });
    steps.push(symlink("pts/ptmx", at("dev/ptmx")));
    steps.push(mkdir(at("dev/shm"), 0o1777));
    steps.push(tmpfs(&at("dev/shm"), 0o1777, nosuid_nodev));
    steps.push(symlink("/proc/self/fd", at("dev/fd")));
    steps.push(symlink("/proc/self/fd/0", at("dev/stdin")));
    steps.push(symlink("/proc/self/fd/1", at("dev/stdout")));
    steps.push(symlink("/proc/self/fd/2", at("dev/stderr")));

    steps.push(mkdir(at("proc"), 0o555));
    steps.push(Step::Proc { target: at("proc") });
    for name in MASKED_PROC_FILES {
        steps.push(Step::Mask {
            path: at("proc").join(name),
            how: Masking::NullDevice(at("dev/null")),
        });
    }
    for name in MASKED_PROC_DIRS {
        steps.push(Step::Mask {
            path: at("proc").join(name),
            how: Masking::EmptyDir,
        });
    }
    for name in READ_ONLY_PROC_DIRS {
        steps.push(Step::Mask {
            path: at("proc").join(name),
            how: Masking::ReadOnly,
        });
    }

    steps.push(mkdir(at("tmp"), 0o1777));
    steps.push(tmpfs(&at("tmp"), 0o1777, nosuid_nodev));
    steps.push(mkdir(at("run"), 0o755));
    steps.push(tmpfs(&at("run"), 0o755, nosuid_nodev));
    steps.push(mkdir(at("root"), 0o700));
    steps.push(mkdir(at("home"), 0o755));
    steps.push(mkdir(at("var"), 0o755));
    steps.push(mkdir(at("var/tmp"), 0o1777));
    steps.push(mkdir(at("mnt"), 0o755));
    // Deliberately empty: sysfs would expose the host's devices and cgroup tree.
    steps.push(mkdir(at("sys"), 0o555));

    steps.push(mkdir(at(WORKSPACE), 0o755));
    match &spec.workspace {
        Workspace::Bind { dir } => steps.push(Step::Bind {
            from: dir.clone(),
            target: at(WORKSPACE),
            recursive: false,
        }),
        Workspace::Overlay {
            lower,
            upper,
            work,
            idmap,
        } => {
            // A user's tree is seen through an idmapped mount on the scratch tmpfs, where its
            // owner is root: commands may then change it as the owner could, copy-up makes
            // root-owned files in the upper layer. Made again on every start (a mount does not
            // outlive the sandbox's namespace).
            let lower = match idmap {
                None => lower.clone(),
                Some(idmap) => {
                    let mapped = spec.scratch.join(WORKSPACE_LOWER);
                    check_overlay_path(&mapped)?;
                    steps.push(mkdir(mapped.clone(), 0o700));
                    steps.push(Step::IdmappedBind {
                        from: lower.clone(),
                        target: mapped.clone(),
                        idmap: *idmap,
                    });
                    mapped
                }
            };
            // One overlay whatever the size of the tree; the upper and work directories
            // already exist (the runtime makes them once and keeps them across sleeps).
            steps.push(Step::Overlay {
                lower,
                upper: upper.clone(),
                work: work.clone(),
                target: at(WORKSPACE),
                persistent: true,
            });
        }
    }
    // The same restrictions either way: nothing a job leaves in its workspace may act as a
    // setuid program or a device.
    steps.push(Step::Restrict {
        target: at(WORKSPACE),
        restrictions: Restrictions {
            nosuid: true,
            nodev: true,
            ..Restrictions::default()
        },
        recursive: false,
    });

    for m in &spec.mounts {
        plan_extra_mount(&mut steps, root, m)?;
    }

    steps.push(mkdir(at(OLD_ROOT), 0o700));
    steps.push(Step::PivotRoot {
        new_root: root.to_path_buf(),
    });
    Ok(steps)
}

/// Recreates one host system directory: same symlink, or an overlay with its own upper and work
/// directories on the scratch tmpfs. Absent (or non-directory) entries are skipped.
fn plan_system_dir(
    steps: &mut Vec<Step>,
    spec: &RootfsSpec,
    host_root: &Path,
    name: &str,
) -> Result<(), RootfsError> {
    let host = host_root.join(name);
    let meta = match std::fs::symlink_metadata(&host) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(RootfsError::HostRoot { path: host, source }),
    };
    let target = spec.root.join(name);
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(&host).map_err(|source| RootfsError::HostRoot {
            path: host.clone(),
            source,
        })?;
        steps.push(symlink(link, target));
        return Ok(());
    }
    if !meta.is_dir() {
        return Ok(());
    }
    // The overlay's root takes its attributes from the upper directory, so give it the host
    // directory's mode (/etc is 0755, but a host may differ).
    let mode = meta.permissions().mode() & 0o7777;
    let layer = spec.scratch.join(name);
    let (upper, work) = (layer.join("upper"), layer.join("work"));
    for path in [&host, &upper, &work] {
        check_overlay_path(path)?;
    }
    steps.push(mkdir(layer, 0o700));
    steps.push(mkdir(upper.clone(), mode));
    steps.push(mkdir(work.clone(), 0o700));
    steps.push(mkdir(target.clone(), mode));
    steps.push(Step::Overlay {
        lower: host,
        upper,
        work,
        target,
        persistent: false,
    });
    Ok(())
}

/// Bind-mounts one (already validated) extra host path, read-only if asked.
fn plan_extra_mount(steps: &mut Vec<Step>, root: &Path, m: &BindMount) -> Result<(), RootfsError> {
    let meta = std::fs::metadata(&m.host).map_err(|source| RootfsError::MountSource {
        path: m.host.clone(),
        source,
    })?;
    let kind = if meta.is_dir() {
        MountPointKind::Dir
    } else {
        MountPointKind::File
    };
    let relative = m.sandbox.strip_prefix("/").unwrap_or(&m.sandbox);
    let target = root.join(relative);
    steps.push(Step::MountPoint {
        root: root.to_path_buf(),
        path: relative.to_path_buf(),
        kind,
    });
    // Recursive, so whatever is mounted below the host path is seen too; the restriction is then
    // applied recursively as well, or a submount would stay writable.
    steps.push(Step::Bind {
        from: m.host.clone(),
        target: target.clone(),
        recursive: true,
    });
    steps.push(Step::Restrict {
        target,
        restrictions: Restrictions {
            read_only: m.read_only,
            nosuid: true,
            nodev: true,
            noexec: false,
        },
        recursive: true,
    });
    Ok(())
}

/// Checks an extra mount: its sandbox path must be absolute, normalized, not `/`, not under
/// `/proc`, `/dev` or `/sys`, and not one of the system directories (`/usr`, `/etc`, …) or
/// `/workspace` itself; its host path must be absolute and exist.
pub fn validate_mount(m: &BindMount) -> Result<(), RootfsError> {
    let invalid = |reason| RootfsError::InvalidMountPath {
        path: m.sandbox.clone(),
        reason,
    };
    let names = normal_components(&m.sandbox).map_err(invalid)?;
    let Some(first) = names.first() else {
        return Err(invalid(PathProblem::Root));
    };
    if KERNEL_DIRS.iter().any(|d| OsStr::new(d) == *first) {
        return Err(invalid(PathProblem::KernelDir));
    }
    if names.len() == 1 && SYSTEM_DIRS.iter().any(|d| OsStr::new(d) == *first) {
        return Err(invalid(PathProblem::SystemDir));
    }
    if names.len() == 1 && OsStr::new(WORKSPACE) == *first {
        return Err(invalid(PathProblem::Workspace));
    }

    if !m.host.is_absolute() {
        return Err(RootfsError::InvalidMountSource {
            path: m.host.clone(),
            reason: PathProblem::NotAbsolute,
        });
    }
    std::fs::metadata(&m.host).map_err(|source| RootfsError::MountSource {
        path: m.host.clone(),
        source,
    })?;
    Ok(())
}

/// Executes `steps` in order, stopping at the first failure with an error naming the step.
///
/// Must run in a private mount namespace (and, for `/proc` to show the sandbox's processes, as
/// a member of the sandbox's pid namespace) with `CAP_SYS_ADMIN`, single-threaded. On failure
/// the namespace is left half-built: the caller is expected to exit, which tears it down.
pub fn apply(steps: &[Step]) -> Result<(), RootfsError> {
    // Modes in the plan are exact (0666 devices, 1777 /var/tmp); restore the caller's umask for
    // the processes the agent later starts.
    let previous = nix::sys::stat::umask(Mode::empty());
    let result = steps.iter().try_for_each(apply_step);
    nix::sys::stat::umask(previous);
    result
}

/// Executes one step.
fn apply_step(step: &Step) -> Result<(), RootfsError> {
    match step {
        Step::MakeRootPrivate => mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        )
        .map_err(RootfsError::MakeRootPrivate),
        Step::Tmpfs {
            target,
            flags,
            data,
        } => mount(
            Some(Path::new("tmpfs")),
            target,
            Some("tmpfs"),
            *flags,
            Some(data),
        )
        .map_err(|source| RootfsError::Tmpfs {
            target: target.clone(),
            source,
        }),
        Step::Overlay {
            lower,
            upper,
            work,
            target,
            persistent,
        } => {
            let data = overlay_options(lower, upper, work, *persistent);
            mount(
                Some(Path::new("overlay")),
                target,
                Some("overlay"),
                MsFlags::MS_NODEV,
                Some(&data),
            )
            .map_err(|source| RootfsError::Overlay {
                target: target.clone(),
                source,
            })
        }
        Step::IdmappedBind {
            from,
            target,
            idmap,
        } => idmapped_bind(from, target, *idmap),
        Step::Bind {
            from,
            target,
            recursive,
        } => bind(from, target, *recursive).map_err(|source| RootfsError::Bind {
            target: target.clone(),
            source,
        }),
        Step::Restrict {
            target,
            restrictions,
            recursive,
        } => mount_setattr(target, *restrictions, *recursive).map_err(|source| {
            RootfsError::Restrict {
                target: target.clone(),
                source,
            }
        }),
        Step::Proc { target } => mount(
            Some(Path::new("proc")),
            target,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        )
        .map_err(|source| RootfsError::Proc {
            target: target.clone(),
            source,
        }),
        Step::Devpts { target } => mount(
            Some(Path::new("devpts")),
            target,
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )
        .map_err(|source| RootfsError::Devpts {
            target: target.clone(),
            source,
        }),
        Step::Mask { path, how } => mask(path, how).map_err(|source| RootfsError::Mask {
            path: path.clone(),
            source,
        }),
        Step::CharDevice {
            path,
            major,
            minor,
            mode,
        } => nix::sys::stat::mknod(
            path.as_path(),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(*mode),
            nix::sys::stat::makedev(*major, *minor),
        )
        .map_err(|source| RootfsError::CharDevice {
            path: path.clone(),
            source,
        }),
        Step::MkDir { path, mode } => {
            nix::unistd::mkdir(path.as_path(), Mode::from_bits_truncate(*mode)).map_err(|source| {
                RootfsError::MkDir {
                    path: path.clone(),
                    source,
                }
            })
        }
        Step::MountPoint { root, path, kind } => {
            make_mount_point(root, path, *kind).map_err(|source| RootfsError::MountPoint {
                path: root.join(path),
                source,
            })
        }
        Step::Symlink { target, link } => {
            std::os::unix::fs::symlink(target, link).map_err(|source| RootfsError::Symlink {
                link: link.clone(),
                source,
            })
        }
        Step::WriteFile {
            root,
            path,
            contents,
            mode,
        } => replace_file(root, path, contents, *mode).map_err(|source| RootfsError::WriteFile {
            path: root.join(path),
            source,
        }),
        Step::RemoveFile { root, path } => {
            remove_file(root, path).map_err(|source| RootfsError::RemoveFile {
                path: root.join(path),
                source,
            })
        }
        Step::PivotRoot { new_root } => pivot(new_root),
    }
}

/// Swaps the root for `new_root` and drops every reference to the host's tree. The scratch tmpfs
/// goes with the old root, but stays alive through the overlays' own references to it.
fn pivot(new_root: &Path) -> Result<(), RootfsError> {
    let failed = |source| RootfsError::PivotRoot {
        new_root: new_root.to_path_buf(),
        source,
    };
    nix::unistd::pivot_root(new_root, &new_root.join(OLD_ROOT)).map_err(failed)?;
    // The cwd still points into the old tree; leaving it there would keep the host reachable.
    nix::unistd::chdir("/").map_err(failed)?;
    let old_root = Path::new("/").join(OLD_ROOT);
    nix::mount::umount2(&old_root, MntFlags::MNT_DETACH).map_err(RootfsError::DetachOldRoot)?;
    nix::unistd::unlinkat(nix::fcntl::AT_FDCWD, &old_root, UnlinkatFlags::RemoveDir)
        .map_err(RootfsError::DetachOldRoot)
}

/// Neutralises `path` as described by `how`, unless the kernel has no such entry.
fn mask(path: &Path, how: &Masking) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "nothing to mask");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    match how {
        Masking::NullDevice(null) => bind(null, path, false)?,
        Masking::EmptyDir => mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0555"),
        )?,
        Masking::ReadOnly => {
            bind(path, path, false)?;
            let all = Restrictions {
                read_only: true,
                nosuid: true,
                nodev: true,
                noexec: true,
            };
            mount_setattr(path, all, true)?;
        }
    }
    Ok(())
}

/// Creates the mount point `root/relative` without ever following a symlink.
fn make_mount_point(root: &Path, relative: &Path, kind: MountPointKind) -> io::Result<()> {
    let (parent, name) = split_relative(relative)?;
    let dir = open_dir_beneath(root, parent, true)?;
    let created = match kind {
        MountPointKind::Dir => nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755)),
        MountPointKind::File => nix::sys::stat::mknodat(
            &dir,
            name,
            SFlag::S_IFREG,
            Mode::from_bits_truncate(0o644),
            0,
        ),
    };
    match created {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // It may have existed already (e.g. in a lower layer): make sure mount(2) will not follow it.
    let stat = nix::sys::stat::fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let is_link = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
    match kind {
        _ if is_link => Err(Errno::ELOOP.into()),
        MountPointKind::Dir if !is_dir => Err(Errno::ENOTDIR.into()),
        MountPointKind::File if is_dir => Err(Errno::EISDIR.into()),
        _ => Ok(()),
    }
}

/// Replaces `root/relative` with a new file, never following a symlink.
fn replace_file(root: &Path, relative: &Path, contents: &str, mode: u32) -> io::Result<()> {
    let (parent, name) = split_relative(relative)?;
    let dir = open_dir_beneath(root, parent, false)?;
    match nix::unistd::unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = nix::fcntl::openat(
        &dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    File::from(fd).write_all(contents.as_bytes())
}

fn remove_file(root: &Path, relative: &Path) -> io::Result<()> {
    let (parent, name) = split_relative(relative)?;
    let dir = open_dir_beneath(root, parent, false)?;
    match nix::unistd::unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Splits a relative path into its parent and its (normal) last component.
fn split_relative(relative: &Path) -> io::Result<(&Path, &OsStr)> {
    match (relative.parent(), relative.file_name()) {
        (Some(parent), Some(name)) if relative.is_relative() => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "expected a relative path with a file name",
        )),
    }
}

/// Opens `root/relative` as a directory, walking one component at a time with `O_NOFOLLOW` so a
/// symlink (which would resolve against the host's root) fails with `ELOOP`/`ENOTDIR` instead.
/// With `create`, missing components are created (0755).
fn open_dir_beneath(root: &Path, relative: &Path, create: bool) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    // The root itself is a host path chosen by sandpit: following its symlinks is fine.
    let mut dir = nix::fcntl::open(root, flags, Mode::empty())?;
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path components must be plain names",
            ));
        };
        if create {
            match nix::sys::stat::mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        dir = nix::fcntl::openat(&dir, name, flags | OFlag::O_NOFOLLOW, Mode::empty())?;
    }
    Ok(dir)
}

/// `mount(2)` with paths.
fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    nix::mount::mount(source, target, fstype, flags, data)
}

/// Bind-mounts `from` on `target`.
fn bind(from: &Path, target: &Path, recursive: bool) -> Result<(), Errno> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(from), target, None, flags, None)
}

/// Adds `restrictions` to the mount at `target` with `mount_setattr(2)` (Linux 5.12+).
///
/// Unlike `MS_REMOUNT | MS_BIND`, it only sets the requested flags (nothing to read back and
/// re-pass, so nosuid/nodev/atime settings survive) and, with `AT_RECURSIVE`, reaches submounts
/// atomically: a read-only extra mount cannot keep a writable mount below it.
fn mount_setattr(target: &Path, restrictions: Restrictions, recursive: bool) -> Result<(), Errno> {
    let mut attr = sys::MountAttr::default();
    for (wanted, bit) in [
        (restrictions.read_only, sys::MOUNT_ATTR_RDONLY),
        (restrictions.nosuid, sys::MOUNT_ATTR_NOSUID),
        (restrictions.nodev, sys::MOUNT_ATTR_NODEV),
        (restrictions.noexec, sys::MOUNT_ATTR_NOEXEC),
    ] {
        if wanted {
            attr.attr_set |= bit;
        }
    }
    let flags = if recursive { sys::AT_RECURSIVE } else { 0 };
    let path = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    sys::mount_setattr(nix::fcntl::AT_FDCWD, &path, flags, &attr)
}

/// Mounts a copy of `from`'s mount on `target`, idmapped with `idmap` unless the kernel, the
/// filesystem or the host refuses (then unmapped, with a warning: the sandbox still starts).
fn idmapped_bind(from: &Path, target: &Path, idmap: IdMap) -> Result<(), RootfsError> {
    let copy = sys::open_tree_clone(from).map_err(|source| RootfsError::CloneMount {
        path: from.to_path_buf(),
        source,
    })?;
    if let Some(reason) = idmap_copy(copy.as_fd(), from, idmap)? {
        tracing::warn!(
            "cannot show {} (owned by uid {}, gid {}) as root's ({reason}); /workspace shows \
             the host's owners, so the sandbox may change only what their modes let others",
            from.display(),
            idmap.uid,
            idmap.gid,
        );
    }
    sys::move_mount(copy.as_fd(), target).map_err(|source| RootfsError::MoveMount {
        target: target.to_path_buf(),
        source,
    })
}

/// Idmaps `copy`, the detached copy of `from`'s mount. `Ok(Some(why))` when this kernel, its
/// filesystem or the host cannot, which is no error: the copy is then used unmapped.
fn idmap_copy(
    copy: BorrowedFd<'_>,
    from: &Path,
    idmap: IdMap,
) -> Result<Option<String>, RootfsError> {
    // An overlay over an idmapped layer would fail to mount, and the sandbox with it.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    if !overlayfs_takes_idmapped_layers(release) {
        return Ok(Some(format!(
            "overlayfs of Linux {release} cannot take idmapped layers (5.19+)"
        )));
    }
    let userns = match sys::id_mapping_user_namespace(idmap.uid, idmap.gid) {
        Ok(userns) => userns,
        // User namespaces disabled (or limited to 0) on this host.
        Err(e) => return Ok(Some(crate::error_chain(&e))),
    };
    match sys::set_mount_idmap(copy, userns.as_fd()) {
        Ok(()) => Ok(None),
        // No idmapped mounts on this filesystem (or kernel).
        Err(e @ (Errno::EINVAL | Errno::EPERM | Errno::EOPNOTSUPP | Errno::ENOSYS)) => {
            Ok(Some(format!("the filesystem refuses idmapped mounts: {e}")))
        }
        Err(source) => Err(RootfsError::IdmapMount {
            path: from.to_path_buf(),
            source,
        }),
    }
}

/// overlayfs features that record facts about the lower layer in the upper one: renamed
/// directories (`redirect_dir`), the hard-link index (`index`), metadata-only copies
/// (`metacopy`) and composed inode numbers (`xino`). The kernel documents that the lower layer
/// may be changed while the overlay is not mounted only if none of them was used, and a
/// persistent workspace's lower layer is a user's tree that may change while the sandbox
/// sleeps. Spelled out rather than left to the kernel's defaults, which distributions change.
/// The cost: renaming a directory that comes from the lower layer fails with `EXDEV` (`mv`
/// then copies), as in most container runtimes.
const PERSISTENT_OVERLAY_OPTIONS: &str = "redirect_dir=off,index=off,metacopy=off,xino=off";

/// Builds overlayfs' mount data; paths were checked free of `,`, `:` and `\` by [`plan`].
fn overlay_options(lower: &Path, upper: &Path, work: &Path, persistent: bool) -> String {
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    if persistent {
        data.push(',');
        data.push_str(PERSISTENT_OVERLAY_OPTIONS);
    }
    data
}

/// Whether the overlayfs of kernel `release` (as `uname -r` prints it) accepts idmapped
/// layers: since Linux 5.19 (before, it refuses them with `EINVAL`). An unreadable release is
/// given the benefit of the doubt; a distribution kernel that backported the support merely
/// falls back to the unmapped layer.
fn overlayfs_takes_idmapped_layers(release: &str) -> bool {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 19),
        _ => true,
    }
}

/// Refuses paths overlayfs would split or unescape, and non-UTF-8 paths, which
/// [`overlay_options`] could not pass through `Display` unchanged.
fn check_overlay_path(path: &Path) -> Result<(), RootfsError> {
    match path.to_str() {
        Some(s) if !s.contains([',', ':', '\\']) => Ok(()),
        _ => Err(RootfsError::OverlayPath {
            path: path.to_path_buf(),
        }),
    }
}

/// Checks the spec's own paths, the workspace's host directory and the hostname.
fn check_spec(spec: &RootfsSpec) -> Result<(), RootfsError> {
    let mut paths = vec![spec.root.as_path(), spec.scratch.as_path()];
    paths.extend(spec.workspace.state_dirs());
    for &path in &paths {
        let invalid = |reason| RootfsError::InvalidSpecPath {
            path: path.to_path_buf(),
            reason,
        };
        let names = normal_components(path).map_err(invalid)?;
        if names.is_empty() {
            return Err(invalid(PathProblem::Root));
        }
    }
    // A mount on one of them inside another would either show up in the sandbox or hide it.
    for (i, path) in paths.iter().enumerate() {
        for other in &paths[i + 1..] {
            if path.starts_with(other) || other.starts_with(path) {
                return Err(RootfsError::InvalidSpecPath {
                    path: path.to_path_buf(),
                    reason: PathProblem::Overlap,
                });
            }
        }
    }
    if let Workspace::Overlay {
        lower, upper, work, ..
    } = &spec.workspace
    {
        check_workspace_lower(lower, &paths)?;
        check_overlay_path(upper)?;
        check_overlay_path(work)?;
    }
    let h = &spec.hostname;
    let valid_hostname = !h.is_empty()
        && h.len() <= HOST_NAME_MAX
        && !h.starts_with(['-', '.'])
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid_hostname {
        return Err(RootfsError::InvalidHostname {
            hostname: h.clone(),
        });
    }
    Ok(())
}

/// Checks the host directory of a copy-on-write workspace against the sandbox's own
/// directories: seen through the overlay, they would expose the sandbox's state (or, for the
/// upper and work directories, make a loop overlayfs refuses).
fn check_workspace_lower(lower: &Path, own_dirs: &[&Path]) -> Result<(), RootfsError> {
    let invalid = |reason| RootfsError::InvalidWorkspaceSource {
        path: lower.to_path_buf(),
        reason,
    };
    let names = normal_components(lower).map_err(invalid)?;
    if names.is_empty() {
        return Err(invalid(PathProblem::Root));
    }
    if own_dirs
        .iter()
        .any(|own| own.starts_with(lower) || lower.starts_with(own))
    {
        return Err(invalid(PathProblem::Overlap));
    }
    check_overlay_path(lower)
}

/// Checks the host directory a copy-on-write workspace shows, before the sandbox starts (it may
/// have gone while the sandbox slept): absolute and normalized (as `std::fs::canonicalize`
/// returns it), an existing directory, free of what overlayfs cannot take (`,`, `:`, `\`), and
/// apart from sandpit's `state_dir` (inside it or around it, the sandbox would see agent
/// sockets and records).
pub fn validate_workspace_source(lower: &Path, state_dir: &Path) -> Result<(), RootfsError> {
    let invalid = |reason| RootfsError::InvalidWorkspaceSource {
        path: lower.to_path_buf(),
        reason,
    };
    let names = normal_components(lower).map_err(invalid)?;
    if names.is_empty() {
        return Err(invalid(PathProblem::Root));
    }
    if lower.starts_with(state_dir) || state_dir.starts_with(lower) {
        return Err(invalid(PathProblem::StateDir));
    }
    check_overlay_path(lower)?;
    let meta = std::fs::metadata(lower).map_err(|source| RootfsError::WorkspaceSource {
        path: lower.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(RootfsError::WorkspaceSource {
            path: lower.to_path_buf(),
            source: io::ErrorKind::NotADirectory.into(),
        });
    }
    Ok(())
}

/// The mapping that shows the host directory of a copy-on-write workspace as root's: its
/// owner (uid and gid of the directory itself) → 0, or `None` when root owns it already.
/// Taken when the sandbox starts, so a wake follows a change of owner.
pub fn workspace_idmap(lower: &Path) -> Result<Option<IdMap>, RootfsError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(lower).map_err(|source| RootfsError::WorkspaceSource {
        path: lower.to_path_buf(),
        source,
    })?;
    Ok(IdMap::owner_to_root(meta.uid(), meta.gid()))
}

/// Refuses extra mounts that coincide or nest: mounting one inside another would create its
/// mount point in the other's host directory.
fn check_no_overlap(mounts: &[BindMount]) -> Result<(), RootfsError> {
    for (i, a) in mounts.iter().enumerate() {
        for b in &mounts[i + 1..] {
            if a.sandbox.starts_with(&b.sandbox) || b.sandbox.starts_with(&a.sandbox) {
                return Err(RootfsError::MountConflict {
                    path: b.sandbox.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Returns the names of an absolute path that is written in normal form: no `.`, `..`, doubled
/// or trailing `/` (which `Path::components` would silently tidy up).
fn normal_components(path: &Path) -> Result<Vec<&OsStr>, PathProblem> {
    if !path.is_absolute() {
        return Err(PathProblem::NotAbsolute);
    }
    let mut names = Vec::new();
    let mut normal = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => {
                names.push(name);
                normal.push(name);
            }
            Component::ParentDir | Component::CurDir | Component::Prefix(_) => {
                return Err(PathProblem::NotNormalized);
            }
        }
    }
    if normal.as_os_str() != path.as_os_str() {
        return Err(PathProblem::NotNormalized);
    }
    Ok(names)
}

/// A tmpfs with exact root permissions.
fn tmpfs(target: &Path, mode: u32, flags: MsFlags) -> Step {
    Step::Tmpfs {
        target: target.to_path_buf(),
        flags,
        data: format!("mode={mode:04o}"),
    }
}

/// A directory with exact permissions.
fn mkdir(path: PathBuf, mode: u32) -> Step {
    Step::MkDir { path, mode }
}

/// A symlink at `link` pointing to `target`.
fn symlink(target: impl Into<PathBuf>, link: PathBuf) -> Step {
    Step::Symlink {
        target: target.into(),
        link,
    }
}

/// The host's secrets under `/etc` belong to the host, not to a job that happens to run as uid
/// 0 over it. Password files keep their accounts (tools look users up) with every hash turned
/// into `*`; other unreadable files are whited out; unreadable directories are covered by an
/// empty read-only tmpfs.
fn hide_host_secrets(steps: &mut Vec<Step>, root: &Path, host_root: &Path, hidden: &[HiddenPath]) {
    const PASSWORD_FILES: [&str; 4] = ["etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-"];
    for entry in hidden {
        match entry {
            HiddenPath::File(path) if PASSWORD_FILES.iter().any(|p| path == Path::new(p)) => {
                // Unreadable now: remove it rather than leave the hashes.
                match std::fs::read_to_string(host_root.join(path)) {
                    Ok(text) => steps.push(Step::WriteFile {
                        root: root.to_path_buf(),
                        path: path.clone(),
                        contents: without_password_hashes(&text),
                        mode: 0o640,
                    }),
                    Err(_) => steps.push(Step::RemoveFile {
                        root: root.to_path_buf(),
                        path: path.clone(),
                    }),
                }
            }
            HiddenPath::File(path) => steps.push(Step::RemoveFile {
                root: root.to_path_buf(),
                path: path.clone(),
            }),
            HiddenPath::Dir(path) => steps.push(Step::Mask {
                path: root.join(path),
                how: Masking::EmptyDir,
            }),
        }
    }
}

/// `shadow`/`gshadow` text with every password field (the second) replaced by `*`.
fn without_password_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.split_once(':') {
            Some((name, rest)) => {
                let rest = rest.split_once(':').map_or("", |(_, rest)| rest);
                out.push_str(name);
                out.push_str(":*:");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A 0644 file replacing `root/relative`.
fn write_file(root: &Path, relative: &str, contents: String) -> Step {
    Step::WriteFile {
        root: root.to_path_buf(),
        path: PathBuf::from(relative),
        contents,
        mode: 0o644,
    }
}

/// Whether `step` creates (or mounts on) `path`.
fn creates(step: &Step, path: &Path) -> bool {
    match step {
        Step::MkDir { path: p, .. } | Step::Symlink { link: p, .. } => p == path,
        Step::Overlay { target, .. } => target == path,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
