//! The GitHub Actions expression language: `${{ github.ref == 'refs/heads/main' }}`.
//!
//! - [`Expr::parse`] turns expression text into a tree whose nodes carry byte spans;
//!   [`Template::parse`] splits a YAML string into text and `${{ }}` parts;
//!   [`Condition::parse`] reads an `if:` value (braces optional, implicit `success() &&`).
//! - [`validate`] reports, with spans, what the place an expression appears in does not allow:
//!   unknown functions, wrong argument counts, unavailable contexts.
//! - [`Expr::evaluate`] computes a [`Value`] against a [`Scope`] (the contexts and the job
//!   status), following GitHub's coercion, comparison and number-printing rules.
//!
//! Nothing here panics on any input; nesting is capped at [`MAX_DEPTH`] and length at
//! [`MAX_LENGTH`], as GitHub caps them.

mod ast;
mod error;
mod eval;
mod functions;
mod hash_files;
mod lexer;
mod parser;
mod template;
mod validate;
mod value;

#[cfg(test)]
mod tests;

pub use ast::{CompareOp, Expr, ExprKind, LogicalOp};
pub use error::{ErrorKind, ExprError, Span};
pub use eval::{JobStatus, Scope};
pub use functions::MAX_STRING_BYTES;
pub use hash_files::MAX_ENTRIES as MAX_HASH_FILES_ENTRIES;
pub use parser::{MAX_DEPTH, MAX_LENGTH};
pub use template::{Condition, Segment, Template};
pub use validate::{validate, Availability, KNOWN_CONTEXTS};
pub use value::{format_number, parse_number, Object, Value};

use eval::Evaluator;
use functions::FunctionClass;

impl Expr {
    /// Parses expression text (what stands between `${{` and `}}`). Spans are byte offsets
    /// into `text`. Only syntax is checked; see [`validate`] for names.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        parser::parse(text, 0)
    }

    /// Evaluates the expression. A context missing from `scope` reads as null.
    pub fn evaluate(&self, scope: &Scope) -> Result<Value, ExprError> {
        Evaluator { scope }.eval(self)
    }

    /// Whether the expression calls `success()`, `failure()`, `always()` or `cancelled()`
    /// anywhere; a condition that does not is implicitly `success() && (…)`.
    pub fn calls_status_function(&self) -> bool {
        self.nodes().into_iter().any(|node| match &node.kind {
            ExprKind::Call { name, .. } => {
                functions::lookup(name).is_some_and(|f| f.class == FunctionClass::Status)
            }
            _ => false,
        })
    }
}

/// Parses expression text; the same as [`Expr::parse`].
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    Expr::parse(text)
}
