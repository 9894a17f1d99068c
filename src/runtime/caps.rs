//! Dropping every Linux capability from sandboxed commands.
//!
//! Commands in a sandbox run as uid 0 without a user namespace, so the kernel's legacy "root
//! gets every capability on execve" rule would hand them back whatever the agent removed. The
//! securebits set by [`drop_all`] switch that rule off for good, the empty bounding set makes
//! sure no file capability or setuid binary can restore anything, and `capset(2)` empties the
//! sets the process holds right now.
//!
//! [`last_cap`] runs before fork; [`drop_all`] runs in the child between fork and exec, so it is
//! restricted to async-signal-safe raw syscalls.

use std::io;
use std::num::ParseIntError;

use libc::{c_int, c_ulong};
use nix::errno::Errno;

/// Errors from reading the kernel's capability range.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// The file could not be read.
    #[error("failed to read the highest capability number from {path}")]
    Read {
        /// The file that was read.
        path: &'static str,
        /// Why reading failed.
        #[source]
        source: io::Error,
    },
    /// The file did not hold a number.
    #[error("failed to parse {text:?} from {path} as a capability number")]
    Parse {
        /// The file that was read.
        path: &'static str,
        /// What it contained, trimmed.
        text: String,
        /// Why parsing failed.
        #[source]
        source: ParseIntError,
    },
    /// The kernel knows capabilities beyond what `capset(2)` version 3 can describe.
    #[error("{path} reports capability {last}, but capset(2) describes only 0 to {max}")]
    OutOfRange {
        /// The file that was read.
        path: &'static str,
        /// The number it reported.
        last: u32,
        /// The highest capability capset(2) version 3 covers.
        max: u32,
    },
}

const CAP_LAST_CAP_PATH: &str = "/proc/sys/kernel/cap_last_cap";

/// capset(2) version 3 describes each set in two 32-bit words.
const MAX_CAP: u32 = 63;

/// `_LINUX_CAPABILITY_VERSION_3` from `linux/capability.h`; libc does not export it.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Securebits that keep uid 0 from ever regaining capabilities, each locked so the job cannot
/// clear it again. `SECBIT_KEEP_CAPS` itself stays off (and locked off), so a setuid away from
/// root would also lose everything.
const LOCKED_SECUREBITS: c_int = libc::SECBIT_NOROOT
    | libc::SECBIT_NOROOT_LOCKED
    | libc::SECBIT_NO_SETUID_FIXUP
    | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
    | libc::SECBIT_KEEP_CAPS_LOCKED
    | libc::SECBIT_NO_CAP_AMBIENT_RAISE
    | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapUserHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (capabilities 0-31, 32-63).
#[repr(C)]
#[derive(Clone, Copy)]
struct CapUserData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The highest capability number this kernel knows, from `/proc/sys/kernel/cap_last_cap`.
///
/// Call it before fork and pass the result to [`drop_all`]: the child may not allocate, so it
/// cannot read the file itself.
pub fn last_cap() -> Result<u32, CapsError> {
    let path = CAP_LAST_CAP_PATH;
    let text = std::fs::read_to_string(path).map_err(|source| CapsError::Read { path, source })?;
    let text = text.trim();
    let last = text.parse::<u32>().map_err(|source| CapsError::Parse {
        path,
        text: text.to_owned(),
        source,
    })?;
    if last > MAX_CAP {
        return Err(CapsError::OutOfRange {
            path,
            last,
            max: MAX_CAP,
        });
    }
    Ok(last)
}

