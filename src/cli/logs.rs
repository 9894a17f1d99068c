//! `sandpit logs [RUN_ID] [JOB]`: prints a run's job logs again (the latest run by default).
//!
//! Choices, documented for users in `--help`:
//! - Lines are printed as the job printed them; `-t` keeps the timestamp each line is stored
//!   with. Without timestamps the output diffs and greps like the job's own output; with them
//!   it answers "when".
//! - A single argument that is all digits is a run id, anything else a job of the latest run;
//!   a job whose name is all digits is reached by giving the run id first.
//! - JOB matches a job instance's name exactly, else as the start of exactly one name, else
//!   as part of exactly one name; more than one candidate is a usage error listing them.
//! - Exit codes: 1 when the run or job does not exist (or a log cannot be read), 2 for usage
//!   errors (a malformed run id, an ambiguous job); a closed pipe (`| head`) ends quietly
//!   with 141, as a killed `cat` would.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::runner::log::{self, LogError};
use crate::runner::runs::{RunDir, RunsError};
use crate::sandbox::SandboxesConfig;

/// Exit status for a run or job that does not exist, and for failures.
const NOT_FOUND: u8 = 1;
/// Exit status for arguments that cannot be understood.
const USAGE: u8 = 2;
/// Exit status when stdout's reader left: what SIGPIPE's default action would give.
const CLOSED_PIPE: u8 = 128 + libc::SIGPIPE as u8;

/// `sandpit logs`.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The run (default: the latest). A lone argument of digits is a run id; for a job whose
    /// name is all digits, give the run id before it.
    #[arg(value_name = "RUN_ID")]
    run: Option<String>,
    /// Only this job instance: its exact name, else the start or any part of exactly one
    /// name, e.g. `build (ubuntu` or `ubuntu`. Default: every job, each after a `== JOB ==`
    /// line.
    #[arg(value_name = "JOB")]
    job: Option<String>,
    /// Keep each line's timestamp (RFC 3339, UTC, microseconds: when sandpit received the
    /// line). Without it, lines are printed exactly as the job printed them.
    #[arg(short = 't', long)]
    timestamps: bool,
}

/// Runs `sandpit logs` on the state directory `SandboxesConfig::from_env().home`.
pub fn run(args: LogsArgs) -> ExitCode {
    let home = SandboxesConfig::from_env().home;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = show(&home, &args, &mut out, &mut io::stderr().lock());
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(CLOSED_PIPE),
        Err(e) => {
            eprintln!("error: failed to write to stdout: {e}");
            ExitCode::from(NOT_FOUND)
        }
        Ok(()) => ExitCode::from(code),
    }
}

/// What `run` does, with the state directory and the output streams as parameters;
/// returns the exit status.
fn show(home: &Path, args: &LogsArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match show_inner(home, args, out) {
        Ok(()) => 0,
        Err(problem) => problem.report(err),
    }
}

/// Why `sandpit logs` could not do its job, with what the user is told.
enum Problem {
    NoRuns,
    BadRunId(String),
    RunNotFound {
        id: u64,
        latest: Option<u64>,
    },
    NoJobLogs {
        run: u64,
    },
    JobNotFound {
        run: u64,
        job: String,
        jobs: Vec<String>,
    },
    Ambiguous {
        run: u64,
        job: String,
        candidates: Vec<String>,
    },
    Runs(RunsError),
    Log(LogError),
    ClosedPipe,
}

