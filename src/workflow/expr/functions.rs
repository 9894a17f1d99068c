//! The function table and the built-in functions.
//!
//! A function is a row of [`FUNCTIONS`]: its name, how many arguments it takes, its class
//! (status functions are only available in `if:` conditions) and its implementation. An eager
//! implementation gets its arguments evaluated, with their spans, and the [`Scope`]; a lazy one
//! evaluates only the arguments it needs. `hashFiles` (in [`super::hash_files`]) reads
//! [`Scope::workspace`]; where it may appear is checked by the workflow loader.

use super::ast::Expr;
use super::error::{ErrorKind, ExprError, Span};
use super::eval::{Evaluator, JobStatus, Scope};
use super::validate::suggest;
use super::value::{fold, Value};

/// The largest string `format`, `join`, `toJSON` or a template may build. GitHub also caps the
/// memory an evaluation may use; this keeps `toJSON(toJSON(…))` from doubling without end.
pub const MAX_STRING_BYTES: usize = 10 * 1024 * 1024;

/// Fails when a string of `len` bytes would exceed [`MAX_STRING_BYTES`].
pub(crate) fn check_size(len: usize, span: &Span) -> Result<(), ExprError> {
    if len > MAX_STRING_BYTES {
        return Err(ExprError::new(
            ErrorKind::TooLarge,
            span.clone(),
            format!("the result would be larger than {MAX_STRING_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Where a function may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FunctionClass {
    /// Anywhere expressions are allowed.
    General,
    /// Only in `if:` conditions: `success()`, `failure()`, `always()`, `cancelled()`.
    Status,
}

/// An evaluated argument and where its expression is.
pub(crate) struct Arg {
    pub value: Value,
    pub span: Span,
}

/// One call of an eager function.
pub(crate) struct Invocation<'a> {
    pub scope: &'a Scope,
    /// The whole call, name to closing parenthesis.
    pub span: Span,
    /// The arguments, as many as the table allows.
    pub args: Vec<Arg>,
}

/// How a function is run.
#[derive(Clone, Copy)]
pub(crate) enum Call {
    /// Arguments are evaluated left to right before the call.
    Eager(fn(&Invocation<'_>) -> Result<Value, ExprError>),
    /// The function evaluates the argument expressions it needs itself.
    Lazy(fn(&Evaluator<'_>, &[Expr]) -> Result<Value, ExprError>),
}

/// A row of the function table.
pub(crate) struct Function {
    /// The name as GitHub documents it; calls match it ignoring case.
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    pub class: FunctionClass,
    pub call: Call,
}

const fn general(name: &'static str, min_args: usize, max_args: usize, call: Call) -> Function {
    Function {
        name,
        min_args,
        max_args,
        class: FunctionClass::General,
        call,
    }
}

const fn status(name: &'static str, call: Call) -> Function {
    Function {
        name,
        min_args: 0,
        max_args: 0,
        class: FunctionClass::Status,
        call,
    }
}

/// Every function the language has.
pub(crate) const FUNCTIONS: &[Function] = &[
    general("contains", 2, 2, Call::Eager(contains)),
    general("startsWith", 2, 2, Call::Eager(starts_with)),
    general("endsWith", 2, 2, Call::Eager(ends_with)),
    general("format", 1, 255, Call::Eager(format)),
    general("join", 1, 2, Call::Eager(join)),
    general("toJSON", 1, 1, Call::Eager(to_json)),
    general("fromJSON", 1, 1, Call::Eager(from_json)),
    general("case", 3, usize::MAX, Call::Lazy(case)),
    general(
        "hashFiles",
        1,
        255,
        Call::Eager(super::hash_files::hash_files),
    ),
    status("success", Call::Eager(success)),
    status("failure", Call::Eager(failure)),
    status("cancelled", Call::Eager(cancelled)),
    status("always", Call::Eager(always)),
];

/// Functions GitHub has that sandpit does not implement yet.
const UNSUPPORTED: &[&str] = &[];

/// The function called `name`, ignoring case.
pub(crate) fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// The error for a call of a function that does not exist (or is not implemented yet).
pub(crate) fn unknown_function(name: &str, span: Span) -> ExprError {
    if let Some(known) = UNSUPPORTED.iter().find(|u| u.eq_ignore_ascii_case(name)) {
        return ExprError::new(
            ErrorKind::UnsupportedFunction,
            span,
            format!("`{known}` is not supported by sandpit yet"),
        );
    }
    let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    let hint = match suggest(name, &names) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("the functions are {}", names.join(", ")),
    };
    ExprError::new(
        ErrorKind::UnknownFunction,
        span,
        format!("unrecognized function `{name}`"),
    )
    .with_hint(hint)
}

fn arguments(n: usize) -> String {
    match n {
        0 => "no arguments".to_owned(),
        1 => "1 argument".to_owned(),
        n => format!("{n} arguments"),
    }
}

/// Checks the argument count of a call of `function` (`span` is the whole call).
pub(crate) fn check_arity(function: &Function, count: usize, span: Span) -> Result<(), ExprError> {
    let name = function.name;
    let message = if function.min_args == function.max_args && count != function.min_args {
        format!(
            "`{name}` takes {}, got {count}",
            arguments(function.min_args)
        )
    } else if count < function.min_args {
        format!(
            "`{name}` takes at least {}, got {count}",
            arguments(function.min_args)
        )
    } else if count > function.max_args {
        format!(
            "`{name}` takes at most {}, got {count}",
            arguments(function.max_args)
        )
    } else if name == "case" && count.is_multiple_of(2) {
        let error = ExprError::new(
            ErrorKind::WrongArity,
            span,
            format!("`case` takes an odd number of arguments, got {count}"),
        );
        return Err(error.with_hint("give pairs of predicate and value, then a default value"));
    } else {
        return Ok(());
    };
    Err(ExprError::new(ErrorKind::WrongArity, span, message))
}

/// `contains(search, item)`: for an array, whether an element equals `item` (loosely); for a
/// primitive, whether its string contains `item`'s string, ignoring case.
fn contains(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let (search, item) = (&call.args[0].value, &call.args[1].value);
    Ok(Value::Bool(match search {
        Value::Array(items) => items.iter().any(|element| item.loose_eq(element)),
        _ if search.is_primitive() && item.is_primitive() => {
            fold(&search.coerce_to_string()).contains(&fold(&item.coerce_to_string()))
        }
        _ => false,
    }))
}

/// Applies `test` to the folded strings of two primitives; false otherwise.
fn both_strings(call: &Invocation<'_>, test: fn(&str, &str) -> bool) -> Value {
    let (left, right) = (&call.args[0].value, &call.args[1].value);
    Value::Bool(
        left.is_primitive()
            && right.is_primitive()
            && test(
                &fold(&left.coerce_to_string()),
                &fold(&right.coerce_to_string()),
            ),
    )
}

fn starts_with(call: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(both_strings(call, |s, prefix| s.starts_with(prefix)))
}

fn ends_with(call: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(both_strings(call, |s, suffix| s.ends_with(suffix)))
}

/// `format(string, args…)`: `{N}` is replaced by argument N as a string, `{{` and `}}` are
/// literal braces; any other brace is an error.
fn format(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let template = call.args[0].value.coerce_to_string();
    let span = call.args[0].span.clone();
    let invalid = |why: &str| {
        ExprError::new(
            ErrorKind::InvalidFormat,
            span.clone(),
            format!("invalid format string `{template}`: {why}"),
        )
        .with_hint("placeholders are `{0}`, `{1}`, …; write literal braces as `{{` and `}}`")
    };
    let bytes = template.as_bytes();
    let find = |byte: u8, from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == byte)
            .map(|i| i + from)
    };
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        let close = find(b'}', at);
        let open = find(b'{', at).filter(|&open| opens_first(open, close));
        match (open, close) {
            (Some(open), _) => {
                if bytes.get(open + 1) == Some(&b'{') {
                    out.push_str(&template[at..=open]);
                    at = open + 2;
                    continue;
                }
                let (index, close) = placeholder(bytes, open).map_err(invalid)?;
                let Some(arg) = call.args.get(index + 1) else {
                    let given = call.args.len() - 1;
                    return Err(ExprError::new(
                        ErrorKind::InvalidFormat,
                        span.clone(),
                        format!(
                            "format string `{template}` uses {{{index}}}, but only {} follow it",
                            arguments(given)
                        ),
                    ));
                };
                let value = arg.value.coerce_to_string();
                check_size(out.len() + (open - at) + value.len(), &call.span)?;
                out.push_str(&template[at..open]);
                out.push_str(&value);
                at = close + 1;
            }
            (_, Some(close)) => {
                if bytes.get(close + 1) != Some(&b'}') {
                    return Err(invalid("a `}` closes no placeholder"));
                }
                out.push_str(&template[at..=close]);
                at = close + 2;
            }
            (None, None) => {
                out.push_str(&template[at..]);
                break;
            }
        }
    }
    Ok(Value::String(out))
}

/// Whether the next `{` (at `open`) comes before the next `}`, if there is one.
fn opens_first(open: usize, close: Option<usize>) -> bool {
    match close {
        Some(close) => close > open,
        None => true,
    }
}

/// The placeholder `{N}` starting at `open`: its argument index (0 to 255) and where its `}`
/// is. Format specifiers (`{0:x}`) are refused, as GitHub refuses them for every value it has.
fn placeholder(bytes: &[u8], open: usize) -> Result<(usize, usize), &'static str> {
    let digits = &bytes[open + 1..];
    let count = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if count == 0 {
        return Err("a `{` starts no placeholder");
    }
    let close = open + 1 + count;
    match bytes.get(close) {
        Some(b'}') => {}
        Some(b':') => return Err("format specifiers are not supported"),
        _ => return Err("a placeholder is not closed"),
    }
    let index = digits[..count]
        .iter()
        .try_fold(0usize, |n, d| {
            n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
        })
        .filter(|&n| n <= 255)
        .ok_or("a placeholder index is above 255")?;
    Ok((index, close))
}

/// `join(array, separator = ',')`: the items as strings between separators; a primitive is
/// returned as its string; anything else gives an empty string.
fn join(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let joined = match &call.args[0].value {
        Value::Array(items) => {
            let separator = match call.args.get(1) {
                Some(arg) if arg.value.is_primitive() => arg.value.coerce_to_string(),
                _ => ",".to_owned(),
            };
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                let item = item.coerce_to_string();
                let sep = if i == 0 { "" } else { separator.as_str() };
                check_size(out.len() + sep.len() + item.len(), &call.span)?;
                out.push_str(sep);
                out.push_str(&item);
            }
            out
        }
        value if value.is_primitive() => value.coerce_to_string(),
        _ => String::new(),
    };
    Ok(Value::String(joined))
}

fn to_json(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let json = call.args[0].value.to_json();
    check_size(json.len(), &call.span)?;
    Ok(Value::String(json))
}

fn from_json(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let arg = &call.args[0];
    let text = arg.value.coerce_to_string();
    Value::from_json(&text).map_err(|e| {
        ExprError::new(
            ErrorKind::InvalidJson,
            arg.span.clone(),
            format!("failed to parse the JSON given to `fromJSON`: {e}"),
        )
    })
}

/// `case(pred1, value1, pred2, value2, …, default)`: the value after the first predicate that
/// is `true`, else the default. Predicates must be booleans; only what is needed is evaluated.
fn case(evaluator: &Evaluator<'_>, args: &[Expr]) -> Result<Value, ExprError> {
    let Some((default, pairs)) = args.split_last() else {
        return Ok(Value::Null);
    };
    for pair in pairs.chunks(2) {
        let [predicate, value] = pair else {
            break;
        };
        match evaluator.eval(predicate)? {
            Value::Bool(true) => return evaluator.eval(value),
            Value::Bool(false) => {}
            other => {
                return Err(ExprError::new(
                    ErrorKind::CasePredicateNotBoolean,
                    predicate.span.clone(),
                    format!(
                        "a `case` predicate must be a boolean, got {}",
                        other.kind_name()
                    ),
                )
                .with_hint("compare explicitly, e.g. `inputs.level == 'debug'`"));
            }
        }
    }
    evaluator.eval(default)
}

fn success(call: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(Value::Bool(call.scope.status() == JobStatus::Success))
}

fn failure(call: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(Value::Bool(call.scope.status() == JobStatus::Failure))
}

fn cancelled(call: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(Value::Bool(call.scope.status() == JobStatus::Cancelled))
}

fn always(_: &Invocation<'_>) -> Result<Value, ExprError> {
    Ok(Value::Bool(true))
}
