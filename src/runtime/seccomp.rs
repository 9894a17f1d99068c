//! The seccomp filter the agent installs on itself, and every sandboxed command inherits.
//!
//! The policy is data ([`policy`]), in the spirit of Firecracker's JSON filters: a deny list
//! over a default of "allow". An allow list would break the arbitrary toolchains CI jobs run,
//! and most privileged calls already fail because [`crate::runtime::caps`] drops every
//! capability. The filter exists for what capabilities do not cover — kernel attack surface that
//! an unprivileged process can reach (user namespaces, `bpf`, `userfaultfd`, io_uring, keyrings,
//! the sandbox agent as PID 1) — and as a second wall in front of the privileged rest.
//!
//! Other ABIs: the compiled program first checks `seccomp_data.arch` and kills the process on
//! any other value, because syscall numbers differ per ABI and the table would not apply. That
//! covers i386 (`int 0x80` on x86_64) and 32-bit ARM on aarch64. The x32 ABI is different: it
//! reports `AUDIT_ARCH_X86_64` and is told apart only by bit 30 of the syscall number, which
//! seccompiler's architecture check ignores (x32 `mount` would sail past an entry for `mount`).
//! The program therefore refuses every number with that bit with `ENOSYS`, exactly what a kernel
//! built without x32 support answers.
//!
//! [`compile`] builds the program; [`install`] loads it with two raw syscalls and no allocation,
//! so it is async-signal-safe as well (its tests install it between fork and exec).

use std::collections::{BTreeMap, BTreeSet};

use nix::errno::Errno;
use seccompiler::{
    sock_filter, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// When a [`DeniedSyscall`] applies.
///
/// Argument conditions compare only the low 32 bits of the argument. Every argument the policy
/// inspects is an `int` to the kernel (`pid_t`, or clone flags through `lower_32_bits`), so the
/// kernel itself ignores the high half: comparing all 64 bits would let `0x1_0000_0001` slip past
/// a rule for PID 1 while the kernel still acts on PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Every call is denied, whatever its arguments.
    Always,
    /// Denied when argument `arg` (0-based) equals `value`.
    ArgEq {
        /// Index of the argument, 0 to 5.
        arg: u8,
        /// Value that makes the call denied.
        value: u32,
    },
    /// Denied when `arg & mask == value`, e.g. "flags include `CLONE_NEWUSER`".
    ArgMaskedEq {
        /// Index of the argument, 0 to 5.
        arg: u8,
        /// Bits of the argument that are compared.
        mask: u32,
        /// Value the masked bits must have for the call to be denied.
        value: u32,
    },
}

/// One entry of the sandbox policy: which syscall, when it is denied, what it returns, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeniedSyscall {
    /// The syscall's name, as in `man 2`.
    pub name: &'static str,
    /// Its number on the running architecture (`libc::SYS_*`).
    pub nr: i64,
    /// Which calls are denied.
    pub when: Condition,
    /// The errno a denied call fails with: `EPERM`, except where a different answer makes
    /// callers fall back to something the filter can inspect.
    pub errno: i32,
    /// Why the sandbox denies it, in one line.
    pub reason: &'static str,
}

/// Errors from building the seccomp program.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The filter is only written for x86_64 and aarch64 syscall tables.
    #[error("seccomp filters are only built for x86_64 and aarch64, not {arch}")]
    UnsupportedArch {
        /// The architecture this binary was built for.
        arch: &'static str,
    },
    /// seccompiler rejected the policy.
    #[error("failed to compile seccomp filter")]
    Compile(#[source] BackendError),
    /// The program exceeds what the kernel accepts.
    #[error("seccomp filter has {len} instructions, more than the kernel's limit of {max}")]
    TooLarge {
        /// Instructions in the compiled program.
        len: usize,
        /// The kernel's limit (`BPF_MAXINSNS`).
        max: usize,
    },
}

/// `open_tree_attr(2)`, added in Linux 6.15, is not in libc 0.2 yet. Syscalls from 424 on share
/// one number on every architecture, so 467 holds for both x86_64 and aarch64.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// Agent's PID inside the sandbox's PID namespace.
const AGENT_PID: u32 = 1;

