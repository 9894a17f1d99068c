//! The validated workflow: what [`load`](super::load::load) produces and every later module
//! (plan, runner, CLI) reads. Nothing here is unvalidated: a key that exists has the type its
//! field says, expressions have parsed and passed the context-availability checks of the place
//! they stand in, job ids are well-formed and `needs` names existing jobs without cycles.
//!
//! Everything a message may point at carries a [`Span`] in the workflow file. Strings that may
//! hold `${{ }}` are [`TemplateString`]s (or [`ConditionString`]s for `if:`): the text as
//! written, the parsed template and a map from offsets in the text to file positions.

use std::fmt;
use std::ops::Range;

use super::expr::{Condition, Template, Value};
use super::matrix::MatrixSpec;
pub use super::yaml::{Pos, Span};

/// A value and where it is in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// A value at `span`.
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl Spanned<String> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// A string value from the file that may contain expressions, parsed as `T` ([`Template`] for
/// ordinary values, [`Condition`] for `if:`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprString<T> {
    /// The value as YAML gives it (quotes removed, escapes and block scalars resolved).
    pub text: String,
    /// The parsed value; its expression spans are byte offsets into [`text`](Self::text).
    pub parsed: T,
    /// The whole scalar in the file.
    pub span: Span,
    /// Anchors mapping offsets in `text` to file positions (see [`ExprString::locate`]).
    anchors: Vec<Anchor>,
}

/// A string that may contain `${{ }}`: `run:`, `env` values, `with:` inputs, names, …
pub type TemplateString = ExprString<Template>;

/// An `if:` value (the `${{ }}` are optional).
pub type ConditionString = ExprString<Condition>;

/// Offset `text` in the value starts a run of bytes that stand verbatim in the file from `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub text: usize,
    pub pos: Pos,
}

impl<T> ExprString<T> {
    pub(crate) fn new(text: String, parsed: T, span: Span, anchors: Vec<Anchor>) -> Self {
        ExprString {
            text,
            parsed,
            span,
            anchors,
        }
    }

    /// The same text and positions with another parsed form.
    pub(crate) fn with_parsed<U>(self, parsed: U) -> ExprString<U> {
        ExprString {
            text: self.text,
            parsed,
            span: self.span,
            anchors: self.anchors,
        }
    }

    /// The file position of byte `offset` of [`text`](Self::text).
    ///
    /// Exact wherever the text stands verbatim in the file (plain scalars, quoted scalars away
    /// from escapes, the lines of literal block scalars). Where YAML changed the text (an
    /// escape sequence, a folded line break, a block scalar's indentation) the position is
    /// that of the nearest verbatim byte before it: close, not always exact. Positions are
    /// only mapped for values that hold `${{` and for conditions; in other values every offset
    /// maps to the start of the scalar.
    pub fn position(&self, offset: usize) -> Pos {
        let anchor = match self.anchors.iter().rev().find(|a| a.text <= offset) {
            Some(anchor) => *anchor,
            None => return self.span.start,
        };
        let mut pos = anchor.pos;
        let end = offset.min(self.text.len());
        if let Some(run) = self.text.get(anchor.text..end) {
            // The run is verbatim and on one line (anchors are set at every line break).
            pos.offset += run.len();
            pos.col = pos
                .col
                .saturating_add(u32::try_from(run.chars().count()).unwrap_or(u32::MAX));
        }
        pos
    }

    /// The file span of `range`, a byte range of [`text`](Self::text) such as an expression
    /// error's span.
    pub fn locate(&self, range: Range<usize>) -> Span {
        let start = self.position(range.start);
        let mut end = self.position(range.end.max(range.start));
        if end.offset < start.offset {
            end = start;
        }
        Span { start, end }
    }
}

impl TemplateString {
    /// Whether the value has no `${{ }}` at all.
    pub fn is_literal(&self) -> bool {
        self.parsed.is_literal()
    }

    /// Whether the value is exactly one `${{ }}` (whose value may then be of any type).
    pub fn is_single_expr(&self) -> bool {
        self.parsed.single_expr().is_some()
    }
}

impl<T> fmt::Display for ExprString<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value that is either written out or computed by an expression at run time, such as
/// `timeout-minutes: 30` or `timeout-minutes: ${{ inputs.timeout }}`.
#[derive(Debug, Clone, PartialEq)]
pub enum MaybeExpr<T> {
    /// Written out.
    Literal(Spanned<T>),
    /// A string with `${{ }}`, evaluated at run time and converted to `T` then.
    Expr(TemplateString),
}

