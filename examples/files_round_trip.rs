//! Files in a sandbox: writes a text file and a few MiB of binary data and reads them back,
//! makes a directory tree and lists it, moves, renames, checks and deletes files, and shows the
//! typed error of reading a file that does not exist.
//!
//! ```sh
//! sudo cargo run --example files_round_trip
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use sandpit::sandbox::{ErrorCode, FileKind, Sandbox, SandboxOptions, Sandboxes, SandboxesConfig};

fn main() -> ExitCode {
    // This program is also the sandbox init: it re-executes itself to set sandboxes up.
    if let Some(code) = sandpit::run_init_if_requested() {
        return code;
    }
    let result = tokio::runtime::Runtime::new()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", sandpit::error_chain(&*e));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let sandboxes = Sandboxes::open(SandboxesConfig::from_env())?;
    let sandbox = sandboxes
        .get("example-files", SandboxOptions::default())
        .await?;
    let outcome = body(&sandbox).await;
    // Destroyed whatever happened; the body's error, if any, is the one reported.
    let destroyed = sandbox.destroy().await;
    outcome?;
    Ok(destroyed?)
}

async fn body(sandbox: &Sandbox) -> Result<(), Box<dyn Error>> {
    // Relative paths resolve against /workspace.
    let text = "hello from the host\nsecond line: ünïcödé\n";
    sandbox.write_file("notes.txt", text, None).await?;
    if sandbox.read_file_text("notes.txt").await? != text {
        return Err("the text file came back different".into());
    }
    println!("text file:   {} bytes, read back identical", text.len());

    let data = pseudo_random((3 << 20) + 12_345, 0x5eed);
    let started = Instant::now();
    sandbox.write_file("data.bin", &data, Some(0o600)).await?;
    if sandbox.read_file("data.bin").await? != data {
        return Err("the binary file came back different".into());
    }
    let (len, took) = (data.len(), started.elapsed());
    println!("binary file: {len} bytes, read back identical ({took:.1?} both ways)");

    sandbox.mkdir("app/src/bin", true).await?; // like mkdir -p: fine if it exists
    let files = [
        ("app/run.sh", "#!/bin/sh\necho hi\n", Some(0o755)),
        ("app/src/main.rs", "fn main() {}\n", None),
    ];
    for (path, contents, mode) in files {
        sandbox.write_file(path, contents, mode).await?;
    }
    sandbox.rename_file("notes.txt", "README.txt").await?;
    sandbox.move_file("README.txt", "app/README.txt").await?;
    sandbox.move_file("data.bin", "/tmp/data.bin").await?; // across file systems: copied

    println!("\n/workspace, recursively (name, kind, size, mode, modified):");
    for file in sandbox.list_files("/workspace", true, false).await? {
        let kind = match file.kind {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "symlink",
            FileKind::Other => "other",
        };
        let depth = file.path.matches('/').count() - 2;
        let name = format!("{:width$}{}", "", file.name, width = 2 * depth);
        let (size, mode) = (file.size, file.mode);
        let modified = file.modified.format("%Y-%m-%d %H:%M:%S");
        println!("  {name:<16} {kind:<5} {size:>7} {mode:04o} {modified}");
    }

    let paths = ["README.txt", "app/README.txt", "data.bin", "/tmp/data.bin"];
    print_exists(sandbox, &paths).await?;
    sandbox.delete_file("/tmp/data.bin", false).await?;
    sandbox.delete_file("app", true).await?;
    println!("deleted /tmp/data.bin and app/ (recursively)");
    print_exists(sandbox, &["app", "/tmp/data.bin"]).await?;

    match sandbox.read_file("app/README.txt").await {
        Err(err) if err.code() == ErrorCode::FileNotFound => {
            println!("\nreading a missing file: {} ({err})", err.code().as_str());
        }
        Err(err) => return Err(format!("expected FILE_NOT_FOUND, got {err}").into()),
        Ok(_) => return Err("reading a deleted file succeeded".into()),
    }
    Ok(())
}

/// Prints whether something is at each of `paths`.
async fn print_exists(sandbox: &Sandbox, paths: &[&str]) -> Result<(), Box<dyn Error>> {
    for path in paths {
        println!("exists({path:?}) = {}", sandbox.exists(path).await?);
    }
    Ok(())
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
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
