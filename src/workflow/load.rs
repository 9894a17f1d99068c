//! YAML text → validated [`Workflow`] and every problem found on the way.
//!
//! Raw, then validated: [`yaml::parse`] gives the raw tree (every node with its span), and this
//! module reads it against GitHub's workflow schema into the typed [`model`](super::model),
//! which later modules use without checking again. Reading never stops at the first problem:
//! each one becomes a [`Diagnostic`] and reading goes on with the next key, job or step, so a
//! file with five mistakes gets five messages.
//!
//! The rules are GitHub's, from the "Workflow syntax for GitHub Actions" and "Contexts"
//! documentation and the schema GitHub's own parser reads (`workflow-v1.0.json` in
//! `actions/languageservices`):
//!
//! - Keys are checked at every level; an unknown key is an error with the closest known key as
//!   a hint.
//! - Scalars convert as GitHub's template reader converts them: where a string is expected, a
//!   number, boolean or null is taken as its text (`python: 3.10` is `"3.1"`, `runs-on: 1` is
//!   `"1"`); where a number or boolean is expected, only that or an expression will do
//!   (`timeout-minutes: "30"` is an error).
//! - A string holding `${{ }}` is parsed and checked against the place it stands in (`Place`,
//!   one constant per row of GitHub's "Context availability" table, which says which contexts
//!   and special functions each key may use); keys without a row take no expressions at all
//!   (`uses`, `shell`, step `id`, anything under `on` but `workflow_call` input defaults and
//!   output values), as in GitHub's schema. One rule is stricter than GitHub: `matrix` is only
//!   available in jobs that have a `strategy.matrix` (GitHub reads it as empty elsewhere, which
//!   is always a mistake).
//! - Job ids, `needs` (unknown jobs, cycles), `runs-on` and `steps` presence, `run`/`uses`
//!   exclusivity, matrices (via [`matrix::expand`]), permissions, events and their activity
//!   types and filters.
//!
//! Warnings mark what GitHub accepts but sandpit does not run yet: remote actions other than
//! [`BUILTIN_ACTIONS`], `docker://` actions, reusable-workflow calls, `services`, background
//! steps (`background`, `wait`, `wait-all`, `cancel`, `parallel`) and `snapshot`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::diagnostic::{closest, Diagnostic};
use super::expr::{
    format_number, Availability, Condition, ErrorKind, Expr, ExprError, ExprKind, Object, Template,
    Value, KNOWN_CONTEXTS,
};
use super::matrix::{self, MatrixError, MatrixSpec};
use super::model::*;
use super::yaml::{self, Node, NodeKind, Resolved, ScalarStyle};

#[cfg(test)]
mod tests;

/// Loads the workflow in `source` (read from `path`, which is only recorded in the model).
///
/// Returns the model when there is no error (warnings may accompany it) and every diagnostic,
/// errors and warnings, in file order.
pub fn load(path: &str, source: &str) -> (Option<Workflow>, Vec<Diagnostic>) {
    finish(path, source, yaml::parse(source))
}

/// Loads a workflow file's bytes, as [`load`] does after checking they are UTF-8 (invalid
/// UTF-8 is an error at the first invalid byte).
pub fn load_bytes(path: &str, bytes: &[u8]) -> (Option<Workflow>, Vec<Diagnostic>) {
    let parsed = yaml::parse_bytes(bytes);
    // `parse_bytes` only succeeds on UTF-8.
    let source = std::str::from_utf8(bytes).unwrap_or_default();
    finish(path, source, parsed)
}

fn finish(
    path: &str,
    source: &str,
    parsed: Result<Node, Vec<yaml::YamlError>>,
) -> (Option<Workflow>, Vec<Diagnostic>) {
    read_document(source, parsed, |loader, root| loader.workflow(path, root))
}

/// Reads a parsed document with `read` (the workflow, or an action's metadata) and returns
/// what it built when there is no error, with every diagnostic in file order.
pub(super) fn read_document<T>(
    source: &str,
    parsed: Result<Node, Vec<yaml::YamlError>>,
    read: impl FnOnce(&mut Loader<'_>, &Node) -> Option<T>,
) -> (Option<T>, Vec<Diagnostic>) {
    let root = match parsed {
        Ok(root) => root,
        Err(errors) => return (None, errors.into_iter().map(Diagnostic::from).collect()),
    };
    let mut loader = Loader {
        source,
        diagnostics: Vec::new(),
    };
    let read = read(&mut loader, &root);
    let mut diagnostics = loader.diagnostics;
    diagnostics.sort_by(|a, b| {
        (a.span.start.offset, a.span.end.offset, &a.message).cmp(&(
            b.span.start.offset,
            b.span.end.offset,
            &b.message,
        ))
    });
    // An alias copies its anchor's nodes with their spans: report what is in them once.
    diagnostics.dedup();
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    (read.filter(|_| !failed), diagnostics)
}

// ---------------------------------------------------------------------------------------------
// Context availability

/// Where an expression stands: the workflow key as GitHub's "Context availability" table
/// names it, the contexts available there, and the special functions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    key: &'static str,
    contexts: &'static [&'static str],
    status_functions: bool,
    hash_files: bool,
}

impl Place {
    pub(super) const fn new(key: &'static str, contexts: &'static [&'static str]) -> Place {
        Place {
            key,
            contexts,
            status_functions: false,
            hash_files: false,
        }
    }

    /// A key that takes no expression at all.
    pub(super) const fn none(key: &'static str) -> Place {
        Place::new(key, &[])
    }

    pub(super) const fn with_hash_files(mut self) -> Place {
        self.hash_files = true;
        self
    }

    pub(super) const fn with_status_functions(mut self) -> Place {
        self.status_functions = true;
        self
    }

    fn takes_expressions(&self) -> bool {
        !self.contexts.is_empty()
    }
}

/// The contexts of the keys inside a job that runs on a runner, before any step runs.
const JOB_LEVEL: &[&str] = &["github", "needs", "strategy", "matrix", "vars", "inputs"];
/// What steps (and job outputs) may read.
const STEP_LEVEL: &[&str] = &[
    "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps",
    "inputs",
];

/// GitHub's "Context availability" table (docs.github.com, Actions → Contexts reference →
/// Context availability), one constant per row, plus `snapshot.if` from the workflow schema.
mod places {
    use super::{Place, JOB_LEVEL, STEP_LEVEL};

    pub const RUN_NAME: Place = Place::new("run-name", &["github", "inputs", "vars"]);
    pub const CONCURRENCY: Place = Place::new("concurrency", &["github", "inputs", "vars"]);
    pub const ENV: Place = Place::new("env", &["github", "secrets", "inputs", "vars"]);
    pub const CALL_INPUT_DEFAULT: Place = Place::new(
        "on.workflow_call.inputs.<inputs_id>.default",
        &["github", "inputs", "vars"],
    );
    pub const CALL_OUTPUT_VALUE: Place = Place::new(
        "on.workflow_call.outputs.<output_id>.value",
        &["github", "jobs", "vars", "inputs"],
    );
    pub const JOB_CONCURRENCY: Place = Place::new("jobs.<job_id>.concurrency", JOB_LEVEL);
    pub const JOB_CONTAINER: Place = Place::new("jobs.<job_id>.container", JOB_LEVEL);
    pub const JOB_CONTAINER_CREDENTIALS: Place = Place::new(
        "jobs.<job_id>.container.credentials",
        &[
            "github", "needs", "strategy", "matrix", "env", "vars", "secrets", "inputs",
        ],
    );
    pub const JOB_CONTAINER_ENV: Place = Place::new(
        "jobs.<job_id>.container.env.<env_id>",
        &[
            "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
            "inputs",
        ],
    );
    pub const JOB_CONTINUE_ON_ERROR: Place =
        Place::new("jobs.<job_id>.continue-on-error", JOB_LEVEL);
    pub const JOB_DEFAULTS_RUN: Place = Place::new(
        "jobs.<job_id>.defaults.run",
        &[
            "github", "needs", "strategy", "matrix", "env", "vars", "inputs",
        ],
    );
    pub const JOB_ENV: Place = Place::new(
        "jobs.<job_id>.env",
        &[
            "github", "needs", "strategy", "matrix", "vars", "secrets", "inputs",
        ],
    );
    pub const JOB_ENVIRONMENT: Place = Place::new("jobs.<job_id>.environment", JOB_LEVEL);
    pub const JOB_ENVIRONMENT_URL: Place = Place::new(
        "jobs.<job_id>.environment.url",
        &[
            "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps",
            "inputs",
        ],
    );
    pub const JOB_IF: Place =
        Place::new("jobs.<job_id>.if", &["github", "needs", "vars", "inputs"])
            .with_status_functions();
    pub const JOB_NAME: Place = Place::new("jobs.<job_id>.name", JOB_LEVEL);
    pub const JOB_OUTPUTS: Place = Place::new(
        "jobs.<job_id>.outputs.<output_id>",
        &[
            "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
            "steps", "inputs",
        ],
    );
    pub const JOB_RUNS_ON: Place = Place::new("jobs.<job_id>.runs-on", JOB_LEVEL);
    pub const JOB_SECRETS: Place = Place::new(
        "jobs.<job_id>.secrets.<secrets_id>",
        &[
            "github", "needs", "strategy", "matrix", "secrets", "inputs", "vars",
        ],
    );
    pub const JOB_SERVICES: Place = Place::new("jobs.<job_id>.services", JOB_LEVEL);
    pub const JOB_SERVICE_CREDENTIALS: Place = Place::new(
        "jobs.<job_id>.services.<service_id>.credentials",
        &[
            "github", "needs", "strategy", "matrix", "env", "vars", "secrets", "inputs",
        ],
    );
    pub const JOB_SERVICE_ENV: Place = Place::new(
        "jobs.<job_id>.services.<service_id>.env.<env_id>",
        &[
            "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
            "inputs",
        ],
    );
    pub const JOB_SNAPSHOT_IF: Place = Place::new("jobs.<job_id>.snapshot.if", JOB_LEVEL);
    pub const JOB_STRATEGY: Place = Place::new(
        "jobs.<job_id>.strategy",
        &["github", "needs", "vars", "inputs"],
    );
    pub const JOB_TIMEOUT_MINUTES: Place = Place::new("jobs.<job_id>.timeout-minutes", JOB_LEVEL);
    pub const JOB_WITH: Place = Place::new("jobs.<job_id>.with.<with_id>", JOB_LEVEL);
    pub const STEP_CONTINUE_ON_ERROR: Place =
        Place::new("jobs.<job_id>.steps.continue-on-error", STEP_LEVEL).with_hash_files();
    pub const STEP_ENV: Place = Place::new("jobs.<job_id>.steps.env", STEP_LEVEL).with_hash_files();
    pub const STEP_IF: Place = Place::new(
        "jobs.<job_id>.steps.if",
        &[
            "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps",
            "inputs",
        ],
    )
    .with_status_functions()
    .with_hash_files();
    pub const STEP_NAME: Place =
        Place::new("jobs.<job_id>.steps.name", STEP_LEVEL).with_hash_files();
    pub const STEP_RUN: Place = Place::new("jobs.<job_id>.steps.run", STEP_LEVEL).with_hash_files();
    pub const STEP_TIMEOUT_MINUTES: Place =
        Place::new("jobs.<job_id>.steps.timeout-minutes", STEP_LEVEL).with_hash_files();
    pub const STEP_WITH: Place =
        Place::new("jobs.<job_id>.steps.with", STEP_LEVEL).with_hash_files();
    pub const STEP_WORKING_DIRECTORY: Place =
        Place::new("jobs.<job_id>.steps.working-directory", STEP_LEVEL).with_hash_files();
}

// ---------------------------------------------------------------------------------------------
// The schema's key lists

#[rustfmt::skip]
const WORKFLOW_KEYS: &[&str] = &[
    "name", "description", "run-name", "on", "env", "defaults", "permissions", "concurrency",
    "jobs",
];

#[rustfmt::skip]
const RUNNER_JOB_KEYS: &[&str] = &[
    "name", "needs", "if", "strategy", "permissions", "concurrency", "runs-on", "environment",
    "env", "defaults", "outputs", "timeout-minutes", "cancel-timeout-minutes",
    "continue-on-error", "container", "services", "snapshot", "steps",
];
/// Every key a job may have, of either kind (for the unknown-key check and its hint).
#[rustfmt::skip]
const JOB_KEYS: &[&str] = &[
    "name", "needs", "if", "strategy", "permissions", "concurrency", "runs-on", "environment",
    "env", "defaults", "outputs", "timeout-minutes", "cancel-timeout-minutes",
    "continue-on-error", "container", "services", "snapshot", "steps", "uses", "with",
    "secrets",
];
#[rustfmt::skip]
const CALL_JOB_KEYS: &[&str] = &[
    "name", "needs", "if", "strategy", "permissions", "concurrency", "uses", "with", "secrets",
];

#[rustfmt::skip]
const STEP_KEYS: &[&str] = &[
    "id", "name", "if", "run", "shell", "working-directory", "uses", "with", "env",
    "continue-on-error", "timeout-minutes", "background", "wait", "wait-all", "cancel",
    "parallel",
];

/// What the steps being read may hold: their keys, the places their expressions stand in, and
/// whether a `run` step must name its `shell`. A job's steps follow the workflow schema
/// ([`JOB_STEPS`]); a composite action's follow the action schema (`action.rs`).
pub(super) struct StepRules {
    pub keys: &'static [&'static str],
    pub name: Place,
    pub condition: Place,
    pub run: Place,
    pub working_directory: Place,
    pub with: Place,
    pub env: Place,
    pub continue_on_error: Place,
    pub timeout_minutes: Place,
    pub shell_required: bool,
}

