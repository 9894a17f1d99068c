//! `sandpit run [EVENT]`: which workflows EVENT triggers in this repository, and what they
//! would run. Only the dry run (`-n`) and the job list (`-l`) exist so far; running is the
//! runner's (the next issue).
//!
//! Choices, documented for users in `--help`:
//! - `-C DIR` behaves as if sandpit were started in DIR (as `git -C` and `make -C` do):
//!   `-W`, `-e` and the shown workflow paths are relative to it, and git is asked there.
//! - `-j ID` keeps the job and every job it needs, directly or not (act's behaviour: the
//!   needed jobs would have to run first); stages stay as in the full plan. Triggered
//!   workflows without such a job are left out.
//! - `--matrix K:V` keeps the instances of static matrices that match (see
//!   [`matrix::filter`]); jobs without a matrix and dynamic matrices are kept.
//! - The ref is the payload's `ref`, else the checked-out branch, else (detached HEAD) the tag
//!   pointing at HEAD. The changed files of a push are those of the last commit plus every
//!   uncommitted change (`git diff --name-only HEAD~1` ∪ `git status --porcelain`): what a push
//!   of the work in progress would carry, and for a clean tree exactly the last commit. A pull
//!   request's are the diff from the base branch (`git diff BASE...HEAD` plus uncommitted
//!   changes) when the base is a local branch other than the current one; otherwise unknown.
//!   Unknown changed files let path filters pass, with a note.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::run_exec;
use super::workflow::{clean, exit, plural, render_plan_with, title, Report, INVALID};
use crate::runner::{RunConfig, RunFacts};
use crate::workflow::matrix;
use crate::workflow::model::Workflow;
use crate::workflow::plan::{self, Plan};
use crate::workflow::trigger::{self, EventContext};

/// `sandpit run`.
#[derive(Args)]
pub struct RunArgs {
    /// The event to simulate: push, pull_request, workflow_dispatch, …
    #[arg(default_value = "push")]
    event: String,
    /// Show what EVENT would run, without running anything.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// List the job instances EVENT would run: stage, job id, job name, workflow file, events.
    #[arg(short = 'l', long, conflicts_with = "json")]
    list: bool,
    /// A workflow file, or a directory whose *.yml and *.yaml files are read.
    /// Default: .github/workflows.
    #[arg(short = 'W', long = "workflows", value_name = "PATH")]
    workflows: Option<PathBuf>,
    /// Keep only this job and the jobs it needs (directly or not).
    #[arg(short = 'j', long = "job", value_name = "ID")]
    job: Option<String>,
    /// The event's payload (`github.event`), a JSON file. Its `ref` overrides the current
    /// branch; `pull_request.base.ref` and `action` are used by pull request filters.
    #[arg(short = 'e', long = "event-path", value_name = "FILE")]
    event_path: Option<PathBuf>,
    /// A workflow_dispatch input, K=V (repeatable); goes into the payload's `inputs`.
    #[arg(long = "input", value_name = "K=V", value_parser = key_value)]
    inputs: Vec<(String, String)>,
    /// A configuration variable (`vars` context), K=V (repeatable).
    #[arg(long = "var", value_name = "K=V", value_parser = key_value)]
    vars: Vec<(String, String)>,
    /// Keep only matrix instances whose K is V (repeatable; repeat a key to allow several values).
    #[arg(long = "matrix", value_name = "K:V", value_parser = matrix_pair)]
    matrix: Vec<(String, String)>,
    /// The repository: behave as if started in DIR (default: the current directory).
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Print the result as JSON for programs: one document with -n, else the run's events as
    /// NDJSON (one object per line).
    #[arg(long)]
    json: bool,
    /// A secret, K=V, or K to read the value from the environment (repeatable). Secrets are
    /// masked as `***` in everything sandpit prints or stores.
    #[arg(short = 's', long = "secret", value_name = "K[=V]", value_parser = secret_arg)]
    secrets: Vec<(String, Option<String>)>,
    /// Secrets from a dotenv file (`K=V`, `K="..."` with \n escapes, # comments).
    #[arg(long = "secret-file", value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Environment variables for every step, from a dotenv file (below the workflow's `env`).
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// `github.actor` (default: $USER).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Job instances running at once (default: the number of CPUs).
    #[arg(long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// Keep each job's sandbox after it ends, for debugging; their ids are printed.
    #[arg(long = "keep-sandboxes")]
    keep_sandboxes: bool,
    /// Memory limit of each job's sandbox, e.g. 2G (default: none, as on a hosted runner
    /// the machine's memory is the limit).
    #[arg(long, value_name = "SIZE", value_parser = super::parse::size)]
    memory: Option<u64>,
    /// Most processes and threads in each job's sandbox.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// CPU quota of each job's sandbox, e.g. 1.5.
    #[arg(long, value_name = "N", value_parser = super::parse::cpus)]
    cpus: Option<u64>,
    /// Cap of each job's stored log in MiB; the head and the tail are kept.
    #[arg(long = "log-cap", value_name = "MIB", default_value_t = crate::runner::log::DEFAULT_CAP >> 20, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    log_cap: u64,
}

