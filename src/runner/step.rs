//! One step: a `run` script through its shell, or a `uses` action (the built-in ones and local
//! composite actions), with workflow commands, command files, timeouts and cancellation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::cancel::CancelLevel;
use super::commands::{self, AnnotationLevel, WorkflowCommand};
use super::context::{self, WORKSPACE};
use super::event::{Annotation, Event, Level, Outcome};
use super::job::{Frame, JobRun};
use super::output::StepOutput;
use crate::sandbox::{Command, ExecEvent, ExitReport};
use crate::workflow::action::{self, Runs};
use crate::workflow::expr::{Object, Value};
use crate::workflow::model::{ActionRef, Step, StepAction, TemplateString};

/// After a step's timeout: SIGTERM, then SIGKILL this much later.
pub const TIMEOUT_KILL_AFTER: Duration = Duration::from_secs(5);
/// After a cancel: SIGINT, then SIGTERM this much later…
pub const CANCEL_TERM_AFTER: Duration = Duration::from_millis(7500);
/// …then SIGKILL this much after the SIGTERM.
pub const CANCEL_KILL_AFTER: Duration = Duration::from_millis(2500);
/// How long each `always()` step may run once the job's own timeout has passed.
pub const CLEANUP_AFTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Largest `action.yml` read.
pub const MAX_ACTION_FILE: u64 = 1024 * 1024;
/// Composite actions nested deeper than this fail (a cycle of actions would never end).
pub const MAX_ACTION_DEPTH: usize = 10;
/// Largest command file (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH`) read back; a larger
/// one fails the step instead of filling the runner's memory.
pub const MAX_COMMAND_FILE: u64 = 16 * 1024 * 1024;
/// Largest `GITHUB_STEP_SUMMARY` kept, as on GitHub (1 MiB per step).
pub const MAX_SUMMARY: u64 = 1024 * 1024;

/// How a step went.
#[derive(Debug, Default)]
pub struct StepResult {
    /// Its outcome (before `continue-on-error`).
    pub outcome: Outcome,
    /// Why it failed, beyond the exit code.
    pub message: Option<String>,
    /// `steps.<id>.outputs`.
    pub outputs: BTreeMap<String, String>,
}

impl StepResult {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> StepResult {
        StepResult {
            outcome: Outcome::Failure,
            message: Some(message.into()),
            outputs: BTreeMap::new(),
        }
    }
}

