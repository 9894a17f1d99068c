//! The order of a run: jobs start when everything they need has finished, up to `--jobs` at
//! once and `max-parallel` per matrix; `if:` decides over the whole dependency chain;
//! `fail-fast` cancels the rest of a matrix; dynamic matrices expand when their job is ready.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::cancel::{Cancel, CancelLevel};
use super::event::{Event, JobRef, Outcome};
use super::job::{self, JobResult, JobSpec};
use super::Shared;
use crate::workflow::expr::{JobStatus, Object, Scope, Value};
use crate::workflow::matrix::{self, Combination};
use crate::workflow::model::{Job, JobKind, Matrix, MaybeExpr, Workflow};
use crate::workflow::plan::{Plan, PlannedJob};

/// One job of one workflow and its instances.
struct Group {
    workflow: Arc<Workflow>,
    job_index: usize,
    id: String,
    /// Indexes of the groups it needs directly.
    needs: Vec<usize>,
    /// Indexes of every group it depends on, directly or not.
    ancestors: BTreeSet<usize>,
    /// Instances planned statically (one, with `dynamic`, when the matrix is dynamic).
    planned: Vec<PlannedJob>,
    state: State,
    /// Instances waiting for a slot.
    queue: VecDeque<JobSpec>,
    running: usize,
    max_parallel: usize,
    fail_fast: bool,
    cancel: Cancel,
    results: Vec<Outcome>,
    outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done(Outcome),
}

/// What finished, reported by a job task.
struct Finished {
    group: usize,
    job: JobRef,
    continue_on_error: bool,
    result: JobResult,
}