impl<T> MaybeExpr<T> {
    /// Where the value is.
    pub fn span(&self) -> Span {
        match self {
            MaybeExpr::Literal(spanned) => spanned.span,
            MaybeExpr::Expr(template) => template.span,
        }
    }

    /// The literal value, if there is no expression.
    pub fn literal(&self) -> Option<&T> {
        match self {
            MaybeExpr::Literal(spanned) => Some(&spanned.value),
            MaybeExpr::Expr(_) => None,
        }
    }
}

/// A workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The path it was loaded from, as given to `load`.
    pub path: String,
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `run-name` (contexts `github`, `inputs`, `vars`).
    pub run_name: Option<TemplateString>,
    /// `on`: the events in the order written.
    pub on: Vec<Trigger>,
    /// Where `on` is.
    pub on_span: Span,
    /// `env`.
    pub env: Env,
    /// `defaults.run`.
    pub defaults: Option<RunDefaults>,
    /// `permissions`.
    pub permissions: Option<Spanned<Permissions>>,
    /// `concurrency`.
    pub concurrency: Option<Concurrency>,
    /// `jobs` in the order written.
    pub jobs: Vec<Job>,
}

impl Workflow {
    /// The job with id `id` (ids are case-sensitive, as in `needs`).
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|job| job.id.value == id)
    }

    /// The trigger for `event`, if the workflow has one.
    pub fn trigger(&self, event: &str) -> Option<&Trigger> {
        self.on.iter().find(|t| t.event.value == event)
    }
}

/// One event of `on` and its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The event name (`push`, `pull_request`, `workflow_dispatch`, …).
    pub event: Spanned<String>,
    /// `types`: the activity types, when given.
    pub types: Option<Vec<Spanned<String>>>,
    /// `branches`, `tags`, `paths` and their `-ignore` forms, `workflows` (for `workflow_run`),
    /// `names`/`versions` (for `image_version`).
    pub filters: Filters,
    /// The crons of `schedule`.
    pub schedule: Vec<Cron>,
    /// The inputs of `workflow_dispatch` or `workflow_call`.
    pub inputs: Vec<Input>,
    /// The outputs of `workflow_call`.
    pub outputs: Vec<CallOutput>,
    /// The secrets of `workflow_call`.
    pub secrets: Vec<CallSecret>,
}

/// Filters of an event; `None` where the filter is not given (which differs from an empty
/// list: `branches: []` matches nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// `branches`.
    pub branches: Option<Vec<Spanned<String>>>,
    /// `branches-ignore`.
    pub branches_ignore: Option<Vec<Spanned<String>>>,
    /// `tags`.
    pub tags: Option<Vec<Spanned<String>>>,
    /// `tags-ignore`.
    pub tags_ignore: Option<Vec<Spanned<String>>>,
    /// `paths`.
    pub paths: Option<Vec<Spanned<String>>>,
    /// `paths-ignore`.
    pub paths_ignore: Option<Vec<Spanned<String>>>,
    /// `workflows` (`workflow_run`).
    pub workflows: Option<Vec<Spanned<String>>>,
    /// `names` (`image_version`).
    pub names: Option<Vec<Spanned<String>>>,
    /// `versions` (`image_version`).
    pub versions: Option<Vec<Spanned<String>>>,
}

/// One entry of `schedule`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    /// The five-field POSIX cron expression.
    pub cron: Spanned<String>,
    /// `timezone`, an IANA name (UTC when absent).
    pub timezone: Option<Spanned<String>>,
}

/// An input of `workflow_dispatch` or `workflow_call`.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The input id.
    pub name: Spanned<String>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `required` (false when absent).
    pub required: bool,
    /// `type` (`string` when absent, which only `workflow_dispatch` allows).
    pub kind: InputType,
    /// `default`: a literal, or for `workflow_call` an expression (contexts `github`,
    /// `inputs`, `vars`).
    pub default: Option<MaybeExpr<Value>>,
}

/// The type of an input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputType {
    /// `string`.
    String,
    /// `boolean`.
    Boolean,
    /// `number`.
    Number,
    /// `choice` with its `options` (`workflow_dispatch` only).
    Choice(Vec<Spanned<String>>),
    /// `environment` (`workflow_dispatch` only).
    Environment,
}

/// An output of `workflow_call`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// The output id.
    pub name: Spanned<String>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `value` (contexts `github`, `jobs`, `vars`, `inputs`).
    pub value: TemplateString,
}

