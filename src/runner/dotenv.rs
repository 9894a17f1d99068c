//! `--env-file` and `--secret-file`: the dotenv format act reads with godotenv, in the subset
//! that workflows' users actually write.
//!
//! ```text
//! # a comment
//! export GREETING=hello world   # an inline comment
//! SINGLE='literal $HOME \n'
//! DOUBLE="line one\nline two"
//! SPANNING="first
//! second"
//! JSON={"foo": "bar"}
//! ```
//!
//! The file may hold secrets, so errors carry line numbers only, never a line's text.

use std::collections::HashMap;

/// An error in a dotenv file. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DotenvError {
    /// A line that is not blank, not a comment, and has no `=`.
    #[error("failed to parse line {line}: expected KEY=VALUE")]
    MissingEquals {
        /// The line.
        line: usize,
    },
    /// A key that is empty or not `[A-Za-z_][A-Za-z0-9_.]*`.
    #[error(
        "failed to parse line {line}: invalid key; a key is a letter or '_' followed by \
         letters, digits, '_' or '.'"
    )]
    InvalidKey {
        /// The line.
        line: usize,
    },
    /// A quoted value whose closing quote never comes.
    #[error("failed to parse line {line}: the value's opening {quote} is never closed")]
    UnterminatedQuote {
        /// The line where the value starts.
        line: usize,
        /// `'` or `"`.
        quote: char,
    },
    /// Text other than whitespace or a `#` comment after a quoted value's closing quote.
    #[error("failed to parse line {line}: unexpected text after the closing quote")]
    TrailingCharacters {
        /// The line of the closing quote.
        line: usize,
    },
}

impl DotenvError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            DotenvError::MissingEquals { line }
            | DotenvError::InvalidKey { line }
            | DotenvError::UnterminatedQuote { line, .. }
            | DotenvError::TrailingCharacters { line } => *line,
        }
    }
}

/// Parses a dotenv file into `(key, value)` pairs.
///
/// - `KEY=VALUE`, optionally after `export `; whitespace around the key and the `=` is
///   ignored. Blank lines and lines starting with `#` are skipped. `\r\n` counts as `\n`.
/// - Keys match `[A-Za-z_][A-Za-z0-9_.]*` (ASCII only), names a shell can use, plus the `.`
///   godotenv allows.
/// - An unquoted value is the rest of the line, ending before the first space or tab that is
///   followed by `#`, and trimmed. So `A=x#y` is `x#y`, `A=x #y` is `x`, and `A= #y` is empty
///   (godotenv would give `#y`, and would cut `a #b #c` at the last ` #`, not the first).
/// - A single-quoted value is literal up to the next `'`.
/// - A double-quoted value ends at the next unescaped `"` and understands `\n`, `\r`, `\t`,
///   `\"`, `\\` and `\$`. Any other backslash stays as written, as in a shell's double
///   quotes (godotenv drops it, and reads `\t` as `t`).
/// - A quoted value may span lines; the line breaks are part of it. After the closing quote
///   only whitespace and a `#` comment may follow.
/// - No `$VAR` expansion: values are taken as written, so a secret containing `$` survives,
///   and the result does not depend on the caller's environment.
///
/// A key given twice keeps its last value, at the position where it first appeared, so the
/// result has no duplicate keys and follows the file's order.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let text = text.replace("\r\n", "\n");
    let mut parser = Parser {
        text: &text,
        pos: 0,
        line: 1,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    while let Some((key, value)) = parser.entry()? {
        match index.get(&key) {
            Some(&i) => pairs[i].1 = value,
            None => {
                index.insert(key.clone(), pairs.len());
                pairs.push((key, value));
            }
        }
    }
    Ok(pairs)
}

/// A cursor over the whole text: quoted values may run past the end of their line.
struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next unread character; always at the start of a line between
    /// entries.
    pos: usize,
    /// The 1-based line `pos` is on.
    line: usize,
}

