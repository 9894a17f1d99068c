//! The plan of a validated workflow: which jobs run together (stages), every matrix instance
//! with the name GitHub gives it, and each instance's steps, with what will not run here
//! flagged. Nothing runs; the plan is plain data (`--json` serialises it as it is).
//!
//! - Stages are the topological levels of `needs`: a job without needs is in stage 0, any
//!   other job one stage after the latest job it needs. Jobs of one stage can run together.
//!   Jobs are listed by stage, then in the order the file has them; a job's instances stay
//!   together, in [`matrix::expand`] order.
//! - A static matrix is expanded now; instances are named as GitHub names them
//!   (`test (ubuntu-latest, 18)`, see [`matrix::instance_name`]), or, when the job's `name`
//!   holds an expression, by that name evaluated for the instance (GitHub then adds no
//!   suffix). A matrix known only at run time (`${{ fromJSON(needs.setup.outputs.matrix) }}`)
//!   gives one entry marked [`dynamic`](PlannedJob::dynamic).
//! - Expressions in job and step names are evaluated where they read only `matrix` and
//!   `strategy` (known now); any other expression is shown as written.
//! - Steps get GitHub's default names (`Run <first line of run>`, `Run <uses>`); a step that
//!   `uses` a remote action other than the [`BUILTIN_ACTIONS`](super::model::BUILTIN_ACTIONS) or
//!   a `docker://` image, and a job that calls a reusable workflow, are marked as not running
//!   here.

#[cfg(test)]
mod tests;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::expr::{ExprKind, Object, Scope, Segment, Value};
use super::matrix::{self, Combination};
use super::model::{Job, JobKind, Matrix, Step, StepAction, TemplateString, Workflow};

/// What a workflow will do, without running it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The path the workflow was loaded from.
    pub path: String,
    /// `name`, or the path when there is none (as GitHub's `github.workflow` reads).
    pub name: String,
    /// The events of `on`, in the order written.
    pub events: Vec<String>,
    /// Every job instance, by stage and then in file order.
    pub jobs: Vec<PlannedJob>,
}

/// One job instance: a job without a matrix, one combination of a static matrix, or a job
/// whose matrix is known only at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedJob {
    /// The job id.
    pub id: String,
    /// The instance's name as GitHub shows it.
    pub name: String,
    /// The ids of the jobs it needs, as written.
    pub needs: Vec<String>,
    /// The instance's `matrix` context; `None` without a matrix and for a dynamic one.
    #[serde(serialize_with = "serialize_combination")]
    pub matrix: Option<Combination>,
    /// Whether the matrix is known only at run time (the entry stands for all its instances).
    pub dynamic: bool,
    /// The stage, from 0.
    pub stage: usize,
    /// The job's `if`, as written.
    #[serde(rename = "if")]
    pub condition: Option<String>,
    /// The reusable workflow the job calls (`jobs.<id>.uses`).
    pub uses: Option<String>,
    /// Whether sandpit runs the job (false for a reusable-workflow call).
    pub runs_here: bool,
    /// The steps in order (none for a reusable-workflow call).
    pub steps: Vec<PlannedStep>,
}

/// One step of a job instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    /// `id`, if given.
    pub id: Option<String>,
    /// `name`, or GitHub's default name.
    pub name: String,
    /// The step's `if`, as written.
    #[serde(rename = "if")]
    pub condition: Option<String>,
    /// The action of a `uses` step, as written.
    pub uses: Option<String>,
    /// Whether sandpit runs the step: false for a remote action that is not built in and for
    /// a `docker://` action.
    pub runs_here: bool,
    /// The steps of a `parallel` step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parallel: Vec<PlannedStep>,
}

impl Plan {
    /// How many stages there are.
    pub fn stage_count(&self) -> usize {
        self.jobs.iter().map(|job| job.stage + 1).max().unwrap_or(0)
    }

    /// The instances of stage `stage`, in plan order.
    pub fn stage(&self, stage: usize) -> impl Iterator<Item = &PlannedJob> {
        self.jobs.iter().filter(move |job| job.stage == stage)
    }
}

