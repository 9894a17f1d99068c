//! `hashFiles(pattern, …)`, computed as GitHub's runner computes it.
//!
//! The runner (`src/Runner.Worker/Expressions/HashFilesFunction.cs` in `actions/runner`) joins
//! the arguments with newlines and runs a small node script (`src/Misc/expressionFunc/
//! hashFiles`) in `GITHUB_WORKSPACE`, which globs with `@actions/glob` and hashes. Here:
//!
//! - A first argument starting with `--` is an option; only `--follow-symbolic-links` exists.
//! - Every argument is split into lines; each line is trimmed, and empty lines and lines
//!   starting with `#` are skipped. Leading `!`s negate (an odd count excludes); the rest is
//!   trimmed again and must not be empty. A `.` segment is allowed only first, `..` never.
//! - Relative patterns are rooted at the workspace (`./x` too), `~/x` at `$HOME`; absolute
//!   patterns stay absolute. Matching is minimatch with `dot: true` (dotfiles match),
//!   `nobrace`, `noext`, case-sensitive: `*`, `?`, `[…]` within a segment, `**` as a whole
//!   segment for any number of segments, `\` escapes.
//! - Every pattern also matches the descendants of what it matches (`src` is `src` and
//!   `src/**`); a trailing `/` matches directories only (so, for hashing, what is below them).
//!   Patterns apply in order: a later `!` removes, a later pattern adds back.
//! - The files are visited depth first from each pattern's literal prefix (in pattern order,
//!   dropping prefixes below another one), the entries of a directory in byte order of their
//!   names (node's `readdir` sorts with `strcmp`), so `a/x` comes before `a.txt`.
//! - Directories and files outside the workspace are skipped. Symbolic links are not followed
//!   while walking unless `--follow-symbolic-links` is given; a matched link to a file is
//!   hashed as its target. Unlike GitHub, a link whose target is outside the workspace is
//!   skipped.
//! - The result is the lowercase hex of sha256 over the concatenated raw sha256 digests of the
//!   files' contents, or `''` when no file matched.
//!
//! At most [`MAX_ENTRIES`] entries are looked at; beyond that the call fails.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{ErrorKind, ExprError, Span};
use super::functions::Invocation;
use super::value::Value;

/// How many directory entries one call may look at before it fails.
#[cfg(not(test))]
pub const MAX_ENTRIES: usize = 100_000;
/// Small in unit tests, so the bound can be exercised without creating 100,000 files.
#[cfg(test)]
pub const MAX_ENTRIES: usize = 2_000;

const DIRECTORY: u8 = 1;
const FILE: u8 = 2;
const ALL: u8 = DIRECTORY | FILE;

