//! Problems in a workflow file, rendered like a compiler's:
//!
//! ```text
//! ci.yml:12:5: error: unknown key `runs_on`
//!    |
//! 12 |     runs_on: ubuntu-latest
//!    |     ^^^^^^^ not a job key
//! help: did you mean `runs-on`?
//! ```
//!
//! A [`Diagnostic`] points at a [`Span`] of the file; [`render`] shows the line with a caret
//! underneath, then each note (another place, rendered the same way) and the help line. Tabs
//! are shown as four spaces and East Asian wide characters as two columns, so the caret stays
//! under its text; control characters are shown as `�`, so file content cannot drive the
//! terminal. Long lines are cut to a window around the caret.

use std::fmt::Write as _;

use super::yaml::{Span, YamlError};

/// How bad a problem is: errors make a workflow invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// GitHub would reject the workflow.
    Error,
    /// Valid on GitHub, but worth saying (for example: will not run here yet).
    Warning,
}

impl Severity {
    fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
        }
    }
}

/// One problem, where it is, and what may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One sentence: what is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A few words shown after the caret.
    pub label: Option<String>,
    /// What to do about it, shown last.
    pub help: Option<String>,
    /// Other places that explain this one, e.g. where a duplicate was first defined.
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, span, message.into())
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, span, message.into())
    }

    fn new(severity: Severity, span: Span, message: String) -> Diagnostic {
        Diagnostic {
            severity,
            message,
            span,
            label: None,
            help: None,
            notes: Vec::new(),
        }
    }

    /// Adds the words shown after the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a note pointing at another place.
    pub fn with_note(mut self, span: Span, note: impl Into<String>) -> Diagnostic {
        self.notes.push((span, note.into()));
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl From<&YamlError> for Diagnostic {
    fn from(error: &YamlError) -> Diagnostic {
        let mut diagnostic = Diagnostic::error(error.span, error.message.clone());
        if let Some((span, note)) = &error.related {
            diagnostic = diagnostic.with_note(*span, note.clone());
        }
        if let Some(help) = error.kind.help() {
            diagnostic = diagnostic.with_help(help);
        }
        diagnostic
    }
}

impl From<YamlError> for Diagnostic {
    fn from(error: YamlError) -> Diagnostic {
        Diagnostic::from(&error)
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const GREEN: &str = "\x1b[1;32m";
const BLUE: &str = "\x1b[1;34m";
const CYAN: &str = "\x1b[1;36m";

/// Columns a tab is shown as.
const TAB_WIDTH: usize = 4;
/// The widest source line shown; longer lines are cut to a window around the caret.
const MAX_LINE_WIDTH: usize = 140;
/// How many columns to keep left of the caret when a long line is cut.
const CONTEXT_LEFT: usize = 40;

/// Renders `diag` against `source`, the text of `file`: a `file:line:col: error: message`
/// header, the source line with a caret line under the span (and the label after the carets),
/// each note the same way, then `help: …`. A span over several lines is underlined on its
/// first line. With `color`, ANSI colours (red errors, yellow warnings); without, plain text.
/// No trailing newline.
pub fn render(file: &str, source: &str, diag: &Diagnostic, color: bool) -> String {
    let paint = Painter { color };
    let primary = Snippet::new(source, diag.span);
    let notes: Vec<(Snippet, &str)> = diag
        .notes
        .iter()
        .map(|(span, note)| (Snippet::new(source, *span), note.as_str()))
        .collect();
    let widest = notes
        .iter()
        .map(|(snippet, _)| snippet.line)
        .fold(primary.line, u32::max);
    let gutter = widest.to_string().len();
    let file = clean(file);

    let mut out = String::new();
    let _ = write!(
        out,
        "{} {} {}",
        paint.wrap(
            BOLD,
            &format!("{file}:{}:{}:", diag.span.start.line, diag.span.start.col)
        ),
        paint.wrap(diag.severity.color(), &format!("{}:", diag.severity.name())),
        paint.wrap(BOLD, &clean(&diag.message)),
    );
    primary.write(
        &mut out,
        gutter,
        &paint,
        diag.severity.color(),
        diag.label.as_deref(),
    );
    for ((snippet, note), (span, _)) in notes.iter().zip(&diag.notes) {
        let _ = write!(
            out,
            "\n{} {} {}",
            paint.wrap(
                BOLD,
                &format!("{file}:{}:{}:", span.start.line, span.start.col)
            ),
            paint.wrap(GREEN, "note:"),
            clean(note),
        );
        snippet.write(&mut out, gutter, &paint, BLUE, None);
    }
    if let Some(help) = &diag.help {
        let _ = write!(out, "\n{} {}", paint.wrap(CYAN, "help:"), clean(help));
    }
    out
}

struct Painter {
    color: bool,
}

impl Painter {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

/// One source line as shown, and where the caret goes under it (in display columns).
struct Snippet {
    line: u32,
    text: String,
    caret: usize,
    width: usize,
}

impl Snippet {
    fn new(source: &str, span: Span) -> Snippet {
        let start = floor_char_boundary(source, span.start.offset);
        // Only a bounded stretch of the line is looked at, however long the line is: at most
        // CONTEXT_LEFT characters before the span and MAX_LINE_WIDTH from its start.
        let mut from = start;
        let mut cut_left = false;
        for (count, (i, ch)) in source[..start].char_indices().rev().enumerate() {
            if ch == '\n' || ch == '\r' {
                break;
            }
            if count == CONTEXT_LEFT {
                cut_left = true;
                break;
            }
            from = i;
        }
        let mut to = start;
        let mut cut_right = false;
        for (count, (i, ch)) in source[start..].char_indices().enumerate() {
            if ch == '\n' || ch == '\r' {
                break;
            }
            if count == MAX_LINE_WIDTH {
                cut_right = true;
                break;
            }
            to = start + i + ch.len_utf8();
        }
        let end = floor_char_boundary(source, span.end.offset).clamp(start, to);

        // Each character as shown, with its display width.
        let mut cells: Vec<(String, usize)> = Vec::new();
        let mut caret = 0;
        let mut width = 0;
        let mut column = 0;
        for (i, ch) in source[from..to].char_indices() {
            let at = from + i;
            if at == 0 && ch == '\u{feff}' {
                continue; // a byte order mark is not shown, and the parser does not count it
            }
            if at == start {
                caret = column;
            }
            let (shown, w) = match ch {
                '\t' => (" ".repeat(TAB_WIDTH), TAB_WIDTH),
                c if c.is_control() => ("\u{fffd}".to_owned(), 1),
                c => (c.to_string(), char_width(c)),
            };
            if at >= start && at < end {
                width += w;
            }
            column += w;
            cells.push((shown, w));
        }
        if start == to {
            caret = column;
        }
        let (text, caret, width) = window(&cells, caret, width.max(1), cut_left, cut_right);
        Snippet {
            line: span.start.line,
            text,
            caret,
            width,
        }
    }

    fn write(
        &self,
        out: &mut String,
        gutter: usize,
        paint: &Painter,
        color: &str,
        label: Option<&str>,
    ) {
        let bar = paint.wrap(BLUE, &format!("{:gutter$} |", ""));
        let number = paint.wrap(BLUE, &format!("{:>gutter$} |", self.line));
        let mut carets = "^".repeat(self.width);
        if let Some(label) = label {
            carets.push(' ');
            carets.push_str(&clean(label));
        }
        let lines = [
            bar.clone(),
            format!("{number} {}", self.text),
            format!(
                "{bar} {:caret$}{}",
                "",
                paint.wrap(color, &carets),
                caret = self.caret
            ),
        ];
        for line in lines {
            out.push('\n');
            out.push_str(line.trim_end());
        }
    }
}

/// Fits a line into [`MAX_LINE_WIDTH`] columns around the caret, marking cuts with `...`
/// (also where the caller already cut the line); returns the text, and the caret's column and
/// width within it.
fn window(
    cells: &[(String, usize)],
    caret: usize,
    width: usize,
    mut cut_left: bool,
    mut cut_right: bool,
) -> (String, usize, usize) {
    let total: usize = cells.iter().map(|(_, w)| w).sum();
    if !cut_left && !cut_right && total <= MAX_LINE_WIDTH {
        let text = cells.iter().map(|(s, _)| s.as_str()).collect();
        return (text, caret, width);
    }
    // Drop cells on the left until the caret is at most CONTEXT_LEFT columns in.
    let mut first = 0;
    let mut skipped = 0;
    while first < cells.len() && caret > skipped + CONTEXT_LEFT {
        skipped += cells[first].1;
        first += 1;
        cut_left = true;
    }
    let prefix = if cut_left { "..." } else { "" };
    let room = MAX_LINE_WIDTH - prefix.len() - "...".len();
    let mut text = String::from(prefix);
    let mut used = 0;
    for (shown, w) in &cells[first..] {
        if used + w > room {
            cut_right = true;
            break;
        }
        text.push_str(shown);
        used += w;
    }
    if cut_right {
        text.push_str("...");
    }
    let caret = caret.saturating_sub(skipped) + prefix.len();
    let width = width.min((room + prefix.len()).saturating_sub(caret).max(1));
    (text, caret, width)
}

/// Columns a character takes in a terminal: 2 for East Asian wide and fullwidth characters
/// (and most emoji), 0 for combining marks and zero-width characters, else 1. A small table
/// of the common blocks; exotic characters may be off by one column.
fn char_width(c: char) -> usize {
    let c = u32::from(c);
    let zero = [
        (0x0300, 0x036F),
        (0x0483, 0x0489),
        (0x0591, 0x05BD),
        (0x0610, 0x061A),
        (0x064B, 0x065F),
        (0x0E31, 0x0E31),
        (0x0E34, 0x0E3A),
        (0x1AB0, 0x1AFF),
        (0x1DC0, 0x1DFF),
        (0x200B, 0x200F),
        (0x20D0, 0x20FF),
        (0xFE00, 0xFE0F),
        (0xFE20, 0xFE2F),
        (0xFEFF, 0xFEFF),
    ];
    let wide = [
        (0x1100, 0x115F),
        (0x231A, 0x231B),
        (0x2329, 0x232A),
        (0x23E9, 0x23EC),
        (0x23F0, 0x23F3),
        (0x25FD, 0x25FE),
        (0x2614, 0x2615),
        (0x2648, 0x2653),
        (0x26A1, 0x26A1),
        (0x26AA, 0x26AB),
        (0x26BD, 0x26BE),
        (0x26C4, 0x26C5),
        (0x26D4, 0x26D4),
        (0x26EA, 0x26EA),
        (0x26F2, 0x26F5),
        (0x26FA, 0x26FD),
        (0x2705, 0x2705),
        (0x270A, 0x270B),
        (0x2728, 0x2728),
        (0x274C, 0x274C),
        (0x2753, 0x2757),
        (0x2795, 0x2797),
        (0x27B0, 0x27B0),
        (0x2B1B, 0x2B1C),
        (0x2B50, 0x2B55),
        (0x2E80, 0x303E),
        (0x3041, 0x33FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xA000, 0xA4CF),
        (0xA960, 0xA97F),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE10, 0xFE19),
        (0xFE30, 0xFE6F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
        (0x1F004, 0x1F004),
        (0x1F0CF, 0x1F0CF),
        (0x1F18E, 0x1F18E),
        (0x1F191, 0x1F19A),
        (0x1F200, 0x1F251),
        (0x1F300, 0x1F64F),
        (0x1F680, 0x1F6FF),
        (0x1F900, 0x1F9FF),
        (0x1FA70, 0x1FAFF),
        (0x20000, 0x3FFFD),
    ];
    let within = |table: &[(u32, u32)]| table.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
    if within(&zero) {
        0
    } else if within(&wide) {
        2
    } else {
        1
    }
}

/// Text from the file or the user made safe to print: control characters become `�`, tabs
/// and line breaks a space.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The candidate closest to `word` by edit distance (insertions, deletions, substitutions and
/// swaps of neighbours, ignoring case), for "did you mean" hints: `runs_on` → `runs-on`,
/// `stpes` → `steps`. `None` when nothing is within a third of the word's length (at least
/// one edit). Ties go to the earlier candidate.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    if word.is_empty() || word.len() > 64 {
        return None;
    }
    let limit = word.len().max(3) / 3;
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let other: Vec<char> = candidate.chars().flat_map(char::to_lowercase).collect();
        if other.len().abs_diff(word.len()) > limit {
            continue;
        }
        let distance = edit_distance(&word, &other);
        let better = match best {
            None => true,
            Some((d, _)) => distance < d,
        };
        if distance <= limit && better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: Levenshtein plus swaps of adjacent characters.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests;