fn secret_arg(text: &str) -> Result<(String, Option<String>), String> {
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (text, None),
    };
    if !crate::protocol::is_valid_env_var(key, "") {
        return Err(format!(
            "expected K=V or K with a variable name K, got {key:?}"
        ));
    }
    Ok((key.to_string(), value))
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn matrix_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY:VALUE, got {text:?}")),
    }
}

/// A usage problem: `error:`, `hint:`, exit 2.
fn usage(message: &str, hint: &str) -> ExitCode {
    eprintln!("error: {message}");
    eprintln!("hint: {hint}");
    ExitCode::from(INVALID)
}

/// One triggered workflow in `--json`: its plan and the filters not checked.
#[derive(Serialize)]
struct TriggeredJson<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    notes: &'a [String],
}

/// One workflow that was not triggered, in `--json`.
#[derive(Serialize)]
struct NotTriggeredJson {
    path: String,
    name: String,
    events: Vec<String>,
    reason: String,
}

/// The outcome for one valid workflow.
enum Outcome {
    Triggered { plan: Plan, notes: Vec<String> },
    NotTriggered { plan: Plan, reason: String },
}

/// Runs `sandpit run`.
pub fn run(args: RunArgs) -> ExitCode {
    if let Some(dir) = &args.directory {
        if let Err(e) = std::env::set_current_dir(dir) {
            return usage(
                &format!("cannot use the directory {}: {e}", dir.display()),
                "-C names the repository's directory",
            );
        }
    }
    let mut payload = match &args.event_path {
        None => Value::Object(Default::default()),
        Some(path) => match read_payload(path) {
            Ok(payload) => payload,
            Err(message) => {
                return usage(
                    &message,
                    "-e names a JSON file holding the event's payload, an object such as \
                     {\"ref\": \"refs/heads/main\"}",
                )
            }
        },
    };
    if !args.inputs.is_empty() {
        let inputs = payload.as_object_mut().map(|o| {
            o.entry("inputs")
                .or_insert_with(|| Value::Object(Default::default()))
        });
        match inputs.and_then(Value::as_object_mut) {
            Some(inputs) => {
                for (k, v) in &args.inputs {
                    inputs.insert(k.clone(), Value::String(v.clone()));
                }
            }
            None => {
                return usage(
                    "the payload's `inputs` is not an object, so --input cannot add to it",
                    "remove `inputs` from the -e file or the --input options",
                )
            }
        }
    }

    let (event, notes) = event_context(&args.event, payload);
    for note in &notes {
        eprintln!("note: {note}");
    }

    let mut report = Report::new();
    let paths: Vec<PathBuf> = args.workflows.iter().cloned().collect();
    let files = report.files(&paths);
    let workflows: Vec<_> = files.iter().filter_map(|file| report.read(file)).collect();

    if let Some(job) = &args.job {
        if !workflows.is_empty() && workflows.iter().all(|w| w.job(job).is_none()) {
            let mut ids: Vec<&str> = workflows
                .iter()
                .flat_map(|w| w.jobs.iter().map(|j| j.id.value.as_str()))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            return usage(
                &format!("no workflow has a job `{}`", clean(job)),
                &format!("the job ids are: {}", clean(&ids.join(", "))),
            );
        }
    }

    let outcomes: Vec<Outcome> = workflows
        .iter()
        .map(|workflow| {
            let plan = plan::plan(workflow);
            match trigger::triggers(workflow, &event) {
                Ok(triggered) => Outcome::Triggered {
                    plan: restrict(plan, args.job.as_deref(), &args.matrix),
                    notes: triggered.notes,
                },
                Err(reason) => Outcome::NotTriggered {
                    plan,
                    reason: reason.to_string(),
                },
            }
        })
        .collect();
    if !args.dry_run && !args.list {
        if report.errors > 0 {
            return exit(false);
        }
        return execute(&args, outcomes.into_iter().zip(workflows).collect(), &event);
    }
    let triggered_count = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Triggered { .. }))
        .count();
    // A triggered workflow without the `-j` job runs nothing of interest.
    let shown = |plan: &Plan| args.job.is_none() || !plan.jobs.is_empty();

    let mut out = String::new();
    if args.json {
        #[derive(Serialize)]
        struct Document<'a> {
            event: &'a str,
            #[serde(rename = "ref")]
            git_ref: Option<&'a str>,
            changed_paths: Option<&'a [String]>,
            payload: &'a Value,
            vars: BTreeMap<&'a str, &'a str>,
            workflows: Vec<TriggeredJson<'a>>,
            not_triggered: Vec<NotTriggeredJson>,
        }
        let mut document = Document {
            event: &event.name,
            git_ref: event.git_ref.as_deref(),
            changed_paths: event.changed_paths.as_deref(),
            payload: &event.payload,
            vars: args
                .vars
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            workflows: Vec::new(),
            not_triggered: Vec::new(),
        };
        for outcome in &outcomes {
            match outcome {
                Outcome::Triggered { plan, notes } if shown(plan) => {
                    document.workflows.push(TriggeredJson { plan, notes })
                }
                Outcome::Triggered { .. } => {}
                Outcome::NotTriggered { plan, reason } => {
                    document.not_triggered.push(NotTriggeredJson {
                        path: plan.path.clone(),
                        name: plan.name.clone(),
                        events: plan.events.clone(),
                        reason: reason.clone(),
                    })
                }
            }
        }
        out = serde_json::to_string(&document).unwrap_or_default();
        out.push('\n');
    } else if args.list {
        let mut rows = vec![[
            "STAGE".to_string(),
            "JOB ID".into(),
            "JOB NAME".into(),
            "WORKFLOW FILE".into(),
            "EVENTS".into(),
        ]];
        for outcome in &outcomes {
            if let Outcome::Triggered { plan, .. } = outcome {
                for job in &plan.jobs {
                    rows.push([
                        job.stage.to_string(),
                        clean(&job.id),
                        clean(&job.name),
                        clean(&plan.path),
                        clean(&plan.events.join(",")),
                    ]);
                }
            }
        }
        let mut widths = [0usize; 5];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                let _ = write!(line, "{cell:<width$}  ", width = widths[index]);
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    } else {
        for (index, outcome) in outcomes.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            match outcome {
                Outcome::Triggered { plan, notes } if shown(plan) => {
                    let mut extra = vec![format!("triggered by {}", event.name)];
                    extra.extend(notes.iter().map(|note| format!("note: {note}")));
                    render_plan_with(&mut out, plan, &extra);
                }
                Outcome::Triggered { plan, .. } => {
                    let _ = writeln!(out, "{}", title(plan));
                    let _ = writeln!(
                        out,
                        "triggered by {}, but it has no job `{}` (-j)",
                        clean(&event.name),
                        clean(args.job.as_deref().unwrap_or_default())
                    );
                }
                Outcome::NotTriggered { plan, reason } => {
                    let _ = writeln!(out, "{}", title(plan));
                    let _ = writeln!(out, "on: {}", clean(&plan.events.join(", ")));
                    let _ = writeln!(out, "not triggered: {}", clean(reason));
                }
            }
        }
    }
    if !args.json {
        eprintln!(
            "{} of {} triggered by {}",
            triggered_count,
            plural(outcomes.len(), "workflow"),
            clean(&event.name),
        );
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    exit(report.errors == 0)
}

