//! An action's metadata file (`action.yml` or `action.yaml`) → validated [`Action`] and every
//! problem found on the way, read as [`load`](super::load) reads workflows: the same YAML
//! limits (size, depth, alias expansion), the same diagnostics with a caret, and a composite
//! action's steps through the workflow loader's step reader.
//!
//! The rules are GitHub's "Metadata syntax for GitHub Actions" and the schema its runner reads
//! (`action_yaml.json` in `actions/runner`), with GitHub's own leniency kept where it has it:
//!
//! - The top level and each input are loose mappings in GitHub's schema: keys it does not know
//!   are ignored there, so here they are warnings (with the closest known key as a hint), not
//!   errors. `branding` is marketplace metadata: accepted and ignored. `runs`, each output and
//!   each composite step are strict: an unknown key is an error.
//! - `runs.using` decides the kind: `composite` (run here), `node12`/`node16`/`node20`/`node24`
//!   and `docker` (recognised, with a warning that sandpit does not run them yet). Like
//!   GitHub, the value is compared ignoring ASCII case.
//! - Composite steps take `id`, `name`, `if`, `run`, `shell`, `uses`, `with`, `env`,
//!   `working-directory` and `continue-on-error`. A `run` step must name its `shell`, which
//!   GitHub requires there (a composite action does not inherit the job's `defaults.run`).
//!   `shell` takes no expression, as in workflows. An output's `value` is required.
//! - Expressions are checked against the contexts the action schema allows: steps, `with`,
//!   `env` and output values see `github`, `inputs`, `strategy`, `matrix`, `steps`, `job`,
//!   `runner` and `env`; input defaults only `github`, `strategy`, `matrix`, `job` and
//!   `runner`; a Docker action's `args` and `env` only `inputs`. `secrets`,
//!   `vars` and `needs` are not available in an action (GitHub reports "Unrecognized
//!   named-value"): the caller passes what the action needs as inputs. `matrix` is available
//!   whether or not the calling job has a matrix (it reads as empty then), since an action
//!   cannot know where it is used. `hashFiles` is allowed where the schema allows it (steps
//!   and input defaults), the status functions only in a step's `if`.
//! - `required` of an input is read but GitHub does not enforce it; a value that is no
//!   boolean is a warning and reads as false.

use super::diagnostic::{closest, Diagnostic};
use super::load::{find, literal, read_document, Entries, JobScope, Lit, Loader, Place, StepRules};
use super::model::{Env, Spanned, Step, TemplateString};
use super::yaml::{self, Node, NodeKind, Span};

/// The names a metadata file may have, in the order GitHub looks for them.
pub const ACTION_FILE_NAMES: &[&str] = &["action.yml", "action.yaml"];

/// The `runs.using` values of JavaScript actions.
pub const NODE_VERSIONS: &[&str] = &["node12", "node16", "node20", "node24"];

/// A validated action metadata file.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The path it was loaded from, as given to [`load_action`].
    pub path: String,
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `author`.
    pub author: Option<Spanned<String>>,
    /// `inputs`, in the order written.
    pub inputs: Vec<ActionInput>,
    /// `outputs`, in the order written.
    pub outputs: Vec<ActionOutput>,
    /// `runs`.
    pub runs: Runs,
}

impl Action {
    /// The input `name`, ignoring case (as the `inputs` context reads it).
    pub fn input(&self, name: &str) -> Option<&ActionInput> {
        self.inputs
            .iter()
            .find(|input| input.name.value.eq_ignore_ascii_case(name))
    }
}

/// One of `inputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionInput {
    /// The input id.
    pub name: Spanned<String>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `required` (false when absent; GitHub does not enforce it).
    pub required: bool,
    /// `default`, with contexts `github`, `strategy`, `matrix`, `job`, `runner` and
    /// `hashFiles`. Numbers and booleans are taken as their text.
    pub default: Option<TemplateString>,
    /// `deprecationMessage`: shown when a workflow sets the input.
    pub deprecation_message: Option<Spanned<String>>,
}

/// One of `outputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutput {
    /// The output id.
    pub name: Spanned<String>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// `value`, with contexts `github`, `strategy`, `matrix`, `steps`, `inputs`, `job`,
    /// `runner` and `env`. Always present in a composite action; JavaScript and Docker
    /// actions set their outputs from their code instead.
    pub value: Option<TemplateString>,
}