impl Problem {
    fn report(self, err: &mut dyn Write) -> u8 {
        // Job names are hostile: never let their control characters reach the terminal.
        let show = |name: &str| log::escape_name(name);
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("  {}\n", show(n)))
                .collect::<String>()
        };
        let (text, code) = match self {
            Problem::NoRuns => (
                "error: no runs yet\nhint: run `sandpit run` first\n".to_string(),
                NOT_FOUND,
            ),
            Problem::BadRunId(text) => (
                format!(
                    "error: invalid run id \"{}\": expected a number like 12\n",
                    show(&text)
                ),
                USAGE,
            ),
            Problem::RunNotFound { id, latest } => {
                let hint = match latest {
                    Some(latest) => format!("hint: the latest run is {latest}"),
                    None => "hint: run `sandpit run` first".to_string(),
                };
                (format!("error: run {id} not found\n{hint}\n"), NOT_FOUND)
            }
            Problem::NoJobLogs { run } => {
                (format!("error: run {run} has no job logs\n"), NOT_FOUND)
            }
            Problem::JobNotFound { run, job, jobs } => (
                format!(
                    "error: run {run} has no job matching \"{}\"\nhint: its jobs are:\n{}",
                    show(&job),
                    list(&jobs)
                ),
                NOT_FOUND,
            ),
            Problem::Ambiguous {
                run,
                job,
                candidates,
            } => (
                format!(
                    "error: \"{}\" matches {} jobs of run {run}:\n{}hint: give more of the name\n",
                    show(&job),
                    candidates.len(),
                    list(&candidates)
                ),
                USAGE,
            ),
            Problem::Runs(e) => (format!("error: {}\n", crate::error_chain(&e)), NOT_FOUND),
            Problem::Log(e) => (format!("error: {}\n", crate::error_chain(&e)), NOT_FOUND),
            Problem::ClosedPipe => return CLOSED_PIPE,
        };
        let _ = err.write_all(text.as_bytes());
        code
    }
}

impl From<RunsError> for Problem {
    fn from(e: RunsError) -> Self {
        Problem::Runs(e)
    }
}

impl From<LogError> for Problem {
    fn from(e: LogError) -> Self {
        match e {
            LogError::WriteOutput { source } if source.kind() == io::ErrorKind::BrokenPipe => {
                Problem::ClosedPipe
            }
            e => Problem::Log(e),
        }
    }
}

fn show_inner(home: &Path, args: &LogsArgs, out: &mut dyn Write) -> Result<(), Problem> {
    let (run_arg, job) = match (&args.run, &args.job) {
        // A lone argument: a run id if it is one, else a job of the latest run.
        (Some(only), None) if !is_digits(only) => (None, Some(only.as_str())),
        (run, job) => (run.as_deref(), job.as_deref()),
    };
    let run = match run_arg {
        None => RunDir::latest(home)?.ok_or(Problem::NoRuns)?,
        Some(text) => {
            // Leading zeros are fine here: `007` is run 7.
            let id = Some(text)
                .filter(|t| is_digits(t))
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| Problem::BadRunId(text.to_string()))?;
            match RunDir::open(home, id) {
                Ok(run) => run,
                Err(RunsError::NotFound { .. }) => {
                    let latest = RunDir::latest(home)?.map(|r| r.id);
                    return Err(Problem::RunNotFound { id, latest });
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let logs = run.job_logs()?;
    if logs.is_empty() {
        return Err(Problem::NoJobLogs { run: run.id });
    }
    let Some(job) = job else {
        for (name, path) in &logs {
            let header = format!("== {} ==\n", log::escape_name(name));
            out.write_all(header.as_bytes())
                .map_err(|source| LogError::WriteOutput { source })?;
            log::copy_stored(path, out, args.timestamps)?;
        }
        return Ok(());
    };
    let names: Vec<&str> = logs.iter().map(|(name, _)| name.as_str()).collect();
    let index = match select(&names, job) {
        Selected::One(index) => index,
        Selected::None => {
            return Err(Problem::JobNotFound {
                run: run.id,
                job: job.to_string(),
                jobs: names.iter().map(|n| n.to_string()).collect(),
            })
        }
        Selected::Many(candidates) => {
            return Err(Problem::Ambiguous {
                run: run.id,
                job: job.to_string(),
                candidates: candidates.iter().map(|&i| names[i].to_string()).collect(),
            })
        }
    };
    log::copy_stored(&logs[index].1, out, args.timestamps)?;
    Ok(())
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Which of `names` a JOB argument picks.
#[derive(Debug, PartialEq, Eq)]
enum Selected {
    One(usize),
    None,
    /// Indexes of the candidates, in listing order.
    Many(Vec<usize>),
}

/// Exact name first, then unique prefix, then unique substring: the first rule that matches
/// anything decides.
fn select(names: &[&str], wanted: &str) -> Selected {
    let rules: [&dyn Fn(&str) -> bool; 3] = [
        &|name| name == wanted,
        &|name| name.starts_with(wanted),
        &|name| name.contains(wanted),
    ];
    for rule in rules {
        let matches: Vec<usize> = (0..names.len()).filter(|&i| rule(names[i])).collect();
        match matches.len() {
            0 => continue,
            1 => return Selected::One(matches[0]),
            _ => return Selected::Many(matches),
        }
    }
    Selected::None
}

#[cfg(test)]
mod tests;