// libc's clone flags are `c_int`; the conditions compare unsigned 32-bit words.
const CLONE_NEWUSER: u32 = libc::CLONE_NEWUSER as u32;

const fn deny(name: &'static str, nr: i64, reason: &'static str) -> DeniedSyscall {
    DeniedSyscall {
        name,
        nr,
        when: Condition::Always,
        errno: libc::EPERM,
        reason,
    }
}

const fn deny_if(
    name: &'static str,
    nr: i64,
    when: Condition,
    reason: &'static str,
) -> DeniedSyscall {
    DeniedSyscall {
        name,
        nr,
        when,
        errno: libc::EPERM,
        reason,
    }
}

const fn targets_agent(arg: u8) -> Condition {
    Condition::ArgEq {
        arg,
        value: AGENT_PID,
    }
}

const fn creates_user_namespace(arg: u8) -> Condition {
    Condition::ArgMaskedEq {
        arg,
        mask: CLONE_NEWUSER,
        value: CLONE_NEWUSER,
    }
}

static POLICY: &[DeniedSyscall] = &[
    // Mounts: the runtime built the sandbox's filesystem view; the job must not rearrange it.
    deny("mount", libc::SYS_mount, "could remount or cover the sandbox's rootfs and read-only paths"),
    deny("umount2", libc::SYS_umount2, "could uncover what the sandbox's mounts hide, such as masked /proc paths"),
    deny("pivot_root", libc::SYS_pivot_root, "swapping the root filesystem is the runtime's job and a way out of the rootfs"),
    deny("fsopen", libc::SYS_fsopen, "new mount API: creates a filesystem context, as powerful as mount(2)"),
    deny("fsconfig", libc::SYS_fsconfig, "new mount API: configures a filesystem context for fsmount"),
    deny("fsmount", libc::SYS_fsmount, "new mount API: turns a filesystem context into a mount"),
    deny("fspick", libc::SYS_fspick, "new mount API: reconfigures an existing mount, like mount -o remount"),
    deny("move_mount", libc::SYS_move_mount, "new mount API: attaches or moves mounts, like mount --move"),
    deny("open_tree", libc::SYS_open_tree, "new mount API: clones mount trees, like mount --bind"),
    deny("open_tree_attr", SYS_OPEN_TREE_ATTR, "new mount API: open_tree that also changes mount attributes"),
    deny("mount_setattr", libc::SYS_mount_setattr, "new mount API: changes mount flags, e.g. clears read-only or nosuid"),
    // Host-wide administration: nothing here is namespaced, so it would reach past the sandbox.
    deny("swapon", libc::SYS_swapon, "swap is host-wide; only the host adds it"),
    deny("swapoff", libc::SYS_swapoff, "swap is host-wide; only the host removes it"),
    deny("reboot", libc::SYS_reboot, "would reboot or halt the host, or kill the sandbox's PID 1"),
    deny("kexec_load", libc::SYS_kexec_load, "loads a new kernel to boot into"),
    deny("kexec_file_load", libc::SYS_kexec_file_load, "loads a new kernel to boot into"),
    deny("init_module", libc::SYS_init_module, "loads arbitrary code into the host kernel"),
    deny("finit_module", libc::SYS_finit_module, "loads arbitrary code into the host kernel"),
    deny("delete_module", libc::SYS_delete_module, "unloads kernel modules the host depends on"),
    deny("acct", libc::SYS_acct, "process accounting is host-wide and writes to a file the caller picks"),
    deny("quotactl", libc::SYS_quotactl, "filesystem quotas are host-wide administration"),
    deny("quotactl_fd", libc::SYS_quotactl_fd, "filesystem quotas are host-wide administration"),
    deny("settimeofday", libc::SYS_settimeofday, "the realtime clock is host-wide; no namespace isolates it"),
    deny("clock_settime", libc::SYS_clock_settime, "the realtime clock is host-wide; no namespace isolates it"),
    deny("syslog", libc::SYS_syslog, "the kernel log is host-wide and leaks kernel addresses"),
    deny("vhangup", libc::SYS_vhangup, "hangs up the controlling terminal, which may be the host's"),
    #[cfg(target_arch = "x86_64")]
    deny("iopl", libc::SYS_iopl, "raises the I/O privilege level for raw hardware access"),
    #[cfg(target_arch = "x86_64")]
    deny("ioperm", libc::SYS_ioperm, "grants raw access to hardware I/O ports"),
    // Kernel attack surface an unprivileged process could otherwise reach.
    deny("bpf", libc::SYS_bpf, "eBPF is a large kernel attack surface and can observe the host"),
    deny("perf_event_open", libc::SYS_perf_event_open, "exposes host-wide kernel state; long record of kernel bugs"),
    deny("userfaultfd", libc::SYS_userfaultfd, "stalls kernel page faults at will, a standard kernel-race exploit primitive"),
    deny("keyctl", libc::SYS_keyctl, "kernel keyrings are not namespaced: keys of the host or other sandboxes"),
    deny("add_key", libc::SYS_add_key, "kernel keyrings are not namespaced: keys of the host or other sandboxes"),
    deny("request_key", libc::SYS_request_key, "kernel keyrings are not namespaced: keys of the host or other sandboxes"),
    deny("io_uring_setup", libc::SYS_io_uring_setup, "large, exploit-prone attack surface whose operations bypass seccomp (Docker denies it too)"),
    deny("io_uring_enter", libc::SYS_io_uring_enter, "drives an io_uring, denied with io_uring_setup"),
    deny("io_uring_register", libc::SYS_io_uring_register, "configures an io_uring, denied with io_uring_setup"),
    deny("lookup_dcookie", libc::SYS_lookup_dcookie, "obsolete profiling interface that resolves cookies to host paths"),
    deny("open_by_handle_at", libc::SYS_open_by_handle_at, "opens files by handle, bypassing mount confinement (the 'shocker' escape)"),
    deny("name_to_handle_at", libc::SYS_name_to_handle_at, "mints the handles open_by_handle_at consumes; no CI use"),
    // Namespaces: the sandbox's namespaces are fixed at creation.
    deny("setns", libc::SYS_setns, "joining another namespace, e.g. via a leaked /proc/<pid>/ns fd, leaves the sandbox"),
    deny_if("unshare", libc::SYS_unshare, creates_user_namespace(0), "a user namespace grants full capabilities over new namespaces, the usual first step of kernel exploits"),
    deny_if("clone", libc::SYS_clone, creates_user_namespace(0), "a child in a new user namespace holds every capability there"),
    DeniedSyscall {
        name: "clone3",
        nr: libc::SYS_clone3,
        when: Condition::Always,
        errno: libc::ENOSYS,
        reason: "its flags sit in memory seccomp cannot read; ENOSYS makes libc fall back to clone(2)",
    },
    // The sandbox agent is PID 1. The job may debug its own processes, never the agent.
    deny_if("ptrace", libc::SYS_ptrace, targets_agent(1), "tracing the agent would let a job forge results or steal its credentials"),
    deny_if("process_vm_readv", libc::SYS_process_vm_readv, targets_agent(0), "reads the agent's memory"),
    deny_if("process_vm_writev", libc::SYS_process_vm_writev, targets_agent(0), "writes the agent's memory"),
    deny_if("pidfd_open", libc::SYS_pidfd_open, targets_agent(0), "an agent pidfd enables pidfd_getfd (stealing its fds) and signalling it"),
    deny_if("kcmp", libc::SYS_kcmp, targets_agent(0), "compares the agent's kernel objects, leaking which files and memory it holds"),
    deny_if("kcmp", libc::SYS_kcmp, targets_agent(1), "compares the agent's kernel objects, leaking which files and memory it holds"),
    // PID 1 has signal handlers (forwarding, shutdown), so the kernel's init protection does not
    // shield it from signals sent inside the sandbox; only the host may signal the agent.
    deny_if("kill", libc::SYS_kill, targets_agent(0), "would stop the agent (and every command) or make it signal every command"),
    deny_if("tkill", libc::SYS_tkill, targets_agent(0), "signals the agent's thread directly"),
    deny_if("tgkill", libc::SYS_tgkill, targets_agent(0), "signals the agent's thread group"),
    deny_if("tgkill", libc::SYS_tgkill, targets_agent(1), "signals the agent's thread"),
    deny_if("rt_sigqueueinfo", libc::SYS_rt_sigqueueinfo, targets_agent(0), "queues a signal to the agent"),
    deny_if("rt_tgsigqueueinfo", libc::SYS_rt_tgsigqueueinfo, targets_agent(0), "queues a signal to the agent's thread group"),
    deny_if("rt_tgsigqueueinfo", libc::SYS_rt_tgsigqueueinfo, targets_agent(1), "queues a signal to the agent's thread"),
    deny("pidfd_send_signal", libc::SYS_pidfd_send_signal, "a pidfd made by opening /proc/1 would signal the agent past the kill(2) rule; kill(2) serves everything else"),
];

