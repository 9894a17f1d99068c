//! Thin, safe wrappers over the raw system calls sandpit needs beyond what `nix` offers safely.
//!
//! This is the crate's seam to the kernel: every `unsafe` block outside the seccomp and
//! capability modules lives here, each with the invariant it relies on.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{caps, seccomp};

/// Failure to harden the agent.
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    /// The seccomp policy could not be compiled.
    #[error("failed to prepare the seccomp filter")]
    Seccomp(#[source] seccomp::SeccompError),
    /// The kernel's capability count could not be read.
    #[error("failed to read the kernel's capability count")]
    Caps(#[source] caps::CapsError),
    /// Dropping capabilities or installing the filter failed.
    #[error("failed to {what}")]
    Apply {
        /// Which step.
        what: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
}

/// Gives up every privilege of the calling process for good: capabilities (also from the
/// bounding set, with root's exec-time privileges locked off), then `no_new_privs` and the
/// seccomp filter. Everything it later starts inherits all of this, so commands need no
/// per-exec set-up (and can be started with `posix_spawn`).
///
/// Capabilities and seccomp filters are per thread: call this while the process has one thread.
pub fn harden_self() -> Result<(), HardeningError> {
    let filter = seccomp::compile().map_err(HardeningError::Seccomp)?;
    let last_cap = caps::last_cap().map_err(HardeningError::Caps)?;
    caps::drop_all(last_cap).map_err(|source| HardeningError::Apply {
        what: "drop capabilities",
        source,
    })?;
    seccomp::install(&filter).map_err(|source| HardeningError::Apply {
        what: "install the seccomp filter",
        source,
    })
}

/// Result of [`fork`].
pub enum Forked {
    /// In the parent; the child's pid.
    Parent(Pid),
    /// In the child.
    Child,
}

/// Forks the calling process.
///
/// Only for the single-threaded init path (`runtime::init`): a child forked from a
/// multi-threaded process may deadlock on locks held by threads that no longer exist.
pub fn fork_single_threaded() -> Result<Forked, Errno> {
    // SAFETY: the only caller is the init process, which runs before any thread is started (it is
    // dispatched from `main` before the tokio runtime is built), so the child inherits no lock held
    // by another thread and may run arbitrary Rust code.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// Closes every file descriptor above stderr. Whatever the caller of sandpit left open (a shell
/// may leave a directory of the host open without close-on-exec) would otherwise be inherited
/// by the agent and every command: a handle on the host that no mount namespace hides.
pub fn close_inherited_fds() -> Result<(), Errno> {
    // SAFETY: close_range takes two numbers and flags, passes no memory; the caller owns no fd
    // above 2 that it still means to use (this runs first thing in the init).
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Opens a pidfd for `pid`, a handle that keeps naming that process even if its pid is reused.
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> Result<(), Errno> {
    // SAFETY: the fd is valid for the call (borrowed); a null siginfo is allowed and means "as
    // kill(2) would send it".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Waits until `fd` is readable (for a pidfd: the process exited) or `timeout` passes.
/// Returns whether it became readable.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, Errno> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Brings the loopback interface of the caller's network namespace up.
pub fn loopback_up() -> Result<(), Errno> {
    // SAFETY: creating a socket passes no memory; the returned fd is checked and owned below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `sock` is a fresh fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in `req` and writes its flags into `req`,
    // which is a valid, exclusively borrowed ifreq for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags member.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS only reads `req`, valid for the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Marks the calling process not dumpable: no core dumps, and `/proc/PID/*` (its fds, memory,
/// environment) is closed to processes without `CAP_SYS_PTRACE`, i.e. to everything inside.
pub fn set_not_dumpable() -> Result<(), Errno> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Grows a pipe's kernel buffer, so fewer wake-ups are needed for bulk output.
pub fn set_pipe_size(fd: BorrowedFd<'_>, bytes: i32) -> Result<(), Errno> {
    // SAFETY: F_SETPIPE_SZ takes an integer and passes no memory.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// One `read(2)` on `fd` that does not wait: `WouldBlock` when nothing is there (the fd must be
/// non-blocking). Unlike an async runtime's `try_read`, it asks the kernel even when the
/// runtime has not yet been told the fd is readable.
pub fn read_now(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `signal` to every process of process group `pgid`.
pub fn kill_process_group(pgid: u32, signal: Signal) -> Result<(), Errno> {
    let pgid = i32::try_from(pgid).map_err(|_| Errno::EINVAL)?;
    nix::sys::signal::killpg(Pid::from_raw(pgid), signal)
}

/// Sends `signal` to process `pid`.
pub fn signal_process(pid: u32, signal: Signal) -> Result<(), Errno> {
    let pid = i32::try_from(pid).map_err(|_| Errno::EINVAL)?;
    nix::sys::signal::kill(Pid::from_raw(pid), signal)
}

/// Reaps one exited child without blocking; `None` when no child has exited.
pub fn reap_any() -> Option<(u32, WaitStatus)> {
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(status) => {
                let pid = status.pid()?.as_raw();
                return Some((pid as u32, status));
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Start time of process `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`).
/// Together with the pid it names one process for good, since pids are reused.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let mut text = String::new();
    File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `start_time` is still running (zombies count as
/// gone).
pub fn process_is_alive(pid: u32, start_time: u64) -> bool {
    if process_start_time(pid) != Some(start_time) {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    !status
        .lines()
        .any(|l| l.starts_with("State:") && (l.contains("zombie") || l.contains("dead")))
}

/// Kills the process `pid` (if it is still the one that started at `start_time`) with SIGKILL
/// and waits up to `timeout` for it to be gone. Returns `Ok(())` if it is gone.
///
/// When it is PID 1 of a pid namespace, the kernel kills every other process of that namespace
/// before reporting the exit, so on return none of them runs any more.
pub fn kill_and_wait(pid: u32, start_time: u64, timeout: Duration) -> Result<(), Errno> {
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(()),
        Err(e) => return Err(e),
    };
    // Checked after opening the pidfd: from here on the fd names exactly this process.
    if process_start_time(pid) != Some(start_time) {
        return Ok(());
    }
    match pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => return Err(e),
    }
    if wait_readable(pidfd.as_fd(), timeout)? {
        Ok(())
    } else {
        Err(Errno::ETIMEDOUT)
    }
}

/// Shuts a socket down in both directions (the peer reads end of file), even while other
/// handles to it remain open.
pub fn shutdown_socket(fd: BorrowedFd<'_>) {
    // Already shut down or closed by the peer: nothing more to do.
    let _ = nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Both);
}

/// `struct mount_attr` from `<linux/mount.h>` (`MOUNT_ATTR_SIZE_VER0`), for [`mount_setattr`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` flags to set.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` flags to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_PRIVATE`, …), 0 to leave it.
    pub propagation: u64,
    /// With `MOUNT_ATTR_IDMAP`: the user namespace whose mappings the mount takes.
    pub userns_fd: u64,
}

// Constants from `<linux/mount.h>` and `<linux/fcntl.h>`, defined here rather than taken from
// `libc`, whose releases added them late.
/// `MOUNT_ATTR_RDONLY`: refuse writes.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`: ignore setuid/setgid bits and file capabilities.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`: refuse to open device nodes.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`: refuse to execute files.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// Idmap the mount with the mappings of [`MountAttr::userns_fd`] (Linux 5.12+).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `AT_RECURSIVE` from `<linux/fcntl.h>`: also every mount below.
pub const AT_RECURSIVE: libc::c_uint = 0x8000;
/// `OPEN_TREE_CLONE` from `<linux/mount.h>`: a detached copy of the mount, not the mount itself.
const OPEN_TREE_CLONE: libc::c_uint = 0x1;
/// `OPEN_TREE_CLOEXEC` from `<linux/mount.h>` (defined as `O_CLOEXEC`).
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
/// `MOVE_MOUNT_F_EMPTY_PATH` from `<linux/mount.h>`: the source is the fd itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// `mount_setattr(2)` (Linux 5.12+) on `path` relative to `dirfd` (with `AT_EMPTY_PATH` and an
/// empty path: the mount `dirfd` refers to).
pub fn mount_setattr(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_uint,
    attr: &MountAttr,
) -> Result<(), Errno> {
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from `attr`, a live, properly
    // laid out `struct mount_attr` (repr(C), four u64s: MOUNT_ATTR_SIZE_VER0), and reads the
    // NUL-terminated `path`; both outlive the call and neither is written. `dirfd` is borrowed,
    // so it stays open for the call.
    let res = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(res).map(drop)
}

fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached copy of the mount at `path` (only that mount, not those below it), to be
/// changed with [`set_mount_idmap`] and attached with [`move_mount`]: `open_tree(2)` with
/// `OPEN_TREE_CLONE` (Linux 5.2+). Dropping the fd unmounts the copy unless it was attached.
pub fn open_tree_clone(path: &Path) -> Result<OwnedFd, Errno> {
    let path = c_path(path)?;
    // SAFETY: open_tree reads the NUL-terminated `path`, which outlives the call, and returns a
    // new fd or -1; no other memory is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    let fd = libc::c_int::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Idmaps the detached mount `mount` (from [`open_tree_clone`]) with the mappings of the user
/// namespace `userns`. The direction is the reverse of a process's: a file whose on-disk owner
/// is X is shown owned by the id that `userns` maps X (taken as an id inside it) to, outside;
/// ids it does not map show as the overflow id (65534).
///
/// `EINVAL`, `EPERM` or `EOPNOTSUPP` mean the filesystem (or the kernel) does not do idmapped
/// mounts.
pub fn set_mount_idmap(mount: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> Result<(), Errno> {
    let fd = u64::try_from(userns.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: fd,
        ..MountAttr::default()
    };
    mount_setattr(mount, c"", libc::AT_EMPTY_PATH as libc::c_uint, &attr)
}

/// Attaches the detached mount `mount` at `target`: `move_mount(2)` (Linux 5.2+).
pub fn move_mount(mount: BorrowedFd<'_>, target: &Path) -> Result<(), Errno> {
    let target = c_path(target)?;
    // SAFETY: move_mount reads the two NUL-terminated paths (an empty literal and `target`),
    // which outlive the call; `mount` is borrowed, so it stays open for the call.
    let res = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(res).map(drop)
}

/// A failure to make the user namespace of an idmapped mount.
#[derive(Debug, thiserror::Error)]
#[error("failed to {what}")]
pub struct UserNamespaceError {
    /// Which step.
    pub what: &'static str,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Makes a user namespace whose only mappings are uid `uid` inside → 0 outside and gid `gid`
/// inside → 0 outside (map lines `uid 0 1`, `gid 0 1`; `setgroups` denied), and returns a handle
/// on it. Given to [`set_mount_idmap`], it shows files owned by `uid`:`gid` on disk as root's.
///
/// A process cannot write its own mappings into a user namespace it just entered without
/// privilege there, so a helper is forked: it unshares `CLONE_NEWUSER`, reports its pid and
/// waits; this process (holding `CAP_SETUID`/`CAP_SETGID` in the host's namespace) writes the
/// helper's `uid_map`, `setgroups` and `gid_map`, opens its `ns/user`, and then lets it exit
/// and reaps it. The namespace lives on through the returned fd (and, once idmapped, the
/// mount). Forks: only for the single-threaded init (see [`fork_single_threaded`]).
pub fn id_mapping_user_namespace(uid: u32, gid: u32) -> Result<OwnedFd, UserNamespaceError> {
    let failed = |what| {
        move |source: Errno| UserNamespaceError {
            what,
            source: source.into(),
        }
    };
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(failed("create a pipe"))?;
    let (release_read, release_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(failed("create a pipe"))?;
    match fork_single_threaded().map_err(failed("fork the user namespace helper"))? {
        Forked::Child => {
            drop(report_read);
            drop(release_write);
            hold_new_user_namespace(report_write, release_read)
        }
        Forked::Parent(helper) => {
            drop(report_write);
            drop(release_read);
            let result = map_helper_ids(report_read, uid, gid);
            // End of file on its pipe lets the helper exit, whatever happened above.
            drop(release_write);
            while let Err(Errno::EINTR) = nix::sys::wait::waitpid(helper, None) {}
            result
        }
    }
}

/// The parent's side of [`id_mapping_user_namespace`]: reads the helper's report, writes its
/// mappings and opens its namespace.
fn map_helper_ids(report: OwnedFd, uid: u32, gid: u32) -> Result<OwnedFd, UserNamespaceError> {
    let failed = |what| move |source: io::Error| UserNamespaceError { what, source };
    let mut line = String::new();
    File::from(report)
        .take(64)
        .read_to_string(&mut line)
        .map_err(failed("read the user namespace helper's report"))?;
    let pid = match line.trim().split_once(' ') {
        Some(("pid", pid)) => pid.parse::<u32>().ok(),
        Some(("errno", errno)) => {
            let errno = errno.parse().unwrap_or(libc::EIO);
            return Err(failed("unshare a user namespace")(
                io::Error::from_raw_os_error(errno),
            ));
        }
        _ => None,
    };
    let Some(pid) = pid else {
        return Err(failed("read the user namespace helper's report")(
            io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}")),
        ));
    };
    // The helper is this process's child and waits for the pipe to close, so its pid cannot be
    // reused meanwhile. `setgroups` comes before `gid_map`, as the kernel requires of writers
    // without privilege (and nobody inside may ever call setgroups anyway).
    let proc = Path::new("/proc").join(pid.to_string());
    let write = |file: &str, text: String| {
        // One write(2): the kernel takes a map only whole, at offset 0.
        File::options()
            .write(true)
            .open(proc.join(file))
            .and_then(|mut f| f.write_all(text.as_bytes()))
    };
    write("uid_map", format!("{uid} 0 1\n")).map_err(failed("write the uid map"))?;
    write("setgroups", "deny\n".to_string()).map_err(failed("deny setgroups"))?;
    write("gid_map", format!("{gid} 0 1\n")).map_err(failed("write the gid map"))?;
    let ns = File::open(proc.join("ns/user")).map_err(failed("open the user namespace"))?;
    Ok(OwnedFd::from(ns))
}

/// The helper's side of [`id_mapping_user_namespace`]: reports its pid as `/proc` numbers it
/// (the init is PID 1 of its own pid namespace while `/proc` is still the host's, so the pid
/// `fork` returned would name another process there) and enters a new user namespace, then
/// waits for end of file on `release` and exits without running any destructor or exit
/// handler of the parent's state.
fn hold_new_user_namespace(report: OwnedFd, release: OwnedFd) -> ! {
    let line = match std::fs::read_link("/proc/self") {
        Ok(pid) => match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            Ok(()) => format!("pid {}\n", pid.display()),
            Err(errno) => format!("errno {}\n", errno as i32),
        },
        Err(e) => format!("errno {}\n", e.raw_os_error().unwrap_or(libc::EIO)),
    };
    let _ = nix::unistd::write(&report, line.as_bytes());
    drop(report);
    let mut byte = [0u8; 1];
    while let Err(Errno::EINTR) = nix::unistd::read(&release, &mut byte) {}
    // SAFETY: _exit takes an integer and ends the process at once; it touches no memory of ours
    // (on purpose: exit handlers and buffered output belong to the parent).
    unsafe { libc::_exit(0) }
}