/// Drop every capability for good, for a child between fork and exec that is still full root.
///
/// In order: lock the securebits (`SECBIT_NOROOT`, `SECBIT_NO_SETUID_FIXUP`,
/// `SECBIT_KEEP_CAPS_LOCKED`, `SECBIT_NO_CAP_AMBIENT_RAISE`, each with its lock) so uid 0 gains
/// nothing through execve or setuid; clear the ambient set; drop capabilities `0..=last_cap` from
/// the bounding set; then `capset(2)` the effective, permitted and inheritable sets to zero. The
/// first two steps need `CAP_SETPCAP` and so must come before the last one.
///
/// Async-signal-safe: raw `prctl`/`capset` syscalls on stack data, no allocation. Capabilities
/// are per thread, so this affects only the calling thread — the only one in a forked child.
/// Returns the raw errno of the first failing step.
pub fn drop_all(last_cap: u32) -> Result<(), Errno> {
    prctl(
        libc::PR_SET_SECUREBITS,
        LOCKED_SECUREBITS.unsigned_abs().into(),
    )?;
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL.unsigned_abs().into(),
    )?;
    for cap in 0..=last_cap {
        prctl(libc::PR_CAPBSET_DROP, cap.into())?;
    }
    clear_capability_sets()
}

/// `prctl(option, arg2, 0, 0, 0)` for options that take one integer argument.
fn prctl(option: c_int, arg2: c_ulong) -> Result<(), Errno> {
    let zero: c_ulong = 0;
    // SAFETY: every option passed here takes plain integers, so the kernel dereferences no
    // pointer of ours; the unused arguments are zero, as prctl(2) requires for them.
    let rc = unsafe { libc::prctl(option, arg2, zero, zero, zero) };
    if rc == -1 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `capset(2)` with empty effective, permitted and inheritable sets for the calling thread.
fn clear_capability_sets() -> Result<(), Errno> {
    let mut header = CapUserHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapUserData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: `header` and `data` are live locals laid out as the kernel's version 3
    // `__user_cap_header_struct` and two `__user_cap_data_struct`s, valid for the whole call.
    // The kernel reads both and may write only `header.version` (on a version mismatch), which
    // is why the header is passed as a mutable pointer. pid 0 means the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapUserHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::seccomp;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{Command, Output};

    const PYTHON: &str = "/usr/bin/python3";

    fn to_io(errno: Errno) -> io::Error {
        io::Error::from_raw_os_error(errno as i32)
    }

    /// Run `command` after `hook` in the child, as the agent would.
    fn spawn_with(
        mut command: Command,
        hook: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
    ) -> io::Result<Output> {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests must run as root"
        );
        // SAFETY: every hook passed by these tests only calls `drop_all`,
        // `clear_capability_sets` and `seccomp::install`, which make raw syscalls on data built
        // before fork and neither allocate nor lock, so they are async-signal-safe.
        unsafe {
            command.pre_exec(hook);
        }
        command.output()
    }

    fn sandboxed(command: Command) -> Output {
        let last = last_cap().expect("cap_last_cap is readable");
        let program = seccomp::compile().expect("the policy compiles");
        spawn_with(command, move || {
            drop_all(last).map_err(to_io)?;
            seccomp::install(&program).map_err(to_io)
        })
        .expect("the command spawns")
    }

    fn caps_dropped(command: Command) -> Output {
        let last = last_cap().expect("cap_last_cap is readable");
        spawn_with(command, move || drop_all(last).map_err(to_io)).expect("the command spawns")
    }

    fn command(program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args);
        command
    }

    fn sh(script: &str) -> Command {
        command("/bin/sh", &["-c", script])
    }

    fn stdout(output: &Output) -> String {
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn assert_success(output: &Output) {
        assert!(
            output.status.success(),
            "{:?}\nstdout: {}\nstderr: {}",
            output.status,
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Every `Cap*:` line of one or more concatenated /proc/<pid>/status files.
    fn capability_lines(status: &str) -> Vec<(String, u64)> {
        status
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.starts_with("Cap").then(|| {
                    let value = u64::from_str_radix(value.trim(), 16).expect("hex capability set");
                    (name.to_owned(), value)
                })
            })
            .collect()
    }

    fn assert_all_capability_sets_empty(status: &str, expected_files: usize) {
        let lines = capability_lines(status);
        assert_eq!(lines.len(), 5 * expected_files, "{status}");
        for name in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                lines.iter().filter(|(n, _)| n == name).count(),
                expected_files
            );
        }
        for (name, value) in lines {
            assert_eq!(value, 0, "{name} is {value:#x}");
        }
    }

    #[test]
    fn last_cap_matches_the_kernel() {
        let last = last_cap().expect("cap_last_cap is readable");
        let raw = std::fs::read_to_string(CAP_LAST_CAP_PATH).expect("readable");
        assert_eq!(Some(last), raw.trim().parse().ok());
        // CAP_AUDIT_READ (37) exists on every kernel this runner supports.
        assert!((37..=MAX_CAP).contains(&last), "{last}");
    }

    #[test]
    fn capabilities_are_all_zero_after_drop() {
        let output = sandboxed(command("/bin/cat", &["/proc/self/status"]));
        assert_success(&output);
        assert_all_capability_sets_empty(&stdout(&output), 1);
    }

    #[test]
    fn root_does_not_regain_capabilities_through_exec() {
        // Control: emptying the capability sets alone is not enough, because execve as uid 0
        // grants the bounding set again. This is what the securebits and the bounding drop fix.
        let last = last_cap().expect("cap_last_cap is readable");
        let control = spawn_with(command("/bin/cat", &["/proc/self/status"]), || {
            clear_capability_sets().map_err(to_io)
        })
        .expect("the command spawns");
        assert_success(&control);
        let regained = capability_lines(&stdout(&control));
        assert!(
            regained
                .iter()
                .any(|(name, value)| name == "CapEff" && *value != 0),
            "exec as root did not regain capabilities even without securebits: {regained:?}"
        );

        // A setuid-root copy of cat, run without no_new_privs (no seccomp here) so the kernel
        // honours the setuid bit, plus a chain of nested execs.
        let dir = tempfile::tempdir().expect("temp dir");
        let setuid_cat = dir.path().join("setuid-cat");
        std::fs::copy("/bin/cat", &setuid_cat).expect("copy cat");
        std::fs::set_permissions(&setuid_cat, std::fs::Permissions::from_mode(0o4755))
            .expect("chmod u+s");
        let script = format!(
            "'{}' /proc/self/status; exec /bin/sh -c 'exec /bin/cat /proc/self/status'",
            setuid_cat.display()
        );
        let output = spawn_with(sh(&script), move || drop_all(last).map_err(to_io))
            .expect("the command spawns");
        assert_success(&output);
        assert_all_capability_sets_empty(&stdout(&output), 2);
    }

    #[test]
    fn securebits_are_set_and_locked() {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is needed for this test (.ci/run installs it)"
        );
        let script = format!(
            "import ctypes\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             L = ctypes.c_ulong\n\
             def prctl(*args):\n    \
                 ctypes.set_errno(0)\n    \
                 return (libc.prctl(*[L(a) for a in args]), ctypes.get_errno())\n\
             print('bits', prctl({get}, 0, 0, 0, 0)[0])\n\
             print('clear', *prctl({set}, 0, 0, 0, 0))\n\
             print('ambient raise', *prctl({ambient}, {raise_}, 0, 0, 0))\n",
            get = libc::PR_GET_SECUREBITS,
            set = libc::PR_SET_SECUREBITS,
            ambient = libc::PR_CAP_AMBIENT,
            raise_ = libc::PR_CAP_AMBIENT_RAISE,
        );
        let output = caps_dropped(command(PYTHON, &["-c", &script]));
        assert_success(&output);
        let eperm = libc::EPERM;
        assert_eq!(
            stdout(&output),
            format!("bits {LOCKED_SECUREBITS}\nclear -1 {eperm}\nambient raise -1 {eperm}\n")
        );
    }

    #[test]
    fn drop_all_reports_the_errno_of_the_failing_step() {
        // One past the kernel's last capability: PR_CAPBSET_DROP answers EINVAL, and the error
        // travels back through `pre_exec` to the parent instead of running the command.
        let last = last_cap().expect("cap_last_cap is readable");
        let result = spawn_with(Command::new("/bin/true"), move || {
            drop_all(last + 1).map_err(to_io)
        });
        let error = result.expect_err("the command must not run");
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL), "{error}");
    }
}
