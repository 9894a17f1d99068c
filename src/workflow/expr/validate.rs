//! Checks that need to know where an expression appears: which contexts and functions exist
//! there. Parsing only checks syntax; this reports every unknown or unavailable name and every
//! wrong argument count, each with its span.

use super::ast::{Expr, ExprKind};
use super::error::{ErrorKind, ExprError, Span};
use super::functions::{self, FunctionClass};

/// Every context GitHub defines, for telling "not available here" from "no such context".
pub const KNOWN_CONTEXTS: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
    "needs", "inputs",
];

/// What an expression may use where it appears, e.g. a job-level `if:` may read `github`,
/// `needs`, `vars` and `inputs` and call the status functions, but not read `steps`.
#[derive(Debug, Clone, Copy)]
pub struct Availability<'a> {
    contexts: &'a [&'a str],
    status_functions: bool,
}

impl<'a> Availability<'a> {
    /// The given contexts (names match ignoring case) and no status functions.
    pub const fn new(contexts: &'a [&'a str]) -> Availability<'a> {
        Availability {
            contexts,
            status_functions: false,
        }
    }

    /// Also allows `success()`, `failure()`, `always()` and `cancelled()` (as in `if:`).
    pub const fn with_status_functions(mut self) -> Availability<'a> {
        self.status_functions = true;
        self
    }

    /// Whether the context `name` may be read.
    pub fn allows_context(&self, name: &str) -> bool {
        self.contexts.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether the status functions may be called.
    pub fn allows_status_functions(&self) -> bool {
        self.status_functions
    }
}

/// Every problem of `expr` at a place with `available`: unknown functions (with the closest
/// name as a hint), wrong argument counts, status functions outside conditions, and contexts
/// that are unknown or not available. Empty when there is none.
pub fn validate(expr: &Expr, available: &Availability<'_>) -> Vec<ExprError> {
    let mut errors = Vec::new();
    for node in expr.nodes() {
        match &node.kind {
            ExprKind::Context(name) if !available.allows_context(name) => {
                errors.push(unavailable_context(name, node.span.clone(), available));
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => match functions::lookup(name) {
                None => errors.push(functions::unknown_function(name, name_span.clone())),
                Some(function) => {
                    if let Err(error) =
                        functions::check_arity(function, args.len(), node.span.clone())
                    {
                        errors.push(error);
                    }
                    if function.class == FunctionClass::Status && !available.status_functions {
                        errors.push(
                            ExprError::new(
                                ErrorKind::UnavailableFunction,
                                name_span.clone(),
                                format!("`{}()` is not available here", function.name),
                            )
                            .with_hint("status functions can only be used in `if:` conditions"),
                        );
                    }
                }
            },
            _ => {}
        }
    }
    errors
}

fn unavailable_context(name: &str, span: Span, available: &Availability<'_>) -> ExprError {
    let listed = if available.contexts.is_empty() {
        "no context is available here".to_owned()
    } else {
        format!("available here: {}", available.contexts.join(", "))
    };
    if let Some(known) = KNOWN_CONTEXTS.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return ExprError::new(
            ErrorKind::UnavailableContext,
            span,
            format!("the `{known}` context is not available here"),
        )
        .with_hint(listed);
    }
    let hint = match suggest(name, available.contexts) {
        Some(close) => format!("did you mean `{close}`? {listed}"),
        None => listed,
    };
    ExprError::new(
        ErrorKind::UnavailableContext,
        span,
        format!("unrecognized named-value `{name}`"),
    )
    .with_hint(hint)
}

/// The candidate closest to `name` (ignoring case) if it is close enough to be a typo: at
/// most one edit per three characters, and at least one.
pub(crate) fn suggest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let name = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&name, &c.to_ascii_lowercase()), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