const JOB_STEPS: StepRules = StepRules {
    keys: STEP_KEYS,
    name: places::STEP_NAME,
    condition: places::STEP_IF,
    run: places::STEP_RUN,
    working_directory: places::STEP_WORKING_DIRECTORY,
    with: places::STEP_WITH,
    env: places::STEP_ENV,
    continue_on_error: places::STEP_CONTINUE_ON_ERROR,
    timeout_minutes: places::STEP_TIMEOUT_MINUTES,
    shell_required: false,
};

#[rustfmt::skip]
const PERMISSION_SCOPES: &[&str] = &[
    "actions", "artifact-metadata", "attestations", "checks", "contents", "copilot-requests",
    "deployments", "discussions", "id-token", "issues", "models", "packages", "pages",
    "pull-requests", "repository-projects", "security-events", "statuses",
    "vulnerability-alerts",
];

/// An event `on` accepts: its name, the keys its mapping takes (`None`: only null), and the
/// activity types of `types` (`None`: any non-empty string).
struct EventSpec {
    name: &'static str,
    keys: Option<&'static [&'static str]>,
    types: Option<&'static [&'static str]>,
}

const fn event(
    name: &'static str,
    keys: Option<&'static [&'static str]>,
    types: Option<&'static [&'static str]>,
) -> EventSpec {
    EventSpec { name, keys, types }
}

const TYPES: &[&str] = &["types"];
const PULL_REQUEST_KEYS: &[&str] = &[
    "types",
    "branches",
    "branches-ignore",
    "paths",
    "paths-ignore",
];
#[rustfmt::skip]
const PULL_REQUEST_TYPES: &[&str] = &[
    "assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened",
    "synchronize", "converted_to_draft", "locked", "unlocked", "enqueued", "dequeued",
    "milestoned", "demilestoned", "ready_for_review", "review_requested",
    "review_request_removed", "auto_merge_enabled", "auto_merge_disabled",
];
const CREATED_EDITED_DELETED: &[&str] = &["created", "edited", "deleted"];

/// Every event of the strict workflow schema, with its keys and activity types.
#[rustfmt::skip]
const EVENTS: &[EventSpec] = &[
    event("branch_protection_rule", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("check_run", Some(TYPES), Some(&["completed", "created", "rerequested", "requested_action"])),
    event("check_suite", Some(TYPES), Some(&["completed"])),
    event("create", None, None),
    event("delete", None, None),
    event("deployment", None, None),
    event("deployment_status", None, None),
    event("discussion", Some(TYPES), Some(&[
        "created", "edited", "deleted", "transferred", "pinned", "unpinned", "labeled",
        "unlabeled", "locked", "unlocked", "category_changed", "answered", "unanswered",
    ])),
    event("discussion_comment", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("fork", None, None),
    event("gollum", None, None),
    event("image_version", Some(&["types", "names", "versions"]), Some(&["created", "ready", "deleted"])),
    event("issue_comment", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("issues", Some(TYPES), Some(&[
        "opened", "edited", "deleted", "transferred", "pinned", "unpinned", "closed", "reopened",
        "assigned", "unassigned", "labeled", "unlabeled", "locked", "unlocked", "milestoned",
        "demilestoned",
    ])),
    event("label", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("merge_group", Some(&["types", "branches", "branches-ignore"]), Some(&["checks_requested"])),
    event("milestone", Some(TYPES), Some(&["created", "closed", "opened", "edited", "deleted"])),
    event("page_build", None, None),
    event("project", Some(TYPES), Some(&["created", "closed", "reopened", "edited", "deleted"])),
    event("project_card", Some(TYPES), Some(&["created", "moved", "converted", "edited", "deleted"])),
    event("project_column", Some(TYPES), Some(&["created", "updated", "moved", "deleted"])),
    event("public", None, None),
    event("pull_request", Some(PULL_REQUEST_KEYS), Some(PULL_REQUEST_TYPES)),
    event("pull_request_comment", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("pull_request_review", Some(TYPES), Some(&["submitted", "edited", "dismissed"])),
    event("pull_request_review_comment", Some(TYPES), Some(CREATED_EDITED_DELETED)),
    event("pull_request_target", Some(PULL_REQUEST_KEYS), Some(PULL_REQUEST_TYPES)),
    event("push", Some(&["branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"]), None),
    event("registry_package", Some(TYPES), Some(&["published", "updated"])),
    event("release", Some(TYPES), Some(&[
        "published", "unpublished", "created", "edited", "deleted", "prereleased", "released",
    ])),
    event("repository_dispatch", Some(TYPES), None),
    event("schedule", Some(&[]), None),
    event("status", None, None),
    event("watch", Some(TYPES), Some(&["started"])),
    event("workflow_call", Some(&["inputs", "outputs", "secrets"]), None),
    event("workflow_dispatch", Some(&["inputs"]), None),
    event("workflow_run", Some(&["types", "workflows", "branches", "branches-ignore"]), Some(&["requested", "completed", "in_progress"])),
];

// ---------------------------------------------------------------------------------------------
// Scalars

/// A scalar as the YAML core schema resolves it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Lit<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
}

pub(super) fn literal(node: &Node) -> Option<Lit<'_>> {
    Some(match node.resolve()? {
        Resolved::Null => Lit::Null,
        Resolved::Bool(b) => Lit::Bool(b),
        Resolved::Int(i) => Lit::Number(i as f64),
        Resolved::Float(f) => Lit::Number(f),
        Resolved::String(s) => Lit::Str(s),
    })
}

/// A literal as a string, as GitHub's reader converts one where a string is expected.
fn literal_text(lit: Lit<'_>) -> String {
    match lit {
        Lit::Null => String::new(),
        Lit::Bool(b) => b.to_string(),
        Lit::Number(n) => format_number(n),
        Lit::Str(s) => s.to_owned(),
    }
}

fn is_block_scalar(node: &Node) -> bool {
    matches!(
        &node.kind,
        NodeKind::Scalar(s) if matches!(s.style, ScalarStyle::Literal | ScalarStyle::Folded)
    )
}

/// The value of a node as the expression language sees it (matrix values, `with:` of a
/// reusable-workflow call, input defaults).
fn to_value(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Seq(items) => Value::array(items.iter().map(to_value).collect()),
        NodeKind::Map(entries) => {
            let mut object = Object::new();
            for (key, value) in entries {
                object.insert(key_text(key), to_value(value));
            }
            Value::object(object)
        }
        NodeKind::Scalar(_) => match literal(node) {
            Some(Lit::Null) | None => Value::Null,
            Some(Lit::Bool(b)) => Value::Bool(b),
            Some(Lit::Number(n)) => Value::Number(n),
            Some(Lit::Str(s)) => Value::String(s.to_owned()),
        },
    }
}

fn key_text(node: &Node) -> String {
    literal(node).map(literal_text).unwrap_or_default()
}

/// Whether a job, step or input id is well formed: `[A-Za-z_][A-Za-z0-9_-]*`.
fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn contains_expression(text: &str) -> bool {
    text.contains("${{")
}

// ---------------------------------------------------------------------------------------------
// Positions inside scalars

/// Maps offsets of a scalar's value to file positions by walking the value and the scalar's
/// source together. Characters YAML dropped (quotes, escape backslashes, indentation, folded
/// line breaks) are skipped in the source; where the two disagree otherwise (an escape such as
/// `\u00e9`), the walk looks a few characters ahead and else leaves the character unmapped,
/// so its position is estimated from the last mapped one. A new anchor starts wherever the
/// mapping is not contiguous and after each line break, so positions are exact for plain and
/// quoted scalars without escapes and for every line of a block scalar.
fn anchors(source: &str, node: &Node, text: &str) -> Vec<Anchor> {
    let span = node.span;
    let Some(slice) = source.get(span.start.offset..span.end.offset) else {
        return Vec::new();
    };
    let mut chars: Vec<(char, Pos)> = Vec::with_capacity(slice.len());
    let mut pos = span.start;
    for c in slice.chars() {
        chars.push((c, pos));
        pos.offset += c.len_utf8();
        if c == '\n' {
            pos.line += 1;
            pos.col = 1;
        } else {
            pos.col += 1;
        }
    }
    let mut at = 0;
    if is_block_scalar(node) && matches!(chars.first(), Some(('|' | '>' | '&' | '!', _))) {
        // The span starts at the header (`|`, `>-`, `|2`, an anchor or tag): skip that line.
        at = chars
            .iter()
            .position(|(c, _)| *c == '\n')
            .map_or(chars.len(), |i| i + 1);
    }
    let skippable = |c: char| c.is_whitespace() || c == '\\' || c == '"' || c == '\'';
    let mut anchors = Vec::new();
    let mut contiguous = false;
    for (offset, c) in text.char_indices() {
        let mut probe = at;
        while probe < chars.len() && chars[probe].0 != c && skippable(chars[probe].0) {
            probe += 1;
        }
        let found = if probe < chars.len() && chars[probe].0 == c {
            Some(probe)
        } else if !c.is_whitespace() {
            (probe..chars.len().min(probe + 16)).find(|&i| chars[i].0 == c)
        } else {
            None
        };
        match found {
            Some(i) => {
                if !(contiguous && i == at) {
                    anchors.push(Anchor {
                        text: offset,
                        pos: chars[i].1,
                    });
                }
                at = i + 1;
                contiguous = c != '\n';
            }
            None => contiguous = false,
        }
    }
    anchors
}

// ---------------------------------------------------------------------------------------------
// The loader

pub(super) struct Loader<'s> {
    source: &'s str,
    diagnostics: Vec<Diagnostic>,
}

/// What the job being read makes available to its expressions.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JobScope {
    /// Whether the job has `strategy.matrix` (else the `matrix` context is not available).
    pub has_matrix: bool,
}