/// A secret of `workflow_call`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSecret {
    /// The secret id.
    pub name: Spanned<String>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `required` (false when absent).
    pub required: bool,
}

/// An `env` map: its variables in order, or, where expressions are allowed, one expression
/// whose value (an object) gives them at run time (`env: ${{ matrix.env }}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env {
    /// The variables written out.
    pub vars: Vec<EnvVar>,
    /// The expression, when `env` is one.
    pub expr: Option<TemplateString>,
}

impl Env {
    /// The value of variable `name`, if written out.
    pub fn get(&self, name: &str) -> Option<&TemplateString> {
        self.vars
            .iter()
            .find(|var| var.name.value == name)
            .map(|var| &var.value)
    }
}

/// One variable of an `env` map. Numbers and booleans are converted to strings as GitHub
/// converts them (`3.10` is `3.1`).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    /// The variable name.
    pub name: Spanned<String>,
    /// The value.
    pub value: TemplateString,
}

/// `defaults.run` of the workflow or a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDefaults {
    /// `shell` (expressions only at job level).
    pub shell: Option<TemplateString>,
    /// `working-directory` (expressions only at job level).
    pub working_directory: Option<TemplateString>,
}

/// `permissions` of the workflow or a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Permissions {
    /// `read-all`.
    ReadAll,
    /// `write-all`.
    WriteAll,
    /// A map of scopes; scopes not listed get no access.
    Scopes(Vec<(Spanned<String>, Spanned<Access>)>),
}

/// The access a permission scope grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `none`.
    None,
}

/// `concurrency` of the workflow or a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    /// `group` (or the whole value when it is a string).
    pub group: TemplateString,
    /// `cancel-in-progress`.
    pub cancel_in_progress: Option<MaybeExpr<bool>>,
    /// `queue`: `single` or `max`.
    pub queue: Option<Spanned<String>>,
}

/// A job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job id (the key under `jobs`).
    pub id: Spanned<String>,
    /// The job's mapping.
    pub span: Span,
    /// `name`.
    pub name: Option<TemplateString>,
    /// `needs`, in the order written.
    pub needs: Vec<Spanned<String>>,
    /// `if`.
    pub condition: Option<ConditionString>,
    /// `strategy`.
    pub strategy: Option<Strategy>,
    /// `permissions`.
    pub permissions: Option<Spanned<Permissions>>,
    /// `concurrency`.
    pub concurrency: Option<Concurrency>,
    /// Whether the job runs steps on a runner or calls a reusable workflow.
    pub kind: JobKind,
}

impl Job {
    /// The job's steps (none for a reusable-workflow call).
    pub fn steps(&self) -> &[Step] {
        match &self.kind {
            JobKind::Steps(job) => &job.steps,
            JobKind::Call(_) => &[],
        }
    }

    /// The matrix, if the job has one.
    pub fn matrix(&self) -> Option<&Matrix> {
        self.strategy.as_ref()?.matrix.as_ref()
    }
}

/// What a job does.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// Runs steps on a runner.
    Steps(Box<StepsJob>),
    /// Calls a reusable workflow (`jobs.<id>.uses`); parsed and reported, not run yet.
    Call(Box<WorkflowCall>),
}

/// The parts of a job that runs steps.
#[derive(Debug, Clone, PartialEq)]
pub struct StepsJob {
    /// `runs-on`.
    pub runs_on: RunsOn,
    /// `environment`.
    pub environment: Option<Environment>,
    /// `env`.
    pub env: Env,
    /// `defaults.run`.
    pub defaults: Option<RunDefaults>,
    /// `outputs`.
    pub outputs: Vec<(Spanned<String>, TemplateString)>,
    /// `timeout-minutes`.
    pub timeout_minutes: Option<MaybeExpr<f64>>,
    /// `cancel-timeout-minutes`.
    pub cancel_timeout_minutes: Option<MaybeExpr<f64>>,
    /// `continue-on-error`.
    pub continue_on_error: Option<MaybeExpr<bool>>,
    /// `container`.
    pub container: Option<Container>,
    /// `services`, in the order written.
    pub services: Vec<Service>,
    /// `snapshot` (custom runner images).
    pub snapshot: Option<Snapshot>,
    /// `steps`; never empty.
    pub steps: Vec<Step>,
}