/// `runs`: how the action runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Runs {
    /// `using: composite`: steps run in the calling job.
    Composite {
        /// `steps`, in order.
        steps: Vec<Step>,
    },
    /// `using: node20` (or another of [`NODE_VERSIONS`]): recognised, not run by sandpit yet.
    Node {
        /// `using`, as written.
        using: Spanned<String>,
        /// `main`: the script, relative to the action's directory.
        main: Spanned<String>,
        /// `pre`.
        pre: Option<Spanned<String>>,
        /// `pre-if`, as written (a condition; `${{ }}` optional).
        pre_if: Option<Spanned<String>>,
        /// `post`.
        post: Option<Spanned<String>>,
        /// `post-if`, as written.
        post_if: Option<Spanned<String>>,
    },
    /// `using: docker`: recognised, not run by sandpit yet.
    Docker {
        /// `image`: `Dockerfile` (a path in the action's directory) or `docker://<image>`.
        image: Spanned<String>,
        /// `entrypoint`.
        entrypoint: Option<Spanned<String>>,
        /// `args` (context `inputs`).
        args: Vec<TemplateString>,
        /// `env` (context `inputs`).
        env: Env,
        /// `pre-entrypoint`.
        pre_entrypoint: Option<Spanned<String>>,
        /// `pre-if`, as written.
        pre_if: Option<Spanned<String>>,
        /// `post-entrypoint`.
        post_entrypoint: Option<Spanned<String>>,
        /// `post-if`, as written.
        post_if: Option<Spanned<String>>,
    },
}

/// Loads the action metadata in `source` (read from `path`, which is only recorded).
///
/// Returns the action when there is no error (warnings may accompany it) and every
/// diagnostic, errors and warnings, in file order.
pub fn load_action(path: &str, source: &str) -> (Option<Action>, Vec<Diagnostic>) {
    read_document(source, yaml::parse(source), |loader, root| {
        action(loader, path, root)
    })
}

/// Loads a metadata file's bytes, as [`load_action`] does after checking they are UTF-8.
pub fn load_action_bytes(path: &str, bytes: &[u8]) -> (Option<Action>, Vec<Diagnostic>) {
    let parsed = yaml::parse_bytes(bytes);
    // `parse_bytes` only succeeds on UTF-8.
    let source = std::str::from_utf8(bytes).unwrap_or_default();
    read_document(source, parsed, |loader, root| action(loader, path, root))
}

// ---------------------------------------------------------------------------------------------
// The action schema

const ACTION_KEYS: &[&str] = &[
    "name",
    "description",
    "author",
    "inputs",
    "outputs",
    "runs",
    "branding",
];
const INPUT_KEYS: &[&str] = &["description", "required", "default", "deprecationMessage"];
const OUTPUT_KEYS: &[&str] = &["description", "value"];
const COMPOSITE_KEYS: &[&str] = &["using", "steps"];
const NODE_KEYS: &[&str] = &["using", "main", "pre", "pre-if", "post", "post-if"];
#[rustfmt::skip]
const DOCKER_KEYS: &[&str] = &[
    "using", "image", "entrypoint", "args", "env", "pre-entrypoint", "pre-if",
    "post-entrypoint", "post-if",
];
/// Every key `runs` may have, for a `runs` whose `using` is missing or unknown.
#[rustfmt::skip]
const RUNS_KEYS: &[&str] = &[
    "using", "steps", "main", "pre", "pre-if", "post", "post-if", "image", "entrypoint", "args",
    "env", "pre-entrypoint", "post-entrypoint",
];
#[rustfmt::skip]
const COMPOSITE_STEP_KEYS: &[&str] = &[
    "id", "name", "if", "run", "shell", "uses", "with", "env", "working-directory",
    "continue-on-error",
];

/// What a composite action's steps, `with`, `env` and output values may read
/// (`string-steps-context` in the action schema).
const STEP_LEVEL: &[&str] = &[
    "github", "inputs", "strategy", "matrix", "steps", "job", "runner", "env",
];

/// The action schema's contexts, one constant per place that takes expressions.
mod places {
    use super::{Place, STEP_LEVEL};

