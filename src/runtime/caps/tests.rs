//! Tests of the `caps` module.

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
    let output =
        spawn_with(sh(&script), move || drop_all(last).map_err(to_io)).expect("the command spawns");
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
