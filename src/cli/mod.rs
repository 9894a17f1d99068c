//! The `sandpit` command line: argument parsing and rendering for humans (`--json` for
//! programs). Logic a library user would need lives in the SDK, not here.

mod logs;
mod parse;
mod process;
mod run;
mod run_exec;
mod workflow;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use tokio::signal::unix::{signal, SignalKind};

use crate::sandbox::{
    self, Command, Error, ExecEvent, ExecInput, Limits, Network, OutputStream, SandboxOptions,
    SandboxState, Sandboxes, SandboxesConfig,
};

/// Exit status of `sandbox exec` when sandpit itself failed (the command's own statuses use
/// 0-255 otherwise; Docker uses 125 the same way).
const EXEC_FAILED: u8 = 125;

#[derive(Parser)]
#[command(
    name = "sandpit",
    version,
    about = "Run GitHub Actions workflows in millisecond Linux sandboxes"
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Check workflow files and report every problem (exit 0 when valid, 2 otherwise).
    Validate(workflow::ValidateArgs),
    /// Show what workflows would run: stages, jobs, matrix instances and steps.
    Plan(workflow::PlanArgs),
    /// Run the workflows an event triggers, each job in its own sandbox (`-n`: only show what
    /// would run; `-l`: list the jobs).
    Run(run::RunArgs),
    /// Print a run's job logs again (the latest run by default), masked as they were shown.
    Logs(logs::LogsArgs),
    /// Create, use and destroy sandboxes directly.
    #[command(subcommand)]
    Sandbox(SandboxCmd),
}

