//! `sandpit sandbox start`, `ps`, `kill`, `logs`, `sessions`, `session-rm` and the session
//! side of `exec`: background processes and sessions on the command line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{parse, CreateArgs};
use crate::sandbox::{
    Command, Error, ErrorCode, LogEvent, OutputStream, ProcessInfo, ProcessOptions, Sandbox,
    Sandboxes, Session, SessionOptions,
};

/// Longest command shown by `ps` (in characters), so a row fits a terminal.
const COMMAND_WIDTH: usize = 60;

/// Signal names `kill` accepts (without `SIG`), with their numbers.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// `sandpit sandbox start`.
#[derive(Args)]
pub(super) struct StartArgs {
    /// Sandbox id.
    id: String,
    /// Id for the process (1-64 of A-Za-z0-9._-); by default the sandbox picks `proc-N`.
    #[arg(long, value_name = "PROC_ID")]
    name: Option<String>,
    /// Working directory inside (default /workspace, or the session's directory).
    #[arg(long)]
    cwd: Option<String>,
    /// Environment variable for the process, K=V (repeatable).
    #[arg(long = "env", short = 'e', value_parser = parse::env_pair)]
    env: Vec<(String, String)>,
    /// Kill the process's group after this long (e.g. 30s, 5m).
    #[arg(long, value_parser = parse::duration)]
    timeout: Option<Duration>,
    /// Start from this session's working directory and environment (created if missing); the
    /// process changes nothing in the session.
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    #[command(flatten)]
    options: CreateArgs,
    /// The command. One word is a shell script (`-- 'cd app && make serve'`); several words
    /// are a program and its arguments, run without a shell (`-- sleep 60`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// `sandpit sandbox ps`.
#[derive(Args)]
pub(super) struct PsArgs {
    /// Sandbox id (must exist).
    id: String,
    /// One JSON object per line, for programs.
    #[arg(long)]
    json: bool,
}

/// `sandpit sandbox kill`.
#[derive(Args)]
pub(super) struct KillArgs {
    /// Sandbox id (must exist).
    id: String,
    /// The process id, as `ps` shows it.
    #[arg(value_name = "PROC_ID", required_unless_present = "all")]
    proc_id: Option<String>,
    /// Signal every running process of the sandbox.
    #[arg(long, conflicts_with = "proc_id")]
    all: bool,
    /// Signal by name (TERM, SIGKILL, int, usr1…, any case) or number.
    #[arg(long, short = 's', default_value = "TERM", value_parser = signal_number)]
    signal: i32,
    /// Send KILL if the process still runs this long after the signal (e.g. 5s).
    #[arg(long, value_parser = parse::duration)]
    grace: Option<Duration>,
}

/// `sandpit sandbox logs`.
#[derive(Args)]
pub(super) struct LogsArgs {
    /// Sandbox id (must exist).
    id: String,
    /// The process id, as `ps` shows it.
    #[arg(value_name = "PROC_ID")]
    proc_id: String,
    /// Keep printing new output until the process ends, then exit with its status (128+N if
    /// killed by signal N, 124 on timeout). Ctrl-C stops following; the process keeps running.
    #[arg(long, short = 'f')]
    follow: bool,
}

/// `sandpit sandbox sessions`.
#[derive(Args)]
pub(super) struct SessionsArgs {
    /// Sandbox id (must exist).
    id: String,
    /// One JSON object per line, for programs.
    #[arg(long)]
    json: bool,
}

/// `sandpit sandbox session-rm`.
#[derive(Args)]
pub(super) struct SessionRmArgs {
    /// Sandbox id (must exist).
    id: String,
    /// The session to delete (a command running in it is killed).
    name: String,
}

/// `kill --signal`: a name with or without `SIG`, in any case, or a number.
fn signal_number(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return SIGNALS
            .iter()
            .find(|(_, n)| *n == number)
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("unknown signal number {number}"));
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, n)| *n)
        .ok_or_else(|| {
            format!("unknown signal {text:?}: use a name like TERM, KILL, INT, HUP or a number")
        })
}

