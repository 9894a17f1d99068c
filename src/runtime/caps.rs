//! Dropping every Linux capability from the agent, and so from every command it starts.
//!
//! Commands in a sandbox run as uid 0 without a user namespace, so the kernel's legacy "root
//! gets every capability on execve" rule would hand them back whatever the agent removed. The
//! securebits set by [`drop_all`] switch that rule off for good, the empty bounding set makes
//! sure no file capability or setuid binary can restore anything, and `capset(2)` empties the
//! sets the process holds right now.
//!
//! The agent calls [`drop_all`] once, after set-up and before serving; commands inherit the
//! result. It is async-signal-safe (raw syscalls on stack data), so it could also run between
//! fork and exec, which its tests do.

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
mod tests;
