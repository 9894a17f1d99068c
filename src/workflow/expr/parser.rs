//! Recursive-descent parser with GitHub's precedence, from loosest to tightest:
//! `||`, `&&`, `== !=`, `< <= > >=`, `!`, then `.` `[ ]` and calls, then literals, context names
//! and `( )`. Nesting is capped at [`MAX_DEPTH`] so that neither parsing, evaluating nor
//! dropping a tree can exhaust the stack.

use super::ast::{CompareOp, Expr, ExprKind, LogicalOp};
use super::error::{ErrorKind, ExprError, Span};
use super::lexer::{lex, Tok, Token};
use super::value::Value;

/// The deepest nesting an expression may have (GitHub's limit): parentheses, `!`, function
/// arguments, indexes and chains of `.`/`[ ]`/comparisons each add a level.
pub const MAX_DEPTH: usize = 50;

/// The longest expression text, in UTF-16 code units (GitHub's limit).
pub const MAX_LENGTH: usize = 21_000;

/// Parses `text`, which starts at byte `base` of the source spans refer to.
pub(crate) fn parse(text: &str, base: usize) -> Result<Expr, ExprError> {
    let whole = base..base + text.len();
    if text.encode_utf16().count() > MAX_LENGTH {
        return Err(ExprError::new(
            ErrorKind::TooLong,
            whole,
            format!("expression is longer than {MAX_LENGTH} characters"),
        ));
    }
    let tokens = lex(text, base)?;
    if tokens.is_empty() {
        return Err(ExprError::new(
            ErrorKind::EmptyExpression,
            whole,
            "expected an expression",
        ));
    }
    let mut parser = Parser {
        text,
        base,
        tokens: &tokens,
        pos: 0,
        nesting: 0,
    };
    let (expr, _) = parser.expression()?;
    match parser.tokens.get(parser.pos) {
        Some(token) => Err(parser.unexpected(token)),
        None => Ok(expr),
    }
}

/// A node and the height of its tree.
type Parsed = (Expr, usize);

