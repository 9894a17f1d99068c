//! Event filters of `on`: branch, tag and path patterns, and activity types.
//!
//! Patterns use GitHub's filter syntax ("Filter pattern cheat sheet" in the workflow syntax
//! documentation):
//!
//! | syntax | matches |
//! | --- | --- |
//! | `*` | zero or more characters except `/` |
//! | `**` | zero or more of any character; `**/` also matches nothing, so `**/a` matches `a` |
//! | `?` | zero or one of the preceding character or class |
//! | `+` | one or more of the preceding character or class |
//! | `[0-9a-z]` | one character listed or in a range; ranges within `0-9` or `A-z` |
//! | `\x` | the character `x` literally |
//! | `!` first | negates the pattern (only meaningful after a positive one) |
//!
//! A pattern must match the whole name or path, case-sensitively. Where the documentation is
//! silent this follows act's translation of patterns into regular expressions (which .NET's
//! engine, GitHub's, reads the same way): `?` or `+` as the first character is literal; `?`
//! right after a wildcard or another quantifier changes nothing (it only makes the quantifier
//! lazy); `+` there is an error (a nested quantifier); `-` in brackets only joins the two ends
//! of a range.
//!
//! A list of patterns is read in order and the last pattern that matches decides: a negative
//! pattern drops what earlier patterns selected, a later positive one selects it again.

#[cfg(test)]
mod tests;

/// Why a pattern or a filter cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The text is not valid filter syntax.
    #[error("invalid filter pattern `{pattern}`: {reason} (at byte {offset})")]
    InvalidPattern {
        /// The pattern as written (with its `!`).
        pattern: String,
        /// The byte offset of the problem in `pattern`.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Both the including and the ignoring key of one filter are set for one event.
    #[error("`{include}` and `{ignore}` cannot both be used for the same event")]
    ConflictingKeys {
        /// `branches`, `tags` or `paths`.
        include: &'static str,
        /// `branches-ignore`, `tags-ignore` or `paths-ignore`.
        ignore: &'static str,
    },
}

/// One filter pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    negated: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One character or class, with how many times it may repeat.
    Atom(Atom, Count),
    /// `*`: any run of characters without `/`.
    Star,
    /// `**`: any run of characters.
    AnyRun,
    /// `**/`: nothing, or any run of characters that ends with `/` and has one before it.
    AnyDirectories,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Char(char),
    /// Inclusive ranges; a listed character is a range of one.
    Class(Vec<(char, char)>),
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(expected) => *expected == c,
            Atom::Class(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    One,
    /// `?`
    Optional,
    /// `+`
    OneOrMore,
}