/// `runs-on`.
#[derive(Debug, Clone, PartialEq)]
pub enum RunsOn {
    /// A label or a list of labels (a runner must have all of them).
    Labels(Vec<TemplateString>),
    /// `{group, labels}`.
    Group {
        /// `group`.
        group: Option<TemplateString>,
        /// `labels`.
        labels: Vec<TemplateString>,
    },
    /// A single `${{ }}` whose value (a label, a list or a `{group, labels}` object) is
    /// known only when the job is ready.
    Expr(TemplateString),
}

/// `environment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// `name` (or the whole value when it is a string).
    pub name: TemplateString,
    /// `url`.
    pub url: Option<TemplateString>,
    /// `deployment`: whether a deployment record is created (true when absent).
    pub deployment: Option<MaybeExpr<bool>>,
}

/// `container`, or one of `services`.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// `image` (or the whole value when it is a string). An empty image means no container.
    pub image: Option<TemplateString>,
    /// `credentials`.
    pub credentials: Option<Credentials>,
    /// `env`.
    pub env: Env,
    /// `ports`.
    pub ports: Vec<TemplateString>,
    /// `volumes`.
    pub volumes: Vec<TemplateString>,
    /// `options`.
    pub options: Option<TemplateString>,
    /// `entrypoint` (services only).
    pub entrypoint: Option<TemplateString>,
    /// `command` (services only).
    pub command: Option<TemplateString>,
    /// The whole value.
    pub span: Span,
}

/// Registry credentials of a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// `username`.
    pub username: Option<TemplateString>,
    /// `password`.
    pub password: Option<TemplateString>,
}

/// One entry of `services`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The service id (also its host name).
    pub id: Spanned<String>,
    /// The container.
    pub container: Container,
}

/// `snapshot`: take a custom image of the runner after the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `image-name` (or the whole value when it is a string).
    pub image_name: Spanned<String>,
    /// `version`.
    pub version: Option<Spanned<String>>,
    /// `if`.
    pub condition: Option<ConditionString>,
}

/// `strategy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// `matrix`.
    pub matrix: Option<Matrix>,
    /// `fail-fast` (true when absent).
    pub fail_fast: Option<MaybeExpr<bool>>,
    /// `max-parallel`.
    pub max_parallel: Option<MaybeExpr<f64>>,
    /// The whole value.
    pub span: Span,
}

/// `strategy.matrix`.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    /// Written out: expand with [`matrix::expand`](super::matrix::expand). String values may
    /// still hold `${{ }}` (GitHub evaluates them per job, with contexts `github`, `needs`,
    /// `vars`, `inputs`); they do not change the combinations.
    Static(Spanned<MatrixSpec>),
    /// Known only when the job is ready: the whole matrix (or the whole `strategy`), an axis,
    /// `include`, `exclude` or one of their entries is an expression. `value` is the matrix as
    /// written, with each expression left as its string; evaluate those, then build and
    /// expand the [`MatrixSpec`].
    Dynamic {
        /// The matrix as written (a string for `matrix: ${{ … }}`, else an object).
        value: Value,
        /// The expressions in it, in the order written.
        expressions: Vec<TemplateString>,
        /// The whole value.
        span: Span,
    },
}

/// A reusable-workflow call (`jobs.<id>.uses`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowCall {
    /// `uses`: `./.github/workflows/x.yml` or `owner/repo/.github/workflows/x.yml@ref`.
    pub uses: Spanned<String>,
    /// `with`: inputs of the called workflow.
    pub with: Vec<(Spanned<String>, MaybeExpr<Value>)>,
    /// `secrets`.
    pub secrets: Option<CallSecrets>,
}

/// `secrets` of a reusable-workflow call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallSecrets {
    /// `inherit`: every secret of the caller.
    Inherit(Span),
    /// Named secrets.
    Map(Vec<(Spanned<String>, TemplateString)>),
}

/// A step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's mapping.
    pub span: Span,
    /// `id`.
    pub id: Option<Spanned<String>>,
    /// `name`.
    pub name: Option<TemplateString>,
    /// `if`.
    pub condition: Option<ConditionString>,
    /// What the step does.
    pub action: StepAction,
    /// `env`.
    pub env: Env,
    /// `continue-on-error`.
    pub continue_on_error: Option<MaybeExpr<bool>>,
    /// `timeout-minutes`.
    pub timeout_minutes: Option<MaybeExpr<f64>>,
    /// `background`: run without waiting for it.
    pub background: Option<Spanned<bool>>,
}