/// The sandbox policy: every syscall that is denied, and why.
///
/// Anything not listed is allowed. Listed calls fail with `EPERM`, except `clone3`, which fails
/// with `ENOSYS` so that libc falls back to `clone(2)`, whose flags a filter can inspect.
pub fn policy() -> &'static [DeniedSyscall] {
    POLICY
}

// Classic BPF opcodes, narrowed to the 16-bit `code` field they live in.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JMP_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JMP_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JMP_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets into `struct seccomp_data { int nr; __u32 arch; ... }`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

/// `__X32_SYSCALL_BIT`: x32 syscalls are x86_64 numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_*` values from `linux/audit.h` (machine | 64-bit | little-endian); libc lacks them.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

const NATIVE_ARCH: Option<(TargetArch, u32)> =
    if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
        Some((TargetArch::x86_64, AUDIT_ARCH_X86_64))
    } else if cfg!(target_arch = "aarch64") {
        Some((TargetArch::aarch64, AUDIT_ARCH_AARCH64))
    } else {
        None
    };

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Compile [`policy`] into a BPF program for the running architecture.
///
/// Layout: the architecture check (other ABIs are killed), on x86_64 the x32 check (`ENOSYS`),
/// then one seccompiler-generated block per distinct errno, then "allow". seccompiler gives
/// every match in a filter the same action, so each block is compiled separately and its
/// "allow" exits are rewritten into jumps to the next block.
pub fn compile() -> Result<BpfProgram, SeccompError> {
    let (arch, audit_arch) = NATIVE_ARCH.ok_or(SeccompError::UnsupportedArch {
        arch: std::env::consts::ARCH,
    })?;

    let arch_check = vec![
        stmt(LD_W_ABS, ARCH_OFFSET),
        jump(JMP_JEQ_K, audit_arch, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    let mut program = arch_check.clone();
    if arch == TargetArch::x86_64 {
        program.extend([
            stmt(LD_W_ABS, NR_OFFSET),
            jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, errno_action(libc::ENOSYS)),
        ]);
    }

    let mut errnos: Vec<i32> = Vec::new();
    for entry in policy() {
        if !errnos.contains(&entry.errno) {
            errnos.push(entry.errno);
        }
    }
    for errno in errnos {
        let block = compile_block(arch, errno)?;
        // The block repeats the architecture check already done above; skip it when it is
        // recognisably the same, and keep it (harmlessly) if seccompiler ever changes its shape.
        let block = match block.strip_prefix(arch_check.as_slice()) {
            Some(rest) => rest,
            None => block.as_slice(),
        };
        append_block(&mut program, block)?;
    }
    program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));

    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLarge {
            len: program.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    Ok(program)
}

