//! Workflow commands: the `::name key=value::message` lines a job prints on stdout, and the
//! `NAME=VALUE` / `NAME<<DELIMITER` files behind `GITHUB_ENV`, `GITHUB_OUTPUT` and
//! `GITHUB_STATE`.
//!
//! Both follow GitHub's runner (`ActionCommand.TryParseV2`, `ActionCommandManager`,
//! `FileCommandManager.EnvFileKeyValuePairs`) rather than act where the two differ, because
//! workflows are written against GitHub. Parsing only: whether a command is allowed
//! (`set-env` and `add-path` need `ACTIONS_ALLOW_UNSECURE_COMMANDS`), blocked names such as
//! `NODE_OPTIONS`, and what gets printed are the runner's decisions.
//!
//! Everything here reads a job's output, so it treats its input as hostile: any bytes are
//! accepted without panicking, and the work is linear in the input.
//!
//! Not supported: the legacy `##[name key=value;]message` form that GitHub still accepts, and
//! the `add-matcher` / `remove-matcher` commands; such lines are ordinary output here.

use std::fmt;

/// A workflow command recognised on a line of a step's stdout.
///
/// Values are unescaped (`%25`, `%0D`, `%0A` in messages; also `%3A`, `%2C` in properties).
#[derive(Clone, PartialEq, Eq)]
pub enum WorkflowCommand {
    /// `::set-output name=NAME::VALUE`: sets a step output (deprecated on GitHub).
    SetOutput {
        /// The output's name.
        name: String,
        /// The output's value.
        value: String,
    },
    /// `::set-env name=NAME::VALUE`: sets an environment variable for later steps.
    SetEnv {
        /// The variable's name.
        name: String,
        /// The variable's value.
        value: String,
    },
    /// `::add-path::DIR`: prepends a directory to `PATH` for later steps.
    AddPath(String),
    /// `::add-mask::VALUE`: hides a value in all later output. Its `Debug` form hides the value.
    AddMask(String),
    /// `::save-state name=NAME::VALUE`: state an action's `pre`/`main` passes to its `post`.
    SaveState {
        /// The state's name.
        name: String,
        /// The state's value.
        value: String,
    },
    /// `::group::TITLE`: starts a foldable group in the log.
    Group(String),
    /// `::endgroup::`: ends the current group; its message is ignored, as on GitHub.
    EndGroup,
    /// `::debug::MESSAGE`: a message shown only when step debug logging is on.
    Debug(String),
    /// `::notice::`, `::warning::` or `::error::`: an annotation.
    Annotation(Annotation),
    /// `::echo::on` or `::echo::off`: whether later commands are echoed to the log.
    Echo(bool),
    /// `::stop-commands::TOKEN`: the parser now ignores commands until `::TOKEN::`. Returned
    /// so the runner can show it; the parser has already acted on it.
    StopCommands(String),
}

impl fmt::Debug for WorkflowCommand {
    // Written by hand so that logging a parsed command never prints an `add-mask` value, the
    // one value a job has asked never to see again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkflowCommand::SetOutput { name, value } => f
                .debug_struct("SetOutput")
                .field("name", name)
                .field("value", value)
                .finish(),
            WorkflowCommand::SetEnv { name, value } => f
                .debug_struct("SetEnv")
                .field("name", name)
                .field("value", value)
                .finish(),
            WorkflowCommand::AddPath(path) => f.debug_tuple("AddPath").field(path).finish(),
            WorkflowCommand::AddMask(_) => f.debug_tuple("AddMask").field(&"***").finish(),
            WorkflowCommand::SaveState { name, value } => f
                .debug_struct("SaveState")
                .field("name", name)
                .field("value", value)
                .finish(),
            WorkflowCommand::Group(title) => f.debug_tuple("Group").field(title).finish(),
            WorkflowCommand::EndGroup => f.write_str("EndGroup"),
            WorkflowCommand::Debug(message) => f.debug_tuple("Debug").field(message).finish(),
            WorkflowCommand::Annotation(a) => f.debug_tuple("Annotation").field(a).finish(),
            WorkflowCommand::Echo(on) => f.debug_tuple("Echo").field(on).finish(),
            WorkflowCommand::StopCommands(token) => {
                f.debug_tuple("StopCommands").field(token).finish()
            }
        }
    }
}