#[derive(Subcommand)]
enum SandboxCmd {
    /// Create a sandbox (or do nothing if it exists).
    Create {
        /// Sandbox id: 1-63 characters of a-z, 0-9 and '-'.
        id: String,
        #[command(flatten)]
        options: CreateArgs,
    },
    /// Run a command in a sandbox (creating it if missing), streaming its output; exits with
    /// the command's status (128+N if killed by signal N, 124 on timeout).
    Exec {
        /// Sandbox id.
        id: String,
        /// Run in this session (created if missing), through its shell, so `cd` and `export`
        /// carry over to the session's next command, also from another `sandpit`. One word is
        /// the script; several are quoted and run as that command. Sessions last while the
        /// sandbox is awake.
        #[arg(long, value_name = "NAME")]
        session: Option<String>,
        /// Working directory inside (default /workspace).
        #[arg(long)]
        cwd: Option<String>,
        /// Environment variable for the command, K=V (repeatable).
        #[arg(long = "env", short = 'e', value_parser = parse::env_pair)]
        env: Vec<(String, String)>,
        /// Kill the command's process group after this long (e.g. 30s, 5m).
        #[arg(long, value_parser = parse::duration)]
        timeout: Option<Duration>,
        /// Pass this process's stdin to the command (otherwise it reads /dev/null).
        #[arg(long, short = 'i')]
        interactive: bool,
        #[command(flatten)]
        options: CreateArgs,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Start a command in the background (creating the sandbox if missing) and print its
    /// process id.
    Start(process::StartArgs),
    /// List the sandbox's background processes (running ones and recently finished ones).
    Ps(process::PsArgs),
    /// Send a signal to a background process (or to all with --all).
    Kill(process::KillArgs),
    /// Print a background process's kept output (stdout to stdout, stderr to stderr).
    Logs(process::LogsArgs),
    /// List the sandbox's sessions.
    Sessions(process::SessionsArgs),
    /// Delete a session, killing the command running in it.
    SessionRm(process::SessionRmArgs),
    /// Write a file inside a sandbox from a host file or stdin (`-`, the default).
    Write {
        /// Sandbox id.
        id: String,
        /// Path inside (relative paths are under /workspace).
        path: String,
        /// Host file to copy, or `-` for stdin.
        #[arg(default_value = "-")]
        src: String,
        /// Permission bits in octal, e.g. 755.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<u32>,
    },
    /// Print a file from inside a sandbox to stdout.
    Read {
        /// Sandbox id.
        id: String,
        /// Path inside.
        path: String,
    },
    /// List a directory inside a sandbox.
    Ls {
        /// Sandbox id.
        id: String,
        /// Directory inside (default /workspace).
        #[arg(default_value = "/workspace")]
        path: String,
        /// Include subdirectories.
        #[arg(short, long)]
        recursive: bool,
        /// Include names starting with '.'.
        #[arg(short, long)]
        all: bool,
        /// One JSON object per line, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Delete a file inside a sandbox (a directory with -r).
    Rm {
        /// Sandbox id.
        id: String,
        /// Path inside.
        path: String,
        /// Delete directories and everything in them.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Move or rename a file inside a sandbox (also across file systems).
    Mv {
        /// Sandbox id.
        id: String,
        /// Source path inside.
        from: String,
        /// Destination path inside.
        to: String,
    },
    /// Create a directory inside a sandbox.
    Mkdir {
        /// Sandbox id.
        id: String,
        /// Path inside.
        path: String,
        /// Create missing parents; an existing directory is fine.
        #[arg(short, long)]
        parents: bool,
    },
    /// List sandboxes.
    List {
        /// One JSON object per line, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Destroy sandboxes: every process, mount, cgroup and file of them.
    Destroy {
        /// Sandbox ids.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Destroy every sandbox of this state directory.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Remove what crashes and reboots left behind (sleeping sandboxes keep their workspace).
    Prune {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options applied when a sandbox is created.
#[derive(Args, Clone)]
struct CreateArgs {
    /// Memory limit, e.g. 512M, 2G.
    #[arg(long, value_parser = parse::size)]
    memory: Option<u64>,
    /// Maximum number of processes and threads.
    #[arg(long)]
    pids: Option<u64>,
    /// CPU quota in CPUs, e.g. 1.5.
    #[arg(long, value_parser = parse::cpus)]
    cpus: Option<u64>,
    /// Network: none (loopback only) or host.
    #[arg(long, value_parser = parse::network, default_value = "none")]
    network: Network,
    /// Bind a host path: HOST:SANDBOX[:ro] (repeatable).
    #[arg(long = "mount", value_parser = parse::mount)]
    mounts: Vec<sandbox::BindMount>,
    /// Stop the sandbox after this long idle (its /workspace is kept).
    #[arg(long, value_parser = parse::duration, default_value = "10m")]
    sleep_after: Duration,
    /// Never stop the sandbox for being idle.
    #[arg(long)]
    keep_alive: bool,
}

impl CreateArgs {
    fn options(&self) -> SandboxOptions {
        SandboxOptions {
            limits: Limits {
                memory_bytes: self.memory,
                pids: self.pids,
                cpu_millis: self.cpus,
            },
            network: self.network,
            mounts: self.mounts.clone(),
            sleep_after: self.sleep_after,
            keep_alive: self.keep_alive,
            env: Vec::new(),
            workspace_from: None,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let cmd = match cli.command {
        // Workflow commands read files and run nothing: no async runtime.
        Top::Validate(args) => return workflow::validate(args),
        Top::Plan(args) => return workflow::plan(args),
        Top::Run(args) => return run::run(args),
        Top::Logs(args) => return logs::run(args),
        Top::Sandbox(cmd) => cmd,
    };
    match async_runtime() {
        Ok(runtime) => runtime.block_on(sandbox_main(cmd)),
        Err(code) => code,
    }
}

/// The async runtime of the commands that talk to sandboxes; on failure the error is printed
/// and the exit code returned.
fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: failed to start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

async fn sandbox_main(cmd: SandboxCmd) -> ExitCode {
    let failure = if matches!(cmd, SandboxCmd::Exec { .. }) {
        ExitCode::from(EXEC_FAILED)
    } else {
        ExitCode::FAILURE
    };
    let sandboxes = match Sandboxes::open(SandboxesConfig::from_env()) {
        Ok(s) => s,
        Err(e) => return report(&e, failure),
    };
    let result = match cmd {
        SandboxCmd::Create { id, options } => sandboxes
            .get(&id, options.options())
            .await
            .map(|_| ExitCode::SUCCESS),
        SandboxCmd::Exec {
            id,
            session,
            cwd,
            env,
            timeout,
            interactive,
            options,
            command,
        } => {
            let mut cmd = match &session {
                Some(_) => Command::shell(process::session_script(&command)),
                None => Command::argv(command),
            };
            for (k, v) in env {
                cmd = cmd.env(k, v);
            }
            if let Some(cwd) = cwd {
                cmd = cmd.cwd(cwd);
            }
            if let Some(timeout) = timeout {
                cmd = cmd.timeout(timeout);
            }
            if interactive {
                cmd = cmd.stdin_piped();
            }
            let session = session.as_deref();
            exec(
                &sandboxes,
                &id,
                options.options(),
                cmd,
                interactive,
                session,
            )
            .await
        }
        SandboxCmd::Start(args) => process::start(&sandboxes, args).await,
        SandboxCmd::Ps(args) => process::ps(&sandboxes, args).await,
        SandboxCmd::Kill(args) => process::kill(&sandboxes, args).await,
        SandboxCmd::Logs(args) => process::logs(&sandboxes, args).await,
        SandboxCmd::Sessions(args) => process::sessions(&sandboxes, args).await,
        SandboxCmd::SessionRm(args) => process::session_rm(&sandboxes, args).await,
        SandboxCmd::Write {
            id,
            path,
            src,
            mode,
        } => write_file(&sandboxes, &id, &path, &src, mode).await,
        SandboxCmd::Read { id, path } => read_file(&sandboxes, &id, &path).await,
        SandboxCmd::Ls {
            id,
            path,
            recursive,
            all,
            json,
        } => ls(&sandboxes, &id, &path, recursive, all, json).await,
        SandboxCmd::Rm {
            id,
            path,
            recursive,
        } => match sandboxes.connect(&id).await {
            Ok(sb) => sb
                .delete_file(&path, recursive)
                .await
                .map(|()| ExitCode::SUCCESS),
            Err(e) => Err(e),
        },
        SandboxCmd::Mv { id, from, to } => match sandboxes.connect(&id).await {
            Ok(sb) => sb.move_file(&from, &to).await.map(|()| ExitCode::SUCCESS),
            Err(e) => Err(e),
        },
        SandboxCmd::Mkdir { id, path, parents } => match file_sandbox(&sandboxes, &id).await {
            Ok(sb) => sb.mkdir(&path, parents).await.map(|()| ExitCode::SUCCESS),
            Err(e) => Err(e),
        },
        SandboxCmd::List { json } => list(&sandboxes, json).await,
        SandboxCmd::Destroy { ids, all } => destroy(&sandboxes, ids, all).await,
        SandboxCmd::Prune { json } => prune(&sandboxes, json).await,
    };
    result.unwrap_or_else(|e| report(&e, failure))
}

/// Prints an error as one line plus a hint where one helps.
fn report(e: &Error, code: ExitCode) -> ExitCode {
    eprintln!("error: {}", crate::error_chain(e));
    match e.code() {
        sandbox::ErrorCode::InvalidId => {
            eprintln!("hint: use lowercase letters, digits and '-', e.g. `my-job-1`")
        }
        sandbox::ErrorCode::SandboxUnavailable if e.is_retryable() => {
            eprintln!(
                "hint: the sandbox may be restarting; try again, or `sandpit sandbox destroy` it"
            )
        }
        _ => {}
    }
    if matches!(e.code(), sandbox::ErrorCode::InvalidId) {
        return ExitCode::from(2);
    }
    code
}

async fn exec(
    sandboxes: &Sandboxes,
    id: &str,
    options: SandboxOptions,
    cmd: Command,
    interactive: bool,
    session: Option<&str>,
) -> Result<ExitCode, Error> {
    // Installed before anything runs, so no Ctrl-C can slip between two waits.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| Error::Unreachable {
        id: id.to_string(),
        source: e,
    })?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| Error::Unreachable {
        id: id.to_string(),
        source: e,
    })?;
    let sandbox = sandboxes.get(id, options).await?;
    let mut stream = match session {
        Some(name) => {
            process::session(&sandbox, name)
                .await?
                .exec_stream(cmd)
                .await?
        }
        None => sandbox.exec_stream(cmd).await?,
    };
    if interactive {
        if let Some(input) = stream.input() {
            forward_stdin(input);
        }
    }
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    loop {
        // Dropping the stream (on return) kills the command's process group.
        let event = tokio::select! {
            event = stream.next() => event,
            _ = interrupt.recv() => return Ok(ExitCode::from(130)),
            _ = terminate.recv() => return Ok(ExitCode::from(143)),
        };
        match event {
            Some(Ok(ExecEvent::Output { stream, data, .. })) => {
                let written = match stream {
                    OutputStream::Stdout => stdout.write_all(&data).and_then(|_| stdout.flush()),
                    OutputStream::Stderr => stderr.write_all(&data),
                };
                // Our reader is gone (e.g. `| head -1`): stop the command as a pipe would.
                if matches!(&written, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
                    return Ok(ExitCode::from(128 + libc::SIGPIPE as u8));
                }
            }
            Some(Ok(ExecEvent::Started { .. })) => {}
            Some(Ok(ExecEvent::Exit(report))) => {
                if report.oom_killed {
                    eprintln!("sandpit: the command was killed: sandbox {id} ran out of memory");
                } else if report.timed_out {
                    eprintln!("sandpit: the command timed out and was killed");
                }
                let status = report.shell_status().clamp(0, 255);
                return Ok(ExitCode::from(status as u8));
            }
            Some(Err(e)) => return Err(e),
            None => return Ok(ExitCode::from(EXEC_FAILED)),
        }
    }
}

/// Copies this process's stdin to the command. The blocking reads happen on a plain thread
/// that is simply abandoned when the command ends: an async read of a terminal or a silent
/// pipe would keep the runtime, and so sandpit, from exiting.
fn forward_stdin(mut input: ExecInput) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let reader = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    if reader.is_err() {
        return;
    }
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if input.write(&chunk).await.is_err() {
                return;
            }
        }
        let _ = input.close_stdin().await;
    });
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid mode {s:?}: expected octal permission bits like 644"))
}

/// The sandbox `write` and `mkdir` work on (created with default options if missing, as
/// `exec` does; the verbs that only read or remove use `connect`).
async fn file_sandbox(sandboxes: &Sandboxes, id: &str) -> Result<sandbox::Sandbox, Error> {
    sandboxes.get(id, SandboxOptions::default()).await
}

async fn write_file(
    sandboxes: &Sandboxes,
    id: &str,
    path: &str,
    src: &str,
    mode: Option<u32>,
) -> Result<ExitCode, Error> {
    let sandbox = file_sandbox(sandboxes, id).await?;
    let source_error = |source| Error::Source {
        id: id.to_string(),
        path: path.to_string(),
        source,
    };
    let source: Box<dyn std::io::Read + Send> = if src == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(src).map_err(source_error)?)
    };
    sandbox
        .write_file_from(path, ThreadReader::spawn(source), mode)
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// An async reader over a blocking one, read on a plain thread (sandpit's runtime has no
/// `fs`, and a blocking read must not hold up its workers).
struct ThreadReader {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    offset: usize,
}

impl ThreadReader {
    fn spawn(mut source: Box<dyn std::io::Read + Send>) -> Self {
        let (tx, chunks) = tokio::sync::mpsc::channel(4);
        let spawned = std::thread::Builder::new()
            .name("file-source".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; 256 << 10];
                let item = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(buf)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            });
        if let Err(e) = spawned {
            // The receiver reports it as the source's failure.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let _ = tx.try_send(Err(e));
            return Self {
                chunks: rx,
                current: Vec::new(),
                offset: 0,
            };
        }
        Self {
            chunks,
            current: Vec::new(),
            offset: 0,
        }
    }
}