/// Runs every group to its end; returns each instance's result in the order they ended.
pub(crate) async fn run(
    shared: Arc<Shared>,
    workflows: Vec<(Arc<Workflow>, Plan)>,
    cancel: Cancel,
) -> Vec<(JobRef, Outcome)> {
    let mut groups = build_groups(&workflows, &cancel);
    let slots = Arc::new(Semaphore::new(shared.config.max_jobs.max(1)));
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut task_jobs: BTreeMap<tokio::task::Id, (usize, JobRef, String)> = BTreeMap::new();
    let mut finished: Vec<(JobRef, Outcome)> = Vec::new();
    let mut next_index = 0usize;
    loop {
        // Groups whose needs have all finished decide now.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for g in 0..groups.len() {
                if groups[g].state != State::Waiting {
                    continue;
                }
                if !groups[g]
                    .needs
                    .iter()
                    .all(|&n| matches!(groups[n].state, State::Done(_)))
                {
                    continue;
                }
                progressed = true;
                let decided = decide(&shared, &groups, g, &cancel, &mut next_index);
                match decided {
                    Decision::Run {
                        specs,
                        fail_fast,
                        max_parallel,
                    } => {
                        groups[g].fail_fast = fail_fast;
                        groups[g].max_parallel = max_parallel;
                        groups[g].queue = specs.into();
                        groups[g].state = State::Running;
                        if groups[g].queue.is_empty() {
                            groups[g].state = State::Done(Outcome::Success);
                        }
                    }
                    Decision::Skip {
                        outcome,
                        jobs,
                        message,
                    } => {
                        for job in jobs {
                            shared
                                .send(Event::JobFinished {
                                    job: job.clone(),
                                    result: outcome,
                                    duration_ms: 0,
                                    outputs: BTreeMap::new(),
                                    message: message.clone(),
                                    log: None,
                                })
                                .await;
                            finished.push((job, outcome));
                        }
                        groups[g].state = State::Done(outcome);
                    }
                }
            }
        }
        // Start what may start, in order: a slot is taken before the task exists.
        'start: for (g, group) in groups.iter_mut().enumerate() {
            if group.state != State::Running {
                continue;
            }
            while group.running < group.max_parallel && !group.queue.is_empty() {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break 'start;
                };
                let Some(spec) = group.queue.pop_front() else {
                    break;
                };
                group.running += 1;
                let shared = shared.clone();
                let cancel = group.cancel.clone();
                let job_ref = spec.job.clone();
                let sandbox = spec.sandbox_id.clone();
                let handle = tasks.spawn(async move {
                    let _slot = slot;
                    let continue_on_error = continue_on_error(&shared, &spec);
                    let result = if cancel.level() >= CancelLevel::Graceful
                        && !runs_when_cancelled(&shared, &spec)
                    {
                        JobResult {
                            result: Outcome::Cancelled,
                            outputs: BTreeMap::new(),
                            message: Some("the job was cancelled before it started".into()),
                            duration: Duration::ZERO,
                        }
                    } else {
                        job::run(&shared, &spec, cancel).await
                    };
                    Finished {
                        group: g,
                        job: spec.job,
                        continue_on_error,
                        result,
                    }
                });
                task_jobs.insert(handle.id(), (g, job_ref, sandbox));
            }
        }
        if tasks.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => joined,
            _ = cancel.reached(CancelLevel::Immediate) => {
                tasks.abort_all();
                while let Some(joined) = tasks.join_next_with_id().await {
                    let id = match &joined { Ok((id, _)) => *id, Err(e) => e.id() };
                    if let Some((_, job, sandbox)) = task_jobs.remove(&id) {
                        shared.destroy(&sandbox).await;
                        if let Ok((_, done)) = joined {
                            report(&shared, &done.job, &done.result, false).await;
                            finished.push((done.job, done.result.result));
                        } else {
                            let result = JobResult {
                                result: Outcome::Cancelled,
                                outputs: BTreeMap::new(),
                                message: Some("killed: the run was cancelled at once".into()),
                                duration: Duration::ZERO,
                            };
                            report(&shared, &job, &result, false).await;
                            finished.push((job, Outcome::Cancelled));
                        }
                    }
                }
                break;
            }
        };
        let Some(joined) = joined else { continue };
        let done = match joined {
            Ok((id, done)) => {
                task_jobs.remove(&id);
                done
            }
            Err(e) => {
                let Some((group, job, sandbox)) = task_jobs.remove(&e.id()) else {
                    continue;
                };
                shared.destroy(&sandbox).await;
                let message = if e.is_panic() {
                    "internal error: the job's task panicked (a bug in sandpit)"
                } else {
                    "the job's task was stopped"
                };
                Finished {
                    group,
                    job,
                    continue_on_error: false,
                    result: JobResult {
                        result: Outcome::Failure,
                        outputs: BTreeMap::new(),
                        message: Some(message.into()),
                        duration: Duration::ZERO,
                    },
                }
            }
        };
        let mut done = done;
        if done.result.result == Outcome::Cancelled
            && done.result.message.is_none()
            && cancel.level() == CancelLevel::None
        {
            done.result.message =
                Some("cancelled by fail-fast: another instance of the matrix failed".into());
        }
        report(&shared, &done.job, &done.result, done.continue_on_error).await;
        let effective = match done.result.result {
            Outcome::Failure if done.continue_on_error => Outcome::Success,
            other => other,
        };
        finished.push((done.job.clone(), effective));
        let group = &mut groups[done.group];
        group.running -= 1;
        group.results.push(effective);
        for (k, v) in done.result.outputs {
            if !v.is_empty() || !group.outputs.contains_key(&k) {
                group.outputs.insert(k, v);
            }
        }
        if effective == Outcome::Failure && group.fail_fast {
            group.cancel.raise(CancelLevel::Graceful);
        }
        if group.running == 0 && group.queue.is_empty() {
            group.state = State::Done(combine(&group.results));
        }
    }
    // What an immediate cancel left queued never started.
    for group in &mut groups {
        for spec in std::mem::take(&mut group.queue) {
            let result = JobResult {
                result: Outcome::Cancelled,
                outputs: BTreeMap::new(),
                message: Some("the job was cancelled before it started".into()),
                duration: Duration::ZERO,
            };
            report(&shared, &spec.job, &result, false).await;
            finished.push((spec.job, Outcome::Cancelled));
        }
    }
    // Whatever a cancel left waiting never ran.
    for group in &groups {
        if group.state == State::Waiting {
            for planned in &group.planned {
                let job = JobRef {
                    workflow: group.workflow.path.clone(),
                    id: group.id.clone(),
                    name: planned.name.clone(),
                    index: usize::MAX,
                };
                shared
                    .send(Event::JobFinished {
                        job: job.clone(),
                        result: Outcome::Cancelled,
                        duration_ms: 0,
                        outputs: BTreeMap::new(),
                        message: Some("the job was cancelled before it started".into()),
                        log: None,
                    })
                    .await;
                finished.push((job, Outcome::Cancelled));
            }
        }
    }
    finished
}