/// Plans a validated workflow.
pub fn plan(workflow: &Workflow) -> Plan {
    let stages = stages(&workflow.jobs);
    let mut order: Vec<usize> = (0..workflow.jobs.len()).collect();
    // Stable: within a stage, file order.
    order.sort_by_key(|&index| stages[index]);
    let mut jobs = Vec::with_capacity(workflow.jobs.len());
    for index in order {
        plan_job(&workflow.jobs[index], stages[index], &mut jobs);
    }
    Plan {
        path: workflow.path.clone(),
        name: workflow
            .name
            .as_ref()
            .map_or_else(|| workflow.path.clone(), |name| name.value.clone()),
        events: workflow.on.iter().map(|t| t.event.value.clone()).collect(),
        jobs,
    }
}

/// The stage of each job (by index): 0 without needs, else one more than the latest need.
///
/// Kahn's algorithm, so a long chain of needs costs no recursion. The workflow is validated
/// (needs name existing jobs, no cycles); should a cycle or unknown id slip through anyway,
/// unknown ids are ignored and the jobs of a cycle are put after every other stage.
fn stages(jobs: &[Job]) -> Vec<usize> {
    let index: std::collections::HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| (job.id.value.as_str(), i))
        .collect();
    let needs: Vec<Vec<usize>> = jobs
        .iter()
        .map(|job| {
            let mut needs: Vec<usize> = job
                .needs
                .iter()
                .filter_map(|need| index.get(need.value.as_str()).copied())
                .collect();
            needs.sort_unstable();
            needs.dedup();
            needs
        })
        .collect();
    let mut dependents = vec![Vec::new(); jobs.len()];
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    for (job, needs) in needs.iter().enumerate() {
        for &need in needs {
            dependents[need].push(job);
        }
    }
    let mut stage = vec![0usize; jobs.len()];
    let mut done = vec![false; jobs.len()];
    let mut ready: std::collections::VecDeque<usize> =
        (0..jobs.len()).filter(|&job| waiting[job] == 0).collect();
    while let Some(job) = ready.pop_front() {
        done[job] = true;
        for &dependent in &dependents[job] {
            stage[dependent] = stage[dependent].max(stage[job] + 1);
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push_back(dependent);
            }
        }
    }
    let last = stage
        .iter()
        .zip(&done)
        .filter(|(_, done)| **done)
        .map(|(stage, _)| *stage)
        .max()
        .map_or(0, |max| max + 1);
    for (job, done) in done.iter().enumerate() {
        if !done {
            stage[job] = last;
        }
    }
    stage
}