/// Runs a step whose condition held.
pub(crate) async fn run(
    job: &mut JobRun<'_>,
    step: &Step,
    number: usize,
    frame: &mut Frame,
) -> StepResult {
    let mut env = job.env_before_step(frame);
    if let Err(message) = job.layer_env(frame, &mut env, &step.env) {
        return StepResult::failed(message);
    }
    let timeout = match &step.timeout_minutes {
        None => None,
        Some(minutes) => match super::job::minutes_value(minutes, &job.scope(frame, &env)) {
            Ok(timeout) => Some(timeout),
            Err(message) => return StepResult::failed(message),
        },
    };
    match &step.action {
        StepAction::Run {
            run,
            shell,
            working_directory,
        } => {
            let script = match run.parsed.evaluate_to_string(&job.scope(frame, &env)) {
                Ok(script) => script,
                Err(e) => return StepResult::failed(format!("run: {e}")),
            };
            let shell = match shell_of(job, frame, shell.as_ref().map(|s| s.value.as_str()), &env) {
                Ok(shell) => shell,
                Err(message) => return StepResult::failed(message),
            };
            let cwd = match working_directory
                .as_ref()
                .map(|wd| wd.parsed.evaluate_to_string(&job.scope(frame, &env)))
                .transpose()
            {
                Ok(Some(dir)) => Some(dir),
                Ok(None) if frame.depth == 0 => {
                    match job.default_run(|d| d.working_directory.as_ref()) {
                        Some(t) => match t.parsed.evaluate_to_string(&job.scope(frame, &env)) {
                            Ok(dir) => Some(dir),
                            Err(e) => return StepResult::failed(format!("working-directory: {e}")),
                        },
                        None => None,
                    }
                }
                Ok(None) => None,
                Err(e) => return StepResult::failed(format!("working-directory: {e}")),
            };
            run_script(job, number, &script, &shell, cwd.as_deref(), env, timeout).await
        }
        StepAction::Uses { uses, with } => {
            let scope = job.scope(frame, &env);
            let mut inputs = BTreeMap::new();
            for (key, value) in with {
                match value.parsed.evaluate_to_string(&scope) {
                    Ok(v) => {
                        inputs.insert(key.value.clone(), v);
                    }
                    Err(e) => return StepResult::failed(format!("with.{}: {e}", key.value)),
                }
            }
            match &uses.value {
                ActionRef::Remote { owner, repo, .. }
                    if format!("{owner}/{repo}").eq_ignore_ascii_case("actions/checkout") =>
                {
                    checkout(job, number, inputs, env).await
                }
                ActionRef::Remote { owner, repo, .. }
                    if format!("{owner}/{repo}").eq_ignore_ascii_case("actions/cache") =>
                {
                    job.sink
                        .warn(
                            "actions/cache is not supported yet (it comes with buckets): \
                             nothing is restored or saved, as on a cache miss",
                        )
                        .await;
                    let mut result = StepResult::default();
                    result.outputs.insert("cache-hit".into(), "false".into());
                    result
                }
                ActionRef::Remote { owner, repo, .. }
                    if owner.eq_ignore_ascii_case("actions")
                        && (repo.eq_ignore_ascii_case("upload-artifact")
                            || repo.eq_ignore_ascii_case("download-artifact")) =>
                {
                    StepResult::failed(format!(
                        "`uses: {}`: artifacts are built in but not implemented yet (they come \
                         with buckets, the next step of the roadmap)",
                        uses.value
                    ))
                }
                ActionRef::Local(path) => composite(job, path, inputs, env, frame).await,
                ActionRef::Remote { .. } => StepResult::failed(format!(
                    "`uses: {}`: remote actions are not supported yet (only actions/checkout, \
                     actions/cache and local composite actions run)",
                    uses.value
                )),
                ActionRef::Docker(image) => StepResult::failed(format!(
                    "`uses: docker://{image}`: Docker actions are not supported yet"
                )),
                ActionRef::SelfRepo(path) => StepResult::failed(format!(
                    "`uses: $/{path}` is not supported by the runner yet"
                )),
            }
        }
        StepAction::Wait(_)
        | StepAction::WaitAll
        | StepAction::Cancel(_)
        | StepAction::Parallel(_) => StepResult::failed(
            "background, wait, cancel and parallel steps are not supported by the runner yet",
        ),
    }
}

/// A shell resolved to the command that runs a script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    /// The argv template; `{0}` is the script's path.
    pub template: Vec<String>,
    /// The script file's extension.
    pub extension: &'static str,
}

/// The shell of a step: its own, else `defaults.run.shell`, else bash (sh in a container).
fn shell_of(
    job: &mut JobRun<'_>,
    frame: &Frame,
    own: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<Shell, String> {
    let chosen = match own {
        Some(shell) => Some(shell.to_string()),
        None if frame.depth == 0 => match job.default_run(|d| d.shell.as_ref()) {
            Some(t) => Some(
                t.parsed
                    .evaluate_to_string(&job.scope(frame, env))
                    .map_err(|e| format!("defaults.run.shell: {e}"))?,
            ),
            None => None,
        },
        None => None,
    };
    resolve_shell(chosen.as_deref(), job.container)
}

/// GitHub's shells on Linux, by name or as a template holding `{0}`.
pub fn resolve_shell(shell: Option<&str>, container: bool) -> Result<Shell, String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let name = match shell.map(str::trim) {
        // GitHub runs an unnamed shell differently from `shell: bash`: no pipefail.
        None | Some("") if container => "sh",
        None | Some("") => {
            return Ok(Shell {
                template: words("bash -e {0}"),
                extension: "sh",
            })
        }
        Some(name) => name,
    };
    Ok(match name {
        "bash" => Shell {
            template: words("bash --noprofile --norc -eo pipefail {0}"),
            extension: "sh",
        },
        "sh" => Shell {
            template: words("sh -e {0}"),
            extension: "sh",
        },
        "python" => Shell {
            template: words("python {0}"),
            extension: "py",
        },
        "pwsh" => Shell {
            template: vec!["pwsh".into(), "-command".into(), ". '{0}'".into()],
            extension: "ps1",
        },
        "cmd" | "powershell" => {
            return Err(format!("shell `{name}` exists only on Windows runners"))
        }
        template if template.contains("{0}") => Shell {
            template: words(template),
            extension: "sh",
        },
        other => {
            return Err(format!(
                "unknown shell `{other}`: use bash, sh, python, pwsh, or a command template \
                 holding {{0}} for the script's path (e.g. `perl {{0}}`)"
            ))
        }
    })
}

