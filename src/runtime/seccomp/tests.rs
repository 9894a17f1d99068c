//! Tests of the `seccomp` module.

use super::*;
use crate::runtime::caps;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output};

// ---- The policy as data ----

#[test]
fn every_policy_entry_has_a_reason_and_a_unique_syscall_and_condition() {
    let mut seen = Vec::new();
    for entry in policy() {
        assert!(
            !entry.reason.trim().is_empty(),
            "{} has no reason",
            entry.name
        );
        assert!(
            !entry.reason.contains('\n'),
            "{}: reason must be one line",
            entry.name
        );
        assert!(!entry.name.is_empty());
        assert!(entry.nr >= 0, "{} has a negative number", entry.name);
        assert!(
            (1..=4095).contains(&entry.errno),
            "{}: errno {} is not a valid errno",
            entry.name,
            entry.errno
        );
        let key = (entry.nr, entry.when);
        assert!(
            !seen.contains(&key),
            "{} {:?} is listed twice",
            entry.name,
            entry.when
        );
        seen.push(key);
    }
}

#[test]
fn one_name_per_syscall_number_and_no_conditions_shadowed_by_always() {
    for entry in policy() {
        for other in policy().iter().filter(|other| other.nr == entry.nr) {
            assert_eq!(entry.name, other.name, "two names for syscall {}", entry.nr);
            assert_eq!(entry.errno, other.errno, "{}: mixed errnos", entry.name);
            if entry.when == Condition::Always {
                assert_eq!(other.when, Condition::Always, "{}: shadowed", entry.name);
            }
        }
    }
}

#[test]
fn policy_denies_everything_the_sandbox_design_requires() {
    let required = [
        "mount",
        "umount2",
        "pivot_root",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "perf_event_open",
        "keyctl",
        "add_key",
        "request_key",
        "setns",
        "unshare",
        "clone",
        "clone3",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "pidfd_open",
        "kcmp",
        "userfaultfd",
        "acct",
        "quotactl",
        "lookup_dcookie",
        "open_by_handle_at",
        "name_to_handle_at",
        "syslog",
        "vhangup",
        "settimeofday",
        "clock_settime",
    ];
    for name in required {
        assert!(
            policy().iter().any(|e| e.name == name),
            "{name} is not denied"
        );
    }
    for allowed in ["personality", "chroot", "seccomp", "execve", "wait4"] {
        assert!(
            !policy().iter().any(|e| e.name == allowed),
            "{allowed} must stay allowed"
        );
    }
    let clone3 = policy().iter().find(|e| e.name == "clone3");
    assert_eq!(clone3.map(|e| e.errno), Some(libc::ENOSYS));
}

// ---- The compiled program, run through a small classic-BPF interpreter ----

const AUDIT_ARCH_I386: u32 = 0x4000_0003;

fn native_audit_arch() -> u32 {
    NATIVE_ARCH.expect("tests run on x86_64 or aarch64").1
}

/// Evaluate `program` on one `struct seccomp_data` the way the kernel would.
fn evaluate(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    for (i, arg) in args.iter().enumerate() {
        data[4 + 2 * i] = *arg as u32;
        data[5 + 2 * i] = (*arg >> 32) as u32;
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let insn = program.get(pc).expect("program ran off its end");
        pc += 1;
        let k = insn.k;
        let branch = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match u32::from(insn.code) {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                assert_eq!(k % 4, 0, "unaligned load");
                acc = data[k as usize / 4];
            }
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= k,
            c if c == libc::BPF_JMP | libc::BPF_JA => pc += k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += branch(acc == k),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => pc += branch(acc > k),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => pc += branch(acc >= k),
            c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => pc += branch(acc & k != 0),
            c if c == libc::BPF_RET | libc::BPF_K => return k,
            other => panic!("unsupported BPF opcode {other:#x}"),
        }
    }
}

fn syscall_action(program: &[sock_filter], nr: i64, args: [u64; 6]) -> u32 {
    evaluate(program, native_audit_arch(), nr as u32, args)
}

fn compiled() -> BpfProgram {
    compile().expect("the policy compiles")
}