/// The checked entries of a mapping: key text, key node, value node, in order.
pub(super) type Entries<'n> = Vec<(Cow<'n, str>, &'n Node, &'n Node)>;

pub(super) fn find<'n>(entries: &Entries<'n>, key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, _, v)| *v)
}

fn find_key<'n>(entries: &Entries<'n>, key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, k, _)| *k)
}

impl Loader<'_> {
    pub(super) fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::error(span, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    pub(super) fn warning(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::warning(span, message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    pub(super) fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            node.span,
            format!("{what} must be {expected}, found {}", node.describe()),
        );
    }

    /// The entries of a mapping whose keys must be in `allowed` (empty: any key). Reports a
    /// wrong type and each unknown key (with the closest known key as a hint).
    pub(super) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Entries<'n>> {
        let NodeKind::Map(pairs) = &node.kind else {
            self.type_error(node, what, "a mapping");
            return None;
        };
        let mut entries = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Some(lit) = literal(key) else {
                self.error(key.span, format!("a key in {what} must be a string"));
                continue;
            };
            let text = match lit {
                Lit::Str(s) => Cow::Borrowed(s),
                other => Cow::Owned(literal_text(other)),
            };
            if !allowed.is_empty() && !allowed.contains(&text.as_ref()) {
                self.unknown_key(key.span, &text, what, allowed);
                continue;
            }
            entries.push((text, key, value));
        }
        Some(entries)
    }

    fn unknown_key(&mut self, span: Span, key: &str, what: &str, allowed: &[&str]) {
        let hint = closest(key, allowed).map(|close| format!("did you mean `{close}`?"));
        let diagnostic = self.error(span, format!("unknown key `{key}` in {what}"));
        diagnostic.help =
            Some(hint.unwrap_or_else(|| format!("expected one of: {}", allowed.join(", "))));
    }

    /// A scalar taken as a string (numbers, booleans and null converted as GitHub converts
    /// them). `non_empty`: an empty string is an error.
    pub(super) fn string(
        &mut self,
        node: &Node,
        what: &str,
        non_empty: bool,
    ) -> Option<Spanned<String>> {
        let Some(lit) = literal(node) else {
            self.type_error(node, what, "a string");
            return None;
        };
        let text = literal_text(lit);
        if non_empty && text.is_empty() {
            self.error(node.span, format!("{what} must not be empty"));
            return None;
        }
        Some(Spanned::new(text, node.span))
    }

    /// A string where no expression is allowed.
    pub(super) fn plain_string(
        &mut self,
        node: &Node,
        what: &str,
        non_empty: bool,
    ) -> Option<Spanned<String>> {
        let string = self.string(node, what, non_empty)?;
        if contains_expression(&string.value) {
            self.no_expressions(node, &string.value, what);
            return None;
        }
        Some(string)
    }

    fn no_expressions(&mut self, node: &Node, text: &str, what: &str) {
        let at = text.find("${{").unwrap_or(0);
        let located = ExprString::new(
            text.to_owned(),
            (),
            node.span,
            anchors(self.source, node, text),
        );
        let span = located.locate(at..(at + 3).min(text.len()));
        self.error(span, format!("expressions are not allowed in {what}"));
    }

    /// A string or a sequence of strings (`needs`, `branches`, `types`, labels…).
    fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<Spanned<String>>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.plain_string(item, &format!("an item of {what}"), true) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Map(_) => {
                self.type_error(node, what, "a string or a sequence of strings");
                None
            }
            NodeKind::Scalar(_) => Some(vec![self.plain_string(node, what, true)?]),
        }
    }

    /// A string that may hold expressions, checked against `place`.
    pub(super) fn template(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<TemplateString> {
        let text = self.string(node, what, false)?.value;
        self.template_text(node, text, what, place, scope)
    }

    fn template_text(
        &mut self,
        node: &Node,
        text: String,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<TemplateString> {
        if !contains_expression(&text) {
            let template = Template::parse(&text).ok()?;
            return Some(ExprString::new(text, template, node.span, Vec::new()));
        }
        if !place.takes_expressions() {
            self.no_expressions(node, &text, what);
            return None;
        }
        let anchors = anchors(self.source, node, &text);
        let located = ExprString::new(text, (), node.span, anchors);
        match Template::parse(&located.text) {
            Err(error) => {
                self.expr_error(&located, error);
                None
            }
            Ok(template) => {
                let errors = validate_at(place, scope, |available| template.validate(available));
                let expressions: Vec<&Expr> = template.expressions().collect();
                let ok =
                    self.report_expression_problems(&located, &expressions, errors, place, scope);
                ok.then(|| located.with_parsed(template))
            }
        }
    }

    /// An `if:` condition checked against `place`.
    fn condition(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<ConditionString> {
        let text = self.string(node, what, false)?.value;
        let anchors = anchors(self.source, node, &text);
        let located = ExprString::new(text, (), node.span, anchors);
        match Condition::parse(&located.text) {
            Err(error) => {
                self.expr_error(&located, error);
                None
            }
            Ok(condition) => {
                let errors = validate_at(place, scope, |available| condition.validate(available));
                // The expressions, for the `hashFiles` check.
                let mixed = if condition.expr().is_none() && contains_expression(&located.text) {
                    Template::parse(&located.text).ok()
                } else {
                    None
                };
                let expressions: Vec<&Expr> = match (condition.expr(), &mixed) {
                    (Some(expr), _) => vec![expr],
                    (None, Some(template)) => template.expressions().collect(),
                    (None, None) => Vec::new(),
                };
                let ok =
                    self.report_expression_problems(&located, &expressions, errors, place, scope);
                ok.then(|| located.with_parsed(condition))
            }
        }
    }

    fn expr_error(&mut self, located: &ExprString<()>, error: ExprError) {
        let span = located.locate(error.span.clone());
        let diagnostic = self.error(span, error.message);
        diagnostic.help = error.hint;
    }

    /// Reports the validation errors of expressions at `place`, and `hashFiles` where GitHub
    /// does not allow it (steps only). Returns whether there was no error.
    fn report_expression_problems(
        &mut self,
        located: &ExprString<()>,
        expressions: &[&Expr],
        errors: Vec<ExprError>,
        place: Place,
        scope: JobScope,
    ) -> bool {
        let mut ok = true;
        for error in errors {
            let span = located.locate(error.span.clone());
            match error.kind {
                ErrorKind::UnavailableContext => {
                    ok = false;
                    let name = located.text.get(error.span.clone()).unwrap_or_default();
                    let known = KNOWN_CONTEXTS.iter().find(|c| c.eq_ignore_ascii_case(name));
                    match known {
                        Some(known) => {
                            let message = format!(
                                "the `{known}` context is not available in `{}`",
                                place.key
                            );
                            let help = if *known == "matrix"
                                && place.contexts.contains(&"matrix")
                                && !scope.has_matrix
                            {
                                "the `matrix` context is only available in a job with a \
                                 `strategy.matrix`"
                                    .to_owned()
                            } else {
                                format!(
                                    "available there: {}",
                                    available_contexts(place, scope).join(", ")
                                )
                            };
                            let diagnostic = self.error(span, message);
                            diagnostic.help = Some(help);
                        }
                        None => {
                            let diagnostic = self.error(span, error.message);
                            diagnostic.help = error.hint;
                        }
                    }
                }
                // A job's `if` may name jobs in `success()` and `failure()` (GitHub's schema
                // gives them any number of arguments there; the expression module's table
                // takes none).
                ErrorKind::WrongArity
                    if place.key == places::JOB_IF.key
                        && located.text.get(error.span.clone()).is_some_and(|call| {
                            let call = call.to_ascii_lowercase();
                            call.starts_with("success(") || call.starts_with("failure(")
                        }) => {}
                _ => {
                    ok = false;
                    let diagnostic = self.error(span, error.message);
                    diagnostic.help = error.hint;
                }
            }
        }
        if !place.hash_files {
            for expr in expressions {
                for node in expr.nodes() {
                    if let ExprKind::Call {
                        name, name_span, ..
                    } = &node.kind
                    {
                        if name.eq_ignore_ascii_case("hashFiles") {
                            ok = false;
                            let span = located.locate(name_span.clone());
                            let diagnostic = self.error(
                                span,
                                format!("`hashFiles` is not available in `{}`", place.key),
                            );
                            diagnostic.help = Some(
                                "`hashFiles` can only be used in a step's `if`, `name`, `run`, \
                                 `with`, `env`, `working-directory`, `continue-on-error` and \
                                 `timeout-minutes`"
                                    .to_owned(),
                            );
                        }
                    }
                }
            }
        }
        ok
    }

    /// A boolean, or an expression where `place` allows one.
    fn boolean(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<MaybeExpr<bool>> {
        match literal(node) {
            Some(Lit::Bool(b)) => Some(MaybeExpr::Literal(Spanned::new(b, node.span))),
            Some(Lit::Str(s)) if contains_expression(s) => {
                self.template(node, what, place, scope).map(MaybeExpr::Expr)
            }
            _ => {
                self.type_error(node, what, "a boolean");
                None
            }
        }
    }

    /// A number, or an expression where `place` allows one.
    fn number(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<MaybeExpr<f64>> {
        match literal(node) {
            Some(Lit::Number(n)) => Some(MaybeExpr::Literal(Spanned::new(n, node.span))),
            Some(Lit::Str(s)) if contains_expression(s) => {
                self.template(node, what, place, scope).map(MaybeExpr::Expr)
            }
            _ => {
                self.type_error(node, what, "a number");
                None
            }
        }
    }

    /// A plain boolean (no expression).
    fn plain_boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match literal(node) {
            Some(Lit::Bool(b)) => Some(b),
            _ => {
                self.type_error(node, what, "a boolean");
                None
            }
        }
    }

    /// A string, boolean or number, or an expression (`with:` of a reusable-workflow call,
    /// input defaults).
    fn scalar_value(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<MaybeExpr<Value>> {
        match literal(node) {
            None => {
                self.type_error(node, what, "a string, a number or a boolean");
                None
            }
            Some(Lit::Str(s)) if contains_expression(s) => {
                self.template(node, what, place, scope).map(MaybeExpr::Expr)
            }
            // GitHub takes null as the empty string here.
            Some(Lit::Null) => Some(MaybeExpr::Literal(Spanned::new(
                Value::String(String::new()),
                node.span,
            ))),
            Some(_) => Some(MaybeExpr::Literal(Spanned::new(to_value(node), node.span))),
        }
    }

    /// An `env` map: non-empty names, string values; or one expression.
    pub(super) fn env(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<Env> {
        if let Some(Lit::Str(s)) = literal(node) {
            if contains_expression(s) {
                let expr = self.template(node, what, place, scope)?;
                return Some(Env {
                    vars: Vec::new(),
                    expr: Some(expr),
                });
            }
        }
        let entries = self.mapping(node, what, &[])?;
        let mut vars = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            if name.is_empty() {
                self.error(
                    key.span,
                    format!("a variable name in {what} must not be empty"),
                );
                ok = false;
                continue;
            }
            let item = format!("`{name}` in {what}");
            match self.template(value, &item, place, scope) {
                Some(value) => vars.push(EnvVar {
                    name: Spanned::new(name.into_owned(), key.span),
                    value,
                }),
                None => ok = false,
            }
        }
        ok.then_some(Env { vars, expr: None })
    }

    /// A map of named strings (`with`, `outputs`, `secrets` of a call).
    fn template_map(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<Vec<(Spanned<String>, TemplateString)>> {
        let entries = self.mapping(node, what, &[])?;
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            let item = format!("`{name}` in {what}");
            match self.template(value, &item, place, scope) {
                Some(value) => out.push((Spanned::new(name.into_owned(), key.span), value)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    // -----------------------------------------------------------------------------------------
    // Workflow

    fn workflow(&mut self, path: &str, root: &Node) -> Option<Workflow> {
        let top = JobScope::default();
        if matches!(literal(root), Some(Lit::Null)) {
            self.error(root.span, "the workflow is empty");
            return None;
        }
        let entries = self.mapping(root, "the workflow", WORKFLOW_KEYS)?;
        let mut name = None;
        let mut description = None;
        let mut run_name = None;
        let mut on = None;
        let mut env = Some(Env::default());
        let mut defaults = None;
        let mut permissions = None;
        let mut concurrency = None;
        let mut jobs = None;
        let mut ok = true;
        for (key, _, value) in &entries {
            match key.as_ref() {
                "name" => name = self.plain_string(value, "`name`", false),
                "description" => description = self.plain_string(value, "`description`", false),
                "run-name" => {
                    run_name = self.template(value, "`run-name`", places::RUN_NAME, top);
                    ok &= run_name.is_some();
                }
                "on" => on = self.on(value),
                "env" => env = self.env(value, "`env`", places::ENV, top),
                "defaults" => {
                    defaults = self.defaults(value, "`defaults`", Place::none("defaults"), top);
                    ok &= defaults.is_some();
                }
                "permissions" => {
                    permissions = self.permissions(value, "`permissions`");
                    ok &= permissions.is_some();
                }
                "concurrency" => {
                    concurrency =
                        self.concurrency(value, "`concurrency`", places::CONCURRENCY, top, false);
                    ok &= concurrency.is_some();
                }
                "jobs" => jobs = self.jobs(value),
                _ => {}
            }
        }
        if find(&entries, "on").is_none() {
            self.error(Span::point(root.span.start), "the workflow has no `on`")
                .help = Some("add the events that trigger it, e.g. `on: push`".to_owned());
        }
        if find(&entries, "jobs").is_none() {
            self.error(Span::point(root.span.start), "the workflow has no `jobs`");
        }
        let on_span = find(&entries, "on").map_or(root.span, |n| n.span);
        let workflow = Workflow {
            path: path.to_owned(),
            name,
            description,
            run_name,
            on: on?,
            on_span,
            env: env?,
            defaults: defaults.flatten(),
            permissions,
            concurrency,
            jobs: jobs?,
        };
        ok.then_some(workflow)
    }

    fn defaults(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
    ) -> Option<Option<RunDefaults>> {
        let entries = self.mapping(node, what, &["run"])?;
        let Some(run) = find(&entries, "run") else {
            return Some(None);
        };
        let entries = self.mapping(run, "`defaults.run`", &["shell", "working-directory"])?;
        let mut shell = None;
        let mut working_directory = None;
        let mut ok = true;
        for (key, _, value) in &entries {
            let item = format!("`{key}`");
            let read = if place.takes_expressions() {
                self.template(value, &item, place, scope)
            } else {
                self.plain_string(value, &item, true).map(|s| {
                    let template = Template::parse(&s.value).expect("no expression");
                    ExprString::new(s.value, template, s.span, Vec::new())
                })
            };
            if let Some(read) = &read {
                if read.text.is_empty() {
                    self.error(value.span, format!("{item} must not be empty"));
                    ok = false;
                }
            }
            ok &= read.is_some();
            match key.as_ref() {
                "shell" => shell = read,
                _ => working_directory = read,
            }
        }
        ok.then_some(Some(RunDefaults {
            shell,
            working_directory,
        }))
    }

    fn permissions(&mut self, node: &Node, what: &str) -> Option<Spanned<Permissions>> {
        if let Some(Lit::Str(s)) = literal(node) {
            return match s {
                "read-all" => Some(Spanned::new(Permissions::ReadAll, node.span)),
                "write-all" => Some(Spanned::new(Permissions::WriteAll, node.span)),
                _ => {
                    self.error(
                        node.span,
                        format!(
                            "{what} must be `read-all`, `write-all` or a mapping of scopes, \
                             found `{s}`"
                        ),
                    );
                    None
                }
            };
        }
        let entries = self.mapping(node, what, PERMISSION_SCOPES)?;
        let mut scopes = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (scope, key, value) in entries {
            let allowed: &[&str] = match scope.as_ref() {
                "id-token" | "copilot-requests" => &["write", "none"],
                "models" | "vulnerability-alerts" => &["read", "none"],
                _ => &["read", "write", "none"],
            };
            let level = match literal(value) {
                Some(Lit::Str(level)) if allowed.contains(&level) => match level {
                    "read" => Some(Access::Read),
                    "write" => Some(Access::Write),
                    _ => Some(Access::None),
                },
                _ => None,
            };
            match level {
                Some(level) => scopes.push((
                    Spanned::new(scope.into_owned(), key.span),
                    Spanned::new(level, value.span),
                )),
                None => {
                    ok = false;
                    let found = literal(value).map_or_else(
                        || value.describe().to_owned(),
                        |l| format!("`{}`", literal_text(l)),
                    );
                    let allowed: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                    self.error(
                        value.span,
                        format!(
                            "permission `{scope}` must be {}, found {found}",
                            allowed.join(" or ")
                        ),
                    );
                }
            }
        }
        ok.then(|| Spanned::new(Permissions::Scopes(scopes), node.span))
    }

    fn concurrency(
        &mut self,
        node: &Node,
        what: &str,
        place: Place,
        scope: JobScope,
        non_empty: bool,
    ) -> Option<Concurrency> {
        if literal(node).is_some() {
            let group = self.template(node, what, place, scope)?;
            if non_empty && group.text.is_empty() {
                self.error(node.span, format!("{what} must not be empty"));
                return None;
            }
            return Some(Concurrency {
                group,
                cancel_in_progress: None,
                queue: None,
            });
        }
        let entries = self.mapping(node, what, &["group", "cancel-in-progress", "queue"])?;
        let mut group = None;
        let mut cancel_in_progress = None;
        let mut queue = None;
        let mut ok = true;
        for (key, _, value) in &entries {
            match key.as_ref() {
                "group" => {
                    group = self.template(value, "`group`", place, scope);
                    if group.as_ref().is_some_and(|g| g.text.is_empty()) {
                        self.error(value.span, "`group` must not be empty");
                        group = None;
                    }
                    ok &= group.is_some();
                }
                "cancel-in-progress" => {
                    cancel_in_progress = self.boolean(value, "`cancel-in-progress`", place, scope);
                    ok &= cancel_in_progress.is_some();
                }
                _ => {
                    queue = self.plain_string(value, "`queue`", true);
                    if let Some(q) = &queue {
                        if !matches!(q.value.as_str(), "single" | "max") {
                            self.error(
                                q.span,
                                format!("`queue` must be `single` or `max`, found `{}`", q.value),
                            );
                            queue = None;
                        }
                    }
                    ok &= queue.is_some();
                }
            }
        }
        let Some(group) = group else {
            if find(&entries, "group").is_none() {
                self.error(node.span, format!("{what} needs a `group`"));
            }
            return None;
        };
        ok.then_some(Concurrency {
            group,
            cancel_in_progress,
            queue,
        })
    }

    // -----------------------------------------------------------------------------------------
    // on

    fn on(&mut self, node: &Node) -> Option<Vec<Trigger>> {
        match &node.kind {
            NodeKind::Scalar(_) => {
                let event = self.event_name(node)?;
                Some(vec![Trigger::bare(event)])
            }
            NodeKind::Seq(items) => {
                let mut triggers = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.event_name(item) {
                        Some(event) => triggers.push(Trigger::bare(event)),
                        None => ok = false,
                    }
                }
                if items.is_empty() {
                    self.error(node.span, "`on` must list at least one event");
                    ok = false;
                }
                ok.then_some(triggers)
            }
            NodeKind::Map(_) => {
                let entries = self.mapping(node, "`on`", &[])?;
                let mut triggers = Vec::with_capacity(entries.len());
                let mut ok = true;
                for (name, key, value) in entries {
                    let Some(spec) = self.event_spec(key.span, &name) else {
                        ok = false;
                        continue;
                    };
                    match self.trigger(spec, Spanned::new(name.into_owned(), key.span), value) {
                        Some(trigger) => triggers.push(trigger),
                        None => ok = false,
                    }
                }
                ok.then_some(triggers)
            }
        }
    }

    fn event_name(&mut self, node: &Node) -> Option<Spanned<String>> {
        let name = self.plain_string(node, "an event in `on`", true)?;
        self.event_spec(name.span, &name.value)?;
        Some(name)
    }

    fn event_spec(&mut self, span: Span, name: &str) -> Option<&'static EventSpec> {
        if let Some(spec) = EVENTS.iter().find(|e| e.name == name) {
            return Some(spec);
        }
        let names: Vec<&str> = EVENTS.iter().map(|e| e.name).collect();
        let hint = closest(name, &names).map(|close| format!("did you mean `{close}`?"));
        let diagnostic = self.error(span, format!("unknown event `{name}`"));
        diagnostic.help = Some(hint.unwrap_or_else(|| {
            "see \"Events that trigger workflows\" in GitHub's documentation".to_owned()
        }));
        None
    }

    fn trigger(
        &mut self,
        spec: &EventSpec,
        event: Spanned<String>,
        node: &Node,
    ) -> Option<Trigger> {
        let mut trigger = Trigger::bare(event);
        let what = format!("`on.{}`", spec.name);
        if matches!(literal(node), Some(Lit::Null)) {
            return Some(trigger);
        }
        if spec.name == "schedule" {
            trigger.schedule = self.schedule(node)?;
            return Some(trigger);
        }
        let Some(keys) = spec.keys else {
            self.error(
                node.span,
                format!("{what} takes no configuration, found {}", node.describe()),
            )
            .help = Some(format!("write `{}:` with nothing after it", spec.name));
            return None;
        };
        let entries = self.mapping(node, &what, keys)?;
        let mut ok = true;
        for (key, _, value) in &entries {
            let item = format!("`on.{}.{key}`", spec.name);
            match key.as_ref() {
                "types" => {
                    let types = self.string_list(value, &item);
                    if let (Some(types), Some(allowed)) = (&types, spec.types) {
                        for t in types {
                            if !allowed.contains(&t.value.as_str()) {
                                ok = false;
                                let hint = closest(&t.value, allowed);
                                let diagnostic = self.error(
                                    t.span,
                                    format!(
                                        "unknown activity type `{}` for `{}`",
                                        t.value, spec.name
                                    ),
                                );
                                diagnostic.help = Some(match hint {
                                    Some(close) => format!("did you mean `{close}`?"),
                                    None => {
                                        format!("the activity types are: {}", allowed.join(", "))
                                    }
                                });
                            }
                        }
                    }
                    ok &= types.is_some();
                    trigger.types = types;
                }
                "inputs" => match self.inputs(value, spec.name == "workflow_call") {
                    Some(inputs) => trigger.inputs = inputs,
                    None => ok = false,
                },
                "outputs" => match self.call_outputs(value) {
                    Some(outputs) => trigger.outputs = outputs,
                    None => ok = false,
                },
                "secrets" => match self.call_secrets(value) {
                    Some(secrets) => trigger.secrets = secrets,
                    None => ok = false,
                },
                _ => {
                    let list = self.string_list(value, &item);
                    ok &= list.is_some();
                    let filters = &mut trigger.filters;
                    let slot = match key.as_ref() {
                        "branches" => &mut filters.branches,
                        "branches-ignore" => &mut filters.branches_ignore,
                        "tags" => &mut filters.tags,
                        "tags-ignore" => &mut filters.tags_ignore,
                        "paths" => &mut filters.paths,
                        "paths-ignore" => &mut filters.paths_ignore,
                        "workflows" => &mut filters.workflows,
                        "names" => &mut filters.names,
                        _ => &mut filters.versions,
                    };
                    *slot = list;
                }
            }
        }
        for filter in ["branches", "tags", "paths"] {
            let ignore = format!("{filter}-ignore");
            if let (Some(_), Some(second)) =
                (find_key(&entries, filter), find_key(&entries, &ignore))
            {
                ok = false;
                self.error(
                    second.span,
                    format!(
                        "`{filter}` and `{ignore}` cannot both be used for `{}`",
                        spec.name
                    ),
                )
                .help = Some(format!(
                    "to exclude some {filter} from `{filter}`, list them there with a leading `!`"
                ));
            }
        }
        ok.then_some(trigger)
    }

    fn schedule(&mut self, node: &Node) -> Option<Vec<Cron>> {
        let NodeKind::Seq(items) = &node.kind else {
            self.type_error(node, "`on.schedule`", "a sequence of `cron` entries");
            return None;
        };
        let mut crons = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(entries) = self.mapping(item, "a `schedule` entry", &["cron", "timezone"])
            else {
                ok = false;
                continue;
            };
            let timezone = match find(&entries, "timezone") {
                Some(value) => {
                    let tz = self.plain_string(value, "`timezone`", true);
                    ok &= tz.is_some();
                    tz
                }
                None => None,
            };
            let Some(cron_node) = find(&entries, "cron") else {
                self.error(item.span, "a `schedule` entry needs a `cron`");
                ok = false;
                continue;
            };
            let Some(cron) = self.plain_string(cron_node, "`cron`", true) else {
                ok = false;
                continue;
            };
            if let Err(problem) = check_cron(&cron.value) {
                self.error(
                    cron.span,
                    format!("invalid cron `{}`: {problem}", cron.value),
                )
                .help = Some(
                    "a cron has five fields: minute, hour, day of month, month, day of week"
                        .to_owned(),
                );
                ok = false;
                continue;
            }
            crons.push(Cron { cron, timezone });
        }
        ok.then_some(crons)
    }

    fn inputs(&mut self, node: &Node, call: bool) -> Option<Vec<Input>> {
        let (event, keys): (&str, &[&str]) = if call {
            (
                "workflow_call",
                &["description", "type", "required", "default"],
            )
        } else {
            (
                "workflow_dispatch",
                &["description", "type", "required", "default", "options"],
            )
        };
        if matches!(literal(node), Some(Lit::Null)) {
            return Some(Vec::new());
        }
        let entries = self.mapping(node, &format!("`on.{event}.inputs`"), &[])?;
        let mut inputs = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            let what = format!("input `{name}`");
            let Some(fields) = self.mapping(value, &what, keys) else {
                ok = false;
                continue;
            };
            let mut input = Input {
                name: Spanned::new(name.to_string(), key.span),
                description: None,
                required: false,
                kind: InputType::String,
                default: None,
            };
            let mut options = Vec::new();
            let mut choice = false;
            for (field, _, v) in &fields {
                match field.as_ref() {
                    "description" => {
                        input.description = self.plain_string(v, "`description`", false)
                    }
                    "required" => match self.plain_boolean(v, "`required`") {
                        Some(b) => input.required = b,
                        None => ok = false,
                    },
                    "type" => match self.input_type(v, event, call) {
                        Some(kind) => {
                            choice = kind == InputType::Choice(Vec::new());
                            input.kind = kind;
                        }
                        None => ok = false,
                    },
                    "options" => {
                        let NodeKind::Seq(items) = &v.kind else {
                            self.type_error(v, "`options`", "a sequence of strings");
                            ok = false;
                            continue;
                        };
                        for item in items {
                            match self.plain_string(item, "an option", false) {
                                Some(option) => options.push(option),
                                None => ok = false,
                            }
                        }
                    }
                    _ => {
                        let place = if call {
                            places::CALL_INPUT_DEFAULT
                        } else {
                            Place::none("on.workflow_dispatch.inputs.<input_id>.default")
                        };
                        input.default =
                            self.scalar_value(v, "`default`", place, JobScope::default());
                        ok &= input.default.is_some();
                    }
                }
            }
            if choice {
                input.kind = InputType::Choice(options);
            }
            if call && find(&fields, "type").is_none() {
                ok = false;
                self.error(
                    key.span,
                    format!("{what} of `workflow_call` needs a `type`"),
                )
                .help = Some("add `type: string`, `type: boolean` or `type: number`".to_owned());
            }
            inputs.push(input);
        }
        ok.then_some(inputs)
    }

    /// The `type` of an input (`choice` with its options still empty).
    fn input_type(&mut self, node: &Node, event: &str, call: bool) -> Option<InputType> {
        let allowed: &[&str] = if call {
            &["string", "boolean", "number"]
        } else {
            &["string", "boolean", "number", "choice", "environment"]
        };
        let kind = self.plain_string(node, "`type`", true)?;
        Some(match kind.value.as_str() {
            "string" => InputType::String,
            "boolean" => InputType::Boolean,
            "number" => InputType::Number,
            "choice" if !call => InputType::Choice(Vec::new()),
            "environment" if !call => InputType::Environment,
            found => {
                let allowed: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                let allowed = allowed.join(", ");
                self.error(
                    kind.span,
                    format!(
                        "the type of a `{event}` input must be one of {allowed}, found `{found}`"
                    ),
                );
                return None;
            }
        })
    }

    fn call_outputs(&mut self, node: &Node) -> Option<Vec<CallOutput>> {
        let entries = self.mapping(node, "`on.workflow_call.outputs`", &[])?;
        let mut outputs = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            let what = format!("output `{name}`");
            let Some(fields) = self.mapping(value, &what, &["description", "value"]) else {
                ok = false;
                continue;
            };
            let description = find(&fields, "description")
                .and_then(|d| self.plain_string(d, "`description`", false));
            let Some(value_node) = find(&fields, "value") else {
                self.error(
                    key.span,
                    format!("{what} of `workflow_call` needs a `value`"),
                );
                ok = false;
                continue;
            };
            match self.template(
                value_node,
                "`value`",
                places::CALL_OUTPUT_VALUE,
                JobScope::default(),
            ) {
                Some(value) => outputs.push(CallOutput {
                    name: Spanned::new(name.into_owned(), key.span),
                    description,
                    value,
                }),
                None => ok = false,
            }
        }
        ok.then_some(outputs)
    }

    fn call_secrets(&mut self, node: &Node) -> Option<Vec<CallSecret>> {
        if matches!(literal(node), Some(Lit::Null)) {
            return Some(Vec::new());
        }
        let entries = self.mapping(node, "`on.workflow_call.secrets`", &[])?;
        let mut secrets = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            let mut secret = CallSecret {
                name: Spanned::new(name.to_string(), key.span),
                description: None,
                required: false,
            };
            if !matches!(literal(value), Some(Lit::Null)) {
                let what = format!("secret `{name}`");
                let Some(fields) = self.mapping(value, &what, &["description", "required"]) else {
                    ok = false;
                    continue;
                };
                if let Some(d) = find(&fields, "description") {
                    secret.description = self.plain_string(d, "`description`", false);
                }
                if let Some(r) = find(&fields, "required") {
                    match self.plain_boolean(r, "`required`") {
                        Some(b) => secret.required = b,
                        None => ok = false,
                    }
                }
            }
            secrets.push(secret);
        }
        ok.then_some(secrets)
    }

    // -----------------------------------------------------------------------------------------
    // Jobs

    fn jobs(&mut self, node: &Node) -> Option<Vec<Job>> {
        let entries = self.mapping(node, "`jobs`", &[])?;
        let mut jobs = Vec::with_capacity(entries.len());
        let mut ok = true;
        let ids: Vec<&str> = entries.iter().map(|(id, _, _)| id.as_ref()).collect();
        for (id, key, value) in &entries {
            match self.job(Spanned::new(id.to_string(), key.span), value, &ids) {
                Some(job) => jobs.push(job),
                None => ok = false,
            }
        }
        let cycles_ok = self.check_cycles(&entries);
        (ok && cycles_ok).then_some(jobs)
    }

    /// Reports every dependency cycle of `needs` once, naming it (`a -> b -> a`).
    fn check_cycles(&mut self, entries: &Entries<'_>) -> bool {
        let index: HashMap<&str, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (id.as_ref(), i))
            .collect();
        // Edges: job → (needed job, the node naming it).
        let edges: Vec<Vec<(usize, &Node)>> = entries
            .iter()
            .map(|(_, _, job)| {
                needs_nodes(job)
                    .into_iter()
                    .filter_map(|n| {
                        let name = literal(n).map(literal_text)?;
                        index.get(name.as_str()).map(|&i| (i, n))
                    })
                    .collect()
            })
            .collect();
        let mut state = vec![0u8; entries.len()]; // 0 new, 1 on the stack, 2 done
        let mut reported: HashSet<Vec<usize>> = HashSet::new();
        let mut cycles = Vec::new();
        for start in 0..entries.len() {
            if state[start] != 0 {
                continue;
            }
            // Iterative depth-first search: (job, next edge).
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (job, ref mut next)) = stack.last_mut() {
                if let Some(&(target, node)) = edges[job].get(*next) {
                    *next += 1;
                    match state[target] {
                        0 => {
                            state[target] = 1;
                            stack.push((target, 0));
                        }
                        1 => {
                            let from = stack.iter().position(|(j, _)| *j == target).unwrap_or(0);
                            let members: Vec<usize> =
                                stack[from..].iter().map(|(j, _)| *j).collect();
                            let mut key = members.clone();
                            key.sort_unstable();
                            if reported.insert(key) {
                                cycles.push((members, node.span));
                            }
                        }
                        _ => {}
                    }
                } else {
                    state[job] = 2;
                    stack.pop();
                }
            }
        }
        for (members, span) in &cycles {
            let mut names: Vec<&str> = members.iter().map(|&i| entries[i].0.as_ref()).collect();
            names.push(names[0]);
            self.error(
                *span,
                format!("`needs` forms a cycle: {}", names.join(" -> ")),
            )
            .help = Some("a job cannot wait, directly or through others, for itself".to_owned());
        }
        cycles.is_empty()
    }

    fn job(&mut self, id: Spanned<String>, node: &Node, ids: &[&str]) -> Option<Job> {
        let mut ok = true;
        if !is_identifier(&id.value) {
            ok = false;
            self.error(id.span, format!("invalid job id `{}`", id.value))
                .help = Some(
                "a job id must start with a letter or `_` and contain only letters, digits, `-` \
                 and `_`"
                    .to_owned(),
            );
        } else if id.value.len() > 100 {
            ok = false;
            self.error(id.span, "a job id must be shorter than 100 characters");
        }
        let what = format!("job `{}`", id.value);
        let entries = self.mapping(node, &what, JOB_KEYS)?;
        let is_call = find_key(&entries, "uses").is_some();
        let (own, other): (&[&str], &str) = if is_call {
            (
                CALL_JOB_KEYS,
                "a job that calls a reusable workflow (`uses`)",
            )
        } else {
            (RUNNER_JOB_KEYS, "a job that runs steps")
        };
        for (key, key_node, _) in &entries {
            if !own.contains(&key.as_ref()) {
                ok = false;
                self.error(key_node.span, format!("`{key}` cannot be used in {other}"))
                    .help = Some(if is_call {
                    "a job either calls a reusable workflow with `uses` or runs `steps` on \
                     `runs-on`"
                        .to_owned()
                } else {
                    format!(
                        "`{key}` is only valid in a job that calls a reusable workflow with `uses`"
                    )
                });
            }
        }

        // The strategy first: whether there is a matrix decides whether `matrix` is available.
        let mut strategy = None;
        if let Some(value) = find(&entries, "strategy") {
            strategy = self.strategy(value);
            ok &= strategy.is_some();
        }
        let scope = JobScope {
            has_matrix: strategy.as_ref().is_some_and(|s| s.matrix.is_some()),
        };

        let mut name = None;
        let mut needs = Vec::new();
        let mut condition = None;
        let mut permissions = None;
        let mut concurrency = None;
        let mut runs_on = None;
        let mut environment = None;
        let mut env = Env::default();
        let mut defaults = None;
        let mut outputs = Vec::new();
        let mut timeout_minutes = None;
        let mut cancel_timeout_minutes = None;
        let mut continue_on_error = None;
        let mut container = None;
        let mut services = Vec::new();
        let mut snapshot = None;
        let mut steps = None;
        let mut uses = None;
        let mut with = Vec::new();
        let mut secrets = None;
        for (key, key_node, value) in &entries {
            let item = format!("`{key}`");
            let read_ok = match key.as_ref() {
                "strategy" => true,
                "name" => {
                    name = self.template(value, &item, places::JOB_NAME, scope);
                    name.is_some()
                }
                "needs" => match self.string_list(value, "`needs`") {
                    Some(list) => {
                        let fine = self.check_needs(&id.value, &list, ids);
                        needs = list;
                        fine
                    }
                    None => false,
                },
                "if" => {
                    condition = self.condition(value, "`if`", places::JOB_IF, scope);
                    condition.is_some()
                }
                "permissions" => {
                    permissions = self.permissions(value, "`permissions`");
                    permissions.is_some()
                }
                "concurrency" => {
                    concurrency = self.concurrency(
                        value,
                        "`concurrency`",
                        places::JOB_CONCURRENCY,
                        scope,
                        true,
                    );
                    concurrency.is_some()
                }
                "runs-on" => {
                    runs_on = self.runs_on(value, scope);
                    runs_on.is_some()
                }
                "environment" => {
                    environment = self.environment(value, scope);
                    environment.is_some()
                }
                "env" => match self.env(value, "`env`", places::JOB_ENV, scope) {
                    Some(vars) => {
                        env = vars;
                        true
                    }
                    None => false,
                },
                "defaults" => {
                    match self.defaults(value, "`defaults`", places::JOB_DEFAULTS_RUN, scope) {
                        Some(d) => {
                            defaults = d;
                            true
                        }
                        None => false,
                    }
                }
                "outputs" => {
                    match self.template_map(value, "`outputs`", places::JOB_OUTPUTS, scope) {
                        Some(map) => {
                            outputs = map;
                            true
                        }
                        None => false,
                    }
                }
                "timeout-minutes" => {
                    timeout_minutes = self.number(value, &item, places::JOB_TIMEOUT_MINUTES, scope);
                    timeout_minutes.is_some()
                }
                "cancel-timeout-minutes" => {
                    cancel_timeout_minutes =
                        self.number(value, &item, places::JOB_TIMEOUT_MINUTES, scope);
                    cancel_timeout_minutes.is_some()
                }
                "continue-on-error" => {
                    continue_on_error =
                        self.boolean(value, &item, places::JOB_CONTINUE_ON_ERROR, scope);
                    continue_on_error.is_some()
                }
                "container" => {
                    container = self.container(value, "`container`", false, scope);
                    container.is_some()
                }
                "services" => {
                    self.warning(
                        key_node.span,
                        "service containers are not supported by sandpit yet",
                    )
                    .help = Some("the job's steps will run, but without these services".to_owned());
                    match self.services(value, scope) {
                        Some(s) => {
                            services = s;
                            true
                        }
                        None => false,
                    }
                }
                "snapshot" => {
                    snapshot = self.snapshot(value, scope);
                    if snapshot.is_some() {
                        self.warning(key_node.span, "`snapshot` is ignored by sandpit")
                            .help = Some(
                            "custom runner images are a GitHub-hosted runner feature".to_owned(),
                        );
                    }
                    snapshot.is_some()
                }
                "steps" => {
                    steps = self.steps(value, &JOB_STEPS, scope);
                    steps.is_some()
                }
                "uses" => {
                    uses = self.workflow_ref(value);
                    if let Some(uses) = &uses {
                        self.warning(uses.span, "reusable workflows are not run by sandpit yet")
                            .help = Some(
                            "the call is checked and planned, but its jobs will not run here"
                                .to_owned(),
                        );
                    }
                    uses.is_some()
                }
                "with" => match self.call_with(value, scope) {
                    Some(w) => {
                        with = w;
                        true
                    }
                    None => false,
                },
                "secrets" => {
                    secrets = self.job_secrets(value, scope);
                    secrets.is_some()
                }
                _ => true,
            };
            ok &= read_ok;
        }

        let kind = if is_call {
            JobKind::Call(Box::new(WorkflowCall {
                uses: uses?,
                with,
                secrets,
            }))
        } else {
            if find(&entries, "runs-on").is_none() {
                ok = false;
                self.error(id.span, format!("job `{}` has no `runs-on`", id.value))
                    .help = Some("say where it runs, e.g. `runs-on: ubuntu-latest`".to_owned());
            }
            match find(&entries, "steps") {
                None => {
                    ok = false;
                    self.error(id.span, format!("job `{}` has no `steps`", id.value));
                }
                Some(node) if matches!(&node.kind, NodeKind::Seq(items) if items.is_empty()) => {
                    ok = false;
                    self.error(node.span, format!("job `{}` has no steps", id.value));
                }
                Some(_) => {}
            }
            JobKind::Steps(Box::new(StepsJob {
                runs_on: runs_on?,
                environment,
                env,
                defaults,
                outputs,
                timeout_minutes,
                cancel_timeout_minutes,
                continue_on_error,
                container,
                services,
                snapshot,
                steps: steps?,
            }))
        };
        ok.then_some(Job {
            id,
            span: node.span,
            name,
            needs,
            condition,
            strategy,
            permissions,
            concurrency,
            kind,
        })
    }

    /// Reports each entry of `needs` that names no job of the workflow.
    fn check_needs(&mut self, job: &str, needs: &[Spanned<String>], ids: &[&str]) -> bool {
        let mut ok = true;
        for need in needs {
            if ids.contains(&need.value.as_str()) {
                continue;
            }
            ok = false;
            let hint = closest(&need.value, ids).map(|c| format!("did you mean `{c}`?"));
            let need_id = &need.value;
            self.error(
                need.span,
                format!("job `{job}` needs `{need_id}`, which is not a job in this workflow"),
            )
            .help = hint;
        }
        ok
    }

    fn runs_on(&mut self, node: &Node, scope: JobScope) -> Option<RunsOn> {
        let place = places::JOB_RUNS_ON;
        match &node.kind {
            NodeKind::Scalar(_) => {
                let label = self.template(node, "`runs-on`", place, scope)?;
                if label.text.is_empty() {
                    self.error(node.span, "`runs-on` must not be empty");
                    return None;
                }
                if label.is_single_expr() {
                    return Some(RunsOn::Expr(label));
                }
                Some(RunsOn::Labels(vec![label]))
            }
            NodeKind::Seq(_) => Some(RunsOn::Labels(self.labels(node, "`runs-on`", scope)?)),
            NodeKind::Map(_) => {
                let entries = self.mapping(node, "`runs-on`", &["group", "labels"])?;
                let mut group = None;
                let mut labels = Vec::new();
                let mut ok = true;
                for (key, _, value) in &entries {
                    if key == "group" {
                        group = self.template(value, "`runs-on.group`", place, scope);
                        if group.as_ref().is_some_and(|g| g.text.is_empty()) {
                            self.error(value.span, "`runs-on.group` must not be empty");
                            group = None;
                        }
                        ok &= group.is_some();
                    } else {
                        match self.labels(value, "`runs-on.labels`", scope) {
                            Some(l) => labels = l,
                            None => ok = false,
                        }
                    }
                }
                ok.then_some(RunsOn::Group { group, labels })
            }
        }
    }

    fn labels(&mut self, node: &Node, what: &str, scope: JobScope) -> Option<Vec<TemplateString>> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar(_) => vec![node],
            NodeKind::Map(_) => {
                self.type_error(node, what, "a string or a sequence of strings");
                return None;
            }
        };
        let mut labels = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.template(
                item,
                &format!("a label of {what}"),
                places::JOB_RUNS_ON,
                scope,
            ) {
                Some(label) if label.text.is_empty() => {
                    ok = false;
                    self.error(item.span, format!("a label of {what} must not be empty"));
                }
                Some(label) => labels.push(label),
                None => ok = false,
            }
        }
        ok.then_some(labels)
    }

    fn environment(&mut self, node: &Node, scope: JobScope) -> Option<Environment> {
        let place = places::JOB_ENVIRONMENT;
        if literal(node).is_some() {
            return Some(Environment {
                name: self.template(node, "`environment`", place, scope)?,
                url: None,
                deployment: None,
            });
        }
        let entries = self.mapping(node, "`environment`", &["name", "url", "deployment"])?;
        let mut name = None;
        let mut url = None;
        let mut deployment = None;
        let mut ok = true;
        for (key, _, value) in &entries {
            match key.as_ref() {
                "name" => {
                    name = self.template(value, "`environment.name`", place, scope);
                    ok &= name.is_some();
                }
                "url" => {
                    url = self.template(
                        value,
                        "`environment.url`",
                        places::JOB_ENVIRONMENT_URL,
                        scope,
                    );
                    ok &= url.is_some();
                }
                _ => {
                    deployment = self.boolean(value, "`environment.deployment`", place, scope);
                    ok &= deployment.is_some();
                }
            }
        }
        if find(&entries, "name").is_none() {
            self.error(node.span, "`environment` needs a `name`");
            return None;
        }
        ok.then_some(Environment {
            name: name?,
            url,
            deployment,
        })
    }

    fn container(
        &mut self,
        node: &Node,
        what: &str,
        service: bool,
        scope: JobScope,
    ) -> Option<Container> {
        let (place, credentials_place, env_place) = if service {
            (
                places::JOB_SERVICES,
                places::JOB_SERVICE_CREDENTIALS,
                places::JOB_SERVICE_ENV,
            )
        } else {
            (
                places::JOB_CONTAINER,
                places::JOB_CONTAINER_CREDENTIALS,
                places::JOB_CONTAINER_ENV,
            )
        };
        let mut container = Container {
            image: None,
            credentials: None,
            env: Env::default(),
            ports: Vec::new(),
            volumes: Vec::new(),
            options: None,
            entrypoint: None,
            command: None,
            span: node.span,
        };
        if literal(node).is_some() {
            let image = self.template(node, what, place, scope)?;
            if service && image.text.is_empty() {
                self.error(node.span, format!("{what} must not be empty"));
                return None;
            }
            container.image = Some(image);
            return Some(container);
        }
        let keys: &[&str] = if service {
            &[
                "image",
                "credentials",
                "env",
                "ports",
                "volumes",
                "options",
                "entrypoint",
                "command",
            ]
        } else {
            &["image", "credentials", "env", "ports", "volumes", "options"]
        };
        let entries = self.mapping(node, what, keys)?;
        let mut ok = true;
        for (key, _, value) in &entries {
            let item = format!("`{key}` of {what}");
            match key.as_ref() {
                "image" => {
                    container.image = self.template(value, &item, place, scope);
                    if container.image.as_ref().is_some_and(|i| i.text.is_empty()) {
                        self.error(value.span, format!("{item} must not be empty"));
                        container.image = None;
                    }
                    ok &= container.image.is_some();
                }
                "credentials" => {
                    let Some(fields) = self.mapping(value, &item, &["username", "password"]) else {
                        ok = false;
                        continue;
                    };
                    let mut credentials = Credentials {
                        username: None,
                        password: None,
                    };
                    for (field, _, v) in &fields {
                        let read =
                            self.template(v, &format!("`{field}`"), credentials_place, scope);
                        ok &= read.is_some();
                        if field == "username" {
                            credentials.username = read;
                        } else {
                            credentials.password = read;
                        }
                    }
                    container.credentials = Some(credentials);
                }
                "env" => match self.env(value, &item, env_place, scope) {
                    Some(env) => container.env = env,
                    None => ok = false,
                },
                "ports" | "volumes" => {
                    let NodeKind::Seq(items) = &value.kind else {
                        self.type_error(value, &item, "a sequence of strings");
                        ok = false;
                        continue;
                    };
                    let mut list = Vec::with_capacity(items.len());
                    for entry in items {
                        match self.template(entry, &format!("an item of {item}"), place, scope) {
                            Some(t) if t.text.is_empty() => {
                                ok = false;
                                self.error(
                                    entry.span,
                                    format!("an item of {item} must not be empty"),
                                );
                            }
                            Some(t) => list.push(t),
                            None => ok = false,
                        }
                    }
                    if key == "ports" {
                        container.ports = list;
                    } else {
                        container.volumes = list;
                    }
                }
                "options" => {
                    container.options = self.template(value, &item, place, scope);
                    ok &= container.options.is_some();
                }
                "entrypoint" => {
                    container.entrypoint = self.template(value, &item, place, scope);
                    ok &= container.entrypoint.is_some();
                }
                _ => {
                    container.command = self.template(value, &item, place, scope);
                    ok &= container.command.is_some();
                }
            }
        }
        ok.then_some(container)
    }

    fn services(&mut self, node: &Node, scope: JobScope) -> Option<Vec<Service>> {
        let entries = self.mapping(node, "`services`", &[])?;
        let mut services = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (id, key, value) in entries {
            let what = format!("service `{id}`");
            match self.container(value, &what, true, scope) {
                Some(container) => services.push(Service {
                    id: Spanned::new(id.into_owned(), key.span),
                    container,
                }),
                None => ok = false,
            }
        }
        ok.then_some(services)
    }

    fn snapshot(&mut self, node: &Node, scope: JobScope) -> Option<Snapshot> {
        if literal(node).is_some() {
            return Some(Snapshot {
                image_name: self.plain_string(node, "`snapshot`", true)?,
                version: None,
                condition: None,
            });
        }
        let entries = self.mapping(node, "`snapshot`", &["image-name", "version", "if"])?;
        let mut image_name = None;
        let mut version = None;
        let mut condition = None;
        let mut ok = true;
        for (key, _, value) in &entries {
            match key.as_ref() {
                "image-name" => {
                    image_name = self.plain_string(value, "`image-name`", true);
                    ok &= image_name.is_some();
                }
                "version" => {
                    version = self.plain_string(value, "`version`", true);
                    ok &= version.is_some();
                }
                _ => {
                    condition = self.condition(value, "`if`", places::JOB_SNAPSHOT_IF, scope);
                    ok &= condition.is_some();
                }
            }
        }
        if find(&entries, "image-name").is_none() {
            self.error(node.span, "`snapshot` needs an `image-name`");
            return None;
        }
        ok.then_some(Snapshot {
            image_name: image_name?,
            version,
            condition,
        })
    }

    fn strategy(&mut self, node: &Node) -> Option<Strategy> {
        let place = places::JOB_STRATEGY;
        let scope = JobScope::default();
        if let Some(Lit::Str(s)) = literal(node) {
            if contains_expression(s) {
                // `strategy: ${{ … }}`: the whole strategy comes from an expression.
                let template = self.template(node, "`strategy`", place, scope)?;
                return Some(Strategy {
                    matrix: Some(Matrix::Dynamic {
                        value: Value::String(template.text.clone()),
                        expressions: vec![template],
                        span: node.span,
                    }),
                    fail_fast: None,
                    max_parallel: None,
                    span: node.span,
                });
            }
        }
        let entries = self.mapping(node, "`strategy`", &["matrix", "fail-fast", "max-parallel"])?;
        let mut strategy = Strategy {
            matrix: None,
            fail_fast: None,
            max_parallel: None,
            span: node.span,
        };
        let mut ok = true;
        for (key, _, value) in &entries {
            match key.as_ref() {
                "matrix" => {
                    strategy.matrix = self.matrix(value);
                    ok &= strategy.matrix.is_some();
                }
                "fail-fast" => {
                    strategy.fail_fast = self.boolean(value, "`fail-fast`", place, scope);
                    ok &= strategy.fail_fast.is_some();
                }
                _ => {
                    strategy.max_parallel = self.number(value, "`max-parallel`", place, scope);
                    ok &= strategy.max_parallel.is_some();
                }
            }
        }
        ok.then_some(strategy)
    }

    fn matrix(&mut self, node: &Node) -> Option<Matrix> {
        let place = places::JOB_STRATEGY;
        let scope = JobScope::default();
        if let Some(Lit::Str(s)) = literal(node) {
            if contains_expression(s) {
                let template = self.template(node, "`matrix`", place, scope)?;
                return Some(Matrix::Dynamic {
                    value: Value::String(template.text.clone()),
                    expressions: vec![template],
                    span: node.span,
                });
            }
        }
        let entries = self.mapping(node, "`matrix`", &[])?;
        // Every expression anywhere in the matrix is checked; an expression that stands for an
        // axis, `include`, `exclude` or one of their entries makes the matrix dynamic.
        let mut expressions = Vec::new();
        let mut ok = self.matrix_expressions(node, &mut expressions);
        let whole = |n: &Node| matches!(literal(n), Some(Lit::Str(s)) if contains_expression(s));
        let mut dynamic = false;
        let mut spec = MatrixSpec::default();
        let mut axis_spans = Vec::new();
        for (key, key_node, value) in &entries {
            match key.as_ref() {
                "include" | "exclude" => {
                    if whole(value) {
                        dynamic = true;
                        continue;
                    }
                    let NodeKind::Seq(items) = &value.kind else {
                        self.type_error(
                            value,
                            &format!("`matrix.{key}`"),
                            "a sequence of mappings",
                        );
                        ok = false;
                        continue;
                    };
                    let mut list = Vec::with_capacity(items.len());
                    for item in items {
                        if whole(item) {
                            dynamic = true;
                            continue;
                        }
                        let Some(fields) =
                            self.mapping(item, &format!("an entry of `matrix.{key}`"), &[])
                        else {
                            ok = false;
                            continue;
                        };
                        list.push(
                            fields
                                .iter()
                                .map(|(k, _, v)| (k.to_string(), to_value(v)))
                                .collect(),
                        );
                    }
                    if key == "include" {
                        spec.include = list;
                    } else {
                        spec.exclude = list;
                    }
                }
                _ => {
                    if whole(value) {
                        dynamic = true;
                        continue;
                    }
                    let NodeKind::Seq(items) = &value.kind else {
                        self.type_error(value, &format!("matrix axis `{key}`"), "a sequence");
                        ok = false;
                        continue;
                    };
                    spec.axes
                        .push((key.to_string(), items.iter().map(to_value).collect()));
                    axis_spans.push(key_node.span);
                }
            }
        }
        if !ok {
            return None;
        }
        if dynamic {
            return Some(Matrix::Dynamic {
                value: to_value(node),
                expressions,
                span: node.span,
            });
        }
        if let Err(error) = matrix::expand(&spec) {
            let span = match &error {
                MatrixError::EmptyAxis { key } => spec
                    .axes
                    .iter()
                    .position(|(k, _)| k == key)
                    .map_or(node.span, |i| axis_spans[i]),
                MatrixError::EmptyExclude { index }
                | MatrixError::UnknownExcludeKey { index, .. } => {
                    entry_span(find(&entries, "exclude"), *index).unwrap_or(node.span)
                }
                MatrixError::EmptyInclude { index } => {
                    entry_span(find(&entries, "include"), *index).unwrap_or(node.span)
                }
                _ => node.span,
            };
            let message = match &error {
                MatrixError::Empty => format!("empty matrix: {error}"),
                _ => error.to_string(),
            };
            self.error(span, message);
            return None;
        }
        Some(Matrix::Static(Spanned::new(spec, node.span)))
    }

    /// Checks every expression string in a matrix; collects them in file order.
    fn matrix_expressions(&mut self, node: &Node, out: &mut Vec<TemplateString>) -> bool {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut ok = true;
                for item in items {
                    ok &= self.matrix_expressions(item, out);
                }
                ok
            }
            NodeKind::Map(entries) => {
                let mut ok = true;
                for (_, value) in entries {
                    ok &= self.matrix_expressions(value, out);
                }
                ok
            }
            NodeKind::Scalar(_) => match literal(node) {
                Some(Lit::Str(s)) if contains_expression(s) => {
                    match self.template(
                        node,
                        "a matrix value",
                        places::JOB_STRATEGY,
                        JobScope::default(),
                    ) {
                        Some(t) => {
                            out.push(t);
                            true
                        }
                        None => false,
                    }
                }
                _ => true,
            },
        }
    }

    /// `jobs.<id>.uses`: a reusable workflow.
    fn workflow_ref(&mut self, node: &Node) -> Option<Spanned<String>> {
        let uses = self.plain_string(node, "`uses`", true)?;
        let valid = if let Some(path) = uses.value.strip_prefix("./") {
            !path.is_empty() && !path.contains('@')
        } else {
            uses.value
                .rsplit_once('@')
                .is_some_and(|(location, git_ref)| {
                    let parts: Vec<&str> = location.splitn(3, '/').collect();
                    !git_ref.is_empty() && parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
                })
        };
        if !valid {
            self.error(
                uses.span,
                format!("invalid reusable workflow reference `{}`", uses.value),
            )
            .help = Some(
                "use `./.github/workflows/<file>.yml` or \
                 `<owner>/<repo>/.github/workflows/<file>.yml@<ref>`"
                    .to_owned(),
            );
            return None;
        }
        Some(uses)
    }

    fn call_with(
        &mut self,
        node: &Node,
        scope: JobScope,
    ) -> Option<Vec<(Spanned<String>, MaybeExpr<Value>)>> {
        let entries = self.mapping(node, "`with`", &[])?;
        let mut with = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, key, value) in entries {
            match self.scalar_value(value, &format!("input `{name}`"), places::JOB_WITH, scope) {
                Some(v) => with.push((Spanned::new(name.into_owned(), key.span), v)),
                None => ok = false,
            }
        }
        ok.then_some(with)
    }

    fn job_secrets(&mut self, node: &Node, scope: JobScope) -> Option<CallSecrets> {
        if let Some(Lit::Str(s)) = literal(node) {
            if s == "inherit" {
                return Some(CallSecrets::Inherit(node.span));
            }
            self.error(
                node.span,
                format!("`secrets` must be `inherit` or a mapping, found `{s}`"),
            );
            return None;
        }
        self.template_map(node, "`secrets`", places::JOB_SECRETS, scope)
            .map(CallSecrets::Map)
    }

    // -----------------------------------------------------------------------------------------
    // Steps

    pub(super) fn steps(
        &mut self,
        node: &Node,
        rules: &StepRules,
        scope: JobScope,
    ) -> Option<Vec<Step>> {
        let NodeKind::Seq(items) = &node.kind else {
            self.type_error(node, "`steps`", "a sequence");
            return None;
        };
        let mut ids = Vec::new();
        self.step_list(items, rules, scope, &mut ids)
    }

    fn step_list(
        &mut self,
        items: &[Node],
        rules: &StepRules,
        scope: JobScope,
        ids: &mut Vec<Spanned<String>>,
    ) -> Option<Vec<Step>> {
        let mut steps = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.step(item, rules, scope, ids) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn step(
        &mut self,
        node: &Node,
        rules: &StepRules,
        scope: JobScope,
        ids: &mut Vec<Spanned<String>>,
    ) -> Option<Step> {
        let entries = self.mapping(node, "a step", rules.keys)?;
        let mut ok = true;
        let start = Span::point(node.span.start);

        // What the step does decides which other keys it may have.
        let actions: Vec<&str> = ["run", "uses", "wait", "wait-all", "cancel", "parallel"]
            .into_iter()
            .filter(|k| find(&entries, k).is_some())
            .collect();
        let action = match actions.as_slice() {
            [] => {
                self.error(start, "a step needs `run` or `uses`").help =
                    Some("`run` runs a script, `uses` runs an action".to_owned());
                return None;
            }
            ["run", "uses"] => {
                let span = find_key(&entries, "uses").map_or(start, |k| k.span);
                self.error(span, "a step cannot have both `run` and `uses`")
                    .help = Some("split it into two steps".to_owned());
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                let span = find_key(&entries, second).map_or(start, |k| k.span);
                self.error(
                    span,
                    format!("a step cannot have both `{first}` and `{second}`"),
                );
                return None;
            }
        };
        let allowed: &[&str] = match action {
            "run" => &[
                "id",
                "name",
                "if",
                "run",
                "shell",
                "working-directory",
                "env",
                "continue-on-error",
                "timeout-minutes",
                "background",
            ],
            "uses" => &[
                "id",
                "name",
                "if",
                "uses",
                "with",
                "env",
                "continue-on-error",
                "timeout-minutes",
                "background",
            ],
            "parallel" => &[
                "id",
                "name",
                "if",
                "env",
                "continue-on-error",
                "timeout-minutes",
                "parallel",
            ],
            "wait" => &["id", "name", "continue-on-error", "wait"],
            "wait-all" => &["id", "name", "continue-on-error", "wait-all"],
            _ => &["id", "name", "continue-on-error", "cancel"],
        };
        for (key, key_node, _) in &entries {
            if !allowed.contains(&key.as_ref()) {
                ok = false;
                let message = match key.as_ref() {
                    "with" => "`with` can only be used in a step that `uses` an action".to_owned(),
                    "shell" | "working-directory" => {
                        format!("`{key}` can only be used in a step that has `run`")
                    }
                    _ => format!("`{key}` cannot be used in a step with `{action}`"),
                };
                self.error(key_node.span, message);
            }
        }
        if action == "run" && rules.shell_required && find(&entries, "shell").is_none() {
            ok = false;
            self.error(start, "a `run` step of a composite action needs a `shell`")
                .help =
                Some("add `shell: bash` (composite actions have no default shell)".to_owned());
        }

        let mut step = Step {
            span: node.span,
            id: None,
            name: None,
            condition: None,
            action: StepAction::WaitAll,
            env: Env::default(),
            continue_on_error: None,
            timeout_minutes: None,
            background: None,
        };
        let mut run = None;
        let mut shell = None;
        let mut working_directory = None;
        let mut uses = None;
        let mut with = Vec::new();
        let mut action_value = None;
        for (key, key_node, value) in &entries {
            if !allowed.contains(&key.as_ref()) {
                continue;
            }
            let item = format!("`{key}`");
            let read_ok = match key.as_ref() {
                "id" => {
                    step.id = self.step_id(value, ids);
                    step.id.is_some()
                }
                "name" => {
                    step.name = self.template(value, &item, rules.name, scope);
                    step.name.is_some()
                }
                "if" => {
                    step.condition = self.condition(value, &item, rules.condition, scope);
                    step.condition.is_some()
                }
                "run" => {
                    run = self.template(value, &item, rules.run, scope);
                    if run.as_ref().is_some_and(|r| r.text.trim().is_empty()) {
                        self.error(value.span, "`run` must not be empty");
                        run = None;
                    }
                    run.is_some()
                }
                "shell" => {
                    shell = self.plain_string(value, &item, true);
                    shell.is_some()
                }
                "working-directory" => {
                    working_directory = self.template(value, &item, rules.working_directory, scope);
                    if working_directory
                        .as_ref()
                        .is_some_and(|w| w.text.is_empty())
                    {
                        self.error(value.span, "`working-directory` must not be empty");
                        working_directory = None;
                    }
                    working_directory.is_some()
                }
                "uses" => {
                    uses = self.action_ref(value);
                    uses.is_some()
                }
                "with" => match self.template_map(value, &item, rules.with, scope) {
                    Some(w) => {
                        with = w;
                        true
                    }
                    None => false,
                },
                "env" => match self.env(value, &item, rules.env, scope) {
                    Some(env) => {
                        step.env = env;
                        true
                    }
                    None => false,
                },
                "continue-on-error" => {
                    step.continue_on_error =
                        self.boolean(value, &item, rules.continue_on_error, scope);
                    step.continue_on_error.is_some()
                }
                "timeout-minutes" => {
                    step.timeout_minutes = self.number(value, &item, rules.timeout_minutes, scope);
                    step.timeout_minutes.is_some()
                }
                "background" => match self.plain_boolean(value, &item) {
                    Some(b) => {
                        step.background = Some(Spanned::new(b, value.span));
                        if b {
                            self.warning(
                                key_node.span,
                                "background steps are not supported by sandpit yet",
                            )
                            .help = Some("the step will run in the foreground".to_owned());
                        }
                        true
                    }
                    None => false,
                },
                "wait" => match self.string_list(value, &item) {
                    Some(list) => {
                        action_value = Some(StepAction::Wait(list));
                        true
                    }
                    None => false,
                },
                "wait-all" => {
                    let fine = matches!(literal(value), Some(Lit::Null | Lit::Bool(_)));
                    if fine {
                        action_value = Some(StepAction::WaitAll);
                    } else {
                        self.type_error(value, &item, "null or a boolean");
                    }
                    fine
                }
                "cancel" => match self.plain_string(value, &item, true) {
                    Some(target) => {
                        action_value = Some(StepAction::Cancel(target));
                        true
                    }
                    None => false,
                },
                "parallel" => {
                    if let NodeKind::Seq(items) = &value.kind {
                        let steps = self.step_list(items, rules, scope, ids);
                        let fine = steps.is_some();
                        if let Some(steps) = steps {
                            action_value = Some(StepAction::Parallel(steps));
                        }
                        fine
                    } else {
                        self.type_error(value, &item, "a sequence of steps");
                        false
                    }
                }
                _ => true,
            };
            if matches!(key.as_ref(), "wait" | "wait-all" | "cancel" | "parallel") {
                self.warning(
                    key_node.span,
                    format!("`{key}` steps are not supported by sandpit yet"),
                );
            }
            ok &= read_ok;
        }
        step.action = match action {
            "run" => StepAction::Run {
                run: run?,
                shell,
                working_directory,
            },
            "uses" => StepAction::Uses { uses: uses?, with },
            _ => action_value?,
        };
        ok.then_some(step)
    }

    fn step_id(&mut self, node: &Node, ids: &mut Vec<Spanned<String>>) -> Option<Spanned<String>> {
        let id = self.plain_string(node, "`id`", true)?;
        if !is_identifier(&id.value) || id.value.len() >= 100 {
            self.error(id.span, format!("invalid step id `{}`", id.value))
                .help = Some(
                "a step id must start with a letter or `_`, contain only letters, digits, `-` and \
                 `_`, and be shorter than 100 characters"
                    .to_owned(),
            );
            return None;
        }
        if id.value.starts_with("__") {
            self.error(
                id.span,
                format!(
                    "invalid step id `{}`: ids starting with `__` are reserved",
                    id.value
                ),
            );
            return None;
        }
        if let Some(first) = ids
            .iter()
            .find(|seen| seen.value.eq_ignore_ascii_case(&id.value))
        {
            let first = first.span;
            self.error(
                id.span,
                format!("step id `{}` is used more than once", id.value),
            )
            .notes
            .push((first, "first used here".to_owned()));
            return None;
        }
        ids.push(id.clone());
        Some(id)
    }

    fn action_ref(&mut self, node: &Node) -> Option<Spanned<ActionRef>> {
        let uses = self.plain_string(node, "`uses`", true)?;
        let Some(action) = ActionRef::parse(&uses.value) else {
            self.error(
                uses.span,
                format!("invalid action reference `{}`", uses.value),
            )
            .help = Some(
                "use `<owner>/<repo>[/<path>]@<ref>`, `./<path>`, `$/<path>` or `docker://<image>`"
                    .to_owned(),
            );
            return None;
        };
        match &action {
            ActionRef::Docker(_) => {
                self.warning(uses.span, "docker actions are not supported by sandpit yet");
            }
            ActionRef::Remote { .. } if !action.runs_here() => {
                self.warning(
                    uses.span,
                    format!(
                        "`{}` is a remote action, which sandpit does not run yet",
                        uses.value
                    ),
                )
                .help = Some(format!(
                    "sandpit runs these actions itself: {}",
                    BUILTIN_ACTIONS.join(", ")
                ));
            }
            _ => {}
        }
        Some(Spanned::new(action, uses.span))
    }
}