/// `hashFiles(patterns…)`.
pub(crate) fn hash_files(call: &Invocation<'_>) -> Result<Value, ExprError> {
    let failed = |span: &Span, message: String| {
        ExprError::new(ErrorKind::HashFilesFailed, span.clone(), message)
    };
    let Some(workspace) = call.scope.workspace() else {
        return Err(failed(
            &call.span,
            "`hashFiles` needs a workspace directory, and none is set".to_owned(),
        )
        .with_hint("`hashFiles` can only be evaluated when a job runs"));
    };
    let root = fs::canonicalize(workspace).map_err(|e| {
        failed(
            &call.span,
            format!("cannot open the workspace {}: {e}", workspace.display()),
        )
    })?;
    let Some(root_text) = root.to_str() else {
        return Err(failed(
            &call.span,
            format!("the workspace path {} is not UTF-8", root.display()),
        ));
    };
    let root_segments: Vec<String> = segments_of(root_text);

    let mut follow = false;
    let mut patterns = Vec::new();
    for (i, arg) in call.args.iter().enumerate() {
        let text = arg.value.coerce_to_string();
        if i == 0 && text.starts_with("--") {
            if text.eq_ignore_ascii_case("--follow-symbolic-links") {
                follow = true;
                continue;
            }
            return Err(
                failed(&arg.span, format!("invalid `hashFiles` option `{text}`"))
                    .with_hint("the only option is `--follow-symbolic-links`"),
            );
        }
        for line in text.lines() {
            parse_line(line, &root_segments, &mut patterns)
                .map_err(|why| failed(&arg.span, format!("invalid pattern `{line}`: {why}")))?;
        }
    }

    let mut walk = Walk {
        patterns: &patterns,
        root: &root,
        follow,
        visited: 0,
        files: Vec::new(),
        span: &call.span,
    };
    for start in search_paths(&patterns) {
        // Only what is inside the workspace counts: walk the part of the tree that holds it.
        if start.starts_with(&root) {
            walk.walk(start)?;
        } else if root.starts_with(&start) {
            walk.walk(root.clone())?;
        }
    }
    if walk.files.is_empty() {
        return Ok(Value::String(String::new()));
    }
    let mut outer = Sha256::new();
    for file in &walk.files {
        let digest = hash_file(file)
            .map_err(|e| failed(&call.span, format!("cannot read {}: {e}", file.display())))?;
        outer.update(digest);
    }
    Ok(Value::String(hex(&outer.finalize())))
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The non-empty `/`-separated parts of `path`.
fn segments_of(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One character position of a segment pattern.
#[derive(Debug, Clone)]
enum Token {
    Char(char),
    /// `?`
    Any,
    /// `*`
    Star,
    /// `[…]`: inclusive ranges, negated with a leading `!` or `^`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
enum Segment {
    /// `**`: any number of segments.
    Globstar,
    Tokens {
        tokens: Vec<Token>,
        /// The segment as a literal name, when it has no wildcard (`[x]` is literal `x`).
        literal: Option<String>,
    },
}

impl Segment {
    fn literal(name: &str) -> Segment {
        Segment::Tokens {
            tokens: name.chars().map(Token::Char).collect(),
            literal: Some(name.to_owned()),
        }
    }

    fn parse(text: &str) -> Segment {
        if text == "**" {
            return Segment::Globstar;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut literal = Some(String::new());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            let token = match c {
                '\\' if i < chars.len() => {
                    i += 1;
                    Token::Char(chars[i - 1])
                }
                '*' => Token::Star,
                '?' => Token::Any,
                '[' => match class(&chars, i) {
                    Some((token, end)) => {
                        i = end;
                        token
                    }
                    None => Token::Char('['),
                },
                c => Token::Char(c),
            };
            match &token {
                Token::Char(c) => literal.iter_mut().for_each(|l| l.push(*c)),
                Token::Class { negated, ranges }
                    if !negated && ranges.len() == 1 && ranges[0].0 == ranges[0].1 =>
                {
                    literal.iter_mut().for_each(|l| l.push(ranges[0].0));
                }
                _ => literal = None,
            }
            if matches!(token, Token::Star) && matches!(tokens.last(), Some(Token::Star)) {
                continue;
            }
            tokens.push(token);
        }
        Segment::Tokens { tokens, literal }
    }

    fn literal_name(&self) -> Option<&str> {
        match self {
            Segment::Tokens { literal, .. } => literal.as_deref(),
            Segment::Globstar => None,
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Segment::Globstar => true,
            Segment::Tokens { tokens, .. } => {
                let name: Vec<char> = name.chars().collect();
                wildcard(tokens, &name)
            }
        }
    }
}

/// The class starting after the `[` at `chars[start - 1]`: the token and the index after its
/// `]`, or `None` when it is not closed (the `[` is then literal).
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i)?;
        i += 1;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i));
        }
        first = false;
        if c == '\\' {
            c = *chars.get(i)?;
            i += 1;
        }
        let end = match (chars.get(i), chars.get(i + 1)) {
            (Some('-'), Some(&e)) if e != ']' => {
                i += 2;
                e
            }
            _ => c,
        };
        ranges.push((c, end));
    }
}