/// Arguments that satisfy `when`, with unrelated bits set to prove they do not matter.
fn matching_args(when: Condition) -> [u64; 6] {
    let mut args = [0x5a5a_0000_0000_0000; 6];
    match when {
        Condition::Always => {}
        // The high half is set too: the kernel ignores it, and so must the filter.
        Condition::ArgEq { arg, value } => args[usize::from(arg)] |= u64::from(value),
        Condition::ArgMaskedEq { arg, mask, value } => {
            args[usize::from(arg)] |= u64::from(value | (!mask & 0x11))
        }
    }
    args
}

fn non_matching_args(when: Condition) -> Option<[u64; 6]> {
    let mut args = [0; 6];
    match when {
        Condition::Always => return None,
        Condition::ArgEq { arg, value } => args[usize::from(arg)] = u64::from(value ^ 0x2),
        Condition::ArgMaskedEq { arg, mask, value } => {
            args[usize::from(arg)] = u64::from(!value & mask)
        }
    }
    Some(args)
}

#[test]
fn every_entry_fails_with_its_errno_and_only_when_its_condition_holds() {
    let program = compiled();
    for entry in policy() {
        let expected = errno_action(entry.errno);
        let action = syscall_action(&program, entry.nr, matching_args(entry.when));
        assert_eq!(
            action, expected,
            "{} {:?} not denied",
            entry.name, entry.when
        );
        if let Some(args) = non_matching_args(entry.when) {
            let action = syscall_action(&program, entry.nr, args);
            assert_eq!(
                action,
                libc::SECCOMP_RET_ALLOW,
                "{} denied too eagerly",
                entry.name
            );
        }
    }
}

#[test]
fn unlisted_syscalls_are_allowed() {
    let program = compiled();
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_execve,
        libc::SYS_wait4,
        libc::SYS_personality,
        libc::SYS_chroot,
        libc::SYS_seccomp,
        libc::SYS_getpid,
    ] {
        assert_eq!(
            syscall_action(&program, nr, [0; 6]),
            libc::SECCOMP_RET_ALLOW,
            "{nr}"
        );
    }
    // Debugging the job's own processes and creating other namespaces stay possible
    // (the latter still needs capabilities the job does not have).
    let own_child = [16, 4242, 0, 0, 0, 0];
    assert_eq!(
        syscall_action(&program, libc::SYS_ptrace, own_child),
        libc::SECCOMP_RET_ALLOW
    );
    let new_mount_ns = [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0];
    assert_eq!(
        syscall_action(&program, libc::SYS_unshare, new_mount_ns),
        libc::SECCOMP_RET_ALLOW
    );
}

