//! A background process in a sandbox: starts a Python web server serving a page written with
//! `write_file`, waits until it answers HTTP, fetches the page from inside the sandbox, lists
//! the processes, reads the server's logs, then stops it with SIGTERM and waits for its end.
//!
//! ```sh
//! sudo cargo run --example background_server
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use sandpit::sandbox::{
    Command, PortCheck, ProcessOptions, Sandbox, SandboxOptions, Sandboxes, SandboxesConfig,
};

const PORT: u16 = 8000;

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
        .get("example-server", SandboxOptions::default())
        .await?;
    let outcome = body(&sandbox).await;
    // Destroyed whatever happened (this also ends the server); the body's error comes first.
    let destroyed = sandbox.destroy().await;
    outcome?;
    Ok(destroyed?)
}

async fn body(sandbox: &Sandbox) -> Result<(), Box<dyn Error>> {
    sandbox.mkdir("/workspace/site", true).await?;
    let page = "<h1>Hello from a sandpit sandbox</h1>\n";
    sandbox
        .write_file("/workspace/site/index.html", page, None)
        .await?;

    // `-u`: unbuffered, so the "Serving HTTP" line reaches the log at once.
    let port = PORT.to_string();
    let server = Command::argv(["python3", "-u", "-m", "http.server", &port])
        .args(["--bind", "127.0.0.1"])
        .cwd("/workspace/site");
    let web = sandbox
        .start_process(server, ProcessOptions::default().id("web"))
        .await?;
    println!("started process {:?} as pid {}", web.id(), web.pid());

    web.wait_for_port(PORT, PortCheck::http("/"), Duration::from_secs(10))
        .await?;
    println!("port {PORT} answers HTTP");

    let fetch = "import sys, urllib.request as u\n\
                 r = u.urlopen(sys.argv[1])\n\
                 print(r.status, r.headers['Content-Type'])\n\
                 print(r.read().decode(), end='')";
    let url = format!("http://127.0.0.1:{PORT}/");
    let out = sandbox
        .exec(Command::argv(["python3", "-c", fetch, &url]).timeout(Duration::from_secs(10)))
        .await?;
    if !out.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("fetching {url} failed: {}", stderr.trim_end()).into());
    }
    println!("\nGET {url} from inside the sandbox:");
    print!("{}", indent(&out.stdout));

    println!("\nprocesses:");
    for p in sandbox.list_processes().await? {
        let status = p.status.as_str();
        println!("  {:<6} pid {:<4} {status:<9} {}", p.id, p.pid, p.command);
    }

    // The first request is wait_for_port's HTTP check.
    let logs = web.logs().await?;
    println!("\nlogs of {:?} (stdout, then stderr):", web.id());
    print!("{}{}", indent(&logs.stdout), indent(&logs.stderr));

    web.kill(libc::SIGTERM, Some(Duration::from_secs(2)))
        .await?;
    let end = web.wait().await?;
    let exit = (end.exit.as_ref()).map_or(String::new(), |e| {
        format!(", shell status {} (128 + signal)", e.shell_status())
    });
    println!("\nafter SIGTERM: {}{exit}", end.status.as_str());
    Ok(())
}

/// Each line of `bytes`, indented.
fn indent(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| format!("  | {line}\n"))
        .collect()
}