impl Pattern {
    /// Parses a pattern. A leading `!` makes it negative (see [`Pattern::is_negated`]).
    pub fn parse(text: &str) -> Result<Pattern, FilterError> {
        let (negated, body, base) = match text.strip_prefix('!') {
            Some(rest) => (true, rest, 1),
            None => (false, text, 0),
        };
        let error = |offset: usize, reason: &'static str| FilterError::InvalidPattern {
            pattern: text.to_owned(),
            offset: base + offset,
            reason,
        };
        let chars: Vec<(usize, char)> = body.char_indices().collect();
        let mut tokens: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let (offset, c) = chars[i];
            match c {
                '*' => {
                    if chars.get(i + 1).map(|(_, c)| *c) == Some('*') {
                        if chars.get(i + 2).map(|(_, c)| *c) == Some('/') {
                            tokens.push(Token::AnyDirectories);
                            i += 3;
                        } else {
                            tokens.push(Token::AnyRun);
                            i += 2;
                        }
                    } else {
                        tokens.push(Token::Star);
                        i += 1;
                    }
                }
                '?' | '+' => {
                    match tokens.last_mut() {
                        // First character: literal.
                        None => tokens.push(Token::Atom(Atom::Char(c), Count::One)),
                        Some(Token::Atom(_, count @ Count::One)) => {
                            *count = if c == '?' {
                                Count::Optional
                            } else {
                                Count::OneOrMore
                            };
                        }
                        // After a wildcard or a quantifier: `?` only makes it lazy, which
                        // changes nothing for a whole match; `+` would be a nested quantifier.
                        Some(_) if c == '?' => {}
                        Some(_) => {
                            return Err(error(offset, "`+` must follow a character or a class"))
                        }
                    }
                    i += 1;
                }
                '[' => {
                    let (class, next) = parse_class(&chars, i + 1).map_err(|(at, reason)| {
                        error(chars.get(at).map_or(body.len(), |(o, _)| *o), reason)
                    })?;
                    tokens.push(Token::Atom(class, Count::One));
                    i = next;
                }
                '\\' => {
                    let Some((_, escaped)) = chars.get(i + 1) else {
                        return Err(error(offset, "`\\` must be followed by a character"));
                    };
                    tokens.push(Token::Atom(Atom::Char(*escaped), Count::One));
                    i += 2;
                }
                c => {
                    tokens.push(Token::Atom(Atom::Char(c), Count::One));
                    i += 1;
                }
            }
        }
        Ok(Pattern {
            text: text.to_owned(),
            negated,
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern starts with `!`.
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// Whether the pattern (without its `!`) matches the whole of `subject`. Negation is the
    /// business of the list the pattern sits in.
    pub fn matches(&self, subject: &str) -> bool {
        let s: Vec<char> = subject.chars().collect();
        let n = s.len();
        // `next[i]`: the tokens after the current one match `s[i..]`. Filled from the last
        // token backwards, each row from the end of the subject backwards.
        let mut next = vec![false; n + 1];
        next[n] = true;
        let mut row = vec![false; n + 1];
        for token in self.tokens.iter().rev() {
            // For `**/`: whether some `/` after `i` is followed by a match of the rest.
            let mut slash_later = false;
            for i in (0..=n).rev() {
                let here = s.get(i).copied();
                row[i] = match token {
                    Token::Atom(atom, count) => {
                        let hit = here.is_some_and(|c| atom.matches(c));
                        match count {
                            Count::One => hit && next[i + 1],
                            Count::Optional => next[i] || (hit && next[i + 1]),
                            Count::OneOrMore => hit && (next[i + 1] || row[i + 1]),
                        }
                    }
                    Token::Star => next[i] || (here.is_some_and(|c| c != '/') && row[i + 1]),
                    Token::AnyRun => next[i] || (here.is_some() && row[i + 1]),
                    Token::AnyDirectories => next[i] || slash_later,
                };
                if here == Some('/') && next[i + 1] {
                    slash_later = true;
                }
            }
            std::mem::swap(&mut next, &mut row);
        }
        next[0]
    }
}

/// Reads a class after its `[` (at `start`): members and ranges up to `]`. Returns the class
/// and the index after `]`, or the index of the problem with what is wrong.
fn parse_class(
    chars: &[(usize, char)],
    start: usize,
) -> Result<(Atom, usize), (usize, &'static str)> {
    // As act reads GitHub's rule: members are digits or ASCII from `A` to `z`; ranges span
    // `0-9` or `A-z`, low end first.
    let member = |c: char| c.is_ascii_digit() || ('A'..='z').contains(&c);
    let same_group = |lo: char, hi: char| {
        lo <= hi
            && ((lo.is_ascii_digit() && hi.is_ascii_digit())
                || (('A'..='z').contains(&lo) && ('A'..='z').contains(&hi)))
    };
    let at = |i: usize| chars.get(i).map(|(_, c)| *c);
    if at(start) == Some(']') {
        return Err((start - 1, "empty brackets `[]`"));
    }
    let mut ranges = Vec::new();
    let mut i = start;
    loop {
        match at(i) {
            None => return Err((start - 1, "missing `]` after `[`")),
            Some(']') => return Ok((Atom::Class(ranges), i + 1)),
            Some('-') => return Err((i, "`-` must stand between the two ends of a range")),
            Some(lo) if at(i + 1) == Some('-') && at(i + 2).is_some_and(|c| c != ']') => {
                let hi = at(i + 2).unwrap_or(lo);
                if !same_group(lo, hi) {
                    return Err((
                        i,
                        "a range may only span 0-9, a-z, A-Z (or A-z), low end first",
                    ));
                }
                ranges.push((lo, hi));
                i += 3;
            }
            Some(c) if member(c) => {
                ranges.push((c, c));
                i += 1;
            }
            Some(_) => return Err((i, "brackets may only list letters and digits")),
        }
    }
}

/// Patterns read in order; the last one that matches decides.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PatternList {
    patterns: Vec<Pattern>,
}

impl PatternList {
    fn parse(texts: &[String]) -> Result<PatternList, FilterError> {
        let patterns = texts
            .iter()
            .map(|text| Pattern::parse(text))
            .collect::<Result<_, _>>()?;
        Ok(PatternList { patterns })
    }

    /// Whether the last pattern matching `subject` is a positive one (false when none
    /// matches).
    fn selects(&self, subject: &str) -> bool {
        self.patterns
            .iter()
            .rev()
            .find(|pattern| pattern.matches(subject))
            .is_some_and(|pattern| !pattern.is_negated())
    }
}

/// A filter from an including key (`branches`) or an ignoring one (`branches-ignore`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Selected when the last matching pattern is positive.
    Include(PatternList),
    /// Selected unless the last matching pattern is positive.
    Ignore(PatternList),
}

impl Rule {
    fn build(
        include_key: &'static str,
        ignore_key: &'static str,
        include: Option<&[String]>,
        ignore: Option<&[String]>,
    ) -> Result<Option<Rule>, FilterError> {
        match (include, ignore) {
            (Some(_), Some(_)) => Err(FilterError::ConflictingKeys {
                include: include_key,
                ignore: ignore_key,
            }),
            (Some(patterns), None) => Ok(Some(Rule::Include(PatternList::parse(patterns)?))),
            (None, Some(patterns)) => Ok(Some(Rule::Ignore(PatternList::parse(patterns)?))),
            (None, None) => Ok(None),
        }
    }