async fn report(shared: &Shared, job: &JobRef, result: &JobResult, continue_on_error: bool) {
    let mut message = result.message.clone();
    if continue_on_error && result.result == Outcome::Failure {
        let note = "continue-on-error: the run goes on as if it succeeded";
        message = Some(match message {
            Some(m) => format!("{m} ({note})"),
            None => note.to_string(),
        });
    }
    let log = job::log_path(shared, job);
    shared
        .send(Event::JobFinished {
            job: job.clone(),
            result: result.result,
            duration_ms: result.duration.as_millis() as u64,
            outputs: result.outputs.clone(),
            message,
            log: log.exists().then(|| log.display().to_string()),
        })
        .await;
}

/// A group's result from its instances'.
fn combine(results: &[Outcome]) -> Outcome {
    if results.contains(&Outcome::Failure) {
        Outcome::Failure
    } else if results.contains(&Outcome::Cancelled) {
        Outcome::Cancelled
    } else if !results.is_empty() && results.iter().all(|r| *r == Outcome::Skipped) {
        Outcome::Skipped
    } else {
        Outcome::Success
    }
}

fn build_groups(workflows: &[(Arc<Workflow>, Plan)], cancel: &Cancel) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (workflow, plan) in workflows {
        let first = groups.len();
        let mut ids: Vec<String> = Vec::new();
        for planned in &plan.jobs {
            if !ids.contains(&planned.id) {
                ids.push(planned.id.clone());
            }
        }
        for id in &ids {
            let Some(job_index) = workflow.jobs.iter().position(|j| &j.id.value == id) else {
                continue;
            };
            groups.push(Group {
                workflow: workflow.clone(),
                job_index,
                id: id.clone(),
                needs: Vec::new(),
                ancestors: BTreeSet::new(),
                planned: plan.jobs.iter().filter(|p| &p.id == id).cloned().collect(),
                state: State::Waiting,
                queue: VecDeque::new(),
                running: 0,
                // Decided when the job is ready (they may read `needs`, `github`, `vars`).
                max_parallel: usize::MAX,
                fail_fast: true,
                cancel: cancel.child(),
                results: Vec::new(),
                outputs: BTreeMap::new(),
            });
        }
        for g in first..groups.len() {
            let job = &groups[g].workflow.jobs[groups[g].job_index];
            let needs: Vec<usize> = job
                .needs
                .iter()
                .filter_map(|n| (first..groups.len()).find(|&i| groups[i].id == n.value))
                .collect();
            groups[g].needs = needs;
        }
    }
    // Ancestors, by repeated relaxation (the needs graph is acyclic and small).
    let count = groups.len();
    let mut changed = true;
    while changed {
        changed = false;
        for g in 0..count {
            let mut all: BTreeSet<usize> = groups[g].ancestors.clone();
            for &n in &groups[g].needs {
                all.insert(n);
                all.extend(groups[n].ancestors.iter().copied());
            }
            if all.len() != groups[g].ancestors.len() {
                groups[g].ancestors = all;
                changed = true;
            }
        }
    }
    groups
}

fn bool_of(value: &MaybeExpr<bool>, scope: &Scope) -> Option<bool> {
    match value {
        MaybeExpr::Literal(b) => Some(b.value),
        MaybeExpr::Expr(t) => t.parsed.evaluate(scope).ok().map(|v| v.is_truthy()),
    }
}

fn number_of(value: &MaybeExpr<f64>, scope: &Scope) -> Option<f64> {
    match value {
        MaybeExpr::Literal(n) => Some(n.value),
        MaybeExpr::Expr(t) => t.parsed.evaluate(scope).ok().map(|v| v.coerce_to_number()),
    }
}

enum Decision {
    Run {
        specs: Vec<JobSpec>,
        fail_fast: bool,
        max_parallel: usize,
    },
    Skip {
        outcome: Outcome,
        jobs: Vec<JobRef>,
        message: Option<String>,
    },
}