/// The five command files. They are the same paths for every step of a job: made empty when
/// the job starts, and emptied again after a step that wrote to them, so a step that writes
/// none costs no file operation.
pub(crate) struct CommandFiles {
    env: String,
    path: String,
    output: String,
    state: String,
    summary: String,
}

impl CommandFiles {
    pub(crate) fn new() -> CommandFiles {
        let at = |what: &str| format!("{}/{what}", context::COMMAND_FILES);
        CommandFiles {
            env: at("set_env"),
            path: at("add_path"),
            output: at("set_output"),
            state: at("save_state"),
            summary: at("step_summary"),
        }
    }

    pub(crate) fn all(&self) -> [&str; 5] {
        [
            &self.env,
            &self.path,
            &self.output,
            &self.state,
            &self.summary,
        ]
    }
}

/// Runs a script file through a shell, with the job's environment.
#[allow(clippy::too_many_arguments)]
async fn run_script(
    job: &mut JobRun<'_>,
    number: usize,
    script: &str,
    shell: &Shell,
    cwd: Option<&str>,
    env: BTreeMap<String, String>,
    timeout: Option<Duration>,
) -> StepResult {
    let script_path = format!("{}/step_{number}.{}", context::RUNNER_TEMP, shell.extension);
    if let Err(e) = job.sandbox.write_file(&script_path, script, None).await {
        return StepResult::failed(format!(
            "failed to write the step's script: {}",
            crate::error_chain(&e)
        ));
    }
    let mut argv: Vec<String> = shell
        .template
        .iter()
        .map(|word| word.replace("{0}", &script_path))
        .collect();
    if argv.first().is_some_and(|p| p == "python") {
        match python(job).await {
            Some(python) => argv[0] = python,
            None => {
                return StepResult::failed("shell python: neither python nor python3 is installed")
            }
        }
    }
    let cwd = match cwd {
        None => WORKSPACE.to_string(),
        Some(dir) if dir.starts_with('/') => dir.to_string(),
        Some(dir) => format!("{WORKSPACE}/{dir}"),
    };
    execute(job, number, argv, &cwd, env, timeout).await
}

/// `python`, else `python3`, as found in the sandbox (cached for the job).
async fn python(job: &mut JobRun<'_>) -> Option<String> {
    if job.python.is_none() {
        let probe = Command::argv(["sh", "-c", "command -v python || command -v python3"]);
        let out = job.sandbox.exec(probe).await.ok()?;
        let found = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .to_string();
        if found.is_empty() {
            return None;
        }
        job.python = Some(found);
    }
    job.python.clone()
}

