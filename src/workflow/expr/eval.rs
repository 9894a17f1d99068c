//! Evaluation of a syntax tree against the contexts of one place in a run.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::ast::{CompareOp, Expr, ExprKind, LogicalOp};
use super::error::{ExprError, Span};
use super::functions::{self, Arg, Call, Invocation};
use super::value::{Object, Value};

/// The state of the job (or, for job-level conditions, of the jobs it needs) that the status
/// functions read: `success()` is true for `Success`, `failure()` for `Failure`,
/// `cancelled()` for `Cancelled`, and `always()` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    /// Nothing failed and the run was not cancelled.
    #[default]
    Success,
    /// An earlier step (or a needed job) failed.
    Failure,
    /// The run was cancelled.
    Cancelled,
}

/// What an expression is evaluated against: the contexts by name (looked up ignoring case),
/// the job status for the status functions, and the workspace directory (for `hashFiles`).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    contexts: Object,
    status: JobStatus,
    workspace: Option<PathBuf>,
}

impl Scope {
    /// No contexts, status `Success`, no workspace.
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Adds (or replaces) the context `name`.
    pub fn with_context(mut self, name: impl Into<String>, value: Value) -> Scope {
        self.contexts.insert(name, value);
        self
    }

    /// Adds (or replaces) the context `name`.
    pub fn insert_context(&mut self, name: impl Into<String>, value: Value) {
        self.contexts.insert(name, value);
    }

    /// Sets the status the status functions report.
    pub fn with_status(mut self, status: JobStatus) -> Scope {
        self.status = status;
        self
    }

    /// Sets the workspace directory that file functions resolve paths against.
    pub fn with_workspace(mut self, workspace: impl Into<PathBuf>) -> Scope {
        self.workspace = Some(workspace.into());
        self
    }

    /// The context `name`, ignoring case.
    pub fn context(&self, name: &str) -> Option<&Value> {
        self.contexts.get(name)
    }

    /// The status the status functions report.
    pub fn status(&self) -> JobStatus {
        self.status
    }

    /// The workspace directory, if one was given.
    pub fn workspace(&self) -> Option<&Path> {
        self.workspace.as_deref()
    }
}

/// A result inside an evaluation: a value, or the list an object filter (`.*`, `[*]`) produced,
/// to which further properties and indexes apply item by item.
enum Evaluated {
    Value(Value),
    Filtered(Vec<Value>),
}

impl Evaluated {
    fn into_value(self) -> Value {
        match self {
            Evaluated::Value(value) => value,
            Evaluated::Filtered(items) => Value::array(items),
        }
    }
}

/// What a property, index or filter selects.
enum Key {
    Star,
    Value(Value),
}

impl Key {
    /// The key as a property name: primitives as strings.
    fn name(&self) -> Option<String> {
        match self {
            Key::Value(value) if value.is_primitive() => Some(value.coerce_to_string()),
            _ => None,
        }
    }

    /// The key as an array index: a number (or a value converted to one) that is not NaN and
    /// not negative, rounded down, and not beyond a 32-bit index.
    fn index(&self) -> Option<usize> {
        let Key::Value(value) = self else {
            return None;
        };
        let n = value.coerce_to_number();
        if n.is_nan() || n < 0.0 {
            return None;
        }
        let n = n.floor();
        (n <= f64::from(i32::MAX)).then_some(n as usize)
    }
}

/// Evaluates trees against one scope. Recursion is bounded by the parser's depth limit.
pub(crate) struct Evaluator<'a> {
    pub scope: &'a Scope,
}