/// Runs the triggered workflows.
fn execute(args: &RunArgs, outcomes: Vec<(Outcome, Workflow)>, event: &EventContext) -> ExitCode {
    let mut secrets = Vec::new();
    if let Some(path) = &args.secret_file {
        match run_exec::read_dotenv(path, "secret file") {
            Ok(pairs) => secrets.extend(pairs),
            Err(message) => return usage(&message, "the file holds K=V lines"),
        }
    }
    for (key, value) in &args.secrets {
        let value = match value {
            Some(value) => value.clone(),
            None => match std::env::var(key) {
                Ok(value) => value,
                Err(_) => {
                    return usage(
                        &format!("-s {key}: the environment has no {key}"),
                        &format!("give the value (-s {key}=VALUE) or export {key}"),
                    )
                }
            },
        };
        secrets.retain(|(k, _)| k != key);
        secrets.push((key.clone(), value));
    }
    let env = match &args.env_file {
        Some(path) => match run_exec::read_dotenv(path, "env file") {
            Ok(pairs) => pairs,
            Err(message) => return usage(&message, "the file holds K=V lines"),
        },
        None => Vec::new(),
    };
    let workspace = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => {
            return usage(
                &format!("cannot read the current directory: {e}"),
                "run sandpit in the repository",
            )
        }
    };
    let mut workflows = Vec::new();
    for (outcome, workflow) in outcomes {
        if let Outcome::Triggered { plan, .. } = outcome {
            if !plan.jobs.is_empty() {
                workflows.push((workflow, plan));
            }
        }
    }
    if workflows.is_empty() {
        eprintln!(
            "nothing to run: no workflow is triggered by {}",
            clean(&event.name)
        );
        return ExitCode::SUCCESS;
    }
    let (sha, repository) = run_exec::repository_facts(&workspace);
    let actor = args
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "sandpit".into());
    let payload = complete_payload(
        &event.name,
        event.payload.clone(),
        event.git_ref.as_deref(),
        &sha,
        &repository,
        &actor,
    );
    let facts = RunFacts {
        run_id: 0,
        event_name: event.name.clone(),
        payload,
        sha,
        git_ref: event.git_ref.clone().unwrap_or_default(),
        repository,
        actor,
    };
    let max_jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let config = RunConfig {
        workspace,
        secrets,
        env,
        vars: args.vars.clone(),
        max_jobs,
        keep_sandboxes: args.keep_sandboxes,
        log_cap: args.log_cap.saturating_mul(1024 * 1024),
        matrix_filter: args.matrix.clone(),
        limits: crate::sandbox::Limits {
            memory_bytes: args.memory,
            pids: args.pids,
            cpu_millis: args.cpus,
        },
    };
    run_exec::execute(run_exec::Execution {
        workflows,
        config,
        facts,
        json: args.json,
    })
}