/// Runs `argv` as a step: creates its command files, streams its output, applies its
/// commands, and stops it on timeout or cancel.
async fn execute(
    job: &mut JobRun<'_>,
    number: usize,
    argv: Vec<String>,
    cwd: &str,
    env: BTreeMap<String, String>,
    timeout: Option<Duration>,
) -> StepResult {
    let files = CommandFiles::new();
    let allow_unsecure = env
        .get("ACTIONS_ALLOW_UNSECURE_COMMANDS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut command = Command::argv(argv).cwd(cwd);
    let mut full = job.shared.facts.env_pairs(
        &super::job::workflow_name(&job.spec.workflow),
        &job.spec.job.id,
    );
    full.extend(env);
    let base_path = full
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| context::DEFAULT_PATH.to_string());
    let path = if job.path.is_empty() {
        base_path
    } else {
        format!("{}:{base_path}", job.path.join(":"))
    };
    full.insert("PATH".into(), path);
    full.insert("GITHUB_ENV".into(), files.env.clone());
    full.insert("GITHUB_PATH".into(), files.path.clone());
    full.insert("GITHUB_OUTPUT".into(), files.output.clone());
    full.insert("GITHUB_STATE".into(), files.state.clone());
    full.insert("GITHUB_STEP_SUMMARY".into(), files.summary.clone());
    full.insert("GITHUB_ACTION".into(), format!("__run_{number}"));
    if job.debug {
        full.insert("RUNNER_DEBUG".into(), "1".into());
    }
    for (k, v) in full {
        if crate::protocol::is_valid_env_var(&k, &v) {
            command = command.env(k, v);
        }
    }

    // After the job's timeout, `always()` steps still get a cleanup budget of their own.
    let job_left = if job.timed_out {
        CLEANUP_AFTER_TIMEOUT
    } else {
        job.deadline.saturating_duration_since(Instant::now())
    };
    let (limit, job_limit) = match timeout {
        Some(step) if step < job_left => (step, false),
        _ => (job_left, true),
    };
    let mut stream = match job.sandbox.exec_stream(command).await {
        Ok(stream) => stream,
        Err(e) => {
            return StepResult::failed(format!(
                "failed to start the step: {}",
                crate::error_chain(&e)
            ))
        }
    };
    let mut input = stream.input();
    let cancel = job.cancel.clone();
    // A step that starts during a cancel (an `always()` step) is not interrupted by it.
    let cancel_armed = cancel.level() < CancelLevel::Graceful;
    let deadline = tokio::time::Instant::now() + limit;
    let mut signals: Vec<(tokio::time::Instant, i32)> = Vec::new();
    let mut timed_out = false;
    let mut cancelled = false;
    let mut result = StepResult::default();
    let mut out = StepOutput::new(&mut job.sink);
    let report: Option<ExitReport> = loop {
        let next_signal = signals.first().map(|(at, _)| *at);
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(ExecEvent::Output { data, .. })) => out.push(&data).await,
                Some(Ok(ExecEvent::Started { .. })) => {}
                Some(Ok(ExecEvent::Exit(report))) => break Some(report),
                Some(Err(e)) => {
                    result.message = Some(format!("lost the step: {}", crate::error_chain(&e)));
                    break None;
                }
                None => {
                    result.message = Some("lost the step: its output ended without an exit".into());
                    break None;
                }
            },
            _ = tokio::time::sleep_until(deadline), if !timed_out && !cancelled => {
                timed_out = true;
                let now = tokio::time::Instant::now();
                signals = vec![(now, libc::SIGTERM), (now + TIMEOUT_KILL_AFTER, libc::SIGKILL)];
            }
            _ = cancel.reached(CancelLevel::Graceful), if cancel_armed && !cancelled && !timed_out => {
                cancelled = true;
                let now = tokio::time::Instant::now();
                signals = vec![
                    (now, libc::SIGINT),
                    (now + CANCEL_TERM_AFTER, libc::SIGTERM),
                    (now + CANCEL_TERM_AFTER + CANCEL_KILL_AFTER, libc::SIGKILL),
                ];
            }
            _ = cancel.reached(CancelLevel::Immediate) => {
                result.message = Some("killed: the run was cancelled at once".into());
                cancelled = true;
                break None;
            }
            _ = sleep_until_opt(next_signal), if next_signal.is_some() => {
                let (_, signal) = signals.remove(0);
                if let Some(input) = &mut input {
                    let _ = input.signal(signal).await;
                }
            }
        }
    };
    out.finish().await;
    let stdout_commands = std::mem::take(&mut out.commands);
    let problems = std::mem::take(&mut out.problems);
    drop(out);
    drop(stream);
    for problem in problems {
        job.sink.warn(&problem).await;
    }
    let mut refused = None;
    for command in stdout_commands {
        if let Err(message) = apply(job, command, allow_unsecure, &mut result).await {
            refused.get_or_insert(message);
        }
    }
    if report.is_some() {
        if let Err(message) = read_command_files(job, &files, &mut result).await {
            refused.get_or_insert(message);
        }
    }
    if timed_out && job_limit {
        job.timed_out = true;
    }
    let exit_failure = match &report {
        None if cancelled => Some(Outcome::Cancelled),
        None => Some(Outcome::Failure),
        Some(report) if report.exit_code == Some(0) && !timed_out => None,
        Some(_) if cancelled => Some(Outcome::Cancelled),
        Some(_) => Some(Outcome::Failure),
    };
    if let Some(outcome) = exit_failure {
        result.outcome = outcome;
        if result.message.is_none() {
            result.message = Some(match &report {
                Some(_) if timed_out && job_limit => {
                    "the job's timeout passed; the step was stopped".into()
                }
                Some(_) if timed_out => format!(
                    "the step timed out after {} and was stopped",
                    human_duration(limit)
                ),
                Some(_) if cancelled => "the step was stopped: the job was cancelled".into(),
                Some(report) => exit_message(report),
                None => "the step ended without an exit status".into(),
            });
        }
    } else if let Some(message) = refused {
        result.outcome = Outcome::Failure;
        result.message = Some(message);
    }
    result
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn exit_message(report: &ExitReport) -> String {
    if report.oom_killed {
        "the step was killed: out of memory".into()
    } else if let Some(code) = report.exit_code {
        format!("the step exited with code {code}")
    } else if let Some(signal) = report.signal {
        format!("the step was killed by signal {signal}")
    } else {
        "the step failed".into()
    }
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{} min", crate::workflow::expr::format_number(secs / 60.0))
    } else {
        format!("{} s", crate::workflow::expr::format_number(secs))
    }
}

