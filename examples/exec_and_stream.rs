//! Runs a command in a sandbox twice: once buffered, once streaming its output as it comes.
//!
//! ```sh
//! cargo run --example exec_and_stream    # as root
//! ```

use std::process::ExitCode;
use std::time::Duration;

use sandpit::sandbox::{
    Command, ExecEvent, OutputStream, SandboxOptions, Sandboxes, SandboxesConfig,
};

fn main() -> ExitCode {
    // This program is also the sandbox init: it re-executes itself to set sandboxes up.
    if let Some(code) = sandpit::run_init_if_requested() {
        return code;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", sandpit::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), sandpit::sandbox::Error> {
    let sandboxes = Sandboxes::open(SandboxesConfig::from_env())?;
    let sandbox = sandboxes
        .get("example-exec", SandboxOptions::default())
        .await?;

    let out = sandbox
        .exec(Command::shell(
            "uname -sr; echo \"I am $(id -un) on $(hostname)\"",
        ))
        .await?;
    print!("{}", String::from_utf8_lossy(&out.stdout));

    let mut stream = sandbox
        .exec_stream(
            Command::shell("for i in 1 2 3; do echo tick $i; sleep 0.2; done; echo done >&2")
                .timeout(Duration::from_secs(10)),
        )
        .await?;
    while let Some(event) = stream.next().await {
        match event? {
            ExecEvent::Output { stream, data, .. } => {
                let name = match stream {
                    OutputStream::Stdout => "stdout",
                    OutputStream::Stderr => "stderr",
                };
                print!("[{name}] {}", String::from_utf8_lossy(&data));
            }
            ExecEvent::Exit(report) => println!("exited with {}", report.shell_status()),
            ExecEvent::Started { pid } => println!("started as pid {pid}"),
        }
    }
    sandbox.destroy().await
}
