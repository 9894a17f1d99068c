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

/// A unique marker for this test process, to find its own files and processes.
pub fn marker(name: &str) -> String {
    format!("sandpit-test-{name}-{}", std::process::id())
}