/// Applies a stdout command; `Err` is a refused one that fails the step.
async fn apply(
    job: &mut JobRun<'_>,
    command: WorkflowCommand,
    allow_unsecure: bool,
    result: &mut StepResult,
) -> Result<(), String> {
    match command {
        WorkflowCommand::SetOutput { name, value } => {
            let held: usize = result.outputs.iter().map(|(k, v)| k.len() + v.len()).sum();
            if (held + name.len() + value.len()) as u64 > MAX_COMMAND_FILE {
                return Err(format!(
                    "the step's outputs exceed {MAX_COMMAND_FILE} bytes; `{name}` was refused"
                ));
            }
            result.outputs.insert(name, value);
        }
        WorkflowCommand::SetEnv { name, value } => {
            if !allow_unsecure {
                return Err(
                    "the `set-env` command is disabled: use the GITHUB_ENV file, or set \
                            ACTIONS_ALLOW_UNSECURE_COMMANDS=true"
                        .into(),
                );
            }
            set_env(job, name, value).await;
        }
        WorkflowCommand::AddPath(path) => {
            if !allow_unsecure {
                return Err(
                    "the `add-path` command is disabled: use the GITHUB_PATH file, or \
                            set ACTIONS_ALLOW_UNSECURE_COMMANDS=true"
                        .into(),
                );
            }
            job.path.insert(0, path);
        }
        WorkflowCommand::SaveState { .. } => {}
        WorkflowCommand::Debug(message) => {
            if job.debug {
                let message = job.sink.mask(&message);
                job.sink.note(&format!("debug: {message}"));
                job.sink
                    .event(Event::Output {
                        job: job.spec.job.clone(),
                        text: format!("##[debug]{message}\n"),
                    })
                    .await;
            }
        }
        WorkflowCommand::Annotation(a) => {
            let annotation = Annotation {
                level: match a.level {
                    AnnotationLevel::Notice => Level::Notice,
                    AnnotationLevel::Warning => Level::Warning,
                    AnnotationLevel::Error => Level::Error,
                },
                message: job.sink.mask(&a.message),
                title: a.title.map(|t| job.sink.mask(&t)),
                file: a.file.map(|f| job.sink.mask(&f)),
                line: a.line,
                col: a.col,
            };
            job.sink.note(&format!(
                "{}: {}",
                match annotation.level {
                    Level::Notice => "notice",
                    Level::Warning => "warning",
                    Level::Error => "error",
                },
                annotation.message
            ));
            job.sink
                .event(Event::Annotation {
                    job: job.spec.job.clone(),
                    annotation,
                })
                .await;
        }
        // Handled while the output streamed.
        WorkflowCommand::AddMask(_)
        | WorkflowCommand::Group(_)
        | WorkflowCommand::EndGroup
        | WorkflowCommand::Echo(_)
        | WorkflowCommand::StopCommands(_) => {}
    }
    Ok(())
}