/// Fills what GitHub's payload always has and the `-e` file (or its absence) left out: for
/// every event `repository` and `sender`; for a push also `ref`, `after` and `head_commit.id`.
/// Keys the file gives are kept as they are.
fn complete_payload(
    event: &str,
    mut payload: Value,
    git_ref: Option<&str>,
    sha: &str,
    repository: &str,
    actor: &str,
) -> Value {
    let Some(object) = payload.as_object_mut() else {
        return payload;
    };
    let (owner, name) = repository.split_once('/').unwrap_or(("", repository));
    let mut add = |key: &str, value: Value| {
        object.entry(key).or_insert(value);
    };
    if !repository.is_empty() {
        add(
            "repository",
            serde_json::json!({
                "name": name,
                "full_name": repository,
                "owner": { "login": owner, "name": owner },
            }),
        );
    }
    add("sender", serde_json::json!({ "login": actor }));
    if event == "push" {
        if let Some(git_ref) = git_ref {
            add("ref", Value::String(git_ref.to_string()));
        }
        if !sha.is_empty() {
            add("after", Value::String(sha.to_string()));
            add("head_commit", serde_json::json!({ "id": sha }));
        }
        add("pusher", serde_json::json!({ "name": actor }));
    }
    payload
}

/// Reads the `-e` payload: a JSON object.
fn read_payload(path: &std::path::Path) -> Result<Value, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read the event payload {shown}: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the event payload {shown} is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!("the event payload {shown} is not a JSON object"));
    }
    Ok(value)
}