/// Whether `tokens` match all of `name` (`*` backtracks to the last star).
fn wildcard(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let one = match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
                continue;
            }
            Some(Token::Char(c)) => *c == name[n],
            Some(Token::Any) => true,
            Some(Token::Class { negated, ranges }) => {
                ranges.iter().any(|&(a, b)| a <= name[n] && name[n] <= b) != *negated
            }
            None => false,
        };
        if one {
            t += 1;
            n += 1;
        } else if let Some((st, sn)) = star {
            t = st + 1;
            n = sn + 1;
            star = Some((st, sn + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|token| matches!(token, Token::Star))
}

/// Whether `pattern` matches the path `item` (`partial`: whether `item` may be an ancestor of
/// a match), as minimatch's `matchOne` decides it.
fn path_matches(pattern: &[Segment], item: &[&str], partial: bool) -> bool {
    let (p, n) = (pattern.len(), item.len());
    // ok[i][j]: pattern[i..] matches item[j..].
    let mut ok = vec![vec![false; n + 1]; p + 1];
    ok[p][n] = true;
    for row in ok.iter_mut().take(p) {
        row[n] = partial;
    }
    for i in (0..p).rev() {
        for j in (0..n).rev() {
            ok[i][j] = match &pattern[i] {
                Segment::Globstar => i + 1 == p || ok[i + 1][j] || ok[i][j + 1],
                segment => segment.matches(item[j]) && ok[i + 1][j + 1],
            };
        }
    }
    ok[0][0]
}

/// One pattern line, rooted.
#[derive(Debug)]
struct Pattern {
    negate: bool,
    segments: Vec<Segment>,
    /// Written with a trailing `/`: matches directories only.
    directories_only: bool,
    /// Added for the descendants of a written pattern.
    implicit: bool,
}

impl Pattern {
    fn ends_with_globstar(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Globstar))
    }

    /// The literal directory before the first wildcard segment.
    fn search_path(&self) -> PathBuf {
        let mut path = PathBuf::from("/");
        for segment in &self.segments {
            match segment.literal_name() {
                Some(name) => path.push(name),
                None => break,
            }
        }
        path
    }

    /// What this pattern matches of `item` (see [`DIRECTORY`], [`FILE`]).
    fn kind(&self, item: &[&str]) -> u8 {
        let matched = if self.ends_with_globstar() && !self.implicit {
            // @actions/glob adds a trailing separator, so `a/**` matches `a` itself.
            let mut with_slash = item.to_vec();
            with_slash.push("");
            path_matches(&self.segments, &with_slash, false)
        } else {
            path_matches(&self.segments, item, false)
        };
        match (matched, self.directories_only) {
            (false, _) => 0,
            (true, true) => DIRECTORY,
            (true, false) => ALL,
        }
    }
}

/// Parses one line of an argument into `patterns` (the written one and its implicit
/// descendants pattern).
fn parse_line(
    line: &str,
    root: &[String],
    patterns: &mut Vec<Pattern>,
) -> Result<(), &'static str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(());
    }
    let bangs = line.chars().take_while(|&c| c == '!').count();
    let text = line[bangs..].trim();
    if text.is_empty() {
        return Err("a pattern cannot be empty");
    }
    let raw = segments_of(text);
    let parsed: Vec<Segment> = raw.iter().map(|s| Segment::parse(s)).collect();
    let literal_dots = parsed.iter().enumerate().any(|(i, s)| {
        let name = s.literal_name();
        (name == Some(".") && i > 0) || name == Some("..")
    });
    if literal_dots {
        return Err("relative pathing `.` and `..` is not allowed");
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut rest = parsed.into_iter().peekable();
    if !text.starts_with('/') {
        match rest.peek().and_then(Segment::literal_name) {
            Some("~") => {
                let home = std::env::var("HOME").map_err(|_| "`~` needs `HOME` to be set")?;
                segments.extend(segments_of(&home).iter().map(|s| Segment::literal(s)));
                rest.next();
            }
            first => {
                if first == Some(".") {
                    rest.next();
                }
                segments.extend(root.iter().map(|s| Segment::literal(s)));
            }
        }
    }
    segments.extend(rest);
    let pattern = Pattern {
        negate: bangs % 2 == 1,
        segments,
        directories_only: text.ends_with('/'),
        implicit: false,
    };
    if pattern.directories_only || !pattern.ends_with_globstar() {
        let mut segments = pattern.segments.clone();
        segments.push(Segment::Globstar);
        let negate = pattern.negate;
        patterns.push(pattern);
        patterns.push(Pattern {
            negate,
            segments,
            directories_only: false,
            implicit: true,
        });
    } else {
        patterns.push(pattern);
    }
    Ok(())
}

/// Where to start walking: each including pattern's literal prefix, in pattern order, without
/// those below another one.
fn search_paths(patterns: &[Pattern]) -> Vec<PathBuf> {
    let candidates: Vec<PathBuf> = patterns
        .iter()
        .filter(|p| !p.negate)
        .map(Pattern::search_path)
        .collect();
    let mut result: Vec<PathBuf> = Vec::new();
    for path in &candidates {
        let below_another = path
            .ancestors()
            .skip(1)
            .any(|ancestor| candidates.iter().any(|c| c == ancestor));
        if !below_another && !result.contains(path) {
            result.push(path.clone());
        }
    }
    result
}

struct Walk<'a> {
    patterns: &'a [Pattern],
    root: &'a Path,
    follow: bool,
    visited: usize,
    files: Vec<PathBuf>,
    span: &'a Span,
}