async fn set_env(job: &mut JobRun<'_>, name: String, value: String) {
    if !crate::protocol::is_valid_env_var(&name, &value) {
        job.sink
            .warn(&format!(
                "ignored an invalid environment variable name {name:?}"
            ))
            .await;
        return;
    }
    job.runtime_env.insert(name, value);
}

/// Reads what the step wrote to its command files.
async fn read_command_files(
    job: &mut JobRun<'_>,
    files: &CommandFiles,
    result: &mut StepResult,
) -> Result<(), String> {
    let listing = job
        .sandbox
        .list_files(context::COMMAND_FILES, false, true)
        .await
        .map_err(|e| {
            format!(
                "failed to read the command files: {}",
                crate::error_chain(&e)
            )
        })?;
    let size = |path: &str| {
        listing
            .iter()
            .find(|f| f.path == path && f.kind == crate::sandbox::FileKind::File)
            .map_or(0, |f| f.size)
    };
    let mut texts = Vec::new();
    let mut problem = None;
    for path in files.all() {
        let size = size(path);
        let text = if size == 0 {
            None
        } else if path == files.summary && size > MAX_SUMMARY {
            job.sink
                .warn(&format!(
                    "the step summary ({size} bytes) is larger than {MAX_SUMMARY} bytes and was \
                     dropped, as GitHub drops it"
                ))
                .await;
            None
        } else if size > MAX_COMMAND_FILE {
            problem.get_or_insert(format!(
                "{path} holds {size} bytes, more than the {MAX_COMMAND_FILE} bytes sandpit reads back"
            ));
            None
        } else {
            match job.sandbox.read_file_text(path).await {
                Ok(text) => Some(text),
                Err(e) => {
                    problem.get_or_insert(format!(
                        "failed to read {path}: {}",
                        crate::error_chain(&e)
                    ));
                    None
                }
            }
        };
        texts.push(text);
        // The next step starts with empty files, as GitHub gives each step fresh ones.
        if size > 0 {
            if let Err(e) = job.sandbox.write_file(path, b"", None).await {
                problem.get_or_insert(format!(
                    "failed to empty {path}: {}",
                    crate::error_chain(&e)
                ));
            }
        }
    }
    let mut texts = texts.into_iter();
    let mut next = || texts.next().flatten();
    // In the order of `CommandFiles::all`.
    let (env_text, path_text, output_text, _state_text, summary_text) =
        (next(), next(), next(), next(), next());
    if let Some(problem) = problem {
        return Err(problem);
    }
    if let Some(text) = env_text {
        let pairs = commands::parse_file_commands(&text).map_err(|e| format!("GITHUB_ENV: {e}"))?;
        for (name, value) in pairs {
            set_env(job, name, value).await;
        }
    }
    if let Some(text) = path_text {
        for line in text.lines() {
            let line = line.trim();
            if !line.is_empty() {
                job.path.insert(0, line.to_string());
            }
        }
    }
    if let Some(text) = output_text {
        let pairs =
            commands::parse_file_commands(&text).map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
        result.outputs.extend(pairs);
    }
    if let Some(text) = summary_text {
        let masked = job.sink.mask(&text);
        job.summary.extend_from_slice(masked.as_bytes());
        if !masked.ends_with('\n') {
            job.summary.push(b'\n');
        }
    }
    Ok(())
}