#[test]
fn pid_and_flag_arguments_are_compared_as_the_kernel_truncates_them() {
    let program = compiled();
    let eperm = errno_action(libc::EPERM);
    // ptrace's pid is a long the kernel narrows to pid_t: 0x1_0000_0001 means PID 1.
    let high_bits_pid_one = [16, 0x1_0000_0001, 0, 0, 0, 0];
    assert_eq!(
        syscall_action(&program, libc::SYS_ptrace, high_bits_pid_one),
        eperm
    );
    // clone keeps only the low 32 bits of its flags, where CLONE_NEWUSER lives.
    let flags = (1u64 << 40) | libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64;
    assert_eq!(
        syscall_action(&program, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
        eperm
    );
    let unshare_many = [
        (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID) as u64,
        0,
        0,
        0,
        0,
        0,
    ];
    assert_eq!(
        syscall_action(&program, libc::SYS_unshare, unshare_many),
        eperm
    );
}

#[test]
fn foreign_abis_kill_the_process() {
    let program = compiled();
    let action = evaluate(&program, AUDIT_ARCH_I386, 20, [0; 6]);
    assert_eq!(action, libc::SECCOMP_RET_KILL_PROCESS);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_syscalls_are_refused_with_enosys() {
    let program = compiled();
    let x32_mount = (libc::SYS_mount as u32) | X32_SYSCALL_BIT;
    let action = evaluate(&program, native_audit_arch(), x32_mount, [0; 6]);
    assert_eq!(action, errno_action(libc::ENOSYS));
    let x32_getpid = (libc::SYS_getpid as u32) | X32_SYSCALL_BIT;
    let action = evaluate(&program, native_audit_arch(), x32_getpid, [0; 6]);
    assert_eq!(action, errno_action(libc::ENOSYS));
}

#[test]
fn compiled_program_fits_the_kernel_limit_and_checks_the_architecture_once() {
    let program = compiled();
    assert!(program.len() < MAX_INSTRUCTIONS);
    let arch_loads = program
        .iter()
        .filter(|insn| insn.code == LD_W_ABS && insn.k == ARCH_OFFSET)
        .count();
    assert_eq!(
        arch_loads, 1,
        "seccompiler's per-block arch check was not stripped"
    );
}

#[test]
fn install_rejects_an_empty_program_without_touching_the_thread() {
    assert_eq!(install(&[]), Err(Errno::EINVAL));
}

// ---- The real kernel: commands run under drop_all + install, as the agent runs them ----

const PYTHON: &str = "/usr/bin/python3";

#[derive(Clone, Copy)]
struct Setup {
    drop_caps: bool,
    filter: bool,
}

/// What the agent does: every capability dropped, then the filter.
const SANDBOX: Setup = Setup {
    drop_caps: true,
    filter: true,
};
/// The filter alone, capabilities kept: proves a refusal comes from seccomp, not from a
/// missing capability. Only for calls that are harmless if the filter were broken.
const FILTER_ONLY: Setup = Setup {
    drop_caps: false,
    filter: true,
};

fn to_io(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}

fn run(mut command: Command, setup: Setup) -> Output {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests must run as root"
    );
    let program = compiled();
    let last_cap = caps::last_cap().expect("cap_last_cap is readable");
    // SAFETY: the hook runs between fork and exec and only calls `caps::drop_all` and
    // `install`, which make raw syscalls on `last_cap` and `program`, both built before
    // fork; nothing allocates or takes a lock, so it is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if setup.drop_caps {
                caps::drop_all(last_cap).map_err(to_io)?;
            }
            if setup.filter {
                install(&program).map_err(to_io)?;
            }
            Ok(())
        });
    }
    command.output().expect("the command spawns")
}

fn sh(script: &str, setup: Setup) -> Output {
    let mut command = Command::new("/bin/sh");
    command.args(["-c", script]);
    run(command, setup)
}

/// Python with ctypes reaches raw syscalls without a compiler; `None` if it is missing.
fn python(script: &str, setup: Setup) -> Option<Output> {
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is needed for this test (.ci/run installs it)"
    );
    let prelude = format!(
        "import ctypes, os, sys\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.syscall.restype = ctypes.c_long\n\
         def call(nr, *args):\n    \
             ctypes.set_errno(0)\n    \
             r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])\n    \
             return (r, ctypes.get_errno())\n\
         SYS_ptrace, SYS_clone, SYS_clone3, SYS_unshare = {}, {}, {}, {}\n\
         SYS_process_vm_readv, SYS_pidfd_open, SYS_kcmp, SYS_fsopen = {}, {}, {}, {}\n",
        libc::SYS_ptrace,
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_unshare,
        libc::SYS_process_vm_readv,
        libc::SYS_pidfd_open,
        libc::SYS_kcmp,
        libc::SYS_fsopen,
    );
    let mut command = Command::new(PYTHON);
    command.args(["-c", &format!("{prelude}{script}")]);
    Some(run(command, setup))
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

fn is_mounted(dir: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.to_string_lossy();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(dir.as_ref()))
}

#[test]
fn ordinary_commands_still_work() {
    let output = sh(
        "echo ok; ls / >/dev/null; cat /proc/self/status >/dev/null; \
         (sleep 0 &); sleep 0 & wait; date >/dev/null; mktemp -d | xargs rmdir",
        SANDBOX,
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "ok\n");
}

#[test]
fn filter_is_installed_with_no_new_privs() {
    let output = sh(
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        SANDBOX,
    );
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
}

