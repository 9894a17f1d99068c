//! One job instance from sandbox to result: its environment and contexts, its steps in order
//! (with `if`, `continue-on-error`, timeouts and cancellation), and its outputs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::cancel::{Cancel, CancelLevel};
use super::context::{self, string_object};
use super::event::{Event, JobRef, Outcome};
use super::output::JobSink;
use super::step::{self, StepResult};
use super::Shared;
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::workflow::expr::{JobStatus, Object, Scope, Value};
use crate::workflow::model::{
    Env, JobKind, MaybeExpr, RunDefaults, RunsOn, Step, StepsJob, TemplateString, Workflow,
};

/// Most bytes of outputs a job hands to the jobs that need it.
pub const MAX_OUTPUTS: usize = 1024 * 1024;

/// GitHub's default `timeout-minutes` for a job.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(360 * 60);

/// One job instance to run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The workflow it belongs to.
    pub workflow: Arc<Workflow>,
    /// The job's index in `workflow.jobs`.
    pub job_index: usize,
    /// Who it is in events.
    pub job: JobRef,
    /// The `matrix` context (`null` without a matrix).
    pub matrix: Value,
    /// The `strategy` context.
    pub strategy: Value,
    /// The `needs` context.
    pub needs: Value,
    /// The id of the sandbox to create.
    pub sandbox_id: String,
}

/// How a job instance ended.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Its result.
    pub result: Outcome,
    /// Its `outputs`, evaluated at its end.
    pub outputs: BTreeMap<String, String>,
    /// Why, when not by its steps alone.
    pub message: Option<String>,
    /// Wall time.
    pub duration: Duration,
}

/// A level of step execution: the job's own steps, or a composite action's.
pub(crate) struct Frame {
    /// The `steps` context of this level.
    pub steps: Object,
    /// The `inputs` context of this level.
    pub inputs: Value,
    /// The composite action's directory (`github.action_path`), inside the sandbox.
    pub action_path: Option<String>,
    /// Environment the level adds (a composite's calling step's `env`).
    pub env: BTreeMap<String, String>,
    /// A step of this level (or, at its start, of the level above) failed.
    pub failed: bool,
    /// How deep in composite actions (0 for the job).
    pub depth: usize,
}

/// The state of a running job instance.
pub(crate) struct JobRun<'a> {
    pub shared: &'a Shared,
    pub spec: &'a JobSpec,
    /// The contexts that stay the same for the whole job (see [`base_scope`]).
    base: Scope,
    pub job: &'a StepsJob,
    pub sandbox: Sandbox,
    pub sink: JobSink,
    pub cancel: Cancel,
    pub deadline: Instant,
    /// The job's timeout passed: later steps run as if cancelled.
    pub timed_out: bool,
    /// `env` of the workflow, the job and its container, evaluated.
    pub env: BTreeMap<String, String>,
    /// What steps added through `GITHUB_ENV` and `set-env`.
    pub runtime_env: BTreeMap<String, String>,
    /// What steps added through `GITHUB_PATH` and `add-path`, newest first.
    pub path: Vec<String>,
    /// The job runs in a `container:` (whose image is not used yet): default shell `sh`.
    pub container: bool,
    /// How many steps started (numbers script and command files).
    pub steps_started: usize,
    /// The interpreter found for `shell: python`.
    pub python: Option<String>,
    /// `GITHUB_STEP_SUMMARY` contents, in step order.
    pub summary: Vec<u8>,
    /// `ACTIONS_STEP_DEBUG`: show `::debug::` lines.
    pub debug: bool,
}

/// Runs one job instance in its own sandbox and destroys the sandbox (unless kept).
pub(crate) async fn run(shared: &Shared, spec: &JobSpec, cancel: Cancel) -> JobResult {
    let span = tracing::info_span!("job", id = %spec.job.id, name = %spec.job.name, sandbox = %spec.sandbox_id);
    run_inner(shared, spec, cancel).instrument(span).await
}