/// Appends the instances of `job`.
fn plan_job(job: &Job, stage: usize, out: &mut Vec<PlannedJob>) {
    // The steps as written, planned once; only steps whose names read expressions are
    // planned again for each instance.
    let steps_as_written: Vec<PlannedStep> = job
        .steps()
        .iter()
        .map(|step| plan_step(step, None))
        .collect();
    let varying: Vec<usize> = job
        .steps()
        .iter()
        .enumerate()
        .filter(|(_, step)| step_varies(step))
        .map(|(index, _)| index)
        .collect();
    let (uses, runs_here) = match &job.kind {
        JobKind::Call(call) => (Some(call.uses.value.clone()), false),
        JobKind::Steps(_) => (None, true),
    };
    let needs: Vec<String> = job.needs.iter().map(|need| need.value.clone()).collect();
    let condition = job.condition.as_ref().map(|c| c.text.clone());
    let instance =
        |name: String, matrix: Option<Combination>, dynamic: bool, scope: Option<&Scope>| {
            let mut steps = steps_as_written.clone();
            if let Some(scope) = scope {
                for &index in &varying {
                    steps[index] = plan_step(&job.steps()[index], Some(scope));
                }
            }
            PlannedJob {
                id: job.id.value.clone(),
                name,
                needs: needs.clone(),
                matrix,
                dynamic,
                stage,
                condition: condition.clone(),
                uses: uses.clone(),
                runs_here,
                steps,
            }
        };
    let name_varies = job.name.as_ref().is_some_and(|name| !name.is_literal());
    // The contexts known now, built only when an expression reads them.
    let mut templates: Vec<&TemplateString> = job.name.iter().collect();
    for &index in &varying {
        collect_templates(&job.steps()[index], &mut templates);
    }
    let reads_matrix = templates.iter().any(|t| reads_context(t, "matrix"));
    let reads_strategy = templates.iter().any(|t| reads_context(t, "strategy"));
    let needs_scope = reads_matrix || reads_strategy;
    let scope_of = |combination: Option<&Combination>, index: usize, total: usize| {
        let mut scope = Scope::new();
        if let (true, Some(combination)) = (reads_matrix, combination) {
            scope.insert_context("matrix", combination.to_value());
        }
        if reads_strategy {
            scope.insert_context("strategy", strategy(job, index, total));
        }
        scope
    };
    match job.matrix() {
        None => {
            let scope = needs_scope.then(|| scope_of(None, 0, 1));
            let name = match (&job.name, &scope) {
                (Some(name), Some(scope)) => substitute(name, scope),
                (Some(name), None) => name.text.clone(),
                (None, _) => job.id.value.clone(),
            };
            out.push(instance(name, None, false, scope.as_ref()));
        }
        Some(Matrix::Dynamic { .. }) => {
            // The matrix is not known yet: names stay as written.
            let name = match &job.name {
                Some(name) => name.text.clone(),
                None => job.id.value.clone(),
            };
            out.push(instance(name, None, true, None));
        }
        Some(Matrix::Static(spec)) => {
            // Validation expanded the matrix already; an error cannot happen here, and would
            // leave the job without instances rather than panic.
            let combinations = matrix::expand(&spec.value).unwrap_or_default();
            let total = combinations.len();
            for (index, combination) in combinations.into_iter().enumerate() {
                let scope = needs_scope.then(|| scope_of(Some(&combination), index, total));
                let name = match (&job.name, &scope) {
                    // GitHub adds no suffix to a name with expressions.
                    (Some(name), Some(scope)) if name_varies => substitute(name, scope),
                    (Some(name), None) if name_varies => name.text.clone(),
                    (Some(name), _) => matrix::instance_name(&name.text, &combination),
                    (None, _) => matrix::instance_name(&job.id.value, &combination),
                };
                out.push(instance(name, Some(combination), false, scope.as_ref()));
            }
        }
    }
}

/// The templates of a step whose values show in the plan: its name, or its `run`.
fn collect_templates<'a>(step: &'a Step, out: &mut Vec<&'a TemplateString>) {
    match (&step.name, &step.action) {
        (Some(name), _) => out.push(name),
        (None, StepAction::Run { run, .. }) => out.push(run),
        (None, StepAction::Parallel(steps)) => {
            steps.iter().for_each(|step| collect_templates(step, out))
        }
        (None, _) => {}
    }
}

/// Whether an expression of `template` reads the context `name`.
fn reads_context(template: &TemplateString, name: &str) -> bool {
    template.parsed.expressions().any(|expr| {
        expr.nodes()
            .iter()
            .any(|node| matches!(&node.kind, ExprKind::Context(c) if c.eq_ignore_ascii_case(name)))
    })
}

/// Whether a step's plan depends on the instance: its name, or the `run` its default name
/// comes from, holds an expression.
fn step_varies(step: &Step) -> bool {
    match (&step.name, &step.action) {
        (Some(name), _) => !name.is_literal(),
        (None, StepAction::Run { run, .. }) => !run.is_literal(),
        (None, StepAction::Parallel(steps)) => steps.iter().any(step_varies),
        (None, _) => false,
    }
}

/// The `strategy` context of instance `index` of `total`.
fn strategy(job: &Job, index: usize, total: usize) -> Value {
    let strategy = job.strategy.as_ref();
    let fail_fast = strategy
        .and_then(|s| s.fail_fast.as_ref())
        .map_or(Value::Bool(true), |value| {
            value.literal().map_or(Value::Null, |b| Value::Bool(*b))
        });
    let max_parallel = strategy
        .and_then(|s| s.max_parallel.as_ref())
        .map_or(Value::Number(total as f64), |value| {
            value.literal().map_or(Value::Null, |n| Value::Number(*n))
        });
    let mut object = Object::new();
    object.insert("fail-fast", fail_fast);
    object.insert("job-index", Value::Number(index as f64));
    object.insert("job-total", Value::Number(total as f64));
    object.insert("max-parallel", max_parallel);
    Value::object(object)
}