#[test]
fn mount_is_denied() {
    // Capabilities are kept so only the filter can refuse; the target is a fresh empty
    // directory, so a broken filter would only mount a tmpfs there, which is undone below.
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().to_str().expect("utf-8 temp path").to_owned();
    let shell = sh(&format!("mount -t tmpfs none '{target}'"), FILTER_ONLY);
    let py = python(
        &format!(
            "r = libc.mount(b'none', b'{target}', b'tmpfs', ctypes.c_ulong(0), None)\n\
             e = ctypes.get_errno()\n\
             if r == 0: libc.umount2(b'{target}', 2)\n\
             print('mount', r, e)\n\
             fstype = ctypes.create_string_buffer(b'tmpfs')\n\
             print('fsopen', *call(SYS_fsopen, ctypes.addressof(fstype), 0))\n"
        ),
        FILTER_ONLY,
    );
    if is_mounted(dir.path()) {
        let _ = nix::mount::umount2(dir.path(), nix::mount::MntFlags::MNT_DETACH);
        panic!("tmpfs got mounted on {target}: the filter let mount(2) through");
    }
    assert!(!shell.status.success(), "mount(8) succeeded");
    if let Some(py) = py {
        assert_success(&py);
        assert_eq!(
            stdout(&py),
            format!("mount -1 {0}\nfsopen -1 {0}\n", libc::EPERM)
        );
    }
}

#[test]
fn every_unconditional_entry_fails_with_its_errno_in_the_kernel() {
    // Zero arguments: harmless even if the filter were broken, since capabilities are
    // dropped and every call here then fails in the kernel or does nothing.
    let table: Vec<String> = policy()
        .iter()
        .filter(|entry| entry.when == Condition::Always)
        .map(|entry| format!("('{}', {}, {})", entry.name, entry.nr, entry.errno))
        .collect();
    let Some(output) = python(
        &format!(
            "for name, nr, errno in [{}]:\n    \
                 r, e = call(nr, 0, 0, 0, 0, 0, 0)\n    \
                 if (r, e) != (-1, errno): print(name, r, e)\n",
            table.join(", ")
        ),
        SANDBOX,
    ) else {
        return;
    };
    assert_success(&output);
    assert_eq!(stdout(&output), "", "calls not refused as the policy says");
}