async fn run_inner(shared: &Shared, spec: &JobSpec, cancel: Cancel) -> JobResult {
    let started = Instant::now();
    let workflow = &spec.workflow;
    let Some(job) = workflow.jobs.get(spec.job_index) else {
        return failed(started, "the job is not in its workflow".into());
    };
    let JobKind::Steps(steps_job) = &job.kind else {
        let message = format!(
            "job `{}` calls a reusable workflow (`uses:`), which the runner does not support yet",
            spec.job.id
        );
        return failed(started, message);
    };
    let log_path = log_path(shared, &spec.job);
    let log = super::log::JobLog::create(&log_path, &spec.job.name, shared.config.log_cap).ok();
    let mut sink = JobSink::new(
        spec.job.clone(),
        shared.masker.clone(),
        log,
        shared.events.clone(),
    );
    if !steps_job.services.is_empty() {
        let message = "`services:` are not supported yet (they come with port forwarding); \
                       the job did not run"
            .to_string();
        sink.note(&format!("error: {message}"));
        sink.finish();
        return failed(started, message);
    }

    let options = SandboxOptions {
        limits: shared.config.limits.clone(),
        network: crate::sandbox::Network::Host,
        keep_alive: true,
        workspace_from: Some(shared.config.workspace.clone()),
        ..SandboxOptions::default()
    };
    shared.track(&spec.sandbox_id);
    let sandbox = match shared.sandboxes.get(&spec.sandbox_id, options).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            let message = format!(
                "failed to create the job's sandbox: {}",
                crate::error_chain(&e)
            );
            sink.note(&format!("error: {message}"));
            sink.finish();
            shared.destroy(&spec.sandbox_id).await;
            return failed(started, message);
        }
    };
    sink.event(Event::JobStarted {
        job: spec.job.clone(),
        sandbox: spec.sandbox_id.clone(),
    })
    .await;

    let base = base_scope(shared, spec);
    let timeout = match &steps_job.timeout_minutes {
        None => Ok(DEFAULT_JOB_TIMEOUT),
        Some(minutes) => minutes_value(minutes, &base),
    };
    let mut run = JobRun {
        shared,
        spec,
        base,
        job: steps_job,
        sandbox,
        sink,
        cancel,
        deadline: Instant::now() + timeout.clone().unwrap_or(DEFAULT_JOB_TIMEOUT),
        timed_out: false,
        env: BTreeMap::new(),
        runtime_env: BTreeMap::new(),
        path: Vec::new(),
        container: steps_job.container.is_some(),
        steps_started: 0,
        python: None,
        summary: Vec::new(),
        debug: shared.debug,
    };
    let mut result = match timeout {
        Ok(_) => run.steps().await,
        Err(message) => {
            let message = run.sink.mask(&message);
            run.sink.note(&format!("error: {message}"));
            (Outcome::Failure, BTreeMap::new(), Some(message))
        }
    };
    if let Some(problem) = run.sink.finish() {
        tracing::warn!(%problem, "job log incomplete");
        result
            .2
            .get_or_insert(format!("the job log is incomplete: {problem}"));
    }
    if !run.summary.is_empty() {
        let path = log_path.with_extension("summary.md");
        if let Err(e) = std::fs::write(&path, &run.summary) {
            tracing::warn!(error = %e, "failed to write the step summary");
        }
    }
    drop(run);
    if !shared.config.keep_sandboxes {
        shared.destroy(&spec.sandbox_id).await;
    }
    JobResult {
        result: result.0,
        outputs: result.1,
        message: result.2,
        duration: started.elapsed(),
    }
}

/// The log file of a job instance: named by its position in the run and its name, since two
/// workflows (or two jobs) may share a name; the log's header keeps the name alone.
pub(crate) fn log_path(shared: &Shared, job: &JobRef) -> std::path::PathBuf {
    shared
        .run_dir
        .job_log_path(&format!("{}-{}", job.index, job.name))
}

fn failed(started: Instant, message: String) -> JobResult {
    JobResult {
        result: Outcome::Failure,
        outputs: BTreeMap::new(),
        message: Some(message),
        duration: started.elapsed(),
    }
}