/// The `needs` context of a group.
fn needs_context(groups: &[Group], g: usize) -> Value {
    let mut needs = Object::new();
    for &n in &groups[g].needs {
        let mut entry = Object::new();
        let result = match groups[n].state {
            State::Done(outcome) => outcome.as_str(),
            _ => "",
        };
        entry.insert("result", Value::from(result));
        entry.insert(
            "outputs",
            super::context::string_object(groups[n].outputs.iter()),
        );
        needs.insert(groups[n].id.clone(), Value::object(entry));
    }
    Value::object(needs)
}

/// The scope of job-level expressions (`if`, matrix, names).
fn job_scope(shared: &Shared, group: &Group, needs: Value, status: JobStatus) -> Scope {
    job::job_level_scope(shared, &group.workflow, &group.id, needs).with_status(status)
}

fn decide(
    shared: &Shared,
    groups: &[Group],
    g: usize,
    cancel: &Cancel,
    next_index: &mut usize,
) -> Decision {
    let group = &groups[g];
    let job: &Job = &group.workflow.jobs[group.job_index];
    let cancelled = cancel.level() >= CancelLevel::Graceful;
    let ancestor_failed = group.ancestors.iter().any(|&a| {
        matches!(
            groups[a].state,
            State::Done(Outcome::Failure) | State::Done(Outcome::Cancelled)
        )
    });
    let need_skipped = group
        .needs
        .iter()
        .any(|&n| groups[n].state == State::Done(Outcome::Skipped));
    let status = if cancelled {
        JobStatus::Cancelled
    } else if ancestor_failed {
        JobStatus::Failure
    } else {
        JobStatus::Success
    };
    let needs = needs_context(groups, g);
    let scope = job_scope(shared, group, needs.clone(), status);
    let planned_refs = |next_index: &mut usize| -> Vec<JobRef> {
        group
            .planned
            .iter()
            .map(|p| {
                *next_index += 1;
                JobRef {
                    workflow: group.workflow.path.clone(),
                    id: group.id.clone(),
                    name: p.name.clone(),
                    index: *next_index - 1,
                }
            })
            .collect()
    };
    let runs = match &job.condition {
        None => Ok(status == JobStatus::Success && !need_skipped),
        Some(condition) => {
            let implicit = condition.parsed.implicit_success();
            condition
                .parsed
                .evaluate(&scope)
                .map(|run| run && !(implicit && need_skipped))
                .map_err(|e| format!("if: {e}"))
        }
    };
    match runs {
        Ok(true) => {}
        Ok(false) => {
            return Decision::Skip {
                outcome: if cancelled {
                    Outcome::Cancelled
                } else {
                    Outcome::Skipped
                },
                jobs: planned_refs(next_index),
                message: None,
            }
        }
        Err(message) => {
            return Decision::Skip {
                outcome: Outcome::Failure,
                jobs: planned_refs(next_index),
                message: Some(message),
            }
        }
    }
    // The instances: planned ones, or the dynamic matrix expanded now.
    let instances: Vec<(String, Option<Combination>)> = match job.matrix() {
        Some(Matrix::Dynamic { value, span, .. }) => {
            // `strategy: ${{ … }}` gives the whole strategy; its `matrix` is the matrix.
            let whole_strategy = job.strategy.as_ref().is_some_and(|s| s.span == *span);
            let expanded = matrix::evaluate_dynamic(value, &scope)
                .map(|value| match (&value, whole_strategy) {
                    (Value::Object(strategy), true) => {
                        strategy.get("matrix").cloned().unwrap_or_default()
                    }
                    _ => value,
                })
                .and_then(|value| matrix::spec_from_value(&value))
                .and_then(|spec| matrix::expand(&spec));
            match expanded {
                Ok(combinations) => {
                    let combinations = if shared.config.matrix_filter.is_empty() {
                        combinations
                    } else {
                        matrix::filter(&combinations, &shared.config.matrix_filter)
                    };
                    combinations
                        .into_iter()
                        .map(|c| (instance_name(job, &c, &scope), Some(c)))
                        .collect()
                }
                Err(e) => {
                    return Decision::Skip {
                        outcome: Outcome::Failure,
                        jobs: planned_refs(next_index),
                        message: Some(format!("the matrix could not be built: {e}")),
                    }
                }
            }
        }
        _ => group
            .planned
            .iter()
            .map(|p| (p.name.clone(), p.matrix.clone()))
            .collect(),
    };
    let total = instances.len();
    let (fail_fast, max_parallel) = match &job.strategy {
        Some(strategy) => (
            strategy
                .fail_fast
                .as_ref()
                .is_none_or(|f| bool_of(f, &scope).unwrap_or(true)),
            strategy
                .max_parallel
                .as_ref()
                .and_then(|m| number_of(m, &scope))
                .filter(|m| *m >= 1.0)
                .map_or(usize::MAX, |m| m as usize),
        ),
        None => (true, usize::MAX),
    };
    let specs = instances
        .into_iter()
        .enumerate()
        .map(|(i, (name, combination))| {
            let index = *next_index;
            *next_index += 1;
            let mut strategy = Object::new();
            strategy.insert("fail-fast", Value::Bool(fail_fast));
            strategy.insert("job-index", Value::Number(i as f64));
            strategy.insert("job-total", Value::Number(total as f64));
            strategy.insert(
                "max-parallel",
                Value::Number(max_parallel.min(total) as f64),
            );
            JobSpec {
                workflow: group.workflow.clone(),
                job_index: group.job_index,
                job: JobRef {
                    workflow: group.workflow.path.clone(),
                    id: group.id.clone(),
                    name: evaluate_name(job, &name, combination.as_ref(), &scope),
                    index,
                },
                matrix: combination
                    .as_ref()
                    .map_or(Value::Null, Combination::to_value),
                strategy: Value::object(strategy),
                needs: needs.clone(),
                sandbox_id: format!("run{}-job{}", shared.facts.run_id, index),
            }
        })
        .collect();
    Decision::Run {
        specs,
        fail_fast,
        max_parallel,
    }
}