#[test]
fn new_user_namespace_is_denied() {
    let shell = sh("unshare --user true", SANDBOX);
    assert!(!shell.status.success(), "unshare --user succeeded");
    assert!(
        String::from_utf8_lossy(&shell.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    let Some(output) = python(
        &format!(
            "print('unshare', *call(SYS_unshare, {newuser}))\n\
             print('unshare+ns', *call(SYS_unshare, {newuser} | {newns}))\n\
             r, e = call(SYS_clone, {newuser} | {sigchld}, 0, 0, 0, 0)\n\
             if r == 0: os._exit(0)\n\
             print('clone', r, e)\n\
             print('clone3', *call(SYS_clone3, 0, 0))\n\
             print('unshare files', *call(SYS_unshare, {files}))\n",
            newuser = libc::CLONE_NEWUSER,
            newns = libc::CLONE_NEWNS,
            sigchld = libc::SIGCHLD,
            files = libc::CLONE_FILES,
        ),
        SANDBOX,
    ) else {
        return;
    };
    assert_success(&output);
    let eperm = libc::EPERM;
    assert_eq!(
        stdout(&output),
        format!(
            "unshare -1 {eperm}\nunshare+ns -1 {eperm}\nclone -1 {eperm}\nclone3 -1 {}\n\
             unshare files 0 0\n",
            libc::ENOSYS
        )
    );
}

#[test]
fn threads_and_processes_still_start_without_clone3() {
    let Some(output) = python(
        "import threading, subprocess\n\
         t = threading.Thread(target=lambda: print('thread'))\n\
         t.start(); t.join()\n\
         print(subprocess.run(['/bin/echo', 'spawned'], capture_output=True).stdout.decode(), end='')\n\
         pid = os.fork()\n\
         if pid == 0: os._exit(7)\n\
         print('forked', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n",
        SANDBOX,
    ) else {
        return;
    };
    assert_success(&output);
    assert_eq!(stdout(&output), "thread\nspawned\nforked 7\n");
}

#[test]
fn ptrace_of_pid_one_is_denied() {
    // PTRACE_PEEKDATA (2) on a process we do not trace is refused with ESRCH by the kernel
    // and changes nothing, so even with capabilities kept a broken filter would do no harm
    // — and EPERM can only come from the filter.
    let Some(output) = python(
        "print('peek', *call(SYS_ptrace, 2, 1, 0, 0))\n\
         print('peek high bits', *call(SYS_ptrace, 2, 0x100000001, 0, 0))\n\
         print('peek other', *call(SYS_ptrace, 2, 0x3fffffff, 0, 0))\n",
        FILTER_ONLY,
    ) else {
        return;
    };
    assert_success(&output);
    let (eperm, esrch) = (libc::EPERM, libc::ESRCH);
    assert_eq!(
        stdout(&output),
        format!("peek -1 {eperm}\npeek high bits -1 {eperm}\npeek other -1 {esrch}\n")
    );
    // In the real configuration an attach is refused too (PTRACE_ATTACH = 16).
    let Some(output) = python("print('attach', *call(SYS_ptrace, 16, 1, 0, 0))\n", SANDBOX) else {
        return;
    };
    assert_success(&output);
    assert_eq!(stdout(&output), format!("attach -1 {eperm}\n"));
}

#[test]
fn ptrace_of_own_child_is_allowed() {
    let Some(output) = python(
        "import time\n\
         pid = os.fork()\n\
         if pid == 0:\n    time.sleep(10)\n    os._exit(0)\n\
         print('attach', *call(SYS_ptrace, 16, pid, 0, 0))\n\
         _, status = os.waitpid(pid, 0)\n\
         print('stopped', os.WIFSTOPPED(status))\n\
         print('detach', *call(SYS_ptrace, 17, pid, 0, 0))\n\
         os.kill(pid, 9); os.waitpid(pid, 0)\n",
        SANDBOX,
    ) else {
        return;
    };
    assert_success(&output);
    assert_eq!(stdout(&output), "attach 0 0\nstopped True\ndetach 0 0\n");

    if Path::new("/usr/bin/strace").exists() {
        let output = sh("strace -f -o /dev/null /bin/sh -c 'echo traced'", SANDBOX);
        assert_success(&output);
        assert_eq!(stdout(&output), "traced\n");
    }
}

#[test]
fn agent_memory_and_pidfd_are_out_of_reach() {
    let Some(output) = python(
        "me = os.getpid()\n\
         print('vm_readv agent', *call(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0))\n\
         print('vm_readv self', *call(SYS_process_vm_readv, me, 0, 0, 0, 0, 0))\n\
         print('pidfd agent', *call(SYS_pidfd_open, 1, 0))\n\
         print('pidfd self', call(SYS_pidfd_open, me, 0)[0] >= 0)\n\
         print('kcmp agent first', *call(SYS_kcmp, 1, me, 1, 0, 0))\n\
         print('kcmp agent second', *call(SYS_kcmp, me, 1, 1, 0, 0))\n\
         print('kcmp self', *call(SYS_kcmp, me, me, 1, 0, 0))\n",
        FILTER_ONLY,
    ) else {
        return;
    };
    assert_success(&output);
    let eperm = libc::EPERM;
    assert_eq!(
        stdout(&output),
        format!(
            "vm_readv agent -1 {eperm}\nvm_readv self 0 0\npidfd agent -1 {eperm}\n\
             pidfd self True\nkcmp agent first -1 {eperm}\nkcmp agent second -1 {eperm}\n\
             kcmp self 0 0\n"
        )
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_kill_the_process() {
    // `mov eax, 20 (i386 getpid); int 0x80; ret`, run from a W+X page.
    let script = "import mmap, resource\n\
         resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n\
         m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n\
         m.write(bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3]))\n\
         f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))\n\
         print(f() == os.getpid(), flush=True)\n";
    let unfiltered = Setup {
        drop_caps: true,
        filter: false,
    };
    let Some(control) = python(script, unfiltered) else {
        return;
    };
    assert_eq!(
        stdout(&control),
        "True\n",
        "without the filter this kernel should run i386 syscalls ({:?})",
        control.status
    );
    let Some(output) = python(script, SANDBOX) else {
        return;
    };
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "{:?}",
        output.status
    );
    assert_eq!(stdout(&output), "");
}
