//! Idle memory: 100 idle sandboxes (keep-alive), and what each costs.
//!
//! Per sandbox: the agent's RSS and PSS (`/proc/PID/smaps_rollup`, pid from the sandbox's
//! `record.json`), the memory its cgroup is charged (`memory.usage_in_bytes` on cgroup v1,
//! `memory.current` on v2: includes kernel memory such as mounts and namespaces, and tmpfs
//! pages), and the processes that exist because of it: those in its cgroup, the agent's
//! children, and children of this benchmark (there should be none but the agent). The baseline
//! is 100 idle `sleep infinity` processes measured the same way. Finally every sandbox must
//! answer an exec.
//!
//! Target: ≤ 4 MiB per idle sandbox.
//!
//! Run with `cargo bench --bench idle_memory` (as root). `SANDPIT_BENCH_N` overrides the number
//! of sandboxes (default 100).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{mib, ms, timed, verdict, BenchHome, Creates, Row, Samples};
use sandpit::sandbox::{Command as SandboxCommand, Sandbox, SandboxOptions};

const TARGET_BYTES: f64 = 4.0 * (1 << 20) as f64;
/// Time for freshly started processes to finish their start-up allocations.
const SETTLE: Duration = Duration::from_secs(1);

/// What `/proc/PID/smaps_rollup` says about one process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss: f64,
    pss: f64,
    pss_anon: f64,
}