/// Plans a step; with `scope`, expressions in its name that read only what the scope holds
/// are evaluated, without it names stay as written.
fn plan_step(step: &Step, scope: Option<&Scope>) -> PlannedStep {
    let text = |template: &TemplateString| match scope {
        Some(scope) => substitute(template, scope),
        None => template.text.clone(),
    };
    let (uses, runs_here) = match &step.action {
        StepAction::Uses { uses, .. } => (Some(uses.value.to_string()), uses.value.runs_here()),
        _ => (None, true),
    };
    let name = match (&step.name, &step.action, &uses) {
        (Some(name), _, _) => text(name),
        (None, StepAction::Uses { .. }, Some(uses)) => format!("Run {uses}"),
        // GitHub shows the script's first line, leading blank lines and indentation skipped.
        (None, StepAction::Run { run, .. }, _) => {
            let first = |script: &str| {
                let line = script.trim_start().lines().next().unwrap_or_default();
                format!("Run {}", line.trim_end())
            };
            match scope {
                Some(scope) if !run.is_literal() => first(&substitute(run, scope)),
                _ => first(&run.text),
            }
        }
        (None, _, _) => step.display_name(),
    };
    let parallel = match &step.action {
        StepAction::Parallel(steps) => steps.iter().map(|step| plan_step(step, scope)).collect(),
        _ => Vec::new(),
    };
    PlannedStep {
        id: step.id.as_ref().map(|id| id.value.clone()),
        name,
        condition: step.condition.as_ref().map(|c| c.text.clone()),
        uses,
        runs_here,
        parallel,
    }
}

/// The contexts a plan knows.
const KNOWN_CONTEXTS: [&str; 2] = ["matrix", "strategy"];

/// Functions whose value depends on the run: the status functions and `hashFiles`.
const RUN_TIME_FUNCTIONS: [&str; 5] = ["success", "failure", "always", "cancelled", "hashFiles"];

/// The template's text with every expression that reads only `matrix` and `strategy`
/// replaced by its value; other expressions (and any that fail) stay as written.
fn substitute(template: &TemplateString, scope: &Scope) -> String {
    if template.is_literal() {
        return template.text.clone();
    }
    let text = &template.text;
    let mut out = String::with_capacity(text.len());
    // Where the text not yet copied starts: a `${{ … }}` runs from there to its `}}`.
    let mut at = 0;
    for segment in template.parsed.segments() {
        match segment {
            Segment::Literal {
                text: literal,
                span,
            } => {
                out.push_str(literal);
                at = span.end;
            }
            Segment::Expr(expr) => {
                let end = text
                    .get(expr.span.end..)
                    .and_then(|rest| rest.find("}}"))
                    .map_or(text.len(), |close| expr.span.end + close + 2);
                let known = expr.nodes().iter().all(|node| match &node.kind {
                    ExprKind::Context(name) => KNOWN_CONTEXTS
                        .iter()
                        .any(|known| name.eq_ignore_ascii_case(known)),
                    ExprKind::Call { name, .. } => !RUN_TIME_FUNCTIONS
                        .iter()
                        .any(|function| name.eq_ignore_ascii_case(function)),
                    _ => true,
                });
                match known.then(|| expr.evaluate(scope)).and_then(Result::ok) {
                    Some(value) => out.push_str(&value.coerce_to_string()),
                    None => out.push_str(text.get(at..end).unwrap_or_default()),
                }
                at = end;
            }
        }
    }
    out
}

fn serialize_combination<S: Serializer>(
    combination: &Option<Combination>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match combination {
        None => serializer.serialize_none(),
        Some(combination) => {
            let mut map = serializer.serialize_map(Some(combination.values.len()))?;
            for (key, value) in &combination.values {
                map.serialize_entry(key, &Json(value))?;
            }
            map.end()
        }
    }
}

/// A value serialised as JSON, object keys in their order: whole numbers without a fraction,
/// NaN and infinities as null.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // 2^53: every whole number up to it is exact as a double.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) if n.fract() == 0.0 && n.abs() <= EXACT => {
                serializer.serialize_i64(*n as i64)
            }
            Value::Number(n) if n.is_finite() => serializer.serialize_f64(*n),
            Value::Number(_) => serializer.serialize_unit(),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            Value::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object.iter() {
                    map.serialize_entry(key, &Json(value))?;
                }
                map.end()
            }
        }
    }
}