    fn selects(&self, subject: &str) -> bool {
        match self {
            Rule::Include(list) => list.selects(subject),
            Rule::Ignore(list) => !list.selects(subject),
        }
    }
}

/// A branch or tag filter: `branches`/`branches-ignore` or `tags`/`tags-ignore` of one event.
/// Names are matched without their `refs/heads/` or `refs/tags/` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefFilter {
    rule: Option<Rule>,
}

impl RefFilter {
    /// The filter of `branches` (patterns a branch must match) or `branches-ignore` (patterns
    /// that rule a branch out). Setting both is an error; setting neither gives a filter that
    /// lets every branch through and is not [configured](RefFilter::is_configured).
    pub fn branches(
        include: Option<&[String]>,
        ignore: Option<&[String]>,
    ) -> Result<RefFilter, FilterError> {
        Ok(RefFilter {
            rule: Rule::build("branches", "branches-ignore", include, ignore)?,
        })
    }

    /// The filter of `tags` or `tags-ignore`, as [`RefFilter::branches`].
    pub fn tags(
        include: Option<&[String]>,
        ignore: Option<&[String]>,
    ) -> Result<RefFilter, FilterError> {
        Ok(RefFilter {
            rule: Rule::build("tags", "tags-ignore", include, ignore)?,
        })
    }

    /// Whether one of the two keys was set.
    pub fn is_configured(&self) -> bool {
        self.rule.is_some()
    }

    /// Whether the branch or tag `name` passes: with the including key, when the last pattern
    /// matching it is positive; with the ignoring key, unless it is; without either, always.
    pub fn matches(&self, name: &str) -> bool {
        match &self.rule {
            Some(rule) => rule.selects(name),
            None => true,
        }
    }
}

/// A path filter: `paths` or `paths-ignore` of one event. Paths are relative to the
/// repository's root, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFilter {
    rule: Option<Rule>,
}

impl PathFilter {
    /// The filter of `paths` or `paths-ignore`. Setting both is an error; setting neither
    /// gives a filter that lets every push through (even one that changed nothing).
    pub fn new(
        include: Option<&[String]>,
        ignore: Option<&[String]>,
    ) -> Result<PathFilter, FilterError> {
        Ok(PathFilter {
            rule: Rule::build("paths", "paths-ignore", include, ignore)?,
        })
    }

    /// Whether one of the two keys was set.
    pub fn is_configured(&self) -> bool {
        self.rule.is_some()
    }

    /// Whether a change of these paths triggers the workflow. With `paths`: at least one path
    /// is selected (the last pattern matching it is positive). With `paths-ignore`: at least
    /// one path is not ignored, so a change made only of ignored paths does not trigger.
    /// Either way no changed path means no run, as on GitHub. Path filters do not apply to
    /// pushes of tags; that is the caller's to skip.
    pub fn matches_any(&self, changed: &[&str]) -> bool {
        match &self.rule {
            None => true,
            Some(rule) => changed.iter().any(|path| rule.selects(path)),
        }
    }
}

/// Whether a push of `git_ref` (`refs/heads/<branch>` or `refs/tags/<tag>`) passes the
/// event's branch and tag filters (`None`, or a filter that is not configured, means the key
/// pair is absent). GitHub's rule: with only branch filters, tag pushes do not trigger; with
/// only tag filters, branch pushes do not; with neither, both do; with both, each ref is
/// checked against its own kind. Any other ref triggers only when there are no filters.
pub fn push_matches(branches: Option<&RefFilter>, tags: Option<&RefFilter>, git_ref: &str) -> bool {
    let branches = branches.filter(|filter| filter.is_configured());
    let tags = tags.filter(|filter| filter.is_configured());
    let (own, other, name) = if let Some(name) = git_ref.strip_prefix("refs/heads/") {
        (branches, tags, name)
    } else if let Some(name) = git_ref.strip_prefix("refs/tags/") {
        (tags, branches, name)
    } else {
        return branches.is_none() && tags.is_none();
    };
    match own {
        Some(filter) => filter.matches(name),
        None => other.is_none(),
    }
}

/// Whether an event's activity type (`opened`, `closed`…) is among `types`. Without `types`
/// every activity triggers; the events whose default is narrower are listed by
/// [`default_activity_types`], which the caller should pass instead of `None` for them.
pub fn types_match(allowed: Option<&[String]>, activity: &str) -> bool {
    match allowed {
        Some(types) => types.iter().any(|t| t == activity),
        None => true,
    }
}

/// The activity types an event triggers for when `types` is not given, for the events where
/// that is not every type: `pull_request` and `pull_request_target` run only for `opened`,
/// `synchronize` and `reopened`.
pub fn default_activity_types(event: &str) -> Option<&'static [&'static str]> {
    match event {
        "pull_request" | "pull_request_target" => Some(&["opened", "synchronize", "reopened"]),
        _ => None,
    }
}