/// A dynamic instance's name: the job's name with the matrix, as the plan names static ones.
fn instance_name(job: &Job, combination: &Combination, scope: &Scope) -> String {
    match &job.name {
        Some(name) if !name.is_literal() => {
            let scope = scope.clone().with_context("matrix", combination.to_value());
            name.parsed
                .evaluate_to_string(&scope)
                .unwrap_or_else(|_| name.text.clone())
        }
        Some(name) => matrix::instance_name(&name.text, combination),
        None => matrix::instance_name(&job.id.value, combination),
    }
}

/// Names still holding expressions of other contexts than the matrix (`needs`, `github`).
fn evaluate_name(
    job: &Job,
    planned: &str,
    combination: Option<&Combination>,
    scope: &Scope,
) -> String {
    match &job.name {
        Some(name) if planned.contains("${{") && !name.is_literal() => {
            let mut scope = scope.clone();
            if let Some(c) = combination {
                scope.insert_context("matrix", c.to_value());
            }
            name.parsed
                .evaluate_to_string(&scope)
                .unwrap_or_else(|_| planned.to_string())
        }
        _ => planned.to_string(),
    }
}

fn continue_on_error(shared: &Shared, spec: &JobSpec) -> bool {
    let Some(job) = spec.workflow.jobs.get(spec.job_index) else {
        return false;
    };
    let JobKind::Steps(steps) = &job.kind else {
        return false;
    };
    let scope = job::job_level_scope(shared, &spec.workflow, &spec.job.id, spec.needs.clone())
        .with_context("matrix", spec.matrix.clone())
        .with_context("strategy", spec.strategy.clone());
    steps
        .continue_on_error
        .as_ref()
        .and_then(|c| bool_of(c, &scope))
        .unwrap_or(false)
}

/// Whether a job queued when a cancel came still runs: its `if:` holds with the status
/// `cancelled` (as `always()` and `cancelled()` do).
fn runs_when_cancelled(shared: &Shared, spec: &JobSpec) -> bool {
    let Some(condition) = spec
        .workflow
        .jobs
        .get(spec.job_index)
        .and_then(|job| job.condition.as_ref())
    else {
        return false;
    };
    let scope = job::job_level_scope(shared, &spec.workflow, &spec.job.id, spec.needs.clone())
        .with_status(JobStatus::Cancelled);
    condition.parsed.evaluate(&scope).unwrap_or(false)
}
