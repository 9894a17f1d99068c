//! The one error type of the expression language: what went wrong, where, and what may help.

use std::fmt::Write as _;
use std::ops::Range;

/// A byte range within the text an expression was parsed from (the expression itself, or the
/// whole template string or `if:` value it sits in).
pub type Span = Range<usize>;

/// What kind of problem an [`ExprError`] reports. Syntax kinds come from parsing, the
/// availability kinds from [`validate`](super::validate), the rest from evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A character sequence that is no token, or a token where it cannot stand.
    UnexpectedSymbol,
    /// A number literal that does not parse (`1.2.3`, `0xZZ`, a lone `-`).
    InvalidNumber,
    /// A string literal without its closing `'`.
    UnterminatedString,
    /// The expression stops where more was needed (`a ==`, `(1`).
    UnexpectedEnd,
    /// No expression at all (empty text, or `${{ }}`).
    EmptyExpression,
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    TooDeep,
    /// Text longer than [`MAX_LENGTH`](super::MAX_LENGTH).
    TooLong,
    /// A string result larger than [`MAX_STRING_BYTES`](super::MAX_STRING_BYTES).
    TooLarge,
    /// A `${{` in a template string without its `}}`.
    UnclosedExpression,
    /// A function name the language does not have.
    UnknownFunction,
    /// A function GitHub has that sandpit does not implement yet (none at the moment).
    UnsupportedFunction,
    /// A function that exists but may not be used here (status functions outside `if:`).
    UnavailableFunction,
    /// Too few or too many arguments, or an even count for `case`.
    WrongArity,
    /// A context name that is unknown, or not available where the expression appears.
    UnavailableContext,
    /// A `format` string with unbalanced braces, a bad placeholder or a missing argument.
    InvalidFormat,
    /// `fromJSON` was given text that is not JSON.
    InvalidJson,
    /// A `case` predicate that did not evaluate to a boolean.
    CasePredicateNotBoolean,
    /// `hashFiles` could not run: no workspace, an invalid pattern, a file it could not read,
    /// or more entries to look at than it allows.
    HashFilesFailed,
}

/// A problem with an expression, pointing at the bytes it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// Where in the source text.
    pub span: Span,
    /// One sentence for a human.
    pub message: String,
    /// What to do about it, when something can be said.
    pub hint: Option<String>,
}

impl ExprError {
    pub(crate) fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        ExprError {
            kind,
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the error against the text it was parsed from: the message, the line with a
    /// caret under the span, and the hint, e.g.
    ///
    /// ```text
    /// error: unexpected symbol `)`
    ///   | github.ref == )
    ///   |               ^
    ///   = hint: ...
    /// ```
    pub fn render(&self, source: &str) -> String {
        let start = floor_char_boundary(source, self.span.start.min(source.len()));
        let end = floor_char_boundary(source, self.span.end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = &source[line_start..line_end];
        let column = source[line_start..start].chars().count();
        let width = source[start..end.min(line_end)].chars().count().max(1);
        let mut out = format!("error: {}\n  | {line}\n  | ", self.message);
        out.push_str(&" ".repeat(column));
        out.push_str(&"^".repeat(width));
        if let Some(hint) = &self.hint {
            let _ = write!(out, "\n  = hint: {hint}");
        }
        out
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
