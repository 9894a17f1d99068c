//! Template strings (YAML values with `${{ }}` in them) and `if:` conditions.

use super::ast::Expr;
use super::error::{ErrorKind, ExprError, Span};
use super::eval::{JobStatus, Scope};
use super::functions::check_size;
use super::parser;
use super::validate::{validate, Availability};
use super::value::Value;

const OPEN: &str = "${{";

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Text taken as it is.
    Literal {
        /// The text.
        text: String,
        /// Where it is in the template.
        span: Span,
    },
    /// The expression between `${{` and `}}` (its spans are within the template).
    Expr(Expr),
}

/// A string value split into literal text and `${{ expression }}` parts, as GitHub's template
/// reader splits it: an expression runs from `${{` to the first `}}` that is not inside a
/// single-quoted string literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Splits `source` and parses each expression. Spans are byte offsets into `source`.
    pub fn parse(source: &str) -> Result<Template, ExprError> {
        let bytes = source.as_bytes();
        let mut segments = Vec::new();
        let mut at = 0;
        while at < source.len() {
            let Some(open) = source[at..].find(OPEN).map(|i| i + at) else {
                segments.push(literal(source, at..source.len()));
                break;
            };
            if open > at {
                segments.push(literal(source, at..open));
            }
            let Some(close) = closing_braces(bytes, open + OPEN.len()) else {
                return Err(ExprError::new(
                    ErrorKind::UnclosedExpression,
                    open..source.len(),
                    "`${{` is not closed by `}}`",
                )
                .with_hint("end the expression with `}}`"));
            };
            // `close` is the second `}`; the expression is between the braces.
            let inner = &source[open + OPEN.len()..close - 1];
            let leading = inner.len() - inner.trim_start().len();
            let trimmed = inner.trim();
            if trimmed.is_empty() {
                return Err(ExprError::new(
                    ErrorKind::EmptyExpression,
                    open..close + 1,
                    "expected an expression between `${{` and `}}`",
                ));
            }
            let expr = parser::parse(trimmed, open + OPEN.len() + leading)?;
            segments.push(Segment::Expr(expr));
            at = close + 1;
        }
        Ok(Template { segments })
    }

    /// The parts in order. Empty for an empty string.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether there is no expression at all.
    pub fn is_literal(&self) -> bool {
        self.expressions().next().is_none()
    }

    /// The expression if the template is exactly one `${{ }}` and nothing else; its value is
    /// then the template's value, of whatever type.
    pub fn single_expr(&self) -> Option<&Expr> {
        match self.segments.as_slice() {
            [Segment::Expr(expr)] => Some(expr),
            _ => None,
        }
    }

    /// The expressions in order.
    pub fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Expr(expr) => Some(expr),
            Segment::Literal { .. } => None,
        })
    }

    /// The template's value: a single expression's value as it is; otherwise a string of the
    /// literal text and each expression's value converted to a string (as GitHub builds it
    /// with `format`).
    pub fn evaluate(&self, scope: &Scope) -> Result<Value, ExprError> {
        if let Some(expr) = self.single_expr() {
            return expr.evaluate(scope);
        }
        let mut out = String::new();
        for segment in &self.segments {
            let (piece, span) = match segment {
                Segment::Literal { text, span } => (text.clone(), span),
                Segment::Expr(expr) => (expr.evaluate(scope)?.coerce_to_string(), &expr.span),
            };
            check_size(out.len() + piece.len(), span)?;
            out.push_str(&piece);
        }
        Ok(Value::String(out))
    }

    /// The template's value converted to a string.
    pub fn evaluate_to_string(&self, scope: &Scope) -> Result<String, ExprError> {
        Ok(self.evaluate(scope)?.coerce_to_string())
    }

    /// The problems of every expression (see [`validate`]).
    pub fn validate(&self, available: &Availability<'_>) -> Vec<ExprError> {
        self.expressions()
            .flat_map(|expr| validate(expr, available))
            .collect()
    }

    /// Whether any expression calls a status function.
    pub fn calls_status_function(&self) -> bool {
        self.expressions().any(Expr::calls_status_function)
    }
}

fn literal(source: &str, span: Span) -> Segment {
    Segment::Literal {
        text: source[span.clone()].to_owned(),
        span,
    }
}

/// The index of the second `}` of the first `}}` at or after `from` that is outside a string
/// literal. A doubled quote inside a string toggles twice, so escapes need no special case.
fn closing_braces(bytes: &[u8], from: usize) -> Option<usize> {
    let mut in_string = false;
    for i in from..bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && i > from && bytes[i - 1] == b'}' => return Some(i),
            _ => {}
        }
    }
    None
}

/// An `if:` condition. The `${{ }}` around it are optional; a condition that calls no status
/// function is implicitly `success() && (condition)`, and an empty one is `success()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    body: Body,
    implicit_success: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Empty,
    Expr(Expr),
    /// `${{ }}` mixed with text: a string, so (when not empty) always true.
    Template(Template),
}

impl Condition {
    /// Parses an `if:` value. Spans are byte offsets into `source`.
    pub fn parse(source: &str) -> Result<Condition, ExprError> {
        let body = if source.contains(OPEN) {
            let template = Template::parse(source)?;
            match template.single_expr() {
                Some(expr) => Body::Expr(expr.clone()),
                None => Body::Template(template),
            }
        } else if source.trim().is_empty() {
            Body::Empty
        } else {
            Body::Expr(parser::parse(source, 0)?)
        };
        let implicit_success = match &body {
            Body::Empty => true,
            Body::Expr(expr) => !expr.calls_status_function(),
            Body::Template(template) => !template.calls_status_function(),
        };
        Ok(Condition {
            body,
            implicit_success,
        })
    }

    /// Whether `success() &&` is implied (no status function is called).
    pub fn implicit_success(&self) -> bool {
        self.implicit_success
    }

    /// The condition's expression, when it is one expression.
    pub fn expr(&self) -> Option<&Expr> {
        match &self.body {
            Body::Expr(expr) => Some(expr),
            _ => None,
        }
    }

    /// Whether the job or step runs.
    pub fn evaluate(&self, scope: &Scope) -> Result<bool, ExprError> {
        if self.implicit_success && scope.status() != JobStatus::Success {
            return Ok(false);
        }
        Ok(match &self.body {
            Body::Empty => true,
            Body::Expr(expr) => expr.evaluate(scope)?.is_truthy(),
            Body::Template(template) => template.evaluate(scope)?.is_truthy(),
        })
    }

    /// The problems of the condition at a place with `available` contexts; status functions
    /// are always allowed in conditions.
    pub fn validate(&self, available: &Availability<'_>) -> Vec<ExprError> {
        let available = available.with_status_functions();
        match &self.body {
            Body::Empty => Vec::new(),
            Body::Expr(expr) => validate(expr, &available),
            Body::Template(template) => template.validate(&available),
        }
    }
}