/// The contexts every expression of the job sees, with `env` as given.
/// The contexts of job-level expressions (`if`, `strategy`, names): `github`, `needs`, `vars`
/// and `inputs`, as GitHub provides them there.
pub(crate) fn job_level_scope(
    shared: &Shared,
    workflow: &Workflow,
    job_id: &str,
    needs: Value,
) -> Scope {
    Scope::new()
        .with_context(
            "github",
            shared
                .facts
                .github_context(&workflow_name(workflow), job_id),
        )
        .with_context("needs", needs)
        .with_context("vars", shared.vars.clone())
        .with_context("inputs", inputs_context(shared, workflow))
}

/// The contexts every expression of the job's steps sees, except `env`, `steps` and `job`
/// (which change as the job goes): built once per job.
fn base_scope(shared: &Shared, spec: &JobSpec) -> Scope {
    job_level_scope(shared, &spec.workflow, &spec.job.id, spec.needs.clone())
        .with_context("secrets", shared.secrets.clone())
        .with_context("matrix", spec.matrix.clone())
        .with_context("strategy", spec.strategy.clone())
        .with_context("runner", shared.facts.runner_context(shared.debug))
        .with_context("env", Value::object(Object::new()))
        .with_context("job", job_context(JobStatus::Success))
        // hashFiles reads the working tree the job's /workspace shows (not what the job has
        // written since: that lives in the sandbox's own layer).
        .with_workspace(shared.config.workspace.clone())
}

/// The `inputs` context: the payload's `inputs` (`--input`) over the literal defaults of the
/// triggering event's declared inputs (`workflow_dispatch`, `workflow_call`).
pub(crate) fn inputs_context(shared: &Shared, workflow: &Workflow) -> Value {
    let mut inputs = Object::new();
    if let Some(trigger) = workflow.trigger(&shared.facts.event_name) {
        for input in &trigger.inputs {
            if let Some(MaybeExpr::Literal(default)) = &input.default {
                inputs.insert(input.name.value.clone(), default.value.clone());
            }
        }
    }
    if let Some(serde_json::Value::Object(given)) = shared.facts.payload.get("inputs") {
        for (k, v) in given {
            inputs.insert(k.clone(), Value::from(v.clone()));
        }
    }
    Value::object(inputs)
}

/// The `job` context: the job's status so far.
fn job_context(status: JobStatus) -> Value {
    let word = match status {
        JobStatus::Success => "success",
        JobStatus::Failure => "failure",
        JobStatus::Cancelled => "cancelled",
    };
    let mut job = Object::new();
    job.insert("status", Value::from(word));
    Value::object(job)
}

/// The workflow's name, or its path when it has none (`GITHUB_WORKFLOW`).
pub(crate) fn workflow_name(workflow: &Workflow) -> String {
    workflow
        .name
        .as_ref()
        .map_or_else(|| workflow.path.clone(), |n| n.value.clone())
}

/// A `timeout-minutes` value as a duration; `Err` says why it is not a positive number.
pub(crate) fn minutes_value(minutes: &MaybeExpr<f64>, scope: &Scope) -> Result<Duration, String> {
    let value = match minutes {
        MaybeExpr::Literal(v) => v.value,
        MaybeExpr::Expr(template) => template
            .parsed
            .evaluate(scope)
            .map_err(|e| format!("timeout-minutes: {e}"))?
            .coerce_to_number(),
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(format!(
            "timeout-minutes must be a positive number, not {value}"
        ));
    }
    Ok(Duration::from_secs_f64((value * 60.0).min(1e9)))
}