    pub const INPUT_DEFAULT: Place = Place::new(
        "inputs.<input_id>.default",
        &["github", "strategy", "matrix", "job", "runner"],
    )
    .with_hash_files();
    pub const OUTPUT_VALUE: Place = Place::new("outputs.<output_id>.value", STEP_LEVEL);
    pub const DOCKER_ARGS: Place = Place::new("runs.args", &["inputs"]);
    pub const DOCKER_ENV: Place = Place::new("runs.env", &["inputs"]);
    pub const STEP_NAME: Place = Place::new("runs.steps.name", STEP_LEVEL).with_hash_files();
    pub const STEP_IF: Place = Place::new("runs.steps.if", STEP_LEVEL)
        .with_status_functions()
        .with_hash_files();
    pub const STEP_RUN: Place = Place::new("runs.steps.run", STEP_LEVEL).with_hash_files();
    pub const STEP_WORKING_DIRECTORY: Place =
        Place::new("runs.steps.working-directory", STEP_LEVEL).with_hash_files();
    pub const STEP_WITH: Place = Place::new("runs.steps.with", STEP_LEVEL).with_hash_files();
    pub const STEP_ENV: Place = Place::new("runs.steps.env", STEP_LEVEL).with_hash_files();
    pub const STEP_CONTINUE_ON_ERROR: Place =
        Place::new("runs.steps.continue-on-error", STEP_LEVEL).with_hash_files();
}

const COMPOSITE_STEPS: StepRules = StepRules {
    keys: COMPOSITE_STEP_KEYS,
    name: places::STEP_NAME,
    condition: places::STEP_IF,
    run: places::STEP_RUN,
    working_directory: places::STEP_WORKING_DIRECTORY,
    with: places::STEP_WITH,
    env: places::STEP_ENV,
    continue_on_error: places::STEP_CONTINUE_ON_ERROR,
    // Not a key of composite steps (the key check refuses it first).
    timeout_minutes: Place::none("runs.steps.timeout-minutes"),
    shell_required: true,
};

/// An action may be used anywhere, so `matrix` is always available (empty outside a matrix).
const SCOPE: JobScope = JobScope { has_matrix: true };

// ---------------------------------------------------------------------------------------------
// Reading

fn action(loader: &mut Loader<'_>, path: &str, root: &Node) -> Option<Action> {
    if matches!(literal(root), Some(Lit::Null)) {
        loader.error(root.span, "the action metadata file is empty");
        return None;
    }
    let entries = loose_mapping(loader, root, "the action", ACTION_KEYS)?;
    // The kind of action decides whether outputs need a `value`: `runs` first.
    let runs = match find(&entries, "runs") {
        Some(node) => self::runs(loader, node),
        None => {
            loader
                .error(Span::point(root.span.start), "the action has no `runs`")
                .help =
                Some("add `runs:` with `using: composite` and the `steps` to run".to_owned());
            None
        }
    };
    let composite = matches!(runs, Some(Runs::Composite { .. }));
    let mut name = None;
    let mut description = None;
    let mut author = None;
    let mut inputs = Some(Vec::new());
    let mut outputs = Some(Vec::new());
    for (key, _, value) in &entries {
        match key.as_ref() {
            "name" => name = loader.string(value, "`name`", false),
            "description" => description = loader.string(value, "`description`", false),
            "author" => author = loader.string(value, "`author`", false),
            "inputs" => inputs = self::inputs(loader, value),
            "outputs" => outputs = self::outputs(loader, value, composite),
            // `runs` (read above), `branding` and keys GitHub ignores.
            _ => {}
        }
    }
    Some(Action {
        path: path.to_owned(),
        name,
        description,
        author,
        inputs: inputs?,
        outputs: outputs?,
        runs: runs?,
    })
}

/// The entries of a mapping GitHub reads loosely: every key is kept, and keys outside `known`
/// are warnings (GitHub ignores them).
fn loose_mapping<'n>(
    loader: &mut Loader<'_>,
    node: &'n Node,
    what: &str,
    known: &[&str],
) -> Option<Entries<'n>> {
    let entries = loader.mapping(node, what, &[])?;
    for (key, key_node, _) in &entries {
        if !known.contains(&key.as_ref()) {
            let help = closest(key, known).map_or_else(
                || format!("GitHub ignores it; known keys: {}", known.join(", ")),
                |close| format!("did you mean `{close}`? GitHub ignores unknown keys here"),
            );
            loader
                .warning(key_node.span, format!("unknown key `{key}` in {what}"))
                .help = Some(help);
        }
    }
    Some(entries)
}