impl<'a> Parser<'a> {
    /// Takes the rest of the current line (without its `\n`) and moves to the next line.
    fn take_line(&mut self) -> &'a str {
        let rest = &self.text[self.pos..];
        match rest.find('\n') {
            Some(i) => {
                self.pos += i + 1;
                self.line += 1;
                &rest[..i]
            }
            None => {
                self.pos = self.text.len();
                rest
            }
        }
    }

    /// The next entry, or `None` at the end of the text.
    fn entry(&mut self) -> Result<Option<(String, String)>, DotenvError> {
        loop {
            if self.pos >= self.text.len() {
                return Ok(None);
            }
            let line_no = self.line;
            let line_start = self.pos;
            let line = self.take_line();
            let statement = line.trim_start_matches(is_blank);
            if statement.trim_end_matches(is_blank_or_cr).is_empty() || statement.starts_with('#') {
                continue;
            }
            let statement = strip_export(statement);
            let Some((key, raw_value)) = statement.split_once('=') else {
                return Err(DotenvError::MissingEquals { line: line_no });
            };
            let key = key.trim_matches(is_blank);
            if !is_valid_key(key) {
                return Err(DotenvError::InvalidKey { line: line_no });
            }
            let value = raw_value.trim_start_matches(is_blank);
            let value = match value.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    // Rewind to just after the opening quote: the value may continue on the
                    // lines that take_line has already stepped past.
                    // `value` is a suffix of `line`, and the quote is one byte.
                    self.pos = line_start + (line.len() - value.len()) + 1;
                    self.line = line_no;
                    self.quoted(quote, line_no)?
                }
                _ => unquoted(raw_value),
            };
            return Ok(Some((key.to_owned(), value)));
        }
    }

    /// Reads a quoted value from `pos` (just after the opening quote) through the closing
    /// quote and the rest of that line.
    fn quoted(&mut self, quote: char, start_line: usize) -> Result<String, DotenvError> {
        let unterminated = DotenvError::UnterminatedQuote {
            line: start_line,
            quote,
        };
        let rest = &self.text[self.pos..];
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let Some((i, c)) = chars.next() else {
                return Err(unterminated);
            };
            match c {
                c if c == quote => break i,
                '\\' if quote == '"' => {
                    let Some((_, escaped)) = chars.next() else {
                        return Err(unterminated);
                    };
                    match escaped {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        '"' | '\\' | '$' => value.push(escaped),
                        other => {
                            value.push('\\');
                            value.push(other);
                            if other == '\n' {
                                self.line += 1;
                            }
                        }
                    }
                }
                '\n' => {
                    self.line += 1;
                    value.push('\n');
                }
                c => value.push(c),
            }
        };
        self.pos += end + quote.len_utf8();
        let closing_line = self.line;
        let trailing = self.take_line().trim_start_matches(is_blank_or_cr);
        if !trailing.is_empty() && !trailing.starts_with('#') {
            return Err(DotenvError::TrailingCharacters { line: closing_line });
        }
        Ok(value)
    }
}

/// Removes an `export` prefix followed by whitespace, unless `export` is itself the key
/// (`export = 1`).
fn strip_export(statement: &str) -> &str {
    let Some(rest) = statement.strip_prefix("export") else {
        return statement;
    };
    if !rest.starts_with(is_blank) {
        return statement;
    }
    let rest = rest.trim_start_matches(is_blank);
    if rest.starts_with('=') {
        statement
    } else {
        rest
    }
}

/// The value of an unquoted `KEY=value  # comment`.
fn unquoted(value: &str) -> String {
    let bytes = value.as_bytes();
    // Space and tab are one byte each, so `i + 1` is on a character boundary.
    let end = (0..bytes.len())
        .find(|&i| matches!(bytes[i], b' ' | b'\t') && bytes.get(i + 1) == Some(&b'#'))
        .unwrap_or(bytes.len());
    value[..end].trim_matches(is_blank_or_cr).to_owned()
}

fn is_valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A lone `\r` (not part of `\r\n`) outside quotes is line-ending debris, not content.
fn is_blank_or_cr(c: char) -> bool {
    is_blank(c) || c == '\r'
}

#[cfg(test)]
mod tests;