/// An annotation from `::notice`, `::warning` or `::error`, with its position already made
/// consistent the way GitHub's runner does it (see [`CommandParser::parse_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Notice, warning or error.
    pub level: AnnotationLevel,
    /// The message (the command's data).
    pub message: String,
    /// `file=`: the path the annotation points at, as the job printed it.
    pub file: Option<String>,
    /// `line=`: the first line, 1-based.
    pub line: Option<u64>,
    /// `col=`: the first column, 1-based.
    pub col: Option<u64>,
    /// `endLine=`: the last line.
    pub end_line: Option<u64>,
    /// `endColumn=`: the last column.
    pub end_col: Option<u64>,
    /// `title=`: a title shown above the message.
    pub title: Option<String>,
}

/// The severity of an [`Annotation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationLevel {
    /// `::notice::`
    Notice,
    /// `::warning::`
    Warning,
    /// `::error::`
    Error,
}

/// A recognised command that cannot be carried out as written.
///
/// Messages never quote the command's data, so a malformed `add-mask` cannot leak its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `set-output`, `set-env` or `save-state` without a non-empty `name` property. GitHub
    /// fails the step.
    #[error("failed to process ::{command}:: command: required property 'name' is missing")]
    MissingName {
        /// The command, in lower case.
        command: &'static str,
    },
    /// `add-path` with an empty path. GitHub fails the step.
    #[error("failed to process ::add-path:: command: the path is empty")]
    EmptyPath,
    /// `add-mask` with an empty or whitespace-only value. GitHub only warns.
    #[error("failed to process ::add-mask:: command: cannot mask an empty value")]
    EmptyMask,
    /// `echo` with a value other than `on` or `off`. GitHub fails the step.
    #[error("failed to process ::echo:: command: the value must be 'on' or 'off'")]
    InvalidEcho,
    /// `stop-commands` with an empty token. Commands stay enabled.
    #[error("failed to process ::stop-commands:: command: the token is empty")]
    EmptyStopToken,
    /// `stop-commands` with a token that any output could contain by chance: `pause-logging`
    /// or the name of a command. Commands stay enabled.
    #[error(
        "failed to process ::stop-commands:: command: the token must not be a command name or \
         'pause-logging'; use a unique random token"
    )]
    GuessableStopToken,
}

/// Command names GitHub's runner registers. A `stop-commands` token equal to one of them would
/// let ordinary output resume processing, so GitHub rejects such tokens; so do we, including
/// for the names this module does not otherwise handle.
const REGISTERED_COMMANDS: &[&str] = &[
    "add-mask",
    "add-matcher",
    "add-path",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "remove-matcher",
    "save-state",
    "set-env",
    "set-output",
    "stop-commands",
    "warning",
];

/// The commands this module turns into [`WorkflowCommand`]s.
#[derive(Clone, Copy)]
enum Kind {
    SetOutput,
    SetEnv,
    AddPath,
    AddMask,
    SaveState,
    Group,
    EndGroup,
    Debug,
    Annotation(AnnotationLevel),
    Echo,
    StopCommands,
}

const KINDS: &[(&str, Kind)] = &[
    ("set-output", Kind::SetOutput),
    ("set-env", Kind::SetEnv),
    ("add-path", Kind::AddPath),
    ("add-mask", Kind::AddMask),
    ("save-state", Kind::SaveState),
    ("group", Kind::Group),
    ("endgroup", Kind::EndGroup),
    ("debug", Kind::Debug),
    ("notice", Kind::Annotation(AnnotationLevel::Notice)),
    ("warning", Kind::Annotation(AnnotationLevel::Warning)),
    ("error", Kind::Annotation(AnnotationLevel::Error)),
    ("echo", Kind::Echo),
    ("stop-commands", Kind::StopCommands),
];

/// Recognises workflow commands in one step's output, line by line.
///
/// Holds the `stop-commands` state, which GitHub keeps per step, so each step gets its own
/// parser. Which streams to feed is the runner's choice (GitHub's feeds stdout and stderr).
#[derive(Debug, Clone, Default)]
pub struct CommandParser {
    /// While `Some`, commands are ignored until a command named this token arrives.
    stop_token: Option<String>,
}