/// `actions/checkout`: the workspace already shows the working tree; `ref` and `path` are
/// done with git inside the sandbox, on the copy-on-write view.
async fn checkout(
    job: &mut JobRun<'_>,
    number: usize,
    inputs: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
) -> StepResult {
    const KNOWN: &[&str] = &[
        "repository",
        "ref",
        "token",
        "ssh-key",
        "ssh-known-hosts",
        "ssh-strict",
        "ssh-user",
        "persist-credentials",
        "path",
        "clean",
        "filter",
        "sparse-checkout",
        "sparse-checkout-cone-mode",
        "fetch-depth",
        "fetch-tags",
        "show-progress",
        "lfs",
        "submodules",
        "set-safe-directory",
        "github-server-url",
    ];
    for key in inputs.keys() {
        if !KNOWN.contains(&key.as_str()) {
            job.sink
                .warn(&format!(
                    "actions/checkout has no input `{key}`; it was ignored"
                ))
                .await;
        }
    }
    if let Some(repository) = inputs.get("repository").filter(|r| !r.is_empty()) {
        if !repository.eq_ignore_ascii_case(&job.shared.facts.repository) {
            return StepResult::failed(format!(
                "actions/checkout of another repository ({repository}) is not supported locally"
            ));
        }
    }
    let git_ref = inputs.get("ref").filter(|r| !r.is_empty()).cloned();
    let path = inputs
        .get("path")
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && p != ".");
    if git_ref.is_none() && path.is_none() {
        job.sink
            .note("actions/checkout: the workspace already shows the working tree (copy-on-write)");
        return StepResult::default();
    }
    let mut script = String::from("set -e\n");
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    if let Some(path) = &path {
        script.push_str(&format!(
            "git -c safe.directory='*' clone --quiet --shared {WORKSPACE} {}\ncd {}\n",
            quote(path),
            quote(path)
        ));
    }
    if let Some(git_ref) = &git_ref {
        script.push_str(&format!(
            "git -c safe.directory='*' -c advice.detachedHead=false checkout --quiet --force {} --\n",
            quote(git_ref)
        ));
    }
    script.push_str("git -c safe.directory='*' log -1 --format='checked out %H'\n");
    let argv = vec!["sh".to_string(), "-c".to_string(), script];
    execute(job, number, argv, WORKSPACE, env, None).await
}