fn inputs(loader: &mut Loader<'_>, node: &Node) -> Option<Vec<ActionInput>> {
    if matches!(literal(node), Some(Lit::Null)) {
        return Some(Vec::new());
    }
    let entries = loader.mapping(node, "`inputs`", &[])?;
    let mut inputs = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (name, key, value) in entries {
        if name.is_empty() {
            loader.error(key.span, "an input id must not be empty");
            ok = false;
            continue;
        }
        let what = format!("input `{name}`");
        let mut input = ActionInput {
            name: Spanned::new(name.into_owned(), key.span),
            description: None,
            required: false,
            default: None,
            deprecation_message: None,
        };
        if !matches!(literal(value), Some(Lit::Null)) {
            let Some(fields) = loose_mapping(loader, value, &what, INPUT_KEYS) else {
                ok = false;
                continue;
            };
            for (field, _, v) in &fields {
                match field.as_ref() {
                    "description" => {
                        input.description = loader.string(v, "`description`", false);
                    }
                    "required" => input.required = required(loader, v, &what),
                    "default" => {
                        input.default =
                            loader.template(v, "`default`", places::INPUT_DEFAULT, SCOPE);
                        ok &= input.default.is_some();
                    }
                    "deprecationMessage" => {
                        input.deprecation_message = loader.string(v, "`deprecationMessage`", false);
                    }
                    _ => {}
                }
            }
        }
        inputs.push(input);
    }
    ok.then_some(inputs)
}

/// `required` of an input: a boolean; anything else is a warning (GitHub does not read it)
/// and reads as false.
fn required(loader: &mut Loader<'_>, node: &Node, what: &str) -> bool {
    match literal(node) {
        Some(Lit::Bool(b)) => b,
        _ => {
            loader
                .warning(
                    node.span,
                    format!(
                        "`required` of {what} should be a boolean, found {}",
                        node.describe()
                    ),
                )
                .help = Some("write `required: true` or `required: false`".to_owned());
            false
        }
    }
}

/// `outputs`; in a composite action each needs a `value`.
fn outputs(loader: &mut Loader<'_>, node: &Node, composite: bool) -> Option<Vec<ActionOutput>> {
    if matches!(literal(node), Some(Lit::Null)) {
        return Some(Vec::new());
    }
    let entries = loader.mapping(node, "`outputs`", &[])?;
    let mut outputs = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (name, key, value) in entries {
        if name.is_empty() {
            loader.error(key.span, "an output id must not be empty");
            ok = false;
            continue;
        }
        let what = format!("output `{name}`");
        let mut output = ActionOutput {
            name: Spanned::new(name.into_owned(), key.span),
            description: None,
            value: None,
        };
        let mut has_value = false;
        if !matches!(literal(value), Some(Lit::Null)) {
            let Some(fields) = loader.mapping(value, &what, OUTPUT_KEYS) else {
                ok = false;
                continue;
            };
            if let Some(d) = find(&fields, "description") {
                output.description = loader.string(d, "`description`", false);
            }
            if let Some(v) = find(&fields, "value") {
                has_value = true;
                output.value = loader.template(v, "`value`", places::OUTPUT_VALUE, SCOPE);
                ok &= output.value.is_some();
            }
        }
        if composite && !has_value {
            ok = false;
            loader
                .error(
                    key.span,
                    format!("{what} of a composite action needs a `value`"),
                )
                .help = Some(
                "set it from a step's output: `value: ${{ steps.<step_id>.outputs.<name> }}`"
                    .to_owned(),
            );
        }
        outputs.push(output);
    }
    ok.then_some(outputs)
}