impl Step {
    /// What the step runs, for messages and plans: its name, else its `run` or `uses`.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.text.clone();
        }
        match &self.action {
            StepAction::Run { run, .. } => {
                format!("Run {}", run.text.lines().next().unwrap_or_default())
            }
            StepAction::Uses { uses, .. } => format!("Run {}", uses.value),
            StepAction::Wait(ids) => {
                let ids: Vec<&str> = ids.iter().map(Spanned::as_str).collect();
                format!("Wait for {}", ids.join(", "))
            }
            StepAction::WaitAll => "Wait for all background steps".to_owned(),
            StepAction::Cancel(id) => format!("Cancel {}", id.value),
            StepAction::Parallel(steps) => format!("Run {} steps in parallel", steps.len()),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// `run`.
    Run {
        /// The script.
        run: TemplateString,
        /// `shell`.
        shell: Option<Spanned<String>>,
        /// `working-directory`.
        working_directory: Option<TemplateString>,
    },
    /// `uses`.
    Uses {
        /// The action reference.
        uses: Spanned<ActionRef>,
        /// `with`.
        with: Vec<(Spanned<String>, TemplateString)>,
    },
    /// `wait`: block until these background steps finish.
    Wait(Vec<Spanned<String>>),
    /// `wait-all`: block until every background step finishes.
    WaitAll,
    /// `cancel`: stop this background step.
    Cancel(Spanned<String>),
    /// `parallel`: run these steps together and wait for all of them.
    Parallel(Vec<Step>),
}

/// The action a step `uses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRef {
    /// `./path`: a directory of the checked-out workspace.
    Local(String),
    /// `$/path`: a directory of the workflow's own repository at the running commit.
    SelfRepo(String),
    /// `docker://image`.
    Docker(String),
    /// `owner/repo[/path]@ref`.
    Remote {
        /// The owner.
        owner: String,
        /// The repository.
        repo: String,
        /// The directory within the repository (empty for the root).
        path: String,
        /// The branch, tag or commit.
        git_ref: String,
    },
}

/// The remote actions sandpit provides itself (any version).
pub const BUILTIN_ACTIONS: &[&str] = &[
    "actions/checkout",
    "actions/cache",
    "actions/upload-artifact",
    "actions/download-artifact",
];

impl ActionRef {
    /// Reads a `uses:` value; `None` when it has none of the accepted forms.
    pub fn parse(uses: &str) -> Option<ActionRef> {
        if let Some(image) = uses.strip_prefix("docker://") {
            return (!image.is_empty()).then(|| ActionRef::Docker(image.to_owned()));
        }
        if uses.starts_with("./") || uses == "." {
            return Some(ActionRef::Local(uses.to_owned()));
        }
        if let Some(path) = uses.strip_prefix("$/") {
            return (!path.contains('@')).then(|| ActionRef::SelfRepo(path.to_owned()));
        }
        let (location, git_ref) = uses.rsplit_once('@')?;
        let mut parts = location.splitn(3, '/');
        let owner = parts.next().filter(|s| !s.is_empty())?;
        let repo = parts.next().filter(|s| !s.is_empty())?;
        let path = parts.next().unwrap_or_default();
        if git_ref.is_empty() || path.ends_with('/') {
            return None;
        }
        Some(ActionRef::Remote {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            path: path.to_owned(),
            git_ref: git_ref.to_owned(),
        })
    }

    /// Whether sandpit runs this action itself: local actions and the [`BUILTIN_ACTIONS`].
    pub fn runs_here(&self) -> bool {
        match self {
            ActionRef::Local(_) | ActionRef::SelfRepo(_) => true,
            ActionRef::Docker(_) => false,
            ActionRef::Remote {
                owner, repo, path, ..
            } => {
                path.is_empty()
                    && BUILTIN_ACTIONS.iter().any(|builtin| {
                        builtin.split_once('/').is_some_and(|(o, r)| {
                            o.eq_ignore_ascii_case(owner) && r.eq_ignore_ascii_case(repo)
                        })
                    })
            }
        }
    }
}

impl fmt::Display for ActionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionRef::Local(path) => f.write_str(path),
            ActionRef::SelfRepo(path) => write!(f, "$/{path}"),
            ActionRef::Docker(image) => write!(f, "docker://{image}"),
            ActionRef::Remote {
                owner,
                repo,
                path,
                git_ref,
            } => {
                write!(f, "{owner}/{repo}")?;
                if !path.is_empty() {
                    write!(f, "/{path}")?;
                }
                write!(f, "@{git_ref}")
            }
        }
    }
}