impl Evaluator<'_> {
    pub(crate) fn eval(&self, expr: &Expr) -> Result<Value, ExprError> {
        Ok(self.eval_inner(expr)?.into_value())
    }

    fn eval_inner(&self, expr: &Expr) -> Result<Evaluated, ExprError> {
        let value = match &expr.kind {
            ExprKind::Literal(value) => value.clone(),
            ExprKind::Context(name) => self.scope.context(name).cloned().unwrap_or_default(),
            ExprKind::Property { target, name, .. } => {
                let target = self.eval_inner(target)?;
                return Ok(access(target, &Key::Value(Value::String(name.clone()))));
            }
            ExprKind::Index { target, index } => {
                let target = self.eval_inner(target)?;
                let index = self.eval(index)?;
                return Ok(access(target, &Key::Value(index)));
            }
            ExprKind::Filter { target } => {
                let target = self.eval_inner(target)?;
                return Ok(access(target, &Key::Star));
            }
            ExprKind::Not(operand) => Value::Bool(!self.eval(operand)?.is_truthy()),
            ExprKind::Compare { op, left, right } => {
                let left = self.eval(left)?;
                let right = self.eval(right)?;
                Value::Bool(compare(*op, &left, &right))
            }
            ExprKind::Logical { op, operands } => {
                let mut last = Value::Null;
                for operand in operands {
                    last = self.eval(operand)?;
                    let decided = match op {
                        LogicalOp::And => !last.is_truthy(),
                        LogicalOp::Or => last.is_truthy(),
                    };
                    if decided {
                        break;
                    }
                }
                last
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(name, name_span, &expr.span, args)?,
        };
        Ok(Evaluated::Value(value))
    }

    fn call(
        &self,
        name: &str,
        name_span: &Span,
        span: &Span,
        args: &[Expr],
    ) -> Result<Value, ExprError> {
        let function = functions::lookup(name)
            .ok_or_else(|| functions::unknown_function(name, name_span.clone()))?;
        functions::check_arity(function, args.len(), span.clone())?;
        match function.call {
            Call::Eager(implementation) => {
                let args = args
                    .iter()
                    .map(|arg| {
                        Ok(Arg {
                            value: self.eval(arg)?,
                            span: arg.span.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, ExprError>>()?;
                implementation(&Invocation {
                    scope: self.scope,
                    span: span.clone(),
                    args,
                })
            }
            Call::Lazy(implementation) => implementation(self, args),
        }
    }
}

fn compare(op: CompareOp, left: &Value, right: &Value) -> bool {
    let ordering = || left.loose_cmp(right);
    match op {
        CompareOp::Eq => left.loose_eq(right),
        CompareOp::Ne => !left.loose_eq(right),
        CompareOp::Lt => ordering() == Some(Ordering::Less),
        CompareOp::Gt => ordering() == Some(Ordering::Greater),
        CompareOp::Le => left.loose_eq(right) || ordering() == Some(Ordering::Less),
        CompareOp::Ge => left.loose_eq(right) || ordering() == Some(Ordering::Greater),
    }
}

/// Applies a property, index or filter to a value or to each item of a filtered list.
fn access(target: Evaluated, key: &Key) -> Evaluated {
    match target {
        Evaluated::Filtered(items) => {
            let mut out = Vec::new();
            for item in items {
                match (&item, key) {
                    (Value::Object(object), Key::Star) => out.extend(object.values().cloned()),
                    (Value::Array(array), Key::Star) => out.extend(array.iter().cloned()),
                    (Value::Object(object), _) => {
                        if let Some(found) = key.name().and_then(|name| object.get(&name)) {
                            out.push(found.clone());
                        }
                    }
                    (Value::Array(array), _) => {
                        if let Some(found) = key.index().and_then(|i| array.get(i)) {
                            out.push(found.clone());
                        }
                    }
                    _ => {}
                }
            }
            Evaluated::Filtered(out)
        }
        Evaluated::Value(Value::Object(object)) => match key {
            Key::Star => Evaluated::Filtered(object.values().cloned().collect()),
            _ => Evaluated::Value(
                key.name()
                    .and_then(|name| object.get(&name).cloned())
                    .unwrap_or_default(),
            ),
        },
        Evaluated::Value(Value::Array(array)) => match key {
            Key::Star => Evaluated::Filtered(array.to_vec()),
            _ => Evaluated::Value(
                key.index()
                    .and_then(|i| array.get(i).cloned())
                    .unwrap_or_default(),
            ),
        },
        Evaluated::Value(_) => match key {
            Key::Star => Evaluated::Filtered(Vec::new()),
            _ => Evaluated::Value(Value::Null),
        },
    }
}
