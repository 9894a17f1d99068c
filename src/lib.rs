//! sandpit: a CI runner for GitHub Actions workflows backed by millisecond-start Linux sandboxes.
//!
//! Data flows one way: `sandbox` (the public SDK) → `protocol` → `runtime` (namespaces, cgroups,
//! rootfs, seccomp) → `agent` (PID 1 inside each sandbox). See `ARCHITECTURE.md`.

pub mod agent;
pub mod cli;
pub mod protocol;
pub mod runner;
pub mod runtime;
pub mod sandbox;
pub mod workflow;

/// Renders an error and its causes as one line: "what failed: because: because".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// If this process was started as a sandbox init (`sandpit __sandbox-init`), runs it and
/// returns its exit code. Programs that embed the SDK call this first thing in `main`, before
/// any thread is started, so they can serve as their own sandbox init.
pub fn run_init_if_requested() -> Option<std::process::ExitCode> {
    let first = std::env::args_os().nth(1)?;
    (first == runtime::INIT_ARG).then(runtime::run_init)
}