impl Walk<'_> {
    fn error(&self, message: String) -> ExprError {
        ExprError::new(ErrorKind::HashFilesFailed, self.span.clone(), message)
    }

    fn io_error(&self, what: &str, path: &Path, e: io::Error) -> ExprError {
        self.error(format!("cannot {what} {}: {e}", path.display()))
    }

    /// What the patterns, in order, make of `item`.
    fn kind(&self, item: &[&str]) -> u8 {
        self.patterns.iter().fold(0, |kind, pattern| {
            let this = pattern.kind(item);
            if pattern.negate {
                kind & !this
            } else {
                kind | this
            }
        })
    }

    /// Whether some including pattern may match below `item`.
    fn partial(&self, item: &[&str]) -> bool {
        self.patterns
            .iter()
            .any(|p| !p.negate && path_matches(&p.segments, item, true))
    }

    /// Whether everything below `item` is excluded by a `!…/**` that no later pattern can
    /// undo, so the walk need not go there.
    fn excluded_below(&self, item: &[&str]) -> bool {
        self.patterns.iter().enumerate().any(|(i, p)| {
            p.negate
                && !p.directories_only
                && p.ends_with_globstar()
                && self.patterns[i + 1..].iter().all(|later| later.negate)
                && path_matches(&p.segments[..p.segments.len() - 1], item, false)
        })
    }

    /// The metadata the walk goes by: of the link itself unless links are followed; `None`
    /// for what does not exist (a start that is not there, or a broken link when following).
    fn metadata(&self, path: &Path) -> Result<Option<Metadata>, ExprError> {
        let result = if self.follow {
            // A broken link is left out, as `@actions/glob` leaves it out when following.
            fs::metadata(path).map_err(|e| match fs::symlink_metadata(path) {
                Ok(link) if link.file_type().is_symlink() => io::ErrorKind::NotFound.into(),
                _ => e,
            })
        } else {
            fs::symlink_metadata(path)
        };
        match result {
            Ok(metadata) => Ok(Some(metadata)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("read", path, e)),
        }
    }

    fn walk(&mut self, start: PathBuf) -> Result<(), ExprError> {
        // (path, depth); the canonical directories of the current chain, for cycles.
        let mut stack = vec![(start, 0usize)];
        let mut chain: Vec<(usize, PathBuf)> = Vec::new();
        while let Some((path, depth)) = stack.pop() {
            self.visited += 1;
            if self.visited > MAX_ENTRIES {
                return Err(self
                    .error(format!(
                        "`hashFiles` stopped after looking at {MAX_ENTRIES} files and directories"
                    ))
                    .with_hint("narrow the patterns, or exclude large directories with `!dir`"));
            }
            let Some(text) = path.to_str() else {
                continue; // Patterns are text; a name that is not UTF-8 matches none.
            };
            let item: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
            let kind = self.kind(&item);
            if kind == 0 && !self.partial(&item) {
                continue;
            }
            let Some(metadata) = self.metadata(&path)? else {
                continue;
            };
            if metadata.is_dir() {
                if self.follow {
                    let real =
                        fs::canonicalize(&path).map_err(|e| self.io_error("resolve", &path, e))?;
                    chain.retain(|(d, _)| *d < depth);
                    if !real.starts_with(self.root) || chain.iter().any(|(_, c)| *c == real) {
                        continue;
                    }
                    chain.push((depth, real));
                }
                if self.excluded_below(&item) {
                    continue;
                }
                let mut names: Vec<OsString> = fs::read_dir(&path)
                    .and_then(|entries| {
                        entries
                            .map(|entry| entry.map(|e| e.file_name()))
                            .collect::<io::Result<_>>()
                    })
                    .map_err(|e| self.io_error("list", &path, e))?;
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                stack.extend(names.into_iter().rev().map(|n| (path.join(n), depth + 1)));
            } else if kind & FILE != 0 {
                self.matched_file(path)?;
            }
        }
        Ok(())
    }

    /// A matched entry that is not a directory (to the walk): hashed unless it is a link to a
    /// directory or resolves outside the workspace.
    fn matched_file(&mut self, path: PathBuf) -> Result<(), ExprError> {
        let target = fs::metadata(&path).map_err(|e| self.io_error("read", &path, e))?;
        if target.is_dir() {
            return Ok(());
        }
        let real = fs::canonicalize(&path).map_err(|e| self.io_error("resolve", &path, e))?;
        if real.starts_with(self.root) && real != self.root {
            self.files.push(path);
        }
        Ok(())
    }
}