impl CommandParser {
    /// A parser with commands enabled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether commands are stopped by `::stop-commands::` and not yet resumed.
    pub fn stopped(&self) -> bool {
        self.stop_token.is_some()
    }

    /// Parses one line of output, without its `\n`; one trailing `\r` is removed.
    ///
    /// Returns `None` for ordinary lines, for unknown commands (GitHub prints them as they
    /// are), and for every line while commands are stopped, including the `::TOKEN::` line
    /// that resumes them ([`stopped`](Self::stopped) tells the runner it happened). Returns
    /// `Some(Err(..))` for a known command that is malformed, so the runner can report it.
    ///
    /// The syntax is GitHub's: leading whitespace is skipped; the command info runs from the
    /// opening `::` to the next `::`, and everything after that is the message. The name ends
    /// at the first space and is matched case-insensitively. Properties are split on `,`,
    /// then each on its first `=`; a property with an empty key or value is dropped, keys are
    /// case-insensitive, and a repeated key keeps its last value. Percent escapes are
    /// upper-case only, as on GitHub: `%0a` stays as it is.
    ///
    /// A resume line matches when its command name equals the token case-insensitively, so
    /// `::TOKEN::` and `::token key=v::text` both resume, as on GitHub.
    ///
    /// Annotation positions are made consistent as GitHub's runner does before it records
    /// one: `endLine` without `line` sets `line`; `endColumn` without `col` sets `col`;
    /// columns without a line, or on a multi-line range, are dropped; an `endLine` before
    /// `line` drops both lines, an `endColumn` before `col` drops both columns. A number that
    /// does not parse as an unsigned integer is treated as absent, not as an error.
    ///
    /// Output need not be UTF-8. A line is decoded lossily (invalid sequences become U+FFFD)
    /// before parsing, which is what GitHub's runner does when it reads a step's output as
    /// UTF-8; so a non-UTF-8 value arrives with replacement characters rather than being
    /// dropped. An `add-mask` value decoded this way cannot match the raw bytes it came from,
    /// as on GitHub.
    pub fn parse_line(&mut self, line: &[u8]) -> Option<Result<WorkflowCommand, CommandError>> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let raw = RawCommand::split(&text)?;
        if let Some(token) = &self.stop_token {
            if eq_ignore_case(raw.name, token) {
                self.stop_token = None;
            }
            return None;
        }
        let kind = KINDS
            .iter()
            .find(|(name, _)| eq_ignore_case(raw.name, name))
            .map(|&(_, kind)| kind)?;
        let result = self.build(kind, &raw);
        Some(result)
    }

    fn build(&mut self, kind: Kind, raw: &RawCommand<'_>) -> Result<WorkflowCommand, CommandError> {
        let data = || unescape(raw.data, DATA_ESCAPES);
        let name = |command: &'static str| {
            raw.property("name")
                .filter(|n| !n.is_empty())
                .ok_or(CommandError::MissingName { command })
        };
        let command = match kind {
            Kind::SetOutput => WorkflowCommand::SetOutput {
                name: name("set-output")?,
                value: data(),
            },
            Kind::SetEnv => WorkflowCommand::SetEnv {
                name: name("set-env")?,
                value: data(),
            },
            Kind::SaveState => WorkflowCommand::SaveState {
                name: name("save-state")?,
                value: data(),
            },
            Kind::AddPath => {
                let path = data();
                if path.is_empty() {
                    return Err(CommandError::EmptyPath);
                }
                WorkflowCommand::AddPath(path)
            }
            Kind::AddMask => {
                let value = data();
                if value.trim().is_empty() {
                    return Err(CommandError::EmptyMask);
                }
                WorkflowCommand::AddMask(value)
            }
            Kind::Group => WorkflowCommand::Group(data()),
            Kind::EndGroup => WorkflowCommand::EndGroup,
            Kind::Debug => WorkflowCommand::Debug(data()),
            Kind::Annotation(level) => WorkflowCommand::Annotation(annotation(level, raw)),
            Kind::Echo => {
                let value = data();
                let value = value.trim();
                if value.eq_ignore_ascii_case("on") {
                    WorkflowCommand::Echo(true)
                } else if value.eq_ignore_ascii_case("off") {
                    WorkflowCommand::Echo(false)
                } else {
                    return Err(CommandError::InvalidEcho);
                }
            }
            Kind::StopCommands => {
                let token = data();
                if token.is_empty() {
                    return Err(CommandError::EmptyStopToken);
                }
                let guessable = eq_ignore_case(&token, "pause-logging")
                    || REGISTERED_COMMANDS
                        .iter()
                        .any(|c| eq_ignore_case(&token, c));
                if guessable {
                    return Err(CommandError::GuessableStopToken);
                }
                self.stop_token = Some(token.clone());
                WorkflowCommand::StopCommands(token)
            }
        };
        Ok(command)
    }
}