/// Idle `sleep infinity` processes, killed when dropped.
struct Sleepers(Vec<Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    let n: usize = common::env_count("SANDPIT_BENCH_N", 100);
    common::print_header(&format!("idle memory: {n} idle keep-alive sandboxes"));
    let rt = common::runtime();

    // Baseline first, so its processes are gone before the sandboxes exist.
    let baseline = {
        let sleepers = Sleepers(
            (0..n)
                .map(|_| {
                    Command::new("sleep")
                        .arg("infinity")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("spawn sleep infinity")
                })
                .collect(),
        );
        std::thread::sleep(SETTLE);
        sleepers
            .0
            .iter()
            .map(|c| smaps_rollup(c.id()).expect("read the smaps_rollup of sleep"))
            .collect::<Vec<_>>()
    };

    let home = BenchHome::new();
    let available_before = mem_available();
    let options = SandboxOptions {
        keep_alive: true,
        ..SandboxOptions::default()
    };
    let mut creates = Creates::default();
    let mut create = Samples::with_capacity(n);
    let mut sandboxes: Vec<Sandbox> = Vec::with_capacity(n);
    for i in 0..n {
        let (t, sandbox) = rt.block_on(creates.create(&home, &format!("idle-{i:03}"), &options));
        sandboxes.push(sandbox);
        create.push(t);
    }
    std::thread::sleep(SETTLE);
    let available_after = mem_available();

    let processes = all_processes();
    let me = std::process::id();
    let bench_children: Vec<u32> = processes
        .iter()
        .filter(|p| p.ppid == me)
        .map(|p| p.pid)
        .collect();
    let mut agent = Vec::with_capacity(n);
    let mut cgroup_bytes = Vec::with_capacity(n);
    let mut in_cgroups = Vec::with_capacity(n);
    let mut agent_children = 0usize;
    for sandbox in &sandboxes {
        let id = sandbox.id();
        let record = home.record(id);
        let pid = record["agent"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no agent pid in the record of {id}: {record}"));
        agent.push(smaps_rollup(pid).unwrap_or_else(|| panic!("read the agent of {id}")));
        agent_children += processes.iter().filter(|p| p.ppid == pid).count();
        let dirs: Vec<PathBuf> = record["cgroup"]["dirs"]
            .as_array()
            .map(|dirs| {
                dirs.iter()
                    .filter_map(|d| d.as_str().map(PathBuf::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bytes) = dirs.iter().find_map(|d| cgroup_memory(d)) {
            cgroup_bytes.push(bytes);
        }
        let pids: BTreeSet<u32> = dirs.iter().flat_map(|d| cgroup_procs(d)).collect();
        in_cgroups.push(pids.len() as f64);
    }

    let mut exec = Samples::with_capacity(n);
    let mut answered = 0;
    for sandbox in &sandboxes {
        let (t, out) = rt.block_on(timed(sandbox.exec(SandboxCommand::new("/bin/true"))));
        match out {
            Ok(out) if out.success() => answered += 1,
            Ok(out) => eprintln!("{}: /bin/true failed: {out:?}", sandbox.id()),
            Err(e) => eprintln!("{}: exec failed: {e}", sandbox.id()),
        }
        exec.push(t);
    }
    let mut destroy = Samples::with_capacity(n);
    for sandbox in sandboxes {
        let id = sandbox.id().to_string();
        let (t, done) = rt.block_on(timed(sandbox.destroy()));
        done.unwrap_or_else(|e| panic!("destroy sandbox {id}: {e}"));
        destroy.push(t);
    }

    let pick = |v: &[Memory], f: fn(&Memory) -> f64| v.iter().map(f).collect::<Vec<_>>();
    let rss = pick(&agent, |m| m.rss);
    let pss = pick(&agent, |m| m.pss);
    let anon = pick(&agent, |m| m.pss_anon);
    let sleep_rss = pick(&baseline, |m| m.rss);
    let sleep_pss = pick(&baseline, |m| m.pss);
    let sleep_anon = pick(&baseline, |m| m.pss_anon);
    let memory_row = |what: &str, values: &[f64], base: &[f64]| {
        let p50 = median(values);
        Row::new(
            what,
            mib(p50),
            mib(percentile(values, 95.0)),
            format!("sleep {}", mib(median(base))),
            format!(
                "{:.1}× sleep; target ≤ 4 MiB: {}",
                p50 / median(base),
                verdict(p50 <= TARGET_BYTES)
            ),
        )
    };
    let mut rows = vec![
        memory_row("agent RSS", &rss, &sleep_rss),
        memory_row("agent PSS", &pss, &sleep_pss),
        memory_row("  of which anonymous (Pss_Anon)", &anon, &sleep_anon),
    ];
    if cgroup_bytes.is_empty() {
        rows.push(Row::new(
            "cgroup memory usage",
            "-",
            "-",
            "no memory controller",
            "",
        ));
    } else {
        let p50 = median(&cgroup_bytes);
        rows.push(Row::new(
            "cgroup memory usage (incl. kernel)",
            mib(p50),
            mib(percentile(&cgroup_bytes, 95.0)),
            "",
            format!("target ≤ 4 MiB: {}", verdict(p50 <= TARGET_BYTES)),
        ));
    }
    let drop_per_sandbox = (available_before - available_after) / n as f64;
    rows.push(Row::new(
        "host MemAvailable drop / sandbox",
        mib(drop_per_sandbox),
        "-",
        "",
        "whole host: noisy, indicative only",
    ));
    rows.push(Row::new(
        "processes in the sandbox's cgroup",
        format!("{}", median(&in_cgroups)),
        format!("{}", percentile(&in_cgroups, 95.0)),
        "",
        "the agent alone is 1",
    ));
    rows.push(Row::new(
        "exec /bin/true in each idle sandbox",
        ms(exec.p50()),
        ms(exec.p95()),
        "",
        format!("{answered}/{n} answered: {}", verdict(answered == n)),
    ));
    rows.push(Row::new(
        "  create (for reference)",
        ms(create.p50()),
        ms(create.p95()),
        "",
        format!("{n} running when the last was made"),
    ));
    rows.push(Row::new(
        "  destroy (for reference)",
        ms(destroy.p50()),
        ms(destroy.p95()),
        "",
        "",
    ));
    rows.push(creates.row());
    common::print_table(&rows);
    creates.print_failures();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let total = |v: &[f64]| v.iter().sum::<f64>();
    println!(
        "agents: mean RSS {}, mean PSS {}; total RSS {}, total PSS {} for {n} sandboxes; \
         sleep baseline: mean RSS {}, mean PSS {}",
        mib(mean(&rss)),
        mib(mean(&pss)),
        mib(total(&rss)),
        mib(total(&pss)),
        mib(mean(&sleep_rss)),
        mib(mean(&sleep_pss)),
    );
    if !cgroup_bytes.is_empty() {
        println!(
            "cgroups: mean {}, total {}",
            mib(mean(&cgroup_bytes)),
            mib(total(&cgroup_bytes))
        );
    }
    println!(
        "host-side processes: {} child(ren) of this benchmark {:?}, {agent_children} child(ren) \
         of the agents (expected: none; the agents are adopted by the host's init)",
        bench_children.len(),
        bench_children
    );
    drop(home);
}

/// Rss, Pss and Pss_Anon of `pid`, in bytes; `None` if it is gone or unreadable.
fn smaps_rollup(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut memory = Memory::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(kib)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(kib) = kib.parse::<f64>() else {
            continue;
        };
        match key {
            "Rss:" => memory.rss = kib * 1024.0,
            "Pss:" => memory.pss = kib * 1024.0,
            "Pss_Anon:" => memory.pss_anon = kib * 1024.0,
            _ => {}
        }
    }
    Some(memory)
}

/// The memory charged to a cgroup directory, if it is a memory controller's.
fn cgroup_memory(dir: &Path) -> Option<f64> {
    ["memory.usage_in_bytes", "memory.current"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .and_then(|t| t.trim().parse().ok())
}

/// The pids in a cgroup directory.
fn cgroup_procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `MemAvailable` of the host, in bytes.
fn mem_available() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib * 1024.0)
        .expect("MemAvailable in /proc/meminfo")
}

/// A host process and its parent.
struct Process {
    pid: u32,
    ppid: u32,
}

/// Every process of the host (as far as `/proc` shows them).
fn all_processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may contain spaces and parentheses; fields resume after the
            // last ')': state, then ppid.
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some(Process { pid, ppid })
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    common::nearest_rank(&sorted, p).copied().unwrap_or(0.0)
}