/// A local composite action (`uses: ./path`).
async fn composite(
    job: &mut JobRun<'_>,
    path: &str,
    with: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    frame: &Frame,
) -> StepResult {
    if frame.depth >= MAX_ACTION_DEPTH {
        return StepResult::failed(format!(
            "composite actions are nested more than {MAX_ACTION_DEPTH} deep (a cycle?)"
        ));
    }
    let relative = path.trim_start_matches("./").trim_end_matches('/');
    let dir = if relative.is_empty() || relative == "." {
        WORKSPACE.to_string()
    } else {
        format!("{WORKSPACE}/{relative}")
    };
    let mut source = None;
    for name in ["action.yml", "action.yaml"] {
        let file = format!("{dir}/{name}");
        match read_capped(&job.sandbox, &file, MAX_ACTION_FILE).await {
            Ok(Some(bytes)) => {
                source = Some((format!("{relative}/{name}"), bytes));
                break;
            }
            Ok(None) => {
                return StepResult::failed(format!(
                    "{file} is larger than {MAX_ACTION_FILE} bytes; it was not read"
                ))
            }
            Err(e) if e.code() == crate::sandbox::ErrorCode::FileNotFound => {}
            Err(e) => {
                return StepResult::failed(format!(
                    "failed to read {file}: {}",
                    crate::error_chain(&e)
                ))
            }
        }
    }
    let Some((file, bytes)) = source else {
        return StepResult::failed(format!(
            "`uses: {path}`: no action.yml or action.yaml in {dir}"
        ));
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (action, diagnostics) = action::load_action(&file, &text);
    for diagnostic in diagnostics.iter().filter(|d| !d.is_error()) {
        let rendered = crate::workflow::diagnostic::render(&file, &text, diagnostic, false);
        job.sink.warn(rendered.trim_end()).await;
    }
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| crate::workflow::diagnostic::render(&file, &text, d, false))
        .collect();
    let Some(action) = action.filter(|_| errors.is_empty()) else {
        return StepResult::failed(format!(
            "`uses: {path}`: invalid action\n{}",
            errors.join("\n")
        ));
    };
    let Runs::Composite { steps } = &action.runs else {
        return StepResult::failed(format!(
            "`uses: {path}`: only composite actions run locally yet (this one is a {} action)",
            match &action.runs {
                Runs::Node { .. } => "JavaScript",
                _ => "Docker",
            }
        ));
    };
    // Inputs: what `with` gave, else the default evaluated in the caller's contexts.
    let scope = job.scope(frame, &env);
    let mut inputs = Object::new();
    let mut input_env = BTreeMap::new();
    for input in &action.inputs {
        let name = input.name.value.clone();
        let given = with
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone());
        let value = match (given, &input.default) {
            (Some(v), _) => v,
            (None, Some(default)) => match default.parsed.evaluate_to_string(&scope) {
                Ok(v) => v,
                Err(e) => return StepResult::failed(format!("input `{name}` default: {e}")),
            },
            (None, None) if input.required => {
                job.sink
                    .warn(&format!(
                        "`uses: {path}`: required input `{name}` was not given"
                    ))
                    .await;
                String::new()
            }
            (None, None) => String::new(),
        };
        input_env.insert(
            format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase()),
            value.clone(),
        );
        inputs.insert(name, Value::String(value));
    }
    for key in with.keys() {
        if !action
            .inputs
            .iter()
            .any(|i| i.name.value.eq_ignore_ascii_case(key))
        {
            job.sink
                .warn(&format!(
                    "`uses: {path}` has no input `{key}`; it was ignored"
                ))
                .await;
        }
    }
    let mut inner_env = env;
    inner_env.extend(input_env);
    inner_env.insert("GITHUB_ACTION_PATH".into(), dir.clone());
    let mut inner = Frame {
        steps: Object::new(),
        inputs: Value::object(inputs),
        action_path: Some(dir),
        env: inner_env,
        failed: frame.failed,
        depth: frame.depth + 1,
    };
    let failed_before = inner.failed;
    job.run_steps(steps, &mut inner).await;
    let mut result = StepResult::default();
    let env_after = job.env_before_step(&inner);
    let scope = job.scope(&inner, &env_after);
    for output in &action.outputs {
        if let Some(value) = &output.value {
            match eval(value, &scope) {
                Ok(v) => {
                    result.outputs.insert(output.name.value.clone(), v);
                }
                Err(e) => {
                    return StepResult::failed(format!("output `{}`: {e}", output.name.value))
                }
            }
        }
    }
    if inner.failed && !failed_before {
        result.outcome = if job.cancel.level() >= CancelLevel::Graceful {
            Outcome::Cancelled
        } else {
            Outcome::Failure
        };
    }
    result
}

/// The file's bytes, or `None` when it holds more than `limit` (reading stops there).
async fn read_capped(
    sandbox: &crate::sandbox::Sandbox,
    path: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, crate::sandbox::Error> {
    let mut stream = sandbox.read_file_stream(path).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() as u64 > limit {
            return Ok(None);
        }
    }
    Ok(Some(bytes))
}

fn eval(template: &TemplateString, scope: &crate::workflow::expr::Scope) -> Result<String, String> {
    template
        .parsed
        .evaluate_to_string(scope)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_resolve_as_on_github() {
        let table: &[(Option<&str>, bool, &[&str])] = &[
            (None, false, &["bash", "-e", "{0}"]),
            (None, true, &["sh", "-e", "{0}"]),
            (
                Some("bash"),
                true,
                &["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
            ),
            (Some("sh"), false, &["sh", "-e", "{0}"]),
            (Some("python"), false, &["python", "{0}"]),
            (Some("perl -w {0}"), false, &["perl", "-w", "{0}"]),
        ];
        for (shell, container, expected) in table {
            let got = resolve_shell(*shell, *container).map(|s| s.template);
            let expected: Vec<String> = expected.iter().map(|w| w.to_string()).collect();
            assert_eq!(got, Ok(expected), "{shell:?}");
        }
    }

    #[test]
    fn unknown_and_windows_shells_are_refused_with_a_reason() {
        for shell in ["perl", "cmd", "powershell"] {
            let message = resolve_shell(Some(shell), false).unwrap_err();
            assert!(message.contains(shell), "{message}");
        }
    }
}