fn runs(loader: &mut Loader<'_>, node: &Node) -> Option<Runs> {
    // `using` decides which keys the mapping may have, so it is read first.
    let NodeKind::Map(pairs) = &node.kind else {
        loader.type_error(node, "`runs`", "a mapping");
        return None;
    };
    let using = pairs
        .iter()
        .find(|(key, _)| matches!(literal(key), Some(Lit::Str("using"))))
        .map(|(_, value)| value);
    let Some(using_node) = using else {
        // Still report the keys no kind of action has.
        loader.mapping(node, "`runs`", RUNS_KEYS)?;
        loader
            .error(Span::point(node.span.start), "`runs` has no `using`")
            .help = Some("add `using: composite` (or `node20`, or `docker`)".to_owned());
        return None;
    };
    let using = loader.plain_string(using_node, "`using`", true)?;
    let kind = using.value.to_ascii_lowercase();
    if kind == "composite" {
        let entries = loader.mapping(node, "`runs` of a composite action", COMPOSITE_KEYS)?;
        let Some(steps) = find(&entries, "steps") else {
            loader
                .error(using.span, "a composite action needs `steps`")
                .help = Some("add `steps:` under `runs`".to_owned());
            return None;
        };
        let steps = loader.steps(steps, &COMPOSITE_STEPS, SCOPE)?;
        return Some(Runs::Composite { steps });
    }
    if NODE_VERSIONS.contains(&kind.as_str()) {
        let entries = loader.mapping(node, "`runs` of a JavaScript action", NODE_KEYS)?;
        let main = required_string(loader, &entries, "main", &using, "a JavaScript action");
        let pre = optional_string(loader, &entries, "pre");
        let pre_if = optional_string(loader, &entries, "pre-if");
        let post = optional_string(loader, &entries, "post");
        let post_if = optional_string(loader, &entries, "post-if");
        loader
            .warning(
                using.span,
                format!("`{}` actions are not run by sandpit yet", using.value),
            )
            .help = Some("sandpit runs composite actions".to_owned());
        return Some(Runs::Node {
            main: main?,
            using,
            pre: pre?,
            pre_if: pre_if?,
            post: post?,
            post_if: post_if?,
        });
    }
    if kind == "docker" {
        let entries = loader.mapping(node, "`runs` of a Docker action", DOCKER_KEYS)?;
        let image = required_string(loader, &entries, "image", &using, "a Docker action");
        let entrypoint = optional_string(loader, &entries, "entrypoint");
        let pre_entrypoint = optional_string(loader, &entries, "pre-entrypoint");
        let pre_if = optional_string(loader, &entries, "pre-if");
        let post_entrypoint = optional_string(loader, &entries, "post-entrypoint");
        let post_if = optional_string(loader, &entries, "post-if");
        let args = match find(&entries, "args") {
            Some(args) => docker_args(loader, args),
            None => Some(Vec::new()),
        };
        let env = match find(&entries, "env") {
            Some(env) => loader.env(env, "`env`", places::DOCKER_ENV, SCOPE),
            None => Some(Env::default()),
        };
        loader
            .warning(using.span, "Docker actions are not run by sandpit yet")
            .help = Some("sandpit runs composite actions".to_owned());
        return Some(Runs::Docker {
            image: image?,
            entrypoint: entrypoint?,
            args: args?,
            env: env?,
            pre_entrypoint: pre_entrypoint?,
            pre_if: pre_if?,
            post_entrypoint: post_entrypoint?,
            post_if: post_if?,
        });
    }
    loader
        .error(
            using.span,
            format!("unknown `using` value `{}`", using.value),
        )
        .help = Some(format!(
        "use `composite`, `docker` or one of {}",
        NODE_VERSIONS
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    None
}

/// A key of `runs` that the action's kind requires: a non-empty string without expressions.
fn required_string(
    loader: &mut Loader<'_>,
    entries: &Entries<'_>,
    key: &str,
    using: &Spanned<String>,
    kind: &str,
) -> Option<Spanned<String>> {
    match find(entries, key) {
        Some(value) => loader.plain_string(value, &format!("`{key}`"), true),
        None => {
            loader
                .error(using.span, format!("{kind} needs `runs.{key}`"))
                .help = Some(format!("add `{key}:` under `runs`"));
            None
        }
    }
}

/// An optional key of `runs`: `Some(None)` when absent, `None` when invalid.
fn optional_string(
    loader: &mut Loader<'_>,
    entries: &Entries<'_>,
    key: &str,
) -> Option<Option<Spanned<String>>> {
    let Some(value) = find(entries, key) else {
        return Some(None);
    };
    // Conditions (`pre-if`, `post-if`) are kept as written: `${{ }}` is allowed in them.
    let read = if key.ends_with("-if") {
        loader.string(value, &format!("`{key}`"), true)
    } else {
        loader.plain_string(value, &format!("`{key}`"), true)
    };
    read.map(Some)
}

fn docker_args(loader: &mut Loader<'_>, node: &Node) -> Option<Vec<TemplateString>> {
    let NodeKind::Seq(items) = &node.kind else {
        loader.type_error(node, "`args`", "a sequence of strings");
        return None;
    };
    let mut args = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match loader.template(item, "an item of `args`", places::DOCKER_ARGS, SCOPE) {
            Some(arg) => args.push(arg),
            None => ok = false,
        }
    }
    ok.then_some(args)
}

#[cfg(test)]
mod tests;
