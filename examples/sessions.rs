//! Sessions in a sandbox: `cd` and `export` carry over between the commands of one session and
//! stay invisible to another; two sessions run commands in parallel; a command that times out
//! leaves its session usable and unchanged; a deleted session is gone.
//!
//! ```sh
//! sudo cargo run --example sessions
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sandpit::sandbox::{
    Command, ExecOutput, Sandbox, SandboxOptions, Sandboxes, SandboxesConfig, Session,
    SessionOptions,
};

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
        .get("example-sessions", SandboxOptions::default())
        .await?;
    let outcome = body(&sandbox).await;
    // Destroyed whatever happened; the body's error, if any, is the one reported.
    let destroyed = sandbox.destroy().await;
    outcome?;
    Ok(destroyed?)
}

async fn body(sandbox: &Sandbox) -> Result<(), Box<dyn Error>> {
    let alpha = sandbox
        .create_session(SessionOptions::default().id("alpha"))
        .await?;
    let beta = sandbox
        .create_session(SessionOptions::default().id("beta"))
        .await?;

    let setup = alpha
        .exec(Command::shell("cd /tmp && export GREETING=hello"))
        .await?;
    println!(
        "alpha$ cd /tmp && export GREETING=hello   (exit {})",
        setup.exit.shell_status()
    );
    show_state(&[&alpha, &beta]).await?;

    // Each session runs one command at a time; different sessions run side by side.
    let slow = || Command::shell("sleep 1; echo \"$(pwd): done\"");
    let started = Instant::now();
    let (a, b) = tokio::join!(alpha.exec(slow()), beta.exec(slow()));
    let wall = started.elapsed();
    let (a, b) = (a?, b?);
    println!("\n`sleep 1` in both sessions at once:");
    println!("  alpha: {} ({:.2?})", text(&a), a.duration());
    println!("  beta:  {} ({:.2?})", text(&b), b.duration());
    println!("  wall time {wall:.2?}: in parallel, about one command's duration");

    // The timed-out command's `cd` and `export` are not taken into the session.
    let hung = Command::shell("cd / && export GREETING=changed && sleep 30")
        .timeout(Duration::from_millis(500));
    let out = alpha.exec(hung).await?;
    println!(
        "\nalpha$ cd / && export GREETING=changed && sleep 30   (timeout 500ms)\n  \
         timed_out={} shell status {} after {:.2?}",
        out.exit.timed_out,
        out.exit.shell_status(),
        out.duration()
    );
    if !out.exit.timed_out {
        return Err("the command did not time out".into());
    }
    show_state(&[&alpha]).await?;

    sandbox.delete_session(beta.id()).await?;
    let left: Vec<String> = sandbox
        .list_sessions()
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    println!("\ndeleted beta; sessions left: {}", left.join(", "));
    match sandbox.get_session("beta").await {
        Err(err) => println!("get_session(\"beta\"): {}", err.code().as_str()),
        Ok(_) => return Err("the deleted session is still there".into()),
    }
    Ok(())
}

/// Prints each session's working directory and `$GREETING`.
async fn show_state(sessions: &[&Session]) -> Result<(), Box<dyn Error>> {
    let probe = "echo \"pwd=$(pwd) GREETING=${GREETING:-<unset>}\"";
    for session in sessions {
        let out = session.exec(Command::shell(probe)).await?;
        println!("  {:<6} {}", session.id(), text(&out));
    }
    Ok(())
}

/// The command's stdout as one trimmed line.
fn text(out: &ExecOutput) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}