/// The event with the repository's facts, and notes about what could not be learnt.
fn event_context(name: &str, payload: Value) -> (EventContext, Vec<String>) {
    let mut notes = Vec::new();
    let payload_ref = payload
        .get("ref")
        .and_then(Value::as_str)
        .map(str::to_string);
    let is_repo =
        git(&["rev-parse", "--is-inside-work-tree"]).is_some_and(|out| out.trim() == "true");
    if !is_repo {
        notes.push(format!(
            "{} is not a git repository: the branch and the changed files are unknown \
             (give `ref` in an -e payload)",
            std::env::current_dir()
                .map(|d| clean(&d.display().to_string()))
                .unwrap_or_else(|_| "the directory".into())
        ));
        let event = EventContext {
            name: name.to_string(),
            payload,
            git_ref: payload_ref,
            changed_paths: None,
        };
        return (event, notes);
    }
    let head_ref = current_ref();
    if payload_ref.is_none() && head_ref.is_none() {
        notes.push("HEAD is detached and no tag points at it: the ref is unknown".into());
    }
    let changed_paths = match name {
        "push" => Some(push_changes()),
        "pull_request" | "pull_request_target" => {
            let base = payload
                .pointer("/pull_request/base/ref")
                .and_then(Value::as_str)
                .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string())
                .or_else(|| {
                    head_ref
                        .as_deref()
                        .and_then(|r| r.strip_prefix("refs/heads/"))
                        .map(str::to_string)
                });
            let current = head_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("refs/heads/"));
            match base {
                Some(base) if Some(base.as_str()) == current => {
                    notes.push(format!(
                        "changed files unknown: the base branch `{}` is the checked-out branch",
                        clean(&base)
                    ));
                    None
                }
                Some(base)
                    if git(&[
                        "rev-parse",
                        "--verify",
                        "-q",
                        &format!("refs/heads/{base}^{{commit}}"),
                    ])
                    .is_some() =>
                {
                    let mut changed = git_paths(&[
                        "diff",
                        "--name-only",
                        "-z",
                        &format!("refs/heads/{base}...HEAD"),
                    ]);
                    changed.extend(status_paths());
                    Some(dedup(changed))
                }
                Some(base) => {
                    notes.push(format!(
                        "changed files unknown: the base branch `{}` is not a local branch",
                        clean(&base)
                    ));
                    None
                }
                None => None,
            }
        }
        _ => None,
    };
    let event = EventContext {
        name: name.to_string(),
        payload,
        git_ref: payload_ref.or(head_ref),
        changed_paths,
    };
    (event, notes)
}

/// The checked-out branch, or the tag at a detached HEAD.
fn current_ref() -> Option<String> {
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        return Some(branch.trim().to_string());
    }
    git(&["describe", "--exact-match", "--tags", "HEAD"])
        .map(|tag| format!("refs/tags/{}", tag.trim()))
}

/// The files of the last commit plus the uncommitted changes.
fn push_changes() -> Vec<String> {
    let mut changed = if git(&["rev-parse", "--verify", "-q", "HEAD~1"]).is_some() {
        git_paths(&["diff", "--name-only", "-z", "HEAD~1"])
    } else if git(&["rev-parse", "--verify", "-q", "HEAD"]).is_some() {
        // The first commit: everything it holds is new.
        git_paths(&[
            "diff-tree",
            "--root",
            "--no-commit-id",
            "--name-only",
            "-z",
            "-r",
            "HEAD",
        ])
    } else {
        Vec::new()
    };
    changed.extend(status_paths());
    dedup(changed)
}

/// The paths `git status` reports (both sides of a rename), untracked files included.
fn status_paths() -> Vec<String> {
    let Some(out) = git(&["status", "--porcelain", "-z", "--untracked-files=all"]) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut entries = out.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (status, path) = (entry.get(..2).unwrap_or(""), entry.get(3..).unwrap_or(""));
        paths.push(path.to_string());
        if status.contains('R') || status.contains('C') {
            if let Some(original) = entries.next() {
                paths.push(original.to_string());
            }
        }
    }
    paths
}

fn dedup(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    paths.dedup();
    paths.retain(|p| !p.is_empty());
    paths
}

/// NUL-separated paths from a git command.
fn git_paths(args: &[&str]) -> Vec<String> {
    git(args)
        .map(|out| {
            out.split('\0')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The stdout of `git ARGS` when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The plan restricted to `-j` (the job and what it needs) and `--matrix`.
fn restrict(mut plan: Plan, job: Option<&str>, wanted: &[(String, String)]) -> Plan {
    if let Some(job) = job {
        let mut keep: HashSet<String> = HashSet::new();
        let mut todo = vec![job.to_string()];
        while let Some(id) = todo.pop() {
            if !keep.insert(id.clone()) {
                continue;
            }
            if let Some(instance) = plan.jobs.iter().find(|j| j.id == id) {
                todo.extend(instance.needs.iter().cloned());
            }
        }
        // Without the job itself nothing is kept (its needs alone are not what was asked).
        if !plan.jobs.iter().any(|j| j.id == job) {
            keep.clear();
        }
        plan.jobs.retain(|j| keep.contains(&j.id));
    }
    if !wanted.is_empty() {
        plan.jobs.retain(|j| match &j.matrix {
            Some(combination) => {
                !matrix::filter(std::slice::from_ref(combination), wanted).is_empty()
            }
            None => true,
        });
    }
    plan
}