fn errno_action(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno.unsigned_abs() & libc::SECCOMP_RET_DATA)
}

/// Compile the entries of the policy that fail with `errno` into a standalone filter whose
/// non-matching paths return "allow".
fn compile_block(arch: TargetArch, errno: i32) -> Result<BpfProgram, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut unconditional: BTreeSet<i64> = BTreeSet::new();
    for entry in policy().iter().filter(|entry| entry.errno == errno) {
        let chain = rules.entry(entry.nr).or_default();
        match rule(entry.when).map_err(SeccompError::Compile)? {
            Some(rule) => chain.push(rule),
            None => {
                unconditional.insert(entry.nr);
            }
        }
    }
    // seccompiler reads an empty chain as "always"; an unconditional entry must not be narrowed
    // by a conditional one for the same syscall.
    for nr in unconditional {
        rules.insert(nr, Vec::new());
    }

    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno.unsigned_abs()),
        arch,
    )
    .map_err(SeccompError::Compile)?;
    BpfProgram::try_from(filter).map_err(SeccompError::Compile)
}

fn rule(when: Condition) -> Result<Option<SeccompRule>, BackendError> {
    let (arg, op, value) = match when {
        Condition::Always => return Ok(None),
        Condition::ArgEq { arg, value } => (arg, SeccompCmpOp::Eq, value),
        Condition::ArgMaskedEq { arg, mask, value } => {
            (arg, SeccompCmpOp::MaskedEq(u64::from(mask)), value)
        }
    };
    let condition = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, u64::from(value))?;
    SeccompRule::new(vec![condition]).map(Some)
}