impl Trigger {
    fn bare(event: Spanned<String>) -> Trigger {
        Trigger {
            event,
            types: None,
            filters: Filters::default(),
            schedule: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

/// The contexts `place` makes available in a job with `scope`: the table's row, without
/// `matrix` in a job that has no matrix.
fn available_contexts(place: Place, scope: JobScope) -> Vec<&'static str> {
    place
        .contexts
        .iter()
        .copied()
        .filter(|c| *c != "matrix" || scope.has_matrix)
        .collect()
}

/// Validates with `check` against what `place` makes available in a job with `scope`.
fn validate_at<T>(place: Place, scope: JobScope, check: impl FnOnce(&Availability<'_>) -> T) -> T {
    let contexts = available_contexts(place, scope);
    let available = Availability::new(&contexts);
    if place.status_functions {
        check(&available.with_status_functions())
    } else {
        check(&available)
    }
}

/// The nodes of a job's `needs` (for the cycle check, which runs on the raw tree).
fn needs_nodes(job: &Node) -> Vec<&Node> {
    let NodeKind::Map(pairs) = &job.kind else {
        return Vec::new();
    };
    let Some((_, needs)) = pairs.iter().find(|(k, _)| key_text(k) == "needs") else {
        return Vec::new();
    };
    match &needs.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar(_) => vec![needs],
        NodeKind::Map(_) => Vec::new(),
    }
}

fn entry_span(list: Option<&Node>, index: usize) -> Option<Span> {
    match &list?.kind {
        NodeKind::Seq(items) => items.get(index).map(|n| n.span),
        _ => None,
    }
}

/// Checks the shape of a POSIX cron expression: five fields of digits, names, `*`, `,`, `-`
/// and `/`.
fn check_cron(cron: &str) -> Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected 5 fields, found {}", fields.len()));
    }
    for field in fields {
        if let Some(c) = field
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/')))
        {
            return Err(format!("unexpected `{c}` in field `{field}`"));
        }
    }
    Ok(())
}