struct Parser<'t> {
    text: &'t str,
    base: usize,
    tokens: &'t [Token],
    pos: usize,
    /// How many `expression`s and `!`s are open on the call stack.
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn check(&self, tok: &Tok) -> bool {
        self.peek() == Some(tok)
    }

    fn eat(&mut self, tok: &Tok) -> Option<Span> {
        if self.check(tok) {
            self.pos += 1;
            Some(self.tokens[self.pos - 1].span.clone())
        } else {
            None
        }
    }

    fn end(&self) -> usize {
        self.base + self.text.len()
    }

    fn source_of(&self, span: &Span) -> &str {
        self.text
            .get(span.start - self.base..span.end - self.base)
            .unwrap_or("")
    }

    fn unexpected(&self, token: &Token) -> ExprError {
        ExprError::new(
            ErrorKind::UnexpectedSymbol,
            token.span.clone(),
            format!("unexpected symbol `{}`", self.source_of(&token.span)),
        )
    }

    fn unexpected_end(&self, expected: &str) -> ExprError {
        ExprError::new(
            ErrorKind::UnexpectedEnd,
            self.end()..self.end(),
            format!("unexpected end of expression, expected {expected}"),
        )
    }

    /// The error for whatever stands at the current position when `expected` was needed.
    fn expected(&self, expected: &str) -> ExprError {
        match self.tokens.get(self.pos) {
            Some(token) => {
                let mut error = self.unexpected(token);
                error.message.push_str(&format!(", expected {expected}"));
                error
            }
            None => self.unexpected_end(expected),
        }
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<Span, ExprError> {
        self.eat(tok).ok_or_else(|| self.expected(expected))
    }

    fn too_deep(&self, span: Span) -> ExprError {
        ExprError::new(
            ErrorKind::TooDeep,
            span,
            format!("expression nests deeper than {MAX_DEPTH} levels"),
        )
        .with_hint("split it into smaller expressions")
    }

    fn current_span(&self) -> Span {
        self.tokens
            .get(self.pos)
            .map_or(self.end()..self.end(), |t| t.span.clone())
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.too_deep(self.current_span()));
        }
        Ok(())
    }

    fn height(&self, height: usize, span: &Span) -> Result<usize, ExprError> {
        if height > MAX_DEPTH {
            return Err(self.too_deep(span.clone()));
        }
        Ok(height)
    }

    /// A whole (sub-)expression: the top level, a group, an argument or an index.
    fn expression(&mut self) -> Result<Parsed, ExprError> {
        self.enter()?;
        let result = self.or();
        self.nesting -= 1;
        result
    }

    fn or(&mut self) -> Result<Parsed, ExprError> {
        self.logical(LogicalOp::Or, &Tok::Or, Self::and)
    }

    fn and(&mut self) -> Result<Parsed, ExprError> {
        self.logical(LogicalOp::And, &Tok::And, Self::equality)
    }

    fn logical(
        &mut self,
        op: LogicalOp,
        tok: &Tok,
        operand: fn(&mut Self) -> Result<Parsed, ExprError>,
    ) -> Result<Parsed, ExprError> {
        let (first, mut height) = operand(self)?;
        if !self.check(tok) {
            return Ok((first, height));
        }
        let mut operands = vec![first];
        while self.eat(tok).is_some() {
            let (next, next_height) = operand(self)?;
            height = height.max(next_height);
            operands.push(next);
        }
        let span = operands[0].span.start..operands[operands.len() - 1].span.end;
        let height = self.height(height + 1, &span)?;
        let kind = ExprKind::Logical { op, operands };
        Ok((Expr { kind, span }, height))
    }

    fn equality(&mut self) -> Result<Parsed, ExprError> {
        self.compare(
            &[(Tok::Eq, CompareOp::Eq), (Tok::Ne, CompareOp::Ne)],
            Self::comparison,
        )
    }

    fn comparison(&mut self) -> Result<Parsed, ExprError> {
        self.compare(
            &[
                (Tok::Lt, CompareOp::Lt),
                (Tok::Le, CompareOp::Le),
                (Tok::Gt, CompareOp::Gt),
                (Tok::Ge, CompareOp::Ge),
            ],
            Self::unary,
        )
    }

    /// Left-associative comparisons over `operand`.
    fn compare(
        &mut self,
        ops: &[(Tok, CompareOp)],
        operand: fn(&mut Self) -> Result<Parsed, ExprError>,
    ) -> Result<Parsed, ExprError> {
        let (mut left, mut height) = operand(self)?;
        loop {
            let Some(op) = ops
                .iter()
                .find(|(tok, _)| self.check(tok))
                .map(|(_, op)| *op)
            else {
                return Ok((left, height));
            };
            self.pos += 1;
            let (right, right_height) = operand(self)?;
            let span = left.span.start..right.span.end;
            height = self.height(height.max(right_height) + 1, &span)?;
            let kind = ExprKind::Compare {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
            left = Expr { kind, span };
        }
    }

    fn unary(&mut self) -> Result<Parsed, ExprError> {
        let Some(bang) = self.eat(&Tok::Not) else {
            return self.postfix();
        };
        self.enter()?;
        let operand = self.unary();
        self.nesting -= 1;
        let (operand, height) = operand?;
        let span = bang.start..operand.span.end;
        let height = self.height(height + 1, &span)?;
        let kind = ExprKind::Not(Box::new(operand));
        Ok((Expr { kind, span }, height))
    }

    /// A primary followed by any number of `.name`, `.*`, `[index]` and `[*]`. Literals take no
    /// postfix (as in GitHub: `'abc'[0]` is an error).
    fn postfix(&mut self) -> Result<Parsed, ExprError> {
        let (mut expr, mut height, indexable) = self.primary()?;
        if !indexable {
            return Ok((expr, height));
        }
        loop {
            let (kind, end, index_height) = if self.eat(&Tok::LBracket).is_some() {
                if self.check(&Tok::Star)
                    && matches!(self.tokens.get(self.pos + 1), Some(t) if t.tok == Tok::RBracket)
                {
                    self.pos += 2;
                    let end = self.tokens[self.pos - 1].span.end;
                    let target = Box::new(expr);
                    (ExprKind::Filter { target }, end, 0)
                } else {
                    let (index, index_height) = self.expression()?;
                    let close = self.expect(&Tok::RBracket, "`]`")?;
                    let kind = ExprKind::Index {
                        target: Box::new(expr),
                        index: Box::new(index),
                    };
                    (kind, close.end, index_height)
                }
            } else if self.eat(&Tok::Dot).is_some() {
                let Some(token) = self.tokens.get(self.pos) else {
                    return Err(self.unexpected_end("a property name or `*` after `.`"));
                };
                let kind = match &token.tok {
                    Tok::Ident(name) => ExprKind::Property {
                        target: Box::new(expr),
                        name: name.clone(),
                        name_span: token.span.clone(),
                    },
                    Tok::Star => ExprKind::Filter {
                        target: Box::new(expr),
                    },
                    _ => return Err(self.expected("a property name or `*` after `.`")),
                };
                self.pos += 1;
                (kind, token.span.end, 0)
            } else {
                return Ok((expr, height));
            };
            let span = start_of(&kind)..end;
            height = self.height(height.max(index_height) + 1, &span)?;
            expr = Expr { kind, span };
        }
    }

    /// A literal, context name, call or parenthesised expression, and whether it may be
    /// indexed.
    fn primary(&mut self) -> Result<(Expr, usize, bool), ExprError> {
        let Some(token) = self.tokens.get(self.pos) else {
            return Err(self.unexpected_end("an operand"));
        };
        let span = token.span.clone();
        let literal = match &token.tok {
            Tok::Null => Value::Null,
            Tok::True => Value::Bool(true),
            Tok::False => Value::Bool(false),
            Tok::Number(n) => Value::Number(*n),
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Ident(name) => {
                let name = name.clone();
                self.pos += 1;
                if self.check(&Tok::LParen) {
                    return self.call(name, span).map(|(e, h)| (e, h, true));
                }
                let kind = ExprKind::Context(name);
                return Ok((Expr { kind, span }, 1, true));
            }
            Tok::LParen => {
                self.pos += 1;
                let (mut inner, height) = self.expression()?;
                let close = self.expect(&Tok::RParen, "`)`")?;
                inner.span = span.start..close.end;
                let height = self.height(height + 1, &inner.span)?;
                return Ok((inner, height, true));
            }
            _ => return Err(self.unexpected(token)),
        };
        self.pos += 1;
        let kind = ExprKind::Literal(literal);
        Ok((Expr { kind, span }, 1, false))
    }

    fn call(&mut self, name: String, name_span: Span) -> Result<Parsed, ExprError> {
        self.expect(&Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        let mut height = 0;
        let close = match self.eat(&Tok::RParen) {
            Some(close) => close,
            None => loop {
                let (arg, arg_height) = self.expression()?;
                height = height.max(arg_height);
                args.push(arg);
                if self.eat(&Tok::Comma).is_some() {
                    continue;
                }
                break self.expect(&Tok::RParen, "`,` or `)`")?;
            },
        };
        let span = name_span.start..close.end;
        let height = self.height(height + 1, &span)?;
        let kind = ExprKind::Call {
            name,
            name_span,
            args,
        };
        Ok((Expr { kind, span }, height))
    }
}

/// Where a postfix node starts: where its target starts.
fn start_of(kind: &ExprKind) -> usize {
    match kind {
        ExprKind::Property { target, .. }
        | ExprKind::Index { target, .. }
        | ExprKind::Filter { target } => target.span.start,
        _ => 0,
    }
}