/// Append `block`, turning each of its "allow" returns into a jump to whatever follows it.
///
/// Classic BPF jumps are relative and forward-only, and seccompiler's jumps never leave the
/// block, so the block stays valid wherever it lands.
fn append_block(program: &mut BpfProgram, block: &[sock_filter]) -> Result<(), SeccompError> {
    let too_large = || SeccompError::TooLarge {
        len: program.len() + block.len(),
        max: MAX_INSTRUCTIONS,
    };
    let mut out = Vec::with_capacity(block.len());
    for (index, insn) in block.iter().enumerate() {
        if insn.code == RET_K && insn.k == libc::SECCOMP_RET_ALLOW {
            let to_end = u32::try_from(block.len() - index - 1).map_err(|_| too_large())?;
            out.push(stmt(JMP_JA, to_end));
        } else {
            out.push(insn.clone());
        }
    }
    program.extend(out);
    Ok(())
}

// `install` hands seccompiler's instructions to the kernel as `libc::sock_filter`; both are the
// kernel's `struct sock_filter` (`u16 code; u8 jt; u8 jf; u32 k`), which this pins down.
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<sock_filter>() == size_of::<libc::sock_filter>());
    assert!(align_of::<sock_filter>() == align_of::<libc::sock_filter>());
    assert!(offset_of!(sock_filter, code) == offset_of!(libc::sock_filter, code));
    assert!(offset_of!(sock_filter, jt) == offset_of!(libc::sock_filter, jt));
    assert!(offset_of!(sock_filter, jf) == offset_of!(libc::sock_filter, jf));
    assert!(offset_of!(sock_filter, k) == offset_of!(libc::sock_filter, k));
};

/// Set `PR_SET_NO_NEW_PRIVS` and install `program` as the calling thread's seccomp filter.
///
/// Async-signal-safe: two raw syscalls on the caller's data, no allocation, so it may also run
/// in a `pre_exec` hook between fork and exec. `seccompiler::apply_filter` would do the same two
/// calls today, but its error type wraps `io::Error` and its `u16` length cast is unchecked, so
/// the calls are made here directly. Only the calling thread is filtered (no
/// `SECCOMP_FILTER_FLAG_TSYNC`): callers have a single thread (the agent before it serves).
///
/// Returns the raw errno of the failing call; `EINVAL` for an empty or oversized program.
pub fn install(program: &[sock_filter]) -> Result<(), Errno> {
    if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
        return Err(Errno::EINVAL);
    }
    let len = u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let (one, zero): (libc::c_ulong, libc::c_ulong) = (1, 0);

    // SAFETY: PR_SET_NO_NEW_PRIVS takes only integer arguments, so the kernel reads no memory
    // of ours; the unused arguments are zero as prctl(2) requires.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) };
    if rc != 0 {
        return Err(Errno::last());
    }

    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` points at `len` instructions of `program`, borrowed for the whole call;
    // the two `sock_filter` types have the same layout (asserted above); the kernel only copies
    // the instructions in (copy_from_user), so the `*mut` required by libc is never written
    // through. Flags are 0, so no pointer other than `fprog` is read.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            zero,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