impl JobRun<'_> {
    /// The job's status as the status functions see it.
    pub fn status(&self, frame: &Frame) -> JobStatus {
        if self.timed_out || self.cancel.level() >= CancelLevel::Graceful {
            JobStatus::Cancelled
        } else if frame.failed {
            JobStatus::Failure
        } else {
            JobStatus::Success
        }
    }

    /// The scope for an expression of `frame`, with `env` as the `env` context.
    pub fn scope(&self, frame: &Frame, env: &BTreeMap<String, String>) -> Scope {
        let env: Object = env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let status = self.status(frame);
        let mut scope = self
            .base
            .clone()
            .with_context("env", Value::object(env))
            .with_context("steps", Value::object(frame.steps.clone()))
            .with_context("job", job_context(status))
            .with_status(status);
        if frame.depth > 0 {
            scope.insert_context("inputs", frame.inputs.clone());
        }
        if let Some(path) = &frame.action_path {
            if let Some(Value::Object(github)) = scope.context("github").cloned() {
                let mut github = (*github).clone();
                github.insert("action_path", Value::String(path.clone()));
                scope.insert_context("github", Value::object(github));
            }
        }
        scope
    }

    /// Evaluates one level of `env:` on top of `base`.
    pub fn layer_env(
        &self,
        frame: &Frame,
        base: &mut BTreeMap<String, String>,
        env: &Env,
    ) -> Result<(), String> {
        if let Some(expr) = &env.expr {
            let scope = self.scope(frame, base);
            let value = expr
                .parsed
                .evaluate(&scope)
                .map_err(|e| format!("env: {e}"))?;
            match value {
                Value::Object(object) => {
                    for (k, v) in object.iter() {
                        base.insert(k.to_string(), v.coerce_to_string());
                    }
                }
                other => {
                    return Err(format!(
                        "env: the expression gave {}, not an object",
                        other.kind_name()
                    ))
                }
            }
        }
        for var in &env.vars {
            let scope = self.scope(frame, base);
            let value = var
                .value
                .parsed
                .evaluate_to_string(&scope)
                .map_err(|e| format!("env.{}: {e}", var.name.value))?;
            base.insert(var.name.value.clone(), value);
        }
        Ok(())
    }

    /// The environment before a step's own `env:`: the job's, what earlier steps exported,
    /// and what the level adds.
    pub fn env_before_step(&self, frame: &Frame) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        env.extend(self.runtime_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(frame.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The `defaults.run` value of the job, else of the workflow.
    pub fn default_run(
        &self,
        pick: impl Fn(&RunDefaults) -> Option<&TemplateString>,
    ) -> Option<&TemplateString> {
        self.job
            .defaults
            .as_ref()
            .and_then(&pick)
            .or_else(|| self.spec.workflow.defaults.as_ref().and_then(&pick))
    }

    async fn prepare(&mut self) -> Result<(), String> {
        let frame = self.top_frame();
        let mut env: BTreeMap<String, String> = self.shared.config.env.iter().cloned().collect();
        self.layer_env(&frame, &mut env, &self.spec.workflow.env)?;
        self.layer_env(&frame, &mut env, &self.job.env)?;
        if let Some(container) = &self.job.container {
            self.layer_env(&frame, &mut env, &container.env)?;
            let image = match &container.image {
                Some(image) => image
                    .parsed
                    .evaluate_to_string(&self.scope(&frame, &env))
                    .unwrap_or_else(|_| image.text.clone()),
                None => String::new(),
            };
            self.sink
                .warn(&format!(
                    "the container image `{image}` was not used: image support is not there \
                     yet, so the job runs on this host's root filesystem (with the container's \
                     env and `sh` as the default shell)"
                ))
                .await;
        }
        self.note_runs_on(&frame, &env).await;
        self.debug |= env.get("ACTIONS_STEP_DEBUG").is_some_and(|v| v == "true");
        self.env = env;
        for dir in [
            context::RUNNER_TEMP,
            context::RUNNER_TOOL_CACHE,
            context::COMMAND_FILES,
        ] {
            self.sandbox
                .mkdir(dir, true)
                .await
                .map_err(|e| format!("failed to prepare {dir}: {}", crate::error_chain(&e)))?;
        }
        for path in super::step::CommandFiles::new().all() {
            self.sandbox
                .write_file(path, b"", None)
                .await
                .map_err(|e| format!("failed to create {path}: {}", crate::error_chain(&e)))?;
        }
        let payload = serde_json::to_vec_pretty(&self.shared.facts.payload).unwrap_or_default();
        self.sandbox
            .write_file(context::EVENT_PATH, payload, None)
            .await
            .map_err(|e| {
                format!(
                    "failed to write the event payload: {}",
                    crate::error_chain(&e)
                )
            })?;
        Ok(())
    }

    /// Says so when `runs-on` asks for another OS: every job runs on this Linux host.
    async fn note_runs_on(&mut self, frame: &Frame, env: &BTreeMap<String, String>) {
        let scope = self.scope(frame, env);
        let templates: Vec<&TemplateString> = match &self.job.runs_on {
            RunsOn::Labels(labels) | RunsOn::Group { labels, .. } => labels.iter().collect(),
            RunsOn::Expr(template) => vec![template],
        };
        let labels: Vec<String> = templates
            .iter()
            .filter_map(|t| t.parsed.evaluate(&scope).ok())
            .flat_map(|value| match value {
                Value::Array(items) => items.iter().map(Value::coerce_to_string).collect(),
                other => vec![other.coerce_to_string()],
            })
            .collect();
        let foreign = labels.iter().find(|label| {
            let label = label.to_ascii_lowercase();
            label.starts_with("macos") || label.starts_with("windows")
        });
        if let Some(label) = foreign {
            self.sink
                .warn(&format!(
                    "runs-on `{label}`: sandpit runs every job on this Linux host"
                ))
                .await;
        }
    }

    fn top_frame(&self) -> Frame {
        Frame {
            steps: Object::new(),
            inputs: Value::Null,
            action_path: None,
            env: BTreeMap::new(),
            failed: false,
            depth: 0,
        }
    }

    /// Runs the job's steps; returns the result, the outputs and a message.
    async fn steps(&mut self) -> (Outcome, BTreeMap<String, String>, Option<String>) {
        if let Err(message) = self.prepare().await {
            let message = self.sink.mask(&message);
            self.sink.note(&format!("error: {message}"));
            return (Outcome::Failure, BTreeMap::new(), Some(message));
        }
        let mut frame = self.top_frame();
        let steps = &self.job.steps;
        self.run_steps(steps, &mut frame).await;
        let mut outputs = BTreeMap::new();
        let env = self.env_before_step(&frame);
        let scope = self.scope(&frame, &env);
        let mut total = 0usize;
        for (name, template) in &self.job.outputs {
            match template.parsed.evaluate_to_string(&scope) {
                Ok(value) => {
                    // As GitHub does: a value holding a secret is not handed on.
                    if self.sink.masker.mask_str(&value) != value {
                        self.sink
                            .warn(&format!(
                                "output `{}` was not passed on: it may contain a secret",
                                name.value
                            ))
                            .await;
                        continue;
                    }
                    // GitHub caps a job's outputs at 1 MB in all.
                    total += name.value.len() + value.len();
                    if total > MAX_OUTPUTS {
                        self.sink
                            .warn(&format!(
                                "output `{}` was dropped: the job's outputs exceed 1 MiB",
                                name.value
                            ))
                            .await;
                        continue;
                    }
                    outputs.insert(name.value.clone(), value);
                }
                Err(e) => {
                    self.sink
                        .warn(&format!(
                            "output `{}` could not be evaluated: {e}",
                            name.value
                        ))
                        .await;
                }
            }
        }
        let cancelled = self.cancel.level() >= CancelLevel::Graceful;
        if self.timed_out {
            let minutes = self.job.timeout_minutes.is_some();
            let message = if minutes {
                "the job exceeded its timeout-minutes and was stopped".to_string()
            } else {
                "the job ran for 360 minutes (the default timeout-minutes) and was stopped".into()
            };
            return (Outcome::Failure, outputs, Some(message));
        }
        let result = if cancelled {
            Outcome::Cancelled
        } else if frame.failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        (result, outputs, None)
    }

    /// Runs `steps` at the level `frame`; a failure sets `frame.failed`.
    pub(crate) fn run_steps<'s>(
        &'s mut self,
        steps: &'s [Step],
        frame: &'s mut Frame,
    ) -> futures::future::BoxFuture<'s, ()> {
        Box::pin(async move {
            for (position, step) in steps.iter().enumerate() {
                if self.cancel.level() >= CancelLevel::Immediate {
                    return;
                }
                self.run_step(step, position, frame).await;
            }
        })
    }

    async fn run_step(&mut self, step: &Step, position: usize, frame: &mut Frame) {
        let number = self.steps_started;
        self.steps_started += 1;
        let env = self.env_before_step(frame);
        let scope = self.scope(frame, &env);
        let name = match &step.name {
            Some(name) => name
                .parsed
                .evaluate_to_string(&scope)
                .unwrap_or_else(|_| name.text.clone()),
            None => step.display_name(),
        };
        let name = self.sink.mask(&name);
        let id = step
            .id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_else(|| format!("__{position}"));
        let span = tracing::info_span!("step", number, name = %name);
        let run_it = match &step.condition {
            None => Ok(self.status(frame) == JobStatus::Success),
            Some(condition) => condition
                .parsed
                .evaluate(&scope)
                .map_err(|e| format!("if: {e}")),
        };
        let started = Instant::now();
        let result = match run_it {
            Ok(false) => {
                self.sink.note(&format!("skipped: {name}"));
                record_step(
                    frame,
                    &id,
                    Outcome::Skipped,
                    Outcome::Skipped,
                    BTreeMap::new(),
                );
                self.sink
                    .event(Event::StepFinished {
                        job: self.spec.job.clone(),
                        step: number,
                        name,
                        outcome: Outcome::Skipped,
                        conclusion: Outcome::Skipped,
                        duration_ms: 0,
                        message: None,
                    })
                    .await;
                return;
            }
            Err(message) => StepResult::failed(message),
            Ok(true) => {
                self.sink.note(&format!("step: {name}"));
                self.sink
                    .event(Event::StepStarted {
                        job: self.spec.job.clone(),
                        step: number,
                        name: name.clone(),
                    })
                    .await;
                step::run(self, step, number, frame).instrument(span).await
            }
        };
        let continue_on_error = match &step.continue_on_error {
            None => false,
            Some(MaybeExpr::Literal(b)) => b.value,
            Some(MaybeExpr::Expr(t)) => t
                .parsed
                .evaluate(&self.scope(frame, &env))
                .map(|v| v.is_truthy())
                .unwrap_or(false),
        };
        let conclusion = match result.outcome {
            Outcome::Failure if continue_on_error => Outcome::Success,
            other => other,
        };
        if conclusion == Outcome::Failure || conclusion == Outcome::Cancelled {
            frame.failed = true;
        }
        let message = result.message.map(|m| self.sink.mask(&m));
        if let Some(message) = &message {
            self.sink.note(&format!("error: {message}"));
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        self.sink.note(&format!(
            "{}: {name} ({duration_ms} ms)",
            if conclusion == result.outcome {
                result.outcome.as_str().to_string()
            } else {
                format!("{} (continue-on-error)", result.outcome.as_str())
            }
        ));
        record_step(frame, &id, result.outcome, conclusion, result.outputs);
        self.sink
            .event(Event::StepFinished {
                job: self.spec.job.clone(),
                step: number,
                name,
                outcome: result.outcome,
                conclusion,
                duration_ms,
                message,
            })
            .await;
    }
}

/// Adds a step's result to the `steps` context.
fn record_step(
    frame: &mut Frame,
    id: &str,
    outcome: Outcome,
    conclusion: Outcome,
    outputs: BTreeMap<String, String>,
) {
    let mut entry = Object::new();
    entry.insert("outputs", string_object(outputs.iter()));
    entry.insert("outcome", Value::from(outcome.as_str()));
    entry.insert("conclusion", Value::from(conclusion.as_str()));
    frame.steps.insert(id, Value::object(entry));
}
