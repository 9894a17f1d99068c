//! Shared set-up for the integration tests: a private state directory per test, removed with
//! every sandbox, cgroup and socket in it when the test ends (also when it fails).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sandpit::sandbox::{SandboxOptions, Sandboxes, SandboxesConfig};

/// The sandpit binary under test.
pub const SANDPIT: &str = env!("CARGO_BIN_EXE_sandpit");

/// A private state directory and the SDK opened on it.
pub struct TestHome {
    dir: tempfile::TempDir,
    pub sandboxes: Sandboxes,
}

impl TestHome {
    pub fn new() -> Self {
        // Short paths: the agent socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("sp-")
            .tempdir_in("/tmp")
            .expect("create a temporary state directory");
        let sandboxes = Sandboxes::open(SandboxesConfig {
            home: dir.path().to_path_buf(),
            init_program: PathBuf::from(SANDPIT),
        })
        .expect("open the state directory (tests run as root)");
        Self { dir, sandboxes }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `sandpit` with this state directory.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(SANDPIT);
        cmd.env("SANDPIT_HOME", self.path());
        cmd
    }

    /// The recorded JSON of sandbox `id`.
    pub fn record(&self, id: &str) -> serde_json::Value {
        let path = self.path().join("sandboxes").join(id).join("record.json");
        let text = std::fs::read_to_string(&path).expect("read the sandbox record");
        serde_json::from_str(&text).expect("parse the sandbox record")
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        // Synchronous on purpose: Drop may run inside a runtime, where blocking on async is not
        // allowed, and after a panic.
        let _ = self.cli().args(["sandbox", "destroy", "--all"]).status();
        let _ = self.cli().args(["sandbox", "prune"]).output();
    }
}

/// Default options with a short id-independent configuration.
pub fn options() -> SandboxOptions {
    SandboxOptions::default()
}

/// Sandbox `id` of `home`, created with default options.
pub async fn sandbox(home: &TestHome, id: &str) -> sandpit::sandbox::Sandbox {
    home.sandboxes.get(id, options()).await.unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64*), every byte value included.
pub fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A unique marker for this test process, to find its own files and processes.
pub fn marker(name: &str) -> String {
    format!("sandpit-test-{name}-{}", std::process::id())
}

/// A bounded wait for a condition: call [`Deadline::tick`] between checks. Panics, naming what
/// was awaited, once the deadline passes (a safety net, never the expected path).
pub struct Deadline {
    end: std::time::Instant,
    what: String,
}

impl Deadline {
    pub fn after(timeout: std::time::Duration, what: impl Into<String>) -> Self {
        Self {
            end: std::time::Instant::now() + timeout,
            what: what.into(),
        }
    }

    /// Fails if the deadline passed, otherwise pauses briefly before the next check.
    pub async fn tick(&self) {
        assert!(
            std::time::Instant::now() < self.end,
            "timed out waiting for {}",
            self.what
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Safety net for commands the tests expect to finish quickly.
pub const EXEC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `script` with bash in `sandbox` and returns its buffered result (a non-zero exit is a
/// result; only SDK failures panic).
pub async fn sh(sandbox: &sandpit::sandbox::Sandbox, script: &str) -> sandpit::sandbox::ExecOutput {
    sandbox
        .exec(sandpit::sandbox::Command::shell(script).timeout(EXEC_DEADLINE))
        .await
        .unwrap_or_else(|e| panic!("exec {script:?} in {}: {e}", sandbox.id()))
}

/// Lossy UTF-8, for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The processes `sandbox` can see, as (pid, command line with spaces between arguments).
/// Uses only shell builtins, so it works however few processes the sandbox may still start, and
/// it lists neither itself nor its helpers beyond its own shell.
pub async fn processes(
    sandbox: &sandpit::sandbox::Sandbox,
) -> Result<Vec<(u32, String)>, sandpit::sandbox::Error> {
    const SCRIPT: &str = r#"for d in /proc/[0-9]*; do
  mapfile -d '' args < "$d/cmdline" 2>/dev/null || continue
  printf '%s\t%s\n' "${d#/proc/}" "${args[*]}"
done"#;
    let out = sandbox
        .exec(sandpit::sandbox::Command::argv(["/bin/bash", "-c", SCRIPT]).timeout(EXEC_DEADLINE))
        .await?;
    assert!(
        out.success(),
        "listing processes failed: {}",
        describe(&out)
    );
    Ok(text(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (pid, cmdline) = line.split_once('\t')?;
            Some((pid.parse().ok()?, cmdline.to_string()))
        })
        .collect())
}

/// A readable summary of a command's result for failure messages.
pub fn describe(out: &sandpit::sandbox::ExecOutput) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.exit,
        text(&out.stdout),
        text(&out.stderr)
    )
}