impl tokio::io::AsyncRead for ThreadReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while self.offset == self.current.len() {
            match self.chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // End of the source.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(chunk))) => {
                    self.current = chunk;
                    self.offset = 0;
                }
            }
        }
        let n = buf.remaining().min(self.current.len() - self.offset);
        let start = self.offset;
        buf.put_slice(&self.current[start..start + n]);
        self.offset += n;
        Poll::Ready(Ok(()))
    }
}

async fn read_file(sandboxes: &Sandboxes, id: &str, path: &str) -> Result<ExitCode, Error> {
    // Reading never creates: a mistyped id is an error, not a new sandbox.
    let sandbox = sandboxes.connect(id).await?;
    let mut stream = sandbox.read_file_stream(path).await?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if let Err(e) = out.write_all(&chunk) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::from(128 + libc::SIGPIPE as u8));
            }
            eprintln!("error: failed to write to stdout: {e}");
            return Ok(ExitCode::FAILURE);
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

async fn ls(
    sandboxes: &Sandboxes,
    id: &str,
    path: &str,
    recursive: bool,
    all: bool,
    json: bool,
) -> Result<ExitCode, Error> {
    let sandbox = sandboxes.connect(id).await?;
    let entries = sandbox.list_files(path, recursive, all).await?;
    let mut out = std::io::stdout().lock();
    for entry in &entries {
        let line = if json {
            serde_json::to_string(entry).unwrap_or_default()
        } else {
            let kind = match entry.kind {
                sandbox::FileKind::File => '-',
                sandbox::FileKind::Dir => 'd',
                sandbox::FileKind::Symlink => 'l',
                sandbox::FileKind::Other => '?',
            };
            let shown = if recursive { &entry.path } else { &entry.name };
            format!(
                "{kind}{:04o} {:>12} {} {}",
                entry.mode,
                entry.size,
                entry.modified.format("%Y-%m-%d %H:%M"),
                shown.escape_debug()
            )
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(sandboxes: &Sandboxes, json: bool) -> Result<ExitCode, Error> {
    let list = sandboxes.list().await?;
    let mut out = std::io::stdout().lock();
    if json {
        for info in &list {
            let line = serde_json::json!({
                "id": info.record.id,
                "state": info.state,
                "created_at": info.record.created_at,
                "pid": info.record.agent.filter(|_| info.state == SandboxState::Running).map(|a| a.pid),
                "network": info.record.spec.network,
                "limits": info.record.spec.limits,
            });
            let _ = writeln!(out, "{line}");
        }
    } else {
        let _ = writeln!(out, "{:<30} {:<9} {:<8} CREATED", "ID", "STATE", "PID");
        for info in &list {
            let state = match info.state {
                SandboxState::Running => "running",
                SandboxState::Sleeping => "sleeping",
            };
            let pid = match (info.state, info.record.agent) {
                (SandboxState::Running, Some(a)) => a.pid.to_string(),
                _ => "-".into(),
            };
            let created = info.record.created_at.format("%Y-%m-%d %H:%M:%S");
            let _ = writeln!(
                out,
                "{:<30} {:<9} {:<8} {created}",
                info.record.id, state, pid
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn destroy(sandboxes: &Sandboxes, ids: Vec<String>, all: bool) -> Result<ExitCode, Error> {
    let ids = if all {
        sandboxes
            .list()
            .await?
            .into_iter()
            .map(|info| info.record.id)
            .collect()
    } else {
        ids
    };
    for id in ids {
        if !sandboxes.destroy(&id).await? {
            eprintln!("sandpit: sandbox {id} did not exist");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn prune(sandboxes: &Sandboxes, json: bool) -> Result<ExitCode, Error> {
    let report = sandboxes.prune().await?;
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        let total =
            report.orphan_dirs.len() + report.stale_cgroups.len() + report.stale_sockets.len();
        println!(
            "removed {total} leftover(s): {} orphan director(ies), {} stale cgroup(s), {} stale socket(s)",
            report.orphan_dirs.len(),
            report.stale_cgroups.len(),
            report.stale_sockets.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