/// A line split into command name, raw (still escaped) properties and raw data.
struct RawCommand<'a> {
    name: &'a str,
    properties: &'a str,
    data: &'a str,
}

impl<'a> RawCommand<'a> {
    fn split(line: &'a str) -> Option<Self> {
        let rest = line.trim_start().strip_prefix("::")?;
        let end = rest.find("::")?;
        let info = &rest[..end];
        let data = &rest[end + 2..];
        let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
        Some(RawCommand {
            name,
            properties: properties.trim(),
            data,
        })
    }

    /// The unescaped value of the last property whose key equals `key` case-insensitively.
    ///
    /// Scanning the property text for each lookup keeps the work linear: a command looks up
    /// at most six keys.
    fn property(&self, key: &str) -> Option<String> {
        self.properties
            .split(',')
            .filter_map(|p| {
                // GitHub splits with RemoveEmptyEntries, which drops leading `=`s and a pair
                // whose key or value is empty.
                let (k, v) = p.trim_start_matches('=').split_once('=')?;
                (!v.is_empty() && eq_ignore_case(k, key)).then_some(v)
            })
            .next_back()
            .map(|v| unescape(v, PROPERTY_ESCAPES))
    }
}

fn annotation(level: AnnotationLevel, raw: &RawCommand<'_>) -> Annotation {
    let number = |key: &str| raw.property(key).and_then(|v| v.trim().parse::<u64>().ok());
    let mut a = Annotation {
        level,
        message: unescape(raw.data, DATA_ESCAPES),
        file: raw.property("file"),
        line: number("line"),
        col: number("col"),
        end_line: number("endLine"),
        end_col: number("endColumn"),
        title: raw.property("title"),
    };
    normalize_position(&mut a);
    a
}

/// GitHub's `IssueCommandExtension.ValidateLinesAndColumns`, so an annotation points where it
/// would on GitHub. The order of the steps matters and is GitHub's.
fn normalize_position(a: &mut Annotation) {
    let has_column = a.col.is_some() || a.end_col.is_some();
    if a.line.is_none() {
        a.line = a.end_line;
    }
    if a.col.is_none() {
        a.col = a.end_col;
    }
    let multi_line = a.end_line.is_some() && a.line != a.end_line;
    if has_column && (a.line.is_none() || multi_line) {
        a.col = None;
        a.end_col = None;
    }
    if let (Some(line), Some(end)) = (a.line, a.end_line) {
        if end < line {
            a.line = None;
            a.end_line = None;
        }
    }
    if let (Some(col), Some(end)) = (a.col, a.end_col) {
        if end < col {
            a.col = None;
            a.end_col = None;
        }
    }
}

/// Escapes in a command's data.
const DATA_ESCAPES: &[(&str, char)] = &[("25", '%'), ("0D", '\r'), ("0A", '\n')];

/// Escapes in a property value: also `:` and `,`, which would otherwise end the property.
const PROPERTY_ESCAPES: &[(&str, char)] = &[
    ("25", '%'),
    ("0D", '\r'),
    ("0A", '\n'),
    ("3A", ':'),
    ("2C", ','),
];