/// One word for a POSIX shell: as is if nothing in it is special, otherwise in single quotes
/// (a `'` inside becomes `'\''`).
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./,:+@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The shell script of command words run in a session: one word is the script itself; several
/// are quoted and joined, so they run as that argv would, but through the session's shell.
pub(super) fn session_script(words: &[String]) -> String {
    match words {
        [script] => script.clone(),
        _ => words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Session `name` of `sandbox`, created (with the sandbox's defaults) if it does not exist.
pub(super) async fn session(sandbox: &Sandbox, name: &str) -> Result<Session, Error> {
    match sandbox.get_session(name).await {
        Err(e) if e.code() == ErrorCode::SessionNotFound => {
            match sandbox
                .create_session(SessionOptions::default().id(name))
                .await
            {
                // Another invocation created it first: use theirs.
                Err(e) if e.code() == ErrorCode::AlreadyExists => sandbox.get_session(name).await,
                created => created,
            }
        }
        found => found,
    }
}

/// The SIGINT and SIGTERM listeners, installed before anything is awaited.
fn interrupts(id: &str) -> Result<(Signal, Signal), Error> {
    let install = |kind| {
        signal(kind).map_err(|source| Error::Unreachable {
            id: id.to_string(),
            source,
        })
    };
    Ok((
        install(SignalKind::interrupt())?,
        install(SignalKind::terminate())?,
    ))
}

pub(super) async fn start(sandboxes: &Sandboxes, args: StartArgs) -> Result<ExitCode, Error> {
    let mut cmd = match args.command.as_slice() {
        [script] => Command::shell(script.clone()),
        argv => Command::argv(argv),
    };
    for (k, v) in args.env {
        cmd = cmd.env(k, v);
    }
    if let Some(cwd) = args.cwd {
        cmd = cmd.cwd(cwd);
    }
    if let Some(timeout) = args.timeout {
        cmd = cmd.timeout(timeout);
    }
    let mut options = ProcessOptions::default();
    if let Some(name) = args.name {
        options = options.id(name);
    }
    let sandbox = sandboxes.get(&args.id, args.options.options()).await?;
    let process = match &args.session {
        Some(name) => {
            session(&sandbox, name)
                .await?
                .start_process(cmd, options)
                .await?
        }
        None => sandbox.start_process(cmd, options).await?,
    };
    println!("{}", process.id());
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn ps(sandboxes: &Sandboxes, args: PsArgs) -> Result<ExitCode, Error> {
    let sandbox = sandboxes.connect(&args.id).await?;
    let list = sandbox.list_processes().await?;
    let mut out = std::io::stdout().lock();
    let lines: Vec<String> = if args.json {
        list.iter()
            .map(|p| serde_json::to_string(p).unwrap_or_default())
            .collect()
    } else {
        ps_table(&list)
    };
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The human `ps` table, header first.
fn ps_table(list: &[ProcessInfo]) -> Vec<String> {
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|p| {
            let exit = match p.exit {
                Some(e) if e.timed_out => "timeout".to_string(),
                Some(e) => match (e.exit_code, e.signal) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(signal)) => format!("signal {signal}"),
                    (None, None) => "-".to_string(),
                },
                None => "-".to_string(),
            };
            let started = chrono::DateTime::from_timestamp_millis(p.started_at_ms)
                .filter(|_| p.started_at_ms > 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|| "-".to_string());
            let pid = if p.pid == 0 {
                "-".to_string()
            } else {
                p.pid.to_string()
            };
            [
                p.id.clone(),
                pid,
                p.status.as_str().to_string(),
                exit,
                started,
                shown_command(&p.command),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "EXIT", "STARTED", "COMMAND"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let mut line = String::new();
            for (width, cell) in widths.iter().zip(row) {
                line.push_str(&format!("{cell:<width$}  "));
            }
            line.push_str(&row[5]);
            line
        })
        .collect()
}

/// A command for one table cell: control characters escaped (a script's newlines too), cut to
/// [`COMMAND_WIDTH`] characters.
fn shown_command(command: &str) -> String {
    let escaped: String = command
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if escaped.chars().count() <= COMMAND_WIDTH {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(COMMAND_WIDTH - 1).collect();
    cut.push('…');
    cut
}

pub(super) async fn kill(sandboxes: &Sandboxes, args: KillArgs) -> Result<ExitCode, Error> {
    let sandbox = sandboxes.connect(&args.id).await?;
    match args.proc_id {
        Some(proc_id) if !args.all => {
            sandbox
                .kill_process(&proc_id, args.signal, args.grace)
                .await?;
        }
        _ => {
            sandbox.kill_all_processes(args.signal, args.grace).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn logs(sandboxes: &Sandboxes, args: LogsArgs) -> Result<ExitCode, Error> {
    // Installed before anything runs, so no Ctrl-C slips between two waits.
    let (mut interrupt, mut terminate) = interrupts(&args.id)?;
    let sandbox = sandboxes.connect(&args.id).await?;
    let process = sandbox.get_process(&args.proc_id).await?;
    // Without -f: the output kept until now, in the order it was printed.
    let mut stream = if args.follow {
        process.stream_logs(0).await?
    } else {
        process.read_logs(0).await?
    };
    loop {
        // Returning drops the stream, which only stops following: the process keeps running.
        let event = tokio::select! {
            event = stream.next() => event,
            _ = interrupt.recv() => return Ok(ExitCode::from(130)),
            _ = terminate.recv() => return Ok(ExitCode::from(143)),
        };
        match event {
            Some(Ok(LogEvent::Output { stream, data, .. })) => {
                let written = match stream {
                    OutputStream::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&data).and_then(|()| out.flush())
                    }
                    OutputStream::Stderr => std::io::stderr().lock().write_all(&data),
                };
                if matches!(&written, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
                    return Ok(ExitCode::from(128 + libc::SIGPIPE as u8));
                }
            }
            Some(Ok(LogEvent::Truncated { from, to })) => {
                eprintln!(
                    "sandpit: [{} bytes of earlier output were dropped (log bound)]",
                    to - from
                );
            }
            Some(Ok(LogEvent::End { process, .. })) => {
                return Ok(if args.follow {
                    ended(&process)
                } else {
                    ExitCode::SUCCESS
                })
            }
            Some(Err(e)) => return Err(e),
            None => return Ok(ExitCode::FAILURE),
        }
    }
}

/// The exit status of `logs -f` for a process that ended, with a note where the status alone
/// does not say what happened.
fn ended(process: &ProcessInfo) -> ExitCode {
    let Some(report) = process.exit else {
        let why = process.error.as_deref().unwrap_or("no exit status");
        eprintln!("sandpit: process {} did not run: {why}", process.id);
        return ExitCode::FAILURE;
    };
    if report.oom_killed {
        eprintln!(
            "sandpit: process {} was killed: the sandbox ran out of memory",
            process.id
        );
    } else if report.timed_out {
        eprintln!("sandpit: process {} timed out and was killed", process.id);
    }
    ExitCode::from(report.shell_status().clamp(0, 255) as u8)
}

pub(super) async fn sessions(sandboxes: &Sandboxes, args: SessionsArgs) -> Result<ExitCode, Error> {
    let sandbox = sandboxes.connect(&args.id).await?;
    let list = sandbox.list_sessions().await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for info in &list {
            let _ = writeln!(out, "{}", serde_json::to_string(info).unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let width = list.iter().map(|s| s.id.len()).max().unwrap_or(0).max(2);
    let _ = writeln!(out, "{:<width$}  {:<4}  {:<6}  CWD", "ID", "BUSY", "QUEUED");
    for info in &list {
        let busy = if info.busy { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:<width$}  {busy:<4}  {:<6}  {}",
            info.id,
            info.queued,
            shown_command(&info.cwd)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn session_rm(
    sandboxes: &Sandboxes,
    args: SessionRmArgs,
) -> Result<ExitCode, Error> {
    let sandbox = sandboxes.connect(&args.id).await?;
    sandbox.delete_session(&args.name).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_where_needed() {
        let cases = [
            ("ls", "ls"),
            ("/usr/bin/env", "/usr/bin/env"),
            ("a-b_c.d,e:f+g@h", "a-b_c.d,e:f+g@h"),
            ("", "''"),
            ("two words", "'two words'"),
            ("it's", r"'it'\''s'"),
            ("'", r"''\'''"),
            ("$HOME", "'$HOME'"),
            ("a*b", "'a*b'"),
            ("~", "'~'"),
            ("FOO=bar", "'FOO=bar'"),
            ("a\nb", "'a\nb'"),
            ("back\\slash", "'back\\slash'"),
            ("%1", "'%1'"),
            ("é", "'é'"),
        ];
        for (word, want) in cases {
            assert_eq!(shell_quote(word), want, "{word:?}");
        }
    }

    #[test]
    fn session_scripts_take_one_word_as_is_and_quote_several() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (words(&["cd /tmp && export A=1"]), "cd /tmp && export A=1"),
            (words(&["cd", "/tmp"]), "cd /tmp"),
            (words(&["echo", "a b", "$X"]), "echo 'a b' '$X'"),
            (
                words(&["printf", "%s\\n", "it's"]),
                r"printf '%s\n' 'it'\''s'",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(session_script(&input), want, "{input:?}");
        }
    }

    #[test]
    fn signals_parse_by_name_in_any_case_or_by_number() {
        let cases = [
            ("TERM", libc::SIGTERM),
            ("term", libc::SIGTERM),
            ("SIGTERM", libc::SIGTERM),
            ("sigkill", libc::SIGKILL),
            ("KILL", libc::SIGKILL),
            ("Int", libc::SIGINT),
            ("HUP", libc::SIGHUP),
            ("QUIT", libc::SIGQUIT),
            ("USR1", libc::SIGUSR1),
            ("SIGUSR2", libc::SIGUSR2),
            ("cont", libc::SIGCONT),
            ("9", libc::SIGKILL),
            ("15", libc::SIGTERM),
            (" 2 ", libc::SIGINT),
        ];
        for (input, want) in cases {
            assert_eq!(signal_number(input), Ok(want), "{input:?}");
        }
        for bad in [
            "",
            "SIG",
            "TERMINATE",
            "NOPE",
            "SIGSIGTERM",
            "0",
            "-9",
            "99",
            "1.5",
        ] {
            assert!(signal_number(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn long_commands_are_cut_and_control_characters_escaped() {
        assert_eq!(shown_command("sleep 60"), "sleep 60");
        assert_eq!(shown_command("a\nb\tc"), "a\\nb\\tc");
        let long = "x".repeat(100);
        let shown = shown_command(&long);
        assert_eq!(shown.chars().count(), COMMAND_WIDTH);
        assert!(shown.ends_with('…'));
    }
}
