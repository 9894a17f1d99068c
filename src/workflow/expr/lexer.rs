//! Splits expression text into tokens, each with its byte span.
//!
//! The rules are GitHub's: whitespace separates tokens; a token runs until one of
//! `( ) [ ] , . ! > < = & |` or whitespace; `-`, `+`, a digit, or a `.` that cannot be a
//! property dereference start a number literal; `null`, `true`, `false`, `NaN` and `Infinity`
//! are keywords (case-sensitive) except after a `.`; other words are identifiers made of ASCII
//! letters, digits, `_` and `-`, starting with a letter or `_`.

use super::error::{ErrorKind, ExprError, Span};
use super::value::parse_number;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Star,
    Not,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Null,
    True,
    False,
    Number(f64),
    Str(String),
    /// A context name, property name or function name.
    Ident(String),
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Whether `c` ends a number or word.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '[' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|'
    ) || c.is_whitespace()
}

fn is_legal_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Tokenizes `text`, which starts at byte `base` of the source that spans refer to.
pub(crate) fn lex(text: &str, base: usize) -> Result<Vec<Token>, ExprError> {
    Lexer {
        text,
        base,
        pos: 0,
        tokens: Vec::new(),
    }
    .run()
}

struct Lexer<'a> {
    text: &'a str,
    base: usize,
    pos: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn run(mut self) -> Result<Vec<Token>, ExprError> {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            let start = self.pos;
            self.pos += c.len_utf8();
            let tok = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                ',' => Tok::Comma,
                '*' => Tok::Star,
                '\'' => self.string(start)?,
                '!' => self.pair('=', Tok::Ne, Tok::Not),
                '<' => self.pair('=', Tok::Le, Tok::Lt),
                '>' => self.pair('=', Tok::Ge, Tok::Gt),
                '=' => self.doubled('=', Tok::Eq, start, "use `==` to compare")?,
                '&' => self.doubled('&', Tok::And, start, "use `&&` for a logical and")?,
                '|' => self.doubled('|', Tok::Or, start, "use `||` for a logical or")?,
                '.' if self.follows_operand() => Tok::Dot,
                '.' | '-' | '+' | '0'..='9' => self.number(start)?,
                _ => self.word(start)?,
            };
            self.push(tok, start);
        }
        Ok(self.tokens)
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn span(&self, start: usize) -> Span {
        self.base + start..self.base + self.pos
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let span = self.span(start);
        self.tokens.push(Token { tok, span });
    }

    /// Whether a `.` here dereferences the token before it rather than starting a number.
    fn follows_operand(&self) -> bool {
        matches!(
            self.tokens.last().map(|t| &t.tok),
            Some(Tok::Ident(_) | Tok::RParen | Tok::RBracket | Tok::Star)
        )
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn pair(&mut self, second: char, both: Tok, single: Tok) -> Tok {
        if self.eat(second) {
            both
        } else {
            single
        }
    }

    /// `==`, `&&` or `||`; the single character is an error.
    fn doubled(&mut self, c: char, tok: Tok, start: usize, hint: &str) -> Result<Tok, ExprError> {
        if self.eat(c) {
            return Ok(tok);
        }
        self.skip_to_boundary();
        Err(self.unexpected(start).with_hint(hint))
    }

    fn skip_to_boundary(&mut self) {
        while let Some(c) = self.peek() {
            if is_boundary(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn unexpected(&self, start: usize) -> ExprError {
        ExprError::new(
            ErrorKind::UnexpectedSymbol,
            self.span(start),
            format!("unexpected symbol `{}`", &self.text[start..self.pos]),
        )
    }

    fn string(&mut self, start: usize) -> Result<Tok, ExprError> {
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            if c == '\'' && !self.eat('\'') {
                return Ok(Tok::Str(value));
            }
            value.push(c);
        }
        Err(ExprError::new(
            ErrorKind::UnterminatedString,
            self.span(start),
            "string literal is not closed",
        )
        .with_hint("end it with `'`; inside a string, write a single quote as `''`"))
    }

    fn number(&mut self, start: usize) -> Result<Tok, ExprError> {
        while let Some(c) = self.peek() {
            if is_boundary(c) && c != '.' {
                break;
            }
            self.pos += c.len_utf8();
        }
        let lexeme = &self.text[start..self.pos];
        let value = parse_number(lexeme);
        if value.is_nan() {
            let error = ExprError::new(
                ErrorKind::InvalidNumber,
                self.span(start),
                format!("`{lexeme}` is not a valid number"),
            );
            let error = if lexeme.starts_with(['-', '+']) {
                error.with_hint(
                    "`-` and `+` only start a number literal; expressions have no arithmetic",
                )
            } else {
                error
            };
            return Err(error);
        }
        Ok(Tok::Number(value))
    }

    fn word(&mut self, start: usize) -> Result<Tok, ExprError> {
        self.skip_to_boundary();
        let word = &self.text[start..self.pos];
        if !is_legal_identifier(word) {
            let error = self.unexpected(start);
            return Err(if word.starts_with('"') {
                error.with_hint("string literals use single quotes, e.g. 'text'")
            } else {
                error
            });
        }
        let after_dot = matches!(self.tokens.last().map(|t| &t.tok), Some(Tok::Dot));
        Ok(match word {
            _ if after_dot => Tok::Ident(word.to_owned()),
            "null" => Tok::Null,
            "true" => Tok::True,
            "false" => Tok::False,
            "NaN" => Tok::Number(f64::NAN),
            "Infinity" => Tok::Number(f64::INFINITY),
            _ => Tok::Ident(word.to_owned()),
        })
    }
}