/// Replaces `%XX` escapes in one left-to-right pass. GitHub replaces one escape after another
/// with `%25` last; for these escape sets that gives the same result, and one pass cannot
/// decode its own output (`%250A` is `%0A`, not a newline).
fn unescape(s: &str, escapes: &[(&str, char)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let code = after.get(..2);
        match escapes.iter().find(|(c, _)| Some(*c) == code) {
            Some(&(_, ch)) => {
                out.push(ch);
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Case-insensitive comparison as .NET's `OrdinalIgnoreCase`: character by character, each
/// mapped to its simple upper case. Characters whose upper case is several characters (`ß`)
/// compare as themselves, as in .NET.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    }
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    let mut a = a.chars().map(fold);
    let mut b = b.chars().map(fold);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Errors in a `GITHUB_ENV`, `GITHUB_OUTPUT` or `GITHUB_STATE` file. Lines are 1-based.
///
/// Messages never quote a line: these files carry values a job may consider secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileCommandError {
    /// A non-empty line with neither `=` nor `<<`.
    #[error("failed to parse line {line}: expected NAME=VALUE or NAME<<DELIMITER")]
    InvalidFormat {
        /// The line.
        line: usize,
    },
    /// `=VALUE` or `<<DELIMITER` with nothing before it.
    #[error("failed to parse line {line}: the name is empty")]
    EmptyName {
        /// The line.
        line: usize,
    },
    /// `NAME<<` with nothing after it.
    #[error("failed to parse line {line}: the delimiter after '<<' is empty")]
    EmptyDelimiter {
        /// The line.
        line: usize,
    },
    /// `NAME<<DELIMITER` whose delimiter never appears on a line of its own.
    #[error("failed to find the delimiter {delimiter:?} that ends the value begun on line {line}")]
    MissingDelimiter {
        /// The line of `NAME<<DELIMITER`.
        line: usize,
        /// The delimiter that was expected.
        delimiter: String,
    },
}

impl FileCommandError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            FileCommandError::InvalidFormat { line }
            | FileCommandError::EmptyName { line }
            | FileCommandError::EmptyDelimiter { line }
            | FileCommandError::MissingDelimiter { line, .. } => *line,
        }
    }
}

/// Parses a file-command file (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE`) into its
/// `(name, value)` pairs, in file order.
///
/// Each non-empty line is `NAME=VALUE` (the value is everything after the first `=` and may
/// contain `=`) or `NAME<<DELIMITER`, whichever of `=` and `<<` comes first. The multi-line
/// form takes the lines up to the next line that is exactly `DELIMITER`, joined with `\n`,
/// without a trailing newline; an immediate delimiter gives an empty value. Lines end in `\n`
/// or `\r\n`; the last line needs no terminator. Nothing is trimmed: names and values are kept
/// byte for byte, as GitHub keeps them.
///
/// Repeated names are all returned, in order; applying them in order gives GitHub's result,
/// where the last one wins.
///
/// Differences from GitHub's runner, each deliberate:
/// - `=VALUE` (an empty name) is an error; GitHub's check for it tests the wrong variable, so
///   it sets a variable with an empty name.
/// - `\r\n` ends a line on every platform, as it does on GitHub's Windows runners; on Linux,
///   GitHub would keep the `\r` in the value. Inside a multi-line value, lines are joined with
///   `\n` even where the file has `\r\n`.
/// - No check of the name beyond emptiness: what a valid environment variable or output name
///   is (no NUL, `NODE_OPTIONS` blocked) is for whoever applies the pairs.
pub fn parse_file_commands(text: &str) -> Result<Vec<(String, String)>, FileCommandError> {
    let mut pairs = Vec::new();
    let mut lines = text
        .split_inclusive('\n')
        .map(|l| {
            let l = l.strip_suffix('\n').unwrap_or(l);
            l.strip_suffix('\r').unwrap_or(l)
        })
        .zip(1usize..);
    while let Some((line, number)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(FileCommandError::EmptyName { line: number });
                }
                pairs.push((name.to_owned(), value.to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() {
                    return Err(FileCommandError::EmptyName { line: number });
                }
                if delimiter.is_empty() {
                    return Err(FileCommandError::EmptyDelimiter { line: number });
                }
                let mut value: Option<String> = None;
                let mut closed = false;
                for (body, _) in lines.by_ref() {
                    if body == delimiter {
                        closed = true;
                        break;
                    }
                    match &mut value {
                        Some(v) => {
                            v.push('\n');
                            v.push_str(body);
                        }
                        None => value = Some(body.to_owned()),
                    }
                }
                if !closed {
                    return Err(FileCommandError::MissingDelimiter {
                        line: number,
                        delimiter: delimiter.to_owned(),
                    });
                }
                pairs.push((name.to_owned(), value.unwrap_or_default()));
            }
            _ => return Err(FileCommandError::InvalidFormat { line: number }),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests;
